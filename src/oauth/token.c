/*
 * The token endpoint: authorization_code (with PKCE), refresh_token (with
 * rotation and reuse detection) and client_credentials.
 *
 * Codes and refresh tokens are opaque random strings; only their SHA-256
 * digests are stored.  Access tokens are ES256 JWTs per RFC 9068.  Every
 * token minted from one authorization code belongs to one "family": a
 * replayed code or a replayed (already rotated) refresh token revokes the
 * whole family, including the access tokens recorded under it (their jti
 * is denied until they expire).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "oauth/internal.h"
#include "oauth/pkce.h"
#include "token/jwt.h"
#include "token/keyring.h"

#define JTI_BYTES 16

/* Pick the resource the token is for: the requested one if configured, else
 * the only configured one.  Fills ${resp} and returns NULL on failure. */
static const char *
resource_for(struct oauth *o, const struct form *f, struct http_resp *resp)
{
	const char *r = form_get(f, "resource");

	if (r == NULL) {
		if (o->cfg->nresources == 1)
			return (o->cfg->resources[0]);
		oauth_error(resp, 400, "invalid_target", "the resource parameter is required");
		return (NULL);
	}
	if (!config_has_resource(o->cfg, r)) {
		oauth_error(resp, 400, "invalid_target", "unknown resource");
		return (NULL);
	}
	return (r);
}

/* plain_json(s): 1 if ${s} can stand between JSON quotes as it is:
 * printable ASCII without quote or backslash.  Tokens (base64url and dots),
 * scopes (RFC 6749 scope-tokens), our identifiers and URLs are. */
static int
plain_json(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
			return (0);
	return (1);
}

int
token_mint_access(struct oauth *o, const char *sub, const char *client_id, const char *scope,
    const char *resource, int64_t now, char **jwt, char jti[64])
{
	unsigned char raw[JTI_BYTES];
	char text[JWT_MAX_LEN];
	json_t *claims;
	int rc, n;

	if (secret_random(raw, sizeof(raw)))
		return (-1);
	b64url_encode(raw, sizeof(raw), jti);
	/* The claims of every token: written directly when no value needs
	 * escaping (always, in practice), else through jansson. */
	if (plain_json(o->cfg->issuer) && plain_json(sub) && plain_json(resource) && plain_json(client_id) &&
	    plain_json(scope)) {
		n = snprintf(text, sizeof(text),
		    "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"client_id\":\"%s\",\"scope\":\"%s\","
		    "\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\"}",
		    o->cfg->issuer, sub, resource, client_id, scope, (long long)now,
		    (long long)(now + o->cfg->tokens.access_ttl), jti);
		if (n < 0 || (size_t)n >= sizeof(text))
			return (-1);
		return (keyring_sign_text(o->kr, text, (size_t)n, jwt));
	}
	claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "iss", o->cfg->issuer, "sub", sub,
	    "aud", resource, "client_id", client_id, "scope", scope, "iat", (json_int_t)now, "exp",
	    (json_int_t)(now + o->cfg->tokens.access_ttl), "jti", jti);
	if (claims == NULL)
		return (-1);
	rc = keyring_sign(o->kr, claims, jwt);
	json_decref(claims);
	return (rc);
}

/* Answer a successful token request.  The body is written directly: it
 * is on the path of every token, and jansson would spend more on it than
 * the rest of the response costs. */
static void
reply(struct oauth *o, struct http_resp *resp, const char *access, const char *scope, const char *refresh)
{
	json_t *j;
	char *text;
	int n;

	if (plain_json(access) && plain_json(scope) && (refresh == NULL || plain_json(refresh))) {
		n = asprintf(&text,
		    "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":%lld,"
		    "\"scope\":\"%s\"%s%s%s}",
		    access, (long long)o->cfg->tokens.access_ttl, scope,
		    refresh != NULL ? ",\"refresh_token\":\"" : "", refresh != NULL ? refresh : "",
		    refresh != NULL ? "\"" : "");
		if (n < 0)
			goto fail;
		http_resp_text(resp, 200, "application/json", text);
		secret_wipe(text, (size_t)n);
		free(text);
		if (http_resp_header(resp, "Cache-Control", "no-store") ||
		    http_resp_header(resp, "Pragma", "no-cache"))
			goto fail;
		return;
	}
	j = json_pack("{s:s, s:s, s:I, s:s}", "access_token", access, "token_type", "Bearer", "expires_in",
	    (json_int_t)o->cfg->tokens.access_ttl, "scope", scope);
	if (j != NULL && refresh != NULL)
		json_object_set_new(j, "refresh_token", json_string(refresh));
	http_resp_json(resp, 200, j);
	return;
fail:
	oauth_error(resp, 503, "temporarily_unavailable", "try again later");
}

