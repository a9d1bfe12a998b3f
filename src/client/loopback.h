/*
 * client/loopback: the redirect listener of a native app (RFC 8252 section
 * 7.3): a TCP socket on 127.0.0.1 that waits for the browser to come back to
 * http://127.0.0.1:PORT/callback, answers it with a short page and closes.
 *
 * Requests for other paths (a browser's /favicon.ico) get 404 and the wait
 * goes on.  Each connection has LOOPBACK_CONN_TIMEOUT_MS to send its request
 * head (at most LOOPBACK_HEAD_MAX bytes); the whole wait has the caller's
 * deadline.  Only GET is accepted.
 */
#ifndef MCPGATE_CLIENT_LOOPBACK_H
#define MCPGATE_CLIENT_LOOPBACK_H

#include <stdint.h>

#include "core/buf.h"

#define LOOPBACK_HEAD_MAX 16384
#define LOOPBACK_CONN_TIMEOUT_MS 10000

struct loopback {
	int fd;
	int port;
};

/* loopback_open(l, port): listen on 127.0.0.1:${port}, or an ephemeral port
 * if ${port} is 0 or taken.  Returns 0 or -1 (errno set). */
int loopback_open(struct loopback *l, int port);

/* loopback_wait(l, deadline_ms, query): wait until clock_now_ms() reaches
 * ${deadline_ms} for GET /callback; append its query string (without '?') to
 * ${query}.  The browser gets a short page saying it may be closed.
 * Returns 0, 1 on timeout, -1 on error (a query over LOOPBACK_HEAD_MAX). */
int loopback_wait(struct loopback *l, int64_t deadline_ms, struct buf *query);

/* loopback_close(l): stop listening. */
void loopback_close(struct loopback *l);

#endif
