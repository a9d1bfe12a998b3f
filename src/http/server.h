/*
 * http/server: the HTTP listener, on libmicrohttpd.
 *
 * The server owns the sockets, a thread pool of one thread per core (epoll),
 * per-connection limits and timeouts, and TLS.  It knows nothing of OAuth or
 * MCP: it reads a whole request (headers and a body of at most
 * ${body_max} bytes), finds the route for the path and calls its handler,
 * which fills in a struct http_resp.  Handlers run on the pool threads and
 * must not block for long.
 *
 * Limits and their answers: a body over body_max gets 413 before the handler
 * runs; a request line plus headers over header_max gets 431 (or the
 * connection is closed by libmicrohttpd); a connection idle for timeout_s
 * seconds is closed; an unknown path gets 404 with a JSON body.  With
 * ${per_ip_limit}, a connection from an address (IPv4, or IPv6 /64: see
 * http/connlimit.h) that already holds that many is closed as soon as it is
 * accepted (no answer: nothing was read yet).
 *
 * Every response carries X-Content-Type-Options: nosniff.
 *
 * Deferred responses and streams.  A handler that must wait for something
 * (an upstream MCP server) calls http_resp_defer() and returns: the pool
 * thread moves on, the connection is suspended, and any thread answers later
 * with http_defer_finish().  A handler that answers with Server-Sent Events
 * calls http_resp_stream() and returns: the 200 text/event-stream header goes
 * out at once and any thread feeds events with http_stream_send() until it
 * calls http_stream_close().
 *
 * Ownership: a non-NULL struct http_defer or struct http_stream belongs to
 * the caller (the "owner") until it gives it back, exactly once, with
 * http_defer_finish() or http_stream_close() -- also after the client left,
 * after a timeout, and after http_server_free().  Until then the handle stays
 * valid and every call on it is safe from any thread; a call that comes too
 * late to reach the client is a no-op.
 *
 * Notifications: the owner learns that a response can no longer be sent
 * through on_timeout(arg) (a deferred response timed out; the client got
 * 504) or on_close(arg) (the client disconnected, a stream overflowed, or the
 * server is shutting down).  At most one notification is made per handle, on
 * a server thread (never inside an http_* call made by the owner), and none
 * after the handle was given back: if a notification is running on another
 * thread when the owner calls http_defer_finish() or http_stream_close(),
 * that call waits for it to return.  So a notification callback may call
 * http_defer_finish() / http_stream_close() itself, but the owner must not
 * call them while holding a lock that its callbacks take.
 */
#ifndef MCPGATE_HTTP_SERVER_H
#define MCPGATE_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/buf.h"

#define HTTP_BODY_MAX_DEFAULT (64 * 1024)
#define HTTP_HEADER_MAX_DEFAULT (16 * 1024)
#define HTTP_TIMEOUT_DEFAULT 30
#define HTTP_RESP_HEADERS_MAX 16
#define HTTP_RESP_BODY_MAX (1024 * 1024)
#define HTTP_CONN_LIMIT_DEFAULT 10000
#define HTTP_DEFER_TIMEOUT_MAX_MS (10 * 60 * 1000)
#define HTTP_STREAM_HEARTBEAT_DEFAULT 15
#define HTTP_STREAM_QUEUE_DEFAULT (256 * 1024)
#define HTTP_STREAM_QUEUE_MAX (16 * 1024 * 1024)
#define HTTP_SSE_FIELD_MAX 256

struct http_req {
	const char *method;	 /* "GET", "POST", ... */
	const char *path;	 /* percent-decoded path, without the query */
	const char *query;	 /* raw query string after '?', or "" */
	const char *body;	 /* NUL-terminated copy of the body, or "" */
	size_t body_len;
	const char *remote_addr; /* client address as text ("127.0.0.1", "::1") */
	int tls;		 /* 1 if the request came over TLS */
	void *conn;		 /* private to the server */
};

struct http_resp_header {
	char *name;
	char *value;
	int borrowed;	/* name and value are string constants, not freed */
};

