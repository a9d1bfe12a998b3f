/*
 * store_sqlite: the SQLite backend of store.h.
 *
 * Connections: a pool of at most POOL_MAX connections, opened lazily, each
 * used by one thread at a time (taken from and given back to the pool under
 * one mutex), each with its own cache of prepared statements.  See
 * docs/internals/store.md for why a pool rather than one connection per
 * thread.
 *
 * Every operation that must be atomic is one SQL statement, or several inside
 * BEGIN IMMEDIATE ... COMMIT, which takes SQLite's write lock first so that
 * two writers are serialized by the busy handler instead of failing on a
 * stale snapshot.  The schema and the statements are shared with store_pg.c
 * (store_sql.h); only the PRAGMAs and BEGIN IMMEDIATE are SQLite's own.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "store/store_sql.h"

/* Connections per store: libmicrohttpd runs 2 to 8 worker threads. */
#define POOL_MAX 8
/* Longest wait for a free connection, and SQLite's busy timeout. */
#define WAIT_MS 5000
/* Longest database path. */
#define PATH_MAX_LEN 4000

/* The schema version this code writes (PRAGMA user_version). */
#define SCHEMA_VERSION STORE_SQL_VERSION

/* Statements: SQLite's transaction control, then the shared ones. */
#define QUERIES(X)                                                                                 \
	X(BEGIN, "BEGIN IMMEDIATE")                                                                \
	X(COMMIT, "COMMIT")                                                                        \
	X(ROLLBACK, "ROLLBACK")                                                                    \
	STORE_SQL_QUERIES(X)

#define AS_ENUM(name, sql) Q_##name,
#define AS_SQL(name, sql) sql,
#define AS_NAME(name, sql) #name,
enum query { QUERIES(AS_ENUM) NQUERIES };
static const char *const query_sql[NQUERIES] = {QUERIES(AS_SQL)};
static const char *const query_name[NQUERIES] = {QUERIES(AS_NAME)};

/* How families are named in family_revoke, _by_code, consent_revoke and
 * user_del. */
enum famsel { SEL_BY_ID, SEL_BY_CODE, SEL_BY_GRANT, SEL_BY_SUB };

/* One connection and its cached statements; in the idle list when free. */
struct conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[NQUERIES];
	struct conn *next;
};

struct state {
	char *path;
	pthread_mutex_t mtx;
	pthread_cond_t cv; /* signalled when a connection is returned */
	struct conn *all[POOL_MAX];
	size_t nall;
	struct conn *idle;
};

/* A statement parameter. */
struct arg {
	char type; /* 'i': identifier string; 't': text; 'I': integer */
	const char *s;
	int64_t i;
};
#define A_ID(x) {.type = 'i', .s = (x)}
#define A_TXT(x) {.type = 't', .s = (x)}
#define A_INT(x) {.type = 'I', .i = (int64_t)(x)}
#define ARGS(...)                                                                                  \
	(const struct arg[]){__VA_ARGS__},                                                         \
	    sizeof((const struct arg[]){__VA_ARGS__}) / sizeof(struct arg)
#define NOARGS NULL, 0

/* A row reader: copy the current row of ${st} into ${out}; 0 or -1. */
typedef int rowfn(sqlite3_stmt *st, void *out);

static int revoke_families(struct conn *c, enum famsel sel, int64_t now, const struct arg *a,
    size_t na, int64_t *nfam);

/* Log the failure of ${what} on ${db}.  SQLite's messages name tables and
 * columns but never bound values. */
static void
dberr(sqlite3 *db, const char *what)
{
	log_err("store: %s: %s (%d)", what, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
}

/* Statement ${q} of ${c}, prepared on first use and kept. */
static sqlite3_stmt *
prep(struct conn *c, enum query q)
{
	if (c->stmt[q] == NULL &&
	    sqlite3_prepare_v3(c->db, query_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[q],
		NULL) != SQLITE_OK) {
		dberr(c->db, query_name[q]);
		c->stmt[q] = NULL;
	}
	return (c->stmt[q]);
}

/* Make ${st} ready for its next use, and forget the values bound to it. */
static void
done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Bind ${na} arguments ${a} to statement ${q}.  Strings over their limit
 * are refused with a warning naming the parameter, never its value. */
static int
bind(sqlite3_stmt *st, enum query q, const struct arg *a, size_t na)
{
	const char *pname;
	size_t i, len, max;
	int rc;

	if ((size_t)sqlite3_bind_parameter_count(st) != na) {
		log_err("store: %s: %zu arguments for %d parameters", query_name[q], na,
		    sqlite3_bind_parameter_count(st));
		return (-1);
	}
	for (i = 0; i < na; i++) {
		if (a[i].type == 'I') {
			rc = sqlite3_bind_int64(st, (int)i + 1, a[i].i);
		} else if (a[i].s == NULL) {
			rc = sqlite3_bind_null(st, (int)i + 1);
		} else {
			max = a[i].type == 'i' ? STORE_ID_MAX : STORE_TEXT_MAX;
			if ((len = strnlen(a[i].s, max + 1)) > max) {
				pname = sqlite3_bind_parameter_name(st, (int)i + 1);
				log_warn("store: %s: %s longer than %zu bytes", query_name[q],
				    pname != NULL ? pname + 1 : "argument", max);
				return (-1);
			}
			rc = sqlite3_bind_text(st, (int)i + 1, a[i].s, (int)len, SQLITE_STATIC);
		}
		if (rc != SQLITE_OK) {
			dberr(sqlite3_db_handle(st), query_name[q]);
			return (-1);
		}
	}
	return (0);
}

/* Map the failed step of ${q} to STORE_CONFLICT (a unique key already
 * exists) or -1 (logged). */
static int
steperr(struct conn *c, enum query q, int rc)
{
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
		return (STORE_CONFLICT);
	dberr(c->db, query_name[q]);
	return (-1);
}

/*
 * Run ${q} on ${c} with arguments ${a}, ${na}, expecting no row back.
 * Stores the number of rows changed in ${changes} if not NULL.  Returns 0,
 * STORE_CONFLICT or -1.
 */
static int
c_exec(struct conn *c, enum query q, const struct arg *a, size_t na, int *changes)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = prep(c, q)) == NULL)
		return (-1);
	if (bind(st, q, a, na)) {
		done(st);
		return (-1);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		if (changes != NULL)
			*changes = sqlite3_changes(c->db);
		rc = 0;
	} else if (rc == SQLITE_ROW) {
		log_err("store: %s: unexpected row", query_name[q]);
		rc = -1;
	} else {
		rc = steperr(c, q, sqlite3_extended_errcode(c->db));
	}
	done(st);
	return (rc);
}

