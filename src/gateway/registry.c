/*
 * registry: the upstreams and the union of their lists.  See registry.h.
 */
#include "gateway/registry.h"
#include "policy/policy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

struct registry_snapshot {
	int refs;			/* atomic */
	uint64_t gen;
	const struct registry *r;
	json_t *tools, *resources, *templates, *prompts;
	struct registry_entry *te, *pe;	/* sorted by name: also the list order */
	struct registry_entry *rl, *ml;	/* resources, templates in list order */
	struct registry_entry *re;	/* rl sorted by URI (not owning) */
	size_t nt, np, nr, nm;
	struct upstream *res_default;	/* first non-namespaced server with resources */
};

struct registry {
	struct upstream_configs cfgs;
	struct upstream **u;
	size_t n;
	struct upstream_hooks hooks;	/* the caller's */
	pthread_mutex_t build_mtx;	/* one rebuild at a time */
	pthread_mutex_t snap_mtx;	/* guards cur */
	struct registry_snapshot *cur;
	uint64_t gen;
};

/*
 * The client-facing name of ${server}'s tool or prompt ${name}: "s__t", by
 * the one rule the policy also uses (policy_name_join), so that rules and
 * lists always agree.  Returns 0, or -1 if it would exceed ${outcap} - 1.
 */
static int
ns_name(const char *server, const char *name, char *out, size_t outcap)
{
	return (policy_name_join(server, name, out, outcap));
}

static void
snap_free(struct registry_snapshot *s)
{
	size_t i;

	for (i = 0; i < s->nt; i++) {
		free((char *)(uintptr_t)s->te[i].name);
		free((char *)(uintptr_t)s->te[i].orig);
	}
	for (i = 0; i < s->np; i++) {
		free((char *)(uintptr_t)s->pe[i].name);
		free((char *)(uintptr_t)s->pe[i].orig);
	}
	for (i = 0; i < s->nr; i++) {
		free((char *)(uintptr_t)s->rl[i].name);
		free((char *)(uintptr_t)s->rl[i].orig);
	}
	for (i = 0; i < s->nm; i++) {
		free((char *)(uintptr_t)s->ml[i].name);
		free((char *)(uintptr_t)s->ml[i].orig);
	}
	free(s->te);
	free(s->pe);
	free(s->rl);
	free(s->re);
	free(s->ml);
	json_decref(s->tools);
	json_decref(s->resources);
	json_decref(s->templates);
	json_decref(s->prompts);
	free(s);
}

static int
entry_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct registry_entry *)a)->name,
	    ((const struct registry_entry *)b)->name));
}

struct part {
	struct registry_entry *v;
	size_t n, cap;
	json_t *arr;		/* client-facing definitions */
	json_t *seen;		/* set of client-facing names */
	size_t collisions;
};

/* Add ${def} of ${u} under client-facing ${name} (original ${orig}),
 * setting member ${key} of the copy to ${name}.  Collisions are left out. */
static int
add(struct part *p, struct upstream *u, json_t *def, const char *key, const char *name, const char *orig)
{
	struct registry_entry *e;
	json_t *d;

	if (json_object_get(p->seen, name) != NULL) {
		p->collisions++;
		return (0);
	}
	if ((d = json_deep_copy(def)) == NULL || json_object_set_new(d, key, json_string(name)) ||
	    json_object_set_new(p->seen, name, json_true()) || json_array_append(p->arr, d)) {
		json_decref(d);
		return (-1);
	}
	json_decref(d);
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 64;

		if ((e = realloc(p->v, nc * sizeof(*e))) == NULL)
			return (-1);
		p->v = e;
		p->cap = nc;
	}
	e = &p->v[p->n];
	e->u = u;
	e->def = d;
	e->name = strdup(name);
	e->orig = strdup(orig);
	if (e->name == NULL || e->orig == NULL) {
		free((char *)(uintptr_t)e->name);
		free((char *)(uintptr_t)e->orig);
		return (-1);
	}
	p->n++;
	return (0);
}

/* Tools or prompts (${key} "name") of one upstream. */
static int
add_named(struct part *p, struct upstream *u, json_t *items)
{
	const struct upstream_config *c = upstream_cfg(u);
	char name[REGISTRY_NAME_MAX + 1];
	const char *orig;
	json_t *v;
	size_t i;

	json_array_foreach(items, i, v) {
		orig = json_string_value(json_object_get(v, "name"));
		if (orig == NULL || orig[0] == '\0' || strlen(orig) > 128)
			continue;
		if (c->namespaced) {
			if (ns_name(c->name, orig, name, sizeof(name)))
				continue;
		} else
			snprintf(name, sizeof(name), "%s", orig);
		if (add(p, u, v, "name", name, orig))
			return (-1);
	}
	return (0);
}

