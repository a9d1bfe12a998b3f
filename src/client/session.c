/*
 * client/session: JSON-RPC over Streamable HTTP, with authorization.
 */
#include "client/session.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/authflow.h"
#include "client/chttp.h"
#include "client/internal.h"
#include "client/sse.h"
#include "client/wwwauth.h"
#include "core/b64.h"
#include "core/buf.h"
#include "core/secret.h"

#define MODERN "2026-07-28"
#define LEGACY_DEFAULT "2025-11-25"
#define HDR_MAX 1024
#define AUTH_TRIES_MAX 2
#define RESUME_DELAY_DEFAULT_MS 1000
#define RESUME_DELAY_MAX_MS 30000
#define INPUT_REQUESTS_MAX 32

static const char *const versions[] = { "2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26" };

int
session_version_known(const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		if (strcmp(v, versions[i]) == 0)
			return (1);
	}
	return (0);
}

static int
is_modern(const char *v)
{
	return (strcmp(v, MODERN) == 0);
}

/* What a POST (or a resuming GET) produced. */
struct answer {
	json_int_t id;
	json_t *msg; /* the JSON-RPC response with our id, or NULL */
	int bad;     /* a message in the stream was not JSON */
	struct mcpgate_client *c;
	const char *token;	    /* to answer server requests with */
	int served;		    /* server requests answered */
	char last_id[SSE_ID_MAX];   /* the stream's last event id, "" if none */
	long retry_ms;		    /* its reconnection delay, -1 if none */
	int listen;		    /* keep a GET stream open for server requests meanwhile */
};

static mcpgate_err
post_once(struct mcpgate_client *c, const char *body, const char *method, const char *name,
    char *const *extra, const char *token, json_int_t id, const char *resume, struct chttp_resp *r,
    struct answer *a);

/* The result of the server's request ${method} with ${params} (or NULL) in
 * ${result}: 0, or -1 when the client does not support it. */
static int
serve_request(struct mcpgate_client *c, const char *method, json_t *params, json_t **result)
{
	json_error_t je;
	json_t *empty = NULL;
	char *ps, *rs = NULL;
	int rv;

	*result = NULL;
	if (strcmp(method, "ping") == 0)
		return ((*result = json_object()) != NULL ? 0 : -1);
	if (c->req_fn == NULL) {
		if (strcmp(method, "elicitation/create") != 0)
			return (-1);
		return ((*result = json_pack("{s:s}", "action", "decline")) != NULL ? 0 : -1);
	}
	if (params == NULL && (params = empty = json_object()) == NULL)
		return (-1);
	ps = json_dumps(params, JSON_COMPACT);
	if (empty != NULL)
		json_decref(empty);
	if (ps == NULL)
		return (-1);
	rv = c->req_fn(method, ps, &rs, c->req_arg);
	free(ps);
	if (rv != 0 || rs == NULL) {
		mcpgate_free(rs);
		return (-1);
	}
	*result = json_loads(rs, 0, &je);
	mcpgate_free(rs);
	if (*result != NULL && !json_is_object(*result)) {
		json_decref(*result);
		*result = NULL;
	}
	return (*result != NULL ? 0 : -1);
}

/* Answer the server request ${m} that came on a response stream, by POST. */
static void
answer_on_stream(struct answer *a, json_t *m)
{
	struct chttp_resp r;
	struct answer sub;
	json_t *res = NULL, *resp;
	const char *method = json_string_value(json_object_get(m, "method"));
	char *body;

	if (a->c == NULL || method == NULL || a->served >= MCPGATE_SERVER_REQUESTS_MAX)
		return;
	a->served++;
	if (serve_request(a->c, method, json_object_get(m, "params"), &res) == 0)
		resp = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", json_object_get(m, "id"), "result", res);
	else
		resp = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", json_object_get(m, "id"), "error",
		    "code", -32601, "message", "Method not found");
	if (resp == NULL || (body = json_dumps(resp, JSON_COMPACT)) == NULL) {
		if (resp != NULL)
			json_decref(resp);
		return;
	}
	json_decref(resp);
	memset(&sub, 0, sizeof(sub));
	chttp_resp_init(&r);
	/* The answer's fate is the server's business: the stream goes on. */
	(void)post_once(a->c, body, NULL, NULL, NULL, a->token, -1, NULL, &r, &sub);
	if (sub.msg != NULL)
		json_decref(sub.msg);
	chttp_resp_clear(&r);
	free(body);
}

