/*
 * clock: wall-clock seconds for token lifetimes, and a monotonic clock for
 * durations.
 */
#ifndef MCPGATE_CORE_CLOCK_H
#define MCPGATE_CORE_CLOCK_H

#include <stdint.h>

/* clock_now(): seconds since the Unix epoch. */
int64_t clock_now(void);

/* clock_now_ms(): monotonic milliseconds, for measuring durations. */
int64_t clock_now_ms(void);

#endif
