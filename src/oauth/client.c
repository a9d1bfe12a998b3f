/*
 * Client lookup and client authentication at the token, revocation and
 * introspection endpoints (RFC 6749 section 2.3, OAuth 2.1 section 2.4).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/secret.h"
#include "http/basic.h"
#include "oauth/internal.h"

int
client_find(struct oauth *o, const char *client_id, struct store_client *out)
{
	memset(out, 0, sizeof(*out));
	if (strlen(client_id) > STORE_ID_MAX)
		return (STORE_NOTFOUND);
	if (cimd_is_url(o->cimd, client_id))
		return (cimd_resolve(o->cimd, client_id, &o->all_scopes, out));
	return (o->st->ops->client_get(o->st, client_id, out));
}

int
client_allows_grant(const struct store_client *c, const char *grant)
{
	json_t *a, *v;
	size_t i;
	int ok = 0;

	if (c->grant_types == NULL || (a = json_loads(c->grant_types, 0, NULL)) == NULL)
		return (0);
	json_array_foreach(a, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), grant) == 0)
			ok = 1;
	}
	json_decref(a);
	return (ok);
}

void
client_scopes(struct oauth *o, const struct store_client *c, struct scope_set *out)
{
	if (scope_parse(c->scope, out))
		out->n = 0;
	scope_intersect(out, &o->all_scopes, out);
}

static int
unauthorized(struct http_resp *resp, int basic)
{
	oauth_error(resp, 401, "invalid_client", "client authentication failed");
	if (basic)
		http_resp_header(resp, "WWW-Authenticate", "Basic realm=\"mcpgate\", charset=\"UTF-8\"");
	return (-1);
}

int
client_auth(struct oauth *o, const struct http_req *req, const struct form *f, struct http_resp *resp,
    struct store_client *out)
{
	const char *hdr = http_req_header(req, "Authorization");
	const char *id = form_get(f, "client_id"), *secret = form_get(f, "client_secret");
	char *buser = NULL, *bpass = NULL;
	char digest[SECRET_DIGEST_LEN + 1];
	int rc, basic = 0;

	memset(out, 0, sizeof(*out));
	if (hdr != NULL && http_req_header_count(req, "Authorization") > 1) {
		oauth_error(resp, 400, "invalid_request", "more than one Authorization header");
		return (-1);
	}
	if (hdr != NULL) {
		rc = basic_parse(hdr, &buser, &bpass);
		if (rc == 1) {
			oauth_error(resp, 400, "invalid_request", "unsupported authorization scheme");
			return (-1);
		}
		if (rc < 0)
			return (unauthorized(resp, 1));
		basic = 1;
		if (secret != NULL) {
			oauth_error(resp, 400, "invalid_request", "more than one client authentication method");
			goto err;
		}
		/* A client_id in the body must agree with the header. */
		if (id != NULL && strcmp(id, buser) != 0) {
			oauth_error(resp, 400, "invalid_request", "client_id does not match the credentials");
			goto err;
		}
		id = buser;
		secret = bpass;
	}
	if (id == NULL) {
		(void)unauthorized(resp, basic);
		goto err;
	}
	if ((rc = client_find(o, id, out)) != 0) {
		if (rc < 0) {
			oauth_error(resp, 503, "temporarily_unavailable", "try again later");
			goto err;
		}
		(void)unauthorized(resp, basic);
		goto err;
	}
	if (out->secret_digest == NULL) {
		/* A public client authenticates with its id alone, and must not
		 * present a secret it was never given. */
		if (secret != NULL) {
			(void)unauthorized(resp, basic);
			goto err1;
		}
	} else {
		if (secret == NULL || strlen(secret) > 512) {
			(void)unauthorized(resp, basic);
			goto err1;
		}
		secret_digest(secret, strlen(secret), digest);
		if (strlen(out->secret_digest) != SECRET_DIGEST_LEN ||
		    !secret_eq(digest, out->secret_digest, SECRET_DIGEST_LEN)) {
			log_info("client authentication failed for client_id %s", out->client_id);
			(void)unauthorized(resp, basic);
			goto err1;
		}
		if (out->secret_expires_at != 0 && out->secret_expires_at < (int64_t)time(NULL)) {
			(void)unauthorized(resp, basic);
			goto err1;
		}
	}
	free(buser);
	if (bpass != NULL) {
		secret_wipe(bpass, strlen(bpass));
		free(bpass);
	}
	return (0);
err1:
	store_client_clear(out);
err:
	free(buser);
	if (bpass != NULL) {
		secret_wipe(bpass, strlen(bpass));
		free(bpass);
	}
	return (-1);
}
