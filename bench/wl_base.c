/* SPDX-License-Identifier: MIT */
/*
 * wl_base.c - the in-run baselines.
 *
 * floor-rtt: two pinned processes ping-pong one shared cache line (the
 *   pinger writes 2i+1, the ponger answers 2i+2): the hardware floor of any
 *   cross-process round trip, measured with the same timing code as
 *   spsc-rtt. Every round trip is timed; the pinger reports percentiles.
 * table-baseline: a plain single-threaded open-addressing table (linear
 *   probing, 16-byte slots, no atomics, private memory) holding the same
 *   1M keys in the same capacity (2M) as table-get, hashed with the same
 *   function (XXH3-64, seeded), doing the same lookup sequence: the
 *   no-concurrency ceiling that table-get is compared with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include "atomic.h"
#include "bench.h"

/* ---- floor-rtt ---- */

int bench_two_procs(const struct bench_opts *o)
{
	(void)o;
	return 2;
}

int bench_one_proc(const struct bench_opts *o)
{
	(void)o;
	return 1;
}

int bench_spsc_finish(struct bench_run *r)
{
	struct bench_slot *c = &r->ctl->slot[1];
	if (c->count != r->n)
		return bench_fail(r, "consumer received %llu items, expected %llu",
				  (unsigned long long)c->count, (unsigned long long)r->n);
	bench_metric(r, "items_per_s", (double)r->n / bench_span_s(r, 0, 2));
	return 0;
}

uint64_t bench_rtt_count(const struct bench_opts *o)
{
	return o->quick ? 32768u : 262144u; /* multiples of BENCH_RTT_BLOCK */
}

/* Store a run's round-trip figures in the slot (shared with spsc-rtt):
 * the block median (timer-free) and the per-round-trip percentiles. */
void bench_rtt_report(struct bench_run *r, double block_median, double *samples, uint64_t n)
{
	struct bench_slot *s = &r->ctl->slot[r->self];
	bench_sort(samples, (size_t)n);
	s->d[0] = block_median;
	s->d[1] = bench_pct(samples, (size_t)n, 0.50);
	s->d[2] = bench_pct(samples, (size_t)n, 0.90);
	s->d[3] = bench_pct(samples, (size_t)n, 0.99);
	s->d[4] = bench_pct(samples, (size_t)n, 0.999);
}

uint64_t bench_rtt_total(const struct bench_run *r)
{
	return r->n / BENCH_RTT_BLOCK * BENCH_RTT_BLOCK + r->n;
}

int bench_rtt_pinger(struct bench_run *r, int (*ping)(struct bench_run *r, void *ctx, uint64_t i), void *ctx)
{
	const uint64_t n = r->n, nb = n / BENCH_RTT_BLOCK;
	double *samples = calloc(n, sizeof *samples), *blocks = calloc(nb ? nb : 1, sizeof *blocks);
	int bad = !samples || !blocks ? bench_fail(r, "out of memory") : 0;
	uint64_t tb = bench_ticks();
	for (uint64_t i = 0; i < nb * BENCH_RTT_BLOCK && !bad; i++) {
		bad = ping(r, ctx, i);
		if ((i + 1) % BENCH_RTT_BLOCK == 0) {
			uint64_t t = bench_ticks();
			blocks[(i + 1) / BENCH_RTT_BLOCK - 1] = bench_ticks_to_ns(t - tb) / BENCH_RTT_BLOCK;
			tb = t;
		}
	}
	uint64_t tp = bench_ticks();
	for (uint64_t i = 0; i < n && !bad; i++) {
		bad = ping(r, ctx, nb * BENCH_RTT_BLOCK + i);
		uint64_t t = bench_ticks();
		samples[i] = bench_ticks_to_ns(t - tp);
		tp = t;
	}
	if (!bad) {
		bench_sort(blocks, nb);
		r->ctl->slot[0].count = bench_rtt_total(r);
		bench_rtt_report(r, bench_pct(blocks, nb, 0.5), samples, n);
	}
	free(samples);
	free(blocks);
	return bad;
}

int bench_rtt_finish(struct bench_run *r)
{
	struct bench_slot *s = &r->ctl->slot[0];
	if (s->count != 2 * r->n)
		return bench_fail(r, "%llu round trips completed, expected %llu",
				  (unsigned long long)s->count, (unsigned long long)(2 * r->n));
	bench_metric(r, "rtt_ns", s->d[0]);
	bench_metric(r, "rtt_p50_ns", s->d[1]);
	bench_metric(r, "rtt_p90_ns", s->d[2]);
	bench_metric(r, "rtt_p99_ns", s->d[3]);
	bench_metric(r, "rtt_p999_ns", s->d[4]);
	return 0;
}

