/*
 * The store tests every backend must pass, through store.h.  Included by
 * tests/unit/store/store_sqlite.c and tests/unit/store/store_pg.c, each of
 * which defines, before the #include, struct fix with at least
 *
 *	struct store *s;	the store under test, empty at the start
 *	char url[...];		its URL, for opening a second handle
 *
 * and then runs STORE_CASES(T) with its own setup and teardown.
 */
#ifndef MCPGATE_TESTS_UNIT_STORE_CASES_H
#define MCPGATE_TESTS_UNIT_STORE_CASES_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secret.h"
#include "store/store.h"

#define NOW ((int64_t)1700000000)
#define NTHREADS 8

/* A digest-like identifier: the digest of ${tag}. */
static void
dig(const char *tag, char out[SECRET_DIGEST_LEN + 1])
{
	secret_digest(tag, strlen(tag), out);
}

/* Users. */

static void
collect_user(void *arg, const struct store_user *u)
{
	char *buf = arg;

	strcat(buf, u->username);
	strcat(buf, ",");
}

static void
test_users(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_user u = {"sub-b", "bob", "$argon2id$x", NOW}, out;
	struct store_user a = {"sub-a", "alice", "$argon2id$y", NOW + 1};
	struct store_user dupname = {"sub-c", "bob", "$argon2id$z", NOW};
	struct store_user dupsub = {"sub-a", "carol", "$argon2id$z", NOW};
	char list[256] = "", longname[STORE_ID_MAX + 2];

	assert_int_equal(s->ops->user_add(s, &u), 0);
	assert_int_equal(s->ops->user_add(s, &a), 0);
	assert_int_equal(s->ops->user_add(s, &dupname), STORE_CONFLICT);
	assert_int_equal(s->ops->user_add(s, &dupsub), STORE_CONFLICT);

	assert_int_equal(s->ops->user_get(s, "bob", &out), 0);
	assert_string_equal(out.sub, "sub-b");
	assert_string_equal(out.username, "bob");
	assert_string_equal(out.password_hash, "$argon2id$x");
	assert_int_equal(out.created_at, NOW);
	store_user_clear(&out);
	assert_null(out.sub);

	assert_int_equal(s->ops->user_get_by_sub(s, "sub-a", &out), 0);
	assert_string_equal(out.username, "alice");
	store_user_clear(&out);
	assert_int_equal(s->ops->user_get(s, "nobody", &out), STORE_NOTFOUND);
	assert_null(out.username);
	assert_int_equal(s->ops->user_get_by_sub(s, "sub-x", &out), STORE_NOTFOUND);

	assert_int_equal(s->ops->user_list(s, collect_user, list), 0);
	assert_string_equal(list, "alice,bob,");

	assert_int_equal(s->ops->user_del(s, "bob", NOW), 0);
	assert_int_equal(s->ops->user_del(s, "bob", NOW), STORE_NOTFOUND);
	assert_int_equal(s->ops->user_get(s, "bob", &out), STORE_NOTFOUND);

	/* Limits: one byte over is refused, the limit itself is fine. */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	u.username = longname;
	assert_int_equal(s->ops->user_add(s, &u), -1);
	assert_int_equal(s->ops->user_get(s, longname, &out), -1);
	longname[STORE_ID_MAX] = '\0';
	assert_int_equal(s->ops->user_add(s, &u), 0);
	assert_int_equal(s->ops->user_get(s, longname, &out), 0);
	assert_int_equal(strlen(out.username), STORE_ID_MAX);
	store_user_clear(&out);

	/* A required field missing is a failure, not a crash. */
	u.username = NULL;
	u.sub = "sub-n";
	assert_int_equal(s->ops->user_add(s, &u), -1);
}

/* Clients. */

static void
collect_client(void *arg, const struct store_client *c)
{
	char *buf = arg;

	strcat(buf, c->client_id);
	strcat(buf, ",");
}

