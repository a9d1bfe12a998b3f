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
 * seconds is closed; an unknown path gets 404 with a JSON body.
 *
 * Every response carries X-Content-Type-Options: nosniff.
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
};

struct http_resp {
	int status;
	struct buf body;
	size_t nheaders;
	struct http_resp_header headers[HTTP_RESP_HEADERS_MAX];
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
	unsigned conn_limit;   /* 0: 4096 */
	const char *tls_cert;  /* PEM file, or NULL for plain HTTP */
	const char *tls_key;   /* PEM file */
};

struct http_server;

/* http_server_new(cfg, routes, nroutes): listen and serve ${routes} (the
 * array must outlive the server; the first match wins).  NULL on failure
 * (logged). */
struct http_server *http_server_new(const struct http_config *cfg, const struct http_route *routes,
    size_t nroutes);

/* http_server_port(srv): the port actually bound. */
uint16_t http_server_port(const struct http_server *srv);

/* http_server_free(srv): stop accepting, finish running handlers, free. */
void http_server_free(struct http_server *srv);

#endif