static void
mark_used(struct oauth *o, const struct store_client *c, int64_t now)
{
	if (c->first_token_at == 0 && !cimd_is_url(o->cimd, c->client_id))
		o->st->ops->client_mark_used(o->st, c->client_id, now);
}

/* Mint an access token recorded under ${family} and, if the client may
 * refresh, a refresh token continuing that family. */
static int
issue_family_tokens(struct oauth *o, const struct store_client *c, const char *sub, const char *scope,
    const char *resource, const char *family, const char *code_digest, int64_t now, struct http_resp *resp)
{
	char refresh[SECRET_TOKEN_LEN + 1], jti[64];
	struct store_refresh r;
	struct store_access a;
	char *jwt = NULL;
	int with_refresh = client_allows_grant(c, "refresh_token");

	if (token_mint_access(o, sub, c->client_id, scope, resource, now, &jwt, jti))
		goto fail;
	memset(&a, 0, sizeof(a));
	a.jti = jti;
	a.family_id = (char *)family;
	a.code_digest = (char *)code_digest;
	a.client_id = c->client_id;
	a.sub = (char *)sub;
	a.expires_at = now + o->cfg->tokens.access_ttl;
	if (o->st->ops->access_add(o->st, &a))
		goto fail;
	if (with_refresh) {
		char digest[SECRET_DIGEST_LEN + 1];

		if (secret_token(refresh))
			goto fail;
		secret_digest(refresh, strlen(refresh), digest);
		memset(&r, 0, sizeof(r));
		r.digest = digest;
		r.family_id = (char *)family;
		r.client_id = c->client_id;
		r.sub = (char *)sub;
		r.scope = (char *)scope;
		r.resource = (char *)resource;
		r.code_digest = (char *)code_digest;
		r.created_at = now;
		r.expires_at = now + o->cfg->tokens.refresh_ttl;
		r.idle_expires_at = now + o->cfg->tokens.refresh_idle_ttl;
		if (r.idle_expires_at > r.expires_at)
			r.idle_expires_at = r.expires_at;
		if (o->st->ops->refresh_add(o->st, &r))
			goto fail;
	}
	mark_used(o, c, now);
	reply(o, resp, jwt, scope, with_refresh ? refresh : NULL);
	secret_wipe(refresh, sizeof(refresh));
	free(jwt);
	return (0);
fail:
	secret_wipe(refresh, sizeof(refresh));
	free(jwt);
	oauth_error(resp, 503, "temporarily_unavailable", "could not issue tokens, try again later");
	return (-1);
}

static void
grant_code(struct oauth *o, const struct store_client *c, const struct form *f, struct http_resp *resp)
{
	const char *code = form_get(f, "code"), *verifier = form_get(f, "code_verifier");
	const char *redirect = form_get(f, "redirect_uri"), *resource = form_get(f, "resource");
	char digest[SECRET_DIGEST_LEN + 1], challenge[PKCE_CHALLENGE_LEN + 1], family[SECRET_TOKEN_LEN + 1];
	struct store_code sc;
	int64_t now = clock_now();
	int rc, replayed = 0;

	if (code == NULL || verifier == NULL || redirect == NULL) {
		oauth_error(resp, 400, "invalid_request", "code, code_verifier and redirect_uri are required");
		return;
	}
	if (!pkce_verifier_valid(verifier) || strlen(code) > 256) {
		oauth_error(resp, 400, "invalid_grant", "invalid code or code_verifier");
		return;
	}
	secret_digest(code, strlen(code), digest);
	pkce_s256(verifier, challenge);
	/* One atomic step: the code is used up only by a request that shows
	 * its client, its redirect URI and the PKCE verifier, so someone
	 * holding a stolen code without the verifier can neither use nor burn
	 * it. */
	rc = o->st->ops->code_consume(o->st, digest, now, c->client_id, challenge, redirect, &sc, &replayed);
	if (rc < 0) {
		oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		return;
	}
	if (rc != 0) {
		if (replayed) {
			/* Its rightful holder, or a thief with the verifier too:
			 * either way the first exchange's tokens are suspect. */
			log_warn("authorization code replayed by client_id %s: revoking its tokens",
			    c->client_id);
			o->st->ops->family_revoke_by_code(o->st, digest, now);
		}
		oauth_error(resp, 400, "invalid_grant", "invalid, expired or used authorization code");
		return;
	}
	if (resource != NULL && strcmp(resource, sc.resource) != 0) {
		/* The code is spent; the request names another resource than
		 * the one the user consented to. */
		oauth_error(resp, 400, "invalid_target", "resource does not match the authorization");
		goto out;
	}
	if (secret_token(family)) {
		oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		goto out;
	}
	(void)issue_family_tokens(o, c, sc.sub, sc.scope, sc.resource, family, digest, now, resp);
out:
	store_code_clear(&sc);
}

