/*
 * Tests of src/store/store_pg.c through store.h, against a real PostgreSQL
 * server: the one tests/support/pg_cluster.sh starts for the ctest fixture
 * "pg" (its URL is in the file named by $MCPGATE_TEST_PG_STATE), or the
 * server named by $MCPGATE_TEST_PG_URL.  Each test starts from an empty
 * database: the public schema is dropped and made again.
 *
 * First the cases every backend passes (store_cases.h), then PostgreSQL's
 * own: two nodes on one database racing compare-and-swaps, nodes creating
 * the schema at the same time, a newer schema, lost connections, a server
 * that does not answer, and logs that never show the password.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/secret.h"
#include "store/store.h"

#define URL_MAX 1024

struct fix {
	char url[URL_MAX];
	struct store *s;
};

#include "store_cases.h"

/* The server's URL, read once. */
static char pg_url[URL_MAX];

/* Read the URL of the test server into pg_url.  0, or -1 if there is none
 * configured (the tests are then skipped), or -2 if it cannot be read. */
static int
read_url(void)
{
	const char *u = getenv("MCPGATE_TEST_PG_URL"), *state = getenv("MCPGATE_TEST_PG_STATE");
	FILE *fp;
	size_t n;

	if (u != NULL && *u != '\0') {
		snprintf(pg_url, sizeof(pg_url), "%s", u);
		return (0);
	}
	if (state == NULL || *state == '\0')
		return (-1);
	if ((fp = fopen(state, "r")) == NULL) {
		fprintf(stderr, "store_pg: cannot read %s (is the pg fixture running?)\n", state);
		return (-2);
	}
	if (fgets(pg_url, sizeof(pg_url), fp) == NULL)
		pg_url[0] = '\0';
	fclose(fp);
	n = strlen(pg_url);
	while (n > 0 && (pg_url[n - 1] == '\n' || pg_url[n - 1] == '\r'))
		pg_url[--n] = '\0';
	return (n > 0 ? 0 : -2);
}

/* Run ${sql} on a connection of its own; 0 or -1. */
static int
side_exec(const char *sql)
{
	PGconn *pg;
	PGresult *res;
	int rc = -1;

	pg = PQconnectdb(pg_url);
	if (PQstatus(pg) == CONNECTION_OK) {
		res = PQexec(pg, sql);
		if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
			rc = 0;
		else
			fprintf(stderr, "store_pg: %s: %s", sql, PQerrorMessage(pg));
		PQclear(res);
	} else {
		fprintf(stderr, "store_pg: cannot connect: %s", PQerrorMessage(pg));
	}
	PQfinish(pg);
	return (rc);
}

/* An empty database: the schema dropped, with everything in it. */
static int
empty_db(void)
{
	return (side_exec(
	    "SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"));
}

/* A fresh database and no store yet. */
static int
setup_empty(void **state)
{
	struct fix *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (-1);
	snprintf(f->url, sizeof(f->url), "%s", pg_url);
	if (empty_db()) {
		free(f);
		return (-1);
	}
	*state = f;
	return (0);
}

/* A fresh database and a store on it. */
static int
setup(void **state)
{
	struct fix *f;

	if (setup_empty(state))
		return (-1);
	f = *state;
	if ((f->s = store_open(f->url)) == NULL) {
		free(f);
		return (-1);
	}
	return (0);
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	store_free(f->s);
	free(f);
	return (0);
}

/* The backend, its name, and the postgres:// alias. */
static void
test_pg_urls(void **state)
{
	struct fix *f = *state;
	struct store_user u = {"sub-a", "alice", "h", NOW}, out;
	struct store *b;
	char url[URL_MAX + 16];

	assert_string_equal(f->s->ops->name, "postgresql");
	assert_int_equal(f->s->ops->user_add(f->s, &u), 0);
	assert_int_equal(strncmp(f->url, "postgresql://", 13), 0);
	snprintf(url, sizeof(url), "postgres://%s", f->url + 13);
	assert_non_null(b = store_open(url));
	assert_string_equal(b->ops->name, "postgresql");
	assert_int_equal(b->ops->user_get(b, "alice", &out), 0);
	assert_string_equal(out.sub, "sub-a");
	store_user_clear(&out);
	store_free(b);
}

/*
 * Two nodes on one database: each sees the other's writes at once, and a
 * compare-and-swap raced by threads of both nodes succeeds exactly once.
 */
