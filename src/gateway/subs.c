/*
 * gateway/subs: the bookkeeping of resource subscriptions.  See subs.h.
 */
#include "gateway/subs.h"

#include <sys/types.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One reference a holder's set has on a key (the index of holders). */
struct holder {
	struct subs_set *set;
	struct holder *prev, *next;
};

struct key {
	void *u;
	char *subject; /* NULL: shared */
	char *uri;
	size_t len;		/* of uri */
	struct holder *holders;	/* the references given with a set */
	unsigned refs;
	uint64_t serial;
	unsigned inflight;	/* subscribes sent, not answered */
	int up;			/* accepted since the instance started */
	int maybe;		/* an outcome unknown since the instance started */
	struct key *next;
};

struct subs {
	struct key *buckets[SUBS_BUCKETS];
	size_t nkeys;
	size_t max;
	uint64_t serial;	/* the last key's */
	uint64_t visit;		/* the last subs_holders() walk's */
};

struct subs_set {
	struct subs_item *v;
	size_t n;
	size_t max;
	uint64_t stamp;		/* the last item's */
	struct subs_budget *budget; /* NULL: none */
	void *owner;		/* subs_set_owner() */
	int kind;
	uint64_t visit;		/* the last subs_holders() walk that met it */
};

static int
streq0(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

static char *
dup0(const char *s)
{
	return (s != NULL ? strdup(s) : NULL);
}

/* The hash of the instance (${u}, ${subject}), to be continued with the
 * URI's bytes (hash_byte()), so that every prefix of a URI has its hash on
 * the way (subs_holders()). */
static uint64_t
hash_instance(void *u, const char *subject)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)u;
	const char *p;

	for (p = subject; p != NULL && *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return ((h ^ 0xff) * 1099511628211ULL);
}

static uint64_t
hash_byte(uint64_t h, unsigned char c)
{
	return ((h ^ c) * 1099511628211ULL);
}

static size_t
hash(void *u, const char *subject, const char *uri)
{
	uint64_t h = hash_instance(u, subject);
	const char *p;

	for (p = uri; *p; p++)
		h = hash_byte(h, (unsigned char)*p);
	return ((size_t)(h % SUBS_BUCKETS));
}

