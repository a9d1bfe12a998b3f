/*
 * gateway/endpoint: the MCP endpoint.  See endpoint.h and
 * docs/internals/gateway.md.
 */
#include "gateway/endpoint.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "gateway/lists.h"
#include "gateway/mrtr.h"
#include "gateway/registry.h"
#include "gateway/replay.h"
#include "gateway/rs.h"
#include "gateway/subs.h"
#include "gateway/tick.h"
#include "gateway/upstream.h"
#include "http/server.h"
#include "mcp/jsonrpc.h"
#include "policy/policy.h"

#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_LOG_LEVEL "io.modelcontextprotocol/logLevel"
#define SERVER_NAME "mcpgate"
#define SERVER_VERSION "0.1.0"
#define DEFER_SLACK_MS 2000
#define OWNER_MAX 600
#define SRVREQ_ID_MAX 48
#define META_SUBSCRIPTION "io.modelcontextprotocol/subscriptionId"
#define ERR_LIMIT (-32000) /* a subscription limit was reached */
#define ERR_REAUTH (-32003) /* a stream's token expired or was revoked */

/* A legacy session. */
struct session {
	struct endpoint *ep;
	char id[SECRET_TOKEN_LEN + 1];
	char *sub;
	char *client_id;
	char version[16];
	int64_t last_used;
	struct http_stream *stream; /* the GET stream, or NULL */
	char *stream_jti;	    /* the token that opened it: jti, */
	int64_t stream_exp;	    /* expiry (under ep->mtx), */
	struct rs_watch *stream_watch; /* introspection: the token (under ep->mtx) */
	int cutting;		    /* endpoint_watch() closes its stream */
	int log_level;		    /* logging/setLevel (atomic); LOG_ALL until set */
	struct replay *replay;	    /* its last events, once it was opened */
	struct subs_set *subs;	    /* resources/subscribe, under ep->mtx */
	char *scope;		    /* the last token's scopes and expiry, */
	int64_t exp;		    /* for notifications (under ep->mtx) */
	int refs;		    /* under ep->mtx */
	int dead;		    /* removed from the table */
	struct session *next;	    /* bucket chain */
};

/* A pending server-to-client request: carried over a legacy call's SSE
 * stream, or (modern) held for an InputRequiredResult, whose key is ${id}. */
struct srvreq {
	char id[SRVREQ_ID_MAX];
	struct upstream_reply *r;
	json_t *req; /* modern: {"method", "params"} */
	int sent;    /* modern: handed out in an InputRequiredResult */
};

/* Log levels of RFC 5424 as MCP names them, least severe first; a call's
 * threshold is an index, or LOG_NONE (no notifications/message at all). */
#define LOG_NONE (-1)
#define LOG_ALL 0
static const char *const log_levels[] = {"debug", "info", "notice", "warning", "error", "critical",
    "alert", "emergency", NULL};

/* A forwarded call. */
#define CALL_STRS 8

struct call {
	pthread_mutex_t mtx;
	int refs;
	struct endpoint *ep;
	struct http_defer *d;
	struct http_stream *s;
	struct upstream_call *uc;
	int answered;
	int gone;		/* a client left while it waited (call_gone()) */
	int legacy;
	int modern;
	json_t *id;
	char owner[OWNER_MAX];
	struct srvreq srv[ENDPOINT_SRVREQ_MAX];
	unsigned nsrv;
	int log_level;		/* threshold for notifications/message */
	int64_t tmo;		/* the upstream call's timeout */
	/* Multi round-trip (modern tools/call, prompts/get, resources/read). */
	int mrtr;
	int gathering;		/* a table entry is OPEN for the pending requests */
	json_t *fin_result;	/* the upstream answered while no client waited */
	json_t *fin_error;
	/* audit */
	char *sub, *client_id, *session, *method, *tool, *resource, *upstream, *reason;
	char *strs;		/* the eight above, in one allocation */
	json_t *arguments;
	int64_t t0;
	/* Run with the outcome before the client is answered (rq.done_hook). */
	upstream_done_fn hook;
	void *hook_arg;
	struct call *prev, *next; /* ep->calls, under ep->mtx */
};

struct listener;

struct endpoint {
	char *resource;
	char *resource_origin;
	char *loopback_origins[3]; /* the resource's origin under each loopback name */
	char **origins;
	size_t norigins;
	int64_t timeout_ms;
	int64_t input_ms; /* a call waiting for its client: see upstream_call_opts */
	size_t sessions_max;
	int64_t session_idle_s;
	unsigned heartbeat_s;
	struct jsonrpc_limits lim;
	struct rs *rs;
	struct registry *reg;
	const struct policy_config *policy;
	struct lists *lists; /* list methods, cursors, cacheable results */
	struct audit_log *audit;
	int audit_arguments;

	pthread_mutex_t mtx; /* sessions, calls, srvseq */
	struct session *buckets[ENDPOINT_SESSION_BUCKETS];
	size_t nsessions;
	struct call *calls;
	uint64_t srvseq;
	struct mrtr *mrtr; /* parked modern calls */

	/* Subscriptions (docs/internals/gateway-subs.md).  sendmtx orders
	 * every change of the table with the upstream (un)subscribe it
	 * causes; it is taken before mtx, and never on a notification's
	 * path.  It is recursive: a forwarded subscribe that cannot be sent
	 * is settled inside forward(), under it. */
	pthread_mutex_t sendmtx;
	struct subs *subs;		/* under mtx */
	struct subs_budget subs_budget;	/* bytes of all holders' records (atomic) */
	struct listener *listeners;	/* under mtx */
	size_t nlisteners;
	int shut;			/* endpoint_shutdown() ran: no new ones */
	int noupstream;			/* the upstreams are gone */

	/* Streams end with the token that opened them (endpoint_watch()). */
	size_t nstreams;		/* sessions with a GET stream, under mtx */
	struct tick *watch;
};

/* What a subs_set belongs to (subs_set_owner()). */
#define HOLDER_SESSION 1
#define HOLDER_LISTEN 2

static void subs_release_set(struct endpoint *ep, struct subs_set *set);
static void session_scope(struct session *s, const struct rs_principal *p);

/* What one request is, for the audit line and the answer. */
struct rq {
	struct endpoint *ep;
	const struct http_req *req;
	struct http_resp *resp;
	const struct rs_principal *p;
	struct jsonrpc_msg m;
	struct session *sess;
	int legacy, modern;
	const char *version;
	int want_sse;
	/* audit */
	const char *tool, *resource, *upstream, *reason;
	char toolbuf[REGISTRY_NAME_MAX + 1];
	char reasonbuf[POLICY_REASON_MAX];
	enum audit_decision decision;
	int code;
	int64_t t0;
	/* forward() hands this to the call it makes, which runs it with the
	 * upstream's answer before answering the client; left here if no
	 * call was made (resources/subscribe settles its record with it). */
	upstream_done_fn done_hook;
	void *done_arg;
};

/* The origin (scheme://authority) of URL ${u}, malloc'd. */
static char *
origin_of(const char *u)
{
	const char *p = strstr(u, "://");
	size_t n;
	char *o;

	p = p ? p + 3 : u;
	n = (size_t)(p - u) + strcspn(p, "/?#");
	if ((o = malloc(n + 1)) == NULL)
		return (NULL);
	memcpy(o, u, n);
	o[n] = '\0';
	return (o);
}

/* ------------------------------------------------------------------ */
/* Audit */

static void
audit_rq(struct rq *q, int status)
{
	struct audit_record r;

	if (q->ep->audit == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.id = q->m.id;
	r.subject = q->p ? q->p->sub : NULL;
	r.client_id = q->p ? q->p->client_id : NULL;
	r.session = q->sess ? q->sess->id : NULL;
	r.method = q->m.method;
	r.tool = q->tool;
	r.resource = q->resource;
	r.decision = q->decision;
	r.reason = q->reason;
	r.upstream = q->upstream;
	r.latency_ms = clock_now_ms() - q->t0;
	r.error_code = q->code;
	r.http_status = status;
	audit_write(q->ep->audit, &r);
}

/* The audit line of a forwarded call's answer; ${outcome} NULL: from
 * ${code}. */
static void
audit_call(struct call *c, int code, const char *outcome)
{
	struct audit_record r;

	if (c->ep->audit == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.id = c->id;
	r.subject = c->sub;
	r.client_id = c->client_id;
	r.session = c->session;
	r.method = c->method;
	r.tool = c->tool;
	r.resource = c->resource;
	r.decision = AUDIT_ALLOW;
	r.reason = c->reason;
	r.upstream = c->upstream;
	r.latency_ms = clock_now_ms() - c->t0;
	r.error_code = code;
	r.http_status = 200;
	r.arguments = c->arguments;
	r.outcome = outcome;
	audit_write(c->ep->audit, &r);
}

/* ------------------------------------------------------------------ */
/* Answers */

/* A JSON answer, with the session header of ${q}. */
static void
reply(struct rq *q, int status, json_t *j)
{
	if (q->sess != NULL)
		http_resp_header(q->resp, "Mcp-Session-Id", q->sess->id);
	if (j == NULL)
		http_resp_text(q->resp, status, "text/plain", "");
	else
		http_resp_json(q->resp, status, j);
	audit_rq(q, status);
}

static void
reply_error(struct rq *q, int status, int code, const char *msg, json_t *data)
{
	q->code = code;
	if (q->reason == NULL)
		q->reason = msg;
	reply(q, status, jsonrpc_error(q->m.id, code, msg, data));
}

/* Modern results carry resultType (2026-07-28 basic/index), and those of
 * the list methods and resources/read the caching hints ttlMs and
 * cacheScope (changelog, SEP-2549; gateway/lists.h). */
static json_t *
result_for(const struct endpoint *ep, int modern, const char *method, json_t *result)
{
	if (!modern || !json_is_object(result))
		return (result);
	if (json_object_get(result, "resultType") == NULL)
		json_object_set_new(result, "resultType", json_string("complete"));
	(void)lists_cacheable(ep->lists, method, result);
	return (result);
}

static void
reply_result(struct rq *q, json_t *result)
{
	q->decision = q->decision == AUDIT_NONE ? AUDIT_ALLOW : q->decision;
	reply(q, 200, jsonrpc_result(q->m.id, result_for(q->ep, q->modern, q->m.method, result)));
}

/* ------------------------------------------------------------------ */
/* Sessions */

static size_t
bucket_of(const char *id)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return ((size_t)(h % ENDPOINT_SESSION_BUCKETS));
}

/* Unlink ${s} (ep->mtx held); its stream is handed back to the caller. */
static struct http_stream *
session_unlink(struct endpoint *ep, struct session *s)
{
	struct session **pp;
	struct http_stream *st;

	for (pp = &ep->buckets[bucket_of(s->id)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			ep->nsessions--;
			break;
		}
	s->dead = 1;
	/* Updates reach it no more, though its set stays indexed until
	 * released. */
	if (s->subs != NULL)
		subs_set_owner(s->subs, NULL, 0);
	st = s->stream;
	s->stream = NULL;
	rs_watch_free(s->stream_watch);
	s->stream_watch = NULL;
	if (st != NULL)
		ep->nstreams--;
	return (st);
}

static void
session_free(struct session *s)
{
	if (s->subs != NULL)
		subs_release_set(s->ep, s->subs);
	replay_free(s->replay);
	free(s->scope);
	free(s->stream_jti);
	rs_watch_free(s->stream_watch);
	free(s->sub);
	free(s->client_id);
	free(s);
}

/* Drop a reference (ep->mtx held); returns the session to free, if any. */
static struct session *
session_unref(struct session *s)
{
	if (--s->refs == 0 && s->dead)
		return (s);
	return (NULL);
}

static void
session_release(struct endpoint *ep, struct session *s)
{
	struct session *f;

	if (s == NULL)
		return;
	pthread_mutex_lock(&ep->mtx);
	f = session_unref(s);
	pthread_mutex_unlock(&ep->mtx);
	if (f != NULL)
		session_free(f);
}

/* Remove sessions idle for too long (ep->mtx held); their streams are put
 * in ${closing} (at most ${max}) for the caller to close unlocked. */
static size_t
session_sweep(struct endpoint *ep, int64_t now, struct http_stream **closing, size_t max,
    struct session **freeing, size_t *nfree)
{
	struct session *s, *next;
	struct http_stream *st;
	size_t b, n = 0;

	for (b = 0; b < ENDPOINT_SESSION_BUCKETS && n < max && *nfree < max; b++)
		for (s = ep->buckets[b]; s != NULL && n < max && *nfree < max; s = next) {
			next = s->next;
			if (now - s->last_used < ep->session_idle_s)
				continue;
			if ((st = session_unlink(ep, s)) != NULL)
				closing[n++] = st;
			if (s->refs == 0)
				freeing[(*nfree)++] = s;
		}
	return (n);
}

static struct session *
session_new(struct endpoint *ep, const struct rs_principal *p, const char *version)
{
	struct session *s, *freeing[64];
	struct http_stream *closing[64];
	size_t n, i, nfree = 0;
	size_t b;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	s->ep = ep;
	if (secret_token(s->id) != 0 || (s->sub = strdup(p->sub)) == NULL ||
	    (s->client_id = strdup(p->client_id)) == NULL ||
	    (s->subs = subs_set_new(ENDPOINT_SESSION_SUBS_MAX)) == NULL) {
		session_free(s);
		return (NULL);
	}
	subs_set_budget(s->subs, &ep->subs_budget);
	subs_set_owner(s->subs, s, HOLDER_SESSION);
	snprintf(s->version, sizeof(s->version), "%s", version);
	session_scope(s, p);
	s->last_used = clock_now();
	s->refs = 1;
	pthread_mutex_lock(&ep->mtx);
	n = 0;
	if (ep->nsessions >= ep->sessions_max)
		n = session_sweep(ep, s->last_used, closing, 64, freeing, &nfree);
	if (ep->nsessions >= ep->sessions_max) {
		pthread_mutex_unlock(&ep->mtx);
		session_free(s);
		s = NULL;
	} else {
		b = bucket_of(s->id);
		s->next = ep->buckets[b];
		ep->buckets[b] = s;
		ep->nsessions++;
		pthread_mutex_unlock(&ep->mtx);
	}
	for (i = 0; i < n; i++)
		http_stream_close(closing[i]);
	for (i = 0; i < nfree; i++)
		session_free(freeing[i]);
	return (s);
}

/* The live session ${id} bound to ${p}, with a reference; NULL if there is
 * none (unknown, expired, or another subject or client). */
static struct session *
session_get(struct endpoint *ep, const char *id, const struct rs_principal *p)
{
	struct session *s, *fr = NULL;
	struct http_stream *st = NULL;
	int64_t now = clock_now();

	if (strlen(id) != SECRET_TOKEN_LEN)
		return (NULL);
	pthread_mutex_lock(&ep->mtx);
	/* Both are SECRET_TOKEN_LEN long: a fixed-length comparison. */
	for (s = ep->buckets[bucket_of(id)]; s != NULL; s = s->next)
		if (secret_eq(s->id, id, SECRET_TOKEN_LEN))
			break;
	if (s != NULL && now - s->last_used >= ep->session_idle_s) {
		st = session_unlink(ep, s);
		if (s->refs == 0)
			fr = s;
		s = NULL;
	}
	if (s != NULL && (strcmp(s->sub, p->sub) != 0 || strcmp(s->client_id, p->client_id) != 0))
		s = NULL;
	if (s != NULL) {
		s->refs++;
		s->last_used = now;
		session_scope(s, p);
	}
	pthread_mutex_unlock(&ep->mtx);
	/* A stream is given back before its session (its on_close's argument)
	 * is freed. */
	if (st != NULL)
		http_stream_close(st);
	if (fr != NULL)
		session_free(fr);
	return (s);
}

/* on_close of a session's GET stream. */
static void
session_stream_gone(void *arg)
{
	struct session *s = arg;
	struct http_stream *st;

	pthread_mutex_lock(&s->ep->mtx);
	st = s->stream;
	s->stream = NULL;
	rs_watch_free(s->stream_watch);
	s->stream_watch = NULL;
	if (st != NULL)
		s->ep->nstreams--;
	pthread_mutex_unlock(&s->ep->mtx);
	if (st != NULL)
		http_stream_close(st);
}

/* Send the message ${text} to the GET stream of ${s} (ep->mtx held): with
 * an event id, kept for a client that reconnects with Last-Event-ID, once
 * the session has had a stream (also while it is disconnected). */
static void
session_send(struct session *s, const char *text, size_t len)
{
	char id[REPLAY_ID_MAX];
	uint64_t n;

	if (s->replay == NULL) {
		if (s->stream != NULL)
			http_stream_send(s->stream, "message", NULL, text, len);
		return;
	}
	n = replay_add(s->replay, text, len);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)n);
	if (s->stream != NULL)
		http_stream_send(s->stream, "message", id, text, len);
}

