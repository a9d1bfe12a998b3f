/* Tests for src/gateway/upstream.c and the stdio transport, against
 * tests/support/echo_mcp and, when node_modules is installed, the real
 * @modelcontextprotocol/server-everything. */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "gateway/upstream.h"

#define WAIT_MS 10000

struct waiter {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int done;
	json_t *result, *error;
	json_t *notes;		/* notifications received, in order */
	int notes_after_done;
	json_t *reply;		/* what srvreq answers; NULL: decline */
	int srvreqs;
};

static void
w_init(struct waiter *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->notes = json_array();
}

static void
w_clear(struct waiter *w)
{
	json_decref(w->result);
	json_decref(w->error);
	json_decref(w->notes);
	json_decref(w->reply);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mtx);
}

static void
w_done(void *arg, json_t *result, json_t *error)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mtx);
	assert_int_equal(w->done, 0);	/* exactly once */
	assert_true((result == NULL) != (error == NULL));
	w->result = json_incref(result);
	w->error = json_incref(error);
	w->done = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mtx);
}

static void
w_notify(void *arg, const char *method, json_t *params)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mtx);
	if (w->done)
		w->notes_after_done++;
	json_array_append_new(w->notes, json_pack("{s:s, s:O}", "method", method, "params", params));
	pthread_mutex_unlock(&w->mtx);
}

static void
w_srvreq(void *arg, const char *method, json_t *params, struct upstream_reply *r)
{
	struct waiter *w = arg;

	(void)params;
	pthread_mutex_lock(&w->mtx);
	w->srvreqs++;
	pthread_mutex_unlock(&w->mtx);
	assert_string_equal(method, "sampling/createMessage");
	upstream_reply_send(r, w->reply, NULL);
}

/* Wait for the outcome; fails the test after WAIT_MS. */
static void
w_wait(struct waiter *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&w->mtx);
	while (!w->done)
		if (pthread_cond_timedwait(&w->cv, &w->mtx, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&w->mtx);
	assert_int_equal(w->done, 1);
}

/* The text of a tools/call result. */
static const char *
text_of(json_t *result)
{
	return (json_string_value(json_object_get(json_array_get(json_object_get(result, "content"), 0),
	    "text")));
}

static const char *
reason_of(json_t *error)
{
	return (json_string_value(json_object_get(json_object_get(error, "data"), "reason")));
}

static struct upstream_configs cfgs;

/* Parse a one-server configuration; ${extra} is more JSON members. */
static struct upstream_config *
config(const char *name, const char *cmd, const char *args, const char *extra)
{
	char text[2048];
	const char *why = NULL;
	json_t *j;

	snprintf(text, sizeof(text), "{\"%s\": {\"command\": \"%s\", \"args\": %s%s%s}}", name, cmd,
	    args, extra ? ", " : "", extra ? extra : "");
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	upstream_config_clear(&cfgs);
	if (upstream_config_parse(j, &cfgs, &why) != 0)
		fail_msg("config: %s", why);
	json_decref(j);
	return (&cfgs.v[0]);
}

static struct upstream *
start_echo(const char *args, const char *extra, const struct upstream_hooks *hooks)
{
	struct upstream *u;

	u = upstream_new(config("echo", MCPGATE_ECHO_MCP, args ? args : "[]", extra), hooks);
	assert_non_null(u);
	assert_int_equal(upstream_start(u), 0);
	assert_int_equal(upstream_wait_ready(u, WAIT_MS), 0);
	return (u);
}

static void
call_tool(struct upstream *u, struct waiter *w, const char *tool, json_t *args, int64_t timeout,
    struct upstream_call **h)
{
	struct upstream_call_opts o = {timeout, NULL, w_done, w_notify, NULL, w, 0, 0};
	json_t *p = json_pack("{s:s, s:o}", "name", tool, "arguments", args ? args : json_object());

	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, h), 0);
	json_decref(p);
}

static int
alive(pid_t pid)
{
	return (kill(pid, 0) == 0);
}

static int
teardown(void **state)
{
	(void)state;
	upstream_config_clear(&cfgs);
	return (0);
}

static void
t_handshake_and_lists(void **state)
{
	struct upstream_lists *l;
	struct upstream *u;
	json_t *v;
	size_t i;
	int seen_extra = 0;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	l = upstream_lists_get(u);
	assert_non_null(l);
	assert_string_equal(l->protocol_version, UPSTREAM_PROTOCOL_LATEST);
	/* 9 tools over pages of 3: the cursors were followed. */
	assert_int_equal(json_array_size(l->tools), 9);
	json_array_foreach(l->tools, i, v)
		if (strcmp(json_string_value(json_object_get(v, "name")), "extra") == 0)
			seen_extra = 1;
	assert_false(seen_extra);
	assert_int_equal(json_array_size(l->resources), 1);
	assert_int_equal(json_array_size(l->templates), 1);
	assert_int_equal(json_array_size(l->prompts), 1);
	assert_non_null(json_object_get(l->capabilities, "tools"));
	assert_string_equal(json_string_value(json_object_get(l->server_info, "name")), "echo_mcp");
	upstream_lists_release(l);
	upstream_free(u);
}

