/*
 * libFuzzer driver for http/basic: basic_parse() on an arbitrary header value.
 *
 * Invariants: the result is -1, 0 or 1; on anything but 0 both outputs are
 * NULL; on 0 the user is non-empty and neither part holds a control byte;
 * re-encoding a parsed pair (form-urlencode, ':', base64) parses back to the
 * same pair when the header fits in BASIC_HEADER_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/buf.h"
#include "http/basic.h"
#include "http/form.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void
check_text(const char *s)
{
	for (; *s != '\0'; s++)
		CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void
reencode(const char *user, const char *pass)
{
	struct buf b;
	char *eq, *hdr, *u2, *p2;

	buf_init(&b, 4 * BASIC_HEADER_MAX);
	CHECK(form_encode(&b, user, pass) == 0);
	CHECK((eq = strchr(b.p, '=')) != NULL);
	*eq = ':';
	hdr = malloc(6 + 4 * ((b.len + 2) / 3) + 1);
	CHECK(hdr != NULL);
	memcpy(hdr, "Basic ", 6);
	b64_encode(b.p, b.len, hdr + 6);
	if (strlen(hdr) <= BASIC_HEADER_MAX) {
		CHECK(basic_parse(hdr, &u2, &p2) == 0);
		CHECK(strcmp(u2, user) == 0 && strcmp(p2, pass) == 0);
		free(u2);
		free(p2);
	}
	free(hdr);
	buf_clear(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *hdr, *user = (char *)1, *pass = (char *)1;
	int rc;

	if ((hdr = malloc(size + 1)) == NULL)
		return (0);
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	rc = basic_parse(hdr, &user, &pass);
	CHECK(rc == -1 || rc == 0 || rc == 1);
	if (rc != 0) {
		CHECK(user == NULL && pass == NULL);
	} else {
		CHECK(user != NULL && pass != NULL);
		CHECK(user[0] != '\0');
		check_text(user);
		check_text(pass);
		reencode(user, pass);
		free(user);
		free(pass);
	}
	free(hdr);
	return (0);
}
