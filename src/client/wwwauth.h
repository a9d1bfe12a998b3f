/*
 * client/wwwauth: the WWW-Authenticate header (RFC 9110 section 11.6.1),
 * reduced to what an OAuth client needs from a Bearer challenge (RFC 6750
 * section 3, RFC 9728 section 5.1).
 *
 *   WWW-Authenticate = #challenge
 *   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *
 * Several header lines are joined with ", " before parsing.  Scheme and
 * parameter names are case-insensitive.  Of the first Bearer challenge, the
 * parameters resource_metadata, scope, error and error_description are kept;
 * others are skipped.  A parameter given twice in one challenge, an
 * unterminated quoted string, a control character or a value longer than
 * WWWAUTH_VALUE_MAX makes the header malformed.
 */
#ifndef MCPGATE_CLIENT_WWWAUTH_H
#define MCPGATE_CLIENT_WWWAUTH_H

#include <stddef.h>

#define WWWAUTH_VALUE_MAX 2048

struct wwwauth {
	int bearer; /* a Bearer challenge was present */
	/* Values of the Bearer challenge, unquoted; "" when absent. */
	char resource_metadata[WWWAUTH_VALUE_MAX + 1];
	char scope[WWWAUTH_VALUE_MAX + 1];
	char error[WWWAUTH_VALUE_MAX + 1];
	char error_description[WWWAUTH_VALUE_MAX + 1];
};

/* wwwauth_parse(s, n, w): parse the ${n} bytes at ${s} (need not be
 * NUL-terminated) into ${w}.  Returns 0 (with w->bearer 0 when there is no
 * Bearer challenge), or -1 if the header is malformed (then ${w} is empty). */
int wwwauth_parse(const char *s, size_t n, struct wwwauth *w);

#endif
