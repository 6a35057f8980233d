/* SPDX-License-Identifier: MIT */
/*
 * htable.c - the shared-memory hash table.
 *
 * Design notes
 * ------------
 * Two layouts. Everything below describes the inline one, used when a
 * bucket (version, key, two value slots) fits one cache line. Larger
 * entries make the table "indirect" (htable-var.c): 16-byte buckets of a
 * version (with a hash tag) and a record reference, records in a sparse,
 * size-classed area; the probe-chain, lock and cleanup rules below hold
 * for both, the version word and the value switch differ (see there).
 *
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
 *   The dead holder's writes are visible to the taker through the kernel
 *   (its lock is released only after its exit), not through C11: see D1 in
 *   lock_wait() (htable-internal.h).
 *
 * Probe-chain invariant (I1): for every FULL bucket p holding key K, no
 * bucket in [home(K), p) is EMPTY. Lookups stop at the first EMPTY.
 *   - An insert scans from home(K) for K (finding it, or the end of the
 *     chain), picks the first free bucket t, try-locks t, then re-checks
 *     that t is still free and that [home, t) holds no EMPTY. From then until
 *     it unlocks t, no bucket of [home, t) can become EMPTY (see cleanup),
 *     so publishing K at t keeps I1.
 *   - Cleanup (after every erase) takes the locks of a whole run [x, e],
 *     e EMPTY, and turns a TOMB q of the run into EMPTY only if no FULL key
 *     stored in (q, e) has its home at or before q (no probe path crosses
 *     q). While it holds those locks no FULL entry can appear in the run
 *     (L3), no key beyond e has a path through the run (I1, e EMPTY), and
 *     any inserter whose validated path crosses q holds the lock of its
 *     target, which lies inside the run (targets are the first free bucket
 *     of a chain): so every EMPTY it creates keeps I1. Induction on time
 *     shows an inserter's validated path [home, t) stays free of EMPTY until
 *     it unlocks t: the first cleanup to empty a bucket of it would need a
 *     range reaching t. Cleanup uses try-locks only and gives up on any
 *     contention; erase/insert churn therefore keeps chains short, and
 *     inserts reuse tombstones, so a table with fewer live entries than
 *     buckets always has a free bucket.
 *
 * Readers (seqlock): load_acquire(ver) [R1], compare the key and copy the
 * value with relaxed word loads, acquire fence [R2], reload ver; accept if
 * unchanged. Writers put a release fence [W1] between reading the current
 * version and writing a slot or key area, and publish with a release store
 * [W2]. A bounded retry budget turns a bucket that keeps changing under a
 * reader into SHMAP_E_BUSY. All payload accesses are word-sized atomics, so
 * ThreadSanitizer needs no suppression.
 *
 * Lookup fast paths (8-byte keys of packed tables, output room >= 8): the
 * same seqlock read, restricted to buckets whose version says FULL, key
 * length 8 and value length 8 (one masked compare), key and value one word
 * each. A bucket whose version says so and whose key word differs is "not K
 * at v1" and is stepped over without validation, as in the general loop;
 * EMPTY ends the chain, TOMB is skipped, and anything else (another length,
 * state 3, K's bucket whose version changed under the read) hands over to
 * get_packed_short() at the same bucket, which owns the retry budget. The
 * walks use private bucket pointers wrapped at the private end of the
 * bucket range and a private count of nb. Tables with key_max == value_max
 * == 8 read the home bucket inline with constant geometry (get_e88(), then
 * get_e88_next()); other packed tables take get_fast8(). The hash is XXH3-64
 * computed by a bit-identical specialisation (hash8()), checked against the
 * general hash at open.
 *
 * Hostile peer: every index is masked with the private mask, every loop is
 * bounded by nb or a retry budget, every length read from shared memory is
 * checked against the private maxima before it is used as a size; a
 * violation that survives version validation is SHMAP_E_CORRUPT.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "htable-internal.h"

/* ------------------------------------------------------------------ */
/* geometry                                                            */

struct ht_geom {
	uint32_t packed, kbits, vbits, sshift, kwords, vwords, stride;
	uint64_t locks_off, buckets_off, data_size;
	/* indirect layout (htable-var.c) */
	uint32_t indirect, nclass;
	uint64_t arena_off, intents_off, area_off, area_max;
};

#define HT_AREA_CAP (UINT64_C(1) << 40) /* address space of one record area */

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
	g->locks_off = HT_CTL_SIZE + HT_STRIPES * SHMAP_CACHELINE;
	g->buckets_off = SHMAP_ALIGN_UP(g->locks_off + nb * 4u, (uint64_t)SHMAP_CACHELINE);
	g->indirect = stride > HT_INLINE_MAX;
	if (!g->indirect) {
		g->stride = (uint32_t)stride;
		g->data_size = g->buckets_off + nb * stride;
		return SHMAP_OK;
	}
	/* Indirect: 16-byte buckets, allocator, intents, then the sparse record
	 * area, sized so that nb records of any mix of classes fit (see
	 * htable-var.c). */
	g->packed = 0;
	g->kbits = g->vbits = 0;
	g->sshift = HT_ISHIFT;
	g->kwords = g->vwords = 0;
	g->stride = 16u;
	g->nclass = hv_class(hv_recsize(key_max, value_max)) + 1u;
	uint64_t sum = 0;
	for (uint32_t c = 0; c < g->nclass; c++)
		sum += hv_csize(c);
	g->arena_off = SHMAP_ALIGN_UP(g->buckets_off + nb * 16u, (uint64_t)SHMAP_CACHELINE);
	g->intents_off = SHMAP_ALIGN_UP(g->arena_off + 8u * (8u + HT_NCLASS), (uint64_t)SHMAP_CACHELINE);
	g->area_off = SHMAP_ALIGN_UP(g->intents_off + 64u * HT_NINTENT, (uint64_t)SHMAP__PAGE);
	uint64_t area = nb > (HT_AREA_CAP - 16u) / sum ? HT_AREA_CAP : nb * sum + 16u;
	g->area_max = SHMAP_ALIGN_UP(area, (uint64_t)SHMAP__PAGE);
	g->data_size = g->area_off + g->area_max;
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
	/* Indirect: only what precedes the record area is allocated now. */
	p->data_reserve = g.indirect ? g.area_off : 0;
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
	ctl[4] = g.indirect;
	if (g.indirect) {
		ctl[5] = g.arena_off;
		ctl[6] = g.intents_off;
		ctl[7] = g.area_off;
		shmap__hv_init(seg->data + g.arena_off);
	}
	return SHMAP_OK;
}

