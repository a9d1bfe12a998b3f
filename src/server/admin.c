/*
 * `mcpgate admin`: users, clients, signing keys and grants, on the store
 * that `serve` uses (found from --config FILE, or from $MCPGATE_DATA like
 * `make run`).  Secrets are printed once, when created, and never again.
 */
#include "server/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "core/clock.h"
#include "core/secret.h"
#include "oauth/scope.h"
#include "oauth/redirect.h"
#include "server/config.h"
#include "server/serve.h"
#include "store/store.h"
#include "token/keyring.h"

#define PASSWORD_MAX 1024
#define PASSWORD_MIN 8

int
admin_user_put(struct store *st, const char *username, const char *password)
{
	char hash[crypto_pwhash_STRBYTES], sub[SECRET_TOKEN_LEN + 1];
	struct store_user u, old;
	int rc;

	if (strlen(username) == 0 || strlen(username) > 128 || strpbrk(username, " \t\r\n") != NULL) {
		fprintf(stderr, "mcpgate: a username is 1 to 128 characters without spaces\n");
		return (-1);
	}
	if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
		crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		fprintf(stderr, "mcpgate: out of memory hashing the password\n");
		return (-1);
	}
	rc = st->ops->user_get(st, username, &old);
	if (rc == 0) {
		/* Keep the subject: consents and grants stay with the user. */
		if (crypto_pwhash_str_verify(old.password_hash, password, strlen(password)) == 0)
			rc = 0;
		else
			rc = st->ops->user_set_password(st, username, hash);
		store_user_clear(&old);
	} else if (rc == STORE_NOTFOUND) {
		if (secret_token(sub))
			return (-1);
		memset(&u, 0, sizeof(u));
		u.sub = sub;
		u.username = (char *)username;
		u.password_hash = hash;
		u.created_at = clock_now();
		rc = st->ops->user_add(st, &u);
	}
	secret_wipe(hash, sizeof(hash));
	if (rc != 0)
		fprintf(stderr, "mcpgate: cannot store user %s\n", username);
	return (rc == 0 ? 0 : -1);
}

/* Read one line from standard input as a password. */
static int
read_password(char *out, size_t cap)
{
	size_t n;

	if (fgets(out, (int)cap, stdin) == NULL) {
		fprintf(stderr, "mcpgate: give the password on standard input\n");
		return (-1);
	}
	n = strcspn(out, "\r\n");
	if (out[n] == '\0' && n == cap - 1) {
		fprintf(stderr, "mcpgate: password too long\n");
		return (-1);
	}
	out[n] = '\0';
	if (n < PASSWORD_MIN) {
		fprintf(stderr, "mcpgate: a password has at least %d characters\n", PASSWORD_MIN);
		return (-1);
	}
	return (0);
}

static void
print_user(void *arg, const struct store_user *u)
{
	json_t *a = arg;

	json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "username", u->username, "sub", u->sub,
				     "created_at", (json_int_t)u->created_at));
}

static void
print_client(void *arg, const struct store_client *c)
{
	json_t *a = arg, *o;

	o = json_pack("{s:s, s:s?, s:b, s:s?, s:s?, s:b, s:I, s:I}", "client_id", c->client_id, "name", c->name,
	    "confidential", c->secret_digest != NULL, "scope", c->scope, "auth_method", c->auth_method, "dynamic",
	    c->dynamic, "created_at", (json_int_t)c->created_at, "first_token_at", (json_int_t)c->first_token_at);
	if (o == NULL)
		return;
	json_object_set_new(o, "redirect_uris", c->redirect_uris ? json_loads(c->redirect_uris, 0, NULL) : json_array());
	json_object_set_new(o, "grant_types", c->grant_types ? json_loads(c->grant_types, 0, NULL) : json_array());
	json_array_append_new(a, o);
}

static void
print_key(void *arg, const struct store_key *k)
{
	json_t *a = arg;
	int64_t now = clock_now();
	const char *state = k->retired_at == 0 ? "current-or-new"
			    : (k->publish_until == 0 || k->publish_until > now) ? "retired, published"
										 : "retired, expired";

	json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "kid", k->kid, "alg", k->alg, "state",
				     state, "created_at", (json_int_t)k->created_at, "retired_at",
				     (json_int_t)k->retired_at, "publish_until", (json_int_t)k->publish_until));
}

static void
dump(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));

	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(j);
}

static void
collect_consent(void *arg, const struct store_consent *c)
{
	json_array_append_new(arg, json_string(c->client_id));
}

static void
collect_refresh(void *arg, const struct store_refresh *r)
{
	json_array_append_new(arg, json_string(r->client_id));
}

