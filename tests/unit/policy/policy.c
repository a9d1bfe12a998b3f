/* Tests for src/policy/policy.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

static void
set(struct scope_set *s, const char *str)
{
	assert_int_equal(scope_parse(str, s), 0);
}

static const char *
str(const struct scope_set *s)
{
	static char out[SCOPE_MAX_LEN + 1];

	assert_int_equal(scope_string(s, out, sizeof(out)), 0);
	return (out);
}

/* Decide a call and check the verdict and the required set. */
static void
expect(const struct policy_config *cfg, enum policy_kind kind, const char *server, const char *sscope,
    const char *name, int ro, const char *held, enum policy_verdict v, const char *required)
{
	struct policy_request rq;
	struct policy_decision d;
	struct scope_set h;

	set(&h, held);
	memset(&rq, 0, sizeof(rq));
	rq.subject = "u1";
	rq.client_id = "c1";
	rq.held = &h;
	rq.server = server;
	rq.server_scope = sscope;
	rq.kind = kind;
	rq.name = name;
	rq.read_only = ro;
	assert_int_equal(policy_decide(cfg, &rq, &d), 0);
	if (d.verdict != v)
		fail_msg("%s/%s held '%s': %s", server, name, held, d.reason);
	assert_string_equal(str(&d.required), required);
	if (v == POLICY_ALLOW)
		assert_int_equal(strncmp(d.reason, "allowed: ", 9), 0);
	else
		assert_int_equal(strncmp(d.reason, "denied: ", 8), 0);
}

static json_t *
load(const char *text)
{
	json_error_t je;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &je);

	if (o == NULL)
		fail_msg("bad test JSON: %s", je.text);
	return (o);
}

static void
test_defaults(void **state)
{
	struct policy_config cfg;

	(void)state;
	policy_config_init(&cfg);
	expect(&cfg, POLICY_TOOL, "fs", NULL, "read_file", 1, "mcp:read", POLICY_ALLOW, "mcp:read");
	expect(&cfg, POLICY_TOOL, "fs", NULL, "write_file", 0, "mcp:read", POLICY_DENY, "mcp:write");
	expect(&cfg, POLICY_TOOL, "fs", NULL, "write_file", 0, "mcp:write", POLICY_ALLOW, "mcp:write");
	/* mcp:write does not imply mcp:read. */
	expect(&cfg, POLICY_TOOL, "fs", NULL, "read_file", 1, "mcp:write", POLICY_DENY, "mcp:read");
	expect(&cfg, POLICY_TOOL, "fs", "", "read_file", 1, "", POLICY_DENY, "mcp:read");
	/* The server's own scope comes on top of read / write. */
	expect(&cfg, POLICY_TOOL, "github", "mcp:github", "list_issues", 1, "mcp:read", POLICY_DENY,
	    "mcp:github mcp:read");
	expect(&cfg, POLICY_TOOL, "github", "mcp:github", "list_issues", 1, "mcp:github", POLICY_DENY,
	    "mcp:github mcp:read");
	expect(&cfg, POLICY_TOOL, "github", "mcp:github", "list_issues", 1, "mcp:read mcp:github",
	    POLICY_ALLOW, "mcp:github mcp:read");
	expect(&cfg, POLICY_TOOL, "github", "mcp:github", "create_issue", 0, "mcp:read mcp:github",
	    POLICY_DENY, "mcp:github mcp:write");
	expect(&cfg, POLICY_TOOL, "jira", "mcp:jira", "create", 0, "mcp:jira mcp:write", POLICY_ALLOW,
	    "mcp:jira mcp:write");
	/* Resources and prompts: mcp:read, plus the server's scope. */
	expect(&cfg, POLICY_RESOURCE, "fs", NULL, "file:///x", 0, "mcp:read", POLICY_ALLOW, "mcp:read");
	expect(&cfg, POLICY_RESOURCE, "fs", NULL, "file:///x", 0, "mcp:write", POLICY_DENY, "mcp:read");
	expect(&cfg, POLICY_PROMPT, "fs", NULL, "p", 0, "mcp:read", POLICY_ALLOW, "mcp:read");
	expect(&cfg, POLICY_PROMPT, "github", "mcp:github", "p", 0, "mcp:read", POLICY_DENY,
	    "mcp:github mcp:read");
	expect(&cfg, POLICY_RESOURCE, "github", "mcp:github", "repo://x", 0, "mcp:github mcp:read",
	    POLICY_ALLOW, "mcp:github mcp:read");
	policy_config_clear(&cfg);
}

