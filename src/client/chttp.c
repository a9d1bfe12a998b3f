/*
 * client/chttp: HTTP requests on libcurl for the client library.
 */
#include "client/chttp.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "client/internal.h"
#include "core/secret.h"

#define DEFAULT_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 10000
#define SIDE_WAIT_MS 2000
#define POLL_MS 50

struct xfer {
	const struct chttp_req *q;
	struct chttp_resp *r;
	int sse;	/* decided at the first body byte */
	int decided;
	int too_big;
	int consumer_done;
	int consumer_failed;
	int headers_done; /* the header block of the final response ended */
	size_t seen;
	size_t max;
	CURL *h;
	struct curl_slist *hl;
	struct buf line;
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int global_ok;

static void
global_init(void)
{
	global_ok = (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
}

int
chttp_global_init(void)
{
	pthread_once(&once, global_init);
	return (global_ok ? 0 : -1);
}

void
chttp_resp_init(struct chttp_resp *r)
{
	r->status = 0;
	buf_init(&r->body, MCPGATE_RESPONSE_MAX);
	buf_init(&r->wwwauth, CHTTP_WWWAUTH_MAX);
	r->content_type[0] = '\0';
	r->session_id[0] = '\0';
	r->location[0] = '\0';
	r->streamed = 0;
}

void
chttp_resp_clear(struct chttp_resp *r)
{
	buf_clear(&r->body);
	buf_clear(&r->wwwauth);
	r->status = 0;
}

int
chttp_is_json(const struct chttp_resp *r)
{
	const char *ct = r->content_type;
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return (1);
	if (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0)
		return (1);
	return (0);
}

static int
is_sse(const char *ct)
{
	return (strncasecmp(ct, "text/event-stream", 17) == 0 &&
	    (ct[17] == '\0' || ct[17] == ';' || ct[17] == ' '));
}

/* Copy a header value (trimmed) into a fixed field; over-long values are
 * dropped rather than cut, so that a truncated value is never used. */
static void
keep(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap) {
		dst[0] = '\0';
		return;
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, nl, vl;
	const char *colon, *v;

	if (n <= 2 && (n == 0 || p[0] == '\r' || p[0] == '\n')) {
		x->headers_done = 1;
		return (n);
	}
	/* A new response (after 100 Continue, say) starts over. */
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		x->headers_done = 0;
		buf_reset(&x->r->wwwauth);
		x->r->content_type[0] = x->r->session_id[0] = x->r->location[0] = '\0';
		return (n);
	}
	if ((colon = memchr(p, ':', n)) == NULL)
		return (n);
	nl = (size_t)(colon - p);
	v = colon + 1;
	vl = n - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (nl == 16 && strncasecmp(p, "WWW-Authenticate", 16) == 0) {
		/* Too many challenges: keep what fits; the parser sees a prefix
		 * of whole header lines only. */
		if ((x->r->wwwauth.len == 0 || buf_add(&x->r->wwwauth, ", ", 2) == 0) &&
		    buf_add(&x->r->wwwauth, v, vl) != 0)
			return (n);
	} else if (nl == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
		keep(x->r->content_type, sizeof(x->r->content_type), v, vl);
	} else if (nl == 14 && strncasecmp(p, "Mcp-Session-Id", 14) == 0) {
		keep(x->r->session_id, sizeof(x->r->session_id), v, vl);
	} else if (nl == 8 && strncasecmp(p, "Location", 8) == 0) {
		keep(x->r->location, sizeof(x->r->location), v, vl);
	}
	return (n);
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	int rc;

	if (!x->decided) {
		x->decided = 1;
		x->sse = (x->q->consumer != NULL && is_sse(x->r->content_type));
		x->r->streamed = x->sse;
	}
	if (n > x->max || x->seen > x->max - n) {
		x->too_big = 1;
		return (0);
	}
	x->seen += n;
	if (x->sse) {
		rc = x->q->consumer(x->q->consumer_arg, p, n);
		if (rc > 0) {
			x->consumer_done = 1;
			return (0);
		}
		if (rc < 0) {
			x->consumer_failed = 1;
			return (0);
		}
		return (n);
	}
	if (buf_add(&x->r->body, p, n) != 0) {
		x->too_big = 1;
		return (0);
	}
	return (n);
}

static void
wipe_slist(struct curl_slist *l)
{
	struct curl_slist *i;

	for (i = l; i != NULL; i = i->next)
		secret_wipe(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static int
url_ok(const char *url)
{
	if (url == NULL || strlen(url) > MCPGATE_URL_MAX)
		return (0);
	return (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0);
}

/* Make ${x} (zeroed by the caller) ready to perform ${q} into ${r}.  On
 * failure, ${x} still goes to xfer_done(). */
static mcpgate_err
xfer_prepare(struct xfer *x, const struct chttp_req *q, struct chttp_resp *r, struct cerr *e)
{
	struct curl_slist *nl;
	CURL *h;
	size_t i;

	buf_init(&x->line, 16384);
	if (!url_ok(q->url))
		return (cerr_set(e, MCPGATE_E_INVAL, "not an http(s) URL: %.200s", q->url ? q->url : "(none)"));
	if (chttp_global_init() != 0)
		return (cerr_set(e, MCPGATE_E_INTERNAL, "libcurl initialisation failed"));
	x->q = q;
	x->r = r;
	x->max = q->max_bytes ? q->max_bytes : MCPGATE_RESPONSE_MAX;
	buf_reset(&r->body);
	buf_reset(&r->wwwauth);
	r->status = 0;
	r->content_type[0] = r->session_id[0] = r->location[0] = '\0';
	r->streamed = 0;

	if ((x->h = h = curl_easy_init()) == NULL)
		goto nomem;
	if (buf_printf(&x->line, "Accept: %s", q->accept ? q->accept : "application/json") != 0 ||
	    (nl = curl_slist_append(x->hl, buf_cstr(&x->line))) == NULL)
		goto nomem;
	x->hl = nl;
	if (q->body != NULL) {
		buf_reset(&x->line);
		if (buf_printf(&x->line, "Content-Type: %s",
		        q->content_type ? q->content_type : "application/json") != 0 ||
		    (nl = curl_slist_append(x->hl, buf_cstr(&x->line))) == NULL)
			goto nomem;
		x->hl = nl;
	}
	if (q->authorization != NULL) {
		buf_reset(&x->line);
		if (buf_printf(&x->line, "Authorization: %s", q->authorization) != 0 ||
		    (nl = curl_slist_append(x->hl, buf_cstr(&x->line))) == NULL)
			goto nomem;
		x->hl = nl;
	}
	for (i = 0; i < CHTTP_HEADERS_MAX && q->headers[i] != NULL; i++) {
		if ((nl = curl_slist_append(x->hl, q->headers[i])) == NULL)
			goto nomem;
		x->hl = nl;
	}
	/* No "Expect: 100-continue" round trip. */
	if ((nl = curl_slist_append(x->hl, "Expect:")) == NULL)
		goto nomem;
	x->hl = nl;

	x->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, q->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, q->timeout_ms > 0 ? q->timeout_ms : (long)DEFAULT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hl);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mcpgate/" MCPGATE_VERSION);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
	if (q->body != NULL) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
	}
	if (q->method != NULL && strcmp(q->method, "GET") != 0 && strcmp(q->method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	return (MCPGATE_OK);
nomem:
	return (cerr_set(e, MCPGATE_E_NOMEM, "out of memory"));
}

/* The outcome of ${x}'s transfer, which ended with ${cc}. */
static mcpgate_err
xfer_outcome(struct xfer *x, CURLcode cc, struct cerr *e)
{
	mcpgate_err rv;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->r->status);
	if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && x->consumer_done)) {
		rv = MCPGATE_OK;
	} else if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rv = cerr_set(e, MCPGATE_E_TOO_BIG, "the response from %.200s is larger than %zu bytes", x->q->url,
		    x->max);
	} else if (x->consumer_failed) {
		rv = cerr_set(e, MCPGATE_E_MALFORMED, "malformed event stream from %.200s", x->q->url);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		rv = cerr_set(e, MCPGATE_E_TIMEOUT, "%.200s did not answer in time", x->q->url);
	} else {
		rv = cerr_set(e, MCPGATE_E_NETWORK, "cannot reach %.200s: %s", x->q->url,
		    x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
	}
	if (rv != MCPGATE_OK)
		x->r->status = 0;
	return (rv);
}

