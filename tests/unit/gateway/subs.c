/* Unit tests for src/gateway/subs.c: the reference counts of upstream
 * subscriptions per (upstream, subject, URI), the per-holder sets and
 * their limit, and which updated URIs a subscription covers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/subs.h"

static int u1, u2; /* two upstreams, by address */

static void
test_refcounts(void **state)
{
	struct subs *t = subs_new(0);

	(void)state;
	assert_non_null(t);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///a"), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///a"), 0);
	assert_int_equal(subs_refs(t, &u1, NULL, "file:///a"), 2);
	/* Another upstream, another subject, another URI: other keys. */
	assert_int_equal(subs_ref(t, &u2, NULL, "file:///a"), 1);
	assert_int_equal(subs_ref(t, &u1, "alice", "file:///a"), 1);
	assert_int_equal(subs_ref(t, &u1, "bob", "file:///a"), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///b"), 1);
	assert_int_equal(subs_keys(t), 5);
	assert_int_equal(subs_unref(t, &u1, NULL, "file:///a"), 0);
	assert_int_equal(subs_unref(t, &u1, NULL, "file:///a"), 1);
	assert_int_equal(subs_unref(t, &u1, NULL, "file:///a"), -1);
	assert_int_equal(subs_refs(t, &u1, NULL, "file:///a"), 0);
	assert_int_equal(subs_unref(t, &u1, "carol", "file:///a"), -1);
	assert_int_equal(subs_unref(t, &u1, "alice", "file:///a"), 1);
	assert_int_equal(subs_refs(t, &u1, "bob", "file:///a"), 1);
	assert_int_equal(subs_keys(t), 3);
	subs_free(t); /* with keys left */
	subs_free(NULL);
}

static void
test_table_limit(void **state)
{
	struct subs *t = subs_new(2);

	(void)state;
	assert_int_equal(subs_ref(t, &u1, NULL, "a"), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "b"), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "c"), -1);
	assert_int_equal(subs_ref(t, &u1, NULL, "a"), 0); /* an existing key still counts */
	assert_int_equal(subs_unref(t, &u1, NULL, "b"), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "c"), 1);
	subs_free(t);
}

static void
test_sets(void **state)
{
	struct subs_set *s = subs_set_new(3);
	struct subs_item it, taken[4];
	char big[SUBS_URI_MAX + 2];
	size_t n;

	(void)state;
	assert_non_null(s);
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///a", &u1, NULL, "file:///a"), 0);
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///a", &u1, NULL, "file:///a"), 1);
	assert_int_equal(subs_set_add(s, "mcpgate://gh/x", &u2, "alice", "x"), 0);
	assert_int_equal(subs_set_count(s), 2);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(subs_set_add(s, big, &u1, NULL, "y"), -1);
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///b", &u1, NULL, "file:///b"), 0);
	/* Full. */
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///c", &u1, NULL, "file:///c"), -1);
	assert_int_equal(subs_set_count(s), 3);

	assert_int_equal(subs_set_remove(s, "mcpgate://gh/x", &it), 0);
	assert_string_equal(it.orig, "x");
	assert_string_equal(it.subject, "alice");
	assert_ptr_equal(it.u, &u2);
	subs_item_clear(&it);
	assert_null(it.uri);
	assert_int_equal(subs_set_remove(s, "mcpgate://gh/x", &it), -1);
	assert_int_equal(subs_set_count(s), 2);
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///c", &u1, NULL, "file:///c"), 0);

	n = subs_set_take(s, taken, 2);
	assert_int_equal(n, 2);
	assert_int_equal(subs_set_count(s), 1);
	subs_item_clear(&taken[0]);
	subs_item_clear(&taken[1]);
	assert_int_equal(subs_set_take(NULL, taken, 4), 0);
	subs_set_free(s); /* with an item left */
	subs_set_free(NULL);
}

static void
test_covers(void **state)
{
	(void)state;
	assert_true(subs_uri_covers("file:///d", "file:///d"));
	assert_true(subs_uri_covers("file:///d", "file:///d/a.txt"));
	assert_true(subs_uri_covers("file:///d/", "file:///d/a/b"));
	assert_true(subs_uri_covers("test://dir", "test://dir/x"));
	assert_false(subs_uri_covers("file:///d", "file:///dx"));
	assert_false(subs_uri_covers("file:///d", "file:///d?x=1"));
	assert_false(subs_uri_covers("file:///d", "file:///d#f"));
	assert_false(subs_uri_covers("file:///d/a", "file:///d"));
	assert_false(subs_uri_covers("file:///d", "file:///e"));
	assert_false(subs_uri_covers("", "file:///e"));
}

static void
test_match(void **state)
{
	struct subs_set *s = subs_set_new(0);

	(void)state;
	assert_int_equal(subs_set_add(s, "mcpgate://a/test://dir", &u1, NULL, "test://dir"), 0);
	assert_int_equal(subs_set_add(s, "mcpgate://b/x", &u2, "alice", "x"), 0);
	assert_true(subs_set_match(s, &u1, NULL, "test://dir"));
	assert_true(subs_set_match(s, &u1, NULL, "test://dir/f"));
	assert_false(subs_set_match(s, &u2, NULL, "test://dir")); /* another upstream */
	assert_false(subs_set_match(s, &u1, "alice", "test://dir")); /* a per-user instance */
	assert_true(subs_set_match(s, &u2, "alice", "x"));
	assert_false(subs_set_match(s, &u2, "bob", "x")); /* another subject's instance */
	assert_false(subs_set_match(s, &u2, NULL, "x"));
	assert_false(subs_set_match(NULL, &u2, "alice", "x"));
	subs_set_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcounts),
		cmocka_unit_test(test_table_limit),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_covers),
		cmocka_unit_test(test_match),
	};

	return (cmocka_run_group_tests_name("gateway/subs", tests, NULL, NULL));
}
