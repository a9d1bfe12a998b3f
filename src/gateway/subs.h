/*
 * gateway/subs: the bookkeeping of resource subscriptions.
 *
 * Two structures, neither locked (the endpoint holds its mutex around
 * every call):
 *
 *   struct subs, the table of upstream subscriptions: one counter per
 *   (upstream instance, original URI), where an upstream instance is the
 *   upstream itself (shared isolation, ${subject} NULL) or its session of
 *   one subject (per-user isolation).  subs_ref() tells the caller when it
 *   made the first reference, subs_unref() when it dropped the last.
 *   A reference may name the holder's set: each key then lists its
 *   holders, so that an update finds them without walking every set
 *   (subs_holders()).
 *   Each key also knows where the upstream stands: whether the instance
 *   accepted a subscribe of it since the instance last started ("up"),
 *   how many subscribes are in flight (subs_sending() counts one,
 *   subs_answered() its answer), and whether one's outcome stayed unknown
 *   (a timeout: the instance may hold the subscription, so the last
 *   holder leaving unsubscribes it, see subs_may_hold()).  An instance that starts again has
 *   forgotten every subscription: subs_restarted() marks its keys down
 *   and lists those to subscribe again.  A key's serial, new for every
 *   key made, lets a late answer tell its key from a newer one of the
 *   same name.
 *
 *   struct subs_set, what one holder (a legacy session, or a 2026-07-28
 *   subscriptions/listen stream) subscribed to: at most a fixed number of
 *   items, each the client-facing URI plus the table key it holds a
 *   reference on.  subs_set_match() decides whether an upstream's
 *   notifications/resources/updated concerns the holder.  Each item gets
 *   a stamp, distinct within its set, so that a late answer finds the
 *   very item it concerns (not one added again since).
 *
 * Sub-resources: an update for URI X reaches a subscription of URI S of
 * the same upstream instance when X equals S, or when X continues S after a
 * path boundary: S ends with '/', or the byte of X after S is '/'.  So
 * "file:///d" covers "file:///d/a.txt" but not "file:///dx"; a query or a
 * fragment is not a sub-resource.  See docs/internals/gateway-subs.md.
 *
 * Upstreams are opaque pointers here; the module never dereferences them.
 */
#ifndef MCPGATE_GATEWAY_SUBS_H
#define MCPGATE_GATEWAY_SUBS_H

#include <stddef.h>
#include <stdint.h>

#define SUBS_PER_HOLDER_MAX 256	 /* URIs per session or listen stream */
#define SUBS_KEYS_MAX 100000	 /* distinct upstream subscriptions */
#define SUBS_URI_MAX 4096	 /* bytes of a URI we keep */
#define SUBS_BUCKETS 4096
#define SUBS_BYTES_MAX (64 * 1024 * 1024) /* held by all the sets of a budget */

struct subs;
struct subs_set;

/* The bytes the items of several sets hold, counted atomically (sets are
 * filled and freed under different locks): see subs_set_budget(). */
struct subs_budget {
	size_t used;
	size_t max;	/* 0: SUBS_BYTES_MAX */
};

/* One subscription of a holder. */
struct subs_item {
	char *uri;	/* client-facing URI */
	void *u;	/* the upstream */
	char *subject;	/* per-user instance, or NULL */
	char *orig;	/* the upstream's own URI */
	uint64_t stamp;	/* distinct within the set, never 0 */
};

/* A key to subscribe again (subs_restarted()). */
struct subs_resend {
	char *uri;	/* the upstream's own URI */
	uint64_t serial;
};

/* subs_new(keys_max): an empty table of at most ${keys_max} keys (0:
 * SUBS_KEYS_MAX).  NULL on ENOMEM. */
struct subs *subs_new(size_t keys_max);

/* subs_free(t): free ${t}.  NULL does nothing. */
void subs_free(struct subs *t);