static int
take_message(struct answer *a, const char *p, size_t n)
{
	json_error_t je;
	json_t *m, *id;

	if (n == 0)
		return (0); /* a priming event (its id is what matters) */
	if ((m = json_loadb(p, n, 0, &je)) == NULL) {
		a->bad = 1;
		return (0);
	}
	id = json_object_get(m, "id");
	if (json_is_string(json_object_get(m, "method")) && (json_is_integer(id) || json_is_string(id))) {
		answer_on_stream(a, m);
		json_decref(m);
		return (0);
	}
	if (json_is_integer(id) && json_integer_value(id) == a->id &&
	    (json_object_get(m, "result") != NULL || json_object_get(m, "error") != NULL) &&
	    json_object_get(m, "method") == NULL) {
		if (a->msg != NULL)
			json_decref(a->msg);
		a->msg = m;
		return (1);
	}
	/* Notifications (progress, logging) and server requests: not for us. */
	json_decref(m);
	return (0);
}

static int
on_event(void *arg, const char *data, size_t n)
{
	return (take_message(arg, data, n));
}

struct stream {
	struct sse sse;
	struct answer *a;
};

static int
consume(void *arg, const char *p, size_t n)
{
	struct stream *s = arg;

	return (sse_feed(&s->sse, p, n));
}

/* The Mcp-Name value: plain if it is visible ASCII without leading or
 * trailing space, else the Base64 sentinel form. */
static int
mcp_name_header(struct buf *b, const char *v)
{
	size_t i, n = strlen(v);
	int plain = (n > 0 && v[0] != ' ' && v[n - 1] != ' ');
	char *enc;
	int rv;

	for (i = 0; i < n && plain; i++) {
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			plain = 0;
	}
	if (plain && !(n >= 9 && strncmp(v, "=?base64?", 9) == 0))
		return (buf_printf(b, "Mcp-Name: %s", v));
	if (n > 4096 || (enc = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
		return (-1);
	b64_encode(v, n, enc);
	rv = buf_printf(b, "Mcp-Name: =?base64?%s?=", enc);
	free(enc);
	return (rv);
}

#define PARAM_HEADERS_MAX 32
#define SCHEMA_DEPTH_MAX 8

/* A header value: plain when it is visible ASCII with inner spaces only,
 * else the Base64 sentinel form (also for values that look like one). */
static char *
header_value(const char *v, size_t n)
{
	size_t i;
	int plain = (n == 0 || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t'));
	char *out;

	for (i = 0; i < n && plain; i++) {
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			plain = 0;
	}
	if (n >= 9 && strncmp(v, "=?base64?", 9) == 0)
		plain = 0;
	if (plain) {
		if ((out = malloc(n + 1)) != NULL) {
			memcpy(out, v, n);
			out[n] = '\0';
		}
		return (out);
	}
	if (n > 8192 || (out = malloc(9 + 4 * ((n + 2) / 3) + 3)) == NULL)
		return (NULL);
	memcpy(out, "=?base64?", 9);
	b64_encode(v, n, out + 9);
	strcat(out, "?=");
	return (out);
}

static int
token_name(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 128)
		return (0);
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		        strchr("!#$%&'*+-.^_`|~", ch) != NULL))
			return (0);
	}
	return (1);
}

/* Walk ${schema} (an object schema) and its "properties" chains; for each
 * x-mcp-header annotation call ${fn}(arg, name, value-at-path or NULL).
 * Returns -1 on an invalid annotation. */
static int
walk_headers(json_t *schema, json_t *args, int depth, json_t *seen,
    int (*fn)(void *, const char *, json_t *), void *arg)
{
	json_t *props = json_object_get(schema, "properties"), *p;
	const char *k;

	if (depth > SCHEMA_DEPTH_MAX || (props != NULL && !json_is_object(props)))
		return (-1);
	json_object_foreach(props, k, p) {
		json_t *h = json_object_get(p, "x-mcp-header");
		const char *type = json_string_value(json_object_get(p, "type"));
		json_t *v = json_is_object(args) ? json_object_get(args, k) : NULL;

		if (h != NULL) {
			char lower[129];
			size_t i;

			if (!json_is_string(h) || !token_name(json_string_value(h)) || type == NULL ||
			    !(strcmp(type, "string") == 0 || strcmp(type, "integer") == 0 || strcmp(type, "number") == 0 ||
			        strcmp(type, "boolean") == 0))
				return (-1);
			for (i = 0; json_string_value(h)[i] != '\0'; i++)
				lower[i] = (char)tolower((unsigned char)json_string_value(h)[i]);
			lower[i] = '\0';
			if (json_object_get(seen, lower) != NULL)
				return (-1);
			json_object_set_new(seen, lower, json_true());
			if (fn != NULL && fn(arg, json_string_value(h), v) != 0)
				return (-1);
		}
		if (type != NULL && strcmp(type, "object") == 0 && walk_headers(p, v, depth + 1, seen, fn, arg) != 0)
			return (-1);
	}
	return (0);
}

