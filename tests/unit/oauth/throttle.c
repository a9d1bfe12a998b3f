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

/* throttle_take counts before the check passes, so N concurrent attempts
 * cannot all slip through one check; a success gives the address back its
 * attempt and clears the account. */
static void
test_take(void **state)
{
	struct throttle *t;
	int i;

	(void)state;
	assert_non_null(t = throttle_new(3, 300));
	for (i = 0; i < 3; i++)
		assert_int_equal(throttle_take(t, "u:alice", "a:10.0.0.1", 1000), 1);
	/* Three attempts in flight: the fourth is refused before any result. */
	assert_int_equal(throttle_take(t, "u:alice", "a:10.0.0.2", 1000), 0);
	assert_int_equal(throttle_take(t, "u:bob", "a:10.0.0.1", 1000), 0);
	/* A refused attempt counts against neither key. */
	assert_int_equal(throttle_take(t, "u:bob", "a:10.0.0.2", 1000), 1);
	/* One of alice's attempts succeeded. */
	throttle_reset(t, "u:alice");
	throttle_forgive(t, "a:10.0.0.1");
	assert_int_equal(throttle_take(t, "u:alice", "a:10.0.0.1", 1000), 1);
	assert_int_equal(throttle_take(t, "u:carol", "a:10.0.0.1", 1000), 0);
	/* The window ends. */
	assert_int_equal(throttle_take(t, "u:carol", "a:10.0.0.1", 1300), 1);
	throttle_forgive(t, "a:never-seen");
	throttle_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_and_window),
	    cmocka_unit_test(test_flood_does_not_unblock),
	    cmocka_unit_test(test_take),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
