/* Tests for src/gateway/upstream_http.c: an upstream over Streamable HTTP,
 * against a small MCP server and token endpoint on src/http/server.c. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "gateway/upstream.h"
#include "http/basic.h"
#include "http/form.h"
#include "http/server.h"

#define WAIT_MS 10000

/* What the fake server saw, under mtx. */
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static int initializes, token_requests, calls_seen, bad_accept;
static char last_version[64], last_session[64], last_auth[256], last_static[64];
static int saw_client_auth;	/* an Authorization other than ours */
static int expire_next;		/* answer the next session request with 404 */
static int token_ttl = 3600;
static char current_token[64];

static void
copy_header(const struct http_req *req, const char *name, char *out, size_t cap)
{
	const char *v = http_req_header(req, name);

	snprintf(out, cap, "%s", v ? v : "");
}

static void
h_mcp(void *arg, const struct http_req *req, struct http_resp *resp)
{
	const char *accept = http_req_header(req, "Accept"), *method, *name;
	const char *auth = http_req_header(req, "Authorization");
	json_t *m, *id, *params, *tok;
	char body[2048];

	(void)arg;
	m = json_loads(req->body, 0, NULL);
	method = json_string_value(json_object_get(m, "method"));
	id = json_object_get(m, "id");
	params = json_object_get(m, "params");
	pthread_mutex_lock(&mtx);
	if (accept == NULL || strstr(accept, "application/json") == NULL ||
	    strstr(accept, "text/event-stream") == NULL)
		bad_accept++;
	if (method == NULL || strcmp(method, "initialize") != 0) {
		copy_header(req, "MCP-Protocol-Version", last_version, sizeof(last_version));
		copy_header(req, "Mcp-Session-Id", last_session, sizeof(last_session));
	}
	copy_header(req, "Authorization", last_auth, sizeof(last_auth));
	copy_header(req, "X-Static", last_static, sizeof(last_static));
	if (auth != NULL && strncmp(auth, "Bearer tok-", 11) != 0)
		saw_client_auth = 1;
	if (current_token[0] != '\0') {
		char want[128];

		snprintf(want, sizeof(want), "Bearer %s", current_token);
		if (auth == NULL || strcmp(auth, want) != 0) {
			pthread_mutex_unlock(&mtx);
			http_resp_json(resp, 401, json_pack("{s:s}", "error", "invalid_token"));
			json_decref(m);
			return;
		}
	}
	if (method != NULL && strcmp(method, "initialize") == 0) {
		initializes++;
		pthread_mutex_unlock(&mtx);
		http_resp_json(resp, 200, json_pack("{s:s, s:O, s:{s:s, s:{s:{s:b}}, s:{s:s, s:s}}}",
		    "jsonrpc", "2.0", "id", id, "result", "protocolVersion", "2025-11-25",
		    "capabilities", "tools", "listChanged", 1, "serverInfo", "name", "fake", "version",
		    "1"));
		snprintf(body, sizeof(body), "sess-%d", initializes);
		http_resp_header(resp, "Mcp-Session-Id", body);
		json_decref(m);
		return;
	}
	if (expire_next && last_session[0] != '\0') {
		expire_next = 0;
		pthread_mutex_unlock(&mtx);
		http_resp_json(resp, 404, json_object());
		json_decref(m);
		return;
	}
	pthread_mutex_unlock(&mtx);
	if (id == NULL) {
		http_resp_text(resp, 202, "text/plain", "");
	} else if (strcmp(method, "tools/list") == 0) {
		http_resp_json(resp, 200, json_pack("{s:s, s:O, s:{s:[{s:s, s:{s:s}}]}}", "jsonrpc",
		    "2.0", "id", id, "result", "tools", "name", "hello", "inputSchema", "type", "object"));
	} else if (strcmp(method, "tools/call") == 0) {
		name = json_string_value(json_object_get(params, "name"));
		pthread_mutex_lock(&mtx);
		calls_seen++;
		pthread_mutex_unlock(&mtx);
		if (name != NULL && strcmp(name, "sse") == 0) {
			char *n1, *r;
			json_t *j;

			tok = json_object_get(json_object_get(params, "_meta"), "progressToken");
			j = json_pack("{s:s, s:s, s:{s:O, s:i}}", "jsonrpc", "2.0", "method",
			    "notifications/progress", "params", "progressToken", tok ? tok : json_null(),
			    "progress", 1);
			n1 = json_dumps(j, JSON_COMPACT);
			json_decref(j);
			j = json_pack("{s:s, s:O, s:{s:[{s:s, s:s}]}}", "jsonrpc", "2.0", "id", id,
			    "result", "content", "type", "text", "text", "via sse");
			r = json_dumps(j, JSON_COMPACT);
			json_decref(j);
			/* A priming event, a comment, CRLF line ends. */
			snprintf(body, sizeof(body), "id: 0\r\ndata:\r\n\r\n: hi\r\nevent: message\r\n"
			    "data: %s\r\n\r\ndata: %s\n\n", n1, r);
			free(n1);
			free(r);
			http_resp_text(resp, 200, "text/event-stream", body);
		} else
			http_resp_json(resp, 200, json_pack("{s:s, s:O, s:{s:[{s:s, s:s}]}}", "jsonrpc",
			    "2.0", "id", id, "result", "content", "type", "text", "text", "via json"));
	} else if (strcmp(method, "ping") == 0) {
		http_resp_json(resp, 200, json_pack("{s:s, s:O, s:{}}", "jsonrpc", "2.0", "id", id,
		    "result"));
	} else
		http_resp_json(resp, 500, json_object());
	json_decref(m);
}

