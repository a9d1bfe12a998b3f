/*
 * client/authflow: obtaining, keeping, refreshing and revoking tokens.
 *
 * Tokens are kept per server URL (the handle's), bound to the issuer and
 * client that issued them; registrations per issuer.  See docs/CLIENT.md for
 * the protocol decisions (scope selection, step-up bounds, refresh locking).
 */
#ifndef MCPGATE_CLIENT_AUTHFLOW_H
#define MCPGATE_CLIENT_AUTHFLOW_H

#include "client/internal.h"
#include "client/wwwauth.h"

/* How long before expiry a token is refreshed. */
#define AUTHFLOW_REFRESH_MARGIN 60
#define AUTHFLOW_TOKEN_MAX 16384

/* authflow_login(c, chal, stepup): discover (from the challenge ${chal}, may
 * be NULL), register, run the grant and store the tokens.  With ${stepup},
 * the scope requested is the union of the last requested scope and the
 * challenge's. */
mcpgate_err authflow_login(struct mcpgate_client *c, const struct wwwauth *chal, int stepup);

/* authflow_access(c, token): a current access token (not copied; valid until
 * the next authflow call) or NULL when there is none; refreshes one that
 * expires within AUTHFLOW_REFRESH_MARGIN seconds.  A failed refresh drops the
 * tokens (token NULL, MCPGATE_OK) so the caller re-authorizes. */
mcpgate_err authflow_access(struct mcpgate_client *c, const char **token);

/* authflow_refresh(c): refresh now, under the store lock: if another process
 * refreshed meanwhile (the stored refresh token is not ours), its tokens are
 * taken instead, and refreshed only if they expire too.  A refused refresh
 * drops the tokens (MCPGATE_E_TOKEN).  MCPGATE_E_NOT_LOGGED_IN if there is no
 * refresh token. */
mcpgate_err authflow_refresh(struct mcpgate_client *c);

/* authflow_logout(c): revoke and forget the tokens of c's server. */
mcpgate_err authflow_logout(struct mcpgate_client *c);

/* authflow_forget(c): drop the tokens in memory and in the store. */
void authflow_forget(struct mcpgate_client *c);

#endif
