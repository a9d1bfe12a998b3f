/*
 * store_pg: the PostgreSQL backend of store.h, the shared store of several
 * nodes.
 *
 * The operations are store_ops.c's, on the primitives of this file (struct
 * store_backend); the schema and the statements are store_sqlite.c's
 * (store_sql.h), with their :name parameters rewritten as $1..$n once per
 * process.  Statements run in READ COMMITTED, PostgreSQL's default: a
 * compare-and-swap UPDATE (code_consume, refresh_rotate, authreq_take,
 * client_mark_used) that meets a row another transaction is changing waits
 * for that transaction and then evaluates its WHERE clause again against
 * the committed row, so exactly one of several concurrent callers changes
 * it.  Where SQLite's single writer did more, locks do it here: transactions lock a family row before its
 * tokens (refresh_rotate included, so that it cannot deadlock with a
 * revocation: family_first), and a family made from a code is made under an
 * advisory lock on the code that family_revoke_by_code takes too (CODE_LOCK,
 * lock_code).  A transaction the server rolls back for a deadlock is run
 * again once (rolled_back).
 *
 * Connections: a pool of at most POOL_MAX, opened lazily and outside the
 * pool's mutex, each used by one thread at a time, each with its own
 * prepared statements (prepared on first use, with the parameter types of
 * the call: int8 or text).  Every connection has connect_timeout and
 * statement_timeout set, so that no call waits for the server without
 * bound.  A connection found broken (CONNECTION_BAD) is reset once with
 * PQreset(); the call that found it fails with -1.
 *
 * Logs name the database and its host, never the URL (which may carry a
 * password), and never a parameter value: server messages of class 22 (data
 * exceptions, which may quote a value) are replaced by their SQLSTATE, and
 * no DETAIL field (which quotes key values) is ever printed.
 */
#include "store/store.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "core/log.h"
#include "core/secret.h"
#include "store/store_backend.h"

/* Connections per store: libmicrohttpd runs 2 to 8 worker threads. */
#define POOL_MAX 8
/* Longest wait for a free connection, and the statement_timeout. */
#define WAIT_MS 5000
/* Longest wait for a connection to the server (libpq connect_timeout, in
 * seconds; a URL may set its own). */
#define CONNECT_TIMEOUT_S "5"
/* Parameters of one statement, and the length of a rewritten statement. */
#define PARAMS_MAX 16
#define SQL_MAX 1024
/* Room for "database X on host Y" in log lines. */
#define WHERE_MAX 256
/* Room for one server or libpq message in a log line. */
#define MSG_MAX 512

/* Type OIDs of the parameters (pg_type: int8, text). */
#define OID_INT8 20
#define OID_TEXT 25

/* The transaction-level advisory lock that serializes migrations: the
 * bytes of "mcpgate" as a number. */
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(30790106883388517)"

/* The schema version table: exactly one row. */
#define SCHEMA_TABLE                                                                               \
	"CREATE TABLE schema_version (one INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (one = 1), " \
	"version INTEGER NOT NULL)"

/*
 * Statements of this backend only.  CODE_LOCK serializes, per code, the
 * creation of a family from a code (FAMILY_PUT) with family_revoke_by_code:
 * under READ COMMITTED a replay's revocation would otherwise not see a
 * family being created by the code's first exchange, nor would that family
 * see the revocation's tombstone, and its tokens would escape revocation.
 */
#define PG_QUERIES(X)                                                                              \
	X(CODE_LOCK, "SELECT pg_advisory_xact_lock(hashtextextended(:code_digest, 0))")
#define QUERIES(X) STORE_SQL_QUERIES(X) PG_QUERIES(X)

#define AS_ENUM(name, sql) Q_##name,
#define AS_SQL(name, sql) sql,
#define AS_NAME(name, sql) #name,
enum { Q_PG_FIRST_ = STORE_NQUERIES - 1, PG_QUERIES(AS_ENUM) NQUERIES };
static const char *const query_sql[NQUERIES] = {QUERIES(AS_SQL)};
static const char *const query_name[NQUERIES] = {QUERIES(AS_NAME)};

/* Set by fail() when the server rolled a transaction back for a deadlock
 * or a serialization failure: the operation may be run again once
 * (rolled_back(), RETRY_ONCE in store_ops.c).  The server has rolled the
 * whole transaction back, so running it again cannot apply anything twice;
 * a compare-and-swap is evaluated afresh. */
static _Thread_local int retry_hint;

