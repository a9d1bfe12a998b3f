/* Tests for Server-Sent Events streams in src/http/server.c: a real server
 * on 127.0.0.1 with two pool threads, read over plain sockets. */
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

#include "core/buf.h"
#include "core/clock.h"
#include "http/server.h"

#define WAIT_MS 10000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct http_stream *streams[8];
static size_t nstreams;
static int nclose;
static int release_in_callback;	/* on_close gives the handle back itself */

static void
on_close(void *arg)
{
	struct http_stream **sp = arg, *s;
	int release;

	pthread_mutex_lock(&mu);
	release = release_in_callback && sp != NULL;
	s = release ? *sp : NULL;
	pthread_mutex_unlock(&mu);
	if (release)
		http_stream_close(s);
	pthread_mutex_lock(&mu);
	if (release)
		*sp = NULL;
	nclose++;
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

static int
wait_count(int *p, int want)
{
	int i;

	for (i = 0; i < WAIT_MS / 5 && counter(p) < want; i++)
		usleep(5000);
	return (counter(p));
}

/* Wait for the ${i}th stream to be created. */
static struct http_stream *
stream_at(size_t i)
{
	struct http_stream *s = NULL;
	int k;

	for (k = 0; k < WAIT_MS / 5; k++) {
		pthread_mutex_lock(&mu);
		if (nstreams > i)
			s = streams[i];
		pthread_mutex_unlock(&mu);
		if (s != NULL)
			break;
		usleep(5000);
	}
	return (s);
}

/* /sse?<heartbeat_s>&<queue_max>: a stream, handed to the test. */
static void
h_sse(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct http_stream *s;
	unsigned hb = 0;
	size_t qmax = 0;

	(void)arg;
	sscanf(req->query, "%u&%zu", &hb, &qmax);
	http_resp_header(resp, "X-Test", "yes");
	http_resp_header(resp, "Content-Type", "text/plain");	/* replaced */
	pthread_mutex_lock(&mu);
	s = http_resp_stream(resp, hb, qmax, on_close, &streams[nstreams]);
	if (s == NULL || http_resp_defer(resp, 1000, NULL, NULL, NULL) != NULL)
		abort();
	/* Events sent before the handler returns are kept. */
	if (http_stream_send(s, NULL, NULL, "first", 5) != 0)
		abort();
	streams[nstreams++] = s;
	pthread_mutex_unlock(&mu);
}

/* /wait: a deferred response nobody finishes. */
static struct http_defer *waiting;

static void
h_wait(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct http_defer *d;

	(void)arg;
	(void)req;
	if ((d = http_resp_defer(resp, 60000, NULL, on_close, NULL)) == NULL)
		abort();
	pthread_mutex_lock(&mu);
	waiting = d;
	pthread_mutex_unlock(&mu);
}

static const struct http_route routes[] = {
	{"/sse", 0, h_sse, NULL},
	{"/wait", 0, h_wait, NULL},
};

/* --- a small SSE client ------------------------------------------------ */

struct client {
	int fd;
	struct buf raw;		/* bytes from the socket */
	size_t pos;		/* parsed up to here */
	int header_done;
	struct buf header;
	struct buf body;	/* de-chunked body */
	int ended;		/* the last chunk came */
	int eof;		/* the connection closed */
};

static void
client_open(struct client *c, uint16_t port, const char *target, int rcvbuf)
{
	struct sockaddr_in sa;
	char req[256];
	size_t n;

	memset(c, 0, sizeof(*c));
	buf_init(&c->raw, 1 << 20);
	buf_init(&c->header, 1 << 16);
	buf_init(&c->body, 1 << 20);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	if (rcvbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	n = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
	    target);
	assert_int_equal(write(c->fd, req, n), (ssize_t)n);
}

static void
client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_clear(&c->raw);
	buf_clear(&c->header);
	buf_clear(&c->body);
}

/* Parse what has arrived: the header, then chunks. */
static void
client_parse(struct client *c)
{
	const char *p = buf_cstr(&c->raw), *e;
	unsigned long size;
	char *end;

	if (!c->header_done) {
		if ((e = strstr(p, "\r\n\r\n")) == NULL)
			return;
		assert_int_equal(buf_add(&c->header, p, (size_t)(e + 4 - p)), 0);
		c->pos = (size_t)(e + 4 - p);
		c->header_done = 1;
	}
	while (!c->ended && c->pos < c->raw.len) {
		if ((e = strstr(p + c->pos, "\r\n")) == NULL)
			return;
		size = strtoul(p + c->pos, &end, 16);
		assert_true(end == e);
		if (c->raw.len - (size_t)(e + 2 - p) < size + 2)
			return;
		assert_int_equal(buf_add(&c->body, e + 2, size), 0);
		c->pos = (size_t)(e + 2 - p) + size + 2;
		if (size == 0)
			c->ended = 1;
	}
}