static void
replay_one(void *arg, uint64_t n, const char *text, size_t len)
{
	char id[REPLAY_ID_MAX];

	snprintf(id, sizeof(id), "%llu", (unsigned long long)n);
	http_stream_send(arg, "message", id, text, len);
}

/* ------------------------------------------------------------------ */
/* Forwarded calls */

static void
call_unref(struct call *c)
{
	struct endpoint *ep = c->ep;
	int last;

	pthread_mutex_lock(&c->mtx);
	last = --c->refs == 0;
	pthread_mutex_unlock(&c->mtx);
	if (!last)
		return;
	pthread_mutex_lock(&ep->mtx);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (ep->calls == c)
		ep->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&ep->mtx);
	pthread_mutex_destroy(&c->mtx);
	json_decref(c->id);
	json_decref(c->arguments);
	json_decref(c->fin_result);
	json_decref(c->fin_error);
	free(c->strs);
	free(c);
}

/* Copy ${src} (NULLs allowed) to c->sub, c->client_id, c->session,
 * c->method, c->tool, c->resource, c->upstream and c->reason, in one
 * allocation.  Out of memory, they stay NULL (the audit line lacks them). */
static void
call_strings(struct call *c, const char *src[CALL_STRS])
{
	char **dst[CALL_STRS] = {&c->sub, &c->client_id, &c->session, &c->method, &c->tool,
	    &c->resource, &c->upstream, &c->reason};
	size_t len[CALL_STRS], total = 0, i;
	char *p;

	for (i = 0; i < CALL_STRS; i++) {
		len[i] = src[i] != NULL ? strlen(src[i]) + 1 : 0;
		total += len[i];
	}
	if (total == 0 || (c->strs = p = malloc(total)) == NULL)
		return;
	for (i = 0; i < CALL_STRS; i++) {
		if (src[i] == NULL)
			continue;
		memcpy(p, src[i], len[i]);
		*dst[i] = p;
		p += len[i];
	}
}

/* Take what the call still owns of the HTTP side (c->mtx held). */
static void
call_take_http(struct call *c, struct http_defer **d, struct http_stream **s)
{
	*d = c->d;
	*s = c->s;
	c->d = NULL;
	c->s = NULL;
}

/* Give back the HTTP handle; drop its reference. */
static void
call_give_back(struct call *c, struct http_defer *d, struct http_stream *s, struct http_resp *resp)
{
	if (d != NULL) {
		http_defer_finish(d, resp);
		call_unref(c);
	}
	if (s != NULL) {
		http_stream_close(s);
		call_unref(c);
	}
}

/* The client left, or the deferred answer timed out: cancel upstream. */
static void
call_gone(void *arg)
{
	struct call *c = arg;
	struct http_defer *d;
	struct http_stream *s;
	struct upstream_call *uc;

	pthread_mutex_lock(&c->mtx);
	call_take_http(c, &d, &s);
	c->gone = 1;
	uc = c->uc;
	c->uc = NULL;
	pthread_mutex_unlock(&c->mtx);
	if (uc != NULL)
		upstream_call_cancel(uc, "client disconnected");
	call_give_back(c, d, s, NULL);
}

/* Answer a call's client with ${msg} (owned) over whichever of ${d} and
 * ${s} it has (both taken from the call), and give the handle back. */
static void
call_answer(struct call *c, struct http_defer *d, struct http_stream *s, json_t *msg)
{
	struct http_resp resp;
	char *text;

	if (s != NULL) {
		if (msg != NULL && (text = jsonrpc_dumps(msg)) != NULL) {
			http_stream_send(s, "message", NULL, text, strlen(text));
			free(text);
		}
		msg = NULL;
	} else if (d != NULL) {
		http_resp_init(&resp);
		if (msg != NULL)
			http_resp_json(&resp, 200, msg);
		msg = NULL;
		call_give_back(c, d, NULL, &resp);
		http_resp_clear(&resp);
		d = NULL;
	}
	json_decref(msg);
	call_give_back(c, d, s, NULL);
}

static void
call_done(void *arg, json_t *result, json_t *error)
{
	struct call *c = arg;
	struct http_defer *d;
	struct http_stream *s;
	struct upstream_call *uc;
	struct srvreq pend[ENDPOINT_SRVREQ_MAX];
	json_t *msg, *res = NULL, *err = NULL, *id;
	unsigned i, npend;
	int code = 0;

	if (c->hook != NULL)
		c->hook(c->hook_arg, result, error);
	if (error != NULL) {
		code = (int)json_integer_value(json_object_get(error, "code"));
		if (code == 0)
			code = JSONRPC_INTERNAL_ERROR;
		err = c->modern ? lists_error_modern(c->method, error) : json_incref(error);
	} else {
		/* Borrowed: result_for() adds members at the top level only,
		 * so a modern answer needs a copy of that level alone.  A
		 * result an upstream speaking 2026-07-28 marks input_required
		 * keeps its resultType: the client's retry goes to that
		 * upstream. */
		res = c->modern ? json_copy(result) : json_incref(result);
		res = result_for(c->ep, c->modern, c->method, res);
	}
	pthread_mutex_lock(&c->mtx);
	c->answered = 1;
	/* The id of the request now waiting: a retry (call_resume()) replaces
	 * c->id under c->mtx until c->answered is set, never after. */
	id = json_incref(c->id);
	call_take_http(c, &d, &s);
	/* Parked, or between two rounds: kept for the retry. */
	if (c->mrtr && d == NULL && s == NULL && c->fin_result == NULL && c->fin_error == NULL) {
		c->fin_result = err == NULL ? json_incref(res) : NULL;
		c->fin_error = json_incref(err);
	}
	uc = c->uc;
	c->uc = NULL;
	npend = c->nsrv;
	for (i = 0; i < npend; i++)
		pend[i] = c->srv[i];
	c->nsrv = 0;
	pthread_mutex_unlock(&c->mtx);
	if (error != NULL)
		msg = json_pack("{s:s, s:O, s:O?}", "jsonrpc", "2.0", "id", id, "error", err);
	else
		msg = jsonrpc_result(id, json_incref(res));
	json_decref(id);
	json_decref(res);
	json_decref(err);
	for (i = 0; i < npend; i++) {
		upstream_reply_send(pend[i].r, NULL, NULL);
		json_decref(pend[i].req);
	}
	upstream_call_release(uc);
	audit_call(c, code, NULL);
	call_answer(c, d, s, msg);
	call_unref(c); /* the done reference */
}

/* The index of log level ${name}, or LOG_NONE. */
static int
log_level_of(const char *name)
{
	int i;

	for (i = 0; name != NULL && log_levels[i] != NULL; i++)
		if (strcmp(name, log_levels[i]) == 0)
			return (i);
	return (LOG_NONE);
}

