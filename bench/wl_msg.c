/* SPDX-License-Identifier: MIT */
/*
 * wl_msg.c - shmap SPSC rings at real message sizes.
 *
 * spsc-256, spsc-1024, spsc-4096   producer -> consumer through an SPSC ring
 *               of that element size (capacity 4096, or --capacity), one
 *               message per shmap_ring_push / shmap_ring_pop (the copy API):
 *               the producer writes the message's words into its buffer
 *               (bench_msg_fill), push copies it in, pop copies it out, the
 *               consumer checks it (bench_msg_ok).
 * spsc-64-zc, spsc-256-zc, ...   the same through the zero-copy calls, one
 *               message per call: the producer writes the words in place
 *               between shmap_ring_reserve(1) and shmap_ring_commit(1), the
 *               consumer checks them in place between shmap_ring_peek(1) and
 *               shmap_ring_release(1).
 * Both report messages/s (items_per_s) and GB/s (gb_per_s, 1e9 bytes). With
 * --elem-size every one of them moves messages of that size instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmap/shmap.h>

#include "bench.h"

static shmap_opts *msg_opts(void)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != 0)
		return NULL;
	shmap_opts_set_flags(o, SHMAP_OPT_PREFAULT);
	shmap_opts_set_timeout_ms(o, 10000);
	return o;
}

static int msg_prepare(struct bench_run *r)
{
	size_t size = bench_msg_size(r);
	uint64_t cap = bench_ring_cap(r->o);
	r->n = bench_msg_items(r->o, size, 0);
	bench_param_u64(r, "elem_size", size);
	bench_param_u64(r, "capacity", cap);
	bench_param_u64(r, "batch", 1);
	bench_param_str(r, "api", "%s", r->wl->variant ? "reserve/commit+peek/release" : "push/pop");
	shmap_opts *o = msg_opts();
	shmap_ring *ring = NULL;
	int rc = shmap_ring_open(r->seg[0], SHMAP_CREATE, SHMAP_RING_SPSC, (uint32_t)size, cap,
				 SHMAP_RING_PRODUCER, o, &ring);
	shmap_opts_free(o);
	if (rc != 0) {
		fprintf(stderr, "shmap-bench: %s: shmap_ring_open(create, %zu-byte elements, capacity %llu): %s\n",
			r->wl->name, size, (unsigned long long)cap, shmap_strerror(rc));
		return -1;
	}
	shmap_ring_close(ring);
	return 0;
}

static void msg_cleanup(struct bench_run *r)
{
	shmap_unlink(r->seg[0], NULL);
}

static int msg_attach(struct bench_run *r, int idx, shmap_ring **ring)
{
	shmap_opts *o = msg_opts();
	int rc = shmap_ring_open(r->seg[0], SHMAP_OPEN, 0, 0, 0,
				 idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, o, ring);
	shmap_opts_free(o);
	if (rc != 0)
		return bench_fail(r, "shmap_ring_open: %s", shmap_strerror(rc));
	return 0;
}

static int msg_copy_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (msg_attach(r, idx, &ring))
		return 1;
	const size_t size = bench_msg_size(r);
	const uint64_t n = r->n;
	uint64_t *buf = aligned_alloc(64, (size + 63) & ~(size_t)63);
	if (!buf)
		return bench_fail(r, "out of memory");
	memset(buf, 0, size);
	unsigned spins = 0;
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++) {
			bench_msg_fill(buf, size, i);
			while ((rc = shmap_ring_push(ring, buf)) != 0) {
				if (rc != SHMAP_E_FULL) {
					free(buf);
					return bench_fail(r, "push %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				}
				bench_relax(&spins);
			}
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			while ((rc = shmap_ring_pop(ring, buf)) != 0) {
				if (rc != SHMAP_E_EMPTY) {
					free(buf);
					return bench_fail(r, "pop %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				}
				bench_relax(&spins);
			}
			if (!bench_msg_ok(buf, size, i)) {
				uint64_t w0 = buf[0];
				free(buf);
				return bench_fail(r, "message %llu: wrong contents (first word %llu)",
						  (unsigned long long)i, (unsigned long long)w0);
			}
		}
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	free(buf);
	shmap_ring_close(ring);
	return 0;
}

static int msg_zc_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	if (msg_attach(r, idx, &ring))
		return 1;
	const size_t size = bench_msg_size(r);
	const uint64_t n = r->n;
	unsigned spins = 0;
	uint32_t got;
	int rc;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++) {
			void *p;
			while ((rc = shmap_ring_reserve(ring, 1, &p, &got)) != 0) {
				if (rc != SHMAP_E_FULL)
					return bench_fail(r, "reserve %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				bench_relax(&spins);
			}
			if (got != 1)
				return bench_fail(r, "reserve(1) gave %u slots", got);
			bench_msg_fill(p, size, i);
			if ((rc = shmap_ring_commit(ring, 1)) != 0)
				return bench_fail(r, "commit %llu: %s", (unsigned long long)i,
						  shmap_strerror(rc));
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			const void *p;
			while ((rc = shmap_ring_peek(ring, 1, &p, &got)) != 0) {
				if (rc != SHMAP_E_EMPTY)
					return bench_fail(r, "peek %llu: %s", (unsigned long long)i,
							  shmap_strerror(rc));
				bench_relax(&spins);
			}
			if (got != 1 || !bench_msg_ok(p, size, i))
				return bench_fail(r, "message %llu: wrong contents (first word %llu, %u)",
						  (unsigned long long)i,
						  (unsigned long long)*(const uint64_t *)p, got);
			if ((rc = shmap_ring_release(ring, 1)) != 0)
				return bench_fail(r, "release %llu: %s", (unsigned long long)i,
						  shmap_strerror(rc));
		}
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	shmap_ring_close(ring);
	return 0;
}

#define MSG_WL(nm, var, fn)                                                                       \
	{ .name = nm, .variant = var, .group = "ring", .cross = 1, .nprocs = bench_two_procs,     \
	  .prepare = msg_prepare, .child = fn, .finish = bench_msg_finish, .cleanup = msg_cleanup, \
	  .opts = BENCH_OPT_ELEM_SIZE | BENCH_OPT_CAPACITY }

const struct bench_wl bench_wl_msg[] = {
	MSG_WL("spsc-64", "zc", msg_zc_child),
	MSG_WL("spsc-256", NULL, msg_copy_child),
	MSG_WL("spsc-256", "zc", msg_zc_child),
	MSG_WL("spsc-1024", NULL, msg_copy_child),
	MSG_WL("spsc-1024", "zc", msg_zc_child),
	MSG_WL("spsc-4096", NULL, msg_copy_child),
	MSG_WL("spsc-4096", "zc", msg_zc_child),
	{ 0 }
};
