#!/bin/sh
# Run one libFuzzer target for a bounded time (the CI-sized run of
# scenarios 23/24), starting from fresh seeds, the committed
# corpus (which holds every regression input) and a dictionary.
#
# usage: run-fuzz.sh FUZZER NAME SECONDS WORKDIR SRC_CORPUS DICT|- MKSEEDS|-
# Findings (crash-*, leak-*, timeout-*) go to WORKDIR/artifacts/; the source
# tree is never written. Exits non-zero on any finding.
set -u
fuzzer=$1 name=$2 secs=$3 work=$4 src=$5 dict=$6 mkseeds=$7

rm -rf "$work/seeds" "$work/artifacts" "$work/stalls"
mkdir -p "$work/corpus" "$work/artifacts" "$work/seeds"
dirs=""
if [ "$mkseeds" != - ]; then
	"$mkseeds" "$work/seeds" >/dev/null || echo "warning: seed generator failed" >&2
	[ -d "$work/seeds/$name" ] && dirs="$work/seeds/$name"
fi
[ -d "$src" ] && dirs="$dirs $src"
dictarg=""
[ "$dict" != - ] && dictarg="-dict=$dict"

# Known regressions first: every committed input must pass on its own.
if [ -d "$src" ] && [ -n "$(ls "$src" 2>/dev/null)" ]; then
	"$fuzzer" -runs=0 -timeout=1 -rss_limit_mb=512 $dictarg "$src" >"$work/regress.log" 2>&1 || {
		cat "$work/regress.log"
		echo "FAIL: a committed corpus input fails"
		exit 1
	}
fi

"$fuzzer" -max_total_time="$secs" -timeout=1 -rss_limit_mb=512 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" $dictarg "$work/corpus" $dirs >"$work/fuzz.log" 2>&1
rc=$?
tail -n 40 "$work/fuzz.log" | grep -E '^(stat::|#[0-9]+ +(DONE|INITED))|ERROR|SUMMARY|==[0-9]+==' || true
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log")
cov=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
ncorp=$(ls "$work/corpus" | wc -l)
echo "fuzz-$name: ${secs}s, execs=${execs:-?}, execs/s=${rate:-?}, edges=${cov:-?}, corpus=$ncorp, exit=$rc"
# A timeout is re-run on its own (three times, same 1 s limit): on an
# overloaded machine a stall of the whole box can exceed the limit once.
# Only a timeout that reproduces is a finding; the others are reported.
for t in "$work"/artifacts/timeout-*; do
	[ -e "$t" ] || continue
	if "$fuzzer" -timeout=1 -runs=3 "$t" >"$work/timeout-rerun.log" 2>&1; then
		echo "note: $(basename "$t") did not reproduce in 3 runs (machine stall); kept in $work/stalls/"
		mkdir -p "$work/stalls" && mv "$t" "$work/stalls/"
		[ "$(ls "$work/artifacts" | wc -l)" -eq 0 ] && grep -q 'ERROR: libFuzzer: timeout' "$work/fuzz.log" && rc=0
	fi
done
found=$(ls "$work/artifacts" | wc -l)
if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
	echo "FAIL: findings in $work/artifacts:"; ls -l "$work/artifacts"
	grep -A30 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error' "$work/fuzz.log" | head -n 60
	exit 1
fi
exit 0
