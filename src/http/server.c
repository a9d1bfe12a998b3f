#include "http/server.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/secret.h"

/* Largest PEM file (certificate chain or key) we read. */
#define PEM_MAX (256 * 1024)

/* GnuTLS priorities: its defaults, but TLS 1.2 and 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Room in the per-connection memory pool beyond the request header: MHD
 * keeps its header table and the response header it writes there too. */
#define POOL_SLACK (8 * 1024)

struct http_server {
	struct MHD_Daemon *d;
	const struct http_route *routes;
	size_t nroutes;
	size_t body_max;
	size_t header_max;
	int tls;
	uint16_t port;
};

/*
 * Per-request state, created by the URI log callback (the only place MHD
 * shows the request target before decoding it) and freed by the
 * request-completed callback.
 */
struct reqstate {
	char *raw_uri;	 /* request target exactly as sent */
	struct buf body; /* upload so far, at most body_max bytes */
	int started;	 /* the first access-handler call has been seen */
};

/* --- MHD glue --------------------------------------------------------- */

static void mhd_logger(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("http: libmicrohttpd: %s", msg);
}

static void *
uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;
	struct reqstate *rs;

	(void)conn;
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return (NULL);
	if ((rs->raw_uri = strdup(uri)) == NULL) {
		free(rs);
		return (NULL);
	}
	buf_init(&rs->body, srv->body_max);
	return (rs);
}

static void
completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct reqstate *rs = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (rs == NULL)
		return;
	free(rs->raw_uri);
	buf_clear(&rs->body);
	free(rs);
	*con_cls = NULL;
}

/* --- responses -------------------------------------------------------- */

static void
resp_free(struct http_resp *resp)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		if (resp->headers[i].value != NULL) {
			secret_wipe(resp->headers[i].value, strlen(resp->headers[i].value));
			free(resp->headers[i].value);
		}
	}
	resp->nheaders = 0;
	buf_clear(&resp->body);
}

static int
header_text_ok(const char *s, int is_name)
{
	const unsigned char *p;

	if (is_name && *s == '\0')
		return (0);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '\r' || *p == '\n')
			return (0);
		if (is_name && (*p <= ' ' || *p == ':' || *p >= 0x7f))
			return (0);
	}
	return (1);
}

/*
 * http_resp_header(resp, name, value): add a response header (copied).
 * Returns 0, or -1 if the table is full or ${name} / ${value} contain CR or
 * LF (or ${name} is not a token).
 */
/* Append a header without looking for an earlier one. */
static int
add_header(struct http_resp *resp, const char *name, const char *value)
{
	struct http_resp_header *h;

	if (resp->nheaders >= HTTP_RESP_HEADERS_MAX || !header_text_ok(name, 1) ||
	    !header_text_ok(value, 0))
		return (-1);
	h = &resp->headers[resp->nheaders];
	if ((h->name = strdup(name)) == NULL)
		return (-1);
	if ((h->value = strdup(value)) == NULL) {
		free(h->name);
		h->name = NULL;
		return (-1);
	}
	resp->nheaders++;
	return (0);
}

/* Replace every header ${name} by one with ${value}. */
static int
set_header(struct http_resp *resp, const char *name, const char *value)
{
	size_t i, j;

	if (!header_text_ok(name, 1) || !header_text_ok(value, 0))
		return (-1);
	for (i = j = 0; i < resp->nheaders; i++) {
		if (strcasecmp(resp->headers[i].name, name) == 0) {
			free(resp->headers[i].name);
			secret_wipe(resp->headers[i].value, strlen(resp->headers[i].value));
			free(resp->headers[i].value);
			continue;
		}
		resp->headers[j++] = resp->headers[i];
	}
	resp->nheaders = j;
	return (add_header(resp, name, value));
}

int
http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
	/* Set-Cookie is the one header that is sent once per value. */
	if (strcasecmp(name, "Set-Cookie") == 0)
		return (add_header(resp, name, value));
	return (set_header(resp, name, value));
}

