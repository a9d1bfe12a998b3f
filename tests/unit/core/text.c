/* Tests for src/core/text.c: which text may be shown to people. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/text.h"

static const struct {
	const char *s;
	size_t len; /* 0: strlen */
	int ok;
} cases[] = {
    {"My MCP Client", 0, 1},
    {"Caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 0, 1}, /* é, em dash, CJK */
    {"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", 0, 1},	/* Hebrew letters: RTL by nature, fine */
    {"\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85", 0, 1},	/* Arabic letters */
    {"Rocket \xf0\x9f\x9a\x80", 0, 1},			/* U+1F680 */
    {"Heart \xe2\x9d\xa4\xef\xb8\x8f", 0, 1},		/* U+2764 U+FE0F: variation selector */
    {"a\xc2\xa0" "b", 0, 1},				/* NBSP is visible as a space */
    /* Bidirectional embeddings and overrides U+202A..U+202E. */
    {"Safe \xe2\x80\xaa" "x", 0, 0},
    {"Safe \xe2\x80\xab" "x", 0, 0},
    {"Safe \xe2\x80\xac" "x", 0, 0},
    {"Safe \xe2\x80\xad" "x", 0, 0},
    {"Safe App\xe2\x80\xae" "gnp.exe", 0, 0},
    /* Isolates U+2066..U+2069. */
    {"\xe2\x81\xa6" "x", 0, 0},
    {"\xe2\x81\xa7" "x", 0, 0},
    {"\xe2\x81\xa8" "x", 0, 0},
    {"x\xe2\x81\xa9", 0, 0},
    /* Marks: LRM, RLM, Arabic letter mark. */
    {"a\xe2\x80\x8e", 0, 0},
    {"a\xe2\x80\x8f", 0, 0},
    {"a\xd8\x9c", 0, 0},
    /* Zero-width and other invisible characters. */
    {"Goo\xe2\x80\x8bgle", 0, 0},   /* U+200B */
    {"a\xe2\x80\x8c" "b", 0, 0},    /* U+200C */
    {"a\xe2\x80\x8d" "b", 0, 0},    /* U+200D */
    {"a\xe2\x81\xa0" "b", 0, 0},    /* U+2060 word joiner */
    {"a\xe2\x81\xa4" "b", 0, 0},    /* U+2064 invisible plus */
    {"\xef\xbb\xbf" "a", 0, 0},     /* U+FEFF */
    {"a\xc2\xad" "b", 0, 0},        /* U+00AD soft hyphen */
    {"a\xcd\x8f" "b", 0, 0},        /* U+034F */
    {"a\xe1\xa0\x8e" "b", 0, 0},    /* U+180E */
    {"\xe3\x85\xa4", 0, 0},         /* U+3164 Hangul filler */
    {"a\xf3\xa0\x80\x81" "b", 0, 0}, /* U+E0001 language tag */
    {"a\xf3\xa0\x81\xa1" "b", 0, 0}, /* U+E0061 tag a */
    /* Line breaks: C0, C1, DEL, separators. */
    {"a\nb", 0, 0},
    {"a\rb", 0, 0},
    {"a\tb", 0, 0},
    {"a\x1b[31mb", 0, 0},
    {"a\x7f", 0, 0},
    {"a\xc2\x85" "b", 0, 0},        /* U+0085 NEL */
    {"a\xc2\x9b" "b", 0, 0},        /* U+009B CSI */
    {"a\xe2\x80\xa8" "b", 0, 0},    /* U+2028 */
    {"a\xe2\x80\xa9" "b", 0, 0},    /* U+2029 */
    {"a\0b", 3, 0},                 /* NUL inside */
    /* Private use and noncharacters. */
    {"\xee\x80\x80", 0, 0},         /* U+E000 */
    {"\xef\xa3\xbf", 0, 0},         /* U+F8FF */
    {"\xf3\xb0\x80\x80", 0, 0},     /* U+F0000 */
    {"\xef\xb7\x90", 0, 0},         /* U+FDD0 */
    {"\xef\xbf\xbe", 0, 0},         /* U+FFFE */
    {"\xf0\x9f\xbf\xbf", 0, 0},     /* U+1FFFF */
    {"\xef\xbf\xb9", 0, 0},         /* U+FFF9 */
    /* Ill-formed UTF-8. */
    {"\xc0\xaf", 0, 0},             /* overlong '/' */
    {"\xe0\x80\xaf", 0, 0},         /* overlong */
    {"\xed\xa0\x80", 0, 0},         /* surrogate U+D800 */
    {"\xf4\x90\x80\x80", 0, 0},     /* past U+10FFFF */
    {"\xe2\x80", 0, 0},             /* truncated */
    {"\x80", 0, 0},                 /* stray continuation */
    {"\xff", 0, 0},
};

static void
test_display_ok(void **state)
{
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].len ? cases[i].len : strlen(cases[i].s);
		if (text_display_ok(cases[i].s, len) != cases[i].ok)
			fail_msg("case %zu: text_display_ok = %d, want %d", i, !cases[i].ok, cases[i].ok);
	}
	assert_int_equal(text_display_ok("", 0), 1);
}

