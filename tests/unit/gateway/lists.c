/* Tests for src/gateway/lists.c, over a registry of two echo_mcp upstreams
 * (tests/support/echo_mcp.c): pages and cursors, filtering per token, the
 * cacheable-result rules and the resource-not-found translation.  The file
 * is included to reach the cursor key. */
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
#include "gateway/lists.c"

#define WAIT_MS 10000

static struct registry *
make(const char *servers)
{
	struct upstream_configs cfgs;
	struct registry *r;
	const char *why;
	json_t *j;

	j = json_loads(servers, 0, NULL);
	assert_non_null(j);
	if (upstream_config_parse(j, &cfgs, &why) != 0)
		fail_msg("config: %s", why);
	json_decref(j);
	assert_non_null(r = registry_new(&cfgs, NULL));
	assert_int_equal(registry_start(r), 0);
	assert_int_equal(registry_wait_ready(r, WAIT_MS), 0);
	return (r);
}

/* The snapshot once every list of both servers is in. */
static struct registry_snapshot *
full(struct registry *r, size_t ntools)
{
	struct registry_snapshot *s;
	int64_t end = clock_now_ms() + WAIT_MS;
	struct timespec ts = {0, 10 * 1000 * 1000};

	for (;;) {
		s = registry_snapshot(r);
		if (registry_list_size(s, REGISTRY_TOOLS) >= ntools &&
		    registry_list_size(s, REGISTRY_PROMPTS) == 2 &&
		    registry_list_size(s, REGISTRY_RESOURCES) == 2 &&
		    registry_list_size(s, REGISTRY_TEMPLATES) == 2)
			return (s);
		registry_snapshot_release(s);
		assert_true(clock_now_ms() < end);
		nanosleep(&ts, NULL);
	}
}

static struct lists *
mk_lists(size_t page, const struct policy_config *cfg)
{
	struct lists_params p;
	struct lists *l;

	memset(&p, 0, sizeof(p));
	p.page_size = page;
	p.list_ttl_ms = 5000;
	p.read_ttl_ms = 0;
	p.policy = cfg;
	assert_non_null(l = lists_new(&p));
	return (l);
}

static const char *
member_of(enum registry_list which)
{
	size_t i;

	for (i = 0; i < NLISTS; i++)
		if (LISTS[i].which == which)
			return (LISTS[i].member);
	fail_msg("no list %d", (int)which);
	return (NULL);
}

/* Page through ${which} for ${scope}; the names (or URIs) seen, joined
 * with spaces, into ${out}; the number of pages is returned. */
static size_t
walk(struct lists *l, struct registry_snapshot *s, enum registry_list which, const char *scope,
    int modern, char *out, size_t cap)
{
	const char *key = which == REGISTRY_RESOURCES ? "uri"
	    : which == REGISTRY_TEMPLATES ? "uriTemplate" : "name";
	json_t *params = json_object(), *res, *v;
	const char *why, *next;
	size_t pages = 0, i, o = 0;

	out[0] = '\0';
	for (;;) {
		assert_int_equal(lists_answer(l, s, which, scope, params, modern, &res, &why), 0);
		pages++;
		assert_true(json_array_size(json_object_get(res, member_of(which))) <= l->page_size);
		json_array_foreach(json_object_get(res, member_of(which)), i, v) {
			o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? " " : "",
			    json_string_value(json_object_get(v, key)));
			assert_true(o < cap);
		}
		if (modern) {
			assert_true(json_integer_value(json_object_get(res, "ttlMs")) == 5000);
			assert_non_null(json_string_value(json_object_get(res, "cacheScope")));
		} else {
			assert_null(json_object_get(res, "ttlMs"));
			assert_null(json_object_get(res, "cacheScope"));
		}
		if ((next = json_string_value(json_object_get(res, "nextCursor"))) == NULL) {
			json_decref(res);
			break;
		}
		/* A page with a cursor is full. */
		assert_int_equal(json_array_size(json_object_get(res, member_of(which))), l->page_size);
		json_object_set_new(params, "cursor", json_string(next));
		json_decref(res);
		assert_true(pages < 100);
	}
	json_decref(params);
	return (pages);
}

