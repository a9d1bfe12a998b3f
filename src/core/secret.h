/*
 * secret: handling of key material and credentials.
 *
 * WARNING: every comparison of a secret, or of a digest of one, must use
 * secret_eq(); memcmp() and strcmp() leak through timing how many leading
 * bytes matched.  Every buffer that held a secret must be wiped with
 * secret_wipe() on every exit path before it is freed or goes out of scope.
 */
#ifndef MCPGATE_CORE_SECRET_H
#define MCPGATE_CORE_SECRET_H

#include <stddef.h>

/* secret_wipe(p, n): overwrite ${n} bytes at ${p} with zeros in a way the
 * compiler may not remove.  ${p} may be NULL when ${n} is 0. */
void secret_wipe(void *p, size_t n);

/* secret_eq(a, b, n): 1 if the ${n} bytes at ${a} and ${b} are equal, else 0,
 * in time that depends only on ${n}. */
int secret_eq(const void *a, const void *b, size_t n);

/* secret_streq(a, b): constant-time equality of two NUL-terminated strings.
 * The time depends on the lengths but not on where the strings differ. */
int secret_streq(const char *a, const char *b);

/* secret_random(p, n): fill ${p} with ${n} bytes from the system CSPRNG.
 * Returns 0, or -1 if the generator failed (then ${p} is wiped). */
int secret_random(void *p, size_t n);

/* SECRET_TOKEN_BYTES: entropy of a generated token (256 bits). */
#define SECRET_TOKEN_BYTES 32
/* SECRET_TOKEN_LEN: characters of its base64url text form (no padding). */
#define SECRET_TOKEN_LEN 43

/* secret_token(out): write a fresh random token of SECRET_TOKEN_BYTES bytes
 * as SECRET_TOKEN_LEN base64url characters plus a NUL into ${out}.
 * Returns 0 or -1 (CSPRNG failure). */
int secret_token(char out[SECRET_TOKEN_LEN + 1]);

/* SECRET_DIGEST_LEN: characters of a digest in text form (SHA-256, base64url). */
#define SECRET_DIGEST_LEN 43

/* secret_digest(p, n, out): SHA-256 of ${n} bytes at ${p} as base64url text
 * (SECRET_DIGEST_LEN characters plus a NUL) in ${out}.  This is the form in
 * which codes, refresh tokens, client secrets and cookie values are stored. */
void secret_digest(const void *p, size_t n, char out[SECRET_DIGEST_LEN + 1]);

#endif
