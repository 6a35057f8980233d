#!/bin/sh
# Install the Debian packages one shmap command needs, if any is missing.
#
#   sh scripts/deps.sh build   # build the library, shmapctl and the demo
#   sh scripts/deps.sh test    # build + the whole test suite (sanitizers,
#                              # fuzzers, Python/Rust/Go bindings)
#   sh scripts/deps.sh bench   # build + the packaged rings shmap-bench
#                              # compares against
#   sh scripts/deps.sh deb     # build + the Debian packaging tools
#
# A package counts as installed only for this machine's own architecture (or
# "all"): libatomic-ops-dev:arm64 in a cross setup does not make the native
# build work. Safe to run any number of times; uses sudo when not root.
set -eu
what=${1:-test}

build="meson ninja-build pkg-config gcc libatomic-ops-dev libxxhash-dev"
case $what in
build) pkgs="$build"; extras="" ;;
test)
	pkgs="$build g++ libcmocka-dev clang libclang-rt-14-dev python3 python3-dev
	      python3-setuptools python3-venv golang-go groff-base"
	# Best effort: the ABI check and the shmap-bench smoke test use them
	# when present and say so when not.
	extras="abigail-tools libck-dev libboost-dev" ;;
bench) pkgs="$build g++"; extras="libck-dev libboost-dev python3-lmdb" ;;
deb)
	pkgs="$build g++ libcmocka-dev groff-base python3 python3-dev python3-setuptools
	      debhelper dh-python dpkg-dev fakeroot lintian"
	extras="" ;;
*) echo "usage: $0 build|test|bench|deb" >&2; exit 2 ;;
esac

arch=$(dpkg --print-architecture)
installed() {
	dpkg-query -W -f='${Status} ${Architecture}\n' "$1" 2>/dev/null |
		grep -Eq "^install ok installed ($arch|all)\$"
}

missing=""
for p in $pkgs $extras; do
	installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps: missing packages:$missing (run as root or install sudo)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# Required packages must install; extras are best effort.
req=""
for p in $missing; do
	case " $extras " in *" $p "*) ;; *) req="$req $p" ;; esac
done
if [ -n "$req" ]; then
	$SUDO apt-get install -y -qq --no-install-recommends $req >/dev/null || {
		echo "deps: apt-get install of$req failed" >&2
		exit 1
	}
fi
for p in $extras; do
	case " $missing " in *" $p "*)
		$SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
			echo "deps: optional package $p not installed" >&2 ;;
	esac
done
exit 0