static void
test_clients(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_client c = {
	    .client_id = "web",
	    .secret_digest = "dddd",
	    .name = "Web app",
	    .redirect_uris = "[\"https://app/cb\"]",
	    .grant_types = "[\"authorization_code\"]",
	    .scope = "read write",
	    .auth_method = "client_secret_basic",
	    .metadata = "{}",
	    .created_at = NOW,
	    .secret_expires_at = NOW + 100,
	};
	struct store_client dyn_old = {.client_id = "dyn-old", .auth_method = "none", .dynamic = 1,
	    .created_at = NOW - 1000};
	struct store_client dyn_used = {.client_id = "dyn-used", .auth_method = "none",
	    .dynamic = 1, .created_at = NOW - 1000};
	struct store_client dyn_new = {.client_id = "dyn-new", .auth_method = "none", .dynamic = 1,
	    .created_at = NOW};
	struct store_client out;
	char list[256] = "", *big;
	int n = -1;

	assert_int_equal(s->ops->client_add(s, &c), 0);
	assert_int_equal(s->ops->client_add(s, &c), STORE_CONFLICT);
	assert_int_equal(s->ops->client_get(s, "web", &out), 0);
	assert_string_equal(out.client_id, "web");
	assert_string_equal(out.secret_digest, "dddd");
	assert_string_equal(out.name, "Web app");
	assert_string_equal(out.redirect_uris, "[\"https://app/cb\"]");
	assert_string_equal(out.grant_types, "[\"authorization_code\"]");
	assert_string_equal(out.scope, "read write");
	assert_string_equal(out.auth_method, "client_secret_basic");
	assert_string_equal(out.metadata, "{}");
	assert_int_equal(out.dynamic, 0);
	assert_int_equal(out.created_at, NOW);
	assert_int_equal(out.secret_expires_at, NOW + 100);
	assert_int_equal(out.first_token_at, 0);
	store_client_clear(&out);
	assert_int_equal(s->ops->client_get(s, "nope", &out), STORE_NOTFOUND);

	assert_int_equal(s->ops->client_add(s, &dyn_old), 0);
	assert_int_equal(s->ops->client_add(s, &dyn_used), 0);
	assert_int_equal(s->ops->client_add(s, &dyn_new), 0);
	assert_int_equal(s->ops->client_get(s, "dyn-old", &out), 0);
	assert_null(out.secret_digest);
	assert_null(out.metadata);
	assert_int_equal(out.dynamic, 1);
	store_client_clear(&out);

	/* first_token_at is set once. */
	assert_int_equal(s->ops->client_mark_used(s, "dyn-used", NOW - 500), 0);
	assert_int_equal(s->ops->client_mark_used(s, "dyn-used", NOW), 0);
	assert_int_equal(s->ops->client_get(s, "dyn-used", &out), 0);
	assert_int_equal(out.first_token_at, NOW - 500);
	store_client_clear(&out);
	assert_int_equal(s->ops->client_mark_used(s, "ghost", NOW), STORE_NOTFOUND);

	assert_int_equal(s->ops->client_list(s, collect_client, list), 0);
	assert_string_equal(list, "dyn-new,dyn-old,dyn-used,web,");

	/* Reap: only dynamic, unused, created before the cutoff. */
	assert_int_equal(s->ops->client_reap(s, NOW - 10, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(s->ops->client_get(s, "dyn-old", &out), STORE_NOTFOUND);
	assert_int_equal(s->ops->client_get(s, "dyn-used", &out), 0);
	store_client_clear(&out);
	assert_int_equal(s->ops->client_get(s, "dyn-new", &out), 0);
	store_client_clear(&out);

	assert_int_equal(s->ops->client_del(s, "web"), 0);
	assert_int_equal(s->ops->client_del(s, "web"), STORE_NOTFOUND);

	/* Text limit. */
	big = malloc(STORE_TEXT_MAX + 2);
	assert_non_null(big);
	memset(big, 'u', STORE_TEXT_MAX + 1);
	big[STORE_TEXT_MAX + 1] = '\0';
	c.redirect_uris = big;
	assert_int_equal(s->ops->client_add(s, &c), -1);
	big[STORE_TEXT_MAX] = '\0';
	assert_int_equal(s->ops->client_add(s, &c), 0);
	free(big);
}

/* Codes. */

static void
test_codes(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	char d1[SECRET_DIGEST_LEN + 1], d2[SECRET_DIGEST_LEN + 1], d3[SECRET_DIGEST_LEN + 1];
	struct store_code c = {.client_id = "web", .sub = "sub-a", .redirect_uri = "https://app/cb",
	    .code_challenge = "chal", .resource = "https://mcp/", .scope = "read",
	    .auth_time = NOW - 5, .expires_at = NOW + 60};
	struct store_code out;
	int replayed = -1;

	dig("code1", d1);
	dig("code2", d2);
	dig("code3", d3);
	c.digest = d1;
	assert_int_equal(s->ops->code_add(s, &c), 0);
	assert_int_equal(s->ops->code_add(s, &c), STORE_CONFLICT);

	/* Wrong bindings: neither used nor burned, and not a replay. */
	assert_int_equal(s->ops->code_consume(s, d1, NOW, "other", "chal", "https://app/cb", &out, &replayed),
	    STORE_NOTFOUND);
	assert_int_equal(replayed, 0);
	assert_int_equal(s->ops->code_consume(s, d1, NOW, "web", "wrong", "https://app/cb", &out, &replayed),
	    STORE_NOTFOUND);
	assert_int_equal(replayed, 0);
	assert_int_equal(s->ops->code_consume(s, d1, NOW, "web", "chal", "https://app/cb2", &out, &replayed),
	    STORE_NOTFOUND);
	assert_int_equal(replayed, 0);

	assert_int_equal(s->ops->code_consume(s, d1, NOW, "web", "chal", "https://app/cb", &out, &replayed), 0);
	assert_int_equal(replayed, 0);
	assert_string_equal(out.digest, d1);
	assert_string_equal(out.client_id, "web");
	assert_string_equal(out.sub, "sub-a");
	assert_string_equal(out.redirect_uri, "https://app/cb");
	assert_string_equal(out.code_challenge, "chal");
	assert_string_equal(out.resource, "https://mcp/");
	assert_string_equal(out.scope, "read");
	assert_int_equal(out.auth_time, NOW - 5);
	assert_int_equal(out.expires_at, NOW + 60);
	store_code_clear(&out);

	/* Second use: a replay. */
	assert_int_equal(s->ops->code_consume(s, d1, NOW, "web", "chal", "https://app/cb", &out, &replayed), STORE_NOTFOUND);
	assert_int_equal(replayed, 1);
	assert_null(out.digest);

	/* A used code presented with wrong bindings is not reported as a
	 * replay: whoever sent it cannot have been its holder. */
	assert_int_equal(s->ops->code_consume(s, d1, NOW, "web", "wrong", "https://app/cb", &out, &replayed),
	    STORE_NOTFOUND);
	assert_int_equal(replayed, 0);

	/* Expired (at exactly expires_at) and never used: not a replay. */
	c.digest = d2;
	c.expires_at = NOW;
	assert_int_equal(s->ops->code_add(s, &c), 0);
	assert_int_equal(s->ops->code_consume(s, d2, NOW, "web", "chal", "https://app/cb", &out, &replayed), STORE_NOTFOUND);
	assert_int_equal(replayed, 0);

	/* Absent. */
	replayed = -1;
	assert_int_equal(s->ops->code_consume(s, d3, NOW, "web", "chal", "https://app/cb", &out, &replayed), STORE_NOTFOUND);
	assert_int_equal(replayed, 0);
}

/* Refresh tokens. */

static struct store_refresh
mkrefresh(const char *digest, const char *family)
{
	struct store_refresh r = {
	    .digest = (char *)digest,
	    .family_id = (char *)family,
	    .client_id = "web",
	    .sub = "sub-a",
	    .scope = "read",
	    .resource = "https://mcp/",
	    .created_at = NOW,
	    .expires_at = NOW + 3600,
	    .idle_expires_at = NOW + 600,
	};

	return (r);
}

/* Deleting a user ends its sessions, consents, codes and token families,
 * and leaves other users' alone. */
static void
test_user_del_ends_access(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_user a = {"sub-a", "alice", "$argon2id$y", NOW};
	struct store_user b = {"sub-b", "bob", "$argon2id$x", NOW};
	struct store_session sa = {"sess-a", "sub-a", NOW, NOW + 100};
	struct store_session sb = {"sess-b", "sub-b", NOW, NOW + 100};
	struct store_consent ca = {"sub-a", "web", "https://mcp/", "read", NOW};
	struct store_consent cb = {"sub-b", "web", "https://mcp/", "read", NOW};
	struct store_code code = {.digest = "code-a", .client_id = "web", .sub = "sub-a",
	    .redirect_uri = "https://app/cb", .code_challenge = "chal", .resource = "https://mcp/",
	    .scope = "read", .auth_time = NOW, .expires_at = NOW + 60};
	struct store_refresh ra = mkrefresh("ra", "fam-a"), rb = mkrefresh("rb", "fam-b");
	struct store_refresh na = mkrefresh("ra2", "fam-a"), nb = mkrefresh("rb2", "fam-b");
	struct store_access aa = {"jti-a", "fam-a", NOW + 600, NULL, "web", "sub-a"};
	struct store_access ab = {"jti-b", "fam-b", NOW + 600, NULL, "web", "sub-b"};
	struct store_session se;
	struct store_consent co;
	struct store_code out;
	int replayed;

	rb.sub = nb.sub = "sub-b";
	assert_int_equal(s->ops->user_add(s, &a), 0);
	assert_int_equal(s->ops->user_add(s, &b), 0);
	assert_int_equal(s->ops->session_add(s, &sa), 0);
	assert_int_equal(s->ops->session_add(s, &sb), 0);
	assert_int_equal(s->ops->consent_put(s, &ca), 0);
	assert_int_equal(s->ops->consent_put(s, &cb), 0);
	assert_int_equal(s->ops->code_add(s, &code), 0);
	assert_int_equal(s->ops->refresh_add(s, &ra), 0);
	assert_int_equal(s->ops->refresh_add(s, &rb), 0);
	assert_int_equal(s->ops->access_add(s, &aa), 0);
	assert_int_equal(s->ops->access_add(s, &ab), 0);

	assert_int_equal(s->ops->user_del(s, "alice", NOW), 0);

	assert_int_equal(s->ops->session_get(s, "sess-a", NOW, &se), STORE_NOTFOUND);
	assert_int_equal(s->ops->consent_get(s, "sub-a", "web", "https://mcp/", &co), STORE_NOTFOUND);
	assert_int_equal(s->ops->code_consume(s, "code-a", NOW, "web", "chal", "https://app/cb", &out,
			     &replayed),
	    STORE_NOTFOUND);
	assert_int_equal(s->ops->refresh_rotate(s, "ra", NOW, &na), STORE_NOTFOUND);
	assert_int_equal(s->ops->jti_denied(s, "jti-a"), 1);

	/* Bob keeps everything. */
	assert_int_equal(s->ops->session_get(s, "sess-b", NOW, &se), 0);
	store_session_clear(&se);
	assert_int_equal(s->ops->consent_get(s, "sub-b", "web", "https://mcp/", &co), 0);
	store_consent_clear(&co);
	assert_int_equal(s->ops->jti_denied(s, "jti-b"), 0);
	assert_int_equal(s->ops->refresh_rotate(s, "rb", NOW, &nb), 0);
}

/* A replay of a code while its first exchange has consumed it but not yet
 * recorded its tokens: the revocation must still reach those tokens. */
static void
test_code_replay_before_family(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_code c = {.digest = "code-r", .client_id = "web", .sub = "sub-a",
	    .redirect_uri = "https://app/cb", .code_challenge = "chal", .resource = "https://mcp/",
	    .scope = "read", .auth_time = NOW, .expires_at = NOW + 60};
	struct store_refresh r = mkrefresh("rr", "fam-r"), next = mkrefresh("rr2", "fam-r");
	struct store_access a = {"jti-r", "fam-r", NOW + 600, "code-r", "web", "sub-a"};
	struct store_access other = {"jti-o", "fam-o", NOW + 600, "code-o", "web", "sub-a"};
	struct store_code out;
	int replayed;

	r.code_digest = "code-r";
	assert_int_equal(s->ops->code_add(s, &c), 0);
	/* The first exchange consumes the code... */
	assert_int_equal(s->ops->code_consume(s, "code-r", NOW, "web", "chal", "https://app/cb", &out,
			     &replayed),
	    0);
	store_code_clear(&out);
	/* ...the replay comes in and revokes what it can find (nothing)... */
	assert_int_equal(s->ops->code_consume(s, "code-r", NOW, "web", "chal", "https://app/cb", &out,
			     &replayed),
	    STORE_NOTFOUND);
	assert_int_equal(replayed, 1);
	assert_int_equal(s->ops->family_revoke_by_code(s, "code-r", NOW), STORE_NOTFOUND);
	/* ...and the first exchange records its tokens: born revoked. */
	assert_int_equal(s->ops->access_add(s, &a), 0);
	assert_int_equal(s->ops->refresh_add(s, &r), 0);
	assert_int_equal(s->ops->jti_denied(s, "jti-r"), 1);
	assert_int_equal(s->ops->refresh_rotate(s, "rr", NOW, &next), STORE_NOTFOUND);

	/* Families of other codes are not touched. */
	assert_int_equal(s->ops->access_add(s, &other), 0);
	assert_int_equal(s->ops->jti_denied(s, "jti-o"), 0);
}

static void
test_refresh_rotate(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_refresh r0 = mkrefresh("r0", "fam1"), r1 = mkrefresh("r1", "fam1");
	struct store_refresh r2 = mkrefresh("r2", "fam1"), out;

	r0.code_digest = "codeA";
	assert_int_equal(s->ops->refresh_add(s, &r0), 0);
	assert_int_equal(s->ops->refresh_add(s, &r0), STORE_CONFLICT);
	assert_int_equal(s->ops->refresh_get(s, "r0", &out), 0);
	assert_string_equal(out.family_id, "fam1");
	assert_string_equal(out.client_id, "web");
	assert_string_equal(out.sub, "sub-a");
	assert_string_equal(out.scope, "read");
	assert_string_equal(out.resource, "https://mcp/");
	assert_string_equal(out.code_digest, "codeA");
	assert_int_equal(out.expires_at, NOW + 3600);
	assert_int_equal(out.idle_expires_at, NOW + 600);
	assert_int_equal(out.rotated, 0);
	assert_int_equal(out.revoked, 0);
	store_refresh_clear(&out);
	assert_int_equal(s->ops->refresh_get(s, "zz", &out), STORE_NOTFOUND);

	/* Success, then the old token cannot rotate again. */
	assert_int_equal(s->ops->refresh_rotate(s, "r0", NOW + 10, &r1), 0);
	assert_int_equal(s->ops->refresh_get(s, "r0", &out), 0);
	assert_int_equal(out.rotated, 1);
	store_refresh_clear(&out);
	assert_int_equal(s->ops->refresh_get(s, "r1", &out), 0);
	assert_int_equal(out.rotated, 0);
	store_refresh_clear(&out);
	assert_int_equal(s->ops->refresh_rotate(s, "r0", NOW + 10, &r2), STORE_NOTFOUND);
	assert_int_equal(s->ops->refresh_get(s, "r2", &out), STORE_NOTFOUND);

	/* Idle expiry (exactly at idle_expires_at), absolute expiry. */
	assert_int_equal(s->ops->refresh_rotate(s, "r1", NOW + 600, &r2), STORE_NOTFOUND);
	r2 = mkrefresh("r2", "fam2");
	r2.idle_expires_at = NOW + 7200;
	assert_int_equal(s->ops->refresh_add(s, &r2), 0);
	r1 = mkrefresh("r3", "fam2");
	assert_int_equal(s->ops->refresh_rotate(s, "r2", NOW + 3600, &r1), STORE_NOTFOUND);
	assert_int_equal(s->ops->refresh_get(s, "r3", &out), STORE_NOTFOUND);

	/* Revoked. */
	assert_int_equal(s->ops->family_revoke(s, "fam2", NOW), 0);
	assert_int_equal(s->ops->refresh_rotate(s, "r2", NOW + 1, &r1), STORE_NOTFOUND);
	assert_int_equal(s->ops->refresh_get(s, "r2", &out), 0);
	assert_int_equal(out.revoked, 1);
	store_refresh_clear(&out);

	/* Unknown old token. */
	assert_int_equal(s->ops->refresh_rotate(s, "nope", NOW, &r1), STORE_NOTFOUND);

	/* A token added to a revoked family is born revoked. */
	r1 = mkrefresh("r4", "fam2");
	assert_int_equal(s->ops->refresh_add(s, &r1), 0);
	assert_int_equal(s->ops->refresh_get(s, "r4", &out), 0);
	assert_int_equal(out.revoked, 1);
	store_refresh_clear(&out);
}

/* Many threads rotate one token, each with its own successor. */
struct racer {
	struct store *s;
	pthread_barrier_t *bar;
	const char *old;
	char next[32];
	int rc;
};

static void *
rotate_racer(void *arg)
{
	struct racer *r = arg;
	struct store_refresh n = mkrefresh(r->next, "famrace");

	pthread_barrier_wait(r->bar);
	r->rc = r->s->ops->refresh_rotate(r->s, r->old, NOW, &n);
	return (NULL);
}

static void
test_refresh_rotate_race(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct racer rc[NTHREADS];
	pthread_t t[NTHREADS];
	pthread_barrier_t bar;
	struct store_refresh r, out;
	char old[32];
	int round, i, wins, fails, exist;

	for (round = 0; round < 200; round++) {
		snprintf(old, sizeof(old), "old-%d", round);
		r = mkrefresh(old, "famrace");
		assert_int_equal(s->ops->refresh_add(s, &r), 0);
		assert_int_equal(pthread_barrier_init(&bar, NULL, NTHREADS), 0);
		for (i = 0; i < NTHREADS; i++) {
			rc[i].s = s;
			rc[i].bar = &bar;
			rc[i].old = old;
			rc[i].rc = -2;
			snprintf(rc[i].next, sizeof(rc[i].next), "next-%d-%d", round, i);
			assert_int_equal(pthread_create(&t[i], NULL, rotate_racer, &rc[i]), 0);
		}
		for (i = 0; i < NTHREADS; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&bar);

		wins = fails = exist = 0;
		for (i = 0; i < NTHREADS; i++) {
			if (rc[i].rc == 0)
				wins++;
			else if (rc[i].rc == STORE_NOTFOUND)
				fails++;
			if (s->ops->refresh_get(s, rc[i].next, &out) == 0) {
				/* Only the winner's successor exists. */
				assert_int_equal(rc[i].rc, 0);
				exist++;
				store_refresh_clear(&out);
			}
		}
		assert_int_equal(wins, 1);
		assert_int_equal(fails, NTHREADS - 1);
		assert_int_equal(exist, 1);
	}
}

/* Many threads consume one code: one gets it, the others see a replay. */
struct consumer {
	struct store *s;
	pthread_barrier_t *bar;
	const char *digest;
	int rc, replayed;
};

static void *
consume_racer(void *arg)
{
	struct consumer *c = arg;
	struct store_code out;

	pthread_barrier_wait(c->bar);
	c->rc = c->s->ops->code_consume(c->s, c->digest, NOW, "web", "chal", "https://app/cb", &out,
	    &c->replayed);
	if (c->rc == 0)
		store_code_clear(&out);
	return (NULL);
}

static void
test_code_consume_race(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_code c = {.client_id = "web", .sub = "sub-a", .redirect_uri = "https://app/cb",
	    .code_challenge = "chal", .auth_time = NOW, .expires_at = NOW + 60};
	struct consumer cs[NTHREADS];
	pthread_t t[NTHREADS];
	pthread_barrier_t bar;
	char d[32];
	int round, i, wins;

	for (round = 0; round < 100; round++) {
		snprintf(d, sizeof(d), "code-%d", round);
		c.digest = d;
		assert_int_equal(s->ops->code_add(s, &c), 0);
		assert_int_equal(pthread_barrier_init(&bar, NULL, NTHREADS), 0);
		for (i = 0; i < NTHREADS; i++) {
			cs[i] = (struct consumer){s, &bar, d, -2, -2};
			assert_int_equal(pthread_create(&t[i], NULL, consume_racer, &cs[i]), 0);
		}
		wins = 0;
		for (i = 0; i < NTHREADS; i++) {
			pthread_join(t[i], NULL);
			if (cs[i].rc == 0) {
				wins++;
				assert_int_equal(cs[i].replayed, 0);
			} else {
				assert_int_equal(cs[i].rc, STORE_NOTFOUND);
				assert_int_equal(cs[i].replayed, 1);
			}
		}
		pthread_barrier_destroy(&bar);
		assert_int_equal(wins, 1);
	}
}

/* More threads than pooled connections: they wait their turn. */
struct reader {
	struct store *s;
	int bad;
};

static void *
read_loop(void *arg)
{
	struct reader *r = arg;
	struct store_client out;
	int i;

	for (i = 0; i < 200; i++) {
		if (r->s->ops->client_get(r->s, "web", &out) != 0) {
			r->bad++;
			continue;
		}
		if (strcmp(out.client_id, "web") != 0)
			r->bad++;
		store_client_clear(&out);
		if (r->s->ops->jti_denied(r->s, "j") != 1)
			r->bad++;
		if (i % 20 == 0 && r->s->ops->client_mark_used(r->s, "web", NOW + i) != 0)
			r->bad++;
	}
	return (NULL);
}

static void
test_many_threads(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_client c = {.client_id = "web", .auth_method = "none", .created_at = NOW};
	struct reader r[2 * NTHREADS];
	pthread_t t[2 * NTHREADS];
	char longjti[STORE_ID_MAX + 2];
	int i;

	assert_int_equal(s->ops->client_add(s, &c), 0);
	assert_int_equal(s->ops->jti_deny(s, "j", NOW + 100, NOW), 0);
	for (i = 0; i < 2 * NTHREADS; i++) {
		r[i] = (struct reader){s, 0};
		assert_int_equal(pthread_create(&t[i], NULL, read_loop, &r[i]), 0);
	}
	for (i = 0; i < 2 * NTHREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].bad, 0);
	}

	/* jti_denied fails (rather than answering "not denied") on bad input. */
	memset(longjti, 'j', sizeof(longjti) - 1);
	longjti[sizeof(longjti) - 1] = '\0';
	assert_int_equal(s->ops->jti_denied(s, longjti), -1);
}

