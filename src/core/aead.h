/*
 * aead: AES-256-GCM with a random 96-bit nonce, for data at rest (signing
 * private keys under the master key; the client's token file).
 *
 * Sealed form: nonce (12) | ciphertext (n) | tag (16).  Opening verifies the
 * tag before any plaintext is released; on failure the output is wiped.
 * Random nonces are safe here because each key seals few messages (far
 * below the 2^32 bound of NIST SP 800-38D).
 */
#ifndef MCPGATE_CORE_AEAD_H
#define MCPGATE_CORE_AEAD_H

#include <stddef.h>

#define AEAD_KEY_LEN 32
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16
#define AEAD_OVERHEAD (AEAD_NONCE_LEN + AEAD_TAG_LEN)

/* aead_seal(key, ad, adlen, pt, n, out): encrypt ${n} bytes of ${pt}, binding
 * ${adlen} bytes of associated data ${ad}, into ${out} (n + AEAD_OVERHEAD
 * bytes).  Returns 0 or -1. */
int aead_seal(const unsigned char key[AEAD_KEY_LEN], const void *ad, size_t adlen, const void *pt, size_t n,
    unsigned char *out);

/* aead_open(key, ad, adlen, in, n, out): authenticate and decrypt ${n} bytes
 * of sealed ${in} into ${out} (n - AEAD_OVERHEAD bytes).  Returns 0, or -1 if
 * ${n} is too short or the tag does not verify (wrong key, wrong ${ad},
 * altered data). */
int aead_open(const unsigned char key[AEAD_KEY_LEN], const void *ad, size_t adlen, const unsigned char *in,
    size_t n, unsigned char *out);

#endif
