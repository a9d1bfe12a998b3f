/*
 * The authorization endpoint and the login and consent pages behind it.
 *
 * GET /authorize checks the request in the order OAuth 2.1 section 4.1.2.1
 * requires: until the client and its redirect URI are known to be good,
 * errors are shown to the user on a page, never redirected; after that
 * they go back to the client with state and iss.  A valid request is stored
 * as a pending request under the digest of a random handle, bound to the
 * browser by a cookie (mcpgate_b); the pages carry the handle and a CSRF
 * token derived from that cookie:
 *
 *     csrf = base64url(HMAC-SHA256(key = browser cookie, "csrf|" || handle))
 *
 * A form post is accepted only from the browser that started the request
 * (the cookie's digest is in the pending request) and with the matching
 * CSRF token, so another site can neither log a victim in as somebody else
 * nor make the victim consent.  Every form post answers 303.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "oauth/internal.h"
#include "oauth/pages.h"
#include "oauth/pkce.h"
#include "oauth/redirect.h"

/* With an https issuer the cookies carry the __Host- prefix: the browser
 * then accepts them only from this origin (Secure, Path=/, no Domain), so a
 * sibling subdomain or a plain-http page of this host cannot plant a
 * browser cookie of its choosing.  With a planted mcpgate_b an attacker
 * could bind a pending request of his own to the victim's browser and have
 * the victim's session consent to it (a same-site form post carries the
 * Lax cookies). */
#define BROWSER_COOKIE "mcpgate_b"
#define SESSION_COOKIE "mcpgate_sid"
#define HOST_PREFIX "__Host-"
#define AUTHREQ_TTL 900
#define STATE_MAX 2048
#define USERNAME_MAX 128
#define PASSWORD_MAX 1024

/* The CSRF token of ${handle} for the browser holding ${cookie}. */
static void
csrf_token(const char *cookie, const char *handle, char out[SECRET_DIGEST_LEN + 1])
{
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);
	struct buf msg;

	buf_init(&msg, 512);
	buf_printf(&msg, "csrf|%s", handle);
	HMAC(EVP_sha256(), cookie, (int)strlen(cookie), (const unsigned char *)buf_cstr(&msg), msg.len, mac,
	    &maclen);
	b64url_encode(mac, sizeof(mac), out);
	secret_wipe(mac, sizeof(mac));
	buf_clear(&msg);
}

static int
secure_issuer(const struct oauth *o)
{
	return (strncmp(o->cfg->issuer, "https:", 6) == 0);
}

static const char *
browser_cookie(const struct oauth *o)
{
	return (secure_issuer(o) ? HOST_PREFIX BROWSER_COOKIE : BROWSER_COOKIE);
}

static const char *
session_cookie(const struct oauth *o)
{
	return (secure_issuer(o) ? HOST_PREFIX SESSION_COOKIE : SESSION_COOKIE);
}

static void
set_cookie(struct oauth *o, struct http_resp *resp, const char *name, const char *value)
{
	struct buf b;

	buf_init(&b, 512);
	buf_printf(&b, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s", name, value,
	    secure_issuer(o) ? "; Secure" : "");
	http_resp_header(resp, "Set-Cookie", buf_cstr(&b));
	buf_clear(&b);
}

/* ${h} looks like a handle we made: SECRET_TOKEN_LEN base64url characters.
 * Handles go back into Location headers, so nothing else may pass. */
static int
handle_ok(const char *h)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	return (h != NULL && strlen(h) == SECRET_TOKEN_LEN && strspn(h, alphabet) == SECRET_TOKEN_LEN);
}

/* Read a cookie that should hold one of our tokens. */
static int
get_token_cookie(const struct http_req *req, const char *name, char out[SECRET_TOKEN_LEN + 1])
{
	if (http_req_cookie(req, name, out, SECRET_TOKEN_LEN + 1) != 0 || strlen(out) != SECRET_TOKEN_LEN)
		return (-1);
	return (0);
}

