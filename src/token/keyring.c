#include "token/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjose/cjose.h>

#include "core/b64.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "store/store.h"
#include "token/jwt.h"

/* Largest sealed private JWK we accept from the store. */
#define SEALED_MAX 1024
/* Largest public JWK text we accept from the store. */
#define PUBLIC_MAX 1024
/* A P-256 coordinate in base64url: 32 bytes. */
#define COORD_LEN B64URL_LEN(32)

/* One loaded key.  ${signer} is set only for keys that are not retired (the
 * ones that may sign) and holds the private key, converted once at load so
 * that signing a token costs one ECDSA operation; ${pub} is derived from the
 * decrypted private key, so the unauthenticated public_jwk column is never
 * trusted on its own. */
struct kr_key {
	char *kid;
	struct jwt_signer *signer;
	cjose_jwk_t *pub;
	json_t *jwk; /* public JWK with kid, use, alg: for the JWKS */
	int64_t created_at;
	int64_t retired_at;
	int64_t publish_until;
};

/* An immutable set of keys, swapped whole on reload. */
struct kr_set {
	struct kr_key *v;
	size_t n;
	size_t cap;
};

struct keyring {
	struct store *st;
	unsigned char master[MASTERKEY_LEN];
	pthread_rwlock_t lock; /* guards ${set} */
	struct kr_set set;
	pthread_mutex_t reload_lock; /* serializes reloads; guards the times */
	int64_t loaded_at;	     /* ${now} of the last reload */
	int64_t miss_at;	     /* ${now} of the last reload for an unknown kid */
	int miss_done;		     /* 0 until the first such reload */
};

/* masterkey_load(path, env_b64, out): the master key from ${env_b64}
 * (base64url of 32 bytes) if not NULL, else from the file ${path}, which is
 * created with 32 random bytes and mode 0600 if it does not exist.  Refuses a
 * file readable by group or others.  Returns 0 or -1 (logged). */
int
masterkey_load(const char *path, const char *env_b64, unsigned char out[MASTERKEY_LEN])
{
	unsigned char tmp[MASTERKEY_LEN + 1];
	struct stat sb;
	size_t n;
	ssize_t r;
	int fd, created = 0;

	if (env_b64 != NULL) {
		if (b64url_decode(env_b64, strlen(env_b64), tmp, sizeof(tmp), &n) || n != MASTERKEY_LEN) {
			log_err("master key from the environment: not base64url of %d bytes", MASTERKEY_LEN);
			goto err0;
		}
		memcpy(out, tmp, MASTERKEY_LEN);
		secret_wipe(tmp, sizeof(tmp));
		return (0);
	}
	if (path == NULL) {
		log_err("master key: no file and no environment value");
		goto err0;
	}

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 && errno == ENOENT) {
		/* Exclusive creation: two processes starting at once cannot
		 * both write a key. */
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
			log_err("master key %s: cannot create: %s", path, strerror(errno));
			goto err0;
		}
		created = 1;
		if (secret_random(tmp, MASTERKEY_LEN)) {
			log_err("master key %s: no randomness", path);
			goto err2;
		}
		if ((r = write(fd, tmp, MASTERKEY_LEN)) != MASTERKEY_LEN) {
			if (r == -1)
				log_err("master key %s: write: %s", path, strerror(errno));
			else
				log_err("master key %s: short write", path);
			goto err2;
		}
		if (fsync(fd)) {
			log_err("master key %s: fsync: %s", path, strerror(errno));
			goto err2;
		}
		close(fd);
		memcpy(out, tmp, MASTERKEY_LEN);
		secret_wipe(tmp, sizeof(tmp));
		log_info("master key %s: created", path);
		return (0);
	}
	if (fd == -1) {
		log_err("master key %s: cannot open: %s", path, strerror(errno));
		goto err0;
	}
	if (fstat(fd, &sb)) {
		log_err("master key %s: stat: %s", path, strerror(errno));
		goto err1;
	}
	if (!S_ISREG(sb.st_mode)) {
		log_err("master key %s: not a regular file", path);
		goto err1;
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		log_err("master key %s: accessible by group or others (mode %03o); chmod 600 it",
		    path, (unsigned)(sb.st_mode & 0777));
		goto err1;
	}
	/* Read one byte more than needed to detect a file of the wrong size. */
	n = 0;
	while (n < sizeof(tmp)) {
		if ((r = read(fd, tmp + n, sizeof(tmp) - n)) == -1) {
			if (errno == EINTR)
				continue;
			log_err("master key %s: read: %s", path, strerror(errno));
			goto err1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n != MASTERKEY_LEN) {
		log_err("master key %s: not %d bytes", path, MASTERKEY_LEN);
		goto err1;
	}
	close(fd);
	memcpy(out, tmp, MASTERKEY_LEN);
	secret_wipe(tmp, sizeof(tmp));
	return (0);

err2:
	if (created)
		unlink(path);
err1:
	close(fd);
err0:
	secret_wipe(tmp, sizeof(tmp));
	return (-1);
}