int
session_tool_ok(json_t *tool)
{
	json_t *seen = json_object();
	int rv;

	if (seen == NULL)
		return (0);
	rv = walk_headers(json_object_get(tool, "inputSchema"), NULL, 0, seen, NULL, NULL);
	json_decref(seen);
	return (rv == 0);
}

struct params {
	char *lines[PARAM_HEADERS_MAX + 1];
	int n;
};

static int
add_param(void *arg, const char *name, json_t *v)
{
	struct params *ps = arg;
	char num[64], *val = NULL;
	const char *sv;
	size_t len;

	if (v == NULL || json_is_null(v))
		return (0); /* absent or null: no header */
	if (ps->n >= PARAM_HEADERS_MAX)
		return (-1);
	if (json_is_string(v)) {
		sv = json_string_value(v);
		len = json_string_length(v);
		val = header_value(sv, len);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		val = strdup(num);
	} else if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%.15g", json_real_value(v));
		val = strdup(num);
	} else if (json_is_boolean(v)) {
		val = strdup(json_is_true(v) ? "true" : "false");
	} else {
		return (0);
	}
	if (val == NULL)
		return (-1);
	len = strlen(name) + strlen(val) + 16;
	if ((ps->lines[ps->n] = malloc(len)) == NULL) {
		free(val);
		return (-1);
	}
	if (val[0] == '\0')
		snprintf(ps->lines[ps->n], len, "Mcp-Param-%s;", name);
	else
		snprintf(ps->lines[ps->n], len, "Mcp-Param-%s: %s", name, val);
	free(val);
	ps->n++;
	return (0);
}

static void
params_clear(struct params *ps)
{
	int i;

	for (i = 0; i < ps->n; i++)
		mcpgate_free(ps->lines[i]);
	ps->n = 0;
	ps->lines[0] = NULL;
}

/* One POST of ${body}, without the authorization logic; or, with ${body}
 * NULL, the GET that resumes a stream after the event id ${resume}. */
static mcpgate_err
post_once(struct mcpgate_client *c, const char *body, const char *method, const char *name,
    char *const *extra, const char *token, json_int_t id, const char *resume, struct chttp_resp *r,
    struct answer *a)
{
	struct chttp_req q = { 0 };
	struct buf authz, h1, h2, h3, h4, h5;
	struct stream st;
	json_error_t je;
	size_t k = 0;
	mcpgate_err e;

