/* SPDX-License-Identifier: MIT */
/*
 * ring_util.c - what the ring types share: element copies across the wrap,
 * the wake-ups and the sleeper counts, the process's heavy-barrier
 * registration, and the size and low-water answers that several types
 * give the same way. Calls go down into this file from ring.c and the
 * type files; nothing here calls back up.
 */
#include <unistd.h>

#include "ring-internal.h"

/* ------------------------------------------------------------------ copies */

void shmap__ring_copy_in_n(const struct shmap_ring *r, uint64_t pos, const void *src, uint64_t k)
{
	uint64_t i = pos & r->mask;
	uint64_t first = r->cap - i < k ? r->cap - i : k;
	memcpy(r->data + (size_t)i * r->esize, src, (size_t)first * r->esize);
	if (first < k)
		memcpy(r->data, (const uint8_t *)src + (size_t)first * r->esize,
		       (size_t)(k - first) * r->esize);
}

void shmap__ring_copy_out_n(const struct shmap_ring *r, uint64_t pos, void *dst, uint64_t k)
{
	uint64_t i = pos & r->mask;
	uint64_t first = r->cap - i < k ? r->cap - i : k;
	memcpy(dst, r->data + (size_t)i * r->esize, (size_t)first * r->esize);
	if (first < k)
		memcpy((uint8_t *)dst + (size_t)first * r->esize, r->data,
		       (size_t)(k - first) * r->esize);
}

/* ---------------------------------------------------- barriers and wake-ups */

int shmap__ring_strong;
static int ring_mb_pid; /* process that registered (registration is per process) */

/*
 * Register this process for the platform's heavy barrier (membarrier
 * GLOBAL_EXPEDITED on Linux; platform-internal.h), once per process: a
 * child after fork registers again at its first open/reattach.
 * Without it, every waker in this process fences instead.
 */
void shmap__ring_mb_register(void)
{
	int pid = (int)getpid();
	/* acquire: pairs with the release store below (another thread of this
	 * process registered, and set shmap__ring_strong first if it had to) */
	if (__atomic_load_n(&ring_mb_pid, __ATOMIC_ACQUIRE) == pid)
		return;
	if (shmap__plat_heavy_barrier_register() != 0)
		__atomic_store_n(&shmap__ring_strong, 1, __ATOMIC_RELAXED);
	/* release: pairs with the acquire load above */
	__atomic_store_n(&ring_mb_pid, pid, __ATOMIC_RELEASE);
}

void shmap__ring_heavy_barrier(void)
{
	if (shmap__ring_strong || shmap__plat_heavy_barrier() != 0)
		/* W1 without the heavy barrier: pairs with the full fence in
		 * ring_sleepers() (shmap__ring_strong) */
		shmap__atomic_fence_full();
}

int shmap__ring_wake_data(struct shmap_ring *r)
{
	return shmap__ring_wake_data_n(r, 0x7fffffff);
}

/*
 * Wake at most n of the waiters sleeping on data_ev. No wake-up is lost by
 * waking fewer than all: the bump comes first, so a waiter that read the
 * word before it and has not reached the kernel yet returns at once from
 * its futex wait (the kernel compares the word) and re-tries; the n woken
 * ones re-try too (every return from the futex wait in ring.c is followed
 * by an attempt). SPMC passes n > elements published, each for one
 * consumer: every element is then either taken by one of those n, or by a
 * consumer that was awake anyway (and the woken one that finds the ring
 * empty sleeps again). A waiter that dies between its wake-up and its
 * attempt can delay another sleeper by one futex slice (RING_SLICE_NS),
 * never strand it.
 */
int shmap__ring_wake_data_n(struct shmap_ring *r, uint64_t n)
{
	/* full: the bump is ordered after the publication that caused it and
	 * pairs with the waiter's acquire load of data_ev before its re-try */
	shmap__atomic_fetch_add_full_u32(&r->ctl->data_ev, 1);
	shmap__futex_wake(&r->ctl->data_ev, n < 0x7fffffff ? (int)n : 0x7fffffff);
	return SHMAP_OK;
}

int shmap__ring_wake_space(struct shmap_ring *r)
{
	/* full: as in shmap__ring_wake_data_n(), for space_ev */
	/* full: the bump after the release that freed room; pairs with the waiter's acquire load of
	 * space_ev */
	shmap__atomic_fetch_add_full_u32(&r->ctl->space_ev, 1);
	shmap__futex_wake(&r->ctl->space_ev, 0x7fffffff);
	return SHMAP_OK;
}

/*
 * Decrement a sleeper count unless it is already 0 (a peer may have reset or
 * scribbled it); a bounded number of tries, since a hostile peer can keep
 * changing it. Returns 1 if this call took one off.
 */