static void
test_rules(void **state)
{
	struct policy_config cfg;
	const char *why;
	json_t *o;

	(void)state;
	policy_config_init(&cfg);
	o = load("{\"rules\":["
	         "{\"tool\":\"fs__read_*\",\"scopes\":[\"fs:read\"]},"
	         "{\"tool\":\"fs__*\",\"scopes\":[\"fs:all\",\"mcp:admin\"]},"
	         "{\"tool\":\"github__get_?\",\"scopes\":[]},"
	         "{\"tool\":\"github__*\",\"scopes\":[\"mcp:github\"]}],"
	         "\"resource_scopes\":[\"res:read\"],\"prompt_scopes\":[],"
	         "\"filter_tools_list\":false}");
	assert_int_equal(policy_config_parse(o, &cfg, &why), 0);
	json_decref(o);
	assert_int_equal(cfg.nrules, 4);
	assert_false(cfg.filter_tools_list);

	/* First matching rule wins, and replaces both the read/write default
	 * and the server's own scope. */
	expect(&cfg, POLICY_TOOL, "fs", "mcp:fs", "read_file", 0, "fs:read", POLICY_ALLOW, "fs:read");
	expect(&cfg, POLICY_TOOL, "fs", "mcp:fs", "read_file", 1, "mcp:read mcp:fs", POLICY_DENY, "fs:read");
	expect(&cfg, POLICY_TOOL, "fs", NULL, "write_file", 0, "fs:all", POLICY_DENY, "fs:all mcp:admin");
	expect(&cfg, POLICY_TOOL, "fs", NULL, "write_file", 0, "mcp:admin fs:all", POLICY_ALLOW,
	    "fs:all mcp:admin");
	/* "fs__read_*" needs the separator: "fsx" is another server. */
	expect(&cfg, POLICY_TOOL, "fsx", NULL, "read_file", 1, "mcp:read", POLICY_ALLOW, "mcp:read");
	/* An empty list requires nothing. */
	expect(&cfg, POLICY_TOOL, "github", "mcp:github", "get_x", 0, "", POLICY_ALLOW, "");
	expect(
	    &cfg, POLICY_TOOL, "github", "mcp:github", "get_xy", 0, "mcp:write", POLICY_DENY, "mcp:github");
	/* No rule: defaults. */
	expect(&cfg, POLICY_TOOL, "jira", "mcp:jira", "x", 0, "mcp:jira mcp:write", POLICY_ALLOW,
	    "mcp:jira mcp:write");
	/* Configured resource and prompt scopes replace mcp:read. */
	expect(&cfg, POLICY_RESOURCE, "fs", NULL, "file:///a", 0, "mcp:read", POLICY_DENY, "res:read");
	expect(&cfg, POLICY_RESOURCE, "fs", "mcp:fs", "file:///a", 0, "res:read", POLICY_DENY,
	    "mcp:fs res:read");
	expect(&cfg, POLICY_PROMPT, "fs", NULL, "p", 0, "", POLICY_ALLOW, "");
	expect(&cfg, POLICY_PROMPT, "fs", "mcp:fs", "p", 0, "", POLICY_DENY, "mcp:fs");
	policy_config_clear(&cfg);
}

