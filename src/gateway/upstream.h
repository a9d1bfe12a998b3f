/*
 * gateway/upstream: the gateway as an MCP client of the servers it fronts.
 *
 * Configuration.  Upstreams are configured in the "mcpServers" shape MCP
 * clients use, one object per server name:
 *
 *	{"fs":     {"command": "npx", "args": ["-y", "..."], "env": {"K": "V"}},
 *	 "remote": {"url": "https://...", "headers": {"X-Api-Key": "..."}}}
 *
 * plus our own keys per server: "scope" (the scope its tools require, e.g.
 * "mcp:github"), "isolation" ("shared", the default, or "per-user": one
 * process per token subject), "timeout_ms" (per call, default 30 s),
 * "idle_ms" (per-user processes unused this long are stopped, default 5 min),
 * "max_calls" (calls in flight per session, default and at most 4096),
 * "namespace" (true by default: names are prefixed with the server name, see
 * gateway/registry.h), and for HTTP upstreams "oauth": {"token_endpoint",
 * "client_id", "client_secret", "scope", "resource"} (client credentials
 * for the gateway itself).  upstream_config_parse() checks all of it.
 *
 * Runtime.  A struct upstream is one configured server.  It owns one
 * session (shared isolation) or one session per subject (per-user), each a
 * transport instance (a supervised child process for stdio, a libcurl
 * client for Streamable HTTP; see upstream_transport.h) plus the MCP
 * client state: the initialize handshake, the negotiated protocol version
 * and capabilities, the pending calls, and the lists of tools, resources,
 * resource templates and prompts, refreshed on list_changed.
 *
 * Calls are asynchronous: upstream_request() sends a request under an id
 * the gateway chooses (so concurrent clients never see each other's ids)
 * and returns at once; the done callback runs exactly once, from a gateway
 * thread, with the result or a JSON-RPC error.  Progress tokens are
 * replaced the same way and restored on the notifications routed back to
 * the call.  Requests the upstream sends to its client (sampling,
 * elicitation, roots) are handed to the call they belong to, which answers
 * them with upstream_reply_send().
 *
 * Errors the gateway itself produces for a call (the error object handed to
 * the done callback):
 *	UPSTREAM_ERR_UNAVAILABLE (-32001): the upstream is not running, is
 *	    restarting, crashed during the call, could not be reached, or timed
 *	    out; error.data.reason is one of "unavailable", "crashed",
 *	    "timeout", "transport", "overloaded".
 *	UPSTREAM_ERR_CANCELLED (-32800): the call was cancelled by the caller.
 * Errors the upstream sends are passed through unchanged.
 *
 * The client's own credentials never reach an upstream: nothing in this
 * interface accepts them.  HTTP upstreams get only the configured static
 * headers or the gateway's own client-credentials token.
 */
#ifndef MCPGATE_GATEWAY_UPSTREAM_H
#define MCPGATE_GATEWAY_UPSTREAM_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define UPSTREAM_NAME_MAX 64		/* server name, characters */
#define UPSTREAM_ARGS_MAX 64		/* command-line arguments */
#define UPSTREAM_ENV_MAX 64		/* environment entries */
#define UPSTREAM_HEADERS_MAX 16		/* static HTTP headers */
#define UPSTREAM_STR_MAX 4096		/* any configured string */
#define UPSTREAM_SERVERS_MAX 256	/* configured servers */
#define UPSTREAM_MSG_MAX (4 * 1024 * 1024) /* one message from an upstream */
#define UPSTREAM_PENDING_MAX 4096	/* calls in flight per session: "max_calls" at most */
#define UPSTREAM_SESSIONS_MAX 256	/* per-user sessions per server */
#define UPSTREAM_LIST_PAGES_MAX 32	/* pages followed per list */
#define UPSTREAM_LIST_ITEMS_MAX 10000	/* items kept per list */
#define UPSTREAM_TIMEOUT_DEFAULT_MS 30000
#define UPSTREAM_TIMEOUT_MAX_MS (3600 * 1000)
#define UPSTREAM_IDLE_DEFAULT_MS (5 * 60 * 1000)

#define UPSTREAM_ERR_UNAVAILABLE (-32001)
#define UPSTREAM_ERR_CANCELLED (-32800)

/* Protocol versions the gateway offers upstreams, best first. */
#define UPSTREAM_PROTOCOL_LATEST "2025-11-25"
#define UPSTREAM_PROTOCOL_FALLBACK "2025-06-18"

enum upstream_kind { UPSTREAM_STDIO, UPSTREAM_HTTP };
enum upstream_isolation { UPSTREAM_SHARED, UPSTREAM_PER_USER };

struct upstream_header {
	char *name;
	char *value;	/* may be a secret: never logged */
};

struct upstream_oauth {
	char *token_endpoint;
	char *client_id;
	char *client_secret;	/* secret: wiped on clear */
	char *scope;		/* NULL: none requested */
	char *resource;		/* NULL: none requested (RFC 8707) */
};