/* Read until the body holds ${needle} (or the stream ended, if NULL). */
static int
client_wait(struct client *c, const char *needle)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	char tmp[4096];
	ssize_t n;
	int64_t until = clock_now_ms() + WAIT_MS;

	for (;;) {
		client_parse(c);
		if (needle != NULL ? strstr(buf_cstr(&c->body), needle) != NULL :
				     (c->ended || c->eof))
			return (0);
		if (c->eof || clock_now_ms() > until)
			return (-1);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((n = read(c->fd, tmp, sizeof(tmp))) <= 0)
			c->eof = 1;
		else
			assert_int_equal(buf_add(&c->raw, tmp, (size_t)n), 0);
	}
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
	pthread_mutex_lock(&mu);
	memset(streams, 0, sizeof(streams));
	waiting = NULL;
	nstreams = 0;
	nclose = 0;
	release_in_callback = 0;
	pthread_mutex_unlock(&mu);
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

/* Events arrive in order, framed as SSE; close ends the body cleanly. */
static void
test_events(void **state)
{
	static const char want[] =
	    "data: first\n\n"
	    "event: message\nid: 1\ndata: hello\n\n"
	    "data: a\ndata: b\ndata: c\ndata: d\n\n"
	    "data: x\ndata: \n\n"
	    "data: \n\n"
	    "id: 3\ndata: {\"jsonrpc\":\"2.0\"}\n\n";
	struct http_stream *s;
	struct client c;

	client_open(&c, port(state), "/sse?60", 0);
	assert_non_null(s = stream_at(0));
	assert_int_equal(client_wait(&c, "data: first\n\n"), 0);
	assert_non_null(strstr(buf_cstr(&c.header), "HTTP/1.1 200"));
	assert_non_null(strstr(buf_cstr(&c.header), "\r\nContent-Type: text/event-stream\r\n"));
	assert_null(strstr(buf_cstr(&c.header), "text/plain"));
	assert_non_null(strstr(buf_cstr(&c.header), "\r\nCache-Control: no-store\r\n"));
	assert_non_null(strstr(buf_cstr(&c.header), "\r\nX-Accel-Buffering: no\r\n"));
	assert_non_null(strstr(buf_cstr(&c.header), "\r\nX-Test: yes\r\n"));
	assert_non_null(strstr(buf_cstr(&c.header), "\r\nX-Content-Type-Options: nosniff\r\n"));
	assert_non_null(strstr(buf_cstr(&c.header), "\r\nTransfer-Encoding: chunked\r\n"));

	assert_int_equal(http_stream_send(s, "message", "1", "hello", 5), 0);
	assert_int_equal(http_stream_send(s, NULL, NULL, "a\nb\r\nc\rd", 8), 0);
	assert_int_equal(http_stream_send(s, NULL, NULL, "x\n", 2), 0);
	assert_int_equal(http_stream_send(s, NULL, NULL, "", 0), 0);
	/* Bad fields are refused and nothing is queued. */
	assert_int_equal(http_stream_send(s, "a\nevent: x", NULL, "z", 1), -1);
	assert_int_equal(http_stream_send(s, NULL, "2\r", "z", 1), -1);
	{
		char longid[HTTP_SSE_FIELD_MAX + 2];

		memset(longid, 'i', sizeof(longid) - 1);
		longid[sizeof(longid) - 1] = '\0';
		assert_int_equal(http_stream_send(s, NULL, longid, "z", 1), -1);
	}
	assert_int_equal(http_stream_send(s, NULL, "3", "{\"jsonrpc\":\"2.0\"}", 17), 0);
	assert_int_equal(client_wait(&c, "\"2.0\"}\n\n"), 0);
	assert_string_equal(buf_cstr(&c.body), want);

	/* Give it back: the body ends with the last chunk. */
	http_stream_close(s);
	assert_int_equal(client_wait(&c, NULL), 0);
	assert_true(c.ended);
	assert_string_equal(buf_cstr(&c.body), want);
	assert_int_equal(counter(&nclose), 0);
	client_close(&c);
}

/* Heartbeats arrive on an idle stream. */
static void
test_heartbeat(void **state)
{
	struct http_stream *s;
	struct client c;

	client_open(&c, port(state), "/sse?1", 0);
	assert_non_null(s = stream_at(0));
	assert_int_equal(client_wait(&c, "data: first\n\n: ping\n\n"), 0);
	assert_int_equal(client_wait(&c, "data: first\n\n: ping\n\n: ping\n\n"), 0);
	assert_int_equal(http_stream_send(s, NULL, NULL, "after", 5), 0);
	assert_int_equal(client_wait(&c, ": ping\n\ndata: after\n\n"), 0);
	http_stream_close(s);
	client_close(&c);
}

