#!/bin/sh
# Build shmap's Debian packages from a clean export of the committed tree,
# run lintian on them and, with --check, install them and use them the way a
# user would.
#
#   sh scripts/build-deb.sh [--check] [OUTDIR]
#
# OUTDIR (default build-deb/) receives the .deb files, lintian.txt and
# results.txt (one line per check, "deb-NAME: ok|fail", for the suite).
# DEB_BUILD_OPTIONS is passed through (nocheck skips the test suite inside
# the package build). --check then, as root: dpkg -i the packages; builds and
# runs a C consumer with nothing but `pkg-config --cflags --libs shmap` (and
# --static); runs shmapctl from PATH; checks every exported symbol is
# versioned; then purges the packages again. Ends with "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
out=$(mkdir -p "${1:-build-deb}" && cd "${1:-build-deb}" && pwd)
sh scripts/deps.sh deb

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
src="$work/shmap-$version"
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git archive --format=tar HEAD | tar -x -C "$src"
else
	echo "build-deb: not a git checkout: exporting the working tree" >&2
	tar --exclude='./build*' --exclude=.git -c . | tar -x -C "$src"
fi
rm -f "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes
results="$out/results.txt"
: >"$results"
log="$out/dpkg-buildpackage.log"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$log" 2>&1; then
	tail -n 60 "$log" >&2
	echo "build-deb: dpkg-buildpackage failed (log: $log)" >&2
	echo "deb-build: fail" >>"$results"
	echo "0 passed, 1 failed"
	exit 1
fi
mv "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
ls "$out"/*.deb

echo "deb-build: ok" >>"$results"
passed=1
failed=0
# ok|ko CHECK-NAME DESCRIPTION
ok() { passed=$((passed + 1)); echo "deb-$1: ok" >>"$results"; echo "build-deb: ok: $2"; }
ko() { failed=$((failed + 1)); echo "deb-$1: fail" >>"$results"; echo "build-deb: FAILED: $2" >&2; }

# lintian: errors fail, warnings are shown.
lintian --tag-display-limit 0 "$out"/*.changes >"$out/lintian.txt" 2>&1 || true
cat "$out/lintian.txt"
if grep -q '^E:' "$out/lintian.txt"; then ko lintian "lintian reports errors"; else ok lintian "lintian: no errors"; fi

if [ "$check" = 1 ]; then
	pkgs=$(for d in "$out"/*.deb; do dpkg-deb -f "$d" Package; done | tr '\n' ' ')
	# shellcheck disable=SC2086
	cleanup() { dpkg -P $pkgs >/dev/null 2>&1 || true; rm -rf "$work"; }
	trap cleanup EXIT
	if dpkg -i "$out"/*.deb >"$out/dpkg-i.log" 2>&1; then ok install "dpkg -i"; else
		cat "$out/dpkg-i.log" >&2; ko install "dpkg -i"; fi
	# Only the system's pkg-config search path: the installed shmap.pc.
	unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR LD_LIBRARY_PATH
	cc=${CC:-cc}
	# shellcheck disable=SC2046
	if $cc -o "$work/consumer" tests/consumer.c $(pkg-config --cflags --libs shmap) &&
		"$work/consumer" && ldd "$work/consumer" | grep -Eq "libshmap.so.[0-9]+ => /(usr/)?lib/"; then
		ok consumer "consumer built with pkg-config --cflags --libs shmap"
	else ko consumer "shared consumer"; fi
	# shellcheck disable=SC2046
	if $cc -static -o "$work/consumer-static" tests/consumer.c \
		$(pkg-config --static --cflags --libs shmap) && "$work/consumer-static"; then
		ok consumer-static "static consumer built with pkg-config --static"
	else ko consumer-static "static consumer"; fi
	# Debian's own python3, from outside the source tree.
	if (cd / && /usr/bin/python3 -c 'import shmap, sys; t = shmap.Table("/deb-check-py", capacity=8, key_max=8, value_max=8); t[b"k"] = b"v"; assert t[b"k"] == b"v"; t.close(); shmap.unlink("/deb-check-py"); print("python3-shmap ok:", shmap.__file__)'); then
		ok python "python3 -c 'import shmap' with python3-shmap"
	else ko python "import shmap"; fi
	if command -v shmapctl >/dev/null && shmapctl --help >/dev/null; then
		ok tools "shmapctl on PATH"
	else ko tools "shmapctl on PATH"; fi
	lib=$(ls /usr/lib/*/libshmap.so.[0-9]* | head -n 1)
	unversioned=$(nm -D --defined-only --with-symbol-versions "$lib" |
		awk '$2 == "T" && $3 !~ /@@SHMAP_1\.[0-9]+$/ { print $3 }')
	if [ -n "$(nm -D --defined-only "$lib" | awk '$2 == "T"')" ] && [ -z "$unversioned" ]; then
		ok versioned "every exported function is @@SHMAP_1.x"
	else
		echo "$unversioned" >&2; ko versioned "exports without a SHMAP_1.x version"; fi
	if man -w shmap_htable_open >/dev/null 2>&1 || [ -e /usr/share/man/man3/shmap_htable_open.3.gz ]; then
		ok man3 "man3 pages installed"
	else ko man3 "man3 pages"; fi
fi
cd "$top"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
