/*
 * upstream_http: the Streamable HTTP transport backend, on libcurl's multi
 * interface.  One thread per instance runs every transfer.
 *
 * Each message becomes one POST to the configured URL with Content-Type
 * application/json, Accept "application/json, text/event-stream", the
 * MCP-Protocol-Version once negotiated, the Mcp-Session-Id the upstream
 * assigned (taken from any response that carries one), the configured
 * static headers, and, when "oauth" is configured, the gateway's own
 * bearer token (upstream_token.h).  Nothing else: in particular no header
 * of the client's request exists here to be copied.
 *
 * The answer is either one JSON message (or a batch) in a body of at most
 * UPSTREAM_MSG_MAX bytes, or an SSE stream whose events' data are messages,
 * each delivered as it completes with the POST's request id as ${assoc}
 * (so progress, sampling and elicitation land on the call they belong to);
 * 202 for notifications and responses.  A request whose transfer ends
 * without its response is reported with failed().  404 on a request that
 * carried a session id means the session expired: down() then up(), and
 * the session layer initializes again.  401 with oauth drops the token.
 *
 * Limits: no redirects, no proxy from the environment, http and https
 * only, each transfer bounded by its call's timeout plus 1 s, the connect
 * by 10 s, at most UPSTREAM_PENDING_MAX transfers, SSE lines and events
 * UPSTREAM_MSG_MAX bytes.  On close, a session is ended with DELETE (2 s).
 */
#include "gateway/upstream_transport.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/jtext.h"
#include "core/log.h"
#include "core/secret.h"
#include "gateway/upstream_token.h"
#include "http/fetch.h"

#define SESSION_ID_MAX 256
/* Requests (messages that await an answer) in flight at once; more wait in
 * order.  Other messages (answers to the upstream's own requests,
 * notifications) never wait behind them: a request may hold its connection
 * until the upstream has an answer to one of its own requests (a parked
 * multi round-trip call), and that answer must get through.  The host's
 * connections are bounded with room for both. */
#define REQUESTS_RUNNING_MAX 32
#define HOST_CONNECTIONS_MAX (2 * REQUESTS_RUNNING_MAX)
#define CONNECT_TIMEOUT_MS 10000L
#define DELETE_TIMEOUT_MS 2000L

struct http_t;

struct xfer {
	struct http_t *t;
	CURL *e;
	struct curl_slist *hdrs;
	int64_t id;		/* gateway id of a request, else 0 */
	int64_t timeout_ms;
	char *body;
	int had_session;	/* sent with a session id */
	int sse;
	int got_response;
	int too_big;
	struct buf data;	/* JSON body, or the SSE line being read */
	struct buf ev;		/* SSE: the data of the event being read */
	struct xfer *next;
};

struct http_t {
	const struct upstream_config *cfg;
	struct upstream_transport_cb cb;
	pthread_t thr;
	pthread_mutex_t mtx;
	CURLM *multi;
	struct upstream_token *tok;
	/* under mtx */
	int stopping;
	struct xfer *queue;	/* waiting to be started by the thread */
	size_t n;		/* queued + running */
	char version[16];
	char session[SESSION_ID_MAX + 1];
	/* thread-only */
	struct xfer *running;
	struct xfer *held;	/* requests waiting for a slot, oldest first */
	size_t nrequests;	/* requests (id != 0) in running */
};

static void
xfer_free(struct xfer *x)
{
	struct curl_slist *p;

	if (x->e != NULL)
		curl_easy_cleanup(x->e);
	/* The header list may hold the gateway's bearer token. */
	for (p = x->hdrs; p != NULL; p = p->next)
		secret_wipe(p->data, strlen(p->data));
	curl_slist_free_all(x->hdrs);
	free(x->body);
	buf_clear(&x->data);
	buf_clear(&x->ev);
	free(x);
}

static void
deliver(struct xfer *x, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");

	if (!json_is_object(msg)) {
		json_decref(msg);
		return;
	}
	if (x->id != 0 && json_object_get(msg, "method") == NULL && json_is_integer(id) &&
	    json_integer_value(id) == x->id)
		x->got_response = 1;
	x->t->cb.message(x->t->cb.arg, msg, x->id);
}

static void
deliver_text(struct xfer *x, const char *p, size_t n)
{
	json_t *m, *v;
	size_t i;

	if ((m = jtext_parse(p, n, 0, NULL)) == NULL) {
		log_warn("upstream %s: a message that is not JSON", x->t->cfg->name);
		return;
	}
	if (json_is_array(m)) {
		json_array_foreach(m, i, v)
			deliver(x, json_incref(v));
		json_decref(m);
		return;
	}
	deliver(x, m);
}

