/* SPDX-License-Identifier: MIT */
/*
 * ring_spsc.c - single-producer single-consumer ring.
 *
 * Design notes
 * ------------
 * Forward channel: publication start words. The producer owns position
 * `pos` privately. It publishes a run of k >= 1 elements [p, p + k) (one
 * push, a push_n batch, a commit) by one release store seq[p & mask] =
 * p + k into the slot word of the run's FIRST position; the words of the
 * other slots of the run are not touched. It then stores head = p + k on
 * its own cache line (read by takeover, inspection and a consumer's
 * attach only, never on the consumer's fast path).
 *
 * The consumer keeps `lim`, the end of the published range it knows. When
 * it reaches lim, lim is the start of the next publication (every end is
 * the next start), so it reads seq[lim]: a value s with lim < s <= lim + cap
 * is that publication's end; anything <= lim is an older lap's word (a
 * word written for position q == lim - m * cap holds at most q + cap <=
 * lim): nothing published yet. So
 *   - single pushes cost one data line and one start-word line per 8
 *     elements, as per-slot sequence words did, and a lagging consumer
 *     never touches the line the producer is writing;
 *   - a batch of 64 eight-byte elements moves 8 data lines and ONE word:
 *     batch publication is one release store;
 *   - a consumer attaching (takeover, reattach) starts at tail with lim =
 *     head: [tail, head) is published and head is a publication boundary;
 *   - pop of one element, on reaching lim, also follows the start words
 *     that lie in the same line as the one it read (at most 7), and
 *     prefetches the element's line with the start word, so that a waiting
 *     consumer receives both lines together.
 *
 * Back channel: the consumer's `tail` (its own cache line), stored with
 * release after the elements were copied out (the consumer never reads a
 * slot after releasing it). The producer caches the tail it last read in
 * `lim` (= tail + cap, the first position it may not write) and re-reads
 * tail only when it reaches lim, i.e. at most once per `cap` elements
 * while the consumer keeps up. Every line has a single writer.
 *
 * Invariants (quiescent): tail <= head <= tail + cap; positions in
 * [tail, head) are published; every word seq[i] is 0 or q + k for a run
 * [q, q + k) that started at a position q == i (mod cap), so seq[i] <= head.
 *
 * Crash behaviour:
 *   producer killed after the data copy, before the start word: the run
 *     never existed; a new producer overwrites it. After the start word it
 *     is published, the whole run at once (a batch is never half-visible).
 *   producer killed after the start word, before storing head: the
 *     takeover (spsc_repair_head()) follows start words from head.
 *   consumer killed after copying, before storing tail: the elements stay
 *     in the ring and the next consumer reads them again (at-least-once for
 *     the elements of that one call). After the tail store they are
 *     consumed.
 *
 * Hostile peer: a start word beyond c + cap (c the consumer's position), or
 * a tail outside [p - cap, p] seen by the producer, is SHMAP_E_CORRUPT and
 * nothing is read or written; every slot index is masked with the private
 * mask; the takeover walk is bounded by the private capacity.
 */
#include "ring_spsc-internal.h"

/*
 * Producer: how many of positions [p, p + want) are free (0..want), want <= cap.
 * Sets *bad when the consumer's tail is not in [head - cap, head].
 */
static inline uint64_t spsc_free(struct shmap_ring *r, uint64_t p, uint64_t want, int *bad)
{
	if (shmap_likely(p + want <= r->lim))
		return want;
	/* A1: acquire, pairs with R2 in spsc_consumed(): the consumer
	 * finished reading every slot below tail. */
	/* acquire: pairs with R2 in spsc_consumed() */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	if (t > p || p - t > r->cap) {
		*bad = 1; /* hostile or corrupt tail: refuse to overwrite anything */
		return 0;
	}
	r->lim = t + r->cap;
	return p + want <= r->lim ? want : r->lim - p;
}

/*
 * Consumer: how many of positions [c, c + want) are published (0..want).
 * Follows start words from lim while fewer than `want` are known (at most
 * want words: each extends lim by at least one). Sets *bad on a start word
 * that claims more than a ring's worth beyond c.
 */