	buf_init(&authz, AUTHFLOW_TOKEN_MAX + 16);
	buf_init(&h1, HDR_MAX);
	buf_init(&h2, HDR_MAX);
	buf_init(&h3, HDR_MAX);
	buf_init(&h4, 8192);
	buf_init(&h5, HDR_MAX);
	e = cerr_set(&c->err, MCPGATE_E_INVAL, "request headers too large");
	if (token != NULL && buf_printf(&authz, "Bearer %s", token) != 0)
		goto out;
	if (c->version != NULL && strcmp(c->version, "2025-03-26") != 0) {
		if (buf_printf(&h1, "MCP-Protocol-Version: %s", c->version) != 0)
			goto out;
		q.headers[k++] = buf_cstr(&h1);
	}
	if (c->era == ERA_LEGACY && c->session_id != NULL) {
		if (buf_printf(&h2, "Mcp-Session-Id: %s", c->session_id) != 0)
			goto out;
		q.headers[k++] = buf_cstr(&h2);
	}
	if (resume != NULL) {
		if (buf_printf(&h5, "Last-Event-ID: %s", resume) != 0)
			goto out;
		q.headers[k++] = buf_cstr(&h5);
	}
	if (c->era == ERA_MODERN && method != NULL) {
		if (buf_printf(&h3, "Mcp-Method: %s", method) != 0)
			goto out;
		q.headers[k++] = buf_cstr(&h3);
		if (name != NULL) {
			if (mcp_name_header(&h4, name) != 0)
				goto out;
			q.headers[k++] = buf_cstr(&h4);
		}
		for (; extra != NULL && *extra != NULL && k < CHTTP_HEADERS_MAX - 1; extra++)
			q.headers[k++] = *extra;
	}
	cerr_reset(&c->err);
	q.method = body != NULL ? "POST" : "GET";
	q.url = c->server_url;
	q.body = body;
	q.body_len = body != NULL ? strlen(body) : 0;
	q.content_type = body != NULL ? "application/json" : NULL;
	q.accept = body != NULL ? "application/json, text/event-stream" : "text/event-stream";
	q.authorization = token ? buf_cstr(&authz) : NULL;
	q.timeout_ms = c->timeout_ms;
	q.consumer = consume;
	q.consumer_arg = &st;
	a->id = id;
	a->msg = NULL;
	a->bad = 0;
	a->c = c;
	a->token = token;
	st.a = a;
	sse_init(&st.sse, on_event, a);
	if (resume != NULL && strlen(resume) < sizeof(st.sse.last_id))
		strcpy(st.sse.last_id, resume);
	if (a->listen && body != NULL && c->era == ERA_LEGACY && c->session_id != NULL && !c->no_listen) {
		/* Older servers send their requests on the GET stream: listen
		 * there while the request runs. */
		struct chttp_req sq = { 0 };
		struct chttp_resp sr;
		struct answer sa;
		struct stream sst;

		sq.method = "GET";
		sq.url = c->server_url;
		sq.accept = "text/event-stream";
		sq.authorization = q.authorization;
		sq.timeout_ms = c->timeout_ms;
		sq.headers[0] = h1.len > 0 ? buf_cstr(&h1) : buf_cstr(&h2);
		sq.headers[1] = h1.len > 0 ? buf_cstr(&h2) : NULL;
		sq.consumer = consume;
		sq.consumer_arg = &sst;
		memset(&sa, 0, sizeof(sa));
		sa.id = id;
		sa.c = c;
		sa.token = token;
		sst.a = &sa;
		sse_init(&sst.sse, on_event, &sa);
		chttp_resp_init(&sr);
		e = chttp_do_with(&q, r, &sq, &sr, &c->err);
		if (sr.status != 0 && sr.status != 200)
			c->no_listen = 1;
		if (a->msg == NULL && sa.msg != NULL) {
			a->msg = sa.msg; /* misplaced, but ours */
			sa.msg = NULL;
		}
		if (sa.msg != NULL)
			json_decref(sa.msg);
		sse_clear(&sst.sse);
		chttp_resp_clear(&sr);
	} else {
		e = chttp_do(&q, r, &c->err);
	}
	memcpy(a->last_id, st.sse.last_id, sizeof(a->last_id));
	a->retry_ms = st.sse.retry_ms;
	sse_clear(&st.sse);
	if (e == MCPGATE_OK && !r->streamed && r->body.len > 0 && chttp_is_json(r)) {
		json_t *m = json_loadb(r->body.p, r->body.len, 0, &je);

		if (m == NULL)
			a->bad = 1;
		else if (a->msg == NULL)
			a->msg = m;
		else
			json_decref(m);
	}
out:
	buf_clear(&authz);
	buf_clear(&h1);
	buf_clear(&h2);
	buf_clear(&h3);
	buf_clear(&h4);
	buf_clear(&h5);
	return (e);
}

/* POST ${body} with the access token, handling 401 and 403 as described in
 * session.h.  ${r} and ${a} hold the final answer. */
static mcpgate_err
post(struct mcpgate_client *c, const char *body, const char *method, const char *name, char *const *extra,
    json_int_t id, struct chttp_resp *r, struct answer *a)
{
	struct wwwauth chal;
	const char *token;
	int stepups = 0, logins = 0, refreshed = 0;
	mcpgate_err e;

	for (;;) {
		if (a->msg != NULL) {
			json_decref(a->msg);
			a->msg = NULL;
		}
		if ((e = authflow_access(c, &token)) != MCPGATE_OK)
			return (e);
		if ((e = post_once(c, body, method, name, extra, token, id, NULL, r, a)) != MCPGATE_OK)
			return (e);
		if (r->status != 401 && r->status != 403)
			return (MCPGATE_OK);
		if (wwwauth_parse(r->wwwauth.p ? r->wwwauth.p : "", r->wwwauth.len, &chal) != 0)
			memset(&chal, 0, sizeof(chal)); /* a broken header: use the well-known URLs */
		if (r->status == 403) {
			if (strcmp(chal.error, "insufficient_scope") != 0)
				return (cerr_set(&c->err, MCPGATE_E_HTTP, "%.200s refused the request (HTTP 403)",
				    c->server_url));
			if (stepups >= MCPGATE_STEPUP_MAX || !c->auto_login)
				return (cerr_set(&c->err, MCPGATE_E_SCOPE,
				    "%.200s needs scope \"%.200s\", which the authorization server did not grant",
				    c->server_url, chal.scope));
			stepups++;
			if ((e = authflow_login(c, &chal, 1)) != MCPGATE_OK)
				return (e);
			continue;
		}
		/* 401: refresh once, then log in, within bounds. */
		if (token != NULL && !refreshed && c->tok.refresh_token != NULL) {
			refreshed = 1;
			e = authflow_refresh(c);
			if (e == MCPGATE_OK)
				continue;
			if (e != MCPGATE_E_TOKEN && e != MCPGATE_E_NOT_LOGGED_IN)
				return (e);
			cerr_reset(&c->err);
		}
		if (!c->auto_login)
			return (cerr_set(&c->err, token ? MCPGATE_E_UNAUTHORIZED : MCPGATE_E_NOT_LOGGED_IN,
			    token ? "%.200s refused the stored token; log in again" : "not logged in to %.200s",
			    c->server_url));
		if (logins >= AUTH_TRIES_MAX)
			return (cerr_set(&c->err, MCPGATE_E_UNAUTHORIZED,
			    "%.200s keeps refusing freshly issued tokens", c->server_url));
		logins++;
		if ((e = authflow_login(c, &chal, 0)) != MCPGATE_OK)
			return (e);
	}
}

