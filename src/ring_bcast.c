/* SPDX-License-Identifier: MIT */
/*
 * ring_bcast.c - broadcast ring: one producer, many subscribers, each sees
 * every element.
 *
 * Design notes
 * ------------
 * Slot states: seq == p + 1 published for position p; seq == WRITING | p
 * while the lossy producer overwrites the slot for p; 0 never written.
 * Subscribers keep their cursor privately and never write slots.
 *
 * Lossy (Agrona-style): the producer never looks at subscribers.
 *   producer:   seq = WRITING | p; fence(store-store); write data;
 *               seq = p + 1 (release); head = p + 1
 *   subscriber: s1 = seq (acquire); if s1 == c + 1: copy; fence(load-load);
 *               s2 = seq; accept only if s2 == s1 (else overwritten during
 *               the copy: lapped).
 *   Both copies go through relaxed atomics (shmap__atomic_copy_in/out, one
 *   element at a time on both sides, so every byte is accessed with the
 *   same width by both): a subscriber racing the producer on a slot is not
 *   a C11 data race, it only reads bytes it then discards.
 *   peek and reserve never expose a slot the producer may overwrite: on a
 *   lossy ring they work on a buffer owned by the handle (peek: a copy
 *   validated like pop; reserve: staged, copied into the ring at commit).
 *   A slot showing a later position (published or being written) means the
 *   subscriber was lapped: it reads head, jumps to head - cap + 1 (the
 *   oldest element the producer is not about to overwrite), adds the jump to
 *   its missed count and reports SHMAP_E_OVERRUN once.
 *
 * Reliable: each subscriber's cursor lives in its record (own cache line),
 * stored with release after the element was copied. The producer caches the
 * lowest cursor and rescans the records only when it would otherwise pass
 * it (once per up to `cap` elements when subscribers keep up). It writes
 * position p only when every ACTIVE cursor is > p - cap; otherwise FULL.
 * A subscriber that blocks the producer for a while is probed for
 * liveness; a dead one's record is freed (dropped), so it never stalls the
 * producer.
 *
 * Subscribe (open): claim a record, cursor = head, state ACTIVE, full fence,
 * re-read head and start there. Any producer rescan that misses the new
 * record happened before the fence, so the head it had published is <= the
 * head the subscriber re-read, and the producer cannot overwrite the
 * subscriber's first element before its next rescan, which sees the record
 * (Dekker pairing of the two full fences).
 *
 * Hostile peer: cursors above head are clamped to head, positions come
 * from slots through the private mask, resynchronisation that would not
 * move forward is SHMAP_E_CORRUPT.
 */
#include <stdlib.h>

#include "ring-internal.h"

/* One file for both policies: the table says which (never changes). */
static inline int bcast_lossy(const struct shmap_ring *r)
{
	return (r->ops->flags & RING_F_LOSSY) != 0;
}

/* Lowest cursor of the ACTIVE subscribers (clamped to head); head if none. */
uint64_t shmap__bcast_min_cursor(const struct shmap_ring *r, uint64_t head)
{
	/* F1: full fence, pairs with F2 in shmap__bcast_join(). */
	shmap__atomic_fence_full();
	uint64_t m = head;
	for (uint32_t i = 0; i < r->max_cons; i++) {
		struct ring_rec *rec = &r->recs[i];
		/* acquire: pairs with the release store of ACTIVE in shmap__bcast_join() */
		if (rec_state(shmap__atomic_load_acquire_u64(&rec->ow)) != REC_ACTIVE)
			continue;
		/* A5: acquire, pairs with R6 in the subscriber's pop: its reads of
		 * the slots below the cursor completed. */
		uint64_t c = shmap__atomic_load_acquire_u64(&rec->pos);
		if (c > head)
			c = head;
		if (c < m)
			m = c;
	}
	return m;
}

/* Reliable producer: free slots at p (0..want), rescanning if needed. */
static uint64_t bcast_room(struct shmap_ring *r, uint64_t p, uint64_t want)
{
	uint64_t room = r->min_cache + r->cap > p ? r->min_cache + r->cap - p : 0;
	if (room >= want)
		return want;
	r->min_cache = shmap__bcast_min_cursor(r, p);
	room = r->min_cache + r->cap > p ? r->min_cache + r->cap - p : 0;
	return room < want ? room : want;
}

