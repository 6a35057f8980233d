/* SPDX-License-Identifier: MIT */
/*
 * ring_rec_spmc.c - single-producer multi-consumer ring of records.
 *
 * Design notes
 * ------------
 * Layout, header words and publication are those of the SPSC record ring
 * (ring_rec-internal.h, ring_rec_spsc.c): the producer clears the word
 * after what it publishes, then stores the first header with release
 * (R1r), so the word at a unit's start is 0 until the unit is published.
 *
 * Consumers share the claim index `tail` (bytes), as the fixed-slot SPMC
 * ring does with slot counts:
 *
 *   consumer:  t = tail (acquire); read the headers from t (acquire, A2r)
 *              and choose k published units [t, e);
 *              rec.n = e - t; rec.pos = t + 1       (intent, in our record)
 *              CAS tail t -> e                       (the claim; full barrier)
 *              rec.n |= CLAIMED
 *              copy the records out
 *              each unit's first word = done(unit length) (release, R4r),
 *                the last unit first
 *              rec.pos = 0                           (claim finished)
 *
 * A header read before the CAS can be stale (another consumer claimed t,
 * the producer lapped): then tail moved and the CAS fails. A successful CAS
 * proves the unit at t was unclaimed, so the producer could not have
 * rewritten it, and the words read were 0 or its published headers.
 *
 * Claims finish out of order, so the producer frees space by walking a
 * free cursor f over units marked done (A3r: acquire, pairs with R4r: the
 * consumer's reads completed). A unit ending at e may be written when
 * e + 8 <= f + cap. f is stored in the record line (`intent`) before the
 * producer writes into the space it freed, so a takeover can continue the
 * walk.
 *
 * A consumer that dies holding a claim leaves a unit at f that is never
 * marked done. The producer's slow path (after RING_STUCK_NS of FULL)
 * reclaims the unit at f when it is claimed (f < tail) and no record of
 * a LIVE process covers f: a dead CLAIMED record covering f loses its
 * whole claim (CAS on rec.pos: one reclaimer wins; every record of the
 * claim is counted in `lost`, as the fixed-slot ring counts elements);
 * otherwise (the owner died between its CAS and the CLAIMED mark, or its
 * record was taken over) the unit alone is marked done by CAS and counted.
 * A consumer taking over a dead record and shmap_ring_check() with
 * SHMAP_CHECK_REPAIR reclaim CLAIMED claims the same way.
 * Records pushed == records popped + lost (reclaimed), as for the
 * fixed-slot SPMC ring, lost counting records.
 *
 * Hostile peer: tail, rec.pos and rec.n come from shared memory; headers
 * and done words are checked against their position, lengths against the
 * private max_record and capacity; every walk is bounded by cap / 8 steps,
 * claims retry at most RING_RETRY times.
 */
#include "ring_rec-internal.h"

#define RECM_CLAIMED RING_CLAIMED
#define RECM_CLAIM_MAX 0x40000000u
#define RECM_UNITS 64u /* units per claim: a pop_n returns at most this many */

/* The unit at x as the producer or a reclaimer sees it: its length (pad
 * included) if published (*st = 1) or done (*st = 2); 0 otherwise. */
static inline uint64_t recm_unit(const struct shmap_ring *r, uint64_t x, int *st)
{
	/* A3r: acquire, pairs with R4r (done) and R1r (published) */
	uint64_t hw = shmap__atomic_load_acquire_u64(rec_word(r, x));
	*st = 0;
	if (hw == 0)
		return 0;
	if (rec_is_done(hw, x)) {
		uint32_t len = (uint32_t)hw;
		if (len == 0 || (len & 7u) || len > r->cap - REC_HDR)
			return 0;
		*st = 2;
		return len;
	}
	uint64_t rec;
	uint32_t len;
	if (rec_parse(r, x, hw, 1, &rec, &len) != 0)
		return 0;
	*st = 1;
	return rec + rec_size(len) - x;
}