/* The last-resort answer when building a response failed. */
static void
resp_fail(struct http_resp *resp)
{
	resp_free(resp);
	buf_init(&resp->body, HTTP_RESP_BODY_MAX);
	resp->status = 500;
	(void)buf_adds(&resp->body, "{\"error\":\"server_error\"}");
	(void)http_resp_header(resp, "Content-Type", "application/json");
	(void)http_resp_header(resp, "Cache-Control", "no-store");
}

/*
 * http_resp_json(resp, status, j): set ${status} and a compact JSON body from
 * ${j} (owned, freed here) with Content-Type: application/json,
 * Cache-Control: no-store and Pragma: no-cache.
 */
void
http_resp_json(struct http_resp *resp, int status, json_t *j)
{
	char *s;

	buf_reset(&resp->body);
	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		log_err("http: cannot serialise JSON response");
		json_decref(j);
		resp_fail(resp);
		return;
	}
	json_decref(j);
	if (buf_adds(&resp->body, s) ||
	    set_header(resp, "Content-Type", "application/json") ||
	    set_header(resp, "Cache-Control", "no-store") ||
	    set_header(resp, "Pragma", "no-cache")) {
		log_err("http: cannot build JSON response");
		resp_fail(resp);
	} else
		resp->status = status;
	secret_wipe(s, strlen(s));
	free(s);
}

/*
 * http_resp_text(resp, status, ctype, text): set ${status}, the body ${text}
 * and, when ${ctype} is not NULL, the Content-Type.
 */
void
http_resp_text(struct http_resp *resp, int status, const char *ctype, const char *text)
{
	buf_reset(&resp->body);
	if (buf_adds(&resp->body, text) ||
	    (ctype != NULL && set_header(resp, "Content-Type", ctype))) {
		log_err("http: cannot build text response");
		resp_fail(resp);
		return;
	}
	resp->status = status;
}

/*
 * http_resp_redirect(resp, status, location): an empty ${status} response
 * with Location: ${location} and Cache-Control: no-store (redirects carry
 * codes and state).
 */
void
http_resp_redirect(struct http_resp *resp, int status, const char *location)
{
	buf_reset(&resp->body);
	if (set_header(resp, "Location", location) ||
	    set_header(resp, "Cache-Control", "no-store")) {
		log_err("http: cannot build redirect");
		resp_fail(resp);
		return;
	}
	resp->status = status;
}

/* A fixed JSON error with no handler involved. */
static void
resp_error(struct http_resp *resp, int status, const char *error, const char *desc)
{
	json_t *j;

	if (desc != NULL)
		j = json_pack("{s:s, s:s}", "error", error, "error_description", desc);
	else
		j = json_pack("{s:s}", "error", error);
	http_resp_json(resp, status, j);
}

static void
resp_init(struct http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, HTTP_RESP_BODY_MAX);
}

struct body_hold {
	char *p;
	size_t len;
};

static void
body_free(void *cls)
{
	struct body_hold *h = cls;

	secret_wipe(h->p, h->len);
	free(h->p);
	free(h);
}

/* Turn ${resp} into an MHD response and queue it; ${close} asks for the
 * connection to be closed afterwards.  Consumes ${resp}. */
