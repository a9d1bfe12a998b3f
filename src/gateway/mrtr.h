/*
 * gateway/mrtr: the table of parked calls behind the gateway's Multi
 * Round-Trip Requests (2026-07-28 basic/patterns/mrtr).
 *
 * When an upstream sends requests to its client (sampling, elicitation,
 * roots) during a 2026-07-28 client's call, the gateway answers the client
 * with an InputRequiredResult and keeps the upstream call pending ("parks"
 * it).  The result's requestState is a handle into this table: the prefix
 * MRTR_HANDLE_PREFIX and 256 random bits in base64url, minted here, never
 * derived from anything the client sent.  An entry is bound to the
 * principal (token subject and client id), the client-facing method and
 * name (tool or prompt name, resource URI) and the keys of the
 * inputRequests handed out; it is single-use, and expires.
 *
 * Life of an entry:
 *
 *	mrtr_open()    OPEN: reserved (counted against the limits), not
 *	               claimable; after gather_ms the table's thread calls
 *	               due(arg, handle), so that requests the upstream sends
 *	               back to back go out together.
 *	due()          DUE: the owner answers its client and then calls
 *	               mrtr_park() (or mrtr_drop() if there is no client left).
 *	mrtr_park()    PARKED: claimable by mrtr_claim() until ttl_ms pass.
 *	expiry         a DUE or PARKED entry older than ttl_ms is removed and
 *	               expired(arg) is called: the owner cancels the call.
 *
 * Ownership: an entry owns one reference to its ${arg}, given by the caller
 * of mrtr_open().  Whoever removes the entry gets that reference: the
 * caller of mrtr_claim() (MRTR_OK) and mrtr_drop(), the expired() callback
 * on expiry, the release() callback on mrtr_free().  Around due() the table
 * holds an extra reference (hold() before, release() after).
 *
 * Locking: the table has one mutex.  hold() runs under it; due(),
 * expired() and release() run without it and may call back into the table.
 * Callers must not call the table while holding a lock that hold() takes.
 *
 * WARNING: a handle is a bearer capability for the parked call of its
 * principal; the binding check makes it useless to anyone else, but it is
 * still never logged.
 */
#ifndef MCPGATE_GATEWAY_MRTR_H
#define MCPGATE_GATEWAY_MRTR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/secret.h"

#define MRTR_HANDLE_PREFIX         "mcpgate."
#define MRTR_HANDLE_LEN            (sizeof(MRTR_HANDLE_PREFIX) - 1 + SECRET_TOKEN_LEN)
#define MRTR_KEYS_MAX              8    /* inputRequests keys per round */
#define MRTR_KEY_MAX               48   /* bytes of a key, NUL included */
#define MRTR_NAME_MAX              4096 /* bytes of a bound name or URI */
#define MRTR_TTL_DEFAULT_MS        (5 * 60 * 1000)
#define MRTR_TTL_MIN_MS            1000
#define MRTR_TTL_MAX_MS            (60 * 60 * 1000)
#define MRTR_MAX_DEFAULT           1024 /* parked calls in all */
#define MRTR_MAX_LIMIT             10000
#define MRTR_PER_PRINCIPAL_DEFAULT 16 /* parked calls per subject + client */
#define MRTR_PER_SUBJECT_DEFAULT   64 /* parked calls per subject, all its clients */
#define MRTR_GATHER_DEFAULT_MS     25

struct mrtr_params {
	int64_t ttl_ms;       /* 0: MRTR_TTL_DEFAULT_MS; else clamped to MIN..MAX */
	size_t max;           /* 0: MRTR_MAX_DEFAULT; at most MRTR_MAX_LIMIT */
	size_t per_principal; /* 0: MRTR_PER_PRINCIPAL_DEFAULT; at most max */
	size_t per_subject;   /* 0: MRTR_PER_SUBJECT_DEFAULT; at least per_principal, at most max */
	int64_t gather_ms;    /* 0: MRTR_GATHER_DEFAULT_MS */
	void (*due)(void *arg, const char *handle);
	void (*expired)(void *arg);
	void (*hold)(void *arg);
	void (*release)(void *arg);
};

