-- wrk script: an authenticated tools/call of the echo tool.
--
--   BENCH_TOKEN=... [BENCH_TOOL=echo__echo] [BENCH_PROTO=2026-07-28] \
--       wrk -s bench/wrk-tools-call.lua http://127.0.0.1:PORT/mcp
--
-- BENCH_TOOL is the tool's name as the server offers it: echo__echo through
-- mcpgate (namespaced by server), echo on the SDK server.  See wrk-mcp.lua.

local tool = os.getenv("BENCH_TOOL")
if tool == nil or tool == "" then
	tool = "echo__echo"
end
mcp_method = "tools/call"
mcp_name = tool
mcp_params = '{"name":"' .. tool .. '","arguments":{"text":"hello"}}'

local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(dir .. "wrk-mcp.lua")
