#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/jtext.h"

/*
 * The stack a thread gets for test_deep_stack: the reader recurses once per
 * level, up to JTEXT_DEPTH_MAX, on the threads of the HTTP server (whose
 * stacks are the system's default).  2048 objects deep took 711 KiB with a
 * 256-byte key buffer in every frame (gcc -O2), 235 KiB without; under
 * AddressSanitizer at -O0, 1.5 MiB and 0.3 MiB with gcc, 2.9 MiB and
 * 1.4 MiB with clang, hence the larger stack there (where the test guards
 * against a crash, not against the frames growing again).
 */
#if defined(__SANITIZE_ADDRESS__)
#define DEEP_STACK (2048 * 1024)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEEP_STACK (2048 * 1024)
#endif
#endif
#ifndef DEEP_STACK
#define DEEP_STACK (512 * 1024)
#endif

/* Parse ${s} (its length, or ${n} bytes if not 0) with ${flags}. */
static json_t *
parse(const char *s, size_t n, int flags, enum jtext_error *err)
{
	return (jtext_parse(s, n ? n : strlen(s), flags, err));
}

static void
assert_refused(const char *s, size_t n, enum jtext_error want)
{
	enum jtext_error err = JTEXT_OK;

	assert_null(parse(s, n, JTEXT_ANY, &err));
	assert_int_equal(err, want);
}

/* ${in} parses, and writes back as ${out}. */
static void
assert_round(const char *in, const char *out)
{
	enum jtext_error err;
	json_t *v;
	char *s;

	v = parse(in, 0, JTEXT_ANY, &err);
	assert_non_null(v);
	assert_int_equal(err, JTEXT_OK);
	s = jtext_dumps(v);
	assert_non_null(s);
	assert_string_equal(s, out);
	free(s);
	json_decref(v);
}

static void
test_values(void **state)
{
	enum jtext_error err;
	json_t *v;

	(void)state;
	v = parse(" {\"jsonrpc\":\"2.0\",\"id\":7,\"params\":{\"a\":[true,false,null,-1.5]}}\r\n", 0, 0,
	    &err);
	assert_non_null(v);
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 7);
	assert_true(json_is_integer(json_object_get(v, "id")));
	assert_string_equal(json_string_value(json_object_get(v, "jsonrpc")), "2.0");
	assert_true(json_is_real(json_array_get(json_object_get(json_object_get(v, "params"), "a"), 3)));
	json_decref(v);

	/* Key order is kept. */
	assert_round("{\"b\":1,\"a\":2,\"c\":{}}", "{\"b\":1,\"a\":2,\"c\":{}}");
	assert_round("[ ]", "[]");
	/* Escapes in, the shortest form out; U+007F and non-ASCII as they are. */
	assert_round("\"\\u0041\\/\\b\\f\\n\\r\\t\\\"\\\\\\u001f\\u007f\\u00e9\\ud83d\\ude00\"",
	    "\"A/\\b\\f\\n\\r\\t\\\"\\\\\\u001F\x7f\xc3\xa9\xf0\x9f\x98\x80\"");
	/* A key decoded from escapes, longer than the small buffers. */
	{
		char in[1024], out[1024];
		size_t i, o = 0;

		strcpy(in, "{\"");
		for (i = 0; i < 100; i++)
			strcat(in, "\\u0041");
		strcat(in, "\":\"");
		for (i = 0; i < 100; i++)
			strcat(in, "\\n");
		strcat(in, "\"}");
		out[o++] = '{';
		out[o++] = '"';
		for (i = 0; i < 100; i++)
			out[o++] = 'A';
		memcpy(out + o, "\":\"", 3);
		o += 3;
		for (i = 0; i < 100; i++) {
			out[o++] = '\\';
			out[o++] = 'n';
		}
		memcpy(out + o, "\"}", 3);
		assert_round(in, out);
	}
}

static void
test_numbers(void **state)
{
	(void)state;
	assert_round("[0,-0,9223372036854775807,-9223372036854775808]",
	    "[0,0,9223372036854775807,-9223372036854775808]");
	assert_round("[1.5,1e5,1E+22,-2.5e-7,0.1,1e-400]",
	    "[1.5,100000.0,1e22,-2.4999999999999999e-7,0.10000000000000001,0.0]");
	assert_refused("9223372036854775808", 0, JTEXT_RANGE);
	assert_refused("-9223372036854775809", 0, JTEXT_RANGE);
	assert_refused("[1e400]", 0, JTEXT_RANGE);
	assert_refused("-1e400", 0, JTEXT_RANGE);
	assert_refused("01", 0, JTEXT_SYNTAX);
	assert_refused("-", 0, JTEXT_SYNTAX);
	assert_refused("+1", 0, JTEXT_SYNTAX);
	assert_refused("1.", 0, JTEXT_SYNTAX);
	assert_refused(".5", 0, JTEXT_SYNTAX);
	assert_refused("1e", 0, JTEXT_SYNTAX);
	assert_refused("1e+", 0, JTEXT_SYNTAX);
	assert_refused("[1 2]", 0, JTEXT_SYNTAX);
	assert_refused("NaN", 0, JTEXT_SYNTAX);
}