static void
t_fallback_version(void **state)
{
	struct upstream_lists *l;
	struct upstream *u;

	(void)state;
	u = start_echo("[\"--version\", \"2025-06-18\"]", NULL, NULL);
	l = upstream_lists_get(u);
	assert_string_equal(l->protocol_version, "2025-06-18");
	upstream_lists_release(l);
	upstream_free(u);
}

static void
t_unsupported_version(void **state)
{
	struct waiter w;
	struct upstream *u;

	(void)state;
	u = upstream_new(config("echo", MCPGATE_ECHO_MCP, "[\"--version\", \"1999-01-01\"]", NULL),
	    NULL);
	assert_int_equal(upstream_start(u), 0);
	assert_int_equal(upstream_wait_ready(u, 1000), -1);
	w_init(&w);
	call_tool(u, &w, "echo", NULL, 0, NULL);
	w_wait(&w);
	assert_int_equal(json_integer_value(json_object_get(w.error, "code")), UPSTREAM_ERR_UNAVAILABLE);
	w_clear(&w);
	upstream_free(u);
}

static void
t_echo(void **state)
{
	struct waiter w;
	struct upstream *u;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	w_init(&w);
	call_tool(u, &w, "echo", json_pack("{s:s}", "text", "hello"), 0, NULL);
	w_wait(&w);
	assert_null(w.error);
	assert_string_equal(text_of(w.result), "hello");
	w_clear(&w);
	/* An error from the upstream passes through. */
	w_init(&w);
	call_tool(u, &w, "nosuchtool", NULL, 0, NULL);
	w_wait(&w);
	assert_int_equal(json_integer_value(json_object_get(w.error, "code")), -32602);
	w_clear(&w);
	upstream_free(u);
}

/* A call made before the handshake finished waits for it. */
static void
t_queued_until_ready(void **state)
{
	struct waiter w;
	struct upstream *u;

	(void)state;
	u = upstream_new(config("echo", MCPGATE_ECHO_MCP, "[]", NULL), NULL);
	assert_int_equal(upstream_start(u), 0);
	w_init(&w);
	call_tool(u, &w, "echo", json_pack("{s:s}", "text", "early"), 0, NULL);
	w_wait(&w);
	assert_string_equal(text_of(w.result), "early");
	w_clear(&w);
	upstream_free(u);
}

#define THREADS 8
#define PER_THREAD 13

struct worker {
	struct upstream *u;
	int n;
	int everything;		/* server-everything's echo {message} */
	struct waiter w[PER_THREAD];
	int ok;
};

static void *
worker_run(void *arg)
{
	struct worker *k = arg;
	struct upstream_call_opts o;
	char text[80];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		json_t *p;

		w_init(&k->w[i]);
		snprintf(text, sizeof(text), "thread %d call %d", k->n, i);
		/* Every third call is slow, so answers come back out of order. */
		if (k->everything)
			p = json_pack("{s:s, s:{s:s}}", "name", "echo", "arguments", "message", text);
		else
			p = json_pack("{s:s, s:{s:s, s:i}}", "name", i % 3 ? "echo" : "slow",
			    "arguments", "text", text, "ms", 50);
		memset(&o, 0, sizeof(o));
		o.done = w_done;
		o.arg = &k->w[i];
		if (upstream_request_opts(k->u, "tools/call", p, &o, NULL) != 0)
			return (NULL);
		json_decref(p);
	}
	for (i = 0; i < PER_THREAD; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += WAIT_MS / 1000;
		pthread_mutex_lock(&k->w[i].mtx);
		while (!k->w[i].done && pthread_cond_timedwait(&k->w[i].cv, &k->w[i].mtx, &ts) == 0)
			;
		pthread_mutex_unlock(&k->w[i].mtx);
		snprintf(text, sizeof(text), "%sthread %d call %d", k->everything ? "Echo: " : "", k->n,
		    i);
		if (!k->w[i].done || k->w[i].result == NULL ||
		    text_of(k->w[i].result) == NULL || strcmp(text_of(k->w[i].result), text) != 0)
			return (NULL);
	}
	k->ok = 1;
	return (NULL);
}

