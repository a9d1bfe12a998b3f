/*
 * upstream: MCP client sessions with one configured server.
 *
 * Locking: one mutex per upstream (u->mtx) guards every session of it, their
 * calls and the published lists.  Transports are never called with it held
 * (a send may take a transport lock that its I/O thread holds while it
 * calls back into us), and neither are the caller's callbacks.
 *
 * A call moves QUEUED (the session is starting) -> SENT -> DONE, or straight
 * to DONE; whoever moves it to DONE, under the mutex, owns the one call of
 * its done callback.  Failures found while upstream_request() runs are not
 * reported from inside it: the call gets a preset error and a deadline of
 * now, and the timer thread reports it.  notify and srvreq callbacks run
 * with the call marked busy; a completion that finds it busy is left to the
 * thread that ends the last busy callback, so done never overlaps them.
 *
 * Threads: each transport's I/O thread delivers messages; one timer thread
 * per upstream expires calls, reaps idle per-user sessions and reports
 * deferred failures; sessions are closed (which joins their I/O thread) on
 * short-lived closer threads, never on their own thread.
 */
#include "gateway/upstream.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "gateway/upstream_transport.h"

#define NBUCKETS 256
#define TIMER_MAX_WAIT_MS 1000

enum call_state { C_QUEUED, C_SENT, C_DONE };
enum sess_state { S_STARTING, S_INIT, S_READY, S_DOWN };
enum { L_TOOLS, L_RESOURCES, L_TEMPLATES, L_PROMPTS, L_N };

static const struct {
	const char *method, *key, *cap;
} kinds[L_N] = {
	{"tools/list", "tools", "tools"},
	{"resources/list", "resources", "resources"},
	{"resources/templates/list", "resourceTemplates", "resources"},
	{"prompts/list", "prompts", "prompts"},
};

struct session;

struct upstream_call {
	struct session *s;
	int64_t id;
	enum call_state state;
	int refs;		/* atomic: pending ownership + handle */
	json_t *msg;		/* the request, until sent */
	json_t *orig_token;	/* the caller's progressToken */
	char *subject;
	int64_t deadline;
	int64_t timeout_ms;
	int64_t input_ms;	/* upstream_call_opts.input_ms */
	unsigned waiting;	/* its requests with the client (under u->mtx) */
	int64_t wait_since;	/* since when waiting > 0 */
	int64_t base;		/* the deadline before the allowance */
	json_t *fail_error;	/* preset error for a deferred failure */
	/* caller's callbacks, or an internal completion */
	upstream_done_fn done;
	upstream_notify_fn notify;
	upstream_srvreq_fn srvreq;
	void *arg;
	void (*idone)(struct upstream_call *, json_t *, json_t *);
	int kind;		/* internal list fetch: which list */
	uint64_t gen;		/* internal initialize: the session's gen */
	int busy;		/* notify/srvreq callbacks running */
	int fin_pending;	/* done deferred until busy == 0 */
	json_t *fin_result, *fin_error;
	struct upstream_call *prev, *next;	/* session's call list */
	struct upstream_call *hnext;		/* hash chain (SENT only) */
};

struct upstream_reply {
	struct session *s;
	uint64_t gen;
	json_t *id;
	int64_t call;		/* the call it waits in (its id), if counted */
};

struct session {
	struct upstream *u;
	char *subject;		/* NULL: the shared (or discovery) session */
	void *t;		/* transport instance */
	int refs;		/* under u->mtx */
	enum sess_state state;
	uint64_t gen;		/* counts up() */
	int64_t next_id;
	struct upstream_call *calls;
	size_t ncalls;
	struct upstream_call *hash[NBUCKETS];
	char version[16];
	json_t *caps, *info;
	json_t *lists[L_N];
	json_t *acc[L_N];	/* list being fetched */
	int pages[L_N];
	int refreshing[L_N], dirty[L_N];
	int lists_done;
	int64_t retry_at;	/* S_DOWN after a failed handshake: try again */
	int64_t backoff;
	int64_t last_used;
	struct session *next;
};

struct upstream {
	const struct upstream_config *cfg;
	const struct upstream_transport *tp;
	struct upstream_hooks hooks;
	pthread_mutex_t mtx;
	pthread_cond_t cv;		/* timer thread */
	pthread_cond_t ready_cv;	/* upstream_wait_ready, closers */
	pthread_t timer;
	int started, stopping;
	struct session *sessions;
	size_t nsessions;
	struct session *graveyard;	/* refs == 0, to be closed */
	int closers;			/* closer threads running */
	struct upstream_lists *lists;
	uint64_t lists_gen;
};

static json_t *
mkerror(int code, const char *message, const char *reason)
{
	return (json_pack("{s:i, s:s, s:{s:s}}", "code", code, "message", message, "data", "reason",
	    reason));
}

static json_t *
unavailable(const char *reason)
{
	return (mkerror(UPSTREAM_ERR_UNAVAILABLE, "upstream unavailable", reason));
}

/* ---- calls ---- */

static void
session_unref_locked(struct session *s)
{
	struct upstream *u = s->u;

	if (--s->refs > 0)
		return;
	s->next = u->graveyard;
	u->graveyard = s;
	pthread_cond_signal(&u->cv);
}

static void
call_unref(struct upstream_call *c)
{
	struct upstream *u;

	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	u = c->s->u;
	pthread_mutex_lock(&u->mtx);
	session_unref_locked(c->s);
	pthread_mutex_unlock(&u->mtx);
	json_decref(c->msg);
	json_decref(c->orig_token);
	json_decref(c->fail_error);
	json_decref(c->fin_result);
	json_decref(c->fin_error);
	free(c->subject);
	free(c);
}

static void
hash_add(struct session *s, struct upstream_call *c)
{
	struct upstream_call **b = &s->hash[(uint64_t)c->id % NBUCKETS];

	c->hnext = *b;
	*b = c;
}

static struct upstream_call *
hash_find(struct session *s, int64_t id)
{
	struct upstream_call *c;

	for (c = s->hash[(uint64_t)id % NBUCKETS]; c != NULL; c = c->hnext)
		if (c->id == id)
			return (c);
	return (NULL);
}

static void
hash_del(struct session *s, struct upstream_call *c)
{
	struct upstream_call **p;

	for (p = &s->hash[(uint64_t)c->id % NBUCKETS]; *p != NULL; p = &(*p)->hnext)
		if (*p == c) {
			*p = c->hnext;
			return;
		}
}

