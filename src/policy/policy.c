#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/**
 * policy_config_init(cfg):
 * The defaults: no rules, mcp:read for resources and prompts, filtering on.
 */
void
policy_config_init(struct policy_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	(void)scope_parse(POLICY_READ_SCOPE, &cfg->resource_scopes);
	(void)scope_parse(POLICY_READ_SCOPE, &cfg->prompt_scopes);
	cfg->filter_tools_list = 1;
	cfg->filter_prompts_list = 1;
	cfg->filter_resources_list = 1;
}

static void
free_rules(struct policy_rule *rules, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(rules[i].glob);
	free(rules);
}

/**
 * policy_config_clear(cfg):
 * Free what ${cfg} holds.
 */
void
policy_config_clear(struct policy_config *cfg)
{
	free_rules(cfg->rules, cfg->nrules);
	memset(cfg, 0, sizeof(*cfg));
}

/* Read a JSON list of scope tokens into ${out}.  Each element is one token:
 * a non-empty string without spaces that scope_parse() accepts. */
static int
parse_scopes(const json_t *a, struct scope_set *out)
{
	char buf[SCOPE_MAX_LEN + 1];
	size_t i, len = 0, n;
	json_t *v;

	if (!json_is_array(a))
		return (-1);
	buf[0] = '\0';
	json_array_foreach((json_t *)a, i, v)
	{
		if (!json_is_string(v))
			return (-1);
		n = json_string_length(v);
		if (n == 0 || strchr(json_string_value(v), ' ') != NULL || n != strlen(json_string_value(v)))
			return (-1);
		if (len + (len > 0) + n > SCOPE_MAX_LEN)
			return (-1);
		if (len > 0)
			buf[len++] = ' ';
		memcpy(buf + len, json_string_value(v), n);
		len += n;
		buf[len] = '\0';
	}
	return (scope_parse(buf, out));
}

static int
glob_valid(const char *g)
{
	size_t n = strlen(g), i;

	if (n == 0 || n > POLICY_GLOB_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)g[i] < 0x21 || (unsigned char)g[i] > 0x7e)
			return (0);
	return (1);
}

