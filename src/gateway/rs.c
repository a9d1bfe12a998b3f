#include "gateway/rs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjose/cjose.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "gateway/bearer.h"
#include "http/fetch.h"
#include "http/form.h"
#include "http/server.h"
#include "oauth/scope.h"
#include "store/store.h"
#include "token/jwt.h"
#include "token/keyring.h"

#define KEY_LEN 32		/* cache key: SHA-256 */
#define ID_MAX 1024		/* sub, client_id, jti */
#define DENY_BUCKETS 4096
#define PRUNE_EVERY_MS 10000
#define CHALLENGE_MAX 8192
#define WATCH_BUCKETS 1024	/* watched tokens: power of two */

/* ---------------------------------------------------------------------- */
/* Configuration */

static const char *const config_keys[] = {"mode", "issuer", "jwks_uri", "introspection_endpoint", "client_id",
	"client_secret", "audience", "cache_max", "clock_skew", "cache_ttl", "allow_http", NULL};

static void
config_defaults(struct rs_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = RS_MODE_LOCAL;
	c->cache_max = RS_CACHE_MAX_DEFAULT;
	c->clock_skew = RS_SKEW_DEFAULT;
	c->cache_ttl = RS_CACHE_TTL_DEFAULT;
}

/* get_str(o, key, dst, why): copy the optional non-empty string ${key}. */
static int
get_str(json_t *o, const char *key, char **dst, const char **why)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return (0);
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > RS_URL_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		*why = "auth: a string member is empty, too long or not a string";
		return (-1);
	}
	if ((*dst = strdup(json_string_value(v))) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	return (0);
}

static int
get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *dst, const char **why)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		*why = "auth: cache_max, clock_skew or cache_ttl is not an integer in range";
		return (-1);
	}
	*dst = json_integer_value(v);
	return (0);
}

/* url_scheme_ok(u, allow_http): 1 if ${u} starts with https:// (or http://
 * when allowed) and has something after it. */
static int
url_scheme_ok(const char *u, int allow_http)
{
	if (strncasecmp(u, "https://", 8) == 0)
		return (u[8] != '\0');
	if (allow_http && strncasecmp(u, "http://", 7) == 0)
		return (u[7] != '\0');
	return (0);
}

/*
 * rs_config_parse(o, out, why): fill ${out} from the "auth" object ${o}.
 * Returns 0, or -1 with ${out} cleared and ${why} set.
 */
int
rs_config_parse(json_t *o, struct rs_config *out, const char **why)
{
	const char *k, *mode;
	json_t *v;
	int64_t n;
	size_t i;

	config_defaults(out);
	if (o == NULL)
		return (0);
	if (!json_is_object(o)) {
		*why = "auth must be an object";
		goto err;
	}
	json_object_foreach(o, k, v) {
		for (i = 0; config_keys[i] != NULL; i++) {
			if (strcmp(k, config_keys[i]) == 0)
				break;
		}
		if (config_keys[i] == NULL) {
			*why = "auth: unknown member";
			goto err;
		}
	}
	if ((v = json_object_get(o, "mode")) != NULL) {
		if (!json_is_string(v)) {
			*why = "auth: mode must be \"local\", \"jwks\" or \"introspection\"";
			goto err;
		}
		mode = json_string_value(v);
		if (strcmp(mode, "local") == 0)
			out->mode = RS_MODE_LOCAL;
		else if (strcmp(mode, "jwks") == 0)
			out->mode = RS_MODE_JWKS;
		else if (strcmp(mode, "introspection") == 0)
			out->mode = RS_MODE_INTROSPECTION;
		else {
			*why = "auth: mode must be \"local\", \"jwks\" or \"introspection\"";
			goto err;
		}
	}
	if (get_str(o, "issuer", &out->issuer, why) || get_str(o, "jwks_uri", &out->jwks_uri, why) ||
	    get_str(o, "introspection_endpoint", &out->introspection_endpoint, why) ||
	    get_str(o, "client_id", &out->client_id, why) ||
	    get_str(o, "client_secret", &out->client_secret, why) || get_str(o, "audience", &out->audience, why))
		goto err;
	n = (int64_t)out->cache_max;
	if (get_int(o, "cache_max", 1, RS_CACHE_MAX_LIMIT, &n, why) ||
	    get_int(o, "clock_skew", 0, RS_SKEW_MAX, &out->clock_skew, why) ||
	    get_int(o, "cache_ttl", 1, RS_CACHE_TTL_MAX, &out->cache_ttl, why))
		goto err;
	out->cache_max = (size_t)n;
	if ((v = json_object_get(o, "allow_http")) != NULL) {
		if (!json_is_boolean(v)) {
			*why = "auth: allow_http must be true or false";
			goto err;
		}
		out->allow_http = json_is_true(v);
	}

	/* What each mode needs, and nothing that belongs to another. */
	switch (out->mode) {
	case RS_MODE_LOCAL:
		if (out->jwks_uri || out->introspection_endpoint || out->client_id || out->client_secret) {
			*why = "auth: local mode takes no jwks_uri, introspection_endpoint or client credentials";
			goto err;
		}
		break;
	case RS_MODE_JWKS:
		if (out->jwks_uri == NULL || out->issuer == NULL) {
			*why = "auth: jwks mode needs issuer and jwks_uri";
			goto err;
		}
		if (out->introspection_endpoint || out->client_id || out->client_secret) {
			*why = "auth: jwks mode takes no introspection_endpoint or client credentials";
			goto err;
		}
		if (!url_scheme_ok(out->jwks_uri, out->allow_http)) {
			*why = "auth: jwks_uri must be an https URL";
			goto err;
		}
		break;
	case RS_MODE_INTROSPECTION:
		if (out->introspection_endpoint == NULL || out->client_id == NULL || out->client_secret == NULL) {
			*why = "auth: introspection mode needs introspection_endpoint, client_id and client_secret";
			goto err;
		}
		if (out->jwks_uri) {
			*why = "auth: introspection mode takes no jwks_uri";
			goto err;
		}
		if (!url_scheme_ok(out->introspection_endpoint, out->allow_http)) {
			*why = "auth: introspection_endpoint must be an https URL";
			goto err;
		}
		break;
	}
	return (0);

err:
	rs_config_clear(out);
	return (-1);
}

/*
 * rs_config_clear(c): free the strings of ${c}, wiping client_secret.
 */
void
rs_config_clear(struct rs_config *c)
{
	if (c->client_secret != NULL)
		secret_wipe(c->client_secret, strlen(c->client_secret));
	free(c->issuer);
	free(c->jwks_uri);
	free(c->introspection_endpoint);
	free(c->client_id);
	free(c->client_secret);
	free(c->audience);
	config_defaults(c);
}

/* ---------------------------------------------------------------------- */
/* Principals: one allocation, immutable, reference-counted. */

struct principal {
	struct rs_principal pub;
	atomic_uint ref;
	/* Followed by the scope pointers, then the strings. */
};

static size_t
align_up(size_t n)
{
	return ((n + sizeof(void *) - 1) & ~(sizeof(void *) - 1));
}

/* principal_new(sub, client_id, jti, set, exp): a principal with one
 * reference.  NULL on ENOMEM. */
static struct principal *
principal_new(const char *sub, const char *client_id, const char *jti, const struct scope_set *set, int64_t exp)
{
	char scope[SCOPE_MAX_LEN + SCOPE_MAX_TOKENS + 1];
	struct principal *p;
	const char **v;
	size_t head, ls, lc, lj, lsc, i;
	char *t;

	if (scope_string(set, scope, sizeof(scope)))
		return (NULL);
	ls = strlen(sub) + 1;
	lc = strlen(client_id) + 1;
	lj = strlen(jti) + 1;
	lsc = strlen(scope) + 1;
	head = align_up(sizeof(*p)) + set->n * sizeof(char *);
	if ((p = malloc(head + ls + lc + lj + 2 * lsc)) == NULL)
		return (NULL);
	v = (const char **)(void *)((char *)p + align_up(sizeof(*p)));
	t = (char *)p + head;
	p->pub.sub = memcpy(t, sub, ls);
	t += ls;
	p->pub.client_id = memcpy(t, client_id, lc);
	t += lc;
	p->pub.jti = memcpy(t, jti, lj);
	t += lj;
	p->pub.scope = memcpy(t, scope, lsc);
	t += lsc;
	/* The scopes: the same canonical text, split at the spaces. */
	memcpy(t, scope, lsc);
	for (i = 0; i < set->n; i++) {
		v[i] = t;
		t += strlen(set->tok[i]);
		*t++ = '\0';
	}
	p->pub.scopes = v;
	p->pub.nscopes = set->n;
	p->pub.exp = exp;
	atomic_init(&p->ref, 1);
	return (p);
}

