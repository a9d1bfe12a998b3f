/*
 * client/client: the handle, its options, and small shared helpers.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/chttp.h"
#include "client/internal.h"
#include "client/session.h"
#include "core/secret.h"

#define LOGIN_TIMEOUT_DEFAULT 300

static const char *const errstr[] = {
	[MCPGATE_OK] = "success",
	[MCPGATE_E_INVAL] = "invalid argument",
	[MCPGATE_E_NOMEM] = "out of memory",
	[MCPGATE_E_NETWORK] = "server unreachable",
	[MCPGATE_E_TIMEOUT] = "request timed out",
	[MCPGATE_E_TOO_BIG] = "response too large",
	[MCPGATE_E_HTTP] = "unexpected HTTP status",
	[MCPGATE_E_MALFORMED] = "malformed response",
	[MCPGATE_E_NO_RESOURCE_METADATA] = "no protected resource metadata",
	[MCPGATE_E_NO_AS_METADATA] = "no usable authorization server metadata",
	[MCPGATE_E_ISSUER_MISMATCH] = "authorization server issuer mismatch",
	[MCPGATE_E_NO_S256] = "authorization server does not support PKCE S256",
	[MCPGATE_E_RESOURCE_MISMATCH] = "protected resource metadata names another resource",
	[MCPGATE_E_REGISTRATION] = "client registration failed",
	[MCPGATE_E_ACCESS_DENIED] = "access denied",
	[MCPGATE_E_AUTHORIZATION] = "authorization failed",
	[MCPGATE_E_STATE] = "authorization response with a wrong state",
	[MCPGATE_E_ISS] = "authorization response from the wrong issuer",
	[MCPGATE_E_LOGIN_TIMEOUT] = "login timed out",
	[MCPGATE_E_BROWSER] = "cannot open a browser",
	[MCPGATE_E_TOKEN] = "token request refused",
	[MCPGATE_E_SCOPE] = "insufficient scope",
	[MCPGATE_E_UNAUTHORIZED] = "unauthorized",
	[MCPGATE_E_NOT_LOGGED_IN] = "not logged in",
	[MCPGATE_E_STORE] = "token store error",
	[MCPGATE_E_STORE_CORRUPT] = "token store file corrupted",
	[MCPGATE_E_LOCK] = "token store busy",
	[MCPGATE_E_RPC] = "MCP server returned an error",
	[MCPGATE_E_PROTOCOL] = "MCP protocol error",
	[MCPGATE_E_INTERNAL] = "internal error",
};

const char *
mcpgate_strerror(mcpgate_err e)
{
	if ((unsigned)e >= sizeof(errstr) / sizeof(errstr[0]) || errstr[e] == NULL)
		return ("unknown error");
	return (errstr[e]);
}

mcpgate_err
mcpgate_global_init(void)
{
	client_jansson_init();
	return (chttp_global_init() == 0 ? MCPGATE_OK : MCPGATE_E_INTERNAL);
}

/* jansson's free, wiping first: its copies of tokens and secrets. */
static void
wiping_free(void *p)
{
	if (p == NULL)
		return;
	secret_wipe(p, malloc_usable_size(p));
	free(p);
}

static pthread_once_t jansson_once = PTHREAD_ONCE_INIT;

static void
jansson_init(void)
{
	json_malloc_t m;
	json_free_t f;

	/* Only over jansson's defaults: a program's own allocator stays.
	 * Objects allocated before the switch came from malloc too. */
	json_get_alloc_funcs(&m, &f);
	if (m == malloc && f == free)
		json_set_alloc_funcs(malloc, wiping_free);
}

void
client_jansson_init(void)
{
	pthread_once(&jansson_once, jansson_init);
}

void
mcpgate_free(char *p)
{
	if (p == NULL)
		return;
	secret_wipe(p, strlen(p));
	free(p);
}

char *
client_strdup(const char *s)
{
	return (s == NULL ? NULL : strdup(s));
}

