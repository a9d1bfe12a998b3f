#include "mcp/jsonrpc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/jtext.h"

_Static_assert(sizeof(json_int_t) == sizeof(long long), "json_int_t is long long");

#define SENTINEL_PREFIX "=?base64?"
#define SENTINEL_SUFFIX "?="
/* Header values up to this size are decoded on the stack. */
#define HEADER_DEC_SMALL 256

/* Record a failure in ${err}.  ${id}, when not NULL, is a valid id of the
 * offending request; a copy goes into the error so the answer can carry it. */
static int
fail(
    struct jsonrpc_error *err, enum jsonrpc_fail why, int code, int status, const char *msg, const json_t *id)
{
	err->fail = why;
	err->code = code;
	err->http_status = status;
	snprintf(err->message, sizeof(err->message), "%s", msg);
	if (err->id != NULL)
		json_decref(err->id);
	err->id = NULL;
	if (id != NULL && jsonrpc_id_valid(id))
		err->id = jsonrpc_id_copy(id);
	return (-1);
}

static int
invalid(struct jsonrpc_error *err, const char *msg, const json_t *id)
{
	return (fail(err, JSONRPC_FAIL_INVALID, JSONRPC_INVALID_REQUEST, 400, msg, id));
}

/**
 * jsonrpc_depth_ok(buf, len, max_depth):
 * 1 if the text at ${buf} never nests arrays and objects deeper than
 * ${max_depth}, else 0.  Only a '"' outside a string opens one, and inside a
 * string a backslash hides the next byte, so brackets in strings never count.
 */
int
jsonrpc_depth_ok(const char *buf, size_t len, unsigned max_depth)
{
	size_t i, depth = 0;
	int instr = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (instr) {
			if (c == '\\')
				i++;
			else if (c == '"')
				instr = 0;
			continue;
		}
		switch (c) {
		case '"':
			instr = 1;
			break;
		case '[':
		case '{':
			if (++depth > max_depth)
				return (0);
			break;
		case ']':
		case '}':
			/* Unbalanced closers are jansson's to refuse. */
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return (1);
}

/**
 * jsonrpc_id_valid(id):
 * 1 if ${id} is a string or an integer.
 */
int
jsonrpc_id_valid(const json_t *id)
{
	return (id != NULL && (json_is_string(id) || json_is_integer(id)));
}

/**
 * jsonrpc_id_copy(id):
 * A copy of the id ${id} of the same type and value; json_null() for NULL.
 */
json_t *
jsonrpc_id_copy(const json_t *id)
{
	if (id == NULL)
		return (json_null());
	if (json_is_string(id))
		return (json_stringn(json_string_value(id), json_string_length(id)));
	if (json_is_integer(id))
		return (json_integer(json_integer_value(id)));
	return (NULL);
}

/**
 * jsonrpc_id_equal(a, b):
 * 1 if ${a} and ${b} are ids of the same type and value.
 */
int
jsonrpc_id_equal(const json_t *a, const json_t *b)
{
	if (!jsonrpc_id_valid(a) || !jsonrpc_id_valid(b))
		return (0);
	return (json_equal((json_t *)a, (json_t *)b));
}

static int
check_error_object(const json_t *e)
{
	const json_t *code, *msg;

	if (!json_is_object(e))
		return (-1);
	code = json_object_get(e, "code");
	msg = json_object_get(e, "message");
	if (!json_is_integer(code) || !json_is_string(msg))
		return (-1);
	return (0);
}

/**
 * jsonrpc_classify(v, out, err):
 * Classify the single message ${v}; ${out} borrows from ${v}.
 */
int
jsonrpc_classify(json_t *v, struct jsonrpc_msg *out, struct jsonrpc_error *err)
{
	json_t *ver, *id, *method, *params, *result, *error;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	if (json_is_array(v))
		return (invalid(err, "Invalid Request: batch not allowed here", NULL));
	if (!json_is_object(v))
		return (invalid(err, "Invalid Request: not an object", NULL));
	ver = json_object_get(v, "jsonrpc");
	id = json_object_get(v, "id");
	method = json_object_get(v, "method");
	params = json_object_get(v, "params");
	result = json_object_get(v, "result");
	error = json_object_get(v, "error");
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0)
		return (invalid(err, "Invalid Request: jsonrpc must be \"2.0\"", id));

	if (method != NULL) {
		if (!json_is_string(method))
			return (invalid(err, "Invalid Request: method must be a string", id));
		if (result != NULL || error != NULL)
			return (invalid(err, "Invalid Request: both method and result or error", id));
		if (id != NULL && !jsonrpc_id_valid(id))
			return (invalid(err, "Invalid Request: id must be a string or an integer", NULL));
		if (params != NULL && json_is_array(params))
			return (fail(err, JSONRPC_FAIL_INVALID, JSONRPC_INVALID_PARAMS, 400,
			    "Invalid params: params must be an object", id));
		if (params != NULL && !json_is_object(params))
			return (invalid(err, "Invalid Request: params must be an object", id));
		out->kind = id != NULL ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
		out->id = id;
		out->method = json_string_value(method);
		out->params = params;
		return (0);
	}

	/* No method: a response, with exactly one of result and error. */
	if ((result == NULL) == (error == NULL))
		return (invalid(err, "Invalid Request: no method, and not one of result or error", id));
	if (id == NULL)
		return (invalid(err, "Invalid Request: response without id", NULL));
	if (json_is_null(id)) {
		if (result != NULL)
			return (invalid(err, "Invalid Request: result with null id", NULL));
		id = NULL;
	} else if (!jsonrpc_id_valid(id))
		return (invalid(err, "Invalid Request: id must be a string or an integer", NULL));
	if (result != NULL && !json_is_object(result))
		return (invalid(err, "Invalid Request: result must be an object", id));
	if (error != NULL && check_error_object(error) != 0)
		return (invalid(err, "Invalid Request: malformed error object", id));
	out->kind = JSONRPC_RESPONSE;
	out->id = id;
	out->result = result;
	out->error = error;
	return (0);
}

