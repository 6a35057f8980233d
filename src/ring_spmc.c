/* SPDX-License-Identifier: MIT */
/*
 * ring_spmc.c - single-producer multi-consumer ring.
 *
 * Design notes
 * ------------
 * Slots carry sequence words exactly as in the SPSC ring (free p, published
 * p + 1, consumed p + cap). Consumers share one claim index `tail`:
 *
 *   consumer:  t = tail; check slots t .. t+k-1 published;
 *              rec.n = k; rec.pos = t + 1          (intent, in our record)
 *              CAS tail t -> t + k                  (the claim; full barrier)
 *              copy the elements out
 *              seq[t+i] = t + i + cap  (release)    (give the slots back)
 *              rec.pos = 0                          (claim finished)
 *
 *   (after a successful CAS: rec.n |= CLAIMED, marking the claim as real)
 *
 * Claims finish out of order, so the producer checks each slot it writes
 * (no probe-ahead). A slot x with seq == x + 1 and x < tail is claimed and
 * not yet given back. If a consumer dies between its CAS and clearing
 * rec.pos, its claim was never returned to the application. The producer
 * finds such a slot still claimed when it comes round and, after a while
 * (slow path), reclaims it when no record of a LIVE process covers x
 * (rec.pos - 1 <= x < rec.pos - 1 + n):
 *   - a dead CLAIMED record covers x: the reclaimer takes the claim by CAS
 *     on rec.pos (one winner), gives back every slot of it still claimed and
 *     adds the claim's length to `lost` (also the slots the dead consumer
 *     had already given back: it never returned them);
 *   - no CLAIMED record covers x (the owner died between its CAS and the
 *     CLAIMED mark): CAS seq x + 1 -> x + cap and add one to `lost`.
 * A live consumer whose intent covers x but whose CAS has not happened can
 * no longer claim x (tail is past x), so reclaiming never races a real
 * claim. A consumer taking over a dead record reclaims its claim first, and
 * shmap_ring_check(SHMAP_CHECK_REPAIR) reclaims them all. Elements are
 * counted, not redelivered: produced == returned by pops + lost, except
 * for a consumer killed in the few instructions between clearing rec.pos
 * and returning from pop (indistinguishable from a kill right after the
 * return). Only a reclaimer killed between its rec.pos CAS and its `lost`
 * update can make the count inexact.
 *
 * Hostile peer: tail, rec.pos and rec.n come from shared memory; slot
 * indices are masked, rec.n is clamped to the capacity, every loop is
 * bounded by the capacity, max_consumers or RING_RETRY.
 */
#include "ring-internal.h"

#define SPMC_CLAIMED RING_CLAIMED
#define SPMC_CLAIM_MAX 0x40000000u

/* Producer: publish [p, p + k), whose elements are written (push_n, commit). */
static void spmc_publish(struct shmap_ring *r, uint64_t p, uint64_t k)
{
	SHMAP_FAILPOINT("ring.spmc.push.copied");
	for (uint64_t i = 0; i < k; i++) {
		/* R3: release, pairs with A4 in spmc_claim() (and the acquire
		 * loads of the ready probe and read_at): the element's bytes are
		 * visible before its slot says "published". */
		shmap__atomic_store_release_u64(&r->seq[(p + i) & r->mask], p + i + 1);
	}
	SHMAP_FAILPOINT("ring.spmc.push.published");
	r->pos = p + k;
	/* relaxed: head is for inspection only (stats, size); the slot words
	 * carry the publication */
	shmap__atomic_store_u64(&r->ctl->head, p + k);
	ring_wake_consumers_n(r, k);
}

/* Producer: how many of [p, p + want) are free (given back by consumers). */
static uint64_t spmc_free(struct shmap_ring *r, uint64_t p, uint64_t want)
{
	uint64_t k = 0;
	/* A3: acquire, pairs with R4 in spmc_give_back() (and the reclaimers'
	 * full CAS): the consumer's reads of the slot completed before it
	 * gave the slot back. */
	while (k < want && shmap__atomic_load_acquire_u64(&r->seq[(p + k) & r->mask]) == p + k)
		k++;
	return k;
}

static int spmc_push_n(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done)
{
	uint64_t p = r->pos;
	uint64_t k = spmc_free(r, p, n < r->cap ? n : r->cap);
	*done = (uint32_t)k;
	if (k == 0)
		return SHMAP_E_FULL;
	shmap__ring_copy_in_n(r, p, src, k);
	spmc_publish(r, p, k);
	return SHMAP_OK;
}

