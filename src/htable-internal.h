/* SPDX-License-Identifier: MIT */
/*
 * htable-internal.h - private layout and helpers shared by htable.c and
 * htable-scan.c. See the design notes at the top of htable.c.
 */
#ifndef SHMAP_HTABLE_INTERNAL_H
#define SHMAP_HTABLE_INTERNAL_H

#include <string.h>

#include <shmap/htable.h>

#include "atomic.h"
#include "internal.h"
#include "hash-internal.h"
#include "segment-internal.h"

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
/* key_max == value_max == 8: kbits = vbits = 4, stride 32 */
#define HT_E88_MASK (HT_STATE_MASK | (UINT64_C(15) << 3) | (UINT64_C(15) << 7))
#define HT_E88_WANT (HT_FULL | (UINT64_C(8) << 3) | (UINT64_C(8) << 7))
#define HT_FORMAT UINT64_C(0x3262617448706d53) /* "SmpHTab2" */

/* The indirect layout (htable-var.c): see the design notes there. */
#define HT_NCLASS 192u         /* size classes (records up to ~16.1 MiB) */
#define HT_NINTENT 128u        /* intent slots: writers of records at once */
#define HT_ISHIFT 19u          /* seq shift of an indirect version word */
#define HT_INLINE_MAX 64u      /* inline layout while a bucket fits one line */
#define HT_REF_OFF(r) ((r) & ((UINT64_C(1) << 48) - 1u))
#define HT_REF_CLASS(r) ((uint32_t)((r) >> 48) & 0xffu)
#define HT_TAG(h) ((uint32_t)((h) >> 48))

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
	uint32_t kmask;      /* (1 << kbits) - 1 */
	uint32_t vmask;      /* (1 << vbits) - 1 */
	uint32_t kwords;     /* key area in words (incl. length word if wide) */
	uint32_t vwords;     /* one slot in words (incl. length word if wide) */
	uint32_t timeout_ms;
	/* get() fast path for 8-byte keys of packed tables (see htable.c) */
	uint32_t fast8;      /* the fast path may be used */
	uint32_t f_e88;      /* fast8 and key_max == value_max == 8 */
	uint32_t f_off0;     /* byte offset of value slot 0 in a bucket */
	uint32_t f_off1;     /* byte offset of value slot 1 */
	uint64_t f_flip;     /* XXH3 len-8 "bitflip" for this segment's seed */
	uint64_t f_want_mask; /* state, klen and vlen fields of the version */
	uint64_t f_want;     /* ... equal to FULL, klen 8, vlen 8 */
	uint8_t *f_end;      /* end of the private bucket range */
	uint64_t *counts;    /* HT_STRIPES stripes, 8 words apart */
	uint32_t *locks;
	uint8_t *buckets;
	/* indirect layout (htable-var.c); indirect == 0: inline */
	uint32_t indirect;
	uint32_t nclass;     /* classes a record of this table can need */
	uint64_t area_max;   /* bytes of the record area (private bound) */
	uint64_t area_foff;  /* file offset of the record area */
	uint8_t *area;       /* record area */
	uint64_t *arena;     /* allocator control block (see htable-var.c) */
	uint64_t *intents;   /* HT_NINTENT slots of 8 words */
};

