/* SPDX-License-Identifier: MIT */
/*
 * wl_pool.c - worker pools: one producer, C consumers (C = 2, 4, 16, more
 * processes than CPUs on a small machine), 8-byte elements.
 *
 * spmc-pool-C   SPMC ring (capacity 4096), variants:
 *                 wait  push_wait / pop_wait (the blocking calls);
 *                 poll  push / pop, sched_yield() on FULL/EMPTY.
 *               Every consumer checks its items increase and marks them in
 *               its own bitmap; the parent checks every item arrived exactly
 *               once. The producer ends with one sentinel per consumer.
 * bcast-pool-C  reliable broadcast ring, C subscribers, same two variants;
 *               every subscriber checks it receives 0, 1, ..., n-1 in order.
 * pipe-pool-C   the job queue built without shmap: one pipe, the producer
 *               writes 8-byte items, C readers read 8 bytes each (blocking);
 *               verified as spmc-pool-C.
 * spmc-wake-lat one producer, 4 consumers blocked in pop_wait long enough to
 *               be asleep (the producer pauses 2 ms between items); each item
 *               carries its push time, the consumer that gets it records the
 *               delay to its return: wake_p50_ns / wake_p99_ns, and the
 *               CPU time of all consumers per item (the cost of wake-ups
 *               that find nothing to take: the herd).
 *
 * items_per_s is the items the producer sent per second (each item reaches
 * one consumer for SPMC and the pipe, every subscriber for broadcast).
 * The pool workloads measure the floor-rtt probe (processes 0 and 1, the
 * others waiting at the barrier), so wait and poll rows are compared at
 * the same probe level.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmap/shmap.h>

#include "bench.h"

#define POOL_SENTINEL UINT64_MAX
#define POOL_TIMEOUT_MS 30000u
#define LAT_CONS 4
#define LAT_GAP_NS 2000000u

static int g_pipe[2] = { -1, -1 }; /* pipe-pool: created by the parent before fork */

static int pool_consumers(const char *name)
{
	const char *d = strrchr(name, '-');
	return d ? atoi(d + 1) : 2;
}

static int pool_nprocs_2(const struct bench_opts *o) { (void)o; return 3; }
static int pool_nprocs_4(const struct bench_opts *o) { (void)o; return 5; }
static int pool_nprocs_16(const struct bench_opts *o) { (void)o; return 17; }
static int lat_nprocs(const struct bench_opts *o) { (void)o; return 1 + LAT_CONS; }

static uint64_t pool_items(const struct bench_opts *o)
{
	return o->quick ? 200000u : 2000000u;
}

static int pool_wait(const struct bench_run *r)
{
	return r->wl->variant && strcmp(r->wl->variant, "wait") == 0;
}

static size_t pool_extra(struct bench_run *r)
{
	uint64_t n = pool_items(r->o);
	return (size_t)pool_consumers(r->wl->name) * ((n + 63) / 64) * 8;
}

static int pool_create(struct bench_run *r, uint32_t type, uint32_t maxc)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != 0)
		return -1;
	shmap_opts_set_flags(o, SHMAP_OPT_PREFAULT);
	shmap_ring *ring = NULL;
	int rc = shmap_opts_set_max_consumers(o, maxc);
	if (rc == 0)
		rc = shmap_ring_open(r->seg[0], SHMAP_CREATE, type, 8, BENCH_RING_CAP, SHMAP_RING_PRODUCER, o,
				     &ring);
	shmap_opts_free(o);
	if (rc != 0) {
		fprintf(stderr, "shmap-bench: %s: shmap_ring_open(create): %s\n", r->wl->name,
			shmap_strerror(rc));
		return -1;
	}
	shmap_ring_close(ring);
	return 0;
}

static int pool_attach(struct bench_run *r, int idx, shmap_ring **ret)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != 0)
		return bench_fail(r, "shmap_opts_new");
	shmap_opts_set_flags(o, SHMAP_OPT_PREFAULT);
	shmap_opts_set_timeout_ms(o, 10000);
	int rc = shmap_ring_open(r->seg[0], SHMAP_OPEN, 0, 0, 0,
				 idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, o, ret);
	shmap_opts_free(o);
	if (rc != 0)
		return bench_fail(r, "shmap_ring_open(%d): %s", idx, shmap_strerror(rc));
	return 0;
}

