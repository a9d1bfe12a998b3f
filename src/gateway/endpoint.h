/*
 * gateway/endpoint: the MCP endpoint (Streamable HTTP) of the gateway.
 *
 * One handler serves every method on the endpoint's path for the three
 * protocol versions the gateway speaks:
 *
 *   2025-06-18, 2025-11-25 ("legacy"): initialize creates a session, whose
 *       id goes back in Mcp-Session-Id; every later request names it, and a
 *       session is bound to the token's subject and client: any other token
 *       gets 404 for it.  GET opens the session's stream of server messages
 *       (Server-Sent Events, with event ids; Last-Event-ID replays the
 *       last ones the client missed); DELETE ends the session.
 *   2026-07-28 ("modern"): stateless; every POST carries MCP-Protocol-Version
 *       and, for requests, Mcp-Method (and Mcp-Name) mirroring the body:
 *       400 with -32020 on a mismatch; GET and DELETE get 405.
 *
 * A request is modern when its MCP-Protocol-Version header or its
 * params._meta protocol version says 2026-07-28 (or any version other than
 * the two legacy ones), else legacy; initialize is always legacy.
 *
 * Order of checks: the Origin header (present and not allowed: 403), the
 * bearer token (gateway/rs.h: 401 / 400 with the challenge), the HTTP
 * method, the body (gateway/jsonrpc.h limits: 413, 400 -32700, 400 -32600;
 * batches are refused), the era's headers and session, then the method.
 *
 * The gateway answers initialize, server/discover, ping and
 * logging/setLevel (legacy only: 2026-07-28 removed them) and the list
 * methods itself (gateway/lists.h: filtered by policy_listed(), in pages
 * with authenticated cursors);
 * tools/call, resources/read, prompts/get and completion/complete go to the
 * upstream that owns the name, after policy_decide(): a denied call gets 403
 * with an insufficient_scope challenge naming every scope it needs.  A
 * forwarded call never blocks a pool thread: the HTTP response is deferred
 * (JSON) or streamed (SSE, when the client accepts it and the call carries
 * a progressToken, or for a legacy tools/call, so that the upstream's
 * sampling / elicitation / roots requests can reach the client); the
 * upstream call is bounded by the configured timeout, and a client that
 * leaves cancels it.  Modern clients never get server-to-client requests
 * on a stream: during a tools/call, prompts/get or resources/read they get
 * an InputRequiredResult and answer in a retry (gateway/mrtr.h, multi
 * round-trip requests); other calls answer the upstream with an error.
 * notifications/message are filtered by the legacy session's
 * logging/setLevel, or by a modern request's _meta logLevel (none
 * without it).
 *
 * Subscriptions (docs/internals/gateway-subs.md): a legacy session's
 * resources/subscribe is recorded in the session, a 2026-07-28
 * subscriptions/listen request opens a stream that carries the change
 * notifications it opted in to; the upstream instance is subscribed for
 * the first holder of a URI (and again whenever it completes initialize
 * anew), and unsubscribed when the last one leaves (unsubscribe, DELETE,
 * expiry, end of the stream, shutdown) if it is running.  A refused
 * subscribe leaves no record.  A
 * notifications/resources/updated reaches only the holders subscribed to
 * the URI (or a parent of it) whose last token may read it.  A listen
 * stream and a session's GET stream last as long as the token that opened
 * them: within ENDPOINT_WATCH_MS of its expiry or of its revocation
 * becoming known (gateway/rs.h rs_principal_check()) the stream is ended
 * (a listen stream with a -32003 error; the session itself goes on).
 *
 * Every request gets one audit line (audit/audit.h), refused ones
 * included.  No token text is ever logged or forwarded.
 */
#ifndef MCPGATE_GATEWAY_ENDPOINT_H
#define MCPGATE_GATEWAY_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ENDPOINT_VERSION_MODERN "2026-07-28"
#define ENDPOINT_VERSION_LEGACY "2025-11-25"
#define ENDPOINT_VERSION_LEGACY_OLD "2025-06-18"
#define ENDPOINT_SRVREQ_MAX 8	/* server-to-client requests pending per call */
#define ENDPOINT_SESSION_BUCKETS 4096
#define ENDPOINT_SESSION_SUBS_MAX 256	/* resources/subscribe URIs per session */
#define ENDPOINT_LISTEN_MAX 1024	/* subscriptions/listen streams in all */
#define ENDPOINT_LISTEN_PER_SUBJECT 8	/* ... per token subject */
#define ENDPOINT_LISTEN_URIS_MAX 256	/* resourceSubscriptions per stream */
#define ENDPOINT_WATCH_MS 500		/* streams checked for their token's end */
#define ENDPOINT_SUBQ_SHARE 4		/* subscribes sent at once without a client: at
					 * most 1/4 of an instance's calls in flight */

