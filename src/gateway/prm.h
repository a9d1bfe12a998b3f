/*
 * gateway/prm: OAuth 2.0 Protected Resource Metadata (RFC 9728) for the
 * MCP endpoint.
 *
 * MCP clients that get a 401 follow the resource_metadata URL of the
 * challenge (or probe the well-known URLs) to learn which authorization
 * servers issue tokens for the resource.  The document is
 *
 *	{"resource": R, "authorization_servers": [...],
 *	 "scopes_supported": [...], "bearer_methods_supported": ["header"],
 *	 "resource_name": N}
 *
 * where R is the MCP endpoint's canonical URL (the audience of its tokens),
 * scopes_supported is left out when no scope is given and resource_name when
 * none is configured.  bearer_methods_supported says "header" only: the
 * gateway never accepts a token in a query string or a form body.
 *
 * It is served, identically, at two paths: the path-suffixed form of RFC
 * 9728 section 3.1 (for R = https://h/mcp, /.well-known/oauth-protected-resource/mcp),
 * which is also the URL put in challenges, and the bare
 * /.well-known/oauth-protected-resource that clients probe when they have
 * no challenge.  GET and HEAD only (405 with Allow otherwise); the answer is
 * public and cacheable for 5 minutes, with Access-Control-Allow-Origin: *
 * so that browser-based clients can read it.
 *
 * The document is rendered once by prm_new(); the handler only copies it, so
 * it is safe from any number of threads.
 */
#ifndef MCPGATE_GATEWAY_PRM_H
#define MCPGATE_GATEWAY_PRM_H

#include <stddef.h>

#define PRM_WELL_KNOWN "/.well-known/oauth-protected-resource"
#define PRM_URL_MAX 2048
#define PRM_AS_MAX 8

struct http_req;
struct http_resp;

struct prm_params {
	const char *resource;			   /* canonical URL of the MCP endpoint */
	const char *const *authorization_servers; /* issuer URLs, at least one */
	size_t nas;				   /* at most PRM_AS_MAX */
	const char *scopes_supported;		   /* space-separated, or NULL */
	const char *resource_name;		   /* human-readable, or NULL */
};

struct prm;

/* prm_url_for(resource, out, outcap): the metadata URL of ${resource}:
 * "/.well-known/oauth-protected-resource" inserted between its authority and
 * its path ("https://h:8443/mcp" gives
 * "https://h:8443/.well-known/oauth-protected-resource/mcp"; a resource with
 * no path or "/" gives the bare well-known URL).  A query is kept after the
 * path.  Returns 0, or -1 if ${resource} is not an absolute http(s) URL
 * without a fragment, or the result does not fit ${outcap} bytes. */
int prm_url_for(const char *resource, char *out, size_t outcap);

/* prm_new(p): render the document for ${p} (copied).  NULL if the resource
 * URL is refused by prm_url_for(), there is no authorization server or more
 * than PRM_AS_MAX, a scope string does not parse, or on ENOMEM (logged). */
struct prm *prm_new(const struct prm_params *p);

/* prm_free(m): free; NULL does nothing. */
void prm_free(struct prm *m);

/* prm_url(m): the metadata URL (for resource_metadata= in challenges),
 * valid as long as ${m}. */
const char *prm_url(const struct prm *m);

/* prm_path(m): the path of the metadata URL (PRM_WELL_KNOWN plus the
 * resource's path), to route to prm_handle() beside PRM_WELL_KNOWN itself. */
const char *prm_path(const struct prm *m);

/* prm_handle(arg, req, resp): an http_handler_fn serving the document;
 * ${arg} is the struct prm. */
void prm_handle(void *arg, const struct http_req *req, struct http_resp *resp);

#endif
