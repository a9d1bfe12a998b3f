/*
 * oauth/pkce: Proof Key for Code Exchange (RFC 7636), S256 only.
 *
 * plain is never accepted: a challenge equal to its verifier protects
 * nothing once the authorization request is seen.
 */
#ifndef MCPGATE_OAUTH_PKCE_H
#define MCPGATE_OAUTH_PKCE_H

#include <stddef.h>

#define PKCE_VERIFIER_MIN 43
#define PKCE_VERIFIER_MAX 128
#define PKCE_CHALLENGE_LEN 43 /* base64url of a SHA-256 digest */

/* pkce_verifier_valid(v): 1 if ${v} is 43 to 128 characters of
 * [A-Za-z0-9-._~] (RFC 7636 section 4.1), else 0. */
int pkce_verifier_valid(const char *v);

/* pkce_challenge_valid(c): 1 if ${c} is exactly 43 base64url characters
 * that decode canonically to 32 bytes (the only possible S256 output). */
int pkce_challenge_valid(const char *c);

/* pkce_s256(verifier, out): BASE64URL(SHA256(ASCII(verifier))) into ${out}. */
void pkce_s256(const char *verifier, char out[PKCE_CHALLENGE_LEN + 1]);

#endif
