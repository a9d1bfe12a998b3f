/*
 * store_pg: the PostgreSQL backend of store.h, the shared store of several
 * nodes.
 *
 * The schema and the statements are store_sqlite.c's (store_sql.h), with
 * their :name parameters rewritten as $1..$n once per process.  Statements
 * run in READ COMMITTED, PostgreSQL's default: a compare-and-swap UPDATE
 * (code_consume, refresh_rotate, authreq_take, client_mark_used) that meets
 * a row another transaction is changing waits for that transaction and then
 * evaluates its WHERE clause again against the committed row, so exactly one
 * of several concurrent callers changes it.  Where SQLite's single writer
 * did more, locks do it here: transactions lock a family row before its
 * tokens (refresh_rotate included, so that it cannot deadlock with a
 * revocation), and a family made from a code is made under an advisory lock
 * on the code that family_revoke_by_code takes too (CODE_LOCK).  A
 * transaction the server rolls back for a deadlock is run again once.
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
#include "store/store_sql.h"

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
enum query { QUERIES(AS_ENUM) NQUERIES };
static const char *const query_sql[NQUERIES] = {QUERIES(AS_SQL)};
static const char *const query_name[NQUERIES] = {QUERIES(AS_NAME)};

/* Set by fail() when the server rolled a transaction back for a deadlock
 * or a serialization failure: the operation may be run again (RETRY_ONCE). */
static _Thread_local int retry_hint;

/*
 * Return ${call}, run again once if it failed with retry_hint set.  The
 * server has rolled the whole transaction back, so running it again cannot
 * apply anything twice; a compare-and-swap is evaluated afresh.
 */
#define RETRY_ONCE(call)                                                                           \
	do {                                                                                       \
		int rc_;                                                                           \
                                                                                                   \
		retry_hint = 0;                                                                    \
		if ((rc_ = (call)) == -1 && retry_hint) {                                          \
			log_info("store: transaction rolled back by the server, run again");       \
			retry_hint = 0;                                                            \
			rc_ = (call);                                                              \
		}                                                                                  \
		return (rc_);                                                                      \
	} while (0)

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

/* How families are named in family_revoke, _by_code, consent_revoke and
 * user_del. */
enum famsel { SEL_BY_ID, SEL_BY_CODE, SEL_BY_GRANT, SEL_BY_SUB };

struct state;

/* One connection and the statements prepared on it; in the idle list when
 * free. */
struct conn {
	PGconn *pg;
	struct state *st;
	unsigned char prepared[NQUERIES];
	int resetting; /* in reconnect() or being set up: fail() must not reset */
	struct conn *next;
};

