/*
 * http/basic: the HTTP Basic authorization header as OAuth clients use it
 * (RFC 6749 section 2.3.1: client_id and secret are form-urlencoded before
 * base64).
 */
#ifndef MCPGATE_HTTP_BASIC_H
#define MCPGATE_HTTP_BASIC_H

#include <stddef.h>

#define BASIC_HEADER_MAX 2048

/* basic_parse(hdr, user, pass): parse the value of an Authorization header of
 * the form "Basic <base64(urlenc(user) ':' urlenc(pass))>" (scheme name
 * case-insensitive).  On success stores malloc'd, NUL-terminated, decoded
 * strings in ${user} and ${pass} (the caller wipes and frees ${pass}) and
 * returns 0.  Returns 1 if the scheme is not Basic, -1 if malformed (bad
 * base64, no colon, empty user, a NUL or control byte, too long). */
int basic_parse(const char *hdr, char **user, char **pass);

#endif
