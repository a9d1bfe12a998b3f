/*
 * mcpgate: the program.  `mcpgate serve` runs the authorization server and the MCP gateway;
 * `mcpgate admin ...` manages its store.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "server/admin.h"
#include "server/serve.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: mcpgate serve [--config FILE]\n"
		   "       mcpgate admin [--config FILE] user add|list|del ...\n"
		   "       mcpgate admin [--config FILE] client add|list|del ...\n"
		   "       mcpgate admin [--config FILE] keys list|rotate\n"
		   "       mcpgate admin [--config FILE] grants list|revoke ...\n"
		   "       mcpgate admin [--config FILE] audit [--since T] [--subject S] [--client C]\n"
		   "                                     [--tool T] [--denied]\n"
		   "       mcpgate version\n");
	cli_usage(f);
	fprintf(f, "Without --config, the store is under $MCPGATE_DATA (default ./var).\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return (2);
	}
	if (strcmp(argv[1], "serve") == 0)
		return (serve_main(argc - 1, argv + 1));
	if (strcmp(argv[1], "admin") == 0)
		return (admin_main(argc - 1, argv + 1));
	if (cli_is_command(argv[1]))
		return (cli_main(argc - 1, argv + 1));
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("mcpgate 0.1.0\n");
		return (0);
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return (0);
	}
	fprintf(stderr, "mcpgate: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return (2);
}
