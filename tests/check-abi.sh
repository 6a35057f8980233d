#!/bin/sh
# Compare the built libshmap.so with the ABI recorded in abi/ (abidw format).
# Added functions are fine; a removed symbol or an incompatible change to an
# exported function or type fails: that would need a soname bump (see
# CHANGELOG.md). Skips when abidiff is missing or on another architecture.
# After an intended ABI change: abidw --no-corpus-path --no-comp-dir-path --out-file \
#   abi/libshmap.so.1.abi build/src/libshmap.so.1.*
# usage: check-abi.sh LIBSHMAP_SO ABI_DUMP
set -u
so=$1
dump=$2
if ! command -v abidiff >/dev/null 2>&1; then
	echo "abidiff not installed (Debian: abigail-tools): skipped"
	exit 77
fi
if [ "$(uname -m)" != x86_64 ]; then
	echo "ABI dump recorded on x86_64: skipped on $(uname -m)"
	exit 77
fi
# The opaque handle structs (defined in src/, incomplete in the public
# headers) may change freely: abi/opaque.supp suppresses them.
supp="$(dirname "$dump")/opaque.supp"
abidiff --no-added-syms --suppressions "$supp" "$dump" "$so"
rc=$?
# abidiff status bits: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
# Added symbols are not reported (--no-added-syms), so any change reported is
# a change to something that already existed: fail on it.
if [ "$rc" -ne 0 ]; then
	echo "incompatible ABI change against $dump (abidiff status $rc)" >&2
	exit 1
fi
echo "ABI compatible with $dump"
exit 0
