/*
 * Unit tests for src/gateway/rs.c, through its header.
 *
 * Local mode runs over the real SQLite store and keyring in a temporary
 * directory.  jwks and introspection modes run against a local http_server
 * that serves a JWKS of keys made here with OpenSSL and answers RFC 7662
 * requests from a table.  The request-level tests (rs_authenticate,
 * rs_respond) go through the same server with libcurl.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/secret.h"
#include "gateway/rs.h"
#include "http/basic.h"
#include "http/form.h"
#include "http/server.h"
#include "store/store.h"
#include "token/keyring.h"

#define ISS "https://as.example"
#define AUD "https://mcp.example/mcp"
#define PRM "https://mcp.example/.well-known/oauth-protected-resource/mcp"
#define CLIENT_ID "gateway"
#define CLIENT_SECRET "s3cret:&="

/* ---------------------------------------------------------------------- */
/* The local HTTP server: JWKS, introspection, and /mcp guarded by an rs. */

static pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;
static char *jwks_doc;	     /* served at /jwks; NULL: 500 */
static int jwks_hits;
static int introspect_hits;
static int flip_state;	     /* "flip": 0 active, 1 inactive, 2 the server fails */
static struct rs *guard;     /* for /mcp */
static struct http_server *srv;
static uint16_t srv_port;

static void
h_jwks(void *arg, const struct http_req *req, struct http_resp *resp)
{
	(void)arg;
	(void)req;
	pthread_mutex_lock(&srv_lock);
	jwks_hits++;
	if (jwks_doc == NULL)
		http_resp_text(resp, 500, "text/plain", "down");
	else
		http_resp_text(resp, 200, "application/json", jwks_doc);
	pthread_mutex_unlock(&srv_lock);
}

/* The introspection answers, by token. */
static json_t *
answer_for(const char *tok)
{
	json_int_t now = (json_int_t)clock_now();

	if (strcmp(tok, "good") == 0)
		return (json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "active", 1, "iss", ISS, "aud", AUD,
		    "sub", "u1", "client_id", "c1", "scope", "mcp:write mcp:read", "exp", now + 300, "jti", "j1"));
	if (strcmp(tok, "otheraud") == 0)
		return (json_pack("{s:b, s:s, s:s, s:s, s:s, s:I}", "active", 1, "iss", ISS, "aud",
		    "https://other.example/mcp", "sub", "u1", "client_id", "c1", "exp", now + 300));
	if (strcmp(tok, "noaud") == 0)
		return (json_pack("{s:b, s:s, s:s, s:I}", "active", 1, "sub", "u1", "client_id", "c1", "exp",
		    now + 300));
	if (strcmp(tok, "otheriss") == 0)
		return (json_pack("{s:b, s:s, s:s, s:s, s:s, s:I}", "active", 1, "iss", "https://evil.example",
		    "aud", AUD, "sub", "u1", "client_id", "c1", "exp", now + 300));
	if (strcmp(tok, "refresh") == 0)
		return (json_pack("{s:b, s:s, s:s, s:s, s:s, s:I}", "active", 1, "token_type", "refresh_token",
		    "aud", AUD, "sub", "u1", "client_id", "c1", "exp", now + 300));
	if (strcmp(tok, "expired") == 0)
		return (json_pack("{s:b, s:[s], s:s, s:s, s:I}", "active", 1, "aud", AUD, "sub", "u1",
		    "client_id", "c1", "exp", now - 3600));
	if (strcmp(tok, "nosub") == 0)
		return (json_pack("{s:b, s:[ss], s:s, s:I}", "active", 1, "aud", "x", AUD, "client_id", "svc",
		    "exp", now + 300));
	if (strcmp(tok, "fail") == 0)
		return (NULL);
	if (strncmp(tok, "live-", 5) == 0 || (strcmp(tok, "flip") == 0 && flip_state == 0))
		return (json_pack("{s:b, s:s, s:s, s:s, s:s, s:I, s:s}", "active", 1, "iss", ISS, "aud", AUD,
		    "sub", "u1", "client_id", "c1", "exp", now + 300, "jti", tok));
	if (strcmp(tok, "flip") == 0 && flip_state == 2)
		return (NULL);
	return (json_pack("{s:b}", "active", 0));
}

static void
h_introspect(void *arg, const struct http_req *req, struct http_resp *resp)
{
	char *user = NULL, *pass = NULL;
	const char *tok;
	struct form f;
	json_t *j;

	(void)arg;
	pthread_mutex_lock(&srv_lock);
	introspect_hits++;
	pthread_mutex_unlock(&srv_lock);
	if (strcmp(req->method, "POST") != 0 || http_req_header(req, "Authorization") == NULL ||
	    basic_parse(http_req_header(req, "Authorization"), &user, &pass) != 0 ||
	    strcmp(user, CLIENT_ID) != 0 || strcmp(pass, CLIENT_SECRET) != 0) {
		http_resp_json(resp, 401, json_pack("{s:s}", "error", "invalid_client"));
		goto out;
	}
	memset(&f, 0, sizeof(f));
	if (form_parse(&f, req->body, req->body_len) || (tok = form_get(&f, "token")) == NULL ||
	    strcmp(form_get(&f, "token_type_hint") ? form_get(&f, "token_type_hint") : "", "access_token") != 0) {
		form_clear(&f);
		http_resp_json(resp, 400, json_pack("{s:s}", "error", "invalid_request"));
		goto out;
	}
	pthread_mutex_lock(&srv_lock);
	j = answer_for(tok);
	pthread_mutex_unlock(&srv_lock);
	if (j == NULL)
		http_resp_text(resp, 500, "text/plain", "oops");
	else
		http_resp_json(resp, 200, j);
	form_clear(&f);
out:
	free(user);
	free(pass);
}

/* /mcp: 200 with the subject and scope, or the rs's answer. */
static void
h_mcp(void *arg, const struct http_req *req, struct http_resp *resp)
{
	const struct rs_principal *p;
	enum rs_err e;

	(void)arg;
	if ((e = rs_authenticate(guard, req, &p)) != RS_OK) {
		rs_respond(guard, e, NULL, resp);
		return;
	}
	if (!rs_principal_has_scope(p, "mcp:write"))
		rs_respond(guard, RS_ERR_SCOPE, "mcp:read mcp:write", resp);
	else
		http_resp_json(resp, 200, json_pack("{s:s, s:s}", "sub", p->sub, "scope", p->scope));
	rs_principal_release(p);
}

static const struct http_route routes[] = {
	{"/jwks", 0, h_jwks, NULL},
	{"/introspect", 0, h_introspect, NULL},
	{"/mcp", 0, h_mcp, NULL},
};

static void
srv_start(void)
{
	struct http_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.bind_addr = "127.0.0.1";
	cfg.threads = 2;
	cfg.timeout_s = 5;
	assert_non_null(srv = http_server_new(&cfg, routes, sizeof(routes) / sizeof(routes[0])));
	srv_port = http_server_port(srv);
}

