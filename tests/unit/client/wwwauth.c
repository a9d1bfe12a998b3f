/* Tests for src/client/wwwauth.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "client/wwwauth.h"

static int
parse(const char *s, struct wwwauth *w)
{
	return (wwwauth_parse(s, strlen(s), w));
}

static void
test_bearer(void **state)
{
	struct wwwauth w;

	(void)state;
	assert_int_equal(parse("Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource\", "
			       "scope=\"files:read files:write\"",
			     &w),
	    0);
	assert_true(w.bearer);
	assert_string_equal(w.resource_metadata, "https://mcp.example.com/.well-known/oauth-protected-resource");
	assert_string_equal(w.scope, "files:read files:write");
	assert_string_equal(w.error, "");

	/* Case-insensitive scheme and names, token values, BWS around '='. */
	assert_int_equal(parse("bEaReR ERROR = insufficient_scope ,Scope=\"a\"", &w), 0);
	assert_true(w.bearer);
	assert_string_equal(w.error, "insufficient_scope");
	assert_string_equal(w.scope, "a");

	/* Escapes in quoted strings. */
	assert_int_equal(parse("Bearer error_description=\"say \\\"hi\\\" \\\\ there\"", &w), 0);
	assert_string_equal(w.error_description, "say \"hi\" \\ there");

	/* No parameters at all. */
	assert_int_equal(parse("Bearer", &w), 0);
	assert_true(w.bearer);
	assert_string_equal(w.scope, "");
}

static void
test_several(void **state)
{
	struct wwwauth w;

	(void)state;
	/* A Basic challenge with a token68 first, then Bearer. */
	assert_int_equal(parse("Basic dXNlcjpwYXNz==, Bearer scope=\"x\", realm=\"r\"", &w), 0);
	assert_true(w.bearer);
	assert_string_equal(w.scope, "x");
	/* Parameters of another scheme are not Bearer's. */
	assert_int_equal(parse("DPoP scope=\"dpop\", algs=\"ES256\", Bearer scope=\"b\"", &w), 0);
	assert_true(w.bearer);
	assert_string_equal(w.scope, "b");
	/* Only the first Bearer challenge counts. */
	assert_int_equal(parse("Bearer scope=\"one\", Bearer scope=\"two\"", &w), 0);
	assert_string_equal(w.scope, "one");
	/* No Bearer. */
	assert_int_equal(parse("Basic realm=\"x\"", &w), 0);
	assert_false(w.bearer);
	/* Empty list elements are allowed. */
	assert_int_equal(parse(" , ,Bearer  scope=a,, error=b ,", &w), 0);
	assert_string_equal(w.scope, "a");
	assert_string_equal(w.error, "b");
	assert_int_equal(parse("", &w), 0);
	assert_false(w.bearer);
}

static void
test_malformed(void **state)
{
	struct wwwauth w;
	char big[WWWAUTH_VALUE_MAX + 64];

	(void)state;
	assert_int_equal(parse("Bearer scope=\"unterminated", &w), -1);
	assert_false(w.bearer);
	assert_int_equal(parse("Bearer scope=\"a\", scope=\"b\"", &w), -1);
	/* "scope=" alone is a token68 (with padding), not a parameter. */
	assert_int_equal(parse("Bearer scope=", &w), 0);
	assert_true(w.bearer);
	assert_string_equal(w.scope, "");
	assert_int_equal(parse("Bearer scope=,", &w), 0);
	assert_int_equal(parse("Bearer a=b c", &w), -1);
	/* "c" after a comma is the scheme of another challenge. */
	assert_int_equal(parse("Bearer a=b, c", &w), 0);
	assert_int_equal(parse("=Bearer", &w), -1);
	assert_int_equal(parse("Bearer scope=\"a\" junk", &w), -1);
	assert_int_equal(parse("Bearer scope=\"a\x01\"", &w), -1);
	assert_int_equal(wwwauth_parse("Bearer scope=\"a\0b\"", 17, &w), -1);
	assert_int_equal(parse("Bearer scope=\"a\"\r\n", &w), -1);
	/* Over-long values are refused, not cut. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "Bearer scope=", 13);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(big, &w), -1);
	/* At the limit exactly it fits. */
	big[13 + WWWAUTH_VALUE_MAX] = '\0';
	assert_int_equal(parse(big, &w), 0);
	assert_int_equal(strlen(w.scope), WWWAUTH_VALUE_MAX);
	/* Not NUL-terminated input: only n bytes are read. */
	assert_int_equal(wwwauth_parse("Bearer scope=abcdef", 16, &w), 0);
	assert_string_equal(w.scope, "abc");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_several),
		cmocka_unit_test(test_malformed),
	};

	return (cmocka_run_group_tests_name("client/wwwauth", tests, NULL, NULL));
}
