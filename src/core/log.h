/*
 * log: one line per event on standard error, with a UTC timestamp and level.
 *
 * WARNING: never pass a token, secret, password, code or cookie value to these
 * functions, not even in part.  Log identifiers (client_id, kid, jti, token
 * digests) instead.
 *
 * log_warnp() and log_errp() append strerror(errno), like warn(3).
 */
#ifndef MCPGATE_CORE_LOG_H
#define MCPGATE_CORE_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERR };

/* log_set_level(lvl): drop messages below ${lvl} (default LOG_LEVEL_INFO). */
void log_set_level(enum log_level lvl);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