static void
collect_sub(void *arg, const struct store_user *u)
{
	json_array_append_new(arg, json_string(u->sub));
}

/* Revoke every grant of user ${sub} (to ${client_id} only, if not NULL):
 * the consents and every token issued under them.  A deleted user or
 * client must not keep the access its grants gave.  The ids are collected
 * first so that no store call runs inside another's callback.  0 or -1. */
static int
revoke_grants(struct store *st, const char *sub, const char *client_id)
{
	json_t *ids = json_array(), *v;
	size_t i;
	int rc = 0;

	if (ids == NULL)
		return (-1);
	if (client_id != NULL)
		json_array_append_new(ids, json_string(client_id));
	else if (st->ops->consent_list(st, sub, collect_consent, ids) != 0 ||
	    st->ops->refresh_list_active(st, sub, clock_now(), collect_refresh, ids) != 0)
		rc = -1;
	json_array_foreach(ids, i, v) {
		if (rc == 0 && st->ops->consent_revoke(st, sub, json_string_value(v), clock_now()) < 0)
			rc = -1;
	}
	json_decref(ids);
	return (rc);
}

static int
cmd_user(struct store *st, int argc, char **argv)
{
	char pw[PASSWORD_MAX + 2];
	json_t *a;
	int rc;

	if (argc == 3 && strcmp(argv[1], "add") == 0) {
		if (read_password(pw, sizeof(pw)))
			return (1);
		rc = admin_user_put(st, argv[2], pw);
		secret_wipe(pw, sizeof(pw));
		if (rc == 0)
			printf("user %s saved\n", argv[2]);
		return (rc ? 1 : 0);
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		a = json_array();
		if (st->ops->user_list(st, print_user, a)) {
			json_decref(a);
			return (1);
		}
		dump(a);
		return (0);
	}
	if (argc == 3 && strcmp(argv[1], "del") == 0) {
		rc = st->ops->user_del(st, argv[2], clock_now());
		if (rc == STORE_NOTFOUND)
			fprintf(stderr, "mcpgate: no user %s\n", argv[2]);
		else if (rc != 0)
			fprintf(stderr, "mcpgate: cannot delete user %s\n", argv[2]);
		return (rc ? 1 : 0);
	}
	fprintf(stderr, "usage: mcpgate admin user add NAME (password on stdin) | list | del NAME\n");
	return (2);
}

static int
cmd_client_add(struct store *st, const struct config *cfg, int argc, char **argv)
{
	const char *name = NULL, *scope_arg = NULL, *grant = "authorization_code";
	char id[SECRET_TOKEN_LEN + 1], secret[SECRET_TOKEN_LEN + 1], digest[SECRET_DIGEST_LEN + 1];
	char scope[SCOPE_MAX_LEN + 1];
	struct scope_set want, all;
	struct store_client c;
	json_t *uris = json_array(), *out;
	char *uris_s = NULL, *grants_s = NULL;
	int i, public = 0, rc = 1;
	size_t k;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--public") == 0) {
			public = 1;
		} else if (i + 1 < argc && strcmp(argv[i], "--name") == 0) {
			name = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--grant") == 0) {
			grant = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--scope") == 0) {
			scope_arg = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--redirect-uri") == 0) {
			if (redirect_classify(argv[i + 1]) == REDIRECT_INVALID) {
				fprintf(stderr, "mcpgate: not an acceptable redirect URI: %s\n", argv[i + 1]);
				goto out;
			}
			json_array_append_new(uris, json_string(argv[++i]));
		} else {
			fprintf(stderr, "usage: mcpgate admin client add --name NAME [--grant authorization_code|"
					"client_credentials] [--scope \"S ...\"] [--redirect-uri URI]... [--public]\n");
			rc = 2;
			goto out;
		}
	}
	if (strcmp(grant, "authorization_code") == 0) {
		grants_s = strdup("[\"authorization_code\",\"refresh_token\"]");
		if (json_array_size(uris) == 0) {
			fprintf(stderr, "mcpgate: an authorization_code client needs --redirect-uri\n");
			goto out;
		}
	} else if (strcmp(grant, "client_credentials") == 0) {
		grants_s = strdup("[\"client_credentials\"]");
		if (public) {
			fprintf(stderr, "mcpgate: a client_credentials client cannot be public\n");
			goto out;
		}
	} else {
		fprintf(stderr, "mcpgate: --grant is authorization_code or client_credentials\n");
		goto out;
	}
	all.n = 0;
	for (k = 0; k < cfg->nscopes; k++)
		snprintf(all.tok[all.n++], sizeof(all.tok[0]), "%s", cfg->scopes[k].name);
	scope_string(&all, scope, sizeof(scope));
	scope_parse(scope, &all);
	if (scope_parse(scope_arg, &want)) {
		fprintf(stderr, "mcpgate: malformed --scope\n");
		goto out;
	}
	if (want.n == 0)
		want = all;
	for (k = 0; k < want.n; k++)
		if (!scope_has(&all, want.tok[k])) {
			fprintf(stderr, "mcpgate: scope %s is not configured\n", want.tok[k]);
			goto out;
		}
	scope_string(&want, scope, sizeof(scope));
	if (secret_token(id) || (!public && secret_token(secret)))
		goto out;
	uris_s = json_dumps(uris, JSON_COMPACT);
	memset(&c, 0, sizeof(c));
	c.client_id = id;
	if (!public) {
		secret_digest(secret, strlen(secret), digest);
		c.secret_digest = digest;
	}
	c.name = (char *)(name ? name : id);
	c.redirect_uris = uris_s;
	c.grant_types = grants_s;
	c.scope = scope;
	c.auth_method = (char *)(public ? "none" : "client_secret_basic");
	c.created_at = clock_now();
	if (st->ops->client_add(st, &c) != 0) {
		fprintf(stderr, "mcpgate: cannot store the client\n");
		goto out;
	}
	out = json_pack("{s:s}", "client_id", id);
	if (!public)
		json_object_set_new(out, "client_secret", json_string(secret));
	{
		char *s = json_dumps(out, JSON_COMPACT);
		printf("%s\n", s);
		secret_wipe(s, strlen(s));
		free(s);
	}
	json_decref(out);
	rc = 0;