/* The statements rewritten for PostgreSQL, and their parameter names (for
 * the log); filled once per process by translate_all(). */
struct pgquery {
	char sql[SQL_MAX];
	const char *pname[PARAMS_MAX]; /* into query_sql[], after the ':' */
	int plen[PARAMS_MAX];
	int nparams;
};
static struct pgquery pgq[NQUERIES];
static pthread_once_t translate_once = PTHREAD_ONCE_INIT;
static int translate_failed;

struct state;

/* One connection and the statements prepared on it; in the idle list when
 * free. */
struct store_conn {
	PGconn *pg;
	struct state *st;
	unsigned char prepared[NQUERIES];
	int resetting; /* in reconnect() or being set up: fail() must not reset */
	struct store_conn *next;
};

struct state {
	struct store_base base; /* first: store_ops.c reads it */
	char *url;		   /* may hold a password: wiped when freed */
	char *password;		   /* from the URL, to keep it out of messages */
	char where[WHERE_MAX];	   /* "database D on H", for the log */
	pthread_mutex_t mtx;
	pthread_cond_t cv; /* signalled when a connection or a slot frees */
	struct store_conn *all[POOL_MAX];
	size_t nall;
	size_t nopening; /* slots taken by connections being opened */
	struct store_conn *idle;
};

/* Row ${i} of ${res} as a struct store_row. */
#define ROW(res_, i_) {.col_int = col_int, .col_text = col_text, .h = (res_), .i = (i_)}

static int64_t col_int(const struct store_row *r, int j);
static int col_text(const struct store_row *r, int j, const char **t, size_t *len);
static const struct store_backend backend;
static int reconnect(struct store_conn *c);

/* Rewrite query ${q}'s :name parameters as $1..$n.  0 or -1. */
static int
translate(int q)
{
	struct pgquery *t = &pgq[q];
	const char *p = query_sql[q], *name;
	size_t n = 0;
	int k, len, quoted = 0, w;

	while (*p != '\0') {
		if (*p == '\'')
			quoted = !quoted;
		if (!quoted && p[0] == ':' && (isalpha((unsigned char)p[1]) || p[1] == '_')) {
			name = p + 1;
			for (len = 0; isalnum((unsigned char)name[len]) || name[len] == '_'; len++)
				;
			for (k = 0; k < t->nparams; k++) {
				if (t->plen[k] == len && strncmp(t->pname[k], name, (size_t)len) == 0)
					break;
			}
			if (k == t->nparams) {
				if (t->nparams == PARAMS_MAX)
					return (-1);
				t->pname[k] = name;
				t->plen[k] = len;
				t->nparams++;
			}
			w = snprintf(t->sql + n, SQL_MAX - n, "$%d", k + 1);
			if (w < 0 || (size_t)w >= SQL_MAX - n)
				return (-1);
			n += (size_t)w;
			p = name + len;
			continue;
		}
		if (n + 1 >= SQL_MAX)
			return (-1);
		t->sql[n++] = *p++;
	}
	t->sql[n] = '\0';
	return (0);
}

static void
translate_all(void)
{
	int q;

	for (q = 0; q < NQUERIES; q++) {
		if (translate(q)) {
			log_err("store: %s: statement cannot be rewritten for PostgreSQL",
			    query_name[q]);
			translate_failed = 1;
		}
	}
}

/* Copy ${msg} into ${buf} on one line, without trailing space; if it
 * contains the password of ${st}, say only that it was withheld. */
static const char *
clean(const struct state *st, const char *msg, char buf[MSG_MAX])
{
	size_t i;

	if (msg == NULL)
		msg = "unknown error";
	if (st->password != NULL && st->password[0] != '\0' && strstr(msg, st->password) != NULL)
		msg = "message withheld";
	snprintf(buf, MSG_MAX, "%s", msg);
	for (i = 0; buf[i] != '\0'; i++) {
		if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
			buf[i] = ' ';
	}
	while (i > 0 && buf[i - 1] == ' ')
		buf[--i] = '\0';
	return (buf);
}

/*
 * Map the failure of ${what} on ${c}, with result ${res} (NULL if libpq
 * returned none), to STORE_CONFLICT (unique_violation) or -1 (logged).  A
 * connection found broken is reset once for the next caller.
 */