/*
 * Run ${q} on ${c} and copy its first row into ${out} with ${row}; the
 * statement is run to completion (so that a RETURNING statement commits
 * before this returns).  Returns 0, STORE_NOTFOUND if there was no row,
 * STORE_CONFLICT or -1.
 */
static int
c_one(struct conn *c, enum query q, const struct arg *a, size_t na, rowfn *row, void *out)
{
	sqlite3_stmt *st;
	int rc, got = 0;

	if ((st = prep(c, q)) == NULL)
		return (-1);
	if (bind(st, q, a, na)) {
		done(st);
		return (-1);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (got++ == 0 && row(st, out)) {
			log_err("store: %s: out of memory", query_name[q]);
			done(st);
			return (-1);
		}
	}
	if (rc != SQLITE_DONE)
		rc = steperr(c, q, sqlite3_extended_errcode(c->db));
	else
		rc = got ? 0 : STORE_NOTFOUND;
	done(st);
	return (rc);
}

/* Read a count(*) or other single integer. */
static int
row_int(sqlite3_stmt *st, void *out)
{
	*(int64_t *)out = sqlite3_column_int64(st, 0);
	return (0);
}

/* Copy column ${i} of ${st} into ${out}: NULL for SQL NULL.  0 or -1. */
static int
col_str(sqlite3_stmt *st, int i, char **out)
{
	const unsigned char *t;
	int n;

	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return (0);
	t = sqlite3_column_text(st, i);
	n = sqlite3_column_bytes(st, i);
	if (t == NULL || n < 0 || (*out = malloc((size_t)n + 1)) == NULL)
		return (-1);
	memcpy(*out, t, (size_t)n);
	(*out)[n] = '\0';
	return (0);
}

/* Take a free connection of ${s}, opening one if fewer than POOL_MAX are
 * open, else waiting at most WAIT_MS for one.  NULL on failure (logged). */
static struct conn *open_conn(struct state *st, int first);

static struct conn *
acquire(struct store *s)
{
	struct state *st = s->state;
	struct conn *c = NULL;
	struct timespec deadline;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += WAIT_MS / 1000;
	deadline.tv_nsec += (WAIT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}

	pthread_mutex_lock(&st->mtx);
	while (st->idle == NULL && st->nall == POOL_MAX && rc == 0)
		rc = pthread_cond_timedwait(&st->cv, &st->mtx, &deadline);
	if (st->idle != NULL) {
		c = st->idle;
		st->idle = c->next;
		c->next = NULL;
	} else if (st->nall < POOL_MAX) {
		/* Opening holds the lock, but only POOL_MAX times per store. */
		if ((c = open_conn(st, 0)) != NULL)
			st->all[st->nall++] = c;
	} else {
		log_err("store: no free database connection after %d ms", WAIT_MS);
	}
	pthread_mutex_unlock(&st->mtx);
	return (c);
}

/* Give ${c} back to the pool of ${s}. */
static void
release(struct store *s, struct conn *c)
{
	struct state *st = s->state;

	/* A failed statement inside a transaction must not leak the open
	 * transaction to the next user of the connection. */
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&st->mtx);
	c->next = st->idle;
	st->idle = c;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mtx);
}

/* Close ${c} and free it. */
static void
close_conn(struct conn *c)
{
	size_t i;

	for (i = 0; i < NQUERIES; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	free(c);
}

/* Transactions. */
static int
begin(struct conn *c)
{
	return (c_exec(c, Q_BEGIN, NOARGS, NULL) ? -1 : 0);
}

static int
commit(struct conn *c)
{
	return (c_exec(c, Q_COMMIT, NOARGS, NULL) ? -1 : 0);
}

static void
rollback(struct conn *c)
{
	if (!sqlite3_get_autocommit(c->db))
		c_exec(c, Q_ROLLBACK, NOARGS, NULL);
}

/* Run ${q} with ${a}, ${na} on a pooled connection; see c_exec(). */
static int
exec1(struct store *s, enum query q, const struct arg *a, size_t na, int *changes)
{
	struct conn *c;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	rc = c_exec(c, q, a, na, changes);
	release(s, c);
	return (rc);
}

/* Run ${q} with ${a}, ${na} on a pooled connection; see c_one(). */
static int
one(struct store *s, enum query q, const struct arg *a, size_t na, rowfn *row, void *out)
{
	struct conn *c;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	rc = c_one(c, q, a, na, row, out);
	release(s, c);
	return (rc);
}

/*
 * Run ${q} with ${a}, ${na} and call ${each}(${ctx}, row) for each row.  The
 * connection stays taken during the calls; a callback may use the store
 * (on another connection) but must not hold it up for long.
 */
static int
each(struct store *s, enum query q, const struct arg *a, size_t na,
    int (*each_row)(sqlite3_stmt *st, void *ctx), void *ctx)
{
	struct conn *c;
	sqlite3_stmt *st;
	int rc = -1;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((st = prep(c, q)) == NULL)
		goto out;
	if (bind(st, q, a, na))
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (each_row(st, ctx)) {
			log_err("store: %s: out of memory", query_name[q]);
			rc = -1;
			goto done;
		}
	}
	if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		dberr(c->db, query_name[q]);
		rc = -1;
	}
