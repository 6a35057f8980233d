/* SPDX-License-Identifier: MIT */
/*
 * ring-internal.h - shared layout and private helpers of the ring buffers
 * (ring.c, ring_spsc.c, ring_spmc.c, ring_bcast.c).
 *
 * Data region of a ring segment:
 *
 *   struct ring_ctl        4 cache lines, each written by one side only:
 *     line 0 (producer)    prod_owner, head, lost
 *     line 1 (consumers)   cons_sleepers, data_ev   (read by the producer per push)
 *     line 2 (producer)    prod_sleeping, space_ev  (read by consumers per pop)
 *     line 3 (consumers)   cons_owner, tail
 *   struct ring_rec[max_consumers]   one cache line per consumer/subscriber
 *   uint64_t seq[cap]      one sequence word per slot (SPSC: publication
 *                          start words, see below)
 *   data[cap * elem_size]  the elements, contiguous (zero-copy runs)
 *
 * SPMC/broadcast: sequence words carry the per-slot state, so producer and
 * consumers never share an index line on the fast path: each reads the
 * other's progress from the slot words it has to touch anyway. SPSC
 * publishes a run [p, p + k) with one word, seq[p] = p + k, and frees
 * through tail (ring_spsc.c). Positions are 64-bit and
 * never wrap in practice; slot = position & mask (mask from the PRIVATE
 * capacity, so every index taken from shared memory lands in the mapping).
 *
 * SPSC: seq[p] == p + k (k >= 1) when a publication of k elements started
 * at p; words of slots inside a run are left as they were (ring_spsc.c).
 *
 * SPMC slot states, for the position p the slot holds next:
 *   seq == p          free: the producer may write position p
 *   seq == p + 1      published: position p is readable
 *   seq == p + cap    consumed: free for position p + cap
 * (capacity >= 2 keeps "published" and "free for the next lap" distinct.)
 *
 * Broadcast slot states: seq == p + 1 published for position p;
 * seq == SEQ_WRITING | p while the lossy producer overwrites it; 0 never
 * written.
 */
#ifndef SHMAP_RING_INTERNAL_H
#define SHMAP_RING_INTERNAL_H

#include <string.h>

#include <shmap/ring.h>

#include "atomic.h"
#include "internal.h"
#include "segment.h"

#define RING_SEQ_WRITING (UINT64_C(1) << 63)

/* kind_flags of SHMAP__KIND_RING_BCAST */
#define RING_BCAST_FLAG_LOSSY 1u
#define RING_BCAST_FLAG_RELIABLE 2u

/* Consumer/subscriber record states (high half of rec.ow). */
#define REC_FREE 0u
#define REC_CLAIMING 1u
#define REC_ACTIVE 2u

#define RING_PROBE_AHEAD 32u /* SPSC: look this far ahead for free/ready slots */
#define RING_SPIN 100u       /* spin iterations before a waiting call yields */
#define RING_YIELD_NS (1u * 1000000u) /* then sched_yield() between tries this long */
#define RING_YIELDS 1000u     /* ... and at least this many yields */
#define RING_YIELD_SHIFT_MAX 6u /* the adaptive budget goes down to 1/64 of that */
#define RING_SLICE_NS (100u * 1000000u) /* longest single futex sleep (re-check) */
#define RING_SLICE_DEAD_NS (10u * 1000000u) /* same, for a producer a dead peer can block */
#define RING_STUCK_NS (1u * 1000000u)   /* FULL this long -> probe peers' liveness */
#define RING_RETRY 4096u     /* CAS retry budget per call (SPMC) */

