/*
 * store_ops: the operations of store.h on the SQL of store_sql.h, shared
 * by the SQL backends through the primitives of store_backend.h.
 *
 * Every operation that must be atomic is one statement, or several inside
 * one transaction of the backend (BEGIN IMMEDIATE in SQLite, which takes
 * the write lock first; READ COMMITTED in PostgreSQL, where the
 * compare-and-swap UPDATEs of code_consume, refresh_rotate, authreq_take
 * and client_mark_used are evaluated again against the committed row).
 * What a backend needs beyond the statements it states in its struct
 * store_backend: a lock on a code (lock_code), the family row written
 * before a rotated token (family_first), and one more run of a transaction
 * the server rolled back (rolled_back).
 */
#include "store/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/store_backend.h"

/* How families are named in family_revoke, _by_code, consent_revoke and
 * user_del. */
enum famsel { SEL_BY_ID, SEL_BY_CODE, SEL_BY_GRANT, SEL_BY_SUB };

/* The backend of ${s}: its state begins with a struct store_base. */
#define BE(s) (((const struct store_base *)(s)->state)->be)

/*
 * Return ${call}, run again once if it failed and the backend says the
 * server rolled its transaction back.  The whole transaction was rolled
 * back, so running it again cannot apply anything twice; a compare-and-swap
 * is evaluated afresh.
 */
#define RETRY_ONCE(s, call)                                                                        \
	do {                                                                                       \
		const struct store_backend *be_ = BE(s);                                           \
		int rc_;                                                                           \
                                                                                                   \
		if (be_->rolled_back != NULL)                                                      \
			(void)be_->rolled_back();                                                  \
		if ((rc_ = (call)) == -1 && be_->rolled_back != NULL && be_->rolled_back()) {      \
			log_info("store: transaction rolled back by the server, run again");       \
			rc_ = (call);                                                              \
		}                                                                                  \
		return (rc_);                                                                      \
	} while (0)

static int revoke_families(struct store *s, struct store_conn *c, enum famsel sel, int64_t now,
    const struct store_arg *a, size_t na, int64_t *nfam);

/* The primitives of the backend of ${s}. */
static struct store_conn *
acquire(struct store *s)
{
	return (BE(s)->acquire(s));
}

static void
release(struct store *s, struct store_conn *c)
{
	BE(s)->release(s, c);
}

static int
begin(struct store *s, struct store_conn *c)
{
	return (BE(s)->begin(c));
}

static int
commit(struct store *s, struct store_conn *c)
{
	return (BE(s)->commit(c));
}

static void
rollback(struct store *s, struct store_conn *c)
{
	BE(s)->rollback(c);
}

static int
c_exec(struct store *s, struct store_conn *c, enum store_query q, const struct store_arg *a,
    size_t na, int *changes)
{
	return (BE(s)->exec(c, q, a, na, changes));
}

static int
c_one(struct store *s, struct store_conn *c, enum store_query q, const struct store_arg *a,
    size_t na, store_rowfn *row, void *out)
{
	return (BE(s)->one(c, q, a, na, row, out));
}

static int
each(struct store *s, enum store_query q, const struct store_arg *a, size_t na, store_rowfn *row,
    void *ctx)
{
	return (BE(s)->each(s, q, a, na, row, ctx));
}

/* Run ${q} with ${a}, ${na} on a connection of ${s}, expecting no row. */
static int
exec1(struct store *s, enum store_query q, const struct store_arg *a, size_t na, int *changes)
{
	struct store_conn *c;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	rc = c_exec(s, c, q, a, na, changes);
	release(s, c);
	return (rc);
}

/* Run ${q} with ${a}, ${na} on a connection of ${s}; copy its first row
 * into ${out} with ${row}. */
static int
one(struct store *s, enum store_query q, const struct store_arg *a, size_t na, store_rowfn *row,
    void *out)
{
	struct store_conn *c;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	rc = c_one(s, c, q, a, na, row, out);
	release(s, c);
	return (rc);
}