/* Resources (${key} "uri") or templates ("uriTemplate") of one upstream. */
static int
add_uris(struct part *p, struct upstream *u, json_t *items, const char *key)
{
	const char *orig;
	char *name;
	json_t *v;
	size_t i;
	int rc;

	json_array_foreach(items, i, v) {
		orig = json_string_value(json_object_get(v, key));
		if (orig == NULL || orig[0] == '\0' || strlen(orig) > UPSTREAM_STR_MAX)
			continue;
		if ((name = registry_uri_out(u, orig)) == NULL)
			return (-1);
		rc = add(p, u, v, key, name, orig);
		free(name);
		if (rc)
			return (-1);
	}
	return (0);
}

static void
part_init(struct part *p)
{
	memset(p, 0, sizeof(*p));
	p->arr = json_array();
	p->seen = json_object();
}

static void
part_clear(struct part *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free((char *)(uintptr_t)p->v[i].name);
		free((char *)(uintptr_t)p->v[i].orig);
	}
	free(p->v);
	json_decref(p->arr);
	json_decref(p->seen);
}

/* Sort ${p}'s entries by name and make its array follow that order. */
static int
sort_part(struct part *p)
{
	json_t *arr;
	size_t i;

	if (p->n == 0)
		return (0);
	qsort(p->v, p->n, sizeof(*p->v), entry_cmp);
	if ((arr = json_array()) == NULL)
		return (-1);
	for (i = 0; i < p->n; i++)
		if (json_array_append(arr, p->v[i].def) != 0) {
			json_decref(arr);
			return (-1);
		}
	json_decref(p->arr);
	p->arr = arr;
	return (0);
}

/* Build a new snapshot from every upstream's lists and publish it. */
static int
rebuild(struct registry *r)
{
	struct registry_snapshot *s, *old;
	struct part pt, pp, pr, pm;
	struct upstream_lists *l;
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&r->build_mtx);
	part_init(&pt);
	part_init(&pp);
	part_init(&pr);
	part_init(&pm);
	if ((s = calloc(1, sizeof(*s))) == NULL || pt.arr == NULL || pt.seen == NULL ||
	    pp.arr == NULL || pp.seen == NULL || pr.arr == NULL || pr.seen == NULL ||
	    pm.arr == NULL || pm.seen == NULL)
		goto out;
	s->refs = 1;
	s->r = r;
	/* On a collision (only possible with a non-namespaced server, whose
	 * names may look like "s__t"), configuration order decides. */
	for (i = 0; i < r->n; i++) {
		size_t before = pt.collisions + pp.collisions + pr.collisions + pm.collisions;

		if ((l = upstream_lists_get(r->u[i])) == NULL)
			continue;
		rc = add_named(&pt, r->u[i], l->tools) || add_named(&pp, r->u[i], l->prompts) ||
		    add_uris(&pr, r->u[i], l->resources, "uri") ||
		    add_uris(&pm, r->u[i], l->templates, "uriTemplate") ? -1 : 0;
		if (s->res_default == NULL && !upstream_cfg(r->u[i])->namespaced &&
		    json_object_get(l->capabilities, "resources") != NULL)
			s->res_default = r->u[i];
		upstream_lists_release(l);
		if (rc)
			goto out;
		if (pt.collisions + pp.collisions + pr.collisions + pm.collisions > before)
			log_warn("registry: %zu names of upstream %s collide with earlier servers' and "
			    "are left out", pt.collisions + pp.collisions + pr.collisions + pm.collisions -
			    before, upstream_name(r->u[i]));
	}
	/* Tools and prompts are listed sorted by client-facing name, whatever
	 * order the upstreams use (2026-07-28 asks for a deterministic tools
	 * order, for clients' and models' caches); resources and templates
	 * keep configuration order, then each server's own. */
	rc = -1;
	if (sort_part(&pt) != 0 || sort_part(&pp) != 0)
		goto out;
	if (pr.n > 0) {
		if ((s->re = malloc(pr.n * sizeof(*s->re))) == NULL)
			goto out;
		memcpy(s->re, pr.v, pr.n * sizeof(*s->re));
		qsort(s->re, pr.n, sizeof(*s->re), entry_cmp);
	}
	s->tools = json_incref(pt.arr);
	s->prompts = json_incref(pp.arr);
	s->resources = json_incref(pr.arr);
	s->templates = json_incref(pm.arr);
	s->te = pt.v;
	s->nt = pt.n;
	s->pe = pp.v;
	s->np = pp.n;
	s->rl = pr.v;
	s->nr = pr.n;
	s->ml = pm.v;
	s->nm = pm.n;
	pt.v = pp.v = pr.v = pm.v = NULL;
	pt.n = pp.n = pr.n = pm.n = 0;
	pthread_mutex_lock(&r->snap_mtx);
	s->gen = ++r->gen;
	old = r->cur;
	r->cur = s;
	pthread_mutex_unlock(&r->snap_mtx);
	s = NULL;
	registry_snapshot_release(old);
	rc = 0;