static void
concurrent(struct upstream *u, int everything)
{
	static struct worker k[THREADS];
	pthread_t t[THREADS];
	int i, j;

	for (i = 0; i < THREADS; i++) {
		memset(&k[i], 0, sizeof(k[i]));
		k[i].u = u;
		k[i].n = i;
		k[i].everything = everything;
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &k[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(k[i].ok, 1);
		for (j = 0; j < PER_THREAD; j++)
			w_clear(&k[i].w[j]);
	}
}

static void
t_concurrent_routing(void **state)
{
	struct upstream *u;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	concurrent(u, 0);
	upstream_free(u);
}

/* Output to a child that does not read: the stdio writer meets a full pipe
 * (64 KiB) and queues the rest, in order, for its I/O thread; several
 * threads sending at once never interleave their lines.  Every call gets
 * its own answer, whole. */
#define BIG_CALLS 48
#define BIG_TEXT (20 * 1024)

struct big {
	struct upstream *u;
	int n;
	struct waiter w[BIG_CALLS / 4];
	char *text[BIG_CALLS / 4];
};

static void *
big_run(void *arg)
{
	struct big *b = arg;
	size_t i, j;

	for (i = 0; i < BIG_CALLS / 4; i++) {
		w_init(&b->w[i]);
		b->text[i] = malloc(BIG_TEXT + 1);
		for (j = 0; j < BIG_TEXT; j++)
			b->text[i][j] = (char)('a' + (b->n * 7 + (int)i + (int)j) % 26);
		b->text[i][BIG_TEXT] = '\0';
		call_tool(b->u, &b->w[i], "echo", json_pack("{s:s}", "text", b->text[i]), 0, NULL);
	}
	return (NULL);
}

static void
t_full_pipe(void **state)
{
	static struct big b[4];
	struct waiter stall;
	struct upstream *u;
	pthread_t t[4];
	size_t i, k;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	w_init(&stall);
	call_tool(u, &stall, "stall", json_pack("{s:i}", "ms", 300), 0, NULL);
	/* About 1 MiB while the child sleeps: most of it waits in the queue. */
	for (k = 0; k < 4; k++) {
		b[k].u = u;
		b[k].n = (int)k;
		assert_int_equal(pthread_create(&t[k], NULL, big_run, &b[k]), 0);
	}
	for (k = 0; k < 4; k++)
		pthread_join(t[k], NULL);
	w_wait(&stall);
	assert_string_equal(text_of(stall.result), "stalled");
	w_clear(&stall);
	for (k = 0; k < 4; k++)
		for (i = 0; i < BIG_CALLS / 4; i++) {
			w_wait(&b[k].w[i]);
			assert_non_null(b[k].w[i].result);
			assert_string_equal(text_of(b[k].w[i].result), b[k].text[i]);
			w_clear(&b[k].w[i]);
			free(b[k].text[i]);
		}
	upstream_free(u);
}

static void
t_timeout(void **state)
{
	struct waiter w;
	struct upstream *u;
	int64_t t0;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	w_init(&w);
	t0 = clock_now_ms();
	call_tool(u, &w, "slow", json_pack("{s:i}", "ms", 60000), 200, NULL);
	w_wait(&w);
	assert_true(clock_now_ms() - t0 < WAIT_MS);
	assert_int_equal(json_integer_value(json_object_get(w.error, "code")), UPSTREAM_ERR_UNAVAILABLE);
	assert_string_equal(reason_of(w.error), "timeout");
	w_clear(&w);
	/* The upstream was told, with the id the gateway used. */
	w_init(&w);
	call_tool(u, &w, "cancelled", NULL, 0, NULL);
	w_wait(&w);
	assert_non_null(text_of(w.result));
	assert_string_not_equal(text_of(w.result), "[]");
	w_clear(&w);
	/* Other calls go on. */
	w_init(&w);
	call_tool(u, &w, "echo", json_pack("{s:s}", "text", "after"), 0, NULL);
	w_wait(&w);
	assert_string_equal(text_of(w.result), "after");
	w_clear(&w);
	upstream_free(u);
}

static void
t_cancel(void **state)
{
	struct upstream_call *h;
	struct waiter w, w2;
	struct upstream *u;
	json_t *ids;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	w_init(&w);
	call_tool(u, &w, "slow", json_pack("{s:i}", "ms", 60000), 0, &h);
	assert_non_null(h);
	upstream_call_cancel(h, "client went away");
	w_wait(&w);
	assert_int_equal(json_integer_value(json_object_get(w.error, "code")), UPSTREAM_ERR_CANCELLED);
	w_init(&w2);
	call_tool(u, &w2, "cancelled", NULL, 0, NULL);
	w_wait(&w2);
	ids = json_loads(text_of(w2.result), 0, NULL);
	assert_int_equal(json_array_size(ids), 1);
	assert_true(json_is_integer(json_array_get(ids, 0)));
	json_decref(ids);
	w_clear(&w2);
	w_clear(&w);
	/* Cancelling a finished call only releases it. */
	w_init(&w);
	call_tool(u, &w, "echo", json_pack("{s:s}", "text", "x"), 0, &h);
	w_wait(&w);
	upstream_call_cancel(h, NULL);
	assert_null(w.error);
	w_clear(&w);
	upstream_free(u);
}

static void
t_crash_restart(void **state)
{
	struct waiter w;
	struct upstream *u;
	pid_t pid1, pid2;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	pid1 = upstream_pid(u, NULL);
	assert_true(pid1 > 0);
	w_init(&w);
	call_tool(u, &w, "crash", NULL, 0, NULL);
	w_wait(&w);
	assert_int_equal(json_integer_value(json_object_get(w.error, "code")), UPSTREAM_ERR_UNAVAILABLE);
	assert_string_equal(reason_of(w.error), "crashed");
	w_clear(&w);
	/* Reaped, not a zombie. */
	assert_false(alive(pid1));
	/* Restarted after the backoff; works again. */
	assert_int_equal(upstream_wait_ready(u, WAIT_MS), 0);
	pid2 = upstream_pid(u, NULL);
	assert_true(pid2 > 0 && pid2 != pid1);
	w_init(&w);
	call_tool(u, &w, "echo", json_pack("{s:s}", "text", "again"), 0, NULL);
	w_wait(&w);
	assert_string_equal(text_of(w.result), "again");
	w_clear(&w);
	upstream_free(u);
	assert_false(alive(pid2));
}

static void
t_progress(void **state)
{
	struct upstream_call_opts o;
	struct waiter w;
	struct upstream *u;
	json_t *p, *n;
	size_t i;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	w_init(&w);
	memset(&o, 0, sizeof(o));
	o.done = w_done;
	o.notify = w_notify;
	o.arg = &w;
	p = json_pack("{s:s, s:{s:i}, s:{s:s}}", "name", "notify", "arguments", "count", 3, "_meta",
	    "progressToken", "client-token-7");
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	/* The caller's params are not modified. */
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "_meta"),
	    "progressToken")), "client-token-7");
	json_decref(p);
	w_wait(&w);
	assert_string_equal(text_of(w.result), "notified");
	assert_int_equal(json_array_size(w.notes), 3);
	assert_int_equal(w.notes_after_done, 0);
	json_array_foreach(w.notes, i, n) {
		assert_string_equal(json_string_value(json_object_get(n, "method")),
		    "notifications/progress");
		assert_string_equal(json_string_value(json_object_get(json_object_get(n, "params"),
		    "progressToken")), "client-token-7");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(n, "params"),
		    "progress")), (json_int_t)i + 1);
	}
	w_clear(&w);
	upstream_free(u);
}