done:
	done(st);
out:
	release(s, c);
	return (rc);
}

/* Set up the connection-level options of ${db}. */
static int
configure(sqlite3 *db, int first)
{
	/* journal_mode is a property of the file: set it once. */
	if (first && sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK)
		return (-1);
	if (sqlite3_exec(db,
		"PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF",
		NULL, NULL, NULL) != SQLITE_OK)
		return (-1);
	return (0);
}

/* Open a connection to the database of ${st}; ${first} for the one that
 * store_open() makes.  NULL on failure (logged). */
static struct conn *
open_conn(struct state *st, int first)
{
	struct conn *c;
	int on = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_err("store: out of memory");
		goto err0;
	}
	/* One thread at a time uses a connection: SQLite's own mutexes on it
	 * would only cost time. */
	if (sqlite3_open_v2(st->path, &c->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE,
		NULL) != SQLITE_OK) {
		if (c->db != NULL)
			dberr(c->db, "open");
		else
			log_err("store: cannot open database: out of memory");
		goto err1;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, WAIT_MS);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, on, NULL);
	if (configure(c->db, first)) {
		dberr(c->db, "configure");
		goto err1;
	}

	/* Success! */
	return (c);

err1:
	sqlite3_close(c->db);
	free(c);
err0:
	/* Failure! */
	return (NULL);
}

/* Bring the schema of ${c} to SCHEMA_VERSION.  0 or -1 (logged). */
static int
migrate(struct conn *c)
{
	sqlite3_stmt *st;
	char sql[64];
	int v = -1;

	/* Hold the write lock while reading the version, so that two processes
	 * opening a new file do not both create the schema. */
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		dberr(c->db, "migrate");
		return (-1);
	}
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		dberr(c->db, "migrate");
		goto err;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v < 0) {
		dberr(c->db, "migrate");
		goto err;
	}
	if (v > SCHEMA_VERSION) {
		log_err("store: database schema version %d is newer than this program's (%d)", v,
		    SCHEMA_VERSION);
		goto err;
	}
	if (v < SCHEMA_VERSION)
		log_info("store: migrating schema from version %d to %d", v, SCHEMA_VERSION);
	for (; v < SCHEMA_VERSION; v++) {
		if (sqlite3_exec(c->db, store_sql_migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			dberr(c->db, "migrate");
			goto err;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", SCHEMA_VERSION);
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		dberr(c->db, "migrate");
		goto err;
	}
	return (0);

err:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
}

/* Create ${path} with mode 0600 if it does not exist.  SQLite creates its
 * -wal and -shm files with the mode of the database file. */
static int
create_file(const char *path)
{
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		if (errno == EEXIST)
			return (0);
		log_warnp("store: cannot create %s", path);
		return (-1);
	}
	/* The umask may only have removed bits; make sure of the mode. */
	if (fchmod(fd, 0600)) {
		log_warnp("store: cannot chmod %s", path);
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

static int
sq_open(struct store *s, const char *path)
{
	struct state *st = s->state;
	pthread_condattr_t ca;
	struct conn *c;

	if (strnlen(path, PATH_MAX_LEN + 1) > PATH_MAX_LEN) {
		log_err("store: database path too long");
		goto err0;
	}
	if (!sqlite3_threadsafe()) {
		log_err("store: SQLite was built without thread support");
		goto err0;
	}
	if ((st->path = strdup(path)) == NULL) {
		log_err("store: out of memory");
		goto err0;
	}
	if (pthread_mutex_init(&st->mtx, NULL))
		goto err1;
	if (pthread_condattr_init(&ca))
		goto err2;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&st->cv, &ca)) {
		pthread_condattr_destroy(&ca);
		goto err2;
	}
	pthread_condattr_destroy(&ca);
	if (create_file(path))
		goto err3;
	if ((c = open_conn(st, 1)) == NULL)
		goto err3;
	if (migrate(c))
		goto err4;
	st->all[0] = c;
	st->nall = 1;
	st->idle = c;

	/* Success! */
	return (0);

err4:
	close_conn(c);
err3:
	pthread_cond_destroy(&st->cv);
err2:
	pthread_mutex_destroy(&st->mtx);
err1:
	free(st->path);
	st->path = NULL;
err0:
	/* Failure! */
	return (-1);
}

/* Close every connection.  No other call may be running or start. */
static void
sq_close(struct store *s)
{
	struct state *st = s->state;
	size_t i;

	for (i = 0; i < st->nall; i++)
		close_conn(st->all[i]);
	st->nall = 0;
	st->idle = NULL;
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mtx);
	free(st->path);
	st->path = NULL;
}

/* Users. */

static int
row_user(sqlite3_stmt *st, void *out)
{
	struct store_user *u = out;

	if (col_str(st, 0, &u->sub) || col_str(st, 1, &u->username) ||
	    col_str(st, 2, &u->password_hash))
		return (-1);
	u->created_at = sqlite3_column_int64(st, 3);
	return (0);
}

static int
user_add(struct store *s, const struct store_user *u)
{
	return (exec1(s, Q_USER_ADD,
	    ARGS(A_ID(u->sub), A_ID(u->username), A_TXT(u->password_hash), A_INT(u->created_at)),
	    NULL));
}

/* Fetch one user with ${q} and key ${key} into ${out}. */
static int
user_fetch(struct store *s, enum query q, const char *key, struct store_user *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one(s, q, ARGS(A_ID(key)), row_user, out)) != 0)
		store_user_clear(out);
	return (rc);
}

static int
user_get(struct store *s, const char *username, struct store_user *out)
{
	return (user_fetch(s, Q_USER_GET, username, out));
}

static int
user_get_by_sub(struct store *s, const char *sub, struct store_user *out)
{
	return (user_fetch(s, Q_USER_GET_SUB, sub, out));
}

