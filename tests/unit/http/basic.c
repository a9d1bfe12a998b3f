/* Tests for src/http/basic.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/b64.h"
#include "http/basic.h"

/* "Basic " + base64(${cred}) in ${out}. */
static void
mk(char *out, size_t outcap, const char *scheme, const char *cred)
{
	char *enc;
	size_t n = strlen(cred);

	enc = malloc(4 * ((n + 2) / 3) + 1);
	assert_non_null(enc);
	b64_encode(cred, n, enc);
	assert_true((size_t)snprintf(out, outcap, "%s %s", scheme, enc) < outcap);
	free(enc);
}

static int
parse(const char *hdr, char **u, char **p)
{
	int rc = basic_parse(hdr, u, p);

	if (rc != 0) {
		assert_null(*u);
		assert_null(*p);
	}
	return (rc);
}

static void
test_good(void **state)
{
	char hdr[256], *u, *p;

	(void)state;
	mk(hdr, sizeof(hdr), "Basic", "client1:s3cret");
	assert_int_equal(parse(hdr, &u, &p), 0);
	assert_string_equal(u, "client1");
	assert_string_equal(p, "s3cret");
	free(u);
	free(p);

	/* Scheme is case-insensitive; several spaces are fine. */
	mk(hdr, sizeof(hdr), "bAsIc  ", "c:p");
	assert_int_equal(parse(hdr, &u, &p), 0);
	assert_string_equal(u, "c");
	assert_string_equal(p, "p");
	free(u);
	free(p);

	/* Empty password is allowed. */
	mk(hdr, sizeof(hdr), "Basic", "c:");
	assert_int_equal(parse(hdr, &u, &p), 0);
	assert_string_equal(u, "c");
	assert_string_equal(p, "");
	free(u);
	free(p);

	/* The RFC 2617 example. */
	assert_int_equal(parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &u, &p), 0);
	assert_string_equal(u, "Aladdin");
	assert_string_equal(p, "open sesame");
	free(u);
	free(p);
}

static void
test_urlencoded(void **state)
{
	char hdr[256], *u, *p;

	(void)state;
	/* RFC 6749 2.3.1: both parts are form-urlencoded before base64; the
	 * split is at the first ':' so an encoded one stays in the secret,
	 * and a raw one after the first also stays. */
	mk(hdr, sizeof(hdr), "Basic", "my%3Aclient:pa%3Ass:w%2Bo+rd%25");
	assert_int_equal(parse(hdr, &u, &p), 0);
	assert_string_equal(u, "my:client");
	assert_string_equal(p, "pa:ss:w+o rd%");
	free(u);
	free(p);
}

static void
test_malformed(void **state)
{
	static const char *creds[] = {
		"nocolon", ":pass", "%3A", "a%zz:b", "a:%4", "a:b%00", "a%0a:b", "a:b\x01", "a\x7f:b",
	};
	char hdr[256], *u, *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
		mk(hdr, sizeof(hdr), "Basic", creds[i]);
		assert_int_equal(parse(hdr, &u, &p), -1);
	}
	/* Bad base64: bad character, bad length, trailing garbage, spaces. */
	assert_int_equal(parse("Basic Y:Jj", &u, &p), -1);
	assert_int_equal(parse("Basic YWJj=", &u, &p), -1);
	assert_int_equal(parse("Basic YTpi ", &u, &p), -1);
	assert_int_equal(parse("Basic YT pi", &u, &p), -1);
	assert_int_equal(parse("Basic YTpj", &u, &p), 0);	/* control: "a:c" */
	free(u);
	free(p);
	/* No space after the scheme, or nothing at all. */
	assert_int_equal(parse("Basic", &u, &p), -1);
	assert_int_equal(parse("Basic ", &u, &p), -1);
}

static void
test_other_scheme(void **state)
{
	char *u, *p;

	(void)state;
	assert_int_equal(parse("Bearer abc", &u, &p), 1);
	assert_int_equal(parse("Basicx YTpi", &u, &p), 1);
	assert_int_equal(parse("", &u, &p), 1);
	assert_int_equal(parse("Digest username=x", &u, &p), 1);
}

static void
test_oversize(void **state)
{
	char *hdr, *cred, *u, *p;
	size_t n;

	(void)state;
	/* A credential whose header is just over BASIC_HEADER_MAX. */
	n = BASIC_HEADER_MAX / 4 * 3;
	cred = malloc(n + 1);
	hdr = malloc(BASIC_HEADER_MAX * 2);
	assert_non_null(cred);
	assert_non_null(hdr);
	memset(cred, 'x', n);
	cred[1] = ':';
	cred[n] = '\0';
	mk(hdr, BASIC_HEADER_MAX * 2, "Basic", cred);
	assert_true(strlen(hdr) > BASIC_HEADER_MAX);
	assert_int_equal(parse(hdr, &u, &p), -1);

	/* Shorter by enough to fit: accepted. */
	cred[n - 12] = '\0';
	mk(hdr, BASIC_HEADER_MAX * 2, "Basic", cred);
	assert_true(strlen(hdr) <= BASIC_HEADER_MAX);
	assert_int_equal(parse(hdr, &u, &p), 0);
	assert_string_equal(u, "x");
	assert_int_equal(strlen(p), n - 14);
	free(u);
	free(p);
	free(cred);
	free(hdr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_urlencoded),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_other_scheme),
		cmocka_unit_test(test_oversize),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
