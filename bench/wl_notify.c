/* SPDX-License-Identifier: MIT */
/*
 * wl_notify.c - a ring consumer in an event loop (shmap_ring_notify_fd).
 *
 * spsc-notify        producer -> consumer, 8-byte sequence numbers, capacity
 *                    4096. The producer pushes as fast as it can (spinning on
 *                    FULL, as spsc-8 does); the consumer waits in epoll on its
 *                    ring descriptor, drains until EMPTY, re-arms. Metrics:
 *                    items_per_s (compare spsc-8), wakes_per_kitem (epoll
 *                    returns per 1000 items: how often the consumer slept).
 * spsc-notify-paced  the producer pushes one item every 50 us (its push time
 *                    as the value), so the consumer goes back to sleep before
 *                    each; wake_p50_ns / wake_p99_ns: push to the consumer
 *                    having the item, through the descriptor.
 * spsc-notify-popwait the same pacing with the consumer in
 *                    shmap_ring_pop_wait() (the futex wait the descriptor's
 *                    waiter thread uses): what the extra hop costs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <shmap/shmap.h>

#include "bench.h"

#define PACE_NS 50000u

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int paced(const struct bench_run *r)
{
	return r->wl->variant != NULL;
}

static int popwait(const struct bench_run *r)
{
	return r->wl->variant && strcmp(r->wl->variant, "popwait") == 0;
}

static uint64_t nt_count(const struct bench_run *r)
{
	return paced(r) ? (r->o->quick ? 2000u : 20000u) : (r->o->quick ? 2000000u : 20000000u);
}

static size_t nt_extra(struct bench_run *r)
{
	return paced(r) ? (size_t)nt_count(r) * sizeof(double) : 0;
}

static int nt_prepare(struct bench_run *r)
{
	r->n = nt_count(r);
	bench_param_u64(r, "elem_size", 8);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_str(r, "consumer", "%s", popwait(r) ? "pop_wait" : "epoll");
	bench_param_u64(r, "pace_ns", paced(r) ? PACE_NS : 0u);
	shmap_ring *ring = NULL;
	int rc = shmap_ring_open(r->seg[0], SHMAP_CREATE, SHMAP_RING_SPSC, 8, BENCH_RING_CAP,
				 SHMAP_RING_PRODUCER, NULL, &ring);
	if (rc != 0) {
		fprintf(stderr, "shmap-bench: %s: shmap_ring_open: %s\n", r->wl->name, shmap_strerror(rc));
		return -1;
	}
	shmap_ring_close(ring);
	return 0;
}

static int nt_producer(struct bench_run *r, shmap_ring *ring)
{
	unsigned spins = 0;
	int rc;
	for (uint64_t i = 0; i < r->n; i++) {
		uint64_t v = i;
		if (paced(r)) {
			uint64_t due = now_ns() + PACE_NS;
			while (now_ns() < due)
				;
			v = now_ns();
		}
		while ((rc = shmap_ring_push(ring, &v)) != 0) {
			if (rc != SHMAP_E_FULL)
				return bench_fail(r, "push %llu: %s", (unsigned long long)i, shmap_strerror(rc));
			bench_relax(&spins);
		}
	}
	return 0;
}

static int nt_consumer(struct bench_run *r, shmap_ring *ring)
{
	double *lat = r->extra;
	uint64_t got = 0, wakes = 0, v;
	int rc;
	if (popwait(r)) {
		while (got < r->n) {
			rc = shmap_ring_pop_wait(ring, &v, 10000);
			if (rc != 0)
				return bench_fail(r, "pop_wait: %s", shmap_strerror(rc));
			lat[got++] = (double)(now_ns() - v);
		}
		r->ctl->slot[1].count = got;
		return 0;
	}
	int fd, ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || shmap_ring_notify_fd(ring, &fd) != 0)
		return bench_fail(r, "epoll/notify_fd setup failed");
	struct epoll_event ev = { .events = EPOLLIN };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		return bench_fail(r, "epoll_ctl failed");
	while (got < r->n) {
		if (epoll_wait(ep, &ev, 1, 10000) != 1)
			return bench_fail(r, "no wake-up in 10 s after %llu items", (unsigned long long)got);
		wakes++;
		while ((rc = shmap_ring_pop(ring, &v)) == 0) {
			if (paced(r)) {
				lat[got] = (double)(now_ns() - v);
			} else if (v != got) {
				return bench_fail(r, "item %llu: got %llu", (unsigned long long)got,
						  (unsigned long long)v);
			}
			got++;
		}
		if (rc != SHMAP_E_EMPTY)
			return bench_fail(r, "pop: %s", shmap_strerror(rc));
		if ((rc = shmap_ring_notify_arm(ring)) != 0)
			return bench_fail(r, "notify_arm: %s", shmap_strerror(rc));
	}
	close(ep);
	r->ctl->slot[1].count = got;
	r->ctl->slot[1].u[0] = wakes;
	return 0;
}

static int nt_child(struct bench_run *r, int idx)
{
	shmap_ring *ring;
	int rc = shmap_ring_open(r->seg[0], SHMAP_OPEN, 0, 0, 0,
				 idx == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, NULL, &ring);
	if (rc != 0)
		return bench_fail(r, "shmap_ring_open: %s", shmap_strerror(rc));
	bench_start(r);
	rc = idx == 0 ? nt_producer(r, ring) : nt_consumer(r, ring);
	bench_stop(r);
	shmap_ring_close(ring);
	return rc;
}

static int nt_finish(struct bench_run *r)
{
	struct bench_slot *c = &r->ctl->slot[1];
	if (c->count != r->n)
		return bench_fail(r, "consumer received %llu items, expected %llu",
				  (unsigned long long)c->count, (unsigned long long)r->n);
	if (!paced(r)) {
		bench_metric(r, "items_per_s", (double)r->n / bench_span_s(r, 0, 2));
		bench_metric(r, "wakes_per_kitem", (double)c->u[0] * 1000.0 / (double)r->n);
		return 0;
	}
	double *lat = r->extra;
	bench_sort(lat, (size_t)r->n);
	bench_metric(r, "wake_p50_ns", bench_pct(lat, (size_t)r->n, 0.50));
	bench_metric(r, "wake_p99_ns", bench_pct(lat, (size_t)r->n, 0.99));
	return 0;
}

static void nt_cleanup(struct bench_run *r)
{
	shmap_unlink(r->seg[0], NULL);
}

const struct bench_wl bench_wl_notify[] = {
	{ .name = "spsc-notify", .group = "ring", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = nt_prepare, .child = nt_child, .finish = nt_finish, .cleanup = nt_cleanup },
	{ .name = "spsc-notify", .variant = "paced", .group = "ring", .cross = 1,
	  .nprocs = bench_two_procs, .extra_bytes = nt_extra, .prepare = nt_prepare,
	  .child = nt_child, .finish = nt_finish, .cleanup = nt_cleanup },
	{ .name = "spsc-notify", .variant = "popwait", .group = "ring", .cross = 1,
	  .nprocs = bench_two_procs, .extra_bytes = nt_extra, .prepare = nt_prepare,
	  .child = nt_child, .finish = nt_finish, .cleanup = nt_cleanup },
	{ 0 }
};
