/* Tests for src/client/sse.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "client/sse.h"

struct got {
	char ev[8][64];
	int n;
	int stop_at;
};

static int
on(void *arg, const char *data, size_t n)
{
	struct got *g = arg;

	assert_true(n < 64);
	memcpy(g->ev[g->n], data, n);
	g->ev[g->n][n] = '\0';
	g->n++;
	return (g->n == g->stop_at ? 1 : 0);
}

static void
feed_bytewise(const char *s, struct got *g)
{
	struct sse p;
	size_t i;

	sse_init(&p, on, g);
	for (i = 0; s[i] != '\0'; i++)
		assert_int_equal(sse_feed(&p, s + i, 1), 0);
	sse_clear(&p);
}

static void
test_events(void **state)
{
	const char *s = ": comment\r\nevent: message\r\nid: 1\r\ndata: {\"a\":1}\r\n\r\n"
			"data: line1\ndata:line2\n\n"
			"retry: 100\rdata: cr\r\r"
			"id: only\n\n";
	struct got g = { .n = 0, .stop_at = 0 };
	struct sse p;

	(void)state;
	sse_init(&p, on, &g);
	assert_int_equal(sse_feed(&p, s, strlen(s)), 0);
	sse_clear(&p);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.ev[0], "{\"a\":1}");
	assert_string_equal(g.ev[1], "line1\nline2");
	assert_string_equal(g.ev[2], "cr");
	/* The same, one byte at a time (CRLF split across calls). */
	memset(&g, 0, sizeof(g));
	feed_bytewise(s, &g);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.ev[1], "line1\nline2");
	/* An unterminated event is not dispatched. */
	memset(&g, 0, sizeof(g));
	feed_bytewise("data: x\n", &g);
	assert_int_equal(g.n, 0);
}

static void
test_stop(void **state)
{
	struct got g = { .n = 0, .stop_at = 1 };
	struct sse p;
	const char *s = "data: one\n\ndata: two\n\n";

	(void)state;
	sse_init(&p, on, &g);
	assert_int_equal(sse_feed(&p, s, strlen(s)), 1);
	sse_clear(&p);
	assert_int_equal(g.n, 1);
}

/* id and retry: kept for reconnection; an empty data line dispatches an
 * empty event (the priming event of a resumable stream). */
static void
test_id_retry(void **state)
{
	struct got g = { .n = 0, .stop_at = 0 };
	struct sse p;
	const char *s = "id: event-1\nretry: 500\ndata: \n\n";

	(void)state;
	sse_init(&p, on, &g);
	assert_string_equal(p.last_id, "");
	assert_int_equal(p.retry_ms, -1);
	assert_int_equal(sse_feed(&p, s, strlen(s)), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.ev[0], "");
	assert_string_equal(p.last_id, "event-1");
	assert_int_equal(p.retry_ms, 500);
	/* Not all digits: ignored; a huge value: capped. */
	s = "retry: 12x\nid: e2\n\nretry: 99999999999999999999\n\n";
	assert_int_equal(sse_feed(&p, s, strlen(s)), 0);
	assert_int_equal(p.retry_ms, SSE_RETRY_MAX);
	assert_string_equal(p.last_id, "e2");
	sse_clear(&p);
}

static void
test_limits(void **state)
{
	struct got g = { .n = 0, .stop_at = 0 };
	struct sse p;
	static char big[SSE_LINE_MAX + 16];

	(void)state;
	memset(big, 'a', sizeof(big));
	sse_init(&p, on, &g);
	assert_int_equal(sse_feed(&p, big, sizeof(big)), -1);
	sse_clear(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_id_retry),
		cmocka_unit_test(test_limits),
	};

	return (cmocka_run_group_tests_name("client/sse", tests, NULL, NULL));
}
