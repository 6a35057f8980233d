/* SPDX-License-Identifier: MIT */
/*
 * wl_floor.c - the physical floors of the ring workloads: the least any
 * ring can do on this machine, in-run, so that a ring's figure can be read
 * against what the cache lines allow and not only against another ring.
 *
 * floor-64        a minimal SPSC ring of 64-byte slots, inlined into the
 *                 loop, with nothing but what moving a message needs: the
 *                 producer copies the message into its slot and publishes
 *                 it with one release store of its head index (own line);
 *                 the consumer reads the head only when it has taken every
 *                 message it knew of, copies each out and checks it like
 *                 spsc-64, and gives the slots back with one store of its
 *                 tail index (own line) per run it took. No crash safety,
 *                 no handle, no checks. Same capacity (4096), contents,
 *                 spin policy and pinning as spsc-64 and its competitors.
 * floor-rtt-ring  the round trip through two such rings of 8-byte elements
 *                 laid out as shmap's SPSC ring is (an array of start words
 *                 and a separate array of elements, 4096 of each): each
 *                 direction moves the element's line and its start word's
 *                 line. Timed like floor-rtt and spsc-rtt.
 *
 * Both live in the harness's shared space (a shared anonymous mapping: the
 * same shmem pages a POSIX shared-memory object has), populated before the
 * processes start.
 */
#include <string.h>

#include "atomic.h"
#include "bench.h"

#define FLOOR_LINE 128u /* two lines: no adjacent-line prefetch across fields */

/* ---- floor-64 ---- */

struct floor64 {
	volatile uint64_t head __attribute__((aligned(FLOOR_LINE))); /* producer: published count */
	volatile uint64_t tail __attribute__((aligned(FLOOR_LINE))); /* consumer: taken count */
	struct bench_e64 slot[BENCH_RING_CAP] __attribute__((aligned(FLOOR_LINE)));
};

static size_t floor64_extra(struct bench_run *r)
{
	(void)r;
	return sizeof(struct floor64);
}

static int floor64_prepare(struct bench_run *r)
{
	r->n = bench_spsc_items(r->o, 64);
	bench_param_u64(r, "elem_size", 64);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_str(r, "impl", "minimal inline ring: one head, one tail, no checks");
	return 0;
}

static int floor64_child(struct bench_run *r, int idx)
{
	struct floor64 *f = r->extra;
	const uint64_t n = r->n, mask = BENCH_RING_CAP - 1;
	unsigned spins = 0;
	struct bench_e64 e;
	bench_start(r);
	if (idx == 0) {
		uint64_t freed = 0; /* private copy of the consumer's tail */
		for (uint64_t p = 0; p < n; p++) {
			while (p - freed >= BENCH_RING_CAP) {
				/* acquire: pairs with the consumer's release of tail */
				freed = shmap__atomic_load_acquire_u64(&f->tail);
				if (p - freed >= BENCH_RING_CAP)
					bench_relax(&spins);
			}
			bench_e64_fill(&e, p);
			memcpy(&f->slot[p & mask], &e, sizeof e);
			/* release: pairs with the consumer's acquire of head */
			shmap__atomic_store_release_u64(&f->head, p + 1);
		}
	} else {
		uint64_t c = 0, lim = 0;
		while (c < n) {
			while (lim == c) {
				/* acquire: pairs with the producer's release of head */
				lim = shmap__atomic_load_acquire_u64(&f->head);
				if (lim == c)
					bench_relax(&spins);
			}
			if (lim > n || lim < c)
				return bench_fail(r, "head %llu outside [%llu, %llu]", (unsigned long long)lim,
						  (unsigned long long)c, (unsigned long long)n);
			for (; c < lim; c++) {
				memcpy(&e, &f->slot[c & mask], sizeof e);
				if (!bench_e64_ok(&e, c))
					return bench_fail(r, "item %llu: got seq %llu", (unsigned long long)c,
							  (unsigned long long)e.w[0]);
			}
			/* release: pairs with the producer's acquire of tail; our
			 * reads of the slots are done before it may overwrite them */
			shmap__atomic_store_release_u64(&f->tail, c);
		}
		r->ctl->slot[1].count = c;
	}
	bench_stop(r);
	return 0;
}

