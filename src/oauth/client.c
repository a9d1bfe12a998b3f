/*
 * Client lookup and client authentication at the token, revocation and
 * introspection endpoints (RFC 6749 section 2.3, OAuth 2.1 section 2.4).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "core/text.h"
#include "http/basic.h"
#include "oauth/internal.h"

/* The client cache: a direct-mapped table of copies of store rows, each
 * used for ${ttl_ms} after it was read.  It spares the token
 * endpoint a store read per request. */
struct client_cache_slot {
	struct store_client c; /* c.client_id NULL: empty */
	int64_t read_ms;
};

struct client_cache {
	int64_t ttl_ms;
	pthread_mutex_t lock;
	struct client_cache_slot slot[CLIENT_CACHE_SLOTS];
};

struct client_cache *
client_cache_new(int64_t ttl_ms)
{
	struct client_cache *cc;

	if ((cc = calloc(1, sizeof(*cc))) == NULL)
		return (NULL);
	cc->ttl_ms = ttl_ms > 0 ? ttl_ms : 0;
	if (pthread_mutex_init(&cc->lock, NULL)) {
		free(cc);
		return (NULL);
	}
	return (cc);
}

void
client_cache_free(struct client_cache *cc)
{
	size_t i;

	if (cc == NULL)
		return;
	for (i = 0; i < CLIENT_CACHE_SLOTS; i++)
		store_client_clear(&cc->slot[i].c);
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

static int
dup_str(char **dst, const char *src)
{
	if (src == NULL) {
		*dst = NULL;
		return (0);
	}
	return ((*dst = strdup(src)) == NULL ? -1 : 0);
}

/* client_copy(dst, src): a deep copy of ${src}.  0, or -1 with ${dst} clear. */
static int
client_copy(struct store_client *dst, const struct store_client *src)
{
	memset(dst, 0, sizeof(*dst));
	if (dup_str(&dst->client_id, src->client_id) || dup_str(&dst->secret_digest, src->secret_digest) ||
	    dup_str(&dst->name, src->name) || dup_str(&dst->redirect_uris, src->redirect_uris) ||
	    dup_str(&dst->grant_types, src->grant_types) || dup_str(&dst->scope, src->scope) ||
	    dup_str(&dst->auth_method, src->auth_method) || dup_str(&dst->metadata, src->metadata)) {
		store_client_clear(dst);
		return (-1);
	}
	dst->dynamic = src->dynamic;
	dst->created_at = src->created_at;
	dst->secret_expires_at = src->secret_expires_at;
	dst->first_token_at = src->first_token_at;
	return (0);
}

static struct client_cache_slot *
cache_slot(struct client_cache *cc, const char *client_id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *client_id != '\0'; client_id++)
		h = (h ^ (unsigned char)*client_id) * 16777619u;
	return (&cc->slot[h % CLIENT_CACHE_SLOTS]);
}

/* cache_get(cc, client_id, out): a copy of the fresh cached row of
 * ${client_id} in ${out}.  0, or -1 if there is none. */
static int
cache_get(struct client_cache *cc, const char *client_id, struct store_client *out)
{
	struct client_cache_slot *s;
	int64_t now = clock_now_ms();
	int rc = -1;

	if (cc == NULL)
		return (-1);
	pthread_mutex_lock(&cc->lock);
	s = cache_slot(cc, client_id);
	if (s->c.client_id != NULL && strcmp(s->c.client_id, client_id) == 0) {
		if (now >= s->read_ms && now - s->read_ms < cc->ttl_ms)
			rc = client_copy(out, &s->c);
		else
			store_client_clear(&s->c);
	}
	pthread_mutex_unlock(&cc->lock);
	return (rc);
}

/* cache_put(cc, c, read_ms): remember ${c}, read from the store at ${read_ms}. */
static void
cache_put(struct client_cache *cc, const struct store_client *c, int64_t read_ms)
{
	struct client_cache_slot *s;
	struct store_client copy;

	if (cc == NULL || cc->ttl_ms == 0 || client_copy(&copy, c))
		return;
	pthread_mutex_lock(&cc->lock);
	s = cache_slot(cc, c->client_id);
	store_client_clear(&s->c);
	s->c = copy;
	s->read_ms = read_ms;
	pthread_mutex_unlock(&cc->lock);
}

int
client_find(struct oauth *o, const char *client_id, struct store_client *out)
{
	int64_t read_ms;
	int rc;

	memset(out, 0, sizeof(*out));
	if (strlen(client_id) > STORE_ID_MAX)
		return (STORE_NOTFOUND);
	if (cimd_is_url(o->cimd, client_id))
		return (cimd_resolve(o->cimd, client_id, &o->all_scopes, out));
	if (cache_get(o->clients, client_id, out) == 0)
		return (0);
	/* The age of a cached row counts from before the read. */
	read_ms = clock_now_ms();
	rc = o->st->ops->client_get(o->st, client_id, out);
	if (rc == 0 && out->first_token_at != 0 && out->client_id != NULL &&
	    strcmp(out->client_id, client_id) == 0)
		cache_put(o->clients, out, read_ms);
	return (rc);
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

/*
 * client_metadata_displayable(doc): NULL if every member of the client
 * metadata ${doc} meant to be shown to people (RFC 7591 section 2:
 * client_name, client_uri, logo_uri, tos_uri, policy_uri, software_id,
 * software_version, contacts; also their language-tagged forms such as
 * "client_name#fr", section 2.2) is text fit for display (core/text.h);
 * else a description of the problem.  Members of other types are left to
 * the callers' own checks.
 */
const char *
client_metadata_displayable(json_t *doc)
{
	static const char *const shown[] = {"client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri",
	    "software_id", "software_version", "contacts", NULL};
	const char *k;
	json_t *v, *e;
	size_t i, n;

	json_object_foreach(doc, k, v) {
		n = strcspn(k, "#");
		for (i = 0; shown[i] != NULL; i++)
			if (strlen(shown[i]) == n && strncmp(k, shown[i], n) == 0)
				break;
		if (shown[i] == NULL)
			continue;
		if (json_is_string(v) && !text_display_ok(json_string_value(v), json_string_length(v)))
			return ("client metadata for display must not contain control, invisible or "
				"bidirectional-override characters");
		if (json_is_array(v)) {
			json_array_foreach(v, i, e) {
				if (json_is_string(e) &&
				    !text_display_ok(json_string_value(e), json_string_length(e)))
					return ("client metadata for display must not contain control, "
						"invisible or bidirectional-override characters");
			}
		}
	}
	return (NULL);
}
