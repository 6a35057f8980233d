#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Turn a `shmap-bench --json` run into a PNG.

    shmap-bench --runs 5 --json > run.json
    python3 bench/plot.py run.json -o bench.png

Left: throughput per workload (median, with the min..max over the runs at
the chosen probe level as an error bar; competitors and baselines in their
own colours). Right: round-trip latency percentiles of spsc-rtt beside
floor-rtt, the hardware floor measured in the same run. The bars of BENCH.md
(ratios) are printed under the title.

When the run holds the message-size workloads (spsc-64 .. spsc-4096, their
zero-copy variants, the packaged rings at those sizes, uds-64 and uds-4096),
a second PNG beside the first (name ending in -sizes.png) draws the
message-size curve: throughput against message size for shmap's copy API,
shmap's zero-copy API, the faster packaged ring at each size and the
Unix-domain socket, in GB/s and in messages/s.

Needs matplotlib (Debian: python3-matplotlib). With --markdown it prints the
run as Markdown tables instead (no matplotlib needed).
"""
import argparse
import json
import os
import re
import sys

THROUGHPUT = ("items_per_s", "ops_per_s")  # gb_per_s goes to the message-size plot
RTT = [("rtt_ns", "median\n(block)"), ("rtt_p50_ns", "p50"), ("rtt_p90_ns", "p90"),
       ("rtt_p99_ns", "p99"), ("rtt_p999_ns", "p99.9")]


def load(stream):
    rows, bars = [], []
    for n, line in enumerate(stream, 1):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            sys.exit(f"plot.py: line {n}: not JSON: {e}")
        if "bar" in obj:
            bars.append(obj)
        elif "metric" in obj:
            rows.append(obj)
    if not rows:
        sys.exit("plot.py: no benchmark rows in the input (run shmap-bench --json)")
    return rows, bars


def label(row):
    p = row.get("params", {})
    name = row["workload"]
    if "policy" in p:
        name += f" ({p['policy']})"
    return name


def colour(name):
    if name.endswith("-ck") or name.endswith("-boost"):
        return "#9a9a9a"
    if name.startswith("table-baseline") or name.startswith("floor"):
        return "#e0a030"
    return "#2f6db5"


def fmt(v):
    if abs(v) >= 1e6:
        return f"{v / 1e6:.3g} M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.3g} k"
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


def verdict(b):
    if b.get("met") is None:
        return "reported"
    return "met" if b["met"] else "NOT MET"


SIZE_KINDS = (("copy", "shmap copy (push/pop)", "#2f6db5"),
              ("zc", "shmap zero-copy (reserve/commit, peek/release)", "#6fa8e8"),
              ("ring", "faster packaged ring (ck_ring, boost spsc_queue)", "#9a9a9a"),
              ("uds", "Unix-domain stream socket", "#e0a030"))


def size_points(rows):
    """{kind: {size: (messages_per_s, gb_per_s, workload)}} from the items_per_s rows."""
    pts = {k: {} for k, _, _ in SIZE_KINDS}
    for r in rows:
        if r["metric"] != "items_per_s":
            continue
        w = r["workload"]
        m = (re.fullmatch(r"spsc-(\d+)", w) or re.fullmatch(r"spsc-(\d+)-(zc|ck|boost)", w)
             or re.fullmatch(r"uds-(\d+)", w))
        if not m:
            continue
        kind = ("uds" if w.startswith("uds-") else "copy" if m.lastindex == 1
                else "zc" if m.group(2) == "zc" else "ring")
        size = int(r.get("params", {}).get("elem_size", m.group(1)))
        v = (r["median"], r["median"] * size * 1e-9, w)
        if kind != "ring" or size not in pts[kind] or v[0] > pts[kind][size][0]:
            pts[kind][size] = v
    if not pts["zc"] and not pts["uds"] and len(pts["copy"]) < 3:
        return None  # no message-size workloads in this run
    return pts


def markdown_sizes(pts):
    sizes = sorted({s for k in pts.values() for s in k})
    print("| message size | " + " | ".join(t for _, t, _ in SIZE_KINDS) + " |")
    print("| ---: |" + " ---: |" * len(SIZE_KINDS))
    for sz in sizes:
        cells = []
        for k, _, _ in SIZE_KINDS:
            v = pts[k].get(sz)
            if not v:
                cells.append("")
                continue
            who = f" ({v[2].rsplit('-', 1)[1]})" if k == "ring" else ""
            cells.append(f"{fmt(v[0])}/s, {v[1]:.3g} GB/s{who}")
        print(f"| {sz} B | " + " | ".join(cells) + " |")


def plot_sizes(pts, output, title):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, idx, ylabel in ((axes[0], 1, "GB/s (1e9 bytes/s)"), (axes[1], 0, "messages/s")):
        for k, text, col in SIZE_KINDS:
            xs = sorted(pts[k])
            if not xs:
                continue
            ys = [pts[k][x][idx] for x in xs]
            ax.plot(xs, ys, marker="o", label=text, color=col)
            for x, y in zip(xs, ys):
                ax.annotate(f"{y:.3g}" if idx else fmt(y), (x, y), textcoords="offset points",
                            xytext=(0, 5), ha="center", fontsize=6)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("message size, bytes")
        ax.set_ylabel(ylabel)
        ax.grid(which="both", alpha=0.3)
    axes[0].set_title("throughput against message size")
    axes[1].set_title("messages per second")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    print(f"plot.py: wrote {output}")


def markdown(rows, bars):
    print("| workload | metric | median | min | max | runs used / total | probe ns (levels) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        levels = " ".join(f"{lv['ns']:.0f}:{lv['runs']}" for lv in r.get("probe_levels", []))
        probe = f"{r['probe_ns']:.0f} ({levels})" if "probe_ns" in r else ""
        print(f"| {label(r)} | {r['metric']} | {fmt(r['median'])} | {fmt(r['min'])} | "
              f"{fmt(r['max'])} | {r.get('runs_used', r['runs'])} / {r['runs']} | {probe} |")
    if bars:
        print()
        print("| bar | ratio | target | met |")
        print("| --- | ---: | ---: | --- |")
        for b in bars:
            cmp_ = "<=" if "<=" in b["bar"] else ">="
            note = f" ({b['note']})" if b.get("note") else ""
            print(f"| {b['bar']}{note} | {b['ratio']:.2f} | {cmp_} {b['target']:.2f} | "
                  f"{verdict(b)} |")
    pts = size_points(rows)
    if pts:
        print()
        markdown_sizes(pts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", nargs="?", help="JSON lines from shmap-bench --json (default: stdin)")
    ap.add_argument("-o", "--output", default="shmap-bench.png", help="PNG to write")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table, no PNG")
    args = ap.parse_args()
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            rows, bars = load(f)
    else:
        rows, bars = load(sys.stdin)
    if args.markdown:
        markdown(rows, bars)
        return

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tput = [r for r in rows if r["metric"] in THROUGHPUT]
    rtt = {r["workload"]: {} for r in rows if r["metric"].startswith("rtt_")}
    for r in rows:
        if r["metric"].startswith("rtt_"):
            rtt[r["workload"]][r["metric"]] = r

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, max(5, 0.38 * len(tput) + 2)),
                                   gridspec_kw={"width_ratios": [3, 2]})

    # throughput
    names = [label(r) for r in tput]
    med = [r["median"] for r in tput]
    lo = [r["median"] - r["min"] for r in tput]
    hi = [r["max"] - r["median"] for r in tput]
    ys = range(len(tput))
    ax1.barh(list(ys), med, xerr=[lo, hi], color=[colour(r["workload"]) for r in tput],
             capsize=3)
    ax1.set_yticks(list(ys))
    ax1.set_yticklabels([f"{n}  [{r['metric'].replace('_per_s', '/s')}]" for n, r in zip(names, tput)],
                        fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xscale("log")
    if tput:
        ax1.set_xlim(right=max(r["max"] for r in tput) * 4)
    ax1.set_xlabel("per second (log scale; bar: median, whisker: min..max)")
    ax1.set_title("throughput")
    for y, r in zip(ys, tput):
        probe = r.get("probe_ns")
        txt = f"{r['median']:.3g}" + (f"  probe {probe:.0f} ns" if probe else "")
        ax1.text(max(r["max"], r["median"]) * 1.03, y, txt, va="center", fontsize=7)
    ax1.grid(axis="x", which="both", alpha=0.3)

    # latency
    series = [w for w in ("floor-rtt", "floor-rtt-2line", "spsc-rtt") if w in rtt]
    colours = {"floor-rtt": "#e0a030", "floor-rtt-2line": "#f2cf8a", "spsc-rtt": "#2f6db5"}
    if series:
        width = 0.8 / len(series)
        for k, w in enumerate(series):
            xs, vals, errs = [], [], [[], []]
            for i, (m, _) in enumerate(RTT):
                if m not in rtt[w]:
                    continue
                r = rtt[w][m]
                xs.append(i + (k - (len(series) - 1) / 2) * width)
                vals.append(r["median"])
                errs[0].append(r["median"] - r["min"])
                errs[1].append(r["max"] - r["median"])
            ax2.bar(xs, vals, width, yerr=errs, capsize=3, label=w, color=colours[w])
            for x, v in zip(xs, vals):
                ax2.text(x, v * 0.97, f"{v:.0f}", ha="center", va="top", fontsize=6)
        ax2.set_xticks(range(len(RTT)))
        ax2.set_xticklabels([t for _, t in RTT], fontsize=8)
        ax2.set_yscale("log")
        ax2.set_ylabel("round trip, ns (log scale)")
        ax2.set_title("round-trip latency: spsc-rtt vs the floors")
        ax2.legend()
        ax2.grid(axis="y", which="both", alpha=0.3)
    else:
        ax2.text(0.5, 0.5, "no spsc-rtt / floor-rtt rows", ha="center", transform=ax2.transAxes)
        ax2.set_axis_off()

    title = "shmap-bench"
    runs = max((r.get("runs", 1) for r in rows), default=1)
    title += f" ({runs} run{'s' if runs != 1 else ''})"
    if bars:
        lines = [f"{b['bar']}: {b['ratio']:.2f}x {verdict(b)}" for b in bars]
        title += "\n" + "\n".join(lines)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()  # leaves room for the suptitle (matplotlib >= 3.3)
    fig.savefig(args.output, dpi=110)
    print(f"plot.py: wrote {args.output}")

    pts = size_points(rows)
    if pts:
        stem, ext = os.path.splitext(args.output)
        plot_sizes(pts, f"{stem}-sizes{ext or '.png'}",
                   f"shmap-bench: message sizes ({runs} run{'s' if runs != 1 else ''}; medians)")


if __name__ == "__main__":
    main()