/* Redirect the browser to ${uri} with the parameters ${params} (already
 * encoded by form_encode) added to its query. */
static void
redirect_with(struct http_resp *resp, const char *uri, const struct buf *params, int status)
{
	struct buf b;

	buf_init(&b, 16384);
	if (buf_adds(&b, uri) || buf_adds(&b, strchr(uri, '?') != NULL ? "&" : "?") ||
	    buf_add(&b, buf_cstr(params), params->len)) {
		buf_clear(&b);
		pages_error(resp, 500, "Error", "The redirect is too long.");
		return;
	}
	http_resp_redirect(resp, status, buf_cstr(&b));
	buf_clear(&b);
}

/* Send the browser back to the client with an error (state and iss too). */
static void
redirect_error(struct oauth *o, struct http_resp *resp, const char *redirect_uri, const char *state,
    const char *error, const char *description)
{
	struct buf q;

	buf_init(&q, 8192);
	form_encode(&q, "error", error);
	if (description != NULL)
		form_encode(&q, "error_description", description);
	if (state != NULL)
		form_encode(&q, "state", state);
	form_encode(&q, "iss", o->cfg->issuer);
	redirect_with(resp, redirect_uri, &q, 302);
	buf_clear(&q);
}

/* Issue a code for the pending request ${a} and redirect to the client. */
static void
finish_with_code(struct oauth *o, struct http_resp *resp, const struct store_authreq *a, const char *sub,
    int64_t auth_time, int status)
{
	char code[SECRET_TOKEN_LEN + 1], digest[SECRET_DIGEST_LEN + 1];
	struct store_code sc;
	struct buf q;
	int64_t now = clock_now();

	if (secret_token(code))
		goto fail;
	secret_digest(code, strlen(code), digest);
	memset(&sc, 0, sizeof(sc));
	sc.digest = digest;
	sc.client_id = a->client_id;
	sc.sub = (char *)sub;
	sc.redirect_uri = a->redirect_uri;
	sc.code_challenge = a->code_challenge;
	sc.resource = a->resource;
	sc.scope = a->scope;
	sc.auth_time = auth_time;
	sc.expires_at = now + o->cfg->tokens.code_ttl;
	if (o->st->ops->code_add(o->st, &sc))
		goto fail;
	buf_init(&q, 8192);
	form_encode(&q, "code", code);
	if (a->state != NULL)
		form_encode(&q, "state", a->state);
	form_encode(&q, "iss", o->cfg->issuer);
	redirect_with(resp, a->redirect_uri, &q, status);
	buf_clear(&q);
	secret_wipe(code, sizeof(code));
	return;
fail:
	secret_wipe(code, sizeof(code));
	pages_error(resp, 503, "Temporarily unavailable", "Please try again in a moment.");
}

enum consent_state {
	CONSENT_ASK,	   /* nothing remembered covers the request */
	CONSENT_ASK_AGAIN, /* remembered, but the client cannot prove who it is */
	CONSENT_SKIP,	   /* remembered: issue the code without a page */
};

/* Whether the consent the user gave ${client_id} for ${resource} covers
 * ${scope}, and whether that is enough to skip the page.  A remembered
 * consent is honoured silently only when the code can reach nobody but the
 * client: an https redirect URI, or a confidential client that must
 * authenticate to redeem the code.  A public client with a loopback or
 * private-use redirect can be impersonated by any local program that
 * listens on a port or claims the scheme, so it is asked again each time
 * (RFC 8252 section 8.6). */
