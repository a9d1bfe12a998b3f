/*
 * `mcpgate serve`: open the store and keys, start the MCP gateway's
 * upstreams, start the HTTP listener with the authorization server's and the
 * gateway's routes, print where it is, and wait for a signal.  On SIGINT or
 * SIGTERM the listener stops first (streams and pending calls end), then the
 * upstreams (their processes are stopped and reaped).  SIGHUP reopens the
 * audit log.
 * Housekeeping (reaping unused registrations, purging expired rows) runs
 * every HOUSEKEEPING_S seconds on the main thread.
 */
#include "server/serve.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "gateway/gateway.h"
#include "http/fetch.h"
#include "http/server.h"
#include "oauth/oauth.h"
#include "server/admin.h"
#include "server/config.h"
#include "store/store.h"
#include "token/keyring.h"

#define HOUSEKEEPING_S 60
#define UPSTREAM_READY_MS 10000
#define DEMO_PASSWORD_BYTES 12

const char *
serve_take_config_arg(int *argc, char **argv)
{
	const char *path = NULL;
	int i, j, take;

	for (i = 1; i < *argc;) {
		take = 0;
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= *argc)
				return ("");
			path = argv[i + 1];
			take = 2;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			path = argv[i] + 9;
			take = 1;
		}
		if (take == 0) {
			i++;
			continue;
		}
		for (j = i; j + take <= *argc; j++)
			argv[j] = argv[j + take];
		*argc -= take;
	}
	return (path);
}

struct store *
serve_open_store(const struct config *cfg)
{
	struct store *st;

	if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "mcpgate: cannot create %s: %s\n", cfg->data_dir, strerror(errno));
		return (NULL);
	}
	/* Not the URL: a PostgreSQL URL may hold a password.  store_open()
	 * has logged which database failed, and why. */
	if ((st = store_open(cfg->store_url)) == NULL)
		fprintf(stderr, "mcpgate: cannot open the store\n");
	return (st);
}

static int
addr_is_loopback(const char *a)
{
	return (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 || strcmp(a, "localhost") == 0);
}

/* Create the demo user on first start; print its password if generated. */
static int
demo_user(const struct config *cfg, struct store *st, char *shown, size_t shown_cap)
{
	struct store_user u;
	unsigned char raw[DEMO_PASSWORD_BYTES];
	char gen[DEMO_PASSWORD_BYTES * 2 + 1];
	size_t i;
	int rc;

	snprintf(shown, shown_cap, "(set on first start)");
	if (cfg->demo_username == NULL)
		return (0);
	if (cfg->demo_password != NULL) {
		snprintf(shown, shown_cap, "(from the configuration or MCPGATE_DEMO_PASSWORD)");
		return (admin_user_put(st, cfg->demo_username, cfg->demo_password));
	}
	rc = st->ops->user_get(st, cfg->demo_username, &u);
	if (rc == 0) {
		store_user_clear(&u);
		return (0);
	}
	if (rc < 0)
		return (-1);
	if (secret_random(raw, sizeof(raw)))
		return (-1);
	for (i = 0; i < sizeof(raw); i++)
		snprintf(gen + 2 * i, 3, "%02x", raw[i]);
	secret_wipe(raw, sizeof(raw));
	rc = admin_user_put(st, cfg->demo_username, gen);
	snprintf(shown, shown_cap, "%s", gen);
	secret_wipe(gen, sizeof(gen));
	return (rc);
}

/* The demo folder of `make run` (DATA_DIR/demo), with a file to read. */
static int
demo_folder(const struct config *cfg)
{
	char p[4096];
	FILE *f;

	if (getenv("MCPGATE_NODE_MODULES") == NULL)
		return (0);
	snprintf(p, sizeof(p), "%s/demo", cfg->data_dir);
	if (mkdir(p, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "mcpgate: cannot create %s: %s\n", p, strerror(errno));
		return (-1);
	}
	snprintf(p, sizeof(p), "%s/demo/hello.txt", cfg->data_dir);
	if (access(p, F_OK) != 0 && (f = fopen(p, "w")) != NULL) {
		fputs("Hello from the mcpgate demo folder.\n", f);
		fclose(f);
	}
	return (0);
}