static int
parse_rules(const json_t *a, struct policy_rule **rulesp, size_t *np, const char **why)
{
	struct policy_rule *rules;
	static const char *const kinds[] = {"tool", "prompt", "resource"};
	static const enum policy_kind kv[] = {POLICY_TOOL, POLICY_PROMPT, POLICY_RESOURCE};
	const char *k;
	json_t *r, *v, *tool, *scopes;
	size_t i, j, n, nkind;

	if (!json_is_array(a)) {
		*why = "\"rules\" must be a list";
		return (-1);
	}
	if ((n = json_array_size(a)) > POLICY_RULES_MAX) {
		*why = "\"rules\" has too many entries";
		return (-1);
	}
	*rulesp = NULL;
	*np = 0;
	if (n == 0)
		return (0);
	if ((rules = calloc(n, sizeof(*rules))) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	json_array_foreach((json_t *)a, i, r)
	{
		if (!json_is_object(r)) {
			*why = "each rule must be an object {\"tool\": glob, \"scopes\": [...]}";
			goto err;
		}
		json_object_foreach(r, k, v)
		{
			if (strcmp(k, "tool") != 0 && strcmp(k, "prompt") != 0 && strcmp(k, "resource") != 0 &&
			    strcmp(k, "scopes") != 0) {
				*why = "unknown key in a rule (allowed: \"tool\", \"prompt\", \"resource\", "
				       "\"scopes\")";
				goto err;
			}
		}
		tool = NULL;
		for (j = 0, nkind = 0; j < 3; j++)
			if ((v = json_object_get(r, kinds[j])) != NULL) {
				tool = v;
				rules[i].kind = kv[j];
				nkind++;
			}
		if (nkind != 1) {
			*why = "a rule names exactly one of \"tool\", \"prompt\", \"resource\"";
			goto err;
		}
		scopes = json_object_get(r, "scopes");
		if (!json_is_string(tool) || json_string_length(tool) != strlen(json_string_value(tool)) ||
		    !glob_valid(json_string_value(tool))) {
			*why = "a rule's glob must be 1 to 256 visible ASCII characters";
			goto err;
		}
		if (scopes == NULL || parse_scopes(scopes, &rules[i].scopes) != 0) {
			*why = "a rule's \"scopes\" must be a list of scope names";
			goto err;
		}
		if ((rules[i].glob = strdup(json_string_value(tool))) == NULL) {
			*why = "out of memory";
			goto err;
		}
	}
	*rulesp = rules;
	*np = n;
	return (0);

err:
	free_rules(rules, n);
	return (-1);
}

/**
 * policy_config_parse(o, cfg, why):
 * Read the "policy" object ${o} into ${cfg}; on failure ${cfg} is unchanged.
 */
int
policy_config_parse(json_t *o, struct policy_config *cfg, const char **why)
{
	struct policy_config n;
	struct policy_rule *rules = NULL;
	size_t nrules = 0;
	const char *k;
	json_t *v;

	*why = NULL;
	if (!json_is_object(o)) {
		*why = "\"policy\" must be an object";
		return (-1);
	}
	n = *cfg;
	json_object_foreach(o, k, v)
	{
		if (strcmp(k, "rules") == 0) {
			if (parse_rules(v, &rules, &nrules, why) != 0)
				return (-1);
		} else if (strcmp(k, "resource_scopes") == 0) {
			if (parse_scopes(v, &n.resource_scopes) != 0) {
				*why = "\"resource_scopes\" must be a list of scope names";
				goto err;
			}
		} else if (strcmp(k, "prompt_scopes") == 0) {
			if (parse_scopes(v, &n.prompt_scopes) != 0) {
				*why = "\"prompt_scopes\" must be a list of scope names";
				goto err;
			}
		} else if (strcmp(k, "filter_tools_list") == 0) {
			if (!json_is_boolean(v)) {
				*why = "\"filter_tools_list\" must be true or false";
				goto err;
			}
			n.filter_tools_list = json_is_true(v);
		} else if (strcmp(k, "filter_prompts_list") == 0) {
			if (!json_is_boolean(v)) {
				*why = "\"filter_prompts_list\" must be true or false";
				goto err;
			}
			n.filter_prompts_list = json_is_true(v);
		} else if (strcmp(k, "filter_resources_list") == 0) {
			if (!json_is_boolean(v)) {
				*why = "\"filter_resources_list\" must be true or false";
				goto err;
			}
			n.filter_resources_list = json_is_true(v);
		} else {
			*why = "unknown key in \"policy\" (allowed: \"rules\", \"resource_scopes\", "
			       "\"prompt_scopes\", \"filter_tools_list\", \"filter_prompts_list\", "
			       "\"filter_resources_list\")";
			goto err;
		}
	}
	if (json_object_get(o, "rules") != NULL) {
		free_rules(cfg->rules, cfg->nrules);
		n.rules = rules;
		n.nrules = nrules;
	}
	*cfg = n;
	return (0);

err:
	free_rules(rules, nrules);
	return (-1);
}

/**
 * policy_server_scope_valid(s):
 * 1 if ${s} is one or more scope tokens.
 */
int
policy_server_scope_valid(const char *s)
{
	struct scope_set set;

	return (s != NULL && scope_parse(s, &set) == 0 && set.n > 0);
}

/**
 * policy_glob_match(glob, s):
 * 1 if ${s} matches ${glob}: '*' any run of bytes, '?' one byte.
 */
int
policy_glob_match(const char *glob, const char *s)
{
	const char *star = NULL, *resume = NULL;

	/* Greedy with one backtrack point: on a mismatch, let the most recent
	 * '*' swallow one more byte.  Earlier stars never need revisiting, so
	 * the work is bounded by strlen(glob) * strlen(s). */
	while (*s != '\0') {
		if (*glob == '*') {
			star = ++glob;
			resume = s;
		} else if (*glob != '\0' && (*glob == '?' || *glob == *s)) {
			glob++;
			s++;
		} else if (star != NULL) {
			glob = star;
			s = ++resume;
		} else
			return (0);
	}
	while (*glob == '*')
		glob++;
	return (*glob == '\0');
}

/**
 * policy_server_name_valid(s):
 * 1 if ${s} is 1 to POLICY_SERVER_MAX bytes of [A-Za-z0-9._-] without "__"
 * and not ending in "_".
 */
int
policy_server_name_valid(const char *s)
{
	size_t n, i;

	if (s == NULL || (n = strnlen(s, POLICY_SERVER_MAX + 1)) == 0 || n > POLICY_SERVER_MAX)
		return (0);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        c == '.' || c == '-' || c == '_'))
			return (0);
		if (c == '_' && (i + 1 == n || s[i + 1] == '_'))
			return (0);
	}
	return (1);
}

