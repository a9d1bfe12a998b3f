#include "token/jwt.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include "core/b64.h"
#include "core/secret.h"

/* Longest kid we accept in a header (the store's limit on identifiers). */
#define JWT_KID_MAX 256

/* The order n of the P-256 group, and n / 2 rounded down, big-endian. */
static const unsigned char p256_n[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const unsigned char p256_half_n[32] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

/* Header members that would make the token name its own key or change how
 * it is processed.  We never fetch or embed keys, and understand no
 * critical extension. */
static const char *const forbidden_hdr[] = {"crit", "jku", "x5u", "jwk", "x5c", NULL};

/* is_b64url(p, n): 1 if the ${n} bytes at ${p} are all base64url characters. */
static int
is_b64url(const char *p, size_t n)
{
	size_t i;
	char c;

	for (i = 0; i < n; i++) {
		c = p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			c == '_'))
			return (0);
	}
	return (1);
}

/* decode_seg(p, n, out, outlen): decode the canonical base64url segment
 * ${p}/${n} into a malloc'd buffer (NUL-terminated for convenience).
 * Returns 0 or -1. */
static int
decode_seg(const char *p, size_t n, unsigned char **out, size_t *outlen)
{
	size_t cap = n / 4 * 3 + 3;
	unsigned char *b;

	if ((b = malloc(cap + 1)) == NULL)
		return (-1);
	if (b64url_decode(p, n, b, cap, outlen)) {
		free(b);
		return (-1);
	}
	b[*outlen] = '\0';
	*out = b;
	return (0);
}

/* is_p256(key): 1 if ${key} is an EC key on P-256.  The key's type, not the
 * token, decides which verification runs; an oct (HMAC) key must never be
 * reachable from an ES256 token, nor the reverse. */
static int
is_p256(const cjose_jwk_t *key)
{
	cjose_err err;

	if (key == NULL || cjose_jwk_get_kty(key, &err) != CJOSE_JWK_KTY_EC)
		return (0);
	return (cjose_jwk_EC_get_curve(key, &err) == CJOSE_JWK_EC_P_256);
}

/* Signing contexts kept ready (sign_init done) for concurrent signers; a
 * thread that finds them all in use makes a temporary one. */
#define JWT_SIGN_SLOTS 8

/* A P-256 private key ready to sign, and the encoded header that goes with
 * it.  Immutable once made, except for the busy flags of the contexts, so
 * threads share it. */
struct jwt_signer {
	EVP_PKEY *pkey;
	EVP_MD *sha256;
	EVP_PKEY_CTX *ctx[JWT_SIGN_SLOTS];
	atomic_flag busy[JWT_SIGN_SLOTS];
	char *hdr;	/* b64url of {"alg":"ES256","typ":"at+jwt","kid":...} */
	size_t hdrlen;
};

/* sign_ctx(pkey): a signing context for ${pkey}, or NULL. */
static EVP_PKEY_CTX *
sign_ctx(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx;

	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL)
		return (NULL);
	if (EVP_PKEY_sign_init(ctx) != 1) {
		EVP_PKEY_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

/* coord(j, name, out): decode the 32-byte base64url member ${name} of the
 * JWK ${j} into ${out}.  Returns 0 or -1. */
static int
coord(json_t *j, const char *name, unsigned char out[32])
{
	json_t *v = json_object_get(j, name);
	size_t n;

	if (!json_is_string(v) || b64url_decode(json_string_value(v), json_string_length(v), out, 32, &n) ||
	    n != 32)
		return (-1);
	return (0);
}

/* wipe_member(j, name): overwrite the string member ${name} of ${j} in place,
 * so that freeing ${j} leaves no copy of it. */
static void
wipe_member(json_t *j, const char *name)
{
	json_t *v = json_object_get(j, name);

	if (json_is_string(v))
		secret_wipe((char *)json_string_value(v), json_string_length(v));
}

/* evp_of(key): the private P-256 ${key} as an OpenSSL key, after checking
 * that its private and public halves belong together.  NULL on failure. */
static EVP_PKEY *
evp_of(cjose_jwk_t *key)
{
	unsigned char d[32], pub[65];
	cjose_err err;
	char *text;
	json_t *j;
	BIGNUM *bd = NULL;
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if ((text = cjose_jwk_to_json(key, true, &err)) == NULL)
		return (NULL);
	j = json_loads(text, 0, NULL);
	secret_wipe(text, strlen(text));
	cjose_get_dealloc()(text);
	if (j == NULL)
		return (NULL);
	pub[0] = 0x04; /* uncompressed point */
	if (coord(j, "d", d) || coord(j, "x", pub + 1) || coord(j, "y", pub + 33))
		goto out;
	if ((bd = BN_secure_new()) == NULL || BN_bin2bn(d, sizeof(d), bd) == NULL)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		goto out;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bd))
		params = OSSL_PARAM_BLD_to_param(bld);
	OSSL_PARAM_BLD_free(bld);
	if (params == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	EVP_PKEY_CTX_free(ctx);
	/* A public half that does not match would make every token fail
	 * verification against the published key. */
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_pairwise_check(ctx) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(ctx);
	/* The key, from a secure BIGNUM, sits in secure memory, cleared here. */
	OSSL_PARAM_free(params);
	BN_clear_free(bd);
	secret_wipe(d, sizeof(d));
	wipe_member(j, "d");
	json_decref(j);
	return (pkey);
}

