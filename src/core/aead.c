#include "core/aead.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/secret.h"

/* Largest plaintext we seal: EVP takes int lengths, and nothing we keep at
 * rest comes near this. */
#define AEAD_MAX_LEN ((size_t)INT_MAX - AEAD_OVERHEAD)

/* seal_nonce(key, nonce, ad, adlen, pt, n, out): aead_seal() with the given
 * ${nonce} instead of a random one.  Only for aead_seal() and known-answer
 * tests: a nonce must never be used twice under one key. */
static int
seal_nonce(const unsigned char key[AEAD_KEY_LEN], const unsigned char nonce[AEAD_NONCE_LEN], const void *ad,
    size_t adlen, const void *pt, size_t n, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char *ct = out + AEAD_NONCE_LEN;
	int len;

	if (n > AEAD_MAX_LEN || adlen > INT_MAX)
		goto err0;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto err0;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1)
		goto err1;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AEAD_NONCE_LEN, NULL) != 1)
		goto err1;
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
		goto err1;
	if (adlen > 0 && EVP_EncryptUpdate(ctx, NULL, &len, ad, (int)adlen) != 1)
		goto err1;
	if (n > 0 && (EVP_EncryptUpdate(ctx, ct, &len, pt, (int)n) != 1 || (size_t)len != n))
		goto err1;
	if (EVP_EncryptFinal_ex(ctx, ct + n, &len) != 1 || len != 0)
		goto err1;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_LEN, ct + n) != 1)
		goto err1;
	memmove(out, nonce, AEAD_NONCE_LEN);
	EVP_CIPHER_CTX_free(ctx);
	return (0);

err1:
	EVP_CIPHER_CTX_free(ctx);
	secret_wipe(out, n + AEAD_OVERHEAD);
err0:
	return (-1);
}

/* aead_seal(key, ad, adlen, pt, n, out): encrypt ${n} bytes of ${pt}, binding
 * ${adlen} bytes of associated data ${ad}, into ${out} (n + AEAD_OVERHEAD
 * bytes).  Returns 0 or -1. */
int
aead_seal(const unsigned char key[AEAD_KEY_LEN], const void *ad, size_t adlen, const void *pt, size_t n,
    unsigned char *out)
{
	unsigned char nonce[AEAD_NONCE_LEN];

	if (secret_random(nonce, sizeof(nonce)))
		return (-1);
	return (seal_nonce(key, nonce, ad, adlen, pt, n, out));
}

/* aead_open(key, ad, adlen, in, n, out): authenticate and decrypt ${n} bytes
 * of sealed ${in} into ${out} (n - AEAD_OVERHEAD bytes).  Returns 0, or -1 if
 * ${n} is too short or the tag does not verify (wrong key, wrong ${ad},
 * altered data).  On failure ${out} is wiped: GCM decrypts before it
 * authenticates, so the bytes written there are unauthenticated. */
int
aead_open(const unsigned char key[AEAD_KEY_LEN], const void *ad, size_t adlen, const unsigned char *in,
    size_t n, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char tag[AEAD_TAG_LEN];
	size_t ptlen;
	int len;

	if (n < AEAD_OVERHEAD || n - AEAD_OVERHEAD > AEAD_MAX_LEN || adlen > INT_MAX)
		goto err0;
	ptlen = n - AEAD_OVERHEAD;
	/* Copy the tag first: ${out} may not alias ${in}, but be safe anyway. */
	memcpy(tag, in + n - AEAD_TAG_LEN, AEAD_TAG_LEN);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto err0;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1)
		goto err1;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AEAD_NONCE_LEN, NULL) != 1)
		goto err1;
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, key, in) != 1)
		goto err1;
	if (adlen > 0 && EVP_DecryptUpdate(ctx, NULL, &len, ad, (int)adlen) != 1)
		goto err1;
	if (ptlen > 0 &&
	    (EVP_DecryptUpdate(ctx, out, &len, in + AEAD_NONCE_LEN, (int)ptlen) != 1 || (size_t)len != ptlen))
		goto err1;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_LEN, tag) != 1)
		goto err1;
	/* The tag is checked here; nothing before this point is authentic. */
	if (EVP_DecryptFinal_ex(ctx, out + ptlen, &len) != 1 || len != 0)
		goto err1;
	EVP_CIPHER_CTX_free(ctx);
	return (0);

err1:
	EVP_CIPHER_CTX_free(ctx);
	secret_wipe(out, ptlen);
err0:
	return (-1);
}