static void
list_add(struct session *s, struct upstream_call *c)
{
	c->prev = NULL;
	c->next = s->calls;
	if (s->calls != NULL)
		s->calls->prev = c;
	s->calls = c;
	s->ncalls++;
}

/* Take ${c} out of its session: it becomes DONE.  Returns 1 if it was
 * SENT.  Called with u->mtx held, on a call not yet DONE. */
static int
detach(struct upstream_call *c)
{
	struct session *s = c->s;
	int was_sent = c->state == C_SENT;

	if (was_sent)
		hash_del(s, c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->ncalls--;
	s->last_used = clock_now_ms();
	c->state = C_DONE;
	return (was_sent);
}

static void
run_done(struct upstream_call *c, json_t *result, json_t *error)
{
	if (c->idone != NULL)
		c->idone(c, result, error);
	else
		c->done(c->arg, result, error);
	call_unref(c);
}

/* Report the outcome of a DONE call (detach() ran), unless a notify or
 * srvreq callback of it is running: then the last of them reports it. */
static void
finish_locked_unlock(struct upstream_call *c, json_t *result, json_t *error)
{
	struct upstream *u = c->s->u;

	if (c->busy > 0) {
		c->fin_pending = 1;
		c->fin_result = json_incref(result);
		c->fin_error = json_incref(error);
		pthread_mutex_unlock(&u->mtx);
		return;
	}
	pthread_mutex_unlock(&u->mtx);
	run_done(c, result, error);
}

static void
finish(struct upstream_call *c, json_t *result, json_t *error)
{
	pthread_mutex_lock(&c->s->u->mtx);
	finish_locked_unlock(c, result, error);
}

/* Mark ${c} busy for a notify/srvreq callback.  0 if it is already DONE.
 * Called with u->mtx held. */
static int
busy_enter(struct upstream_call *c)
{
	if (c->state == C_DONE)
		return (0);
	c->busy++;
	return (1);
}

static void
busy_leave(struct upstream_call *c)
{
	struct upstream *u = c->s->u;
	json_t *r, *e;

	pthread_mutex_lock(&u->mtx);
	if (--c->busy > 0 || !c->fin_pending) {
		pthread_mutex_unlock(&u->mtx);
		return;
	}
	c->fin_pending = 0;
	r = c->fin_result;
	e = c->fin_error;
	c->fin_result = c->fin_error = NULL;
	pthread_mutex_unlock(&u->mtx);
	run_done(c, r, e);
	json_decref(r);
	json_decref(e);
}

static void
send_cancelled(struct session *s, int64_t id, const char *reason)
{
	const struct upstream_transport *tp = s->u->tp;
	json_t *m;

	m = json_pack("{s:s, s:s, s:{s:I, s:s}}", "jsonrpc", "2.0", "method", "notifications/cancelled",
	    "params", "requestId", (json_int_t)id, "reason", reason ? reason : "cancelled");
	if (m != NULL)
		(void)tp->send(s->t, m, 0, 5000);
	json_decref(m);
}

/* Fail ${c} later, from the timer thread.  Called with u->mtx held. */
static void
defer_fail(struct upstream_call *c, json_t *error)
{
	if (c->fail_error == NULL)
		c->fail_error = error;
	else
		json_decref(error);
	c->deadline = 0;
	pthread_cond_signal(&c->s->u->cv);
}

/* Send ${msg}, the message of ${c} (SENT, in the hash), taken from c->msg
 * with u->mtx held; ${left} ms remain.  Called without u->mtx. */
static void
transmit_msg(struct upstream_call *c, json_t *msg, int64_t left)
{
	struct session *s = c->s;
	struct upstream *u = s->u;

	if (msg == NULL)
		return;
	if (u->tp->send(s->t, msg, c->id, left > 0 ? left : 1) != 0) {
		pthread_mutex_lock(&u->mtx);
		if (c->state == C_SENT)
			defer_fail(c, unavailable("transport"));
		pthread_mutex_unlock(&u->mtx);
	}
	json_decref(msg);
}

/* Send ${c} (SENT, in the hash).  Called without u->mtx. */
static void
transmit(struct upstream_call *c)
{
	struct upstream *u = c->s->u;
	json_t *msg;
	int64_t left;

	pthread_mutex_lock(&u->mtx);
	msg = c->msg;
	c->msg = NULL;
	left = c->deadline - clock_now_ms();
	pthread_mutex_unlock(&u->mtx);
	transmit_msg(c, msg, left);
}

/* A new call on ${s}: id, message, deadline, registered.  With u->mtx held.
 * The message carries ${params}, shared (never modified, here or by the
 * caller: json_t reference counts are atomic); when it holds a progress
 * token, a copy of its top level and of _meta, with the token replaced by
 * the gateway id. */
static struct upstream_call *
call_new(struct session *s, const char *method, json_t *params, int64_t timeout_ms)
{
	struct upstream_call *c;
	json_t *p = NULL, *meta, *tok;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->s = s;
	c->refs = 1;
	c->id = ++s->next_id;
	c->timeout_ms = timeout_ms;
	c->deadline = clock_now_ms() + timeout_ms;
	if (params != NULL && (meta = json_object_get(params, "_meta")) != NULL &&
	    json_is_object(meta) && (tok = json_object_get(meta, "progressToken")) != NULL) {
		c->orig_token = json_incref(tok);
		if ((p = json_copy(params)) == NULL ||
		    json_object_set_new(p, "_meta", json_copy(meta)) ||
		    json_object_set_new(json_object_get(p, "_meta"), "progressToken",
		    json_integer(c->id)))
			goto err1;
	} else
		p = json_incref(params);
	c->msg = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)c->id, "method",
	    method);
	if (c->msg == NULL || (p != NULL && json_object_set(c->msg, "params", p)))
		goto err1;
	json_decref(p);
	s->refs++;
	list_add(s, c);
	s->last_used = clock_now_ms();
	return (c);
err1:
	json_decref(c->msg);
	json_decref(c->orig_token);
	json_decref(p);
	free(c);
	return (NULL);
}

/* ---- lists ---- */

static void lists_fetch(struct session *s, int kind, const char *cursor);

