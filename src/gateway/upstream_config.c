/*
 * upstream_config: the "mcpServers" object, checked completely before
 * anything starts.
 */
#include "gateway/upstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/secret.h"

static _Thread_local char whybuf[256];

static const char *why_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
why_fmt(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(whybuf, sizeof(whybuf), fmt, ap);
	va_end(ap);
	return (whybuf);
}

/* Server names: [A-Za-z0-9_-]{1,64}, not starting or ending with '_', no
 * "__".  The registry joins names as "server__tool" and splits at the first
 * "__", which these rules make unambiguous. */
static int
name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > UPSTREAM_NAME_MAX || s[0] == '_' || s[n - 1] == '_')
		return (0);
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return (0);
		if (c == '_' && s[i + 1] == '_')
			return (0);
	}
	return (1);
}

/* A string without control characters, at most UPSTREAM_STR_MAX bytes. */
static int
text_ok(const char *s)
{
	size_t n = strnlen(s, UPSTREAM_STR_MAX + 1);

	if (n > UPSTREAM_STR_MAX)
		return (0);
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return (0);
	return (1);
}

/* An HTTP header name: an RFC 9110 token. */
static int
token_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 128)
		return (0);
	for (; *s != '\0'; s++)
		if (strchr("!#$%&'*+-.^_`|~", *s) == NULL &&
		    !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return (0);
	return (1);
}

/* https anywhere, http only to a loopback host: credentials (static headers,
 * the gateway's token, the client secret) must not cross a network in the
 * clear. */
static int
url_ok(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if (!text_ok(url) || (u = curl_url()) == NULL)
		return (0);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
		goto out;
	if (strcasecmp(scheme, "https") == 0)
		ok = 1;
	else if (strcasecmp(scheme, "http") == 0 &&
	    (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
	    strcasecmp(host, "localhost") == 0))
		ok = 1;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return (ok);
}

static void
free_strv(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++) {
		secret_wipe(v[i], strlen(v[i]));
		free(v[i]);
	}
	free(v);
}

static void
free_str(char *s)
{
	if (s == NULL)
		return;
	secret_wipe(s, strlen(s));
	free(s);
}

static void
clear_one(struct upstream_config *c)
{
	size_t i;

	free(c->name);
	free_strv(c->argv);
	free_strv(c->envp);
	free(c->url);
	for (i = 0; i < c->nheaders; i++) {
		free(c->headers[i].name);
		free_str(c->headers[i].value);
	}
	free(c->headers);
	if (c->oauth != NULL) {
		free(c->oauth->token_endpoint);
		free(c->oauth->client_id);
		free_str(c->oauth->client_secret);
		free(c->oauth->scope);
		free(c->oauth->resource);
		free(c->oauth);
	}
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* A string member ${key} of ${o}, or NULL when absent; -1 when present but
 * not a string acceptable by text_ok(). */
static int
get_str(json_t *o, const char *key, char **out, int required)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL)
		return (required ? -1 : 0);
	if (!json_is_string(v) || !text_ok(json_string_value(v)) ||
	    json_string_length(v) != strlen(json_string_value(v)))
		return (-1);
	if (required && json_string_value(v)[0] == '\0')
		return (-1);
	if ((*out = strdup(json_string_value(v))) == NULL)
		return (-1);
	return (0);
}

