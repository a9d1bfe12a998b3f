/*
 * client/wwwauth: a strict, bounded parser for WWW-Authenticate.
 */
#include "client/wwwauth.h"

#include <string.h>
#include <strings.h>

struct cur {
	const char *p;
	const char *end;
};

/* tchar (RFC 9110 section 5.6.2). */
static int
tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return (1);
	return (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* token68 characters, without the trailing '='. */
static int
t68char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return (1);
	return (c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/');
}

static void
skip_ows(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

/* Skip OWS, commas and OWS: the separators of a list (empty elements are
 * allowed, RFC 9110 section 5.6.1). */
static void
skip_list_sep(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == ','))
		c->p++;
}

static size_t
token(struct cur *c)
{
	const char *s = c->p;

	while (c->p < c->end && tchar((unsigned char)*c->p))
		c->p++;
	return ((size_t)(c->p - s));
}

/* Read a token or quoted-string value into ${out} (NULL: discard).  Returns
 * 0 or -1 (malformed or too long). */
static int
value(struct cur *c, char *out)
{
	size_t n = 0;
	unsigned char ch;

	if (c->p < c->end && *c->p == '"') {
		c->p++;
		for (;;) {
			if (c->p >= c->end)
				return (-1);
			ch = (unsigned char)*c->p++;
			if (ch == '"')
				break;
			if (ch == '\\') {
				if (c->p >= c->end)
					return (-1);
				ch = (unsigned char)*c->p++;
			}
			/* qdtext and quoted-pair allow HTAB, SP, VCHAR and obs-text. */
			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				return (-1);
			if (n >= WWWAUTH_VALUE_MAX)
				return (-1);
			if (out != NULL)
				out[n] = (char)ch;
			n++;
		}
	} else {
		const char *s = c->p;

		n = token(c);
		if (n == 0 || n > WWWAUTH_VALUE_MAX)
			return (-1);
		if (out != NULL)
			memcpy(out, s, n);
	}
	if (out != NULL)
		out[n] = '\0';
	return (0);
}

/* Is the text at ${c} "token BWS =" but not "token68" followed by the end of
 * the element?  Decides whether an element is an auth-param. */
static int
at_param(const struct cur *c)
{
	struct cur t = *c;

	if (token(&t) == 0)
		return (0);
	skip_ows(&t);
	if (t.p >= t.end || *t.p != '=')
		return (0);
	/* "abc=" or "abc==" then end or comma is a token68 with padding. */
	while (t.p < t.end && *t.p == '=')
		t.p++;
	skip_ows(&t);
	if (t.p >= t.end || *t.p == ',')
		return (0);
	return (1);
}

/* Is the element at ${c} a token68 (then end of element)? */
static int
at_token68(const struct cur *c)
{
	struct cur t = *c;
	size_t n = 0;

	while (t.p < t.end && t68char((unsigned char)*t.p)) {
		t.p++;
		n++;
	}
	if (n == 0)
		return (0);
	while (t.p < t.end && *t.p == '=')
		t.p++;
	skip_ows(&t);
	return (t.p >= t.end || *t.p == ',');
}

int
wwwauth_parse(const char *s, size_t n, struct wwwauth *w)
{
	struct cur c = { s, s + n };
	const char *name;
	size_t nlen, i;
	int in_bearer = 0, done = 0;
	unsigned seen = 0;
	char *slot;

	memset(w, 0, sizeof(*w));
	for (i = 0; i < n; i++) {
		/* Header values never hold NUL, CR or LF (obs-fold is gone). */
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n')
			goto bad;
	}
	skip_list_sep(&c);
	while (c.p < c.end) {
		/* A new challenge: auth-scheme. */
		name = c.p;
		if ((nlen = token(&c)) == 0)
			goto bad;
		if (c.p < c.end && *c.p == '=')
			goto bad; /* a parameter where a scheme must be */
		in_bearer = (!done && nlen == 6 && strncasecmp(name, "Bearer", 6) == 0);
		if (in_bearer) {
			w->bearer = 1;
			seen = 0;
		}
		if (c.p < c.end && *c.p != ' ' && *c.p != '\t' && *c.p != ',')
			goto bad;
		skip_ows(&c);
		if (c.p < c.end && *c.p != ',' && at_token68(&c) && !at_param(&c)) {
			while (c.p < c.end && (t68char((unsigned char)*c.p) || *c.p == '='))
				c.p++;
			skip_ows(&c);
			if (c.p < c.end && *c.p != ',')
				goto bad;
		} else {
			/* #auth-param, until an element that is not a parameter. */
			for (;;) {
				skip_list_sep(&c);
				if (c.p >= c.end || !at_param(&c))
					break;
				name = c.p;
				nlen = token(&c);
				skip_ows(&c);
				c.p++; /* '=' */
				skip_ows(&c);
				slot = NULL;
				if (in_bearer) {
					static const char *const names[] = { "resource_metadata", "scope", "error",
						"error_description" };
					char *slots[] = { w->resource_metadata, w->scope, w->error,
						w->error_description };
					unsigned k;

					for (k = 0; k < 4; k++) {
						if (nlen == strlen(names[k]) &&
						    strncasecmp(name, names[k], nlen) == 0) {
							if (seen & (1u << k))
								goto bad;
							seen |= 1u << k;
							slot = slots[k];
						}
					}
				}
				if (value(&c, slot) != 0)
					goto bad;
				skip_ows(&c);
				if (c.p < c.end && *c.p != ',')
					goto bad;
			}
		}
		if (in_bearer)
			done = 1;
		skip_list_sep(&c);
	}
	return (0);
bad:
	memset(w, 0, sizeof(*w));
	return (-1);
}
