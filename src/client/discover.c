/*
 * client/discover: protected resource and authorization server metadata.
 */
#include "client/discover.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/chttp.h"
#include "core/buf.h"

/* Split an absolute http(s) URL into origin ("scheme://authority") and path
 * (without query or fragment); returns the origin length, or 0. */
static size_t
origin_len(const char *u)
{
	const char *a;

	if (strncasecmp(u, "https://", 8) == 0)
		a = u + 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		a = u + 7;
	else
		return (0);
	a += strcspn(a, "/?#");
	return ((size_t)(a - u));
}

static size_t
path_len(const char *p)
{
	return (strcspn(p, "?#"));
}

static char *
join3(const char *a, size_t an, const char *b, const char *c, size_t cn)
{
	size_t n = an + strlen(b) + cn + 1;
	char *s;

	if ((s = malloc(n)) == NULL)
		return (NULL);
	memcpy(s, a, an);
	strcpy(s + an, b);
	memcpy(s + an + strlen(b), c, cn);
	s[n - 1] = '\0';
	return (s);
}

int
discover_prm_urls(const char *server_url, char *out[2])
{
	size_t on = origin_len(server_url), pn;
	const char *path;
	int k = 0;

	out[0] = out[1] = NULL;
	if (on == 0)
		return (-1);
	path = server_url + on;
	pn = path_len(path);
	while (pn > 0 && path[pn - 1] == '/')
		pn--;
	if (pn > 0) {
		if ((out[k++] = join3(server_url, on, "/.well-known/oauth-protected-resource", path, pn)) == NULL)
			goto nomem;
	}
	if ((out[k++] = join3(server_url, on, "/.well-known/oauth-protected-resource", "", 0)) == NULL)
		goto nomem;
	return (k);
nomem:
	free(out[0]);
	out[0] = NULL;
	return (-1);
}

int
discover_as_urls(const char *issuer, char *out[3])
{
	size_t on = origin_len(issuer), pn;
	const char *path;
	int k = 0, i;

	out[0] = out[1] = out[2] = NULL;
	if (on == 0)
		return (-1);
	path = issuer + on;
	pn = path_len(path);
	/* RFC 8414 section 3.1: a terminating "/" is removed before insertion. */
	while (pn > 0 && path[pn - 1] == '/')
		pn--;
	if ((out[k++] = join3(issuer, on, "/.well-known/oauth-authorization-server", path, pn)) == NULL ||
	    (out[k++] = join3(issuer, on, "/.well-known/openid-configuration", path, pn)) == NULL)
		goto nomem;
	if (pn > 0) {
		char *p;

		if ((p = join3(issuer, on, "", path, pn)) == NULL)
			goto nomem;
		out[k] = join3(p, strlen(p), "/.well-known/openid-configuration", "", 0);
		free(p);
		if (out[k++] == NULL)
			goto nomem;
	}
	return (k);
nomem:
	for (i = 0; i < 3; i++) {
		free(out[i]);
		out[i] = NULL;
	}
	return (-1);
}

int
discover_resource_matches(const char *resource, const char *server_url)
{
	size_t ro = origin_len(resource), so = origin_len(server_url), rp, sp;
	const char *rpath, *spath;

	if (ro == 0 || so == 0 || ro != so || strncasecmp(resource, server_url, ro) != 0)
		return (0);
	if (strchr(resource, '#') != NULL)
		return (0);
	rpath = resource + ro;
	spath = server_url + so;
	rp = path_len(rpath);
	sp = path_len(spath);
	if (rpath[rp] == '?')
		return (0); /* a resource with a query names one URL exactly */
	while (rp > 0 && rpath[rp - 1] == '/')
		rp--;
	while (sp > 0 && spath[sp - 1] == '/')
		sp--;
	if (rp > sp || strncmp(rpath, spath, rp) != 0)
		return (0);
	return (rp == sp || spath[rp] == '/');
}

mcpgate_err
discover_get_json(struct mcpgate_client *c, const char *url, size_t max, json_t **doc, long *status)
{
	struct chttp_req q = { 0 };
	struct chttp_resp r;
	json_error_t je;
	mcpgate_err e;

	*doc = NULL;
	*status = 0;
	q.method = "GET";
	q.url = url;
	q.timeout_ms = c->timeout_ms;
	q.max_bytes = max;
	chttp_resp_init(&r);
	if ((e = chttp_do(&q, &r, &c->err)) != MCPGATE_OK)
		goto out;
	*status = r.status;
	if (r.status != 200) {
		e = MCPGATE_E_HTTP;
		goto out;
	}
	*doc = json_loadb(r.body.p ? r.body.p : "", r.body.len, JSON_REJECT_DUPLICATES, &je);
	if (*doc == NULL || !json_is_object(*doc)) {
		if (*doc != NULL)
			json_decref(*doc);
		*doc = NULL;
		e = MCPGATE_E_MALFORMED;
	}
out:
	chttp_resp_clear(&r);
	return (e);
}