/* Read a count(*) or other single integer. */
static int
row_int(const struct store_row *r, void *out)
{
	*(int64_t *)out = r->col_int(r, 0);
	return (0);
}

/* Copy column ${j} of ${r} into ${out}: NULL for SQL NULL.  0 or -1. */
static int
row_str(const struct store_row *r, int j, char **out)
{
	const char *t;
	size_t n;

	*out = NULL;
	if (r->col_text(r, j, &t, &n))
		return (-1);
	if (t == NULL)
		return (0);
	if ((*out = malloc(n + 1)) == NULL)
		return (-1);
	memcpy(*out, t, n);
	(*out)[n] = '\0';
	return (0);
}

/* Users. */

static int
row_user(const struct store_row *r, void *out)
{
	struct store_user *u = out;

	if (row_str(r, 0, &u->sub) || row_str(r, 1, &u->username) ||
	    row_str(r, 2, &u->password_hash))
		return (-1);
	u->created_at = r->col_int(r, 3);
	return (0);
}

int
store_ops_user_add(struct store *s, const struct store_user *u)
{
	return (exec1(s, Q_USER_ADD,
	    ARGS(A_ID(u->sub), A_ID(u->username), A_TXT(u->password_hash), A_INT(u->created_at)),
	    NULL));
}

/* Fetch one user with ${q} and key ${key} into ${out}. */
static int
user_fetch(struct store *s, enum store_query q, const char *key, struct store_user *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one(s, q, ARGS(A_ID(key)), row_user, out)) != 0)
		store_user_clear(out);
	return (rc);
}

int
store_ops_user_get(struct store *s, const char *username, struct store_user *out)
{
	return (user_fetch(s, Q_USER_GET, username, out));
}

int
store_ops_user_get_by_sub(struct store *s, const char *sub, struct store_user *out)
{
	return (user_fetch(s, Q_USER_GET_SUB, sub, out));
}

/* Run a DELETE or UPDATE ${q} keyed by one identifier; STORE_NOTFOUND if
 * no row changed. */
static int
change_one(struct store *s, enum store_query q, const char *key)
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
	struct store_conn *c;
	int rc, n = 0;

	memset(&u, 0, sizeof(u));
	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(s, c)) != 0)
		goto out;
	if ((rc = c_one(s, c, Q_USER_GET, ARGS(A_ID(username)), row_user, &u)) != 0)
		goto fail;
	if ((rc = c_exec(s, c, Q_USER_SET_PASSWORD, ARGS(A_TXT(password_hash), A_ID(username)),
		 &n)) != 0 ||
	    (rc = c_exec(s, c, Q_SESSION_DEL_SUB, ARGS(A_ID(u.sub)), NULL)) != 0) {
		rc = -1;
		goto fail;
	}
	rc = commit(s, c);
	goto out;
fail:
	rollback(s, c);
out:
	release(s, c);
	store_user_clear(&u);
	return (rc);
}

int
store_ops_user_set_password(struct store *s, const char *username, const char *password_hash)
{
	RETRY_ONCE(s, user_set_password_once(s, username, password_hash));
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
	struct store_conn *c;
	int64_t nfam = 0;
	int rc, n = 0;

	memset(&u, 0, sizeof(u));
	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(s, c)) != 0)
		goto out;
	if ((rc = c_one(s, c, Q_USER_GET, ARGS(A_ID(username)), row_user, &u)) != 0)
		goto fail;
	if ((rc = c_exec(s, c, Q_USER_DEL, ARGS(A_ID(username)), &n)) != 0 ||
	    (rc = c_exec(s, c, Q_SESSION_DEL_SUB, ARGS(A_ID(u.sub)), NULL)) != 0 ||
	    (rc = c_exec(s, c, Q_CONSENT_DEL_SUB, ARGS(A_ID(u.sub)), NULL)) != 0 ||
	    (rc = c_exec(s, c, Q_CODE_DEL_SUB, ARGS(A_ID(u.sub)), NULL)) != 0 ||
	    (rc = revoke_families(s, c, SEL_BY_SUB, now, ARGS(A_ID(u.sub)), &nfam)) != 0) {
		rc = -1;
		goto fail;
	}
	rc = commit(s, c);
	goto out;

