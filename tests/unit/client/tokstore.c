/* Tests for src/client/tokstore.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/internal.h"
#include "client/tokstore.h"

static char dir[256];

static int
setup(void **state)
{
	const char *base = getenv("MCPGATE_TEST_TMP");

	(void)state;
	if (base != NULL)
		mkdir(base, 0700);
	snprintf(dir, sizeof(dir), "%s/tokstore-XXXXXX", base ? base : "/tmp");
	return (mkdtemp(dir) == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return (system(cmd) == 0 ? 0 : -1);
}

static char *
file_of(char kind, const char *id)
{
	static char p[400];
	char name[64];

	tokstore_name(kind, id, name);
	snprintf(p, sizeof(p), "%s/store/%s", dir, name);
	return (p);
}

static size_t
slurp(const char *path, unsigned char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return (n);
}

static void
spill(const char *path, const unsigned char *buf, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
}

static void
test_roundtrip(void **state)
{
	struct tokstore s;
	struct cerr e = { "" };
	char sd[300], kp[320];
	json_t *d, *got;
	unsigned char raw[4096];
	size_t n;
	struct stat st;

	(void)state;
	snprintf(sd, sizeof(sd), "%s/store", dir);
	/* Opening without create: empty, nothing made. */
	assert_int_equal(tokstore_open(&s, sd, 0, &e), MCPGATE_OK);
	assert_int_equal(tokstore_get(&s, 't', "https://x/mcp", &got, &e), MCPGATE_OK);
	assert_null(got);
	tokstore_close(&s);
	assert_int_not_equal(stat(sd, &st), 0);

	assert_int_equal(tokstore_open(&s, sd, 1, &e), MCPGATE_OK);
	snprintf(kp, sizeof(kp), "%s/key", sd);
	assert_int_equal(stat(kp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(sd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	d = json_pack("{s:s, s:s}", "access_token", "SECRET-ACCESS-TOKEN", "server_url", "https://x/mcp");
	assert_int_equal(tokstore_put(&s, 't', "https://x/mcp", d, &e), MCPGATE_OK);
	json_decref(d);
	assert_int_equal(tokstore_get(&s, 't', "https://x/mcp", &got, &e), MCPGATE_OK);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "access_token")), "SECRET-ACCESS-TOKEN");
	json_decref(got);
	tokstore_close(&s);

	/* The file is encrypted and private. */
	assert_int_equal(stat(file_of('t', "https://x/mcp"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	n = slurp(file_of('t', "https://x/mcp"), raw, sizeof(raw));
	assert_null(memmem(raw, n, "SECRET", 6));
	assert_null(memmem(raw, n, "access_token", 12));
}

static void
test_corrupt(void **state)
{
	struct tokstore s;
	struct cerr e = { "" };
	char sd[300], kp[320], other[400];
	json_t *d, *got;
	unsigned char raw[4096], key[AEAD_KEY_LEN];
	size_t n;

	(void)state;
	snprintf(sd, sizeof(sd), "%s/store", dir);
	snprintf(kp, sizeof(kp), "%s/key", sd);
	assert_int_equal(tokstore_open(&s, sd, 1, &e), MCPGATE_OK);
	d = json_pack("{s:s}", "access_token", "A");
	assert_int_equal(tokstore_put(&s, 't', "one", d, &e), MCPGATE_OK);
	json_decref(d);

	/* A flipped bit is detected. */
	n = slurp(file_of('t', "one"), raw, sizeof(raw));
	raw[n - 1] ^= 1;
	spill(file_of('t', "one"), raw, n);
	e.msg[0] = '\0';
	assert_int_equal(tokstore_get(&s, 't', "one", &got, &e), MCPGATE_E_STORE_CORRUPT);
	assert_null(got);
	assert_non_null(strstr(e.msg, "corrupted"));
	raw[n - 1] ^= 1;
	spill(file_of('t', "one"), raw, n);
	assert_int_equal(tokstore_get(&s, 't', "one", &got, &e), MCPGATE_OK);
	json_decref(got);

	/* A file moved to another entry's name does not open there. */
	strcpy(other, file_of('t', "two"));
	spill(other, raw, n);
	e.msg[0] = '\0';
	assert_int_equal(tokstore_get(&s, 't', "two", &got, &e), MCPGATE_E_STORE_CORRUPT);
	/* Garbage. */
	spill(other, (const unsigned char *)"hello", 5);
	assert_int_equal(tokstore_get(&s, 't', "two", &got, &e), MCPGATE_E_STORE_CORRUPT);
	tokstore_close(&s);

	/* Another key: unreadable. */
	n = slurp(kp, key, sizeof(key));
	assert_int_equal(n, AEAD_KEY_LEN);
	key[0] ^= 0x80;
	spill(kp, key, n);
	chmod(kp, 0600);
	assert_int_equal(tokstore_open(&s, sd, 0, &e), MCPGATE_OK);
	e.msg[0] = '\0';
	assert_int_equal(tokstore_get(&s, 't', "one", &got, &e), MCPGATE_E_STORE_CORRUPT);
	tokstore_close(&s);

	/* A key file others can read is refused. */
	chmod(kp, 0644);
	e.msg[0] = '\0';
	assert_int_equal(tokstore_open(&s, sd, 0, &e), MCPGATE_E_STORE);
	assert_non_null(strstr(e.msg, "0600"));
	chmod(kp, 0600);
}

static void
test_lock_del(void **state)
{
	struct tokstore s;
	struct cerr e = { "" };
	char sd[300];
	json_t *d, *got;
	int fd;

	(void)state;
	snprintf(sd, sizeof(sd), "%s/store", dir);
	assert_int_equal(tokstore_open(&s, sd, 1, &e), MCPGATE_OK);
	assert_int_equal(tokstore_lock(&s, 't', "x", &fd, &e), MCPGATE_OK);
	d = json_pack("{s:s}", "access_token", "A");
	assert_int_equal(tokstore_put(&s, 't', "x", d, &e), MCPGATE_OK);
	json_decref(d);
	tokstore_unlock(fd);
	assert_int_equal(tokstore_del(&s, 't', "x", &e), MCPGATE_OK);
	assert_int_equal(tokstore_get(&s, 't', "x", &got, &e), MCPGATE_OK);
	assert_null(got);
	assert_int_equal(tokstore_del(&s, 't', "x", &e), MCPGATE_OK);
	tokstore_close(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_del, setup, teardown),
	};

	return (cmocka_run_group_tests_name("client/tokstore", tests, NULL, NULL));
}
