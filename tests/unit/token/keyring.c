/*
 * Unit tests for src/token/keyring.c, through its header, over the real
 * SQLite store in a temporary directory.
 *
 * Times: the keyring takes ${now} from its callers except in keyring_sign(),
 * which reads the clock; the tests therefore start from the real time and
 * move forward through the ${now} arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/b64.h"
#include "core/clock.h"
#include "core/secret.h"
#include "store/store.h"
#include "token/jwt.h"
#include "token/keyring.h"

struct fixture {
	char dir[512];
	char url[600];
	unsigned char master[MASTERKEY_LEN];
	struct store *st;
	int64_t now;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *base = getenv("MCPGATE_TEST_TMP");

	assert_non_null(f);
	if (base == NULL)
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/keyring-XXXXXX", base);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof(f->url), "sqlite:%s/store.db", f->dir);
	assert_int_equal(secret_random(f->master, sizeof(f->master)), 0);
	assert_non_null(f->st = store_open(f->url));
	f->now = clock_now();
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[600];

	store_free(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return (0);
}

static json_t *
claims(const char *jti)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "iss", "https://as.example", "aud",
	    "https://mcp.example", "sub", "user-1", "client_id", "client-1", "jti", jti, "iat",
	    (json_int_t)clock_now(), "exp", (json_int_t)clock_now() + 300);

	assert_non_null(c);
	return (c);
}

/* kid_of(tok, out): the kid in the header of ${tok}. */
static void
kid_of(const char *tok, char out[STORE_ID_MAX + 1])
{
	unsigned char hb[1024];
	size_t n;
	json_t *h;

	assert_int_equal(b64url_decode(tok, (size_t)(strchr(tok, '.') - tok), hb, sizeof(hb) - 1, &n), 0);
	assert_non_null(h = json_loadb((char *)hb, n, 0, NULL));
	assert_true(json_is_string(json_object_get(h, "kid")));
	snprintf(out, STORE_ID_MAX + 1, "%s", json_string_value(json_object_get(h, "kid")));
	json_decref(h);
}

/* sign(kr, kid): sign a token; its kid in ${kid} if not NULL. */
static char *
sign(struct keyring *kr, char kid[STORE_ID_MAX + 1])
{
	json_t *c = claims("jti-1");
	char *tok = NULL;

	assert_int_equal(keyring_sign(kr, c, &tok), 0);
	assert_non_null(tok);
	if (kid != NULL)
		kid_of(tok, kid);
	json_decref(c);
	return (tok);
}

static int
verifies(struct keyring *kr, const char *tok, int64_t now)
{
	json_t *c = NULL;
	const char *why = NULL;
	int rc;

	rc = keyring_verify(kr, tok, strlen(tok), now, &c, &why);
	if (rc == 0) {
		assert_non_null(c);
		assert_string_equal(json_string_value(json_object_get(c, "sub")), "user-1");
		json_decref(c);
	} else {
		assert_null(c);
		assert_non_null(why);
	}
	return (rc == 0);
}

/* jwks_has(kr, now, kid): 1 if the JWKS at ${now} lists ${kid}; checks the
 * shape of every entry and that no private member is present. */
static int
jwks_has(struct keyring *kr, int64_t now, const char *kid)
{
	json_t *doc, *keys, *k;
	char *text;
	size_t i;
	int found = 0;

	assert_non_null(doc = keyring_jwks(kr, now));
	keys = json_object_get(doc, "keys");
	assert_true(json_is_array(keys));
	json_array_foreach(keys, i, k) {
		assert_string_equal(json_string_value(json_object_get(k, "kty")), "EC");
		assert_string_equal(json_string_value(json_object_get(k, "crv")), "P-256");
		assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
		assert_string_equal(json_string_value(json_object_get(k, "alg")), "ES256");
		assert_non_null(json_string_value(json_object_get(k, "x")));
		assert_non_null(json_string_value(json_object_get(k, "y")));
		assert_null(json_object_get(k, "d"));
		if (strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0)
			found = 1;
	}
	assert_non_null(text = json_dumps(doc, 0));
	assert_null(strstr(text, "\"d\""));
	free(text);
	json_decref(doc);
	return (found);
}

static size_t
jwks_count(struct keyring *kr, int64_t now)
{
	json_t *doc;
	size_t n;

	assert_non_null(doc = keyring_jwks(kr, now));
	n = json_array_size(json_object_get(doc, "keys"));
	json_decref(doc);
	return (n);
}