static int floor_prepare(struct bench_run *r)
{
	r->n = bench_rtt_count(r->o);
	bench_param_u64(r, "round_trips", 2 * r->n);
	bench_param_u64(r, "lines", r->wl->variant ? 2 : 1);
	bench_param_real(r, "timer_ns", bench_timer_ns());
	return 0;
}

static int floor_child(struct bench_run *r, int idx)
{
	double *samples = NULL, med;
	if (idx == 0) {
		samples = calloc(r->n, sizeof *samples);
		if (!samples)
			return bench_fail(r, "out of memory");
	}
	/* floor-rtt: one line both ways; floor-rtt-2line: ping and pong lines */
	int two = r->wl->variant != NULL;
	bench_start(r);
	/* n round trips timed per block of 64, then n timed one by one */
	med = bench_pingpong2(r->ctl->flag[0], r->ctl->flag[two ? 2 : 0], idx, r->n, NULL);
	bench_pingpong2(r->ctl->flag[1], r->ctl->flag[two ? 3 : 1], idx, r->n, samples);
	bench_stop(r);
	for (int k = 0; k < 2; k++) {
		uint64_t last = r->ctl->flag[two ? k + 2 : k][0];
		if (last != 2 * r->n) {
			free(samples);
			return bench_fail(r, "line holds %llu after the ping-pong, expected %llu",
					  (unsigned long long)last, (unsigned long long)(2 * r->n));
		}
	}
	if (idx == 0) {
		r->ctl->slot[0].count = 2 * r->n;
		bench_rtt_report(r, med, samples, r->n);
	}
	free(samples);
	return 0;
}

/* ---- table-baseline ---- */

struct bslot {
	uint64_t key;   /* 0: empty */
	uint64_t val;
};

#define BASELINE_SEED 0x243F6A8885A308D3ULL

/* slots: the capacity rounded up to a power of two (what a plain table
 * does, and the cheapest index computation: a mask) */
static uint64_t baseline_slots(const struct bench_opts *o)
{
	uint64_t cap = 1;
	while (cap < bench_table_cap(o))
		cap <<= 1;
	return cap;
}

static int baseline_prepare(struct bench_run *r)
{
	r->n = bench_table_lookups(r->o);
	r->n2 = bench_table_keys(r->o);
	bench_param_u64(r, "keys", r->n2);
	bench_param_u64(r, "capacity", bench_table_cap(r->o));
	bench_param_u64(r, "key_size", bench_key_size(r->o));
	bench_param_u64(r, "value_size", bench_value_size(r->o));
	bench_param_u64(r, "lookups", r->n);
	bench_param_u64(r, "slots", baseline_slots(r->o));
	bench_param_str(r, "hash", "xxh3-64");
	bench_param_str(r, "probing", "linear");
	if (r->n2 >= baseline_slots(r->o)) {
		fprintf(stderr, "shmap-bench: %s: %llu keys do not fit in capacity %llu\n", r->wl->name,
			(unsigned long long)r->n2, (unsigned long long)bench_table_cap(r->o));
		return -1;
	}
	return 0;
}

/*
 * The same plain table for keys and values of other sizes: slots of
 * key_size + value_size bytes, a key compared with memcmp, the value copied
 * out and its first and last 8 bytes checked (what table-get checks).
 */
static int baseline_var_child(struct bench_run *r, int idx)
{
	const uint32_t ks = bench_key_size(r->o), vs = bench_value_size(r->o);
	const size_t stride = (size_t)ks + vs;
	const uint64_t cap = baseline_slots(r->o), mask = cap - 1;
	size_t bytes = cap * stride;
	uint8_t *t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *key = malloc(ks), *val = malloc(vs);
	if (t == MAP_FAILED || !key || !val)
		return bench_fail(r, "out of memory for the baseline table");
	memset(t, 0, bytes);
	memset(val, 0, vs);
	for (uint64_t i = 0; i < r->n2; i++) {
		uint64_t k = bench_key(i), e;
		bench_key_bytes(key, ks, k);
		uint64_t p = XXH3_64bits_withSeed(key, ks, BASELINE_SEED) & mask;
		for (;; p = (p + 1) & mask) {
			memcpy(&e, t + p * stride, 8);
			if (e == 0)
				break; /* empty: keys never start with 8 zero bytes */
		}
		memcpy(t + p * stride, key, ks);
		bench_val_bytes(t + p * stride + ks, vs, k);
	}
	uint64_t rng = BENCH_TABLE_LOOKUP_SEED + (uint64_t)idx;
	uint64_t bad = 0, checksum = 0;
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n++) {
		uint64_t k = bench_key(bench_below(&rng, r->n2)), e;
		bench_key_bytes(key, ks, k);
		uint64_t p = XXH3_64bits_withSeed(key, ks, BASELINE_SEED) & mask;
		int found = 0;
		for (uint64_t probes = 0; probes < cap; probes++, p = (p + 1) & mask) {
			const uint8_t *sl = t + p * stride;
			if (memcmp(sl, key, ks) == 0) {
				memcpy(val, sl + ks, vs);
				found = 1;
				break;
			}
			memcpy(&e, sl, 8);
			if (e == 0)
				break;
		}
		bad += !found || !bench_val_ok(val, vs, k);
		checksum += val[0];
	}
	bench_stop(r);
	munmap(t, bytes);
	free(key);
	free(val);
	if (bad)
		return bench_fail(r, "%llu lookups returned a wrong value", (unsigned long long)bad);
	r->ctl->slot[idx].count = r->n;
	r->ctl->slot[idx].u[0] = checksum;
	return 0;
}

