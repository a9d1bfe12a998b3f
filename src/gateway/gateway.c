/*
 * gateway/gateway: the MCP gateway's objects, made from the configuration.
 */
#include "gateway/gateway.h"

#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/buf.h"
#include "core/log.h"
#include "gateway/endpoint.h"
#include "gateway/prm.h"
#include "gateway/registry.h"
#include "gateway/rs.h"
#include "http/server.h"
#include "server/config.h"

struct gateway {
	struct config *cfg;
	struct audit_log *audit;
	struct prm *prm;
	struct rs *rs;
	struct registry *reg;
	struct endpoint *ep;
};

static void
on_changed(void *arg, struct upstream *u)
{
	struct gateway *g = arg;

	(void)u;
	if (g->ep != NULL) {
		endpoint_list_changed(g->ep, "notifications/tools/list_changed");
		endpoint_list_changed(g->ep, "notifications/resources/list_changed");
		endpoint_list_changed(g->ep, "notifications/prompts/list_changed");
	}
}

static void
on_notification(void *arg, struct upstream *u, const char *subject, const char *method, json_t *params)
{
	struct gateway *g = arg;

	if (g->ep != NULL)
		endpoint_upstream_notification(g->ep, u, subject, method, params);
}

static void
on_ready(void *arg, struct upstream *u, const char *subject, json_t *capabilities)
{
	struct gateway *g = arg;

	if (g->ep != NULL)
		endpoint_upstream_ready(g->ep, u, subject, capabilities);
}

struct gateway *
gateway_new(struct config *cfg, struct keyring *kr, struct store *st)
{
	struct gateway *g;
	struct prm_params pp;
	struct rs_params rp;
	struct endpoint_params ep;
	struct upstream_hooks hooks;
	struct buf scopes;
	size_t i;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return (NULL);
	g->cfg = cfg;
	if ((g->audit = audit_open(&cfg->audit)) == NULL)
		goto err;

	buf_init(&scopes, 4096);
	for (i = 0; i < cfg->nscopes; i++)
		buf_printf(&scopes, "%s%s", i ? " " : "", cfg->scopes[i].name);
	memset(&pp, 0, sizeof(pp));
	pp.resource = cfg->gateway.resource;
	pp.authorization_servers = (const char *const *)cfg->gateway.authorization_servers;
	pp.nas = cfg->gateway.nas;
	pp.scopes_supported = cfg->nscopes ? buf_cstr(&scopes) : NULL;
	pp.resource_name = "mcpgate MCP gateway";
	g->prm = prm_new(&pp);
	buf_clear(&scopes);
	if (g->prm == NULL)
		goto err;

	memset(&rp, 0, sizeof(rp));
	rp.cfg = &cfg->auth;
	rp.resource = cfg->gateway.resource;
	rp.issuer = cfg->issuer;
	rp.metadata_url = prm_url(g->prm);
	rp.scope = GATEWAY_CHALLENGE_SCOPE;
	rp.kr = cfg->auth.mode == RS_MODE_LOCAL ? kr : NULL;
	rp.st = cfg->auth.mode != RS_MODE_INTROSPECTION ? st : NULL;
	if ((g->rs = rs_new(&rp)) == NULL)
		goto err;

	memset(&hooks, 0, sizeof(hooks));
	hooks.changed = on_changed;
	hooks.notification = on_notification;
	hooks.ready = on_ready;
	hooks.arg = g;
	if ((g->reg = registry_new(&cfg->mcp_servers, &hooks)) == NULL)
		goto err;

	memset(&ep, 0, sizeof(ep));
	ep.resource = cfg->gateway.resource;
	ep.origins = (const char *const *)cfg->gateway.origins;
	ep.norigins = cfg->gateway.norigins;
	ep.timeout_ms = cfg->gateway.timeout_ms;
	ep.sessions_max = (size_t)cfg->gateway.sessions_max;
	ep.session_idle_s = cfg->gateway.session_idle_s;
	ep.heartbeat_s = cfg->gateway.sse_heartbeat_s;
	ep.mrtr_ttl_ms = cfg->gateway.mrtr_ttl_ms;
	ep.mrtr_max = (size_t)cfg->gateway.mrtr_max;
	ep.mrtr_per_principal = (size_t)cfg->gateway.mrtr_per_principal;
	ep.mrtr_per_subject = (size_t)cfg->gateway.mrtr_per_subject;
	ep.body_max = cfg->body_max;
	ep.page_size = (size_t)cfg->gateway.page_size;
	ep.list_ttl_ms = cfg->gateway.list_ttl_ms;
	ep.read_ttl_ms = cfg->gateway.read_ttl_ms;
	ep.rs = g->rs;
	ep.reg = g->reg;
	ep.policy = &cfg->policy;
	ep.audit = g->audit;
	ep.audit_arguments = cfg->audit.arguments;
	if ((g->ep = endpoint_new(&ep)) == NULL)
		goto err;
	return (g);
err:
	log_err("gateway: cannot start");
	gateway_free(g);
	return (NULL);
}

size_t
gateway_routes(struct gateway *g, struct http_route *out, size_t max)
{
	size_t n = 0;

	if (max < GATEWAY_ROUTES_MAX)
		return (0);
	out[n++] = (struct http_route){g->cfg->gateway.path, 0, endpoint_handle, g->ep};
	out[n++] = (struct http_route){PRM_WELL_KNOWN, 0, prm_handle, g->prm};
	if (strcmp(prm_path(g->prm), PRM_WELL_KNOWN) != 0)
		out[n++] = (struct http_route){prm_path(g->prm), 0, prm_handle, g->prm};
	return (n);
}

int
gateway_start(struct gateway *g, int64_t wait_ms)
{
	if (registry_start(g->reg) != 0)
		return (-1);
	if (wait_ms > 0 && registry_count(g->reg) > 0 && registry_wait_ready(g->reg, wait_ms) != 0)
		log_warn("gateway: not every upstream was ready after %lld ms; they keep starting",
		    (long long)wait_ms);
	return (0);
}

const char *
gateway_url(const struct gateway *g)
{
	return (g->cfg->gateway.resource);
}

void
gateway_reopen_audit(struct gateway *g)
{
	if (g->audit != NULL)
		audit_reopen(g->audit);
}

void
gateway_housekeeping(struct gateway *g)
{
	endpoint_housekeeping(g->ep);
}

void
gateway_shutdown(struct gateway *g)
{
	if (g != NULL)
		endpoint_shutdown(g->ep);
}

void
gateway_free(struct gateway *g)
{
	if (g == NULL)
		return;
	/* No parked call may expire, and so cancel an upstream call, while
	 * the upstreams are freed. */
	endpoint_stop(g->ep);
	registry_free(g->reg);
	endpoint_free(g->ep);
	rs_free(g->rs);
	prm_free(g->prm);
	audit_close(g->audit);
	free(g);
}
