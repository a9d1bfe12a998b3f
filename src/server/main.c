#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "mcpgate: not yet\n");
	return (1);
}
