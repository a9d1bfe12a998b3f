/* Tests for src/mcp/jsonrpc.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/jsonrpc.h"

static const struct jsonrpc_limits lim = { JSONRPC_MAX_BYTES_DEFAULT, JSONRPC_MAX_DEPTH_DEFAULT };

/* Parse ${s}; expect success of kind ${kind}; return the message. */
static void
ok(const char *s, enum jsonrpc_kind kind, struct jsonrpc_msg *m)
{
	struct jsonrpc_error e;

	if (jsonrpc_parse(s, strlen(s), &lim, m, &e) != 0)
		fail_msg("refused %s: %s", s, e.message);
	assert_int_equal(m->kind, kind);
	assert_non_null(m->root);
}

/* Parse ${s}; expect failure with ${code}, ${status}; ${idtext} is the
 * compact JSON of the error's id, or NULL for none. */
static void
bad(const char *s, int code, int status, const char *idtext)
{
	struct jsonrpc_msg m;
	struct jsonrpc_error e;
	char *t;

	if (jsonrpc_parse(s, strlen(s), &lim, &m, &e) == 0)
		fail_msg("accepted %s", s);
	assert_null(m.root);
	assert_int_equal(e.code, code);
	assert_int_equal(e.http_status, status);
	if (idtext == NULL) {
		assert_null(e.id);
	} else {
		assert_non_null(e.id);
		t = json_dumps(e.id, JSON_ENCODE_ANY | JSON_COMPACT);
		assert_string_equal(t, idtext);
		free(t);
	}
	jsonrpc_error_clear(&e);
}

static void
test_classify(void **state)
{
	struct jsonrpc_msg m;

	(void)state;
	ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", JSONRPC_REQUEST, &m);
	assert_string_equal(m.method, "tools/list");
	assert_int_equal(json_integer_value(m.id), 1);
	assert_null(m.params);
	jsonrpc_msg_clear(&m);
	assert_null(m.root);

	ok("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}",
	    JSONRPC_REQUEST, &m);
	assert_string_equal(json_string_value(m.id), "a");
	assert_true(json_is_object(m.params));
	assert_string_equal(jsonrpc_param_name(&m), "x");
	assert_null(jsonrpc_param_uri(&m));
	jsonrpc_msg_clear(&m);

	ok("{\"method\":\"notifications/initialized\",\"jsonrpc\":\"2.0\"}", JSONRPC_NOTIFICATION, &m);
	assert_null(m.id);
	assert_string_equal(m.method, "notifications/initialized");
	jsonrpc_msg_clear(&m);

	ok("{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":{}}", JSONRPC_NOTIFICATION, &m);
	jsonrpc_msg_clear(&m);

	ok("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}", JSONRPC_RESPONSE, &m);
	assert_non_null(m.result);
	assert_null(m.error);
	jsonrpc_msg_clear(&m);

	ok("{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"error\":{\"code\":-32601,\"message\":\"no\",\"data\":[1]}}",
	    JSONRPC_RESPONSE, &m);
	assert_non_null(m.error);
	assert_null(m.result);
	jsonrpc_msg_clear(&m);

	/* An error response may have a null id (the request was unreadable). */
	ok("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}",
	    JSONRPC_RESPONSE, &m);
	assert_null(m.id);
	jsonrpc_msg_clear(&m);

	/* Whitespace around the document is fine. */
	ok(" \n\t{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}\r\n ", JSONRPC_REQUEST, &m);
	jsonrpc_msg_clear(&m);

	/* Batches are reported as such, elements unexamined. */
	ok("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},{\"x\":1}]", JSONRPC_BATCH, &m);
	assert_int_equal(m.nbatch, 2);
	assert_null(m.method);
	jsonrpc_msg_clear(&m);
}

