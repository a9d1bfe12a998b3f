/*
 * libFuzzer driver for core/text: text_display_ok() and
 * text_display_clean() on arbitrary bytes.
 *
 * Invariants: what text_display_clean() writes is always accepted by
 * text_display_ok(); text accepted by text_display_ok() comes out of
 * text_display_clean() unchanged; a failed clean leaves the buffer as it
 * was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/text.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b, small;
	char *s;
	int ok;

	if ((s = malloc(size + 1)) == NULL)
		return (0);
	memcpy(s, data, size);
	s[size] = '\0';
	ok = text_display_ok(s, size);
	buf_init(&b, 3 * size + 16);
	CHECK(text_display_clean(&b, s) == 0);
	CHECK(text_display_ok(b.p != NULL ? b.p : "", b.len));
	if (ok) {
		CHECK(b.len == size);
		CHECK(size == 0 || memcmp(b.p, s, size) == 0);
	}
	/* Too small a buffer: refused, nothing appended. */
	if (size > 4) {
		buf_init(&small, 8);
		CHECK(buf_adds(&small, "ab") == 0);
		if (text_display_clean(&small, s) != 0)
			CHECK(small.len == 2 && memcmp(small.p, "ab", 3) == 0);
		buf_clear(&small);
	}
	buf_clear(&b);
	free(s);
	return (0);
}