static struct principal *
principal_ref(struct principal *p)
{
	atomic_fetch_add_explicit(&p->ref, 1, memory_order_relaxed);
	return (p);
}

static void
principal_unref(struct principal *p)
{
	if (p != NULL && atomic_fetch_sub_explicit(&p->ref, 1, memory_order_acq_rel) == 1)
		free(p);
}

/*
 * rs_principal_release(p): drop one reference; NULL does nothing.
 */
void
rs_principal_release(const struct rs_principal *p)
{
	/* pub is the first member: the cast recovers the allocation. */
	principal_unref((struct principal *)(uintptr_t)p);
}

/*
 * rs_principal_has_scope(p, scope): 1 if ${p} holds ${scope}.
 */
int
rs_principal_has_scope(const struct rs_principal *p, const char *scope)
{
	size_t lo = 0, hi, mid;
	int c;

	if (p == NULL || scope == NULL)
		return (0);
	hi = p->nscopes;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(scope, p->scopes[mid])) == 0)
			return (1);
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (0);
}

/*
 * rs_principal_has_scopes(p, scopes): 1 if ${p} holds every scope of the
 * space-separated ${scopes}.
 */
int
rs_principal_has_scopes(const struct rs_principal *p, const char *scopes)
{
	char tok[SCOPE_TOKEN_MAX + 1];
	const char *s, *e;
	size_t n;

	if (scopes == NULL)
		return (1);
	for (s = scopes; *s != '\0'; s = e) {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		for (e = s; *e != '\0' && *e != ' '; e++)
			;
		if ((n = (size_t)(e - s)) > SCOPE_TOKEN_MAX)
			return (0);
		memcpy(tok, s, n);
		tok[n] = '\0';
		if (!rs_principal_has_scope(p, tok))
			return (0);
	}
	return (1);
}

/* ---------------------------------------------------------------------- */
/* The verified-token cache */

/* A cache key: the token's SHA-256, and a keyed hash of that which picks
 * the shard and the bucket (so that nobody can aim tokens at one bucket). */
struct ckey {
	unsigned char d[KEY_LEN];
	uint64_t h;
};

struct centry {
	struct ckey key;
	struct principal *p; /* NULL: a negative answer, ${err} */
	enum rs_err err;
	int64_t until;	     /* dead from this second on */
	struct centry *hnext;
	struct centry *prev, *next; /* LRU list, most recent first */
};

struct shard {
	_Alignas(64) pthread_mutex_t lock;
	struct centry **b;
	size_t mask;
	struct centry *head, *tail;
	size_t n, max;
	uint64_t hits, misses, evictions;
};

/* A JWKS key. */
struct jkey {
	char *kid;
	cjose_jwk_t *jwk;
};

struct keyset {
	size_t n;
	struct jkey v[RS_JWKS_MAX_KEYS];
};

struct dentry {
	struct dentry *next;
	int64_t exp;
	char jti[];
};

struct rs {
	struct rs_config cfg;
	char *resource;
	char *issuer;
	char *audience;
	char *metadata_url;
	char *scope;
	char *basic;	/* introspection: "Basic ..." (secret) */
	struct keyring *kr;
	struct store *st;

	EVP_MD *md;			/* SHA-256, fetched once */
	unsigned char sipkey[crypto_shorthash_KEYBYTES];

	struct shard *shards;
	size_t nshards;

	/* Denylist of jtis, written by the poller only. */
	pthread_rwlock_t deny_lock;
	struct dentry *deny[DENY_BUCKETS];
	atomic_size_t ndeny;
	atomic_int deny_overflow;
	int64_t poll_since;
	int64_t next_prune_ms;

	/* jwks mode */
	pthread_rwlock_t keys_lock;
	struct keyset *keys;
	pthread_mutex_t fetch_lock;
	atomic_uint keys_gen;
	int64_t last_attempt_ms, last_miss_fetch_ms, last_ok_ms;
	int ever_ok;

	/* background thread */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t tlock;
	pthread_cond_t tcond;
	int stop;

	/* introspection mode: the tokens of open streams (rs_watch_*) */
	pthread_mutex_t watch_lock;
	struct rs_watch *watch[WATCH_BUCKETS];
	size_t nwatch;
	int64_t watch_pause;	/* no re-check before this second (a failure) */

	atomic_uint_fast64_t verifications, jwks_fetches, polls, rechecks;
};

/* A watched token: one per token text (by digest), shared by the streams it
 * opened.  ${tok} is the only copy of a token the gateway keeps past a
 * request; it is wiped when the last holder lets go. */
struct rs_watch {
	struct rs *rs;
	struct ckey key;
	char *tok;		/* secret, not NUL-terminated */
	size_t len;
	int refs;		/* under watch_lock */
	int64_t due;		/* next re-check, seconds (under watch_lock) */
	atomic_int verdict;	/* RS_OK, or the definite refusal */
	struct rs_watch *next;	/* bucket chain (under watch_lock) */
};

/* cache_key(rs, tok, len, k): the cache key of a token: its SHA-256
 * (OpenSSL, which uses the CPU's SHA instructions), and SipHash-2-4 of the
 * digest under a random key for the shard and bucket.  Returns 0 or -1. */
static int
cache_key(struct rs *rs, const char *tok, size_t len, struct ckey *k)
{
	unsigned char h[crypto_shorthash_BYTES];

	if (!EVP_Digest(tok, len, k->d, NULL, rs->md, NULL))
		return (-1);
	crypto_shorthash(h, k->d, KEY_LEN, rs->sipkey);
	memcpy(&k->h, h, sizeof(k->h));
	return (0);
}

static struct shard *
shard_of(struct rs *rs, const struct ckey *k)
{
	return (&rs->shards[k->h & (rs->nshards - 1)]);
}

static size_t
bucket_of(const struct shard *s, const struct ckey *k)
{
	return ((size_t)(k->h >> 8) & s->mask);
}

