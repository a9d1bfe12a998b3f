# Sourced by the gateway benchmarks.  mcp_session URL: prints the
# Mcp-Session-Id of a new 2025-11-25 session opened with $BENCH_TOKEN (ping
# is a method of that version: 2026-07-28 removed it), or fails.
mcp_session() {
	_init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
	_sid=$(curl -s --max-time 5 -D - -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" \
	    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	    --data-binary "$_init" "$1" | tr -d '\r' | awk 'tolower($1) == "mcp-session-id:" { print $2 }')
	if [ -z "$_sid" ]; then
		echo "bench: initialize at $1 gave no session" >&2
		return 1
	fi
	echo "$_sid"
}