static int
parse_oauth(json_t *o, struct upstream_config *c, const char **why)
{
	static const char *keys[] = {"token_endpoint", "client_id", "client_secret", "scope", "resource"};
	struct upstream_oauth *a;
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(o)) {
		*why = why_fmt("mcpServers.%s.oauth: must be an object", c->name);
		return (-1);
	}
	json_object_foreach(o, k, v) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			*why = why_fmt("mcpServers.%s.oauth: unknown key", c->name);
			return (-1);
		}
	}
	if ((a = c->oauth = calloc(1, sizeof(*a))) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	if (get_str(o, "token_endpoint", &a->token_endpoint, 1) || !url_ok(a->token_endpoint)) {
		*why = why_fmt("mcpServers.%s.oauth.token_endpoint: an https URL (or http to loopback) "
		    "is required", c->name);
		return (-1);
	}
	if (get_str(o, "client_id", &a->client_id, 1) || get_str(o, "client_secret", &a->client_secret, 1)) {
		*why = why_fmt("mcpServers.%s.oauth: client_id and client_secret are required strings",
		    c->name);
		return (-1);
	}
	if (get_str(o, "scope", &a->scope, 0) || get_str(o, "resource", &a->resource, 0)) {
		*why = why_fmt("mcpServers.%s.oauth: scope and resource must be strings", c->name);
		return (-1);
	}
	return (0);
}

static int
parse_stdio(json_t *o, struct upstream_config *c, const char **why)
{
	json_t *args = json_object_get(o, "args"), *env = json_object_get(o, "env"), *v;
	const char *k;
	size_t i, n;

	if (args != NULL && (!json_is_array(args) || json_array_size(args) > UPSTREAM_ARGS_MAX)) {
		*why = why_fmt("mcpServers.%s.args: an array of at most %d strings", c->name,
		    UPSTREAM_ARGS_MAX);
		return (-1);
	}
	if (env != NULL && (!json_is_object(env) || json_object_size(env) > UPSTREAM_ENV_MAX)) {
		*why = why_fmt("mcpServers.%s.env: an object of at most %d strings", c->name,
		    UPSTREAM_ENV_MAX);
		return (-1);
	}
	n = args ? json_array_size(args) : 0;
	if ((c->argv = calloc(n + 2, sizeof(char *))) == NULL)
		goto nomem;
	if (get_str(o, "command", &c->argv[0], 1)) {
		*why = why_fmt("mcpServers.%s.command: a non-empty string", c->name);
		return (-1);
	}
	c->argc = 1;
	for (i = 0; i < n; i++) {
		v = json_array_get(args, i);
		if (!json_is_string(v) || !text_ok(json_string_value(v)) ||
		    json_string_length(v) != strlen(json_string_value(v))) {
			*why = why_fmt("mcpServers.%s.args[%zu]: a string without control characters",
			    c->name, i);
			return (-1);
		}
		if ((c->argv[c->argc] = strdup(json_string_value(v))) == NULL)
			goto nomem;
		c->argc++;
	}
	n = env ? json_object_size(env) : 0;
	if ((c->envp = calloc(n + 1, sizeof(char *))) == NULL)
		goto nomem;
	if (env == NULL)
		return (0);
	json_object_foreach(env, k, v) {
		if (!token_ok(k) || strchr(k, '=') != NULL || !json_is_string(v) ||
		    !text_ok(json_string_value(v)) ||
		    json_string_length(v) != strlen(json_string_value(v))) {
			*why = why_fmt("mcpServers.%s.env: names are tokens without '=', values strings",
			    c->name);
			return (-1);
		}
		if (asprintf(&c->envp[c->envc], "%s=%s", k, json_string_value(v)) < 0) {
			c->envp[c->envc] = NULL;
			goto nomem;
		}
		c->envc++;
	}
	return (0);
nomem:
	*why = "out of memory";
	return (-1);
}

