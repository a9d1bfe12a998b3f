/*
 * client/authflow: discovery, registration, the grants, refresh, revocation
 * and the persistence of tokens and registrations.
 */
#include "client/authflow.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/chttp.h"
#include "client/discover.h"
#include "client/loopback.h"
#include "client/tokstore.h"
#include "core/b64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/secret.h"
#include "http/form.h"
#include "oauth/pkce.h"

extern char **environ;

#define FORM_MAX (64 * 1024)
#define TOKEN_RESPONSE_MAX (256 * 1024)
#define DESC_MAX 200

/* Copy printable ASCII of a server-supplied text for an error message (a
 * hostile server must not inject terminal escapes into our output). */
static void
sanitize(char *out, size_t cap, const char *in)
{
	size_t i, n = 0;

	for (i = 0; in != NULL && in[i] != '\0' && n + 1 < cap; i++)
		out[n++] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[n] = '\0';
}

/*
 * The store.
 */

static mcpgate_err
store_open(struct mcpgate_client *c, struct tokstore *s, int create)
{
	if (c->store_dir == NULL) {
		memset(s, 0, sizeof(*s));
		return (MCPGATE_OK);
	}
	return (tokstore_open(s, c->store_dir, create, &c->err));
}

static const char *
jstr(json_t *o, const char *k)
{
	return (json_string_value(json_object_get(o, k)));
}

static json_t *
tokens_doc(struct mcpgate_client *c)
{
	json_t *d = json_object();

	if (d == NULL)
		return (NULL);
	json_object_set_new(d, "v", json_integer(1));
	json_object_set_new(d, "server_url", json_string(c->server_url));
	if (c->prm.resource)
		json_object_set_new(d, "resource", json_string(c->prm.resource));
	if (c->as.issuer)
		json_object_set_new(d, "issuer", json_string(c->as.issuer));
	if (c->as.token_endpoint)
		json_object_set_new(d, "token_endpoint", json_string(c->as.token_endpoint));
	if (c->as.revocation_endpoint)
		json_object_set_new(d, "revocation_endpoint", json_string(c->as.revocation_endpoint));
	if (c->creds.client_id)
		json_object_set_new(d, "client_id", json_string(c->creds.client_id));
	json_object_set_new(d, "access_token", json_string(c->tok.access_token));
	if (c->tok.refresh_token)
		json_object_set_new(d, "refresh_token", json_string(c->tok.refresh_token));
	json_object_set_new(d, "expires_at", json_integer(c->tok.expires_at));
	if (c->tok.scope)
		json_object_set_new(d, "scope", json_string(c->tok.scope));
	if (c->requested_scope)
		json_object_set_new(d, "requested_scope", json_string(c->requested_scope));
	return (d);
}

static mcpgate_err
save_tokens(struct mcpgate_client *c)
{
	struct tokstore s;
	json_t *d;
	mcpgate_err e;

	if (c->store_dir == NULL)
		return (MCPGATE_OK);
	if ((e = store_open(c, &s, 1)) != MCPGATE_OK)
		return (e);
	if ((d = tokens_doc(c)) == NULL) {
		tokstore_close(&s);
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	}
	e = tokstore_put(&s, 't', c->server_url, d, &c->err);
	json_decref(d);
	tokstore_close(&s);
	return (e);
}

static mcpgate_err
save_creds(struct mcpgate_client *c)
{
	struct tokstore s;
	json_t *d;
	mcpgate_err e;

	if (c->store_dir == NULL || strcmp(c->creds.source, "cimd") == 0)
		return (MCPGATE_OK);
	if ((e = store_open(c, &s, 1)) != MCPGATE_OK)
		return (e);
	if ((d = json_object()) == NULL) {
		tokstore_close(&s);
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	}
	json_object_set_new(d, "v", json_integer(1));
	json_object_set_new(d, "issuer", json_string(c->creds.issuer));
	json_object_set_new(d, "client_id", json_string(c->creds.client_id));
	if (c->creds.client_secret)
		json_object_set_new(d, "client_secret", json_string(c->creds.client_secret));
	json_object_set_new(d, "method", json_integer(c->creds.method));
	json_object_set_new(d, "port", json_integer(c->creds.port));
	json_object_set_new(d, "source", json_string(c->creds.source));
	e = tokstore_put(&s, 'c', c->creds.issuer, d, &c->err);
	json_decref(d);
	tokstore_close(&s);
	return (e);
}

/* Fill c->creds from a stored registration document. */
static int
creds_from_doc(struct mcpgate_client *c, json_t *d, const char *issuer)
{
	const char *id = jstr(d, "client_id"), *iss = jstr(d, "issuer"), *src = jstr(d, "source");
	json_int_t m = json_integer_value(json_object_get(d, "method"));

	if (id == NULL || iss == NULL || strcmp(iss, issuer) != 0 || src == NULL || m < 0 || m > MCPGATE_AUTH_POST)
		return (-1);
	client_creds_clear(&c->creds);
	c->creds.issuer = client_strdup(iss);
	c->creds.client_id = client_strdup(id);
	c->creds.client_secret = client_strdup(jstr(d, "client_secret"));
	c->creds.method = (mcpgate_auth_method)m;
	c->creds.port = (int)json_integer_value(json_object_get(d, "port"));
	c->creds.source = client_strdup(src);
	if (c->creds.issuer == NULL || c->creds.client_id == NULL || c->creds.source == NULL)
		return (-1);
	c->have_creds = 1;
	return (0);
}