/* Run a DELETE or UPDATE ${q} keyed by one identifier; STORE_NOTFOUND if
 * no row changed. */
static int
change_one(struct store *s, enum query q, const char *key)
{
	int rc, n = 0;

	if ((rc = exec1(s, q, ARGS(A_ID(key)), &n)) != 0)
		return (rc);
	return (n > 0 ? 0 : STORE_NOTFOUND);
}

/* A new password ends every browser session of the user in the same
 * transaction: whoever knew the old one must sign in again.  Grants (and
 * their refresh tokens) stay; `admin grants revoke` ends those. */
static int
user_set_password(struct store *s, const char *username, const char *password_hash)
{
	struct store_user u;
	struct conn *c;
	int rc, n = 0;

	memset(&u, 0, sizeof(u));
	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(c)) != 0)
		goto out;
	if ((rc = c_one(c, Q_USER_GET, ARGS(A_ID(username)), row_user, &u)) != 0)
		goto fail;
	if ((rc = c_exec(c, Q_USER_SET_PASSWORD, ARGS(A_TXT(password_hash), A_ID(username)), &n)) != 0 ||
	    (rc = c_exec(c, Q_SESSION_DEL_SUB, ARGS(A_ID(u.sub)), NULL)) != 0) {
		rc = -1;
		goto fail;
	}
	rc = commit(c);
	goto out;
fail:
	rollback(c);
out:
	release(s, c);
	store_user_clear(&u);
	return (rc);
}

/*
 * Deleting a user must also take away what still acts for it: a browser
 * session would otherwise keep getting codes through remembered consents,
 * and refresh tokens would keep minting access tokens for a subject that no
 * longer exists (a removed account keeping access for up to refresh_ttl).
 * All of it goes in the transaction that deletes the user.
 */
static int
user_del(struct store *s, const char *username, int64_t now)
{
	struct store_user u;
	struct conn *c;
	int64_t nfam = 0;
	int rc, n = 0;

	memset(&u, 0, sizeof(u));
	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(c)) != 0)
		goto out;
	if ((rc = c_one(c, Q_USER_GET, ARGS(A_ID(username)), row_user, &u)) != 0)
		goto fail;
	if ((rc = c_exec(c, Q_USER_DEL, ARGS(A_ID(username)), &n)) != 0 ||
	    (rc = c_exec(c, Q_SESSION_DEL_SUB, ARGS(A_ID(u.sub)), NULL)) != 0 ||
	    (rc = c_exec(c, Q_CONSENT_DEL_SUB, ARGS(A_ID(u.sub)), NULL)) != 0 ||
	    (rc = c_exec(c, Q_CODE_DEL_SUB, ARGS(A_ID(u.sub)), NULL)) != 0 ||
	    (rc = revoke_families(c, SEL_BY_SUB, now, ARGS(A_ID(u.sub)), &nfam)) != 0) {
		rc = -1;
		goto fail;
	}
	rc = commit(c);
	goto out;

fail:
	rollback(c);
out:
	release(s, c);
	store_user_clear(&u);
	return (rc);
}

struct user_cb {
	void (*cb)(void *arg, const struct store_user *u);
	void *arg;
};

static int
each_user(sqlite3_stmt *st, void *ctx)
{
	struct user_cb *x = ctx;
	struct store_user u = {0};

	if (row_user(st, &u)) {
		store_user_clear(&u);
		return (-1);
	}
	x->cb(x->arg, &u);
	store_user_clear(&u);
	return (0);
}

static int
user_list(struct store *s, void (*cb)(void *arg, const struct store_user *u), void *arg)
{
	struct user_cb x = {cb, arg};

	return (each(s, Q_USER_LIST, NOARGS, each_user, &x));
}

/* Clients. */

static int
row_client(sqlite3_stmt *st, void *out)
{
	struct store_client *c = out;

	if (col_str(st, 0, &c->client_id) || col_str(st, 1, &c->secret_digest) ||
	    col_str(st, 2, &c->name) || col_str(st, 3, &c->redirect_uris) ||
	    col_str(st, 4, &c->grant_types) || col_str(st, 5, &c->scope) ||
	    col_str(st, 6, &c->auth_method) || col_str(st, 7, &c->metadata))
		return (-1);
	c->dynamic = sqlite3_column_int(st, 8);
	c->created_at = sqlite3_column_int64(st, 9);
	c->secret_expires_at = sqlite3_column_int64(st, 10);
	c->first_token_at = sqlite3_column_int64(st, 11);
	return (0);
}

static int
client_add(struct store *s, const struct store_client *c)
{
	return (exec1(s, Q_CLIENT_ADD,
	    ARGS(A_ID(c->client_id), A_ID(c->secret_digest), A_TXT(c->name),
		A_TXT(c->redirect_uris), A_TXT(c->grant_types), A_TXT(c->scope),
		A_TXT(c->auth_method), A_TXT(c->metadata), A_INT(c->dynamic ? 1 : 0),
		A_INT(c->created_at), A_INT(c->secret_expires_at), A_INT(c->first_token_at)),
	    NULL));
}

static int
client_get(struct store *s, const char *client_id, struct store_client *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one(s, Q_CLIENT_GET, ARGS(A_ID(client_id)), row_client, out)) != 0)
		store_client_clear(out);
	return (rc);
}

static int
client_del(struct store *s, const char *client_id)
{
	return (change_one(s, Q_CLIENT_DEL, client_id));
}

struct client_cb {
	void (*cb)(void *arg, const struct store_client *c);
	void *arg;
};

static int
each_client(sqlite3_stmt *st, void *ctx)
{
	struct client_cb *x = ctx;
	struct store_client c = {0};

	if (row_client(st, &c)) {
		store_client_clear(&c);
		return (-1);
	}
	x->cb(x->arg, &c);
	store_client_clear(&c);
	return (0);
}

