/* Tests for src/http/connlimit.c: connections counted per client address,
 * IPv4 by address (IPv4-mapped IPv6 too), IPv6 by /64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http/connlimit.h"

/* ${text} as a sockaddr (IPv4 or IPv6) in ${ss}; its length. */
static socklen_t
addr(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(40000);
		return (sizeof(*s4));
	}
	assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(40001);
	return (sizeof(*s6));
}

static void
test_key(void **state)
{
	static const struct {
		const char *a, *b;
		int same;
	} cases[] = {
	    {"192.0.2.1", "192.0.2.1", 1},
	    {"192.0.2.1", "::ffff:192.0.2.1", 1},
	    {"192.0.2.1", "192.0.2.2", 0},
	    {"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", 1},
	    {"2001:db8:1:2::1", "2001:db8:1:3::1", 0},
	    {"::ffff:192.0.2.1", "::ffff:192.0.2.2", 0},
	    {"::1", "::2", 1},
	    {"::ffff:0:0", "0.0.0.0", 1},
	    /* An IPv6 /64 never equals an IPv4 address. */
	    {"::", "0.0.0.0", 0},
	    {"::c000:201", "192.0.2.1", 0},
	};
	unsigned char ka[CONNLIMIT_KEY_LEN], kb[CONNLIMIT_KEY_LEN];
	struct sockaddr_storage sa, sb;
	socklen_t la, lb;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		la = addr(cases[i].a, &sa);
		lb = addr(cases[i].b, &sb);
		assert_int_equal(connlimit_key((struct sockaddr *)&sa, la, ka), 0);
		assert_int_equal(connlimit_key((struct sockaddr *)&sb, lb, kb), 0);
		if ((memcmp(ka, kb, sizeof(ka)) == 0) != cases[i].same)
			fail_msg("%s and %s: want %s keys", cases[i].a, cases[i].b,
			    cases[i].same ? "equal" : "different");
	}
	/* Other families and short lengths have no key. */
	memset(&sa, 0, sizeof(sa));
	sa.ss_family = AF_UNIX;
	assert_int_equal(connlimit_key((struct sockaddr *)&sa, sizeof(sa), ka), -1);
	la = addr("2001:db8::1", &sa);
	assert_int_equal(connlimit_key((struct sockaddr *)&sa, sizeof(struct sockaddr_in), ka), -1);
	assert_int_equal(connlimit_key(NULL, 0, ka), -1);
}

/* The limit holds per /64 and per IPv4 address; a close frees a place;
 * other addresses are not affected. */
static void
test_count(void **state)
{
	struct connlimit_entry *e[4];
	struct sockaddr_storage a1, a2, b, c, m;
	socklen_t l1, l2, lb, lc, lm;
	struct connlimit *cl;

	(void)state;
	assert_non_null(cl = connlimit_new(3));
	l1 = addr("2001:db8:0:1::a", &a1);
	l2 = addr("2001:db8:0:1:ffff::b", &a2);	/* the same /64 */
	lb = addr("2001:db8:0:2::a", &b);	/* another /64 */
	lc = addr("198.51.100.7", &c);
	lm = addr("::ffff:198.51.100.7", &m);	/* the same client as c */

	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&a1, l1), 1);
	assert_non_null(e[0] = connlimit_add(cl, (struct sockaddr *)&a1, l1));
	assert_non_null(e[1] = connlimit_add(cl, (struct sockaddr *)&a2, l2));
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&a2, l2), 1);
	assert_non_null(e[2] = connlimit_add(cl, (struct sockaddr *)&a1, l1));
	assert_int_equal(connlimit_count(cl, (struct sockaddr *)&a2, l2), 3);
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&a1, l1), 0);
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&a2, l2), 0);
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&b, lb), 1);
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&c, lc), 1);
	connlimit_del(cl, e[1]);
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&a1, l1), 1);
	connlimit_del(cl, e[0]);
	connlimit_del(cl, e[2]);
	assert_int_equal(connlimit_count(cl, (struct sockaddr *)&a1, l1), 0);

	assert_non_null(e[0] = connlimit_add(cl, (struct sockaddr *)&c, lc));
	assert_non_null(e[1] = connlimit_add(cl, (struct sockaddr *)&m, lm));
	assert_non_null(e[2] = connlimit_add(cl, (struct sockaddr *)&c, lc));
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&m, lm), 0);
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&c, lc), 0);
	connlimit_del(cl, e[0]);
	connlimit_del(cl, NULL);
	assert_int_equal(connlimit_count(cl, (struct sockaddr *)&m, lm), 2);
	/* Entries still held are freed with the table. */
	connlimit_free(cl);
	connlimit_free(NULL);
}

/* Many addresses at once (more than the buckets), then all closed: every
 * count is right and the table is empty again. */
static void
test_many(void **state)
{
	static struct connlimit_entry *e[20000];
	struct sockaddr_storage ss;
	struct connlimit *cl;
	char text[64];
	socklen_t l;
	int i;

	(void)state;
	assert_non_null(cl = connlimit_new(2));
	for (i = 0; i < 20000; i++) {
		snprintf(text, sizeof(text), "2001:db8:%x:%x::1", i / 2 / 65536, (i / 2) % 65536);
		l = addr(text, &ss);
		assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&ss, l), 1);
		assert_non_null(e[i] = connlimit_add(cl, (struct sockaddr *)&ss, l));
	}
	l = addr("2001:db8:0:1::9", &ss);
	assert_int_equal(connlimit_count(cl, (struct sockaddr *)&ss, l), 2);
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&ss, l), 0);
	for (i = 0; i < 20000; i++)
		connlimit_del(cl, e[i]);
	assert_int_equal(connlimit_count(cl, (struct sockaddr *)&ss, l), 0);
	assert_int_equal(connlimit_allows(cl, (struct sockaddr *)&ss, l), 1);
	connlimit_free(cl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_many),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