struct changes {
	pthread_mutex_t mtx;
	int n;
};

static void
on_changed(void *arg, struct upstream *u)
{
	struct changes *c = arg;

	(void)u;
	pthread_mutex_lock(&c->mtx);
	c->n++;
	pthread_mutex_unlock(&c->mtx);
}

static int
has_tool(struct upstream_lists *l, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(l->tools, i, v)
		if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
			return (1);
	return (0);
}

static void
t_list_changed(void **state)
{
	struct changes ch = {PTHREAD_MUTEX_INITIALIZER, 0};
	struct upstream_hooks hooks = {on_changed, NULL, &ch, NULL};
	struct upstream_lists *l;
	struct waiter w;
	struct upstream *u;
	int64_t end;
	int found = 0;

	(void)state;
	u = start_echo(NULL, NULL, &hooks);
	w_init(&w);
	call_tool(u, &w, "change", NULL, 0, NULL);
	w_wait(&w);
	w_clear(&w);
	end = clock_now_ms() + WAIT_MS;
	while (!found && clock_now_ms() < end) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		l = upstream_lists_get(u);
		found = has_tool(l, "extra");
		upstream_lists_release(l);
		if (!found)
			nanosleep(&ts, NULL);
	}
	assert_true(found);
	pthread_mutex_lock(&ch.mtx);
	assert_true(ch.n >= 2);
	pthread_mutex_unlock(&ch.mtx);
	upstream_free(u);
}

