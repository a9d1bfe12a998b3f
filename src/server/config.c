#include "server/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/secret.h"
#include "gateway/mrtr.h"

static const struct {
	const char *name, *description;
} default_scopes[] = {
	{"mcp:read", "Read data through MCP tools, resources and prompts"},
	{"mcp:write", "Make changes through MCP tools"},
	{"mcp:github", "Use the GitHub tools"},
	{"mcp:jira", "Use the Jira tools"},
};

static void problem(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
problem(const char *path, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mcpgate: %s: ", path ? path : "configuration");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fprintf(stderr, "mcpgate: out of memory\n");
		exit(1);
	}
	return (d);
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

static char *
xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		fprintf(stderr, "mcpgate: out of memory\n");
		exit(1);
	}
	va_end(ap);
	return (s);
}

/* Check that every key of ${o} is in the NULL-terminated list ${keys}. */
static int
only_keys(const char *path, const char *where, json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(o)) {
		problem(path, "\"%s\" must be an object", where);
		return (-1);
	}
	json_object_foreach(o, k, v) {
		/* "$comment" keys annotate the file and are ignored. */
		if (strncmp(k, "$comment", 8) == 0)
			continue;
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (keys[i] == NULL) {
			problem(path, "unknown key \"%s\" in %s", k, where);
			return (-1);
		}
	}
	return (0);
}

static int
get_str(const char *path, json_t *o, const char *key, char **dst)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return (0);
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4096) {
		problem(path, "\"%s\" must be a non-empty string", key);
		return (-1);
	}
	set_str(dst, json_string_value(v));
	return (0);
}

static int
get_int(const char *path, json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *dst)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		problem(path, "\"%s\" must be an integer from %lld to %lld", key, (long long)lo, (long long)hi);
		return (-1);
	}
	*dst = json_integer_value(v);
	return (0);
}

static int
get_bool(const char *path, json_t *o, const char *key, int *dst)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return (0);
	if (!json_is_boolean(v)) {
		problem(path, "\"%s\" must be true or false", key);
		return (-1);
	}
	*dst = json_is_true(v);
	return (0);
}

/* "${key}": {"max": N, "window": SECONDS} */
static int
get_rate(const char *path, json_t *o, const char *key, struct config_rate *dst)
{
	static const char *const k_rate[] = {"max", "window", NULL};
	json_t *v = json_object_get(o, key);
	char where[64];
	int64_t n;

	if (v == NULL)
		return (0);
	snprintf(where, sizeof(where), "\"rate_limits.%s\"", key);
	if (only_keys(path, where, v, k_rate))
		return (-1);
	n = dst->max;
	if (get_int(path, v, "max", 0, 1000000, &n) || get_int(path, v, "window", 1, 86400, &dst->window))
		return (-1);
	dst->max = (unsigned)n;
	return (0);
}

/* A host is loopback when it is 127.0.0.0/8, ::1 or localhost. */
static int
host_is_loopback(const char *h)
{
	return (strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcmp(h, "[::1]") == 0 ||
	    strcmp(h, "localhost") == 0);
}

/* An issuer is an https URL (or http on loopback) with no query, fragment
 * or trailing slash (RFC 8414 section 2). */
static int
check_issuer(const char *path, const char *iss)
{
	const char *host, *end;
	char h[256];
	size_t n;

	if (strncmp(iss, "https://", 8) == 0)
		host = iss + 8;
	else if (strncmp(iss, "http://", 7) == 0)
		host = iss + 7;
	else
		goto bad;
	if (strpbrk(iss, "?#") != NULL || iss[strlen(iss) - 1] == '/')
		goto bad;
	end = host + strcspn(host, "/");
	n = (size_t)(end - host);
	if (n == 0 || n >= sizeof(h))
		goto bad;
	memcpy(h, host, n);
	h[n] = '\0';
	/* Strip a port: the last ':' after any ']' */
	if (h[0] == '[') {
		char *rb = strchr(h, ']');
		if (rb == NULL)
			goto bad;
		rb[1] = '\0';
	} else if (strchr(h, ':') != NULL) {
		*strchr(h, ':') = '\0';
	}
	if (iss[4] == ':' && !host_is_loopback(h)) {
		problem(path, "issuer must use https unless its host is loopback: %s", iss);
		return (-1);
	}
	return (0);
bad:
	problem(path, "issuer must be an absolute https URL without query, fragment or trailing slash: %s",
	    iss);
	return (-1);
}

