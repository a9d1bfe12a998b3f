#include "http/basic.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/secret.h"
#include "http/form.h"

/* Form-urldecode ${n} bytes at ${s} into a new string in ${out}; -1 if
 * malformed or it holds a control byte.  Intermediate copies are wiped. */
static int
decode_part(const char *s, size_t n, char **out)
{
	struct buf b;
	size_t i;

	buf_init(&b, BASIC_HEADER_MAX);
	if (form_urldecode(s, n, &b))
		goto err0;
	for (i = 0; i < b.len; i++) {
		if ((unsigned char)b.p[i] < 0x20 || b.p[i] == 0x7f)
			goto err0;
	}
	if ((*out = buf_steal(&b)) == NULL)
		goto err0;
	return (0);

err0:
	buf_clear(&b);
	return (-1);
}

/*
 * basic_parse(hdr, user, pass): parse the value of an Authorization header
 * "Basic <base64(urlenc(user) ':' urlenc(pass))>".  Returns 0 with malloc'd
 * strings in ${user} and ${pass} (the caller wipes and frees ${pass}), 1 if
 * the scheme is not Basic, -1 if malformed.
 */
int
basic_parse(const char *hdr, char **user, char **pass)
{
	unsigned char raw[BASIC_HEADER_MAX];
	const char *p, *colon;
	size_t len, rawlen;
	char *u = NULL, *pw = NULL;

	*user = *pass = NULL;
	if (strncasecmp(hdr, "Basic", 5) != 0 || (hdr[5] != ' ' && hdr[5] != '\0'))
		return (1);
	if ((len = strnlen(hdr, BASIC_HEADER_MAX + 1)) > BASIC_HEADER_MAX)
		return (-1);
	for (p = hdr + 5; *p == ' '; p++)
		;
	if (p == hdr + 5)
		return (-1);
	if (b64_decode(p, len - (size_t)(p - hdr), raw, sizeof(raw), &rawlen))
		goto err0;
	if ((colon = memchr(raw, ':', rawlen)) == NULL)
		goto err0;
	if (decode_part((const char *)raw, (size_t)(colon - (const char *)raw), &u))
		goto err0;
	if (u[0] == '\0')
		goto err1;
	if (decode_part(colon + 1, rawlen - (size_t)(colon + 1 - (const char *)raw), &pw))
		goto err1;
	secret_wipe(raw, sizeof(raw));
	*user = u;
	*pass = pw;
	return (0);

err1:
	secret_wipe(u, strlen(u));
	free(u);
err0:
	secret_wipe(raw, sizeof(raw));
	return (-1);
}
