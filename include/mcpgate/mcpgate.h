/*
 * mcpgate.h: the mcpgate client library.
 *
 * A client for remote MCP servers protected by OAuth, done the way the MCP
 * authorization specification asks of clients:
 *
 *   - discovery: the resource_metadata URL of a 401 WWW-Authenticate
 *     challenge, else the well-known protected resource metadata URLs (path
 *     first, then root); the authorization server metadata by RFC 8414, then
 *     OpenID Connect discovery, in the specified order; the metadata's
 *     "issuer" must equal the issuer it was fetched for, and S256 PKCE must be
 *     supported or the client refuses to go on;
 *   - registration: pre-registered credentials, else a Client ID Metadata
 *     Document URL when one is configured and the server supports it, else
 *     dynamic registration (application_type "native"), remembered per
 *     issuer;
 *   - the authorization code grant with PKCE S256, state, the resource
 *     indicator and the RFC 9207 "iss" check, answered on a loopback listener
 *     on 127.0.0.1; or the client credentials grant;
 *   - tokens per server (resource), bound to their issuer and client, kept
 *     encrypted (AES-256-GCM) under a key in a 0600 file, refreshed before
 *     they expire, with a file lock so that processes sharing a login refresh
 *     one at a time;
 *   - MCP over Streamable HTTP, protocol versions 2025-06-18, 2025-11-25
 *     (initialize and sessions) and 2026-07-28 (stateless, per-request
 *     metadata), with automatic refresh and step-up on 403
 *     insufficient_scope.
 *
 * Model.  struct mcpgate_client is an opaque handle for one MCP server URL.
 * Create it with mcpgate_client_new(), configure it with the
 * mcpgate_client_set_*() functions before the first operation, use it, and
 * release it with mcpgate_client_free().  A handle is not thread-safe: use one
 * per thread.  Processes may share the token store safely.
 *
 * Errors.  Every operation returns an mcpgate_err.  The numbers are stable:
 * they are never renumbered or reused.  mcpgate_strerror() names a code;
 * mcpgate_client_errmsg() gives the detail of the last failure on a handle
 * (an URL, an HTTP status, the server's error code), written for a person to
 * act on.  Neither ever contains a token, secret or authorization code.
 *
 * Memory.  Strings returned through a "char **" argument are allocated by the
 * library and released by the caller with mcpgate_free(), which wipes them
 * first (some are tokens).
 *
 * Limits.  Every HTTP request has a timeout (mcpgate_client_set_timeout()),
 * every response body a size cap (MCPGATE_RESPONSE_MAX), and every wait for
 * the browser a deadline (mcpgate_client_set_login_timeout()).
 *
 * WARNING: the library calls curl_global_init() on first use; a program with
 * threads should call mcpgate_global_init() from main() first.  It also makes
 * jansson, process-wide, wipe the memory it frees (json_set_alloc_funcs),
 * unless the program set its own jansson allocator first.
 */
#ifndef MCPGATE_MCPGATE_H
#define MCPGATE_MCPGATE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MCPGATE_BUILDING) && defined(__GNUC__)
#define MCPGATE_EXPORT __attribute__((visibility("default")))
#else
#define MCPGATE_EXPORT
#endif

#define MCPGATE_VERSION "0.1.0"

/* MCPGATE_RESPONSE_MAX: the most bytes read from any one HTTP response. */
#define MCPGATE_RESPONSE_MAX (4 * 1024 * 1024)
/* MCPGATE_URL_MAX: the longest server, metadata or endpoint URL accepted. */
#define MCPGATE_URL_MAX 2048
/* MCPGATE_STEPUP_MAX: re-authorizations for one request on 403 insufficient_scope. */
#define MCPGATE_STEPUP_MAX 2
/* MCPGATE_INPUT_ROUNDS_MAX: retries of one request answering "input_required". */
#define MCPGATE_INPUT_ROUNDS_MAX 8
/* MCPGATE_SERVER_REQUESTS_MAX: server requests answered on one response stream. */
#define MCPGATE_SERVER_REQUESTS_MAX 64
/* MCPGATE_RESUME_MAX: reconnections (GET with Last-Event-ID) for one request. */
#define MCPGATE_RESUME_MAX 5

/*
 * Error codes.  Stable numbers; a retired code stays as a placeholder.
 */
