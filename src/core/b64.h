/*
 * b64: base64url (RFC 4648 section 5) without padding, and standard base64
 * decoding for HTTP Basic credentials.
 */
#ifndef MCPGATE_CORE_B64_H
#define MCPGATE_CORE_B64_H

#include <stddef.h>

/* B64URL_LEN(n): characters needed to encode ${n} bytes, without padding. */
#define B64URL_LEN(n) (((n) * 4 + 2) / 3)

/* b64url_encode(in, n, out): encode ${n} bytes into ${out}, which must hold
 * B64URL_LEN(n) + 1 bytes; the result is NUL-terminated. */
void b64url_encode(const void *in, size_t n, char *out);

/* b64url_decode(in, n, out, outcap, outlen): decode ${n} base64url characters
 * (no padding, no whitespace) into ${out} of ${outcap} bytes, storing the
 * length in ${outlen}.  Returns 0, or -1 if the text is not canonical
 * base64url (bad character, impossible length, non-zero trailing bits) or
 * does not fit. */
int b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap, size_t *outlen);

/* b64_decode(in, n, out, outcap, outlen): the same for standard base64 with
 * optional '=' padding (RFC 4648 section 4). */
int b64_decode(const char *in, size_t n, unsigned char *out, size_t outcap, size_t *outlen);

/* b64_encode(in, n, out): standard base64 with padding; ${out} must hold
 * 4 * ((n + 2) / 3) + 1 bytes. */
void b64_encode(const void *in, size_t n, char *out);

#endif