static void
test_errors(void **state)
{
	(void)state;
	/* Parse errors. */
	bad("", JSONRPC_PARSE_ERROR, 400, NULL);
	bad("{", JSONRPC_PARSE_ERROR, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"} x", JSONRPC_PARSE_ERROR, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"}{}", JSONRPC_PARSE_ERROR, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"a\"}", JSONRPC_PARSE_ERROR, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\xff\"}", JSONRPC_PARSE_ERROR, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}", JSONRPC_PARSE_ERROR, 400, NULL);
	bad("{'jsonrpc':'2.0'}", JSONRPC_PARSE_ERROR, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",}", JSONRPC_PARSE_ERROR, 400, NULL);

	/* Valid JSON, not a message. */
	bad("1", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("\"x\"", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("null", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("[]", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"id\":1,\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, "1");
	bad("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, "1");
	bad("{\"jsonrpc\":2.0,\"id\":\"s\",\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, "\"s\"");
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":3}", JSONRPC_INVALID_REQUEST, 400, "1");
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", JSONRPC_INVALID_REQUEST, 400, "1");

	/* Ids: string or integer only, never null. */
	bad("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1.0,\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1e3,\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775808,\"method\":\"a\"}", JSONRPC_INVALID_REQUEST, 400,
	    NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775809,\"method\":\"a\"}", JSONRPC_INVALID_REQUEST,
	    400, NULL);

	/* Params: an object; an array is legal JSON-RPC but invalid MCP params. */
	bad("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"a\",\"params\":[1]}", JSONRPC_INVALID_PARAMS, 400,
	    "5");
	bad("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"a\",\"params\":\"x\"}", JSONRPC_INVALID_REQUEST, 400,
	    "5");
	bad("{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":null}", JSONRPC_INVALID_REQUEST, 400, NULL);

	/* Requests and responses do not mix. */
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"result\":{}}", JSONRPC_INVALID_REQUEST, 400,
	    "1");
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"error\":{\"code\":1,\"message\":\"\"}}",
	    JSONRPC_INVALID_REQUEST, 400, "1");

	/* Responses. */
	bad("{\"jsonrpc\":\"2.0\",\"id\":1}", JSONRPC_INVALID_REQUEST, 400, "1");
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1,\"message\":\"\"}}",
	    JSONRPC_INVALID_REQUEST, 400, "1");
	bad("{\"jsonrpc\":\"2.0\",\"result\":{}}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"result\":{}}", JSONRPC_INVALID_REQUEST, 400, NULL);
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[]}", JSONRPC_INVALID_REQUEST, 400, "1");
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\",\"message\":\"m\"}}",
	    JSONRPC_INVALID_REQUEST, 400, "1");
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1.5,\"message\":\"m\"}}",
	    JSONRPC_INVALID_REQUEST, 400, "1");
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}", JSONRPC_INVALID_REQUEST, 400, "1");
	bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"boom\"}", JSONRPC_INVALID_REQUEST, 400, "1");
}

