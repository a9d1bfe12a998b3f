/*
 * policy: which scopes an MCP call needs, and whether a token has them.
 *
 * policy_decide() maps (subject, client, scopes held, server, tool / prompt
 * / resource, the tool's readOnlyHint) to a verdict (allow or deny), the set
 * of scopes the call needs (for the WWW-Authenticate challenge of a denied
 * call, so the client can step up) and a short reason for the audit log.
 *
 * Rules, in order of precedence:
 *
 *   1. every kind: the first configured rule of that kind whose glob
 *      matches the item gives the required scopes; nothing else is added,
 *      so a rule overrides both defaults below.  Tool and prompt rules
 *      match the namespaced name (<server>__<name>), resource rules the
 *      URI mcpgate://<server>/<URI as the server lists it> (what clients
 *      see for a namespaced server; a resource template is matched by its
 *      uriTemplate the same way);
 *   2. tools without a matching rule: the server's own scope when it has one
 *      (for example mcp:github), plus mcp:read if the tool's annotations say
 *      readOnlyHint: true and mcp:write otherwise (a missing hint is false,
 *      as the MCP schema defines it);
 *   3. resources and prompts: the configured resource_scopes / prompt_scopes
 *      (default mcp:read), plus the server's own scope when it has one.
 *
 * The call is allowed when every required scope is held.  An empty required
 * set (only possible through an explicit rule with no scopes) allows any
 * token that reached the gateway.
 *
 * Lists: policy_listed() shows an item exactly when policy_decide() would
 * allow using it (unless that list's filtering is configured off), so a
 * client is never offered what it cannot use, nor refused what it may use
 * and the list hid.
 *
 * WARNING: readOnlyHint is the upstream server's own claim about its tool.
 * Trust it only as far as you trust the server; pin a tool with an explicit
 * rule when it matters.
 *
 * Globs: '*' matches any run of bytes (including none, and including "_"
 * and "/"), '?' exactly one byte; every other byte matches itself, case
 * sensitively.  There are no character classes, escapes or path semantics.
 *
 * Namespacing: a tool or prompt named T on the server S is shown to clients
 * as S "__" T.  Server names are 1 to POLICY_SERVER_MAX bytes of
 * [A-Za-z0-9.-_], never contain "__" and never end in "_"; then the first
 * "__" of a namespaced name is always the separator, so splitting is exact
 * and two different (server, tool) pairs never give the same name, whatever
 * the tool names contain.  See docs/DESIGN.md, "Gateway: namespacing".
 */
#ifndef MCPGATE_POLICY_POLICY_H
#define MCPGATE_POLICY_POLICY_H

#include <stddef.h>

#include <jansson.h>

#include "oauth/scope.h"

#define POLICY_SEP         "__"
#define POLICY_SERVER_MAX  64   /* bytes of a server name */
#define POLICY_NAME_MAX    1024 /* bytes of a tool or prompt name we handle */
#define POLICY_URI_MAX     4096 /* bytes of a resource URI or template */
#define POLICY_URI_PREFIX  "mcpgate://" /* resource rules: PREFIX server "/" URI */
#define POLICY_RULES_MAX   256
#define POLICY_GLOB_MAX    256
#define POLICY_REASON_MAX  256
#define POLICY_READ_SCOPE  "mcp:read"
#define POLICY_WRITE_SCOPE "mcp:write"

enum policy_kind { POLICY_TOOL, POLICY_RESOURCE, POLICY_PROMPT };

struct policy_rule {
	enum policy_kind kind;   /* which items it is about */
	char *glob;              /* on the namespaced name, or mcpgate://server/URI */
	struct scope_set scopes; /* what a matching item requires */
};

struct policy_config {
	struct policy_rule *rules; /* first match (of the item's kind) wins */
	size_t nrules;
	struct scope_set resource_scopes; /* default {mcp:read} */
	struct scope_set prompt_scopes;   /* default {mcp:read} */
	int filter_tools_list;            /* tools/list shows only callable tools (default 1) */
	int filter_prompts_list;          /* prompts/list likewise (default 1) */
	int filter_resources_list;        /* resources/list and templates (default 1) */
};

enum policy_verdict { POLICY_DENY = 0, POLICY_ALLOW = 1 };

