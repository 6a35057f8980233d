/* SPDX-License-Identifier: MIT */
/*
 * ring_rec_bcast.c - broadcast rings of records (lossy and reliable).
 *
 * Design notes
 * ------------
 * Layout and header words: ring_rec-internal.h. Subscribers keep their cursor (a
 * byte position, always the start of a unit) privately and in their
 * record; they never write the ring. Publication is the store of head
 * (release, R7r): a subscriber reads head (acquire, A7r) when its cursor
 * reaches the head it knew, and every unit in [cursor, head) is
 * published. Subscribe/unsubscribe, the lowest-cursor scan and dropping
 * dead subscribers are the fixed-slot broadcast ring's (ring_bcast.c,
 * ring.c), on byte positions.
 *
 * Reliable: the producer writes a unit ending at e only when e <= lowest
 * live cursor + cap (shmap__bcast_min_cursor(), cached in min_cache), so
 * nothing a live subscriber has not read is overwritten; the subscriber
 * stores its cursor with release (R6) after its copies. A dead subscriber
 * that holds the producer back is dropped by the producer's slow path
 * (recb_maint()) or the checker.
 *
 * Lossy (Agrona's broadcast transmitter, on 64-bit positions): the
 * producer never looks at subscribers. Per record:
 *   intent = end (the highest position it is about to write); store-store
 *   fence (R5r); write the bytes and headers; latest = record start;
 *   head = end (R7r).
 * A subscriber copies the record at c, then (load-load fence, A6r) reads
 * intent: if intent > c + cap the producer may have written over the
 * record during the copy, so the copy is discarded and the subscriber was
 * lapped. A lapped subscriber jumps to `latest` (the start of the newest
 * published record) if that is ahead of it, else to head, adds the bytes
 * it skipped to its missed count (shmap_ring_missed() counts BYTES for
 * record rings: records skipped cannot be counted without reading them)
 * and reports SHMAP_E_OVERRUN once. intent only grows, also across a
 * producer takeover (the new producer starts from the stored intent), so
 * a subscriber never accepts a record a dead producer began to overwrite.
 *
 * Crash behaviour: a producer killed before storing head published nothing
 * of that push; the next producer continues at head. A subscriber killed
 * anywhere holds its record until its death is detected (reliable: the
 * producer drops it after RING_STUCK_NS of FULL).
 *
 * Hostile peer: head and latest are checked against the cursor and the
 * capacity, headers as in ring_rec-internal.h; a subscriber never walks past head
 * or more than one capacity per call.
 */
#include "ring_rec-internal.h"

/* One file for both policies: the table says which (never changes). */
static inline int recb_lossy(const struct shmap_ring *r)
{
	return (r->ops->flags & RING_F_LOSSY) != 0;
}

/* Reliable producer: may a unit end at `end` (p the current position)? */
static inline int recb_room(struct shmap_ring *r, uint64_t p, uint64_t end)
{
	if (end <= r->min_cache + r->cap)
		return 1;
	r->min_cache = shmap__bcast_min_cursor(r, p);
	return end <= r->min_cache + r->cap;
}

/* Lossy producer: announce writes up to `end` before making any of them. */
static inline void recb_intent(struct shmap_ring *r, uint64_t end)
{
	if (end > r->rx.ihi)
		r->rx.ihi = end;
	shmap__atomic_store_u64(&r->rx.line->intent, r->rx.ihi);
	/* R5r: store-store fence, pairs with A6r in the subscriber: intent is
	 * visible before any byte written under it. */
	shmap__atomic_fence_release();
	SHMAP_FAILPOINT("ring.rec.bcast.push.marked");
}

static inline void recb_write(struct shmap_ring *r, uint64_t p, const struct rec_place *pl, const void *src,
			      uint32_t len)
{
	memcpy(rec_payload(r, pl->rec), src, len);
	shmap__atomic_store_u64(rec_word(r, pl->rec), rec_hw(pl->rec, len));
	if (pl->pad)
		shmap__atomic_store_u64(rec_word(r, p), rec_hw(p, REC_PAD));
}