/* jwt_signer_new(key, kid): a signer for the EC P-256 private ${key} under
 * kid ${kid}, or NULL. */
struct jwt_signer *
jwt_signer_new(cjose_jwk_t *key, const char *kid)
{
	struct jwt_signer *s;
	json_t *hdr;
	char *text;
	size_t n, i;

	if (!is_p256(key) || kid == NULL || *kid == '\0' || strlen(kid) > JWT_KID_MAX)
		goto err0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto err0;
	if ((hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "at+jwt", "kid", kid)) == NULL)
		goto err1;
	text = json_dumps(hdr, JSON_COMPACT);
	json_decref(hdr);
	if (text == NULL)
		goto err1;
	n = strlen(text);
	if ((s->hdr = malloc(B64URL_LEN(n) + 1)) == NULL) {
		free(text);
		goto err1;
	}
	b64url_encode(text, n, s->hdr);
	s->hdrlen = B64URL_LEN(n);
	free(text);
	if ((s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		goto err2;
	if ((s->pkey = evp_of(key)) == NULL)
		goto err3;
	for (i = 0; i < JWT_SIGN_SLOTS; i++) {
		atomic_flag_clear(&s->busy[i]);
		if ((s->ctx[i] = sign_ctx(s->pkey)) == NULL)
			goto err4;
	}
	return (s);

err4:
	while (i-- > 0)
		EVP_PKEY_CTX_free(s->ctx[i]);
	EVP_PKEY_free(s->pkey);
err3:
	EVP_MD_free(s->sha256);
err2:
	free(s->hdr);
err1:
	free(s);
err0:
	return (NULL);
}

/* jwt_signer_free(s): wipe and free; NULL does nothing. */
void
jwt_signer_free(struct jwt_signer *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < JWT_SIGN_SLOTS; i++)
		EVP_PKEY_CTX_free(s->ctx[i]);
	EVP_PKEY_free(s->pkey);
	EVP_MD_free(s->sha256);
	free(s->hdr);
	free(s);
}

/* high_s(sig): 1 if the s half of the raw ES256 signature ${sig} (r | s,
 * 32 bytes each, big-endian) is above n / 2.  For an ECDSA signature (r, s),
 * (r, n - s) verifies too; accepting only the low one gives every token a
 * single valid signature for a given r. */
static int
high_s(const unsigned char sig[64])
{
	return (memcmp(sig + 32, p256_half_n, 32) > 0);
}

/* to_low_s(sig): replace s by n - s in ${sig} (s is in [1, n - 1]). */
static void
to_low_s(unsigned char sig[64])
{
	unsigned borrow = 0, d;
	int i;

	for (i = 31; i >= 0; i--) {
		d = (unsigned)p256_n[i] - sig[32 + i] - borrow;
		sig[32 + i] = (unsigned char)d;
		borrow = (d >> 8) & 1;
	}
}

/* es256(s, in, n, sig): ECDSA P-256 / SHA-256 signature of the ${n} bytes
 * at ${in}, as JWS wants it: r and s, 32 bytes each, big-endian (RFC 7518
 * section 3.4), where OpenSSL gives DER; s normalized to low s, the only
 * form jwt_verify() accepts.  The digest is taken with the
 * signer's pre-fetched SHA-256 and the signature made with one of its ready
 * contexts: EVP_DigestSignInit() would fetch both algorithms and build a
 * context on every call.  Returns 0 or -1. */