/* Claim up to `want` published elements (no wrap if `nowrap`). */
static int spmc_claim(struct shmap_ring *r, uint64_t want, int nowrap, uint64_t *pos, uint64_t *got)
{
	struct ring_rec *rec = r->rec;
	for (uint32_t tries = 0; tries < RING_RETRY; tries++) {
		/* acquire: pairs with the claim CAS of the consumer that moved it */
		/* acquire: pairs with the claim CAS */
		uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
		uint64_t w = want < r->cap ? want : r->cap;
		if (w > SPMC_CLAIM_MAX)
			w = SPMC_CLAIM_MAX;
		if (nowrap && w > r->cap - (t & r->mask))
			w = r->cap - (t & r->mask);
		/* A4: acquire, pairs with R3 in spmc_publish(). */
		uint64_t s = shmap__atomic_load_acquire_u64(&r->seq[t & r->mask]);
		if (s != t + 1) {
			if (s == t + r->cap || s == t + r->cap + 1) {
				/* claimed and given back already: our tail must be stale,
				 * since a claim moves tail before it gives slots back */
				/* acquire: as the load of tail above */
				if (shmap__atomic_load_acquire_u64(&r->ctl->tail) == t)
					return SHMAP_E_CORRUPT;
				shmap_cpu_relax();
				continue;
			}
			return SHMAP_E_EMPTY;
		}
		uint64_t k = 1;
		while (k < w && shmap__atomic_load_acquire_u64(&r->seq[(t + k) & r->mask]) == t + k + 1) /* A4 */
			k++;
		shmap__atomic_store_u32(&rec->n, (uint32_t)k);
		/* Intent before the claim: the CAS below is a full barrier, so a
		 * reclaimer that sees tail past t also sees this record. */
		/* release: pairs with the reclaimers' acquire load of rec.pos (shmap__spmc_holder);
		 * the full CAS below orders it before the claim */
		shmap__atomic_store_release_u64(&rec->pos, t + 1);
		/* full CAS: the claim; pairs with the acquire loads of tail (claims, reclaimers,
		 * the ready probe) */
		if (shmap__atomic_cas_full_u64(&r->ctl->tail, t, t + k) == t) {
			SHMAP_FAILPOINT("ring.spmc.pop.cas");
			/* the claim is ours: a reclaimer now counts all k as lost */
			/* release: pairs with the reclaimers' acquire load of rec.n */
			shmap__atomic_store_release_u32(&rec->n, (uint32_t)k | SPMC_CLAIMED);
			SHMAP_FAILPOINT("ring.spmc.pop.claimed");
			*pos = t;
			*got = k;
			return SHMAP_OK;
		}
		/* release: the intent withdrawn; pairs with the reclaimers' acquire load of rec.pos */
		shmap__atomic_store_release_u64(&rec->pos, 0);
		shmap_cpu_relax();
	}
	return SHMAP_E_EMPTY;
}

static void spmc_give_back(struct shmap_ring *r, uint64_t t, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		/* R4: release, pairs with A3 in spmc_free(): our reads of the
		 * element complete before the producer may overwrite it. */
		shmap__atomic_store_release_u64(&r->seq[(t + i) & r->mask], t + i + r->cap);
	}
	SHMAP_FAILPOINT("ring.spmc.pop.released");
	/* release: the slots are given back before the claim disappears (a
	 * reclaimer seeing pos == 0 then fails its CAS on the slot). */
	/* release: the slots are given back before the claim disappears (a reclaimer seeing pos ==
	 * 0 then fails its CAS on the slot); pairs with the acquire load of rec.pos in
	 * shmap__spmc_holder() */
	shmap__atomic_store_release_u64(&r->rec->pos, 0);
	ring_wake_producer(r);
}

static int spmc_pop_n(struct shmap_ring *r, void *dst, uint32_t n, uint32_t *done)
{
	uint64_t t, k;
	*done = 0;
	int rc = spmc_claim(r, n, 0, &t, &k);
	if (rc != SHMAP_OK)
		return rc;
	shmap__ring_copy_out_n(r, t, dst, k);
	SHMAP_FAILPOINT("ring.spmc.pop.copied");
	spmc_give_back(r, t, k);
	*done = (uint32_t)k;
	return SHMAP_OK;
}

static int spmc_reserve(struct shmap_ring *r, uint32_t n, void **ptr, uint32_t *got)
{
	uint64_t p = r->pos;
	uint64_t run = r->cap - (p & r->mask);
	uint64_t k = spmc_free(r, p, n < run ? n : run);
	if (k == 0)
		return SHMAP_E_FULL;
	*ptr = ring_slot(r, p);
	*got = (uint32_t)k;
	r->zc = (uint32_t)k;
	r->zc_pos = p;
	return SHMAP_OK;
}

