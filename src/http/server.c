#include "http/server.h"

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/hex.h"
#include "core/clock.h"
#include "core/jtext.h"
#include "core/log.h"
#include "core/secret.h"
#include "http/connlimit.h"

/* Largest PEM file (certificate chain or key) we read. */
#define PEM_MAX (256 * 1024)

/* GnuTLS priorities: its defaults, but TLS 1.2 and 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Room in the per-connection memory pool beyond twice the request header
 * (the header block, and MHD's copy of a Cookie field of up to the same
 * size, which it parses in the pool): MHD keeps its header table and the
 * response header it writes there too. */
#define POOL_SLACK (8 * 1024)
#define JSON_DUMP_SMALL 4096	/* JSON answers up to this size: no allocation */

struct async;
struct pend;

struct http_server {
	struct MHD_Daemon *d;
	struct async *a;	/* deferred responses and streams */
	struct connlimit *cl;	/* connections per address, or NULL */
	pthread_t timer;	/* runs timer_main() */
	const struct http_route *routes;
	size_t nroutes;
	size_t body_max;
	size_t header_max;
	int tls;
	uint16_t port;
};

/*
 * Per-request state, created by the URI log callback (the only place MHD
 * shows the request target before decoding it) and freed by the
 * request-completed callback.
 */
struct reqstate {
	char *raw_uri;	 /* request target exactly as sent */
	struct buf body; /* upload so far, at most body_max bytes */
	int started;	 /* the first access-handler call has been seen */
	struct pend *pend; /* deferred response or stream, or NULL */
};

static void pend_detach(struct pend *);

/* --- MHD glue --------------------------------------------------------- */

static void mhd_logger(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("http: libmicrohttpd: %s", msg);
}

static void *
uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;
	struct reqstate *rs;

	(void)conn;
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return (NULL);
	if ((rs->raw_uri = strdup(uri)) == NULL) {
		free(rs);
		return (NULL);
	}
	buf_init(&rs->body, srv->body_max);
	return (rs);
}

static void
completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct reqstate *rs = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (rs == NULL)
		return;
	if (rs->pend != NULL)
		pend_detach(rs->pend);
	free(rs->raw_uri);
	buf_clear(&rs->body);
	free(rs);
	*con_cls = NULL;
}

/*
 * The per-address connection limit (http/connlimit.h): the accept policy
 * refuses a connection from an address that holds the limit already (closed
 * right after accept(), unanswered); the connection notifications count the
 * connections MHD set up, from start to close, which MHD always pairs.
 */
static enum MHD_Result
accept_cb(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http_server *srv = cls;

	if (srv->cl == NULL || connlimit_allows(srv->cl, addr, addrlen))
		return (MHD_YES);
	return (MHD_NO);
}

static void
conn_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	if (srv->cl == NULL)
		return;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		sa = ci != NULL ? ci->client_addr : NULL;
		*socket_context = sa == NULL ? NULL : connlimit_add(srv->cl, sa,
		    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		connlimit_del(srv->cl, *socket_context);
		*socket_context = NULL;
	}
}

/* --- responses -------------------------------------------------------- */

static void
resp_free(struct http_resp *resp)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		if (resp->headers[i].borrowed)
			continue;
		free(resp->headers[i].name);
		if (resp->headers[i].value != NULL) {
			secret_wipe(resp->headers[i].value, strlen(resp->headers[i].value));
			free(resp->headers[i].value);
		}
	}
	resp->nheaders = 0;
	buf_clear(&resp->body);
}

static int
header_text_ok(const char *s, int is_name)
{
	const unsigned char *p;

	if (is_name && *s == '\0')
		return (0);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '\r' || *p == '\n')
			return (0);
		if (is_name && (*p <= ' ' || *p == ':' || *p >= 0x7f))
			return (0);
	}
	return (1);
}

/*
 * http_resp_header(resp, name, value): add a response header (copied).
 * Returns 0, or -1 if the table is full or ${name} / ${value} contain CR or
 * LF (or ${name} is not a token).
 */
/* Append a header without looking for an earlier one. */
static int
add_header(struct http_resp *resp, const char *name, const char *value)
{
	struct http_resp_header *h;

	if (resp->nheaders >= HTTP_RESP_HEADERS_MAX || !header_text_ok(name, 1) ||
	    !header_text_ok(value, 0))
		return (-1);
	h = &resp->headers[resp->nheaders];
	h->borrowed = 0;
	if ((h->name = strdup(name)) == NULL)
		return (-1);
	if ((h->value = strdup(value)) == NULL) {
		free(h->name);
		h->name = NULL;
		return (-1);
	}
	resp->nheaders++;
	return (0);
}

/* Drop every header ${name}. */
static void
drop_header(struct http_resp *resp, const char *name)
{
	size_t i, j;

	for (i = j = 0; i < resp->nheaders; i++) {
		if (strcasecmp(resp->headers[i].name, name) == 0) {
			if (!resp->headers[i].borrowed) {
				free(resp->headers[i].name);
				secret_wipe(resp->headers[i].value, strlen(resp->headers[i].value));
				free(resp->headers[i].value);
			}
			continue;
		}
		resp->headers[j++] = resp->headers[i];
	}
	resp->nheaders = j;
}

/* Replace every header ${name} by one with ${value}. */
static int
set_header(struct http_resp *resp, const char *name, const char *value)
{
	if (!header_text_ok(name, 1) || !header_text_ok(value, 0))
		return (-1);
	drop_header(resp, name);
	return (add_header(resp, name, value));
}

/* set_header() for a ${name} and ${value} that are string constants of
 * this file: kept by reference, not copied. */
static int
set_header_const(struct http_resp *resp, const char *name, const char *value)
{
	struct http_resp_header *h;

	drop_header(resp, name);
	if (resp->nheaders >= HTTP_RESP_HEADERS_MAX)
		return (-1);
	h = &resp->headers[resp->nheaders++];
	h->name = (char *)(uintptr_t)name;
	h->value = (char *)(uintptr_t)value;
	h->borrowed = 1;
	return (0);
}

int
http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
	/* Set-Cookie is the one header that is sent once per value. */
	if (strcasecmp(name, "Set-Cookie") == 0)
		return (add_header(resp, name, value));
	return (set_header(resp, name, value));
}

/* The last-resort answer when building a response failed. */
static void
resp_fail(struct http_resp *resp)
{
	resp_free(resp);
	buf_init(&resp->body, HTTP_RESP_BODY_MAX);
	resp->status = 500;
	(void)buf_adds(&resp->body, "{\"error\":\"server_error\"}");
	(void)http_resp_header(resp, "Content-Type", "application/json");
	(void)http_resp_header(resp, "Cache-Control", "no-store");
}

/*
 * http_resp_json(resp, status, j): set ${status} and a compact JSON body from
 * ${j} (owned, freed here) with Content-Type: application/json,
 * Cache-Control: no-store and Pragma: no-cache.
 */
void
http_resp_json(struct http_resp *resp, int status, json_t *j)
{
	char small[JSON_DUMP_SMALL], *s = small;
	size_t n = 0;

	buf_reset(&resp->body);
	/* Most answers fit on the stack: one allocation (the body's) instead
	 * of jansson's growing buffer and a copy. */
	if (j != NULL && (n = jtext_dumpb(j, small, sizeof(small))) > sizeof(small)) {
		s = jtext_dumps(j);
		n = s != NULL ? strlen(s) : 0;
	}
	if (j == NULL || s == NULL || n == 0) {
		log_err("http: cannot serialise JSON response");
		json_decref(j);
		resp_fail(resp);
		return;
	}
	json_decref(j);
	if (buf_add(&resp->body, s, n) ||
	    set_header_const(resp, "Content-Type", "application/json") ||
	    set_header_const(resp, "Cache-Control", "no-store") ||
	    set_header_const(resp, "Pragma", "no-cache")) {
		log_err("http: cannot build JSON response");
		resp_fail(resp);
	} else
		resp->status = status;
	secret_wipe(s, n);
	if (s != small)
		free(s);
}