static inline void recb_publish(struct shmap_ring *r, uint64_t latest, uint64_t end)
{
	SHMAP_FAILPOINT("ring.rec.bcast.push.copied");
	shmap__atomic_store_u64(&r->rx.line->latest, latest);
	/* R7r: release, pairs with A7r: the units below end are written. */
	shmap__atomic_store_release_u64(&r->ctl->head, end);
	SHMAP_FAILPOINT("ring.rec.bcast.push.published");
	r->pos = end;
	ring_wake_consumers(r);
}

static int recb_push_n(struct shmap_ring *r, const uint8_t *src, const uint32_t *lens, uint32_t n,
		       uint32_t *done)
{
	uint64_t p = r->pos, latest = 0;
	uint32_t k = 0;
	while (k < n) {
		struct rec_place pl;
		uint32_t len = lens[k];
		rec_place(r, p, len, &pl);
		if (recb_lossy(r)) {
			recb_intent(r, pl.end);
		} else if (!recb_room(r, p, pl.end)) {
			break;
		}
		recb_write(r, p, &pl, src, len);
		src += len;
		latest = pl.rec;
		p = pl.end;
		k++;
		if (recb_lossy(r))
			recb_publish(r, latest, p); /* one record at a time: laps are exact */
	}
	*done = k;
	if (k == 0)
		return SHMAP_E_FULL;
	if (!recb_lossy(r))
		recb_publish(r, latest, p); /* a reliable batch: one store */
	return SHMAP_OK;
}

/* Lossy: was anything at [c, c + cap) overwritten since we read it? */
static inline int recb_lapped(struct shmap_ring *r, uint64_t c)
{
	/* A6r: load-load fence, pairs with R5r: if our reads saw any byte of
	 * a newer write, the intent announcing it is visible now. */
	shmap__atomic_fence_acquire();
	return shmap__atomic_load_u64(&r->rx.line->intent) > c + r->cap;
}

/* Lapped at c: jump to the newest published record (or head). */
static int recb_resync(struct shmap_ring *r, uint64_t c)
{
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head); /* A7r */
	uint64_t l = shmap__atomic_load_u64(&r->rx.line->latest);
	uint64_t nc = (l > c && l < h && !(l & 7u)) ? l : h;
	if (nc <= c || (nc & 7u))
		return SHMAP_E_CORRUPT;
	r->missed += nc - c;
	r->pos = nc;
	r->lim = nc;
	shmap__atomic_store_u64(&r->rec->missed, r->missed);
	/* R6, as the fixed ring: release, pairs with A5 in shmap__bcast_min_cursor() */
	shmap__atomic_store_release_u64(&r->rec->pos, nc);
	return SHMAP_E_OVERRUN;
}

/*
 * The unit at c as a subscriber sees it: 1 a record (*rec, *len), 0 none
 * published yet, -1 invalid, -2 lapped (lossy: head is more than a ring
 * ahead).
 */
static inline int recb_at(struct shmap_ring *r, uint64_t c, uint64_t *rec, uint32_t *len)
{
	if (c >= r->lim) {
		/* A7r: acquire, pairs with R7r */
		uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
		if (h <= c) {
			if (h < c && !recb_lossy(r))
				return -1; /* head went back: scribbled */
			return 0;
		}
		if ((h & 7u) || h - c > r->cap)
			return recb_lossy(r) ? -2 : -1;
		r->lim = h;
	}
	uint64_t hw = shmap__atomic_load_u64(rec_word(r, c));
	if (rec_parse(r, c, hw, 0, rec, len) != 0)
		return -1;
	if (*rec + rec_size(*len) > r->lim)
		return -1;
	return 1;
}

