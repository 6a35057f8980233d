/* SPDX-License-Identifier: MIT */
/*
 * htable.c - the shared-memory hash table.
 *
 * Design notes
 * ------------
 * Geometry (all private, computed from the validated params, never re-read):
 *   nb = capacity = a power of two >= 16 buckets, linear probing from the
 *   home bucket hash & (nb - 1). The data region holds
 *     [0, 64)            control block (format tag, nb, stride: for tools)
 *     [64, 64 + 16*64)   16 size-counter stripes, one cache line each
 *     locks              nb x uint32_t lock words (only writers touch them)
 *     buckets            nb x stride bytes, 64-byte aligned
 *   A bucket is  [u64 ver][key area][value slot 0][value slot 1].
 *   Key and slots are whole 8-byte words. In the "packed" layout (the bit
 *   widths of key_max and value_max sum to <= 21) both lengths live in the
 *   version word; otherwise ("wide") the key area and each slot start with a
 *   u64 length word. The stride is the content rounded up to a power of two
 *   when the content fits a cache line (16, 32 or 64 bytes: a bucket never
 *   straddles two lines, and 8-byte keys with 8-byte values take 32 bytes,
 *   two buckets per line), otherwise to a multiple of 8. Lock words are kept
 *   out of the buckets so readers' lines are never dirtied by locking.
 *
 * Version word: seq << sshift | vlen << (3 + kbits) | klen << 3 | active << 2 | state
 *   (lengths only in the packed layout; seq keeps >= 40 bits there, 61 in
 *   the wide one; seq wraps silently, readers only compare for equality).
 *   state: EMPTY 0, FULL 1, TOMB 2 (3 is never written: CORRUPT).
 *   There is no "being written" state: every change of a bucket is ONE
 *   release store of its version word. A value is written into the slot that
 *   is not active, then the version is stored with the active bit flipped.
 *   A writer killed before that store leaves the old version, i.e. the old
 *   value; after it, the new one. Nothing ever needs rolling back, and a
 *   reader never waits for a dead writer.
 *
 * Bucket states:  EMPTY --claim+publish--> FULL --erase--> TOMB
 *                 TOMB --claim+publish--> FULL,  TOMB --cleanup--> EMPTY,
 *                 FULL --update (slot flip)--> FULL
 *
 * Locks: lock word = owner id of the holder (0 = free). Rules:
 *   L1. Every write operation on key K holds lock[home(K)] for its whole
 *       duration ("home lock"): writers of one key are serialised, so two
 *       inserts of K can never both miss each other (no duplicates).
 *   L2. A FULL bucket holding K is changed only by the holder of home(K)'s
 *       lock (update, erase). Nobody else ever touches it.
 *   L3. A free bucket (EMPTY/TOMB) is changed only by the holder of its own
 *       lock (claim for an insert, cleanup to EMPTY).
 *   L4. Only the home lock is waited for, while holding nothing. Every
 *       other lock is taken with a try; on failure everything is released
 *       and the operation restarts after a backoff. Clear and check take all
 *       locks in ascending order. Hence no deadlock.
 *   A waiter that spun a while probes the holder's liveness and takes a dead
 *   holder's lock over by CAS (the operation returns SHMAP_RECOVERED). Since
 *   every bucket is consistent at every instant, taking over needs no repair.
 *
 * Probe-chain invariant (I1): for every FULL bucket p holding key K, no
 * bucket in [home(K), p) is EMPTY. Lookups stop at the first EMPTY.
 *   - An insert scans from home(K) for K (finding it, or the end of the
 *     chain), picks the first free bucket t, try-locks t, then re-checks
 *     that t is still free and that [home, t) holds no EMPTY. From then until
 *     it unlocks t, no bucket of [home, t) can become EMPTY (see cleanup),
 *     so publishing K at t keeps I1.
 *   - Cleanup turns TOMB q into EMPTY only while holding lock[q] and
 *     lock[q+1] with q+1 EMPTY; then it walks backwards (q-1, ...) holding
 *     two locks at a time. If I1 held, no key lies beyond q+1 with its home at
 *     or before q; and an inserter holding lock[t] blocks any cascade from
 *     passing t. Cleanup is opportunistic (try-locks only) and runs after
 *     every erase, so erase/insert churn keeps chains short and a table with
 *     fewer live entries than buckets always has a free bucket to reuse.
 *
 * Readers (seqlock): load_acquire(ver) [R1], compare the key and copy the
 * value with relaxed word loads, acquire fence [R2], reload ver; accept if
 * unchanged. Writers put a release fence [W1] between reading the current
 * version and writing a slot or key area, and publish with a release store
 * [W2]. A bounded retry budget turns a bucket that keeps changing under a
 * reader into SHMAP_E_BUSY. All payload accesses are word-sized atomics, so
 * ThreadSanitizer needs no suppression.
 *
 * Hostile peer: every index is masked with the private mask, every loop is
 * bounded by nb or a retry budget, every length read from shared memory is
 * checked against the private maxima before it is used as a size; a
 * violation that survives version validation is SHMAP_E_CORRUPT.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <shmap/htable.h>

#include "atomic.h"
#include "internal.h"
#include "segment.h"

#define HT_EMPTY 0u
#define HT_FULL 1u
#define HT_TOMB 2u
#define HT_STATE_MASK 3u
#define HT_ACTIVE 4u

#define HT_NONE UINT64_MAX
#define HT_STRIPES 16u
#define HT_CTL_SIZE 64u
#define HT_MIN_BUCKETS 16u
#define HT_READ_RETRIES 1024u  /* re-reads of changing buckets per lookup */
#define HT_PACKED_BITS 21u     /* kbits + vbits at most this: lengths in ver */
#define HT_STACK_BUF 512u
#define HT_FORMAT UINT64_C(0x3162617448706d53) /* "SmpHTab1" */

