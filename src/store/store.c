#include "store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/secret.h"

/* Longest URL accepted by store_open(), a path plus its scheme, or a libpq
 * connection URI. */
#define URL_MAX 4096

/*
 * Decide which backend ${url} names; store the backend in ${ops} and the
 * part the backend is to open in ${rest}.  "sqlite:PATH" and "sqlite://PATH"
 * name SQLite, and so does a bare path; anything else that looks like
 * "scheme:" is a backend this build does not have.  "postgresql://..." and
 * "postgres://..." name PostgreSQL, and the backend gets the whole URL.
 * Returns 0 or -1.
 */
static int
pick(const char *url, const struct store_ops **ops, const char **rest)
{
	const char *p;

	if (strncmp(url, "sqlite:", 7) == 0) {
		p = url + 7;
		/* sqlite:///abs/path is the usual URL form of /abs/path. */
		if (strncmp(p, "//", 2) == 0)
			p += 2;
		*ops = &store_sqlite_ops;
		*rest = p;
		return (0);
	}

	/* libpq connection URIs: the whole URL goes to libpq. */
	if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
		*ops = &store_pg_ops;
		*rest = url;
		return (0);
	}

	/* A scheme is a letter followed by letters, digits, '+', '-', '.'. */
	p = url;
	if (isalpha((unsigned char)*p)) {
		while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
			p++;
		if (*p == ':' && p - url > 1) {
			log_err("store: unsupported store URL scheme \"%.*s\"", (int)(p - url), url);
			return (-1);
		}
	}
	*ops = &store_sqlite_ops;
	*rest = url;
	return (0);
}

/**
 * store_open(url):
 * Open the store named by ${url}: "sqlite:PATH" or a bare path (SQLite), or
 * "postgresql://..." or "postgres://..." (PostgreSQL).  Creates the schema
 * if needed.  NULL on failure (logged; never with the URL).
 */
struct store *
store_open(const char *url)
{
	const struct store_ops *ops;
	const char *path;
	struct store *s;

	if (url == NULL || strnlen(url, URL_MAX + 1) > URL_MAX) {
		log_err("store: missing or overlong store URL");
		goto err0;
	}
	if (pick(url, &ops, &path))
		goto err0;
	if (*path == '\0') {
		log_err("store: empty path in store URL");
		goto err0;
	}

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_err("store: out of memory");
		goto err0;
	}
	s->ops = ops;
	if (ops->state_size > 0 && (s->state = calloc(1, ops->state_size)) == NULL) {
		log_err("store: out of memory");
		goto err1;
	}
	if (ops->open(s, path))
		goto err2;

	/* Success! */
	return (s);

err2:
	free(s->state);
err1:
	free(s);
err0:
	/* Failure! */
	return (NULL);
}

/**
 * store_free(s):
 * Close and free ${s}; NULL does nothing.
 */
void
store_free(struct store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s);
	free(s->state);
	free(s);
}

/* Free a string the store returned; wipe it first, since some (password
 * hashes, sealed keys) are sensitive even if not secrets themselves. */
static void
zfree(char **p)
{
	if (*p != NULL) {
		secret_wipe(*p, strlen(*p));
		free(*p);
	}
	*p = NULL;
}

/*
 * store_*_clear(x):
 * Release the strings of ${x}, a struct returned by the store, and leave it
 * zeroed.  A zeroed struct may be cleared again.
 */
void
store_user_clear(struct store_user *u)
{
	zfree(&u->sub);
	zfree(&u->username);
	zfree(&u->password_hash);
	memset(u, 0, sizeof(*u));
}

void
store_client_clear(struct store_client *c)
{
	zfree(&c->client_id);
	zfree(&c->secret_digest);
	zfree(&c->name);
	zfree(&c->redirect_uris);
	zfree(&c->grant_types);
	zfree(&c->scope);
	zfree(&c->auth_method);
	zfree(&c->metadata);
	memset(c, 0, sizeof(*c));
}

void
store_code_clear(struct store_code *c)
{
	zfree(&c->digest);
	zfree(&c->client_id);
	zfree(&c->sub);
	zfree(&c->redirect_uri);
	zfree(&c->code_challenge);
	zfree(&c->resource);
	zfree(&c->scope);
	memset(c, 0, sizeof(*c));
}

void
store_refresh_clear(struct store_refresh *r)
{
	zfree(&r->digest);
	zfree(&r->family_id);
	zfree(&r->client_id);
	zfree(&r->sub);
	zfree(&r->scope);
	zfree(&r->resource);
	zfree(&r->code_digest);
	memset(r, 0, sizeof(*r));
}

void
store_consent_clear(struct store_consent *c)
{
	zfree(&c->sub);
	zfree(&c->client_id);
	zfree(&c->resource);
	zfree(&c->scope);
	memset(c, 0, sizeof(*c));
}

void
store_session_clear(struct store_session *s)
{
	zfree(&s->digest);
	zfree(&s->sub);
	memset(s, 0, sizeof(*s));
}

void
store_authreq_clear(struct store_authreq *a)
{
	zfree(&a->digest);
	zfree(&a->browser_digest);
	zfree(&a->csrf_digest);
	zfree(&a->client_id);
	zfree(&a->redirect_uri);
	zfree(&a->state);
	zfree(&a->code_challenge);
	zfree(&a->resource);
	zfree(&a->scope);
	memset(a, 0, sizeof(*a));
}

void
store_key_clear(struct store_key *k)
{
	zfree(&k->kid);
	zfree(&k->alg);
	zfree(&k->public_jwk);
	zfree(&k->private_enc);
	memset(k, 0, sizeof(*k));
}
