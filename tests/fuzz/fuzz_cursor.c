/*
 * libFuzzer driver for gateway/cursor: cursor_decode() on an arbitrary
 * cursor string, under a fixed key.
 *
 * Invariants: a cursor that decodes is exactly CURSOR_TEXT_LEN bytes, and
 * encoding what it decoded to gives the same text back (one text per
 * cursor); on failure the outputs are zero; a cursor decodes only for the
 * list it was made for.  The first input byte picks the list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/cursor.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor_key key;
	char again[CURSOR_TEXT_LEN + 1];
	uint64_t gen = 1;
	uint32_t pos = 1;
	unsigned list;

	if (size < 1)
		return (0);
	memset(key.k, 0x5a, sizeof(key.k));
	list = data[0] & 3;
	if (cursor_decode(&key, (const char *)data + 1, size - 1, list, &gen, &pos) != 0) {
		CHECK(gen == 0 && pos == 0);
	} else {
		CHECK(size - 1 == CURSOR_TEXT_LEN);
		cursor_encode(&key, list, gen, pos, again);
		CHECK(memcmp(again, data + 1, CURSOR_TEXT_LEN) == 0);
		CHECK(cursor_decode(&key, (const char *)data + 1, size - 1, (list + 1) & 3, &gen, &pos) != 0);
	}
	/* A real cursor of the input's numbers always decodes. */
	if (size >= 13) {
		memcpy(&gen, data + 1, 8);
		memcpy(&pos, data + 9, 4);
		cursor_encode(&key, list, gen, pos, again);
		{
			uint64_t g2;
			uint32_t p2;

			CHECK(cursor_decode(&key, again, strlen(again), list, &g2, &p2) == 0);
			CHECK(g2 == gen && p2 == pos);
		}
	}
	return (0);
}