/* Families. */

struct jtis {
	char buf[512];
	int n;
};

static void
collect_jti(void *arg, const char *jti, int64_t expires_at)
{
	struct jtis *j = arg;

	(void)expires_at;
	strcat(j->buf, jti);
	strcat(j->buf, ",");
	j->n++;
}

static void
test_family_revoke(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_refresh r0 = mkrefresh("r0", "fam1"), r1 = mkrefresh("r1", "fam1"), out;
	struct store_refresh o0 = mkrefresh("o0", "fam-other");
	struct store_access a1 = {"jti-1", "fam1", NOW + 300, NULL, NULL, NULL};
	struct store_access a2 = {"jti-2", "fam1", NOW + 600, NULL, NULL, NULL};
	struct store_access old = {"jti-old", "fam1", NOW - 1, NULL, NULL, NULL};
	struct store_access ao = {"jti-o", "fam-other", NOW + 300, NULL, NULL, NULL};
	struct store_access late = {"jti-late", "fam1", NOW + 900, NULL, NULL, NULL};
	struct jtis j = {"", 0};

	assert_int_equal(s->ops->refresh_add(s, &r0), 0);
	assert_int_equal(s->ops->refresh_add(s, &o0), 0);
	assert_int_equal(s->ops->access_add(s, &a1), 0);
	assert_int_equal(s->ops->access_add(s, &old), 0);
	assert_int_equal(s->ops->access_add(s, &ao), 0);
	assert_int_equal(s->ops->access_add(s, &a1), STORE_CONFLICT);
	assert_int_equal(s->ops->refresh_rotate(s, "r0", NOW, &r1), 0);
	assert_int_equal(s->ops->access_add(s, &a2), 0);

	assert_int_equal(s->ops->jti_denied(s, "jti-1"), 0);
	assert_int_equal(s->ops->family_revoke(s, "fam1", NOW + 5), 0);
	assert_int_equal(s->ops->jti_denied(s, "jti-1"), 1);
	assert_int_equal(s->ops->jti_denied(s, "jti-2"), 1);
	/* Already expired: nothing to deny. */
	assert_int_equal(s->ops->jti_denied(s, "jti-old"), 0);
	/* Other families untouched. */
	assert_int_equal(s->ops->jti_denied(s, "jti-o"), 0);
	assert_int_equal(s->ops->refresh_get(s, "o0", &out), 0);
	assert_int_equal(out.revoked, 0);
	store_refresh_clear(&out);
	assert_int_equal(s->ops->refresh_get(s, "r0", &out), 0);
	assert_int_equal(out.revoked, 1);
	store_refresh_clear(&out);
	assert_int_equal(s->ops->refresh_get(s, "r1", &out), 0);
	assert_int_equal(out.revoked, 1);
	store_refresh_clear(&out);

	/* Again: still fine; unknown family: not found. */
	assert_int_equal(s->ops->family_revoke(s, "fam1", NOW + 6), 0);
	assert_int_equal(s->ops->family_revoke(s, "fam-none", NOW + 6), STORE_NOTFOUND);

	/* An access token recorded after the revocation is denied at once. */
	assert_int_equal(s->ops->access_add(s, &late), 0);
	assert_int_equal(s->ops->jti_denied(s, "jti-late"), 1);

	/* The denial times are those of the revocation. */
	assert_int_equal(s->ops->jti_denied_since(s, NOW + 5, collect_jti, &j), 0);
	assert_int_equal(j.n, 3);
	assert_non_null(strstr(j.buf, "jti-1,"));
	assert_non_null(strstr(j.buf, "jti-2,"));
	assert_non_null(strstr(j.buf, "jti-late,"));
	j.n = 0;
	j.buf[0] = '\0';
	assert_int_equal(s->ops->jti_denied_since(s, NOW + 6, collect_jti, &j), 0);
	assert_int_equal(j.n, 0);
}