/**
 * policy_name_join(server, name, out, outcap):
 * ${server} "__" ${name} into ${out}.
 */
int
policy_name_join(const char *server, const char *name, char *out, size_t outcap)
{
	size_t sl, nl;

	if (!policy_server_name_valid(server) || name == NULL)
		return (-1);
	nl = strnlen(name, POLICY_NAME_MAX + 1);
	if (nl == 0 || nl > POLICY_NAME_MAX)
		return (-1);
	sl = strlen(server);
	if (sl + 2 + nl + 1 > outcap)
		return (-1);
	memcpy(out, server, sl);
	memcpy(out + sl, POLICY_SEP, 2);
	memcpy(out + sl + 2, name, nl);
	out[sl + 2 + nl] = '\0';
	return (0);
}

/**
 * policy_name_split(full, server, servercap, name):
 * Split ${full} at its first "__".
 */
int
policy_name_split(const char *full, char *server, size_t servercap, const char **name)
{
	const char *sep;
	size_t sl;

	*name = NULL;
	if (full == NULL || (sep = strstr(full, POLICY_SEP)) == NULL)
		return (-1);
	sl = (size_t)(sep - full);
	if (sl == 0 || sl > POLICY_SERVER_MAX || sl + 1 > servercap || sep[2] == '\0' ||
	    strnlen(sep + 2, POLICY_NAME_MAX + 1) > POLICY_NAME_MAX)
		return (-1);
	memcpy(server, full, sl);
	server[sl] = '\0';
	if (!policy_server_name_valid(server)) {
		server[0] = '\0';
		return (-1);
	}
	*name = sep + 2;
	return (0);
}

/* Add the one scope ${tok} to ${set}; -1 if the set is full. */
static int
add_scope(struct scope_set *set, const char *tok)
{
	struct scope_set one;

	if (scope_parse(tok, &one) != 0)
		return (-1);
	scope_union(set, &one, set);
	return (scope_subset(&one, set) ? 0 : -1);
}

/* Union ${b} into ${a}; -1 if something did not fit. */
static int
add_set(struct scope_set *a, const struct scope_set *b)
{
	scope_union(a, b, a);
	return (scope_subset(b, a) ? 0 : -1);
}

/*
 * The string rules of ${req}'s kind match: server "__" name for tools and
 * prompts, POLICY_URI_PREFIX server "/" URI for resources.  Written to a
 * malloc'd buffer stored in ${buf} (the caller frees it).  NULL if the name
 * is empty or too long, or on ENOMEM.
 */
static const char *
rule_subject(const struct policy_request *req, char **buf)
{
	size_t sl = strlen(req->server), nl, cap;

	*buf = NULL;
	if (req->kind == POLICY_RESOURCE) {
		nl = strnlen(req->name, POLICY_URI_MAX + 1);
		if (nl == 0 || nl > POLICY_URI_MAX)
			return (NULL);
		cap = strlen(POLICY_URI_PREFIX) + sl + 1 + nl + 1;
		if ((*buf = malloc(cap)) == NULL)
			return (NULL);
		snprintf(*buf, cap, "%s%s/%s", POLICY_URI_PREFIX, req->server, req->name);
		return (*buf);
	}
	cap = POLICY_SERVER_MAX + 2 + POLICY_NAME_MAX + 1;
	if ((*buf = malloc(cap)) == NULL)
		return (NULL);
	if (policy_name_join(req->server, req->name, *buf, cap) != 0) {
		free(*buf);
		*buf = NULL;
		return (NULL);
	}
	return (*buf);
}

/**
 * policy_decide(cfg, req, out):
 * Decide ${req} under ${cfg}.
 */
