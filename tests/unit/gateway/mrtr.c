/* Unit tests for src/gateway/mrtr.c, through its header, with the real
 * timer thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "gateway/mrtr.h"

/* A parked "call": counts what the table did with it. */
struct obj {
	pthread_mutex_t mtx;
	int refs;
	int due;
	int expired;
	char handle[MRTR_HANDLE_LEN + 1];
};

static struct mrtr *table;
static int park_on_due = 1;

static const char *const keys1[] = { "k1", "k2" };

static void
o_hold(void *arg)
{
	struct obj *o = arg;

	pthread_mutex_lock(&o->mtx);
	o->refs++;
	pthread_mutex_unlock(&o->mtx);
}

static void
o_release(void *arg)
{
	struct obj *o = arg;

	pthread_mutex_lock(&o->mtx);
	o->refs--;
	pthread_mutex_unlock(&o->mtx);
}

static void
o_due(void *arg, const char *handle)
{
	struct obj *o = arg;

	pthread_mutex_lock(&o->mtx);
	o->due++;
	snprintf(o->handle, sizeof(o->handle), "%s", handle);
	pthread_mutex_unlock(&o->mtx);
	if (park_on_due)
		assert_int_equal(mrtr_park(table, handle, keys1, 2), 0);
}

static void
o_expired(void *arg)
{
	struct obj *o = arg;

	pthread_mutex_lock(&o->mtx);
	o->expired++;
	o->refs--;
	pthread_mutex_unlock(&o->mtx);
}

static int
get(struct obj *o, int *field)
{
	int v;

	pthread_mutex_lock(&o->mtx);
	v = *field;
	pthread_mutex_unlock(&o->mtx);
	return (v);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait up to 3 s for *field to reach want. */
static void
wait_for(struct obj *o, int *field, int want)
{
	int i;

	for (i = 0; i < 300 && get(o, field) != want; i++)
		sleep_ms(10);
	assert_int_equal(get(o, field), want);
}

static void
obj_init(struct obj *o)
{
	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->mtx, NULL);
	o->refs = 1; /* the table's, once opened */
}

static struct mrtr *
mk3(size_t max, size_t per, size_t per_subject)
{
	struct mrtr_params p;

	memset(&p, 0, sizeof(p));
	p.ttl_ms = 1000;
	p.max = max;
	p.per_principal = per;
	p.per_subject = per_subject;
	p.gather_ms = 10;
	p.due = o_due;
	p.expired = o_expired;
	p.hold = o_hold;
	p.release = o_release;
	return (mrtr_new(&p));
}

static struct mrtr *
mk(size_t max, size_t per)
{
	return (mk3(max, per, 0));
}

static const struct mrtr_binding alice = { "alice", "c1", "tools/call", "srv__ask" };
static const struct mrtr_binding alice_other_client = { "alice", "c2", "tools/call", "srv__ask" };
static const struct mrtr_binding bob = { "bob", "c1", "tools/call", "srv__ask" };
static const struct mrtr_binding alice_other_tool = { "alice", "c1", "tools/call", "srv__other" };
static const struct mrtr_binding alice_prompt = { "alice", "c1", "prompts/get", "srv__ask" };

static int
setup(void **state)
{
	(void)state;
	park_on_due = 1;
	table = mk(0, 0);
	return (table == NULL);
}

static int
teardown(void **state)
{
	(void)state;
	mrtr_free(table);
	table = NULL;
	return (0);
}

