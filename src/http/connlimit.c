#include "http/connlimit.h"

#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/log.h"
#include "core/secret.h"

struct connlimit_entry {
	unsigned char key[CONNLIMIT_KEY_LEN];
	unsigned n; /* connections counted */
	struct connlimit_entry *next;
};

struct connlimit {
	pthread_mutex_t mu;
	unsigned limit;
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	time_t logged;          /* last refusal logged */
	unsigned long unlogged; /* refusals since */
	struct connlimit_entry *b[CONNLIMIT_BUCKETS];
};

/*
 * connlimit_new(limit): see connlimit.h.
 */
struct connlimit *
connlimit_new(unsigned limit)
{
	struct connlimit *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return (NULL);
	if (secret_random(cl->hkey, sizeof(cl->hkey)) != 0 || pthread_mutex_init(&cl->mu, NULL) != 0) {
		free(cl);
		return (NULL);
	}
	cl->limit = limit;
	return (cl);
}

/*
 * connlimit_free(cl): see connlimit.h.
 */
void
connlimit_free(struct connlimit *cl)
{
	struct connlimit_entry *e, *next;
	size_t i;

	if (cl == NULL)
		return;
	for (i = 0; i < CONNLIMIT_BUCKETS; i++)
		for (e = cl->b[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	pthread_mutex_destroy(&cl->mu);
	secret_wipe(cl->hkey, sizeof(cl->hkey));
	free(cl);
}

/*
 * connlimit_key(sa, len, key): see connlimit.h.
 */
int
connlimit_key(const struct sockaddr *sa, socklen_t len, unsigned char key[CONNLIMIT_KEY_LEN])
{
	const struct sockaddr_in6 *s6;
	const struct sockaddr_in *s4;

	if (sa == NULL)
		return (-1);
	memset(key, 0, CONNLIMIT_KEY_LEN);
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(*s4)) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &s4->sin_addr, 4);
		return (0);
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(*s6)) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			memcpy(key, &s6->sin6_addr, 16);
		else
			memcpy(key, &s6->sin6_addr, 8);
		return (0);
	}
	return (-1);
}

static size_t
bucket(const struct connlimit *cl, const unsigned char key[CONNLIMIT_KEY_LEN])
{
	unsigned char h[crypto_shorthash_BYTES];

	crypto_shorthash(h, key, CONNLIMIT_KEY_LEN, cl->hkey);
	return (((size_t)h[0] << 8 | h[1]) % CONNLIMIT_BUCKETS);
}

/* The entry of ${key} in bucket ${i}, or NULL.  Called with the lock. */
static struct connlimit_entry *
lookup(struct connlimit *cl, size_t i, const unsigned char key[CONNLIMIT_KEY_LEN])
{
	struct connlimit_entry *e;

	for (e = cl->b[i]; e != NULL; e = e->next)
		if (memcmp(e->key, key, CONNLIMIT_KEY_LEN) == 0)
			return (e);
	return (NULL);
}

/* The key as text: "192.0.2.1" or "2001:db8::/64". */
static void
key_text(const unsigned char key[CONNLIMIT_KEY_LEN], char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)key)) {
		inet_ntop(AF_INET, key + 12, out, (socklen_t)cap);
		return;
	}
	inet_ntop(AF_INET6, key, a, sizeof(a));
	snprintf(out, cap, "%s/64", a);
}

/*
 * connlimit_allows(cl, sa, len): see connlimit.h.
 */
int
connlimit_allows(struct connlimit *cl, const struct sockaddr *sa, socklen_t len)
{
	unsigned char key[CONNLIMIT_KEY_LEN];
	struct connlimit_entry *e;
	char text[INET6_ADDRSTRLEN + 4];
	unsigned long quiet = 0;
	time_t now;
	int ok, say = 0;

	if (connlimit_key(sa, len, key) != 0)
		return (1);
	pthread_mutex_lock(&cl->mu);
	e = lookup(cl, bucket(cl, key), key);
	ok = e == NULL || e->n < cl->limit;
	if (!ok) {
		now = time(NULL);
		if (now - cl->logged >= CONNLIMIT_LOG_INTERVAL_S) {
			say = 1;
			quiet = cl->unlogged;
			cl->logged = now;
			cl->unlogged = 0;
		} else {
			cl->unlogged++;
		}
	}
	pthread_mutex_unlock(&cl->mu);
	if (say) {
		key_text(key, text, sizeof(text));
		log_warn("http: connection from %s refused: it holds %u, the per-address limit "
		         "(listen.per_ip_connections); %lu more refusals not logged",
		    text, cl->limit, quiet);
	}
	return (ok);
}

/*
 * connlimit_add(cl, sa, len): see connlimit.h.
 */
struct connlimit_entry *
connlimit_add(struct connlimit *cl, const struct sockaddr *sa, socklen_t len)
{
	unsigned char key[CONNLIMIT_KEY_LEN];
	struct connlimit_entry *e;
	size_t i;

	if (connlimit_key(sa, len, key) != 0)
		return (NULL);
	i = bucket(cl, key);
	pthread_mutex_lock(&cl->mu);
	if ((e = lookup(cl, i, key)) == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			pthread_mutex_unlock(&cl->mu);
			return (NULL);
		}
		memcpy(e->key, key, CONNLIMIT_KEY_LEN);
		e->next = cl->b[i];
		cl->b[i] = e;
	}
	e->n++;
	pthread_mutex_unlock(&cl->mu);
	return (e);
}

/*
 * connlimit_del(cl, e): see connlimit.h.
 */
void
connlimit_del(struct connlimit *cl, struct connlimit_entry *e)
{
	struct connlimit_entry **pp;

	if (e == NULL)
		return;
	pthread_mutex_lock(&cl->mu);
	if (--e->n == 0) {
		for (pp = &cl->b[bucket(cl, e->key)]; *pp != NULL; pp = &(*pp)->next)
			if (*pp == e) {
				*pp = e->next;
				break;
			}
		free(e);
	}
	pthread_mutex_unlock(&cl->mu);
}

/*
 * connlimit_count(cl, sa, len): see connlimit.h.
 */
unsigned
connlimit_count(struct connlimit *cl, const struct sockaddr *sa, socklen_t len)
{
	unsigned char key[CONNLIMIT_KEY_LEN];
	struct connlimit_entry *e;
	unsigned n;

	if (connlimit_key(sa, len, key) != 0)
		return (0);
	pthread_mutex_lock(&cl->mu);
	e = lookup(cl, bucket(cl, key), key);
	n = e != NULL ? e->n : 0;
	pthread_mutex_unlock(&cl->mu);
	return (n);
}