#define SERVERS                                                                                    \
	"{\"zz\": {\"command\": \"" MCPGATE_ECHO_MCP "\", \"scope\": \"mcp:zz\"},"                   \
	" \"aa\": {\"command\": \"" MCPGATE_ECHO_MCP "\"}}"

static void
test_pages(void **state)
{
	static const size_t sizes[] = {1, 2, 3, 7, 17, 18, 19, 100};
	const char *rw = "mcp:read mcp:write mcp:zz";
	struct registry_snapshot *s;
	struct registry *r;
	struct lists *l;
	char all[4096], got[4096];
	size_t i, pages;

	(void)state;
	r = make(SERVERS);
	s = full(r, 18);
	/* One page holds everything: the reference. */
	l = mk_lists(1000, NULL);
	assert_int_equal(walk(l, s, REGISTRY_TOOLS, rw, 1, all, sizeof(all)), 1);
	assert_true(strncmp(all, "aa__cancelled aa__change ", 25) == 0);
	assert_non_null(strstr(all, "zz__slow"));
	lists_free(l);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		l = mk_lists(sizes[i], NULL);
		pages = walk(l, s, REGISTRY_TOOLS, rw, i % 2, got, sizeof(got));
		assert_string_equal(got, all);
		assert_int_equal(pages, sizes[i] >= 18 ? 1 : (18 + sizes[i] - 1) / sizes[i]);
		lists_free(l);
	}
	/* Resources in configuration order, across both servers. */
	l = mk_lists(1, NULL);
	assert_int_equal(walk(l, s, REGISTRY_RESOURCES, rw, 1, got, sizeof(got)), 2);
	assert_string_equal(got, "mcpgate://zz/echo://hello mcpgate://aa/echo://hello");
	assert_int_equal(walk(l, s, REGISTRY_TEMPLATES, rw, 1, got, sizeof(got)), 2);
	assert_string_equal(got, "mcpgate://zz/echo://item/{id} mcpgate://aa/echo://item/{id}");
	assert_int_equal(walk(l, s, REGISTRY_PROMPTS, rw, 0, got, sizeof(got)), 2);
	assert_string_equal(got, "aa__greet zz__greet");
	lists_free(l);
	registry_snapshot_release(s);
	registry_free(r);
}

static void
test_filtered(void **state)
{
	struct registry_snapshot *s;
	struct policy_config cfg;
	struct registry *r;
	struct lists *l;
	const char *why;
	char got[4096];
	json_t *o, *res;

	(void)state;
	r = make(SERVERS);
	s = full(r, 18);
	policy_config_init(&cfg);
	l = mk_lists(1, &cfg);
	/* mcp:read: the read-only tool of the server without its own scope,
	 * the resources, templates and prompts of that server; page size 1
	 * skips what is hidden without empty pages. */
	walk(l, s, REGISTRY_TOOLS, "mcp:read", 1, got, sizeof(got));
	assert_string_equal(got, "aa__echo");
	walk(l, s, REGISTRY_RESOURCES, "mcp:read", 1, got, sizeof(got));
	assert_string_equal(got, "mcpgate://aa/echo://hello");
	walk(l, s, REGISTRY_TEMPLATES, "mcp:read", 1, got, sizeof(got));
	assert_string_equal(got, "mcpgate://aa/echo://item/{id}");
	walk(l, s, REGISTRY_PROMPTS, "mcp:read mcp:zz", 1, got, sizeof(got));
	assert_string_equal(got, "aa__greet zz__greet");
	/* Without mcp:read: nothing at all, privately. */
	walk(l, s, REGISTRY_PROMPTS, "mcp:write mcp:zz", 1, got, sizeof(got));
	assert_string_equal(got, "");
	walk(l, s, REGISTRY_RESOURCES, NULL, 1, got, sizeof(got));
	assert_string_equal(got, "");
	assert_int_equal(lists_answer(l, s, REGISTRY_RESOURCES, "", NULL, 1, &res, &why), 0);
	assert_string_equal(json_string_value(json_object_get(res, "cacheScope")), "private");
	assert_int_equal(json_array_size(json_object_get(res, "resources")), 0);
	json_decref(res);
	lists_free(l);

	/* Rules, and filtering switched off for resources: the same list for
	 * everyone, "public". */
	o = json_loads("{\"rules\":[{\"prompt\":\"zz__*\",\"scopes\":[]},"
	               "{\"resource\":\"mcpgate://aa/*\",\"scopes\":[\"mcp:aa\"]}],"
	               "\"filter_resources_list\":false}",
	    0, NULL);
	assert_int_equal(policy_config_parse(o, &cfg, &why), 0);
	json_decref(o);
	l = mk_lists(10, &cfg);
	walk(l, s, REGISTRY_PROMPTS, "", 1, got, sizeof(got));
	assert_string_equal(got, "zz__greet");
	walk(l, s, REGISTRY_RESOURCES, "", 1, got, sizeof(got));
	assert_string_equal(got, "mcpgate://zz/echo://hello mcpgate://aa/echo://hello");
	assert_int_equal(lists_answer(l, s, REGISTRY_RESOURCES, "", NULL, 1, &res, &why), 0);
	assert_string_equal(json_string_value(json_object_get(res, "cacheScope")), "public");
	json_decref(res);
	assert_int_equal(lists_answer(l, s, REGISTRY_PROMPTS, "", NULL, 1, &res, &why), 0);
	assert_string_equal(json_string_value(json_object_get(res, "cacheScope")), "private");
	json_decref(res);
	lists_free(l);
	policy_config_clear(&cfg);
	registry_snapshot_release(s);
	registry_free(r);
}