static void
test_round_trip(void **state)
{
	struct obj o;
	char h[MRTR_HANDLE_LEN + 1], missing[MRTR_KEY_MAX];
	json_t *resp = json_pack("{s:{s:s}, s:{}, s:i}", "k1", "action", "accept", "k2", "extra", 1);
	void *arg;

	(void)state;
	obj_init(&o);
	assert_int_equal(mrtr_open(table, &alice, &o, h), MRTR_OK);
	assert_true(mrtr_is_handle(h));
	assert_int_equal(strlen(h), MRTR_HANDLE_LEN);
	assert_int_equal(strncmp(h, MRTR_HANDLE_PREFIX, strlen(MRTR_HANDLE_PREFIX)), 0);
	/* Not claimable before it was handed out. */
	assert_int_equal(mrtr_claim(table, h, &alice, resp, &arg, missing, sizeof(missing)), MRTR_UNKNOWN);
	wait_for(&o, &o.due, 1);
	assert_string_equal(o.handle, h);
	/* hold() and release() balance around due(). */
	wait_for(&o, &o.refs, 1);

	/* Other principals: unknown, and nothing changes. */
	assert_int_equal(mrtr_claim(table, h, &bob, resp, &arg, missing, sizeof(missing)), MRTR_UNKNOWN);
	assert_int_equal(
	    mrtr_claim(table, h, &alice_other_client, resp, &arg, missing, sizeof(missing)), MRTR_UNKNOWN);
	assert_null(arg);
	/* Another tool or method of the same principal. */
	assert_int_equal(
	    mrtr_claim(table, h, &alice_other_tool, resp, &arg, missing, sizeof(missing)), MRTR_MISMATCH);
	assert_int_equal(
	    mrtr_claim(table, h, &alice_prompt, resp, &arg, missing, sizeof(missing)), MRTR_MISMATCH);
	assert_int_equal(mrtr_count(table), 1);

	assert_int_equal(mrtr_claim(table, h, &alice, resp, &arg, missing, sizeof(missing)), MRTR_OK);
	assert_ptr_equal(arg, &o);
	assert_int_equal(mrtr_count(table), 0);
	/* Single use. */
	assert_int_equal(mrtr_claim(table, h, &alice, resp, &arg, missing, sizeof(missing)), MRTR_UNKNOWN);
	assert_int_equal(get(&o, &o.expired), 0);
	json_decref(resp);
}

static void
test_incomplete(void **state)
{
	struct obj o;
	char h[MRTR_HANDLE_LEN + 1], missing[MRTR_KEY_MAX];
	json_t *half = json_pack("{s:{}}", "k1");
	json_t *notobj = json_pack("{s:{}, s:i}", "k1", "k2", 12345);
	json_t *full = json_pack("{s:{}, s:{}}", "k1", "k2");
	void *arg;

	(void)state;
	obj_init(&o);
	assert_int_equal(mrtr_open(table, &alice, &o, h), MRTR_OK);
	wait_for(&o, &o.due, 1);
	assert_int_equal(mrtr_claim(table, h, &alice, half, &arg, missing, sizeof(missing)), MRTR_INCOMPLETE);
	assert_string_equal(missing, "k2");
	assert_int_equal(
	    mrtr_claim(table, h, &alice, notobj, &arg, missing, sizeof(missing)), MRTR_INCOMPLETE);
	assert_int_equal(mrtr_claim(table, h, &alice, NULL, &arg, missing, sizeof(missing)), MRTR_INCOMPLETE);
	assert_string_equal(missing, "k1");
	/* Still there for a complete retry. */
	assert_int_equal(mrtr_claim(table, h, &alice, full, &arg, missing, sizeof(missing)), MRTR_OK);
	assert_ptr_equal(arg, &o);
	json_decref(half);
	json_decref(notobj);
	json_decref(full);
}

static void
test_unknown(void **state)
{
	char missing[MRTR_KEY_MAX];
	void *arg = (void *)1;
	char forged[MRTR_HANDLE_LEN + 1];

	(void)state;
	memset(forged, 'A', MRTR_HANDLE_LEN);
	memcpy(forged, MRTR_HANDLE_PREFIX, strlen(MRTR_HANDLE_PREFIX));
	forged[MRTR_HANDLE_LEN] = '\0';
	assert_true(mrtr_is_handle(forged));
	assert_int_equal(
	    mrtr_claim(table, forged, &alice, NULL, &arg, missing, sizeof(missing)), MRTR_UNKNOWN);
	assert_null(arg);
	assert_int_equal(mrtr_claim(table, "", &alice, NULL, &arg, missing, sizeof(missing)), MRTR_UNKNOWN);
	assert_false(mrtr_is_handle("opaque-upstream-state"));
	assert_false(mrtr_is_handle(MRTR_HANDLE_PREFIX));
	forged[10] = '+';
	assert_false(mrtr_is_handle(forged));
	assert_null(mrtr_drop(table, "nope"));
}

