/*
 * mhd_floor: the least a gateway built like mcpgate can do per forwarded
 * call, as a measuring instrument for bench/gateway-floor.sh.
 *
 *	mhd_floor PORT UPSTREAM [ARG...]
 *
 * An HTTP server with the same libmicrohttpd set-up as mcpgate (epoll, a
 * pool of two threads, suspend/resume, the same connection memory) that
 * answers every POST by sending one fixed tools/call of the echo tool to a
 * stdio MCP server (UPSTREAM, started here) and relaying the line it
 * answers, untouched, once it comes: no token, no JSON parsing, no
 * policy, no audit, no id remapping.  What it costs per request is the
 * floor under mcpgate's tools/call on this HTTP library and this
 * transport.  Not a server to run: no limits beyond the table below.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#define SLOTS 4096		/* calls in flight */
#define LINE_MAX_ 4096		/* an answer line */
#define POOL_MEM (24 * 1024)	/* as mcpgate's default */

struct slot {
	struct MHD_Connection *conn;
	char *answer;
	size_t len;
};

struct req {
	int slot;		/* -1 before the call is sent */
	int done;
};

static struct slot slots[SLOTS];
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static unsigned next_slot;
static int up_in = -1, up_out = -1;

static int
spawn(char **argv)
{
	int in[2], out[2];
	pid_t pid;

	if (pipe(in) || pipe(out))
		return (-1);
	if ((pid = fork()) < 0)
		return (-1);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	up_in = in[1];
	up_out = out[0];
	return (0);
}

static int
send_line(const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(up_in, s, n)) < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		s += w;
		n -= (size_t)w;
	}
	return (0);
}

/* The id of answer line ${p}: the digits after "id":, or -1. */
static long
line_id(const char *p, size_t n)
{
	const char *q = memmem(p, n, "\"id\":", 5);
	long v = 0;

	if (q == NULL)
		return (-1);
	for (q += 5; q < p + n && *q >= '0' && *q <= '9'; q++)
		v = v * 10 + (*q - '0');
	return (v);
}

static void *
reader(void *arg)
{
	static char buf[1 << 16];
	size_t have = 0, i, start;
	ssize_t r;
	long id;

	(void)arg;
	for (;;) {
		if ((r = read(up_out, buf + have, sizeof(buf) - have)) <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			fprintf(stderr, "mhd_floor: upstream closed\n");
			exit(1);
		}
		have += (size_t)r;
		start = 0;
		for (i = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			id = line_id(buf + start, i - start);
			if (id >= 1000 && id < 1000 + SLOTS) {
				struct slot *s = &slots[id - 1000];
				char *a = malloc(i - start);

				if (a == NULL)
					exit(1);
				memcpy(a, buf + start, i - start);
				pthread_mutex_lock(&mtx);
				s->answer = a;
				s->len = i - start;
				MHD_resume_connection(s->conn);
				pthread_mutex_unlock(&mtx);
			}
			start = i + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have == sizeof(buf)) {
			fprintf(stderr, "mhd_floor: line too long\n");
			exit(1);
		}
	}
	return (NULL);
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct req *q = *con_cls;
	struct MHD_Response *resp;
	struct slot *s;
	char line[256];
	enum MHD_Result rc;
	int n;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	if (q == NULL) {
		if ((q = calloc(1, sizeof(*q))) == NULL)
			return (MHD_NO);
		q->slot = -1;
		*con_cls = q;
		return (MHD_YES);
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;	/* the body is not read: the call is fixed */
		return (MHD_YES);
	}
	if (q->slot < 0) {
		pthread_mutex_lock(&mtx);
		q->slot = (int)(next_slot++ % SLOTS);
		s = &slots[q->slot];
		s->conn = conn;
		s->answer = NULL;
		MHD_suspend_connection(conn);
		pthread_mutex_unlock(&mtx);
		n = snprintf(line, sizeof(line),
		    "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"hello\"}}}\n",
		    1000 + q->slot);
		pthread_mutex_lock(&mtx);
		if (send_line(line, (size_t)n) != 0)
			exit(1);
		pthread_mutex_unlock(&mtx);
		return (MHD_YES);
	}
	pthread_mutex_lock(&mtx);
	s = &slots[q->slot];
	resp = MHD_create_response_from_buffer(s->len, s->answer, MHD_RESPMEM_MUST_FREE);
	s->answer = NULL;
	pthread_mutex_unlock(&mtx);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	rc = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return (rc);
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

int
main(int argc, char **argv)
{
	static const char init[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
	    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"floor\",\"version\":\"1\"}}}\n"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";
	struct MHD_Daemon *d;
	pthread_t t;
	sigset_t set;
	int sig;

	if (argc < 3) {
		fprintf(stderr, "usage: mhd_floor PORT UPSTREAM [ARG...]\n");
		return (2);
	}
	signal(SIGPIPE, SIG_IGN);
	if (spawn(argv + 2) || send_line(init, sizeof(init) - 1))
		return (1);
	if (pthread_create(&t, NULL, reader, NULL))
		return (1);
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME,
	    (uint16_t)atoi(argv[1]), NULL, NULL, handler, NULL,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)2,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)POOL_MEM,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_END);
	if (d == NULL)
		return (1);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return (0);
}