static mcpgate_err
load_creds(struct mcpgate_client *c, const char *issuer, int *found)
{
	struct tokstore s;
	json_t *d = NULL;
	mcpgate_err e;

	*found = 0;
	if (c->store_dir == NULL)
		return (MCPGATE_OK);
	if ((e = store_open(c, &s, 0)) != MCPGATE_OK)
		return (e);
	e = tokstore_get(&s, 'c', issuer, &d, &c->err);
	tokstore_close(&s);
	if (e != MCPGATE_OK || d == NULL)
		return (e);
	if (creds_from_doc(c, d, issuer) == 0)
		*found = 1;
	json_decref(d);
	return (MCPGATE_OK);
}

static int
set_public_creds(struct mcpgate_client *c, const char *iss, const char *cid)
{
	client_creds_clear(&c->creds);
	c->creds.issuer = client_strdup(iss);
	c->creds.client_id = client_strdup(cid);
	c->creds.source = client_strdup("cimd");
	c->have_creds = (c->creds.issuer != NULL && c->creds.client_id != NULL && c->creds.source != NULL);
	return (c->have_creds ? 0 : -1);
}

/* Take the tokens (and what is needed to refresh them) from a stored
 * document.  Returns 0, or -1 if it is unusable. */
static int
tokens_from_doc(struct mcpgate_client *c, json_t *d)
{
	const char *at = jstr(d, "access_token"), *iss = jstr(d, "issuer"), *te = jstr(d, "token_endpoint");
	const char *cid = jstr(d, "client_id"), *su = jstr(d, "server_url");
	int found;

	if (at == NULL || iss == NULL || te == NULL || cid == NULL || su == NULL || strcmp(su, c->server_url) != 0)
		return (-1);
	/* Tokens of another authorization server than the one discovered are
	 * never sent (the server moved: log in again). */
	if (c->have_meta && strcmp(iss, c->as.issuer) != 0)
		return (-1);
	client_tokens_clear(&c->tok);
	c->tok.access_token = client_strdup(at);
	c->tok.refresh_token = client_strdup(jstr(d, "refresh_token"));
	c->tok.scope = client_strdup(jstr(d, "scope"));
	c->tok.expires_at = json_integer_value(json_object_get(d, "expires_at"));
	if (!c->have_meta) {
		client_asmeta_clear(&c->as);
		c->as.issuer = client_strdup(iss);
		c->as.token_endpoint = client_strdup(te);
		c->as.revocation_endpoint = client_strdup(jstr(d, "revocation_endpoint"));
		client_strfree(&c->prm.resource);
		c->prm.resource = client_strdup(jstr(d, "resource"));
	}
	client_strfree(&c->requested_scope);
	c->requested_scope = client_strdup(jstr(d, "requested_scope"));
	if (c->tok.access_token == NULL)
		return (-1);
	if (c->have_creds && c->creds.client_id != NULL && strcmp(c->creds.client_id, cid) == 0 &&
	    c->creds.issuer != NULL && strcmp(c->creds.issuer, iss) == 0)
		return (0);
	/* The client of these tokens: its registration (with the secret, if
	 * any) when it is stored for the issuer, else a public client (a
	 * metadata document URL or a registration made in memory). */
	if (load_creds(c, iss, &found) == MCPGATE_OK && found && strcmp(c->creds.client_id, cid) == 0)
		return (0);
	if (set_public_creds(c, iss, cid) != 0)
		return (-1);
	return (0);
}

/* Load stored tokens into memory if there are none there. */
static mcpgate_err
load_tokens(struct mcpgate_client *c)
{
	struct tokstore s;
	json_t *d = NULL;
	mcpgate_err e;

	if (c->have_tok || c->store_dir == NULL)
		return (MCPGATE_OK);
	if ((e = store_open(c, &s, 0)) != MCPGATE_OK)
		return (e);
	e = tokstore_get(&s, 't', c->server_url, &d, &c->err);
	tokstore_close(&s);
	if (e != MCPGATE_OK || d == NULL)
		return (e);
	if (tokens_from_doc(c, d) == 0)
		c->have_tok = 1;
	json_decref(d);
	return (MCPGATE_OK);
}

void
authflow_forget(struct mcpgate_client *c)
{
	struct tokstore s;
	struct cerr ignore;

	client_tokens_clear(&c->tok);
	c->have_tok = 0;
	cerr_reset(&ignore);
	if (c->store_dir != NULL && tokstore_open(&s, c->store_dir, 0, &ignore) == MCPGATE_OK) {
		tokstore_del(&s, 't', c->server_url, &ignore);
		tokstore_close(&s);
	}
}

/*
 * The token endpoint.
 */

