/*
 * gateway/lists: list methods, pages and cacheable results.  See lists.h
 * and docs/internals/gateway.md.
 */
#include "gateway/lists.h"

#include <stdlib.h>
#include <string.h>

#include "gateway/cursor.h"
#include "gateway/upstream.h"
#include "mcp/jsonrpc.h"
#include "policy/policy.h"

struct lists {
	size_t page_size;
	int64_t list_ttl_ms;
	int64_t read_ttl_ms;
	const struct policy_config *policy;
	struct policy_config defaults; /* when no policy is given */
	struct cursor_key key;
};

/* The lists' methods and result members, by enum registry_list. */
static const struct {
	enum registry_list which;
	const char *method;
	const char *member;
	enum policy_kind kind;
} LISTS[] = {
	{REGISTRY_TOOLS, "tools/list", "tools", POLICY_TOOL},
	{REGISTRY_PROMPTS, "prompts/list", "prompts", POLICY_PROMPT},
	{REGISTRY_RESOURCES, "resources/list", "resources", POLICY_RESOURCE},
	{REGISTRY_TEMPLATES, "resources/templates/list", "resourceTemplates", POLICY_RESOURCE},
};
#define NLISTS (sizeof(LISTS) / sizeof(LISTS[0]))

static int64_t
clamp_ttl(int64_t v)
{
	return (v < 0 ? 0 : v > LISTS_TTL_MAX_MS ? LISTS_TTL_MAX_MS : v);
}

/**
 * lists_new(p):
 * The list answerer per ${p}.
 */
struct lists *
lists_new(const struct lists_params *p)
{
	struct lists *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (NULL);
	if (cursor_key_init(&l->key) != 0) {
		free(l);
		return (NULL);
	}
	l->page_size = p->page_size == 0 ? LISTS_PAGE_SIZE_DEFAULT
	    : p->page_size > LISTS_PAGE_SIZE_MAX ? LISTS_PAGE_SIZE_MAX : p->page_size;
	l->list_ttl_ms = clamp_ttl(p->list_ttl_ms);
	l->read_ttl_ms = clamp_ttl(p->read_ttl_ms);
	policy_config_init(&l->defaults);
	l->policy = p->policy != NULL ? p->policy : &l->defaults;
	return (l);
}

/**
 * lists_free(l):
 * Wipe the key and free.
 */
void
lists_free(struct lists *l)
{
	if (l == NULL)
		return;
	cursor_key_clear(&l->key);
	policy_config_clear(&l->defaults);
	free(l);
}

/**
 * lists_method(method, which):
 * 1 if ${method} is a list method, with its list in ${which}.
 */
int
lists_method(const char *method, enum registry_list *which)
{
	size_t i;

	for (i = 0; method != NULL && i < NLISTS; i++)
		if (strcmp(method, LISTS[i].method) == 0) {
			*which = LISTS[i].which;
			return (1);
		}
	return (0);
}

/* 1 if the list ${kind} is filtered per token under ${cfg}. */
static int
filtered_list(const struct policy_config *cfg, enum policy_kind kind)
{
	switch (kind) {
	case POLICY_TOOL:
		return (cfg->filter_tools_list != 0);
	case POLICY_PROMPT:
		return (cfg->filter_prompts_list != 0);
	case POLICY_RESOURCE:
		return (cfg->filter_resources_list != 0);
	}
	return (1);
}

/* 1 if the token holding ${held} is to see entry ${e} of a list of ${kind}:
 * the same request the calls are decided by (endpoint.c allowed()). */
static int
visible(const struct lists *l, const struct registry_entry *e, enum policy_kind kind,
    const struct scope_set *held)
{
	struct policy_request pr;

	memset(&pr, 0, sizeof(pr));
	pr.held = held;
	pr.server = upstream_name(e->u);
	pr.server_scope = upstream_cfg(e->u)->scope;
	pr.kind = kind;
	pr.name = e->orig;
	pr.read_only = kind == POLICY_TOOL &&
	    json_is_true(json_object_get(json_object_get(e->def, "annotations"), "readOnlyHint"));
	return (policy_listed(l->policy, &pr, NULL));
}

/**
 * lists_answer(l, snap, which, scope, params, modern, result, why):
 * One page of a list, filtered for the token.
 */
