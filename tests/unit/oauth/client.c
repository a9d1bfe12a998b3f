/*
 * Tests of client_find()'s cache in src/oauth/client.c, through
 * oauth/internal.h, on a SQLite store in a fresh temporary directory: what is
 * cached (rows of used clients), what is not (unused clients, failed
 * lookups), that a cached row outlives its deletion in the store only until
 * the time to live, and that copies handed out are independent.
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
#include <time.h>
#include <unistd.h>

#include "oauth/internal.h"
#include "store/store.h"

#define NOW ((int64_t)1700000000)
/* Short enough to wait out in a test. */
#define TTL_MS 100

struct fix {
	char dir[512];
	char path[600];
	struct config cfg;
	struct oauth o;
};

static int
setup_ttl(void **state, int64_t ttl_ms)
{
	struct fix *f;
	const char *base = getenv("MCPGATE_TEST_TMP");

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (-1);
	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (mkdir(base, 0700) && errno != EEXIST)
		goto err;
	snprintf(f->dir, sizeof(f->dir), "%s/clientXXXXXX", base);
	if (mkdtemp(f->dir) == NULL)
		goto err;
	snprintf(f->path, sizeof(f->path), "%s/mcpgate.db", f->dir);
	if (config_load(&f->cfg, NULL))
		goto err;
	f->o.cfg = &f->cfg;
	if ((f->o.st = store_open(f->path)) == NULL || (f->o.cimd = cimd_new(&f->cfg)) == NULL ||
	    (f->o.clients = client_cache_new(ttl_ms)) == NULL)
		goto err;
	*state = f;
	return (0);
err:
	free(f);
	return (-1);
}

static int
setup(void **state)
{
	return (setup_ttl(state, TTL_MS));
}

static int
setup_nocache(void **state)
{
	return (setup_ttl(state, 0));
}

static int
teardown(void **state)
{
	struct fix *f = *state;
	struct dirent *de;
	char p[1024];
	DIR *d;

	client_cache_free(f->o.clients);
	cimd_free(f->o.cimd);
	store_free(f->o.st);
	config_clear(&f->cfg);
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

/* add(f, id, used): store a confidential client_credentials client ${id};
 * mark it as having obtained a token if ${used}. */
static void
add(struct fix *f, const char *id, int used)
{
	struct store_client c;

	memset(&c, 0, sizeof(c));
	c.client_id = (char *)id;
	c.secret_digest = (char *)"0123456789012345678901234567890123456789012";
	c.name = (char *)"test client";
	c.redirect_uris = (char *)"[]";
	c.grant_types = (char *)"[\"client_credentials\"]";
	c.scope = (char *)"mcp:read";
	c.auth_method = (char *)"client_secret_basic";
	c.created_at = NOW;
	assert_int_equal(f->o.st->ops->client_add(f->o.st, &c), 0);
	if (used)
		assert_int_equal(f->o.st->ops->client_mark_used(f->o.st, id, NOW + 1), 0);
}

static void
del(struct fix *f, const char *id)
{
	assert_int_equal(f->o.st->ops->client_del(f->o.st, id), 0);
}

/* find(f, id): client_find()'s return code; checks the row on success. */
static int
find(struct fix *f, const char *id)
{
	struct store_client c;
	int rc;

	rc = client_find(&f->o, id, &c);
	if (rc == 0) {
		assert_string_equal(c.client_id, id);
		assert_string_equal(c.scope, "mcp:read");
		assert_string_equal(c.grant_types, "[\"client_credentials\"]");
		assert_non_null(c.secret_digest);
		assert_int_equal(c.created_at, NOW);
		assert_int_equal(c.first_token_at != 0, 1);
	}
	store_client_clear(&c);
	return (rc);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A used client's row is served from the cache after it left the store,
 * and stops being served once the time to live has passed. */
static void
test_cached_until_ttl(void **state)
{
	struct fix *f = *state;

	add(f, "used", 1);
	assert_int_equal(find(f, "used"), 0);
	del(f, "used");
	assert_int_equal(find(f, "used"), 0);
	sleep_ms(TTL_MS + 20);
	assert_int_equal(find(f, "used"), STORE_NOTFOUND);
	/* Nor is the miss remembered: it is back as soon as it is stored. */
	add(f, "used", 1);
	assert_int_equal(find(f, "used"), 0);
}

/* A client that never obtained a token is read from the store every time:
 * it may be reaped, and its first token must be recorded. */
static void
test_unused_not_cached(void **state)
{
	struct fix *f = *state;
	struct store_client c;

	add(f, "fresh", 0);
	assert_int_equal(client_find(&f->o, "fresh", &c), 0);
	assert_int_equal(c.first_token_at, 0);
	store_client_clear(&c);
	del(f, "fresh");
	assert_int_equal(client_find(&f->o, "fresh", &c), STORE_NOTFOUND);
	store_client_clear(&c);
}

/* A failed lookup is not cached. */
static void
test_miss_not_cached(void **state)
{
	struct fix *f = *state;

	assert_int_equal(find(f, "late"), STORE_NOTFOUND);
	add(f, "late", 1);
	assert_int_equal(find(f, "late"), 0);
}

/* Copies handed out are the caller's: clearing or changing one leaves the
 * cached row alone. */
static void
test_copies_independent(void **state)
{
	struct fix *f = *state;
	struct store_client c;

	add(f, "c1", 1);
	assert_int_equal(client_find(&f->o, "c1", &c), 0);
	c.scope[0] = 'X';
	store_client_clear(&c);
	assert_int_equal(client_find(&f->o, "c1", &c), 0);
	c.scope[0] = 'Y';
	store_client_clear(&c);
	del(f, "c1");
	assert_int_equal(find(f, "c1"), 0);
}

/* Clients whose ids share a slot evict each other and stay correct; the
 * cache never holds more than its slots. */
static void
test_many_clients(void **state)
{
	struct fix *f = *state;
	char id[32];
	int i;

	for (i = 0; i < 3 * CLIENT_CACHE_SLOTS; i++) {
		snprintf(id, sizeof(id), "client-%d", i);
		add(f, id, 1);
	}
	for (i = 0; i < 3 * CLIENT_CACHE_SLOTS; i++) {
		snprintf(id, sizeof(id), "client-%d", i);
		assert_int_equal(find(f, id), 0);
	}
	for (i = 0; i < 3 * CLIENT_CACHE_SLOTS; i++) {
		snprintf(id, sizeof(id), "client-%d", i);
		assert_int_equal(find(f, id), 0);
	}
}

/* With a time to live of 0 nothing is cached. */
static void
test_no_cache(void **state)
{
	struct fix *f = *state;

	add(f, "used", 1);
	assert_int_equal(find(f, "used"), 0);
	del(f, "used");
	assert_int_equal(find(f, "used"), STORE_NOTFOUND);
}

#define NTHREADS 4
#define NROUNDS 500

static void *
finder(void *arg)
{
	struct fix *f = arg;
	char id[32];
	int i;

	for (i = 0; i < NROUNDS; i++) {
		snprintf(id, sizeof(id), "t-%d", i % 8);
		if (find(f, id) != 0)
			return ((void *)1);
	}
	return (NULL);
}

/* Threads share the cache. */
static void
test_threads(void **state)
{
	struct fix *f = *state;
	pthread_t t[NTHREADS];
	char id[32];
	void *rv;
	int i;

	for (i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "t-%d", i);
		add(f, id, 1);
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, finder, f), 0);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_null(rv);
	}
}

