#!/bin/sh
# The main job, from a fresh Debian machine: install missing build
# dependencies, build shmap, and run the multi-process demo
# (examples/demo.c: producer -> SPSC ring -> aggregator -> hash table <- reader).
# Safe to run repeatedly. Meson's and ninja's output is kept in build/demo.log
# and printed when a step fails.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh build
log=$(mktemp)
trap 'rm -f "$log"' EXIT
step() { # what, command...
	what=$1; shift
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		echo "demo: $what failed (output above)" >&2
		exit 1
	fi
}
if [ -d build ]; then
	meson setup --reconfigure build >"$log" 2>&1 ||
		step "meson setup" meson setup --wipe build
else
	step "meson setup" meson setup build
fi
step "build" ninja -C build
exec ./build/examples/shmap-demo
