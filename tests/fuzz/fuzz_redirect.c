/*
 * libFuzzer driver for oauth/redirect: redirect_classify() and
 * redirect_match() on arbitrary text.  The input is split at the first NUL
 * into a registered and a presented URI.
 *
 * Invariants: an accepted URI has no fragment, no byte outside printable
 * ASCII, no quote or angle bracket, and fits REDIRECT_URI_MAX; http is
 * accepted only on a loopback host; a URI matches itself exactly when it is
 * acceptable; a match implies both are acceptable and of the same kind, and
 * is either exact or between loopback URIs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oauth/redirect.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void
check_accepted(const char *s)
{
	enum redirect_kind k = redirect_classify(s);
	const char *p;

	if (k == REDIRECT_INVALID) {
		CHECK(!redirect_match(s, s));
		return;
	}
	CHECK(redirect_match(s, s));
	CHECK(strlen(s) <= REDIRECT_URI_MAX);
	CHECK(strchr(s, '#') == NULL);
	for (p = s; *p; p++)
		CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '"' && *p != '<' &&
		    *p != '>');
	if (strncmp(s, "http://", 7) == 0)
		CHECK(k == REDIRECT_LOOPBACK);
	if (k == REDIRECT_LOOPBACK)
		CHECK(strncmp(s, "http://127.0.0.1", 16) == 0 || strncmp(s, "http://[::1]", 12) == 0 ||
		    strncasecmp(s, "http://localhost", 16) == 0);
	if (k == REDIRECT_PRIVATE_USE)
		CHECK(strncmp(s, "javascript:", 11) != 0 && strncmp(s, "data:", 5) != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a, *b;
	size_t n;

	if ((a = malloc(size + 2)) == NULL)
		return (0);
	memcpy(a, data, size);
	a[size] = '\0';
	a[size + 1] = '\0';
	n = strlen(a);
	b = a + (n < size ? n + 1 : size + 1);
	check_accepted(a);
	check_accepted(b);
	if (redirect_match(a, b)) {
		CHECK(redirect_classify(a) != REDIRECT_INVALID);
		CHECK(redirect_classify(a) == redirect_classify(b));
		CHECK(strcmp(a, b) == 0 || redirect_classify(a) == REDIRECT_LOOPBACK);
	}
	free(a);
	return (0);
}
