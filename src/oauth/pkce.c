#include "oauth/pkce.h"

#include <string.h>

#include <openssl/evp.h>

#include "core/b64.h"

static int
unreserved(int c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	    c == '.' || c == '_' || c == '~');
}

int
pkce_verifier_valid(const char *v)
{
	size_t n = strlen(v), i;

	if (n < PKCE_VERIFIER_MIN || n > PKCE_VERIFIER_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!unreserved((unsigned char)v[i]))
			return (0);
	return (1);
}

int
pkce_challenge_valid(const char *c)
{
	unsigned char d[32];
	size_t n;

	if (strlen(c) != PKCE_CHALLENGE_LEN)
		return (0);
	return (b64url_decode(c, PKCE_CHALLENGE_LEN, d, sizeof(d), &n) == 0 && n == 32);
}

void
pkce_s256(const char *verifier, char out[PKCE_CHALLENGE_LEN + 1])
{
	unsigned char d[32];
	unsigned int dl;

	EVP_Digest(verifier, strlen(verifier), d, &dl, EVP_sha256(), NULL);
	b64url_encode(d, sizeof(d), out);
}
