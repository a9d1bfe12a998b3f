/*
 * cli: command-line client on the public mcpgate client library.
 */
#include "cli/cli.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mcpgate/mcpgate.h"

extern char **environ;

#define LINE_MAX_BYTES (4 * 1024 * 1024)
#define SECRET_FILE_MAX 4096

struct opts {
	const char *url;
	const char *scope;
	const char *client_id;
	const char *client_secret;
	const char *client_secret_file;
	const char *issuer;
	const char *cimd;
	const char *store;
	const char *client_auth;
	const char *timeout;
	int no_browser;
	int client_credentials;
	int no_login;
};

static const char *const commands[] = { "login", "logout", "token", "tools", "call", "status", "bridge" };

int
cli_is_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i]) == 0)
			return (1);
	}
	return (0);
}

void
cli_usage(FILE *f)
{
	fprintf(f, "       mcpgate login URL [--scope S] [--no-browser] [--client-id ID [--client-secret S]]\n"
		   "                         [--client-secret-file FILE] [--issuer URL]\n"
		   "                         [--client-auth basic|post|none] [--client-credentials] [--cimd URL]\n"
		   "       mcpgate logout URL\n"
		   "       mcpgate token URL\n"
		   "       mcpgate tools URL\n"
		   "       mcpgate call URL TOOL [JSON]\n"
		   "       mcpgate status\n"
		   "       mcpgate bridge URL [--no-browser]\n"
		   "Client options: --store DIR (default $XDG_DATA_HOME/mcpgate), --no-login,\n"
		   "--timeout MS (each HTTP request, default 30000);\n"
		   "MCPGATE_CLIENT_SECRET or --client-secret-file FILE (its first line) may hold the\n"
		   "client secret instead of --client-secret, which other users can see in ps.\n");
}

static int
browser_print(const char *url, void *arg)
{
	(void)arg;
	/* stderr: stdout may be a protocol channel (bridge) or a pipe (token). */
	fprintf(stderr, "mcpgate: to log in, open this URL in a browser:\n\n  %s\n\n", url);
	fflush(stderr);
	return (0);
}

static int
browser_open(const char *url, void *arg)
{
	char *argv[] = { "xdg-open", (char *)url, NULL };
	pid_t pid;

	(void)arg;
	/* The URL is always printed: xdg-open may be missing or fail quietly. */
	browser_print(url, NULL);
	if (getenv("DISPLAY") != NULL || getenv("WAYLAND_DISPLAY") != NULL)
		(void)posix_spawnp(&pid, "xdg-open", NULL, NULL, argv, environ);
	return (0);
}

static int
fail(struct mcpgate_client *c, mcpgate_err e, const char *what)
{
	const char *m = c ? mcpgate_client_errmsg(c) : "";

	fprintf(stderr, "mcpgate: %s: %s%s%s\n", what, mcpgate_strerror(e), m[0] ? ": " : "", m);
	switch (e) {
	case MCPGATE_E_NETWORK:
	case MCPGATE_E_TIMEOUT:
		fprintf(stderr, "mcpgate: check the URL and that the server is running.\n");
		break;
	case MCPGATE_E_NOT_LOGGED_IN:
		fprintf(stderr, "mcpgate: run \"mcpgate login URL\" first.\n");
		break;
	case MCPGATE_E_ACCESS_DENIED:
		fprintf(stderr, "mcpgate: consent was denied; run login again to retry.\n");
		break;
	case MCPGATE_E_SCOPE:
		fprintf(stderr, "mcpgate: the account lacks the scope this operation needs.\n");
		break;
	case MCPGATE_E_STORE_CORRUPT:
		fprintf(stderr, "mcpgate: the stored file was not trusted; log out and log in again.\n");
		break;
	default:
		break;
	}
	return (1);
}

