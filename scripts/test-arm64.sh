#!/bin/sh
# Cross-build shmap for arm64 (aarch64) and run the unit and multiproc test
# suites under qemu-user, ending with one line "N passed, N failed".
#
#   1. installs the host's cross tools if missing (apt-get; root or sudo):
#      gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static;
#   2. assembles an arm64 sysroot under the build directory from the arm64
#      -dev packages (apt-get download + dpkg -x with an apt state private to
#      the build directory: no arm64 package is ever installed, the host's
#      dpkg database and apt sources are not touched);
#   3. builds a static libcmocka from Debian's cmocka source (the arm64
#      package ships only the shared library);
#   4. configures with scripts/cross-aarch64.ini and -Dstatic_tests=true:
#      qemu-user hangs fork() children of dynamically linked programs, so the
#      test programs are linked statically;
#   5. runs the unit and multiproc suites through qemu-aarch64-static.
# Environment: SHMAP_ARM64_BUILD (build directory, default build-arm64),
# SHMAP_ARM64_SUITE_TIMEOUT (meson --timeout-multiplier, default 3).
# Not part of scripts/test.sh: emulation is slow and needs network access
# for the arm64 packages the first time.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
out=${SHMAP_ARM64_BUILD:-build-arm64}
case $out in /*) ;; *) out=$top/$out ;; esac
T=aarch64-linux-gnu
mkdir -p "$out"

fail() {
	echo "test-arm64: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# ---- 1. host tools ----------------------------------------------------
missing=""
command -v $T-gcc >/dev/null 2>&1 || missing="$missing gcc-aarch64-linux-gnu"
[ -f /usr/$T/lib/libc.a ] || missing="$missing libc6-dev-arm64-cross"
command -v qemu-aarch64-static >/dev/null 2>&1 || missing="$missing qemu-user-static"
for t in meson ninja pkg-config xz; do
	command -v $t >/dev/null 2>&1 || missing="$missing $t"
done
missing=$(echo "$missing" | sed 's/ ninja/ ninja-build/; s/ xz/ xz-utils/')
if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		fail "missing host packages:$missing (run as root or install sudo)"
	fi
	echo "test-arm64: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null || fail "apt-get install$missing failed"
fi

# ---- 2. arm64 sysroot (downloaded, never installed) --------------------
sys=$out/sysroot
A=$out/apt
pkgs="libatomic-ops-dev libcmocka-dev libcmocka0 libxxhash-dev"
if [ ! -f "$sys/.complete" ]; then
	rm -rf "$sys" "$A"
	mkdir -p "$A/state/lists/partial" "$A/cache/archives/partial" "$A/debs" "$A/src" "$sys"
	# The Debian release of the host, so the headers match its compilers.
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
	mirror=${SHMAP_ARM64_MIRROR:-http://deb.debian.org/debian}
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	{
		echo "deb [arch=arm64 signed-by=$keyring] $mirror $codename main"
		echo "deb-src [signed-by=$keyring] $mirror $codename main"
	} > "$A/sources.list"
	# A private apt state: these options make apt read and write only
	# below $A, with arm64 as its only architecture.
	set -- -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
		-o Dir::Etc::SourceList="$A/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
		-o Dir::State="$A/state" -o Dir::Cache="$A/cache" -o Dir::State::status=/dev/null \
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root -q
	apt-get "$@" update >/dev/null || fail "apt-get update (arm64 lists) failed"
	(cd "$A/debs" && apt-get "$@" download $pkgs >/dev/null) || fail "apt-get download $pkgs failed"
	for d in "$A"/debs/*.deb; do
		dpkg -x "$d" "$sys" || fail "dpkg -x $d failed"
	done
	# ---- 3. static libcmocka ----
	(cd "$A/src" && apt-get "$@" source --download-only cmocka >/dev/null) || fail "cmocka source download failed"
	tar -C "$A/src" -xf "$(ls "$A"/src/cmocka_*.orig.tar.* | grep -v "\.asc$" | head -n 1)" || fail "cmocka source unpack failed"
	cm=$(ls -d "$A"/src/cmocka-*/ | head -n 1)
	{
		grep '#cmakedefine HAVE_' "$cm/config.h.cmake" |
			grep -v -E 'HAVE_IO_H|HAVE__|MSVC' | sed 's/#cmakedefine/#define/'
		echo '#define WORDS_SIZEOF_VOID_P 8'
	} > "$A/src/config.h"
	$T-gcc -O2 -std=gnu99 -DHAVE_CONFIG_H -I"$A/src" -I"$cm/include" -c "$cm/src/cmocka.c" \
		-o "$A/src/cmocka.o" || fail "cmocka build failed"
	$T-ar rcs "$sys/usr/lib/$T/libcmocka.a" "$A/src/cmocka.o" || fail "cmocka archive failed"
	touch "$sys/.complete"
fi

# ---- 4. configure and build --------------------------------------------
cat > "$out/sysroot.ini" <<EOT
[properties]
pkg_config_libdir = ['$sys/usr/lib/$T/pkgconfig', '$sys/usr/share/pkgconfig']
sys_root = '$sys'
EOT
bdir=$out/build
setup="-Dtests=enabled -Dwerror=true -Dstatic_tests=true -Dbench=false -Dtools=false"
if [ -d "$bdir" ]; then
	meson setup --reconfigure "$bdir" $setup >/dev/null || meson setup --wipe "$bdir" $setup >/dev/null
else
	meson setup "$bdir" --cross-file "$top/scripts/cross-aarch64.ini" --cross-file "$out/sysroot.ini" \
		$setup >/dev/null
fi || fail "meson setup failed (see $bdir/meson-logs/meson-log.txt)"
ninja -C "$bdir" >"$out/ninja.log" 2>&1 || { tail -n 40 "$out/ninja.log"; fail "build failed"; }

# ---- 5. run ------------------------------------------------------------
# Nothing is skipped: every hang seen under qemu-user came from dynamically
# linked fork() children (the static link above removes them); the
# failures left were the code's and are fixed.
rm -f "$bdir/meson-logs/testlog.json"
QEMU_LD_PREFIX=/usr/$T meson test -C "$bdir" --num-processes 2 --print-errorlogs \
	--timeout-multiplier "${SHMAP_ARM64_SUITE_TIMEOUT:-3}" --suite unit --suite multiproc
python3 scripts/count-results.py "$bdir/meson-logs/testlog.json"