static void
grant_refresh(struct oauth *o, const struct store_client *c, const struct form *f, struct http_resp *resp)
{
	const char *tok = form_get(f, "refresh_token"), *resource = form_get(f, "resource");
	char digest[SECRET_DIGEST_LEN + 1], next_digest[SECRET_DIGEST_LEN + 1], next[SECRET_TOKEN_LEN + 1];
	char scope[SCOPE_MAX_LEN + 1], jti[64];
	struct scope_set granted, want, allowed;
	struct store_refresh r, n;
	struct store_access a;
	int64_t now = clock_now();
	char *jwt = NULL;
	int rc;

	if (tok == NULL) {
		oauth_error(resp, 400, "invalid_request", "refresh_token is required");
		return;
	}
	if (strlen(tok) > 256) {
		oauth_error(resp, 400, "invalid_grant", "invalid refresh token");
		return;
	}
	secret_digest(tok, strlen(tok), digest);
	if ((rc = o->st->ops->refresh_get(o->st, digest, &r)) != 0) {
		if (rc < 0)
			oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		else
			oauth_error(resp, 400, "invalid_grant", "invalid refresh token");
		return;
	}
	if (strcmp(r.client_id, c->client_id) != 0) {
		oauth_error(resp, 400, "invalid_grant", "invalid refresh token");
		goto out;
	}
	if (r.rotated && !r.revoked) {
		log_warn("rotated refresh token presented again by client_id %s: revoking its family",
		    c->client_id);
		o->st->ops->family_revoke(o->st, r.family_id, now);
		oauth_error(resp, 400, "invalid_grant", "invalid refresh token");
		goto out;
	}
	if (r.revoked || r.expires_at <= now || r.idle_expires_at <= now) {
		oauth_error(resp, 400, "invalid_grant", "refresh token expired or revoked");
		goto out;
	}
	if (resource != NULL && strcmp(resource, r.resource) != 0) {
		oauth_error(resp, 400, "invalid_target", "resource does not match the grant");
		goto out;
	}
	if (scope_parse(r.scope, &granted) || scope_parse(form_get(f, "scope"), &want)) {
		oauth_error(resp, 400, "invalid_scope", "malformed scope");
		goto out;
	}
	if (want.n != 0 && !scope_subset(&want, &granted)) {
		oauth_error(resp, 400, "invalid_scope", "scope exceeds the original grant");
		goto out;
	}
	/* What the configuration (or the client's registration) no longer
	 * allows is not given again, whatever the grant once said. */
	if (!config_has_resource(o->cfg, r.resource)) {
		oauth_error(resp, 400, "invalid_target", "the resource of this grant is no longer served");
		goto out;
	}
	client_scopes(o, c, &allowed);
	scope_intersect(&granted, &allowed, &granted);
	if (want.n == 0)
		want = granted;
	else
		scope_intersect(&want, &allowed, &want);
	if (want.n == 0) {
		oauth_error(resp, 400, "invalid_scope", "no scope of this grant is still allowed");
		goto out;
	}
	if (scope_string(&want, scope, sizeof(scope)) || secret_token(next)) {
		oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		goto out;
	}
	/* The successor keeps the grant's scope (RFC 6749 section 6); only
	 * this access token is narrowed. */
	secret_digest(next, strlen(next), next_digest);
	n = r;
	n.digest = next_digest;
	n.created_at = now;
	n.idle_expires_at = now + o->cfg->tokens.refresh_idle_ttl;
	if (n.idle_expires_at > r.expires_at)
		n.idle_expires_at = r.expires_at;
	n.rotated = 0;
	n.revoked = 0;
	rc = o->st->ops->refresh_rotate(o->st, digest, now, &n);
	if (rc != 0) {
		/* Lost a race with a concurrent refresh of the same token (or
		 * a revocation in between).  Not treated as reuse: the next
		 * presentation of this token will be. */
		if (rc < 0)
			oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		else
			oauth_error(resp, 400, "invalid_grant", "invalid refresh token");
		goto out;
	}
	if (token_mint_access(o, r.sub, c->client_id, scope, r.resource, now, &jwt, jti)) {
		oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		goto out;
	}
	memset(&a, 0, sizeof(a));
	a.jti = jti;
	a.family_id = r.family_id;
	a.code_digest = r.code_digest;
	a.client_id = c->client_id;
	a.sub = r.sub;
	a.expires_at = now + o->cfg->tokens.access_ttl;
	if (o->st->ops->access_add(o->st, &a)) {
		oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		goto out;
	}
	reply(o, resp, jwt, scope, next);
out:
	secret_wipe(next, sizeof(next));
	free(jwt);
	store_refresh_clear(&r);
}

