/* Tests for src/audit/audit.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"

struct fix {
	char dir[512];
	char path[600];
};

static int
setup(void **state)
{
	struct fix *f;
	const char *base = getenv("MCPGATE_TEST_TMP");

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (-1);
	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (mkdir(base, 0700) && errno != EEXIST)
		goto err;
	snprintf(f->dir, sizeof(f->dir), "%s/auditXXXXXX", base);
	if (mkdtemp(f->dir) == NULL)
		goto err;
	snprintf(f->path, sizeof(f->path), "%s/audit.jsonl", f->dir);
	*state = f;
	return (0);
err:
	free(f);
	return (-1);
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return (0);
}

static struct audit_log *
open_log(const char *path, int args)
{
	struct audit_config c;
	struct audit_log *log;

	audit_config_init(&c);
	c.file = strdup(path);
	c.arguments = args;
	log = audit_open(&c);
	audit_config_clear(&c);
	assert_non_null(log);
	return (log);
}

static void
append_raw(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Format ${r} and parse it back; the line must be one valid JSON object
 * ending with its only newline. */
static json_t *
roundtrip(const struct audit_record *r, int args, size_t *lenp)
{
	char line[AUDIT_LINE_MAX];
	json_error_t je;
	json_t *o;
	int n;

	n = audit_format(r, args, line, sizeof(line));
	assert_true(n > 0 && n <= AUDIT_LINE_MAX);
	assert_int_equal(line[n - 1], '\n');
	assert_null(memchr(line, '\n', (size_t)n - 1));
	o = json_loadb(line, (size_t)n - 1, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL)
		fail_msg("invalid line: %s: %.*s", je.text, n, line);
	assert_true(json_is_object(o));
	if (lenp != NULL)
		*lenp = (size_t)n;
	return (o);
}

static const char *
sget(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return (json_is_string(v) ? json_string_value(v) : NULL);
}

static void
test_format(void **state)
{
	struct audit_record r;
	json_t *o, *id, *args;
	char line[AUDIT_LINE_MAX];
	int n;

	(void)state;
	memset(&r, 0, sizeof(r));
	id = json_integer(9223372036854775807LL);
	args = json_pack("{s:s,s:i}", "path", "/tmp/x", "n", 3);
	r.time_ms = 1785230102123LL;
	r.id = id;
	r.subject = "u_1";
	r.client_id = "c_1";
	r.session = "s_1";
	r.method = "tools/call";
	r.tool = "fs__read_file";
	r.decision = AUDIT_ALLOW;
	r.reason = "allowed: read-only tool";
	r.upstream = "fs";
	r.latency_ms = 12;
	r.arguments = args;
	n = audit_format(&r, 0, line, sizeof(line));
	assert_true(n > 0);
	assert_memory_equal(line,
	    "{\"time\":\"2026-07-28T09:15:02.123Z\",\"id\":9223372036854775807,\"subject\":\"u_1\","
	    "\"client\":\"c_1\",\"session\":\"s_1\",\"method\":\"tools/call\",\"tool\":\"fs__read_file\","
	    "\"decision\":\"allow\",\"reason\":\"allowed: read-only tool\",\"upstream\":\"fs\","
	    "\"latency_ms\":12,\"outcome\":\"ok\"}\n",
	    (size_t)n);

	/* Arguments only when asked for. */
	o = roundtrip(&r, 1, NULL);
	assert_true(json_equal(json_object_get(o, "arguments"), args));
	json_decref(o);

	/* A denial with an error, a string id, no latency. */
	json_decref(id);
	id = json_string("req-\"1\"");
	r.id = id;
	r.decision = AUDIT_DENY;
	r.reason = "denied: tool not read-only; missing mcp:write";
	r.latency_ms = -1;
	r.error_code = -32600;
	r.http_status = 403;
	r.tool = NULL;
	r.resource = "file:///x";
	o = roundtrip(&r, 0, NULL);
	assert_string_equal(sget(o, "id"), "req-\"1\"");
	assert_string_equal(sget(o, "decision"), "deny");
	assert_string_equal(sget(o, "outcome"), "error");
	assert_int_equal(json_integer_value(json_object_get(o, "code")), -32600);
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 403);
	assert_string_equal(sget(o, "resource"), "file:///x");
	assert_null(json_object_get(o, "latency_ms"));
	assert_null(json_object_get(o, "tool"));
	assert_null(json_object_get(o, "arguments"));
	assert_null(json_object_get(o, "truncated"));
	json_decref(o);

	/* Nothing but the time: still a line.  time_ms 0 is now. */
	memset(&r, 0, sizeof(r));
	r.latency_ms = -1;
	o = roundtrip(&r, 1, NULL);
	assert_int_equal(json_object_size(o), 2);
	assert_int_equal(strlen(sget(o, "time")), 24);
	json_decref(o);

	/* An interim answer of a multi round-trip request. */
	r.outcome = "input_required";
	o = roundtrip(&r, 1, NULL);
	assert_string_equal(sget(o, "outcome"), "input_required");
	assert_null(json_object_get(o, "code"));
	json_decref(o);
	r.outcome = NULL;

	assert_int_equal(audit_format(&r, 0, line, AUDIT_LINE_MAX - 1), -1);
	json_decref(id);
	json_decref(args);
}