struct shmap_htable {
	struct shmap__seg seg;
	uint64_t nb;
	uint64_t mask;
	uint32_t key_max;
	uint32_t value_max;
	uint32_t stride;
	uint32_t packed;
	uint32_t kbits;
	uint32_t vbits;
	uint32_t sshift;     /* seq shift in the version word */
	uint32_t kwords;     /* key area in words (incl. length word if wide) */
	uint32_t vwords;     /* one slot in words (incl. length word if wide) */
	uint32_t timeout_ms;
	uint64_t *counts;    /* HT_STRIPES stripes, 8 words apart */
	uint32_t *locks;
	uint8_t *buckets;
};

struct shmap_htable_cursor {
	struct shmap_htable *t;
	uint64_t pos;
};

/* ------------------------------------------------------------------ */
/* geometry                                                            */

struct ht_geom {
	uint32_t packed, kbits, vbits, sshift, kwords, vwords, stride;
	uint64_t locks_off, buckets_off, data_size;
};

static uint32_t bitlen32(uint32_t x)
{
	return x ? 32u - (uint32_t)__builtin_clz(x) : 0u;
}

static int ht_geometry(uint64_t nb, uint32_t key_max, uint32_t value_max, struct ht_geom *g)
{
	if (nb < HT_MIN_BUCKETS || nb > SHMAP_HTABLE_CAPACITY_LIMIT || !shmap__is_pow2_u64(nb))
		return SHMAP_E_INVAL;
	if (key_max == 0 || key_max > SHMAP_HTABLE_KEY_MAX_LIMIT || value_max == 0 ||
	    value_max > SHMAP_HTABLE_VALUE_MAX_LIMIT)
		return SHMAP_E_INVAL;
	g->kbits = bitlen32(key_max);
	g->vbits = bitlen32(value_max);
	g->packed = g->kbits + g->vbits <= HT_PACKED_BITS;
	g->sshift = g->packed ? 3u + g->kbits + g->vbits : 3u;
	uint32_t hdr = g->packed ? 0u : 1u;
	g->kwords = (key_max + 7u) / 8u + hdr;
	g->vwords = (value_max + 7u) / 8u + hdr;
	uint64_t content = 8u * (1u + (uint64_t)g->kwords + 2u * (uint64_t)g->vwords);
	uint64_t stride = content <= SHMAP_CACHELINE ? shmap__next_pow2_u64(content) : content;
	g->stride = (uint32_t)stride;
	g->locks_off = HT_CTL_SIZE + HT_STRIPES * SHMAP_CACHELINE;
	g->buckets_off = SHMAP_ALIGN_UP(g->locks_off + nb * 4u, (uint64_t)SHMAP_CACHELINE);
	g->data_size = g->buckets_off + nb * stride;
	return SHMAP_OK;
}

static int ht_layout(struct shmap__params *p)
{
	struct ht_geom g;
	if (p->hash_alg != SHMAP__HASH_XXH3_64)
		return SHMAP_E_INVAL;
	int rc = ht_geometry(p->capacity, p->key_max, p->value_max, &g);
	if (rc != SHMAP_OK)
		return rc;
	p->data_size = g.data_size;
	return SHMAP_OK;
}

static int ht_init(struct shmap__seg *seg)
{
	struct ht_geom g;
	if (ht_geometry(seg->p.capacity, seg->p.key_max, seg->p.value_max, &g) != SHMAP_OK)
		return SHMAP_E_INVAL;
	/* The region is zero-filled: every bucket is EMPTY with seq 0, every
	 * lock free, every counter 0. The control block is informational. */
	uint64_t *ctl = (uint64_t *)(void *)seg->data;
	ctl[0] = HT_FORMAT;
	ctl[1] = seg->p.capacity;
	ctl[2] = g.stride;
	ctl[3] = g.buckets_off;
	return SHMAP_OK;
}

static const struct shmap__kind_ops ht_ops = {
	.kind = SHMAP__KIND_HTABLE,
	.layout = ht_layout,
	.init = ht_init,
};

/* ------------------------------------------------------------------ */
/* bucket access                                                       */

static inline volatile uint64_t *b_ver(const struct shmap_htable *t, uint64_t i)
{
	return (volatile uint64_t *)(void *)(t->buckets + (i & t->mask) * t->stride);
}

/* Key area (after the length word when wide). */
static inline volatile uint64_t *b_key(const struct shmap_htable *t, uint64_t i)
{
	return b_ver(t, i) + 1 + (t->packed ? 0 : 1);
}

static inline volatile uint64_t *b_klen_word(const struct shmap_htable *t, uint64_t i)
{
	return b_ver(t, i) + 1;
}

/* Slot s: its length word (wide) or data (packed). */
static inline volatile uint64_t *b_slot(const struct shmap_htable *t, uint64_t i, uint32_t s)
{
	return b_ver(t, i) + 1 + t->kwords + (uint64_t)(s & 1u) * t->vwords;
}

static inline volatile uint64_t *b_val(const struct shmap_htable *t, uint64_t i, uint32_t s)
{
	return b_slot(t, i, s) + (t->packed ? 0 : 1);
}

static inline uint32_t v_state(uint64_t v)
{
	return (uint32_t)(v & HT_STATE_MASK);
}

static inline uint32_t v_active(uint64_t v)
{
	return (uint32_t)((v >> 2) & 1u);
}

/* Lengths: from the version word (packed) or from the length words (wide). */
static inline uint32_t v_klen(const struct shmap_htable *t, uint64_t v, uint64_t i)
{
	if (t->packed)
		return (uint32_t)((v >> 3) & ((UINT64_C(1) << t->kbits) - 1u));
	return (uint32_t)shmap_atomic_load_u64(b_klen_word(t, i));
}