static void
test_masterkey(void **state)
{
	struct fixture *f = *state;
	unsigned char a[MASTERKEY_LEN], b[MASTERKEY_LEN], zero[MASTERKEY_LEN] = {0};
	char path[600], link[600], env[B64URL_LEN(MASTERKEY_LEN) + 2];
	struct stat sb;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/master.key", f->dir);
	assert_int_equal(masterkey_load(path, NULL, a), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, MASTERKEY_LEN);
	assert_int_equal(sb.st_mode & 077, 0);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(masterkey_load(path, NULL, b), 0);
	assert_memory_equal(a, b, sizeof(a));

	/* Readable by others: refused until fixed. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(masterkey_load(path, NULL, b), -1);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(masterkey_load(path, NULL, b), -1);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(masterkey_load(path, NULL, b), 0);

	/* Not followed through a symbolic link. */
	snprintf(link, sizeof(link), "%s/master.link", f->dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(masterkey_load(link, NULL, b), -1);

	/* A file of the wrong size. */
	assert_non_null(fp = fopen(path, "ab"));
	fputc('x', fp);
	fclose(fp);
	assert_int_equal(masterkey_load(path, NULL, b), -1);
	assert_int_equal(truncate(path, 16), 0);
	assert_int_equal(masterkey_load(path, NULL, b), -1);

	/* From the environment, which wins over the file. */
	b64url_encode(a, sizeof(a), env);
	memset(b, 0, sizeof(b));
	assert_int_equal(masterkey_load(path, env, b), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(masterkey_load(NULL, env, b), 0);
	env[5] = '+';
	assert_int_equal(masterkey_load(NULL, env, b), -1);
	env[5] = 'A';
	env[strlen(env) - 1] = '\0';
	assert_int_equal(masterkey_load(NULL, env, b), -1);
	assert_int_equal(masterkey_load(NULL, "", b), -1);
	assert_int_equal(masterkey_load(NULL, NULL, b), -1);
}

static void
test_first_open(void **state)
{
	struct fixture *f = *state;
	struct keyring *kr, *kr2;
	struct store *st2;
	char kid[STORE_ID_MAX + 1], kid2[STORE_ID_MAX + 1];
	char *tok;

	assert_non_null(kr = keyring_open(f->st, f->master, f->now));
	assert_int_equal(jwks_count(kr, f->now), 1);
	tok = sign(kr, kid);
	assert_int_equal(strlen(kid), 43); /* an RFC 7638 thumbprint */
	assert_true(jwks_has(kr, f->now, kid));
	assert_true(verifies(kr, tok, f->now));
	keyring_free(kr);

	/* Reopened, from another store handle: the same key, no new one. */
	assert_non_null(st2 = store_open(f->url));
	assert_non_null(kr2 = keyring_open(st2, f->master, f->now + 1));
	assert_int_equal(jwks_count(kr2, f->now + 1), 1);
	assert_true(jwks_has(kr2, f->now + 1, kid));
	assert_true(verifies(kr2, tok, f->now + 1));
	free(tok);
	tok = sign(kr2, kid2);
	assert_string_equal(kid, kid2);
	free(tok);
	keyring_free(kr2);
	store_free(st2);
}

static void
test_sign_verify(void **state)
{
	struct fixture *f = *state;
	struct keyring *kr;
	json_t *c = claims("jti-7"), *out = NULL;
	const char *why;
	char *tok, *bad;

	assert_non_null(kr = keyring_open(f->st, f->master, f->now));
	assert_int_equal(keyring_sign(kr, c, &tok), 0);
	assert_int_equal(keyring_verify(kr, tok, strlen(tok), f->now, &out, &why), 0);
	assert_true(json_equal(c, out));
	json_decref(out);

	/* The jwt checks apply (one of them, as a witness). */
	assert_int_not_equal(asprintf(&bad, "%sA", tok), -1);
	assert_int_equal(keyring_verify(kr, bad, strlen(bad), f->now, &out, &why), -1);
	assert_null(out);
	free(bad);
	free(tok);
	json_decref(c);
	keyring_free(kr);
}

static void
test_rotate(void **state)
{
	struct fixture *f = *state;
	struct keyring *kr;
	char k1[STORE_ID_MAX + 1], k2[STORE_ID_MAX + 1], rot[64], *t1, *t2;
	int64_t t = f->now + 10, pub = 300;

	assert_non_null(kr = keyring_open(f->st, f->master, f->now));
	t1 = sign(kr, k1);
	memset(rot, 0, sizeof(rot));
	assert_int_equal(keyring_rotate(kr, t, pub, rot), 0);
	assert_string_not_equal(rot, k1);
	t2 = sign(kr, k2);
	assert_string_equal(k2, rot);

	/* Both verify, both are published, until publish_until. */
	assert_true(verifies(kr, t1, t));
	assert_true(verifies(kr, t2, t));
	assert_true(jwks_has(kr, t, k1));
	assert_true(jwks_has(kr, t, k2));
	assert_int_equal(jwks_count(kr, t), 2);
	assert_true(jwks_has(kr, t + pub - 1, k1));
	assert_true(verifies(kr, t1, t + pub - 1));

	/* Then the old key is gone from the JWKS and no longer verifies. */
	assert_false(jwks_has(kr, t + pub, k1));
	assert_true(jwks_has(kr, t + pub, k2));
	assert_int_equal(jwks_count(kr, t + pub), 1);
	assert_false(verifies(kr, t1, t + pub + 1));
	assert_true(verifies(kr, t2, t + pub + 1));

	/* A reopened keyring agrees. */
	keyring_free(kr);
	assert_non_null(kr = keyring_open(f->st, f->master, t + 1));
	assert_int_equal(jwks_count(kr, t + 1), 2);
	free(t1);
	t1 = sign(kr, k1);
	assert_string_equal(k1, k2);
	free(t1);
	free(t2);
	keyring_free(kr);
}

static void
test_wrong_master(void **state)
{
	struct fixture *f = *state;
	struct keyring *kr;
	unsigned char other[MASTERKEY_LEN];

	assert_non_null(kr = keyring_open(f->st, f->master, f->now));
	keyring_free(kr);
	memcpy(other, f->master, sizeof(other));
	other[0] ^= 1;
	assert_null(keyring_open(f->st, other, f->now));
	/* And the store is untouched: the right key still opens it, with the
	 * one key it had. */
	assert_non_null(kr = keyring_open(f->st, f->master, f->now));
	assert_int_equal(jwks_count(kr, f->now), 1);
	keyring_free(kr);
}

/* A sealed private key copied to a row with another kid does not load: the
 * kid is the associated data of the seal (and, besides, must be the
 * thumbprint of the key). */
static struct store_key moved;
static void
copy_first_key(void *arg, const struct store_key *k)
{
	(void)arg;
	if (moved.kid != NULL)
		return;
	assert_non_null(moved.kid = strdup("moved-kid"));
	assert_non_null(moved.alg = strdup(k->alg));
	assert_non_null(moved.public_jwk = strdup(k->public_jwk));
	assert_non_null(moved.private_enc = strdup(k->private_enc));
	moved.created_at = k->created_at + 100;
}

static void
test_sealed_key_bound_to_kid(void **state)
{
	struct fixture *f = *state;
	struct keyring *kr;

	assert_non_null(kr = keyring_open(f->st, f->master, f->now));
	keyring_free(kr);
	memset(&moved, 0, sizeof(moved));
	assert_int_equal(f->st->ops->key_list(f->st, copy_first_key, NULL), 0);
	assert_non_null(moved.kid);
	assert_int_equal(f->st->ops->key_add(f->st, &moved), 0);
	store_key_clear(&moved);
	assert_null(keyring_open(f->st, f->master, f->now));
}

/* Another process (here: another keyring on another store handle) rotates;
 * this one picks the new key up. */
static void
test_other_process_rotates(void **state)
{
	struct fixture *f = *state;
	struct keyring *a, *b;
	struct store *st2;
	char ka[STORE_ID_MAX + 1], kb[STORE_ID_MAX + 1], k3[64], *ta, *tb, *forged;
	int64_t t = f->now;

	assert_non_null(a = keyring_open(f->st, f->master, t));
	assert_non_null(st2 = store_open(f->url));
	assert_non_null(b = keyring_open(st2, f->master, t));
	ta = sign(a, ka);
	free(sign(b, kb));
	assert_string_equal(ka, kb);

	/* b rotates; a meets a token of the new key and reloads for it. */
	assert_int_equal(keyring_rotate(b, t, 600, NULL), 0);
	tb = sign(b, kb);
	assert_string_not_equal(ka, kb);
	assert_true(verifies(a, tb, t));
	assert_true(verifies(a, ta, t));
	assert_true(jwks_has(a, t, kb));
	/* That reload also made the new key current in a. */
	free(ta);
	ta = sign(a, ka);
	assert_string_equal(ka, kb);
	free(ta);
	free(tb);

	/* Reloads for unknown kids are limited to one per second: a forged
	 * kid at t + 1 uses that second's reload, so a real new key made
	 * right after is found only at t + 2. */
	assert_int_not_equal(asprintf(&forged, "%s.e30.%s",
	    "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Im5vLXN1Y2gta2V5In0", /* kid "no-such-key" */
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), -1);
	assert_int_equal(strlen(strrchr(forged, '.') + 1), JWT_ES256_SIG_LEN);
	assert_false(verifies(a, forged, t + 1));
	free(forged);
	assert_int_equal(keyring_rotate(b, t + 1, 600, k3), 0);
	tb = sign(b, kb);
	assert_string_equal(kb, k3);
	assert_false(verifies(a, tb, t + 1));
	assert_true(verifies(a, tb, t + 2));
	free(tb);

	/* Without meeting the new kid, a reloads once KEYRING_RELOAD_S has
	 * passed, and then signs with the newest key. */
	assert_int_equal(keyring_rotate(b, t + 3, 600, k3), 0);
	assert_false(jwks_has(a, t + 3, k3));
	assert_true(jwks_has(a, t + 2 + KEYRING_RELOAD_S, k3));
	ta = sign(a, ka);
	assert_string_equal(ka, k3);
	free(ta);

	keyring_free(b);
	store_free(st2);
	keyring_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_masterkey, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sign_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_master, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sealed_key_bound_to_kid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_process_rotates, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
