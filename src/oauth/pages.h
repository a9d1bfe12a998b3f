/*
 * oauth/pages: the HTML of the login, consent and error pages.
 *
 * Every page is sent with Cache-Control: no-store, X-Frame-Options: DENY and
 * a Content-Security-Policy that forbids framing, scripts and plugins.
 * Everything that came from a client or a user is HTML-escaped.
 */
#ifndef MCPGATE_OAUTH_PAGES_H
#define MCPGATE_OAUTH_PAGES_H

#include <stddef.h>

struct http_resp;
struct config;

struct consent_view {
	const char *client_name;
	const char *client_id;
	const char *client_host;   /* for metadata-document clients, else NULL */
	const char *redirect_host; /* where the browser will be sent */
	const char *resource;	   /* the MCP server (resource URI) asked for */
	const char *username;
	const char *const *scopes; /* scope names */
	size_t nscopes;
	int asked_before; /* consent was given before but must be confirmed */
};

/* pages_error(resp, status, title, message): an error page. */
void pages_error(struct http_resp *resp, int status, const char *title, const char *message);

/* pages_login(resp, req_handle, csrf, client_name, notice): the login form. */
void pages_login(struct http_resp *resp, const char *req_handle, const char *csrf, const char *client_name,
    const char *notice);

/* pages_consent(resp, cfg, req_handle, csrf, view): the consent form. */
void pages_consent(struct http_resp *resp, const struct config *cfg, const char *req_handle, const char *csrf,
    const struct consent_view *view);

#endif
