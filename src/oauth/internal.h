/*
 * oauth/internal: what the endpoint files share.  Not used outside src/oauth.
 */
#ifndef MCPGATE_OAUTH_INTERNAL_H
#define MCPGATE_OAUTH_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "http/form.h"
#include "http/server.h"
#include "oauth/oauth.h"
#include "oauth/scope.h"
#include "server/config.h"
#include "store/store.h"

struct throttle;
struct cimd;

struct oauth {
	const struct config *cfg;
	struct store *st;
	struct keyring *kr;
	struct throttle *thr;	     /* failed sign-ins per account and address */
	struct throttle *rate_reg;   /* /register per address, or NULL */
	struct throttle *rate_authz; /* /authorize and page posts per address, or NULL */
	struct cimd *cimd;
	struct scope_set all_scopes; /* every configured scope */
	char dummy_hash[256];	     /* argon2id of a random password, for unknown users */
	struct client_cache *clients; /* recently read client rows (client.c) */
};

/* oauth_error(resp, status, error, description): an RFC 6749 section 5.2
 * error body.  ${description} must never contain request secrets. */
void oauth_error(struct http_resp *resp, int status, const char *error, const char *description);

/* oauth_method_not_allowed(resp, allow): 405 with Allow. */
void oauth_method_not_allowed(struct http_resp *resp, const char *allow);

/* oauth_read_form(req, resp, f): parse a POST form body, answering 400 on
 * a wrong Content-Type, malformed text or a repeated parameter.  Returns 0,
 * or -1 when ${resp} has been filled.  ${f} must be form_clear()ed. */
int oauth_read_form(const struct http_req *req, struct http_resp *resp, struct form *f);

/* Client lookup and authentication (client.c). */

/* client_find(o, client_id, out): a registered client, or a client
 * described by its metadata document when ${client_id} is a URL (cimd.c).
 * Returns 0, STORE_NOTFOUND, or -1.
 *
 * Rows of registered clients that have obtained a token are kept in a small
 * cache for at most CLIENT_CACHE_TTL_MS, so a client deleted or changed in
 * the store (by `mcpgate admin` or another process) can still authenticate
 * with its old row for that long, and no longer.  Clients never used (the
 * ones registration reaps) and failed lookups are not cached. */
#define CLIENT_CACHE_TTL_MS 1000
#define CLIENT_CACHE_SLOTS 64
int client_find(struct oauth *o, const char *client_id, struct store_client *out);

/* client_cache_new(ttl_ms): the cache of client_find(), keeping rows
 * ${ttl_ms} milliseconds (CLIENT_CACHE_TTL_MS in the server; 0 caches
 * nothing).  NULL on ENOMEM.  client_cache_free(NULL) does nothing. */
struct client_cache *client_cache_new(int64_t ttl_ms);
void client_cache_free(struct client_cache *cc);

/* client_auth(o, req, f, resp, out): authenticate the client of a
 * token, revocation or introspection request: HTTP Basic, client_secret in
 * the body, or none for a public client (client_id in the body).  On failure
 * fills ${resp} (401 invalid_client, or 400 invalid_request for several
 * methods at once) and returns -1. */
int client_auth(struct oauth *o, const struct http_req *req, const struct form *f,
    struct http_resp *resp, struct store_client *out);

/* client_allows_grant(c, grant): 1 if ${c} registered grant ${grant}. */
int client_allows_grant(const struct store_client *c, const char *grant);

/* client_scopes(o, c, out): the scopes ${c} may be given: its
 * registered scope cut to the configured scopes. */
void client_scopes(struct oauth *o, const struct store_client *c, struct scope_set *out);

/* client_metadata_displayable(doc): NULL if the members of client metadata
 * ${doc} that are shown to people (client_name, client_uri, ..., also
 * "client_name#lang") hold no control, invisible or bidirectional-override
 * character (core/text.h); else why not. */
const char *client_metadata_displayable(json_t *doc);