static inline uint32_t v_vlen(const struct shmap_htable *t, uint64_t v, uint64_t i)
{
	if (t->packed)
		return (uint32_t)((v >> (3 + t->kbits)) & ((UINT64_C(1) << t->vbits) - 1u));
	return (uint32_t)shmap_atomic_load_u64(b_slot(t, i, v_active(v)));
}

/* Next version: seq + 1 (wrapping inside its field), new state and lengths. */
static inline uint64_t v_next(const struct shmap_htable *t, uint64_t old, uint32_t state, uint32_t active,
			      uint32_t klen, uint32_t vlen)
{
	uint64_t seq = (old >> t->sshift) + 1u;
	uint64_t v = (seq << t->sshift) | ((uint64_t)(active & 1u) << 2) | state;
	if (t->packed)
		v |= ((uint64_t)klen << 3) | ((uint64_t)vlen << (3 + t->kbits));
	return v;
}

/* Copy len bytes out of shared words with relaxed atomic loads. */
static void ld_copy(void *dst, const volatile uint64_t *src, uint32_t len)
{
	uint8_t *d = dst;
	uint32_t n = len / 8u, i;
	for (i = 0; i < n; i++) {
		uint64_t w = shmap_atomic_load_u64(&src[i]);
		memcpy(d + 8u * i, &w, 8);
	}
	if (len % 8u) {
		uint64_t w = shmap_atomic_load_u64(&src[n]);
		memcpy(d + 8u * n, &w, len % 8u);
	}
}

/* Compare len bytes of shared words with a private buffer. */
static int ld_equal(const volatile uint64_t *src, const void *p, uint32_t len)
{
	const uint8_t *s = p;
	uint32_t n = len / 8u, i;
	for (i = 0; i < n; i++) {
		uint64_t w = shmap_atomic_load_u64(&src[i]), x;
		memcpy(&x, s + 8u * i, 8);
		if (w != x)
			return 0;
	}
	if (len % 8u) {
		uint64_t w = shmap_atomic_load_u64(&src[n]);
		return memcmp(&w, s + 8u * n, len % 8u) == 0;
	}
	return 1;
}

/* Write len bytes into shared words (tail zero-padded) with relaxed stores. */
static void st_copy(volatile uint64_t *dst, const void *src, uint32_t len)
{
	const uint8_t *s = src;
	uint32_t n = len / 8u, i;
	for (i = 0; i < n; i++) {
		uint64_t w;
		memcpy(&w, s + 8u * i, 8);
		shmap_atomic_store_u64(&dst[i], w);
		if (i == n / 2u)
			SHMAP_FAILPOINT("htable.w.partial");
	}
	if (len % 8u) {
		uint64_t w = 0;
		memcpy(&w, s + 8u * n, len % 8u);
		shmap_atomic_store_u64(&dst[n], w);
	}
}

static inline uint64_t ht_hash(const struct shmap_htable *t, const void *key, uint32_t klen)
{
	return shmap__hash64(key, klen, t->seg.p.hash_seed);
}

static inline void count_add(struct shmap_htable *t, uint64_t home, int64_t d)
{
	shmap_atomic_fetch_add_u64(&t->counts[(home % HT_STRIPES) * 8u], (uint64_t)d);
}

/* ------------------------------------------------------------------ */
/* locks                                                               */

static inline volatile uint32_t *lk(const struct shmap_htable *t, uint64_t i)
{
	return &t->locks[i & t->mask];
}

/*
 * Wait for lock i until the deadline. SHMAP_OK, SHMAP_RECOVERED (took a dead
 * owner's lock over) or SHMAP_E_TIMEOUT.
 */
static int lock_wait(struct shmap_htable *t, uint64_t i, uint64_t deadline)
{
	volatile uint32_t *w = lk(t, i);
	const uint32_t me = t->seg.owner;
	struct shmap__backoff bo;
	shmap__backoff_init(&bo);
	for (;;) {
		uint32_t cur = shmap_atomic_load_u32(w);
		if (cur == 0) {
			/* L1: full CAS (acquire side pairs with U1 in unlock()). */
			if (shmap_atomic_cas_full_u32(w, 0, me) == 0)
				return SHMAP_OK;
		} else if (bo.round >= 10 && !shmap__seg_owner_alive(&t->seg, cur)) {
			/* Dead holder: take over. Its bucket changes were each one
			 * atomic store, so there is nothing to repair. */
			if (shmap_atomic_cas_full_u32(w, cur, me) == cur)
				return SHMAP_RECOVERED;
		}
		if (shmap__backoff_wait(&bo, deadline) != SHMAP_OK)
			return SHMAP_E_TIMEOUT;
	}
}

/* One attempt; with probe, a dead holder's lock is taken over. OK/RECOVERED/BUSY. */
static int lock_try(struct shmap_htable *t, uint64_t i, int probe)
{
	volatile uint32_t *w = lk(t, i);
	const uint32_t me = t->seg.owner;
	uint32_t cur = shmap_atomic_load_u32(w);
	if (cur == 0)
		return shmap_atomic_cas_full_u32(w, 0, me) == 0 ? SHMAP_OK : SHMAP_E_BUSY;
	if (probe && !shmap__seg_owner_alive(&t->seg, cur) && shmap_atomic_cas_full_u32(w, cur, me) == cur)
		return SHMAP_RECOVERED;
	return SHMAP_E_BUSY;
}

static inline void unlock(struct shmap_htable *t, uint64_t i)
{
	/* U1: release, pairs with the CAS in lock_wait()/lock_try(). */
	shmap_atomic_store_release_u32(lk(t, i), 0);
}