static void
set_jwks(const char *doc)
{
	pthread_mutex_lock(&srv_lock);
	free(jwks_doc);
	jwks_doc = doc != NULL ? strdup(doc) : NULL;
	pthread_mutex_unlock(&srv_lock);
}

static int
hits(int *counter)
{
	int n;

	pthread_mutex_lock(&srv_lock);
	n = *counter;
	pthread_mutex_unlock(&srv_lock);
	return (n);
}

/* ---------------------------------------------------------------------- */
/* Keys and tokens made here */

struct tkey {
	EVP_PKEY *pk;
	char kid[16];
	char jwk[512]; /* public JWK text */
};

static void
b64(const void *p, size_t n, char *out)
{
	b64url_encode(p, n, out);
}

static void
tkey_new(struct tkey *k, const char *kid)
{
	unsigned char x[32], y[32];
	char xs[64], ys[64];
	BIGNUM *bx = NULL, *by = NULL;

	assert_non_null(k->pk = EVP_EC_gen("P-256"));
	assert_int_equal(EVP_PKEY_get_bn_param(k->pk, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(k->pk, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
	assert_int_equal(BN_bn2binpad(bx, x, 32), 32);
	assert_int_equal(BN_bn2binpad(by, y, 32), 32);
	BN_free(bx);
	BN_free(by);
	b64(x, 32, xs);
	b64(y, 32, ys);
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	snprintf(k->jwk, sizeof(k->jwk),
	    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"kid\":\"%s\",\"use\":\"sig\","
	    "\"alg\":\"ES256\"}",
	    xs, ys, kid);
}

static void
tkey_free(struct tkey *k)
{
	EVP_PKEY_free(k->pk);
}

#define P256_N "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"

/* low_s(raw): make the raw signature's s the low one of its two forms. */
static void
low_s(unsigned char raw[64])
{
	BIGNUM *n = NULL, *half, *s = BN_bin2bn(raw + 32, 32, NULL);

	assert_non_null(s);
	assert_int_not_equal(BN_hex2bn(&n, P256_N), 0);
	assert_non_null(half = BN_dup(n));
	assert_int_equal(BN_rshift1(half, half), 1);
	if (BN_cmp(s, half) > 0) {
		assert_int_equal(BN_sub(s, n, s), 1);
		assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
	}
	BN_free(n);
	BN_free(half);
	BN_free(s);
}

/* craft(k, hdr, payload): a compact JWS of the literal texts, ES256-signed
 * with ${k}; malloc'd. */
static char *
craft(struct tkey *k, const char *hdr, const char *payload)
{
	char h[1024], p[4096], sig[128], *input, *tok;
	unsigned char der[80], raw[64];
	const unsigned char *dp = der;
	size_t derlen = sizeof(der);
	EVP_MD_CTX *md;
	ECDSA_SIG *es;
	const BIGNUM *r, *s;

	assert_true(B64URL_LEN(strlen(hdr)) < sizeof(h) && B64URL_LEN(strlen(payload)) < sizeof(p));
	b64(hdr, strlen(hdr), h);
	b64(payload, strlen(payload), p);
	assert_int_not_equal(asprintf(&input, "%s.%s", h, p), -1);
	assert_non_null(md = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->pk), 1);
	assert_int_equal(EVP_DigestSign(md, der, &derlen, (unsigned char *)input, strlen(input)), 1);
	EVP_MD_CTX_free(md);
	assert_non_null(es = d2i_ECDSA_SIG(NULL, &dp, (long)derlen));
	ECDSA_SIG_get0(es, &r, &s);
	assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
	assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
	ECDSA_SIG_free(es);
	low_s(raw);
	b64(raw, sizeof(raw), sig);
	assert_int_not_equal(asprintf(&tok, "%s.%s", input, sig), -1);
	free(input);
	return (tok);
}

/* claims_text(jti, iss, aud, exp_in): a claims object as text; ${aud} is
 * put in verbatim (a JSON value). */
static char *
claims_text(const char *jti, const char *iss, const char *aud_json, int64_t exp_in)
{
	size_t cap = 1024 + strlen(iss) + strlen(aud_json) + strlen(jti);
	char *s = malloc(cap);
	int64_t now = clock_now();

	assert_non_null(s);
	snprintf(s, cap,
	    "{\"iss\":\"%s\",\"aud\":%s,\"sub\":\"user-1\",\"client_id\":\"client-1\","
	    "\"jti\":\"%s\",\"iat\":%lld,\"exp\":%lld,\"scope\":\"mcp:write mcp:read\"}",
	    iss, aud_json, jti, (long long)now, (long long)(now + exp_in));
	return (s);
}

static char *
craft_std(struct tkey *k, const char *jti)
{
	char hdr[128], *c = claims_text(jti, ISS, "\"" AUD "\"", 300), *t;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", k->kid);
	t = craft(k, hdr, c);
	free(c);
	return (t);
}

/* ---------------------------------------------------------------------- */
/* Fixture: store, keyring, rs in local mode, and the server. */

struct fixture {
	char dir[512];
	struct store *st;
	struct keyring *kr;
	struct rs *rs;
	struct rs_config cfg;
};

static struct rs *
local_rs(struct fixture *f, size_t cache_max)
{
	struct rs_params p;
	struct rs *rs;

	memset(&p, 0, sizeof(p));
	assert_int_equal(rs_config_parse(NULL, &f->cfg, &(const char *){NULL}), 0);
	if (cache_max != 0)
		f->cfg.cache_max = cache_max;
	f->cfg.poll_ms = 100;
	p.cfg = &f->cfg;
	p.resource = AUD;
	p.issuer = ISS;
	p.metadata_url = PRM;
	p.scope = "mcp:read";
	p.kr = f->kr;
	p.st = f->st;
	rs = rs_new(&p);
	rs_config_clear(&f->cfg);
	assert_non_null(rs);
	return (rs);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *base = getenv("MCPGATE_TEST_TMP");
	unsigned char master[MASTERKEY_LEN];
	char url[600];

	assert_non_null(f);
	if (base == NULL)
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(f->dir, sizeof(f->dir), "%s/rs-XXXXXX", base);
	assert_non_null(mkdtemp(f->dir));
	snprintf(url, sizeof(url), "sqlite:%s/store.db", f->dir);
	assert_int_equal(secret_random(master, sizeof(master)), 0);
	assert_non_null(f->st = store_open(url));
	assert_non_null(f->kr = keyring_open(f->st, master, clock_now()));
	f->rs = local_rs(f, 0);
	guard = f->rs;
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[600];

	guard = NULL;
	rs_free(f->rs);
	keyring_free(f->kr);
	store_free(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return (0);
}

static int
group_setup(void **state)
{
	(void)state;
	srv_start();
	return (0);
}

static int
group_teardown(void **state)
{
	(void)state;
	http_server_free(srv);
	set_jwks(NULL);
	return (0);
}

/* sign(f, claims_json): a token from the keyring for the claims text. */
static char *
sign(struct fixture *f, const char *claims)
{
	json_t *c;
	char *tok = NULL;

	assert_non_null(c = json_loads(claims, 0, NULL));
	assert_int_equal(keyring_sign(f->kr, c, &tok), 0);
	json_decref(c);
	return (tok);
}

static char *
sign_std(struct fixture *f, const char *jti)
{
	char *c = claims_text(jti, ISS, "\"" AUD "\"", 300), *t = sign(f, c);

	free(c);
	return (t);
}

static enum rs_err
check(struct rs *rs, const char *tok)
{
	const struct rs_principal *p = (void *)1;
	enum rs_err e = rs_verify(rs, tok, strlen(tok), &p);

	if (e == RS_OK) {
		assert_non_null(p);
		rs_principal_release(p);
	} else
		assert_null(p);
	return (e);
}

/* ---------------------------------------------------------------------- */
/* Local mode */

static void
test_valid(void **state)
{
	struct fixture *f = *state;
	const struct rs_principal *p;
	char *tok = sign_std(f, "jti-valid");

	assert_int_equal(rs_verify(f->rs, tok, strlen(tok), &p), RS_OK);
	assert_string_equal(p->sub, "user-1");
	assert_string_equal(p->client_id, "client-1");
	assert_string_equal(p->jti, "jti-valid");
	assert_string_equal(p->scope, "mcp:read mcp:write");
	assert_int_equal(p->nscopes, 2);
	assert_string_equal(p->scopes[0], "mcp:read");
	assert_string_equal(p->scopes[1], "mcp:write");
	assert_true(p->exp > clock_now());
	assert_int_equal(rs_principal_has_scope(p, "mcp:read"), 1);
	assert_int_equal(rs_principal_has_scope(p, "mcp:write"), 1);
	assert_int_equal(rs_principal_has_scope(p, "mcp:admin"), 0);
	assert_int_equal(rs_principal_has_scope(p, "mcp"), 0);
	assert_int_equal(rs_principal_has_scopes(p, "mcp:write  mcp:read"), 1);
	assert_int_equal(rs_principal_has_scopes(p, ""), 1);
	assert_int_equal(rs_principal_has_scopes(p, NULL), 1);
	assert_int_equal(rs_principal_has_scopes(p, "mcp:read mcp:github"), 0);
	rs_principal_release(p);
	rs_principal_release(NULL);
	free(tok);
}

static void
test_claim_defects(void **state)
{
	struct fixture *f = *state;
	int64_t now = clock_now();
	char buf[1024], *tok, *c;
	static const struct {
		const char *members; /* all but iat and exp */
		enum rs_err want;
	} cases[] = {
	    /* expired beyond the 30 s skew */
	    {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"client_id\":\"c\",\"jti\":\"j1\"",
		RS_ERR_EXPIRED},
	    /* nbf in the future */
	    {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"client_id\":\"c\",\"jti\":\"j2\","
	     "\"nbf\":9999999999",
		RS_ERR_INVALID},
	    {"\"iss\":\"https://evil.example\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"client_id\":\"c\","
	     "\"jti\":\"j3\"",
		RS_ERR_ISSUER},
	    {"\"iss\":\"" ISS "\",\"aud\":\"https://mcp.example/other\",\"sub\":\"u\",\"client_id\":\"c\","
	     "\"jti\":\"j4\"",
		RS_ERR_AUDIENCE},
	    {"\"iss\":\"" ISS "\",\"aud\":[\"https://a.example\",\"" AUD "\"],\"sub\":\"u\","
	     "\"client_id\":\"c\",\"jti\":\"j5\"",
		RS_OK},
	    {"\"iss\":\"" ISS "\",\"aud\":[\"https://a.example\",\"" AUD "/\"],\"sub\":\"u\","
	     "\"client_id\":\"c\",\"jti\":\"j6\"",
		RS_ERR_AUDIENCE},
	    /* missing jti */
	    {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"client_id\":\"c\"",
		RS_ERR_INVALID},
	    /* missing client_id */
	    {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"jti\":\"j7\"",
		RS_ERR_INVALID},
	    /* a scope with a forbidden character */
	    {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"client_id\":\"c\",\"jti\":\"j8\","
	     "\"scope\":\"a\\\\b\"",
		RS_ERR_INVALID},
	    /* scope not a string */
	    {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"client_id\":\"c\",\"jti\":\"j9\","
	     "\"scope\":[\"mcp:read\"]",
		RS_ERR_INVALID},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t exp = i == 0 ? now - 100 : now + 300;

		snprintf(buf, sizeof(buf), "{%s,\"iat\":%lld,\"exp\":%lld}", cases[i].members, (long long)now,
		    (long long)exp);
		tok = sign(f, buf);
		if (check(f->rs, tok) != cases[i].want)
			fail_msg("case %zu: got %d, want %d", i, check(f->rs, tok), cases[i].want);
		free(tok);
	}

	/* Within the skew: expired 10 s ago is still accepted. */
	c = claims_text("jti-skew", ISS, "\"" AUD "\"", -10);
	tok = sign(f, c);
	assert_int_equal(check(f->rs, tok), RS_OK);
	free(tok);
	free(c);
}

/* replace_seg(tok, i, text): ${tok} with segment ${i} replaced. */
static char *
replace_seg(const char *tok, int i, const char *seg)
{
	const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
	char *out;

	if (i == 0)
		assert_int_not_equal(asprintf(&out, "%s%s", seg, d1), -1);
	else if (i == 1)
		assert_int_not_equal(asprintf(&out, "%.*s.%s%s", (int)(d1 - tok), tok, seg, d2), -1);
	else
		assert_int_not_equal(asprintf(&out, "%.*s.%s", (int)(d2 - tok), tok, seg), -1);
	return (out);
}

static void
test_token_defects(void **state)
{
	struct fixture *f = *state;
	char *tok = sign_std(f, "jti-defects"), *bad, hdr[512], seg[2048], *c, mac64[64];
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);
	json_t *jwks, *k;
	char *pub;
	const char *kid;
	struct tkey other;
	size_t n;

	jwks = keyring_jwks(f->kr, clock_now());
	k = json_array_get(json_object_get(jwks, "keys"), 0);
	kid = json_string_value(json_object_get(k, "kid"));
	assert_non_null(kid);

	/* Tampered payload (another subject), original signature. */
	c = claims_text("jti-defects", ISS, "\"" AUD "\"", 300);
	{
		char *u = strstr(c, "user-1");

		assert_non_null(u);
		u[5] = '2';
	}
	b64(c, strlen(c), seg);
	bad = replace_seg(tok, 1, seg);
	assert_int_equal(check(f->rs, bad), RS_ERR_INVALID);
	free(bad);

	/* One character appended to the signature (cjose alone accepts it). */
	assert_int_not_equal(asprintf(&bad, "%sA", tok), -1);
	assert_int_equal(check(f->rs, bad), RS_ERR_INVALID);
	free(bad);

	/* alg none, empty signature. */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid);
	b64(hdr, strlen(hdr), seg);
	{
		const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');

		assert_int_not_equal(asprintf(&bad, "%s%.*s.", seg, (int)(d2 - d1), d1), -1);
	}
	assert_int_equal(check(f->rs, bad), RS_ERR_INVALID);
	free(bad);

	/* HS256 keyed with the public key (its JWK text). */
	assert_non_null(pub = json_dumps(k, JSON_COMPACT));
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid);
	{
		char h64[1024], p64[2048], *input;

		b64(hdr, strlen(hdr), h64);
		b64(c, strlen(c), p64);
		assert_int_not_equal(asprintf(&input, "%s.%s", h64, p64), -1);
		assert_non_null(HMAC(EVP_sha256(), pub, (int)strlen(pub), (unsigned char *)input, strlen(input),
		    mac, &maclen));
		b64(mac, maclen, mac64);
		assert_int_not_equal(asprintf(&bad, "%s.%s", input, mac64), -1);
		free(input);
	}
	assert_int_equal(check(f->rs, bad), RS_ERR_INVALID);
	free(bad);
	free(pub);

	/* Signed by a key nobody published, under an unknown kid, and under
	 * the real kid. */
	tkey_new(&other, "unknown-kid");
	bad = craft_std(&other, "jti-x");
	assert_int_equal(check(f->rs, bad), RS_ERR_INVALID);
	free(bad);
	snprintf(other.kid, sizeof(other.kid), "%.15s", kid);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid);
	bad = craft(&other, hdr, c);
	assert_int_equal(check(f->rs, bad), RS_ERR_INVALID);
	free(bad);
	tkey_free(&other);

	/* Not a JWT at all, empty, too long, a NUL inside. */
	assert_int_equal(check(f->rs, "abc"), RS_ERR_MALFORMED);
	assert_int_equal(check(f->rs, "a.b"), RS_ERR_MALFORMED);
	assert_int_equal(check(f->rs, "a.b.c.d"), RS_ERR_MALFORMED);
	assert_int_equal(check(f->rs, "a.b.c"), RS_ERR_INVALID);
	{
		const struct rs_principal *p;

		assert_int_equal(rs_verify(f->rs, "", 0, &p), RS_ERR_MALFORMED);
		assert_int_equal(rs_verify(f->rs, "a.\0.c", 5, &p), RS_ERR_MALFORMED);
		n = 9000;
		bad = malloc(n);
		memset(bad, 'a', n);
		assert_int_equal(rs_verify(f->rs, bad, n, &p), RS_ERR_MALFORMED);
		free(bad);
	}

	/* And the original still passes. */
	assert_int_equal(check(f->rs, tok), RS_OK);
	free(c);
	free(tok);
	json_decref(jwks);
}

