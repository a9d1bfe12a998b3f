/* Tests for src/oauth/throttle.c: the failed-login limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "oauth/internal.h"

#define T0 ((int64_t)1700000000)

static void
test_limit_and_window(void **state)
{
	struct throttle *t;
	int i;

	(void)state;
	assert_non_null(t = throttle_new(5, 300));
	for (i = 0; i < 4; i++)
		throttle_fail(t, "u:alice", T0);
	assert_int_equal(throttle_blocked(t, "u:alice", T0), 0);
	throttle_fail(t, "u:alice", T0);
	assert_int_equal(throttle_blocked(t, "u:alice", T0 + 299), 1);
	assert_int_equal(throttle_blocked(t, "u:bob", T0), 0);
	assert_int_equal(throttle_blocked(t, "u:alice", T0 + 300), 0);
	throttle_fail(t, "u:bob", T0);
	throttle_reset(t, "u:bob");
	assert_int_equal(throttle_blocked(t, "u:bob", T0), 0);
	throttle_free(t);
}

/* Failures for many other keys (a flood from many addresses) must not
 * evict the entry that blocks an account, which would reopen it to
 * guessing. */
static void
test_flood_does_not_unblock(void **state)
{
	struct throttle *t;
	char key[32];
	int i;

	(void)state;
	assert_non_null(t = throttle_new(5, 300));
	for (i = 0; i < 5; i++)
		throttle_fail(t, "u:victim", T0);
	assert_int_equal(throttle_blocked(t, "u:victim", T0), 1);
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "u:other%d", i);
		throttle_fail(t, key, T0 + 1);
	}
	assert_int_equal(throttle_blocked(t, "u:victim", T0 + 2), 1);
	throttle_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_and_window),
	    cmocka_unit_test(test_flood_does_not_unblock),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