static void
test_family_revoke_by_code(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_refresh r0 = mkrefresh("r0", "fam-r"), out;
	struct store_access ar = {"jti-r", "fam-r", NOW + 300, NULL, NULL, NULL};
	/* An exchange without a refresh token: only the access token. */
	struct store_access aa = {"jti-a", "fam-a", NOW + 300, "codeB", "web", "sub-a"};
	struct store_access ax = {"jti-x", "fam-x", NOW + 300, "codeX", "web", "sub-a"};

	r0.code_digest = "codeA";
	assert_int_equal(s->ops->refresh_add(s, &r0), 0);
	assert_int_equal(s->ops->access_add(s, &ar), 0);
	assert_int_equal(s->ops->access_add(s, &aa), 0);
	assert_int_equal(s->ops->access_add(s, &ax), 0);

	assert_int_equal(s->ops->family_revoke_by_code(s, "codeA", NOW), 0);
	assert_int_equal(s->ops->jti_denied(s, "jti-r"), 1);
	assert_int_equal(s->ops->refresh_get(s, "r0", &out), 0);
	assert_int_equal(out.revoked, 1);
	store_refresh_clear(&out);
	assert_int_equal(s->ops->jti_denied(s, "jti-a"), 0);

	assert_int_equal(s->ops->family_revoke_by_code(s, "codeB", NOW), 0);
	assert_int_equal(s->ops->jti_denied(s, "jti-a"), 1);
	assert_int_equal(s->ops->jti_denied(s, "jti-x"), 0);

	assert_int_equal(s->ops->family_revoke_by_code(s, "codeZ", NOW), STORE_NOTFOUND);
}