static int
answer_with(struct lists *l, struct registry_snapshot *s, enum registry_list which, json_t *cursor)
{
	json_t *params = json_pack("{s:o}", "cursor", cursor), *res = NULL;
	const char *why = NULL;
	int rc;

	rc = lists_answer(l, s, which, "mcp:read mcp:write", params, 1, &res, &why);
	if (rc == 1)
		assert_string_equal(why, "invalid cursor");
	json_decref(res);
	json_decref(params);
	return (rc);
}

static void
done_cb(void *arg, json_t *result, json_t *error)
{
	(void)result;
	(void)error;
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_ACQ_REL);
}

static void
test_bad_cursors(void **state)
{
	struct registry_snapshot *s, *s2;
	struct registry *r;
	struct lists *l, *l2;
	char c[CURSOR_TEXT_LEN + 1], big[CURSOR_TEXT_MAX + 2];
	const char *why;
	json_t *res, *p;
	uint64_t gen;
	int done = 0;

	(void)state;
	r = make(SERVERS);
	s = full(r, 18);
	gen = registry_snapshot_generation(s);
	l = mk_lists(2, NULL);
	l2 = mk_lists(2, NULL);
	/* A good one, for reference. */
	cursor_encode(&l->key, REGISTRY_TOOLS, gen, 4, c);
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string(c)), 0);
	/* null is no cursor. */
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_null()), 0);
	/* Not a string, made up, too long. */
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_integer(2)), 1);
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_object()), 1);
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string("")), 1);
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string("2")), 1);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string(big)), 1);
	/* Another list's, another gateway's. */
	assert_int_equal(answer_with(l, s, REGISTRY_PROMPTS, json_string(c)), 1);
	assert_int_equal(answer_with(l2, s, REGISTRY_TOOLS, json_string(c)), 1);
	/* Altered: one character. */
	c[10] = c[10] == 'A' ? 'B' : 'A';
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string(c)), 1);
	/* Authentic but past the end, or of another generation. */
	cursor_encode(&l->key, REGISTRY_TOOLS, gen, 18, c);
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string(c)), 1);
	cursor_encode(&l->key, REGISTRY_TOOLS, gen, 17, c);
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string(c)), 0);
	cursor_encode(&l->key, REGISTRY_TOOLS, gen + 1, 0, c);
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string(c)), 1);
	cursor_encode(&l->key, REGISTRY_TOOLS, gen - 1, 0, c);
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string(c)), 1);

	/* A cursor from before an upstream's list changed is stale. */
	assert_int_equal(lists_answer(l, s, REGISTRY_TOOLS, "mcp:read mcp:write mcp:zz", NULL, 1, &res,
	                     &why), 0);
	snprintf(c, sizeof(c), "%s", json_string_value(json_object_get(res, "nextCursor")));
	json_decref(res);
	p = json_pack("{s:s}", "name", "change");
	assert_int_equal(upstream_request(registry_find(r, "aa"), "tools/call", p, 0, done_cb, &done,
	    NULL), 0);
	json_decref(p);
	s2 = full(r, 19);
	assert_true(registry_snapshot_generation(s2) > gen);
	assert_int_equal(answer_with(l, s, REGISTRY_TOOLS, json_string(c)), 0);
	assert_int_equal(answer_with(l, s2, REGISTRY_TOOLS, json_string(c)), 1);
	lists_free(l);
	lists_free(l2);
	registry_snapshot_release(s);
	registry_snapshot_release(s2);
	registry_free(r);
	assert_int_equal(done, 1);
}