/* Secondary locks: `home` is already held by this operation. */
static inline int lock_sec(struct shmap_htable *t, uint64_t i, uint64_t home, int probe)
{
	if (((i ^ home) & t->mask) == 0)
		return SHMAP_OK;
	return lock_try(t, i, probe);
}

static inline void unlock_sec(struct shmap_htable *t, uint64_t i, uint64_t home)
{
	if (((i ^ home) & t->mask) != 0)
		unlock(t, i);
}

/* ------------------------------------------------------------------ */
/* open / close                                                        */

SHMAP_API int shmap_htable_open(const char *name, uint32_t oflags, uint64_t capacity, uint32_t key_max,
				uint32_t value_max, const shmap_opts *opts, shmap_htable **ret)
{
	if (!ret || capacity > SHMAP_HTABLE_CAPACITY_LIMIT || key_max > SHMAP_HTABLE_KEY_MAX_LIMIT ||
	    value_max > SHMAP_HTABLE_VALUE_MAX_LIMIT)
		return SHMAP_E_INVAL;
	if ((oflags & SHMAP_CREATE) && (capacity == 0 || key_max == 0 || value_max == 0) &&
	    oflags != SHMAP_OPEN_OR_CREATE)
		return SHMAP_E_INVAL;
	struct shmap__params want;
	memset(&want, 0, sizeof(want));
	want.kind = SHMAP__KIND_HTABLE;
	want.hash_alg = SHMAP__HASH_XXH3_64;
	want.capacity = capacity == 0 ? 0 : shmap__next_pow2_u64(capacity < HT_MIN_BUCKETS ? HT_MIN_BUCKETS : capacity);
	want.key_max = key_max;
	want.value_max = value_max;

	struct shmap_htable *t = calloc(1, sizeof(*t));
	if (!t)
		return SHMAP_E_NOMEM;
	int rc = shmap__seg_open(name, oflags, &want, &ht_ops, opts, &t->seg);
	if (rc < 0) {
		int e = errno;
		free(t);
		errno = e;
		return rc;
	}
	struct ht_geom g;
	if (t->seg.p.kind != SHMAP__KIND_HTABLE ||
	    ht_geometry(t->seg.p.capacity, t->seg.p.key_max, t->seg.p.value_max, &g) != SHMAP_OK ||
	    g.data_size > t->seg.p.data_size) {
		shmap__seg_close(&t->seg);
		free(t);
		return SHMAP_E_CORRUPT;
	}
	t->nb = t->seg.p.capacity;
	t->mask = t->nb - 1u;
	t->key_max = t->seg.p.key_max;
	t->value_max = t->seg.p.value_max;
	t->stride = g.stride;
	t->packed = g.packed;
	t->kbits = g.kbits;
	t->vbits = g.vbits;
	t->sshift = g.sshift;
	t->kwords = g.kwords;
	t->vwords = g.vwords;
	t->counts = (uint64_t *)(void *)(t->seg.data + HT_CTL_SIZE);
	t->locks = (uint32_t *)(void *)(t->seg.data + g.locks_off);
	t->buckets = t->seg.data + g.buckets_off;
	t->timeout_ms = opts ? opts->timeout_ms : 2000u;
	*ret = t;
	return rc;
}

SHMAP_API void shmap_htable_close(shmap_htable *t)
{
	if (!t)
		return;
	shmap__seg_close(&t->seg);
	free(t);
}

SHMAP_API int shmap_htable_reattach(shmap_htable *t)
{
	if (!t)
		return SHMAP_E_INVAL;
	return shmap__seg_reattach(&t->seg);
}

SHMAP_API int shmap_htable_fd(const shmap_htable *t)
{
	return t ? t->seg.share_fd : -1;
}

SHMAP_API int shmap_htable_set_timeout_ms(shmap_htable *t, uint32_t ms)
{
	if (!t)
		return SHMAP_E_INVAL;
	t->timeout_ms = ms;
	return SHMAP_OK;
}

SHMAP_API uint64_t shmap_htable_capacity(const shmap_htable *t)
{
	return t ? t->nb : 0;
}

SHMAP_API uint32_t shmap_htable_key_max(const shmap_htable *t)
{
	return t ? t->key_max : 0;
}

SHMAP_API uint32_t shmap_htable_value_max(const shmap_htable *t)
{
	return t ? t->value_max : 0;
}

SHMAP_API uint64_t shmap_htable_size(const shmap_htable *t)
{
	if (!t || shmap__seg_check(&t->seg) != SHMAP_OK)
		return 0;
	uint64_t sum = 0;
	for (uint32_t i = 0; i < HT_STRIPES; i++)
		sum += shmap_atomic_load_u64(&t->counts[i * 8u]);
	if ((int64_t)sum < 0)
		return 0;
	return sum > t->nb ? t->nb : sum;
}

/* ------------------------------------------------------------------ */
/* readers                                                             */

/*
 * Read bucket i's entry consistently: key into kbuf (if non-NULL, cap kcap),
 * value into vbuf (cap vcap). Returns its state (EMPTY/TOMB: nothing copied),
 * HT_FULL with *klen and *vlen set (copies done only if they fit), or a negative
 * code (BUSY after the retry budget, CORRUPT). *budget counts retries.
 */
