#include "gateway/bearer.h"

#include <string.h>
#include <strings.h>

#include "core/hex.h"

/* The b64token alphabet without the trailing '=' (RFC 6750, 2.1), as a
 * table: a token is checked on every request, a byte at a time. */
static const unsigned char b64token[256] = {
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['+'] = 1, ['/'] = 1,
};

static int
b64token_char(unsigned char c)
{
	return (b64token[c]);
}

static int
ows(char c)
{
	return (c == ' ' || c == '\t');
}

/*
 * bearer_parse(hdr, tok, len): parse the Authorization header value ${hdr}.
 * Returns BEARER_OK with ${tok} and ${len} set, BEARER_ABSENT for no header
 * or another scheme, BEARER_MALFORMED for a broken Bearer credential.
 */
int
bearer_parse(const char *hdr, const char **tok, size_t *len)
{
	const char *p, *end, *t;
	size_t n;

	*tok = NULL;
	*len = 0;
	if (hdr == NULL)
		return (BEARER_ABSENT);
	for (p = hdr; ows(*p); p++)
		;
	if (*p == '\0')
		return (BEARER_ABSENT);

	/* The scheme is a token; only "Bearer" (any case) is ours. */
	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != '\0' && p[6] != ' ' && p[6] != '\t'))
		return (BEARER_ABSENT);
	if ((n = strnlen(hdr, BEARER_HEADER_MAX + 1)) > BEARER_HEADER_MAX)
		return (BEARER_MALFORMED);
	end = hdr + n;
	while (end > p && ows(end[-1]))
		end--;

	/* 1*SP (a tab is not allowed between scheme and token). */
	p += 6;
	if (p == end || *p != ' ')
		return (BEARER_MALFORMED);
	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return (BEARER_MALFORMED);

	/* 1*b64token-char *"=" and nothing after. */
	t = p;
	while (p < end && b64token_char((unsigned char)*p))
		p++;
	if (p == t)
		return (BEARER_MALFORMED);
	while (p < end && *p == '=')
		p++;
	if (p != end)
		return (BEARER_MALFORMED);
	n = (size_t)(end - t);
	if (n > BEARER_TOKEN_MAX)
		return (BEARER_MALFORMED);
	*tok = t;
	*len = n;
	return (BEARER_OK);
}

/* name_is_access_token(p, n): 1 if the ${n} bytes at ${p}, form-urldecoded,
 * spell "access_token".  Decoding on the fly: no copy, no allocation. */
static int
name_is_access_token(const char *p, size_t n)
{
	static const char want[] = "access_token";
	size_t i, j = 0;
	int hi, lo;
	char c;

	for (i = 0; i < n; i++) {
		c = p[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (i + 2 >= n || (hi = hex_value((unsigned char)p[i + 1])) < 0 ||
			    (lo = hex_value((unsigned char)p[i + 2])) < 0)
				return (0);
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (j >= sizeof(want) - 1 || c != want[j])
			return (0);
		j++;
	}
	return (j == sizeof(want) - 1);
}

/*
 * bearer_query_has_token(query): 1 if the query string ${query} has an
 * access_token parameter, else 0.
 */
int
bearer_query_has_token(const char *query)
{
	const char *p, *amp, *eq;
	size_t n;

	if (query == NULL)
		return (0);
	for (p = query; *p != '\0'; p = *amp ? amp + 1 : amp) {
		if ((amp = strchr(p, '&')) == NULL)
			amp = p + strlen(p);
		n = (size_t)(amp - p);
		if ((eq = memchr(p, '=', n)) != NULL)
			n = (size_t)(eq - p);
		if (name_is_access_token(p, n))
			return (1);
	}
	return (0);
}
