/* Tests for src/oauth/pkce.c, with the RFC 7636 Appendix B vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "oauth/pkce.h"

static void
test_rfc7636_appendix_b(void **state)
{
	char c[PKCE_CHALLENGE_LEN + 1];

	(void)state;
	pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c);
	assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	assert_true(pkce_verifier_valid("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
	assert_true(pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
}

static void
test_verifier(void **state)
{
	char v[PKCE_VERIFIER_MAX + 2];

	(void)state;
	memset(v, 'a', sizeof(v));
	v[42] = '\0';
	assert_false(pkce_verifier_valid(v)); /* 42: too short */
	v[42] = 'a';
	v[43] = '\0';
	assert_true(pkce_verifier_valid(v));
	memset(v, 'a', sizeof(v));
	v[PKCE_VERIFIER_MAX] = '\0';
	assert_true(pkce_verifier_valid(v));
	v[PKCE_VERIFIER_MAX] = 'a';
	v[PKCE_VERIFIER_MAX + 1] = '\0';
	assert_false(pkce_verifier_valid(v)); /* 129 */
	assert_true(pkce_verifier_valid("ABCxyz019-._~ABCxyz019-._~ABCxyz019-._~ABCxy"));
	assert_false(pkce_verifier_valid("ABCxyz019-._~ABCxyz019-._~ABCxyz019-._~ABC+y"));
	assert_false(pkce_verifier_valid("ABCxyz019-._~ABCxyz019-._~ABCxyz019-._~ABC y"));
	assert_false(pkce_verifier_valid("ABCxyz019-._~ABCxyz019-._~ABCxyz019-._~ABC/y"));
	assert_false(pkce_verifier_valid("ABCxyz019-._~ABCxyz019-._~ABCxyz019-._~ABC\xc3\xa9"));
	assert_false(pkce_verifier_valid(""));
}

static void
test_challenge(void **state)
{
	(void)state;
	/* 42 and 44 characters, a padding sign, '+' and '/' of standard
	 * base64, and a last character with non-zero trailing bits. */
	assert_false(pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
	assert_false(pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMA"));
	assert_false(pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="));
	assert_false(pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));
	assert_false(pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw/cM"));
	assert_false(pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
	assert_false(pkce_challenge_valid(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7636_appendix_b),
		cmocka_unit_test(test_verifier),
		cmocka_unit_test(test_challenge),
	};

	return (cmocka_run_group_tests_name("oauth/pkce", tests, NULL, NULL));
}
