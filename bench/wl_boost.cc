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

// message-size workloads (the messages of wl_msg.c): one queue type per size
template <size_t S> struct msg_t {
	uint64_t w[S / 8];
};
template <size_t S> using qm_t = boost::lockfree::spsc_queue<msg_t<S>, boost::lockfree::capacity<BENCH_RING_CAP>>;

bool is64(const bench_run *r)
{
	return std::strstr(r->wl->name, "-64-") != nullptr;
}

bool isbatch(const bench_run *r)
{
	return std::strstr(r->wl->name, "batch") != nullptr;
}

// message size of the message-size workloads, 0 for the others
size_t msgsize(const bench_run *r)
{
	size_t m = bench_msg_size(r);
	return m > 64 ? m : 0;
}

size_t qlen(const bench_run *r)
{
	size_t s;
	switch (msgsize(r)) {
	case 256: s = sizeof(qm_t<256>); break;
	case 1024: s = sizeof(qm_t<1024>); break;
	case 4096: s = sizeof(qm_t<4096>); break;
	default: s = is64(r) ? sizeof(q64_t) : sizeof(q8_t); break;
	}
	return (s + 4095) & ~static_cast<size_t>(4095);
}

int boost_prepare(bench_run *r)
{
	bool e64 = is64(r), batch = isbatch(r);
	size_t m = msgsize(r);
	r->n = batch ? bench_batch_items(r->o)
	     : m ? bench_msg_items(r->o, m, 0) : bench_spsc_items(r->o, e64 ? 64 : 8);
	bench_param_u64(r, "elem_size", m ? m : e64 ? (size_t)64 : (size_t)8);
	bench_param_u64(r, "capacity", BENCH_RING_CAP);
	bench_param_u64(r, "batch", batch ? BENCH_BATCH : 1u);
	bench_param_str(r, "impl", "boost::lockfree::spsc_queue %s", batch ? "range push/pop" : "push/pop");
	if (bench_shm_create(r->seg[0], qlen(r)) != 0)
		return -1;
	void *p = bench_shm_map(r->seg[0], qlen(r));
	if (!p)
		return -1;
	switch (m) {
	case 256: new (p) qm_t<256>(); break;
	case 1024: new (p) qm_t<1024>(); break;
	case 4096: new (p) qm_t<4096>(); break;
	default:
		if (e64)
			new (p) q64_t();
		else
			new (p) q8_t();
	}
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

// spsc-256-boost, spsc-1024-boost, spsc-4096-boost
template <size_t S> int boostmsg_child(bench_run *r, int idx)
{
	size_t len = qlen(r);
	void *p = bench_shm_map(r->seg[0], len);
	if (!p)
		return bench_fail(r, "cannot map the boost queue");
	qm_t<S> *q = static_cast<qm_t<S> *>(p);
	const uint64_t n = r->n;
	unsigned spins = 0;
	static msg_t<S> e;
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++) {
			bench_msg_fill(&e, S, i);
			while (!q->push(e))
				bench_relax(&spins);
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			while (!q->pop(e))
				bench_relax(&spins);
			if (!bench_msg_ok(&e, S, i))
				return bench_fail(r, "message %llu: wrong contents", (unsigned long long)i);
		}
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
	  boost8_child, bench_spsc_finish, boost_cleanup, nullptr, 0, 0 },
	{ "spsc-64-boost", nullptr, "competitor", 1, bench_two_procs, nullptr, boost_prepare,
	  boost64_child, bench_spsc_finish, boost_cleanup, nullptr, 0, 0 },
	{ "spsc-batch-8-boost", nullptr, "competitor", 1, bench_two_procs, nullptr, boost_prepare,
	  boostbatch_child, bench_spsc_finish, boost_cleanup, nullptr, 0, 0 },
	{ "spsc-256-boost", nullptr, "competitor", 1, bench_two_procs, nullptr, boost_prepare,
	  boostmsg_child<256>, bench_msg_finish, boost_cleanup, nullptr, 0, 0 },
	{ "spsc-1024-boost", nullptr, "competitor", 1, bench_two_procs, nullptr, boost_prepare,
	  boostmsg_child<1024>, bench_msg_finish, boost_cleanup, nullptr, 0, 0 },
	{ "spsc-4096-boost", nullptr, "competitor", 1, bench_two_procs, nullptr, boost_prepare,
	  boostmsg_child<4096>, bench_msg_finish, boost_cleanup, nullptr, 0, 0 },
	{ nullptr, nullptr, nullptr, 0, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 0 },
};
}