static void bcast_mark(struct shmap_ring *r, uint64_t p, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++)
		shmap__atomic_store_u64(&r->seq[(p + i) & r->mask], RING_SEQ_WRITING | (p + i));
	/* R5: store-store fence, pairs with the load-load fence A6 in
	 * bcast_copy_valid(): the WRITING marks are visible before any byte of
	 * the new elements. */
	shmap__atomic_fence_release();
	SHMAP_FAILPOINT("ring.bcast.push.marked");
}

static void bcast_publish(struct shmap_ring *r, uint64_t p, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		/* R7: release, pairs with the subscribers' acquire load of seq. */
		shmap__atomic_store_release_u64(&r->seq[(p + i) & r->mask], p + i + 1);
	}
	SHMAP_FAILPOINT("ring.bcast.push.published");
	r->pos = p + k;
	shmap__atomic_store_u64(&r->ctl->head, p + k);
	ring_wake_consumers(r);
}

/* Lossy: copy k elements into the ring at p, one relaxed-atomic element at a time. */
static void bcast_copy_in_relaxed(struct shmap_ring *r, uint64_t p, const uint8_t *src, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++)
		shmap__atomic_copy_in(ring_slot(r, p + i), src + (size_t)i * r->esize, r->esize);
}

/*
 * The handle's private element buffer for lossy peek/reserve (allocated on
 * first use, freed at close): at most RING_ZBUF_BYTES, at least one element.
 * Returns its capacity in elements, 0 if it cannot be allocated.
 */
#define RING_ZBUF_BYTES 65536u
static uint64_t bcast_zbuf(struct shmap_ring *r)
{
	uint64_t cap = RING_ZBUF_BYTES / r->esize;
	if (cap == 0)
		cap = 1;
	if (cap > r->cap)
		cap = r->cap;
	if (!r->zbuf) {
		r->zbuf = malloc((size_t)cap * r->esize);
		if (!r->zbuf)
			return 0;
	}
	return cap;
}

static int bcast_push_n(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done)
{
	const uint8_t *s = src;
	uint32_t total = 0;
	while (total < n) {
		uint64_t p = r->pos;
		uint64_t k = n - total < r->cap ? n - total : r->cap;
		if (bcast_lossy(r)) {
			bcast_mark(r, p, k);
		} else {
			k = bcast_room(r, p, k);
			if (k == 0)
				break;
		}
		if (bcast_lossy(r))
			bcast_copy_in_relaxed(r, p, s + (size_t)total * r->esize, k);
		else
			shmap__ring_copy_in_n(r, p, s + (size_t)total * r->esize, k);
		SHMAP_FAILPOINT("ring.bcast.push.copied");
		bcast_publish(r, p, k);
		total += (uint32_t)k;
	}
	*done = total;
	return total || n == 0 ? SHMAP_OK : SHMAP_E_FULL;
}

/*
 * Lapped at cursor c (the slot for c showed `s`, a later position q):
 * jump to the oldest element still safe to read, max(head, q + 1) - cap + 1
 * (q can be past head when an abandoned reservation marked slots).
 */
static int bcast_resync_at(struct shmap_ring *r, uint64_t c, uint64_t at, uint64_t s)
{
	uint64_t q = (s & RING_SEQ_WRITING) ? s & ~RING_SEQ_WRITING : s - 1;
	/* acquire: head is stored relaxed after R7: pairs with nothing; only bounds the resync */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	if ((q & r->mask) != (at & r->mask) || q <= at)
		return SHMAP_E_CORRUPT; /* not a state this slot can legitimately hold */
	if (q + 1 > h)
		h = q + 1;
	uint64_t nc = h > r->cap ? h - r->cap + 1 : 0;
	if (nc <= at)
		return SHMAP_E_CORRUPT;
	r->missed += nc - c;
	r->pos = nc;
	r->lim = nc;
	shmap__atomic_store_u64(&r->rec->missed, r->missed);
	/* R6: release, pairs with A5 in shmap__bcast_min_cursor() */
	shmap__atomic_store_release_u64(&r->rec->pos, nc);
	return SHMAP_E_OVERRUN;
}