/*
 * http_resp_text(resp, status, ctype, text): set ${status}, the body ${text}
 * and, when ${ctype} is not NULL, the Content-Type.
 */
void
http_resp_text(struct http_resp *resp, int status, const char *ctype, const char *text)
{
	buf_reset(&resp->body);
	if (buf_adds(&resp->body, text) ||
	    (ctype != NULL && set_header(resp, "Content-Type", ctype))) {
		log_err("http: cannot build text response");
		resp_fail(resp);
		return;
	}
	resp->status = status;
}

/*
 * http_resp_redirect(resp, status, location): an empty ${status} response
 * with Location: ${location} and Cache-Control: no-store (redirects carry
 * codes and state).
 */
void
http_resp_redirect(struct http_resp *resp, int status, const char *location)
{
	buf_reset(&resp->body);
	if (set_header(resp, "Location", location) ||
	    set_header(resp, "Cache-Control", "no-store")) {
		log_err("http: cannot build redirect");
		resp_fail(resp);
		return;
	}
	resp->status = status;
}

/* A fixed JSON error with no handler involved. */
static void
resp_error(struct http_resp *resp, int status, const char *error, const char *desc)
{
	json_t *j;

	if (desc != NULL)
		j = json_pack("{s:s, s:s}", "error", error, "error_description", desc);
	else
		j = json_pack("{s:s}", "error", error);
	http_resp_json(resp, status, j);
}

/*
 * http_resp_init(resp): make ${resp} empty.
 */
void
http_resp_init(struct http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, HTTP_RESP_BODY_MAX);
}

/*
 * http_resp_clear(resp): free (wiped) what ${resp} holds; it is left empty.
 */
void
http_resp_clear(struct http_resp *resp)
{
	resp_free(resp);
	http_resp_init(resp);
}

struct body_hold {
	char *p;
	size_t len;
};

static void
body_free(void *cls)
{
	struct body_hold *h = cls;

	secret_wipe(h->p, h->len);
	free(h->p);
	free(h);
}

/* Turn ${resp} into an MHD response and queue it; ${close} asks for the
 * connection to be closed afterwards.  Consumes ${resp}. */
static enum MHD_Result
send_resp(struct MHD_Connection *conn, struct http_resp *resp, int close)
{
	struct MHD_Response *r;
	struct body_hold *h;
	enum MHD_Result rc;
	size_t i;

	if (resp->status < 200 || resp->status > 599) {
		if (resp->status != 0)
			log_err("http: handler set status %d", resp->status);
		resp_fail(resp);
	}
	if (resp->body.len == 0) {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else {
		if ((h = malloc(sizeof(*h))) == NULL) {
			resp_free(resp);
			return (MHD_NO);
		}
		h->len = resp->body.len;
		h->p = buf_steal(&resp->body);
		if ((r = MHD_create_response_from_buffer_with_free_callback_cls(h->len, h->p,
		    body_free, h)) == NULL)
			body_free(h);
	}
	if (r == NULL) {
		log_warn("http: cannot create response");
		resp_free(resp);
		return (MHD_NO);
	}
	for (i = 0; i < resp->nheaders; i++) {
		if (MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value) !=
		    MHD_YES)
			log_warn("http: response header %s refused", resp->headers[i].name);
	}
	(void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (close)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(conn, (unsigned int)resp->status, r);
	MHD_destroy_response(r);
	resp_free(resp);
	return (rc);
}

static enum MHD_Result
send_error(struct MHD_Connection *conn, int status, const char *error, const char *desc, int close)
{
	struct http_resp resp;

	http_resp_init(&resp);
	resp_error(&resp, status, error, desc);
	return (send_resp(conn, &resp, close));
}

/* --- deferred responses and streams ------------------------------------ */

/*
 * The model (docs/internals/http.md has the long version).
 *
 * A deferred response or a stream is a struct pend shared by three parties:
 * the owner (the module whose handler created it), the connection (MHD's
 * callbacks on a pool thread) and the timer thread (timeouts, heartbeats,
 * and hang-ups of suspended connections, which MHD does not watch).  All of
 * their state is under one mutex per server, async.mu; the synchronous path
 * never takes it.
 *
 * References (pend.refs), the object is freed when the last one goes:
 *   owner       from creation until http_defer_finish() / http_stream_close();
 *   connection  from creation until the request-completed callback, which
 *               MHD calls for every request (pend_detach);
 *   watch       while the socket is in the timer thread's epoll set, and
 *               until that thread is done with the batch of events it may
 *               have read for it (unwatched list, drained between batches);
 *   notify      while a notification is scheduled or running.
 * struct async is referenced by the server and by every object, so a handle
 * the owner has not given back outlives the server.
 *
 * Suspension: only the connection's pool thread suspends (in the access
 * handler or the content reader, as MHD requires), with async.mu held and
 * only while the server is not stopping.  Whoever changes the state of a
 * suspended object (finish, timeout, hang-up, send, close, shutdown) resumes
 * it with async.mu held and clears the flag, so each suspension is resumed
 * exactly once and MHD_stop_daemon() never meets a suspended connection.
 * A suspended socket is not put in the hang-up watch at once: it waits on
 * the lazy list (in suspension order) and the timer thread watches it
 * WATCH_DELAY_MS later if it is still suspended.  Most deferred answers
 * (a fast upstream) come long before, and then cost no epoll_ctl and no
 * watch reference at all; a hang-up is noticed at most WATCH_DELAY_MS
 * later than it would be otherwise (epoll reports a socket that was shut
 * before it was added).
 * Lock order: MHD's response mutex (held around the content reader), then
 * async.mu, then MHD's internal connection mutex (taken by suspend and
 * resume).  MHD calls none of our callbacks with its internal mutex held.
 *
 * Notifications are made at most once (pend.notified), never after the
 * owner gave the handle back (pend.released, checked just before the call),
 * never from inside an http_* call of the owner, and always with async.mu
 * released; while one executes, pend.cb_running makes a finish or close on
 * another thread wait (one that is only scheduled is skipped instead).
 */

#define HIDX_NONE SIZE_MAX
#define STREAM_BLOCK 1024	/* callback response's own buffer (HTTP/1.0) */
#define PING ": ping\n\n"
#define PING_LEN (sizeof(PING) - 1)
#define NOFILE_SLACK 256	/* descriptors beyond the connections */
#define DRAIN_MS 1000		/* shutdown: wait for ended requests to go out */
#define WATCH_DELAY_MS 50	/* suspended this long before the hang-up watch */
#define UNWATCHED_WAKE 256	/* unwatched objects that wake the timer thread */

enum pend_kind { PEND_DEFER, PEND_STREAM };

enum pend_state {
	PEND_OPEN,	/* waiting for the owner */
	PEND_DONE,	/* defer: answer stored; stream: closed by the owner, draining */
	PEND_TIMEDOUT,	/* defer: 504 */
	PEND_CLOSED	/* client gone, queue overflow, or shutdown */
};

struct pend {
	enum pend_kind kind;
	enum pend_state state;
	struct async *a;
	unsigned refs;
	struct MHD_Connection *conn;	/* NULL once detached */
	int fd;				/* the socket, while watched */
	unsigned suspended : 1;
	unsigned watched : 1;		/* in a->epfd */
	unsigned wref : 1;		/* holds the watch reference */
	unsigned on_unwatched : 1;	/* on a->unwatched */
	unsigned released : 1;		/* the owner gave it back */
	unsigned notified : 1;		/* a notification was made */
	unsigned cb_running : 1;	/* a notification is executing */
	unsigned attached : 1;		/* on a->all */
	unsigned shutdown : 1;		/* closed by http_server_free() */
	unsigned overflow : 1;		/* stream: closed by its queue cap */
	unsigned ping : 1;		/* stream: a heartbeat is due */
	unsigned lazy : 1;		/* on a->lazy: suspended, not yet watched */
	pthread_t cb_thread;		/* where it executes */
	http_notify_fn cb, on_timeout, on_close;
	void *arg;
	int64_t deadline;		/* timer, in clock_now_ms() time */
	size_t hidx;			/* index in a->heap, or HIDX_NONE */
	struct pend *prev, *next;	/* a->all */
	struct pend *unext;		/* a->unwatched, or a list to free */
	struct pend *cbnext;		/* a list of notifications to make */
	int64_t watch_at;		/* on a->lazy: when to watch it */
	struct pend *lprev, *lnext;	/* a->lazy */
};

struct http_defer {
	struct pend p;
	struct http_resp resp;		/* the answer, in state PEND_DONE */
};

struct chunk {
	struct chunk *next;
	size_t len, off;
	char data[];
};

struct http_stream {
	struct pend p;
	struct chunk *head, *tail;
	size_t queued;			/* bytes not yet given to MHD */
	size_t queue_max;
	int64_t hb_ms;
	int64_t last_send;
};

struct async {
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* a notification returned, or a detach */
	size_t refs;			/* server + objects (atomic) */
	size_t resuming;		/* resumes made outside mu (atomic) */
	int stopping;			/* http_server_free() has begun */
	int quit;			/* the timer thread must exit */
	int epfd;			/* hang-up watch, and wakefd */
	int wakefd;			/* eventfd: a timer became earlier */
	int64_t sleep_until;		/* the timer thread's wake-up; INT64_MIN: awake */
	struct pend **heap;		/* min-heap on deadline */
	size_t nheap, heapcap;
	struct pend *all;		/* every attached object */
	size_t nattached;
	struct pend *unwatched;		/* watch references to drop */
	size_t nunwatched;
	struct pend *lazy, *lazy_tail;	/* suspended, to be watched (FIFO) */
	unsigned hb_default_s;
};

/* What a handler's response knows of its request (http_resp.priv). */
struct dctx {
	struct http_server *srv;
	struct MHD_Connection *conn;
	struct pend *p;
};

static void
async_wake(struct async *a)
{
	uint64_t one = 1;
	ssize_t n;

	n = write(a->wakefd, &one, sizeof(one));
	(void)n;	/* EAGAIN: a wake-up is pending anyway */
}

static void
async_unref(struct async *a)
{
	if (__atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->heap);
	free(a);
}

/* The timer heap: a binary min-heap of objects on their deadline. */
static void
heap_put(struct async *a, size_t i, struct pend *p)
{
	a->heap[i] = p;
	p->hidx = i;
}

static void
heap_up(struct async *a, size_t i)
{
	struct pend *p = a->heap[i];
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (a->heap[parent]->deadline <= p->deadline)
			break;
		heap_put(a, i, a->heap[parent]);
		i = parent;
	}
	heap_put(a, i, p);
}

