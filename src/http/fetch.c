#include "http/fetch.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/log.h"

#define FETCH_MAX_DEFAULT (5 * 1024)
#define FETCH_TIMEOUT_DEFAULT 5000L

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ok;

static void
global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		log_err("fetch: curl_global_init failed");
	else
		global_ok = 1;
}

/*
 * fetch_global_init(): initialise libcurl once for the process.
 */
void
fetch_global_init(void)
{
	(void)pthread_once(&global_once, global_init);
}

struct fetch_ctx {
	struct buf body; /* private until the transfer succeeded */
	int too_big;
	int blocked;	 /* a connection was refused by policy */
	int allow_private;
};

static int
v4_forbidden(const uint8_t *a)
{
	return (a[0] == 0 ||				/* 0.0.0.0/8 */
	    a[0] == 10 ||				/* 10/8 */
	    (a[0] == 100 && (a[1] & 0xc0) == 64) ||	/* 100.64/10 CGNAT */
	    a[0] == 127 ||				/* loopback */
	    (a[0] == 169 && a[1] == 254) ||		/* link-local */
	    (a[0] == 172 && (a[1] & 0xf0) == 16) ||	/* 172.16/12 */
	    (a[0] == 192 && a[1] == 168) ||		/* 192.168/16 */
	    (a[0] == 192 && a[1] == 0 && a[2] == 0) ||	/* 192.0.0/24 IETF protocol assignments */
	    (a[0] == 198 && (a[1] & 0xfe) == 18) ||	/* 198.18/15 benchmarking */
	    a[0] >= 224);				/* multicast, reserved, broadcast */
}

/* 1 if a connection to ${sa} is not allowed for a fetch of a public
 * document (fails closed on unknown families). */
int
fetch_addr_forbidden(const struct sockaddr *sa)
{
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t zero[12];
	const struct sockaddr_in6 *s6;
	const struct sockaddr_in *s4;
	const uint8_t *a;

	if (sa->sa_family == AF_INET) {
		uint8_t v4[4];

		s4 = (const struct sockaddr_in *)(const void *)sa;
		memcpy(v4, &s4->sin_addr.s_addr, sizeof(v4));
		return (v4_forbidden(v4));
	}
	if (sa->sa_family != AF_INET6)
		return (1);
	s6 = (const struct sockaddr_in6 *)(const void *)sa;
	a = s6->sin6_addr.s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) || memcmp(a, nat64, 12) == 0)
		return (v4_forbidden(a + 12));
	/* Local-use NAT64 (RFC 8215) may translate to anything inside. */
	if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0x00 && a[5] == 0x01)
		return (1);
	/* 6to4 (2002::/16) carries an IPv4 address in bits 16-47. */
	if (a[0] == 0x20 && a[1] == 0x02)
		return (v4_forbidden(a + 2));
	if (memcmp(a, zero, 12) == 0)		/* ::, ::1, IPv4-compatible */
		return (1);
	return ((a[0] & 0xfe) == 0xfc ||	/* fc00::/7 unique local */
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||	/* fe80::/10 link-local */
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) ||	/* fec0::/10 site-local */
	    a[0] == 0xff);			/* multicast */
}

static curl_socket_t
open_cb(void *cls, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct fetch_ctx *ctx = cls;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return (CURL_SOCKET_BAD);
	if (!ctx->allow_private && fetch_addr_forbidden(&addr->addr)) {
		ctx->blocked = 1;
		return (CURL_SOCKET_BAD);
	}
	return (socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol));
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *cls)
{
	struct fetch_ctx *ctx = cls;
	size_t n = size * nmemb;

	if (buf_add(&ctx->body, p, n)) {
		ctx->too_big = 1;
		return (0);
	}
	return (n);
}

/* The URL must be absolute, short, http(s) as allowed, with a host. */
static int
url_ok(const char *url, int allow_http)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if (strnlen(url, FETCH_URL_MAX + 1) > FETCH_URL_MAX)
		return (0);
	if ((u = curl_url()) == NULL)
		return (0);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (host[0] == '\0')
		goto out;
	if (strcasecmp(scheme, "https") == 0 || (allow_http && strcasecmp(scheme, "http") == 0))
		ok = 1;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return (ok);
}

/* transfer(url, opts, form, formlen, auth, body, status): the request of
 * fetch_get() (${form} NULL) or fetch_post_form(). */
static enum fetch_err
transfer(const char *url, const struct fetch_opts *opts, const char *form, size_t formlen, const char *auth,
    struct buf *body, long *status)
{
	static const struct fetch_opts defaults;
	struct curl_slist *hdrs = NULL, *h;
	struct buf authhdr;
	struct fetch_ctx ctx;
	char accept[256];
	enum fetch_err e;
	CURLcode cc;
	CURL *c;
	long code = 0;
	size_t max;