static enum consent_state
consent_check(struct oauth *o, const char *sub, const char *client_id, const char *redirect_uri,
    const char *resource, const char *scope)
{
	struct store_consent c;
	struct store_client cl;
	struct scope_set have, want;
	int covered, confidential = 0;

	if (o->st->ops->consent_get(o->st, sub, client_id, resource, &c) != 0)
		return (CONSENT_ASK);
	covered = scope_parse(c.scope, &have) == 0 && scope_parse(scope, &want) == 0 && scope_subset(&want, &have);
	store_consent_clear(&c);
	if (!covered)
		return (CONSENT_ASK);
	if (redirect_classify(redirect_uri) == REDIRECT_HTTPS)
		return (CONSENT_SKIP);
	if (!cimd_is_url(o->cimd, client_id) && o->st->ops->client_get(o->st, client_id, &cl) == 0) {
		confidential = cl.secret_digest != NULL;
		store_client_clear(&cl);
	}
	return (confidential ? CONSENT_SKIP : CONSENT_ASK_AGAIN);
}

/* Host (and port) of a URL for display, or its scheme for private-use URIs. */
static void
display_host(const char *uri, char *out, size_t cap)
{
	const char *p = strstr(uri, "://"), *end;
	size_t n;

	if (p == NULL) {
		n = strcspn(uri, ":");
		p = uri;
	} else {
		p += 3;
		end = p + strcspn(p, "/?#");
		n = (size_t)(end - p);
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static void
show_consent(struct oauth *o, struct http_resp *resp, const struct store_authreq *a, const char *handle,
    const char *cookie, const char *sub, int asked_before)
{
	char csrf[SECRET_DIGEST_LEN + 1], rhost[256], chost[256];
	const char *names[SCOPE_MAX_TOKENS];
	struct consent_view v;
	struct store_client c;
	struct store_user u;
	struct scope_set s;
	size_t i;

	if (client_find(o, a->client_id, &c) != 0) {
		pages_error(resp, 400, "Unknown application", "The application is no longer registered.");
		return;
	}
	if (o->st->ops->user_get_by_sub(o->st, sub, &u) != 0) {
		store_client_clear(&c);
		pages_error(resp, 400, "Unknown user", "Please sign in again.");
		return;
	}
	scope_parse(a->scope, &s);
	for (i = 0; i < s.n; i++)
		names[i] = s.tok[i];
	display_host(a->redirect_uri, rhost, sizeof(rhost));
	memset(&v, 0, sizeof(v));
	v.client_name = c.name != NULL ? c.name : c.client_id;
	v.client_id = c.client_id;
	if (cimd_is_url(o->cimd, c.client_id)) {
		display_host(c.client_id, chost, sizeof(chost));
		v.client_host = chost;
	}
	v.redirect_host = rhost;
	v.resource = a->resource;
	v.username = u.username;
	v.scopes = names;
	v.nscopes = s.n;
	v.asked_before = asked_before;
	csrf_token(cookie, handle, csrf);
	pages_consent(resp, o->cfg, handle, csrf, &v);
	store_client_clear(&c);
	store_user_clear(&u);
}

/* The browser holding ${cookie} is signed in as ${se} and has the pending
 * request ${a} (handle ${handle}), already checked to be its own: issue the
 * code at once if a remembered consent may be honoured, else show the
 * consent page. */
static void
signed_in(struct oauth *o, struct http_resp *resp, const struct store_authreq *a, const char *handle,
    const char *cookie, const struct store_session *se)
{
	enum consent_state st = consent_check(o, se->sub, a->client_id, a->redirect_uri, a->resource, a->scope);
	char hdigest[SECRET_DIGEST_LEN + 1];
	struct store_authreq taken;

	if (st != CONSENT_SKIP) {
		show_consent(o, resp, a, handle, cookie, se->sub, st == CONSENT_ASK_AGAIN);
		return;
	}
	/* Single use: the code is issued from the row this call removed. */
	secret_digest(handle, strlen(handle), hdigest);
	if (o->st->ops->authreq_take(o->st, hdigest, clock_now(), &taken) != 0) {
		pages_error(resp, 400, "Request expired",
		    "This sign-in request has expired or was already used. Start again from your application.");
		return;
	}
	finish_with_code(o, resp, &taken, se->sub, se->auth_time, 302);
	store_authreq_clear(&taken);
}

/* The signed-in user of this browser, or -1. */
static int
session_user(struct oauth *o, const struct http_req *req, struct store_session *se)
{
	char sid[SECRET_TOKEN_LEN + 1], digest[SECRET_DIGEST_LEN + 1];
	int rc;

	if (get_token_cookie(req, session_cookie(o), sid))
		return (-1);
	secret_digest(sid, strlen(sid), digest);
	secret_wipe(sid, sizeof(sid));
	rc = o->st->ops->session_get(o->st, digest, clock_now(), se);
	return (rc == 0 ? 0 : -1);
}

void
authorize_handle(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct oauth *o = arg;
	const char *client_id, *redirect, *state, *rtype, *challenge, *method, *resource, *dup;
	char cookie[SECRET_TOKEN_LEN + 1], handle[SECRET_TOKEN_LEN + 1];
	char bdigest[SECRET_DIGEST_LEN + 1], hdigest[SECRET_DIGEST_LEN + 1], csrf[SECRET_DIGEST_LEN + 1];
	char cdigest[SECRET_DIGEST_LEN + 1], scope[SCOPE_MAX_LEN + 1];
	struct scope_set allowed, want;
	struct store_client c;
	struct store_authreq a;
	struct store_session se;
	struct form f;
	json_t *uris = NULL, *v;
	size_t i;
	int64_t now = clock_now();
	int matched = 0, new_cookie = 0, rc;

	memset(&c, 0, sizeof(c));
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
		pages_error(resp, 405, "Method not allowed", "Use GET.");
		http_resp_header(resp, "Allow", "GET, POST");
		return;
	}
	/* Each request may store a pending request: bound them per address. */
	if (oauth_rate_check(o->rate_authz, req, resp, 1))
		return;
	/* OAuth allows POST with a form body as well as GET with a query. */
	if (form_parse(&f, strcmp(req->method, "POST") == 0 ? req->body : req->query,
		strcmp(req->method, "POST") == 0 ? req->body_len : strlen(req->query))) {
		pages_error(resp, 400, "Invalid request", "The authorization request is malformed.");
		goto out;
	}
	/* Until the client and redirect URI are validated, show errors here. */
	if ((dup = form_duplicate(&f)) != NULL &&
	    (strcmp(dup, "client_id") == 0 || strcmp(dup, "redirect_uri") == 0)) {
		pages_error(resp, 400, "Invalid request", "A parameter was given more than once.");
		goto out;
	}
	if ((client_id = form_get(&f, "client_id")) == NULL) {
		pages_error(resp, 400, "Invalid request", "The request names no client (client_id is missing).");
		goto out;
	}
	if ((rc = client_find(o, client_id, &c)) != 0) {
		if (rc < 0)
			goto unavailable;
		pages_error(resp, 400, "Unknown application",
		    "The application that sent you here is not registered with this server.");
		goto out;
	}
	redirect = form_get(&f, "redirect_uri");
	if (c.redirect_uris != NULL && (uris = json_loads(c.redirect_uris, 0, NULL)) != NULL) {
		if (redirect == NULL && json_array_size(uris) == 1 &&
		    redirect_classify(json_string_value(json_array_get(uris, 0))) != REDIRECT_LOOPBACK)
			redirect = json_string_value(json_array_get(uris, 0));
		if (redirect != NULL)
			json_array_foreach(uris, i, v) {
				if (json_is_string(v) && redirect_match(json_string_value(v), redirect))
					matched = 1;
			}
	}
	if (!matched) {
		pages_error(resp, 400, "Invalid redirect",
		    "The application asked to return to an address it has not registered.");
		goto out;
	}
	/* From here on, errors go back to the client. */
	state = form_get(&f, "state");
	if (state != NULL && strlen(state) > STATE_MAX) {
		redirect_error(o, resp, redirect, NULL, "invalid_request", "state is too long");
		goto out;
	}
	if (dup != NULL) {
		redirect_error(o, resp, redirect, state, "invalid_request", "a parameter was given more than once");
		goto out;
	}
	if ((rtype = form_get(&f, "response_type")) == NULL) {
		redirect_error(o, resp, redirect, state, "invalid_request", "response_type is required");
		goto out;
	}
	if (strcmp(rtype, "code") != 0) {
		redirect_error(o, resp, redirect, state, "unsupported_response_type", "only code is supported");
		goto out;
	}
	if (!client_allows_grant(&c, "authorization_code")) {
		redirect_error(o, resp, redirect, state, "unauthorized_client",
		    "the client may not use the authorization code grant");
		goto out;
	}
	challenge = form_get(&f, "code_challenge");
	method = form_get(&f, "code_challenge_method");
	if (challenge == NULL) {
		redirect_error(o, resp, redirect, state, "invalid_request", "code_challenge is required (PKCE)");
		goto out;
	}
	if (method == NULL || strcmp(method, "S256") != 0) {
		redirect_error(o, resp, redirect, state, "invalid_request",
		    "code_challenge_method must be S256");
		goto out;
	}
	if (!pkce_challenge_valid(challenge)) {
		redirect_error(o, resp, redirect, state, "invalid_request", "malformed code_challenge");
		goto out;
	}
	resource = form_get(&f, "resource");
	if (resource == NULL) {
		if (o->cfg->nresources != 1) {
			redirect_error(o, resp, redirect, state, "invalid_target", "resource is required");
			goto out;
		}
		resource = o->cfg->resources[0];
	} else if (!config_has_resource(o->cfg, resource)) {
		redirect_error(o, resp, redirect, state, "invalid_target", "unknown resource");
		goto out;
	}
	client_scopes(o, &c, &allowed);
	if (scope_parse(form_get(&f, "scope"), &want)) {
		redirect_error(o, resp, redirect, state, "invalid_scope", "malformed scope");
		goto out;
	}
	if (want.n == 0)
		want = allowed;
	else
		scope_intersect(&want, &allowed, &want);
	if (want.n == 0 || scope_string(&want, scope, sizeof(scope))) {
		redirect_error(o, resp, redirect, state, "invalid_scope", "no requested scope is available");
		goto out;
	}

	/* Bind the request to this browser. */
	if (get_token_cookie(req, browser_cookie(o), cookie) != 0) {
		if (secret_token(cookie))
			goto unavailable;
		new_cookie = 1;
	}
	if (secret_token(handle))
		goto unavailable;
	csrf_token(cookie, handle, csrf);
	secret_digest(cookie, strlen(cookie), bdigest);
	secret_digest(handle, strlen(handle), hdigest);
	secret_digest(csrf, strlen(csrf), cdigest);
	memset(&a, 0, sizeof(a));
	a.digest = hdigest;
	a.browser_digest = bdigest;
	a.csrf_digest = cdigest;
	a.client_id = c.client_id;
	a.redirect_uri = (char *)redirect;
	a.state = (char *)state;
	a.code_challenge = (char *)challenge;
	a.resource = (char *)resource;
	a.scope = scope;
	a.expires_at = now + AUTHREQ_TTL;
	if (o->st->ops->authreq_add(o->st, &a))
		goto unavailable;
	if (new_cookie)
		set_cookie(o, resp, browser_cookie(o), cookie);

	if (session_user(o, req, &se) == 0) {
		signed_in(o, resp, &a, handle, cookie, &se);
		store_session_clear(&se);
	} else {
		pages_login(resp, handle, csrf, c.name != NULL ? c.name : c.client_id, NULL);
	}
	goto out;

unavailable:
	pages_error(resp, 503, "Temporarily unavailable", "Please try again in a moment.");
out:
	secret_wipe(cookie, sizeof(cookie));
	secret_wipe(handle, sizeof(handle));
	json_decref(uris);
	store_client_clear(&c);
	form_clear(&f);
}

/* Load the pending request named by the form or query field "req" and
 * check that it belongs to this browser (and, for posts, the CSRF token).
 * Fills ${resp} with an error page and returns -1 otherwise.  ${handle} and
 * ${cookie} receive the handle and the browser cookie. */
static int
load_request(struct oauth *o, const struct http_req *req, const struct form *f, int check_csrf, int take,
    struct store_authreq *a, char handle[SECRET_TOKEN_LEN + 1], char cookie[SECRET_TOKEN_LEN + 1],
    struct http_resp *resp)
{
	const char *h = form_get(f, "req"), *csrf = form_get(f, "csrf");
	char hdigest[SECRET_DIGEST_LEN + 1], bdigest[SECRET_DIGEST_LEN + 1], want[SECRET_DIGEST_LEN + 1];
	int rc;

	memset(a, 0, sizeof(*a));
	if (!handle_ok(h)) {
		pages_error(resp, 400, "Invalid request", "This page was opened without a sign-in request.");
		return (-1);
	}
	memcpy(handle, h, SECRET_TOKEN_LEN + 1);
	if (get_token_cookie(req, browser_cookie(o), cookie) != 0) {
		pages_error(resp, 403, "Cookies needed",
		    "This browser did not start this sign-in request, or blocks cookies.");
		return (-1);
	}
	if (check_csrf) {
		csrf_token(cookie, handle, want);
		if (csrf == NULL || strlen(csrf) != SECRET_DIGEST_LEN || !secret_eq(csrf, want, SECRET_DIGEST_LEN)) {
			pages_error(resp, 403, "Request refused", "The form could not be verified. Please start again.");
			return (-1);
		}
	}
	secret_digest(handle, strlen(handle), hdigest);
	secret_digest(cookie, strlen(cookie), bdigest);
	rc = take ? o->st->ops->authreq_take(o->st, hdigest, clock_now(), a)
		  : o->st->ops->authreq_get(o->st, hdigest, clock_now(), a);
	if (rc != 0) {
		pages_error(resp, 400, "Request expired",
		    "This sign-in request has expired or was already used. Start again from your application.");
		return (-1);
	}
	if (a->browser_digest == NULL || !secret_eq(a->browser_digest, bdigest, SECRET_DIGEST_LEN)) {
		store_authreq_clear(a);
		pages_error(resp, 403, "Request refused", "This browser did not start this sign-in request.");
		return (-1);
	}
	return (0);
}

/* Parse the form of a page post; errors as pages. */
static int
read_page_form(struct oauth *o, const struct http_req *req, struct http_resp *resp, struct form *f)
{
	const char *ct = http_req_header(req, "Content-Type");
	const char *site = http_req_header(req, "Sec-Fetch-Site");
	const char *origin = http_req_header(req, "Origin");
	size_t olen = strcspn(o->cfg->issuer + strcspn(o->cfg->issuer, ":") + 3, "/") +
	    strcspn(o->cfg->issuer, ":") + 3;

	memset(f, 0, sizeof(*f));
	/* Defence in depth beside the CSRF token: browsers say where a form
	 * post comes from; refuse one that another site sent. */
	if ((site != NULL && strcmp(site, "cross-site") == 0) ||
	    (origin != NULL && (strlen(origin) != olen || strncasecmp(origin, o->cfg->issuer, olen) != 0))) {
		pages_error(resp, 403, "Request refused", "This form was sent from another site.");
		return (-1);
	}
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
	    form_parse(f, req->body, req->body_len) || form_duplicate(f) != NULL) {
		pages_error(resp, 400, "Invalid request", "The form could not be read.");
		return (-1);
	}
	return (0);
}