fail:
	rollback(s, c);
out:
	release(s, c);
	store_user_clear(&u);
	return (rc);
}

int
store_ops_user_del(struct store *s, const char *username, int64_t now)
{
	RETRY_ONCE(s, user_del_once(s, username, now));
}

struct user_cb {
	void (*cb)(void *arg, const struct store_user *u);
	void *arg;
};

static int
each_user(const struct store_row *r, void *ctx)
{
	struct user_cb *x = ctx;
	struct store_user u = {0};

	if (row_user(r, &u)) {
		store_user_clear(&u);
		return (-1);
	}
	x->cb(x->arg, &u);
	store_user_clear(&u);
	return (0);
}

int
store_ops_user_list(struct store *s, void (*cb)(void *arg, const struct store_user *u), void *arg)
{
	struct user_cb x = {cb, arg};

	return (each(s, Q_USER_LIST, NOARGS, each_user, &x));
}

/* Clients. */

static int
row_client(const struct store_row *r, void *out)
{
	struct store_client *c = out;

	if (row_str(r, 0, &c->client_id) || row_str(r, 1, &c->secret_digest) ||
	    row_str(r, 2, &c->name) || row_str(r, 3, &c->redirect_uris) ||
	    row_str(r, 4, &c->grant_types) || row_str(r, 5, &c->scope) ||
	    row_str(r, 6, &c->auth_method) || row_str(r, 7, &c->metadata))
		return (-1);
	c->dynamic = (int)r->col_int(r, 8);
	c->created_at = r->col_int(r, 9);
	c->secret_expires_at = r->col_int(r, 10);
	c->first_token_at = r->col_int(r, 11);
	return (0);
}

int
store_ops_client_add(struct store *s, const struct store_client *c)
{
	return (exec1(s, Q_CLIENT_ADD,
	    ARGS(A_ID(c->client_id), A_ID(c->secret_digest), A_TXT(c->name),
		A_TXT(c->redirect_uris), A_TXT(c->grant_types), A_TXT(c->scope),
		A_TXT(c->auth_method), A_TXT(c->metadata), A_INT(c->dynamic ? 1 : 0),
		A_INT(c->created_at), A_INT(c->secret_expires_at), A_INT(c->first_token_at)),
	    NULL));
}

int
store_ops_client_get(struct store *s, const char *client_id, struct store_client *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one(s, Q_CLIENT_GET, ARGS(A_ID(client_id)), row_client, out)) != 0)
		store_client_clear(out);
	return (rc);
}

int
store_ops_client_del(struct store *s, const char *client_id)
{
	return (change_one(s, Q_CLIENT_DEL, client_id));
}

struct client_cb {
	void (*cb)(void *arg, const struct store_client *c);
	void *arg;
};

static int
each_client(const struct store_row *r, void *ctx)
{
	struct client_cb *x = ctx;
	struct store_client c = {0};

	if (row_client(r, &c)) {
		store_client_clear(&c);
		return (-1);
	}
	x->cb(x->arg, &c);
	store_client_clear(&c);
	return (0);
}

int
store_ops_client_list(struct store *s, void (*cb)(void *arg, const struct store_client *c),
    void *arg)
{
	struct client_cb x = {cb, arg};

	return (each(s, Q_CLIENT_LIST, NOARGS, each_client, &x));
}

/* 0 whether or not first_token_at was still 0; STORE_NOTFOUND if there is
 * no such client. */
int
store_ops_client_mark_used(struct store *s, const char *client_id, int64_t now)
{
	struct store_conn *c;
	int64_t cnt = 0;
	int rc, n = 0;

	if ((c = acquire(s)) == NULL)
		return (-1);
	rc = c_exec(s, c, Q_CLIENT_MARK, ARGS(A_INT(now), A_ID(client_id)), &n);
	if (rc == 0 && n == 0) {
		rc = c_one(s, c, Q_CLIENT_EXISTS, ARGS(A_ID(client_id)), row_int, &cnt);
		if (rc == 0 && cnt == 0)
			rc = STORE_NOTFOUND;
	}
	release(s, c);
	return (rc);
}

