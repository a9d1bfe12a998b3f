/* Unit tests for src/gateway/bearer.c, through its header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/bearer.h"

/* ok(hdr, want): bearer_parse() accepts ${hdr} with token ${want}. */
static void
ok(const char *hdr, const char *want)
{
	const char *tok = NULL;
	size_t len = 0;

	assert_int_equal(bearer_parse(hdr, &tok, &len), BEARER_OK);
	assert_non_null(tok);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(tok, want, len);
	/* The token points into the header: no copy. */
	assert_true(tok >= hdr && tok + len <= hdr + strlen(hdr));
}

static void
rc(const char *hdr, int want)
{
	const char *tok = (const char *)1;
	size_t len = 1;

	assert_int_equal(bearer_parse(hdr, &tok, &len), want);
	assert_null(tok);
	assert_int_equal(len, 0);
}

static void
test_rfc6750_examples(void **state)
{
	(void)state;
	/* RFC 6750 section 2.1 and the examples of section 3. */
	ok("Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM");
	/* b64token: the whole alphabet and trailing '='. */
	ok("Bearer AZaz09-._~+/", "AZaz09-._~+/");
	ok("Bearer abc==", "abc==");
	rc("Bearer =", BEARER_MALFORMED); /* 1*b64token-char first */
	/* A JWT. */
	ok("Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln");
}

static void
test_scheme_case_and_spaces(void **state)
{
	(void)state;
	ok("bearer tok", "tok");
	ok("BEARER tok", "tok");
	ok("BeArEr tok", "tok");
	ok("Bearer    tok", "tok");
	/* Optional whitespace around the field value. */
	ok("  Bearer tok  ", "tok");
	ok("\tBearer tok\t", "tok");
}

static void
test_absent(void **state)
{
	(void)state;
	rc(NULL, BEARER_ABSENT);
	rc("", BEARER_ABSENT);
	rc("   ", BEARER_ABSENT);
	rc("Basic YTpi", BEARER_ABSENT);
	rc("DPoP tok", BEARER_ABSENT);
	rc("Bearerx tok", BEARER_ABSENT);
	rc("Bear tok", BEARER_ABSENT);
	rc("tok", BEARER_ABSENT);
}

static void
test_malformed(void **state)
{
	(void)state;
	rc("Bearer", BEARER_MALFORMED);
	rc("Bearer ", BEARER_MALFORMED);
	rc("Bearer    ", BEARER_MALFORMED);
	rc("Bearer\ttok", BEARER_MALFORMED);
	rc("Bearer a b", BEARER_MALFORMED);
	rc("Bearer a,b", BEARER_MALFORMED);
	rc("Bearer a=b", BEARER_MALFORMED);
	rc("Bearer ==a", BEARER_MALFORMED);
	rc("Bearer tok\r\n", BEARER_MALFORMED);
	rc("Bearer t\"k", BEARER_MALFORMED);
	rc("Bearer t%20k", BEARER_MALFORMED);
	rc("Bearer realm=\"x\"", BEARER_MALFORMED);
	rc("Bearer \xc3\xa9", BEARER_MALFORMED);
	rc("Bearer tok\x01", BEARER_MALFORMED);
}

static void
test_length(void **state)
{
	char *h = malloc(7 + BEARER_TOKEN_MAX + 2);

	(void)state;
	assert_non_null(h);
	memcpy(h, "Bearer ", 7);
	memset(h + 7, 'a', BEARER_TOKEN_MAX);
	h[7 + BEARER_TOKEN_MAX] = '\0';
	{
		const char *tok;
		size_t len;

		assert_int_equal(bearer_parse(h, &tok, &len), BEARER_OK);
		assert_int_equal(len, BEARER_TOKEN_MAX);
	}
	h[7 + BEARER_TOKEN_MAX] = 'a';
	h[7 + BEARER_TOKEN_MAX + 1] = '\0';
	rc(h, BEARER_MALFORMED);
	free(h);
}

static void
test_query(void **state)
{
	(void)state;
	assert_int_equal(bearer_query_has_token(NULL), 0);
	assert_int_equal(bearer_query_has_token(""), 0);
	assert_int_equal(bearer_query_has_token("a=1&b=2"), 0);
	assert_int_equal(bearer_query_has_token("access_token=x"), 1);
	assert_int_equal(bearer_query_has_token("a=1&access_token=x"), 1);
	assert_int_equal(bearer_query_has_token("a=1&access_token"), 1);
	assert_int_equal(bearer_query_has_token("access_token="), 1);
	assert_int_equal(bearer_query_has_token("access%5Ftoken=x"), 1);
	assert_int_equal(bearer_query_has_token("%61ccess_token=x"), 1);
	assert_int_equal(bearer_query_has_token("x=access_token"), 0);
	assert_int_equal(bearer_query_has_token("access_tokens=x"), 0);
	assert_int_equal(bearer_query_has_token("access_toke=x"), 0);
	assert_int_equal(bearer_query_has_token("my_access_token=x"), 0);
	assert_int_equal(bearer_query_has_token("access+token=x"), 0);
	assert_int_equal(bearer_query_has_token("access_token%=x"), 0);
	assert_int_equal(bearer_query_has_token("%zz=1&access_token=x"), 1);
	assert_int_equal(bearer_query_has_token("&&access_token=x&&"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6750_examples),
		cmocka_unit_test(test_scheme_case_and_spaces),
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_query),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