static void
see_other(struct http_resp *resp, const char *page, const char *handle, const char *error)
{
	struct buf b;

	buf_init(&b, 1024);
	buf_printf(&b, "%s?req=%s%s%s", page, handle, error ? "&error=" : "", error ? error : "");
	http_resp_redirect(resp, 303, buf_cstr(&b));
	http_resp_header(resp, "Cache-Control", "no-store");
	buf_clear(&b);
}

static const char *
login_notice(const char *error)
{
	if (error == NULL)
		return (NULL);
	if (strcmp(error, "throttled") == 0)
		return ("Too many failed attempts. Wait a few minutes and try again.");
	return ("The username or password is not correct.");
}

void
authorize_login(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct oauth *o = arg;
	char handle[SECRET_TOKEN_LEN + 1], cookie[SECRET_TOKEN_LEN + 1], csrf[SECRET_DIGEST_LEN + 1];
	char sid[SECRET_TOKEN_LEN + 1], sdigest[SECRET_DIGEST_LEN + 1], ukey[USERNAME_MAX + 8], akey[80];
	char addr[THROTTLE_ADDR_KEY_MAX];
	const char *username, *password;
	struct store_authreq a;
	struct store_client c;
	struct store_session se;
	struct store_user u;
	struct form f;
	int64_t now = clock_now();
	int ok, have_user;

	memset(handle, 0, sizeof(handle));
	memset(cookie, 0, sizeof(cookie));
	if (strcmp(req->method, "GET") == 0) {
		if (form_parse(&f, req->query, strlen(req->query)) == 0 &&
		    load_request(o, req, &f, 0, 0, &a, handle, cookie, resp) == 0) {
			if (client_find(o, a.client_id, &c) == 0) {
				csrf_token(cookie, handle, csrf);
				pages_login(resp, handle, csrf, c.name != NULL ? c.name : c.client_id,
				    login_notice(form_get(&f, "error")));
				store_client_clear(&c);
			} else {
				pages_error(resp, 400, "Unknown application", "The application is not registered.");
			}
			store_authreq_clear(&a);
		} else if (resp->status == 0) {
			pages_error(resp, 400, "Invalid request", "Malformed request.");
		}
		goto out;
	}
	if (strcmp(req->method, "POST") != 0) {
		pages_error(resp, 405, "Method not allowed", "Use the sign-in form.");
		http_resp_header(resp, "Allow", "GET, POST");
		return;
	}
	memset(&f, 0, sizeof(f));
	if (oauth_rate_check(o->rate_authz, req, resp, 1) || read_page_form(o, req, resp, &f) ||
	    load_request(o, req, &f, 1, 0, &a, handle, cookie, resp))
		goto out;
	username = form_get(&f, "username");
	password = form_get(&f, "password");
	if (username == NULL || password == NULL || strlen(username) > USERNAME_MAX ||
	    strlen(password) > PASSWORD_MAX) {
		see_other(resp, "/login", handle, "invalid");
		goto out1;
	}
	snprintf(ukey, sizeof(ukey), "u:%s", username);
	throttle_addr_key(req->remote_addr, addr);
	snprintf(akey, sizeof(akey), "a:%s", addr);
	if (!throttle_take(o->thr, ukey, akey, now)) {
		/* The typed name is not logged: it may be a mistyped password. */
		log_warn("login throttled (account or address) from %s", req->remote_addr);
		see_other(resp, "/login", handle, "throttled");
		goto out1;
	}
	have_user = o->st->ops->user_get(o->st, username, &u) == 0;
	/* Verify against a dummy hash for unknown users, so that timing does
	 * not tell which accounts exist. */
	ok = crypto_pwhash_str_verify(have_user ? u.password_hash : o->dummy_hash, password, strlen(password)) ==
		0 &&
	    have_user;
	if (!ok) {
		log_info("failed login for user %s from %s", have_user ? username : "(unknown)",
		    req->remote_addr);
		see_other(resp, "/login", handle, "invalid");
		if (have_user)
			store_user_clear(&u);
		goto out1;
	}
	throttle_reset(o->thr, ukey);
	throttle_forgive(o->thr, akey);
	if (secret_token(sid)) {
		store_user_clear(&u);
		pages_error(resp, 503, "Temporarily unavailable", "Please try again in a moment.");
		goto out1;
	}
	secret_digest(sid, strlen(sid), sdigest);
	memset(&se, 0, sizeof(se));
	se.digest = sdigest;
	se.sub = u.sub;
	se.auth_time = now;
	se.expires_at = now + o->cfg->tokens.session_ttl;
	if (o->st->ops->session_add(o->st, &se)) {
		pages_error(resp, 503, "Temporarily unavailable", "Please try again in a moment.");
	} else {
		log_info("user %s signed in from %s", username, req->remote_addr);
		set_cookie(o, resp, session_cookie(o), sid);
		see_other(resp, "/consent", handle, NULL);
	}
	secret_wipe(sid, sizeof(sid));
	store_user_clear(&u);
out1:
	store_authreq_clear(&a);
out:
	secret_wipe(cookie, sizeof(cookie));
	form_clear(&f);
}