static inline uint64_t spsc_ready(struct shmap_ring *r, uint64_t c, uint64_t want, int *bad)
{
	if (shmap_likely(c + want <= r->lim))
		return want;
	if (r->lim < c)
		r->lim = c;
	/* As ring_spsc_pop1(): when the next start word decides, ask for the
	 * element's line with it, so a waiting consumer (peek, pop_n) gets
	 * both lines in one transfer time. A prefetch reads nothing. */
	if (r->lim == c)
		__builtin_prefetch(ring_slot(r, c));
	uint64_t last = r->lim; /* position of the last start word read */
	for (uint64_t i = 0; i < want && r->lim < c + want; i++) {
		/* A2: acquire, pairs with R1 in spsc_publish(): the run's
		 * elements are written before its start word. */
		last = r->lim;
		/* A2 (see the comment above the loop): pairs with R1 in spsc_publish() */
		uint64_t s = shmap__atomic_load_acquire_u64(&r->seq[r->lim & r->mask]);
		if (s <= r->lim)
			break; /* an older lap's word: not published yet */
		if (s - c > r->cap) {
			if (r->lim == c)
				*bad = 1; /* hostile or corrupt start word */
			break;
		}
		r->lim = s;
	}
	/* Look ahead, as ring_spsc_pop1() does (spsc_follow()), so that a
	 * consumer taking one element per call (peek(1), pop_n(1)) touches the
	 * start-word line once per line, not once per element. */
	if (r->lim > last)
		r->lim = spsc_follow(r, c, last, r->lim);
	return r->lim - c < want ? r->lim - c : want;
}

/* Publish / give back with the wake-up (the steps in ring_spsc-internal.h). */
static inline void spsc_publish_wake(struct shmap_ring *r, uint64_t p, uint64_t k)
{
	if (spsc_publish(r, p, k))
		(void)shmap__ring_wake_data(r);
}

static inline void spsc_consumed_wake(struct shmap_ring *r, uint64_t c, uint64_t k)
{
	if (spsc_consumed(r, c, k))
		(void)shmap__ring_wake_space(r);
}

static int spsc_push_n(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done);
static int spsc_pop_n(struct shmap_ring *r, void *dst, uint32_t n, uint32_t *done);

int shmap__spsc_push1_slow(struct shmap_ring *r, const void *src)
{
	uint32_t d;
	return spsc_push_n(r, src, 1, &d);
}

int shmap__spsc_pop1_slow(struct shmap_ring *r, void *dst)
{
	uint32_t d;
	return spsc_pop_n(r, dst, 1, &d);
}

/*
 * Single elements of the common sizes, with the size known to the compiler:
 * inline moves instead of a generic memcpy() call per element (above 256
 * bytes the call's cost is small beside the copy's own), and while
 * streaming, the look-ahead of ring_spsc_ahead() about 256 bytes further on.
 */
#define SPSC_COPY1(r, pos, dst, src, es, write)                          \
	do {                                                             \
		ring_spsc_ahead(r, pos, 256u / (es), es, write);         \
		if ((write) && (es) <= 64)                               \
			ring_copy_in_w8(dst, src, es);                   \
		else                                                     \
			memcpy(dst, src, es);                            \
	} while (0)

/*
 * Elements of 1 KiB and more: one string move. On x86-64 (fast string moves
 * since Ivy Bridge and Zen) `rep movsb` streams whole lines, where the
 * library's vector loop measured up to 2x slower for 1 KiB elements moved
 * between two CPUs; elsewhere memcpy().
 */
#define SPSC_BIG 1024u

static inline void spsc_copy_big(void *dst, const void *src, size_t n)
{
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	/* (sanitizer builds take memcpy(), whose accesses they can see) */
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
#else
	memcpy(dst, src, n);
#endif
}

/*
 * One element between a slot and the caller's buffer, the size known to the
 * compiler for the common sizes (the caller owns position pos). `write`
 * (a constant at each call) says which way: into the slot (1) or out (0).
 */
__attribute__((always_inline)) static inline void spsc_copy1(const struct shmap_ring *r, uint64_t pos,
							    void *dst, const void *src, int write)
{
	switch (r->esize) {
	case 8:
		memcpy(dst, src, 8);
		break;
	case 16:
		SPSC_COPY1(r, pos, dst, src, 16, write);
		break;
	case 32:
		SPSC_COPY1(r, pos, dst, src, 32, write);
		break;
	case 64:
		SPSC_COPY1(r, pos, dst, src, 64, write);
		break;
	case 128:
		SPSC_COPY1(r, pos, dst, src, 128, write);
		break;
	case 256:
		SPSC_COPY1(r, pos, dst, src, 256, write);
		break;
	default:
		if (r->esize >= SPSC_BIG)
			spsc_copy_big(dst, src, r->esize);
		else
			memcpy(dst, src, r->esize);
		break;
	}
}

