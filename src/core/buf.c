#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secret.h"

void
buf_init(struct buf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_clear(struct buf *b)
{
	if (b->p != NULL) {
		secret_wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	if (b->p != NULL) {
		secret_wipe(b->p, b->len);
		b->p[0] = '\0';
	}
	b->len = 0;
}

/* Make room for ${n} more bytes plus the NUL.  The old allocation is wiped
 * before it is released, since buffers carry secrets. */
static int
reserve(struct buf *b, size_t n)
{
	size_t need, ncap;
	char *np;

	if (n > b->max || b->len > b->max - n)
		return (-1);
	need = b->len + n + 1;
	if (need <= b->cap)
		return (0);
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	if ((np = malloc(ncap)) == NULL)
		return (-1);
	if (b->p != NULL) {
		memcpy(np, b->p, b->len + 1);
		secret_wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = np;
	b->cap = ncap;
	return (0);
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (reserve(b, n))
		return (-1);
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return (0);
}

int
buf_adds(struct buf *b, const char *s)
{
	return (buf_add(b, s, strlen(s)));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || reserve(b, (size_t)n))
		return (-1);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return (0);
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return (rc);
}

const char *
buf_cstr(const struct buf *b)
{
	return (b->p != NULL ? b->p : "");
}

char *
buf_steal(struct buf *b)
{
	char *s;

	if (b->p == NULL) {
		if ((s = malloc(1)) != NULL)
			s[0] = '\0';
		return (s);
	}
	s = b->p;
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	return (s);
}