/* subs_ref(t, u, subject, uri, holder): add a reference to the key (${u},
 * ${subject} (may be NULL), ${uri}), held by the set ${holder} (may be
 * NULL: not indexed), which must not be freed while it holds it.  Returns
 * 1 if the key is new (the caller subscribes upstream), 0 if it existed,
 * -1 if the table is full or memory is exhausted (nothing changed). */
int subs_ref(struct subs *t, void *u, const char *subject, const char *uri,
    struct subs_set *holder);

/* subs_unref(t, u, subject, uri, holder): drop a reference (one of
 * ${holder}'s, if it holds one).  Returns 1 if it was the last (the key is
 * gone: the caller unsubscribes upstream), 0 if others remain, -1 if there
 * was no such key. */
int subs_unref(struct subs *t, void *u, const char *subject, const char *uri,
    struct subs_set *holder);

/* subs_holders(t, u, subject, uri, fn, arg): call ${fn}(${arg}, owner,
 * kind) once for each set (see subs_set_owner()) that holds a reference on
 * a key of the instance (${u}, ${subject}) covering the upstream URI
 * ${uri} (see above), however many such keys it holds.  The keys are found
 * by the prefixes of ${uri} (one lookup per path boundary), not by walking
 * every set.  ${fn} must not change ${t}.  Returns how many sets were
 * met. */
size_t subs_holders(struct subs *t, void *u, const char *subject, const char *uri,
    void (*fn)(void *arg, void *owner, int kind), void *arg);

/* subs_refs(t, u, subject, uri): the references held on the key, 0 if
 * none.  subs_keys(t): how many keys ${t} holds. */
unsigned subs_refs(const struct subs *t, void *u, const char *subject, const char *uri);
size_t subs_keys(const struct subs *t);

/* subs_state(t, u, subject, uri, inflight): 1 if the instance accepted a
 * subscribe of the key since it last started ("up"), 0 if not (none
 * answered yet, refused, or the instance started again), -1 if there is
 * no such key.  ${inflight} (may be NULL) gets the number of subscribes
 * sent and not answered yet (0 if there is no key). */
int subs_state(const struct subs *t, void *u, const char *subject, const char *uri,
    unsigned *inflight);

/* subs_sending(t, u, subject, uri, always): a subscribe of the key goes
 * upstream: count it in flight and return the key's serial (never 0), to
 * hand to subs_answered() with the answer.  Unless ${always}, only when
 * the key is neither up nor has a subscribe in flight.  Returns 0 (nothing
 * changed) when there is no such key or, without ${always}, nothing is to
 * be sent. */
uint64_t subs_sending(struct subs *t, void *u, const char *subject, const char *uri, int always);

/* subs_answered(t, u, subject, uri, serial, ok): the subscribe counted
 * under ${serial} was answered: SUBS_ACCEPTED (the key is up),
 * SUBS_REFUSED (refused, or failed before the instance could take it) or
 * SUBS_UNKNOWN (timed out, cancelled, transfer failed: the instance may
 * have subscribed; the key counts as maybe held until the instance starts
 * again).  Returns 0, or -1 if the key is gone or was made again since
 * (another serial): nothing changed. */
#define SUBS_REFUSED 0
#define SUBS_ACCEPTED 1
#define SUBS_UNKNOWN 2
int subs_answered(struct subs *t, void *u, const char *subject, const char *uri, uint64_t serial,
    int ok);

/* subs_may_hold(t, u, subject, uri): 1 if the instance may hold a
 * subscription of the key: it accepted one (up), one is in flight, or
 * one's outcome is unknown since the instance last started; 0 if not, or
 * if there is no such key. */
int subs_may_hold(const struct subs *t, void *u, const char *subject, const char *uri);

/* subs_serial(t, u, subject, uri): the key's serial, or 0 if there is no
 * such key. */
uint64_t subs_serial(const struct subs *t, void *u, const char *subject, const char *uri);