static void
test_cache_hit(void **state)
{
	struct fixture *f = *state;
	const struct rs_principal *p1, *p2;
	struct rs_stats s0, s1;
	char *tok = sign_std(f, "jti-cache");

	rs_stats(f->rs, &s0);
	assert_int_equal(rs_verify(f->rs, tok, strlen(tok), &p1), RS_OK);
	rs_stats(f->rs, &s1);
	assert_int_equal(s1.verifications, s0.verifications + 1);
	assert_int_equal(s1.misses, s0.misses + 1);
	assert_int_equal(s1.cached, s0.cached + 1);

	assert_int_equal(rs_verify(f->rs, tok, strlen(tok), &p2), RS_OK);
	rs_stats(f->rs, &s1);
	assert_int_equal(s1.verifications, s0.verifications + 1);
	assert_int_equal(s1.hits, s0.hits + 1);
	/* The very same principal, shared. */
	assert_ptr_equal(p1, p2);
	assert_string_equal(p2->sub, "user-1");
	rs_principal_release(p1);
	rs_principal_release(p2);

	/* Refused tokens are not cached: each try verifies again. */
	tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(check(f->rs, tok), RS_ERR_INVALID);
	assert_int_equal(check(f->rs, tok), RS_ERR_INVALID);
	rs_stats(f->rs, &s0);
	assert_int_equal(s0.verifications, s1.verifications + 2);
	free(tok);
}