static void
lists_release(struct upstream_lists *l)
{
	if (l == NULL || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	json_decref(l->tools);
	json_decref(l->resources);
	json_decref(l->templates);
	json_decref(l->prompts);
	json_decref(l->capabilities);
	json_decref(l->server_info);
	free(l);
}

/* Publish ${s}'s lists as the upstream's.  With u->mtx held.  1 if the
 * hooks should be told. */
static int
publish(struct session *s)
{
	struct upstream *u = s->u;
	struct upstream_lists *l;
	int k;

	for (k = 0; k < L_N; k++)
		if (s->refreshing[k])
			return (0);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (0);
	l->refs = 1;
	l->tools = json_incref(s->lists[L_TOOLS]);
	l->resources = json_incref(s->lists[L_RESOURCES]);
	l->templates = json_incref(s->lists[L_TEMPLATES]);
	l->prompts = json_incref(s->lists[L_PROMPTS]);
	l->capabilities = json_incref(s->caps);
	l->server_info = s->info ? json_incref(s->info) : json_null();
	snprintf(l->protocol_version, sizeof(l->protocol_version), "%s", s->version);
	l->generation = ++u->lists_gen;
	lists_release(u->lists);
	u->lists = l;
	s->lists_done = 1;
	pthread_cond_broadcast(&u->ready_cv);
	return (1);
}

static void
lists_done(struct upstream_call *c, json_t *result, json_t *error)
{
	struct session *s = c->s;
	struct upstream *u = s->u;
	int k = c->kind, tell = 0, again = 0;
	json_t *items, *v, *cursor;
	char *next = NULL;
	size_t i;

	pthread_mutex_lock(&u->mtx);
	if (error != NULL || !json_is_object(result) ||
	    !json_is_array(items = json_object_get(result, kinds[k].key))) {
		if (s->state == S_READY)
			log_warn("upstream %s: %s failed", u->cfg->name, kinds[k].method);
		json_decref(s->acc[k]);
		s->acc[k] = NULL;
		s->refreshing[k] = 0;
		goto out;
	}
	json_array_foreach(items, i, v) {
		if (!json_is_object(v) || json_array_size(s->acc[k]) >= UPSTREAM_LIST_ITEMS_MAX)
			continue;
		json_array_append(s->acc[k], v);
	}
	cursor = json_object_get(result, "nextCursor");
	if (json_is_string(cursor) && json_string_length(cursor) <= UPSTREAM_STR_MAX &&
	    ++s->pages[k] < UPSTREAM_LIST_PAGES_MAX && s->state == S_READY) {
		next = strdup(json_string_value(cursor));
		if (next != NULL) {
			pthread_mutex_unlock(&u->mtx);
			lists_fetch(s, k, next);
			free(next);
			return;
		}
	}
	if (json_is_string(cursor) && s->pages[k] >= UPSTREAM_LIST_PAGES_MAX)
		log_warn("upstream %s: %s: more than %d pages, the rest ignored", u->cfg->name,
		    kinds[k].method, UPSTREAM_LIST_PAGES_MAX);
	json_decref(s->lists[k]);
	s->lists[k] = s->acc[k];
	s->acc[k] = NULL;
	s->refreshing[k] = 0;
out:
	if (s->dirty[k] && s->state == S_READY) {
		s->dirty[k] = 0;
		again = 1;
	} else if (s->state == S_READY)
		tell = publish(s);
	pthread_mutex_unlock(&u->mtx);
	if (again)
		lists_fetch(s, k, NULL);
	if (tell && u->hooks.changed != NULL)
		u->hooks.changed(u->hooks.arg, u);
}

/* Fetch list ${kind} (from the start when ${cursor} is NULL).  Called
 * without u->mtx. */
static void
lists_fetch(struct session *s, int kind, const char *cursor)
{
	struct upstream *u = s->u;
	struct upstream_call *c;
	json_t *params = NULL;

	pthread_mutex_lock(&u->mtx);
	if (cursor == NULL) {
		if (s->refreshing[kind] || s->state != S_READY) {
			s->dirty[kind] = s->refreshing[kind];
			pthread_mutex_unlock(&u->mtx);
			return;
		}
		s->refreshing[kind] = 1;
		s->pages[kind] = 0;
		json_decref(s->acc[kind]);
		s->acc[kind] = json_array();
	} else
		params = json_pack("{s:s}", "cursor", cursor);
	c = s->acc[kind] != NULL ? call_new(s, kinds[kind].method, params, u->cfg->timeout_ms) : NULL;
	json_decref(params);
	if (c == NULL) {
		s->refreshing[kind] = 0;
		pthread_mutex_unlock(&u->mtx);
		log_warn("upstream %s: out of memory", u->cfg->name);
		return;
	}
	c->idone = lists_done;
	c->kind = kind;
	c->state = C_SENT;
	hash_add(s, c);
	pthread_mutex_unlock(&u->mtx);
	transmit(c);
}

/* ---- the handshake ---- */

static int
version_ok(const char *v)
{
	return (strcmp(v, UPSTREAM_PROTOCOL_LATEST) == 0 || strcmp(v, UPSTREAM_PROTOCOL_FALLBACK) == 0 ||
	    strcmp(v, "2025-03-26") == 0);
}

static void
init_done(struct upstream_call *c, json_t *result, json_t *error)
{
	struct session *s = c->s;
	struct upstream *u = s->u;
	struct upstream_call *q, **out = NULL;
	const char *v;
	json_t *n, *caps;
	int k, fetch[L_N] = {0}, tell = 0;
	size_t i, nq;

	v = json_string_value(json_object_get(result, "protocolVersion"));
	if (error != NULL || !json_is_object(result) || v == NULL || !version_ok(v)) {
		log_warn("upstream %s: initialize failed%s", u->cfg->name,
		    v != NULL && !version_ok(v) ? " (unsupported protocol version)" : "");
		pthread_mutex_lock(&u->mtx);
		if (s->gen == c->gen && s->state == S_INIT) {
			s->state = S_DOWN;
			s->retry_at = clock_now_ms() + s->backoff;
			s->backoff = s->backoff * 2 > 30000 ? 30000 : s->backoff * 2;
			pthread_cond_signal(&u->cv);
			/* Queued calls fail now rather than at their deadline. */
			for (q = s->calls; q != NULL; q = q->next)
				if (q->state == C_QUEUED && q->idone == NULL)
					defer_fail(q, unavailable("unavailable"));
		}
		pthread_mutex_unlock(&u->mtx);
		return;
	}
	/* Over HTTP, the notification already carries MCP-Protocol-Version. */
	u->tp->set_version(s->t, v);
	n = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
	if (n != NULL)
		(void)u->tp->send(s->t, n, 0, 5000);
	json_decref(n);
	pthread_mutex_lock(&u->mtx);
	if (s->gen != c->gen || s->state != S_INIT) {
		pthread_mutex_unlock(&u->mtx);
		return;
	}
	snprintf(s->version, sizeof(s->version), "%s", v);
	json_decref(s->caps);
	s->caps = json_object_get(result, "capabilities");
	s->caps = json_is_object(s->caps) ? json_incref(s->caps) : json_object();
	json_decref(s->info);
	s->info = json_object_get(result, "serverInfo");
	s->info = s->info ? json_incref(s->info) : NULL;
	s->state = S_READY;
	s->backoff = 500;
	for (k = 0; k < L_N; k++) {
		json_decref(s->lists[k]);
		s->lists[k] = json_array();
		fetch[k] = json_object_get(s->caps, kinds[k].cap) != NULL;
	}
	/* Calls that waited for the handshake go out now, oldest first (the
	 * list is newest first). */
	nq = 0;
	for (q = s->calls; q != NULL; q = q->next)
		if (q->state == C_QUEUED && q->fail_error == NULL)
			nq++;
	if (nq > 0 && (out = calloc(nq, sizeof(*out))) == NULL)
		nq = 0;
	i = nq;
	for (q = s->calls; q != NULL && i > 0; q = q->next)
		if (q->state == C_QUEUED && q->fail_error == NULL) {
			q->state = C_SENT;
			hash_add(s, q);
			__atomic_add_fetch(&q->refs, 1, __ATOMIC_ACQ_REL);
			out[--i] = q;
		}
	if (!fetch[0] && !fetch[1] && !fetch[2] && !fetch[3])
		tell = publish(s);
	caps = json_incref(s->caps);
	pthread_cond_broadcast(&u->ready_cv);
	pthread_mutex_unlock(&u->mtx);
	log_info("upstream %s: ready, protocol %s", u->cfg->name, v);
	/* A new session remembers no subscription: the hook subscribes again
	 * before the waiting calls go out. */
	if (u->hooks.ready != NULL)
		u->hooks.ready(u->hooks.arg, u, s->subject, caps);
	json_decref(caps);
	for (i = 0; i < nq; i++) {
		transmit(out[i]);
		call_unref(out[i]);
	}
	free(out);
	for (k = 0; k < L_N; k++)
		if (fetch[k])
			lists_fetch(s, k, NULL);
	if (tell && u->hooks.changed != NULL)
		u->hooks.changed(u->hooks.arg, u);
}

/* ---- transport callbacks ---- */

static void
on_up(void *arg)
{
	struct session *s = arg;
	struct upstream *u = s->u;
	struct upstream_call *c;
	json_t *params;

	params = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", UPSTREAM_PROTOCOL_LATEST,
	    "capabilities", "clientInfo", "name", "mcpgate", "version", "0.1.0");
	/* The gateway relays sampling, elicitation and roots for its clients
	 * (each call decides whether its client can take them). */
	if (params != NULL)
		(void)json_object_set_new(json_object_get(params, "capabilities"), "roots",
		    json_pack("{s:b}", "listChanged", 1));
	if (params != NULL) {
		(void)json_object_set_new(json_object_get(params, "capabilities"), "sampling", json_object());
		(void)json_object_set_new(json_object_get(params, "capabilities"), "elicitation",
		    json_object());
	}
	pthread_mutex_lock(&u->mtx);
	s->gen++;
	s->state = S_INIT;
	s->retry_at = 0;
	c = params ? call_new(s, "initialize", params, u->cfg->timeout_ms) : NULL;
	if (c == NULL) {
		s->state = S_DOWN;
		pthread_mutex_unlock(&u->mtx);
		json_decref(params);
		log_warn("upstream %s: out of memory", u->cfg->name);
		return;
	}
	c->idone = init_done;
	c->gen = s->gen;
	c->state = C_SENT;
	hash_add(s, c);
	pthread_mutex_unlock(&u->mtx);
	json_decref(params);
	transmit(c);
}