typedef enum mcpgate_err {
	MCPGATE_OK = 0,
	MCPGATE_E_INVAL = 1,		/* bad argument (URL, JSON, option) */
	MCPGATE_E_NOMEM = 2,		/* out of memory */
	MCPGATE_E_NETWORK = 3,		/* server unreachable: DNS, connect, TLS */
	MCPGATE_E_TIMEOUT = 4,		/* a request took longer than its timeout */
	MCPGATE_E_TOO_BIG = 5,		/* a response passed its size cap */
	MCPGATE_E_HTTP = 6,		/* an unexpected HTTP status */
	MCPGATE_E_MALFORMED = 7,	/* a malformed response (JSON, header, SSE) */
	MCPGATE_E_NO_RESOURCE_METADATA = 8, /* no protected resource metadata found */
	MCPGATE_E_NO_AS_METADATA = 9,	/* no usable authorization server metadata */
	MCPGATE_E_ISSUER_MISMATCH = 10, /* metadata issuer differs from the URL's */
	MCPGATE_E_NO_S256 = 11,		/* the server does not support PKCE S256 */
	MCPGATE_E_RESOURCE_MISMATCH = 12, /* metadata names another resource */
	MCPGATE_E_REGISTRATION = 13,	/* client registration refused or impossible */
	MCPGATE_E_ACCESS_DENIED = 14,	/* the user (or server) refused consent */
	MCPGATE_E_AUTHORIZATION = 15,	/* the authorization endpoint returned an error */
	MCPGATE_E_STATE = 16,		/* the redirect carried a wrong or no state */
	MCPGATE_E_ISS = 17,		/* RFC 9207: iss missing or wrong */
	MCPGATE_E_LOGIN_TIMEOUT = 18,	/* the browser did not come back in time */
	MCPGATE_E_BROWSER = 19,		/* the browser could not be started */
	MCPGATE_E_TOKEN = 20,		/* the token endpoint refused the request */
	MCPGATE_E_SCOPE = 21,		/* still insufficient scope after step-up */
	MCPGATE_E_UNAUTHORIZED = 22,	/* the server refused a fresh token */
	MCPGATE_E_NOT_LOGGED_IN = 23,	/* no stored login and logging in is off */
	MCPGATE_E_STORE = 24,		/* token store I/O error */
	MCPGATE_E_STORE_CORRUPT = 25,	/* a stored file failed authentication */
	MCPGATE_E_LOCK = 26,		/* the token store lock was not obtained in time */
	MCPGATE_E_RPC = 27,		/* the MCP server answered with a JSON-RPC error */
	MCPGATE_E_PROTOCOL = 28,	/* no common MCP protocol version, bad session */
	MCPGATE_E_INTERNAL = 29,	/* a broken invariant in the library */
} mcpgate_err;

/* mcpgate_strerror(e): a static, short English text for ${e}. */
MCPGATE_EXPORT const char *mcpgate_strerror(mcpgate_err e);

/* mcpgate_global_init(): initialise libcurl for the process.  Optional;
 * call it before starting threads.  Returns MCPGATE_OK or MCPGATE_E_INTERNAL. */
MCPGATE_EXPORT mcpgate_err mcpgate_global_init(void);

/* mcpgate_free(p): wipe and free a string the library returned.  NULL is a
 * no-op. */
MCPGATE_EXPORT void mcpgate_free(char *p);

/*
 * The handle.
 */
struct mcpgate_client;

/* mcpgate_client_new(server_url, out): a handle for the MCP server at
 * ${server_url} (http or https, no fragment, no userinfo, at most
 * MCPGATE_URL_MAX characters) in ${out}.  Errors: MCPGATE_E_INVAL (bad URL),
 * MCPGATE_E_NOMEM. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_new(const char *server_url, struct mcpgate_client **out);

/* mcpgate_client_free(c): close ${c}'s MCP session and release it.  NULL is a
 * no-op.  Stored tokens stay stored. */
MCPGATE_EXPORT void mcpgate_client_free(struct mcpgate_client *c);

/* mcpgate_client_errmsg(c): the detail of the last failure on ${c} (empty if
 * none); valid until the next call on ${c}. */
MCPGATE_EXPORT const char *mcpgate_client_errmsg(const struct mcpgate_client *c);

/* Client authentication at the token endpoint. */
typedef enum mcpgate_auth_method {
	MCPGATE_AUTH_AUTO = 0,	 /* from the metadata: basic, then post, else none */
	MCPGATE_AUTH_NONE = 1,	 /* public client: client_id in the body */
	MCPGATE_AUTH_BASIC = 2,	 /* client_secret_basic */
	MCPGATE_AUTH_POST = 3,	 /* client_secret_post */
} mcpgate_auth_method;

