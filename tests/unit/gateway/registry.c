/* Tests for src/gateway/registry.c, with tests/support/echo_mcp upstreams. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "gateway/registry.h"

#define WAIT_MS 10000
#define ECHO "{\"command\": \"" MCPGATE_ECHO_MCP "\"%s}"

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
	r = registry_new(&cfgs, NULL);
	assert_non_null(r);
	assert_int_equal(cfgs.n, 0);	/* taken over */
	assert_int_equal(registry_start(r), 0);
	assert_int_equal(registry_wait_ready(r, WAIT_MS), 0);
	return (r);
}

static int
in_array(json_t *a, const char *key, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (strcmp(json_string_value(json_object_get(v, key)), name) == 0)
			return (1);
	return (0);
}

/* The snapshot once it holds ${n} tools (lists arrive asynchronously). */
static struct registry_snapshot *
snapshot_with(struct registry *r, size_t n)
{
	struct registry_snapshot *s;
	int64_t end = clock_now_ms() + WAIT_MS;

	for (;;) {
		s = registry_snapshot(r);
		if (json_array_size(registry_tools(s)) >= n || clock_now_ms() > end)
			return (s);
		registry_snapshot_release(s);
		{
			struct timespec ts = {0, 10 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
	}
}

static void
t_namespaced_union(void **state)
{
	const struct registry_entry *e;
	struct registry_snapshot *s;
	struct registry *r;
	struct upstream *u;
	char *orig;

	(void)state;
	r = make("{\"a\": {\"command\": \"" MCPGATE_ECHO_MCP "\"}, \"b_2\": {\"command\": \""
	    MCPGATE_ECHO_MCP "\"}}");
	assert_int_equal(registry_count(r), 2);
	s = snapshot_with(r, 18);
	assert_int_equal(json_array_size(registry_tools(s)), 18);
	assert_true(in_array(registry_tools(s), "name", "a__echo"));
	assert_true(in_array(registry_tools(s), "name", "b_2__echo"));
	assert_false(in_array(registry_tools(s), "name", "echo"));
	e = registry_tool(s, "b_2__slow");
	assert_non_null(e);
	assert_ptr_equal(e->u, registry_find(r, "b_2"));
	assert_string_equal(e->orig, "slow");
	/* The definition keeps its annotations, under the new name. */
	assert_string_equal(json_string_value(json_object_get(e->def, "name")), "b_2__slow");
	assert_non_null(json_object_get(e->def, "annotations"));
	assert_null(registry_tool(s, "echo"));
	assert_null(registry_tool(s, "c__echo"));
	assert_null(registry_tool(s, NULL));
	assert_non_null(registry_prompt(s, "a__greet"));
	/* Resources and templates get mcpgate://server/ URIs. */
	assert_true(in_array(registry_resources(s), "uri", "mcpgate://a/echo://hello"));
	assert_true(in_array(registry_templates(s), "uriTemplate", "mcpgate://b_2/echo://item/{id}"));
	assert_int_equal(registry_resource(s, "mcpgate://b_2/echo://item/7", &u, &orig), 0);
	assert_ptr_equal(u, registry_find(r, "b_2"));
	assert_string_equal(orig, "echo://item/7");
	free(orig);
	assert_int_equal(registry_resource(s, "mcpgate://zz/echo://hello", &u, &orig), -1);
	assert_int_equal(registry_resource(s, "echo://hello", &u, &orig), -1);
	registry_snapshot_release(s);
	registry_free(r);
}

/* The lists' order: tools and prompts sorted by client-facing name whatever
 * the configuration order, resources and templates in configuration order;
 * entry i of each list is element i of its array. */
static void
t_list_order(void **state)
{
	static const enum registry_list kinds[] = {REGISTRY_TOOLS, REGISTRY_PROMPTS,
	    REGISTRY_RESOURCES, REGISTRY_TEMPLATES};
	static const char *const keys[] = {"name", "name", "uri", "uriTemplate"};
	const struct registry_entry *e;
	struct registry_snapshot *s;
	struct registry *r;
	json_t *arrs[4];
	size_t i, k;
	int64_t end = clock_now_ms() + WAIT_MS;

	(void)state;
	r = make("{\"zz\": {\"command\": \"" MCPGATE_ECHO_MCP "\"}, \"aa\": {\"command\": \""
	    MCPGATE_ECHO_MCP "\"}}");
	for (;;) {
		s = snapshot_with(r, 18);
		if (registry_list_size(s, REGISTRY_RESOURCES) == 2 &&
		    registry_list_size(s, REGISTRY_TEMPLATES) == 2 &&
		    registry_list_size(s, REGISTRY_PROMPTS) == 2)
			break;
		registry_snapshot_release(s);
		assert_true(clock_now_ms() < end);
	}
	arrs[0] = registry_tools(s);
	arrs[1] = registry_prompts(s);
	arrs[2] = registry_resources(s);
	arrs[3] = registry_templates(s);
	for (k = 0; k < 4; k++) {
		assert_int_equal(registry_list_size(s, kinds[k]), json_array_size(arrs[k]));
		for (i = 0; i < registry_list_size(s, kinds[k]); i++) {
			e = registry_list_entry(s, kinds[k], i);
			assert_non_null(e);
			assert_ptr_equal(e->def, json_array_get(arrs[k], i));
			assert_string_equal(e->name, json_string_value(json_object_get(e->def, keys[k])));
			if (k < 2 && i > 0)
				assert_true(strcmp(registry_list_entry(s, kinds[k], i - 1)->name, e->name) < 0);
		}
		assert_null(registry_list_entry(s, kinds[k], i));
	}
	assert_string_equal(registry_list_entry(s, REGISTRY_TOOLS, 0)->name, "aa__cancelled");
	assert_string_equal(registry_list_entry(s, REGISTRY_PROMPTS, 0)->name, "aa__greet");
	assert_string_equal(registry_list_entry(s, REGISTRY_PROMPTS, 1)->name, "zz__greet");
	/* Configuration order: zz first. */
	e = registry_list_entry(s, REGISTRY_RESOURCES, 0);
	assert_string_equal(e->name, "mcpgate://zz/echo://hello");
	assert_string_equal(e->orig, "echo://hello");
	assert_ptr_equal(e->u, registry_find(r, "zz"));
	e = registry_list_entry(s, REGISTRY_TEMPLATES, 1);
	assert_string_equal(e->name, "mcpgate://aa/echo://item/{id}");
	assert_string_equal(e->orig, "echo://item/{id}");
	assert_ptr_equal(e->u, registry_find(r, "aa"));
	registry_snapshot_release(s);
	registry_free(r);
}

static void
t_plain_and_collisions(void **state)
{
	const struct registry_entry *e;
	struct registry_snapshot *s;
	struct registry *r;
	struct upstream *u;
	char *orig;
	int64_t end = clock_now_ms() + WAIT_MS;

	(void)state;
	r = make("{\"p1\": {\"command\": \"" MCPGATE_ECHO_MCP "\", \"namespace\": false},"
	    " \"p2\": {\"command\": \"" MCPGATE_ECHO_MCP "\", \"namespace\": false},"
	    " \"n\": {\"command\": \"" MCPGATE_ECHO_MCP "\"}}");
	/* Lists arrive in any order; once all three are in, configuration
	 * order decides: p2's names all collide with p1's and are left out. */
	for (;;) {
		s = snapshot_with(r, 18);
		e = registry_tool(s, "echo");
		if ((e != NULL && e->u == registry_find(r, "p1") && registry_tool(s, "n__echo")) ||
		    clock_now_ms() > end)
			break;
		registry_snapshot_release(s);
	}
	assert_int_equal(json_array_size(registry_tools(s)), 18);
	assert_non_null(e);
	assert_ptr_equal(e->u, registry_find(r, "p1"));
	assert_non_null(registry_tool(s, "n__echo"));
	/* A plain URI goes to the plain server that lists it. */
	assert_int_equal(registry_resource(s, "echo://hello", &u, &orig), 0);
	assert_ptr_equal(u, registry_find(r, "p1"));
	assert_string_equal(orig, "echo://hello");
	free(orig);
	/* An unlisted one (from a template) to the first plain server. */
	assert_int_equal(registry_resource(s, "echo://item/3", &u, &orig), 0);
	assert_ptr_equal(u, registry_find(r, "p1"));
	free(orig);
	orig = registry_uri_out(registry_find(r, "n"), "file:///x");
	assert_string_equal(orig, "mcpgate://n/file:///x");
	free(orig);
	orig = registry_uri_out(registry_find(r, "p1"), "file:///x");
	assert_string_equal(orig, "file:///x");
	free(orig);
	registry_snapshot_release(s);
	registry_free(r);
}

struct reader {
	struct registry *r;
	volatile int *stop;
	unsigned long reads;
	int bad;
};

static void *
reader_run(void *arg)
{
	struct reader *k = arg;
	const struct registry_entry *e;
	struct registry_snapshot *s;

	while (!*k->stop) {
		s = registry_snapshot(k->r);
		e = registry_tool(s, "a__echo");
		if (e == NULL || strcmp(e->orig, "echo") != 0 ||
		    strcmp(json_string_value(json_object_get(e->def, "name")), "a__echo") != 0)
			k->bad = 1;
		(void)json_array_size(registry_tools(s));
		registry_snapshot_release(s);
		__atomic_add_fetch(&k->reads, 1, __ATOMIC_RELEASE);
	}
	return (NULL);
}

static void
done_cb(void *arg, json_t *result, json_t *error)
{
	(void)result;
	(void)error;
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_ACQ_REL);
}

/* list_changed rebuilds the snapshot while readers hold older ones. */
static void
t_refresh_concurrent_readers(void **state)
{
	struct reader k[4];
	pthread_t t[4];
	struct registry_snapshot *old, *s;
	struct registry *r;
	volatile int stop = 0;
	json_t *p;
	int i, done = 0;

	(void)state;
	r = make("{\"a\": {\"command\": \"" MCPGATE_ECHO_MCP "\"}}");
	old = snapshot_with(r, 9);
	assert_null(registry_tool(old, "a__extra"));
	for (i = 0; i < 4; i++) {
		memset(&k[i], 0, sizeof(k[i]));
		k[i].r = r;
		k[i].stop = &stop;
		assert_int_equal(pthread_create(&t[i], NULL, reader_run, &k[i]), 0);
	}
	/* Every reader reads before the change (a busy machine may not have
	 * scheduled them yet), bounded at 10 s. */
	for (i = 0; i < 4; i++) {
		int64_t until = clock_now_ms() + 10000;

		while (__atomic_load_n(&k[i].reads, __ATOMIC_ACQUIRE) == 0 && clock_now_ms() < until)
			usleep(1000);
	}
	p = json_pack("{s:s}", "name", "change");
	assert_int_equal(upstream_request(registry_find(r, "a"), "tools/call", p, 0, done_cb, &done,
	    NULL), 0);
	json_decref(p);
	s = snapshot_with(r, 10);
	stop = 1;
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(k[i].bad, 0);
		assert_true(k[i].reads > 0);
	}
	assert_non_null(registry_tool(s, "a__extra"));
	assert_true(registry_snapshot_generation(s) > registry_snapshot_generation(old));
	/* The old snapshot is intact. */
	assert_null(registry_tool(old, "a__extra"));
	assert_int_equal(json_array_size(registry_tools(old)), 9);
	registry_snapshot_release(s);
	registry_free(r);
	registry_snapshot_release(old);
	assert_int_equal(done, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_namespaced_union),
		cmocka_unit_test(t_list_order),
		cmocka_unit_test(t_plain_and_collisions),
		cmocka_unit_test(t_refresh_concurrent_readers),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