static void
call_notify(void *arg, const char *method, json_t *params)
{
	struct call *c = arg;
	json_t *n;
	char *text;
	int lvl;

	/* notifications/message at or above the call's threshold only (a
	 * legacy session's logging/setLevel; a modern request's _meta
	 * logLevel, without which there are none); a message whose level is
	 * not one of the eight is dropped. */
	if (strcmp(method, "notifications/message") == 0) {
		lvl = log_level_of(json_string_value(json_object_get(params, "level")));
		if (c->log_level == LOG_NONE || lvl == LOG_NONE || lvl < c->log_level)
			return;
	}
	n = json_pack("{s:s, s:s, s:O?}", "jsonrpc", "2.0", "method", method, "params", params);
	if ((text = jsonrpc_dumps(n)) == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	if (c->s != NULL)
		http_stream_send(c->s, "message", NULL, text, strlen(text));
	pthread_mutex_unlock(&c->mtx);
	free(text);
}

/* mrtr callbacks: a reference to a call for the table. */
static void
call_hold(void *arg)
{
	struct call *c = arg;

	pthread_mutex_lock(&c->mtx);
	c->refs++;
	pthread_mutex_unlock(&c->mtx);
}

static void
call_release(void *arg)
{
	call_unref(arg);
}

/* Take the requests of ${c} not yet handed out (all of them if ${all})
 * into ${out}; returns how many. */
static unsigned
call_take_srvreqs(struct call *c, int all, struct srvreq out[ENDPOINT_SRVREQ_MAX])
{
	unsigned i, n = 0, k = 0;

	pthread_mutex_lock(&c->mtx);
	for (i = 0; i < c->nsrv; i++) {
		if (all || !c->srv[i].sent)
			out[n++] = c->srv[i];
		else
			c->srv[k++] = c->srv[i];
	}
	c->nsrv = k;
	pthread_mutex_unlock(&c->mtx);
	return (n);
}

/* Answer the ${n} requests ${out} with a -32603 error saying ${msg}. */
static void
srvreqs_fail(struct srvreq *out, unsigned n, const char *msg)
{
	json_t *err;
	unsigned i;

	err = json_pack("{s:i, s:s}", "code", JSONRPC_INTERNAL_ERROR, "message", msg);
	for (i = 0; i < n; i++) {
		upstream_reply_send(out[i].r, NULL, err);
		json_decref(out[i].req);
	}
	json_decref(err);
}

/* Fail the requests of ${c} not yet handed out (all of them if ${all}) to
 * the upstream with ${msg}. */
static void
call_fail_srvreqs(struct call *c, int all, const char *msg)
{
	struct srvreq out[ENDPOINT_SRVREQ_MAX];

	srvreqs_fail(out, call_take_srvreqs(c, all, out), msg);
}

/* A round of input requests begins for ${c}, which holds a reference for
 * the table (c->gathering was set): reserve its entry.  At the limits the
 * upstream's requests are refused and the call goes on. */
static void
call_open_round(struct call *c)
{
	struct mrtr_binding b;
	char h[MRTR_HANDLE_LEN + 1];
	enum mrtr_status st;

	b.sub = c->sub;
	b.client_id = c->client_id;
	b.method = c->method;
	b.name = c->tool != NULL ? c->tool : c->resource;
	st = b.sub && b.client_id && b.method && b.name ? mrtr_open(c->ep->mrtr, &b, c, h) : MRTR_ERROR;
	secret_wipe(h, sizeof(h));
	if (st == MRTR_OK)
		return;
	log_info("gateway: input requests of a %s refused: %s", c->method,
	    st == MRTR_FULL ? "too many calls wait for input" : "out of memory");
	pthread_mutex_lock(&c->mtx);
	c->gathering = 0;
	pthread_mutex_unlock(&c->mtx);
	call_fail_srvreqs(c, 0,
	    st == MRTR_FULL ? "too many calls wait for input from this client" : "out of memory");
	call_unref(c);
}

/* mrtr due(): the gathering window of ${c} closed: answer its client with
 * an InputRequiredResult carrying every request not yet handed out, and
 * park the call under ${handle}. */
static void
call_due(void *arg, const char *handle)
{
	struct call *c = arg;
	struct endpoint *ep = c->ep;
	struct http_defer *d = NULL;
	struct http_stream *s = NULL;
	struct upstream_call *uc;
	const char *keys[MRTR_KEYS_MAX];
	char keybuf[MRTR_KEYS_MAX][SRVREQ_ID_MAX];
	json_t *reqs, *msg = NULL, *id = NULL;
	size_t n = 0;
	unsigned i;
	void *x;

	reqs = json_object();
	pthread_mutex_lock(&c->mtx);
	c->gathering = 0;
	if (reqs != NULL && !c->answered && (c->d != NULL || c->s != NULL)) {
		for (i = 0; i < c->nsrv && n < MRTR_KEYS_MAX; i++) {
			if (c->srv[i].sent)
				continue;
			if (json_object_set(reqs, c->srv[i].id, c->srv[i].req) != 0)
				break;
			c->srv[i].sent = 1;
			snprintf(keybuf[n], sizeof(keybuf[n]), "%s", c->srv[i].id);
			keys[n] = keybuf[n];
			n++;
		}
		if (n > 0) {
			call_take_http(c, &d, &s);
			id = json_incref(c->id);
		}
	}
	pthread_mutex_unlock(&c->mtx);
	if (n == 0 || mrtr_park(ep->mrtr, handle, keys, n) != 0) {
		/* No client waits (it left, or the upstream answered). */
		if ((x = mrtr_drop(ep->mrtr, handle)) != NULL)
			call_unref(x);
		if (n > 0) {
			/* (not reached: only this function parks or drops a DUE
			 * entry) */
			msg = jsonrpc_error(id, JSONRPC_INTERNAL_ERROR, "input requests could not be parked",
			    NULL);
			call_answer(c, d, s, msg);
			call_fail_srvreqs(c, 1, "the client cannot receive this request");
			pthread_mutex_lock(&c->mtx);
			uc = c->uc;
			c->uc = NULL;
			pthread_mutex_unlock(&c->mtx);
			if (uc != NULL)
				upstream_call_cancel(uc, "input requests could not be parked");
		}
		json_decref(id);
		json_decref(reqs);
		return;
	}
	msg = jsonrpc_result(id, json_pack("{s:s, s:o, s:s}", "resultType", "input_required",
	    "inputRequests", reqs, "requestState", handle));
	json_decref(id);
	audit_call(c, 0, "input_required");
	call_answer(c, d, s, msg);
}

/* mrtr expired(): nobody retried ${c} in time: its pending requests get an
 * error, the upstream call is cancelled (notifications/cancelled), and the
 * table's reference is dropped. */
static void
call_expired(void *arg)
{
	struct call *c = arg;
	struct upstream_call *uc;
	struct srvreq out[ENDPOINT_SRVREQ_MAX];
	unsigned n;

	/* Cancelled first: an upstream answering its failed requests could
	 * otherwise finish the call before the cancellation is sent. */
	n = call_take_srvreqs(c, 1, out);
	pthread_mutex_lock(&c->mtx);
	uc = c->uc;
	c->uc = NULL;
	pthread_mutex_unlock(&c->mtx);
	if (uc != NULL)
		upstream_call_cancel(uc, "the client did not provide the input in time");
	srvreqs_fail(out, n, "the client did not answer in time");
	call_unref(c);
}

/* A modern call's server-to-client request: held for the next
 * InputRequiredResult. */
static void
srvreq_hold(struct call *c, const char *id, const char *method, json_t *params, struct upstream_reply *r)
{
	json_t *req, *err;
	int held = 0, open = 0;

	req = json_pack("{s:s, s:O?}", "method", method, "params", params);
	pthread_mutex_lock(&c->mtx);
	if (req != NULL && !c->answered && c->nsrv < ENDPOINT_SRVREQ_MAX) {
		snprintf(c->srv[c->nsrv].id, sizeof(c->srv[c->nsrv].id), "%s", id);
		c->srv[c->nsrv].r = r;
		c->srv[c->nsrv].req = req;
		c->srv[c->nsrv].sent = 0;
		c->nsrv++;
		held = 1;
		/* A client waits and no round is open: open one (the
		 * table's reference).  Otherwise the request waits for the
		 * open round, or for the client's retry. */
		if ((c->d != NULL || c->s != NULL) && !c->gathering) {
			c->gathering = 1;
			c->refs++;
			open = 1;
		}
	}
	pthread_mutex_unlock(&c->mtx);
	if (!held) {
		json_decref(req);
		err = json_pack("{s:i, s:s}", "code", JSONRPC_INTERNAL_ERROR, "message",
		    "too many requests pending for this call");
		upstream_reply_send(r, NULL, err);
		json_decref(err);
		return;
	}
	if (open)
		call_open_round(c);
}

static void
call_srvreq(void *arg, const char *method, json_t *params, struct upstream_reply *r)
{
	struct call *c = arg;
	struct endpoint *ep = c->ep;
	json_t *req, *err;
	char id[SRVREQ_ID_MAX], *text;
	uint64_t seq;
	int sent = 0;

	pthread_mutex_lock(&ep->mtx);
	seq = ++ep->srvseq;
	pthread_mutex_unlock(&ep->mtx);
	snprintf(id, sizeof(id), "mcpgate-%llu", (unsigned long long)seq);
	if (c->mrtr) {
		srvreq_hold(c, id, method, params, r);
		return;
	}
	req = json_pack("{s:s, s:s, s:s, s:O?}", "jsonrpc", "2.0", "id", id, "method", method, "params",
	    params);
	text = jsonrpc_dumps(req);
	pthread_mutex_lock(&c->mtx);
	if (text != NULL && c->legacy && c->s != NULL && !c->answered && c->nsrv < ENDPOINT_SRVREQ_MAX &&
	    http_stream_send(c->s, "message", NULL, text, strlen(text)) == 0) {
		snprintf(c->srv[c->nsrv].id, sizeof(c->srv[c->nsrv].id), "%s", id);
		c->srv[c->nsrv].req = NULL;
		c->srv[c->nsrv].sent = 1;
		c->srv[c->nsrv++].r = r;
		sent = 1;
	}
	pthread_mutex_unlock(&c->mtx);
	free(text);
	if (!sent) {
		err = json_pack("{s:i, s:s}", "code", JSONRPC_METHOD_NOT_FOUND, "message",
		    "the client cannot receive this request");
		upstream_reply_send(r, NULL, err);
		json_decref(err);
	}
}

/* A client's answer to a server-to-client request: route it. */
static int
route_response(struct endpoint *ep, const char *owner, struct jsonrpc_msg *m)
{
	struct call *c;
	struct upstream_reply *r = NULL;
	unsigned i;

	if (!json_is_string(m->id))
		return (-1);
	pthread_mutex_lock(&ep->mtx);
	for (c = ep->calls; c != NULL && r == NULL; c = c->next) {
		if (strcmp(c->owner, owner) != 0)
			continue;
		pthread_mutex_lock(&c->mtx);
		for (i = 0; i < c->nsrv; i++)
			if (strcmp(c->srv[i].id, json_string_value(m->id)) == 0) {
				r = c->srv[i].r;
				c->srv[i] = c->srv[--c->nsrv];
				break;
			}
		pthread_mutex_unlock(&c->mtx);
	}
	pthread_mutex_unlock(&ep->mtx);
	if (r == NULL)
		return (-1);
	upstream_reply_send(r, m->result, m->error);
	return (0);
}

/* notifications/cancelled from the client: cancel its call. */
static void
route_cancel(struct endpoint *ep, const char *owner, const json_t *rid)
{
	struct call *c;
	struct upstream_call *uc = NULL;
	int match;

	if (rid == NULL)
		return;
	pthread_mutex_lock(&ep->mtx);
	for (c = ep->calls; c != NULL; c = c->next) {
		if (strcmp(c->owner, owner) != 0)
			continue;
		/* c->id under c->mtx: a retry (call_resume()) replaces it. */
		pthread_mutex_lock(&c->mtx);
		match = jsonrpc_id_equal(c->id, rid);
		if (match) {
			uc = c->uc;
			c->uc = NULL;
		}
		pthread_mutex_unlock(&c->mtx);
		if (match)
			break;
	}
	pthread_mutex_unlock(&ep->mtx);
	if (uc != NULL)
		upstream_call_cancel(uc, "cancelled by the client");
}

static void
owner_of(const struct rq *q, char *out, size_t cap)
{
	if (q->sess != NULL)
		snprintf(out, cap, "s:%s", q->sess->id);
	else
		snprintf(out, cap, "p:%s\n%s", q->p->sub, q->p->client_id);
}

static int
has_progress_token(const json_t *params)
{
	json_t *meta = json_object_get(params, "_meta");

	return (json_is_object(meta) && json_object_get(meta, "progressToken") != NULL);
}

/* The threshold for the notifications/message of request ${q}'s call: a
 * legacy session's logging/setLevel level (everything until one is set),
 * a modern request's _meta logLevel (none without it: changelog item 5). */
static int
request_log_level(const struct rq *q)
{
	const char *l;

	if (!q->modern)
		return (q->sess != NULL ? __atomic_load_n(&q->sess->log_level, __ATOMIC_RELAXED) : LOG_ALL);
	l = json_string_value(json_object_get(json_object_get(q->m.params, "_meta"), META_LOG_LEVEL));
	return (log_level_of(l));
}

/* 1 if ${method} may get an InputRequiredResult (basic/patterns/mrtr). */
static int
mrtr_method(const char *method)
{
	return (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0 ||
	    strcmp(method, "resources/read") == 0);
}

/* Whether the answer to ${q} is an SSE stream: the client accepts one and
 * the call may carry notifications (progress, a modern request's log
 * level) or, for a legacy tools/call, server-to-client requests. */
static int
wants_stream(const struct rq *q, const char *method, const json_t *params)
{
	return (q->want_sse && (has_progress_token(params) || (q->legacy && strcmp(method, "tools/call") == 0) ||
	    (q->modern && request_log_level(q) != LOG_NONE)));
}

/* The retry of parked call ${c} (its reference, from the table, is ours)
 * by request ${q} with ${ir}, which has an object for every key handed out:
 * the new request takes the call's HTTP side, each response goes upstream
 * as the answer to its request, and the call goes on. */
static void
call_resume(struct rq *q, struct call *c, json_t *ir)
{
	struct endpoint *ep = q->ep;
	struct srvreq out[ENDPOINT_SRVREQ_MAX];
	struct upstream_call *uc;
	json_t *fr, *fe;
	unsigned i, n = 0, k = 0;
	int open = 0, sse = wants_stream(q, c->method, q->m.params);

	pthread_mutex_lock(&c->mtx);
	if (c->answered) {
		/* The upstream answered (or failed) while no client waited. */
		fr = c->fin_result;
		fe = c->fin_error;
		c->fin_result = c->fin_error = NULL;
		pthread_mutex_unlock(&c->mtx);
		q->upstream = c->upstream;
		q->decision = AUDIT_ALLOW;
		if (fe != NULL) {
			q->code = (int)json_integer_value(json_object_get(fe, "code"));
			if (q->code == 0)
				q->code = JSONRPC_INTERNAL_ERROR;
			reply(q, 200, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", q->m.id, "error", fe));
		} else if (fr != NULL)
			reply_result(q, fr);
		else
			reply_error(q, 200, JSONRPC_INTERNAL_ERROR, "the call ended", NULL);
		call_unref(c);
		return;
	}
	json_decref(c->id);
	c->id = jsonrpc_id_copy(q->m.id);
	c->t0 = q->t0;
	c->log_level = request_log_level(q);
	/* Under c->mtx, as in forward(). */
	if (sse)
		c->s = http_resp_stream(q->resp, ep->heartbeat_s, 0, call_gone, c);
	else
		c->d = http_resp_defer(q->resp, (unsigned)(c->tmo + DEFER_SLACK_MS), call_gone, call_gone, c);
	if (c->s == NULL && c->d == NULL) {
		uc = c->uc;
		c->uc = NULL;
		pthread_mutex_unlock(&c->mtx);
		call_fail_srvreqs(c, 1, "the client's retry failed");
		if (uc != NULL)
			upstream_call_cancel(uc, "the client's retry failed");
		call_unref(c);
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	/* The table's reference is the HTTP handle's now. */
	for (i = 0; i < c->nsrv; i++) {
		if (c->srv[i].sent)
			out[n++] = c->srv[i];
		else
			c->srv[k++] = c->srv[i];
	}
	c->nsrv = k;
	/* Requests the upstream sent meanwhile make the next round. */
	if (k > 0 && !c->gathering) {
		c->gathering = 1;
		c->refs++;
		open = 1;
	}
	pthread_mutex_unlock(&c->mtx);
	for (i = 0; i < n; i++) {
		upstream_reply_send(out[i].r, json_object_get(ir, out[i].id), NULL);
		json_decref(out[i].req);
	}
	if (open)
		call_open_round(c);
}

/* Before a modern request is forwarded: its _meta logLevel, its
 * inputResponses and requestState are checked, and a requestState the
 * gateway minted resumes the call parked under it (after the policy check
 * the retry went through like any request).  A requestState of another
 * form is the upstream's own (an upstream speaking 2026-07-28): the
 * request goes to it unchanged.  Returns 1 if ${q} was answered here
 * (${params} is then released), 0 to forward it. */
static int
forward_pre(struct rq *q, const char *method, json_t *params)
{
	json_t *lv, *rs, *ir;
	struct mrtr_binding b;
	enum mrtr_status st;
	char missing[MRTR_KEY_MAX], msg[MRTR_KEY_MAX + 64];
	void *arg;

	if (!q->modern)
		return (0);
	lv = json_object_get(json_object_get(q->m.params, "_meta"), META_LOG_LEVEL);
	rs = json_object_get(q->m.params, "requestState");
	ir = json_object_get(q->m.params, "inputResponses");
	if (lv != NULL && log_level_of(json_string_value(lv)) == LOG_NONE) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "_meta logLevel must be a logging level", NULL);
		goto done;
	}
	if (ir != NULL && !json_is_object(ir)) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.inputResponses must be an object", NULL);
		goto done;
	}
	if (rs != NULL && !json_is_string(rs)) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.requestState must be a string", NULL);
		goto done;
	}
	if (rs == NULL || !mrtr_is_handle(json_string_value(rs)))
		return (0);
	b.sub = q->p->sub;
	b.client_id = q->p->client_id;
	b.method = method;
	b.name = q->tool != NULL ? q->tool : q->resource;
	if (b.sub == NULL || b.client_id == NULL || b.name == NULL || !mrtr_method(method))
		st = MRTR_UNKNOWN;
	else
		st = mrtr_claim(q->ep->mrtr, json_string_value(rs), &b, ir, &arg, missing, sizeof(missing));
	switch (st) {
	case MRTR_OK:
		call_resume(q, arg, ir);
		break;
	case MRTR_MISMATCH:
		reply_error(q, 200, JSONRPC_INVALID_PARAMS,
		    "params.requestState belongs to another method or name", NULL);
		break;
	case MRTR_INCOMPLETE:
		snprintf(msg, sizeof(msg), "params.inputResponses has no response for \"%s\"", missing);
		q->reason = "inputResponses incomplete";
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, msg, json_pack("{s:s}", "missing", missing));
		break;
	default:
		reply_error(q, 200, JSONRPC_INVALID_PARAMS,
		    "params.requestState is unknown, expired or already used", NULL);
		break;
	}
done:
	json_decref(params);
	return (1);
}

/* Send ${method} with ${params} (owned) to ${u} for request ${q}. */
static void
forward(struct rq *q, struct upstream *u, const char *method, json_t *params)
{
	struct endpoint *ep = q->ep;
	struct upstream_call_opts o;
	struct upstream_call *uc = NULL;
	const struct upstream_config *ucfg = upstream_cfg(u);
	struct call *c;
	int64_t tmo = ep->timeout_ms;
	int sse;

	if (forward_pre(q, method, params))
		return;
	if (ucfg->timeout_ms > 0 && ucfg->timeout_ms < tmo)
		tmo = ucfg->timeout_ms;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	pthread_mutex_init(&c->mtx, NULL);
	c->ep = ep;
	c->refs = 3; /* ours until the end of this function, the HTTP handle's, done's */
	c->legacy = q->legacy;
	c->modern = q->modern;
	c->mrtr = q->modern && mrtr_method(method);
	c->log_level = request_log_level(q);
	c->tmo = tmo;
	c->id = jsonrpc_id_copy(q->m.id);
	call_strings(c, (const char *[CALL_STRS]){q->p->sub, q->p->client_id,
	    q->sess ? q->sess->id : NULL, method, q->tool, q->resource, upstream_name(u), q->reason});
	c->t0 = q->t0;
	if (ep->audit_arguments && strcmp(method, "tools/call") == 0)
		c->arguments = json_incref(json_object_get(params, "arguments"));
	owner_of(q, c->owner, sizeof(c->owner));

	sse = wants_stream(q, method, params);
	if (sse && q->sess != NULL)
		http_resp_header(q->resp, "Mcp-Session-Id", q->sess->id);
	/* Under c->mtx, so that a notification finds the handle in c. */
	pthread_mutex_lock(&c->mtx);
	if (sse)
		c->s = http_resp_stream(q->resp, ep->heartbeat_s, 0, call_gone, c);
	else
		c->d = http_resp_defer(q->resp, (unsigned)(tmo + DEFER_SLACK_MS), call_gone, call_gone, c);
	pthread_mutex_unlock(&c->mtx);
	if (c->s == NULL && c->d == NULL)
		goto fail;
	pthread_mutex_lock(&ep->mtx);
	c->next = ep->calls;
	if (ep->calls != NULL)
		ep->calls->prev = c;
	ep->calls = c;
	pthread_mutex_unlock(&ep->mtx);

	/* From here call_done() runs exactly once: it takes the hook. */
	c->hook = q->done_hook;
	c->hook_arg = q->done_arg;
	q->done_hook = NULL;
	memset(&o, 0, sizeof(o));
	o.timeout_ms = tmo;
	o.subject = ucfg->isolation == UPSTREAM_PER_USER ? q->p->sub : NULL;
	o.done = call_done;
	o.notify = call_notify;
	o.srvreq = call_srvreq;
	o.arg = c;
	o.input_ms = ep->input_ms;
	if (upstream_request_opts(u, method, params, &o, &uc) != 0) {
		json_t *e = json_pack("{s:i, s:s}", "code", JSONRPC_INTERNAL_ERROR, "message",
		    "the call could not be sent");
		call_done(c, NULL, e);
		json_decref(e);
	} else {
		pthread_mutex_lock(&c->mtx);
		/* Not "no HTTP handle": a round of input requests may have
		 * answered the client already (call_due()), and the call
		 * waits for its retry. */
		if (!c->answered && c->gone) {
			/* the client left meanwhile */
			pthread_mutex_unlock(&c->mtx);
			upstream_call_cancel(uc, "client disconnected");
		} else if (c->answered) {
			pthread_mutex_unlock(&c->mtx);
			upstream_call_release(uc);
		} else {
			c->uc = uc;
			pthread_mutex_unlock(&c->mtx);
		}
	}
	json_decref(params);
	call_unref(c);
	return;
fail:
	call_unref(c);
	call_unref(c);
	call_unref(c);
nomem:
	json_decref(params);
	reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
}

