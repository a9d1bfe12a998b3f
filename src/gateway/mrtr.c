/*
 * gateway/mrtr: the table of parked calls.  See mrtr.h and
 * docs/internals/gateway.md "Multi round-trip requests".
 *
 * The table is a list (at most MRTR_MAX_LIMIT entries, so a scan is cheap
 * next to the HTTP request that causes it) under one mutex, and a thread
 * that sleeps on a monotonic condition variable until the next deadline.
 */
#include "gateway/mrtr.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"

enum state { E_OPEN, E_DUE, E_PARKED };

struct entry {
	char handle[MRTR_HANDLE_LEN + 1];
	enum state state;
	int64_t deadline; /* due time (OPEN), expiry (DUE, PARKED) */
	char *sub, *client_id, *method, *name;
	char keys[MRTR_KEYS_MAX][MRTR_KEY_MAX];
	size_t nkeys;
	void *arg;
	struct entry *prev, *next;
};

struct mrtr {
	struct mrtr_params p;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	pthread_t thr;
	int stop;
	int joined; /* thr was joined (mrtr_stop()) */
	struct entry *head;
	size_t n;
};

static void
entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	free(e->sub);
	free(e->client_id);
	free(e->method);
	free(e->name);
	secret_wipe(e->handle, sizeof(e->handle));
	free(e);
}

/* Unlink ${e} (t->mtx held). */
static void
unlink_entry(struct mrtr *t, struct entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	e->prev = e->next = NULL;
	t->n--;
}

/* The entry ${handle} (t->mtx held), or NULL.  Every entry is compared in
 * constant time, so the time taken says nothing about near misses. */
static struct entry *
find(struct mrtr *t, const char *handle)
{
	struct entry *e, *hit = NULL;

	if (!mrtr_is_handle(handle))
		return (NULL);
	for (e = t->head; e != NULL; e = e->next)
		if (secret_eq(e->handle, handle, MRTR_HANDLE_LEN))
			hit = e;
	return (hit);
}

static int
same_principal(const struct entry *e, const struct mrtr_binding *b)
{
	return (strcmp(e->sub, b->sub) == 0 && strcmp(e->client_id, b->client_id) == 0);
}

/* The timer thread: fire due entries, expire old ones. */
static void *
run(void *arg)
{
	struct mrtr *t = arg;
	struct entry *e, *next, *gone;
	struct timespec ts;
	void *due_args[64];
	char due_handles[64][MRTR_HANDLE_LEN + 1];
	size_t ndue, i;
	int64_t now, wake;

	pthread_mutex_lock(&t->mtx);
	while (!t->stop) {
		now = clock_now_ms();
		wake = now + 60000;
		ndue = 0;
		gone = NULL;
		for (e = t->head; e != NULL; e = next) {
			next = e->next;
			if (e->deadline > now) {
				if (e->deadline < wake)
					wake = e->deadline;
				continue;
			}
			if (e->state == E_OPEN) {
				if (ndue == 64) {
					wake = now;
					continue;
				}
				/* DUE now: it expires if its owner never parks
				 * or drops it. */
				e->state = E_DUE;
				e->deadline = now + t->p.ttl_ms;
				t->p.hold(e->arg);
				due_args[ndue] = e->arg;
				memcpy(due_handles[ndue], e->handle, sizeof(due_handles[ndue]));
				ndue++;
				continue;
			}
			unlink_entry(t, e);
			e->next = gone;
			gone = e;
		}
		if (ndue > 0 || gone != NULL) {
			pthread_mutex_unlock(&t->mtx);
			for (i = 0; i < ndue; i++) {
				t->p.due(due_args[i], due_handles[i]);
				t->p.release(due_args[i]);
			}
			secret_wipe(due_handles, sizeof(due_handles));
			for (e = gone; e != NULL; e = next) {
				next = e->next;
				t->p.expired(e->arg);
				entry_free(e);
			}
			pthread_mutex_lock(&t->mtx);
			continue;
		}
		(void)clock_gettime(CLOCK_MONOTONIC, &ts);
		wake -= now;
		ts.tv_sec += (time_t)(wake / 1000);
		ts.tv_nsec += (long)(wake % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&t->cv, &t->mtx, &ts);
	}
	pthread_mutex_unlock(&t->mtx);
	return (NULL);
}

/*
 * mrtr_new(p): a table per ${p} with its timer thread started.
 */