static void
grant_client_credentials(struct oauth *o, const struct store_client *c, const struct form *f,
    struct http_resp *resp)
{
	char scope[SCOPE_MAX_LEN + 1], jti[64];
	struct scope_set allowed, want;
	const char *resource;
	int64_t now = clock_now();
	char *jwt = NULL;

	if (c->secret_digest == NULL) {
		oauth_error(resp, 400, "unauthorized_client", "client_credentials needs a confidential client");
		return;
	}
	if ((resource = resource_for(o, f, resp)) == NULL)
		return;
	client_scopes(o, c, &allowed);
	if (scope_parse(form_get(f, "scope"), &want)) {
		oauth_error(resp, 400, "invalid_scope", "malformed scope");
		return;
	}
	if (want.n == 0)
		want = allowed;
	else
		scope_intersect(&want, &allowed, &want);
	if (want.n == 0) {
		oauth_error(resp, 400, "invalid_scope", "none of the requested scopes is allowed for this client");
		return;
	}
	if (scope_string(&want, scope, sizeof(scope)) ||
	    token_mint_access(o, c->client_id, c->client_id, scope, resource, now, &jwt, jti)) {
		oauth_error(resp, 503, "temporarily_unavailable", "try again later");
		return;
	}
	mark_used(o, c, now);
	reply(o, resp, jwt, scope, NULL);
	free(jwt);
}

void
token_handle(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct oauth *o = arg;
	struct store_client c;
	struct form f;
	const char *grant;

	if (strcmp(req->method, "POST") != 0) {
		oauth_method_not_allowed(resp, "POST");
		return;
	}
	if (oauth_read_form(req, resp, &f))
		goto out;
	if ((grant = form_get(&f, "grant_type")) == NULL) {
		oauth_error(resp, 400, "invalid_request", "grant_type is required");
		goto out;
	}
	if (strcmp(grant, "authorization_code") != 0 && strcmp(grant, "refresh_token") != 0 &&
	    strcmp(grant, "client_credentials") != 0) {
		oauth_error(resp, 400, "unsupported_grant_type", NULL);
		goto out;
	}
	if (client_auth(o, req, &f, resp, &c))
		goto out;
	if (!client_allows_grant(&c, grant)) {
		oauth_error(resp, 400, "unauthorized_client", "the client may not use this grant type");
	} else if (strcmp(grant, "authorization_code") == 0) {
		grant_code(o, &c, &f, resp);
	} else if (strcmp(grant, "refresh_token") == 0) {
		grant_refresh(o, &c, &f, resp);
	} else {
		grant_client_credentials(o, &c, &f, resp);
	}
	store_client_clear(&c);
out:
	form_clear(&f);
}
