/*
 * conformance-client: the client under test of the MCP conformance suite
 * (@modelcontextprotocol/conformance "client" command), on the public
 * mcpgate library only.
 *
 * The suite runs "conformance-client URL" with MCP_CONFORMANCE_SCENARIO,
 * MCP_CONFORMANCE_PROTOCOL_VERSION and, for some scenarios,
 * MCP_CONFORMANCE_CONTEXT (JSON: client_id, client_secret, ...).  The client
 * connects, lists the tools and calls the first one with arguments made up
 * from its input schema (every one for sep-2322-client-request-state; for
 * json-schema-2020-12-preservation it echoes the focal tool's input schema).
 * Server requests: elicitations are accepted with the schema's defaults,
 * sampling gets a canned answer, roots/list an empty list.  Tokens stay in memory.  The "browser" is libcurl:
 * it GETs the authorization URL and follows the redirect only to the
 * loopback listener (the suite's authorization server consents at once).
 * Exit status 0 on success, 1 on failure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "mcpgate/mcpgate.h"

#define CIMD_URL "https://conformance-test.local/client-metadata.json"

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return (size * n);
}

static int
get(const char *url, char *location, size_t cap)
{
	CURL *h = curl_easy_init();
	char *loc = NULL;
	long status = 0;
	CURLcode cc;

	if (h == NULL)
		return (-1);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
	if (location != NULL) {
		location[0] = '\0';
		if (loc != NULL && strlen(loc) < cap)
			strcpy(location, loc);
	}
	curl_easy_cleanup(h);
	return (cc == CURLE_OK ? (int)status : -1);
}

/* The headless browser, on its own thread like a real one: the library
 * accepts the callback only after this function returned. */
static void *
browse(void *arg)
{
	char *url = arg, loc[8192];
	int st;

	if ((st = get(url, loc, sizeof(loc))) < 300 || st >= 400 || loc[0] == '\0')
		fprintf(stderr, "conformance-client: the authorization endpoint answered %d without a redirect\n", st);
	else if (strncmp(loc, "http://127.0.0.1:", 17) != 0)
		fprintf(stderr, "conformance-client: redirect away from the loopback listener\n");
	else if (get(loc, NULL, 0) != 200)
		fprintf(stderr, "conformance-client: the loopback listener did not answer 200\n");
	free(url);
	return (NULL);
}

static int
browser(const char *url, void *arg)
{
	pthread_t t;
	char *u;

	(void)arg;
	if ((u = strdup(url)) == NULL)
		return (-1);
	if (pthread_create(&t, NULL, browse, u) != 0) {
		free(u);
		return (-1);
	}
	pthread_detach(t);
	return (0);
}

/* Arguments for a tool from its input schema's required properties. */
static json_t *
make_args(json_t *tool)
{
	json_t *schema = json_object_get(tool, "inputSchema"), *props = json_object_get(schema, "properties");
	json_t *req = json_object_get(schema, "required"), *args = json_object(), *v;
	size_t i;

	json_array_foreach(req, i, v) {
		const char *name = json_string_value(v);
		const char *type = json_string_value(json_object_get(json_object_get(props, name), "type"));

		if (name == NULL)
			continue;
		if (type != NULL && (strcmp(type, "number") == 0 || strcmp(type, "integer") == 0))
			json_object_set_new(args, name, json_integer((json_int_t)i + 2));
		else if (type != NULL && strcmp(type, "boolean") == 0)
			json_object_set_new(args, name, json_true());
		else if (type != NULL && strcmp(type, "object") == 0)
			json_object_set_new(args, name, json_object());
		else if (type != NULL && strcmp(type, "array") == 0)
			json_object_set_new(args, name, json_array());
		else
			json_object_set_new(args, name, json_string("test"));
	}
	return (args);
}

#define CAPABILITIES "{\"elicitation\":{\"form\":{}},\"sampling\":{},\"roots\":{}}"

static int
on_request(const char *method, const char *params, char **result, void *arg)
{
	char *r;

	(void)arg;
	*result = NULL;
	if (strcmp(method, "elicitation/create") == 0) {
		if (mcpgate_elicitation_defaults(params, &r) != MCPGATE_OK)
			return (-1);
		*result = strdup(r);
		mcpgate_free(r);
	} else if (strcmp(method, "sampling/createMessage") == 0) {
		*result = strdup("{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"ok\"},"
				 "\"model\":\"conformance-client\",\"stopReason\":\"endTurn\"}");
	} else if (strcmp(method, "roots/list") == 0) {
		*result = strdup("{\"roots\":[]}");
	} else {
		return (-1);
	}
	return (*result != NULL ? 0 : -1);
}

/* Call tool ${t} with ${args}; 0, or 1 when the library failed. */
static int
call(struct mcpgate_client *c, const char *name, json_t *args)
{
	char *a = json_dumps(args, JSON_COMPACT), *r = NULL;
	mcpgate_err e;

	e = mcpgate_mcp_tools_call(c, name, a, &r);
	free(a);
	if (e == MCPGATE_E_RPC) {
		/* The server answered: a refused call is its right (some
		 * scenarios implement tools/list only). */
		fprintf(stderr, "conformance-client: %s\n", mcpgate_client_errmsg(c));
	} else if (e != MCPGATE_OK) {
		fprintf(stderr, "conformance-client: tools/call: %s: %s\n", mcpgate_strerror(e),
		    mcpgate_client_errmsg(c));
		return (1);
	}
	if (r != NULL)
		printf("%s\n", r);
	mcpgate_free(r);
	return (0);
}