struct ring_ctl {
	/* line 0: written by the producer */
	uint32_t prod_owner;
	uint32_t pad0;
	uint64_t head;          /* positions published (next position to write) */
	uint64_t lost;          /* SPMC: elements reclaimed from dead consumers */
	uint64_t pad1[5];
	/* line 1: consumers' sleep indication, read by the producer per push */
	uint32_t cons_sleepers; /* SPSC: 0/1 flag; others: number of sleeping records */
	uint32_t data_ev;       /* futex: bumped by the producer to wake consumers */
	uint64_t pad2[7];
	/* line 2: producer's sleep indication, read by consumers per pop */
	uint32_t prod_sleeping;
	uint32_t space_ev;      /* futex: bumped by consumers to wake the producer */
	uint64_t pad3[7];
	/* line 3: consumer side */
	uint32_t cons_owner;    /* SPSC consumer role */
	uint32_t pad4;
	uint64_t tail;          /* SPSC: consumed count; SPMC: claim index (CAS) */
	uint64_t pad5[6];
};
_Static_assert(sizeof(struct ring_ctl) == 256, "ring ctl size");

struct ring_rec {
	uint64_t ow;            /* state << 32 | owner id */
	uint64_t pos;           /* SPMC: claim start + 1 (0 none); bcast: cursor */
	uint32_t n;             /* SPMC: claim length */
	uint32_t sleeping;      /* 1 while this record's owner sleeps in a wait */
	uint64_t missed;        /* lossy: elements missed (stats) */
	uint64_t nrec;          /* record-ring SPMC: records in the claim (ring_rec_spmc.c) */
	uint64_t pad[3];
};
_Static_assert(sizeof(struct ring_rec) == 64, "ring rec size");

/* Private state of a record ring handle (ring_rec.c, ring_rec_*.c). */
struct ring_recx {
	struct rec_line *line;  /* shared: the producer's record line (intent, latest) */
	uint32_t max_rec;       /* private max_record */
	uint32_t z_len;         /* outstanding reserve (bytes asked) / peek (record length) */
	uint32_t z_kind;        /* 0 none, 1 reserve, 2 peek */
	uint32_t pad;
	uint64_t z_pos;         /* start of the reservation / peeked unit (pad included) */
	uint64_t z_rec;         /* position of the reserved / peeked record's header */
	uint64_t ihi;           /* lossy producer: highest intent stored */
	uint64_t free;          /* SPMC producer: free cursor (ring_rec_spmc.c) */
};

struct shmap_ring {
	struct shmap__seg seg;
	/* private copies of the parameters (never re-read from shared memory) */
	uint32_t type;
	uint32_t role;          /* role held, 0 none */
	uint32_t want_role;     /* role asked for at open */
	uint32_t esize;
	uint32_t max_cons;
	uint64_t cap;
	uint64_t mask;
	/* pointers into the mapping */
	struct ring_ctl *ctl;
	struct ring_rec *recs;
	volatile uint64_t *seq;
	uint8_t *data;
	/* role state */
	struct ring_rec *rec;   /* our record (SPMC/bcast consumer), else NULL */
	uint64_t pos;           /* producer: next position; consumer: next to read */
	uint64_t lim;           /* SPSC: positions < lim known free (prod: tail + cap) / ready (cons) */
	uint64_t min_cache;     /* reliable producer: lowest subscriber cursor seen */
	uint64_t full_since;    /* first FULL of the current streak (ns), 0 none */
	uint64_t missed;        /* lossy subscriber: total missed */
	uint32_t wait_shift;    /* waiting calls: yield budget divided by 2^this (ring.c) */
	uint32_t wait_short_spin; /* waiting calls: 1 if the last one outlasted its spin phase */
	uint32_t zc;            /* outstanding reserve/peek length, 0 none */
	uint32_t rmode;         /* record ring (ring_rec.c): its type; 0 fixed slots */
	uint32_t zc_kind;       /* 1 reserve, 2 peek */
	uint64_t zc_pos;        /* start position of the run */
	uint64_t zc_seq;        /* lossy peek: seq of the first slot when peeked */
	struct ring_notify *nt; /* descriptor waiter (ring_notify.c), NULL none */
	uint8_t *zbuf;          /* lossy broadcast peek/reserve: private elements (ring_bcast.c) */
	struct ring_recx rx;    /* record rings only (ring_rec.c) */
};

static inline uint64_t ring_now(void)
{
	return shmap__now_ns();
}

static inline uint8_t *ring_slot(const struct shmap_ring *r, uint64_t pos)
{
	return r->data + (size_t)(pos & r->mask) * r->esize;
}

