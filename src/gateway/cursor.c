/*
 * gateway/cursor: authenticated pagination cursors.  See cursor.h.
 */
#include "gateway/cursor.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/b64.h"
#include "core/secret.h"

/**
 * cursor_key_init(key):
 * A fresh random key.
 */
int
cursor_key_init(struct cursor_key *key)
{
	return (secret_random(key->k, sizeof(key->k)));
}

/**
 * cursor_key_clear(key):
 * Wipe ${key}.
 */
void
cursor_key_clear(struct cursor_key *key)
{
	secret_wipe(key->k, sizeof(key->k));
}

/* The raw bytes of a cursor and their tag. */
static void
raw_of(const struct cursor_key *key, unsigned list, uint64_t gen, uint32_t pos,
    unsigned char out[CURSOR_RAW_BYTES + CURSOR_TAG_BYTES])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	int i;

	out[0] = CURSOR_VERSION;
	out[1] = (unsigned char)list;
	for (i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)(gen >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		out[10 + i] = (unsigned char)(pos >> (24 - 8 * i));
	HMAC(EVP_sha256(), key->k, (int)sizeof(key->k), out, CURSOR_RAW_BYTES, mac, &ml);
	memcpy(out + CURSOR_RAW_BYTES, mac, CURSOR_TAG_BYTES);
	secret_wipe(mac, sizeof(mac));
}

/**
 * cursor_encode(key, list, gen, pos, out):
 * The cursor text for (${list}, ${gen}, ${pos}).
 */
void
cursor_encode(const struct cursor_key *key, unsigned list, uint64_t gen, uint32_t pos,
    char out[CURSOR_TEXT_LEN + 1])
{
	unsigned char raw[CURSOR_RAW_BYTES + CURSOR_TAG_BYTES];

	raw_of(key, list, gen, pos, raw);
	b64url_encode(raw, sizeof(raw), out);
}

/**
 * cursor_decode(key, text, len, list, gen, pos):
 * Read a cursor of list ${list}.
 */
int
cursor_decode(const struct cursor_key *key, const char *text, size_t len, unsigned list,
    uint64_t *gen, uint32_t *pos)
{
	unsigned char raw[CURSOR_RAW_BYTES + CURSOR_TAG_BYTES], want[sizeof(raw)];
	uint64_t g = 0;
	uint32_t p = 0;
	size_t n;
	int i;

	*gen = 0;
	*pos = 0;
	/* The length first: nothing longer is decoded at all.  b64url_decode()
	 * accepts only the canonical form, so each cursor has one text. */
	if (text == NULL || len != CURSOR_TEXT_LEN ||
	    b64url_decode(text, len, raw, sizeof(raw), &n) != 0 || n != sizeof(raw))
		return (-1);
	if (raw[0] != CURSOR_VERSION || raw[1] != (unsigned char)list || list > 0xff)
		return (-1);
	for (i = 0; i < 8; i++)
		g = (g << 8) | raw[2 + i];
	for (i = 0; i < 4; i++)
		p = (p << 8) | raw[10 + i];
	raw_of(key, list, g, p, want);
	if (!secret_eq(raw + CURSOR_RAW_BYTES, want + CURSOR_RAW_BYTES, CURSOR_TAG_BYTES))
		return (-1);
	*gen = g;
	*pos = p;
	return (0);
}
