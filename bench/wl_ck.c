/* SPDX-License-Identifier: MIT */
/*
 * wl_ck.c - competitor: Concurrency Kit's SPSC ring (ck_ring, Debian
 * libck-dev), run exactly like shmap's spsc workloads.
 *
 * Fair treatment: the ring header and its buffer live in one POSIX
 * shared-memory object (the same backend shmap uses by default), created
 * by the parent and mapped (populated) by the producer and the consumer
 * after fork, pinned to the same CPUs; the ring has 4096 slots (ck keeps one
 * slot free, so it holds 4095); the same element contents, the same spin
 * policy when full/empty, the same verification of every item.
 *
 * ck_ring has no batch operation; spsc-batch-8-ck pushes and pops 64
 * single elements per batch, the fastest form its API offers.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <ck_ring.h>

#include "bench.h"

#define CK_HDR 4096u

CK_RING_PROTOTYPE(e64, bench_e64)

/* message-size workloads: one ring type per size (ck copies by type) */
struct ck_m256 {
	uint64_t w[256 / 8];
};
struct ck_m1024 {
	uint64_t w[1024 / 8];
};
struct ck_m4096 {
	uint64_t w[4096 / 8];
};
CK_RING_PROTOTYPE(m256, ck_m256)
CK_RING_PROTOTYPE(m1024, ck_m1024)
CK_RING_PROTOTYPE(m4096, ck_m4096)

struct ck_shared {
	struct ck_ring ring;
};

static size_t ck_elem(struct bench_run *r)
{
	if (strstr(r->wl->name, "-64-"))
		return sizeof(struct bench_e64);
	size_t m = bench_msg_size(r);
	return m > 64 ? m : sizeof(void *);
}

static size_t ck_len(struct bench_run *r)
{
	return CK_HDR + (size_t)BENCH_RING_CAP * ck_elem(r);
}

static int ck_prepare(struct bench_run *r)
{
	size_t elem = ck_elem(r);
	int batch = strstr(r->wl->name, "batch") != NULL;
	r->n = batch ? bench_batch_items(r->o)
	     : elem > 64 ? bench_msg_items(r->o, elem, 0) : bench_spsc_items(r->o, elem == 64 ? 64 : 8);
	bench_param_u64(r, "elem_size", elem == sizeof(void *) ? (size_t)8 : elem);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_u64(r, "batch", batch ? BENCH_BATCH : 1);
	bench_param_str(r, "impl", "ck_ring %s",
			batch ? "spsc, 64 single ops per batch (no batch API)" : "spsc");
	if (bench_shm_create(r->seg[0], ck_len(r)) != 0)
		return -1;
	struct ck_shared *s = bench_shm_map(r->seg[0], ck_len(r));
	if (!s)
		return -1;
	ck_ring_init(&s->ring, BENCH_RING_CAP);
	munmap(s, ck_len(r));
	return 0;
}

static void ck_cleanup(struct bench_run *r)
{
	bench_shm_unlink(r->seg[0]);
}

static int ck8_child(struct bench_run *r, int idx)
{
	size_t len = ck_len(r);
	char *base = bench_shm_map(r->seg[0], len);
	if (!base)
		return bench_fail(r, "cannot map the ck ring");
	struct ck_ring *ring = (struct ck_ring *)base;
	struct ck_ring_buffer *buf = (struct ck_ring_buffer *)(base + CK_HDR);
	const uint64_t n = r->n;
	unsigned spins = 0;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++)
			while (!ck_ring_enqueue_spsc(ring, buf, (const void *)(uintptr_t)i))
				bench_relax(&spins);
	} else {
		for (uint64_t i = 0; i < n; i++) {
			void *v;
			while (!ck_ring_dequeue_spsc(ring, buf, &v))
				bench_relax(&spins);
			if ((uint64_t)(uintptr_t)v != i)
				return bench_fail(r, "item %llu: got %llu", (unsigned long long)i,
						  (unsigned long long)(uintptr_t)v);
		}
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	munmap(base, len);
	return 0;
}

static int ck64_child(struct bench_run *r, int idx)
{
	size_t len = ck_len(r);
	char *base = bench_shm_map(r->seg[0], len);
	if (!base)
		return bench_fail(r, "cannot map the ck ring");
	struct ck_ring *ring = (struct ck_ring *)base;
	struct bench_e64 *buf = (struct bench_e64 *)(base + CK_HDR);
	const uint64_t n = r->n;
	unsigned spins = 0;
	struct bench_e64 e;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++) {
			bench_e64_fill(&e, i);
			while (!ck_ring_enqueue_spsc_e64(ring, buf, &e))
				bench_relax(&spins);
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			while (!ck_ring_dequeue_spsc_e64(ring, buf, &e))
				bench_relax(&spins);
			if (!bench_e64_ok(&e, i))
				return bench_fail(r, "item %llu: got seq %llu", (unsigned long long)i,
						  (unsigned long long)e.w[0]);
		}
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	munmap(base, len);
	return 0;
}