int
serve_main(int argc, char **argv)
{
	struct config cfg;
	struct store *st = NULL;
	struct keyring *kr = NULL;
	struct oauth *o = NULL;
	struct gateway *gw = NULL;
	struct http_server *srv = NULL;
	struct http_route routes[OAUTH_ROUTES_MAX + GATEWAY_ROUTES_MAX];
	struct http_config hc;
	unsigned char master[MASTERKEY_LEN];
	char shown[128];
	const char *path;
	size_t nroutes;
	sigset_t set;
	struct timespec ts;
	int sig, rc = 1;

	path = serve_take_config_arg(&argc, argv);
	if ((path != NULL && *path == '\0') || argc != 1) {
		fprintf(stderr, "usage: mcpgate serve [--config FILE]\n");
		return (2);
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "mcpgate: libsodium failed to initialise\n");
		return (1);
	}
	if (config_load(&cfg, path))
		return (1);
	if (cfg.log_debug)
		log_set_level(LOG_LEVEL_DEBUG);
	if (!addr_is_loopback(cfg.listen_addr) && cfg.tls_cert == NULL && !cfg.behind_tls_proxy) {
		fprintf(stderr, "mcpgate: refusing to listen on %s without TLS: configure \"tls\", or set "
				"\"listen.behind_tls_proxy\" if a TLS-terminating proxy is in front\n",
		    cfg.listen_addr);
		goto err0;
	}
	fetch_global_init();
	/* Signals are taken synchronously by the main thread; the listener's
	 * threads inherit the blocked mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((st = serve_open_store(&cfg)) == NULL)
		goto err0;
	if (cfg.as_enabled || cfg.auth.mode == RS_MODE_LOCAL) {
		if (masterkey_load(cfg.master_key_file, getenv("MCPGATE_MASTER_KEY"), master))
			goto err1;
		kr = keyring_open(st, master, clock_now());
		secret_wipe(master, sizeof(master));
		if (kr == NULL)
			goto err1;
	}
	nroutes = 0;
	if (cfg.as_enabled) {
		if (demo_user(&cfg, st, shown, sizeof(shown))) {
			fprintf(stderr, "mcpgate: cannot create the demo user\n");
			goto err2;
		}
		if ((o = oauth_new(&cfg, st, kr)) == NULL)
			goto err2;
		nroutes = oauth_routes(o, routes, OAUTH_ROUTES_MAX);
	}
	if (cfg.gateway.enabled) {
		if (demo_folder(&cfg) != 0 || (gw = gateway_new(&cfg, kr, st)) == NULL)
			goto err3;
		nroutes += gateway_routes(gw, routes + nroutes, GATEWAY_ROUTES_MAX);
		if (gateway_start(gw, UPSTREAM_READY_MS) != 0)
			goto err4;
	}
	memset(&hc, 0, sizeof(hc));
	hc.bind_addr = cfg.listen_addr;
	hc.port = cfg.port;
	hc.threads = cfg.threads;
	hc.body_max = cfg.body_max;
	hc.timeout_s = cfg.timeout_s;
	hc.per_ip_limit = cfg.per_ip_connections;
	hc.tls_cert = cfg.tls_cert;
	hc.tls_key = cfg.tls_key;
	hc.sse_heartbeat_s = cfg.gateway.sse_heartbeat_s;
	if ((srv = http_server_new(&hc, routes, nroutes)) == NULL) {
		fprintf(stderr, "mcpgate: cannot listen on %s port %u\n", cfg.listen_addr, cfg.port);
		goto err4;
	}
	printf("mcpgate is ready\n");
	if (cfg.as_enabled)
		printf("  issuer:       %s\n"
		       "  metadata:     %s/.well-known/oauth-authorization-server\n",
		    cfg.issuer, cfg.issuer);
	if (gw != NULL)
		printf("  MCP URL:      %s\n", gateway_url(gw));
	else
		printf("  MCP resource: %s\n", cfg.resources[0]);
	if (cfg.as_enabled && cfg.demo_username != NULL)
		printf("  demo user:    %s\n  password:     %s\n", cfg.demo_username, shown);
	fflush(stdout);
	secret_wipe(shown, sizeof(shown));
	log_info("listening on %s port %u", cfg.listen_addr, http_server_port(srv));

	if (o != NULL)
		oauth_housekeeping(o, clock_now());
	ts.tv_sec = HOUSEKEEPING_S;
	ts.tv_nsec = 0;
	for (;;) {
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (sig == SIGHUP && gw != NULL)
			gateway_reopen_audit(gw);
		if (o != NULL)
			oauth_housekeeping(o, clock_now());
		if (gw != NULL)
			gateway_housekeeping(gw);
	}
	log_info("shutting down");
	rc = 0;
	gateway_shutdown(gw);
	http_server_free(srv);
err4:
	gateway_free(gw);
err3:
	oauth_free(o);
err2:
	keyring_free(kr);
err1:
	store_free(st);
err0:
	config_clear(&cfg);
	return (rc);
}