static void
t_sampling_routed(void **state)
{
	struct upstream_call_opts o;
	struct waiter w;
	struct upstream *u;
	json_t *p;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	w_init(&w);
	w.reply = json_pack("{s:s, s:{s:s, s:s}, s:s}", "role", "assistant", "content", "type", "text",
	    "text", "sampled!", "model", "m");
	memset(&o, 0, sizeof(o));
	o.done = w_done;
	o.srvreq = w_srvreq;
	o.arg = &w;
	o.subject = "alice";
	p = json_pack("{s:s}", "name", "sample");
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	json_decref(p);
	w_wait(&w);
	assert_int_equal(w.srvreqs, 1);
	assert_string_equal(text_of(w.result), "sampled!");
	w_clear(&w);
	/* A call that cannot take such requests: the upstream gets an error. */
	w_init(&w);
	call_tool(u, &w, "sample", NULL, 0, NULL);
	w_wait(&w);
	assert_non_null(w.error);
	w_clear(&w);
	upstream_free(u);
}

/* The client answering slowly: its reply goes from a thread of its own. */
struct late {
	struct upstream_reply *r;
	json_t *reply;
	unsigned ms;
};

static void *
late_run(void *arg)
{
	struct late *l = arg;

	usleep(l->ms * 1000);
	upstream_reply_send(l->r, l->reply, NULL);
	return (NULL);
}

static struct late late_one;
static pthread_t late_thread;

static void
w_srvreq_late(void *arg, const char *method, json_t *params, struct upstream_reply *r)
{
	struct waiter *w = arg;

	(void)params;
	(void)method;
	pthread_mutex_lock(&w->mtx);
	w->srvreqs++;
	pthread_mutex_unlock(&w->mtx);
	late_one.r = r;
	late_one.reply = w->reply;
	assert_int_equal(pthread_create(&late_thread, NULL, late_run, &late_one), 0);
}

/* The call's timeout measures the upstream's work: the time the client takes
 * to answer the upstream's request does not count, within input_ms. */
static void
t_input_allowance(void **state)
{
	struct upstream_call_opts o;
	struct waiter w;
	struct upstream *u;
	json_t *p;
	int with;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	for (with = 1; with >= 0; with--) {
		w_init(&w);
		w.reply = json_pack("{s:s, s:{s:s, s:s}, s:s}", "role", "assistant", "content", "type",
		    "text", "text", "sampled!", "model", "m");
		late_one.ms = 1500;
		memset(&o, 0, sizeof(o));
		o.timeout_ms = 500;
		o.done = w_done;
		o.srvreq = w_srvreq_late;
		o.arg = &w;
		o.input_ms = with ? 5000 : 0;
		p = json_pack("{s:s}", "name", "sample");
		assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
		json_decref(p);
		w_wait(&w);
		assert_int_equal(pthread_join(late_thread, NULL), 0);
		assert_int_equal(w.srvreqs, 1);
		if (with) {
			/* 1.5 s with the client, 0.5 s of timeout: answered. */
			assert_non_null(w.result);
			assert_string_equal(text_of(w.result), "sampled!");
		} else {
			assert_non_null(w.error);
			assert_string_equal(reason_of(w.error), "timeout");
		}
		w_clear(&w);
	}
	upstream_free(u);
}

/* A client that never answers: the upstream's requests are kept, and
 * answered (too late) after the call ended. */
static struct upstream_reply *kept[16];
static int nkept;

static void
w_srvreq_keep(void *arg, const char *method, json_t *params, struct upstream_reply *r)
{
	struct waiter *w = arg;
	int keep;

	(void)params;
	(void)method;
	pthread_mutex_lock(&w->mtx);
	w->srvreqs++;
	if ((keep = nkept < 16))
		kept[nkept++] = r;
	pthread_mutex_unlock(&w->mtx);
	if (!keep)
		upstream_reply_send(r, NULL, NULL);
}

/* The allowance is not renewable: an upstream that sends a request now
 * and then, while the first waits for a client that does not answer,
 * does not keep its call alive past the first request's allowance. */
static void
t_input_allowance_once(void **state)
{
	struct upstream_call_opts o;
	struct waiter w;
	struct upstream *u;
	json_t *p;
	int64_t t0, took;
	int i;

	(void)state;
	u = start_echo(NULL, NULL, NULL);
	w_init(&w);
	nkept = 0;
	memset(&o, 0, sizeof(o));
	o.timeout_ms = 300;
	o.done = w_done;
	o.srvreq = w_srvreq_keep;
	o.arg = &w;
	o.input_ms = 800;
	/* Requests at 0, 500, 1000, 1500, 2000 ms: each within the
	 * allowance of the one before. */
	p = json_pack("{s:s, s:{s:i, s:i}}", "name", "nag", "arguments", "ms", 500, "count", 5);
	t0 = clock_now_ms();
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	json_decref(p);
	w_wait(&w);
	took = clock_now_ms() - t0;
	assert_non_null(w.error);
	assert_string_equal(reason_of(w.error), "timeout");
	/* The first request's allowance (800 ms), not the last's (2800). */
	if (took > 1600)
		fail_msg("the call lived %lld ms", (long long)took);
	/* The nag thread has sent all by 2 s. */
	usleep(800 * 1000);
	for (i = 0; i < nkept; i++)
		upstream_reply_send(kept[i], NULL, NULL);
	nkept = 0;
	w_clear(&w);
	upstream_free(u);
}