int
policy_decide(const struct policy_config *cfg, const struct policy_request *req, struct policy_decision *out)
{
	char basis[128], missing[96], *buf = NULL;
	const char *rulename;
	struct scope_set srv;
	size_t i, o = 0, nmissing = 0;
	int w;

	/* Not memset: required alone is over 8 KiB, and only its first
	 * required.n tokens are ever read. */
	out->required.n = 0;
	out->verdict = POLICY_DENY;
	out->rule = -1;
	snprintf(out->reason, sizeof(out->reason), "denied: unusable request");
	if (req->server == NULL || req->name == NULL || req->name[0] == '\0' ||
	    !policy_server_name_valid(req->server))
		return (-1);
	srv.n = 0;
	if (req->server_scope != NULL && req->server_scope[0] != '\0' &&
	    (scope_parse(req->server_scope, &srv) != 0 || srv.n == 0))
		return (-1);

	if (req->kind != POLICY_TOOL && req->kind != POLICY_RESOURCE && req->kind != POLICY_PROMPT)
		return (-1);
	if ((rulename = rule_subject(req, &buf)) == NULL)
		return (-1);
	for (i = 0; i < cfg->nrules; i++) {
		if (cfg->rules[i].kind == req->kind && policy_glob_match(cfg->rules[i].glob, rulename)) {
			scope_copy(&out->required, &cfg->rules[i].scopes);
			out->rule = (int)i;
			break;
		}
	}
	free(buf);
	if (out->rule >= 0) {
		snprintf(basis, sizeof(basis), "rule %d (%.*s)", out->rule, 96, cfg->rules[out->rule].glob);
	} else if (req->kind == POLICY_TOOL) {
		scope_copy(&out->required, &srv);
		if (add_scope(&out->required, req->read_only ? POLICY_READ_SCOPE : POLICY_WRITE_SCOPE) != 0)
			goto overflow;
		snprintf(basis, sizeof(basis), "%s%s",
		    req->read_only ? "read-only tool" : "tool not read-only",
		    srv.n > 0 ? " on a server with its own scope" : "");
	} else {
		scope_copy(&out->required, &srv);
		if (add_set(&out->required,
		        req->kind == POLICY_RESOURCE ? &cfg->resource_scopes : &cfg->prompt_scopes) != 0)
			goto overflow;
		snprintf(basis, sizeof(basis), "%s%s", req->kind == POLICY_RESOURCE ? "resource" : "prompt",
		    srv.n > 0 ? " on a server with its own scope" : "");
	}

	missing[0] = '\0';
	for (i = 0; i < out->required.n; i++) {
		if (req->held != NULL && scope_has(req->held, out->required.tok[i]))
			continue;
		nmissing++;
		if (o + 1 >= sizeof(missing))
			continue;
		w = snprintf(
		    missing + o, sizeof(missing) - o, "%s%s", o > 0 ? " " : "", out->required.tok[i]);
		/* Too long to list in full: the challenge carries the whole set. */
		o = (w < 0 || (size_t)w >= sizeof(missing) - o) ? sizeof(missing) - 1 : o + (size_t)w;
	}
	if (nmissing == 0) {
		out->verdict = POLICY_ALLOW;
		snprintf(out->reason, sizeof(out->reason), "allowed: %s", basis);
	} else {
		out->verdict = POLICY_DENY;
		snprintf(out->reason, sizeof(out->reason), "denied: %s; missing %s", basis, missing);
	}
	return (0);

overflow:
	out->required.n = 0;
	out->rule = -1;
	snprintf(out->reason, sizeof(out->reason), "denied: too many required scopes");
	return (-1);
}

/**
 * policy_listed(cfg, req, filtered):
 * 1 if the list of ${req}'s kind should show its item to its token.
 */
int
policy_listed(const struct policy_config *cfg, const struct policy_request *req, int *filtered)
{
	struct policy_decision d;
	int filter;

	switch (req->kind) {
	case POLICY_TOOL:
		filter = cfg->filter_tools_list;
		break;
	case POLICY_PROMPT:
		filter = cfg->filter_prompts_list;
		break;
	case POLICY_RESOURCE:
		filter = cfg->filter_resources_list;
		break;
	default:
		if (filtered != NULL)
			*filtered = 0;
		return (0);
	}
	if (filtered != NULL)
		*filtered = filter != 0;
	if (policy_decide(cfg, req, &d) != 0)
		return (0);
	if (!filter)
		return (1);
	return (d.verdict == POLICY_ALLOW);
}

/**
 * policy_tool_listed(cfg, req):
 * 1 if tools/list should show the tool of ${req} to its token.
 */
int
policy_tool_listed(const struct policy_config *cfg, const struct policy_request *req)
{
	if (req->kind != POLICY_TOOL)
		return (0);
	return (policy_listed(cfg, req, NULL));
}