static int
client_list(struct store *s, void (*cb)(void *arg, const struct store_client *c), void *arg)
{
	struct client_cb x = {cb, arg};

	return (each(s, Q_CLIENT_LIST, NOARGS, each_client, &x));
}

/* 0 whether or not first_token_at was still 0; STORE_NOTFOUND if there is
 * no such client. */
static int
client_mark_used(struct store *s, const char *client_id, int64_t now)
{
	struct conn *c;
	int64_t cnt = 0;
	int rc, n = 0;

	if ((c = acquire(s)) == NULL)
		return (-1);
	rc = c_exec(c, Q_CLIENT_MARK, ARGS(A_INT(now), A_ID(client_id)), &n);
	if (rc == 0 && n == 0) {
		rc = c_one(c, Q_CLIENT_EXISTS, ARGS(A_ID(client_id)), row_int, &cnt);
		if (rc == 0 && cnt == 0)
			rc = STORE_NOTFOUND;
	}
	release(s, c);
	return (rc);
}

static int
client_reap(struct store *s, int64_t before, int *n)
{
	*n = 0;
	return (exec1(s, Q_CLIENT_REAP, ARGS(A_INT(before)), n));
}

/* Codes. */

static int
row_code(sqlite3_stmt *st, void *out)
{
	struct store_code *c = out;

	if (col_str(st, 0, &c->digest) || col_str(st, 1, &c->client_id) ||
	    col_str(st, 2, &c->sub) || col_str(st, 3, &c->redirect_uri) ||
	    col_str(st, 4, &c->code_challenge) || col_str(st, 5, &c->resource) ||
	    col_str(st, 6, &c->scope))
		return (-1);
	c->auth_time = sqlite3_column_int64(st, 7);
	c->expires_at = sqlite3_column_int64(st, 8);
	return (0);
}

static int
code_add(struct store *s, const struct store_code *c)
{
	return (exec1(s, Q_CODE_ADD,
	    ARGS(A_ID(c->digest), A_ID(c->client_id), A_ID(c->sub), A_TXT(c->redirect_uri),
		A_TXT(c->code_challenge), A_TXT(c->resource), A_TXT(c->scope),
		A_INT(c->auth_time), A_INT(c->expires_at)),
	    NULL));
}

static int
code_consume(struct store *s, const char *digest, int64_t now, const char *client_id,
    const char *challenge, const char *redirect_uri, struct store_code *out, int *replayed)
{
	struct conn *c;
	int64_t used = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	*replayed = 0;
	if ((c = acquire(s)) == NULL)
		return (-1);
	/* The compare-and-swap: only one caller sees the row come back. */
	rc = c_one(c, Q_CODE_CONSUME,
	    ARGS(A_ID(digest), A_INT(now), A_ID(client_id), A_ID(challenge), A_TXT(redirect_uri)), row_code,
	    out);
	if (rc == STORE_NOTFOUND) {
		/* Lost, expired, or replayed?  A used code stays used, so this
		 * second read cannot turn a replay into something else. */
		if (c_one(c, Q_CODE_USED,
			ARGS(A_ID(digest), A_ID(client_id), A_ID(challenge), A_TXT(redirect_uri)), row_int,
			&used) == 0 &&
		    used)
			*replayed = 1;
	}
	release(s, c);
	if (rc != 0)
		store_code_clear(out);
	return (rc);
}

/* Refresh tokens and families. */

static int
row_refresh(sqlite3_stmt *st, void *out)
{
	struct store_refresh *r = out;

	if (col_str(st, 0, &r->digest) || col_str(st, 1, &r->family_id) ||
	    col_str(st, 2, &r->client_id) || col_str(st, 3, &r->sub) ||
	    col_str(st, 4, &r->scope) || col_str(st, 5, &r->resource) ||
	    col_str(st, 6, &r->code_digest))
		return (-1);
	r->created_at = sqlite3_column_int64(st, 7);
	r->expires_at = sqlite3_column_int64(st, 8);
	r->idle_expires_at = sqlite3_column_int64(st, 9);
	r->rotated = sqlite3_column_int(st, 10);
	r->revoked = sqlite3_column_int(st, 11);
	return (0);
}

/* Create the family row of ${family_id} if absent, and fill in what it
 * does not know yet. */
static int
family_put(struct conn *c, const char *family_id, const char *code_digest, const char *client_id,
    const char *sub, int64_t created_at)
{
	return (c_exec(c, Q_FAMILY_PUT,
	    ARGS(A_ID(family_id), A_ID(code_digest), A_ID(client_id), A_ID(sub),
		A_INT(created_at)),
	    NULL));
}

/* Insert ${r} and its family inside the caller's transaction on ${c}.  A
 * token added to a revoked family is born revoked. */
static int
refresh_insert(struct conn *c, const struct store_refresh *r)
{
	int rc, n = 0;

	if ((rc = family_put(c, r->family_id, r->code_digest, r->client_id, r->sub,
		 r->created_at)) != 0)
		return (rc);
	rc = c_exec(c, Q_REFRESH_ADD,
	    ARGS(A_ID(r->digest), A_ID(r->family_id), A_ID(r->client_id), A_ID(r->sub),
		A_TXT(r->scope), A_TXT(r->resource), A_ID(r->code_digest), A_INT(r->created_at),
		A_INT(r->expires_at), A_INT(r->idle_expires_at), A_INT(r->rotated ? 1 : 0),
		A_INT(r->revoked ? 1 : 0)),
	    &n);
	if (rc == 0 && n != 1) {
		log_err("store: refresh token not inserted");
		rc = -1;
	}
	return (rc);
}

static int
refresh_add(struct store *s, const struct store_refresh *r)
{
	struct conn *c;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(c)) != 0)
		goto out;
	if ((rc = refresh_insert(c, r)) != 0) {
		rollback(c);
		goto out;
	}
	rc = commit(c);