/* The same publication as push: the bytes are already in place. */
static void spmc_commit(struct shmap_ring *r, uint32_t n)
{
	if (n)
		spmc_publish(r, r->zc_pos, n);
}

static int spmc_peek(struct shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got)
{
	uint64_t t, k;
	int rc = spmc_claim(r, n, 1, &t, &k);
	if (rc != SHMAP_OK)
		return rc;
	*ptr = ring_slot(r, t);
	*got = (uint32_t)k;
	r->zc = (uint32_t)k;
	r->zc_pos = t;
	return SHMAP_OK;
}

/* The whole claim goes back, whatever n: a claim cannot be split. */
static int spmc_release(struct shmap_ring *r, uint32_t n)
{
	(void)n;
	SHMAP_FAILPOINT("ring.spmc.pop.copied");
	spmc_give_back(r, r->zc_pos, r->zc);
	return SHMAP_OK;
}

/* Giving up the role with a peek outstanding: the claim cannot go back to
 * the ring, so it is consumed. */
static void spmc_abandon(struct shmap_ring *r)
{
	if (r->zc && r->zc_kind == RING_ZC_PEEK)
		spmc_release(r, r->zc);
}

/*
 * Reclaim the claim of a dead consumer's record: give back every slot still
 * claimed, then take the claim by CAS on rec.pos (one reclaimer wins) and
 * count all its elements lost (a CLAIMED claim was never returned, whether
 * or not the dead consumer gave some slots back). Returns elements counted.
 *
 * The slots are freed first because freeing is idempotent (each CAS expects
 * the slot's exact position, which never repeats): a reclaimer killed while
 * freeing leaves the record naming the claim, and the next one redoes the
 * work and counts it exactly once. Only a kill between the claim's CAS and
 * the count ("ring.spmc.reap.won") leaves lost short, by this claim's size:
 * counter and claim are two words, and no order of two stores survives a
 * kill between them both ways.
 */
static uint64_t spmc_reap_rec(struct shmap_ring *r, struct ring_rec *rec, uint64_t pos, uint32_t nf)
{
	if (!(nf & SPMC_CLAIMED)) {
		/* an intent whose CAS never happened: nothing was taken */
		/* full CAS: one reclaimer clears the intent; pairs with the acquire loads of
		 * rec.pos */
		(void)shmap__atomic_cas_full_u64(&rec->pos, pos, 0);
		return 0;
	}
	uint64_t k = nf & ~SPMC_CLAIMED;
	if (k > r->cap)
		k = r->cap;
	for (uint64_t i = 0; i < k; i++) {
		uint64_t x = pos - 1 + i;
		/* full CAS: the slot goes back to the producer only if it still
		 * holds position x (claimed, not given back) */
		/* full CAS: as R4 (the slot given back), pairs with A3 in spmc_free() */
		shmap__atomic_cas_full_u64(&r->seq[x & r->mask], x + 1, x + r->cap);
	}
	SHMAP_FAILPOINT("ring.spmc.reap.freed");
	/* full CAS: one reclaimer takes the claim; pairs with the acquire loads of rec.pos */
	if (shmap__atomic_cas_full_u64(&rec->pos, pos, 0) != pos)
		return 0; /* another reclaimer counted it */
	SHMAP_FAILPOINT("ring.spmc.reap.won");
	/* full add: pairs with the acquire loads of lost (shmap_ring_lost, stats) */
	shmap__atomic_fetch_add_full_u64(&r->ctl->lost, k);
	return k;
}

/* A dead record's claim, if any, is reclaimed (record takeover, checker;
 * fixed and record SPMC rings). Returns what was counted lost. */
uint64_t shmap__spmc_reap_dead(struct shmap_ring *r, struct ring_rec *rec)
{
	/* acquire: pairs with the release stores of rec.pos in the claim */
	uint64_t pos = shmap__atomic_load_acquire_u64(&rec->pos);
	if (pos == 0)
		return 0;
	/* acquire: pairs with the release store of the CLAIMED mark in the claim */
	uint32_t nf = shmap__atomic_load_acquire_u32(&rec->n);
	return r->ops->reap_rec(r, rec, pos, nf);
}

