/*
 * server/admin: `mcpgate admin`, commands on the same store as `serve`.
 */
#ifndef MCPGATE_SERVER_ADMIN_H
#define MCPGATE_SERVER_ADMIN_H

struct store;

/* admin_main(argc, argv): argv[0] is "admin".  Returns the exit status. */
int admin_main(int argc, char **argv);

/* admin_user_put(st, username, password): create ${username} with an
 * argon2id hash of ${password}, or, if it exists, set its password while
 * keeping its subject (and so its consents).  Returns 0 or -1 (printed). */
int admin_user_put(struct store *st, const char *username, const char *password);

#endif
