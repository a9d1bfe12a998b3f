#include "oauth/redirect.h"

#include <ctype.h>
#include <string.h>

/* Split "scheme://authority/rest" of an http(s) URL: the authority is
 * [userinfo@]host[:port].  Returns the host span and the port span (empty if
 * none) and a pointer to what follows the authority. */
struct url_parts {
	const char *host;
	size_t hostlen;
	const char *port;
	size_t portlen;
	const char *rest;
};

static int
split_http(const char *uri, size_t schemelen, struct url_parts *u)
{
	const char *a = uri + schemelen + 3, *end, *p;

	end = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(end - a)) != NULL)
		return (-1); /* userinfo */
	if (*a == '[') {
		p = memchr(a, ']', (size_t)(end - a));
		if (p == NULL)
			return (-1);
		u->host = a;
		u->hostlen = (size_t)(p - a) + 1;
		p++;
	} else {
		p = a;
		while (p < end && *p != ':')
			p++;
		u->host = a;
		u->hostlen = (size_t)(p - a);
	}
	if (p < end) {
		if (*p != ':')
			return (-1);
		u->port = p + 1;
		u->portlen = (size_t)(end - p - 1);
		if (u->portlen == 0 || u->portlen > 5)
			return (-1);
		for (p = u->port; p < end; p++)
			if (!isdigit((unsigned char)*p))
				return (-1);
	} else {
		u->port = end;
		u->portlen = 0;
	}
	if (u->hostlen == 0)
		return (-1);
	u->rest = end;
	return (0);
}

static int
span_is(const char *s, size_t n, const char *lit)
{
	return (strlen(lit) == n && strncasecmp(s, lit, n) == 0);
}

static int
is_loopback_host(const char *h, size_t n)
{
	return (span_is(h, n, "127.0.0.1") || span_is(h, n, "[::1]") || span_is(h, n, "localhost"));
}

enum redirect_kind
redirect_classify(const char *uri)
{
	struct url_parts u;
	const char *p, *colon;
	size_t n = strlen(uri), i;

	if (n == 0 || n > REDIRECT_URI_MAX)
		return (REDIRECT_INVALID);
	for (p = uri; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '\\' || *p == '"' ||
		    *p == '<' || *p == '>')
			return (REDIRECT_INVALID);
	if (strchr(uri, '#') != NULL)
		return (REDIRECT_INVALID);
	if (strncmp(uri, "https://", 8) == 0) {
		if (split_http(uri, 5, &u))
			return (REDIRECT_INVALID);
		return (REDIRECT_HTTPS);
	}
	if (strncmp(uri, "http://", 7) == 0) {
		if (split_http(uri, 4, &u) || !is_loopback_host(u.host, u.hostlen))
			return (REDIRECT_INVALID);
		return (REDIRECT_LOOPBACK);
	}
	/* Private-use scheme: RFC 8252 section 7.1 asks for reverse domain
	 * names, so require a dot, which also rules out javascript:, data:,
	 * file:, vbscript: and the like. */
	if ((colon = strchr(uri, ':')) == NULL || colon == uri)
		return (REDIRECT_INVALID);
	if (!isalpha((unsigned char)uri[0]))
		return (REDIRECT_INVALID);
	for (i = 0; uri + i < colon; i++) {
		char c = uri[i];
		if (!isalnum((unsigned char)c) && c != '+' && c != '-' && c != '.')
			return (REDIRECT_INVALID);
	}
	if (memchr(uri, '.', (size_t)(colon - uri)) == NULL || colon[1] == '\0')
		return (REDIRECT_INVALID);
	return (REDIRECT_PRIVATE_USE);
}

int
redirect_match(const char *registered, const char *presented)
{
	struct url_parts a, b;

	if (strcmp(registered, presented) == 0)
		return (redirect_classify(presented) != REDIRECT_INVALID);
	if (redirect_classify(registered) != REDIRECT_LOOPBACK ||
	    redirect_classify(presented) != REDIRECT_LOOPBACK)
		return (0);
	if (split_http(registered, 4, &a) || split_http(presented, 4, &b))
		return (0);
	/* Same host literally (no 127.0.0.1 / localhost equivalence) and the
	 * same path and query; only the port may differ. */
	return (a.hostlen == b.hostlen && strncmp(a.host, b.host, a.hostlen) == 0 &&
	    strcmp(a.rest, b.rest) == 0);
}
