#!/bin/sh
# The exported dynamic symbols of libshmap.so must be exactly the functions
# declared with SHMAP_API in the public headers: nothing missing, nothing
# extra (in particular nothing from the statically linked libatomic_ops),
# and each with its default symbol version (SHMAP_1.x).
# usage: check-symbols.sh LIBSHMAP_SO INCLUDE_DIR [GENERATED_INCLUDE_DIR]
set -eu
so=$1
incdir=$2
gendir=${3:-$2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Declarations: "SHMAP_API <type> [*]name(" possibly with the name on the line.
cat "$incdir"/*.h "$gendir"/*.h | tr '\n' ' ' | sed 's/;/;\n/g' | grep 'SHMAP_API' |
	sed -n 's/.*[ *]\(shmap_[A-Za-z0-9_]*\)[ ]*(.*/\1/p' | sort -u > "$tmp/declared"
nm -D --defined-only "$so" | awk '$2 ~ /^[TWDBR]$/ {print $3}' | sed 's/@.*//' | sort -u > "$tmp/exported"

status=0
if ! [ -s "$tmp/declared" ]; then
	echo "no SHMAP_API declarations found in $incdir" >&2
	exit 1
fi
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$extra" ]; then
	echo "exported but not declared public:" >&2
	echo "$extra" >&2
	status=1
fi
if [ -n "$missing" ]; then
	echo "declared public but not exported:" >&2
	echo "$missing" >&2
	status=1
fi
# Every exported function carries a symbol version: the default (@@) one of
# the node that added it, SHMAP_1.0 for everything 1.0.0 exported. A new
# function without a node, or one put into a node by a wildcard, shows here.
unversioned=$(nm -D --defined-only --with-symbol-versions "$so" |
	awk '$2 ~ /^[TWDBR]$/ && $3 ~ /^shmap_/ && $3 !~ /@@SHMAP_1\.[0-9]+$/ {print $3}')
if [ -n "$unversioned" ]; then
	echo "exported without a default SHMAP_1.x version:" >&2
	echo "$unversioned" >&2
	status=1
fi
nodes=$(nm -D --defined-only --with-symbol-versions "$so" | awk '$3 ~ /^shmap_/ {sub(/.*@@/, "", $3); print $3}' | sort -u | tr '\n' ' ')
echo "$(wc -l < "$tmp/exported") exported symbols, $(wc -l < "$tmp/declared") declared, version nodes: $nodes"
exit $status
