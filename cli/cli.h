/*
 * cli: the client commands of the mcpgate program (login, logout, token,
 * tools, call, status, bridge), built only on include/mcpgate/mcpgate.h.
 */
#ifndef MCPGATE_CLI_CLI_H
#define MCPGATE_CLI_CLI_H

/* cli_main(argc, argv): run the command argv[0] ("login", ...) with its
 * arguments; returns the process exit status: 0 success, 1 failure, 2 usage. */
int cli_main(int argc, char **argv);

/* cli_is_command(name): 1 if ${name} is a client command. */
int cli_is_command(const char *name);

/* cli_usage(f): print the client commands' usage lines to ${f}. */
#include <stdio.h>
void cli_usage(FILE *f);

#endif