/* client_metadata_displayable(): the members shown to people, their
 * language-tagged forms and contacts are checked; other members are not. */
static void
test_displayable(void **state)
{
	static const struct {
		const char *json;
		int ok;
	} cases[] = {
	    {"{\"client_name\":\"My Client\",\"redirect_uris\":[\"http://127.0.0.1/cb\"]}", 1},
	    {"{\"client_name\":\"Caf\\u00e9 \\ud83d\\ude80\"}", 1},
	    {"{\"client_name\":\"Safe\\u202egnp.exe\"}", 0},
	    {"{\"client_name\":\"a\\u2066b\"}", 0},
	    {"{\"client_name\":\"a\\u200fb\"}", 0},
	    {"{\"client_name\":\"a\\u0000b\"}", 0},
	    {"{\"client_name\":\"a\\u009bb\"}", 0},
	    {"{\"client_name#fr\":\"a\\u202bb\"}", 0},
	    {"{\"client_uri\":\"https://x.example/\\u202d\"}", 0},
	    {"{\"logo_uri\":\"https://x.example/\\n\"}", 0},
	    {"{\"tos_uri\":\"https://x.example/\\u200b\"}", 0},
	    {"{\"policy_uri\":\"https://x.example/\\ufeff\"}", 0},
	    {"{\"software_id\":\"\\u2069\"}", 0},
	    {"{\"software_version\":\"1\\u00ad0\"}", 0},
	    {"{\"contacts\":[\"a@example.com\",\"b@example.com\\u202e\"]}", 0},
	    {"{\"contacts\":[\"a@example.com\"]}", 1},
	    /* Not shown to people: left to the callers' checks. */
	    {"{\"state_note\":\"\\u202e\"}", 1},
	    {"{\"client_name_x\":\"\\u202e\"}", 1},
	    {"{\"client_name\":5}", 1},
	};
	json_t *j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_non_null(j = json_loads(cases[i].json, JSON_ALLOW_NUL, NULL));
		if ((client_metadata_displayable(j) == NULL) != cases[i].ok)
			fail_msg("%s: want %s", cases[i].json, cases[i].ok ? "accepted" : "refused");
		json_decref(j);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cached_until_ttl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unused_not_cached, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_miss_not_cached, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copies_independent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_cache, setup_nocache, teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	    cmocka_unit_test(test_displayable),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