static void
test_expiry(void **state)
{
	struct obj o;
	char h[MRTR_HANDLE_LEN + 1], missing[MRTR_KEY_MAX];
	json_t *full = json_pack("{s:{}, s:{}}", "k1", "k2");
	void *arg;
	int64_t t0 = clock_now_ms();

	(void)state;
	obj_init(&o);
	assert_int_equal(mrtr_open(table, &alice, &o, h), MRTR_OK);
	wait_for(&o, &o.due, 1);
	wait_for(&o, &o.expired, 1);
	/* Not before the TTL (1 s, the minimum). */
	assert_true(clock_now_ms() - t0 >= 1000);
	assert_int_equal(get(&o, &o.refs), 0);
	assert_int_equal(mrtr_count(table), 0);
	assert_int_equal(mrtr_claim(table, h, &alice, full, &arg, missing, sizeof(missing)), MRTR_UNKNOWN);
	json_decref(full);
}

/* An owner that neither parks nor drops: the DUE entry expires too. */
static void
test_due_not_parked_expires(void **state)
{
	struct obj o;
	char h[MRTR_HANDLE_LEN + 1];

	(void)state;
	park_on_due = 0;
	obj_init(&o);
	assert_int_equal(mrtr_open(table, &alice, &o, h), MRTR_OK);
	wait_for(&o, &o.due, 1);
	wait_for(&o, &o.expired, 1);
	assert_int_equal(mrtr_count(table), 0);
}

static void
test_drop(void **state)
{
	struct obj o;
	char h[MRTR_HANDLE_LEN + 1];

	(void)state;
	park_on_due = 0;
	obj_init(&o);
	assert_int_equal(mrtr_open(table, &alice, &o, h), MRTR_OK);
	assert_ptr_equal(mrtr_drop(table, h), &o);
	assert_null(mrtr_drop(table, h));
	sleep_ms(50);
	assert_int_equal(get(&o, &o.due), 0);
	assert_int_equal(mrtr_count(table), 0);
	/* park of something not DUE */
	assert_int_equal(mrtr_park(table, h, keys1, 2), -1);
}

static void
test_limits(void **state)
{
	struct mrtr *t;
	struct obj o[4];
	char h[4][MRTR_HANDLE_LEN + 1];
	const struct mrtr_binding bad = { "alice", "c1", "tools/call", NULL };
	int i;

	(void)state;
	park_on_due = 0;
	mrtr_free(table);
	table = t = mk(3, 2);
	for (i = 0; i < 4; i++)
		obj_init(&o[i]);
	assert_int_equal(mrtr_open(t, &alice, &o[0], h[0]), MRTR_OK);
	assert_int_equal(mrtr_open(t, &alice, &o[1], h[1]), MRTR_OK);
	/* per principal */
	assert_int_equal(mrtr_open(t, &alice, &o[2], h[2]), MRTR_FULL);
	/* another client of the same subject is another principal */
	assert_int_equal(mrtr_open(t, &alice_other_client, &o[2], h[2]), MRTR_OK);
	/* in all */
	assert_int_equal(mrtr_open(t, &bob, &o[3], h[3]), MRTR_FULL);
	assert_int_equal(mrtr_open(t, &bad, &o[3], h[3]), MRTR_ERROR);
	assert_ptr_equal(mrtr_drop(t, h[0]), &o[0]);
	assert_int_equal(mrtr_open(t, &bob, &o[3], h[3]), MRTR_OK);
	assert_int_equal(mrtr_count(t), 3);
	/* Handles differ. */
	assert_string_not_equal(h[1], h[2]);
	assert_string_not_equal(h[2], h[3]);
	/* Keys out of bounds. */
	assert_int_equal(mrtr_park(t, h[1], keys1, 0), -1);
	assert_int_equal(mrtr_park(t, h[1], keys1, MRTR_KEYS_MAX + 1), -1);
	/* before o[] goes out of scope */
	mrtr_free(t);
	table = NULL;
	assert_int_equal(get(&o[1], &o[1].refs), 0);
}

/* A subject's clients together stay under per_subject, whatever their
 * number; other subjects are not affected. */
