/* Tests for src/client/authflow.c: the checks of an authorization response
 * (RFC 9207 iss, state, error) and scope selection.  The source is included
 * to reach its static helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "client/authflow.c"

static mcpgate_err
check(struct mcpgate_client *c, const char *query, const char *state, const char **code)
{
	struct form f;
	mcpgate_err e;

	memset(&f, 0, sizeof(f));
	cerr_reset(&c->err);
	assert_int_equal(form_parse(&f, query, strlen(query)), 0);
	e = check_response(c, &f, state, code);
	if (e == MCPGATE_OK)
		*code = strdup(*code);
	form_clear(&f);
	return (e);
}

static void
test_response(void **state)
{
	struct mcpgate_client c;
	const char *code;
	const char *st = "s0123456789";

	(void)state;
	memset(&c, 0, sizeof(c));
	c.as.issuer = strdup("https://as.example.com");
	c.as.iss_supported = 1;

	assert_int_equal(check(&c, "code=abc&state=s0123456789&iss=https%3A%2F%2Fas.example.com", st, &code),
	    MCPGATE_OK);
	assert_string_equal(code, "abc");
	free((char *)code);
	/* iss: missing while promised, wrong, or normalised differently. */
	assert_int_equal(check(&c, "code=abc&state=s0123456789", st, &code), MCPGATE_E_ISS);
	assert_int_equal(check(&c, "code=abc&state=s0123456789&iss=https%3A%2F%2Fevil.example", st, &code),
	    MCPGATE_E_ISS);
	assert_int_equal(check(&c, "code=abc&state=s0123456789&iss=https%3A%2F%2Fas.example.com%2F", st, &code),
	    MCPGATE_E_ISS);
	assert_int_equal(check(&c, "code=abc&state=s0123456789&iss=HTTPS%3A%2F%2Fas.example.com", st, &code),
	    MCPGATE_E_ISS);
	/* On an iss mismatch the error is not read (nor shown). */
	assert_int_equal(check(&c, "error=access_denied&error_description=EVIL&state=s0123456789&iss=x", st, &code),
	    MCPGATE_E_ISS);
	assert_null(strstr(c.err.msg, "EVIL"));
	/* Not promised: absent is fine, present is still compared. */
	c.as.iss_supported = 0;
	assert_int_equal(check(&c, "code=abc&state=s0123456789", st, &code), MCPGATE_OK);
	free((char *)code);
	assert_int_equal(check(&c, "code=abc&state=s0123456789&iss=https%3A%2F%2Fevil.example", st, &code),
	    MCPGATE_E_ISS);
	/* state: wrong, missing, repeated. */
	assert_int_equal(check(&c, "code=abc&state=s0123456788", st, &code), MCPGATE_E_STATE);
	assert_int_equal(check(&c, "code=abc", st, &code), MCPGATE_E_STATE);
	assert_int_equal(check(&c, "code=abc&state=s0123456789&state=s0123456789", st, &code), MCPGATE_E_AUTHORIZATION);
	/* Errors, sanitised. */
	assert_int_equal(check(&c, "error=access_denied&state=s0123456789", st, &code), MCPGATE_E_ACCESS_DENIED);
	assert_int_equal(check(&c, "error=server_error&error_description=a%1Bb&state=s0123456789", st, &code),
	    MCPGATE_E_AUTHORIZATION);
	assert_null(strchr(c.err.msg, 0x1b));
	assert_non_null(strstr(c.err.msg, "a?b"));
	/* No code. */
	assert_int_equal(check(&c, "state=s0123456789", st, &code), MCPGATE_E_AUTHORIZATION);
	free(c.as.issuer);
}

static void
test_scope(void **state)
{
	struct mcpgate_client c;
	struct wwwauth w;
	char *s;

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(&w, 0, sizeof(w));
	/* Nothing anywhere: no scope parameter. */
	assert_null(select_scope(&c, NULL, 0));
	/* scopes_supported of the resource. */
	c.prm.scopes_supported = strdup("mcp:read mcp:write");
	s = select_scope(&c, NULL, 0);
	assert_string_equal(s, "mcp:read mcp:write");
	free(s);
	/* The challenge wins over scopes_supported. */
	strcpy(w.scope, "files:read");
	s = select_scope(&c, &w, 0);
	assert_string_equal(s, "files:read");
	free(s);
	/* offline_access when the authorization server lists it. */
	c.as.scopes_supported = strdup("files:read offline_access");
	s = select_scope(&c, &w, 0);
	assert_string_equal(s, "files:read offline_access");
	free(s);
	/* Step-up: union of what was requested and the challenge. */
	c.requested_scope = strdup("files:read offline_access");
	strcpy(w.scope, "files:write files:read");
	s = select_scope(&c, &w, 1);
	assert_string_equal(s, "files:read offline_access files:write");
	free(s);
	free(c.requested_scope);
	free(c.prm.scopes_supported);
	free(c.as.scopes_supported);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_scope),
	};

	return (cmocka_run_group_tests_name("client/authflow", tests, NULL, NULL));
}