/* A deep copy of ${v} without the "$comment..." keys of its objects, so
 * that the modules' parsers, which refuse unknown keys, see none. */
static json_t *
uncommented(json_t *v)
{
	json_t *c, *e;
	const char *k;
	size_t i;

	if (json_is_object(v)) {
		if ((c = json_object()) == NULL)
			return (NULL);
		json_object_foreach(v, k, e) {
			if (strncmp(k, "$comment", 8) == 0)
				continue;
			if (json_object_set_new(c, k, uncommented(e)) != 0) {
				json_decref(c);
				return (NULL);
			}
		}
		return (c);
	}
	if (json_is_array(v)) {
		if ((c = json_array()) == NULL)
			return (NULL);
		json_array_foreach(v, i, e) {
			if (json_array_append_new(c, uncommented(e)) != 0) {
				json_decref(c);
				return (NULL);
			}
		}
		return (c);
	}
	return (json_incref(v));
}

/* Run a module's parser on the uncommented copy of root.${key}. */
static int
module_parse(const char *path, json_t *root, const char *key, int (*fn)(json_t *, void *, const char **),
    void *out)
{
	json_t *o, *c;
	const char *why = "out of memory";
	int rc = -1;

	if ((o = json_object_get(root, key)) == NULL)
		return (0);
	if ((c = uncommented(o)) != NULL)
		rc = fn(c, out, &why);
	json_decref(c);
	if (rc != 0)
		problem(path, "\"%s\": %s", key, why);
	return (rc);
}

static int
p_upstream(json_t *o, void *out, const char **why)
{
	return (upstream_config_parse(o, out, why));
}

static int
p_auth(json_t *o, void *out, const char **why)
{
	rs_config_clear(out);
	return (rs_config_parse(o, out, why));
}

static int
p_policy(json_t *o, void *out, const char **why)
{
	return (policy_config_parse(o, out, why));
}

static int
p_audit(json_t *o, void *out, const char **why)
{
	return (audit_config_parse(o, out, why));
}

/* The gateway's sections: "gateway", "authorization_server", and the
 * modules' own objects, each checked by its module's parser. */
