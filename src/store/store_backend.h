/*
 * store_backend: what an SQL backend (store_sqlite.c, store_pg.c) provides
 * to the operation layer (store_ops.c), and what that layer provides back.
 *
 * store_ops.c implements every operation of struct store_ops but open and
 * close once, on the shared statements of store_sql.h, through the
 * primitives of struct store_backend: take and give back a connection,
 * begin, commit and roll back a transaction on it, run a statement with
 * bound arguments, and read the columns of a row.  A backend keeps its
 * connections, statement preparation, binding, row access, error mapping
 * and migrations, and states where it needs more than the statements: a
 * lock on a code before a family is made from it, the family row locked
 * before a rotated token, and one more run of a transaction that the
 * server rolled back.
 *
 * Only the backends and store_ops.c include this file.
 */
#ifndef MCPGATE_STORE_STORE_BACKEND_H
#define MCPGATE_STORE_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_sql.h"

/* The shared statements, Q_USER_ADD ...; a backend numbers its own ones
 * from STORE_NQUERIES on. */
#define STORE_AS_ENUM(name, sql) Q_##name,
enum store_query { STORE_SQL_QUERIES(STORE_AS_ENUM) STORE_NQUERIES };

/* A statement parameter. */
struct store_arg {
	char type; /* 'i': identifier string; 't': text; 'I': integer */
	const char *s;
	int64_t i;
};
#define A_ID(x) {.type = 'i', .s = (x)}
#define A_TXT(x) {.type = 't', .s = (x)}
#define A_INT(x) {.type = 'I', .i = (int64_t)(x)}
#define ARGS(...)                                                                                  \
	(const struct store_arg[]){__VA_ARGS__},                                                   \
	    sizeof((const struct store_arg[]){__VA_ARGS__}) / sizeof(struct store_arg)
#define NOARGS NULL, 0

/* One row of a result, read through its backend's accessors. */
struct store_row {
	/* Column ${j} as an integer; 0 for SQL NULL. */
	int64_t (*col_int)(const struct store_row *r, int j);
	/* Column ${j} as ${len} bytes of text at ${t}, NUL-terminated and
	 * valid until the row moves on; ${t} NULL for SQL NULL.  0, or -1 if
	 * it cannot be read. */
	int (*col_text)(const struct store_row *r, int j, const char **t, size_t *len);
	const void *h; /* the backend's statement or result */
	int i;	       /* the row's number in ${h}, if it holds several */
};

/* A row reader: copy ${r} into ${out}; 0 or -1 (out of memory). */
typedef int store_rowfn(const struct store_row *r, void *out);

/* A backend's connection: defined by each backend. */
struct store_conn;

/*
 * The primitives of a backend.  exec, one and each return 0, STORE_CONFLICT
 * (a unique key exists), STORE_NOTFOUND (one: no row) or -1 (logged).
 */
struct store_backend {
	/* Take a free connection of ${s}, waiting a bounded time; NULL on
	 * failure (logged).  release gives it back, rolling back a
	 * transaction left open. */
	struct store_conn *(*acquire)(struct store *s);
	void (*release)(struct store *s, struct store_conn *c);

	/* Transactions on ${c}: begin and commit 0 or -1; rollback does
	 * nothing outside a transaction. */
	int (*begin)(struct store_conn *c);
	int (*commit)(struct store_conn *c);
	void (*rollback)(struct store_conn *c);

	/* Run ${q} with ${na} arguments ${a}, expecting no row; the number of
	 * rows changed goes to ${changes} if not NULL.  Strings over their
	 * limit are refused with a warning naming the parameter only. */
	int (*exec)(struct store_conn *c, int q, const struct store_arg *a, size_t na,
	    int *changes);
	/* Run ${q} and copy its first row into ${out} with ${row}. */
	int (*one)(struct store_conn *c, int q, const struct store_arg *a, size_t na,
	    store_rowfn *row, void *out);
	/* Run ${q} on a connection of ${s} and call ${row}(r, ${ctx}) for
	 * each row. */
	int (*each)(struct store *s, int q, const struct store_arg *a, size_t na, store_rowfn *row,
	    void *ctx);

	/* If not NULL: lock ${code_digest} until the end of the transaction
	 * on ${c}, before a family is made from the code or the families of
	 * the code are revoked.  0 or -1. */
	int (*lock_code)(struct store_conn *c, const char *code_digest);
	/* Nonzero: refresh_rotate writes the family row (locking it) before
	 * it rotates the token, in the order revocations lock them. */
	int family_first;
	/* If not NULL: return whether the server rolled back the last
	 * transaction of this thread (deadlock or serialization failure), and
	 * forget it; such a transaction is run again once. */
	int (*rolled_back)(void);
};

/* The backend state in struct store begins with its struct store_backend. */
struct store_base {
	const struct store_backend *be;
};

/* The operations of store_ops.c, for the struct store_ops of a backend. */
int store_ops_user_add(struct store *s, const struct store_user *u);
int store_ops_user_get(struct store *s, const char *username, struct store_user *out);
int store_ops_user_get_by_sub(struct store *s, const char *sub, struct store_user *out);
int store_ops_user_set_password(struct store *s, const char *username, const char *password_hash);
int store_ops_user_del(struct store *s, const char *username, int64_t now);
int store_ops_user_list(struct store *s, void (*cb)(void *arg, const struct store_user *u),
    void *arg);