static void
h_token(void *arg, const struct http_req *req, struct http_resp *resp)
{
	const char *auth = http_req_header(req, "Authorization");
	char *user = NULL, *pass = NULL;
	struct form f;

	(void)arg;
	if (auth == NULL || basic_parse(auth, &user, &pass) != 0 || strcmp(user, "gw") != 0 ||
	    strcmp(pass, "s3:cr&t") != 0 || form_parse(&f, req->body, req->body_len) != 0) {
		free(user);
		free(pass);
		http_resp_json(resp, 401, json_pack("{s:s}", "error", "invalid_client"));
		return;
	}
	free(user);
	free(pass);
	if (form_get(&f, "grant_type") == NULL ||
	    strcmp(form_get(&f, "grant_type"), "client_credentials") != 0 ||
	    form_get(&f, "resource") == NULL ||
	    strcmp(form_get(&f, "resource"), "https://upstream.example/mcp") != 0) {
		form_clear(&f);
		http_resp_json(resp, 400, json_pack("{s:s}", "error", "invalid_request"));
		return;
	}
	form_clear(&f);
	pthread_mutex_lock(&mtx);
	token_requests++;
	snprintf(current_token, sizeof(current_token), "tok-%d", token_requests);
	http_resp_json(resp, 200, json_pack("{s:s, s:s, s:i}", "access_token", current_token,
	    "token_type", "Bearer", "expires_in", token_ttl));
	pthread_mutex_unlock(&mtx);
}

static const struct http_route routes[] = {
	{"/mcp", 0, h_mcp, NULL},
	{"/token", 0, h_token, NULL},
};

static struct http_server *srv;
static uint16_t port;
static struct upstream_configs cfgs;

static int
setup(void **state)
{
	struct http_config c = {0};

	(void)state;
	c.bind_addr = "127.0.0.1";
	c.threads = 4;
	srv = http_server_new(&c, routes, sizeof(routes) / sizeof(routes[0]));
	if (srv == NULL)
		return (-1);
	port = http_server_port(srv);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	http_server_free(srv);
	upstream_config_clear(&cfgs);
	return (0);
}

static int
reset(void **state)
{
	(void)state;
	pthread_mutex_lock(&mtx);
	initializes = token_requests = calls_seen = bad_accept = 0;
	saw_client_auth = expire_next = 0;
	token_ttl = 3600;
	current_token[0] = last_version[0] = last_session[0] = last_auth[0] = last_static[0] = '\0';
	pthread_mutex_unlock(&mtx);
	upstream_config_clear(&cfgs);
	return (0);
}

