-- wrk script: an authenticated ping, which mcpgate answers itself (the token
-- check, the JSON-RPC parse, the session lookup, the audit line, no
-- upstream).  Also sent to nginx, whose answer has the same shape.  ping is a
-- method of 2025-11-25 and before (2026-07-28 removed it), so it goes over a
-- legacy session (bench/session.sh makes one).
--
--   BENCH_TOKEN=... BENCH_PROTO=2025-11-25 BENCH_SESSION=... \
--       wrk -s bench/wrk-ping.lua URL
--
-- See wrk-mcp.lua.

mcp_method = "ping"
mcp_name = nil
mcp_params = "{}"

local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(dir .. "wrk-mcp.lua")
