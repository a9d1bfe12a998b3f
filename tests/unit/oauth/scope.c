/* Tests for src/oauth/scope.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "oauth/scope.h"

static void
canon(const char *in, const char *want)
{
	struct scope_set s;
	char out[SCOPE_MAX_LEN + 1];

	assert_int_equal(scope_parse(in, &s), 0);
	assert_int_equal(scope_string(&s, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void
test_parse(void **state)
{
	struct scope_set s;

	(void)state;
	canon("mcp:write mcp:read", "mcp:read mcp:write");
	canon("  b  a b a ", "a b");
	canon("", "");
	canon(NULL, "");
	canon("x!#[]~", "x!#[]~");
	assert_int_equal(scope_parse("a\"b", &s), -1);
	assert_int_equal(scope_parse("a\\b", &s), -1);
	assert_int_equal(scope_parse("a\tb", &s), -1);
	assert_int_equal(scope_parse("caf\xc3\xa9", &s), -1);
}

static void
test_limits(void **state)
{
	struct scope_set s;
	char big[SCOPE_MAX_LEN + 2], tok[SCOPE_TOKEN_MAX + 2];
	size_t i, o = 0;
	char out[8];

	(void)state;
	memset(tok, 'a', sizeof(tok));
	tok[SCOPE_TOKEN_MAX] = '\0';
	assert_int_equal(scope_parse(tok, &s), 0);
	tok[SCOPE_TOKEN_MAX] = 'a';
	tok[SCOPE_TOKEN_MAX + 1] = '\0';
	assert_int_equal(scope_parse(tok, &s), -1);
	for (i = 0; i <= SCOPE_MAX_TOKENS; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "s%zu ", i);
	assert_int_equal(scope_parse(big, &s), -1); /* 65 tokens */
	memset(big, ' ', sizeof(big));
	big[SCOPE_MAX_LEN + 1] = '\0';
	assert_int_equal(scope_parse(big, &s), -1); /* too long */
	assert_int_equal(scope_parse("aaaa bbbb", &s), 0);
	assert_int_equal(scope_string(&s, out, sizeof(out)), -1);
}

static void
test_sets(void **state)
{
	struct scope_set a, b, r;
	char out[SCOPE_MAX_LEN + 1];

	(void)state;
	assert_int_equal(scope_parse("mcp:read mcp:write mcp:jira", &a), 0);
	assert_int_equal(scope_parse("mcp:read mcp:github", &b), 0);
	scope_intersect(&a, &b, &r);
	scope_string(&r, out, sizeof(out));
	assert_string_equal(out, "mcp:read");
	scope_intersect(&a, &b, &a); /* aliasing */
	scope_string(&a, out, sizeof(out));
	assert_string_equal(out, "mcp:read");
	assert_int_equal(scope_parse("mcp:read mcp:write mcp:jira", &a), 0);
	scope_union(&a, &b, &r);
	scope_string(&r, out, sizeof(out));
	assert_string_equal(out, "mcp:github mcp:jira mcp:read mcp:write");
	assert_true(scope_subset(&b, &r));
	assert_false(scope_subset(&b, &a));
	assert_true(scope_has(&a, "mcp:jira"));
	assert_false(scope_has(&a, "mcp:github"));
	r.n = 0;
	assert_true(scope_subset(&r, &a));

	/* A copy over a larger set leaves only the source's tokens; union
	 * into one of its operands (aliasing) keeps both. */
	assert_int_equal(scope_parse("x y z w", &r), 0);
	scope_copy(&r, &b);
	scope_string(&r, out, sizeof(out));
	assert_string_equal(out, "mcp:github mcp:read");
	scope_copy(&r, &r);
	assert_int_equal(r.n, 2);
	scope_union(&a, &b, &a);
	scope_string(&a, out, sizeof(out));
	assert_string_equal(out, "mcp:github mcp:jira mcp:read mcp:write");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_sets),
	};

	return (cmocka_run_group_tests_name("oauth/scope", tests, NULL, NULL));
}
