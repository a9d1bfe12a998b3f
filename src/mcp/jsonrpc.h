/*
 * mcp/jsonrpc: JSON-RPC 2.0 messages as MCP uses them.
 *
 * jsonrpc_parse() turns the bytes of one HTTP body (or one stdio line) into a
 * classified message, in this order, stopping at the first failure:
 *
 *   1. size: more than ${lim->max_bytes} bytes is refused unread
 *      (JSONRPC_FAIL_SIZE, code -32600, HTTP 413);
 *   2. depth: the bytes are scanned, strings and escapes respected, and
 *      nesting of arrays and objects beyond ${lim->max_depth} is refused
 *      before any tree is built (JSONRPC_FAIL_DEPTH, -32600, HTTP 400);
 *   3. syntax: jansson with JSON_REJECT_DUPLICATES; malformed JSON,
 *      duplicate keys, invalid UTF-8 and \u0000 are parse errors (-32700);
 *      an integer outside the signed 64-bit range is refused as an invalid
 *      request (-32600), since it could not be carried without change;
 *   4. shape: a JSON-RPC 2.0 request, notification, response or batch (see
 *      enum jsonrpc_kind), with MCP's stricter rules: ids are strings or
 *      integers (never null, never fractional), "params" is an object.
 *      Shape errors are -32600, except that a request whose "params" is an
 *      array (legal JSON-RPC, not MCP) is -32602 and carries its id.
 *
 * A batch (a JSON array) is reported as JSONRPC_BATCH without looking at its
 * elements: every protocol version the gateway speaks (2025-06-18 and later)
 * requires a single message per POST, so the endpoint refuses batches; a
 * caller that accepts them classifies each element with jsonrpc_classify().
 *
 * Ownership: a parsed message owns its tree (jsonrpc_msg_clear() frees it);
 * its id, method, params, result and error point into that tree.  A failure
 * fills a struct jsonrpc_error whose id, when the request's id could be read,
 * is a reference the caller drops with jsonrpc_error_clear().
 *
 * The builders make the responses the gateway itself sends; ids are copied
 * with their exact type and value.  The header helpers implement the
 * 2026-07-28 Streamable HTTP rule that Mcp-Method and Mcp-Name mirror the
 * body, with Mcp-Name possibly Base64-encoded as =?base64?...?=.
 */
#ifndef MCPGATE_MCP_JSONRPC_H
#define MCPGATE_MCP_JSONRPC_H

#include <stddef.h>

#include <jansson.h>

/* JSON-RPC 2.0 error codes, and MCP's. */
#define JSONRPC_PARSE_ERROR      -32700
#define JSONRPC_INVALID_REQUEST  -32600
#define JSONRPC_METHOD_NOT_FOUND -32601
#define JSONRPC_INVALID_PARAMS   -32602
#define JSONRPC_INTERNAL_ERROR   -32603
#define JSONRPC_HEADER_MISMATCH  -32020 /* MCP 2026-07-28 */

/* Defaults for struct jsonrpc_limits. */
#define JSONRPC_MAX_BYTES_DEFAULT (64 * 1024)
#define JSONRPC_MAX_DEPTH_DEFAULT 64

/* JSONRPC_HEADER_MAX: longest Mcp-Method / Mcp-Name header value accepted. */
#define JSONRPC_HEADER_MAX 8192

/* JSONRPC_MESSAGE_MAX: room in struct jsonrpc_error for its message. */
#define JSONRPC_MESSAGE_MAX 128

struct jsonrpc_limits {
	size_t max_bytes;   /* a body of more bytes is refused */
	unsigned max_depth; /* "{}" and "[]" are depth 1; "{"a":[]}" is 2 */
};

enum jsonrpc_kind {
	JSONRPC_REQUEST = 1,  /* method and id */
	JSONRPC_NOTIFICATION, /* method, no id */
	JSONRPC_RESPONSE,     /* id and exactly one of result and error */
	JSONRPC_BATCH         /* a non-empty array, elements not examined */
};

