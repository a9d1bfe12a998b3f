/* Tests for src/gateway/upstream_token.c against a token endpoint stub on
 * src/http/server.c. */
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

#include "gateway/upstream_token.h"
#include "http/basic.h"
#include "http/form.h"
#include "http/server.h"

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static int issued;
static int ttl;			/* expires_in; < 0: omitted */
static const char *mode;	/* "ok", "mac", "notoken", "500", "badtoken" */
static char last_scope[128], last_resource[128];

static void
h_token(void *arg, const struct http_req *req, struct http_resp *resp)
{
	const char *auth = http_req_header(req, "Authorization");
	char *user = NULL, *pass = NULL, tok[64];
	const char *v;
	struct form f;
	json_t *j;

	(void)arg;
	if (auth == NULL || basic_parse(auth, &user, &pass) != 0 || strcmp(user, "gate way") != 0 ||
	    strcmp(pass, "p@ss:w%rd+") != 0 || form_parse(&f, req->body, req->body_len) != 0) {
		free(user);
		free(pass);
		http_resp_json(resp, 401, json_pack("{s:s}", "error", "invalid_client"));
		return;
	}
	free(user);
	free(pass);
	pthread_mutex_lock(&mtx);
	v = form_get(&f, "scope");
	snprintf(last_scope, sizeof(last_scope), "%s", v ? v : "");
	v = form_get(&f, "resource");
	snprintf(last_resource, sizeof(last_resource), "%s", v ? v : "");
	if (strcmp(form_get(&f, "grant_type"), "client_credentials") != 0)
		mode = "500";
	form_clear(&f);
	issued++;
	snprintf(tok, sizeof(tok), "tok-%d", issued);
	if (strcmp(mode, "500") == 0) {
		pthread_mutex_unlock(&mtx);
		http_resp_json(resp, 500, json_object());
		return;
	}
	j = json_pack("{s:s, s:s}", "access_token", strcmp(mode, "badtoken") == 0 ? "a b" : tok,
	    "token_type", strcmp(mode, "mac") == 0 ? "mac" : "bearer");
	if (strcmp(mode, "notoken") == 0)
		json_object_del(j, "access_token");
	if (ttl >= 0)
		json_object_set_new(j, "expires_in", json_integer(ttl));
	pthread_mutex_unlock(&mtx);
	http_resp_json(resp, 200, j);
}

static const struct http_route routes[] = {{"/token", 0, h_token, NULL}};
static struct http_server *srv;
static char endpoint[128];
static struct upstream_oauth oauth;

static int
setup(void **state)
{
	struct http_config c = {0};

	(void)state;
	c.bind_addr = "127.0.0.1";
	c.threads = 2;
	if ((srv = http_server_new(&c, routes, 1)) == NULL)
		return (-1);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u/token",
	    (unsigned)http_server_port(srv));
	oauth.token_endpoint = endpoint;
	oauth.client_id = "gate way";
	oauth.client_secret = "p@ss:w%rd+";
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	http_server_free(srv);
	return (0);
}

static int
reset(void **state)
{
	(void)state;
	pthread_mutex_lock(&mtx);
	issued = 0;
	ttl = 3600;
	mode = "ok";
	pthread_mutex_unlock(&mtx);
	oauth.scope = oauth.resource = NULL;
	return (0);
}

static void
t_cached(void **state)
{
	char tok[UPSTREAM_TOKEN_MAX + 1];
	struct upstream_token *t;

	(void)state;
	oauth.scope = "read write";
	oauth.resource = "https://up.example/mcp";
	t = upstream_token_new(&oauth, "test");
	assert_int_equal(upstream_token_get(t, tok, sizeof(tok)), 0);
	assert_string_equal(tok, "tok-1");
	assert_int_equal(upstream_token_get(t, tok, sizeof(tok)), 0);
	assert_string_equal(tok, "tok-1");
	assert_int_equal(upstream_token_requests(t), 1);
	pthread_mutex_lock(&mtx);
	assert_string_equal(last_scope, "read write");
	assert_string_equal(last_resource, "https://up.example/mcp");
	pthread_mutex_unlock(&mtx);
	/* After a 401 upstream, a new one. */
	upstream_token_invalidate(t);
	assert_int_equal(upstream_token_get(t, tok, sizeof(tok)), 0);
	assert_string_equal(tok, "tok-2");
	upstream_token_free(t);
}

/* A token is replaced before it expires: with expires_in 1 the refresh
 * point is 0.8 s after issue. */
static void
t_refreshed_before_expiry(void **state)
{
	struct timespec ts = {0, 850 * 1000 * 1000};
	char tok[UPSTREAM_TOKEN_MAX + 1];
	struct upstream_token *t;

	(void)state;
	pthread_mutex_lock(&mtx);
	ttl = 1;
	pthread_mutex_unlock(&mtx);
	t = upstream_token_new(&oauth, "test");
	assert_int_equal(upstream_token_get(t, tok, sizeof(tok)), 0);
	assert_string_equal(tok, "tok-1");
	nanosleep(&ts, NULL);
	assert_int_equal(upstream_token_get(t, tok, sizeof(tok)), 0);
	assert_string_equal(tok, "tok-2");
	assert_int_equal(upstream_token_requests(t), 2);
	upstream_token_free(t);
}

static void
t_bad_answers(void **state)
{
	static const char *modes[] = {"mac", "notoken", "500", "badtoken"};
	char tok[UPSTREAM_TOKEN_MAX + 1];
	struct upstream_token *t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		pthread_mutex_lock(&mtx);
		mode = modes[i];
		pthread_mutex_unlock(&mtx);
		t = upstream_token_new(&oauth, "test");
		memset(tok, 'x', sizeof(tok));
		assert_int_equal(upstream_token_get(t, tok, sizeof(tok)), -1);
		assert_int_equal(tok[0], '\0');	/* wiped */
		/* No second request within the retry pause. */
		assert_int_equal(upstream_token_get(t, tok, sizeof(tok)), -1);
		assert_int_equal(upstream_token_requests(t), 1);
		upstream_token_free(t);
	}
}

static void
t_wrong_secret_and_unreachable(void **state)
{
	char tok[UPSTREAM_TOKEN_MAX + 1];
	struct upstream_oauth o = oauth;
	struct upstream_token *t;

	(void)state;
	o.client_secret = "wrong";
	t = upstream_token_new(&o, "test");
	assert_int_equal(upstream_token_get(t, tok, sizeof(tok)), -1);
	upstream_token_free(t);
	o = oauth;
	o.token_endpoint = "http://127.0.0.1:1/token";
	t = upstream_token_new(&o, "test");
	assert_int_equal(upstream_token_get(t, tok, sizeof(tok)), -1);
	upstream_token_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(t_cached, reset),
		cmocka_unit_test_setup(t_refreshed_before_expiry, reset),
		cmocka_unit_test_setup(t_bad_answers, reset),
		cmocka_unit_test_setup(t_wrong_secret_and_unreachable, reset),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