/* The params of a modern request: ${params} plus the _meta fields. */
static json_t *
modern_params(struct mcpgate_client *c, json_t *params)
{
	json_t *p = params ? json_deep_copy(params) : json_object(), *meta;

	if (p == NULL)
		return (NULL);
	if ((meta = json_object_get(p, "_meta")) == NULL || !json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(p, "_meta", meta);
	}
	json_object_set_new(meta, "io.modelcontextprotocol/protocolVersion", json_string(c->version));
	json_object_set_new(meta, "io.modelcontextprotocol/clientInfo",
	    json_pack("{s:s, s:s}", "name", c->client_name, "version", c->client_version));
	json_object_set_new(meta, "io.modelcontextprotocol/clientCapabilities",
	    c->capabilities ? json_deep_copy(c->capabilities) : json_object());
	return (p);
}

/* Is ${m} a JSON-RPC error a modern server sends (so it is not legacy)? */
static int
modern_error(json_t *m)
{
	json_t *err = m ? json_object_get(m, "error") : NULL;

	return (err != NULL && json_is_integer(json_object_get(err, "code")));
}

static mcpgate_err
legacy_init(struct mcpgate_client *c);

/* A session id is visible ASCII (0x21 to 0x7E), MCP 2025-06-18. */
static int
session_id_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return (0);
	}
	return (i > 0);
}

/* Wait ${ms} milliseconds (at most RESUME_DELAY_MAX_MS). */
static void
pause_ms(long ms)
{
	struct timespec ts;

	if (ms > RESUME_DELAY_MAX_MS)
		ms = RESUME_DELAY_MAX_MS;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Send one request in the current era. */
static mcpgate_err
send_request(struct mcpgate_client *c, const char *method, json_t *params, json_t **reply)
{
	struct chttp_resp r;
	struct answer a;
	json_t *msg, *p = NULL;
	const char *name = NULL;
	char *body;
	json_int_t id = c->next_id++;
	int k;
	struct params ps = { { NULL }, 0 };
	mcpgate_err e;

	*reply = NULL;
	memset(&a, 0, sizeof(a));
	if (c->era == ERA_MODERN) {
		if ((p = modern_params(c, params)) == NULL)
			return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
		if (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0)
			name = json_string_value(json_object_get(p, "name"));
		if (strcmp(method, "tools/call") == 0 && name != NULL && c->tool_schemas != NULL) {
			json_t *schema = json_object_get(c->tool_schemas, name), *seen = json_object();

			/* Mirror x-mcp-header parameters (2026-07-28, "Custom Headers"). */
			if (schema != NULL && seen != NULL &&
			    walk_headers(schema, json_object_get(p, "arguments"), 0, seen, add_param, &ps) != 0)
				params_clear(&ps);
			if (seen != NULL)
				json_decref(seen);
		}
		else if (strcmp(method, "resources/read") == 0)
			name = json_string_value(json_object_get(p, "uri"));
	} else if (params != NULL) {
		p = json_incref(params);
	}
	msg = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id, "method", method);
	if (msg != NULL && p != NULL)
		json_object_set(msg, "params", p);
	body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	if (msg != NULL)
		json_decref(msg);
	if (body == NULL) {
		if (p != NULL)
			json_decref(p);
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	}
	chttp_resp_init(&r);
	ps.lines[ps.n] = NULL;
	a.listen = (c->req_fn != NULL && strcmp(method, "initialize") != 0);
	e = post(c, body, method, name, ps.lines, id, &r, &a);
	free(body);
	params_clear(&ps);
	if (p != NULL)
		json_decref(p);
	if (e != MCPGATE_OK)
		goto out;
	if (strcmp(method, "initialize") == 0 && r.status == 200 && session_id_ok(r.session_id)) {
		client_strfree(&c->session_id);
		c->session_id = client_strdup(r.session_id);
	}
	/* A stream that ended before our answer, after an event id: resume it
	 * with GET and Last-Event-ID after the server's retry delay (2025-11-25,
	 * "Resumability and Redelivery"). */
	for (k = 0; c->era == ERA_LEGACY && r.status == 200 && r.streamed && a.msg == NULL &&
	     a.last_id[0] != '\0' && k < MCPGATE_RESUME_MAX; k++) {
		char resume[SSE_ID_MAX];

		pause_ms(a.retry_ms >= 0 ? a.retry_ms : RESUME_DELAY_DEFAULT_MS);
		memcpy(resume, a.last_id, sizeof(resume));
		chttp_resp_clear(&r);
		chttp_resp_init(&r);
		if ((e = post_once(c, NULL, method, NULL, NULL, c->have_tok ? c->tok.access_token : NULL, id, resume,
		         &r, &a)) != MCPGATE_OK)
			goto out;
	}
	if (r.status == 200 && a.msg != NULL) {
		*reply = a.msg;
		a.msg = NULL;
		goto out;
	}
	if (r.status >= 400 && a.msg != NULL && modern_error(a.msg)) {
		/* A JSON-RPC error with an HTTP error status (modern servers). */
		*reply = a.msg;
		a.msg = NULL;
		goto out;
	}
	if (r.status == 200)
		e = cerr_set(&c->err, MCPGATE_E_MALFORMED, "%.200s sent no response to %s", c->server_url, method);
	else if (r.status == 404 && c->era == ERA_LEGACY && c->session_id != NULL)
		e = MCPGATE_E_PROTOCOL; /* the session expired: the caller initializes again */
	else
		e = cerr_set(&c->err, MCPGATE_E_HTTP, "%.200s answered HTTP %ld to %s", c->server_url, r.status,
		    method);
out:
	if (a.msg != NULL)
		json_decref(a.msg);
	chttp_resp_clear(&r);
	return (e);
}

