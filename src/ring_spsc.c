/* SPDX-License-Identifier: MIT */
/*
 * ring_spsc.c - single-producer single-consumer ring.
 *
 * Design notes
 * ------------
 * Forward channel: per-slot sequence words, written by the producer only.
 * The producer owns position `pos` privately and publishes each element by
 * a release store of seq = pos + 1; the consumer reads the element once it
 * sees seq == c + 1. There is no head index on the fast path (`head` is
 * written to the producer's own cache line for takeover and inspection
 * only), so a consumer that lags reads one sequence line per 8 elements
 * and never touches a line the producer is writing to find out how far it
 * may read.
 *
 * Back channel: the consumer's `tail` (its own cache line), stored with
 * release after the elements were copied out (the consumer never reads a
 * slot after releasing it: the original's bug). The producer caches the
 * tail it last read in `lim` (= tail + cap, the first position it may not
 * write) and re-reads tail only when it reaches lim, i.e. at most once per
 * `cap` elements while the consumer keeps up. So the sequence lines have a
 * single writer (the producer) and the tail line a single writer (the
 * consumer): no line is written by both sides.
 *
 * Invariants (quiescent): tail <= head <= tail + cap; every slot holds 0
 * (never written) or seq == q + 1 for a position q it represents
 * (q == slot mod cap); positions in [tail, head) are published.
 *
 * Crash behaviour:
 *   producer killed after the data copy, before publishing: the element
 *     never existed; a new producer overwrites the slot.
 *   producer killed after publishing, before storing head: the takeover
 *     scan (shmap__ring_repair_head) walks past published slots.
 *   consumer killed after copying, before storing tail: the elements stay
 *     in the ring and the next consumer reads them again (at-least-once for
 *     the elements of that one call). After the tail store they are
 *     consumed.
 */
#include "ring-internal.h"

void shmap__ring_copy_in_n(const struct shmap_ring *r, uint64_t pos, const void *src, uint64_t k)
{
	uint64_t i = pos & r->mask;
	uint64_t first = r->cap - i < k ? r->cap - i : k;
	memcpy(r->data + (size_t)i * r->esize, src, (size_t)first * r->esize);
	if (first < k)
		memcpy(r->data, (const uint8_t *)src + (size_t)first * r->esize,
		       (size_t)(k - first) * r->esize);
}

void shmap__ring_copy_out_n(const struct shmap_ring *r, uint64_t pos, void *dst, uint64_t k)
{
	uint64_t i = pos & r->mask;
	uint64_t first = r->cap - i < k ? r->cap - i : k;
	memcpy(dst, r->data + (size_t)i * r->esize, (size_t)first * r->esize);
	if (first < k)
		memcpy((uint8_t *)dst + (size_t)first * r->esize, r->data,
		       (size_t)(k - first) * r->esize);
}

/*
 * Producer: how many of positions [p, p + want) are free (0..want), want <= cap.
 * Sets *bad when the consumer's tail is not in [head - cap, head].
 */
static inline uint64_t spsc_free(struct shmap_ring *r, uint64_t p, uint64_t want, int *bad)
{
	if (shmap_likely(p + want <= r->lim))
		return want;
	/* A1: acquire, pairs with R2 in spsc_consumed()/ring_spsc_pop1(): the
	 * consumer finished reading every slot below tail. */
	uint64_t t = shmap_atomic_load_acquire_u64(&r->ctl->tail);
	if (t > p || p - t > r->cap) {
		*bad = 1; /* hostile or corrupt tail: refuse to overwrite anything */
		return 0;
	}
	r->lim = t + r->cap;
	return p + want <= r->lim ? want : r->lim - p;
}

/*
 * Consumer: how many of positions [c, c + want) are published (0..want).
 * Unlike the producer it does not probe far ahead: when it keeps up with
 * the producer, a line ahead is one the producer is about to write, and
 * reading it early would cost an extra transfer per poll. It reads slot c,
 * then the rest of c's cache line of sequence words (already fetched), and
 * further lines only when the caller asked for that many.
 */
static inline uint64_t spsc_ready(struct shmap_ring *r, uint64_t c, uint64_t want, int *bad)
{
	if (shmap_likely(c + want <= r->lim))
		return want;
	if (r->lim < c)
		r->lim = c;
	uint64_t line_end = (c | 7u) + 1; /* 8 sequence words per 64-byte line */
	uint64_t stop = c + want > line_end ? c + want : line_end;
	if (stop > c + r->cap)
		stop = c + r->cap;
	while (r->lim < stop) {
		/* A2: acquire, pairs with R1 in spsc_publish(): the element is
		 * written before its slot reads as published. */
		uint64_t s = shmap_atomic_load_acquire_u64(&r->seq[r->lim & r->mask]);
		if (s != r->lim + 1) {
			/* not published: it must be empty or hold an older lap */
			if (r->lim == c && s != 0 && (s > c || ((s - 1 - c) & r->mask) != 0))
				*bad = 1;
			break;
		}
		r->lim++;
	}
	return r->lim - c < want ? r->lim - c : want;
}

static inline void spsc_publish(struct shmap_ring *r, uint64_t p, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		/* R1: release, pairs with A2 in spsc_ready(): the element's bytes
		 * are visible before its slot reads as published. */
		shmap_atomic_store_release_u64(&r->seq[(p + i) & r->mask], p + i + 1);
	}
	SHMAP_FAILPOINT("ring.spsc.push.published");
	r->pos = p + k;
	/* Own cache line; read only by takeover (which re-verifies the slots)
	 * and by inspection: no ordering needed. */
	shmap_atomic_store_u64(&r->ctl->head, p + k);
	ring_wake_consumers(r);
}

