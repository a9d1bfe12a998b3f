/* Tests for deferred responses in src/http/server.c: a real server on
 * 127.0.0.1 with two pool threads, driven over plain sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "http/server.h"

#define NCONC 200
#define WAIT_MS 10000

/* The owner side: handles waiting to be finished, and what was notified. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct http_defer *pending[NCONC + 8];
static int pending_id[NCONC + 8];
static size_t npending;
static int ntimeout, nclose;
static int release_in_callback;	/* on_timeout gives the handle back itself */

struct owner {
	struct http_defer *d;
	int id;
	int calls;	/* notifications received */
};
static struct owner owners[2 * NCONC];
static size_t nowners;

static void
on_timeout(void *arg)
{
	struct owner *o = arg;

	pthread_mutex_lock(&mu);
	ntimeout++;
	if (o != NULL)
		o->calls++;
	pthread_mutex_unlock(&mu);
	if (release_in_callback)
		http_defer_finish(o->d, NULL);
}

static void
on_close(void *arg)
{
	struct owner *o = arg;

	pthread_mutex_lock(&mu);
	nclose++;
	if (o != NULL)
		o->calls++;
	pthread_mutex_unlock(&mu);
}

static int
counter(int *p)
{
	int v;

	pthread_mutex_lock(&mu);
	v = *p;
	pthread_mutex_unlock(&mu);
	return (v);
}

/* Wait up to WAIT_MS for *${p} to reach ${want}. */
static int
wait_count(int *p, int want)
{
	int i;

	for (i = 0; i < WAIT_MS / 5; i++) {
		if (counter(p) >= want)
			return (counter(p));
		usleep(5000);
	}
	return (counter(p));
}

/* /later?<id>&<timeout_ms>: defer, and hand the handle to the test. */
static void
h_later(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct http_defer *d;
	unsigned tmo = 10000;
	int id = 0;

	(void)arg;
	sscanf(req->query, "%d&%u", &id, &tmo);
	pthread_mutex_lock(&mu);
	if (nowners == sizeof(owners) / sizeof(owners[0]))
		abort();
	owners[nowners].id = id;
	d = http_resp_defer(resp, tmo, on_timeout, on_close, &owners[nowners]);
	if (d == NULL) {
		pthread_mutex_unlock(&mu);
		http_resp_text(resp, 500, "text/plain", "no defer");
		return;
	}
	/* A second defer, or a stream, on the same response is refused. */
	if (http_resp_defer(resp, tmo, NULL, NULL, NULL) != NULL ||
	    http_resp_stream(resp, 0, 0, NULL, NULL) != NULL)
		abort();
	owners[nowners++].d = d;
	pending[npending] = d;
	pending_id[npending] = id;
	npending++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	/* Whatever the handler leaves in resp is discarded. */
	http_resp_text(resp, 418, "text/plain", "ignored");
}

/* /now: defer and finish before returning. */
static void
h_now(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct http_defer *d;
	struct http_resp r;

	(void)arg;
	(void)req;
	if ((d = http_resp_defer(resp, 1000, on_timeout, on_close, NULL)) == NULL) {
		http_resp_text(resp, 500, "text/plain", "no defer");
		return;
	}
	http_resp_init(&r);
	http_resp_text(&r, 200, "text/plain", "now");
	http_defer_finish(d, &r);
}

static const struct http_route routes[] = {
	{"/later", 0, h_later, NULL},
	{"/now", 0, h_now, NULL},
};

/* Take the oldest pending handle, waiting up to WAIT_MS. */
static struct http_defer *
take(int *idp)
{
	struct http_defer *d = NULL;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&mu);
	while (npending == 0)
		if (pthread_cond_timedwait(&cv, &mu, &ts) != 0)
			break;
	if (npending > 0) {
		d = pending[0];
		if (idp != NULL)
			*idp = pending_id[0];
		memmove(pending, pending + 1, (npending - 1) * sizeof(pending[0]));
		memmove(pending_id, pending_id + 1, (npending - 1) * sizeof(pending_id[0]));
		npending--;
	}
	pthread_mutex_unlock(&mu);
	return (d);
}

static void
reset_counts(void)
{
	pthread_mutex_lock(&mu);
	npending = 0;
	ntimeout = nclose = 0;
	release_in_callback = 0;
	memset(owners, 0, sizeof(owners));
	nowners = 0;
	pthread_mutex_unlock(&mu);
}

