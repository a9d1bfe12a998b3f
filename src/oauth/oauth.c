#include "oauth/oauth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "oauth/internal.h"
#include "oauth/pages.h"

struct oauth *
oauth_new(const struct config *cfg, struct store *st, struct keyring *kr)
{
	struct oauth *o;
	char pw[SECRET_TOKEN_LEN + 1];
	size_t i;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		goto err0;
	o->cfg = cfg;
	o->st = st;
	o->kr = kr;
	for (i = 0; i < cfg->nscopes && i < SCOPE_MAX_TOKENS; i++)
		snprintf(o->all_scopes.tok[i], sizeof(o->all_scopes.tok[i]), "%s", cfg->scopes[i].name);
	o->all_scopes.n = i;
	/* Re-sort through the parser's canonical form. */
	{
		char s[SCOPE_MAX_LEN + 1];
		if (scope_string(&o->all_scopes, s, sizeof(s)) || scope_parse(s, &o->all_scopes))
			goto err1;
	}
	if ((o->thr = throttle_new(cfg->login.max_failures, cfg->login.window)) == NULL)
		goto err1;
	if ((cfg->rate_register.max > 0 &&
		(o->rate_reg = throttle_new(cfg->rate_register.max, cfg->rate_register.window)) == NULL) ||
	    (cfg->rate_authorize.max > 0 &&
		(o->rate_authz = throttle_new(cfg->rate_authorize.max, cfg->rate_authorize.window)) == NULL))
		goto err2;
	if ((o->cimd = cimd_new(cfg)) == NULL)
		goto err2;
	if ((o->clients = client_cache_new(CLIENT_CACHE_TTL_MS)) == NULL)
		goto err3;
	/* A hash to verify against when the user does not exist, so that the
	 * answer takes as long as for a wrong password. */
	if (secret_token(pw) || crypto_pwhash_str(o->dummy_hash, pw, strlen(pw),
				    crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE))
		goto err3;
	secret_wipe(pw, sizeof(pw));
	return (o);
err3:
	secret_wipe(pw, sizeof(pw));
	client_cache_free(o->clients);
	cimd_free(o->cimd);
err2:
	throttle_free(o->rate_authz);
	throttle_free(o->rate_reg);
	throttle_free(o->thr);
err1:
	free(o);
err0:
	log_err("cannot set up the authorization server");
	return (NULL);
}

void
oauth_free(struct oauth *o)
{
	if (o == NULL)
		return;
	client_cache_free(o->clients);
	cimd_free(o->cimd);
	throttle_free(o->rate_authz);
	throttle_free(o->rate_reg);
	throttle_free(o->thr);
	free(o);
}

size_t
oauth_routes(struct oauth *o, struct http_route *r, size_t max)
{
	static const struct {
		const char *path;
		http_handler_fn fn;
	} table[] = {
	    {"/.well-known/oauth-authorization-server", metadata_handle},
	    {"/.well-known/openid-configuration", metadata_handle},
	    {"/jwks.json", metadata_jwks},
	    {"/authorize", authorize_handle},
	    {"/login", authorize_login},
	    {"/consent", authorize_consent},
	    {"/token", token_handle},
	    {"/revoke", revoke_handle},
	    {"/introspect", introspect_handle},
	    {"/register", register_handle},
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]) && i < max; i++) {
		r[i].path = table[i].path;
		r[i].prefix = 0;
		r[i].fn = table[i].fn;
		r[i].arg = o;
	}
	return (i);
}

void
oauth_housekeeping(struct oauth *o, int64_t now)
{
	int n = 0;

	if (o->cfg->registration.reap_after > 0 &&
	    o->st->ops->client_reap(o->st, now - o->cfg->registration.reap_after, &n) == 0 && n > 0)
		log_info("reaped %d dynamic registrations that never obtained a token", n);
	o->st->ops->purge(o->st, now);
}

void
oauth_error(struct http_resp *resp, int status, const char *error, const char *description)
{
	json_t *j = json_pack("{s:s}", "error", error);

	if (j != NULL && description != NULL)
		json_object_set_new(j, "error_description", json_string(description));
	http_resp_json(resp, status, j);
}

void
oauth_method_not_allowed(struct http_resp *resp, const char *allow)
{
	oauth_error(resp, 405, "invalid_request", "method not allowed");
	http_resp_header(resp, "Allow", allow);
}

int
oauth_read_form(const struct http_req *req, struct http_resp *resp, struct form *f)
{
	const char *ct = http_req_header(req, "Content-Type"), *dup;
	size_t n;

	memset(f, 0, sizeof(*f));
	if (ct == NULL) {
		oauth_error(resp, 400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded");
		return (-1);
	}
	n = strcspn(ct, "; \t");
	if (n != strlen("application/x-www-form-urlencoded") ||
	    strncasecmp(ct, "application/x-www-form-urlencoded", n) != 0) {
		oauth_error(resp, 400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded");
		return (-1);
	}
	if (form_parse(f, req->body, req->body_len)) {
		oauth_error(resp, 400, "invalid_request", "malformed form body");
		return (-1);
	}
	if ((dup = form_duplicate(f)) != NULL) {
		oauth_error(resp, 400, "invalid_request", "a parameter was given more than once");
		return (-1);
	}
	return (0);
}

/*
 * oauth_rate_check(t, req, resp, page): see internal.h.  The key is the
 * connection's address (IPv4, or IPv6 /64), never a header such as
 * X-Forwarded-For that the client could choose.
 */
int
oauth_rate_check(struct throttle *t, const struct http_req *req, struct http_resp *resp, int page)
{
	char key[THROTTLE_ADDR_KEY_MAX], ra[24], msg[128];
	int64_t retry = 0;

	if (t == NULL)
		return (0);
	throttle_addr_key(req->remote_addr, key);
	if (throttle_hit(t, key, clock_now(), &retry))
		return (0);
	log_info("rate limit: %s %s from %s refused for %lld s", req->method, req->path, key,
	    (long long)retry);
	snprintf(ra, sizeof(ra), "%lld", (long long)retry);
	if (page) {
		snprintf(msg, sizeof(msg), "Too many requests came from your network. Try again in %lld seconds.",
		    (long long)retry);
		pages_error(resp, 429, "Too many requests", msg);
	} else {
		oauth_error(resp, 429, "temporarily_unavailable", "too many requests from this address");
	}
	http_resp_header(resp, "Retry-After", ra);
	return (-1);
}
