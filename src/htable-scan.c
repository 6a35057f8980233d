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
 * for the whole iteration is returned exactly once. A key erased and
 * inserted again during the iteration is a second entry: the insert takes
 * the first free bucket of the key's chain, which may lie ahead of the
 * cursor (the chain wraps past the last bucket, or the old bucket was
 * reused by another key meanwhile), so the cursor may return the key twice.
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

SHMAP_API int shmap_htable_cursor_new(const shmap_htable *t, shmap_htable_cursor **ret)
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
	const struct shmap_htable *t = c->t;
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

static inline int shmap_htable_foreach__body(const shmap_htable *t, shmap_htable_foreach_fn fn, void *arg)
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

SHMAP_API int shmap_htable_foreach(const shmap_htable *t, shmap_htable_foreach_fn fn, void *arg)
{
	int rc = shmap_htable_foreach__body(t, fn, arg);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

static inline int shmap_htable_stats__body(const shmap_htable *t, shmap_htable_stats_t *st)
{
	if (!t || !shmap__stats_size_ok(st))
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
		shmap_htable_stats_t out = { sizeof(out), 0, nlive, ntomb, longest };
		shmap__stats_out(st, &out, sizeof(out));
	}
	return rc;
}

SHMAP_API int shmap_htable_stats(const shmap_htable *t, shmap_htable_stats_t *st)
{
	int rc = shmap_htable_stats__body(t, st);
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
		if (rc == SHMAP_RECOVERED) {
			++*nrec;
			shmap__hv_recover_lock(t, i);
		}
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
	uint8_t *kb = t->indirect ? malloc(t->key_max) : NULL;
	if (t->indirect && !kb) {
		unlock_all(t);
		return SHMAP_E_NOMEM;
	}
	/* Phase 1: FULL -> TOMB (each step leaves a valid table). */
	for (uint64_t i = 0; i < t->nb; i++) {
		uint64_t v = shmap__atomic_load_acquire_u64(b_ver(t, i));
		if (v_state(v) == HT_EMPTY || v_state(v) == HT_TOMB)
			continue;
		uint32_t kl = 0, vl = 0, budget = 0;
		/* Indirect: erased like erase() does, under the intent of the
		 * key's home lock (we hold it), so that a kill here leaks no
		 * record. A record that cannot be read is left to check(). */
		if (kb && shmap__ht_read_bucket(t, i, kb, t->key_max, &kl, NULL, 0, &vl, &budget) == HT_FULL &&
		    shmap__hv_erase(t, ht_hash(t, kb, kl) & t->mask, i, v) == SHMAP_OK)
			continue;
		shmap__atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_TOMB, 0, 0, 0)); /* W2 */
	}
	free(kb);
	SHMAP_FAILPOINT("htable.clear.tombed");
	/* Phase 2: no FULL bucket is left, so every TOMB may become EMPTY. */
	for (uint64_t i = 0; i < t->nb; i++) {
		uint64_t v = shmap__atomic_load_acquire_u64(b_ver(t, i));
		if (v_state(v) != HT_EMPTY)
			shmap__atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_EMPTY, 0, 0, 0)); /* W2 */
	}
	for (uint32_t s = 0; s < HT_STRIPES; s++)
		shmap__atomic_store_u64(&t->counts[s * 8u], 0);
	unlock_all(t);
	return rc;
}

SHMAP_API int shmap_htable_clear(shmap_htable *t)
{
	int rc = shmap_htable_clear__body(t);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

/* What a check has found so far. */
struct hcheck {
	int repair;       /* SHMAP_CHECK_REPAIR: every lock is held */
	int busy;         /* a live writer was seen: counts may be in flight */
	uint64_t nprob;
	uint64_t live;    /* FULL buckets */
	uint8_t *kb;      /* key_max bytes each */
	uint8_t *kb2;
};

/* Repair: bucket i becomes a tombstone. */
static void check_tomb(shmap_htable *t, uint64_t i)
{
	uint64_t v = shmap__atomic_load_u64(b_ver(t, i));
	/* W2: release, pairs with R1 of readers. */
	shmap__atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_TOMB, 0, 0, 0));
}

/* Locks: take them all to repair; otherwise count those left by the dead. */
static int check_locks(shmap_htable *t, struct hcheck *c)
{
	if (c->repair) {
		int rc = lock_all(t, &c->nprob);
		if (rc < 0)
			return rc == SHMAP_E_TIMEOUT ? SHMAP_E_BUSY : rc;
		SHMAP_FAILPOINT("htable.check.locked");
		return SHMAP_OK;
	}
	for (uint64_t i = 0; i < t->nb; i++) {
		uint32_t o = shmap__atomic_load_u32(lk(t, i));
		if (o == 0)
			continue;
		if (shmap__seg_owner_alive(&t->seg, o))
			c->busy = 1;
		else
			c->nprob++; /* a lock left by a dead process */
	}
	return SHMAP_OK;
}

/* I1 for the key in c->kb (kl bytes) at FULL bucket i: no EMPTY between
 * home and i; no copy of the key before i. */