/* Fail every call of ${s}; with ${why} as the reason. */
static void
fail_all(struct session *s, const char *why)
{
	struct upstream *u = s->u;
	struct upstream_call *c, **v = NULL;
	size_t n = 0, i;
	int k;

	pthread_mutex_lock(&u->mtx);
	s->state = S_DOWN;
	s->retry_at = 0;	/* the transport brings it back */
	for (k = 0; k < L_N; k++) {
		s->refreshing[k] = s->dirty[k] = 0;
		json_decref(s->acc[k]);
		s->acc[k] = NULL;
	}
	if (s->ncalls > 0 && (v = calloc(s->ncalls, sizeof(*v))) != NULL)
		while ((c = s->calls) != NULL) {
			detach(c);
			v[n++] = c;
		}
	else
		for (c = s->calls; c != NULL; c = c->next)
			defer_fail(c, unavailable(why));
	pthread_mutex_unlock(&u->mtx);
	for (i = 0; i < n; i++) {
		json_t *e = unavailable(why);

		finish(v[i], NULL, e);
		json_decref(e);
	}
	free(v);
}

static void
on_down(void *arg, const char *why)
{
	struct session *s = arg;

	if (strcmp(why, "stopped") == 0) {
		fail_all(s, "unavailable");
		return;
	}
	log_warn("upstream %s: down (%s); calls in flight fail", s->u->cfg->name, why);
	fail_all(s, "crashed");
}

static void
on_failed(void *arg, int64_t id, const char *why)
{
	struct session *s = arg;
	struct upstream *u = s->u;
	struct upstream_call *c;
	json_t *e;

	pthread_mutex_lock(&u->mtx);
	if ((c = hash_find(s, id)) == NULL || c->state != C_SENT) {
		pthread_mutex_unlock(&u->mtx);
		return;
	}
	detach(c);
	pthread_mutex_unlock(&u->mtx);
	log_info("upstream %s: request failed: %s", u->cfg->name, why);
	e = unavailable("transport");
	finish(c, NULL, e);
	json_decref(e);
}