static int
load_gateway(struct config *cfg, const char *path, json_t *root)
{
	static const char *const k_gw[] = {"enabled", "path", "resource", "allowed_origins", "timeout_ms",
	    "sessions", "sse_heartbeat", "page_size", "list_ttl_ms", "read_ttl_ms", "mrtr", NULL};
	static const char *const k_sess[] = {"max", "idle_timeout", NULL};
	static const char *const k_mrtr[] = {"ttl_ms", "max", "per_principal", "per_subject", NULL};
	static const char *const k_as[] = {"enabled", NULL};
	json_t *o, *v, *w;
	int64_t n;
	size_t i;

	if ((o = json_object_get(root, "authorization_server")) != NULL) {
		if (only_keys(path, "\"authorization_server\"", o, k_as) ||
		    get_bool(path, o, "enabled", &cfg->as_enabled))
			return (-1);
	}
	if ((o = json_object_get(root, "gateway")) != NULL) {
		if (only_keys(path, "\"gateway\"", o, k_gw) || get_bool(path, o, "enabled", &cfg->gateway.enabled) ||
		    get_str(path, o, "path", &cfg->gateway.path) ||
		    get_str(path, o, "resource", &cfg->gateway.resource) ||
		    get_int(path, o, "timeout_ms", 100, UPSTREAM_TIMEOUT_MAX_MS, &cfg->gateway.timeout_ms) ||
		    get_int(path, o, "page_size", 1, LISTS_PAGE_SIZE_MAX, &cfg->gateway.page_size) ||
		    get_int(path, o, "list_ttl_ms", 0, LISTS_TTL_MAX_MS, &cfg->gateway.list_ttl_ms) ||
		    get_int(path, o, "read_ttl_ms", 0, LISTS_TTL_MAX_MS, &cfg->gateway.read_ttl_ms))
			return (-1);
		if (cfg->gateway.path[0] != '/' || strpbrk(cfg->gateway.path, "?#% \t") != NULL ||
		    strcmp(cfg->gateway.path, "/") == 0 || strncmp(cfg->gateway.path, "/.well-known", 12) == 0) {
			problem(path, "\"gateway.path\" must be an absolute path like /mcp");
			return (-1);
		}
		n = cfg->gateway.sse_heartbeat_s;
		if (get_int(path, o, "sse_heartbeat", 1, 3600, &n))
			return (-1);
		cfg->gateway.sse_heartbeat_s = (unsigned)n;
		if ((v = json_object_get(o, "sessions")) != NULL) {
			if (only_keys(path, "\"gateway.sessions\"", v, k_sess) ||
			    get_int(path, v, "max", 1, 1000000, &cfg->gateway.sessions_max) ||
			    get_int(path, v, "idle_timeout", 10, 30 * 86400, &cfg->gateway.session_idle_s))
				return (-1);
		}
		if ((v = json_object_get(o, "mrtr")) != NULL) {
			if (only_keys(path, "\"gateway.mrtr\"", v, k_mrtr) ||
			    get_int(path, v, "ttl_ms", MRTR_TTL_MIN_MS, MRTR_TTL_MAX_MS, &cfg->gateway.mrtr_ttl_ms) ||
			    get_int(path, v, "max", 1, MRTR_MAX_LIMIT, &cfg->gateway.mrtr_max) ||
			    get_int(path, v, "per_principal", 1, MRTR_MAX_LIMIT, &cfg->gateway.mrtr_per_principal) ||
			    get_int(path, v, "per_subject", 1, MRTR_MAX_LIMIT, &cfg->gateway.mrtr_per_subject))
				return (-1);
		}
		if ((v = json_object_get(o, "allowed_origins")) != NULL) {
			if (!json_is_array(v) || json_array_size(v) > CONFIG_LIST_MAX) {
				problem(path, "\"gateway.allowed_origins\" must be a list of origins");
				return (-1);
			}
			json_array_foreach(v, i, w) {
				if (!json_is_string(w) || json_string_length(w) == 0 ||
				    json_string_length(w) > 512 ||
				    strpbrk(json_string_value(w), " \t\r\n") != NULL) {
					problem(path, "\"gateway.allowed_origins\" must be a list of origins");
					return (-1);
				}
				cfg->gateway.origins[cfg->gateway.norigins++] = xstrdup(json_string_value(w));
			}
		}
	}
	if (module_parse(path, root, "mcpServers", p_upstream, &cfg->mcp_servers) ||
	    module_parse(path, root, "auth", p_auth, &cfg->auth) ||
	    module_parse(path, root, "policy", p_policy, &cfg->policy) ||
	    module_parse(path, root, "audit", p_audit, &cfg->audit))
		return (-1);
	return (0);
}

/* Without a file: when $MCPGATE_NODE_MODULES names the npm tree of `make
 * run`, front its filesystem server (on DATA_DIR/demo) and everything
 * server, started with $MCPGATE_NODE (default "node"). */
static int
demo_servers(struct config *cfg)
{
	const char *nm, *node, *why;
	json_t *o;
	char *fs, *ev, *demo;
	int rc;

	if ((nm = getenv("MCPGATE_NODE_MODULES")) == NULL || *nm != '/')
		return (0);
	if ((node = getenv("MCPGATE_NODE")) == NULL || *node == '\0')
		node = "node";
	fs = xasprintf("%s/@modelcontextprotocol/server-filesystem/dist/index.js", nm);
	ev = xasprintf("%s/@modelcontextprotocol/server-everything/dist/index.js", nm);
	demo = xasprintf("%s/demo", cfg->data_dir);
	o = json_pack("{s:{s:s, s:[s, s]}, s:{s:s, s:[s, s]}}", "filesystem", "command", node, "args", fs,
	    demo, "everything", "command", node, "args", ev, "stdio");
	free(fs);
	free(ev);
	free(demo);
	if (o == NULL) {
		fprintf(stderr, "mcpgate: out of memory\n");
		exit(1);
	}
	rc = upstream_config_parse(o, &cfg->mcp_servers, &why);
	json_decref(o);
	if (rc != 0)
		problem(NULL, "demo servers: %s", why);
	return (rc);
}

