/* SPDX-License-Identifier: MIT */
/*
 * vector.c - append-only vector in shared memory.
 *
 * Design notes
 * ============
 *
 * Data region layout (all offsets from seg->data, page aligned):
 *
 *   0      struct vec_ctrl (256 bytes): reserve counter, watermark, counters,
 *          each hot word on its own cache line
 *   256    slots: capacity x stride, stride = 16 + esz8 (esz8 = elem_size
 *          rounded up to 8): { uint64_t meta; uint64_t ver; uint8_t buf0[esz8]; }
 *   ...    alt buffers: capacity x esz8 (buf1 of every slot)
 *
 * Slot meta word (64 bits):
 *
 *   bits 63..32  owner id (RESERVED, REPLACING; the dead writer for HOLE)
 *   bits 31..3   aux: HEAD -> n (slots in the reservation);
 *                     PUB/REPL -> low 29 bits of the version (informational)
 *   bits  2..0   state
 *
 * Slot version word `ver` (64 bits): the number of finished replacements.
 * It is what readers validate and what selects the current copy, so a
 * reader can only be fooled by the same 64-bit value coming back, which
 * takes 2^64 replacements (a 29-bit field in meta came back after 2^29).
 *
 * States and transitions (every transition is one atomic store or CAS):
 *
 *   FREE(0) --CAS by appender--> HEAD(owner, n)      first slot of a reservation
 *   FREE    --store by owner---> RESV(owner)         the other n-1 slots
 *   HEAD/RESV --store by owner--> PUB(version 0)     publish
 *   PUB(v)  --CAS by replacer--> REPL(owner, v)      replace claims the slot
 *   REPL(o, v) --store by o----> PUB(v + 1)          switch to the new copy
 *   REPL(dead, v) --CAS-------> REPL(me, v)          replacer takeover
 *   HEAD/RESV(dead), FREE middle of a dead HEAD --CAS--> HOLE(dead)
 *
 * The current copy of a PUB/REPL slot is buf[ver & 1] (buf0 for even
 * versions, the alt buffer for odd ones). A replacer writes the OTHER copy,
 * so neither readers nor a replacer killed mid-write can tear the current
 * one; a reader validates that ver did not change while it copied (a
 * change means a later replacer may have overwritten the copy it read).
 * Only the holder of the REPL claim stores ver (ver + 1, with release,
 * after its copy, before the PUB store), so ver only grows.
 *
 * Reservation (lock-free, owner recorded at the claim):
 *   A1  r = reserve (acquire); FULL if n > capacity - r
 *   A2  CAS meta[r]: FREE -> HEAD(me, n)   -- the claim; names its owner
 *   A3  CAS reserve: r -> r + n            -- anyone may do this (helping):
 *       an appender that finds meta[r] = HEAD(o, n) while reserve == r bumps
 *       reserve for o, so a dead claimer never blocks other appenders
 *   A4  store meta[r+1 .. r+n-1] = RESV(me), in increasing index order
 * The values reserve takes are exactly the heads, so meta[r] is FREE iff
 * nobody claimed r; a successful A2 therefore happens while reserve == r.
 * Between A3 and A4 the tail of a reservation is FREE below `reserve`: its
 * owner is found by scanning back over FREE / RESV / HOLE slots to the HEAD
 * (bounded by SHMAP_VECTOR_RESERVE_MAX), which stays HEAD until all of its
 * slots are marked (the owner publishes only after A4).
 *
 * Watermark (`committed`): every slot below it is PUB, REPL or HOLE. It is
 * advanced by CAS w -> w + 1 over such slots, by publishers after publishing
 * and by recoverers after making holes. A publisher stores PUB, runs a full
 * fence, then reads the watermark; an advancer CASes the watermark (full),
 * then reads the slot: one of the two sees the other (Dekker), so the
 * watermark never stalls below a published slot while both are alive.
 *
 * Recovery (dead owner found by shmap__seg_owner_alive):
 *   HEAD(o, n) at h:  R1 help the reserve bump (CAS reserve h -> h + n);
 *                     R2 every FREE or RESV(o) slot in (h, h + n) -> HOLE;
 *                     R3 the head -> HOLE.
 *                     R3 comes last so the range stays known while any of
 *                     it is unrecovered; a recoverer killed midway leaves a
 *                     state the next one completes (all steps idempotent).
 *   RESV(o) at i:     CAS -> HOLE (its head is recovered on its own).
 *   REPL(o, v):       a replacer takes it over; the checker resets it to
 *                     PUB(v) (the current copy was never touched).
 * A slot reserved by a live owner is never recovered: liveness comes from
 * the owner's kernel-held lock, and owner ids carry a generation, so a dead
 * owner never becomes alive again.
 *
 * Hostile peer: capacity, element size and all offsets are private copies.
 * Every index read from shared memory (reserve, committed, HEAD's n) is
 * checked against the private capacity; every loop is bounded by the
 * capacity, SHMAP_VECTOR_RESERVE_MAX or a retry budget.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <shmap/vector.h>

#include "atomic.h"
#include "internal.h"
#include "segment-internal.h"

/* ------------------------------------------------------------------ */
/* layout                                                              */

struct vec_ctrl {
	uint64_t reserve;       /* next unreserved index (0..capacity) */
	uint64_t pad0[7];
	uint64_t committed;     /* watermark: [0, committed) all PUB/REPL/HOLE */
	uint64_t pad1[7];
	uint64_t holes;         /* slots turned into holes */
	uint64_t takeovers;     /* replacements taken over from dead replacers */
	uint64_t pad2[6];
	uint64_t pad3[8];
};
_Static_assert(sizeof(struct vec_ctrl) == 256, "vector control block");

#define VEC_CTRL_SIZE 256u
#define VEC_MAX_DATA SHMAP__MAX_TOTAL /* the segment's bound on any data region */

#define ST_FREE 0u
#define ST_HEAD 1u
#define ST_RESV 2u
#define ST_PUB 3u
#define ST_REPL 4u
#define ST_HOLE 5u

#define AUX_MASK ((1u << 29) - 1u)

static inline uint64_t mk(uint32_t st, uint32_t owner, uint32_t aux)
{
	return (uint64_t)owner << 32 | (uint64_t)(aux & AUX_MASK) << 3 | st;
}
static inline uint32_t m_st(uint64_t m)
{
	return (uint32_t)(m & 7u);
}
static inline uint32_t m_aux(uint64_t m)
{
	return (uint32_t)(m >> 3) & AUX_MASK;
}
static inline uint32_t m_owner(uint64_t m)
{
	return (uint32_t)(m >> 32);
}
/* The PUB word with m's version (a finished or abandoned replacement's old value). */
static inline uint64_t pub_of(uint64_t m)
{
	return mk(ST_PUB, 0, m_aux(m));
}
static inline int m_readable(uint32_t st)
{
	return st == ST_PUB || st == ST_REPL;
}