/* cimd.c */
struct cimd *cimd_new(const struct config *cfg);
void cimd_free(struct cimd *c);
/* cimd_is_url(c, client_id): 1 if ${client_id} should be resolved as a
 * metadata document URL. */
int cimd_is_url(const struct cimd *c, const char *client_id);
/* cimd_resolve(c, o, client_id, out): fetch (or take from the cache) and
 * validate the document; fill ${out} as a public client.  0, STORE_NOTFOUND
 * (fetch failed or document invalid: logged), or -1 (out of memory, or too
 * many fetches in progress: try again later). */
int cimd_resolve(struct cimd *c, const char *client_id, const struct scope_set *all, struct store_client *out);

/* throttle.c: failed-login limiter per key (account, address), and
 * per-address rate limiter.  Memory is fixed (a table of 4096 entries): a
 * flood of keys evicts old entries, blocking ones last. */
#define THROTTLE_ADDR_KEY_MAX 64
struct throttle *throttle_new(unsigned max_failures, int64_t window);
void throttle_free(struct throttle *t);
/* throttle_blocked(t, key, now): 1 if ${key} had max_failures failures
 * within the window ending at ${now}. */
int throttle_blocked(struct throttle *t, const char *key, int64_t now);
void throttle_fail(struct throttle *t, const char *key, int64_t now);
void throttle_reset(struct throttle *t, const char *key);
/* throttle_take(t, k1, k2, now): if neither ${k1} nor ${k2} is blocked,
 * count one attempt against both and return 1; else 0.  The attempt is
 * counted before the password is checked; a success then calls
 * throttle_reset() (the account) and throttle_forgive() (the address). */
int throttle_take(struct throttle *t, const char *k1, const char *k2, int64_t now);
/* throttle_forgive(t, key): take back one counted attempt of ${key}. */
void throttle_forgive(struct throttle *t, const char *key);
/* throttle_hit(t, key, now, retry_after): a rate limit of max requests per
 * window.  If ${key} has had fewer than max in its window, count this one
 * and return 1; else return 0 (not counted) with *${retry_after} the
 * seconds until its window ends (at least 1). */
int throttle_hit(struct throttle *t, const char *key, int64_t now, int64_t *retry_after);
/* throttle_addr_key(addr, out): the key of client address ${addr}: IPv4 as
 * itself, IPv4-mapped IPv6 as the IPv4 address, other IPv6 as its /64
 * ("2001:db8::/64"); never from a request header. */
void throttle_addr_key(const char *addr, char out[THROTTLE_ADDR_KEY_MAX]);

/* oauth_rate_check(t, req, resp, page): 0 if the client address of
 * ${req} is within the rate limit ${t} (NULL: no limit), counting the
 * request; else fills ${resp} with 429 and Retry-After -- an HTML page when
 * ${page}, else an OAuth JSON error (temporarily_unavailable) -- and returns
 * -1. */
int oauth_rate_check(struct throttle *t, const struct http_req *req, struct http_resp *resp, int page);

/* token.c: mint an access token. */
int token_mint_access(struct oauth *o, const char *sub, const char *client_id, const char *scope,
    const char *resource, int64_t now, char **jwt, char jti[64]);

/* Endpoint handlers. */
void metadata_handle(void *arg, const struct http_req *req, struct http_resp *resp);
void metadata_jwks(void *arg, const struct http_req *req, struct http_resp *resp);
void authorize_handle(void *arg, const struct http_req *req, struct http_resp *resp);
void authorize_login(void *arg, const struct http_req *req, struct http_resp *resp);
void authorize_consent(void *arg, const struct http_req *req, struct http_resp *resp);
void token_handle(void *arg, const struct http_req *req, struct http_resp *resp);
void revoke_handle(void *arg, const struct http_req *req, struct http_resp *resp);
void introspect_handle(void *arg, const struct http_req *req, struct http_resp *resp);
void register_handle(void *arg, const struct http_req *req, struct http_resp *resp);

#endif