void
authorize_consent(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct oauth *o = arg;
	char handle[SECRET_TOKEN_LEN + 1], cookie[SECRET_TOKEN_LEN + 1], scope[SCOPE_MAX_LEN + 1];
	struct store_authreq a;
	struct store_session se;
	struct store_consent prev, cs;
	struct scope_set have, want;
	const char *decision;
	struct form f;
	int64_t now = clock_now();
	int is_post = strcmp(req->method, "POST") == 0;

	memset(cookie, 0, sizeof(cookie));
	if (!is_post && strcmp(req->method, "GET") != 0) {
		pages_error(resp, 405, "Method not allowed", "Use the consent form.");
		http_resp_header(resp, "Allow", "GET, POST");
		return;
	}
	if (is_post) {
		memset(&f, 0, sizeof(f));
		if (oauth_rate_check(o->rate_authz, req, resp, 1) || read_page_form(o, req, resp, &f))
			goto out;
	} else if (form_parse(&f, req->query, strlen(req->query))) {
		pages_error(resp, 400, "Invalid request", "Malformed request.");
		goto out;
	}
	if (session_user(o, req, &se) != 0) {
		const char *h = form_get(&f, "req");
		if (handle_ok(h) && !is_post)
			see_other(resp, "/login", h, NULL);
		else
			pages_error(resp, 403, "Not signed in", "Your session has ended. Start again.");
		goto out;
	}
	if (!is_post) {
		if (load_request(o, req, &f, 0, 0, &a, handle, cookie, resp) == 0) {
			signed_in(o, resp, &a, handle, cookie, &se);
			store_authreq_clear(&a);
		}
		goto out1;
	}
	/* A post: single use of the pending request. */
	if (load_request(o, req, &f, 1, 1, &a, handle, cookie, resp))
		goto out1;
	decision = form_get(&f, "decision");
	if (decision == NULL || strcmp(decision, "allow") != 0) {
		log_info("consent denied for client_id %s", a.client_id);
		redirect_error(o, resp, a.redirect_uri, a.state, "access_denied", "the user denied access");
		resp->status = 303;
		goto out2;
	}
	/* Remember the consent: the union with what was already given for
	 * this client and resource. */
	scope_parse(a.scope, &want);
	if (o->st->ops->consent_get(o->st, se.sub, a.client_id, a.resource, &prev) == 0) {
		if (scope_parse(prev.scope, &have) == 0)
			scope_union(&want, &have, &want);
		store_consent_clear(&prev);
	}
	if (scope_string(&want, scope, sizeof(scope)) == 0) {
		memset(&cs, 0, sizeof(cs));
		cs.sub = se.sub;
		cs.client_id = a.client_id;
		cs.resource = a.resource;
		cs.scope = scope;
		cs.granted_at = now;
		if (o->st->ops->consent_put(o->st, &cs))
			log_warn("could not record consent for client_id %s", a.client_id);
	}
	log_info("consent given to client_id %s for %s", a.client_id, a.scope);
	finish_with_code(o, resp, &a, se.sub, se.auth_time, 303);
out2:
	store_authreq_clear(&a);
out1:
	store_session_clear(&se);
out:
	secret_wipe(cookie, sizeof(cookie));
	form_clear(&f);
}
