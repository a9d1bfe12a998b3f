/*
 * libFuzzer driver for mcp/jsonrpc: jsonrpc_parse() on arbitrary bytes, and
 * jsonrpc_header_decode() on the same bytes taken as a header value.
 *
 * Invariants:
 * - a body over the byte limit is refused as JSONRPC_FAIL_SIZE, whatever it
 *   holds; a refusal carries one of the defined codes and HTTP 400/413/500;
 * - an accepted message nests no deeper than the depth limit;
 * - an accepted message, serialized again, parses again to the same kind,
 *   id (type and value) and method;
 * - for an accepted request naming a tool, prompt or resource, Mcp-Method and
 *   an Mcp-Name header made from its body (Base64 sentinel form, and plain
 *   form when the value allows it) pass jsonrpc_check_headers();
 * - a header value that decodes yields valid text of at most its own length,
 *   and equals that text as jsonrpc_header_value_eq() sees it;
 * - a value in the Base64 sentinel form decodes only if its payload is the
 *   one canonical, padded encoding of what it decodes to.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "mcp/jsonrpc.h"

#define CHECK(x)                                                                                             \
	do {                                                                                                 \
		if (!(x))                                                                                    \
			abort();                                                                             \
	} while (0)

#define MAX_BYTES 4096
#define MAX_DEPTH 16

static size_t
depth(const json_t *v)
{
	size_t d = 0, c, i;
	const char *k;
	json_t *e;

	if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, e) if ((c = depth(e)) > d) d = c;
		return (d + 1);
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, e) if ((c = depth(e)) > d) d = c;
		return (d + 1);
	}
	return (0);
}

static int
plain_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0)
		return (1);
	if (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')
		return (0);
	if (n >= 2 && strncmp(s, "=?base64?", 9) == 0 && strcmp(s + n - 2, "?=") == 0)
		return (0);
	for (i = 0; i < n; i++)
		if (!((unsigned char)s[i] == '\t' ||
		        ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f)))
			return (0);
	return (1);
}

static void
check_headers(const struct jsonrpc_msg *m)
{
	struct jsonrpc_error e;
	const char *src, *v;
	char *hdr;
	size_t n;

	if (m->kind != JSONRPC_REQUEST)
		return;
	if ((src = jsonrpc_name_source(m->method)) == NULL) {
		CHECK(jsonrpc_check_headers(m, m->method, NULL, &e) == 0 ||
		      strlen(m->method) > JSONRPC_HEADER_MAX);
		jsonrpc_error_clear(&e);
		return;
	}
	if ((v = jsonrpc_param_string(m, src)) == NULL) {
		CHECK(jsonrpc_check_headers(m, m->method, "x", &e) == -1);
		CHECK(e.code == JSONRPC_HEADER_MISMATCH);
		jsonrpc_error_clear(&e);
		return;
	}
	n = strlen(v);
	if (4 * ((n + 2) / 3) + 11 > JSONRPC_HEADER_MAX)
		return;
	CHECK((hdr = malloc(4 * ((n + 2) / 3) + 12)) != NULL);
	memcpy(hdr, "=?base64?", 9);
	b64_encode(v, n, hdr + 9);
	strcat(hdr, "?=");
	CHECK(jsonrpc_check_headers(m, m->method, hdr, &e) == 0);
	if (plain_ok(v))
		CHECK(jsonrpc_check_headers(m, m->method, v, &e) == 0);
	CHECK(jsonrpc_check_headers(m, NULL, hdr, &e) == -1);
	CHECK(e.code == JSONRPC_HEADER_MISMATCH);
	jsonrpc_error_clear(&e);
	free(hdr);
}

static void
reparse(const struct jsonrpc_msg *m)
{
	const struct jsonrpc_limits big = { SIZE_MAX, MAX_DEPTH };
	struct jsonrpc_msg m2;
	struct jsonrpc_error e;
	char *s;

	CHECK((s = json_dumps(m->root, JSON_COMPACT)) != NULL);
	CHECK(jsonrpc_parse(s, strlen(s), &big, &m2, &e) == 0);
	CHECK(m2.kind == m->kind);
	CHECK(m2.nbatch == m->nbatch);
	if (m->id == NULL)
		CHECK(m2.id == NULL);
	else
		CHECK(jsonrpc_id_equal(m->id, m2.id));
	if (m->method == NULL)
		CHECK(m2.method == NULL);
	else
		CHECK(strcmp(m->method, m2.method) == 0);
	CHECK((m->params == NULL) == (m2.params == NULL));
	CHECK((m->result == NULL) == (m2.result == NULL));
	CHECK((m->error == NULL) == (m2.error == NULL));
	jsonrpc_msg_clear(&m2);
	free(s);
}

static void
header(const uint8_t *data, size_t size)
{
	char *h, *out;
	json_t *v;
	size_t n;

	if (size > JSONRPC_HEADER_MAX + 16)
		return;
	CHECK((h = malloc(size + 1)) != NULL);
	CHECK((out = malloc(size + 1)) != NULL);
	memcpy(h, data, size);
	h[size] = '\0';
	if (jsonrpc_header_decode(h, out, size + 1, &n) == 0) {
		CHECK(n <= strlen(h));
		CHECK(out[n] == '\0');
		CHECK(strlen(out) == n);
		CHECK((v = json_stringn(out, n)) != NULL);
		CHECK(jsonrpc_header_value_eq(h, v) == 1);
		json_decref(v);
		if (size >= 11 && memcmp(h, "=?base64?", 9) == 0 && memcmp(h + size - 2, "?=", 2) == 0 &&
		    strlen(h) == size) {
			char *enc;

			CHECK((enc = malloc(4 * ((n + 2) / 3) + 1)) != NULL);
			b64_encode(out, n, enc);
			CHECK(strlen(enc) == size - 11 && memcmp(enc, h + 9, size - 11) == 0);
			free(enc);
		}
	} else {
		CHECK(jsonrpc_header_value_eq(h, json_true()) == -1);
	}
	free(out);
	free(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct jsonrpc_limits lim = { MAX_BYTES, MAX_DEPTH };
	struct jsonrpc_msg m;
	struct jsonrpc_error e;
	json_t *r;

	if (jsonrpc_parse((const char *)data, size, &lim, &m, &e) == 0) {
		CHECK(size <= MAX_BYTES);
		CHECK(m.root != NULL);
		CHECK(depth(m.root) <= MAX_DEPTH);
		CHECK(m.kind >= JSONRPC_REQUEST && m.kind <= JSONRPC_BATCH);
		if (m.kind == JSONRPC_REQUEST)
			CHECK(jsonrpc_id_valid(m.id) && m.method != NULL);
		if (m.kind == JSONRPC_REQUEST || m.kind == JSONRPC_RESPONSE) {
			r = m.id != NULL ? jsonrpc_result(m.id, json_object()) : NULL;
			if (r != NULL)
				CHECK(jsonrpc_id_equal(json_object_get(r, "id"), m.id));
			json_decref(r);
		}
		reparse(&m);
		check_headers(&m);
		jsonrpc_msg_clear(&m);
	} else {
		CHECK(m.root == NULL);
		CHECK(e.code == JSONRPC_PARSE_ERROR || e.code == JSONRPC_INVALID_REQUEST ||
		      e.code == JSONRPC_INVALID_PARAMS || e.code == JSONRPC_INTERNAL_ERROR);
		CHECK(e.http_status == 400 || e.http_status == 413 || e.http_status == 500);
		CHECK((e.fail == JSONRPC_FAIL_SIZE) == (size > MAX_BYTES));
		CHECK(e.id == NULL || jsonrpc_id_valid(e.id));
		jsonrpc_error_clear(&e);
	}
	header(data, size);
	return (0);
}