out:
	release(s, c);
	return (rc);
}

static int
refresh_get(struct store *s, const char *digest, struct store_refresh *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one(s, Q_REFRESH_GET, ARGS(A_ID(digest)), row_refresh, out)) != 0)
		store_refresh_clear(out);
	return (rc);
}

static int
refresh_rotate(struct store *s, const char *old_digest, int64_t now,
    const struct store_refresh *next)
{
	struct conn *c;
	int rc, n = 0;

	if ((c = acquire(s)) == NULL)
		return (-1);
	/* BEGIN IMMEDIATE: the write lock is ours before the UPDATE reads, so
	 * a concurrent rotation waits and then finds rotated = 1. */
	if ((rc = begin(c)) != 0)
		goto out;
	rc = c_exec(c, Q_REFRESH_ROTATE,
	    ARGS(A_ID(old_digest), A_INT(now)), &n);
	if (rc != 0)
		goto fail;
	if (n != 1) {
		rc = STORE_NOTFOUND;
		goto fail;
	}
	if ((rc = refresh_insert(c, next)) != 0)
		goto fail;
	rc = commit(c);
	goto out;

fail:
	rollback(c);
out:
	release(s, c);
	return (rc);
}

/*
 * Revoke the families named by ${sel} with ${a}, ${na} inside the caller's
 * transaction on ${c}: mark them revoked, revoke their refresh tokens, and
 * deny their unexpired recorded access tokens.  Stores in ${nfam} how many
 * families match (revoked before or now).  0 or -1.
 */
static int
revoke_families(struct conn *c, enum famsel sel, int64_t now, const struct arg *a, size_t na,
    int64_t *nfam)
{
	static const enum query qrev[] = {
	    Q_FAM_REVOKE_ID, Q_FAM_REVOKE_CODE, Q_FAM_REVOKE_GRANT, Q_FAM_REVOKE_SUB};
	static const enum query qcnt[] = {
	    Q_FAM_COUNT_ID, Q_FAM_COUNT_CODE, Q_FAM_COUNT_GRANT, Q_FAM_COUNT_SUB};
	static const enum query qref[] = {
	    Q_FAM_REFRESH_ID, Q_FAM_REFRESH_CODE, Q_FAM_REFRESH_GRANT, Q_FAM_REFRESH_SUB};
	static const enum query qdeny[] = {
	    Q_FAM_DENY_ID, Q_FAM_DENY_CODE, Q_FAM_DENY_GRANT, Q_FAM_DENY_SUB};
	struct arg all[3];
	size_t i;

	/* Every statement takes ${now} first (if at all), then the selector. */
	if (na > 2)
		return (-1);
	all[0] = (struct arg)A_INT(now);
	for (i = 0; i < na; i++)
		all[i + 1] = a[i];

	*nfam = 0;
	if (c_one(c, qcnt[sel], a, na, row_int, nfam) != 0)
		return (-1);
	if (c_exec(c, qrev[sel], all, na + 1, NULL) != 0 ||
	    c_exec(c, qref[sel], a, na, NULL) != 0 ||
	    c_exec(c, qdeny[sel], all, na + 1, NULL) != 0)
		return (-1);
	return (0);
}

/* family_revoke and family_revoke_by_code: STORE_NOTFOUND if no family
 * matches. */
static int
revoke_tx(struct store *s, enum famsel sel, int64_t now, const struct arg *a, size_t na)
{
	struct conn *c;
	int64_t nfam = 0;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(c)) != 0)
		goto out;
	/*
	 * A code replayed while its first exchange is still between
	 * code_consume and recording its tokens finds no family yet.  Leave a
	 * revoked family for the code: the first exchange's family inherits
	 * the revocation when it is created (FAMILY_PUT), so its tokens are
	 * born revoked instead of escaping.
	 */
	if (revoke_families(c, sel, now, a, na, &nfam) ||
	    (sel == SEL_BY_CODE && nfam == 0 &&
		c_exec(c, Q_FAM_TOMBSTONE, ARGS(a[0], A_INT(now)), NULL) != 0)) {
		rollback(c);
		rc = -1;
		goto out;
	}
	if ((rc = commit(c)) == 0 && nfam == 0)
		rc = STORE_NOTFOUND;
out:
	release(s, c);
	return (rc);
}

static int
family_revoke(struct store *s, const char *family_id, int64_t now)
{
	return (revoke_tx(s, SEL_BY_ID, now, ARGS(A_ID(family_id))));
}

static int
family_revoke_by_code(struct store *s, const char *code_digest, int64_t now)
{
	return (revoke_tx(s, SEL_BY_CODE, now, ARGS(A_ID(code_digest))));
}

struct refresh_cb {
	void (*cb)(void *arg, const struct store_refresh *r);
	void *arg;
};

static int
each_refresh(sqlite3_stmt *st, void *ctx)
{
	struct refresh_cb *x = ctx;
	struct store_refresh r = {0};

	if (row_refresh(st, &r)) {
		store_refresh_clear(&r);
		return (-1);
	}
	x->cb(x->arg, &r);
	store_refresh_clear(&r);
	return (0);
}

static int
refresh_list_active(struct store *s, const char *sub, int64_t now,
    void (*cb)(void *arg, const struct store_refresh *r), void *arg)
{
	struct refresh_cb x = {cb, arg};

	return (each(s, Q_REFRESH_ACTIVE, ARGS(A_ID(sub), A_INT(now)), each_refresh, &x));
}

/* Access tokens and the denylist. */

/* Record ${a} under its family (created if absent).  If the family was
 * revoked meanwhile, the token is denied at once, with the family's
 * revocation time as its denial time. */
