#include "oauth/pages.h"

#include <string.h>

#include "core/buf.h"
#include "core/text.h"
#include "http/html.h"
#include "http/server.h"
#include "server/config.h"

#define PAGE_MAX (64 * 1024)

#define HEAD \
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" \
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" \
    "<meta name=\"referrer\" content=\"same-origin\">" \
    "<title>%s</title><style>" \
    "body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2430;margin:0}" \
    "main{max-width:26rem;margin:8vh auto;background:#fff;border-radius:10px;padding:2rem;" \
    "box-shadow:0 1px 4px rgba(0,0,0,.12)}" \
    "h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .2rem;font-weight:600}" \
    "input[type=text],input[type=password]{width:100%%;box-sizing:border-box;padding:.55rem;" \
    "border:1px solid #b8bfcc;border-radius:6px;font-size:1rem}" \
    "button{margin-top:1.2rem;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #1f5fd1;" \
    "font-size:1rem;cursor:pointer;background:#1f5fd1;color:#fff}" \
    "button.secondary{background:#fff;color:#1f5fd1;margin-left:.5rem}" \
    ".notice{background:#fdecea;color:#8a1c12;padding:.6rem;border-radius:6px}" \
    "ul{padding-left:1.2rem}code{font-size:.9em;background:#eef0f4;padding:0 .2em;border-radius:3px}" \
    ".muted{color:#5b6475;font-size:.9rem}" \
    "</style></head><body><main>\n"

static const char FOOT[] = "</main></body></html>\n";

static void
headers(struct http_resp *resp, int status)
{
	resp->status = status;
	http_resp_header(resp, "Content-Type", "text/html; charset=utf-8");
	http_resp_header(resp, "Cache-Control", "no-store");
	http_resp_header(resp, "Pragma", "no-cache");
	http_resp_header(resp, "X-Frame-Options", "DENY");
	http_resp_header(resp, "Referrer-Policy", "same-origin");
	http_resp_header(resp, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
}

/* Append ${s} escaped, with the characters core/text.h refuses (bidi
 * overrides, invisible and control characters, ill-formed UTF-8) shown as
 * U+FFFD; a failure leaves the page truncated, which the caller turns into
 * an error. */
static int
esc(struct buf *b, const char *s)
{
	struct buf t;
	int e;

	buf_init(&t, PAGE_MAX);
	e = text_display_clean(&t, s != NULL ? s : "") || html_escape(b, buf_cstr(&t));
	buf_clear(&t);
	return (e);
}

static void
finish(struct http_resp *resp, struct buf *b, int failed)
{
	if (failed || buf_adds(b, FOOT)) {
		buf_clear(b);
		buf_init(&resp->body, HTTP_RESP_BODY_MAX);
		resp->status = 500;
		buf_adds(&resp->body, "page too large\n");
		return;
	}
	buf_clear(&resp->body);
	resp->body = *b;
}

void
pages_error(struct http_resp *resp, int status, const char *title, const char *message)
{
	struct buf b;
	int e = 0;

	buf_init(&b, PAGE_MAX);
	headers(resp, status);
	e |= buf_printf(&b, HEAD, "Error");
	e |= buf_adds(&b, "<h1>");
	e |= esc(&b, title);
	e |= buf_adds(&b, "</h1><p>");
	e |= esc(&b, message);
	e |= buf_adds(&b, "</p>");
	finish(resp, &b, e);
}

static int
hidden(struct buf *b, const char *name, const char *value)
{
	int e = 0;

	e |= buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	e |= esc(b, value);
	e |= buf_adds(b, "\">");
	return (e);
}

void
pages_login(struct http_resp *resp, const char *req_handle, const char *csrf, const char *client_name,
    const char *notice)
{
	struct buf b;
	int e = 0;

	buf_init(&b, PAGE_MAX);
	headers(resp, 200);
	e |= buf_printf(&b, HEAD, "Sign in");
	e |= buf_adds(&b, "<h1>Sign in</h1><p class=\"muted\">to continue to <strong>");
	e |= esc(&b, client_name);
	e |= buf_adds(&b, "</strong></p>");
	if (notice != NULL) {
		e |= buf_adds(&b, "<p class=\"notice\" role=\"alert\">");
		e |= esc(&b, notice);
		e |= buf_adds(&b, "</p>");
	}
	e |= buf_adds(&b, "<form method=\"post\" action=\"/login\">");
	e |= hidden(&b, "req", req_handle);
	e |= hidden(&b, "csrf", csrf);
	e |= buf_adds(&b, "<label for=\"username\">Username</label>"
			  "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" "
			  "autocapitalize=\"none\" required autofocus maxlength=\"128\">"
			  "<label for=\"password\">Password</label>"
			  "<input type=\"password\" id=\"password\" name=\"password\" "
			  "autocomplete=\"current-password\" required maxlength=\"1024\">"
			  "<button type=\"submit\">Sign in</button></form>");
	finish(resp, &b, e);
}

void
pages_consent(struct http_resp *resp, const struct config *cfg, const char *req_handle, const char *csrf,
    const struct consent_view *v)
{
	struct buf b;
	size_t i;
	int e = 0;

	buf_init(&b, PAGE_MAX);
	headers(resp, 200);
	e |= buf_printf(&b, HEAD, "Allow access?");
	e |= buf_adds(&b, "<h1>Allow <strong>");
	e |= esc(&b, v->client_name);
	e |= buf_adds(&b, "</strong> to access your MCP servers?</h1>");
	if (v->client_host != NULL) {
		e |= buf_adds(&b, "<p class=\"muted\">This application is published by <code>");
		e |= esc(&b, v->client_host);
		e |= buf_adds(&b, "</code>.</p>");
	}
	if (v->asked_before)
		e |= buf_adds(&b, "<p class=\"muted\">You allowed this before. This application cannot prove "
				  "its identity to this server, so you are asked each time.</p>");
	e |= buf_adds(&b, "<p>Signed in as <strong>");
	e |= esc(&b, v->username);
	e |= buf_adds(&b, "</strong>. It asks to:</p><ul>");
	for (i = 0; i < v->nscopes; i++) {
		e |= buf_adds(&b, "<li>");
		e |= esc(&b, config_scope_description(cfg, v->scopes[i]));
		e |= buf_adds(&b, " <code>");
		e |= esc(&b, v->scopes[i]);
		e |= buf_adds(&b, "</code></li>");
	}
	e |= buf_adds(&b, "</ul>");
	if (v->resource != NULL) {
		e |= buf_adds(&b, "<p>On the MCP server <code>");
		e |= esc(&b, v->resource);
		e |= buf_adds(&b, "</code>.</p>");
	}
	e |= buf_adds(&b, "<p class=\"muted\">After you decide, your browser will go to <code>");
	e |= esc(&b, v->redirect_host);
	e |= buf_adds(&b, "</code>.</p><form method=\"post\" action=\"/consent\">");
	e |= hidden(&b, "req", req_handle);
	e |= hidden(&b, "csrf", csrf);
	e |= buf_adds(&b, "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>"
			  "<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny"
			  "</button></form>");
	finish(resp, &b, e);
}