static void
reply_raw(struct session *s, json_t *id, json_t *result, json_t *error)
{
	json_t *m;

	m = json_pack("{s:s, s:O}", "jsonrpc", "2.0", "id", id);
	if (m == NULL)
		return;
	if (error != NULL)
		(void)json_object_set(m, "error", error);
	else
		(void)json_object_set(m, "result", result ? result : json_object());
	(void)s->u->tp->send(s->t, m, 0, 5000);
	json_decref(m);
}

/* A request from the upstream to its client.  Pick the call it belongs to:
 * the one whose response stream carried it (${assoc}), else the newest
 * call that takes such requests, provided every such call is for the same
 * subject (with several subjects the request cannot be attributed, and
 * routing it to the wrong user would leak it). */
static void
on_server_request(struct session *s, json_t *msg, const char *method, int64_t assoc)
{
	struct upstream *u = s->u;
	struct upstream_call *c, *pick = NULL;
	struct upstream_reply *r = NULL;
	json_t *id = json_object_get(msg, "id"), *e;
	int ambiguous = 0;

	if (strcmp(method, "ping") == 0) {
		reply_raw(s, id, NULL, NULL);
		return;
	}
	pthread_mutex_lock(&u->mtx);
	if (assoc != 0) {
		pick = hash_find(s, assoc);
		if (pick != NULL && pick->srvreq == NULL)
			pick = NULL;
	} else
		for (c = s->calls; c != NULL; c = c->next) {
			if (c->state != C_SENT || c->srvreq == NULL)
				continue;
			if (pick != NULL && (pick->subject == NULL || c->subject == NULL ||
			    strcmp(pick->subject, c->subject) != 0))
				ambiguous = 1;
			if (pick == NULL || c->id > pick->id)
				pick = c;
		}
	if (pick == NULL || ambiguous || (r = calloc(1, sizeof(*r))) == NULL || !busy_enter(pick)) {
		pthread_mutex_unlock(&u->mtx);
		free(r);
		/* roots/list with no client to ask (the upstream asks at
		 * start-up, or on its own): no roots, rather than an error
		 * the server may take for a broken client. */
		if (strcmp(method, "roots/list") == 0) {
			e = json_pack("{s:[]}", "roots");
			reply_raw(s, id, e, NULL);
			json_decref(e);
			return;
		}
		log_info("upstream %s: %s not routed to a client", u->cfg->name, method);
		e = json_pack("{s:i, s:s}", "code", -32603, "message",
		    "the gateway cannot route this request to a client");
		reply_raw(s, id, NULL, e);
		json_decref(e);
		return;
	}
	r->s = s;
	r->gen = s->gen;
	r->id = json_incref(id);
	if (pick->input_ms > 0 && pick->fail_error == NULL) {
		int64_t now = clock_now_ms();

		/* The allowance is granted when the wait begins, not renewed
		 * by more requests while one waits: an upstream sending one
		 * now and then to a client that does not answer would
		 * otherwise keep its call alive for ever. */
		r->call = pick->id;
		if (pick->waiting++ == 0) {
			pick->wait_since = now;
			pick->base = pick->deadline;
			if (now + pick->input_ms > pick->deadline)
				pick->deadline = now + pick->input_ms;
		}
	}
	s->refs++;
	pthread_mutex_unlock(&u->mtx);
	pick->srvreq(pick->arg, method, json_object_get(msg, "params"), r);
	busy_leave(pick);
}

static void
on_progress(struct session *s, json_t *params)
{
	struct upstream *u = s->u;
	struct upstream_call *c;
	json_t *tok = json_object_get(params, "progressToken"), *p;

	if (!json_is_integer(tok))
		return;
	pthread_mutex_lock(&u->mtx);
	c = hash_find(s, json_integer_value(tok));
	if (c == NULL || c->notify == NULL || c->orig_token == NULL || !busy_enter(c)) {
		pthread_mutex_unlock(&u->mtx);
		return;
	}
	pthread_mutex_unlock(&u->mtx);
	if ((p = json_deep_copy(params)) != NULL &&
	    json_object_set(p, "progressToken", c->orig_token) == 0)
		c->notify(c->arg, "notifications/progress", p);
	json_decref(p);
	busy_leave(c);
}

static void
on_notification(struct session *s, json_t *msg, const char *method, int64_t assoc)
{
	struct upstream *u = s->u;
	struct upstream_call *c;
	json_t *params = json_object_get(msg, "params");
	int k;

	if (strcmp(method, "notifications/progress") == 0) {
		on_progress(s, params);
		return;
	}
	for (k = 0; k < L_N; k++) {
		char want[64];

		snprintf(want, sizeof(want), "notifications/%s/list_changed", kinds[k].cap);
		if (strcmp(method, want) == 0) {
			lists_fetch(s, k, NULL);
			if (k == L_RESOURCES)
				lists_fetch(s, L_TEMPLATES, NULL);
			return;
		}
	}
	if (strcmp(method, "notifications/cancelled") == 0)
		return;
	if (assoc != 0) {
		pthread_mutex_lock(&u->mtx);
		c = hash_find(s, assoc);
		if (c != NULL && c->notify != NULL && busy_enter(c)) {
			pthread_mutex_unlock(&u->mtx);
			c->notify(c->arg, method, params);
			busy_leave(c);
			return;
		}
		pthread_mutex_unlock(&u->mtx);
	}
	if (u->hooks.notification != NULL)
		u->hooks.notification(u->hooks.arg, u, s->subject, method, params);
}

static void
on_message(void *arg, json_t *msg, int64_t assoc)
{
	struct session *s = arg;
	struct upstream *u = s->u;
	struct upstream_call *c;
	json_t *id = json_object_get(msg, "id"), *result, *error;
	const char *method = json_string_value(json_object_get(msg, "method"));

	if (method != NULL && id != NULL) {
		on_server_request(s, msg, method, assoc);
		goto out;
	}
	if (method != NULL) {
		on_notification(s, msg, method, assoc);
		goto out;
	}
	result = json_object_get(msg, "result");
	error = json_object_get(msg, "error");
	if (!json_is_integer(id) || (result == NULL) == (error == NULL) ||
	    (error != NULL && !json_is_object(error))) {
		log_info("upstream %s: ignored a malformed message", u->cfg->name);
		goto out;
	}
	pthread_mutex_lock(&u->mtx);
	c = hash_find(s, json_integer_value(id));
	if (c == NULL || c->state != C_SENT) {
		pthread_mutex_unlock(&u->mtx);
		log_debug("upstream %s: response to an unknown or finished request", u->cfg->name);
		goto out;
	}
	detach(c);
	finish_locked_unlock(c, result, error);
out:
	json_decref(msg);
}

