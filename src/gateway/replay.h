/*
 * gateway/replay: the last events of a stream, kept for a client that
 * reconnects with Last-Event-ID (2025-06-18 / 2025-11-25 resumability).
 *
 * Every event added gets the next id (1, 2, ...); the buffer keeps the
 * newest ones within a count and a byte limit, dropping the oldest.
 * replay_since() hands back, in order, those after the id a client last
 * saw.  Not locked: the caller serializes.
 */
#ifndef MCPGATE_GATEWAY_REPLAY_H
#define MCPGATE_GATEWAY_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_EVENTS_MAX 32		/* events kept per stream */
#define REPLAY_BYTES_MAX (32 * 1024)	/* bytes kept per stream */
#define REPLAY_ID_MAX 21		/* digits of an id, with the NUL */

struct replay;

/* replay_new(events_max, bytes_max): an empty buffer keeping at most
 * ${events_max} events (0: REPLAY_EVENTS_MAX) and ${bytes_max} bytes of
 * them (0: REPLAY_BYTES_MAX).  NULL on ENOMEM. */
struct replay *replay_new(size_t events_max, size_t bytes_max);

/* replay_free(r): free ${r}.  NULL does nothing. */
void replay_free(struct replay *r);

/* replay_add(r, data, len): number the event ${data} of ${len} bytes and
 * keep a copy, dropping the oldest events to stay within the limits.
 * Returns its id.  An event larger than the byte limit, or one that cannot
 * be copied, still gets an id but is not kept (a later replay reports the
 * gap). */
uint64_t replay_add(struct replay *r, const char *data, size_t len);

/* replay_forget(r): drop every kept event; ids go on from the last one, and
 * a replay from before it reports the gap. */
void replay_forget(struct replay *r);

/* replay_last(r): the id of the last event added, 0 if none. */
uint64_t replay_last(const struct replay *r);

/* replay_since(r, last, fn, arg): call fn(${arg}, id, data, len) for every
 * kept event whose id is greater than ${last}, oldest first.  Returns 0,
 * or -1 if some event after ${last} is no longer kept (those kept are
 * still passed).  An id greater than replay_last() passes nothing. */
int replay_since(const struct replay *r, uint64_t last,
    void (*fn)(void *arg, uint64_t id, const char *data, size_t len), void *arg);

/* replay_parse_id(s, id): parse the decimal event id ${s} (1 to 20 digits,
 * nothing else) into ${id}.  Returns 0, or -1 if it is malformed. */
int replay_parse_id(const char *s, uint64_t *id);

#endif
