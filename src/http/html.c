#include "http/html.h"

#include <string.h>

#include "core/buf.h"

/*
 * html_escape(b, s): append ${s} to ${b} with the five HTML-special
 * characters replaced by entities.  Returns 0 or -1 (${b} unchanged).
 */
int
html_escape(struct buf *b, const char *s)
{
	size_t old = b->len, run;
	const char *ent;

	while (*s != '\0') {
		run = strcspn(s, "&<>\"'");
		if (run > 0) {
			if (buf_add(b, s, run))
				goto err;
			s += run;
			continue;
		}
		switch (*s) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		default:
			ent = "&#39;";
			break;
		}
		if (buf_adds(b, ent))
			goto err;
		s++;
	}
	return (0);

err:
	if (b->p != NULL)
		b->p[old] = '\0';
	b->len = old;
	return (-1);
}
