/*
 * gateway/bearer: the bearer token of a request (RFC 6750 section 2.1).
 *
 * The gateway accepts an access token in exactly one place: the
 * Authorization request header, as
 *
 *	credentials = "Bearer" 1*SP b64token
 *	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 *
 * with the scheme name compared case-insensitively.  The form-encoded body
 * parameter (section 2.2) does not apply to JSON-RPC bodies, and the URI
 * query parameter (section 2.3) is never accepted: its tokens end up in
 * access logs, proxies and browser history.  bearer_query_has_token() only
 * detects one so that the endpoint can answer it; the token itself is never
 * read.  What the endpoint answers (see rs_authenticate() in gateway/rs.h):
 *
 *   - access_token in the query and no Authorization header: 401 with the
 *     challenge that carries no error code.  RFC 6750 section 3 counts a
 *     client "attempting an unsupported authentication method" as one that
 *     sent no authentication information.
 *   - access_token in the query and an Authorization header: 400
 *     error="invalid_request", the request "uses more than one method for
 *     including an access token" (RFC 6750 section 3.1).
 *
 * Both functions only look at bytes; they allocate nothing and never copy
 * token material.
 */
#ifndef MCPGATE_GATEWAY_BEARER_H
#define MCPGATE_GATEWAY_BEARER_H

#include <stddef.h>

/* Longest token accepted (the JWT limit of token/jwt.h). */
#define BEARER_TOKEN_MAX 8192

/* Longest Authorization header value examined: the token, the scheme and
 * some spaces. */
#define BEARER_HEADER_MAX (BEARER_TOKEN_MAX + 64)

/* Results of bearer_parse(). */
#define BEARER_OK 0
#define BEARER_ABSENT 1	    /* no header, empty, or another scheme */
#define BEARER_MALFORMED -1 /* scheme Bearer but not a valid b64token */

/* bearer_parse(hdr, tok, len): parse the Authorization header value ${hdr}
 * (NUL-terminated, or NULL when the header is absent).  Leading and trailing
 * spaces and tabs (optional whitespace around a field value) are ignored.
 * Returns BEARER_OK with ${tok} pointing into ${hdr} at the token and ${len}
 * set to its length (1..BEARER_TOKEN_MAX); BEARER_ABSENT if ${hdr} is NULL,
 * blank, or names another scheme (Basic, DPoP, "Bearerx"); BEARER_MALFORMED
 * if the scheme is Bearer but there is no token, no SP after the scheme,
 * more than one token, a byte outside the b64token alphabet, '=' other than
 * at the end, or more than BEARER_TOKEN_MAX bytes (or a header longer than
 * BEARER_HEADER_MAX).  On anything but BEARER_OK, ${tok} is NULL and ${len}
 * 0. */
int bearer_parse(const char *hdr, const char **tok, size_t *len);

/* bearer_query_has_token(query): 1 if the raw query string ${query} (without
 * the '?'; NULL or "" for none) has a parameter whose name, form-urldecoded,
 * is "access_token" (with or without a value), else 0.  Malformed escapes in
 * other names are skipped, not errors. */
int bearer_query_has_token(const char *query);

#endif
