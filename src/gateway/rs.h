/*
 * gateway/rs: the resource server's token check.
 *
 * A struct rs decides whether a bearer token lets its holder use one
 * protected resource, the MCP endpoint, whose canonical URL is the audience
 * every token must name.  It answers with a principal (who, through which
 * client, with which scopes) or with one of a few error kinds, each mapped
 * to the RFC 6750 challenge the endpoint sends back (rs_challenge()).
 *
 * Three ways to trust a token, chosen by configuration ("auth".mode):
 *
 *   local          the authorization server in this process issued it: the
 *                  signature is checked against the keyring (ES256 pinned,
 *                  typ at+jwt, see token/jwt.h) and the jti against the
 *                  store's denylist.
 *   jwks           a remote issuer's JWT access tokens, checked against its
 *                  JWKS (fetched over https, cached, refetched on an unknown
 *                  kid at most every RS_JWKS_MIN_REFETCH_S seconds and every
 *                  RS_JWKS_REFRESH_S seconds in the background).  Only ES256
 *                  (EC P-256) keys are used: an issuer that signs with RS256
 *                  (Keycloak, Okta and Entra by default) must be trusted
 *                  through introspection for now.
 *   introspection  any token, asked of a remote authorization server by RFC
 *                  7662 with client credentials (HTTP Basic).  Answers are
 *                  reused until min(exp, now + cache_ttl); inactive answers
 *                  for RS_NEG_TTL_S seconds.  Revocation is the remote
 *                  server's business: it is seen here within cache_ttl,
 *                  by streams too (rs_watch_new()).
 *
 * For JWTs the claims checked are: iss equal to the issuer, aud equal to
 * (or an array containing) the audience, exp and nbf with clock_skew
 * seconds of tolerance, iat not in the future, non-empty sub, client_id and
 * jti, and scope (optional; absent means no scope) a valid scope string.
 *
 * Verified tokens are cached by the SHA-256 of their text, in RS_SHARDS
 * independently locked shards, each a hash table with LRU eviction,
 * cache_max entries in all; shard and bucket come from a keyed hash
 * (SipHash) of the digest.  An entry dies when its token expires.  A cache
 * hit is one digest and one lookup, no signature check (about 0.5 us for a
 * 550-byte token; bench/rs_cache.c).
 *
 * Revocation (local mode, and jwks mode when a store is given): a
 * background thread reads the jtis the store denied since its previous read
 * (minus RS_POLL_SLACK_S seconds) every RS_POLL_MS milliseconds into an
 * in-memory denylist, which every request consults, cache hits included, so
 * a revoked token is refused within about RS_POLL_MS plus one store read.
 * The denylist drops entries once their token has expired; past
 * RS_DENY_MAX live entries every request asks the store instead.
 *
 * Principals are immutable and reference-counted: the cache and any number
 * of requests may hold one; each holder calls rs_principal_release().
 *
 * Every function is safe to call from many threads at once.  No token text
 * ever reaches a log line or an error description.
 */
#ifndef MCPGATE_GATEWAY_RS_H
#define MCPGATE_GATEWAY_RS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define RS_CACHE_MAX_DEFAULT 10000
#define RS_CACHE_MAX_LIMIT 1000000
#define RS_SKEW_DEFAULT 30
#define RS_SKEW_MAX 300
#define RS_CACHE_TTL_DEFAULT 60 /* introspection answers */
#define RS_CACHE_TTL_MAX 3600
#define RS_NEG_TTL_S 5		/* inactive introspection answers */
#define RS_SHARDS 16
#define RS_POLL_MS 250		/* denylist poll period */
#define RS_POLL_SLACK_S 2
#define RS_DENY_MAX 100000
#define RS_JWKS_MIN_REFETCH_S 10
#define RS_JWKS_REFRESH_S 300
#define RS_JWKS_MAX_BYTES (64 * 1024)
#define RS_JWKS_MAX_KEYS 32
#define RS_FETCH_TIMEOUT_MS 3000
#define RS_INTROSPECT_MAX_BYTES (16 * 1024)
#define RS_URL_MAX 2048
#define RS_WATCH_PER_RUN 16	/* re-check introspections per poll period */
#define RS_WATCH_RETRY_S 5	/* pause after a failed re-check */

