#!/bin/sh
# A throwaway PostgreSQL server for the tests.
#
#   pg_cluster.sh start STATE   initdb into a new directory under $TMPDIR
#                               (or /tmp; always /tmp for root), start the
#                               server on a Unix socket in that directory
#                               (no TCP listener), create the
#                               databases "mcpgate" (unit tests) and
#                               "mcpgate_it" (integration test), and write the
#                               URL of "mcpgate" to STATE and the directory to
#                               STATE.dir
#   pg_cluster.sh stop STATE    stop the server of STATE and remove its
#                               directory and STATE
#
# The server runs as the invoking user, or as the "postgres" system user when
# invoked as root (PostgreSQL refuses to run as root).  Every wait is bounded
# (pg_ctl -t).  The binaries are found in $PG_BINDIR, else in the newest
# /usr/lib/postgresql/*/bin, else on $PATH.
#
# The URL carries a password (scram-sha-256 authentication), so that the
# tests also see that the store never logs it.
set -eu

WAIT_S=30

usage() {
	echo "usage: pg_cluster.sh start|stop STATE" >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
state=$2

bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		echo "$PG_BINDIR"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ]; then
			echo "$d"
			return
		fi
	done
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
		return
	fi
	echo "pg_cluster.sh: initdb not found (Debian: apt-get install postgresql-15," \
	    "or make test-deps)" >&2
	exit 1
}

# Run "$@" as the server's user.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

stop() {
	[ -f "$state.dir" ] || return 0
	dir=$(cat "$state.dir")
	case "$dir" in
	*/mcpgate-pg.*) ;;
	*)
		echo "pg_cluster.sh: refusing to remove $dir" >&2
		return 1
		;;
	esac
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w -t "$WAIT_S" stop \
		    >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	rm -f "$state" "$state.dir"
}

start() {
	bin=$(bindir)
	# A cluster left by an interrupted run goes first.
	stop
	mkdir -p "$(dirname "$state")"
	# Short: the socket path must fit in sun_path (107 bytes).  Under root,
	# always /tmp: the postgres user must be able to reach the directory.
	tmp=${TMPDIR:-/tmp}
	[ "$(id -u)" = 0 ] && tmp=/tmp
	dir=$(mktemp -d "$tmp/mcpgate-pg.XXXXXX")
	echo "$dir" >"$state.dir"
	if [ "$(id -u)" = 0 ]; then
		if ! id postgres >/dev/null 2>&1; then
			echo "pg_cluster.sh: no postgres user to run the server as" >&2
			exit 1
		fi
		chown postgres: "$dir"
	fi
	chmod 0700 "$dir"
	password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	umask 077
	printf '%s\n' "$password" >"$dir/pwfile"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"

	if ! as_pg "$bin/initdb" -D "$dir/data" -U mcpgate --pwfile="$dir/pwfile" \
	    --auth=scram-sha-256 -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		exit 1
	fi
	rm -f "$dir/pwfile"
	# No TCP listener; durability does not matter for a throwaway cluster.
	if ! as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "$WAIT_S" \
	    -o "-c listen_addresses= -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
	    start >/dev/null; then
		cat "$dir/server.log" >&2
		exit 1
	fi
	# mcpgate for the unit tests, mcpgate_it for the integration test.
	for db in mcpgate mcpgate_it; do
		if ! PGPASSWORD=$password timeout "$WAIT_S" "$bin/createdb" -h "$dir" -U mcpgate "$db"; then
			cat "$dir/server.log" >&2
			exit 1
		fi
	done
	# The socket directory, percent-encoded as the URI's host.
	host=$(printf '%s' "$dir" | sed 's|/|%2F|g')
	printf 'postgresql://mcpgate:%s@%s/mcpgate\n' "$password" "$host" >"$state"
	chmod 0600 "$state"
}

case "$cmd" in
start) start ;;
stop) stop ;;
*) usage ;;
esac