static inline void spsc_in1(const struct shmap_ring *r, uint64_t p, const void *src)
{
	spsc_copy1(r, p, ring_slot(r, p), src, 1);
}

static inline void spsc_out1(const struct shmap_ring *r, uint64_t c, void *dst)
{
	spsc_copy1(r, c, dst, ring_slot(r, c), 0);
}

int shmap__spsc_push1_any(struct shmap_ring *r, uint64_t p, const void *src)
{
	spsc_in1(r, p, src);
	SHMAP_FAILPOINT("ring.spsc.push.copied");
	spsc_publish_wake(r, p, 1);
	return SHMAP_OK;
}

int shmap__spsc_pop1_any(struct shmap_ring *r, uint64_t c, void *dst)
{
	spsc_out1(r, c, dst);
	SHMAP_FAILPOINT("ring.spsc.pop.copied");
	spsc_consumed_wake(r, c, 1);
	return SHMAP_OK;
}

static int spsc_push_n(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done)
{
	uint64_t p = r->pos;
	int bad = 0;
	uint64_t want = n < r->cap ? n : r->cap;
	uint64_t k = spsc_free(r, p, want, &bad);
	*done = (uint32_t)k;
	if (k == 0)
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_FULL;
	if (k == 1)
		spsc_in1(r, p, src);
	else
		shmap__ring_copy_in_n(r, p, src, k);
	SHMAP_FAILPOINT("ring.spsc.push.copied");
	spsc_publish_wake(r, p, k);
	return SHMAP_OK;
}

static int spsc_pop_n(struct shmap_ring *r, void *dst, uint32_t n, uint32_t *done)
{
	uint64_t c = r->pos;
	int bad = 0;
	uint64_t want = n < r->cap ? n : r->cap;
	uint64_t k = spsc_ready(r, c, want, &bad);
	*done = (uint32_t)k;
	if (k == 0)
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_EMPTY;
	if (k == 1)
		spsc_out1(r, c, dst);
	else
		shmap__ring_copy_out_n(r, c, dst, k);
	SHMAP_FAILPOINT("ring.spsc.pop.copied");
	spsc_consumed_wake(r, c, k);
	return SHMAP_OK;
}

static int spsc_reserve(struct shmap_ring *r, uint32_t n, void **ptr, uint32_t *got)
{
	uint64_t p = r->pos;
	int bad = 0;
	uint64_t run = r->cap - (p & r->mask);
	uint64_t want = n < run ? n : run;
	uint64_t k = spsc_free(r, p, want, &bad);
	if (k == 0)
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_FULL;
	if (r->esize <= 256) /* streaming one run after another: look ahead */
		ring_spsc_ahead(r, p + k - 1, 256u / r->esize, r->esize, 1);
	*ptr = ring_slot(r, p);
	*got = (uint32_t)k;
	r->zc = (uint32_t)k;
	r->zc_pos = p;
	return SHMAP_OK;
}

static void spsc_commit(struct shmap_ring *r, uint32_t n)
{
	SHMAP_FAILPOINT("ring.spsc.push.copied");
	if (n)
		spsc_publish_wake(r, r->zc_pos, n);
}

static int spsc_peek(struct shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got)
{
	uint64_t c = r->pos;
	int bad = 0;
	uint64_t run = r->cap - (c & r->mask);
	uint64_t want = n < run ? n : run;
	uint64_t k = spsc_ready(r, c, want, &bad);
	if (k == 0)
		return bad ? SHMAP_E_CORRUPT : SHMAP_E_EMPTY;
	if (r->esize <= 256) /* streaming one run after another: look ahead */
		ring_spsc_ahead(r, c + k - 1, 256u / r->esize, r->esize, 0);
	*ptr = ring_slot(r, c);
	*got = (uint32_t)k;
	r->zc = (uint32_t)k;
	r->zc_pos = c;
	return SHMAP_OK;
}

static int spsc_release(struct shmap_ring *r, uint32_t n)
{
	SHMAP_FAILPOINT("ring.spsc.pop.copied");
	if (n)
		spsc_consumed_wake(r, r->zc_pos, n);
	return SHMAP_OK;
}

/*
 * Producer takeover: the stored head is always the start of a run, even
 * when it is behind tail: a dead producer may have published runs without
 * storing head, and the consumer may since have consumed into them. So
 * follow start words from the stored head (never from tail, which may sit
 * inside a run whose start word is the only one written), each step
 * forward and never past tail + cap. Bounded by the private capacity; only
 * impossible values (a scribbled head) are clamped.
 */
