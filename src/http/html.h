/*
 * http/html: output escaping for the few HTML pages the server renders (login
 * and consent).  Every piece of text that did not come from the page
 * template itself (client names, scopes, URIs, error messages) must pass
 * through html_escape() before it is placed in element content or in a
 * double- or single-quoted attribute value.
 */
#ifndef MCPGATE_HTTP_HTML_H
#define MCPGATE_HTTP_HTML_H

struct buf;

/* html_escape(b, s): append the NUL-terminated text ${s} to ${b} with
 * '&', '<', '>', '"' and '\'' replaced by "&amp;", "&lt;", "&gt;",
 * "&quot;" and "&#39;".  Returns 0, or -1 if ${b} would pass its maximum
 * (then ${b} is left as it was). */
int html_escape(struct buf *b, const char *s);

#endif
