/* SPDX-License-Identifier: MIT */
/*
 * ring_spsc-internal.h - the SPSC ring's algorithm steps, inline: the one
 * implementation of publishing, releasing and following start words, used
 * by the single-element fast paths inlined into shmap_ring_push/pop
 * (ring.c) and by every other SPSC call (ring_spsc.c, which wraps them).
 * The protocol is described at the top of ring_spsc.c.
 */
#ifndef SHMAP_RING_SPSC_INTERNAL_H
#define SHMAP_RING_SPSC_INTERNAL_H

#include "ring-internal.h"

/* One element through push_n/pop_n (the fast paths' slow cases), and one
 * element of another size than 8 or 64 at a position known free/published
 * (ring_spsc.c). */
int shmap__spsc_push1_slow(struct shmap_ring *r, const void *src);
int shmap__spsc_pop1_slow(struct shmap_ring *r, void *dst);
int shmap__spsc_push1_any(struct shmap_ring *r, uint64_t p, const void *src);
int shmap__spsc_pop1_any(struct shmap_ring *r, uint64_t c, void *dst);

/*
 * Producer: publish the run [p, p + k) whose elements are written. Returns
 * nonzero if a consumer sleeps: the caller wakes it (shmap__ring_wake_data,
 * a tail call on the fast path).
 */
__attribute__((always_inline)) static inline int spsc_publish(struct shmap_ring *r, uint64_t p, uint64_t k)
{
	/* R1: release, pairs with A2 in spsc_ready()/spsc_follow()/
	 * ring_spsc_pop1(): the elements' bytes are visible before the run's
	 * start word. One store publishes the whole run. */
	shmap__atomic_store_release_u64(&r->seq[p & r->mask], p + k);
	SHMAP_FAILPOINT("ring.spsc.push.published");
	r->pos = p + k;
	/* R1b: release, pairs with the acquire loads of head at the consumer's
	 * attach and in the SPSC read_at; own cache line, not read on the
	 * consumer's fast path. */
	shmap__atomic_store_release_u64(&r->ctl->head, p + k);
	return shmap_unlikely(ring_sleepers(&r->ctl->cons_sleepers));
}

/*
 * Consumer: the elements of [c, c + k) are copied out: give their slots
 * back. Returns nonzero if the producer sleeps (the caller wakes it).
 */
__attribute__((always_inline)) static inline int spsc_consumed(struct shmap_ring *r, uint64_t c, uint64_t k)
{
	r->pos = c + k;
	/* R2: release, pairs with A1 in spsc_free() and the acquire load of
	 * tail in the SPSC ready probe: our reads of the elements complete
	 * before the producer may overwrite them. */
	shmap__atomic_store_release_u64(&r->ctl->tail, c + k);
	SHMAP_FAILPOINT("ring.spsc.pop.released");
	return shmap_unlikely(ring_sleepers(&r->ctl->prod_sleeping));
}

/*
 * Consumer look-ahead: s is the end of a publication known to the consumer
 * at c, read from the start word at `last` (its line just fetched). Follow
 * the start words that lie in that same line, so that a consumer behind
 * the producer touches the start-word line once per line, not once per
 * element, and never reaches into the next line (which may be the one the
 * producer is writing). Each word is checked as the first (beyond s, at
 * most a ring's worth beyond c); s grows strictly, so at most 7 loads.
 * Returns the new end.
 */
__attribute__((always_inline)) static inline uint64_t spsc_follow(const struct shmap_ring *r, uint64_t c,
								  uint64_t last, uint64_t s)
{
	while (((s ^ last) & ~UINT64_C(7)) == 0 && s - c < r->cap) {
		/* A2: acquire, pairs with R1 in spsc_publish() of the run starting at s. */
		uint64_t s2 = shmap__atomic_load_acquire_u64(&r->seq[s & r->mask]);
		if (s2 <= s || s2 - c > r->cap)
			break;
		s = s2;
	}
	return s;
}

/*
 * The slow and wake-up exits of the fast paths below, each followed by the
 * SIGBUS guard's check on the way out (shmap__seg_leave()), out of line so
 * that the fast paths reach them with a tail call and need no stack frame.
 */
#define RING_LEAVE_EXIT(name, call, ...)                                                            \
	static __attribute__((noinline, unused)) int name(struct shmap_ring *r, __VA_ARGS__)         \
	{                                                                                           \
		return shmap__seg_leave(&r->seg, call);                                             \
	}
