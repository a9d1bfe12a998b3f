/* Tests for src/http/server.c: a real server on 127.0.0.1, driven by libcurl. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/buf.h"
#include "http/server.h"

#define BODY_MAX 1024

static int bad_header_rc = 1;	/* set by the /misc handler */

static void
h_hello(void *arg, const struct http_req *req, struct http_resp *resp)
{
	(void)arg;
	(void)req;
	http_resp_header(resp, "X-Test", "yes");
	http_resp_text(resp, 200, "text/plain", "hello");
}

/* Echo everything the handler can see as JSON. */
static void
h_echo(void *arg, const struct http_req *req, struct http_resp *resp)
{
	char sid[16];
	const char *foo;
	json_t *j;

	(void)arg;
	foo = http_req_header(req, "X-Foo");
	j = json_pack("{s:s, s:s, s:s, s:s%, s:s, s:i, s:i, s:s?}", "method", req->method,
	    "path", req->path, "query", req->query, "body", req->body, req->body_len,
	    "remote", req->remote_addr, "dup", http_req_header_count(req, "x-dup"), "tls",
	    req->tls, "foo", foo);
	if (http_req_cookie(req, "sid", sid, sizeof(sid)) == 0)
		json_object_set_new(j, "sid", json_string(sid));
	if (http_req_cookie(req, "q", sid, sizeof(sid)) == 0)
		json_object_set_new(j, "q", json_string(sid));
	if (http_req_cookie(req, "long", sid, sizeof(sid)) == 0)
		json_object_set_new(j, "long", json_string(sid));
	http_resp_json(resp, 200, j);
}

static void
h_misc(void *arg, const struct http_req *req, struct http_resp *resp)
{
	(void)arg;
	if (strcmp(req->path, "/misc/nostatus") == 0)
		return;
	if (strcmp(req->path, "/misc/redirect") == 0) {
		http_resp_redirect(resp, 302, "https://example.com/cb?code=x");
		return;
	}
	bad_header_rc = http_resp_header(resp, "X-Bad", "a\r\nSet-Cookie: x=1") == -1 &&
	    http_resp_header(resp, "X\nBad", "a") == -1 &&
	    http_resp_header(resp, "", "a") == -1 ? 0 : 1;
	http_resp_text(resp, 201, NULL, req->path);
}

static const struct http_route routes[] = {
	{"/hello", 0, h_hello, NULL},
	{"/echo", 0, h_echo, NULL},
	{"/misc/", 1, h_misc, NULL},
	{"/hello", 0, h_echo, NULL},	/* never reached: the first match wins */
};

struct result {
	long status;
	struct buf body;
	struct buf headers;
	CURLcode cc;
};

static size_t
collect(char *p, size_t size, size_t nmemb, void *cls)
{
	struct buf *b = cls;

	return (buf_add(b, p, size * nmemb) ? 0 : size * nmemb);
}

static int use_tls;	/* request() speaks https, without verification */

/* Perform ${method} ${path} with optional ${body} and extra header lines. */
static void
request(uint16_t port, const char *method, const char *path, const char *body, long bodylen,
    const char **hdrs, int chunked, struct result *r)
{
	struct curl_slist *sl = NULL;
	char url[512];
	CURL *c;
	size_t i;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 1 << 20);
	buf_init(&r->headers, 1 << 16);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%u%s", use_tls ? "https" : "http",
	    (unsigned)port, path);
	c = curl_easy_init();
	assert_non_null(c);
	if (use_tls) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	for (i = 0; hdrs != NULL && hdrs[i] != NULL; i++)
		sl = curl_slist_append(sl, hdrs[i]);
	if (chunked)
		sl = curl_slist_append(sl, "Transfer-Encoding: chunked");
	sl = curl_slist_append(sl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		if (!chunked)
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, bodylen);
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	r->cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(sl);
}

static void
result_clear(struct result *r)
{
	buf_clear(&r->body);
	buf_clear(&r->headers);
}

static int
has_header(const struct result *r, const char *line)
{
	return (strcasestr(buf_cstr(&r->headers), line) != NULL);
}

static json_t *
body_json(const struct result *r)
{
	json_t *j = json_loads(buf_cstr(&r->body), 0, NULL);

	assert_non_null(j);
	return (j);
}

static const char *
jstr(json_t *j, const char *k)
{
	const char *s = json_string_value(json_object_get(j, k));

	assert_non_null(s);
	return (s);
}

