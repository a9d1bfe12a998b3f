/* Tests for src/http/form.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "http/form.h"

static int
parse(struct form *f, const char *s)
{
	return (form_parse(f, s, strlen(s)));
}

static void
test_basic_decoding(void **state)
{
	struct form f;

	(void)state;
	assert_int_equal(parse(&f, "a=1&b=hello+world&c=%41%62%2b&d=%E2%82%AC"), 0);
	assert_int_equal(f.n, 4);
	assert_string_equal(form_get(&f, "a"), "1");
	assert_string_equal(form_get(&f, "b"), "hello world");
	assert_string_equal(form_get(&f, "c"), "Ab+");
	assert_string_equal(form_get(&f, "d"), "\xe2\x82\xac");
	assert_null(form_get(&f, "e"));
	assert_null(form_duplicate(&f));
	form_clear(&f);
	assert_int_equal(f.n, 0);

	/* Names are decoded too; '=' inside a value is kept. */
	assert_int_equal(parse(&f, "redirect%5Furi=https%3A%2F%2Fx%2F%3Fa%3Db&x=a=b"), 0);
	assert_string_equal(form_get(&f, "redirect_uri"), "https://x/?a=b");
	assert_string_equal(form_get(&f, "x"), "a=b");
	form_clear(&f);

	/* Empty input is an empty form. */
	assert_int_equal(form_parse(&f, "", 0), 0);
	assert_int_equal(f.n, 0);
	form_clear(&f);

	/* Only ${n} bytes are read. */
	assert_int_equal(form_parse(&f, "a=12345", 4), 0);
	assert_string_equal(form_get(&f, "a"), "12");
	form_clear(&f);
}

static void
test_bad_escapes(void **state)
{
	static const char *bad[] = {
		"a=%zz", "a=%4", "a=%", "a=%g0", "a=%0g", "%zz=1", "a=1&b=%4",
		"a=%00", "a=x%00y", "%00=1",	/* decoded NUL */
		"a=%ff", "a=%c0%80", "a=%ed%a0%80", "a=%f4%90%80%80", "a=%e2%82", /* bad UTF-8 */
		"a=\xff", "\xc3=1",
	};
	struct form f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&f, bad[i]), -1);
		form_clear(&f);
	}
	/* A raw NUL byte in the input. */
	assert_int_equal(form_parse(&f, "a=1\0b", 5), -1);
	form_clear(&f);
}

static void
test_empty_pairs(void **state)
{
	struct form f;

	(void)state;
	assert_int_equal(parse(&f, "&a=1&&b=2&"), 0);
	assert_int_equal(f.n, 2);
	assert_string_equal(form_get(&f, "a"), "1");
	assert_string_equal(form_get(&f, "b"), "2");
	form_clear(&f);

	/* A pair without '=' is a name with an empty value: absent. */
	assert_int_equal(parse(&f, "flag&c="), 0);
	assert_int_equal(f.n, 2);
	assert_null(form_get(&f, "flag"));
	assert_null(form_get(&f, "c"));
	form_clear(&f);

	/* An empty name is ignored. */
	assert_int_equal(parse(&f, "=1&a=2"), 0);
	assert_int_equal(f.n, 1);
	form_clear(&f);
}

static void
test_duplicates(void **state)
{
	struct form f;

	(void)state;
	assert_int_equal(parse(&f, "a=1&b=2&a=3"), 0);
	assert_int_equal(f.n, 2);
	assert_string_equal(form_get(&f, "a"), "1");
	assert_int_equal(f.f[0].count, 2);
	assert_non_null(form_duplicate(&f));
	assert_string_equal(form_duplicate(&f), "a");
	form_clear(&f);

	/* Empty values count as absent: no duplicate; first non-empty wins. */
	assert_int_equal(parse(&f, "a=&a=x&a"), 0);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.f[0].count, 3);
	assert_string_equal(form_get(&f, "a"), "x");
	assert_null(form_duplicate(&f));
	form_clear(&f);

	/* The first offender is named. */
	assert_int_equal(parse(&f, "x=1&b=1&c=1&b=2&x=2"), 0);
	assert_string_equal(form_duplicate(&f), "x");
	form_clear(&f);
}