/* The origin (scheme://authority) of the URL ${u}, malloc'd. */
static char *
url_origin(const char *u)
{
	const char *p = strstr(u, "://");
	size_t n;

	p = p ? p + 3 : u;
	n = (size_t)(p - u) + strcspn(p, "/?#");
	return (xasprintf("%.*s", (int)n, u));
}

static int
check_gateway(struct config *cfg, const char *path)
{
	char *origin;
	const char *as;

	if (cfg->gateway.resource == NULL) {
		/* Default: the issuer's origin and the path; when "resources" were
		 * configured without it, the first of them. */
		origin = url_origin(cfg->issuer);
		cfg->gateway.resource = xasprintf("%s%s", origin, cfg->gateway.path);
		free(origin);
		if (cfg->nresources > 0 && !config_has_resource(cfg, cfg->gateway.resource))
			set_str(&cfg->gateway.resource, cfg->resources[0]);
	}
	if (strncmp(cfg->gateway.resource, "https://", 8) != 0 &&
	    strncmp(cfg->gateway.resource, "http://", 7) != 0) {
		problem(path, "\"gateway.resource\" must be an absolute URL");
		return (-1);
	}
	if (cfg->nresources == 0)
		cfg->resources[cfg->nresources++] = xstrdup(cfg->gateway.resource);
	if (!cfg->as_enabled && !cfg->gateway.enabled) {
		problem(path, "both the authorization server and the gateway are disabled");
		return (-1);
	}
	if (!cfg->gateway.enabled)
		return (0);
	if (cfg->as_enabled) {
		if (!config_has_resource(cfg, cfg->gateway.resource)) {
			problem(path, "the gateway's resource %s is not one of \"resources\"",
			    cfg->gateway.resource);
			return (-1);
		}
		as = cfg->auth.issuer != NULL ? cfg->auth.issuer : cfg->issuer;
	} else {
		if (cfg->auth.mode == RS_MODE_LOCAL || cfg->auth.issuer == NULL) {
			problem(path, "a gateway without the authorization server needs \"auth\" in jwks or "
				      "introspection mode, with its \"issuer\"");
			return (-1);
		}
		as = cfg->auth.issuer;
	}
	cfg->gateway.authorization_servers[cfg->gateway.nas++] = xstrdup(as);
	return (0);
}

