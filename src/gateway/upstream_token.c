/*
 * upstream_token: client credentials for the gateway itself, cached and
 * refreshed before expiry.  See upstream_token.h.
 */
#include "gateway/upstream_token.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "http/fetch.h"
#include "http/form.h"

#define TOKEN_TIMEOUT_MS 5000L
#define TOKEN_ANSWER_MAX (16 * 1024)
#define TOKEN_DEFAULT_TTL_S 300
#define TOKEN_MARGIN_MAX_MS 60000
#define TOKEN_RETRY_MS 1000
#define CRED_MAX 1024

struct upstream_token {
	const struct upstream_oauth *cfg;
	const char *name;
	pthread_mutex_t mtx;
	char tok[UPSTREAM_TOKEN_MAX + 1];	/* "" when none */
	int64_t refresh_at;			/* monotonic ms */
	int64_t expires_at;
	int64_t retry_at;			/* after a failure */
	unsigned long requests;
};

struct upstream_token *
upstream_token_new(const struct upstream_oauth *cfg, const char *name)
{
	struct upstream_token *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	t->cfg = cfg;
	t->name = name;
	pthread_mutex_init(&t->mtx, NULL);
	return (t);
}

void
upstream_token_free(struct upstream_token *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->mtx);
	secret_wipe(t, sizeof(*t));
	free(t);
}

static size_t
collect(char *p, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;

	if (buf_add(b, p, size * nmemb))
		return (0);
	return (size * nmemb);
}

/* "Authorization: Basic base64(urlenc(id) ':' urlenc(secret))" into ${b}. */
static int
basic_header(const struct upstream_oauth *cfg, struct buf *b)
{
	struct buf cred, id, sec;
	char *enc = NULL;
	int rc = -1;

	buf_init(&cred, 3 * 2 * CRED_MAX + 1);
	buf_init(&id, 3 * CRED_MAX + 2);
	buf_init(&sec, 3 * CRED_MAX + 2);
	/* form_encode() writes "n=v": skip the "n=". */
	if (form_encode(&id, "n", cfg->client_id) || form_encode(&sec, "n", cfg->client_secret) ||
	    buf_add(&cred, id.p + 2, id.len - 2) || buf_add(&cred, ":", 1) ||
	    buf_add(&cred, sec.p + 2, sec.len - 2))
		goto out;
	if ((enc = malloc(4 * ((cred.len + 2) / 3) + 1)) == NULL)
		goto out;
	b64_encode(cred.p, cred.len, enc);
	if (buf_printf(b, "Authorization: Basic %s", enc))
		goto out;
	rc = 0;
out:
	if (enc != NULL) {
		secret_wipe(enc, strlen(enc));
		free(enc);
	}
	buf_clear(&cred);
	buf_clear(&id);
	buf_clear(&sec);
	return (rc);
}

static int
visible_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x21 || *s > 0x7e)
			return (0);
	return (1);
}

/* POST the client credentials grant; on success store the token.  Called
 * with t->mtx held. */