/* --- a small client ---------------------------------------------------- */

static int
conn_open(uint16_t port)
{
	struct sockaddr_in sa;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return (fd);
}

static void
send_req(int fd, const char *target)
{
	char req[256];
	size_t n;

	n = (size_t)snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target);
	assert_int_equal(write(fd, req, n), (ssize_t)n);
}

/* Read everything until EOF (or WAIT_MS of silence) into ${b}. */
static int
read_all(int fd, struct buf *b)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	char tmp[4096];
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, WAIT_MS) <= 0)
			return (-1);
		if ((n = read(fd, tmp, sizeof(tmp))) < 0)
			return (0);	/* reset counts as the end too */
		if (n == 0)
			return (0);
		if (buf_add(b, tmp, (size_t)n))
			return (-1);
	}
}

/* Open, request ${target}, read the whole answer. */
static void
fetch(uint16_t port, const char *target, struct buf *b)
{
	int fd = conn_open(port);

	buf_init(b, 1 << 16);
	send_req(fd, target);
	assert_int_equal(read_all(fd, b), 0);
	close(fd);
}

static const char *
body_of(const struct buf *b)
{
	const char *p = strstr(buf_cstr(b), "\r\n\r\n");

	assert_non_null(p);
	return (p + 4);
}

/* --- tests ------------------------------------------------------------- */

static int
setup(void **state)
{
	struct http_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.bind_addr = "127.0.0.1";
	cfg.threads = 2;
	cfg.timeout_s = 10;
	reset_counts();
	if ((*state = http_server_new(&cfg, routes, sizeof(routes) / sizeof(routes[0]))) == NULL)
		return (-1);
	return (0);
}

static int
teardown(void **state)
{
	http_server_free(*state);
	return (0);
}

static uint16_t
port(void **state)
{
	return (http_server_port(*state));
}

static void *
finisher(void *cookie)
{
	struct http_defer *d;
	struct http_resp r;
	int i, n = *(int *)cookie, id;
	char body[64];

	for (i = 0; i < n; i++) {
		if ((d = take(&id)) == NULL)
			break;
		snprintf(body, sizeof(body), "{\"id\":%d}", id);
		http_resp_init(&r);
		http_resp_header(&r, "X-Later", "yes");
		http_resp_text(&r, 200, "application/json", body);
		http_defer_finish(d, &r);
		/* The response was taken over: ${r} is empty again. */
		if (r.nheaders != 0 || r.body.len != 0)
			abort();
	}
	return (NULL);
}

/* Finished from another thread: the client gets that answer. */
static void
test_finish_other_thread(void **state)
{
	pthread_t t;
	struct buf b;
	int one = 1;

	assert_int_equal(pthread_create(&t, NULL, finisher, &one), 0);
	fetch(port(state), "/later?7", &b);
	pthread_join(t, NULL);
	assert_non_null(strstr(buf_cstr(&b), "HTTP/1.1 200"));
	assert_non_null(strstr(buf_cstr(&b), "\r\nX-Later: yes\r\n"));
	assert_non_null(strstr(buf_cstr(&b), "\r\nX-Content-Type-Options: nosniff\r\n"));
	assert_string_equal(body_of(&b), "{\"id\":7}");
	assert_int_equal(counter(&ntimeout), 0);
	assert_int_equal(counter(&nclose), 0);
	buf_clear(&b);

	/* Finished by the handler itself, before it returned. */
	fetch(port(state), "/now", &b);
	assert_non_null(strstr(buf_cstr(&b), "HTTP/1.1 200"));
	assert_string_equal(body_of(&b), "now");
	buf_clear(&b);
}

/* Nobody answers: 504 {"error":"timeout"}, on_timeout once, and a late
 * finish is a harmless release. */
