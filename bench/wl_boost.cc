// SPDX-License-Identifier: MIT
//
// wl_boost.cc - competitor: Boost.Lockfree's spsc_queue (Debian libboost-dev),
// run exactly like shmap's spsc workloads.
//
// Fair treatment: the queue uses its compile-time capacity form (4096
// elements stored inline, no heap pointer), so the whole object can live in
// a POSIX shared-memory object: the parent constructs it there with
// placement new, producer and consumer map the object (populated) after fork
// and use it in place, pinned to the same CPUs as shmap's rings, with the
// same element contents, the same spin policy and the same verification.
// spsc-batch-8-boost uses its native range push/pop (up to 64 per call).

#include <cstdint>
#include <cstring>
#include <new>
#include <sys/mman.h>

#include <boost/lockfree/spsc_queue.hpp>

extern "C" {
#include "bench.h"
}

namespace {

typedef boost::lockfree::spsc_queue<uint64_t, boost::lockfree::capacity<BENCH_RING_CAP>> q8_t;
typedef boost::lockfree::spsc_queue<bench_e64, boost::lockfree::capacity<BENCH_RING_CAP>> q64_t;

bool is64(const bench_run *r)
{
	return std::strstr(r->wl->name, "-64-") != nullptr;
}

bool isbatch(const bench_run *r)
{
	return std::strstr(r->wl->name, "batch") != nullptr;
}

size_t qlen(const bench_run *r)
{
	size_t s = is64(r) ? sizeof(q64_t) : sizeof(q8_t);
	return (s + 4095) & ~static_cast<size_t>(4095);
}

int boost_prepare(bench_run *r)
{
	bool e64 = is64(r), batch = isbatch(r);
	r->n = batch ? bench_batch_items(r->o) : bench_spsc_items(r->o, e64 ? 64 : 8);
	std::snprintf(r->params, sizeof r->params,
		      "\"elem_size\":%d,\"capacity\":%u,\"batch\":%u,\"impl\":\"boost::lockfree::spsc_queue %s\"",
		      e64 ? 64 : 8, BENCH_RING_CAP, batch ? BENCH_BATCH : 1u,
		      batch ? "range push/pop" : "push/pop");
	if (bench_shm_create(r->seg[0], qlen(r)) != 0)
		return -1;
	void *p = bench_shm_map(r->seg[0], qlen(r));
	if (!p)
		return -1;
	if (e64)
		new (p) q64_t();
	else
		new (p) q8_t();
	munmap(p, qlen(r));
	return 0;
}

void boost_cleanup(bench_run *r)
{
	bench_shm_unlink(r->seg[0]);
}

int boost8_child(bench_run *r, int idx)
{
	size_t len = qlen(r);
	void *p = bench_shm_map(r->seg[0], len);
	if (!p)
		return bench_fail(r, "cannot map the boost queue");
	q8_t *q = static_cast<q8_t *>(p);
	const uint64_t n = r->n;
	unsigned spins = 0;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++)
			while (!q->push(i))
				bench_relax(&spins);
	} else {
		for (uint64_t i = 0; i < n; i++) {
			uint64_t v;
			while (!q->pop(v))
				bench_relax(&spins);
			if (v != i)
				return bench_fail(r, "item %llu: got %llu", (unsigned long long)i,
						  (unsigned long long)v);
		}
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	munmap(p, len);
	return 0;
}

int boost64_child(bench_run *r, int idx)
{
	size_t len = qlen(r);
	void *p = bench_shm_map(r->seg[0], len);
	if (!p)
		return bench_fail(r, "cannot map the boost queue");
	q64_t *q = static_cast<q64_t *>(p);
	const uint64_t n = r->n;
	unsigned spins = 0;
	bench_e64 e;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++) {
			bench_e64_fill(&e, i);
			while (!q->push(e))
				bench_relax(&spins);
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			while (!q->pop(e))
				bench_relax(&spins);
			if (!bench_e64_ok(&e, i))
				return bench_fail(r, "item %llu: got seq %llu", (unsigned long long)i,
						  (unsigned long long)e.w[0]);
		}
		r->ctl->slot[1].count = n;
	}
	bench_stop(r);
	munmap(p, len);
	return 0;
}

int boostbatch_child(bench_run *r, int idx)
{
	size_t len = qlen(r);
	void *p = bench_shm_map(r->seg[0], len);
	if (!p)
		return bench_fail(r, "cannot map the boost queue");
	q8_t *q = static_cast<q8_t *>(p);
	const uint64_t n = r->n;
	unsigned spins = 0;
	uint64_t buf[BENCH_BATCH];
	bench_start(r);
	if (idx == 0) {
		for (uint64_t b = 0; b < n; b += BENCH_BATCH) {
			for (unsigned j = 0; j < BENCH_BATCH; j++)
				buf[j] = b + j;
			size_t done = 0;
			while (done < BENCH_BATCH) {
				size_t k = q->push(buf + done, BENCH_BATCH - done);
				if (k == 0)
					bench_relax(&spins);
				done += k;
			}
		}
	} else {
		uint64_t next = 0;
		while (next < n) {
			size_t k = q->pop(buf, BENCH_BATCH);
			if (k == 0) {
				bench_relax(&spins);
				continue;
			}
			for (size_t j = 0; j < k; j++)
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
	munmap(p, len);
	return 0;
}

} // namespace

extern "C" {
extern const struct bench_wl bench_wl_boost[];
const struct bench_wl bench_wl_boost[] = {
	{ "spsc-8-boost", nullptr, "competitor", 1, bench_two_procs, nullptr, boost_prepare,
	  boost8_child, bench_spsc_finish, boost_cleanup, nullptr, 0 },
	{ "spsc-64-boost", nullptr, "competitor", 1, bench_two_procs, nullptr, boost_prepare,
	  boost64_child, bench_spsc_finish, boost_cleanup, nullptr, 0 },
	{ "spsc-batch-8-boost", nullptr, "competitor", 1, bench_two_procs, nullptr, boost_prepare,
	  boostbatch_child, bench_spsc_finish, boost_cleanup, nullptr, 0 },
	{ nullptr, nullptr, nullptr, 0, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0 },
};
}