static void
test_revocation(void **state)
{
	struct fixture *f = *state;
	char *tok = sign_std(f, "jti-revoke"), *other = sign_std(f, "jti-keep");
	struct timespec ts = {0, 20 * 1000000};
	int64_t t0, waited;
	struct rs *fresh;
	struct rs_stats s;
	enum rs_err e;

	assert_int_equal(check(f->rs, tok), RS_OK);
	assert_int_equal(check(f->rs, tok), RS_OK); /* now a cache hit */
	assert_int_equal(check(f->rs, other), RS_OK);
	assert_int_equal(f->st->ops->jti_deny(f->st, "jti-revoke", clock_now() + 300, clock_now()), 0);
	t0 = clock_now_ms();
	while ((e = check(f->rs, tok)) == RS_OK && clock_now_ms() - t0 < 5000)
		nanosleep(&ts, NULL);
	waited = clock_now_ms() - t0;
	print_message("revocation seen after %lld ms\n", (long long)waited);
	assert_int_equal(e, RS_ERR_REVOKED);
	assert_int_equal(check(f->rs, tok), RS_ERR_REVOKED);
	assert_int_equal(check(f->rs, other), RS_OK);
	rs_stats(f->rs, &s);
	assert_true(s.denied >= 1);
	assert_true(s.polls >= 2);

	/* A new rs knows the denylist from the start. */
	fresh = local_rs(f, 0);
	assert_int_equal(check(fresh, tok), RS_ERR_REVOKED);
	assert_int_equal(check(fresh, other), RS_OK);
	rs_free(fresh);
	free(tok);
	free(other);
}

/* rs_principal_check(): what a stream's holder kept (jti, exp) checked
 * again, without the token: expiry with the skew, revocation from the
 * denylist, other jtis untouched. */
static void
test_principal_check(void **state)
{
	struct fixture *f = *state;
	struct timespec ts = {0, 20 * 1000000};
	int64_t now = clock_now(), t0, waited;
	enum rs_err e;

	/* Expiry: refused from exp + clock_skew (30 s by default) on. */
	assert_int_equal(rs_principal_check(f->rs, "jti-pc", now + 300, now), RS_OK);
	assert_int_equal(rs_principal_check(f->rs, "jti-pc", now - 29, now), RS_OK);
	assert_int_equal(rs_principal_check(f->rs, "jti-pc", now - 30, now), RS_ERR_EXPIRED);
	assert_int_equal(rs_principal_check(f->rs, "jti-pc", now - 3600, now), RS_ERR_EXPIRED);

	/* Revocation: seen once the poller read it. */
	assert_int_equal(f->st->ops->jti_deny(f->st, "jti-pc", now + 300, now), 0);
	t0 = clock_now_ms();
	while ((e = rs_principal_check(f->rs, "jti-pc", now + 300, clock_now())) == RS_OK &&
	    clock_now_ms() - t0 < 5000)
		nanosleep(&ts, NULL);
	waited = clock_now_ms() - t0;
	print_message("revocation seen by rs_principal_check after %lld ms\n", (long long)waited);
	assert_int_equal(e, RS_ERR_REVOKED);
	assert_true(waited < 1000);
	assert_int_equal(rs_principal_check(f->rs, "jti-pc-other", now + 300, clock_now()), RS_OK);
	/* Expired and revoked: expired (the token is refused as such). */
	assert_int_equal(rs_principal_check(f->rs, "jti-pc", now - 60, now), RS_ERR_EXPIRED);
}