static void
test_decision_details(void **state)
{
	struct policy_config cfg;
	struct policy_request rq;
	struct policy_decision d;
	const char *why;
	json_t *o;

	(void)state;
	policy_config_init(&cfg);
	o = load("{\"rules\":[{\"tool\":\"a__*\",\"scopes\":[\"x\"]}]}");
	assert_int_equal(policy_config_parse(o, &cfg, &why), 0);
	json_decref(o);

	memset(&rq, 0, sizeof(rq));
	rq.server = "a";
	rq.name = "t";
	rq.kind = POLICY_TOOL;
	rq.held = NULL; /* a NULL set holds nothing */
	assert_int_equal(policy_decide(&cfg, &rq, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(d.rule, 0);
	assert_string_equal(d.reason, "denied: rule 0 (a__*); missing x");

	rq.server = "b";
	rq.read_only = 1;
	assert_int_equal(policy_decide(&cfg, &rq, &d), 0);
	assert_int_equal(d.rule, -1);
	assert_string_equal(d.reason, "denied: read-only tool; missing mcp:read");

	/* Unusable requests are denials with an error. */
	rq.server = "b__c";
	assert_int_equal(policy_decide(&cfg, &rq, &d), -1);
	assert_int_equal(d.verdict, POLICY_DENY);
	rq.server = NULL;
	assert_int_equal(policy_decide(&cfg, &rq, &d), -1);
	rq.server = "b";
	rq.name = "";
	assert_int_equal(policy_decide(&cfg, &rq, &d), -1);
	rq.name = "t";
	rq.server_scope = "bad\"scope";
	assert_int_equal(policy_decide(&cfg, &rq, &d), -1);
	assert_int_equal(d.verdict, POLICY_DENY);
	rq.server_scope = "   ";
	assert_int_equal(policy_decide(&cfg, &rq, &d), -1);
	rq.server_scope = "s1 s2";
	rq.kind = POLICY_RESOURCE;
	assert_int_equal(policy_decide(&cfg, &rq, &d), 0);
	assert_string_equal(str(&d.required), "mcp:read s1 s2");

	assert_true(policy_server_scope_valid("mcp:github"));
	assert_true(policy_server_scope_valid("a b"));
	assert_false(policy_server_scope_valid(""));
	assert_false(policy_server_scope_valid(" "));
	assert_false(policy_server_scope_valid(NULL));
	assert_false(policy_server_scope_valid("a\\b"));
	policy_config_clear(&cfg);
}

static void
test_listed(void **state)
{
	struct policy_config cfg;
	struct policy_request rq;
	struct scope_set h;

	(void)state;
	policy_config_init(&cfg);
	set(&h, "mcp:read");
	memset(&rq, 0, sizeof(rq));
	rq.held = &h;
	rq.server = "fs";
	rq.kind = POLICY_TOOL;
	rq.name = "read_file";
	rq.read_only = 1;
	assert_true(policy_tool_listed(&cfg, &rq));
	rq.name = "write_file";
	rq.read_only = 0;
	assert_false(policy_tool_listed(&cfg, &rq));
	cfg.filter_tools_list = 0;
	assert_true(policy_tool_listed(&cfg, &rq));
	rq.kind = POLICY_PROMPT;
	assert_false(policy_tool_listed(&cfg, &rq));
	policy_config_clear(&cfg);
}

static void
test_rules_prompts_resources(void **state)
{
	struct policy_config cfg;
	const char *why;
	json_t *o;

	(void)state;
	policy_config_init(&cfg);
	o = load("{\"rules\":["
	         "{\"prompt\":\"github__*\",\"scopes\":[\"mcp:github\"]},"
	         "{\"resource\":\"mcpgate://fs/file:///pub/*\",\"scopes\":[]},"
	         "{\"resource\":\"mcpgate://fs/*\",\"scopes\":[\"fs:read\"]},"
	         "{\"tool\":\"fs__*\",\"scopes\":[\"fs:tool\"]}],"
	         "\"filter_prompts_list\":false}");
	assert_int_equal(policy_config_parse(o, &cfg, &why), 0);
	json_decref(o);
	assert_int_equal(cfg.nrules, 4);
	assert_int_equal(cfg.rules[0].kind, POLICY_PROMPT);
	assert_int_equal(cfg.rules[1].kind, POLICY_RESOURCE);
	assert_int_equal(cfg.rules[3].kind, POLICY_TOOL);
	assert_false(cfg.filter_prompts_list);
	assert_true(cfg.filter_resources_list);
	assert_true(cfg.filter_tools_list);

	/* A prompt rule replaces prompt_scopes and the server's scope. */
	expect(&cfg, POLICY_PROMPT, "github", "mcp:gh", "review", 0, "mcp:github", POLICY_ALLOW,
	    "mcp:github");
	expect(&cfg, POLICY_PROMPT, "github", NULL, "review", 0, "mcp:read", POLICY_DENY, "mcp:github");
	/* It applies to prompts only: a tool of the same name has the
	 * defaults, and the tool rule does not touch prompts. */
	expect(&cfg, POLICY_TOOL, "github", NULL, "review", 1, "mcp:read", POLICY_ALLOW, "mcp:read");
	expect(&cfg, POLICY_PROMPT, "fs", NULL, "p", 0, "mcp:read", POLICY_ALLOW, "mcp:read");
	expect(&cfg, POLICY_TOOL, "fs", NULL, "t", 1, "mcp:read", POLICY_DENY, "fs:tool");
	/* Resource rules match mcpgate://server/URI; first match wins. */
	expect(&cfg, POLICY_RESOURCE, "fs", "mcp:fs", "file:///pub/a.txt", 0, "", POLICY_ALLOW, "");
	expect(&cfg, POLICY_RESOURCE, "fs", "mcp:fs", "file:///etc/passwd", 0, "mcp:read mcp:fs",
	    POLICY_DENY, "fs:read");
	expect(&cfg, POLICY_RESOURCE, "fs", NULL, "file:///pub/{name}", 0, "", POLICY_ALLOW, "");
	/* Another server: the defaults. */
	expect(&cfg, POLICY_RESOURCE, "fsx", NULL, "file:///pub/a.txt", 0, "", POLICY_DENY, "mcp:read");
	expect(&cfg, POLICY_RESOURCE, "fsx", "mcp:fsx", "file:///pub/a.txt", 0, "mcp:read mcp:fsx",
	    POLICY_ALLOW, "mcp:fsx mcp:read");
	policy_config_clear(&cfg);
}

static struct policy_request
listed_rq(const struct scope_set *h, enum policy_kind kind, const char *server, const char *name)
{
	struct policy_request rq;

	memset(&rq, 0, sizeof(rq));
	rq.held = h;
	rq.server = server;
	rq.kind = kind;
	rq.name = name;
	return (rq);
}

static void
test_listed_kinds(void **state)
{
	struct policy_config cfg;
	struct policy_request rq;
	struct scope_set ro, none;
	int filtered = -1;

	(void)state;
	policy_config_init(&cfg);
	set(&ro, "mcp:read");
	set(&none, "");
	/* Defaults: listed exactly when usable, and the answer depends on
	 * the token. */
	rq = listed_rq(&ro, POLICY_PROMPT, "fs", "greet");
	assert_true(policy_listed(&cfg, &rq, &filtered));
	assert_int_equal(filtered, 1);
	rq = listed_rq(&none, POLICY_PROMPT, "fs", "greet");
	assert_false(policy_listed(&cfg, &rq, &filtered));
	rq = listed_rq(&ro, POLICY_RESOURCE, "fs", "file:///a");
	assert_true(policy_listed(&cfg, &rq, &filtered));
	rq = listed_rq(&none, POLICY_RESOURCE, "fs", "file:///a");
	assert_false(policy_listed(&cfg, &rq, &filtered));
	assert_int_equal(filtered, 1);
	/* The server's scope counts. */
	rq = listed_rq(&ro, POLICY_RESOURCE, "fs", "file:///a");
	rq.server_scope = "mcp:fs";
	assert_false(policy_listed(&cfg, &rq, NULL));
	/* Filtering off: every usable request is listed, and the list is the
	 * same for every token. */
	cfg.filter_resources_list = 0;
	assert_true(policy_listed(&cfg, &rq, &filtered));
	assert_int_equal(filtered, 0);
	rq = listed_rq(&none, POLICY_PROMPT, "fs", "greet");
	assert_false(policy_listed(&cfg, &rq, &filtered));
	assert_int_equal(filtered, 1);
	cfg.filter_prompts_list = 0;
	assert_true(policy_listed(&cfg, &rq, &filtered));
	assert_int_equal(filtered, 0);
	/* Unusable requests are never listed. */
	rq = listed_rq(&ro, POLICY_RESOURCE, "bad__name", "file:///a");
	assert_false(policy_listed(&cfg, &rq, NULL));
	rq = listed_rq(&ro, POLICY_PROMPT, "fs", "");
	assert_false(policy_listed(&cfg, &rq, NULL));
	/* policy_tool_listed() is about tools only. */
	cfg.filter_tools_list = 0;
	rq = listed_rq(&ro, POLICY_PROMPT, "fs", "greet");
	assert_false(policy_tool_listed(&cfg, &rq));
	rq.kind = POLICY_TOOL;
	assert_true(policy_tool_listed(&cfg, &rq));
	policy_config_clear(&cfg);
}

static void
test_glob(void **state)
{
	static const struct {
		const char *g, *s;
		int m;
	} t[] = {
		{ "*", "", 1 },
		{ "*", "anything/at all", 1 },
		{ "", "", 1 },
		{ "", "a", 0 },
		{ "a", "a", 1 },
		{ "a", "A", 0 },
		{ "?", "", 0 },
		{ "?", "x", 1 },
		{ "?", "xy", 0 },
		{ "github__*", "github__create_issue", 1 },
		{ "github__*", "github__", 1 },
		{ "github__*", "githubx__create", 0 },
		{ "github__*", "gitlab__x", 0 },
		{ "fs__read_*", "fs__read_file", 1 },
		{ "fs__read_*", "fs__read", 0 },
		{ "fs__read_*", "fs__write_file", 0 },
		{ "*__delete*", "jira__delete_issue", 1 },
		{ "*__delete*", "jira__soft_delete", 0 },
		{ "*delete*", "jira__soft_delete", 1 },
		{ "a*b*c", "abc", 1 },
		{ "a*b*c", "aXbYc", 1 },
		{ "a*b*c", "aXbYcZ", 0 },
		{ "a*b*c", "abcbc", 1 },
		{ "a**b", "ab", 1 },
		{ "*a", "bbbba", 1 },
		{ "*a", "bbbbab", 0 },
		{ "??__*", "fs__x", 1 },
		{ "??__*", "f__x", 0 },
		{ "[a]", "[a]", 1 },
		{ "[a]", "a", 0 },
		{ "\\*", "\\x", 1 },
		{ "a/b", "a/b", 1 },
		{ "*/b", "x/y/b", 1 },
		{ "*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (policy_glob_match(t[i].g, t[i].s) != t[i].m)
			fail_msg("glob '%s' on '%s': expected %d", t[i].g, t[i].s, t[i].m);
}

static void
bad_config(const char *text)
{
	struct policy_config cfg;
	const char *why = NULL;
	json_t *o = load(text);

	policy_config_init(&cfg);
	cfg.filter_tools_list = 1;
	if (policy_config_parse(o, &cfg, &why) == 0)
		fail_msg("accepted %s", text);
	assert_non_null(why);
	/* Unchanged. */
	assert_int_equal(cfg.nrules, 0);
	assert_true(cfg.filter_tools_list);
	assert_true(cfg.filter_prompts_list);
	assert_true(cfg.filter_resources_list);
	assert_string_equal(str(&cfg.resource_scopes), "mcp:read");
	assert_string_equal(str(&cfg.prompt_scopes), "mcp:read");
	json_decref(o);
	policy_config_clear(&cfg);
}

static void
test_config(void **state)
{
	struct policy_config cfg;
	const char *why;
	json_t *o;
	char *big;
	size_t i, n;

	(void)state;
	bad_config("{\"rule\":[]}");
	bad_config("{\"rules\":{}}");
	bad_config("{\"rules\":[1]}");
	bad_config("{\"rules\":[{\"tool\":\"a\"}]}");
	bad_config("{\"rules\":[{\"scopes\":[]}]}");
	bad_config("{\"rules\":[{\"tool\":\"\",\"scopes\":[]}]}");
	bad_config("{\"rules\":[{\"tool\":\"a b\",\"scopes\":[]}]}");
	bad_config("{\"rules\":[{\"tool\":\"a\",\"scopes\":\"mcp:read\"}]}");
	bad_config("{\"rules\":[{\"tool\":\"a\",\"scopes\":[\"a b\"]}]}");
	bad_config("{\"rules\":[{\"tool\":\"a\",\"scopes\":[\"\"]}]}");
	bad_config("{\"rules\":[{\"tool\":\"a\",\"scopes\":[\"a\\\"b\"]}]}");
	bad_config("{\"rules\":[{\"tool\":\"a\",\"scopes\":[1]}]}");
	bad_config("{\"rules\":[{\"tool\":\"a\",\"scopes\":[],\"extra\":1}]}");
	bad_config("{\"rules\":[{\"tool\":\"ok\",\"scopes\":[]},{\"tool\":\"caf\\u00e9\",\"scopes\":[]}]}");
	bad_config("{\"resource_scopes\":\"mcp:read\"}");
	bad_config("{\"prompt_scopes\":[null]}");
	bad_config("{\"filter_tools_list\":1}");
	bad_config("{\"filter_prompts_list\":\"yes\"}");
	bad_config("{\"filter_resources_list\":null}");
	bad_config("{\"rules\":[{\"tool\":\"a\",\"prompt\":\"a\",\"scopes\":[]}]}");
	bad_config("{\"rules\":[{\"resource\":\"\",\"scopes\":[]}]}");
	bad_config("{\"rules\":[{\"prompt\":7,\"scopes\":[]}]}");
	bad_config("{\"rules\":[{\"resource\":\"x\"}]}");
	bad_config("{\"rules\":[{\"tool\":\"a\",\"scopes\":[]}],\"filter_tools_list\":\"no\"}");

	/* Rule count and glob length limits. */
	n = POLICY_RULES_MAX + 1;
	big = malloc(n * 40 + 32);
	assert_non_null(big);
	for (i = 0, big[0] = '\0'; i < 2; i++) {
		size_t k, o2 = (size_t)sprintf(big, "{\"rules\":[");

		for (k = 0; k < n - 1 + i; k++)
			o2 +=
			    (size_t)sprintf(big + o2, "%s{\"tool\":\"t%zu\",\"scopes\":[]}", k ? "," : "", k);
		sprintf(big + o2, "]}");
		o = load(big);
		policy_config_init(&cfg);
		assert_int_equal(policy_config_parse(o, &cfg, &why), i == 0 ? 0 : -1);
		assert_int_equal(cfg.nrules, i == 0 ? POLICY_RULES_MAX : 0);
		policy_config_clear(&cfg);
		json_decref(o);
	}
	free(big);
	big = malloc(POLICY_GLOB_MAX + 64);
	assert_non_null(big);
	n = (size_t)sprintf(big, "{\"rules\":[{\"tool\":\"");
	memset(big + n, 'g', POLICY_GLOB_MAX);
	sprintf(big + n + POLICY_GLOB_MAX, "\",\"scopes\":[]}]}");
	o = load(big);
	policy_config_init(&cfg);
	assert_int_equal(policy_config_parse(o, &cfg, &why), 0);
	policy_config_clear(&cfg);
	json_decref(o);
	memset(big + n, 'g', POLICY_GLOB_MAX + 1);
	sprintf(big + n + POLICY_GLOB_MAX + 1, "\",\"scopes\":[]}]}");
	bad_config(big);
	free(big);

	/* A second parse replaces the rules and keeps what it does not name. */
	policy_config_init(&cfg);
	o = load("{\"rules\":[{\"tool\":\"a\",\"scopes\":[\"x\"]}],\"resource_scopes\":[\"r\"]}");
	assert_int_equal(policy_config_parse(o, &cfg, &why), 0);
	json_decref(o);
	o = load("{\"rules\":[{\"tool\":\"b\",\"scopes\":[\"y\",\"z\"]},{\"tool\":\"c\",\"scopes\":[]}]}");
	assert_int_equal(policy_config_parse(o, &cfg, &why), 0);
	json_decref(o);
	assert_int_equal(cfg.nrules, 2);
	assert_string_equal(cfg.rules[0].glob, "b");
	assert_string_equal(str(&cfg.rules[0].scopes), "y z");
	assert_string_equal(str(&cfg.resource_scopes), "r");
	/* A failed parse leaves it as it was. */
	o = load("{\"rules\":[],\"bogus\":true}");
	assert_int_equal(policy_config_parse(o, &cfg, &why), -1);
	json_decref(o);
	assert_int_equal(cfg.nrules, 2);
	o = load("[]");
	assert_int_equal(policy_config_parse(o, &cfg, &why), -1);
	json_decref(o);
	policy_config_clear(&cfg);
}

static void
test_names(void **state)
{
	char out[POLICY_SERVER_MAX + 2 + POLICY_NAME_MAX + 1], srv[POLICY_SERVER_MAX + 1];
	char longname[POLICY_NAME_MAX + 2];
	const char *name;

	(void)state;
	assert_true(policy_server_name_valid("github"));
	assert_true(policy_server_name_valid("my-server.v2"));
	assert_true(policy_server_name_valid("a_b"));
	assert_true(policy_server_name_valid("_a"));
	assert_false(policy_server_name_valid(""));
	assert_false(policy_server_name_valid(NULL));
	assert_false(policy_server_name_valid("a__b"));
	assert_false(policy_server_name_valid("a_"));
	assert_false(policy_server_name_valid("_"));
	assert_false(policy_server_name_valid("a b"));
	assert_false(policy_server_name_valid("a/b"));
	assert_false(policy_server_name_valid("caf\xc3\xa9"));
	memset(srv, 's', POLICY_SERVER_MAX);
	srv[POLICY_SERVER_MAX] = '\0';
	assert_true(policy_server_name_valid(srv));
	{
		char s2[POLICY_SERVER_MAX + 2];

		memset(s2, 's', POLICY_SERVER_MAX + 1);
		s2[POLICY_SERVER_MAX + 1] = '\0';
		assert_false(policy_server_name_valid(s2));
	}

	assert_int_equal(policy_name_join("github", "create_issue", out, sizeof(out)), 0);
	assert_string_equal(out, "github__create_issue");
	assert_int_equal(policy_name_split(out, srv, sizeof(srv), &name), 0);
	assert_string_equal(srv, "github");
	assert_string_equal(name, "create_issue");
	/* Tool names may themselves contain "__" and odd bytes. */
	assert_int_equal(policy_name_join("a", "__b__c_", out, sizeof(out)), 0);
	assert_string_equal(out, "a____b__c_");
	assert_int_equal(policy_name_split(out, srv, sizeof(srv), &name), 0);
	assert_string_equal(srv, "a");
	assert_string_equal(name, "__b__c_");
	assert_int_equal(policy_name_join("a", "x y/\xc3\xa9", out, sizeof(out)), 0);

	assert_int_equal(policy_name_join("a__b", "c", out, sizeof(out)), -1);
	assert_int_equal(policy_name_join("a_", "c", out, sizeof(out)), -1);
	assert_int_equal(policy_name_join("a", "", out, sizeof(out)), -1);
	assert_int_equal(policy_name_join("a", NULL, out, sizeof(out)), -1);
	assert_int_equal(policy_name_join("abc", "d", out, 6), -1);
	assert_int_equal(policy_name_join("abc", "d", out, 7), 0);
	memset(longname, 'n', POLICY_NAME_MAX + 1);
	longname[POLICY_NAME_MAX + 1] = '\0';
	assert_int_equal(policy_name_join("a", longname, out, sizeof(out)), -1);
	longname[POLICY_NAME_MAX] = '\0';
	assert_int_equal(policy_name_join("a", longname, out, sizeof(out)), 0);

	assert_int_equal(policy_name_split("nosep", srv, sizeof(srv), &name), -1);
	assert_null(name);
	assert_int_equal(policy_name_split("__x", srv, sizeof(srv), &name), -1);
	assert_int_equal(policy_name_split("a__", srv, sizeof(srv), &name), -1);
	assert_int_equal(policy_name_split("a b__x", srv, sizeof(srv), &name), -1);
	assert_int_equal(policy_name_split("abc__x", srv, 3, &name), -1);
	assert_int_equal(policy_name_split("abc__x", srv, 4, &name), 0);
	/* "a___b": the separator is the first "__", so the server is "a"; the
	 * server "a_" that would make it ambiguous is not a valid name. */
	assert_int_equal(policy_name_split("a___b", srv, sizeof(srv), &name), 0);
	assert_string_equal(srv, "a");
	assert_string_equal(name, "_b");
}

static int
cmpstr(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Every string of length 1..${max} over ${alpha}, in ${out}. */
static size_t
words(const char *alpha, size_t max, char out[][8])
{
	size_t na = strlen(alpha), n = 0, len, i, k, total;

	for (len = 1; len <= max; len++) {
		for (total = 1, i = 0; i < len; i++)
			total *= na;
		for (k = 0; k < total; k++) {
			size_t x = k;

			for (i = 0; i < len; i++, x /= na)
				out[n][i] = alpha[x % na];
			out[n][len] = '\0';
			n++;
		}
	}
	return (n);
}

static void
test_collisions(void **state)
{
	/* Exhaustively: every valid server over {a,_,-} up to 4 bytes with
	 * every tool over {a,_} up to 4 bytes.  All joined names are distinct
	 * and split back to their pair. */
	static char sv[200][8], tl[40][8];
	char **all, srv[POLICY_SERVER_MAX + 1];
	size_t ns, nt, i, j, n = 0;
	const char *name;

	(void)state;
	ns = words("a_-", 4, sv);
	nt = words("a_", 4, tl);
	all = calloc(ns * nt, sizeof(*all));
	assert_non_null(all);
	for (i = 0; i < ns; i++) {
		if (!policy_server_name_valid(sv[i]))
			continue;
		for (j = 0; j < nt; j++) {
			char buf[32];

			assert_int_equal(policy_name_join(sv[i], tl[j], buf, sizeof(buf)), 0);
			assert_int_equal(policy_name_split(buf, srv, sizeof(srv), &name), 0);
			assert_string_equal(srv, sv[i]);
			assert_string_equal(name, tl[j]);
			all[n] = strdup(buf);
			assert_non_null(all[n]);
			n++;
		}
	}
	assert_true(n > 1000);
	qsort(all, n, sizeof(*all), cmpstr);
	for (i = 1; i < n; i++)
		if (strcmp(all[i - 1], all[i]) == 0)
			fail_msg("collision: %s", all[i]);
	for (i = 0; i < n; i++)
		free(all[i]);
	free(all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_decision_details),
		cmocka_unit_test(test_listed),
		cmocka_unit_test(test_rules_prompts_resources),
		cmocka_unit_test(test_listed_kinds),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_collisions),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