static void
test_limits(void **state)
{
	struct buf b;
	struct form f;
	char *s;
	size_t i;

	(void)state;
	/* FORM_FIELDS_MAX distinct names pass, one more fails. */
	buf_init(&b, 1 << 20);
	for (i = 0; i < FORM_FIELDS_MAX; i++)
		assert_int_equal(buf_printf(&b, "%sn%zu=v", i ? "&" : "", i), 0);
	assert_int_equal(form_parse(&f, b.p, b.len), 0);
	assert_int_equal(f.n, FORM_FIELDS_MAX);
	form_clear(&f);
	/* Repeating a known name does not use a slot. */
	assert_int_equal(buf_adds(&b, "&n0=w"), 0);
	assert_int_equal(form_parse(&f, b.p, b.len), 0);
	form_clear(&f);
	assert_int_equal(buf_adds(&b, "&extra=1"), 0);
	assert_int_equal(form_parse(&f, b.p, b.len), -1);
	form_clear(&f);
	buf_clear(&b);

	/* Value of exactly FORM_VALUE_MAX decoded bytes passes, one more fails;
	 * the limit is on decoded bytes (%41 is one byte). */
	s = malloc(3 * (FORM_VALUE_MAX + 1) + 3);
	assert_non_null(s);
	memcpy(s, "v=", 2);
	for (i = 0; i < FORM_VALUE_MAX; i++)
		memcpy(s + 2 + 3 * i, "%41", 3);
	assert_int_equal(form_parse(&f, s, 2 + 3 * FORM_VALUE_MAX), 0);
	assert_int_equal(strlen(form_get(&f, "v")), FORM_VALUE_MAX);
	form_clear(&f);
	memcpy(s + 2 + 3 * FORM_VALUE_MAX, "%41", 3);
	assert_int_equal(form_parse(&f, s, 2 + 3 * (FORM_VALUE_MAX + 1)), -1);
	form_clear(&f);

	/* Name of FORM_NAME_MAX bytes passes, one more fails. */
	memset(s, 'n', FORM_NAME_MAX + 1);
	s[FORM_NAME_MAX] = '=';
	assert_int_equal(form_parse(&f, s, FORM_NAME_MAX + 1), 0);
	form_clear(&f);
	memset(s, 'n', FORM_NAME_MAX + 1);
	s[FORM_NAME_MAX + 1] = '=';
	assert_int_equal(form_parse(&f, s, FORM_NAME_MAX + 2), -1);
	form_clear(&f);
	free(s);
}

static void
test_encode(void **state)
{
	static const char *vals[] = {
		"plain", "a b+c&d=e%f", "https://x.example/cb?x=1#f", "-._~", "\xe2\x82\xac", "",
	};
	struct buf b;
	struct form f;
	char name[32];
	size_t i;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(form_encode(&b, "a b", "x&y"), 0);
	assert_string_equal(buf_cstr(&b), "a%20b=x%26y");
	assert_int_equal(form_encode(&b, "k", "-._~AZaz09/"), 0);
	assert_string_equal(buf_cstr(&b), "a%20b=x%26y&k=-._~AZaz09%2F");
	buf_reset(&b);

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		snprintf(name, sizeof(name), "n %zu", i);
		assert_int_equal(form_encode(&b, name, vals[i]), 0);
	}
	assert_int_equal(form_parse(&f, b.p, b.len), 0);
	assert_int_equal(f.n, sizeof(vals) / sizeof(vals[0]));
	for (i = 0; i < f.n; i++) {
		snprintf(name, sizeof(name), "n %zu", i);
		assert_string_equal(f.f[i].name, name);
		assert_string_equal(f.f[i].value, vals[i]);
	}
	form_clear(&f);
	buf_clear(&b);

	/* On overflow the buffer is left as it was. */
	buf_init(&b, 8);
	assert_int_equal(form_encode(&b, "a", "b"), 0);
	assert_int_equal(form_encode(&b, "c", "&&&"), -1);
	assert_string_equal(buf_cstr(&b), "a=b");
	assert_int_equal(b.len, 3);
	buf_clear(&b);
}

static void
test_urldecode(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4);
	assert_int_equal(form_urldecode("a+%3A", 5, &b), 0);
	assert_string_equal(buf_cstr(&b), "a :");
	assert_int_equal(form_urldecode("xy", 2, &b), -1);	/* over max */
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_decoding),
		cmocka_unit_test(test_bad_escapes),
		cmocka_unit_test(test_empty_pairs),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_urldecode),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