static int read_bucket(const struct shmap_htable *t, uint64_t i, void *kbuf, uint32_t kcap, uint32_t *klen,
		       void *vbuf, uint32_t vcap, uint32_t *vlen, uint32_t *budget)
{
	volatile uint64_t *ver = b_ver(t, i);
	for (;;) {
		/* R1: acquire, pairs with W2 (publish) in the writers. */
		uint64_t v1 = shmap_atomic_load_acquire_u64(ver);
		uint32_t st = v_state(v1);
		if (st != HT_FULL) {
			if (st == HT_EMPTY || st == HT_TOMB)
				return (int)st;
			return SHMAP_E_CORRUPT;
		}
		uint32_t kl = v_klen(t, v1, i), vl = v_vlen(t, v1, i);
		int bad = kl == 0 || kl > t->key_max || vl == 0 || vl > t->value_max;
		if (!bad) {
			if (kbuf && kl <= kcap)
				ld_copy(kbuf, b_key(t, i), kl);
			if (vbuf && vl <= vcap)
				ld_copy(vbuf, b_val(t, i, v_active(v1)), vl);
		}
		/* R2: acquire fence, pairs with W1 (release fence before slot writes). */
		shmap_atomic_fence_acquire();
		if (shmap_atomic_load_u64(ver) == v1) {
			if (bad)
				return SHMAP_E_CORRUPT;
			*klen = kl;
			*vlen = vl;
			return HT_FULL;
		}
		if (++*budget > HT_READ_RETRIES)
			return SHMAP_E_BUSY;
	}
}

SHMAP_API int shmap_htable_get(shmap_htable *t, const void *key, uint32_t klen, void *val, uint32_t val_cap,
			       uint32_t *val_len)
{
	if (!t || !key || klen == 0 || !val_len || (!val && val_cap))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	if (klen > t->key_max)
		return SHMAP_E_TOOBIG;
	const uint64_t home = ht_hash(t, key, klen) & t->mask;
	uint32_t budget = 0;
	for (uint64_t n = 0; n < t->nb; n++) {
		const uint64_t i = (home + n) & t->mask;
		volatile uint64_t *ver = b_ver(t, i);
		for (;;) {
			/* R1: acquire, pairs with W2 (publish) in the writers. */
			uint64_t v1 = shmap_atomic_load_acquire_u64(ver);
			uint32_t st = v_state(v1);
			if (st == HT_EMPTY)
				return SHMAP_E_NOTFOUND;
			if (st == HT_TOMB)
				break;
			if (st != HT_FULL)
				return SHMAP_E_CORRUPT;
			/* A mismatch seen at v1 means "not K at v1": no validation
			 * needed; a match must be validated. */
			if (v_klen(t, v1, i) != klen || !ld_equal(b_key(t, i), key, klen))
				break;
			uint32_t vl = v_vlen(t, v1, i);
			int bad = vl == 0 || vl > t->value_max;
			if (!bad && vl <= val_cap)
				ld_copy(val, b_val(t, i, v_active(v1)), vl);
			/* R2: acquire fence, pairs with W1 in the writers. */
			shmap_atomic_fence_acquire();
			if (shmap_atomic_load_u64(ver) == v1) {
				if (bad)
					return SHMAP_E_CORRUPT;
				*val_len = vl;
				return vl <= val_cap ? SHMAP_OK : SHMAP_E_BUFSIZE;
			}
			if (++budget > HT_READ_RETRIES)
				return SHMAP_E_BUSY;
		}
	}
	return SHMAP_E_NOTFOUND;
}

/* ------------------------------------------------------------------ */
/* writers                                                             */

enum ht_op { OP_INSERT, OP_UPSERT, OP_REPLACE, OP_ERASE, OP_CAS, OP_UPDATE };

struct ht_wop {
	enum ht_op op;
	const void *val;
	uint32_t vlen;
	const void *exp;
	uint32_t elen;
	shmap_htable_update_fn fn;
	void *arg;
	uint8_t *cur;   /* UPDATE: value_max bytes */
	uint8_t *out;   /* UPDATE: value_max bytes */
};

/*
 * Scan K's chain from home (caller holds lock[home]). Sets *found (bucket
 * holding K, or HT_NONE) with its version, and *free_i (first EMPTY/TOMB
 * before the end of the chain, or HT_NONE).
 */
static int scan_chain(struct shmap_htable *t, uint64_t home, const void *key, uint32_t klen, uint64_t *found,
		      uint64_t *fver, uint64_t *free_i)
{
	*found = HT_NONE;
	*free_i = HT_NONE;
	uint32_t budget = 0;
	for (uint64_t n = 0; n < t->nb; n++) {
		const uint64_t i = (home + n) & t->mask;
		volatile uint64_t *ver = b_ver(t, i);
		for (;;) {
			uint64_t v1 = shmap_atomic_load_acquire_u64(ver); /* R1 (as in get) */
			uint32_t st = v_state(v1);
			if (st == HT_EMPTY) {
				if (*free_i == HT_NONE)
					*free_i = i;
				return SHMAP_OK;
			}
			if (st == HT_TOMB) {
				if (*free_i == HT_NONE)
					*free_i = i;
				break;
			}
			if (st != HT_FULL)
				return SHMAP_E_CORRUPT;
			if (v_klen(t, v1, i) != klen || !ld_equal(b_key(t, i), key, klen))
				break;
			shmap_atomic_fence_acquire(); /* R2 (as in get) */
			if (shmap_atomic_load_u64(ver) == v1) {
				/* K's bucket: only we (home lock holder) change it now. */
				*found = i;
				*fver = v1;
				return SHMAP_OK;
			}
			if (++budget > HT_READ_RETRIES)
				return SHMAP_E_BUSY;
		}
	}
	return SHMAP_OK;
}

/* Is t still free and [home, t) free of EMPTY buckets? (caller holds lock[t]) */
static int claim_valid(struct shmap_htable *t, uint64_t home, uint64_t target)
{
	uint32_t st = v_state(shmap_atomic_load_acquire_u64(b_ver(t, target)));
	if (st != HT_EMPTY && st != HT_TOMB)
		return 0;
	uint64_t dist = (target - home) & t->mask;
	for (uint64_t n = 0; n < dist; n++)
		if (v_state(shmap_atomic_load_acquire_u64(b_ver(t, home + n))) == HT_EMPTY)
			return 0;
	return 1;
}