/* The free cursor f advanced over the done units below p until [.., upto)
 * is free or a unit is not done (reads only; bounded by the ring's units). */
static uint64_t recm_walk_done(const struct shmap_ring *r, uint64_t f, uint64_t p, uint64_t upto)
{
	for (uint64_t i = 0; i < r->cap / 8u && upto > f + r->cap && f < p; i++) {
		int st;
		uint64_t len = recm_unit(r, f, &st);
		if (st != 2 || f + len > p)
			break;
		f += len;
	}
	return f;
}

/* Producer: advance the free cursor over done units until [p, upto) is
 * free (UINT64_MAX: as far as it goes). */
static int recm_room(struct shmap_ring *r, uint64_t p, uint64_t upto)
{
	if (shmap_likely(upto <= r->lim))
		return 1;
	uint64_t f = recm_walk_done(r, r->rx.free, p, upto);
	if (f != r->rx.free) {
		/* stored before we write into the space freed (takeover resumes here) */
		/* release: pairs with the acquire load of intent at takeover and in the checker */
		shmap__atomic_store_release_u64(&r->rx.line->intent, f);
		r->rx.free = f;
	}
	r->lim = f + r->cap;
	return upto <= r->lim;
}

/* Producer: publish the units [p0, end) whose first word is hw (R1r). */
static void recm_publish(struct shmap_ring *r, uint64_t p0, uint64_t hw, uint64_t end)
{
	/* R1r: release, pairs with A2r in recm_claim() and A3r: the units'
	 * bytes and every other header are visible before the first word */
	shmap__atomic_store_release_u64(rec_word(r, p0), hw);
	SHMAP_FAILPOINT("ring.rec.spmc.push.published");
	r->pos = end;
	/* R1b, as SPSC: release, pairs with the acquire loads of head
	 * (takeover, inspection) */
	shmap__atomic_store_release_u64(&r->ctl->head, end);
	ring_wake_consumers(r);
}

static int recm_room_any(struct shmap_ring *r, uint64_t p, uint64_t upto, int *bad)
{
	(void)bad;
	return recm_room(r, p, upto);
}

static int recm_push_n(struct shmap_ring *r, const uint8_t *src, const uint32_t *lens, uint32_t n,
		       uint32_t *done)
{
	uint64_t p0 = r->pos, end = p0, first_hw = 0;
	int bad = 0;
	uint32_t k = rec_fill(r, src, lens, n, recm_room_any, &bad, &end, &first_hw);
	*done = k;
	if (k == 0)
		return SHMAP_E_FULL;
	SHMAP_FAILPOINT("ring.rec.spmc.push.copied");
	recm_publish(r, p0, first_hw, end);
	return SHMAP_OK;
}

static int recm_reserve(struct shmap_ring *r, uint32_t len, void **ptr)
{
	uint64_t p = r->pos;
	struct rec_place pl;
	rec_place(r, p, len, &pl);
	if (!recm_room(r, p, pl.end + REC_HDR))
		return SHMAP_E_FULL;
	r->rx.z_pos = p;
	r->rx.z_rec = pl.rec;
	r->rx.z_len = len;
	*ptr = rec_payload(r, pl.rec);
	return SHMAP_OK;
}

static void recm_commit(struct shmap_ring *r, uint32_t len)
{
	if (len == 0)
		return;
	uint64_t end;
	uint64_t hw = rec_commit_words(r, len, &end);
	SHMAP_FAILPOINT("ring.rec.spmc.push.copied");
	recm_publish(r, r->rx.z_pos, hw, end);
}

/*
 * Claim up to n published units from tail whose records fit in out_len
 * bytes, at most RECM_UNITS. On success the claim [units[0], *ep) of *kp units
 * is ours.
 * Returns OK, EMPTY, BUFSIZE (*need), CORRUPT.
 */
