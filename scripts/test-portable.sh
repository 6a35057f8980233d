#!/bin/sh
# The portable paths of the platform layer (src/platform-internal.h), proven
# on Linux: builds shmap with every portable fallback forced
# (-Dportable=all: polling waits, no heavy barrier, shm_open anonymous
# segments, reservation by touch, /dev/urandom, plain mappings, polled
# open-and-wait, lock-file liveness, and the object paths of macOS and FreeBSD shm: header read
# through a mapping, objects sized once, identity without S_IFREG / st_nlink
# / st_ino, no /dev/shm listing, 31-byte names), checks that the build
# really selected them, and runs the unit, multiproc, torture and threads
# suites against it, plus the 'shim' suite (each LD_PRELOAD personality of
# tests/shim refuses what its system refuses). Then the same four suites
# again under each personality, macos and freebsd: Linux answering like
# those systems on every shm descriptor the library uses.
# Advisory locks on shm descriptors are refused by both personalities, as
# those systems refuse them: liveness runs on lock files there
# (SHMAP_PLAT_OFD_LOCKS 0). A build that still takes OFD locks on the object
# would need SHMAP_SHIM_ALLOW_SHM_LOCKS=1, which the script then sets and
# says so.
# Each personality run must show the shim active (refusals or rewritten
# fstat answers counted in its log). Ends with one line "N passed, N failed".
# Environment:
#   SHMAP_PORTABLE_EACH=1  also build and run the unit and multiproc suites
#                          once per forced service (wait, barrier, anon,
#                          reserve, random, map, watch, liveness,
#                          object), each alone.
#   SHMAP_PORTABLE_SHIMS=0 skip the personality runs.
#   SHMAP_PORTABLE_SHIM_SUITES="unit multiproc threads"  the suites run under
#                          each personality (default: also torture).
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

# The suites of an existing build again, under personality $2 of tests/shim.
run_shim() { # dir, personality
	dir=$1; p=$2
	lib=$PWD/$dir/tests/shim/libshmap-shim-$p.so
	log=$PWD/$dir/meson-logs/shim-$p-calls.log
	rm -f "$log" "$dir"/meson-logs/shim-$p*.json
	if [ ! -f "$lib" ]; then
		echo "shim-$p: not built: fail" >>"$extra"
		return 1
	fi
	allow=1
	grep -q '^#define SHMAP_PLAT_OFD_LOCKS 0$' "$dir/src/platform-config.h" && allow=0
	if [ $allow = 1 ]; then
		echo "   (liveness locks the shm object itself: the $p personality lets those locks through)"
	fi
	suites=""
	for s in ${SHMAP_PORTABLE_SHIM_SUITES:-unit multiproc torture threads}; do
		suites="$suites --suite $s"
	done
	meson test -C "$dir" --num-processes 2 --print-errorlogs --logbase "shim-$p" $suites \
		--wrapper "env LD_PRELOAD=$lib SHMAP_SHIM_LOG=$log SHMAP_SHIM_ALLOW_SHM_LOCKS=$allow"
	# meson names the log after the logbase and the wrapper: shim-$p-env.json
	results="$results $(ls "$dir"/meson-logs/shim-$p*.json 2>/dev/null || echo "$dir/meson-logs/shim-$p.json")"
	# the library met the personality: its calls were counted
	summary=$(awk '{for (i = 3; i <= NF; i++) {split($i, a, "="); c[a[1]] += a[2]}}
		END {for (k in c) printf "%s=%d ", k, c[k]}' "$log" 2>/dev/null)
	echo "   shim $p, calls met in all processes: ${summary:-none}"
	case "$summary" in
	*fstat=*) echo "shim-$p active during the suites: ok" >>"$extra" ;;
	*) echo "shim-$p active during the suites: fail" >>"$extra" ;;
	esac
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
if run_meson build-portable all -- --suite unit --suite multiproc --suite torture --suite threads --suite shim; then
	check_config build-portable SHMAP_PLAT_FUTEX SHMAP_PLAT_MEMBARRIER SHMAP_PLAT_MEMFD \
		SHMAP_PLAT_FALLOCATE SHMAP_PLAT_GETRANDOM SHMAP_PLAT_ARC4RANDOM SHMAP_PLAT_MAP_FLAGS SHMAP_PLAT_INOTIFY \
		SHMAP_PLAT_OFD_LOCKS \
		SHMAP_PLAT_BSD_MEMBARRIER \
		SHMAP_PLAT_UMTX SHMAP_PLAT_OS_SYNC SHMAP_PLAT_SHM_FILES
	if grep -q '^#define SHMAP_PLAT_SHM_NAME_MAX 30$' build-portable/src/platform-config.h; then
		echo "build-portable SHMAP_PLAT_SHM_NAME_MAX 30: ok" >>"$extra"
	else
		echo "build-portable SHMAP_PLAT_SHM_NAME_MAX 30: fail" >>"$extra"
	fi
	if [ "${SHMAP_PORTABLE_SHIMS:-1}" != 0 ]; then
		for p in macos freebsd; do
			echo "== the same suites under the $p personality (tests/shim)"
			run_shim build-portable $p
		done
	fi
fi

if [ "${SHMAP_PORTABLE_EACH:-0}" = 1 ]; then
	for s in wait barrier anon reserve random map watch liveness object; do
		echo "== only '$s' forced"
		run_meson "build-portable-$s" "$s" -- --suite unit --suite multiproc
	done
fi

# for scripts/test.sh, which counts them with its own results
echo "$results $extra" >build-portable/result-files.txt 2>/dev/null
python3 scripts/count-results.py $results "$extra"