static mcpgate_auth_method
resolve_method(const struct mcpgate_client *c)
{
	if (c->creds.method != MCPGATE_AUTH_AUTO)
		return (c->creds.method);
	if (c->creds.client_secret == NULL)
		return (MCPGATE_AUTH_NONE);
	/* RFC 8414: client_secret_basic is the default when none are listed. */
	if (c->as.auth_methods == 0 || (c->as.auth_methods & ASM_AUTH_BASIC))
		return (MCPGATE_AUTH_BASIC);
	if (c->as.auth_methods & ASM_AUTH_POST)
		return (MCPGATE_AUTH_POST);
	return (MCPGATE_AUTH_BASIC);
}

/* The Basic credentials of RFC 6749 section 2.3.1: form-encoded id and
 * secret, joined by ':', base64. */
static char *
basic_header(const char *id, const char *secret)
{
	struct buf a, b;
	char *out = NULL;
	size_t n;

	buf_init(&a, 8192);
	buf_init(&b, 8192);
	/* form_encode writes "name=value"; use a one-character name and skip it. */
	if (form_encode(&a, "u", id) != 0 || form_encode(&b, "p", secret) != 0)
		goto out;
	n = (a.len - 2) + 1 + (b.len - 2);
	{
		char *plain = malloc(n + 1);

		if (plain == NULL)
			goto out;
		memcpy(plain, a.p + 2, a.len - 2);
		plain[a.len - 2] = ':';
		memcpy(plain + a.len - 1, b.p + 2, b.len - 2);
		plain[n] = '\0';
		if ((out = malloc(6 + 4 * ((n + 2) / 3) + 1)) != NULL) {
			memcpy(out, "Basic ", 6);
			b64_encode(plain, n, out + 6);
		}
		secret_wipe(plain, n);
		free(plain);
	}
out:
	buf_clear(&a);
	buf_clear(&b);
	return (out);
}

/* POST ${form} (client authentication added here) to the token endpoint and
 * take the tokens from the answer into c->tok. */
static mcpgate_err
token_request(struct mcpgate_client *c, struct buf *form)
{
	struct chttp_req q = { 0 };
	struct chttp_resp r;
	json_t *d = NULL;
	json_error_t je;
	char *authz = NULL, desc[DESC_MAX + 1], code[64];
	const char *at, *tt, *rt, *sc;
	json_t *ei;
	mcpgate_auth_method m = resolve_method(c);
	mcpgate_err e;

	if (m == MCPGATE_AUTH_NONE || m == MCPGATE_AUTH_POST) {
		if (form_encode(form, "client_id", c->creds.client_id) != 0)
			return (cerr_set(&c->err, MCPGATE_E_INVAL, "token request too large"));
	}
	if (m == MCPGATE_AUTH_POST &&
	    form_encode(form, "client_secret", c->creds.client_secret ? c->creds.client_secret : "") != 0)
		return (cerr_set(&c->err, MCPGATE_E_INVAL, "token request too large"));
	if (m == MCPGATE_AUTH_BASIC &&
	    (authz = basic_header(c->creds.client_id, c->creds.client_secret ? c->creds.client_secret : "")) == NULL)
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	q.method = "POST";
	q.url = c->as.token_endpoint;
	q.body = buf_cstr(form);
	q.body_len = form->len;
	q.content_type = "application/x-www-form-urlencoded";
	q.authorization = authz;
	q.timeout_ms = c->timeout_ms;
	q.max_bytes = TOKEN_RESPONSE_MAX;
	chttp_resp_init(&r);
	e = chttp_do(&q, &r, &c->err);
	if (authz != NULL) {
		secret_wipe(authz, strlen(authz));
		free(authz);
	}
	if (e != MCPGATE_OK)
		goto out;
	if (r.body.len > 0)
		d = json_loadb(r.body.p, r.body.len, JSON_REJECT_DUPLICATES, &je);
	if (r.status != 200) {
		sanitize(code, sizeof(code), d ? jstr(d, "error") : NULL);
		sanitize(desc, sizeof(desc), d ? jstr(d, "error_description") : NULL);
		e = cerr_set(&c->err, MCPGATE_E_TOKEN, "the token endpoint %.200s refused the request (HTTP %ld%s%s%s%s)",
		    c->as.token_endpoint, r.status, code[0] ? ", " : "", code, desc[0] ? ": " : "", desc);
		goto out;
	}
	if (d == NULL || !json_is_object(d)) {
		e = cerr_set(&c->err, MCPGATE_E_MALFORMED, "the token endpoint answered with no JSON object");
		goto out;
	}
	at = jstr(d, "access_token");
	tt = jstr(d, "token_type");
	rt = jstr(d, "refresh_token");
	sc = jstr(d, "scope");
	ei = json_object_get(d, "expires_in");
	if (at == NULL || at[0] == '\0' || strlen(at) > AUTHFLOW_TOKEN_MAX || tt == NULL ||
	    strcasecmp(tt, "Bearer") != 0 || (rt != NULL && strlen(rt) > AUTHFLOW_TOKEN_MAX) ||
	    (ei != NULL && (!json_is_number(ei) || json_number_value(ei) < 0))) {
		e = cerr_set(&c->err, MCPGATE_E_MALFORMED,
		    "the token endpoint's answer lacks a Bearer access_token or has bad fields");
		goto out;
	}
	client_strfree(&c->tok.access_token);
	c->tok.access_token = client_strdup(at);
	if (rt != NULL) {
		client_strfree(&c->tok.refresh_token);
		c->tok.refresh_token = client_strdup(rt);
	}
	if (sc != NULL && strlen(sc) <= 4096) {
		client_strfree(&c->tok.scope);
		c->tok.scope = client_strdup(sc);
	} else if (c->tok.scope == NULL && c->requested_scope != NULL) {
		c->tok.scope = client_strdup(c->requested_scope);
	}
	c->tok.expires_at = 0;
	if (ei != NULL) {
		double v = json_number_value(ei);

		c->tok.expires_at = clock_now() + (v > 10 * 365 * 86400.0 ? 10 * 365 * 86400 : (int64_t)v);
	}
	if (c->tok.access_token == NULL) {
		e = cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory");
		goto out;
	}
	c->have_tok = 1;
out:
	if (d != NULL)
		json_decref(d);
	chttp_resp_clear(&r);
	return (e);
}