static void
heap_down(struct async *a, size_t i)
{
	struct pend *p = a->heap[i];
	size_t c;

	for (;;) {
		if ((c = 2 * i + 1) >= a->nheap)
			break;
		if (c + 1 < a->nheap && a->heap[c + 1]->deadline < a->heap[c]->deadline)
			c++;
		if (a->heap[c]->deadline >= p->deadline)
			break;
		heap_put(a, i, a->heap[c]);
		i = c;
	}
	heap_put(a, i, p);
}

static void
heap_remove(struct async *a, struct pend *p)
{
	struct pend *last;
	size_t i = p->hidx;

	if (i == HIDX_NONE)
		return;
	p->hidx = HIDX_NONE;
	last = a->heap[--a->nheap];
	if (last == p)
		return;
	heap_put(a, i, last);
	heap_up(a, i);
	heap_down(a, last->hidx);
}

/* Room for ${n} objects in the heap, so that arming never fails later. */
static int
heap_reserve(struct async *a, size_t n)
{
	struct pend **h;
	size_t cap;

	if (n <= a->heapcap)
		return (0);
	cap = a->heapcap ? a->heapcap : 64;
	while (cap < n)
		cap *= 2;
	if ((h = realloc(a->heap, cap * sizeof(*h))) == NULL)
		return (-1);
	a->heap = h;
	a->heapcap = cap;
	return (0);
}

/* (Re)arm the timer of attached object ${p} for ${deadline}. */
static void
heap_arm(struct async *a, struct pend *p, int64_t deadline)
{
	heap_remove(a, p);
	p->deadline = deadline;
	heap_put(a, a->nheap++, p);
	heap_up(a, p->hidx);
	if (deadline < a->sleep_until) {
		a->sleep_until = deadline;
		async_wake(a);
	}
}

static struct pend *
unref_locked(struct pend *p)
{
	return (--p->refs == 0 ? p : NULL);
}

static void
chunk_free(struct chunk *c)
{
	secret_wipe(c->data, c->len);
	free(c);
}

static void
stream_drop_queue(struct http_stream *s)
{
	struct chunk *c;

	while ((c = s->head) != NULL) {
		s->head = c->next;
		chunk_free(c);
	}
	s->tail = NULL;
	s->queued = 0;
}

/* Free ${p}, whose last reference is gone (async.mu not held). */
static void
pend_free(struct pend *p)
{
	struct async *a = p->a;

	if (p->kind == PEND_DEFER)
		resp_free(&((struct http_defer *)p)->resp);
	else
		stream_drop_queue((struct http_stream *)p);
	free(p);
	async_unref(a);
}

static void
pend_free_list(struct pend *p)
{
	struct pend *next;

	for (; p != NULL; p = next) {
		next = p->unext;
		pend_free(p);
	}
}

/* Schedule notification ${fn} on ${list} unless one was made or the owner
 * gave ${p} back; the caller runs the list with notify_run(). */
static void
notify_locked(struct pend *p, http_notify_fn fn, struct pend **list)
{
	if (p->released || p->notified)
		return;
	p->notified = 1;
	if (fn == NULL)
		return;
	p->cb = fn;
	p->refs++;
	p->cbnext = *list;
	*list = p;
}

/* Make the notifications on ${list} (async.mu not held). */
static void
notify_run(struct async *a, struct pend *list)
{
	struct pend *p, *dead;
	http_notify_fn fn;

	while ((p = list) != NULL) {
		list = p->cbnext;
		pthread_mutex_lock(&a->mu);
		fn = p->released ? NULL : p->cb;
		if (fn != NULL) {
			p->cb_running = 1;
			p->cb_thread = pthread_self();
		}
		pthread_mutex_unlock(&a->mu);
		if (fn != NULL)
			fn(p->arg);
		pthread_mutex_lock(&a->mu);
		if (fn != NULL) {
			p->cb_running = 0;
			pthread_cond_broadcast(&a->cv);
		}
		dead = unref_locked(p);
		pthread_mutex_unlock(&a->mu);
		if (dead != NULL)
			pend_free(dead);
	}
}

/* Watch the socket of suspended ${p} for a hang-up. */
static void
watch_locked(struct pend *p)
{
	const union MHD_ConnectionInfo *ci;
	struct epoll_event ev;

	if (p->a->epfd < 0 ||
	    (ci = MHD_get_connection_info(p->conn, MHD_CONNECTION_INFO_CONNECTION_FD)) == NULL)
		return;
	p->fd = ci->connect_fd;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLRDHUP;
	ev.data.ptr = p;
	if (epoll_ctl(p->a->epfd, EPOLL_CTL_ADD, p->fd, &ev) != 0) {
		log_warnp("http: epoll_ctl(ADD)");
		return;
	}
	p->watched = 1;
	if (!p->wref) {
		p->wref = 1;
		p->refs++;
	}
}

static void
unwatch_locked(struct pend *p)
{
	struct async *a = p->a;

	if (!p->watched)
		return;
	if (epoll_ctl(a->epfd, EPOLL_CTL_DEL, p->fd, NULL) != 0)
		log_warnp("http: epoll_ctl(DEL)");
	p->watched = 0;
	if (!p->on_unwatched) {
		p->on_unwatched = 1;
		p->unext = a->unwatched;
		a->unwatched = p;
		/* Each holds its object until the timer thread drains the
		 * list, which it does when it wakes: do not let them pile up
		 * while it sleeps until a distant deadline. */
		if (++a->nunwatched == UNWATCHED_WAKE)
			async_wake(a);
	}
}