int
store_ops_client_reap(struct store *s, int64_t before, int *n)
{
	*n = 0;
	return (exec1(s, Q_CLIENT_REAP, ARGS(A_INT(before)), n));
}

/* Codes. */

static int
row_code(const struct store_row *r, void *out)
{
	struct store_code *c = out;

	if (row_str(r, 0, &c->digest) || row_str(r, 1, &c->client_id) ||
	    row_str(r, 2, &c->sub) || row_str(r, 3, &c->redirect_uri) ||
	    row_str(r, 4, &c->code_challenge) || row_str(r, 5, &c->resource) ||
	    row_str(r, 6, &c->scope))
		return (-1);
	c->auth_time = r->col_int(r, 7);
	c->expires_at = r->col_int(r, 8);
	return (0);
}

int
store_ops_code_add(struct store *s, const struct store_code *c)
{
	return (exec1(s, Q_CODE_ADD,
	    ARGS(A_ID(c->digest), A_ID(c->client_id), A_ID(c->sub), A_TXT(c->redirect_uri),
		A_TXT(c->code_challenge), A_TXT(c->resource), A_TXT(c->scope),
		A_INT(c->auth_time), A_INT(c->expires_at)),
	    NULL));
}

int
store_ops_code_consume(struct store *s, const char *digest, int64_t now, const char *client_id,
    const char *challenge, const char *redirect_uri, struct store_code *out, int *replayed)
{
	struct store_conn *c;
	int64_t used = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	*replayed = 0;
	if ((c = acquire(s)) == NULL)
		return (-1);
	/* The compare-and-swap: only one caller sees the row come back. */
	rc = c_one(s, c, Q_CODE_CONSUME,
	    ARGS(A_ID(digest), A_INT(now), A_ID(client_id), A_ID(challenge), A_TXT(redirect_uri)),
	    row_code, out);
	if (rc == STORE_NOTFOUND) {
		/* Lost, expired, or replayed?  A used code stays used, so this
		 * second read cannot turn a replay into something else. */
		if (c_one(s, c, Q_CODE_USED,
			ARGS(A_ID(digest), A_ID(client_id), A_ID(challenge), A_TXT(redirect_uri)),
			row_int, &used) == 0 &&
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
row_refresh(const struct store_row *row, void *out)
{
	struct store_refresh *r = out;

	if (row_str(row, 0, &r->digest) || row_str(row, 1, &r->family_id) ||
	    row_str(row, 2, &r->client_id) || row_str(row, 3, &r->sub) ||
	    row_str(row, 4, &r->scope) || row_str(row, 5, &r->resource) ||
	    row_str(row, 6, &r->code_digest))
		return (-1);
	r->created_at = row->col_int(row, 7);
	r->expires_at = row->col_int(row, 8);
	r->idle_expires_at = row->col_int(row, 9);
	r->rotated = (int)row->col_int(row, 10);
	r->revoked = (int)row->col_int(row, 11);
	return (0);
}

/* Create the family row of ${family_id} if absent, and fill in what it
 * does not know yet.  A family from a code is made under the code's lock,
 * if the backend has one (see lock_code in store_backend.h). */
static int
family_put(struct store *s, struct store_conn *c, const char *family_id,
    const char *code_digest, const char *client_id, const char *sub, int64_t created_at)
{
	if (code_digest != NULL && BE(s)->lock_code != NULL &&
	    BE(s)->lock_code(c, code_digest) != 0)
		return (-1);
	return (c_exec(s, c, Q_FAMILY_PUT,
	    ARGS(A_ID(family_id), A_ID(code_digest), A_ID(client_id), A_ID(sub),
		A_INT(created_at)),
	    NULL));
}

/* Insert ${r} inside the caller's transaction on ${c}, after family_put()
 * of its family.  A token added to a revoked family is born revoked. */
static int
refresh_insert(struct store *s, struct store_conn *c, const struct store_refresh *r)
{
	int rc, n = 0;

	rc = c_exec(s, c, Q_REFRESH_ADD,
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
	struct store_conn *c;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(s, c)) != 0)
		goto out;
	if ((rc = family_put(s, c, r->family_id, r->code_digest, r->client_id, r->sub,
		 r->created_at)) != 0 ||
	    (rc = refresh_insert(s, c, r)) != 0) {
		rollback(s, c);
		goto out;
	}
	rc = commit(s, c);
out:
	release(s, c);
	return (rc);
}

int
store_ops_refresh_add(struct store *s, const struct store_refresh *r)
{
	RETRY_ONCE(s, refresh_add_once(s, r));
}

int
store_ops_refresh_get(struct store *s, const char *digest, struct store_refresh *out)
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
	struct store_conn *c;
	int rc, n = 0;

	if ((c = acquire(s)) == NULL)
		return (-1);
	/*
	 * SQLite's BEGIN IMMEDIATE: the write lock is ours before the UPDATE
	 * reads, so a concurrent rotation waits and then finds rotated = 1.
	 * PostgreSQL (family_first): the family row first, then the token;
	 * revocations lock in that order too, so the two cannot deadlock, and
	 * a concurrent rotation of the same token waits on the family row,
	 * then its UPDATE finds rotated = 1 in the committed row.
	 */
	if ((rc = begin(s, c)) != 0)
		goto out;
	if (BE(s)->family_first &&
	    (rc = family_put(s, c, next->family_id, next->code_digest, next->client_id, next->sub,
		 next->created_at)) != 0)
		goto fail;
	rc = c_exec(s, c, Q_REFRESH_ROTATE,
	    ARGS(A_ID(old_digest), A_INT(now)), &n);
	if (rc != 0)
		goto fail;
	if (n != 1) {
		rc = STORE_NOTFOUND;
		goto fail;
	}
	if (!BE(s)->family_first &&
	    (rc = family_put(s, c, next->family_id, next->code_digest, next->client_id, next->sub,
		 next->created_at)) != 0)
		goto fail;
	if ((rc = refresh_insert(s, c, next)) != 0)
		goto fail;
	rc = commit(s, c);
	goto out;

fail:
	rollback(s, c);
out:
	release(s, c);
	return (rc);
}

int
store_ops_refresh_rotate(struct store *s, const char *old_digest, int64_t now,
    const struct store_refresh *next)
{
	RETRY_ONCE(s, refresh_rotate_once(s, old_digest, now, next));
}

/*
 * Revoke the families named by ${sel} with ${a}, ${na} inside the caller's
 * transaction on ${c}: mark them revoked, revoke their refresh tokens, and
 * deny their unexpired recorded access tokens.  Stores in ${nfam} how many
 * families match (revoked before or now).  0 or -1.
 */
static int
revoke_families(struct store *s, struct store_conn *c, enum famsel sel, int64_t now,
    const struct store_arg *a, size_t na, int64_t *nfam)
{
	static const enum store_query qrev[] = {
	    Q_FAM_REVOKE_ID, Q_FAM_REVOKE_CODE, Q_FAM_REVOKE_GRANT, Q_FAM_REVOKE_SUB};
	static const enum store_query qcnt[] = {
	    Q_FAM_COUNT_ID, Q_FAM_COUNT_CODE, Q_FAM_COUNT_GRANT, Q_FAM_COUNT_SUB};
	static const enum store_query qref[] = {
	    Q_FAM_REFRESH_ID, Q_FAM_REFRESH_CODE, Q_FAM_REFRESH_GRANT, Q_FAM_REFRESH_SUB};
	static const enum store_query qdeny[] = {
	    Q_FAM_DENY_ID, Q_FAM_DENY_CODE, Q_FAM_DENY_GRANT, Q_FAM_DENY_SUB};
	struct store_arg all[3];
	size_t i;

	/* Every statement takes ${now} first (if at all), then the selector. */
	if (na > 2)
		return (-1);
	all[0] = (struct store_arg)A_INT(now);
	for (i = 0; i < na; i++)
		all[i + 1] = a[i];

	*nfam = 0;
	if (c_one(s, c, qcnt[sel], a, na, row_int, nfam) != 0)
		return (-1);
	if (c_exec(s, c, qrev[sel], all, na + 1, NULL) != 0 ||
	    c_exec(s, c, qref[sel], a, na, NULL) != 0 ||
	    c_exec(s, c, qdeny[sel], all, na + 1, NULL) != 0)
		return (-1);
	return (0);
}

/* family_revoke and family_revoke_by_code: STORE_NOTFOUND if no family
 * matches. */
static int
revoke_tx_once(struct store *s, enum famsel sel, int64_t now, const struct store_arg *a,
    size_t na)
{
	struct store_conn *c;
	int64_t nfam = 0;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(s, c)) != 0)
		goto out;
	if (sel == SEL_BY_CODE && BE(s)->lock_code != NULL && BE(s)->lock_code(c, a[0].s) != 0) {
		rollback(s, c);
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
	if (revoke_families(s, c, sel, now, a, na, &nfam) ||
	    (sel == SEL_BY_CODE && nfam == 0 &&
		c_exec(s, c, Q_FAM_TOMBSTONE, ARGS(a[0], A_INT(now)), NULL) != 0)) {
		rollback(s, c);
		rc = -1;
		goto out;
	}
	if ((rc = commit(s, c)) == 0 && nfam == 0)
		rc = STORE_NOTFOUND;
out:
	release(s, c);
	return (rc);
}