static int
access_add(struct store *s, const struct store_access *a)
{
	struct conn *c;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(c)) != 0)
		goto out;
	if ((rc = family_put(c, a->family_id, a->code_digest, a->client_id, a->sub, 0)) != 0 ||
	    (rc = c_exec(c, Q_ACCESS_ADD,
		 ARGS(A_ID(a->jti), A_ID(a->family_id), A_INT(a->expires_at)), NULL)) != 0 ||
	    (rc = c_exec(c, Q_ACCESS_LATE_DENY,
		 ARGS(A_ID(a->jti), A_INT(a->expires_at), A_ID(a->family_id)), NULL)) != 0) {
		rollback(c);
		goto out;
	}
	rc = commit(c);
out:
	release(s, c);
	return (rc);
}

static int
jti_deny(struct store *s, const char *jti, int64_t expires_at, int64_t now)
{
	return (exec1(s, Q_JTI_DENY, ARGS(A_ID(jti), A_INT(expires_at), A_INT(now)), NULL));
}

static int
jti_denied(struct store *s, const char *jti)
{
	int64_t n = 0;

	if (one(s, Q_JTI_DENIED, ARGS(A_ID(jti)), row_int, &n) != 0)
		return (-1);
	return (n > 0);
}

struct jti_cb {
	void (*cb)(void *arg, const char *jti, int64_t expires_at);
	void *arg;
};

static int
each_jti(sqlite3_stmt *st, void *ctx)
{
	struct jti_cb *x = ctx;
	const unsigned char *jti;

	if ((jti = sqlite3_column_text(st, 0)) == NULL)
		return (-1);
	x->cb(x->arg, (const char *)jti, sqlite3_column_int64(st, 1));
	return (0);
}

static int
jti_denied_since(struct store *s, int64_t since,
    void (*cb)(void *arg, const char *jti, int64_t expires_at), void *arg)
{
	struct jti_cb x = {cb, arg};

	return (each(s, Q_JTI_SINCE, ARGS(A_INT(since)), each_jti, &x));
}

/* Consents.  A NULL resource is stored as '' and read back as NULL. */

static int
row_consent(sqlite3_stmt *st, void *out)
{
	struct store_consent *c = out;

	if (col_str(st, 0, &c->sub) || col_str(st, 1, &c->client_id) ||
	    col_str(st, 2, &c->resource) || col_str(st, 3, &c->scope))
		return (-1);
	if (c->resource != NULL && c->resource[0] == '\0') {
		free(c->resource);
		c->resource = NULL;
	}
	c->granted_at = sqlite3_column_int64(st, 4);
	return (0);
}

static int
consent_put(struct store *s, const struct store_consent *c)
{
	return (exec1(s, Q_CONSENT_PUT,
	    ARGS(A_ID(c->sub), A_ID(c->client_id), A_TXT(c->resource ? c->resource : ""),
		A_TXT(c->scope), A_INT(c->granted_at)),
	    NULL));
}

static int
consent_get(struct store *s, const char *sub, const char *client_id, const char *resource,
    struct store_consent *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = one(s, Q_CONSENT_GET,
	    ARGS(A_ID(sub), A_ID(client_id), A_TXT(resource ? resource : "")), row_consent, out);
	if (rc != 0)
		store_consent_clear(out);
	return (rc);
}

struct consent_cb {
	void (*cb)(void *arg, const struct store_consent *c);
	void *arg;
};

static int
each_consent(sqlite3_stmt *st, void *ctx)
{
	struct consent_cb *x = ctx;
	struct store_consent c = {0};

	if (row_consent(st, &c)) {
		store_consent_clear(&c);
		return (-1);
	}
	x->cb(x->arg, &c);
	store_consent_clear(&c);
	return (0);
}

static int
consent_list(struct store *s, const char *sub, void (*cb)(void *arg, const struct store_consent *c),
    void *arg)
{
	struct consent_cb x = {cb, arg};

	return (each(s, Q_CONSENT_LIST, ARGS(A_ID(sub)), each_consent, &x));
}

/* STORE_NOTFOUND if there was neither a consent nor a family of the
 * grant. */
static int
consent_revoke(struct store *s, const char *sub, const char *client_id, int64_t now)
{
	struct conn *c;
	int64_t nfam = 0;
	int rc, n = 0;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(c)) != 0)
		goto out;
	if ((rc = c_exec(c, Q_CONSENT_DEL, ARGS(A_ID(sub), A_ID(client_id)), &n)) != 0 ||
	    (rc = revoke_families(c, SEL_BY_GRANT, now, ARGS(A_ID(sub), A_ID(client_id)),
		 &nfam)) != 0) {
		rollback(c);
		rc = -1;
		goto out;
	}
	if ((rc = commit(c)) == 0 && n == 0 && nfam == 0)
		rc = STORE_NOTFOUND;
out:
	release(s, c);
	return (rc);
}

/* Sessions. */

static int
row_session(sqlite3_stmt *st, void *out)
{
	struct store_session *se = out;

	if (col_str(st, 0, &se->digest) || col_str(st, 1, &se->sub))
		return (-1);
	se->auth_time = sqlite3_column_int64(st, 2);
	se->expires_at = sqlite3_column_int64(st, 3);
	return (0);
}

static int
session_add(struct store *s, const struct store_session *se)
{
	return (exec1(s, Q_SESSION_ADD,
	    ARGS(A_ID(se->digest), A_ID(se->sub), A_INT(se->auth_time), A_INT(se->expires_at)),
	    NULL));
}

static int
session_get(struct store *s, const char *digest, int64_t now, struct store_session *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one(s, Q_SESSION_GET, ARGS(A_ID(digest), A_INT(now)), row_session, out)) != 0)
		store_session_clear(out);
	return (rc);
}

static int
session_del(struct store *s, const char *digest)
{
	return (change_one(s, Q_SESSION_DEL, digest));
}

/* Pending authorization requests. */

