/*
 * store: the authorization server's persistent state behind one interface.
 *
 * A backend is one const struct store_ops plus private state; store_open()
 * picks it from a URL ("sqlite:/path/to/file.db", "postgresql://...").
 * Every function is safe to call from many threads at once.
 *
 * What is kept, and in what form:
 *   - codes, refresh tokens, client secrets, browser session ids, CSRF and
 *     pending-request handles: only their SHA-256 digests (secret_digest());
 *   - user passwords: argon2id strings (crypto_pwhash_str);
 *   - signing private keys: encrypted under the master key by the caller.
 *
 * Single use and rotation are compare-and-swap updates inside the backend
 * (one UPDATE ... WHERE <still unused> that affects a row for exactly one
 * caller), never a read followed by a write in C.  All times are Unix seconds
 * passed in by the caller, so the backend never reads the clock itself.
 *
 * Return values: 0 on success; STORE_NOTFOUND (1) when the row does not
 * exist or the condition did not hold (a lost race, an expired row);
 * STORE_CONFLICT (2) when a unique key already exists; -1 on a backend failure
 * (already logged).  Strings in returned structs are malloc'd copies owned
 * by the struct and released by its _clear() function.
 *
 * Strings longer than STORE_ID_MAX (identifiers, digests) or STORE_TEXT_MAX
 * (everything else) are refused with -1 and a warning naming the field.
 * List callbacks may run while the backend holds one of its connections
 * (SQLite does; PostgreSQL reads the whole list first); they may call the
 * store again (another connection is used) but should be quick.
 *
 * Both backends run the same plain SQL (store_sql.h): no backend-specific
 * types or upserts beyond what SQLite and PostgreSQL share.  See
 * docs/internals/store.md.
 */
#ifndef MCPGATE_STORE_STORE_H
#define MCPGATE_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_NOTFOUND 1
#define STORE_CONFLICT 2

/* Limits enforced before anything is stored. */
#define STORE_ID_MAX 256	/* client ids, usernames, subjects, kids, jtis */
#define STORE_TEXT_MAX 8192	/* scopes, redirect URI lists, metadata */

struct store;

struct store_user {
	char *sub;	     /* stable subject identifier (random) */
	char *username;	     /* login name, unique */
	char *password_hash; /* argon2id string */
	int64_t created_at;
};

struct store_client {
	char *client_id;
	char *secret_digest;   /* NULL for public clients */
	char *name;	       /* display name shown on the consent page */
	char *redirect_uris;   /* JSON array of strings */
	char *grant_types;     /* JSON array of strings */
	char *scope;	       /* space-separated scopes the client may be given */
	char *auth_method;     /* client_secret_basic | client_secret_post | none */
	char *metadata;	       /* JSON object: the full registration, or NULL */
	int dynamic;	       /* 1 if created by dynamic registration */
	int64_t created_at;
	int64_t secret_expires_at; /* 0: never */
	int64_t first_token_at;	   /* 0 until the client obtains its first token */
};

struct store_code {
	char *digest; /* of the code */
	char *client_id;
	char *sub;
	char *redirect_uri;
	char *code_challenge; /* S256 challenge */
	char *resource;
	char *scope;
	int64_t auth_time;
	int64_t expires_at;
};

struct store_refresh {
	char *digest;	 /* of the refresh token */
	char *family_id; /* shared by every rotation of one grant */
	char *client_id;
	char *sub;
	char *scope;
	char *resource;
	char *code_digest; /* of the code the family came from, or NULL */
	int64_t created_at;
	int64_t expires_at;	 /* absolute end of the family */
	int64_t idle_expires_at; /* end unless used again before */
	int rotated;		 /* 1 once exchanged for a successor */
	int revoked;
};

struct store_consent {
	char *sub;
	char *client_id;
	char *resource;
	char *scope; /* granted scopes, space-separated, sorted */
	int64_t granted_at;
};

struct store_session {
	char *digest; /* of the session cookie value */
	char *sub;
	int64_t auth_time;
	int64_t expires_at;
};

/* A pending authorization request, between /authorize and consent. */
struct store_authreq {
	char *digest;	      /* of the request handle carried by the forms */
	char *browser_digest; /* of the browser-binding cookie */
	char *csrf_digest;    /* of the CSRF token in the forms */
	char *client_id;
	char *redirect_uri;
	char *state; /* NULL if absent */
	char *code_challenge;
	char *resource;
	char *scope;
	int64_t expires_at;
};

struct store_key {
	char *kid;
	char *alg;	   /* "ES256" */
	char *public_jwk;  /* JSON text */
	char *private_enc; /* base64url(nonce | ciphertext | tag) under the master key */
	int64_t created_at;
	int64_t retired_at; /* 0 while current or never used */
	int64_t publish_until; /* 0: published while not retired */
};