/* ------------------------------------------------------------------ */
/* Policy */

/* 1 if the policy allows ${q}'s call; else the 403 challenge was sent. */
static int
allowed(struct rq *q, struct upstream *u, enum policy_kind kind, const char *name, int read_only)
{
	struct policy_request pr;
	/* 17 KiB on the stack of an HTTP thread (8 MiB): cheaper than two
	 * allocations past the malloc caches on every call. */
	struct policy_decision dbuf, *d = &dbuf;
	struct scope_set heldbuf, *held = &heldbuf;
	char scopes[SCOPE_MAX_LEN + 1];
	int ok;

	if (scope_parse(q->p->scope, held) != 0)
		held->n = 0;
	memset(&pr, 0, sizeof(pr));
	pr.subject = q->p->sub;
	pr.client_id = q->p->client_id;
	pr.held = held;
	pr.server = upstream_name(u);
	pr.server_scope = upstream_cfg(u)->scope;
	pr.kind = kind;
	pr.name = name;
	pr.read_only = read_only;
	policy_decide(q->ep->policy, &pr, d);
	ok = d->verdict == POLICY_ALLOW;
	q->upstream = upstream_name(u);
	if (ok) {
		q->decision = AUDIT_ALLOW;
		snprintf(q->reasonbuf, sizeof(q->reasonbuf), "%.*s", (int)sizeof(q->reasonbuf) - 1, d->reason);
		q->reason = q->reasonbuf;
	} else {
		q->decision = AUDIT_DENY;
		snprintf(q->reasonbuf, sizeof(q->reasonbuf), "%.*s", (int)sizeof(q->reasonbuf) - 1, d->reason);
		q->reason = q->reasonbuf;
		q->code = JSONRPC_INVALID_REQUEST;
		if (scope_string(&d->required, scopes, sizeof(scopes)) != 0)
			scopes[0] = '\0';
		rs_respond(q->ep->rs, RS_ERR_SCOPE, scopes, q->resp);
		if (q->sess != NULL)
			http_resp_header(q->resp, "Mcp-Session-Id", q->sess->id);
		audit_rq(q, 403);
	}
	return (ok);
}

static int
tool_read_only(const json_t *def)
{
	return (json_is_true(json_object_get(json_object_get(def, "annotations"), "readOnlyHint")));
}

/* ------------------------------------------------------------------ */
/* Methods */

static int any_subscribable(struct endpoint *ep);

/* resources.subscribe only when an upstream supports subscriptions. */
static json_t *
capabilities(struct endpoint *ep)
{
	json_t *c = json_pack("{s:{s:b}, s:{s:b}, s:{s:b}, s:{}, s:{}}", "tools", "listChanged", 1,
	    "resources", "listChanged", 1, "prompts", "listChanged", 1, "completions", "logging");

	if (c != NULL && any_subscribable(ep))
		json_object_set_new(json_object_get(c, "resources"), "subscribe", json_true());
	return (c);
}

static void
m_initialize(struct rq *q)
{
	const char *want = jsonrpc_param_string(&q->m, "protocolVersion");
	const char *v = ENDPOINT_VERSION_LEGACY;

	if (want == NULL) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "protocolVersion required", NULL);
		return;
	}
	if (strcmp(want, ENDPOINT_VERSION_LEGACY_OLD) == 0)
		v = ENDPOINT_VERSION_LEGACY_OLD;
	if ((q->sess = session_new(q->ep, q->p, v)) == NULL) {
		reply_error(q, 503, JSONRPC_INTERNAL_ERROR, "too many sessions", NULL);
		return;
	}
	reply_result(q, json_pack("{s:s, s:o, s:{s:s, s:s}}", "protocolVersion", v, "capabilities",
	    capabilities(q->ep), "serverInfo", "name", SERVER_NAME, "version", SERVER_VERSION));
}

static void
m_discover(struct rq *q)
{
	reply_result(q, json_pack("{s:[s, s, s], s:o, s:{s:{s:s, s:s}}}", "supportedVersions",
	    ENDPOINT_VERSION_MODERN, ENDPOINT_VERSION_LEGACY, ENDPOINT_VERSION_LEGACY_OLD, "capabilities",
	    capabilities(q->ep), "_meta", "io.modelcontextprotocol/serverInfo", "name", SERVER_NAME, "version",
	    SERVER_VERSION));
}

/* tools/list, prompts/list, resources/list, resources/templates/list: a
 * page of the registry's union as the token may see it (gateway/lists.h). */
static void
m_list(struct rq *q, enum registry_list which)
{
	struct registry_snapshot *snap = registry_snapshot(q->ep->reg);
	const char *why;
	json_t *result;
	int rc;

	rc = lists_answer(q->ep->lists, snap, which, q->p->scope, q->m.params, q->modern, &result, &why);
	registry_snapshot_release(snap);
	if (rc < 0)
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
	else if (rc > 0)
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, why, NULL);
	else
		reply_result(q, result);
}

/* 2026-07-28 Mcp-Param-{Name} headers: every property of the tool's
 * inputSchema marked "x-mcp-header" (reachable through "properties" only)
 * whose argument is present and not null must be mirrored by its header,
 * equal once decoded (jsonrpc_header_value_eq()).  Returns 0, or -1 if a
 * header is missing, malformed or different. */
static int
param_headers_ok(const struct http_req *req, const json_t *schema, const json_t *args, int depth)
{
	const json_t *props = json_object_get(schema, "properties"), *def, *v;
	const char *key, *h, *hdr;
	char name[128];

	if (!json_is_object(props) || !json_is_object(args) || depth > 8)
		return (0);
	json_object_foreach((json_t *)props, key, def) {
		v = json_object_get(args, key);
		if (v == NULL || json_is_null(v))
			continue;
		if ((h = json_string_value(json_object_get(def, "x-mcp-header"))) != NULL) {
			if (json_is_object(v) || json_is_array(v))
				continue;
			if ((size_t)snprintf(name, sizeof(name), "Mcp-Param-%s", h) >= sizeof(name))
				return (-1);
			if ((hdr = http_req_header(req, name)) == NULL || jsonrpc_header_value_eq(hdr, v) != 1)
				return (-1);
		}
		if (json_is_object(v) && param_headers_ok(req, def, v, depth + 1) != 0)
			return (-1);
	}
	return (0);
}

/* The first upstream configured with "namespace": false, or NULL. */
static struct upstream *
unnamespaced(struct registry *reg)
{
	size_t i;

	for (i = 0; i < registry_count(reg); i++)
		if (!upstream_cfg(registry_upstream(reg, i))->namespaced)
			return (registry_upstream(reg, i));
	return (NULL);
}

/* Forward ${method} to ${u} with params.name replaced by the upstream's own
 * name ${orig} (which belongs to ${snap}); releases ${snap}. */
static void
forward_named(struct rq *q, struct upstream *u, const char *method, const char *orig,
    struct registry_snapshot *snap)
{
	json_t *params = json_copy(q->m.params);

	if (params == NULL || json_object_set_new(params, "name", json_string(orig)) != 0) {
		json_decref(params);
		registry_snapshot_release(snap);
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	registry_snapshot_release(snap);
	forward(q, u, method, params);
}

static void
m_tools_call(struct rq *q)
{
	struct registry_snapshot *snap;
	const struct registry_entry *e;
	const char *name = jsonrpc_param_name(&q->m);
	struct upstream *u;

	if (name == NULL || strlen(name) > REGISTRY_NAME_MAX) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.name must be a tool name", NULL);
		return;
	}
	snprintf(q->toolbuf, sizeof(q->toolbuf), "%s", name);
	q->tool = q->toolbuf;
	if (json_object_get(q->m.params, "arguments") != NULL &&
	    !json_is_object(json_object_get(q->m.params, "arguments"))) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.arguments must be an object", NULL);
		return;
	}
	snap = registry_snapshot(q->ep->reg);
	if ((e = registry_tool(snap, name)) == NULL) {
		registry_snapshot_release(snap);
		/* A name no upstream lists goes to the first server that keeps
		 * its own names, which answers as it would without the gateway
		 * (the gateway stays transparent in front of one server); it
		 * needs what any tool without readOnlyHint needs. */
		if ((u = unnamespaced(q->ep->reg)) == NULL) {
			reply_error(q, 200, JSONRPC_INVALID_PARAMS, "unknown tool", NULL);
			return;
		}
		if (allowed(q, u, POLICY_TOOL, name, 0))
			forward(q, u, "tools/call", json_incref(q->m.params));
		return;
	}
	u = e->u;
	if (q->modern && param_headers_ok(q->req, json_object_get(e->def, "inputSchema"),
			     json_object_get(q->m.params, "arguments"), 0) != 0) {
		registry_snapshot_release(snap);
		q->reason = "Mcp-Param header missing or not matching the arguments";
		reply_error(q, 400, JSONRPC_HEADER_MISMATCH, "Header mismatch: Mcp-Param header", NULL);
		return;
	}
	if (!allowed(q, u, POLICY_TOOL, e->orig, tool_read_only(e->def))) {
		registry_snapshot_release(snap);
		return;
	}
	forward_named(q, u, "tools/call", e->orig, snap);
}

static void
m_prompts_get(struct rq *q)
{
	struct registry_snapshot *snap;
	const struct registry_entry *e;
	const char *name = jsonrpc_param_name(&q->m);
	struct upstream *u;

	if (name == NULL || strlen(name) > REGISTRY_NAME_MAX) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.name must be a prompt name", NULL);
		return;
	}
	snprintf(q->toolbuf, sizeof(q->toolbuf), "%s", name);
	q->tool = q->toolbuf;
	snap = registry_snapshot(q->ep->reg);
	if ((e = registry_prompt(snap, name)) == NULL) {
		registry_snapshot_release(snap);
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "unknown prompt", NULL);
		return;
	}
	u = e->u;
	if (!allowed(q, u, POLICY_PROMPT, e->orig, 0)) {
		registry_snapshot_release(snap);
		return;
	}
	forward_named(q, u, "prompts/get", e->orig, snap);
}

/* resources/read: to the
 * upstream that owns the URI, with its own URI. */
static void
m_resource(struct rq *q)
{
	struct registry_snapshot *snap;
	const char *uri = jsonrpc_param_uri(&q->m);
	struct upstream *u;
	char *orig = NULL;
	json_t *params;

	if (uri == NULL) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.uri must be a string", NULL);
		return;
	}
	q->resource = uri;
	snap = registry_snapshot(q->ep->reg);
	if (registry_resource(snap, uri, &u, &orig) != 0) {
		registry_snapshot_release(snap);
		/* -32602 since 2026-07-28, -32002 before (changelog minor
		 * change 6). */
		reply_error(q, 200, q->modern ? JSONRPC_INVALID_PARAMS : LISTS_RESOURCE_NOT_FOUND_OLD,
		    "Resource not found", json_pack("{s:s}", "uri", uri));
		return;
	}
	registry_snapshot_release(snap);
	if (!allowed(q, u, POLICY_RESOURCE, orig, 1)) {
		free(orig);
		return;
	}
	params = json_copy(q->m.params);
	if (params == NULL || json_object_set_new(params, "uri", json_string(orig)) != 0) {
		json_decref(params);
		free(orig);
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	free(orig);
	forward(q, u, q->m.method, params);
}

