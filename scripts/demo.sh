#!/bin/sh
# The main job, from a fresh Debian machine: install missing build
# dependencies, build shmap, and run the multi-process demo
# (examples/demo.c: producer -> SPSC ring -> aggregator -> hash table <- reader).
# Safe to run repeatedly.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
if [ -d build ]; then
	meson setup --reconfigure build >/dev/null 2>&1 || meson setup --wipe build >/dev/null
else
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
exec ./build/examples/shmap-demo