static struct key **
find(struct subs *t, void *u, const char *subject, const char *uri)
{
	struct key **pp;

	for (pp = &t->buckets[hash(u, subject, uri)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->u == u && streq0((*pp)->subject, subject) && strcmp((*pp)->uri, uri) == 0)
			break;
	return (pp);
}

static void
key_free(struct key *k)
{
	struct holder *h, *next;

	for (h = k->holders; h != NULL; h = next) {
		next = h->next;
		free(h);
	}
	free(k->subject);
	free(k->uri);
	free(k);
}

/*
 * subs_new(keys_max): an empty table.
 */
struct subs *
subs_new(size_t keys_max)
{
	struct subs *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	t->max = keys_max > 0 ? keys_max : SUBS_KEYS_MAX;
	return (t);
}

/*
 * subs_free(t): free ${t}.
 */
void
subs_free(struct subs *t)
{
	struct key *k, *next;
	size_t b;

	if (t == NULL)
		return;
	for (b = 0; b < SUBS_BUCKETS; b++)
		for (k = t->buckets[b]; k != NULL; k = next) {
			next = k->next;
			key_free(k);
		}
	free(t);
}

/*
 * subs_ref(t, u, subject, uri): add a reference; 1 if the key is new.
 */
int
subs_ref(struct subs *t, void *u, const char *subject, const char *uri, struct subs_set *holder)
{
	struct key **pp = find(t, u, subject, uri), *k;
	struct holder *h = NULL;

	if (holder != NULL && (h = calloc(1, sizeof(*h))) == NULL)
		return (-1);
	if ((k = *pp) != NULL) {
		if (k->refs == UINT32_MAX) {
			free(h);
			return (-1);
		}
		k->refs++;
	} else {
		if (t->nkeys >= t->max || (k = calloc(1, sizeof(*k))) == NULL) {
			free(h);
			return (-1);
		}
		k->u = u;
		k->refs = 1;
		k->serial = ++t->serial;
		if ((subject != NULL && (k->subject = strdup(subject)) == NULL) ||
		    (k->uri = strdup(uri)) == NULL) {
			key_free(k);
			free(h);
			return (-1);
		}
		k->len = strlen(uri);
		*pp = k;
		t->nkeys++;
	}
	if (h != NULL) {
		h->set = holder;
		h->next = k->holders;
		if (k->holders != NULL)
			k->holders->prev = h;
		k->holders = h;
	}
	return (k->refs == 1);
}

/*
 * subs_unref(t, u, subject, uri, holder): drop a reference; 1 if it was the
 * last.
 */
int
subs_unref(struct subs *t, void *u, const char *subject, const char *uri, struct subs_set *holder)
{
	struct key **pp = find(t, u, subject, uri), *k = *pp;
	struct holder *h;

	if (k == NULL)
		return (-1);
	for (h = k->holders; holder != NULL && h != NULL; h = h->next)
		if (h->set == holder) {
			if (h->prev != NULL)
				h->prev->next = h->next;
			else
				k->holders = h->next;
			if (h->next != NULL)
				h->next->prev = h->prev;
			free(h);
			break;
		}
	if (--k->refs > 0)
		return (0);
	*pp = k->next;
	key_free(k);
	t->nkeys--;
	return (1);
}

/*
 * subs_refs(t, u, subject, uri): the references on a key.
 */
unsigned
subs_refs(const struct subs *t, void *u, const char *subject, const char *uri)
{
	struct key **pp = find((struct subs *)t, u, subject, uri);

	return (*pp != NULL ? (*pp)->refs : 0);
}

/*
 * subs_keys(t): how many keys.
 */
size_t
subs_keys(const struct subs *t)
{
	return (t->nkeys);
}

/*
 * subs_state(t, u, subject, uri, inflight): up (1), not up (0), no key (-1).
 */
int
subs_state(const struct subs *t, void *u, const char *subject, const char *uri, unsigned *inflight)
{
	struct key *k = *find((struct subs *)t, u, subject, uri);

	if (inflight != NULL)
		*inflight = k != NULL ? k->inflight : 0;
	return (k != NULL ? k->up : -1);
}

/*
 * subs_sending(t, u, subject, uri, always): count a subscribe in flight;
 * the key's serial, or 0.
 */
uint64_t
subs_sending(struct subs *t, void *u, const char *subject, const char *uri, int always)
{
	struct key *k = *find(t, u, subject, uri);

	if (k == NULL || k->inflight == UINT32_MAX || (!always && (k->up || k->inflight > 0)))
		return (0);
	k->inflight++;
	return (k->serial);
}

/*
 * subs_answered(t, u, subject, uri, serial, ok): the answer of a subscribe.
 */
int
subs_answered(struct subs *t, void *u, const char *subject, const char *uri, uint64_t serial, int ok)
{
	struct key *k = *find(t, u, subject, uri);

	if (k == NULL || k->serial != serial)
		return (-1);
	if (k->inflight > 0)
		k->inflight--;
	if (ok == SUBS_ACCEPTED)
		k->up = 1;
	else if (ok == SUBS_UNKNOWN)
		k->maybe = 1;
	return (0);
}

/*
 * subs_may_hold(t, u, subject, uri): up, in flight, or maybe held.
 */
int
subs_may_hold(const struct subs *t, void *u, const char *subject, const char *uri)
{
	struct key *k = *find((struct subs *)t, u, subject, uri);

	return (k != NULL && (k->up || k->inflight > 0 || k->maybe));
}

/*
 * subs_serial(t, u, subject, uri): the key's serial, or 0.
 */
uint64_t
subs_serial(const struct subs *t, void *u, const char *subject, const char *uri)
{
	struct key *k = *find((struct subs *)t, u, subject, uri);

	return (k != NULL ? k->serial : 0);
}

/*
 * subs_resend_free(v, n): free a list of subs_restarted().
 */
void
subs_resend_free(struct subs_resend *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i].uri);
	free(v);
}

/*
 * subs_restarted(t, u, subject, out, n): the instance forgot everything:
 * its keys go down, and those with nothing in flight are listed.
 */
