#include "http/form.h"

#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/buf.h"
#include "core/secret.h"

/*
 * form_urldecode(s, n, out): append the percent-decoding of the ${n} bytes
 * at ${s} to ${out} ('+' decodes to a space).  Returns 0, or -1 on a bad
 * escape, a decoded NUL byte, or when ${out} would pass its maximum.
 */
int
form_urldecode(const char *s, size_t n, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, run;
	int hi, lo;
	char c;

	for (i = 0; i < n;) {
		/* Copy runs of plain bytes in one append. */
		for (run = i; run < n && p[run] != '%' && p[run] != '+' && p[run] != '\0'; run++)
			;
		if (run > i) {
			if (buf_add(out, p + i, run - i))
				return (-1);
			i = run;
			continue;
		}
		if (p[i] == '\0')
			return (-1);
		if (p[i] == '+') {
			c = ' ';
			i++;
		} else {
			if (n - i < 3 || (hi = hex_value((unsigned char)p[i + 1])) < 0 ||
			    (lo = hex_value((unsigned char)p[i + 2])) < 0)
				return (-1);
			c = (char)(hi << 4 | lo);
			if (c == '\0')
				return (-1);
			i += 3;
		}
		if (buf_add(out, &c, 1))
			return (-1);
	}
	return (0);
}

/* Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static int
utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0, k, len;
	unsigned long cp;
	unsigned char c;

	while (i < n) {
		c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else
			return (0);
		if (n - i < len)
			return (0);
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return (0);
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
		i += len;
	}
	return (1);
}

/* Decode one name or value into ${b} (already initialised with its
 * maximum); 0 or -1. */
static int
decode_part(const char *s, size_t n, struct buf *b)
{
	if (form_urldecode(s, n, b))
		return (-1);
	if (!utf8_valid((const unsigned char *)buf_cstr(b), b->len))
		return (-1);
	return (0);
}

static struct form_field *
find(const struct form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		if (strcmp(f->f[i].name, name) == 0)
			return ((struct form_field *)&f->f[i]);
	}
	return (NULL);
}

/* Record one decoded pair.  Takes the contents of ${name} and ${value}. */
static int
add_pair(struct form *f, struct buf *name, struct buf *value)
{
	struct form_field *ff;
	char *v;

	if (name->len == 0)
		return (0);
	if ((ff = find(f, buf_cstr(name))) != NULL) {
		ff->count++;
		if (value->len > 0) {
			ff->nset++;
			if (ff->value[0] == '\0') {
				if ((v = buf_steal(value)) == NULL)
					return (-1);
				free(ff->value);
				ff->value = v;
			}
		}
		return (0);
	}
	if (f->n >= FORM_FIELDS_MAX)
		return (-1);
	ff = &f->f[f->n];
	if ((ff->name = buf_steal(name)) == NULL)
		return (-1);
	if ((ff->value = buf_steal(value)) == NULL) {
		free(ff->name);
		ff->name = NULL;
		return (-1);
	}
	ff->count = 1;
	ff->nset = ff->value[0] != '\0';
	f->n++;
	return (0);
}

/*
 * form_parse(f, s, n): decode ${n} bytes at ${s} into ${f}, which the
 * caller must release with form_clear() whatever the result.  Returns 0 or
 * -1 (malformed, too many names, a name or value too long).
 */
int
form_parse(struct form *f, const char *s, size_t n)
{
	struct buf name, value;
	const char *pair, *end, *eq;
	size_t plen;
	int rc = -1;

	f->n = 0;
	if (n == 0)
		return (0);
	buf_init(&name, FORM_NAME_MAX);
	buf_init(&value, FORM_VALUE_MAX);
	for (pair = s; pair < s + n; pair = end + 1) {
		if ((end = memchr(pair, '&', (size_t)(s + n - pair))) == NULL)
			end = s + n;
		plen = (size_t)(end - pair);
		if (plen == 0)
			continue;
		if ((eq = memchr(pair, '=', plen)) == NULL)
			eq = end;
		buf_reset(&name);
		buf_reset(&value);
		if (decode_part(pair, (size_t)(eq - pair), &name))
			goto out;
		if (eq < end && decode_part(eq + 1, (size_t)(end - eq - 1), &value))
			goto out;
		if (add_pair(f, &name, &value))
			goto out;
	}
	rc = 0;
out:
	buf_clear(&name);
	buf_clear(&value);
	return (rc);
}

/*
 * form_get(f, name): the value of ${name}, or NULL if absent or empty.
 */
const char *
form_get(const struct form *f, const char *name)
{
	const struct form_field *ff;

	if ((ff = find(f, name)) == NULL || ff->value[0] == '\0')
		return (NULL);
	return (ff->value);
}

/*
 * form_duplicate(f): the name of the first parameter given more than once
 * with a non-empty value, or NULL.
 */
const char *
form_duplicate(const struct form *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		if (f->f[i].nset > 1)
			return (f->f[i].name);
	}
	return (NULL);
}

/*
 * form_clear(f): free (and wipe) every field.
 */
void
form_clear(struct form *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		secret_wipe(f->f[i].name, strlen(f->f[i].name));
		free(f->f[i].name);
		secret_wipe(f->f[i].value, strlen(f->f[i].value));
		free(f->f[i].value);
		f->f[i].name = f->f[i].value = NULL;
	}
	f->n = 0;
}

static int
encode_part(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	char esc[3];
	size_t run;

	while (*p != '\0') {
		for (run = 0; p[run] != '\0' &&
		     ((p[run] >= 'A' && p[run] <= 'Z') || (p[run] >= 'a' && p[run] <= 'z') ||
			 (p[run] >= '0' && p[run] <= '9') || p[run] == '-' || p[run] == '.' ||
			 p[run] == '_' || p[run] == '~');
		     run++)
			;
		if (run > 0) {
			if (buf_add(b, p, run))
				return (-1);
			p += run;
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[*p >> 4];
		esc[2] = hex[*p & 15];
		if (buf_add(b, esc, 3))
			return (-1);
		p++;
	}
	return (0);
}

/*
 * form_encode(b, name, value): append "name=value" percent-encoded to ${b},
 * preceded by '&' when ${b} is not empty.  Returns 0, or -1 (then ${b} is
 * as it was).
 */
int
form_encode(struct buf *b, const char *name, const char *value)
{
	size_t old = b->len;

	if ((old > 0 && buf_add(b, "&", 1)) || encode_part(b, name) || buf_add(b, "=", 1) ||
	    encode_part(b, value)) {
		if (b->p != NULL) {
			secret_wipe(b->p + old, b->len - old);
			b->p[old] = '\0';
		}
		b->len = old;
		return (-1);
	}
	return (0);
}