/* One SSE line (without its end).  Only "data" matters to us: event
 * types, ids and retry are for resumable streams, which we do not use. */
static void
sse_line(struct xfer *x, const char *p, size_t n)
{
	if (n == 0) {
		if (x->ev.len > 0)
			deliver_text(x, x->ev.p, x->ev.len);
		buf_reset(&x->ev);
		return;
	}
	if (n < 4 || memcmp(p, "data", 4) != 0 || (n > 4 && p[4] != ':'))
		return;
	p += 4;
	n -= 4;
	if (n > 0) {
		p++;
		n--;
		if (n > 0 && *p == ' ') {
			p++;
			n--;
		}
	}
	if ((x->ev.len > 0 && buf_add(&x->ev, "\n", 1)) || buf_add(&x->ev, p, n)) {
		x->too_big = 1;
		buf_reset(&x->ev);
	}
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, i, start = 0;

	if (!x->sse) {
		if (buf_add(&x->data, p, n)) {
			x->too_big = 1;
			return (0);
		}
		return (n);
	}
	for (i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (buf_add(&x->data, p + start, i - start)) {
			x->too_big = 1;
			return (0);
		}
		if (x->data.len > 0 && x->data.p[x->data.len - 1] == '\r')
			x->data.len--;
		sse_line(x, x->data.p ? x->data.p : "", x->data.len);
		buf_reset(&x->data);
		start = i + 1;
	}
	if (buf_add(&x->data, p + start, n - start)) {
		x->too_big = 1;
		return (0);
	}
	return (x->too_big ? 0 : n);
}

static int
has_prefix(const char *p, size_t n, const char *name)
{
	size_t k = strlen(name);

	return (n > k && strncasecmp(p, name, k) == 0 && p[k] == ':');
}

/* The value of a header line, trimmed, into ${out}.  -1 if too long. */
static int
header_value(const char *p, size_t n, size_t skip, char *out, size_t outcap)
{
	p += skip + 1;
	n -= skip + 1;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	if (n >= outcap)
		return (-1);
	memcpy(out, p, n);
	out[n] = '\0';
	return (0);
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, i;
	char v[SESSION_ID_MAX + 1];

	if (has_prefix(p, n, "Content-Type")) {
		if (header_value(p, n, strlen("Content-Type"), v, sizeof(v)) == 0)
			x->sse = strncasecmp(v, "text/event-stream", 17) == 0;
	} else if (has_prefix(p, n, "Mcp-Session-Id")) {
		/* Visible ASCII only (the spec's rule), so it is safe to send
		 * back as a header. */
		if (header_value(p, n, strlen("Mcp-Session-Id"), v, sizeof(v)) == 0 && v[0] != '\0') {
			for (i = 0; v[i] != '\0'; i++)
				if (v[i] < 0x21 || v[i] > 0x7e)
					return (n);
			pthread_mutex_lock(&x->t->mtx);
			memcpy(x->t->session, v, strlen(v) + 1);
			pthread_mutex_unlock(&x->t->mtx);
		}
	}
	return (n);
}

static int
add_header(struct curl_slist **h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
add_header(struct curl_slist **h, const char *fmt, ...)
{
	struct curl_slist *p;
	char line[UPSTREAM_TOKEN_MAX + UPSTREAM_STR_MAX + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p = (n < 0 || (size_t)n >= sizeof(line)) ? NULL : curl_slist_append(*h, line);
	secret_wipe(line, sizeof(line));
	if (p == NULL)
		return (-1);
	*h = p;
	return (0);
}

/* Make the easy handle for ${x}.  Thread only.  -1 if it cannot be sent
 * (no token, no memory). */
static int
prepare(struct http_t *t, struct xfer *x, const char *method)
{
	char tok[UPSTREAM_TOKEN_MAX + 1], version[16], session[SESSION_ID_MAX + 1];
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&t->mtx);
	memcpy(version, t->version, sizeof(version));
	memcpy(session, t->session, sizeof(session));
	pthread_mutex_unlock(&t->mtx);
	if ((x->e = curl_easy_init()) == NULL)
		return (-1);
	if (add_header(&x->hdrs, "Accept: application/json, text/event-stream") ||
	    (x->body != NULL && add_header(&x->hdrs, "Content-Type: application/json")) ||
	    (version[0] != '\0' && add_header(&x->hdrs, "MCP-Protocol-Version: %s", version)) ||
	    (session[0] != '\0' && add_header(&x->hdrs, "Mcp-Session-Id: %s", session)))
		return (-1);
	x->had_session = session[0] != '\0';
	for (i = 0; i < t->cfg->nheaders; i++)
		if (add_header(&x->hdrs, "%s: %s", t->cfg->headers[i].name, t->cfg->headers[i].value))
			return (-1);
	if (t->tok != NULL) {
		if (upstream_token_get(t->tok, tok, sizeof(tok)) != 0)
			return (-1);
		rc = add_header(&x->hdrs, "Authorization: Bearer %s", tok);
		secret_wipe(tok, sizeof(tok));
		if (rc != 0)
			return (-1);
	}
	if (curl_easy_setopt(x->e, CURLOPT_URL, t->cfg->url) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_TIMEOUT_MS, (long)x->timeout_ms + 1000L) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_HEADERDATA, x) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_PRIVATE, x) != CURLE_OK)
		return (-1);
	if (strcmp(method, "DELETE") == 0) {
		if (curl_easy_setopt(x->e, CURLOPT_CUSTOMREQUEST, "DELETE") != CURLE_OK)
			return (-1);
	} else if (curl_easy_setopt(x->e, CURLOPT_POSTFIELDS, x->body) != CURLE_OK ||
	    curl_easy_setopt(x->e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body)) != CURLE_OK)
		return (-1);
	return (0);
}

