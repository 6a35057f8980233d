/* SPDX-License-Identifier: MIT */
/*
 * htable-scan.c - the hash table's whole-table operations: cursors,
 * foreach, statistics, clear and the checker.
 *
 * Design notes
 * ------------
 * Iteration walks the buckets in index order and reads each one with the
 * seqlock protocol of htable.c (shmap__ht_read_bucket), so it never blocks
 * and never writes shared memory. Entries never move, so an entry present
 * for the whole iteration is returned exactly once.
 *
 * clear() and check(REPAIR) take every bucket lock in ascending order
 * (lock rule L4 of htable.c: writers only ever wait for one lock while
 * holding none, so ordered acquisition cannot deadlock with them), then
 * change buckets with one release store each:
 *   clear:  FULL -> TOMB for all, then TOMB -> EMPTY for all. Killed in
 *           phase 1 it leaves some entries erased (I1 holds: no EMPTY is
 *           created while FULL entries remain); in phase 2 no FULL is left.
 *   check:  verifies I1 (no EMPTY between a key's home and its bucket), no
 *           duplicate key, lengths and states within the private limits,
 *           the size counter, and no lock held by a dead owner.
 */
#include <stdlib.h>
#include <string.h>

#include "htable-internal.h"

/* ------------------------------------------------------------------ */
/* iteration, statistics                                               */

SHMAP_API int shmap_htable_cursor_new(shmap_htable *t, shmap_htable_cursor **ret)
{
	if (!t || !ret)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	struct shmap_htable_cursor *c = calloc(1, sizeof(*c));
	if (!c)
		return SHMAP_E_NOMEM;
	c->t = t;
	*ret = c;
	return SHMAP_OK;
}

static inline int shmap_htable_cursor_next__body(shmap_htable_cursor *c, void *key, uint32_t key_cap, uint32_t *klen,
						 void *val, uint32_t val_cap, uint32_t *vlen)
{
	if (!c || !klen || !vlen || (!key && key_cap) || (!val && val_cap))
		return SHMAP_E_INVAL;
	struct shmap_htable *t = c->t;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	uint32_t budget = 0;
	while (c->pos < t->nb) {
		uint32_t kl = 0, vl = 0;
		rc = shmap__ht_read_bucket(t, c->pos, key, key_cap, &kl, val, val_cap, &vl, &budget);
		if (rc < 0)
			return rc;
		if (rc == HT_FULL) {
			*klen = kl;
			*vlen = vl;
			if (kl > key_cap || vl > val_cap)
				return SHMAP_E_BUFSIZE;
			c->pos++;
			return SHMAP_OK;
		}
		c->pos++;
	}
	return SHMAP_E_NOTFOUND;
}

SHMAP_API int shmap_htable_cursor_next(shmap_htable_cursor *c, void *key, uint32_t key_cap, uint32_t *klen,
				       void *val, uint32_t val_cap, uint32_t *vlen)
{
	int rc = shmap_htable_cursor_next__body(c, key, key_cap, klen, val, val_cap, vlen);
	return c ? shmap__seg_leave(&c->t->seg, rc) : rc;
}

SHMAP_API int shmap_htable_cursor_reset(shmap_htable_cursor *c)
{
	if (!c)
		return SHMAP_E_INVAL;
	c->pos = 0;
	return SHMAP_OK;
}

SHMAP_API void shmap_htable_cursor_free(shmap_htable_cursor *c)
{
	free(c);
}

static inline int shmap_htable_foreach__body(shmap_htable *t, shmap_htable_foreach_fn fn, void *arg)
{
	if (!t || !fn)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	uint8_t *kb = malloc(t->key_max), *vb = malloc(t->value_max);
	if (!kb || !vb) {
		free(kb);
		free(vb);
		return SHMAP_E_NOMEM;
	}
	rc = SHMAP_OK;
	for (uint64_t i = 0; i < t->nb; i++) {
		uint32_t kl = 0, vl = 0, budget = 0;
		int r = shmap__ht_read_bucket(t, i, kb, t->key_max, &kl, vb, t->value_max, &vl, &budget);
		if (r < 0) {
			rc = r;
			break;
		}
		if (r == HT_FULL) {
			r = fn(kb, kl, vb, vl, arg);
			if (r != 0) {
				rc = r;
				break;
			}
		}
	}
	free(kb);
	free(vb);
	return rc;
}