struct http_resp {
	int status;
	struct buf body;
	size_t nheaders;
	struct http_resp_header headers[HTTP_RESP_HEADERS_MAX];
	void *priv; /* private to the server */
};

/* http_req_header(req, name): the value of header ${name} (case-insensitive),
 * or NULL if absent.  If the header appears more than once, the first. */
const char *http_req_header(const struct http_req *req, const char *name);

/* http_req_header_count(req, name): how many times header ${name} appears. */
int http_req_header_count(const struct http_req *req, const char *name);

/* http_req_cookie(req, name, out, outcap): copy the value of cookie ${name}
 * into ${out} (NUL-terminated).  Returns 0, or -1 if absent or longer than
 * ${outcap} - 1. */
int http_req_cookie(const struct http_req *req, const char *name, char *out, size_t outcap);

/* http_resp_header(resp, name, value): set a response header (copied),
 * replacing any earlier value of ${name} (case-insensitive), except for
 * Set-Cookie, which is added once per call.  Returns 0, or -1 if
 * HTTP_RESP_HEADERS_MAX headers are already set or the name or value
 * contains CR, LF or other control characters. */
int http_resp_header(struct http_resp *resp, const char *name, const char *value);

/* http_resp_json(resp, status, j): set ${status} and a JSON body from ${j},
 * with Content-Type application/json and Cache-Control: no-store.  Takes
 * ownership of ${j}. */
void http_resp_json(struct http_resp *resp, int status, json_t *j);

/* http_resp_text(resp, status, ctype, text): set a status and a body. */
void http_resp_text(struct http_resp *resp, int status, const char *ctype, const char *text);

/* http_resp_redirect(resp, status, location): a redirect (302 or 303). */
void http_resp_redirect(struct http_resp *resp, int status, const char *location);

/* http_resp_init(resp): make ${resp} an empty response (status 0, no
 * headers, empty body), for building an answer to http_defer_finish(). */
void http_resp_init(struct http_resp *resp);

/* http_resp_clear(resp): free what ${resp} holds (wiped) and leave it as
 * after http_resp_init(). */
void http_resp_clear(struct http_resp *resp);

/* Notification callback: see "Notifications" above. */
typedef void (*http_notify_fn)(void *arg);

struct http_defer;
struct http_stream;

/* http_resp_defer(resp, timeout_ms, on_timeout, on_close, arg): called by a
 * handler on the ${resp} it was given, instead of filling it in: the answer
 * will come from http_defer_finish().  If it has not come after ${timeout_ms}
 * milliseconds (1 to HTTP_DEFER_TIMEOUT_MAX_MS), the client gets 504
 * {"error":"timeout"} and on_timeout(${arg}) is called.  If the client
 * disconnects first, or the server shuts down (the client gets 503),
 * on_close(${arg}) is called.  (Neither is called once ${d} was given back,
 * even if the finish came too late for the client.)  Either callback may be NULL.  Whatever the
 * handler put in ${resp} is discarded.  Returns NULL (and the handler must
 * answer in ${resp} as usual) on ENOMEM, a bad ${timeout_ms}, or if ${resp}
 * is not a handler's response or was already deferred or streamed. */
struct http_defer *http_resp_defer(struct http_resp *resp, unsigned timeout_ms,
    http_notify_fn on_timeout, http_notify_fn on_close, void *arg);

/* http_defer_finish(d, resp): give ${d} back, answering with ${resp} (from
 * any thread; may also be called by the handler before it returns).  Takes
 * over what ${resp} holds and leaves it as after http_resp_init().  ${resp}
 * may be NULL: the client then gets 500 if it was still waiting.  If the
 * request already timed out or the client is gone, the answer is dropped.
 * ${d} must not be used afterwards. */
void http_defer_finish(struct http_defer *d, struct http_resp *resp);

