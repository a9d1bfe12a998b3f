/*
 * gateway/registry: every configured upstream, and the union of their
 * tools, resources, resource templates and prompts as the gateway's
 * clients see it.
 *
 * Names.  A namespaced server's tool or prompt "t" of server "s" is offered
 * as "s__t" (server names cannot contain "__" nor end with '_', so the
 * first "__" splits the name one way only; see upstream_config_parse()).
 * Its resources and templates get the URI "mcpgate://s/<original URI>".
 * A server configured with "namespace": false keeps its names and URIs;
 * where such a name collides with another entry, the first in
 * configuration order wins and the other is left out (logged).  The
 * namespacing rule lives in one static function here until src/policy
 * provides policy_tool_name().
 *
 * Snapshots.  The union is rebuilt whenever an upstream's lists change and
 * published as an immutable, reference-counted snapshot: readers take one
 * with registry_snapshot(), read it without locks for as long as they like,
 * and drop it with registry_snapshot_release().  Lookups map a client-facing
 * name to (upstream, original name).
 */
#ifndef MCPGATE_GATEWAY_REGISTRY_H
#define MCPGATE_GATEWAY_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gateway/upstream.h"

#define REGISTRY_SEP "__" /* the same as POLICY_SEP */
#define REGISTRY_URI_PREFIX "mcpgate://"
#define REGISTRY_NAME_MAX 256	/* client-facing tool or prompt name */

struct registry;
struct registry_snapshot;

/* One client-facing entry. */
struct registry_entry {
	const char *name;	/* client-facing name (tools, prompts) or URI */
	const char *orig;	/* the upstream's own name or URI */
	struct upstream *u;
	json_t *def;		/* the definition as clients see it */
};

/*
 * registry_new(cfgs, hooks): a registry of one upstream per configuration
 * in ${cfgs}, which it takes over (left empty; freed with the registry).
 * ${hooks} (may be NULL) receive the upstreams' notifications that are not
 * tied to a call, and learn when a session completed initialize (ready);
 * their changed hook is called after the registry's snapshot was rebuilt.  Nothing starts before registry_start().  NULL on
 * ENOMEM.
 */
struct registry *registry_new(struct upstream_configs *cfgs, const struct upstream_hooks *hooks);

/* registry_start(r): start every upstream.  Returns 0 or -1. */
int registry_start(struct registry *r);

/* registry_free(r): stop and free every upstream (see upstream_free()),
 * then the registry.  Snapshots still held stay valid until released, but
 * their upstream pointers must not be used.  NULL does nothing. */
void registry_free(struct registry *r);

/* registry_count(r), registry_upstream(r, i): the upstreams, in
 * configuration order. */
size_t registry_count(const struct registry *r);
struct upstream *registry_upstream(const struct registry *r, size_t i);

/* registry_find(r, name): the upstream named ${name}, or NULL. */
struct upstream *registry_find(const struct registry *r, const char *name);

/* registry_wait_ready(r, timeout_ms): wait until every upstream is ready
 * (upstream_wait_ready()).  Returns 0, or -1 if one was not in time. */
int registry_wait_ready(struct registry *r, int64_t timeout_ms);

/* registry_snapshot(r): a reference to the current snapshot (never NULL
 * after registry_new(): it may be empty). */
struct registry_snapshot *registry_snapshot(struct registry *r);

/* registry_snapshot_release(s): drop a reference.  NULL does nothing. */
void registry_snapshot_release(struct registry_snapshot *s);

/* registry_snapshot_generation(s): grows with every rebuild. */
uint64_t registry_snapshot_generation(const struct registry_snapshot *s);

/* registry_tools(s), registry_resources(s), registry_templates(s),
 * registry_prompts(s): the client-facing arrays (borrowed, immutable: do
 * not modify; copy or json_incref to keep past the snapshot). */
json_t *registry_tools(const struct registry_snapshot *s);
json_t *registry_resources(const struct registry_snapshot *s);
json_t *registry_templates(const struct registry_snapshot *s);
json_t *registry_prompts(const struct registry_snapshot *s);

/* The four lists, for registry_list_size() and registry_list_entry(). */
enum registry_list { REGISTRY_TOOLS, REGISTRY_PROMPTS, REGISTRY_RESOURCES, REGISTRY_TEMPLATES };

/*
 * registry_list_size(s, which), registry_list_entry(s, which, i): the
 * entries of a list in the order clients see it, entry ${i} of which is
 * element ${i} of the array registry_tools() etc. return (its def).  Tools
 * and prompts are sorted by client-facing name (byte order), so their order
 * never depends on the upstreams'; resources and templates follow
 * configuration order, then each server's order.  A template's name and
 * orig are its client-facing and upstream uriTemplate.  registry_list_entry()
 * returns NULL past the end.  Valid while ${s} is held.
 */
size_t registry_list_size(const struct registry_snapshot *s, enum registry_list which);
const struct registry_entry *registry_list_entry(
    const struct registry_snapshot *s, enum registry_list which, size_t i);

/*
 * registry_tool(s, name), registry_prompt(s, name): the entry for a
 * client-facing tool or prompt name, or NULL if there is none.  Valid while
 * ${s} is held.
 */
const struct registry_entry *registry_tool(const struct registry_snapshot *s, const char *name);
const struct registry_entry *registry_prompt(const struct registry_snapshot *s, const char *name);

/*
 * registry_resource(s, uri, u, orig): route a client-facing resource URI
 * (resources/read, subscribe): "mcpgate://server/rest" goes to that server
 * with "rest" as its URI; another URI goes to the listed resource with that
 * URI, else to the first server that keeps its names and offers resources.
 * On success stores the upstream in ${u} and a malloc'd original URI in
 * ${orig} and returns 0; -1 if no server takes it (or ENOMEM).
 */
int registry_resource(const struct registry_snapshot *s, const char *uri, struct upstream **u,
    char **orig);

/*
 * registry_uri_out(u, uri): the client-facing form of a URI of upstream
 * ${u} (for resource links in results and notifications/resources/updated),
 * malloc'd; NULL on ENOMEM.
 */
char *registry_uri_out(const struct upstream *u, const char *uri);

#endif
