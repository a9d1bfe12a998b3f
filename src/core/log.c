#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level min_level = LOG_LEVEL_INFO;

void
log_set_level(enum log_level lvl)
{
	min_level = lvl;
}

static void emit(enum log_level, int, const char *, va_list) __attribute__((format(printf, 3, 0)));

/* Format the whole line first and write it with one call, so lines from
 * different threads never interleave. */
static void
emit(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	char line[2048], ts[32];
	struct timespec now;
	struct tm tm;
	int saved = errno, n;

	if (lvl < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s: ", ts, now.tv_nsec / 1000000, names[lvl]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (with_errno) {
		n = (int)strlen(line);
		snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(saved));
	}
	fprintf(stderr, "%s\n", line);
	errno = saved;
}

#define DEFINE(name, lvl, e)                                                                       \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		emit(lvl, e, fmt, ap);                                                             \
		va_end(ap);                                                                        \
	}

DEFINE(log_debug, LOG_LEVEL_DEBUG, 0)
DEFINE(log_info, LOG_LEVEL_INFO, 0)
DEFINE(log_warn, LOG_LEVEL_WARN, 0)
DEFINE(log_warnp, LOG_LEVEL_WARN, 1)
DEFINE(log_err, LOG_LEVEL_ERR, 0)
