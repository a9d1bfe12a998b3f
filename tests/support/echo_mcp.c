/*
 * echo_mcp: a small MCP server on stdio (newline-delimited JSON-RPC), for
 * the gateway's tests and the benchmark.
 *
 * Tools:
 *	echo {text}		returns text
 *	slow {ms, text}		returns text after ms milliseconds (on its own
 *				thread: other requests go on meanwhile)
 *	crash {}		exits with status 3 without answering
 *	notify {count}		sends count notifications/progress with the
 *				request's progressToken, then answers
 *	change {}		adds the tool "extra" and sends
 *				notifications/tools/list_changed
 *	stderr {text, count}	writes text as a line on stderr (count times)
 *	sample {}		asks the client sampling/createMessage and
 *				returns the text of its answer
 *	env {name}		returns getenv(name), or "(unset)"
 *	cancelled {}		returns the ids of notifications/cancelled seen
 *	extra {}		exists after change
 *	stall {ms}		stops reading stdin for ms milliseconds (the
 *				main loop sleeps), then returns "stalled": the
 *				sender's pipe fills up; listed with --stall
 *	nag {ms, count}		sends count sampling/createMessage requests,
 *				ms milliseconds apart, ignores their answers
 *				and never answers the call (not listed)
 * Resources: echo://hello (and echo://missing, which answers -32002 as
 * servers of 2025-11-25 and before say "not found"); template
 * echo://item/{id}; prompt greet.
 *
 * Options: --page N (tools/list page size, default 3), --version V (answer
 * initialize with V whatever was asked), --stubborn (ignore SIGTERM and
 * keep running after stdin ends), --banner (a line on stderr at start),
 * --stall (list the stall tool).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/jtext.h"

static pthread_mutex_t out_mtx = PTHREAD_MUTEX_INITIALIZER;
static int page_size = 3;
static const char *force_version;
static int extra_tool;
static int stall_listed;
static json_t *cancelled;
static int sample_seq;
static struct {
	char sid[32];
	json_t *rid;
} samples[64];

static void
emit(json_t *m)
{
	char *s = jtext_dumps(m);

	pthread_mutex_lock(&out_mtx);
	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	pthread_mutex_unlock(&out_mtx);
	free(s);
	json_decref(m);
}

static void
result(json_t *id, json_t *r)
{
	emit(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", r));
}

static void
error(json_t *id, int code, const char *msg)
{
	emit(json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error", "code", code,
	    "message", msg));
}

static json_t *
text_result(const char *t)
{
	return (json_pack("{s:[{s:s, s:s}]}", "content", "type", "text", "text", t));
}

static json_t *
tool(const char *name, int ro)
{
	return (json_pack("{s:s, s:s, s:{s:s}, s:{s:b}}", "name", name, "description", name,
	    "inputSchema", "type", "object", "annotations", "readOnlyHint", ro));
}

static void
tools_list(json_t *id, json_t *params)
{
	const char *names[12] = {"echo", "slow", "crash", "notify", "change", "stderr",
	    "sample", "env", "cancelled"};
	const char *cur = json_string_value(json_object_get(params, "cursor"));
	size_t n = 9, i, start = 0;
	json_t *r, *a = json_array();
	char next[32];

	if (extra_tool)
		names[n++] = "extra";
	if (stall_listed)
		names[n++] = "stall";
	if (cur != NULL)
		start = (size_t)atoi(cur);
	for (i = start; i < n && i < start + (size_t)page_size; i++)
		json_array_append_new(a, tool(names[i], strcmp(names[i], "echo") == 0));
	r = json_pack("{s:o}", "tools", a);
	if (i < n) {
		snprintf(next, sizeof(next), "%zu", i);
		json_object_set_new(r, "nextCursor", json_string(next));
	}
	result(id, r);
}

struct slow {
	json_t *id;
	long ms;
	char *text;
};

static void *
slow_run(void *arg)
{
	struct slow *s = arg;
	struct timespec ts = {s->ms / 1000, (s->ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
	result(s->id, text_result(s->text));
	json_decref(s->id);
	free(s->text);
	free(s);
	return (NULL);
}

struct nag {
	long ms, count;
};

static void *
nag_run(void *arg)
{
	struct nag *g = arg;
	struct timespec ts = {g->ms / 1000, (g->ms % 1000) * 1000000L};
	char sid[32];
	long i;

	for (i = 0; i < g->count; i++) {
		if (i > 0)
			nanosleep(&ts, NULL);
		snprintf(sid, sizeof(sid), "nag%ld", i);
		emit(json_pack("{s:s, s:s, s:s, s:{s:[{s:s, s:{s:s, s:s}}], s:i}}", "jsonrpc", "2.0",
		    "id", sid, "method", "sampling/createMessage", "params", "messages", "role", "user",
		    "content", "type", "text", "text", "again", "maxTokens", 10));
	}
	free(g);
	return (NULL);
}

static void
tools_call(json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");
	const char *text = json_string_value(json_object_get(args, "text"));
	json_t *tok = json_object_get(json_object_get(params, "_meta"), "progressToken");
	char buf[64];

	if (name == NULL) {
		error(id, -32602, "name required");
	} else if (strcmp(name, "echo") == 0) {
		result(id, text_result(text ? text : ""));
	} else if (strcmp(name, "slow") == 0) {
		struct slow *s = calloc(1, sizeof(*s));
		pthread_t t;

		s->id = json_incref(id);
		s->ms = (long)json_integer_value(json_object_get(args, "ms"));
		s->text = strdup(text ? text : "slow");
		pthread_create(&t, NULL, slow_run, s);
		pthread_detach(t);
	} else if (strcmp(name, "stall") == 0) {
		struct timespec ts;
		long ms = (long)json_integer_value(json_object_get(args, "ms"));

		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		result(id, text_result("stalled"));
	} else if (strcmp(name, "nag") == 0) {
		struct nag *g = calloc(1, sizeof(*g));
		pthread_t t;

		g->ms = (long)json_integer_value(json_object_get(args, "ms"));
		g->count = (long)json_integer_value(json_object_get(args, "count"));
		pthread_create(&t, NULL, nag_run, g);
		pthread_detach(t);
	} else if (strcmp(name, "crash") == 0) {
		exit(3);
	} else if (strcmp(name, "notify") == 0) {
		json_int_t i, n = json_integer_value(json_object_get(args, "count"));

		for (i = 0; tok != NULL && i < n; i++)
			emit(json_pack("{s:s, s:s, s:{s:O, s:I, s:I}}", "jsonrpc", "2.0", "method",
			    "notifications/progress", "params", "progressToken", tok, "progress", i + 1,
			    "total", n));
		result(id, text_result("notified"));
	} else if (strcmp(name, "change") == 0) {
		extra_tool = 1;
		result(id, text_result("changed"));
		emit(json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method",
		    "notifications/tools/list_changed"));
	} else if (strcmp(name, "stderr") == 0) {
		json_int_t i, n = json_integer_value(json_object_get(args, "count"));

		for (i = 1; i < n; i++)
			fprintf(stderr, "%s\n", text ? text : "");
		fprintf(stderr, "%s\n", text ? text : "");
		fflush(stderr);
		result(id, text_result("written"));
	} else if (strcmp(name, "sample") == 0) {
		int slot = sample_seq++ % 64;

		snprintf(samples[slot].sid, sizeof(samples[slot].sid), "s%d", sample_seq);
		json_decref(samples[slot].rid);
		samples[slot].rid = json_incref(id);
		emit(json_pack("{s:s, s:s, s:s, s:{s:[{s:s, s:{s:s, s:s}}], s:i}}", "jsonrpc", "2.0",
		    "id", samples[slot].sid, "method", "sampling/createMessage", "params", "messages",
		    "role", "user", "content", "type", "text", "text", "hello", "maxTokens", 10));
	} else if (strcmp(name, "env") == 0) {
		const char *v = getenv(json_string_value(json_object_get(args, "name")) ?
		    json_string_value(json_object_get(args, "name")) : "");

		result(id, text_result(v ? v : "(unset)"));
	} else if (strcmp(name, "cancelled") == 0) {
		char *s = json_dumps(cancelled, JSON_COMPACT);

		result(id, text_result(s));
		free(s);
	} else if (strcmp(name, "extra") == 0 && extra_tool) {
		result(id, text_result("extra"));
	} else {
		snprintf(buf, sizeof(buf), "unknown tool");
		error(id, -32602, buf);
	}
}

/* The client's answer to one of our requests (sampling). */
static void
response(json_t *m)
{
	const char *sid = json_string_value(json_object_get(m, "id"));
	json_t *r = json_object_get(m, "result");
	const char *t;
	int i;

	for (i = 0; sid != NULL && i < 64; i++)
		if (samples[i].rid != NULL && strcmp(samples[i].sid, sid) == 0) {
			t = json_string_value(json_object_get(json_object_get(r, "content"), "text"));
			if (r == NULL)
				error(samples[i].rid, -32603, "sampling refused");
			else
				result(samples[i].rid, text_result(t ? t : "?"));
			json_decref(samples[i].rid);
			samples[i].rid = NULL;
			return;
		}
}

