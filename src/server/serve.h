/*
 * server/serve: `mcpgate serve`, and the setup it shares with `admin`.
 */
#ifndef MCPGATE_SERVER_SERVE_H
#define MCPGATE_SERVER_SERVE_H

struct config;
struct store;

/* serve_main(argc, argv): run the server until SIGINT or SIGTERM; argv[0]
 * is "serve".  Returns the exit status. */
int serve_main(int argc, char **argv);

/* serve_take_config_arg(argc, argv): find "--config FILE" (or
 * "--config=FILE") in ${argv}, remove it, and return FILE (NULL if absent);
 * ${argc} is updated.  Returns "" on a missing argument. */
const char *serve_take_config_arg(int *argc, char **argv);

/* serve_open_store(cfg): create the data directory (0700) and open the
 * store.  NULL on failure (printed). */
struct store *serve_open_store(const struct config *cfg);

#endif
