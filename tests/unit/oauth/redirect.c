/* Tests for src/oauth/redirect.c: which redirect URIs may be registered, and
 * matching (exact, except the port of loopback redirects, RFC 8252 7.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "oauth/redirect.h"

static void
test_classify(void **state)
{
	static const struct {
		const char *uri;
		enum redirect_kind kind;
	} cases[] = {
		{"https://app.example.com/cb", REDIRECT_HTTPS},
		{"https://app.example.com:8443/cb?x=1", REDIRECT_HTTPS},
		{"http://127.0.0.1/cb", REDIRECT_LOOPBACK},
		{"http://127.0.0.1:53127/callback", REDIRECT_LOOPBACK},
		{"http://[::1]:8080/cb", REDIRECT_LOOPBACK},
		{"http://localhost:6274/oauth/callback", REDIRECT_LOOPBACK},
		{"com.example.app:/oauth2redirect", REDIRECT_PRIVATE_USE},
		{"com.example.app://cb", REDIRECT_PRIVATE_USE},
		/* never */
		{"", REDIRECT_INVALID},
		{"/relative/cb", REDIRECT_INVALID},
		{"https://app.example.com/cb#frag", REDIRECT_INVALID},
		{"https://app.example.com/cb#", REDIRECT_INVALID},
		{"http://app.example.com/cb", REDIRECT_INVALID},
		{"http://127.0.0.2.example.com/cb", REDIRECT_INVALID},
		{"http://localhost.evil.com/cb", REDIRECT_INVALID},
		{"http://127.0.0.1@evil.com/cb", REDIRECT_INVALID},
		{"https://user:pw@app.example.com/cb", REDIRECT_INVALID},
		{"https:///cb", REDIRECT_INVALID},
		{"https://app.example.com:/cb", REDIRECT_INVALID},
		{"https://app.example.com:99999a/cb", REDIRECT_INVALID},
		{"http://[::1/cb", REDIRECT_INVALID},
		{"javascript:alert(1)", REDIRECT_INVALID},
		{"data:text/html,x", REDIRECT_INVALID},
		{"file:///etc/passwd", REDIRECT_INVALID},
		{"vbscript:x", REDIRECT_INVALID},
		{"com.example.app:", REDIRECT_INVALID},
		{"1com.example:/cb", REDIRECT_INVALID},
		{"https://app.example.com/c b", REDIRECT_INVALID},
		{"https://app.example.com/c\rb", REDIRECT_INVALID},
		{"https://app.example.com/c\"b", REDIRECT_INVALID},
		{"https://app.example.com/c<b", REDIRECT_INVALID},
		{"https://app.example.com/\xc3\xa9", REDIRECT_INVALID},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (redirect_classify(cases[i].uri) != cases[i].kind)
			fail_msg("redirect_classify(\"%s\") = %d, want %d", cases[i].uri,
			    redirect_classify(cases[i].uri), cases[i].kind);
	}
}

static void
test_too_long(void **state)
{
	char uri[REDIRECT_URI_MAX + 2];
	size_t n = strlen("https://a.example/");

	(void)state;
	memcpy(uri, "https://a.example/", n);
	memset(uri + n, 'x', REDIRECT_URI_MAX - n);
	uri[REDIRECT_URI_MAX] = '\0';
	assert_int_equal(redirect_classify(uri), REDIRECT_HTTPS);
	uri[REDIRECT_URI_MAX] = 'x';
	uri[REDIRECT_URI_MAX + 1] = '\0';
	assert_int_equal(redirect_classify(uri), REDIRECT_INVALID);
}

static void
test_match(void **state)
{
	(void)state;
	/* Exact. */
	assert_true(redirect_match("https://app.example.com/cb", "https://app.example.com/cb"));
	assert_true(redirect_match("com.example.app:/cb", "com.example.app:/cb"));
	assert_false(redirect_match("https://app.example.com/cb", "https://app.example.com/cb/"));
	assert_false(redirect_match("https://app.example.com/cb", "https://app.example.com/cb?x=1"));
	assert_false(redirect_match("https://app.example.com/cb", "https://APP.example.com/cb"));
	assert_false(redirect_match("https://app.example.com/cb", "https://app.example.com:443/cb"));
	assert_false(redirect_match("https://app.example.com:8443/cb", "https://app.example.com:9443/cb"));
	/* Loopback: only the port may differ. */
	assert_true(redirect_match("http://127.0.0.1/cb", "http://127.0.0.1:53127/cb"));
	assert_true(redirect_match("http://127.0.0.1:8080/cb", "http://127.0.0.1:9090/cb"));
	assert_true(redirect_match("http://[::1]:1/cb", "http://[::1]:65535/cb"));
	assert_true(redirect_match("http://localhost:3000/cb", "http://localhost:4000/cb"));
	assert_true(redirect_match("http://127.0.0.1:3000/cb?a=1", "http://127.0.0.1:4000/cb?a=1"));
	assert_false(redirect_match("http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/other"));
	assert_false(redirect_match("http://127.0.0.1:3000/cb", "http://localhost:3000/cb"));
	assert_false(redirect_match("http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/cb?a=1"));
	assert_false(redirect_match("http://127.0.0.1:3000/cb", "https://127.0.0.1:3000/cb"));
	assert_false(redirect_match("http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/cb#x"));
	assert_false(redirect_match("http://127.0.0.1:3000/cb", "http://127.0.0.1@evil.com:4000/cb"));
	/* A registered URI that could never be valid matches nothing. */
	assert_false(redirect_match("javascript:x", "javascript:x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_match),
	};

	return (cmocka_run_group_tests_name("oauth/redirect", tests, NULL, NULL));
}
