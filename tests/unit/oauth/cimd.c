/* Tests for src/oauth/cimd.c: which client_id values are taken for
 * metadata document URLs.  (Fetching is covered by the integration tests,
 * which serve documents.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/fetch.h"
#include "oauth/internal.h"
#include "server/config.h"

static void
test_is_url(void **state)
{
	static const struct {
		const char *id;
		int url;
	} cases[] = {
	    {"https://app.example.com/client.json", 1},
	    {"https://app.example.com:8443/c?v=1", 1},
	    {"https://xn--ggle-55da.com/c", 1},
	    {"abc123", 0},
	    {"https://app.example.com", 0},
	    {"https://app.example.com/", 0},
	    {"https://u@app.example.com/c", 0},
	    {"https://app.example.com/c#f", 0},
	    {"https://app.example.com/./c", 0},
	    {"https://app.example.com/a/../c", 0},
	    {"http://app.example.com/c", 0},
	    /* Not URIs: raw UTF-8 (an IDN homograph of google.com), control
	     * bytes, spaces, backslashes. */
	    {"https://g\xd0\xbe\xd0\xbegle.com/c", 0},
	    {"https://app.example.com/c\xc3\xa9", 0},
	    {"https://app.example.com/c\nx", 0},
	    {"https://app.example.com/c x", 0},
	    {"https://app.example.com\\.evil.example/c", 0},
	    {"https://app.example.com/c\x7f", 0},
	};
	struct config cfg;
	struct cimd *c;
	size_t i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cimd.enabled = 1;
	assert_non_null(c = cimd_new(&cfg));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cimd_is_url(c, cases[i].id) != cases[i].url)
			fail_msg("cimd_is_url(\"%s\") = %d, want %d", cases[i].id, !cases[i].url,
			    cases[i].url);
	}
	cfg.cimd.enabled = 0;
	assert_int_equal(cimd_is_url(c, "https://app.example.com/client.json"), 0);
	cimd_free(c);
}

struct slow_fetch {
	struct cimd *c;
	char url[128];
	int rc;
};

static void *
slow_fetch(void *arg)
{
	struct slow_fetch *sf = arg;
	struct store_client out;
	struct scope_set all;

	memset(&all, 0, sizeof(all));
	sf->rc = cimd_resolve(sf->c, sf->url, &all, &out);
	store_client_clear(&out);
	return (NULL);
}

/* While one fetch waits for its document, a second one is refused at once
 * (with 2 server threads, fetches may hold only one); after it, fetching
 * works again. */
static void
test_fetch_limit(void **state)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct slow_fetch sf;
	struct store_client out;
	struct scope_set all;
	struct pollfd pfd;
	struct config cfg;
	pthread_t t;
	char url[128];
	int ls, cs;

	(void)state;
	fetch_global_init();
	memset(&all, 0, sizeof(all));
	memset(&cfg, 0, sizeof(cfg));
	cfg.threads = 2;
	cfg.cimd.enabled = 1;
	cfg.cimd.allow_http = 1;
	cfg.cimd.allow_private = 1;
	cfg.cimd.cache_ttl = 300;

	/* A document server that accepts and never answers. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((ls = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 8), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sin, &slen), 0);

	memset(&sf, 0, sizeof(sf));
	assert_non_null(sf.c = cimd_new(&cfg));
	snprintf(sf.url, sizeof(sf.url), "http://127.0.0.1:%u/a.json", (unsigned)ntohs(sin.sin_port));
	assert_int_equal(pthread_create(&t, NULL, slow_fetch, &sf), 0);

	/* The first fetch has connected: it is in progress. */
	pfd.fd = ls;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true((cs = accept(ls, NULL, NULL)) >= 0);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/b.json", (unsigned)ntohs(sin.sin_port));
	assert_int_equal(cimd_resolve(sf.c, url, &all, &out), -1);
	store_client_clear(&out);

	/* End the first fetch (no answer: a network error). */
	close(cs);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(sf.rc, STORE_NOTFOUND);

	/* The slot is free again: this fetch runs (and fails the same way). */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/c.json", (unsigned)ntohs(sin.sin_port));
	memcpy(sf.url, url, sizeof(url));
	assert_int_equal(pthread_create(&t, NULL, slow_fetch, &sf), 0);
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true((cs = accept(ls, NULL, NULL)) >= 0);
	close(cs);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(sf.rc, STORE_NOTFOUND);

	close(ls);
	cimd_free(sf.c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_url),
	    cmocka_unit_test(test_fetch_limit),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