/* Shutdown stops a child that ignores SIGTERM and stdin EOF, and reaps it. */
static void
t_shutdown_stubborn(void **state)
{
	struct upstream *u;
	pid_t pid;

	(void)state;
	u = start_echo("[\"--stubborn\"]", NULL, NULL);
	pid = upstream_pid(u, NULL);
	assert_true(pid > 0 && alive(pid));
	upstream_free(u);
	assert_false(alive(pid));
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void
t_stderr_logged(void **state)
{
	char path[] = "/tmp/mcpgate-upstream-XXXXXX";
	static char buf[1 << 20];
	const char *p;
	struct waiter w;
	struct upstream *u;
	ssize_t n;
	int fd, saved;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	u = start_echo("[\"--banner\"]", NULL, NULL);
	w_init(&w);
	call_tool(u, &w, "stderr", json_pack("{s:s}", "text", "marker\x01line"), 0, NULL);
	w_wait(&w);
	w_clear(&w);
	/* A flood is cut by the rate limit, and the cut is reported. */
	w_init(&w);
	call_tool(u, &w, "stderr", json_pack("{s:s, s:i}", "text", "flood", "count", 1000), 0, NULL);
	w_wait(&w);
	w_clear(&w);
	upstream_free(u);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "upstream echo: stderr: echo_mcp: started"));
	/* Control characters do not reach the log. */
	assert_non_null(strstr(buf, "upstream echo: stderr: marker?line"));
	for (n = 0, p = buf; (p = strstr(p, "stderr: flood")) != NULL; p++)
		n++;
	assert_true(n > 10 && n < 1000);
	assert_non_null(strstr(buf, "stderr lines not logged (rate limit)"));
}

static void
t_environment(void **state)
{
	struct waiter w;
	struct upstream *u;

	(void)state;
	setenv("MCPGATE_TEST_OUTER_SECRET", "leak", 1);
	u = start_echo(NULL, "\"env\": {\"FOO\": \"bar\"}", NULL);
	w_init(&w);
	call_tool(u, &w, "env", json_pack("{s:s}", "name", "FOO"), 0, NULL);
	w_wait(&w);
	assert_string_equal(text_of(w.result), "bar");
	w_clear(&w);
	w_init(&w);
	call_tool(u, &w, "env", json_pack("{s:s}", "name", "MCPGATE_TEST_OUTER_SECRET"), 0, NULL);
	w_wait(&w);
	assert_string_equal(text_of(w.result), "(unset)");
	w_clear(&w);
	w_init(&w);
	call_tool(u, &w, "env", json_pack("{s:s}", "name", "PATH"), 0, NULL);
	w_wait(&w);
	assert_string_equal(text_of(w.result), getenv("PATH"));
	w_clear(&w);
	upstream_free(u);
	unsetenv("MCPGATE_TEST_OUTER_SECRET");
}

static void
t_not_startable(void **state)
{
	struct waiter w;
	struct upstream *u;

	(void)state;
	u = upstream_new(config("gone", "/nonexistent/mcp-server", "[]", NULL), NULL);
	assert_int_equal(upstream_start(u), 0);
	w_init(&w);
	call_tool(u, &w, "echo", NULL, 300, NULL);
	w_wait(&w);
	assert_int_equal(json_integer_value(json_object_get(w.error, "code")), UPSTREAM_ERR_UNAVAILABLE);
	w_clear(&w);
	upstream_free(u);
}

