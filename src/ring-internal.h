/* SPDX-License-Identifier: MIT */
/*
 * ring-internal.h - shared layout, the table of operations and the private
 * helpers of the ring buffers. ring.c (roles, waiting, argument checks,
 * inspection) reaches a ring's algorithm only through its struct ring_ops,
 * chosen when the handle is bound to its segment; each type's table, with
 * its algorithm, repair and check, is in its own file (ring_spsc.c,
 * ring_spmc.c, ring_bcast.c, ring_rec_spsc.c, ring_rec_spmc.c,
 * ring_rec_bcast.c); the copy, wake and subscriber helpers they share are
 * in ring_util.c; the SPSC inline fast path in ring_spsc-internal.h.
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
#include "segment-internal.h"

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
#define RING_CROWDED_NS 2000u /* a yield this long: another process ran on our CPU */
#define RING_YIELD_NS (1u * 1000000u) /* then sched_yield() between tries this long */
#define RING_YIELDS 1000u     /* ... and at least this many yields */
#define RING_YIELD_SHIFT_MAX 6u /* the adaptive budget goes down to 1/64 of that */
#define RING_SLICE_NS (100u * 1000000u) /* longest single futex sleep (re-check) */
#define RING_SLICE_DEAD_NS (10u * 1000000u) /* same, for a producer a dead peer can block */
#define RING_STUCK_NS (1u * 1000000u)   /* FULL this long -> probe peers' liveness */
#define RING_RETRY 4096u     /* CAS retry budget per call (SPMC) */

/* An outstanding zero-copy run of a handle (shmap_ring.zc_kind, ring_recx.z_kind). */
#define RING_ZC_NONE 0u
#define RING_ZC_RESERVE 1u /* producer: reserve, until commit */
#define RING_ZC_PEEK 2u    /* consumer: peek, until release */

/* struct ring_ops.flags: properties of a ring type that ring.c may act on */
#define RING_F_CONS_WORD 1u /* one consumer, its role the word ctl.cons_owner (SPSC);
			     * else consumers and subscribers own records */
#define RING_F_CLAIMS 2u    /* consumers claim elements: ctl.lost counts what dead
			     * ones held, a record's pos is its claim start + 1 (SPMC) */
#define RING_F_RECORDS 4u   /* variable-length records (ring_rec.c), not fixed slots */
#define RING_F_LOSSY 8u     /* the producer overwrites what subscribers did not read */

struct shmap_ring;
struct ring_rec;

/*
 * One ring type's operations: one const table per type (two for broadcast,
 * lossy and reliable), chosen at attach (ring_bind(), rec_bind()) and never
 * changed. ring.c calls these and never asks for the type.
 *
 * Fixed-slot element calls (NULL in a record ring's table):
 *   push_n: push up to n (k in *done); OK / FULL / CORRUPT.
 *   pop_n: pop up to n; OK / EMPTY / OVERRUN / CORRUPT.
 *   reserve/commit/peek/release: zero-copy (the run in zc, zc_pos).
 *   read_at: shmap_ring_read_at() for a valid handle (NULL: records).
 * Record calls (ring_rec.c; NULL in a fixed ring's table): as push_n/pop_n
 *   for records of lens[i] bytes; pop may also say BUFSIZE (*need).
 * Roles:
 *   repair_head: producer takeover and checker: the position to go on at.
 *   repair_tail: RING_F_CONS_WORD consumer takeover: the position to read.
 *   join: a record was taken (recovered: from a dead holder): repair what
 *     it held and make it ACTIVE; NULL with RING_F_CONS_WORD.
 *   abandon: the role is given up with a peek outstanding; NULL: nothing
 *     to do (an SPMC claim cannot go back: it is consumed).
 *   maint: producer blocked for a while: reclaim from dead peers, RECOVERED
 *     if room was made; NULL when no dead peer can block the producer.
 *   ready: can the role make progress from p (see shmap__ring_ready())?
 * Inspection and checker:
 *   size: elements (bytes) held, for shmap_ring_size().
 *   low: the lowest position some consumer still holds (stats' tail).
 *   reap_all: checker repair: reclaim every claim of a dead consumer (NULL: none).
 *   reap_rec: a dead record's claim (rec.pos, rec.n as read), at record
 *     takeover, in the checker and the producer's reclaim; elements counted.
 *   free_dead: checker repair: free the records of dead consumers; how many.
 *   check: problems found in the indices and slots (or record headers).
 */