static int
es256(struct jwt_signer *s, const char *in, size_t n, unsigned char sig[64])
{
	unsigned char h[32], der[80];
	const unsigned char *p = der;
	size_t derlen = sizeof(der), i;
	EVP_PKEY_CTX *ctx = NULL, *tmp = NULL;
	ECDSA_SIG *es;
	const BIGNUM *br, *bs;
	int rc = -1;

	if (EVP_Digest(in, n, h, NULL, s->sha256, NULL) != 1)
		return (-1);
	for (i = 0; i < JWT_SIGN_SLOTS; i++) {
		if (!atomic_flag_test_and_set_explicit(&s->busy[i], memory_order_acquire)) {
			ctx = s->ctx[i];
			break;
		}
	}
	if (ctx == NULL && (ctx = tmp = sign_ctx(s->pkey)) == NULL)
		return (-1);
	if (EVP_PKEY_sign(ctx, der, &derlen, h, sizeof(h)) != 1)
		goto out;
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		goto out;
	ECDSA_SIG_get0(es, &br, &bs);
	if (BN_bn2binpad(br, sig, 32) == 32 && BN_bn2binpad(bs, sig + 32, 32) == 32) {
		if (high_s(sig))
			to_low_s(sig);
		rc = 0;
	}
	ECDSA_SIG_free(es);
out:
	if (tmp != NULL)
		EVP_PKEY_CTX_free(tmp);
	else
		atomic_flag_clear_explicit(&s->busy[i], memory_order_release);
	return (rc);
}

/* jwt_signer_sign_text(s, payload, plen, out): sign the ${plen} bytes of
 * claims text at ${payload} into a malloc'd compact serialization in ${out}.
 * Returns 0 or -1. */
int
jwt_signer_sign_text(struct jwt_signer *s, const char *payload, size_t plen, char **out)
{
	unsigned char sig[64];
	size_t inlen, len;
	char *tok;

	if (s == NULL || payload == NULL || plen == 0 || plen > JWT_MAX_LEN)
		return (-1);
	inlen = s->hdrlen + 1 + B64URL_LEN(plen);
	if ((len = inlen + 1 + JWT_ES256_SIG_LEN) > JWT_MAX_LEN)
		return (-1);
	if ((tok = malloc(len + 1)) == NULL)
		return (-1);
	memcpy(tok, s->hdr, s->hdrlen);
	tok[s->hdrlen] = '.';
	b64url_encode(payload, plen, tok + s->hdrlen + 1);
	if (es256(s, tok, inlen, sig)) {
		free(tok);
		return (-1);
	}
	tok[inlen] = '.';
	b64url_encode(sig, sizeof(sig), tok + inlen + 1);
	*out = tok;
	return (0);
}

/* jwt_signer_sign(s, claims, out): sign the JSON object ${claims} into a
 * malloc'd compact serialization in ${out}.  Returns 0 or -1. */
int
jwt_signer_sign(struct jwt_signer *s, json_t *claims, char **out)
{
	char *payload;
	int rc;

	if (s == NULL || !json_is_object(claims))
		return (-1);
	if ((payload = json_dumps(claims, JSON_COMPACT)) == NULL)
		return (-1);
	rc = jwt_signer_sign_text(s, payload, strlen(payload), out);
	free(payload);
	return (rc);
}

/* jwt_sign(key, kid, claims, out): jwt_signer_sign() with a signer made for
 * this one call.  Returns 0 or -1. */
int
jwt_sign(cjose_jwk_t *key, const char *kid, json_t *claims, char **out)
{
	struct jwt_signer *s;
	int rc;

	if ((s = jwt_signer_new(key, kid)) == NULL)
		return (-1);
	rc = jwt_signer_sign(s, claims, out);
	jwt_signer_free(s);
	return (rc);
}

/* check_header(hdr, alg, lookup, arg, keyp, why): the header checks of
 * jwt_verify(); stores the looked-up key in ${keyp}. */