/* subs_restarted(t, u, subject, out, n): the instance (${u}, ${subject})
 * completed initialize again and holds no subscription: every key of it
 * is marked not up (nor maybe held), and each one without a subscribe in flight gets one
 * counted (as subs_sending() does) and is listed in ${*out}, a malloc'd
 * array of ${*n} items (NULL when 0) for the caller to subscribe upstream
 * and free with subs_resend_free().  With ${out} NULL the keys are only
 * marked not up (the instance no longer supports subscriptions).  Returns
 * 0, or -1 on ENOMEM (nothing changed, ${*out} NULL, ${*n} 0). */
int subs_restarted(struct subs *t, void *u, const char *subject, struct subs_resend **out, size_t *n);

/* subs_resend_free(v, n): free the ${n} items of ${v} and ${v}. */
void subs_resend_free(struct subs_resend *v, size_t n);

/* subs_set_new(max): an empty set of at most ${max} items (0:
 * SUBS_PER_HOLDER_MAX).  NULL on ENOMEM. */
struct subs_set *subs_set_new(size_t max);

/* subs_set_budget(s, b): count the items of ${s}, which must be empty,
 * against ${b} (shared with other sets; it must outlive ${s}): each item
 * costs its strings and its slot, from its subs_set_add() until it leaves
 * the set (subs_set_remove(), subs_set_take(), subs_set_free()). */
void subs_set_budget(struct subs_set *s, struct subs_budget *b);

/* subs_set_owner(s, owner, kind): what ${s} belongs to, as subs_holders()
 * reports it. */
void subs_set_owner(struct subs_set *s, void *owner, int kind);

/* subs_set_free(s): free ${s} and its items (no reference is dropped: see
 * subs_set_take()).  NULL does nothing. */
void subs_set_free(struct subs_set *s);

/* subs_set_add(s, uri, u, subject, orig): add the item (strings copied).
 * Returns 0 if added, 1 if ${uri} was already in ${s} (nothing changed),
 * -1 if ${s} is full or a string is longer than SUBS_URI_MAX (errno
 * ENOSPC), its budget is spent (EDQUOT), or on ENOMEM. */
int subs_set_add(struct subs_set *s, const char *uri, void *u, const char *subject, const char *orig);

/* subs_set_stamp(s, uri): the stamp of the item of client-facing ${uri}
 * in ${s} (may be NULL), or 0 if there is none. */
uint64_t subs_set_stamp(const struct subs_set *s, const char *uri);

/* subs_set_remove(s, uri, out): move the item of client-facing ${uri} out
 * of ${s} into ${out} (the caller clears it with subs_item_clear()).
 * Returns 0, or -1 if ${uri} is not in ${s}. */
int subs_set_remove(struct subs_set *s, const char *uri, struct subs_item *out);

/* subs_set_count(s), subs_set_item(s, i): the items, in no fixed order
 * (removal moves the last item into the gap). */
size_t subs_set_count(const struct subs_set *s);
const struct subs_item *subs_set_item(const struct subs_set *s, size_t i);

/* subs_set_take(s, items, n): move every item of ${s} out (at most ${n},
 * the rest stays); returns how many were moved.  ${s} may be NULL. */
size_t subs_set_take(struct subs_set *s, struct subs_item *items, size_t n);

/* subs_set_match(s, u, subject, orig): 1 if an item of ${s} is of the
 * instance (${u}, ${subject}) and covers the upstream URI ${orig} (see
 * above), else 0.  ${s} may be NULL. */
int subs_set_match(const struct subs_set *s, void *u, const char *subject, const char *orig);

/* subs_uri_covers(sub, uri): 1 if an update of ${uri} concerns a
 * subscription of ${sub} (equal, or a sub-resource), else 0. */
int subs_uri_covers(const char *sub, const char *uri);

/* subs_item_clear(it): free the strings of ${it} and zero it. */
void subs_item_clear(struct subs_item *it);

#endif
