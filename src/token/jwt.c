#include "token/jwt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* jwt_sign(key, kid, claims, out): sign ${claims} with the EC P-256 private
 * ${key} under header {"alg":"ES256","typ":"at+jwt","kid":${kid}}; stores a
 * malloc'd compact serialization in ${out}.  Returns 0 or -1.  A token longer
 * than JWT_MAX_LEN is refused, since jwt_verify() would refuse it too.  The
 * signature is normalized to low s, the only form jwt_verify() accepts. */
int
jwt_sign(cjose_jwk_t *key, const char *kid, json_t *claims, char **out)
{
	cjose_err err;
	cjose_jws_t *jws;
	json_t *hdr;
	const char *ser, *dot;
	char *payload, *tok;
	unsigned char sig[64];
	size_t n, slen;

	if (!is_p256(key) || kid == NULL || *kid == '\0' || strlen(kid) > JWT_KID_MAX ||
	    !json_is_object(claims))
		goto err0;
	if ((hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "at+jwt", "kid", kid)) == NULL)
		goto err0;
	if ((payload = json_dumps(claims, JSON_COMPACT)) == NULL)
		goto err1;
	if ((jws = cjose_jws_sign(key, hdr, (const uint8_t *)payload, strlen(payload), &err)) == NULL)
		goto err2;
	if (!cjose_jws_export(jws, &ser, &err) || strlen(ser) > JWT_MAX_LEN)
		goto err3;
	if ((dot = strrchr(ser, '.')) == NULL || (slen = strlen(dot + 1)) != JWT_ES256_SIG_LEN ||
	    b64url_decode(dot + 1, slen, sig, sizeof(sig), &n) || n != sizeof(sig))
		goto err3;
	if ((tok = strdup(ser)) == NULL)
		goto err3;
	if (high_s(sig)) {
		to_low_s(sig);
		b64url_encode(sig, sizeof(sig), tok + (dot + 1 - ser));
	}
	*out = tok;
	cjose_jws_release(jws);
	free(payload);
	json_decref(hdr);
	return (0);

err3:
	cjose_jws_release(jws);
err2:
	free(payload);
err1:
	json_decref(hdr);
err0:
	return (-1);
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

/* numeric_date(v, out): the NumericDate ${v} (integer, or a finite real
 * truncated) in ${out}.  Returns 0, or -1 if ${v} is not one. */
static int
numeric_date(json_t *v, int64_t *out)
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
	if (numeric_date(json_object_get(claims, "exp"), &t)) {
		*why = "missing exp";
		return (-1);
	}
	if (t <= now - skew) {
		*why = "token expired";
		return (-1);
	}
	if ((v = json_object_get(claims, "nbf")) != NULL) {
		if (numeric_date(v, &t)) {
			*why = "invalid nbf";
			return (-1);
		}
		if (t > now + skew) {
			*why = "token not yet valid";
			return (-1);
		}
	}
	if (numeric_date(json_object_get(claims, "iat"), &t)) {
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