static int
parse_http(json_t *o, struct upstream_config *c, const char **why)
{
	json_t *h = json_object_get(o, "headers"), *v;
	const char *k;

	if (get_str(o, "url", &c->url, 1) || !url_ok(c->url)) {
		*why = why_fmt("mcpServers.%s.url: an https URL (or http to loopback) is required", c->name);
		return (-1);
	}
	if (h != NULL && (!json_is_object(h) || json_object_size(h) > UPSTREAM_HEADERS_MAX)) {
		*why = why_fmt("mcpServers.%s.headers: an object of at most %d strings", c->name,
		    UPSTREAM_HEADERS_MAX);
		return (-1);
	}
	if (h != NULL && json_object_size(h) > 0 &&
	    (c->headers = calloc(json_object_size(h), sizeof(*c->headers))) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	if (h != NULL) {
		json_object_foreach(h, k, v) {
			/* Headers the transport owns may not be configured. */
			static const char *reserved[] = {"Content-Type", "Accept", "Content-Length",
			    "Host", "Mcp-Session-Id", "MCP-Protocol-Version", "Transfer-Encoding",
			    "Connection", "Last-Event-ID"};
			size_t i;

			if (!token_ok(k) || !json_is_string(v) || !text_ok(json_string_value(v)) ||
			    json_string_length(v) != strlen(json_string_value(v))) {
				*why = why_fmt("mcpServers.%s.headers: names are tokens, values strings "
				    "without control characters", c->name);
				return (-1);
			}
			for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
				if (strcasecmp(k, reserved[i]) == 0) {
					*why = why_fmt("mcpServers.%s.headers: %s is set by the gateway",
					    c->name, reserved[i]);
					return (-1);
				}
			if (strcasecmp(k, "Authorization") == 0 && json_object_get(o, "oauth") != NULL) {
				*why = why_fmt("mcpServers.%s: Authorization header and oauth exclude "
				    "each other", c->name);
				return (-1);
			}
			c->headers[c->nheaders].name = strdup(k);
			c->headers[c->nheaders].value = strdup(json_string_value(v));
			c->nheaders++;
			if (c->headers[c->nheaders - 1].name == NULL ||
			    c->headers[c->nheaders - 1].value == NULL) {
				*why = "out of memory";
				return (-1);
			}
		}
	}
	if ((v = json_object_get(o, "oauth")) != NULL && parse_oauth(v, c, why))
		return (-1);
	return (0);
}

static int
get_ms(json_t *o, const char *key, int64_t def, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	*out = def;
	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > UPSTREAM_TIMEOUT_MAX_MS)
		return (-1);
	*out = json_integer_value(v);
	return (0);
}