/**
 * jsonrpc_parse(buf, len, lim, out, err):
 * Parse and classify the ${len} bytes at ${buf} under ${lim}.
 */
int
jsonrpc_parse(const char *buf, size_t len, const struct jsonrpc_limits *lim, struct jsonrpc_msg *out,
    struct jsonrpc_error *err)
{
	enum jtext_error je;
	json_t *root;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	if (len > lim->max_bytes)
		return (fail(err, JSONRPC_FAIL_SIZE, JSONRPC_INVALID_REQUEST, 413,
		    "Invalid Request: message too large", NULL));
	if (!jsonrpc_depth_ok(buf, len, lim->max_depth))
		return (fail(err, JSONRPC_FAIL_DEPTH, JSONRPC_INVALID_REQUEST, 400,
		    "Invalid Request: nested too deeply", NULL));
	if ((root = jtext_parse(buf, len, JTEXT_ANY, &je)) == NULL) {
		switch (je) {
		case JTEXT_RANGE:
			return (invalid(err, "Invalid Request: number out of range", NULL));
		case JTEXT_NOMEM:
			return (fail(
			    err, JSONRPC_FAIL_INVALID, JSONRPC_INTERNAL_ERROR, 500, "Internal error", NULL));
		default:
			return (fail(err, JSONRPC_FAIL_PARSE, JSONRPC_PARSE_ERROR, 400, "Parse error", NULL));
		}
	}
	if (json_is_array(root)) {
		if (json_array_size(root) == 0) {
			json_decref(root);
			return (invalid(err, "Invalid Request: empty batch", NULL));
		}
		out->kind = JSONRPC_BATCH;
		out->root = root;
		out->nbatch = json_array_size(root);
		return (0);
	}
	if (jsonrpc_classify(root, out, err) != 0) {
		json_decref(root);
		return (-1);
	}
	out->root = root;
	return (0);
}

/**
 * jsonrpc_msg_clear(m):
 * Free the tree ${m} owns and zero ${m}.
 */