static enum MHD_Result
send_resp(struct MHD_Connection *conn, struct http_resp *resp, int close)
{
	struct MHD_Response *r;
	struct body_hold *h;
	enum MHD_Result rc;
	size_t i;

	if (resp->status < 200 || resp->status > 599) {
		if (resp->status != 0)
			log_err("http: handler set status %d", resp->status);
		resp_fail(resp);
	}
	if (resp->body.len == 0) {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else {
		if ((h = malloc(sizeof(*h))) == NULL) {
			resp_free(resp);
			return (MHD_NO);
		}
		h->len = resp->body.len;
		h->p = buf_steal(&resp->body);
		if ((r = MHD_create_response_from_buffer_with_free_callback_cls(h->len, h->p,
		    body_free, h)) == NULL)
			body_free(h);
	}
	if (r == NULL) {
		log_warn("http: cannot create response");
		resp_free(resp);
		return (MHD_NO);
	}
	for (i = 0; i < resp->nheaders; i++) {
		if (MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value) !=
		    MHD_YES)
			log_warn("http: response header %s refused", resp->headers[i].name);
	}
	(void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (close)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(conn, (unsigned int)resp->status, r);
	MHD_destroy_response(r);
	resp_free(resp);
	return (rc);
}

static enum MHD_Result
send_error(struct MHD_Connection *conn, int status, const char *error, const char *desc, int close)
{
	struct http_resp resp;

	resp_init(&resp);
	resp_error(&resp, status, error, desc);
	return (send_resp(conn, &resp, close));
}

/* --- requests --------------------------------------------------------- */

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Percent-decode the ${n}-byte path at ${s} into a new string ('+' stays a
 * '+' in a path).  NULL if an escape is malformed or decodes to a NUL or
 * another control byte, or on ENOMEM. */
static char *
path_decode(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out, *o;
	size_t i;
	int hi, lo, c;

	if ((out = malloc(n + 1)) == NULL)
		return (NULL);
	for (i = 0, o = out; i < n; i++) {
		c = p[i];
		if (c == '%') {
			if (n - i < 3 || (hi = hexval(p[i + 1])) < 0 || (lo = hexval(p[i + 2])) < 0)
				goto err;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			goto err;
		*o++ = (char)c;
	}
	*o = '\0';
	return (out);

err:
	free(out);
	return (NULL);
}

static const struct http_route *
route_find(const struct http_server *srv, const char *path)
{
	const struct http_route *r;
	size_t i;

	for (i = 0; i < srv->nroutes; i++) {
		r = &srv->routes[i];
		if (r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 :
				strcmp(path, r->path) == 0)
			return (r);
	}
	return (NULL);
}

/* Client address as text; an IPv4-mapped IPv6 address is shown as IPv4. */
static void
client_addr(struct MHD_Connection *conn, char *out, size_t outcap)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr_in6 *s6;
	const struct sockaddr *sa;

	snprintf(out, outcap, "unknown");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		    (socklen_t)outcap);
	} else if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)outcap);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outcap);
	}
}

/* The whole request is in: route it and answer. */
static enum MHD_Result
dispatch(struct http_server *srv, struct MHD_Connection *conn, const char *method,
    struct reqstate *rs)
{
	const struct http_route *route;
	struct http_resp resp;
	struct http_req req;
	const char *q;
	char addr[INET6_ADDRSTRLEN];
	char *path;
	enum MHD_Result rc;

	if ((q = strchr(rs->raw_uri, '?')) == NULL)
		q = rs->raw_uri + strlen(rs->raw_uri);
	if ((path = path_decode(rs->raw_uri, (size_t)(q - rs->raw_uri))) == NULL)
		return (send_error(conn, 400, "invalid_request", "malformed request target", 0));
	if (*q == '?')
		q++;
	if ((route = route_find(srv, path)) == NULL) {
		free(path);
		return (send_error(conn, 404, "not_found", NULL, 0));
	}
	client_addr(conn, addr, sizeof(addr));
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.query = q;
	req.body = buf_cstr(&rs->body);
	req.body_len = rs->body.len;
	req.remote_addr = addr;
	req.tls = srv->tls;
	req.conn = conn;
	resp_init(&resp);
	route->fn(route->arg, &req, &resp);
	if (resp.status == 0)
		log_err("http: handler for %s left no status", route->path);
	rc = send_resp(conn, &resp, 0);
	free(path);
	return (rc);
}

