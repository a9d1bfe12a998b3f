/*
 * gateway/upstream_transport: the backends that carry JSON-RPC messages
 * between the gateway and one upstream session.  Private to src/gateway.
 *
 * A backend is one const table of functions (struct upstream_transport);
 * upstream.c picks one by the configuration's kind.  An instance moves
 * whole messages: send() queues one message and never blocks on the peer;
 * messages from the peer arrive through the callbacks, on the backend's own
 * thread, one at a time and in order.
 *
 * Callbacks (all on the backend's thread; they must not block, and may call
 * send()):
 *	up(arg): the peer is ready for an initialize request (a process was
 *	    spawned; an HTTP endpoint is configured; a session expired and a
 *	    new one must be made).
 *	message(arg, msg, assoc): one message (a json object, owned by the
 *	    callee).  ${assoc} is the gateway id of the request whose response
 *	    stream carried it (HTTP), or 0 when the transport cannot tell
 *	    (stdio).
 *	failed(arg, id, why): the request sent with gateway id ${id} will get
 *	    no answer (HTTP: the POST failed).
 *	down(arg, why): the peer is gone (the process exited); every request
 *	    in flight is lost.  up() follows when it is back.
 *
 * close() stops the instance; no callback runs after it returns.
 */
#ifndef MCPGATE_GATEWAY_UPSTREAM_TRANSPORT_H
#define MCPGATE_GATEWAY_UPSTREAM_TRANSPORT_H

#include <sys/types.h>

#include <stdint.h>

#include <jansson.h>

#include "gateway/upstream.h"

struct upstream_transport_cb {
	void (*up)(void *arg);
	void (*message)(void *arg, json_t *msg, int64_t assoc);
	void (*failed)(void *arg, int64_t id, const char *why);
	void (*down)(void *arg, const char *why);
	void *arg;
};

struct upstream_transport {
	const char *name;
	/* open(cfg, subject, cb): start an instance for ${cfg} (which
	 * outlives it); ${subject} (may be NULL) only names it in logs.
	 * NULL on failure (logged). */
	void *(*open)(const struct upstream_config *cfg, const char *subject,
	    const struct upstream_transport_cb *cb);
	/* send(t, msg, id, timeout_ms): queue ${msg} (borrowed).  ${id} is
	 * the gateway id if it is a request, else 0; ${timeout_ms} bounds
	 * its delivery and answer.  Returns 0, or -1 if the peer is down or
	 * the queue is full. */
	int (*send)(void *t, json_t *msg, int64_t id, int64_t timeout_ms);
	/* set_version(t, v): the protocol version negotiated (HTTP sends it
	 * as MCP-Protocol-Version). */
	void (*set_version)(void *t, const char *v);
	/* pid(t): the child's process id, or -1. */
	pid_t (*pid)(void *t);
	/* close(t): stop and free. */
	void (*close)(void *t);
};

extern const struct upstream_transport upstream_stdio_transport;
extern const struct upstream_transport upstream_http_transport;

#endif
