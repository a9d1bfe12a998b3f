/* Unit tests for src/gateway/tick.c: the function runs every period on the
 * tick's thread, not before the first period, never after tick_stop()
 * (which waits for a call in progress), and periods out of range are
 * refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "gateway/tick.h"

struct counter {
	atomic_int n;
	atomic_int busy;	/* a call is running */
	int sleep_ms;
};

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
count(void *arg)
{
	struct counter *c = arg;

	atomic_store(&c->busy, 1);
	if (c->sleep_ms > 0)
		sleep_ms(c->sleep_ms);
	atomic_fetch_add(&c->n, 1);
	atomic_store(&c->busy, 0);
}

static void
test_period(void **state)
{
	struct counter c = {0};
	struct tick *t;
	int n;

	(void)state;
	assert_non_null(t = tick_new(50, count, &c));
	sleep_ms(20);
	assert_int_equal(atomic_load(&c.n), 0); /* not before one period */
	sleep_ms(500);
	n = atomic_load(&c.n);
	print_message("%d calls in 520 ms at 50 ms\n", n);
	assert_true(n >= 5 && n <= 11);
	tick_stop(t);
	n = atomic_load(&c.n);
	sleep_ms(150);
	assert_int_equal(atomic_load(&c.n), n); /* none after stop */
	tick_stop(t); /* again: nothing */
	tick_free(t);
	tick_free(NULL);
}

static void
test_stop_waits(void **state)
{
	struct counter c = {0};
	struct tick *t;

	(void)state;
	c.sleep_ms = 200;
	assert_non_null(t = tick_new(10, count, &c));
	while (atomic_load(&c.busy) == 0)
		sleep_ms(1);
	tick_free(t);
	assert_int_equal(atomic_load(&c.busy), 0);
	assert_int_equal(atomic_load(&c.n), 1);
}

static void
test_range(void **state)
{
	struct counter c = {0};

	(void)state;
	errno = 0;
	assert_null(tick_new(TICK_PERIOD_MIN_MS - 1, count, &c));
	assert_int_equal(errno, EINVAL);
	assert_null(tick_new(TICK_PERIOD_MAX_MS + 1, count, &c));
	assert_null(tick_new(100, NULL, &c));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_period),
		cmocka_unit_test(test_stop_waits),
		cmocka_unit_test(test_range),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
