/*
 * Tests of token_mint_access() in src/oauth/token.c, through
 * oauth/internal.h, with a real keyring on a SQLite store in a fresh
 * temporary directory.  The claims are written as text directly when no
 * value needs escaping, and through jansson otherwise; both must give a
 * token whose signature verifies and whose claims are exactly the expected
 * ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "oauth/internal.h"
#include "store/store.h"
#include "token/jwt.h"
#include "token/keyring.h"

#define AUD "https://mcp.example/mcp"

struct fix {
	char dir[512];
	char path[600];
	struct config cfg;
	struct oauth o;
};

static int
setup(void **state)
{
	static const unsigned char master[MASTERKEY_LEN] = {1, 2, 3};
	struct fix *f;
	const char *base = getenv("MCPGATE_TEST_TMP");

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (-1);
	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (mkdir(base, 0700) && errno != EEXIST)
		goto err;
	snprintf(f->dir, sizeof(f->dir), "%s/tokenXXXXXX", base);
	if (mkdtemp(f->dir) == NULL)
		goto err;
	snprintf(f->path, sizeof(f->path), "%s/mcpgate.db", f->dir);
	if (config_load(&f->cfg, NULL))
		goto err;
	f->o.cfg = &f->cfg;
	if ((f->o.st = store_open(f->path)) == NULL ||
	    (f->o.kr = keyring_open(f->o.st, master, clock_now())) == NULL)
		goto err;
	*state = f;
	return (0);
err:
	free(f);
	return (-1);
}

static int
teardown(void **state)
{
	struct fix *f = *state;
	struct dirent *de;
	char p[1024];
	DIR *d;

	keyring_free(f->o.kr);
	store_free(f->o.st);
	config_clear(&f->cfg);
	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return (0);
}

/* mint(f, sub, client_id, scope): mint a token and check that it verifies
 * and carries exactly the claims asked for. */
static void
mint(struct fix *f, const char *sub, const char *client_id, const char *scope)
{
	char *jwt = NULL, jti[64];
	json_t *claims = NULL, *want;
	const char *why;
	int64_t now = clock_now();

	assert_int_equal(token_mint_access(&f->o, sub, client_id, scope, AUD, now, &jwt, jti), 0);
	assert_non_null(jwt);
	assert_int_equal(strlen(strrchr(jwt, '.') + 1), JWT_ES256_SIG_LEN);
	assert_int_equal(keyring_verify(f->o.kr, jwt, strlen(jwt), now, &claims, &why), 0);
	assert_int_equal(jwt_check_claims(claims, f->cfg.issuer, AUD, now, 0, &why), 0);
	want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "iss", f->cfg.issuer, "sub", sub, "aud",
	    AUD, "client_id", client_id, "scope", scope, "iat", (json_int_t)now, "exp",
	    (json_int_t)(now + f->cfg.tokens.access_ttl), "jti", jti);
	assert_non_null(want);
	assert_true(json_equal(claims, want));
	assert_int_equal(strlen(jti), 22);
	json_decref(want);
	json_decref(claims);
	free(jwt);
}

/* Values as they are in practice: the claims are written directly. */
static void
test_plain(void **state)
{
	mint(*state, "nd3rnU0U2USjqhp5nerpxY3Qyt21NbxJMigH6kF_Z20", "nd3rnU0U2USjqhp5nerpxY3Qyt21NbxJMigH6kF_Z20",
	    "mcp:read mcp:write");
	mint(*state, "user-1", "https://client.example/metadata.json?x=1&y=%20", "mcp:read");
}

/* Values that need escaping in JSON take the jansson path, and come out
 * intact. */
static void
test_escaped(void **state)
{
	mint(*state, "we\"ird", "client\\1", "mcp:read");
	mint(*state, "tab\there", "c", "mcp:read");
	mint(*state, "caf\xc3\xa9", "c", "mcp:read");
}

/* Two tokens never share a jti. */
static void
test_jti_unique(void **state)
{
	struct fix *f = *state;
	char *a, *b, ja[64], jb[64];

	assert_int_equal(token_mint_access(&f->o, "s", "c", "mcp:read", AUD, clock_now(), &a, ja), 0);
	assert_int_equal(token_mint_access(&f->o, "s", "c", "mcp:read", AUD, clock_now(), &b, jb), 0);
	assert_string_not_equal(ja, jb);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escaped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_jti_unique, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
