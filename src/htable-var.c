/* SPDX-License-Identifier: MIT */
/*
 * htable-var.c - the hash table's indirect layout: keys and values of
 * varied sizes held in about the memory they need.
 *
 * Design notes
 * ------------
 * When a bucket of the inline layout (htable.c) would not fit one cache
 * line (key_max + 2 x value_max above ~56 bytes), the table is "indirect":
 *   bucket  = [u64 ver][u64 ref]      16 bytes, four to a cache line
 *   ver     = seq << 19 | tag << 3 | state   (tag: 16 high bits of the hash)
 *   ref     = class << 48 | offset / 16      (0: none)
 *   record  = [u64 klen | vlen << 16][key, zero-padded to words][value]
 * Records live in the record area at the end of the data region. The area
 * is part of the segment's size (ftruncate) but only its carved part is
 * allocated (posix_fallocate, in chunks of 1/16 of what is allocated,
 * 64 KiB..4 MiB, as records arrive): a full tmpfs makes the write that
 * needed the space fail with SHMAP_E_NOSPC, never a later access SIGBUS.
 *
 * Allocator: a record takes a block of its size class (16-byte steps to
 * 1 KiB, then eight classes per doubling: at most 12.5% rounding). Each
 * class has a LIFO free list (next pointer in the block's first word);
 * a class with an empty list takes a free block of up to twice its size
 * whole, else carves a new block from the top of the area if the file
 * space there is allocated already, else takes any larger free block
 * before allocating more of the file (or when the area is exhausted). Blocks never change class
 * and are never split or merged, so the carved part of the area is at
 * most sum over classes c of (peak blocks of c in use) x size(c): a live
 * set whose sizes stay put costs its blocks (<= 12.5% or 15 bytes of
 * rounding each) plus the free blocks of its peak; one whose sizes drift
 * keeps the blocks of each size it went through (measured in the suite's
 * drifting churn: about 5x the largest live set after ten size bands). The area's
 * size is nb x the sum of the sizes of every class a record can need
 * (capped at 1 TiB): a table holding at most nb entries, whatever their
 * sizes did over time, never runs out of area (it may run out of tmpfs).
 * The allocator's state (top, free-list heads, journal) is changed only
 * under one lock word (owner id, taken over from a dead holder like a
 * bucket lock); the lock is taken while holding bucket locks and never the
 * other way round (no deadlock, L4 of htable.c).
 *
 * Crash safety. Every block a writer takes or gives back goes through an
 * intent slot (8 words: owner, home lock, bucket, ref new, ref old),
 * claimed by CAS on its owner word while the writer holds the key's home
 * lock and released before it unlocks:
 *   update:  old := ref; new := alloc; write record; ref := new (release);
 *            ver := next (W2); free(old); release
 *   insert:  new := alloc; write record; ref := new; ver := FULL|tag (W2)
 *   erase:   old := ref; ver := TOMB (W2); free(old); release
 * Each allocator step moving a block between a free list (or the top) and
 * an intent field is journalled (jref, jinfo) under the allocator lock, so
 * a taker of a dead holder's allocator lock finishes or undoes it: a block
 * is always in exactly one of {free list, top, intent field, bucket ref}
 * (or leaked by a hostile peer). A dead writer's intent is recovered by
 * whoever takes its home lock over (shmap__hv_recover_lock(): every take-
 * over of a lock calls it at once, also an insert's takeover of its
 * target bucket's lock that it then gives up: a lock released after a
 * takeover must have no dead intent behind it, or the next writer of the
 * key frees the block that intent still names), by a writer that finds
 * the allocator exhausted or the intent slots full (it takes the dead
 * intent's home lock with a try, probing the owner), or by the checker's
 * repair: with the home lock held, a FULL bucket whose ref is one of the
 * intent's blocks keeps that block (its version is bumped first: an
 * update killed between its ref and version stores must not let a reader
 * validate the old record against an unchanged version after it is
 * freed), every other block of the intent is freed. The repair also
 * rebuilds every free list from the live records (what a hostile peer or a
 * kill during a repair leaked comes back).
 *
 * Readers: R1 acquire-load ver; a tag that differs means "not K at v1"
 * (no validation); else acquire-load ref (pairs with the writer's release
 * store of ref: the record is complete), bounds-check the offset and the
 * record's lengths against the private area size and maxima, compare the
 * key, copy the value, R2 acquire fence, reload ver: any conclusion drawn
 * from the record, match or mismatch, is accepted only if ver is still v1.
 * A block is freed only after the bucket that referenced it changed its
 * version, so a reader that copied a freed (and maybe reused) block always
 * fails validation. A reader of a hostile ref reads inside the area only;
 * it may touch an unallocated page of the area (tmpfs then allocates it).
 */
#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "htable-internal.h"

/* Allocator control block words (t->arena). */
#define AR_LOCK 0u   /* u32 owner id in the low half of word 0 */
#define AR_TOP 1u    /* bytes of the area carved (>= 16) */
#define AR_RES 2u    /* bytes of the area allocated in the file */
#define AR_JREF 3u   /* journal: the block being moved */
#define AR_JINFO 4u  /* journal: op | field << 8 | intent << 16; 0 = none */
#define AR_HEADS 8u  /* HT_NCLASS free-list heads */