/* mcpgate_client_set_credentials(c, client_id, client_secret, method):
 * pre-registered client credentials (${client_secret} may be NULL for a public
 * client).  They take precedence over any other registration.  Copied. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_credentials(struct mcpgate_client *c, const char *client_id,
    const char *client_secret, mcpgate_auth_method method);

/* mcpgate_client_set_issuer(c, issuer): the issuer (authorization server)
 * that the credentials of mcpgate_client_set_credentials() were registered
 * with.  When the MCP server's metadata leads to another issuer (compared
 * exactly, RFC 8414), operations that need them fail with
 * MCPGATE_E_REGISTRATION before the credentials are sent anywhere.  Without
 * it, pre-registered credentials are used with whatever issuer the server
 * names first. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_issuer(struct mcpgate_client *c, const char *issuer);

/* mcpgate_client_set_cimd_url(c, url): use the https URL ${url} of a Client
 * ID Metadata Document as client_id where the server supports them. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_cimd_url(struct mcpgate_client *c, const char *url);

/* mcpgate_client_set_scope(c, scope): request ${scope} (space-separated)
 * instead of applying the specification's scope selection. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_scope(struct mcpgate_client *c, const char *scope);

/* Grants. */
typedef enum mcpgate_grant {
	MCPGATE_GRANT_AUTHORIZATION_CODE = 0, /* a person logs in through a browser */
	MCPGATE_GRANT_CLIENT_CREDENTIALS = 1, /* server-to-server; needs set_credentials */
} mcpgate_grant;

/* mcpgate_client_set_grant(c, g): the grant used to obtain tokens. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_grant(struct mcpgate_client *c, mcpgate_grant g);

/* mcpgate_browser_fn(url, arg): show ${url} to the user; return 0 if it was
 * opened or shown, -1 on failure.  The default runs xdg-open. */
typedef int mcpgate_browser_fn(const char *url, void *arg);

/* mcpgate_client_set_browser(c, fn, arg): how authorization URLs are opened. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_browser(struct mcpgate_client *c, mcpgate_browser_fn *fn, void *arg);

/* mcpgate_client_set_store(c, dir): keep tokens and registrations in ${dir}
 * (created 0700 if missing).  The default is $XDG_DATA_HOME/mcpgate, else
 * ~/.local/share/mcpgate.  NULL keeps them in memory only, for this handle. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_store(struct mcpgate_client *c, const char *dir);

/* mcpgate_client_set_timeout(c, ms): the total timeout of each HTTP request
 * (default 30000; 1 to 600000). */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_timeout(struct mcpgate_client *c, long ms);

/* mcpgate_client_set_login_timeout(c, seconds): how long to wait for the
 * browser to come back (default 300; 1 to 3600). */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_login_timeout(struct mcpgate_client *c, int seconds);

/* mcpgate_client_set_auto_login(c, on): whether an operation that finds no
 * usable token may start a login (default 1).  With 0, it fails with
 * MCPGATE_E_NOT_LOGGED_IN instead. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_auto_login(struct mcpgate_client *c, int on);

/* mcpgate_client_set_protocol_version(c, v): the MCP protocol version to
 * speak first ("2026-07-28", the default, or "2025-11-25", "2025-06-18",
 * "2025-03-26").  A modern server that refuses it gets one it lists; a
 * legacy server gets initialize. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_protocol_version(struct mcpgate_client *c, const char *v);

/* mcpgate_client_set_client_info(c, name, version): clientInfo sent to MCP
 * servers and client_name sent at registration (default "mcpgate"). */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_client_info(struct mcpgate_client *c, const char *name,
    const char *version);

/* mcpgate_request_fn(method, params, result, arg): answer the request
 * ${method} (elicitation/create, sampling/createMessage, roots/list, ...) that
 * the MCP server sent with ${params} (JSON object text, "{}" if none): store
 * the JSON text of the result, allocated with malloc(), in ${result} and
 * return 0; or return -1 if the method is not supported (the server gets
 * JSON-RPC error -32601).  Called during an mcpgate_mcp_*() call on the same
 * thread; it must not use the handle. */
typedef int mcpgate_request_fn(const char *method, const char *params, char **result, void *arg);

/* mcpgate_client_set_request_handler(c, fn, arg, capabilities): how ${c}
 * answers the server's requests, and the client capabilities it declares
 * (JSON object text such as {"elicitation":{}}, or NULL for {}).  Requests
 * come on the response streams of older servers (answered by POST at once)
 * and as "input_required" results of 2026-07-28 servers (the request is
 * retried with the answers, at most MCPGATE_INPUT_ROUNDS_MAX times).  "ping"
 * is always answered by the library.  Without a handler (${fn} NULL),
 * elicitation/create is declined ({"action":"decline"}) and every other
 * request gets -32601. */
MCPGATE_EXPORT mcpgate_err mcpgate_client_set_request_handler(struct mcpgate_client *c, mcpgate_request_fn *fn,
    void *arg, const char *capabilities);

