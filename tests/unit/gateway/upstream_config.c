/* Tests for src/gateway/upstream_config.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/upstream.h"

static int
parse(const char *text, struct upstream_configs *out, const char **why)
{
	json_t *j = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(j);
	rc = upstream_config_parse(j, out, why);
	json_decref(j);
	return (rc);
}

static void
t_full(void **state)
{
	struct upstream_configs c;
	const char *why = NULL;

	(void)state;
	assert_int_equal(parse("{"
	    "\"fs\": {\"command\": \"npx\", \"args\": [\"-y\", \"pkg\", \"/tmp\"], \"env\": {\"A\": \"1\"},"
	    "  \"scope\": \"mcp:fs\", \"isolation\": \"per-user\", \"timeout_ms\": 5000, \"idle_ms\": 60000,"
	    "  \"max_calls\": 16},"
	    "\"remote\": {\"type\": \"http\", \"url\": \"https://mcp.example/mcp\","
	    "  \"headers\": {\"X-Api-Key\": \"k\"}},"
	    "\"gh\": {\"url\": \"http://127.0.0.1:9/mcp\", \"namespace\": false, \"oauth\": {"
	    "  \"token_endpoint\": \"https://as.example/token\", \"client_id\": \"gw\","
	    "  \"client_secret\": \"s\", \"scope\": \"repo\", \"resource\": \"https://gh.example\"}}"
	    "}", &c, &why), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.v[0].name, "fs");
	assert_int_equal(c.v[0].kind, UPSTREAM_STDIO);
	assert_int_equal(c.v[0].argc, 4);
	assert_string_equal(c.v[0].argv[0], "npx");
	assert_string_equal(c.v[0].argv[3], "/tmp");
	assert_null(c.v[0].argv[4]);
	assert_int_equal(c.v[0].envc, 1);
	assert_string_equal(c.v[0].envp[0], "A=1");
	assert_null(c.v[0].envp[1]);
	assert_string_equal(c.v[0].scope, "mcp:fs");
	assert_int_equal(c.v[0].isolation, UPSTREAM_PER_USER);
	assert_int_equal(c.v[0].timeout_ms, 5000);
	assert_int_equal(c.v[0].idle_ms, 60000);
	assert_int_equal(c.v[0].max_calls, 16);
	assert_int_equal(c.v[0].namespaced, 1);
	assert_int_equal(c.v[1].kind, UPSTREAM_HTTP);
	assert_string_equal(c.v[1].url, "https://mcp.example/mcp");
	assert_int_equal(c.v[1].nheaders, 1);
	assert_string_equal(c.v[1].headers[0].name, "X-Api-Key");
	assert_null(c.v[1].oauth);
	assert_null(c.v[1].scope);
	assert_int_equal(c.v[1].isolation, UPSTREAM_SHARED);
	assert_int_equal(c.v[1].timeout_ms, UPSTREAM_TIMEOUT_DEFAULT_MS);
	assert_int_equal(c.v[1].max_calls, UPSTREAM_PENDING_MAX);
	assert_non_null(c.v[2].oauth);
	assert_string_equal(c.v[2].oauth->client_id, "gw");
	assert_string_equal(c.v[2].oauth->resource, "https://gh.example");
	assert_int_equal(c.v[2].namespaced, 0);
	upstream_config_clear(&c);
	assert_int_equal(c.n, 0);
	assert_int_equal(parse("{}", &c, &why), 0);
	assert_int_equal(c.n, 0);
}

static void
t_refused(void **state)
{
	static const char *bad[] = {
		"[]",
		"{\"a\": []}",
		"{\"\": {\"command\": \"x\"}}",
		"{\"a__b\": {\"command\": \"x\"}}",
		"{\"_a\": {\"command\": \"x\"}}",
		"{\"a_\": {\"command\": \"x\"}}",
		"{\"a.b\": {\"command\": \"x\"}}",
		"{\"a\": {}}",
		"{\"a\": {\"command\": \"x\", \"url\": \"https://x\"}}",
		"{\"a\": {\"command\": \"\"}}",
		"{\"a\": {\"command\": \"x\", \"bogus\": 1}}",
		"{\"a\": {\"command\": \"x\", \"args\": [1]}}",
		"{\"a\": {\"command\": \"x\", \"args\": \"-v\"}}",
		"{\"a\": {\"command\": \"x\", \"env\": {\"A=B\": \"1\"}}}",
		"{\"a\": {\"command\": \"x\", \"env\": {\"A\": 1}}}",
		"{\"a\": {\"command\": \"x\", \"headers\": {}}}",
		"{\"a\": {\"command\": \"x\", \"isolation\": \"none\"}}",
		"{\"a\": {\"command\": \"x\", \"timeout_ms\": 0}}",
		"{\"a\": {\"command\": \"x\", \"timeout_ms\": \"5\"}}",
		"{\"a\": {\"command\": \"x\", \"max_calls\": 0}}",
		"{\"a\": {\"command\": \"x\", \"max_calls\": 4097}}",
		"{\"a\": {\"command\": \"x\", \"max_calls\": 1.5}}",
		"{\"a\": {\"command\": \"x\", \"scope\": \"a b\"}}",
		"{\"a\": {\"command\": \"x\", \"namespace\": 1}}",
		"{\"a\": {\"command\": \"x\", \"type\": \"http\"}}",
		"{\"a\": {\"command\": \"x\\ny\"}}",
		"{\"a\": {\"url\": \"http://mcp.example/mcp\"}}",
		"{\"a\": {\"url\": \"ftp://mcp.example/mcp\"}}",
		"{\"a\": {\"url\": \"not a url\"}}",
		"{\"a\": {\"url\": \"https://x\", \"args\": []}}",
		"{\"a\": {\"url\": \"https://x\", \"headers\": {\"Mcp-Session-Id\": \"1\"}}}",
		"{\"a\": {\"url\": \"https://x\", \"headers\": {\"Bad Name\": \"1\"}}}",
		"{\"a\": {\"url\": \"https://x\", \"headers\": {\"X\": \"a\\r\\nB: c\"}}}",
		"{\"a\": {\"url\": \"https://x\", \"oauth\": {\"client_id\": \"a\", \"client_secret\": \"b\"}}}",
		"{\"a\": {\"url\": \"https://x\", \"oauth\": {\"token_endpoint\": \"http://as.example/t\","
		    " \"client_id\": \"a\", \"client_secret\": \"b\"}}}",
		"{\"a\": {\"url\": \"https://x\", \"oauth\": {\"token_endpoint\": \"https://as/t\","
		    " \"client_id\": \"a\"}}}",
		"{\"a\": {\"url\": \"https://x\", \"oauth\": {\"token_endpoint\": \"https://as/t\","
		    " \"client_id\": \"a\", \"client_secret\": \"b\", \"x\": 1}}}",
		"{\"a\": {\"url\": \"https://x\", \"headers\": {\"Authorization\": \"Bearer x\"},"
		    " \"oauth\": {\"token_endpoint\": \"https://as/t\", \"client_id\": \"a\","
		    " \"client_secret\": \"b\"}}}",
	};
	struct upstream_configs c;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (parse(bad[i], &c, &why) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(why);
		assert_int_equal(c.n, 0);
		assert_null(c.v);
	}
}

/* Error messages name the key, never a value (values may be secrets). */
static void
t_why_has_no_values(void **state)
{
	struct upstream_configs c;
	const char *why = NULL;

	(void)state;
	assert_int_equal(parse("{\"a\": {\"url\": \"https://x\", \"headers\": {\"X\": \"sekrit\\u0001\"}}}",
	    &c, &why), -1);
	assert_null(strstr(why, "sekrit"));
	assert_int_equal(parse("{\"a\": {\"command\": \"x\", \"env\": {\"K\": 5}}}", &c, &why), -1);
	assert_non_null(strstr(why, "mcpServers.a.env"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_full),
		cmocka_unit_test(t_refused),
		cmocka_unit_test(t_why_has_no_values),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
