/*
 * Micro-benchmark of gateway/rs: nanoseconds per verification answered from
 * the verified-token cache (the hot path of every MCP request), beside the
 * cost of a full verification (cache miss: ES256 signature and claims).
 *
 * Built only with -DMCPGATE_BENCH=ON:
 *   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DMCPGATE_BENCH=ON
 *   cmake --build build-bench --target bench_rs_cache && build-bench/bench_rs_cache [iterations]
 *
 * Uses a real SQLite store and keyring in a temporary directory, tokens of
 * the size mcpgate issues, 1 and 2 threads (the machine has 2 cores).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "gateway/rs.h"
#include "store/store.h"
#include "token/keyring.h"

#define NTOK 64

static struct rs *rs;
static char *toks[NTOK];
static long iters = 2000000;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

static void *
loop(void *arg)
{
	const struct rs_principal *p;
	long i;

	(void)arg;
	for (i = 0; i < iters; i++) {
		const char *t = toks[i % NTOK];

		if (rs_verify(rs, t, strlen(t), &p) != RS_OK) {
			fprintf(stderr, "unexpected refusal\n");
			exit(1);
		}
		rs_principal_release(p);
	}
	return (NULL);
}

static double
run(int nthreads)
{
	pthread_t th[8];
	int64_t t0, t1;
	int i;

	t0 = now_ns();
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, loop, NULL);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	t1 = now_ns();
	/* Wall time per verification, all threads together. */
	return ((double)(t1 - t0) / ((double)iters * nthreads));
}

int
main(int argc, char **argv)
{
	unsigned char master[MASTERKEY_LEN];
	char dir[] = "/tmp/rs-bench-XXXXXX", url[128], cmd[160], jti[48];
	struct rs_params p;
	struct rs_config cfg;
	struct keyring *kr;
	struct store *st;
	const struct rs_principal *pr;
	struct rs_stats s;
	int64_t t0, now = clock_now();
	json_t *c;
	int i;

	if (argc > 1)
		iters = atol(argv[1]);
	log_set_level(LOG_LEVEL_WARN);
	if (mkdtemp(dir) == NULL)
		return (1);
	snprintf(url, sizeof(url), "sqlite:%s/store.db", dir);
	if (secret_random(master, sizeof(master)) || (st = store_open(url)) == NULL ||
	    (kr = keyring_open(st, master, now)) == NULL)
		return (1);
	for (i = 0; i < NTOK; i++) {
		snprintf(jti, sizeof(jti), "%032d", i);
		c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "iss", "https://as.example", "aud",
		    "https://mcp.example/mcp", "sub", "Zx8bq2Vn0f1kTg7cL4mR9sWd3yHa6uJe5pXo", "client_id",
		    "https://app.example/client-metadata.json", "jti", jti, "iat", (json_int_t)now, "exp",
		    (json_int_t)now + 600, "scope", "mcp:read mcp:write");
		if (keyring_sign(kr, c, &toks[i]))
			return (1);
		json_decref(c);
	}
	memset(&p, 0, sizeof(p));
	rs_config_parse(NULL, &cfg, &(const char *){NULL});
	p.cfg = &cfg;
	p.resource = "https://mcp.example/mcp";
	p.issuer = "https://as.example";
	p.kr = kr;
	p.st = st;
	if ((rs = rs_new(&p)) == NULL)
		return (1);
	/* A few denied jtis, so that the denylist is not empty (its lookup
	 * is part of every hit). */
	for (i = 0; i < 100; i++) {
		snprintf(jti, sizeof(jti), "denied-%d", i);
		st->ops->jti_deny(st, jti, now + 600, now);
	}
	usleep(600 * 1000);

	/* Misses: a fresh verification of each token. */
	t0 = now_ns();
	for (i = 0; i < NTOK; i++) {
		if (rs_verify(rs, toks[i], strlen(toks[i]), &pr) != RS_OK)
			return (1);
		rs_principal_release(pr);
	}
	printf("token length: %zu bytes\n", strlen(toks[0]));
	printf("miss (ES256 verify + claims): %.0f ns\n", (double)(now_ns() - t0) / NTOK);
	printf("hit, 1 thread:  %.1f ns per verification\n", run(1));
	printf("hit, 2 threads: %.1f ns per verification (wall time / total)\n", run(2));
	rs_stats(rs, &s);
	printf("verifications %llu, hits %llu, denylist %llu\n", (unsigned long long)s.verifications,
	    (unsigned long long)s.hits, (unsigned long long)s.denied);

	rs_free(rs);
	rs_config_clear(&cfg);
	for (i = 0; i < NTOK; i++)
		free(toks[i]);
	keyring_free(kr);
	store_free(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return (system(cmd) == 0 ? 0 : 1);
}