struct mrtr *
mrtr_new(const struct mrtr_params *p)
{
	struct mrtr *t;
	pthread_condattr_t ca;

	if (p->due == NULL || p->expired == NULL || p->hold == NULL || p->release == NULL)
		return (NULL);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	t->p = *p;
	if (t->p.ttl_ms == 0)
		t->p.ttl_ms = MRTR_TTL_DEFAULT_MS;
	if (t->p.ttl_ms < MRTR_TTL_MIN_MS)
		t->p.ttl_ms = MRTR_TTL_MIN_MS;
	if (t->p.ttl_ms > MRTR_TTL_MAX_MS)
		t->p.ttl_ms = MRTR_TTL_MAX_MS;
	if (t->p.max == 0)
		t->p.max = MRTR_MAX_DEFAULT;
	if (t->p.max > MRTR_MAX_LIMIT)
		t->p.max = MRTR_MAX_LIMIT;
	if (t->p.per_principal == 0)
		t->p.per_principal = MRTR_PER_PRINCIPAL_DEFAULT;
	if (t->p.per_principal > t->p.max)
		t->p.per_principal = t->p.max;
	/* A subject registers clients at will (dynamic registration): its
	 * own cap keeps one user from filling the table through many. */
	if (t->p.per_subject == 0)
		t->p.per_subject = MRTR_PER_SUBJECT_DEFAULT;
	if (t->p.per_subject < t->p.per_principal)
		t->p.per_subject = t->p.per_principal;
	if (t->p.per_subject > t->p.max)
		t->p.per_subject = t->p.max;
	if (t->p.gather_ms <= 0)
		t->p.gather_ms = MRTR_GATHER_DEFAULT_MS;
	pthread_mutex_init(&t->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((errno = pthread_create(&t->thr, NULL, run, t)) != 0) {
		log_warnp("mrtr: pthread_create");
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mtx);
		free(t);
		return (NULL);
	}
	return (t);
}

/*
 * mrtr_free(t): stop the thread and hand every entry's reference to
 * release().
 */
void
mrtr_free(struct mrtr *t)
{
	struct entry *e;

	if (t == NULL)
		return;
	mrtr_stop(t);
	while ((e = t->head) != NULL) {
		unlink_entry(t, e);
		t->p.release(e->arg);
		entry_free(e);
	}
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mtx);
	free(t);
}

/*
 * mrtr_stop(t): stop the timer thread; no due() or expired() afterwards.
 * Called by one thread (the owner's teardown) only.
 */
void
mrtr_stop(struct mrtr *t)
{
	if (t == NULL || t->joined)
		return;
	pthread_mutex_lock(&t->mtx);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mtx);
	pthread_join(t->thr, NULL);
	t->joined = 1;
}

/*
 * mrtr_open(t, b, arg, handle): reserve an OPEN entry bound to ${b}.
 */
enum mrtr_status
mrtr_open(struct mrtr *t, const struct mrtr_binding *b, void *arg, char handle[MRTR_HANDLE_LEN + 1])
{
	struct entry *e, *o;
	char tok[SECRET_TOKEN_LEN + 1];
	size_t mine = 0, ours = 0;

	if (b->sub == NULL || b->client_id == NULL || b->method == NULL || b->name == NULL ||
	    strlen(b->name) >= MRTR_NAME_MAX || strlen(b->method) >= MRTR_NAME_MAX)
		return (MRTR_ERROR);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (MRTR_ERROR);
	if ((e->sub = strdup(b->sub)) == NULL || (e->client_id = strdup(b->client_id)) == NULL ||
	    (e->method = strdup(b->method)) == NULL || (e->name = strdup(b->name)) == NULL ||
	    secret_token(tok) != 0) {
		entry_free(e);
		return (MRTR_ERROR);
	}
	memcpy(e->handle, MRTR_HANDLE_PREFIX, sizeof(MRTR_HANDLE_PREFIX) - 1);
	memcpy(e->handle + sizeof(MRTR_HANDLE_PREFIX) - 1, tok, SECRET_TOKEN_LEN + 1);
	secret_wipe(tok, sizeof(tok));
	e->state = E_OPEN;
	e->arg = arg;
	pthread_mutex_lock(&t->mtx);
	for (o = t->head; o != NULL; o = o->next)
		if (strcmp(o->sub, b->sub) == 0) {
			ours++;
			if (strcmp(o->client_id, b->client_id) == 0)
				mine++;
		}
	if (t->n >= t->p.max || mine >= t->p.per_principal || ours >= t->p.per_subject) {
		pthread_mutex_unlock(&t->mtx);
		entry_free(e);
		return (MRTR_FULL);
	}
	e->deadline = clock_now_ms() + t->p.gather_ms;
	e->next = t->head;
	if (t->head != NULL)
		t->head->prev = e;
	t->head = e;
	t->n++;
	memcpy(handle, e->handle, MRTR_HANDLE_LEN + 1);
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mtx);
	return (MRTR_OK);
}

