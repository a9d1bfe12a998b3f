/*
 * store_sql: the schema and the statements shared by the SQL backends
 * (store_sqlite.c, store_pg.c).
 *
 * The SQL is kept to what SQLite and PostgreSQL both accept: BIGINT and TEXT
 * columns, INTEGER 0/1 flags, ON CONFLICT ... DO UPDATE/NOTHING, RETURNING,
 * excluded., COALESCE and CASE; no INSERT OR REPLACE, two-argument MAX() or
 * rowid.  Transaction control (BEGIN IMMEDIATE in SQLite, BEGIN in
 * PostgreSQL) and schema versioning (PRAGMA user_version, a schema_version
 * table) stay in each backend.
 *
 * Parameters are written :name.  A backend binds them by position, in the
 * order of their first appearance; a name used twice is one parameter.
 * SQLite reads the names itself; store_pg.c rewrites them as $1..$n.  Names
 * only serve the log ("store: USER_ADD: username longer than 256 bytes").
 *
 * Only store_backend.h (for store_sqlite.c, store_pg.c and store_ops.c)
 * includes this file.
 */
#ifndef MCPGATE_STORE_STORE_SQL_H
#define MCPGATE_STORE_STORE_SQL_H

/* The schema version this code writes. */
#define STORE_SQL_VERSION 1

/*
 * Schema, one entry per version: store_sql_migrations[i] takes a database
 * from version i to i + 1.  Version 0 is an empty database.  Never edit a
 * released entry; add one instead.  Each entry is several statements, run
 * in one go (sqlite3_exec, PQexec) inside the migration's transaction.
 */
static const char *const store_sql_migrations[STORE_SQL_VERSION] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE users ("
	" sub TEXT NOT NULL PRIMARY KEY,"
	" username TEXT NOT NULL UNIQUE,"
	" password_hash TEXT NOT NULL,"
	" created_at BIGINT NOT NULL);"

	"CREATE TABLE clients ("
	" client_id TEXT NOT NULL PRIMARY KEY,"
	" secret_digest TEXT,"
	" name TEXT,"
	" redirect_uris TEXT,"
	" grant_types TEXT,"
	" scope TEXT,"
	" auth_method TEXT,"
	" metadata TEXT,"
	" dynamic INTEGER NOT NULL DEFAULT 0,"
	" created_at BIGINT NOT NULL,"
	" secret_expires_at BIGINT NOT NULL DEFAULT 0,"
	" first_token_at BIGINT NOT NULL DEFAULT 0);"

	"CREATE TABLE codes ("
	" digest TEXT NOT NULL PRIMARY KEY,"
	" client_id TEXT NOT NULL,"
	" sub TEXT NOT NULL,"
	" redirect_uri TEXT,"
	" code_challenge TEXT,"
	" resource TEXT,"
	" scope TEXT,"
	" auth_time BIGINT NOT NULL,"
	" expires_at BIGINT NOT NULL,"
	" used INTEGER NOT NULL DEFAULT 0);"

	/* One row per grant: what every refresh and access token of the grant
	 * shares, and whether the grant was revoked. */
	"CREATE TABLE families ("
	" family_id TEXT NOT NULL PRIMARY KEY,"
	" code_digest TEXT,"
	" client_id TEXT,"
	" sub TEXT,"
	" created_at BIGINT NOT NULL,"
	" revoked_at BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX families_code ON families (code_digest);"
	"CREATE INDEX families_grant ON families (sub, client_id);"

	"CREATE TABLE refresh_tokens ("
	" digest TEXT NOT NULL PRIMARY KEY,"
	" family_id TEXT NOT NULL REFERENCES families (family_id),"
	" client_id TEXT NOT NULL,"
	" sub TEXT NOT NULL,"
	" scope TEXT,"
	" resource TEXT,"
	" code_digest TEXT,"
	" created_at BIGINT NOT NULL,"
	" expires_at BIGINT NOT NULL,"
	" idle_expires_at BIGINT NOT NULL,"
	" rotated INTEGER NOT NULL DEFAULT 0,"
	" revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);"
	"CREATE INDEX refresh_tokens_sub ON refresh_tokens (sub);"

	"CREATE TABLE access_tokens ("
	" jti TEXT NOT NULL PRIMARY KEY,"
	" family_id TEXT NOT NULL REFERENCES families (family_id),"
	" expires_at BIGINT NOT NULL);"
	"CREATE INDEX access_tokens_family ON access_tokens (family_id);"

	"CREATE TABLE denied_jtis ("
	" jti TEXT NOT NULL PRIMARY KEY,"
	" expires_at BIGINT NOT NULL,"
	" denied_at BIGINT NOT NULL);"
	"CREATE INDEX denied_jtis_denied_at ON denied_jtis (denied_at);"

	/* resource is '' for a consent without a resource, so that the primary
	 * key never holds a NULL (NULLs are never equal in a unique key). */
	"CREATE TABLE consents ("
	" sub TEXT NOT NULL,"
	" client_id TEXT NOT NULL,"
	" resource TEXT NOT NULL,"
	" scope TEXT,"
	" granted_at BIGINT NOT NULL,"
	" PRIMARY KEY (sub, client_id, resource));"

	"CREATE TABLE sessions ("
	" digest TEXT NOT NULL PRIMARY KEY,"
	" sub TEXT NOT NULL,"
	" auth_time BIGINT NOT NULL,"
	" expires_at BIGINT NOT NULL);"

	"CREATE TABLE authreqs ("
	" digest TEXT NOT NULL PRIMARY KEY,"
	" browser_digest TEXT,"
	" csrf_digest TEXT,"
	" client_id TEXT NOT NULL,"
	" redirect_uri TEXT,"
	" state TEXT,"
	" code_challenge TEXT,"
	" resource TEXT,"
	" scope TEXT,"
	" expires_at BIGINT NOT NULL);"

	"CREATE TABLE signing_keys ("
	" kid TEXT NOT NULL PRIMARY KEY,"
	" alg TEXT NOT NULL,"
	" public_jwk TEXT NOT NULL,"
	" private_enc TEXT NOT NULL,"
	" created_at BIGINT NOT NULL,"
	" retired_at BIGINT NOT NULL DEFAULT 0,"
	" publish_until BIGINT NOT NULL DEFAULT 0);",
};

