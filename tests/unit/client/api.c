/* Tests for src/client/api.c (the public entry points that need no server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mcpgate/mcpgate.h"

static json_t *
defaults(const char *params)
{
	json_error_t je;
	json_t *j;
	char *r = NULL;

	assert_int_equal(mcpgate_elicitation_defaults(params, &r), MCPGATE_OK);
	assert_non_null(r);
	j = json_loads(r, 0, &je);
	mcpgate_free(r);
	assert_non_null(j);
	return (j);
}

/* SEP-1034: every default of the requested schema, with its type. */
static void
test_defaults(void **state)
{
	json_t *j, *c;

	(void)state;
	j = defaults("{\"message\":\"m\",\"requestedSchema\":{\"type\":\"object\",\"properties\":{"
		     "\"name\":{\"type\":\"string\",\"default\":\"John Doe\"},"
		     "\"age\":{\"type\":\"integer\",\"default\":30},"
		     "\"score\":{\"type\":\"number\",\"default\":95.5},"
		     "\"status\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"],\"default\":\"b\"},"
		     "\"verified\":{\"type\":\"boolean\",\"default\":true},"
		     "\"note\":{\"type\":\"string\"}},\"required\":[\"name\"]}}");
	assert_string_equal(json_string_value(json_object_get(j, "action")), "accept");
	c = json_object_get(j, "content");
	assert_string_equal(json_string_value(json_object_get(c, "name")), "John Doe");
	assert_int_equal(json_integer_value(json_object_get(c, "age")), 30);
	assert_true(json_real_value(json_object_get(c, "score")) == 95.5);
	assert_string_equal(json_string_value(json_object_get(c, "status")), "b");
	assert_true(json_is_true(json_object_get(c, "verified")));
	assert_null(json_object_get(c, "note"));
	json_decref(j);

	/* A required field without a default: declined, not invented. */
	j = defaults("{\"requestedSchema\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\"}},"
		     "\"required\":[\"x\"]}}");
	assert_string_equal(json_string_value(json_object_get(j, "action")), "decline");
	assert_null(json_object_get(j, "content"));
	json_decref(j);
}

static void
test_defaults_bad(void **state)
{
	char *r = (char *)"untouched";

	(void)state;
	assert_int_equal(mcpgate_elicitation_defaults("{", &r), MCPGATE_E_INVAL);
	assert_null(r);
	assert_int_equal(mcpgate_elicitation_defaults("{\"requestedSchema\":5}", &r), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_elicitation_defaults("{\"requestedSchema\":{\"properties\":[]}}", &r),
	    MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_elicitation_defaults(NULL, &r), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_elicitation_defaults("{}", NULL), MCPGATE_E_INVAL);
}

static int
handler(const char *method, const char *params, char **result, void *arg)
{
	(void)method;
	(void)params;
	(void)result;
	(void)arg;
	return (-1);
}

static void
test_request_handler(void **state)
{
	struct mcpgate_client *c;

	(void)state;
	assert_int_equal(mcpgate_client_new("https://mcp.example/mcp", &c), MCPGATE_OK);
	assert_int_equal(mcpgate_client_set_request_handler(c, handler, NULL, "{\"elicitation\":{}}"), MCPGATE_OK);
	assert_int_equal(mcpgate_client_set_request_handler(c, handler, NULL, "[]"), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_request_handler(c, handler, NULL, "{"), MCPGATE_E_INVAL);
	assert_int_equal(mcpgate_client_set_request_handler(c, NULL, NULL, NULL), MCPGATE_OK);
	assert_int_equal(mcpgate_client_set_request_handler(NULL, handler, NULL, NULL), MCPGATE_E_INVAL);
	mcpgate_client_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_defaults_bad),
		cmocka_unit_test(test_request_handler),
	};

	return (cmocka_run_group_tests_name("client/api", tests, NULL, NULL));
}