static uint64_t spsc_repair_head(struct shmap_ring *r)
{
	uint64_t h = shmap__atomic_load_u64(&r->ctl->head);
	/* acquire: pairs with R2 in spsc_consumed() */
	/* acquire: pairs with R2 in spsc_consumed() */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	if (h > t + r->cap || (h < t && t - h > r->cap))
		h = t;
	for (uint64_t i = 0; i < r->cap; i++) {
		/* acquire: pairs with R1 in spsc_publish() of the dead producer */
		uint64_t s = shmap__atomic_load_acquire_u64(&r->seq[h & r->mask]);
		if (s <= h || s - h > r->cap || (s > t && s - t > r->cap))
			break;
		h = s;
	}
	if (h < t)
		h = t; /* the chain does not reach tail: corrupt, best effort */
	shmap__atomic_store_u64(&r->ctl->head, h);
	return h;
}

/*
 * Consumer takeover: tail is authoritative (stored after the copy), so the
 * new consumer starts there; elements a dead consumer copied but did not
 * count are delivered again. A tail beyond head (scribbled) is clamped.
 */
static uint64_t spsc_repair_tail(struct shmap_ring *r)
{
	/* acquire: pairs with R2 in spsc_consumed() of the dead consumer */
	/* acquire: pairs with R2 in spsc_consumed() */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	/* acquire: pairs with R1b in spsc_publish() */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	if (t > h)
		t = h;
	return t;
}

/* Checker: indices in order; a start word ends a run that was published:
 * never beyond head. */
static uint64_t spsc_check(struct shmap_ring *r)
{
	uint64_t bad = 0;
	/* acquire: pair with R1b and R2 (spsc_publish(), spsc_consumed()) */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	/* acquire: pairs with R2 in spsc_consumed() */
	uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	if (t > h || h - t > r->cap)
		bad++;
	for (uint64_t i = 0; i < r->cap; i++)
		if (shmap__atomic_load_u64(&r->seq[i]) > h)
			bad++;
	return bad;
}

/* Can the role make progress from p (lim its known bound)? */
static int spsc_ready_at(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache)
{
	(void)min_cache;
	if (p < lim)
		return SHMAP_OK;
	if (r->role == SHMAP_RING_PRODUCER) {
		/* acquire: pairs with R2 in spsc_consumed() */
		/* acquire: pairs with R2 in spsc_consumed() */
		uint64_t t = shmap__atomic_load_acquire_u64(&r->ctl->tail);
		return t <= p && p - t < r->cap ? SHMAP_OK : SHMAP_E_FULL;
	}
	/* acquire: pairs with R1 in spsc_publish() */
	uint64_t s = shmap__atomic_load_acquire_u64(&r->seq[p & r->mask]);
	return s > p && s - p <= r->cap ? SHMAP_OK : SHMAP_E_EMPTY;
}

/*
 * Non-consuming read: pos < head (acquire, pairs with R1b) makes the
 * element visible, and the producer rewrites the slot only after tail
 * passed pos, so re-reading tail after the copy (behind an acquire fence)
 * and finding it still <= pos proves the copy is intact.
 */
static int spsc_read_at(const struct shmap_ring *r, uint64_t pos, void *out)
{
	/* acquire: pairs with R1b in spsc_publish() */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	/* acquire: pairs with R2 in spsc_consumed() */
	uint64_t lo = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	if (pos >= h || pos < lo || h - lo > r->cap)
		return SHMAP_E_RANGE;
	ring_copy_out(r, pos, out);
	/* acquire fence: the copy's loads complete before the re-check of
	 * tail below; pairs with R2 (a consumer that released pos after) */
	shmap__atomic_fence_acquire();
	/* acquire: pairs with R2 in spsc_consumed() */
	if (shmap__atomic_load_acquire_u64(&r->ctl->tail) > pos)
		return SHMAP_E_OVERRUN; /* consumed meanwhile: may be rewritten */
	return SHMAP_OK;
}

const struct ring_ops shmap__ring_spsc_ops = {
	.type = SHMAP_RING_SPSC,
	.flags = RING_F_CONS_WORD,
	.push_n = spsc_push_n,
	.pop_n = spsc_pop_n,
	.reserve = spsc_reserve,
	.commit = spsc_commit,
	.peek = spsc_peek,
	.release = spsc_release,
	.read_at = spsc_read_at,
	.repair_head = spsc_repair_head,
	.repair_tail = spsc_repair_tail,
	.ready = spsc_ready_at,
	.size = shmap__ring_size_tail,
	.low = shmap__ring_low_tail,
	.check = spsc_check,
};
