/* Unit tests for src/gateway/subs.c: the reference counts of upstream
 * subscriptions per (upstream, subject, URI), the per-holder sets and
 * their limit, and which updated URIs a subscription covers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/subs.h"

static int u1, u2; /* two upstreams, by address */

static void
test_refcounts(void **state)
{
	struct subs *t = subs_new(0);

	(void)state;
	assert_non_null(t);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///a", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///a", NULL), 0);
	assert_int_equal(subs_refs(t, &u1, NULL, "file:///a"), 2);
	/* Another upstream, another subject, another URI: other keys. */
	assert_int_equal(subs_ref(t, &u2, NULL, "file:///a", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, "alice", "file:///a", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, "bob", "file:///a", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///b", NULL), 1);
	assert_int_equal(subs_keys(t), 5);
	assert_int_equal(subs_unref(t, &u1, NULL, "file:///a", NULL), 0);
	assert_int_equal(subs_unref(t, &u1, NULL, "file:///a", NULL), 1);
	assert_int_equal(subs_unref(t, &u1, NULL, "file:///a", NULL), -1);
	assert_int_equal(subs_refs(t, &u1, NULL, "file:///a"), 0);
	assert_int_equal(subs_unref(t, &u1, "carol", "file:///a", NULL), -1);
	assert_int_equal(subs_unref(t, &u1, "alice", "file:///a", NULL), 1);
	assert_int_equal(subs_refs(t, &u1, "bob", "file:///a"), 1);
	assert_int_equal(subs_keys(t), 3);
	subs_free(t); /* with keys left */
	subs_free(NULL);
}

static void
test_table_limit(void **state)
{
	struct subs *t = subs_new(2);

	(void)state;
	assert_int_equal(subs_ref(t, &u1, NULL, "a", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "b", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "c", NULL), -1);
	assert_int_equal(subs_ref(t, &u1, NULL, "a", NULL), 0); /* an existing key still counts */
	assert_int_equal(subs_unref(t, &u1, NULL, "b", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "c", NULL), 1);
	subs_free(t);
}

static void
test_sets(void **state)
{
	struct subs_set *s = subs_set_new(3);
	struct subs_item it, taken[4];
	char big[SUBS_URI_MAX + 2];
	size_t n;

	(void)state;
	assert_non_null(s);
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///a", &u1, NULL, "file:///a"), 0);
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///a", &u1, NULL, "file:///a"), 1);
	assert_int_equal(subs_set_add(s, "mcpgate://gh/x", &u2, "alice", "x"), 0);
	assert_int_equal(subs_set_count(s), 2);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(subs_set_add(s, big, &u1, NULL, "y"), -1);
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///b", &u1, NULL, "file:///b"), 0);
	/* Full. */
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///c", &u1, NULL, "file:///c"), -1);
	assert_int_equal(subs_set_count(s), 3);

	assert_int_equal(subs_set_remove(s, "mcpgate://gh/x", &it), 0);
	assert_string_equal(it.orig, "x");
	assert_string_equal(it.subject, "alice");
	assert_ptr_equal(it.u, &u2);
	subs_item_clear(&it);
	assert_null(it.uri);
	assert_int_equal(subs_set_remove(s, "mcpgate://gh/x", &it), -1);
	assert_int_equal(subs_set_count(s), 2);
	assert_int_equal(subs_set_add(s, "mcpgate://fs/file:///c", &u1, NULL, "file:///c"), 0);

	n = subs_set_take(s, taken, 2);
	assert_int_equal(n, 2);
	assert_int_equal(subs_set_count(s), 1);
	subs_item_clear(&taken[0]);
	subs_item_clear(&taken[1]);
	assert_int_equal(subs_set_take(NULL, taken, 4), 0);
	subs_set_free(s); /* with an item left */
	subs_set_free(NULL);
}

static void
test_covers(void **state)
{
	(void)state;
	assert_true(subs_uri_covers("file:///d", "file:///d"));
	assert_true(subs_uri_covers("file:///d", "file:///d/a.txt"));
	assert_true(subs_uri_covers("file:///d/", "file:///d/a/b"));
	assert_true(subs_uri_covers("test://dir", "test://dir/x"));
	assert_false(subs_uri_covers("file:///d", "file:///dx"));
	assert_false(subs_uri_covers("file:///d", "file:///d?x=1"));
	assert_false(subs_uri_covers("file:///d", "file:///d#f"));
	assert_false(subs_uri_covers("file:///d/a", "file:///d"));
	assert_false(subs_uri_covers("file:///d", "file:///e"));
	assert_false(subs_uri_covers("", "file:///e"));
}

static void
test_match(void **state)
{
	struct subs_set *s = subs_set_new(0);

	(void)state;
	assert_int_equal(subs_set_add(s, "mcpgate://a/test://dir", &u1, NULL, "test://dir"), 0);
	assert_int_equal(subs_set_add(s, "mcpgate://b/x", &u2, "alice", "x"), 0);
	assert_true(subs_set_match(s, &u1, NULL, "test://dir"));
	assert_true(subs_set_match(s, &u1, NULL, "test://dir/f"));
	assert_false(subs_set_match(s, &u2, NULL, "test://dir")); /* another upstream */
	assert_false(subs_set_match(s, &u1, "alice", "test://dir")); /* a per-user instance */
	assert_true(subs_set_match(s, &u2, "alice", "x"));
	assert_false(subs_set_match(s, &u2, "bob", "x")); /* another subject's instance */
	assert_false(subs_set_match(s, &u2, NULL, "x"));
	assert_false(subs_set_match(NULL, &u2, "alice", "x"));
	subs_set_free(s);
}

/* What the upstream holds: up after an accepted subscribe, counted in
 * flight until answered; a refusal leaves the key down. */
static void
test_state(void **state)
{
	struct subs *t = subs_new(0);
	uint64_t s1, s2, s3;
	unsigned inflight = 99;

	(void)state;
	assert_int_equal(subs_state(t, &u1, NULL, "a", &inflight), -1);
	assert_int_equal(inflight, 0);
	assert_int_equal(subs_sending(t, &u1, NULL, "a", 1), 0); /* no key */
	assert_int_equal(subs_ref(t, &u1, NULL, "a", NULL), 1);
	assert_int_equal(subs_state(t, &u1, NULL, "a", &inflight), 0);
	assert_int_equal(inflight, 0);
	/* The first subscribe; another only when forced. */
	s1 = subs_sending(t, &u1, NULL, "a", 0);
	assert_true(s1 != 0);
	assert_int_equal(subs_sending(t, &u1, NULL, "a", 0), 0);
	s2 = subs_sending(t, &u1, NULL, "a", 1);
	assert_int_equal(s2, s1);
	assert_int_equal(subs_state(t, &u1, NULL, "a", &inflight), 0);
	assert_int_equal(inflight, 2);
	/* A refusal: still down, one in flight. */
	assert_int_equal(subs_answered(t, &u1, NULL, "a", s1, 0), 0);
	assert_int_equal(subs_state(t, &u1, NULL, "a", &inflight), 0);
	assert_int_equal(inflight, 1);
	/* Accepted: up; nothing more to send. */
	assert_int_equal(subs_answered(t, &u1, NULL, "a", s2, 1), 0);
	assert_int_equal(subs_state(t, &u1, NULL, "a", &inflight), 1);
	assert_int_equal(inflight, 0);
	assert_int_equal(subs_sending(t, &u1, NULL, "a", 0), 0);
	assert_int_equal(subs_state(t, &u1, NULL, "a", NULL), 1);
	/* Refused and nothing in flight: the next one may try again. */
	assert_int_equal(subs_ref(t, &u1, "alice", "a", NULL), 1);
	s3 = subs_sending(t, &u1, "alice", "a", 0);
	assert_true(s3 != 0 && s3 != s1);
	assert_int_equal(subs_answered(t, &u1, "alice", "a", s3, 0), 0);
	assert_int_equal(subs_sending(t, &u1, "alice", "a", 0), s3);
	subs_free(t);
}

/* A late answer for a key that is gone, or made again since, changes
 * nothing. */
static void
test_serials(void **state)
{
	struct subs *t = subs_new(0);
	uint64_t old, cur;
	unsigned inflight;

	(void)state;
	assert_int_equal(subs_ref(t, &u1, NULL, "a", NULL), 1);
	old = subs_sending(t, &u1, NULL, "a", 0);
	assert_int_equal(subs_unref(t, &u1, NULL, "a", NULL), 1);
	assert_int_equal(subs_answered(t, &u1, NULL, "a", old, 1), -1);
	assert_int_equal(subs_ref(t, &u1, NULL, "a", NULL), 1);
	cur = subs_sending(t, &u1, NULL, "a", 0);
	assert_true(cur != 0 && cur != old);
	assert_int_equal(subs_answered(t, &u1, NULL, "a", old, 1), -1);
	assert_int_equal(subs_state(t, &u1, NULL, "a", &inflight), 0);
	assert_int_equal(inflight, 1);
	assert_int_equal(subs_answered(t, &u1, NULL, "a", cur, 1), 0);
	assert_int_equal(subs_state(t, &u1, NULL, "a", &inflight), 1);
	subs_free(t);
}

/* A subscribe whose outcome is unknown: the key stays down (the next
 * holder subscribes again) but the instance may hold it, until a restart
 * says it does not; a refusal holds nothing. */
static void
test_maybe(void **state)
{
	struct subs *t = subs_new(0);
	struct subs_resend *v;
	uint64_t s1;
	unsigned inflight;
	size_t n;

	(void)state;
	assert_int_equal(subs_may_hold(t, &u1, NULL, "a"), 0);	/* no key */
	assert_int_equal(subs_serial(t, &u1, NULL, "a"), 0);
	assert_int_equal(subs_ref(t, &u1, NULL, "a", NULL), 1);
	assert_true(subs_serial(t, &u1, NULL, "a") != 0);
	assert_int_equal(subs_may_hold(t, &u1, NULL, "a"), 0);
	s1 = subs_sending(t, &u1, NULL, "a", 0);
	assert_int_equal(s1, subs_serial(t, &u1, NULL, "a"));
	assert_int_equal(subs_may_hold(t, &u1, NULL, "a"), 1);	/* in flight */
	assert_int_equal(subs_answered(t, &u1, NULL, "a", s1, SUBS_REFUSED), 0);
	assert_int_equal(subs_may_hold(t, &u1, NULL, "a"), 0);
	/* Timed out: down, nothing in flight, yet maybe held. */
	s1 = subs_sending(t, &u1, NULL, "a", 0);
	assert_int_equal(subs_answered(t, &u1, NULL, "a", s1, SUBS_UNKNOWN), 0);
	assert_int_equal(subs_state(t, &u1, NULL, "a", &inflight), 0);
	assert_int_equal(inflight, 0);
	assert_int_equal(subs_may_hold(t, &u1, NULL, "a"), 1);
	assert_int_equal(subs_sending(t, &u1, NULL, "a", 0), s1);	/* tried again */
	/* A later refusal does not say the first was not taken. */
	assert_int_equal(subs_answered(t, &u1, NULL, "a", s1, SUBS_REFUSED), 0);
	assert_int_equal(subs_may_hold(t, &u1, NULL, "a"), 1);
	/* Another instance, or another key, is not concerned. */
	assert_int_equal(subs_ref(t, &u1, "alice", "a", NULL), 1);
	assert_int_equal(subs_may_hold(t, &u1, "alice", "a"), 0);
	/* The instance started again and holds nothing. */
	assert_int_equal(subs_restarted(t, &u1, NULL, NULL, &n), 0);
	assert_int_equal(subs_may_hold(t, &u1, NULL, "a"), 0);
	s1 = subs_sending(t, &u1, NULL, "a", 0);
	assert_int_equal(subs_answered(t, &u1, NULL, "a", s1, SUBS_UNKNOWN), 0);
	assert_int_equal(subs_restarted(t, &u1, NULL, &v, &n), 0);
	assert_int_equal(n, 1);
	subs_resend_free(v, n);
	assert_int_equal(subs_answered(t, &u1, NULL, "a", s1, SUBS_REFUSED), 0);
	assert_int_equal(subs_may_hold(t, &u1, NULL, "a"), 0);
	/* A key made again starts afresh. */
	s1 = subs_sending(t, &u1, NULL, "a", 0);
	assert_int_equal(subs_answered(t, &u1, NULL, "a", s1, SUBS_UNKNOWN), 0);
	assert_int_equal(subs_unref(t, &u1, NULL, "a", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "a", NULL), 1);
	assert_int_equal(subs_may_hold(t, &u1, NULL, "a"), 0);
	subs_free(t);
}

struct met {
	void *owners[16];
	int kinds[16];
	size_t n;
};

static void
met_one(void *arg, void *owner, int kind)
{
	struct met *m = arg;

	assert_true(m->n < 16);
	m->owners[m->n] = owner;
	m->kinds[m->n++] = kind;
}

static int
met_has(const struct met *m, void *owner)
{
	size_t i, k = 0;

	for (i = 0; i < m->n; i++)
		k += m->owners[i] == owner;
	return ((int)k);
}

/* The holders of an update: found through the keys that cover its URI,
 * each set once however many of its keys cover it; other instances and
 * siblings are not met; a reference dropped leaves the index. */
static void
test_holders(void **state)
{
	struct subs *t = subs_new(0);
	struct subs_set *a = subs_set_new(0), *b = subs_set_new(0), *c = subs_set_new(0);
	struct subs_set *d = subs_set_new(0), *e = subs_set_new(0);
	int oa, ob, oc, od, oe;
	struct met m;

	(void)state;
	subs_set_owner(a, &oa, 1);
	subs_set_owner(b, &ob, 2);
	subs_set_owner(c, &oc, 1);
	subs_set_owner(d, &od, 1);
	subs_set_owner(e, &oe, 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///d", a), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///d/", b), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///d/a", b), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///dx", c), 1);
	assert_int_equal(subs_ref(t, &u2, NULL, "file:///d/a", d), 1);
	assert_int_equal(subs_ref(t, &u1, "alice", "file:///d", e), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "file:///d/a", NULL), 0);	/* not indexed */

	memset(&m, 0, sizeof(m));
	assert_int_equal(subs_holders(t, &u1, NULL, "file:///d/a", met_one, &m), 2);
	assert_int_equal(met_has(&m, &oa), 1);
	assert_int_equal(met_has(&m, &ob), 1);
	assert_int_equal(m.kinds[0], m.owners[0] == &oa ? 1 : 2);	/* each with its kind */
	assert_int_equal(m.kinds[1], m.owners[1] == &oa ? 1 : 2);
	memset(&m, 0, sizeof(m));
	assert_int_equal(subs_holders(t, &u1, NULL, "file:///dx", met_one, &m), 1);
	assert_int_equal(met_has(&m, &oc), 1);
	memset(&m, 0, sizeof(m));
	assert_int_equal(subs_holders(t, &u1, NULL, "file:///d?q", met_one, &m), 0);
	assert_int_equal(subs_holders(t, &u1, NULL, "file:///", met_one, &m), 0);
	assert_int_equal(subs_holders(t, &u1, NULL, "", met_one, &m), 0);
	assert_int_equal(subs_holders(t, &u1, "alice", "file:///d/a/b", met_one, &m), 1);
	assert_int_equal(met_has(&m, &oe), 1);
	memset(&m, 0, sizeof(m));
	assert_int_equal(subs_holders(t, &u2, NULL, "file:///d/a/", met_one, &m), 1);
	assert_int_equal(met_has(&m, &od), 1);

	/* A dropped reference leaves the index; the key stays for others. */
	assert_int_equal(subs_unref(t, &u1, NULL, "file:///d/a", b), 0);
	memset(&m, 0, sizeof(m));
	assert_int_equal(subs_holders(t, &u1, NULL, "file:///d/a", met_one, &m), 2);
	assert_int_equal(subs_unref(t, &u1, NULL, "file:///d/", b), 1);
	memset(&m, 0, sizeof(m));
	assert_int_equal(subs_holders(t, &u1, NULL, "file:///d/a", met_one, &m), 1);
	assert_int_equal(met_has(&m, &oa), 1);
	/* A set without owner is still met, as NULL (a holder leaving). */
	subs_set_owner(a, NULL, 0);
	memset(&m, 0, sizeof(m));
	assert_int_equal(subs_holders(t, &u1, NULL, "file:///d/a", met_one, &m), 1);
	assert_null(m.owners[0]);
	subs_free(t);	/* frees the remaining index entries */
	subs_set_free(a);
	subs_set_free(b);
	subs_set_free(c);
	subs_set_free(d);
	subs_set_free(e);
}

/* The index agrees with subs_set_match() on every pair of short URIs of a
 * few bytes that matter ('/', '?', a letter). */
static void
test_holders_agree(void **state)
{
	static const char alpha[] = "a/?";
	enum { LEN = 4 };
	char uris[121][LEN + 1];
	struct subs_set *sets[121];
	struct subs *t = subs_new(0);
	struct met m;
	size_t nu = 0, i, j, k, len, x;

	(void)state;
	/* Every string of 0 to 4 bytes over alpha: 1 + 3 + 9 + 27 + 81. */
	for (len = 0; len <= LEN; len++) {
		size_t count = 1;

		for (k = 0; k < len; k++)
			count *= 3;
		for (i = 0; i < count; i++) {
			x = i;
			for (k = 0; k < len; k++) {
				uris[nu][len - 1 - k] = alpha[x % 3];
				x /= 3;
			}
			uris[nu][len] = '\0';
			nu++;
		}
	}
	assert_int_equal(nu, 121);
	for (i = 0; i < nu; i++) {
		sets[i] = subs_set_new(0);
		assert_int_equal(subs_set_add(sets[i], uris[i], &u1, NULL, uris[i]), 0);
		subs_set_owner(sets[i], sets[i], 1);
		assert_int_equal(subs_ref(t, &u1, NULL, uris[i], sets[i]), 1);
	}
	for (j = 0; j < nu; j++) {
		size_t want = 0;

		for (i = 0; i < nu; i++)
			want += subs_set_match(sets[i], &u1, NULL, uris[j]);
		memset(&m, 0, sizeof(m));
		assert_int_equal(subs_holders(t, &u1, NULL, uris[j], met_one, &m), want);
		for (k = 0; k < m.n; k++)
			assert_true(subs_set_match(m.owners[k], &u1, NULL, uris[j]));
	}
	for (i = 0; i < nu; i++) {
		assert_int_equal(subs_unref(t, &u1, NULL, uris[i], sets[i]), 1);
		subs_set_free(sets[i]);
	}
	assert_int_equal(subs_keys(t), 0);
	subs_free(t);
}

static int
resend_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct subs_resend *)a)->uri, ((const struct subs_resend *)b)->uri));
}