void
client_strfree(char **p)
{
	mcpgate_free(*p);
	*p = NULL;
}

void
client_prm_clear(struct prm *p)
{
	client_strfree(&p->url);
	client_strfree(&p->resource);
	client_strfree(&p->as);
	client_strfree(&p->scopes_supported);
}

void
client_asmeta_clear(struct asmeta *m)
{
	client_strfree(&m->issuer);
	client_strfree(&m->authorization_endpoint);
	client_strfree(&m->token_endpoint);
	client_strfree(&m->registration_endpoint);
	client_strfree(&m->revocation_endpoint);
	client_strfree(&m->scopes_supported);
	m->cimd = m->iss_supported = 0;
	m->auth_methods = 0;
}

void
client_creds_clear(struct creds *cr)
{
	client_strfree(&cr->issuer);
	client_strfree(&cr->client_id);
	client_strfree(&cr->client_secret);
	client_strfree(&cr->source);
	cr->method = MCPGATE_AUTH_AUTO;
	cr->port = 0;
}

void
client_tokens_clear(struct tokens *t)
{
	client_strfree(&t->access_token);
	client_strfree(&t->refresh_token);
	client_strfree(&t->scope);
	t->expires_at = 0;
}

int
client_scope_has(const char *s, const char *scope)
{
	size_t n = strlen(scope), k;

	if (s == NULL || n == 0)
		return (0);
	while (*s != '\0') {
		while (*s == ' ')
			s++;
		k = strcspn(s, " ");
		if (k == n && strncmp(s, scope, n) == 0)
			return (1);
		s += k;
	}
	return (0);
}

static int
append_scopes(char *out, size_t *len, const char *s)
{
	size_t k;
	char one[1024];

	if (s == NULL)
		return (0);
	while (*s != '\0') {
		while (*s == ' ')
			s++;
		if ((k = strcspn(s, " ")) == 0)
			break;
		if (k >= sizeof(one))
			return (-1);
		memcpy(one, s, k);
		one[k] = '\0';
		out[*len] = '\0';
		if (!client_scope_has(out, one)) {
			if (*len > 0)
				out[(*len)++] = ' ';
			memcpy(out + *len, s, k);
			*len += k;
		}
		s += k;
	}
	out[*len] = '\0';
	return (0);
}

char *
client_scope_union(const char *a, const char *b)
{
	size_t cap = (a ? strlen(a) : 0) + (b ? strlen(b) : 0) + 2, len = 0;
	char *out;

	if ((out = malloc(cap)) == NULL)
		return (NULL);
	out[0] = '\0';
	if (append_scopes(out, &len, a) != 0 || append_scopes(out, &len, b) != 0 || len == 0) {
		free(out);
		return (NULL);
	}
	return (out);
}

/* A server URL: http(s), a host, no userinfo, no fragment, printable ASCII. */
static int
server_url_ok(const char *u)
{
	const char *host, *p;
	size_t i, n = strlen(u);

	if (n == 0 || n > MCPGATE_URL_MAX)
		return (0);
	for (i = 0; i < n; i++) {
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
			return (0);
	}
	if (strncasecmp(u, "https://", 8) == 0)
		host = u + 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		host = u + 7;
	else
		return (0);
	if (strchr(u, '#') != NULL)
		return (0);
	p = host + strcspn(host, "/?");
	if (p == host || memchr(host, '@', (size_t)(p - host)) != NULL)
		return (0);
	return (1);
}

static char *
default_store_dir(void)
{
	const char *x = getenv("XDG_DATA_HOME"), *home;
	size_t n;
	char *d;

	if (x != NULL && x[0] == '/') {
		n = strlen(x) + sizeof("/mcpgate");
		if ((d = malloc(n)) != NULL) {
			strcpy(d, x);
			strcat(d, "/mcpgate");
		}
		return (d);
	}
	if ((home = getenv("HOME")) == NULL || home[0] != '/')
		return (NULL);
	n = strlen(home) + sizeof("/.local/share/mcpgate");
	if ((d = malloc(n)) != NULL) {
		strcpy(d, home);
		strcat(d, "/.local/share/mcpgate");
	}
	return (d);
}

