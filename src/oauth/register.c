/*
 * Dynamic client registration (RFC 7591).
 *
 * Policy from the configuration: open, with an initial access token (a
 * Bearer token compared in constant time), or closed (no endpoint in the
 * metadata; 403 here).  What a registration may ask for is deliberately
 * narrow: the authorization code grant (with refresh tokens), redirect URIs
 * of the three safe kinds (see oauth/redirect.h; only loopback ones when
 * registration.loopback_only is set), and scopes cut to the configured
 * ones.  client_credentials is never granted here: an open registration
 * endpoint must not hand out tokens with no user behind them; such clients
 * are created by `mcpgate admin client add`.
 *
 * A confidential client gets its secret once, in this response; only its
 * digest is kept.  Registrations that never obtain a token are reaped.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/b64.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "oauth/internal.h"
#include "oauth/redirect.h"

#define REDIRECT_URIS_MAX 16
#define CLIENT_NAME_MAX 200

static void
reg_error(struct http_resp *resp, const char *error, const char *description)
{
	oauth_error(resp, 400, error, description);
}

/* Validate ${uris}; returns NULL or a description of the problem. */
static const char *
check_redirects(const struct config *cfg, json_t *uris)
{
	json_t *v;
	size_t i;
	enum redirect_kind k;

	if (!json_is_array(uris) || json_array_size(uris) == 0)
		return ("redirect_uris must be a non-empty array");
	if (json_array_size(uris) > REDIRECT_URIS_MAX)
		return ("too many redirect_uris");
	json_array_foreach(uris, i, v) {
		if (!json_is_string(v))
			return ("redirect_uris must be strings");
		k = redirect_classify(json_string_value(v));
		if (k == REDIRECT_INVALID)
			return ("redirect_uris must be https, http on a loopback address, or a private-use scheme, "
				"without a fragment");
		if (cfg->registration.loopback_only && k != REDIRECT_LOOPBACK)
			return ("this server accepts only loopback redirect_uris from dynamic registration");
	}
	return (NULL);
}

static int
str_in(json_t *a, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return (1);
	}
	return (0);
}

