/*
 * http/connlimit: how many connections each client address holds, for the
 * listener's per-address limit.
 *
 * A client address is keyed as the request-rate limits key it (see
 * throttle_addr_key() in src/oauth): an IPv4 address as itself, an
 * IPv4-mapped IPv6 address (a dual-stack listener) as its IPv4 address, and
 * any other IPv6 address by its /64 prefix, since one subscriber usually holds
 * a whole /64 and could otherwise open each connection from a fresh address.
 *
 * The listener asks connlimit_allows() when it accepts a connection and
 * counts it with connlimit_add() once it is set up, dropping the count with
 * connlimit_del() when it closes.  Memory: one entry per address that holds a
 * connection, so at most one per connection; entries are found through a hash
 * keyed with a per-process secret, so that no client can choose addresses
 * that share a chain.  All calls are thread-safe.
 */
#ifndef MCPGATE_HTTP_CONNLIMIT_H
#define MCPGATE_HTTP_CONNLIMIT_H

#include <sys/socket.h>

#define CONNLIMIT_KEY_LEN 16
#define CONNLIMIT_BUCKETS 4096
/* A refusal is logged at most once per this many seconds (with a count). */
#define CONNLIMIT_LOG_INTERVAL_S 10

struct connlimit;
struct connlimit_entry;

/* connlimit_new(limit): a table allowing ${limit} (> 0) connections per
 * address.  NULL on ENOMEM or if no random key can be made. */
struct connlimit *connlimit_new(unsigned limit);

/* connlimit_free(cl): free ${cl} and its entries; NULL does nothing. */
void connlimit_free(struct connlimit *cl);

/* connlimit_key(sa, len, key): the key of the peer address ${sa}: an IPv4
 * address (or an IPv4-mapped IPv6 one) as ::ffff:a.b.c.d, another IPv6
 * address as its first 8 bytes followed by zeros.  Returns 0, or -1 for
 * other families or a short ${len}. */
int connlimit_key(const struct sockaddr *sa, socklen_t len, unsigned char key[CONNLIMIT_KEY_LEN]);

/* connlimit_allows(cl, sa, len): 1 if the address of ${sa} holds fewer than
 * the limit (or is not IPv4/IPv6), else 0 (a refusal, logged at most every
 * CONNLIMIT_LOG_INTERVAL_S seconds).  Check and count are separate, so
 * connections accepted at the same moment on several listener threads may
 * pass the limit by one per thread. */
int connlimit_allows(struct connlimit *cl, const struct sockaddr *sa, socklen_t len);

/* connlimit_add(cl, sa, len): count a connection from ${sa}.  Returns the
 * handle to give to connlimit_del(), or NULL if it was not counted (not
 * IPv4/IPv6, or ENOMEM). */
struct connlimit_entry *connlimit_add(struct connlimit *cl, const struct sockaddr *sa, socklen_t len);

/* connlimit_del(cl, e): the connection counted as ${e} closed.  NULL does
 * nothing. */
void connlimit_del(struct connlimit *cl, struct connlimit_entry *e);

/* connlimit_count(cl, sa, len): connections counted for the address of
 * ${sa} (for tests). */
unsigned connlimit_count(struct connlimit *cl, const struct sockaddr *sa, socklen_t len);

#endif
