/* Tests for src/http/fetch.c, against a local http_server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "core/buf.h"
#include "http/fetch.h"
#include "http/server.h"

#define DOC "{\"client_id\":\"https://app.example/meta\"}"

static void
h_doc(void *arg, const struct http_req *req, struct http_resp *resp)
{
	const char *accept = http_req_header(req, "Accept");

	(void)arg;
	http_resp_text(resp, 200, "application/json", DOC);
	http_resp_header(resp, "X-Accept", accept ? accept : "");
}

static void
h_big(void *arg, const struct http_req *req, struct http_resp *resp)
{
	char big[10001];

	(void)arg;
	(void)req;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	http_resp_text(resp, 200, "application/json", big);
}

static void
h_redirect(void *arg, const struct http_req *req, struct http_resp *resp)
{
	(void)arg;
	(void)req;
	http_resp_redirect(resp, 302, "/doc");
}

static void
h_missing(void *arg, const struct http_req *req, struct http_resp *resp)
{
	(void)arg;
	(void)req;
	http_resp_text(resp, 404, "text/plain", "no");
}

static void
h_slow(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct timespec ts = {1, 200000000};

	(void)arg;
	(void)req;
	nanosleep(&ts, NULL);
	http_resp_text(resp, 200, "application/json", DOC);
}

/* /echo: the method, Content-Type, Authorization and body, as JSON. */
static void
h_echo(void *arg, const struct http_req *req, struct http_resp *resp)
{
	const char *ct = http_req_header(req, "Content-Type"), *au = http_req_header(req, "Authorization");

	(void)arg;
	http_resp_json(resp, 200, json_pack("{s:s, s:s, s:s, s:s}", "method", req->method, "ctype", ct ? ct : "",
	    "auth", au ? au : "", "body", req->body));
}

static const struct http_route routes[] = {
	{"/doc", 0, h_doc, NULL},
	{"/echo", 0, h_echo, NULL},
	{"/big", 0, h_big, NULL},
	{"/redirect", 0, h_redirect, NULL},
	{"/missing", 0, h_missing, NULL},
	{"/slow", 0, h_slow, NULL},
};

static uint16_t srv_port;

static int
setup(void **state)
{
	struct http_config cfg;
	struct http_server *srv;

	memset(&cfg, 0, sizeof(cfg));
	cfg.bind_addr = "127.0.0.1";
	cfg.threads = 2;
	cfg.timeout_s = 5;
	if ((srv = http_server_new(&cfg, routes, sizeof(routes) / sizeof(routes[0]))) == NULL)
		return (-1);
	srv_port = http_server_port(srv);
	*state = srv;
	return (0);
}

static int
teardown(void **state)
{
	http_server_free(*state);
	return (0);
}

static enum fetch_err
get(const char *path, const struct fetch_opts *o, struct buf *body, long *status)
{
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)srv_port, path);
	return (fetch_get(url, o, body, status));
}

static void
test_ok(void **state)
{
	struct fetch_opts o = {.allow_http = 1, .allow_private = 1};
	struct buf b;
	long status = -1;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_int_equal(get("/doc", &o, &b, &status), FETCH_OK);
	assert_int_equal(status, 200);
	assert_string_equal(buf_cstr(&b), DOC);
	fetch_global_init();	/* harmless after the implicit one */

	/* The body is appended. */
	assert_int_equal(get("/doc", &o, &b, NULL), FETCH_OK);
	assert_string_equal(buf_cstr(&b), DOC DOC);
	buf_clear(&b);

	/* Exactly max_bytes is fine. */
	o.max_bytes = strlen(DOC);
	buf_init(&b, 1 << 16);
	assert_int_equal(get("/doc", &o, &b, NULL), FETCH_OK);
	buf_clear(&b);
}

