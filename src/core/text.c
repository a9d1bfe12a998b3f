#include "core/text.h"

#include <string.h>

#include "core/buf.h"

/* U+FFFD REPLACEMENT CHARACTER */
static const char REPLACEMENT[] = "\xef\xbf\xbd";

/*
 * text_refused(c): see text.h.
 */
int
text_refused(uint32_t c)
{
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) /* C0, DEL, C1 */
		return (1);
	if (c < 0xa0)
		return (0);
	if (c == 0xad || c == 0x34f || c == 0x61c || c == 0x115f || c == 0x1160 || c == 0x17b4 ||
	    c == 0x17b5 || c == 0x3164 || c == 0xfeff || c == 0xffa0)
		return (1);
	if ((c >= 0x600 && c <= 0x605) || c == 0x6dd || c == 0x70f || c == 0x890 || c == 0x891 ||
	    c == 0x8e2 || c == 0x110bd || c == 0x110cd) /* prepended concatenation marks */
		return (1);
	if ((c >= 0x180b && c <= 0x180f) ||   /* Mongolian selectors, vowel separator */
	    (c >= 0x200b && c <= 0x200f) ||   /* zero-width, LRM, RLM */
	    (c >= 0x2028 && c <= 0x202e) ||   /* separators, embeddings, overrides */
	    (c >= 0x2060 && c <= 0x206f) ||   /* word joiner, invisibles, isolates */
	    (c >= 0xd800 && c <= 0xdfff) ||   /* surrogates */
	    (c >= 0xe000 && c <= 0xf8ff) ||   /* private use */
	    (c >= 0xfdd0 && c <= 0xfdef) ||   /* noncharacters */
	    (c >= 0xfff0 && c <= 0xfffb) ||   /* interlinear annotation */
	    (c & 0xfffe) == 0xfffe ||         /* U+xFFFE, U+xFFFF */
	    (c >= 0x13430 && c <= 0x1343f) || /* Egyptian hieroglyph format controls */
	    (c >= 0x1bca0 && c <= 0x1bca3) || /* shorthand format controls */
	    (c >= 0x1d173 && c <= 0x1d17a) || /* musical format controls */
	    (c >= 0xe0000 && c <= 0xe0fff) || /* tags, selectors supplement */
	    c >= 0xf0000)                     /* private use planes, beyond */
		return (1);
	return (0);
}

/* Decode one UTF-8 sequence at ${s} (${n} > 0 bytes left) into *${c};
 * returns its length, or 0 if it is ill-formed (RFC 3629 section 4). */
static size_t
decode(const unsigned char *s, size_t n, uint32_t *c)
{
	size_t len, i;
	uint32_t v;

	if (s[0] < 0x80) {
		*c = s[0];
		return (1);
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		v = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		v = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		v = s[0] & 0x07;
	} else {
		return (0);
	}
	if (n < len)
		return (0);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		v = v << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF. */
	if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return (0);
	*c = v;
	return (len);
}

/*
 * text_display_ok(s, len): see text.h.
 */
int
text_display_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t c;

	while (i < len) {
		if ((k = decode(p + i, len - i, &c)) == 0 || text_refused(c))
			return (0);
		i += k;
	}
	return (1);
}

/*
 * text_display_clean(b, s): see text.h.
 */
int
text_display_clean(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t old = b->len, len = strlen(s), i = 0, k;
	uint32_t c;

	while (i < len) {
		k = decode(p + i, len - i, &c);
		if (k == 0 || text_refused(c)) {
			if (buf_adds(b, REPLACEMENT))
				goto err;
			i += k == 0 ? 1 : k;
			continue;
		}
		if (buf_add(b, p + i, k))
			goto err;
		i += k;
	}
	return (0);
err:
	if (b->p != NULL)
		b->p[old] = '\0';
	b->len = old;
	return (-1);
}