static int
parse_one(const char *name, json_t *o, struct upstream_config *c, const char **why)
{
	static const char *keys[] = {"command", "args", "env", "url", "headers", "oauth", "scope",
	    "isolation", "timeout_ms", "idle_ms", "max_calls", "namespace", "type", "transport"};
	const char *k, *s;
	json_t *v;
	size_t i;

	if (!name_ok(name)) {
		*why = why_fmt("mcpServers: a server name must be 1-%d characters of A-Z a-z 0-9 - _, "
		    "with no \"__\" and no '_' at either end", UPSTREAM_NAME_MAX);
		return (-1);
	}
	if ((c->name = strdup(name)) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	if (!json_is_object(o)) {
		*why = why_fmt("mcpServers.%s: must be an object", name);
		return (-1);
	}
	json_object_foreach(o, k, v) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			*why = why_fmt("mcpServers.%s: unknown key \"%.64s\"", name, k);
			return (-1);
		}
	}
	/* "type" / "transport" appear in some clients' files; accept only
	 * values that agree with the shape. */
	if ((v = json_object_get(o, "type")) == NULL)
		v = json_object_get(o, "transport");
	if (v != NULL && (!json_is_string(v) ||
	    (strcmp(json_string_value(v), "stdio") != 0 && strcmp(json_string_value(v), "http") != 0 &&
	    strcmp(json_string_value(v), "streamable-http") != 0 &&
	    strcmp(json_string_value(v), "streamableHttp") != 0))) {
		*why = why_fmt("mcpServers.%s.type: \"stdio\" or \"http\"", name);
		return (-1);
	}
	if ((json_object_get(o, "command") != NULL) == (json_object_get(o, "url") != NULL)) {
		*why = why_fmt("mcpServers.%s: exactly one of command and url", name);
		return (-1);
	}
	if (json_object_get(o, "command") != NULL) {
		if (json_object_get(o, "headers") || json_object_get(o, "oauth")) {
			*why = why_fmt("mcpServers.%s: headers and oauth are for url servers", name);
			return (-1);
		}
		if (v != NULL && strcmp(json_string_value(v), "stdio") != 0) {
			*why = why_fmt("mcpServers.%s.type: does not match command", name);
			return (-1);
		}
		c->kind = UPSTREAM_STDIO;
		if (parse_stdio(o, c, why))
			return (-1);
	} else {
		if (json_object_get(o, "args") || json_object_get(o, "env")) {
			*why = why_fmt("mcpServers.%s: args and env are for command servers", name);
			return (-1);
		}
		if (v != NULL && strcmp(json_string_value(v), "stdio") == 0) {
			*why = why_fmt("mcpServers.%s.type: does not match url", name);
			return (-1);
		}
		c->kind = UPSTREAM_HTTP;
		if (parse_http(o, c, why))
			return (-1);
	}
	if (get_str(o, "scope", &c->scope, 0) ||
	    (c->scope != NULL && (c->scope[0] == '\0' || strchr(c->scope, ' ') != NULL ||
	    strlen(c->scope) > 128))) {
		*why = why_fmt("mcpServers.%s.scope: one scope token", name);
		return (-1);
	}
	c->isolation = UPSTREAM_SHARED;
	if ((v = json_object_get(o, "isolation")) != NULL) {
		s = json_string_value(v);
		if (s != NULL && strcmp(s, "shared") == 0)
			c->isolation = UPSTREAM_SHARED;
		else if (s != NULL && strcmp(s, "per-user") == 0)
			c->isolation = UPSTREAM_PER_USER;
		else {
			*why = why_fmt("mcpServers.%s.isolation: \"shared\" or \"per-user\"", name);
			return (-1);
		}
	}
	if (get_ms(o, "timeout_ms", UPSTREAM_TIMEOUT_DEFAULT_MS, &c->timeout_ms) ||
	    get_ms(o, "idle_ms", UPSTREAM_IDLE_DEFAULT_MS, &c->idle_ms)) {
		*why = why_fmt("mcpServers.%s: timeout_ms and idle_ms are integers from 1 to %d", name,
		    UPSTREAM_TIMEOUT_MAX_MS);
		return (-1);
	}
	c->max_calls = UPSTREAM_PENDING_MAX;
	if ((v = json_object_get(o, "max_calls")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > UPSTREAM_PENDING_MAX) {
			*why = why_fmt("mcpServers.%s.max_calls: an integer from 1 to %d", name,
			    UPSTREAM_PENDING_MAX);
			return (-1);
		}
		c->max_calls = (size_t)json_integer_value(v);
	}
	c->namespaced = 1;
	if ((v = json_object_get(o, "namespace")) != NULL) {
		if (!json_is_boolean(v)) {
			*why = why_fmt("mcpServers.%s.namespace: true or false", name);
			return (-1);
		}
		c->namespaced = json_is_true(v);
	}
	return (0);
}

/*
 * upstream_config_parse(servers, out, why): parse the "mcpServers" object
 * ${servers} into ${out}.  Returns 0, or -1 with ${why} set.
 */
int
upstream_config_parse(json_t *servers, struct upstream_configs *out, const char **why)
{
	const char *name;
	json_t *o;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(servers)) {
		*why = "mcpServers: must be an object";
		return (-1);
	}
	if ((n = json_object_size(servers)) > UPSTREAM_SERVERS_MAX) {
		*why = why_fmt("mcpServers: at most %d servers", UPSTREAM_SERVERS_MAX);
		return (-1);
	}
	if (n == 0)
		return (0);
	if ((out->v = calloc(n, sizeof(*out->v))) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	json_object_foreach(servers, name, o) {
		if (parse_one(name, o, &out->v[out->n++], why))
			goto err0;
	}
	return (0);
err0:
	upstream_config_clear(out);
	return (-1);
}

/*
 * upstream_config_clear(c): free everything ${c} holds, secrets wiped.
 */
void
upstream_config_clear(struct upstream_configs *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		clear_one(&c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}