static void
test_refused(void **state)
{
	enum jtext_error err;
	char deep[2 * JTEXT_DEPTH_MAX + 8];
	size_t i;

	(void)state;
	assert_refused("", 0, JTEXT_SYNTAX);
	assert_refused("  ", 0, JTEXT_SYNTAX);
	assert_refused("{}x", 0, JTEXT_SYNTAX);
	assert_refused("{} {}", 0, JTEXT_SYNTAX);
	assert_refused("[1,]", 0, JTEXT_SYNTAX);
	assert_refused("{\"a\":1,}", 0, JTEXT_SYNTAX);
	assert_refused("{\"a\" 1}", 0, JTEXT_SYNTAX);
	assert_refused("{a:1}", 0, JTEXT_SYNTAX);
	assert_refused("{\"a\":1,\"a\":2}", 0, JTEXT_SYNTAX);	/* a duplicate key */
	assert_refused("{\"a\":1,\"\\u0061\":2}", 0, JTEXT_SYNTAX);
	assert_refused("tru", 0, JTEXT_SYNTAX);
	assert_refused("truex", 0, JTEXT_SYNTAX);
	assert_refused("'a'", 0, JTEXT_SYNTAX);
	/* Strings: controls, escapes, NUL, surrogates, UTF-8. */
	assert_refused("\"a\nb\"", 0, JTEXT_SYNTAX);
	assert_refused("\"\\x\"", 0, JTEXT_SYNTAX);
	assert_refused("\"\\u12\"", 0, JTEXT_SYNTAX);
	assert_refused("\"\\u0000\"", 0, JTEXT_SYNTAX);
	assert_refused("\"a\0b\"", 5, JTEXT_SYNTAX);
	assert_refused("[1\0]", 4, JTEXT_SYNTAX);
	assert_refused("\"\\ud800\"", 0, JTEXT_SYNTAX);
	assert_refused("\"\\ud800\\u0041\"", 0, JTEXT_SYNTAX);
	assert_refused("\"\\udc00\"", 0, JTEXT_SYNTAX);
	assert_refused("\"\xc0\x80\"", 0, JTEXT_SYNTAX);	  /* overlong */
	assert_refused("\"\xed\xa0\x80\"", 0, JTEXT_SYNTAX);	  /* an encoded surrogate */
	assert_refused("\"\xf4\x90\x80\x80\"", 0, JTEXT_SYNTAX); /* past U+10FFFF */
	assert_refused("\"\xe2\x82\"", 0, JTEXT_SYNTAX);	  /* cut short */
	assert_refused("\"\xef\xbb\xbf\"x", 0, JTEXT_SYNTAX);
	assert_refused("\xef\xbb\xbf{}", 0, JTEXT_SYNTAX);	  /* a byte order mark */
	assert_refused("\"abc", 0, JTEXT_SYNTAX);

	/* A scalar only with JTEXT_ANY. */
	assert_null(parse("1", 0, 0, &err));
	assert_int_equal(err, JTEXT_SYNTAX);
	assert_null(parse("\"a\"", 0, 0, &err));

	/* Depth: JTEXT_DEPTH_MAX values deep, counting the innermost. */
	for (i = 0; i < JTEXT_DEPTH_MAX - 1; i++)
		deep[i] = '[';
	deep[i++] = '1';
	memset(deep + i, ']', JTEXT_DEPTH_MAX - 1);
	i += JTEXT_DEPTH_MAX - 1;
	{
		json_t *v = parse(deep, i, 0, &err);

		assert_non_null(v);
		json_decref(v);
	}
	memmove(deep + 1, deep, i);
	deep[0] = '[';
	deep[++i] = ']';
	assert_null(parse(deep, i + 1, 0, &err));
	assert_int_equal(err, JTEXT_SYNTAX);
}

static void
test_dump(void **state)
{
	char small[8];
	json_t *v, *s;

	(void)state;
	v = json_pack("{s:s#, s:I}", "k", "a\0b", (size_t)3, "n", (json_int_t)-42);
	assert_non_null(v);
	/* The length of the whole text, and a prefix in a short buffer. */
	assert_int_equal(jtext_dumpb(v, small, sizeof(small)), strlen("{\"k\":\"a\\u0000b\",\"n\":-42}"));
	assert_memory_equal(small, "{\"k\":\"a\\", sizeof(small));
	json_decref(v);

	/* A string that is not UTF-8 cannot be written. */
	s = json_stringn_nocheck("\xff", 1);
	assert_int_equal(jtext_dumpb(s, small, sizeof(small)), 0);
	assert_null(jtext_dumps(s));
	json_decref(s);
	assert_int_equal(jtext_dumpb(NULL, small, sizeof(small)), 0);
}

/* A value read at the parser's limit and wrapped deeper (as an upstream's
 * request is, inside an InputRequiredResult) is written as jansson writes
 * it; only past JTEXT_DUMP_DEPTH_MAX does the writer stop. */
