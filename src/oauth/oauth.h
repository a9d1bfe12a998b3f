/*
 * oauth: the authorization server's endpoints, as request handlers for the
 * HTTP layer.
 *
 * struct oauth holds what every endpoint shares: the configuration, the
 * store, the keyring, the login throttle and the Client ID Metadata
 * Document cache.  oauth_routes() lists the handlers with their paths:
 *
 *   /.well-known/oauth-authorization-server   RFC 8414 metadata
 *   /.well-known/openid-configuration         the same document
 *   /jwks.json                                public signing keys
 *   /authorize                                authorization endpoint
 *   /login, /consent                          the pages behind it
 *   /token                                    token endpoint
 *   /revoke                                   RFC 7009
 *   /introspect                               RFC 7662
 *   /register                                 RFC 7591
 *
 * The paths are advertised in the metadata, which is how clients find them.
 */
#ifndef MCPGATE_OAUTH_OAUTH_H
#define MCPGATE_OAUTH_OAUTH_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct store;
struct keyring;
struct http_route;

#define OAUTH_ROUTES_MAX 16

struct oauth;

/* oauth_new(cfg, st, kr): the endpoints' shared state; ${cfg}, ${st} and
 * ${kr} must outlive it.  NULL on failure. */
struct oauth *oauth_new(const struct config *cfg, struct store *st, struct keyring *kr);

/* oauth_free(o): NULL does nothing. */
void oauth_free(struct oauth *o);

/* oauth_routes(o, routes, max): fill ${routes} with the endpoints; returns
 * how many (at most ${max}). */
size_t oauth_routes(struct oauth *o, struct http_route *routes, size_t max);

/* oauth_housekeeping(o, now): reap unused dynamic registrations and purge
 * expired rows; called periodically by the server. */
void oauth_housekeeping(struct oauth *o, int64_t now);

#endif
