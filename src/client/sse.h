/*
 * client/sse: an incremental parser of text/event-stream (the WHATWG HTML
 * "server-sent events" format) as the MCP Streamable HTTP transport uses it.
 *
 * Lines end with CRLF, LF or CR.  "data:" lines of an event are joined with
 * LF; a blank line dispatches the event if it has data (an empty "data:"
 * line counts: the callback then gets n == 0).  "id:" sets the last event id
 * (kept when it fits SSE_ID_MAX - 1 bytes and has no NUL, for Last-Event-ID
 * on reconnection); "retry:" with only digits sets the reconnection delay.
 * Comments (":"), "event:" and unknown fields are ignored.  A line longer than SSE_LINE_MAX or an event over SSE_EVENT_MAX is an
 * error.
 */
#ifndef MCPGATE_CLIENT_SSE_H
#define MCPGATE_CLIENT_SSE_H

#include <stddef.h>

#include "core/buf.h"

#define SSE_LINE_MAX (1024 * 1024)
#define SSE_EVENT_MAX (4 * 1024 * 1024)
#define SSE_ID_MAX 256
#define SSE_RETRY_MAX 600000

/* sse_event_fn(arg, data, n): one event's data; return 0 to go on, 1 to
 * stop, -1 to fail. */
typedef int sse_event_fn(void *arg, const char *data, size_t n);

struct sse {
	struct buf line;
	struct buf data;
	int has_data;
	int last_cr;
	char last_id[SSE_ID_MAX]; /* "" if none */
	long retry_ms;		  /* -1 if none; at most SSE_RETRY_MAX */
	sse_event_fn *fn;
	void *arg;
};

/* sse_init(s, fn, arg) / sse_clear(s): caller-owned parser state. */
void sse_init(struct sse *s, sse_event_fn *fn, void *arg);
void sse_clear(struct sse *s);

/* sse_feed(s, p, n): parse ${n} more bytes.  Returns 0 (need more), 1 (the
 * callback stopped), or -1 (malformed, too long, or the callback failed). */
int sse_feed(struct sse *s, const char *p, size_t n);

#endif
