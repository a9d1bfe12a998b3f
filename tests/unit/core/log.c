/* Tests for src/core/log.c: one line per message, whatever the message
 * contains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* Run log_info("user %s", ${arg}) with standard error sent to a temporary
 * file; return what was written (malloc'd). */
static char *
capture(const char *arg)
{
	char dir[] = "/tmp/mcpgate-logXXXXXX", path[64], *out;
	int fd, saved;
	ssize_t n;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/err", dir);
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	fflush(stderr);
	assert_true((saved = dup(2)) >= 0);
	assert_true(dup2(fd, 2) == 2);
	log_info("user %s", arg);
	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	assert_non_null(out = calloc(1, 4096));
	assert_true((n = pread(fd, out, 4095, 0)) > 0);
	close(fd);
	unlink(path);
	rmdir(dir);
	return (out);
}

static void
test_plain(void **state)
{
	char *out = capture("alice");

	(void)state;
	assert_non_null(strstr(out, " info: user alice\n"));
	free(out);
}

static void
test_no_forged_lines(void **state)
{
	char *out = capture("x\n2026-01-01T00:00:00.000Z info: user admin signed in\r\x1b[2J");
	char *nl;

	(void)state;
	nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_string_equal(nl + 1, "");
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\x1b'));
	assert_non_null(strstr(out, "user x?2026-01-01"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_no_forged_lines),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