static void
t_per_user(void **state)
{
	struct upstream_call_opts o;
	struct waiter wa, wb;
	struct upstream *u;
	pid_t pa, pb;
	json_t *p;
	int64_t end;

	(void)state;
	u = start_echo(NULL, "\"isolation\": \"per-user\", \"idle_ms\": 300", NULL);
	p = json_pack("{s:s, s:{s:s}}", "name", "echo", "arguments", "text", "hi");
	memset(&o, 0, sizeof(o));
	o.done = w_done;
	w_init(&wa);
	w_init(&wb);
	o.subject = "alice";
	o.arg = &wa;
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	o.subject = "bob";
	o.arg = &wb;
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	json_decref(p);
	w_wait(&wa);
	w_wait(&wb);
	assert_string_equal(text_of(wa.result), "hi");
	assert_string_equal(text_of(wb.result), "hi");
	w_clear(&wa);
	w_clear(&wb);
	pa = upstream_pid(u, "alice");
	pb = upstream_pid(u, "bob");
	assert_true(pa > 0 && pb > 0 && pa != pb);
	/* Idle sessions are stopped, their processes reaped. */
	end = clock_now_ms() + WAIT_MS;
	while ((alive(pa) || alive(pb)) && clock_now_ms() < end) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_false(alive(pa));
	assert_false(alive(pb));
	assert_int_equal(upstream_pid(u, "alice"), -1);
	upstream_free(u);
}

/* running_only: a call only to a session that runs; none is started for
 * it, and a session stopped when idle refuses it as one never started. */
static void
t_running_only(void **state)
{
	struct upstream_call_opts o;
	struct waiter w;
	struct upstream *u;
	json_t *p;
	size_t before;
	int64_t end;

	(void)state;
	u = start_echo(NULL, "\"isolation\": \"per-user\", \"idle_ms\": 300", NULL);
	p = json_pack("{s:s, s:{s:s}}", "name", "echo", "arguments", "text", "hi");
	memset(&o, 0, sizeof(o));
	o.done = w_done;
	o.subject = "alice";
	o.arg = &w;
	o.running_only = 1;
	/* Never started: refused at once, nothing started, done not called. */
	before = upstream_sessions(u);
	w_init(&w);
	errno = 0;
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(upstream_sessions(u), before);
	assert_int_equal(upstream_pid(u, "alice"), -1);
	/* Started by an ordinary call: taken. */
	o.running_only = 0;
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	w_wait(&w);
	w_clear(&w);
	assert_true(upstream_pid(u, "alice") > 0);
	o.running_only = 1;
	w_init(&w);
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	w_wait(&w);
	assert_string_equal(text_of(w.result), "hi");
	w_clear(&w);
	/* Stopped when idle: refused again, and not started. */
	end = clock_now_ms() + WAIT_MS;
	while (upstream_pid(u, "alice") != -1 && clock_now_ms() < end) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(upstream_pid(u, "alice"), -1);
	before = upstream_sessions(u);
	w_init(&w);
	errno = 0;
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(upstream_sessions(u), before);
	assert_int_equal(upstream_pid(u, "alice"), -1);
	w_clear(&w);
	json_decref(p);
	upstream_free(u);
}

static void
t_server_everything(void **state)
{
	char path[1024], args[1200];
	struct upstream_lists *l;
	struct waiter w;
	struct upstream *u;
	json_t *p;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "%s/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
	    MCPGATE_SOURCE_DIR);
	if (access(path, R_OK) != 0 || system("node --version >/dev/null 2>&1") != 0) {
		skip();
		return;
	}
	snprintf(args, sizeof(args), "[\"%s\", \"stdio\"]", path);
	u = upstream_new(config("everything", "node", args, NULL), NULL);
	assert_int_equal(upstream_start(u), 0);
	assert_int_equal(upstream_wait_ready(u, 30000), 0);
	l = upstream_lists_get(u);
	assert_true(has_tool(l, "echo"));
	assert_true(json_array_size(l->resources) > 0);
	upstream_lists_release(l);
	w_init(&w);
	p = json_pack("{s:s, s:{s:s}}", "name", "echo", "arguments", "message", "hi there");
	assert_int_equal(upstream_request(u, "tools/call", p, 0, w_done, &w, NULL), 0);
	json_decref(p);
	w_wait(&w);
	assert_null(w.error);
	assert_non_null(strstr(text_of(w.result), "hi there"));
	w_clear(&w);
	concurrent(u, 1);
	pid = upstream_pid(u, NULL);
	assert_true(pid > 0 && alive(pid));
	upstream_free(u);
	assert_false(alive(pid));
}

/* The ready hook: each session that completes initialize, by subject. */
struct readies {
	pthread_mutex_t mtx;
	int shared, alice;
	int caps;	/* every call had a capabilities object */
};

static void
on_ready(void *arg, struct upstream *u, const char *subject, json_t *caps)
{
	struct readies *r = arg;

	(void)u;
	pthread_mutex_lock(&r->mtx);
	if (subject == NULL)
		r->shared++;
	else if (strcmp(subject, "alice") == 0)
		r->alice++;
	if (!json_is_object(caps))
		r->caps = 0;
	pthread_mutex_unlock(&r->mtx);
}