/* Drop the watch references of unwatched objects; the timer thread calls
 * this between batches of events.  Returns the objects to free. */
static struct pend *
drain_unwatched_locked(struct async *a)
{
	struct pend *p, *dead = NULL;

	a->nunwatched = 0;
	while ((p = a->unwatched) != NULL) {
		a->unwatched = p->unext;
		p->on_unwatched = 0;
		if (!p->watched && p->wref) {
			p->wref = 0;
			if (unref_locked(p) != NULL) {
				p->unext = dead;
				dead = p;
			}
		}
	}
	return (dead);
}

static void
lazy_remove_locked(struct pend *p)
{
	struct async *a = p->a;

	if (!p->lazy)
		return;
	if (p->lprev != NULL)
		p->lprev->lnext = p->lnext;
	else
		a->lazy = p->lnext;
	if (p->lnext != NULL)
		p->lnext->lprev = p->lprev;
	else
		a->lazy_tail = p->lprev;
	p->lprev = p->lnext = NULL;
	p->lazy = 0;
}

/* Watch the sockets suspended for WATCH_DELAY_MS by ${now} (timer thread).
 * Returns when the next one is due, or INT64_MAX. */
static int64_t
lazy_watch_locked(struct async *a, int64_t now)
{
	struct pend *p;

	while ((p = a->lazy) != NULL && p->watch_at <= now) {
		lazy_remove_locked(p);
		if (p->suspended)
			watch_locked(p);
	}
	return (p != NULL ? p->watch_at : INT64_MAX);
}

/* Suspend ${p}'s connection: only on its pool thread, from the access
 * handler or the content reader.  The hang-up watch comes later (above). */
static void
suspend_locked(struct pend *p)
{
	struct async *a = p->a;

	MHD_suspend_connection(p->conn);
	p->suspended = 1;
	if (a->epfd < 0)
		return;
	/* Appended in time order, so the list stays sorted. */
	p->watch_at = clock_now_ms() + WATCH_DELAY_MS;
	p->lazy = 1;
	p->lnext = NULL;
	p->lprev = a->lazy_tail;
	if (a->lazy_tail != NULL)
		a->lazy_tail->lnext = p;
	else
		a->lazy = p;
	a->lazy_tail = p;
	if (p->watch_at < a->sleep_until) {
		a->sleep_until = p->watch_at;
		async_wake(a);
	}
}

/* Resume ${p}'s connection if it is suspended. */
static void
resume_locked(struct pend *p)
{
	if (!p->suspended)
		return;
	lazy_remove_locked(p);
	unwatch_locked(p);
	p->suspended = 0;
	MHD_resume_connection(p->conn);
}

/* The timer of ${p} expired (it is out of the heap). */
static void
expire_locked(struct async *a, struct pend *p, int64_t now, struct pend **cbs)
{
	struct http_stream *s = (struct http_stream *)p;

	if (p->kind == PEND_DEFER) {
		if (p->state != PEND_OPEN)
			return;
		p->state = PEND_TIMEDOUT;
		resume_locked(p);
		notify_locked(p, p->on_timeout, cbs);
		return;
	}
	if (p->state == PEND_CLOSED) {
		/* Overflow: the sender was told, now the owner. */
		notify_locked(p, p->on_close, cbs);
		return;
	}
	if (p->state != PEND_OPEN)
		return;
	if (now - s->last_send >= s->hb_ms) {
		/* Data in the queue keeps the connection busy already. */
		if (s->queued == 0) {
			p->ping = 1;
			resume_locked(p);
		}
		s->last_send = now;
	}
	heap_arm(a, p, s->last_send + s->hb_ms);
}

/* The client of suspended ${p} hung up. */
static void
hangup_locked(struct async *a, struct pend *p, struct pend **cbs)
{
	if (!p->watched || !p->suspended)
		return;	/* stale event */
	p->state = PEND_CLOSED;
	if (p->kind == PEND_STREAM)
		stream_drop_queue((struct http_stream *)p);
	heap_remove(a, p);
	resume_locked(p);
	notify_locked(p, p->on_close, cbs);
}

static void *
timer_main(void *cookie)
{
	struct async *a = cookie;
	struct epoll_event evs[64];
	struct pend *p, *cbs = NULL, *dead = NULL;
	int64_t now, until, lazy_at;
	uint64_t junk;
	ssize_t rd;
	int i, n, timeout;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		now = clock_now_ms();
		while (a->nheap > 0 && a->heap[0]->deadline <= now) {
			p = a->heap[0];
			heap_remove(a, p);
			expire_locked(a, p, now, &cbs);
		}
		lazy_at = lazy_watch_locked(a, now);
		/* No event of an earlier batch is in hand: safe to drop. */
		dead = drain_unwatched_locked(a);
		if (a->quit)
			break;
		until = a->nheap > 0 ? a->heap[0]->deadline : INT64_MAX;
		if (lazy_at < until)
			until = lazy_at;
		a->sleep_until = until;
		pthread_mutex_unlock(&a->mu);
		notify_run(a, cbs);
		pend_free_list(dead);
		cbs = dead = NULL;
		if (until == INT64_MAX)
			timeout = -1;
		else if ((now = until - clock_now_ms()) <= 0)
			timeout = 0;
		else
			timeout = now > INT_MAX ? INT_MAX : (int)now;
		if ((n = epoll_wait(a->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout)) < 0) {
			if (errno != EINTR)
				log_warnp("http: epoll_wait");
			n = 0;
		}
		pthread_mutex_lock(&a->mu);
		a->sleep_until = INT64_MIN;
		for (i = 0; i < n; i++) {
			if ((p = evs[i].data.ptr) == NULL) {
				rd = read(a->wakefd, &junk, sizeof(junk));
				(void)rd;
				continue;
			}
			hangup_locked(a, p, &cbs);
		}
		if (cbs != NULL) {
			pthread_mutex_unlock(&a->mu);
			notify_run(a, cbs);
			cbs = NULL;
			pthread_mutex_lock(&a->mu);
		}
	}
	pthread_mutex_unlock(&a->mu);
	notify_run(a, cbs);
	pend_free_list(dead);
	return (NULL);
}