int shmap__spmc_reap_held(struct shmap_ring *r, uint64_t x, uint64_t *lost)
{
	*lost = 0;
	/* acquire: pairs with the claim CAS */
	if (shmap__atomic_load_acquire_u64(&r->ctl->tail) <= x)
		return 1; /* published and unclaimed: really full */
	struct ring_rec *dead = NULL;
	uint64_t dead_pos = 0;
	uint32_t dead_nf = 0;
	for (uint32_t i = 0; i < r->max_cons; i++) {
		struct ring_rec *rec = &r->recs[i];
		/* acquire: pairs with the intent's release store in the claim */
		uint64_t pos = shmap__atomic_load_acquire_u64(&rec->pos);
		if (pos == 0)
			continue;
		/* acquire: pairs with the release store of the CLAIMED mark */
		uint32_t nf = shmap__atomic_load_acquire_u32(&rec->n);
		uint64_t n = nf & ~RING_CLAIMED;
		if (n > r->cap)
			n = r->cap;
		if (x - (pos - 1) >= n) /* x outside [pos-1, pos-1+n) (unsigned) */
			continue;
		/* acquire: pairs with the release store of ow when it was taken */
		uint32_t owner = rec_owner(shmap__atomic_load_acquire_u64(&rec->ow));
		if (owner == r->seg.owner || shmap__seg_owner_alive(&r->seg, owner))
			return 1; /* a live consumer holds (or is about to hold) it */
		if (nf & RING_CLAIMED) {
			dead = rec;
			dead_pos = pos;
			dead_nf = nf;
		}
	}
	if (!dead)
		return 0;
	*lost = r->ops->reap_rec(r, dead, dead_pos, dead_nf);
	return 1;
}

/*
 * Reclaim position x if no live consumer holds it. Returns elements
 * counted lost (0 if x is held by a live consumer or not claimed at all).
 * Bounded by max_consumers liveness probes.
 */
static uint64_t spmc_reap(struct shmap_ring *r, uint64_t x)
{
	/* acquire: pairs with R3 (published) and R4 (given back) */
	if (shmap__atomic_load_acquire_u64(&r->seq[x & r->mask]) != x + 1)
		return 0;
	uint64_t lost;
	if (shmap__spmc_reap_held(r, x, &lost))
		return lost;
	/* no record names the claim (its owner died right after its CAS, or
	 * the record was scribbled): reclaim this one slot */
	/* full CAS: as R4, pairs with A3 in spmc_free() */
	if (shmap__atomic_cas_full_u64(&r->seq[x & r->mask], x + 1, x + r->cap) != x + 1)
		return 0;
	SHMAP_FAILPOINT("ring.spmc.reap.cas");
	/* full add: pairs with the acquire loads of lost */
	shmap__atomic_fetch_add_full_u64(&r->ctl->lost, 1);
	return 1;
}

/* Producer slow path: reclaim the slot we need next if a dead consumer holds it. */
static int spmc_maint(struct shmap_ring *r)
{
	uint64_t p = r->pos;
	if (p < r->cap)
		return SHMAP_OK;
	if (!spmc_reap(r, p - r->cap))
		return SHMAP_OK;
	/* A3 again: pairs with R4 and the reclaimers' CAS */
	return shmap__atomic_load_acquire_u64(&r->seq[p & r->mask]) == p ? SHMAP_RECOVERED : SHMAP_OK;
}

/* Checker: reclaim every slot a dead consumer holds. Returns how many. */
static uint64_t spmc_reap_all(struct shmap_ring *r)
{
	/* acquire: pairs with the claim CAS */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	uint64_t n = 0;
	uint64_t from = t > r->cap ? t - r->cap : 0;
	for (uint64_t x = from; x < t; x++)
		n += spmc_reap(r, x);
	return n;
}

/*
 * Producer takeover: walk from the stored head past slots a dead producer
 * published (p + 1) and consumers may already have given back (p + cap)
 * without storing head. Bounded by the private capacity.
 */
static uint64_t spmc_repair_head(struct shmap_ring *r)
{
	uint64_t h = shmap__atomic_load_u64(&r->ctl->head);
	for (uint64_t i = 0; i < r->cap; i++) {
		/* acquire: pairs with R3 (publish) and R4 (give back) of the dead peers */
		uint64_t s = shmap__atomic_load_acquire_u64(&r->seq[h & r->mask]);
		if (s == h + 1 || s == h + r->cap)
			h++;
		else
			break;
	}
	shmap__atomic_store_u64(&r->ctl->head, h);
	return h;
}

/* Checker: indices in order; every slot word free (p) or published (p + 1)
 * for some position p of its slot. */