static void
test_timeout(void **state)
{
	struct http_defer *d;
	struct http_resp r;
	struct buf b;

	fetch(port(state), "/later?1&100", &b);
	assert_non_null(strstr(buf_cstr(&b), "HTTP/1.1 504"));
	assert_non_null(strstr(buf_cstr(&b), "\r\nContent-Type: application/json\r\n"));
	assert_string_equal(body_of(&b), "{\"error\":\"timeout\"}");
	buf_clear(&b);
	assert_int_equal(wait_count(&ntimeout, 1), 1);
	assert_int_equal(counter(&nclose), 0);
	assert_non_null(d = take(NULL));
	http_resp_init(&r);
	http_resp_text(&r, 200, "text/plain", "too late");
	http_defer_finish(d, &r);
	assert_int_equal(r.body.len, 0);
	usleep(50000);
	assert_int_equal(counter(&ntimeout), 1);
	assert_int_equal(counter(&nclose), 0);

	/* The owner may give the handle back from inside on_timeout. */
	reset_counts();
	release_in_callback = 1;
	fetch(port(state), "/later?2&50", &b);
	assert_non_null(strstr(buf_cstr(&b), "HTTP/1.1 504"));
	buf_clear(&b);
	assert_int_equal(wait_count(&ntimeout, 1), 1);
}

/* The client leaves while the request is suspended: on_close once; a
 * finish afterwards is a no-op; the server goes on serving. */
static void
test_client_disconnect(void **state)
{
	struct http_defer *d;
	struct http_resp r;
	struct buf b;
	int fd;

	fd = conn_open(port(state));
	send_req(fd, "/later?3&10000");
	assert_non_null(d = take(NULL));
	close(fd);
	assert_int_equal(wait_count(&nclose, 1), 1);
	assert_int_equal(counter(&ntimeout), 0);
	http_resp_init(&r);
	http_resp_text(&r, 200, "text/plain", "nobody listens");
	http_defer_finish(d, &r);
	usleep(50000);
	assert_int_equal(counter(&nclose), 1);
	assert_int_equal(counter(&ntimeout), 0);

	fetch(port(state), "/now", &b);
	assert_non_null(strstr(buf_cstr(&b), "HTTP/1.1 200"));
	buf_clear(&b);
}

/* The same, but the client leaves long after the request was suspended:
 * by then the timer thread watches the socket (suspended sockets join the
 * hang-up watch only after a short delay), and still sees it go. */
static void
test_client_disconnect_late(void **state)
{
	struct http_defer *d;
	struct buf b;
	int fd;

	fd = conn_open(port(state));
	send_req(fd, "/later?4&10000");
	assert_non_null(d = take(NULL));
	usleep(300000);
	assert_int_equal(counter(&nclose), 0);
	close(fd);
	assert_int_equal(wait_count(&nclose, 1), 1);
	assert_int_equal(counter(&ntimeout), 0);
	http_defer_finish(d, NULL);
	fetch(port(state), "/now", &b);
	assert_non_null(strstr(buf_cstr(&b), "HTTP/1.1 200"));
	buf_clear(&b);
}

/* Far more requests in flight than pool threads: all complete. */
static void
test_many_in_flight(void **state)
{
	static int fds[NCONC];
	char target[64], want[64];
	pthread_t t;
	struct buf b;
	int i, n = NCONC;

	for (i = 0; i < NCONC; i++) {
		fds[i] = conn_open(port(state));
		snprintf(target, sizeof(target), "/later?%d", i);
		send_req(fds[i], target);
	}
	/* Every request is deferred before any is finished. */
	for (i = 0; i < WAIT_MS / 5; i++) {
		pthread_mutex_lock(&mu);
		if (npending == NCONC)
			i = WAIT_MS;
		pthread_mutex_unlock(&mu);
		usleep(5000);
	}
	assert_int_equal(npending, NCONC);
	assert_int_equal(pthread_create(&t, NULL, finisher, &n), 0);
	for (i = 0; i < NCONC; i++) {
		buf_init(&b, 1 << 16);
		assert_int_equal(read_all(fds[i], &b), 0);
		close(fds[i]);
		snprintf(want, sizeof(want), "{\"id\":%d}", i);
		assert_non_null(strstr(buf_cstr(&b), "HTTP/1.1 200"));
		assert_string_equal(body_of(&b), want);
		buf_clear(&b);
	}
	pthread_join(t, NULL);
	assert_int_equal(counter(&ntimeout), 0);
	assert_int_equal(counter(&nclose), 0);
}

/* Finish and timeout race: each client gets exactly one of the two
 * answers, and on_timeout is called once per 504. */
static void *
racer(void *cookie)
{
	struct http_defer *d;
	struct http_resp r;
	int i, n = *(int *)cookie, id;

	for (i = 0; i < n; i++) {
		if ((d = take(&id)) == NULL)
			break;
		http_resp_init(&r);
		http_resp_text(&r, 200, "text/plain", "won");
		http_defer_finish(d, &r);
	}
	return (NULL);
}