/* Retry budgets (every loop is bounded). */
#define VEC_CAS_BUDGET (1u << 20)   /* reserve / advance CAS retries */
#define VEC_READ_BUDGET 4096u       /* seqlock copies before BUSY */
#define VEC_PROBE_EVERY 8u          /* replace: probe owner every N backoff rounds */
#define VEC_HEAD_SCAN 4096u         /* pending(): how far back a RESV slot looks for its head */
#define VEC_ADVANCE_RUN 4096u       /* advance(): slots moved over per CAS, at most */

struct shmap_vector {
	struct shmap__seg seg;
	uint64_t cap;
	uint64_t stride;
	uint32_t esz;
	uint32_t esz8;
	uint32_t timeout_ms;
	struct vec_ctrl *ctrl;
	uint8_t *slots;
	uint8_t *alt;
};

/*
 * Long scans (a dead claimer's huge reservation, or a peer's scribbles that
 * look like one) check the clock every VEC_SCAN_CHUNK slots and give up at
 * the handle's timeout with SHMAP_E_TIMEOUT; recovery is idempotent, so the
 * next call carries on where this one stopped.
 */
#define VEC_SCAN_CHUNK 65536u

struct scan_budget {
	uint64_t deadline;
};

static int scan_tick(const shmap_vector *v, struct scan_budget *b, uint64_t k);

static inline volatile uint64_t *meta_p(const shmap_vector *v, uint64_t i)
{
	return (volatile uint64_t *)(void *)(v->slots + i * v->stride);
}
static inline volatile uint64_t *ver_p(const shmap_vector *v, uint64_t i)
{
	return (volatile uint64_t *)(void *)(v->slots + i * v->stride + 8u);
}
static inline uint8_t *buf0_p(const shmap_vector *v, uint64_t i)
{
	return v->slots + i * v->stride + 16u;
}
static inline uint8_t *buf_p(const shmap_vector *v, uint64_t i, uint64_t ver)
{
	return (ver & 1u) ? v->alt + i * v->esz8 : buf0_p(v, i);
}

static int scan_tick(const shmap_vector *v, struct scan_budget *b, uint64_t k)
{
	if ((k & (VEC_SCAN_CHUNK - 1)) != VEC_SCAN_CHUNK - 1)
		return SHMAP_OK;
	uint64_t now = shmap__now_ns();
	if (b->deadline == 0)
		b->deadline = now + (uint64_t)v->timeout_ms * 1000000u;
	else if (now > b->deadline)
		return SHMAP_E_TIMEOUT;
	return SHMAP_OK;
}

static int vec_layout(struct shmap__params *p)
{
	if (p->elem_size == 0 || p->elem_size > SHMAP_VECTOR_ELEM_MAX)
		return SHMAP_E_INVAL;
	if (p->capacity == 0 || p->capacity > SHMAP_VECTOR_CAPACITY_MAX)
		return SHMAP_E_INVAL;
	if (p->key_max || p->value_max || p->max_consumers || p->kind_flags || p->hash_alg)
		return SHMAP_E_INVAL;
	uint64_t esz8 = SHMAP_ALIGN_UP((uint64_t)p->elem_size, (uint64_t)8);
	uint64_t per = 16u + 2u * esz8;
	if (p->capacity > (VEC_MAX_DATA - VEC_CTRL_SIZE) / per)
		return SHMAP_E_INVAL;
	p->data_size = VEC_CTRL_SIZE + p->capacity * per;
	return SHMAP_OK;
}

static const struct shmap__kind_ops vec_ops = {
	.kind = SHMAP__KIND_VECTOR,
	.layout = vec_layout,
	.init = NULL, /* the zero-filled region is an empty vector */
};
const struct shmap__kind_ops *const shmap__vector_kind_ops = &vec_ops; /* for inspection */

/* ------------------------------------------------------------------ */
/* payload copies                                                      */

/*
 * Copies that may race with a replacer writing the same buffer (the seqlock
 * payload) go through relaxed 64-bit atomics, so they are data-race free;
 * the reader discards the copy if the version moved.
 */
static inline const volatile uint64_t *word_at(const uint8_t *p)
{
	return (const volatile uint64_t *)(const void *)p;
}

static void copy_out_atomic(uint8_t *dst, const uint8_t *src, uint32_t esz)
{
	uint32_t i = 0;
	for (; i + 8u <= esz; i += 8u) {
		uint64_t w = shmap__atomic_load_u64(word_at(src + i));
		memcpy(dst + i, &w, 8);
	}
	if (i < esz) {
		uint64_t w = shmap__atomic_load_u64(word_at(src + i));
		memcpy(dst + i, &w, esz - i);
	}
}

static void copy_in_atomic(uint8_t *dst, const uint8_t *src, uint32_t from, uint32_t to)
{
	uint32_t i = from;
	for (; i + 8u <= to; i += 8u) {
		uint64_t w;
		memcpy(&w, src + i, 8);
		shmap__atomic_store_u64((volatile uint64_t *)(void *)(dst + i), w);
	}
	if (i < to) {
		uint64_t w = 0;
		memcpy(&w, src + i, to - i);
		shmap__atomic_store_u64((volatile uint64_t *)(void *)(dst + i), w);
	}
}

/* ------------------------------------------------------------------ */
/* open / close                                                        */

static inline int shmap_vector_open__body(const char *name, uint32_t oflags, uint32_t elem_size,
					  uint64_t capacity, const shmap_opts *opts, shmap_vector **ret)
{
	if (!ret)
		return SHMAP_E_INVAL;
	if (oflags != SHMAP_CREATE && oflags != SHMAP_OPEN && oflags != SHMAP_OPEN_OR_CREATE &&
	    oflags != (SHMAP_OPEN | SHMAP_OPEN_WAIT))
		return SHMAP_E_INVAL;
	if ((oflags & SHMAP_CREATE) && (elem_size == 0 || capacity == 0))
		return SHMAP_E_INVAL;
	if (elem_size > SHMAP_VECTOR_ELEM_MAX || capacity > SHMAP_VECTOR_CAPACITY_MAX)
		return SHMAP_E_INVAL;
	shmap_vector *v = calloc(1, sizeof(*v));
	if (!v)
		return SHMAP_E_NOMEM;
	v->seg.fd = -1;
	v->seg.share_fd = -1;
	struct shmap__params want;
	memset(&want, 0, sizeof(want));
	want.kind = SHMAP__KIND_VECTOR;
	want.elem_size = elem_size;
	want.capacity = capacity;
	int rc = shmap__seg_open(name, oflags, &want, &vec_ops, opts, &v->seg);
	if (rc < 0) {
		int e = errno;
		free(v);
		errno = e;
		return rc;
	}
	v->cap = v->seg.p.capacity;
	v->esz = v->seg.p.elem_size;
	v->esz8 = (uint32_t)SHMAP_ALIGN_UP((uint64_t)v->esz, (uint64_t)8);
	v->stride = 16u + v->esz8;
	v->timeout_ms = opts ? opts->timeout_ms : 0;
	if (!opts) {
		struct shmap_opts d;
		shmap__opts_defaults(&d);
		v->timeout_ms = d.timeout_ms;
	}
	v->ctrl = (struct vec_ctrl *)(void *)v->seg.data;
	v->slots = v->seg.data + VEC_CTRL_SIZE;
	v->alt = v->slots + v->cap * v->stride;
	*ret = v;
	return rc;
}