SHMAP_API int shmap_htable_foreach(shmap_htable *t, shmap_htable_foreach_fn fn, void *arg)
{
	int rc = shmap_htable_foreach__body(t, fn, arg);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

static inline int shmap_htable_stats__body(const shmap_htable *t, uint64_t *live, uint64_t *tombstones,
					   uint64_t *longest_probe)
{
	if (!t)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	uint8_t *kb = malloc(t->key_max);
	if (!kb)
		return SHMAP_E_NOMEM;
	uint64_t nlive = 0, ntomb = 0, longest = 0;
	rc = SHMAP_OK;
	for (uint64_t i = 0; i < t->nb; i++) {
		uint32_t kl = 0, vl = 0, budget = 0;
		int r = shmap__ht_read_bucket(t, i, kb, t->key_max, &kl, NULL, 0, &vl, &budget);
		if (r == SHMAP_E_BUSY)
			continue; /* a hot bucket: statistics are approximate anyway */
		if (r < 0) {
			rc = r;
			break;
		}
		if (r == HT_TOMB)
			ntomb++;
		if (r == HT_FULL) {
			nlive++;
			uint64_t d = ((i - ht_hash(t, kb, kl)) & t->mask) + 1u;
			if (d > longest)
				longest = d;
		}
	}
	free(kb);
	if (rc == SHMAP_OK) {
		if (live)
			*live = nlive;
		if (tombstones)
			*tombstones = ntomb;
		if (longest_probe)
			*longest_probe = longest;
	}
	return rc;
}

SHMAP_API int shmap_htable_stats(const shmap_htable *t, uint64_t *live, uint64_t *tombstones,
				 uint64_t *longest_probe)
{
	int rc = shmap_htable_stats__body(t, live, tombstones, longest_probe);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

/* ------------------------------------------------------------------ */
/* clear, check                                                        */

/* Take every lock in ascending order (L4). OK / RECOVERED (+ *nrec) / TIMEOUT. */
static int lock_all(struct shmap_htable *t, uint64_t *nrec)
{
	const uint64_t deadline = shmap__deadline_ms(t->timeout_ms);
	for (uint64_t i = 0; i < t->nb; i++) {
		int rc = lock_wait(t, i, deadline);
		if (rc < 0) {
			while (i-- > 0)
				unlock(t, i);
			return rc;
		}
		if (rc == SHMAP_RECOVERED)
			++*nrec;
	}
	return *nrec ? SHMAP_RECOVERED : SHMAP_OK;
}

static void unlock_all(struct shmap_htable *t)
{
	for (uint64_t i = 0; i < t->nb; i++)
		unlock(t, i);
}

static inline int shmap_htable_clear__body(shmap_htable *t)
{
	if (!t)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	uint64_t nrec = 0;
	rc = lock_all(t, &nrec);
	if (rc < 0)
		return rc;
	SHMAP_FAILPOINT("htable.clear.locked");
	/* Phase 1: FULL -> TOMB (each step leaves a valid table). */
	for (uint64_t i = 0; i < t->nb; i++) {
		uint64_t v = shmap_atomic_load_acquire_u64(b_ver(t, i));
		if (v_state(v) != HT_EMPTY && v_state(v) != HT_TOMB)
			shmap_atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_TOMB, 0, 0, 0)); /* W2 */
	}
	SHMAP_FAILPOINT("htable.clear.tombed");
	/* Phase 2: no FULL bucket is left, so every TOMB may become EMPTY. */
	for (uint64_t i = 0; i < t->nb; i++) {
		uint64_t v = shmap_atomic_load_acquire_u64(b_ver(t, i));
		if (v_state(v) != HT_EMPTY)
			shmap_atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_EMPTY, 0, 0, 0)); /* W2 */
	}
	for (uint32_t s = 0; s < HT_STRIPES; s++)
		shmap_atomic_store_u64(&t->counts[s * 8u], 0);
	unlock_all(t);
	return rc;
}