/* Intent slot words. */
#define IN_OWNER 0u
#define IN_HOME 1u
#define IN_BUCKET 2u
#define IN_REF 3u    /* IN_REF + 0: new block, IN_REF + 1: old block */

#define J_POP 1u
#define J_BUMP 2u
#define J_FREE 3u

#define CHUNK_MIN (UINT64_C(64) << 10)
#define CHUNK_MAX (UINT64_C(4) << 20)

static inline volatile uint64_t *arw(const struct shmap_htable *t, uint32_t w)
{
	return (volatile uint64_t *)&t->arena[w];
}

static inline volatile uint64_t *inw(const struct shmap_htable *t, uint32_t k, uint32_t w)
{
	return (volatile uint64_t *)&t->intents[(uint64_t)k * 8u + w];
}

static inline volatile uint64_t *blk(const struct shmap_htable *t, uint64_t off)
{
	return (volatile uint64_t *)(void *)(t->area + off);
}

static inline uint64_t mkref(uint64_t off, uint32_t c)
{
	return ((uint64_t)c << 48) | (off / 16u);
}

static inline uint64_t vi_next(uint64_t old, uint32_t state, uint32_t tag)
{
	return ((((old >> HT_ISHIFT) + 1u)) << HT_ISHIFT) | ((uint64_t)tag << 3) | state;
}

/* A block reference that lies inside the private area: 1 and *off, *c. */
static int ref_ok(const struct shmap_htable *t, uint64_t r, uint64_t *off, uint32_t *c)
{
	uint64_t o = HT_REF_OFF(r) * 16u;
	uint32_t k = HT_REF_CLASS(r);
	if (r >> 56 || k >= t->nclass || o < 16u || o > t->area_max || hv_csize(k) > t->area_max - o)
		return 0;
	*off = o;
	*c = k;
	return 1;
}

/*
 * The record at ref r (read with relaxed loads, maybe stale): 1 if its
 * lengths fit the private maxima and the record lies inside the area.
 */
static int rec_ok(const struct shmap_htable *t, uint64_t r, uint64_t *off, uint32_t *kl, uint32_t *vl)
{
	uint64_t o = HT_REF_OFF(r) * 16u;
	if (o < 16u || o > t->area_max - 8u)
		return 0;
	uint64_t h = shmap__atomic_load_u64(blk(t, o));
	uint32_t k = (uint32_t)(h & 0xffffu), v = (uint32_t)(h >> 16);
	if (k == 0 || k > t->key_max || v == 0 || v > t->value_max || (h >> 41) != 0 ||
	    hv_recsize(k, v) > t->area_max - o)
		return 0;
	*off = o;
	*kl = k;
	*vl = v;
	return 1;
}

/* ------------------------------------------------------------------ */
/* readers                                                             */

int shmap__hv_read(const struct shmap_htable *t, uint64_t i, void *kbuf, uint32_t kcap, uint32_t *klen,
		   void *vbuf, uint32_t vcap, uint32_t *vlen, uint32_t *budget)
{
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
		/* Acquire, pairs with the release store of ref in put(). */
		uint64_t r = shmap__atomic_load_acquire_u64(b_ref(t, i)), off = 0;
		uint32_t kl = 0, vl = 0;
		int ok = rec_ok(t, r, &off, &kl, &vl);
		if (ok) {
			const volatile uint64_t *rp = blk(t, off) + 1;
			if (kbuf && kl <= kcap)
				ld_copy(kbuf, rp, kl);
			if (vbuf && vl <= vcap)
				ld_copy(vbuf, rp + (kl + 7u) / 8u, vl);
		}
		/* R2: acquire fence, pairs with W1 (release fence before record writes). */
		shmap__atomic_fence_acquire();
		if (shmap__atomic_load_u64(ver) == v1) {
			if (!ok)
				return SHMAP_E_CORRUPT;
			*klen = kl;
			*vlen = vl;
			return HT_FULL;
		}
		if (++*budget > HT_READ_RETRIES)
			return SHMAP_E_BUSY;
	}
}