static inline void ring_copy_out(const struct shmap_ring *r, uint64_t pos, void *dst)
{
	const uint8_t *s = ring_slot(r, pos);
	if (r->esize == 8)
		memcpy(dst, s, 8);
	else
		memcpy(dst, s, r->esize);
}

/* Copy k elements starting at pos into/out of the ring, splitting at the wrap. */
void shmap__ring_copy_in_n(const struct shmap_ring *r, uint64_t pos, const void *src, uint64_t k);
void shmap__ring_copy_out_n(const struct shmap_ring *r, uint64_t pos, void *dst, uint64_t k);

/*
 * Sleeper indication. A waiter announces itself (W1: full fence), then runs
 * the process-wide heavy barrier (membarrier), then re-checks and sleeps.
 * The waker publishes, then reads the indication with only a compiler
 * barrier (membarrier makes it a full fence when a sleeper needs it); if
 * membarrier is unavailable, shmap__ring_strong is set and wakers fence.
 */
extern int shmap__ring_strong;
void shmap__ring_heavy_barrier(void);

/*
 * After a publish (producer) or a release (consumer): is anyone asleep on
 * the other side? `w` is cons_sleepers or prod_sleeping.
 */
static inline int ring_sleepers(const volatile uint32_t *w)
{
	if (shmap_unlikely(shmap__ring_strong))
		shmap_atomic_fence_full(); /* pairs with W1 when membarrier is missing */
	else
		shmap_compiler_barrier(); /* W2: pairs with W1 via the waiter's membarrier */
	return shmap_atomic_load_u32(w) != 0;
}

/* The wake-ups themselves (ring.c), out of line: the single-element paths
 * below reach them by a tail call, so their fast path needs no stack frame.
 * Both return SHMAP_OK. */
int shmap__ring_wake_data(struct shmap_ring *r);
int shmap__ring_wake_space(struct shmap_ring *r);
/* One element through push_n/pop_n (the paths' slow cases), and one
 * element of another size than 8 at a position known free/published. */
int shmap__spsc_push1_slow(struct shmap_ring *r, const void *src);
int shmap__spsc_pop1_slow(struct shmap_ring *r, void *dst);
int shmap__spsc_push1_any(struct shmap_ring *r, uint64_t p, const void *src);
int shmap__spsc_pop1_any(struct shmap_ring *r, uint64_t c, void *dst);

/* After the producer published: wake sleeping consumers. */
static inline void ring_wake_consumers(struct shmap_ring *r)
{
	if (shmap_unlikely(ring_sleepers(&r->ctl->cons_sleepers)))
		(void)shmap__ring_wake_data(r);
}

/* SPMC: after the producer published k elements (each for one consumer):
 * wake at most k + 1 sleeping consumers, not the whole pool (ring.c). The
 * one spare keeps the wake-up latency of waking all: the kernel wakes
 * waiters in queue order, and the first may wait behind a busy CPU while
 * the second runs at once (measured with shmap-bench spmc-wake-lat). */
int shmap__ring_wake_data_n(struct shmap_ring *r, uint64_t n);
static inline void ring_wake_consumers_n(struct shmap_ring *r, uint64_t k)
{
	if (shmap_unlikely(ring_sleepers(&r->ctl->cons_sleepers)))
		(void)shmap__ring_wake_data_n(r, k + 1);
}

/* After a consumer released slots: wake a sleeping producer. */
static inline void ring_wake_producer(struct shmap_ring *r)
{
	if (shmap_unlikely(ring_sleepers(&r->ctl->prod_sleeping)))
		(void)shmap__ring_wake_space(r);
}

/* ---- per-type operations (ring_spsc.c, ring_spmc.c, ring_bcast.c) ----
 * push_n: push up to n (k returned in *done); returns OK / FULL / RECOVERED / CORRUPT.
 * pop_n: pop up to n; OK / EMPTY / OVERRUN / CORRUPT.
 * reserve/commit/peek/release: zero-copy.
 * attach: after the role word/record is taken: repair and set private state.
 * maint: producer slow path when FULL for a while: reclaim from dead peers;
 *   returns SHMAP_RECOVERED if it freed something, else SHMAP_OK.
 */
