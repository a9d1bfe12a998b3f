/*
 * token/jwt: compact JWS (RFC 7515) access tokens per RFC 9068, over cjose.
 *
 * cjose is wrapped, not trusted: before cjose sees a token, jwt_verify()
 *   - caps the length (JWT_MAX_LEN) and requires exactly three segments of
 *     base64url characters;
 *   - decodes the header itself and requires "alg" to equal the pinned
 *     algorithm (never "none", never HS*: the key type decides nothing),
 *     "typ" to be "at+jwt" or "application/at+jwt" (case-insensitive), a
 *     "kid" naming a known key, and no "crit";
 *   - for ES256 requires the signature segment to be exactly 86 base64url
 *     characters (64 bytes, canonical): Debian's cjose 0.6.2 accepts a
 *     signature with a character appended, which would make tokens malleable
 *     and defeat revocation by token digest; for the same reason only the
 *     low-s form of the ECDSA signature is accepted (jwt_sign() makes it).
 * Only after the signature verifies are the claims parsed and returned.
 * jwt_check_claims() then checks iss, aud, exp, nbf and iat.
 */
#ifndef MCPGATE_TOKEN_JWT_H
#define MCPGATE_TOKEN_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <cjose/cjose.h>
#include <jansson.h>

#define JWT_MAX_LEN 8192
#define JWT_ES256_SIG_LEN 86

/* jwt_key_lookup_fn(arg, kid): the public key for ${kid}, or NULL.  The key
 * must stay valid until jwt_verify() returns. */
typedef cjose_jwk_t *(*jwt_key_lookup_fn)(void *arg, const char *kid);

struct jwt_signer;

/* jwt_signer_new(key, kid): a signer for the EC P-256 private ${key} under
 * header {"alg":"ES256","typ":"at+jwt","kid":${kid}}.  The header is encoded
 * once, and the private key is converted once into an OpenSSL key (checked
 * against its public half); ${key} is not kept.  Signing bypasses cjose, but
 * its output is the compact serialization cjose produces and verifies:
 * b64url(header) "." b64url(claims) "." b64url(r || s), the signature being
 * JWT_ES256_SIG_LEN characters, with s normalized to low s.  NULL on failure (not P-256, not private, a
 * kid empty or over 256 bytes, ENOMEM). */
struct jwt_signer *jwt_signer_new(cjose_jwk_t *key, const char *kid);

/* jwt_signer_free(s): wipe and free; NULL does nothing. */
void jwt_signer_free(struct jwt_signer *s);

/* jwt_signer_sign(s, claims, out): sign the JSON object ${claims}; stores a
 * malloc'd compact serialization in ${out}.  Returns 0 or -1 (${out} is then
 * untouched); a token longer than JWT_MAX_LEN is refused.  A signer may be
 * used by several threads at once. */
int jwt_signer_sign(struct jwt_signer *s, json_t *claims, char **out);

/* jwt_signer_sign_text(s, payload, plen, out): the same for claims given as
 * the ${plen} bytes of JSON text at ${payload}, which the caller guarantees
 * to be one JSON object in UTF-8 (it is not parsed here). */
int jwt_signer_sign_text(struct jwt_signer *s, const char *payload, size_t plen, char **out);

/* jwt_sign(key, kid, claims, out): jwt_signer_sign() with a signer made for
 * this one call.  Returns 0 or -1. */
int jwt_sign(cjose_jwk_t *key, const char *kid, json_t *claims, char **out);

/* jwt_verify(tok, len, alg, lookup, arg, claims, why): verify the token as
 * above with ${alg} pinned ("ES256").  On success stores the claims (new
 * reference) in ${claims} and returns 0; on failure returns -1 and points
 * ${why} at a static description fit for logs and error bodies (it never
 * contains token material). */
int jwt_verify(const char *tok, size_t len, const char *alg, jwt_key_lookup_fn lookup, void *arg,
    json_t **claims, const char **why);

/* jwt_check_claims(claims, iss, aud, now, skew, why): require "iss" equal to
 * ${iss}, "aud" equal to (or, as an array, containing) ${aud}, numeric "exp"
 * after ${now} - ${skew}, "nbf" (if present) and "iat" not after ${now} +
 * ${skew}, and string "sub", "client_id" and "jti".  0 or -1 with ${why}. */
int jwt_check_claims(json_t *claims, const char *iss, const char *aud, int64_t now, int64_t skew,
    const char **why);

/* jwt_numeric_date(v, out): the NumericDate (RFC 7519 section 2) ${v}, an
 * integer or a finite real (truncated), in ${out}.  Returns 0, or -1 if ${v}
 * is not one. */
int jwt_numeric_date(json_t *v, int64_t *out);

#endif