int shmap__hv_get(const struct shmap_htable *t, const void *key, uint32_t klen, void *val, uint32_t val_cap,
		  uint32_t *val_len)
{
	const uint64_t h = ht_hash(t, key, klen);
	const uint64_t home = h & t->mask;
	const uint32_t tag = HT_TAG(h);
	uint32_t budget = 0;
	for (uint64_t n = 0; n < t->nb; n++) {
		const uint64_t i = (home + n) & t->mask;
		volatile uint64_t *ver = b_ver(t, i);
		for (;;) {
			/* R1: acquire, pairs with W2 (publish) in the writers. */
			const uint64_t v1 = shmap__atomic_load_acquire_u64(ver);
			const uint32_t st = v_state(v1);
			if (st == HT_EMPTY)
				return SHMAP_E_NOTFOUND;
			if (st == HT_TOMB)
				break;
			if (shmap_unlikely(st != HT_FULL))
				return SHMAP_E_CORRUPT;
			if (v_tag(v1) != tag)
				break; /* not K at v1: the tag is part of v1 */
			/* Acquire, pairs with the release store of ref in put(). */
			uint64_t r = shmap__atomic_load_acquire_u64(b_ref(t, i)), off = 0;
			uint32_t kl = 0, vl = 0;
			const int ok = rec_ok(t, r, &off, &kl, &vl);
			const volatile uint64_t *rp = blk(t, ok ? off : 0) + 1;
			const int match = ok && kl == klen && ld_equal(rp, key, klen);
			if (match && vl <= val_cap)
				ld_copy(val, rp + (kl + 7u) / 8u, vl);
			/* R2: acquire fence, pairs with W1 in the writers. */
			shmap__atomic_fence_acquire();
			if (shmap_likely(shmap__atomic_load_u64(ver) == v1)) {
				if (!ok)
					return SHMAP_E_CORRUPT;
				if (!match)
					break; /* validated: another key with the same tag */
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
/* writers' chain scan (caller holds lock[home])                       */

int shmap__hv_scan(struct shmap_htable *t, uint64_t home, const void *key, uint32_t klen, uint64_t *found,
		   uint64_t *fver, uint64_t *free_i)
{
	*found = HT_NONE;
	*free_i = HT_NONE;
	const uint32_t tag = HT_TAG(ht_hash(t, key, klen));
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
			if (v_tag(v1) != tag)
				break;
			uint64_t r = shmap__atomic_load_acquire_u64(b_ref(t, i)), off = 0; /* as in get */
			uint32_t kl = 0, vl = 0;
			int ok = rec_ok(t, r, &off, &kl, &vl);
			int match = ok && kl == klen && ld_equal(blk(t, off) + 1, key, klen);
			shmap__atomic_fence_acquire(); /* R2 (as in get) */
			if (shmap__atomic_load_u64(ver) == v1) {
				if (!ok)
					return SHMAP_E_CORRUPT;
				if (!match)
					break;
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

/* The value of FULL bucket i, whose key's home lock the caller holds (so
 * the record cannot change): its length (0 if the record is bad). */
uint32_t shmap__hv_value(const struct shmap_htable *t, uint64_t i, const volatile uint64_t **vp)
{
	uint64_t off = 0;
	uint32_t kl = 0, vl = 0;
	/* Acquire, pairs with the release store of ref in put(). */
	if (!rec_ok(t, shmap__atomic_load_acquire_u64(b_ref(t, i)), &off, &kl, &vl))
		return 0;
	*vp = blk(t, off) + 1 + (kl + 7u) / 8u;
	return vl;
}

/* ------------------------------------------------------------------ */
/* the allocator lock and its journal                                  */

static void journal_recover(struct shmap_htable *t);

/* Wait for the allocator lock (as lock_wait() in htable-internal.h). */
static int ar_lock(struct shmap_htable *t, uint64_t deadline)
{
	volatile uint32_t *w = (volatile uint32_t *)(void *)arw(t, AR_LOCK);
	const uint32_t me = t->seg.owner;
	struct shmap__backoff bo;
	shmap__backoff_init(&bo);
	for (;;) {
		uint32_t cur = shmap__atomic_load_u32(w);
		if (cur == 0) {
			/* A1: full CAS, pairs with A2 in ar_unlock(). */
			if (shmap__atomic_cas_full_u32(w, 0, me) == 0)
				return SHMAP_OK;
		} else if (bo.round >= 10 && !shmap__seg_owner_alive(&t->seg, cur)) {
			/* Dead holder: take over and finish its journalled step. */
			if (shmap__atomic_cas_full_u32(w, cur, me) == cur) {
				journal_recover(t);
				return SHMAP_RECOVERED;
			}
		}
		if (shmap__backoff_wait(&bo, deadline) != SHMAP_OK)
			return SHMAP_E_TIMEOUT;
	}
}

static void ar_unlock(struct shmap_htable *t)
{
	/* A2: release, pairs with A1. */
	shmap__atomic_store_release_u32((volatile uint32_t *)(void *)arw(t, AR_LOCK), 0);
}

/* All allocator stores below are release stores: a taker of a dead
 * holder's lock (A1, full CAS) sees them in program order. */
static void j_begin(struct shmap_htable *t, uint64_t r, uint32_t op, uint32_t k, uint32_t f)
{
	shmap__atomic_store_release_u64(arw(t, AR_JREF), r);
	shmap__atomic_store_release_u64(arw(t, AR_JINFO), op | (uint64_t)f << 8 | (uint64_t)k << 16);
}

static void j_end(struct shmap_htable *t)
{
	shmap__atomic_store_release_u64(arw(t, AR_JINFO), 0);
}

/* Push block r (class c at off) on its free list. */
static void push_block(struct shmap_htable *t, uint64_t r, uint64_t off, uint32_t c)
{
	shmap__atomic_store_release_u64(blk(t, off), shmap__atomic_load_u64(arw(t, AR_HEADS + c)));
	shmap__atomic_store_release_u64(arw(t, AR_HEADS + c), r);
}

/* Finish or undo the step a dead allocator-lock holder journalled. */
static void journal_recover(struct shmap_htable *t)
{
	/* Acquire: pairs with the release stores of the dead holder. */
	const uint64_t info = shmap__atomic_load_acquire_u64(arw(t, AR_JINFO));
	if (info == 0)
		return;
	const uint64_t r = shmap__atomic_load_acquire_u64(arw(t, AR_JREF));
	const uint32_t op = (uint32_t)(info & 0xffu), f = (uint32_t)(info >> 8) & 1u;
	const uint64_t k = info >> 16;
	uint64_t off;
	uint32_t c;
	if (k < HT_NINTENT && ref_ok(t, r, &off, &c)) {
		volatile uint64_t *field = inw(t, (uint32_t)k, IN_REF + f);
		if (shmap__atomic_load_u64(field) == r) {
			const uint64_t head = shmap__atomic_load_u64(arw(t, AR_HEADS + c));
			if (op == J_POP && head == r) /* not popped yet: undo */
				shmap__atomic_store_release_u64(field, 0);
			else if (op == J_BUMP && shmap__atomic_load_u64(arw(t, AR_TOP)) == off)
				shmap__atomic_store_release_u64(field, 0); /* not carved yet */
			else if (op == J_FREE) {
				if (head != r)
					push_block(t, r, off, c);
				shmap__atomic_store_release_u64(field, 0);
			}
		}
	}
	j_end(t);
}

/* Allocate the file space of the area up to `need` bytes (allocator lock held). */
static int grow(struct shmap_htable *t, uint64_t need)
{
	uint64_t res = shmap__atomic_load_u64(arw(t, AR_RES));
	if (res > t->area_max)
		return SHMAP_E_CORRUPT;
	if (need <= res)
		return SHMAP_OK;
	uint64_t chunk = res / 16u;
	chunk = chunk < CHUNK_MIN ? CHUNK_MIN : chunk > CHUNK_MAX ? CHUNK_MAX : chunk;
	uint64_t nres = SHMAP_ALIGN_UP(need + chunk, (uint64_t)SHMAP__PAGE);
	if (nres > t->area_max)
		nres = t->area_max;
	SHMAP_FAILPOINT("htable.alloc.grow");
	/* A peer that shrank the file must not be healed by our growth: the
	 * allocation would extend it again with zero pages where the buckets
	 * were, turning the fault the guard reports into silent data loss.
	 * Growth is rare (chunks), so one fstat() here is cheap (it sees a
	 * shrink anywhere, not only over our range); a shrink after it is not
	 * healed either, since the reservation keeps the object's size and
	 * answers ERANGE. Where the platform cannot reserve, the pages come
	 * with first use (a full store then faults: PEERFAULT). */
	struct stat st;
	int r = fstat(t->seg.fd, &st) == 0 && (uint64_t)st.st_size < t->seg.total_size
			? ERANGE
			: shmap__plat_reserve(t->seg.fd, (off_t)(t->area_foff + res), (off_t)(nres - res), true);
	if (r == ERANGE) {
		__atomic_store_n(&t->seg.poisoned, SHMAP__POISON_PEERFAULT, __ATOMIC_RELAXED);
		return SHMAP_E_PEERFAULT;
	}
	if (r != 0 && r != EOPNOTSUPP) {
		errno = r;
		return r == ENOSPC ? SHMAP_E_NOSPC : shmap__errno_code(r);
	}
	shmap__atomic_store_release_u64(arw(t, AR_RES), nres);
	return SHMAP_OK;
}

/* Pop class c's head into intent field (k, f). */
static int pop(struct shmap_htable *t, uint32_t c, uint32_t k, uint32_t f)
{
	const uint64_t h = shmap__atomic_load_u64(arw(t, AR_HEADS + c));
	uint64_t off, noff;
	uint32_t hc, nc;
	if (!ref_ok(t, h, &off, &hc) || hc != c)
		return SHMAP_E_CORRUPT;
	const uint64_t next = shmap__atomic_load_u64(blk(t, off));
	if (next != 0 && (!ref_ok(t, next, &noff, &nc) || nc != c))
		return SHMAP_E_CORRUPT;
	j_begin(t, h, J_POP, k, f);
	shmap__atomic_store_release_u64(inw(t, k, IN_REF + f), h);
	shmap__atomic_store_release_u64(arw(t, AR_HEADS + c), next);
	SHMAP_FAILPOINT("htable.alloc.popped");
	j_end(t);
	return SHMAP_OK;
}

/* A block for `size` bytes into intent field (k, f) (allocator lock held). */
static int alloc_locked(struct shmap_htable *t, uint64_t size, uint32_t k, uint32_t f)
{
	const uint32_t c = hv_class(size);
	if (c >= t->nclass)
		return SHMAP_E_TOOBIG;
	if (shmap__atomic_load_u64(arw(t, AR_HEADS + c)) != 0)
		return pop(t, c, k, f);
	/* A free block up to twice the size before carving a new one. */
	for (uint32_t cc = c + 1u; cc < t->nclass && hv_csize(cc) <= 2u * hv_csize(c); cc++)
		if (shmap__atomic_load_u64(arw(t, AR_HEADS + cc)) != 0)
			return pop(t, cc, k, f);
	const uint64_t top = shmap__atomic_load_u64(arw(t, AR_TOP)), sz = hv_csize(c);
	if (top < 16u || top % 16u || top > t->area_max)
		return SHMAP_E_CORRUPT;
	/* Before allocating more of the file: any larger free block. */
	if (top + sz > shmap__atomic_load_u64(arw(t, AR_RES)))
		for (uint32_t cc = c + 1u; cc < t->nclass; cc++)
			if (shmap__atomic_load_u64(arw(t, AR_HEADS + cc)) != 0)
				return pop(t, cc, k, f);
	if (sz <= t->area_max - top) {
		int rc = grow(t, top + sz);
		if (rc != SHMAP_OK)
			return rc;
		const uint64_t r = mkref(top, c);
		j_begin(t, r, J_BUMP, k, f);
		shmap__atomic_store_release_u64(inw(t, k, IN_REF + f), r);
		shmap__atomic_store_release_u64(arw(t, AR_TOP), top + sz);
		SHMAP_FAILPOINT("htable.alloc.bumped");
		j_end(t);
		return SHMAP_OK;
	}
	/* The area is carved out: take a free block of a larger class whole. */
	for (uint32_t cc = c + 1u; cc < t->nclass; cc++)
		if (shmap__atomic_load_u64(arw(t, AR_HEADS + cc)) != 0)
			return pop(t, cc, k, f);
	return SHMAP_E_FULL;
}

/* Give intent field (k, f)'s block back (allocator lock held). */
static void free_locked(struct shmap_htable *t, uint32_t k, uint32_t f)
{
	volatile uint64_t *field = inw(t, k, IN_REF + f);
	const uint64_t r = shmap__atomic_load_u64(field);
	uint64_t off;
	uint32_t c;
	if (r == 0)
		return;
	if (ref_ok(t, r, &off, &c)) {
		j_begin(t, r, J_FREE, k, f);
		push_block(t, r, off, c);
		SHMAP_FAILPOINT("htable.alloc.freed");
	}
	/* A ref outside the area (a hostile peer's) is dropped, never followed. */
	shmap__atomic_store_release_u64(field, 0);
	j_end(t);
}

/* The allocator lock is held for a few stores (or one fallocate); waits for
 * it are bounded by the handle's timeout, but at least 100 ms (a timeout of
 * 0, "try once", must not fail every write that meets another writer's
 * allocation). A free that times out (a live holder stopped that long)
 * leaves its block leaked until the checker's repair rebuilds the lists. */
static uint64_t ar_deadline(const struct shmap_htable *t)
{
	return shmap__deadline_ms(t->timeout_ms < 100u ? 100u : t->timeout_ms);
}

static void free_field(struct shmap_htable *t, uint32_t k, uint32_t f)
{
	if (shmap__atomic_load_u64(inw(t, k, IN_REF + f)) == 0)
		return;
	if (ar_lock(t, ar_deadline(t)) < 0) {
		shmap__atomic_store_release_u64(inw(t, k, IN_REF + f), 0);
		return;
	}
	free_locked(t, k, f);
	ar_unlock(t);
}

/* ------------------------------------------------------------------ */
/* intents                                                             */

static __thread uint32_t intent_hint;

static void intent_release(struct shmap_htable *t, uint32_t k)
{
	shmap__atomic_store_u64(inw(t, k, IN_HOME), 0);
	shmap__atomic_store_u64(inw(t, k, IN_BUCKET), 0);
	/* Release: the cleared fields are seen by the next claimer (CAS below). */
	shmap__atomic_store_release_u64(inw(t, k, IN_OWNER), 0);
}

/*
 * Recover intent k, whose owner is dead and which we now own, holding the
 * lock its writer held (its home). See the design notes.
 */
static void intent_recover(struct shmap_htable *t, uint32_t k)
{
	const uint64_t j = shmap__atomic_load_acquire_u64(inw(t, k, IN_BUCKET)) & t->mask;
	const uint64_t rn = shmap__atomic_load_acquire_u64(inw(t, k, IN_REF)),
		       ro = shmap__atomic_load_acquire_u64(inw(t, k, IN_REF + 1u));
	if (rn == 0 && ro == 0) {
		intent_release(t, k);
		return;
	}
	const uint64_t v = shmap__atomic_load_acquire_u64(b_ver(t, j)); /* pairs with W2 */
	const uint64_t cur = shmap__atomic_load_acquire_u64(b_ref(t, j));
	uint64_t keep = 0;
	if (v_state(v) == HT_FULL && cur != 0 && (cur == rn || cur == ro)) {
		/* The dead writer's key: a new version before anything is freed.
		 * W2: release, pairs with R1. */
		shmap__atomic_store_release_u64(b_ver(t, j), vi_next(v, HT_FULL, v_tag(v)));
		keep = cur;
	}
	for (uint32_t f = 0; f < 2; f++) {
		uint64_t r = shmap__atomic_load_u64(inw(t, k, IN_REF + f));
		if (r != 0 && r == keep)
			shmap__atomic_store_release_u64(inw(t, k, IN_REF + f), 0);
		else
			free_field(t, k, f);
	}
	intent_release(t, k);
}

void shmap__hv_recover_lock(struct shmap_htable *t, uint64_t lock)
{
	if (!t->indirect)
		return;
	lock &= t->mask;
	for (uint32_t k = 0; k < HT_NINTENT; k++) {
		uint64_t o = shmap__atomic_load_acquire_u64(inw(t, k, IN_OWNER));
		if (o == 0 || (shmap__atomic_load_u64(inw(t, k, IN_HOME)) & t->mask) != lock ||
		    shmap__seg_owner_alive(&t->seg, (uint32_t)o))
			continue;
		/* Full CAS: one recoverer per dead intent. */
		if (shmap__atomic_cas_full_u64(inw(t, k, IN_OWNER), o, t->seg.owner) == o)
			intent_recover(t, k);
	}
}

/*
 * Recover every dead writer's intent whose home lock we can take with a
 * try (we hold `home`): called when the allocator or the intent slots run
 * out. Returns how many were recovered.
 */
static uint32_t reclaim_dead(struct shmap_htable *t, uint64_t home)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < HT_NINTENT; k++) {
		uint64_t o = shmap__atomic_load_acquire_u64(inw(t, k, IN_OWNER));
		if (o == 0 || o == t->seg.owner || shmap__seg_owner_alive(&t->seg, (uint32_t)o))
			continue;
		const uint64_t l = shmap__atomic_load_u64(inw(t, k, IN_HOME)) & t->mask;
		int rc = lock_sec(t, l, home, 1);
		if (rc < 0)
			continue;
		if (rc == SHMAP_RECOVERED)
			shmap__hv_recover_lock(t, l);
		else if (shmap__atomic_cas_full_u64(inw(t, k, IN_OWNER), o, t->seg.owner) == o)
			intent_recover(t, k);
		unlock_sec(t, l, home);
		n++;
	}
	return n;
}

/* Claim an intent slot for a write of bucket i under home lock `home`. */
static int intent_claim(struct shmap_htable *t, uint64_t home, uint64_t i, uint32_t *kout)
{
	const uint64_t deadline = shmap__deadline_ms(t->timeout_ms);
	const uint64_t me = t->seg.owner;
	struct shmap__backoff bo;
	shmap__backoff_init(&bo);
	for (;;) {
		for (uint32_t n = 0; n < HT_NINTENT; n++) {
			const uint32_t k = (intent_hint + n) % HT_NINTENT;
			/* Full CAS: the slot is ours; its fields were cleared by
			 * the previous owner's release store. */
			if (shmap__atomic_load_u64(inw(t, k, IN_OWNER)) == 0 &&
			    shmap__atomic_cas_full_u64(inw(t, k, IN_OWNER), 0, me) == 0) {
				intent_hint = k;
				shmap__atomic_store_release_u64(inw(t, k, IN_REF), 0);
				shmap__atomic_store_release_u64(inw(t, k, IN_REF + 1u), 0);
				shmap__atomic_store_release_u64(inw(t, k, IN_HOME), home);
				shmap__atomic_store_release_u64(inw(t, k, IN_BUCKET), i);
				*kout = k;
				return SHMAP_OK;
			}
		}
		if (reclaim_dead(t, home) == 0 && shmap__backoff_wait(&bo, deadline) != SHMAP_OK)
			return SHMAP_E_TIMEOUT;
	}
}

/* Allocate `size` bytes into intent field (k, 0). */
static int alloc_new(struct shmap_htable *t, uint64_t home, uint64_t size, uint32_t k)
{
	for (int attempt = 0;; attempt++) {
		int rc = ar_lock(t, ar_deadline(t));
		if (rc < 0)
			return rc;
		rc = alloc_locked(t, size, k, 0);
		ar_unlock(t);
		if ((rc != SHMAP_E_FULL && rc != SHMAP_E_NOSPC) || attempt > 0)
			return rc;
		/* Out of space: dead writers' blocks first, then once more. */
		if (reclaim_dead(t, home) == 0)
			return rc;
	}
}

/* ------------------------------------------------------------------ */
/* writes (caller holds the key's home lock, and lock[i] if i is free)  */

int shmap__hv_put(struct shmap_htable *t, uint64_t home, uint64_t i, uint64_t v, const void *key, uint32_t klen,
		  const void *val, uint32_t vlen, int fresh)
{
	uint32_t k;
	int rc = intent_claim(t, home, i, &k);
	if (rc < 0)
		return rc;
	/* An update keeps the key (the caller's, which matched) and its tag. */
	const uint32_t tag = fresh ? HT_TAG(ht_hash(t, key, klen)) : v_tag(v);
	if (!fresh) {
		/* Acquire, pairs with the release store of ref that linked it. */
		shmap__atomic_store_release_u64(inw(t, k, IN_REF + 1u), shmap__atomic_load_acquire_u64(b_ref(t, i)));
	}
	rc = alloc_new(t, home, hv_recsize(klen, vlen), k);
	if (rc < 0) {
		shmap__atomic_store_release_u64(inw(t, k, IN_REF + 1u), 0);
		intent_release(t, k);
		return rc;
	}
	const uint64_t r = shmap__atomic_load_u64(inw(t, k, IN_REF));
	volatile uint64_t *rec = blk(t, HT_REF_OFF(r) * 16u); /* checked by alloc */
	/* W1: release fence, pairs with R2: a stale reader of this block's
	 * previous use that sees any word below sees its bucket changed. */
	shmap__atomic_fence_release();
	shmap__atomic_store_u64(rec, klen | (uint64_t)vlen << 16);
	st_copy(rec + 1, key, klen);
	st_copy(rec + 1 + (klen + 7u) / 8u, val, vlen);
	SHMAP_FAILPOINT("htable.w.written");
	/* Release, pairs with the readers' acquire load of ref: the record is
	 * complete before it is linked. */
	shmap__atomic_store_release_u64(b_ref(t, i), r);
	SHMAP_FAILPOINT("htable.w.linked");
	/* W2: release, pairs with R1. */
	shmap__atomic_store_release_u64(b_ver(t, i), vi_next(v, HT_FULL, tag));
	SHMAP_FAILPOINT("htable.w.published");
	shmap__atomic_store_release_u64(inw(t, k, IN_REF), 0);
	free_field(t, k, 1);
	intent_release(t, k);
	return SHMAP_OK;
}

int shmap__hv_erase(struct shmap_htable *t, uint64_t home, uint64_t i, uint64_t v)
{
	uint32_t k;
	int rc = intent_claim(t, home, i, &k);
	if (rc < 0)
		return rc;
	/* Acquire, pairs with the release store of ref that linked it. */
	shmap__atomic_store_release_u64(inw(t, k, IN_REF + 1u), shmap__atomic_load_acquire_u64(b_ref(t, i)));
	/* W2: release; readers that see TOMB skip the bucket. */
	shmap__atomic_store_release_u64(b_ver(t, i), vi_next(v, HT_TOMB, 0));
	SHMAP_FAILPOINT("htable.erase.tomb");
	free_field(t, k, 1);
	intent_release(t, k);
	return SHMAP_OK;
}

/* ------------------------------------------------------------------ */
/* init, check, repair                                                 */

void shmap__hv_init(uint8_t *arena)
{
	/* Zero-filled: lock free, no journal, every list empty; offset 0 of
	 * the area is never a block (ref 0 means none). */
	((uint64_t *)(void *)arena)[AR_TOP] = 16u;
}

struct live_rec {
	uint64_t off, size, bucket;
};

static int cmp_rec(const void *a, const void *b)
{
	const struct live_rec *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Dead intents (recovered with repair) and a journal left by a dead
 * allocator; with repair the area lock is taken once to recover it. */
static int hv_check_intents(struct shmap_htable *t, int repair, uint64_t *nprob)
{
	if (repair) {
		int rc = ar_lock(t, ar_deadline(t));
		if (rc < 0)
			return rc;
		if (rc == SHMAP_RECOVERED)
			(*nprob)++;
		ar_unlock(t);
	}
	for (uint32_t k = 0; k < HT_NINTENT; k++) {
		uint64_t o = shmap__atomic_load_acquire_u64(inw(t, k, IN_OWNER));
		if (o == 0 || shmap__seg_owner_alive(&t->seg, (uint32_t)o))
			continue;
		(*nprob)++;
		if (repair && shmap__atomic_cas_full_u64(inw(t, k, IN_OWNER), o, t->seg.owner) == o)
			intent_recover(t, k);
	}
	if (!repair && shmap__atomic_load_u64(arw(t, AR_JINFO)) != 0 &&
	    !shmap__seg_owner_alive(&t->seg, shmap__atomic_load_u32((volatile uint32_t *)(void *)arw(t, AR_LOCK))))
		(*nprob)++;
	return SHMAP_OK;
}

/* The blocks of the FULL buckets whose records look sound, sorted by
 * offset (*count of them); NULL if out of memory. */
static struct live_rec *hv_live_records(struct shmap_htable *t, uint64_t top, uint64_t *count)
{
	/* One entry per FULL bucket (counted first: proportional to the live
	 * set, not to the capacity; a bucket filled meanwhile is skipped). */
	uint64_t nfull = 0;
	for (uint64_t i = 0; i < t->nb; i++)
		nfull += v_state(shmap__atomic_load_u64(b_ver(t, i))) == HT_FULL;
	struct live_rec *lv = malloc((size_t)(nfull + 1u) * sizeof(*lv));
	if (!lv)
		return NULL;
	uint64_t n = 0;
	for (uint64_t i = 0; i < t->nb; i++) {
		uint64_t v = shmap__atomic_load_acquire_u64(b_ver(t, i));
		if (v_state(v) != HT_FULL || n == nfull)
			continue;
		uint64_t r = shmap__atomic_load_acquire_u64(b_ref(t, i)), off = 0, roff = 0;
		uint32_t c = 0, kl = 0, vl = 0;
		if (!ref_ok(t, r, &off, &c) || !rec_ok(t, r, &roff, &kl, &vl) || hv_recsize(kl, vl) > hv_csize(c) ||
		    off + hv_csize(c) > top)
			continue; /* the bucket scan of check() reports and repairs it */
		lv[n++] = (struct live_rec){ off, hv_csize(c), i };
	}
	qsort(lv, (size_t)n, sizeof(*lv), cmp_rec);
	*count = n;
	return lv;
}

/* Records sharing a block: the later one is dropped (a tombstone with
 * repair). Leaves the disjoint ones first in lv; returns their count. */
static uint64_t hv_drop_shared(struct shmap_htable *t, struct live_rec *lv, uint64_t n, int repair,
			       uint64_t *nprob, uint64_t *live_bytes)
{
	uint64_t end = 16u, m = 0;
	for (uint64_t j = 0; j < n; j++) {
		if (lv[j].off < end) {
			/* Two buckets share a block: the later one is dropped. */
			(*nprob)++;
			if (repair) {
				uint64_t v = shmap__atomic_load_u64(b_ver(t, lv[j].bucket));
				/* W2: release, pairs with R1 of readers. */
				shmap__atomic_store_release_u64(b_ver(t, lv[j].bucket), vi_next(v, HT_TOMB, 0));
			}
			continue;
		}
		lv[m++] = lv[j];
		end = lv[j].off + lv[j].size;
		*live_bytes += lv[j].size;
	}
	return m;
}

/* Free bytes on the lists (bounded walk: a block is at least 16 bytes);
 * false if a list is broken. */
static bool hv_free_bytes(struct shmap_htable *t, uint64_t top, uint64_t *free_bytes)
{
	uint64_t steps = 0;
	for (uint32_t c = 0; c < t->nclass; c++) {
		uint64_t r = shmap__atomic_load_u64(arw(t, AR_HEADS + c)), off;
		uint32_t rc2;
		while (r != 0) {
			if (!ref_ok(t, r, &off, &rc2) || rc2 != c || off + hv_csize(c) > top || ++steps > top / 16u)
				return false;
			*free_bytes += hv_csize(c);
			r = shmap__atomic_load_u64(blk(t, off));
		}
	}
	return true;
}

/* Rebuild: every gap between the m live records, carved into blocks of
 * the largest class that fits. */
static void hv_rebuild_lists(struct shmap_htable *t, const struct live_rec *lv, uint64_t m, uint64_t top)
{
	for (uint32_t c = 0; c < HT_NCLASS; c++)
		shmap__atomic_store_release_u64(arw(t, AR_HEADS + c), 0);
	uint64_t pos = 16u;
	for (uint64_t j = 0; j <= m; j++) {
		const uint64_t gap_end = j < m ? lv[j].off : top;
		while (pos < gap_end) {
			uint64_t g = gap_end - pos;
			uint32_t c = hv_class(g);
			if (c >= t->nclass)
				c = t->nclass - 1u;
			while (hv_csize(c) > g)
				c--;
			push_block(t, mkref(pos, c), pos, c);
			pos += hv_csize(c);
		}
		if (j < m)
			pos = lv[j].off + lv[j].size;
	}
}

/*
 * The allocator's half of shmap_htable_check() (caller holds every bucket
 * lock if repair): dead intents, the journal, and the blocks: every carved
 * byte must be in a live record or on a free list. With repair: recover
 * dead intents, drop records overlapping others, rebuild every free list
 * from the gaps between live records.
 */
int shmap__hv_check(struct shmap_htable *t, int repair, uint64_t *problems)
{
	uint64_t nprob = 0;
	int rc = hv_check_intents(t, repair, &nprob);
	if (rc < 0)
		return rc;
	if (repair) {
		rc = ar_lock(t, ar_deadline(t));
		if (rc < 0)
			return rc;
	}
	const uint64_t top = shmap__atomic_load_u64(arw(t, AR_TOP));
	if (top < 16u || top % 16u || top > t->area_max) {
		*problems += nprob + 1u;
		if (repair)
			ar_unlock(t);
		return SHMAP_E_CORRUPT; /* nothing to rebuild from */
	}
	uint64_t n = 0, live_bytes = 0, free_bytes = 0;
	struct live_rec *lv = hv_live_records(t, top, &n);
	if (!lv) {
		if (repair)
			ar_unlock(t);
		return SHMAP_E_NOMEM;
	}
	const uint64_t m = hv_drop_shared(t, lv, n, repair, &nprob, &live_bytes);
	bool lists_ok = hv_free_bytes(t, top, &free_bytes);
	if (!lists_ok || free_bytes + live_bytes != top - 16u) {
		nprob++;
		if (repair)
			hv_rebuild_lists(t, lv, m, top);
	}
	free(lv);
	if (repair)
		ar_unlock(t);
	*problems += nprob;
	return SHMAP_OK;
}

#ifdef SHMAP_FAILPOINTS
/*
 * Test hook (the private test build only): bytes of
 * the area carved but neither in a live record nor on a free list (0 for an
 * inline table), and the intent slots whose owner is dead. Quiescent tables.
 */
uint64_t shmap__htable_test_leaked(shmap_htable *t, uint64_t *dead_intents);
uint64_t shmap__htable_test_leaked(shmap_htable *t, uint64_t *dead_intents)
{
	*dead_intents = 0;
	if (!t->indirect)
		return 0;
	for (uint32_t k = 0; k < HT_NINTENT; k++) {
		uint64_t o = shmap__atomic_load_u64(inw(t, k, IN_OWNER));
		if (o != 0 && !shmap__seg_owner_alive(&t->seg, (uint32_t)o))
			++*dead_intents;
	}
	const uint64_t top = shmap__atomic_load_u64(arw(t, AR_TOP));
	uint64_t used = 0, off;
	uint32_t c;
	for (uint64_t i = 0; i < t->nb; i++)
		if (v_state(shmap__atomic_load_u64(b_ver(t, i))) == HT_FULL &&
		    ref_ok(t, shmap__atomic_load_u64(b_ref(t, i)), &off, &c))
			used += hv_csize(c);
	for (c = 0; c < t->nclass; c++) {
		uint64_t r = shmap__atomic_load_u64(arw(t, AR_HEADS + c)), n = 0;
		uint32_t rc;
		while (r != 0 && ref_ok(t, r, &off, &rc) && n++ < top / 16u) {
			used += hv_csize(rc);
			r = shmap__atomic_load_u64(blk(t, off));
		}
	}
	return top - 16u > used ? top - 16u - used : 0;
}
#endif