static int
revoke_tx(struct store *s, enum famsel sel, int64_t now, const struct store_arg *a, size_t na)
{
	RETRY_ONCE(s, revoke_tx_once(s, sel, now, a, na));
}

int
store_ops_family_revoke(struct store *s, const char *family_id, int64_t now)
{
	return (revoke_tx(s, SEL_BY_ID, now, ARGS(A_ID(family_id))));
}

int
store_ops_family_revoke_by_code(struct store *s, const char *code_digest, int64_t now)
{
	return (revoke_tx(s, SEL_BY_CODE, now, ARGS(A_ID(code_digest))));
}

struct refresh_cb {
	void (*cb)(void *arg, const struct store_refresh *r);
	void *arg;
};

static int
each_refresh(const struct store_row *row, void *ctx)
{
	struct refresh_cb *x = ctx;
	struct store_refresh r = {0};

	if (row_refresh(row, &r)) {
		store_refresh_clear(&r);
		return (-1);
	}
	x->cb(x->arg, &r);
	store_refresh_clear(&r);
	return (0);
}

int
store_ops_refresh_list_active(struct store *s, const char *sub, int64_t now,
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
	struct store_conn *c;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(s, c)) != 0)
		goto out;
	if ((rc = family_put(s, c, a->family_id, a->code_digest, a->client_id, a->sub, 0)) != 0 ||
	    (rc = c_exec(s, c, Q_ACCESS_ADD,
		 ARGS(A_ID(a->jti), A_ID(a->family_id), A_INT(a->expires_at)), NULL)) != 0 ||
	    (rc = c_exec(s, c, Q_ACCESS_LATE_DENY,
		 ARGS(A_ID(a->jti), A_INT(a->expires_at), A_ID(a->family_id)), NULL)) != 0) {
		rollback(s, c);
		goto out;
	}
	rc = commit(s, c);