int store_ops_client_add(struct store *s, const struct store_client *c);
int store_ops_client_get(struct store *s, const char *client_id, struct store_client *out);
int store_ops_client_del(struct store *s, const char *client_id);
int store_ops_client_list(struct store *s, void (*cb)(void *arg, const struct store_client *c),
    void *arg);
int store_ops_client_mark_used(struct store *s, const char *client_id, int64_t now);
int store_ops_client_reap(struct store *s, int64_t before, int *n);
int store_ops_code_add(struct store *s, const struct store_code *c);
int store_ops_code_consume(struct store *s, const char *digest, int64_t now,
    const char *client_id, const char *challenge, const char *redirect_uri,
    struct store_code *out, int *replayed);
int store_ops_refresh_add(struct store *s, const struct store_refresh *r);
int store_ops_refresh_get(struct store *s, const char *digest, struct store_refresh *out);
int store_ops_refresh_rotate(struct store *s, const char *old_digest, int64_t now,
    const struct store_refresh *next);
int store_ops_family_revoke(struct store *s, const char *family_id, int64_t now);
int store_ops_family_revoke_by_code(struct store *s, const char *code_digest, int64_t now);
int store_ops_access_add(struct store *s, const struct store_access *a);
int store_ops_jti_deny(struct store *s, const char *jti, int64_t expires_at, int64_t now);
int store_ops_jti_denied(struct store *s, const char *jti);
int store_ops_jti_denied_since(struct store *s, int64_t since,
    void (*cb)(void *arg, const char *jti, int64_t expires_at), void *arg);
int store_ops_consent_put(struct store *s, const struct store_consent *c);
int store_ops_consent_get(struct store *s, const char *sub, const char *client_id,
    const char *resource, struct store_consent *out);
int store_ops_consent_list(struct store *s, const char *sub,
    void (*cb)(void *arg, const struct store_consent *c), void *arg);
int store_ops_consent_revoke(struct store *s, const char *sub, const char *client_id, int64_t now);
int store_ops_refresh_list_active(struct store *s, const char *sub, int64_t now,
    void (*cb)(void *arg, const struct store_refresh *r), void *arg);
int store_ops_session_add(struct store *s, const struct store_session *se);
int store_ops_session_get(struct store *s, const char *digest, int64_t now,
    struct store_session *out);
int store_ops_session_del(struct store *s, const char *digest);
int store_ops_authreq_add(struct store *s, const struct store_authreq *a);
int store_ops_authreq_get(struct store *s, const char *digest, int64_t now,
    struct store_authreq *out);
int store_ops_authreq_take(struct store *s, const char *digest, int64_t now,
    struct store_authreq *out);
int store_ops_key_add(struct store *s, const struct store_key *k);
int store_ops_key_list(struct store *s, void (*cb)(void *arg, const struct store_key *k),
    void *arg);
int store_ops_key_retire(struct store *s, const char *kid, int64_t retired_at,
    int64_t publish_until);
int store_ops_purge(struct store *s, int64_t now);

/* The members of a backend's struct store_ops but name, open, close and
 * state_size. */
#define STORE_OPS_SHARED                                                                           \
	.user_add = store_ops_user_add, .user_get = store_ops_user_get,                            \
	.user_get_by_sub = store_ops_user_get_by_sub, .user_del = store_ops_user_del,              \
	.user_set_password = store_ops_user_set_password, .user_list = store_ops_user_list,        \
	.client_add = store_ops_client_add, .client_get = store_ops_client_get,                    \
	.client_del = store_ops_client_del, .client_list = store_ops_client_list,                  \
	.client_mark_used = store_ops_client_mark_used, .client_reap = store_ops_client_reap,      \
	.code_add = store_ops_code_add, .code_consume = store_ops_code_consume,                    \
	.refresh_add = store_ops_refresh_add, .refresh_get = store_ops_refresh_get,                \
	.refresh_rotate = store_ops_refresh_rotate, .family_revoke = store_ops_family_revoke,      \
	.family_revoke_by_code = store_ops_family_revoke_by_code,                                  \
	.access_add = store_ops_access_add, .jti_deny = store_ops_jti_deny,                        \
	.jti_denied = store_ops_jti_denied, .jti_denied_since = store_ops_jti_denied_since,        \
	.consent_put = store_ops_consent_put, .consent_get = store_ops_consent_get,                \
	.consent_list = store_ops_consent_list, .consent_revoke = store_ops_consent_revoke,        \
	.refresh_list_active = store_ops_refresh_list_active,                                      \
	.session_add = store_ops_session_add, .session_get = store_ops_session_get,                \
	.session_del = store_ops_session_del, .authreq_add = store_ops_authreq_add,                \
	.authreq_get = store_ops_authreq_get, .authreq_take = store_ops_authreq_take,              \
	.key_add = store_ops_key_add, .key_list = store_ops_key_list,                              \
	.key_retire = store_ops_key_retire, .purge = store_ops_purge

#endif /* !MCPGATE_STORE_STORE_BACKEND_H */