static int recb_pop_n(struct shmap_ring *r, uint8_t *out, uint64_t out_len, uint32_t *lens, uint32_t n,
		      uint32_t *done, uint32_t *need)
{
	uint64_t c0 = r->pos, c = c0, used = 0;
	uint32_t k = 0;
	int st = 1, lossy = recb_lossy(r);
	*done = 0;
	while (k < n) {
		uint64_t rec;
		uint32_t len;
		st = recb_at(r, c, &rec, &len);
		if (st == 0)
			break;
		if (st < 0) {
			if (lossy && (st == -2 || recb_lapped(r, c)))
				st = -2; /* a header torn by an overwrite */
			break;
		}
		uint64_t end = rec + rec_size(len);
		if (end - c0 > r->cap) {
			st = -1;
			break;
		}
		if (len > out_len - used) {
			if (lossy && recb_lapped(r, c)) {
				st = -2;
				break;
			}
			if (k == 0) {
				*need = len;
				return SHMAP_E_BUFSIZE;
			}
			break;
		}
		memcpy(out + used, rec_payload(r, rec), len);
		if (lossy && recb_lapped(r, c)) {
			st = -2; /* overwritten during the copy: discard it */
			break;
		}
		used += len;
		lens[k++] = len;
		c = end;
	}
	*done = k;
	if (k == 0) {
		if (st == -2)
			return recb_resync(r, c);
		return st < 0 ? SHMAP_E_CORRUPT : SHMAP_E_EMPTY;
	}
	r->pos = c;
	if (lossy) {
		shmap__atomic_store_u64(&r->rec->pos, c); /* stats only */
		return SHMAP_OK; /* a lap after some records: the next call reports it */
	}
	SHMAP_FAILPOINT("ring.rec.bcast.pop.copied");
	/* R6: release, pairs with A5 in shmap__bcast_min_cursor(). */
	shmap__atomic_store_release_u64(&r->rec->pos, c);
	ring_wake_producer(r);
	return SHMAP_OK;
}

static int recb_reserve(struct shmap_ring *r, uint32_t len, void **ptr)
{
	uint64_t p = r->pos;
	struct rec_place pl;
	rec_place(r, p, len, &pl);
	if (recb_lossy(r))
		recb_intent(r, pl.end);
	else if (!recb_room(r, p, pl.end))
		return SHMAP_E_FULL;
	r->rx.z_pos = p;
	r->rx.z_rec = pl.rec;
	r->rx.z_len = len;
	*ptr = rec_payload(r, pl.rec);
	return SHMAP_OK;
}

static void recb_commit(struct shmap_ring *r, uint32_t len)
{
	if (len == 0)
		return;
	uint64_t p = r->rx.z_pos, rec = r->rx.z_rec;
	shmap__atomic_store_u64(rec_word(r, rec), rec_hw(rec, len));
	if (rec != p)
		shmap__atomic_store_u64(rec_word(r, p), rec_hw(p, REC_PAD));
	recb_publish(r, rec, rec + rec_size(len));
}

static int recb_peek(struct shmap_ring *r, const void **ptr, uint32_t *len)
{
	uint64_t c = r->pos, rec;
	int st = recb_at(r, c, &rec, len);
	if (st == 0)
		return SHMAP_E_EMPTY;
	if (st < 0) {
		if (recb_lossy(r) && (st == -2 || recb_lapped(r, c)))
			return recb_resync(r, c);
		return SHMAP_E_CORRUPT;
	}
	r->rx.z_pos = c;
	r->rx.z_rec = rec;
	r->rx.z_len = *len;
	*ptr = rec_payload(r, rec);
	return SHMAP_OK;
}

static int recb_release(struct shmap_ring *r)
{
	uint64_t c = r->rx.z_pos;
	uint64_t end = r->rx.z_rec + rec_size(r->rx.z_len);
	if (recb_lossy(r)) {
		/* the caller's reads of the record are done: re-validate */
		if (recb_lapped(r, c))
			return recb_resync(r, c);
		r->pos = end;
		shmap__atomic_store_u64(&r->rec->pos, end); /* stats only */
		return SHMAP_OK;
	}
	SHMAP_FAILPOINT("ring.rec.bcast.pop.copied");
	r->pos = end;
	shmap__atomic_store_release_u64(&r->rec->pos, end); /* R6 */
	ring_wake_producer(r);
	return SHMAP_OK;
}

