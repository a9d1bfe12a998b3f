/* Unit tests for src/gateway/endpoint.c: the allowed origins, and the
 * session table (binding to subject and client, idle expiry, the maximum).
 * The file is included to reach its static helpers; nothing else in the
 * test links the library's copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/endpoint.c"

static struct endpoint *
new_ep(const char *resource, size_t max, int64_t idle)
{
	static const char *const origins[] = {"https://app.example"};
	struct endpoint_params p;
	struct endpoint *ep;

	memset(&p, 0, sizeof(p));
	p.resource = resource;
	p.origins = origins;
	p.norigins = 1;
	p.sessions_max = max;
	p.session_idle_s = idle;
	ep = endpoint_new(&p);
	assert_non_null(ep);
	return (ep);
}

static void
test_origins(void **state)
{
	struct endpoint *ep;

	(void)state;
	ep = new_ep("http://127.0.0.1:8080/mcp", 10, 60);
	assert_true(origin_allowed(ep, NULL));
	assert_true(origin_allowed(ep, "http://127.0.0.1:8080"));
	assert_true(origin_allowed(ep, "http://localhost:8080"));
	assert_true(origin_allowed(ep, "http://[::1]:8080"));
	assert_true(origin_allowed(ep, "https://app.example"));
	assert_false(origin_allowed(ep, "http://localhost:8081"));
	assert_false(origin_allowed(ep, "http://evil.example"));
	assert_false(origin_allowed(ep, "null"));
	assert_false(origin_allowed(ep, "https://app.example/"));
	endpoint_free(ep);

	/* A public resource has no loopback aliases. */
	ep = new_ep("https://mcp.example.com/mcp", 10, 60);
	assert_true(origin_allowed(ep, "https://mcp.example.com"));
	assert_false(origin_allowed(ep, "http://localhost"));
	assert_false(origin_allowed(ep, "http://mcp.example.com"));
	endpoint_free(ep);
}

static struct rs_principal
principal(const char *sub, const char *client)
{
	struct rs_principal p;

	memset(&p, 0, sizeof(p));
	p.sub = sub;
	p.client_id = client;
	p.scope = "";
	return (p);
}

static void
test_sessions(void **state)
{
	struct endpoint *ep;
	struct rs_principal a = principal("alice", "c1"), a2 = principal("alice", "c2"),
			    b = principal("bob", "c1");
	struct session *s, *g, *alice;
	char id[SECRET_TOKEN_LEN + 1];

	(void)state;
	ep = new_ep("http://127.0.0.1:8080/mcp", 2, 60);
	s = alice = session_new(ep, &a, "2025-11-25");
	assert_non_null(s);
	assert_int_equal(strlen(s->id), SECRET_TOKEN_LEN);
	assert_string_equal(s->version, "2025-11-25");
	snprintf(id, sizeof(id), "%s", s->id);
	session_release(ep, s);

	/* Bound to subject and client. */
	g = session_get(ep, id, &a);
	assert_ptr_equal(g, s);
	session_release(ep, g);
	assert_null(session_get(ep, id, &b));
	assert_null(session_get(ep, id, &a2));
	assert_null(session_get(ep, "short", &a));
	id[0] = id[0] == 'A' ? 'B' : 'A';
	assert_null(session_get(ep, id, &a));
	id[0] = s->id[0];

	/* At most 2; idle ones are swept to make room. */
	s = session_new(ep, &b, "2025-06-18");
	assert_non_null(s);
	session_release(ep, s);
	assert_null(session_new(ep, &b, "2025-06-18"));
	pthread_mutex_lock(&ep->mtx);
	alice->last_used -= 3600;
	pthread_mutex_unlock(&ep->mtx);
	g = session_get(ep, id, &a); /* expired: gone */
	assert_null(g);
	s = session_new(ep, &b, "2025-06-18");
	assert_non_null(s);
	session_release(ep, s);
	assert_int_equal(ep->nsessions, 2);
	endpoint_free(ep);
}

/* Subscriptions held by sessions are released when the sessions go:
 * housekeeping of idle ones, and endpoint_free().  The upstream is a
 * placeholder: with noupstream set, no (un)subscribe is sent. */