char *
client_default_store_dir(void)
{
	return (default_store_dir());
}

mcpgate_err
mcpgate_client_new(const char *server_url, struct mcpgate_client **out)
{
	struct mcpgate_client *c;

	*out = NULL;
	if (server_url == NULL || !server_url_ok(server_url))
		return (MCPGATE_E_INVAL);
	client_jansson_init();
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (MCPGATE_E_NOMEM);
	c->timeout_ms = 30000;
	c->login_timeout_s = LOGIN_TIMEOUT_DEFAULT;
	c->auto_login = 1;
	c->next_id = 1;
	if ((c->server_url = strdup(server_url)) == NULL || (c->proto = strdup("2026-07-28")) == NULL ||
	    (c->client_name = strdup("mcpgate")) == NULL || (c->client_version = strdup(MCPGATE_VERSION)) == NULL)
		goto nomem;
	c->store_dir = default_store_dir(); /* NULL: memory only */
	*out = c;
	return (MCPGATE_OK);
nomem:
	mcpgate_client_free(c);
	return (MCPGATE_E_NOMEM);
}

void
mcpgate_client_free(struct mcpgate_client *c)
{
	if (c == NULL)
		return;
	session_close(c);
	client_strfree(&c->server_url);
	client_strfree(&c->opt_client_id);
	client_strfree(&c->opt_client_secret);
	client_strfree(&c->opt_cimd_url);
	client_strfree(&c->opt_issuer);
	client_strfree(&c->opt_scope);
	client_strfree(&c->store_dir);
	client_strfree(&c->proto);
	client_strfree(&c->client_name);
	client_strfree(&c->client_version);
	client_prm_clear(&c->prm);
	client_asmeta_clear(&c->as);
	client_creds_clear(&c->creds);
	client_tokens_clear(&c->tok);
	client_strfree(&c->requested_scope);
	client_strfree(&c->version);
	client_strfree(&c->session_id);
	if (c->server_info != NULL)
		json_decref(c->server_info);
	if (c->tool_schemas != NULL)
		json_decref(c->tool_schemas);
	if (c->capabilities != NULL)
		json_decref(c->capabilities);
	secret_wipe(c, sizeof(*c));
	free(c);
}

const char *
mcpgate_client_errmsg(const struct mcpgate_client *c)
{
	return (c == NULL ? "" : c->err.msg);
}

