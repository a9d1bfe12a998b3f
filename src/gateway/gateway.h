/*
 * gateway/gateway: the MCP gateway as one object.
 *
 * A struct gateway owns what the MCP endpoint needs: the token check
 * (gateway/rs.h), the protected resource metadata (gateway/prm.h), the
 * upstream servers and their union (gateway/registry.h), the policy
 * (policy/policy.h, borrowed from the configuration), the audit log
 * (audit/audit.h) and the endpoint itself with its sessions
 * (gateway/endpoint.h).  serve.c makes one from the configuration, routes
 * the endpoint and the two metadata paths to it, starts it, and frees it
 * after the HTTP server.
 */
#ifndef MCPGATE_GATEWAY_GATEWAY_H
#define MCPGATE_GATEWAY_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#define GATEWAY_ROUTES_MAX 3
#define GATEWAY_CHALLENGE_SCOPE "mcp:read"

struct config;
struct keyring;
struct store;
struct http_route;
struct gateway;

/* gateway_new(cfg, kr, st): a gateway for ${cfg} (which must outlive it;
 * its "mcpServers" are taken over and left empty).  ${kr} and ${st} are the
 * local keyring and store (NULL when the authorization server is not in
 * this process).  Nothing runs before gateway_start().  NULL on failure
 * (logged). */
struct gateway *gateway_new(struct config *cfg, struct keyring *kr, struct store *st);

/* gateway_routes(g, out, max): fill ${out} with the endpoint's route and
 * the metadata routes; returns how many (at most GATEWAY_ROUTES_MAX). */
size_t gateway_routes(struct gateway *g, struct http_route *out, size_t max);

/* gateway_start(g, wait_ms): start the upstreams and wait up to ${wait_ms}
 * for them to be ready (those that are not are logged and keep
 * starting).  Returns 0, or -1 if threads could not start. */
int gateway_start(struct gateway *g, int64_t wait_ms);

/* gateway_url(g): the endpoint's canonical URL. */
const char *gateway_url(const struct gateway *g);

/* gateway_reopen_audit(g): reopen the audit log (SIGHUP). */
void gateway_reopen_audit(struct gateway *g);

/* gateway_housekeeping(g): periodic work: idle sessions are ended (their
 * subscriptions released). */
void gateway_housekeeping(struct gateway *g);

/* gateway_shutdown(g): end the subscriptions (listen streams, upstream
 * subscriptions) while the HTTP server and the upstreams still run; call
 * it before http_server_free().  NULL does nothing. */
void gateway_shutdown(struct gateway *g);

/* gateway_free(g): stop the upstreams (child processes reaped), then free
 * everything.  Call it after http_server_free().  NULL does nothing. */
void gateway_free(struct gateway *g);

#endif
