#!/bin/sh
# Language binding tests against a freshly built (not installed) libshmap.
#
#   bindings/test.sh BUILD_DIR
#
# Makes BUILD_DIR's library visible to Python (SHMAP_LIBRARY), Rust and Go
# (pkg-config via BUILD_DIR/meson-uninstalled, LD_LIBRARY_PATH), builds the C
# peer program, then runs: the Python unittest suite (against the C extension
# built in place), an offline pip install of the Python package into a venv,
# `cargo test --offline` (shmap-sys and shmap),
# `go test ./...`, and the cross-language rotation (each language writes one
# table and one reliable broadcast ring while the other two read them).
#
# stdout carries exactly one line per test group, "name: ok|fail|skip";
# everything else goes to stderr. "skip" only means a toolchain is missing
# (the reason is on stderr). Always exits 0: the caller counts the lines.
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" 2>/dev/null && pwd) || { echo "bindings: no build dir $1" >&2; exit 2; }
work="$build/bindings"
mkdir -p "$work"
exec 3>&1 1>&2 # fd 3: the result lines; stdout now goes to stderr

result() { echo "$1: $2" >&3; echo "== bindings: $1: $2" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
# run_to SECONDS CMD...: a bounded run (timeout(1) when available).
run_to() {
	_secs=$1; shift
	if have timeout; then timeout -k 10 "$_secs" "$@"; else "$@"; fi
}

# --- make the build tree's library visible --------------------------------
lib="$build/src/libshmap.so.1"
if [ -f "$build/meson-uninstalled/shmap-uninstalled.pc" ]; then
	PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
	LD_LIBRARY_PATH="$build/src${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
	# Older meson: stage an install under a temporary root instead.
	stage="$work/stage"
	rm -rf "$stage"
	meson install -C "$build" --destdir "$stage" --no-rebuild >&2 || true
	pc=$(find "$stage" -name shmap.pc | head -n 1)
	PKG_CONFIG_PATH="$(dirname "$pc")"
	PKG_CONFIG_SYSROOT_DIR="$stage"
	export PKG_CONFIG_SYSROOT_DIR
	libdir=$(dirname "$(find "$stage" -name 'libshmap.so.1' | head -n 1)")
	LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	lib="$libdir/libshmap.so.1"
fi
export PKG_CONFIG_PATH LD_LIBRARY_PATH
SHMAP_LIBRARY="$lib"
export SHMAP_LIBRARY
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
echo "bindings: library $SHMAP_LIBRARY; pkg-config: $(pkg-config --cflags --libs shmap 2>&1)"

# --- the C peer program used by every cross-process test -------------------
SHMAP_PEER="$work/shmap_peer"
export SHMAP_PEER
rm -f "$SHMAP_PEER"
# shellcheck disable=SC2046
cc -std=gnu11 -O1 -Wall -Wextra -Werror -o "$SHMAP_PEER" "$here/c/shmap_peer.c" \
	$(pkg-config --cflags --libs shmap) \
	$(pkg-config --libs-only-L shmap | sed 's/-L\([^ ]*\)/-Wl,-rpath,\1/g') ||
	echo "bindings: building the C peer failed; cross-process tests will fail"

# --- Python -----------------------------------------------------------------
# The package is a C extension (shmap._shmap) built with setuptools against
# the build tree's libshmap (pkg-config above). The unit tests run against
# an in-place build; the install check builds it again through pip, offline,
# into a venv that sees the system's setuptools.
if have python3; then
	rm -f "$here"/python/shmap/_shmap*.so
	if ! python3 -c 'import setuptools' 2>/dev/null; then
		echo "bindings: python3 has no setuptools (Debian: python3-setuptools); Python tests NOT run"
		result python-unit skip
		result python-install skip
	else
		if (cd "$here/python" && run_to 120 python3 setup.py -q build_ext --inplace \
			--build-temp "$work/py-build") &&
			(cd "$here/python" && run_to 150 python3 -m unittest discover -v -s tests -t .); then
			result python-unit ok
		else
			result python-unit fail
		fi
		venv="$work/py-venv"
		rm -rf "$venv"
		if run_to 60 python3 -m venv --system-site-packages "$venv" &&
			"$venv/bin/python" -m pip --version >/dev/null 2>&1; then
			if run_to 120 "$venv/bin/python" -m pip install --no-index --no-deps \
				--no-build-isolation --disable-pip-version-check "$here/python" &&
				(cd / && "$venv/bin/python" -c 'import shmap, sys
from shmap import _shmap
print("installed shmap", shmap.version(), _shmap.__file__, "libshmap", shmap.lib_path)
n = "/shmap-py-install-check"
with shmap.Table(n, 16, 8, 8, flags="create") as t:
    t[b"k"] = bytearray(b"v")
    ok = t[b"k"] == b"v"
shmap.unlink(n)
sys.exit(0 if ok and _shmap.__file__.startswith(sys.prefix) else 1)'); then
				result python-install ok
			else
				result python-install fail
			fi
		else
			echo "bindings: python3 cannot make a venv with pip (Debian: python3-venv); skipping the install check"
			result python-install skip
		fi
	fi
else
	echo "bindings: python3 not found; Python binding tests NOT run"
	result python-unit skip
fi

# --- Rust -------------------------------------------------------------------
CARGO_TARGET_DIR="$work/rust-target"
export CARGO_TARGET_DIR
if have cargo; then
	# One workspace: shmap-sys and shmap are built and tested together.
	if (cd "$here/rust" && run_to 200 cargo test --offline --workspace --jobs 2); then
		result rust ok
	else
		result rust fail
	fi
else
	echo "bindings: *** cargo not found: the Rust binding tests were NOT run ***"
	echo "bindings: install a Rust toolchain (cargo) to run them"
	result rust skip
fi

# --- Go ---------------------------------------------------------------------
if have go; then
	GOPATH="$work/gopath" GOCACHE="$work/gocache" GOFLAGS=-mod=mod GOPROXY=off \
		GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1 GOTELEMETRY=off
	export GOPATH GOCACHE GOFLAGS GOPROXY GOTOOLCHAIN GO111MODULE CGO_ENABLED GOTELEMETRY
	# vet type-checks every package, including the example and xlang commands.
	if (cd "$here/go" && run_to 60 go vet ./... && run_to 150 go test -count=1 -timeout 120s ./...); then
		result go ok
	else
		result go fail
	fi
else
	echo "bindings: go not found (Debian: apt-get install golang-go); Go binding tests NOT run"
	result go skip
fi

# --- cross-language rotation ------------------------------------------------
if ! have python3 || ! have cargo || ! have go; then
	echo "bindings: cross-language test needs python3, cargo and go"
	result cross-language skip
else
	ok=1
	py="python3 $here/python/tests/xlang.py"
	rs="$CARGO_TARGET_DIR/debug/examples/xlang"
	gobin="$work/xlang-go"
	(cd "$here/rust" && run_to 120 cargo build --offline --example xlang --jobs 2) || ok=0
	(cd "$here/go" && run_to 60 go build -o "$gobin" ./cmd/xlang) || ok=0
	n=3000
	if [ $ok = 1 ]; then
		for writer in python rust go; do
			case $writer in
			python) w="$py"; r1="$rs"; r2="$gobin" ;;
			rust) w="$rs"; r1="$py"; r2="$gobin" ;;
			go) w="$gobin"; r1="$py"; r2="$rs" ;;
			esac
			t="/shmap-xl-$$-$writer-t"; r="/shmap-xl-$$-$writer-r"
			run_to 90 $r1 read "$t" "$r" $n & p1=$!
			run_to 90 $r2 read "$t" "$r" $n & p2=$!
			run_to 90 $w write "$t" "$r" $n 2; rw=$?
			wait $p1; r1c=$?
			wait $p2; r2c=$?
			echo "bindings: cross-language, $writer writes: writer $rw, readers $r1c $r2c"
			[ $rw = 0 ] && [ $r1c = 0 ] && [ $r2c = 0 ] || ok=0
			PYTHONPATH="$here/python" python3 -c "import sys, shmap
for n in sys.argv[1:]:
    try: shmap.unlink(n)
    except shmap.NoSegmentError: pass" "$t" "$r" ||
				true
		done
	fi
	if [ $ok = 1 ]; then result cross-language ok; else result cross-language fail; fi
fi
exit 0