/* A client that does not read: the queue passes its cap, the stream is
 * closed, on_close follows, and memory stays bounded. */
static void
test_overflow(void **state)
{
	struct http_stream *s;
	struct client c;
	char ev[1024];
	int i, rc = 0;

	client_open(&c, port(state), "/sse?60&8192", 4096);
	assert_non_null(s = stream_at(0));
	assert_int_equal(client_wait(&c, "data: first\n\n"), 0);
	memset(ev, 'x', sizeof(ev));
	/* The kernel buffers some first; 64 MiB is far more than they hold. */
	for (i = 0; i < 64 * 1024 && (rc = http_stream_send(s, NULL, NULL, ev, sizeof(ev))) == 0;
	     i++)
		;
	assert_int_equal(rc, -1);
	assert_int_equal(wait_count(&nclose, 1), 1);
	assert_int_equal(http_stream_send(s, NULL, NULL, "x", 1), -1);
	/* One event over the cap overflows at once. */
	http_stream_close(s);
	client_close(&c);

	client_open(&c, port(state), "/sse?60&100", 0);
	assert_non_null(s = stream_at(1));
	assert_int_equal(http_stream_send(s, NULL, NULL, ev, 101), -1);
	assert_int_equal(wait_count(&nclose, 2), 2);
	http_stream_close(s);
	client_close(&c);
}

/* The client leaves an idle (suspended) stream: on_close once, later sends
 * fail, close is a harmless release. */
static void
test_client_disconnect(void **state)
{
	struct http_stream *s;
	struct client c;

	client_open(&c, port(state), "/sse?60", 0);
	assert_non_null(s = stream_at(0));
	assert_int_equal(client_wait(&c, "data: first\n\n"), 0);
	client_close(&c);
	assert_int_equal(wait_count(&nclose, 1), 1);
	assert_int_equal(http_stream_send(s, NULL, NULL, "x", 1), -1);
	http_stream_close(s);
	usleep(50000);
	assert_int_equal(counter(&nclose), 1);

	/* The owner may give the stream back from inside on_close. */
	pthread_mutex_lock(&mu);
	release_in_callback = 1;
	pthread_mutex_unlock(&mu);
	client_open(&c, port(state), "/sse?60", 0);
	assert_non_null(stream_at(1));
	assert_int_equal(client_wait(&c, "data: first\n\n"), 0);
	client_close(&c);
	assert_int_equal(wait_count(&nclose, 2), 2);
	pthread_mutex_lock(&mu);
	assert_null(streams[1]);
	pthread_mutex_unlock(&mu);
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

/* Shutdown with open streams: on_close for each, the clients see the end,
 * http_server_free() returns, and the handles stay usable until closed. */
static void
test_shutdown(void **state)
{
	struct http_defer *d = NULL;
	struct client c[3], w;
	struct stopper st;
	pthread_t t;
	int i;

	for (i = 0; i < 3; i++) {
		client_open(&c[i], port(state), "/sse?60", 0);
		assert_non_null(stream_at((size_t)i));
		assert_int_equal(client_wait(&c[i], "data: first\n\n"), 0);
	}
	/* And a deferred request, pending. */
	client_open(&w, port(state), "/wait", 0);
	for (i = 0; i < WAIT_MS / 5 && d == NULL; i++) {
		usleep(5000);
		pthread_mutex_lock(&mu);
		d = waiting;
		pthread_mutex_unlock(&mu);
	}
	assert_non_null(d);
	/* One of them has data in flight. */
	assert_int_equal(http_stream_send(streams[2], NULL, NULL, "late", 4), 0);
	st.srv = *state;
	st.done = 0;
	*state = NULL;
	assert_int_equal(pthread_create(&t, NULL, stop_main, &st), 0);
	assert_int_equal(wait_count(&st.done, 1), 1);
	pthread_join(t, NULL);
	assert_int_equal(counter(&nclose), 4);
	assert_int_equal(client_wait(&w, NULL), 0);
	assert_non_null(strstr(buf_cstr(&w.raw), "HTTP/1.1 503"));
	client_close(&w);
	http_defer_finish(d, NULL);
	for (i = 0; i < 3; i++) {
		assert_int_equal(client_wait(&c[i], NULL), 0);
		assert_int_equal(http_stream_send(streams[i], NULL, NULL, "x", 1), -1);
		http_stream_close(streams[i]);
		client_close(&c[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