out:
	if (rc)
		log_warn("registry: out of memory rebuilding the lists");
	if (s != NULL)
		snap_free(s);
	part_clear(&pt);
	part_clear(&pp);
	part_clear(&pr);
	part_clear(&pm);
	pthread_mutex_unlock(&r->build_mtx);
	return (rc);
}

static void
on_changed(void *arg, struct upstream *u)
{
	struct registry *r = arg;

	(void)rebuild(r);
	if (r->hooks.changed != NULL)
		r->hooks.changed(r->hooks.arg, u);
}

static void
on_notification(void *arg, struct upstream *u, const char *subject, const char *method, json_t *params)
{
	struct registry *r = arg;

	if (r->hooks.notification != NULL)
		r->hooks.notification(r->hooks.arg, u, subject, method, params);
}

static void
on_ready(void *arg, struct upstream *u, const char *subject, json_t *capabilities)
{
	struct registry *r = arg;

	if (r->hooks.ready != NULL)
		r->hooks.ready(r->hooks.arg, u, subject, capabilities);
}

/*
 * registry_new(cfgs, hooks): a registry of one upstream per configuration.
 */
struct registry *
registry_new(struct upstream_configs *cfgs, const struct upstream_hooks *hooks)
{
	struct upstream_hooks mine = {on_changed, on_notification, NULL, on_ready};
	struct registry *r;
	size_t i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->cfgs = *cfgs;
	memset(cfgs, 0, sizeof(*cfgs));
	if (hooks != NULL)
		r->hooks = *hooks;
	pthread_mutex_init(&r->build_mtx, NULL);
	pthread_mutex_init(&r->snap_mtx, NULL);
	mine.arg = r;
	if (r->cfgs.n > 0 && (r->u = calloc(r->cfgs.n, sizeof(*r->u))) == NULL)
		goto err;
	for (i = 0; i < r->cfgs.n; i++) {
		if ((r->u[i] = upstream_new(&r->cfgs.v[i], &mine)) == NULL)
			goto err;
		r->n++;
	}
	if (rebuild(r) != 0)
		goto err;
	return (r);
err:
	registry_free(r);
	return (NULL);
}

int
registry_start(struct registry *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (upstream_start(r->u[i]) != 0)
			return (-1);
	return (0);
}

void
registry_free(struct registry *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		upstream_free(r->u[i]);
	free(r->u);
	registry_snapshot_release(r->cur);
	upstream_config_clear(&r->cfgs);
	pthread_mutex_destroy(&r->build_mtx);
	pthread_mutex_destroy(&r->snap_mtx);
	free(r);
}

size_t
registry_count(const struct registry *r)
{
	return (r->n);
}

struct upstream *
registry_upstream(const struct registry *r, size_t i)
{
	return (i < r->n ? r->u[i] : NULL);
}

struct upstream *
registry_find(const struct registry *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(upstream_name(r->u[i]), name) == 0)
			return (r->u[i]);
	return (NULL);
}

int
registry_wait_ready(struct registry *r, int64_t timeout_ms)
{
	int64_t end = clock_now_ms() + timeout_ms, left;
	size_t i;

	for (i = 0; i < r->n; i++) {
		left = end - clock_now_ms();
		if (upstream_wait_ready(r->u[i], left > 0 ? left : 0) != 0)
			return (-1);
	}
	return (0);
}

