/* SPDX-License-Identifier: MIT */
/*
 * bench-internal.h - the parts of shmap-bench that workloads do not see.
 *
 * Which file holds what:
 *   bench.c     main(): CPUs, selection, the loop over runs and workloads
 *   options.c   the command line (getopt_long), --help, the user's-case options
 *   registry.c  the table of all workloads, their display order and names
 *   harness.c   one run of one workload (fork, pinning, barriers, watchdog,
 *               probes) and the helpers bench.h declares for workloads
 *   report.c    aggregation over --runs (probe levels), the table and the
 *               JSON output (through the shared JSON writer)
 *   bars.c      the bars of BENCH.md, computed from the aggregates
 * Calls go downwards: bench.c calls the others; report.c calls bars.c; the
 * workloads (wl_*.c) call only harness.c, through bench.h.
 */
#ifndef SHMAP_BENCH_INTERNAL_H
#define SHMAP_BENCH_INTERNAL_H

#include <stdio.h>

#include "bench.h"

#define BENCH_MAX_WL 128       /* workloads registered, and named on the command line */
#define BENCH_MAX_RUNS 200     /* --runs at most */
#define BENCH_LEVEL_TOL 1.25   /* runs whose probes are within 25% share a probe level */

/* ---- options.c ------------------------------------------------------- */

struct bench_cli {
	struct bench_opts o;
	int list;                     /* --list */
	const char *sel[BENCH_MAX_WL]; /* workload names given */
	int nsel;
};
/* Parse the command line into `cli` (o.runs defaults to 1). Returns -1 to
 * go on, else the exit status (0 after --help, 2 after an error, which is
 * reported on stderr). */
int bench_parse_args(int argc, char **argv, struct bench_cli *cli);
/* "--elem-size --capacity": the options a workload's BENCH_OPT_* bits name. */
void bench_opts_text(unsigned bits, char *buf, size_t len);

/* ---- registry.c ------------------------------------------------------ */

/* Every workload of this build (unavailable competitors included), in
 * display order; the count in *n. */
const struct bench_wl *const *bench_registry(int *n);
/* "name" or "name-variant". */
void bench_full_name(const struct bench_wl *w, char *buf, size_t len);
/* Whether `arg` (a command-line name) selects w: its name or its full name. */
int bench_wl_matches(const struct bench_wl *w, const char *arg);

/* ---- harness.c ------------------------------------------------------- */

/* The outcome of one run, copied out of the run's context. */
struct run_result {
	int ok;
	double probe; /* floor-rtt probe level of the run in ns; 0: no probe */
	int nm;
	struct bench_metric m[BENCH_MAX_METRICS];
	int nparams;
	struct bench_param params[BENCH_MAX_PARAMS];
};
/* Once before the first run: single-CPU spinning, the timer calibration,
 * and SIGINT/SIGTERM handlers that stop the runs (bench_interrupted()). */
void bench_harness_init(const struct bench_opts *o);
/* One run of wl: 0 and *out filled, or -1 (reported on stderr). */
int bench_run_once(const struct bench_wl *wl, const struct bench_opts *o, struct run_result *out);
/* 1 once SIGINT or SIGTERM arrived. */
int bench_interrupted(void);
/* CLOCK_MONOTONIC in ns. */
uint64_t bench_now_ns(void);

/* ---- report.c -------------------------------------------------------- */

/* All runs of one workload and the probe level chosen among them. */
struct agg {
	const struct bench_wl *wl;
	struct run_result *res; /* [runs] */
	int nres;
	int failed;
	/* the chosen level */
	int *use;               /* [runs] 1: run is at the chosen level */
	int nuse;
	double probe;           /* median probe of the chosen level */
	int nlevels;
	double level_ns[64];
	int level_runs[64];
};
/* Group a's runs into probe levels and choose the most populated one. */
void bench_choose_level(struct agg *a);
/* Median, min and max of metric `name` over the chosen runs; 0 if absent. */
int bench_agg_metric(const struct agg *a, const char *name, double *med, double *mn, double *mx);
/* The aggregate of workload name (and variant, NULL for none), or NULL. */
struct agg *bench_find_agg(struct agg *aggs, int n, const char *name, const char *variant);
/* Sort v[0..n) and return its median, with its min and max when asked. */
double bench_median_of(double *v, int n, double *mn, double *mx);
/* "4.1M", "63.2": a figure for the table and the progress lines. */
void bench_fmt_num(char *buf, size_t len, double v);
/* Everything on stdout: one aligned table, or one JSON object per line. */
void bench_report(struct agg *aggs, int n, const struct bench_opts *o);

/* ---- bars.c ---------------------------------------------------------- */

struct bar {
	const char *text;
	double ratio;
	double target;
	int le;            /* 1: ratio must be <= target */
	int info;          /* 1: reported only (the bar's condition does not hold in this run) */
	int have;
	char note[320];
};
#define BENCH_MAX_BARS 32
/* Fill bars[] (at most BENCH_MAX_BARS) from the aggregates; the count. */
int bench_compute_bars(struct agg *aggs, int n, const struct bench_opts *o, struct bar *bars);
/* "met", "NOT MET" or "reported" (info bars). */
const char *bench_bar_verdict(const struct bar *b);

#endif /* SHMAP_BENCH_INTERNAL_H */