static struct async *
async_new(unsigned hb_default_s)
{
	struct async *a;
	struct epoll_event ev;
	pthread_condattr_t ca;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return (NULL);
	a->refs = 1;
	a->sleep_until = INT64_MIN;
	a->hb_default_s = hb_default_s;
	if ((a->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		goto err0;
	if ((a->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		goto err1;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->wakefd, &ev) != 0)
		goto err2;
	if (pthread_mutex_init(&a->mu, NULL) != 0)
		goto err2;
	if (pthread_condattr_init(&ca) != 0)
		goto err3;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&a->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		goto err3;
	}
	pthread_condattr_destroy(&ca);
	return (a);

err3:
	pthread_mutex_destroy(&a->mu);
err2:
	close(a->wakefd);
err1:
	close(a->epfd);
err0:
	log_warnp("http: cannot set up the timer thread");
	free(a);
	return (NULL);
}

/* Close the descriptors of ${a} (the timer thread has exited). */
static void
async_free_fds(struct async *a)
{
	pthread_mutex_lock(&a->mu);
	close(a->wakefd);
	close(a->epfd);
	a->wakefd = a->epfd = -1;
	pthread_mutex_unlock(&a->mu);
}

static void
timer_stop(struct http_server *srv)
{
	pthread_mutex_lock(&srv->a->mu);
	srv->a->quit = 1;
	async_wake(srv->a);
	pthread_mutex_unlock(&srv->a->mu);
	pthread_join(srv->timer, NULL);
}

/* Put ${p} on a->all and arm its timer (p->deadline, unless 0).  0, or -1
 * if the heap cannot grow. */
static int
attach_locked(struct pend *p)
{
	struct async *a = p->a;

	if (heap_reserve(a, a->nattached + 1))
		return (-1);
	p->attached = 1;
	p->next = a->all;
	if (a->all != NULL)
		a->all->prev = p;
	a->all = p;
	a->nattached++;
	if (p->deadline != 0)
		heap_arm(a, p, p->deadline);
	return (0);
}

/* Create a deferred response or a stream for the handler's ${resp}. */
static struct pend *
pend_new(struct http_resp *resp, size_t size, enum pend_kind kind, http_notify_fn on_timeout,
    http_notify_fn on_close, void *arg, int64_t deadline)
{
	struct dctx *dc = resp->priv;
	struct async *a;
	struct pend *p;

	if (dc == NULL || dc->p != NULL)
		return (NULL);
	a = dc->srv->a;
	if ((p = calloc(1, size)) == NULL)
		return (NULL);
	p->kind = kind;
	p->state = PEND_OPEN;
	p->a = a;
	p->refs = 2;	/* owner, connection */
	p->conn = dc->conn;
	p->fd = -1;
	p->hidx = HIDX_NONE;
	p->on_timeout = on_timeout;
	p->on_close = on_close;
	p->arg = arg;
	p->deadline = deadline;
	__atomic_add_fetch(&a->refs, 1, __ATOMIC_ACQ_REL);
	if (kind == PEND_DEFER) {
		/* Attached by defer_start(), under the lock it takes anyway:
		 * until the handler returns, a finish needs no more. */
		http_resp_init(&((struct http_defer *)p)->resp);
		dc->p = p;
		return (p);
	}
	pthread_mutex_lock(&a->mu);
	if (attach_locked(p) != 0) {
		pthread_mutex_unlock(&a->mu);
		free(p);
		async_unref(a);
		return (NULL);
	}
	pthread_mutex_unlock(&a->mu);
	dc->p = p;
	return (p);
}

/* The request of ${p} is over (request-completed callback). */
static void
pend_detach(struct pend *p)
{
	struct async *a = p->a;
	struct pend *cbs = NULL, *dead;

	pthread_mutex_lock(&a->mu);
	if (p->suspended) {
		/* MHD never completes a suspended request; be safe anyway. */
		lazy_remove_locked(p);
		unwatch_locked(p);
		p->suspended = 0;
	}
	heap_remove(a, p);
	if (p->attached) {
		if (p->prev != NULL)
			p->prev->next = p->next;
		else
			a->all = p->next;
		if (p->next != NULL)
			p->next->prev = p->prev;
		p->prev = p->next = NULL;
		p->attached = 0;
		if (--a->nattached == 0 && a->stopping)
			pthread_cond_broadcast(&a->cv);
	}
	if (p->state == PEND_OPEN)
		p->state = PEND_CLOSED;
	if (p->kind == PEND_STREAM)
		stream_drop_queue((struct http_stream *)p);
	notify_locked(p, p->on_close, &cbs);
	p->conn = NULL;
	dead = unref_locked(p);
	pthread_mutex_unlock(&a->mu);
	notify_run(a, cbs);
	if (dead != NULL)
		pend_free(dead);
}

/* The owner gives ${p} back: no notification starts from now on, and one
 * running on another thread is waited for.  Then drop its reference. */
static void
release_locked_unlock(struct pend *p)
{
	struct async *a = p->a;
	struct pend *dead;

	p->released = 1;
	while (p->cb_running && !pthread_equal(p->cb_thread, pthread_self()))
		pthread_cond_wait(&a->cv, &a->mu);
	dead = unref_locked(p);
	pthread_mutex_unlock(&a->mu);
	if (dead != NULL)
		pend_free(dead);
}

/*
 * http_resp_defer(resp, timeout_ms, on_timeout, on_close, arg): defer the
 * answer to the request of handler response ${resp}.  NULL on ENOMEM, a bad
 * ${timeout_ms}, or a ${resp} that is not a handler's or is taken already.
 */
struct http_defer *
http_resp_defer(struct http_resp *resp, unsigned timeout_ms, http_notify_fn on_timeout,
    http_notify_fn on_close, void *arg)
{
	if (timeout_ms == 0 || timeout_ms > HTTP_DEFER_TIMEOUT_MAX_MS)
		return (NULL);
	return ((struct http_defer *)pend_new(resp, sizeof(struct http_defer), PEND_DEFER,
	    on_timeout, on_close, arg, clock_now_ms() + timeout_ms));
}

/*
 * http_defer_finish(d, resp): give ${d} back with the answer ${resp} (its
 * contents are taken, it is left empty), or 500 if ${resp} is NULL.  The
 * answer is dropped if the request timed out or the client is gone.
 */
void
http_defer_finish(struct http_defer *d, struct http_resp *resp)
{
	struct pend *p;
	struct async *a;
	struct http_resp r;
	struct MHD_Connection *conn = NULL;
	int taken = 0;

	if (d == NULL) {
		if (resp != NULL)
			http_resp_clear(resp);
		return;
	}
	p = &d->p;
	if (resp != NULL) {
		r = *resp;
		r.priv = NULL;
		http_resp_init(resp);
	} else {
		http_resp_init(&r);
		resp_error(&r, 500, "server_error", NULL);
	}
	pthread_mutex_lock(&p->a->mu);
	if (p->state == PEND_OPEN) {
		p->state = PEND_DONE;
		d->resp = r;
		taken = 1;
		heap_remove(p->a, p);
		if (p->suspended) {
			/* Resumed below, without the lock: MHD's resume
			 * writes to the pool thread's wake-up descriptor,
			 * and the pool threads wait for this lock.  The
			 * connection cannot complete while suspended, so
			 * p->conn stays valid; http_server_free() waits
			 * for a->resuming. */
			lazy_remove_locked(p);
			unwatch_locked(p);
			p->suspended = 0;
			conn = p->conn;
			__atomic_add_fetch(&p->a->resuming, 1, __ATOMIC_ACQ_REL);
		}
	}
	a = p->a;
	release_locked_unlock(p);
	if (conn != NULL) {
		MHD_resume_connection(conn);
		__atomic_sub_fetch(&a->resuming, 1, __ATOMIC_ACQ_REL);
	}
	if (!taken)
		resp_free(&r);
}

/* Answer a deferred request whose state changed (pool thread). */
static enum MHD_Result
defer_answer(struct MHD_Connection *conn, struct http_defer *d)
{
	struct pend *p = &d->p;
	struct http_resp r;
	enum pend_state state;

	http_resp_init(&r);
	pthread_mutex_lock(&p->a->mu);
	state = p->state;
	if (state == PEND_DONE) {
		r = d->resp;
		http_resp_init(&d->resp);
	}
	pthread_mutex_unlock(&p->a->mu);
	switch (state) {
	case PEND_DONE:
		return (send_resp(conn, &r, 0));
	case PEND_TIMEDOUT:
		return (send_error(conn, 504, "timeout", NULL, 0));
	case PEND_CLOSED:
		/* Shutting down, or the client is gone (then this goes
		 * nowhere, but quietly, unlike an MHD_NO). */
		return (send_error(conn, 503, "unavailable", NULL, 1));
	default:
		log_err("http: deferred request resumed while still open");
		return (MHD_NO);
	}
}

/* The handler deferred: suspend until something happens, or answer now if
 * something already did. */
static enum MHD_Result
defer_start(struct MHD_Connection *conn, struct http_defer *d)
{
	struct pend *p = &d->p, *cbs = NULL;
	struct async *a = p->a;

	pthread_mutex_lock(&a->mu);
	if (p->state == PEND_OPEN) {
		if (!a->stopping && attach_locked(p) == 0) {
			suspend_locked(p);
			pthread_mutex_unlock(&a->mu);
			return (MHD_YES);
		}
		/* Shutting down, or no memory for the timer: like a close. */
		p->state = PEND_CLOSED;
		p->shutdown = 1;
		notify_locked(p, p->on_close, &cbs);
	}
	pthread_mutex_unlock(&a->mu);
	notify_run(a, cbs);
	return (defer_answer(conn, d));
}

/*
 * http_resp_stream(resp, heartbeat_s, queue_max, on_close, arg): answer the
 * request of handler response ${resp} with an event stream.  NULL on ENOMEM,
 * a bad ${queue_max}, or a ${resp} that is not a handler's or is taken.
 */
struct http_stream *
http_resp_stream(struct http_resp *resp, unsigned heartbeat_s, size_t queue_max,
    http_notify_fn on_close, void *arg)
{
	struct dctx *dc = resp->priv;
	struct http_stream *s;

	if (dc == NULL || queue_max > HTTP_STREAM_QUEUE_MAX)
		return (NULL);
	if (heartbeat_s == 0)
		heartbeat_s = dc->srv->a->hb_default_s;
	if ((s = (struct http_stream *)pend_new(resp, sizeof(*s), PEND_STREAM, NULL, on_close,
	    arg, 0)) == NULL)
		return (NULL);
	/* Only this thread knows ${s} yet: no lock needed. */
	s->queue_max = queue_max ? queue_max : HTTP_STREAM_QUEUE_DEFAULT;
	s->hb_ms = (int64_t)heartbeat_s * 1000;
	s->last_send = clock_now_ms();
	return (s);
}

/* An SSE field value: at most HTTP_SSE_FIELD_MAX bytes, no CR, LF. */
static int
sse_field_ok(const char *v, size_t *lenp)
{
	size_t n = strnlen(v, HTTP_SSE_FIELD_MAX + 1);

	if (n > HTTP_SSE_FIELD_MAX || strcspn(v, "\r\n") != n)
		return (0);
	*lenp = n;
	return (1);
}

/* Format one event as SSE text; NULL on ENOMEM. */
static struct chunk *
sse_format(const char *event, size_t evlen, const char *id, size_t idlen, const char *data,
    size_t len)
{
	struct chunk *c;
	size_t i, nlines, cap;
	char *o;

	for (nlines = 1, i = 0; i < len; i++)
		if (data[i] == '\n' || (data[i] == '\r' && (i + 1 == len || data[i + 1] != '\n')))
			nlines++;
	cap = (event ? 8 + evlen : 0) + (id ? 5 + idlen : 0) + len + 7 * nlines + 1;
	if ((c = malloc(sizeof(*c) + cap)) == NULL)
		return (NULL);
	o = c->data;
	if (event != NULL) {
		memcpy(o, "event: ", 7);
		memcpy(o + 7, event, evlen);
		o[7 + evlen] = '\n';
		o += 8 + evlen;
	}
	if (id != NULL) {
		memcpy(o, "id: ", 4);
		memcpy(o + 4, id, idlen);
		o[4 + idlen] = '\n';
		o += 5 + idlen;
	}
	memcpy(o, "data: ", 6);
	o += 6;
	for (i = 0; i < len; i++) {
		if (data[i] == '\r' || data[i] == '\n') {
			if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
				i++;
			memcpy(o, "\ndata: ", 7);
			o += 7;
		} else
			*o++ = data[i];
	}
	*o++ = '\n';
	*o++ = '\n';
	c->next = NULL;
	c->len = (size_t)(o - c->data);
	c->off = 0;
	return (c);
}

/*
 * http_stream_send(s, event, id, data, len): queue one event on ${s}.
 * Returns 0, or -1 on a bad ${event} / ${id}, ENOMEM, a closed stream, or
 * an overflow (which closes the stream).
 */
int
http_stream_send(struct http_stream *s, const char *event, const char *id, const char *data,
    size_t len)
{
	struct pend *p;
	struct async *a;
	struct chunk *c = NULL;
	size_t evlen = 0, idlen = 0;

	if (s == NULL || (data == NULL && len != 0))
		return (-1);
	if ((event != NULL && !sse_field_ok(event, &evlen)) ||
	    (id != NULL && !sse_field_ok(id, &idlen)))
		return (-1);
	p = &s->p;
	a = p->a;
	/* queue_max does not change: an event bigger than it overflows. */
	if (len <= s->queue_max && (c = sse_format(event, evlen, id, idlen, data, len)) == NULL)
		return (-1);
	pthread_mutex_lock(&a->mu);
	if (p->state != PEND_OPEN || p->released)
		goto fail;
	if (c == NULL || s->queued + c->len > s->queue_max) {
		p->state = PEND_CLOSED;
		p->overflow = 1;
		stream_drop_queue(s);
		resume_locked(p);
		if (p->attached)
			heap_arm(a, p, 0);	/* the timer thread notifies */
		log_info("http: event stream queue over %zu bytes, closing it", s->queue_max);
		goto fail;
	}
	if (s->tail != NULL)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->queued += c->len;
	s->last_send = clock_now_ms();
	resume_locked(p);
	pthread_mutex_unlock(&a->mu);
	return (0);

fail:
	pthread_mutex_unlock(&a->mu);
	if (c != NULL)
		chunk_free(c);
	return (-1);
}

/*
 * http_stream_close(s): give ${s} back; the queue is still sent, then the
 * response ends.
 */
void
http_stream_close(struct http_stream *s)
{
	struct pend *p;

	if (s == NULL)
		return;
	p = &s->p;
	pthread_mutex_lock(&p->a->mu);
	if (p->state == PEND_OPEN) {
		p->state = PEND_DONE;
		heap_remove(p->a, p);
		resume_locked(p);
	}
	release_locked_unlock(p);
}

/* MHD's content reader for a stream (pool thread, response mutex held). */
static ssize_t
stream_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	struct http_stream *s = cls;
	struct pend *p = &s->p;
	struct chunk *c;
	size_t n = 0, k;
	ssize_t rc;

	(void)pos;
	pthread_mutex_lock(&p->a->mu);
	while (n < max && (c = s->head) != NULL) {
		k = c->len - c->off;
		if (k > max - n)
			k = max - n;
		memcpy(out + n, c->data + c->off, k);
		c->off += k;
		n += k;
		s->queued -= k;
		if (c->off == c->len) {
			if ((s->head = c->next) == NULL)
				s->tail = NULL;
			chunk_free(c);
		}
	}
	if (n == 0 && p->ping && max >= PING_LEN) {
		memcpy(out, PING, PING_LEN);
		n = PING_LEN;
	}
	if (n > 0) {
		p->ping = 0;
		rc = (ssize_t)n;
	} else if (p->state == PEND_OPEN && !p->a->stopping) {
		/* Nothing to send: returning 0 would make MHD poll us in a
		 * loop, so sleep until a send, heartbeat or close. */
		suspend_locked(p);
		rc = 0;
	} else if (p->state == PEND_CLOSED && p->overflow)
		rc = MHD_CONTENT_READER_END_WITH_ERROR;	/* drop the connection */
	else
		rc = MHD_CONTENT_READER_END_OF_STREAM;
	pthread_mutex_unlock(&p->a->mu);
	return (rc);
}

