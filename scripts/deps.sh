#!/bin/sh
# Install what mcpgate needs on Debian 12, idempotently.
#   deps.sh build   C toolchain and libraries
#   deps.sh test    also the test peers: Node.js packages pinned by
#                   package-lock.json, Node 22 for the conformance suite,
#                   chromium for the browser test
#   deps.sh npm     build, plus Node.js and the npm packages only (the MCP
#                   servers `make run` fronts)
#   deps.sh bench   test, plus nginx (the ceiling of bench/gateway.sh, which
#                   runs its own nginx with bench/nginx.conf on its own port
#                   and never touches the service Debian's package sets up)
set -eu
cd "$(dirname "$0")/.."

BUILD_PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libjansson-dev libcjose-dev libssl-dev libsodium-dev
  libsqlite3-dev libpq-dev libcmocka-dev libcurl4-openssl-dev"
TEST_PKGS="nodejs npm chromium wrk curl sqlite3 postgresql-15"

missing() {
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
	done
}

apt_install() {
	need=$(missing "$@")
	[ -z "$need" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: missing Debian packages (run as root to install): $need" >&2
		exit 1
	fi
	echo "deps.sh: installing $need" >&2
	apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
}

# Node.js may come from elsewhere than Debian (a preinstalled node); only
# install Debian's when there is none.
# shellcheck disable=SC2086
apt_install $BUILD_PKGS
case "${1:-build}" in
test) ;;
bench) TEST_PKGS="$TEST_PKGS nginx" ;;
npm) TEST_PKGS="nodejs npm" ;;
*) exit 0 ;;
esac

if command -v node >/dev/null 2>&1; then
	TEST_PKGS=$(echo "$TEST_PKGS" | sed 's/nodejs npm//')
fi
# shellcheck disable=SC2086
apt_install $TEST_PKGS

# npm packages, exactly as locked.  Skipped when node_modules matches the lock.
stamp=node_modules/.mcpgate-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
	npm ci --no-audit --no-fund --loglevel=error
	cp package-lock.json "$stamp"
fi