static int
fail(struct store_conn *c, const char *what, const PGresult *res)
{
	const char *code = NULL, *msg;
	char buf[MSG_MAX];

	if (res != NULL)
		code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (code != NULL && strcmp(code, "23505") == 0)
		return (STORE_CONFLICT);
	/* deadlock_detected, serialization_failure */
	if (code != NULL && (strcmp(code, "40P01") == 0 || strcmp(code, "40001") == 0))
		retry_hint = 1;
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		log_err("store: %s: connection to %s lost: %s", what, c->st->where,
		    clean(c->st, PQerrorMessage(c->pg), buf));
		if (!c->resetting)
			reconnect(c);
		return (-1);
	}
	if (res != NULL && code != NULL)
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	else
		msg = PQerrorMessage(c->pg);
	/* Data exceptions (invalid text, numbers out of range) may quote the
	 * offending value. */
	if (code != NULL && strncmp(code, "22", 2) == 0)
		msg = "data exception";
	log_err("store: %s: %s (SQLSTATE %s)", what, clean(c->st, msg, buf),
	    code != NULL ? code : "none");
	return (-1);
}

/* Run ${sql}, without parameters, on ${c}; expect ${want}.  Returns the
 * result (to be PQclear'ed) or NULL (logged). */
static PGresult *
simple(struct store_conn *c, const char *what, const char *sql, ExecStatusType want)
{
	PGresult *res;

	res = PQexec(c->pg, sql);
	if (PQresultStatus(res) != want) {
		fail(c, what, res);
		PQclear(res);
		return (NULL);
	}
	return (res);
}

/* Run ${sql} on ${c} for its effect only.  0 or -1 (logged). */
static int
simple_cmd(struct store_conn *c, const char *what, const char *sql)
{
	PGresult *res;

	if ((res = simple(c, what, sql, PGRES_COMMAND_OK)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

/*
 * Run query ${q} on ${c} with the ${na} arguments ${a}, preparing it on
 * first use.  Strings over their limit are refused with a warning naming
 * the parameter, never its value.  Returns the result (whatever its status;
 * to be PQclear'ed) or NULL (logged; a broken connection is reset).
 */
static PGresult *
run(struct store_conn *c, int q, const struct store_arg *a, size_t na)
{
	const struct pgquery *t = &pgq[q];
	const char *vals[PARAMS_MAX];
	char nums[PARAMS_MAX][24], name[16];
	Oid types[PARAMS_MAX];
	PGresult *res;
	size_t i, max;

	if (na != (size_t)t->nparams) {
		log_err("store: %s: %zu arguments for %d parameters", query_name[q], na,
		    t->nparams);
		return (NULL);
	}
	for (i = 0; i < na; i++) {
		if (a[i].type == 'I') {
			snprintf(nums[i], sizeof(nums[i]), "%" PRId64, a[i].i);
			vals[i] = nums[i];
			types[i] = OID_INT8;
			continue;
		}
		types[i] = OID_TEXT;
		vals[i] = a[i].s;
		max = a[i].type == 'i' ? STORE_ID_MAX : STORE_TEXT_MAX;
		if (a[i].s != NULL && strnlen(a[i].s, max + 1) > max) {
			log_warn("store: %s: %.*s longer than %zu bytes", query_name[q], t->plen[i],
			    t->pname[i], max);
			return (NULL);
		}
	}
	snprintf(name, sizeof(name), "q%d", (int)q);
	if (!c->prepared[q]) {
		res = PQprepare(c->pg, name, t->sql, (int)na, types);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fail(c, query_name[q], res);
			PQclear(res);
			return (NULL);
		}
		PQclear(res);
		c->prepared[q] = 1;
	}
	if ((res = PQexecPrepared(c->pg, name, (int)na, vals, NULL, NULL, 0)) == NULL)
		fail(c, query_name[q], NULL);
	return (res);
}

/*
 * Run ${q} on ${c} with arguments ${a}, ${na}, expecting no row back.
 * Stores the number of rows changed in ${changes} if not NULL.  Returns 0,
 * STORE_CONFLICT or -1.
 */
static int
c_exec(struct store_conn *c, int q, const struct store_arg *a, size_t na, int *changes)
{
	PGresult *res;
	int rc = 0;

	if ((res = run(c, q, a, na)) == NULL)
		return (-1);
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
		if (changes != NULL)
			*changes = atoi(PQcmdTuples(res));
		break;
	case PGRES_TUPLES_OK:
		log_err("store: %s: unexpected row", query_name[q]);
		rc = -1;
		break;
	default:
		rc = fail(c, query_name[q], res);
	}
	PQclear(res);
	return (rc);
}

/*
 * Run ${q} on ${c} and copy its first row into ${out} with ${row}.  Returns
 * 0, STORE_NOTFOUND if there was no row, STORE_CONFLICT or -1.
 */
static int
c_one(struct store_conn *c, int q, const struct store_arg *a, size_t na, store_rowfn *row,
    void *out)
{
	struct store_row r;
	PGresult *res;
	int rc;

	if ((res = run(c, q, a, na)) == NULL)
		return (-1);
	r = (struct store_row)ROW(res, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = fail(c, query_name[q], res);
	} else if (PQntuples(res) == 0) {
		rc = STORE_NOTFOUND;
	} else if (row(&r, out)) {
		log_err("store: %s: out of memory", query_name[q]);
		rc = -1;
	} else {
		rc = 0;
	}
	PQclear(res);
	return (rc);
}

/* Column ${j} of row ${i} of ${res} as an integer (0 for NULL). */
static int64_t
get_int(const PGresult *res, int i, int j)
{
	if (PQgetisnull(res, i, j))
		return (0);
	return ((int64_t)strtoll(PQgetvalue(res, i, j), NULL, 10));
}

/* Column ${j} of the row of ${r} as an integer (0 for NULL). */
static int64_t
col_int(const struct store_row *r, int j)
{
	return (get_int(r->h, r->i, j));
}

/* Column ${j} of the row of ${r} as text; NULL for SQL NULL.  0 or -1. */
static int
col_text(const struct store_row *r, int j, const char **t, size_t *len)
{
	const PGresult *res = r->h;
	int n;

	*t = NULL;
	*len = 0;
	if (PQgetisnull(res, r->i, j))
		return (0);
	if ((n = PQgetlength(res, r->i, j)) < 0)
		return (-1);
	*t = PQgetvalue(res, r->i, j);
	*len = (size_t)n;
	return (0);
}

/* Ignore a row (pg_advisory_xact_lock's void). */
static int
row_none(const struct store_row *r, void *out)
{
	(void)r;
	(void)out;
	return (0);
}

/* Set up the session of a new or reset connection ${c}.  0 or -1. */
static int
configure(struct store_conn *c)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SET statement_timeout = %d", WAIT_MS);
	return (simple_cmd(c, "configure", sql));
}