struct registry_snapshot *
registry_snapshot(struct registry *r)
{
	struct registry_snapshot *s;

	pthread_mutex_lock(&r->snap_mtx);
	s = r->cur;
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&r->snap_mtx);
	return (s);
}

void
registry_snapshot_release(struct registry_snapshot *s)
{
	if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		snap_free(s);
}

uint64_t
registry_snapshot_generation(const struct registry_snapshot *s)
{
	return (s->gen);
}

json_t *
registry_tools(const struct registry_snapshot *s)
{
	return (s->tools);
}

json_t *
registry_resources(const struct registry_snapshot *s)
{
	return (s->resources);
}

json_t *
registry_templates(const struct registry_snapshot *s)
{
	return (s->templates);
}

json_t *
registry_prompts(const struct registry_snapshot *s)
{
	return (s->prompts);
}

size_t
registry_list_size(const struct registry_snapshot *s, enum registry_list which)
{
	switch (which) {
	case REGISTRY_TOOLS:
		return (s->nt);
	case REGISTRY_PROMPTS:
		return (s->np);
	case REGISTRY_RESOURCES:
		return (s->nr);
	case REGISTRY_TEMPLATES:
		return (s->nm);
	}
	return (0);
}

const struct registry_entry *
registry_list_entry(const struct registry_snapshot *s, enum registry_list which, size_t i)
{
	const struct registry_entry *v = NULL;

	if (i >= registry_list_size(s, which))
		return (NULL);
	switch (which) {
	case REGISTRY_TOOLS:
		v = s->te;
		break;
	case REGISTRY_PROMPTS:
		v = s->pe;
		break;
	case REGISTRY_RESOURCES:
		v = s->rl;
		break;
	case REGISTRY_TEMPLATES:
		v = s->ml;
		break;
	}
	return (v != NULL ? &v[i] : NULL);
}

static const struct registry_entry *
lookup(const struct registry_entry *v, size_t n, const char *name)
{
	struct registry_entry key = {0};

	if (name == NULL || n == 0)
		return (NULL);
	key.name = name;
	return (bsearch(&key, v, n, sizeof(*v), entry_cmp));
}

const struct registry_entry *
registry_tool(const struct registry_snapshot *s, const char *name)
{
	return (lookup(s->te, s->nt, name));
}

const struct registry_entry *
registry_prompt(const struct registry_snapshot *s, const char *name)
{
	return (lookup(s->pe, s->np, name));
}

/*
 * registry_resource(s, uri, u, orig): route a client-facing resource URI.
 */
int
registry_resource(const struct registry_snapshot *s, const char *uri, struct upstream **u, char **orig)
{
	const struct registry_entry *e;
	const char *p, *slash;
	size_t i, plen = strlen(REGISTRY_URI_PREFIX);

	*u = NULL;
	*orig = NULL;
	if (uri == NULL || strlen(uri) > UPSTREAM_STR_MAX)
		return (-1);
	if (strncmp(uri, REGISTRY_URI_PREFIX, plen) == 0) {
		p = uri + plen;
		if ((slash = strchr(p, '/')) == NULL)
			return (-1);
		for (i = 0; i < s->r->n; i++) {
			const struct upstream_config *c = upstream_cfg(s->r->u[i]);

			if (c->namespaced && strlen(c->name) == (size_t)(slash - p) &&
			    strncmp(c->name, p, (size_t)(slash - p)) == 0) {
				if ((*orig = strdup(slash + 1)) == NULL)
					return (-1);
				*u = s->r->u[i];
				return (0);
			}
		}
	}
	if ((e = lookup(s->re, s->nr, uri)) != NULL && !upstream_cfg(e->u)->namespaced) {
		if ((*orig = strdup(e->orig)) == NULL)
			return (-1);
		*u = e->u;
		return (0);
	}
	if (s->res_default != NULL) {
		if ((*orig = strdup(uri)) == NULL)
			return (-1);
		*u = s->res_default;
		return (0);
	}
	return (-1);
}

/*
 * registry_uri_out(u, uri): the client-facing form of ${u}'s ${uri}.
 */
char *
registry_uri_out(const struct upstream *u, const char *uri)
{
	const struct upstream_config *c = upstream_cfg(u);
	char *s;

	if (!c->namespaced)
		return (strdup(uri));
	if (asprintf(&s, REGISTRY_URI_PREFIX "%s/%s", c->name, uri) < 0)
		return (NULL);
	return (s);
}