static int
setup(void **state)
{
	struct http_config cfg;
	struct http_server *srv;

	memset(&cfg, 0, sizeof(cfg));
	cfg.bind_addr = "127.0.0.1";
	cfg.threads = 2;
	cfg.body_max = BODY_MAX;
	cfg.timeout_s = 5;
	if ((srv = http_server_new(&cfg, routes, sizeof(routes) / sizeof(routes[0]))) == NULL)
		return (-1);
	*state = srv;
	return (0);
}

static int
teardown(void **state)
{
	http_server_free(*state);
	return (0);
}

static uint16_t
port(void **state)
{
	uint16_t p = http_server_port(*state);

	assert_int_not_equal(p, 0);
	return (p);
}

static void
test_get(void **state)
{
	struct result r;

	request(port(state), "GET", "/hello", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.cc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "hello");
	assert_true(has_header(&r, "\r\nX-Content-Type-Options: nosniff\r\n"));
	assert_true(has_header(&r, "\r\nX-Test: yes\r\n"));
	assert_true(has_header(&r, "\r\nContent-Type: text/plain\r\n"));
	result_clear(&r);

	/* The path is matched after percent-decoding. */
	request(port(state), "GET", "/hel%6Co", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "hello");
	result_clear(&r);
}

static void
test_post_echo(void **state)
{
	const char *hdrs[] = {"X-Foo: bar", "X-Dup: 1", "X-Dup: 2", "x-dup: 3", NULL};
	struct result r;
	json_t *j;

	request(port(state), "POST", "/echo?x=1", "grant_type=a&b=%20", 18, hdrs, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(has_header(&r, "\r\nContent-Type: application/json\r\n"));
	assert_true(has_header(&r, "\r\nCache-Control: no-store\r\n"));
	assert_true(has_header(&r, "\r\nPragma: no-cache\r\n"));
	assert_true(has_header(&r, "\r\nX-Content-Type-Options: nosniff\r\n"));
	j = body_json(&r);
	assert_string_equal(jstr(j, "method"), "POST");
	assert_string_equal(jstr(j, "path"), "/echo");
	assert_string_equal(jstr(j, "query"), "x=1");
	assert_string_equal(jstr(j, "body"), "grant_type=a&b=%20");
	assert_string_equal(jstr(j, "remote"), "127.0.0.1");
	assert_string_equal(jstr(j, "foo"), "bar");
	assert_int_equal(json_integer_value(json_object_get(j, "dup")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "tls")), 0);
	json_decref(j);
	result_clear(&r);

	/* A body of exactly body_max bytes, chunked, is accepted. */
	{
		char big[BODY_MAX + 1];

		memset(big, 'a', BODY_MAX);
		big[BODY_MAX] = '\0';
		request(port(state), "POST", "/echo", big, BODY_MAX, NULL, 1, &r);
		assert_int_equal(r.status, 200);
		j = body_json(&r);
		assert_int_equal(strlen(jstr(j, "body")), BODY_MAX);
		json_decref(j);
		result_clear(&r);
	}
}

