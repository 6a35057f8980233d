#!/bin/sh
# Install the Debian packages shmap needs to build, test and benchmark, if
# any is missing. Safe to run any number of times. Uses sudo when not root.
set -eu
pkgs="meson ninja-build pkg-config gcc g++ clang libatomic-ops-dev libcmocka-dev libxxhash-dev
      libclang-rt-14-dev python3 golang-go groff-base"
# Optional extras: the SPSC competitor ring for shmap-bench, ABI tools.
extras="libck-dev libboost-dev abigail-tools"

missing=""
for p in $pkgs $extras; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
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
[ -n "$req" ] && $SUDO apt-get install -y -qq --no-install-recommends $req >/dev/null
for p in $extras; do
	case " $missing " in *" $p "*)
		$SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
			echo "deps: optional package $p not installed" >&2 ;;
	esac
done
exit 0