static void
finished(struct http_t *t, struct xfer *x, CURLcode cc)
{
	long status = 0;
	char why[128];
	int expired = 0;

	(void)curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_OK && status == 200 && !x->sse && x->data.len > 0)
		deliver_text(x, x->data.p, x->data.len);
	else if (cc == CURLE_OK && status == 200 && x->sse && x->data.len > 0) {
		sse_line(x, x->data.p, x->data.len);	/* a last line without end */
		sse_line(x, "", 0);
	}
	if (status == 404 && x->had_session)
		expired = 1;
	if (status == 401 && t->tok != NULL)
		upstream_token_invalidate(t->tok);
	if (cc != CURLE_OK)
		snprintf(why, sizeof(why), "%s", x->too_big ? "answer too big" : curl_easy_strerror(cc));
	else
		snprintf(why, sizeof(why), "HTTP %ld", status);
	if (cc != CURLE_OK || (status != 200 && status != 202))
		log_warn("upstream %s: POST failed: %s", t->cfg->name, why);
	/* An expired session first: the session layer must not be seen ready
	 * (by whoever the failure below wakes) while it is gone. */
	if (expired) {
		pthread_mutex_lock(&t->mtx);
		t->session[0] = '\0';
		t->version[0] = '\0';
		pthread_mutex_unlock(&t->mtx);
		log_info("upstream %s: session expired, initializing again", t->cfg->name);
		t->cb.down(t->cb.arg, "session expired");
		t->cb.up(t->cb.arg);
	}
	if (x->id != 0 && !x->got_response)
		t->cb.failed(t->cb.arg, x->id, why);
}