/* cjose_free_wipe(s): wipe and release the NUL-terminated ${s}, allocated by cjose. */
static void
cjose_free_wipe(char *s)
{
	if (s == NULL)
		return;
	secret_wipe(s, strlen(s));
	cjose_get_dealloc()(s);
}

static void
key_clear(struct kr_key *k)
{
	free(k->kid);
	jwt_signer_free(k->signer);
	cjose_jwk_release(k->pub);
	json_decref(k->jwk);
	memset(k, 0, sizeof(*k));
}

static void
set_clear(struct kr_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		key_clear(&s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* public_of(priv, kid, jwkp, pubp, thumb): from the private key ${priv},
 * build the public JWK document (kty, crv, x, y, kid, use, alg) in ${jwkp},
 * a public-only cjose key in ${pubp}, and its RFC 7638 thumbprint (SHA-256
 * of {"crv","kty","x","y"} in that order, base64url) in ${thumb}.  ${kid}
 * may be NULL to leave "kid" to the caller.  Returns 0 or -1. */
static int
public_of(cjose_jwk_t *priv, const char *kid, json_t **jwkp, cjose_jwk_t **pubp,
    char thumb[SECRET_DIGEST_LEN + 1])
{
	cjose_err err;
	char *text, *input, *pubtext;
	json_t *j, *doc;
	const char *x, *y;

	if ((text = cjose_jwk_to_json(priv, false, &err)) == NULL)
		goto err0;
	j = json_loads(text, 0, NULL);
	cjose_get_dealloc()(text);
	if (j == NULL)
		goto err0;
	x = json_string_value(json_object_get(j, "x"));
	y = json_string_value(json_object_get(j, "y"));
	if (x == NULL || y == NULL || strlen(x) != COORD_LEN || strlen(y) != COORD_LEN)
		goto err1;
	/* The members of a thumbprint input are fixed, sorted, unescaped. */
	if (asprintf(&input, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y) == -1)
		goto err1;
	secret_digest(input, strlen(input), thumb);
	free(input);
	if ((doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y,
		 "kid", kid != NULL ? kid : thumb, "use", "sig", "alg", "ES256")) == NULL)
		goto err1;
	if ((pubtext = json_dumps(doc, JSON_COMPACT)) == NULL)
		goto err2;
	*pubp = cjose_jwk_import(pubtext, strlen(pubtext), &err);
	free(pubtext);
	if (*pubp == NULL)
		goto err2;
	json_decref(j);
	*jwkp = doc;
	return (0);

err2:
	json_decref(doc);
err1:
	json_decref(j);
err0:
	return (-1);
}

/* same_public(a, b): 1 if the JWK texts/objects agree on kty, crv, x, y. */
static int
same_public(json_t *a, json_t *b)
{
	static const char *const m[] = {"kty", "crv", "x", "y"};
	const char *sa, *sb;
	size_t i;

	for (i = 0; i < 4; i++) {
		sa = json_string_value(json_object_get(a, m[i]));
		sb = json_string_value(json_object_get(b, m[i]));
		if (sa == NULL || sb == NULL || strcmp(sa, sb) != 0)
			return (0);
	}
	return (1);
}

/* Context of one load from the store. */
struct load_ctx {
	struct keyring *kr;
	struct kr_set set;
	int64_t now;
	int failed;
};

/* unseal(kr, sk, out): decrypt and import the private key of the row ${sk}.
 * Returns 0 or -1 (logged by the caller). */
static int
unseal(struct keyring *kr, const struct store_key *sk, cjose_jwk_t **out)
{
	unsigned char sealed[SEALED_MAX], *pt;
	size_t n;
	cjose_err err;

	if (sk->private_enc == NULL ||
	    b64url_decode(sk->private_enc, strlen(sk->private_enc), sealed, sizeof(sealed), &n) ||
	    n <= AEAD_OVERHEAD)
		return (-1);
	if ((pt = malloc(n - AEAD_OVERHEAD)) == NULL)
		return (-1);
	/* The kid is the associated data: a sealed key moved to another row
	 * does not open. */
	if (aead_open(kr->master, sk->kid, strlen(sk->kid), sealed, n, pt)) {
		free(pt);
		return (-1);
	}
	*out = cjose_jwk_import((const char *)pt, n - AEAD_OVERHEAD, &err);
	secret_wipe(pt, n - AEAD_OVERHEAD);
	free(pt);
	if (*out == NULL)
		return (-1);
	if (cjose_jwk_get_kty(*out, &err) != CJOSE_JWK_KTY_EC ||
	    cjose_jwk_EC_get_curve(*out, &err) != CJOSE_JWK_EC_P_256) {
		cjose_jwk_release(*out);
		*out = NULL;
		return (-1);
	}
	return (0);
}

/* load_one(arg, sk): key_list callback; adds the row to the set being
 * loaded unless it is retired and no longer published. */
static void
load_one(void *arg, const struct store_key *sk)
{
	struct load_ctx *lc = arg;
	struct kr_key k, *nv;
	char thumb[SECRET_DIGEST_LEN + 1];
	cjose_jwk_t *priv = NULL;
	json_t *stored;

	if (lc->failed)
		return;
	memset(&k, 0, sizeof(k));
	if (sk->kid == NULL || strlen(sk->kid) > STORE_ID_MAX || sk->alg == NULL ||
	    strcmp(sk->alg, "ES256") != 0) {
		log_err("keyring: key %s: unsupported", sk->kid != NULL ? sk->kid : "(null)");
		goto fail;
	}
	if (sk->retired_at != 0 && sk->publish_until <= lc->now)
		return;
	if (unseal(lc->kr, sk, &priv)) {
		log_err("keyring: key %s does not decrypt (wrong master key?)", sk->kid);
		goto fail;
	}
	/* Bind the stored public key and the kid to the authenticated
	 * private key. */
	if (public_of(priv, sk->kid, &k.jwk, &k.pub, thumb)) {
		log_err("keyring: key %s: cannot derive the public key", sk->kid);
		goto fail;
	}
	stored = sk->public_jwk != NULL && strlen(sk->public_jwk) <= PUBLIC_MAX ?
	    json_loads(sk->public_jwk, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!same_public(stored, k.jwk) || strcmp(thumb, sk->kid) != 0) {
		json_decref(stored);
		log_err("keyring: key %s: public key or kid does not match the private key", sk->kid);
		goto fail;
	}
	json_decref(stored);
	/* Retired keys only verify: they get no signer. */
	if (sk->retired_at == 0 && (k.signer = jwt_signer_new(priv, sk->kid)) == NULL) {
		log_err("keyring: key %s: cannot prepare it for signing", sk->kid);
		goto fail;
	}
	cjose_jwk_release(priv);
	priv = NULL;
	if ((k.kid = strdup(sk->kid)) == NULL)
		goto fail;
	k.created_at = sk->created_at;
	k.retired_at = sk->retired_at;
	k.publish_until = sk->publish_until;
	if (lc->set.n == lc->set.cap) {
		if (lc->set.cap >= 1024 ||
		    (nv = reallocarray(lc->set.v, lc->set.cap ? lc->set.cap * 2 : 4, sizeof(*nv))) == NULL)
			goto fail;
		lc->set.v = nv;
		lc->set.cap = lc->set.cap ? lc->set.cap * 2 : 4;
	}
	lc->set.v[lc->set.n++] = k;
	return;

fail:
	cjose_jwk_release(priv);
	key_clear(&k);
	lc->failed = 1;
}

/* reload(kr, now): replace the loaded keys by the store's.  On failure the
 * old set stays.  Returns 0 or -1 (logged).  Caller holds ${reload_lock}. */
static int
reload(struct keyring *kr, int64_t now)
{
	struct load_ctx lc;
	struct kr_set old;

	memset(&lc, 0, sizeof(lc));
	lc.kr = kr;
	lc.now = now;
	if (kr->st->ops->key_list(kr->st, load_one, &lc) != 0 || lc.failed) {
		set_clear(&lc.set);
		return (-1);
	}
	pthread_rwlock_wrlock(&kr->lock);
	old = kr->set;
	kr->set = lc.set;
	pthread_rwlock_unlock(&kr->lock);
	set_clear(&old);
	kr->loaded_at = now;
	return (0);
}

/* maybe_reload(kr, now): reload if the last load is KEYRING_RELOAD_S old
 * (or the clock moved back as far).  If another thread is reloading, its
 * result will do: do not wait for it. */
static void
maybe_reload(struct keyring *kr, int64_t now)
{
	if (pthread_mutex_trylock(&kr->reload_lock) != 0)
		return;
	if (now - kr->loaded_at >= KEYRING_RELOAD_S || kr->loaded_at - now >= KEYRING_RELOAD_S) {
		if (reload(kr, now))
			kr->loaded_at = now; /* retry only after another period */
	}
	pthread_mutex_unlock(&kr->reload_lock);
}

/* current(set): the key that signs: the newest one not retired; ties go to
 * the store's order (newest first). */
static struct kr_key *
current(struct kr_set *s)
{
	struct kr_key *best = NULL;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->v[i].retired_at != 0 || s->v[i].signer == NULL)
			continue;
		if (best == NULL || s->v[i].created_at > best->created_at)
			best = &s->v[i];
	}
	return (best);
}

