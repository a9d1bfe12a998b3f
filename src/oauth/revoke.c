/*
 * Token revocation (RFC 7009) and introspection (RFC 7662).
 *
 * Revocation takes a refresh token (its whole family is revoked) or an
 * access token (its jti is denied until it expires).  Only the client the
 * token was issued to can revoke it; for anyone else, and for unknown
 * tokens, the answer is the same 200, so that the endpoint tells nothing.
 *
 * Introspection requires client authentication by a confidential client
 * (a resource server): public clients could otherwise probe tokens.
 */
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "oauth/internal.h"
#include "token/jwt.h"
#include "token/keyring.h"

#define TOKEN_PARAM_MAX JWT_MAX_LEN
#define CLOCK_SKEW 30

/* Looks like a JWT: two dots. */
static int
is_jwt(const char *t)
{
	const char *d = strchr(t, '.');

	return (d != NULL && strchr(d + 1, '.') != NULL);
}

/* Verify an access token we issued: signature, issuer, expiry, and that its
 * audience is one of our resources.  Returns the claims or NULL.
 *
 * The skew allowance is for clocks other than ours: "exp" was set by this
 * server's clock, so a token is expired as soon as that clock passes it
 * (RFC 7662: an expired token is not active). */
static json_t *
verify_access(struct oauth *o, const char *tok, int64_t now)
{
	const char *why, *aud;
	json_t *claims, *exp;

	if (keyring_verify(o->kr, tok, strlen(tok), now, &claims, &why) != 0)
		return (NULL);
	aud = json_string_value(json_object_get(claims, "aud"));
	exp = json_object_get(claims, "exp");
	if (aud == NULL || !config_has_resource(o->cfg, aud) ||
	    jwt_check_claims(claims, o->cfg->issuer, aud, now, CLOCK_SKEW, &why) != 0 ||
	    !json_is_integer(exp) || json_integer_value(exp) <= now) {
		json_decref(claims);
		return (NULL);
	}
	return (claims);
}

void
revoke_handle(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct oauth *o = arg;
	struct store_client c;
	struct store_refresh r;
	const char *tok, *hint;
	char digest[SECRET_DIGEST_LEN + 1];
	int64_t now = clock_now();
	json_t *claims;
	struct form f;

	if (strcmp(req->method, "POST") != 0) {
		oauth_method_not_allowed(resp, "POST");
		return;
	}
	if (oauth_read_form(req, resp, &f))
		goto out;
	if (client_auth(o, req, &f, resp, &c))
		goto out;
	if ((tok = form_get(&f, "token")) == NULL) {
		oauth_error(resp, 400, "invalid_request", "token is required");
		goto out1;
	}
	hint = form_get(&f, "token_type_hint");
	if (hint != NULL && strcmp(hint, "access_token") != 0 && strcmp(hint, "refresh_token") != 0) {
		oauth_error(resp, 400, "unsupported_token_type", NULL);
		goto out1;
	}
	if (strlen(tok) <= TOKEN_PARAM_MAX && is_jwt(tok)) {
		if ((claims = verify_access(o, tok, now)) != NULL) {
			const char *cid = json_string_value(json_object_get(claims, "client_id"));
			const char *jti = json_string_value(json_object_get(claims, "jti"));
			json_int_t exp = json_integer_value(json_object_get(claims, "exp"));

			if (cid != NULL && jti != NULL && strcmp(cid, c.client_id) == 0) {
				if (o->st->ops->jti_deny(o->st, jti, exp, now) != 0) {
					oauth_error(resp, 503, "temporarily_unavailable", "try again later");
					json_decref(claims);
					goto out1;
				}
				log_info("access token jti %s revoked by client_id %s", jti, c.client_id);
			}
			json_decref(claims);
		}
	} else if (strlen(tok) <= 256) {
		secret_digest(tok, strlen(tok), digest);
		if (o->st->ops->refresh_get(o->st, digest, &r) == 0) {
			if (strcmp(r.client_id, c.client_id) == 0) {
				if (o->st->ops->family_revoke(o->st, r.family_id, now) != 0) {
					oauth_error(resp, 503, "temporarily_unavailable", "try again later");
					store_refresh_clear(&r);
					goto out1;
				}
				log_info("refresh token family revoked by client_id %s", c.client_id);
			}
			store_refresh_clear(&r);
		}
	}
	http_resp_json(resp, 200, json_object());
out1:
	store_client_clear(&c);
out:
	form_clear(&f);
}

/* The client a token was issued to is still registered.  Tokens of a
 * deleted client are not recorded one by one (client credentials), so this
 * is how introspection stops honouring them. */
static int
client_exists(struct oauth *o, const char *client_id)
{
	struct store_client c;

	if (client_id == NULL)
		return (0);
	if (cimd_is_url(o->cimd, client_id))
		return (1);
	if (o->st->ops->client_get(o->st, client_id, &c) != 0)
		return (0);
	store_client_clear(&c);
	return (1);
}

void
introspect_handle(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct oauth *o = arg;
	struct store_client c;
	struct store_refresh r;
	const char *tok, *jti;
	char digest[SECRET_DIGEST_LEN + 1];
	int64_t now = clock_now();
	json_t *claims, *j = NULL;
	struct form f;

	if (strcmp(req->method, "POST") != 0) {
		oauth_method_not_allowed(resp, "POST");
		return;
	}
	if (oauth_read_form(req, resp, &f))
		goto out;
	if (client_auth(o, req, &f, resp, &c))
		goto out;
	if (c.secret_digest == NULL) {
		oauth_error(resp, 401, "invalid_client", "introspection requires a confidential client");
		goto out1;
	}
	if ((tok = form_get(&f, "token")) == NULL) {
		oauth_error(resp, 400, "invalid_request", "token is required");
		goto out1;
	}
	if (strlen(tok) <= TOKEN_PARAM_MAX && is_jwt(tok)) {
		if ((claims = verify_access(o, tok, now)) != NULL) {
			jti = json_string_value(json_object_get(claims, "jti"));
			if (jti != NULL && o->st->ops->jti_denied(o->st, jti) == 0 &&
			    client_exists(o, json_string_value(json_object_get(claims, "client_id")))) {
				j = json_deep_copy(claims);
				json_object_set_new(j, "active", json_true());
				json_object_set_new(j, "token_type", json_string("Bearer"));
			}
			json_decref(claims);
		}
	} else if (strlen(tok) <= 256) {
		secret_digest(tok, strlen(tok), digest);
		if (o->st->ops->refresh_get(o->st, digest, &r) == 0) {
			if (!r.rotated && !r.revoked && r.expires_at > now && r.idle_expires_at > now)
				j = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "active", 1,
				    "token_type", "refresh_token", "client_id", r.client_id, "sub", r.sub, "scope",
				    r.scope, "aud", r.resource, "iat", (json_int_t)r.created_at, "exp",
				    (json_int_t)(r.idle_expires_at < r.expires_at ? r.idle_expires_at : r.expires_at),
				    "iss", o->cfg->issuer);
			store_refresh_clear(&r);
		}
	}
	if (j == NULL)
		j = json_pack("{s:b}", "active", 0);
	http_resp_json(resp, 200, j);
out1:
	store_client_clear(&c);
out:
	form_clear(&f);
}