static void pool_cleanup(struct bench_run *r)
{
	shmap_unlink(r->seg[0], NULL);
	for (int i = 0; i < 2; i++) {
		if (g_pipe[i] >= 0)
			close(g_pipe[i]);
		g_pipe[i] = -1;
	}
}

static int pool_prepare(struct bench_run *r)
{
	int c = pool_consumers(r->wl->name);
	r->n = pool_items(r->o);
	int spmc = strncmp(r->wl->name, "spmc", 4) == 0;
	bench_param_u64(r, "elem_size", 8);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_u64(r, "consumers", (uint64_t)c);
	bench_param_str(r, "api", "%s",
			strncmp(r->wl->name, "pipe", 4) == 0 ? "pipe write/read"
			: pool_wait(r)			      ? "push_wait/pop_wait"
							      : "push/pop + sched_yield");
	if (strncmp(r->wl->name, "pipe", 4) == 0)
		return pipe(g_pipe) == 0 ? 0 : -1;
	return pool_create(r, spmc ? SHMAP_RING_SPMC : SHMAP_RING_BCAST_RELIABLE, (uint32_t)c);
}

/* A consumer's check of one item (SPMC and pipe): increasing, marked once. */
static int pool_take(struct bench_run *r, uint64_t *bits, uint64_t v, uint64_t *got, uint64_t *last)
{
	if (v >= r->n)
		return bench_fail(r, "got item %llu beyond %llu", (unsigned long long)v,
				  (unsigned long long)r->n);
	if (*got && v <= *last)
		return bench_fail(r, "items out of order: %llu after %llu", (unsigned long long)v,
				  (unsigned long long)*last);
	bits[v / 64] |= 1ULL << (v % 64);
	*last = v;
	++*got;
	return 0;
}

