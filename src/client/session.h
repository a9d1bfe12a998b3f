/*
 * client/session: MCP over Streamable HTTP.
 *
 * Two eras (MCP 2026-07-28 "Versioning"): modern servers (2026-07-28) take
 * every request on its own with the protocol version, client info and
 * capabilities in params._meta and the MCP-Protocol-Version, Mcp-Method and
 * Mcp-Name headers; legacy servers (2025-03-26 to 2025-11-25) want an
 * initialize handshake, then MCP-Protocol-Version (from 2025-06-18) and the
 * Mcp-Session-Id they assigned on every request.  A client set to a modern
 * version sends its request as is; a 400, 404 or 405 without a recognised
 * JSON-RPC error body means a legacy server, and the client falls back to
 * initialize once and remembers it for the handle.
 *
 * Every POST carries the access token.  A 401 leads to one refresh, then to
 * a login (when auto-login is on); a 403 with error="insufficient_scope" to a
 * step-up login with the union of scopes, at most MCPGATE_STEPUP_MAX times
 * for one request.  Answers may be JSON or an event stream; the stream is
 * read until the response with the request's id.
 */
#ifndef MCPGATE_CLIENT_SESSION_H
#define MCPGATE_CLIENT_SESSION_H

#include <jansson.h>

#include "mcpgate/mcpgate.h"

struct mcpgate_client;

/* session_version_known(v): 1 if ${v} is a protocol version we speak. */
int session_version_known(const char *v);

/* session_request(c, method, params, result, error): send a request;
 * ${params} (borrowed, may be NULL) is a JSON object.  On MCPGATE_OK
 * ${result} holds the result (a new reference); on MCPGATE_E_RPC ${error}
 * (if not NULL) holds the error object. */
mcpgate_err session_request(struct mcpgate_client *c, const char *method, json_t *params, json_t **result,
    json_t **error);

/* session_notify(c, method, params): send a notification. */
mcpgate_err session_notify(struct mcpgate_client *c, const char *method, json_t *params);

/* session_probe(c): open the session (legacy: initialize; modern:
 * server/discover), going through authorization if the server asks. */
mcpgate_err session_probe(struct mcpgate_client *c);

/* session_tool_ok(tool): 0 if the tool definition ${tool} carries an invalid
 * x-mcp-header annotation (empty or not an HTTP token, on a non-primitive
 * or non-statically-reachable property, or duplicated case-insensitively),
 * else 1.  Such tools are dropped from tools/list results (2026-07-28
 * Streamable HTTP, "Custom Headers"). */
int session_tool_ok(json_t *tool);

/* session_close(c): end a legacy session (HTTP DELETE, best effort). */
void session_close(struct mcpgate_client *c);

#endif