/* An access token recorded for later revocation (user-delegated only).
 * code_digest, client_id and sub describe the family (they may be NULL when
 * an earlier refresh_add or access_add of the family gave them): they let
 * family_revoke_by_code and consent_revoke reach a family that has no
 * refresh token. */
struct store_access {
	char *jti;
	char *family_id;
	int64_t expires_at;
	char *code_digest; /* of the code the family came from, or NULL */
	char *client_id;
	char *sub;
};

struct store_ops {
	const char *name;
	int (*open)(struct store *s, const char *path);
	void (*close)(struct store *s);

	/* Users.  Here and below: every _add returns STORE_CONFLICT on a
	 * duplicate key; every _get returns STORE_NOTFOUND with ${out} zeroed if
	 * the row is absent; every _del returns STORE_NOTFOUND if nothing was
	 * deleted. */
	int (*user_add)(struct store *s, const struct store_user *u);
	int (*user_get)(struct store *s, const char *username, struct store_user *out);
	int (*user_get_by_sub)(struct store *s, const char *sub, struct store_user *out);
	/* user_set_password: replace the argon2id hash of ${username} and end
	 * every browser session of the user, in one transaction. */
	int (*user_set_password)(struct store *s, const char *username, const char *password_hash);
	/* user_del: delete ${username} and end everything that acts for it:
	 * its sessions, remembered consents and unused codes go, and every
	 * token family of its subject is revoked (as by family_revoke, at
	 * ${now}), in one transaction. */
	int (*user_del)(struct store *s, const char *username, int64_t now);
	/* user_list: calls ${cb} once per user in username order. */
	int (*user_list)(struct store *s, void (*cb)(void *arg, const struct store_user *u), void *arg);

	/* Clients. */
	int (*client_add)(struct store *s, const struct store_client *c);
	int (*client_get)(struct store *s, const char *client_id, struct store_client *out);
	int (*client_del)(struct store *s, const char *client_id);
	int (*client_list)(struct store *s, void (*cb)(void *arg, const struct store_client *c), void *arg);
	/* client_mark_used: set first_token_at = ${now} if it is still 0.
	 * STORE_NOTFOUND only if there is no such client. */
	int (*client_mark_used)(struct store *s, const char *client_id, int64_t now);
	/* client_reap: delete dynamic clients with first_token_at = 0 created
	 * before ${before}; stores the number deleted in ${n}. */
	int (*client_reap)(struct store *s, int64_t before, int *n);

	/* Authorization codes. */
	int (*code_add)(struct store *s, const struct store_code *c);
	/* code_consume: atomically mark the code with ${digest} used if it is
	 * unused, not expired at ${now}, and bound to ${client_id}, the PKCE
	 * ${challenge} (computed by the caller from the presented verifier) and
	 * ${redirect_uri}; return it in ${out}.  Because the bindings are part
	 * of the compare-and-swap, a caller who cannot show them neither uses
	 * nor burns the code.  Returns STORE_NOTFOUND otherwise; ${replayed} is
	 * set to 1 when the code exists with those bindings but was already
	 * used, so that the caller can revoke what the first use issued. */
	int (*code_consume)(struct store *s, const char *digest, int64_t now, const char *client_id,
	    const char *challenge, const char *redirect_uri, struct store_code *out, int *replayed);

	/* Refresh tokens. */
	int (*refresh_add)(struct store *s, const struct store_refresh *r);
	/* refresh_get: fetch the row whatever its state. */
	int (*refresh_get)(struct store *s, const char *digest, struct store_refresh *out);
	/* refresh_rotate: atomically replace ${old_digest} by ${next}: succeeds
	 * (0) only if the old row is not rotated, not revoked, and neither of its
	 * expiries has passed at ${now}; then the old row is marked rotated and
	 * ${next} inserted in the same transaction.  Exactly one of two
	 * concurrent callers can succeed; the other gets STORE_NOTFOUND. */
	int (*refresh_rotate)(struct store *s, const char *old_digest, int64_t now,
	    const struct store_refresh *next);
	/* family_revoke: revoke every refresh token of ${family_id} and deny
	 * every unexpired access token recorded under it (denied at ${now}); a
	 * refresh or access token added to the family later is born revoked or
	 * denied.  STORE_NOTFOUND if the family is unknown (or purged). */
	int (*family_revoke)(struct store *s, const char *family_id, int64_t now);
	/* family_revoke_by_code: the same for the family created from a code
	 * (the code_digest given to refresh_add or access_add).  If there is
	 * none yet (the code's first exchange is still under way), a family
	 * later created with that code_digest is born revoked. */
	int (*family_revoke_by_code)(struct store *s, const char *code_digest, int64_t now);