static void
test_blocked(void **state)
{
	static const char *urls[] = {
		"http://10.1.2.3:1/", "http://172.16.0.1:1/", "http://192.168.1.1:1/",
		"http://100.64.0.1:1/", "http://169.254.169.254/latest", "http://0.0.0.0:1/",
		"http://224.0.0.1:1/", "http://255.255.255.255:1/", "http://[::1]:1/",
		"http://[::]:1/", "http://[fc00::1]:1/", "http://[fd12:3456::1]:1/",
		"http://[fe80::1]:1/", "http://[ff02::1]:1/", "http://[::ffff:127.0.0.1]:1/",
		"http://[::ffff:10.0.0.1]:1/", "http://[64:ff9b::7f00:1]:1/", "http://127.1.2.3:1/",
	};
	struct fetch_opts o = {.allow_http = 1, .timeout_ms = 1000};
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_int_equal(get("/doc", &o, &b, NULL), FETCH_BLOCKED);
	assert_int_equal(b.len, 0);
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		print_message("%s\n", urls[i]);
		assert_int_equal(fetch_get(urls[i], &o, &b, NULL), FETCH_BLOCKED);
	}
	assert_int_equal(b.len, 0);

	/* A public address is not blocked (whatever else happens to it here). */
	o.timeout_ms = 300;
	assert_int_not_equal(fetch_get("http://192.0.2.1:9/", &o, &b, NULL), FETCH_BLOCKED);
	assert_int_not_equal(fetch_get("http://[2001:db8::1]:9/", &o, &b, NULL), FETCH_BLOCKED);
	buf_clear(&b);
}

static void
test_bad_url(void **state)
{
	static const char *urls[] = {
		"ftp://example.com/x", "file:///etc/passwd", "gopher://x/", "not a url", "",
		"https://", "/relative/path", "dict://127.0.0.1:1/",
	};
	struct fetch_opts o = {.allow_private = 1};
	struct buf b;
	char *longurl;
	size_t i;

	(void)state;
	buf_init(&b, 1 << 16);
	/* http:// without allow_http. */
	assert_int_equal(get("/doc", &o, &b, NULL), FETCH_BAD_URL);
	assert_int_equal(get("/doc", NULL, &b, NULL), FETCH_BAD_URL);
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		print_message("%s\n", urls[i]);
		assert_int_equal(fetch_get(urls[i], &o, &b, NULL), FETCH_BAD_URL);
	}
	longurl = malloc(FETCH_URL_MAX + 2);
	assert_non_null(longurl);
	memset(longurl, 'a', FETCH_URL_MAX + 1);
	memcpy(longurl, "https://x.example/", 18);
	longurl[FETCH_URL_MAX + 1] = '\0';
	assert_int_equal(fetch_get(longurl, &o, &b, NULL), FETCH_BAD_URL);
	free(longurl);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

static void
test_too_big(void **state)
{
	struct fetch_opts o = {.allow_http = 1, .allow_private = 1};
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 16);
	/* Default cap is 5 KiB; the document is 10000 bytes. */
	assert_int_equal(get("/big", &o, &b, NULL), FETCH_TOO_BIG);
	o.max_bytes = 100;
	assert_int_equal(get("/big", &o, &b, NULL), FETCH_TOO_BIG);
	o.max_bytes = strlen(DOC) - 1;
	assert_int_equal(get("/doc", &o, &b, NULL), FETCH_TOO_BIG);
	assert_int_equal(b.len, 0);
	o.max_bytes = 20000;
	assert_int_equal(get("/big", &o, &b, NULL), FETCH_OK);
	assert_int_equal(b.len, 10000);
	buf_clear(&b);

	/* The caller's buffer is full: also too big, and left unchanged. */
	buf_init(&b, 10);
	assert_int_equal(get("/doc", &o, &b, NULL), FETCH_TOO_BIG);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

