#include "gateway/prm.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/log.h"
#include "http/server.h"
#include "oauth/scope.h"

struct prm {
	char *doc;  /* the JSON text */
	char *url;  /* the metadata URL */
	char *path; /* its path */
};

/*
 * prm_url_for(resource, out, outcap): the metadata URL of ${resource}.
 * Returns 0 or -1.
 */
int
prm_url_for(const char *resource, char *out, size_t outcap)
{
	const char *auth, *path;
	size_t n;
	int w;

	if (resource == NULL || strnlen(resource, PRM_URL_MAX + 1) > PRM_URL_MAX ||
	    strchr(resource, '#') != NULL)
		return (-1);
	if (strncasecmp(resource, "https://", 8) == 0)
		auth = resource + 8;
	else if (strncasecmp(resource, "http://", 7) == 0)
		auth = resource + 7;
	else
		return (-1);
	n = strcspn(auth, "/?");
	if (n == 0)
		return (-1);
	for (path = auth; *path != '\0'; path++) {
		if ((unsigned char)*path <= 0x20 || *path == 0x7f || *path == '"' || *path == '\\')
			return (-1);
	}
	path = auth + n;
	if (strcmp(path, "/") == 0)
		path = "";
	else if (path[0] == '?')
		return (-1);	/* a query without a path: no sensible form */
	w = snprintf(out, outcap, "%.*s%s%s", (int)(auth + n - resource), resource, PRM_WELL_KNOWN, path);
	if (w < 0 || (size_t)w >= outcap)
		return (-1);
	return (0);
}

static json_t *
scope_array(const char *s)
{
	struct scope_set set;
	json_t *a;
	size_t i;

	if (scope_parse(s, &set) || (a = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < set.n; i++) {
		if (json_array_append_new(a, json_string(set.tok[i]))) {
			json_decref(a);
			return (NULL);
		}
	}
	return (a);
}

/*
 * prm_new(p): render the document for ${p}.  NULL on failure (logged).
 */
struct prm *
prm_new(const struct prm_params *p)
{
	char url[PRM_URL_MAX + sizeof(PRM_WELL_KNOWN)];
	struct prm *m;
	json_t *j, *as, *sc;
	const char *path;
	size_t i;

	if (prm_url_for(p->resource, url, sizeof(url))) {
		log_err("prm: the resource is not an absolute http(s) URL without fragment");
		return (NULL);
	}
	if (p->nas == 0 || p->nas > PRM_AS_MAX) {
		log_err("prm: between 1 and %d authorization servers are needed", PRM_AS_MAX);
		return (NULL);
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return (NULL);
	if ((j = json_object()) == NULL || json_object_set_new(j, "resource", json_string(p->resource)) ||
	    (as = json_array()) == NULL || json_object_set_new(j, "authorization_servers", as))
		goto err;
	for (i = 0; i < p->nas; i++) {
		if (p->authorization_servers[i] == NULL ||
		    json_array_append_new(as, json_string(p->authorization_servers[i])))
			goto err;
	}
	if (p->scopes_supported != NULL && p->scopes_supported[0] != '\0') {
		if ((sc = scope_array(p->scopes_supported)) == NULL ||
		    json_object_set_new(j, "scopes_supported", sc)) {
			log_err("prm: scopes_supported does not parse");
			goto err;
		}
	}
	if (json_object_set_new(j, "bearer_methods_supported", json_pack("[s]", "header")))
		goto err;
	if (p->resource_name != NULL && json_object_set_new(j, "resource_name", json_string(p->resource_name)))
		goto err;
	if ((m->doc = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto err;
	/* The path: after "scheme://authority". */
	path = strstr(url, "://") + 3;
	path += strcspn(path, "/");
	if ((m->url = strdup(url)) == NULL || (m->path = strndup(path, strcspn(path, "?"))) == NULL)
		goto err;
	json_decref(j);
	return (m);

err:
	json_decref(j);
	prm_free(m);
	return (NULL);
}

/*
 * prm_free(m): free; NULL does nothing.
 */
void
prm_free(struct prm *m)
{
	if (m == NULL)
		return;
	free(m->doc);
	free(m->url);
	free(m->path);
	free(m);
}

/*
 * prm_url(m): the metadata URL.
 */
const char *
prm_url(const struct prm *m)
{
	return (m->url);
}

/*
 * prm_path(m): the path of the metadata URL.
 */
const char *
prm_path(const struct prm *m)
{
	return (m->path);
}

/*
 * prm_handle(arg, req, resp): serve the document (GET, HEAD).
 */
void
prm_handle(void *arg, const struct http_req *req, struct http_resp *resp)
{
	struct prm *m = arg;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		http_resp_json(resp, 405, json_pack("{s:s, s:s}", "error", "invalid_request", "error_description",
		    "method not allowed"));
		http_resp_header(resp, "Allow", "GET, HEAD");
		return;
	}
	http_resp_text(resp, 200, "application/json", m->doc);
	http_resp_header(resp, "Cache-Control", "public, max-age=300");
	http_resp_header(resp, "Access-Control-Allow-Origin", "*");
}