static void
test_limits(void **state)
{
	struct jsonrpc_limits l;
	struct jsonrpc_msg m;
	struct jsonrpc_error e;
	const char *msg = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
	char deep[256];
	size_t i, n;

	(void)state;
	/* Size: exactly at the limit passes, one byte over fails unread. */
	l.max_depth = 8;
	l.max_bytes = strlen(msg);
	assert_int_equal(jsonrpc_parse(msg, strlen(msg), &l, &m, &e), 0);
	jsonrpc_msg_clear(&m);
	l.max_bytes = strlen(msg) - 1;
	assert_int_equal(jsonrpc_parse(msg, strlen(msg), &l, &m, &e), -1);
	assert_int_equal(e.fail, JSONRPC_FAIL_SIZE);
	assert_int_equal(e.http_status, 413);
	assert_int_equal(e.code, JSONRPC_INVALID_REQUEST);
	assert_null(e.id);
	jsonrpc_error_clear(&e);

	/* Depth: params {"a":[[...]]} with the envelope at depth 1. */
	l.max_bytes = sizeof(deep);
	for (l.max_depth = 2; l.max_depth < 20; l.max_depth++) {
		n = (size_t)snprintf(
		    deep, sizeof(deep), "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":");
		for (i = 2; i < l.max_depth; i++)
			deep[n++] = '[';
		for (i = 2; i < l.max_depth; i++)
			deep[n++] = ']';
		if (l.max_depth == 2)
			deep[n++] = '1';
		deep[n++] = '}';
		deep[n++] = '}';
		assert_int_equal(jsonrpc_parse(deep, n, &l, &m, &e), 0);
		jsonrpc_msg_clear(&m);
		l.max_depth--;
		assert_int_equal(jsonrpc_parse(deep, n, &l, &m, &e), -1);
		assert_int_equal(e.fail, JSONRPC_FAIL_DEPTH);
		assert_int_equal(e.http_status, 400);
		jsonrpc_error_clear(&e);
		l.max_depth++;
	}

	/* Brackets inside strings, also after escaped quotes, do not count. */
	assert_int_equal(jsonrpc_depth_ok("{\"[[[[\":\"{{{{\"}", 15, 1), 1);
	assert_int_equal(jsonrpc_depth_ok("{\"a\\\"[[[\":1}", 12, 1), 1);
	assert_int_equal(jsonrpc_depth_ok("{\"a\\\\\":[[1]]}", 13, 2), 0);
	assert_int_equal(jsonrpc_depth_ok("[[", 2, 1), 0);
	assert_int_equal(jsonrpc_depth_ok("]]]][", 5, 1), 1);
	assert_int_equal(jsonrpc_depth_ok("", 0, 0), 1);

	/* A deep document far past jansson's own limit is refused by ours. */
	{
		size_t big = 100000;
		char *p = malloc(big);

		assert_non_null(p);
		memset(p, '[', big);
		l.max_bytes = big;
		l.max_depth = 64;
		assert_int_equal(jsonrpc_parse(p, big, &l, &m, &e), -1);
		assert_int_equal(e.fail, JSONRPC_FAIL_DEPTH);
		free(p);
	}
}

/* Parse ${s}, rebuild a result for its id and check the id's text. */
static void
id_round_trip(const char *idtext)
{
	char s[256], want[256];
	struct jsonrpc_msg m;
	struct jsonrpc_error e;
	char *out;

	snprintf(s, sizeof(s), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\"}", idtext);
	assert_int_equal(jsonrpc_parse(s, strlen(s), &lim, &m, &e), 0);
	out = jsonrpc_dumps(jsonrpc_result(m.id, json_object()));
	snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}", idtext);
	assert_string_equal(out, want);
	free(out);
	out = jsonrpc_dumps(jsonrpc_error(m.id, JSONRPC_METHOD_NOT_FOUND, "Method not found", NULL));
	snprintf(want, sizeof(want),
	    "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}",
	    idtext);
	assert_string_equal(out, want);
	free(out);
	jsonrpc_msg_clear(&m);
}

static void
test_ids(void **state)
{
	json_t *a, *b, *c;
	char *out;

	(void)state;
	id_round_trip("0");
	id_round_trip("-1");
	id_round_trip("9223372036854775807");
	id_round_trip("-9223372036854775808");
	id_round_trip("\"\"");
	id_round_trip("\"1\"");
	id_round_trip("\"caf\xc3\xa9 \\\"q\\\"\"");
	id_round_trip("\"0123456789abcdef0123456789abcdef\"");

	/* 1 and "1" are different ids. */
	a = json_integer(1);
	b = json_string("1");
	c = jsonrpc_id_copy(a);
	assert_true(jsonrpc_id_equal(a, c));
	assert_false(jsonrpc_id_equal(a, b));
	assert_false(jsonrpc_id_equal(a, NULL));
	assert_true(jsonrpc_id_valid(b));
	json_decref(c);
	c = json_real(1.0);
	assert_false(jsonrpc_id_valid(c));
	assert_null(jsonrpc_id_copy(c));
	assert_false(jsonrpc_id_equal(a, c));
	json_decref(c);
	c = jsonrpc_id_copy(NULL);
	assert_true(json_is_null(c));
	json_decref(c);

	/* jsonrpc_result refuses an invalid id and still frees the result. */
	assert_null(jsonrpc_result(NULL, json_object()));
	assert_null(jsonrpc_result(json_true(), json_object()));

	/* Errors without an id carry null; data is included when given. */
	out = jsonrpc_dumps(jsonrpc_error(NULL, JSONRPC_PARSE_ERROR, "Parse error", NULL));
	assert_string_equal(
	    out, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}");
	free(out);
	out = jsonrpc_dumps(
	    jsonrpc_error(b, JSONRPC_INVALID_PARAMS, "Invalid params", json_pack("{s:i}", "x", 1)));
	assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"error\":{\"code\":-32602,\"message\":"
	                         "\"Invalid params\",\"data\":{\"x\":1}}}");
	free(out);
	out = jsonrpc_dumps(jsonrpc_error(a, JSONRPC_INTERNAL_ERROR, "Internal error", NULL));
	assert_string_equal(
	    out, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,\"message\":\"Internal error\"}}");
	free(out);
	assert_null(jsonrpc_dumps(NULL));
	json_decref(a);
	json_decref(b);
}

