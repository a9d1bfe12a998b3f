/*
 * gateway/cursor: the opaque pagination cursors of the gateway's list
 * methods (tools/list, prompts/list, resources/list,
 * resources/templates/list).
 *
 * A cursor names one list, the registry snapshot generation it was cut
 * from, and the position in that snapshot's list where the next page
 * starts.  It is authenticated with a key the gateway makes at start-up, so
 * that a cursor the gateway did not issue (made up, altered, cut short, from
 * another list, or from before a restart) is refused rather than read:
 *
 *   raw   = version (1 byte, 1) || list (1 byte) || generation (8 bytes,
 *           big-endian) || position (4 bytes, big-endian)
 *   tag   = HMAC-SHA256(key, raw), first CURSOR_TAG_BYTES bytes
 *   text  = base64url(raw || tag), no padding: CURSOR_TEXT_LEN characters
 *
 * The cursor carries no token, subject or scope: the page it continues is
 * filtered again for whoever presents it, so it grants nothing.  Positions
 * count the unfiltered list, which is the same for every token.
 */
#ifndef MCPGATE_GATEWAY_CURSOR_H
#define MCPGATE_GATEWAY_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define CURSOR_KEY_BYTES 32
#define CURSOR_TAG_BYTES 12
#define CURSOR_RAW_BYTES (1 + 1 + 8 + 4)
#define CURSOR_TEXT_LEN 35 /* B64URL_LEN(CURSOR_RAW_BYTES + CURSOR_TAG_BYTES) */
#define CURSOR_TEXT_MAX 64 /* longer cursor strings are refused unread */
#define CURSOR_VERSION 1

/* The key.  Caller-allocated; wipe with cursor_key_clear(). */
struct cursor_key {
	unsigned char k[CURSOR_KEY_BYTES];
};

/* cursor_key_init(key): a fresh random key.  Returns 0, or -1 if the CSPRNG
 * failed. */
int cursor_key_init(struct cursor_key *key);

/* cursor_key_clear(key): wipe ${key}. */
void cursor_key_clear(struct cursor_key *key);

/* cursor_encode(key, list, gen, pos, out): the cursor for list ${list},
 * snapshot generation ${gen}, position ${pos}, as CURSOR_TEXT_LEN
 * characters plus a NUL in ${out}. */
void cursor_encode(const struct cursor_key *key, unsigned list, uint64_t gen, uint32_t pos,
    char out[CURSOR_TEXT_LEN + 1]);

/* cursor_decode(key, text, len, list, gen, pos): read the ${len} bytes at
 * ${text} as a cursor of list ${list} issued under ${key}; store its
 * generation in ${gen} and its position in ${pos}.  Returns 0, or -1 if it
 * is longer than CURSOR_TEXT_MAX, not of the one form cursor_encode()
 * writes, of another version or list, or its tag does not verify (then
 * ${gen} and ${pos} are 0).  It does not judge whether the generation is
 * current: the caller does. */
int cursor_decode(const struct cursor_key *key, const char *text, size_t len, unsigned list,
    uint64_t *gen, uint32_t *pos);

#endif
