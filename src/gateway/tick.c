/*
 * gateway/tick: a thread that runs one function every period.
 */
#include "gateway/tick.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"

struct tick {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	pthread_t thr;
	int64_t period_ms;
	tick_fn *fn;
	void *arg;
	int stop;   /* under mtx */
	int joined; /* tick_stop() ran */
};

static void *
run(void *arg)
{
	struct tick *t = arg;
	struct timespec ts;

	pthread_mutex_lock(&t->mtx);
	while (!t->stop) {
		(void)clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(t->period_ms / 1000);
		ts.tv_nsec += (long)(t->period_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		/* Woken early only to stop; a spurious wake-up runs early. */
		(void)pthread_cond_timedwait(&t->cv, &t->mtx, &ts);
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->mtx);
		t->fn(t->arg);
		pthread_mutex_lock(&t->mtx);
	}
	pthread_mutex_unlock(&t->mtx);
	return (NULL);
}

struct tick *
tick_new(int64_t period_ms, tick_fn *fn, void *arg)
{
	struct tick *t;
	pthread_condattr_t ca;

	if (fn == NULL || period_ms < TICK_PERIOD_MIN_MS || period_ms > TICK_PERIOD_MAX_MS) {
		errno = EINVAL;
		return (NULL);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	t->period_ms = period_ms;
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_init(&t->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((errno = pthread_create(&t->thr, NULL, run, t)) != 0) {
		log_warnp("tick: pthread_create");
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mtx);
		free(t);
		return (NULL);
	}
	return (t);
}

void
tick_stop(struct tick *t)
{
	if (t == NULL || t->joined)
		return;
	pthread_mutex_lock(&t->mtx);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mtx);
	pthread_join(t->thr, NULL);
	t->joined = 1;
}

void
tick_free(struct tick *t)
{
	if (t == NULL)
		return;
	tick_stop(t);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mtx);
	free(t);
}