static int
parse_opts(int argc, char **argv, int npos, const char **pos, struct opts *o)
{
	int i, k = 0;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

#define ARG(name, field)                                                                                  \
	if (strcmp(a, name) == 0) {                                                                       \
		if (i + 1 >= argc) {                                                                      \
			fprintf(stderr, "mcpgate: %s needs a value\n", name);                             \
			return (-1);                                                                      \
		}                                                                                         \
		o->field = argv[++i];                                                                     \
		continue;                                                                                 \
	}
		ARG("--scope", scope)
		ARG("--client-id", client_id)
		ARG("--client-secret", client_secret)
		ARG("--client-secret-file", client_secret_file)
		ARG("--issuer", issuer)
		ARG("--cimd", cimd)
		ARG("--store", store)
		ARG("--client-auth", client_auth)
		ARG("--timeout", timeout)
#undef ARG
		if (strcmp(a, "--no-browser") == 0) {
			o->no_browser = 1;
			continue;
		}
		if (strcmp(a, "--client-credentials") == 0) {
			o->client_credentials = 1;
			continue;
		}
		if (strcmp(a, "--no-login") == 0) {
			o->no_login = 1;
			continue;
		}
		if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "mcpgate: unknown option %s\n", a);
			return (-1);
		}
		if (k >= npos) {
			fprintf(stderr, "mcpgate: unexpected argument \"%s\"\n", a);
			return (-1);
		}
		pos[k++] = a;
	}
	if ((o->client_secret != NULL || o->client_secret_file != NULL) && o->client_id == NULL) {
		fprintf(stderr, "mcpgate: --client-secret%s needs --client-id\n", o->client_secret_file ? "-file" : "");
		return (-1);
	}
	if (o->issuer != NULL && o->client_id == NULL) {
		fprintf(stderr, "mcpgate: --issuer names the issuer of --client-id; give both\n");
		return (-1);
	}
	if (o->client_secret != NULL && o->client_secret_file != NULL) {
		fprintf(stderr, "mcpgate: give --client-secret or --client-secret-file, not both\n");
		return (-1);
	}
	if (o->client_secret == NULL && o->client_secret_file == NULL && o->client_id != NULL)
		o->client_secret = getenv("MCPGATE_CLIENT_SECRET");
	return (k);
}

/* Read the client secret from the first line of ${path} into ${buf}
 * (${cap} bytes).  A regular file of at most SECRET_FILE_MAX bytes whose
 * first line is not empty; a warning if others may read it. */
static int
read_secret_file(const char *path, char *buf, size_t cap)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		fprintf(stderr, "mcpgate: cannot open the client secret file %s: %s\n", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SECRET_FILE_MAX) {
		fprintf(stderr, "mcpgate: the client secret file %s is not a regular file of at most %d bytes\n",
		    path, SECRET_FILE_MAX);
		close(fd);
		return (-1);
	}
	if ((st.st_mode & 077) != 0)
		fprintf(stderr, "mcpgate: warning: the client secret file %s is readable by others (chmod 600)\n",
		    path);
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "mcpgate: cannot read the client secret file %s: %s\n", path, strerror(errno));
			close(fd);
			explicit_bzero(buf, cap);
			return (-1);
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		fprintf(stderr, "mcpgate: the client secret file %s is empty\n", path);
		explicit_bzero(buf, cap);
		return (-1);
	}
	return (0);
}