int shmap__spsc_push_n(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done);
int shmap__spsc_pop_n(struct shmap_ring *r, void *dst, uint32_t n, uint32_t *done);
int shmap__spsc_reserve(struct shmap_ring *r, uint32_t n, void **ptr, uint32_t *got);
void shmap__spsc_commit(struct shmap_ring *r, uint32_t n);
int shmap__spsc_peek(struct shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got);
void shmap__spsc_release(struct shmap_ring *r, uint32_t n);
uint64_t shmap__ring_repair_head(struct shmap_ring *r);
uint64_t shmap__ring_repair_tail(struct shmap_ring *r);
uint64_t shmap__ring_check_slots(struct shmap_ring *r);

int shmap__spmc_push_n(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done);
int shmap__spmc_pop_n(struct shmap_ring *r, void *dst, uint32_t n, uint32_t *done);
int shmap__spmc_reserve(struct shmap_ring *r, uint32_t n, void **ptr, uint32_t *got);
int shmap__spmc_peek(struct shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got);
void shmap__spmc_release(struct shmap_ring *r);
int shmap__spmc_maint(struct shmap_ring *r);
uint64_t shmap__spmc_reap_all(struct shmap_ring *r);
uint64_t shmap__spmc_reap_dead_rec(struct shmap_ring *r, struct ring_rec *rec);

int shmap__bcast_push_n(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done);
int shmap__bcast_pop_n(struct shmap_ring *r, void *dst, uint32_t n, uint32_t *done);
int shmap__bcast_reserve(struct shmap_ring *r, uint32_t n, void **ptr, uint32_t *got);
void shmap__bcast_commit(struct shmap_ring *r, uint32_t n);
int shmap__bcast_peek(struct shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got);
int shmap__bcast_release(struct shmap_ring *r, uint32_t n);
int shmap__bcast_maint(struct shmap_ring *r);
uint64_t shmap__bcast_min_cursor(struct shmap_ring *r, uint64_t head);
void shmap__bcast_subscribe(struct shmap_ring *r);
uint64_t shmap__bcast_drop_dead(struct shmap_ring *r);

/*
 * The slow and wake-up exits of the fast paths below, each followed by the
 * SIGBUS guard's check on the way out (shmap__seg_leave()), out of line so
 * that the fast paths reach them with a tail call and need no stack frame.
 */
#define RING_LEAVE_EXIT(name, call, ...)                                                            \
	static __attribute__((noinline, unused)) int name(struct shmap_ring *r, __VA_ARGS__)         \
	{                                                                                           \
		return shmap__seg_leave(&r->seg, call);                                             \
	}
RING_LEAVE_EXIT(ring_push1_slow_leave, shmap__spsc_push1_slow(r, src), const void *src)
RING_LEAVE_EXIT(ring_push1_any_leave, shmap__spsc_push1_any(r, p, src), uint64_t p, const void *src)
RING_LEAVE_EXIT(ring_pop1_slow_leave, shmap__spsc_pop1_slow(r, dst), void *dst)
RING_LEAVE_EXIT(ring_pop1_any_leave, shmap__spsc_pop1_any(r, c, dst), uint64_t c, void *dst)
static __attribute__((noinline, unused)) int ring_wake_data_leave(struct shmap_ring *r)
{
	return shmap__seg_leave(&r->seg, shmap__ring_wake_data(r));
}
static __attribute__((noinline, unused)) int ring_wake_space_leave(struct shmap_ring *r)
{
	return shmap__seg_leave(&r->seg, shmap__ring_wake_space(r));
}

/*
 * SPSC streaming look-ahead (single elements of up to 256 bytes): ask now
 * for the lines of the element at pos + d (about 256 bytes further on), so
 * that several line transfers between the CPUs are in flight at once
 * instead of one per call. Only a position the caller already owns is
 * touched: the producer prefetches, for writing, a slot below its lim (one
 * the consumer has released); the consumer prefetches a slot below its lim
 * (published, and not written again before the consumer releases it). A
 * prefetch reads nothing into any result; only private fields (lim, mask,
 * esize) decide the address.
 */