struct ring_ops {
	uint32_t type;  /* SHMAP_RING_*: what shmap_ring_type() reports */
	uint32_t flags; /* RING_F_* */
	int (*push_n)(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done);
	int (*pop_n)(struct shmap_ring *r, void *dst, uint32_t n, uint32_t *done);
	int (*reserve)(struct shmap_ring *r, uint32_t n, void **ptr, uint32_t *got);
	void (*commit)(struct shmap_ring *r, uint32_t n);
	int (*peek)(struct shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got);
	int (*release)(struct shmap_ring *r, uint32_t n);
	int (*read_at)(const struct shmap_ring *r, uint64_t pos, void *out);
	int (*rec_push_n)(struct shmap_ring *r, const uint8_t *src, const uint32_t *lens, uint32_t n,
			  uint32_t *done);
	int (*rec_pop_n)(struct shmap_ring *r, uint8_t *out, uint64_t out_len, uint32_t *lens, uint32_t n,
			 uint32_t *done, uint32_t *need);
	int (*rec_reserve)(struct shmap_ring *r, uint32_t len, void **ptr);
	void (*rec_commit)(struct shmap_ring *r, uint32_t len);
	int (*rec_peek)(struct shmap_ring *r, const void **ptr, uint32_t *len);
	int (*rec_release)(struct shmap_ring *r);
	uint64_t (*repair_head)(struct shmap_ring *r);
	uint64_t (*repair_tail)(struct shmap_ring *r);
	void (*join)(struct shmap_ring *r, int recovered);
	void (*abandon)(struct shmap_ring *r);
	int (*maint)(struct shmap_ring *r);
	int (*ready)(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache);
	uint64_t (*size)(const struct shmap_ring *r, uint64_t head);
	uint64_t (*low)(const struct shmap_ring *r, uint64_t head);
	uint64_t (*reap_all)(struct shmap_ring *r);
	uint64_t (*reap_rec)(struct shmap_ring *r, struct ring_rec *rec, uint64_t pos, uint32_t nf);
	uint64_t (*free_dead)(struct shmap_ring *r);
	uint64_t (*check)(struct shmap_ring *r);
};

extern const struct ring_ops shmap__ring_spsc_ops;       /* ring_spsc.c */
extern const struct ring_ops shmap__ring_spmc_ops;       /* ring_spmc.c */
extern const struct ring_ops shmap__ring_lossy_ops;      /* ring_bcast.c */
extern const struct ring_ops shmap__ring_reliable_ops;   /* ring_bcast.c */
extern const struct ring_ops shmap__ring_rec_spsc_ops;   /* ring_rec_spsc.c */
extern const struct ring_ops shmap__ring_rec_spmc_ops;   /* ring_rec_spmc.c */
extern const struct ring_ops shmap__ring_rec_lossy_ops;  /* ring_rec_bcast.c */
extern const struct ring_ops shmap__ring_rec_reliable_ops; /* ring_rec_bcast.c */

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
	uint32_t z_kind;        /* RING_ZC_* */
	uint32_t pad;
	uint64_t z_pos;         /* start of the reservation / peeked unit (pad included) */
	uint64_t z_rec;         /* position of the reserved / peeked record's header */
	uint64_t ihi;           /* lossy producer: highest intent stored */
	uint64_t free;          /* SPMC producer: free cursor (ring_rec_spmc.c) */
};