static void
test_cacheable(void **state)
{
	struct lists *l;
	json_t *r, *e, *e2;

	(void)state;
	l = mk_lists(0, NULL);
	assert_int_equal(l->page_size, LISTS_PAGE_SIZE_DEFAULT);
	/* resources/read: the configured ttl when the upstream gave none;
	 * always private. */
	r = json_pack("{s:[]}", "contents");
	assert_int_equal(lists_cacheable(l, "resources/read", r), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "ttlMs")), 0);
	assert_string_equal(json_string_value(json_object_get(r, "cacheScope")), "private");
	json_decref(r);
	r = json_pack("{s:[], s:i, s:s}", "contents", "ttlMs", 60000, "cacheScope", "public");
	assert_int_equal(lists_cacheable(l, "resources/read", r), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "ttlMs")), 60000);
	assert_string_equal(json_string_value(json_object_get(r, "cacheScope")), "private");
	json_decref(r);
	r = json_pack("{s:[], s:i}", "contents", "ttlMs", -5);
	assert_int_equal(lists_cacheable(l, "resources/read", r), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "ttlMs")), 0);
	json_decref(r);
	r = json_pack("{s:[], s:s}", "contents", "ttlMs", "soon");
	assert_int_equal(lists_cacheable(l, "resources/read", r), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "ttlMs")), 0);
	json_decref(r);
	/* Lists and discover get the list ttl; others nothing. */
	r = json_object();
	assert_int_equal(lists_cacheable(l, "server/discover", r), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "ttlMs")), 5000);
	json_decref(r);
	r = json_object();
	assert_int_equal(lists_cacheable(l, "tools/call", r), 0);
	assert_int_equal(json_object_size(r), 0);
	json_decref(r);
	lists_free(l);

	/* -32002 from an older upstream is -32602 for a modern client. */
	e = json_pack("{s:i, s:s, s:{s:s}}", "code", -32002, "message", "Resource not found", "data",
	    "uri", "x://y");
	e2 = lists_error_modern("resources/read", e);
	assert_int_equal(json_integer_value(json_object_get(e2, "code")), -32602);
	assert_string_equal(json_string_value(json_object_get(e2, "message")), "Resource not found");
	assert_string_equal(json_string_value(json_object_get(json_object_get(e2, "data"), "uri")),
	    "x://y");
	assert_int_equal(json_integer_value(json_object_get(e, "code")), -32002); /* not changed */
	json_decref(e2);
	e2 = lists_error_modern("tools/call", e);
	assert_ptr_equal(e2, e);
	json_decref(e2);
	json_object_set_new(e, "code", json_integer(-32603));
	e2 = lists_error_modern("resources/read", e);
	assert_ptr_equal(e2, e);
	json_decref(e2);
	json_decref(e);
}

static void
test_methods(void **state)
{
	enum registry_list w;

	(void)state;
	assert_true(lists_method("tools/list", &w));
	assert_int_equal(w, REGISTRY_TOOLS);
	assert_true(lists_method("resources/templates/list", &w));
	assert_int_equal(w, REGISTRY_TEMPLATES);
	assert_true(lists_method("prompts/list", &w));
	assert_int_equal(w, REGISTRY_PROMPTS);
	assert_true(lists_method("resources/list", &w));
	assert_int_equal(w, REGISTRY_RESOURCES);
	assert_false(lists_method("tools/call", &w));
	assert_false(lists_method("Tools/list", &w));
	assert_false(lists_method(NULL, &w));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_filtered),
		cmocka_unit_test(test_bad_cursors),
		cmocka_unit_test(test_cacheable),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