/*
 * Registration.
 */

static mcpgate_err
dcr(struct mcpgate_client *c, const char *redirect_uri, int port)
{
	struct chttp_req q = { 0 };
	struct chttp_resp r;
	json_t *req, *d = NULL;
	json_error_t je;
	char *body, code[64], desc[DESC_MAX + 1];
	const char *method, *id, *secret, *rm;
	mcpgate_err e;

	if (c->as.registration_endpoint == NULL)
		return (cerr_set(&c->err, MCPGATE_E_REGISTRATION,
		    "the authorization server %.200s supports neither client ID metadata documents (for this client) "
		    "nor dynamic registration; register a client there and pass --client-id",
		    c->as.issuer));
	if (c->as.auth_methods == 0 || (c->as.auth_methods & ASM_AUTH_NONE))
		method = "none";
	else if (c->as.auth_methods & ASM_AUTH_BASIC)
		method = "client_secret_basic";
	else
		method = "client_secret_post";
	req = json_pack("{s:s, s:[s], s:[s,s], s:[s], s:s, s:s, s:s}", "client_name", c->client_name,
	    "redirect_uris", redirect_uri, "grant_types", "authorization_code", "refresh_token", "response_types",
	    "code", "token_endpoint_auth_method", method, "application_type", "native", "software_version",
	    c->client_version);
	if (req == NULL || (body = json_dumps(req, JSON_COMPACT)) == NULL) {
		if (req != NULL)
			json_decref(req);
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	}
	json_decref(req);
	q.method = "POST";
	q.url = c->as.registration_endpoint;
	q.body = body;
	q.body_len = strlen(body);
	q.content_type = "application/json";
	q.timeout_ms = c->timeout_ms;
	q.max_bytes = TOKEN_RESPONSE_MAX;
	chttp_resp_init(&r);
	e = chttp_do(&q, &r, &c->err);
	free(body);
	if (e != MCPGATE_OK)
		goto out;
	if (r.body.len > 0)
		d = json_loadb(r.body.p, r.body.len, JSON_REJECT_DUPLICATES, &je);
	if (r.status != 201 && r.status != 200) {
		sanitize(code, sizeof(code), d ? jstr(d, "error") : NULL);
		sanitize(desc, sizeof(desc), d ? jstr(d, "error_description") : NULL);
		e = cerr_set(&c->err, MCPGATE_E_REGISTRATION,
		    "the authorization server refused to register this client (HTTP %ld%s%s%s%s)", r.status,
		    code[0] ? ", " : "", code, desc[0] ? ": " : "", desc);
		goto out;
	}
	id = d ? jstr(d, "client_id") : NULL;
	secret = d ? jstr(d, "client_secret") : NULL;
	rm = d ? jstr(d, "token_endpoint_auth_method") : NULL;
	if (id == NULL || id[0] == '\0' || strlen(id) > 1024 || (secret != NULL && strlen(secret) > 1024)) {
		e = cerr_set(&c->err, MCPGATE_E_REGISTRATION, "the registration response has no usable client_id");
		goto out;
	}
	client_creds_clear(&c->creds);
	c->creds.issuer = client_strdup(c->as.issuer);
	c->creds.client_id = client_strdup(id);
	c->creds.client_secret = client_strdup(secret && secret[0] ? secret : NULL);
	c->creds.method = MCPGATE_AUTH_AUTO;
	if (rm != NULL && strcmp(rm, "none") == 0)
		c->creds.method = MCPGATE_AUTH_NONE;
	else if (rm != NULL && strcmp(rm, "client_secret_basic") == 0)
		c->creds.method = MCPGATE_AUTH_BASIC;
	else if (rm != NULL && strcmp(rm, "client_secret_post") == 0)
		c->creds.method = MCPGATE_AUTH_POST;
	c->creds.port = port;
	c->creds.source = client_strdup("dcr");
	if (c->creds.issuer == NULL || c->creds.client_id == NULL || c->creds.source == NULL) {
		e = cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory");
		goto out;
	}
	c->have_creds = 1;
	e = save_creds(c);
out:
	if (d != NULL)
		json_decref(d);
	chttp_resp_clear(&r);
	return (e);
}