static int baseline_child(struct bench_run *r, int idx)
{
	if (bench_key_size(r->o) != 8 || bench_value_size(r->o) != 8)
		return baseline_var_child(r, idx);
	uint64_t cap = baseline_slots(r->o);
	const uint64_t mask = cap - 1;
	size_t bytes = cap * sizeof(struct bslot);
	struct bslot *t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return bench_fail(r, "mmap of the baseline table failed");
	memset(t, 0, bytes);
	for (uint64_t i = 0; i < r->n2; i++) {
		uint64_t k = bench_key(i);
		if (k == 0)
			return bench_fail(r, "key %llu is 0", (unsigned long long)i);
		uint64_t h = XXH3_64bits_withSeed(&k, sizeof k, BASELINE_SEED);
		uint64_t p = h & mask;
		for (uint64_t probes = 0;; probes++) {
			if (probes >= cap)
				return bench_fail(r, "baseline table full");
			if (t[p].key == 0) {
				t[p].key = k;
				t[p].val = bench_val(k);
				break;
			}
			if (t[p].key == k)
				return bench_fail(r, "duplicate key %llu", (unsigned long long)i);
			p = (p + 1) & mask;
		}
	}
	uint64_t rng = BENCH_TABLE_LOOKUP_SEED + (uint64_t)idx;
	uint64_t bad = 0, checksum = 0;
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n++) {
		uint64_t k = bench_key(bench_below(&rng, r->n2));
		uint64_t h = XXH3_64bits_withSeed(&k, sizeof k, BASELINE_SEED);
		uint64_t p = h & mask;
		uint64_t v = 0;
		for (uint64_t probes = 0; probes < cap; probes++) {
			if (t[p].key == k) {
				v = t[p].val;
				break;
			}
			if (t[p].key == 0)
				break;
			p = (p + 1) & mask;
		}
		bad += v != bench_val(k);
		checksum += v;
	}
	bench_stop(r);
	munmap(t, bytes);
	if (bad)
		return bench_fail(r, "%llu lookups returned a wrong value", (unsigned long long)bad);
	r->ctl->slot[idx].count = r->n;
	r->ctl->slot[idx].u[0] = checksum;
	return 0;
}

static int baseline_finish(struct bench_run *r)
{
	if (r->ctl->slot[0].count != r->n)
		return bench_fail(r, "lookup count mismatch");
	bench_metric(r, "ops_per_s", (double)r->n / bench_span_s(r, 0, 1));
	return 0;
}

const struct bench_wl bench_wl_base[] = {
	{
		.name = "floor-rtt",
		.group = "base",
		.cross = 1,
		.nprocs = bench_two_procs,
		.prepare = floor_prepare,
		.child = floor_child,
		.finish = bench_rtt_finish,
	},
	{
		/* informational: the floor of any two-ring round trip, where each
		 * direction has its own line (written by one side, read by the other) */
		.name = "floor-rtt",
		.variant = "2line",
		.group = "base",
		.cross = 1,
		.nprocs = bench_two_procs,
		.prepare = floor_prepare,
		.child = floor_child,
		.finish = bench_rtt_finish,
	},
	{
		.name = "table-baseline",
		.group = "base",
		.cross = 0,
		.nprocs = bench_one_proc,
		.prepare = baseline_prepare,
		.child = baseline_child,
		.finish = baseline_finish,
		.opts = BENCH_OPT_KEYS | BENCH_OPT_KEY_SIZE | BENCH_OPT_VALUE_SIZE | BENCH_OPT_CAPACITY,
	},
	{ 0 }
};
