/*
 * gateway/replay: the last events of a stream.  See replay.h.
 */
#include "gateway/replay.h"

#include <stdlib.h>
#include <string.h>

struct ev {
	uint64_t id;
	char *data;
	size_t len;
};

struct replay {
	struct ev *ring;	/* ${max} slots; [head, head + n) in use */
	size_t max, head, n;
	size_t bytes, bytes_max;
	uint64_t last;		/* the last id given */
	uint64_t dropped;	/* the newest id no longer kept, 0 if none */
};

/*
 * replay_new(events_max, bytes_max): an empty buffer.
 */
struct replay *
replay_new(size_t events_max, size_t bytes_max)
{
	struct replay *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->max = events_max > 0 ? events_max : REPLAY_EVENTS_MAX;
	r->bytes_max = bytes_max > 0 ? bytes_max : REPLAY_BYTES_MAX;
	if ((r->ring = calloc(r->max, sizeof(*r->ring))) == NULL) {
		free(r);
		return (NULL);
	}
	return (r);
}

/*
 * replay_free(r): free ${r}.
 */
void
replay_free(struct replay *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		free(r->ring[(r->head + i) % r->max].data);
	free(r->ring);
	free(r);
}

static void
drop_oldest(struct replay *r)
{
	struct ev *e = &r->ring[r->head];

	r->dropped = e->id;
	r->bytes -= e->len;
	free(e->data);
	memset(e, 0, sizeof(*e));
	r->head = (r->head + 1) % r->max;
	r->n--;
}

/*
 * replay_add(r, data, len): number and keep an event.
 */
uint64_t
replay_add(struct replay *r, const char *data, size_t len)
{
	struct ev *e;
	char *copy;

	r->last++;
	if (len > r->bytes_max || (copy = malloc(len > 0 ? len : 1)) == NULL) {
		/* Not kept: everything before it is useless for a replay
		 * that must not skip it. */
		while (r->n > 0)
			drop_oldest(r);
		r->dropped = r->last;
		return (r->last);
	}
	memcpy(copy, data, len);
	while (r->n > 0 && (r->n == r->max || r->bytes + len > r->bytes_max))
		drop_oldest(r);
	e = &r->ring[(r->head + r->n) % r->max];
	e->id = r->last;
	e->data = copy;
	e->len = len;
	r->n++;
	r->bytes += len;
	return (r->last);
}

/*
 * replay_forget(r): drop every kept event.
 */
void
replay_forget(struct replay *r)
{
	while (r->n > 0)
		drop_oldest(r);
	r->dropped = r->last;
}

/*
 * replay_last(r): the last id given.
 */
uint64_t
replay_last(const struct replay *r)
{
	return (r->last);
}

/*
 * replay_since(r, last, fn, arg): pass the kept events after ${last}.
 */
int
replay_since(const struct replay *r, uint64_t last,
    void (*fn)(void *arg, uint64_t id, const char *data, size_t len), void *arg)
{
	const struct ev *e;
	size_t i;

	if (last >= r->last)
		return (0);
	for (i = 0; i < r->n; i++) {
		e = &r->ring[(r->head + i) % r->max];
		if (e->id > last)
			fn(arg, e->id, e->data, e->len);
	}
	return (r->dropped > last ? -1 : 0);
}

/*
 * replay_parse_id(s, id): a decimal event id.
 */
int
replay_parse_id(const char *s, uint64_t *id)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= REPLAY_ID_MAX - 1)
			return (-1);
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return (-1);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return (-1);
	*id = v;
	return (0);
}
