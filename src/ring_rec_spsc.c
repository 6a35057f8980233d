/* SPDX-License-Identifier: MIT */
/*
 * ring_rec_spsc.c - single-producer single-consumer ring of records.
 *
 * Design notes
 * ------------
 * Layout and header words: ring_rec-internal.h. The consumer learns what is
 * published from the header words alone, so on the fast path it touches
 * the lines of the records it reads and nothing the producer writes
 * elsewhere:
 *
 *   the word at the position after the last published unit is 0.
 *
 * The producer keeps that true: before it publishes units ending at e, it
 * stores 0 into the word at e (the start of the next unit), then writes
 * the units' bytes and their headers, the first unit's header last with
 * release (R1r). So the consumer at c reads the word at c with acquire
 * (A2r): 0 is "nothing yet"; anything else is the header of the unit that
 * starts at c, and every byte of it (and of the units published with it: a
 * batch, a padding record with its record) is visible. The word at e must
 * be free for that store, so a unit ending at e needs e + 8 <= tail + cap:
 * the producer keeps 8 bytes of room and the ring is never completely
 * full. The ring starts zero-filled, so the word at position 0 is 0.
 *
 * Back channel: the consumer stores tail = the end of what it consumed,
 * with release (R2r) after its copies; the producer caches tail + cap in
 * lim and re-reads tail (A1r) only when a unit would pass lim.
 *
 * Crash behaviour:
 *   producer killed before R1r: nothing of the push is visible (the word at
 *     its start is still 0); a new producer starts at head and overwrites.
 *     After R1r the whole push (a batch too) is published at once.
 *   producer killed after R1r, before storing head: the takeover
 *     (recs_repair_head()) follows valid headers from head.
 *   consumer killed after copying, before R2r: the records stay and the
 *     next consumer reads them again (at-least-once for that one call).
 *
 * Hostile peer: a header whose tag, length or extent is wrong is
 * SHMAP_E_CORRUPT and nothing is consumed; a tail outside [p - cap, p] or
 * not 8-aligned is SHMAP_E_CORRUPT for the producer; offsets are masked
 * with the private capacity; a pop never walks more than one capacity; the
 * takeover walk is bounded by cap / 8 steps.
 */
#include "ring_rec-internal.h"

/* Producer: is [p, upto) free? upto includes the 8 bytes of the next word. */
static inline int recs_room(struct shmap_ring *r, uint64_t p, uint64_t upto, int *bad)
{
	if (shmap_likely(upto <= r->lim))
		return 1;
	/* A1r: acquire, pairs with R2r in recs_consumed(): the consumer's
	 * reads of everything below tail completed. */
	/* acquire: pairs with the consumer's release of tail */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	if (t > p || p - t > r->cap || (t & 7u)) {
		*bad = 1;
		return 0;
	}
	r->lim = t + r->cap;
	return upto <= r->lim;
}

static inline void recs_publish(struct shmap_ring *r, uint64_t first, uint64_t first_hw, uint64_t end)
{
	/* R1r: release, pairs with A2r in the consumer: every byte and header
	 * of the units [first, end), and the 0 at end, are visible before
	 * this header. */
	shmap__atomic_store_release_u64(rec_word(r, first), first_hw);
	SHMAP_FAILPOINT("ring.rec.spsc.push.published");
	r->pos = end;
	/* R1b: release, pairs with the acquire loads of head at attach and
	 * in the checker; its own line, never read on the consumer's path. */
	shmap__atomic_store_release_u64(&r->ctl->head, end);
	ring_wake_consumers(r);
}

static inline void recs_consumed(struct shmap_ring *r, uint64_t end)
{
	r->pos = end;
	/* R2r: release, pairs with A1r in recs_room(): our reads of the
	 * records complete before the producer may overwrite them. */
	shmap__atomic_store_release_u64(&r->ctl->tail, end);
	SHMAP_FAILPOINT("ring.rec.spsc.pop.released");
	ring_wake_producer(r);
}