struct policy_request {
	const char *subject;          /* the token's sub (not used by the rules yet) */
	const char *client_id;        /* the token's client_id (idem) */
	const struct scope_set *held; /* the token's scopes; NULL holds none */
	const char *server;           /* upstream server name */
	const char *server_scope;     /* its "scope" from mcpServers, or NULL / "" */
	enum policy_kind kind;
	const char *name; /* tool or prompt name as the server knows it, or resource URI
	                   * (or template) as the server lists it */
	int read_only;    /* tools: annotations.readOnlyHint is true */
};

struct policy_decision {
	enum policy_verdict verdict;
	struct scope_set required;      /* every scope the call needs */
	int rule;                       /* index of the matching rule, or -1 */
	char reason[POLICY_REASON_MAX]; /* for the audit log; no secrets */
};

/* policy_config_init(cfg): the defaults: no rules, mcp:read for resources
 * and prompts, every list filtered. */
void policy_config_init(struct policy_config *cfg);

/* policy_config_clear(cfg): free what ${cfg} holds; it may then be
 * initialised again. */
void policy_config_clear(struct policy_config *cfg);

/* policy_config_parse(o, cfg, why): read the "policy" configuration object
 * ${o} into ${cfg}, which must have been initialised (keys absent from ${o}
 * keep their values):
 *
 *   "rules": [{"tool": "github__*", "scopes": ["mcp:github"]},
 *             {"prompt": "github__*", "scopes": ["mcp:github"]},
 *             {"resource": "mcpgate://fs/file:///pub/...", "scopes": []}]
 *   "resource_scopes": ["mcp:read"], "prompt_scopes": ["mcp:read"]
 *   "filter_tools_list": true, "filter_prompts_list": true,
 *   "filter_resources_list": true
 *
 * A rule names exactly one of "tool", "prompt", "resource" (its glob) and
 * "scopes".
 * Scopes are lists of scope tokens (RFC 6749 section 3.3 characters); globs
 * are 1 to POLICY_GLOB_MAX visible ASCII bytes; at most POLICY_RULES_MAX
 * rules.  Unknown keys are errors.  Returns 0, or -1 with ${why} pointing to
 * a static explanation (then ${cfg} is as it was). */
int policy_config_parse(json_t *o, struct policy_config *cfg, const char **why);

/* policy_server_scope_valid(s): 1 if ${s} is a usable per-server "scope"
 * value (one or more space-separated scope tokens, within the limits of
 * oauth/scope.h), else 0. */
int policy_server_scope_valid(const char *s);

/* policy_decide(cfg, req, out): decide ${req} under ${cfg} into ${out}.
 * Returns 0, or -1 if ${req} is unusable (no server or name, a server name
 * that is not valid, a server scope that does not parse, or more required
 * scopes than a scope set holds); then ${out} is a denial. */
int policy_decide(
    const struct policy_config *cfg, const struct policy_request *req, struct policy_decision *out);

/* policy_listed(cfg, req, filtered): 1 if the list of ${req}'s kind
 * (tools/list; prompts/list; resources/list and resources/templates/list)
 * should show the item of ${req} to its token: always when that list's
 * filtering is off, otherwise when policy_decide() allows it; 0 otherwise,
 * and for a request policy_decide() cannot use.  ${filtered} (may be NULL)
 * is set to 1 if the answer depended on the token (filtering on), so the
 * list must be cached privately, else 0. */
int policy_listed(const struct policy_config *cfg, const struct policy_request *req, int *filtered);

/* policy_tool_listed(cfg, req): policy_listed() for a POLICY_TOOL request;
 * 0 for any other kind. */
int policy_tool_listed(const struct policy_config *cfg, const struct policy_request *req);

/* policy_glob_match(glob, s): 1 if ${s} matches ${glob} (see above). */
int policy_glob_match(const char *glob, const char *s);

/* policy_server_name_valid(s): 1 if ${s} is a valid server name. */
int policy_server_name_valid(const char *s);

/* policy_name_join(server, name, out, outcap): write server "__" name into
 * ${out} of ${outcap} bytes.  Returns 0, or -1 if the server name is not
 * valid, ${name} is empty or longer than POLICY_NAME_MAX, or it does not
 * fit. */
int policy_name_join(const char *server, const char *name, char *out, size_t outcap);

/* policy_name_split(full, server, servercap, name): split the namespaced
 * name ${full} at its first "__": the server name goes into ${server} of
 * ${servercap} bytes, and ${name} points into ${full} at the tool or prompt
 * name.  Returns 0, or -1 if there is no separator, the part before it is
 * not a valid server name, the rest is empty, or it does not fit. */
int policy_name_split(const char *full, char *server, size_t servercap, const char **name);

#endif