/* Replace *${dst} with a copy of ${s} (NULL clears). */
static mcpgate_err
set_str(char **dst, const char *s)
{
	char *n = NULL;

	if (s != NULL && (n = strdup(s)) == NULL)
		return (MCPGATE_E_NOMEM);
	client_strfree(dst);
	*dst = n;
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_client_set_credentials(struct mcpgate_client *c, const char *client_id, const char *client_secret,
    mcpgate_auth_method method)
{
	if (c == NULL || client_id == NULL || client_id[0] == '\0' || strlen(client_id) > 1024 ||
	    (client_secret != NULL && strlen(client_secret) > 1024) || (unsigned)method > MCPGATE_AUTH_POST)
		return (MCPGATE_E_INVAL);
	if (set_str(&c->opt_client_id, client_id) != MCPGATE_OK ||
	    set_str(&c->opt_client_secret, client_secret && client_secret[0] ? client_secret : NULL) != MCPGATE_OK)
		return (MCPGATE_E_NOMEM);
	c->opt_method = method;
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_client_set_issuer(struct mcpgate_client *c, const char *issuer)
{
	if (c == NULL || issuer == NULL || !server_url_ok(issuer))
		return (MCPGATE_E_INVAL);
	return (set_str(&c->opt_issuer, issuer));
}

mcpgate_err
mcpgate_client_set_cimd_url(struct mcpgate_client *c, const char *url)
{
	/* draft-ietf-oauth-client-id-metadata-document: https with a path. */
	if (c == NULL || url == NULL || strncmp(url, "https://", 8) != 0 || !server_url_ok(url) ||
	    strchr(url + 8, '/') == NULL)
		return (MCPGATE_E_INVAL);
	return (set_str(&c->opt_cimd_url, url));
}

mcpgate_err
mcpgate_client_set_scope(struct mcpgate_client *c, const char *scope)
{
	size_t i;

	if (c == NULL || (scope != NULL && strlen(scope) > 4096))
		return (MCPGATE_E_INVAL);
	for (i = 0; scope != NULL && scope[i] != '\0'; i++) {
		/* RFC 6749 section 3.3: scope-token = 1*NQCHAR, joined by SP. */
		unsigned char ch = (unsigned char)scope[i];

		if (ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x7f)
			return (MCPGATE_E_INVAL);
	}
	return (set_str(&c->opt_scope, scope && scope[0] ? scope : NULL));
}

mcpgate_err
mcpgate_client_set_grant(struct mcpgate_client *c, mcpgate_grant g)
{
	if (c == NULL || (unsigned)g > MCPGATE_GRANT_CLIENT_CREDENTIALS)
		return (MCPGATE_E_INVAL);
	c->grant = g;
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_client_set_browser(struct mcpgate_client *c, mcpgate_browser_fn *fn, void *arg)
{
	if (c == NULL)
		return (MCPGATE_E_INVAL);
	c->browser = fn;
	c->browser_arg = arg;
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_client_set_store(struct mcpgate_client *c, const char *dir)
{
	if (c == NULL || (dir != NULL && (dir[0] == '\0' || strlen(dir) > 1024)))
		return (MCPGATE_E_INVAL);
	return (set_str(&c->store_dir, dir));
}

mcpgate_err
mcpgate_client_set_timeout(struct mcpgate_client *c, long ms)
{
	if (c == NULL || ms < 1 || ms > 600000)
		return (MCPGATE_E_INVAL);
	c->timeout_ms = ms;
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_client_set_login_timeout(struct mcpgate_client *c, int seconds)
{
	if (c == NULL || seconds < 1 || seconds > 3600)
		return (MCPGATE_E_INVAL);
	c->login_timeout_s = seconds;
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_client_set_auto_login(struct mcpgate_client *c, int on)
{
	if (c == NULL)
		return (MCPGATE_E_INVAL);
	c->auto_login = (on != 0);
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_client_set_protocol_version(struct mcpgate_client *c, const char *v)
{
	if (c == NULL || v == NULL || !session_version_known(v))
		return (MCPGATE_E_INVAL);
	return (set_str(&c->proto, v));
}

mcpgate_err
mcpgate_client_set_client_info(struct mcpgate_client *c, const char *name, const char *version)
{
	if (c == NULL || name == NULL || version == NULL || name[0] == '\0' || strlen(name) > 256 ||
	    strlen(version) > 64)
		return (MCPGATE_E_INVAL);
	if (set_str(&c->client_name, name) != MCPGATE_OK || set_str(&c->client_version, version) != MCPGATE_OK)
		return (MCPGATE_E_NOMEM);
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_client_set_request_handler(struct mcpgate_client *c, mcpgate_request_fn *fn, void *arg,
    const char *capabilities)
{
	json_error_t je;
	json_t *caps = NULL;

	if (c == NULL)
		return (MCPGATE_E_INVAL);
	if (capabilities != NULL) {
		if (strlen(capabilities) > 65536 || (caps = json_loads(capabilities, 0, &je)) == NULL)
			return (MCPGATE_E_INVAL);
		if (!json_is_object(caps)) {
			json_decref(caps);
			return (MCPGATE_E_INVAL);
		}
	}
	if (c->capabilities != NULL)
		json_decref(c->capabilities);
	c->capabilities = caps;
	c->req_fn = fn;
	c->req_arg = arg;
	return (MCPGATE_OK);
}
