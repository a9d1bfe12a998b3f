/*
 * libFuzzer driver for http/form: form_parse() on arbitrary bytes.
 *
 * Invariants: a parsed form has at most FORM_FIELDS_MAX distinct, non-empty
 * names of at most FORM_NAME_MAX bytes and values of at most FORM_VALUE_MAX
 * bytes, all valid C strings; form_get() agrees with the fields; encoding
 * the fields with form_encode() and parsing the result gives the same
 * fields back with no duplicates; form_urldecode() never yields a NUL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "http/form.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void
check_fields(const struct form *f)
{
	const char *v;
	size_t i, j;

	CHECK(f->n <= FORM_FIELDS_MAX);
	for (i = 0; i < f->n; i++) {
		CHECK(f->f[i].name != NULL && f->f[i].value != NULL);
		CHECK(f->f[i].name[0] != '\0');
		CHECK(strlen(f->f[i].name) <= FORM_NAME_MAX);
		CHECK(strlen(f->f[i].value) <= FORM_VALUE_MAX);
		CHECK(f->f[i].count >= 1 && f->f[i].nset <= f->f[i].count);
		CHECK((f->f[i].nset > 0) == (f->f[i].value[0] != '\0'));
		v = form_get(f, f->f[i].name);
		CHECK(f->f[i].value[0] == '\0' ? v == NULL : v == f->f[i].value);
		for (j = 0; j < i; j++)
			CHECK(strcmp(f->f[i].name, f->f[j].name) != 0);
	}
	v = form_duplicate(f);
	for (i = 0; i < f->n; i++) {
		if (f->f[i].nset > 1) {
			CHECK(v == f->f[i].name);
			break;
		}
	}
	if (i == f->n)
		CHECK(v == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form f, g;
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	if (form_urldecode((const char *)data, size, &b) == 0)
		CHECK(b.len == 0 || memchr(b.p, '\0', b.len) == NULL);
	buf_clear(&b);

	if (form_parse(&f, (const char *)data, size) == 0) {
		check_fields(&f);
		buf_init(&b, 1 << 22);
		for (i = 0; i < f.n; i++)
			CHECK(form_encode(&b, f.f[i].name, f.f[i].value) == 0);
		for (i = 0; i < b.len; i++)
			CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				     "0123456789-._~%=&",
			    b.p[i]) != NULL);
		CHECK(form_parse(&g, buf_cstr(&b), b.len) == 0);
		check_fields(&g);
		CHECK(g.n == f.n);
		CHECK(form_duplicate(&g) == NULL);
		for (i = 0; i < f.n; i++) {
			CHECK(strcmp(f.f[i].name, g.f[i].name) == 0);
			CHECK(strcmp(f.f[i].value, g.f[i].value) == 0);
			CHECK(g.f[i].count == 1);
		}
		form_clear(&g);
		buf_clear(&b);
	}
	form_clear(&f);
	return (0);
}