static int
make_client(const struct opts *o, const char *url, struct mcpgate_client **out)
{
	struct mcpgate_client *c;
	mcpgate_auth_method m = MCPGATE_AUTH_AUTO;
	mcpgate_err e;
	char secret[SECRET_FILE_MAX + 1];
	const char *sec = o->client_secret;

	if (o->client_auth != NULL) {
		if (strcmp(o->client_auth, "basic") == 0)
			m = MCPGATE_AUTH_BASIC;
		else if (strcmp(o->client_auth, "post") == 0)
			m = MCPGATE_AUTH_POST;
		else if (strcmp(o->client_auth, "none") == 0)
			m = MCPGATE_AUTH_NONE;
		else {
			fprintf(stderr, "mcpgate: --client-auth is basic, post or none\n");
			return (-1);
		}
	}
	if (o->client_secret_file != NULL) {
		if (read_secret_file(o->client_secret_file, secret, sizeof(secret)) != 0)
			return (-1);
		sec = secret;
	}
	if ((e = mcpgate_client_new(url, &c)) != MCPGATE_OK) {
		fprintf(stderr, "mcpgate: \"%s\" is not a usable server URL (http or https, no fragment): %s\n", url,
		    mcpgate_strerror(e));
		explicit_bzero(secret, sizeof(secret));
		return (-1);
	}
	if ((o->timeout && (e = mcpgate_client_set_timeout(c, strtol(o->timeout, NULL, 10))) != MCPGATE_OK) ||
	    (o->store && (e = mcpgate_client_set_store(c, o->store)) != MCPGATE_OK) ||
	    (o->scope && (e = mcpgate_client_set_scope(c, o->scope)) != MCPGATE_OK) ||
	    (o->cimd && (e = mcpgate_client_set_cimd_url(c, o->cimd)) != MCPGATE_OK) ||
	    (o->issuer && (e = mcpgate_client_set_issuer(c, o->issuer)) != MCPGATE_OK) ||
	    (o->client_id &&
	        (e = mcpgate_client_set_credentials(c, o->client_id, sec, m)) != MCPGATE_OK) ||
	    (o->client_credentials && (e = mcpgate_client_set_grant(c, MCPGATE_GRANT_CLIENT_CREDENTIALS)) != MCPGATE_OK) ||
	    (e = mcpgate_client_set_browser(c, o->no_browser ? browser_print : browser_open, NULL)) != MCPGATE_OK ||
	    (e = mcpgate_client_set_auto_login(c, !o->no_login)) != MCPGATE_OK) {
		fprintf(stderr, "mcpgate: bad option: %s\n", mcpgate_strerror(e));
		mcpgate_client_free(c);
		explicit_bzero(secret, sizeof(secret));
		return (-1);
	}
	explicit_bzero(secret, sizeof(secret));
	*out = c;
	return (0);
}

static int
cmd_login(struct mcpgate_client *c)
{
	mcpgate_err e;

	if ((e = mcpgate_auth_login(c)) != MCPGATE_OK)
		return (fail(c, e, "login failed"));
	fprintf(stderr, "mcpgate: logged in.\n");
	return (0);
}

static int
cmd_logout(struct mcpgate_client *c)
{
	mcpgate_err e;

	if ((e = mcpgate_auth_logout(c)) != MCPGATE_OK) {
		if (e == MCPGATE_E_NOT_LOGGED_IN)
			return (fail(c, e, "logout"));
		fail(c, e, "revocation failed (the local tokens were deleted)");
		return (1);
	}
	fprintf(stderr, "mcpgate: logged out; the tokens were revoked and deleted.\n");
	return (0);
}

static int
cmd_token(struct mcpgate_client *c)
{
	char *t = NULL;
	mcpgate_err e;

	if ((e = mcpgate_auth_token(c, &t)) != MCPGATE_OK)
		return (fail(c, e, "no token"));
	printf("%s\n", t);
	mcpgate_free(t);
	return (fflush(stdout) == 0 ? 0 : 1);
}

static int
print_json(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);
	char *pretty;

	if (v == NULL) {
		printf("%s\n", text);
		return (0);
	}
	pretty = json_dumps(v, JSON_INDENT(2));
	json_decref(v);
	printf("%s\n", pretty ? pretty : text);
	free(pretty);
	return (0);
}

static int
cmd_tools(struct mcpgate_client *c)
{
	char *r = NULL;
	mcpgate_err e;

	if ((e = mcpgate_mcp_tools_list(c, &r)) != MCPGATE_OK)
		return (fail(c, e, "tools/list failed"));
	print_json(r);
	mcpgate_free(r);
	return (0);
}