/* Reset the broken connection ${c} once: a new session, so its prepared
 * statements are gone.  0 or -1 (logged). */
static int
reconnect(struct store_conn *c)
{
	char buf[MSG_MAX];
	int rc = -1;

	c->resetting = 1;
	memset(c->prepared, 0, sizeof(c->prepared));
	PQreset(c->pg);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		log_err("store: cannot reconnect to %s: %s", c->st->where,
		    clean(c->st, PQerrorMessage(c->pg), buf));
	} else if (configure(c) == 0) {
		log_info("store: reconnected to %s", c->st->where);
		rc = 0;
	}
	c->resetting = 0;
	return (rc);
}

/* Open a connection to the database of ${st}.  NULL on failure (logged). */
static struct store_conn *
open_conn(struct state *st)
{
	/* Keywords before dbname are defaults the URL may override. */
	const char *const kw[] = {"connect_timeout", "application_name", "client_encoding",
	    "dbname", NULL};
	const char *vals[] = {CONNECT_TIMEOUT_S, "mcpgate", "UTF8", st->url, NULL};
	struct store_conn *c;
	char buf[MSG_MAX];

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_err("store: out of memory");
		goto err0;
	}
	c->st = st;
	if ((c->pg = PQconnectdbParams(kw, vals, 1)) == NULL) {
		log_err("store: out of memory");
		goto err1;
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		log_err("store: cannot connect to %s: %s", st->where,
		    clean(st, PQerrorMessage(c->pg), buf));
		goto err2;
	}
	c->resetting = 1;
	if (configure(c))
		goto err2;
	c->resetting = 0;

	/* Success! */
	return (c);

err2:
	PQfinish(c->pg);
err1:
	free(c);
err0:
	/* Failure! */
	return (NULL);
}

/* Close ${c} and free it. */
static void
close_conn(struct store_conn *c)
{
	PQfinish(c->pg);
	free(c);
}

/* Deadline ${ms} milliseconds from now on CLOCK_MONOTONIC. */
static void
deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Take a free connection of ${s}, opening one if fewer than POOL_MAX are
 * open or being opened, else waiting at most WAIT_MS for one.  A broken
 * connection is reset first.  NULL on failure (logged).
 */
static void release(struct store *s, struct store_conn *c);

