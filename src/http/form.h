/*
 * http/form: application/x-www-form-urlencoded bodies and query strings.
 *
 * Names and values are percent-decoded ('+' is a space).  Following RFC 6749
 * section 3.1, a parameter with an empty value counts as absent, and a
 * parameter may not appear more than once: form_duplicate() names the first
 * offender so that the endpoint can answer invalid_request.
 */
#ifndef MCPGATE_HTTP_FORM_H
#define MCPGATE_HTTP_FORM_H

#include <stddef.h>

#define FORM_FIELDS_MAX 64
#define FORM_NAME_MAX 128
#define FORM_VALUE_MAX 8192

struct form_field {
	char *name;
	char *value;
	int count; /* times this name appeared */
	int nset;  /* times it appeared with a non-empty value */
};

struct form {
	size_t n;
	struct form_field f[FORM_FIELDS_MAX];
};

/* form_urldecode(s, n, out): append the percent-decoding of the ${n} bytes
 * at ${s} to ${out} ('+' decodes to a space).  Returns 0, or -1 on a bad
 * escape (anything but '%' and two hex digits), a decoded NUL byte, or when
 * ${out} would pass its maximum; on -1 ${out} may hold part of the text
 * (wipe it if the input was secret).  Shared with http/basic. */
struct buf;
int form_urldecode(const char *s, size_t n, struct buf *out);

/* form_parse(f, s, n): decode ${n} bytes at ${s} into ${f}, which the
 * caller must release with form_clear() whatever the result.  Pairs are
 * separated by '&'; empty pairs ("a=1&&b=2") are skipped, a pair without
 * '=' is a name with an empty value, and a pair with an empty name is
 * ignored.  A name given more than once keeps one field whose ${count}
 * (and ${nset}) say how often it appeared, and whose value is the first
 * non-empty one.  Returns 0, or -1 if the text is malformed (a bad
 * %-escape, a decoded NUL byte, invalid UTF-8), has more than
 * FORM_FIELDS_MAX distinct names, or a decoded name or value longer than
 * FORM_NAME_MAX or FORM_VALUE_MAX bytes. */
int form_parse(struct form *f, const char *s, size_t n);

/* form_get(f, name): the value of ${name}, or NULL if absent or empty. */
const char *form_get(const struct form *f, const char *name);

/* form_duplicate(f): the name of the first parameter given more than once
 * with a non-empty value (empty ones count as absent), or NULL. */
const char *form_duplicate(const struct form *f);

/* form_clear(f): free (and wipe: values may be secrets) every field. */
void form_clear(struct form *f);

/* form_encode(b, name, value): append "name=value" percent-encoded to the
 * buffer ${b}, preceded by '&' when ${b} is not empty.  Everything but the
 * unreserved characters ALPHA / DIGIT / "-" / "." / "_" / "~" is encoded as
 * %XX (a space as %20).  Returns 0, or -1 if ${b} would pass its maximum
 * (then ${b} is left as it was). */
int form_encode(struct buf *b, const char *name, const char *value);

#endif