static mcpgate_err
send_notification(struct mcpgate_client *c, const char *method, json_t *params)
{
	struct chttp_resp r;
	struct answer a;
	json_t *msg, *p = NULL;
	char *body;
	mcpgate_err e;

	memset(&a, 0, sizeof(a));
	if (c->era == ERA_MODERN && (p = modern_params(c, params)) == NULL)
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	if (c->era != ERA_MODERN && params != NULL)
		p = json_incref(params);
	msg = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
	if (msg != NULL && p != NULL)
		json_object_set(msg, "params", p);
	body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	if (msg != NULL)
		json_decref(msg);
	if (p != NULL)
		json_decref(p);
	if (body == NULL)
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	chttp_resp_init(&r);
	e = post(c, body, method, NULL, NULL, -1, &r, &a);
	free(body);
	if (e == MCPGATE_OK && r.status != 202 && r.status != 200 && r.status != 204)
		e = cerr_set(&c->err, MCPGATE_E_HTTP, "%.200s answered HTTP %ld to %s", c->server_url, r.status,
		    method);
	if (a.msg != NULL)
		json_decref(a.msg);
	chttp_resp_clear(&r);
	return (e);
}

static mcpgate_err
legacy_init(struct mcpgate_client *c)
{
	json_t *params, *reply = NULL, *res;
	const char *v, *want;
	mcpgate_err e;

	want = is_modern(c->proto) ? LEGACY_DEFAULT : c->proto;
	c->era = ERA_LEGACY;
	client_strfree(&c->version);
	client_strfree(&c->session_id);
	params = json_pack("{s:s, s:o, s:{s:s, s:s}}", "protocolVersion", want, "capabilities",
	    c->capabilities ? json_deep_copy(c->capabilities) : json_object(), "clientInfo", "name", c->client_name,
	    "version", c->client_version);
	if (params == NULL)
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	e = send_request(c, "initialize", params, &reply);
	json_decref(params);
	if (e != MCPGATE_OK)
		return (e);
	if ((res = json_object_get(reply, "result")) == NULL) {
		json_decref(reply);
		return (cerr_set(&c->err, MCPGATE_E_PROTOCOL, "%.200s refused to initialize", c->server_url));
	}
	v = json_string_value(json_object_get(res, "protocolVersion"));
	if (v == NULL || !session_version_known(v) || is_modern(v)) {
		json_decref(reply);
		return (cerr_set(&c->err, MCPGATE_E_PROTOCOL, "%.200s speaks an MCP version we do not (%.40s)",
		    c->server_url, v ? v : "none"));
	}
	c->version = client_strdup(v);
	if (c->server_info != NULL)
		json_decref(c->server_info);
	c->server_info = json_incref(res);
	json_decref(reply);
	return (send_notification(c, "notifications/initialized", NULL));
}