/* mcpgate_elicitation_defaults(params, result): the result of accepting the
 * elicitation/create request with ${params} with every field that has a
 * "default" in its requestedSchema set to it (SEP-1034), as JSON text
 * {"action":"accept","content":{...}} in ${result} (free with mcpgate_free).
 * When a required field has no default, the result declines instead.
 * Errors: MCPGATE_E_INVAL (not an elicitation), MCPGATE_E_NOMEM. */
MCPGATE_EXPORT mcpgate_err mcpgate_elicitation_defaults(const char *params, char **result);

/*
 * Authorization.
 */

/* mcpgate_auth_login(c): discover the authorization server of ${c}'s MCP
 * server, register if needed, obtain tokens with the configured grant and
 * store them.  Errors: any of the discovery, registration, authorization and
 * store codes. */
MCPGATE_EXPORT mcpgate_err mcpgate_auth_login(struct mcpgate_client *c);

/* mcpgate_auth_token(c, token): a valid access token in ${token} (free with
 * mcpgate_free()), refreshed first if it expires within a minute.  If there
 * is none and auto-login is on, logs in.  Errors: MCPGATE_E_NOT_LOGGED_IN and
 * those of mcpgate_auth_login(). */
MCPGATE_EXPORT mcpgate_err mcpgate_auth_token(struct mcpgate_client *c, char **token);

/* mcpgate_auth_logout(c): revoke (RFC 7009) the stored refresh and access
 * tokens of ${c}'s server where the server offers revocation, and delete them.
 * The local copy is deleted even if revocation fails; then
 * MCPGATE_E_TOKEN/NETWORK is returned with the detail in errmsg. */
MCPGATE_EXPORT mcpgate_err mcpgate_auth_logout(struct mcpgate_client *c);

/* mcpgate_status_fn(resource, issuer, client_id, scope, expires_at,
 * has_refresh, arg): one stored login; ${scope} may be "", ${expires_at} is
 * seconds since the epoch (0: unknown).  Return 0 to go on, else stop. */
typedef int mcpgate_status_fn(const char *resource, const char *issuer, const char *client_id,
    const char *scope, int64_t expires_at, int has_refresh, void *arg);

/* mcpgate_store_list(dir, fn, arg): call ${fn} for each login stored in
 * ${dir} (NULL: the default directory).  Never reveals tokens.  A corrupted
 * entry fails the call with MCPGATE_E_STORE_CORRUPT after the good ones were
 * listed. */
MCPGATE_EXPORT mcpgate_err mcpgate_store_list(const char *dir, mcpgate_status_fn *fn, void *arg);

/*
 * MCP.  Requests carry the access token and are retried once after a
 * refresh on 401, and after a step-up login on 403 insufficient_scope (at
 * most MCPGATE_STEPUP_MAX times).  Results are JSON text.
 */

/* mcpgate_mcp_request(c, method, params, result): send the JSON-RPC request
 * ${method} with ${params} (JSON object text, or NULL) and store the JSON text
 * of its result in ${result}.  A JSON-RPC error answer gives MCPGATE_E_RPC
 * and, if ${error} is not NULL, the error object's JSON text in ${error}
 * (then ${result} is NULL). */
MCPGATE_EXPORT mcpgate_err mcpgate_mcp_request(struct mcpgate_client *c, const char *method, const char *params,
    char **result, char **error);

/* mcpgate_mcp_notify(c, method, params): send a JSON-RPC notification. */
MCPGATE_EXPORT mcpgate_err mcpgate_mcp_notify(struct mcpgate_client *c, const char *method, const char *params);

/* mcpgate_mcp_tools_list(c, result): tools/list, every page, as the JSON
 * text {"tools": [...]}. */
MCPGATE_EXPORT mcpgate_err mcpgate_mcp_tools_list(struct mcpgate_client *c, char **result);

/* mcpgate_mcp_tools_call(c, name, arguments, result): tools/call of ${name}
 * with ${arguments} (JSON object text, or NULL for {}); the CallToolResult
 * JSON text in ${result}. */
MCPGATE_EXPORT mcpgate_err mcpgate_mcp_tools_call(struct mcpgate_client *c, const char *name,
    const char *arguments, char **result);

/* mcpgate_mcp_server_info(c, info): connect if needed and return what the
 * server said about itself ({"protocolVersion", "capabilities",
 * "serverInfo", "instructions"}) as JSON text. */
MCPGATE_EXPORT mcpgate_err mcpgate_mcp_server_info(struct mcpgate_client *c, char **info);

#ifdef __cplusplus
}
#endif

#endif /* !MCPGATE_MCPGATE_H */
