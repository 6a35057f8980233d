/* SPDX-License-Identifier: MIT */
/*
 * wl_vector.c - shmap append-only vector workload.
 *
 * vector-push  two processes append 8-byte elements at once with
 *              shmap_vector_push(): process p appends (p << 56) | seq for
 *              seq = 0..n-1. items_per_s is the total. Afterwards (untimed)
 *              process 0 reads the whole vector back: its size must be 2n,
 *              and each process's elements must all be there, in the order
 *              it pushed them, each exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmap/shmap.h>

#include "bench.h"

static shmap_opts *vopts(void)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != 0)
		return NULL;
	shmap_opts_set_flags(o, SHMAP_OPT_PREFAULT);
	shmap_opts_set_timeout_ms(o, 10000);
	return o;
}

static int vec_prepare(struct bench_run *r)
{
	r->n = r->o->quick ? 500000u : 5000000u;
	bench_param_u64(r, "elem_size", 8);
	bench_param_u64(r, "procs", (uint64_t)r->nprocs);
	bench_param_u64(r, "per_proc", r->n);
	bench_param_u64(r, "capacity", r->n * (uint64_t)r->nprocs);
	bench_param_str(r, "api", "push");
	shmap_opts *o = vopts();
	shmap_vector *v = NULL;
	int rc = shmap_vector_open(r->seg[0], SHMAP_CREATE, 8, r->n * (uint64_t)r->nprocs, o, &v);
	shmap_opts_free(o);
	if (rc != 0) {
		fprintf(stderr, "shmap-bench: %s: shmap_vector_open(create): %s\n", r->wl->name,
			shmap_strerror(rc));
		return -1;
	}
	shmap_vector_close(v);
	return 0;
}

static void vec_cleanup(struct bench_run *r)
{
	shmap_unlink(r->seg[0], NULL);
}

static int vec_child(struct bench_run *r, int idx)
{
	shmap_opts *o = vopts();
	shmap_vector *v = NULL;
	int rc = shmap_vector_open(r->seg[0], SHMAP_OPEN, 0, 0, o, &v);
	shmap_opts_free(o);
	if (rc != 0)
		return bench_fail(r, "shmap_vector_open: %s", shmap_strerror(rc));
	const uint64_t n = r->n, tag = (uint64_t)idx << 56;
	uint64_t busy = 0;
	bench_start(r);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t e = tag | i;
		while ((rc = shmap_vector_push(v, &e, NULL)) != 0) {
			if (rc != SHMAP_E_BUSY)
				return bench_fail(r, "push %llu: %s", (unsigned long long)i,
						  shmap_strerror(rc));
			busy++;
		}
	}
	bench_stop(r);
	r->ctl->slot[idx].count = n;
	r->ctl->slot[idx].u[0] = busy;
	if (idx == 0) {
		uint64_t np = (uint64_t)r->nprocs, total = n * np;
		uint64_t size = shmap_vector_size(v);
		if (size != total)
			return bench_fail(r, "size %llu after the pushes, expected %llu",
					  (unsigned long long)size, (unsigned long long)total);
		uint64_t *next = calloc(np, sizeof *next);
		if (!next)
			return bench_fail(r, "out of memory");
		for (uint64_t i = 0; i < total; i++) {
			uint64_t e;
			rc = shmap_vector_get(v, i, &e);
			uint64_t p = e >> 56;
			if (rc != 0 || p >= np || (e & ((1ULL << 56) - 1)) != next[p]) {
				free(next);
				return bench_fail(r, "element %llu: rc %s, value %llx", (unsigned long long)i,
						  shmap_strerror(rc), (unsigned long long)e);
			}
			next[p]++;
		}
		for (uint64_t p = 0; p < np; p++)
			if (next[p] != n) {
				uint64_t found = next[p];
				free(next);
				return bench_fail(r, "process %llu: %llu elements found, expected %llu",
						  (unsigned long long)p, (unsigned long long)found,
						  (unsigned long long)n);
			}
		free(next);
	}
	shmap_vector_close(v);
	return 0;
}

static int vec_finish(struct bench_run *r)
{
	uint64_t total = 0, busy = 0;
	for (int i = 0; i < r->nprocs; i++) {
		total += r->ctl->slot[i].count;
		busy += r->ctl->slot[i].u[0];
	}
	if (total != r->n * (uint64_t)r->nprocs)
		return bench_fail(r, "%llu pushes done", (unsigned long long)total);
	bench_metric(r, "items_per_s", (double)total / bench_span_s(r, 0, r->nprocs));
	bench_metric(r, "busy_retries", (double)busy);
	return 0;
}

const struct bench_wl bench_wl_vector[] = {
	{ .name = "vector-push", .group = "vector", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = vec_prepare, .child = vec_child, .finish = vec_finish,
	  .cleanup = vec_cleanup },
	{ 0 }
};