static int
request(struct upstream_token *t)
{
	struct curl_slist *h = NULL, *p;
	struct buf body, answer, auth;
	json_error_t je;
	json_t *j = NULL;
	const char *tok, *type;
	json_int_t ttl = TOKEN_DEFAULT_TTL_S;
	int64_t ttl_ms, margin;
	long status = 0;
	CURLcode cc;
	CURL *c;
	int rc = -1;

	t->requests++;
	fetch_global_init();
	buf_init(&body, 16 * 1024);
	buf_init(&answer, TOKEN_ANSWER_MAX);
	buf_init(&auth, 16 * 1024);
	if (strlen(t->cfg->client_id) > CRED_MAX || strlen(t->cfg->client_secret) > CRED_MAX) {
		log_warn("upstream %s: client credentials too long", t->name);
		goto out0;
	}
	if (form_encode(&body, "grant_type", "client_credentials") ||
	    (t->cfg->scope != NULL && form_encode(&body, "scope", t->cfg->scope)) ||
	    (t->cfg->resource != NULL && form_encode(&body, "resource", t->cfg->resource)) ||
	    basic_header(t->cfg, &auth))
		goto out0;
	if ((c = curl_easy_init()) == NULL)
		goto out0;
	if ((p = curl_slist_append(h, buf_cstr(&auth))) == NULL)
		goto out1;
	h = p;
	if ((p = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded")) == NULL)
		goto out1;
	h = p;
	if ((p = curl_slist_append(h, "Accept: application/json")) == NULL)
		goto out1;
	h = p;
	if (curl_easy_setopt(c, CURLOPT_URL, t->cfg->token_endpoint) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TOKEN_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.p) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TOKEN_ANSWER_MAX) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer) != CURLE_OK)
		goto out1;
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		log_warn("upstream %s: token request failed: %s", t->name, curl_easy_strerror(cc));
		goto out1;
	}
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		log_warn("upstream %s: token endpoint answered %ld", t->name, status);
		goto out1;
	}
	j = json_loadb(answer.p ? answer.p : "", answer.len, JSON_REJECT_DUPLICATES, &je);
	tok = json_string_value(json_object_get(j, "access_token"));
	type = json_string_value(json_object_get(j, "token_type"));
	if (tok == NULL || type == NULL || strcasecmp(type, "Bearer") != 0 || tok[0] == '\0' ||
	    strlen(tok) > UPSTREAM_TOKEN_MAX || !visible_ascii(tok)) {
		log_warn("upstream %s: token endpoint answer unusable", t->name);
		goto out1;
	}
	if (json_is_integer(json_object_get(j, "expires_in")))
		ttl = json_integer_value(json_object_get(j, "expires_in"));
	if (ttl < 1)
		ttl = 1;
	if (ttl > 86400 * 365)
		ttl = 86400 * 365;
	ttl_ms = (int64_t)ttl * 1000;
	margin = ttl_ms / 5 < TOKEN_MARGIN_MAX_MS ? ttl_ms / 5 : TOKEN_MARGIN_MAX_MS;
	secret_wipe(t->tok, sizeof(t->tok));
	memcpy(t->tok, tok, strlen(tok) + 1);
	t->refresh_at = clock_now_ms() + ttl_ms - margin;
	t->expires_at = clock_now_ms() + ttl_ms;
	log_info("upstream %s: obtained an access token for %lld s", t->name, (long long)ttl);
	rc = 0;
out1:
	for (p = h; p != NULL; p = p->next)
		secret_wipe(p->data, strlen(p->data));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
out0:
	if (j != NULL) {
		/* The token's text inside the parsed document. */
		tok = json_string_value(json_object_get(j, "access_token"));
		if (tok != NULL)
			secret_wipe((char *)(uintptr_t)tok, strlen(tok));
		json_decref(j);
	}
	buf_clear(&body);
	buf_clear(&answer);
	buf_clear(&auth);
	return (rc);
}

/*
 * upstream_token_get(t, out, outcap): a valid token into ${out}.
 */
int
upstream_token_get(struct upstream_token *t, char *out, size_t outcap)
{
	int64_t now = clock_now_ms();
	int rc = 0;

	pthread_mutex_lock(&t->mtx);
	if (t->tok[0] == '\0' || now >= t->refresh_at) {
		if (now < t->retry_at || request(t) != 0) {
			if (now >= t->retry_at)
				t->retry_at = now + TOKEN_RETRY_MS;
			/* A token in its refresh margin is still valid: use it
			 * until it expires. */
			if (t->tok[0] == '\0' || now >= t->expires_at)
				rc = -1;
		}
	}
	if (rc == 0 && strlen(t->tok) + 1 > outcap)
		rc = -1;
	if (rc == 0)
		memcpy(out, t->tok, strlen(t->tok) + 1);
	pthread_mutex_unlock(&t->mtx);
	if (rc != 0)
		secret_wipe(out, outcap);
	return (rc);
}

void
upstream_token_invalidate(struct upstream_token *t)
{
	pthread_mutex_lock(&t->mtx);
	secret_wipe(t->tok, sizeof(t->tok));
	t->refresh_at = t->expires_at = 0;
	pthread_mutex_unlock(&t->mtx);
}

unsigned long
upstream_token_requests(struct upstream_token *t)
{
	unsigned long n;

	pthread_mutex_lock(&t->mtx);
	n = t->requests;
	pthread_mutex_unlock(&t->mtx);
	return (n);
}