static int bcast_resync(struct shmap_ring *r, uint64_t c, uint64_t s)
{
	return bcast_resync_at(r, c, c, s);
}

/*
 * State of the slot for position c as this subscriber sees it:
 * 0 ready (s1 == c + 1), 1 not yet written, 2 lapped.
 */
static inline int bcast_slot_state(const struct shmap_ring *r, uint64_t c, uint64_t s)
{
	if (s == c + 1)
		return 0;
	if (s & RING_SEQ_WRITING)
		return (s & ~RING_SEQ_WRITING) <= c ? 1 : 2;
	return s <= c ? 1 : 2;
}

/*
 * Lossy: copy up to n validated elements from the cursor into dst without
 * moving the cursor. *k gets the count. Returns 0, or 1 with *lapped_s set
 * when the copy stopped at a slot the producer had moved past (lapped).
 */
static int bcast_lossy_read(struct shmap_ring *r, uint8_t *d, uint32_t n, uint32_t *k_out,
			    uint64_t *lapped_s)
{
	uint64_t c = r->pos;
	uint32_t k = 0;
	int lapped = 0;
	while (k < n) {
		volatile uint64_t *sp = &r->seq[c & r->mask];
		uint64_t s1 = shmap__atomic_load_acquire_u64(sp); /* pairs with R7 */
		int st = bcast_slot_state(r, c, s1);
		if (st == 1)
			break;
		if (st == 0) {
			shmap__atomic_copy_out(d + (size_t)k * r->esize, ring_slot(r, c), r->esize);
			/* A6: load-load fence, pairs with R5: if the copy saw any
			 * byte of a newer element, the re-read sees its mark. */
			shmap__atomic_fence_acquire();
			uint64_t s2 = shmap__atomic_load_u64(sp);
			if (s2 == s1) {
				c++;
				k++;
				continue;
			}
			s1 = s2; /* overwritten during the copy */
			if (bcast_slot_state(r, c, s1) != 2)
				s1 = c + r->cap + 1; /* at least one lap */
		}
		lapped = 1;
		*lapped_s = s1;
		break;
	}
	*k_out = k;
	return lapped;
}

static int bcast_pop_n(struct shmap_ring *r, void *dst, uint32_t n, uint32_t *done)
{
	uint64_t c = r->pos;
	uint32_t k = 0;
	if (bcast_lossy(r)) {
		uint64_t lapped_s = 0;
		int lapped = bcast_lossy_read(r, dst, n, &k, &lapped_s);
		if (k == 0 && lapped) {
			*done = 0;
			return bcast_resync(r, c, lapped_s);
		}
		c += k;
		r->pos = c;
		if (k)
			shmap__atomic_store_u64(&r->rec->pos, c); /* stats only */
		*done = k;
		return k || n == 0 ? SHMAP_OK : SHMAP_E_EMPTY;
	}
	/* reliable: the producer does not overwrite anything at or after our cursor */
	uint64_t want = n < r->cap ? n : r->cap;
	uint64_t s = 0;
	while (k < want) {
		s = shmap__atomic_load_acquire_u64(&r->seq[(c + k) & r->mask]); /* pairs with R7 */
		if (s != c + k + 1)
			break;
		k++;
	}
	if (k == 0) {
		*done = 0;
		if (n && bcast_slot_state(r, c, s) == 2)
			return bcast_resync(r, c, s); /* dropped or scribbled: resynchronise */
		return n ? SHMAP_E_EMPTY : SHMAP_OK;
	}
	shmap__ring_copy_out_n(r, c, dst, k);
	SHMAP_FAILPOINT("ring.bcast.pop.copied");
	r->pos = c + k;
	/* R6: release, pairs with A5 in shmap__bcast_min_cursor(). */
	shmap__atomic_store_release_u64(&r->rec->pos, c + k);
	ring_wake_producer(r);
	*done = k;
	return SHMAP_OK;
}