static int
load_file(struct config *cfg, const char *path)
{
	static const char *const top[] = {"listen", "tls", "issuer", "data_dir", "store", "master_key_file",
	    "scopes", "resources", "demo_user", "registration", "cimd", "tokens", "login", "log",
	    "mcpServers", "auth", "policy", "audit", "gateway", "authorization_server", "rate_limits",
	    NULL};
	static const char *const k_listen[] = {"address", "port", "threads", "body_max", "timeout",
	    "per_ip_connections", "behind_tls_proxy", NULL};
	static const char *const k_rates[] = {"register", "authorize", NULL};
	static const char *const k_tls[] = {"cert", "key", NULL};
	static const char *const k_demo[] = {"username", "password", NULL};
	static const char *const k_reg[] = {"policy", "initial_access_token", "reap_after",
	    "allow_confidential", "loopback_only", NULL};
	static const char *const k_cimd[] = {"enabled", "allow_private", "allow_http", "cache_ttl", NULL};
	static const char *const k_tok[] = {"access_ttl", "code_ttl", "refresh_ttl", "refresh_idle_ttl",
	    "session_ttl", NULL};
	static const char *const k_login[] = {"max_failures", "window", NULL};
	static const char *const k_log[] = {"level", NULL};
	json_error_t jerr;
	json_t *root, *o, *v;
	int64_t n;
	size_t i;
	char *s = NULL;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		problem(path, "line %d: %s", jerr.line, jerr.text);
		return (-1);
	}
	if (only_keys(path, "the top level", root, top))
		goto err;

	if ((o = json_object_get(root, "listen")) != NULL) {
		if (only_keys(path, "\"listen\"", o, k_listen) || get_str(path, o, "address", &cfg->listen_addr))
			goto err;
		n = cfg->port;
		if (get_int(path, o, "port", 0, 65535, &n))
			goto err;
		cfg->port = (uint16_t)n;
		n = cfg->threads;
		if (get_int(path, o, "threads", 0, 256, &n))
			goto err;
		cfg->threads = (unsigned)n;
		n = (int64_t)cfg->body_max;
		if (get_int(path, o, "body_max", 1024, 16 * 1024 * 1024, &n))
			goto err;
		cfg->body_max = (size_t)n;
		n = cfg->timeout_s;
		if (get_int(path, o, "timeout", 1, 3600, &n))
			goto err;
		cfg->timeout_s = (unsigned)n;
		n = cfg->per_ip_connections;
		if (get_int(path, o, "per_ip_connections", 0, 1000000, &n))
			goto err;
		cfg->per_ip_connections = (unsigned)n;
		if (get_bool(path, o, "behind_tls_proxy", &cfg->behind_tls_proxy))
			goto err;
	}
	if ((o = json_object_get(root, "tls")) != NULL) {
		if (only_keys(path, "\"tls\"", o, k_tls) || get_str(path, o, "cert", &cfg->tls_cert) ||
		    get_str(path, o, "key", &cfg->tls_key))
			goto err;
		if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
			problem(path, "\"tls\" needs both \"cert\" and \"key\"");
			goto err;
		}
	}
	if (get_str(path, root, "issuer", &cfg->issuer) || get_str(path, root, "data_dir", &cfg->data_dir) ||
	    get_str(path, root, "store", &cfg->store_url) ||
	    get_str(path, root, "master_key_file", &cfg->master_key_file))
		goto err;

	if ((o = json_object_get(root, "scopes")) != NULL) {
		/* ["mcp:read", ...] or {"mcp:read": "description", ...} */
		for (i = 0; i < cfg->nscopes; i++) {
			free(cfg->scopes[i].name);
			free(cfg->scopes[i].description);
		}
		cfg->nscopes = 0;
		if (json_is_array(o)) {
			json_array_foreach(o, i, v) {
				if (!json_is_string(v) || cfg->nscopes == CONFIG_LIST_MAX)
					goto bad_scopes;
				cfg->scopes[cfg->nscopes].name = xstrdup(json_string_value(v));
				cfg->scopes[cfg->nscopes].description = xstrdup(json_string_value(v));
				cfg->nscopes++;
			}
		} else if (json_is_object(o)) {
			const char *k;
			json_object_foreach(o, k, v) {
				if (strncmp(k, "$comment", 8) == 0)
					continue;
				if (!json_is_string(v) || cfg->nscopes == CONFIG_LIST_MAX)
					goto bad_scopes;
				cfg->scopes[cfg->nscopes].name = xstrdup(k);
				cfg->scopes[cfg->nscopes].description = xstrdup(json_string_value(v));
				cfg->nscopes++;
			}
		} else {
			goto bad_scopes;
		}
		for (i = 0; i < cfg->nscopes; i++) {
			const char *p;
			for (p = cfg->scopes[i].name; *p; p++)
				/* RFC 6749 section 3.3 scope-token characters */
				if (*p < 0x21 || *p == 0x22 || *p == 0x5c || *p > 0x7e)
					goto bad_scopes;
			if (cfg->scopes[i].name[0] == '\0')
				goto bad_scopes;
		}
	}
	if ((o = json_object_get(root, "resources")) != NULL) {
		if (!json_is_array(o) || json_array_size(o) == 0 || json_array_size(o) > CONFIG_LIST_MAX) {
			problem(path, "\"resources\" must be a non-empty array of URLs");
			goto err;
		}
		json_array_foreach(o, i, v) {
			if (!json_is_string(v) || strpbrk(json_string_value(v), "#") != NULL ||
			    (strncmp(json_string_value(v), "https://", 8) != 0 &&
				strncmp(json_string_value(v), "http://", 7) != 0)) {
				problem(path, "\"resources\" entries must be absolute URLs without fragment");
				goto err;
			}
			cfg->resources[cfg->nresources++] = xstrdup(json_string_value(v));
		}
	}
	if ((o = json_object_get(root, "demo_user")) != NULL) {
		if (only_keys(path, "\"demo_user\"", o, k_demo) ||
		    get_str(path, o, "username", &cfg->demo_username) ||
		    get_str(path, o, "password", &cfg->demo_password))
			goto err;
		if (cfg->demo_username == NULL)
			set_str(&cfg->demo_username, "demo");
	}
	if ((o = json_object_get(root, "registration")) != NULL) {
		if (only_keys(path, "\"registration\"", o, k_reg) || get_str(path, o, "policy", &s))
			goto err;
		if (s != NULL) {
			if (strcmp(s, "open") == 0)
				cfg->registration.policy = REG_OPEN;
			else if (strcmp(s, "token") == 0)
				cfg->registration.policy = REG_TOKEN;
			else if (strcmp(s, "closed") == 0)
				cfg->registration.policy = REG_CLOSED;
			else {
				problem(path, "\"registration.policy\" must be open, token or closed");
				goto err;
			}
		}
		if (get_str(path, o, "initial_access_token", &cfg->registration.initial_access_token) ||
		    get_int(path, o, "reap_after", 0, INT32_MAX, &cfg->registration.reap_after) ||
		    get_bool(path, o, "allow_confidential", &cfg->registration.allow_confidential) ||
		    get_bool(path, o, "loopback_only", &cfg->registration.loopback_only))
			goto err;
		if (cfg->registration.policy == REG_TOKEN &&
		    (cfg->registration.initial_access_token == NULL ||
			strlen(cfg->registration.initial_access_token) < 16)) {
			problem(path, "registration policy \"token\" needs an initial_access_token of 16 "
				      "characters or more");
			goto err;
		}
	}
	if ((o = json_object_get(root, "cimd")) != NULL) {
		if (only_keys(path, "\"cimd\"", o, k_cimd) || get_bool(path, o, "enabled", &cfg->cimd.enabled) ||
		    get_bool(path, o, "allow_private", &cfg->cimd.allow_private) ||
		    get_bool(path, o, "allow_http", &cfg->cimd.allow_http) ||
		    get_int(path, o, "cache_ttl", 0, 86400, &cfg->cimd.cache_ttl))
			goto err;
	}
	if ((o = json_object_get(root, "tokens")) != NULL) {
		if (only_keys(path, "\"tokens\"", o, k_tok) ||
		    get_int(path, o, "access_ttl", 10, 86400, &cfg->tokens.access_ttl) ||
		    get_int(path, o, "code_ttl", 1, 600, &cfg->tokens.code_ttl) ||
		    get_int(path, o, "refresh_ttl", 60, 366 * 86400, &cfg->tokens.refresh_ttl) ||
		    get_int(path, o, "refresh_idle_ttl", 60, 366 * 86400, &cfg->tokens.refresh_idle_ttl) ||
		    get_int(path, o, "session_ttl", 60, 30 * 86400, &cfg->tokens.session_ttl))
			goto err;
	}
	if ((o = json_object_get(root, "login")) != NULL) {
		n = cfg->login.max_failures;
		if (only_keys(path, "\"login\"", o, k_login) || get_int(path, o, "max_failures", 1, 1000, &n) ||
		    get_int(path, o, "window", 1, 86400, &cfg->login.window))
			goto err;
		cfg->login.max_failures = (unsigned)n;
	}
	if ((o = json_object_get(root, "rate_limits")) != NULL) {
		if (only_keys(path, "\"rate_limits\"", o, k_rates) ||
		    get_rate(path, o, "register", &cfg->rate_register) ||
		    get_rate(path, o, "authorize", &cfg->rate_authorize))
			goto err;
	}
	if ((o = json_object_get(root, "log")) != NULL) {
		free(s);
		s = NULL;
		if (only_keys(path, "\"log\"", o, k_log) || get_str(path, o, "level", &s))
			goto err;
		cfg->log_debug = s != NULL && strcmp(s, "debug") == 0;
	}
	if (load_gateway(cfg, path, root))
		goto err;
	free(s);
	json_decref(root);
	return (0);

