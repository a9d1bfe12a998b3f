/*
 * client/api: the public operations of include/mcpgate/mcpgate.h.
 */
#include <stdlib.h>
#include <string.h>

#include "client/authflow.h"
#include "client/internal.h"
#include "client/session.h"
#include "client/tokstore.h"

static mcpgate_err
dump(struct mcpgate_client *c, json_t *v, char **out)
{
	if ((*out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	return (MCPGATE_OK);
}

static mcpgate_err
parse_object(struct mcpgate_client *c, const char *text, const char *what, json_t **out)
{
	json_error_t je;

	*out = NULL;
	if (text == NULL)
		return (MCPGATE_OK);
	if (strlen(text) > MCPGATE_RESPONSE_MAX)
		return (cerr_set(&c->err, MCPGATE_E_INVAL, "%s is too large", what));
	*out = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (*out == NULL || !json_is_object(*out)) {
		if (*out != NULL)
			json_decref(*out);
		*out = NULL;
		return (cerr_set(&c->err, MCPGATE_E_INVAL, "%s must be a JSON object (%.100s)", what, je.text));
	}
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_auth_login(struct mcpgate_client *c)
{
	mcpgate_err e;
	int al;

	if (c == NULL)
		return (MCPGATE_E_INVAL);
	cerr_reset(&c->err);
	/* Forget the current tokens (not the stored ones: a failed login must
	 * not lose a working one) so that the server challenges us. */
	client_tokens_clear(&c->tok);
	c->have_tok = 0;
	c->fresh_login = 1;
	al = c->auto_login;
	c->auto_login = 1;
	c->logged_in = 0;
	e = session_probe(c);
	c->auto_login = al;
	c->fresh_login = 0;
	if (e != MCPGATE_OK)
		return (e);
	if (!c->logged_in) {
		/* The server let us in without a token: log in from the well-known
		 * metadata anyway, so that later calls have a token. */
		e = authflow_login(c, NULL, 0);
		if (e == MCPGATE_E_NO_RESOURCE_METADATA) {
			cerr_reset(&c->err);
			return (cerr_set(&c->err, e,
			    "%.200s did not ask for authorization and publishes no protected resource metadata",
			    c->server_url));
		}
	}
	return (e);
}

mcpgate_err
mcpgate_auth_token(struct mcpgate_client *c, char **token)
{
	const char *t;
	mcpgate_err e;

	if (c == NULL || token == NULL)
		return (MCPGATE_E_INVAL);
	*token = NULL;
	cerr_reset(&c->err);
	if ((e = authflow_access(c, &t)) != MCPGATE_OK)
		return (e);
	if (t == NULL) {
		if (!c->auto_login)
			return (cerr_set(&c->err, MCPGATE_E_NOT_LOGGED_IN,
			    "not logged in to %.200s (run: mcpgate login %.200s)", c->server_url, c->server_url));
		if ((e = mcpgate_auth_login(c)) != MCPGATE_OK)
			return (e);
		if ((e = authflow_access(c, &t)) != MCPGATE_OK)
			return (e);
		if (t == NULL)
			return (cerr_set(&c->err, MCPGATE_E_INTERNAL, "no token after login"));
	}
	if ((*token = strdup(t)) == NULL)
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	return (MCPGATE_OK);
}

mcpgate_err
mcpgate_auth_logout(struct mcpgate_client *c)
{
	if (c == NULL)
		return (MCPGATE_E_INVAL);
	cerr_reset(&c->err);
	session_close(c);
	return (authflow_logout(c));
}

struct list_ctx {
	mcpgate_status_fn *fn;
	void *arg;
};

static int
list_one(json_t *d, void *arg)
{
	struct list_ctx *l = arg;
	const char *su = json_string_value(json_object_get(d, "server_url"));
	const char *iss = json_string_value(json_object_get(d, "issuer"));
	const char *cid = json_string_value(json_object_get(d, "client_id"));
	const char *sc = json_string_value(json_object_get(d, "scope"));

	if (su == NULL)
		return (0);
	return (l->fn(su, iss ? iss : "", cid ? cid : "", sc ? sc : "",
	    json_integer_value(json_object_get(d, "expires_at")), json_object_get(d, "refresh_token") != NULL,
	    l->arg));
}

mcpgate_err
mcpgate_store_list(const char *dir, mcpgate_status_fn *fn, void *arg)
{
	struct tokstore s;
	struct cerr e;
	struct list_ctx l = { fn, arg };
	char *d = NULL;
	mcpgate_err rv;

	client_jansson_init();
	if (fn == NULL)
		return (MCPGATE_E_INVAL);
	cerr_reset(&e);
	if (dir == NULL && (dir = d = client_default_store_dir()) == NULL)
		return (MCPGATE_E_STORE);
	if ((rv = tokstore_open(&s, dir, 0, &e)) == MCPGATE_OK) {
		rv = tokstore_each(&s, 't', list_one, &l, &e);
		tokstore_close(&s);
	}
	free(d);
	return (rv);
}

mcpgate_err
mcpgate_mcp_request(struct mcpgate_client *c, const char *method, const char *params, char **result, char **error)
{
	json_t *p = NULL, *res = NULL, *err = NULL;
	mcpgate_err e;

	if (c == NULL || method == NULL || result == NULL || method[0] == '\0' || strlen(method) > 256)
		return (MCPGATE_E_INVAL);
	*result = NULL;
	if (error != NULL)
		*error = NULL;
	cerr_reset(&c->err);
	if ((e = parse_object(c, params, "params", &p)) != MCPGATE_OK)
		return (e);
	e = session_request(c, method, p, &res, &err);
	if (p != NULL)
		json_decref(p);
	if (e == MCPGATE_OK)
		e = dump(c, res, result);
	else if (e == MCPGATE_E_RPC && error != NULL && err != NULL && dump(c, err, error) != MCPGATE_OK)
		e = MCPGATE_E_NOMEM;
	if (res != NULL)
		json_decref(res);
	if (err != NULL)
		json_decref(err);
	return (e);
}

mcpgate_err
mcpgate_mcp_notify(struct mcpgate_client *c, const char *method, const char *params)
{
	json_t *p = NULL;
	mcpgate_err e;

	if (c == NULL || method == NULL || method[0] == '\0' || strlen(method) > 256)
		return (MCPGATE_E_INVAL);
	cerr_reset(&c->err);
	if ((e = parse_object(c, params, "params", &p)) != MCPGATE_OK)
		return (e);
	e = session_notify(c, method, p);
	if (p != NULL)
		json_decref(p);
	return (e);
}

#define TOOLS_PAGES_MAX 100

mcpgate_err
mcpgate_mcp_tools_list(struct mcpgate_client *c, char **result)
{
	json_t *all, *res = NULL, *err = NULL, *params = NULL, *tools, *out;
	const char *cursor;
	mcpgate_err e = MCPGATE_OK;
	int page;

	if (c == NULL || result == NULL)
		return (MCPGATE_E_INVAL);
	*result = NULL;
	cerr_reset(&c->err);
	if ((all = json_array()) == NULL)
		return (MCPGATE_E_NOMEM);
	for (page = 0; page < TOOLS_PAGES_MAX; page++) {
		e = session_request(c, "tools/list", params, &res, &err);
		if (params != NULL)
			json_decref(params);
		params = NULL;
		if (err != NULL)
			json_decref(err);
		err = NULL;
		if (e != MCPGATE_OK)
			break;
		tools = json_object_get(res, "tools");
		if (!json_is_array(tools)) {
			e = cerr_set(&c->err, MCPGATE_E_MALFORMED, "tools/list returned no tools array");
			break;
		}
		{
			json_t *tool;
			size_t i;

			/* Tools with invalid x-mcp-header annotations are dropped. */
			json_array_foreach(tools, i, tool) {
				if (session_tool_ok(tool))
					json_array_append(all, tool);
			}
		}
		cursor = json_string_value(json_object_get(res, "nextCursor"));
		if (cursor == NULL || cursor[0] == '\0')
			break;
		if ((params = json_pack("{s:s}", "cursor", cursor)) == NULL) {
			e = MCPGATE_E_NOMEM;
			break;
		}
		json_decref(res);
		res = NULL;
	}
	if (res != NULL)
		json_decref(res);
	if (params != NULL)
		json_decref(params);
	if (e == MCPGATE_OK && page == TOOLS_PAGES_MAX)
		e = cerr_set(&c->err, MCPGATE_E_MALFORMED, "tools/list did not end after %d pages", TOOLS_PAGES_MAX);
	if (e == MCPGATE_OK) {
		if ((out = json_pack("{s:O}", "tools", all)) == NULL)
			e = MCPGATE_E_NOMEM;
		else {
			e = dump(c, out, result);
			json_decref(out);
		}
	}
	json_decref(all);
	return (e);
}

mcpgate_err
mcpgate_mcp_tools_call(struct mcpgate_client *c, const char *name, const char *arguments, char **result)
{
	json_t *args = NULL, *params, *res = NULL, *err = NULL;
	mcpgate_err e;

	if (c == NULL || name == NULL || result == NULL || name[0] == '\0' || strlen(name) > 1024)
		return (MCPGATE_E_INVAL);
	*result = NULL;
	cerr_reset(&c->err);
	if ((e = parse_object(c, arguments, "the tool arguments", &args)) != MCPGATE_OK)
		return (e);
	params = json_pack("{s:s, s:o}", "name", name, "arguments", args ? args : json_object());
	if (params == NULL)
		return (cerr_set(&c->err, MCPGATE_E_NOMEM, "out of memory"));
	e = session_request(c, "tools/call", params, &res, &err);
	json_decref(params);
	if (e == MCPGATE_OK)
		e = dump(c, res, result);
	else if (e == MCPGATE_E_RPC && err != NULL) {
		const char *m = json_string_value(json_object_get(err, "message"));
		char clean[201];
		size_t i;

		for (i = 0; m != NULL && m[i] != '\0' && i < 200; i++)
			clean[i] = (m[i] >= 0x20 && m[i] < 0x7f) ? m[i] : '?';
		clean[i] = '\0';
		cerr_reset(&c->err);
		cerr_set(&c->err, e, "the server refused the call of %.100s: %s (code %lld)", name, clean,
		    (long long)json_integer_value(json_object_get(err, "code")));
	}
	if (res != NULL)
		json_decref(res);
	if (err != NULL)
		json_decref(err);
	return (e);
}

mcpgate_err
mcpgate_mcp_server_info(struct mcpgate_client *c, char **info)
{
	mcpgate_err e;

	if (c == NULL || info == NULL)
		return (MCPGATE_E_INVAL);
	*info = NULL;
	cerr_reset(&c->err);
	if ((e = session_probe(c)) != MCPGATE_OK)
		return (e);
	if (c->server_info == NULL) {
		if ((*info = strdup("{}")) == NULL)
			return (MCPGATE_E_NOMEM);
		return (MCPGATE_OK);
	}
	return (dump(c, c->server_info, info));
}

mcpgate_err
mcpgate_elicitation_defaults(const char *params, char **result)
{
	json_t *p, *schema, *props, *req, *content = NULL, *out = NULL, *prop, *v;
	json_error_t je;
	const char *k;
	size_t i;
	int complete = 1;
	char *s;

	if (params == NULL || result == NULL || strlen(params) > MCPGATE_RESPONSE_MAX)
		return (MCPGATE_E_INVAL);
	*result = NULL;
	if ((p = json_loads(params, 0, &je)) == NULL)
		return (MCPGATE_E_INVAL);
	schema = json_object_get(p, "requestedSchema");
	props = json_object_get(schema, "properties");
	req = json_object_get(schema, "required");
	if (!json_is_object(schema) || (props != NULL && !json_is_object(props)) ||
	    (req != NULL && !json_is_array(req))) {
		json_decref(p);
		return (MCPGATE_E_INVAL);
	}
	if ((content = json_object()) == NULL)
		goto nomem;
	json_object_foreach(props, k, prop) {
		if ((v = json_object_get(prop, "default")) != NULL &&
		    json_object_set(content, k, v) != 0)
			goto nomem;
	}
	json_array_foreach(req, i, v) {
		if (!json_is_string(v) || json_object_get(content, json_string_value(v)) == NULL)
			complete = 0;
	}
	if (complete)
		out = json_pack("{s:s, s:O}", "action", "accept", "content", content);
	else
		out = json_pack("{s:s}", "action", "decline");
	if (out == NULL || (s = json_dumps(out, JSON_COMPACT)) == NULL)
		goto nomem;
	json_decref(out);
	json_decref(content);
	json_decref(p);
	*result = s;
	return (MCPGATE_OK);
nomem:
	if (out != NULL)
		json_decref(out);
	if (content != NULL)
		json_decref(content);
	json_decref(p);
	return (MCPGATE_E_NOMEM);
}