static void
test_jti_deny(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct jtis j = {"", 0};

	assert_int_equal(s->ops->jti_denied(s, "a"), 0);
	assert_int_equal(s->ops->jti_deny(s, "a", NOW + 100, NOW), 0);
	assert_int_equal(s->ops->jti_deny(s, "b", NOW + 100, NOW + 10), 0);
	/* Denying twice is fine. */
	assert_int_equal(s->ops->jti_deny(s, "a", NOW + 200, NOW + 20), 0);
	assert_int_equal(s->ops->jti_denied(s, "a"), 1);
	assert_int_equal(s->ops->jti_denied(s, "b"), 1);
	assert_int_equal(s->ops->jti_denied(s, "c"), 0);

	assert_int_equal(s->ops->jti_denied_since(s, NOW + 5, collect_jti, &j), 0);
	assert_string_equal(j.buf, "b,");
	j.n = 0;
	j.buf[0] = '\0';
	assert_int_equal(s->ops->jti_denied_since(s, 0, collect_jti, &j), 0);
	assert_string_equal(j.buf, "a,b,");

	/* The later expiry wins: a survives a purge at NOW + 150. */
	assert_int_equal(s->ops->purge(s, NOW + 150), 0);
	assert_int_equal(s->ops->jti_denied(s, "a"), 1);
	assert_int_equal(s->ops->jti_denied(s, "b"), 0);
}

/* Consents. */

static void
collect_consent(void *arg, const struct store_consent *c)
{
	char *buf = arg;

	strcat(buf, c->client_id);
	strcat(buf, "|");
	strcat(buf, c->resource ? c->resource : "(null)");
	strcat(buf, "|");
	strcat(buf, c->scope);
	strcat(buf, ",");
}