bad_scopes:
	problem(path, "\"scopes\" must be a list of scope names or an object of name: description");
err:
	free(s);
	json_decref(root);
	return (-1);
}

int
config_load(struct config *cfg, const char *path)
{
	const char *env;
	size_t i;
	char *end;
	long port;

	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_addr = xstrdup("127.0.0.1");
	cfg->port = 8080;
	if ((env = getenv("MCPGATE_PORT")) != NULL && *env) {
		errno = 0;
		port = strtol(env, &end, 10);
		if (errno || *end || port < 0 || port > 65535) {
			problem(NULL, "MCPGATE_PORT must be a port number");
			goto err;
		}
		cfg->port = (uint16_t)port;
	}
	cfg->registration.policy = REG_OPEN;
	cfg->registration.reap_after = 86400;
	cfg->registration.allow_confidential = 0;
	cfg->registration.loopback_only = 1;
	cfg->cimd.enabled = 1;
	cfg->cimd.cache_ttl = 300;
	cfg->tokens.access_ttl = 600;
	cfg->tokens.code_ttl = 60;
	cfg->tokens.refresh_ttl = 30 * 86400;
	cfg->tokens.refresh_idle_ttl = 7 * 86400;
	cfg->tokens.session_ttl = 8 * 3600;
	cfg->login.max_failures = 5;
	cfg->login.window = 300;
	cfg->per_ip_connections = CONFIG_PER_IP_CONNECTIONS_DEFAULT;
	cfg->rate_register.max = CONFIG_RATE_REGISTER_MAX_DEFAULT;
	cfg->rate_register.window = CONFIG_RATE_REGISTER_WINDOW_DEFAULT;
	cfg->rate_authorize.max = CONFIG_RATE_AUTHORIZE_MAX_DEFAULT;
	cfg->rate_authorize.window = CONFIG_RATE_AUTHORIZE_WINDOW_DEFAULT;
	for (i = 0; i < sizeof(default_scopes) / sizeof(default_scopes[0]); i++) {
		cfg->scopes[i].name = xstrdup(default_scopes[i].name);
		cfg->scopes[i].description = xstrdup(default_scopes[i].description);
	}
	cfg->nscopes = i;
	cfg->as_enabled = 1;
	cfg->gateway.enabled = 1;
	cfg->gateway.path = xstrdup("/mcp");
	cfg->gateway.timeout_ms = CONFIG_GW_TIMEOUT_DEFAULT_MS;
	cfg->gateway.sessions_max = CONFIG_GW_SESSIONS_MAX_DEFAULT;
	cfg->gateway.session_idle_s = CONFIG_GW_SESSION_IDLE_DEFAULT_S;
	cfg->gateway.sse_heartbeat_s = 15;
	cfg->gateway.page_size = LISTS_PAGE_SIZE_DEFAULT;
	cfg->gateway.list_ttl_ms = LISTS_TTL_DEFAULT_MS;
	cfg->gateway.read_ttl_ms = LISTS_READ_TTL_DEFAULT_MS;
	cfg->gateway.mrtr_ttl_ms = MRTR_TTL_DEFAULT_MS;
	cfg->gateway.mrtr_max = MRTR_MAX_DEFAULT;
	cfg->gateway.mrtr_per_principal = MRTR_PER_PRINCIPAL_DEFAULT;
	cfg->gateway.mrtr_per_subject = MRTR_PER_SUBJECT_DEFAULT;
	policy_config_init(&cfg->policy);
	audit_config_init(&cfg->audit);
	if (rs_config_parse(NULL, &cfg->auth, &env) != 0) {
		problem(path, "\"auth\": %s", env);
		goto err;
	}
	if (path == NULL) {
		cfg->demo_username = xstrdup("demo");
	} else if (load_file(cfg, path)) {
		config_clear(cfg);
		return (-1);
	}
	/* Environment defaults for what the file left unset. */
	if (cfg->data_dir == NULL)
		cfg->data_dir = xstrdup((env = getenv("MCPGATE_DATA")) && *env ? env : "./var");
	if (cfg->demo_username != NULL && cfg->demo_password == NULL &&
	    (env = getenv("MCPGATE_DEMO_PASSWORD")) != NULL && *env)
		cfg->demo_password = xstrdup(env);
	if (cfg->issuer == NULL) {
		const char *h = cfg->listen_addr;
		int v6 = strchr(h, ':') != NULL;

		if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
			h = v6 ? "::1" : "127.0.0.1";
		cfg->issuer = xasprintf("%s://%s%s%s:%u", cfg->tls_cert ? "https" : "http", v6 ? "[" : "", h,
		    v6 ? "]" : "", cfg->port);
	}
	if (check_issuer(path, cfg->issuer))
		goto err;
	if (cfg->store_url == NULL)
		cfg->store_url = xasprintf("sqlite:%s/mcpgate.db", cfg->data_dir);
	if (cfg->master_key_file == NULL)
		cfg->master_key_file = xasprintf("%s/master.key", cfg->data_dir);
	if (cfg->audit.file == NULL)
		cfg->audit.file = xasprintf("%s/audit.log", cfg->data_dir);
	if (path == NULL && demo_servers(cfg))
		goto err;
	if (check_gateway(cfg, path))
		goto err;
	return (0);
err:
	config_clear(cfg);
	return (-1);
}