/* ---- sessions ---- */

static struct session *
session_new(struct upstream *u, const char *subject)
{
	struct upstream_transport_cb cb = {on_up, on_message, on_failed, on_down, NULL};
	struct session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	s->u = u;
	s->refs = 1;
	s->state = S_STARTING;
	s->backoff = 500;
	s->last_used = clock_now_ms();
	if (subject != NULL && (s->subject = strdup(subject)) == NULL)
		goto err0;
	cb.arg = s;
	if ((s->t = u->tp->open(u->cfg, subject, &cb)) == NULL)
		goto err1;
	s->next = u->sessions;
	u->sessions = s;
	u->nsessions++;
	return (s);
err1:
	free(s->subject);
err0:
	free(s);
	return (NULL);
}

static void
session_free(struct session *s)
{
	int k;

	if (s->t != NULL)
		s->u->tp->close(s->t);
	for (k = 0; k < L_N; k++) {
		json_decref(s->lists[k]);
		json_decref(s->acc[k]);
	}
	json_decref(s->caps);
	json_decref(s->info);
	free(s->subject);
	free(s);
}

/* The session for ${subject}; created for per-user servers.  With u->mtx
 * held.  NULL if it cannot be made (*why says why). */
static struct session *
session_get(struct upstream *u, const char *subject, int create, const char **why)
{
	struct session *s;

	if (u->cfg->isolation == UPSTREAM_SHARED)
		subject = NULL;
	for (s = u->sessions; s != NULL; s = s->next)
		if ((s->subject == NULL && subject == NULL) ||
		    (s->subject != NULL && subject != NULL && strcmp(s->subject, subject) == 0))
			return (s);
	*why = "unavailable";
	if (!create || u->stopping || !u->started)
		return (NULL);
	if (u->nsessions >= UPSTREAM_SESSIONS_MAX) {
		*why = "overloaded";
		return (NULL);
	}
	return (session_new(u, subject));
}

static void *
closer(void *arg)
{
	struct session *s = arg;
	struct upstream *u = s->u;

	session_free(s);
	pthread_mutex_lock(&u->mtx);
	u->closers--;
	pthread_cond_broadcast(&u->ready_cv);
	pthread_mutex_unlock(&u->mtx);
	return (NULL);
}

/* Close the sessions in the graveyard on closer threads.  With u->mtx. */
static void
bury(struct upstream *u)
{
	struct session *s;
	pthread_attr_t a;
	pthread_t t;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	while ((s = u->graveyard) != NULL) {
		u->graveyard = s->next;
		u->closers++;
		if (pthread_create(&t, &a, closer, s) != 0) {
			u->closers--;
			pthread_mutex_unlock(&u->mtx);
			session_free(s);
			pthread_mutex_lock(&u->mtx);
		}
	}
	pthread_attr_destroy(&a);
}

/* ---- the timer thread ---- */

static void *
timer_run(void *arg)
{
	struct upstream *u = arg;
	struct upstream_call *c, *nx, **v = NULL;
	struct session *s, **sp, *retry;
	size_t n, cap = 0, i;
	int64_t now, next;
	int *sent = NULL;

	pthread_mutex_lock(&u->mtx);
	while (!u->stopping) {
		now = clock_now_ms();
		next = now + TIMER_MAX_WAIT_MS;
		n = 0;
		for (s = u->sessions; s != NULL; s = s->next)
			for (c = s->calls; c != NULL; c = nx) {
				nx = c->next;
				if (c->deadline > now) {
					if (c->deadline < next)
						next = c->deadline;
					continue;
				}
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 64;
					void *p1 = realloc(v, nc * sizeof(*v));
					void *p2;

					if (p1 == NULL)
						break;
					v = p1;
					if ((p2 = realloc(sent, nc * sizeof(*sent))) == NULL)
						break;
					sent = p2;
					cap = nc;
				}
				sent[n] = detach(c);
				v[n++] = c;
			}
		/* A failed handshake is tried again after its backoff. */
		retry = NULL;
		for (s = u->sessions; s != NULL && retry == NULL; s = s->next) {
			if (s->state != S_DOWN || s->retry_at == 0)
				continue;
			if (s->retry_at <= now) {
				s->retry_at = 0;
				s->refs++;
				retry = s;
			} else if (s->retry_at < next)
				next = s->retry_at;
		}
		/* Idle per-user sessions (and the discovery one) are stopped. */
		if (u->cfg->isolation == UPSTREAM_PER_USER)
			for (sp = &u->sessions; (s = *sp) != NULL;) {
				if (s->ncalls == 0 && now - s->last_used >= u->cfg->idle_ms) {
					*sp = s->next;
					u->nsessions--;
					log_info("upstream %s: stopping an idle per-user session",
					    u->cfg->name);
					session_unref_locked(s);
					continue;
				}
				if (s->last_used + u->cfg->idle_ms < next)
					next = s->last_used + u->cfg->idle_ms;
				sp = &s->next;
			}
		bury(u);
		if (retry != NULL) {
			pthread_mutex_unlock(&u->mtx);
			log_info("upstream %s: trying the handshake again", u->cfg->name);
			on_up(retry);
			pthread_mutex_lock(&u->mtx);
			session_unref_locked(retry);
		}
		if (n == 0) {
			if (retry != NULL)
				continue;
			struct timespec ts;

			if (next <= now)
				next = now + 1;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (next - now) / 1000;
			ts.tv_nsec += ((next - now) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&u->cv, &u->mtx, &ts);
			continue;
		}
		pthread_mutex_unlock(&u->mtx);
		for (i = 0; i < n; i++) {
			json_t *e;

			c = v[i];
			if (c->fail_error != NULL)
				e = json_incref(c->fail_error);
			else {
				e = unavailable("timeout");
				if (c->idone == NULL)
					log_info("upstream %s: a call timed out after %lld ms",
					    u->cfg->name, (long long)c->timeout_ms);
				if (sent[i])
					send_cancelled(c->s, c->id, "timeout");
			}
			finish(c, NULL, e);
			json_decref(e);
		}
		pthread_mutex_lock(&u->mtx);
	}
	pthread_mutex_unlock(&u->mtx);
	free(v);
	free(sent);
	return (NULL);
}