static int recs_push_n(struct shmap_ring *r, const uint8_t *src, const uint32_t *lens, uint32_t n,
		       uint32_t *done)
{
	uint64_t p0 = r->pos, end = p0, first_hw = 0;
	int bad = 0;
	uint32_t k = rec_fill(r, src, lens, n, recs_room, &bad, &end, &first_hw);
	*done = k;
	if (k == 0)
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_FULL;
	SHMAP_FAILPOINT("ring.rec.spsc.push.copied");
	recs_publish(r, p0, first_hw, end);
	return SHMAP_OK;
}

/* Consumer: the unit at c. 1 found, 0 nothing published, -1 corrupt. */
static inline int recs_at(struct shmap_ring *r, uint64_t c, uint64_t *rec, uint32_t *len)
{
	/* A2r: acquire, pairs with R1r: the unit's bytes are visible. */
	uint64_t hw = shmap__atomic_load_acquire_u64(rec_word(r, c));
	if (hw == 0)
		return 0;
	return rec_parse(r, c, hw, 1, rec, len) == 0 ? 1 : -1;
}

static int recs_pop_n(struct shmap_ring *r, uint8_t *out, uint64_t out_len, uint32_t *lens, uint32_t n,
		      uint32_t *done, uint32_t *need)
{
	uint64_t c0 = r->pos, c = c0, used = 0;
	uint32_t k = 0;
	int st = 1;
	while (k < n) {
		uint64_t rec;
		uint32_t len;
		st = recs_at(r, c, &rec, &len);
		if (st <= 0)
			break;
		uint64_t end = rec + rec_size(len);
		if (end - c0 > r->cap) {
			st = -1; /* more than a ring's worth: scribbled headers */
			break;
		}
		if (len > out_len - used) {
			if (k == 0) {
				*need = len;
				*done = 0;
				return SHMAP_E_BUFSIZE;
			}
			break;
		}
		memcpy(out + used, rec_payload(r, rec), len);
		used += len;
		lens[k++] = len;
		c = end;
	}
	*done = k;
	if (k == 0)
		return st < 0 ? SHMAP_E_CORRUPT : SHMAP_E_EMPTY;
	SHMAP_FAILPOINT("ring.rec.spsc.pop.copied");
	recs_consumed(r, c);
	return SHMAP_OK;
}

static int recs_reserve(struct shmap_ring *r, uint32_t len, void **ptr)
{
	uint64_t p = r->pos;
	struct rec_place pl;
	int bad = 0;
	rec_place(r, p, len, &pl);
	if (!recs_room(r, p, pl.end + REC_HDR, &bad))
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_FULL;
	r->rx.z_pos = p;
	r->rx.z_rec = pl.rec;
	r->rx.z_len = len;
	*ptr = rec_payload(r, pl.rec);
	return SHMAP_OK;
}

static void recs_commit(struct shmap_ring *r, uint32_t len)
{
	if (len == 0)
		return;
	uint64_t end;
	uint64_t hw = rec_commit_words(r, len, &end);
	SHMAP_FAILPOINT("ring.rec.spsc.push.copied");
	recs_publish(r, r->rx.z_pos, hw, end);
}

static int recs_peek(struct shmap_ring *r, const void **ptr, uint32_t *len)
{
	uint64_t c = r->pos, rec;
	int st = recs_at(r, c, &rec, len);
	if (st <= 0)
		return st < 0 ? SHMAP_E_CORRUPT : SHMAP_E_EMPTY;
	r->rx.z_pos = c;
	r->rx.z_rec = rec;
	r->rx.z_len = *len;
	*ptr = rec_payload(r, rec);
	return SHMAP_OK;
}

static int recs_release(struct shmap_ring *r)
{
	SHMAP_FAILPOINT("ring.rec.spsc.pop.copied");
	recs_consumed(r, r->rx.z_rec + rec_size(r->rx.z_len));
	return SHMAP_OK;
}