static void
handle(json_t *m)
{
	const char *method = json_string_value(json_object_get(m, "method"));
	json_t *id = json_object_get(m, "id"), *params = json_object_get(m, "params"), *a;
	const char *v;

	if (method == NULL) {
		response(m);
		return;
	}
	if (id == NULL) {
		if (strcmp(method, "notifications/cancelled") == 0)
			json_array_append(cancelled, json_object_get(params, "requestId"));
		return;
	}
	if (strcmp(method, "initialize") == 0) {
		v = json_string_value(json_object_get(params, "protocolVersion"));
		if (force_version != NULL)
			v = force_version;
		else if (v == NULL || (strcmp(v, "2025-11-25") != 0 && strcmp(v, "2025-06-18") != 0))
			v = "2025-06-18";
		result(id, json_pack("{s:s, s:{s:{s:b}, s:{s:b}, s:{s:b}}, s:{s:s, s:s}}",
		    "protocolVersion", v, "capabilities", "tools", "listChanged", 1, "resources",
		    "listChanged", 1, "prompts", "listChanged", 1, "serverInfo", "name", "echo_mcp",
		    "version", "1.0"));
	} else if (strcmp(method, "ping") == 0) {
		result(id, json_object());
	} else if (strcmp(method, "tools/list") == 0) {
		tools_list(id, params);
	} else if (strcmp(method, "tools/call") == 0) {
		tools_call(id, params);
	} else if (strcmp(method, "resources/list") == 0) {
		result(id, json_pack("{s:[{s:s, s:s}]}", "resources", "uri", "echo://hello", "name",
		    "hello"));
	} else if (strcmp(method, "resources/templates/list") == 0) {
		result(id, json_pack("{s:[{s:s, s:s}]}", "resourceTemplates", "uriTemplate",
		    "echo://item/{id}", "name", "item"));
	} else if (strcmp(method, "resources/read") == 0) {
		a = json_object_get(params, "uri");
		/* Not found, as servers of 2025-11-25 and before say it. */
		if (json_is_string(a) && strcmp(json_string_value(a), "echo://missing") == 0) {
			error(id, -32002, "Resource not found");
			return;
		}
		result(id, json_pack("{s:[{s:O, s:s}]}", "contents", "uri", a ? a : json_null(), "text",
		    "hello"));
	} else if (strcmp(method, "prompts/list") == 0) {
		result(id, json_pack("{s:[{s:s}]}", "prompts", "name", "greet"));
	} else {
		error(id, -32601, "method not found");
	}
}

int
main(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int i, stubborn = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--page") == 0 && i + 1 < argc)
			page_size = atoi(argv[++i]);
		else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc)
			force_version = argv[++i];
		else if (strcmp(argv[i], "--stubborn") == 0)
			stubborn = 1;
		else if (strcmp(argv[i], "--stall") == 0)
			stall_listed = 1;
		else if (strcmp(argv[i], "--banner") == 0)
			fprintf(stderr, "echo_mcp: started\n");
	}
	if (page_size < 1)
		page_size = 1;
	if (stubborn)
		signal(SIGTERM, SIG_IGN);
	cancelled = json_array();
	/* The gateway's own JSON reader and writer (core/jtext): the
	 * benchmark's upstream should cost as little as it can. */
	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_t *m = jtext_parse(line, (size_t)n, 0, NULL);

		if (m != NULL)
			handle(m);
		json_decref(m);
	}
	while (stubborn)
		pause();
	free(line);
	json_decref(cancelled);
	return (0);
}