static int
cmd_call(struct mcpgate_client *c, const char *tool, const char *args)
{
	char *r = NULL;
	mcpgate_err e;
	json_t *v, *err;
	json_error_t je;
	int rc = 0;

	if ((e = mcpgate_mcp_tools_call(c, tool, args, &r)) != MCPGATE_OK)
		return (fail(c, e, "the call failed"));
	print_json(r);
	/* A tool error (isError) is a failure for scripts. */
	if ((v = json_loads(r, 0, &je)) != NULL) {
		err = json_object_get(v, "isError");
		if (json_is_true(err))
			rc = 1;
		json_decref(v);
	}
	mcpgate_free(r);
	return (rc);
}

static int
status_one(const char *resource, const char *issuer, const char *client_id, const char *scope, int64_t expires_at,
    int has_refresh, void *arg)
{
	int64_t now = (int64_t)time(NULL);
	char when[64] = "unknown";
	int *n = arg;

	if (expires_at > 0) {
		time_t t = (time_t)expires_at;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	printf("%s\n  issuer:   %s\n  client:   %s\n  scope:    %s\n  expires:  %s%s\n  refresh:  %s\n", resource,
	    issuer, client_id, scope[0] ? scope : "(none)", when,
	    expires_at > 0 && expires_at <= now ? " (expired)" : "", has_refresh ? "yes" : "no");
	(*n)++;
	return (0);
}

static int
cmd_status(const struct opts *o)
{
	int n = 0;
	mcpgate_err e;

	e = mcpgate_store_list(o->store, status_one, &n);
	if (e != MCPGATE_OK && e != MCPGATE_E_STORE_CORRUPT)
		return (fail(NULL, e, "cannot read the token store"));
	if (n == 0)
		printf("no stored logins\n");
	if (e == MCPGATE_E_STORE_CORRUPT)
		return (fail(NULL, e, "a stored file failed authentication and was skipped"));
	return (0);
}

/*
 * bridge: a stdio MCP server (newline-delimited JSON-RPC) forwarding to the
 * remote server.  initialize, ping and notifications/initialized are answered
 * here; every other request is forwarded; notifications are forwarded.
 */
static void
send_msg(json_t *m)
{
	char *s = json_dumps(m, JSON_COMPACT);

	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		free(s);
	}
	json_decref(m);
}

static void
send_error(json_t *id, int code, const char *msg)
{
	send_msg(json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code",
	    code, "message", msg));
}

static const char *
bridge_version(const char *asked)
{
	static const char *const known[] = { "2025-11-25", "2025-06-18", "2025-03-26" };
	size_t i;

	for (i = 0; asked != NULL && i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(asked, known[i]) == 0)
			return (known[i]);
	}
	return (known[0]);
}

static void
bridge_initialize(struct mcpgate_client *c, json_t *id, json_t *params)
{
	char *info = NULL, msg[600];
	json_t *inf = NULL, *caps, *si;
	json_error_t je;
	mcpgate_err e;

	if ((e = mcpgate_mcp_server_info(c, &info)) != MCPGATE_OK) {
		snprintf(msg, sizeof(msg), "mcpgate bridge: cannot reach the remote server: %s: %s", mcpgate_strerror(e),
		    mcpgate_client_errmsg(c));
		fprintf(stderr, "%s\n", msg);
		send_error(id, -32603, msg);
		return;
	}
	inf = json_loads(info, 0, &je);
	mcpgate_free(info);
	caps = inf ? json_object_get(inf, "capabilities") : NULL;
	si = inf ? json_object_get(inf, "serverInfo") : NULL;
	if (si == NULL && inf != NULL)
		si = json_object_get(json_object_get(inf, "_meta"), "io.modelcontextprotocol/serverInfo");
	send_msg(json_pack("{s:s, s:O, s:{s:s, s:O, s:O}}", "jsonrpc", "2.0", "id", id, "result", "protocolVersion",
	    bridge_version(json_string_value(json_object_get(params, "protocolVersion"))), "capabilities",
	    caps ? caps : json_pack("{s:{}}", "tools"), "serverInfo",
	    si ? si : json_pack("{s:s, s:s}", "name", "mcpgate-bridge", "version", MCPGATE_VERSION)));
	if (inf != NULL)
		json_decref(inf);
}