/*
 * mrtr_park(t, handle, keys, nkeys): make the DUE entry ${handle}
 * claimable.
 */
int
mrtr_park(struct mrtr *t, const char *handle, const char *const *keys, size_t nkeys)
{
	struct entry *e;
	size_t i;

	if (nkeys == 0 || nkeys > MRTR_KEYS_MAX)
		return (-1);
	for (i = 0; i < nkeys; i++)
		if (keys[i] == NULL || strlen(keys[i]) >= MRTR_KEY_MAX)
			return (-1);
	pthread_mutex_lock(&t->mtx);
	if ((e = find(t, handle)) == NULL || e->state != E_DUE) {
		pthread_mutex_unlock(&t->mtx);
		return (-1);
	}
	for (i = 0; i < nkeys; i++)
		memcpy(e->keys[i], keys[i], strlen(keys[i]) + 1);
	e->nkeys = nkeys;
	e->state = E_PARKED;
	e->deadline = clock_now_ms() + t->p.ttl_ms;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mtx);
	return (0);
}

/*
 * mrtr_drop(t, handle): remove the entry ${handle}; its ${arg}, or NULL.
 */
void *
mrtr_drop(struct mrtr *t, const char *handle)
{
	struct entry *e;
	void *arg = NULL;

	pthread_mutex_lock(&t->mtx);
	if ((e = find(t, handle)) != NULL) {
		unlink_entry(t, e);
		arg = e->arg;
	}
	pthread_mutex_unlock(&t->mtx);
	entry_free(e);
	return (arg);
}

/*
 * mrtr_claim(t, handle, b, responses, arg, missing, cap): use the PARKED
 * entry ${handle}.
 */
enum mrtr_status
mrtr_claim(struct mrtr *t, const char *handle, const struct mrtr_binding *b, const json_t *responses,
    void **arg, char *missing, size_t cap)
{
	struct entry *e;
	size_t i;

	*arg = NULL;
	if (cap > 0)
		missing[0] = '\0';
	pthread_mutex_lock(&t->mtx);
	e = find(t, handle);
	/* Another principal's entry is as good as unknown to this one: its
	 * existence is not revealed, and it is left alone. */
	if (e == NULL || e->state != E_PARKED || !same_principal(e, b) || e->deadline <= clock_now_ms()) {
		pthread_mutex_unlock(&t->mtx);
		return (MRTR_UNKNOWN);
	}
	if (strcmp(e->method, b->method) != 0 || strcmp(e->name, b->name) != 0) {
		pthread_mutex_unlock(&t->mtx);
		return (MRTR_MISMATCH);
	}
	for (i = 0; i < e->nkeys; i++)
		if (!json_is_object(json_object_get(responses, e->keys[i]))) {
			if (cap > 0) {
				strncpy(missing, e->keys[i], cap - 1);
				missing[cap - 1] = '\0';
			}
			pthread_mutex_unlock(&t->mtx);
			return (MRTR_INCOMPLETE);
		}
	unlink_entry(t, e);
	pthread_mutex_unlock(&t->mtx);
	*arg = e->arg;
	entry_free(e);
	return (MRTR_OK);
}

/*
 * mrtr_is_handle(s): 1 if ${s} has the form of one of our handles.
 */
int
mrtr_is_handle(const char *s)
{
	size_t pl = sizeof(MRTR_HANDLE_PREFIX) - 1, i;

	if (s == NULL || strlen(s) != MRTR_HANDLE_LEN || strncmp(s, MRTR_HANDLE_PREFIX, pl) != 0)
		return (0);
	for (i = pl; s[i] != '\0'; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return (0);
	return (1);
}

/*
 * mrtr_count(t): entries in the table.
 */
size_t
mrtr_count(struct mrtr *t)
{
	size_t n;

	pthread_mutex_lock(&t->mtx);
	n = t->n;
	pthread_mutex_unlock(&t->mtx);
	return (n);
}

/*
 * mrtr_ttl_ms(t): the expiry in force.
 */
int64_t
mrtr_ttl_ms(const struct mrtr *t)
{
	return (t->p.ttl_ms);
}
