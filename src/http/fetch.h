/*
 * http/fetch: outbound GET requests for documents the server must read from
 * elsewhere (Client ID Metadata Documents, remote JWKS), and form POSTs to
 * configured endpoints (RFC 7662 introspection), on libcurl.
 *
 * Safe by default: https only, no redirects followed, a size cap, a total
 * timeout, and no connection to loopback, private (RFC 1918, RFC 4193),
 * link-local, unspecified or multicast addresses, checked on the address
 * actually connected to (so DNS cannot point us inside), unless
 * ${allow_private} is set (tests).
 */
#ifndef MCPGATE_HTTP_FETCH_H
#define MCPGATE_HTTP_FETCH_H

#include <stddef.h>

#include "core/buf.h"

#define FETCH_URL_MAX 2048

struct fetch_opts {
	size_t max_bytes;   /* response body cap; 0: 5 KiB */
	long timeout_ms;    /* total; 0: 5000 */
	int allow_http;	    /* also allow http:// URLs */
	int allow_private;  /* allow non-public addresses */
	const char *accept; /* Accept header, or NULL for application/json */
};

enum fetch_err {
	FETCH_OK = 0,
	FETCH_BAD_URL,	   /* not an allowed absolute URL */
	FETCH_BLOCKED,	   /* resolved only to forbidden addresses */
	FETCH_TOO_BIG,	   /* body over max_bytes */
	FETCH_TIMEOUT,
	FETCH_NETWORK,	   /* DNS, connect, TLS failure */
	FETCH_STATUS,	   /* not 200 (redirects are not followed) */
};

/* fetch_global_init(): initialise libcurl once for the process.  Call it
 * from main() before any thread starts; fetch_get() also calls it (through
 * pthread_once) if it was not called. */
void fetch_global_init(void);

/* fetch_get(url, opts, body, status): GET ${url} (at most FETCH_URL_MAX
 * characters); on FETCH_OK the body is appended to ${body} (FETCH_TOO_BIG
 * if it does not fit there either), otherwise ${body} is unchanged.
 * ${status} (may be NULL) receives the HTTP status when there was one, else
 * 0.  ${opts} may be NULL for the defaults.  Proxies from the environment are
 * ignored. */
enum fetch_err fetch_get(const char *url, const struct fetch_opts *opts, struct buf *body, long *status);

#define FETCH_FORM_MAX (16 * 1024)
#define FETCH_AUTH_MAX 4096

/* fetch_post_form(url, opts, form, formlen, auth, body, status): POST the
 * ${formlen} bytes of application/x-www-form-urlencoded ${form} (at most
 * FETCH_FORM_MAX) to ${url}, with the header "Authorization: ${auth}" when
 * ${auth} is not NULL (at most FETCH_AUTH_MAX characters, no CR or LF), and
 * otherwise the same rules, limits and results as fetch_get().  A form or
 * header over its limit is FETCH_BAD_URL.  Our copy of the Authorization
 * header is wiped; libcurl's internal copy is freed without wiping. */
enum fetch_err fetch_post_form(const char *url, const struct fetch_opts *opts, const char *form, size_t formlen,
    const char *auth, struct buf *body, long *status);

/* fetch_addr_forbidden(sa): 1 if a fetch of a public document may not
 * connect to ${sa} (loopback, private, link-local, CGNAT, benchmarking,
 * multicast, reserved; IPv4-mapped, NAT64 and 6to4 forms of those; unknown
 * families), else 0.  Exposed for tests. */
struct sockaddr;
int fetch_addr_forbidden(const struct sockaddr *sa);

/* fetch_strerror(e): a short text for ${e}. */
const char *fetch_strerror(enum fetch_err e);

#endif