/* Write a new value beside the current one in FULL bucket i and switch. */
static void publish_value(struct shmap_htable *t, uint64_t i, uint64_t v, const void *val, uint32_t vlen)
{
	uint32_t s = v_active(v) ^ 1u;
	uint32_t kl = t->packed ? v_klen(t, v, i) : 0;
	/* W1: release fence, pairs with R2: a reader that sees any byte written
	 * below also sees a version at least as new as v (so its check fails). */
	shmap_atomic_fence_release();
	if (!t->packed)
		shmap_atomic_store_u64(b_slot(t, i, s), vlen);
	st_copy(b_val(t, i, s), val, vlen);
	SHMAP_FAILPOINT("htable.w.written");
	/* W2: release, pairs with R1: the slot is complete before it is active. */
	shmap_atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_FULL, s, kl, vlen));
	SHMAP_FAILPOINT("htable.w.published");
}

/* Fill free bucket i (caller holds lock[i] and lock[home]) with K -> val. */
static void publish_new(struct shmap_htable *t, uint64_t i, const void *key, uint32_t klen, const void *val,
			uint32_t vlen)
{
	uint64_t v = shmap_atomic_load_acquire_u64(b_ver(t, i));
	/* W1: release fence, pairs with R2 (stale readers of the old entry). */
	shmap_atomic_fence_release();
	if (!t->packed) {
		shmap_atomic_store_u64(b_klen_word(t, i), klen);
		shmap_atomic_store_u64(b_slot(t, i, 0), vlen);
	}
	st_copy(b_key(t, i), key, klen);
	st_copy(b_val(t, i, 0), val, vlen);
	SHMAP_FAILPOINT("htable.w.written");
	/* W2: release, pairs with R1: key and value complete before FULL. */
	shmap_atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_FULL, 0, klen, vlen));
	SHMAP_FAILPOINT("htable.w.published");
}

#define HT_CLEAN_SPAN 64u /* longest run the cleanup looks at */

/*
 * Opportunistic cleanup after an erase left TOMB at b (caller holds
 * lock[home]). Find the end e of b's run (the next EMPTY, at most
 * HT_CLEAN_SPAN buckets on), try-lock every bucket of [b, e], then walk
 * backwards from e (extending before b while the try-locks succeed and the
 * run goes on): a TOMB x becomes EMPTY if no FULL key stored between x and e
 * has its home at or before x, i.e. no key's probe path crosses x. Holding
 * the locks of [x, e] keeps that true while we look: no FULL entry can
 * appear there (L3), and an inserter whose path crosses x holds the lock
 * of its target inside the range (see the design notes, I1).
 */
static void cleanup(struct shmap_htable *t, uint64_t b, uint64_t home)
{
	uint64_t e = HT_NONE, len;
	for (len = 1; len <= HT_CLEAN_SPAN; len++) {
		uint64_t i = (b + len) & t->mask;
		if (i == b)
			return;
		if (v_state(shmap_atomic_load_u64(b_ver(t, i))) == HT_EMPTY) {
			e = i;
			break;
		}
	}
	if (e == HT_NONE)
		return;
	/* Lock [b, e] (try-locks only: L4). */
	uint64_t n;
	for (n = 0; n <= len; n++) {
		if (lock_sec(t, b + n, home, 0) < 0)
			break;
	}
	uint64_t lo = b; /* lowest locked bucket */
	if (n <= len) {
		while (n-- > 0)
			unlock_sec(t, b + n, home);
		return;
	}
	SHMAP_FAILPOINT("htable.cleanup.locked");
	uint64_t stackkey[HT_STACK_BUF / 8];
	uint8_t *kb = (uint8_t *)stackkey;
	if (t->key_max > sizeof(stackkey))
		kb = malloc(t->key_max); /* NULL: the walk below stops at the first key */
	const uint32_t kcap = kb == (uint8_t *)stackkey ? (uint32_t)sizeof(stackkey) : kb ? t->key_max : 0;
	uint64_t maxback = 0; /* farthest home (distance back from e) of a key seen */
	int ok = v_state(shmap_atomic_load_acquire_u64(b_ver(t, e))) == HT_EMPTY;
	for (uint64_t back = 1; ok && back < t->nb && back <= 2u * HT_CLEAN_SPAN; back++) {
		const uint64_t x = (e - back) & t->mask;
		if (back > len) {
			/* Extending before b: lock x first. */
			if (lock_sec(t, x, home, 0) < 0)
				break;
			lo = x;
		}
		uint32_t kl = 0, vl = 0, budget = 0;
		int r = read_bucket(t, x, kb, kcap, &kl, NULL, 0, &vl, &budget);
		if (r == HT_EMPTY || r < 0 || (r == HT_FULL && kl > kcap))
			break;
		if (r == HT_FULL) {
			uint64_t hb = (e - (ht_hash(t, kb, kl) & t->mask)) & t->mask;
			if (hb > maxback)
				maxback = hb;
		} else if (back > maxback) {
			/* TOMB crossed by no probe path: W2 release store. */
			uint64_t v = shmap_atomic_load_acquire_u64(b_ver(t, x));
			shmap_atomic_store_release_u64(b_ver(t, x), v_next(t, v, HT_EMPTY, 0, 0, 0));
			SHMAP_FAILPOINT("htable.cleanup.step");
		}
	}
	if (kb != (uint8_t *)stackkey)
		free(kb);
	for (uint64_t i = lo;; i = (i + 1) & t->mask) {
		unlock_sec(t, i, home);
		if (i == e)
			break;
	}
}

