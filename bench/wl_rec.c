/* SPDX-License-Identifier: MIT */
/*
 * wl_rec.c - variable-length messages between two processes.
 *
 * Each workload moves the same stream: message i has a length uniform in
 * [lo, hi] drawn from a PRNG both sides seed alike, starts with i (8
 * bytes) and ends with the byte (uint8_t)i; the consumer checks the
 * length and both marks of every message. Blocking calls on both sides.
 *
 * spsc-var-small / spsc-var-large (16-256 B / 64-4096 B): a record ring
 *     (shmap_ring_open_rec, SPSC) of 256 KiB / 4 MiB,
 *     shmap_ring_push_rec_wait / shmap_ring_pop_rec_wait.
 * spsc-fixed-var-small / -large: the fixed-slot way: an SPSC ring of 1024
 *     slots of (largest + 4) bytes, the message behind a 4-byte length,
 *     shmap_ring_push_bytes_wait (zero-pads the slot) / shmap_ring_pop_wait.
 * seqpacket-var-small / -large: the same messages through a
 *     SOCK_SEQPACKET socket pair (blocking send/recv).
 * Metrics: items_per_s (messages) and payload_gb_s (message bytes, 1e9).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <shmap/shmap.h>

#include "bench.h"

#define REC_SMALL_LO 16u
#define REC_SMALL_HI 256u
#define REC_LARGE_LO 64u
#define REC_LARGE_HI 4096u
#define REC_SEED 0x7ec0de5eedULL
#define REC_FIXED_SLOTS 1024u

static int g_sp[2] = { -1, -1 }; /* seqpacket pair, inherited by the children */

static int rec_large(const struct bench_run *r)
{
	return strstr(r->wl->name, "-large") != NULL;
}

static void rec_range(const struct bench_run *r, uint32_t *lo, uint32_t *hi)
{
	*lo = rec_large(r) ? REC_LARGE_LO : REC_SMALL_LO;
	*hi = rec_large(r) ? REC_LARGE_HI : REC_SMALL_HI;
}

static inline uint32_t rec_next_len(uint64_t *rs, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)bench_below(rs, hi - lo + 1);
}

static inline void rec_mark(uint8_t *m, uint64_t i, uint32_t len)
{
	memcpy(m, &i, 8);
	m[len - 1] = (uint8_t)i;
}

static inline int rec_marked(const uint8_t *m, uint64_t i, uint32_t len)
{
	uint64_t v;
	memcpy(&v, m, 8);
	return v == i && m[len - 1] == (uint8_t)i;
}

static shmap_opts *rec_opts(void)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != 0)
		return NULL;
	shmap_opts_set_flags(o, SHMAP_OPT_PREFAULT);
	shmap_opts_set_timeout_ms(o, 10000);
	return o;
}

static int rec_prepare(struct bench_run *r)
{
	uint32_t lo, hi;
	rec_range(r, &lo, &hi);
	r->n = (r->o->quick ? 100000u : 1000000u) / (rec_large(r) ? 2u : 1u);
	int rc = 0;
	shmap_ring *ring = NULL;
	shmap_opts *o = rec_opts();
	const char *api;
	if (strncmp(r->wl->name, "spsc-var", 8) == 0) {
		uint64_t cap = rec_large(r) ? 4u << 20 : 256u << 10;
		rc = shmap_ring_open_rec(r->seg[0], SHMAP_CREATE, SHMAP_RING_SPSC, hi, cap,
					 SHMAP_RING_PRODUCER, o, &ring);
		api = "push_rec_wait/pop_rec_wait";
		bench_param_str(r, "sizes", "%u-%u", lo, hi);
		bench_param_u64(r, "capacity_bytes", cap);
		bench_param_str(r, "api", "%s", api);
	} else if (strncmp(r->wl->name, "spsc-fixed", 10) == 0) {
		rc = shmap_ring_open(r->seg[0], SHMAP_CREATE, SHMAP_RING_SPSC, hi + 4u, REC_FIXED_SLOTS,
				     SHMAP_RING_PRODUCER, o, &ring);
		api = "push_bytes_wait/pop_wait, 4-byte length prefix";
		bench_param_str(r, "sizes", "%u-%u", lo, hi);
		bench_param_u64(r, "elem_size", hi + 4u);
		bench_param_u64(r, "capacity", REC_FIXED_SLOTS);
		bench_param_str(r, "api", "%s", api);
	} else {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, g_sp) != 0) {
			fprintf(stderr, "shmap-bench: socketpair: %s\n", strerror(errno));
			rc = -1;
		}
		bench_param_str(r, "sizes", "%u-%u", lo, hi);
		bench_param_str(r, "api", "send/recv SOCK_SEQPACKET");
	}
	shmap_opts_free(o);
	if (ring)
		shmap_ring_close(ring);
	if (rc != 0 && rc != -1)
		fprintf(stderr, "shmap-bench: %s: create: %s\n", r->wl->name, shmap_strerror(rc));
	return rc == 0 ? 0 : -1;
}

