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

struct xfer {
	const struct chttp_req *q;
	struct chttp_resp *r;
	int sse;	/* decided at the first body byte */
	int decided;
	int too_big;
	int consumer_done;
	int consumer_failed;
	size_t seen;
	size_t max;
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

	/* A new response (after 100 Continue, say) starts over. */
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
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

mcpgate_err
chttp_do(const struct chttp_req *q, struct chttp_resp *r, struct cerr *e)
{
	CURL *h;
	CURLcode cc;
	struct curl_slist *hl = NULL, *nl;
	struct xfer x;
	struct buf line;
	char errbuf[CURL_ERROR_SIZE];
	mcpgate_err rv;
	size_t i;

	if (!url_ok(q->url))
		return (cerr_set(e, MCPGATE_E_INVAL, "not an http(s) URL: %.200s", q->url ? q->url : "(none)"));
	if (chttp_global_init() != 0)
		return (cerr_set(e, MCPGATE_E_INTERNAL, "libcurl initialisation failed"));
	memset(&x, 0, sizeof(x));
	x.q = q;
	x.r = r;
	x.max = q->max_bytes ? q->max_bytes : MCPGATE_RESPONSE_MAX;
	buf_reset(&r->body);
	buf_reset(&r->wwwauth);
	r->status = 0;
	r->content_type[0] = r->session_id[0] = r->location[0] = '\0';
	r->streamed = 0;

	if ((h = curl_easy_init()) == NULL)
		return (cerr_set(e, MCPGATE_E_NOMEM, "out of memory"));
	buf_init(&line, 16384);
	rv = MCPGATE_E_NOMEM;
	if (buf_printf(&line, "Accept: %s", q->accept ? q->accept : "application/json") != 0 ||
	    (nl = curl_slist_append(hl, buf_cstr(&line))) == NULL)
		goto done;
	hl = nl;
	if (q->body != NULL) {
		buf_reset(&line);
		if (buf_printf(&line, "Content-Type: %s",
		        q->content_type ? q->content_type : "application/json") != 0 ||
		    (nl = curl_slist_append(hl, buf_cstr(&line))) == NULL)
			goto done;
		hl = nl;
	}
	if (q->authorization != NULL) {
		buf_reset(&line);
		if (buf_printf(&line, "Authorization: %s", q->authorization) != 0 ||
		    (nl = curl_slist_append(hl, buf_cstr(&line))) == NULL)
			goto done;
		hl = nl;
	}
	for (i = 0; i < CHTTP_HEADERS_MAX && q->headers[i] != NULL; i++) {
		if ((nl = curl_slist_append(hl, q->headers[i])) == NULL)
			goto done;
		hl = nl;
	}
	/* No "Expect: 100-continue" round trip. */
	if ((nl = curl_slist_append(hl, "Expect:")) == NULL)
		goto done;
	hl = nl;

	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, q->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, q->timeout_ms > 0 ? q->timeout_ms : (long)DEFAULT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mcpgate/" MCPGATE_VERSION);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x.max);
	if (q->body != NULL) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
	}
	if (q->method != NULL && strcmp(q->method, "GET") != 0 && strcmp(q->method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);

	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && x.consumer_done)) {
		rv = MCPGATE_OK;
	} else if (x.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rv = cerr_set(e, MCPGATE_E_TOO_BIG, "the response from %.200s is larger than %zu bytes", q->url,
		    x.max);
	} else if (x.consumer_failed) {
		rv = cerr_set(e, MCPGATE_E_MALFORMED, "malformed event stream from %.200s", q->url);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		rv = cerr_set(e, MCPGATE_E_TIMEOUT, "%.200s did not answer in time", q->url);
	} else {
		rv = cerr_set(e, MCPGATE_E_NETWORK, "cannot reach %.200s: %s", q->url,
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	if (rv != MCPGATE_OK)
		r->status = 0;
done:
	if (rv == MCPGATE_E_NOMEM)
		cerr_set(e, rv, "out of memory");
	buf_clear(&line);
	wipe_slist(hl);
	curl_easy_cleanup(h);
	return (rv);
}
