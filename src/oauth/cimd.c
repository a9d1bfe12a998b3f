/*
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
 * as the MCP authorization specification uses them).
 *
 * A client_id that is an https URL with a path names a JSON document that
 * describes the client.  It is fetched with http/fetch (https only, no
 * redirects, public addresses only, CIMD_DOC_MAX bytes, a short timeout),
 * must be a JSON object whose "client_id" equals the URL exactly and which
 * has "client_name" and "redirect_uris"; such clients are public (they have
 * no secret we could know) and get the authorization code and refresh
 * token grants.  Good documents are cached for cache_ttl seconds, failures
 * for a short while, in a bounded table.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/fetch.h"
#include "oauth/internal.h"
#include "oauth/redirect.h"

#define CIMD_DOC_MAX (5 * 1024)
#define CIMD_TIMEOUT_MS 3000
#define CIMD_CACHE_MAX 256
#define CIMD_NEGATIVE_TTL 30

struct cimd_entry {
	char *url;
	char *doc; /* NULL: a cached failure */
	int64_t expires;
};

struct cimd {
	const struct config *cfg;
	pthread_mutex_t mu;
	struct cimd_entry e[CIMD_CACHE_MAX];
	unsigned fetching;	/* fetches in progress */
	unsigned max_fetching;	/* at most this many at once */
};

struct cimd *
cimd_new(const struct config *cfg)
{
	struct cimd *c;
	unsigned threads;
	long ncpu;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->cfg = cfg;
	pthread_mutex_init(&c->mu, NULL);
	/* A fetch holds its pool thread for up to CIMD_TIMEOUT_MS, and anyone
	 * can ask for one with a fresh URL: left unbounded, a few requests
	 * naming documents that never arrive would hold every thread and stop
	 * the whole server.  Fetches may take at most half of the threads. */
	if ((threads = cfg->threads) == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		threads = ncpu > 0 ? (unsigned)ncpu : 1;
	}
	c->max_fetching = threads > 1 ? threads / 2 : 1;
	return (c);
}

void
cimd_free(struct cimd *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < CIMD_CACHE_MAX; i++) {
		free(c->e[i].url);
		free(c->e[i].doc);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int
cimd_is_url(const struct cimd *c, const char *client_id)
{
	const char *p, *end;
	size_t n;

	if (!c->cfg->cimd.enabled)
		return (0);
	if (strncmp(client_id, "https://", 8) == 0)
		p = client_id + 8;
	else if (c->cfg->cimd.allow_http && strncmp(client_id, "http://", 7) == 0)
		p = client_id + 7;
	else
		return (0);
	/* Printable ASCII only, as in any URI (RFC 3986).  The host is shown
	 * on the consent page as the publisher: raw UTF-8 there would let
	 * "https://g\xd0\xbe\xd0\xbegle.com/c" (Cyrillic o) read as google.com
	 * while libcurl fetches its punycode twin; a backslash is a path
	 * separator to browsers but not to libcurl. */
	for (n = 0; client_id[n] != '\0'; n++) {
		if ((unsigned char)client_id[n] <= 0x20 || (unsigned char)client_id[n] >= 0x7f ||
		    client_id[n] == '\\')
			return (0);
	}
	/* A host and a path are required.  No userinfo: the host is shown
	 * as the publisher on the consent page, and
	 * "https://good.example@evil.example/c" must not read as good.example.
	 * No fragment and no dot segments either
	 * (draft-ietf-oauth-client-id-metadata-document section 3). */
	end = p + strcspn(p, "/?#");
	if (end == p || *end != '/' || end[1] == '\0' || memchr(p, '@', (size_t)(end - p)) != NULL ||
	    strchr(end, '#') != NULL)
		return (0);
	for (p = end; *p == '/';) {
		p++;
		n = strcspn(p, "/?");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return (0);
		p += n;
	}
	return (1);
}

/* Look ${url} up; returns 1 with a copy in ${doc} (NULL for a cached
 * failure) if cached and fresh, else 0. */
static int
cache_get(struct cimd *c, const char *url, int64_t now, char **doc)
{
	size_t i;
	int hit = 0;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < CIMD_CACHE_MAX; i++)
		if (c->e[i].url != NULL && strcmp(c->e[i].url, url) == 0 && c->e[i].expires > now) {
			*doc = c->e[i].doc ? strdup(c->e[i].doc) : NULL;
			hit = 1;
			break;
		}
	pthread_mutex_unlock(&c->mu);
	return (hit);
}

static void
cache_put(struct cimd *c, const char *url, const char *doc, int64_t expires)
{
	size_t i, victim = 0;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < CIMD_CACHE_MAX; i++) {
		if (c->e[i].url != NULL && strcmp(c->e[i].url, url) == 0) {
			victim = i;
			break;
		}
		if (c->e[i].url == NULL || c->e[i].expires < c->e[victim].expires)
			victim = i;
	}
	free(c->e[victim].url);
	free(c->e[victim].doc);
	c->e[victim].url = strdup(url);
	c->e[victim].doc = doc ? strdup(doc) : NULL;
	c->e[victim].expires = expires;
	pthread_mutex_unlock(&c->mu);
}