enum rs_mode { RS_MODE_LOCAL, RS_MODE_JWKS, RS_MODE_INTROSPECTION };

/* The "auth" object of the configuration; see rs_config_parse(). */
struct rs_config {
	enum rs_mode mode;
	char *issuer;		      /* NULL: the caller's (local mode) */
	char *jwks_uri;		      /* jwks mode */
	char *introspection_endpoint; /* introspection mode */
	char *client_id;	      /* introspection mode */
	char *client_secret;	      /* introspection mode; wiped by rs_config_clear() */
	char *audience;		      /* NULL: the caller's resource URL */
	size_t cache_max;	      /* verified-token cache entries */
	int64_t clock_skew;	      /* seconds */
	int64_t cache_ttl;	      /* introspection: longest reuse of an answer */
	int allow_http;		      /* development: http:// for the two URLs */
	/* Not configuration keys; tests set them (0: the defaults). */
	int64_t poll_ms;	      /* RS_POLL_MS */
	int64_t jwks_min_refetch_ms;  /* RS_JWKS_MIN_REFETCH_S * 1000 */
};

/* rs_config_parse(o, out, why): fill ${out} from the "auth" JSON object ${o}:
 *   {"mode": "local" | "jwks" | "introspection",   default "local"
 *    "issuer": URL, "audience": URL,
 *    "jwks_uri": https URL,                        required in jwks mode
 *    "introspection_endpoint": https URL,          required in introspection
 *    "client_id": string, "client_secret": string, mode, with both of these
 *    "cache_max": 1..RS_CACHE_MAX_LIMIT (10000), "clock_skew": 0..300 (30),
 *    "cache_ttl": 1..3600 (60), "allow_http": bool (false)}
 * jwks mode needs "issuer" too.  Unknown keys, wrong types and values out of
 * range are refused.  ${o} NULL gives the defaults (local mode).  Returns 0,
 * or -1 with ${out} cleared and ${why} pointing at a static description
 * (never containing the secret).  Release with rs_config_clear(). */
int rs_config_parse(json_t *o, struct rs_config *out, const char **why);

/* rs_config_clear(c): free the strings of ${c}, wiping client_secret. */
void rs_config_clear(struct rs_config *c);

/* What rs_verify() and rs_authenticate() answer. */
enum rs_err {
	RS_OK = 0,
	RS_ERR_MISSING,	    /* no bearer credentials: 401, challenge without error */
	RS_ERR_REQUEST,	    /* malformed Authorization, two of them, or header and
			     * query token: 400 invalid_request */
	RS_ERR_MALFORMED,   /* not a token of the expected form: 401 invalid_token */
	RS_ERR_INVALID,	    /* signature, alg, typ, kid, claims, inactive */
	RS_ERR_EXPIRED,	    /* exp passed, or nbf not reached */
	RS_ERR_REVOKED,	    /* jti on the denylist */
	RS_ERR_AUDIENCE,    /* aud does not name this resource */
	RS_ERR_ISSUER,	    /* iss is not the trusted issuer */
	RS_ERR_SCOPE,	    /* insufficient_scope (callers): 403 */
	RS_ERR_UNAVAILABLE, /* keys or introspection unreachable: 503, no challenge */
};

/* An authenticated caller.  Every string is non-NULL and NUL-terminated and
 * lives as long as the principal.  ${scopes} is the sorted, duplicate-free
 * list of the token's scopes and ${scope} the same as one space-separated
 * string.  In introspection mode a missing jti becomes "sha256:" and 22
 * base64url characters of the token's SHA-256 (an identifier for audit,
 * useless to recover the token) and a missing sub becomes the client_id. */
struct rs_principal {
	const char *sub;
	const char *client_id;
	const char *jti;
	const char *scope;
	const char *const *scopes;
	size_t nscopes;
	int64_t exp;
};

/* rs_principal_release(p): drop one reference; NULL does nothing. */
void rs_principal_release(const struct rs_principal *p);

/* rs_principal_has_scope(p, scope): 1 if ${p} holds ${scope}, else 0. */
int rs_principal_has_scope(const struct rs_principal *p, const char *scope);

/* rs_principal_has_scopes(p, scopes): 1 if ${p} holds every scope of the
 * space-separated ${scopes} ("" and NULL: trivially 1), else 0. */