static void
m_complete(struct rq *q)
{
	struct registry_snapshot *snap;
	const struct registry_entry *e;
	json_t *ref = json_object_get(q->m.params, "ref"), *params, *nref;
	const char *type = json_string_value(json_object_get(ref, "type"));
	const char *name = json_string_value(json_object_get(ref, "name"));
	const char *uri = json_string_value(json_object_get(ref, "uri"));
	struct upstream *u = NULL;
	char *orig = NULL;
	enum policy_kind kind;

	snap = registry_snapshot(q->ep->reg);
	if (type != NULL && strcmp(type, "ref/prompt") == 0 && name != NULL &&
	    (e = registry_prompt(snap, name)) != NULL) {
		u = e->u;
		orig = strdup(e->orig);
		kind = POLICY_PROMPT;
	} else if (type != NULL && strcmp(type, "ref/resource") == 0 && uri != NULL &&
	    registry_resource(snap, uri, &u, &orig) == 0) {
		kind = POLICY_RESOURCE;
	} else {
		registry_snapshot_release(snap);
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.ref names no prompt or resource", NULL);
		return;
	}
	registry_snapshot_release(snap);
	if (orig == NULL) {
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	if (!allowed(q, u, kind, orig, 1)) {
		free(orig);
		return;
	}
	params = json_copy(q->m.params);
	nref = json_copy(ref);
	if (params == NULL || nref == NULL ||
	    json_object_set_new(nref, kind == POLICY_PROMPT ? "name" : "uri", json_string(orig)) != 0 ||
	    json_object_set(params, "ref", nref) != 0) {
		json_decref(params);
		json_decref(nref);
		free(orig);
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	json_decref(nref);
	free(orig);
	forward(q, u, "completion/complete", params);
}

/* logging/setLevel (legacy): the session's threshold for the
 * notifications/message of its later calls. */
static void
m_set_level(struct rq *q)
{
	int l = log_level_of(jsonrpc_param_string(&q->m, "level"));

	if (l == LOG_NONE) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.level must be a logging level", NULL);
		return;
	}
	if (q->sess != NULL)
		__atomic_store_n(&q->sess->log_level, l, __ATOMIC_RELAXED);
	reply_result(q, json_object());
}

/* ------------------------------------------------------------------ */
/* Subscriptions: resources/subscribe (legacy sessions) and
 * subscriptions/listen (2026-07-28); docs/internals/gateway-subs.md. */

#define LISTEN_TOOLS 1u
#define LISTEN_PROMPTS 2u
#define LISTEN_RESOURCES 4u

/* A subscriptions/listen stream.  Whoever unlinks it from ep->listeners
 * (its on_close, or endpoint_shutdown()) owns it and ends it. */
struct listener {
	struct endpoint *ep;
	struct http_stream *st;
	json_t *id;		/* the request's id: the subscriptionId */
	char *sub, *client_id, *scope;
	char *jti;		/* the listen request's token: jti and expiry, */
	int64_t exp;
	struct rs_watch *watch;	/* and, in introspection mode, the token */
	unsigned flags;		/* LISTEN_* */
	struct subs_set *subs;
	int linked;
	struct listener *prev, *next;
};

/* Remember the scopes and expiry of ${p}'s token in ${s} (ep->mtx held, or
 * ${s} not shared yet): a session's notifications follow the last token
 * seen in it.  Without memory the session holds no scope.  Other scopes
 * than before drop the events kept for a resumption: they were decided
 * under the old ones (a client resuming then learns of the gap). */
static void
session_scope(struct session *s, const struct rs_principal *p)
{
	const char *sc = p->scope != NULL ? p->scope : "";

	if (s->scope == NULL || strcmp(s->scope, sc) != 0) {
		if (s->scope != NULL && s->replay != NULL)
			replay_forget(s->replay);
		free(s->scope);
		s->scope = strdup(sc);
	}
	s->exp = p->exp;
}

/* 1 if ${u} said resources.subscribe: true in its capabilities. */
static int
subscribable(struct upstream *u)
{
	struct upstream_lists *l = upstream_lists_get(u);
	int ok;

	ok = l != NULL && json_is_true(json_object_get(json_object_get(l->capabilities, "resources"),
	    "subscribe"));
	upstream_lists_release(l);
	return (ok);
}

/* 1 if any upstream supports subscriptions. */
static int
any_subscribable(struct endpoint *ep)
{
	size_t i;

	for (i = 0; ep->reg != NULL && i < registry_count(ep->reg); i++)
		if (subscribable(registry_upstream(ep->reg, i)))
			return (1);
	return (0);
}

static void
fire_done(void *arg, json_t *result, json_t *error)
{
	char *what = arg;
	const char *msg;

	(void)result;
	if (error != NULL) {
		msg = json_string_value(json_object_get(error, "message"));
		log_info("gateway: %s failed: %.200s", what, msg != NULL ? msg : "error");
	}
	free(what);
}

/* Unsubscribe the instance (${u}, ${subject}) from the upstream URI
 * ${orig} without waiting for the answer (errors are logged; the URI is
 * not), if the instance runs: one that does not has forgotten its
 * subscriptions, and a per-user one would be started just for this.
 * Whether it runs is decided where the call is made (running_only), so
 * the idle reaper cannot stop it in between.  Under ep->sendmtx. */
static void
unsubscribe_fire(struct endpoint *ep, struct upstream *u, const char *subject, const char *orig)
{
	struct upstream_call_opts o;
	json_t *params;
	char *what = NULL;

	params = json_pack("{s:s}", "uri", orig);
	if (params == NULL ||
	    asprintf(&what, "upstream %s: resources/unsubscribe", upstream_name(u)) < 0) {
		json_decref(params);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.timeout_ms = ep->timeout_ms;
	o.subject = subject;
	o.done = fire_done;
	o.arg = what;
	o.running_only = 1;
	errno = 0;
	if (upstream_request_opts(u, "resources/unsubscribe", params, &o, NULL) != 0) {
		if (errno != ESRCH)
			log_info("gateway: %s could not be sent", what);
		free(what);
	}
	json_decref(params);
}

/* Drop the reference of the holder's set ${set} on the key (${u},
 * ${subject}, ${orig}) (ep->mtx held).  1 if it was the last one and the upstream may hold the
 * subscription (subs_may_hold(): it accepted one, one is in flight, or
 * one's outcome is unknown): then unsubscribe upstream
 * (unsubscribe_fire(), if the instance runs). */
static int
subs_drop(struct endpoint *ep, struct subs_set *set, struct upstream *u, const char *subject,
    const char *orig)
{
	int may = subs_may_hold(ep->subs, u, subject, orig);

	return (subs_unref(ep->subs, u, subject, orig, set) == 1 && !ep->noupstream && may);
}

/* Drop the references the items of ${set} hold, unsubscribing upstream
 * where one was the last, and free ${set}, which nobody else can reach. */
static void
subs_release_set(struct endpoint *ep, struct subs_set *set)
{
	unsigned char last[SUBS_PER_HOLDER_MAX];
	const struct subs_item *it;
	size_t i, n = subs_set_count(set);

	if (n > SUBS_PER_HOLDER_MAX)
		n = SUBS_PER_HOLDER_MAX;
	pthread_mutex_lock(&ep->sendmtx);
	pthread_mutex_lock(&ep->mtx);
	for (i = 0; i < n; i++) {
		it = subs_set_item(set, i);
		last[i] = subs_drop(ep, set, it->u, it->subject, it->orig);
	}
	pthread_mutex_unlock(&ep->mtx);
	for (i = 0; i < n; i++)
		if (last[i]) {
			it = subs_set_item(set, i);
			unsubscribe_fire(ep, it->u, it->subject, it->orig);
		}
	pthread_mutex_unlock(&ep->sendmtx);
	subs_set_free(set);
}

/* Subscribes sent without a client waiting (a listen stream's, or the
 * renewals after an instance started again), a few at a time: at most
 * ${width} unanswered, the next going out as earlier ones are answered, so
 * that many keys do not exceed an instance's calls in flight.  Each key is
 * counted in flight (subs_sending(), subs_restarted()) from the start: a
 * holder coming meanwhile does not send its own.  Under ep->sendmtx. */
struct subq_item {
	struct upstream *u;
	char *subject, *orig;
	uint64_t serial;
};

struct subq {
	struct endpoint *ep;
	struct subq_item *v;
	size_t n, cap, next;
	size_t active;		/* sent, not answered */
	size_t width;
};

/* A subscribe on its way upstream, until its answer: the key and its
 * serial then (subs_sending()), the queue it came from (NULL: none), and
 * for a legacy session's forwarded subscribe its holder (a reference to
 * the session) and the record's URI and stamp, to take the record back if
 * the subscribe fails. */
struct subreq {
	struct endpoint *ep;
	struct upstream *u;
	char *subject, *orig;
	uint64_t serial;
	struct subq *q;
	struct session *sess;
	char *uri;
	uint64_t stamp;
};

static void
subreq_free(struct subreq *r)
{
	if (r == NULL)
		return;
	free(r->subject);
	free(r->orig);
	free(r->uri);
	free(r);
}

static struct subreq *
subreq_new(struct endpoint *ep, struct upstream *u, const char *subject, const char *orig,
    uint64_t serial)
{
	struct subreq *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->ep = ep;
	r->u = u;
	r->serial = serial;
	if ((subject != NULL && (r->subject = strdup(subject)) == NULL) ||
	    (r->orig = strdup(orig)) == NULL) {
		subreq_free(r);
		return (NULL);
	}
	return (r);
}

/* 1 if ${error}, which the gateway made, leaves it unknown whether the
 * upstream subscribed: the call timed out, was cancelled (the client
 * left), or its HTTP transfer failed. */
static int
outcome_unknown(const json_t *error)
{
	json_int_t code = json_integer_value(json_object_get(error, "code"));
	const char *why = json_string_value(json_object_get(json_object_get(error, "data"), "reason"));

	return (code == UPSTREAM_ERR_CANCELLED || (code == UPSTREAM_ERR_UNAVAILABLE && why != NULL &&
	    (strcmp(why, "timeout") == 0 || strcmp(why, "transport") == 0)));
}

/* Settle the subscribe of the key (${u}, ${subject}, ${orig}) counted under
 * ${serial}, answered with ${error} (NULL: accepted).  For a session's
 * forwarded one (${sess}, whose reference this drops), a failure takes
 * back the record of ${uri} if it is still the one stamped ${stamp}: the
 * client is told of the failure, so it holds nothing; if that was the
 * last holder and the upstream may hold the subscription, it is
 * unsubscribed. */
static void
subs_settle(struct endpoint *ep, struct upstream *u, const char *subject, const char *orig,
    uint64_t serial, struct session *sess, const char *uri, uint64_t stamp, const json_t *error)
{
	struct session *f = NULL;
	struct subs_item it;
	const char *msg;
	int last = 0, undo = error != NULL && sess != NULL;
	int how = error == NULL ? SUBS_ACCEPTED : outcome_unknown(error) ? SUBS_UNKNOWN : SUBS_REFUSED;

	if (error != NULL && sess == NULL) {
		msg = json_string_value(json_object_get(error, "message"));
		log_info("gateway: upstream %s: resources/subscribe failed: %.200s", upstream_name(u),
		    msg != NULL ? msg : "error");
	}
	memset(&it, 0, sizeof(it));
	/* Taking a record back may unsubscribe: in order, under sendmtx. */
	if (undo)
		pthread_mutex_lock(&ep->sendmtx);
	pthread_mutex_lock(&ep->mtx);
	(void)subs_answered(ep->subs, u, subject, orig, serial, how);
	if (undo && stamp != 0 && subs_set_stamp(sess->subs, uri) == stamp &&
	    subs_set_remove(sess->subs, uri, &it) == 0)
		last = subs_drop(ep, sess->subs, u, subject, orig);
	if (sess != NULL)
		f = session_unref(sess);
	pthread_mutex_unlock(&ep->mtx);
	if (last)
		unsubscribe_fire(ep, u, subject, orig);
	if (undo)
		pthread_mutex_unlock(&ep->sendmtx);
	subs_item_clear(&it);
	if (f != NULL)
		session_free(f);
}

static void subq_pump(struct subq *q);

/* upstream_done_fn of a subscribe (a struct subreq). */
static void
subreq_done(void *arg, json_t *result, json_t *error)
{
	struct subreq *r = arg;

	(void)result;
	subs_settle(r->ep, r->u, r->subject, r->orig, r->serial, r->sess, r->uri, r->stamp, error);
	if (r->q != NULL) {
		pthread_mutex_lock(&r->ep->sendmtx);
		r->q->active--;
		subq_pump(r->q);
		pthread_mutex_unlock(&r->ep->sendmtx);
	}
	subreq_free(r);
}

/* The subscribe of the key (${u}, ${subject}, ${orig}) counted in flight
 * under ${serial} will not be sent: the key is down. */
static void
subs_unsent(struct endpoint *ep, struct upstream *u, const char *subject, const char *orig,
    uint64_t serial)
{
	pthread_mutex_lock(&ep->mtx);
	(void)subs_answered(ep->subs, u, subject, orig, serial, SUBS_REFUSED);
	pthread_mutex_unlock(&ep->mtx);
}

/* Subscribe the instance (${u}, ${subject}) to ${orig}, counted in flight
 * under ${serial}, for the queue ${q}, without a client waiting for the
 * answer.  Returns 0 if sent (the answer comes to subreq_done()), or -1
 * (the key is marked down).  Under ep->sendmtx. */
static int
subscribe_fire(struct endpoint *ep, struct upstream *u, const char *subject, const char *orig,
    uint64_t serial, struct subq *q)
{
	struct upstream_call_opts o;
	struct subreq *r = NULL;
	json_t *params = json_pack("{s:s}", "uri", orig);

	memset(&o, 0, sizeof(o));
	o.timeout_ms = ep->timeout_ms;
	o.subject = subject;
	o.done = subreq_done;
	if (params != NULL && (r = subreq_new(ep, u, subject, orig, serial)) != NULL) {
		r->q = q;
		o.arg = r;
		if (upstream_request_opts(u, "resources/subscribe", params, &o, NULL) == 0) {
			json_decref(params);
			return (0);
		}
	}
	subreq_free(r);
	json_decref(params);
	log_info("gateway: upstream %s: resources/subscribe could not be sent", upstream_name(u));
	subs_unsent(ep, u, subject, orig, serial);
	return (-1);
}

static void
subq_free(struct subq *q)
{
	size_t i;

	if (q == NULL)
		return;
	for (i = 0; i < q->n; i++) {
		free(q->v[i].subject);
		free(q->v[i].orig);
	}
	free(q->v);
	free(q);
}

/* subq_new(ep, cap): an empty queue for at most ${cap} subscribes. */
static struct subq *
subq_new(struct endpoint *ep, size_t cap)
{
	struct subq *q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return (NULL);
	if ((q->v = calloc(cap > 0 ? cap : 1, sizeof(*q->v))) == NULL) {
		free(q);
		return (NULL);
	}
	q->ep = ep;
	q->cap = cap;
	q->width = SIZE_MAX;
	return (q);
}

/* Queue the subscribe of (${u}, ${subject}, ${orig}) counted under
 * ${serial}.  Returns 0, or -1 on ENOMEM or if ${q} is full (nothing
 * queued). */
static int
subq_add(struct subq *q, struct upstream *u, const char *subject, const char *orig, uint64_t serial)
{
	struct subq_item *it;
	size_t w;

	if (q->n >= q->cap)
		return (-1);
	it = &q->v[q->n];
	memset(it, 0, sizeof(*it));
	if ((subject != NULL && (it->subject = strdup(subject)) == NULL) ||
	    (it->orig = strdup(orig)) == NULL) {
		free(it->subject);
		it->subject = NULL;
		return (-1);
	}
	it->u = u;
	it->serial = serial;
	q->n++;
	/* A share of the instance's calls in flight, so that clients' calls
	 * still find room. */
	w = upstream_calls_max(u) / ENDPOINT_SUBQ_SHARE;
	if (w < 1)
		w = 1;
	if (w < q->width)
		q->width = w;
	return (0);
}

/* Send the next subscribes of ${q} while fewer than its width are
 * unanswered; free ${q} once every one is sent and answered.  A key
 * released while queued is skipped: its holders are gone (an unsubscribe
 * may have gone out already, which a subscribe must not follow), and one
 * made again since (another serial) has its own.  Under ep->sendmtx. */
static void
subq_pump(struct subq *q)
{
	struct endpoint *ep = q->ep;
	struct subq_item *it;
	int go;

	while (q->active < q->width && q->next < q->n) {
		it = &q->v[q->next++];
		pthread_mutex_lock(&ep->mtx);
		go = !ep->shut && !ep->noupstream &&
		    subs_serial(ep->subs, it->u, it->subject, it->orig) == it->serial;
		pthread_mutex_unlock(&ep->mtx);
		if (go && subscribe_fire(ep, it->u, it->subject, it->orig, it->serial, q) == 0)
			q->active++;
	}
	if (q->active == 0 && q->next == q->n)
		subq_free(q);
}

/* Scratch space for may_read(), allocated outside the locks. */
struct readcheck {
	struct scope_set held;
	struct policy_decision d;
};

/* 1 if a holder whose last token (of ${sub} and ${client_id}, with the
 * scopes ${scope} and expiry ${exp}) may read the resource ${orig} of ${u}
 * under the policy now, as resources/read would decide. */
static int
may_read(struct endpoint *ep, struct readcheck *rc, const char *sub, const char *client_id,
    const char *scope, int64_t exp, struct upstream *u, const char *orig, int64_t now)
{
	struct policy_request pr;

	if (scope == NULL || (exp > 0 && now >= exp))
		return (0);
	if (scope_parse(scope, &rc->held) != 0)
		return (0);
	memset(&pr, 0, sizeof(pr));
	pr.subject = sub;
	pr.client_id = client_id;
	pr.held = &rc->held;
	pr.server = upstream_name(u);
	pr.server_scope = upstream_cfg(u)->scope;
	pr.kind = POLICY_RESOURCE;
	pr.name = orig;
	pr.read_only = 1;
	policy_decide(ep->policy, &pr, &rc->d);
	return (rc->d.verdict == POLICY_ALLOW);
}

/* ${n} with params._meta[subscriptionId] set to ${id}, serialized;
 * NULL on ENOMEM.  The reference to ${n} is stolen (NULL: NULL). */
static char *
tagged(json_t *n, json_t *id)
{
	json_t *params = json_object_get(n, "params"), *meta;

	if (n == NULL)
		return (NULL);
	if (!json_is_object(params)) {
		params = json_object();
		json_object_set_new(n, "params", params);
	}
	if (!json_is_object(meta = json_object_get(params, "_meta"))) {
		meta = json_object();
		json_object_set_new(params, "_meta", meta);
	}
	if (meta == NULL || json_object_set(meta, META_SUBSCRIPTION, id) != 0) {
		json_decref(n);
		return (NULL);
	}
	return (jsonrpc_dumps(n));
}

/* Unlink ${l} (ep->mtx held): the caller owns it now. */
static void
listen_unlink(struct endpoint *ep, struct listener *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		ep->listeners = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	l->linked = 0;
	ep->nlisteners--;
	/* Updates reach it no more (its stream is closed next), though its
	 * set stays indexed until released. */
	subs_set_owner(l->subs, NULL, 0);
}

static void
listen_free(struct listener *l)
{
	subs_set_free(l->subs);
	json_decref(l->id);
	free(l->sub);
	free(l->client_id);
	free(l->scope);
	free(l->jti);
	rs_watch_free(l->watch);
	free(l);
}

/* End the stream of ${l}, which the caller owns: with the listen result
 * first when ${graceful} (the gateway ends it), then release its
 * subscriptions and free it. */
static void
listen_end(struct listener *l, int graceful)
{
	json_t *r;
	char *text;

	if (graceful) {
		r = json_pack("{s:s, s:O, s:{s:s, s:{s:O, s:{s:s, s:s}}}}", "jsonrpc", "2.0", "id", l->id,
		    "result", "resultType", "complete", "_meta", META_SUBSCRIPTION, l->id,
		    "io.modelcontextprotocol/serverInfo", "name", SERVER_NAME, "version", SERVER_VERSION);
		if ((text = jsonrpc_dumps(r)) != NULL) {
			http_stream_send(l->st, "message", NULL, text, strlen(text));
			free(text);
		}
	}
	http_stream_close(l->st);
	subs_release_set(l->ep, l->subs);
	l->subs = NULL;
	listen_free(l);
}

/* on_close of a listen stream: the client left, or the server stops. */
static void
listen_gone(void *arg)
{
	struct listener *l = arg;
	struct endpoint *ep = l->ep;
	int own;

	pthread_mutex_lock(&ep->mtx);
	if ((own = l->linked))
		listen_unlink(ep, l);
	pthread_mutex_unlock(&ep->mtx);
	if (own)
		listen_end(l, 0);
}

/* The audit line of a stream ended because its token (jti, never the token)
 * is no longer valid (${e}). */
static void
audit_stream_end(struct endpoint *ep, const json_t *id, const char *sub, const char *client_id,
    const char *session, const char *method, enum rs_err e)
{
	struct audit_record r;

	if (ep->audit == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.subject = sub;
	r.client_id = client_id;
	r.session = session;
	r.method = method;
	r.decision = AUDIT_DENY;
	r.reason = e == RS_ERR_REVOKED ? "stream ended: token revoked" : "stream ended: token expired";
	r.latency_ms = -1;
	r.error_code = ERR_REAUTH;
	audit_write(ep->audit, &r);
}

/* End the stream of ${l}, which the caller owns, because the token of its
 * listen request expired or was revoked (${e}): a JSON-RPC error answers
 * the listen request (code ERR_REAUTH, data.error "invalid_token" as in
 * the RFC 6750 challenge a request with that token gets), then as
 * listen_end(). */
static void
listen_end_token(struct listener *l, enum rs_err e)
{
	json_t *r;
	char *text;

	audit_stream_end(l->ep, l->id, l->sub, l->client_id, NULL, "subscriptions/listen", e);
	r = json_pack("{s:s, s:O, s:{s:i, s:s, s:{s:s, s:s}}}", "jsonrpc", "2.0", "id", l->id, "error",
	    "code", ERR_REAUTH, "message", e == RS_ERR_REVOKED ?
	    "the access token of this subscription was revoked: listen again with a new token" :
	    "the access token of this subscription expired: listen again with a new token",
	    "data", "error", "invalid_token", "reason", e == RS_ERR_REVOKED ? "revoked" : "expired");
	if ((text = jsonrpc_dumps(r)) != NULL) {
		http_stream_send(l->st, "message", NULL, text, strlen(text));
		free(text);
	}
	listen_end(l, 0);
}

/* resources/subscribe and unsubscribe were replaced by subscriptions/listen
 * in 2026-07-28. */
static void
listen_instead(struct rq *q)
{
	reply_error(q, 404, JSONRPC_METHOD_NOT_FOUND,
	    "method not found: use subscriptions/listen with resourceSubscriptions", NULL);
}

/* Forward the subscribe of request ${q} for its record of ${uri} (stamp
 * ${stamp}) on the key (${u}, ${subject}, ${orig}), counted in flight under
 * ${serial}; the session's reference taken for it goes to the answer's
 * subs_settle().  Under ep->sendmtx. */
static void
subscribe_forward(struct rq *q, struct upstream *u, const char *subject, const char *uri,
    const char *orig, uint64_t serial, uint64_t stamp)
{
	struct subreq *r;
	json_t *params = NULL, *e;

	if ((r = subreq_new(q->ep, u, subject, orig, serial)) != NULL) {
		r->sess = q->sess;
		r->stamp = stamp;
		r->uri = strdup(uri);
		params = json_copy(q->m.params);
	}
	if (r == NULL || r->uri == NULL || params == NULL ||
	    json_object_set_new(params, "uri", json_string(orig)) != 0) {
		json_decref(params);
		subreq_free(r);
		e = json_pack("{s:i, s:s}", "code", JSONRPC_INTERNAL_ERROR, "message", "out of memory");
		subs_settle(q->ep, u, subject, orig, serial, q->sess, uri, stamp, e != NULL ? e : json_null());
		json_decref(e);
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	q->done_hook = subreq_done;
	q->done_arg = r;
	forward(q, u, "resources/subscribe", params);
	if (q->done_hook != NULL) {
		/* No call was made (forward() answered the client). */
		q->done_hook = NULL;
		e = json_pack("{s:i, s:s}", "code", JSONRPC_INTERNAL_ERROR, "message", "not sent");
		subreq_done(r, NULL, e != NULL ? e : json_null());
		json_decref(e);
	}
}

/* resources/subscribe in a legacy session: recorded in the session.  The
 * gateway answers {} itself once the upstream instance accepted a
 * subscribe of the URI (since it last started); otherwise (the first
 * holder, a subscribe still in flight, or refused before) the subscribe
 * is forwarded and the client gets the upstream's answer: a failure takes
 * the record back. */
static void
m_subscribe(struct rq *q)
{
	struct endpoint *ep = q->ep;
	struct registry_snapshot *snap;
	struct subs_item it;
	const char *uri = jsonrpc_param_uri(&q->m), *subject;
	struct upstream *u;
	char *orig = NULL;
	uint64_t serial = 0, stamp = 0;
	int r;

	if (q->modern) {
		listen_instead(q);
		return;
	}
	if (uri == NULL) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.uri must be a string", NULL);
		return;
	}
	q->resource = uri;
	snap = registry_snapshot(ep->reg);
	r = registry_resource(snap, uri, &u, &orig);
	registry_snapshot_release(snap);
	if (r != 0) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "unknown resource", NULL);
		return;
	}
	if (!allowed(q, u, POLICY_RESOURCE, orig, 1)) {
		free(orig);
		return;
	}
	if (!subscribable(u)) {
		free(orig);
		q->decision = AUDIT_DENY;
		reply_error(q, 200, JSONRPC_METHOD_NOT_FOUND,
		    "the server of this resource does not support subscriptions", NULL);
		return;
	}
	subject = upstream_cfg(u)->isolation == UPSTREAM_PER_USER ? q->p->sub : NULL;
	pthread_mutex_lock(&ep->sendmtx);
	pthread_mutex_lock(&ep->mtx);
	if (ep->shut)
		r = -2;
	else if ((r = subs_set_add(q->sess->subs, uri, u, subject, orig)) < 0 && errno == EDQUOT)
		r = -3;
	else if (r == 0) {
		if (subs_ref(ep->subs, u, subject, orig, q->sess->subs) < 0) {
			if (subs_set_remove(q->sess->subs, uri, &it) == 0)
				subs_item_clear(&it);
			r = -3;
		} else if (subs_state(ep->subs, u, subject, orig, NULL) != 1 &&
		    (serial = subs_sending(ep->subs, u, subject, orig, 1)) != 0) {
			stamp = subs_set_stamp(q->sess->subs, uri);
			q->sess->refs++;	/* the answer's */
		}
	}
	pthread_mutex_unlock(&ep->mtx);
	if (serial != 0)
		subscribe_forward(q, u, subject, uri, orig, serial, stamp);
	pthread_mutex_unlock(&ep->sendmtx);
	free(orig);
	if (serial != 0)
		return;
	if (r >= 0)
		reply_result(q, json_object());
	else if (r == -1)
		reply_error(q, 200, ERR_LIMIT, "too many subscriptions in this session",
		    json_pack("{s:i}", "max", ENDPOINT_SESSION_SUBS_MAX));
	else if (r == -2)
		reply_error(q, 503, JSONRPC_INTERNAL_ERROR, "the gateway is shutting down", NULL);
	else
		reply_error(q, 200, ERR_LIMIT, "too many subscriptions in the gateway", NULL);
}

/* resources/unsubscribe in a legacy session: no policy check (giving up
 * access needs none); the upstream is told when the last subscriber of the
 * URI leaves, if it may hold the subscription and its instance runs, and
 * answers the client; otherwise, or if the session had no such
 * subscription, the answer is an empty result. */
static void
m_unsubscribe(struct rq *q)
{
	struct endpoint *ep = q->ep;
	struct subs_item it;
	const char *uri = jsonrpc_param_uri(&q->m);
	int last = 0;

	if (q->modern) {
		listen_instead(q);
		return;
	}
	if (uri == NULL) {
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "params.uri must be a string", NULL);
		return;
	}
	q->resource = uri;
	memset(&it, 0, sizeof(it));
	pthread_mutex_lock(&ep->sendmtx);
	pthread_mutex_lock(&ep->mtx);
	if (subs_set_remove(q->sess->subs, uri, &it) == 0)
		last = subs_drop(ep, q->sess->subs, it.u, it.subject, it.orig);
	pthread_mutex_unlock(&ep->mtx);
	if (last) {
		q->upstream = upstream_name(it.u);
		q->decision = AUDIT_ALLOW;
		q->reason = "last subscriber";
		unsubscribe_fire(ep, it.u, it.subject, it.orig);
	}
	pthread_mutex_unlock(&ep->sendmtx);
	subs_item_clear(&it);
	reply_result(q, json_object());
}

