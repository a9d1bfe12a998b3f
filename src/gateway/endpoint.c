/*
 * gateway/endpoint: the MCP endpoint.  See endpoint.h and
 * docs/internals/gateway.md.
 */
#include "gateway/endpoint.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "gateway/registry.h"
#include "gateway/rs.h"
#include "gateway/upstream.h"
#include "http/server.h"
#include "mcp/jsonrpc.h"
#include "policy/policy.h"

#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define SERVER_NAME "mcpgate"
#define SERVER_VERSION "0.1.0"
#define DEFER_SLACK_MS 2000
#define OWNER_MAX 600
#define SRVREQ_ID_MAX 48
#define CACHE_TTL_MS 30000

/* A legacy session. */
struct session {
	struct endpoint *ep;
	char id[SECRET_TOKEN_LEN + 1];
	char *sub;
	char *client_id;
	char version[16];
	int64_t last_used;
	struct http_stream *stream; /* the GET stream, or NULL */
	int refs;		    /* under ep->mtx */
	int dead;		    /* removed from the table */
	struct session *next;	    /* bucket chain */
};

/* A pending server-to-client request carried over a call's SSE stream. */
struct srvreq {
	char id[SRVREQ_ID_MAX];
	struct upstream_reply *r;
};

/* A forwarded call. */
struct call {
	pthread_mutex_t mtx;
	int refs;
	struct endpoint *ep;
	struct http_defer *d;
	struct http_stream *s;
	struct upstream_call *uc;
	int answered;
	int legacy;
	int modern;
	json_t *id;
	char owner[OWNER_MAX];
	struct srvreq srv[ENDPOINT_SRVREQ_MAX];
	unsigned nsrv;
	/* audit */
	char *sub, *client_id, *session, *method, *tool, *resource, *upstream, *reason;
	json_t *arguments;
	int64_t t0;
	struct call *prev, *next; /* ep->calls, under ep->mtx */
};

struct endpoint {
	char *resource;
	char *resource_origin;
	char *loopback_origins[3]; /* the resource's origin under each loopback name */
	char **origins;
	size_t norigins;
	int64_t timeout_ms;
	size_t sessions_max;
	int64_t session_idle_s;
	unsigned heartbeat_s;
	struct jsonrpc_limits lim;
	struct rs *rs;
	struct registry *reg;
	const struct policy_config *policy;
	struct audit_log *audit;
	int audit_arguments;

	pthread_mutex_t mtx; /* sessions, calls, srvseq */
	struct session *buckets[ENDPOINT_SESSION_BUCKETS];
	size_t nsessions;
	struct call *calls;
	uint64_t srvseq;
};

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
};

static char *
xstrdup0(const char *s)
{
	return (s != NULL ? strdup(s) : NULL);
}

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

static void
audit_call(struct call *c, int code)
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
 * cacheScope (changelog, SEP-2549): "private", since what a token sees
 * depends on the token, and a short freshness. */
static json_t *
result_for(int modern, const char *method, json_t *result)
{
	static const char *const cacheable[] = {"tools/list", "prompts/list", "resources/list",
	    "resources/templates/list", "resources/read", "server/discover", NULL};
	size_t i;

	if (!modern || !json_is_object(result))
		return (result);
	if (json_object_get(result, "resultType") == NULL)
		json_object_set_new(result, "resultType", json_string("complete"));
	for (i = 0; method != NULL && cacheable[i] != NULL; i++)
		if (strcmp(method, cacheable[i]) == 0) {
			if (json_object_get(result, "ttlMs") == NULL)
				json_object_set_new(result, "ttlMs", json_integer(CACHE_TTL_MS));
			if (json_object_get(result, "cacheScope") == NULL)
				json_object_set_new(result, "cacheScope", json_string("private"));
			break;
		}
	return (result);
}

