#!/bin/sh
# ctest client/install: `cmake --install` into a scratch DESTDIR, then build
# a program on the installed header with pkg-config, against the shared and
# the static library, and run both.  The program defines names the library
# uses internally: they must not clash.
set -eu
build=$1
cc=${CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
DESTDIR="$work/root" cmake --install "$build" >/dev/null
root="$work/root"
test -n "$(find "$root" -path "*/include/mcpgate/mcpgate.h")"
pc=$(find "$root" -name mcpgate.pc)
test -n "$pc"
cat >"$work/t.c" <<'C'
#include <mcpgate/mcpgate.h>
#include <stdio.h>
#include <string.h>
/* Names the library uses inside: no clash, static or shared. */
void buf_init(void);
void
buf_init(void)
{
}
int chttp_do = 1;
int
main(void)
{
	struct mcpgate_client *c;

	if (mcpgate_client_new("https://example.com/mcp", &c) != MCPGATE_OK)
		return (1);
	mcpgate_client_free(c);
	if (mcpgate_client_new("ftp://x", &c) != MCPGATE_E_INVAL)
		return (1);
	puts(mcpgate_strerror(MCPGATE_E_ISS));
	return (strcmp(MCPGATE_VERSION, "0.1.0") != 0);
}
C
export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(dirname "$(dirname "$pc")")
# shellcheck disable=SC2046
$cc -o "$work/t-shared" "$work/t.c" $(pkg-config --cflags --libs mcpgate)
LD_LIBRARY_PATH="$libdir" "$work/t-shared"
# shellcheck disable=SC2046
$cc -o "$work/t-static" "$work/t.c" $(pkg-config --cflags mcpgate) "$libdir/libmcpgate.a" \
	$(pkg-config --libs jansson libcrypto libcurl) -lpthread
"$work/t-static"