void
jsonrpc_msg_clear(struct jsonrpc_msg *m)
{
	if (m->root != NULL)
		json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

/**
 * jsonrpc_error_clear(e):
 * Drop the id reference ${e} holds and zero ${e}.
 */
void
jsonrpc_error_clear(struct jsonrpc_error *e)
{
	if (e->id != NULL)
		json_decref(e->id);
	memset(e, 0, sizeof(*e));
}

/* A new {"jsonrpc":"2.0","id":<copy of id or null>}, or NULL. */
static json_t *
envelope(const json_t *id)
{
	json_t *o, *idc;

	if ((idc = jsonrpc_id_copy(id)) == NULL)
		return (NULL);
	if ((o = json_object()) == NULL)
		goto err0;
	if (json_object_set_new(o, "jsonrpc", json_string("2.0")) != 0)
		goto err1;
	if (json_object_set_new(o, "id", idc) != 0)
		goto err2;
	return (o);

err2:
	json_decref(o);
	return (NULL);
err1:
	json_decref(o);
err0:
	json_decref(idc);
	return (NULL);
}

/**
 * jsonrpc_result(id, result):
 * The result response for ${id}; ${result} is stolen.
 */
json_t *
jsonrpc_result(const json_t *id, json_t *result)
{
	json_t *o;

	if (result == NULL)
		return (NULL);
	if (!jsonrpc_id_valid(id) || (o = envelope(id)) == NULL) {
		json_decref(result);
		return (NULL);
	}
	if (json_object_set_new(o, "result", result) != 0) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

/**
 * jsonrpc_error(id, code, message, data):
 * The error response for ${id} (or null); ${data} is stolen.
 */
json_t *
jsonrpc_error(const json_t *id, int code, const char *message, json_t *data)
{
	json_t *o, *e;

	if (id != NULL && !jsonrpc_id_valid(id))
		id = NULL;
	if ((e = json_object()) == NULL)
		goto err0;
	if (json_object_set_new(e, "code", json_integer(code)) != 0 ||
	    json_object_set_new(e, "message", json_string(message != NULL ? message : "")) != 0)
		goto err1;
	if (data != NULL) {
		if (json_object_set_new(e, "data", data) != 0) {
			data = NULL;
			goto err1;
		}
		data = NULL;
	}
	if ((o = envelope(id)) == NULL)
		goto err1;
	if (json_object_set_new(o, "error", e) != 0) {
		json_decref(o);
		return (NULL);
	}
	return (o);

err1:
	json_decref(e);
err0:
	if (data != NULL)
		json_decref(data);
	return (NULL);
}

/**
 * jsonrpc_error_from(e):
 * The error response for the failure ${e}.
 */
json_t *
jsonrpc_error_from(const struct jsonrpc_error *e)
{
	return (jsonrpc_error(e->id, e->code, e->message, NULL));
}

/**
 * jsonrpc_dumps(msg):
 * ${msg} as compact JSON text; the reference is stolen.
 */
char *
jsonrpc_dumps(json_t *msg)
{
	char *s;

	if (msg == NULL)
		return (NULL);
	s = jtext_dumps(msg);
	json_decref(msg);
	return (s);
}

/**
 * jsonrpc_param_string(m, key):
 * The string params.${key} of ${m}, or NULL.
 */
const char *
jsonrpc_param_string(const struct jsonrpc_msg *m, const char *key)
{
	json_t *v;

	if (m->params == NULL || !json_is_object(m->params))
		return (NULL);
	v = json_object_get(m->params, key);
	return (json_is_string(v) ? json_string_value(v) : NULL);
}

const char *
jsonrpc_param_name(const struct jsonrpc_msg *m)
{
	return (jsonrpc_param_string(m, "name"));
}

const char *
jsonrpc_param_uri(const struct jsonrpc_msg *m)
{
	return (jsonrpc_param_string(m, "uri"));
}

/**
 * jsonrpc_name_source(method):
 * "name", "uri" or NULL: the body value Mcp-Name mirrors for ${method}.
 */
const char *
jsonrpc_name_source(const char *method)
{
	if (method == NULL)
		return (NULL);
	if (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0)
		return ("name");
	if (strcmp(method, "resources/read") == 0)
		return ("uri");
	return (NULL);
}

/* 1 if the ${n} bytes at ${p} are well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) without NUL. */
static int
utf8_ok(const unsigned char *p, size_t n)
{
	size_t i = 0, k, need;
	unsigned long cp, min;

	while (i < n) {
		unsigned char c = p[i];

		if (c == 0)
			return (0);
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else
			return (0);
		if (n - i - 1 < need)
			return (0);
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return (0);
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
		i += need + 1;
	}
	return (1);
}

/**
 * jsonrpc_header_decode(hdr, out, outcap, outlen):
 * Decode the Mcp-Name style header value ${hdr} into ${out}.
 */
int
jsonrpc_header_decode(const char *hdr, char *out, size_t outcap, size_t *outlen)
{
	size_t n, plen = strlen(SENTINEL_PREFIX), slen = strlen(SENTINEL_SUFFIX), i, dlen;

	*outlen = 0;
	if (outcap > 0)
		out[0] = '\0';
	if (hdr == NULL || (n = strnlen(hdr, JSONRPC_HEADER_MAX + 1)) > JSONRPC_HEADER_MAX)
		return (-1);
	if (n >= plen && memcmp(hdr, SENTINEL_PREFIX, plen) == 0 && n >= slen &&
	    memcmp(hdr + n - slen, SENTINEL_SUFFIX, slen) == 0) {
		/* Matches the sentinel pattern: it must be an encoding. */
		if (n < plen + slen)
			return (-1);
		if (outcap == 0)
			return (-1);
		/* Standard Base64 with its padding (RFC 4648 section 4): a
		 * length that is a multiple of four; b64_decode() then refuses
		 * '=' anywhere but in the last two places and set trailing
		 * bits, so each value has exactly one accepted encoding. */
		if ((n - plen - slen) % 4 != 0)
			return (-1);
		if (b64_decode(hdr + plen, n - plen - slen, (unsigned char *)out, outcap - 1, &dlen) != 0)
			return (-1);
		if (!utf8_ok((const unsigned char *)out, dlen))
			return (-1);
		out[dlen] = '\0';
		*outlen = dlen;
		return (0);
	}
	/* A plain value: what RFC 9110 allows in a field value, trimmed. */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)hdr[i];

		if (!(c == ' ' || c == '\t' || (c >= 0x21 && c <= 0x7e)))
			return (-1);
	}
	if (n > 0 && (hdr[0] == ' ' || hdr[0] == '\t' || hdr[n - 1] == ' ' || hdr[n - 1] == '\t'))
		return (-1);
	if (n + 1 > outcap)
		return (-1);
	memcpy(out, hdr, n);
	out[n] = '\0';
	*outlen = n;
	return (0);
}

