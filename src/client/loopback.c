/*
 * client/loopback: a one-shot HTTP listener on 127.0.0.1 for the
 * authorization response.
 */
#include "client/loopback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/secret.h"

static const char page_ok[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>mcpgate</title></head>"
    "<body><p>Authorization received. You can close this window and return to the program.</p>"
    "</body></html>";

static int
bind_port(int port)
{
	struct sockaddr_in sa;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (-1);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

int
loopback_open(struct loopback *l, int port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	l->fd = -1;
	l->port = 0;
	if (port > 0 && port < 65536)
		l->fd = bind_port(port);
	if (l->fd < 0 && (l->fd = bind_port(0)) < 0)
		return (-1);
	if (getsockname(l->fd, (struct sockaddr *)&sa, &sl) != 0) {
		close(l->fd);
		l->fd = -1;
		return (-1);
	}
	l->port = ntohs(sa.sin_port);
	return (0);
}

void
loopback_close(struct loopback *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

static void
reply(int fd, const char *status, const char *body)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
	    status, strlen(body));
	/* Best effort: the browser's page is a courtesy. */
	if (send(fd, head, (size_t)n, MSG_NOSIGNAL) == n)
		(void)send(fd, body, strlen(body), MSG_NOSIGNAL);
}

/* Read a request head from ${fd} into ${h} until CRLFCRLF, the connection
 * deadline or the size limit.  Returns 0 or -1. */
static int
read_head(int fd, struct buf *h, int64_t deadline)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char tmp[1024];
	ssize_t r;
	int64_t now;

	for (;;) {
		if (h->len >= 4 && strstr(buf_cstr(h), "\r\n\r\n") != NULL)
			return (0);
		if ((now = clock_now_ms()) >= deadline)
			return (-1);
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			return (-1);
		if ((r = recv(fd, tmp, sizeof(tmp), 0)) <= 0)
			return (-1);
		if (memchr(tmp, '\0', (size_t)r) != NULL || buf_add(h, tmp, (size_t)r) != 0)
			return (-1);
	}
}

int
loopback_wait(struct loopback *l, int64_t deadline_ms, struct buf *query)
{
	struct pollfd p = { l->fd, POLLIN, 0 };
	struct buf head;
	int64_t now, cd;
	const char *line, *target, *sp;
	int cfd, pr;

	buf_init(&head, LOOPBACK_HEAD_MAX);
	for (;;) {
		if ((now = clock_now_ms()) >= deadline_ms)
			break;
		pr = poll(&p, 1, (int)(deadline_ms - now > 1000 ? 1000 : deadline_ms - now));
		if (pr < 0 && errno != EINTR)
			goto fail;
		if (pr <= 0)
			continue;
		if ((cfd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		buf_reset(&head);
		cd = clock_now_ms() + LOOPBACK_CONN_TIMEOUT_MS;
		if (cd > deadline_ms)
			cd = deadline_ms;
		if (read_head(cfd, &head, cd) != 0) {
			close(cfd);
			continue;
		}
		line = buf_cstr(&head);
		if (strncmp(line, "GET ", 4) != 0) {
			reply(cfd, "405 Method Not Allowed", "");
			close(cfd);
			continue;
		}
		target = line + 4;
		if ((sp = strchr(target, ' ')) == NULL) {
			close(cfd);
			continue;
		}
		if (strncmp(target, "/callback?", 10) != 0 && !(sp - target == 9 && strncmp(target, "/callback", 9) == 0)) {
			reply(cfd, "404 Not Found", "");
			close(cfd);
			continue;
		}
		if (sp - target > 9 && buf_add(query, target + 10, (size_t)(sp - target - 10)) != 0) {
			reply(cfd, "414 URI Too Long", "");
			close(cfd);
			goto fail;
		}
		reply(cfd, "200 OK", page_ok);
		close(cfd);
		buf_clear(&head);
		return (0);
	}
	buf_clear(&head);
	return (1);
fail:
	buf_clear(&head);
	return (-1);
}