out:
	release(s, c);
	return (rc);
}

int
store_ops_access_add(struct store *s, const struct store_access *a)
{
	RETRY_ONCE(s, access_add_once(s, a));
}

int
store_ops_jti_deny(struct store *s, const char *jti, int64_t expires_at, int64_t now)
{
	return (exec1(s, Q_JTI_DENY, ARGS(A_ID(jti), A_INT(expires_at), A_INT(now)), NULL));
}

int
store_ops_jti_denied(struct store *s, const char *jti)
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
each_jti(const struct store_row *r, void *ctx)
{
	struct jti_cb *x = ctx;
	const char *jti;
	size_t len;

	if (r->col_text(r, 0, &jti, &len) || jti == NULL)
		return (-1);
	x->cb(x->arg, jti, r->col_int(r, 1));
	return (0);
}

int
store_ops_jti_denied_since(struct store *s, int64_t since,
    void (*cb)(void *arg, const char *jti, int64_t expires_at), void *arg)
{
	struct jti_cb x = {cb, arg};

	return (each(s, Q_JTI_SINCE, ARGS(A_INT(since)), each_jti, &x));
}

/* Consents.  A NULL resource is stored as '' and read back as NULL. */

static int
row_consent(const struct store_row *r, void *out)
{
	struct store_consent *c = out;

	if (row_str(r, 0, &c->sub) || row_str(r, 1, &c->client_id) ||
	    row_str(r, 2, &c->resource) || row_str(r, 3, &c->scope))
		return (-1);
	if (c->resource != NULL && c->resource[0] == '\0') {
		free(c->resource);
		c->resource = NULL;
	}
	c->granted_at = r->col_int(r, 4);
	return (0);
}

