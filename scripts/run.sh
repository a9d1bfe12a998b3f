#!/bin/sh
# `make run`: start mcpgate on its embedded default (SQLite under
# $MCPGATE_DATA, default ./var; HTTP on 127.0.0.1:$MCPGATE_PORT, default
# 8080; demo user "demo").  A config file can be given as $MCPGATE_CONFIG.
set -eu
bin=${1:-build/mcpgate}
if [ -n "${MCPGATE_CONFIG:-}" ]; then
	exec "$bin" serve --config "$MCPGATE_CONFIG"
fi
exec "$bin" serve