struct node_racer {
	struct store *s;
	pthread_barrier_t *bar;
	const char *key;
	char next[48];
	int rc, replayed;
	int op; /* 0: code_consume; 1: refresh_rotate; 2: authreq_take */
};

static void *
node_race(void *arg)
{
	struct node_racer *r = arg;
	struct store_refresh n = mkrefresh(r->next, "famnodes");
	struct store_code co;
	struct store_authreq ar;

	pthread_barrier_wait(r->bar);
	switch (r->op) {
	case 0:
		r->rc = r->s->ops->code_consume(r->s, r->key, NOW, "web", "chal", "https://app/cb",
		    &co, &r->replayed);
		if (r->rc == 0)
			store_code_clear(&co);
		break;
	case 1:
		r->rc = r->s->ops->refresh_rotate(r->s, r->key, NOW, &n);
		break;
	default:
		r->rc = r->s->ops->authreq_take(r->s, r->key, NOW, &ar);
		if (r->rc == 0)
			store_authreq_clear(&ar);
	}
	return (NULL);
}

static void
test_pg_two_nodes(void **state)
{
	struct fix *f = *state;
	struct store *a = f->s, *b;
	struct store_code c = {.client_id = "web", .sub = "sub-a", .redirect_uri = "https://app/cb",
	    .code_challenge = "chal", .auth_time = NOW, .expires_at = NOW + 60};
	struct store_refresh r, out;
	struct store_authreq ar;
	struct node_racer rc[NTHREADS];
	pthread_t t[NTHREADS];
	pthread_barrier_t bar;
	char key[48];
	int round, op, i, wins, exist;

	assert_non_null(b = store_open(f->url));

	/* Writes of one node are read by the other. */
	assert_int_equal(a->ops->jti_deny(a, "j-a", NOW + 100, NOW), 0);
	assert_int_equal(b->ops->jti_denied(b, "j-a"), 1);
	r = mkrefresh("r-a", "fam-a");
	assert_int_equal(b->ops->refresh_add(b, &r), 0);
	assert_int_equal(a->ops->family_revoke(a, "fam-a", NOW), 0);
	assert_int_equal(b->ops->refresh_get(b, "r-a", &out), 0);
	assert_int_equal(out.revoked, 1);
	store_refresh_clear(&out);
	assert_int_equal(a->ops->refresh_add(a, &r), STORE_CONFLICT);

	/* Races between the nodes, half of the threads on each. */
	for (op = 0; op < 3; op++) {
		for (round = 0; round < 30; round++) {
			snprintf(key, sizeof(key), "k-%d-%d", op, round);
			if (op == 0) {
				c.digest = key;
				assert_int_equal(a->ops->code_add(a, &c), 0);
			} else if (op == 1) {
				r = mkrefresh(key, "famnodes");
				assert_int_equal(b->ops->refresh_add(b, &r), 0);
			} else {
				ar = mkauthreq(key, NOW + 100);
				assert_int_equal(a->ops->authreq_add(a, &ar), 0);
			}
			assert_int_equal(pthread_barrier_init(&bar, NULL, NTHREADS), 0);
			for (i = 0; i < NTHREADS; i++) {
				rc[i] = (struct node_racer){.s = i % 2 ? b : a, .bar = &bar,
				    .key = key, .rc = -2, .replayed = -2, .op = op};
				snprintf(rc[i].next, sizeof(rc[i].next), "n-%d-%d-%d", op, round, i);
				assert_int_equal(pthread_create(&t[i], NULL, node_race, &rc[i]), 0);
			}
			wins = exist = 0;
			for (i = 0; i < NTHREADS; i++) {
				pthread_join(t[i], NULL);
				if (rc[i].rc == 0)
					wins++;
				else
					assert_int_equal(rc[i].rc, STORE_NOTFOUND);
				if (op == 0)
					assert_int_equal(rc[i].replayed, rc[i].rc == 0 ? 0 : 1);
			}
			pthread_barrier_destroy(&bar);
			assert_int_equal(wins, 1);
			if (op != 1)
				continue;
			/* Only the winner's successor exists. */
			for (i = 0; i < NTHREADS; i++) {
				if (a->ops->refresh_get(a, rc[i].next, &out) == 0) {
					assert_int_equal(rc[i].rc, 0);
					exist++;
					store_refresh_clear(&out);
				}
			}
			assert_int_equal(exist, 1);
		}
	}

	/* A rotated refresh token is refused at the other node too. */
	r = mkrefresh("rot-0", "famrot");
	assert_int_equal(a->ops->refresh_add(a, &r), 0);
	r = mkrefresh("rot-1", "famrot");
	assert_int_equal(a->ops->refresh_rotate(a, "rot-0", NOW, &r), 0);
	r = mkrefresh("rot-2", "famrot");
	assert_int_equal(b->ops->refresh_rotate(b, "rot-0", NOW, &r), STORE_NOTFOUND);
	assert_int_equal(b->ops->refresh_rotate(b, "rot-1", NOW, &r), 0);
	store_free(b);
}