static int bcast_reserve(struct shmap_ring *r, uint32_t n, void **ptr, uint32_t *got)
{
	uint64_t p = r->pos;
	if (bcast_lossy(r)) {
		/* Staged in the handle's buffer: the caller's plain stores never
		 * race with a lapped subscriber reading the slots. */
		uint64_t cap = bcast_zbuf(r);
		if (cap == 0)
			return SHMAP_E_NOMEM;
		uint32_t k = n < cap ? n : (uint32_t)cap;
		*ptr = r->zbuf;
		*got = k;
		r->zc = k;
		r->zc_pos = p;
		return SHMAP_OK;
	}
	uint64_t run = r->cap - (p & r->mask);
	uint64_t k = n < run ? n : run;
	k = bcast_room(r, p, k);
	if (k == 0)
		return SHMAP_E_FULL;
	*ptr = ring_slot(r, p);
	*got = (uint32_t)k;
	r->zc = (uint32_t)k;
	r->zc_pos = p;
	return SHMAP_OK;
}

static void bcast_commit(struct shmap_ring *r, uint32_t n)
{
	if (bcast_lossy(r)) {
		uint32_t done;
		if (n)
			(void)bcast_push_n(r, r->zbuf, n, &done); /* never FULL */
		return;
	}
	SHMAP_FAILPOINT("ring.bcast.push.copied");
	if (n)
		bcast_publish(r, r->zc_pos, n);
}

static int bcast_peek(struct shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got)
{
	uint64_t c = r->pos;
	if (bcast_lossy(r)) {
		/* A validated copy in the handle's buffer (as pop makes): the
		 * caller never reads a slot the producer may overwrite. */
		uint64_t cap = bcast_zbuf(r);
		if (cap == 0)
			return SHMAP_E_NOMEM;
		uint32_t k = 0;
		uint64_t lapped_s = 0;
		int lapped = bcast_lossy_read(r, r->zbuf, n < cap ? n : (uint32_t)cap, &k, &lapped_s);
		if (k == 0)
			return lapped ? bcast_resync(r, c, lapped_s) : SHMAP_E_EMPTY;
		*ptr = r->zbuf;
		*got = k;
		r->zc = k;
		r->zc_pos = c;
		return SHMAP_OK;
	}
	uint64_t run = r->cap - (c & r->mask);
	uint64_t want = n < run ? n : run;
	uint64_t k = 0, s = 0;
	while (k < want) {
		s = shmap__atomic_load_acquire_u64(&r->seq[(c + k) & r->mask]); /* pairs with R7 */
		if (s != c + k + 1)
			break;
		k++;
	}
	if (k == 0) {
		if (bcast_slot_state(r, c, s) == 2)
			return bcast_resync(r, c, s);
		return SHMAP_E_EMPTY;
	}
	*ptr = ring_slot(r, c);
	*got = (uint32_t)k;
	r->zc = (uint32_t)k;
	r->zc_pos = c;
	return SHMAP_OK;
}

static int bcast_release(struct shmap_ring *r, uint32_t n)
{
	uint64_t c = r->zc_pos;
	if (bcast_lossy(r)) {
		/* The peeked elements were validated when copied (peek): a lap
		 * since then shows at the next pop. */
		r->pos = c + n;
		if (n)
			shmap__atomic_store_u64(&r->rec->pos, c + n); /* stats only */
		return SHMAP_OK;
	}
	SHMAP_FAILPOINT("ring.bcast.pop.copied");
	if (n) {
		r->pos = c + n;
		shmap__atomic_store_release_u64(&r->rec->pos, c + n); /* R6 */
		ring_wake_producer(r);
	}
	return SHMAP_OK;
}

/* Free the record of a dead subscriber (fixed and record rings). 1 if dropped. */
static int bcast_drop(struct shmap_ring *r, struct ring_rec *rec)
{
	/* acquire: pairs with the release store of ow when it was taken */
	uint64_t w = shmap__atomic_load_acquire_u64(&rec->ow);
	if (rec_state(w) == REC_FREE && rec_owner(w) == 0)
		return 0;
	uint32_t o = rec_owner(w);
	if (o == r->seg.owner || shmap__seg_owner_alive(&r->seg, o))
		return 0;
	/* full CAS: freed only if no one took it meanwhile */
	/* full CAS: pairs with the acquire loads of ow */
	if (shmap__atomic_cas_full_u64(&rec->ow, w, 0) != w)
		return 0;
	shmap__ring_rec_unsleep(r, rec);
	return 1;
}