/* A string member that is an absolute http(s) URL, or NULL. */
static const char *
url_member(json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	if (s == NULL || strlen(s) > MCPGATE_URL_MAX || origin_len(s) == 0 || strchr(s, '#') != NULL)
		return (NULL);
	return (s);
}

/* The strings of array member ${name} joined by spaces (only scope-safe
 * ones), malloc'd; NULL if absent. */
static char *
joined(json_t *o, const char *name, int *bad)
{
	json_t *a = json_object_get(o, name), *v;
	struct buf b;
	size_t i;
	char *s;

	if (a == NULL || !json_is_array(a))
		return (NULL);
	buf_init(&b, 8192);
	json_array_foreach(a, i, v) {
		const char *t = json_string_value(v);

		if (t == NULL || t[0] == '\0' || strpbrk(t, " \"\\") != NULL)
			continue;
		if ((b.len > 0 && buf_add(&b, " ", 1) != 0) || buf_adds(&b, t) != 0) {
			*bad = 1;
			break;
		}
	}
	s = buf_steal(&b);
	buf_clear(&b);
	if (s == NULL)
		*bad = 1;
	return (s);
}

static int
array_has(json_t *o, const char *name, const char *value)
{
	json_t *a = json_object_get(o, name), *v;
	size_t i;

	json_array_foreach(a, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
			return (1);
	}
	return (0);
}

static mcpgate_err
parse_prm(struct mcpgate_client *c, const char *url, json_t *doc)
{
	const char *res = json_string_value(json_object_get(doc, "resource"));
	json_t *as = json_object_get(doc, "authorization_servers");
	const char *as0 = NULL;
	size_t i;
	json_t *v;
	int bad = 0;

	if (res == NULL || strlen(res) > MCPGATE_URL_MAX)
		return (cerr_set(&c->err, MCPGATE_E_MALFORMED,
		    "protected resource metadata at %.200s has no \"resource\"", url));
	if (!discover_resource_matches(res, c->server_url))
		return (cerr_set(&c->err, MCPGATE_E_RESOURCE_MISMATCH,
		    "protected resource metadata at %.200s is for %.200s, not %.200s", url, res, c->server_url));
	json_array_foreach(as, i, v) {
		const char *s = json_string_value(v);

		if (s != NULL && strlen(s) <= MCPGATE_URL_MAX && origin_len(s) != 0 && strchr(s, '#') == NULL &&
		    strchr(s, '?') == NULL) {
			as0 = s;
			break;
		}
	}
	if (as0 == NULL)
		return (cerr_set(&c->err, MCPGATE_E_MALFORMED,
		    "protected resource metadata at %.200s lists no usable authorization server", url));
	client_prm_clear(&c->prm);
	c->prm.url = client_strdup(url);
	c->prm.resource = client_strdup(res);
	c->prm.as = client_strdup(as0);
	c->prm.scopes_supported = joined(doc, "scopes_supported", &bad);
	if (c->prm.url == NULL || c->prm.resource == NULL || c->prm.as == NULL || bad)
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	return (MCPGATE_OK);
}

mcpgate_err
discover_prm(struct mcpgate_client *c, const char *hint)
{
	char *urls[3] = { NULL, NULL, NULL };
	int n, i, k = 0;
	json_t *doc;
	long status;
	mcpgate_err e = MCPGATE_E_NO_RESOURCE_METADATA, e1;

	if (hint != NULL && hint[0] != '\0') {
		if (origin_len(hint) == 0 || strlen(hint) > MCPGATE_URL_MAX)
			return (cerr_set(&c->err, MCPGATE_E_MALFORMED, "bad resource_metadata URL in the challenge"));
		if ((urls[k++] = strdup(hint)) == NULL)
			return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	}
	if ((n = discover_prm_urls(c->server_url, urls + k)) < 0) {
		free(urls[0]);
		return (cerr_set(&c->err, MCPGATE_E_INVAL, "bad server URL"));
	}
	n += k;
	for (i = 0; i < n; i++) {
		e1 = discover_get_json(c, urls[i], DISCOVER_DOC_MAX, &doc, &status);
		if (e1 == MCPGATE_OK) {
			e = parse_prm(c, urls[i], doc);
			json_decref(doc);
			break;
		}
		/* Unreachable, too big, timed out: no point trying the next. */
		if (e1 != MCPGATE_E_HTTP && e1 != MCPGATE_E_MALFORMED) {
			e = e1;
			break;
		}
	}
	if (e == MCPGATE_E_NO_RESOURCE_METADATA)
		cerr_set(&c->err, e, "no protected resource metadata for %.200s (tried %d URL%s)", c->server_url, n,
		    n == 1 ? "" : "s");
	for (i = 0; i < n; i++)
		free(urls[i]);
	return (e);
}