/* Replays of a code race its first exchange from another node: whatever
 * the interleaving, the first exchange's tokens end up revoked. */
struct exchange {
	struct store *s;
	pthread_barrier_t *bar;
	char code[48], fam[48], rt[48], jti[48];
	int rc;
};

static void *
first_exchange(void *arg)
{
	struct exchange *x = arg;
	struct store_refresh r = mkrefresh(x->rt, x->fam);
	struct store_access ac = {x->jti, x->fam, NOW + 600, x->code, "web", "sub-a"};

	r.code_digest = x->code;
	pthread_barrier_wait(x->bar);
	x->rc = x->s->ops->access_add(x->s, &ac);
	if (x->rc == 0)
		x->rc = x->s->ops->refresh_add(x->s, &r);
	return (NULL);
}

static void *
replay(void *arg)
{
	struct exchange *x = arg;

	pthread_barrier_wait(x->bar);
	x->rc = x->s->ops->family_revoke_by_code(x->s, x->code, NOW);
	return (NULL);
}

static void
test_pg_replay_race(void **state)
{
	struct fix *f = *state;
	struct store *a = f->s, *b;
	struct exchange xa, xb;
	struct store_refresh out;
	pthread_barrier_t bar;
	pthread_t ta, tb;
	int round;

	assert_non_null(b = store_open(f->url));
	for (round = 0; round < 40; round++) {
		assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
		memset(&xa, 0, sizeof(xa));
		xa.s = a;
		xa.bar = &bar;
		snprintf(xa.code, sizeof(xa.code), "code-%d", round);
		snprintf(xa.fam, sizeof(xa.fam), "fam-%d", round);
		snprintf(xa.rt, sizeof(xa.rt), "rt-%d", round);
		snprintf(xa.jti, sizeof(xa.jti), "jti-%d", round);
		xb = xa;
		xb.s = b;
		assert_int_equal(pthread_create(&ta, NULL, first_exchange, &xa), 0);
		assert_int_equal(pthread_create(&tb, NULL, replay, &xb), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		pthread_barrier_destroy(&bar);
		assert_int_equal(xa.rc, 0);
		assert_true(xb.rc == 0 || xb.rc == STORE_NOTFOUND);
		assert_int_equal(a->ops->refresh_get(a, xa.rt, &out), 0);
		assert_int_equal(out.revoked, 1);
		store_refresh_clear(&out);
		assert_int_equal(a->ops->jti_denied(a, xa.jti), 1);
	}
	store_free(b);
}

/* A rotation at one node races a revocation of its family at the other:
 * neither deadlocks, and the successor, if made, ends up revoked. */
struct rotrev {
	struct store *s;
	pthread_barrier_t *bar;
	char old[48], next[48], fam[48];
	int rc;
};

static void *
rotate_one(void *arg)
{
	struct rotrev *x = arg;
	struct store_refresh n = mkrefresh(x->next, x->fam);

	pthread_barrier_wait(x->bar);
	x->rc = x->s->ops->refresh_rotate(x->s, x->old, NOW, &n);
	return (NULL);
}

static void *
revoke_one(void *arg)
{
	struct rotrev *x = arg;

	pthread_barrier_wait(x->bar);
	x->rc = x->s->ops->family_revoke(x->s, x->fam, NOW);
	return (NULL);
}

static void
test_pg_rotate_revoke_race(void **state)
{
	struct fix *f = *state;
	struct store *a = f->s, *b;
	struct store_refresh r, out;
	struct rotrev xa, xb;
	pthread_barrier_t bar;
	pthread_t ta, tb;
	int round;

	assert_non_null(b = store_open(f->url));
	for (round = 0; round < 40; round++) {
		memset(&xa, 0, sizeof(xa));
		xa.s = a;
		xa.bar = &bar;
		snprintf(xa.old, sizeof(xa.old), "old-%d", round);
		snprintf(xa.next, sizeof(xa.next), "next-%d", round);
		snprintf(xa.fam, sizeof(xa.fam), "fam-%d", round);
		xb = xa;
		xb.s = b;
		r = mkrefresh(xa.old, xa.fam);
		assert_int_equal(a->ops->refresh_add(a, &r), 0);
		assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
		assert_int_equal(pthread_create(&ta, NULL, rotate_one, &xa), 0);
		assert_int_equal(pthread_create(&tb, NULL, revoke_one, &xb), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		pthread_barrier_destroy(&bar);
		assert_true(xa.rc == 0 || xa.rc == STORE_NOTFOUND);
		assert_int_equal(xb.rc, 0);
		assert_int_equal(b->ops->refresh_get(b, xa.old, &out), 0);
		assert_int_equal(out.revoked, 1);
		store_refresh_clear(&out);
		if (xa.rc == 0) {
			assert_int_equal(b->ops->refresh_get(b, xa.next, &out), 0);
			assert_int_equal(out.revoked, 1);
			store_refresh_clear(&out);
		}
	}
	store_free(b);
}

/*
 * A transaction the server rolls back for a deadlock is run again.  Another
 * session holds a refresh token; consent_revoke locks the token's family and
 * waits for the token; the other session then asks for the family.  Its
 * deadlock_timeout is the longer, so the server ends the store's
 * transaction, which must then be run again and succeed.
 */
struct revoker {
	struct store *s;
	int rc;
};

static void *
consent_revoker(void *arg)
{
	struct revoker *r = arg;

	r->rc = r->s->ops->consent_revoke(r->s, "sub-a", "web", NOW);
	return (NULL);
}

/* The number of the store's sessions waiting for a lock, asked on ${pg}. */
static int
lock_waiters(PGconn *pg)
{
	PGresult *res;
	int n = -1;

	res = PQexec(pg, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
			 "'mcpgate' AND wait_event_type = 'Lock'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (n);
}

static void
test_pg_deadlock_retried(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_refresh r = mkrefresh("rd", "fam-d"), out;
	struct revoker rv = {s, -2};
	PGconn *side, *watch;
	PGresult *res;
	pthread_t t;
	int i;

	assert_int_equal(s->ops->refresh_add(s, &r), 0);
	side = PQconnectdb(f->url);
	watch = PQconnectdb(f->url);
	assert_int_equal(PQstatus(side), CONNECTION_OK);
	assert_int_equal(PQstatus(watch), CONNECTION_OK);
	res = PQexec(side, "SET deadlock_timeout = '20s'; BEGIN; "
			   "SELECT 1 FROM refresh_tokens WHERE digest = 'rd' FOR UPDATE");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);

	assert_int_equal(pthread_create(&t, NULL, consent_revoker, &rv), 0);
	/* Until the store waits for the token (with the family locked). */
	for (i = 0; i < 500 && lock_waiters(watch) < 1; i++)
		usleep(2000);
	assert_true(i < 500);
	assert_int_equal(PQsendQuery(side, "SELECT 1 FROM families WHERE family_id = 'fam-d' "
					   "FOR UPDATE"),
	    1);
	/* Answered once the server has ended the store's transaction. */
	while ((res = PQgetResult(side)) != NULL) {
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		PQclear(res);
	}
	res = PQexec(side, "COMMIT");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	pthread_join(t, NULL);
	PQfinish(side);
	PQfinish(watch);

	assert_int_equal(rv.rc, 0);
	assert_int_equal(s->ops->refresh_get(s, "rd", &out), 0);
	assert_int_equal(out.revoked, 1);
	store_refresh_clear(&out);
}

/* Several nodes start on an empty database at once: one creates the
 * schema, the others wait for it and use it. */
struct opener {
	const char *url;
	pthread_barrier_t *bar;
	struct store *s;
};

static void *
open_racer(void *arg)
{
	struct opener *o = arg;

	pthread_barrier_wait(o->bar);
	o->s = store_open(o->url);
	return (NULL);
}

static void
test_pg_migrate_race(void **state)
{
	struct fix *f = *state;
	struct opener o[4];
	pthread_t t[4];
	pthread_barrier_t bar;
	struct store_user u = {"sub-a", "alice", "h", NOW}, out;
	int i;

	assert_int_equal(pthread_barrier_init(&bar, NULL, 4), 0);
	for (i = 0; i < 4; i++) {
		o[i] = (struct opener){f->url, &bar, NULL};
		assert_int_equal(pthread_create(&t[i], NULL, open_racer, &o[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	for (i = 0; i < 4; i++)
		assert_non_null(o[i].s);
	assert_int_equal(o[0].s->ops->user_add(o[0].s, &u), 0);
	assert_int_equal(o[3].s->ops->user_get(o[3].s, "alice", &out), 0);
	store_user_clear(&out);
	for (i = 0; i < 4; i++)
		store_free(o[i].s);
	/* One row, the current version. */
	assert_int_equal(side_exec("DO $$ BEGIN IF (SELECT count(*) FROM schema_version "
				   "WHERE one = 1 AND version = 1) <> 1 OR (SELECT count(*) FROM "
				   "schema_version) <> 1 THEN RAISE 'bad schema_version'; END IF; "
				   "END $$"),
	    0);
}

/* A database from a newer version of the program is refused; so is one
 * whose schema_version is not ours to read. */
static void
test_pg_newer_schema(void **state)
{
	struct fix *f = *state;

	f->s = store_open(f->url);
	assert_non_null(f->s);
	store_free(f->s);
	f->s = NULL;
	assert_int_equal(side_exec("UPDATE schema_version SET version = 99"), 0);
	assert_null(store_open(f->url));
	assert_int_equal(side_exec("UPDATE schema_version SET version = 1"), 0);
	assert_non_null(f->s = store_open(f->url));
}

/* The server ends every session of the store: each connection fails one
 * call at most, is reset, and the store goes on working. */
static void
test_pg_reconnect(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_client c = {.client_id = "web", .auth_method = "none", .created_at = NOW};
	struct store_client out;
	int i, ok, failed;

	assert_int_equal(s->ops->client_add(s, &c), 0);
	assert_int_equal(s->ops->client_get(s, "web", &out), 0);
	store_client_clear(&out);
	assert_int_equal(side_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				   "WHERE datname = current_database() AND pid <> pg_backend_pid() "
				   "AND application_name = 'mcpgate'"),
	    0);
	ok = failed = 0;
	for (i = 0; i < 20; i++) {
		if (s->ops->client_get(s, "web", &out) == 0) {
			ok++;
			store_client_clear(&out);
		} else {
			failed++;
		}
	}
	/* One pooled connection was open, so at most one call failed. */
	assert_true(failed <= 1);
	assert_int_equal(ok + failed, 20);
	assert_int_equal(s->ops->jti_deny(s, "after", NOW + 10, NOW), 0);
	assert_int_equal(s->ops->jti_denied(s, "after"), 1);
}

/* More threads than the pool holds: the store opens at most 8 sessions
 * (POOL_MAX), and every call is served. */
struct poolreader {
	struct store *s;
	int bad;
};

static void *
pool_loop(void *arg)
{
	struct poolreader *r = arg;
	int i;

	for (i = 0; i < 100; i++) {
		if (r->s->ops->jti_denied(r->s, "j") != 1)
			r->bad++;
	}
	return (NULL);
}

/* The number of sessions of the store. */
static int
sessions(PGconn *pg)
{
	PGresult *res;
	int n = -1;

	res = PQexec(pg, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mcpgate'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (n);
}

static void
test_pg_pool_bounded(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct poolreader r[3 * NTHREADS];
	pthread_t t[3 * NTHREADS];
	PGconn *watch;
	int i, n;

	assert_int_equal(s->ops->jti_deny(s, "j", NOW + 100, NOW), 0);
	watch = PQconnectdb(f->url);
	assert_int_equal(PQstatus(watch), CONNECTION_OK);
	for (i = 0; i < 3 * NTHREADS; i++) {
		r[i] = (struct poolreader){s, 0};
		assert_int_equal(pthread_create(&t[i], NULL, pool_loop, &r[i]), 0);
	}
	for (i = 0; i < 3 * NTHREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].bad, 0);
	}
	n = sessions(watch);
	PQfinish(watch);
	assert_true(n >= 2 && n <= 8);
}

/* A table held by another session: the call ends at statement_timeout
 * with -1 instead of waiting for ever. */
static void
test_pg_statement_timeout(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_client out;
	struct timespec t0, t1;
	PGconn *pg;
	PGresult *res;
	double secs;

	pg = PQconnectdb(f->url);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexec(pg, "BEGIN; LOCK TABLE clients IN ACCESS EXCLUSIVE MODE");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(s->ops->client_get(s, "web", &out), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs >= 4.0 && secs < 15.0);
	res = PQexec(pg, "ROLLBACK");
	PQclear(res);
	PQfinish(pg);
	/* The connection is usable again. */
	assert_int_equal(s->ops->client_get(s, "web", &out), STORE_NOTFOUND);
}

/* Read the file ${path} into ${buf} of ${len} bytes, NUL-terminated. */
static void
slurp(const char *path, char *buf, size_t len)
{
	FILE *fp;
	size_t n;

	assert_non_null(fp = fopen(path, "r"));
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

/*
 * The log names the database and its host, never the URL or its password,
 * and never a parameter's value.  stderr goes to a file for the test.
 */
static void
test_pg_logs(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_user u = {"sub-a", NULL, "h", NOW};
	char path[600], log[8192], bad[URL_MAX + 64], secretname[STORE_ID_MAX + 2];
	const char *base = getenv("MCPGATE_TEST_TMP"), *at, *colon;
	int fd, saved;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	snprintf(path, sizeof(path), "%s/store_pg_log_XXXXXX", base);
	assert_true((fd = mkstemp(path)) >= 0);
	fflush(stderr);
	assert_true((saved = dup(2)) >= 0);
	assert_int_equal(dup2(fd, 2), 2);

	/* A wrong password: the server refuses, the log does not show it. */
	colon = strchr(f->url + 13, ':');
	at = strchr(f->url + 13, '@');
	assert_non_null(colon);
	assert_non_null(at);
	snprintf(bad, sizeof(bad), "%.*s:WrongPassw0rdXyz%s", (int)(colon - f->url), f->url, at);
	assert_null(store_open(bad));
	/* A malformed URL with a password in it. */
	assert_null(store_open("postgresql://u:Sekrit0Passw0rd@host/db?nosuchoption=Sekrit0Value"));
	/* An overlong value is named, not shown. */
	memset(secretname, 'Q', sizeof(secretname) - 1);
	secretname[sizeof(secretname) - 1] = '\0';
	u.username = secretname;
	assert_int_equal(s->ops->user_add(s, &u), -1);
	/* A constraint error's DETAIL would quote the key. */
	u.username = "Dup1icateUserName";
	assert_int_equal(s->ops->user_add(s, &u), 0);
	u.sub = "sub-b";
	assert_int_equal(s->ops->user_add(s, &u), STORE_CONFLICT);
	/* A NOT NULL violation logs an error without the row. */
	u.sub = NULL;
	u.username = "NotNu11Name";
	assert_int_equal(s->ops->user_add(s, &u), -1);

	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(fd);
	slurp(path, log, sizeof(log));
	unlink(path);

	assert_non_null(strstr(log, "database mcpgate on /"));
	assert_non_null(strstr(log, "malformed PostgreSQL URL"));
	assert_non_null(strstr(log, "USER_ADD: username longer than 256 bytes"));
	assert_null(strstr(log, "WrongPassw0rdXyz"));
	assert_null(strstr(log, "Sekrit0"));
	assert_null(strstr(log, "QQQQ"));
	assert_null(strstr(log, "Dup1icateUserName"));
	assert_null(strstr(log, "NotNu11Name"));
	assert_null(strstr(log, "postgresql://"));
	/* The real password is not in it either. */
	colon = strchr(f->url + 13, ':');
	snprintf(bad, sizeof(bad), "%.*s", (int)(at - colon - 1), colon + 1);
	assert_null(strstr(log, bad));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    STORE_CASES(T),
	    T(test_pg_urls),
	    T(test_pg_two_nodes),
	    T(test_pg_replay_race),
	    T(test_pg_rotate_revoke_race),
	    T(test_pg_deadlock_retried),
	    cmocka_unit_test_setup_teardown(test_pg_migrate_race, setup_empty, teardown),
	    cmocka_unit_test_setup_teardown(test_pg_newer_schema, setup_empty, teardown),
	    T(test_pg_reconnect),
	    T(test_pg_pool_bounded),
	    T(test_pg_statement_timeout),
	    T(test_pg_logs),
	};
	int rc;

	if ((rc = read_url()) == -1) {
		printf("1..0 # SKIP no PostgreSQL server: set MCPGATE_TEST_PG_URL or run "
		       "under ctest\n");
		return (0);
	}
	if (rc != 0)
		return (1);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