static void
test_consents(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_consent c1 = {"sub-a", "web", "https://mcp/", "read", NOW};
	struct store_consent c2 = {"sub-a", "web", NULL, "openid", NOW};
	struct store_consent c3 = {"sub-a", "cli", "https://mcp/", "read write", NOW};
	struct store_consent c4 = {"sub-b", "web", "https://mcp/", "read", NOW};
	struct store_consent out;
	struct store_refresh rw = mkrefresh("rw", "fam-web"), rc = mkrefresh("rc", "fam-cli");
	struct store_access aw = {"jti-web", "fam-web", NOW + 300, NULL, NULL, NULL};
	struct store_access aonly = {"jti-only", "fam-only", NOW + 300, NULL, "web", "sub-a"};
	char list[512] = "";

	assert_int_equal(s->ops->consent_put(s, &c1), 0);
	assert_int_equal(s->ops->consent_put(s, &c2), 0);
	assert_int_equal(s->ops->consent_put(s, &c3), 0);
	assert_int_equal(s->ops->consent_put(s, &c4), 0);

	assert_int_equal(s->ops->consent_get(s, "sub-a", "web", "https://mcp/", &out), 0);
	assert_string_equal(out.scope, "read");
	assert_string_equal(out.resource, "https://mcp/");
	assert_int_equal(out.granted_at, NOW);
	store_consent_clear(&out);
	assert_int_equal(s->ops->consent_get(s, "sub-a", "web", NULL, &out), 0);
	assert_null(out.resource);
	assert_string_equal(out.scope, "openid");
	store_consent_clear(&out);
	assert_int_equal(s->ops->consent_get(s, "sub-a", "web", "https://x/", &out),
	    STORE_NOTFOUND);

	/* Upsert. */
	c1.scope = "read write";
	c1.granted_at = NOW + 1;
	assert_int_equal(s->ops->consent_put(s, &c1), 0);
	assert_int_equal(s->ops->consent_get(s, "sub-a", "web", "https://mcp/", &out), 0);
	assert_string_equal(out.scope, "read write");
	assert_int_equal(out.granted_at, NOW + 1);
	store_consent_clear(&out);

	assert_int_equal(s->ops->consent_list(s, "sub-a", collect_consent, list), 0);
	assert_string_equal(list,
	    "cli|https://mcp/|read write,web|(null)|openid,web|https://mcp/|read write,");

	/* Revoke (sub-a, web): consents gone, the grant's families revoked,
	 * including one that has only an access token; cli untouched. */
	rc.client_id = "cli";
	assert_int_equal(s->ops->refresh_add(s, &rw), 0);
	assert_int_equal(s->ops->refresh_add(s, &rc), 0);
	assert_int_equal(s->ops->access_add(s, &aw), 0);
	assert_int_equal(s->ops->access_add(s, &aonly), 0);
	assert_int_equal(s->ops->consent_revoke(s, "sub-a", "web", NOW), 0);
	assert_int_equal(s->ops->consent_get(s, "sub-a", "web", "https://mcp/", &out),
	    STORE_NOTFOUND);
	assert_int_equal(s->ops->consent_get(s, "sub-a", "web", NULL, &out), STORE_NOTFOUND);
	assert_int_equal(s->ops->consent_get(s, "sub-a", "cli", "https://mcp/", &out), 0);
	store_consent_clear(&out);
	assert_int_equal(s->ops->consent_get(s, "sub-b", "web", "https://mcp/", &out), 0);
	store_consent_clear(&out);
	assert_int_equal(s->ops->jti_denied(s, "jti-web"), 1);
	assert_int_equal(s->ops->jti_denied(s, "jti-only"), 1);
	assert_int_equal(s->ops->refresh_rotate(s, "rw", NOW, &rc), STORE_NOTFOUND);
	rw = mkrefresh("rc2", "fam-cli");
	assert_int_equal(s->ops->refresh_rotate(s, "rc", NOW, &rw), 0);

	assert_int_equal(s->ops->consent_revoke(s, "sub-x", "web", NOW), STORE_NOTFOUND);
}

static void
collect_refresh(void *arg, const struct store_refresh *r)
{
	char *buf = arg;

	strcat(buf, r->digest);
	strcat(buf, ",");
}

static void
test_refresh_list_active(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_refresh a = mkrefresh("a", "f1"), b = mkrefresh("b", "f1");
	struct store_refresh c = mkrefresh("c", "f2"), d = mkrefresh("d", "f3");
	struct store_refresh e = mkrefresh("e", "f4");
	char list[256] = "";

	d.sub = "sub-other";
	e.idle_expires_at = NOW + 5;
	assert_int_equal(s->ops->refresh_add(s, &a), 0);
	assert_int_equal(s->ops->refresh_rotate(s, "a", NOW, &b), 0);
	assert_int_equal(s->ops->refresh_add(s, &c), 0);
	assert_int_equal(s->ops->refresh_add(s, &d), 0);
	assert_int_equal(s->ops->refresh_add(s, &e), 0);
	assert_int_equal(s->ops->family_revoke(s, "f2", NOW), 0);
	assert_int_equal(s->ops->refresh_list_active(s, "sub-a", NOW + 10, collect_refresh, list),
	    0);
	assert_string_equal(list, "b,");
}

/* Sessions and pending requests. */

static void
test_sessions(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_session se = {"sess1", "sub-a", NOW, NOW + 100}, out;

	assert_int_equal(s->ops->session_add(s, &se), 0);
	assert_int_equal(s->ops->session_add(s, &se), STORE_CONFLICT);
	assert_int_equal(s->ops->session_get(s, "sess1", NOW + 99, &out), 0);
	assert_string_equal(out.digest, "sess1");
	assert_string_equal(out.sub, "sub-a");
	assert_int_equal(out.auth_time, NOW);
	assert_int_equal(out.expires_at, NOW + 100);
	store_session_clear(&out);
	assert_int_equal(s->ops->session_get(s, "sess1", NOW + 100, &out), STORE_NOTFOUND);
	assert_int_equal(s->ops->session_del(s, "sess1"), 0);
	assert_int_equal(s->ops->session_get(s, "sess1", NOW, &out), STORE_NOTFOUND);
	assert_int_equal(s->ops->session_del(s, "sess1"), STORE_NOTFOUND);
}