/* The filter flag ${key} of subscriptions/listen: 1 true, 0 absent or
 * false, -1 not a boolean. */
static int
listen_flag(const json_t *filter, const char *key)
{
	const json_t *v = json_object_get(filter, key);

	if (v == NULL)
		return (0);
	return (json_is_boolean(v) ? json_is_true(v) : -1);
}

/* subscriptions/listen (2026-07-28): the answer is a stream that stays
 * open, whose first message acknowledges what the gateway honors; list
 * changes and resource updates follow, tagged with the request id. */
static void
m_listen(struct rq *q)
{
	static const char *const keys[3] = {"toolsListChanged", "promptsListChanged",
	    "resourcesListChanged"};
	struct endpoint *ep = q->ep;
	struct registry_snapshot *snap;
	struct listener *l = NULL, *o;
	const struct subs_item *it;
	json_t *filter = json_object_get(q->m.params, "notifications"), *rsub, *v, *ackn, *acku, *ack;
	uint64_t serial[SUBS_PER_HOLDER_MAX];
	struct subq *sq;
	struct upstream *u;
	const char *uri;
	char *orig, *text = NULL;
	size_t i, n, per = 0;
	int f, r;

	if (!q->modern) {
		reply_error(q, 200, JSONRPC_METHOD_NOT_FOUND, "method not found", NULL);
		return;
	}
	rsub = json_object_get(filter, "resourceSubscriptions");
	if (!json_is_object(filter) || (rsub != NULL && !json_is_array(rsub))) {
		reply_error(q, 400, JSONRPC_INVALID_PARAMS,
		    "params.notifications must be an object (SubscriptionFilter)", NULL);
		return;
	}
	if (json_array_size(rsub) > ENDPOINT_LISTEN_URIS_MAX) {
		reply_error(q, 400, JSONRPC_INVALID_PARAMS, "too many resourceSubscriptions",
		    json_pack("{s:i}", "max", ENDPOINT_LISTEN_URIS_MAX));
		return;
	}
	if (!q->want_sse) {
		reply_error(q, 406, JSONRPC_INVALID_REQUEST,
		    "subscriptions/listen needs Accept: text/event-stream", NULL);
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL || (ackn = json_object()) == NULL)
		goto nomem;
	l->ep = ep;
	l->exp = q->p->exp;
	l->id = jsonrpc_id_copy(q->m.id);
	l->sub = strdup(q->p->sub);
	l->client_id = strdup(q->p->client_id);
	l->scope = strdup(q->p->scope != NULL ? q->p->scope : "");
	l->jti = strdup(q->p->jti);
	l->subs = subs_set_new(ENDPOINT_LISTEN_URIS_MAX);
	if (l->id == NULL || l->sub == NULL || l->client_id == NULL || l->scope == NULL ||
	    l->jti == NULL || l->subs == NULL || rs_watch_req(ep->rs, q->req, &l->watch) != 0)
		goto nomem_ack;
	subs_set_budget(l->subs, &ep->subs_budget);
	for (i = 0; i < 3; i++) {
		if ((f = listen_flag(filter, keys[i])) < 0) {
			json_decref(ackn);
			listen_free(l);
			reply_error(q, 400, JSONRPC_INVALID_PARAMS, "a SubscriptionFilter flag is not a boolean",
			    json_pack("{s:s}", "field", keys[i]));
			return;
		}
		if (f) {
			l->flags |= 1u << i;
			json_object_set_new(ackn, keys[i], json_true());
		}
	}
	/* Each URI: known (else -32602), allowed as resources/subscribe is
	 * (else the 403 step-up challenge), and of an upstream that supports
	 * subscriptions (else left out of the acknowledgement). */
	acku = json_array();
	json_array_foreach(rsub, i, v) {
		if ((uri = json_string_value(v)) == NULL) {
			json_decref(acku);
			json_decref(ackn);
			listen_free(l);
			reply_error(q, 400, JSONRPC_INVALID_PARAMS, "resourceSubscriptions must hold strings", NULL);
			return;
		}
		q->resource = uri;
		snap = registry_snapshot(ep->reg);
		r = registry_resource(snap, uri, &u, &orig);
		registry_snapshot_release(snap);
		if (r != 0) {
			json_decref(acku);
			json_decref(ackn);
			listen_free(l);
			reply_error(q, 400, JSONRPC_INVALID_PARAMS, "unknown resource", json_pack("{s:s}", "uri", uri));
			return;
		}
		if (!allowed(q, u, POLICY_RESOURCE, orig, 1)) {
			free(orig);
			json_decref(acku);
			json_decref(ackn);
			listen_free(l);
			return;
		}
		r = subscribable(u) ? subs_set_add(l->subs, uri, u,
		    upstream_cfg(u)->isolation == UPSTREAM_PER_USER ? q->p->sub : NULL, orig) : 1;
		free(orig);
		if (r < 0 && errno == EDQUOT) {
			json_decref(acku);
			json_decref(ackn);
			listen_free(l);
			reply_error(q, 503, ERR_LIMIT, "too many subscriptions in the gateway", NULL);
			return;
		}
		if (r == 0)
			json_array_append_new(acku, json_string(uri));
	}
	q->resource = NULL;
	if (rsub != NULL)
		json_object_set_new(ackn, "resourceSubscriptions", acku);
	else
		json_decref(acku);
	ack = json_pack("{s:s, s:s, s:{s:o}}", "jsonrpc", "2.0", "method",
	    "notifications/subscriptions/acknowledged", "params", "notifications", ackn);
	if ((text = tagged(ack, l->id)) == NULL)
		goto nomem;

	n = subs_set_count(l->subs);
	pthread_mutex_lock(&ep->sendmtx);
	pthread_mutex_lock(&ep->mtx);
	for (o = ep->listeners; o != NULL; o = o->next)
		per += strcmp(o->sub, l->sub) == 0;
	if (ep->shut || ep->nlisteners >= ENDPOINT_LISTEN_MAX || per >= ENDPOINT_LISTEN_PER_SUBJECT) {
		r = ep->shut ? 503 : ep->nlisteners >= ENDPOINT_LISTEN_MAX ? 503 : 429;
		pthread_mutex_unlock(&ep->mtx);
		pthread_mutex_unlock(&ep->sendmtx);
		free(text);
		listen_free(l);
		if (r == 429)
			reply_error(q, 429, ERR_LIMIT, "too many subscriptions/listen streams for this subject",
			    json_pack("{s:i}", "max", ENDPOINT_LISTEN_PER_SUBJECT));
		else
			reply_error(q, 503, ERR_LIMIT, "too many subscriptions/listen streams", NULL);
		return;
	}
	for (i = 0; i < n; i++) {
		it = subs_set_item(l->subs, i);
		if (subs_ref(ep->subs, it->u, it->subject, it->orig, l->subs) < 0)
			break;
	}
	if (i < n) {
		/* The table is full: give back what was taken. */
		while (i-- > 0) {
			it = subs_set_item(l->subs, i);
			(void)subs_unref(ep->subs, it->u, it->subject, it->orig, l->subs);
		}
		pthread_mutex_unlock(&ep->mtx);
		pthread_mutex_unlock(&ep->sendmtx);
		free(text);
		listen_free(l);
		reply_error(q, 503, ERR_LIMIT, "too many subscriptions in the gateway", NULL);
		return;
	}
	/* Linked and acknowledged under ep->mtx, so that the acknowledgement
	 * comes before any notification, and its on_close finds it. */
	l->st = http_resp_stream(q->resp, ep->heartbeat_s, 0, listen_gone, l);
	if (l->st != NULL) {
		l->linked = 1;
		subs_set_owner(l->subs, l, HOLDER_LISTEN);
		l->next = ep->listeners;
		if (ep->listeners != NULL)
			ep->listeners->prev = l;
		ep->listeners = l;
		ep->nlisteners++;
		http_stream_send(l->st, "message", NULL, text, strlen(text));
		/* Subscribe upstream where nobody did, or it was refused. */
		for (i = 0; i < n; i++) {
			it = subs_set_item(l->subs, i);
			serial[i] = subs_sending(ep->subs, it->u, it->subject, it->orig, 0);
		}
	} else {
		for (i = 0; i < n; i++) {
			it = subs_set_item(l->subs, i);
			(void)subs_unref(ep->subs, it->u, it->subject, it->orig, l->subs);
		}
	}
	pthread_mutex_unlock(&ep->mtx);
	free(text);
	if (l->st == NULL) {
		pthread_mutex_unlock(&ep->sendmtx);
		listen_free(l);
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "no stream", NULL);
		return;
	}
	/* Under sendmtx, ${l} cannot be released yet even if the client
	 * already left. */
	sq = n > 0 ? subq_new(ep, n) : NULL;
	for (i = 0; i < n; i++)
		if (serial[i] != 0) {
			it = subs_set_item(l->subs, i);
			if (sq == NULL || subq_add(sq, it->u, it->subject, it->orig, serial[i]) != 0) {
				log_warn("gateway: out of memory: a resources/subscribe is not sent");
				subs_unsent(ep, it->u, it->subject, it->orig, serial[i]);
			}
		}
	if (sq != NULL)
		subq_pump(sq);
	pthread_mutex_unlock(&ep->sendmtx);
	q->decision = AUDIT_ALLOW;
	if (q->reason == NULL)
		q->reason = "listen";
	audit_rq(q, 200);
	return;