void
config_clear(struct config *cfg)
{
	size_t i;

	free(cfg->listen_addr);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->issuer);
	free(cfg->data_dir);
	free(cfg->store_url);
	free(cfg->master_key_file);
	for (i = 0; i < cfg->nscopes; i++) {
		free(cfg->scopes[i].name);
		free(cfg->scopes[i].description);
	}
	for (i = 0; i < cfg->nresources; i++)
		free(cfg->resources[i]);
	free(cfg->gateway.path);
	free(cfg->gateway.resource);
	for (i = 0; i < cfg->gateway.norigins; i++)
		free(cfg->gateway.origins[i]);
	for (i = 0; i < cfg->gateway.nas; i++)
		free(cfg->gateway.authorization_servers[i]);
	upstream_config_clear(&cfg->mcp_servers);
	rs_config_clear(&cfg->auth);
	policy_config_clear(&cfg->policy);
	audit_config_clear(&cfg->audit);
	free(cfg->demo_username);
	if (cfg->demo_password != NULL) {
		secret_wipe(cfg->demo_password, strlen(cfg->demo_password));
		free(cfg->demo_password);
	}
	if (cfg->registration.initial_access_token != NULL) {
		secret_wipe(cfg->registration.initial_access_token, strlen(cfg->registration.initial_access_token));
		free(cfg->registration.initial_access_token);
	}
	memset(cfg, 0, sizeof(*cfg));
}

int
config_has_scope(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nscopes; i++)
		if (strcmp(cfg->scopes[i].name, name) == 0)
			return (1);
	return (0);
}

const char *
config_scope_description(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nscopes; i++)
		if (strcmp(cfg->scopes[i].name, name) == 0)
			return (cfg->scopes[i].description);
	return (name);
}

int
config_has_resource(const struct config *cfg, const char *uri)
{
	size_t i;

	for (i = 0; i < cfg->nresources; i++)
		if (strcmp(cfg->resources[i], uri) == 0)
			return (1);
	return (0);
}