/* Parse the decimal text ${s} of ${n} bytes as an integer: [-]digits with
 * an optional fraction of zeros.  Returns 0, or -1 if it is not one or does
 * not fit in json_int_t. */
static int
parse_int(const char *s, size_t n, json_int_t *out)
{
	unsigned long long v = 0, lim;
	size_t i = 0, nd = 0;
	int neg = 0;

	if (n > 0 && s[0] == '-') {
		neg = 1;
		i++;
	}
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (lim - d) / 10)
			return (-1);
		v = v * 10 + d;
	}
	if (nd == 0)
		return (-1);
	if (i < n && s[i] == '.') {
		if (++i == n)
			return (-1);
		for (; i < n; i++)
			if (s[i] != '0')
				return (-1);
	}
	if (i != n)
		return (-1);
	if (neg)
		*out = v == (unsigned long long)LLONG_MAX + 1 ? (json_int_t)(-LLONG_MAX - 1) : -(json_int_t)v;
	else
		*out = (json_int_t)v;
	return (0);
}

/*
 * A buffer for the decoded form of header value ${hdr}: ${small}
 * (HEADER_DEC_SMALL bytes) when it fits, else malloc'd; its size in ${cap}.
 * Decoding never lengthens a value (Base64 shrinks it, a plain value is
 * copied), and a value longer than JSONRPC_HEADER_MAX is refused by the
 * decoder, so strnlen(hdr) + 1 bytes, at most JSONRPC_HEADER_MAX + 1, are
 * enough.  Most values are short: no large allocation on every request.
 */