static void
test_status(void **state)
{
	struct fetch_opts o = {.allow_http = 1, .allow_private = 1};
	struct buf b;
	long status = 0;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_int_equal(get("/redirect", &o, &b, &status), FETCH_STATUS);
	assert_int_equal(status, 302);
	assert_int_equal(get("/missing", &o, &b, &status), FETCH_STATUS);
	assert_int_equal(status, 404);
	assert_int_equal(get("/nothing-here", &o, &b, &status), FETCH_STATUS);
	assert_int_equal(status, 404);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

static void
test_timeout(void **state)
{
	struct fetch_opts o = {.allow_http = 1, .allow_private = 1, .timeout_ms = 300};
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_int_equal(get("/slow", &o, &b, NULL), FETCH_TIMEOUT);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

static void
test_accept(void **state)
{
	struct fetch_opts o = {.allow_http = 1, .allow_private = 1, .accept = "bad\r\nX: y"};
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_int_not_equal(get("/doc", &o, &b, NULL), FETCH_OK);
	buf_clear(&b);
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_string_equal(fetch_strerror(FETCH_OK), "ok");
	assert_non_null(fetch_strerror(FETCH_STATUS));
	assert_non_null(fetch_strerror((enum fetch_err)99));
}

static void
test_post_form(void **state)
{
	struct fetch_opts o = {.allow_http = 1, .allow_private = 1};
	char url[256], *big;
	struct buf b;
	long status = -1;
	json_t *j;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", (unsigned)srv_port);
	buf_init(&b, 1 << 16);
	assert_int_equal(fetch_post_form(url, &o, "token=a%20b&x=1", 15, "Basic YTpi", &b, &status), FETCH_OK);
	assert_int_equal(status, 200);
	assert_non_null(j = json_loads(buf_cstr(&b), 0, NULL));
	assert_string_equal(json_string_value(json_object_get(j, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(j, "ctype")), "application/x-www-form-urlencoded");
	assert_string_equal(json_string_value(json_object_get(j, "auth")), "Basic YTpi");
	assert_string_equal(json_string_value(json_object_get(j, "body")), "token=a%20b&x=1");
	json_decref(j);
	buf_reset(&b);

	/* Only ${formlen} bytes are sent; no Authorization when NULL. */
	assert_int_equal(fetch_post_form(url, &o, "a=1&b=2", 3, NULL, &b, NULL), FETCH_OK);
	assert_non_null(j = json_loads(buf_cstr(&b), 0, NULL));
	assert_string_equal(json_string_value(json_object_get(j, "body")), "a=1");
	assert_string_equal(json_string_value(json_object_get(j, "auth")), "");
	json_decref(j);
	buf_reset(&b);

	/* Refused before any connection: header injection, sizes, http by
	 * default, no form. */
	assert_int_equal(fetch_post_form(url, &o, "a=1", 3, "Basic x\r\nX-Evil: 1", &b, &status), FETCH_BAD_URL);
	assert_int_equal(status, 0);
	assert_non_null(big = malloc(FETCH_FORM_MAX + 2));
	memset(big, 'a', FETCH_FORM_MAX + 1);
	big[FETCH_FORM_MAX + 1] = '\0';
	assert_int_equal(fetch_post_form(url, &o, big, FETCH_FORM_MAX + 1, NULL, &b, NULL), FETCH_BAD_URL);
	memset(big, 'a', FETCH_AUTH_MAX + 1);
	big[FETCH_AUTH_MAX + 1] = '\0';
	assert_int_equal(fetch_post_form(url, &o, "a=1", 3, big, &b, NULL), FETCH_BAD_URL);
	free(big);
	assert_int_equal(fetch_post_form(url, NULL, "a=1", 3, NULL, &b, NULL), FETCH_BAD_URL);
	assert_int_equal(fetch_post_form(url, &o, NULL, 0, NULL, &b, NULL), FETCH_BAD_URL);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

/* The address policy itself, on addresses that are never connected to. */
static int
forbidden(const char *text)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;

	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, text, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		return (fetch_addr_forbidden((struct sockaddr *)&s4));
	}
	assert_int_equal(inet_pton(AF_INET6, text, &s6.sin6_addr), 1);
	s6.sin6_family = AF_INET6;
	return (fetch_addr_forbidden((struct sockaddr *)&s6));
}

static void
test_addr_policy(void **state)
{
	static const char *no[] = {"0.0.0.0", "10.1.2.3", "100.64.0.1", "127.0.0.1", "169.254.169.254",
	    "172.16.0.1", "172.31.255.255", "192.168.1.1", "192.0.0.8", "198.18.0.1", "198.19.255.255",
	    "224.0.0.1", "240.0.0.1", "255.255.255.255", "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
	    "64:ff9b::a00:1", "64:ff9b:1::1", "2002:a00:1::1", "2002:7f00:1::", "fc00::1", "fd12::1",
	    "fe80::1", "fec0::1", "ff02::1"};
	static const char *yes[] = {"1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.32.0.1",
	    "192.0.1.1", "198.17.255.255", "198.20.0.1", "223.255.255.255", "2606:4700::1111",
	    "64:ff9b::808:808", "2002:808:808::1", "2001:db8::1"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!forbidden(no[i]))
			fail_msg("%s should be refused", no[i]);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (forbidden(yes[i]))
			fail_msg("%s should be allowed", yes[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_blocked),
		cmocka_unit_test(test_bad_url),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_post_form),
		cmocka_unit_test(test_addr_policy),
	};

	/* fetch_get() must work without fetch_global_init() (test_ok calls
	 * it only after the first fetch). */
	return (cmocka_run_group_tests(tests, setup, teardown));
}
