/* Tests for src/audit/audit_cli.c. */
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"

static char dir[512], logpath[600], outpath[600], errpath[600];

/* Run audit_cli with the NULL-terminated ${args} (after "audit"), its
 * standard output and error going to files; return the status and the
 * output in ${out}, the error text in ${err}. */
static int
run(const char *path, char *out, size_t outcap, char *err, size_t errcap, ...)
{
	char *argv[16];
	int argc = 0, rc, so, se, fd;
	va_list ap;
	FILE *fp;
	size_t n;

	argv[argc++] = (char *)"audit";
	va_start(ap, errcap);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);

	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 1);
	close(fd);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
	rc = audit_cli(argc, argv, path);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);

	fp = fopen(outpath, "r");
	n = fread(out, 1, outcap - 1, fp);
	out[n] = '\0';
	fclose(fp);
	fp = fopen(errpath, "r");
	n = fread(err, 1, errcap - 1, fp);
	err[n] = '\0';
	fclose(fp);
	return (rc);
}

/* The subjects of the lines in ${out}, space-separated, in ${subs}. */
static void
subjects(const char *out, char *subs, size_t cap)
{
	const char *p = out, *nl;
	json_t *o;

	subs[0] = '\0';
	while ((nl = strchr(p, '\n')) != NULL) {
		o = json_loadb(p, (size_t)(nl - p), 0, NULL);
		assert_non_null(o);
		if (subs[0] != '\0')
			strncat(subs, " ", cap - strlen(subs) - 1);
		strncat(subs, json_string_value(json_object_get(o, "subject")), cap - strlen(subs) - 1);
		json_decref(o);
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');
}

static int
setup(void **state)
{
	const char *base = getenv("MCPGATE_TEST_TMP");
	struct audit_config c;
	struct audit_log *log;
	struct audit_record r;
	struct timespec ts;
	int64_t now;
	int fd;

	(void)state;
	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (mkdir(base, 0700) && errno != EEXIST)
		return (-1);
	snprintf(dir, sizeof(dir), "%s/auditcliXXXXXX", base);
	if (mkdtemp(dir) == NULL)
		return (-1);
	snprintf(logpath, sizeof(logpath), "%s/audit.jsonl", dir);
	snprintf(outpath, sizeof(outpath), "%s/out", dir);
	snprintf(errpath, sizeof(errpath), "%s/err", dir);

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000;
	audit_config_init(&c);
	c.file = logpath;
	if ((log = audit_open(&c)) == NULL)
		return (-1);
	memset(&r, 0, sizeof(r));
	r.latency_ms = -1;
	/* old: two days ago; new: a minute ago. */
	r.time_ms = now - 2 * 86400 * 1000LL;
	r.subject = "old";
	r.client_id = "c1";
	r.tool = "fs__read_file";
	r.decision = AUDIT_ALLOW;
	audit_write(log, &r);
	r.time_ms = now - 60 * 1000;
	r.subject = "new";
	r.client_id = "c2";
	r.tool = "fs__write_file";
	r.decision = AUDIT_DENY;
	audit_write(log, &r);
	r.subject = "new2";
	r.client_id = "c1";
	r.decision = AUDIT_ALLOW;
	audit_write(log, &r);
	audit_close(log);
	fd = open(logpath, O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, "garbage\n", 8) != 8)
		return (-1);
	close(fd);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	unlink(logpath);
	unlink(outpath);
	unlink(errpath);
	rmdir(dir);
	return (0);
}

static void
test_cli(void **state)
{
	char out[8192], err[1024], subs[256];

	(void)state;
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), NULL), 0);
	subjects(out, subs, sizeof(subs));
	assert_string_equal(subs, "old new new2");
	assert_non_null(strstr(err, "1 malformed line skipped"));

	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--subject", "new", NULL), 0);
	subjects(out, subs, sizeof(subs));
	assert_string_equal(subs, "new");
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--client=c1", NULL), 0);
	subjects(out, subs, sizeof(subs));
	assert_string_equal(subs, "old new2");
	assert_int_equal(
	    run(logpath, out, sizeof(out), err, sizeof(err), "--tool", "fs__write_file", NULL), 0);
	subjects(out, subs, sizeof(subs));
	assert_string_equal(subs, "new new2");
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--denied", NULL), 0);
	subjects(out, subs, sizeof(subs));
	assert_string_equal(subs, "new");
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--since", "1h", NULL), 0);
	subjects(out, subs, sizeof(subs));
	assert_string_equal(subs, "new new2");
	assert_int_equal(
	    run(logpath, out, sizeof(out), err, sizeof(err), "--since", "3d", "--client", "c1", NULL), 0);
	subjects(out, subs, sizeof(subs));
	assert_string_equal(subs, "old new2");
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--since", "30s", NULL), 0);
	assert_string_equal(out, "");
	assert_int_equal(
	    run(logpath, out, sizeof(out), err, sizeof(err), "--since", "2000-01-01T00:00:00Z", NULL), 0);
	subjects(out, subs, sizeof(subs));
	assert_string_equal(subs, "old new new2");
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--since", "9999-01-01", NULL), 0);
	assert_string_equal(out, "");

	/* Usage errors. */
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--since", "yesterday", NULL), 2);
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--since", "5w", NULL), 2);
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--since", "h", NULL), 2);
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--since", NULL), 2);
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--bogus", NULL), 2);
	assert_non_null(strstr(err, "usage"));
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--subjects", "x", NULL), 2);
	assert_int_equal(run(logpath, out, sizeof(out), err, sizeof(err), "--help", NULL), 0);
	assert_non_null(strstr(out, "usage"));

	/* No log. */
	assert_int_equal(run("/nonexistent/audit.jsonl", out, sizeof(out), err, sizeof(err), NULL), 1);
	assert_non_null(strstr(err, "cannot read"));
	assert_int_equal(run(NULL, out, sizeof(out), err, sizeof(err), NULL), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
