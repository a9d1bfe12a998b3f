/* Tests for src/server/config.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"

static char path[256];

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/mcpgate-config-XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return (-1);
	close(fd);
	unsetenv("MCPGATE_PORT");
	unsetenv("MCPGATE_DATA");
	unsetenv("MCPGATE_DEMO_PASSWORD");
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	return (0);
}

/* Load ${json} as a configuration file. */
static int
load(struct config *cfg, const char *json)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(json, f);
	fclose(f);
	return (config_load(cfg, path));
}

static void
test_defaults(void **state)
{
	struct config cfg;

	(void)state;
	setenv("MCPGATE_PORT", "18123", 1);
	setenv("MCPGATE_DATA", "/tmp/mcpgate-data", 1);
	setenv("MCPGATE_DEMO_PASSWORD", "correct horse", 1);
	assert_int_equal(config_load(&cfg, NULL), 0);
	assert_string_equal(cfg.listen_addr, "127.0.0.1");
	assert_int_equal(cfg.port, 18123);
	assert_string_equal(cfg.issuer, "http://127.0.0.1:18123");
	assert_string_equal(cfg.store_url, "sqlite:/tmp/mcpgate-data/mcpgate.db");
	assert_string_equal(cfg.master_key_file, "/tmp/mcpgate-data/master.key");
	assert_string_equal(cfg.demo_username, "demo");
	assert_string_equal(cfg.demo_password, "correct horse");
	assert_int_equal(cfg.nresources, 1);
	assert_string_equal(cfg.resources[0], "http://127.0.0.1:18123/mcp");
	assert_int_equal(cfg.nscopes, 4);
	assert_true(config_has_scope(&cfg, "mcp:read"));
	assert_true(config_has_scope(&cfg, "mcp:jira"));
	assert_false(config_has_scope(&cfg, "mcp:admin"));
	assert_int_equal(cfg.tokens.access_ttl, 600);
	assert_int_equal(cfg.tokens.code_ttl, 60);
	assert_int_equal(cfg.tokens.refresh_ttl, 30 * 86400);
	assert_int_equal(cfg.tokens.refresh_idle_ttl, 7 * 86400);
	assert_int_equal(cfg.registration.policy, REG_OPEN);
	assert_true(cfg.registration.loopback_only);
	assert_false(cfg.registration.allow_confidential);
	assert_true(cfg.cimd.enabled);
	assert_false(cfg.cimd.allow_private);
	assert_false(cfg.cimd.allow_http);
	assert_true(cfg.as_enabled);
	assert_true(cfg.gateway.enabled);
	assert_string_equal(cfg.gateway.path, "/mcp");
	assert_string_equal(cfg.gateway.resource, "http://127.0.0.1:18123/mcp");
	assert_string_equal(cfg.gateway.authorization_servers[0], "http://127.0.0.1:18123");
	assert_int_equal(cfg.gateway.page_size, 100);
	assert_int_equal(cfg.gateway.list_ttl_ms, 30000);
	assert_int_equal(cfg.gateway.read_ttl_ms, 0);
	assert_string_equal(cfg.audit.file, "/tmp/mcpgate-data/audit.log");
	assert_int_equal(cfg.auth.mode, RS_MODE_LOCAL);
	assert_int_equal(cfg.mcp_servers.n, 0);
	config_clear(&cfg);

	/* make run: the two npm servers */
	setenv("MCPGATE_NODE_MODULES", "/opt/nm", 1);
	setenv("MCPGATE_NODE", "/opt/node", 1);
	assert_int_equal(config_load(&cfg, NULL), 0);
	unsetenv("MCPGATE_NODE_MODULES");
	unsetenv("MCPGATE_NODE");
	assert_int_equal(cfg.mcp_servers.n, 2);
	assert_string_equal(cfg.mcp_servers.v[0].name, "filesystem");
	assert_string_equal(cfg.mcp_servers.v[0].argv[0], "/opt/node");
	assert_string_equal(cfg.mcp_servers.v[0].argv[2], "/tmp/mcpgate-data/demo");
	assert_string_equal(cfg.mcp_servers.v[1].name, "everything");
	config_clear(&cfg);

	setenv("MCPGATE_PORT", "70000", 1);
	assert_int_equal(config_load(&cfg, NULL), -1);
	setenv("MCPGATE_PORT", "80x", 1);
	assert_int_equal(config_load(&cfg, NULL), -1);
}

