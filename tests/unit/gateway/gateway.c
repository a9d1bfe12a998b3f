/* Unit tests for src/gateway/gateway.c: a gateway made from a configuration
 * (the echo MCP server as its upstream), its routes, start and stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/secret.h"
#include "gateway/gateway.h"
#include "gateway/prm.h"
#include "http/server.h"
#include "server/config.h"
#include "store/store.h"
#include "token/keyring.h"

static char dir[512];

static int
write_config(const char *path, const char *json)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return (-1);
	fputs(json, f);
	fclose(f);
	return (0);
}

static void
test_gateway(void **state)
{
	struct config cfg;
	struct store *st;
	struct keyring *kr;
	struct gateway *g;
	struct http_route routes[GATEWAY_ROUTES_MAX];
	unsigned char master[MASTERKEY_LEN];
	char path[600], json[2048], url[600], audit[600];
	const char *base = getenv("MCPGATE_TEST_TMP");
	size_t n;

	(void)state;
	if (base == NULL)
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(dir, sizeof(dir), "%s/gateway-XXXXXX", base);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config.json", dir);
	snprintf(json, sizeof(json),
	    "{\"listen\":{\"port\":18999},\"data_dir\":\"%s\","
	    "\"mcpServers\":{\"echo\":{\"command\":\"%s\"}},"
	    "\"gateway\":{\"path\":\"/gw/mcp\"}}",
	    dir, MCPGATE_ECHO_MCP);
	assert_int_equal(write_config(path, json), 0);
	assert_int_equal(config_load(&cfg, path), 0);
	assert_string_equal(cfg.gateway.resource, "http://127.0.0.1:18999/gw/mcp");
	assert_int_equal(cfg.mcp_servers.n, 1);

	snprintf(url, sizeof(url), "sqlite:%s/store.db", dir);
	assert_int_equal(secret_random(master, sizeof(master)), 0);
	assert_non_null(st = store_open(url));
	assert_non_null(kr = keyring_open(st, master, clock_now()));

	assert_non_null(g = gateway_new(&cfg, kr, st));
	assert_int_equal(cfg.mcp_servers.n, 0); /* taken over */
	assert_string_equal(gateway_url(g), "http://127.0.0.1:18999/gw/mcp");
	assert_int_equal(gateway_routes(g, routes, 2), 0);
	n = gateway_routes(g, routes, GATEWAY_ROUTES_MAX);
	assert_int_equal(n, 3);
	assert_string_equal(routes[0].path, "/gw/mcp");
	assert_string_equal(routes[1].path, PRM_WELL_KNOWN);
	assert_string_equal(routes[2].path, PRM_WELL_KNOWN "/gw/mcp");
	assert_int_equal(gateway_start(g, 10000), 0);
	gateway_reopen_audit(g);
	gateway_free(g);
	gateway_free(NULL);

	/* The audit log exists, created 0600 under the data directory. */
	snprintf(audit, sizeof(audit), "%s/audit.log", dir);
	{
		struct stat sb;

		assert_int_equal(stat(audit, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	keyring_free(kr);
	store_free(st);
	config_clear(&cfg);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gateway),
	};

	return (cmocka_run_group_tests_name("gateway/gateway", tests, NULL, NULL));
}
