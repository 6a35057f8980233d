#!/bin/sh
# The whole shmap test suite, from a fresh Debian machine:
#   1. installs missing build dependencies (apt-get; root or sudo),
#   2. builds with warnings as errors and runs every meson test suite,
#   3. rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs
#      the unit, multi-process and torture suites again,
#   4. rebuilds with ThreadSanitizer and runs the threaded tests,
#   4b. runs scripts/test-portable.sh: rebuilds with every portable fallback
#      of the platform layer forced (-Dportable=all), runs the unit,
#      multi-process, torture and threads suites against it, then the unit,
#      multi-process and threads suites under the macOS and FreeBSD
#      LD_PRELOAD personalities (tests/shim),
#   5. builds the libFuzzer targets with clang and runs each for a bounded time,
#   6. runs the language binding tests (Python, Rust, Go),
#   7. as root: builds the Debian packages from the committed tree, installs
#      them, builds a consumer against them and purges them again,
# and ends with one line "N passed, N failed". Safe to run repeatedly.
# Environment: SHMAP_TEST_QUICK=1 skips the sanitizer and fuzzer rebuilds.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
sh scripts/deps.sh test || exit 1

results=""
run_meson() { # dir, setup args..., -- test args...
	dir=$1; shift
	setup=""
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup="$setup $1"; shift; done
	[ $# -gt 0 ] && shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" $setup >/dev/null || meson setup --wipe "$dir" $setup
	else
		meson setup "$dir" $setup >/dev/null
	fi || { echo "setup of $dir failed"; results="$results $dir/setup-failed.json"; return; }
	ninja -C "$dir" || { echo "build of $dir failed"; results="$results $dir/build-failed.json"; return; }
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --num-processes 2 --print-errorlogs "$@"
	results="$results $dir/meson-logs/testlog.json"
}

echo "== build and test (warnings are errors)"
run_meson build-test -Dwerror=true -Dtests=enabled --

if [ "${SHMAP_TEST_QUICK:-0}" != 1 ]; then
	echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		run_meson build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dtests=enabled \
		-Dbench=false -Dtools=false -- --suite unit --suite multiproc --suite torture --no-suite abi
	echo "== ThreadSanitizer (threads sharing one mapping)"
	TSAN_OPTIONS=halt_on_error=1 \
		run_meson build-tsan -Db_sanitize=thread -Db_lundef=false -Dtests=enabled \
		-Dbench=false -Dtools=false -- --suite threads
fi

if [ "${SHMAP_TEST_QUICK:-0}" != 1 ]; then
	# scripts/test-portable.sh: the forced build's unit, multiproc, torture
	# and threads suites, then the unit, multiproc and threads suites under
	# each personality (its torture runs under them are left to a full
	# `sh scripts/test-portable.sh`, to keep this run near 20 minutes)
	echo "== portable fallbacks forced (-Dportable=all: polling waits, no membarrier, no memfd, lock files, ...)"
	rm -f build-portable/result-files.txt
	SHMAP_PORTABLE_SHIM_SUITES="unit multiproc threads" sh scripts/test-portable.sh || true
	if [ -f build-portable/result-files.txt ]; then
		results="$results $(cat build-portable/result-files.txt)"
	else
		results="$results build-portable/test-portable-did-not-finish.json"
	fi
fi

if [ "${SHMAP_TEST_QUICK:-0}" != 1 ] && command -v clang >/dev/null 2>&1; then
	echo "== libFuzzer targets (clang, ASan+UBSan, bounded time each)"
	saved_cc=${CC-}
	CC=clang
	export CC
	run_meson build-fuzz -Dfuzz=enabled -Dtests=enabled -Dbench=false -Dtools=false -- --suite fuzz
	if [ -n "$saved_cc" ]; then CC=$saved_cc; else unset CC; fi
fi

if [ -x bindings/test.sh ]; then
	echo "== language bindings"
	bindings/test.sh "$top/build-test" > build-test/bindings-results.txt
	cat build-test/bindings-results.txt
	results="$results build-test/bindings-results.txt"
fi

if [ "${SHMAP_TEST_QUICK:-0}" != 1 ] && [ "$(id -u)" -eq 0 ]; then
	echo "== Debian packages (built from a clean export, installed, used, purged)"
	DEB_BUILD_OPTIONS=nocheck sh scripts/build-deb.sh --check build-deb || true
	results="$results build-deb/results.txt"
fi

python3 scripts/count-results.py $results