static void
test_example(void **state)
{
	struct config cfg;
	char p[512];

	(void)state;
	snprintf(p, sizeof(p), "%s/examples/mcpgate.json", MCPGATE_SOURCE_DIR);
	assert_int_equal(config_load(&cfg, p), 0);
	assert_string_equal(cfg.issuer, "http://127.0.0.1:8080");
	assert_int_equal(cfg.nscopes, 4);
	assert_string_equal(config_scope_description(&cfg, "mcp:write"), "Make changes through MCP tools");
	assert_string_equal(config_scope_description(&cfg, "other"), "other");
	config_clear(&cfg);
}

static void
test_values(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(load(&cfg, "{\"listen\":{\"port\":9000},\"issuer\":\"https://auth.example.com\","
				    "\"resources\":[\"https://mcp.example.com/mcp\",\"https://b.example.com\"],"
				    "\"scopes\":[\"a\",\"b:c\"],\"registration\":{\"policy\":\"token\","
				    "\"initial_access_token\":\"0123456789abcdef\"},"
				    "\"tokens\":{\"access_ttl\":300},"
				    "\"gateway\":{\"resource\":\"https://mcp.example.com/mcp\",\"page_size\":3,"
				    "\"list_ttl_ms\":0,\"read_ttl_ms\":1500,"
				    "\"mrtr\":{\"ttl_ms\":2000,\"max\":50,\"per_principal\":3,\"per_subject\":7}}}"),
	    0);
	assert_string_equal(cfg.gateway.resource, "https://mcp.example.com/mcp");
	assert_int_equal(cfg.gateway.page_size, 3);
	assert_int_equal(cfg.gateway.list_ttl_ms, 0);
	assert_int_equal(cfg.gateway.read_ttl_ms, 1500);
	assert_int_equal(cfg.gateway.mrtr_ttl_ms, 2000);
	assert_int_equal(cfg.gateway.mrtr_max, 50);
	assert_int_equal(cfg.gateway.mrtr_per_principal, 3);
	assert_int_equal(cfg.gateway.mrtr_per_subject, 7);
	assert_int_equal(cfg.gateway.nas, 1);
	assert_string_equal(cfg.gateway.authorization_servers[0], "https://auth.example.com");
	assert_int_equal(cfg.port, 9000);
	assert_string_equal(cfg.issuer, "https://auth.example.com");
	assert_true(config_has_resource(&cfg, "https://b.example.com"));
	assert_false(config_has_resource(&cfg, "https://b.example.com/"));
	assert_int_equal(cfg.nscopes, 2);
	assert_int_equal(cfg.registration.policy, REG_TOKEN);
	assert_int_equal(cfg.tokens.access_ttl, 300);
	assert_null(cfg.demo_username); /* only with "demo_user" in a file */
	config_clear(&cfg);

	/* Without "gateway.resource": the first resource when the issuer's
	 * origin + path is not one of them. */
	assert_int_equal(load(&cfg, "{\"issuer\":\"https://auth.example.com\","
				    "\"resources\":[\"https://mcp.example.com/x\"]}"),
	    0);
	assert_string_equal(cfg.gateway.resource, "https://mcp.example.com/x");
	config_clear(&cfg);
	assert_int_equal(load(&cfg, "{\"issuer\":\"https://auth.example.com\","
				    "\"resources\":[\"https://x.example\",\"https://auth.example.com/mcp\"]}"),
	    0);
	assert_string_equal(cfg.gateway.resource, "https://auth.example.com/mcp");
	config_clear(&cfg);
}