struct upstream_config {
	char *name;
	enum upstream_kind kind;
	/* stdio */
	char **argv;		/* command then args, NULL-terminated */
	size_t argc;
	char **envp;		/* "NAME=value" from "env", NULL-terminated */
	size_t envc;
	/* Streamable HTTP */
	char *url;
	struct upstream_header *headers;
	size_t nheaders;
	struct upstream_oauth *oauth;	/* NULL: no client credentials */
	/* ours */
	char *scope;		/* NULL: none configured */
	enum upstream_isolation isolation;
	int64_t timeout_ms;
	int64_t idle_ms;
	int namespaced;
	size_t max_calls;	/* in flight per session; 0: UPSTREAM_PENDING_MAX */
};

struct upstream_configs {
	struct upstream_config *v;
	size_t n;
};

/*
 * upstream_config_parse(servers, out, why): parse the value of the
 * "mcpServers" key, an object of server name -> server object, into ${out}
 * (in the object's order).  Names are 1-64 characters of [A-Za-z0-9_-],
 * neither starting nor ending with '_' and without "__" (so that
 * "server__tool" splits one way only).  A server has exactly one of
 * "command" and "url"; unknown keys are refused.  URLs (the server's and
 * the token endpoint) must be https, or http to a loopback host.  Returns
 * 0, or -1 with ${why} set to a message that names the server and key but
 * never a value (valid until the next call on this thread); ${out} is then
 * empty.
 */
int upstream_config_parse(json_t *servers, struct upstream_configs *out, const char **why);

/* upstream_config_clear(c): free everything ${c} holds (secrets wiped) and
 * leave it empty. */
void upstream_config_clear(struct upstream_configs *c);

struct upstream;
struct upstream_call;
struct upstream_reply;

/* The lists of one upstream as last fetched: immutable, reference counted.
 * Arrays hold the objects exactly as the upstream sent them. */
struct upstream_lists {
	json_t *tools;		/* array */
	json_t *resources;	/* array */
	json_t *templates;	/* array (resources/templates/list) */
	json_t *prompts;	/* array */
	json_t *capabilities;	/* the upstream's capabilities object */
	json_t *server_info;	/* its serverInfo, or null */
	char protocol_version[16];
	uint64_t generation;	/* grows with every change */
	int refs;		/* private */
};

/* done(arg, result, error): the outcome of a call, exactly one of ${result}
 * and ${error} non-NULL, both borrowed (json_incref() to keep them). */
typedef void (*upstream_done_fn)(void *arg, json_t *result, json_t *error);

/* notify(arg, method, params): a notification the upstream sent about the
 * call (notifications/progress with the caller's own progressToken put
 * back, notifications/message).  ${params} is borrowed. */
typedef void (*upstream_notify_fn)(void *arg, const char *method, json_t *params);

/* srvreq(arg, method, params, r): a request the upstream sent to its
 * client while the call ran (sampling/createMessage, elicitation/create,
 * roots/list).  The handler must eventually call upstream_reply_send(${r})
 * exactly once, possibly from another thread; it must not block. */
typedef void (*upstream_srvreq_fn)(void *arg, const char *method, json_t *params, struct upstream_reply *r);

struct upstream_call_opts {
	int64_t timeout_ms;		/* 0: the server's timeout_ms */
	const char *subject;		/* per-user isolation key; NULL: shared */
	upstream_done_fn done;		/* required */
	upstream_notify_fn notify;	/* NULL: notifications dropped */
	upstream_srvreq_fn srvreq;	/* NULL: such requests refused */
	void *arg;
	/* While requests of the upstream handed to srvreq wait for the
	 * client's answers, the call's deadline is at least input_ms after the
	 * first of them came (more while one waits do not renew it); once
	 * every one is answered, the deadline is the original one moved by the
	 * time they waited.  The timeout measures the upstream's work, not the
	 * time a person takes to answer an elicitation.  0: no allowance. */
	int64_t input_ms;
	/* 1: only to a session that exists and is initialized: otherwise the
	 * request is not made (upstream_request_opts() fails with ESRCH) and
	 * no session is started or waited for.  Decided under the lock that
	 * the idle reaper takes, and the call, once made, keeps the session
	 * from being reaped: nothing starts a session just for it (an
	 * unsubscribe). */
	int running_only;
};

/* Server-wide events, for the registry and the endpoint. */
struct upstream_hooks {
	/* changed(arg, u): the lists of ${u} changed (upstream_lists_get()). */
	void (*changed)(void *arg, struct upstream *u);
	/* notification(arg, u, subject, method, params): a notification not
	 * tied to a call (e.g. notifications/resources/updated). */
	void (*notification)(void *arg, struct upstream *u, const char *subject, const char *method,
	    json_t *params);
	void *arg;
	/* ready(arg, u, subject, capabilities): the session of ${subject}
	 * (NULL: the shared or discovery session) completed initialize, the
	 * first time or again (a restarted process, a per-user session
	 * started again after it was stopped, an HTTP session made again):
	 * it holds no subscription.  Called before the calls that waited
	 * for the handshake go out; ${capabilities} (the session's) is
	 * borrowed.  May be NULL. */
	void (*ready)(void *arg, struct upstream *u, const char *subject, json_t *capabilities);
};