/* A strict decimal Content-Length; -1 if absent or not a plain number. */
static long long
content_length(struct MHD_Connection *conn)
{
	const char *v, *p;
	long long n = 0;

	if ((v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH)) == NULL)
		return (-1);
	for (p = v; *p >= '0' && *p <= '9'; p++) {
		if (n > (1LL << 50))
			return (1LL << 50);
		n = n * 10 + (*p - '0');
	}
	if (p == v || *p != '\0')
		return (-1);
	return (n);
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct reqstate *rs = *con_cls;
	const union MHD_ConnectionInfo *ci;
	long long clen;

	(void)url;
	(void)version;
	if (rs == NULL)
		return (MHD_NO);	/* ENOMEM in uri_cb */
	if (!rs->started) {
		/* Headers are in, the body (if any) is not.  Answering now
		 * makes MHD skip the body and close the connection. */
		rs->started = 1;
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
		if (ci != NULL && ci->header_size > srv->header_max)
			return (send_error(conn, 431, "invalid_request",
			    "request header too large", 1));
		if ((clen = content_length(conn)) >= 0 && (unsigned long long)clen > srv->body_max)
			return (send_error(conn, 413, "invalid_request",
			    "request body too large", 1));
		return (MHD_YES);
	}
	if (*upload_data_size != 0) {
		if (buf_add(&rs->body, upload_data, *upload_data_size)) {
			/* Only a chunked body gets here (a declared length was
			 * checked above); MHD cannot answer in the middle of an
			 * upload, so drop the connection. */
			log_info("http: chunked request body over %zu bytes, closing",
			    srv->body_max);
			return (MHD_NO);
		}
		*upload_data_size = 0;
		return (MHD_YES);
	}
	return (dispatch(srv, conn, method, rs));
}

/* --- header accessors ------------------------------------------------- */

/*
 * http_req_header(req, name): the value of header ${name} (case-insensitive),
 * or NULL if absent; the first one if repeated.
 */
const char *
http_req_header(const struct http_req *req, const char *name)
{
	return (MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name));
}

struct count_ctx {
	const char *name;
	int n;
};

static enum MHD_Result
count_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct count_ctx *c = cls;

	(void)kind;
	(void)value;
	if (key != NULL && strcasecmp(key, c->name) == 0)
		c->n++;
	return (MHD_YES);
}

/*
 * http_req_header_count(req, name): how many times header ${name} appears.
 */
int
http_req_header_count(const struct http_req *req, const char *name)
{
	struct count_ctx c = {name, 0};

	(void)MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_cb, &c);
	return (c.n);
}

/*
 * http_req_cookie(req, name, out, outcap): copy the value of cookie ${name}
 * from the Cookie header ("a=1; b=2", RFC 6265 section 4.2) into ${out}.
 * Malformed pairs are skipped; a value in double quotes loses them.  Returns
 * 0, or -1 if absent or longer than ${outcap} - 1.
 */
int
http_req_cookie(const struct http_req *req, const char *name, char *out, size_t outcap)
{
	const char *hdr, *p, *end, *eq, *ns, *ne, *vs, *ve;
	size_t nlen = strlen(name);

	if ((hdr = http_req_header(req, "Cookie")) == NULL || nlen == 0 || outcap == 0)
		return (-1);
	for (p = hdr; *p != '\0'; p = (*end == ';') ? end + 1 : end) {
		end = p + strcspn(p, ";");
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
			continue;
		for (ns = p; ns < eq && (*ns == ' ' || *ns == '\t'); ns++)
			;
		for (ne = eq; ne > ns && (ne[-1] == ' ' || ne[-1] == '\t'); ne--)
			;
		if ((size_t)(ne - ns) != nlen || memcmp(ns, name, nlen) != 0)
			continue;
		for (vs = eq + 1; vs < end && (*vs == ' ' || *vs == '\t'); vs++)
			;
		for (ve = end; ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
			vs++;
			ve--;
		}
		if ((size_t)(ve - vs) >= outcap)
			return (-1);
		memcpy(out, vs, (size_t)(ve - vs));
		out[ve - vs] = '\0';
		return (0);
	}
	return (-1);
}

/* --- server ----------------------------------------------------------- */

/* Read a whole PEM file (at most PEM_MAX bytes) as a NUL-terminated string. */
static char *
read_pem(const char *path, size_t *lenp)
{
	char *p;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		log_warnp("http: open %s", path);
		return (NULL);
	}
	if ((p = malloc(PEM_MAX + 1)) == NULL) {
		close(fd);
		return (NULL);
	}
	for (;;) {
		if ((n = read(fd, p + len, PEM_MAX + 1 - len)) < 0) {
			if (errno == EINTR)
				continue;
			log_warnp("http: read %s", path);
			goto err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > PEM_MAX) {
			log_warn("http: %s is larger than %d bytes", path, PEM_MAX);
			goto err;
		}
	}
	close(fd);
	p[len] = '\0';
	*lenp = len;
	return (p);

