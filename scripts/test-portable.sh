#!/bin/sh
# The portable paths of the platform layer (src/platform-internal.h), proven
# on Linux: builds shmap with every portable fallback forced
# (-Dportable=all: polling waits, no heavy barrier, shm_open anonymous
# segments, reservation by touch, /dev/urandom, plain mappings, polled
# open-and-wait, lock-file liveness), checks
# that the build really selected them, and runs the unit, multiproc, torture
# and threads suites against it. Ends with one line "N passed, N failed".
# Environment:
#   SHMAP_PORTABLE_EACH=1  also build and run the unit and multiproc suites
#                          once per forced service (wait, barrier, anon,
#                          reserve, random, map, watch, liveness), each alone.
# Not yet here: the LD_PRELOAD personalities (macos, freebsd) of
# docs/ARCHITECTURE.md ("Portability").
set -u
cd "$(dirname "$0")/.."
if ! command -v meson >/dev/null 2>&1; then
	sh scripts/deps.sh test || exit 1
fi

results=""
extra=build-portable/platform-checks.txt # written once that build exists

run_meson() { # dir, portable value, -- test args...
	dir=$1; forced=$2; shift 2
	[ $# -gt 0 ] && [ "$1" = "--" ] && shift
	setup="-Dportable=$forced -Dwerror=true -Dtests=enabled -Dbench=false -Dtools=false"
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" $setup >/dev/null || meson setup --wipe "$dir" $setup
	else
		meson setup "$dir" $setup >/dev/null
	fi || { echo "setup of $dir failed"; results="$results $dir/setup-failed.json"; return 1; }
	ninja -C "$dir" -j2 || { echo "build of $dir failed"; results="$results $dir/build-failed.json"; return 1; }
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --num-processes 2 --print-errorlogs "$@"
	results="$results $dir/meson-logs/testlog.json"
}

# Every service that has a Linux facility must say 0 in the forced build.
check_config() { # dir, macros...
	dir=$1; shift
	: >"$extra"
	for m in "$@"; do
		if grep -q "^#define $m 0\$" "$dir/src/platform-config.h" 2>/dev/null; then
			echo "$dir $m forced: ok" >>"$extra"
		else
			echo "$dir $m forced: fail" >>"$extra"
			echo "$dir: $m is not forced to the fallback"
		fi
	done
}

echo "== every portable fallback forced (-Dportable=all)"
if run_meson build-portable all -- --suite unit --suite multiproc --suite torture --suite threads; then
	check_config build-portable SHMAP_PLAT_FUTEX SHMAP_PLAT_MEMBARRIER SHMAP_PLAT_MEMFD \
		SHMAP_PLAT_FALLOCATE SHMAP_PLAT_GETRANDOM SHMAP_PLAT_ARC4RANDOM SHMAP_PLAT_MAP_FLAGS SHMAP_PLAT_INOTIFY \
		SHMAP_PLAT_OFD_LOCKS \
		SHMAP_PLAT_BSD_MEMBARRIER \
		SHMAP_PLAT_UMTX SHMAP_PLAT_OS_SYNC
fi

if [ "${SHMAP_PORTABLE_EACH:-0}" = 1 ]; then
	for s in wait barrier anon reserve random map watch liveness; do
		echo "== only '$s' forced"
		run_meson "build-portable-$s" "$s" -- --suite unit --suite multiproc
	done
fi

python3 scripts/count-results.py $results "$extra"