static void
test_error_from(void **state)
{
	struct jsonrpc_msg m;
	struct jsonrpc_error e;
	const char *s = "{\"jsonrpc\":\"2.0\",\"id\":\"k\",\"method\":\"a\",\"params\":[]}";
	char *out;

	(void)state;
	assert_int_equal(jsonrpc_parse(s, strlen(s), &lim, &m, &e), -1);
	out = jsonrpc_dumps(jsonrpc_error_from(&e));
	assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":\"k\",\"error\":{\"code\":-32602,\"message\":"
	                         "\"Invalid params: params must be an object\"}}");
	free(out);
	jsonrpc_error_clear(&e);
	assert_null(e.id);
}

static void
test_classify_element(void **state)
{
	struct jsonrpc_msg m, el;
	struct jsonrpc_error e;
	const char *s =
	    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"method\":\"n\"},"
	    "[1],{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}]";

	(void)state;
	ok(s, JSONRPC_BATCH, &m);
	assert_int_equal(m.nbatch, 4);
	assert_int_equal(jsonrpc_classify(json_array_get(m.root, 0), &el, &e), 0);
	assert_int_equal(el.kind, JSONRPC_REQUEST);
	assert_null(el.root);
	jsonrpc_msg_clear(&el); /* does not free the batch's element */
	assert_int_equal(jsonrpc_classify(json_array_get(m.root, 1), &el, &e), 0);
	assert_int_equal(el.kind, JSONRPC_NOTIFICATION);
	assert_int_equal(jsonrpc_classify(json_array_get(m.root, 2), &el, &e), -1);
	assert_int_equal(e.code, JSONRPC_INVALID_REQUEST);
	jsonrpc_error_clear(&e);
	assert_int_equal(jsonrpc_classify(json_array_get(m.root, 3), &el, &e), 0);
	assert_int_equal(el.kind, JSONRPC_RESPONSE);
	jsonrpc_msg_clear(&m);
}

static void
dec_ok(const char *hdr, const char *want)
{
	char out[JSONRPC_HEADER_MAX + 1];
	size_t n;

	if (jsonrpc_header_decode(hdr, out, sizeof(out), &n) != 0)
		fail_msg("refused header %s", hdr);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	assert_int_equal(out[n], '\0');
}

static void
dec_bad(const char *hdr)
{
	char out[JSONRPC_HEADER_MAX + 1];
	size_t n;

	if (jsonrpc_header_decode(hdr, out, sizeof(out), &n) == 0)
		fail_msg("accepted header %s", hdr != NULL ? hdr : "(null)");
}