static void
test_refused_ranges(void **state)
{
	uint32_t c;

	(void)state;
	for (c = 0x202a; c <= 0x202e; c++)
		assert_int_equal(text_refused(c), 1);
	for (c = 0x2066; c <= 0x2069; c++)
		assert_int_equal(text_refused(c), 1);
	for (c = 0; c < 0x20; c++)
		assert_int_equal(text_refused(c), 1);
	for (c = 0x7f; c <= 0x9f; c++)
		assert_int_equal(text_refused(c), 1);
	assert_int_equal(text_refused(0x200e), 1);
	assert_int_equal(text_refused(0x200f), 1);
	assert_int_equal(text_refused(0x110000), 1);
	assert_int_equal(text_refused(' '), 0);
	assert_int_equal(text_refused('~'), 0);
	assert_int_equal(text_refused(0xa0), 0);
	assert_int_equal(text_refused(0xfe0f), 0);
	assert_int_equal(text_refused(0x1f680), 0);
	assert_int_equal(text_refused(0xfffd), 0);
}

/* Every format character (general category Cf) is refused: besides the
 * bidirectional and zero-width ones, the prepended concatenation marks that
 * span the digits after them and the Egyptian hieroglyph format controls,
 * which join neighbours invisibly.  Combining marks and variation selectors
 * stay allowed (scripts and emoji need them). */
static void
test_refused_format(void **state)
{
	static const uint32_t cf[] = {0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x6dd, 0x70f, 0x890,
	    0x891, 0x8e2, 0x110bd, 0x110cd, 0x13430, 0x13438, 0x1343f, 0xe0001, 0xe0020, 0xe007f};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cf) / sizeof(cf[0]); i++)
		assert_int_equal(text_refused(cf[i]), 1);
	assert_false(text_display_ok("12\xd8\x80" "3", 5));         /* U+0600 */
	assert_false(text_display_ok("a\xf0\x93\x90\xb0" "b", 6)); /* U+13430 */
	assert_int_equal(text_refused(0x606), 0);   /* Arabic-Indic cube root: a symbol */
	assert_int_equal(text_refused(0x13440), 0); /* a combining mark */
	assert_int_equal(text_refused(0x301), 0);   /* combining acute */
	assert_int_equal(text_refused(0xfe00), 0);
}

/* Every refused character, and every ill-formed byte, becomes U+FFFD. */
static void
test_clean(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(text_display_clean(&b, "Safe App\xe2\x80\xae" "gnp.exe"), 0);
	assert_string_equal(buf_cstr(&b), "Safe App\xef\xbf\xbd" "gnp.exe");
	buf_reset(&b);
	assert_int_equal(text_display_clean(&b, "\xe2\x81\xa6" "a\nb\xc2\x85\xff"), 0);
	assert_string_equal(buf_cstr(&b), "\xef\xbf\xbd" "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd");
	buf_reset(&b);
	assert_int_equal(text_display_clean(&b, "Caf\xc3\xa9 \xf0\x9f\x9a\x80"), 0);
	assert_string_equal(buf_cstr(&b), "Caf\xc3\xa9 \xf0\x9f\x9a\x80");
	/* What comes out is always displayable. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].len != 0)
			continue;
		buf_reset(&b);
		assert_int_equal(text_display_clean(&b, cases[i].s), 0);
		if (!text_display_ok(buf_cstr(&b), b.len))
			fail_msg("case %zu: cleaned text still refused", i);
		if (cases[i].ok)
			assert_string_equal(buf_cstr(&b), cases[i].s);
	}
	buf_clear(&b);
	/* A full buffer is left as it was. */
	buf_init(&b, 4);
	assert_int_equal(text_display_clean(&b, "ab"), 0);
	assert_int_equal(text_display_clean(&b, "\xe2\x80\xae"), -1);
	assert_string_equal(buf_cstr(&b), "ab");
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_display_ok),
		cmocka_unit_test(test_refused_ranges),
		cmocka_unit_test(test_refused_format),
		cmocka_unit_test(test_clean),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