static int
published(const struct kr_key *k, int64_t now)
{
	return (k->retired_at == 0 || k->publish_until > now);
}

/* create_key(kr, now, kid_out): generate a key, seal it and add it to the
 * store.  Returns 0 or -1 (logged). */
static int
create_key(struct keyring *kr, int64_t now, char kid_out[SECRET_DIGEST_LEN + 1])
{
	struct store_key sk;
	cjose_jwk_t *priv, *pub;
	cjose_err err;
	json_t *doc;
	char *privtext, *pubtext, *enc;
	unsigned char *sealed;
	size_t n;
	int rc;

	if ((priv = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err)) == NULL) {
		log_err("keyring: cannot generate a key");
		goto err0;
	}
	if (public_of(priv, NULL, &doc, &pub, kid_out))
		goto err1;
	if ((pubtext = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto err2;
	if ((privtext = cjose_jwk_to_json(priv, true, &err)) == NULL)
		goto err3;
	n = strlen(privtext);
	if (n + AEAD_OVERHEAD > SEALED_MAX || (sealed = malloc(n + AEAD_OVERHEAD)) == NULL)
		goto err4;
	if (aead_seal(kr->master, kid_out, strlen(kid_out), privtext, n, sealed))
		goto err5;
	if ((enc = malloc(B64URL_LEN(n + AEAD_OVERHEAD) + 1)) == NULL)
		goto err5;
	b64url_encode(sealed, n + AEAD_OVERHEAD, enc);

	memset(&sk, 0, sizeof(sk));
	sk.kid = kid_out;
	sk.alg = "ES256";
	sk.public_jwk = pubtext;
	sk.private_enc = enc;
	sk.created_at = now;
	if ((rc = kr->st->ops->key_add(kr->st, &sk)) != 0) {
		log_err("keyring: cannot store key %s (%d)", kid_out, rc);
		goto err6;
	}
	log_info("keyring: created signing key %s", kid_out);
	free(enc);
	free(sealed);
	cjose_free_wipe(privtext);
	free(pubtext);
	json_decref(doc);
	cjose_jwk_release(pub);
	cjose_jwk_release(priv);
	return (0);

err6:
	free(enc);
err5:
	free(sealed);
err4:
	cjose_free_wipe(privtext);
err3:
	free(pubtext);
err2:
	json_decref(doc);
	cjose_jwk_release(pub);
err1:
	cjose_jwk_release(priv);
err0:
	return (-1);
}

/* has_current(kr): 1 if a signing key is loaded. */
static int
has_current(struct keyring *kr)
{
	int rc;

	pthread_rwlock_rdlock(&kr->lock);
	rc = current(&kr->set) != NULL;
	pthread_rwlock_unlock(&kr->lock);
	return (rc);
}

/* keyring_open(st, master, now): load the keys from ${st}; create a first
 * current key if there is none.  Copies ${master}.  NULL on failure (a key
 * that does not decrypt under ${master} is a failure: wrong master key). */
struct keyring *
keyring_open(struct store *st, const unsigned char master[MASTERKEY_LEN], int64_t now)
{
	struct keyring *kr;
	char kid[SECRET_DIGEST_LEN + 1];

	if ((kr = calloc(1, sizeof(*kr))) == NULL)
		goto err0;
	kr->st = st;
	memcpy(kr->master, master, MASTERKEY_LEN);
	if (pthread_rwlock_init(&kr->lock, NULL))
		goto err1;
	if (pthread_mutex_init(&kr->reload_lock, NULL))
		goto err2;
	if (reload(kr, now))
		goto err3;
	if (!has_current(kr)) {
		if (create_key(kr, now, kid) || reload(kr, now))
			goto err3;
		if (!has_current(kr)) {
			log_err("keyring: the new key did not load");
			goto err3;
		}
	}
	return (kr);

err3:
	set_clear(&kr->set);
	pthread_mutex_destroy(&kr->reload_lock);
err2:
	pthread_rwlock_destroy(&kr->lock);
err1:
	secret_wipe(kr->master, sizeof(kr->master));
	free(kr);
err0:
	return (NULL);
}

/* keyring_free(kr): wipe and free; NULL does nothing. */
void
keyring_free(struct keyring *kr)
{
	if (kr == NULL)
		return;
	set_clear(&kr->set);
	pthread_mutex_destroy(&kr->reload_lock);
	pthread_rwlock_destroy(&kr->lock);
	secret_wipe(kr->master, sizeof(kr->master));
	free(kr);
}

/* Context of the key_list walk in keyring_rotate(). */
struct retire_ctx {
	const char *keep;
	char (*kids)[STORE_ID_MAX + 1];
	size_t n;
	size_t cap;
	int failed;
};

static void
collect_live(void *arg, const struct store_key *sk)
{
	struct retire_ctx *rc = arg;
	char(*nv)[STORE_ID_MAX + 1];

	if (rc->failed || sk->retired_at != 0 || sk->kid == NULL || strcmp(sk->kid, rc->keep) == 0)
		return;
	if (strlen(sk->kid) > STORE_ID_MAX) {
		rc->failed = 1;
		return;
	}
	if (rc->n == rc->cap) {
		if (rc->cap >= 1024 ||
		    (nv = reallocarray(rc->kids, rc->cap ? rc->cap * 2 : 4, sizeof(*nv))) == NULL) {
			rc->failed = 1;
			return;
		}
		rc->kids = nv;
		rc->cap = rc->cap ? rc->cap * 2 : 4;
	}
	memcpy(rc->kids[rc->n++], sk->kid, strlen(sk->kid) + 1);
}

/* keyring_rotate(kr, now, publish_for, kid_out): make a new current key; the
 * old current key is retired and stays published until ${now} +
 * ${publish_for} seconds (the longest access-token lifetime).  Copies the new
 * kid into ${kid_out} (at least 64 bytes) if not NULL.  Returns 0 or -1.
 *
 * The new key is stored before the old one is retired, so other processes
 * always find a current key; every other key still current in the store
 * (not only the one this process knew) is retired. */
int
keyring_rotate(struct keyring *kr, int64_t now, int64_t publish_for, char *kid_out)
{
	struct retire_ctx rc;
	char kid[SECRET_DIGEST_LEN + 1];
	size_t i;
	int ret = -1;

	if (publish_for < 0)
		return (-1);
	pthread_mutex_lock(&kr->reload_lock);
	if (create_key(kr, now, kid))
		goto out;
	memset(&rc, 0, sizeof(rc));
	rc.keep = kid;
	if (kr->st->ops->key_list(kr->st, collect_live, &rc) != 0 || rc.failed) {
		log_err("keyring: cannot list keys to retire");
		goto out1;
	}
	for (i = 0; i < rc.n; i++) {
		if (kr->st->ops->key_retire(kr->st, rc.kids[i], now, now + publish_for) < 0) {
			log_err("keyring: cannot retire key %s", rc.kids[i]);
			goto out1;
		}
		log_info("keyring: retired key %s, published until %lld", rc.kids[i],
		    (long long)(now + publish_for));
	}
	if (reload(kr, now))
		goto out1;
	if (kid_out != NULL)
		memcpy(kid_out, kid, sizeof(kid));
	ret = 0;
out1:
	free(rc.kids);
out:
	pthread_mutex_unlock(&kr->reload_lock);
	return (ret);
}

/* sign_with(kr, claims, payload, plen, out): sign ${claims}, or if it is
 * NULL the text ${payload}, with the current key.  Returns 0 or -1. */
static int
sign_with(struct keyring *kr, json_t *claims, const char *payload, size_t plen, char **out)
{
	struct kr_key *k;
	int rc = -1;

	maybe_reload(kr, clock_now());
	pthread_rwlock_rdlock(&kr->lock);
	if ((k = current(&kr->set)) != NULL)
		rc = claims != NULL ? jwt_signer_sign(k->signer, claims, out) :
				      jwt_signer_sign_text(k->signer, payload, plen, out);
	pthread_rwlock_unlock(&kr->lock);
	if (k == NULL)
		log_err("keyring: no current signing key");
	return (rc);
}

/* keyring_sign(kr, claims, out): sign ${claims} as an at+jwt with the
 * current key; malloc'd token in ${out}.  Returns 0 or -1. */
int
keyring_sign(struct keyring *kr, json_t *claims, char **out)
{
	if (claims == NULL)
		return (-1);
	return (sign_with(kr, claims, NULL, 0, out));
}

/* keyring_sign_text(kr, payload, plen, out): the same for claims given as
 * JSON text. */
int
keyring_sign_text(struct keyring *kr, const char *payload, size_t plen, char **out)
{
	if (payload == NULL)
		return (-1);
	return (sign_with(kr, NULL, payload, plen, out));
}

/* Context of a verification: which keys count, and whether a kid was
 * missed (so that the caller may reload and retry). */
struct verify_ctx {
	struct keyring *kr;
	int64_t now;
	int miss;
};

/* lookup(arg, kid): the published key ${kid}; caller holds the read lock. */
static cjose_jwk_t *
lookup(void *arg, const char *kid)
{
	struct verify_ctx *vc = arg;
	struct kr_set *s = &vc->kr->set;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->v[i].kid, kid) == 0 && published(&s->v[i], vc->now))
			return (s->v[i].pub);
	}
	vc->miss = 1;
	return (NULL);
}