static void
test_header_decode(void **state)
{
	char big[JSONRPC_HEADER_MAX + 2], small[4];
	size_t n;

	(void)state;
	/* The encoding examples of streamable-http.mdx (2026-07-28). */
	dec_ok("us-west1", "us-west1");
	dec_ok("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, \xe4\xb8\x96\xe7\x95\x8c");
	dec_ok("=?base64?IHBhZGRlZCA=?=", " padded ");
	dec_ok("=?base64?bGluZTEKbGluZTI=?=", "line1\nline2");
	dec_ok("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", "=?base64?literal?=");
	/* And the requests shown there. */
	dec_ok("get_weather", "get_weather");
	dec_ok("file:///projects/myapp/config.json", "file:///projects/myapp/config.json");

	/* An empty payload is the empty value (the canonical encoding of no
	 * bytes). */
	dec_ok("=?base64?"
	       "?=",
	    "");
	/* The table's values with their padding cut, or otherwise not in the
	 * one canonical form: refused (SEP-2243 asks for standard Base64). */
	dec_bad("=?base64?SGVsbG8sIOS4lueVjA?=");  /* "Hello, \u4e16\u754c" unpadded */
	dec_bad("=?base64?SGVsbG8sIOS4lueVjA=?="); /* one '=' of two */
	dec_bad("=?base64?IHBhZGRlZCA?=");	    /* " padded " unpadded */
	dec_bad("=?base64?bGluZTEKbGluZTI?=");	    /* "line1\nline2" unpadded */
	dec_bad("=?base64?IHBhZGRlZCA==?=");	    /* padding too long */
	dec_bad("=?base64?IHBhZGRlZCA===?=");
	dec_bad("=?base64?IHBhZGRlZCB=?=");	    /* set trailing bits */
	dec_bad("=?base64?SGVsbG8sIOS4lueVjB==?=");
	dec_bad("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89====?="); /* padding after a full group */
	dec_bad("=?base64?PT9i=YXNlNjQ/bGl0ZXJhbD89?=");    /* '=' inside */
	dec_bad("=?base64?PT9iYXNlNjQ_bGl0ZXJhbD89?=");	    /* base64url alphabet */
	dec_bad("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89\n?=");   /* trailing newline */
	dec_bad("=?base64? IHBhZGRlZCA=?=");		    /* whitespace */
	dec_bad("=?base64?====?=");
	dec_bad("=?base64?Zg?=");     /* "f" unpadded */
	dec_bad("=?base64?Zm8?=");    /* "fo" unpadded */
	dec_ok("=?base64?Zg==?=", "f");
	dec_ok("=?base64?Zm8=?=", "fo");
	dec_ok("=?base64?Zm9v?=", "foo");
	dec_ok("a b\tc", "a b\tc");
	dec_ok("", "");

	/* The markers are case-sensitive: other spellings are plain values. */
	dec_ok("=?BASE64?SGk=?=", "=?BASE64?SGk=?=");
	dec_ok("=?base64?SGk=", "=?base64?SGk=");
	dec_ok("SGk=?=", "SGk=?=");

	/* Malformed. */
	dec_bad("=?base64?SGk!?="); /* not base64 */
	dec_bad("=?base64?S?=");    /* impossible length */
	dec_bad("=?base64?SGl=?="); /* non-canonical trailing bits */
	dec_bad("=?base64?/w==?="); /* decodes to invalid UTF-8 */
	dec_bad("=?base64?AA==?="); /* decodes to NUL */
	dec_bad("=?base64?7aCA?="); /* a UTF-16 surrogate */
	dec_bad("=?base64?=");      /* sentinel pattern, too short to be one */
	dec_bad(" lead");
	dec_bad("trail\t");
	dec_bad("a\nb");
	dec_bad("caf\xc3\xa9"); /* raw non-ASCII must be encoded */
	dec_bad("del\x7f");
	dec_bad(NULL);

	/* Length limit and output capacity. */
	memset(big, 'a', sizeof(big));
	big[JSONRPC_HEADER_MAX] = '\0';
	dec_ok(big, big);
	big[JSONRPC_HEADER_MAX] = 'a';
	big[JSONRPC_HEADER_MAX + 1] = '\0';
	dec_bad(big);
	assert_int_equal(jsonrpc_header_decode("abc", small, sizeof(small), &n), 0);
	assert_int_equal(jsonrpc_header_decode("abcd", small, sizeof(small), &n), -1);
	assert_int_equal(jsonrpc_header_decode("=?base64?YWJj?=", small, sizeof(small), &n), 0);
	assert_int_equal(jsonrpc_header_decode("=?base64?YWJjZA==?=", small, sizeof(small), &n), -1);
}

/* Check headers ${meth} and ${name} against the message ${s}; expect ${want}
 * (0 or -32020). */
static void
hdr(const char *s, const char *meth, const char *name, int want)
{
	struct jsonrpc_msg m;
	struct jsonrpc_error e;
	int rc;

	ok(s, strstr(s, "\"id\"") ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION, &m);
	rc = jsonrpc_check_headers(&m, meth, name, &e);
	if (want == 0) {
		if (rc != 0)
			fail_msg("refused %s / %s / %s: %s", s, meth, name, e.message);
	} else {
		assert_int_equal(rc, -1);
		assert_int_equal(e.code, want);
		assert_int_equal(e.http_status, 400);
		if (m.id != NULL)
			assert_true(jsonrpc_id_equal(e.id, m.id));
		/* The message never echoes the header's value. */
		if (name != NULL && strlen(name) > 3)
			assert_null(strstr(e.message, name));
		jsonrpc_error_clear(&e);
	}
	jsonrpc_msg_clear(&m);
}