static void
lru_unlink(struct shard *s, struct centry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push(struct shard *s, struct centry *e)
{
	e->prev = NULL;
	e->next = s->head;
	if (s->head != NULL)
		s->head->prev = e;
	s->head = e;
	if (s->tail == NULL)
		s->tail = e;
}

/* entry_remove(s, e): unlink ${e} from its bucket and the list, free it. */
static void
entry_remove(struct shard *s, struct centry *e)
{
	struct centry **pp;

	for (pp = &s->b[bucket_of(s, &e->key)]; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	lru_unlink(s, e);
	s->n--;
	principal_unref(e->p);
	free(e);
}

static struct centry *
entry_find(struct shard *s, const struct ckey *key)
{
	struct centry *e;

	for (e = s->b[bucket_of(s, key)]; e != NULL; e = e->hnext) {
		if (e->key.h == key->h && secret_eq(e->key.d, key->d, KEY_LEN))
			return (e);
	}
	return (NULL);
}

/* cache_get(rs, key, now, p, err, until): 1 if ${key} has a live entry: its
 * principal (a new reference) in ${p}, or NULL and the negative answer in
 * ${err}, and the second it dies in ${until} (unless NULL); 0 if not. */
static int
cache_get(struct rs *rs, const struct ckey *key, int64_t now, struct principal **p, enum rs_err *err,
    int64_t *until)
{
	struct shard *s = shard_of(rs, key);
	struct centry *e;
	int found = 0;

	pthread_mutex_lock(&s->lock);
	if ((e = entry_find(s, key)) != NULL) {
		if (now >= e->until) {
			entry_remove(s, e);
		} else {
			if (s->head != e) {
				lru_unlink(s, e);
				lru_push(s, e);
			}
			*p = e->p != NULL ? principal_ref(e->p) : NULL;
			*err = e->err;
			if (until != NULL)
				*until = e->until;
			found = 1;
		}
	}
	if (found)
		s->hits++;
	else
		s->misses++;
	pthread_mutex_unlock(&s->lock);
	return (found);
}

/* cache_put(rs, key, p, err, until): remember the answer for ${key} (the
 * cache takes its own reference to ${p}).  An existing entry is replaced;
 * the least recently used one makes room when the shard is full.  Failure
 * to allocate only means no caching. */
static void
cache_put(struct rs *rs, const struct ckey *key, struct principal *p, enum rs_err err, int64_t until)
{
	struct shard *s = shard_of(rs, key);
	struct centry *e, *old;
	size_t b;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	e->key = *key;
	e->p = p != NULL ? principal_ref(p) : NULL;
	e->err = err;
	e->until = until;
	pthread_mutex_lock(&s->lock);
	if ((old = entry_find(s, key)) != NULL)
		entry_remove(s, old);
	while (s->n >= s->max && s->tail != NULL) {
		entry_remove(s, s->tail);
		s->evictions++;
	}
	b = bucket_of(s, key);
	e->hnext = s->b[b];
	s->b[b] = e;
	lru_push(s, e);
	s->n++;
	pthread_mutex_unlock(&s->lock);
}

static void
cache_del(struct rs *rs, const struct ckey *key)
{
	struct shard *s = shard_of(rs, key);
	struct centry *e;

	pthread_mutex_lock(&s->lock);
	if ((e = entry_find(s, key)) != NULL)
		entry_remove(s, e);
	pthread_mutex_unlock(&s->lock);
}

static void
cache_flush(struct rs *rs)
{
	struct shard *s;
	size_t i;

	for (i = 0; i < rs->nshards; i++) {
		s = &rs->shards[i];
		pthread_mutex_lock(&s->lock);
		while (s->head != NULL)
			entry_remove(s, s->head);
		pthread_mutex_unlock(&s->lock);
	}
}

static int
cache_init(struct rs *rs)
{
	size_t i, per, nb;
	struct shard *s;

	for (rs->nshards = RS_SHARDS; rs->nshards > 1 && rs->nshards > rs->cfg.cache_max; rs->nshards /= 2)
		;
	per = rs->cfg.cache_max / rs->nshards;
	for (nb = 16; nb < per && nb < (1u << 20); nb *= 2)
		;
	if ((rs->shards = aligned_alloc(64, rs->nshards * sizeof(struct shard))) == NULL)
		return (-1);
	memset(rs->shards, 0, rs->nshards * sizeof(struct shard));
	for (i = 0; i < rs->nshards; i++) {
		s = &rs->shards[i];
		s->max = per;
		s->mask = nb - 1;
		if ((s->b = calloc(nb, sizeof(*s->b))) == NULL)
			goto err;
		pthread_mutex_init(&s->lock, NULL);
	}
	return (0);

err:
	while (i-- > 0) {
		free(rs->shards[i].b);
		pthread_mutex_destroy(&rs->shards[i].lock);
	}
	free(rs->shards);
	rs->shards = NULL;
	return (-1);
}

static void
cache_free(struct rs *rs)
{
	size_t i;

	if (rs->shards == NULL)
		return;
	cache_flush(rs);
	for (i = 0; i < rs->nshards; i++) {
		free(rs->shards[i].b);
		pthread_mutex_destroy(&rs->shards[i].lock);
	}
	free(rs->shards);
}

/* ---------------------------------------------------------------------- */
/* Denylist */

static size_t
deny_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return ((size_t)(h ^ (h >> 29)) & (DENY_BUCKETS - 1));
}

/* deny_check(rs, jti): 1 if ${jti} is denied, 0 if not, -1 if it cannot be
 * told (the store failed while the denylist is in overflow). */
static int
deny_check(struct rs *rs, const char *jti)
{
	struct dentry *d;
	int hit = 0;

	if (rs->st == NULL)
		return (0);
	if (atomic_load_explicit(&rs->deny_overflow, memory_order_relaxed)) {
		hit = rs->st->ops->jti_denied(rs->st, jti);
		return (hit < 0 ? -1 : hit != 0);
	}
	if (atomic_load_explicit(&rs->ndeny, memory_order_acquire) == 0)
		return (0);
	pthread_rwlock_rdlock(&rs->deny_lock);
	for (d = rs->deny[deny_hash(jti)]; d != NULL; d = d->next) {
		if (strcmp(d->jti, jti) == 0) {
			hit = 1;
			break;
		}
	}
	pthread_rwlock_unlock(&rs->deny_lock);
	return (hit);
}

struct poll_ctx {
	struct rs *rs;
	int64_t now;
};

/* deny_add_cb(arg, jti, expires_at): the store's answer, one denied jti. */
static void
deny_add_cb(void *arg, const char *jti, int64_t expires_at)
{
	struct poll_ctx *pc = arg;
	struct rs *rs = pc->rs;
	struct dentry *d;
	size_t h, n;

	if (jti == NULL || expires_at + rs->cfg.clock_skew < pc->now || (n = strlen(jti)) > ID_MAX)
		return;
	h = deny_hash(jti);
	pthread_rwlock_wrlock(&rs->deny_lock);
	for (d = rs->deny[h]; d != NULL; d = d->next) {
		if (strcmp(d->jti, jti) == 0) {
			if (expires_at > d->exp)
				d->exp = expires_at;
			goto out;
		}
	}
	if (atomic_load(&rs->ndeny) >= RS_DENY_MAX || (d = malloc(sizeof(*d) + n + 1)) == NULL) {
		if (!atomic_exchange(&rs->deny_overflow, 1))
			log_warn("rs: denylist full (%d entries): asking the store on every request", RS_DENY_MAX);
		goto out;
	}
	memcpy(d->jti, jti, n + 1);
	d->exp = expires_at;
	d->next = rs->deny[h];
	rs->deny[h] = d;
	atomic_fetch_add_explicit(&rs->ndeny, 1, memory_order_release);
out:
	pthread_rwlock_unlock(&rs->deny_lock);
}

/* deny_prune(rs, now): drop the entries whose token has expired. */
static void
deny_prune(struct rs *rs, int64_t now)
{
	struct dentry **pp, *d;
	size_t i;

	pthread_rwlock_wrlock(&rs->deny_lock);
	for (i = 0; i < DENY_BUCKETS; i++) {
		for (pp = &rs->deny[i]; (d = *pp) != NULL;) {
			if (d->exp + rs->cfg.clock_skew < now) {
				*pp = d->next;
				free(d);
				atomic_fetch_sub_explicit(&rs->ndeny, 1, memory_order_relaxed);
			} else
				pp = &d->next;
		}
	}
	pthread_rwlock_unlock(&rs->deny_lock);
}

static void
deny_free(struct rs *rs)
{
	struct dentry *d, *next;
	size_t i;

	for (i = 0; i < DENY_BUCKETS; i++) {
		for (d = rs->deny[i]; d != NULL; d = next) {
			next = d->next;
			free(d);
		}
		rs->deny[i] = NULL;
	}
}

/* poll_once(rs): read the jtis denied since the last read (with slack for
 * clocks and transactions that commit late).  Returns 0 or -1. */
static int
poll_once(struct rs *rs)
{
	struct poll_ctx pc;
	int64_t now = clock_now(), now_ms = clock_now_ms();

	pc.rs = rs;
	pc.now = now;
	atomic_fetch_add_explicit(&rs->polls, 1, memory_order_relaxed);
	if (rs->st->ops->jti_denied_since(rs->st, rs->poll_since, deny_add_cb, &pc) != 0)
		return (-1);
	rs->poll_since = now - RS_POLL_SLACK_S;
	if (now_ms >= rs->next_prune_ms) {
		deny_prune(rs, now);
		rs->next_prune_ms = now_ms + PRUNE_EVERY_MS;
	}
	return (0);
}

/* ---------------------------------------------------------------------- */
/* jwks mode */

static void
keyset_free(struct keyset *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++) {
		free(ks->v[i].kid);
		cjose_jwk_release(ks->v[i].jwk);
	}
	free(ks);
}

/* str_member_is(o, name, want): 1 if member ${name} is absent or the string ${want}. */
static int
absent_or(json_t *o, const char *name, const char *want)
{
	json_t *v = json_object_get(o, name);

	return (v == NULL || (json_is_string(v) && strcmp(json_string_value(v), want) == 0));
}

/* keyset_parse(text, n): the usable keys of a JWKS document: EC P-256
 * public keys with a kid, for signatures (use absent or "sig"), for ES256
 * (alg absent or "ES256").  Other keys (RSA, private, encryption) are
 * skipped.  NULL if the document is malformed. */