static void
reply_result(struct rq *q, json_t *result)
{
	q->decision = q->decision == AUDIT_NONE ? AUDIT_ALLOW : q->decision;
	reply(q, 200, jsonrpc_result(q->m.id, result_for(q->modern, q->m.method, result)));
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
	st = s->stream;
	s->stream = NULL;
	return (st);
}

static void
session_free(struct session *s)
{
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
	if (secret_token(s->id) != 0 || (s->sub = strdup(p->sub)) == NULL ||
	    (s->client_id = strdup(p->client_id)) == NULL) {
		session_free(s);
		return (NULL);
	}
	snprintf(s->version, sizeof(s->version), "%s", version);
	s->ep = ep;
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
	for (s = ep->buckets[bucket_of(id)]; s != NULL; s = s->next)
		if (secret_streq(s->id, id))
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
	pthread_mutex_unlock(&s->ep->mtx);
	if (st != NULL)
		http_stream_close(st);
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
	free(c->sub);
	free(c->client_id);
	free(c->session);
	free(c->method);
	free(c->tool);
	free(c->resource);
	free(c->upstream);
	free(c->reason);
	free(c);
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
	uc = c->uc;
	c->uc = NULL;
	pthread_mutex_unlock(&c->mtx);
	if (uc != NULL)
		upstream_call_cancel(uc, "client disconnected");
	call_give_back(c, d, s, NULL);
}