static void
test_check_headers(void **state)
{
	const char *call =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"get_weather\"}}";
	const char *read = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/read\",\"params\":{\"uri\":"
	                   "\"file:///projects/myapp/config.json\",\"name\":\"other\"}}";
	const char *get = "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"prompts/"
	                  "get\",\"params\":{\"name\":\"Hello, \\u4e16\\u754c\"}}";
	const char *lit = "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/"
	                  "call\",\"params\":{\"name\":\"=?base64?literal?=\"}}";
	const char *list = "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}";
	const char *noname = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{}}";
	const char *note = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}";
	const int M = JSONRPC_HEADER_MISMATCH;

	(void)state;
	hdr(call, "tools/call", "get_weather", 0);
	hdr(call, "tools/call", "=?base64?Z2V0X3dlYXRoZXI=?=", 0);
	hdr(call, "tools/call", "get_weather2", M);
	hdr(call, "tools/call", "get_weathe", M);
	hdr(call, "tools/call", "GET_WEATHER", M);
	hdr(call, "tools/call", NULL, M);
	hdr(call, "tools/call", "=?base64?Z2V0X3dlYXRoZXI?=", M); /* unpadded */
	hdr(call, "tools/call", "=?base64?Z2V0X3dlYXRoZXJ=?=", M); /* malformed */
	hdr(call, "Tools/Call", "get_weather", M);
	hdr(call, "tools/list", "get_weather", M);
	hdr(call, NULL, "get_weather", M);
	hdr(call, "=?base64?dG9vbHMvY2FsbA==?=", "get_weather", M); /* Mcp-Method is never encoded */

	hdr(read, "resources/read", "file:///projects/myapp/config.json", 0);
	hdr(read, "resources/read", "other", M); /* resources/read mirrors uri, not name */
	hdr(get, "prompts/get", "=?base64?SGVsbG8sIOS4lueVjA==?=", 0);
	hdr(get, "prompts/get", "Hello, ??", M);
	/* A plain value matching the sentinel pattern must itself be encoded. */
	hdr(lit, "tools/call", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", 0);
	hdr(lit, "tools/call", "=?base64?literal?=", M);

	/* No Mcp-Name for other methods; ignored if sent. */
	hdr(list, "tools/list", NULL, 0);
	hdr(list, "tools/list", "whatever", 0);
	hdr(list, NULL, NULL, M);
	/* The body lacks the name the header claims. */
	hdr(noname, "tools/call", "x", M);
	hdr(noname, "tools/call", NULL, M);
	/* Notifications: Mcp-Method checked only when present. */
	hdr(note, NULL, NULL, 0);
	hdr(note, "notifications/cancelled", NULL, 0);
	hdr(note, "notifications/progress", NULL, M);
}

/* Names of ${n} bytes, plain and Base64-encoded, around the size decoded on
 * the stack (256) and at the limit (JSONRPC_HEADER_MAX). */
static void
long_name(size_t n, int want)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *name, *msg, *enc, *other;
	size_t i, j;

	name = malloc(n + 1);
	other = malloc(n + 1);
	msg = malloc(n + 128);
	enc = malloc(n * 2 + 32);
	assert_non_null(name);
	assert_non_null(other);
	assert_non_null(msg);
	assert_non_null(enc);
	for (i = 0; i < n; i++)
		name[i] = (char)('a' + i % 26);
	name[n] = '\0';
	memcpy(other, name, n + 1);
	other[n - 1] = 'Z';
	snprintf(msg, n + 128,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\"}}", name);
	hdr(msg, "tools/call", name, want);
	hdr(msg, "tools/call", other, JSONRPC_HEADER_MISMATCH);
	/* The same name encoded: shorter decoded than sent. */
	j = (size_t)snprintf(enc, 32, "=?base64?");
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned char)name[i] << 16 | (unsigned char)name[i + 1] << 8 |
		    (unsigned char)name[i + 2];

		enc[j++] = b64[v >> 18 & 63];
		enc[j++] = b64[v >> 12 & 63];
		enc[j++] = b64[v >> 6 & 63];
		enc[j++] = b64[v & 63];
	}
	if (i == n) {
		memcpy(enc + j, "?=", 3);
		hdr(msg, "tools/call", enc,
		    j + 2 <= JSONRPC_HEADER_MAX && want == 0 ? 0 : JSONRPC_HEADER_MISMATCH);
	}
	free(name);
	free(other);
	free(msg);
	free(enc);
}