static void
test_escaping(void **state)
{
	struct audit_record r;
	json_t *o;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.time_ms = 1;
	r.subject = "a\"b\\c\nd\te\x01\x7f";
	r.client_id = "bad\xff\xc3utf8\xed\xa0\x80!";
	r.session = "caf\xc3\xa9 \xe4\xb8\x96";
	o = roundtrip(&r, 0, NULL);
	assert_string_equal(sget(o, "subject"), "a\"b\\c\nd\te\x01\x7f");
	assert_string_equal(
	    sget(o, "client"), "bad\xef\xbf\xbd\xef\xbf\xbdutf8\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
	assert_string_equal(sget(o, "session"), "caf\xc3\xa9 \xe4\xb8\x96");
	assert_null(json_object_get(o, "truncated"));
	json_decref(o);
}

static void
test_oversized(void **state)
{
	struct audit_record r;
	char *big, *uni;
	json_t *o, *args;
	size_t i, len;
	const char *s;

	(void)state;
	big = malloc(100000);
	uni = malloc(100000);
	assert_non_null(big);
	assert_non_null(uni);
	memset(big, 'x', 99999);
	big[99999] = '\0';
	for (i = 0; i + 2 < 99999; i += 2)
		memcpy(uni + i, "\xc3\xa9", 2);
	uni[i] = '\0';

	/* Every string field at once, far too long: cut, flagged, valid. */
	memset(&r, 0, sizeof(r));
	r.time_ms = 1;
	r.subject = big;
	r.client_id = uni;
	r.session = big;
	r.method = big;
	r.tool = uni;
	r.resource = big;
	r.reason = big;
	r.upstream = big;
	r.decision = AUDIT_DENY;
	r.latency_ms = 1;
	r.error_code = -1;
	r.http_status = 500;
	o = roundtrip(&r, 0, &len);
	assert_true(len <= AUDIT_LINE_MAX);
	assert_true(json_is_true(json_object_get(o, "truncated")));
	s = sget(o, "subject");
	assert_true(strlen(s) + 2 <= AUDIT_FIELD_MAX && strlen(s) > AUDIT_FIELD_MAX / 2);
	/* Plain ASCII is cut exactly at the field's size, quotes included. */
	assert_int_equal(strlen(s) + 2, AUDIT_FIELD_MAX);
	/* Cut on a character boundary: only whole "é". */
	s = sget(o, "client");
	assert_int_equal(strlen(s) % 2, 0);
	assert_int_equal(strncmp(s, "\xc3\xa9\xc3\xa9", 4), 0);
	assert_int_equal(memcmp(s + strlen(s) - 2, "\xc3\xa9", 2), 0);
	json_decref(o);

	/* Escapes count against the field's size. */
	memset(big, '\n', 5000);
	big[5000] = '\0';
	r.subject = big;
	o = roundtrip(&r, 0, &len);
	s = sget(o, "subject");
	assert_true(strlen(s) * 6 + 2 <= AUDIT_FIELD_MAX);
	json_decref(o);

	/* Arguments that do not fit are left out, and said to be. */
	args = json_pack("{s:s}", "blob", uni);
	r.arguments = args;
	o = roundtrip(&r, 1, &len);
	assert_true(len <= AUDIT_LINE_MAX);
	assert_null(json_object_get(o, "arguments"));
	assert_true(json_is_true(json_object_get(o, "arguments_truncated")));
	json_decref(o);
	json_decref(args);
	/* Arguments that fit beside maximal fields are kept whole. */
	uni[2000] = '\0';
	args = json_pack("{s:s}", "blob", uni);
	r.arguments = args;
	o = roundtrip(&r, 1, &len);
	assert_true(json_equal(json_object_get(o, "arguments"), args));
	json_decref(o);
	json_decref(args);
	free(big);
	free(uni);
}

static void
test_time(void **state)
{
	char ts[25];
	int64_t ms;

	(void)state;
	audit_time_format(0, ts);
	assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
	audit_time_format(1785230102123LL, ts);
	assert_string_equal(ts, "2026-07-28T09:15:02.123Z");
	audit_time_format(253402300799999LL, ts);
	assert_string_equal(ts, "9999-12-31T23:59:59.999Z");
	audit_time_format(1000000000007LL, ts);
	assert_string_equal(ts, "2001-09-09T01:46:40.007Z");
	audit_time_format(1785230102123LL, ts);
	assert_int_equal(audit_time_parse(ts, &ms), 0);
	assert_int_equal(ms, 1785230102123LL);
	assert_int_equal(audit_time_parse("2026-07-28T09:15:02Z", &ms), 0);
	assert_int_equal(ms, 1785230102000LL);
	assert_int_equal(audit_time_parse("2026-07-28T09:15:02.1Z", &ms), 0);
	assert_int_equal(ms, 1785230102100LL);
	assert_int_equal(audit_time_parse("2026-07-28t09:15:02.123456z", &ms), 0);
	assert_int_equal(ms, 1785230102123LL);
	assert_int_equal(audit_time_parse("2026-07-28T11:15:02+02:00", &ms), 0);
	assert_int_equal(ms, 1785230102000LL);
	assert_int_equal(audit_time_parse("2026-07-28T08:15:02-01:00", &ms), 0);
	assert_int_equal(ms, 1785230102000LL);
	assert_int_equal(audit_time_parse("2026-07-28", &ms), 0);
	assert_int_equal(ms, 1785196800000LL);
	assert_int_equal(audit_time_parse("2024-02-29", &ms), 0);
	assert_int_equal(audit_time_parse("2026-02-29", &ms), -1);
	assert_int_equal(audit_time_parse("2026-13-01", &ms), -1);
	assert_int_equal(audit_time_parse("2026-07-28T24:00:00Z", &ms), -1);
	assert_int_equal(audit_time_parse("2026-07-28T09:15:02", &ms), -1);
	assert_int_equal(audit_time_parse("2026-07-28T09:15:02.Z", &ms), -1);
	assert_int_equal(audit_time_parse("2026-07-28T09:15:02.1234567890Z", &ms), -1);
	assert_int_equal(audit_time_parse("2026-07-28T09:15:02Zx", &ms), -1);
	assert_int_equal(audit_time_parse("2026-7-28", &ms), -1);
	assert_int_equal(audit_time_parse("", &ms), -1);
	assert_int_equal(audit_time_parse(NULL, &ms), -1);
	assert_int_equal(audit_time_parse("1969-12-31", &ms), -1);
}

static void
test_config(void **state)
{
	struct audit_config c;
	const char *why;
	json_t *o;

	(void)state;
	audit_config_init(&c);
	o = json_loads(
	    "{\"file\":\"/var/log/mcpgate/audit.jsonl\",\"arguments\":true,\"fsync\":true}", 0, NULL);
	assert_int_equal(audit_config_parse(o, &c, &why), 0);
	json_decref(o);
	assert_string_equal(c.file, "/var/log/mcpgate/audit.jsonl");
	assert_true(c.arguments);
	assert_true(c.fsync);
	o = json_loads("{\"arguments\":false}", 0, NULL);
	assert_int_equal(audit_config_parse(o, &c, &why), 0);
	json_decref(o);
	assert_string_equal(c.file, "/var/log/mcpgate/audit.jsonl");
	assert_false(c.arguments);
	assert_true(c.fsync);
	static const char *bad[] = { "{\"file\":\"\"}", "{\"file\":1}", "{\"arguments\":1}",
		"{\"fsync\":\"yes\"}", "{\"fil\":\"x\"}", "[]", "{\"file\":\"a\\u0000b\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_loads(bad[i], JSON_ALLOW_NUL, NULL);
		assert_non_null(o);
		why = NULL;
		assert_int_equal(audit_config_parse(o, &c, &why), -1);
		assert_non_null(why);
		json_decref(o);
		assert_string_equal(c.file, "/var/log/mcpgate/audit.jsonl");
		assert_false(c.arguments);
	}
	audit_config_clear(&c);
}

static int count_cb(void *ctx, const char *line, size_t len, const json_t *rec);

static void
test_reopen(void **state)
{
	struct fix *f = *state;
	struct audit_record r;
	struct audit_stats st;
	struct audit_log *log;
	char moved[700];
	size_t n = 0;

	log = open_log(f->path, 0);
	memset(&r, 0, sizeof(r));
	r.subject = "before";
	r.latency_ms = -1;
	assert_int_equal(audit_write(log, &r), 0);
	snprintf(moved, sizeof(moved), "%s.1", f->path);
	assert_int_equal(rename(f->path, moved), 0);
	r.subject = "still-old";
	assert_int_equal(audit_write(log, &r), 0);
	assert_int_equal(audit_reopen(log), 0);
	r.subject = "after";
	assert_int_equal(audit_write(log, &r), 0);
	audit_close(log);
	assert_int_equal(audit_query(moved, NULL, count_cb, &n, &st), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(audit_query(f->path, NULL, count_cb, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(st.malformed, 0);
	unlink(moved);
}

struct th {
	struct audit_log *log;
	int no;
	int fails;
};

#define NTHREADS   8
#define PER_THREAD 1500

static void *
writer(void *arg)
{
	struct th *t = arg;
	struct audit_record r;
	char subj[32], reason[3000];
	json_t *id;
	int i;

	memset(&r, 0, sizeof(r));
	snprintf(subj, sizeof(subj), "thread-%d", t->no);
	r.subject = subj;
	r.method = "tools/call";
	r.latency_ms = -1;
	for (i = 0; i < PER_THREAD; i++) {
		/* Lengths from short to several pages' worth of line. */
		size_t n = (size_t)((i * 37 + t->no * 101) % 6) * 500;

		memset(reason, 'a' + t->no, n);
		reason[n] = '\0';
		r.reason = reason;
		r.tool = reason; /* two long fields */
		id = json_integer(i);
		r.id = id;
		if (audit_write(t->log, &r) != 0)
			t->fails++;
		json_decref(id);
	}
	return (NULL);
}

struct seen {
	unsigned char got[NTHREADS][PER_THREAD];
	size_t n;
	int bad;
};

static int
collect(void *ctx, const char *line, size_t len, const json_t *rec)
{
	struct seen *s = ctx;
	const char *subj = sget(rec, "subject"), *reason = sget(rec, "reason");
	json_int_t id = json_integer_value(json_object_get(rec, "id"));
	int t;

	(void)line;
	(void)len;
	if (subj == NULL || sscanf(subj, "thread-%d", &t) != 1 || t < 0 || t >= NTHREADS || id < 0 ||
	    id >= PER_THREAD || reason == NULL) {
		s->bad++;
		return (0);
	}
	/* Each reason is one letter repeated: a mixed one would be interleaving. */
	for (const char *p = reason; *p; p++)
		if (*p != 'a' + t)
			s->bad++;
	s->got[t][id]++;
	s->n++;
	return (0);
}

static void
test_concurrent(void **state)
{
	struct fix *f = *state;
	struct audit_log *log = open_log(f->path, 0);
	pthread_t tid[NTHREADS];
	struct th th[NTHREADS];
	struct audit_stats st;
	struct seen *s;
	int i, j;

	for (i = 0; i < NTHREADS; i++) {
		th[i].log = log;
		th[i].no = i;
		th[i].fails = 0;
		assert_int_equal(pthread_create(&tid[i], NULL, writer, &th[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(th[i].fails, 0);
	}
	audit_close(log);

	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	assert_int_equal(audit_query(f->path, NULL, collect, s, &st), 0);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.lines, NTHREADS * PER_THREAD);
	assert_int_equal(s->n, NTHREADS * PER_THREAD);
	assert_int_equal(s->bad, 0);
	for (i = 0; i < NTHREADS; i++)
		for (j = 0; j < PER_THREAD; j++)
			assert_int_equal(s->got[i][j], 1);
	free(s);
}

static int
count_cb(void *ctx, const char *line, size_t len, const json_t *rec)
{
	(void)line;
	(void)len;
	(void)rec;
	(*(size_t *)ctx)++;
	return (0);
}

static int
last_byte(const char *path, off_t size)
{
	char c = 0;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, size - 1), 1);
	close(fd);
	return (c);
}

static void
test_crash(void **state)
{
	struct fix *f = *state;
	struct audit_stats st;
	struct stat sb;
	int round, status;
	size_t n = 0, after, partial;
	pid_t pid;

	/* Each round: a child writes lines as fast as it can and is killed
	 * with SIGKILL at a moment of our choosing; the file must hold whole
	 * lines only, and a new writer appends after them. */
	for (round = 0; round < 5; round++) {
		off_t before = stat(f->path, &sb) == 0 ? sb.st_size : 0;

		if ((pid = fork()) == 0) {
			struct audit_log *log = open_log(f->path, 1);
			struct audit_record r;
			json_t *args = json_pack("{s:s}", "q", "some argument text of moderate length");
			long i;

			memset(&r, 0, sizeof(r));
			r.subject = "crash-child";
			r.method = "tools/call";
			r.tool = "fs__write_file";
			r.arguments = args;
			for (i = 0;; i++) {
				json_t *id = json_integer(i);

				r.id = id;
				r.latency_ms = i;
				(void)audit_write(log, &r);
				json_decref(id);
			}
		}
		assert_true(pid > 0);
		/* Wait until it has written something, then a little longer. */
		for (;;) {
			if (stat(f->path, &sb) == 0 && sb.st_size > before + 20000 * (round + 1))
				break;
			usleep(1000);
		}
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		n = 0;
		assert_int_equal(audit_query(f->path, NULL, count_cb, &n, &st), 0);
		assert_int_equal(st.malformed, 0);
		assert_true(n > 100);
		assert_int_equal(n, st.lines);
		assert_true(st.partial <= 1);
		partial = st.partial;

		/* The next writer leaves whole lines only, the fragment of a
		 * cut write kept as a line of its own. */
		audit_close(open_log(f->path, 0));
		after = 0;
		assert_int_equal(audit_query(f->path, NULL, count_cb, &after, &st), 0);
		assert_int_equal(st.malformed, 0);
		assert_int_equal(st.partial, 0);
		assert_int_equal(after, n + partial);
		assert_int_equal(stat(f->path, &sb), 0);
		assert_int_equal(last_byte(f->path, sb.st_size), '\n');
	}
}

struct got_torn {
	size_t n;
	char frag[64];
};

static int
torn_cb(void *ctx, const char *line, size_t len, const json_t *rec)
{
	struct got_torn *g = ctx;
	const char *t = json_string_value(json_object_get(rec, "torn"));

	(void)line;
	(void)len;
	if (t != NULL) {
		g->n++;
		snprintf(g->frag, sizeof(g->frag), "%s", t);
	}
	return (0);
}

static void
test_torn_tail(void **state)
{
	struct fix *f = *state;
	struct audit_record r;
	struct audit_stats st;
	struct audit_log *log;
	size_t n = 0;
	pid_t pid;
	int status;

	/* A file ending in a partial line, as a failed write leaves it. */
	append_raw(f->path, "{\"time\":\"2026-07-28T09:15:02.123Z\",\"subject\":\"a\"}\n{\"time\":\"2026-07");
	assert_int_equal(audit_query(f->path, NULL, count_cb, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(st.lines, 1);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.partial, 1);

	/* Opening keeps the fragment as a whole "torn" line of its own. */
	log = open_log(f->path, 0);
	memset(&r, 0, sizeof(r));
	r.subject = "b";
	r.latency_ms = -1;
	assert_int_equal(audit_write(log, &r), 0);
	assert_int_equal(audit_write(log, &r), 0);
	/* One writing process per log. */
	if ((pid = fork()) == 0) {
		struct audit_config c;

		audit_config_init(&c);
		c.file = f->path;
		_exit(audit_open(&c) == NULL ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	audit_close(log);
	n = 0;
	assert_int_equal(audit_query(f->path, NULL, count_cb, &n, &st), 0);
	assert_int_equal(n, 4);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.partial, 0);
	assert_int_equal(st.lines, 4);
	{
		struct got_torn g = { 0 };

		assert_int_equal(audit_query(f->path, NULL, torn_cb, &g, &st), 0);
		assert_int_equal(g.n, 1);
		assert_string_equal(g.frag, "{\"time\":\"2026-07");
	}

	/* Open fails on what cannot be a log. */
	{
		struct audit_config c;

		audit_config_init(&c);
		c.file = f->dir;
		assert_null(audit_open(&c));
		c.file = "/nonexistent-dir/x/audit.jsonl";
		assert_null(audit_open(&c));
		c.file = NULL;
		assert_null(audit_open(&c));
	}
}

/* While the log's name is moved between two files (as a rotation tool or
 * anyone with write access to the directory may do), audit_open() must
 * repair the torn tail of the very file it will write to: repairing one
 * file and then writing into another glues the first record to a fragment.
 * Both files start each round with a fragment; afterwards every whole line
 * of both must be JSON. */
struct flip {
	char a[600], b[600], tmp[600];
	volatile int stop;
};

static void *
flipper(void *arg)
{
	struct flip *fl = arg;

	while (!fl->stop) {
		(void)rename(fl->a, fl->tmp);
		(void)rename(fl->b, fl->a);
		(void)rename(fl->a, fl->b);
		(void)rename(fl->tmp, fl->a);
	}
	return (NULL);
}

static int
whole_lines(const char *path)
{
	char buf[65536], *p, *nl;
	json_t *o;
	ssize_t n;
	int fd, ok = 1;

	if ((fd = open(path, O_RDONLY)) < 0)
		return (1); /* between two renames */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return (1);
	buf[n] = '\0';
	for (p = buf; *p != '\0'; p = nl + 1) {
		/* The file audit_open() did not take keeps its fragment. */
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		if ((o = json_loadb(p, (size_t)(nl - p), 0, NULL)) == NULL)
			ok = 0;
		json_decref(o);
	}
	return (ok);
}

static void
test_torn_tail_renamed(void **state)
{
	struct fix *f = *state;
	struct audit_record r;
	struct audit_log *log;
	struct audit_config c;
	struct flip fl;
	pthread_t thr;
	int i, bad = 0, fd;

	memset(&fl, 0, sizeof(fl));
	snprintf(fl.a, sizeof(fl.a), "%s", f->path);
	snprintf(fl.b, sizeof(fl.b), "%s/other.jsonl", f->dir);
	snprintf(fl.tmp, sizeof(fl.tmp), "%s/tmp.jsonl", f->dir);
	memset(&r, 0, sizeof(r));
	r.subject = "s";
	r.latency_ms = -1;
	for (i = 0; i < 2000 && !bad; i++) {
		/* Both files: one fragment each, nothing else. */
		fd = open(fl.a, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "{\"time\":\"2026", 13), 13);
		close(fd);
		fd = open(fl.b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "{\"time\":\"2027", 13), 13);
		close(fd);
		fl.stop = 0;
		assert_int_equal(pthread_create(&thr, NULL, flipper, &fl), 0);
		audit_config_init(&c);
		c.file = fl.a;
		log = audit_open(&c);
		fl.stop = 1;
		pthread_join(thr, NULL);
		if (log == NULL)
			continue; /* the name was in between two files */
		assert_int_equal(audit_write(log, &r), 0);
		audit_close(log);
		/* The tmp name may hold one of them if the flipper stopped
		 * half-way: put it back. */
		if (access(fl.tmp, F_OK) == 0 && access(fl.a, F_OK) != 0)
			assert_int_equal(rename(fl.tmp, fl.a), 0);
		if (access(fl.tmp, F_OK) == 0 && access(fl.b, F_OK) != 0)
			assert_int_equal(rename(fl.tmp, fl.b), 0);
		if (!whole_lines(fl.a) || !whole_lines(fl.b) || !whole_lines(fl.tmp))
			bad = 1;
	}
	unlink(fl.b);
	unlink(fl.tmp);
	assert_false(bad);
}

#define LONGHEAD "{\"time\":\"2026-07-28T09:15:00.000Z\",\"subject\":\"s1\"}"

struct got {
	char subj[16][32];
	size_t n;
};

static int
got_cb(void *ctx, const char *line, size_t len, const json_t *rec)
{
	struct got *g = ctx;

	(void)line;
	(void)len;
	if (g->n < 16)
		snprintf(g->subj[g->n++], 32, "%s", sget(rec, "subject"));
	return (0);
}

static void
q(const char *path, const struct audit_filter *flt, const char *want)
{
	struct audit_stats st;
	struct got g;
	char all[512] = "";
	size_t i;

	memset(&g, 0, sizeof(g));
	assert_int_equal(audit_query(path, flt, got_cb, &g, &st), 0);
	for (i = 0; i < g.n; i++) {
		strcat(all, i ? " " : "");
		strcat(all, g.subj[i]);
	}
	assert_string_equal(all, want);
	assert_int_equal(st.matched, g.n);
	assert_int_equal(st.malformed, 4);
}

static int
stop_cb(void *ctx, const char *line, size_t len, const json_t *rec)
{
	(void)line;
	(void)len;
	(void)rec;
	(*(size_t *)ctx)++;
	return (1);
}

static void
test_query(void **state)
{
	struct fix *f = *state;
	struct audit_filter flt;
	struct audit_record r;
	struct audit_log *log;
	struct audit_stats st;
	char *longline;
	size_t n = 0;
	static const struct {
		int64_t t;
		const char *subj, *client, *tool;
		enum audit_decision d;
	} recs[] = {
		{ 1785230100000LL, "s1", "c1", "fs__read_file", AUDIT_ALLOW },
		{ 1785230200000LL, "s2", "c1", "fs__write_file", AUDIT_DENY },
		{ 1785230300000LL, "s1", "c2", "fs__write_file", AUDIT_ALLOW },
		{ 1785230400000LL, "s3", "c2", NULL, AUDIT_NONE },
		{ 1785230500000LL, "s1", "c1", "fs__write_file", AUDIT_DENY },
	};
	size_t i;

	log = open_log(f->path, 0);
	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.time_ms = recs[i].t;
		r.subject = recs[i].subj;
		r.client_id = recs[i].client;
		r.tool = recs[i].tool;
		r.decision = recs[i].d;
		r.latency_ms = -1;
		assert_int_equal(audit_write(log, &r), 0);
		if (i == 1) {
			/* Malformed lines between good ones are skipped and counted. */
			append_raw(f->path, "not json\n");
			append_raw(f->path, "{\"subject\":\"s1\",\"note\":\"no time\"}\n");
			longline = malloc(AUDIT_LINE_MAX + 100);
			assert_non_null(longline);
			memset(longline, ' ', AUDIT_LINE_MAX + 98);
			memcpy(longline, LONGHEAD, strlen(LONGHEAD));
			longline[AUDIT_LINE_MAX + 98] = '\n';
			longline[AUDIT_LINE_MAX + 99] = '\0';
			append_raw(f->path, longline);
			free(longline);
			append_raw(f->path, "\n");
		}
	}
	audit_close(log);

	q(f->path, NULL, "s1 s2 s1 s3 s1");
	memset(&flt, 0, sizeof(flt));
	flt.subject = "s1";
	q(f->path, &flt, "s1 s1 s1");
	flt.client = "c1";
	q(f->path, &flt, "s1 s1");
	flt.denied = 1;
	q(f->path, &flt, "s1");
	memset(&flt, 0, sizeof(flt));
	flt.denied = 1;
	q(f->path, &flt, "s2 s1");
	memset(&flt, 0, sizeof(flt));
	flt.tool = "fs__write_file";
	q(f->path, &flt, "s2 s1 s1");
	flt.tool = "fs__write";
	q(f->path, &flt, "");
	memset(&flt, 0, sizeof(flt));
	flt.since_ms = 1785230300000LL;
	q(f->path, &flt, "s1 s3 s1");
	flt.since_ms = 1785230300001LL;
	q(f->path, &flt, "s3 s1");
	flt.client = "c2";
	q(f->path, &flt, "s3");
	flt.subject = "nobody";
	q(f->path, &flt, "");

	/* The callback can stop the query. */
	assert_int_equal(audit_query(f->path, NULL, stop_cb, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(st.matched, 1);

	assert_int_equal(audit_query("/nonexistent/audit.jsonl", NULL, NULL, NULL, &st), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_config),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_renamed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
