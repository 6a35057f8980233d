#!/bin/sh
# Install the build tree into a DESTDIR, then build and run a consumer the
# way a user would: `cc app.c $(pkg-config --cflags --libs shmap)`, both
# against the shared library and with `pkg-config --static` against libshmap.a.
# usage: check-install.sh BUILD_DIR CONSUMER_C
set -eu
build=$1
src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --no-rebuild --destdir "$dest" --quiet >/dev/null
pcfile=$(find "$dest" -name shmap.pc | head -n 1)
[ -n "$pcfile" ] || { echo "shmap.pc not installed" >&2; exit 1; }
export PKG_CONFIG_SYSROOT_DIR="$dest"
# Only the installed shmap.pc is visible: a consumer needs no other -dev
# package (libatomic_ops and xxHash are build-time, header-only), so neither
# may be required by shmap.pc, not even privately for --static.
export PKG_CONFIG_LIBDIR="$(dirname "$pcfile")"
unset PKG_CONFIG_PATH
if grep -q '^Requires' "$pcfile"; then
	echo "shmap.pc requires other packages:" >&2
	grep '^Requires' "$pcfile" >&2
	exit 1
fi
pkg-config --exists --print-errors shmap
pkg-config --static --exists --print-errors shmap
cc=${CC:-cc}

echo "pkg-config --cflags --libs shmap: $(pkg-config --cflags --libs shmap)"
# (with PKG_CONFIG_SYSROOT_DIR set, the variable already carries the DESTDIR)
libdir=$(pkg-config --variable=libdir shmap)
$cc -o "$dest/consumer-shared" "$src" $(pkg-config --cflags --libs shmap)
LD_LIBRARY_PATH="$libdir" "$dest/consumer-shared"
# The program must really resolve libshmap from the installed tree.
LD_LIBRARY_PATH="$libdir" ldd "$dest/consumer-shared" | grep -q "$dest.*libshmap.so.1" || {
	echo "consumer does not load the installed libshmap.so.1" >&2
	exit 1
}

# Static: exactly what pkg-config --static prints, with libshmap.a chosen
# over the .so by -Bstatic for -lshmap only.
$cc -o "$dest/consumer-static" "$src" $(pkg-config --cflags shmap) \
	-Wl,-Bstatic $(pkg-config --static --libs-only-l shmap | sed 's/-pthread//') -Wl,-Bdynamic \
	$(pkg-config --static --libs-only-L shmap) -pthread
if ldd "$dest/consumer-static" | grep -q libshmap; then
	echo "static consumer still links libshmap.so" >&2
	exit 1
fi
"$dest/consumer-static"
echo "install-consume ok"