/* Pick the version to retry with from an UnsupportedProtocolVersionError. */
static const char *
pick_supported(json_t *err)
{
	json_t *sup = json_object_get(json_object_get(err, "data"), "supported"), *v;
	size_t i, k;

	for (k = 0; k < sizeof(versions) / sizeof(versions[0]); k++) {
		json_array_foreach(sup, i, v) {
			if (json_is_string(v) && strcmp(json_string_value(v), versions[k]) == 0)
				return (versions[k]);
		}
	}
	return (NULL);
}

static mcpgate_err
ensure_era(struct mcpgate_client *c)
{
	if (c->era != ERA_UNKNOWN)
		return (MCPGATE_OK);
	if (is_modern(c->proto)) {
		c->era = ERA_MODERN;
		client_strfree(&c->version);
		if ((c->version = client_strdup(c->proto)) == NULL)
			return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
		return (MCPGATE_OK);
	}
	return (legacy_init(c));
}

/* Keep the input schemas of listed tools for header mirroring. */
static void
remember_tools(struct mcpgate_client *c, json_t *result)
{
	json_t *t;
	size_t i;

	if (c->tool_schemas == NULL && (c->tool_schemas = json_object()) == NULL)
		return;
	json_array_foreach(json_object_get(result, "tools"), i, t) {
		const char *n = json_string_value(json_object_get(t, "name"));
		json_t *s = json_object_get(t, "inputSchema");

		if (n != NULL && json_is_object(s) && json_object_size(c->tool_schemas) < 4096)
			json_object_set(c->tool_schemas, n, s);
	}
}

static mcpgate_err
request_once(struct mcpgate_client *c, const char *method, json_t *params, json_t **result, json_t **error)
{
	json_t *reply = NULL, *err;
	const char *v;
	int tries;
	mcpgate_err e;

	*result = NULL;
	if (error != NULL)
		*error = NULL;
	for (tries = 0; tries < 3; tries++) {
		if ((e = ensure_era(c)) != MCPGATE_OK)
			return (e);
		e = send_request(c, method, params, &reply);
		if (e == MCPGATE_E_PROTOCOL && c->era == ERA_LEGACY) {
			/* Session gone (404): start a new one. */
			c->era = ERA_UNKNOWN;
			client_strfree(&c->session_id);
			continue;
		}
		if (e == MCPGATE_E_HTTP && c->era == ERA_MODERN && tries == 0) {
			/* 400/404/405 without a JSON-RPC error: a legacy server. */
			cerr_reset(&c->err);
			if ((e = legacy_init(c)) != MCPGATE_OK)
				return (e);
			continue;
		}
		if (e != MCPGATE_OK)
			return (e);
		if ((err = json_object_get(reply, "error")) != NULL) {
			if (c->era == ERA_MODERN && json_integer_value(json_object_get(err, "code")) == -32022 &&
			    tries == 0 && (v = pick_supported(err)) != NULL) {
				/* Once, even with the version we sent: the server named it. */
				json_decref(reply);
				reply = NULL;
				client_strfree(&c->version);
				if (is_modern(v)) {
					c->version = client_strdup(v);
				} else {
					client_strfree(&c->proto);
					c->proto = client_strdup(v);
					c->era = ERA_UNKNOWN;
				}
				continue;
			}
			if (error != NULL)
				*error = json_incref(err);
			json_decref(reply);
			return (cerr_set(&c->err, MCPGATE_E_RPC, "%.200s answered %s with an error", c->server_url,
			    method));
		}
		*result = json_incref(json_object_get(reply, "result"));
		json_decref(reply);
		if (*result == NULL)
			return (cerr_set(&c->err, MCPGATE_E_MALFORMED, "a response without result"));
		if (strcmp(method, "tools/list") == 0)
			remember_tools(c, *result);
		return (MCPGATE_OK);
	}
	return (cerr_set(&c->err, MCPGATE_E_PROTOCOL, "%.200s: no usable MCP session", c->server_url));
}

/* The params of the retry of a request with ${params} that got the
 * InputRequiredResult ${res} (2026-07-28, SEP-2322): the same params with
 * "inputResponses" answering each of its "inputRequests" and its
 * "requestState", verbatim, when it has one.  NULL on failure (in errmsg). */