struct jsonrpc_msg {
	enum jsonrpc_kind kind;
	json_t *root;       /* owned: the whole document */
	json_t *id;         /* requests, responses (NULL for an error response with id null) */
	const char *method; /* requests and notifications */
	json_t *params;     /* an object, or NULL when absent */
	json_t *result;     /* result responses: an object */
	json_t *error;      /* error responses: {"code": int, "message": string, ...} */
	size_t nbatch;      /* batches: the number of elements */
};

enum jsonrpc_fail {
	JSONRPC_FAIL_SIZE = 1, /* over max_bytes: answer HTTP 413 */
	JSONRPC_FAIL_DEPTH,    /* nested deeper than max_depth: HTTP 400 */
	JSONRPC_FAIL_PARSE,    /* not JSON: HTTP 400, -32700 */
	JSONRPC_FAIL_INVALID   /* JSON, but not a valid message: HTTP 400 */
};

struct jsonrpc_error {
	enum jsonrpc_fail fail;
	int code;                          /* one of the codes above */
	int http_status;                   /* 413 or 400 */
	char message[JSONRPC_MESSAGE_MAX]; /* fixed text; never echoes input */
	json_t *id;                        /* owned reference to the request's id, or NULL */
};

/* jsonrpc_parse(buf, len, lim, out, err): parse and classify the ${len}
 * bytes at ${buf} (not necessarily NUL-terminated) under the limits ${lim}.
 * Returns 0 with ${out} filled (release it with jsonrpc_msg_clear()), or -1
 * with ${err} filled (release with jsonrpc_error_clear()) and ${out} zeroed.
 * Running out of memory is reported as -32603 with HTTP status 500. */
int jsonrpc_parse(const char *buf, size_t len, const struct jsonrpc_limits *lim, struct jsonrpc_msg *out,
    struct jsonrpc_error *err);

/* jsonrpc_classify(v, out, err): classify the single message ${v} (for
 * example one element of a batch) by the rules of step 4 above.  ${out}
 * borrows from ${v}: its root is NULL and jsonrpc_msg_clear() does not free
 * ${v}.  Returns 0 or -1 with ${err} filled. */
int jsonrpc_classify(json_t *v, struct jsonrpc_msg *out, struct jsonrpc_error *err);

/* jsonrpc_msg_clear(m): free the tree ${m} owns and zero ${m}. */
void jsonrpc_msg_clear(struct jsonrpc_msg *m);

/* jsonrpc_error_clear(e): drop the id reference ${e} holds and zero ${e}. */
void jsonrpc_error_clear(struct jsonrpc_error *e);

/* jsonrpc_depth_ok(buf, len, max_depth): 1 if the JSON text at ${buf} never
 * nests arrays and objects deeper than ${max_depth}, else 0.  Brackets in
 * strings do not count.  The text need not be valid JSON. */
int jsonrpc_depth_ok(const char *buf, size_t len, unsigned max_depth);

/* jsonrpc_id_valid(id): 1 if ${id} is a string or an integer, the ids MCP
 * allows in requests, else 0. */
int jsonrpc_id_valid(const json_t *id);

/* jsonrpc_id_copy(id): a new value of the same type and exact value as
 * ${id} (a string or integer), or json_null() when ${id} is NULL.  NULL if
 * ${id} is of another type or memory is exhausted. */
json_t *jsonrpc_id_copy(const json_t *id);

/* jsonrpc_id_equal(a, b): 1 if the ids ${a} and ${b} have the same type and
 * value (1 and "1" differ), else 0. */
int jsonrpc_id_equal(const json_t *a, const json_t *b);

/* jsonrpc_result(id, result): the response {"jsonrpc":"2.0","id":ID,
 * "result":RESULT}.  The id is copied; ${result} is stolen (released even on
 * failure).  NULL on ENOMEM or if ${id} is not a valid id. */
json_t *jsonrpc_result(const json_t *id, json_t *result);

/* jsonrpc_error(id, code, message, data): the response {"jsonrpc":"2.0",
 * "id":ID or null,"error":{"code":CODE,"message":MESSAGE[,"data":DATA]}}.
 * ${id} is copied and may be NULL (no id could be read); ${data} may be NULL
 * and is stolen.  NULL on ENOMEM. */