static int recm_claim(struct shmap_ring *r, uint32_t n, uint64_t out_len, uint64_t *units, uint32_t *kp,
		      uint64_t *ep, uint32_t *need)
{
	struct ring_rec *me = r->rec;
	if (n > RECM_UNITS)
		n = RECM_UNITS;
	for (uint32_t tries = 0; tries < RING_RETRY; tries++) {
		/* acquire: pairs with the claim CAS of the consumer that moved it */
		/* acquire: pairs with the claim CAS */
		uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
		if (t & 7u)
			return SHMAP_E_CORRUPT;
		uint64_t c = t, used = 0;
		uint32_t k = 0;
		int bad = 0;
		while (k < n) {
			/* A2r: acquire, pairs with R1r */
			uint64_t hw = shmap__atomic_load_acquire_u64(rec_word(r, c));
			uint64_t rec;
			uint32_t len;
			if (hw == 0)
				break;
			if (rec_parse(r, c, hw, 1, &rec, &len) != 0) {
				bad = 1;
				break;
			}
			uint64_t end = rec + rec_size(len);
			if (end - t > RECM_CLAIM_MAX || end - t > r->cap)
				break;
			if (len > out_len - used) {
				if (k == 0) {
					/* acquire: pairs with the claim CAS of the consumer that
					 * moved tail */
					if (shmap__atomic_load_acquire_u64(&r->ctl->tail) != t)
						goto retry; /* stale view */
					*need = len;
					return SHMAP_E_BUFSIZE;
				}
				break;
			}
			used += len;
			units[k++] = c;
			c = end;
		}
		if (k == 0) {
			/* acquire: pairs with the claim CAS of the consumer that moved tail */
			if (shmap__atomic_load_acquire_u64(&r->ctl->tail) != t)
				goto retry;
			return bad ? SHMAP_E_CORRUPT : SHMAP_E_EMPTY;
		}
		shmap__atomic_store_u32(&me->n, (uint32_t)(c - t));
		shmap__atomic_store_u64(&me->nrec, k);
		/* Intent before the claim: the CAS below is a full barrier, so a
		 * reclaimer that sees tail past t also sees this record. */
		/* release: pairs with the reclaimers' acquire load of rec.pos (shmap__spmc_holder);
		 * the full CAS below orders it before the claim */
		shmap__atomic_store_release_u64(&me->pos, t + 1);
		/* full CAS: the claim; pairs with the acquire loads of tail */
		if (shmap__atomic_cas_full_u64(&r->ctl->tail, t, c) == t) {
			SHMAP_FAILPOINT("ring.rec.spmc.pop.cas");
			/* release: pairs with the reclaimers' acquire load of rec.n */
			shmap__atomic_store_release_u32(&me->n, (uint32_t)(c - t) | RECM_CLAIMED);
			SHMAP_FAILPOINT("ring.rec.spmc.pop.claimed");
			*kp = k;
			*ep = c;
			return SHMAP_OK;
		}
		/* release: the intent withdrawn; pairs with the reclaimers' acquire load of rec.pos */
		shmap__atomic_store_release_u64(&me->pos, 0);
	retry:
		shmap_cpu_relax();
	}
	return SHMAP_E_EMPTY;
}

/*
 * Mark the k units of our claim (ending at e) done, the LAST first: the
 * producer cannot pass the claim's first unit before all of it is done,
 * so a reclaimer after our death finds the claim intact, then drop the
 * intent.
 */
static void recm_give_back(struct shmap_ring *r, const uint64_t *units, uint32_t k, uint64_t e)
{
	for (uint32_t i = k; i-- > 0;) {
		uint64_t c = units[i], end = i + 1 < k ? units[i + 1] : e;
		/* R4r: release, pairs with A3r: our reads of the unit completed */
		shmap__atomic_store_release_u64(rec_word(r, c), rec_done_hw(c, (uint32_t)(end - c)));
	}
	SHMAP_FAILPOINT("ring.rec.spmc.pop.released");
	/* release: the units are done before the claim disappears */
	/* pairs with the acquire load of rec.pos in shmap__spmc_holder() */
	shmap__atomic_store_release_u64(&r->rec->pos, 0);
	ring_wake_producer(r);
}

