/*
 * client/sse: server-sent events, incrementally.
 */
#include "client/sse.h"

#include <string.h>

void
sse_init(struct sse *s, sse_event_fn *fn, void *arg)
{
	buf_init(&s->line, SSE_LINE_MAX);
	buf_init(&s->data, SSE_EVENT_MAX);
	s->has_data = 0;
	s->last_cr = 0;
	s->last_id[0] = '\0';
	s->retry_ms = -1;
	s->fn = fn;
	s->arg = arg;
}

void
sse_clear(struct sse *s)
{
	buf_clear(&s->line);
	buf_clear(&s->data);
}

/* One complete line (without its end). */
static int
line(struct sse *s)
{
	const char *l = buf_cstr(&s->line), *v;
	size_t n = s->line.len, fl, vl;
	int rc;

	if (n == 0) {
		if (!s->has_data)
			return (0);
		rc = s->fn(s->arg, buf_cstr(&s->data), s->data.len);
		buf_reset(&s->data);
		s->has_data = 0;
		return (rc);
	}
	if (l[0] == ':')
		return (0);
	v = memchr(l, ':', n);
	fl = v ? (size_t)(v - l) : n;
	if (v != NULL) {
		v++;
		vl = n - fl - 1;
		if (vl > 0 && *v == ' ') {
			v++;
			vl--;
		}
	} else {
		v = "";
		vl = 0;
	}
	if (fl == 4 && memcmp(l, "data", 4) == 0) {
		if (s->has_data && buf_add(&s->data, "\n", 1) != 0)
			return (-1);
		if (buf_add(&s->data, v, vl) != 0)
			return (-1);
		s->has_data = 1;
	} else if (fl == 2 && memcmp(l, "id", 2) == 0) {
		if (vl < SSE_ID_MAX && memchr(v, '\0', vl) == NULL) {
			memcpy(s->last_id, v, vl);
			s->last_id[vl] = '\0';
		}
	} else if (fl == 5 && memcmp(l, "retry", 5) == 0) {
		long ms = 0;
		size_t i;

		for (i = 0; i < vl && v[i] >= '0' && v[i] <= '9'; i++) {
			if (ms <= SSE_RETRY_MAX)
				ms = ms * 10 + (v[i] - '0');
		}
		if (vl > 0 && i == vl)
			s->retry_ms = ms > SSE_RETRY_MAX ? SSE_RETRY_MAX : ms;
	}
	return (0);
}

int
sse_feed(struct sse *s, const char *p, size_t n)
{
	size_t i, start = 0;
	int rc;

	for (i = 0; i < n; i++) {
		if (p[i] != '\r' && p[i] != '\n')
			continue;
		if (p[i] == '\n' && s->last_cr && i == start) {
			/* The LF of a CRLF split across calls, or right after CR. */
			s->last_cr = 0;
			start = i + 1;
			continue;
		}
		if (buf_add(&s->line, p + start, i - start) != 0)
			return (-1);
		rc = line(s);
		buf_reset(&s->line);
		s->last_cr = (p[i] == '\r');
		start = i + 1;
		if (rc != 0)
			return (rc);
	}
	if (start < n) {
		s->last_cr = 0;
		if (buf_add(&s->line, p + start, n - start) != 0)
			return (-1);
	}
	return (0);
}