static char *
header_dec_buf(const char *hdr, char *small, size_t *cap)
{
	size_t n = hdr != NULL ? strnlen(hdr, JSONRPC_HEADER_MAX + 1) : 0;

	if (n > JSONRPC_HEADER_MAX)
		n = JSONRPC_HEADER_MAX;
	*cap = n + 1;
	if (*cap <= HEADER_DEC_SMALL)
		return (small);
	return (malloc(*cap));
}

/**
 * jsonrpc_header_value_eq(hdr, v):
 * 1 if the Mcp-Param header ${hdr} mirrors the argument ${v}, 0 if not,
 * -1 if the header is malformed.
 */
int
jsonrpc_header_value_eq(const char *hdr, const json_t *v)
{
	char small[HEADER_DEC_SMALL], *dec;
	size_t n, cap;
	json_int_t iv;
	int rc;

	if ((dec = header_dec_buf(hdr, small, &cap)) == NULL)
		return (-1);
	if (jsonrpc_header_decode(hdr, dec, cap, &n) != 0)
		rc = -1;
	else if (json_is_string(v))
		rc = json_string_length(v) == n && memcmp(json_string_value(v), dec, n) == 0;
	else if (json_is_boolean(v))
		rc = strcmp(dec, json_is_true(v) ? "true" : "false") == 0;
	else if (json_is_integer(v))
		rc = parse_int(dec, n, &iv) == 0 && iv == json_integer_value(v);
	else
		rc = 0;
	if (dec != small)
		free(dec);
	return (rc);
}

static int
mismatch(struct jsonrpc_error *err, const char *msg, const json_t *id)
{
	return (fail(err, JSONRPC_FAIL_INVALID, JSONRPC_HEADER_MISMATCH, 400, msg, id));
}

/**
 * jsonrpc_check_headers(m, mcp_method, mcp_name, err):
 * Check the Mcp-Method and Mcp-Name headers against the body ${m}.
 */
int
jsonrpc_check_headers(
    const struct jsonrpc_msg *m, const char *mcp_method, const char *mcp_name, struct jsonrpc_error *err)
{
	const char *src, *body;
	char small[HEADER_DEC_SMALL], *dec;
	size_t declen, cap;
	int rc;

	memset(err, 0, sizeof(*err));
	if (m->kind != JSONRPC_REQUEST && m->kind != JSONRPC_NOTIFICATION)
		return (invalid(err, "Invalid Request: not a request", NULL));
	if (mcp_method == NULL) {
		if (m->kind == JSONRPC_REQUEST)
			return (mismatch(err, "Header mismatch: Mcp-Method header missing", m->id));
	} else if (strnlen(mcp_method, JSONRPC_HEADER_MAX + 1) > JSONRPC_HEADER_MAX ||
	           strcmp(mcp_method, m->method) != 0)
		return (mismatch(err, "Header mismatch: Mcp-Method header does not match method", m->id));

	if ((src = jsonrpc_name_source(m->method)) == NULL)
		return (0);
	if (mcp_name == NULL)
		return (mismatch(err, "Header mismatch: Mcp-Name header missing", m->id));
	body = jsonrpc_param_string(m, src);
	if ((dec = header_dec_buf(mcp_name, small, &cap)) == NULL)
		return (
		    fail(err, JSONRPC_FAIL_INVALID, JSONRPC_INTERNAL_ERROR, 500, "Internal error", m->id));
	if (jsonrpc_header_decode(mcp_name, dec, cap, &declen) != 0)
		rc = mismatch(err, "Header mismatch: Mcp-Name header malformed", m->id);
	else if (body == NULL || strlen(body) != declen || memcmp(body, dec, declen) != 0)
		rc = mismatch(err,
		    strcmp(src, "uri") == 0 ? "Header mismatch: Mcp-Name header does not match params.uri"
		                            : "Header mismatch: Mcp-Name header does not match params.name",
		    m->id);
	else
		rc = 0;
	if (dec != small)
		free(dec);
	return (rc);
}