static mcpgate_err
set_creds(struct mcpgate_client *c, const char *id, const char *secret, mcpgate_auth_method m, const char *src)
{
	client_creds_clear(&c->creds);
	c->creds.issuer = client_strdup(c->as.issuer);
	c->creds.client_id = client_strdup(id);
	c->creds.client_secret = client_strdup(secret);
	c->creds.method = m;
	c->creds.source = client_strdup(src);
	if (c->creds.issuer == NULL || c->creds.client_id == NULL || c->creds.source == NULL ||
	    (secret != NULL && c->creds.client_secret == NULL))
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	c->have_creds = 1;
	return (MCPGATE_OK);
}

/* Choose the client for the current issuer: pre-registered, stored
 * pre-registered, CIMD, stored dynamic registration, new dynamic
 * registration (only if ${redirect_uri} is given). */
static mcpgate_err
ensure_creds(struct mcpgate_client *c, const char *redirect_uri, int port, int *reuse_port)
{
	int found = 0;
	mcpgate_err e;

	*reuse_port = 0;
	if (c->opt_client_id != NULL && c->opt_issuer != NULL && strcmp(c->opt_issuer, c->as.issuer) != 0)
		return (cerr_set(&c->err, MCPGATE_E_REGISTRATION,
		    "the client id was registered with %.200s, but %.200s uses the authorization server %.200s; "
		    "not using it there", c->opt_issuer, c->server_url, c->as.issuer));
	if (c->opt_client_id != NULL) {
		if ((e = set_creds(c, c->opt_client_id, c->opt_client_secret, c->opt_method, "pre")) != MCPGATE_OK)
			return (e);
		return (save_creds(c));
	}
	if ((e = load_creds(c, c->as.issuer, &found)) != MCPGATE_OK)
		return (e);
	if (found && strcmp(c->creds.source, "pre") == 0)
		return (MCPGATE_OK);
	if (c->opt_cimd_url != NULL && c->as.cimd)
		return (set_creds(c, c->opt_cimd_url, NULL, MCPGATE_AUTH_NONE, "cimd"));
	if (found && strcmp(c->creds.source, "dcr") == 0) {
		*reuse_port = c->creds.port;
		return (MCPGATE_OK);
	}
	if (c->grant == MCPGATE_GRANT_CLIENT_CREDENTIALS)
		return (cerr_set(&c->err, MCPGATE_E_REGISTRATION,
		    "the client credentials grant needs a pre-registered client (--client-id and --client-secret)"));
	if (redirect_uri == NULL)
		return (MCPGATE_OK); /* the caller registers once it has a port */
	return (dcr(c, redirect_uri, port));
}

/*
 * Scope selection (MCP authorization, "Scope Selection Strategy" and
 * "Step-Up Authorization Flow").
 */
static char *
select_scope(struct mcpgate_client *c, const struct wwwauth *chal, int stepup)
{
	const char *base = NULL;
	char *s;

	if (stepup) {
		const char *held = c->requested_scope ? c->requested_scope : c->tok.scope;

		s = client_scope_union(held, chal && chal->scope[0] ? chal->scope : NULL);
	} else {
		if (c->opt_scope != NULL)
			base = c->opt_scope;
		else if (chal != NULL && chal->scope[0] != '\0')
			base = chal->scope;
		else
			base = c->prm.scopes_supported;
		s = client_scope_union(base, NULL);
	}
	/* A client that wants a refresh token may ask for offline_access when the
	 * authorization server lists it; only alongside other scopes, so that
	 * "omit scope when undefined" still holds. */
	if (s != NULL && c->grant == MCPGATE_GRANT_AUTHORIZATION_CODE &&
	    client_scope_has(c->as.scopes_supported, "offline_access") && !client_scope_has(s, "offline_access")) {
		char *t = client_scope_union(s, "offline_access");

		if (t != NULL) {
			free(s);
			s = t;
		}
	}
	return (s);
}

/*
 * The browser.
 */