int
subs_restarted(struct subs *t, void *u, const char *subject, struct subs_resend **out, size_t *n)
{
	struct subs_resend *v = NULL;
	struct key *k;
	size_t b, want = 0, i = 0;

	*n = 0;
	if (out == NULL) {
		for (b = 0; b < SUBS_BUCKETS; b++)
			for (k = t->buckets[b]; k != NULL; k = k->next)
				if (k->u == u && streq0(k->subject, subject))
					k->up = k->maybe = 0;
		return (0);
	}
	*out = NULL;
	/* Count, copy, and only then change anything: ENOMEM changes
	 * nothing. */
	for (b = 0; b < SUBS_BUCKETS; b++)
		for (k = t->buckets[b]; k != NULL; k = k->next)
			if (k->u == u && streq0(k->subject, subject) && k->inflight == 0)
				want++;
	if (want > 0 && (v = calloc(want, sizeof(*v))) == NULL)
		return (-1);
	for (b = 0; b < SUBS_BUCKETS && i < want; b++)
		for (k = t->buckets[b]; k != NULL && i < want; k = k->next)
			if (k->u == u && streq0(k->subject, subject) && k->inflight == 0) {
				if ((v[i].uri = strdup(k->uri)) == NULL) {
					subs_resend_free(v, i);
					return (-1);
				}
				v[i++].serial = k->serial;
			}
	for (b = 0; b < SUBS_BUCKETS; b++)
		for (k = t->buckets[b]; k != NULL; k = k->next)
			if (k->u == u && streq0(k->subject, subject)) {
				if (k->inflight == 0)
					k->inflight = 1;
				k->up = k->maybe = 0;
			}
	*out = v;
	*n = want;
	return (0);
}

/* The bytes an item holds, as its budget counts them. */
static size_t
item_cost(const char *uri, const char *subject, const char *orig)
{
	return (sizeof(struct subs_item) + strlen(uri) + 1 + strlen(orig) + 1 +
	    (subject != NULL ? strlen(subject) + 1 : 0));
}

static int
charge(struct subs_budget *b, size_t n)
{
	size_t max = b->max > 0 ? b->max : SUBS_BYTES_MAX;

	if (__atomic_add_fetch(&b->used, n, __ATOMIC_ACQ_REL) > max) {
		__atomic_sub_fetch(&b->used, n, __ATOMIC_ACQ_REL);
		return (-1);
	}
	return (0);
}

/* The item ${it} leaves ${s}. */
static void
uncharge(struct subs_set *s, const struct subs_item *it)
{
	if (s->budget != NULL)
		__atomic_sub_fetch(&s->budget->used, item_cost(it->uri, it->subject, it->orig),
		    __ATOMIC_ACQ_REL);
}

/*
 * subs_set_new(max): an empty set.
 */
struct subs_set *
subs_set_new(size_t max)
{
	struct subs_set *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	s->max = max > 0 ? max : SUBS_PER_HOLDER_MAX;
	return (s);
}

/*
 * subs_set_budget(s, b): count the items of ${s} against ${b}.
 */
void
subs_set_budget(struct subs_set *s, struct subs_budget *b)
{
	s->budget = b;
}

/*
 * subs_item_clear(it): free the strings of ${it}.
 */
void
subs_item_clear(struct subs_item *it)
{
	free(it->uri);
	free(it->subject);
	free(it->orig);
	memset(it, 0, sizeof(*it));
}

/*
 * subs_set_free(s): free ${s} and its items.
 */
void
subs_set_free(struct subs_set *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		uncharge(s, &s->v[i]);
		subs_item_clear(&s->v[i]);
	}
	free(s->v);
	free(s);
}

static ssize_t
index_of(const struct subs_set *s, const char *uri)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].uri, uri) == 0)
			return ((ssize_t)i);
	return (-1);
}

/*
 * subs_set_add(s, uri, u, subject, orig): add an item; 1 if present.
 */
int
subs_set_add(struct subs_set *s, const char *uri, void *u, const char *subject, const char *orig)
{
	struct subs_item it, *v;
	size_t cap, cost;

	if (index_of(s, uri) >= 0)
		return (1);
	if (s->n >= s->max || strlen(uri) > SUBS_URI_MAX || strlen(orig) > SUBS_URI_MAX ||
	    (subject != NULL && strlen(subject) > SUBS_URI_MAX)) {
		errno = ENOSPC;
		return (-1);
	}
	cost = item_cost(uri, subject, orig);
	if (s->budget != NULL && charge(s->budget, cost) != 0) {
		errno = EDQUOT;
		return (-1);
	}
	if (s->n % 8 == 0) {
		cap = s->n + 8;
		if ((v = realloc(s->v, cap * sizeof(*v))) == NULL)
			goto nomem;
		s->v = v;
	}
	memset(&it, 0, sizeof(it));
	it.u = u;
	it.stamp = s->stamp + 1;
	if ((it.uri = strdup(uri)) == NULL || (it.orig = strdup(orig)) == NULL ||
	    (subject != NULL && (it.subject = dup0(subject)) == NULL)) {
		subs_item_clear(&it);
		goto nomem;
	}
	s->v[s->n++] = it;
	s->stamp++;
	return (0);
nomem:
	if (s->budget != NULL)
		__atomic_sub_fetch(&s->budget->used, cost, __ATOMIC_ACQ_REL);
	errno = ENOMEM;
	return (-1);
}