struct shmap_ring {
	struct shmap__seg seg;
	const struct ring_ops *ops; /* the type's operations (chosen at attach) */
	/* The inline SPSC paths' gate reads these two as one pair (ring.c). */
	uint32_t fast_role;     /* the role held if the inline SPSC paths serve it, else 0 */
	uint32_t zc;            /* outstanding reserve/peek length, 0 none */
	/* private copies of the parameters (never re-read from shared memory) */
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
	uint32_t wait_crowded;  /* waiting calls: 1 if the last yield let another process run */
	uint32_t zc_kind;       /* RING_ZC_* */
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

/*
 * Copy n bytes (a multiple of 8, the size known to the compiler) from the
 * caller's element into a slot in 8-byte words that pass through general
 * registers. A caller has usually just written its element with 8-byte or
 * smaller stores; a 16- or 32-byte load of those bytes cannot be forwarded
 * from the store buffer and waits until every older store has left it,
 * among them the previous element's stores into lines the consumer holds:
 * one cross-CPU transfer per element that nothing overlaps (spsc-64 moved
 * 0.72x the elements per second it moves with this copy). An 8-byte load is
 * forwarded from any store that covers it. The empty asm keeps the compiler
 * from merging the loads into vector loads again.
 */
__attribute__((always_inline)) static inline void ring_copy_in_w8(void *dst, const void *src, uint32_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	for (uint32_t off = 0; off < n; off += 8) {
		uint64_t w;
		memcpy(&w, s + off, 8);
		__asm__("" : "+r"(w));
		memcpy(d + off, &w, 8);
	}
}

static inline void ring_copy_out(const struct shmap_ring *r, uint64_t pos, void *dst)
{
	const uint8_t *s = ring_slot(r, pos);
	if (r->esize == 8)
		memcpy(dst, s, 8);
	else
		memcpy(dst, s, r->esize);
}

/* h - t clamped to [0, cap]: an element count from two shared indices. */
static inline uint64_t ring_clamp(uint64_t h, uint64_t t, uint64_t cap)
{
	if (h <= t)
		return 0;
	return h - t > cap ? cap : h - t;
}

/* ---- shared helpers (ring_util.c) ---- */

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
void shmap__ring_mb_register(void);
void shmap__ring_heavy_barrier(void);

/*
 * After a publish (producer) or a release (consumer): is anyone asleep on
 * the other side? `w` is cons_sleepers or prod_sleeping.
 */
static inline int ring_sleepers(const volatile uint32_t *w)
{
	if (shmap_unlikely(shmap__ring_strong))
		shmap__atomic_fence_full(); /* pairs with W1 when membarrier is missing */
	else
		shmap_compiler_barrier(); /* W2: pairs with W1 via the waiter's membarrier */
	return shmap__atomic_load_u32(w) != 0;
}

/* The wake-ups themselves, out of line: the single-element paths reach
 * them by a tail call, so their fast path needs no stack frame. Both
 * return SHMAP_OK. */
int shmap__ring_wake_data(struct shmap_ring *r);
int shmap__ring_wake_space(struct shmap_ring *r);

/* After the producer published: wake sleeping consumers. */
static inline void ring_wake_consumers(struct shmap_ring *r)
{
	if (shmap_unlikely(ring_sleepers(&r->ctl->cons_sleepers)))
		(void)shmap__ring_wake_data(r);
}

/* SPMC: after the producer published k elements (each for one consumer):
 * wake at most k + 1 sleeping consumers, not the whole pool. The one spare
 * keeps the wake-up latency of waking all: the kernel wakes waiters in
 * queue order, and the first may wait behind a busy CPU while the second
 * runs at once (measured with shmap-bench spmc-wake-lat). */
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

/* Sleeper counts: take one off unless already 0 (1 if this call did);
 * clear a (dead) record's sleeping count and its share of cons_sleepers. */
int shmap__ring_count_dec(volatile uint32_t *w);
void shmap__ring_rec_unsleep(struct shmap_ring *r, struct ring_rec *rec);

/* Broadcast, fixed and record rings: the lowest cursor of the ACTIVE
 * subscribers (clamped to head; head if none); subscribing (the record is
 * CLAIMING: become ACTIVE at the newest position); the reliable producer's
 * slow path (drop dead subscribers at least `behind` positions behind p:
 * RECOVERED if any was); the checker's (drop every dead subscriber). */
uint64_t shmap__bcast_min_cursor(const struct shmap_ring *r, uint64_t head);
void shmap__bcast_join(struct shmap_ring *r, int recovered);
int shmap__bcast_drop_behind(struct shmap_ring *r, uint64_t behind);
uint64_t shmap__bcast_drop_dead(struct shmap_ring *r);
/* Sizes as shmap_ring_size() reports them, shared by fixed and record rings. */
uint64_t shmap__ring_size_tail(const struct shmap_ring *r, uint64_t head);
uint64_t shmap__ring_size_lossy(const struct shmap_ring *r, uint64_t head);
uint64_t shmap__ring_size_reliable(const struct shmap_ring *r, uint64_t head);
uint64_t shmap__ring_low_tail(const struct shmap_ring *r, uint64_t head);
/* read_at in a ring whose slot words carry the state (SPMC, broadcast). */
int shmap__ring_read_seq(const struct shmap_ring *r, uint64_t pos, void *out, uint64_t lo, uint64_t h);
/* SPMC, fixed and record rings: a consumer took a record (recovered: from
 * a dead holder, whose claim is reclaimed first); the checker's repair:
 * reclaim each dead consumer's claim and free its record. */
void shmap__spmc_join(struct shmap_ring *r, int recovered);
uint64_t shmap__spmc_reap_dead(struct shmap_ring *r, struct ring_rec *rec);
uint64_t shmap__spmc_free_dead(struct shmap_ring *r);
/* SPMC record: rec.n = claim length | RING_CLAIMED once the claim CAS won. */
#define RING_CLAIMED 0x80000000u
/* The producer's reclaim of position x, a published unit (fixed and record
 * SPMC rings): 1 when the caller has nothing more to do (*lost: what was
 * counted lost; 0 if x is unclaimed or a live consumer holds it), after
 * reclaiming through the dead record that names x if one does; 0 when x is
 * claimed and no record names it: the caller reclaims that one unit.
 * Bounded by max_consumers liveness probes. */
int shmap__spmc_reap_held(struct shmap_ring *r, uint64_t x, uint64_t *lost);

/* ---- what ring.c exports to the other ring files ---- */

/* Waiting: announce a sleeper of the handle's role (W1 and the heavy
 * barrier included), take it back; the indications are counts. */
void shmap__ring_announce(struct shmap_ring *r);
void shmap__ring_unannounce(struct shmap_ring *r);
/* SHMAP_OK if the role can make progress from position p (see ring.c),
 * else SHMAP_E_FULL / SHMAP_E_EMPTY. */
int shmap__ring_ready(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache);
/* Producer slow path: reclaim from dead peers (as push does). */
int shmap__ring_maint(struct shmap_ring *r);
/* A blocked producer's non-waiting call returned FULL: 1 if it has lasted
 * RING_STUCK_NS and reclaiming from dead peers made room (retry then). */
int shmap__ring_full_reclaim(struct shmap_ring *r);
/* Stop the descriptor waiter and close the descriptor (ring_notify.c);
 * in a forked child only closes the inherited descriptor. */
void shmap__ring_notify_drop(struct shmap_ring *r);

/* Waiting, shared with the record rings: what a waiting call retries is
 * one attempt; `blocked` is FULL (producer) or EMPTY (consumer). A record
 * ring's attempt embeds it as its first member. */
struct ring_attempt {
	int (*fn)(struct shmap_ring *r, struct ring_attempt *a);
	const void *src;
	void *dst;
	uint32_t n;
	uint32_t done;
};
int shmap__ring_wait_loop(struct shmap_ring *r, struct ring_attempt *a, uint32_t timeout_ms);
/* Open: the segment is open (seg_rc its result) and bound: take the role,
 * hand the handle out (or close it). */
int shmap__ring_open_finish(struct shmap_ring *r, int seg_rc, uint32_t role, shmap_ring **ret);

/* Record helpers. */
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

#endif /* SHMAP_RING_INTERNAL_H */
