#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Check the output of `shmap-bench --json` (a test, see bench/meson.build).

    check_json.py SHMAP_BENCH PLOT_PY WORKLOAD...

Runs the workloads twice each in quick mode with --json and checks that
every line on stdout is one JSON object with the keys bench/README.md and
bench/plot.py read: the machine line first, then one line per workload and
metric ("workload", "metric", "median", "min", "max", "runs", the probe
members for cross-process workloads, "params" with each workload's own
members in order), lines for unavailable or failed workloads, and the bars.
Then feeds the output to plot.py --markdown, the consumer in this tree.
"""
import json
import subprocess
import sys

# The params members of the workloads this test may run, in order.
PARAMS = {
    "floor-rtt": ["round_trips", "lines", "timer_ns"],
    "floor-rtt-ring": ["round_trips", "elem_size", "capacity", "impl", "timer_ns"],
    "floor-64": ["elem_size", "capacity", "impl"],
    "table-baseline": ["keys", "capacity", "key_size", "value_size", "lookups", "slots", "hash",
                       "probing"],
    "uds-64": ["elem_size", "transport", "write", "read"],
    "spsc-rtt": ["round_trips", "elem_size", "capacity", "rings", "api", "timer_ns"],
    "spsc-8": ["elem_size", "capacity", "batch", "api"],
    "broadcast-8": ["policy", "elem_size", "capacity", "subscribers", "api"],
    "table-get": ["keys", "capacity", "key_size", "value_size", "procs", "per_proc", "per_proc_is"],
    "spsc-8-ck": ["elem_size", "capacity", "batch", "impl"],
    "spsc-8-boost": ["elem_size", "capacity", "batch", "impl"],
}
PROBE = ["runs_used", "probe_ns", "probe_levels"]  # cross-process workloads only


def params_of(w):
    """The params members of workload w (or of the workload it is a variant of)."""
    best = None
    for k in PARAMS:
        if (w == k or w.startswith(k + "-")) and (best is None or len(k) > len(best)):
            best = k
    return PARAMS.get(best)

failures = 0


def check(cond, what, obj=None):
    global failures
    if not cond:
        failures += 1
        print(f"FAIL: {what}" + (f": {obj}" if obj is not None else ""))


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def main():
    bench, plot, workloads = sys.argv[1], sys.argv[2], sys.argv[3:]
    p = subprocess.run([bench, "--quick", "--json", "--runs", "2"] + workloads,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    check(p.returncode == 0, f"shmap-bench exit status {p.returncode}", p.stderr.decode()[-2000:])
    lines = p.stdout.decode("utf-8").splitlines()
    docs = []
    for n, line in enumerate(lines, 1):
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            check(False, f"line {n} is not JSON ({e})", line)
            continue
        check(isinstance(d, dict), f"line {n} is an object", line)
        docs.append(d)
    check(docs and "machine" in docs[0], "the machine line comes first")
    m = docs[0].get("machine", {}) if docs else {}
    check(list(m) == ["cpus", "cpu_model", "kernel", "quick", "rt"], "machine keys", m)
    check(is_num(m.get("cpus")) and isinstance(m.get("cpu_model"), str) and m.get("quick") is True
          and m.get("rt") is False, "machine values", m)

    seen = set()
    for d in docs[1:]:
        if "bar" in d:
            check(list(d)[:4] == ["bar", "ratio", "target", "met"], "bar keys", d)
            check(is_num(d["ratio"]) and is_num(d["target"]), "bar figures", d)
            check(d["met"] in (True, False) or (d["met"] is None and d.get("applies") is False),
                  "bar verdict", d)
            continue
        w = d.get("workload")
        check(isinstance(w, str), "workload name", d)
        if d.get("available") is False:
            check(list(d) == ["workload", "available", "reason"], "unavailable keys", d)
            seen.add(w)
            continue
        check("failed" not in d, f"{w} did not fail", d)
        keys = ["workload", "metric", "median", "min", "max", "runs"]
        if "probe_ns" in d:
            keys += PROBE
        keys.append("params")
        check(list(d) == keys, f"{w} keys", list(d))
        check(all(is_num(d.get(k)) for k in ("median", "min", "max")), f"{w} figures", d)
        check(d.get("min", 0) <= d.get("median", 0) <= d.get("max", 0), f"{w} min <= median <= max", d)
        check(d.get("runs") == 2, f"{w} ran twice", d)
        for lv in d.get("probe_levels", []):
            check(list(lv) == ["ns", "runs"] and is_num(lv["ns"]), f"{w} probe level", lv)
        want = params_of(w)
        if want is not None:
            check(list(d.get("params", {})) == want, f"{w} params", d.get("params"))
        seen.add(w)
    for w in workloads:
        check(w in seen or any(s.startswith(w + "-") for s in seen), f"{w} reported", sorted(seen))

    # the consumer in this tree reads it
    q = subprocess.run([sys.executable, plot, "--markdown"], input=p.stdout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(q.returncode == 0 and b"|" in q.stdout, "plot.py --markdown reads the output",
          q.stderr.decode()[-2000:])
    print("ok" if failures == 0 else f"{failures} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