static void
bridge_forward(struct mcpgate_client *c, json_t *id, const char *method, json_t *params)
{
	char *p = NULL, *res = NULL, *err = NULL, msg[600];
	json_t *v;
	json_error_t je;
	mcpgate_err e;

	if (params != NULL && json_is_object(params))
		p = json_dumps(params, JSON_COMPACT);
	e = mcpgate_mcp_request(c, method, p, &res, &err);
	free(p);
	if (e == MCPGATE_OK && (v = json_loads(res, 0, &je)) != NULL) {
		send_msg(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", v));
	} else if (e == MCPGATE_E_RPC && err != NULL && (v = json_loads(err, 0, &je)) != NULL) {
		send_msg(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "error", v));
	} else {
		snprintf(msg, sizeof(msg), "mcpgate bridge: %s: %s", mcpgate_strerror(e), mcpgate_client_errmsg(c));
		fprintf(stderr, "%s\n", msg);
		send_error(id, -32603, msg);
	}
	mcpgate_free(res);
	mcpgate_free(err);
}

static int
cmd_bridge(struct mcpgate_client *c)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	json_t *m, *id, *params;
	json_error_t je;
	const char *method;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n > LINE_MAX_BYTES) {
			send_error(NULL, -32600, "message too large");
			continue;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		if ((m = json_loads(line, JSON_REJECT_DUPLICATES, &je)) == NULL || !json_is_object(m)) {
			if (m != NULL)
				json_decref(m);
			send_error(NULL, -32700, "parse error");
			continue;
		}
		method = json_string_value(json_object_get(m, "method"));
		id = json_object_get(m, "id");
		params = json_object_get(m, "params");
		if (method == NULL) {
			json_decref(m); /* a response to a server request: none are sent */
			continue;
		}
		if (id == NULL) {
			if (strcmp(method, "notifications/initialized") != 0) {
				char *p = params ? json_dumps(params, JSON_COMPACT) : NULL;

				(void)mcpgate_mcp_notify(c, method, p);
				free(p);
			}
		} else if (strcmp(method, "initialize") == 0) {
			bridge_initialize(c, id, params);
		} else if (strcmp(method, "ping") == 0) {
			send_msg(json_pack("{s:s, s:O, s:{}}", "jsonrpc", "2.0", "id", id, "result"));
		} else {
			bridge_forward(c, id, method, params);
		}
		json_decref(m);
	}
	free(line);
	return (0);
}

int
cli_main(int argc, char **argv)
{
	struct mcpgate_client *c = NULL;
	struct opts o;
	const char *pos[3] = { NULL, NULL, NULL };
	const char *cmd = argv[0];
	int npos, rc;

	if (mcpgate_global_init() != MCPGATE_OK) {
		fprintf(stderr, "mcpgate: cannot initialise libcurl\n");
		return (1);
	}
	if ((npos = parse_opts(argc, argv, 3, pos, &o)) < 0)
		return (2);
	if (strcmp(cmd, "status") == 0) {
		if (npos != 0)
			goto usage;
		return (cmd_status(&o));
	}
	if (npos < 1)
		goto usage;
	if (strcmp(cmd, "call") == 0 ? (npos < 2) : (npos != 1))
		goto usage;
	if (make_client(&o, pos[0], &c) != 0)
		return (2);
	if (strcmp(cmd, "login") == 0)
		rc = cmd_login(c);
	else if (strcmp(cmd, "logout") == 0)
		rc = cmd_logout(c);
	else if (strcmp(cmd, "token") == 0)
		rc = cmd_token(c);
	else if (strcmp(cmd, "tools") == 0)
		rc = cmd_tools(c);
	else if (strcmp(cmd, "call") == 0)
		rc = cmd_call(c, pos[1], pos[2]);
	else if (strcmp(cmd, "bridge") == 0)
		rc = cmd_bridge(c);
	else
		goto usage;
	mcpgate_client_free(c);
	return (rc);
usage:
	mcpgate_client_free(c);
	fprintf(stderr, "usage:\n");
	cli_usage(stderr);
	return (2);
}