	if (status != NULL)
		*status = 0;
	if (opts == NULL)
		opts = &defaults;
	fetch_global_init();
	if (!global_ok)
		return (FETCH_NETWORK);
	if (!url_ok(url, opts->allow_http))
		return (FETCH_BAD_URL);
	max = opts->max_bytes ? opts->max_bytes : FETCH_MAX_DEFAULT;
	memset(&ctx, 0, sizeof(ctx));
	buf_init(&ctx.body, max);
	ctx.allow_private = opts->allow_private;
	if ((size_t)snprintf(accept, sizeof(accept), "Accept: %s",
	    opts->accept ? opts->accept : "application/json") >= sizeof(accept) ||
	    strpbrk(accept, "\r\n") != NULL)
		return (FETCH_BAD_URL);
	if ((c = curl_easy_init()) == NULL)
		return (FETCH_NETWORK);
	if ((hdrs = curl_slist_append(NULL, accept)) == NULL) {
		curl_easy_cleanup(c);
		return (FETCH_NETWORK);
	}
	if (auth != NULL) {
		buf_init(&authhdr, FETCH_AUTH_MAX + 32);
		h = NULL;
		if (strpbrk(auth, "\r\n") == NULL && buf_printf(&authhdr, "Authorization: %s", auth) == 0)
			h = curl_slist_append(hdrs, buf_cstr(&authhdr));
		buf_clear(&authhdr);
		if (h == NULL) {
			curl_slist_free_all(hdrs);
			curl_easy_cleanup(c);
			return (FETCH_BAD_URL);
		}
		hdrs = h;
	}
	if (form != NULL) {
		if ((h = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded")) == NULL) {
			curl_slist_free_all(hdrs);
			curl_easy_cleanup(c);
			return (FETCH_NETWORK);
		}
		hdrs = h;
		if (curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)formlen) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form) != CURLE_OK) {
			e = FETCH_NETWORK;
			goto out;
		}
	}
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, opts->allow_http ? "http,https" : "https") !=
		CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
		opts->timeout_ms > 0 ? opts->timeout_ms : FETCH_TIMEOUT_DEFAULT) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
		opts->timeout_ms > 0 ? opts->timeout_ms : FETCH_TIMEOUT_DEFAULT) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ctx) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_cb) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &ctx) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "mcpgate") != CURLE_OK) {
		log_warn("fetch: cannot configure libcurl");
		e = FETCH_NETWORK;
		goto out;
	}
	cc = curl_easy_perform(c);
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (status != NULL)
		*status = code;
	if (cc == CURLE_OK)
		e = code == 200 ? FETCH_OK : FETCH_STATUS;
	else if (ctx.too_big || cc == CURLE_FILESIZE_EXCEEDED)
		e = FETCH_TOO_BIG;
	else if (cc == CURLE_OPERATION_TIMEDOUT)
		e = FETCH_TIMEOUT;
	else if (ctx.blocked && cc == CURLE_COULDNT_CONNECT)
		e = FETCH_BLOCKED;
	else if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT)
		e = FETCH_BAD_URL;
	else
		e = FETCH_NETWORK;
	if (e == FETCH_OK && buf_add(body, buf_cstr(&ctx.body), ctx.body.len))
		e = FETCH_TOO_BIG;
	if (e != FETCH_OK && e != FETCH_STATUS)
		log_info("fetch: %s failed: %s%s%s%s", form ? "POST" : "GET", fetch_strerror(e), cc ? " (" : "",
		    cc ? curl_easy_strerror(cc) : "", cc ? ")" : "");
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	buf_clear(&ctx.body);
	return (e);
}

/*
 * fetch_get(url, opts, body, status): GET ${url}; on FETCH_OK the body is
 * appended to ${body}.  ${status} receives the HTTP status when there was
 * one.
 */
enum fetch_err
fetch_get(const char *url, const struct fetch_opts *opts, struct buf *body, long *status)
{

	return (transfer(url, opts, NULL, 0, NULL, body, status));
}

/*
 * fetch_post_form(url, opts, form, formlen, auth, body, status): POST the
 * ${formlen} bytes of form-urlencoded ${form} to ${url} with the same limits
 * as fetch_get(), and "Authorization: ${auth}" when ${auth} is not NULL.
 */
enum fetch_err
fetch_post_form(const char *url, const struct fetch_opts *opts, const char *form, size_t formlen,
    const char *auth, struct buf *body, long *status)
{

	if (form == NULL || formlen > FETCH_FORM_MAX || (auth != NULL && strlen(auth) > FETCH_AUTH_MAX)) {
		if (status != NULL)
			*status = 0;
		return (FETCH_BAD_URL);
	}
	return (transfer(url, opts, form, formlen, auth, body, status));
}

/*
 * fetch_strerror(e): a short text for ${e}.
 */
const char *
fetch_strerror(enum fetch_err e)
{
	switch (e) {
	case FETCH_OK:
		return ("ok");
	case FETCH_BAD_URL:
		return ("URL not allowed");
	case FETCH_BLOCKED:
		return ("address not allowed");
	case FETCH_TOO_BIG:
		return ("response too large");
	case FETCH_TIMEOUT:
		return ("timed out");
	case FETCH_NETWORK:
		return ("network error");
	case FETCH_STATUS:
		return ("unexpected HTTP status");
	}
	return ("unknown error");
}