static void
start_queued(struct http_t *t)
{
	struct xfer *q, *x, *rev = NULL, **tail, *held = NULL, **htail = &held;

	pthread_mutex_lock(&t->mtx);
	q = t->queue;
	t->queue = NULL;
	pthread_mutex_unlock(&t->mtx);
	/* The queue is newest first: start the oldest first, after the
	 * requests held before. */
	while ((x = q) != NULL) {
		q = x->next;
		x->next = rev;
		rev = x;
	}
	for (tail = &t->held; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = rev;
	rev = t->held;
	t->held = NULL;
	while ((x = rev) != NULL) {
		rev = x->next;
		if (x->id != 0 && t->nrequests >= REQUESTS_RUNNING_MAX) {
			x->next = NULL;
			*htail = x;
			htail = &x->next;
			continue;
		}
		if (prepare(t, x, "POST") != 0 || curl_multi_add_handle(t->multi, x->e) != CURLM_OK) {
			log_warn("upstream %s: cannot send a message", t->cfg->name);
			if (x->id != 0)
				t->cb.failed(t->cb.arg, x->id, "cannot send");
			pthread_mutex_lock(&t->mtx);
			t->n--;
			pthread_mutex_unlock(&t->mtx);
			xfer_free(x);
			continue;
		}
		if (x->id != 0)
			t->nrequests++;
		x->next = t->running;
		t->running = x;
	}
	t->held = held;
}

static void
unlink_running(struct http_t *t, struct xfer *x)
{
	struct xfer **p;

	for (p = &t->running; *p != NULL; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			return;
		}
}

/* End the upstream's session with DELETE, briefly (best effort). */
static void
end_session(struct http_t *t)
{
	struct xfer *x;

	if (t->session[0] == '\0' || (x = calloc(1, sizeof(*x))) == NULL)
		return;
	x->t = t;
	x->timeout_ms = DELETE_TIMEOUT_MS - 1000;
	buf_init(&x->data, 4096);
	buf_init(&x->ev, 4096);
	if (prepare(t, x, "DELETE") == 0)
		(void)curl_easy_perform(x->e);
	xfer_free(x);
}

static void *
run(void *arg)
{
	struct http_t *t = arg;
	struct xfer *x;
	CURLMsg *m;
	int still, left, stop, freed;

	t->cb.up(t->cb.arg);
	for (;;) {
		pthread_mutex_lock(&t->mtx);
		stop = t->stopping;
		pthread_mutex_unlock(&t->mtx);
		if (stop)
			break;
		start_queued(t);
		(void)curl_multi_perform(t->multi, &still);
		freed = 0;
		while ((m = curl_multi_info_read(t->multi, &left)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			x = NULL;
			(void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			(void)curl_multi_remove_handle(t->multi, m->easy_handle);
			if (x == NULL)
				continue;
			unlink_running(t, x);
			if (x->id != 0) {
				t->nrequests--;
				freed = 1;
			}
			finished(t, x, m->data.result);
			pthread_mutex_lock(&t->mtx);
			t->n--;
			pthread_mutex_unlock(&t->mtx);
			xfer_free(x);
		}
		/* A slot came free: a held request starts at once. */
		if (freed && t->held != NULL)
			continue;
		(void)curl_multi_poll(t->multi, NULL, 0, 1000, NULL);
	}
	while ((x = t->running) != NULL) {
		t->running = x->next;
		(void)curl_multi_remove_handle(t->multi, x->e);
		xfer_free(x);
	}
	while ((x = t->held) != NULL) {
		t->held = x->next;
		xfer_free(x);
	}
	end_session(t);
	return (NULL);
}

static void *
h_open(const struct upstream_config *cfg, const char *subject, const struct upstream_transport_cb *cb)
{
	struct http_t *t;
	sigset_t all, old;
	int e;

	(void)subject;
	fetch_global_init();
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	t->cfg = cfg;
	t->cb = *cb;
	if (cfg->oauth != NULL && (t->tok = upstream_token_new(cfg->oauth, cfg->name)) == NULL)
		goto err0;
	if ((t->multi = curl_multi_init()) == NULL)
		goto err1;
	(void)curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HOST_CONNECTIONS_MAX);
	pthread_mutex_init(&t->mtx, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&t->thr, NULL, run, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0)
		goto err2;
	return (t);
err2:
	pthread_mutex_destroy(&t->mtx);
	curl_multi_cleanup(t->multi);
err1:
	upstream_token_free(t->tok);
err0:
	free(t);
	log_warn("upstream %s: cannot start the HTTP client", cfg->name);
	return (NULL);
}

static int
h_send(void *arg, json_t *msg, int64_t id, int64_t timeout_ms)
{
	struct http_t *t = arg;
	struct xfer *x;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return (-1);
	x->t = t;
	x->id = id;
	x->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	buf_init(&x->data, UPSTREAM_MSG_MAX);
	buf_init(&x->ev, UPSTREAM_MSG_MAX);
	if ((x->body = jtext_dumps(msg)) == NULL) {
		xfer_free(x);
		return (-1);
	}
	pthread_mutex_lock(&t->mtx);
	if (t->stopping || t->n >= UPSTREAM_PENDING_MAX) {
		pthread_mutex_unlock(&t->mtx);
		xfer_free(x);
		return (-1);
	}
	x->next = t->queue;
	t->queue = x;
	t->n++;
	pthread_mutex_unlock(&t->mtx);
	(void)curl_multi_wakeup(t->multi);
	return (0);
}

static void
h_set_version(void *arg, const char *v)
{
	struct http_t *t = arg;

	pthread_mutex_lock(&t->mtx);
	snprintf(t->version, sizeof(t->version), "%s", v);
	pthread_mutex_unlock(&t->mtx);
}

static pid_t
h_pid(void *arg)
{
	(void)arg;
	return (-1);
}

static void
h_close(void *arg)
{
	struct http_t *t = arg;
	struct xfer *x;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mtx);
	t->stopping = 1;
	pthread_mutex_unlock(&t->mtx);
	(void)curl_multi_wakeup(t->multi);
	pthread_join(t->thr, NULL);
	while ((x = t->queue) != NULL) {
		t->queue = x->next;
		xfer_free(x);
	}
	curl_multi_cleanup(t->multi);
	upstream_token_free(t->tok);
	pthread_mutex_destroy(&t->mtx);
	free(t);
}

const struct upstream_transport upstream_http_transport = {
	.name = "http",
	.open = h_open,
	.send = h_send,
	.set_version = h_set_version,
	.pid = h_pid,
	.close = h_close,
};