static mcpgate_err
parse_as(struct mcpgate_client *c, const char *issuer, const char *url, json_t *doc, int need_pkce)
{
	const char *iss = json_string_value(json_object_get(doc, "issuer"));
	const char *authz = url_member(doc, "authorization_endpoint");
	const char *tok = url_member(doc, "token_endpoint");
	int bad = 0;

	if (iss == NULL || strcmp(iss, issuer) != 0)
		return (cerr_set(&c->err, MCPGATE_E_ISSUER_MISMATCH,
		    "the metadata at %.200s names issuer \"%.200s\", not %.200s", url, iss ? iss : "", issuer));
	if (tok == NULL || (need_pkce && authz == NULL))
		return (cerr_set(&c->err, MCPGATE_E_NO_AS_METADATA,
		    "the metadata at %.200s lacks a usable authorization or token endpoint", url));
	if (need_pkce && !array_has(doc, "code_challenge_methods_supported", "S256"))
		return (cerr_set(&c->err, MCPGATE_E_NO_S256,
		    "the authorization server %.200s does not support PKCE S256; refusing to continue", issuer));
	client_asmeta_clear(&c->as);
	c->as.issuer = client_strdup(issuer);
	c->as.authorization_endpoint = client_strdup(authz);
	c->as.token_endpoint = client_strdup(tok);
	c->as.registration_endpoint = client_strdup(url_member(doc, "registration_endpoint"));
	c->as.revocation_endpoint = client_strdup(url_member(doc, "revocation_endpoint"));
	c->as.scopes_supported = joined(doc, "scopes_supported", &bad);
	c->as.cimd = json_is_true(json_object_get(doc, "client_id_metadata_document_supported"));
	c->as.iss_supported = json_is_true(json_object_get(doc, "authorization_response_iss_parameter_supported"));
	if (array_has(doc, "token_endpoint_auth_methods_supported", "none"))
		c->as.auth_methods |= ASM_AUTH_NONE;
	if (array_has(doc, "token_endpoint_auth_methods_supported", "client_secret_basic"))
		c->as.auth_methods |= ASM_AUTH_BASIC;
	if (array_has(doc, "token_endpoint_auth_methods_supported", "client_secret_post"))
		c->as.auth_methods |= ASM_AUTH_POST;
	if (c->as.issuer == NULL || c->as.token_endpoint == NULL || bad ||
	    (authz != NULL && c->as.authorization_endpoint == NULL))
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	return (MCPGATE_OK);
}

mcpgate_err
discover_as(struct mcpgate_client *c, const char *issuer, int need_pkce)
{
	char *urls[3];
	int n, i;
	json_t *doc;
	long status;
	mcpgate_err e = MCPGATE_E_NO_AS_METADATA, e1;

	if ((n = discover_as_urls(issuer, urls)) < 0)
		return (cerr_set(&c->err, MCPGATE_E_MALFORMED, "bad authorization server URL %.200s", issuer));
	for (i = 0; i < n; i++) {
		e1 = discover_get_json(c, urls[i], DISCOVER_DOC_MAX, &doc, &status);
		if (e1 == MCPGATE_OK) {
			e = parse_as(c, issuer, urls[i], doc, need_pkce);
			json_decref(doc);
			break;
		}
		if (e1 != MCPGATE_E_HTTP && e1 != MCPGATE_E_MALFORMED) {
			e = e1;
			break;
		}
	}
	if (e == MCPGATE_E_NO_AS_METADATA)
		cerr_set(&c->err, e, "no authorization server metadata for %.200s", issuer);
	for (i = 0; i < 3; i++)
		free(urls[i]);
	return (e);
}
