/*
 * libFuzzer driver for jwt_verify() (and jwt_check_claims()).
 *
 * The verification key is fixed (its public half is below; the private half
 * was used once to sign the valid-*.jwt seeds and is not kept), so the
 * fuzzer starts from real tokens and mutates them.  Invariant: the only
 * inputs that verify are those seeds, byte for byte.  Anything else that
 * verifies is a forgery or a second spelling of a token (malleability),
 * and aborts.  An accepted token must also verify again to equal claims.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token/jwt.h"

static const char pub_jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
			      "\"x\":\"aM5sqdjzoNYO-Jc_wIL99ty7vOMLQul5Y2DtKXWNrME\","
			      "\"y\":\"5qLYqsN6sxHRQzUbsYGT6dCyLc1u-o7as-c69PaJ0eI\"}";

/* The seeds tests/fuzz/corpus/fuzz_jwt/valid-{1,2,3}.jwt. */
static const char *const signed_by_us[] = {
	    "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImZ1enota2V5In0.eyJpc3Mi"
	    "OiJodHRwczovL2FzLmV4YW1wbGUiLCJhdWQiOiJodHRwczovL21jcC5leGFtcGxlL21jcCIs"
	    "InN1YiI6InVzZXItMSIsImNsaWVudF9pZCI6ImNsaWVudC0xIiwianRpIjoianRpLTEiLCJp"
	    "YXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDMwMCwic2NvcGUiOiJtY3A6dG9vbHMifQ.s"
	    "CRxjEApXxQOWsXr0VZ2RzdYwcXmMvms49L3b1RWTTpCkR2roa-jCi4YyTVTOpljwiFKEYace"
	    "JqINMC6xS3vvg",
	    "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImZ1enota2V5In0.eyJpc3Mi"
	    "OiJodHRwczovL2FzLmV4YW1wbGUiLCJhdWQiOlsiaHR0cHM6Ly9tY3AuZXhhbXBsZS9tY3Ai"
	    "LCJ4Il0sInN1YiI6InUiLCJjbGllbnRfaWQiOiJjIiwianRpIjoiaiIsImlhdCI6MSwibmJm"
	    "IjoxLCJleHAiOjIuNX0.jsbhwH14W6xdMEEHUUM925-TzCPpKGAD2Qb61G7jdgpFMo2C6sg3"
	    "d9Fsd2lm9Yy-fLVPnZKAs6uM1tBNLc7wgg",
	    "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImZ1enota2V5In0.e30.X5LX"
	    "2gwzM6uUQ6FDo2RlQphIhzFTMBQAqsr7q3AeGAMoXAhxig3ImC5AP5CsLu8zGgSanSuu5Mbn"
	    "MWkFEhkykg",
};

static cjose_jwk_t *ec_key, *oct_key;

/* kid "fuzz-key" is the EC key; "fuzz-oct" an HMAC key, which must never
 * be used; anything else is unknown. */
static cjose_jwk_t *
lookup(void *arg, const char *kid)
{
	(void)arg;
	if (strcmp(kid, "fuzz-key") == 0)
		return (ec_key);
	if (strcmp(kid, "fuzz-oct") == 0)
		return (oct_key);
	return (NULL);
}

static void
init(void)
{
	static const uint8_t secret[32] = {1, 2, 3};
	cjose_err err;

	if ((ec_key = cjose_jwk_import(pub_jwk, strlen(pub_jwk), &err)) == NULL)
		abort();
	if ((oct_key = cjose_jwk_create_oct_spec(secret, sizeof(secret), &err)) == NULL)
		abort();
}

static int
is_ours(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(signed_by_us) / sizeof(signed_by_us[0]); i++) {
		if (strlen(signed_by_us[i]) == size && memcmp(signed_by_us[i], data, size) == 0)
			return (1);
	}
	return (0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *claims = NULL, *again = NULL, *j;
	const char *why = NULL;

	if (ec_key == NULL)
		init();

	if (jwt_verify((const char *)data, size, "ES256", lookup, NULL, &claims, &why) == 0) {
		if (claims == NULL || why != NULL || !is_ours(data, size))
			abort();
		if (jwt_verify((const char *)data, size, "ES256", lookup, NULL, &again, &why) != 0 ||
		    !json_equal(claims, again))
			abort();
		(void)jwt_check_claims(claims, "https://as.example", "https://mcp.example/mcp",
		    1700000100, 60, &why);
		json_decref(again);
		json_decref(claims);
	} else if (claims != NULL || why == NULL) {
		abort();
	}

	/* The claims checker, on any JSON the input happens to be. */
	if ((j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL)) != NULL) {
		(void)jwt_check_claims(j, "https://as.example", "https://mcp.example/mcp", 1700000100, 60,
		    &why);
		json_decref(j);
	}
	return (0);
}