nomem_ack:
	json_decref(ackn);
nomem:
	if (l != NULL)
		listen_free(l);
	reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
}

static void
dispatch(struct rq *q)
{
	const char *m = q->m.method;
	enum registry_list which;

	/* ping and logging/setLevel are gone in 2026-07-28 (changelog item
	 * 5): unknown methods there. */
	if (strcmp(m, "ping") == 0 && !q->modern)
		reply_result(q, json_object());
	else if (strcmp(m, "server/discover") == 0)
		m_discover(q);
	else if (lists_method(m, &which))
		m_list(q, which);
	else if (strcmp(m, "logging/setLevel") == 0 && !q->modern)
		m_set_level(q);
	else if (strcmp(m, "tools/call") == 0)
		m_tools_call(q);
	else if (strcmp(m, "prompts/get") == 0)
		m_prompts_get(q);
	else if (strcmp(m, "resources/read") == 0)
		m_resource(q);
	else if (strcmp(m, "resources/subscribe") == 0)
		m_subscribe(q);
	else if (strcmp(m, "resources/unsubscribe") == 0)
		m_unsubscribe(q);
	else if (strcmp(m, "subscriptions/listen") == 0)
		m_listen(q);
	else if (strcmp(m, "completion/complete") == 0)
		m_complete(q);
	else
		reply_error(q, q->modern ? 404 : 200, JSONRPC_METHOD_NOT_FOUND, "method not found", NULL);
}

/* ------------------------------------------------------------------ */
/* The HTTP request */

static int
origin_allowed(struct endpoint *ep, const char *origin)
{
	size_t i;

	if (origin == NULL)
		return (1);
	if (ep->resource_origin != NULL && strcmp(origin, ep->resource_origin) == 0)
		return (1);
	for (i = 0; i < 3; i++)
		if (ep->loopback_origins[i] != NULL && strcmp(origin, ep->loopback_origins[i]) == 0)
			return (1);
	for (i = 0; i < ep->norigins; i++)
		if (strcmp(origin, ep->origins[i]) == 0)
			return (1);
	return (0);
}

static int
accepts(const char *accept, const char *type)
{
	return (accept != NULL && (strstr(accept, type) != NULL || strstr(accept, "*/*") != NULL));
}

static int
legacy_version(const char *v)
{
	return (strcmp(v, ENDPOINT_VERSION_LEGACY) == 0 || strcmp(v, ENDPOINT_VERSION_LEGACY_OLD) == 0);
}

/* The _meta protocol version of a message, or NULL. */
static const char *
meta_version(const struct jsonrpc_msg *m)
{
	return (json_string_value(json_object_get(json_object_get(m->params, "_meta"), META_VERSION)));
}

static void
plain_error(struct rq *q, int status, const char *msg)
{
	q->reason = msg;
	reply_error(q, status, JSONRPC_INVALID_REQUEST, msg, NULL);
}

/* GET and DELETE: legacy sessions only. */
static void
handle_session_method(struct rq *q)
{
	struct endpoint *ep = q->ep;
	const char *sid = http_req_header(q->req, "Mcp-Session-Id");
	const char *pv = http_req_header(q->req, "MCP-Protocol-Version");
	const char *lei = http_req_header(q->req, "Last-Event-ID");
	struct http_stream *old = NULL, *st;
	struct rs_watch *w = NULL;
	uint64_t last = 0;

	if (sid == NULL || (pv != NULL && !legacy_version(pv))) {
		http_resp_header(q->resp, "Allow", "POST");
		plain_error(q, 405, "method not allowed");
		return;
	}
	if ((q->sess = session_get(ep, sid, q->p)) == NULL) {
		plain_error(q, 404, "unknown session");
		return;
	}
	if (strcmp(q->req->method, "DELETE") == 0) {
		pthread_mutex_lock(&ep->mtx);
		if (!q->sess->dead)
			old = session_unlink(ep, q->sess);
		pthread_mutex_unlock(&ep->mtx);
		if (old != NULL)
			http_stream_close(old);
		q->decision = AUDIT_ALLOW;
		reply(q, 200, NULL);
		return;
	}
	if (!accepts(http_req_header(q->req, "Accept"), "text/event-stream")) {
		plain_error(q, 406, "GET needs Accept: text/event-stream");
		return;
	}
	if (lei != NULL && replay_parse_id(lei, &last) != 0) {
		plain_error(q, 400, "malformed Last-Event-ID");
		return;
	}
	http_resp_header(q->resp, "Mcp-Session-Id", q->sess->id);
	/* Under ep->mtx, so that its on_close (which takes it) finds the
	 * handle in the session. */
	pthread_mutex_lock(&ep->mtx);
	if (q->sess->stream != NULL || q->sess->cutting || q->sess->dead) {
		pthread_mutex_unlock(&ep->mtx);
		plain_error(q, 409, "the session already has a stream");
		return;
	}
	if (q->sess->replay == NULL)
		q->sess->replay = replay_new(0, 0); /* without: events carry no id */
	/* The stream lasts as long as the token that opens it. */
	free(q->sess->stream_jti);
	if ((q->sess->stream_jti = strdup(q->p->jti)) == NULL ||
	    rs_watch_req(ep->rs, q->req, &w) != 0) {
		pthread_mutex_unlock(&ep->mtx);
		plain_error(q, 500, "out of memory");
		return;
	}
	rs_watch_free(q->sess->stream_watch);
	q->sess->stream_watch = w;
	q->sess->stream_exp = q->p->exp;
	st = http_resp_stream(q->resp, ep->heartbeat_s, 0, session_stream_gone, q->sess);
	q->sess->stream = st;
	if (st != NULL)
		ep->nstreams++;
	else {
		rs_watch_free(q->sess->stream_watch);
		q->sess->stream_watch = NULL;
	}
	/* Resumption: what the client missed comes first, still under the
	 * mutex, so that nothing new overtakes it. */
	if (st != NULL && lei != NULL && q->sess->replay != NULL &&
	    replay_since(q->sess->replay, last, replay_one, st) != 0)
		q->reason = "resumed with a gap";
	pthread_mutex_unlock(&ep->mtx);
	if (st == NULL) {
		plain_error(q, 500, "no stream");
		return;
	}
	q->decision = AUDIT_ALLOW;
	audit_rq(q, 200);
}

/* The era and session of a POSTed message; 0 to go on, -1 if answered. */
static int
classify(struct rq *q)
{
	const char *hv = http_req_header(q->req, "MCP-Protocol-Version");
	const char *mv = meta_version(&q->m);
	const char *sid = http_req_header(q->req, "Mcp-Session-Id");
	struct jsonrpc_error err;
	json_t *data;

	if (q->m.kind == JSONRPC_REQUEST && strcmp(q->m.method, "initialize") == 0) {
		q->legacy = 1;
		return (0);
	}
	if ((hv != NULL && !legacy_version(hv)) || (mv != NULL && !legacy_version(mv)) ||
	    (sid == NULL && q->m.kind == JSONRPC_REQUEST && strcmp(q->m.method, "server/discover") == 0)) {
		q->modern = 1;
		q->version = hv;
		if (q->m.kind == JSONRPC_RESPONSE) {
			plain_error(q, 400, "responses are not accepted");
			return (-1);
		}
		if (hv != NULL && strcmp(hv, ENDPOINT_VERSION_MODERN) != 0) {
			data = json_pack("{s:[s, s, s], s:s}", "supported", ENDPOINT_VERSION_MODERN,
			    ENDPOINT_VERSION_LEGACY, ENDPOINT_VERSION_LEGACY_OLD, "requested", hv);
			reply_error(q, 400, -32022, "Unsupported protocol version", data);
			return (-1);
		}
		if (hv == NULL || (q->m.kind == JSONRPC_REQUEST && (mv == NULL || strcmp(hv, mv) != 0))) {
			q->reason = "MCP-Protocol-Version does not match the body";
			reply_error(q, 400, JSONRPC_HEADER_MISMATCH,
			    "MCP-Protocol-Version header missing or not matching _meta", NULL);
			return (-1);
		}
		memset(&err, 0, sizeof(err));
		if (jsonrpc_check_headers(&q->m, http_req_header(q->req, "Mcp-Method"),
			http_req_header(q->req, "Mcp-Name"), &err) != 0) {
			q->code = err.code;
			q->reason = err.message;
			reply(q, err.http_status, jsonrpc_error_from(&err));
			jsonrpc_error_clear(&err);
			return (-1);
		}
		return (0);
	}
	q->legacy = 1;
	if (hv != NULL && !legacy_version(hv)) {
		plain_error(q, 400, "unsupported MCP-Protocol-Version");
		return (-1);
	}
	if (sid == NULL) {
		plain_error(q, 400, "Mcp-Session-Id required");
		return (-1);
	}
	if ((q->sess = session_get(q->ep, sid, q->p)) == NULL) {
		plain_error(q, 404, "unknown session");
		return (-1);
	}
	q->version = hv != NULL ? hv : q->sess->version;
	return (0);
}

static void
handle_post(struct rq *q)
{
	struct jsonrpc_error err;
	char owner[OWNER_MAX];
	const char *accept = http_req_header(q->req, "Accept");

	memset(&err, 0, sizeof(err));
	if (jsonrpc_parse(q->req->body, q->req->body_len, &q->ep->lim, &q->m, &err) != 0) {
		q->code = err.code;
		q->reason = err.message;
		reply(q, err.http_status, jsonrpc_error_from(&err));
		jsonrpc_error_clear(&err);
		return;
	}
	if (q->m.kind == JSONRPC_BATCH) {
		plain_error(q, 400, "batches are not accepted");
		return;
	}
	if (classify(q) != 0)
		return;
	q->want_sse = accepts(accept, "text/event-stream");
	if (q->m.kind != JSONRPC_REQUEST) {
		owner_of(q, owner, sizeof(owner));
		if (q->m.kind == JSONRPC_RESPONSE) {
			if (route_response(q->ep, owner, &q->m) != 0) {
				plain_error(q, 400, "no request pending with this id");
				return;
			}
		} else if (strcmp(q->m.method, "notifications/cancelled") == 0) {
			route_cancel(q->ep, owner, json_object_get(q->m.params, "requestId"));
		}
		q->decision = AUDIT_ALLOW;
		reply(q, 202, NULL);
		return;
	}
	if (strcmp(q->m.method, "initialize") == 0) {
		m_initialize(q);
		return;
	}
	dispatch(q);
}

void
endpoint_handle(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct endpoint *ep = arg;
	struct rq q;
	enum rs_err e;

	memset(&q, 0, sizeof(q));
	q.ep = ep;
	q.req = req;
	q.resp = resp;
	q.t0 = clock_now_ms();
	if (!origin_allowed(ep, http_req_header(req, "Origin"))) {
		q.decision = AUDIT_DENY;
		plain_error(&q, 403, "origin not allowed");
		return;
	}
	if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "DELETE") != 0) {
		http_resp_header(resp, "Allow", "POST, GET, DELETE");
		plain_error(&q, 405, "method not allowed");
		return;
	}
	if ((e = rs_authenticate(ep->rs, req, &q.p)) != RS_OK) {
		rs_respond(ep->rs, e, NULL, resp);
		q.decision = AUDIT_DENY;
		q.reason = rs_strerror(e);
		audit_rq(&q, resp->status);
		return;
	}
	if (strcmp(req->method, "POST") == 0)
		handle_post(&q);
	else
		handle_session_method(&q);
	session_release(ep, q.sess);
	jsonrpc_msg_clear(&q.m);
	rs_principal_release(q.p);
}

void
endpoint_list_changed(struct endpoint *ep, const char *method)
{
	struct session *s;
	size_t b;
	char text[256];
	int n;

	struct listener *l;
	unsigned flag = 0;
	json_t *j;
	char *t;

	n = snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"}", method);
	if (n < 0 || (size_t)n >= sizeof(text))
		return;
	if (strcmp(method, "notifications/tools/list_changed") == 0)
		flag = LISTEN_TOOLS;
	else if (strcmp(method, "notifications/prompts/list_changed") == 0)
		flag = LISTEN_PROMPTS;
	else if (strcmp(method, "notifications/resources/list_changed") == 0)
		flag = LISTEN_RESOURCES;
	pthread_mutex_lock(&ep->mtx);
	for (b = 0; b < ENDPOINT_SESSION_BUCKETS; b++)
		for (s = ep->buckets[b]; s != NULL; s = s->next)
			if (s->stream != NULL || s->replay != NULL)
				session_send(s, text, (size_t)n);
	/* Listen streams: only the kinds they opted in to, tagged. */
	for (l = ep->listeners; l != NULL; l = l->next) {
		if ((l->flags & flag) == 0)
			continue;
		j = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
		if ((t = tagged(j, l->id)) != NULL) {
			http_stream_send(l->st, "message", NULL, t, strlen(t));
			free(t);
		}
	}
	pthread_mutex_unlock(&ep->mtx);
}