static int
check_header(json_t *hdr, const char *alg, jwt_key_lookup_fn lookup, void *arg, cjose_jwk_t **keyp,
    const char **why)
{
	json_t *v;
	const char *kid, *typ;
	size_t i;

	if (!json_is_object(hdr)) {
		*why = "malformed header";
		return (-1);
	}
	v = json_object_get(hdr, "alg");
	if (!json_is_string(v) || strcmp(json_string_value(v), alg) != 0) {
		*why = "unexpected alg";
		return (-1);
	}
	v = json_object_get(hdr, "typ");
	if (!json_is_string(v)) {
		*why = "missing typ";
		return (-1);
	}
	typ = json_string_value(v);
	if (strcasecmp(typ, "at+jwt") != 0 && strcasecmp(typ, "application/at+jwt") != 0) {
		*why = "unexpected typ";
		return (-1);
	}
	for (i = 0; forbidden_hdr[i] != NULL; i++) {
		if (json_object_get(hdr, forbidden_hdr[i]) != NULL) {
			*why = "unsupported header parameter";
			return (-1);
		}
	}
	v = json_object_get(hdr, "kid");
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > JWT_KID_MAX) {
		*why = "missing kid";
		return (-1);
	}
	kid = json_string_value(v);
	if (strlen(kid) != json_string_length(v)) {
		*why = "missing kid";
		return (-1);
	}
	if ((*keyp = lookup(arg, kid)) == NULL) {
		*why = "unknown kid";
		return (-1);
	}
	if (!is_p256(*keyp)) {
		*why = "key is not P-256";
		return (-1);
	}
	return (0);
}

/* jwt_verify(tok, len, alg, lookup, arg, claims, why): verify the token with
 * ${alg} pinned ("ES256").  On success stores the claims (new reference) in
 * ${claims} and returns 0; on failure returns -1 and points ${why} at a
 * static description fit for logs and error bodies (it never contains token
 * material).
 *
 * The signature must be the single canonical spelling: 86 characters that
 * decode to 64 bytes with no spare bits set, and s not above n / 2.
 *
 * Order matters: every syntactic check and the header policy run here
 * before cjose parses anything, the signature is checked by cjose with the
 * key we chose, and the claims are parsed only once it holds. */
int
jwt_verify(const char *tok, size_t len, const char *alg, jwt_key_lookup_fn lookup, void *arg,
    json_t **claims, const char **why)
{
	const char *dot1, *dot2, *seg;
	size_t hlen, plen, slen, n;
	unsigned char *hdrb, *payb, sig[64];
	json_t *hdr, *payload;
	cjose_jwk_t *key;
	cjose_jws_t *jws;
	cjose_err err;

	*claims = NULL;
	*why = "invalid token";

	/* Algorithm pinned by the caller: only ES256 exists here. */
	if (alg == NULL || strcmp(alg, "ES256") != 0) {
		*why = "unsupported algorithm";
		goto err0;
	}

	/* Shape: bounded length, three base64url segments. */
	if (tok == NULL || len == 0) {
		*why = "empty token";
		goto err0;
	}
	if (len > JWT_MAX_LEN) {
		*why = "token too long";
		goto err0;
	}
	if ((dot1 = memchr(tok, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok))) == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - tok)) != NULL) {
		*why = "not a compact JWS";
		goto err0;
	}
	hlen = (size_t)(dot1 - tok);
	plen = (size_t)(dot2 - dot1 - 1);
	slen = len - (size_t)(dot2 + 1 - tok);
	if (hlen == 0 || plen == 0 || !is_b64url(tok, hlen) || !is_b64url(dot1 + 1, plen) ||
	    !is_b64url(dot2 + 1, slen)) {
		*why = "not a compact JWS";
		goto err0;
	}

	/* The signature: exactly 64 bytes, canonically encoded.  cjose would
	 * accept trailing junk here, making the token malleable. */
	seg = dot2 + 1;
	if (slen != JWT_ES256_SIG_LEN || b64url_decode(seg, slen, sig, sizeof(sig), &n) || n != 64) {
		*why = "bad signature encoding";
		goto err0;
	}
	/* And the low-s one of its two valid forms (see high_s()). */
	if (high_s(sig)) {
		*why = "non-canonical signature";
		goto err0;
	}

	/* Header: our own decoding and parse, duplicates refused so that
	 * cjose's later parse cannot see a different "alg". */
	if (decode_seg(tok, hlen, &hdrb, &n)) {
		*why = "bad header encoding";
		goto err0;
	}
	hdr = json_loadb((const char *)hdrb, n, JSON_REJECT_DUPLICATES, NULL);
	free(hdrb);
	if (hdr == NULL) {
		*why = "malformed header";
		goto err0;
	}
	if (check_header(hdr, alg, lookup, arg, &key, why))
		goto err1;

	/* Payload: canonical encoding (it is only parsed after verification). */
	if (decode_seg(dot1 + 1, plen, &payb, &n)) {
		*why = "bad payload encoding";
		goto err1;
	}

	/* Signature, by cjose, over exactly the text we checked. */
	if ((jws = cjose_jws_import(tok, len, &err)) == NULL) {
		*why = "malformed token";
		goto err2;
	}
	if (!cjose_jws_verify(jws, key, &err)) {
		*why = "bad signature";
		goto err3;
	}

	/* Only now look at the claims. */
	payload = json_loadb((const char *)payb, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(payload)) {
		json_decref(payload);
		*why = "malformed claims";
		goto err3;
	}
	cjose_jws_release(jws);
	free(payb);
	json_decref(hdr);
	*claims = payload;
	*why = NULL;
	return (0);