static void
test_too_large(void **state)
{
	char *big;
	struct result r;
	json_t *j;

	big = malloc(4 * BODY_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', 4 * BODY_MAX);
	big[4 * BODY_MAX] = '\0';
	request(port(state), "POST", "/echo", big, BODY_MAX + 1, NULL, 0, &r);
	assert_int_equal(r.status, 413);
	assert_true(has_header(&r, "\r\nConnection: close\r\n"));
	j = body_json(&r);
	assert_string_equal(jstr(j, "error"), "invalid_request");
	assert_string_equal(jstr(j, "error_description"), "request body too large");
	json_decref(j);
	result_clear(&r);

	request(port(state), "POST", "/echo", big, 4 * BODY_MAX, NULL, 0, &r);
	assert_int_equal(r.status, 413);
	result_clear(&r);

	/* A chunked body over the limit: the connection is dropped. */
	request(port(state), "POST", "/echo", big, 0, NULL, 1, &r);
	assert_int_not_equal(r.cc, CURLE_OK);
	assert_int_not_equal(r.status, 200);
	result_clear(&r);
	free(big);

	/* The server still works. */
	request(port(state), "GET", "/hello", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
}

static void
test_header_too_large(void **state)
{
	const char *hdrs[2];
	char *h;
	struct result r;

	h = malloc(HTTP_HEADER_MAX_DEFAULT + 64);
	assert_non_null(h);
	memcpy(h, "X-Big: ", 7);
	memset(h + 7, 'b', HTTP_HEADER_MAX_DEFAULT);
	h[7 + HTTP_HEADER_MAX_DEFAULT] = '\0';
	hdrs[0] = h;
	hdrs[1] = NULL;
	request(port(state), "GET", "/hello", NULL, 0, hdrs, 0, &r);
	assert_int_equal(r.status, 431);
	result_clear(&r);

	/* Well under the limit is fine. */
	h[7 + HTTP_HEADER_MAX_DEFAULT / 2] = '\0';
	request(port(state), "GET", "/hello", NULL, 0, hdrs, 0, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);

	/* So is a header just under the limit: the connection's memory
	 * holds it. */
	memset(h + 7, 'b', HTTP_HEADER_MAX_DEFAULT);
	h[HTTP_HEADER_MAX_DEFAULT - 512] = '\0';
	request(port(state), "GET", "/hello", NULL, 0, hdrs, 0, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	free(h);
}

/* A Cookie field under the header limit is served: MHD keeps a copy of it
 * and a table entry per cookie in the connection's memory, besides the
 * request's header block itself. */
static void
test_header_cookie_under_limit(void **state)
{
	const char *hdrs[2];
	char *cookie;
	struct result r;
	size_t i, o, cap = HTTP_HEADER_MAX_DEFAULT;
	json_t *j;

	/* 12 KiB of cookies (six of 2 KiB, as other applications of the host
	 * may set), the one read last. */
	cookie = malloc(cap);
	assert_non_null(cookie);
	o = (size_t)snprintf(cookie, cap, "Cookie: ");
	for (i = 0; i < 6; i++) {
		o += (size_t)snprintf(cookie + o, cap - o, "c%zu=", i);
		memset(cookie + o, 'v', 2048);
		o += 2048;
		o += (size_t)snprintf(cookie + o, cap - o, "; ");
	}
	snprintf(cookie + o, cap - o, "sid=abc123");
	hdrs[0] = cookie;
	hdrs[1] = NULL;
	request(port(state), "GET", "/echo", NULL, 0, hdrs, 0, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_string_equal(jstr(j, "sid"), "abc123");
	json_decref(j);
	result_clear(&r);
	free(cookie);
}

static void
test_not_found(void **state)
{
	struct result r;
	json_t *j;

	request(port(state), "GET", "/nope", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	assert_true(has_header(&r, "\r\nX-Content-Type-Options: nosniff\r\n"));
	j = body_json(&r);
	assert_string_equal(jstr(j, "error"), "not_found");
	json_decref(j);
	result_clear(&r);

	/* Exact routes do not match longer paths. */
	request(port(state), "GET", "/hello/x", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	result_clear(&r);
}

static void
test_bad_path(void **state)
{
	static const char *bad[] = {"/hel%00lo", "/hello%0a", "/%zz", "/hello%4"};
	struct result r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		request(port(state), "GET", bad[i], NULL, 0, NULL, 0, &r);
		assert_int_equal(r.status, 400);
		result_clear(&r);
	}
}

static void
test_raw_query(void **state)
{
	struct result r;
	json_t *j;

	request(port(state), "GET", "/echo?a=1&a=2&b=%20&c=%2B+", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_string_equal(jstr(j, "query"), "a=1&a=2&b=%20&c=%2B+");
	assert_string_equal(jstr(j, "body"), "");
	assert_string_equal(jstr(j, "method"), "GET");
	json_decref(j);
	result_clear(&r);

	request(port(state), "GET", "/echo", NULL, 0, NULL, 0, &r);
	j = body_json(&r);
	assert_string_equal(jstr(j, "query"), "");
	json_decref(j);
	result_clear(&r);
}

static void
test_cookies(void **state)
{
	const char *hdrs[] = {
		"Cookie: bad; =x; sidx=no; q=\"quoted v\";  sid = abc123 ; long=0123456789abcdefXYZ",
		NULL};
	struct result r;
	json_t *j;

	request(port(state), "GET", "/echo", NULL, 0, hdrs, 0, &r);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_string_equal(jstr(j, "sid"), "abc123");
	assert_string_equal(jstr(j, "q"), "quoted v");
	assert_null(json_object_get(j, "long")); /* does not fit in 16 bytes */
	json_decref(j);
	result_clear(&r);

	request(port(state), "GET", "/echo", NULL, 0, NULL, 0, &r);
	j = body_json(&r);
	assert_null(json_object_get(j, "sid"));
	json_decref(j);
	result_clear(&r);
}

static void
test_prefix_and_misc(void **state)
{
	struct result r;

	request(port(state), "PUT", "/misc/a/b", "x", 1, NULL, 0, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(buf_cstr(&r.body), "/misc/a/b");
	assert_int_equal(bad_header_rc, 0);
	result_clear(&r);

	request(port(state), "GET", "/misc/nostatus", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 500);
	assert_true(has_header(&r, "\r\nX-Content-Type-Options: nosniff\r\n"));
	result_clear(&r);

	request(port(state), "GET", "/misc/redirect", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 302);
	assert_true(has_header(&r, "\r\nLocation: https://example.com/cb?code=x\r\n"));
	assert_true(has_header(&r, "\r\nCache-Control: no-store\r\n"));
	result_clear(&r);

	/* The prefix "/misc/" does not match "/misc". */
	request(port(state), "GET", "/misc", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	result_clear(&r);
}

static void
test_config_errors(void **state)
{
	struct http_config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.bind_addr = "not-an-address";
	assert_null(http_server_new(&cfg, routes, 1));
	cfg.bind_addr = "127.0.0.1";
	cfg.tls_cert = "/nonexistent/cert.pem";
	cfg.tls_key = "/nonexistent/key.pem";
	assert_null(http_server_new(&cfg, routes, 1));
	cfg.tls_key = NULL;
	assert_null(http_server_new(&cfg, routes, 1));
	http_server_free(NULL);
}

/* In a child with RLIMIT_NOFILE ${soft} / ${hard}: start a server with the
 * default connection limit; 0 if it starts and the soft limit is then at
 * least ${want}. */
static int
nofile_child(rlim_t soft, rlim_t hard, rlim_t want)
{
	struct http_config cfg;
	struct http_server *srv;
	struct rlimit rl;
	pid_t pid;
	int status;

	if ((pid = fork()) < 0)
		return (-1);
	if (pid == 0) {
		rl.rlim_cur = soft;
		rl.rlim_max = hard;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(2);
		memset(&cfg, 0, sizeof(cfg));
		cfg.bind_addr = "127.0.0.1";
		cfg.threads = 2;
		if ((srv = http_server_new(&cfg, routes, 1)) == NULL)
			_exit(3);
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
			_exit(4);
		http_server_free(srv);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return (-1);
	return (WEXITSTATUS(status));
}

/* The soft RLIMIT_NOFILE is raised to fit the connection limit; a hard limit
 * too low for it lowers the connection limit instead of failing. */
static void
test_nofile(void **state)
{
	struct rlimit rl;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < HTTP_CONN_LIMIT_DEFAULT + 256)
		skip();
	assert_int_equal(nofile_child(256, HTTP_CONN_LIMIT_DEFAULT + 256,
	    HTTP_CONN_LIMIT_DEFAULT + 256), 0);
	assert_int_equal(nofile_child(512, 512, 512), 0);
}

/* Write a self-signed P-256 certificate and its key as PEM into ${dir}. */
static void
make_cert(const char *dir, char *cert, char *key, size_t cap)
{
	EVP_PKEY *pk;
	X509 *x;
	FILE *f;

	snprintf(cert, cap, "%s/cert.pem", dir);
	snprintf(key, cap, "%s/key.pem", dir);
	pk = EVP_EC_gen("P-256");
	assert_non_null(pk);
	x = X509_new();
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"127.0.0.1", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	assert_non_null(f = fopen(cert, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	assert_non_null(f = fopen(key, "w"));
	assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static void
test_tls(void **state)
{
	struct http_config cfg;
	struct http_server *srv;
	struct result r;
	char dir[512], cert[600], key[600];
	const char *base;
	json_t *j;

	(void)state;
	if ((base = getenv("MCPGATE_TEST_TMP")) == NULL || (mkdir(base, 0700) && errno != EEXIST))
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/http-server-XXXXXX", base);
	assert_non_null(mkdtemp(dir));
	make_cert(dir, cert, key, sizeof(cert));

	memset(&cfg, 0, sizeof(cfg));
	cfg.bind_addr = "127.0.0.1";
	cfg.threads = 1;
	cfg.tls_cert = cert;
	cfg.tls_key = key;
	srv = http_server_new(&cfg, routes, sizeof(routes) / sizeof(routes[0]));
	assert_non_null(srv);
	use_tls = 1;
	request(http_server_port(srv), "POST", "/echo?t=1", "x=1", 3, NULL, 0, &r);
	use_tls = 0;
	assert_int_equal(r.cc, CURLE_OK);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_int_equal(json_integer_value(json_object_get(j, "tls")), 1);
	assert_string_equal(jstr(j, "body"), "x=1");
	json_decref(j);
	result_clear(&r);

	/* Plain HTTP to the TLS port gets no answer. */
	request(http_server_port(srv), "GET", "/hello", NULL, 0, NULL, 0, &r);
	assert_int_not_equal(r.status, 200);
	result_clear(&r);
	http_server_free(srv);

	/* A key file that is not a key. */
	cfg.tls_key = cert;
	assert_null(http_server_new(&cfg, routes, 1));

	assert_int_equal(unlink(cert), 0);
	assert_int_equal(unlink(key), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_ipv6(void **state)
{
	struct http_config cfg;
	struct http_server *srv;
	struct result r;
	char url[128];
	CURL *c;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.bind_addr = "::1";
	cfg.threads = 1;
	if ((srv = http_server_new(&cfg, routes, 1)) == NULL) {
		print_message("no IPv6 loopback here, skipped\n");
		return;
	}
	memset(&r, 0, sizeof(r));
	buf_init(&r.body, 1024);
	snprintf(url, sizeof(url), "http://[::1]:%u/hello", (unsigned)http_server_port(srv));
	assert_non_null(c = curl_easy_init());
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_easy_cleanup(c);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "hello");
	buf_clear(&r.body);
	http_server_free(srv);
}

static void
test_resp_helpers(void **state)
{
	struct http_resp resp;
	size_t i;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	buf_init(&resp.body, HTTP_RESP_BODY_MAX);
	/* The same name replaces; Set-Cookie accumulates; the table is bounded. */
	assert_int_equal(http_resp_header(&resp, "X-Same", "1"), 0);
	assert_int_equal(http_resp_header(&resp, "x-same", "2"), 0);
	assert_int_equal(resp.nheaders, 1);
	assert_string_equal(resp.headers[0].value, "2");
	assert_int_equal(http_resp_header(&resp, "Set-Cookie", "a=1"), 0);
	assert_int_equal(http_resp_header(&resp, "Set-Cookie", "b=2"), 0);
	assert_int_equal(resp.nheaders, 3);
	for (i = resp.nheaders; i < HTTP_RESP_HEADERS_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "X-N%zu", i);
		assert_int_equal(http_resp_header(&resp, name, "v"), 0);
	}
	assert_int_equal(http_resp_header(&resp, "X-Full", "v"), -1);
	assert_int_equal(http_resp_header(&resp, "X-Bad", "a\r\nInjected: 1"), -1);
	http_resp_clear(&resp);
	assert_int_equal(resp.nheaders, 0);

	/* http_resp_json replaces an existing Content-Type. */
	http_resp_text(&resp, 200, "text/html", "x");
	http_resp_json(&resp, 400, json_pack("{s:s}", "error", "invalid_request"));
	assert_int_equal(resp.status, 400);
	assert_string_equal(buf_cstr(&resp.body), "{\"error\":\"invalid_request\"}");
	for (i = 0; i < resp.nheaders; i++) {
		if (strcasecmp(resp.headers[i].name, "Content-Type") == 0)
			assert_string_equal(resp.headers[i].value, "application/json");
	}
	assert_int_equal(resp.nheaders, 3);

	/* A handler's header replaces one http_resp_json() set, and the other
	 * way round. */
	assert_int_equal(http_resp_header(&resp, "Cache-Control", "max-age=60"), 0);
	assert_int_equal(resp.nheaders, 3);
	http_resp_json(&resp, 200, json_pack("{}"));
	for (i = 0; i < resp.nheaders; i++)
		if (strcasecmp(resp.headers[i].name, "Cache-Control") == 0)
			assert_string_equal(resp.headers[i].value, "no-store");
	assert_int_equal(resp.nheaders, 3);
	http_resp_clear(&resp);
	buf_clear(&resp.body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_post_echo),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_header_too_large),
		cmocka_unit_test(test_header_cookie_under_limit),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_bad_path),
		cmocka_unit_test(test_raw_query),
		cmocka_unit_test(test_cookies),
		cmocka_unit_test(test_prefix_and_misc),
	};
	const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_resp_helpers),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_nofile),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests_name("server", tests, setup, teardown);
	rc += cmocka_run_group_tests_name("helpers", plain, NULL, NULL);
	curl_global_cleanup();
	return (rc);
}
