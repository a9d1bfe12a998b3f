/*
 * gateway/tick: a thread that runs one function every period.
 *
 * For periodic work that must not wait for the server's minute of
 * housekeeping, such as ending streams whose token expired or was revoked
 * (endpoint.c).  The function runs on the tick's own thread, one call at a
 * time, first one period after tick_new(); it should return quickly when it
 * has nothing to do.
 */
#ifndef MCPGATE_GATEWAY_TICK_H
#define MCPGATE_GATEWAY_TICK_H

#include <stdint.h>

#define TICK_PERIOD_MIN_MS 10
#define TICK_PERIOD_MAX_MS 3600000

typedef void tick_fn(void *arg);

struct tick;

/* tick_new(period_ms, fn, arg): call ${fn}(${arg}) every ${period_ms}
 * milliseconds (TICK_PERIOD_MIN_MS..TICK_PERIOD_MAX_MS) on a new thread.
 * NULL on failure (logged), or EINVAL for a period out of range. */
struct tick *tick_new(int64_t period_ms, tick_fn *fn, void *arg);

/* tick_stop(t): stop the thread, waiting for a call in progress; no call
 * afterwards.  Called by one thread only; again does nothing.  NULL does
 * nothing. */
void tick_stop(struct tick *t);

/* tick_free(t): tick_stop(), then free.  NULL does nothing. */
void tick_free(struct tick *t);

#endif
