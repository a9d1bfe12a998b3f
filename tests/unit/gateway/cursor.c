/* Tests for src/gateway/cursor.c: round trips, and every way a cursor the
 * gateway did not issue is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/b64.h"
#include "gateway/cursor.h"

static int
dec(const struct cursor_key *k, const char *t, unsigned list, uint64_t *gen, uint32_t *pos)
{
	return (cursor_decode(k, t, t != NULL ? strlen(t) : 0, list, gen, pos));
}

static void
test_round_trip(void **state)
{
	static const uint64_t gens[] = {0, 1, 2, 255, 256, 0x0123456789abcdefULL, UINT64_MAX};
	static const uint32_t poss[] = {0, 1, 99, 100, 65536, UINT32_MAX};
	struct cursor_key k;
	char t[CURSOR_TEXT_LEN + 1], t2[CURSOR_TEXT_LEN + 1];
	uint64_t g;
	uint32_t p;
	size_t i, j;
	unsigned list;

	(void)state;
	assert_int_equal(cursor_key_init(&k), 0);
	assert_int_equal(B64URL_LEN(CURSOR_RAW_BYTES + CURSOR_TAG_BYTES), CURSOR_TEXT_LEN);
	for (list = 0; list < 4; list++)
		for (i = 0; i < sizeof(gens) / sizeof(gens[0]); i++)
			for (j = 0; j < sizeof(poss) / sizeof(poss[0]); j++) {
				cursor_encode(&k, list, gens[i], poss[j], t);
				assert_int_equal(strlen(t), CURSOR_TEXT_LEN);
				/* base64url: safe in JSON and in any header. */
				assert_int_equal(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				                           "0123456789-_"),
				    CURSOR_TEXT_LEN);
				assert_int_equal(dec(&k, t, list, &g, &p), 0);
				assert_true(g == gens[i]);
				assert_true(p == poss[j]);
				/* Deterministic: the same position, the same text. */
				cursor_encode(&k, list, gens[i], poss[j], t2);
				assert_string_equal(t, t2);
			}
	cursor_key_clear(&k);
}

static void
test_refused(void **state)
{
	struct cursor_key k, other;
	char t[CURSOR_TEXT_LEN + 1], bad[CURSOR_TEXT_MAX + 8];
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint64_t g = 7;
	uint32_t p = 7;
	size_t i, a;

	(void)state;
	assert_int_equal(cursor_key_init(&k), 0);
	assert_int_equal(cursor_key_init(&other), 0);
	cursor_encode(&k, 2, 42, 10, t);

	/* Another list, another key (another gateway, or before a restart). */
	assert_int_equal(dec(&k, t, 1, &g, &p), -1);
	assert_int_equal(g, 0);
	assert_int_equal(p, 0);
	assert_int_equal(dec(&other, t, 2, &g, &p), -1);
	assert_int_equal(dec(&k, t, 2, &g, &p), 0);

	/* Every character changed to every other: refused (the tag, or the
	 * canonical form of the last character). */
	for (i = 0; i < CURSOR_TEXT_LEN; i++)
		for (a = 0; a < sizeof(alpha) - 1; a++) {
			if (alpha[a] == t[i])
				continue;
			memcpy(bad, t, sizeof(t));
			bad[i] = alpha[a];
			if (dec(&k, bad, 2, &g, &p) == 0)
				fail_msg("accepted %s (from %s)", bad, t);
		}

	/* Cut, lengthened, padded, not base64url, empty, NULL. */
	memcpy(bad, t, sizeof(t));
	bad[CURSOR_TEXT_LEN - 1] = '\0';
	assert_int_equal(dec(&k, bad, 2, &g, &p), -1);
	snprintf(bad, sizeof(bad), "%sA", t);
	assert_int_equal(dec(&k, bad, 2, &g, &p), -1);
	snprintf(bad, sizeof(bad), "%s=", t);
	assert_int_equal(dec(&k, bad, 2, &g, &p), -1);
	snprintf(bad, sizeof(bad), " %s", t);
	assert_int_equal(dec(&k, bad, 2, &g, &p), -1);
	memcpy(bad, t, sizeof(t));
	bad[3] = '+';
	assert_int_equal(dec(&k, bad, 2, &g, &p), -1);
	assert_int_equal(dec(&k, "", 2, &g, &p), -1);
	assert_int_equal(dec(&k, NULL, 2, &g, &p), -1);
	assert_int_equal(dec(&k, "0", 2, &g, &p), -1);
	assert_int_equal(dec(&k, "eyJwYWdlIjogM30=", 2, &g, &p), -1);
	/* A length that matches but a NUL inside. */
	memcpy(bad, t, sizeof(t));
	bad[5] = '\0';
	assert_int_equal(cursor_decode(&k, bad, CURSOR_TEXT_LEN, 2, &g, &p), -1);
	/* Longer than the limit: refused unread. */
	memset(bad, 'A', CURSOR_TEXT_MAX + 1);
	bad[CURSOR_TEXT_MAX + 1] = '\0';
	assert_int_equal(dec(&k, bad, 2, &g, &p), -1);
	/* A list number that does not fit the byte. */
	assert_int_equal(dec(&k, t, 2 + 256, &g, &p), -1);
	cursor_key_clear(&k);
	cursor_key_clear(&other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