static int spmc_pool_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (pool_attach(r, idx, &ring))
		return 1;
	const uint64_t n = r->n;
	const int nc = r->nprocs - 1, wait = pool_wait(r);
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n + (uint64_t)nc; i++) {
			uint64_t v = i < n ? i : POOL_SENTINEL;
			if (wait) {
				if ((rc = shmap_ring_push_wait(ring, &v, POOL_TIMEOUT_MS)) != 0)
					return bench_fail(r, "push_wait %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				continue;
			}
			while ((rc = shmap_ring_push(ring, &v)) != 0) {
				if (rc != SHMAP_E_FULL)
					return bench_fail(r, "push %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				sched_yield();
			}
		}
	} else {
		uint64_t *bits = (uint64_t *)r->extra + (size_t)(idx - 1) * ((n + 63) / 64);
		uint64_t got = 0, last = 0;
		for (;;) {
			uint64_t v;
			if (wait) {
				if ((rc = shmap_ring_pop_wait(ring, &v, POOL_TIMEOUT_MS)) != 0)
					return bench_fail(r, "pop_wait: %s", shmap_strerror(rc));
			} else {
				while ((rc = shmap_ring_pop(ring, &v)) != 0) {
					if (rc != SHMAP_E_EMPTY)
						return bench_fail(r, "pop: %s", shmap_strerror(rc));
					sched_yield();
				}
			}
			if (v == POOL_SENTINEL)
				break;
			if (pool_take(r, bits, v, &got, &last))
				return 1;
		}
		r->ctl->slot[idx].count = got;
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

static int pipe_pool_child(struct bench_run *r, int idx)
{
	const uint64_t n = r->n;
	const int nc = r->nprocs - 1;
	bench_start(r);
	if (idx == 0) {
		close(g_pipe[0]);
		for (uint64_t i = 0; i < n + (uint64_t)nc; i++) {
			uint64_t v = i < n ? i : POOL_SENTINEL;
			ssize_t w;
			while ((w = write(g_pipe[1], &v, sizeof v)) < 0 && errno == EINTR)
				;
			if (w != (ssize_t)sizeof v)
				return bench_fail(r, "pipe write: %s", strerror(errno));
		}
	} else {
		close(g_pipe[1]);
		uint64_t *bits = (uint64_t *)r->extra + (size_t)(idx - 1) * ((n + 63) / 64);
		uint64_t got = 0, last = 0;
		for (;;) {
			uint64_t v;
			ssize_t k;
			/* every write is 8 bytes (atomic below PIPE_BUF), so a read of
			 * 8 bytes returns one whole item */
			while ((k = read(g_pipe[0], &v, sizeof v)) < 0 && errno == EINTR)
				;
			if (k != (ssize_t)sizeof v)
				return bench_fail(r, "pipe read returned %zd", k);
			if (v == POOL_SENTINEL)
				break;
			if (pool_take(r, bits, v, &got, &last))
				return 1;
		}
		r->ctl->slot[idx].count = got;
	}
	bench_stop(r);
	return 0;
}

static int pool_finish(struct bench_run *r)
{
	const uint64_t n = r->n, words = (n + 63) / 64;
	const int nc = r->nprocs - 1;
	const uint64_t *bits = r->extra;
	uint64_t total = 0;
	for (int c = 1; c <= nc; c++)
		total += r->ctl->slot[c].count;
	if (total != n)
		return bench_fail(r, "consumers received %llu items in all, expected %llu",
				  (unsigned long long)total, (unsigned long long)n);
	for (uint64_t w = 0; w < words; w++) {
		uint64_t all = 0, dup = 0;
		for (int c = 0; c < nc; c++) {
			uint64_t b = bits[(size_t)c * words + w];
			dup |= all & b;
			all |= b;
		}
		uint64_t want = (w == words - 1 && n % 64) ? (1ULL << (n % 64)) - 1 : ~0ULL;
		if (dup || all != want)
			return bench_fail(r, "items %llu..%llu: %s", (unsigned long long)(w * 64),
					  (unsigned long long)(w * 64 + 63),
					  dup ? "delivered twice" : "missing");
	}
	bench_metric(r, "items_per_s", (double)n / bench_span_s(r, 0, r->nprocs));
	return 0;
}

static int bcast_pool_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (pool_attach(r, idx, &ring))
		return 1;
	const uint64_t n = r->n;
	const int wait = pool_wait(r);
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++) {
			if (wait) {
				if ((rc = shmap_ring_push_wait(ring, &i, POOL_TIMEOUT_MS)) != 0)
					return bench_fail(r, "push_wait %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				continue;
			}
			while ((rc = shmap_ring_push(ring, &i)) != 0) {
				if (rc != SHMAP_E_FULL)
					return bench_fail(r, "push %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				sched_yield();
			}
		}
	} else {
		uint64_t next = 0;
		while (next < n) {
			uint64_t v;
			if (wait) {
				if ((rc = shmap_ring_pop_wait(ring, &v, POOL_TIMEOUT_MS)) != 0)
					return bench_fail(r, "pop_wait after %llu: %s",
							  (unsigned long long)next, shmap_strerror(rc));
			} else {
				while ((rc = shmap_ring_pop(ring, &v)) != 0) {
					if (rc != SHMAP_E_EMPTY)
						return bench_fail(r, "pop after %llu: %s",
								  (unsigned long long)next,
								  shmap_strerror(rc));
					sched_yield();
				}
			}
			if (v != next)
				return bench_fail(r, "got %llu, expected %llu", (unsigned long long)v,
						  (unsigned long long)next);
			next++;
		}
		r->ctl->slot[idx].count = next;
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

static int bcast_pool_finish(struct bench_run *r)
{
	for (int s = 1; s < r->nprocs; s++)
		if (r->ctl->slot[s].count != r->n)
			return bench_fail(r, "subscriber %d received %llu of %llu", s,
					  (unsigned long long)r->ctl->slot[s].count,
					  (unsigned long long)r->n);
	bench_metric(r, "items_per_s", (double)r->n / bench_span_s(r, 0, r->nprocs));
	return 0;
}

/* ---- spmc-wake-lat ---- */

static uint64_t lat_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t lat_extra(struct bench_run *r)
{
	return (size_t)(r->o->quick ? 200u : 1000u) * sizeof(double) * 2;
}

static int lat_prepare(struct bench_run *r)
{
	r->n = r->o->quick ? 200u : 1000u;
	bench_param_u64(r, "elem_size", 8);
	bench_param_u64(r, "consumers", LAT_CONS);
	bench_param_u64(r, "gap_ns", LAT_GAP_NS);
	bench_param_str(r, "api", "push/pop_wait");
	return pool_create(r, SHMAP_RING_SPMC, LAT_CONS);
}

static int lat_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (pool_attach(r, idx, &ring))
		return 1;
	double *lat = r->extra;
	volatile uint64_t *taken = &r->ctl->flag[0][0];
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < r->n + LAT_CONS; i++) {
			struct timespec gap = { 0, LAT_GAP_NS };
			nanosleep(&gap, NULL);
			uint64_t v = i < r->n ? lat_now() : POOL_SENTINEL;
			if ((rc = shmap_ring_push_wait(ring, &v, POOL_TIMEOUT_MS)) != 0)
				return bench_fail(r, "push_wait: %s", shmap_strerror(rc));
		}
	} else {
		uint64_t got = 0;
		struct timespec c0, c1;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
		for (;;) {
			uint64_t v;
			if ((rc = shmap_ring_pop_wait(ring, &v, POOL_TIMEOUT_MS)) != 0)
				return bench_fail(r, "pop_wait: %s", shmap_strerror(rc));
			uint64_t t = lat_now();
			if (v == POOL_SENTINEL)
				break;
			uint64_t k = __atomic_fetch_add(taken, 1, __ATOMIC_RELAXED);
			if (k >= r->n)
				return bench_fail(r, "more items than pushed");
			lat[k] = (double)(t - v);
			got++;
		}
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
		r->ctl->slot[idx].count = got;
		r->ctl->slot[idx].d[0] = (double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec);
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

static int lat_finish(struct bench_run *r)
{
	uint64_t total = 0;
	double cpu = 0;
	for (int c = 1; c < r->nprocs; c++) {
		total += r->ctl->slot[c].count;
		cpu += r->ctl->slot[c].d[0];
	}
	if (total != r->n)
		return bench_fail(r, "consumers received %llu items, expected %llu",
				  (unsigned long long)total, (unsigned long long)r->n);
	double *lat = r->extra;
	bench_sort(lat, r->n);
	bench_metric(r, "wake_p50_ns", bench_pct(lat, r->n, 0.5));
	bench_metric(r, "wake_p99_ns", bench_pct(lat, r->n, 0.99));
	bench_metric(r, "consumer_cpu_ns_per_item", cpu / (double)r->n);
	return 0;
}

#define POOL_WL(kind, c, var, fn, fin)                                                          \
	{ .name = kind "-pool-" #c, .variant = var, .group = "ring", .cross = 1,                \
	  .nprocs = pool_nprocs_##c, .extra_bytes = pool_extra, .prepare = pool_prepare,         \
	  .child = fn, .finish = fin, .cleanup = pool_cleanup }

const struct bench_wl bench_wl_pool[] = {
	POOL_WL("spmc", 2, "wait", spmc_pool_child, pool_finish),
	POOL_WL("spmc", 2, "poll", spmc_pool_child, pool_finish),
	POOL_WL("spmc", 4, "wait", spmc_pool_child, pool_finish),
	POOL_WL("spmc", 4, "poll", spmc_pool_child, pool_finish),
	POOL_WL("spmc", 16, "wait", spmc_pool_child, pool_finish),
	POOL_WL("spmc", 16, "poll", spmc_pool_child, pool_finish),
	POOL_WL("bcast", 2, "wait", bcast_pool_child, bcast_pool_finish),
	POOL_WL("bcast", 2, "poll", bcast_pool_child, bcast_pool_finish),
	POOL_WL("bcast", 4, "wait", bcast_pool_child, bcast_pool_finish),
	POOL_WL("bcast", 4, "poll", bcast_pool_child, bcast_pool_finish),
	POOL_WL("bcast", 16, "wait", bcast_pool_child, bcast_pool_finish),
	POOL_WL("bcast", 16, "poll", bcast_pool_child, bcast_pool_finish),
	POOL_WL("pipe", 2, NULL, pipe_pool_child, pool_finish),
	POOL_WL("pipe", 4, NULL, pipe_pool_child, pool_finish),
	POOL_WL("pipe", 16, NULL, pipe_pool_child, pool_finish),
	{ .name = "spmc-wake-lat", .group = "ring", .nprocs = lat_nprocs, .extra_bytes = lat_extra,
	  .prepare = lat_prepare, .child = lat_child, .finish = lat_finish, .cleanup = pool_cleanup },
	{ 0 }
};