/*
 * Statements.  Parameters are bound by position, in the order of their
 * first appearance; a name used twice is one parameter.  Names only serve
 * the log ("store: ... :username too long").
 */
#define USER_COLS "sub, username, password_hash, created_at"
#define CLIENT_COLS                                                                                \
	"client_id, secret_digest, name, redirect_uris, grant_types, scope, auth_method, "         \
	"metadata, dynamic, created_at, secret_expires_at, first_token_at"
#define CODE_COLS                                                                                  \
	"digest, client_id, sub, redirect_uri, code_challenge, resource, scope, auth_time, "       \
	"expires_at"
#define REFRESH_COLS                                                                               \
	"digest, family_id, client_id, sub, scope, resource, code_digest, created_at, "            \
	"expires_at, idle_expires_at, rotated, revoked"
#define CONSENT_COLS "sub, client_id, resource, scope, granted_at"
#define SESSION_COLS "digest, sub, auth_time, expires_at"
#define AUTHREQ_COLS                                                                               \
	"digest, browser_digest, csrf_digest, client_id, redirect_uri, state, code_challenge, "    \
	"resource, scope, expires_at"
#define KEY_COLS "kid, alg, public_jwk, private_enc, created_at, retired_at, publish_until"

/* The three ways to name families for revocation; each takes its
 * parameters last in the statements below. */
#define SEL_ID "family_id = :family_id"
#define SEL_CODE "code_digest = :code_digest"
#define SEL_GRANT "sub = :sub AND client_id = :client_id"
#define SEL_SUB "sub = :sub"
#define FAM_REVOKE(sel) "UPDATE families SET revoked_at = :now WHERE revoked_at = 0 AND " sel
#define FAM_COUNT(sel) "SELECT count(*) FROM families WHERE " sel
#define FAM_REVOKE_REFRESH(sel)                                                                    \
	"UPDATE refresh_tokens SET revoked = 1 WHERE revoked = 0 AND family_id IN "                \
	"(SELECT family_id FROM families WHERE " sel ")"