/* What an entry is bound to; every string required. */
struct mrtr_binding {
	const char *sub;
	const char *client_id;
	const char *method;
	const char *name;
};

enum mrtr_status {
	MRTR_OK = 0,
	MRTR_UNKNOWN,    /* no such handle: never minted, expired, used, not yet
	                  * handed out, or bound to another principal */
	MRTR_MISMATCH,   /* the principal's, but for another method or name */
	MRTR_INCOMPLETE, /* a handed-out key has no object in the responses */
	MRTR_FULL,       /* a limit is reached */
	MRTR_ERROR       /* out of memory, or a string over its limit */
};

struct mrtr;

/*
 * mrtr_new(p): a table per ${p} (copied) with its timer thread started.
 * ${p}->due, expired, hold and release are required.  NULL on ENOMEM or if
 * the thread cannot start (logged).
 */
struct mrtr *mrtr_new(const struct mrtr_params *p);

/*
 * mrtr_free(t): stop the thread and remove every entry, handing each one's
 * reference to release() (never expired()).  NULL does nothing.
 */
void mrtr_free(struct mrtr *t);

/*
 * mrtr_stop(t): stop the timer thread and wait for a due() or expired()
 * running on it: none runs afterwards, so that the owner may tear down what
 * those callbacks use (the upstreams) before mrtr_free().  Entries stay and
 * the other calls keep working, but nothing becomes due or expires any
 * more.  Idempotent; NULL does nothing.
 */
void mrtr_stop(struct mrtr *t);

/*
 * mrtr_open(t, b, arg, handle): reserve an OPEN entry bound to ${b}
 * (copied), owning a reference to ${arg}, and write its fresh handle into
 * ${handle}.  Returns MRTR_OK; MRTR_FULL if the table or ${b}'s principal
 * is at its limit; MRTR_ERROR (out of memory, a string too long).  On an
 * error the caller keeps its reference.
 */
enum mrtr_status mrtr_open(
    struct mrtr *t, const struct mrtr_binding *b, void *arg, char handle[MRTR_HANDLE_LEN + 1]);

/*
 * mrtr_park(t, handle, keys, nkeys): make the DUE entry ${handle} claimable
 * for ttl_ms, expecting a response for each of the ${nkeys} (1 to
 * MRTR_KEYS_MAX, each shorter than MRTR_KEY_MAX) ${keys}.  Returns 0, or
 * -1 if there is no such DUE entry or the keys are out of bounds.
 */
int mrtr_park(struct mrtr *t, const char *handle, const char *const *keys, size_t nkeys);

/*
 * mrtr_drop(t, handle): remove the entry ${handle} in whatever state.
 * Returns its ${arg}, whose reference the caller now owns, or NULL.
 */
void *mrtr_drop(struct mrtr *t, const char *handle);

/*
 * mrtr_claim(t, handle, b, responses, arg, missing, cap): use the PARKED
 * entry ${handle} for a retry by ${b} carrying ${responses} (the
 * inputResponses object, borrowed).  MRTR_OK: the entry is removed and
 * ${arg} receives its reference.  MRTR_UNKNOWN, MRTR_MISMATCH,
 * MRTR_INCOMPLETE (${missing}, of ${cap} bytes, receives the first key
 * without an object response): nothing changes, and a retry with the right
 * binding and responses still succeeds.
 */
enum mrtr_status mrtr_claim(struct mrtr *t, const char *handle, const struct mrtr_binding *b,
    const json_t *responses, void **arg, char *missing, size_t cap);

/* mrtr_is_handle(s): 1 if ${s} has the form of a handle this module mints
 * (its prefix and length), else 0: anything else is not ours. */
int mrtr_is_handle(const char *s);

/* mrtr_count(t): entries in the table, in any state. */
size_t mrtr_count(struct mrtr *t);

/* mrtr_ttl_ms(t): the expiry in force. */
int64_t mrtr_ttl_ms(const struct mrtr *t);

#endif