static int ckbatch_child(struct bench_run *r, int idx)
{
	size_t len = ck_len(r);
	char *base = bench_shm_map(r->seg[0], len);
	if (!base)
		return bench_fail(r, "cannot map the ck ring");
	struct ck_ring *ring = (struct ck_ring *)base;
	struct ck_ring_buffer *buf = (struct ck_ring_buffer *)(base + CK_HDR);
	const uint64_t n = r->n;
	unsigned spins = 0;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t b = 0; b < n; b += BENCH_BATCH)
			for (uint64_t i = b; i < b + BENCH_BATCH; i++)
				while (!ck_ring_enqueue_spsc(ring, buf, (const void *)(uintptr_t)i))
					bench_relax(&spins);
	} else {
		void *got[BENCH_BATCH];
		for (uint64_t b = 0; b < n; b += BENCH_BATCH) {
			for (unsigned j = 0; j < BENCH_BATCH; j++)
				while (!ck_ring_dequeue_spsc(ring, buf, &got[j]))
					bench_relax(&spins);
			for (unsigned j = 0; j < BENCH_BATCH; j++)
				if ((uint64_t)(uintptr_t)got[j] != b + j)
					return bench_fail(r, "item %llu: got %llu",
							  (unsigned long long)(b + j),
							  (unsigned long long)(uintptr_t)got[j]);
		}
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	munmap(base, len);
	return 0;
}

/* spsc-256-ck, spsc-1024-ck, spsc-4096-ck: the messages of wl_msg.c */
#define CK_MSG_CHILD(S)                                                                          \
	static int ck##S##_child(struct bench_run *r, int idx)                                   \
	{                                                                                        \
		size_t len = ck_len(r);                                                          \
		char *base = bench_shm_map(r->seg[0], len);                                      \
		if (!base)                                                                       \
			return bench_fail(r, "cannot map the ck ring");                          \
		struct ck_ring *ring = (struct ck_ring *)base;                                   \
		struct ck_m##S *buf = (struct ck_m##S *)(base + CK_HDR);                         \
		const uint64_t n = r->n;                                                         \
		unsigned spins = 0;                                                              \
		static struct ck_m##S e;                                                         \
		bench_start(r);                                                                  \
		if (idx == 0) {                                                                  \
			for (uint64_t i = 0; i < n; i++) {                                       \
				bench_msg_fill(&e, S, i);                                        \
				while (!ck_ring_enqueue_spsc_m##S(ring, buf, &e))                \
					bench_relax(&spins);                                     \
			}                                                                        \
		} else {                                                                         \
			for (uint64_t i = 0; i < n; i++) {                                       \
				while (!ck_ring_dequeue_spsc_m##S(ring, buf, &e))                \
					bench_relax(&spins);                                     \
				if (!bench_msg_ok(&e, S, i))                                     \
					return bench_fail(r, "message %llu: wrong contents",     \
							  (unsigned long long)i);        \
			}                                                                        \
			r->ctl->slot[1].count = n;                                               \
		}                                                                                \
		bench_stop(r);                                                                   \
		munmap(base, len);                                                               \
		return 0;                                                                        \
	}
CK_MSG_CHILD(256)
CK_MSG_CHILD(1024)
CK_MSG_CHILD(4096)

const struct bench_wl bench_wl_ck[] = {
	{ .name = "spsc-8-ck", .group = "competitor", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = ck_prepare, .child = ck8_child, .finish = bench_spsc_finish,
	  .cleanup = ck_cleanup },
	{ .name = "spsc-64-ck", .group = "competitor", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = ck_prepare, .child = ck64_child, .finish = bench_spsc_finish,
	  .cleanup = ck_cleanup },
	{ .name = "spsc-batch-8-ck", .group = "competitor", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = ck_prepare, .child = ckbatch_child, .finish = bench_spsc_finish,
	  .cleanup = ck_cleanup },
	{ .name = "spsc-256-ck", .group = "competitor", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = ck_prepare, .child = ck256_child, .finish = bench_msg_finish,
	  .cleanup = ck_cleanup },
	{ .name = "spsc-1024-ck", .group = "competitor", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = ck_prepare, .child = ck1024_child, .finish = bench_msg_finish,
	  .cleanup = ck_cleanup },
	{ .name = "spsc-4096-ck", .group = "competitor", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = ck_prepare, .child = ck4096_child, .finish = bench_msg_finish,
	  .cleanup = ck_cleanup },
	{ 0 }
};