static int recm_pop_n(struct shmap_ring *r, uint8_t *out, uint64_t out_len, uint32_t *lens, uint32_t n,
		      uint32_t *done, uint32_t *need)
{
	uint64_t units[RECM_UNITS], e, used = 0;
	uint32_t k = 0, got = 0;
	*done = 0;
	int rc = recm_claim(r, n, out_len, units, &k, &e, need);
	if (rc != SHMAP_OK)
		return rc;
	for (uint32_t i = 0; i < k; i++) {
		/* ours now: the headers cannot change */
		uint64_t c = units[i], hw = shmap__atomic_load_u64(rec_word(r, c)), rec;
		uint32_t len;
		if (rec_parse(r, c, hw, 0, &rec, &len) != 0 || len > out_len - used)
			break; /* cannot happen unless scribbled */
		memcpy(out + used, rec_payload(r, rec), len);
		used += len;
		lens[got++] = len;
	}
	SHMAP_FAILPOINT("ring.rec.spmc.pop.copied");
	recm_give_back(r, units, k, e);
	*done = got;
	return got ? SHMAP_OK : SHMAP_E_CORRUPT;
}

static int recm_peek(struct shmap_ring *r, const void **ptr, uint32_t *len)
{
	uint64_t t, e, rec;
	uint32_t need = 0, k = 0;
	int rc = recm_claim(r, 1, UINT64_MAX, &t, &k, &e, &need);
	if (rc != SHMAP_OK)
		return rc;
	uint64_t hw = shmap__atomic_load_u64(rec_word(r, t));
	if (rec_parse(r, t, hw, 0, &rec, len) != 0) {
		recm_give_back(r, &t, 1, e);
		return SHMAP_E_CORRUPT;
	}
	r->rx.z_pos = t;
	r->rx.z_rec = rec;
	r->rx.z_len = *len;
	*ptr = rec_payload(r, rec);
	return SHMAP_OK;
}

static int recm_release(struct shmap_ring *r)
{
	SHMAP_FAILPOINT("ring.rec.spmc.pop.copied");
	uint64_t t = r->rx.z_pos;
	recm_give_back(r, &t, 1, r->rx.z_rec + rec_size(r->rx.z_len));
	return SHMAP_OK;
}

/*
 * Reclaim a dead consumer's claim: take it by CAS on rec.pos (one
 * reclaimer wins), mark every unit of it still published done and count
 * every record of it lost. Returns records counted.
 */
static uint64_t recm_reap_rec(struct shmap_ring *r, struct ring_rec *rec, uint64_t pos, uint32_t nf)
{
	/* full CAS: one reclaimer takes the claim; pairs with the acquire loads of rec.pos */
	if (shmap__atomic_cas_full_u64(&rec->pos, pos, 0) != pos)
		return 0;
	if (!(nf & RECM_CLAIMED))
		return 0; /* an intent whose CAS never happened: nothing was taken */
	uint64_t c = pos - 1, e = c + (nf & ~RECM_CLAIMED);
	/* every record of the claim is lost, also those the dead consumer
	 * marked done (it never returned them) */
	uint64_t lost = shmap__atomic_load_u64(&rec->nrec);
	if (lost > (nf & ~RECM_CLAIMED) / 16u)
		lost = (nf & ~RECM_CLAIMED) / 16u; /* scribbled: a record takes 16 bytes at least */
	if (c & 7u)
		return 0;
	/* give back what is still claimed (units are marked done last first,
	 * so the producer has not passed the claim's start unless all of it
	 * is done: then the walk may stop at a rewritten word) */
	for (uint64_t i = 0; i < r->cap / 8u && c < e; i++) {
		int st;
		uint64_t len = recm_unit(r, c, &st);
		if (st == 0)
			break;
		if (st == 1) {
			uint64_t hw = rec_hw(c, 0) & ~UINT64_C(0xffffffff);
			hw |= shmap__atomic_load_u64(rec_word(r, c)) & 0xffffffffu;
			/* full CAS: as R4r (the unit done), pairs with A3r */
			shmap__atomic_cas_full_u64(rec_word(r, c), hw, rec_done_hw(c, (uint32_t)len));
		}
		c += len;
	}
	SHMAP_FAILPOINT("ring.rec.spmc.reap.freed");
	/* full add: pairs with the acquire loads of lost */
	shmap__atomic_fetch_add_full_u64(&r->ctl->lost, lost);
	return lost;
}

