#!/bin/sh
# CPU per forwarded request: mcpgate in front of build/echo_mcp (stdio), a
# fixed wrk run of tools/call (and ping), then the CPU time (utime + stime
# from /proc/PID/stat) of mcpgate and of its upstream divided by the
# requests completed.  Unlike requests per second, this barely moves when
# other work shares the machine.
#
#   bench/gateway-cpu.sh      RUNS=3 DURATION=8 CONNS=64 WRK_THREADS=2
#
# Then the same tools/call load on build/mhd_floor (FLOOR_BIN; NO_FLOOR=1
# skips it): libmicrohttpd set up as mcpgate, relaying a fixed call to the
# same upstream with no token, JSON, policy or audit, the floor under
# mcpgate's tools/call on this HTTP library and transport.
#
# Prints one line per run:
#   what requests req/s gateway_us upstream_us total_us rss_kib vcs/req
# gateway_us and upstream_us: CPU microseconds per request; rss_kib:
# mcpgate's VmRSS after the run; vcs/req: voluntary context switches of
# mcpgate's threads per request (waits that need a wake-up).
# Optional, after the runs: THREADS=1 (CPU per request of each mcpgate
# thread over one more run), PERF=FILE (`perf record` of one more run,
# reports in FILE, FILE.children, FILE.graph; PERF_ARGS replaces
# "-F 999 -g"), TRACE=FILE (`perf trace -s` and `perf stat`), SMAPS=FILE.
# MCPGATE_BIN, ECHO_MCP_BIN, PORT_GATE override.  Every process it starts
# is killed on exit, by PID; every wait is bounded.
set -eu
cd "$(dirname "$0")/.."
. bench/session.sh

MCPGATE_BIN=${MCPGATE_BIN:-build/mcpgate}
ECHO_MCP_BIN=${ECHO_MCP_BIN:-build/echo_mcp}
FLOOR_BIN=${FLOOR_BIN:-build/mhd_floor}
PORT_FLOOR=${PORT_FLOOR:-18281}
RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
WRK_THREADS=${WRK_THREADS:-2}
PORT_GATE=${PORT_GATE:-18280}
ISSUER=http://127.0.0.1:$PORT_GATE
RESOURCE=$ISSUER/mcp

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-gwcpu.XXXXXX")
pid=
fpid=
cleanup() {
	for p in $pid $fpid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if curl -s -o /dev/null --max-time 1 "$ISSUER/"; then
	echo "gateway-cpu.sh: port $PORT_GATE is in use (set PORT_GATE)" >&2
	exit 1
fi
mkdir -m 700 "$tmp/gate"
cat >"$tmp/gate/config.json" <<EOF
{
  "listen": {"address": "127.0.0.1", "port": $PORT_GATE, "threads": 2},
  "issuer": "$ISSUER",
  "data_dir": "$tmp/gate",
  "resources": ["$RESOURCE"],
  "tokens": {"access_ttl": 3600},
  "log": {"level": "warn"},
  "audit": {"file": "$tmp/gate/audit.log"},
  "mcpServers": {"echo": {"command": "$(realpath "$ECHO_MCP_BIN")"}}
}
EOF
creds=$("$MCPGATE_BIN" admin --config "$tmp/gate/config.json" client add --name bench \
    --grant client_credentials --scope "mcp:read")
id=$(echo "$creds" | sed -n 's/.*"client_id": *"\([^"]*\)".*/\1/p')
secret=$(echo "$creds" | sed -n 's/.*"client_secret": *"\([^"]*\)".*/\1/p')
"$MCPGATE_BIN" serve --config "$tmp/gate/config.json" >"$tmp/server.log" 2>&1 &
pid=$!
i=0
until curl -s -o /dev/null --max-time 1 "$ISSUER/"; do
	i=$((i + 1))
	[ $i -lt 75 ] || { cat "$tmp/server.log" >&2; exit 1; }
	sleep 0.2
done
BENCH_TOKEN=$(curl -s --max-time 5 -u "$id:$secret" -d grant_type=client_credentials \
    -d scope=mcp:read --data-urlencode "resource=$RESOURCE" "$ISSUER/token" |
    sed -n 's/.*"access_token": *"\([^"]*\)".*/\1/p')
export BENCH_TOKEN
# Until the upstream answers (at most 15 s).
i=0
until BENCH_TOOL=echo__echo timeout 10 wrk -t1 -c1 -d1s -s bench/wrk-tools-call.lua "$RESOURCE" 2>&1 |
    grep -q '^non200 0 errors 0$'; do
	i=$((i + 1))
	[ $i -lt 15 ] || { echo "gateway-cpu.sh: tools/call does not answer" >&2; exit 1; }
done
up=$(ps -o pid= --ppid "$pid" | head -1 | tr -d ' ')

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Voluntary context switches of all threads of $1 (a thread that blocks:
# a futex or poll wait, each one a later wake-up).
vcs() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '$1 == "voluntary_ctxt_switches:" { s += $2 } END { print s + 0 }'; }
hz=$(getconf CLK_TCK)

run() {
	g0=$(ticks "$pid") u0=$(ticks "$up") c0=$(vcs "$pid")
	BENCH_TOOL=echo__echo timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNS" \
	    -d"$DURATION"s --timeout 5s -s "$2" "$RESOURCE" >"$tmp/wrk" 2>&1
	g1=$(ticks "$pid") u1=$(ticks "$up") c1=$(vcs "$pid")
	grep -q '^non200 0 errors 0$' "$tmp/wrk" || { cat "$tmp/wrk" >&2; exit 1; }
	n=$(awk '/ requests in / { print $1 }' "$tmp/wrk")
	rps=$(awk '/^Requests\/sec:/ { printf("%.0f", $2) }' "$tmp/wrk")
	rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status")
	awk -v w="$1" -v n="$n" -v r="$rps" -v g=$((g1 - g0)) -v u=$((u1 - u0)) -v hz="$hz" \
	    -v rss="$rss" -v cs=$((c1 - c0)) 'BEGIN { printf("%s %d %d %.1f %.1f %.1f %d %.2f\n", w, n, r,
	    g * 1e6 / hz / n, u * 1e6 / hz / n, (g + u) * 1e6 / hz / n, rss, cs / n) }'
}