RING_LEAVE_EXIT(ring_push1_slow_leave, shmap__spsc_push1_slow(r, src), const void *src)
RING_LEAVE_EXIT(ring_push1_any_leave, shmap__spsc_push1_any(r, p, src), uint64_t p, const void *src)
RING_LEAVE_EXIT(ring_pop1_slow_leave, shmap__spsc_pop1_slow(r, dst), void *dst)
RING_LEAVE_EXIT(ring_pop1_any_leave, shmap__spsc_pop1_any(r, c, dst), uint64_t c, void *dst)
static __attribute__((noinline, unused)) int ring_wake_data_leave(struct shmap_ring *r)
{
	return shmap__seg_leave(&r->seg, shmap__ring_wake_data(r));
}
static __attribute__((noinline, unused)) int ring_wake_space_leave(struct shmap_ring *r)
{
	return shmap__seg_leave(&r->seg, shmap__ring_wake_space(r));
}

/*
 * SPSC streaming look-ahead (single elements of up to 256 bytes): ask now
 * for the lines of the element at pos + d (about 256 bytes further on), so
 * that several line transfers between the CPUs are in flight at once
 * instead of one per call. Only a position the caller already owns is
 * touched: the producer prefetches, for writing, a slot below its lim (one
 * the consumer has released); the consumer prefetches a slot below its lim
 * (published, and not written again before the consumer releases it). A
 * prefetch reads nothing into any result; only private fields (lim, mask,
 * esize) decide the address.
 */
static inline void ring_spsc_ahead(const struct shmap_ring *r, uint64_t pos, uint64_t d, uint32_t es,
				   int write)
{
	if (pos + d >= r->lim)
		return;
	const uint8_t *s = ring_slot(r, pos + d);
	for (uint32_t off = 0; off < es; off += SHMAP_CACHELINE) {
		if (write)
			__builtin_prefetch(s + off, 1);
		else
			__builtin_prefetch(s + off, 0);
	}
}

/*
 * SPSC single-element fast paths, inlined into shmap_ring_push/pop (and
 * nowhere else is hot: the caller's gate and this path are one leaf
 * function). The slot known free/ready, they copy 8- and 64-byte elements
 * here and publish/release with the steps above; everything else (probing,
 * EMPTY/FULL, CORRUPT, other sizes) goes to ring_spsc.c.
 */
__attribute__((always_inline)) static inline int ring_spsc_push1(struct shmap_ring *r, const void *src)
{
	uint64_t p = r->pos;
	if (shmap_unlikely(p >= r->lim))
		return ring_push1_slow_leave(r, src);
	if (shmap_likely(r->esize == 8)) {
		memcpy(ring_slot(r, p), src, 8);
	} else if (r->esize == 64) {
		ring_spsc_ahead(r, p, 4, 64, 1);
		ring_copy_in_w8(ring_slot(r, p), src, 64);
	} else {
		return ring_push1_any_leave(r, p, src);
	}
	SHMAP_FAILPOINT("ring.spsc.push.copied");
	if (spsc_publish(r, p, 1))
		return ring_wake_data_leave(r); /* the wake-up a tail call */
	/* the SIGBUS guard's check on the way out (segment-internal.h) */
	return shmap__seg_leave(&r->seg, SHMAP_OK);
}

__attribute__((always_inline)) static inline int ring_spsc_pop1(struct shmap_ring *r, void *dst)
{
	uint64_t c = r->pos;
	if (c >= r->lim) {
		/* Ask for the element's line together with the start word's:
		 * a consumer waiting for the producer then gets both lines in
		 * one transfer time, not one after the other (the copy below
		 * runs only after the start word said "published"). A
		 * prefetch reads nothing into the result. */
		__builtin_prefetch(ring_slot(r, c));
		/* A2: acquire, pairs with R1 in spsc_publish(): the publication
		 * starting at c (its start word says where it ends) is written
		 * before it. */
		uint64_t s = shmap__atomic_load_acquire_u64(&r->seq[c & r->mask]);
		if (s <= c || s - c > r->cap)
			return ring_pop1_slow_leave(r, dst); /* EMPTY or CORRUPT */
		r->lim = spsc_follow(r, c, c, s);
	}
	if (shmap_likely(r->esize == 8)) {
		memcpy(dst, ring_slot(r, c), 8);
	} else if (r->esize == 64) {
		ring_spsc_ahead(r, c, 4, 64, 0);
		memcpy(dst, ring_slot(r, c), 64);
	} else {
		return ring_pop1_any_leave(r, c, dst);
	}
	SHMAP_FAILPOINT("ring.spsc.pop.copied");
	if (spsc_consumed(r, c, 1))
		return ring_wake_space_leave(r); /* the wake-up a tail call */
	/* the SIGBUS guard's check on the way out (segment-internal.h) */
	return shmap__seg_leave(&r->seg, SHMAP_OK);
}

#endif /* SHMAP_RING_SPSC_INTERNAL_H */