static void
test_session_subs(void **state)
{
	static int up;
	struct endpoint *ep;
	struct rs_principal a = principal("alice", "c1"), b = principal("bob", "c1");
	struct session *s1, *s2;
	struct rs_principal a_read = a;
	char id[SECRET_TOKEN_LEN + 1];
	size_t used;

	(void)state;
	ep = new_ep("http://127.0.0.1:8080/mcp", 10, 60);
	ep->noupstream = 1;
	a_read.scope = "mcp:read";
	a_read.exp = 12345;
	s1 = session_new(ep, &a, "2025-11-25");
	s2 = session_new(ep, &b, "2025-11-25");
	assert_non_null(s1);
	assert_non_null(s2);
	snprintf(id, sizeof(id), "%s", s1->id);
	assert_string_equal(s1->scope, "");
	pthread_mutex_lock(&ep->mtx);
	assert_int_equal(subs_set_add(s1->subs, "mcpgate://x/u", &up, NULL, "u"), 0);
	assert_int_equal(subs_ref(ep->subs, &up, NULL, "u", s1->subs), 1);
	assert_int_equal(subs_set_add(s2->subs, "mcpgate://x/u", &up, NULL, "u"), 0);
	assert_int_equal(subs_ref(ep->subs, &up, NULL, "u", s2->subs), 0);
	pthread_mutex_unlock(&ep->mtx);
	session_release(ep, s1);
	session_release(ep, s2);

	/* A lookup records the token's scopes and expiry. */
	s1 = session_get(ep, id, &a_read);
	assert_non_null(s1);
	assert_string_equal(s1->scope, "mcp:read");
	assert_int_equal(s1->exp, 12345);
	session_release(ep, s1);

	/* Not idle yet: nothing happens. */
	endpoint_housekeeping(ep);
	assert_int_equal(ep->nsessions, 2);
	assert_int_equal(subs_refs(ep->subs, &up, NULL, "u"), 2);
	/* The records count against the gateway's budget of bytes. */
	used = ep->subs_budget.used;
	assert_true(used > 0);

	pthread_mutex_lock(&ep->mtx);
	s1->last_used -= 3600;
	pthread_mutex_unlock(&ep->mtx);
	endpoint_housekeeping(ep);
	assert_int_equal(ep->nsessions, 1);
	assert_int_equal(subs_refs(ep->subs, &up, NULL, "u"), 1);
	assert_null(session_get(ep, id, &a));
	assert_int_equal(ep->subs_budget.used, used / 2);

	/* Spent: a session's next record is refused. */
	ep->subs_budget.max = used;
	pthread_mutex_lock(&ep->mtx);
	errno = 0;
	assert_int_equal(subs_set_add(s2->subs, "mcpgate://x/v", &up, NULL, "v"), 0);
	assert_int_equal(subs_set_add(s2->subs, "mcpgate://x/longer", &up, NULL, "longer"), -1);
	assert_int_equal(errno, EDQUOT);
	pthread_mutex_unlock(&ep->mtx);

	/* Shutdown takes the sets out; the count drops to nothing. */
	endpoint_shutdown(ep);
	assert_int_equal(subs_keys(ep->subs), 0);
	assert_int_equal(ep->subs_budget.used, 0);
	endpoint_free(ep);
}

static void
test_helpers(void **state)
{
	(void)state;
	assert_true(accepts("application/json, text/event-stream", "text/event-stream"));
	assert_true(accepts("*/*", "application/json"));
	assert_false(accepts(NULL, "application/json"));
	assert_false(accepts("application/json", "text/event-stream"));
	assert_true(legacy_version("2025-06-18"));
	assert_true(legacy_version("2025-11-25"));
	assert_false(legacy_version("2026-07-28"));
	assert_false(legacy_version("2025-03-26"));
}

static void
count_event(void *arg, uint64_t id, const char *text, size_t len)
{
	(void)id;
	(void)text;
	(void)len;
	(*(int *)arg)++;
}

/* The events a session keeps for Last-Event-ID were decided under the
 * token seen when they were sent: a token with other scopes drops them (a
 * resumption then reports the gap), one with the same scopes keeps them. */
static void
test_replay_scope(void **state)
{
	struct endpoint *ep;
	struct rs_principal a = principal("alice", "c1"), a_read = a, a_tools = a;
	struct session *s;
	char id[SECRET_TOKEN_LEN + 1];
	int n = 0;

	(void)state;
	ep = new_ep("http://127.0.0.1:8080/mcp", 10, 60);
	a_read.scope = "mcp:read";
	a_tools.scope = "mcp:tools";
	s = session_new(ep, &a_read, "2025-11-25");
	assert_non_null(s);
	snprintf(id, sizeof(id), "%s", s->id);
	pthread_mutex_lock(&ep->mtx);
	s->replay = replay_new(0, 0);
	assert_non_null(s->replay);
	session_send(s, "{\"a\":1}", 7);
	session_send(s, "{\"a\":2}", 7);
	pthread_mutex_unlock(&ep->mtx);
	session_release(ep, s);

	/* The same scopes (a refreshed token): kept. */
	s = session_get(ep, id, &a_read);
	assert_non_null(s);
	assert_int_equal(replay_since(s->replay, 0, count_event, &n), 0);
	assert_int_equal(n, 2);
	session_release(ep, s);

	/* Other scopes: dropped, and the ids go on. */
	s = session_get(ep, id, &a_tools);
	assert_non_null(s);
	n = 0;
	assert_int_equal(replay_since(s->replay, 0, count_event, &n), -1);
	assert_int_equal(n, 0);
	pthread_mutex_lock(&ep->mtx);
	session_send(s, "{\"a\":3}", 7);
	pthread_mutex_unlock(&ep->mtx);
	assert_int_equal(replay_last(s->replay), 3);
	assert_int_equal(replay_since(s->replay, 2, count_event, &n), 0);
	assert_int_equal(n, 1);
	session_release(ep, s);
	endpoint_free(ep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origins),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_session_subs),
		cmocka_unit_test(test_replay_scope),
		cmocka_unit_test(test_helpers),
	};

	return (cmocka_run_group_tests_name("gateway/endpoint", tests, NULL, NULL));
}