SHMAP_API int shmap_vector_open(const char *name, uint32_t oflags, uint32_t elem_size,
				uint64_t capacity, const shmap_opts *opts, shmap_vector **ret)
{
	if (!ret)
		return SHMAP_E_INVAL;
	shmap_vector *h = NULL;
	int rc = shmap_vector_open__body(name, oflags, elem_size, capacity, opts, &h);
	if (rc < 0)
		return rc;
	/* A peer shrank the file while the handle was being set up. */
	if (shmap__seg_poison(&h->seg)) {
		shmap_vector_close(h);
		return SHMAP_E_PEERFAULT;
	}
	*ret = h;
	return rc;
}

SHMAP_API void shmap_vector_close(shmap_vector *v)
{
	if (!v)
		return;
	shmap__seg_close(&v->seg);
	free(v);
}

static inline int shmap_vector_reattach__body(shmap_vector *v)
{
	if (!v)
		return SHMAP_E_INVAL;
	return shmap__seg_reattach(&v->seg);
}

SHMAP_API int shmap_vector_reattach(shmap_vector *v)
{
	int rc = shmap_vector_reattach__body(v);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

SHMAP_API int shmap_vector_fd(const shmap_vector *v)
{
	return v ? v->seg.share_fd : -1;
}

/* ------------------------------------------------------------------ */
/* counters                                                            */

static inline uint64_t clamp_cap(const shmap_vector *v, uint64_t x)
{
	return x > v->cap ? v->cap : x;
}

SHMAP_API uint64_t shmap_vector_size(const shmap_vector *v)
{
	if (!v)
		return 0;
	/* W0: acquire, pairs with the full CAS W1 in advance(). */
	return clamp_cap(v, shmap__atomic_load_acquire_u64(&v->ctrl->committed));
}

SHMAP_API uint64_t shmap_vector_reserved(const shmap_vector *v)
{
	if (!v)
		return 0;
	/* A1': acquire, pairs with the full CAS A3. */
	return clamp_cap(v, shmap__atomic_load_acquire_u64(&v->ctrl->reserve));
}

SHMAP_API uint64_t shmap_vector_capacity(const shmap_vector *v)
{
	return v ? v->cap : 0;
}

SHMAP_API uint32_t shmap_vector_elem_size(const shmap_vector *v)
{
	return v ? v->esz : 0;
}

SHMAP_API uint64_t shmap_vector_holes(const shmap_vector *v)
{
	if (!v)
		return 0;
	return shmap__atomic_load_u64(&v->ctrl->holes);
}

/* ------------------------------------------------------------------ */
/* watermark                                                           */

/*
 * Advance the watermark over PUB / REPL / HOLE slots as far as it goes.
 * Scans a run of such slots (up to VEC_ADVANCE_RUN) and moves the watermark
 * over the whole run with one CAS: slot states never leave {PUB, REPL, HOLE}
 * once there, so a run seen readable stays readable.
 * Bounded: at most capacity slots are scanned per successful CAS round, and
 * failed CASes are bounded by VEC_CAS_BUDGET.
 */
static int advance(shmap_vector *v)
{
	/* W0: acquire, pairs with W1 of other advancers. */
	uint64_t w = shmap__atomic_load_acquire_u64(&v->ctrl->committed);
	uint32_t fails = 0;
	for (uint64_t steps = 0; steps <= v->cap; steps++) {
		if (w > v->cap)
			return SHMAP_E_CORRUPT;
		uint64_t end = w, lim = v->cap - w < VEC_ADVANCE_RUN ? v->cap : w + VEC_ADVANCE_RUN;
		while (end < lim) {
			/* W2: acquire, pairs with P1 (publish) / H1 (hole) release stores. */
			uint32_t st = m_st(shmap__atomic_load_acquire_u64(meta_p(v, end)));
			if (!m_readable(st) && st != ST_HOLE)
				break;
			end++;
		}
		if (end == w)
			return SHMAP_OK;
		/* W1: full CAS (acquire + release: it is not a store-load fence,
		 * see atomic.h). */
		uint64_t got = shmap__atomic_cas_full_u64(&v->ctrl->committed, w, end);
		if (got == w) {
			if (end < lim)
				return SHMAP_OK; /* stopped at an unreadable slot */
			w = end;
			/* W3: full fence: our W1 store before the slot loads (W2) of
			 * the next run; pairs with the fence P2 after a publisher's
			 * PUB store and its load of the watermark (Dekker: the
			 * publisher sees our watermark or we see its PUB). */
			shmap__atomic_fence_full();
		} else {
			if (++fails > VEC_CAS_BUDGET)
				return SHMAP_E_BUSY;
			w = got;
		}
	}
	return SHMAP_OK;
}

/* ------------------------------------------------------------------ */
/* recovery                                                            */

/* Turn slot i into a hole if it still holds `expect`. */
static int make_hole(shmap_vector *v, uint64_t i, uint64_t expect, uint32_t dead)
{
	/* H1: full CAS (release side pairs with W2 in advance() and readers' loads). */
	if (shmap__atomic_cas_full_u64(meta_p(v, i), expect, mk(ST_HOLE, dead, 0)) == expect) {
		shmap__atomic_fetch_add_full_u64(&v->ctrl->holes, 1);
		return 1;
	}
	return 0;
}

/*
 * Recover the reservation whose head is at h (meta hm = HEAD(dead, n)).
 * R1..R3 of the design notes. Returns SHMAP_OK, SHMAP_E_TIMEOUT (a huge
 * range: stopped at the timeout, to be continued) or SHMAP_E_CORRUPT.
 */
static int recover_head(shmap_vector *v, uint64_t h, uint64_t hm)
{
	uint32_t dead = m_owner(hm);
	uint64_t n = m_aux(hm);
	if (n == 0 || n > v->cap - h)
		return SHMAP_E_CORRUPT;
	/* R1: help the bump the dead claimer may not have done (A3). */
	(void)shmap__atomic_cas_full_u64(&v->ctrl->reserve, h, h + n);
	SHMAP_FAILPOINT("vector.recover.bumped");
	/* R2: the rest of the range. */
	struct scan_budget bud = { 0 };
	for (uint64_t j = h + 1; j < h + n; j++) {
		if (scan_tick(v, &bud, j - h) != SHMAP_OK)
			return SHMAP_E_TIMEOUT; /* the head stays HEAD: the next call goes on */
		/* R2: acquire, pairs with the marks A4 (the CAS below re-checks anyway). */
		uint64_t m = shmap__atomic_load_acquire_u64(meta_p(v, j));
		if (m == 0)
			(void)make_hole(v, j, 0, dead);
		else if (m_st(m) == ST_RESV && m_owner(m) == dead)
			(void)make_hole(v, j, m, dead);
		SHMAP_FAILPOINT("vector.recover.slot");
	}
	/* R3: the head last. */
	(void)make_hole(v, h, hm, dead);
	return SHMAP_OK;
}

#define PEND_RETRY 1 /* the slot changed under us: look again */

/*
 * Slot i is reserved but not readable (HEAD, RESV, or FREE below reserve).
 * Find its owner; if alive -> SHMAP_E_NOTREADY; if dead and `repair`,
 * recover it -> SHMAP_RECOVERED; if dead and !repair -> SHMAP_E_NOTFOUND
 * (reported as a hole-to-be). PEND_RETRY if the slot moved on meanwhile.
 * *owner_out receives the owner when found.
 */
static int pending(shmap_vector *v, uint64_t i, int repair, uint32_t *owner_out)
{
	/* S0: acquire, pairs with A2 (claim), A4 (marks), P1 (publish), H1 (hole). */
	uint64_t m = shmap__atomic_load_acquire_u64(meta_p(v, i));
	uint32_t st = m_st(m);
	uint64_t h = i, hm = 0;
	uint32_t owner;
	if (st == ST_HEAD) {
		owner = m_owner(m);
		hm = m;
	} else if (st == ST_RESV) {
		owner = m_owner(m);
		/* Look a short way back for the head, to recover the whole reservation at once. */
		uint64_t lim = i < VEC_HEAD_SCAN ? i : VEC_HEAD_SCAN;
		uint64_t j = i;
		for (uint64_t k = 0; k < lim; k++) {
			j--;
			/* S1: acquire, pairs with A2 / A4 / H1 of the same reservation. */
			uint64_t mj = shmap__atomic_load_acquire_u64(meta_p(v, j));
			uint32_t sj = m_st(mj);
			if ((sj == ST_RESV || sj == ST_HOLE) && m_owner(mj) == owner)
				continue;
			if (sj == ST_HEAD && m_owner(mj) == owner && m_aux(mj) > i - j) {
				h = j;
				hm = mj;
			}
			break;
		}
	} else if (m == 0) {
		/* S2: acquire, pairs with A3 / A5 / R1 (full CAS on reserve). */
		uint64_t r = shmap__atomic_load_acquire_u64(&v->ctrl->reserve);
		if (i >= clamp_cap(v, r))
			return SHMAP_E_RANGE;
		/* An unmarked tail slot (between A3 and A4): scan back to its head. */
		uint64_t lim = i < SHMAP_VECTOR_RESERVE_MAX ? i : SHMAP_VECTOR_RESERVE_MAX;
		uint64_t j = i;
		struct scan_budget bud = { 0 };
		for (uint64_t k = 0; k < lim; k++) {
			if (scan_tick(v, &bud, k) != SHMAP_OK)
				return SHMAP_E_TIMEOUT;
			j--;
			/* S1: acquire, pairs with the release marks A4 (increasing order). */
			uint64_t mj = shmap__atomic_load_acquire_u64(meta_p(v, j));
			uint32_t sj = m_st(mj);
			if (mj == 0 || sj == ST_RESV || sj == ST_HOLE)
				continue;
			if (sj == ST_HEAD) {
				h = j;
				hm = mj;
			}
			break;
		}
		if (hm == 0 || m_aux(hm) <= i - h) {
			/* No head covers i: either it moved on, or the segment is corrupt. */
			/* S3: acquire re-read, as S0. */
			if (shmap__atomic_load_acquire_u64(meta_p(v, i)) != 0)
				return PEND_RETRY;
			return SHMAP_E_CORRUPT;
		}
		owner = m_owner(hm);
	} else if (m_readable(st) || st == ST_HOLE) {
		return PEND_RETRY;
	} else {
		return SHMAP_E_CORRUPT;
	}
	if (owner_out)
		*owner_out = owner;
	if (shmap__seg_owner_alive(&v->seg, owner))
		return SHMAP_E_NOTREADY;
	if (!repair)
		return SHMAP_E_NOTFOUND;
	if (hm) {
		int rc = recover_head(v, h, hm);
		if (rc < 0)
			return rc;
	}
	if (st == ST_RESV)
		(void)make_hole(v, i, m, owner); /* no-op if the head recovery covered it */
	/* H2: full fence: the HOLE CASes (H1, not fences themselves) before the
	 * watermark and slot loads of advance(); pairs with P2 as W3 does. */
	shmap__atomic_fence_full();
	(void)advance(v);
	return SHMAP_RECOVERED;
}

/* ------------------------------------------------------------------ */
/* append                                                              */

static int do_reserve(shmap_vector *v, uint64_t n, uint64_t *first)
{
	const uint64_t cap = v->cap;
	const uint32_t me = v->seg.owner;
	for (uint32_t tries = 0; tries < VEC_CAS_BUDGET; tries++) {
		/* A1: acquire, pairs with A3 / R1 (full CAS). */
		uint64_t r = shmap__atomic_load_acquire_u64(&v->ctrl->reserve);
		if (r > cap)
			return SHMAP_E_CORRUPT;
		if (n > cap - r)
			return SHMAP_E_FULL;
		volatile uint64_t *mp = meta_p(v, r);
		/*
		 * A2: the claim, full CAS straight away (no load first: a load would
		 * fetch the line shared and the CAS fetch it again exclusive). On
		 * failure it returns the slot's word, which says whom to help.
		 * Pairs with A1/A5 of other appenders.
		 */
		uint64_t m = shmap__atomic_cas_full_u64(mp, 0, mk(ST_HEAD, me, (uint32_t)n));
		if (m == 0) {
			SHMAP_FAILPOINT("vector.reserve.claimed");
			/* A3: full CAS; may fail if a helper (A5/R1) bumped for us. */
			(void)shmap__atomic_cas_full_u64(&v->ctrl->reserve, r, r + n);
			SHMAP_FAILPOINT("vector.reserve.bumped");
			/* A4: release marks, increasing order; pairs with S1 in pending(). */
			const uint64_t resv = mk(ST_RESV, me, 0);
			for (uint64_t j = 1; j < n; j++)
				shmap__atomic_store_release_u64(meta_p(v, r + j), resv);
			if (n > 1)
				SHMAP_FAILPOINT("vector.reserve.marked");
			*first = r;
			return SHMAP_OK;
		}
		if (m_st(m) == ST_HEAD) {
			uint64_t k = m_aux(m);
			if (k == 0 || k > cap - r)
				return SHMAP_E_CORRUPT;
			/* A5: help the claimer's bump (it may be slow or dead). */
			(void)shmap__atomic_cas_full_u64(&v->ctrl->reserve, r, r + k);
			continue;
		}
		/* The head moved on (published or recovered): reserve must have too (A1 again). */
		if (shmap__atomic_load_acquire_u64(&v->ctrl->reserve) == r)
			return SHMAP_E_CORRUPT;
	}
	return SHMAP_E_BUSY;
}

static inline int shmap_vector_reserve__body(shmap_vector *v, uint64_t n, uint64_t *first)
{
	if (!v || !first)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	if (n == 0 || n > SHMAP_VECTOR_RESERVE_MAX)
		return SHMAP_E_INVAL;
	return do_reserve(v, n, first);
}

SHMAP_API int shmap_vector_reserve(shmap_vector *v, uint64_t n, uint64_t *first)
{
	int rc = shmap_vector_reserve__body(v, n, first);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

/* Publish one slot already verified to be ours. */
static inline void publish_slot(shmap_vector *v, uint64_t i)
{
	/* P1: release, pairs with the acquire loads G1 (get) and W2 (advance). */
	shmap__atomic_store_release_u64(meta_p(v, i), mk(ST_PUB, 0, 0));
}

static inline int shmap_vector_push__body(shmap_vector *v, const void *elem, uint64_t *index)
{
	if (!v || !elem)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	uint64_t i;
	rc = do_reserve(v, 1, &i);
	if (rc)
		return rc;
	uint8_t *dst = buf0_p(v, i);
#ifdef SHMAP_FAILPOINTS
	uint32_t half = v->esz / 2;
	memcpy(dst, elem, half);
	SHMAP_FAILPOINT("vector.push.half");
	memcpy(dst + half, (const uint8_t *)elem + half, v->esz - half);
	SHMAP_FAILPOINT("vector.push.written");
#else
	/* The slot is ours and unpublished: no reader touches buf0 yet. */
	memcpy(dst, elem, v->esz);
#endif
	publish_slot(v, i);
	SHMAP_FAILPOINT("vector.push.published");
	/* P2: full fence: the PUB store before the watermark load in advance(); pairs with W3 / H2. */
	shmap__atomic_fence_full();
	/*
	 * The element is appended whatever advance() says: a corrupt watermark
	 * (hostile peer) shows in size(), next() and check(), and failing here
	 * would invite the caller to append it twice.
	 */
	(void)advance(v);
	if (index)
		*index = i;
	return SHMAP_OK;
}

SHMAP_API int shmap_vector_push(shmap_vector *v, const void *elem, uint64_t *index)
{
	int rc = shmap_vector_push__body(v, elem, index);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

/* Is slot i reserved by this handle and unpublished? */
static int own_slot(shmap_vector *v, uint64_t i)
{
	/* Relaxed: only this handle moves its own slots out of HEAD/RESV (program order). */
	uint64_t m = shmap__atomic_load_u64(meta_p(v, i));
	uint32_t st = m_st(m);
	return (st == ST_HEAD || st == ST_RESV) && m_owner(m) == v->seg.owner;
}

static int own_check(shmap_vector *v, uint64_t index)
{
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	if (index >= v->cap)
		return SHMAP_E_RANGE;
	if (!own_slot(v, index))
		return SHMAP_E_INVAL;
	return SHMAP_OK;
}

static inline int shmap_vector_write__body(shmap_vector *v, uint64_t index, const void *elem)
{
	if (!v || !elem)
		return SHMAP_E_INVAL;
	int rc = own_check(v, index);
	if (rc)
		return rc;
	memcpy(buf0_p(v, index), elem, v->esz);
	return SHMAP_OK;
}

SHMAP_API int shmap_vector_write(shmap_vector *v, uint64_t index, const void *elem)
{
	int rc = shmap_vector_write__body(v, index, elem);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

static inline int shmap_vector_slot_ptr__body(shmap_vector *v, uint64_t index, void **ptr)
{
	if (!v || !ptr)
		return SHMAP_E_INVAL;
	int rc = own_check(v, index);
	if (rc)
		return rc;
	*ptr = buf0_p(v, index);
	return SHMAP_OK;
}

SHMAP_API int shmap_vector_slot_ptr(shmap_vector *v, uint64_t index, void **ptr)
{
	int rc = shmap_vector_slot_ptr__body(v, index, ptr);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

static inline int shmap_vector_publish__body(shmap_vector *v, uint64_t first, uint64_t n)
{
	if (!v)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	if (n == 0)
		return SHMAP_E_INVAL;
	if (first >= v->cap || n > v->cap - first)
		return SHMAP_E_RANGE;
	for (uint64_t i = first; i < first + n; i++)
		if (!own_slot(v, i))
			return SHMAP_E_INVAL;
	for (uint64_t i = first; i < first + n; i++) {
		publish_slot(v, i);
		if (i == first && n > 1)
			SHMAP_FAILPOINT("vector.publish.partial");
	}
	SHMAP_FAILPOINT("vector.publish.published");
	/* P2: full fence, pairs with W3 / H2 (see push). */
	shmap__atomic_fence_full();
	(void)advance(v); /* published whatever it says (see push) */
	return SHMAP_OK;
}

SHMAP_API int shmap_vector_publish(shmap_vector *v, uint64_t first, uint64_t n)
{
	int rc = shmap_vector_publish__body(v, first, n);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

/* ------------------------------------------------------------------ */
/* read                                                                */

#define GET_HOLE 2 /* internal: the slot is a hole */

/*
 * Read slot i (seqlock over the version). With `recover`, a reserved slot
 * of a dead owner is turned into holes first.
 * Returns SHMAP_OK, GET_HOLE, or a negative code.
 */
static int do_get(shmap_vector *v, uint64_t i, void *out, int recover)
{
	volatile uint64_t *mp = meta_p(v, i);
	for (uint32_t tries = 0; tries < VEC_READ_BUDGET; tries++) {
		/* G1: acquire, pairs with P1 (publish) and Q3 (replace switch). */
		uint64_t m1 = shmap__atomic_load_acquire_u64(mp);
		uint32_t st = m_st(m1);
		if (m_readable(st)) {
			/* G1v: acquire, pairs with Q3v: the copy it selects is complete. */
			uint64_t ver = shmap__atomic_load_acquire_u64(ver_p(v, i));
			const uint8_t *src = buf_p(v, i, ver);
			uint32_t half = (v->esz / 2) & ~7u;
			copy_out_atomic(out, src, half);
			SHMAP_TEST_HOOK("vector.get.half", v, i);
			copy_out_atomic((uint8_t *)out + half, src + half, v->esz - half);
			/* G2: acquire fence: the copy's loads before the re-check G3. */
			shmap__atomic_fence_acquire();
			/* G3: pairs with the release fence Q1F of a replacer whose copy
			 * stores our copy may have seen: then we see its ver store
			 * chain's successor, never `ver` again (64 bits never wrap). */
			uint64_t ver2 = shmap__atomic_load_u64(ver_p(v, i));
			uint64_t m2 = shmap__atomic_load_u64(mp);
			if (!m_readable(m_st(m2)))
				return SHMAP_E_CORRUPT; /* published slots never go back */
			if (ver2 == ver)
				return SHMAP_OK;
			continue;
		}
		if (st == ST_HOLE)
			return GET_HOLE;
		if (st > ST_HOLE)
			return SHMAP_E_CORRUPT;
		/* FREE, HEAD, RESV. */
		int rc = pending(v, i, recover, NULL);
		if (rc == PEND_RETRY || rc == SHMAP_RECOVERED)
			continue;
		if (rc == SHMAP_E_NOTFOUND)
			return GET_HOLE; /* dead owner, not repaired (read-only caller) */
		return rc;
	}
	return SHMAP_E_BUSY;
}

static inline int shmap_vector_get__body(shmap_vector *v, uint64_t index, void *out)
{
	if (!v || !out)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	if (index >= v->cap)
		return SHMAP_E_RANGE;
	rc = do_get(v, index, out, 1);
	return rc == GET_HOLE ? SHMAP_E_NOTFOUND : rc;
}

SHMAP_API int shmap_vector_get(shmap_vector *v, uint64_t index, void *out)
{
	int rc = shmap_vector_get__body(v, index, out);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

static inline int shmap_vector_next__body(shmap_vector *v, uint64_t *cursor, void *out, uint64_t *index)
{
	if (!v || !cursor || !out)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	uint64_t c = *cursor;
	int probed = 0;
	for (uint64_t steps = 0; steps <= v->cap + 1; steps++) {
		if (c >= v->cap) {
			*cursor = c;
			return SHMAP_E_EMPTY;
		}
		uint64_t w = shmap_vector_size(v);
		if (c < w) {
			rc = do_get(v, c, out, 0);
			if (rc == GET_HOLE) {
				c++;
				continue;
			}
			if (rc == SHMAP_OK) {
				if (index)
					*index = c;
				*cursor = c + 1;
				return SHMAP_OK;
			}
			*cursor = c;
			return rc;
		}
		if (c >= shmap_vector_reserved(v) || probed) {
			*cursor = c;
			return c >= shmap_vector_reserved(v) ? SHMAP_E_EMPTY : SHMAP_E_NOTREADY;
		}
		/* The watermark is stuck at or below the cursor: is its blocker dead? */
		rc = shmap_vector_recover(v);
		probed = 1;
		if (rc < 0 && rc != SHMAP_E_NOTREADY) {
			*cursor = c;
			return rc;
		}
	}
	*cursor = c;
	return SHMAP_E_BUSY;
}

SHMAP_API int shmap_vector_next(shmap_vector *v, uint64_t *cursor, void *out, uint64_t *index)
{
	int rc = shmap_vector_next__body(v, cursor, out, index);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

static inline int shmap_vector_recover__body(shmap_vector *v)
{
	if (!v)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	int recovered = 0;
	rc = advance(v);
	if (rc < 0)
		return rc;
	for (uint64_t steps = 0; steps <= v->cap; steps++) {
		/* W0: acquire, pairs with W1. */
		uint64_t w = shmap__atomic_load_acquire_u64(&v->ctrl->committed);
		if (w > v->cap)
			return SHMAP_E_CORRUPT;
		if (w >= shmap_vector_reserved(v))
			break;
		rc = pending(v, w, 1, NULL);
		if (rc == SHMAP_E_NOTREADY)
			return SHMAP_E_NOTREADY;
		if (rc == SHMAP_RECOVERED)
			recovered = 1;
		else if (rc == SHMAP_E_RANGE)
			break;
		else if (rc < 0)
			return rc;
		rc = advance(v);
		if (rc < 0)
			return rc;
	}
	return recovered ? SHMAP_RECOVERED : SHMAP_OK;
}

SHMAP_API int shmap_vector_recover(shmap_vector *v)
{
	int rc = shmap_vector_recover__body(v);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

/* ------------------------------------------------------------------ */
/* replace                                                             */

static inline int shmap_vector_replace__body(shmap_vector *v, uint64_t index, const void *elem)
{
	if (!v || !elem)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	if (index >= v->cap)
		return SHMAP_E_RANGE;
	volatile uint64_t *mp = meta_p(v, index);
	const uint32_t me = v->seg.owner;
	struct shmap__backoff bo;
	shmap__backoff_init(&bo);
	uint64_t deadline = 0;
	int took_over = 0;
	uint32_t rounds = 0;
	for (;;) {
		/* Q0: acquire, pairs with Q3 of the previous replacer and P1. */
		uint64_t m = shmap__atomic_load_acquire_u64(mp);
		uint32_t st = m_st(m);
		if (st == ST_PUB) {
			/*
			 * Q1: full CAS (acquire + release) claims the slot; its
			 * acquire side pairs with Q3/Q3v of the previous replacer
			 * (so the ver load below sees its store). The copy stores
			 * Q2 are kept after the claim by the fence Q1F, not by
			 * the CAS (see atomic.h).
			 */
			if (shmap__atomic_cas_full_u64(mp, m, mk(ST_REPL, me, m_aux(m))) == m)
				break;
			continue;
		}
		if (st == ST_REPL) {
			uint32_t o = m_owner(m);
			int probe = ++rounds % VEC_PROBE_EVERY == 0;
			if (probe && !shmap__seg_owner_alive(&v->seg, o)) {
				/* Q1': take over a dead replacer's claim; its copy is not
				 * current (or it stored ver and is: we then write the
				 * other one, as after any switch). */
				if (shmap__atomic_cas_full_u64(mp, m, mk(ST_REPL, me, m_aux(m))) == m) {
					shmap__atomic_fetch_add_u64(&v->ctrl->takeovers, 1);
					took_over = 1;
					break;
				}
				continue;
			}
			if (deadline == 0)
				deadline = shmap__deadline_ms(v->timeout_ms);
			if (shmap__backoff_wait(&bo, deadline) == SHMAP_E_TIMEOUT)
				return SHMAP_E_TIMEOUT;
			continue;
		}
		if (st == ST_HOLE)
			return SHMAP_E_NOTFOUND;
		if (st > ST_HOLE)
			return SHMAP_E_CORRUPT;
		rc = pending(v, index, 1, NULL);
		if (rc == PEND_RETRY)
			continue;
		if (rc == SHMAP_RECOVERED)
			return SHMAP_E_NOTFOUND;
		return rc;
	}
	SHMAP_FAILPOINT("vector.replace.claimed");
	/* Q1F: release fence after the claim, pairs with G2/G3 in readers: in
	 * the C11 model an acq_rel CAS does not keep the later relaxed stores
	 * Q2 after it, so a reader whose copy saw a Q2 store could otherwise
	 * still read the old version at G3. The fence orders the claim before
	 * every store below. */
	shmap__atomic_fence_release();
	/* Relaxed: ver is stored only by the claim holder; the claim's acquire
	 * (Q1/Q1') ordered the previous holder's store before this load. */
	uint64_t ver = shmap__atomic_load_u64(ver_p(v, index));
	uint8_t *dst = buf_p(v, index, ver + 1u);
	const uint8_t *src = elem;
	/* Q2: relaxed atomic stores: a reader of an older version may still be copying dst. */
	uint32_t half = (v->esz / 2) & ~7u;
	copy_in_atomic(dst, src, 0, half);
	SHMAP_FAILPOINT("vector.replace.half");
	copy_in_atomic(dst, src, half, v->esz);
	SHMAP_FAILPOINT("vector.replace.written");
	/* Q3v: release switch to the new copy; pairs with G1v. */
	shmap__atomic_store_release_u64(ver_p(v, index), ver + 1u);
	/* Q3: release, the slot is free for the next replacer; pairs with Q0/G1. */
	shmap__atomic_store_release_u64(mp, mk(ST_PUB, 0, (uint32_t)(ver + 1u) & AUX_MASK));
	return took_over ? SHMAP_RECOVERED : SHMAP_OK;
}

#ifdef SHMAP_FAILPOINTS
/*
 * Test build only: account k replacements of published slot i without
 * making them (k even, so the current copy stays the same), as a reader
 * descheduled for that long would see the counters. SHMAP_E_INVAL if the
 * slot is not PUB.
 */
int shmap__vector_test_skip_versions(shmap_vector *v, uint64_t i, uint64_t k);
int shmap__vector_test_skip_versions(shmap_vector *v, uint64_t i, uint64_t k)
{
	if (i >= v->cap || (k & 1u))
		return SHMAP_E_INVAL;
	uint64_t m = shmap__atomic_load_acquire_u64(meta_p(v, i));
	if (m_st(m) != ST_PUB)
		return SHMAP_E_INVAL;
	uint64_t ver = shmap__atomic_load_u64(ver_p(v, i)) + k;
	shmap__atomic_store_release_u64(ver_p(v, i), ver);
	shmap__atomic_store_release_u64(meta_p(v, i), mk(ST_PUB, 0, (uint32_t)ver & AUX_MASK));
	return SHMAP_OK;
}
#endif

SHMAP_API int shmap_vector_replace(shmap_vector *v, uint64_t index, const void *elem)
{
	int rc = shmap_vector_replace__body(v, index, elem);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

/* ------------------------------------------------------------------ */
/* tools                                                               */

static inline int shmap_vector_slot_state__body(const shmap_vector *v, uint64_t index, uint32_t *state,
						uint32_t *owner)
{
	if (!v)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	if (index >= v->cap)
		return SHMAP_E_RANGE;
	/* A snapshot: acquire, pairs with every slot transition (A2, A4, P1, Q1, Q3, H1). */
	uint64_t m = shmap__atomic_load_acquire_u64(meta_p(v, index));
	uint32_t st = m_st(m), s, o = m_owner(m);
	switch (st) {
	case ST_FREE:
		s = index < shmap_vector_reserved(v) ? SHMAP_VECTOR_SLOT_RESERVED
						     : SHMAP_VECTOR_SLOT_FREE;
		if (s == SHMAP_VECTOR_SLOT_RESERVED) {
			uint32_t po = 0;
			/* without repair, pending() only reads */
			(void)pending((shmap_vector *)v, index, 0, &po);
			o = po;
		}
		break;
	case ST_HEAD:
	case ST_RESV:
		s = SHMAP_VECTOR_SLOT_RESERVED;
		break;
	case ST_PUB:
		s = SHMAP_VECTOR_SLOT_PUBLISHED;
		break;
	case ST_REPL:
		s = SHMAP_VECTOR_SLOT_REPLACING;
		break;
	case ST_HOLE:
		s = SHMAP_VECTOR_SLOT_HOLE;
		break;
	default:
		return SHMAP_E_CORRUPT;
	}
	if (state)
		*state = s;
	if (owner)
		*owner = o;
	return SHMAP_OK;
}

SHMAP_API int shmap_vector_slot_state(const shmap_vector *v, uint64_t index, uint32_t *state,
				      uint32_t *owner)
{
	int rc = shmap_vector_slot_state__body(v, index, state, owner);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

static inline int shmap_vector_stats__body(const shmap_vector *v, shmap_vector_stats_t *out)
{
	if (!v || !shmap__stats_size_ok(out))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	/* Counting, not a snapshot: acquire on reserve (pairs with A3), relaxed slot loads. */
	uint64_t r = shmap__atomic_load_acquire_u64(&v->ctrl->reserve);
	int corrupt = r > v->cap;
	r = clamp_cap(v, r);
	uint64_t np = 0, nr = 0, nh = 0;
	for (uint64_t i = 0; i < r; i++) {
		uint32_t st = m_st(shmap__atomic_load_u64(meta_p(v, i)));
		if (m_readable(st))
			np++;
		else if (st == ST_HOLE)
			nh++;
		else if (st <= ST_RESV)
			nr++;
		else
			corrupt = 1;
	}
	if (corrupt)
		return SHMAP_E_CORRUPT;
	shmap_vector_stats_t st = { sizeof(st), 0, np, nr, nh };
	shmap__stats_out(out, &st, sizeof(st));
	return SHMAP_OK;
}

SHMAP_API int shmap_vector_stats(const shmap_vector *v, shmap_vector_stats_t *st)
{
	int rc = shmap_vector_stats__body(v, st);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}

/* Tiny liveness cache for the checker: one probe per distinct owner. */
struct live_cache {
	uint32_t owner[32];
	uint8_t alive[32];
	uint32_t n;
};

static int cached_alive(shmap_vector *v, struct live_cache *lc, uint32_t owner)
{
	for (uint32_t k = 0; k < lc->n; k++)
		if (lc->owner[k] == owner)
			return lc->alive[k];
	int a = shmap__seg_owner_alive(&v->seg, owner) ? 1 : 0;
	uint32_t k = lc->n < 32 ? lc->n++ : (owner % 32);
	lc->owner[k] = owner;
	lc->alive[k] = (uint8_t)a;
	return a;
}

/*
 * The header's immutable part still says what we validated at open (a peer
 * rewriting it after open changes nothing we do -- every bound is a private
 * copy -- but the checker reports it). Copied in relaxed atomic words first.
 */
static int header_intact(const shmap_vector *v)
{
	struct shmap__hdr h;
	/* Relaxed atomic words memcpy'd into h: storing them through a
	 * uint64_t lvalue would break strict aliasing with h's 32-bit fields
	 * (and let gcc treat those as uninitialized). */
	shmap__atomic_copy_out(&h, v->seg.base, sizeof(h));
	return h.magic == SHMAP__MAGIC && h.kind == SHMAP__KIND_VECTOR && h.capacity == v->cap &&
	       h.elem_size == v->esz && h.data_size == v->seg.p.data_size &&
	       h.data_off == (uint64_t)(v->seg.data - v->seg.base) &&
	       h.total_size == v->seg.total_size && h.checksum == shmap__hdr_checksum(&h);
}

/* What a check has found and repaired so far. */
struct vcheck {
	int repair;            /* SHMAP_CHECK_REPAIR */
	uint64_t r;            /* the reservation counter, at most cap */
	uint64_t found;
	uint64_t fixed;
	uint64_t nholes;       /* HOLE slots below r, counting those made here */
	struct live_cache lc;
};

/* Slot i at or beyond the reservation counter: free, or a claimed head
 * whose bump never happened. true: look at slot i again (now reserved). */
static bool check_unreserved(shmap_vector *v, uint64_t i, uint64_t m, struct vcheck *c)
{
	const uint32_t st = m_st(m);
	if (m == 0)
		return false;
	/* A claimed head whose bump never happened: dead claimer. */
	if (st == ST_HEAD && i == c->r && cached_alive(v, &c->lc, m_owner(m)))
		return false;
	c->found++;
	if (c->repair && st == ST_HEAD && i == c->r && recover_head(v, i, m) == SHMAP_OK) {
		c->fixed++;
		c->r = shmap_vector_reserved(v);
		return true;
	}
	return false;
}

/* One slot. true: look at slot i again. */
static bool check_slot(shmap_vector *v, uint64_t i, struct vcheck *c)
{
	volatile uint64_t *mp = meta_p(v, i);
	uint64_t m = shmap__atomic_load_acquire_u64(mp);
	uint32_t st = m_st(m);
	uint32_t o = m_owner(m);
	if (st > ST_HOLE) {
		c->found++;
		if (c->repair && i < c->r && make_hole(v, i, m, 0)) {
			c->fixed++;
			c->nholes++;
		}
		return false;
	}
	if (i >= c->r)
		return check_unreserved(v, i, m, c);
	switch (st) {
	case ST_PUB:
		if (o != 0) {
			c->found++;
			if (c->repair && shmap__atomic_cas_full_u64(mp, m, pub_of(m)) == m)
				c->fixed++;
		}
		break;
	case ST_HOLE:
		c->nholes++;
		break;
	case ST_REPL:
		if (cached_alive(v, &c->lc, o))
			break;
		c->found++;
		/* The current copy was never written by the dead replacer: keep it. */
		if (c->repair && shmap__atomic_cas_full_u64(mp, m, pub_of(m)) == m)
			c->fixed++;
		break;
	case ST_HEAD:
	case ST_RESV:
	case ST_FREE: {
		uint32_t po = 0;
		int prc = pending(v, i, 0, &po);
		if (prc == SHMAP_E_NOTREADY || prc == PEND_RETRY)
			break;
		c->found++;
		if (prc == SHMAP_E_NOTFOUND && c->repair) {
			if (pending(v, i, 1, NULL) == SHMAP_RECOVERED || m_st(shmap__atomic_load_u64(mp)) == ST_HOLE) {
				c->fixed++;
				c->nholes++;
			}
		}
		break;
	}
	default:
		break;
	}
	return false;
}

/* The hole count and the watermark, against what the slots say. */
static void check_counters(shmap_vector *v, struct vcheck *c)
{
	/* Holes made while scanning above index i were counted when reached. */
	uint64_t hc = shmap__atomic_load_u64(&v->ctrl->holes);
	if (hc != c->nholes) {
		c->found++;
		if (c->repair) {
			/* A statistic: relaxed. */
			shmap__atomic_store_u64(&v->ctrl->holes, c->nholes);
			c->fixed++;
		}
	}
	/* Watermark: must equal the end of the PUB/REPL/HOLE prefix. */
	uint64_t wexp = 0;
	while (wexp < c->r) {
		uint32_t st = m_st(shmap__atomic_load_acquire_u64(meta_p(v, wexp)));
		if (!m_readable(st) && st != ST_HOLE)
			break;
		wexp++;
	}
	uint64_t w = shmap__atomic_load_acquire_u64(&v->ctrl->committed);
	if (w != wexp) {
		c->found++;
		if (c->repair) {
			/* Quiescent repair: release, pairs with W0. */
			shmap__atomic_store_release_u64(&v->ctrl->committed, wexp);
			c->fixed++;
		}
	}
}

static inline int shmap_vector_check__body(shmap_vector *v, uint32_t flags, uint64_t *problems)
{
	if (!v || (flags & ~SHMAP_CHECK_REPAIR))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	if (rc)
		return rc;
	const uint64_t cap = v->cap;
	struct vcheck c;
	memset(&c, 0, sizeof(c));
	c.repair = (flags & SHMAP_CHECK_REPAIR) != 0;

	if (!header_intact(v))
		c.found++; /* not repairable here: the bounds we use are our own copies */

	/*
	 * The checker's loads are acquire (pairing with A3 and every slot
	 * transition) and its repairs are full CASes that re-check the word they
	 * read, so a repair never overwrites a change made meanwhile.
	 */
	c.r = shmap__atomic_load_acquire_u64(&v->ctrl->reserve);
	if (c.r > cap) {
		c.found++; /* not repairable: we cannot know how far it really went */
		c.r = cap;
	}
	for (uint64_t i = 0; i < cap; i++)
		if (check_slot(v, i, &c))
			i--; /* look at this slot again as a reserved one */
	check_counters(v, &c);
	if (problems)
		*problems = c.found;
	if (c.found == 0)
		return SHMAP_OK;
	return c.fixed >= c.found ? SHMAP_RECOVERED : SHMAP_E_CORRUPT;
}

/*
 * No clear: indices once published stay published for every reader (they
 * are cached without locks, and holes are final), so a reset could make a
 * reader's valid index name another element. See vector.h.
 */
SHMAP_API int shmap_vector_clear(shmap_vector *v)
{
	if (!v)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&v->seg);
	return rc ? rc : SHMAP_E_NOTSUP;
}

SHMAP_API int shmap_vector_check(shmap_vector *v, uint32_t flags, uint64_t *problems)
{
	int rc = shmap_vector_check__body(v, flags, problems);
	return v ? shmap__seg_leave(&v->seg, rc) : rc;
}
