/*
 * gateway/lists: the gateway's own answers to tools/list, prompts/list,
 * resources/list and resources/templates/list, and the 2026-07-28 rules for
 * cacheable results.
 *
 * A list is the registry snapshot's union (gateway/registry.h), in its
 * order, filtered for the token by policy_listed() (policy/policy.h), in
 * pages of at most page_size items.  A page that is not the last carries
 * nextCursor (gateway/cursor.h): the list, the snapshot generation and the
 * position of the next item the token may see.  A cursor that is malformed,
 * altered, of another list, or from a snapshot that is no longer current
 * (an upstream's list changed meanwhile, or the gateway restarted) is
 * refused with -32602 "invalid cursor", as every version's pagination page
 * says; the client starts again without a cursor.
 *
 * 2026-07-28 (changelog minor change 5, CacheableResult): the four list
 * results and resources/read carry ttlMs and cacheScope.  A list filtered
 * per token is "private"; a list whose filtering is configured off is the
 * same for every token and "public".  resources/read is always "private"
 * (reading is decided per token, so no shared cache may serve it to another
 * one), with the upstream's own ttlMs when it gave a valid one, else
 * read_ttl_ms.  Changelog minor change 6: a resource that does not exist is
 * -32602 for 2026-07-28 clients where the older versions said -32002.
 */
#ifndef MCPGATE_GATEWAY_LISTS_H
#define MCPGATE_GATEWAY_LISTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gateway/registry.h"

#define LISTS_PAGE_SIZE_DEFAULT 100
#define LISTS_PAGE_SIZE_MAX 1000
#define LISTS_TTL_DEFAULT_MS 30000	/* lists: ttlMs */
#define LISTS_READ_TTL_DEFAULT_MS 0	/* resources/read without the upstream's own */
#define LISTS_TTL_MAX_MS 86400000	/* one day */
#define LISTS_RESOURCE_NOT_FOUND_OLD -32002 /* 2025-06-18, 2025-11-25 */

struct policy_config;

struct lists_params {
	size_t page_size;	/* 0: LISTS_PAGE_SIZE_DEFAULT; at most LISTS_PAGE_SIZE_MAX */
	int64_t list_ttl_ms;	/* 0 to LISTS_TTL_MAX_MS */
	int64_t read_ttl_ms;	/* idem */
	const struct policy_config *policy; /* NULL: the defaults */
};

struct lists;

/* lists_new(p): the list answerer per ${p} (${p->policy} must outlive it),
 * with a fresh cursor key.  NULL on ENOMEM or a CSPRNG failure. */
struct lists *lists_new(const struct lists_params *p);

/* lists_free(l): wipe the key and free.  NULL does nothing. */
void lists_free(struct lists *l);

/* lists_method(method): the list ${method} names (tools/list, prompts/list,
 * resources/list, resources/templates/list) in ${which}: returns 1, or 0 if
 * ${method} is none of them. */
int lists_method(const char *method, enum registry_list *which);

/*
 * lists_answer(l, snap, which, scope, params, modern, result, why): the
 * result of the list ${which} of snapshot ${snap} for a token holding the
 * scopes ${scope} (space-separated; NULL holds none), continuing at
 * ${params}.cursor if present (a string; null counts as absent), with
 * ttlMs and cacheScope when ${modern}.  Returns 0 with the result (a new
 * reference) in ${result}; 1 with ${why} set to a static message if the
 * request is invalid (-32602: the cursor is not a string, or not a current
 * cursor of this list); -1 on ENOMEM.
 */
int lists_answer(const struct lists *l, const struct registry_snapshot *snap, enum registry_list which,
    const char *scope, const json_t *params, int modern, json_t **result, const char **why);

/*
 * lists_cacheable(l, method, result): add what a 2026-07-28 ${result} (an
 * object) of ${method} must carry as a CacheableResult when it lacks it:
 * ttlMs and cacheScope for the list methods and server/discover (the list
 * ttl, "private"), and for resources/read (see above; an upstream's
 * "public" becomes "private").  Other methods are left alone.  Returns 0,
 * or -1 on ENOMEM.
 */
int lists_cacheable(const struct lists *l, const char *method, json_t *result);

/*
 * lists_error_modern(method, error): the JSON-RPC error object a
 * 2026-07-28 client gets for an upstream's ${error} to ${method}: a
 * resources/read answered -32002 (resource not found, older versions)
 * becomes -32602 with the same message and data; anything else is
 * ${error}.  Returns a new reference (NULL on ENOMEM).
 */
json_t *lists_error_modern(const char *method, json_t *error);

#endif