int rs_principal_has_scopes(const struct rs_principal *p, const char *scopes);

struct store;
struct keyring;
struct http_req;
struct http_resp;
struct buf;

/* What the rest of the server gives an rs. */
struct rs_params {
	const struct rs_config *cfg; /* copied; NULL: defaults (local mode) */
	const char *resource;	     /* canonical URL of the MCP endpoint (audience) */
	const char *issuer;	     /* used when cfg->issuer is NULL (local mode) */
	const char *metadata_url;    /* resource_metadata in challenges, or NULL */
	const char *scope;	     /* scope= of the no-token challenge, or NULL */
	struct keyring *kr;	     /* local mode: required */
	struct store *st;	     /* local: required; jwks: optional denylist */
};

struct rs;

/* rs_new(p): a token checker per ${p} (strings are copied; ${p}->kr and
 * ${p}->st must outlive it).  Loads the denylist and, in jwks mode, tries a
 * first JWKS fetch (a failure is logged; keys are fetched again later), and
 * starts the background thread when there is a denylist or a JWKS to keep.
 * NULL on failure (logged): a missing parameter for the mode, a denylist
 * that cannot be read, ENOMEM. */
struct rs *rs_new(const struct rs_params *p);

/* rs_free(rs): stop the thread, release every cached principal, free.
 * NULL does nothing. */
void rs_free(struct rs *rs);

/* rs_verify(rs, tok, len, out): check the ${len} bytes of token ${tok}.  On
 * RS_OK stores a principal in ${out} (the caller releases it); otherwise
 * ${out} is NULL and the result is one of RS_ERR_MALFORMED, _INVALID,
 * _EXPIRED, _REVOKED, _AUDIENCE, _ISSUER or _UNAVAILABLE. */
enum rs_err rs_verify(struct rs *rs, const char *tok, size_t len, const struct rs_principal **out);

/* rs_authenticate(rs, req, out): the whole check of a request: exactly one
 * Authorization header with a Bearer token (bearer_parse()), no
 * access_token in the query when there is one (see gateway/bearer.h), then
 * rs_verify().  No bearer credentials (no header, another scheme, a query
 * token alone) is RS_ERR_MISSING; a malformed Bearer header, two
 * Authorization headers, or a header together with a query token is
 * RS_ERR_REQUEST. */
enum rs_err rs_authenticate(struct rs *rs, const struct http_req *req, const struct rs_principal **out);

/* rs_challenge(e, metadata_url, scope, out): append to ${out} the
 * WWW-Authenticate value for ${e} and return the HTTP status:
 *   RS_ERR_MISSING: 401  Bearer resource_metadata="M", scope="S"
 *   RS_ERR_REQUEST: 400  Bearer error="invalid_request", error_description="D", resource_metadata="M"
 *   token errors:   401  Bearer error="invalid_token", error_description="D", resource_metadata="M"
 *   RS_ERR_SCOPE:   403  Bearer error="insufficient_scope", scope="S", resource_metadata="M"
 *   RS_ERR_UNAVAILABLE: 503 and nothing appended (no challenge)
 * where M is ${metadata_url} and S is ${scope} (for RS_ERR_SCOPE: every
 * scope the call needs); a parameter whose value is NULL or "" is left out.
 * Values are quoted-strings: '"' and '\' are escaped with '\', and a control
 * byte is replaced by a space.  RS_OK appends nothing and returns 200.
 * Returns -1 if ${out} is full. */
int rs_challenge(enum rs_err e, const char *metadata_url, const char *scope, struct buf *out);

/* rs_respond(rs, e, scope, resp): answer ${resp} for the error ${e}: the
 * status and WWW-Authenticate of rs_challenge() with this rs's metadata URL
 * and ${scope} (NULL: the rs_params scope for RS_ERR_MISSING), and a JSON
 * body {"error": ..., "error_description": ...} (no error member for
 * RS_ERR_MISSING). */
void rs_respond(struct rs *rs, enum rs_err e, const char *scope, struct http_resp *resp);

/* rs_strerror(e): a short fixed description of ${e} (the error_description
 * of challenges). */
const char *rs_strerror(enum rs_err e);