static void erase_at(struct shmap_htable *t, uint64_t i, uint64_t v, uint64_t home)
{
	/* W2: release; readers that see TOMB skip the bucket. */
	shmap_atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_TOMB, v_active(v), 0, 0));
	SHMAP_FAILPOINT("htable.erase.tomb");
	count_add(t, home, -1);
	cleanup(t, i, home);
}

static int check_len(const struct shmap_htable *t, uint32_t vlen)
{
	if (vlen == 0)
		return SHMAP_E_INVAL;
	return vlen > t->value_max ? SHMAP_E_TOOBIG : SHMAP_OK;
}

/* The one write path: lock home, find, act; see the design notes. */
static int ht_write(struct shmap_htable *t, const void *key, uint32_t klen, struct ht_wop *w)
{
	const uint64_t home = ht_hash(t, key, klen) & t->mask;
	const uint64_t deadline = shmap__deadline_ms(t->timeout_ms);
	struct shmap__backoff bo;
	shmap__backoff_init(&bo);
	int recovered = 0;

	for (uint32_t attempt = 0;; attempt++) {
		int rc = lock_wait(t, home, deadline);
		if (rc < 0)
			return rc;
		if (rc == SHMAP_RECOVERED)
			recovered = 1;
		SHMAP_FAILPOINT("htable.w.locked");

		uint64_t found, fver = 0, free_i;
		rc = scan_chain(t, home, key, klen, &found, &fver, &free_i);
		if (rc < 0) {
			unlock(t, home);
			return rc;
		}
		if (found != HT_NONE) {
			switch (w->op) {
			case OP_INSERT:
				rc = SHMAP_E_EXIST;
				break;
			case OP_UPSERT:
			case OP_REPLACE:
				publish_value(t, found, fver, w->val, w->vlen);
				break;
			case OP_ERASE:
				erase_at(t, found, fver, home);
				break;
			case OP_CAS:
			case OP_UPDATE: {
				uint32_t cl = v_vlen(t, fver, found);
				if (cl == 0 || cl > t->value_max) {
					rc = SHMAP_E_CORRUPT;
					break;
				}
				if (w->op == OP_CAS) {
					if (cl != w->elen || !ld_equal(b_val(t, found, v_active(fver)), w->exp, cl))
						rc = SHMAP_E_MISMATCH;
					else
						publish_value(t, found, fver, w->val, w->vlen);
					break;
				}
				ld_copy(w->cur, b_val(t, found, v_active(fver)), cl);
				uint32_t ol = 0;
				SHMAP_FAILPOINT("htable.w.callback");
				int r = w->fn(w->cur, cl, 1, w->out, &ol, w->arg);
				if (r == SHMAP_HTABLE_COMMIT) {
					rc = check_len(t, ol);
					if (rc == SHMAP_OK)
						publish_value(t, found, fver, w->out, ol);
				} else if (r == SHMAP_HTABLE_ERASE) {
					erase_at(t, found, fver, home);
				} else {
					rc = r == SHMAP_HTABLE_ABORT ? SHMAP_E_ABORTED : SHMAP_E_INVAL;
				}
				break;
			}
			}
			SHMAP_FAILPOINT("htable.w.done");
			unlock(t, home);
			return rc < 0 ? rc : recovered ? SHMAP_RECOVERED : SHMAP_OK;
		}

		/* K is not in the table. */
		if (w->op == OP_REPLACE || w->op == OP_ERASE || w->op == OP_CAS) {
			unlock(t, home);
			return SHMAP_E_NOTFOUND;
		}
		if (free_i == HT_NONE) {
			rc = SHMAP_E_FULL;
			if (w->op == OP_UPDATE) {
				uint32_t ol = 0;
				SHMAP_FAILPOINT("htable.w.callback");
				int r = w->fn(NULL, 0, 0, w->out, &ol, w->arg);
				rc = r == SHMAP_HTABLE_COMMIT ? SHMAP_E_FULL :
				     r == SHMAP_HTABLE_ERASE ? SHMAP_OK :
				     r == SHMAP_HTABLE_ABORT ? SHMAP_E_ABORTED : SHMAP_E_INVAL;
			}
			unlock(t, home);
			return rc < 0 ? rc : recovered ? SHMAP_RECOVERED : SHMAP_OK;
		}
		rc = lock_sec(t, free_i, home, attempt >= 2);
		if (rc >= 0 && !claim_valid(t, home, free_i)) {
			unlock_sec(t, free_i, home);
			rc = SHMAP_E_BUSY;
		}
		if (rc < 0) {
			/* L4: never wait while holding a lock. */
			unlock(t, home);
			if (shmap__backoff_wait(&bo, deadline) != SHMAP_OK)
				return SHMAP_E_TIMEOUT;
			continue;
		}
		if (rc == SHMAP_RECOVERED)
			recovered = 1;
		SHMAP_FAILPOINT("htable.w.claimed");
		const void *val = w->val;
		uint32_t vlen = w->vlen;
		rc = SHMAP_OK;
		if (w->op == OP_UPDATE) {
			uint32_t ol = 0;
			SHMAP_FAILPOINT("htable.w.callback");
			int r = w->fn(NULL, 0, 0, w->out, &ol, w->arg);
			if (r == SHMAP_HTABLE_COMMIT) {
				rc = check_len(t, ol);
				val = w->out;
				vlen = ol;
			} else {
				rc = r == SHMAP_HTABLE_ERASE ? 1 : r == SHMAP_HTABLE_ABORT ? SHMAP_E_ABORTED : SHMAP_E_INVAL;
			}
		}
		if (rc == SHMAP_OK) {
			publish_new(t, free_i, key, klen, val, vlen);
			count_add(t, home, 1);
			SHMAP_FAILPOINT("htable.w.counted");
		}
		unlock_sec(t, free_i, home);
		unlock(t, home);
		return rc < 0 ? rc : recovered ? SHMAP_RECOVERED : SHMAP_OK;
	}
}