/* Check a fetched document; NULL if good, else the reason. */
static const char *
validate(const char *url, json_t *doc)
{
	json_t *uris, *v;
	const char *m;
	size_t i;

	if (!json_is_object(doc))
		return ("not a JSON object");
	if (!json_is_string(json_object_get(doc, "client_id")) ||
	    strcmp(json_string_value(json_object_get(doc, "client_id")), url) != 0)
		return ("client_id does not equal the document URL");
	if (!json_is_string(json_object_get(doc, "client_name")) ||
	    json_string_length(json_object_get(doc, "client_name")) == 0 ||
	    json_string_length(json_object_get(doc, "client_name")) > 200)
		return ("client_name missing or invalid");
	if ((m = client_metadata_displayable(doc)) != NULL)
		return (m);
	uris = json_object_get(doc, "redirect_uris");
	if (!json_is_array(uris) || json_array_size(uris) == 0 || json_array_size(uris) > 16)
		return ("redirect_uris missing or invalid");
	json_array_foreach(uris, i, v) {
		if (!json_is_string(v) || redirect_classify(json_string_value(v)) == REDIRECT_INVALID)
			return ("a redirect URI is not acceptable");
	}
	m = json_string_value(json_object_get(doc, "token_endpoint_auth_method"));
	if (m != NULL && strcmp(m, "none") != 0)
		return ("only token_endpoint_auth_method none is supported for metadata documents");
	/* Symmetric secrets make no sense in a public document. */
	if (json_object_get(doc, "client_secret") != NULL)
		return ("the document contains a client_secret");
	return (NULL);
}

int
cimd_resolve(struct cimd *c, const char *client_id, const struct scope_set *all, struct store_client *out)
{
	struct fetch_opts opts;
	struct scope_set want;
	struct buf body;
	char scope[SCOPE_MAX_LEN + 1], *doc = NULL;
	const char *why;
	json_t *j = NULL;
	int64_t now = clock_now();
	long status = 0;
	enum fetch_err fe;
	int busy;

	memset(out, 0, sizeof(*out));
	if (!cache_get(c, client_id, now, &doc)) {
		pthread_mutex_lock(&c->mu);
		busy = c->fetching >= c->max_fetching;
		if (!busy)
			c->fetching++;
		pthread_mutex_unlock(&c->mu);
		if (busy) {
			/* Not cached as a failure: the document may be fine. */
			log_warn("client metadata document %s: too many fetches in progress", client_id);
			return (-1);
		}
		memset(&opts, 0, sizeof(opts));
		opts.max_bytes = CIMD_DOC_MAX;
		opts.timeout_ms = CIMD_TIMEOUT_MS;
		opts.allow_http = c->cfg->cimd.allow_http;
		opts.allow_private = c->cfg->cimd.allow_private;
		buf_init(&body, CIMD_DOC_MAX);
		fe = fetch_get(client_id, &opts, &body, &status);
		pthread_mutex_lock(&c->mu);
		c->fetching--;
		pthread_mutex_unlock(&c->mu);
		if (fe != FETCH_OK) {
			log_warn("client metadata document %s: %s (status %ld)", client_id, fetch_strerror(fe),
			    status);
			cache_put(c, client_id, NULL, now + CIMD_NEGATIVE_TTL);
			buf_clear(&body);
			return (STORE_NOTFOUND);
		}
		j = json_loadb(buf_cstr(&body), body.len, JSON_REJECT_DUPLICATES, NULL);
		buf_clear(&body);
		if ((why = validate(client_id, j)) != NULL) {
			log_warn("client metadata document %s refused: %s", client_id, why);
			json_decref(j);
			cache_put(c, client_id, NULL, now + CIMD_NEGATIVE_TTL);
			return (STORE_NOTFOUND);
		}
		doc = json_dumps(j, JSON_COMPACT);
		cache_put(c, client_id, doc, now + c->cfg->cimd.cache_ttl);
	} else {
		if (doc == NULL)
			return (STORE_NOTFOUND);
		j = json_loads(doc, 0, NULL);
	}
	if (j == NULL || doc == NULL) {
		free(doc);
		json_decref(j);
		return (-1);
	}
	if (scope_parse(json_string_value(json_object_get(j, "scope")), &want) || want.n == 0)
		want = *all;
	else
		scope_intersect(&want, all, &want);
	scope_string(&want, scope, sizeof(scope));
	out->client_id = strdup(client_id);
	out->name = strdup(json_string_value(json_object_get(j, "client_name")));
	out->redirect_uris = json_dumps(json_object_get(j, "redirect_uris"), JSON_COMPACT);
	out->grant_types = strdup("[\"authorization_code\",\"refresh_token\"]");
	out->scope = strdup(scope);
	out->auth_method = strdup("none");
	out->metadata = doc;
	json_decref(j);
	if (out->client_id == NULL || out->name == NULL || out->redirect_uris == NULL || out->grant_types == NULL ||
	    out->scope == NULL || out->auth_method == NULL) {
		store_client_clear(out);
		return (-1);
	}
	return (0);
}