static struct upstream *
start_hooked(const char *extra, const char *path, const struct upstream_hooks *hooks)
{
	char text[2048];
	const char *why = NULL;
	struct upstream *u;
	json_t *j;

	snprintf(text, sizeof(text), "{\"remote\": {\"url\": \"http://127.0.0.1:%u%s\"%s%s}}",
	    (unsigned)port, path ? path : "/mcp", extra ? ", " : "", extra ? extra : "");
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	if (upstream_config_parse(j, &cfgs, &why) != 0)
		fail_msg("config: %s", why);
	json_decref(j);
	u = upstream_new(&cfgs.v[0], hooks);
	assert_non_null(u);
	assert_int_equal(upstream_start(u), 0);
	return (u);
}

static struct upstream *
start(const char *extra, const char *path)
{
	return (start_hooked(extra, path, NULL));
}

struct waiter {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int done, notes;
	json_t *result, *error, *token;
};

static void
w_done(void *arg, json_t *result, json_t *error)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mtx);
	w->result = json_incref(result);
	w->error = json_incref(error);
	w->done++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mtx);
}

static void
w_notify(void *arg, const char *method, json_t *params)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mtx);
	if (strcmp(method, "notifications/progress") == 0) {
		w->notes++;
		json_decref(w->token);
		w->token = json_incref(json_object_get(params, "progressToken"));
	}
	pthread_mutex_unlock(&w->mtx);
}

static void
call(struct upstream *u, struct waiter *w, const char *tool, int64_t timeout)
{
	struct upstream_call_opts o = {timeout, NULL, w_done, w_notify, NULL, w, 0, 0};
	struct timespec ts;
	json_t *p;

	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cv, NULL);
	p = json_pack("{s:s, s:{s:s}}", "name", tool, "_meta", "progressToken", "mine");
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	json_decref(p);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&w->mtx);
	while (!w->done && pthread_cond_timedwait(&w->cv, &w->mtx, &ts) == 0)
		;
	pthread_mutex_unlock(&w->mtx);
	assert_int_equal(w->done, 1);
}

static void
w_clear(struct waiter *w)
{
	json_decref(w->result);
	json_decref(w->error);
	json_decref(w->token);
	pthread_mutex_destroy(&w->mtx);
	pthread_cond_destroy(&w->cv);
}

static const char *
text_of(json_t *result)
{
	return (json_string_value(json_object_get(json_array_get(json_object_get(result, "content"), 0),
	    "text")));
}

static void
t_json_and_headers(void **state)
{
	struct upstream_lists *l;
	struct waiter w;
	struct upstream *u;

	(void)state;
	u = start("\"headers\": {\"X-Static\": \"static-value\"}", NULL);
	assert_int_equal(upstream_wait_ready(u, WAIT_MS), 0);
	l = upstream_lists_get(u);
	assert_int_equal(json_array_size(l->tools), 1);
	assert_string_equal(l->protocol_version, "2025-11-25");
	upstream_lists_release(l);
	call(u, &w, "echo", 0);
	assert_null(w.error);
	assert_string_equal(text_of(w.result), "via json");
	w_clear(&w);
	pthread_mutex_lock(&mtx);
	assert_int_equal(bad_accept, 0);
	assert_string_equal(last_version, "2025-11-25");
	assert_string_equal(last_session, "sess-1");
	assert_string_equal(last_static, "static-value");
	assert_string_equal(last_auth, "");
	assert_int_equal(saw_client_auth, 0);
	pthread_mutex_unlock(&mtx);
	upstream_free(u);
}

static void
t_sse(void **state)
{
	struct waiter w;
	struct upstream *u;

	(void)state;
	u = start(NULL, NULL);
	assert_int_equal(upstream_wait_ready(u, WAIT_MS), 0);
	call(u, &w, "sse", 0);
	assert_null(w.error);
	assert_string_equal(text_of(w.result), "via sse");
	/* The progress notification reached this call, with its own token. */
	assert_int_equal(w.notes, 1);
	assert_string_equal(json_string_value(w.token), "mine");
	w_clear(&w);
	upstream_free(u);
}

/* The ready hook (called on the upstream's thread): how many handshakes of
 * the shared session completed. */
static int readies;

static void
on_ready(void *arg, struct upstream *u, const char *subject, json_t *caps)
{
	(void)arg;
	(void)u;
	(void)caps;
	pthread_mutex_lock(&mtx);
	if (subject == NULL)	/* the shared session */
		readies++;
	pthread_mutex_unlock(&mtx);
}