int shmap__ring_count_dec(volatile uint32_t *w)
{
	uint32_t o = shmap__atomic_load_u32(w);
	for (int i = 0; i < 64 && o != 0; i++) {
		/* full CAS: a count, ordered with the waiter's other accesses
		 * as the increment in shmap__ring_announce() is */
		uint32_t seen = shmap__atomic_cas_full_u32(w, o, o - 1);
		if (seen == o)
			return 1;
		o = seen;
	}
	return 0;
}

void shmap__ring_rec_unsleep(struct shmap_ring *r, struct ring_rec *rec)
{
	/* take all of the record's sleepers (its owner may have had a waiting
	 * call and a descriptor waiter asleep at once) off the ring's count */
	uint32_t n = shmap__atomic_load_u32(&rec->sleeping);
	for (int i = 0; i < 64 && n != 0; i++) {
		/* full CAS and add: counts, as in shmap__ring_count_dec() */
		/* full CAS: a count, as in shmap__ring_count_dec() */
		uint32_t seen = shmap__atomic_cas_full_u32(&rec->sleeping, n, 0);
		if (seen == n) {
			/* full add: a count, as the increments in shmap__ring_announce() */
			shmap__atomic_fetch_add_full_u32(&r->ctl->cons_sleepers, 0u - n);
			return;
		}
		n = seen;
	}
	shmap__atomic_store_u32(&rec->sleeping, 0);
}

/* ------------------------------------------------------- sizes, low water */

/* SPSC, SPMC (fixed and record): [tail, head). */
uint64_t shmap__ring_low_tail(const struct shmap_ring *r, uint64_t head)
{
	(void)head;
	/* acquire: pairs with the consumers' release of tail (R2 in
	 * spsc_consumed(), the SPMC claim CAS, the record rings' release) */
	return shmap__atomic_load_acquire_u64(&r->ctl->tail);
}

uint64_t shmap__ring_size_tail(const struct shmap_ring *r, uint64_t head)
{
	return ring_clamp(head, shmap__ring_low_tail(r, head), r->cap);
}

/* Lossy broadcast: a subscriber's unread part, else the ring's window. */
uint64_t shmap__ring_size_lossy(const struct shmap_ring *r, uint64_t head)
{
	if (r->role == SHMAP_RING_CONSUMER)
		return ring_clamp(head, r->pos, r->cap);
	return head < r->cap ? head : r->cap;
}

/* Reliable broadcast: a subscriber's unread part, else above the slowest. */
uint64_t shmap__ring_size_reliable(const struct shmap_ring *r, uint64_t head)
{
	if (r->role == SHMAP_RING_CONSUMER)
		return ring_clamp(head, r->pos, r->cap);
	return ring_clamp(head, shmap__bcast_min_cursor(r, head), r->cap);
}

/*
 * Non-consuming read in a ring whose slot words carry the state (SPMC,
 * broadcast): pos must lie in [lo, h). The slot's word is checked before
 * the copy (acquire: pairs with the producer's publishing release store,
 * R3 in ring_spmc.c, R7 in ring_bcast.c) and after it: SPMC slots change
 * their word before they can be rewritten (seq = p + cap on release) and
 * the lossy producer marks a slot WRITING before it rewrites it, so the
 * word alone detects an overwrite. (The reliable producer rewrites a slot
 * with its word unchanged until the new publish, but only once the lowest
 * subscriber cursor passed the position: its caller re-checks that.)
 */
int shmap__ring_read_seq(const struct shmap_ring *r, uint64_t pos, void *out, uint64_t lo, uint64_t h)
{
	if (pos >= h || pos < lo || h - lo > r->cap)
		return SHMAP_E_RANGE;
	volatile uint64_t *sw = &r->seq[pos & r->mask];
	/* acquire: pairs with the publishing release store (R3 / R7) */
	uint64_t s1 = shmap__atomic_load_acquire_u64(sw);
	if (s1 != pos + 1)
		return SHMAP_E_RANGE;
	if (r->ops->flags & RING_F_LOSSY) /* the producer copies in relaxed atomics too */
		shmap__atomic_copy_out(out, ring_slot(r, pos), r->esize);
	else
		ring_copy_out(r, pos, out);
	/* acquire fence: the copy's loads complete before the re-check below;
	 * pairs with R5 (the lossy WRITING mark before the new bytes) and R4
	 * (an SPMC slot given back after its reads) */
	shmap__atomic_fence_acquire();
	if (shmap__atomic_load_u64(sw) != s1)
		return SHMAP_E_OVERRUN;
	return SHMAP_OK;
}