/*
 * Reclaim the unit at x if it is claimed and no live consumer holds it.
 * Returns records counted lost (0: held by a live consumer, not claimed,
 * or not a published unit).
 */
static uint64_t recm_reap(struct shmap_ring *r, uint64_t x)
{
	int st;
	uint64_t ulen = recm_unit(r, x, &st);
	if (st != 1)
		return 0;
	uint64_t lost;
	if (shmap__spmc_reap_held(r, x, &lost))
		return lost;
	/* no record names the claim (its owner died right after its CAS, or
	 * its record was taken over): reclaim this unit */
	/* A3r: pairs with R1r (published) and R4r (done) */
	uint64_t hw = shmap__atomic_load_acquire_u64(rec_word(r, x));
	/* full CAS: as R4r, pairs with A3r */
	if (rec_is_done(hw, x) || shmap__atomic_cas_full_u64(rec_word(r, x), hw, rec_done_hw(x, (uint32_t)ulen)) != hw)
		return 0;
	SHMAP_FAILPOINT("ring.rec.spmc.reap.cas");
	/* full add: pairs with the acquire loads of lost */
	shmap__atomic_fetch_add_full_u64(&r->ctl->lost, 1);
	return 1;
}

/* Producer slow path: reclaim the units that hold the free cursor back. */
static int recm_maint(struct shmap_ring *r)
{
	uint64_t got = 0;
	for (uint64_t i = 0; i < r->cap / 8u; i++) {
		(void)recm_room(r, r->pos, UINT64_MAX); /* past everything done */
		uint64_t f = r->rx.free;
		if (f >= r->pos)
			break;
		uint64_t k = recm_reap(r, f);
		if (k == 0)
			break; /* held by a live consumer, unclaimed, or not a unit */
		got += k;
	}
	return got ? SHMAP_RECOVERED : SHMAP_OK;
}

/* Checker: reclaim every claim of a dead consumer. Returns records counted. */
static uint64_t recm_reap_all(struct shmap_ring *r)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < r->max_cons; i++) {
		struct ring_rec *rec = &r->recs[i];
		/* acquire: pairs with the release/CAS stores of ow */
		uint64_t w = shmap__atomic_load_acquire_u64(&rec->ow);
		if (rec_owner(w) == r->seg.owner || (w && shmap__seg_owner_alive(&r->seg, rec_owner(w))))
			continue;
		n += shmap__spmc_reap_dead(r, rec);
	}
	return n;
}

/*
 * Producer takeover: the free cursor resumes where the dead producer
 * stored it; head follows published or done units from the stored head
 * (units published without storing head may be claimed and done since).
 */