/*
 * upstream_new(cfg, hooks): an upstream for ${cfg}, which must outlive it;
 * ${hooks} (copied; may be NULL) are called from the upstream's threads and
 * must not block.  Nothing starts before upstream_start().  NULL on ENOMEM.
 */
struct upstream *upstream_new(const struct upstream_config *cfg, const struct upstream_hooks *hooks);

/*
 * upstream_start(u): start ${u}: its timer thread and, for shared
 * isolation, its session (per-user servers start one session without a
 * subject, to learn the lists).  Returns 0 or -1 (threads could not start).
 * A process that cannot be spawned is not an error here: it is retried
 * with backoff.
 */
int upstream_start(struct upstream *u);

/*
 * upstream_free(u): stop every session of ${u} (child processes get EOF on
 * stdin, then SIGTERM, then SIGKILL after a grace period, and are reaped),
 * fail the calls still pending with UPSTREAM_ERR_UNAVAILABLE, and free.
 * No callback runs after it returns.  NULL does nothing.
 */
void upstream_free(struct upstream *u);

/* upstream_calls_max(u): the calls one session of ${u} takes in flight. */
size_t upstream_calls_max(const struct upstream *u);

/* upstream_name(u), upstream_cfg(u): the server's name and configuration. */
const char *upstream_name(const struct upstream *u);
const struct upstream_config *upstream_cfg(const struct upstream *u);

/*
 * upstream_wait_ready(u, timeout_ms): wait until ${u}'s default session is
 * initialized and its lists were fetched once.  Returns 0, or -1 on
 * timeout.
 */
int upstream_wait_ready(struct upstream *u, int64_t timeout_ms);

/*
 * upstream_request_opts(u, method, params, opts, handle): send a request.
 * ${params} (may be NULL) is borrowed and not modified.  Returns 0 and
 * later calls ${opts}->done exactly once (never from inside this call), or
 * -1 without calling anything if the arguments are invalid or memory is
 * exhausted, or with ${opts}->running_only and errno ESRCH if the session
 * is not running.  If ${handle} is not NULL it receives a reference to the call,
 * valid until given to upstream_call_cancel() or upstream_call_release().
 */
int upstream_request_opts(struct upstream *u, const char *method, json_t *params,
    const struct upstream_call_opts *opts, struct upstream_call **handle);

/* upstream_request(u, method, params, timeout_ms, done, arg, handle): the
 * same for a shared call with no notification or request handlers. */
int upstream_request(struct upstream *u, const char *method, json_t *params, int64_t timeout_ms,
    upstream_done_fn done, void *arg, struct upstream_call **handle);

/*
 * upstream_call_cancel(c, reason): cancel the call ${c} if it is still
 * pending: notifications/cancelled goes upstream with the gateway's id and
 * ${reason} (may be NULL), and done gets UPSTREAM_ERR_CANCELLED.  Releases
 * the handle either way.
 */
void upstream_call_cancel(struct upstream_call *c, const char *reason);

/* upstream_call_release(c): drop the handle ${c}; the call goes on.  NULL
 * does nothing. */
void upstream_call_release(struct upstream_call *c);

/*
 * upstream_notify(u, subject, method, params): send a notification (e.g.
 * notifications/roots/list_changed) to the session of ${subject} (NULL:
 * shared).  Returns 0, or -1 if that session is not running.
 */
int upstream_notify(struct upstream *u, const char *subject, const char *method, json_t *params);

/*
 * upstream_reply_send(r, result, error): answer the upstream's request ${r}
 * with ${result} or ${error} (borrowed; both NULL: a -32603 error saying the
 * request could not be delivered) and free ${r}.  If the session restarted
 * meanwhile, the answer is dropped.
 */
void upstream_reply_send(struct upstream_reply *r, json_t *result, json_t *error);

/* upstream_lists_get(u): a reference to the current lists of ${u}, or NULL
 * if none were fetched yet.  upstream_lists_release() drops it. */
struct upstream_lists *upstream_lists_get(struct upstream *u);
void upstream_lists_release(struct upstream_lists *l);

/* upstream_pid(u, subject): the process id of the session of ${subject}
 * (NULL: shared), or -1 if none is running (tests and diagnostics). */
pid_t upstream_pid(struct upstream *u, const char *subject);

/* upstream_running(u, subject): 1 if the session of ${subject} (NULL:
 * shared) exists and is initialized (it may hold subscriptions), 0 if it
 * is not (never started, stopped when idle, restarting, or ${u} is
 * stopping).  A request to a per-user session that is not running would
 * start it. */
int upstream_running(struct upstream *u, const char *subject);

/* upstream_sessions(u): how many sessions ${u} has (per-user reaping). */
size_t upstream_sessions(struct upstream *u);

#endif