/* http_resp_stream(resp, heartbeat_s, queue_max, on_close, arg): called by a
 * handler on the ${resp} it was given: the answer is 200 with Content-Type:
 * text/event-stream, Cache-Control: no-store, X-Accel-Buffering: no and the
 * other headers the handler set (its status and body are ignored), and a
 * body fed by http_stream_send().  A comment line ": ping" is sent after
 * every ${heartbeat_s} seconds without an event (0: the server's default).
 * At most ${queue_max} bytes (0: HTTP_STREAM_QUEUE_DEFAULT; at most
 * HTTP_STREAM_QUEUE_MAX) wait for a client that does not read; past that the
 * stream is closed.  on_close(${arg}) (may be NULL) is called when the client
 * goes away, the queue overflows or the server shuts down.  Returns NULL on
 * ENOMEM, a bad ${queue_max}, or if ${resp} is not a handler's response or
 * was already deferred or streamed. */
struct http_stream *http_resp_stream(struct http_resp *resp, unsigned heartbeat_s,
    size_t queue_max, http_notify_fn on_close, void *arg);

/* http_stream_send(s, event, id, data, len): queue one event: "event:" and
 * "id:" lines when ${event} / ${id} are not NULL, then the ${len} bytes at
 * ${data} as "data:" lines (split at CR LF, LF or CR).  Returns 0, or -1 if
 * ${event} or ${id} is longer than HTTP_SSE_FIELD_MAX or holds CR, LF or NUL,
 * on ENOMEM, if the stream is closed (client gone, shutdown), or if the event
 * does not fit in the queue (the stream is then closed, on_close follows). */
int http_stream_send(struct http_stream *s, const char *event, const char *id,
    const char *data, size_t len);

/* http_stream_close(s): give ${s} back; what is queued is still sent, then
 * the response ends.  ${s} must not be used afterwards. */
void http_stream_close(struct http_stream *s);

/* A route's handler.  ${req} and everything it points to are valid only
 * during the call: a handler that defers copies what it needs. */
typedef void (*http_handler_fn)(void *arg, const struct http_req *req, struct http_resp *resp);

struct http_route {
	const char *path; /* exact path, or prefix when ${prefix} is set */
	int prefix;
	http_handler_fn fn;
	void *arg;
};

struct http_config {
	const char *bind_addr; /* "127.0.0.1", "::1", "0.0.0.0", "::" */
	uint16_t port;	       /* 0: pick a free port (see http_server_port) */
	unsigned threads;      /* 0: one per core */
	size_t body_max;       /* 0: HTTP_BODY_MAX_DEFAULT */
	size_t header_max;     /* 0: HTTP_HEADER_MAX_DEFAULT */
	unsigned timeout_s;    /* 0: HTTP_TIMEOUT_DEFAULT */
	unsigned conn_limit;   /* 0: HTTP_CONN_LIMIT_DEFAULT */
	unsigned per_ip_limit; /* connections per address (IPv4, IPv6 /64); 0: none */
	const char *tls_cert;  /* PEM file, or NULL for plain HTTP */
	const char *tls_key;   /* PEM file */
	unsigned sse_heartbeat_s; /* 0: HTTP_STREAM_HEARTBEAT_DEFAULT */
};

struct http_server;

/* http_server_new(cfg, routes, nroutes): listen and serve ${routes} (the
 * array must outlive the server; the first match wins).  The soft
 * RLIMIT_NOFILE is raised to fit the connection limit; if the hard limit is
 * too low, the connection limit is lowered to fit (logged).  NULL on failure
 * (logged). */
struct http_server *http_server_new(const struct http_config *cfg, const struct http_route *routes,
    size_t nroutes);

/* http_server_port(srv): the port actually bound. */
uint16_t http_server_port(const struct http_server *srv);

/* http_server_free(srv): stop accepting, finish running handlers, end every
 * stream and pending deferred response (on_close is called for those not yet
 * given back, from this thread or a server thread, before this returns),
 * free.  Handles not yet given back stay valid until they are. */
void http_server_free(struct http_server *srv);

#endif