static inline void ring_spsc_ahead(const struct shmap_ring *r, uint64_t pos, uint64_t d, uint32_t es,
				   int write)
{
	if (pos + d >= r->lim)
		return;
	const uint8_t *s = ring_slot(r, pos + d);
	for (uint32_t off = 0; off < es; off += SHMAP_CACHELINE) {
		if (write)
			__builtin_prefetch(s + off, 1);
		else
			__builtin_prefetch(s + off, 0);
	}
}

/*
 * SPSC single-element fast paths, inlined into shmap_ring_push/pop. They
 * repeat the steps of shmap__spsc_push_n/pop_n (same failpoints, same
 * barriers) for the case where the slot is already known free/ready, and
 * fall back to those for everything else (probing, EMPTY/FULL, CORRUPT).
 * 8- and 64-byte elements are copied here; other sizes by the out-of-line
 * paths (shmap__spsc_push1_any/pop1_any, fixed-size copies for 16-256).
 */
/* always inlined into shmap_ring_push/pop (and nowhere else is hot): the
 * caller's gate and this path are one leaf function */
__attribute__((always_inline)) static inline int ring_spsc_push1(struct shmap_ring *r, const void *src)
{
	uint64_t p = r->pos;
	if (shmap_unlikely(p >= r->lim))
		return ring_push1_slow_leave(r, src);
	if (shmap_likely(r->esize == 8)) {
		memcpy(ring_slot(r, p), src, 8);
	} else if (r->esize == 64) {
		ring_spsc_ahead(r, p, 4, 64, 1);
		memcpy(ring_slot(r, p), src, 64);
	} else {
		return ring_push1_any_leave(r, p, src);
	}
	SHMAP_FAILPOINT("ring.spsc.push.copied");
	/* R1: release, pairs with A2 in spsc_ready()/ring_spsc_pop1() (ring_spsc.c):
	 * start word of the publication [p, p + 1) */
	shmap_atomic_store_release_u64(&r->seq[p & r->mask], p + 1);
	SHMAP_FAILPOINT("ring.spsc.push.published");
	r->pos = p + 1;
	/* R1b: release, pairs with the acquire loads of head at attach and in
	 * shmap_ring_read_at(); own line, not read on the consumer's fast path */
	shmap_atomic_store_release_u64(&r->ctl->head, p + 1);
	/* as ring_wake_consumers(), the wake-up a tail call */
	if (shmap_unlikely(ring_sleepers(&r->ctl->cons_sleepers)))
		return ring_wake_data_leave(r);
	/* the SIGBUS guard's check on the way out (segment.h) */
	return shmap__seg_leave(&r->seg, SHMAP_OK);
}

