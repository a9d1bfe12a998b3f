/*
 * store_sqlite: the SQLite backend of store.h.
 *
 * Connections: a pool of at most POOL_MAX connections, opened lazily, each
 * used by one thread at a time (taken from and given back to the pool under
 * one mutex), each with its own cache of prepared statements.  See
 * docs/internals/store.md for why a pool rather than one connection per
 * thread.
 *
 * The operations are store_ops.c's, on the primitives of this file (struct
 * store_backend: connections, statements, binding, rows, errors); the
 * schema and the statements are shared with store_pg.c (store_sql.h).  An
 * operation that must be atomic is one SQL statement, or several inside
 * BEGIN IMMEDIATE ... COMMIT, which takes SQLite's write lock first so that
 * two writers are serialized by the busy handler instead of failing on a
 * stale snapshot: one writer at a time needs no lock_code, no family_first
 * and no rolled_back.  Only the PRAGMAs, BEGIN IMMEDIATE and the schema
 * version (PRAGMA user_version) are SQLite's own.
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
#include "store/store_backend.h"

/* Connections per store: libmicrohttpd runs 2 to 8 worker threads. */
#define POOL_MAX 8
/* Longest wait for a free connection, and SQLite's busy timeout. */
#define WAIT_MS 5000
/* Longest database path. */
#define PATH_MAX_LEN 4000

/* The schema version this code writes (PRAGMA user_version). */
#define SCHEMA_VERSION STORE_SQL_VERSION

/* Statements: the shared ones (enum store_query), then SQLite's
 * transaction control. */
#define SQLITE_QUERIES(X)                                                                          \
	X(BEGIN, "BEGIN IMMEDIATE")                                                                \
	X(COMMIT, "COMMIT")                                                                        \
	X(ROLLBACK, "ROLLBACK")
#define QUERIES(X) STORE_SQL_QUERIES(X) SQLITE_QUERIES(X)

#define AS_ENUM(name, sql) Q_##name,
#define AS_SQL(name, sql) sql,
#define AS_NAME(name, sql) #name,
enum { Q_SQLITE_FIRST_ = STORE_NQUERIES - 1, SQLITE_QUERIES(AS_ENUM) NQUERIES };
static const char *const query_sql[NQUERIES] = {QUERIES(AS_SQL)};
static const char *const query_name[NQUERIES] = {QUERIES(AS_NAME)};

/* One connection and its cached statements; in the idle list when free. */
struct store_conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[NQUERIES];
	struct store_conn *next;
};

struct state {
	struct store_base base; /* first: store_ops.c reads it */
	char *path;
	pthread_mutex_t mtx;
	pthread_cond_t cv; /* signalled when a connection is returned */
	struct store_conn *all[POOL_MAX];
	size_t nall;
	struct store_conn *idle;
};

/* Row ${st} as a struct store_row. */
#define ROW(st) {.col_int = col_int, .col_text = col_text, .h = (st)}

static int64_t col_int(const struct store_row *r, int j);
static int col_text(const struct store_row *r, int j, const char **t, size_t *len);
static const struct store_backend backend;

/* Log the failure of ${what} on ${db}.  SQLite's messages name tables and
 * columns but never bound values. */
static void
dberr(sqlite3 *db, const char *what)
{
	log_err("store: %s: %s (%d)", what, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
}

/* Statement ${q} of ${c}, prepared on first use and kept. */
static sqlite3_stmt *
prep(struct store_conn *c, int q)
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
bind(sqlite3_stmt *st, int q, const struct store_arg *a, size_t na)
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
steperr(struct store_conn *c, int q, int rc)
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
c_exec(struct store_conn *c, int q, const struct store_arg *a, size_t na, int *changes)
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
c_one(struct store_conn *c, int q, const struct store_arg *a, size_t na, store_rowfn *row,
    void *out)
{
	struct store_row r;
	sqlite3_stmt *st;
	int rc, got = 0;

	if ((st = prep(c, q)) == NULL)
		return (-1);
	if (bind(st, q, a, na)) {
		done(st);
		return (-1);
	}
	r = (struct store_row)ROW(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (got++ == 0 && row(&r, out)) {
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

/* Column ${j} of the row of ${r} as an integer; 0 for SQL NULL. */
static int64_t
col_int(const struct store_row *r, int j)
{
	return (sqlite3_column_int64((sqlite3_stmt *)r->h, j));
}

/* Column ${j} of the row of ${r} as text; NULL for SQL NULL.  0 or -1. */
static int
col_text(const struct store_row *r, int j, const char **t, size_t *len)
{
	sqlite3_stmt *st = (sqlite3_stmt *)r->h;
	int n;

	*t = NULL;
	*len = 0;
	if (sqlite3_column_type(st, j) == SQLITE_NULL)
		return (0);
	*t = (const char *)sqlite3_column_text(st, j);
	n = sqlite3_column_bytes(st, j);
	if (*t == NULL || n < 0)
		return (-1);
	*len = (size_t)n;
	return (0);
}

/* Take a free connection of ${s}, opening one if fewer than POOL_MAX are
 * open, else waiting at most WAIT_MS for one.  NULL on failure (logged). */
static struct store_conn *open_conn(struct state *st, int first);

static struct store_conn *
acquire(struct store *s)
{
	struct state *st = s->state;
	struct store_conn *c = NULL;
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
release(struct store *s, struct store_conn *c)
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
close_conn(struct store_conn *c)
{
	size_t i;

	for (i = 0; i < NQUERIES; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	free(c);
}

/* Transactions. */
static int
begin(struct store_conn *c)
{
	return (c_exec(c, Q_BEGIN, NOARGS, NULL) ? -1 : 0);
}

static int
commit(struct store_conn *c)
{
	return (c_exec(c, Q_COMMIT, NOARGS, NULL) ? -1 : 0);
}

static void
rollback(struct store_conn *c)
{
	if (!sqlite3_get_autocommit(c->db))
		c_exec(c, Q_ROLLBACK, NOARGS, NULL);
}

/*
 * Run ${q} with ${a}, ${na} and call ${each_row}(row, ${ctx}) for each row.
 * The connection stays taken during the calls; a callback may use the store
 * (on another connection) but must not hold it up for long.
 */
static int
each(struct store *s, int q, const struct store_arg *a, size_t na, store_rowfn *each_row,
    void *ctx)
{
	struct store_conn *c;
	struct store_row r;
	sqlite3_stmt *st;
	int rc = -1;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((st = prep(c, q)) == NULL)
		goto out;
	if (bind(st, q, a, na))
		goto done;
	r = (struct store_row)ROW(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (each_row(&r, ctx)) {
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
static struct store_conn *
open_conn(struct state *st, int first)
{
	struct store_conn *c;
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
migrate(struct store_conn *c)
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
	struct store_conn *c;

	if (strnlen(path, PATH_MAX_LEN + 1) > PATH_MAX_LEN) {
		log_err("store: database path too long");
		goto err0;
	}
	if (!sqlite3_threadsafe()) {
		log_err("store: SQLite was built without thread support");
		goto err0;
	}
	st->base.be = &backend;
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

static const struct store_backend backend = {
	.acquire = acquire,
	.release = release,
	.begin = begin,
	.commit = commit,
	.rollback = rollback,
	.exec = c_exec,
	.one = c_one,
	.each = each,
	/* One writer at a time: no lock on codes, no order of locks, no
	 * deadlock to run again. */
	.lock_code = NULL,
	.family_first = 0,
	.rolled_back = NULL,
};

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	STORE_OPS_SHARED,
	.state_size = sizeof(struct state),
};