static void rec_cleanup(struct bench_run *r)
{
	shmap_unlink(r->seg[0], NULL);
	for (int i = 0; i < 2; i++) {
		if (g_sp[i] >= 0)
			close(g_sp[i]);
		g_sp[i] = -1;
	}
}

static int rec_attach(struct bench_run *r, int idx, shmap_ring **ring)
{
	shmap_opts *o = rec_opts();
	uint32_t role = idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER;
	int rc = strncmp(r->wl->name, "spsc-var", 8) == 0
			 ? shmap_ring_open_rec(r->seg[0], SHMAP_OPEN, 0, 0, 0, role, o, ring)
			 : shmap_ring_open(r->seg[0], SHMAP_OPEN, 0, 0, 0, role, o, ring);
	shmap_opts_free(o);
	if (rc != 0)
		return bench_fail(r, "open %s: %s", r->seg[0], shmap_strerror(rc));
	return 0;
}

/* Producer and consumer of one workload; `kind` 0 record ring, 1 fixed slots, 2 seqpacket. */
static int rec_child_kind(struct bench_run *r, int idx, int kind)
{
	uint32_t lo, hi;
	rec_range(r, &lo, &hi);
	shmap_ring *ring = NULL;
	if (kind < 2 && rec_attach(r, idx, &ring))
		return 1;
	if (kind == 2)
		close(g_sp[idx == 0 ? 1 : 0]);
	int fd = g_sp[idx == 0 ? 0 : 1];
	uint8_t *buf = calloc(1, hi + 8u);
	if (!buf)
		return bench_fail(r, "out of memory");
	uint64_t rs = REC_SEED, bytes = 0;
	const uint64_t n = r->n;
	int rc = 0;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++) {
			uint32_t len = rec_next_len(&rs, lo, hi);
			if (kind == 0) {
				rec_mark(buf, i, len);
				rc = shmap_ring_push_rec_wait(ring, buf, len, 10000);
			} else if (kind == 1) {
				memcpy(buf, &len, 4);
				rec_mark(buf + 4, i, len);
				rc = shmap_ring_push_bytes_wait(ring, buf, len + 4u, 10000);
			} else {
				rec_mark(buf, i, len);
				ssize_t w = send(fd, buf, len, 0);
				rc = w == (ssize_t)len ? 0 : -1;
			}
			if (rc != 0)
				return bench_fail(r, "push %llu: %s", (unsigned long long)i,
						  rc == -1 ? strerror(errno) : shmap_strerror(rc));
			bytes += len;
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			uint32_t want = rec_next_len(&rs, lo, hi), len = 0;
			const uint8_t *m = buf;
			if (kind == 0) {
				rc = shmap_ring_pop_rec_wait(ring, buf, hi, &len, 10000);
			} else if (kind == 1) {
				rc = shmap_ring_pop_wait(ring, buf, 10000);
				memcpy(&len, buf, 4);
				m = buf + 4;
			} else {
				ssize_t g = recv(fd, buf, hi, 0);
				rc = g > 0 ? 0 : -1;
				len = g > 0 ? (uint32_t)g : 0;
			}
			if (rc != 0)
				return bench_fail(r, "pop %llu: %s", (unsigned long long)i,
						  rc == -1 ? strerror(errno) : shmap_strerror(rc));
			if (len != want || !rec_marked(m, i, len))
				return bench_fail(r, "message %llu: length %u (expected %u) or contents wrong",
						  (unsigned long long)i, len, want);
			bytes += len;
		}
		r->ctl->slot[1].count = n;
		r->ctl->slot[1].u[0] = bytes;
	}
	bench_stop(r);
	free(buf);
	if (ring)
		shmap_ring_close(ring);
	if (kind == 2)
		close(fd);
	return 0;
}

static int rec_child(struct bench_run *r, int idx)
{
	return rec_child_kind(r, idx, 0);
}

static int fixed_child(struct bench_run *r, int idx)
{
	return rec_child_kind(r, idx, 1);
}

static int seqp_child(struct bench_run *r, int idx)
{
	return rec_child_kind(r, idx, 2);
}

static int rec_finish(struct bench_run *r)
{
	if (bench_spsc_finish(r))
		return 1;
	double s = bench_span_s(r, 0, 2);
	bench_metric(r, "payload_gb_s", (double)r->ctl->slot[1].u[0] / s / 1e9);
	return 0;
}

#define REC_WL(nm, fn)                                                                         \
	{ .name = nm, .group = "ring", .cross = 1, .nprocs = bench_two_procs,                  \
	  .prepare = rec_prepare, .child = fn, .finish = rec_finish, .cleanup = rec_cleanup }

const struct bench_wl bench_wl_rec[] = {
	REC_WL("spsc-var-small", rec_child),
	REC_WL("spsc-fixed-var-small", fixed_child),
	REC_WL("seqpacket-var-small", seqp_child),
	REC_WL("spsc-var-large", rec_child),
	REC_WL("spsc-fixed-var-large", fixed_child),
	REC_WL("seqpacket-var-large", seqp_child),
	{ 0 }
};
