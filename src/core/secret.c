#include "core/secret.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/b64.h"

void
secret_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}

int
secret_eq(const void *a, const void *b, size_t n)
{
	return (CRYPTO_memcmp(a, b, n) == 0);
}

/* SHA-256, fetched once: EVP_sha256() makes OpenSSL 3 look the
 * implementation up again on every digest. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_fetched;

static void
sha256_fetch(void)
{
	sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return (sha256_fetched != NULL ? sha256_fetched : EVP_sha256());
}

int
secret_streq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char da[32], db[32];
	unsigned int dl;
	int eq;

	/* Compare fixed-length digests so that no prefix of either leaks. */
	EVP_Digest(a, la, da, &dl, sha256(), NULL);
	EVP_Digest(b, lb, db, &dl, sha256(), NULL);
	eq = CRYPTO_memcmp(da, db, sizeof(da)) == 0 && la == lb;
	secret_wipe(da, sizeof(da));
	secret_wipe(db, sizeof(db));
	return (eq);
}

int
secret_random(void *p, size_t n)
{
	if (n > (size_t)0x7fffffff || RAND_bytes(p, (int)n) != 1) {
		secret_wipe(p, n);
		return (-1);
	}
	return (0);
}

int
secret_token(char out[SECRET_TOKEN_LEN + 1])
{
	unsigned char raw[SECRET_TOKEN_BYTES];

	if (secret_random(raw, sizeof(raw)))
		return (-1);
	b64url_encode(raw, sizeof(raw), out);
	secret_wipe(raw, sizeof(raw));
	return (0);
}

void
secret_digest(const void *p, size_t n, char out[SECRET_DIGEST_LEN + 1])
{
	unsigned char d[32];
	unsigned int dl;

	EVP_Digest(p, n, d, &dl, sha256(), NULL);
	b64url_encode(d, sizeof(d), out);
}
