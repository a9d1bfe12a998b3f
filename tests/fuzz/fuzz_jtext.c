/*
 * libFuzzer driver for core/jtext, checked against jansson itself.
 *
 * Invariants, for arbitrary bytes:
 * - jtext_parse() accepts exactly what json_loadb() accepts with
 *   JSON_REJECT_DUPLICATES (| JSON_DECODE_ANY with JTEXT_ANY), and the two
 *   values are equal (json_equal(): types, integers and reals apart, keys,
 *   order of arrays);
 * - (which error each reports may differ: jansson's lexer reads a character
 *   and a token ahead, so of "[1 1e999" it says numeric overflow and jtext
 *   says syntax, of "1e999<invalid UTF-8>" the reverse; tests/unit/core/jtext.c
 *   checks jtext's classes);
 * - jtext_dumps() of an accepted value is byte for byte json_dumps() with
 *   JSON_COMPACT | JSON_ENCODE_ANY, and jtext_dumpb() into a buffer of any
 *   size reports that length and writes its prefix;
 * - the text written parses back to an equal value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/jtext.h"

#define CHECK(x)                                                                                             \
	do {                                                                                                 \
		if (!(x))                                                                                    \
			abort();                                                                             \
	} while (0)

static void
one(const char *p, size_t n, int flags)
{
	json_error_t je;
	enum jtext_error err;
	json_t *a, *b, *c;
	char *sa, *sb, small[64];
	size_t len, cut;

	b = jtext_parse(p, n, flags, &err);
	/* A NUL byte is never JSON: jtext refuses it anywhere, while jansson
	 * drops one that follows a number or a literal ("[1\0]" is [1]). */
	if (memchr(p, '\0', n) != NULL) {
		CHECK(b == NULL && err != JTEXT_OK);
		return;
	}
	a = json_loadb(p, n, JSON_REJECT_DUPLICATES | ((flags & JTEXT_ANY) ? JSON_DECODE_ANY : 0), &je);
	CHECK((a == NULL) == (b == NULL));
	if (b == NULL) {
		CHECK(err != JTEXT_OK);
		return;
	}
	CHECK(err == JTEXT_OK);
	CHECK(json_equal(a, b));

	sa = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
	sb = jtext_dumps(b);
	CHECK(sa != NULL && sb != NULL);
	CHECK(strcmp(sa, sb) == 0);
	len = strlen(sb);
	cut = len < sizeof(small) ? len / 2 : sizeof(small);
	CHECK(jtext_dumpb(b, small, cut) == len);
	CHECK(memcmp(small, sb, cut) == 0);

	c = jtext_parse(sb, len, JTEXT_ANY, &err);
	CHECK(c != NULL && json_equal(b, c));
	json_decref(c);
	free(sa);
	free(sb);
	json_decref(a);
	json_decref(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one((const char *)data, size, JTEXT_ANY);
	one((const char *)data, size, 0);
	return (0);
}
