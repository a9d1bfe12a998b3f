/*
 * token/keyring: the authorization server's signing keys.
 *
 * Keys are EC P-256 (ES256).  The private half is stored only sealed under
 * the master key (aead), with the kid as associated data so a sealed key
 * cannot be moved to another row.  One key is current and signs; retired
 * keys stay published in the JWKS until publish_until, which rotation sets
 * to the moment the last token they signed expires.
 *
 * Several processes share a store (serve and admin), so the keyring reloads
 * from the store when it meets a kid it does not know, and at most every
 * KEYRING_RELOAD_S seconds otherwise; a rotation by `admin keys rotate` is
 * picked up by a running server within that time.  Thread-safe.
 */
#ifndef MCPGATE_TOKEN_KEYRING_H
#define MCPGATE_TOKEN_KEYRING_H

#include <stdint.h>

#include <jansson.h>

#include "core/aead.h"

#define KEYRING_RELOAD_S 5
#define MASTERKEY_LEN AEAD_KEY_LEN

struct store;
struct keyring;

/* masterkey_load(path, env_b64, out): the master key from ${env_b64}
 * (base64url of 32 bytes) if not NULL, else from the file ${path}, which is
 * created with 32 random bytes and mode 0600 if it does not exist.  Refuses a
 * file readable by group or others.  Returns 0 or -1 (logged). */
int masterkey_load(const char *path, const char *env_b64, unsigned char out[MASTERKEY_LEN]);

/* keyring_open(st, master, now): load the keys from ${st}; create a first
 * current key if there is none.  Copies ${master}.  NULL on failure (a key
 * that does not decrypt under ${master} is a failure: wrong master key). */
struct keyring *keyring_open(struct store *st, const unsigned char master[MASTERKEY_LEN], int64_t now);

/* keyring_free(kr): wipe and free; NULL does nothing. */
void keyring_free(struct keyring *kr);

/* keyring_rotate(kr, now, publish_for, kid_out): make a new current key; the
 * old current key is retired and stays published until ${now} +
 * ${publish_for} seconds (the longest access-token lifetime).  Copies the new
 * kid into ${kid_out} (at least 64 bytes) if not NULL.  Returns 0 or -1. */
int keyring_rotate(struct keyring *kr, int64_t now, int64_t publish_for, char *kid_out);

/* keyring_sign(kr, claims, out): sign ${claims} as an at+jwt with the
 * current key; malloc'd token in ${out}.  Returns 0 or -1. */
int keyring_sign(struct keyring *kr, json_t *claims, char **out);

/* keyring_sign_text(kr, payload, plen, out): the same for claims given as
 * JSON text (see jwt_signer_sign_text()). */
int keyring_sign_text(struct keyring *kr, const char *payload, size_t plen, char **out);

/* keyring_verify(kr, tok, len, now, claims, why): verify the signature of
 * ${tok} against the published keys (ES256 pinned, see jwt_verify); claims
 * are not checked here.  0 with ${claims} set, or -1 with ${why}. */
int keyring_verify(struct keyring *kr, const char *tok, size_t len, int64_t now, json_t **claims,
    const char **why);

/* keyring_jwks(kr, now): the JWKS document {"keys":[...]} of every key
 * published at ${now} (public parts only; each with kid, use "sig", alg). */
json_t *keyring_jwks(struct keyring *kr, int64_t now);

#endif
