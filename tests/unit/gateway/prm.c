/* Unit tests for src/gateway/prm.c: URLs, the document, and the handler
 * served by a real http_server and fetched with libcurl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/buf.h"
#include "gateway/prm.h"
#include "http/server.h"

static void
url_ok(const char *resource, const char *want)
{
	char out[PRM_URL_MAX + 64];

	assert_int_equal(prm_url_for(resource, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void
url_bad(const char *resource)
{
	char out[PRM_URL_MAX + 64];

	assert_int_equal(prm_url_for(resource, out, sizeof(out)), -1);
}

static void
test_url_for(void **state)
{
	char small[20];

	(void)state;
	/* RFC 9728 section 3.1: the well-known segment goes between the host
	 * and the path. */
	url_ok("https://mcp.example/mcp", "https://mcp.example/.well-known/oauth-protected-resource/mcp");
	url_ok("https://mcp.example:8443/a/b", "https://mcp.example:8443/.well-known/oauth-protected-resource/a/b");
	url_ok("http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp");
	url_ok("https://mcp.example", "https://mcp.example/.well-known/oauth-protected-resource");
	url_ok("https://mcp.example/", "https://mcp.example/.well-known/oauth-protected-resource");
	url_ok("https://mcp.example/mcp?t=1", "https://mcp.example/.well-known/oauth-protected-resource/mcp?t=1");
	url_ok("https://[::1]:9/mcp", "https://[::1]:9/.well-known/oauth-protected-resource/mcp");
	url_bad(NULL);
	url_bad("mcp.example/mcp");
	url_bad("ftp://mcp.example/mcp");
	url_bad("https:///mcp");
	url_bad("https://mcp.example/mcp#frag");
	url_bad("https://mcp.example/m cp");
	url_bad("https://mcp.example/m\"cp");
	url_bad("https://mcp.example?x");
	assert_int_equal(prm_url_for("https://mcp.example/mcp", small, sizeof(small)), -1);
}

static const char *const as1[] = {"https://as.example"};
static const char *const as2[] = {"https://as.example", "https://idp.example/realms/x"};

static void
test_new(void **state)
{
	struct prm_params p;
	struct prm *m;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.resource = "https://mcp.example/mcp";
	p.authorization_servers = as1;
	p.nas = 1;
	assert_non_null(m = prm_new(&p));
	assert_string_equal(prm_url(m), "https://mcp.example/.well-known/oauth-protected-resource/mcp");
	assert_string_equal(prm_path(m), "/.well-known/oauth-protected-resource/mcp");
	prm_free(m);
	prm_free(NULL);

	p.resource = "https://mcp.example/mcp?x=1";
	assert_non_null(m = prm_new(&p));
	assert_string_equal(prm_path(m), "/.well-known/oauth-protected-resource/mcp");
	prm_free(m);

	p.resource = "https://mcp.example/mcp#x";
	assert_null(prm_new(&p));
	p.resource = "https://mcp.example/mcp";
	p.nas = 0;
	assert_null(prm_new(&p));
	p.nas = PRM_AS_MAX + 1;
	assert_null(prm_new(&p));
	p.nas = 1;
	p.scopes_supported = "mcp:read \"bad\"";
	assert_null(prm_new(&p));
}

/* The server, for the handler tests. */
static struct http_server *srv;
static uint16_t port;
static struct http_route routes[2];

struct reply {
	long status;
	struct buf headers;
	struct buf body;
};

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	return (buf_add(arg, p, size * n) ? 0 : size * n);
}

static void
request(const char *method, const char *path, struct reply *r)
{
	char url[256];
	CURL *c;

	buf_init(&r->headers, 65536);
	buf_init(&r->body, 65536);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
	assert_non_null(c = curl_easy_init());
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
}

static void
reply_clear(struct reply *r)
{
	buf_clear(&r->headers);
	buf_clear(&r->body);
}

