/*
 * sse_idle: how much resident memory 5,000 idle Server-Sent Events streams
 * cost the HTTP server (src/http/server.c).  Not a test.
 *
 * The process starts an http_server with one /sse route whose handler opens
 * a stream, sends one event and keeps it; a forked child opens N keep-alive
 * connections, reads each first event, then keeps them all idle.  The parent
 * prints its VmRSS (the server alone: the client is another process) before
 * and after, holds the streams through a few heartbeats, and checks that
 * http_server_free() ends them all with on_close.
 *
 *   cmake --build build
 *   cc -O2 -std=c17 -D_GNU_SOURCE -Isrc bench/sse_idle.c build/libmcpgate_internal.a \
 *       $(pkg-config --libs libmicrohttpd jansson cjose libcrypto libsodium sqlite3 libcurl) \
 *       -lpthread -o build/sse_idle
 *   build/sse_idle [N]          (default 5000)
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "http/server.h"

#define HEARTBEAT_S 2
#define HOLD_S 5

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct http_stream **streams;
static size_t nstreams, nmax;
static size_t nclosed;

static void
on_close(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	nclosed++;
	pthread_mutex_unlock(&mu);
}

static void
h_sse(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct http_stream *s;

	(void)arg;
	(void)req;
	if ((s = http_resp_stream(resp, HEARTBEAT_S, 0, on_close, NULL)) == NULL) {
		http_resp_text(resp, 503, "text/plain", "no stream");
		return;
	}
	(void)http_stream_send(s, "endpoint", NULL, "hello", 5);
	pthread_mutex_lock(&mu);
	if (nstreams < nmax)
		streams[nstreams++] = s;
	else
		http_stream_close(s);
	pthread_mutex_unlock(&mu);
}

static long
rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return (kib);
}

/* The client: N connections, each with its first event read, then idle. */
static int
client(uint16_t port, size_t n)
{
	static const char req[] = "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct sockaddr_in sa;
	struct pollfd pfd;
	char buf[1024];
	size_t i, got;
	ssize_t r;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < n; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
			perror("client: connect");
			return (1);
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		for (got = 0; got == 0 || strstr(buf, "data: hello") == NULL;) {
			if (poll(&pfd, 1, 10000) <= 0 ||
			    (r = read(fd, buf + got, sizeof(buf) - 1 - got)) <= 0) {
				fprintf(stderr, "client: stream %zu: no first event\n", i);
				return (1);
			}
			got += (size_t)r;
			buf[got] = '\0';
		}
	}
	fprintf(stderr, "client: %zu streams open\n", n);
	for (;;)
		pause();
}

int
main(int argc, char **argv)
{
	static const struct http_route routes[] = {{"/sse", 0, h_sse, NULL}};
	struct http_config cfg;
	struct http_server *srv;
	struct rlimit rl;
	struct timespec ts;
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000, i, have;
	long rss0, rss1, rss2;
	int64_t t0, t1;
	pid_t pid;
	int status;

	if ((streams = calloc(n, sizeof(*streams))) == NULL)
		return (1);
	nmax = n;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < n + 64) {
		fprintf(stderr, "RLIMIT_NOFILE hard limit %llu is too low for %zu streams\n",
		    (unsigned long long)rl.rlim_max, n);
		return (1);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.bind_addr = "127.0.0.1";
	/* All N streams come from 127.0.0.1: no per-address limit. */
	cfg.per_ip_limit = 0;
	if (getenv("HEADER_MAX") != NULL)
		cfg.header_max = strtoul(getenv("HEADER_MAX"), NULL, 10);
	rss0 = rss_kib();
	if ((srv = http_server_new(&cfg, routes, 1)) == NULL)
		return (1);
	if ((pid = fork()) < 0)
		return (1);
	if (pid == 0)
		_exit(client(http_server_port(srv), n));
	t0 = clock_now_ms();
	for (have = 0; have < n;) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "client exited early\n");
			return (1);
		}
		usleep(100000);
		pthread_mutex_lock(&mu);
		have = nstreams;
		pthread_mutex_unlock(&mu);
	}
	t1 = clock_now_ms();
	sleep(1);
	rss1 = rss_kib();
	ts.tv_sec = HOLD_S;
	ts.tv_nsec = 0;
	nanosleep(&ts, NULL);	/* through a few heartbeats */
	rss2 = rss_kib();
	printf("streams: %zu opened in %lld ms\n", n, (long long)(t1 - t0));
	printf("VmRSS before the server: %ld KiB\n", rss0);
	printf("VmRSS with %zu idle streams: %ld KiB (%.1f MiB), after %d s of %d s heartbeats: "
	       "%ld KiB (%.1f MiB)\n", n, rss1, rss1 / 1024.0, HOLD_S, HEARTBEAT_S, rss2,
	    rss2 / 1024.0);
	printf("per stream: %.1f KiB\n", (double)(rss2 - rss0) / (double)n);
	t0 = clock_now_ms();
	http_server_free(srv);
	t1 = clock_now_ms();
	printf("http_server_free: %lld ms, on_close called %zu times\n", (long long)(t1 - t0),
	    nclosed);
	for (i = 0; i < n; i++)
		http_stream_close(streams[i]);
	free(streams);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	return (nclosed == n ? 0 : 1);
}