err:
	secret_wipe(p, PEM_MAX + 1);
	free(p);
	close(fd);
	return (NULL);
}

/*
 * http_server_new(cfg, routes, nroutes): listen and serve ${routes}.  NULL on
 * failure (logged).
 */
struct http_server *
http_server_new(const struct http_config *cfg, const struct http_route *routes, size_t nroutes)
{
	struct http_server *srv;
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct MHD_OptionItem opts[8];
	const union MHD_DaemonInfo *di;
	unsigned int flags, threads;
	char *cert = NULL, *key = NULL;
	size_t certlen = 0, keylen = 0, nopt = 0;
	long ncpu;

	memset(&ss, 0, sizeof(ss));
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (inet_pton(AF_INET, cfg->bind_addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(cfg->port);
	} else if (inet_pton(AF_INET6, cfg->bind_addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(cfg->port);
		/* "::" accepts IPv4 too; any other IPv6 address only IPv6. */
		flags |= IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? MHD_USE_DUAL_STACK :
								   MHD_USE_IPv6;
	} else {
		log_warn("http: bad bind address %s", cfg->bind_addr);
		return (NULL);
	}

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		log_warnp("http: calloc");
		return (NULL);
	}
	srv->routes = routes;
	srv->nroutes = nroutes;
	srv->body_max = cfg->body_max ? cfg->body_max : HTTP_BODY_MAX_DEFAULT;
	srv->header_max = cfg->header_max ? cfg->header_max : HTTP_HEADER_MAX_DEFAULT;

	if ((threads = cfg->threads) == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		threads = ncpu > 0 ? (unsigned int)ncpu : 1;
	}
	if (threads > 1) {
		opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
	}
	if (cfg->tls_cert != NULL || cfg->tls_key != NULL) {
		if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
			log_warn("http: TLS needs both a certificate and a key");
			goto err1;
		}
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			log_warn("http: libmicrohttpd was built without TLS");
			goto err1;
		}
		if ((cert = read_pem(cfg->tls_cert, &certlen)) == NULL ||
		    (key = read_pem(cfg->tls_key, &keylen)) == NULL)
			goto err2;
		flags |= MHD_USE_TLS;
		srv->tls = 1;
		opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
		opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
		opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
		    (void *)TLS_PRIORITIES};
	}
	opts[nopt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	srv->d = MHD_start_daemon(flags, cfg->port, NULL, NULL, access_cb, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)(cfg->timeout_s ? cfg->timeout_s : HTTP_TIMEOUT_DEFAULT),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(cfg->conn_limit ? cfg->conn_limit : 4096),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(2 * srv->header_max + POOL_SLACK),
	    MHD_OPTION_URI_LOG_CALLBACK, uri_cb, srv,
	    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
	    MHD_OPTION_ARRAY, opts,
	    MHD_OPTION_END);
	if (key != NULL) {
		secret_wipe(key, keylen);
		free(key);
		key = NULL;
	}
	free(cert);
	cert = NULL;
	if (srv->d == NULL) {
		log_warn("http: cannot listen on %s port %u", cfg->bind_addr, (unsigned)cfg->port);
		goto err1;
	}
	if ((di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT)) == NULL ||
	    di->port == 0) {
		log_warn("http: cannot read the bound port");
		MHD_stop_daemon(srv->d);
		goto err1;
	}
	srv->port = di->port;
	log_info("http: listening on %s port %u%s", cfg->bind_addr, (unsigned)srv->port,
	    srv->tls ? " (TLS)" : "");
	return (srv);

err2:
	if (key != NULL) {
		secret_wipe(key, keylen);
		free(key);
	}
	free(cert);
err1:
	free(srv);
	return (NULL);
}

/*
 * http_server_port(srv): the port actually bound.
 */
uint16_t
http_server_port(const struct http_server *srv)
{
	return (srv->port);
}

/*
 * http_server_free(srv): stop accepting, finish running handlers, free.
 */
void
http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	MHD_stop_daemon(srv->d);
	free(srv);
}