static struct store_conn *
acquire(struct store *s)
{
	struct state *st = s->state;
	struct store_conn *c = NULL;
	struct timespec deadline;
	int rc = 0, open = 0;

	deadline_in(&deadline, WAIT_MS);
	pthread_mutex_lock(&st->mtx);
	while (st->idle == NULL && st->nall + st->nopening >= POOL_MAX && rc == 0)
		rc = pthread_cond_timedwait(&st->cv, &st->mtx, &deadline);
	if (st->idle != NULL) {
		c = st->idle;
		st->idle = c->next;
		c->next = NULL;
	} else if (st->nall + st->nopening < POOL_MAX) {
		st->nopening++;
		open = 1;
	} else {
		log_err("store: no free database connection after %d ms", WAIT_MS);
	}
	pthread_mutex_unlock(&st->mtx);

	if (open) {
		/* Connecting may take up to connect_timeout: not under the lock. */
		c = open_conn(st);
		pthread_mutex_lock(&st->mtx);
		st->nopening--;
		if (c != NULL)
			st->all[st->nall++] = c;
		else
			pthread_cond_signal(&st->cv);
		pthread_mutex_unlock(&st->mtx);
	}
	if (c != NULL && PQstatus(c->pg) == CONNECTION_BAD && reconnect(c)) {
		release(s, c);
		c = NULL;
	}
	return (c);
}

/* Give ${c} back to the pool of ${s}. */
static void
release(struct store *s, struct store_conn *c)
{
	struct state *st = s->state;
	PGresult *res;

	/* A failed statement inside a transaction must not leak the open
	 * transaction to the next user of the connection. */
	if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		res = PQexec(c->pg, "ROLLBACK");
		PQclear(res);
	}
	pthread_mutex_lock(&st->mtx);
	c->next = st->idle;
	st->idle = c;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mtx);
}

/* Transactions: READ COMMITTED. */
static int
begin(struct store_conn *c)
{
	return (simple_cmd(c, "BEGIN", "BEGIN"));
}

/* COMMIT of a transaction in error answers ROLLBACK: that is a failure. */
static int
commit(struct store_conn *c)
{
	PGresult *res;
	int rc;

	if ((res = simple(c, "COMMIT", "COMMIT", PGRES_COMMAND_OK)) == NULL)
		return (-1);
	rc = strcmp(PQcmdStatus(res), "COMMIT") == 0 ? 0 : -1;
	if (rc)
		log_err("store: COMMIT: transaction rolled back");
	PQclear(res);
	return (rc);
}

static void
rollback(struct store_conn *c)
{
	PGresult *res;

	if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		res = PQexec(c->pg, "ROLLBACK");
		PQclear(res);
	}
}

/*
 * Run ${q} with ${a}, ${na} and call ${each_row}(row, ${ctx}) for each
 * row.  The result is read whole and the connection given back before the
 * first call, so callbacks may use the store freely.
 */
static int
each(struct store *s, int q, const struct store_arg *a, size_t na, store_rowfn *each_row,
    void *ctx)
{
	struct store_row r;
	struct store_conn *c;
	PGresult *res;
	int i, n, rc = 0;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((res = run(c, q, a, na)) == NULL) {
		release(s, c);
		return (-1);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail(c, query_name[q], res);
		release(s, c);
		PQclear(res);
		return (-1);
	}
	release(s, c);
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		r = (struct store_row)ROW(res, i);
		if (each_row(&r, ctx)) {
			log_err("store: %s: out of memory", query_name[q]);
			rc = -1;
			break;
		}
	}
	PQclear(res);
	return (rc);
}

/* Bring the schema to STORE_SQL_VERSION.  0 or -1 (logged). */
static int
migrate(struct store_conn *c)
{
	PGresult *res;
	char sql[160];
	int v = 0, exists;

	/* The advisory lock is held until COMMIT or ROLLBACK: a second node
	 * starting at the same time waits here, then finds the schema made. */
	if (begin(c))
		return (-1);
	if ((res = simple(c, "migrate", MIGRATE_LOCK, PGRES_TUPLES_OK)) == NULL)
		goto err;
	PQclear(res);
	if ((res = simple(c, "migrate", "SELECT to_regclass('schema_version') IS NOT NULL",
		 PGRES_TUPLES_OK)) == NULL)
		goto err;
	exists = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (exists) {
		if ((res = simple(c, "migrate", "SELECT version FROM schema_version",
			 PGRES_TUPLES_OK)) == NULL)
			goto err;
		if (PQntuples(res) == 1)
			v = (int)get_int(res, 0, 0);
		PQclear(res);
	} else if (simple_cmd(c, "migrate", SCHEMA_TABLE)) {
		goto err;
	}
	if (v < 0 || v > STORE_SQL_VERSION) {
		log_err("store: database schema version %d is newer than this program's (%d)", v,
		    STORE_SQL_VERSION);
		goto err;
	}
	if (v < STORE_SQL_VERSION)
		log_info("store: migrating schema from version %d to %d", v, STORE_SQL_VERSION);
	for (; v < STORE_SQL_VERSION; v++) {
		if (simple_cmd(c, "migrate", store_sql_migrations[v]))
			goto err;
	}
	snprintf(sql, sizeof(sql),
	    "INSERT INTO schema_version (one, version) VALUES (1, %d) "
	    "ON CONFLICT (one) DO UPDATE SET version = excluded.version",
	    STORE_SQL_VERSION);
	if (simple_cmd(c, "migrate", sql) || commit(c))
		goto err;
	return (0);

err:
	rollback(c);
	return (-1);
}