static int write_prologue(shmap_htable *t, const void *key, uint32_t klen)
{
	if (!t || !key || klen == 0)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	return klen > t->key_max ? SHMAP_E_TOOBIG : SHMAP_OK;
}

static int put_common(shmap_htable *t, const void *key, uint32_t klen, const void *val, uint32_t vlen,
		      enum ht_op op)
{
	if (!val)
		return SHMAP_E_INVAL;
	int rc = write_prologue(t, key, klen);
	if (rc != SHMAP_OK)
		return rc;
	rc = check_len(t, vlen);
	if (rc != SHMAP_OK)
		return rc;
	struct ht_wop w = { .op = op, .val = val, .vlen = vlen };
	return ht_write(t, key, klen, &w);
}

SHMAP_API int shmap_htable_insert(shmap_htable *t, const void *key, uint32_t klen, const void *val,
				  uint32_t vlen)
{
	return put_common(t, key, klen, val, vlen, OP_INSERT);
}

SHMAP_API int shmap_htable_upsert(shmap_htable *t, const void *key, uint32_t klen, const void *val,
				  uint32_t vlen)
{
	return put_common(t, key, klen, val, vlen, OP_UPSERT);
}

SHMAP_API int shmap_htable_replace(shmap_htable *t, const void *key, uint32_t klen, const void *val,
				   uint32_t vlen)
{
	return put_common(t, key, klen, val, vlen, OP_REPLACE);
}

SHMAP_API int shmap_htable_erase(shmap_htable *t, const void *key, uint32_t klen)
{
	int rc = write_prologue(t, key, klen);
	if (rc != SHMAP_OK)
		return rc;
	struct ht_wop w = { .op = OP_ERASE };
	return ht_write(t, key, klen, &w);
}

SHMAP_API int shmap_htable_cas(shmap_htable *t, const void *key, uint32_t klen, const void *expected,
			       uint32_t elen, const void *desired, uint32_t dlen)
{
	if (!expected || !desired || elen == 0)
		return SHMAP_E_INVAL;
	int rc = write_prologue(t, key, klen);
	if (rc != SHMAP_OK)
		return rc;
	rc = check_len(t, dlen);
	if (rc != SHMAP_OK)
		return rc;
	if (elen > t->value_max)
		return SHMAP_E_TOOBIG;
	struct ht_wop w = { .op = OP_CAS, .val = desired, .vlen = dlen, .exp = expected, .elen = elen };
	return ht_write(t, key, klen, &w);
}

SHMAP_API int shmap_htable_update(shmap_htable *t, const void *key, uint32_t klen, shmap_htable_update_fn fn,
				  void *arg)
{
	if (!fn)
		return SHMAP_E_INVAL;
	int rc = write_prologue(t, key, klen);
	if (rc != SHMAP_OK)
		return rc;
	uint64_t stackbuf[2 * HT_STACK_BUF / 8];
	uint8_t *buf = (uint8_t *)stackbuf;
	size_t need = 2 * (size_t)SHMAP_ALIGN_UP(t->value_max, 8u);
	if (need > sizeof(stackbuf)) {
		buf = malloc(need);
		if (!buf)
			return SHMAP_E_NOMEM;
	}
	struct ht_wop w = { .op = OP_UPDATE, .fn = fn, .arg = arg, .cur = buf, .out = buf + need / 2 };
	rc = ht_write(t, key, klen, &w);
	if (buf != (uint8_t *)stackbuf)
		free(buf);
	return rc;
}

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

SHMAP_API int shmap_htable_cursor_next(shmap_htable_cursor *c, void *key, uint32_t key_cap, uint32_t *klen,
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
		rc = read_bucket(t, c->pos, key, key_cap, &kl, val, val_cap, &vl, &budget);
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

SHMAP_API int shmap_htable_foreach(shmap_htable *t, shmap_htable_foreach_fn fn, void *arg)
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
		int r = read_bucket(t, i, kb, t->key_max, &kl, vb, t->value_max, &vl, &budget);
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

SHMAP_API int shmap_htable_stats(const shmap_htable *t, uint64_t *live, uint64_t *tombstones,
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
		int r = read_bucket(t, i, kb, t->key_max, &kl, NULL, 0, &vl, &budget);
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

SHMAP_API int shmap_htable_clear(shmap_htable *t)
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

SHMAP_API int shmap_htable_check(shmap_htable *t, uint32_t flags, uint64_t *problems)
{
	if (!t || (flags & ~SHMAP_CHECK_REPAIR))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
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
		int r = read_bucket(t, i, kb, t->key_max, &kl, NULL, 0, &vl, &budget);
		if (r == SHMAP_E_BUSY) {
			busy = 1;
			continue;
		}
		if (r < 0) {
			/* Bad state or lengths: the entry cannot be trusted. */
			nprob++;
			if (repair) {
				uint64_t v = shmap_atomic_load_u64(b_ver(t, i));
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
			int r2 = read_bucket(t, j, kb2, t->key_max, &kl2, NULL, 0, &vl2, &b2);
			if (r2 == HT_EMPTY) {
				nprob++;
				if (repair) {
					uint64_t v = shmap_atomic_load_u64(b_ver(t, j));
					shmap_atomic_store_release_u64(b_ver(t, j), v_next(t, v, HT_TOMB, 0, 0, 0));
				}
			} else if (r2 == HT_FULL && kl2 == kl && memcmp(kb, kb2, kl) == 0) {
				nprob++; /* duplicate: the later copy is unreachable anyway */
				if (repair) {
					uint64_t v = shmap_atomic_load_u64(b_ver(t, i));
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
