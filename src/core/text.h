/*
 * core/text: is a string fit to be shown to a person?
 *
 * Names that clients choose (client_name and the other human-readable
 * metadata of RFC 7591 and of Client ID Metadata Documents) end up on the
 * sign-in and consent pages.  Besides look-alike letters, which no filter can
 * remove, Unicode has characters that change how the text around them is
 * shown or that are not shown at all: the bidirectional embeddings,
 * overrides and isolates (U+202A..U+202E, U+2066..U+2069) and marks
 * (U+200E, U+200F, U+061C) reorder text ("Safe App\u202Egnp.exe"); zero-width
 * and other default-ignorable characters (U+200B..U+200D, U+2060..U+206F,
 * U+FEFF, U+00AD, U+034F, U+180B..U+180F, Hangul fillers, tags
 * U+E0000..U+E0FFF, the Egyptian hieroglyph format controls
 * U+13430..U+1343F) hide differences; the prepended concatenation marks
 * (U+0600..U+0605, U+06DD, U+070F, U+0890, U+0891, U+08E2, U+110BD,
 * U+110CD) span the characters after them, so that every format character
 * (general category Cf) is refused; C0 and C1 controls, DEL and the line
 * and paragraph separators (U+2028, U+2029) break lines; private-use
 * characters and noncharacters render as anything.  Such text is refused at
 * the door (text_display_ok) and replaced by U+FFFD on the way out
 * (text_display_clean), so that a name stored before the rule existed, or
 * set by an operator, is shown harmlessly too.  Variation selectors
 * (U+FE00..U+FE0F) are allowed: emoji need them and they reorder nothing.
 */
#ifndef MCPGATE_CORE_TEXT_H
#define MCPGATE_CORE_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* text_refused(c): 1 if the code point ${c} is one of those above (or not a
 * Unicode scalar value). */
int text_refused(uint32_t c);

/* text_display_ok(s, len): 1 if the ${len} bytes at ${s} are well-formed
 * UTF-8 (no overlong forms, surrogates or values past U+10FFFF) and hold no
 * refused code point (a NUL byte is a C0 control); else 0. */
int text_display_ok(const char *s, size_t len);

/* text_display_clean(b, s): append the NUL-terminated ${s} to ${b} with
 * every refused code point and every ill-formed byte sequence replaced by
 * U+FFFD.  Returns 0, or -1 if ${b} is full (${b} is then unchanged). */
int text_display_clean(struct buf *b, const char *s);

#endif