static void
test_limit_subject(void **state)
{
	struct mrtr *t;
	struct obj o[6];
	char h[6][MRTR_HANDLE_LEN + 1];
	const struct mrtr_binding c3 = { "alice", "c3", "tools/call", "srv__ask" };
	int i;

	(void)state;
	park_on_due = 0;
	mrtr_free(table);
	table = t = mk3(10, 2, 3);
	for (i = 0; i < 6; i++)
		obj_init(&o[i]);
	assert_int_equal(mrtr_open(t, &alice, &o[0], h[0]), MRTR_OK);
	assert_int_equal(mrtr_open(t, &alice, &o[1], h[1]), MRTR_OK);
	assert_int_equal(mrtr_open(t, &alice_other_client, &o[2], h[2]), MRTR_OK);
	/* a third client of alice: under its own cap, over the subject's */
	assert_int_equal(mrtr_open(t, &c3, &o[3], h[3]), MRTR_FULL);
	assert_int_equal(mrtr_open(t, &alice_other_client, &o[3], h[3]), MRTR_FULL);
	assert_int_equal(mrtr_open(t, &bob, &o[3], h[3]), MRTR_OK);
	assert_ptr_equal(mrtr_drop(t, h[0]), &o[0]);
	assert_int_equal(mrtr_open(t, &c3, &o[4], h[4]), MRTR_OK);
	assert_int_equal(mrtr_count(t), 4);
	mrtr_free(t);
	table = NULL;
}

/* mrtr_free() hands the remaining references to release(). */
static void
test_free_releases(void **state)
{
	struct obj o;
	char h[MRTR_HANDLE_LEN + 1];

	(void)state;
	obj_init(&o);
	assert_int_equal(mrtr_open(table, &alice, &o, h), MRTR_OK);
	wait_for(&o, &o.due, 1);
	mrtr_free(table);
	table = NULL;
	assert_int_equal(get(&o, &o.refs), 0);
	assert_int_equal(get(&o, &o.expired), 0);
}

/* mrtr_stop(): the timer thread ends, so no due() or expired() runs any
 * more (the owner is tearing down what they use); the entries stay until
 * mrtr_free() releases them. */
static void
test_stop(void **state)
{
	struct obj o, o2;
	char h[MRTR_HANDLE_LEN + 1], h2[MRTR_HANDLE_LEN + 1];

	(void)state;
	obj_init(&o);
	obj_init(&o2);
	assert_int_equal(mrtr_open(table, &alice, &o, h), MRTR_OK);
	wait_for(&o, &o.due, 1);
	mrtr_stop(table);
	mrtr_stop(table);
	assert_int_equal(mrtr_open(table, &bob, &o2, h2), MRTR_OK);
	sleep_ms(1300); /* past the TTL and the gathering window */
	assert_int_equal(get(&o, &o.expired), 0);
	assert_int_equal(get(&o2, &o2.due), 0);
	assert_int_equal(mrtr_count(table), 2);
	mrtr_free(table);
	table = NULL;
	assert_int_equal(get(&o, &o.refs), 0);
	assert_int_equal(get(&o2, &o2.refs), 0);
	assert_int_equal(get(&o, &o.expired), 0);
}

static void
test_ttl_bounds(void **state)
{
	struct mrtr_params p;
	struct mrtr *t;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.due = o_due;
	p.expired = o_expired;
	p.hold = o_hold;
	p.release = o_release;
	t = mrtr_new(&p);
	assert_non_null(t);
	assert_int_equal(mrtr_ttl_ms(t), MRTR_TTL_DEFAULT_MS);
	mrtr_free(t);
	p.ttl_ms = 1;
	t = mrtr_new(&p);
	assert_int_equal(mrtr_ttl_ms(t), MRTR_TTL_MIN_MS);
	mrtr_free(t);
	p.ttl_ms = INT64_MAX;
	t = mrtr_new(&p);
	assert_int_equal(mrtr_ttl_ms(t), MRTR_TTL_MAX_MS);
	mrtr_free(t);
	p.due = NULL;
	assert_null(mrtr_new(&p));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incomplete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_not_parked_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_subject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_releases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test(test_ttl_bounds),
	};

	return (cmocka_run_group_tests_name("gateway/mrtr", tests, NULL, NULL));
}
