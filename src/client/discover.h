/*
 * client/discover: where the MCP server's authorization server is, and what
 * it supports.
 *
 * Protected resource metadata (RFC 9728): the resource_metadata URL from a
 * 401 challenge when there is one, else the well-known URLs in the order the
 * MCP specification gives: path-inserted, then root.  The document's
 * "resource" must name the server: the same scheme, host and port (scheme and
 * host compared without case), and a path that is the server URL's path or a
 * whole-segment prefix of it.  Its value, exactly as published, is the
 * resource indicator sent to the authorization server.
 *
 * Authorization server metadata: for an issuer with a path,
 * /.well-known/oauth-authorization-server/PATH, then
 * /.well-known/openid-configuration/PATH, then PATH/.well-known/openid-configuration;
 * without a path, the first two.  A document whose "issuer" is not exactly
 * the issuer is never used.
 */
#ifndef MCPGATE_CLIENT_DISCOVER_H
#define MCPGATE_CLIENT_DISCOVER_H

#include "client/internal.h"

#define DISCOVER_DOC_MAX (256 * 1024)

/* discover_prm_urls(server_url, out): the well-known protected resource
 * metadata URLs of ${server_url}, in order, malloc'd into ${out}; returns how
 * many (1 or 2), or -1 (bad URL, ENOMEM). */
int discover_prm_urls(const char *server_url, char *out[2]);

/* discover_as_urls(issuer, out): the authorization server metadata URLs of
 * ${issuer} in order, malloc'd; returns how many (2 or 3), or -1. */
int discover_as_urls(const char *issuer, char *out[3]);

/* discover_resource_matches(resource, server_url): 1 if the protected
 * resource identifier ${resource} may stand for ${server_url}, else 0. */
int discover_resource_matches(const char *resource, const char *server_url);

/* discover_prm(c, hint): fill c->prm from ${hint} (a resource_metadata URL,
 * or NULL) or the well-known URLs.  Errors: MCPGATE_E_NO_RESOURCE_METADATA,
 * MCPGATE_E_RESOURCE_MISMATCH, network errors. */
mcpgate_err discover_prm(struct mcpgate_client *c, const char *hint);

/* discover_as(c, issuer, need_pkce): fill c->as from the metadata of
 * ${issuer}.  Errors: MCPGATE_E_NO_AS_METADATA, MCPGATE_E_ISSUER_MISMATCH,
 * MCPGATE_E_NO_S256 (only if ${need_pkce}), network errors. */
mcpgate_err discover_as(struct mcpgate_client *c, const char *issuer, int need_pkce);

/* discover_get_json(c, url, max, doc, status): GET ${url} and parse a JSON
 * object from a 200 answer into ${doc}.  MCPGATE_E_HTTP (status in
 * ${status}) for other statuses, MCPGATE_E_MALFORMED for a body that is not
 * a JSON object. */
mcpgate_err discover_get_json(struct mcpgate_client *c, const char *url, size_t max, json_t **doc, long *status);

#endif