/*
 * subs_set_stamp(s, uri): the stamp of the item of ${uri}, or 0.
 */
uint64_t
subs_set_stamp(const struct subs_set *s, const char *uri)
{
	ssize_t i;

	if (s == NULL || (i = index_of(s, uri)) < 0)
		return (0);
	return (s->v[i].stamp);
}

/*
 * subs_set_remove(s, uri, out): move the item of ${uri} into ${out}.
 */
int
subs_set_remove(struct subs_set *s, const char *uri, struct subs_item *out)
{
	ssize_t i;

	if (s == NULL || (i = index_of(s, uri)) < 0)
		return (-1);
	*out = s->v[i];
	uncharge(s, out);
	s->v[i] = s->v[--s->n];
	return (0);
}

/*
 * subs_set_count(s), subs_set_item(s, i): the items.
 */
size_t
subs_set_count(const struct subs_set *s)
{
	return (s != NULL ? s->n : 0);
}

const struct subs_item *
subs_set_item(const struct subs_set *s, size_t i)
{
	return (i < s->n ? &s->v[i] : NULL);
}

/*
 * subs_set_take(s, items, n): move up to ${n} items out of ${s}.
 */
size_t
subs_set_take(struct subs_set *s, struct subs_item *items, size_t n)
{
	size_t k = 0;

	while (s != NULL && s->n > 0 && k < n) {
		items[k] = s->v[s->n - 1];
		uncharge(s, &items[k++]);
		s->n--;
	}
	return (k);
}

/*
 * subs_uri_covers(sub, uri): equal, or a sub-resource after a '/'.
 */
int
subs_uri_covers(const char *sub, const char *uri)
{
	size_t n = strlen(sub);

	if (strncmp(sub, uri, n) != 0)
		return (0);
	if (uri[n] == '\0')
		return (1);
	return (n > 0 && (sub[n - 1] == '/' || uri[n] == '/'));
}

/*
 * subs_set_owner(s, owner, kind): what ${s} belongs to.
 */
void
subs_set_owner(struct subs_set *s, void *owner, int kind)
{
	s->owner = owner;
	s->kind = kind;
}

/* The key of the instance (${u}, ${subject}) whose URI is the first ${n}
 * bytes of ${uri}, hashed ${h}, or NULL. */
static struct key *
find_prefix(struct subs *t, void *u, const char *subject, const char *uri, size_t n, uint64_t h)
{
	struct key *k;

	for (k = t->buckets[h % SUBS_BUCKETS]; k != NULL; k = k->next)
		if (k->u == u && k->len == n && streq0(k->subject, subject) &&
		    memcmp(k->uri, uri, n) == 0)
			return (k);
	return (NULL);
}

/*
 * subs_holders(t, u, subject, uri, fn, arg): the holders whose keys cover
 * ${uri}, each once.
 */
size_t
subs_holders(struct subs *t, void *u, const char *subject, const char *uri,
    void (*fn)(void *arg, void *owner, int kind), void *arg)
{
	uint64_t h = hash_instance(u, subject);
	struct holder *hd;
	struct key *k;
	size_t n, len = strlen(uri), met = 0;

	t->visit++;
	/* The keys that cover ${uri} are its prefixes that end where a '/'
	 * begins or ends (subs_uri_covers()), and ${uri} itself. */
	for (n = 0; n <= len; n++) {
		if (n == len || (n > 0 && (uri[n] == '/' || uri[n - 1] == '/')))
			if ((k = find_prefix(t, u, subject, uri, n, h)) != NULL)
				for (hd = k->holders; hd != NULL; hd = hd->next)
					if (hd->set->visit != t->visit) {
						hd->set->visit = t->visit;
						met++;
						fn(arg, hd->set->owner, hd->set->kind);
					}
		if (n < len)
			h = hash_byte(h, (unsigned char)uri[n]);
	}
	return (met);
}

/*
 * subs_set_match(s, u, subject, orig): does an item cover ${orig}?
 */
int
subs_set_match(const struct subs_set *s, void *u, const char *subject, const char *orig)
{
	size_t i;

	for (i = 0; s != NULL && i < s->n; i++)
		if (s->v[i].u == u && streq0(s->v[i].subject, subject) &&
		    subs_uri_covers(s->v[i].orig, orig))
			return (1);
	return (0);
}