struct state {
	char *url;		   /* may hold a password: wiped when freed */
	char *password;		   /* from the URL, to keep it out of messages */
	char where[WHERE_MAX];	   /* "database D on H", for the log */
	pthread_mutex_t mtx;
	pthread_cond_t cv; /* signalled when a connection or a slot frees */
	struct conn *all[POOL_MAX];
	size_t nall;
	size_t nopening; /* slots taken by connections being opened */
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

/* A row reader: copy row ${i} of ${res} into ${out}; 0 or -1. */
typedef int rowfn(const PGresult *res, int i, void *out);

static int reconnect(struct conn *c);
static int revoke_families(struct conn *c, enum famsel sel, int64_t now, const struct arg *a,
    size_t na, int64_t *nfam);

/* Rewrite query ${q}'s :name parameters as $1..$n.  0 or -1. */
static int
translate(enum query q)
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
		if (translate((enum query)q)) {
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
fail(struct conn *c, const char *what, const PGresult *res)
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
simple(struct conn *c, const char *what, const char *sql, ExecStatusType want)
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
simple_cmd(struct conn *c, const char *what, const char *sql)
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
run(struct conn *c, enum query q, const struct arg *a, size_t na)
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
c_exec(struct conn *c, enum query q, const struct arg *a, size_t na, int *changes)
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
c_one(struct conn *c, enum query q, const struct arg *a, size_t na, rowfn *row, void *out)
{
	PGresult *res;
	int rc;

	if ((res = run(c, q, a, na)) == NULL)
		return (-1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = fail(c, query_name[q], res);
	} else if (PQntuples(res) == 0) {
		rc = STORE_NOTFOUND;
	} else if (row(res, 0, out)) {
		log_err("store: %s: out of memory", query_name[q]);
		rc = -1;
	} else {
		rc = 0;
	}
	PQclear(res);
	return (rc);
}

/* Column ${j} of row ${i} as an integer (0 for NULL). */
static int64_t
col_int(const PGresult *res, int i, int j)
{
	if (PQgetisnull(res, i, j))
		return (0);
	return ((int64_t)strtoll(PQgetvalue(res, i, j), NULL, 10));
}

/* Copy column ${j} of row ${i} into ${out}: NULL for SQL NULL.  0 or -1. */
static int
col_str(const PGresult *res, int i, int j, char **out)
{
	int n;

	*out = NULL;
	if (PQgetisnull(res, i, j))
		return (0);
	n = PQgetlength(res, i, j);
	if (n < 0 || (*out = malloc((size_t)n + 1)) == NULL)
		return (-1);
	memcpy(*out, PQgetvalue(res, i, j), (size_t)n);
	(*out)[n] = '\0';
	return (0);
}

/* Read a count(*) or other single integer. */
static int
row_int(const PGresult *res, int i, void *out)
{
	*(int64_t *)out = col_int(res, i, 0);
	return (0);
}

/* Ignore a row (pg_advisory_xact_lock's void). */
static int
row_none(const PGresult *res, int i, void *out)
{
	(void)res;
	(void)i;
	(void)out;
	return (0);
}

/* Set up the session of a new or reset connection ${c}.  0 or -1. */
static int
configure(struct conn *c)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SET statement_timeout = %d", WAIT_MS);
	return (simple_cmd(c, "configure", sql));
}

/* Reset the broken connection ${c} once: a new session, so its prepared
 * statements are gone.  0 or -1 (logged). */
static int
reconnect(struct conn *c)
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
static struct conn *
open_conn(struct state *st)
{
	/* Keywords before dbname are defaults the URL may override. */
	const char *const kw[] = {"connect_timeout", "application_name", "client_encoding",
	    "dbname", NULL};
	const char *vals[] = {CONNECT_TIMEOUT_S, "mcpgate", "UTF8", st->url, NULL};
	struct conn *c;
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
close_conn(struct conn *c)
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
static void release(struct store *s, struct conn *c);

static struct conn *
acquire(struct store *s)
{
	struct state *st = s->state;
	struct conn *c = NULL;
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
release(struct store *s, struct conn *c)
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
begin(struct conn *c)
{
	return (simple_cmd(c, "BEGIN", "BEGIN"));
}

/* COMMIT of a transaction in error answers ROLLBACK: that is a failure. */
static int
commit(struct conn *c)
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
rollback(struct conn *c)
{
	PGresult *res;

	if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		res = PQexec(c->pg, "ROLLBACK");
		PQclear(res);
	}
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
 * Run ${q} with ${a}, ${na} and call ${each_row}(res, i, ${ctx}) for each
 * row.  The result is read whole and the connection given back before the
 * first call, so callbacks may use the store freely.
 */
static int
each(struct store *s, enum query q, const struct arg *a, size_t na,
    int (*each_row)(const PGresult *res, int i, void *ctx), void *ctx)
{
	struct conn *c;
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
		if (each_row(res, i, ctx)) {
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
migrate(struct conn *c)
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
			v = (int)col_int(res, 0, 0);
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
	struct conn *c;

	if (!PQisthreadsafe()) {
		log_err("store: libpq was built without thread support");
		goto err0;
	}
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

/* Users. */

static int
row_user(const PGresult *res, int i, void *out)
{
	struct store_user *u = out;

	if (col_str(res, i, 0, &u->sub) || col_str(res, i, 1, &u->username) ||
	    col_str(res, i, 2, &u->password_hash))
		return (-1);
	u->created_at = col_int(res, i, 3);
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
user_set_password_once(struct store *s, const char *username, const char *password_hash)
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

static int
user_set_password(struct store *s, const char *username, const char *password_hash)
{
	RETRY_ONCE(user_set_password_once(s, username, password_hash));
}

/*
 * Deleting a user must also take away what still acts for it: a browser
 * session would otherwise keep getting codes through remembered consents,
 * and refresh tokens would keep minting access tokens for a subject that no
 * longer exists (a removed account keeping access for up to refresh_ttl).
 * All of it goes in the transaction that deletes the user.
 */
static int
user_del_once(struct store *s, const char *username, int64_t now)
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

static int
user_del(struct store *s, const char *username, int64_t now)
{
	RETRY_ONCE(user_del_once(s, username, now));
}

struct user_cb {
	void (*cb)(void *arg, const struct store_user *u);
	void *arg;
};

static int
each_user(const PGresult *res, int i, void *ctx)
{
	struct user_cb *x = ctx;
	struct store_user u = {0};

	if (row_user(res, i, &u)) {
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
row_client(const PGresult *res, int i, void *out)
{
	struct store_client *c = out;

	if (col_str(res, i, 0, &c->client_id) || col_str(res, i, 1, &c->secret_digest) ||
	    col_str(res, i, 2, &c->name) || col_str(res, i, 3, &c->redirect_uris) ||
	    col_str(res, i, 4, &c->grant_types) || col_str(res, i, 5, &c->scope) ||
	    col_str(res, i, 6, &c->auth_method) || col_str(res, i, 7, &c->metadata))
		return (-1);
	c->dynamic = (int)col_int(res, i, 8);
	c->created_at = col_int(res, i, 9);
	c->secret_expires_at = col_int(res, i, 10);
	c->first_token_at = col_int(res, i, 11);
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
each_client(const PGresult *res, int i, void *ctx)
{
	struct client_cb *x = ctx;
	struct store_client c = {0};

	if (row_client(res, i, &c)) {
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
row_code(const PGresult *res, int i, void *out)
{
	struct store_code *c = out;

	if (col_str(res, i, 0, &c->digest) || col_str(res, i, 1, &c->client_id) ||
	    col_str(res, i, 2, &c->sub) || col_str(res, i, 3, &c->redirect_uri) ||
	    col_str(res, i, 4, &c->code_challenge) || col_str(res, i, 5, &c->resource) ||
	    col_str(res, i, 6, &c->scope))
		return (-1);
	c->auth_time = col_int(res, i, 7);
	c->expires_at = col_int(res, i, 8);
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
row_refresh(const PGresult *res, int i, void *out)
{
	struct store_refresh *r = out;

	if (col_str(res, i, 0, &r->digest) || col_str(res, i, 1, &r->family_id) ||
	    col_str(res, i, 2, &r->client_id) || col_str(res, i, 3, &r->sub) ||
	    col_str(res, i, 4, &r->scope) || col_str(res, i, 5, &r->resource) ||
	    col_str(res, i, 6, &r->code_digest))
		return (-1);
	r->created_at = col_int(res, i, 7);
	r->expires_at = col_int(res, i, 8);
	r->idle_expires_at = col_int(res, i, 9);
	r->rotated = (int)col_int(res, i, 10);
	r->revoked = (int)col_int(res, i, 11);
	return (0);
}

/* Create the family row of ${family_id} if absent, and fill in what it
 * does not know yet.  The row stays locked until the end of the caller's
 * transaction; a family from a code is made under the code's lock (see
 * CODE_LOCK). */
static int
family_put(struct conn *c, const char *family_id, const char *code_digest, const char *client_id,
    const char *sub, int64_t created_at)
{
	int64_t none;

	if (code_digest != NULL &&
	    c_one(c, Q_CODE_LOCK, ARGS(A_ID(code_digest)), row_none, &none) != 0)
		return (-1);
	return (c_exec(c, Q_FAMILY_PUT,
	    ARGS(A_ID(family_id), A_ID(code_digest), A_ID(client_id), A_ID(sub),
		A_INT(created_at)),
	    NULL));
}

/* Insert ${r} inside the caller's transaction on ${c}, after family_put()
 * of its family.  A token added to a revoked family is born revoked. */
static int
refresh_insert(struct conn *c, const struct store_refresh *r)
{
	int rc, n = 0;

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
refresh_add_once(struct store *s, const struct store_refresh *r)
{
	struct conn *c;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(c)) != 0)
		goto out;
	if ((rc = family_put(c, r->family_id, r->code_digest, r->client_id, r->sub,
		 r->created_at)) != 0 ||
	    (rc = refresh_insert(c, r)) != 0) {
		rollback(c);
		goto out;
	}
	rc = commit(c);
out:
	release(s, c);
	return (rc);
}

static int
refresh_add(struct store *s, const struct store_refresh *r)
{
	RETRY_ONCE(refresh_add_once(s, r));
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
refresh_rotate_once(struct store *s, const char *old_digest, int64_t now,
    const struct store_refresh *next)
{
	struct conn *c;
	int rc, n = 0;

	if ((c = acquire(s)) == NULL)
		return (-1);
	/*
	 * The family row first, then the token: revocations lock in that
	 * order too, so the two cannot deadlock.  A concurrent rotation of the
	 * same token waits on the family row, then its UPDATE finds
	 * rotated = 1 in the committed row.
	 */
	if ((rc = begin(c)) != 0)
		goto out;
	if ((rc = family_put(c, next->family_id, next->code_digest, next->client_id, next->sub,
		 next->created_at)) != 0)
		goto fail;
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

static int
refresh_rotate(struct store *s, const char *old_digest, int64_t now,
    const struct store_refresh *next)
{
	RETRY_ONCE(refresh_rotate_once(s, old_digest, now, next));
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
revoke_tx_once(struct store *s, enum famsel sel, int64_t now, const struct arg *a, size_t na)
{
	struct conn *c;
	int64_t nfam = 0;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(c)) != 0)
		goto out;
	if (sel == SEL_BY_CODE && c_one(c, Q_CODE_LOCK, a, na, row_none, &nfam) != 0) {
		rollback(c);
		rc = -1;
		goto out;
	}
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
revoke_tx(struct store *s, enum famsel sel, int64_t now, const struct arg *a, size_t na)
{
	RETRY_ONCE(revoke_tx_once(s, sel, now, a, na));
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
each_refresh(const PGresult *res, int i, void *ctx)
{
	struct refresh_cb *x = ctx;
	struct store_refresh r = {0};

	if (row_refresh(res, i, &r)) {
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
access_add_once(struct store *s, const struct store_access *a)
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
access_add(struct store *s, const struct store_access *a)
{
	RETRY_ONCE(access_add_once(s, a));
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
each_jti(const PGresult *res, int i, void *ctx)
{
	struct jti_cb *x = ctx;

	if (PQgetisnull(res, i, 0))
		return (-1);
	x->cb(x->arg, PQgetvalue(res, i, 0), col_int(res, i, 1));
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
row_consent(const PGresult *res, int i, void *out)
{
	struct store_consent *c = out;

	if (col_str(res, i, 0, &c->sub) || col_str(res, i, 1, &c->client_id) ||
	    col_str(res, i, 2, &c->resource) || col_str(res, i, 3, &c->scope))
		return (-1);
	if (c->resource != NULL && c->resource[0] == '\0') {
		free(c->resource);
		c->resource = NULL;
	}
	c->granted_at = col_int(res, i, 4);
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
each_consent(const PGresult *res, int i, void *ctx)
{
	struct consent_cb *x = ctx;
	struct store_consent c = {0};

	if (row_consent(res, i, &c)) {
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
consent_revoke_once(struct store *s, const char *sub, const char *client_id, int64_t now)
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

static int
consent_revoke(struct store *s, const char *sub, const char *client_id, int64_t now)
{
	RETRY_ONCE(consent_revoke_once(s, sub, client_id, now));
}

/* Sessions. */

static int
row_session(const PGresult *res, int i, void *out)
{
	struct store_session *se = out;

	if (col_str(res, i, 0, &se->digest) || col_str(res, i, 1, &se->sub))
		return (-1);
	se->auth_time = col_int(res, i, 2);
	se->expires_at = col_int(res, i, 3);
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
row_authreq(const PGresult *res, int i, void *out)
{
	struct store_authreq *a = out;

	if (col_str(res, i, 0, &a->digest) || col_str(res, i, 1, &a->browser_digest) ||
	    col_str(res, i, 2, &a->csrf_digest) || col_str(res, i, 3, &a->client_id) ||
	    col_str(res, i, 4, &a->redirect_uri) || col_str(res, i, 5, &a->state) ||
	    col_str(res, i, 6, &a->code_challenge) || col_str(res, i, 7, &a->resource) ||
	    col_str(res, i, 8, &a->scope))
		return (-1);
	a->expires_at = col_int(res, i, 9);
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
row_key(const PGresult *res, int i, void *out)
{
	struct store_key *k = out;

	if (col_str(res, i, 0, &k->kid) || col_str(res, i, 1, &k->alg) ||
	    col_str(res, i, 2, &k->public_jwk) || col_str(res, i, 3, &k->private_enc))
		return (-1);
	k->created_at = col_int(res, i, 4);
	k->retired_at = col_int(res, i, 5);
	k->publish_until = col_int(res, i, 6);
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
each_key(const PGresult *res, int i, void *ctx)
{
	struct key_cb *x = ctx;
	struct store_key k = {0};

	if (row_key(res, i, &k)) {
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
purge_once(struct store *s, int64_t now)
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

static int
purge(struct store *s, int64_t now)
{
	RETRY_ONCE(purge_once(s, now));
}

const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
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