static void
test_rejects(void **state)
{
	static const char *bad[] = {
		"not json",
		"{\"a\":1}",					  /* unknown key */
		"{\"listen\":{\"prot\":1}}",			  /* typo */
		"{\"listen\":{\"port\":65536}}",
		"{\"listen\":{\"port\":\"80\"}}",
		"{\"issuer\":\"http://auth.example.com\"}",	  /* http off loopback */
		"{\"issuer\":\"https://auth.example.com/\"}",	  /* trailing slash */
		"{\"issuer\":\"https://auth.example.com?x=1\"}",
		"{\"issuer\":\"https://auth.example.com#f\"}",
		"{\"issuer\":\"ftp://auth.example.com\"}",
		"{\"issuer\":\"\"}",
		"{\"scopes\":[\"has space\"]}",
		"{\"scopes\":[\"quote\\\"\"]}",
		"{\"scopes\":7}",
		"{\"resources\":[]}",
		"{\"resources\":[\"mcp\"]}",
		"{\"resources\":[\"https://a/#x\"]}",
		"{\"registration\":{\"policy\":\"maybe\"}}",
		"{\"registration\":{\"policy\":\"token\"}}",	  /* no token */
		"{\"registration\":{\"policy\":\"token\",\"initial_access_token\":\"short\"}}",
		"{\"tokens\":{\"access_ttl\":0}}",
		"{\"tokens\":{\"code_ttl\":3600}}",
		"{\"tls\":{\"cert\":\"/c.pem\"}}",		  /* no key */
		"{\"cimd\":{\"allow_private\":\"yes\"}}",
		"{\"issuer\":\"https://a\",\"issuer\":\"https://b\"}", /* duplicate key */
		"{\"gateway\":{\"pth\":\"/mcp\"}}",
		"{\"gateway\":{\"path\":\"mcp\"}}",
		"{\"gateway\":{\"path\":\"/.well-known/x\"}}",
		"{\"gateway\":{\"timeout_ms\":0}}",
		"{\"gateway\":{\"page_size\":0}}",
		"{\"gateway\":{\"page_size\":1001}}",
		"{\"gateway\":{\"page_size\":\"10\"}}",
		"{\"gateway\":{\"list_ttl_ms\":-1}}",
		"{\"gateway\":{\"read_ttl_ms\":86400001}}",
		"{\"gateway\":{\"sessions\":{\"max\":0}}}",
		"{\"gateway\":{\"sessions\":{\"ttl\":5}}}",
		"{\"gateway\":{\"mrtr\":{\"ttl_ms\":10}}}",
		"{\"gateway\":{\"mrtr\":{\"ttl_ms\":86400000}}}",
		"{\"gateway\":{\"mrtr\":{\"max\":0}}}",
		"{\"gateway\":{\"mrtr\":{\"ttl\":5}}}",
		"{\"gateway\":{\"allowed_origins\":[\"a b\"]}}",
		"{\"resources\":[\"https://a/mcp\"],\"gateway\":{\"resource\":\"https://b/mcp\"}}",
		"{\"resources\":[\"https://a/mcp\"],\"gateway\":{\"resource\":\"ftp://a/mcp\"}}",
		"{\"authorization_server\":{\"enabled\":false}}",	   /* local auth without AS */
		"{\"authorization_server\":{\"enabled\":false},\"gateway\":{\"enabled\":false}}",
		"{\"mcpServers\":{\"a__b\":{\"command\":\"x\"}}}",
		"{\"mcpServers\":{\"a\":{\"command\":\"x\",\"bogus\":1}}}",
		"{\"auth\":{\"mode\":\"magic\"}}",
		"{\"policy\":{\"rulez\":[]}}",
		"{\"audit\":{\"fil\":\"x\"}}",
		"{\"listen\":{\"per_ip_connections\":-1}}",
		"{\"listen\":{\"per_ip_connections\":true}}",
		"{\"rate_limits\":{\"token\":{\"max\":1}}}",
		"{\"rate_limits\":{\"register\":{\"max\":-1}}}",
		"{\"rate_limits\":{\"register\":{\"window\":0}}}",
		"{\"rate_limits\":{\"authorize\":{\"burst\":3}}}",
		"{\"rate_limits\":{\"authorize\":5}}",
	};
	struct config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (load(&cfg, bad[i]) != -1)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(config_load(&cfg, "/nonexistent/mcpgate.json"), -1);
}

/* The per-address limits: defaults, values, and 0 for "no limit". */
static void
test_limits(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(config_load(&cfg, NULL), 0);
	assert_int_equal(cfg.per_ip_connections, CONFIG_PER_IP_CONNECTIONS_DEFAULT);
	assert_int_equal(cfg.rate_register.max, CONFIG_RATE_REGISTER_MAX_DEFAULT);
	assert_int_equal(cfg.rate_register.window, CONFIG_RATE_REGISTER_WINDOW_DEFAULT);
	assert_int_equal(cfg.rate_authorize.max, CONFIG_RATE_AUTHORIZE_MAX_DEFAULT);
	assert_int_equal(cfg.rate_authorize.window, CONFIG_RATE_AUTHORIZE_WINDOW_DEFAULT);
	config_clear(&cfg);
	assert_int_equal(load(&cfg, "{\"listen\":{\"per_ip_connections\":7},\"rate_limits\":"
				    "{\"register\":{\"max\":3,\"window\":60},\"authorize\":{\"max\":0}}}"),
	    0);
	assert_int_equal(cfg.per_ip_connections, 7);
	assert_int_equal(cfg.rate_register.max, 3);
	assert_int_equal(cfg.rate_register.window, 60);
	assert_int_equal(cfg.rate_authorize.max, 0);
	assert_int_equal(cfg.rate_authorize.window, CONFIG_RATE_AUTHORIZE_WINDOW_DEFAULT);
	config_clear(&cfg);
	assert_int_equal(load(&cfg, "{\"listen\":{\"per_ip_connections\":0}}"), 0);
	assert_int_equal(cfg.per_ip_connections, 0);
	config_clear(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	};

	return (cmocka_run_group_tests_name("server/config", tests, NULL, NULL));
}