/*
 * Reliable producer slow path (fixed and record rings): drop the dead
 * subscribers that hold the producer back, those at least `behind`
 * positions behind it (a fixed ring: a whole capacity; a record ring: any
 * amount, as the next record may need any room).
 */
int shmap__bcast_drop_behind(struct shmap_ring *r, uint64_t behind)
{
	uint64_t p = r->pos;
	int dropped = 0;
	for (uint32_t i = 0; i < r->max_cons; i++) {
		struct ring_rec *rec = &r->recs[i];
		/* acquire: pairs with the release store of ow in bcast_join() */
		uint64_t w = shmap__atomic_load_acquire_u64(&rec->ow);
		if (rec_state(w) != REC_ACTIVE)
			continue;
		/* acquire: pairs with R6 (the subscriber's release of its cursor) */
		uint64_t c = shmap__atomic_load_acquire_u64(&rec->pos);
		if (c + behind > p)
			continue; /* not holding us back */
		dropped += bcast_drop(r, rec);
	}
	if (dropped)
		r->min_cache = shmap__bcast_min_cursor(r, p);
	return dropped ? SHMAP_RECOVERED : SHMAP_OK;
}

static int bcast_maint(struct shmap_ring *r)
{
	return shmap__bcast_drop_behind(r, r->cap);
}

/* Checker: drop every dead subscriber. */
uint64_t shmap__bcast_drop_dead(struct shmap_ring *r)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < r->max_cons; i++)
		n += (uint64_t)bcast_drop(r, &r->recs[i]);
	return n;
}

/* Our record is CLAIMING (fixed and record rings): become ACTIVE and start
 * at the newest position. A dead holder's cursor is not taken over: a
 * subscriber that joins starts at the newest position anyway. */
void shmap__bcast_join(struct shmap_ring *r, int recovered)
{
	(void)recovered;
	struct ring_rec *rec = r->rec;
	/* acquire: pairs with the producer's head store (R7 publishes first) */
	uint64_t h1 = shmap__atomic_load_acquire_u64(&r->ctl->head);
	shmap__atomic_store_u64(&rec->pos, h1);
	shmap__atomic_store_u64(&rec->missed, 0);
	/* release: the cursor is set before the record is ACTIVE; pairs with
	 * the acquire load of ow in shmap__bcast_min_cursor() */
	shmap__atomic_store_release_u64(&rec->ow, rec_ow(REC_ACTIVE, r->seg.owner));
	/* F2: full fence, pairs with F1 in shmap__bcast_min_cursor(). */
	shmap__atomic_fence_full();
	uint64_t h2 = shmap__atomic_load_acquire_u64(&r->ctl->head); /* as h1 */
	if (h2 < h1)
		h2 = h1;
	/* R6-like release: pairs with A5 in shmap__bcast_min_cursor() */
	shmap__atomic_store_release_u64(&rec->pos, h2);
	r->pos = h2;
	r->lim = h2;
	r->missed = 0;
}

/*
 * Producer takeover: walk from the stored head past slots a dead producer
 * published (p + 1) without storing head. Bounded by the private capacity.
 */
static uint64_t bcast_repair_head(struct shmap_ring *r)
{
	uint64_t h = shmap__atomic_load_u64(&r->ctl->head);
	for (uint64_t i = 0; i < r->cap; i++) {
		/* acquire: pairs with R7 in bcast_publish() of the dead producer */
		uint64_t s = shmap__atomic_load_acquire_u64(&r->seq[h & r->mask]);
		if (s != h + 1)
			break;
		h++;
	}
	shmap__atomic_store_u64(&r->ctl->head, h);
	return h;
}

/* Checker: every slot word never written (0), published (q + 1) or being
 * written (WRITING | q) for a position q of its slot, not beyond head. */
static uint64_t bcast_check(struct shmap_ring *r)
{
	uint64_t bad = 0;
	/* acquire: head is stored relaxed (inspection only): pairs with nothing */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head); /* (relaxed store: inspection) */
	for (uint64_t i = 0; i < r->cap; i++) {
		uint64_t s = shmap__atomic_load_u64(&r->seq[i]);
		uint64_t q = s & ~RING_SEQ_WRITING;
		if (s == 0)
			continue;
		if (!(s & RING_SEQ_WRITING))
			q = s - 1;
		if ((q & r->mask) != i || q > h)
			bad++;
	}
	return bad;
}