/* A resource on a loopback host may be reached as http://localhost:P,
 * http://127.0.0.1:P and http://[::1]:P alike: all are this server. */
static int
loopback_variants(struct endpoint *ep)
{
	static const char *const names[3] = {"localhost", "127.0.0.1", "[::1]"};
	const char *o = ep->resource_origin, *host, *port;
	size_t i, hlen;

	if ((host = strstr(o, "://")) == NULL)
		return (0);
	host += 3;
	if (host[0] == '[')
		port = strchr(host, ']') ? strchr(host, ']') + 1 : NULL;
	else
		port = host + strcspn(host, ":");
	if (port == NULL)
		return (0);
	hlen = (size_t)(port - host);
	for (i = 0; i < 3; i++)
		if (strlen(names[i]) == hlen && strncmp(host, names[i], hlen) == 0)
			break;
	if (i == 3)
		return (0);
	for (i = 0; i < 3; i++)
		if (asprintf(&ep->loopback_origins[i], "%.*s%s%s", (int)(host - o), o, names[i], port) < 0) {
			ep->loopback_origins[i] = NULL;
			return (-1);
		}
	return (0);
}

/* An update on its way to its holders (subs_holders()). */
struct delivery {
	struct endpoint *ep;
	struct readcheck *rc;
	struct upstream *u;
	const char *subject, *orig;
	json_t *n;		/* the notification */
	const char *text;	/* ... as text, for sessions */
	size_t len;
	int64_t now;
};

/* Hand the update ${arg} (a struct delivery) to the holder ${owner} if its
 * token may read it (ep->mtx held).  A set without owner belongs to a
 * holder on its way out. */
static void
deliver(void *arg, void *owner, int kind)
{
	struct delivery *d = arg;
	struct session *sess;
	struct listener *l;
	json_t *j;
	char *t;

	if (owner == NULL)
		return;
	if (kind == HOLDER_SESSION) {
		sess = owner;
		if ((sess->stream != NULL || sess->replay != NULL) &&
		    (d->subject == NULL || strcmp(d->subject, sess->sub) == 0) &&
		    may_read(d->ep, d->rc, sess->sub, sess->client_id, sess->scope, sess->exp, d->u,
		    d->orig, d->now))
			session_send(sess, d->text, d->len);
		return;
	}
	l = owner;
	if ((d->subject == NULL || strcmp(d->subject, l->sub) == 0) &&
	    may_read(d->ep, d->rc, l->sub, l->client_id, l->scope, l->exp, d->u, d->orig, d->now) &&
	    (j = json_deep_copy(d->n)) != NULL && (t = tagged(j, l->id)) != NULL) {
		http_stream_send(l->st, "message", NULL, t, strlen(t));
		free(t);
	}
}

void
endpoint_upstream_notification(struct endpoint *ep, struct upstream *u, const char *subject,
    const char *method, json_t *params)
{
	struct delivery d;
	struct readcheck *rc;
	json_t *p, *n;
	const char *orig;
	char *text, *out;

	if (strcmp(method, "notifications/resources/updated") != 0 ||
	    (orig = json_string_value(json_object_get(params, "uri"))) == NULL)
		return;
	if ((out = registry_uri_out(u, orig)) == NULL)
		return;
	p = json_copy(params);
	if (p != NULL)
		json_object_set_new(p, "uri", json_string(out));
	free(out);
	n = json_pack("{s:s, s:s, s:o?}", "jsonrpc", "2.0", "method", method, "params", p);
	if (n == NULL || (text = jsonrpc_dumps(json_incref(n))) == NULL) {
		json_decref(n);
		return;
	}
	if ((rc = malloc(sizeof(*rc))) == NULL) {
		free(text);
		json_decref(n);
		return;
	}
	/* Only holders subscribed to the URI (or a parent of it) on this
	 * upstream instance, a per-user one's own subject's, and whose token
	 * may still read it: found through the keys that cover the URI,
	 * without walking every session and stream. */
	d.ep = ep;
	d.rc = rc;
	d.u = u;
	d.subject = subject;
	d.orig = orig;
	d.n = n;
	d.text = text;
	d.len = strlen(text);
	d.now = clock_now();
	pthread_mutex_lock(&ep->mtx);
	(void)subs_holders(ep->subs, u, subject, orig, deliver, &d);
	pthread_mutex_unlock(&ep->mtx);
	free(rc);
	free(text);
	json_decref(n);
}

void
endpoint_upstream_ready(struct endpoint *ep, struct upstream *u, const char *subject,
    json_t *capabilities)
{
	struct subs_resend *v = NULL;
	struct subq *q = NULL;
	size_t n = 0, i;
	int rc = 0, sub;

	/* Without resources.subscribe now, nothing is subscribed again (and
	 * nothing is unsubscribed later). */
	sub = json_is_true(json_object_get(json_object_get(capabilities, "resources"), "subscribe"));
	pthread_mutex_lock(&ep->sendmtx);
	pthread_mutex_lock(&ep->mtx);
	if (!ep->shut && !ep->noupstream)
		rc = subs_restarted(ep->subs, u, subject, sub ? &v : NULL, &n);
	pthread_mutex_unlock(&ep->mtx);
	if (rc != 0)
		log_warn("gateway: upstream %s: out of memory: its subscriptions are not renewed",
		    upstream_name(u));
	if (n > 0)
		log_info("gateway: upstream %s: subscribing again to %zu resource%s", upstream_name(u), n,
		    n == 1 ? "" : "s");
	if (n > 0 && (q = subq_new(ep, n)) == NULL)
		log_warn("gateway: upstream %s: out of memory: its subscriptions are not renewed",
		    upstream_name(u));
	for (i = 0; i < n; i++)
		if (q == NULL || subq_add(q, u, subject, v[i].uri, v[i].serial) != 0)
			subs_unsent(ep, u, subject, v[i].uri, v[i].serial);
	if (q != NULL)
		subq_pump(q);
	pthread_mutex_unlock(&ep->sendmtx);
	subs_resend_free(v, n);
}

void
endpoint_housekeeping(struct endpoint *ep)
{
	struct session *freeing[64];
	struct http_stream *closing[64];
	size_t n, nfree, i;
	int64_t now = clock_now();

	/* Each full batch unlinked sessions: the loop ends. */
	do {
		nfree = 0;
		pthread_mutex_lock(&ep->mtx);
		n = session_sweep(ep, now, closing, 64, freeing, &nfree);
		pthread_mutex_unlock(&ep->mtx);
		for (i = 0; i < n; i++)
			http_stream_close(closing[i]);
		for (i = 0; i < nfree; i++)
			session_free(freeing[i]);
	} while (n == 64 || nfree == 64);
}

#define WATCH_BATCH 64

/*
 * Every ENDPOINT_WATCH_MS on its tick's thread: end the listen streams and
 * the legacy GET streams whose token (the one that opened them) expired or
 * was revoked.  rs_principal_check() is a lock-free read while nothing is
 * denied; with no stream open this is one mutex round.
 */
static void
endpoint_watch(void *arg)
{
	struct endpoint *ep = arg;
	struct listener *l, *next, *ended[WATCH_BATCH];
	struct session *s, *cut[WATCH_BATCH];
	struct http_stream *cutst[WATCH_BATCH];
	enum rs_err e, lwhy[WATCH_BATCH], swhy[WATCH_BATCH];
	size_t nl, ns, b, i;
	int64_t now = clock_now();

	if (ep->rs == NULL)
		return;
	do {
		nl = ns = 0;
		pthread_mutex_lock(&ep->mtx);
		for (l = ep->listeners; l != NULL && nl < WATCH_BATCH; l = next) {
			next = l->next;
			if ((e = rs_principal_check(ep->rs, l->jti, l->exp, now)) == RS_OK &&
			    (e = rs_watch_check(l->watch)) == RS_OK)
				continue;
			listen_unlink(ep, l);
			lwhy[nl] = e;
			ended[nl++] = l;
		}
		for (b = 0; ep->nstreams > 0 && b < ENDPOINT_SESSION_BUCKETS && ns < WATCH_BATCH; b++)
			for (s = ep->buckets[b]; s != NULL && ns < WATCH_BATCH; s = s->next) {
				if (s->stream == NULL || ((e = rs_principal_check(ep->rs, s->stream_jti,
				    s->stream_exp, now)) == RS_OK && (e = rs_watch_check(s->stream_watch)) == RS_OK))
					continue;
				/* Taken out: no notification goes to it, and
				 * its on_close finds none; cutting keeps a new
				 * GET out until it is closed. */
				cutst[ns] = s->stream;
				s->stream = NULL;
				rs_watch_free(s->stream_watch);
				s->stream_watch = NULL;
				s->cutting = 1;
				s->refs++;
				ep->nstreams--;
				swhy[ns] = e;
				cut[ns++] = s;
			}
		pthread_mutex_unlock(&ep->mtx);
		for (i = 0; i < nl; i++)
			listen_end_token(ended[i], lwhy[i]);
		for (i = 0; i < ns; i++) {
			audit_stream_end(ep, NULL, cut[i]->sub, cut[i]->client_id, cut[i]->id, NULL, swhy[i]);
			http_stream_close(cutst[i]);
			pthread_mutex_lock(&ep->mtx);
			cut[i]->cutting = 0;
			pthread_mutex_unlock(&ep->mtx);
			session_release(ep, cut[i]);
		}
	} while (nl == WATCH_BATCH || ns == WATCH_BATCH);
}

void
endpoint_shutdown(struct endpoint *ep)
{
	struct listener *l;
	struct session *s;
	struct subs_set **sets = NULL, **nsets;
	size_t b, n = 0, cap = 0, i;

	if (ep == NULL)
		return;
	/* No stream ends for its token while (or after) the server stops. */
	tick_stop(ep->watch);
	pthread_mutex_lock(&ep->mtx);
	ep->shut = 1;
	pthread_mutex_unlock(&ep->mtx);
	for (;;) {
		pthread_mutex_lock(&ep->mtx);
		if ((l = ep->listeners) != NULL)
			listen_unlink(ep, l);
		pthread_mutex_unlock(&ep->mtx);
		if (l == NULL)
			break;
		listen_end(l, 1);
	}
	/* The sessions' subscriptions: the sets are taken out (a session
	 * without one subscribes no more, and ep->shut refuses new ones). */
	pthread_mutex_lock(&ep->mtx);
	for (b = 0; b < ENDPOINT_SESSION_BUCKETS; b++)
		for (s = ep->buckets[b]; s != NULL; s = s->next) {
			if (subs_set_count(s->subs) == 0)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				if ((nsets = realloc(sets, cap * sizeof(*sets))) == NULL)
					break;
				sets = nsets;
			}
			subs_set_owner(s->subs, NULL, 0);
			sets[n++] = s->subs;
			s->subs = NULL;
		}
	pthread_mutex_unlock(&ep->mtx);
	for (i = 0; i < n; i++)
		subs_release_set(ep, sets[i]);
	free(sets);
}

struct endpoint *
endpoint_new(const struct endpoint_params *p)
{
	struct lists_params lp;
	struct endpoint *ep;
	struct mrtr_params mp;
	pthread_mutexattr_t ma;
	size_t i;

	if ((ep = calloc(1, sizeof(*ep))) == NULL)
		return (NULL);
	pthread_mutex_init(&ep->mtx, NULL);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&ep->sendmtx, &ma);
	pthread_mutexattr_destroy(&ma);
	ep->resource = strdup(p->resource);
	ep->resource_origin = origin_of(p->resource);
	ep->origins = calloc(p->norigins + 1, sizeof(char *));
	ep->subs = subs_new(0);
	if (ep->resource == NULL || ep->resource_origin == NULL || ep->origins == NULL ||
	    ep->subs == NULL)
		goto err;
	for (i = 0; i < p->norigins; i++) {
		if ((ep->origins[i] = strdup(p->origins[i])) == NULL)
			goto err;
		ep->norigins++;
	}
	if (loopback_variants(ep) != 0)
		goto err;
	ep->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : UPSTREAM_TIMEOUT_DEFAULT_MS;
	/* As long as a parked call may wait (plus a second, so that its
	 * expiry, which cancels upstream, comes first). */
	ep->input_ms = (p->mrtr_ttl_ms > 0 ? p->mrtr_ttl_ms : MRTR_TTL_DEFAULT_MS) + 1000;
	ep->sessions_max = p->sessions_max > 0 ? p->sessions_max : 10000;
	ep->session_idle_s = p->session_idle_s > 0 ? p->session_idle_s : 3600;
	ep->heartbeat_s = p->heartbeat_s;
	ep->lim.max_bytes = p->body_max > 0 ? p->body_max : JSONRPC_MAX_BYTES_DEFAULT;
	ep->lim.max_depth = JSONRPC_MAX_DEPTH_DEFAULT;
	ep->rs = p->rs;
	ep->reg = p->reg;
	ep->policy = p->policy;
	lp.page_size = p->page_size;
	lp.list_ttl_ms = p->list_ttl_ms;
	lp.read_ttl_ms = p->read_ttl_ms;
	lp.policy = p->policy;
	if ((ep->lists = lists_new(&lp)) == NULL)
		goto err;
	ep->audit = p->audit;
	ep->audit_arguments = p->audit_arguments;
	memset(&mp, 0, sizeof(mp));
	mp.ttl_ms = p->mrtr_ttl_ms;
	mp.max = p->mrtr_max;
	mp.per_principal = p->mrtr_per_principal;
	mp.per_subject = p->mrtr_per_subject;
	mp.due = call_due;
	mp.expired = call_expired;
	mp.hold = call_hold;
	mp.release = call_release;
	if ((ep->mrtr = mrtr_new(&mp)) == NULL)
		goto err;
	if ((ep->watch = tick_new(p->watch_ms > 0 ? p->watch_ms : ENDPOINT_WATCH_MS, endpoint_watch,
	    ep)) == NULL)
		goto err;
	return (ep);
err:
	endpoint_free(ep);
	return (NULL);
}

void
endpoint_stop(struct endpoint *ep)
{
	if (ep == NULL)
		return;
	tick_stop(ep->watch);
	mrtr_stop(ep->mrtr);
}

void
endpoint_free(struct endpoint *ep)
{
	struct session *s, *next;
	struct http_stream *st;
	size_t b, i;

	if (ep == NULL)
		return;
	/* The upstreams are gone (registry_free() came first). */
	ep->noupstream = 1;
	tick_free(ep->watch);
	/* Parked calls hold references to calls, which use ep->mtx. */
	mrtr_free(ep->mrtr);
	for (b = 0; b < ENDPOINT_SESSION_BUCKETS; b++)
		for (s = ep->buckets[b]; s != NULL; s = next) {
			next = s->next;
			if ((st = s->stream) != NULL)
				http_stream_close(st);
			session_free(s);
		}
	for (i = 0; i < ep->norigins; i++)
		free(ep->origins[i]);
	free(ep->origins);
	free(ep->resource);
	free(ep->resource_origin);
	for (i = 0; i < 3; i++)
		free(ep->loopback_origins[i]);
	lists_free(ep->lists);
	subs_free(ep->subs);
	pthread_mutex_destroy(&ep->sendmtx);
	pthread_mutex_destroy(&ep->mtx);
	free(ep);
}