/* rs_principal_check(rs, jti, exp, now): whether a token verified earlier,
 * with jti ${jti} and expiry ${exp}, still holds at ${now}, for holders of
 * long-lived streams that keep no token: RS_ERR_EXPIRED once ${exp} plus
 * the verifier's clock_skew has passed (the moment rs_verify() refuses it),
 * RS_ERR_REVOKED if the in-memory denylist holds ${jti} (a revocation is
 * seen within RS_POLL_MS plus one store read), else RS_OK.  Never blocks
 * on the store or the network: past RS_DENY_MAX denied jtis (when requests
 * ask the store) and in introspection mode it tells expiry only (there a
 * stream keeps its token in an rs_watch, below).  Cheap (one read lock,
 * none while nothing is denied). */
enum rs_err rs_principal_check(struct rs *rs, const char *jti, int64_t exp, int64_t now);

/*
 * Watched tokens (introspection mode).  A remote authorization server tells
 * of a revocation only when asked about the token itself (RFC 7662), so a
 * long-lived stream that must end with the token that opened it keeps that
 * token, in memory only, through an rs_watch.  The rs's background thread
 * asks again about each watched token once the answer it last relied on
 * (a request's or its own, from the verified-token cache) may no longer be
 * reused: at most every cache_ttl seconds, sooner when the token expires.
 * Holders of one token share one rs_watch and one introspection.  At most
 * RS_WATCH_PER_RUN introspections per poll period (RS_POLL_MS) are made for
 * all watched tokens together; others wait for the next period.  A failed
 * introspection (server unreachable, non-200, not JSON) changes nothing:
 * the stream stays open until a definite answer or its expiry; re-checks
 * pause for RS_WATCH_RETRY_S seconds and the failure is logged.  A
 * definite refusal (inactive, or any other answer a request would be
 * refused for) is final for that rs_watch.  The token is wiped when its
 * last holder frees the rs_watch and never reaches a log line.  In the
 * other modes there is nothing to watch (rs_principal_check() suffices)
 * and the functions hand out NULL.
 */
struct rs_watch;

/* rs_watch_new(rs, tok, len, out): in introspection mode, store in ${out}
 * a holder's handle on the ${len} bytes of token ${tok} (copied), which the
 * caller has just verified with rs_verify(); the same token gives the same
 * handle, counted once per call.  In other modes (or ${rs} NULL) ${out} is
 * NULL.  Returns 0, or -1 with ${out} NULL: EINVAL for a token rs_verify()
 * would call malformed, ENOMEM.  Every handle must be freed before
 * rs_free(). */
int rs_watch_new(struct rs *rs, const char *tok, size_t len, struct rs_watch **out);

/* rs_watch_req(rs, req, out): rs_watch_new() with the token of ${req}'s
 * Authorization header, which rs_authenticate() accepted.  -1 with EINVAL if
 * it has no single Bearer header. */
int rs_watch_req(struct rs *rs, const struct http_req *req, struct rs_watch **out);

/* rs_watch_check(w): RS_OK while no re-check of ${w}'s token gave a
 * definite refusal, RS_ERR_EXPIRED if the server said active with an exp
 * in the past, RS_ERR_REVOKED for any other refusal (inactive, another
 * audience or issuer...).  Never blocks (an atomic read); NULL is RS_OK.
 * Expiry is rs_principal_check()'s business. */
enum rs_err rs_watch_check(const struct rs_watch *w);

/* rs_watch_free(w): drop the caller's handle; the last one wipes the token
 * and frees it.  NULL does nothing.  Safe under any lock of the caller's
 * (it takes only the rs's own watch lock). */
void rs_watch_free(struct rs_watch *w);

/* Counters, for metrics and tests. */
struct rs_stats {
	uint64_t verifications; /* signature checks or introspection requests */
	uint64_t hits;		/* answers from the cache (positive or negative) */
	uint64_t misses;
	uint64_t evictions;	/* entries dropped to make room */
	uint64_t cached;	/* entries now */
	uint64_t denied;	/* jtis on the in-memory denylist now */
	uint64_t jwks_fetches;	/* attempts */
	uint64_t polls;		/* denylist reads */
	uint64_t rechecks;	/* introspections for watched tokens */
	uint64_t watched;	/* watched tokens now */
};

/* rs_stats(rs, out): a snapshot of the counters (not atomic as a whole). */
void rs_stats(struct rs *rs, struct rs_stats *out);

#endif
