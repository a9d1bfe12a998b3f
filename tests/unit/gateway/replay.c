/* Unit tests for src/gateway/replay.c: ids, the count and byte limits, the
 * events after a given id and the gaps, and the id parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/replay.h"

struct seen {
	uint64_t ids[16];
	char data[16][16];
	size_t n;
};

static void
collect(void *arg, uint64_t id, const char *data, size_t len)
{
	struct seen *s = arg;

	assert_true(s->n < 16 && len < 16);
	s->ids[s->n] = id;
	memcpy(s->data[s->n], data, len);
	s->data[s->n][len] = '\0';
	s->n++;
}

static void
test_since(void **state)
{
	struct replay *r = replay_new(3, 1000);
	struct seen s;

	(void)state;
	assert_int_equal(replay_last(r), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(replay_since(r, 0, collect, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(replay_add(r, "a", 1), 1);
	assert_int_equal(replay_add(r, "b", 1), 2);
	assert_int_equal(replay_add(r, "c", 1), 3);
	assert_int_equal(replay_since(r, 1, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ids[0], 2);
	assert_string_equal(s.data[0], "b");
	assert_string_equal(s.data[1], "c");

	/* A fourth drops the first: a client that saw nothing has a gap. */
	assert_int_equal(replay_add(r, "d", 1), 4);
	memset(&s, 0, sizeof(s));
	assert_int_equal(replay_since(r, 0, collect, &s), -1);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.data[0], "b");
	memset(&s, 0, sizeof(s));
	assert_int_equal(replay_since(r, 1, collect, &s), 0);
	assert_int_equal(s.n, 3);
	/* Up to date, or an id from the future: nothing. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(replay_since(r, 4, collect, &s), 0);
	assert_int_equal(replay_since(r, 99, collect, &s), 0);
	assert_int_equal(s.n, 0);
	replay_free(r);
	replay_free(NULL);
}

static void
test_bytes(void **state)
{
	struct replay *r = replay_new(10, 8);
	struct seen s;

	(void)state;
	replay_add(r, "aaaa", 4);
	replay_add(r, "bbbb", 4);
	replay_add(r, "cc", 2); /* 10 bytes: the first goes */
	memset(&s, 0, sizeof(s));
	assert_int_equal(replay_since(r, 1, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.data[0], "bbbb");
	/* Too large to keep: numbered, and whatever came before is useless. */
	assert_int_equal(replay_add(r, "123456789", 9), 4);
	memset(&s, 0, sizeof(s));
	assert_int_equal(replay_since(r, 2, collect, &s), -1);
	assert_int_equal(s.n, 0);
	assert_int_equal(replay_add(r, "e", 1), 5);
	memset(&s, 0, sizeof(s));
	assert_int_equal(replay_since(r, 4, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.data[0], "e");
	replay_free(r);
}

static void
test_parse(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(replay_parse_id("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(replay_parse_id("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(replay_parse_id("18446744073709551616", &v), -1);
	assert_int_equal(replay_parse_id("000000000000000000001", &v), -1);
	assert_int_equal(replay_parse_id("", &v), -1);
	assert_int_equal(replay_parse_id("12a", &v), -1);
	assert_int_equal(replay_parse_id("-1", &v), -1);
	assert_int_equal(replay_parse_id(" 1", &v), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_since),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_parse),
	};

	return (cmocka_run_group_tests_name("gateway/replay", tests, NULL, NULL));
}