/* A new password ends the user's browser sessions, and no one else's. */
static void
test_set_password(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_user a = {"sub-a", "alice", "$argon2id$old", NOW};
	struct store_user b = {"sub-b", "bob", "$argon2id$b", NOW};
	struct store_session sa = {"sess-a", "sub-a", NOW, NOW + 100};
	struct store_session sb = {"sess-b", "sub-b", NOW, NOW + 100};
	struct store_session out;
	struct store_user u;

	assert_int_equal(s->ops->user_add(s, &a), 0);
	assert_int_equal(s->ops->user_add(s, &b), 0);
	assert_int_equal(s->ops->session_add(s, &sa), 0);
	assert_int_equal(s->ops->session_add(s, &sb), 0);
	assert_int_equal(s->ops->user_set_password(s, "alice", "$argon2id$new"), 0);
	assert_int_equal(s->ops->user_get(s, "alice", &u), 0);
	assert_string_equal(u.password_hash, "$argon2id$new");
	assert_string_equal(u.sub, "sub-a");
	store_user_clear(&u);
	assert_int_equal(s->ops->session_get(s, "sess-a", NOW, &out), STORE_NOTFOUND);
	assert_int_equal(s->ops->session_get(s, "sess-b", NOW, &out), 0);
	store_session_clear(&out);
	assert_int_equal(s->ops->user_set_password(s, "nobody", "$argon2id$x"), STORE_NOTFOUND);
}

static struct store_authreq
mkauthreq(const char *digest, int64_t expires_at)
{
	struct store_authreq a = {
	    .digest = (char *)digest,
	    .browser_digest = "browser",
	    .csrf_digest = "csrf",
	    .client_id = "web",
	    .redirect_uri = "https://app/cb",
	    .state = NULL,
	    .code_challenge = "chal",
	    .resource = "https://mcp/",
	    .scope = "read",
	    .expires_at = expires_at,
	};

	return (a);
}

static void
test_authreqs(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_authreq a = mkauthreq("req1", NOW + 100), b = mkauthreq("req2", NOW + 10);
	struct store_authreq out;

	b.state = "xyz";
	assert_int_equal(s->ops->authreq_add(s, &a), 0);
	assert_int_equal(s->ops->authreq_add(s, &a), STORE_CONFLICT);
	assert_int_equal(s->ops->authreq_add(s, &b), 0);

	assert_int_equal(s->ops->authreq_get(s, "req1", NOW, &out), 0);
	assert_string_equal(out.digest, "req1");
	assert_string_equal(out.browser_digest, "browser");
	assert_string_equal(out.csrf_digest, "csrf");
	assert_string_equal(out.client_id, "web");
	assert_string_equal(out.redirect_uri, "https://app/cb");
	assert_null(out.state);
	assert_string_equal(out.code_challenge, "chal");
	assert_string_equal(out.resource, "https://mcp/");
	assert_string_equal(out.scope, "read");
	assert_int_equal(out.expires_at, NOW + 100);
	store_authreq_clear(&out);
	/* get does not consume. */
	assert_int_equal(s->ops->authreq_get(s, "req1", NOW, &out), 0);
	store_authreq_clear(&out);

	assert_int_equal(s->ops->authreq_take(s, "req1", NOW, &out), 0);
	assert_string_equal(out.scope, "read");
	store_authreq_clear(&out);
	assert_int_equal(s->ops->authreq_take(s, "req1", NOW, &out), STORE_NOTFOUND);
	assert_int_equal(s->ops->authreq_get(s, "req1", NOW, &out), STORE_NOTFOUND);

	/* Expired. */
	assert_int_equal(s->ops->authreq_get(s, "req2", NOW + 10, &out), STORE_NOTFOUND);
	assert_int_equal(s->ops->authreq_take(s, "req2", NOW + 10, &out), STORE_NOTFOUND);
	assert_int_equal(s->ops->authreq_take(s, "req2", NOW + 9, &out), 0);
	assert_string_equal(out.state, "xyz");
	store_authreq_clear(&out);
}

struct taker {
	struct store *s;
	pthread_barrier_t *bar;
	const char *digest;
	int rc;
};

static void *
take_racer(void *arg)
{
	struct taker *t = arg;
	struct store_authreq out;

	pthread_barrier_wait(t->bar);
	t->rc = t->s->ops->authreq_take(t->s, t->digest, NOW, &out);
	if (t->rc == 0)
		store_authreq_clear(&out);
	return (NULL);
}

static void
test_authreq_take_race(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct taker tk[NTHREADS];
	pthread_t t[NTHREADS];
	pthread_barrier_t bar;
	struct store_authreq a;
	char d[32];
	int round, i, wins;

	for (round = 0; round < 100; round++) {
		snprintf(d, sizeof(d), "req-%d", round);
		a = mkauthreq(d, NOW + 100);
		assert_int_equal(s->ops->authreq_add(s, &a), 0);
		assert_int_equal(pthread_barrier_init(&bar, NULL, NTHREADS), 0);
		for (i = 0; i < NTHREADS; i++) {
			tk[i] = (struct taker){s, &bar, d, -2};
			assert_int_equal(pthread_create(&t[i], NULL, take_racer, &tk[i]), 0);
		}
		wins = 0;
		for (i = 0; i < NTHREADS; i++) {
			pthread_join(t[i], NULL);
			if (tk[i].rc == 0)
				wins++;
			else
				assert_int_equal(tk[i].rc, STORE_NOTFOUND);
		}
		pthread_barrier_destroy(&bar);
		assert_int_equal(wins, 1);
	}
}

/* Keys. */

static void
collect_key(void *arg, const struct store_key *k)
{
	char *buf = arg;
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "%s:%lld:%lld,", k->kid, (long long)k->retired_at,
	    (long long)k->publish_until);
	strcat(buf, tmp);
}

static void
test_keys(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_key k1 = {"k1", "ES256", "{\"kty\":\"EC\"}", "sealed1", NOW - 200, 0, 0};
	struct store_key k2 = {"k2", "ES256", "{\"kty\":\"EC\"}", "sealed2", NOW - 100, 0, 0};
	struct store_key k3 = {"k3", "ES256", "{\"kty\":\"EC\"}", "sealed3", NOW, 0, 0};
	char list[256] = "";
	struct store_key *k[] = {&k2, &k3, &k1};
	size_t i;

	for (i = 0; i < 3; i++)
		assert_int_equal(s->ops->key_add(s, k[i]), 0);
	assert_int_equal(s->ops->key_add(s, &k1), STORE_CONFLICT);
	assert_int_equal(s->ops->key_list(s, collect_key, list), 0);
	assert_string_equal(list, "k3:0:0,k2:0:0,k1:0:0,");

	assert_int_equal(s->ops->key_retire(s, "k2", NOW, NOW + 50), 0);
	assert_int_equal(s->ops->key_retire(s, "k9", NOW, NOW + 50), STORE_NOTFOUND);
	list[0] = '\0';
	assert_int_equal(s->ops->key_list(s, collect_key, list), 0);
	assert_string_equal(list, "k3:0:0,k2:1700000000:1700000050,k1:0:0,");
}

/* Purge. */

static void
count_key(void *arg, const struct store_key *k)
{
	(void)k;
	(*(int *)arg)++;
}