#define FAM_DENY(sel)                                                                              \
	"INSERT INTO denied_jtis (jti, expires_at, denied_at) "                                     \
	"SELECT jti, expires_at, :now FROM access_tokens WHERE expires_at > :now AND family_id IN " \
	"(SELECT family_id FROM families WHERE " sel ") ON CONFLICT (jti) DO NOTHING"

#define STORE_SQL_QUERIES(X)                                                                       \
	X(USER_ADD, "INSERT INTO users (" USER_COLS ") VALUES "                                    \
		    "(:sub, :username, :password_hash, :created_at)")                              \
	X(USER_GET, "SELECT " USER_COLS " FROM users WHERE username = :username")                  \
	X(USER_GET_SUB, "SELECT " USER_COLS " FROM users WHERE sub = :sub")                        \
	X(USER_DEL, "DELETE FROM users WHERE username = :username")                                \
	X(SESSION_DEL_SUB, "DELETE FROM sessions WHERE sub = :sub")                                \
	X(CONSENT_DEL_SUB, "DELETE FROM consents WHERE sub = :sub")                                \
	X(CODE_DEL_SUB, "DELETE FROM codes WHERE sub = :sub")                                      \
	X(USER_SET_PASSWORD, "UPDATE users SET password_hash = :password_hash "                    \
			     "WHERE username = :username")                                         \
	X(USER_LIST, "SELECT " USER_COLS " FROM users ORDER BY username")                          \
	X(CLIENT_ADD, "INSERT INTO clients (" CLIENT_COLS ") VALUES (:client_id, :secret_digest, " \
		      ":name, :redirect_uris, :grant_types, :scope, :auth_method, :metadata, "     \
		      ":dynamic, :created_at, :secret_expires_at, :first_token_at)")               \
	X(CLIENT_GET, "SELECT " CLIENT_COLS " FROM clients WHERE client_id = :client_id")          \
	X(CLIENT_DEL, "DELETE FROM clients WHERE client_id = :client_id")                          \
	X(CLIENT_LIST, "SELECT " CLIENT_COLS " FROM clients ORDER BY client_id")                   \
	X(CLIENT_MARK, "UPDATE clients SET first_token_at = :now "                                 \
		       "WHERE client_id = :client_id AND first_token_at = 0")                      \
	X(CLIENT_EXISTS, "SELECT count(*) FROM clients WHERE client_id = :client_id")              \
	X(CLIENT_REAP, "DELETE FROM clients WHERE dynamic = 1 AND first_token_at = 0 "             \
		       "AND created_at < :before")                                                 \
	X(CODE_ADD, "INSERT INTO codes (" CODE_COLS ") VALUES (:digest, :client_id, :sub, "        \
		    ":redirect_uri, :code_challenge, :resource, :scope, :auth_time, :expires_at)") \
	X(CODE_CONSUME, "UPDATE codes SET used = 1 WHERE digest = :digest AND used = 0 "           \
			"AND expires_at > :now AND client_id = :client_id "                        \
			"AND code_challenge = :code_challenge AND redirect_uri = :redirect_uri "   \
			"RETURNING " CODE_COLS)                                                    \
	X(CODE_USED, "SELECT used FROM codes WHERE digest = :digest AND client_id = :client_id "   \
		     "AND code_challenge = :code_challenge AND redirect_uri = :redirect_uri")      \
	X(FAMILY_PUT, "INSERT INTO families (family_id, code_digest, client_id, sub, created_at, " \
		      "revoked_at) VALUES (:family_id, :code_digest, :client_id, :sub, "           \
		      ":created_at, (SELECT COALESCE(max(revoked_at), 0) FROM families "           \
		      "WHERE code_digest = :code_digest AND revoked_at > 0)) "                     \
		      "ON CONFLICT (family_id) DO UPDATE SET "                                     \
		      "code_digest = COALESCE(families.code_digest, excluded.code_digest), "       \
		      "client_id = COALESCE(families.client_id, excluded.client_id), "             \
		      "sub = COALESCE(families.sub, excluded.sub)")                                \
	X(REFRESH_ADD, "INSERT INTO refresh_tokens (" REFRESH_COLS ") SELECT :digest, "            \
		       ":family_id, :client_id, :sub, :scope, :resource, :code_digest, "           \
		       ":created_at, :expires_at, :idle_expires_at, :rotated, "                    \
		       "CASE WHEN revoked_at > 0 THEN 1 ELSE :revoked END "                        \
		       "FROM families WHERE family_id = :family_id")                               \
	X(REFRESH_GET, "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE digest = :digest")       \
	X(REFRESH_ROTATE, "UPDATE refresh_tokens SET rotated = 1 WHERE digest = :digest "          \
			  "AND rotated = 0 AND revoked = 0 AND expires_at > :now "                 \
			  "AND idle_expires_at > :now")                                            \
	X(REFRESH_ACTIVE, "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE sub = :sub "          \
			  "AND rotated = 0 AND revoked = 0 AND expires_at > :now "                 \
			  "AND idle_expires_at > :now ORDER BY created_at, digest")                \
	X(FAM_TOMBSTONE, "INSERT INTO families (family_id, code_digest, created_at, revoked_at) "   \
			 "VALUES ('replayed:' || :code_digest, :code_digest, :now, :now) "        \
			 "ON CONFLICT (family_id) DO NOTHING")                                    \
	X(FAM_REVOKE_ID, FAM_REVOKE(SEL_ID))                                                       \
	X(FAM_REVOKE_CODE, FAM_REVOKE(SEL_CODE))                                                   \
	X(FAM_REVOKE_GRANT, FAM_REVOKE(SEL_GRANT))                                                 \
	X(FAM_REVOKE_SUB, FAM_REVOKE(SEL_SUB))                                                     \
	X(FAM_COUNT_ID, FAM_COUNT(SEL_ID))                                                         \
	X(FAM_COUNT_CODE, FAM_COUNT(SEL_CODE))                                                     \
	X(FAM_COUNT_GRANT, FAM_COUNT(SEL_GRANT))                                                   \
	X(FAM_COUNT_SUB, FAM_COUNT(SEL_SUB))                                                       \
	X(FAM_REFRESH_ID, FAM_REVOKE_REFRESH(SEL_ID))                                              \
	X(FAM_REFRESH_CODE, FAM_REVOKE_REFRESH(SEL_CODE))                                          \
	X(FAM_REFRESH_GRANT, FAM_REVOKE_REFRESH(SEL_GRANT))                                        \
	X(FAM_REFRESH_SUB, FAM_REVOKE_REFRESH(SEL_SUB))                                            \
	X(FAM_DENY_ID, FAM_DENY(SEL_ID))                                                           \
	X(FAM_DENY_CODE, FAM_DENY(SEL_CODE))                                                       \
	X(FAM_DENY_GRANT, FAM_DENY(SEL_GRANT))                                                     \
	X(FAM_DENY_SUB, FAM_DENY(SEL_SUB))                                                         \
	X(ACCESS_ADD, "INSERT INTO access_tokens (jti, family_id, expires_at) "                    \
		      "VALUES (:jti, :family_id, :expires_at)")                                    \
	X(ACCESS_LATE_DENY, "INSERT INTO denied_jtis (jti, expires_at, denied_at) "                \
			    "SELECT :jti, :expires_at, revoked_at FROM families "                  \
			    "WHERE family_id = :family_id AND revoked_at > 0 "                     \
			    "ON CONFLICT (jti) DO NOTHING")                                        \
	X(JTI_DENY, "INSERT INTO denied_jtis (jti, expires_at, denied_at) "                        \
		    "VALUES (:jti, :expires_at, :now) ON CONFLICT (jti) DO UPDATE SET "            \
		    "expires_at = CASE WHEN excluded.expires_at > denied_jtis.expires_at "         \
		    "THEN excluded.expires_at ELSE denied_jtis.expires_at END")                    \
	X(JTI_DENIED, "SELECT count(*) FROM denied_jtis WHERE jti = :jti")                         \
	X(JTI_SINCE, "SELECT jti, expires_at FROM denied_jtis WHERE denied_at >= :since "          \
		     "ORDER BY denied_at, jti")                                                    \
	X(CONSENT_PUT, "INSERT INTO consents (" CONSENT_COLS ") VALUES (:sub, :client_id, "        \
		       ":resource, :scope, :granted_at) ON CONFLICT (sub, client_id, resource) "   \
		       "DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at")   \
	X(CONSENT_GET, "SELECT " CONSENT_COLS " FROM consents WHERE sub = :sub "                   \
		       "AND client_id = :client_id AND resource = :resource")                      \
	X(CONSENT_LIST, "SELECT " CONSENT_COLS " FROM consents WHERE sub = :sub "                  \
			"ORDER BY client_id, resource")                                            \
	X(CONSENT_DEL, "DELETE FROM consents WHERE sub = :sub AND client_id = :client_id")         \
	X(SESSION_ADD, "INSERT INTO sessions (" SESSION_COLS ") VALUES (:digest, :sub, "           \
		       ":auth_time, :expires_at)")                                                 \
	X(SESSION_GET, "SELECT " SESSION_COLS " FROM sessions WHERE digest = :digest "             \
		       "AND expires_at > :now")                                                    \
	X(SESSION_DEL, "DELETE FROM sessions WHERE digest = :digest")                              \
	X(AUTHREQ_ADD, "INSERT INTO authreqs (" AUTHREQ_COLS ") VALUES (:digest, "                 \
		       ":browser_digest, :csrf_digest, :client_id, :redirect_uri, :state, "        \
		       ":code_challenge, :resource, :scope, :expires_at)")                         \
	X(AUTHREQ_GET, "SELECT " AUTHREQ_COLS " FROM authreqs WHERE digest = :digest "             \
		       "AND expires_at > :now")                                                    \
	X(AUTHREQ_TAKE, "DELETE FROM authreqs WHERE digest = :digest AND expires_at > :now "       \
			"RETURNING " AUTHREQ_COLS)                                                 \
	X(KEY_ADD, "INSERT INTO signing_keys (" KEY_COLS ") VALUES (:kid, :alg, :public_jwk, "     \
		   ":private_enc, :created_at, :retired_at, :publish_until)")                      \
	X(KEY_LIST, "SELECT " KEY_COLS " FROM signing_keys ORDER BY created_at DESC, kid DESC")    \
	X(KEY_RETIRE, "UPDATE signing_keys SET retired_at = :retired_at, "                         \
		      "publish_until = :publish_until WHERE kid = :kid")                           \
	X(PURGE_CODES, "DELETE FROM codes WHERE expires_at <= :now")                               \
	X(PURGE_SESSIONS, "DELETE FROM sessions WHERE expires_at <= :now")                         \
	X(PURGE_AUTHREQS, "DELETE FROM authreqs WHERE expires_at <= :now")                         \
	X(PURGE_DENIED, "DELETE FROM denied_jtis WHERE expires_at <= :now")                        \
	X(PURGE_REFRESH, "DELETE FROM refresh_tokens WHERE expires_at <= :now")                    \
	X(PURGE_ACCESS, "DELETE FROM access_tokens WHERE expires_at <= :now")                      \
	X(PURGE_FAMILIES, "DELETE FROM families WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens "   \
			  "r WHERE r.family_id = families.family_id) AND NOT EXISTS (SELECT 1 "    \
			  "FROM access_tokens a WHERE a.family_id = families.family_id)")          \
	X(PURGE_KEYS, "DELETE FROM signing_keys WHERE retired_at > 0 AND publish_until > 0 "       \
		      "AND publish_until < :now")

#endif