static void
xfer_done(struct xfer *x)
{
	buf_clear(&x->line);
	wipe_slist(x->hl);
	x->hl = NULL;
	if (x->h != NULL)
		curl_easy_cleanup(x->h);
	x->h = NULL;
}

mcpgate_err
chttp_do(const struct chttp_req *q, struct chttp_resp *r, struct cerr *e)
{
	struct xfer x;
	mcpgate_err rv;

	memset(&x, 0, sizeof(x));
	if ((rv = xfer_prepare(&x, q, r, e)) == MCPGATE_OK)
		rv = xfer_outcome(&x, curl_easy_perform(x.h), e);
	xfer_done(&x);
	return (rv);
}

mcpgate_err
chttp_do_with(const struct chttp_req *q, struct chttp_resp *r, const struct chttp_req *side,
    struct chttp_resp *side_r, struct cerr *e)
{
	struct xfer x, y;
	struct cerr ignore;
	CURLM *m = NULL;
	CURLMsg *msg;
	CURLcode cc = CURLE_OK;
	mcpgate_err rv;
	int running, left, main_added = 0, main_done = 0, side_on = 0, waited = 0;

	memset(&x, 0, sizeof(x));
	memset(&y, 0, sizeof(y));
	cerr_reset(&ignore);
	if ((rv = xfer_prepare(&x, q, r, e)) != MCPGATE_OK)
		goto out;
	if (xfer_prepare(&y, side, side_r, &ignore) != MCPGATE_OK) {
		/* No side stream: a plain request. */
		rv = xfer_outcome(&x, curl_easy_perform(x.h), e);
		goto out;
	}
	if ((m = curl_multi_init()) == NULL || curl_multi_add_handle(m, y.h) != CURLM_OK) {
		rv = cerr_set(e, MCPGATE_E_NOMEM, "out of memory");
		goto out;
	}
	side_on = 1;
	while (!main_done) {
		/* The side stream first, up to its headers (or SIDE_WAIT_MS), so
		 * that the server knows of it before it sees the request. */
		if (!main_added && (!side_on || y.headers_done || waited >= SIDE_WAIT_MS)) {
			if (curl_multi_add_handle(m, x.h) != CURLM_OK) {
				rv = cerr_set(e, MCPGATE_E_NOMEM, "out of memory");
				goto out;
			}
			main_added = 1;
		}
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rv = cerr_set(e, MCPGATE_E_INTERNAL, "libcurl failed");
			goto out;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			if (msg->easy_handle == x.h) {
				cc = msg->data.result;
				main_done = 1;
			} else if (msg->easy_handle == y.h && side_on) {
				curl_easy_getinfo(y.h, CURLINFO_RESPONSE_CODE, &side_r->status);
				curl_multi_remove_handle(m, y.h);
				side_on = 0;
			}
		}
		if (main_done)
			break;
		if (curl_multi_poll(m, NULL, 0, POLL_MS, NULL) != CURLM_OK) {
			rv = cerr_set(e, MCPGATE_E_INTERNAL, "libcurl failed");
			goto out;
		}
		if (!main_added)
			waited += POLL_MS; /* at least: poll returns early on activity */
	}
	if (side_on) {
		curl_easy_getinfo(y.h, CURLINFO_RESPONSE_CODE, &side_r->status);
		curl_multi_remove_handle(m, y.h);
		side_on = 0;
	}
	curl_multi_remove_handle(m, x.h);
	rv = xfer_outcome(&x, cc, e);
out:
	if (m != NULL) {
		if (side_on)
			curl_multi_remove_handle(m, y.h);
		curl_multi_cleanup(m);
	}
	xfer_done(&y);
	xfer_done(&x);
	return (rv);
}
