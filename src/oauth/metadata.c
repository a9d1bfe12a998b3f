/*
 * The authorization server metadata (RFC 8414) and the JWKS.
 */
#include <string.h>

#include "core/clock.h"
#include "oauth/internal.h"
#include "token/keyring.h"

static json_t *
strings(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return (a);
}

void
metadata_handle(void *arg, const struct http_req *req, struct http_resp *resp)
{
	static const char *const grants[] = {"authorization_code", "refresh_token", "client_credentials"};
	static const char *const auth[] = {"client_secret_basic", "client_secret_post", "none"};
	static const char *const rtypes[] = {"code"};
	static const char *const rmodes[] = {"query"};
	static const char *const pkce[] = {"S256"};
	struct oauth *o = arg;
	const char *iss = o->cfg->issuer;
	json_t *j, *scopes;
	size_t i;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		oauth_method_not_allowed(resp, "GET, HEAD");
		return;
	}
	scopes = json_array();
	for (i = 0; i < o->cfg->nscopes; i++)
		json_array_append_new(scopes, json_string(o->cfg->scopes[i].name));
	j = json_object();
	json_object_set_new(j, "issuer", json_string(iss));
	json_object_set_new(j, "authorization_endpoint", json_sprintf("%s/authorize", iss));
	json_object_set_new(j, "token_endpoint", json_sprintf("%s/token", iss));
	json_object_set_new(j, "jwks_uri", json_sprintf("%s/jwks.json", iss));
	if (o->cfg->registration.policy != REG_CLOSED)
		json_object_set_new(j, "registration_endpoint", json_sprintf("%s/register", iss));
	json_object_set_new(j, "revocation_endpoint", json_sprintf("%s/revoke", iss));
	json_object_set_new(j, "introspection_endpoint", json_sprintf("%s/introspect", iss));
	json_object_set_new(j, "scopes_supported", scopes);
	json_object_set_new(j, "response_types_supported", strings(rtypes, 1));
	json_object_set_new(j, "response_modes_supported", strings(rmodes, 1));
	json_object_set_new(j, "grant_types_supported", strings(grants, 3));
	json_object_set_new(j, "token_endpoint_auth_methods_supported", strings(auth, 3));
	json_object_set_new(j, "revocation_endpoint_auth_methods_supported", strings(auth, 3));
	json_object_set_new(j, "introspection_endpoint_auth_methods_supported", strings(auth, 2));
	json_object_set_new(j, "code_challenge_methods_supported", strings(pkce, 1));
	json_object_set_new(j, "client_id_metadata_document_supported", json_boolean(o->cfg->cimd.enabled));
	json_object_set_new(j, "authorization_response_iss_parameter_supported", json_true());
	http_resp_json(resp, 200, j);
	/* Public, identical for everyone: may be cached briefly. */
	http_resp_header(resp, "Cache-Control", "public, max-age=300");
}

void
metadata_jwks(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct oauth *o = arg;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		oauth_method_not_allowed(resp, "GET, HEAD");
		return;
	}
	http_resp_json(resp, 200, keyring_jwks(o->kr, clock_now()));
	http_resp_header(resp, "Content-Type", "application/jwk-set+json");
	http_resp_header(resp, "Cache-Control", "public, max-age=60");
}