static void
test_cache_bound(void **state)
{
	struct fixture *f = *state;
	struct rs *rs = local_rs(f, 32);
	char jti[32], *toks[100];
	struct rs_stats s;
	size_t i;

	for (i = 0; i < 100; i++) {
		snprintf(jti, sizeof(jti), "jti-bound-%zu", i);
		toks[i] = sign_std(f, jti);
		assert_int_equal(check(rs, toks[i]), RS_OK);
		rs_stats(rs, &s);
		assert_true(s.cached <= 32);
	}
	assert_true(s.evictions >= 68);
	assert_int_equal(s.verifications, 100);
	/* The most recent is a hit.  Which of the others stayed depends on
	 * the shards their digests fall in (RS_SHARDS, each holding its share
	 * of the bound), but at most 31 did: checking each once more verifies
	 * at least 68 again, and all pass. */
	assert_int_equal(check(rs, toks[99]), RS_OK);
	rs_stats(rs, &s);
	assert_int_equal(s.verifications, 100);
	for (i = 0; i < 99; i++)
		assert_int_equal(check(rs, toks[i]), RS_OK);
	rs_stats(rs, &s);
	assert_true(s.cached <= 32);
	assert_true(s.verifications >= 100 + 68);
	for (i = 0; i < 100; i++)
		free(toks[i]);
	rs_free(rs);
}

#define NTHREADS 8
#define NTOKENS 16
#define NITER 300

struct worker {
	struct rs *rs;
	char **toks;
	int id;
	int bad;
};

static void *
worker(void *arg)
{
	struct worker *w = arg;
	const struct rs_principal *p;
	char jti[32];
	int i, t;

	for (i = 0; i < NITER; i++) {
		t = (i * 7 + w->id) % NTOKENS;
		if (rs_verify(w->rs, w->toks[t], strlen(w->toks[t]), &p) != RS_OK) {
			w->bad++;
			continue;
		}
		snprintf(jti, sizeof(jti), "jti-conc-%d", t);
		if (strcmp(p->jti, jti) != 0 || strcmp(p->sub, "user-1") != 0)
			w->bad++;
		rs_principal_release(p);
	}
	return (NULL);
}

static void
test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct rs *rs = local_rs(f, 8); /* small: eviction races too */
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	char *toks[NTOKENS], jti[32];
	struct rs_stats s;
	int i;

	for (i = 0; i < NTOKENS; i++) {
		snprintf(jti, sizeof(jti), "jti-conc-%d", i);
		toks[i] = sign_std(f, jti);
	}
	for (i = 0; i < NTHREADS; i++) {
		w[i].rs = rs;
		w[i].toks = toks;
		w[i].id = i;
		w[i].bad = 0;
		assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].bad, 0);
	}
	rs_stats(rs, &s);
	assert_int_equal(s.hits + s.misses, NTHREADS * NITER);
	assert_true(s.cached <= 8);
	for (i = 0; i < NTOKENS; i++)
		free(toks[i]);
	rs_free(rs);
}

/* ---------------------------------------------------------------------- */
/* Challenges */

static void
expect_challenge(enum rs_err e, const char *m, const char *scope, int status, const char *want)
{
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(rs_challenge(e, m, scope, &b), status);
	assert_string_equal(buf_cstr(&b), want);
	buf_clear(&b);
}

static void
test_challenge(void **state)
{
	struct buf b;

	(void)state;
	expect_challenge(RS_ERR_MISSING, PRM, "mcp:read", 401,
	    "Bearer resource_metadata=\"" PRM "\", scope=\"mcp:read\"");
	expect_challenge(RS_ERR_MISSING, PRM, NULL, 401, "Bearer resource_metadata=\"" PRM "\"");
	expect_challenge(RS_ERR_MISSING, NULL, NULL, 401, "Bearer");
	expect_challenge(RS_ERR_INVALID, PRM, NULL, 401,
	    "Bearer error=\"invalid_token\", error_description=\"The access token is invalid\", "
	    "resource_metadata=\"" PRM "\"");
	expect_challenge(RS_ERR_EXPIRED, PRM, NULL, 401,
	    "Bearer error=\"invalid_token\", error_description=\"The access token expired\", "
	    "resource_metadata=\"" PRM "\"");
	expect_challenge(RS_ERR_REVOKED, PRM, NULL, 401,
	    "Bearer error=\"invalid_token\", error_description=\"The access token was revoked\", "
	    "resource_metadata=\"" PRM "\"");
	expect_challenge(RS_ERR_AUDIENCE, PRM, NULL, 401,
	    "Bearer error=\"invalid_token\", error_description=\"The access token is not meant for this "
	    "resource\", resource_metadata=\"" PRM "\"");
	expect_challenge(RS_ERR_ISSUER, NULL, NULL, 401,
	    "Bearer error=\"invalid_token\", error_description=\"The access token is not from a trusted "
	    "issuer\"");
	expect_challenge(RS_ERR_MALFORMED, PRM, NULL, 401,
	    "Bearer error=\"invalid_token\", error_description=\"The access token is malformed\", "
	    "resource_metadata=\"" PRM "\"");
	expect_challenge(RS_ERR_REQUEST, PRM, NULL, 400,
	    "Bearer error=\"invalid_request\", error_description=\"Send one access token, in the "
	    "Authorization header only\", resource_metadata=\"" PRM "\"");
	expect_challenge(RS_ERR_SCOPE, PRM, "mcp:read mcp:write", 403,
	    "Bearer error=\"insufficient_scope\", scope=\"mcp:read mcp:write\", resource_metadata=\"" PRM "\"");
	expect_challenge(RS_ERR_UNAVAILABLE, PRM, "x", 503, "");
	expect_challenge(RS_OK, PRM, "x", 200, "");
	/* Quoted-string escaping. */
	expect_challenge(RS_ERR_MISSING, "https://h/a\"b\\c", "x\r\ny", 401,
	    "Bearer resource_metadata=\"https://h/a\\\"b\\\\c\", scope=\"x  y\"");
	/* A full buffer is an error. */
	buf_init(&b, 10);
	assert_int_equal(rs_challenge(RS_ERR_MISSING, PRM, NULL, &b), -1);
	buf_clear(&b);
}

/* ---------------------------------------------------------------------- */
/* Requests through the server */