static void
test_dump_deeper_than_read(void **state)
{
	json_t *v, *a;
	char *sa, *sb;
	size_t i;

	(void)state;
	v = json_integer(1);
	for (i = 1; i < JTEXT_DEPTH_MAX + 3; i++) {
		a = json_array();
		assert_non_null(a);
		assert_int_equal(json_array_append_new(a, v), 0);
		v = a;
	}
	sa = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	sb = jtext_dumps(v);
	assert_non_null(sa);
	assert_non_null(sb);
	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
	for (; i < JTEXT_DUMP_DEPTH_MAX + 1; i++) {
		a = json_array();
		assert_non_null(a);
		assert_int_equal(json_array_append_new(a, v), 0);
		v = a;
	}
	assert_null(jtext_dumps(v));
	json_decref(v);
}

/* JTEXT_DEPTH_MAX objects deep, the key of each in escapes; read, written and
 * freed on a thread of DEEP_STACK bytes. */
static void *
deep_run(void *arg)
{
	static const char open[] = "{\"\\u006b\":", close[] = "}";
	size_t i, o = 0, lo = sizeof(open) - 1;
	enum jtext_error err;
	char *in, *out;
	json_t *v;
	void *ok = NULL;

	(void)arg;
	if ((in = malloc(JTEXT_DEPTH_MAX * (lo + 1) + 1)) == NULL)
		return (NULL);
	for (i = 0; i < JTEXT_DEPTH_MAX - 1; i++, o += lo)
		memcpy(in + o, open, lo);
	in[o++] = '1';
	for (i = 0; i < JTEXT_DEPTH_MAX - 1; i++)
		in[o++] = close[0];
	if ((v = jtext_parse(in, o, 0, &err)) != NULL) {
		out = jtext_dumps(v);
		/* Written back with the key as it is. */
		if (out != NULL && strlen(out) == (JTEXT_DEPTH_MAX - 1) * 6 + 1 &&
		    strncmp(out, "{\"k\":{\"k\":", 10) == 0)
			ok = v;
		free(out);
		json_decref(v);
	}
	free(in);
	return (ok);
}

static void
test_deep_stack(void **state)
{
	pthread_attr_t a;
	pthread_t t;
	void *ok = NULL;

	(void)state;
	assert_int_equal(pthread_attr_init(&a), 0);
	assert_int_equal(pthread_attr_setstacksize(&a, DEEP_STACK), 0);
	assert_int_equal(pthread_create(&t, &a, deep_run, NULL), 0);
	assert_int_equal(pthread_join(t, &ok), 0);
	pthread_attr_destroy(&a);
	assert_non_null(ok);
}

/* Keys decoded from escapes outlive the values read after them, at every
 * level and beside siblings, whether short or past the scratch buffers. */
static void
test_escaped_keys(void **state)
{
	char in[4096], key[400];
	size_t i, o;
	json_t *v, *w;

	(void)state;
	assert_round("{\"\\u0041\":{\"\\u0042\":{\"\\u0043\":\"\\u0078\"},\"\\u0044\":[\"\\n\"]},"
	    "\"\\u0045\":2}",
	    "{\"A\":{\"B\":{\"C\":\"x\"},\"D\":[\"\\n\"]},\"E\":2}");

	/* Three levels of 300-byte escaped keys (past both 256-byte buffers),
	 * each value holding long escaped strings and keys of its own. */
	o = 0;
	for (i = 0; i < 3; i++) {
		o += (size_t)snprintf(in + o, sizeof(in) - o, "{\"");
		memset(in + o, 'a' + (int)i, 294);
		o += 294;
		o += (size_t)snprintf(in + o, sizeof(in) - o, "\\u00%02x\":", 0x61 + (int)i);
	}
	o += (size_t)snprintf(in + o, sizeof(in) - o, "{\"\\t");
	memset(in + o, 'z', 300);
	o += 300;
	o += (size_t)snprintf(in + o, sizeof(in) - o, "\":\"\\t");
	memset(in + o, 'y', 300);
	o += 300;
	o += (size_t)snprintf(in + o, sizeof(in) - o, "\"}}}}");
	v = parse(in, o, 0, NULL);
	assert_non_null(v);
	w = v;
	for (i = 0; i < 3; i++) {
		memset(key, 'a' + (int)i, 295);
		key[295] = '\0';
		assert_int_equal(json_object_size(w), 1);
		w = json_object_get(w, key);
		assert_non_null(w);
	}
	key[0] = '\t';
	memset(key + 1, 'z', 300);
	key[301] = '\0';
	w = json_object_get(w, key);
	assert_non_null(w);
	assert_int_equal(json_string_length(w), 301);
	assert_int_equal(json_string_value(w)[0], '\t');
	assert_int_equal(json_string_value(w)[300], 'y');
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_dump_deeper_than_read),
		cmocka_unit_test(test_deep_stack),
		cmocka_unit_test(test_escaped_keys),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