static const struct shmap__kind_ops ht_ops = {
	.kind = SHMAP__KIND_HTABLE,
	.layout = ht_layout,
	.init = ht_init,
};
const struct shmap__kind_ops *const shmap__htable_kind_ops = &ht_ops; /* for inspection */

/*
 * XXH3-64 of one 8-byte key, bit-identical to ht_hash(): XXH3's 4..8-byte
 * path (the two 32-bit halves swapped, xored with the seed-dependent
 * "bitflip" that open() precomputes into f_flip, then the rrmxmx mix).
 * open() checks it against ht_hash() and leaves the fast path off if they
 * differ (e.g. on a big-endian host).
 */
static inline uint64_t hash8(uint64_t kw, uint64_t flip)
{
	const uint64_t m = UINT64_C(0x9FB21C651E98DF25);
	uint64_t h = ((kw >> 32) + (kw << 32)) ^ flip;
	h ^= ((h << 49) | (h >> 15)) ^ ((h << 24) | (h >> 40));
	h *= m;
	h ^= (h >> 35) + 8u;
	h *= m;
	return h ^ (h >> 28);
}

/* The bitflip of XXH3's 4..8-byte path for this seed; see hash8(). */
static uint64_t hash8_flip(uint64_t seed)
{
	uint64_t a, b;
	memcpy(&a, XXH3_kSecret + 8, 8);
	memcpy(&b, XXH3_kSecret + 16, 8);
	return (a ^ b) - (seed ^ ((uint64_t)__builtin_bswap32((uint32_t)seed) << 32));
}