/* Wait until *${n} reaches ${want} (under ${r}->mtx); its value then. */
static int
readies_wait(struct readies *r, const int *n, int want)
{
	int64_t end = clock_now_ms() + WAIT_MS;
	int v;

	for (;;) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		pthread_mutex_lock(&r->mtx);
		v = *n;
		pthread_mutex_unlock(&r->mtx);
		if (v >= want || clock_now_ms() >= end)
			return (v);
		nanosleep(&ts, NULL);
	}
}

static void
t_ready_hook_restart(void **state)
{
	struct readies r = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 1};
	struct upstream_hooks hooks = {NULL, NULL, &r, on_ready};
	struct waiter w;
	struct upstream *u;

	(void)state;
	u = start_echo(NULL, NULL, &hooks);
	assert_int_equal(readies_wait(&r, &r.shared, 1), 1);
	assert_int_equal(upstream_running(u, NULL), 1);
	/* Shared isolation: any subject names the one session. */
	assert_int_equal(upstream_running(u, "alice"), 1);
	w_init(&w);
	call_tool(u, &w, "crash", NULL, 0, NULL);
	w_wait(&w);
	w_clear(&w);
	/* Down while it restarts; ready (and told so) again after. */
	assert_int_equal(upstream_wait_ready(u, WAIT_MS), 0);
	assert_int_equal(readies_wait(&r, &r.shared, 2), 2);
	assert_int_equal(upstream_running(u, NULL), 1);
	assert_int_equal(r.caps, 1);
	upstream_free(u);
}

static void
t_ready_hook_per_user(void **state)
{
	struct readies r = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 1};
	struct upstream_hooks hooks = {NULL, NULL, &r, on_ready};
	struct upstream_call_opts o;
	struct waiter w;
	struct upstream *u;
	json_t *p;
	int64_t end;

	(void)state;
	u = start_echo(NULL, "\"isolation\": \"per-user\", \"idle_ms\": 300", &hooks);
	/* Not started: not running, and asking does not start it. */
	assert_int_equal(upstream_running(u, "alice"), 0);
	assert_int_equal(upstream_pid(u, "alice"), -1);
	p = json_pack("{s:s, s:{s:s}}", "name", "echo", "arguments", "text", "hi");
	memset(&o, 0, sizeof(o));
	o.done = w_done;
	o.subject = "alice";
	o.arg = &w;
	w_init(&w);
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	w_wait(&w);
	w_clear(&w);
	assert_int_equal(readies_wait(&r, &r.alice, 1), 1);
	assert_int_equal(upstream_running(u, "alice"), 1);
	/* Stopped when idle: not running. */
	end = clock_now_ms() + WAIT_MS;
	while (upstream_running(u, "alice") && clock_now_ms() < end) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(upstream_running(u, "alice"), 0);
	/* Started again by the next call: ready again. */
	w_init(&w);
	assert_int_equal(upstream_request_opts(u, "tools/call", p, &o, NULL), 0);
	w_wait(&w);
	w_clear(&w);
	json_decref(p);
	assert_int_equal(readies_wait(&r, &r.alice, 2), 2);
	upstream_free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(t_handshake_and_lists, teardown),
		cmocka_unit_test_teardown(t_fallback_version, teardown),
		cmocka_unit_test_teardown(t_unsupported_version, teardown),
		cmocka_unit_test_teardown(t_echo, teardown),
		cmocka_unit_test_teardown(t_queued_until_ready, teardown),
		cmocka_unit_test_teardown(t_concurrent_routing, teardown),
		cmocka_unit_test_teardown(t_full_pipe, teardown),
		cmocka_unit_test_teardown(t_timeout, teardown),
		cmocka_unit_test_teardown(t_cancel, teardown),
		cmocka_unit_test_teardown(t_crash_restart, teardown),
		cmocka_unit_test_teardown(t_progress, teardown),
		cmocka_unit_test_teardown(t_list_changed, teardown),
		cmocka_unit_test_teardown(t_sampling_routed, teardown),
		cmocka_unit_test_teardown(t_input_allowance, teardown),
		cmocka_unit_test_teardown(t_input_allowance_once, teardown),
		cmocka_unit_test_teardown(t_shutdown_stubborn, teardown),
		cmocka_unit_test_teardown(t_stderr_logged, teardown),
		cmocka_unit_test_teardown(t_environment, teardown),
		cmocka_unit_test_teardown(t_not_startable, teardown),
		cmocka_unit_test_teardown(t_per_user, teardown),
		cmocka_unit_test_teardown(t_running_only, teardown),
		cmocka_unit_test_teardown(t_server_everything, teardown),
		cmocka_unit_test_teardown(t_ready_hook_restart, teardown),
		cmocka_unit_test_teardown(t_ready_hook_per_user, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