static void check_chain(shmap_htable *t, uint64_t i, uint32_t kl, struct hcheck *c)
{
	const uint64_t home = ht_hash(t, c->kb, kl) & t->mask;
	const uint64_t dist = (i - home) & t->mask;
	for (uint64_t n = 0; n < dist; n++) {
		const uint64_t j = (home + n) & t->mask;
		uint32_t kl2 = 0, vl2 = 0, b2 = 0;
		int r2 = shmap__ht_read_bucket(t, j, c->kb2, t->key_max, &kl2, NULL, 0, &vl2, &b2);
		if (r2 == HT_EMPTY) {
			c->nprob++;
			if (c->repair)
				check_tomb(t, j);
		} else if (r2 == HT_FULL && kl2 == kl && memcmp(c->kb, c->kb2, kl) == 0) {
			c->nprob++; /* duplicate: the later copy is unreachable anyway */
			if (c->repair) {
				check_tomb(t, i);
				c->live--;
			}
			break;
		}
	}
}

static void check_buckets(shmap_htable *t, struct hcheck *c)
{
	for (uint64_t i = 0; i < t->nb; i++) {
		uint32_t kl = 0, vl = 0, budget = 0;
		int r = shmap__ht_read_bucket(t, i, c->kb, t->key_max, &kl, NULL, 0, &vl, &budget);
		if (r == SHMAP_E_BUSY) {
			c->busy = 1;
			continue;
		}
		if (r < 0) {
			/* Bad state or lengths: the entry cannot be trusted. */
			c->nprob++;
			if (c->repair)
				check_tomb(t, i);
			continue;
		}
		if (r != HT_FULL)
			continue;
		c->live++;
		check_chain(t, i, kl, c);
	}
}

/* The striped entry counts against the FULL buckets seen. */
static void check_counts(shmap_htable *t, struct hcheck *c)
{
	uint64_t sum = 0;
	for (uint32_t s = 0; s < HT_STRIPES; s++)
		sum += shmap__atomic_load_u64(&t->counts[s * 8u]);
	if (sum == c->live || c->busy)
		return;
	c->nprob++;
	if (c->repair) {
		for (uint32_t s = 0; s < HT_STRIPES; s++)
			shmap__atomic_store_u64(&t->counts[s * 8u], s == 0 ? c->live : 0);
	}
}

/* Maintenance: trailing tombstones back to EMPTY (we hold every lock). */
static void trim_tombs(shmap_htable *t)
{
	for (uint64_t i = 0; i < t->nb; i++) {
		if (v_state(shmap__atomic_load_u64(b_ver(t, i))) != HT_EMPTY)
			continue;
		uint64_t q = (i - 1) & t->mask;
		for (uint64_t n = 0; n + 1 < t->nb; n++, q = (q - 1) & t->mask) {
			uint64_t v = shmap__atomic_load_u64(b_ver(t, q));
			if (v_state(v) != HT_TOMB)
				break;
			/* W2: release, pairs with R1 of readers. */
			shmap__atomic_store_release_u64(b_ver(t, q), v_next(t, v, HT_EMPTY, 0, 0, 0));
		}
	}
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
	struct hcheck c = { .repair = (flags & SHMAP_CHECK_REPAIR) != 0 };
	rc = check_locks(t, &c);
	if (rc != SHMAP_OK)
		return rc;
	c.kb = malloc(t->key_max);
	c.kb2 = malloc(t->key_max);
	if (c.kb && c.kb2) {
		check_buckets(t, &c);
		rc = SHMAP_OK;
	} else {
		rc = SHMAP_E_NOMEM;
	}
	free(c.kb);
	free(c.kb2);
	if (rc == SHMAP_OK && t->indirect) {
		/* The allocator: dead intents, leaked or shared blocks. */
		rc = shmap__hv_check(t, c.repair, &c.nprob);
		if (rc == SHMAP_E_CORRUPT)
			rc = SHMAP_OK;
	}
	if (rc < 0) {
		if (c.repair)
			unlock_all(t);
		return rc;
	}
	check_counts(t, &c);
	if (c.repair) {
		trim_tombs(t);
		unlock_all(t);
	}
	if (problems)
		*problems = c.nprob;
	if (c.nprob)
		return c.repair ? SHMAP_RECOVERED : SHMAP_E_CORRUPT;
	return c.busy ? SHMAP_E_BUSY : SHMAP_OK;
}

SHMAP_API int shmap_htable_check(shmap_htable *t, uint32_t flags, uint64_t *problems)
{
	int rc = shmap_htable_check__body(t, flags, problems);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

#ifdef SHMAP_FAILPOINTS
/*
 * Test hook (the private test build only): move every
 * bucket's sequence number to `below` steps before it wraps, keeping state,
 * active slot and lengths (scenario 27). Quiescent tables only.
 */
void shmap__htable_test_seq_near_wrap(shmap_htable *t, uint64_t below)
{
	const uint64_t low = (UINT64_C(1) << t->sshift) - 1u;
	const uint64_t seq = (UINT64_MAX >> t->sshift) - below;
	for (uint64_t i = 0; i < t->nb; i++) {
		uint64_t v = shmap__atomic_load_u64(b_ver(t, i));
		shmap__atomic_store_release_u64(b_ver(t, i), (seq << t->sshift) | (v & low)); /* W2 */
	}
}

/* Test hook (the private test build only): the home bucket of a key. */
uint64_t shmap__htable_test_home(shmap_htable *t, const void *key, uint32_t klen)
{
	return ht_hash(t, key, klen) & t->mask;
}

/* Test hook (the private test build only): the shared data region, for targeted-corruption tests. */
void *shmap__htable_test_data(shmap_htable *t, uint64_t *len)
{
	*len = t->seg.p.data_size;
	return t->seg.data;
}
#endif