static void
test_check_headers_long(void **state)
{
	(void)state;
	long_name(254, 0);
	long_name(255, 0);
	long_name(256, 0);
	long_name(300, 0);
	long_name(JSONRPC_HEADER_MAX - 1, 0);
	long_name(JSONRPC_HEADER_MAX, 0);
	long_name(JSONRPC_HEADER_MAX + 1, JSONRPC_HEADER_MISMATCH);
}

static void
test_header_value(void **state)
{
	json_t *v;

	(void)state;
	v = json_string("us-west1");
	assert_int_equal(jsonrpc_header_value_eq("us-west1", v), 1);
	assert_int_equal(jsonrpc_header_value_eq("=?base64?dXMtd2VzdDE=?=", v), 1);
	assert_int_equal(jsonrpc_header_value_eq("us-west2", v), 0);
	assert_int_equal(jsonrpc_header_value_eq(" us-west1", v), -1);
	json_decref(v);
	v = json_string("Hello, \xe4\xb8\x96\xe7\x95\x8c");
	assert_int_equal(jsonrpc_header_value_eq("=?base64?SGVsbG8sIOS4lueVjA==?=", v), 1);
	json_decref(v);
	v = json_string("line1\nline2");
	assert_int_equal(jsonrpc_header_value_eq("=?base64?bGluZTEKbGluZTI=?=", v), 1);
	json_decref(v);

	v = json_integer(42);
	assert_int_equal(jsonrpc_header_value_eq("42", v), 1);
	assert_int_equal(jsonrpc_header_value_eq("42.0", v), 1);
	assert_int_equal(jsonrpc_header_value_eq("42.000", v), 1);
	assert_int_equal(jsonrpc_header_value_eq("042", v), 1);
	assert_int_equal(jsonrpc_header_value_eq("42.5", v), 0);
	assert_int_equal(jsonrpc_header_value_eq("42.", v), 0);
	assert_int_equal(jsonrpc_header_value_eq("4e1", v), 0);
	assert_int_equal(jsonrpc_header_value_eq("+42", v), 0);
	assert_int_equal(jsonrpc_header_value_eq("43", v), 0);
	assert_int_equal(jsonrpc_header_value_eq("", v), 0);
	json_decref(v);
	v = json_integer(-7);
	assert_int_equal(jsonrpc_header_value_eq("-7", v), 1);
	assert_int_equal(jsonrpc_header_value_eq("7", v), 0);
	assert_int_equal(jsonrpc_header_value_eq("-", v), 0);
	json_decref(v);
	v = json_integer(LLONG_MAX);
	assert_int_equal(jsonrpc_header_value_eq("9223372036854775807", v), 1);
	assert_int_equal(jsonrpc_header_value_eq("9223372036854775808", v), 0);
	json_decref(v);
	v = json_integer(-LLONG_MAX - 1);
	assert_int_equal(jsonrpc_header_value_eq("-9223372036854775808", v), 1);
	assert_int_equal(jsonrpc_header_value_eq("-9223372036854775809", v), 0);
	json_decref(v);

	assert_int_equal(jsonrpc_header_value_eq("true", json_true()), 1);
	assert_int_equal(jsonrpc_header_value_eq("false", json_false()), 1);
	assert_int_equal(jsonrpc_header_value_eq("True", json_true()), 0);
	assert_int_equal(jsonrpc_header_value_eq("1", json_true()), 0);
	assert_int_equal(jsonrpc_header_value_eq("null", json_null()), 0);
	v = json_real(1.5);
	assert_int_equal(jsonrpc_header_value_eq("1.5", v), 0);
	json_decref(v);
}

static void
test_name_source(void **state)
{
	(void)state;
	assert_string_equal(jsonrpc_name_source("tools/call"), "name");
	assert_string_equal(jsonrpc_name_source("prompts/get"), "name");
	assert_string_equal(jsonrpc_name_source("resources/read"), "uri");
	assert_null(jsonrpc_name_source("tools/list"));
	assert_null(jsonrpc_name_source("resources/subscribe"));
	assert_null(jsonrpc_name_source(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_error_from),
		cmocka_unit_test(test_classify_element),
		cmocka_unit_test(test_header_decode),
		cmocka_unit_test(test_check_headers),
		cmocka_unit_test(test_check_headers_long),
		cmocka_unit_test(test_header_value),
		cmocka_unit_test(test_name_source),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