static int
default_browser(const char *url, void *arg)
{
	char *argv[] = { "xdg-open", (char *)url, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid, gc;
	int st;

	(void)arg;
	/* Double fork: xdg-open may run as long as the browser does; the
	 * grandchild belongs to init, and we learn whether it could start. */
	if ((pid = fork()) < 0)
		return (-1);
	if (pid == 0) {
		if (posix_spawn_file_actions_init(&fa) != 0)
			_exit(127);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
		_exit(posix_spawnp(&gc, "xdg-open", &fa, NULL, argv, environ) == 0 ? 0 : 127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return (-1);
	}
	return (WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1);
}

/*
 * The authorization code grant.
 */

static mcpgate_err
check_response(struct mcpgate_client *c, struct form *f, const char *state, const char **code)
{
	const char *iss = form_get(f, "iss"), *st = form_get(f, "state"), *err = form_get(f, "error");
	char e1[64], d1[DESC_MAX + 1];

	*code = NULL;
	/* RFC 9207 section 2.4, first: on a mismatch nothing else is read. */
	if (iss != NULL) {
		if (strcmp(iss, c->as.issuer) != 0)
			return (cerr_set(&c->err, MCPGATE_E_ISS,
			    "the authorization response came from another issuer than %.200s; it was ignored", c->as.issuer));
	} else if (c->as.iss_supported) {
		return (cerr_set(&c->err, MCPGATE_E_ISS,
		    "the authorization response lacks the iss parameter its server promised; it was ignored"));
	}
	if (form_duplicate(f) != NULL)
		return (cerr_set(&c->err, MCPGATE_E_AUTHORIZATION, "the authorization response repeats a parameter"));
	if (st == NULL || !secret_streq(st, state))
		return (cerr_set(&c->err, MCPGATE_E_STATE,
		    "the authorization response carried a wrong or no state; it was ignored"));
	if (err != NULL) {
		sanitize(e1, sizeof(e1), err);
		sanitize(d1, sizeof(d1), form_get(f, "error_description"));
		return (cerr_set(&c->err, strcmp(err, "access_denied") == 0 ? MCPGATE_E_ACCESS_DENIED : MCPGATE_E_AUTHORIZATION,
		    "the authorization server answered %s%s%s", e1, d1[0] ? ": " : "", d1));
	}
	if ((*code = form_get(f, "code")) == NULL)
		return (cerr_set(&c->err, MCPGATE_E_AUTHORIZATION, "the authorization response has no code"));
	return (MCPGATE_OK);
}

static mcpgate_err
code_flow(struct mcpgate_client *c, const char *scope)
{
	struct loopback lb;
	struct buf url, query, form;
	struct form f;
	char verifier[SECRET_TOKEN_LEN + 1], state[SECRET_TOKEN_LEN + 1], challenge[PKCE_CHALLENGE_LEN + 1];
	char redirect[64];
	const char *code;
	int reuse_port = 0, rc;
	mcpgate_err e;

	/* A stored dynamic registration names a port: try to listen there. */
	if ((e = ensure_creds(c, NULL, 0, &reuse_port)) != MCPGATE_OK)
		return (e);
	if (loopback_open(&lb, reuse_port) != 0)
		return (cerr_set(&c->err, MCPGATE_E_INTERNAL, "cannot listen on 127.0.0.1: %s", strerror(errno)));
	snprintf(redirect, sizeof(redirect), "http://127.0.0.1:%d/callback", lb.port);
	if (!c->have_creds || c->creds.issuer == NULL || strcmp(c->creds.issuer, c->as.issuer) != 0) {
		if ((e = dcr(c, redirect, lb.port)) != MCPGATE_OK) {
			loopback_close(&lb);
			return (e);
		}
	}

	buf_init(&url, 16384);
	buf_init(&query, LOOPBACK_HEAD_MAX);
	buf_init(&form, FORM_MAX);
	memset(&f, 0, sizeof(f));
	if (secret_token(verifier) != 0 || secret_token(state) != 0) {
		e = cerr_set(&c->err, MCPGATE_E_INTERNAL, "random generator failed");
		goto out;
	}
	pkce_s256(verifier, challenge);
	e = cerr_set(&c->err, MCPGATE_E_INVAL, "authorization request too large");
	if (buf_adds(&url, c->as.authorization_endpoint) != 0 ||
	    buf_adds(&url, strchr(c->as.authorization_endpoint, '?') ? "&" : "?") != 0)
		goto out;
	{
		/* form_encode prefixes '&' when the buffer is not empty. */
		struct buf p;

		buf_init(&p, 16384);
		if (form_encode(&p, "response_type", "code") != 0 || form_encode(&p, "client_id", c->creds.client_id) != 0 ||
		    form_encode(&p, "redirect_uri", redirect) != 0 || form_encode(&p, "code_challenge", challenge) != 0 ||
		    form_encode(&p, "code_challenge_method", "S256") != 0 || form_encode(&p, "state", state) != 0 ||
		    form_encode(&p, "resource", c->prm.resource) != 0 ||
		    (scope != NULL && form_encode(&p, "scope", scope) != 0) ||
		    /* OpenID Connect grants offline_access only with consent
		     * asked for (OIDC Core 11); plain OAuth servers ignore it. */
		    (scope != NULL && client_scope_has(scope, "offline_access") &&
		        client_scope_has(c->as.scopes_supported, "openid") && form_encode(&p, "prompt", "consent") != 0) ||
		    buf_add(&url, p.p, p.len) != 0) {
			buf_clear(&p);
			goto out;
		}
		buf_clear(&p);
	}
	cerr_reset(&c->err);
	if ((c->browser ? c->browser : default_browser)(buf_cstr(&url), c->browser_arg) != 0) {
		e = cerr_set(&c->err, MCPGATE_E_BROWSER,
		    "cannot open a browser (xdg-open failed); use --no-browser and open the printed URL");
		goto out;
	}
	rc = loopback_wait(&lb, clock_now_ms() + (int64_t)c->login_timeout_s * 1000, &query);
	loopback_close(&lb);
	if (rc == 1) {
		e = cerr_set(&c->err, MCPGATE_E_LOGIN_TIMEOUT, "the browser did not come back within %d seconds",
		    c->login_timeout_s);
		goto out;
	}
	if (rc != 0 || form_parse(&f, buf_cstr(&query), query.len) != 0) {
		e = cerr_set(&c->err, MCPGATE_E_AUTHORIZATION, "malformed authorization response");
		goto out;
	}
	if ((e = check_response(c, &f, state, &code)) != MCPGATE_OK)
		goto out;
	e = cerr_set(&c->err, MCPGATE_E_INVAL, "token request too large");
	if (form_encode(&form, "grant_type", "authorization_code") != 0 || form_encode(&form, "code", code) != 0 ||
	    form_encode(&form, "redirect_uri", redirect) != 0 || form_encode(&form, "code_verifier", verifier) != 0 ||
	    form_encode(&form, "resource", c->prm.resource) != 0)
		goto out;
	cerr_reset(&c->err);
	client_tokens_clear(&c->tok);
	c->have_tok = 0;
	e = token_request(c, &form);
out:
	loopback_close(&lb);
	form_clear(&f);
	buf_clear(&url);
	buf_clear(&query);
	buf_clear(&form);
	secret_wipe(verifier, sizeof(verifier));
	secret_wipe(state, sizeof(state));
	return (e);
}

static mcpgate_err
client_credentials(struct mcpgate_client *c, const char *scope)
{
	struct buf form;
	int reuse;
	mcpgate_err e;

	if ((e = ensure_creds(c, NULL, 0, &reuse)) != MCPGATE_OK)
		return (e);
	if (!c->have_creds || c->creds.client_secret == NULL)
		return (cerr_set(&c->err, MCPGATE_E_REGISTRATION,
		    "the client credentials grant needs --client-id and --client-secret"));
	buf_init(&form, FORM_MAX);
	if (form_encode(&form, "grant_type", "client_credentials") != 0 ||
	    form_encode(&form, "resource", c->prm.resource) != 0 ||
	    (scope != NULL && form_encode(&form, "scope", scope) != 0)) {
		buf_clear(&form);
		return (cerr_set(&c->err, MCPGATE_E_INVAL, "token request too large"));
	}
	client_tokens_clear(&c->tok);
	c->have_tok = 0;
	e = token_request(c, &form);
	buf_clear(&form);
	return (e);
}

mcpgate_err
authflow_login(struct mcpgate_client *c, const struct wwwauth *chal, int stepup)
{
	char *scope;
	mcpgate_err e;

	c->have_meta = 0;
	if ((e = discover_prm(c, chal ? chal->resource_metadata : NULL)) != MCPGATE_OK)
		return (e);
	if ((e = discover_as(c, c->prm.as, c->grant == MCPGATE_GRANT_AUTHORIZATION_CODE)) != MCPGATE_OK)
		return (e);
	c->have_meta = 1;
	/* Credentials of another issuer are never reused. */
	if (c->have_creds && (c->creds.issuer == NULL || strcmp(c->creds.issuer, c->as.issuer) != 0)) {
		client_creds_clear(&c->creds);
		c->have_creds = 0;
	}
	scope = select_scope(c, chal, stepup);
	client_strfree(&c->requested_scope);
	c->requested_scope = client_strdup(scope);
	if (c->grant == MCPGATE_GRANT_CLIENT_CREDENTIALS)
		e = client_credentials(c, scope);
	else
		e = code_flow(c, scope);
	free(scope);
	if (e != MCPGATE_OK)
		return (e);
	c->refreshed = 0;
	c->logged_in = 1;
	return (save_tokens(c));
}

/*
 * Refresh.
 */

static mcpgate_err
do_refresh(struct mcpgate_client *c)
{
	struct buf form;
	mcpgate_err e;

	buf_init(&form, FORM_MAX);
	if (form_encode(&form, "grant_type", "refresh_token") != 0 ||
	    form_encode(&form, "refresh_token", c->tok.refresh_token) != 0 ||
	    (c->prm.resource != NULL && form_encode(&form, "resource", c->prm.resource) != 0)) {
		buf_clear(&form);
		return (cerr_set(&c->err, MCPGATE_E_INVAL, "refresh request too large"));
	}
	e = token_request(c, &form);
	buf_clear(&form);
	return (e);
}

static int
expiring(const struct tokens *t)
{
	return (t->expires_at != 0 && t->expires_at - AUTHFLOW_REFRESH_MARGIN <= clock_now());
}

mcpgate_err
authflow_refresh(struct mcpgate_client *c)
{
	struct tokstore s;
	json_t *d = NULL;
	char *mine;
	int fd = -1;
	mcpgate_err e;

	if (!c->have_tok || c->tok.refresh_token == NULL || c->as.token_endpoint == NULL || !c->have_creds)
		return (cerr_set(&c->err, MCPGATE_E_NOT_LOGGED_IN, "no refresh token for %.200s", c->server_url));
	if (c->store_dir == NULL) {
		e = do_refresh(c);
		goto done_mem;
	}
	if ((e = store_open(c, &s, 1)) != MCPGATE_OK)
		return (e);
	if ((e = tokstore_lock(&s, 't', c->server_url, &fd, &c->err)) != MCPGATE_OK) {
		tokstore_close(&s);
		return (e);
	}
	/* Another process may have refreshed while we waited: its refresh token
	 * replaced ours (which the server may have retired). */
	mine = client_strdup(c->tok.refresh_token);
	if ((e = tokstore_get(&s, 't', c->server_url, &d, &c->err)) != MCPGATE_OK)
		goto out;
	if (d != NULL) {
		const char *theirs = jstr(d, "refresh_token");

		if (theirs != NULL && mine != NULL && strcmp(theirs, mine) != 0 && tokens_from_doc(c, d) == 0) {
			c->have_tok = 1;
			if (!expiring(&c->tok)) {
				e = MCPGATE_OK;
				c->refreshed = 1;
				goto out;
			}
		}
	}
	if ((e = do_refresh(c)) == MCPGATE_OK)
		e = save_tokens(c);
	else if (e == MCPGATE_E_TOKEN)
		tokstore_del(&s, 't', c->server_url, &c->err);
out:
	if (d != NULL)
		json_decref(d);
	client_strfree(&mine);
	tokstore_unlock(fd);
	tokstore_close(&s);
done_mem:
	if (e == MCPGATE_OK)
		c->refreshed = 1;
	else if (e == MCPGATE_E_TOKEN) {
		client_tokens_clear(&c->tok);
		c->have_tok = 0;
	}
	return (e);
}

mcpgate_err
authflow_access(struct mcpgate_client *c, const char **token)
{
	mcpgate_err e;

	*token = NULL;
	if (c->fresh_login && !c->logged_in)
		return (MCPGATE_OK);
	if ((e = load_tokens(c)) != MCPGATE_OK)
		return (e);
	if (!c->have_tok)
		return (MCPGATE_OK);
	if (expiring(&c->tok)) {
		if (c->tok.refresh_token == NULL) {
			client_tokens_clear(&c->tok);
			c->have_tok = 0;
			return (MCPGATE_OK);
		}
		e = authflow_refresh(c);
		if (e == MCPGATE_E_TOKEN || e == MCPGATE_E_NOT_LOGGED_IN) {
			/* Re-authorize instead of retrying a refused refresh. */
			cerr_reset(&c->err);
			return (MCPGATE_OK);
		}
		if (e != MCPGATE_OK)
			return (e);
	}
	*token = c->tok.access_token;
	return (MCPGATE_OK);
}

/*
 * Revocation (RFC 7009).
 */
static mcpgate_err
revoke_token(struct mcpgate_client *c, const char *token, const char *hint)
{
	struct chttp_req q = { 0 };
	struct chttp_resp r;
	struct buf form;
	char *authz = NULL;
	mcpgate_auth_method m = resolve_method(c);
	mcpgate_err e;

	buf_init(&form, FORM_MAX);
	if (form_encode(&form, "token", token) != 0 || form_encode(&form, "token_type_hint", hint) != 0 ||
	    ((m == MCPGATE_AUTH_NONE || m == MCPGATE_AUTH_POST) && form_encode(&form, "client_id", c->creds.client_id) != 0) ||
	    (m == MCPGATE_AUTH_POST && form_encode(&form, "client_secret", c->creds.client_secret ? c->creds.client_secret : "") != 0) ||
	    (m == MCPGATE_AUTH_BASIC && (authz = basic_header(c->creds.client_id, c->creds.client_secret ? c->creds.client_secret : "")) == NULL)) {
		buf_clear(&form);
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "revocation request too large"));
	}
	q.method = "POST";
	q.url = c->as.revocation_endpoint;
	q.body = buf_cstr(&form);
	q.body_len = form.len;
	q.content_type = "application/x-www-form-urlencoded";
	q.authorization = authz;
	q.timeout_ms = c->timeout_ms;
	q.max_bytes = 64 * 1024;
	chttp_resp_init(&r);
	e = chttp_do(&q, &r, &c->err);
	if (e == MCPGATE_OK && r.status != 200)
		e = cerr_set(&c->err, MCPGATE_E_TOKEN, "the revocation endpoint answered HTTP %ld", r.status);
	chttp_resp_clear(&r);
	buf_clear(&form);
	if (authz != NULL) {
		secret_wipe(authz, strlen(authz));
		free(authz);
	}
	return (e);
}

mcpgate_err
authflow_logout(struct mcpgate_client *c)
{
	mcpgate_err e = MCPGATE_OK, e1;

	if ((e = load_tokens(c)) != MCPGATE_OK)
		return (e);
	if (!c->have_tok)
		return (cerr_set(&c->err, MCPGATE_E_NOT_LOGGED_IN, "not logged in to %.200s", c->server_url));
	if (c->as.revocation_endpoint != NULL && c->have_creds) {
		/* The refresh token first: revoking it may end the access token too. */
		if (c->tok.refresh_token != NULL && (e1 = revoke_token(c, c->tok.refresh_token, "refresh_token")) != MCPGATE_OK)
			e = e1;
		if ((e1 = revoke_token(c, c->tok.access_token, "access_token")) != MCPGATE_OK && e == MCPGATE_OK)
			e = e1;
	}
	authflow_forget(c);
	return (e);
}
