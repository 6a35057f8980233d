/* SPDX-License-Identifier: MIT */
/*
 * bench.c - shmap-bench's main(): the command line, the CPUs to run on,
 * --list, the selection of workloads, the loop over runs and workloads
 * (progress on stderr), and the report. bench-internal.h maps the other
 * files of the program.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-internal.h"

/* The CPUs this process may run on (the children are pinned to them). */
static void find_cpus(struct bench_opts *o)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE && o->ncpu < BENCH_MAX_PROCS; c++)
			if (CPU_ISSET(c, &set))
				o->cpus[o->ncpu++] = c;
	}
	if (o->ncpu < 1) {
		o->ncpu = 1;
		o->cpus[0] = 0;
	}
}

/* --list: one line per workload, its name, then the options it honours. */
static void list_workloads(void)
{
	int n;
	const struct bench_wl *const *all = bench_registry(&n);
	for (int i = 0; i < n; i++) {
		char name[96], ot[128];
		bench_full_name(all[i], name, sizeof name);
		bench_opts_text(all[i]->opts, ot, sizeof ot);
		if (all[i]->unavailable)
			printf("%s  (not available)\n", name);
		else if (ot[0])
			printf("%-20s  %s\n", name, ot);
		else
			printf("%s\n", name);
	}
}

/* The workloads the names select (all without names), in display order,
 * each with room for its runs. NULL after an error (reported); *n: count. */
static struct agg *select_workloads(const struct bench_cli *cli, int *n)
{
	int nall;
	const struct bench_wl *const *all = bench_registry(&nall);
	for (int k = 0; k < cli->nsel; k++) {
		int found = 0;
		for (int i = 0; i < nall && !found; i++)
			found = bench_wl_matches(all[i], cli->sel[k]);
		if (!found) {
			fprintf(stderr, "shmap-bench: unknown workload '%s' (see --list)\n", cli->sel[k]);
			return NULL;
		}
	}
	struct agg *aggs = calloc((size_t)nall + 1, sizeof *aggs);
	if (!aggs) {
		fprintf(stderr, "shmap-bench: out of memory\n");
		exit(1);
	}
	*n = 0;
	for (int i = 0; i < nall; i++) {
		int want = cli->nsel == 0;
		for (int k = 0; k < cli->nsel && !want; k++)
			want = bench_wl_matches(all[i], cli->sel[k]);
		if (!want)
			continue;
		struct agg *a = &aggs[(*n)++];
		a->wl = all[i];
		a->res = calloc((size_t)cli->o.runs, sizeof *a->res);
		a->use = calloc((size_t)cli->o.runs, sizeof *a->use);
		if (!a->res || !a->use) {
			fprintf(stderr, "shmap-bench: out of memory\n");
			exit(1);
		}
	}
	return aggs;
}

/* The runs, outermost: each workload's k-th run sits close in time to its
 * neighbours' k-th run (ours beside the competitor's). The count of
 * workloads that failed. */
static int run_all(struct agg *aggs, int n, const struct bench_opts *o)
{
	int failures = 0;
	uint64_t t_begin = bench_now_ns();
	for (int run = 0; run < o->runs && !bench_interrupted(); run++) {
		for (int i = 0; i < n && !bench_interrupted(); i++) {
			struct agg *a = &aggs[i];
			char name[96];
			bench_full_name(a->wl, name, sizeof name);
			if (a->wl->unavailable) {
				if (run == 0)
					fprintf(stderr, "shmap-bench: %s: %s\n", name, a->wl->unavailable);
				continue;
			}
			if (a->failed)
				continue;
			fprintf(stderr, "[%5.1fs] run %d/%d %-22s ",
				(double)(bench_now_ns() - t_begin) * 1e-9, run + 1, o->runs, name);
			fflush(stderr);
			struct run_result *res = &a->res[a->nres];
			if (bench_run_once(a->wl, o, res) != 0) {
				fprintf(stderr, "shmap-bench: %s: FAILED (run %d)\n", name, run + 1);
				a->failed = 1;
				failures++;
				continue;
			}
			a->nres++;
			char v[32];
			bench_fmt_num(v, sizeof v, res->nm ? res->m[0].value : 0);
			fprintf(stderr, "%s %s", v, res->nm ? res->m[0].name : "");
			if (res->probe > 0)
				fprintf(stderr, "  (probe %.0f ns)", res->probe);
			fputc('\n', stderr);
		}
	}
	return failures;
}

int main(int argc, char **argv)
{
	struct bench_cli cli;
	int ex = bench_parse_args(argc, argv, &cli);
	if (ex >= 0)
		return ex;
	find_cpus(&cli.o);
	if (cli.list) {
		list_workloads();
		return 0;
	}
	int n = 0;
	struct agg *aggs = select_workloads(&cli, &n);
	if (!aggs)
		return 2;

	bench_harness_init(&cli.o);
	int failures = run_all(aggs, n, &cli.o);
	for (int i = 0; i < n; i++)
		bench_choose_level(&aggs[i]);
	bench_report(aggs, n, &cli.o);
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		free(aggs[i].res);
		free(aggs[i].use);
	}
	free(aggs);
	if (bench_interrupted()) {
		fprintf(stderr, "shmap-bench: interrupted\n");
		return 130;
	}
	if (failures) {
		fprintf(stderr, "shmap-bench: %d workload(s) FAILED\n", failures);
		return 1;
	}
	return 0;
}