static void
test_purge(void **state)
{
	struct fix *f = *state;
	struct store *s = f->s;
	struct store_code c = {.client_id = "web", .sub = "sub-a", .redirect_uri = "https://app/cb",
	    .code_challenge = "chal", .auth_time = NOW};
	struct store_session se = {"s-old", "sub-a", NOW, NOW + 10};
	struct store_session sn = {"s-new", "sub-a", NOW, NOW + 1000};
	struct store_authreq ao = mkauthreq("a-old", NOW + 10), an = mkauthreq("a-new", NOW + 1000);
	struct store_refresh ro = mkrefresh("r-old", "f-old"), rn = mkrefresh("r-new", "f-new");
	struct store_access xo = {"x-old", "f-old", NOW + 10, NULL, NULL, NULL};
	struct store_access xn = {"x-new", "f-new", NOW + 1000, NULL, NULL, NULL};
	struct store_key kr = {"k-ret", "ES256", "{}", "s", NOW, NOW, NOW + 10};
	struct store_key kp = {"k-pub", "ES256", "{}", "s", NOW, NOW, NOW + 1000};
	struct store_key kc = {"k-cur", "ES256", "{}", "s", NOW, 0, 0};
	struct store_key kz = {"k-zero", "ES256", "{}", "s", NOW, NOW, 0};
	struct store_code cout;
	struct store_session sout;
	struct store_authreq aout;
	struct store_refresh rout;
	int replayed, nkeys = 0;

	c.digest = "c-old";
	c.expires_at = NOW + 10;
	assert_int_equal(s->ops->code_add(s, &c), 0);
	c.digest = "c-new";
	c.expires_at = NOW + 1000;
	assert_int_equal(s->ops->code_add(s, &c), 0);
	assert_int_equal(s->ops->session_add(s, &se), 0);
	assert_int_equal(s->ops->session_add(s, &sn), 0);
	assert_int_equal(s->ops->authreq_add(s, &ao), 0);
	assert_int_equal(s->ops->authreq_add(s, &an), 0);
	ro.expires_at = NOW + 10;
	ro.idle_expires_at = NOW + 10;
	rn.expires_at = NOW + 1000;
	assert_int_equal(s->ops->refresh_add(s, &ro), 0);
	assert_int_equal(s->ops->refresh_add(s, &rn), 0);
	assert_int_equal(s->ops->access_add(s, &xo), 0);
	assert_int_equal(s->ops->access_add(s, &xn), 0);
	assert_int_equal(s->ops->jti_deny(s, "d-old", NOW + 10, NOW), 0);
	assert_int_equal(s->ops->jti_deny(s, "d-new", NOW + 1000, NOW), 0);
	assert_int_equal(s->ops->key_add(s, &kr), 0);
	assert_int_equal(s->ops->key_add(s, &kp), 0);
	assert_int_equal(s->ops->key_add(s, &kc), 0);
	assert_int_equal(s->ops->key_add(s, &kz), 0);

	assert_int_equal(s->ops->purge(s, NOW + 100), 0);

	/* A purged used code no longer reports a replay. */
	assert_int_equal(s->ops->code_consume(s, "c-old", NOW, "web", "chal", "https://app/cb", &cout, &replayed), STORE_NOTFOUND);
	assert_int_equal(replayed, 0);
	assert_int_equal(s->ops->code_consume(s, "c-new", NOW + 100, "web", "chal", "https://app/cb", &cout, &replayed), 0);
	store_code_clear(&cout);
	assert_int_equal(s->ops->session_get(s, "s-old", 0, &sout), STORE_NOTFOUND);
	assert_int_equal(s->ops->session_get(s, "s-new", 0, &sout), 0);
	store_session_clear(&sout);
	assert_int_equal(s->ops->authreq_get(s, "a-old", 0, &aout), STORE_NOTFOUND);
	assert_int_equal(s->ops->authreq_get(s, "a-new", 0, &aout), 0);
	store_authreq_clear(&aout);
	assert_int_equal(s->ops->refresh_get(s, "r-old", &rout), STORE_NOTFOUND);
	assert_int_equal(s->ops->refresh_get(s, "r-new", &rout), 0);
	store_refresh_clear(&rout);
	assert_int_equal(s->ops->jti_denied(s, "d-old"), 0);
	assert_int_equal(s->ops->jti_denied(s, "d-new"), 1);
	/* f-old had no token left: the family itself is gone. */
	assert_int_equal(s->ops->family_revoke(s, "f-old", NOW + 100), STORE_NOTFOUND);
	assert_int_equal(s->ops->family_revoke(s, "f-new", NOW + 100), 0);
	assert_int_equal(s->ops->jti_denied(s, "x-new"), 1);
	assert_int_equal(s->ops->jti_denied(s, "x-old"), 0);
	/* Keys: only the retired one whose publication ended. */
	assert_int_equal(s->ops->key_list(s, count_key, &nkeys), 0);
	assert_int_equal(nkeys, 3);
	assert_int_equal(s->ops->key_retire(s, "k-ret", NOW, NOW), STORE_NOTFOUND);
	assert_int_equal(s->ops->key_retire(s, "k-zero", NOW, 0), 0);
}

/* Two handles on one database, as the server and the admin tool have (or
 * two nodes on one PostgreSQL database). */
static void
test_two_handles(void **state)
{
	struct fix *f = *state;
	struct store *a = f->s, *b;
	struct store_refresh r0 = mkrefresh("r0", "fam"), r1 = mkrefresh("r1", "fam");
	struct store_refresh r2 = mkrefresh("r2", "fam"), out;
	struct store_key k = {"k1", "ES256", "{}", "sealed", NOW, 0, 0};
	int n = 0;

	assert_non_null(b = store_open(f->url));
	assert_int_equal(a->ops->refresh_add(a, &r0), 0);
	assert_int_equal(b->ops->refresh_get(b, "r0", &out), 0);
	store_refresh_clear(&out);
	assert_int_equal(b->ops->refresh_rotate(b, "r0", NOW, &r1), 0);
	assert_int_equal(a->ops->refresh_rotate(a, "r0", NOW, &r2), STORE_NOTFOUND);
	assert_int_equal(b->ops->key_add(b, &k), 0);
	assert_int_equal(a->ops->key_list(a, count_key, &n), 0);
	assert_int_equal(n, 1);
	store_free(b);
}

#define STORE_CASES(T)                                                                             \
	T(test_users), T(test_user_del_ends_access), T(test_code_replay_before_family),            \
	    T(test_clients), T(test_codes), T(test_refresh_rotate), T(test_refresh_rotate_race),   \
	    T(test_code_consume_race), T(test_many_threads), T(test_family_revoke),                \
	    T(test_family_revoke_by_code), T(test_jti_deny), T(test_consents),                     \
	    T(test_refresh_list_active), T(test_sessions), T(test_set_password), T(test_authreqs), \
	    T(test_authreq_take_race), T(test_keys), T(test_purge), T(test_two_handles)

#endif