void
register_handle(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct oauth *o = arg;
	const struct config *cfg = o->cfg;
	const char *ct, *auth, *method, *name, *why, *k;
	char id[SECRET_TOKEN_LEN + 1], secret[SECRET_TOKEN_LEN + 1], sdigest[SECRET_DIGEST_LEN + 1];
	char scope[SCOPE_MAX_LEN + 1];
	struct scope_set want;
	struct store_client c;
	json_t *body = NULL, *uris, *grants, *rtypes, *out = NULL, *v;
	json_error_t jerr;
	char *uris_s = NULL, *grants_s = NULL, *meta_s = NULL;
	int64_t now = clock_now();
	size_t i;
	int confidential, rc;

	memset(secret, 0, sizeof(secret));
	if (cfg->registration.policy == REG_CLOSED) {
		oauth_error(resp, 403, "access_denied", "dynamic registration is closed");
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		oauth_method_not_allowed(resp, "POST");
		return;
	}
	/* Every attempt counts, so that the limit bounds the work done too. */
	if (oauth_rate_check(o->rate_reg, req, resp, 0))
		return;
	if (cfg->registration.policy == REG_TOKEN) {
		auth = http_req_header(req, "Authorization");
		if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
		    !secret_streq(auth + 7, cfg->registration.initial_access_token)) {
			oauth_error(resp, 401, "invalid_token", "a valid initial access token is required");
			http_resp_header(resp, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
			return;
		}
	}
	ct = http_req_header(req, "Content-Type");
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
		reg_error(resp, "invalid_client_metadata", "Content-Type must be application/json");
		return;
	}
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body)) {
		reg_error(resp, "invalid_client_metadata", "the body must be a JSON object");
		goto out;
	}
	/* Client authentication method: public (none) or a secret. */
	method = json_string_value(json_object_get(body, "token_endpoint_auth_method"));
	if (json_object_get(body, "token_endpoint_auth_method") != NULL && method == NULL) {
		reg_error(resp, "invalid_client_metadata", "token_endpoint_auth_method must be a string");
		goto out;
	}
	if (method == NULL)
		method = "client_secret_basic"; /* RFC 7591 section 2 default */
	if (strcmp(method, "none") == 0)
		confidential = 0;
	else if (strcmp(method, "client_secret_basic") == 0 || strcmp(method, "client_secret_post") == 0)
		confidential = 1;
	else {
		reg_error(resp, "invalid_client_metadata", "unsupported token_endpoint_auth_method");
		goto out;
	}
	if (confidential && !cfg->registration.allow_confidential) {
		reg_error(resp, "invalid_client_metadata", "only public clients (token_endpoint_auth_method none) "
							   "may register here");
		goto out;
	}
	/* Grants and response types. */
	grants = json_object_get(body, "grant_types");
	if (grants == NULL)
		grants = json_pack("[s]", "authorization_code");
	else if (!json_is_array(grants)) {
		reg_error(resp, "invalid_client_metadata", "grant_types must be an array");
		goto out;
	} else
		json_incref(grants);
	json_array_foreach(grants, i, v) {
		k = json_string_value(v);
		if (k == NULL || (strcmp(k, "authorization_code") != 0 && strcmp(k, "refresh_token") != 0)) {
			json_decref(grants);
			reg_error(resp, "invalid_client_metadata",
			    "grant_types may contain only authorization_code and refresh_token");
			goto out;
		}
	}
	if (!str_in(grants, "authorization_code")) {
		json_decref(grants);
		reg_error(resp, "invalid_client_metadata", "grant_types must include authorization_code");
		goto out;
	}
	/* Refresh tokens come with the code grant for every registered
	 * client; clients that list only authorization_code still get them,
	 * as MCP clients expect. */
	if (!str_in(grants, "refresh_token"))
		json_array_append_new(grants, json_string("refresh_token"));
	rtypes = json_object_get(body, "response_types");
	if (rtypes != NULL && (!json_is_array(rtypes) || json_array_size(rtypes) != 1 || !str_in(rtypes, "code"))) {
		json_decref(grants);
		reg_error(resp, "invalid_client_metadata", "response_types must be [\"code\"]");
		goto out;
	}
	uris = json_object_get(body, "redirect_uris");
	if ((why = check_redirects(cfg, uris)) != NULL) {
		json_decref(grants);
		reg_error(resp, "invalid_redirect_uri", why);
		goto out;
	}
	name = json_string_value(json_object_get(body, "client_name"));
	if ((json_object_get(body, "client_name") != NULL && name == NULL) ||
	    (name != NULL && (strlen(name) == 0 || strlen(name) > CLIENT_NAME_MAX))) {
		json_decref(grants);
		reg_error(resp, "invalid_client_metadata", "client_name must be a string of 1 to 200 characters");
		goto out;
	}
	if ((why = client_metadata_displayable(body)) != NULL) {
		json_decref(grants);
		reg_error(resp, "invalid_client_metadata", why);
		goto out;
	}
	v = json_object_get(body, "scope");
	if ((v != NULL && !json_is_string(v)) || scope_parse(json_string_value(v), &want)) {
		json_decref(grants);
		reg_error(resp, "invalid_client_metadata", "malformed scope");
		goto out;
	}
	if (want.n == 0)
		want = o->all_scopes;
	else
		scope_intersect(&want, &o->all_scopes, &want);
	if (scope_string(&want, scope, sizeof(scope))) {
		json_decref(grants);
		reg_error(resp, "invalid_client_metadata", "malformed scope");
		goto out;
	}

	if (secret_token(id) || (confidential && secret_token(secret))) {
		json_decref(grants);
		oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		goto out;
	}
	/* The response echoes the registered metadata (RFC 7591 section 3.2.1). */
	out = json_object();
	json_object_set_new(out, "client_id", json_string(id));
	json_object_set_new(out, "client_id_issued_at", json_integer(now));
	if (name != NULL)
		json_object_set_new(out, "client_name", json_string(name));
	json_object_set(out, "redirect_uris", uris);
	json_object_set(out, "grant_types", grants);
	json_object_set_new(out, "response_types", json_pack("[s]", "code"));
	json_object_set_new(out, "token_endpoint_auth_method", json_string(method));
	json_object_set_new(out, "scope", json_string(scope));
	if ((v = json_object_get(body, "application_type")) != NULL && json_is_string(v))
		json_object_set(out, "application_type", v);
	uris_s = json_dumps(uris, JSON_COMPACT);
	grants_s = json_dumps(grants, JSON_COMPACT);
	meta_s = json_dumps(out, JSON_COMPACT);
	json_decref(grants);
	memset(&c, 0, sizeof(c));
	c.client_id = id;
	if (confidential) {
		secret_digest(secret, strlen(secret), sdigest);
		c.secret_digest = sdigest;
	}
	c.name = (char *)name;
	c.redirect_uris = uris_s;
	c.grant_types = grants_s;
	c.scope = scope;
	c.auth_method = (char *)method;
	c.metadata = meta_s;
	c.dynamic = 1;
	c.created_at = now;
	/* Each URI is bounded, but together they (and the metadata echoing
	 * them) may still exceed what the store keeps: that is the client's
	 * error, not ours. */
	if (uris_s != NULL && strlen(uris_s) > STORE_TEXT_MAX) {
		reg_error(resp, "invalid_redirect_uri", "redirect_uris are too long in total");
		goto out;
	}
	if (meta_s != NULL && strlen(meta_s) > STORE_TEXT_MAX) {
		reg_error(resp, "invalid_client_metadata", "the client metadata is too large");
		goto out;
	}
	if (uris_s == NULL || grants_s == NULL || meta_s == NULL ||
	    (rc = o->st->ops->client_add(o->st, &c)) != 0) {
		oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		goto out;
	}
	if (confidential) {
		json_object_set_new(out, "client_secret", json_string(secret));
		json_object_set_new(out, "client_secret_expires_at", json_integer(0));
	}
	log_info("registered client_id %s (%s)", id, confidential ? "confidential" : "public");
	http_resp_json(resp, 201, out);
	out = NULL;
out:
	secret_wipe(secret, sizeof(secret));
	free(uris_s);
	free(grants_s);
	free(meta_s);
	json_decref(out);
	json_decref(body);
}
