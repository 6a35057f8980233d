/* SPDX-License-Identifier: MIT */
/*
 * wl_ring.c - shmap ring workloads.
 *
 * spsc-8        producer -> consumer, 8-byte sequence numbers, capacity 4096,
 *               shmap_ring_push / shmap_ring_pop, spinning on FULL/EMPTY.
 * spsc-64       the same with 64-byte elements (seq, seq+1, ..., seq+7).
 * spsc-batch-8  8-byte elements, batches of 64: shmap_ring_push_n (all 64
 *               pushed before the next batch) / shmap_ring_pop_n (up to 64).
 * spsc-rtt      two SPSC rings A (0->1) and B (1->0): process 0 pushes i into
 *               A and waits for i back from B; every round trip is timed.
 * spmc-8        one producer, consumers on the remaining CPUs (at least 1);
 *               each consumer checks that its items increase and marks them
 *               in its own bitmap; the parent checks every item arrived
 *               exactly once. The producer ends with one sentinel per consumer.
 * broadcast-8   one producer, subscribers on the remaining CPUs (at least 1),
 *               lossy and reliable policies. Each subscriber checks its items
 *               strictly increase; reliable: no gap at all; lossy: the gaps
 *               add up to exactly what shmap_ring_missed() reports.
 *
 * The ring is created by the parent (then closed) and opened by each child
 * with its role, before the timed part. Segments are pre-faulted
 * (SHMAP_OPT_PREFAULT), as the competitors' mappings are (MAP_POPULATE).
 */
#include <stdio.h>
#include <string.h>

#include <shmap/shmap.h>

#include "bench.h"

#define SENTINEL UINT64_MAX

static shmap_opts *bench_opts_new(void)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != 0)
		return NULL;
	shmap_opts_set_flags(o, SHMAP_OPT_PREFAULT);
	shmap_opts_set_timeout_ms(o, 10000);
	return o;
}

static int ring_create(struct bench_run *r, const char *name, uint32_t type, uint32_t elem,
		       uint32_t maxc)
{
	shmap_opts *o = bench_opts_new();
	shmap_ring *ring = NULL;
	int rc = o ? shmap_opts_set_max_consumers(o, maxc) : SHMAP_E_NOMEM;
	if (rc == 0)
		rc = shmap_ring_open(name, SHMAP_CREATE, type, elem, BENCH_RING_CAP, SHMAP_RING_PRODUCER, o,
				     &ring);
	shmap_opts_free(o);
	if (rc != 0) {
		fprintf(stderr, "shmap-bench: %s: shmap_ring_open(create %s): %s\n", r->wl->name, name,
			shmap_strerror(rc));
		return -1;
	}
	shmap_ring_close(ring);
	return 0;
}

static int ring_attach(struct bench_run *r, const char *name, uint32_t role, shmap_ring **ret)
{
	shmap_opts *o = bench_opts_new();
	int rc = shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, role, o, ret);
	shmap_opts_free(o);
	if (rc != 0)
		return bench_fail(r, "shmap_ring_open(%s, %s): %s", name,
				  role == SHMAP_RING_PRODUCER ? "producer" : "consumer",
				  shmap_strerror(rc));
	return 0;
}

static void ring_cleanup(struct bench_run *r)
{
	for (int i = 0; i < 2; i++)
		shmap_unlink(r->seg[i], NULL);
}

static int others(const struct bench_opts *o)
{
	return o->ncpu > 2 ? o->ncpu : 2;
}

/* ---- spsc-8 / spsc-64 / spsc-batch-8 ---- */

static int spsc_prepare(struct bench_run *r)
{
	int e64 = strcmp(r->wl->name, "spsc-64") == 0;
	int batch = strcmp(r->wl->name, "spsc-batch-8") == 0;
	r->n = batch ? bench_batch_items(r->o) : bench_spsc_items(r->o, e64 ? 64 : 8);
	bench_param_u64(r, "elem_size", e64 ? 64 : 8);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_u64(r, "batch", batch ? BENCH_BATCH : 1);
	bench_param_str(r, "api", "%s",
			!batch ? "push/pop" : r->wl->variant ? "reserve/commit+peek/release" : "push_n/pop_n");
	return ring_create(r, r->seg[0], SHMAP_RING_SPSC, e64 ? 64 : 8, 1);
}