static int
readies_now(void)
{
	int n;

	pthread_mutex_lock(&mtx);
	n = readies;
	pthread_mutex_unlock(&mtx);
	return (n);
}

static void
t_session_expired(void **state)
{
	struct upstream_hooks hooks = {NULL, NULL, NULL, on_ready};
	struct waiter w;
	struct upstream *u;
	int64_t end;

	(void)state;
	readies = 0;
	u = start_hooked(NULL, NULL, &hooks);
	assert_int_equal(upstream_wait_ready(u, WAIT_MS), 0);
	pthread_mutex_lock(&mtx);
	expire_next = 1;
	pthread_mutex_unlock(&mtx);
	call(u, &w, "echo", 0);
	assert_non_null(w.error);
	assert_int_equal(json_integer_value(json_object_get(w.error, "code")), UPSTREAM_ERR_UNAVAILABLE);
	w_clear(&w);
	/* A new session was made; calls work on it. */
	assert_int_equal(upstream_wait_ready(u, WAIT_MS), 0);
	call(u, &w, "echo", 0);
	assert_string_equal(text_of(w.result), "via json");
	w_clear(&w);
	pthread_mutex_lock(&mtx);
	assert_int_equal(initializes, 2);
	assert_string_equal(last_session, "sess-2");
	pthread_mutex_unlock(&mtx);
	/* Each session made was announced (it holds no subscription). */
	end = clock_now_ms() + WAIT_MS;
	while (readies_now() < 2 && clock_now_ms() < end) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(readies_now(), 2);
	assert_int_equal(upstream_running(u, NULL), 1);
	upstream_free(u);
}

static void
t_oauth(void **state)
{
	char extra[512];
	struct waiter w;
	struct upstream *u;
	int i;

	(void)state;
	snprintf(extra, sizeof(extra), "\"oauth\": {\"token_endpoint\": \"http://127.0.0.1:%u/token\", "
	    "\"client_id\": \"gw\", \"client_secret\": \"s3:cr&t\", "
	    "\"resource\": \"https://upstream.example/mcp\"}", (unsigned)port);
	u = start(extra, NULL);
	assert_int_equal(upstream_wait_ready(u, WAIT_MS), 0);
	for (i = 0; i < 3; i++) {
		call(u, &w, "echo", 0);
		assert_string_equal(text_of(w.result), "via json");
		w_clear(&w);
	}
	pthread_mutex_lock(&mtx);
	assert_string_equal(last_auth, "Bearer tok-1");
	assert_int_equal(token_requests, 1);
	/* The upstream revokes it: 401, then a new token is fetched. */
	snprintf(current_token, sizeof(current_token), "tok-revoked");
	pthread_mutex_unlock(&mtx);
	call(u, &w, "echo", 0);
	assert_non_null(w.error);
	w_clear(&w);
	pthread_mutex_lock(&mtx);
	current_token[0] = '\0';
	pthread_mutex_unlock(&mtx);
	call(u, &w, "echo", 0);
	assert_string_equal(text_of(w.result), "via json");
	w_clear(&w);
	pthread_mutex_lock(&mtx);
	assert_int_equal(token_requests, 2);
	assert_string_equal(last_auth, "Bearer tok-2");
	pthread_mutex_unlock(&mtx);
	upstream_free(u);
}

static void
t_unreachable(void **state)
{
	struct waiter w;
	struct upstream *u;

	(void)state;
	/* Nothing listens there: the POSTs fail, calls get errors, never hang. */
	u = start(NULL, "/nope");
	assert_int_equal(upstream_wait_ready(u, 300), -1);
	call(u, &w, "echo", 500);
	assert_int_equal(json_integer_value(json_object_get(w.error, "code")), UPSTREAM_ERR_UNAVAILABLE);
	w_clear(&w);
	upstream_free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(t_json_and_headers, reset),
		cmocka_unit_test_setup(t_sse, reset),
		cmocka_unit_test_setup(t_session_expired, reset),
		cmocka_unit_test_setup(t_oauth, reset),
		cmocka_unit_test_setup(t_unreachable, reset),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
