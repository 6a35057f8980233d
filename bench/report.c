/* SPDX-License-Identifier: MIT */
/*
 * report.c - what shmap-bench prints on stdout: the runs of each workload
 * aggregated over --runs, then one aligned table, or one JSON object per
 * line written with the JSON writer shared with shmapctl (strings escaped,
 * so a CPU model or a note holding quotes stays valid JSON).
 *
 * Probe levels: with --runs, a workload's runs are grouped by their
 * floor-rtt probe (sorted; a new level starts where a value exceeds the
 * level's lowest by more than 25%) and the figures are the median, min and
 * max over the most populated level (ties: the lowest); all levels are
 * reported with their run counts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-internal.h"
#include "json.h"

double bench_median_of(double *v, int n, double *mn, double *mx)
{
	bench_sort(v, (size_t)n);
	if (mn)
		*mn = v[0];
	if (mx)
		*mx = v[n - 1];
	return bench_pct(v, (size_t)n, 0.5);
}

void bench_choose_level(struct agg *a)
{
	int n = a->nres;
	a->nuse = 0;
	a->nlevels = 0;
	if (n == 0)
		return;
	if (a->res[0].probe <= 0) {
		for (int i = 0; i < n; i++)
			a->use[i] = 1;
		a->nuse = n;
		return;
	}
	/* sort run indices by probe */
	int idx[256];
	for (int i = 0; i < n; i++)
		idx[i] = i;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && a->res[idx[j - 1]].probe > a->res[idx[j]].probe; j--) {
			int t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	int start[64], len[64], nl = 0;
	for (int i = 0; i < n; i++) {
		if (nl == 0 || a->res[idx[i]].probe > a->res[idx[start[nl - 1]]].probe * BENCH_LEVEL_TOL) {
			if (nl == 64)
				break;
			start[nl] = i;
			len[nl] = 0;
			nl++;
		}
		len[nl - 1]++;
	}
	int best = 0;
	for (int l = 1; l < nl; l++)
		if (len[l] > len[best])
			best = l;
	for (int l = 0; l < nl; l++) {
		double v[256];
		for (int k = 0; k < len[l]; k++)
			v[k] = a->res[idx[start[l] + k]].probe;
		a->level_ns[l] = bench_median_of(v, len[l], NULL, NULL);
		a->level_runs[l] = len[l];
	}
	a->nlevels = nl;
	for (int i = 0; i < n; i++)
		a->use[i] = 0;
	for (int k = 0; k < len[best]; k++)
		a->use[idx[start[best] + k]] = 1;
	a->nuse = len[best];
	a->probe = a->level_ns[best];
}

/* median/min/max of metric `name` over the chosen runs; 0 if absent */
int bench_agg_metric(const struct agg *a, const char *name, double *med, double *mn, double *mx)
{
	double v[256];
	int k = 0;
	for (int i = 0; i < a->nres; i++) {
		if (!a->use[i])
			continue;
		for (int j = 0; j < a->res[i].nm; j++)
			if (strcmp(a->res[i].m[j].name, name) == 0)
				v[k++] = a->res[i].m[j].value;
	}
	if (k == 0)
		return 0;
	*med = bench_median_of(v, k, mn, mx);
	return 1;
}

struct agg *bench_find_agg(struct agg *aggs, int n, const char *name, const char *variant)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(aggs[i].wl->name, name) != 0)
			continue;
		if ((variant == NULL) != (aggs[i].wl->variant == NULL))
			continue;
		if (variant && strcmp(variant, aggs[i].wl->variant) != 0)
			continue;
		return &aggs[i];
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* output */

