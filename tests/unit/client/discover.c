/* Tests for src/client/discover.c (URL construction and resource matching). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/discover.h"

static void
test_prm_urls(void **state)
{
	char *u[2];

	(void)state;
	assert_int_equal(discover_prm_urls("https://example.com/public/mcp", u), 2);
	assert_string_equal(u[0], "https://example.com/.well-known/oauth-protected-resource/public/mcp");
	assert_string_equal(u[1], "https://example.com/.well-known/oauth-protected-resource");
	free(u[0]);
	free(u[1]);
	assert_int_equal(discover_prm_urls("http://127.0.0.1:8080/mcp/?x=1", u), 2);
	assert_string_equal(u[0], "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp");
	free(u[0]);
	free(u[1]);
	assert_int_equal(discover_prm_urls("https://example.com", u), 1);
	assert_string_equal(u[0], "https://example.com/.well-known/oauth-protected-resource");
	free(u[0]);
	assert_int_equal(discover_prm_urls("ftp://example.com/x", u), -1);
}

static void
test_as_urls(void **state)
{
	char *u[3];
	int i;

	(void)state;
	assert_int_equal(discover_as_urls("https://auth.example.com/tenant1", u), 3);
	assert_string_equal(u[0], "https://auth.example.com/.well-known/oauth-authorization-server/tenant1");
	assert_string_equal(u[1], "https://auth.example.com/.well-known/openid-configuration/tenant1");
	assert_string_equal(u[2], "https://auth.example.com/tenant1/.well-known/openid-configuration");
	for (i = 0; i < 3; i++)
		free(u[i]);
	assert_int_equal(discover_as_urls("https://auth.example.com", u), 2);
	assert_string_equal(u[0], "https://auth.example.com/.well-known/oauth-authorization-server");
	assert_string_equal(u[1], "https://auth.example.com/.well-known/openid-configuration");
	assert_null(u[2]);
	for (i = 0; i < 3; i++)
		free(u[i]);
	/* RFC 8414 3.1: a terminating slash is dropped before insertion. */
	assert_int_equal(discover_as_urls("https://auth.example.com/", u), 2);
	assert_string_equal(u[0], "https://auth.example.com/.well-known/oauth-authorization-server");
	for (i = 0; i < 3; i++)
		free(u[i]);
}

static void
test_resource(void **state)
{
	(void)state;
	assert_true(discover_resource_matches("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"));
	assert_true(discover_resource_matches("https://mcp.example.com", "https://mcp.example.com/mcp"));
	assert_true(discover_resource_matches("https://mcp.example.com/", "https://mcp.example.com/mcp"));
	assert_true(discover_resource_matches("HTTPS://MCP.example.com/mcp", "https://mcp.example.com/mcp"));
	assert_true(discover_resource_matches("https://mcp.example.com/a", "https://mcp.example.com/a/b"));
	assert_false(discover_resource_matches("https://mcp.example.com/a", "https://mcp.example.com/ab"));
	assert_false(discover_resource_matches("https://other.example.com/mcp", "https://mcp.example.com/mcp"));
	assert_false(discover_resource_matches("http://mcp.example.com/mcp", "https://mcp.example.com/mcp"));
	assert_false(discover_resource_matches("https://mcp.example.com:8443/mcp", "https://mcp.example.com/mcp"));
	assert_false(discover_resource_matches("https://mcp.example.com/mcp/x", "https://mcp.example.com/mcp"));
	assert_false(discover_resource_matches("https://mcp.example.com/mcp#f", "https://mcp.example.com/mcp"));
	assert_false(discover_resource_matches("mcp.example.com", "https://mcp.example.com/mcp"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prm_urls),
		cmocka_unit_test(test_as_urls),
		cmocka_unit_test(test_resource),
	};

	return (cmocka_run_group_tests_name("client/discover", tests, NULL, NULL));
}