static int hash8_selfcheck(uint64_t seed, uint64_t flip)
{
	static const uint64_t probe[] = { 0, 1, UINT64_C(0x0123456789abcdef), UINT64_MAX,
					  UINT64_C(0x8000000000000000) };
	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		uint64_t k[2] = { probe[i], probe[i] ^ seed };
		for (int j = 0; j < 2; j++)
			if (hash8(k[j], flip) != shmap__hash64(&k[j], 8, seed))
				return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* open / close                                                        */

static inline int shmap_htable_open__body(const char *name, uint32_t oflags, uint64_t capacity, uint32_t key_max,
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
	/* Pre-faulting is done here, not by the mapping: the record area of an
	 * indirect table is sparse, and faulting it in would allocate it. */
	struct shmap_opts nopf;
	const int prefault = opts && (opts->flags & SHMAP_OPT_PREFAULT);
	if (prefault) {
		nopf = *opts;
		nopf.flags &= ~SHMAP_OPT_PREFAULT;
		opts = &nopf;
	}
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
	t->kmask = (uint32_t)((UINT64_C(1) << g.kbits) - 1u);
	t->vmask = (uint32_t)((UINT64_C(1) << g.vbits) - 1u);
	t->sshift = g.sshift;
	t->kwords = g.kwords;
	t->vwords = g.vwords;
	t->counts = (uint64_t *)(void *)(t->seg.data + HT_CTL_SIZE);
	t->locks = (uint32_t *)(void *)(t->seg.data + g.locks_off);
	t->buckets = t->seg.data + g.buckets_off;
	t->timeout_ms = opts ? opts->timeout_ms : 2000u;
	t->f_flip = hash8_flip(t->seg.p.hash_seed);
	t->indirect = g.indirect;
	if (g.indirect) {
		t->nclass = g.nclass;
		t->area_max = g.area_max;
		t->area = t->seg.data + g.area_off;
		t->area_foff = (uint64_t)(t->area - t->seg.base);
		t->arena = (uint64_t *)(void *)(t->seg.data + g.arena_off);
		t->intents = (uint64_t *)(void *)(t->seg.data + g.intents_off);
	}
	t->fast8 = !g.indirect && g.packed && t->key_max >= 8u && t->value_max >= 8u &&
		   hash8_selfcheck(t->seg.p.hash_seed, t->f_flip);
	t->f_off0 = 8u * (1u + g.kwords);
	t->f_off1 = 8u * (1u + g.kwords + g.vwords);
	t->f_want_mask = HT_STATE_MASK | ((uint64_t)t->kmask << 3) | ((uint64_t)t->vmask << (3u + g.kbits));
	t->f_want = HT_FULL | (UINT64_C(8) << 3) | (UINT64_C(8) << (3u + g.kbits));
	t->f_end = t->buckets + t->nb * g.stride;
	t->f_e88 = t->fast8 && t->key_max == 8u && t->value_max == 8u;
	if (prefault) {
		/* Everything but the area's unallocated part (a read fault maps a
		 * tmpfs page in, as MAP_POPULATE does for a shared mapping). */
		uint8_t *end = t->seg.base + t->seg.total_size;
		if (g.indirect) {
			uint64_t res = shmap__atomic_load_u64(&t->arena[2]); /* allocated bytes */
			end = t->area + (res < g.area_max ? res : g.area_max);
		}
#ifdef MADV_POPULATE_READ
		if (madvise(t->seg.base, (size_t)(end - t->seg.base), MADV_POPULATE_READ) != 0)
#endif
			for (volatile uint8_t *p = t->seg.base; p < end; p += SHMAP__PAGE)
				(void)*p;
	}
	*ret = t;
	return rc;
}

SHMAP_API int shmap_htable_open(const char *name, uint32_t oflags, uint32_t key_max, uint32_t value_max,
				uint64_t capacity, const shmap_opts *opts, shmap_htable **ret)
{
	if (!ret)
		return SHMAP_E_INVAL;
	shmap_htable *h = NULL;
	int rc = shmap_htable_open__body(name, oflags, capacity, key_max, value_max, opts, &h);
	if (rc < 0)
		return rc;
	/* A peer shrank the file while the handle was being set up. */
	if (shmap__seg_poison(&h->seg)) {
		shmap_htable_close(h);
		return SHMAP_E_PEERFAULT;
	}
	*ret = h;
	return rc;
}

SHMAP_API void shmap_htable_close(shmap_htable *t)
{
	if (!t)
		return;
	shmap__seg_close(&t->seg);
	free(t);
}

static inline int shmap_htable_reattach__body(shmap_htable *t)
{
	if (!t)
		return SHMAP_E_INVAL;
	return shmap__seg_reattach(&t->seg);
}

SHMAP_API int shmap_htable_reattach(shmap_htable *t)
{
	int rc = shmap_htable_reattach__body(t);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
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
		sum += shmap__atomic_load_u64(&t->counts[i * 8u]);
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
int shmap__ht_read_bucket(const struct shmap_htable *t, uint64_t i, void *kbuf, uint32_t kcap, uint32_t *klen,
		       void *vbuf, uint32_t vcap, uint32_t *vlen, uint32_t *budget)
{
	if (t->indirect)
		return shmap__hv_read(t, i, kbuf, kcap, klen, vbuf, vcap, vlen, budget);
	volatile uint64_t *ver = b_ver(t, i);
	for (;;) {
		/* R1: acquire, pairs with W2 (publish) in the writers. */
		uint64_t v1 = shmap__atomic_load_acquire_u64(ver);
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
		shmap__atomic_fence_acquire();
		if (shmap__atomic_load_u64(ver) == v1) {
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

/*
 * get() for the packed layout and keys of at most 8 bytes (the common case):
 * the same protocol as the general loop below, with lengths taken from the
 * version word, the key compared as one zero-padded word and every geometry
 * constant hoisted, so that a lookup is a few dozen instructions around its
 * one cache miss and independent lookups overlap in the CPU.
 */
__attribute__((noinline)) static int get_packed_short(const struct shmap_htable *t, uint64_t home, uint64_t n0,
						      uint64_t kw, uint32_t klen, void *val, uint32_t val_cap,
						      uint32_t *val_len)
{
	const uint64_t mask = t->mask;
	const uint64_t stride = t->stride;
	uint8_t *const base = t->buckets;
	const uint32_t vshift = 3u + t->kbits, kmask = t->kmask, vmask = t->vmask;
	const uint32_t voff0 = 1u + t->kwords, vwords = t->vwords;
	uint32_t budget = 0;
	for (uint64_t n = n0; n < t->nb; n++) {
		volatile uint64_t *ver = (volatile uint64_t *)(void *)(base + ((home + n) & mask) * stride);
		for (;;) {
			/* R1: acquire, pairs with W2 (publish) in the writers. */
			const uint64_t v1 = shmap__atomic_load_acquire_u64(ver);
			const uint32_t st = v_state(v1);
			if (st != HT_FULL) {
				if (st == HT_EMPTY)
					return SHMAP_E_NOTFOUND;
				if (st == HT_TOMB)
					break;
				return SHMAP_E_CORRUPT;
			}
			if (((uint32_t)(v1 >> 3) & kmask) != klen || shmap__atomic_load_u64(ver + 1) != kw)
				break; /* not K at v1: no validation needed */
			const uint32_t vl = (uint32_t)(v1 >> vshift) & vmask;
			volatile uint64_t *vp = ver + voff0 + (v_active(v1) ? vwords : 0u);
			const int fits = vl - 1u < t->value_max && vl <= val_cap;
			if (fits) {
				if (vl == 8u) {
					uint64_t w = shmap__atomic_load_u64(vp);
					memcpy(val, &w, 8);
				} else {
					ld_copy(val, vp, vl);
				}
			}
			/* R2: acquire fence, pairs with W1 in the writers. */
			shmap__atomic_fence_acquire();
			if (shmap_likely(shmap__atomic_load_u64(ver) == v1)) {
				if (shmap_unlikely(vl == 0 || vl > t->value_max))
					return SHMAP_E_CORRUPT;
				*val_len = vl;
				return fits ? SHMAP_OK : SHMAP_E_BUFSIZE;
			}
			if (++budget > HT_READ_RETRIES)
				return SHMAP_E_BUSY;
		}
	}
	return SHMAP_E_NOTFOUND;
}

/* The general lookup (any layout, any key length). */
__attribute__((noinline)) static int get_general(const struct shmap_htable *t, const void *key, uint32_t klen,
						  void *val, uint32_t val_cap, uint32_t *val_len)
{
	if (t->indirect)
		return shmap__hv_get(t, key, klen, val, val_cap, val_len);
	const uint64_t home = ht_hash(t, key, klen) & t->mask;
	/* Short keys compare as one zero-padded word: stored keys are
	 * zero-padded too (st_copy). */
	if (klen <= 8u && t->packed) {
		uint64_t kw = 0;
		for (uint32_t b = 0; b < klen; b++)
			kw |= (uint64_t)((const uint8_t *)key)[b] << (8u * b);
		return get_packed_short(t, home, 0, kw, klen, val, val_cap, val_len);
	}
	uint32_t budget = 0;
	for (uint64_t n = 0; n < t->nb; n++) {
		const uint64_t i = (home + n) & t->mask;
		volatile uint64_t *ver = b_ver(t, i);
		for (;;) {
			/* R1: acquire, pairs with W2 (publish) in the writers. */
			uint64_t v1 = shmap__atomic_load_acquire_u64(ver);
			uint32_t st = v_state(v1);
			if (st == HT_EMPTY)
				return SHMAP_E_NOTFOUND;
			if (st == HT_TOMB)
				break;
			if (shmap_unlikely(st != HT_FULL))
				return SHMAP_E_CORRUPT;
			/* A mismatch seen at v1 means "not K at v1": no validation
			 * needed; a match must be validated. */
			if (v_klen(t, v1, i) != klen)
				break;
			if (!ld_equal(b_key(t, i), key, klen))
				break;
			uint32_t vl = v_vlen(t, v1, i);
			int bad = vl == 0 || vl > t->value_max;
			if (!bad && vl <= val_cap) {
				volatile uint64_t *vp = b_val(t, i, v_active(v1));
				if (vl == 8u) {
					uint64_t w = shmap__atomic_load_u64(vp);
					memcpy(val, &w, 8);
				} else {
					ld_copy(val, vp, vl);
				}
			}
			/* R2: acquire fence, pairs with W1 in the writers. */
			shmap__atomic_fence_acquire();
			if (shmap_likely(shmap__atomic_load_u64(ver) == v1)) {
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

/* The fast path's continuation at bucket i (see shmap_htable_get()). */
__attribute__((noinline)) static int get_packed_from(const struct shmap_htable *t, const void *key, uint64_t i,
						     void *val, uint32_t val_cap, uint32_t *val_len)
{
	uint64_t kw;
	memcpy(&kw, key, 8);
	const uint64_t home = hash8(kw, t->f_flip) & t->mask;
	return get_packed_short(t, home, (i - home) & t->mask, kw, 8, val, val_cap, val_len);
}

/*
 * 8/8 bucket at ver whose version v1 (read by R1) says FULL with an 8-byte
 * key and value, and whose key word matched: copy the value out if the
 * version is still v1. Both slots are loaded, so that no address waits for
 * v1, and the one v1 names is kept: relaxed word loads inside the seqlock
 * window, like every payload read. 1 if copied, 0 if the bucket changed.
 */
static inline int e88_take(volatile uint64_t *ver, uint64_t v1, void *val, uint32_t *val_len)
{
	const uint64_t w0 = shmap__atomic_load_u64(ver + 2);
	const uint64_t w1 = shmap__atomic_load_u64(ver + 3);
	const uint64_t w = v_active(v1) ? w1 : w0;
	/* R2: acquire fence, pairs with W1 in the writers. */
	shmap__atomic_fence_acquire();
	if (shmap_unlikely(shmap__atomic_load_u64(ver) != v1))
		return 0;
	memcpy(val, &w, 8);
	*val_len = 8;
	return 1;
}

/*
 * The 8/8 fast path after its home bucket (see shmap_htable_get()): v1 is
 * what R1 read at ver. At each bucket: EMPTY ends the lookup, TOMB and a
 * FULL/8/8 bucket with another key word are stepped over, the next bucket
 * is read like the home one; K's bucket whose version changed under the
 * read, another length or state 3 continue in get_packed_short() at that
 * bucket (which retries within its budget). The walk is bounded by the
 * private bucket count and wraps at the private end of the range.
 */
__attribute__((noinline)) static int get_e88_next(const struct shmap_htable *t, const void *key,
						  volatile uint64_t *ver, uint64_t v1, void *val, uint32_t *val_len)
{
	uint64_t kw;
	memcpy(&kw, key, 8);
	uint8_t *const base = t->buckets, *const end = t->f_end;
	uint64_t left = t->nb;
	for (;;) {
		if ((v1 & HT_E88_MASK) == HT_E88_WANT) {
			if (shmap__atomic_load_u64(ver + 1) == kw)
				break; /* K here but changed, or K seen now: general loop */
		} else if (v_state(v1) == HT_EMPTY) {
			return SHMAP_E_NOTFOUND;
		} else if (v_state(v1) != HT_TOMB) {
			break;
		}
		if (--left == 0)
			return SHMAP_E_NOTFOUND;
		ver += 4;
		if ((uint8_t *)ver == end)
			ver = (volatile uint64_t *)(void *)base;
		/* R1: acquire, pairs with W2 (publish) in the writers. */
		v1 = shmap__atomic_load_acquire_u64(ver);
		if ((v1 & HT_E88_MASK) == HT_E88_WANT && shmap__atomic_load_u64(ver + 1) == kw) {
			if (e88_take(ver, v1, val, val_len))
				return SHMAP_OK;
			break;
		}
	}
	const uint64_t home = hash8(kw, t->f_flip) & t->mask;
	const uint64_t i = (uint64_t)((uint8_t *)ver - base) / 32u;
	/* val_cap 8: the caller had room for 8 bytes, and values of this
	 * table are 1..8 bytes long. */
	return get_packed_short(t, home, (i - home) & t->mask, kw, 8, val, 8, val_len);
}

/*
 * get() of an 8-byte key with room for 8 bytes in any other packed table
 * with key_max and value_max >= 8 (see "Lookup fast path" above): the walk
 * uses bucket pointers wrapped at the private end of the range and a
 * private count.
 */
__attribute__((noinline)) static int get_fast8(const struct shmap_htable *t, const void *key, void *val,
					       uint32_t val_cap, uint32_t *val_len)
{
	uint64_t kw;
	memcpy(&kw, key, 8);
	/* Walk bucket pointers (wrapping at the end of the private bucket
	 * range) with a private count: few live values, no spills. */
	volatile uint64_t *ver = (volatile uint64_t *)(void *)(t->buckets +
							       (hash8(kw, t->f_flip) & t->mask) * t->stride);
	for (uint64_t left = t->nb; left != 0; left--) {
		/* R1: acquire, pairs with W2 (publish) in the writers. */
		const uint64_t v1 = shmap__atomic_load_acquire_u64(ver);
		if (shmap_likely((v1 & t->f_want_mask) == t->f_want)) {
			/* FULL, klen 8, vlen 8: compare the key word. */
			memcpy(&kw, key, 8);
			if (shmap__atomic_load_u64(ver + 1) == kw) {
				/* Both slots are loaded, so that no address waits
				 * for v1, and the one v1 names is kept: relaxed
				 * word loads inside the seqlock window, like every
				 * payload read. */
				const uint64_t w0 = shmap__atomic_load_u64(
					(volatile uint64_t *)(void *)((uint8_t *)ver + t->f_off0));
				const uint64_t w1 = shmap__atomic_load_u64(
					(volatile uint64_t *)(void *)((uint8_t *)ver + t->f_off1));
				const uint64_t w = v_active(v1) ? w1 : w0;
				/* R2: acquire fence, pairs with W1 in the writers. */
				shmap__atomic_fence_acquire();
				if (shmap_unlikely(shmap__atomic_load_u64(ver) != v1))
					break;
				memcpy(val, &w, 8);
				*val_len = 8;
				return SHMAP_OK;
			}
		} else if (v_state(v1) == HT_EMPTY) {
			return SHMAP_E_NOTFOUND;
		} else if (v_state(v1) != HT_TOMB) {
			break;
		}
		ver = (volatile uint64_t *)(void *)((uint8_t *)ver + t->stride);
		if ((uint8_t *)ver == t->buckets + t->nb * t->stride)
			ver = (volatile uint64_t *)(void *)t->buckets;
		if (left == 1)
			return SHMAP_E_NOTFOUND;
	}
	return get_packed_from(t, key, ((uint8_t *)ver - t->buckets) / t->stride, val, val_cap, val_len);
}

/*
 * The 8/8 fast path. 8-byte keys of 8/8 tables looked up with room for an
 * 8-byte value (the common case) read their home bucket inline, with every
 * geometry value a constant and nothing stored but the result: a random
 * lookup is bound by its one cache miss, and the fewer instructions it
 * takes around it, the more of the caller's independent lookups the CPU
 * keeps in flight at once (measured: 20 more instructions per lookup cost
 * about 15% of throughput). It accepts only what it fully handles: a FULL
 * home bucket whose version says key length 8 and value length 8 and whose
 * key word matches, read under the same seqlock protocol as everywhere else
 * (R1, key and value words, R2, version unchanged). Everything else goes on
 * in get_e88_next() from the same bucket. A key mismatch seen at v1 means
 * "not K at v1" and needs no validation, as in the general loop. The caller
 * checked the arguments, f_e88 and room for 8 bytes.
 */
/* get_e88_next() and then the SIGBUS guard's check on the way out
 * (segment-internal.h), out of line: get_e88() reaches it with a tail call. */
__attribute__((noinline)) static int get_e88_next_leave(const struct shmap_htable *t, const void *key,
							volatile uint64_t *ver, uint64_t v1, void *val,
							uint32_t *val_len)
{
	return shmap__seg_leave(&t->seg, get_e88_next(t, key, ver, v1, val, val_len));
}

static inline __attribute__((always_inline)) int get_e88(const struct shmap_htable *t, const void *key, void *val,
							 uint32_t *val_len)
{
	uint64_t kw;
	memcpy(&kw, key, 8);
	volatile uint64_t *ver = (volatile uint64_t *)(void *)(t->buckets + (hash8(kw, t->f_flip) & t->mask) * 32u);
	/* R1: acquire, pairs with W2 (publish) in the writers. */
	const uint64_t v1 = shmap__atomic_load_acquire_u64(ver);
	memcpy(&kw, key, 8);
	if (shmap_likely((v1 & HT_E88_MASK) == HT_E88_WANT) && shmap__atomic_load_u64(ver + 1) == kw &&
	    shmap_likely(e88_take(ver, v1, val, val_len)))
		return shmap__seg_leave(&t->seg, SHMAP_OK); /* the SIGBUS guard's check (segment-internal.h) */
	return get_e88_next_leave(t, key, ver, v1, val, val_len);
}

/* One lookup, arguments checked (klen in 1..key_max): the path for its
 * table and key length. */
static int get_one(const struct shmap_htable *t, const void *key, uint32_t klen, void *val, uint32_t val_cap,
		   uint32_t *val_len)
{
	if (klen == 8u && val && val_cap >= 8u) {
		if (t->f_e88)
			return get_e88(t, key, val, val_len);
		if (t->fast8)
			return get_fast8(t, key, val, val_cap, val_len);
	}
	return get_general(t, key, klen, val, val_cap, val_len);
}

/* get() with every argument check, for whatever the fast path does not take. */
__attribute__((noinline)) static int get_checked(const shmap_htable *t, const void *key, uint32_t klen,
						 void *val, uint32_t val_cap, uint32_t *val_len)
{
	if (!t || !key || klen == 0 || !val_len || (!val && val_cap))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	if (klen > t->key_max)
		return SHMAP_E_TOOBIG;
	return shmap__seg_leave(&t->seg, get_one(t, key, klen, val, val_cap, val_len));
}

/* (The SIGBUS guard's check on the way out, shmap__seg_leave(), is made in
 * get_e88() and get_checked(), so that the fast path needs no stack frame.) */
SHMAP_API int shmap_htable_get(const shmap_htable *t, const void *key, uint32_t klen, void *val,
			       uint32_t val_cap, uint32_t *val_len)
{
	/* f_e88: key_max == value_max == 8 and hash8() passed its check:
	 * every geometry value of get_e88() is then a constant (stride 32,
	 * key word +8, slots +16 and +24, version fields at fixed bits). */
	if (shmap_unlikely(!t || !key || !val || !val_len || klen != 8u || !t->f_e88 || val_cap < 8u ||
			   !shmap__seg_ok_fast(&t->seg)))
		return get_checked(t, key, klen, val, val_cap, val_len);
	return get_e88(t, key, val, val_len);
}

/*
 * get_many(): keys are taken in chunks; for each chunk the home buckets are
 * computed and prefetched first, then looked up one by one with the same
 * code as get(), so the chunk's cache misses overlap. Prefetching reads
 * nothing into a result: a bucket that changes between the prefetch and
 * the lookup is read under the seqlock like any other.
 */
#define HT_MANY_CHUNK 16u

static inline int shmap_htable_get_many__body(const shmap_htable *t, uint32_t n, const void *keys,
					      uint32_t key_stride, const uint32_t *klens, void *vals,
					      uint32_t val_stride, uint32_t *val_lens, int *rcs)
{
	if (!t || n > (uint32_t)INT32_MAX)
		return SHMAP_E_INVAL;
	if (n == 0)
		return 0;
	if (!keys || !val_lens || !rcs || (!vals && val_stride) || (!klens && key_stride == 0))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&t->seg);
	if (rc != SHMAP_OK)
		return rc;
	const uint8_t *kp = keys;
	uint8_t *vp = vals;
	int found = 0;
	for (uint32_t first = 0; first < n; first += HT_MANY_CHUNK) {
		const uint32_t m = n - first < HT_MANY_CHUNK ? n - first : HT_MANY_CHUNK;
		for (uint32_t i = first; i < first + m; i++) {
			const uint32_t kl = klens ? klens[i] : key_stride;
			if (kl == 0 || kl > t->key_max)
				continue;
			const uint8_t *key = kp + (size_t)i * key_stride;
			uint64_t h;
			if (kl == 8u && t->fast8) {
				uint64_t kw;
				memcpy(&kw, key, 8);
				h = hash8(kw, t->f_flip);
			} else {
				h = ht_hash(t, key, kl);
			}
			__builtin_prefetch(t->buckets + (h & t->mask) * t->stride);
		}
		for (uint32_t i = first; i < first + m; i++) {
			const uint32_t kl = klens ? klens[i] : key_stride;
			uint32_t vl = 0;
			int r;
			if (kl == 0)
				r = SHMAP_E_INVAL;
			else if (kl > t->key_max)
				r = SHMAP_E_TOOBIG;
			else
				r = get_one(t, kp + (size_t)i * key_stride, kl, vp ? vp + (size_t)i * val_stride : NULL,
					    val_stride, &vl);
			rcs[i] = r;
			val_lens[i] = r == SHMAP_OK || r == SHMAP_E_BUFSIZE ? vl : 0u;
			found += r == SHMAP_OK;
		}
	}
	return found;
}

SHMAP_API int shmap_htable_get_many(const shmap_htable *t, uint32_t n, const void *keys, uint32_t key_stride,
				    const uint32_t *klens, void *vals, uint32_t val_stride, uint32_t *val_lens,
				    int *rcs)
{
	int rc = shmap_htable_get_many__body(t, n, keys, key_stride, klens, vals, val_stride, val_lens, rcs);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

/* ------------------------------------------------------------------ */
/* writers                                                             */

enum ht_op { OP_INSERT, OP_UPSERT, OP_REPLACE, OP_ERASE, OP_CAS, OP_CAS_ERASE, OP_UPDATE };

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
	if (t->indirect)
		return shmap__hv_scan(t, home, key, klen, found, fver, free_i);
	*found = HT_NONE;
	*free_i = HT_NONE;
	uint32_t budget = 0;
	for (uint64_t n = 0; n < t->nb; n++) {
		const uint64_t i = (home + n) & t->mask;
		volatile uint64_t *ver = b_ver(t, i);
		for (;;) {
			uint64_t v1 = shmap__atomic_load_acquire_u64(ver); /* R1 (as in get) */
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
			shmap__atomic_fence_acquire(); /* R2 (as in get) */
			if (shmap__atomic_load_u64(ver) == v1) {
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
	/* R1-style acquire loads: pair with W2 of whoever changed these buckets. */
	uint32_t st = v_state(shmap__atomic_load_acquire_u64(b_ver(t, target)));
	if (st != HT_EMPTY && st != HT_TOMB)
		return 0;
	uint64_t dist = (target - home) & t->mask;
	for (uint64_t n = 0; n < dist; n++)
		if (v_state(shmap__atomic_load_acquire_u64(b_ver(t, home + n))) == HT_EMPTY)
			return 0;
	return 1;
}

/* Write a new value beside the current one in FULL bucket i (holding K)
 * and switch. Inline: cannot fail; indirect: SHMAP_E_NOSPC, SHMAP_E_FULL,
 * SHMAP_E_TIMEOUT, SHMAP_E_CORRUPT (nothing changed). */
static int publish_value(struct shmap_htable *t, uint64_t home, uint64_t i, uint64_t v, const void *key,
			 uint32_t klen, const void *val, uint32_t vlen)
{
	if (t->indirect)
		return shmap__hv_put(t, home, i, v, key, klen, val, vlen, 0);
	uint32_t s = v_active(v) ^ 1u;
	uint32_t kl = t->packed ? v_klen(t, v, i) : 0;
	/* W1: release fence, pairs with R2: a reader that sees any byte written
	 * below also sees a version at least as new as v (so its check fails). */
	shmap__atomic_fence_release();
	if (!t->packed)
		shmap__atomic_store_u64(b_slot(t, i, s), vlen);
	st_copy(b_val(t, i, s), val, vlen);
	SHMAP_FAILPOINT("htable.w.written");
	/* W2: release, pairs with R1: the slot is complete before it is active. */
	shmap__atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_FULL, s, kl, vlen));
	SHMAP_FAILPOINT("htable.w.published");
	return SHMAP_OK;
}

/* Fill free bucket i (caller holds lock[i] and lock[home]) with K -> val.
 * Errors as publish_value(). */
static int publish_new(struct shmap_htable *t, uint64_t home, uint64_t i, const void *key, uint32_t klen,
		       const void *val, uint32_t vlen)
{
	/* Acquire, pairs with W2 of the erase/cleanup that freed the bucket. */
	uint64_t v = shmap__atomic_load_acquire_u64(b_ver(t, i));
	if (t->indirect)
		return shmap__hv_put(t, home, i, v, key, klen, val, vlen, 1);
	/* W1: release fence, pairs with R2 (stale readers of the old entry). */
	shmap__atomic_fence_release();
	if (!t->packed) {
		shmap__atomic_store_u64(b_klen_word(t, i), klen);
		shmap__atomic_store_u64(b_slot(t, i, 0), vlen);
	}
	st_copy(b_key(t, i), key, klen);
	st_copy(b_val(t, i, 0), val, vlen);
	SHMAP_FAILPOINT("htable.w.written");
	/* W2: release, pairs with R1: key and value complete before FULL. */
	shmap__atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_FULL, 0, klen, vlen));
	SHMAP_FAILPOINT("htable.w.published");
	return SHMAP_OK;
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
		if (v_state(shmap__atomic_load_u64(b_ver(t, i))) == HT_EMPTY) {
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
	/* Acquire, pairs with W2 of the change that emptied e. */
	int ok = v_state(shmap__atomic_load_acquire_u64(b_ver(t, e))) == HT_EMPTY;
	for (uint64_t back = 1; ok && back < t->nb && back <= 2u * HT_CLEAN_SPAN; back++) {
		const uint64_t x = (e - back) & t->mask;
		if (back > len) {
			/* Extending before b: lock x first. */
			if (lock_sec(t, x, home, 0) < 0)
				break;
			lo = x;
		}
		uint32_t kl = 0, vl = 0, budget = 0;
		int r = shmap__ht_read_bucket(t, x, kb, kcap, &kl, NULL, 0, &vl, &budget);
		if (r == HT_EMPTY || r < 0 || (r == HT_FULL && kl > kcap))
			break;
		if (r == HT_FULL) {
			uint64_t hb = (e - (ht_hash(t, kb, kl) & t->mask)) & t->mask;
			if (hb > maxback)
				maxback = hb;
		} else if (back > maxback) {
			/* TOMB crossed by no probe path: W2 release store. */
			uint64_t v = shmap__atomic_load_acquire_u64(b_ver(t, x));
			shmap__atomic_store_release_u64(b_ver(t, x), v_next(t, v, HT_EMPTY, 0, 0, 0));
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

static int erase_at(struct shmap_htable *t, uint64_t i, uint64_t v, uint64_t home)
{
	if (t->indirect) {
		int rc = shmap__hv_erase(t, home, i, v);
		if (rc < 0)
			return rc;
	} else {
		/* W2: release; readers that see TOMB skip the bucket. */
		shmap__atomic_store_release_u64(b_ver(t, i), v_next(t, v, HT_TOMB, v_active(v), 0, 0));
		SHMAP_FAILPOINT("htable.erase.tomb");
	}
	count_add(t, home, -1);
	cleanup(t, i, home);
	return SHMAP_OK;
}

/* The current value of FULL bucket i at version v (home lock held): its
 * words and length (0: a bad length, the bucket is corrupt). */
static uint32_t cur_value(const struct shmap_htable *t, uint64_t i, uint64_t v, const volatile uint64_t **vp)
{
	if (t->indirect)
		return shmap__hv_value(t, i, vp);
	*vp = b_val(t, i, v_active(v));
	return v_vlen(t, v, i);
}

static int check_len(const struct shmap_htable *t, uint32_t vlen)
{
	if (vlen == 0)
		return SHMAP_E_INVAL;
	return vlen > t->value_max ? SHMAP_E_TOOBIG : SHMAP_OK;
}

/* OP_UPDATE's callback on a key that is absent: `out` starts zeroed (a new
 * key's value), *ol at 0. */
static int update_absent_cb(const struct shmap_htable *t, struct ht_wop *w, uint32_t *ol)
{
	*ol = 0;
	memset(w->out, 0, t->value_max);
	SHMAP_FAILPOINT("htable.w.callback");
	return w->fn(NULL, 0, 0, w->out, ol, w->arg);
}

/* CAS, CAS-erase or update of the key at FULL bucket `found`, version fver
 * (home lock held). */
static int write_found_value(struct shmap_htable *t, uint64_t home, uint64_t found, uint64_t fver,
			     const void *key, uint32_t klen, struct ht_wop *w)
{
	const volatile uint64_t *cvp = NULL;
	uint32_t cl = cur_value(t, found, fver, &cvp);
	if (cl == 0 || cl > t->value_max)
		return SHMAP_E_CORRUPT;
	if (w->op == OP_CAS || w->op == OP_CAS_ERASE) {
		/* The home lock is held (L2): the value at fver cannot change
		 * while we compare it. */
		if (cl != w->elen || !ld_equal(cvp, w->exp, cl))
			return SHMAP_E_MISMATCH;
		if (w->op == OP_CAS)
			return publish_value(t, home, found, fver, key, klen, w->val, w->vlen);
		return erase_at(t, found, fver, home);
	}
	ld_copy(w->cur, cvp, cl);
	/* `out` starts as a copy of the current value, so a callback may edit
	 * it in place and commit. */
	memcpy(w->out, w->cur, cl);
	memset(w->out + cl, 0, t->value_max - cl);
	uint32_t ol = cl;
	SHMAP_FAILPOINT("htable.w.callback");
	int r = w->fn(w->cur, cl, 1, w->out, &ol, w->arg);
	if (r == SHMAP_HTABLE_COMMIT) {
		int rc = check_len(t, ol);
		return rc == SHMAP_OK ? publish_value(t, home, found, fver, key, klen, w->out, ol) : rc;
	}
	if (r == SHMAP_HTABLE_ERASE)
		return erase_at(t, found, fver, home);
	if (r == SHMAP_HTABLE_KEEP)
		return SHMAP_OK;
	return r == SHMAP_HTABLE_ABORT ? SHMAP_E_ABORTED : SHMAP_E_INVAL;
}

/* The operation on the key found at bucket `found`, version fver (home lock held). */
static int write_found(struct shmap_htable *t, uint64_t home, uint64_t found, uint64_t fver,
		       const void *key, uint32_t klen, struct ht_wop *w)
{
	switch (w->op) {
	case OP_INSERT:
		return SHMAP_E_EXIST;
	case OP_UPSERT:
	case OP_REPLACE:
		return publish_value(t, home, found, fver, key, klen, w->val, w->vlen);
	case OP_ERASE:
		return erase_at(t, found, fver, home);
	case OP_CAS:
	case OP_CAS_ERASE:
	case OP_UPDATE:
		break;
	}
	return write_found_value(t, home, found, fver, key, klen, w);
}

/* A key absent from a table with no free bucket in its chain. */
static int write_absent_full(const struct shmap_htable *t, struct ht_wop *w)
{
	if (w->op != OP_UPDATE)
		return SHMAP_E_FULL;
	uint32_t ol;
	int r = update_absent_cb(t, w, &ol);
	return r == SHMAP_HTABLE_COMMIT ? SHMAP_E_FULL :
	       r == SHMAP_HTABLE_ERASE ? SHMAP_OK :
	       r == SHMAP_HTABLE_KEEP ? SHMAP_E_NOTFOUND :
	       r == SHMAP_HTABLE_ABORT ? SHMAP_E_ABORTED : SHMAP_E_INVAL;
}

/* Insert the absent key into the claimed bucket free_i (home and free_i
 * locked); > 0: nothing to write (an update callback erased a key that is
 * not there). */
static int write_new(struct shmap_htable *t, uint64_t home, uint64_t free_i, const void *key,
		     uint32_t klen, struct ht_wop *w)
{
	const void *val = w->val;
	uint32_t vlen = w->vlen;
	int rc = SHMAP_OK;
	if (w->op == OP_UPDATE) {
		uint32_t ol;
		int r = update_absent_cb(t, w, &ol);
		if (r == SHMAP_HTABLE_COMMIT) {
			rc = check_len(t, ol);
			val = w->out;
			vlen = ol;
		} else {
			rc = r == SHMAP_HTABLE_ERASE ? 1 :
			     r == SHMAP_HTABLE_KEEP ? SHMAP_E_NOTFOUND :
			     r == SHMAP_HTABLE_ABORT ? SHMAP_E_ABORTED : SHMAP_E_INVAL;
		}
	}
	if (rc == SHMAP_OK)
		rc = publish_new(t, home, free_i, key, klen, val, vlen);
	if (rc == SHMAP_OK) {
		count_add(t, home, 1);
		SHMAP_FAILPOINT("htable.w.counted");
	}
	return rc;
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
		if (rc == SHMAP_RECOVERED) {
			recovered = 1;
			shmap__hv_recover_lock(t, home);
		}
		SHMAP_FAILPOINT("htable.w.locked");

		uint64_t found, fver = 0, free_i;
		rc = scan_chain(t, home, key, klen, &found, &fver, &free_i);
		if (rc < 0) {
			unlock(t, home);
			return rc;
		}
		if (found != HT_NONE) {
			rc = write_found(t, home, found, fver, key, klen, w);
			SHMAP_FAILPOINT("htable.w.done");
			unlock(t, home);
			return rc < 0 ? rc : recovered ? SHMAP_RECOVERED : SHMAP_OK;
		}

		/* K is not in the table. */
		if (w->op == OP_REPLACE || w->op == OP_ERASE || w->op == OP_CAS || w->op == OP_CAS_ERASE) {
			unlock(t, home);
			return SHMAP_E_NOTFOUND;
		}
		if (free_i == HT_NONE) {
			rc = write_absent_full(t, w);
			unlock(t, home);
			return rc < 0 ? rc : recovered ? SHMAP_RECOVERED : SHMAP_OK;
		}
		/* Tests: act between the scan and the claim (attempt as arg). */
		SHMAP_TEST_HOOK("htable.w.scanned", t, attempt);
		rc = lock_sec(t, free_i, home, attempt >= 2);
		if (rc == SHMAP_RECOVERED) {
			/* A dead holder's lock taken over (its stores are visible
			 * to us through the kernel: D1 in lock_wait()). It may be
			 * that writer's home lock, with its intent behind it:
			 * recover that now, before anything else. If the claim
			 * below fails the lock is released, and a later writer
			 * of the dead writer's key would take it without a
			 * takeover, replace the record and free its block while
			 * the intent still names it; recovering the intent after
			 * that freed the block twice (two records in one block:
			 * one key in two buckets, another key lost). */
			recovered = 1;
			shmap__hv_recover_lock(t, free_i);
		}
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
		SHMAP_FAILPOINT("htable.w.claimed");
		rc = write_new(t, home, free_i, key, klen, w);
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

static inline int shmap_htable_insert__body(shmap_htable *t, const void *key, uint32_t klen, const void *val,
					    uint32_t vlen)
{
	return put_common(t, key, klen, val, vlen, OP_INSERT);
}

SHMAP_API int shmap_htable_insert(shmap_htable *t, const void *key, uint32_t klen, const void *val,
				  uint32_t vlen)
{
	int rc = shmap_htable_insert__body(t, key, klen, val, vlen);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

static inline int shmap_htable_upsert__body(shmap_htable *t, const void *key, uint32_t klen, const void *val,
					    uint32_t vlen)
{
	return put_common(t, key, klen, val, vlen, OP_UPSERT);
}

SHMAP_API int shmap_htable_upsert(shmap_htable *t, const void *key, uint32_t klen, const void *val,
				  uint32_t vlen)
{
	int rc = shmap_htable_upsert__body(t, key, klen, val, vlen);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

static inline int shmap_htable_replace__body(shmap_htable *t, const void *key, uint32_t klen, const void *val,
					     uint32_t vlen)
{
	return put_common(t, key, klen, val, vlen, OP_REPLACE);
}

SHMAP_API int shmap_htable_replace(shmap_htable *t, const void *key, uint32_t klen, const void *val,
				   uint32_t vlen)
{
	int rc = shmap_htable_replace__body(t, key, klen, val, vlen);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

static inline int shmap_htable_erase__body(shmap_htable *t, const void *key, uint32_t klen)
{
	int rc = write_prologue(t, key, klen);
	if (rc != SHMAP_OK)
		return rc;
	struct ht_wop w = { .op = OP_ERASE };
	return ht_write(t, key, klen, &w);
}

SHMAP_API int shmap_htable_erase(shmap_htable *t, const void *key, uint32_t klen)
{
	int rc = shmap_htable_erase__body(t, key, klen);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

static inline int shmap_htable_cas__body(shmap_htable *t, const void *key, uint32_t klen, const void *expected,
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

SHMAP_API int shmap_htable_cas(shmap_htable *t, const void *key, uint32_t klen, const void *expected,
			       uint32_t elen, const void *desired, uint32_t dlen)
{
	int rc = shmap_htable_cas__body(t, key, klen, expected, elen, desired, dlen);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

static inline int shmap_htable_cas_erase__body(shmap_htable *t, const void *key, uint32_t klen, const void *expected,
					       uint32_t elen)
{
	if (!expected || elen == 0)
		return SHMAP_E_INVAL;
	int rc = write_prologue(t, key, klen);
	if (rc != SHMAP_OK)
		return rc;
	if (elen > t->value_max)
		return SHMAP_E_TOOBIG;
	struct ht_wop w = { .op = OP_CAS_ERASE, .exp = expected, .elen = elen };
	return ht_write(t, key, klen, &w);
}

SHMAP_API int shmap_htable_cas_erase(shmap_htable *t, const void *key, uint32_t klen, const void *expected,
				     uint32_t elen)
{
	int rc = shmap_htable_cas_erase__body(t, key, klen, expected, elen);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}

static inline int shmap_htable_update__body(shmap_htable *t, const void *key, uint32_t klen, shmap_htable_update_fn fn,
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

SHMAP_API int shmap_htable_update(shmap_htable *t, const void *key, uint32_t klen, shmap_htable_update_fn fn,
				  void *arg)
{
	int rc = shmap_htable_update__body(t, key, klen, fn, arg);
	return t ? shmap__seg_leave(&t->seg, rc) : rc;
}