/* ---- the interface ---- */

/*
 * upstream_new(cfg, hooks): an upstream for ${cfg}; nothing starts yet.
 */
struct upstream *
upstream_new(const struct upstream_config *cfg, const struct upstream_hooks *hooks)
{
	struct upstream *u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return (NULL);
	u->cfg = cfg;
	u->tp = cfg->kind == UPSTREAM_STDIO ? &upstream_stdio_transport : &upstream_http_transport;
	if (hooks != NULL)
		u->hooks = *hooks;
	pthread_mutex_init(&u->mtx, NULL);
	pthread_cond_init(&u->cv, NULL);
	pthread_cond_init(&u->ready_cv, NULL);
	return (u);
}

/*
 * upstream_start(u): start the timer thread and the default session.
 */
int
upstream_start(struct upstream *u)
{
	const char *why;
	sigset_t all, old;
	int e;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&u->timer, NULL, timer_run, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		log_warn("upstream %s: cannot start its thread", u->cfg->name);
		return (-1);
	}
	pthread_mutex_lock(&u->mtx);
	u->started = 1;
	if (session_get(u, NULL, 1, &why) == NULL)
		log_warn("upstream %s: cannot start a session", u->cfg->name);
	pthread_mutex_unlock(&u->mtx);
	return (0);
}

/*
 * upstream_free(u): stop every session, fail pending calls, free.
 */
void
upstream_free(struct upstream *u)
{
	struct session *s;

	if (u == NULL)
		return;
	pthread_mutex_lock(&u->mtx);
	u->stopping = 1;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mtx);
	if (u->started)
		pthread_join(u->timer, NULL);
	/* Close every transport (their down() fails the calls in flight),
	 * then fail what is left (queued calls and deferred failures). */
	pthread_mutex_lock(&u->mtx);
	while ((s = u->sessions) != NULL) {
		u->sessions = s->next;
		u->nsessions--;
		pthread_mutex_unlock(&u->mtx);
		u->tp->close(s->t);
		s->t = NULL;
		fail_all(s, "unavailable");
		pthread_mutex_lock(&u->mtx);
		session_unref_locked(s);
	}
	while (u->closers > 0 || u->graveyard != NULL) {
		bury(u);
		if (u->closers > 0)
			pthread_cond_wait(&u->ready_cv, &u->mtx);
	}
	pthread_mutex_unlock(&u->mtx);
	lists_release(u->lists);
	pthread_cond_destroy(&u->ready_cv);
	pthread_cond_destroy(&u->cv);
	pthread_mutex_destroy(&u->mtx);
	free(u);
}

const char *
upstream_name(const struct upstream *u)
{
	return (u->cfg->name);
}

const struct upstream_config *
upstream_cfg(const struct upstream *u)
{
	return (u->cfg);
}

/*
 * upstream_wait_ready(u, timeout_ms): wait for the default session to be
 * ready with its lists.
 */
int
upstream_wait_ready(struct upstream *u, int64_t timeout_ms)
{
	int64_t end = clock_now_ms() + timeout_ms, left;
	struct session *s;
	struct timespec ts;
	int ok = 0;

	pthread_mutex_lock(&u->mtx);
	for (;;) {
		for (s = u->sessions; s != NULL; s = s->next)
			if (s->subject == NULL && s->state == S_READY && s->lists_done)
				ok = 1;
		if (ok || (left = end - clock_now_ms()) <= 0)
			break;
		if (left > 100)
			left = 100;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += left * 1000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&u->ready_cv, &u->mtx, &ts);
	}
	pthread_mutex_unlock(&u->mtx);
	return (ok ? 0 : -1);
}

/*
 * upstream_request_opts(u, method, params, opts, handle): send a request;
 * ${opts}->done runs exactly once, later.
 */
int
upstream_request_opts(struct upstream *u, const char *method, json_t *params,
    const struct upstream_call_opts *opts, struct upstream_call **handle)
{
	struct upstream_call *c;
	struct session *s, *carrier;
	const char *why = "unavailable";
	json_t *msg = NULL;
	int64_t timeout;
	int go = 0;

	if (handle != NULL)
		*handle = NULL;
	if (method == NULL || opts == NULL || opts->done == NULL || strlen(method) > 256 ||
	    (params != NULL && !json_is_object(params)))
		return (-1);
	timeout = opts->timeout_ms > 0 ? opts->timeout_ms : u->cfg->timeout_ms;
	if (timeout > UPSTREAM_TIMEOUT_MAX_MS)
		timeout = UPSTREAM_TIMEOUT_MAX_MS;
	pthread_mutex_lock(&u->mtx);
	/* Only to a running session: looked up under u->mtx, which the idle
	 * reaper holds to stop one, and the call counted below keeps it. */
	if (opts->running_only && (u->stopping ||
	    (s = session_get(u, opts->subject, 0, &why)) == NULL || s->state != S_READY)) {
		pthread_mutex_unlock(&u->mtx);
		errno = ESRCH;
		return (-1);
	}
	/* Without a session for it, the call hangs on another only to be
	 * failed by the timer thread; with no session at all (not started,
	 * stopping) there is nothing to report from. */
	if ((carrier = s = session_get(u, opts->subject, 1, &why)) == NULL &&
	    (carrier = u->sessions) == NULL) {
		pthread_mutex_unlock(&u->mtx);
		return (-1);
	}
	if ((c = call_new(carrier, method, params, timeout)) == NULL) {
		pthread_mutex_unlock(&u->mtx);
		return (-1);
	}
	c->done = opts->done;
	c->notify = opts->notify;
	c->srvreq = opts->srvreq;
	c->arg = opts->arg;
	c->input_ms = opts->srvreq != NULL && opts->input_ms > 0 ? opts->input_ms : 0;
	if (opts->subject != NULL && (c->subject = strdup(opts->subject)) == NULL)
		defer_fail(c, unavailable("overloaded"));
	else if (s == NULL)
		defer_fail(c, unavailable(why));
	else if (s->ncalls > upstream_calls_max(u))
		defer_fail(c, unavailable("overloaded"));
	else if (s->state == S_READY) {
		c->state = C_SENT;
		hash_add(s, c);
		go = 1;
	} else if (s->state == S_DOWN)
		defer_fail(c, unavailable("unavailable"));
	else
		c->state = C_QUEUED;
	if (handle != NULL) {
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
		*handle = c;
	}
	if (go) {	/* a reference held across transmit_msg() */
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
		msg = c->msg;
		c->msg = NULL;
	}
	pthread_mutex_unlock(&u->mtx);
	if (go) {
		transmit_msg(c, msg, timeout);
		call_unref(c);
	}
	return (0);
}