out:
	secret_wipe(secret, sizeof(secret));
	free(uris_s);
	free(grants_s);
	json_decref(uris);
	return (rc);
}

static int
cmd_client(struct store *st, const struct config *cfg, int argc, char **argv)
{
	json_t *a;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return (cmd_client_add(st, cfg, argc, argv));
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		a = json_array();
		if (st->ops->client_list(st, print_client, a)) {
			json_decref(a);
			return (1);
		}
		dump(a);
		return (0);
	}
	if (argc == 3 && strcmp(argv[1], "del") == 0) {
		json_t *subs = json_array(), *v;
		struct store_client c;
		size_t i;

		if ((rc = st->ops->client_get(st, argv[2], &c)) == 0) {
			store_client_clear(&c);
			if (subs == NULL || st->ops->user_list(st, collect_sub, subs) != 0)
				rc = -1;
			json_array_foreach(subs, i, v) {
				if (rc == 0 && revoke_grants(st, json_string_value(v), argv[2]) != 0)
					rc = -1;
			}
			if (rc == 0)
				rc = st->ops->client_del(st, argv[2]);
		}
		json_decref(subs);
		if (rc == STORE_NOTFOUND)
			fprintf(stderr, "mcpgate: no client %s\n", argv[2]);
		else if (rc != 0)
			fprintf(stderr, "mcpgate: cannot delete client %s\n", argv[2]);
		return (rc ? 1 : 0);
	}
	fprintf(stderr, "usage: mcpgate admin client add ... | list | del CLIENT_ID\n");
	return (2);
}

static int
cmd_keys(struct store *st, const struct config *cfg, int argc, char **argv)
{
	unsigned char master[MASTERKEY_LEN];
	struct keyring *kr;
	char kid[64];
	json_t *a;
	int rc;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		a = json_array();
		if (st->ops->key_list(st, print_key, a)) {
			json_decref(a);
			return (1);
		}
		dump(a);
		return (0);
	}
	if (argc == 2 && strcmp(argv[1], "rotate") == 0) {
		if (masterkey_load(cfg->master_key_file, getenv("MCPGATE_MASTER_KEY"), master))
			return (1);
		kr = keyring_open(st, master, clock_now());
		secret_wipe(master, sizeof(master));
		if (kr == NULL)
			return (1);
		/* Old tokens live at most access_ttl; allow for clock skew. */
		rc = keyring_rotate(kr, clock_now(), cfg->tokens.access_ttl + 60, kid);
		keyring_free(kr);
		if (rc == 0)
			printf("{\"kid\":\"%s\"}\n", kid);
		return (rc ? 1 : 0);
	}
	fprintf(stderr, "usage: mcpgate admin keys list | rotate\n");
	return (2);
}

struct grants_ctx {
	struct store *st;
	json_t *out;
	const char *sub;
	const char *username;
};

static void
grant_token(void *arg, const struct store_refresh *r)
{
	json_t *tokens = arg;

	json_array_append_new(tokens, json_pack("{s:s, s:s, s:s, s:I, s:I}", "client_id", r->client_id, "scope",
					  r->scope, "resource", r->resource, "created_at", (json_int_t)r->created_at,
					  "expires_at", (json_int_t)r->expires_at));
}

