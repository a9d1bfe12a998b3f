/*
 * libFuzzer driver for gateway/bearer: bearer_parse() on an arbitrary
 * Authorization header value, bearer_query_has_token() on the same bytes as
 * a query string.
 *
 * Invariants: the result is BEARER_OK, BEARER_ABSENT or BEARER_MALFORMED;
 * on anything but BEARER_OK the outputs are NULL and 0; on BEARER_OK the
 * token lies inside the header, is 1..BEARER_TOKEN_MAX bytes of the b64token
 * alphabet with '=' only at the end, the header starts (after blanks) with
 * "Bearer" in some case, and "Bearer " + token parses back to the same
 * token.  A query detection is 0 or 1, and prefixing "access_token=x&"
 * always makes it 1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/bearer.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static int
b64token_char(unsigned char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	    c == '.' || c == '_' || c == '~' || c == '+' || c == '/');
}

static void
check_token(const char *hdr, const char *tok, size_t len)
{
	const char *p;
	char *again;
	const char *t2;
	size_t i, l2;

	CHECK(len >= 1 && len <= BEARER_TOKEN_MAX);
	CHECK(tok > hdr && tok + len <= hdr + strlen(hdr));
	for (i = 0; i < len && b64token_char((unsigned char)tok[i]); i++)
		;
	CHECK(i >= 1);
	for (; i < len; i++)
		CHECK(tok[i] == '=');
	for (p = hdr; *p == ' ' || *p == '\t'; p++)
		;
	CHECK(strncasecmp(p, "Bearer ", 7) == 0);

	CHECK((again = malloc(7 + len + 1)) != NULL);
	memcpy(again, "Bearer ", 7);
	memcpy(again + 7, tok, len);
	again[7 + len] = '\0';
	CHECK(bearer_parse(again, &t2, &l2) == BEARER_OK);
	CHECK(l2 == len && memcmp(t2, tok, len) == 0);
	free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char pre[] = "access_token=x&";
	const char *tok = (const char *)1;
	char *hdr, *q;
	size_t len = 1;
	int rc;

	if ((hdr = malloc(size + 1)) == NULL)
		return (0);
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	rc = bearer_parse(hdr, &tok, &len);
	CHECK(rc == BEARER_OK || rc == BEARER_ABSENT || rc == BEARER_MALFORMED);
	if (rc != BEARER_OK)
		CHECK(tok == NULL && len == 0);
	else
		check_token(hdr, tok, len);

	rc = bearer_query_has_token(hdr);
	CHECK(rc == 0 || rc == 1);
	if ((q = malloc(sizeof(pre) + size)) != NULL) {
		memcpy(q, pre, sizeof(pre) - 1);
		memcpy(q + sizeof(pre) - 1, hdr, size + 1);
		CHECK(bearer_query_has_token(q) == 1);
		free(q);
	}
	free(hdr);
	return (0);
}