static int
row_authreq(sqlite3_stmt *st, void *out)
{
	struct store_authreq *a = out;

	if (col_str(st, 0, &a->digest) || col_str(st, 1, &a->browser_digest) ||
	    col_str(st, 2, &a->csrf_digest) || col_str(st, 3, &a->client_id) ||
	    col_str(st, 4, &a->redirect_uri) || col_str(st, 5, &a->state) ||
	    col_str(st, 6, &a->code_challenge) || col_str(st, 7, &a->resource) ||
	    col_str(st, 8, &a->scope))
		return (-1);
	a->expires_at = sqlite3_column_int64(st, 9);
	return (0);
}

static int
authreq_add(struct store *s, const struct store_authreq *a)
{
	return (exec1(s, Q_AUTHREQ_ADD,
	    ARGS(A_ID(a->digest), A_ID(a->browser_digest), A_ID(a->csrf_digest),
		A_ID(a->client_id), A_TXT(a->redirect_uri), A_TXT(a->state),
		A_TXT(a->code_challenge), A_TXT(a->resource), A_TXT(a->scope),
		A_INT(a->expires_at)),
	    NULL));
}

/* Fetch an authreq with ${q} (a SELECT, or the single-use DELETE). */
static int
authreq_fetch(struct store *s, enum query q, const char *digest, int64_t now,
    struct store_authreq *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one(s, q, ARGS(A_ID(digest), A_INT(now)), row_authreq, out)) != 0)
		store_authreq_clear(out);
	return (rc);
}

static int
authreq_get(struct store *s, const char *digest, int64_t now, struct store_authreq *out)
{
	return (authreq_fetch(s, Q_AUTHREQ_GET, digest, now, out));
}

static int
authreq_take(struct store *s, const char *digest, int64_t now, struct store_authreq *out)
{
	return (authreq_fetch(s, Q_AUTHREQ_TAKE, digest, now, out));
}

/* Signing keys. */

static int
row_key(sqlite3_stmt *st, void *out)
{
	struct store_key *k = out;

	if (col_str(st, 0, &k->kid) || col_str(st, 1, &k->alg) ||
	    col_str(st, 2, &k->public_jwk) || col_str(st, 3, &k->private_enc))
		return (-1);
	k->created_at = sqlite3_column_int64(st, 4);
	k->retired_at = sqlite3_column_int64(st, 5);
	k->publish_until = sqlite3_column_int64(st, 6);
	return (0);
}

static int
key_add(struct store *s, const struct store_key *k)
{
	return (exec1(s, Q_KEY_ADD,
	    ARGS(A_ID(k->kid), A_ID(k->alg), A_TXT(k->public_jwk), A_TXT(k->private_enc),
		A_INT(k->created_at), A_INT(k->retired_at), A_INT(k->publish_until)),
	    NULL));
}

struct key_cb {
	void (*cb)(void *arg, const struct store_key *k);
	void *arg;
};

static int
each_key(sqlite3_stmt *st, void *ctx)
{
	struct key_cb *x = ctx;
	struct store_key k = {0};

	if (row_key(st, &k)) {
		store_key_clear(&k);
		return (-1);
	}
	x->cb(x->arg, &k);
	store_key_clear(&k);
	return (0);
}

static int
key_list(struct store *s, void (*cb)(void *arg, const struct store_key *k), void *arg)
{
	struct key_cb x = {cb, arg};

	return (each(s, Q_KEY_LIST, NOARGS, each_key, &x));
}

static int
key_retire(struct store *s, const char *kid, int64_t retired_at, int64_t publish_until)
{
	int rc, n = 0;

	rc = exec1(s, Q_KEY_RETIRE, ARGS(A_INT(retired_at), A_INT(publish_until), A_ID(kid)), &n);
	if (rc == 0 && n == 0)
		rc = STORE_NOTFOUND;
	return (rc);
}

/* Purge, in one transaction; families go last, once they have no token. */
static int
purge(struct store *s, int64_t now)
{
	static const enum query qs[] = {Q_PURGE_CODES, Q_PURGE_SESSIONS, Q_PURGE_AUTHREQS,
	    Q_PURGE_DENIED, Q_PURGE_REFRESH, Q_PURGE_ACCESS, Q_PURGE_KEYS};
	struct conn *c;
	size_t i;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(c)) != 0)
		goto out;
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		if (c_exec(c, qs[i], ARGS(A_INT(now)), NULL) != 0)
			goto fail;
	}
	if (c_exec(c, Q_PURGE_FAMILIES, NOARGS, NULL) != 0)
		goto fail;
	rc = commit(c);
	goto out;

fail:
	rollback(c);
	rc = -1;
out:
	release(s, c);
	return (rc);
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.user_add = user_add,
	.user_get = user_get,
	.user_get_by_sub = user_get_by_sub,
	.user_del = user_del,
	.user_set_password = user_set_password,
	.user_list = user_list,
	.client_add = client_add,
	.client_get = client_get,
	.client_del = client_del,
	.client_list = client_list,
	.client_mark_used = client_mark_used,
	.client_reap = client_reap,
	.code_add = code_add,
	.code_consume = code_consume,
	.refresh_add = refresh_add,
	.refresh_get = refresh_get,
	.refresh_rotate = refresh_rotate,
	.family_revoke = family_revoke,
	.family_revoke_by_code = family_revoke_by_code,
	.access_add = access_add,
	.jti_deny = jti_deny,
	.jti_denied = jti_denied,
	.jti_denied_since = jti_denied_since,
	.consent_put = consent_put,
	.consent_get = consent_get,
	.consent_list = consent_list,
	.consent_revoke = consent_revoke,
	.refresh_list_active = refresh_list_active,
	.session_add = session_add,
	.session_get = session_get,
	.session_del = session_del,
	.authreq_add = authreq_add,
	.authreq_get = authreq_get,
	.authreq_take = authreq_take,
	.key_add = key_add,
	.key_list = key_list,
	.key_retire = key_retire,
	.purge = purge,
	.state_size = sizeof(struct state),
};
