/*
 * Failed-login throttle and per-address rate limiter: at most max events
 * (failed sign-ins, or requests) per key (an account name, or a client
 * address) in a window that starts at the key's first event.  In memory, in a fixed
 * table: an attacker who floods it with keys only evicts the oldest entries,
 * never grows memory.  A multi-node deployment throttles per node.
 *
 * Eviction must not be a way around the limit: keys are placed by a hash
 * keyed with a per-process secret (so nobody can pick names that land next
 * to a victim account's entry), and an entry that is blocking is evicted
 * only when every entry it competes with is blocking too.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/secret.h"
#include "oauth/internal.h"

#define SLOTS 4096
#define WAYS 8 /* entries probed per key */

struct entry {
	unsigned char key[16]; /* truncated SHA-256 of the key */
	int64_t first;	       /* start of the window */
	unsigned count;
	int used;
};

struct throttle {
	pthread_mutex_t mu;
	unsigned char hkey[32]; /* keys the slot hash */
	unsigned max;
	int64_t window;
	struct entry e[SLOTS];
};

struct throttle *
throttle_new(unsigned max_failures, int64_t window)
{
	struct throttle *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	if (secret_random(t->hkey, sizeof(t->hkey))) {
		free(t);
		return (NULL);
	}
	pthread_mutex_init(&t->mu, NULL);
	t->max = max_failures;
	t->window = window;
	return (t);
}

void
throttle_free(struct throttle *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->mu);
	secret_wipe(t->hkey, sizeof(t->hkey));
	free(t);
}

static void
hash(const struct throttle *t, const char *key, unsigned char out[16], size_t *slot)
{
	unsigned char d[32];
	unsigned int dl = sizeof(d);

	HMAC(EVP_sha256(), t->hkey, sizeof(t->hkey), (const unsigned char *)key, strlen(key), d, &dl);
	memcpy(out, d, 16);
	*slot = ((size_t)d[16] << 8 | d[17]) % SLOTS;
}

/* Find the entry of ${key}, or NULL; with ${create}, take a free or expired
 * slot, or the one with the oldest window. */
static struct entry *
find(struct throttle *t, const char *key, int64_t now, int create)
{
	unsigned char k[16];
	struct entry *e, *free_slot = NULL, *oldest = NULL, *oldest_blocking = NULL;
	size_t s, i;

	hash(t, key, k, &s);
	for (i = 0; i < WAYS; i++) {
		e = &t->e[(s + i) % SLOTS];
		if (e->used && memcmp(e->key, k, 16) == 0) {
			if (now - e->first >= t->window) {
				e->first = now;
				e->count = 0;
			}
			return (e);
		}
		if (!e->used || now - e->first >= t->window) {
			if (free_slot == NULL)
				free_slot = e;
		} else if (e->count >= t->max) {
			if (oldest_blocking == NULL || e->first < oldest_blocking->first)
				oldest_blocking = e;
		} else if (oldest == NULL || e->first < oldest->first) {
			oldest = e;
		}
	}
	if (!create)
		return (NULL);
	e = free_slot != NULL ? free_slot : oldest != NULL ? oldest : oldest_blocking;
	memcpy(e->key, k, 16);
	e->first = now;
	e->count = 0;
	e->used = 1;
	return (e);
}

int
throttle_blocked(struct throttle *t, const char *key, int64_t now)
{
	struct entry *e;
	int blocked;

	pthread_mutex_lock(&t->mu);
	e = find(t, key, now, 0);
	blocked = e != NULL && e->count >= t->max;
	pthread_mutex_unlock(&t->mu);
	return (blocked);
}

void
throttle_fail(struct throttle *t, const char *key, int64_t now)
{
	struct entry *e;

	pthread_mutex_lock(&t->mu);
	e = find(t, key, now, 1);
	if (e->count < UINT32_MAX)
		e->count++;
	pthread_mutex_unlock(&t->mu);
}

int
throttle_take(struct throttle *t, const char *k1, const char *k2, int64_t now)
{
	struct entry *a, *b;
	int ok = 0;

	pthread_mutex_lock(&t->mu);
	a = find(t, k1, now, 0);
	b = find(t, k2, now, 0);
	if ((a == NULL || a->count < t->max) && (b == NULL || b->count < t->max)) {
		/* Count the attempt now, before the slow verification, so
		 * that concurrent guesses cannot all pass one check. */
		if ((a = find(t, k1, now, 1))->count < UINT32_MAX)
			a->count++;
		if ((b = find(t, k2, now, 1))->count < UINT32_MAX)
			b->count++;
		ok = 1;
	}
	pthread_mutex_unlock(&t->mu);
	return (ok);
}

void
throttle_forgive(struct throttle *t, const char *key)
{
	struct entry *e;

	pthread_mutex_lock(&t->mu);
	if ((e = find(t, key, INT64_MIN / 2, 0)) != NULL && e->count > 0)
		e->count--;
	pthread_mutex_unlock(&t->mu);
}

void
throttle_reset(struct throttle *t, const char *key)
{
	struct entry *e;

	pthread_mutex_lock(&t->mu);
	if ((e = find(t, key, INT64_MIN / 2, 0)) != NULL)
		e->used = 0;
	pthread_mutex_unlock(&t->mu);
}

int
throttle_hit(struct throttle *t, const char *key, int64_t now, int64_t *retry_after)
{
	struct entry *e;
	int ok;

	pthread_mutex_lock(&t->mu);
	e = find(t, key, now, 1);
	if ((ok = e->count < t->max) != 0)
		e->count++;
	else
		*retry_after = e->first + t->window - now;
	pthread_mutex_unlock(&t->mu);
	if (!ok && *retry_after < 1)
		*retry_after = 1;
	return (ok);
}

/*
 * throttle_addr_key(addr, out): the key of the client address ${addr} (text,
 * as in struct http_req): an IPv4 address as itself, an IPv4-mapped IPv6
 * address as its IPv4 address, any other IPv6 address as its /64 prefix
 * ("2001:db8:1:2::/64": one subscriber usually holds a whole /64), and text
 * that is not an address (e.g. "unknown") as itself, truncated.
 */
void
throttle_addr_key(const char *addr, char out[THROTTLE_ADDR_KEY_MAX])
{
	struct in6_addr a6;
	struct in_addr a4;
	char txt[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, addr, &a4) == 1) {
		inet_ntop(AF_INET, &a4, out, THROTTLE_ADDR_KEY_MAX);
	} else if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			inet_ntop(AF_INET, &a6.s6_addr[12], out, THROTTLE_ADDR_KEY_MAX);
			return;
		}
		memset(&a6.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a6, txt, sizeof(txt));
		snprintf(out, THROTTLE_ADDR_KEY_MAX, "%s/64", txt);
	} else {
		snprintf(out, THROTTLE_ADDR_KEY_MAX, "%s", addr);
	}
}
