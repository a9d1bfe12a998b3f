#include "gateway/upstream_transport.h"

#include <stddef.h>

static void *
h_open(const struct upstream_config *cfg, const char *subject, const struct upstream_transport_cb *cb)
{
	(void)cfg;
	(void)subject;
	(void)cb;
	return (NULL);
}

static int
h_send(void *t, json_t *msg, int64_t id, int64_t timeout_ms)
{
	(void)t;
	(void)msg;
	(void)id;
	(void)timeout_ms;
	return (-1);
}

static void
h_set_version(void *t, const char *v)
{
	(void)t;
	(void)v;
}

static pid_t
h_pid(void *t)
{
	(void)t;
	return (-1);
}

static void
h_close(void *t)
{
	(void)t;
}

const struct upstream_transport upstream_http_transport = {
	"http", h_open, h_send, h_set_version, h_pid, h_close,
};
