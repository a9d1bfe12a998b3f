-- wrk script: an authenticated ping, which mcpgate answers itself (the token
-- check, the JSON-RPC parse, the 2026-07-28 header checks, the audit line,
-- no upstream).  Also sent to nginx, whose answer has the same shape.
--
--   BENCH_TOKEN=... [BENCH_PROTO=2026-07-28] wrk -s bench/wrk-ping.lua URL
--
-- See wrk-mcp.lua.

mcp_method = "ping"
mcp_name = nil
mcp_params = "{}"

local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(dir .. "wrk-mcp.lua")
