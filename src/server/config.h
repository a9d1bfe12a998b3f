/*
 * server/config: the configuration of `mcpgate serve` and `mcpgate admin`.
 *
 * One JSON file (see examples/mcpgate.json for every key, annotated); every
 * value has a safe default, and unknown keys are an error so that a typo
 * never silently weakens a setting.  Without a file the defaults describe the
 * embedded local setup of `make run`: SQLite under $MCPGATE_DATA (./var),
 * HTTP on 127.0.0.1:$MCPGATE_PORT (8080), issuer http://127.0.0.1:PORT and one
 * MCP resource at ISSUER/mcp.
 */
#ifndef MCPGATE_SERVER_CONFIG_H
#define MCPGATE_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "gateway/lists.h"
#include "gateway/rs.h"
#include "gateway/upstream.h"
#include "policy/policy.h"

#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_LIST_MAX 64
#define CONFIG_GW_TIMEOUT_DEFAULT_MS 30000
#define CONFIG_GW_SESSIONS_MAX_DEFAULT 10000
#define CONFIG_GW_SESSION_IDLE_DEFAULT_S 3600

/*
 * Per-address limits (docs/DESIGN.md, "Per-address limits").  A client
 * address is an IPv4 address or an IPv6 /64 (throttle_addr_key(),
 * http/connlimit.h); behind a
 * reverse proxy every client has the proxy's address, so these must then be
 * raised or switched off (0) and enforced at the proxy.
 *
 * Connections: a browser opens about 6 per host, an MCP client one or two
 * plus a stream per session; 256 leaves room for a small office behind one
 * NAT address while one address can hold at most 256 of the 10,000.
 */
#define CONFIG_PER_IP_CONNECTIONS_DEFAULT 256
/* /register: an MCP client registers once per installation, some once per
 * connection to a server: 30 per 10 minutes lets an office behind one
 * address start its clients, and bounds what one address adds to the store
 * (registrations that never get a token are reaped after a day). */
#define CONFIG_RATE_REGISTER_MAX_DEFAULT 30
#define CONFIG_RATE_REGISTER_WINDOW_DEFAULT 600
/* /authorize, plus the sign-in and consent form posts: one person's
 * sign-in takes three; each /authorize stores a pending request (up to about
 * 6 KiB for 15 minutes), so one address holds at most 900 of them. */
#define CONFIG_RATE_AUTHORIZE_MAX_DEFAULT 60
#define CONFIG_RATE_AUTHORIZE_WINDOW_DEFAULT 60

enum reg_policy { REG_OPEN, REG_TOKEN, REG_CLOSED };

struct config_scope {
	char *name;
	char *description; /* plain words for the consent page */
};

struct config {
	/* listen */
	char *listen_addr;
	uint16_t port;
	int behind_tls_proxy; /* a TLS-terminating proxy is in front */
	char *tls_cert;
	char *tls_key;
	unsigned threads;
	size_t body_max;
	unsigned timeout_s;
	unsigned per_ip_connections; /* 0: no limit */

	char *issuer;	   /* exact issuer identifier, no trailing slash */
	char *data_dir;
	char *store_url;   /* default sqlite:DATA_DIR/mcpgate.db */
	char *master_key_file; /* default DATA_DIR/master.key */

	struct config_scope scopes[CONFIG_LIST_MAX];
	size_t nscopes;
	char *resources[CONFIG_LIST_MAX]; /* canonical URIs of protected resources */
	size_t nresources;

	char *demo_username; /* NULL: no demo user */
	char *demo_password; /* NULL: generated on first start */

	struct {
		enum reg_policy policy;
		char *initial_access_token; /* for REG_TOKEN */
		int64_t reap_after;	    /* seconds; 0 = never */
		int allow_confidential;	    /* dynamic clients may ask for a secret */
		int loopback_only;	    /* dynamic clients may register only loopback redirects */
	} registration;

	struct {
		int enabled;
		int allow_private; /* tests only */
		int allow_http;	   /* tests only */
		int64_t cache_ttl;
	} cimd;

	struct {
		int64_t access_ttl;
		int64_t code_ttl;
		int64_t refresh_ttl;
		int64_t refresh_idle_ttl;
		int64_t session_ttl;
	} tokens;

	struct {
		unsigned max_failures; /* per account and per address in a window */
		int64_t window;
	} login;

	/* Per-address request rates: at most max requests per window seconds
	 * (max 0: no limit). */
	struct config_rate {
		unsigned max;
		int64_t window;
	} rate_register, rate_authorize;

	int log_debug;

	/* The authorization server ("authorization_server": {"enabled"}). */
	int as_enabled;

	/* The MCP gateway. */
	struct {
		int enabled;
		char *path;			     /* "/mcp" */
		char *origins[CONFIG_LIST_MAX];	     /* allowed Origin values */
		size_t norigins;
		int64_t timeout_ms;		     /* per forwarded call */
		int64_t sessions_max;		     /* legacy sessions held at once */
		int64_t session_idle_s;		     /* a session unused this long ends */
		unsigned sse_heartbeat_s;
		int64_t page_size;		     /* list methods: items per page */
		int64_t list_ttl_ms;		     /* 2026-07-28 ttlMs of the lists */
		int64_t read_ttl_ms;		     /* ... of resources/read (upstream gave none) */
		int64_t mrtr_ttl_ms;		     /* parked calls: expiry (gateway/mrtr.h) */
		int64_t mrtr_max;		     /* parked calls in all */
		int64_t mrtr_per_principal;	     /* parked calls per subject + client */
		int64_t mrtr_per_subject;	     /* parked calls per subject */
		char *resource;			     /* canonical URL: issuer origin + path */
		char *authorization_servers[8];	     /* PRM: default the issuer */
		size_t nas;
	} gateway;
	struct upstream_configs mcp_servers; /* "mcpServers" */
	struct rs_config auth;		     /* "auth" */
	struct policy_config policy;	     /* "policy" */
	struct audit_config audit;	     /* "audit"; file default DATA_DIR/audit.log */
};

/* config_load(cfg, path): fill ${cfg} with defaults, then the file at ${path}
 * (NULL: none; defaults and environment only).  Returns 0, or -1 with the
 * problem printed on standard error.  Release with config_clear(). */
int config_load(struct config *cfg, const char *path);

/* config_clear(cfg): free everything; wipes the secrets it holds. */
void config_clear(struct config *cfg);

/* config_has_scope(cfg, name): 1 if ${name} is a configured scope. */
int config_has_scope(const struct config *cfg, const char *name);

/* config_scope_description(cfg, name): its description, or ${name}. */
const char *config_scope_description(const struct config *cfg, const char *name);

/* config_has_resource(cfg, uri): 1 if ${uri} is a configured resource. */
int config_has_resource(const struct config *cfg, const char *uri);

#endif