struct rs;
struct registry;
struct policy_config;
struct audit_log;
struct http_req;
struct http_resp;

struct endpoint_params {
	const char *resource;		/* canonical URL (its origin is always allowed) */
	const char *const *origins;	/* other allowed Origin values */
	size_t norigins;
	int64_t timeout_ms;		/* forwarded calls */
	size_t sessions_max;
	int64_t session_idle_s;
	unsigned heartbeat_s;		/* SSE comments; 0: the server's default */
	size_t body_max;		/* JSON-RPC message limit */
	size_t page_size;		/* list pages; 0: the default (gateway/lists.h) */
	int64_t list_ttl_ms;		/* 2026-07-28 ttlMs of the lists */
	int64_t read_ttl_ms;		/* ... of resources/read when the upstream gives none */
	struct rs *rs;
	struct registry *reg;
	const struct policy_config *policy;
	struct audit_log *audit;	/* NULL: no audit */
	int audit_arguments;
	/* Parked calls of 2026-07-28 clients (gateway/mrtr.h; 0: defaults). */
	int64_t mrtr_ttl_ms;
	size_t mrtr_max;
	size_t mrtr_per_principal;
	size_t mrtr_per_subject;
	/* Period of the check that ends listen and GET streams whose token
	 * expired or was revoked (0: ENDPOINT_WATCH_MS). */
	int64_t watch_ms;
};

struct endpoint;

/* endpoint_new(p): an endpoint per ${p} (strings copied; the objects must
 * outlive it).  NULL on ENOMEM. */
struct endpoint *endpoint_new(const struct endpoint_params *p);

/* endpoint_handle(arg, req, resp): the http_handler_fn; ${arg} is the
 * endpoint. */
void endpoint_handle(void *arg, const struct http_req *req, struct http_resp *resp);

/* endpoint_list_changed(ep, method): send the notification ${method}
 * (notifications/tools/list_changed, ...) on every open session stream and
 * on the listen streams that opted in to its kind. */
void endpoint_list_changed(struct endpoint *ep, const char *method);

/* endpoint_upstream_notification(ep, u, subject, method, params): an
 * upstream's notification not tied to a call (the registry's hook): a
 * notifications/resources/updated of the instance (${u}, ${subject}: the
 * subject of a per-user upstream, else NULL) goes, with the client-facing
 * URI, to the open session streams and listen streams subscribed to that
 * URI or a parent of it on that instance, whose last token may read the
 * resource (policy_decide() as for resources/read, token not expired).
 * Others are dropped. */
struct upstream;
void endpoint_upstream_notification(struct endpoint *ep, struct upstream *u, const char *subject,
    const char *method, json_t *params);

/* endpoint_upstream_ready(ep, u, subject, capabilities): the instance
 * (${u}, ${subject}) completed initialize, first or again (the registry's
 * hook), and holds no subscription: if ${capabilities} (borrowed) say
 * resources.subscribe, every URI of that instance that still has holders
 * is subscribed again (without waiting for the answers), except those
 * whose subscribe is already on its way.  Called from the upstream's
 * thread; does not block on it. */
void endpoint_upstream_ready(struct endpoint *ep, struct upstream *u, const char *subject,
    json_t *capabilities);

/* endpoint_housekeeping(ep): end the sessions idle for longer than the
 * idle timeout (their streams closed, their subscriptions released), as a
 * lookup or a full table would.  Call it now and then. */
void endpoint_housekeeping(struct endpoint *ep);

/* endpoint_shutdown(ep): stop the streams' token check, refuse new
 * subscriptions, end every listen stream
 * (with its result, as a graceful end) and unsubscribe upstream every URI
 * still subscribed.  Call it while the HTTP server and the registry still
 * run, before http_server_free().  NULL does nothing. */
void endpoint_shutdown(struct endpoint *ep);

/* endpoint_stop(ep): stop the streams' token check (if endpoint_shutdown()
 * did not) and the timer of the parked calls (gateway/mrtr.h),
 * so that no parked call expires (and cancels its upstream call) while the
 * registry is freed.  Call it after the HTTP server was freed and before
 * the registry.  NULL does nothing. */
void endpoint_stop(struct endpoint *ep);

/* endpoint_free(ep): end every session and free.  Call it after the HTTP
 * server and the registry were freed (no call can still be pending).  NULL
 * does nothing. */
void endpoint_free(struct endpoint *ep);

#endif