/* An instance that started again: its keys go down; those with nothing in
 * flight are listed (and counted in flight), those of other instances are
 * left alone. */
static void
test_restarted(void **state)
{
	struct subs *t = subs_new(0);
	struct subs_resend *v;
	uint64_t sa, sb, sc;
	unsigned inflight;
	size_t n;

	(void)state;
	assert_int_equal(subs_restarted(t, &u1, NULL, &v, &n), 0);
	assert_null(v);
	assert_int_equal(n, 0);
	/* a: up; b: a subscribe in flight; c: refused; others elsewhere. */
	assert_int_equal(subs_ref(t, &u1, NULL, "a", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "a", NULL), 0);
	assert_int_equal(subs_ref(t, &u1, NULL, "b", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, NULL, "c", NULL), 1);
	assert_int_equal(subs_ref(t, &u1, "alice", "a", NULL), 1);
	assert_int_equal(subs_ref(t, &u2, NULL, "a", NULL), 1);
	sa = subs_sending(t, &u1, NULL, "a", 0);
	assert_int_equal(subs_answered(t, &u1, NULL, "a", sa, 1), 0);
	sb = subs_sending(t, &u1, NULL, "b", 0);
	sc = subs_sending(t, &u1, NULL, "c", 0);
	assert_int_equal(subs_answered(t, &u1, NULL, "c", sc, 0), 0);
	assert_int_equal(subs_answered(t, &u1, "alice", "a", subs_sending(t, &u1, "alice", "a", 0), 1), 0);
	assert_int_equal(subs_answered(t, &u2, NULL, "a", subs_sending(t, &u2, NULL, "a", 0), 1), 0);

	assert_int_equal(subs_restarted(t, &u1, NULL, &v, &n), 0);
	assert_int_equal(n, 2);
	qsort(v, n, sizeof(*v), resend_cmp);
	assert_string_equal(v[0].uri, "a");
	assert_int_equal(v[0].serial, sa);
	assert_string_equal(v[1].uri, "c");
	assert_int_equal(v[1].serial, sc);
	subs_resend_free(v, n);
	/* All down, each with one subscribe in flight; counts kept. */
	assert_int_equal(subs_state(t, &u1, NULL, "a", &inflight), 0);
	assert_int_equal(inflight, 1);
	assert_int_equal(subs_refs(t, &u1, NULL, "a"), 2);
	assert_int_equal(subs_state(t, &u1, NULL, "b", &inflight), 0);
	assert_int_equal(inflight, 1);
	assert_int_equal(subs_state(t, &u1, NULL, "c", &inflight), 0);
	assert_int_equal(inflight, 1);
	/* Other instances untouched. */
	assert_int_equal(subs_state(t, &u1, "alice", "a", &inflight), 1);
	assert_int_equal(inflight, 0);
	assert_int_equal(subs_state(t, &u2, NULL, "a", NULL), 1);
	/* Nothing listed twice while in flight. */
	assert_int_equal(subs_restarted(t, &u1, NULL, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(subs_answered(t, &u1, NULL, "b", sb, 1), 0);
	assert_int_equal(subs_state(t, &u1, NULL, "b", NULL), 1);
	/* A per-user instance alone. */
	assert_int_equal(subs_restarted(t, &u1, "alice", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].uri, "a");
	subs_resend_free(v, n);
	assert_int_equal(subs_state(t, &u2, NULL, "a", NULL), 1);
	/* No longer subscribable: down, nothing to send. */
	assert_int_equal(subs_restarted(t, &u2, NULL, NULL, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(subs_state(t, &u2, NULL, "a", &inflight), 0);
	assert_int_equal(inflight, 0);
	subs_resend_free(NULL, 0);
	subs_free(t);
}

/* Stamps tell an item from one added again under the same URI. */
static void
test_stamps(void **state)
{
	struct subs_set *s = subs_set_new(0);
	struct subs_item it;
	uint64_t s1, s2;

	(void)state;
	assert_int_equal(subs_set_stamp(s, "x"), 0);
	assert_int_equal(subs_set_stamp(NULL, "x"), 0);
	assert_int_equal(subs_set_add(s, "x", &u1, NULL, "x"), 0);
	s1 = subs_set_stamp(s, "x");
	assert_true(s1 != 0);
	assert_int_equal(subs_set_add(s, "x", &u1, NULL, "x"), 1);
	assert_int_equal(subs_set_stamp(s, "x"), s1); /* already there: the same item */
	assert_int_equal(subs_set_add(s, "y", &u1, NULL, "y"), 0);
	assert_true(subs_set_stamp(s, "y") != s1);
	assert_int_equal(subs_set_remove(s, "x", &it), 0);
	assert_int_equal(it.stamp, s1);
	subs_item_clear(&it);
	assert_int_equal(subs_set_stamp(s, "x"), 0);
	assert_int_equal(subs_set_add(s, "x", &u1, NULL, "x"), 0);
	s2 = subs_set_stamp(s, "x");
	assert_true(s2 != 0 && s2 != s1);
	subs_set_free(s);
}

/* Sets sharing a budget: every holder's items count against one cap on
 * the bytes they keep (many sessions of 256 long URIs each would
 * otherwise hold gigabytes); an item gives its bytes back as it leaves. */
static void
test_budget(void **state)
{
	struct subs_budget b = {0, 3000};
	struct subs_set *s1 = subs_set_new(0), *s2 = subs_set_new(0);
	struct subs_item it, taken[4];
	char uri[1001];
	size_t n;

	(void)state;
	assert_non_null(s1);
	assert_non_null(s2);
	subs_set_budget(s1, &b);
	subs_set_budget(s2, &b);
	memset(uri, 'a', sizeof(uri) - 1);
	uri[sizeof(uri) - 1] = '\0';
	assert_int_equal(subs_set_add(s1, uri, &u1, NULL, "x"), 0);
	uri[0] = 'b';
	assert_int_equal(subs_set_add(s2, uri, &u1, NULL, "x"), 0);
	assert_true(b.used > 2000 && b.used <= 3000);
	/* A third long one, in either set, is over the budget. */
	uri[0] = 'c';
	errno = 0;
	assert_int_equal(subs_set_add(s1, uri, &u1, NULL, "x"), -1);
	assert_int_equal(errno, EDQUOT);
	assert_int_equal(subs_set_add(s2, uri, &u1, NULL, "x"), -1);
	assert_int_equal(subs_set_count(s1) + subs_set_count(s2), 2);
	/* Short ones still fit. */
	assert_int_equal(subs_set_add(s2, "y", &u1, "alice", "y"), 0);
	/* Removed, taken or freed: the bytes come back. */
	uri[0] = 'a';
	assert_int_equal(subs_set_remove(s1, uri, &it), 0);
	subs_item_clear(&it);
	uri[0] = 'c';
	assert_int_equal(subs_set_add(s1, uri, &u1, NULL, "x"), 0);
	n = subs_set_take(s2, taken, 4);
	assert_int_equal(n, 2);
	subs_item_clear(&taken[0]);
	subs_item_clear(&taken[1]);
	subs_set_free(s1);
	assert_int_equal(b.used, 0);
	subs_set_free(s2);
	assert_int_equal(b.used, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcounts),
		cmocka_unit_test(test_table_limit),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_covers),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_serials),
		cmocka_unit_test(test_maybe),
		cmocka_unit_test(test_holders),
		cmocka_unit_test(test_holders_agree),
		cmocka_unit_test(test_restarted),
		cmocka_unit_test(test_stamps),
		cmocka_unit_test(test_budget),
	};

	return (cmocka_run_group_tests_name("gateway/subs", tests, NULL, NULL));
}