static inline void spsc_consumed(struct shmap_ring *r, uint64_t c, uint64_t k)
{
	r->pos = c + k;
	/* R2: release, pairs with A1 in spsc_free(): our reads of the elements
	 * complete before the producer may overwrite them. */
	shmap_atomic_store_release_u64(&r->ctl->tail, c + k);
	SHMAP_FAILPOINT("ring.spsc.pop.released");
	ring_wake_producer(r);
}

int shmap__spsc_push_n(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done)
{
	uint64_t p = r->pos;
	int bad = 0;
	uint64_t want = n < r->cap ? n : r->cap;
	uint64_t k = spsc_free(r, p, want, &bad);
	*done = (uint32_t)k;
	if (k == 0)
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_FULL;
	if (k == 1 && r->esize == 8)
		memcpy(ring_slot(r, p), src, 8);
	else
		shmap__ring_copy_in_n(r, p, src, k);
	SHMAP_FAILPOINT("ring.spsc.push.copied");
	spsc_publish(r, p, k);
	return SHMAP_OK;
}

int shmap__spsc_pop_n(struct shmap_ring *r, void *dst, uint32_t n, uint32_t *done)
{
	uint64_t c = r->pos;
	int bad = 0;
	uint64_t want = n < r->cap ? n : r->cap;
	uint64_t k = spsc_ready(r, c, want, &bad);
	*done = (uint32_t)k;
	if (k == 0)
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_EMPTY;
	if (k == 1 && r->esize == 8)
		memcpy(dst, ring_slot(r, c), 8);
	else
		shmap__ring_copy_out_n(r, c, dst, k);
	SHMAP_FAILPOINT("ring.spsc.pop.copied");
	spsc_consumed(r, c, k);
	return SHMAP_OK;
}

int shmap__spsc_reserve(struct shmap_ring *r, uint32_t n, void **ptr, uint32_t *got)
{
	uint64_t p = r->pos;
	int bad = 0;
	uint64_t run = r->cap - (p & r->mask);
	uint64_t want = n < run ? n : run;
	uint64_t k = spsc_free(r, p, want, &bad);
	if (k == 0)
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_FULL;
	*ptr = ring_slot(r, p);
	*got = (uint32_t)k;
	r->zc = (uint32_t)k;
	r->zc_pos = p;
	return SHMAP_OK;
}

void shmap__spsc_commit(struct shmap_ring *r, uint32_t n)
{
	SHMAP_FAILPOINT("ring.spsc.push.copied");
	if (n)
		spsc_publish(r, r->zc_pos, n);
}

int shmap__spsc_peek(struct shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got)
{
	uint64_t c = r->pos;
	int bad = 0;
	uint64_t run = r->cap - (c & r->mask);
	uint64_t want = n < run ? n : run;
	uint64_t k = spsc_ready(r, c, want, &bad);
	if (k == 0)
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_EMPTY;
	*ptr = ring_slot(r, c);
	*got = (uint32_t)k;
	r->zc = (uint32_t)k;
	r->zc_pos = c;
	return SHMAP_OK;
}

void shmap__spsc_release(struct shmap_ring *r, uint32_t n)
{
	SHMAP_FAILPOINT("ring.spsc.pop.copied");
	if (n)
		spsc_consumed(r, r->zc_pos, n);
}

/*
 * Producer takeover: start at the stored head and walk past slots a dead
 * producer published (and maybe a consumer already released) without
 * storing head. Bounded by the private capacity.
 */
uint64_t shmap__ring_repair_head(struct shmap_ring *r)
{
	uint64_t h = shmap_atomic_load_u64(&r->ctl->head);
	for (uint64_t i = 0; i < r->cap; i++) {
		/* acquire: pairs with R1 (publish) and R2 (release) of the dead peers */
		uint64_t s = shmap_atomic_load_acquire_u64(&r->seq[h & r->mask]);
		if (s == h + 1 || (r->type == SHMAP_RING_SPMC && s == h + r->cap))
			h++;
		else
			break;
	}
	shmap_atomic_store_u64(&r->ctl->head, h);
	return h;
}

/*
 * SPSC consumer takeover: tail is authoritative (stored after the copy), so
 * the new consumer starts there; elements a dead consumer copied but did
 * not count are delivered again. A tail beyond head (scribbled) is clamped.
 */
uint64_t shmap__ring_repair_tail(struct shmap_ring *r)
{
	uint64_t t = shmap_atomic_load_acquire_u64(&r->ctl->tail);
	uint64_t h = shmap_atomic_load_acquire_u64(&r->ctl->head);
	if (t > h)
		t = h;
	return t;
}

/* SPSC/SPMC: count slots whose sequence word is in no valid state. */
uint64_t shmap__ring_check_slots(struct shmap_ring *r)
{
	uint64_t bad = 0;
	for (uint64_t i = 0; i < r->cap; i++) {
		uint64_t s = shmap_atomic_load_u64(&r->seq[i]);
		if (r->type == SHMAP_RING_SPSC) {
			/* 0 (never written) or published for a position of this slot */
			if (s != 0 && ((s - 1 - i) & r->mask) != 0)
				bad++;
			continue;
		}
		uint64_t d = (s - i) & r->mask;
		if (d != 0 && d != 1)
			bad++;
	}
	return bad;
}