static int spsc8_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (ring_attach(r, r->seg[0], idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, &ring))
		return 1;
	const uint64_t n = r->n;
	unsigned spins = 0;
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++)
			while ((rc = shmap_ring_push(ring, &i)) != 0) {
				if (rc != SHMAP_E_FULL)
					return bench_fail(r, "push %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				bench_relax(&spins);
			}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			uint64_t v;
			while ((rc = shmap_ring_pop(ring, &v)) != 0) {
				if (rc != SHMAP_E_EMPTY)
					return bench_fail(r, "pop %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				bench_relax(&spins);
			}
			if (v != i)
				return bench_fail(r, "item %llu: got %llu", (unsigned long long)i,
						  (unsigned long long)v);
		}
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

static int spsc64_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (ring_attach(r, r->seg[0], idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, &ring))
		return 1;
	const uint64_t n = r->n;
	unsigned spins = 0;
	struct bench_e64 e;
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++) {
			bench_e64_fill(&e, i);
			while ((rc = shmap_ring_push(ring, &e)) != 0) {
				if (rc != SHMAP_E_FULL)
					return bench_fail(r, "push %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				bench_relax(&spins);
			}
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			while ((rc = shmap_ring_pop(ring, &e)) != 0) {
				if (rc != SHMAP_E_EMPTY)
					return bench_fail(r, "pop %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				bench_relax(&spins);
			}
			if (!bench_e64_ok(&e, i))
				return bench_fail(r, "item %llu: got seq %llu", (unsigned long long)i,
						  (unsigned long long)e.w[0]);
		}
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

static int spscbatch_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (ring_attach(r, r->seg[0], idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, &ring))
		return 1;
	const uint64_t n = r->n;
	unsigned spins = 0;
	uint64_t buf[BENCH_BATCH];
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t b = 0; b < n; b += BENCH_BATCH) {
			for (unsigned j = 0; j < BENCH_BATCH; j++)
				buf[j] = b + j;
			uint32_t done = 0;
			while (done < BENCH_BATCH) {
				uint32_t k = 0;
				rc = shmap_ring_push_n(ring, buf + done, BENCH_BATCH - done, &k);
				if (rc == SHMAP_E_FULL) {
					bench_relax(&spins);
					continue;
				}
				if (rc != 0)
					return bench_fail(r, "push_n at %llu: %s",
							  (unsigned long long)(b + done), shmap_strerror(rc));
				done += k;
			}
		}
	} else {
		uint64_t next = 0;
		while (next < n) {
			uint32_t k = 0;
			rc = shmap_ring_pop_n(ring, buf, BENCH_BATCH, &k);
			if (rc == SHMAP_E_EMPTY) {
				bench_relax(&spins);
				continue;
			}
			if (rc != 0)
				return bench_fail(r, "pop_n at %llu: %s", (unsigned long long)next,
						  shmap_strerror(rc));
			if (k == 0 || k > BENCH_BATCH)
				return bench_fail(r, "pop_n returned OK with %u elements", k);
			for (uint32_t j = 0; j < k; j++)
				if (buf[j] != next + j)
					return bench_fail(r, "item %llu: got %llu",
							  (unsigned long long)(next + j),
							  (unsigned long long)buf[j]);
			next += k;
		}
		if (next != n)
			return bench_fail(r, "received %llu items, expected %llu",
					  (unsigned long long)next, (unsigned long long)n);
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

/* spsc-batch-8 through the zero-copy calls: reserve/commit, peek/release
 * (runs may stop at the wrap, so a batch can take two calls). */
static int spsczc_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (ring_attach(r, r->seg[0], idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, &ring))
		return 1;
	const uint64_t n = r->n;
	unsigned spins = 0;
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t b = 0; b < n; b += BENCH_BATCH) {
			uint32_t done = 0;
			while (done < BENCH_BATCH) {
				void *p;
				uint32_t got = 0;
				rc = shmap_ring_reserve(ring, BENCH_BATCH - done, &p, &got);
				if (rc == SHMAP_E_FULL) {
					bench_relax(&spins);
					continue;
				}
				if (rc != 0 || got == 0 || got > BENCH_BATCH - done)
					return bench_fail(r, "reserve at %llu: %s (got %u)",
							  (unsigned long long)(b + done), shmap_strerror(rc),
							  got);
				uint64_t *e = p;
				for (uint32_t j = 0; j < got; j++)
					e[j] = b + done + j;
				rc = shmap_ring_commit(ring, got);
				if (rc != 0)
					return bench_fail(r, "commit: %s", shmap_strerror(rc));
				done += got;
			}
		}
	} else {
		uint64_t next = 0;
		while (next < n) {
			const void *p;
			uint32_t got = 0;
			rc = shmap_ring_peek(ring, BENCH_BATCH, &p, &got);
			if (rc == SHMAP_E_EMPTY) {
				bench_relax(&spins);
				continue;
			}
			if (rc != 0 || got == 0 || got > BENCH_BATCH)
				return bench_fail(r, "peek at %llu: %s (got %u)", (unsigned long long)next,
						  shmap_strerror(rc), got);
			const uint64_t *e = p;
			for (uint32_t j = 0; j < got; j++)
				if (e[j] != next + j)
					return bench_fail(r, "item %llu: got %llu",
							  (unsigned long long)(next + j),
							  (unsigned long long)e[j]);
			rc = shmap_ring_release(ring, got);
			if (rc != 0)
				return bench_fail(r, "release: %s", shmap_strerror(rc));
			next += got;
		}
		if (next != n)
			return bench_fail(r, "received %llu items, expected %llu",
					  (unsigned long long)next, (unsigned long long)n);
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

/* ---- spsc-rtt ---- */

static int rtt_prepare(struct bench_run *r)
{
	r->n = bench_rtt_count(r->o);
	bench_param_u64(r, "round_trips", 2 * r->n);
	bench_param_u64(r, "elem_size", 8);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_u64(r, "rings", 2);
	bench_param_str(r, "api", "push/pop");
	bench_param_real(r, "timer_ns", bench_timer_ns());
	if (ring_create(r, r->seg[0], SHMAP_RING_SPSC, 8, 1) != 0)
		return -1;
	return ring_create(r, r->seg[1], SHMAP_RING_SPSC, 8, 1);
}

/* Process 0's rings and spin count (bench_rtt_pinger()'s ctx). */
struct rtt_side {
	shmap_ring *out, *in;
	unsigned spins;
};

/* One round trip of spsc-rtt, process 0's side: push i, wait for ~i back. */
static int rtt_ping(struct bench_run *r, void *ctx, uint64_t i)
{
	struct rtt_side *sd = ctx;
	shmap_ring *out = sd->out, *in = sd->in;
	unsigned *spins = &sd->spins;
	uint64_t v;
	int rc;
	while ((rc = shmap_ring_push(out, &i)) != 0) {
		if (rc != SHMAP_E_FULL)
			return bench_fail(r, "push: %s", shmap_strerror(rc));
		bench_relax(spins);
	}
	while ((rc = shmap_ring_pop(in, &v)) != 0) {
		if (rc != SHMAP_E_EMPTY)
			return bench_fail(r, "pop: %s", shmap_strerror(rc));
		bench_relax(spins);
	}
	if (v != ~i)
		return bench_fail(r, "round trip %llu: got %llx back", (unsigned long long)i,
				  (unsigned long long)v);
	return 0;
}

/* Process 1's side: wait for i, send ~i back. */
static int rtt_pong(struct bench_run *r, shmap_ring *out, shmap_ring *in, uint64_t i,
		    unsigned *spins)
{
	uint64_t v;
	int rc;
	while ((rc = shmap_ring_pop(in, &v)) != 0) {
		if (rc != SHMAP_E_EMPTY)
			return bench_fail(r, "pop: %s", shmap_strerror(rc));
		bench_relax(spins);
	}
	if (v != i)
		return bench_fail(r, "round trip %llu: got %llu", (unsigned long long)i,
				  (unsigned long long)v);
	v = ~v;
	while ((rc = shmap_ring_push(out, &v)) != 0) {
		if (rc != SHMAP_E_FULL)
			return bench_fail(r, "push: %s", shmap_strerror(rc));
		bench_relax(spins);
	}
	return 0;
}

/* The same two phases as floor-rtt (bench_rtt_pinger()): n round trips
 * timed per block of BENCH_RTT_BLOCK (rtt_ns, timer-free), then n timed one
 * by one (percentiles; each sample includes one timestamp read). */
static int rtt_child(struct bench_run *r, int idx)
{
	struct rtt_side sd = { NULL, NULL, 0 };
	/* process 0 produces into A (seg 0) and consumes from B (seg 1) */
	if (ring_attach(r, r->seg[idx == 0 ? 0 : 1], SHMAP_RING_PRODUCER, &sd.out))
		return 1;
	if (ring_attach(r, r->seg[idx == 0 ? 1 : 0], SHMAP_RING_CONSUMER, &sd.in))
		return 1;
	bench_start(r);
	if (idx == 0) {
		if (bench_rtt_pinger(r, rtt_ping, &sd))
			return 1;
	} else {
		for (uint64_t i = 0; i < bench_rtt_total(r); i++)
			if (rtt_pong(r, sd.out, sd.in, i, &sd.spins))
				return 1;
	}
	bench_stop(r);
	shmap_ring_close(sd.out);
	shmap_ring_close(sd.in);
	return 0;
}

/* ---- spmc-8 ---- */

static size_t spmc_extra(struct bench_run *r)
{
	uint64_t n = bench_spsc_items(r->o, 8);
	int nc = others(r->o) - 1;
	return (size_t)nc * ((n + 63) / 64) * 8;
}

static int spmc_prepare(struct bench_run *r)
{
	r->n = bench_spsc_items(r->o, 8);
	int nc = r->nprocs - 1;
	bench_param_u64(r, "elem_size", 8);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_u64(r, "consumers", (uint64_t)nc);
	bench_param_str(r, "api", "push/pop");
	return ring_create(r, r->seg[0], SHMAP_RING_SPMC, 8, (uint32_t)nc);
}

static int spmc_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (ring_attach(r, r->seg[0], idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, &ring))
		return 1;
	const uint64_t n = r->n;
	const int nc = r->nprocs - 1;
	unsigned spins = 0;
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i <= n + (uint64_t)nc - 1; i++) {
			uint64_t v = i < n ? i : SENTINEL;
			while ((rc = shmap_ring_push(ring, &v)) != 0) {
				if (rc != SHMAP_E_FULL)
					return bench_fail(r, "push %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				bench_relax(&spins);
			}
		}
	} else {
		uint64_t *bits = (uint64_t *)r->extra + (size_t)(idx - 1) * ((n + 63) / 64);
		uint64_t got = 0, last = 0;
		for (;;) {
			uint64_t v;
			while ((rc = shmap_ring_pop(ring, &v)) != 0) {
				if (rc != SHMAP_E_EMPTY)
					return bench_fail(r, "pop: %s", shmap_strerror(rc));
				bench_relax(&spins);
			}
			if (v == SENTINEL)
				break;
			if (v >= n)
				return bench_fail(r, "got item %llu beyond %llu", (unsigned long long)v,
						  (unsigned long long)n);
			if (got && v <= last)
				return bench_fail(r, "items out of order: %llu after %llu",
						  (unsigned long long)v, (unsigned long long)last);
			bits[v / 64] |= 1ULL << (v % 64);
			last = v;
			got++;
		}
		r->ctl->slot[idx].count = got;
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

static int spmc_finish(struct bench_run *r)
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

/* ---- broadcast-8 ---- */

static int bcast_prepare(struct bench_run *r)
{
	int lossy = strcmp(r->wl->variant, "lossy") == 0;
	r->n = bench_spsc_items(r->o, 8);
	int ns = r->nprocs - 1;
	bench_param_str(r, "policy", "%s", lossy ? "lossy" : "reliable");
	bench_param_u64(r, "elem_size", 8);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_u64(r, "subscribers", (uint64_t)ns);
	bench_param_str(r, "api", "push/pop");
	return ring_create(r, r->seg[0], lossy ? SHMAP_RING_BCAST_LOSSY : SHMAP_RING_BCAST_RELIABLE,
			   8, (uint32_t)ns);
}

static int bcast_child(struct bench_run *r, int idx)
{
	int lossy = strcmp(r->wl->variant, "lossy") == 0;
	shmap_ring *ring;
	if (ring_attach(r, r->seg[0], idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, &ring))
		return 1;
	const uint64_t n = r->n;
	unsigned spins = 0;
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++)
			while ((rc = shmap_ring_push(ring, &i)) != 0) {
				if (rc != SHMAP_E_FULL || lossy)
					return bench_fail(r, "push %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				bench_relax(&spins);
			}
	} else {
		uint64_t got = 0, gaps = 0, next = 0, overruns = 0;
		while (next < n) {
			uint64_t v;
			rc = shmap_ring_pop(ring, &v);
			if (rc == SHMAP_E_EMPTY) {
				bench_relax(&spins);
				continue;
			}
			if (rc == SHMAP_E_OVERRUN && lossy) {
				overruns++;
				continue;
			}
			if (rc != 0)
				return bench_fail(r, "pop after %llu: %s", (unsigned long long)next,
						  shmap_strerror(rc));
			if (v < next || v >= n)
				return bench_fail(r, "got %llu, expected %llu or later (below %llu)",
						  (unsigned long long)v, (unsigned long long)next,
						  (unsigned long long)n);
			if (v != next && !lossy)
				return bench_fail(r, "reliable: got %llu, expected %llu",
						  (unsigned long long)v, (unsigned long long)next);
			gaps += v - next;
			next = v + 1;
			got++;
		}
		uint64_t missed = shmap_ring_missed(ring);
		if (missed != gaps)
			return bench_fail(r, "%llu items skipped but shmap_ring_missed() says %llu",
					  (unsigned long long)gaps, (unsigned long long)missed);
		if (gaps && !overruns)
			return bench_fail(r, "%llu items skipped without an OVERRUN",
					  (unsigned long long)gaps);
		r->ctl->slot[idx].count = got;
		r->ctl->slot[idx].u[0] = gaps;
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

static int bcast_finish(struct bench_run *r)
{
	const int ns = r->nprocs - 1;
	double rate = 0, missed = 0;
	for (int s = 1; s <= ns; s++) {
		struct bench_slot *sl = &r->ctl->slot[s];
		if (sl->count + sl->u[0] != r->n)
			return bench_fail(r, "subscriber %d: %llu received + %llu missed != %llu", s,
					  (unsigned long long)sl->count, (unsigned long long)sl->u[0],
					  (unsigned long long)r->n);
		rate += (double)sl->count / bench_span_s(r, s, s + 1);
		missed += (double)sl->u[0];
	}
	bench_metric(r, "items_per_s", rate / ns);
	bench_metric(r, "items_missed", missed / ns);
	return 0;
}

const struct bench_wl bench_wl_ring[] = {
	{ .name = "spsc-rtt", .group = "ring", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = rtt_prepare, .child = rtt_child, .finish = bench_rtt_finish,
	  .cleanup = ring_cleanup },
	{ .name = "spsc-8", .group = "ring", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = spsc_prepare, .child = spsc8_child, .finish = bench_spsc_finish,
	  .cleanup = ring_cleanup },
	{ .name = "spsc-64", .group = "ring", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = spsc_prepare, .child = spsc64_child, .finish = bench_spsc_finish,
	  .cleanup = ring_cleanup },
	{ .name = "spsc-batch-8", .group = "ring", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = spsc_prepare, .child = spscbatch_child, .finish = bench_spsc_finish,
	  .cleanup = ring_cleanup },
	{ .name = "spsc-batch-8", .variant = "zc", .group = "ring", .cross = 1,
	  .nprocs = bench_two_procs, .prepare = spsc_prepare, .child = spsczc_child,
	  .finish = bench_spsc_finish, .cleanup = ring_cleanup },
	{ .name = "spmc-8", .group = "ring", .cross = 1, .nprocs = others,
	  .extra_bytes = spmc_extra, .prepare = spmc_prepare, .child = spmc_child,
	  .finish = spmc_finish, .cleanup = ring_cleanup },
	{ .name = "broadcast-8", .variant = "lossy", .variant_is_param = 1, .group = "ring",
	  .cross = 1, .nprocs = others,
	  .prepare = bcast_prepare, .child = bcast_child, .finish = bcast_finish,
	  .cleanup = ring_cleanup },
	{ .name = "broadcast-8", .variant = "reliable", .variant_is_param = 1, .group = "ring",
	  .cross = 1,
	  .nprocs = others, .prepare = bcast_prepare, .child = bcast_child,
	  .finish = bcast_finish, .cleanup = ring_cleanup },
	{ 0 }
};