static struct keyset *
keyset_parse(const char *text, size_t n)
{
	struct keyset *ks;
	json_t *doc, *keys, *k, *v;
	cjose_jwk_t *jwk;
	cjose_err err;
	char *kt;
	size_t i;

	if ((doc = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return (NULL);
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys) || (ks = calloc(1, sizeof(*ks))) == NULL) {
		json_decref(doc);
		return (NULL);
	}
	json_array_foreach(keys, i, k) {
		if (ks->n >= RS_JWKS_MAX_KEYS)
			break;
		if (!json_is_object(k) || !absent_or(k, "use", "sig") || !absent_or(k, "alg", "ES256"))
			continue;
		v = json_object_get(k, "kty");
		if (!json_is_string(v) || strcmp(json_string_value(v), "EC") != 0)
			continue;
		v = json_object_get(k, "crv");
		if (!json_is_string(v) || strcmp(json_string_value(v), "P-256") != 0)
			continue;
		if (json_object_get(k, "d") != NULL)
			continue; /* a private key has no place in a JWKS */
		v = json_object_get(k, "kid");
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > STORE_ID_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			continue;
		if ((kt = json_dumps(k, JSON_COMPACT)) == NULL)
			continue;
		jwk = cjose_jwk_import(kt, strlen(kt), &err);
		free(kt);
		if (jwk == NULL)
			continue;
		if ((ks->v[ks->n].kid = strdup(json_string_value(v))) == NULL) {
			cjose_jwk_release(jwk);
			continue;
		}
		ks->v[ks->n++].jwk = jwk;
	}
	json_decref(doc);
	return (ks);
}

/* keyset_covers(a, b): 1 if every kid of ${b} is in ${a}. */
static int
keyset_covers(const struct keyset *a, const struct keyset *b)
{
	size_t i, j;

	if (b == NULL)
		return (1);
	for (i = 0; i < b->n; i++) {
		for (j = 0; j < a->n && strcmp(a->v[j].kid, b->v[i].kid) != 0; j++)
			;
		if (j == a->n)
			return (0);
	}
	return (1);
}

/* jwks_fetch(rs): fetch and install the JWKS; caller holds fetch_lock.  A
 * key that disappears empties the token cache, so that tokens signed by a
 * withdrawn key stop working at once.  Returns 0 or -1 (logged). */
static int
jwks_fetch(struct rs *rs)
{
	struct fetch_opts fo;
	struct keyset *ks, *old;
	struct buf b;
	enum fetch_err fe;
	long status;
	int flush;

	memset(&fo, 0, sizeof(fo));
	fo.max_bytes = RS_JWKS_MAX_BYTES;
	fo.timeout_ms = RS_FETCH_TIMEOUT_MS;
	fo.allow_http = rs->cfg.allow_http;
	fo.allow_private = 1;	/* the operator's URL, not a client's */
	fo.accept = "application/jwk-set+json, application/json";
	rs->last_attempt_ms = clock_now_ms();
	atomic_fetch_add_explicit(&rs->jwks_fetches, 1, memory_order_relaxed);
	buf_init(&b, RS_JWKS_MAX_BYTES);
	if ((fe = fetch_get(rs->cfg.jwks_uri, &fo, &b, &status)) != FETCH_OK) {
		log_warn("rs: JWKS fetch failed: %s (status %ld)", fetch_strerror(fe), status);
		buf_clear(&b);
		return (-1);
	}
	ks = keyset_parse(buf_cstr(&b), b.len);
	buf_clear(&b);
	if (ks == NULL) {
		log_warn("rs: JWKS document malformed");
		return (-1);
	}
	if (ks->n == 0)
		log_warn("rs: JWKS has no EC P-256 signing key (RS256 issuers need introspection mode)");
	pthread_rwlock_wrlock(&rs->keys_lock);
	old = rs->keys;
	rs->keys = ks;
	pthread_rwlock_unlock(&rs->keys_lock);
	flush = !keyset_covers(ks, old);
	keyset_free(old);
	atomic_fetch_add(&rs->keys_gen, 1);
	rs->last_ok_ms = clock_now_ms();
	rs->ever_ok = 1;
	if (flush)
		cache_flush(rs);
	return (0);
}

struct jwks_ctx {
	struct rs *rs;
	int miss;
};

/* jwks_lookup(arg, kid): the key ${kid}; caller holds keys_lock. */
static cjose_jwk_t *
jwks_lookup(void *arg, const char *kid)
{
	struct jwks_ctx *jc = arg;
	struct keyset *ks = jc->rs->keys;
	size_t i;

	for (i = 0; ks != NULL && i < ks->n; i++) {
		if (strcmp(ks->v[i].kid, kid) == 0)
			return (ks->v[i].jwk);
	}
	jc->miss = 1;
	return (NULL);
}

static int
jwks_verify_once(struct rs *rs, const char *tok, size_t len, json_t **claims, const char **why, int *miss)
{
	struct jwks_ctx jc = {rs, 0};
	int rc;

	pthread_rwlock_rdlock(&rs->keys_lock);
	rc = jwt_verify(tok, len, "ES256", jwks_lookup, &jc, claims, why);
	pthread_rwlock_unlock(&rs->keys_lock);
	*miss = jc.miss;
	return (rc);
}

/* jwks_verify(rs, tok, len, claims, why): verify against the JWKS; on an
 * unknown kid refetch (at most once per jwks_min_refetch_ms) and retry.
 * Returns 0, -1 (invalid) or -2 (no keys could ever be fetched). */
static int
jwks_verify(struct rs *rs, const char *tok, size_t len, json_t **claims, const char **why)
{
	unsigned gen;
	int rc, miss, again = 0;
	int64_t now_ms;

	gen = atomic_load(&rs->keys_gen);
	if ((rc = jwks_verify_once(rs, tok, len, claims, why, &miss)) == 0 || !miss)
		return (rc);
	pthread_mutex_lock(&rs->fetch_lock);
	now_ms = clock_now_ms();
	if (atomic_load(&rs->keys_gen) != gen)
		again = 1;	/* someone else fetched meanwhile */
	else if (rs->last_miss_fetch_ms == 0 || now_ms - rs->last_miss_fetch_ms >= rs->cfg.jwks_min_refetch_ms) {
		rs->last_miss_fetch_ms = now_ms;
		again = jwks_fetch(rs) == 0;
	}
	if (!rs->ever_ok) {
		pthread_mutex_unlock(&rs->fetch_lock);
		return (-2);
	}
	pthread_mutex_unlock(&rs->fetch_lock);
	if (!again)
		return (-1);
	return (jwks_verify_once(rs, tok, len, claims, why, &miss));
}

/* ---------------------------------------------------------------------- */
/* Checks */

/* aud_has(v, aud): 1 if the aud member ${v} is ${aud} or an array holding it. */
static int
aud_has(json_t *v, const char *aud)
{
	json_t *a;
	size_t i;

	if (json_is_string(v))
		return (strcmp(json_string_value(v), aud) == 0);
	if (json_is_array(v)) {
		json_array_foreach(v, i, a) {
			if (json_is_string(a) && strcmp(json_string_value(a), aud) == 0)
				return (1);
		}
	}
	return (0);
}

/* id_member(o, name): the non-empty string member ${name} of at most
 * ID_MAX bytes without NUL, or NULL. */
static const char *
id_member(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > ID_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return (NULL);
	return (json_string_value(v));
}

/* scope_member(o, set): the optional "scope" string of ${o}, parsed. */
static int
scope_member(json_t *o, struct scope_set *set)
{
	json_t *v = json_object_get(o, "scope");

	if (v == NULL)
		return (scope_parse(NULL, set));
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return (-1);
	return (scope_parse(json_string_value(v), set));
}

/* jwt_claims(rs, claims, now, p): the claim checks of a verified JWT, and
 * the principal they describe (one reference) in ${p}. */
static enum rs_err
jwt_claims(struct rs *rs, json_t *claims, int64_t now, struct principal **p)
{
	struct scope_set set;
	const char *why, *sub, *cid, *jti;
	int64_t exp;

	if (!json_is_string(json_object_get(claims, "iss")) ||
	    strcmp(json_string_value(json_object_get(claims, "iss")), rs->issuer) != 0)
		return (RS_ERR_ISSUER);
	if (!aud_has(json_object_get(claims, "aud"), rs->audience))
		return (RS_ERR_AUDIENCE);
	if (jwt_numeric_date(json_object_get(claims, "exp"), &exp))
		return (RS_ERR_INVALID);
	if (exp <= now - rs->cfg.clock_skew)
		return (RS_ERR_EXPIRED);
	if (jwt_check_claims(claims, rs->issuer, rs->audience, now, rs->cfg.clock_skew, &why)) {
		log_debug("rs: token refused: %s", why);
		return (RS_ERR_INVALID);
	}
	if ((sub = id_member(claims, "sub")) == NULL || (cid = id_member(claims, "client_id")) == NULL ||
	    (jti = id_member(claims, "jti")) == NULL || scope_member(claims, &set))
		return (RS_ERR_INVALID);
	if ((*p = principal_new(sub, cid, jti, &set, exp)) == NULL)
		return (RS_ERR_UNAVAILABLE);
	return (RS_OK);
}