/*
 * upstream_request(u, method, params, timeout_ms, done, arg, handle): a
 * shared call with only a done callback.
 */
int
upstream_request(struct upstream *u, const char *method, json_t *params, int64_t timeout_ms,
    upstream_done_fn done, void *arg, struct upstream_call **handle)
{
	struct upstream_call_opts o = {timeout_ms, NULL, done, NULL, NULL, arg, 0, 0};

	return (upstream_request_opts(u, method, params, &o, handle));
}

/*
 * upstream_call_cancel(c, reason): cancel ${c} if pending and release it.
 */
void
upstream_call_cancel(struct upstream_call *c, const char *reason)
{
	struct upstream *u;
	json_t *e;
	int was_sent;

	if (c == NULL)
		return;
	u = c->s->u;
	pthread_mutex_lock(&u->mtx);
	if (c->state == C_DONE) {
		pthread_mutex_unlock(&u->mtx);
		call_unref(c);
		return;
	}
	was_sent = detach(c);
	pthread_mutex_unlock(&u->mtx);
	if (was_sent)
		send_cancelled(c->s, c->id, reason);
	e = mkerror(UPSTREAM_ERR_CANCELLED, "request cancelled", "cancelled");
	finish(c, NULL, e);
	json_decref(e);
	call_unref(c);
}

/*
 * upstream_call_release(c): drop the handle ${c}.
 */
void
upstream_call_release(struct upstream_call *c)
{
	if (c != NULL)
		call_unref(c);
}

/*
 * upstream_notify(u, subject, method, params): send a notification to the
 * session of ${subject}.
 */
int
upstream_notify(struct upstream *u, const char *subject, const char *method, json_t *params)
{
	struct session *s;
	const char *why;
	json_t *m;
	int rc = -1;

	if ((m = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method)) == NULL)
		return (-1);
	if (params != NULL && json_object_set(m, "params", params)) {
		json_decref(m);
		return (-1);
	}
	pthread_mutex_lock(&u->mtx);
	if ((s = session_get(u, subject, 0, &why)) != NULL && s->state == S_READY) {
		s->refs++;
		pthread_mutex_unlock(&u->mtx);
		rc = u->tp->send(s->t, m, 0, 5000);
		pthread_mutex_lock(&u->mtx);
		session_unref_locked(s);
	}
	pthread_mutex_unlock(&u->mtx);
	json_decref(m);
	return (rc);
}

/*
 * upstream_reply_send(r, result, error): answer the upstream's request and
 * free ${r}.
 */
void
upstream_reply_send(struct upstream_reply *r, json_t *result, json_t *error)
{
	struct session *s = r->s;
	struct upstream *u = s->u;
	struct upstream_call *c;
	json_t *e = NULL;
	int live;

	pthread_mutex_lock(&u->mtx);
	live = s->gen == r->gen && s->state == S_READY;
	/* The last of the call's requests answered: the upstream's work
	 * resumes, its deadline moved by the time the client took. */
	if (live && r->call != 0 && (c = hash_find(s, r->call)) != NULL && c->waiting > 0 &&
	    --c->waiting == 0 && c->fail_error == NULL) {
		c->deadline = c->base + (clock_now_ms() - c->wait_since);
		pthread_cond_signal(&u->cv); /* possibly sooner than it sleeps */
	}
	pthread_mutex_unlock(&u->mtx);
	if (live) {
		if (result == NULL && error == NULL)
			e = json_pack("{s:i, s:s}", "code", -32603, "message",
			    "the client could not take this request");
		reply_raw(s, r->id, error ? NULL : result, error ? error : e);
	}
	json_decref(e);
	json_decref(r->id);
	pthread_mutex_lock(&u->mtx);
	session_unref_locked(s);
	pthread_mutex_unlock(&u->mtx);
	free(r);
}

struct upstream_lists *
upstream_lists_get(struct upstream *u)
{
	struct upstream_lists *l;

	pthread_mutex_lock(&u->mtx);
	if ((l = u->lists) != NULL)
		__atomic_add_fetch(&l->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&u->mtx);
	return (l);
}

void
upstream_lists_release(struct upstream_lists *l)
{
	lists_release(l);
}

pid_t
upstream_pid(struct upstream *u, const char *subject)
{
	struct session *s;
	const char *why;
	void *t = NULL;

	pthread_mutex_lock(&u->mtx);
	if ((s = session_get(u, subject, 0, &why)) != NULL)
		t = s->t;
	pthread_mutex_unlock(&u->mtx);
	/* The transport outlives this call: only upstream_free() or the
	 * reaper close it, and tests do not race them. */
	return (t != NULL ? u->tp->pid(t) : -1);
}

/*
 * upstream_calls_max(u): the calls in flight one session takes.
 */
size_t
upstream_calls_max(const struct upstream *u)
{
	size_t n = u->cfg->max_calls;

	return (n > 0 && n < UPSTREAM_PENDING_MAX ? n : UPSTREAM_PENDING_MAX);
}

/*
 * upstream_running(u, subject): is the session of ${subject} initialized?
 */
int
upstream_running(struct upstream *u, const char *subject)
{
	struct session *s;
	const char *why;
	int r;

	pthread_mutex_lock(&u->mtx);
	r = !u->stopping && (s = session_get(u, subject, 0, &why)) != NULL && s->state == S_READY;
	pthread_mutex_unlock(&u->mtx);
	return (r);
}

size_t
upstream_sessions(struct upstream *u)
{
	size_t n;

	pthread_mutex_lock(&u->mtx);
	n = u->nsessions;
	pthread_mutex_unlock(&u->mtx);
	return (n);
}
