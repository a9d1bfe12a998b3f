/*
 * client/chttp: one HTTP request on libcurl, with a size cap on the body, a
 * total timeout, no redirects followed, and only http and https.
 *
 * The response headers the client needs are kept (WWW-Authenticate, all of
 * them joined with ", "; Content-Type; Mcp-Session-Id; Location); the body goes
 * to a buffer or, for streams (SSE), to a consumer that may end the transfer
 * early.  Header lines that carried secrets (Authorization) are wiped before
 * they are freed.
 */
#ifndef MCPGATE_CLIENT_CHTTP_H
#define MCPGATE_CLIENT_CHTTP_H

#include <stddef.h>

#include "core/buf.h"
#include "mcpgate/mcpgate.h"

struct cerr;

#define CHTTP_HEADERS_MAX 40
#define CHTTP_WWWAUTH_MAX 8192
#define CHTTP_HDRVAL_MAX 512

/* chttp_consumer(arg, p, n): take ${n} body bytes; return 0 to go on, 1 to end
 * the transfer successfully, -1 to fail it (MCPGATE_E_MALFORMED). */
typedef int chttp_consumer(void *arg, const char *p, size_t n);

struct chttp_req {
	const char *method;	  /* "GET", "POST" or "DELETE" */
	const char *url;
	const char *body;	  /* POST body, or NULL */
	size_t body_len;
	const char *content_type; /* of the body */
	const char *accept;	  /* NULL: application/json */
	const char *authorization; /* full header value (a secret), or NULL */
	const char *headers[CHTTP_HEADERS_MAX]; /* more "Name: value" lines (libcurl
						 * syntax: "Name;" sends an empty value), NULL-ended */
	long timeout_ms;	  /* 0: 30000 */
	size_t max_bytes;	  /* 0: MCPGATE_RESPONSE_MAX */
	chttp_consumer *consumer; /* for text/event-stream bodies, or NULL */
	void *consumer_arg;
};

struct chttp_resp {
	long status;
	struct buf body;     /* unless the consumer took it */
	struct buf wwwauth;  /* WWW-Authenticate values joined with ", " */
	char content_type[CHTTP_HDRVAL_MAX];
	char session_id[CHTTP_HDRVAL_MAX];
	char location[2048];
	int streamed;	     /* the body went to the consumer */
};

/* chttp_resp_init(r) / chttp_resp_clear(r): caller-owned response storage. */
void chttp_resp_init(struct chttp_resp *r);
void chttp_resp_clear(struct chttp_resp *r);

/* chttp_do(q, r, e): perform ${q}; on MCPGATE_OK ${r} holds the status,
 * headers and body (any status: the caller judges it).  Errors:
 * MCPGATE_E_INVAL (URL not http(s) or too long), MCPGATE_E_NETWORK,
 * MCPGATE_E_TIMEOUT, MCPGATE_E_TOO_BIG, MCPGATE_E_MALFORMED (the consumer
 * refused the stream), MCPGATE_E_NOMEM; the detail goes to ${e}.  The
 * consumer is used only when the response Content-Type is
 * text/event-stream. */
mcpgate_err chttp_do(const struct chttp_req *q, struct chttp_resp *r, struct cerr *e);

/* chttp_do_with(q, r, side, side_r, e): chttp_do(q, r, e) while ${side} (the
 * GET of a server's event stream) runs alongside on the same thread, with
 * its consumer called as bytes come.  ${side} starts first; ${q} follows
 * once the side's response headers came (or after 2 s).  ${side} ends when
 * ${q} does; its own failures are ignored, its status is in ${side_r}
 * (0 if none).  Returns what chttp_do(q, r, e) would. */
mcpgate_err chttp_do_with(const struct chttp_req *q, struct chttp_resp *r, const struct chttp_req *side,
    struct chttp_resp *side_r, struct cerr *e);

/* chttp_global_init(): curl_global_init once per process (thread-safe). */
int chttp_global_init(void);

/* chttp_is_json(r): 1 if the response Content-Type is application/json (or
 * +json). */
int chttp_is_json(const struct chttp_resp *r);

#endif