json_t *jsonrpc_error(const json_t *id, int code, const char *message, json_t *data);

/* jsonrpc_error_from(e): the response for the failure ${e} (its id or null,
 * its code and message).  NULL on ENOMEM. */
json_t *jsonrpc_error_from(const struct jsonrpc_error *e);

/* jsonrpc_dumps(msg): ${msg} as compact JSON text, malloc'd, to be freed
 * with free(); the reference to ${msg} is stolen.  NULL on ENOMEM or if
 * ${msg} is NULL. */
char *jsonrpc_dumps(json_t *msg);

/* jsonrpc_param_string(m, key): the string params.${key} of ${m}, or NULL
 * if there are no params or it is absent or not a string.  The pointer
 * lives as long as the tree. */
const char *jsonrpc_param_string(const struct jsonrpc_msg *m, const char *key);

/* jsonrpc_param_name(m) and jsonrpc_param_uri(m): params.name and
 * params.uri, the values Mcp-Name mirrors. */
const char *jsonrpc_param_name(const struct jsonrpc_msg *m);
const char *jsonrpc_param_uri(const struct jsonrpc_msg *m);

/* jsonrpc_name_source(method): which body value Mcp-Name mirrors for
 * ${method}: "name" for tools/call and prompts/get, "uri" for
 * resources/read, NULL for every other method (no Mcp-Name required). */
const char *jsonrpc_name_source(const char *method);

/* jsonrpc_header_decode(hdr, out, outcap, outlen): decode the header value
 * ${hdr} as 2026-07-28 Streamable HTTP carries Mcp-Name and Mcp-Param-*:
 * a value of the form =?base64?B64?= (markers case-sensitive) is the
 * standard Base64 (RFC 4648 section 4: padded, canonical) of the UTF-8
 * bytes, which must be valid UTF-8 without NUL (unpadded text, '='
 * elsewhere than as padding and set trailing bits are refused, as SEP-2243
 * asks for standard Base64 and shows only padded values); any other value is
 * taken as it is and must consist of visible ASCII, spaces and tabs, with
 * neither leading nor trailing whitespace.  Writes the bytes to ${out} of
 * ${outcap} bytes, NUL-terminated, their count (without the NUL) to
 * ${outlen}.  Returns 0, or -1 if the value is malformed, longer than
 * JSONRPC_HEADER_MAX, or does not fit. */
int jsonrpc_header_decode(const char *hdr, char *out, size_t outcap, size_t *outlen);

/* jsonrpc_header_value_eq(hdr, v): compare an Mcp-Param-{Name} header
 * value ${hdr} (decoded as jsonrpc_header_decode() does) with the argument
 * ${v} it mirrors, by the 2026-07-28 type conversion: a string as it is, a
 * boolean as "true" or "false", an integer numerically (so "42" and "42.0"
 * both equal 42; only decimal digits, an optional '-' and an optional
 * fraction of zeros are numbers).  Other JSON types are never mirrored.
 * Returns 1 if equal, 0 if not, -1 if the header is malformed. */
int jsonrpc_header_value_eq(const char *hdr, const json_t *v);

/* jsonrpc_check_headers(m, mcp_method, mcp_name, err): the 2026-07-28
 * header-body validation of a request or notification ${m} against the
 * Mcp-Method header ${mcp_method} and the Mcp-Name header ${mcp_name}
 * (NULL when absent).  Mcp-Method is required for requests and must equal
 * the method exactly (no Base64 form); for notifications it is checked only
 * when present.  For tools/call, prompts/get and resources/read, Mcp-Name is
 * required and, once decoded, must equal params.name or params.uri byte for
 * byte; for other methods it is ignored.  Returns 0, or -1 with ${err} set
 * to -32020 (HTTP 400, the request's id, a message naming the header but not
 * echoing values). */
int jsonrpc_check_headers(
    const struct jsonrpc_msg *m, const char *mcp_method, const char *mcp_name, struct jsonrpc_error *err);

#endif