SHMAP_API int shmap_htable_clear(shmap_htable *t)
{
	int rc = shmap_htable_clear__body(t);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

static inline int shmap_htable_check__body(shmap_htable *t, uint32_t flags, uint64_t *problems)
{
	if (!t || (flags & ~SHMAP_CHECK_REPAIR))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	/* A header rewritten after open cannot be repaired: report it. */
	if (shmap__seg_verify_header(&t->seg) != SHMAP_OK) {
		if (problems)
			*problems = 1;
		return SHMAP_E_CORRUPT;
	}
	const int repair = (flags & SHMAP_CHECK_REPAIR) != 0;
	uint64_t nprob = 0, live = 0;
	int busy = 0;
	if (repair) {
		rc = lock_all(t, &nprob);
		if (rc < 0)
			return rc == SHMAP_E_TIMEOUT ? SHMAP_E_BUSY : rc;
		SHMAP_FAILPOINT("htable.check.locked");
	} else {
		for (uint64_t i = 0; i < t->nb; i++) {
			uint32_t o = shmap_atomic_load_u32(lk(t, i));
			if (o == 0)
				continue;
			if (shmap__seg_owner_alive(&t->seg, o))
				busy = 1;
			else
				nprob++; /* a lock left by a dead process */
		}
	}
	uint8_t *kb = malloc(t->key_max), *kb2 = malloc(t->key_max);
	if (!kb || !kb2) {
		free(kb);
		free(kb2);
		if (repair)
			unlock_all(t);
		return SHMAP_E_NOMEM;
	}
	for (uint64_t i = 0; i < t->nb; i++) {
		uint32_t kl = 0, vl = 0, budget = 0;
		int r = shmap__ht_read_bucket(t, i, kb, t->key_max, &kl, NULL, 0, &vl, &budget);
		if (r == SHMAP_E_BUSY) {
			busy = 1;
			continue;
		}
		if (r < 0) {
			/* Bad state or lengths: the entry cannot be trusted. */
			nprob++;
			if (repair) {
				uint64_t v = shmap_atomic_load_u64(b_ver(t, i));
				/* W2: release, pairs with R1 of readers. */
				shmap_atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_TOMB, 0, 0, 0));
			}
			continue;
		}
		if (r != HT_FULL)
			continue;
		live++;
		/* I1: no EMPTY between home and i; no copy of the key before i. */
		const uint64_t home = ht_hash(t, kb, kl) & t->mask;
		const uint64_t dist = (i - home) & t->mask;
		for (uint64_t n = 0; n < dist; n++) {
			const uint64_t j = (home + n) & t->mask;
			uint32_t kl2 = 0, vl2 = 0, b2 = 0;
			int r2 = shmap__ht_read_bucket(t, j, kb2, t->key_max, &kl2, NULL, 0, &vl2, &b2);
			if (r2 == HT_EMPTY) {
				nprob++;
				if (repair) {
					uint64_t v = shmap_atomic_load_u64(b_ver(t, j));
					/* W2: release, pairs with R1 of readers. */
					shmap_atomic_store_release_u64(b_ver(t, j), v_next(t, v, HT_TOMB, 0, 0, 0));
				}
			} else if (r2 == HT_FULL && kl2 == kl && memcmp(kb, kb2, kl) == 0) {
				nprob++; /* duplicate: the later copy is unreachable anyway */
				if (repair) {
					uint64_t v = shmap_atomic_load_u64(b_ver(t, i));
					/* W2: release, pairs with R1 of readers. */
					shmap_atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_TOMB, 0, 0, 0));
					live--;
				}
				break;
			}
		}
	}
	free(kb);
	free(kb2);
	uint64_t sum = 0;
	for (uint32_t s = 0; s < HT_STRIPES; s++)
		sum += shmap_atomic_load_u64(&t->counts[s * 8u]);
	if (sum != live && !busy) {
		nprob++;
		if (repair) {
			for (uint32_t s = 0; s < HT_STRIPES; s++)
				shmap_atomic_store_u64(&t->counts[s * 8u], s == 0 ? live : 0);
		}
	}
	if (repair) {
		/* Maintenance: trailing tombstones back to EMPTY (we hold every lock). */
		for (uint64_t i = 0; i < t->nb; i++) {
			if (v_state(shmap_atomic_load_u64(b_ver(t, i))) != HT_EMPTY)
				continue;
			uint64_t q = (i - 1) & t->mask;
			for (uint64_t n = 0; n + 1 < t->nb; n++, q = (q - 1) & t->mask) {
				uint64_t v = shmap_atomic_load_u64(b_ver(t, q));
				if (v_state(v) != HT_TOMB)
					break;
				/* W2: release, pairs with R1 of readers. */
				shmap_atomic_store_release_u64(b_ver(t, q), v_next(t, v, HT_EMPTY, 0, 0, 0));
			}
		}
		unlock_all(t);
	}
	if (problems)
		*problems = nprob;
	if (nprob)
		return repair ? SHMAP_RECOVERED : SHMAP_E_CORRUPT;
	return busy ? SHMAP_E_BUSY : SHMAP_OK;
}

SHMAP_API int shmap_htable_check(shmap_htable *t, uint32_t flags, uint64_t *problems)
{
	int rc = shmap_htable_check__body(t, flags, problems);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

/*
 * Test hook (hidden, reachable only through the static library): move every
 * bucket's sequence number to `below` steps before it wraps, keeping state,
 * active slot and lengths (scenario 27). Quiescent tables only.
 */
void shmap__htable_test_seq_near_wrap(shmap_htable *t, uint64_t below)
{
	const uint64_t low = (UINT64_C(1) << t->sshift) - 1u;
	const uint64_t seq = (UINT64_MAX >> t->sshift) - below;
	for (uint64_t i = 0; i < t->nb; i++) {
		uint64_t v = shmap_atomic_load_u64(b_ver(t, i));
		shmap_atomic_store_release_u64(b_ver(t, i), (seq << t->sshift) | (v & low)); /* W2 */
	}
}

/* Test hook (hidden): the shared data region, for targeted-corruption tests. */
void *shmap__htable_test_data(shmap_htable *t, uint64_t *len)
{
	*len = t->seg.p.data_size;
	return t->seg.data;
}