static void
test_handler(void **state)
{
	const char *paths[] = {"/.well-known/oauth-protected-resource",
	    "/.well-known/oauth-protected-resource/mcp"};
	struct http_config cfg;
	struct prm_params p;
	struct prm *m;
	struct reply r;
	json_t *doc, *v;
	size_t i;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.resource = "https://mcp.example/mcp";
	p.authorization_servers = as2;
	p.nas = 2;
	p.scopes_supported = "mcp:write mcp:read mcp:read";
	p.resource_name = "Example \"MCP\" gateway";
	assert_non_null(m = prm_new(&p));
	routes[0] = (struct http_route){PRM_WELL_KNOWN, 0, prm_handle, m};
	routes[1] = (struct http_route){prm_path(m), 0, prm_handle, m};
	memset(&cfg, 0, sizeof(cfg));
	cfg.bind_addr = "127.0.0.1";
	cfg.threads = 1;
	cfg.timeout_s = 5;
	assert_non_null(srv = http_server_new(&cfg, routes, 2));
	port = http_server_port(srv);

	for (i = 0; i < 2; i++) {
		request("GET", paths[i], &r);
		assert_int_equal(r.status, 200);
		assert_non_null(strcasestr(buf_cstr(&r.headers), "Content-Type: application/json"));
		assert_non_null(strcasestr(buf_cstr(&r.headers), "Access-Control-Allow-Origin: *"));
		assert_non_null(strcasestr(buf_cstr(&r.headers), "Cache-Control: public, max-age=300"));
		assert_non_null(doc = json_loads(buf_cstr(&r.body), JSON_REJECT_DUPLICATES, NULL));
		assert_string_equal(json_string_value(json_object_get(doc, "resource")), "https://mcp.example/mcp");
		v = json_object_get(doc, "authorization_servers");
		assert_int_equal(json_array_size(v), 2);
		assert_string_equal(json_string_value(json_array_get(v, 0)), "https://as.example");
		assert_string_equal(json_string_value(json_array_get(v, 1)), "https://idp.example/realms/x");
		v = json_object_get(doc, "scopes_supported");
		assert_int_equal(json_array_size(v), 2);
		assert_string_equal(json_string_value(json_array_get(v, 0)), "mcp:read");
		assert_string_equal(json_string_value(json_array_get(v, 1)), "mcp:write");
		v = json_object_get(doc, "bearer_methods_supported");
		assert_int_equal(json_array_size(v), 1);
		assert_string_equal(json_string_value(json_array_get(v, 0)), "header");
		assert_string_equal(json_string_value(json_object_get(doc, "resource_name")),
		    "Example \"MCP\" gateway");
		assert_int_equal(json_object_size(doc), 5);
		json_decref(doc);
		reply_clear(&r);

		request("HEAD", paths[i], &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body.len, 0);
		reply_clear(&r);

		request("POST", paths[i], &r);
		assert_int_equal(r.status, 405);
		assert_non_null(strcasestr(buf_cstr(&r.headers), "Allow: GET, HEAD"));
		reply_clear(&r);
		request("DELETE", paths[i], &r);
		assert_int_equal(r.status, 405);
		reply_clear(&r);
	}
	http_server_free(srv);
	prm_free(m);

	/* Without scopes and name, those members are absent. */
	p.scopes_supported = NULL;
	p.resource_name = NULL;
	p.nas = 1;
	assert_non_null(m = prm_new(&p));
	routes[0].arg = m;
	routes[1] = (struct http_route){prm_path(m), 0, prm_handle, m};
	assert_non_null(srv = http_server_new(&cfg, routes, 2));
	port = http_server_port(srv);
	request("GET", "/.well-known/oauth-protected-resource/mcp", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "{\"resource\":\"https://mcp.example/mcp\",\"authorization_servers\":"
					       "[\"https://as.example\"],\"bearer_methods_supported\":[\"header\"]}");
	reply_clear(&r);
	http_server_free(srv);
	prm_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_for),
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_handler),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
