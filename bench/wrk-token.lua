-- wrk script: client_credentials token requests with client_secret_basic.
--
--   BENCH_BASIC=base64(id:secret) [BENCH_RESOURCE=uri] wrk -s bench/wrk-token.lua URL
--
-- Every response that is not a 200 is counted, per thread, and reported in
-- done(): a benchmark of error responses measures nothing.  done() prints one
-- machine-readable line, "non200 N errors E", for bench/run.sh.

local basic = os.getenv("BENCH_BASIC")
if basic == nil or basic == "" then
	io.stderr:write("wrk-token.lua: set BENCH_BASIC\n")
	os.exit(2)
end
local resource = os.getenv("BENCH_RESOURCE")

local body = "grant_type=client_credentials&scope=mcp%3Aread"
if resource ~= nil and resource ~= "" then
	body = body .. "&resource=" .. resource:gsub("[^%w%-%._~]", function(c)
		return string.format("%%%02X", string.byte(c))
	end)
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. basic
wrk.headers["Accept"] = "application/json"

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	bad = 0
	first_bad = nil
end

function response(status, headers, body)
	if status ~= 200 then
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