/* verify_jwt(rs, tok, len, key, now, out): the cache miss of local and jwks
 * modes. */
static enum rs_err
verify_jwt(struct rs *rs, const char *tok, size_t len, const struct ckey *key, int64_t now,
    struct principal **out)
{
	const char *why = NULL, *dot;
	json_t *claims = NULL;
	struct principal *p = NULL;
	enum rs_err e;
	int rc, d;

	/* Three segments, or it is not a JWT at all. */
	if ((dot = memchr(tok, '.', len)) == NULL ||
	    (dot = memchr(dot + 1, '.', len - (size_t)(dot + 1 - tok))) == NULL ||
	    memchr(dot + 1, '.', len - (size_t)(dot + 1 - tok)) != NULL)
		return (RS_ERR_MALFORMED);
	atomic_fetch_add_explicit(&rs->verifications, 1, memory_order_relaxed);
	if (rs->cfg.mode == RS_MODE_LOCAL)
		rc = keyring_verify(rs->kr, tok, len, now, &claims, &why);
	else
		rc = jwks_verify(rs, tok, len, &claims, &why);
	if (rc == -2)
		return (RS_ERR_UNAVAILABLE);
	if (rc != 0) {
		log_debug("rs: token refused: %s", why ? why : "invalid");
		return (RS_ERR_INVALID);
	}
	e = jwt_claims(rs, claims, now, &p);
	json_decref(claims);
	if (e != RS_OK)
		return (e);
	if ((d = deny_check(rs, p->pub.jti)) != 0) {
		principal_unref(p);
		return (d < 0 ? RS_ERR_UNAVAILABLE : RS_ERR_REVOKED);
	}
	cache_put(rs, key, p, RS_OK, p->pub.exp + rs->cfg.clock_skew);
	*out = p;
	return (RS_OK);
}

/* ---------------------------------------------------------------------- */
/* introspection mode */

/* introspect_answer(rs, doc, tok, len, now, p, until): judge the RFC 7662
 * answer ${doc}; on RS_OK a principal in ${p}.  ${until}: how long the
 * answer may be reused. */
static enum rs_err
introspect_answer(struct rs *rs, json_t *doc, const char *tok, size_t len, int64_t now, struct principal **p,
    int64_t *until)
{
	unsigned char d[32];
	char jtibuf[7 + 23];
	struct scope_set set;
	const char *sub, *cid, *jti;
	json_t *v;
	int64_t exp = 0, nbf;

	*until = now + RS_NEG_TTL_S;
	if (!json_is_object(doc) || !json_is_true(json_object_get(doc, "active")))
		return (RS_ERR_INVALID);
	v = json_object_get(doc, "token_type");
	if (v != NULL && (!json_is_string(v) || strcasecmp(json_string_value(v), "refresh_token") == 0))
		return (RS_ERR_INVALID);
	v = json_object_get(doc, "iss");
	if (v != NULL && rs->issuer != NULL && (!json_is_string(v) || strcmp(json_string_value(v), rs->issuer) != 0))
		return (RS_ERR_ISSUER);
	if (!aud_has(json_object_get(doc, "aud"), rs->audience))
		return (RS_ERR_AUDIENCE);
	if ((v = json_object_get(doc, "exp")) != NULL) {
		if (jwt_numeric_date(v, &exp))
			return (RS_ERR_INVALID);
		if (exp <= now - rs->cfg.clock_skew)
			return (RS_ERR_EXPIRED);
	}
	if ((v = json_object_get(doc, "nbf")) != NULL) {
		if (jwt_numeric_date(v, &nbf) || nbf > now + rs->cfg.clock_skew)
			return (RS_ERR_INVALID);
	}
	if ((cid = id_member(doc, "client_id")) == NULL || scope_member(doc, &set))
		return (RS_ERR_INVALID);
	if (json_object_get(doc, "sub") == NULL)
		sub = cid;
	else if ((sub = id_member(doc, "sub")) == NULL)
		return (RS_ERR_INVALID);
	if (json_object_get(doc, "jti") == NULL) {
		/* An identifier for audit records: 132 bits of the token's
		 * SHA-256. */
		crypto_hash_sha256(d, (const unsigned char *)tok, len);
		memcpy(jtibuf, "sha256:", 7);
		b64url_encode(d, 16, jtibuf + 7);
		jtibuf[7 + 22] = '\0';
		jti = jtibuf;
	} else if ((jti = id_member(doc, "jti")) == NULL)
		return (RS_ERR_INVALID);
	*until = now + rs->cfg.cache_ttl;
	if (exp != 0 && exp + rs->cfg.clock_skew < *until)
		*until = exp + rs->cfg.clock_skew;
	if ((*p = principal_new(sub, cid, jti, &set, exp != 0 ? exp : *until)) == NULL)
		return (RS_ERR_UNAVAILABLE);
	return (RS_OK);
}

/* verify_introspect(rs, tok, len, key, now, out, untilp): the cache miss
 * of introspection mode: one POST, the answer judged and cached (until the
 * second stored in ${untilp}, unless NULL).  An unreachable or failing
 * server is RS_ERR_UNAVAILABLE, not cached. */
static enum rs_err
verify_introspect(struct rs *rs, const char *tok, size_t len, const struct ckey *key, int64_t now,
    struct principal **out, int64_t *untilp)
{
	struct fetch_opts fo;
	struct buf form, body;
	struct principal *p = NULL;
	enum fetch_err fe;
	enum rs_err e;
	json_t *doc;
	char *t;
	long status;
	int64_t until;

	if ((t = malloc(len + 1)) == NULL)
		return (RS_ERR_UNAVAILABLE);
	memcpy(t, tok, len);
	t[len] = '\0';
	buf_init(&form, FETCH_FORM_MAX);
	if (form_encode(&form, "token", t) || form_encode(&form, "token_type_hint", "access_token")) {
		secret_wipe(t, len);
		free(t);
		buf_clear(&form);
		return (RS_ERR_MALFORMED);
	}
	secret_wipe(t, len);
	free(t);
	memset(&fo, 0, sizeof(fo));
	fo.max_bytes = RS_INTROSPECT_MAX_BYTES;
	fo.timeout_ms = RS_FETCH_TIMEOUT_MS;
	fo.allow_http = rs->cfg.allow_http;
	fo.allow_private = 1;	/* the operator's URL, not a client's */
	buf_init(&body, RS_INTROSPECT_MAX_BYTES);
	atomic_fetch_add_explicit(&rs->verifications, 1, memory_order_relaxed);
	fe = fetch_post_form(rs->cfg.introspection_endpoint, &fo, buf_cstr(&form), form.len, rs->basic, &body,
	    &status);
	buf_clear(&form);
	if (fe != FETCH_OK) {
		log_warn("rs: introspection failed: %s (status %ld)", fetch_strerror(fe), status);
		buf_clear(&body);
		return (RS_ERR_UNAVAILABLE);
	}
	doc = json_loadb(buf_cstr(&body), body.len, JSON_REJECT_DUPLICATES, NULL);
	buf_clear(&body);
	if (doc == NULL) {
		log_warn("rs: introspection answer is not JSON");
		return (RS_ERR_UNAVAILABLE);
	}
	e = introspect_answer(rs, doc, tok, len, now, &p, &until);
	json_decref(doc);
	if (e == RS_ERR_UNAVAILABLE)
		return (e);
	cache_put(rs, key, p, e, until);
	if (untilp != NULL)
		*untilp = until;
	if (e != RS_OK)
		return (e);
	*out = p;
	return (RS_OK);
}

/* ---------------------------------------------------------------------- */
/* Watched tokens (introspection mode) */

static size_t
watch_bucket(const struct ckey *k)
{
	return ((size_t)(k->h >> 32) & (WATCH_BUCKETS - 1));
}

/* watch_find(rs, key): the watched token of digest ${key} (watch_lock
 * held), or NULL. */
static struct rs_watch *
watch_find(struct rs *rs, const struct ckey *key)
{
	struct rs_watch *w;

	for (w = rs->watch[watch_bucket(key)]; w != NULL; w = w->next)
		if (w->key.h == key->h && secret_eq(w->key.d, key->d, KEY_LEN))
			return (w);
	return (NULL);
}

/*
 * rs_watch_new(rs, tok, len, out): a handle on the ${len} bytes of token
 * ${tok} for a stream it opened (see rs.h).
 */
