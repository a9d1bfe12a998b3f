#include "core/b64.h"

static const char URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char STD[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
encode(const char *alpha, const unsigned char *in, size_t n, char *out, int pad)
{
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		out[o++] = alpha[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)in[i] << 16;
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
}

void
b64url_encode(const void *in, size_t n, char *out)
{
	encode(URL, in, n, out, 0);
}

void
b64_encode(const void *in, size_t n, char *out)
{
	encode(STD, in, n, out, 1);
}

static int
val(int url, char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == (url ? '-' : '+'))
		return (62);
	if (c == (url ? '_' : '/'))
		return (63);
	return (-1);
}

/* Decode unpadded text; rejects a length of 1 mod 4 and set trailing bits,
 * so that every byte string has exactly one accepted encoding. */
static int
decode(int url, const char *in, size_t n, unsigned char *out, size_t outcap, size_t *outlen)
{
	size_t i, o = 0, rem = n % 4;
	unsigned v = 0;
	int d, bits = 0;

	if (rem == 1)
		return (-1);
	if (n / 4 * 3 + (rem ? rem - 1 : 0) > outcap)
		return (-1);
	for (i = 0; i < n; i++) {
		if ((d = val(url, in[i])) < 0)
			return (-1);
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}
	if (v != 0)
		return (-1);
	*outlen = o;
	return (0);
}

int
b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap, size_t *outlen)
{
	return (decode(1, in, n, out, outcap, outlen));
}

int
b64_decode(const char *in, size_t n, unsigned char *out, size_t outcap, size_t *outlen)
{
	if (n % 4 == 0 && n > 0 && in[n - 1] == '=') {
		n--;
		if (in[n - 1] == '=')
			n--;
	}
	return (decode(0, in, n, out, outcap, outlen));
}