/* The handler made a stream: send the header now, the body as it comes. */
static enum MHD_Result
stream_start(struct MHD_Connection *conn, struct http_stream *s, struct http_resp *resp)
{
	struct pend *p = &s->p, *cbs = NULL;
	struct async *a = p->a;
	struct MHD_Response *r;
	enum MHD_Result rc;
	size_t i;

	if (set_header(resp, "Content-Type", "text/event-stream") ||
	    set_header(resp, "Cache-Control", "no-store") ||
	    set_header(resp, "X-Accel-Buffering", "no") ||
	    (r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_reader, s,
	    NULL)) == NULL) {
		log_warn("http: cannot create event stream response");
		resp_free(resp);
		return (MHD_NO);	/* pend_detach() notifies */
	}
	for (i = 0; i < resp->nheaders; i++) {
		if (MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value) !=
		    MHD_YES)
			log_warn("http: response header %s refused", resp->headers[i].name);
	}
	(void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	rc = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	resp_free(resp);
	if (rc != MHD_YES)
		return (MHD_NO);
	pthread_mutex_lock(&a->mu);
	if (p->state == PEND_OPEN) {
		if (a->stopping) {
			p->state = PEND_CLOSED;
			p->shutdown = 1;
			notify_locked(p, p->on_close, &cbs);
		} else
			heap_arm(a, p, clock_now_ms() + s->hb_ms);
	}
	pthread_mutex_unlock(&a->mu);
	notify_run(a, cbs);
	return (MHD_YES);
}