struct reply {
	long status;
	char www[1024];
	struct buf body;
};

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;

	if (len > 18 && strncasecmp(p, "WWW-Authenticate: ", 18) == 0)
		snprintf(r->www, sizeof(r->www), "%.*s", (int)(len - 18 - 2), p + 18);
	return (len);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;

	return (buf_add(&r->body, p, size * n) ? 0 : size * n);
}

/* request(path_query, h1, h2, r): GET /mcp... with up to two headers. */
static void
request(const char *pq, const char *h1, const char *h2, struct reply *r)
{
	struct curl_slist *sl = NULL;
	char url[256];
	CURL *c;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 65536);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)srv_port, pq);
	assert_non_null(c = curl_easy_init());
	if (h1 != NULL)
		sl = curl_slist_append(sl, h1);
	if (h2 != NULL)
		sl = curl_slist_append(sl, h2);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(sl);
	curl_easy_cleanup(c);
}

static void
test_authenticate(void **state)
{
	struct fixture *f = *state;
	char *tok = sign_std(f, "jti-http"), *hdr, *ro;
	struct reply r;
	char *c;

	assert_int_not_equal(asprintf(&hdr, "Authorization: Bearer %s", tok), -1);

	request("/mcp", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.www, "Bearer resource_metadata=\"" PRM "\", scope=\"mcp:read\"");
	buf_clear(&r.body);

	request("/mcp", hdr, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(buf_cstr(&r.body), "\"sub\":\"user-1\""));
	assert_string_equal(r.www, "");
	buf_clear(&r.body);

	request("/mcp", "Authorization: bearer   garbage", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.www, "Bearer error=\"invalid_token\", error_description=\"The access token is "
				   "malformed\", resource_metadata=\"" PRM "\"");
	assert_non_null(strstr(buf_cstr(&r.body), "\"error\":\"invalid_token\""));
	assert_null(strstr(buf_cstr(&r.body), "garbage"));
	buf_clear(&r.body);

	/* Another scheme: as if no credentials were sent. */
	request("/mcp", "Authorization: Basic YTpi", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.www, "Bearer resource_metadata=\"" PRM "\", scope=\"mcp:read\"");
	buf_clear(&r.body);

	/* A query token alone: never read, answered as no credentials. */
	{
		char *pq;

		assert_int_not_equal(asprintf(&pq, "/mcp?access_token=%s", tok), -1);
		request(pq, NULL, NULL, &r);
		assert_int_equal(r.status, 401);
		assert_string_equal(r.www, "Bearer resource_metadata=\"" PRM "\", scope=\"mcp:read\"");
		buf_clear(&r.body);
		/* With the header too: two methods, 400. */
		request(pq, hdr, NULL, &r);
		assert_int_equal(r.status, 400);
		assert_non_null(strstr(r.www, "error=\"invalid_request\""));
		buf_clear(&r.body);
		free(pq);
	}

	/* Two Authorization headers. */
	request("/mcp", hdr, hdr, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.www, "error=\"invalid_request\""));
	buf_clear(&r.body);

	/* Malformed Bearer credentials. */
	request("/mcp", "Authorization: Bearer a b", NULL, &r);
	assert_int_equal(r.status, 400);
	buf_clear(&r.body);

	/* Insufficient scope: 403 naming every scope the call needs. */
	c = claims_text("jti-ro", ISS, "\"" AUD "\"", 300);
	memcpy(strstr(c, "mcp:write "), "mcp:reaX  ", 10);
	ro = sign(f, c);
	free(hdr);
	assert_int_not_equal(asprintf(&hdr, "Authorization: Bearer %s", ro), -1);
	request("/mcp", hdr, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(r.www, "Bearer error=\"insufficient_scope\", scope=\"mcp:read mcp:write\", "
				   "resource_metadata=\"" PRM "\"");
	buf_clear(&r.body);
	free(ro);
	free(c);
	free(hdr);
	free(tok);
}

/* ---------------------------------------------------------------------- */
/* Configuration */

static int
parses(const char *text, struct rs_config *out)
{
	const char *why = NULL;
	json_t *o = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(o);
	rc = rs_config_parse(o, out, &why);
	json_decref(o);
	if (rc != 0) {
		assert_non_null(why);
		assert_null(strstr(why, "hunter2"));
	}
	return (rc);
}

static void
test_config(void **state)
{
	struct rs_config c;
	const char *why;

	(void)state;
	assert_int_equal(rs_config_parse(NULL, &c, &why), 0);
	assert_int_equal(c.mode, RS_MODE_LOCAL);
	assert_int_equal(c.cache_max, RS_CACHE_MAX_DEFAULT);
	assert_int_equal(c.clock_skew, RS_SKEW_DEFAULT);
	rs_config_clear(&c);

	assert_int_equal(parses("{\"mode\":\"local\",\"cache_max\":5,\"clock_skew\":0}", &c), 0);
	assert_int_equal(c.cache_max, 5);
	assert_int_equal(c.clock_skew, 0);
	rs_config_clear(&c);

	assert_int_equal(parses("{\"mode\":\"jwks\",\"issuer\":\"https://kc.example/realms/a\","
				"\"jwks_uri\":\"https://kc.example/certs\",\"audience\":\"https://x/mcp\"}",
			     &c),
	    0);
	assert_int_equal(c.mode, RS_MODE_JWKS);
	assert_string_equal(c.jwks_uri, "https://kc.example/certs");
	assert_string_equal(c.audience, "https://x/mcp");
	rs_config_clear(&c);

	assert_int_equal(parses("{\"mode\":\"introspection\",\"introspection_endpoint\":\"https://as/i\","
				"\"client_id\":\"gw\",\"client_secret\":\"hunter2\",\"cache_ttl\":30}",
			     &c),
	    0);
	assert_int_equal(c.mode, RS_MODE_INTROSPECTION);
	assert_string_equal(c.client_secret, "hunter2");
	assert_int_equal(c.cache_ttl, 30);
	rs_config_clear(&c);
	assert_null(c.client_secret);

	assert_int_equal(parses("{\"mode\":\"introspection\",\"introspection_endpoint\":\"http://as/i\","
				"\"client_id\":\"gw\",\"client_secret\":\"hunter2\",\"allow_http\":true}",
			     &c),
	    0);
	rs_config_clear(&c);

	assert_int_equal(parses("{\"mode\":\"introspection\",\"introspection_endpoint\":\"http://as/i\","
				"\"client_id\":\"gw\",\"client_secret\":\"hunter2\"}",
			     &c),
	    -1);
	assert_int_equal(parses("{\"mode\":\"introspection\",\"introspection_endpoint\":\"https://as/i\","
				"\"client_id\":\"gw\"}",
			     &c),
	    -1);
	assert_int_equal(parses("{\"mode\":\"jwks\",\"jwks_uri\":\"https://kc/certs\"}", &c), -1);
	assert_int_equal(parses("{\"mode\":\"jwks\",\"issuer\":\"https://kc\"}", &c), -1);
	assert_int_equal(parses("{\"mode\":\"remote\"}", &c), -1);
	assert_int_equal(parses("{\"mode\":1}", &c), -1);
	assert_int_equal(parses("{\"modes\":\"local\"}", &c), -1);
	assert_int_equal(parses("{\"cache_max\":0}", &c), -1);
	assert_int_equal(parses("{\"cache_max\":\"10\"}", &c), -1);
	assert_int_equal(parses("{\"clock_skew\":301}", &c), -1);
	assert_int_equal(parses("{\"issuer\":\"\"}", &c), -1);
	assert_int_equal(parses("{\"allow_http\":1}", &c), -1);
	assert_int_equal(parses("{\"mode\":\"local\",\"jwks_uri\":\"https://kc/certs\"}", &c), -1);
	assert_int_equal(parses("[]", &c), -1);
}