static void
grant_consent(void *arg, const struct store_consent *c)
{
	struct grants_ctx *g = arg;

	json_array_append_new(g->out, json_pack("{s:s, s:s, s:s, s:s, s:I}", "user", g->username, "client_id",
					  c->client_id, "resource", c->resource, "scope", c->scope, "granted_at",
					  (json_int_t)c->granted_at));
}

static void
grants_user(void *arg, const struct store_user *u)
{
	struct grants_ctx *g = arg, sub = *g;
	json_t *tokens;

	sub.sub = u->sub;
	sub.username = u->username;
	g->st->ops->consent_list(g->st, u->sub, grant_consent, &sub);
	/* Attach the live refresh tokens of each consented client. */
	tokens = json_array();
	g->st->ops->refresh_list_active(g->st, u->sub, clock_now(), grant_token, tokens);
	{
		size_t i, j;
		json_t *c, *t;
		json_array_foreach(g->out, i, c) {
			if (strcmp(json_string_value(json_object_get(c, "user")), u->username) != 0)
				continue;
			json_t *mine = json_array();
			json_array_foreach(tokens, j, t) {
				if (strcmp(json_string_value(json_object_get(t, "client_id")),
					json_string_value(json_object_get(c, "client_id"))) == 0)
					json_array_append(mine, t);
			}
			json_object_set_new(c, "live_refresh_tokens", mine);
		}
	}
	json_decref(tokens);
}

static int
cmd_grants(struct store *st, int argc, char **argv)
{
	struct grants_ctx g;
	struct store_user u;
	int rc;

	if ((argc == 2 || argc == 3) && strcmp(argv[1], "list") == 0) {
		memset(&g, 0, sizeof(g));
		g.st = st;
		g.out = json_array();
		if (argc == 3) {
			if (st->ops->user_get(st, argv[2], &u) != 0) {
				fprintf(stderr, "mcpgate: no user %s\n", argv[2]);
				json_decref(g.out);
				return (1);
			}
			grants_user(&g, &u);
			store_user_clear(&u);
		} else if (st->ops->user_list(st, grants_user, &g)) {
			json_decref(g.out);
			return (1);
		}
		dump(g.out);
		return (0);
	}
	if (argc == 4 && strcmp(argv[1], "revoke") == 0) {
		if (st->ops->user_get(st, argv[2], &u) != 0) {
			fprintf(stderr, "mcpgate: no user %s\n", argv[2]);
			return (1);
		}
		rc = st->ops->consent_revoke(st, u.sub, argv[3], clock_now());
		store_user_clear(&u);
		if (rc == 0)
			printf("revoked the consent of %s to %s and every token issued under it\n", argv[2], argv[3]);
		else if (rc == STORE_NOTFOUND)
			fprintf(stderr, "mcpgate: %s has no consent for %s\n", argv[2], argv[3]);
		return (rc ? 1 : 0);
	}
	fprintf(stderr, "usage: mcpgate admin grants list [USER] | revoke USER CLIENT_ID\n");
	return (2);
}

int
admin_main(int argc, char **argv)
{
	struct config cfg;
	struct store *st;
	const char *path;
	int rc;

	path = serve_take_config_arg(&argc, argv);
	if ((path != NULL && *path == '\0') || argc < 2) {
		fprintf(stderr, "usage: mcpgate admin [--config FILE] user|client|keys|grants|audit ...\n");
		return (2);
	}
	if (sodium_init() < 0)
		return (1);
	if (config_load(&cfg, path))
		return (1);
	if (strcmp(argv[1], "audit") == 0) {
		rc = audit_cli(argc - 1, argv + 1, cfg.audit.file);
		config_clear(&cfg);
		return (rc);
	}
	if ((st = serve_open_store(&cfg)) == NULL) {
		config_clear(&cfg);
		return (1);
	}
	if (strcmp(argv[1], "user") == 0)
		rc = cmd_user(st, argc - 1, argv + 1);
	else if (strcmp(argv[1], "client") == 0)
		rc = cmd_client(st, &cfg, argc - 1, argv + 1);
	else if (strcmp(argv[1], "keys") == 0)
		rc = cmd_keys(st, &cfg, argc - 1, argv + 1);
	else if (strcmp(argv[1], "grants") == 0)
		rc = cmd_grants(st, argc - 1, argv + 1);
	else {
		fprintf(stderr, "mcpgate: unknown admin command \"%s\"\n", argv[1]);
		rc = 2;
	}
	store_free(st);
	config_clear(&cfg);
	return (rc);
}