/* Raise the soft RLIMIT_NOFILE to fit ${limit} connections; returns the
 * connection limit that fits. */
static unsigned
nofile_fit(unsigned limit)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)limit + NOFILE_SLACK;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warnp("http: getrlimit(RLIMIT_NOFILE)");
		return (limit);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) ? need :
										       rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warnp("http: setrlimit(RLIMIT_NOFILE)");
			(void)getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		limit = rl.rlim_cur > 2 * NOFILE_SLACK ? (unsigned)(rl.rlim_cur - NOFILE_SLACK) :
							  (unsigned)(rl.rlim_cur / 2);
		log_warn("http: RLIMIT_NOFILE is %llu (hard %llu), too low for the configured "
			 "connection limit; serving at most %u connections (raise the hard limit, "
			 "e.g. LimitNOFILE= or ulimit -Hn)",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, limit);
	}
	return (limit);
}

/* --- requests --------------------------------------------------------- */

/* Percent-decode the ${n}-byte path at ${s} into a new string ('+' stays a
 * '+' in a path).  NULL if an escape is malformed or decodes to a NUL or
 * another control byte, or on ENOMEM. */
static char *
path_decode(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out, *o;
	size_t i;
	int hi, lo, c;

	if ((out = malloc(n + 1)) == NULL)
		return (NULL);
	for (i = 0, o = out; i < n; i++) {
		c = p[i];
		if (c == '%') {
			if (n - i < 3 || (hi = hex_value((unsigned char)p[i + 1])) < 0 ||
			    (lo = hex_value((unsigned char)p[i + 2])) < 0)
				goto err;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			goto err;
		*o++ = (char)c;
	}
	*o = '\0';
	return (out);

err:
	free(out);
	return (NULL);
}

static const struct http_route *
route_find(const struct http_server *srv, const char *path)
{
	const struct http_route *r;
	size_t i;

	for (i = 0; i < srv->nroutes; i++) {
		r = &srv->routes[i];
		if (r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 :
				strcmp(path, r->path) == 0)
			return (r);
	}
	return (NULL);
}

/* Client address as text; an IPv4-mapped IPv6 address is shown as IPv4. */
static void
client_addr(struct MHD_Connection *conn, char *out, size_t outcap)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr_in6 *s6;
	const struct sockaddr *sa;

	snprintf(out, outcap, "unknown");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		    (socklen_t)outcap);
	} else if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)outcap);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outcap);
	}
}

/* The whole request is in: route it and answer. */
static enum MHD_Result
dispatch(struct http_server *srv, struct MHD_Connection *conn, const char *method,
    struct reqstate *rs)
{
	const struct http_route *route;
	struct http_resp resp;
	struct http_req req;
	struct dctx dc;
	const char *q;
	char addr[INET6_ADDRSTRLEN];
	char *path;
	enum MHD_Result rc;

	if ((q = strchr(rs->raw_uri, '?')) == NULL)
		q = rs->raw_uri + strlen(rs->raw_uri);
	if ((path = path_decode(rs->raw_uri, (size_t)(q - rs->raw_uri))) == NULL)
		return (send_error(conn, 400, "invalid_request", "malformed request target", 0));
	if (*q == '?')
		q++;
	if ((route = route_find(srv, path)) == NULL) {
		free(path);
		return (send_error(conn, 404, "not_found", NULL, 0));
	}
	client_addr(conn, addr, sizeof(addr));
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.query = q;
	req.body = buf_cstr(&rs->body);
	req.body_len = rs->body.len;
	req.remote_addr = addr;
	req.tls = srv->tls;
	req.conn = conn;
	dc.srv = srv;
	dc.conn = conn;
	dc.p = NULL;
	http_resp_init(&resp);
	resp.priv = &dc;
	route->fn(route->arg, &req, &resp);
	resp.priv = NULL;
	if (dc.p != NULL) {
		/* The connection's reference to dc.p now belongs to ${rs}. */
		free(path);
		rs->pend = dc.p;
		if (dc.p->kind == PEND_STREAM)
			return (stream_start(conn, (struct http_stream *)dc.p, &resp));
		resp_free(&resp);
		return (defer_start(conn, (struct http_defer *)dc.p));
	}
	if (resp.status == 0)
		log_err("http: handler for %s left no status", route->path);
	rc = send_resp(conn, &resp, 0);
	free(path);
	return (rc);
}

/* A strict decimal Content-Length; -1 if absent or not a plain number. */
static long long
content_length(struct MHD_Connection *conn)
{
	const char *v, *p;
	long long n = 0;

	if ((v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH)) == NULL)
		return (-1);
	for (p = v; *p >= '0' && *p <= '9'; p++) {
		if (n > (1LL << 50))
			return (1LL << 50);
		n = n * 10 + (*p - '0');
	}
	if (p == v || *p != '\0')
		return (-1);
	return (n);
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct reqstate *rs = *con_cls;
	const union MHD_ConnectionInfo *ci;
	long long clen;

	(void)url;
	(void)version;
	if (rs == NULL)
		return (MHD_NO);	/* ENOMEM in uri_cb */
	if (rs->pend != NULL) {
		/* Resumed: a deferred response is ready, timed out or gone. */
		if (rs->pend->kind != PEND_DEFER)
			return (MHD_NO);
		return (defer_answer(conn, (struct http_defer *)rs->pend));
	}
	if (!rs->started) {
		/* Headers are in, the body (if any) is not.  Answering now
		 * makes MHD skip the body and close the connection. */
		rs->started = 1;
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
		if (ci != NULL && ci->header_size > srv->header_max)
			return (send_error(conn, 431, "invalid_request",
			    "request header too large", 1));
		if ((clen = content_length(conn)) >= 0 && (unsigned long long)clen > srv->body_max)
			return (send_error(conn, 413, "invalid_request",
			    "request body too large", 1));
		return (MHD_YES);
	}
	if (*upload_data_size != 0) {
		if (buf_add(&rs->body, upload_data, *upload_data_size)) {
			/* Only a chunked body gets here (a declared length was
			 * checked above); MHD cannot answer in the middle of an
			 * upload, so drop the connection. */
			log_info("http: chunked request body over %zu bytes, closing",
			    srv->body_max);
			return (MHD_NO);
		}
		*upload_data_size = 0;
		return (MHD_YES);
	}
	return (dispatch(srv, conn, method, rs));
}

/* --- header accessors ------------------------------------------------- */

/*
 * http_req_header(req, name): the value of header ${name} (case-insensitive),
 * or NULL if absent; the first one if repeated.
 */
const char *
http_req_header(const struct http_req *req, const char *name)
{
	return (MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name));
}

struct count_ctx {
	const char *name;
	int n;
};

static enum MHD_Result
count_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct count_ctx *c = cls;

	(void)kind;
	(void)value;
	if (key != NULL && strcasecmp(key, c->name) == 0)
		c->n++;
	return (MHD_YES);
}

/*
 * http_req_header_count(req, name): how many times header ${name} appears.
 */
int
http_req_header_count(const struct http_req *req, const char *name)
{
	struct count_ctx c = {name, 0};

	(void)MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_cb, &c);
	return (c.n);
}

/*
 * http_req_cookie(req, name, out, outcap): copy the value of cookie ${name}
 * from the Cookie header ("a=1; b=2", RFC 6265 section 4.2) into ${out}.
 * Malformed pairs are skipped; a value in double quotes loses them.  Returns
 * 0, or -1 if absent or longer than ${outcap} - 1.
 */
int
http_req_cookie(const struct http_req *req, const char *name, char *out, size_t outcap)
{
	const char *hdr, *p, *end, *eq, *ns, *ne, *vs, *ve;
	size_t nlen = strlen(name);

	if ((hdr = http_req_header(req, "Cookie")) == NULL || nlen == 0 || outcap == 0)
		return (-1);
	for (p = hdr; *p != '\0'; p = (*end == ';') ? end + 1 : end) {
		end = p + strcspn(p, ";");
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
			continue;
		for (ns = p; ns < eq && (*ns == ' ' || *ns == '\t'); ns++)
			;
		for (ne = eq; ne > ns && (ne[-1] == ' ' || ne[-1] == '\t'); ne--)
			;
		if ((size_t)(ne - ns) != nlen || memcmp(ns, name, nlen) != 0)
			continue;
		for (vs = eq + 1; vs < end && (*vs == ' ' || *vs == '\t'); vs++)
			;
		for (ve = end; ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
			vs++;
			ve--;
		}
		if ((size_t)(ve - vs) >= outcap)
			return (-1);
		memcpy(out, vs, (size_t)(ve - vs));
		out[ve - vs] = '\0';
		return (0);
	}
	return (-1);
}

