/* SPDX-License-Identifier: MIT */
/*
 * ring_spsc.c - single-producer single-consumer ring.
 *
 * Design notes
 * ------------
 * Per-slot sequence words (see ring-internal.h for the states): the
 * producer owns position `pos` privately and publishes each element by a
 * release store of seq = pos + 1; the consumer releases it by a release
 * store of seq = pos + cap after it copied the element out, and never
 * touches the slot again (the original's bug was to release first and read
 * afterwards). There is no shared head/tail index on the fast path: the
 * `head` and `tail` words are written by their single owner to its own
 * cache line (nobody reads them per item) and serve only takeover and
 * inspection.
 *
 * Probe ahead: the consumer frees slots in order, so one sequence word far
 * ahead answers for every slot before it: seq[p + K - 1] == p + K - 1 means
 * positions p .. p+K-1 are all free. The producer caches that knowledge in
 * `lim` and reads the consumer's lines at most once per K items while the
 * ring is not full. The consumer caches in `lim` what it learnt from the
 * sequence line it had to read anyway (up to 8 slots per line).
 *
 * Invariants (quiescent): tail <= head <= tail + cap; every slot holds
 * seq == q or q + 1 for the position q it represents; positions in
 * [tail, head) are published (q + 1).
 *
 * Crash behaviour:
 *   producer killed after the data copy, before publishing: the element
 *     never existed; a new producer overwrites the slot.
 *   producer killed after publishing, before storing head: the takeover
 *     scan (shmap__ring_repair_head) walks past published slots.
 *   consumer killed after copying, before releasing: the slot stays
 *     published and the next consumer reads it again (at-least-once for
 *     that one element).
 *   consumer killed after releasing, before storing tail: the takeover scan
 *     (shmap__ring_repair_tail) walks past released slots.
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
 * Sets *bad when the slot at p holds a value no protocol state explains.
 */
static inline uint64_t spsc_free(struct shmap_ring *r, uint64_t p, uint64_t want, int *bad)
{
	if (shmap_likely(p + want <= r->lim))
		return want;
	uint64_t ahead = want > RING_PROBE_AHEAD ? want : RING_PROBE_AHEAD;
	if (ahead > r->cap)
		ahead = r->cap;
	uint64_t q = p + ahead - 1;
	/* A1: acquire, pairs with R2 in spsc_pop_n()/shmap__spsc_release(): the
	 * consumer finished reading every slot up to q before freeing q. */
	if (shmap_atomic_load_acquire_u64(&r->seq[q & r->mask]) == q) {
		r->lim = q + 1;
		return want;
	}
	if (r->lim < p)
		r->lim = p;
	uint64_t q0 = r->lim;
	while (r->lim < p + want &&
	       shmap_atomic_load_acquire_u64(&r->seq[r->lim & r->mask]) == r->lim) /* A1 */
		r->lim++;
	if (r->lim == p && q0 == p) {
		/* Either still published from the last lap, or freed just after
		 * the loop looked: anything else no protocol state explains. */
		uint64_t s = shmap_atomic_load_u64(&r->seq[p & r->mask]);
		if (s != p - r->cap + 1 && s != p)
			*bad = 1;
	}
	return r->lim - p;
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
			/* not published: it must be free for this position */
			if (r->lim == c && s != c)
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

static inline void spsc_free_slots(struct shmap_ring *r, uint64_t c, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		/* R2: release, pairs with A1 in spsc_free(): our reads of the
		 * element complete before the producer may overwrite it. */
		shmap_atomic_store_release_u64(&r->seq[(c + i) & r->mask], c + i + r->cap);
	}
	SHMAP_FAILPOINT("ring.spsc.pop.released");
	r->pos = c + k;
	shmap_atomic_store_u64(&r->ctl->tail, c + k); /* own line; takeover re-verifies */
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
	spsc_free_slots(r, c, k);
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
		spsc_free_slots(r, r->zc_pos, n);
}

/*
 * Producer takeover: start at the stored head and walk past slots a dead
 * producer published (and maybe a consumer already released) without
 * storing head. Bounded by the private capacity.
 */
uint64_t shmap__ring_repair_head(struct shmap_ring *r)
{
	uint64_t h = shmap_atomic_load_u64(&r->ctl->head);
	int bcast = r->type == SHMAP_RING_BCAST_LOSSY || r->type == SHMAP_RING_BCAST_RELIABLE;
	for (uint64_t i = 0; i < r->cap; i++) {
		/* acquire: pairs with R1 (publish) and R2 (release) of the dead peers */
		uint64_t s = shmap_atomic_load_acquire_u64(&r->seq[h & r->mask]);
		if (s == h + 1 || (!bcast && s == h + r->cap))
			h++;
		else
			break;
	}
	shmap_atomic_store_u64(&r->ctl->head, h);
	return h;
}

/* SPSC consumer takeover: walk past slots released but not counted in tail. */
uint64_t shmap__ring_repair_tail(struct shmap_ring *r)
{
	uint64_t t = shmap_atomic_load_u64(&r->ctl->tail);
	for (uint64_t i = 0; i < r->cap; i++) {
		uint64_t s = shmap_atomic_load_acquire_u64(&r->seq[t & r->mask]); /* pairs with R2 */
		if (s == t + r->cap)
			t++;
		else
			break;
	}
	shmap_atomic_store_u64(&r->ctl->tail, t);
	return t;
}

/* SPSC/SPMC: count slots whose sequence word is in no valid state. */
uint64_t shmap__ring_check_slots(struct shmap_ring *r)
{
	uint64_t bad = 0;
	for (uint64_t i = 0; i < r->cap; i++) {
		uint64_t d = (shmap_atomic_load_u64(&r->seq[i]) - i) & r->mask;
		if (d != 0 && d != 1)
			bad++;
	}
	return bad;
}