int
store_ops_consent_put(struct store *s, const struct store_consent *c)
{
	return (exec1(s, Q_CONSENT_PUT,
	    ARGS(A_ID(c->sub), A_ID(c->client_id), A_TXT(c->resource ? c->resource : ""),
		A_TXT(c->scope), A_INT(c->granted_at)),
	    NULL));
}

int
store_ops_consent_get(struct store *s, const char *sub, const char *client_id, const char *resource,
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
each_consent(const struct store_row *r, void *ctx)
{
	struct consent_cb *x = ctx;
	struct store_consent c = {0};

	if (row_consent(r, &c)) {
		store_consent_clear(&c);
		return (-1);
	}
	x->cb(x->arg, &c);
	store_consent_clear(&c);
	return (0);
}

int
store_ops_consent_list(struct store *s, const char *sub,
    void (*cb)(void *arg, const struct store_consent *c), void *arg)
{
	struct consent_cb x = {cb, arg};

	return (each(s, Q_CONSENT_LIST, ARGS(A_ID(sub)), each_consent, &x));
}

/* STORE_NOTFOUND if there was neither a consent nor a family of the
 * grant. */
static int
consent_revoke_once(struct store *s, const char *sub, const char *client_id, int64_t now)
{
	struct store_conn *c;
	int64_t nfam = 0;
	int rc, n = 0;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(s, c)) != 0)
		goto out;
	if ((rc = c_exec(s, c, Q_CONSENT_DEL, ARGS(A_ID(sub), A_ID(client_id)), &n)) != 0 ||
	    (rc = revoke_families(s, c, SEL_BY_GRANT, now, ARGS(A_ID(sub), A_ID(client_id)),
		 &nfam)) != 0) {
		rollback(s, c);
		rc = -1;
		goto out;
	}
	if ((rc = commit(s, c)) == 0 && n == 0 && nfam == 0)
		rc = STORE_NOTFOUND;
out:
	release(s, c);
	return (rc);
}

int
store_ops_consent_revoke(struct store *s, const char *sub, const char *client_id, int64_t now)
{
	RETRY_ONCE(s, consent_revoke_once(s, sub, client_id, now));
}

/* Sessions. */

static int
row_session(const struct store_row *r, void *out)
{
	struct store_session *se = out;

	if (row_str(r, 0, &se->digest) || row_str(r, 1, &se->sub))
		return (-1);
	se->auth_time = r->col_int(r, 2);
	se->expires_at = r->col_int(r, 3);
	return (0);
}

int
store_ops_session_add(struct store *s, const struct store_session *se)
{
	return (exec1(s, Q_SESSION_ADD,
	    ARGS(A_ID(se->digest), A_ID(se->sub), A_INT(se->auth_time), A_INT(se->expires_at)),
	    NULL));
}