int
rs_watch_new(struct rs *rs, const char *tok, size_t len, struct rs_watch **out)
{
	struct rs_watch *w;
	struct principal *p = NULL;
	struct ckey key;
	enum rs_err e;
	int64_t now, until = 0;
	size_t b;

	*out = NULL;
	if (rs == NULL || rs->cfg.mode != RS_MODE_INTROSPECTION)
		return (0);
	if (tok == NULL || len == 0 || len > BEARER_TOKEN_MAX || memchr(tok, '\0', len) != NULL) {
		errno = EINVAL;
		return (-1);
	}
	if (cache_key(rs, tok, len, &key))
		return (-1);
	/* The answer that let the stream open was probably just cached: the
	 * first re-check is due when that answer may no longer be reused. */
	now = clock_now();
	if (cache_get(rs, &key, now, &p, &e, &until) == 0 || p == NULL)
		until = now;
	principal_unref(p);
	pthread_mutex_lock(&rs->watch_lock);
	if ((w = watch_find(rs, &key)) != NULL) {
		w->refs++;
		pthread_mutex_unlock(&rs->watch_lock);
		*out = w;
		return (0);
	}
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->tok = malloc(len)) == NULL) {
		pthread_mutex_unlock(&rs->watch_lock);
		free(w);
		return (-1);
	}
	w->rs = rs;
	w->key = key;
	memcpy(w->tok, tok, len);
	w->len = len;
	w->refs = 1;
	w->due = until;
	atomic_init(&w->verdict, RS_OK);
	b = watch_bucket(&key);
	w->next = rs->watch[b];
	rs->watch[b] = w;
	rs->nwatch++;
	pthread_mutex_unlock(&rs->watch_lock);
	*out = w;
	return (0);
}

/*
 * rs_watch_req(rs, req, out): rs_watch_new() with the bearer token of
 * ${req}.
 */
int
rs_watch_req(struct rs *rs, const struct http_req *req, struct rs_watch **out)
{
	const char *tok;
	size_t len;

	*out = NULL;
	if (rs == NULL || rs->cfg.mode != RS_MODE_INTROSPECTION)
		return (0);
	if (http_req_header_count(req, "Authorization") != 1 ||
	    bearer_parse(http_req_header(req, "Authorization"), &tok, &len) != BEARER_OK) {
		errno = EINVAL;
		return (-1);
	}
	return (rs_watch_new(rs, tok, len, out));
}

/*
 * rs_watch_check(w): RS_OK while the token of ${w} is not known to be
 * inactive.
 */
enum rs_err
rs_watch_check(const struct rs_watch *w)
{
	if (w == NULL)
		return (RS_OK);
	return ((enum rs_err)atomic_load_explicit(&w->verdict, memory_order_acquire));
}

/*
 * rs_watch_free(w): drop a holder of ${w}; the last one wipes the token.
 */