static void
call_done(void *arg, json_t *result, json_t *error)
{
	struct call *c = arg;
	struct http_defer *d;
	struct http_stream *s;
	struct upstream_call *uc;
	struct upstream_reply *pend[ENDPOINT_SRVREQ_MAX];
	struct http_resp resp;
	json_t *msg, *res = NULL;
	char *text;
	unsigned i, npend;
	int code = 0;

	if (error != NULL) {
		code = (int)json_integer_value(json_object_get(error, "code"));
		if (code == 0)
			code = JSONRPC_INTERNAL_ERROR;
		msg = json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "id", c->id, "error", error);
	} else {
		/* Borrowed: result_for() adds members at the top level only,
		 * so a modern answer needs a copy of that level alone. */
		res = c->modern ? json_copy(result) : json_incref(result);
		msg = jsonrpc_result(c->id, result_for(c->modern, c->method, res));
	}
	pthread_mutex_lock(&c->mtx);
	c->answered = 1;
	call_take_http(c, &d, &s);
	uc = c->uc;
	c->uc = NULL;
	npend = c->nsrv;
	for (i = 0; i < npend; i++)
		pend[i] = c->srv[i].r;
	c->nsrv = 0;
	pthread_mutex_unlock(&c->mtx);
	for (i = 0; i < npend; i++)
		upstream_reply_send(pend[i], NULL, NULL);
	upstream_call_release(uc);
	audit_call(c, code);
	if (s != NULL) {
		if ((text = jsonrpc_dumps(msg)) != NULL) {
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
	call_unref(c); /* the done reference */
}

static void
call_notify(void *arg, const char *method, json_t *params)
{
	struct call *c = arg;
	json_t *n;
	char *text;

	n = json_pack("{s:s, s:s, s:O?}", "jsonrpc", "2.0", "method", method, "params", params);
	if ((text = jsonrpc_dumps(n)) == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	if (c->s != NULL)
		http_stream_send(c->s, "message", NULL, text, strlen(text));
	pthread_mutex_unlock(&c->mtx);
	free(text);
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
	req = json_pack("{s:s, s:s, s:s, s:O?}", "jsonrpc", "2.0", "id", id, "method", method, "params",
	    params);
	text = jsonrpc_dumps(req);
	pthread_mutex_lock(&c->mtx);
	if (text != NULL && c->legacy && c->s != NULL && !c->answered && c->nsrv < ENDPOINT_SRVREQ_MAX &&
	    http_stream_send(c->s, "message", NULL, text, strlen(text)) == 0) {
		snprintf(c->srv[c->nsrv].id, sizeof(c->srv[c->nsrv].id), "%s", id);
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

	if (rid == NULL)
		return;
	pthread_mutex_lock(&ep->mtx);
	for (c = ep->calls; c != NULL; c = c->next) {
		if (strcmp(c->owner, owner) != 0 || !jsonrpc_id_equal(c->id, rid))
			continue;
		pthread_mutex_lock(&c->mtx);
		uc = c->uc;
		c->uc = NULL;
		pthread_mutex_unlock(&c->mtx);
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

	if (ucfg->timeout_ms > 0 && ucfg->timeout_ms < tmo)
		tmo = ucfg->timeout_ms;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	pthread_mutex_init(&c->mtx, NULL);
	c->ep = ep;
	c->refs = 3; /* ours until the end of this function, the HTTP handle's, done's */
	c->legacy = q->legacy;
	c->modern = q->modern;
	c->id = jsonrpc_id_copy(q->m.id);
	c->sub = xstrdup0(q->p->sub);
	c->client_id = xstrdup0(q->p->client_id);
	c->session = q->sess ? xstrdup0(q->sess->id) : NULL;
	c->method = xstrdup0(method);
	c->tool = xstrdup0(q->tool);
	c->resource = xstrdup0(q->resource);
	c->upstream = xstrdup0(upstream_name(u));
	c->reason = xstrdup0(q->reason);
	c->t0 = q->t0;
	if (ep->audit_arguments && strcmp(method, "tools/call") == 0)
		c->arguments = json_incref(json_object_get(params, "arguments"));
	owner_of(q, c->owner, sizeof(c->owner));

	sse = q->want_sse &&
	    (has_progress_token(params) || (q->legacy && strcmp(method, "tools/call") == 0));
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

	memset(&o, 0, sizeof(o));
	o.timeout_ms = tmo;
	o.subject = ucfg->isolation == UPSTREAM_PER_USER ? q->p->sub : NULL;
	o.done = call_done;
	o.notify = call_notify;
	o.srvreq = call_srvreq;
	o.arg = c;
	if (upstream_request_opts(u, method, params, &o, &uc) != 0) {
		json_t *e = json_pack("{s:i, s:s}", "code", JSONRPC_INTERNAL_ERROR, "message",
		    "the call could not be sent");
		call_done(c, NULL, e);
		json_decref(e);
	} else {
		pthread_mutex_lock(&c->mtx);
		if (!c->answered && c->d == NULL && c->s == NULL) {
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
	struct policy_decision *d;
	struct scope_set *held;
	char scopes[SCOPE_MAX_LEN + 1];
	int ok;

	d = malloc(sizeof(*d));
	held = malloc(sizeof(*held));
	if (d == NULL || held == NULL) {
		free(d);
		free(held);
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return (0);
	}
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
		snprintf(q->reasonbuf, sizeof(q->reasonbuf), "%s", d->reason);
		q->reason = q->reasonbuf;
	} else {
		q->decision = AUDIT_DENY;
		q->reason = d->reason;
		q->code = JSONRPC_INVALID_REQUEST;
		if (scope_string(&d->required, scopes, sizeof(scopes)) != 0)
			scopes[0] = '\0';
		rs_respond(q->ep->rs, RS_ERR_SCOPE, scopes, q->resp);
		if (q->sess != NULL)
			http_resp_header(q->resp, "Mcp-Session-Id", q->sess->id);
		audit_rq(q, 403);
	}
	free(d);
	free(held);
	return (ok);
}

static int
tool_read_only(const json_t *def)
{
	return (json_is_true(json_object_get(json_object_get(def, "annotations"), "readOnlyHint")));
}

/* ------------------------------------------------------------------ */
/* Methods */

static json_t *
capabilities(void)
{
	return (json_pack("{s:{s:b}, s:{s:b}, s:{s:b}, s:{}, s:{}}", "tools", "listChanged", 1, "resources",
	    "listChanged", 1, "prompts", "listChanged", 1, "completions", "logging"));
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
	    capabilities(), "serverInfo", "name", SERVER_NAME, "version", SERVER_VERSION));
}

static void
m_discover(struct rq *q)
{
	reply_result(q, json_pack("{s:[s, s, s], s:o, s:{s:{s:s, s:s}}}", "supportedVersions",
	    ENDPOINT_VERSION_MODERN, ENDPOINT_VERSION_LEGACY, ENDPOINT_VERSION_LEGACY_OLD, "capabilities",
	    capabilities(), "_meta", "io.modelcontextprotocol/serverInfo", "name", SERVER_NAME, "version",
	    SERVER_VERSION));
}

static void
m_tools_list(struct rq *q)
{
	struct registry_snapshot *snap = registry_snapshot(q->ep->reg);
	const struct registry_entry *e;
	struct policy_request pr;
	struct scope_set *held;
	json_t *all, *out, *t;
	size_t i;

	if ((held = malloc(sizeof(*held))) == NULL || (out = json_array()) == NULL) {
		free(held);
		registry_snapshot_release(snap);
		reply_error(q, 500, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	if (scope_parse(q->p->scope, held) != 0)
		held->n = 0;
	all = registry_tools(snap);
	json_array_foreach(all, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));

		if (name == NULL || (e = registry_tool(snap, name)) == NULL)
			continue;
		memset(&pr, 0, sizeof(pr));
		pr.subject = q->p->sub;
		pr.client_id = q->p->client_id;
		pr.held = held;
		pr.server = upstream_name(e->u);
		pr.server_scope = upstream_cfg(e->u)->scope;
		pr.kind = POLICY_TOOL;
		pr.name = e->orig;
		pr.read_only = tool_read_only(e->def);
		if (policy_tool_listed(q->ep->policy, &pr))
			json_array_append_new(out, json_deep_copy(t));
	}
	free(held);
	registry_snapshot_release(snap);
	reply_result(q, json_pack("{s:o}", "tools", out));
}

static void
m_list(struct rq *q, json_t *(*get)(const struct registry_snapshot *), const char *key)
{
	struct registry_snapshot *snap = registry_snapshot(q->ep->reg);
	json_t *a = json_deep_copy(get(snap));

	registry_snapshot_release(snap);
	reply_result(q, json_pack("{s:o}", key, a ? a : json_array()));
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

/* resources/read, resources/subscribe, resources/unsubscribe: to the
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
		reply_error(q, 200, JSONRPC_INVALID_PARAMS, "unknown resource", NULL);
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

static void
dispatch(struct rq *q)
{
	const char *m = q->m.method;

	if (strcmp(m, "ping") == 0)
		reply_result(q, json_object());
	else if (strcmp(m, "server/discover") == 0)
		m_discover(q);
	else if (strcmp(m, "tools/list") == 0)
		m_tools_list(q);
	else if (strcmp(m, "resources/list") == 0)
		m_list(q, registry_resources, "resources");
	else if (strcmp(m, "resources/templates/list") == 0)
		m_list(q, registry_templates, "resourceTemplates");
	else if (strcmp(m, "prompts/list") == 0)
		m_list(q, registry_prompts, "prompts");
	else if (strcmp(m, "logging/setLevel") == 0)
		reply_result(q, json_object());
	else if (strcmp(m, "tools/call") == 0)
		m_tools_call(q);
	else if (strcmp(m, "prompts/get") == 0)
		m_prompts_get(q);
	else if (strcmp(m, "resources/read") == 0 || strcmp(m, "resources/subscribe") == 0 ||
	    strcmp(m, "resources/unsubscribe") == 0)
		m_resource(q);
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
	struct http_stream *old = NULL, *st;

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
	http_resp_header(q->resp, "Mcp-Session-Id", q->sess->id);
	/* Under ep->mtx, so that its on_close (which takes it) finds the
	 * handle in the session. */
	pthread_mutex_lock(&ep->mtx);
	if (q->sess->stream != NULL || q->sess->dead) {
		pthread_mutex_unlock(&ep->mtx);
		plain_error(q, 409, "the session already has a stream");
		return;
	}
	st = http_resp_stream(q->resp, ep->heartbeat_s, 0, session_stream_gone, q->sess);
	q->sess->stream = st;
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

	n = snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"}", method);
	if (n < 0 || (size_t)n >= sizeof(text))
		return;
	pthread_mutex_lock(&ep->mtx);
	for (b = 0; b < ENDPOINT_SESSION_BUCKETS; b++)
		for (s = ep->buckets[b]; s != NULL; s = s->next)
			if (s->stream != NULL)
				http_stream_send(s->stream, "message", NULL, text, (size_t)n);
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

void
endpoint_upstream_notification(struct endpoint *ep, struct upstream *u, const char *subject,
    const char *method, json_t *params)
{
	struct session *sess;
	json_t *p, *n;
	const char *uri;
	char *text, *out;
	size_t b, len;

	if (strcmp(method, "notifications/resources/updated") != 0 ||
	    (uri = json_string_value(json_object_get(params, "uri"))) == NULL)
		return;
	if ((out = registry_uri_out(u, uri)) == NULL)
		return;
	p = json_copy(params);
	if (p != NULL)
		json_object_set_new(p, "uri", json_string(out));
	free(out);
	n = json_pack("{s:s, s:s, s:o?}", "jsonrpc", "2.0", "method", method, "params", p);
	if ((text = jsonrpc_dumps(n)) == NULL)
		return;
	len = strlen(text);
	pthread_mutex_lock(&ep->mtx);
	for (b = 0; b < ENDPOINT_SESSION_BUCKETS; b++)
		for (sess = ep->buckets[b]; sess != NULL; sess = sess->next)
			if (sess->stream != NULL && (subject == NULL || strcmp(subject, sess->sub) == 0))
				http_stream_send(sess->stream, "message", NULL, text, len);
	pthread_mutex_unlock(&ep->mtx);
	free(text);
}

struct endpoint *
endpoint_new(const struct endpoint_params *p)
{
	struct endpoint *ep;
	size_t i;

	if ((ep = calloc(1, sizeof(*ep))) == NULL)
		return (NULL);
	pthread_mutex_init(&ep->mtx, NULL);
	ep->resource = strdup(p->resource);
	ep->resource_origin = origin_of(p->resource);
	ep->origins = calloc(p->norigins + 1, sizeof(char *));
	if (ep->resource == NULL || ep->resource_origin == NULL || ep->origins == NULL)
		goto err;
	for (i = 0; i < p->norigins; i++) {
		if ((ep->origins[i] = strdup(p->origins[i])) == NULL)
			goto err;
		ep->norigins++;
	}
	if (loopback_variants(ep) != 0)
		goto err;
	ep->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : UPSTREAM_TIMEOUT_DEFAULT_MS;
	ep->sessions_max = p->sessions_max > 0 ? p->sessions_max : 10000;
	ep->session_idle_s = p->session_idle_s > 0 ? p->session_idle_s : 3600;
	ep->heartbeat_s = p->heartbeat_s;
	ep->lim.max_bytes = p->body_max > 0 ? p->body_max : JSONRPC_MAX_BYTES_DEFAULT;
	ep->lim.max_depth = JSONRPC_MAX_DEPTH_DEFAULT;
	ep->rs = p->rs;
	ep->reg = p->reg;
	ep->policy = p->policy;
	ep->audit = p->audit;
	ep->audit_arguments = p->audit_arguments;
	return (ep);
err:
	endpoint_free(ep);
	return (NULL);
}

void
endpoint_free(struct endpoint *ep)
{
	struct session *s, *next;
	struct http_stream *st;
	size_t b, i;

	if (ep == NULL)
		return;
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
	pthread_mutex_destroy(&ep->mtx);
	free(ep);
}