static uint64_t recm_repair_head(struct shmap_ring *r)
{
	uint64_t h = shmap__atomic_load_u64(&r->ctl->head);
	/* acquire: pairs with the producer's release of intent (recm_room()) */
	uint64_t f = shmap__atomic_load_acquire_u64(&r->rx.line->intent);
	/* acquire: pairs with the claim CAS */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	if ((f & 7u) || f > t)
		f = t & ~UINT64_C(7); /* scribbled: best effort */
	if ((h & 7u) || h < f || h - f > r->cap)
		h = t > f ? t & ~UINT64_C(7) : f;
	for (uint64_t i = 0; i < r->cap / 8u; i++) {
		int st;
		uint64_t len = recm_unit(r, h, &st);
		if (st == 0 || h + len + REC_HDR > f + r->cap)
			break;
		h += len;
	}
	/* R1b: release, pairs with the acquire loads of head */
	shmap__atomic_store_release_u64(&r->ctl->head, h);
	r->rx.free = f; /* the first room check (lim = head) walks from f */
	return h;
}

/*
 * Readiness at p (ops->ready, shmap__ring_ready(): a snapshot, nothing of
 * the handle written; the descriptor waiter calls it from its own thread).
 * The producer's free cursor is read from its shared copy (intent, stored
 * whenever it moves) and checked; the walk over done units is
 * recm_room()'s (recm_walk_done()) without its stores: the push that
 * follows repeats it.
 */
static int recm_ready(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache)
{
	(void)min_cache;
	if (r->role == SHMAP_RING_PRODUCER) {
		struct rec_place pl;
		rec_place(r, p, r->rx.max_rec, &pl); /* room for the largest record */
		uint64_t upto = pl.end + REC_HDR;
		if (upto <= lim)
			return SHMAP_OK;
		/* acquire: pairs with the release store of intent in recm_room() */
		uint64_t f = shmap__atomic_load_acquire_u64(&r->rx.line->intent);
		if (f > p || p - f > r->cap || (f & 7u))
			return SHMAP_E_FULL; /* scribbled: the push reports what it finds */
		f = recm_walk_done(r, f, p, upto);
		return upto <= f + r->cap ? SHMAP_OK : SHMAP_E_FULL;
	}
	/* acquire: pairs with the claim CAS */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	/* A2r: acquire, pairs with R1r */
	return shmap__atomic_load_acquire_u64(rec_word(r, t & ~UINT64_C(7))) ? SHMAP_OK : SHMAP_E_EMPTY;
}

/* Checker: free <= tail <= head <= free + cap, aligned. */
static uint64_t recm_check(struct shmap_ring *r)
{
	/* acquire: pairs with R1b, the producer's release of head */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	/* acquire: pairs with the claim CAS */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	/* acquire: pairs with the producer's release of intent (recm_room()) */
	uint64_t f = shmap__atomic_load_acquire_u64(&r->rx.line->intent);
	if ((h & 7u) || (t & 7u) || (f & 7u) || t > h || f > t || h - f > r->cap)
		return 1;
	return 0;
}

/* Giving up the role with a peeked record: it cannot go back to the ring,
 * so it is consumed. */
static void recm_abandon(struct shmap_ring *r)
{
	if (r->rx.z_kind == RING_ZC_PEEK && r->role == SHMAP_RING_CONSUMER)
		(void)recm_release(r);
}

const struct ring_ops shmap__ring_rec_spmc_ops = {
	.type = SHMAP_RING_SPMC,
	.flags = RING_F_CLAIMS | RING_F_RECORDS,
	.rec_push_n = recm_push_n,
	.rec_pop_n = recm_pop_n,
	.rec_reserve = recm_reserve,
	.rec_commit = recm_commit,
	.rec_peek = recm_peek,
	.rec_release = recm_release,
	.repair_head = recm_repair_head,
	.join = shmap__spmc_join,
	.abandon = recm_abandon,
	.maint = recm_maint,
	.ready = recm_ready,
	.size = shmap__ring_size_tail,
	.low = shmap__ring_low_tail,
	.reap_all = recm_reap_all,
	.reap_rec = recm_reap_rec,
	.free_dead = shmap__spmc_free_dead,
	.check = recm_check,
};