static uint64_t spmc_check(struct shmap_ring *r)
{
	uint64_t bad = 0;
	/* acquire: head is stored relaxed (inspection only): pairs with nothing, the slot words
	 * carry the state */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head); /* (relaxed store: inspection) */
	/* acquire: pairs with the claim CAS */
	/* acquire: pairs with the claim CAS */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	if (t > h || h - t > r->cap)
		bad++;
	for (uint64_t i = 0; i < r->cap; i++) {
		uint64_t s = shmap__atomic_load_u64(&r->seq[i]);
		uint64_t d = (s - i) & r->mask;
		if (d != 0 && d != 1)
			bad++;
	}
	return bad;
}

/* Can the role make progress from p? (The producer: its next slot is free;
 * a consumer: the slot at the claim index is published.) */
static int spmc_ready(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache)
{
	(void)lim;
	(void)min_cache;
	if (r->role == SHMAP_RING_PRODUCER)
		return spmc_free(r, p, 1) ? SHMAP_OK : SHMAP_E_FULL;
	/* acquire: pairs with the claim CAS of the consumer that moved tail */
	p = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	/* acquire: pairs with R3 in spmc_publish() */
	uint64_t s = shmap__atomic_load_acquire_u64(&r->seq[p & r->mask]);
	return s == p + 1 ? SHMAP_OK : SHMAP_E_EMPTY;
}

static int spmc_read_at(const struct shmap_ring *r, uint64_t pos, void *out)
{
	/* acquire: head is stored relaxed: pairs with nothing; the slot word's acquire load decides */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head); /* (the slot word decides) */
	/* acquire: pairs with the claim CAS */
	uint64_t lo = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	return shmap__ring_read_seq(r, pos, out, lo, h);
}

/*
 * A consumer took a record (fixed and record SPMC rings): a dead holder's
 * claim is reclaimed and counted lost, then the record is ACTIVE with no
 * claim.
 */
void shmap__spmc_join(struct shmap_ring *r, int recovered)
{
	struct ring_rec *rec = r->rec;
	if (recovered)
		shmap__spmc_reap_dead(r, rec);
	shmap__atomic_store_u32(&rec->n, 0);
	/* release: the claim is cleared before the record is ACTIVE; a
	 * reclaimer's acquire load of pos then sees no claim */
	/* release: the intent withdrawn; pairs with the reclaimers' acquire load of rec.pos */
	shmap__atomic_store_release_u64(&rec->pos, 0);
	/* release: pairs with the acquire loads of ow (reclaimers, inspection) */
	shmap__atomic_store_release_u64(&rec->ow, rec_ow(REC_ACTIVE, r->seg.owner));
}

/*
 * Checker repair (fixed and record SPMC rings): for each record of a dead
 * consumer, reclaim what is left of its claim and free the record.
 * Returns the records freed.
 */
uint64_t shmap__spmc_free_dead(struct shmap_ring *r)
{
	uint64_t fixed = 0;
	for (uint32_t i = 0; i < r->max_cons; i++) {
		struct ring_rec *rec = &r->recs[i];
		/* acquire: pairs with the release store of ow when it was taken */
		uint64_t w = shmap__atomic_load_acquire_u64(&rec->ow);
		if (w == 0 || rec_owner(w) == r->seg.owner || shmap__seg_owner_alive(&r->seg, rec_owner(w)))
			continue;
		shmap__spmc_reap_dead(r, rec);
		/* full CAS: the record is freed only if no one took it meanwhile */
		/* full CAS: the record freed only if still the dead one's; pairs with the acquire
		 * loads of ow */
		if (shmap__atomic_cas_full_u64(&rec->ow, w, 0) == w) {
			/* release: after the claim was reclaimed above */
			/* release: the intent withdrawn; pairs with the reclaimers' acquire load of
			 * rec.pos */
			shmap__atomic_store_release_u64(&rec->pos, 0);
			shmap__ring_rec_unsleep(r, rec);
			fixed++;
		}
	}
	return fixed;
}

const struct ring_ops shmap__ring_spmc_ops = {
	.type = SHMAP_RING_SPMC,
	.flags = RING_F_CLAIMS,
	.push_n = spmc_push_n,
	.pop_n = spmc_pop_n,
	.reserve = spmc_reserve,
	.commit = spmc_commit,
	.peek = spmc_peek,
	.release = spmc_release,
	.read_at = spmc_read_at,
	.repair_head = spmc_repair_head,
	.join = shmap__spmc_join,
	.abandon = spmc_abandon,
	.maint = spmc_maint,
	.ready = spmc_ready,
	.size = shmap__ring_size_tail,
	.low = shmap__ring_low_tail,
	.reap_all = spmc_reap_all,
	.reap_rec = spmc_reap_rec,
	.free_dead = shmap__spmc_free_dead,
	.check = spmc_check,
};