int
store_ops_session_get(struct store *s, const char *digest, int64_t now, struct store_session *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one(s, Q_SESSION_GET, ARGS(A_ID(digest), A_INT(now)), row_session, out)) != 0)
		store_session_clear(out);
	return (rc);
}

int
store_ops_session_del(struct store *s, const char *digest)
{
	return (change_one(s, Q_SESSION_DEL, digest));
}

/* Pending authorization requests. */

static int
row_authreq(const struct store_row *r, void *out)
{
	struct store_authreq *a = out;

	if (row_str(r, 0, &a->digest) || row_str(r, 1, &a->browser_digest) ||
	    row_str(r, 2, &a->csrf_digest) || row_str(r, 3, &a->client_id) ||
	    row_str(r, 4, &a->redirect_uri) || row_str(r, 5, &a->state) ||
	    row_str(r, 6, &a->code_challenge) || row_str(r, 7, &a->resource) ||
	    row_str(r, 8, &a->scope))
		return (-1);
	a->expires_at = r->col_int(r, 9);
	return (0);
}

int
store_ops_authreq_add(struct store *s, const struct store_authreq *a)
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
authreq_fetch(struct store *s, enum store_query q, const char *digest, int64_t now,
    struct store_authreq *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one(s, q, ARGS(A_ID(digest), A_INT(now)), row_authreq, out)) != 0)
		store_authreq_clear(out);
	return (rc);
}

int
store_ops_authreq_get(struct store *s, const char *digest, int64_t now, struct store_authreq *out)
{
	return (authreq_fetch(s, Q_AUTHREQ_GET, digest, now, out));
}

int
store_ops_authreq_take(struct store *s, const char *digest, int64_t now, struct store_authreq *out)
{
	return (authreq_fetch(s, Q_AUTHREQ_TAKE, digest, now, out));
}

/* Signing keys. */

static int
row_key(const struct store_row *r, void *out)
{
	struct store_key *k = out;

	if (row_str(r, 0, &k->kid) || row_str(r, 1, &k->alg) ||
	    row_str(r, 2, &k->public_jwk) || row_str(r, 3, &k->private_enc))
		return (-1);
	k->created_at = r->col_int(r, 4);
	k->retired_at = r->col_int(r, 5);
	k->publish_until = r->col_int(r, 6);
	return (0);
}

int
store_ops_key_add(struct store *s, const struct store_key *k)
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
each_key(const struct store_row *r, void *ctx)
{
	struct key_cb *x = ctx;
	struct store_key k = {0};

	if (row_key(r, &k)) {
		store_key_clear(&k);
		return (-1);
	}
	x->cb(x->arg, &k);
	store_key_clear(&k);
	return (0);
}

int
store_ops_key_list(struct store *s, void (*cb)(void *arg, const struct store_key *k), void *arg)
{
	struct key_cb x = {cb, arg};

	return (each(s, Q_KEY_LIST, NOARGS, each_key, &x));
}

int
store_ops_key_retire(struct store *s, const char *kid, int64_t retired_at, int64_t publish_until)
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
	static const enum store_query qs[] = {Q_PURGE_CODES, Q_PURGE_SESSIONS, Q_PURGE_AUTHREQS,
	    Q_PURGE_DENIED, Q_PURGE_REFRESH, Q_PURGE_ACCESS, Q_PURGE_KEYS};
	struct store_conn *c;
	size_t i;
	int rc;

	if ((c = acquire(s)) == NULL)
		return (-1);
	if ((rc = begin(s, c)) != 0)
		goto out;
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		if (c_exec(s, c, qs[i], ARGS(A_INT(now)), NULL) != 0)
			goto fail;
	}
	if (c_exec(s, c, Q_PURGE_FAMILIES, NOARGS, NULL) != 0)
		goto fail;
	rc = commit(s, c);
	goto out;

fail:
	rollback(s, c);
	rc = -1;
out:
	release(s, c);
	return (rc);
}

int
store_ops_purge(struct store *s, int64_t now)
{
	RETRY_ONCE(s, purge_once(s, now));
}
