#!/bin/sh
# Run every libFuzzer driver in BUILD_DIR for SECONDS each, on a scratch copy
# of its corpus (so new inputs do not litter the tree), with its dictionary.
# Fails if any driver finds a crash or an invariant violation.
set -eu
dir=$(cd "${1:-build-fuzz}" && pwd)
secs=${2:-10}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for bin in "$dir"/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	mkdir -p "$work/$name"
	[ -d "$src/tests/fuzz/corpus/$name" ] && cp -r "$src/tests/fuzz/corpus/$name/." "$work/$name/"
	dict=""
	[ -f "$src/tests/fuzz/$name.dict" ] && dict="-dict=$src/tests/fuzz/$name.dict"
	echo "fuzz: $name for ${secs}s"
	# shellcheck disable=SC2086
	(cd "$work" && "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 $dict "$work/$name" \
		>"$work/$name.log" 2>&1) || { tail -40 "$work/$name.log"; echo "fuzz: $name FAILED"; exit 1; }
	grep -E '^Done [0-9]+ runs' "$work/$name.log" || true
done
