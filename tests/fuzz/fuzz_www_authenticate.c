/*
 * libFuzzer driver for client/wwwauth: wwwauth_parse() on an arbitrary
 * WWW-Authenticate value.
 *
 * Invariants: the result is 0 or -1; on -1 the output is all empty; on 0
 * every kept value is NUL-terminated within WWWAUTH_VALUE_MAX and holds no
 * control byte but HTAB, values appear only with a Bearer challenge; parsing
 * is deterministic; re-serialising the kept Bearer parameters as quoted
 * strings parses back to the same values.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/wwwauth.h"
#include "core/buf.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void
check_value(const char *v)
{
	size_t i, n = strnlen(v, WWWAUTH_VALUE_MAX + 1);

	CHECK(n <= WWWAUTH_VALUE_MAX);
	for (i = 0; i < n; i++)
		CHECK(((unsigned char)v[i] >= 0x20 || v[i] == '\t') && v[i] != 0x7f);
}

static void
quoted(struct buf *b, const char *name, const char *v)
{
	const char *p;

	if (v[0] == '\0')
		return;
	CHECK(buf_printf(b, ", %s=\"", name) == 0);
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			CHECK(buf_add(b, "\\", 1) == 0);
		CHECK(buf_add(b, p, 1) == 0);
	}
	CHECK(buf_add(b, "\"", 1) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wwwauth w, w2, w3;
	static const struct wwwauth zero;
	struct buf b;
	int rc;

	rc = wwwauth_parse((const char *)data, size, &w);
	CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		CHECK(memcmp(&w, &zero, sizeof(w)) == 0);
		return (0);
	}
	check_value(w.resource_metadata);
	check_value(w.scope);
	check_value(w.error);
	check_value(w.error_description);
	if (!w.bearer)
		CHECK(w.scope[0] == '\0' && w.error[0] == '\0' && w.resource_metadata[0] == '\0');
	CHECK(wwwauth_parse((const char *)data, size, &w2) == 0);
	CHECK(memcmp(&w, &w2, sizeof(w)) == 0);
	if (w.bearer) {
		buf_init(&b, 16 * WWWAUTH_VALUE_MAX);
		CHECK(buf_adds(&b, "Bearer realm=\"x\"") == 0);
		quoted(&b, "resource_metadata", w.resource_metadata);
		quoted(&b, "scope", w.scope);
		quoted(&b, "error", w.error);
		quoted(&b, "error_description", w.error_description);
		CHECK(wwwauth_parse(b.p, b.len, &w3) == 0);
		CHECK(w3.bearer);
		CHECK(strcmp(w.resource_metadata, w3.resource_metadata) == 0 && strcmp(w.scope, w3.scope) == 0 &&
		    strcmp(w.error, w3.error) == 0 && strcmp(w.error_description, w3.error_description) == 0);
		buf_clear(&b);
	}
	return (0);
}