/* --- server ----------------------------------------------------------- */

/* Read a whole PEM file (at most PEM_MAX bytes) as a NUL-terminated string. */
static char *
read_pem(const char *path, size_t *lenp)
{
	char *p;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		log_warnp("http: open %s", path);
		return (NULL);
	}
	if ((p = malloc(PEM_MAX + 1)) == NULL) {
		close(fd);
		return (NULL);
	}
	for (;;) {
		if ((n = read(fd, p + len, PEM_MAX + 1 - len)) < 0) {
			if (errno == EINTR)
				continue;
			log_warnp("http: read %s", path);
			goto err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > PEM_MAX) {
			log_warn("http: %s is larger than %d bytes", path, PEM_MAX);
			goto err;
		}
	}
	close(fd);
	p[len] = '\0';
	*lenp = len;
	return (p);

err:
	secret_wipe(p, PEM_MAX + 1);
	free(p);
	close(fd);
	return (NULL);
}

/*
 * http_server_new(cfg, routes, nroutes): listen and serve ${routes}.  NULL on
 * failure (logged).
 */
struct http_server *
http_server_new(const struct http_config *cfg, const struct http_route *routes, size_t nroutes)
{
	struct http_server *srv;
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct MHD_OptionItem opts[8];
	const union MHD_DaemonInfo *di;
	unsigned int flags, threads, conn_limit;
	char *cert = NULL, *key = NULL;
	size_t certlen = 0, keylen = 0, nopt = 0;
	long ncpu;

	memset(&ss, 0, sizeof(ss));
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (inet_pton(AF_INET, cfg->bind_addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(cfg->port);
	} else if (inet_pton(AF_INET6, cfg->bind_addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(cfg->port);
		/* "::" accepts IPv4 too; any other IPv6 address only IPv6. */
		flags |= IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? MHD_USE_DUAL_STACK :
								   MHD_USE_IPv6;
	} else {
		log_warn("http: bad bind address %s", cfg->bind_addr);
		return (NULL);
	}

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		log_warnp("http: calloc");
		return (NULL);
	}
	srv->routes = routes;
	srv->nroutes = nroutes;
	srv->body_max = cfg->body_max ? cfg->body_max : HTTP_BODY_MAX_DEFAULT;
	srv->header_max = cfg->header_max ? cfg->header_max : HTTP_HEADER_MAX_DEFAULT;
	conn_limit = nofile_fit(cfg->conn_limit ? cfg->conn_limit : HTTP_CONN_LIMIT_DEFAULT);
	if (cfg->per_ip_limit > 0 && (srv->cl = connlimit_new(cfg->per_ip_limit)) == NULL) {
		log_warn("http: cannot set up the per-address connection limit");
		goto err0;
	}
	if ((srv->a = async_new(cfg->sse_heartbeat_s ? cfg->sse_heartbeat_s :
	    HTTP_STREAM_HEARTBEAT_DEFAULT)) == NULL)
		goto err0;
	if ((errno = pthread_create(&srv->timer, NULL, timer_main, srv->a)) != 0) {
		log_warnp("http: pthread_create");
		async_free_fds(srv->a);
		async_unref(srv->a);
		goto err0;
	}

	if ((threads = cfg->threads) == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		threads = ncpu > 0 ? (unsigned int)ncpu : 1;
	}
	if (threads > 1) {
		opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
	}
	if (cfg->tls_cert != NULL || cfg->tls_key != NULL) {
		if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
			log_warn("http: TLS needs both a certificate and a key");
			goto err1;
		}
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			log_warn("http: libmicrohttpd was built without TLS");
			goto err1;
		}
		if ((cert = read_pem(cfg->tls_cert, &certlen)) == NULL ||
		    (key = read_pem(cfg->tls_key, &keylen)) == NULL)
			goto err2;
		flags |= MHD_USE_TLS;
		srv->tls = 1;
		opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
		opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
		opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
		    (void *)TLS_PRIORITIES};
	}
	opts[nopt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	srv->d = MHD_start_daemon(flags, cfg->port, accept_cb, srv, access_cb, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_cb, srv,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)(cfg->timeout_s ? cfg->timeout_s : HTTP_TIMEOUT_DEFAULT),
	    MHD_OPTION_CONNECTION_LIMIT, conn_limit,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(2 * srv->header_max + POOL_SLACK),
	    MHD_OPTION_URI_LOG_CALLBACK, uri_cb, srv,
	    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
	    MHD_OPTION_ARRAY, opts,
	    MHD_OPTION_END);
	if (key != NULL) {
		secret_wipe(key, keylen);
		free(key);
		key = NULL;
	}
	free(cert);
	cert = NULL;
	if (srv->d == NULL) {
		log_warn("http: cannot listen on %s port %u", cfg->bind_addr, (unsigned)cfg->port);
		goto err1;
	}
	if ((di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT)) == NULL ||
	    di->port == 0) {
		log_warn("http: cannot read the bound port");
		MHD_stop_daemon(srv->d);
		goto err1;
	}
	srv->port = di->port;
	log_info("http: listening on %s port %u%s", cfg->bind_addr, (unsigned)srv->port,
	    srv->tls ? " (TLS)" : "");
	return (srv);

err2:
	if (key != NULL) {
		secret_wipe(key, keylen);
		free(key);
	}
	free(cert);
err1:
	timer_stop(srv);
	async_free_fds(srv->a);
	async_unref(srv->a);
err0:
	connlimit_free(srv->cl);
	free(srv);
	return (NULL);
}

/*
 * http_server_port(srv): the port actually bound.
 */
uint16_t
http_server_port(const struct http_server *srv)
{
	return (srv->port);
}

/*
 * http_server_free(srv): stop accepting, finish running handlers, end every
 * stream and deferred response (notifying those not given back), free.
 */
void
http_server_free(struct http_server *srv)
{
	struct async *a;
	struct pend *p, *cbs = NULL, *dead;
	struct timespec ts;

	if (srv == NULL)
		return;
	a = srv->a;
	/* From here on nothing suspends; resume everything suspended, so
	 * that MHD_stop_daemon() finds no suspended connection. */
	pthread_mutex_lock(&a->mu);
	a->stopping = 1;
	for (p = a->all; p != NULL; p = p->next) {
		heap_remove(a, p);
		if (p->state == PEND_OPEN) {
			p->state = PEND_CLOSED;
			p->shutdown = 1;
		}
		resume_locked(p);
		notify_locked(p, p->on_close, &cbs);
	}
	pthread_mutex_unlock(&a->mu);
	notify_run(a, cbs);
	/* Give the pool threads a moment to send the 503s and the ends of
	 * the streams; MHD_stop_daemon() would just close the sockets. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += DRAIN_MS / 1000;
	ts.tv_nsec += (DRAIN_MS % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->mu);
	while (a->nattached > 0)
		if (pthread_cond_timedwait(&a->cv, &a->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&a->mu);
	timer_stop(srv);
	/* A finish that cleared a suspension may still be in its resume
	 * (outside the lock); MHD_stop_daemon() must see it done. */
	while (__atomic_load_n(&a->resuming, __ATOMIC_ACQUIRE) > 0)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	MHD_stop_daemon(srv->d);
	pthread_mutex_lock(&a->mu);
	dead = drain_unwatched_locked(a);
	pthread_mutex_unlock(&a->mu);
	pend_free_list(dead);
	async_free_fds(a);
	async_unref(a);
	connlimit_free(srv->cl);
	free(srv);
}
