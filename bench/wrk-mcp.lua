-- Shared part of the MCP wrk scripts (wrk-tools-call.lua, wrk-ping.lua):
-- one authenticated JSON-RPC request per HTTP request, the same for every
-- request, so that wrk sends it from its fast path.
--
-- The calling script sets mcp_method, mcp_params (JSON text of the params
-- without _meta) and mcp_name (the Mcp-Name value, or nil), then runs this
-- file.  From the environment:
--   BENCH_TOKEN    the access token (required; never printed)
--   BENCH_PROTO    2026-07-28 (default: stateless, MCP-Protocol-Version,
--                  Mcp-Method, Mcp-Name and _meta protocolVersion, no
--                  session) or 2025-11-25 / 2025-06-18 (MCP-Protocol-Version
--                  only; with BENCH_SESSION, its Mcp-Session-Id)
--   BENCH_SESSION  a legacy session id (optional)
--
-- A response counts as good only if it is a 200 whose body holds a JSON-RPC
-- "result" and no "error": a benchmark of errors measures nothing.  done()
-- prints "non200 N errors E" and "p50_us P p99_us P rps R" for the scripts.

local token = os.getenv("BENCH_TOKEN")
if token == nil or token == "" then
	io.stderr:write("wrk-mcp.lua: set BENCH_TOKEN\n")
	os.exit(2)
end
local proto = os.getenv("BENCH_PROTO")
if proto == nil or proto == "" then
	proto = "2026-07-28"
end
local session = os.getenv("BENCH_SESSION")

local params = mcp_params
if proto == "2026-07-28" then
	local meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}'
	if params == "{}" then
		params = "{" .. meta .. "}"
	else
		params = string.sub(params, 1, -2) .. "," .. meta .. "}"
	end
	wrk.headers["Mcp-Method"] = mcp_method
	if mcp_name ~= nil then
		wrk.headers["Mcp-Name"] = mcp_name
	end
end

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"' .. mcp_method .. '","params":' .. params .. "}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["MCP-Protocol-Version"] = proto
if session ~= nil and session ~= "" then
	wrk.headers["Mcp-Session-Id"] = session
end

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	bad = 0
	first_bad = nil
end

function response(status, headers, body)
	if status ~= 200 or body == nil or string.find(body, '"result"', 1, true) == nil or
	    string.find(body, '"error"', 1, true) ~= nil then
		bad = bad + 1
		if first_bad == nil then
			first_bad = status .. " " .. string.sub(body or "", 1, 200)
		end
	end
end

function done(summary, latency, requests)
	local n = 0
	local sample = nil
	for _, t in ipairs(threads) do
		n = n + t:get("bad")
		sample = sample or t:get("first_bad")
	end
	local e = summary.errors
	local errs = e.connect + e.read + e.write + e.timeout
	io.write(string.format("non200 %d errors %d\n", n, errs))
	if sample ~= nil then
		io.write("first non-200: " .. sample .. "\n")
	end
	io.write(string.format("p50_us %d p99_us %d rps %.1f\n", latency:percentile(50),
		latency:percentile(99), summary.requests / (summary.duration / 1e6)))
end
