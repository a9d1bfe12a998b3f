/*
 * client/internal: the state behind struct mcpgate_client, shared by the
 * files of src/client/.  Nothing here is part of the public API.
 */
#ifndef MCPGATE_CLIENT_INTERNAL_H
#define MCPGATE_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mcpgate/mcpgate.h"

/* Protected resource metadata (RFC 9728) of the MCP server. */
struct prm {
	char *url;		/* where it was fetched */
	char *resource;		/* its "resource": the canonical server URI */
	char *as;		/* the authorization server chosen (the first listed) */
	char *scopes_supported; /* space-separated, NULL if undefined */
};

/* Token endpoint authentication methods, as bits. */
#define ASM_AUTH_NONE 0x1
#define ASM_AUTH_BASIC 0x2
#define ASM_AUTH_POST 0x4

/* Authorization server metadata (RFC 8414), validated. */
struct asmeta {
	char *issuer;
	char *authorization_endpoint;
	char *token_endpoint;
	char *registration_endpoint; /* NULL if none */
	char *revocation_endpoint;   /* NULL if none */
	char *scopes_supported;	     /* space-separated, NULL if undefined */
	int cimd;		     /* client_id_metadata_document_supported */
	int iss_supported;	     /* authorization_response_iss_parameter_supported */
	unsigned auth_methods;	     /* ASM_AUTH_*; 0 if not listed */
};

/* Client credentials bound to one issuer. */
struct creds {
	char *issuer;
	char *client_id;
	char *client_secret; /* NULL for a public client */
	mcpgate_auth_method method;
	int port;	     /* loopback port of the registered redirect URI, or 0 */
	char *source;	     /* "pre", "cimd" or "dcr" */
};

/* The tokens of one server. */
struct tokens {
	char *access_token;
	char *refresh_token; /* NULL if none */
	int64_t expires_at;  /* seconds since the epoch; 0 if unknown */
	char *scope;	     /* granted (or requested) scope; NULL if none */
};

/* An error message sink: the first message set after cerr_reset() wins. */
#define CERR_MAX 512
struct cerr {
	char msg[CERR_MAX];
};

/* The state of the MCP connection. */
enum mcp_era { ERA_UNKNOWN = 0, ERA_MODERN, ERA_LEGACY };

struct mcpgate_client {
	char *server_url;
	struct cerr err;

	/* Options. */
	char *opt_client_id, *opt_client_secret;
	mcpgate_auth_method opt_method;
	char *opt_cimd_url;
	char *opt_issuer; /* the issuer the pre-registration belongs to, or NULL */
	char *opt_scope;
	mcpgate_grant grant;
	mcpgate_browser_fn *browser;
	void *browser_arg;
	char *store_dir; /* NULL: in memory only */
	long timeout_ms;
	int login_timeout_s;
	int auto_login;
	char *proto;	 /* preferred protocol version */
	char *client_name, *client_version;

	/* Authorization state. */
	struct prm prm;
	struct asmeta as;
	int have_meta;
	struct creds creds;
	int have_creds;
	struct tokens tok;
	int have_tok;
	char *requested_scope; /* the scope of the last authorization request */
	int refreshed;	       /* a refresh happened for the current request */
	int fresh_login;       /* mcpgate_auth_login runs: ignore stored tokens */
	int logged_in;	       /* authflow_login succeeded */

	/* MCP state. */
	enum mcp_era era;
	char *version;	  /* negotiated protocol version */
	char *session_id; /* legacy Mcp-Session-Id */
	json_t *server_info;
	json_t *tool_schemas; /* name -> inputSchema, from tools/list (x-mcp-header) */
	mcpgate_request_fn *req_fn; /* server-to-client requests, or NULL */
	void *req_arg;
	json_t *capabilities; /* client capabilities declared; NULL: {} */
	int no_listen;	      /* the server refused a GET stream: do not ask again */
	int64_t next_id;
};

/* cerr_set(e, code, fmt, ...): record a message in ${e} and return ${code}. */
mcpgate_err cerr_set(struct cerr *e, mcpgate_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cerr_reset(e): clear ${e}. */
void cerr_reset(struct cerr *e);

/* client_jansson_init(): once per process, make jansson wipe what it frees
 * (its copies of tokens), unless the program set its own allocator. */
void client_jansson_init(void);

/* Release helpers (NULL-safe, wiping). */
void client_prm_clear(struct prm *p);
void client_asmeta_clear(struct asmeta *m);
void client_creds_clear(struct creds *cr);
void client_tokens_clear(struct tokens *t);

/* client_strdup(s): a copy of ${s} or NULL (also for NULL). */
char *client_strdup(const char *s);

/* client_strfree(p): wipe and free the string *${p}; set it to NULL. */
void client_strfree(char **p);

/* client_scope_union(a, b): the space-separated union of the scope strings
 * ${a} and ${b} (either may be NULL), in order of first appearance; NULL if
 * both are empty or on ENOMEM. */
char *client_scope_union(const char *a, const char *b);

/* client_scope_has(s, scope): 1 if the space-separated ${s} contains ${scope}. */
int client_scope_has(const char *s, const char *scope);

/* client_default_store_dir(): $XDG_DATA_HOME/mcpgate or
 * ~/.local/share/mcpgate, malloc'd; NULL if neither can be formed. */
char *client_default_store_dir(void);

#endif