struct shmap_htable_cursor {
	const struct shmap_htable *t;
	uint64_t pos;
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

/* Indirect layout: the record reference word of bucket i. */
static inline volatile uint64_t *b_ref(const struct shmap_htable *t, uint64_t i)
{
	return b_ver(t, i) + 1;
}

static inline uint32_t v_tag(uint64_t v)
{
	return (uint32_t)(v >> 3) & 0xffffu;
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
		return (uint32_t)((v >> 3) & t->kmask);
	return (uint32_t)shmap__atomic_load_u64(b_klen_word(t, i));
}

static inline uint32_t v_vlen(const struct shmap_htable *t, uint64_t v, uint64_t i)
{
	if (t->packed)
		return (uint32_t)((v >> (3 + t->kbits)) & t->vmask);
	return (uint32_t)shmap__atomic_load_u64(b_slot(t, i, v_active(v)));
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
static inline void ld_copy(void *dst, const volatile uint64_t *src, uint32_t len)
{
	uint8_t *d = dst;
	uint32_t n = len / 8u, i;
	for (i = 0; i < n; i++) {
		uint64_t w = shmap__atomic_load_u64(&src[i]);
		memcpy(d + 8u * i, &w, 8);
	}
	if (len % 8u) {
		uint64_t w = shmap__atomic_load_u64(&src[n]);
		memcpy(d + 8u * n, &w, len % 8u);
	}
}

/* Compare len bytes of shared words with a private buffer. */
static inline int ld_equal(const volatile uint64_t *src, const void *p, uint32_t len)
{
	const uint8_t *s = p;
	uint32_t n = len / 8u, i;
	for (i = 0; i < n; i++) {
		uint64_t w = shmap__atomic_load_u64(&src[i]), x;
		memcpy(&x, s + 8u * i, 8);
		if (w != x)
			return 0;
	}
	if (len % 8u) {
		uint64_t w = shmap__atomic_load_u64(&src[n]);
		return memcmp(&w, s + 8u * n, len % 8u) == 0;
	}
	return 1;
}

/* Write len bytes into shared words (tail zero-padded) with relaxed stores. */
static inline void st_copy(volatile uint64_t *dst, const void *src, uint32_t len)
{
	const uint8_t *s = src;
	uint32_t n = len / 8u, i;
	for (i = 0; i < n; i++) {
		uint64_t w;
		memcpy(&w, s + 8u * i, 8);
		shmap__atomic_store_u64(&dst[i], w);
		if (i == n / 2u)
			SHMAP_FAILPOINT("htable.w.partial");
	}
	if (len % 8u) {
		uint64_t w = 0;
		memcpy(&w, s + 8u * n, len % 8u);
		shmap__atomic_store_u64(&dst[n], w);
	}
}

static inline uint64_t ht_hash(const struct shmap_htable *t, const void *key, uint32_t klen)
{
	return shmap__hash64(key, klen, t->seg.p.hash_seed);
}

static inline void count_add(struct shmap_htable *t, uint64_t home, int64_t d)
{
	shmap__atomic_fetch_add_u64(&t->counts[(home % HT_STRIPES) * 8u], (uint64_t)d);
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
static inline int lock_wait(struct shmap_htable *t, uint64_t i, uint64_t deadline)
{
	volatile uint32_t *w = lk(t, i);
	const uint32_t me = t->seg.owner;
	struct shmap__backoff bo;
	shmap__backoff_init(&bo);
	for (;;) {
		uint32_t cur = shmap__atomic_load_u32(w);
		if (cur == 0) {
			/* L1: full CAS (acquire side pairs with U1 in unlock()). */
			if (shmap__atomic_cas_full_u32(w, 0, me) == 0)
				return SHMAP_OK;
		} else if (bo.round >= 10 && !shmap__seg_owner_alive(&t->seg, cur)) {
			/* Dead holder: take over. Its bucket changes were each one
			 * atomic store, so there is nothing to repair.
			 * Ordering (D1): the dead holder never ran its release U1,
			 * so C11 gives no edge from its last writes to us. The edge
			 * is the kernel's: owner_alive() says dead only after
			 * the probe found the holder's participant lock gone, and
			 * the kernel drops that lock only when the holder's last
			 * file description closes during its exit, after its last
			 * user-space store; the release inside the kernel and our
			 * lock probe (a system call) synchronise through the
			 * kernel's own lock on the file's lock list. So every store
			 * the holder made is visible to the loads we make after the
			 * probe -- as for robust futexes, outside the C11 model,
			 * which knows no processes. */
			/* Full CAS: only one waiter takes the dead holder's lock. */
			if (shmap__atomic_cas_full_u32(w, cur, me) == cur)
				return SHMAP_RECOVERED;
		}
		if (shmap__backoff_wait(&bo, deadline) != SHMAP_OK)
			return SHMAP_E_TIMEOUT;
	}
}

/* One attempt; with probe, a dead holder's lock is taken over. OK/RECOVERED/BUSY. */
static inline int lock_try(struct shmap_htable *t, uint64_t i, int probe)
{
	volatile uint32_t *w = lk(t, i);
	const uint32_t me = t->seg.owner;
	uint32_t cur = shmap__atomic_load_u32(w);
	if (cur == 0) /* L1 as in lock_wait(), pairs with U1 */
		return shmap__atomic_cas_full_u32(w, 0, me) == 0 ? SHMAP_OK : SHMAP_E_BUSY;
	/* Dead-holder takeover: ordered by the kernel, see D1 in lock_wait(). */
	if (probe && !shmap__seg_owner_alive(&t->seg, cur) && shmap__atomic_cas_full_u32(w, cur, me) == cur)
		return SHMAP_RECOVERED;
	return SHMAP_E_BUSY;
}

static inline void unlock(struct shmap_htable *t, uint64_t i)
{
	/* U1: release, pairs with the CAS in lock_wait()/lock_try(). */
	shmap__atomic_store_release_u32(lk(t, i), 0);
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

/*
 * Read bucket i's entry consistently (seqlock). Returns HT_EMPTY/HT_TOMB
 * (nothing copied), HT_FULL with *klen and *vlen set (key/value copied only
 * if they fit kcap/vcap), or SHMAP_E_BUSY (retry budget spent) /
 * SHMAP_E_CORRUPT. *budget counts retries across calls.
 */
int shmap__ht_read_bucket(const struct shmap_htable *t, uint64_t i, void *kbuf, uint32_t kcap, uint32_t *klen,
			  void *vbuf, uint32_t vcap, uint32_t *vlen, uint32_t *budget);

/* Size classes of the indirect layout: 16-byte steps up to 1 KiB, then
 * eight classes per doubling (at most 12.5% rounding). */
static inline uint32_t hv_class(uint64_t size)
{
	if (size <= 1024u)
		return size == 0 ? 0u : (uint32_t)((size + 15u) / 16u - 1u);
	uint32_t e = 63u - (uint32_t)__builtin_clzll(size - 1u); /* >= 10 */
	uint32_t idx = (uint32_t)((size - 1u) >> (e - 3u));        /* 8..15 */
	return 64u + (e - 10u) * 8u + (idx - 8u);
}

static inline uint64_t hv_csize(uint32_t c)
{
	if (c < 64u)
		return 16u * ((uint64_t)c + 1u);
	uint32_t e = 10u + (c - 64u) / 8u, idx = 8u + (c - 64u) % 8u;
	return ((uint64_t)idx + 1u) << (e - 3u);
}

/* Bytes of a record: header word, key in whole words, value. */
static inline uint64_t hv_recsize(uint32_t klen, uint32_t vlen)
{
	return 8u + 8u * (((uint64_t)klen + 7u) / 8u) + vlen;
}

/* htable-var.c: the indirect layout's reads, writes and allocator. */
int shmap__hv_read(const struct shmap_htable *t, uint64_t i, void *kbuf, uint32_t kcap, uint32_t *klen,
		   void *vbuf, uint32_t vcap, uint32_t *vlen, uint32_t *budget);
int shmap__hv_get(const struct shmap_htable *t, const void *key, uint32_t klen, void *val, uint32_t val_cap,
		  uint32_t *val_len);
int shmap__hv_scan(struct shmap_htable *t, uint64_t home, const void *key, uint32_t klen, uint64_t *found,
		   uint64_t *fver, uint64_t *free_i);
uint32_t shmap__hv_value(const struct shmap_htable *t, uint64_t i, const volatile uint64_t **vp);
int shmap__hv_put(struct shmap_htable *t, uint64_t home, uint64_t i, uint64_t v, const void *key, uint32_t klen,
		  const void *val, uint32_t vlen, int fresh);
int shmap__hv_erase(struct shmap_htable *t, uint64_t home, uint64_t i, uint64_t v);
void shmap__hv_recover_lock(struct shmap_htable *t, uint64_t lock);
int shmap__hv_check(struct shmap_htable *t, int repair, uint64_t *problems);
void shmap__hv_init(uint8_t *arena);

#ifdef SHMAP_FAILPOINTS
/* Test hook (htable-scan.c, private test build): sequence numbers just
 * below their wrap. */
void shmap__htable_test_seq_near_wrap(shmap_htable *t, uint64_t below);
/* Test hook (htable-scan.c, private test build): a key's home bucket. */
uint64_t shmap__htable_test_home(shmap_htable *t, const void *key, uint32_t klen);
/* Test hook (htable-scan.c, private test build): the data region and size. */
void *shmap__htable_test_data(shmap_htable *t, uint64_t *len);
#endif

#endif /* SHMAP_HTABLE_INTERNAL_H */