/* Can the role make progress from p? (A lossy producer always can; a
 * reliable one when the slowest subscriber left room; a subscriber when
 * its next slot is published or lapped.) */
static int bcast_ready(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache)
{
	(void)lim;
	if (r->role == SHMAP_RING_PRODUCER) {
		if (bcast_lossy(r))
			return SHMAP_OK;
		if (*min_cache + r->cap > p)
			return SHMAP_OK;
		*min_cache = shmap__bcast_min_cursor(r, p);
		return *min_cache + r->cap > p ? SHMAP_OK : SHMAP_E_FULL;
	}
	/* acquire: pairs with R7 in bcast_publish() */
	uint64_t s = shmap__atomic_load_acquire_u64(&r->seq[p & r->mask]);
	if (s == p + 1)
		return SHMAP_OK;
	if (s & RING_SEQ_WRITING)
		return (s & ~RING_SEQ_WRITING) <= p ? SHMAP_E_EMPTY : SHMAP_OK;
	return s <= p ? SHMAP_E_EMPTY : SHMAP_OK;
}

/* read_at, lossy: the last capacity's worth below head. */
static int lossy_read_at(const struct shmap_ring *r, uint64_t pos, void *out)
{
	/* acquire: head is stored relaxed: pairs with nothing; the slot word's acquire load decides */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head); /* (the slot word decides) */
	return shmap__ring_read_seq(r, pos, out, h > r->cap ? h - r->cap : 0, h);
}

/* read_at, reliable: what the slowest subscriber has not passed. The
 * producer rewrites a slot only once every cursor passed it, so the lowest
 * cursor is re-read after the copy. */
static int reliable_read_at(const struct shmap_ring *r, uint64_t pos, void *out)
{
	/* acquire: head is stored relaxed: pairs with nothing; the slot word's acquire load decides */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head); /* (the slot word decides) */
	int rc = shmap__ring_read_seq(r, pos, out, shmap__bcast_min_cursor(r, h), h);
	/* the re-check of the lowest cursor: its loads (A5) follow the copy's, behind the acquire
	 * fence in shmap__ring_read_seq(); pairs with R6 */
	if (rc == SHMAP_OK && shmap__bcast_min_cursor(r, shmap__atomic_load_acquire_u64(&r->ctl->head)) > pos)
		return SHMAP_E_OVERRUN;
	return rc;
}

static uint64_t bcast_low(const struct shmap_ring *r, uint64_t head)
{
	return shmap__bcast_min_cursor(r, head);
}

const struct ring_ops shmap__ring_lossy_ops = {
	.type = SHMAP_RING_BCAST_LOSSY,
	.flags = RING_F_LOSSY,
	.push_n = bcast_push_n,
	.pop_n = bcast_pop_n,
	.reserve = bcast_reserve,
	.commit = bcast_commit,
	.peek = bcast_peek,
	.release = bcast_release,
	.read_at = lossy_read_at,
	.repair_head = bcast_repair_head,
	.join = shmap__bcast_join,
	.ready = bcast_ready,
	.size = shmap__ring_size_lossy,
	.low = bcast_low,
	.free_dead = shmap__bcast_drop_dead,
	.check = bcast_check,
};

const struct ring_ops shmap__ring_reliable_ops = {
	.type = SHMAP_RING_BCAST_RELIABLE,
	.flags = 0,
	.push_n = bcast_push_n,
	.pop_n = bcast_pop_n,
	.reserve = bcast_reserve,
	.commit = bcast_commit,
	.peek = bcast_peek,
	.release = bcast_release,
	.read_at = reliable_read_at,
	.repair_head = bcast_repair_head,
	.join = shmap__bcast_join,
	.maint = bcast_maint,
	.ready = bcast_ready,
	.size = shmap__ring_size_reliable,
	.low = bcast_low,
	.free_dead = shmap__bcast_drop_dead,
	.check = bcast_check,
};