static void
test_finish_timeout_race(void **state)
{
	static int fds[NCONC], timedout[NCONC];
	char target[64];
	pthread_t t;
	struct buf b;
	size_t k;
	int i, n = NCONC, n504 = 0, n200 = 0;

	assert_int_equal(pthread_create(&t, NULL, racer, &n), 0);
	for (i = 0; i < NCONC; i++) {
		fds[i] = conn_open(port(state));
		snprintf(target, sizeof(target), "/later?%d&%d", i, 1 + i % 30);
		send_req(fds[i], target);
	}
	for (i = 0; i < NCONC; i++) {
		buf_init(&b, 1 << 16);
		assert_int_equal(read_all(fds[i], &b), 0);
		close(fds[i]);
		if (strstr(buf_cstr(&b), "HTTP/1.1 504") != NULL) {
			assert_string_equal(body_of(&b), "{\"error\":\"timeout\"}");
			timedout[i] = 1;
			n504++;
		} else {
			assert_non_null(strstr(buf_cstr(&b), "HTTP/1.1 200"));
			assert_string_equal(body_of(&b), "won");
			timedout[i] = 0;
			n200++;
		}
		buf_clear(&b);
	}
	/* Every handle is back: no notification runs or will run. */
	pthread_join(t, NULL);
	print_message("%d finished, %d timed out\n", n200, n504);
	assert_int_equal(n200 + n504, NCONC);
	/* on_timeout only for a 504, at most once; it is skipped when the
	 * owner gave the handle back before it could run. */
	assert_true(counter(&ntimeout) <= n504);
	assert_int_equal(counter(&nclose), 0);
	pthread_mutex_lock(&mu);
	assert_int_equal(nowners, NCONC);
	for (k = 0; k < nowners; k++)
		assert_true(owners[k].calls <= timedout[owners[k].id]);
	pthread_mutex_unlock(&mu);
}

/* Misuse is refused, not a crash. */
static void
test_misuse(void **state)
{
	struct http_resp r;

	(void)state;
	http_resp_init(&r);
	assert_null(http_resp_defer(&r, 1000, NULL, NULL, NULL));
	assert_null(http_resp_stream(&r, 0, 0, NULL, NULL));
	http_resp_text(&r, 200, "text/plain", "x");
	http_defer_finish(NULL, &r);	/* frees ${r} */
	assert_int_equal(r.body.len, 0);
	http_resp_clear(&r);
}

struct stopper {
	struct http_server *srv;
	int done;
};

static void *
stop_main(void *cookie)
{
	struct stopper *st = cookie;

	http_server_free(st->srv);
	pthread_mutex_lock(&mu);
	st->done = 1;
	pthread_mutex_unlock(&mu);
	return (NULL);
}

/* Shutdown with suspended requests: every owner hears on_close, every client
 * gets 503 or a closed connection, and http_server_free() returns. */
static void
test_shutdown(void **state)
{
	struct http_defer *d[3];
	struct stopper st;
	pthread_t t;
	struct buf b;
	int fds[3], i;

	for (i = 0; i < 3; i++) {
		fds[i] = conn_open(port(state));
		send_req(fds[i], "/later?5&10000");
		assert_non_null(d[i] = take(NULL));
	}
	st.srv = *state;
	st.done = 0;
	*state = NULL;
	assert_int_equal(pthread_create(&t, NULL, stop_main, &st), 0);
	assert_int_equal(wait_count(&st.done, 1), 1);
	pthread_join(t, NULL);
	assert_int_equal(counter(&nclose), 3);
	assert_int_equal(counter(&ntimeout), 0);
	for (i = 0; i < 3; i++) {
		buf_init(&b, 1 << 16);
		assert_int_equal(read_all(fds[i], &b), 0);
		assert_non_null(strstr(buf_cstr(&b), "HTTP/1.1 503"));
		assert_string_equal(body_of(&b), "{\"error\":\"unavailable\"}");
		buf_clear(&b);
		close(fds[i]);
		/* The handles outlive the server until given back. */
		http_defer_finish(d[i], NULL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_finish_other_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_disconnect_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_timeout_race, setup, teardown),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