int
lists_answer(const struct lists *l, const struct registry_snapshot *snap, enum registry_list which,
    const char *scope, const json_t *params, int modern, json_t **result, const char **why)
{
	const struct registry_entry *e;
	struct scope_set *held = NULL;
	char next[CURSOR_TEXT_LEN + 1];
	const json_t *cur;
	json_t *items = NULL, *r = NULL, *d;
	uint64_t gen = registry_snapshot_generation(snap), cgen;
	uint32_t pos;
	size_t li, n, i, count = 0;
	int more = 0;

	*result = NULL;
	*why = NULL;
	for (li = 0; li < NLISTS && LISTS[li].which != which; li++)
		;
	if (li == NLISTS) {
		*why = "unknown list";
		return (1);
	}
	n = registry_list_size(snap, which);
	i = 0;
	cur = json_is_object(params) ? json_object_get(params, "cursor") : NULL;
	if (cur != NULL && !json_is_null(cur)) {
		if (!json_is_string(cur) || json_string_length(cur) > CURSOR_TEXT_MAX ||
		    cursor_decode(&l->key, json_string_value(cur), json_string_length(cur), (unsigned)which,
		        &cgen, &pos) != 0 ||
		    cgen != gen || pos >= n) {
			*why = "invalid cursor";
			return (1);
		}
		i = pos;
	}
	if ((held = malloc(sizeof(*held))) == NULL || (items = json_array()) == NULL)
		goto nomem;
	if (scope == NULL || scope_parse(scope, held) != 0)
		held->n = 0;
	for (; i < n; i++) {
		e = registry_list_entry(snap, which, i);
		if (!visible(l, e, LISTS[li].kind, held))
			continue;
		/* The page is full: i is the next visible item. */
		if (count == l->page_size) {
			more = 1;
			break;
		}
		if ((d = json_deep_copy(e->def)) == NULL || json_array_append_new(items, d) != 0)
			goto nomem;
		count++;
	}
	if ((r = json_object()) == NULL || json_object_set_new(r, LISTS[li].member, items) != 0) {
		items = NULL;
		goto nomem;
	}
	items = NULL;
	if (more) {
		/* Positions are 32 bits; a list holds far fewer items. */
		cursor_encode(&l->key, (unsigned)which, gen, (uint32_t)i, next);
		if (json_object_set_new(r, "nextCursor", json_string(next)) != 0)
			goto nomem;
	}
	if (modern && (json_object_set_new(r, "ttlMs", json_integer(l->list_ttl_ms)) != 0 ||
	                  json_object_set_new(r, "cacheScope",
	                      json_string(filtered_list(l->policy, LISTS[li].kind) ? "private" : "public")) != 0))
		goto nomem;
	free(held);
	*result = r;
	return (0);

nomem:
	json_decref(items);
	json_decref(r);
	free(held);
	return (-1);
}

/**
 * lists_cacheable(l, method, result):
 * Add ttlMs and cacheScope to a 2026-07-28 result that must carry them.
 */
int
lists_cacheable(const struct lists *l, const char *method, json_t *result)
{
	enum registry_list which;
	json_t *ttl;

	if (method == NULL || !json_is_object(result))
		return (0);
	if (strcmp(method, "resources/read") == 0) {
		/* Keep the upstream's own freshness when it is one, never its
		 * "public": the gateway decides reads per token. */
		ttl = json_object_get(result, "ttlMs");
		if ((!json_is_integer(ttl) || json_integer_value(ttl) < 0) &&
		    json_object_set_new(result, "ttlMs", json_integer(l->read_ttl_ms)) != 0)
			return (-1);
		return (json_object_set_new(result, "cacheScope", json_string("private")));
	}
	if (!lists_method(method, &which) && strcmp(method, "server/discover") != 0)
		return (0);
	if (json_object_get(result, "ttlMs") == NULL &&
	    json_object_set_new(result, "ttlMs", json_integer(l->list_ttl_ms)) != 0)
		return (-1);
	if (json_object_get(result, "cacheScope") == NULL &&
	    json_object_set_new(result, "cacheScope", json_string("private")) != 0)
		return (-1);
	return (0);
}

/**
 * lists_error_modern(method, error):
 * The error a 2026-07-28 client gets for an upstream's ${error}.
 */
json_t *
lists_error_modern(const char *method, json_t *error)
{
	json_t *e;

	if (method == NULL || strcmp(method, "resources/read") != 0 ||
	    json_integer_value(json_object_get(error, "code")) != LISTS_RESOURCE_NOT_FOUND_OLD)
		return (json_incref(error));
	if ((e = json_copy(error)) == NULL ||
	    json_object_set_new(e, "code", json_integer(JSONRPC_INVALID_PARAMS)) != 0) {
		json_decref(e);
		return (NULL);
	}
	return (e);
}