/* ---- floor-rtt-ring ---- */

/* One direction: start words and elements in two arrays, as in shmap's
 * SPSC ring (seq[p] = p + 1 once element p is written). */
struct floor_dir {
	volatile uint64_t seq[BENCH_RING_CAP] __attribute__((aligned(FLOOR_LINE)));
	volatile uint64_t elem[BENCH_RING_CAP] __attribute__((aligned(FLOOR_LINE)));
};

static size_t rttring_extra(struct bench_run *r)
{
	(void)r;
	return 2 * sizeof(struct floor_dir);
}

static int rttring_prepare(struct bench_run *r)
{
	r->n = bench_rtt_count(r->o);
	bench_param_u64(r, "round_trips", 2 * r->n);
	bench_param_u64(r, "elem_size", 8);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_str(r, "impl", "two minimal inline rings: start-word and element arrays");
	bench_param_real(r, "timer_ns", bench_timer_ns());
	return 0;
}

static void dir_send(struct floor_dir *d, uint64_t i, uint64_t v)
{
	const uint64_t s = i & (BENCH_RING_CAP - 1);
	d->elem[s] = v;
	/* release: pairs with the acquire in dir_recv(); the element first */
	shmap__atomic_store_release_u64(&d->seq[s], i + 1);
}

static uint64_t dir_recv(struct floor_dir *d, uint64_t i, unsigned *spins)
{
	const uint64_t s = i & (BENCH_RING_CAP - 1);
	/* acquire: pairs with the release in dir_send() */
	while (shmap__atomic_load_acquire_u64(&d->seq[s]) != i + 1)
		bench_relax(spins);
	return d->elem[s];
}

/* Process 0's side (bench_rtt_pinger()'s ctx). */
struct rttring_side {
	struct floor_dir *d;
	unsigned spins;
};

/* Round trip i from process 0's side: send i, wait for ~i back. */
static int rttring_ping(struct bench_run *r, void *ctx, uint64_t i)
{
	struct rttring_side *sd = ctx;
	dir_send(&sd->d[0], i, i);
	uint64_t v = dir_recv(&sd->d[1], i, &sd->spins);
	if (v != ~i)
		return bench_fail(r, "round trip %llu: got %llx back", (unsigned long long)i,
				  (unsigned long long)v);
	return 0;
}

/* The two phases of floor-rtt and spsc-rtt (bench_rtt_pinger()). */
static int rttring_child(struct bench_run *r, int idx)
{
	struct rttring_side sd = { r->extra, 0 };
	bench_start(r);
	if (idx == 0) {
		if (bench_rtt_pinger(r, rttring_ping, &sd))
			return 1;
	} else {
		for (uint64_t i = 0; i < bench_rtt_total(r); i++) {
			uint64_t v = dir_recv(&sd.d[0], i, &sd.spins);
			if (v != i)
				return bench_fail(r, "round trip %llu: got %llu", (unsigned long long)i,
						  (unsigned long long)v);
			dir_send(&sd.d[1], i, ~v);
		}
	}
	bench_stop(r);
	return 0;
}

const struct bench_wl bench_wl_floor[] = {
	{ .name = "floor-64", .group = "base", .cross = 1, .nprocs = bench_two_procs,
	  .extra_bytes = floor64_extra, .prepare = floor64_prepare, .child = floor64_child,
	  .finish = bench_spsc_finish },
	{ .name = "floor-rtt", .variant = "ring", .group = "base", .cross = 1, .nprocs = bench_two_procs,
	  .extra_bytes = rttring_extra, .prepare = rttring_prepare, .child = rttring_child,
	  .finish = bench_rtt_finish },
	{ 0 }
};