/* Describe the database of ${url} for the log in ${st}->where, and keep
 * its password (if any) to keep it out of messages.  0 or -1 (logged). */
static int
describe(struct state *st, const char *url)
{
	PQconninfoOption *opts, *o;
	const char *db = NULL, *host = NULL, *hostaddr = NULL;
	char *err = NULL;

	if ((opts = PQconninfoParse(url, &err)) == NULL) {
		/* The parser's message may quote the URL: do not print it. */
		log_err("store: malformed PostgreSQL URL");
		PQfreemem(err);
		return (-1);
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
		else if (strcmp(o->keyword, "password") == 0 &&
		    (st->password = strdup(o->val)) == NULL) {
			PQconninfoFree(opts);
			log_err("store: out of memory");
			return (-1);
		}
	}
	snprintf(st->where, sizeof(st->where), "database %s on %s",
	    db != NULL ? db : "(default)",
	    host != NULL ? host : hostaddr != NULL ? hostaddr : "the default socket");
	/* The conninfo options hold the password too. */
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val != NULL && strcmp(o->keyword, "password") == 0)
			secret_wipe(o->val, strlen(o->val));
	}
	PQconninfoFree(opts);
	return (0);
}

/* Wipe and free ${p}. */
static void
wipe_free(char **p)
{
	if (*p != NULL) {
		secret_wipe(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static int
pg_open(struct store *s, const char *url)
{
	struct state *st = s->state;
	pthread_condattr_t ca;
	struct store_conn *c;

	if (!PQisthreadsafe()) {
		log_err("store: libpq was built without thread support");
		goto err0;
	}
	st->base.be = &backend;
	pthread_once(&translate_once, translate_all);
	if (translate_failed)
		goto err0;
	if (describe(st, url))
		goto err0;
	if ((st->url = strdup(url)) == NULL) {
		log_err("store: out of memory");
		goto err1;
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
	if ((c = open_conn(st)) == NULL)
		goto err3;
	if (migrate(c))
		goto err4;
	st->all[0] = c;
	st->nall = 1;
	st->idle = c;
	log_info("store: PostgreSQL %s", st->where);

	/* Success! */
	return (0);

err4:
	close_conn(c);
err3:
	pthread_cond_destroy(&st->cv);
err2:
	pthread_mutex_destroy(&st->mtx);
err1:
	wipe_free(&st->url);
	wipe_free(&st->password);
err0:
	/* Failure! */
	return (-1);
}

/* Close every connection.  No other call may be running or start. */
static void
pg_close(struct store *s)
{
	struct state *st = s->state;
	size_t i;

	for (i = 0; i < st->nall; i++)
		close_conn(st->all[i]);
	st->nall = 0;
	st->idle = NULL;
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mtx);
	wipe_free(&st->url);
	wipe_free(&st->password);
}

/* Lock ${code_digest} until the end of the transaction on ${c} (see
 * CODE_LOCK).  0 or -1. */
static int
lock_code(struct store_conn *c, const char *code_digest)
{
	int64_t none;

	return (c_one(c, Q_CODE_LOCK, ARGS(A_ID(code_digest)), row_none, &none) != 0 ? -1 : 0);
}

/* Whether fail() saw the server roll this thread's transaction back since
 * the last call. */
static int
rolled_back(void)
{
	int r = retry_hint;

	retry_hint = 0;
	return (r);
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
	.lock_code = lock_code,
	.family_first = 1,
	.rolled_back = rolled_back,
};

const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	STORE_OPS_SHARED,
	.state_size = sizeof(struct state),
};
