/* Tests for src/client/client.c (handle, options, scope helpers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/internal.h"

static void
test_scope(void **state)
{
	char *s;

	(void)state;
	s = client_scope_union("a b", "b c");
	assert_string_equal(s, "a b c");
	free(s);
	s = client_scope_union(NULL, "  x  x y ");
	assert_string_equal(s, "x y");
	free(s);
	assert_null(client_scope_union(NULL, NULL));
	assert_null(client_scope_union("", " "));
	assert_true(client_scope_has("mcp:read mcp:write", "mcp:write"));
	assert_false(client_scope_has("mcp:read mcp:write", "mcp"));
	assert_false(client_scope_has(NULL, "x"));
}

static void
test_handle(void **state)
{
	struct mcpgate_client *c;

	(void)state;
	assert_int_equal(mcpgate_client_new("https://mcp.example.com/mcp", &c), MCPGATE_OK);
	assert_string_equal(mcpgate_client_errmsg(c), "");
	assert_int_equal(mcpgate_client_set_scope(c, "a b"), MCPGATE_OK);
	assert_int_equal(mcpgate_client_set_scope(c, "a\"b"), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_cimd_url(c, "http://x/y"), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_cimd_url(c, "https://x"), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_cimd_url(c, "https://x/client.json"), MCPGATE_OK);
	assert_int_equal(mcpgate_client_set_protocol_version(c, "2025-11-25"), MCPGATE_OK);
	assert_int_equal(mcpgate_client_set_protocol_version(c, "1999-01-01"), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_timeout(c, 0), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_credentials(c, "", NULL, MCPGATE_AUTH_AUTO), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_credentials(c, "id", "s", MCPGATE_AUTH_POST), MCPGATE_OK);
	assert_int_equal(mcpgate_client_set_store(c, NULL), MCPGATE_OK);
	mcpgate_client_free(c);
	mcpgate_client_free(NULL);

	assert_int_equal(mcpgate_client_new("ftp://x/", &c), MCPGATE_E_INVAL);
	assert_null(c);
	assert_int_equal(mcpgate_client_new("https://user@x/", &c), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_new("https://x/#frag", &c), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_new("https:///path", &c), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_new("https://x/a b", &c), MCPGATE_E_INVAL);
}

static void
test_issuer(void **state)
{
	struct mcpgate_client *c;

	(void)state;
	assert_int_equal(mcpgate_client_new("https://mcp.example/mcp", &c), MCPGATE_OK);
	assert_null(c->opt_issuer);
	assert_int_equal(mcpgate_client_set_issuer(c, "https://as.example"), MCPGATE_OK);
	assert_string_equal(c->opt_issuer, "https://as.example");
	assert_int_equal(mcpgate_client_set_issuer(c, "ftp://as.example"), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_issuer(c, "https://as.example/#f"), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_issuer(c, NULL), MCPGATE_E_INVAL);
	assert_string_equal(c->opt_issuer, "https://as.example");
	mcpgate_client_free(c);
}

/* jansson frees through a wiping function once the library is in use; the
 * memory still comes from malloc (objects made before stay valid). */
static void
test_jansson_wipes(void **state)
{
	struct mcpgate_client *c;
	json_malloc_t m;
	json_free_t f;
	json_t *before;

	(void)state;
	before = json_string("made before the switch");
	assert_int_equal(mcpgate_client_new("https://mcp.example/mcp", &c), MCPGATE_OK);
	json_get_alloc_funcs(&m, &f);
	assert_ptr_equal(m, malloc);
	assert_ptr_not_equal(f, free);
	json_decref(before);
	before = json_pack("{s:s}", "access_token", "x");
	json_decref(before);
	mcpgate_client_free(c);
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_string_equal(mcpgate_strerror(MCPGATE_OK), "success");
	assert_string_equal(mcpgate_strerror(MCPGATE_E_ISS), "authorization response from the wrong issuer");
	assert_string_equal(mcpgate_strerror((mcpgate_err)9999), "unknown error");
	/* Stable numbers: a change here breaks every program built on the library. */
	assert_int_equal(MCPGATE_E_NETWORK, 3);
	assert_int_equal(MCPGATE_E_STORE_CORRUPT, 25);
	assert_int_equal(MCPGATE_E_INTERNAL, 29);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_handle),
		cmocka_unit_test(test_issuer),
		cmocka_unit_test(test_jansson_wipes),
		cmocka_unit_test(test_strerror),
	};

	return (cmocka_run_group_tests_name("client/client", tests, NULL, NULL));
}
