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
};

struct form {
	size_t n;
	struct form_field f[FORM_FIELDS_MAX];
};

/* form_parse(f, s, n): decode ${n} bytes at ${s} into ${f}, which the
 * caller must release with form_clear() whatever the result.  Returns 0, or
 * -1 if the text is malformed (a bad %-escape, a decoded NUL byte, invalid
 * UTF-8), has more than FORM_FIELDS_MAX distinct names, or a name or value
 * longer than its maximum. */
int form_parse(struct form *f, const char *s, size_t n);

/* form_get(f, name): the value of ${name}, or NULL if absent or empty. */
const char *form_get(const struct form *f, const char *name);

/* form_duplicate(f): the name of the first parameter given more than once
 * with a non-empty value, or NULL. */
const char *form_duplicate(const struct form *f);

/* form_clear(f): free (and wipe: values may be secrets) every field. */
void form_clear(struct form *f);

/* form_encode(b, name, value): append "name=value" percent-encoded to the
 * buffer ${b}, preceded by '&' when ${b} is not empty.  Returns 0 or -1. */
struct buf;
int form_encode(struct buf *b, const char *name, const char *value);

#endif