err3:
	cjose_jws_release(jws);
err2:
	free(payb);
err1:
	json_decref(hdr);
err0:
	return (-1);
}

/* jwt_numeric_date(v, out): the NumericDate ${v} (integer, or a finite real
 * truncated) in ${out}.  Returns 0, or -1 if ${v} is not one. */
int
jwt_numeric_date(json_t *v, int64_t *out)
{
	double d;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return (0);
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (!isfinite(d) || d < -4e18 || d > 4e18)
			return (-1);
		*out = (int64_t)d;
		return (0);
	}
	return (-1);
}

/* nonempty_string(claims, name): 1 if ${claims} has a non-empty string ${name}. */
static int
nonempty_string(json_t *claims, const char *name)
{
	json_t *v = json_object_get(claims, name);

	return (json_is_string(v) && json_string_length(v) > 0);
}

/* jwt_check_claims(claims, iss, aud, now, skew, why): require "iss" equal to
 * ${iss}, "aud" equal to (or, as an array, containing) ${aud}, numeric "exp"
 * after ${now} - ${skew}, "nbf" (if present) and "iat" not after ${now} +
 * ${skew}, and string "sub", "client_id" and "jti".  0 or -1 with ${why}. */
int
jwt_check_claims(json_t *claims, const char *iss, const char *aud, int64_t now, int64_t skew,
    const char **why)
{
	json_t *v, *a;
	int64_t t;
	size_t i;
	int found;

	if (!json_is_object(claims) || iss == NULL || aud == NULL || skew < 0 || skew > 86400 ||
	    now < -4000000000000000000LL || now > 4000000000000000000LL) {
		*why = "invalid claims";
		return (-1);
	}
	v = json_object_get(claims, "iss");
	if (!json_is_string(v) || strcmp(json_string_value(v), iss) != 0) {
		*why = "wrong issuer";
		return (-1);
	}
	v = json_object_get(claims, "aud");
	found = 0;
	if (json_is_string(v))
		found = strcmp(json_string_value(v), aud) == 0;
	else if (json_is_array(v)) {
		json_array_foreach(v, i, a) {
			if (json_is_string(a) && strcmp(json_string_value(a), aud) == 0)
				found = 1;
		}
	}
	if (!found) {
		*why = "wrong audience";
		return (-1);
	}
	if (jwt_numeric_date(json_object_get(claims, "exp"), &t)) {
		*why = "missing exp";
		return (-1);
	}
	if (t <= now - skew) {
		*why = "token expired";
		return (-1);
	}
	if ((v = json_object_get(claims, "nbf")) != NULL) {
		if (jwt_numeric_date(v, &t)) {
			*why = "invalid nbf";
			return (-1);
		}
		if (t > now + skew) {
			*why = "token not yet valid";
			return (-1);
		}
	}
	if (jwt_numeric_date(json_object_get(claims, "iat"), &t)) {
		*why = "missing iat";
		return (-1);
	}
	if (t > now + skew) {
		*why = "token issued in the future";
		return (-1);
	}
	if (!nonempty_string(claims, "sub") || !nonempty_string(claims, "client_id") ||
	    !nonempty_string(claims, "jti")) {
		*why = "missing sub, client_id or jti";
		return (-1);
	}
	*why = NULL;
	return (0);
}
