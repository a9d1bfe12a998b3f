/*
 * buf: a growable byte buffer with a hard maximum.
 *
 * Every buffer is given its maximum when it is initialised; an append that
 * would pass it fails with -1 and leaves the buffer as it was.  The contents
 * are always followed by a NUL byte (not counted in ${len}) so that text can
 * be handed to C string functions, but binary data may contain NULs too.
 *
 * struct buf is caller-owned storage: buf_init() / buf_clear().  buf_clear()
 * wipes the bytes before freeing them, so a buffer may hold secrets.
 */
#ifndef MCPGATE_CORE_BUF_H
#define MCPGATE_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *p;	/* NULL until the first append */
	size_t len;	/* bytes used, excluding the terminating NUL */
	size_t cap;	/* bytes allocated */
	size_t max;	/* hard limit on len */
};

/* buf_init(b, max): make ${b} empty with room for at most ${max} bytes. */
void buf_init(struct buf *b, size_t max);

/* buf_clear(b): wipe and free the contents of ${b}; it may be reused after buf_init(). */
void buf_clear(struct buf *b);

/* buf_reset(b): drop the contents of ${b} (wiped) but keep its allocation and maximum. */
void buf_reset(struct buf *b);

/* buf_add(b, p, n): append ${n} bytes from ${p}.  Returns 0, or -1 if the
 * maximum would be passed or memory is exhausted (the buffer is unchanged). */
int buf_add(struct buf *b, const void *p, size_t n);

/* buf_adds(b, s): append the NUL-terminated string ${s}. */
int buf_adds(struct buf *b, const char *s);

/* buf_printf(b, fmt, ...): append formatted text; same errors as buf_add(). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* buf_cstr(b): the contents as a NUL-terminated string ("" when empty).
 * The pointer is valid until the next change to ${b}. */
const char *buf_cstr(const struct buf *b);

/* buf_steal(b): hand the contents to the caller as a malloc'd NUL-terminated
 * string (to be freed with free()) and leave ${b} empty.  NULL on ENOMEM. */
char *buf_steal(struct buf *b);

#endif