echo "what requests req/s gateway_us upstream_us total_us rss_kib vcs/req   (load $(cut -d' ' -f1-3 /proc/loadavg))"
BENCH_TOOL=echo__echo timeout 30 wrk -t"$WRK_THREADS" -c"$CONNS" -d2s -s bench/wrk-tools-call.lua \
    "$RESOURCE" >/dev/null 2>&1
r=0
while [ $r -lt "$RUNS" ]; do
	run tools/call bench/wrk-tools-call.lua
	r=$((r + 1))
done
sid=$(mcp_session "$RESOURCE") || exit 1
BENCH_PROTO=2025-11-25 BENCH_SESSION=$sid run ping bench/wrk-ping.lua
if [ -z "${NO_FLOOR:-}" ] && [ -x "$FLOOR_BIN" ]; then
	"$FLOOR_BIN" "$PORT_FLOOR" "$(realpath "$ECHO_MCP_BIN")" 2>"$tmp/floor.log" &
	fpid=$!
	i=0
	until curl -s -o /dev/null --max-time 2 -d '{}' "http://127.0.0.1:$PORT_FLOOR/mcp"; do
		i=$((i + 1))
		[ $i -lt 50 ] || { cat "$tmp/floor.log" >&2; exit 1; }
		sleep 0.2
	done
	gpid=$pid gup=$up gres=$RESOURCE
	pid=$fpid up=$(ps -o pid= --ppid "$fpid" | head -1 | tr -d ' ') RESOURCE=http://127.0.0.1:$PORT_FLOOR/mcp
	run floor bench/wrk-tools-call.lua
	kill "$fpid" 2>/dev/null || true
	wait "$fpid" 2>/dev/null || true
	fpid=
	pid=$gpid up=$gup RESOURCE=$gres
fi
if [ -n "${THREADS:-}" ]; then
	# THREADS=1: CPU per request of each mcpgate thread over one more run.
	for d in /proc/"$pid"/task/*; do echo "$(cat "$d/comm") $(awk '{ print $14 + $15 }' "$d/stat")"; done >"$tmp/th0"
	run tools/call bench/wrk-tools-call.lua
	for d in /proc/"$pid"/task/*; do echo "$(cat "$d/comm") $(awk '{ print $14 + $15 }' "$d/stat")"; done >"$tmp/th1"
	paste "$tmp/th0" "$tmp/th1" | awk -v n="$n" -v hz="$hz" '{ d = $4 - $2; if (d > 0) printf("  thread %s: %.1f us/req\n", $1, d * 1e6 / hz / n) }'
fi
if [ -n "${SMAPS:-}" ]; then
	cp "/proc/$pid/smaps" "$SMAPS"
fi
if [ -n "${TRACE:-}" ]; then
	# TRACE=FILE: one more tools/call run under `perf trace -s` (system
	# calls per thread) and `perf stat` (context switches).
	timeout $((DURATION + 60)) perf trace -s -p "$pid" -o "$TRACE" -- sleep "$DURATION" \
	    >/dev/null 2>&1 &
	pp=$!
	timeout $((DURATION + 60)) perf stat -e task-clock,context-switches,cpu-migrations \
	    -p "$pid" -o "$TRACE.stat" -- sleep "$DURATION" >/dev/null 2>&1 &
	ps2=$!
	run tools/call bench/wrk-tools-call.lua
	wait "$pp" "$ps2" || true
fi
if [ -n "${PERF:-}" ]; then
	# PERF=FILE: one more tools/call run (PERF_RUN=ping: ping) under
	# `perf record`, flat report.
	# shellcheck disable=SC2086 # PERF_ARGS is several arguments
	timeout $((DURATION + 60)) perf record -q ${PERF_ARGS:--F 999 -g} -p "$pid" -o "$tmp/perf.data" \
	    -- sleep "$DURATION" >/dev/null 2>&1 &
	pp=$!
	if [ "${PERF_RUN:-}" = ping ]; then
		BENCH_PROTO=2025-11-25 BENCH_SESSION=$sid run ping bench/wrk-ping.lua
	else
		run tools/call bench/wrk-tools-call.lua
	fi
	wait "$pp" || true
	perf report -i "$tmp/perf.data" --no-children --percent-limit 0.4 --stdio \
	    --sort dso,symbol -g none 2>/dev/null | grep -v '^$' >"$PERF" || true
	perf report -i "$tmp/perf.data" --children --percent-limit 1 --stdio \
	    --sort symbol -g none 2>/dev/null | grep -v '^$' >"$PERF.children" || true
	perf report -i "$tmp/perf.data" --no-children --percent-limit 1 --stdio \
	    -g caller,0.5,callee,function,percent --max-stack 16 2>/dev/null | grep -v '^$' >"$PERF.graph" || true
fi