/* ---------------------------------------------------------------------- */
/* jwks mode */

static struct tkey k1, k2, k3;

static void
serve_keys(struct tkey *a, struct tkey *b)
{
	char doc[2048];

	snprintf(doc, sizeof(doc),
	    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":\"AQAB\",\"e\":\"AQAB\"},%s%s%s]}", a->jwk,
	    b ? "," : "", b ? b->jwk : "");
	set_jwks(doc);
}

static struct rs *
jwks_rs(int64_t min_refetch_ms)
{
	struct rs_config c;
	struct rs_params p;
	char uri[128];
	struct rs *rs;

	memset(&c, 0, sizeof(c));
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/jwks", (unsigned)srv_port);
	c.mode = RS_MODE_JWKS;
	c.issuer = ISS;
	c.jwks_uri = uri;
	c.allow_http = 1;
	c.cache_max = 100;
	c.clock_skew = 30;
	c.poll_ms = 50;
	c.jwks_min_refetch_ms = min_refetch_ms;
	memset(&p, 0, sizeof(p));
	p.cfg = &c;
	p.resource = AUD;
	p.metadata_url = PRM;
	assert_non_null(rs = rs_new(&p));
	return (rs);
}

static void
test_jwks(void **state)
{
	char *t1, *t2, *t3, *bad, hdr[256], *c;
	struct rs_stats s0, s1;
	struct rs *rs;
	const struct rs_principal *p;

	(void)state;
	tkey_new(&k1, "k1");
	tkey_new(&k2, "k2");
	tkey_new(&k3, "k3");
	serve_keys(&k1, NULL);
	rs = jwks_rs(60000);
	t1 = craft_std(&k1, "jwks-1");
	t2 = craft_std(&k2, "jwks-2");
	t3 = craft_std(&k3, "jwks-3");

	assert_int_equal(rs_verify(rs, t1, strlen(t1), &p), RS_OK);
	assert_string_equal(p->jti, "jwks-1");
	rs_principal_release(p);

	/* typ JWT, alg none, and an RS256 header are refused even with k1. */
	c = claims_text("jwks-typ", ISS, "\"" AUD "\"", 300);
	bad = craft(&k1, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", c);
	assert_int_equal(check(rs, bad), RS_ERR_INVALID);
	free(bad);
	bad = craft(&k1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", c);
	assert_int_equal(check(rs, bad), RS_ERR_INVALID);
	free(bad);
	bad = craft(&k1, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"rsa\"}", c);
	assert_int_equal(check(rs, bad), RS_ERR_INVALID);
	free(bad);
	free(c);
	/* Claims are checked as in local mode. */
	c = claims_text("jwks-aud", ISS, "\"https://other.example\"", 300);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}");
	bad = craft(&k1, hdr, c);
	assert_int_equal(check(rs, bad), RS_ERR_AUDIENCE);
	free(bad);
	free(c);

	/* Rotation: a token under k2 (unknown) makes one refetch. */
	serve_keys(&k1, &k2);
	rs_stats(rs, &s0);
	assert_int_equal(check(rs, t2), RS_OK);
	rs_stats(rs, &s1);
	assert_int_equal(s1.jwks_fetches, s0.jwks_fetches + 1);

	/* k3 is nowhere: one refetch at most per interval, however many tries. */
	assert_int_equal(check(rs, t3), RS_ERR_INVALID);
	assert_int_equal(check(rs, t3), RS_ERR_INVALID);
	assert_int_equal(check(rs, t3), RS_ERR_INVALID);
	rs_stats(rs, &s0);
	assert_true(s0.jwks_fetches <= s1.jwks_fetches + 1);
	rs_free(rs);

	/* With a short interval, k3 is found once published. */
	rs = jwks_rs(1);
	assert_int_equal(check(rs, t3), RS_ERR_INVALID);
	assert_int_equal(check(rs, t1), RS_OK); /* cached from here on */
	assert_int_equal(check(rs, t1), RS_OK);
	serve_keys(&k2, &k3);
	{
		struct timespec ts = {0, 5 * 1000000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(check(rs, t3), RS_OK);
	assert_int_equal(check(rs, t2), RS_OK);
	/* k1 was withdrawn: its cached token goes too. */
	assert_int_equal(check(rs, t1), RS_ERR_INVALID);
	rs_free(rs);

	free(t1);
	free(t2);
	free(t3);
}

static void
test_jwks_failure(void **state)
{
	struct timespec ts = {0, 20 * 1000000};
	char *t1 = NULL;
	struct rs *rs;
	int64_t t0;
	enum rs_err e;

	(void)state;
	set_jwks(NULL); /* 500 */
	rs = jwks_rs(30);
	t1 = craft_std(&k1, "jwks-fail");
	assert_int_equal(check(rs, t1), RS_ERR_UNAVAILABLE);
	set_jwks("{\"keys\": 5}");
	nanosleep(&ts, NULL);
	nanosleep(&ts, NULL);
	assert_int_equal(check(rs, t1), RS_ERR_UNAVAILABLE);
	/* The issuer comes back: the background thread or the next unknown
	 * kid picks the keys up. */
	serve_keys(&k1, NULL);
	t0 = clock_now_ms();
	while ((e = check(rs, t1)) != RS_OK && clock_now_ms() - t0 < 5000)
		nanosleep(&ts, NULL);
	assert_int_equal(e, RS_OK);
	/* It goes down again: the keys in hand keep working. */
	set_jwks(NULL);
	assert_int_equal(check(rs, t1), RS_OK);
	rs_free(rs);
	free(t1);
	tkey_free(&k1);
	tkey_free(&k2);
	tkey_free(&k3);
}

/* ---------------------------------------------------------------------- */
/* introspection mode */

static struct rs *
introspect_rs_with(const char *secret, int64_t ttl, int64_t poll_ms)
{
	struct rs_config c;
	struct rs_params p;
	char uri[128];
	struct rs *rs;

	memset(&c, 0, sizeof(c));
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/introspect", (unsigned)srv_port);
	c.mode = RS_MODE_INTROSPECTION;
	c.issuer = ISS;
	c.introspection_endpoint = uri;
	c.client_id = CLIENT_ID;
	c.client_secret = (char *)secret;
	c.allow_http = 1;
	c.cache_max = 100;
	c.clock_skew = 30;
	c.cache_ttl = ttl;
	c.poll_ms = poll_ms;
	memset(&p, 0, sizeof(p));
	p.cfg = &c;
	p.resource = AUD;
	assert_non_null(rs = rs_new(&p));
	return (rs);
}

static struct rs *
introspect_rs(const char *secret)
{
	return (introspect_rs_with(secret, 60, 0));
}

static void
test_introspection(void **state)
{
	struct rs *rs = introspect_rs(CLIENT_SECRET);
	const struct rs_principal *p;
	int n0;

	(void)state;
	n0 = hits(&introspect_hits);
	assert_int_equal(rs_verify(rs, "good", 4, &p), RS_OK);
	assert_string_equal(p->sub, "u1");
	assert_string_equal(p->client_id, "c1");
	assert_string_equal(p->jti, "j1");
	assert_string_equal(p->scope, "mcp:read mcp:write");
	rs_principal_release(p);
	/* Cached: no second request. */
	assert_int_equal(check(rs, "good"), RS_OK);
	assert_int_equal(hits(&introspect_hits), n0 + 1);

	/* Inactive: refused, and the answer is reused briefly. */
	assert_int_equal(check(rs, "nope"), RS_ERR_INVALID);
	assert_int_equal(check(rs, "nope"), RS_ERR_INVALID);
	assert_int_equal(hits(&introspect_hits), n0 + 2);

	assert_int_equal(check(rs, "otheraud"), RS_ERR_AUDIENCE);
	assert_int_equal(check(rs, "noaud"), RS_ERR_AUDIENCE);
	assert_int_equal(check(rs, "otheriss"), RS_ERR_ISSUER);
	assert_int_equal(check(rs, "refresh"), RS_ERR_INVALID);
	assert_int_equal(check(rs, "expired"), RS_ERR_EXPIRED);

	/* No sub: the client's own token; no jti: one made from the digest. */
	assert_int_equal(rs_verify(rs, "nosub", 5, &p), RS_OK);
	assert_string_equal(p->sub, "svc");
	assert_string_equal(p->client_id, "svc");
	assert_int_equal(strncmp(p->jti, "sha256:", 7), 0);
	assert_int_equal(strlen(p->jti), 7 + 22);
	assert_int_equal(p->nscopes, 0);
	rs_principal_release(p);

	/* The server fails: unavailable, and not cached. */
	n0 = hits(&introspect_hits);
	assert_int_equal(check(rs, "fail"), RS_ERR_UNAVAILABLE);
	assert_int_equal(check(rs, "fail"), RS_ERR_UNAVAILABLE);
	assert_int_equal(hits(&introspect_hits), n0 + 2);
	rs_free(rs);

	/* Wrong client secret: the server says 401, we say unavailable. */
	rs = introspect_rs("wrong");
	assert_int_equal(check(rs, "good"), RS_ERR_UNAVAILABLE);
	rs_free(rs);
}

static void
set_flip(int state)
{
	pthread_mutex_lock(&srv_lock);
	flip_state = state;
	pthread_mutex_unlock(&srv_lock);
}

static uint64_t
rechecks(struct rs *rs)
{
	struct rs_stats st;

	rs_stats(rs, &st);
	return (st.rechecks);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Watched tokens: one re-check per cache_ttl for all holders of a token,
 * none of which ends while the server fails; a definite "active": false
 * is seen within cache_ttl and the poll period. */
static void
test_watch(void **state)
{
	struct rs *rs = introspect_rs_with(CLIENT_SECRET, 1, 100);
	struct rs_watch *w1, *w2;
	struct rs_stats st;
	uint64_t r0, r1;
	int64_t t0;

	(void)state;
	assert_int_equal(rs_watch_new(NULL, "flip", 4, &w1), 0);
	assert_null(w1);
	assert_int_equal(rs_watch_new(rs, "fl\0p", 5, &w1), -1);
	assert_null(w1);

	set_flip(0);
	assert_int_equal(check(rs, "flip"), RS_OK);
	assert_int_equal(rs_watch_new(rs, "flip", 4, &w1), 0);
	assert_int_equal(rs_watch_new(rs, "flip", 4, &w2), 0);
	assert_non_null(w1);
	assert_ptr_equal(w1, w2);
	rs_stats(rs, &st);
	assert_int_equal(st.watched, 1);

	/* Active: asked again about once a second, once for both holders. */
	r0 = rechecks(rs);
	sleep_ms(2500);
	r1 = rechecks(rs) - r0;
	assert_true(r1 >= 2 && r1 <= 3);
	assert_int_equal(rs_watch_check(w1), RS_OK);

	/* The server fails: the stream stays, and re-checks pause. */
	set_flip(2);
	r0 = rechecks(rs);
	sleep_ms(2500);
	assert_int_equal(rechecks(rs) - r0, 1);
	assert_int_equal(rs_watch_check(w1), RS_OK);

	/* Inactive: seen once the pause is over. */
	set_flip(1);
	t0 = clock_now_ms();
	while (rs_watch_check(w1) == RS_OK && clock_now_ms() - t0 < 8000)
		sleep_ms(20);
	assert_int_equal(rs_watch_check(w2), RS_ERR_REVOKED);
	/* The answer serves requests as well. */
	r0 = hits(&introspect_hits);
	assert_int_equal(check(rs, "flip"), RS_ERR_INVALID);
	assert_int_equal(hits(&introspect_hits), r0);

	rs_watch_free(w1);
	rs_stats(rs, &st);
	assert_int_equal(st.watched, 1);
	rs_watch_free(w2);
	rs_stats(rs, &st);
	assert_int_equal(st.watched, 0);
	rs_watch_free(NULL);
	rs_free(rs);
	set_flip(0);
}

/* At most RS_WATCH_PER_RUN re-checks per poll period: 40 tokens whose
 * answers are not cached take three periods. */
static void
test_watch_spread(void **state)
{
	struct rs *rs = introspect_rs_with(CLIENT_SECRET, 60, 1000);
	struct rs_watch *w[40];
	char tok[16];
	size_t i;

	(void)state;
	for (i = 0; i < 40; i++) {
		snprintf(tok, sizeof(tok), "live-%zu", i);
		assert_int_equal(rs_watch_new(rs, tok, strlen(tok), &w[i]), 0);
	}
	sleep_ms(1500);
	assert_int_equal(rechecks(rs), RS_WATCH_PER_RUN);
	sleep_ms(1000);
	assert_int_equal(rechecks(rs), 2 * RS_WATCH_PER_RUN);
	sleep_ms(1000);
	assert_int_equal(rechecks(rs), 40);
	for (i = 0; i < 40; i++)
		assert_int_equal(rs_watch_check(w[i]), RS_OK);
	for (i = 0; i < 40; i++)
		rs_watch_free(w[i]);
	rs_free(rs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_defects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_defects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revocation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_principal_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authenticate, setup, teardown),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_jwks),
		cmocka_unit_test(test_jwks_failure),
		cmocka_unit_test(test_introspection),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_watch_spread),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