static json_t *
input_retry(struct mcpgate_client *c, json_t *params, json_t *res, mcpgate_err *ep)
{
	json_t *reqs = json_object_get(res, "inputRequests"), *state = json_object_get(res, "requestState");
	json_t *next, *answers, *q, *ans;
	const char *k, *m;

	if (!json_is_object(reqs) || json_object_size(reqs) == 0 || json_object_size(reqs) > INPUT_REQUESTS_MAX) {
		*ep = cerr_set(&c->err, MCPGATE_E_MALFORMED, "%.200s asked for input without valid inputRequests",
		    c->server_url);
		return (NULL);
	}
	next = params ? json_deep_copy(params) : json_object();
	answers = json_object();
	if (next == NULL || answers == NULL)
		goto nomem;
	json_object_foreach(reqs, k, q) {
		if ((m = json_string_value(json_object_get(q, "method"))) == NULL) {
			*ep = cerr_set(&c->err, MCPGATE_E_MALFORMED, "%.200s sent an input request without a method",
			    c->server_url);
			goto err;
		}
		if (serve_request(c, m, json_object_get(q, "params"), &ans) != 0) {
			*ep = cerr_set(&c->err, MCPGATE_E_PROTOCOL,
			    "%.200s asked for input by %.64s, which this client does not support", c->server_url, m);
			goto err;
		}
		if (json_object_set_new(answers, k, ans) != 0)
			goto nomem;
	}
	if (json_object_set_new(next, "inputResponses", answers) != 0) {
		answers = NULL;
		goto nomem;
	}
	answers = NULL;
	json_object_del(next, "requestState");
	if (state != NULL && json_object_set(next, "requestState", state) != 0)
		goto nomem;
	return (next);
nomem:
	*ep = cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory");
err:
	if (answers != NULL)
		json_decref(answers);
	if (next != NULL)
		json_decref(next);
	return (NULL);
}

mcpgate_err
session_request(struct mcpgate_client *c, const char *method, json_t *params, json_t **result, json_t **error)
{
	json_t *p = params ? json_incref(params) : NULL, *next;
	const char *rt;
	int rounds;
	mcpgate_err e;

	for (rounds = 0;; rounds++) {
		if ((e = request_once(c, method, p, result, error)) != MCPGATE_OK)
			break;
		rt = json_string_value(json_object_get(*result, "resultType"));
		if (c->era != ERA_MODERN || rt == NULL || strcmp(rt, "input_required") != 0)
			break;
		if (rounds < MCPGATE_INPUT_ROUNDS_MAX)
			next = input_retry(c, params, *result, &e);
		else {
			next = NULL;
			e = cerr_set(&c->err, MCPGATE_E_PROTOCOL, "%.200s kept asking for input (%d rounds)",
			    c->server_url, rounds);
		}
		json_decref(*result);
		*result = NULL;
		if (next == NULL)
			break;
		if (p != NULL)
			json_decref(p);
		p = next;
	}
	if (p != NULL)
		json_decref(p);
	return (e);
}

mcpgate_err
session_notify(struct mcpgate_client *c, const char *method, json_t *params)
{
	mcpgate_err e;

	if ((e = ensure_era(c)) != MCPGATE_OK)
		return (e);
	return (send_notification(c, method, params));
}

mcpgate_err
session_probe(struct mcpgate_client *c)
{
	json_t *res = NULL, *err = NULL;
	mcpgate_err e;

	if (c->era == ERA_LEGACY && c->server_info != NULL)
		return (MCPGATE_OK);
	if ((e = ensure_era(c)) != MCPGATE_OK)
		return (e);
	if (c->era == ERA_LEGACY)
		return (MCPGATE_OK);
	e = session_request(c, "server/discover", NULL, &res, &err);
	if (e == MCPGATE_E_RPC) {
		/* A modern server that does not implement discover still spoke. */
		json_decref(err);
		cerr_reset(&c->err);
		return (MCPGATE_OK);
	}
	if (e != MCPGATE_OK)
		return (e);
	if (c->server_info != NULL)
		json_decref(c->server_info);
	c->server_info = res;
	return (MCPGATE_OK);
}

void
session_close(struct mcpgate_client *c)
{
	struct chttp_req q = { 0 };
	struct chttp_resp r;
	struct buf authz, h;
	struct cerr ignore;

	if (c->era != ERA_LEGACY || c->session_id == NULL)
		return;
	buf_init(&authz, AUTHFLOW_TOKEN_MAX + 16);
	buf_init(&h, HDR_MAX);
	cerr_reset(&ignore);
	if (buf_printf(&h, "Mcp-Session-Id: %s", c->session_id) == 0 &&
	    (!c->have_tok || buf_printf(&authz, "Bearer %s", c->tok.access_token) == 0)) {
		q.method = "DELETE";
		q.url = c->server_url;
		q.headers[0] = buf_cstr(&h);
		q.authorization = c->have_tok ? buf_cstr(&authz) : NULL;
		q.timeout_ms = 5000;
		chttp_resp_init(&r);
		(void)chttp_do(&q, &r, &ignore);
		chttp_resp_clear(&r);
	}
	buf_clear(&authz);
	buf_clear(&h);
	client_strfree(&c->session_id);
}
