/* Tests for src/http/html.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "http/html.h"

static void
test_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 256);
	assert_int_equal(html_escape(&b, "plain text"), 0);
	assert_string_equal(buf_cstr(&b), "plain text");
	buf_reset(&b);
	assert_int_equal(html_escape(&b, "<a href=\"x\" title='y'>&amp;</a>"), 0);
	assert_string_equal(buf_cstr(&b),
	    "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
	buf_reset(&b);
	assert_int_equal(html_escape(&b, ""), 0);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

static void
test_overflow(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(html_escape(&b, "ab"), 0);
	assert_int_equal(html_escape(&b, "<<"), -1);
	assert_string_equal(buf_cstr(&b), "ab");
	assert_int_equal(b.len, 2);
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_overflow),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