void
rs_watch_free(struct rs_watch *w)
{
	struct rs_watch **pp;
	struct rs *rs;

	if (w == NULL)
		return;
	rs = w->rs;
	pthread_mutex_lock(&rs->watch_lock);
	if (--w->refs > 0) {
		pthread_mutex_unlock(&rs->watch_lock);
		return;
	}
	for (pp = &rs->watch[watch_bucket(&w->key)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	rs->nwatch--;
	pthread_mutex_unlock(&rs->watch_lock);
	secret_wipe(w->tok, w->len);
	free(w->tok);
	free(w);
}

static int
stopping(struct rs *rs)
{
	int stop;

	pthread_mutex_lock(&rs->tlock);
	stop = rs->stop;
	pthread_mutex_unlock(&rs->tlock);
	return (stop);
}

/* recheck(rs, w, now, until): is the token of ${w} still active?  A live
 * answer of the cache (a request's, or another re-check's) serves as well
 * as a new one; otherwise one introspection, whose answer is cached for
 * requests too.  On RS_OK ${until} is when the answer may no longer be
 * reused. */
static enum rs_err
recheck(struct rs *rs, struct rs_watch *w, int64_t now, int64_t *until)
{
	struct principal *p = NULL;
	enum rs_err e;

	if (cache_get(rs, &w->key, now, &p, &e, until)) {
		if (p == NULL)
			return (e);
		principal_unref(p);
		return (RS_OK);
	}
	atomic_fetch_add_explicit(&rs->rechecks, 1, memory_order_relaxed);
	if ((e = verify_introspect(rs, w->tok, w->len, &w->key, now, &p, until)) == RS_OK)
		principal_unref(p);
	return (e);
}

/*
 * watch_run(rs): on the background thread, every poll period: ask again
 * about at most RS_WATCH_PER_RUN watched tokens whose last answer may no
 * longer be reused, without holding watch_lock during a request.  The
 * first failure (server unreachable, non-200, not JSON) ends the run and
 * pauses re-checks for RS_WATCH_RETRY_S seconds; it ends no stream.
 */
static void
watch_run(struct rs *rs)
{
	struct rs_watch *due[RS_WATCH_PER_RUN], *w;
	enum rs_err e;
	int64_t now = clock_now(), until;
	size_t b, n = 0, i;
	int failed = 0;

	pthread_mutex_lock(&rs->watch_lock);
	if (rs->nwatch == 0 || now < rs->watch_pause) {
		pthread_mutex_unlock(&rs->watch_lock);
		return;
	}
	for (b = 0; b < WATCH_BUCKETS && n < RS_WATCH_PER_RUN; b++)
		for (w = rs->watch[b]; w != NULL && n < RS_WATCH_PER_RUN; w = w->next) {
			if (w->due > now ||
			    atomic_load_explicit(&w->verdict, memory_order_relaxed) != RS_OK)
				continue;
			w->refs++;
			due[n++] = w;
		}
	pthread_mutex_unlock(&rs->watch_lock);
	for (i = 0; i < n; i++) {
		w = due[i];
		if (failed || stopping(rs)) {
			rs_watch_free(w);
			continue;
		}
		now = clock_now();
		until = now;
		e = recheck(rs, w, now, &until);
		pthread_mutex_lock(&rs->watch_lock);
		if (e == RS_ERR_UNAVAILABLE) {
			/* Fail open: only a definite answer ends a stream. */
			w->due = now + RS_WATCH_RETRY_S;
			rs->watch_pause = now + RS_WATCH_RETRY_S;
			failed = 1;
		} else if (e == RS_OK)
			w->due = until > now ? until : now + 1;
		else
			atomic_store_explicit(&w->verdict, e == RS_ERR_EXPIRED ? RS_ERR_EXPIRED :
			    RS_ERR_REVOKED, memory_order_release);
		pthread_mutex_unlock(&rs->watch_lock);
		if (e == RS_ERR_UNAVAILABLE)
			log_warn("rs: a stream's token could not be introspected again: its streams stay "
			    "open; next try in %d s", RS_WATCH_RETRY_S);
		rs_watch_free(w);
	}
}

/* ---------------------------------------------------------------------- */
/* The background thread */

static void *
run(void *arg)
{
	struct rs *rs = arg;
	struct timespec ts;
	int64_t now_ms;

	pthread_mutex_lock(&rs->tlock);
	while (!rs->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += rs->cfg.poll_ms / 1000;
		ts.tv_nsec += (rs->cfg.poll_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!rs->stop && pthread_cond_timedwait(&rs->tcond, &rs->tlock, &ts) != ETIMEDOUT)
			;
		if (rs->stop)
			break;
		pthread_mutex_unlock(&rs->tlock);

		if (rs->st != NULL && poll_once(rs) != 0)
			log_warn("rs: cannot read the denylist");
		if (rs->cfg.mode == RS_MODE_INTROSPECTION)
			watch_run(rs);
		if (rs->cfg.mode == RS_MODE_JWKS) {
			pthread_mutex_lock(&rs->fetch_lock);
			now_ms = clock_now_ms();
			if ((rs->ever_ok && now_ms - rs->last_ok_ms >= RS_JWKS_REFRESH_S * 1000 &&
				now_ms - rs->last_attempt_ms >= rs->cfg.jwks_min_refetch_ms) ||
			    (!rs->ever_ok && now_ms - rs->last_attempt_ms >= rs->cfg.jwks_min_refetch_ms))
				(void)jwks_fetch(rs);
			pthread_mutex_unlock(&rs->fetch_lock);
		}

		pthread_mutex_lock(&rs->tlock);
	}
	pthread_mutex_unlock(&rs->tlock);
	return (NULL);
}

/* ---------------------------------------------------------------------- */
/* Life cycle */

static char *
dup_or_null(const char *s)
{
	return (s != NULL ? strdup(s) : NULL);
}

/* make_basic(id, secret): "Basic " base64(urlenc(id) ":" urlenc(secret))
 * (RFC 6749 section 2.3.1), or NULL. */
static char *
make_basic(const char *id, const char *secret)
{
	struct buf b;
	char *out = NULL, *eq;

	buf_init(&b, FETCH_AUTH_MAX);
	if (form_encode(&b, id, secret) || (eq = strchr(b.p, '=')) == NULL)
		goto done;
	*eq = ':';
	if (6 + 4 * ((b.len + 2) / 3) + 1 > FETCH_AUTH_MAX || (out = malloc(6 + 4 * ((b.len + 2) / 3) + 1)) == NULL)
		goto done;
	memcpy(out, "Basic ", 6);
	b64_encode(b.p, b.len, out + 6);
done:
	buf_clear(&b);
	return (out);
}

static int
copy_config(struct rs_config *dst, const struct rs_config *src)
{
	*dst = *src;
	dst->issuer = dst->jwks_uri = dst->introspection_endpoint = NULL;
	dst->client_id = dst->client_secret = dst->audience = NULL;
	if ((src->issuer && (dst->issuer = strdup(src->issuer)) == NULL) ||
	    (src->jwks_uri && (dst->jwks_uri = strdup(src->jwks_uri)) == NULL) ||
	    (src->introspection_endpoint &&
		(dst->introspection_endpoint = strdup(src->introspection_endpoint)) == NULL) ||
	    (src->client_id && (dst->client_id = strdup(src->client_id)) == NULL) ||
	    (src->client_secret && (dst->client_secret = strdup(src->client_secret)) == NULL) ||
	    (src->audience && (dst->audience = strdup(src->audience)) == NULL)) {
		rs_config_clear(dst);
		return (-1);
	}
	return (0);
}

/*
 * rs_new(p): a token checker per ${p}.  NULL on failure (logged).
 */
struct rs *
rs_new(const struct rs_params *p)
{
	struct rs_config def;
	pthread_condattr_t ca;
	struct rs *rs;

	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		goto err0;
	if (p->cfg == NULL) {
		config_defaults(&def);
		rs->cfg = def;
	} else if (copy_config(&rs->cfg, p->cfg))
		goto err1;
	if (rs->cfg.cache_max == 0)
		rs->cfg.cache_max = RS_CACHE_MAX_DEFAULT;
	if (rs->cfg.poll_ms <= 0)
		rs->cfg.poll_ms = RS_POLL_MS;
	if (rs->cfg.jwks_min_refetch_ms <= 0)
		rs->cfg.jwks_min_refetch_ms = RS_JWKS_MIN_REFETCH_S * 1000;
	if (rs->cfg.cache_ttl <= 0)
		rs->cfg.cache_ttl = RS_CACHE_TTL_DEFAULT;
	if (rs->cfg.clock_skew < 0 || rs->cfg.clock_skew > RS_SKEW_MAX)
		rs->cfg.clock_skew = RS_SKEW_DEFAULT;

	if (p->resource == NULL && rs->cfg.audience == NULL) {
		log_err("rs: no resource URL");
		goto err2;
	}
	rs->resource = dup_or_null(p->resource ? p->resource : rs->cfg.audience);
	rs->audience = dup_or_null(rs->cfg.audience ? rs->cfg.audience : p->resource);
	rs->issuer = dup_or_null(rs->cfg.issuer ? rs->cfg.issuer : p->issuer);
	rs->metadata_url = dup_or_null(p->metadata_url);
	rs->scope = dup_or_null(p->scope);
	if (rs->resource == NULL || rs->audience == NULL || (p->metadata_url && !rs->metadata_url) ||
	    (p->scope && !rs->scope))
		goto err2;
	rs->kr = p->kr;
	rs->st = p->st;
	switch (rs->cfg.mode) {
	case RS_MODE_LOCAL:
		if (rs->kr == NULL || rs->st == NULL || rs->issuer == NULL) {
			log_err("rs: local mode needs the keyring, the store and the issuer");
			goto err2;
		}
		break;
	case RS_MODE_JWKS:
		if (rs->cfg.jwks_uri == NULL || rs->issuer == NULL) {
			log_err("rs: jwks mode needs issuer and jwks_uri");
			goto err2;
		}
		break;
	case RS_MODE_INTROSPECTION:
		rs->st = NULL;	/* revocation is the remote server's business */
		if (rs->cfg.introspection_endpoint == NULL || rs->cfg.client_id == NULL ||
		    rs->cfg.client_secret == NULL) {
			log_err("rs: introspection mode needs introspection_endpoint and client credentials");
			goto err2;
		}
		if ((rs->basic = make_basic(rs->cfg.client_id, rs->cfg.client_secret)) == NULL) {
			log_err("rs: client credentials too long");
			goto err2;
		}
		break;
	default:
		goto err2;
	}

	if (secret_random(rs->sipkey, sizeof(rs->sipkey)) || (rs->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		goto err2;

	if (cache_init(rs))
		goto err2;
	pthread_rwlock_init(&rs->deny_lock, NULL);
	pthread_rwlock_init(&rs->keys_lock, NULL);
	pthread_mutex_init(&rs->fetch_lock, NULL);
	pthread_mutex_init(&rs->tlock, NULL);
	pthread_mutex_init(&rs->watch_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rs->tcond, &ca);
	pthread_condattr_destroy(&ca);

	/* The denylist as it is now, so that no revoked token passes before
	 * the first poll. */
	if (rs->st != NULL && poll_once(rs) != 0) {
		log_err("rs: cannot read the denylist");
		goto err3;
	}
	if (rs->cfg.mode == RS_MODE_JWKS) {
		pthread_mutex_lock(&rs->fetch_lock);
		(void)jwks_fetch(rs);
		pthread_mutex_unlock(&rs->fetch_lock);
	}
	/* Introspection mode: the re-checks of watched tokens. */
	if (rs->st != NULL || rs->cfg.mode != RS_MODE_LOCAL) {
		if ((errno = pthread_create(&rs->thread, NULL, run, rs)) != 0) {
			log_warnp("rs: pthread_create");
			goto err3;
		}
		rs->thread_started = 1;
	}
	return (rs);

err3:
	pthread_cond_destroy(&rs->tcond);
	pthread_mutex_destroy(&rs->watch_lock);
	pthread_mutex_destroy(&rs->tlock);
	pthread_mutex_destroy(&rs->fetch_lock);
	pthread_rwlock_destroy(&rs->keys_lock);
	pthread_rwlock_destroy(&rs->deny_lock);
	keyset_free(rs->keys);
	deny_free(rs);
	cache_free(rs);
err2:
	if (rs->basic != NULL) {
		secret_wipe(rs->basic, strlen(rs->basic));
		free(rs->basic);
	}
	free(rs->resource);
	free(rs->audience);
	free(rs->issuer);
	free(rs->metadata_url);
	free(rs->scope);
	rs_config_clear(&rs->cfg);
err1:
	EVP_MD_free(rs->md);
	free(rs);
err0:
	return (NULL);
}

/*
 * rs_free(rs): stop the thread, release every cached principal, free.
 */
void
rs_free(struct rs *rs)
{
	if (rs == NULL)
		return;
	if (rs->thread_started) {
		pthread_mutex_lock(&rs->tlock);
		rs->stop = 1;
		pthread_cond_signal(&rs->tcond);
		pthread_mutex_unlock(&rs->tlock);
		pthread_join(rs->thread, NULL);
	}
	pthread_cond_destroy(&rs->tcond);
	pthread_mutex_destroy(&rs->watch_lock);
	pthread_mutex_destroy(&rs->tlock);
	pthread_mutex_destroy(&rs->fetch_lock);
	pthread_rwlock_destroy(&rs->keys_lock);
	pthread_rwlock_destroy(&rs->deny_lock);
	keyset_free(rs->keys);
	deny_free(rs);
	cache_free(rs);
	if (rs->basic != NULL) {
		secret_wipe(rs->basic, strlen(rs->basic));
		free(rs->basic);
	}
	free(rs->resource);
	free(rs->audience);
	free(rs->issuer);
	free(rs->metadata_url);
	free(rs->scope);
	rs_config_clear(&rs->cfg);
	EVP_MD_free(rs->md);
	free(rs);
}

/* ---------------------------------------------------------------------- */
/* Verification */

/*
 * rs_verify(rs, tok, len, out): check the ${len} bytes of token ${tok}; on
 * RS_OK a principal in ${out}, which the caller releases.
 */
enum rs_err
rs_verify(struct rs *rs, const char *tok, size_t len, const struct rs_principal **out)
{
	struct ckey key;
	struct principal *p = NULL;
	enum rs_err e;
	int64_t now;
	int d;

	*out = NULL;
	if (tok == NULL || len == 0 || len > BEARER_TOKEN_MAX || memchr(tok, '\0', len) != NULL)
		return (RS_ERR_MALFORMED);
	if (cache_key(rs, tok, len, &key))
		return (RS_ERR_UNAVAILABLE);
	now = clock_now();
	if (cache_get(rs, &key, now, &p, &e, NULL)) {
		if (p == NULL)
			return (e);
		/* Revocation is checked on every use, cached or not. */
		if ((d = deny_check(rs, p->pub.jti)) != 0) {
			principal_unref(p);
			if (d > 0)
				cache_del(rs, &key);
			return (d < 0 ? RS_ERR_UNAVAILABLE : RS_ERR_REVOKED);
		}
		*out = &p->pub;
		return (RS_OK);
	}
	if (rs->cfg.mode == RS_MODE_INTROSPECTION)
		e = verify_introspect(rs, tok, len, &key, now, &p, NULL);
	else
		e = verify_jwt(rs, tok, len, &key, now, &p);
	if (e == RS_OK)
		*out = &p->pub;
	return (e);
}

/*
 * rs_principal_check(rs, jti, exp, now): a token verified earlier, checked
 * again from what its holder kept (see rs.h).
 */
enum rs_err
rs_principal_check(struct rs *rs, const char *jti, int64_t exp, int64_t now)
{
	struct dentry *d;
	int hit = 0;

	if (exp <= now - rs->cfg.clock_skew)
		return (RS_ERR_EXPIRED);
	/* Without the store's answer (overflow) the list is incomplete: a
	 * hit is still a hit. */
	if (rs->st == NULL || jti == NULL || atomic_load_explicit(&rs->ndeny, memory_order_acquire) == 0)
		return (RS_OK);
	pthread_rwlock_rdlock(&rs->deny_lock);
	for (d = rs->deny[deny_hash(jti)]; d != NULL; d = d->next) {
		if (strcmp(d->jti, jti) == 0) {
			hit = 1;
			break;
		}
	}
	pthread_rwlock_unlock(&rs->deny_lock);
	return (hit ? RS_ERR_REVOKED : RS_OK);
}

/*
 * rs_authenticate(rs, req, out): the whole check of a request.
 */
enum rs_err
rs_authenticate(struct rs *rs, const struct http_req *req, const struct rs_principal **out)
{
	const char *hdr, *tok;
	size_t len;
	int n, rc, q;

	*out = NULL;
	n = http_req_header_count(req, "Authorization");
	q = bearer_query_has_token(req->query);
	if (n > 1)
		return (RS_ERR_REQUEST);
	hdr = n == 1 ? http_req_header(req, "Authorization") : NULL;
	rc = bearer_parse(hdr, &tok, &len);
	if (rc == BEARER_ABSENT)
		return (RS_ERR_MISSING);
	if (rc != BEARER_OK || q)
		return (RS_ERR_REQUEST);
	return (rs_verify(rs, tok, len, out));
}

/* ---------------------------------------------------------------------- */
/* Challenges */

/*
 * rs_strerror(e): a short fixed description of ${e}.
 */
const char *
rs_strerror(enum rs_err e)
{
	switch (e) {
	case RS_OK:
		return ("ok");
	case RS_ERR_MISSING:
		return ("An access token is required");
	case RS_ERR_REQUEST:
		return ("Send one access token, in the Authorization header only");
	case RS_ERR_MALFORMED:
		return ("The access token is malformed");
	case RS_ERR_INVALID:
		return ("The access token is invalid");
	case RS_ERR_EXPIRED:
		return ("The access token expired");
	case RS_ERR_REVOKED:
		return ("The access token was revoked");
	case RS_ERR_AUDIENCE:
		return ("The access token is not meant for this resource");
	case RS_ERR_ISSUER:
		return ("The access token is not from a trusted issuer");
	case RS_ERR_SCOPE:
		return ("The access token lacks a scope this request needs");
	case RS_ERR_UNAVAILABLE:
		return ("The access token cannot be checked now");
	}
	return ("The access token is invalid");
}

/* param(b, first, name, value): append [", "] name="value" as a
 * quoted-string (RFC 9110 section 5.6.4); nothing if ${value} is NULL or
 * empty.  Returns 0 or -1. */
static int
param(struct buf *b, int *first, const char *name, const char *value)
{
	const char *s;
	int rc;

	if (value == NULL || *value == '\0')
		return (0);
	rc = buf_printf(b, "%s%s=\"", *first ? " " : ", ", name);
	for (s = value; rc == 0 && *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			rc = buf_printf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			rc = buf_add(b, " ", 1);
		else
			rc = buf_add(b, s, 1);
	}
	if (rc == 0)
		rc = buf_add(b, "\"", 1);
	*first = 0;
	return (rc);
}

/*
 * rs_challenge(e, metadata_url, scope, out): append the WWW-Authenticate
 * value for ${e} to ${out} and return the HTTP status, or -1 if ${out} is
 * full.
 */
int
rs_challenge(enum rs_err e, const char *metadata_url, const char *scope, struct buf *out)
{
	int first = 1, status;

	switch (e) {
	case RS_OK:
		return (200);
	case RS_ERR_UNAVAILABLE:
		return (503);
	case RS_ERR_MISSING:
		if (buf_adds(out, "Bearer") || param(out, &first, "resource_metadata", metadata_url) ||
		    param(out, &first, "scope", scope))
			return (-1);
		return (401);
	case RS_ERR_SCOPE:
		if (buf_adds(out, "Bearer") || param(out, &first, "error", "insufficient_scope") ||
		    param(out, &first, "scope", scope) || param(out, &first, "resource_metadata", metadata_url))
			return (-1);
		return (403);
	case RS_ERR_REQUEST:
		status = 400;
		if (buf_adds(out, "Bearer") || param(out, &first, "error", "invalid_request"))
			return (-1);
		break;
	default:
		status = 401;
		if (buf_adds(out, "Bearer") || param(out, &first, "error", "invalid_token"))
			return (-1);
		break;
	}
	if (param(out, &first, "error_description", rs_strerror(e)) ||
	    param(out, &first, "resource_metadata", metadata_url))
		return (-1);
	return (status);
}

/*
 * rs_respond(rs, e, scope, resp): answer ${resp} for the error ${e}.
 */
void
rs_respond(struct rs *rs, enum rs_err e, const char *scope, struct http_resp *resp)
{
	struct buf b;
	json_t *j;
	int status;

	buf_init(&b, CHALLENGE_MAX);
	if (scope == NULL && e == RS_ERR_MISSING)
		scope = rs->scope;
	if ((status = rs_challenge(e, rs->metadata_url, scope, &b)) < 0) {
		buf_reset(&b);
		status = rs_challenge(e, rs->metadata_url, NULL, &b);
	}
	switch (e) {
	case RS_ERR_MISSING:
	case RS_ERR_UNAVAILABLE:
		j = json_pack("{s:s}", "error_description", rs_strerror(e));
		break;
	case RS_ERR_REQUEST:
		j = json_pack("{s:s, s:s}", "error", "invalid_request", "error_description", rs_strerror(e));
		break;
	case RS_ERR_SCOPE:
		j = json_pack("{s:s, s:s}", "error", "insufficient_scope", "error_description", rs_strerror(e));
		break;
	default:
		j = json_pack("{s:s, s:s}", "error", "invalid_token", "error_description", rs_strerror(e));
		break;
	}
	http_resp_json(resp, status > 0 ? status : 500, j);
	if (b.len > 0)
		(void)http_resp_header(resp, "WWW-Authenticate", buf_cstr(&b));
	buf_clear(&b);
}

/*
 * rs_stats(rs, out): a snapshot of the counters.
 */
void
rs_stats(struct rs *rs, struct rs_stats *out)
{
	struct shard *s;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < rs->nshards; i++) {
		s = &rs->shards[i];
		pthread_mutex_lock(&s->lock);
		out->hits += s->hits;
		out->misses += s->misses;
		out->evictions += s->evictions;
		out->cached += s->n;
		pthread_mutex_unlock(&s->lock);
	}
	out->verifications = atomic_load(&rs->verifications);
	out->jwks_fetches = atomic_load(&rs->jwks_fetches);
	out->polls = atomic_load(&rs->polls);
	out->rechecks = atomic_load(&rs->rechecks);
	pthread_mutex_lock(&rs->watch_lock);
	out->watched = rs->nwatch;
	pthread_mutex_unlock(&rs->watch_lock);
	out->denied = atomic_load(&rs->ndeny);
}