/* keyring_verify(kr, tok, len, now, claims, why): verify the signature of
 * ${tok} against the published keys (ES256 pinned, see jwt_verify); claims
 * are not checked here.  0 with ${claims} set, or -1 with ${why}.
 *
 * An unknown kid may be a key another process just created: reload and
 * retry, at most once per second so that forged kids cannot turn into a
 * flood of store reads. */
int
keyring_verify(struct keyring *kr, const char *tok, size_t len, int64_t now, json_t **claims,
    const char **why)
{
	struct verify_ctx vc;
	int rc, again = 0;

	maybe_reload(kr, now);
	vc.kr = kr;
	vc.now = now;
	vc.miss = 0;
	pthread_rwlock_rdlock(&kr->lock);
	rc = jwt_verify(tok, len, "ES256", lookup, &vc, claims, why);
	pthread_rwlock_unlock(&kr->lock);
	if (rc == 0 || !vc.miss)
		return (rc);

	pthread_mutex_lock(&kr->reload_lock);
	if (!kr->miss_done || now - kr->miss_at >= 1 || now < kr->miss_at) {
		kr->miss_done = 1;
		kr->miss_at = now;
		again = reload(kr, now) == 0;
	}
	pthread_mutex_unlock(&kr->reload_lock);
	if (!again)
		return (rc);
	vc.miss = 0;
	pthread_rwlock_rdlock(&kr->lock);
	rc = jwt_verify(tok, len, "ES256", lookup, &vc, claims, why);
	pthread_rwlock_unlock(&kr->lock);
	return (rc);
}

/* keyring_jwks(kr, now): the JWKS document {"keys":[...]} of every key
 * published at ${now} (public parts only; each with kid, use "sig", alg).
 * NULL on ENOMEM. */
json_t *
keyring_jwks(struct keyring *kr, int64_t now)
{
	json_t *doc, *keys;
	size_t i;

	maybe_reload(kr, now);
	if ((keys = json_array()) == NULL)
		return (NULL);
	pthread_rwlock_rdlock(&kr->lock);
	for (i = 0; i < kr->set.n; i++) {
		if (!published(&kr->set.v[i], now))
			continue;
		if (json_array_append_new(keys, json_deep_copy(kr->set.v[i].jwk))) {
			pthread_rwlock_unlock(&kr->lock);
			json_decref(keys);
			return (NULL);
		}
	}
	pthread_rwlock_unlock(&kr->lock);
	if ((doc = json_pack("{s:o}", "keys", keys)) == NULL)
		return (NULL);
	return (doc);
}