/*
 * Producer takeover: follow valid headers from the stored head past units
 * a dead producer published without storing head (the consumer may have
 * consumed into them). Each step moves forward, never past tail + cap;
 * at most cap / 8 steps.
 */
static uint64_t recs_repair_head(struct shmap_ring *r)
{
	uint64_t h = shmap__atomic_load_u64(&r->ctl->head);
	/* acquire: pairs with R2r */
	/* acquire: pairs with the consumer's release of tail */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	t &= ~UINT64_C(7);
	if ((h & 7u) || h > t + r->cap || (h < t && t - h > r->cap))
		h = t;
	for (uint64_t i = 0; i < r->cap / 8u; i++) {
		uint64_t rec;
		uint32_t len;
		if (recs_at(r, h, &rec, &len) != 1)
			break;
		uint64_t end = rec + rec_size(len);
		if (end + REC_HDR > t + r->cap)
			break;
		h = end;
	}
	if (h < t)
		h = t; /* the chain does not reach tail: corrupt, best effort */
	shmap__atomic_store_release_u64(&r->ctl->head, h); /* as R1b */
	return h;
}

/* Readiness at p (ops->ready, shmap__ring_ready(): a snapshot, nothing of
 * the handle written; the descriptor waiter calls it from its own thread). */
static int recs_ready(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache)
{
	(void)min_cache;
	if (r->role == SHMAP_RING_PRODUCER) {
		struct rec_place pl;
		rec_place(r, p, r->rx.max_rec, &pl); /* room for the largest record */
		if (pl.end + REC_HDR <= lim)
			return SHMAP_OK;
		/* acquire: pairs with R2r, as A1r */
		uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
		if (t > p || p - t > r->cap || (t & 7u))
			return SHMAP_E_CORRUPT;
		return pl.end + REC_HDR <= t + r->cap ? SHMAP_OK : SHMAP_E_FULL;
	}
	/* acquire: pairs with R1r */
	return shmap__atomic_load_acquire_u64(rec_word(r, p)) ? SHMAP_OK : SHMAP_E_EMPTY;
}

/* Checker: tail <= head <= tail + cap, and the units from tail end at head. */
static uint64_t recs_check(struct shmap_ring *r)
{
	/* acquire: pairs with the producer's release of head */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	/* acquire: pairs with the consumer's release of tail */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	if ((h & 7u) || (t & 7u) || t > h || h - t > r->cap)
		return 1;
	uint64_t c = t;
	for (uint64_t i = 0; i < r->cap / 8u && c < h; i++) {
		uint64_t rec;
		uint32_t len;
		if (recs_at(r, c, &rec, &len) != 1)
			return 1;
		c = rec + rec_size(len);
	}
	return c == h ? 0 : 1;
}

/*
 * Consumer takeover: tail is the end of what was consumed, a unit
 * boundary, and stays authoritative even past the stored head (a producer
 * killed before storing head published what the dead consumer took), so
 * nothing is delivered twice. Only an impossible tail is clamped.
 */
static uint64_t recs_repair_tail(struct shmap_ring *r)
{
	/* acquire: pairs with the dead consumer's release of tail */
	/* acquire: pairs with the consumer's release of tail */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	/* acquire: pairs with the producer's release of head */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	if ((t & 7u) || (t > h && t - h > r->cap))
		t = h & ~UINT64_C(7);
	return t;
}


const struct ring_ops shmap__ring_rec_spsc_ops = {
	.type = SHMAP_RING_SPSC,
	.flags = RING_F_CONS_WORD | RING_F_RECORDS,
	.rec_push_n = recs_push_n,
	.rec_pop_n = recs_pop_n,
	.rec_reserve = recs_reserve,
	.rec_commit = recs_commit,
	.rec_peek = recs_peek,
	.rec_release = recs_release,
	.repair_head = recs_repair_head,
	.repair_tail = recs_repair_tail,
	.ready = recs_ready,
	.size = shmap__ring_size_tail,
	.low = shmap__ring_low_tail,
	.check = recs_check,
};
