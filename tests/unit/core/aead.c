/*
 * Unit tests for src/core/aead.c.  The source is included so that the
 * fixed-nonce helper can be checked against a published test vector; this
 * executable therefore takes no aead symbol from the library.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/aead.c"

static const unsigned char key1[AEAD_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const unsigned char key2[AEAD_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1e};
static const char msg[] = "the signing key, in a JWK";
static const char ad1[] = "kid-1";

#define MSGLEN (sizeof(msg) - 1)
#define SEALEN (MSGLEN + AEAD_OVERHEAD)

static void
hex(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	unsigned v;

	assert_int_equal(strlen(s), 2 * n);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (unsigned char)v;
	}
}

static void
test_round_trip(void **state)
{
	unsigned char sealed[SEALEN], sealed2[SEALEN], out[MSGLEN];

	(void)state;
	assert_int_equal(aead_seal(key1, ad1, strlen(ad1), msg, MSGLEN, sealed), 0);
	assert_memory_not_equal(sealed + AEAD_NONCE_LEN, msg, MSGLEN);
	assert_int_equal(aead_open(key1, ad1, strlen(ad1), sealed, SEALEN, out), 0);
	assert_memory_equal(out, msg, MSGLEN);

	/* Fresh nonce each time: two seals of one message differ. */
	assert_int_equal(aead_seal(key1, ad1, strlen(ad1), msg, MSGLEN, sealed2), 0);
	assert_memory_not_equal(sealed, sealed2, AEAD_NONCE_LEN);
	assert_memory_not_equal(sealed, sealed2, SEALEN);
}

static void
test_empty(void **state)
{
	unsigned char sealed[AEAD_OVERHEAD], out[1] = {0x55};

	(void)state;
	/* Empty plaintext and empty associated data still carry a tag. */
	assert_int_equal(aead_seal(key1, NULL, 0, NULL, 0, sealed), 0);
	assert_int_equal(aead_open(key1, NULL, 0, sealed, sizeof(sealed), out), 0);
	assert_int_equal(aead_open(key2, NULL, 0, sealed, sizeof(sealed), out), -1);
	assert_int_equal(aead_open(key1, "x", 1, sealed, sizeof(sealed), out), -1);
}

static void
test_wrong_key(void **state)
{
	unsigned char sealed[SEALEN], out[MSGLEN];

	(void)state;
	assert_int_equal(aead_seal(key1, ad1, strlen(ad1), msg, MSGLEN, sealed), 0);
	memset(out, 0x55, sizeof(out));
	assert_int_equal(aead_open(key2, ad1, strlen(ad1), sealed, SEALEN, out), -1);
	/* Unauthenticated plaintext must not be left behind. */
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
}

static void
test_wrong_ad(void **state)
{
	unsigned char sealed[SEALEN], out[MSGLEN];

	(void)state;
	assert_int_equal(aead_seal(key1, ad1, strlen(ad1), msg, MSGLEN, sealed), 0);
	assert_int_equal(aead_open(key1, "kid-2", 5, sealed, SEALEN, out), -1);
	assert_int_equal(aead_open(key1, ad1, strlen(ad1) - 1, sealed, SEALEN, out), -1);
	assert_int_equal(aead_open(key1, NULL, 0, sealed, SEALEN, out), -1);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
}

static void
test_bit_flips(void **state)
{
	unsigned char sealed[SEALEN], copy[SEALEN], out[MSGLEN];
	size_t i;
	int bit;

	(void)state;
	assert_int_equal(aead_seal(key1, ad1, strlen(ad1), msg, MSGLEN, sealed), 0);
	/* Every bit of nonce, ciphertext and tag is covered. */
	for (i = 0; i < SEALEN; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(copy, sealed, SEALEN);
			copy[i] ^= (unsigned char)(1u << bit);
			assert_int_equal(aead_open(key1, ad1, strlen(ad1), copy, SEALEN, out), -1);
		}
	}
	assert_int_equal(aead_open(key1, ad1, strlen(ad1), sealed, SEALEN, out), 0);
}

static void
test_short(void **state)
{
	unsigned char sealed[SEALEN], out[MSGLEN];
	size_t n;

	(void)state;
	assert_int_equal(aead_seal(key1, ad1, strlen(ad1), msg, MSGLEN, sealed), 0);
	/* Truncated: too short to hold nonce and tag, or a shorter message
	 * whose "tag" is really ciphertext. */
	for (n = 0; n < SEALEN; n++)
		assert_int_equal(aead_open(key1, ad1, strlen(ad1), sealed, n, out), -1);
}

/*
 * Known answer: "The Galois/Counter Mode of Operation (GCM)", McGrew and
 * Viega, test case 16 (AES-256, 96-bit IV, 60-byte plaintext, 20 bytes of
 * associated data), also in the NIST GCM validation vectors.
 */
static void
test_known_answer(void **state)
{
	unsigned char k[32], iv[12], pt[60], ad[20], ct[60], tag[16];
	unsigned char sealed[12 + 60 + 16], out[60];

	(void)state;
	hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", k, sizeof(k));
	hex("cafebabefacedbaddecaf888", iv, sizeof(iv));
	hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	    pt, sizeof(pt));
	hex("feedfacedeadbeeffeedfacedeadbeefabaddad2", ad, sizeof(ad));
	hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	    ct, sizeof(ct));
	hex("76fc6ece0f4e1768cddf8853bb2d551b", tag, sizeof(tag));

	assert_int_equal(seal_nonce(k, iv, ad, sizeof(ad), pt, sizeof(pt), sealed), 0);
	assert_memory_equal(sealed, iv, 12);
	assert_memory_equal(sealed + 12, ct, 60);
	assert_memory_equal(sealed + 72, tag, 16);

	assert_int_equal(aead_open(k, ad, sizeof(ad), sealed, sizeof(sealed), out), 0);
	assert_memory_equal(out, pt, sizeof(pt));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_wrong_key),
	    cmocka_unit_test(test_wrong_ad),
	    cmocka_unit_test(test_bit_flips),
	    cmocka_unit_test(test_short),
	    cmocka_unit_test(test_known_answer),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
