/*
 * client/cerr: the error message of the last failure on a handle.
 */
#include <stdarg.h>
#include <stdio.h>

#include "client/internal.h"

mcpgate_err
cerr_set(struct cerr *e, mcpgate_err code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL || e->msg[0] != '\0')
		return (code);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return (code);
}

void
cerr_reset(struct cerr *e)
{
	e->msg[0] = '\0';
}
