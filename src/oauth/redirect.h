/*
 * oauth/redirect: which redirect URIs a client may register, and whether a
 * presented one matches a registered one.
 *
 * Registrable (OAuth 2.1 section 2.3.1, RFC 8252 sections 7.1 and 7.3):
 *   - https URLs;
 *   - http URLs whose host is a loopback IP literal (127.0.0.1, [::1]) or
 *     "localhost";
 *   - private-use schemes in reverse-DNS form ("com.example.app:/cb").
 * Never: a fragment, userinfo, a scheme that browsers execute (javascript:,
 * data:, file:, ...), control characters or spaces, more than
 * REDIRECT_URI_MAX characters.
 *
 * Matching is exact string comparison, except for loopback http redirects,
 * where the port of the presented URI may differ from the registered one
 * (RFC 8252 section 7.3: native apps get an ephemeral port from the OS).
 */
#ifndef MCPGATE_OAUTH_REDIRECT_H
#define MCPGATE_OAUTH_REDIRECT_H

#define REDIRECT_URI_MAX 2048

enum redirect_kind {
	REDIRECT_INVALID = 0,
	REDIRECT_HTTPS,
	REDIRECT_LOOPBACK,
	REDIRECT_PRIVATE_USE,
};

/* redirect_classify(uri): the kind of ${uri}, REDIRECT_INVALID if it may not
 * be registered at all. */
enum redirect_kind redirect_classify(const char *uri);

/* redirect_match(registered, presented): 1 if ${presented} is acceptable for
 * the registered URI ${registered}, else 0. */
int redirect_match(const char *registered, const char *presented);

#endif
