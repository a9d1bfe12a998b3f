/*
 * Tests of src/store/store_sqlite.c through store.h, on a database file in a
 * fresh temporary directory per test: the cases every backend passes
 * (store_cases.h), then SQLite's own (file mode, URL forms, schema version
 * in the file).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/secret.h"
#include "store/store.h"

struct fix {
	char dir[512];
	char path[600];
	char url[600]; /* the path */
	struct store *s;
};

#include "store_cases.h"

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
	snprintf(f->dir, sizeof(f->dir), "%s/storeXXXXXX", base);
	if (mkdtemp(f->dir) == NULL)
		goto err;
	snprintf(f->path, sizeof(f->path), "%s/mcpgate.db", f->dir);
	snprintf(f->url, sizeof(f->url), "%s", f->path);
	if ((f->s = store_open(f->path)) == NULL)
		goto err;
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
	struct dirent *de;
	char p[1024];
	DIR *d;

	store_free(f->s);
	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return (0);
}

/* Persistence, URLs, file mode, schema version. */

static void
test_reopen(void **state)
{
	struct fix *f = *state;
	struct store_user u = {"sub-a", "alice", "h", NOW}, out;
	struct stat sb;
	char url[700], wal[700];

	assert_int_equal(f->s->ops->user_add(f->s, &u), 0);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	if (stat(wal, &sb) == 0)
		assert_int_equal(sb.st_mode & 0777, 0600);
	store_free(f->s);

	snprintf(url, sizeof(url), "sqlite:%s", f->path);
	f->s = store_open(url);
	assert_non_null(f->s);
	assert_string_equal(f->s->ops->name, "sqlite");
	assert_int_equal(f->s->ops->user_get(f->s, "alice", &out), 0);
	assert_string_equal(out.sub, "sub-a");
	store_user_clear(&out);
	store_free(f->s);

	snprintf(url, sizeof(url), "sqlite://%s", f->path);
	f->s = store_open(url);
	assert_non_null(f->s);
	assert_int_equal(f->s->ops->user_get(f->s, "alice", &out), 0);
	store_user_clear(&out);
}

static void
test_open_errors(void **state)
{
	struct fix *f = *state;
	char p[700];
	sqlite3 *db;

	(void)f;
	store_free(NULL);
	assert_null(store_open(NULL));
	assert_null(store_open(""));
	assert_null(store_open("sqlite:"));
	assert_null(store_open("mysql://localhost/db"));
	/* Nothing listens on port 1. */
	assert_null(store_open("postgresql://127.0.0.1:1/db"));
	assert_null(store_open("file:x.db"));
	/* The parent directory must exist. */
	snprintf(p, sizeof(p), "%s/missing/x.db", f->dir);
	assert_null(store_open(p));

	/* A database from a newer version of the program is refused. */
	snprintf(p, sizeof(p), "%s/newer.db", f->dir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(p));

	/* Not a database at all. */
	snprintf(p, sizeof(p), "%s/garbage.db", f->dir);
	{
		FILE *fp = fopen(p, "w");

		assert_non_null(fp);
		for (int i = 0; i < 512; i++)
			fputs("not a database file ", fp);
		fclose(fp);
	}
	assert_null(store_open(p));
}

static void
test_clear_null(void **state)
{
	struct store_user u = {0};
	struct store_client c = {0};
	struct store_code co = {0};
	struct store_refresh r = {0};
	struct store_consent cs = {0};
	struct store_session se = {0};
	struct store_authreq a = {0};
	struct store_key k = {0};

	(void)state;
	store_user_clear(&u);
	store_client_clear(&c);
	store_code_clear(&co);
	store_refresh_clear(&r);
	store_consent_clear(&cs);
	store_session_clear(&se);
	store_authreq_clear(&a);
	store_key_clear(&k);
	k.kid = strdup("k");
	k.created_at = 5;
	store_key_clear(&k);
	assert_null(k.kid);
	assert_int_equal(k.created_at, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    STORE_CASES(T),
	    T(test_reopen),
	    T(test_open_errors),
	    cmocka_unit_test(test_clear_null),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