	/* Access tokens: recorded ones (for family revocation) and the denylist.
	 * access_add: record ${a} under its family, creating the family if
	 * absent; STORE_CONFLICT if the jti is already recorded. */
	int (*access_add)(struct store *s, const struct store_access *a);
	/* jti_deny: deny ${jti} until ${expires_at}; ${now} is recorded as the
	 * time of the denial (see jti_denied_since). */
	int (*jti_deny)(struct store *s, const char *jti, int64_t expires_at, int64_t now);
	/* jti_denied: 1 if denied, 0 if not, -1 on failure. */
	int (*jti_denied)(struct store *s, const char *jti);
	/* jti_denied_since: calls ${cb} for each jti denied at or after ${since}. */
	int (*jti_denied_since)(struct store *s, int64_t since,
	    void (*cb)(void *arg, const char *jti, int64_t expires_at), void *arg);

	/* Consents: one per (sub, client_id, resource); a NULL resource is
	 * stored and matched as "" and read back as NULL.  consent_put inserts or replaces scope and
	 * granted_at. */
	int (*consent_put)(struct store *s, const struct store_consent *c);
	int (*consent_get)(struct store *s, const char *sub, const char *client_id, const char *resource,
	    struct store_consent *out);
	int (*consent_list)(struct store *s, const char *sub, void (*cb)(void *arg, const struct store_consent *c),
	    void *arg);
	/* consent_revoke: delete the consents (every resource) and revoke every
	 * family of (${sub}, ${client_id}) as family_revoke does.
	 * STORE_NOTFOUND if there was neither a consent nor a family. */
	int (*consent_revoke)(struct store *s, const char *sub, const char *client_id, int64_t now);
	/* refresh_list_active: calls ${cb} for each live (unrotated, unrevoked,
	 * unexpired) refresh token of ${sub}. */
	int (*refresh_list_active)(struct store *s, const char *sub, int64_t now,
	    void (*cb)(void *arg, const struct store_refresh *r), void *arg);

	/* Browser sessions. */
	int (*session_add)(struct store *s, const struct store_session *se);
	/* session_get: STORE_NOTFOUND if absent or expired at ${now}. */
	int (*session_get)(struct store *s, const char *digest, int64_t now, struct store_session *out);
	int (*session_del)(struct store *s, const char *digest);

	/* Pending authorization requests. */
	int (*authreq_add)(struct store *s, const struct store_authreq *a);
	/* authreq_get: STORE_NOTFOUND if absent or expired at ${now}. */
	int (*authreq_get)(struct store *s, const char *digest, int64_t now, struct store_authreq *out);
	/* authreq_take: atomically delete and return (single use). */
	int (*authreq_take)(struct store *s, const char *digest, int64_t now, struct store_authreq *out);

	/* Signing keys. */
	int (*key_add)(struct store *s, const struct store_key *k);
	/* key_list: every key, newest first. */
	int (*key_list)(struct store *s, void (*cb)(void *arg, const struct store_key *k), void *arg);
	/* key_retire: set retired_at and publish_until on ${kid}; STORE_NOTFOUND
	 * if there is no such key. */
	int (*key_retire)(struct store *s, const char *kid, int64_t retired_at, int64_t publish_until);

	/* purge: delete rows whose every expiry passed before ${now}: codes,
	 * sessions, pending requests, denylist entries, refresh tokens past
	 * their absolute expiry, recorded access tokens, families left with no
	 * token, and retired keys whose publish_until passed. */
	int (*purge)(struct store *s, int64_t now);

	size_t state_size; /* bytes of backend state in struct store */
};

struct store {
	const struct store_ops *ops;
	void *state; /* backend-private */
};

/* store_open(url): open the store named by ${url}: "sqlite:PATH" or a bare
 * path (SQLite), or a libpq connection URI "postgresql://..." or
 * "postgres://..." (PostgreSQL).  Creates the schema if needed.  NULL on
 * failure (logged; the log never shows the URL, which may hold a password). */
struct store *store_open(const char *url);

/* store_free(s): close and free; NULL does nothing. */
void store_free(struct store *s);

/* Release the strings of a returned struct; each leaves the struct zeroed. */
void store_user_clear(struct store_user *u);
void store_client_clear(struct store_client *c);
void store_code_clear(struct store_code *c);
void store_refresh_clear(struct store_refresh *r);
void store_consent_clear(struct store_consent *c);
void store_session_clear(struct store_session *s);
void store_authreq_clear(struct store_authreq *a);
void store_key_clear(struct store_key *k);

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

#endif
