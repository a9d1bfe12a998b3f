/* Tests for src/oauth/throttle.c: the failed-login limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* Client addresses: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by
 * /64, so that one subscriber's 2^64 addresses are one key. */
static void
test_addr_key(void **state)
{
	static const struct {
		const char *addr, *key;
	} cases[] = {
	    {"192.0.2.7", "192.0.2.7"},
	    {"127.0.0.1", "127.0.0.1"},
	    {"::ffff:192.0.2.7", "192.0.2.7"},
	    {"::FFFF:c000:0207", "192.0.2.7"},
	    {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
	    {"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
	    {"2001:db8:1:2::", "2001:db8:1:2::/64"},
	    {"2001:db8:1:3::1", "2001:db8:1:3::/64"},
	    {"2001:db8::1", "2001:db8::/64"},
	    {"::1", "::/64"},
	    {"fe80::1:2:3:4", "fe80::/64"},
	    {"unknown", "unknown"},
	    {"", ""},
	};
	char key[THROTTLE_ADDR_KEY_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		throttle_addr_key(cases[i].addr, key);
		if (strcmp(key, cases[i].key) != 0)
			fail_msg("throttle_addr_key(\"%s\") = \"%s\", want \"%s\"", cases[i].addr, key,
			    cases[i].key);
	}
	/* The longest IPv6 text fits with its suffix. */
	throttle_addr_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", key);
	assert_string_equal(key, "ffff:ffff:ffff:ffff::/64");
}

/* The rate limit: max requests per window, the next refused with the
 * seconds left; another address (another /64) is not affected; refused
 * requests are not counted; the window ends. */
static void
test_hit(void **state)
{
	char k1[THROTTLE_ADDR_KEY_MAX], k2[THROTTLE_ADDR_KEY_MAX], k3[THROTTLE_ADDR_KEY_MAX];
	struct throttle *t;
	int64_t ra = 0;
	int i;

	(void)state;
	assert_non_null(t = throttle_new(3, 60));
	throttle_addr_key("2001:db8:0:1::a", k1);
	throttle_addr_key("2001:db8:0:1::b", k2); /* same /64 */
	throttle_addr_key("2001:db8:0:2::a", k3); /* another /64 */
	for (i = 0; i < 3; i++)
		assert_int_equal(throttle_hit(t, i == 1 ? k2 : k1, T0 + i, &ra), 1);
	assert_int_equal(throttle_hit(t, k2, T0 + 10, &ra), 0);
	assert_int_equal(ra, 50);
	assert_int_equal(throttle_hit(t, k1, T0 + 59, &ra), 0);
	assert_int_equal(ra, 1);
	assert_int_equal(throttle_hit(t, k3, T0 + 10, &ra), 1);
	assert_int_equal(throttle_hit(t, k1, T0 + 60, &ra), 1);
	assert_int_equal(throttle_hit(t, k1, T0 + 60, &ra), 1);
	assert_int_equal(throttle_hit(t, k1, T0 + 61, &ra), 1);
	assert_int_equal(throttle_hit(t, k1, T0 + 61, &ra), 0);
	assert_int_equal(ra, 59);
	throttle_free(t);
}

/* A flood of other addresses (more than the table holds) neither grows
 * memory nor lifts the limit of an address that reached it. */
static void
test_hit_flood(void **state)
{
	struct throttle *t;
	char key[THROTTLE_ADDR_KEY_MAX];
	int64_t ra;
	int i;

	(void)state;
	assert_non_null(t = throttle_new(2, 60));
	assert_int_equal(throttle_hit(t, "198.51.100.1", T0, &ra), 1);
	assert_int_equal(throttle_hit(t, "198.51.100.1", T0, &ra), 1);
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		throttle_hit(t, key, T0 + 1, &ra);
	}
	assert_int_equal(throttle_hit(t, "198.51.100.1", T0 + 2, &ra), 0);
	throttle_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_and_window),
	    cmocka_unit_test(test_flood_does_not_unblock),
	    cmocka_unit_test(test_take),
	    cmocka_unit_test(test_addr_key),
	    cmocka_unit_test(test_hit),
	    cmocka_unit_test(test_hit_flood),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