static int
fail(struct mcpgate_client *c, mcpgate_err e, const char *what)
{
	fprintf(stderr, "conformance-client: %s: %s: %s\n", what, mcpgate_strerror(e), mcpgate_client_errmsg(c));
	return (1);
}

int
main(int argc, char **argv)
{
	const char *scenario = getenv("MCP_CONFORMANCE_SCENARIO");
	const char *ctxs = getenv("MCP_CONFORMANCE_CONTEXT");
	const char *ver = getenv("MCP_CONFORMANCE_PROTOCOL_VERSION");
	struct mcpgate_client *c;
	json_t *ctx = NULL, *tools, *t0, *args, *calls;
	json_error_t je;
	char *r = NULL, *a;
	mcpgate_err e;
	int rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: conformance-client URL\n");
		return (2);
	}
	if (scenario == NULL)
		scenario = "";
	mcpgate_global_init();
	if ((e = mcpgate_client_new(argv[argc - 1], &c)) != MCPGATE_OK) {
		fprintf(stderr, "conformance-client: bad URL: %s\n", mcpgate_strerror(e));
		return (1);
	}
	mcpgate_client_set_store(c, NULL);
	mcpgate_client_set_browser(c, browser, NULL);
	mcpgate_client_set_login_timeout(c, 20);
	mcpgate_client_set_timeout(c, 10000);
	mcpgate_client_set_client_info(c, "mcpgate-conformance-client", MCPGATE_VERSION);
	mcpgate_client_set_cimd_url(c, CIMD_URL);
	mcpgate_client_set_request_handler(c, on_request, NULL, CAPABILITIES);
	if (ver != NULL && mcpgate_client_set_protocol_version(c, ver) != MCPGATE_OK)
		fprintf(stderr, "conformance-client: unknown protocol version %s, using the default\n", ver);
	if (ctxs != NULL && (ctx = json_loads(ctxs, 0, &je)) != NULL) {
		const char *id = json_string_value(json_object_get(ctx, "client_id"));
		const char *secret = json_string_value(json_object_get(ctx, "client_secret"));

		if (id != NULL)
			mcpgate_client_set_credentials(c, id, secret, MCPGATE_AUTH_AUTO);
		if (strcmp(scenario, "auth/client-credentials-basic") == 0) {
			mcpgate_client_set_grant(c, MCPGATE_GRANT_CLIENT_CREDENTIALS);
			mcpgate_client_set_credentials(c, id, secret, MCPGATE_AUTH_BASIC);
		}
	}

	if ((e = mcpgate_mcp_tools_list(c, &r)) != MCPGATE_OK) {
		rc = fail(c, e, "tools/list");
		goto out;
	}
	tools = json_loads(r, 0, &je);
	mcpgate_free(r);
	r = NULL;
	calls = ctx ? json_object_get(ctx, "toolCalls") : NULL;
	if (json_is_array(calls) && json_array_size(calls) > 0) {
		/* The scenario says which calls to make, with which arguments. */
		json_t *call;
		size_t i;

		json_array_foreach(calls, i, call) {
			a = json_dumps(json_object_get(call, "arguments"), JSON_COMPACT);
			e = mcpgate_mcp_tools_call(c, json_string_value(json_object_get(call, "name")), a, &r);
			free(a);
			if (e != MCPGATE_OK && e != MCPGATE_E_RPC) {
				json_decref(tools);
				rc = fail(c, e, "tools/call");
				goto out;
			}
			mcpgate_free(r);
			r = NULL;
		}
		t0 = NULL;
	} else if (strcmp(scenario, "sep-2322-client-request-state") == 0) {
		/* Every tool, in order: each checks one MRTR rule. */
		size_t i;

		json_array_foreach(json_object_get(tools, "tools"), i, t0) {
			args = make_args(t0);
			e = call(c, json_string_value(json_object_get(t0, "name")), args);
			json_decref(args);
			if (e != 0) {
				json_decref(tools);
				goto out;
			}
		}
		t0 = NULL;
	} else if (strcmp(scenario, "json-schema-2020-12-preservation") == 0) {
		/* Echo the focal tool's input schema, as received. */
		json_t *t;
		size_t i;

		args = NULL;
		json_array_foreach(json_object_get(tools, "tools"), i, t) {
			const char *n = json_string_value(json_object_get(t, "name"));

			if (args == NULL && n != NULL && strcmp(n, "json_schema_2020_12_tool") == 0)
				args = json_pack("{s:O}", "schema", json_object_get(t, "inputSchema"));
		}
		if (args == NULL)
			args = json_object();
		e = call(c, "json_schema_echo", args);
		json_decref(args);
		if (e != 0) {
			json_decref(tools);
			goto out;
		}
		t0 = NULL;
	} else {
		t0 = json_array_get(json_object_get(tools, "tools"), 0);
	}
	if (t0 != NULL) {
		args = make_args(t0);
		e = call(c, json_string_value(json_object_get(t0, "name")), args);
		json_decref(args);
		if (e != 0) {
			json_decref(tools);
			goto out;
		}
	}
	json_decref(tools);
	rc = 0;
out:
	if (ctx != NULL)
		json_decref(ctx);
	mcpgate_client_free(c);
	return (rc);
}