/* Producer takeover: publication is head itself, so continue there. */
static uint64_t recb_repair_head(struct shmap_ring *r)
{
	/* acquire: pairs with R7r, the dead producer's release of head */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head) & ~UINT64_C(7);
	uint64_t i = shmap__atomic_load_u64(&r->rx.line->intent);
	/* intent never goes back (a dead producer may have written up to it) */
	r->rx.ihi = i > h && i - h <= r->cap ? i : h;
	r->min_cache = 0;
	return h;
}

/*
 * Readiness at p (ops->ready, shmap__ring_ready()): the descriptor waiter
 * (ring_notify.c) calls it from its own thread on a snapshot while the
 * caller may use the handle, so only *min_cache, the caller's or the
 * waiter's own cache, is written; the handle's moving state is not.
 */
static int recb_ready(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache)
{
	(void)lim;
	if (r->role == SHMAP_RING_PRODUCER) {
		if (recb_lossy(r))
			return SHMAP_OK;
		struct rec_place pl;
		rec_place(r, p, r->rx.max_rec, &pl); /* room for the largest record */
		if (pl.end <= *min_cache + r->cap)
			return SHMAP_OK;
		*min_cache = shmap__bcast_min_cursor(r, p);
		return pl.end <= *min_cache + r->cap ? SHMAP_OK : SHMAP_E_FULL;
	}
	/* A7r: acquire, pairs with R7r */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	return h != p ? SHMAP_OK : SHMAP_E_EMPTY; /* a record, a lap or corruption */
}

/*
 * Reliable producer slow path: drop dead subscribers that hold it back. A
 * subscriber holds a record producer back as soon as it is behind at all
 * (the next record may need any amount of room), so every dead subscriber
 * behind the producer is dropped.
 */
static int recb_maint(struct shmap_ring *r)
{
	return shmap__bcast_drop_behind(r, 1);
}

/* Checker: head aligned, every live cursor in [head - cap, head] (reliable). */
static uint64_t recb_check(struct shmap_ring *r)
{
	/* acquire: pairs with R7r, the producer's release of head */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	uint64_t bad = (h & 7u) ? 1 : 0;
	if (recb_lossy(r))
		return bad;
	for (uint32_t i = 0; i < r->max_cons; i++) {
		struct ring_rec *rec = &r->recs[i];
		/* acquire: pairs with the release store of ACTIVE in shmap__bcast_join() */
		if (rec_state(shmap__atomic_load_acquire_u64(&rec->ow)) != REC_ACTIVE)
			continue;
		/* A5-like: pairs with R6 (the subscriber's release of its cursor) */
		uint64_t c = shmap__atomic_load_acquire_u64(&rec->pos);
		if ((c & 7u) || c > h || h - c > r->cap)
			bad++;
	}
	return bad;
}

static uint64_t recb_low(const struct shmap_ring *r, uint64_t head)
{
	return shmap__bcast_min_cursor(r, head);
}

const struct ring_ops shmap__ring_rec_lossy_ops = {
	.type = SHMAP_RING_BCAST_LOSSY,
	.flags = RING_F_LOSSY | RING_F_RECORDS,
	.rec_push_n = recb_push_n,
	.rec_pop_n = recb_pop_n,
	.rec_reserve = recb_reserve,
	.rec_commit = recb_commit,
	.rec_peek = recb_peek,
	.rec_release = recb_release,
	.repair_head = recb_repair_head,
	.join = shmap__bcast_join,
	.ready = recb_ready,
	.size = shmap__ring_size_lossy,
	.low = recb_low,
	.free_dead = shmap__bcast_drop_dead,
	.check = recb_check,
};

const struct ring_ops shmap__ring_rec_reliable_ops = {
	.type = SHMAP_RING_BCAST_RELIABLE,
	.flags = RING_F_RECORDS,
	.rec_push_n = recb_push_n,
	.rec_pop_n = recb_pop_n,
	.rec_reserve = recb_reserve,
	.rec_commit = recb_commit,
	.rec_peek = recb_peek,
	.rec_release = recb_release,
	.repair_head = recb_repair_head,
	.join = shmap__bcast_join,
	.maint = recb_maint,
	.ready = recb_ready,
	.size = shmap__ring_size_reliable,
	.low = recb_low,
	.free_dead = shmap__bcast_drop_dead,
	.check = recb_check,
};
