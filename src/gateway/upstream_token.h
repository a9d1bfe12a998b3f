/*
 * gateway/upstream_token: the gateway's own access token for an HTTP
 * upstream, obtained with the client credentials grant (RFC 6749 4.4) from
 * the upstream's authorization server and refreshed before it expires.
 *
 * This is the only Authorization value the gateway ever sends upstream: the
 * token a client presented to the gateway is never forwarded (the
 * upstream's audience is not the gateway's, RFC 8707 / MCP "token
 * passthrough").
 *
 * The request: POST ${token_endpoint}, client_secret_basic (RFC 6749 2.3.1:
 * id and secret form-encoded, then Basic), body grant_type=
 * client_credentials plus scope and resource when configured; no
 * redirects, 5 s, a 16 KiB answer.  The answer must be 200 with
 * access_token (visible ASCII, at most UPSTREAM_TOKEN_MAX characters) and
 * token_type Bearer; expires_in defaults to 300 s.  The token is used until
 * min(60 s, a fifth of its lifetime) before it expires, then a new one is
 * requested.  After a failure, no new request is made for 1 s (callers get
 * the failure meanwhile), so a broken endpoint is not hammered.
 *
 * WARNING: tokens and the client secret are secrets: never logged, wiped
 * when dropped.
 */
#ifndef MCPGATE_GATEWAY_UPSTREAM_TOKEN_H
#define MCPGATE_GATEWAY_UPSTREAM_TOKEN_H

#include <stddef.h>

#include "gateway/upstream.h"

#define UPSTREAM_TOKEN_MAX 8192

struct upstream_token;

/* upstream_token_new(cfg, name): a token cache for ${cfg} (which outlives
 * it); ${name} (the server's) only appears in logs.  NULL on ENOMEM. */
struct upstream_token *upstream_token_new(const struct upstream_oauth *cfg, const char *name);

/* upstream_token_free(t): wipe and free.  NULL does nothing. */
void upstream_token_free(struct upstream_token *t);

/*
 * upstream_token_get(t, out, outcap): copy a valid access token into ${out}
 * (NUL-terminated; ${outcap} at least UPSTREAM_TOKEN_MAX + 1), requesting a
 * new one if there is none or it is due for refresh.  May block for the
 * request (at most 5 s).  Returns 0, or -1 (logged without secrets) if no
 * token could be had; ${out} is then wiped.
 */
int upstream_token_get(struct upstream_token *t, char *out, size_t outcap);

/* upstream_token_invalidate(t): forget the current token (the upstream
 * answered 401), so the next get requests a new one. */
void upstream_token_invalidate(struct upstream_token *t);

/* upstream_token_requests(t): how many token requests were made (tests). */
unsigned long upstream_token_requests(struct upstream_token *t);

#endif