__attribute__((always_inline)) static inline int ring_spsc_pop1(struct shmap_ring *r, void *dst)
{
	uint64_t c = r->pos;
	if (c >= r->lim) {
		/* Ask for the element's line together with the start word's:
		 * a consumer waiting for the producer then gets both lines in
		 * one transfer time, not one after the other (the copy below
		 * runs only after the start word said "published"). A
		 * prefetch reads nothing into the result. */
		__builtin_prefetch(ring_slot(r, c));
		/* A2: acquire, pairs with R1: the publication starting at c
		 * (its start word says where it ends) is written before it. */
		uint64_t s = shmap_atomic_load_acquire_u64(&r->seq[c & r->mask]);
		if (s <= c || s - c > r->cap)
			return ring_pop1_slow_leave(r, dst); /* EMPTY or CORRUPT */
		/* Look ahead: follow the start words that lie in the line of
		 * c's (just fetched), so that a consumer behind the producer
		 * touches the start-word line once per line, not once per
		 * element, and never reaches into the next line (which may be
		 * the one the producer is writing). Each word is acquire-loaded
		 * and checked like the first; s grows strictly, so at most 7. */
		while (((s ^ c) & ~UINT64_C(7)) == 0 && s - c < r->cap) {
			/* A2 again: acquire, pairs with R1 of the run starting at s. */
			uint64_t s2 = shmap_atomic_load_acquire_u64(&r->seq[s & r->mask]);
			if (s2 <= s || s2 - c > r->cap)
				break;
			s = s2;
		}
		r->lim = s;
	}
	if (shmap_likely(r->esize == 8)) {
		memcpy(dst, ring_slot(r, c), 8);
	} else if (r->esize == 64) {
		ring_spsc_ahead(r, c, 4, 64, 0);
		memcpy(dst, ring_slot(r, c), 64);
	} else {
		return ring_pop1_any_leave(r, c, dst);
	}
	SHMAP_FAILPOINT("ring.spsc.pop.copied");
	r->pos = c + 1;
	/* R2: release, pairs with A1 in spsc_free() (ring_spsc.c): our reads of
	 * the element complete before the producer may overwrite it. */
	shmap_atomic_store_release_u64(&r->ctl->tail, c + 1);
	SHMAP_FAILPOINT("ring.spsc.pop.released");
	/* as ring_wake_producer(), the wake-up a tail call */
	if (shmap_unlikely(ring_sleepers(&r->ctl->prod_sleeping)))
		return ring_wake_space_leave(r);
	/* the SIGBUS guard's check on the way out (segment.h) */
	return shmap__seg_leave(&r->seg, SHMAP_OK);
}

/* Waiting (ring.c): announce a sleeper of the handle's role (W1 and the
 * heavy barrier included), take it back; the indications are counts. */
void shmap__ring_announce(struct shmap_ring *r);
void shmap__ring_unannounce(struct shmap_ring *r);
/* SHMAP_OK if the role can make progress from position p (see ring.c),
 * else SHMAP_E_FULL / SHMAP_E_EMPTY. */
int shmap__ring_ready(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache);
/* Producer slow path: reclaim from dead peers (ring.c, as push does). */
int shmap__ring_maint(struct shmap_ring *r);
/* Stop the descriptor waiter and close the descriptor (ring_notify.c);
 * in a forked child only closes the inherited descriptor. */
void shmap__ring_notify_drop(struct shmap_ring *r);

/* ---- record rings (ring_rec.c): entry points ring.c dispatches to ---- */
uint64_t shmap__rec_repair_head(struct shmap_ring *r);
uint64_t shmap__rec_repair_tail(struct shmap_ring *r);
int shmap__rec_maint(struct shmap_ring *r);
uint64_t shmap__rec_reap_dead_rec(struct shmap_ring *r, struct ring_rec *rec);
uint64_t shmap__rec_reap_all(struct shmap_ring *r);
void shmap__rec_detach(struct shmap_ring *r);
int shmap__rec_probe(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache);
uint64_t shmap__rec_check(struct shmap_ring *r);

/* Waiting (ring.c), shared with the record rings: what a waiting call
 * retries is one attempt; `blocked` is FULL (producer) or EMPTY (consumer).
 * A record ring's attempt embeds it as its first member. */
struct ring_attempt {
	int (*fn)(struct shmap_ring *r, struct ring_attempt *a);
	const void *src;
	void *dst;
	uint32_t n;
	uint32_t done;
};
int shmap__ring_wait_loop(struct shmap_ring *r, struct ring_attempt *a, uint32_t timeout_ms);
/* Open helpers (ring.c) for ring_rec.c. */
void shmap__ring_mb_register(void);
int shmap__ring_attach(struct shmap_ring *r, uint32_t role);

/* Record helpers (ring.c). */
static inline uint32_t rec_owner(uint64_t ow)
{
	return (uint32_t)ow;
}
static inline uint32_t rec_state(uint64_t ow)
{
	return (uint32_t)(ow >> 32);
}
static inline uint64_t rec_ow(uint32_t state, uint32_t owner)
{
	return (uint64_t)state << 32 | owner;
}

/* Clear a (dead) record's sleeping flag and its share of cons_sleepers. */
void shmap__ring_rec_unsleep(struct shmap_ring *r, struct ring_rec *rec);

#endif /* SHMAP_RING_INTERNAL_H */