void bench_fmt_num(char *buf, size_t len, double v)
{
	double a = fabs(v);
	if (a >= 1e9)
		snprintf(buf, len, "%.3gG", v / 1e9);
	else if (a >= 1e6)
		snprintf(buf, len, "%.3gM", v / 1e6);
	else if (a >= 1e4)
		snprintf(buf, len, "%.3gk", v / 1e3);
	else if (a >= 100 || v == floor(v))
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

/* The CPU model and the kernel release, as the system states them (the
 * JSON writer escapes whatever bytes they hold). */
static void machine(char *model, size_t mlen, char *kernel, size_t klen)
{
	snprintf(model, mlen, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	if (f) {
		while (fgets(line, sizeof line, f)) {
			char *c = strchr(line, ':');
			if (strncmp(line, "model name", 10) == 0 && c) {
				c++;
				while (*c == ' ' || *c == '\t')
					c++;
				c[strcspn(c, "\n")] = 0;
				snprintf(model, mlen, "%.100s", c);
				break;
			}
		}
		fclose(f);
	}
	snprintf(kernel, klen, "unknown");
	f = fopen("/proc/sys/kernel/osrelease", "r");
	if (f) {
		if (fgets(line, sizeof line, f)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(kernel, klen, "%.100s", line);
		}
		fclose(f);
	}
}

/* The first run at the chosen level (its metrics and params stand for all). */
static const struct run_result *first_used(const struct agg *a)
{
	for (int k = 0; k < a->nres; k++)
		if (a->use[k])
			return &a->res[k];
	return NULL;
}

static void json_machine(const struct bench_opts *o)
{
	char model[128], kernel[128];
	machine(model, sizeof model, kernel, sizeof kernel);
	j_open('{');
	j_key("machine");
	j_open('{');
	j_key("cpus");
	j_i64(o->ncpu);
	jk_str("cpu_model", model);
	jk_str("kernel", kernel);
	jk_bool("quick", o->quick);
	jk_bool("rt", o->rt);
	j_close('}');
	j_close('}');
	j_end_doc();
}

static void json_params(const struct run_result *r)
{
	j_key("params");
	j_open('{');
	for (int i = 0; i < r->nparams; i++) {
		const struct bench_param *p = &r->params[i];
		j_key(p->key);
		if (p->kind == BENCH_PARAM_U64)
			j_u64(p->u);
		else if (p->kind == BENCH_PARAM_REAL)
			j_real(p->d, 6);
		else
			j_str(p->s);
	}
	j_close('}');
}

/* One line per metric: {"workload", "metric", "median", "min", "max",
 * "runs", ["runs_used", "probe_ns", "probe_levels"], "params"}. */
static void json_metric(const struct agg *a, const struct run_result *r0, const char *metric)
{
	double med, mn, mx;
	if (!bench_agg_metric(a, metric, &med, &mn, &mx))
		return;
	char name[96];
	if (a->wl->variant_is_param)
		snprintf(name, sizeof name, "%s", a->wl->name);
	else
		bench_full_name(a->wl, name, sizeof name);
	j_open('{');
	jk_str("workload", name);
	jk_str("metric", metric);
	j_key("median");
	j_real(med, 6);
	j_key("min");
	j_real(mn, 6);
	j_key("max");
	j_real(mx, 6);
	j_key("runs");
	j_i64(a->nres);
	if (a->nlevels > 0) {
		j_key("runs_used");
		j_i64(a->nuse);
		j_key("probe_ns");
		j_real(a->probe, 4);
		j_key("probe_levels");
		j_open('[');
		for (int l = 0; l < a->nlevels; l++) {
			j_open('{');
			j_key("ns");
			j_real(a->level_ns[l], 4);
			j_key("runs");
			j_i64(a->level_runs[l]);
			j_close('}');
		}
		j_close(']');
	}
	json_params(r0);
	j_close('}');
	j_end_doc();
}

static void print_json(struct agg *aggs, int n, const struct bench_opts *o)
{
	json_machine(o);
	for (int i = 0; i < n; i++) {
		struct agg *a = &aggs[i];
		const struct bench_wl *w = a->wl;
		if (w->unavailable) {
			j_open('{');
			jk_str("workload", w->name);
			jk_bool("available", 0);
			jk_str("reason", w->unavailable);
			j_close('}');
			j_end_doc();
			continue;
		}
		if (a->failed || a->nres == 0) {
			char fname[96];
			bench_full_name(w, fname, sizeof fname);
			j_open('{');
			jk_str("workload", fname);
			jk_bool("failed", 1);
			j_key("runs");
			j_i64(a->nres);
			j_close('}');
			j_end_doc();
			continue;
		}
		const struct run_result *r0 = first_used(a);
		for (int j = 0; r0 && j < r0->nm; j++)
			json_metric(a, r0, r0->m[j].name);
	}
}

/* {"bar", "ratio", "target", "met" (null for a bar only reported, then
 * "applies": false), ["note"]} */
static void print_bars_json(const struct bar *bars, int nb)
{
	for (int i = 0; i < nb; i++) {
		if (!bars[i].have)
			continue;
		const char *v = bench_bar_verdict(&bars[i]);
		j_open('{');
		jk_str("bar", bars[i].text);
		j_key("ratio");
		j_real(bars[i].ratio, 4);
		j_key("target");
		j_real(bars[i].target, 3);
		j_key("met");
		if (bars[i].info)
			j_null();
		else
			j_bool(strcmp(v, "met") == 0);
		if (bars[i].info)
			jk_bool("applies", 0);
		if (bars[i].note[0])
			jk_str("note", bars[i].note);
		j_close('}');
		j_end_doc();
	}
}

/* The table: one row per workload and metric, seven columns. */
#define TBL_COLS 7
#define TBL_CELL 96
struct row {
	char c[TBL_COLS][TBL_CELL];
};

/* Append a row (zeroed) to *rows; NULL when out of memory. */
static struct row *add_row(struct row **rows, int *nr, int *cap)
{
	if (*nr == *cap) {
		int ncap = *cap ? 2 * *cap : 64;
		struct row *n = realloc(*rows, (size_t)ncap * sizeof *n);
		if (!n)
			return NULL;
		*rows = n;
		*cap = ncap;
	}
	struct row *r = &(*rows)[(*nr)++];
	memset(r, 0, sizeof *r);
	return r;
}

/* The probe column of a workload's first row: "63 (levels 63:4 121:1)". */
static void probe_cell(const struct agg *a, char *c)
{
	int l = snprintf(c, TBL_CELL, "%.0f", a->probe);
	if (a->nlevels > 1) {
		l += snprintf(c + l, (size_t)(TBL_CELL - l), " (levels");
		for (int q = 0; q < a->nlevels && l < 80; q++)
			l += snprintf(c + l, (size_t)(TBL_CELL - l), " %.0f:%d", a->level_ns[q],
				      a->level_runs[q]);
		snprintf(c + l, (size_t)(TBL_CELL - l), ")");
	}
}

/* The rows of one workload. -1 when out of memory. */
static int workload_rows(const struct agg *a, struct row **rows, int *nr, int *cap)
{
	char name[TBL_CELL];
	struct row *r;
	bench_full_name(a->wl, name, sizeof name);
	if (a->wl->unavailable || a->failed) {
		if (!(r = add_row(rows, nr, cap)))
			return -1;
		snprintf(r->c[0], TBL_CELL, "%s", name);
		snprintf(r->c[1], TBL_CELL, "%s", a->failed ? "FAILED" : "competitor not available");
		return 0;
	}
	const struct run_result *r0 = first_used(a);
	for (int j = 0; r0 && j < r0->nm; j++) {
		double med, mn, mx;
		if (!bench_agg_metric(a, r0->m[j].name, &med, &mn, &mx))
			continue;
		if (!(r = add_row(rows, nr, cap)))
			return -1;
		snprintf(r->c[0], TBL_CELL, "%s", j == 0 ? name : "");
		snprintf(r->c[1], TBL_CELL, "%s", r0->m[j].name);
		bench_fmt_num(r->c[2], TBL_CELL, med);
		bench_fmt_num(r->c[3], TBL_CELL, mn);
		bench_fmt_num(r->c[4], TBL_CELL, mx);
		if (a->nlevels > 0 && a->nuse != a->nres)
			snprintf(r->c[5], TBL_CELL, "%d/%d", a->nuse, a->nres);
		else
			snprintf(r->c[5], TBL_CELL, "%d", a->nres);
		if (a->nlevels > 0 && j == 0)
			probe_cell(a, r->c[6]);
	}
	return 0;
}

/* The rows, aligned: text columns to the left, figures to the right. */
static void print_rows(const struct row *rows, int nr)
{
	int w[TBL_COLS] = { 0 };
	for (int i = 0; i < nr; i++)
		for (int k = 0; k < TBL_COLS; k++) {
			int l = (int)strlen(rows[i].c[k]);
			if (l > w[k])
				w[k] = l;
		}
	for (int i = 0; i < nr; i++) {
		for (int k = 0; k < TBL_COLS; k++) {
			if (k < 2 || k == 6)
				printf("%-*s", w[k], rows[i].c[k]);
			else
				printf("%*s", w[k], rows[i].c[k]);
			printf(k < TBL_COLS - 1 ? "  " : "\n");
		}
		if (i == 0) {
			int tot = 0;
			for (int k = 0; k < TBL_COLS; k++)
				tot += w[k] + 2;
			for (int k = 0; k < tot - 2; k++)
				putchar('-');
			putchar('\n');
		}
	}
}

/* The machine and the sizes, above the table. */
static void print_heading(const struct bench_opts *o)
{
	char model[128], kernel[128];
	machine(model, sizeof model, kernel, sizeof kernel);
	printf("shmap-bench: %d CPU(s) (%s, Linux %s)%s, %s%s\n", o->ncpu, model, kernel,
	       o->ncpu > 1 ? ", one process per CPU" : "", o->quick ? "quick sizes" : "full sizes",
	       o->rt ? ", SCHED_FIFO" : "");
	if (o->keys || o->capacity || o->key_size || o->value_size || o->elem_size)
		printf("your case:%s%.0llu%s%.0llu%s%.0u%s%.0u%s%.0u (workload names stay; "
		       "--list shows which honour what)\n",
		       o->keys ? " --keys " : "", (unsigned long long)o->keys,
		       o->capacity ? " --capacity " : "", (unsigned long long)o->capacity,
		       o->key_size ? " --key-size " : "", o->key_size,
		       o->value_size ? " --value-size " : "", o->value_size,
		       o->elem_size ? " --elem-size " : "", o->elem_size);
}

static void print_bars_text(const struct bar *bars, int nb)
{
	int any = 0;
	for (int i = 0; i < nb; i++)
		any |= bars[i].have || bars[i].note[0];
	if (!any)
		return;
	printf("\nbars (BENCH.md):\n");
	for (int i = 0; i < nb; i++) {
		if (!bars[i].have) {
			if (bars[i].note[0])
				printf("  %-46s  %s\n", bars[i].text, bars[i].note);
			continue;
		}
		printf("  %-46s  %6.2fx  %-8s %s\n", bars[i].text, bars[i].ratio,
		       bench_bar_verdict(&bars[i]), bars[i].note);
	}
}

static void print_table(struct agg *aggs, int n, const struct bench_opts *o, const struct bar *bars,
			int nb)
{
	static const char *const hdr[TBL_COLS] = { "workload", "metric", "median", "min", "max",
						   "runs", "probe_ns" };
	struct row *rows = NULL, *r;
	int nr = 0, cap = 0;
	if (!(r = add_row(&rows, &nr, &cap)))
		goto oom;
	for (int k = 0; k < TBL_COLS; k++)
		snprintf(r->c[k], TBL_CELL, "%s", hdr[k]);
	for (int i = 0; i < n; i++)
		if (workload_rows(&aggs[i], &rows, &nr, &cap) != 0)
			goto oom;
	print_heading(o);
	print_rows(rows, nr);
	free(rows);
	print_bars_text(bars, nb);
	return;
oom:
	free(rows);
	fprintf(stderr, "shmap-bench: out of memory for the table\n");
}

void bench_report(struct agg *aggs, int n, const struct bench_opts *o)
{
	struct bar bars[BENCH_MAX_BARS];
	int nb = bench_compute_bars(aggs, n, o, bars);
	if (o->json) {
		j_begin(stdout);
		print_json(aggs, n, o);
		print_bars_json(bars, nb);
	} else {
		print_table(aggs, n, o, bars, nb);
	}
}
