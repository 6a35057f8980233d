/* SPDX-License-Identifier: MIT */
/**
 * @file ring.h
 * @brief Ring buffers in shared memory: SPSC, SPMC and broadcast.
 *
 * A ring is a bounded FIFO of fixed-size elements living in one segment.
 * The element size and the capacity are chosen at run time when the ring is
 * created; the capacity is rounded up to a power of two.
 *
 * Types (chosen at creation, stored in the segment):
 * - ::SHMAP_RING_SPSC: one producer, one consumer; in order, exactly once.
 * - ::SHMAP_RING_SPMC: one producer, up to `max_consumers` consumers (an
 *   option: shmap_opts_set_max_consumers(), default 16); every
 *   element goes to exactly one consumer. An element a consumer claimed and
 *   never finished because it died is *counted* in the ring's lost counter
 *   (shmap_ring_lost()), not redelivered: produced == consumed + lost.
 * - ::SHMAP_RING_BCAST_LOSSY: one producer, up to `max_consumers`
 *   subscribers, each sees every element; the producer never waits. A
 *   subscriber that was lapped gets ::SHMAP_E_OVERRUN once, learns how many
 *   elements it missed (shmap_ring_missed()) and continues with the oldest
 *   element still in the ring.
 * - ::SHMAP_RING_BCAST_RELIABLE: as above, but the producer never overwrites
 *   an element a live subscriber has not read: push returns ::SHMAP_E_FULL
 *   (or waits, bounded). A dead subscriber is detected and dropped.
 *
 * Roles: a handle holds exactly one role, ::SHMAP_RING_PRODUCER or
 * ::SHMAP_RING_CONSUMER (a subscriber, for broadcast rings). Attaching a
 * producer while a live producer exists, or a second consumer of an SPSC
 * ring, is ::SHMAP_E_BUSY; so is attaching more than `max_consumers`
 * consumers/subscribers. The role of a process that died is taken over by the
 * next process that asks for it, and the ring's contents survive. Calling an
 * operation of the other role returns ::SHMAP_E_NOTATTACHED. A handle opened
 * with ::SHMAP_RING_OBSERVER holds no role (inspection only).
 *
 * Delivery across crashes (SPSC): a consumer killed inside a pop (or
 * between peek and release) before it released the slots leaves the
 * elements in the ring and the next consumer receives them again
 * (at-least-once for the elements of that one call). Once a call released
 * its slots the elements are consumed: a consumer killed after that point
 * (inside the call or after it returned) loses the elements of that call.
 * A producer killed inside push either published each element or not (a
 * push_n batch or a commit is published all at once: all of its elements
 * or none); a replacement producer continues right after the last
 * published one, and the consumer sees an exact prefix with no gap,
 * duplicate or torn element.
 *
 * Delivery across crashes (SPMC): a consumer that dies holding a claim
 * (between taking elements and finishing the pop/release) never stalls
 * the producer: its claim is reclaimed (by the producer when it needs the
 * slot, by a consumer taking over the dead one's slot, or by
 * shmap_ring_check() with ::SHMAP_CHECK_REPAIR) and its elements are
 * counted in shmap_ring_lost(), never redelivered. With every dead claim
 * reclaimed: elements pushed == elements returned by pops + lost (exactly,
 * unless a reclaimer itself died inside a reclaim: see shmap_ring_lost()).
 *
 * Broadcast subscribers start with the first element pushed after they
 * subscribed (open = subscribe, close = unsubscribe).
 *
 * Handles: one handle must not be used by two threads at the same time
 * (use one handle per thread: each is an independent participant). After
 * fork(), a child calls shmap_ring_reattach() before using an inherited
 * handle (it then holds no role: the parent keeps its role) -- or opens its
 * own handle.
 *
 * Waiting calls sleep in the kernel on a futex word in the segment; when no
 * process sleeps, push and pop make no system call. Event loops wait on a
 * descriptor instead (shmap_ring_notify_fd()), with the same rule.
 *
 * Trust model: a peer with write access to the segment can destroy the
 * ring's contents, but every index read from shared memory is masked with
 * the capacity this process validated at open, and every loop and wait is
 * bounded, so a hostile peer cannot make these calls touch memory outside the
 * mapping, spin forever or block past their deadline (::SHMAP_E_CORRUPT may
 * be returned).
 */
#ifndef SHMAP_RING_H
#define SHMAP_RING_H

#include <shmap/common.h>
#include <shmap/segment.h>
#include <shmap/status.h>

SHMAP_BEGIN_DECLS

/** An open ring handle. Opaque. */
typedef struct shmap_ring shmap_ring;

/** @name Ring types (the `type` argument of shmap_ring_open()) */
/**@{*/
#define SHMAP_RING_SPSC 1u            /**< one producer, one consumer */
#define SHMAP_RING_SPMC 2u            /**< one producer, many consumers, each element to one */
#define SHMAP_RING_BCAST_LOSSY 3u     /**< broadcast; producer never waits; laggards overrun */
#define SHMAP_RING_BCAST_RELIABLE 4u  /**< broadcast; producer gated by the slowest live subscriber */
/**@}*/

/** @name Roles (the `role` argument of shmap_ring_open()) */
/**@{*/
#define SHMAP_RING_PRODUCER 1u  /**< the one producer */
#define SHMAP_RING_CONSUMER 2u  /**< a consumer (SPSC, SPMC) or a subscriber (broadcast) */
/**
 * An observer: attached to the segment as a participant without a role.
 * The queries, shmap_ring_read_at(), shmap_ring_consumers(),
 * shmap_ring_stats(), shmap_ring_consumer_stats() and shmap_ring_check() work;
 * every data call (push, pop, zero-copy, waits) returns
 * ::SHMAP_E_NOTATTACHED. An observer never takes over a role (not at open,
 * not at reattach), so inspecting a ring with both roles alive changes
 * nothing, and inspecting one whose holder died leaves the role to the
 * next real producer/consumer. It does not count as a consumer/subscriber.
 */
#define SHMAP_RING_OBSERVER 0u
/**@}*/

/** @name Limits */
/**@{*/
#define SHMAP_RING_ELEM_MAX (1u << 20)           /**< largest element size in bytes */
#define SHMAP_RING_CAPACITY_MAX (1ull << 32)     /**< largest capacity (elements) */
#define SHMAP_RING_DATA_MAX (1ull << 40)         /**< largest capacity x element size */
#define SHMAP_RING_CONSUMERS_MAX 1024u           /**< largest max_consumers */
/** max_consumers of a created SPMC/broadcast ring when the options leave it unset */
#define SHMAP_RING_CONSUMERS_DEFAULT 16u
/**@}*/


/**
 * @brief Create or open a ring and attach to it with one role.
 *
 * @param name     segment name (see segment.h for the rules per backend).
 * @param oflags   ::SHMAP_CREATE, ::SHMAP_OPEN, ::SHMAP_OPEN_OR_CREATE, or
 *                 `SHMAP_OPEN | SHMAP_OPEN_WAIT` (wait for the ring to be created:
 *                 a consumer may start before its producer).
 * @param type     ::SHMAP_RING_SPSC, ::SHMAP_RING_SPMC, ::SHMAP_RING_BCAST_LOSSY,
 *                 ::SHMAP_RING_BCAST_RELIABLE; on open, 0 accepts the stored type.
 * @param elem_size element size in bytes, 1..::SHMAP_RING_ELEM_MAX; 0 on open
 *                 accepts the stored size.
 * @param capacity number of elements, 1..::SHMAP_RING_CAPACITY_MAX, rounded up
 *                 to a power of two; 0 on open accepts the stored capacity.
 * @param role     ::SHMAP_RING_PRODUCER, ::SHMAP_RING_CONSUMER or
 *                 ::SHMAP_RING_OBSERVER (no role: inspection only).
 * @param opts     options, or NULL for the defaults. The maximum number of
 *                 attached consumers/subscribers is an option,
 *                 shmap_opts_set_max_consumers(): SPMC/broadcast
 *                 1..::SHMAP_RING_CONSUMERS_MAX, ::SHMAP_RING_CONSUMERS_DEFAULT
 *                 at create when unset; SPSC: unset or 1. On open, unset
 *                 accepts the stored value and a set one must equal it
 *                 (::SHMAP_E_INCOMPAT otherwise).
 * @param[out] ret the new handle; untouched on failure.
 * @return ::SHMAP_OK; ::SHMAP_RECOVERED (the role was taken over from a dead
 *         process, or the segment was rebuilt after a dead creator);
 *         ::SHMAP_E_INVAL (bad argument, zero capacity or element size at
 *         create, capacity x element size over ::SHMAP_RING_DATA_MAX, an
 *         SPSC ring with max_consumers over 1 in the options);
 *         ::SHMAP_E_TOOBIG (element size over ::SHMAP_RING_ELEM_MAX);
 *         ::SHMAP_E_BUSY (the role is held by a live process, or all
 *         consumer slots are taken); ::SHMAP_E_INCOMPAT (stored type or
 *         parameters differ from non-zero arguments); every error of the
 *         segment layer (::SHMAP_E_EXIST, ::SHMAP_E_NOENT, ::SHMAP_E_ACCESS,
 *         ::SHMAP_E_CORRUPT, ::SHMAP_E_NOTREADY, ::SHMAP_E_NOSPC,
 *         ::SHMAP_E_BADMAGIC, ::SHMAP_E_PEERFAULT, ...).
 *
 * Concurrency: any number of processes and threads may open the same ring
 * at once; role attachment is decided by compare-and-swap.
 * Progress: bounded by the open timeout of @p opts (segment creation race,
 * or with ::SHMAP_OPEN_WAIT the wait for the ring to appear: ::SHMAP_E_TIMEOUT
 * if it does not) plus one liveness probe per occupied role slot.
 */
SHMAP_API int shmap_ring_open(const char *name, uint32_t oflags, uint32_t type,
			      uint32_t elem_size, uint64_t capacity, uint32_t role,
			      const shmap_opts *opts, shmap_ring **ret);

/**
 * @brief Release the role, detach and free the handle. NULL is ignored.
 *
 * An outstanding reservation (shmap_ring_reserve()) is dropped; an
 * outstanding peek is not released (the elements stay in the ring), except
 * for an SPMC consumer, whose claimed elements count as consumed.
 * Concurrency: not concurrently with any other call on the same handle.
 */
SHMAP_API void shmap_ring_close(shmap_ring *r);

/**
 * @brief Make an inherited handle usable in a child after fork().
 *
 * The child gets its own participant slot and then tries to take the
 * handle's role (the parent still holds it, so this usually yields
 * ::SHMAP_E_BUSY: the handle is then attached without a role and only the
 * queries work until the parent dies and the call is repeated). An
 * observer handle stays an observer (::SHMAP_OK).
 * @return ::SHMAP_OK, ::SHMAP_RECOVERED, ::SHMAP_E_BUSY, ::SHMAP_E_INVAL or a
 *         segment-layer error.
 */
SHMAP_API int shmap_ring_reattach(shmap_ring *r);

/** @brief The memfd share descriptor of a memfd-backed ring, or -1. */
SHMAP_API int shmap_ring_fd(const shmap_ring *r);

/* ------------------------------------------------------------------ */
/** @name Copy API
 *
 * Common return codes of the calls below: ::SHMAP_E_INVAL (NULL argument),
 * ::SHMAP_E_NOTATTACHED (the handle does not hold the needed role),
 * ::SHMAP_E_FORKED (use after fork without reattach), ::SHMAP_E_CORRUPT
 * (shared state violates an invariant; the handle stays usable),
 * ::SHMAP_E_PEERFAULT (a peer shrank the segment's file and this call, or an
 * earlier one on the handle -- or the caller's own code through a zero-copy
 * pointer -- touched the lost pages: the handle is poisoned, every later call
 * returns this code; close it; see segment.h),
 * ::SHMAP_E_BUSY (a zero-copy reservation/peek is outstanding on this handle).
 *
 * Ordering: everything the producer wrote before a push happens-before
 * everything the consumer does after the pop that returns the element.
 *
 * Progress: non-waiting calls are wait-free for SPSC and lossy broadcast and
 * lock-free for SPMC and reliable broadcast (retries bounded by a private
 * budget; a slow path probes the liveness of peers at most once per call).
 */
/**@{*/

/**
 * @brief Push one element of elem_size bytes.
 * @return ::SHMAP_OK; ::SHMAP_E_FULL (no free slot; never for lossy
 *         broadcast); ::SHMAP_RECOVERED (pushed, after reclaiming a slot a
 *         dead consumer held, or dropping a dead subscriber).
 */
SHMAP_API int shmap_ring_push(shmap_ring *r, const void *elem);

/**
 * @brief Push one element given as @p len bytes (len <= elem_size; the rest
 *        of the element is zero-filled).
 * @return as shmap_ring_push(), plus ::SHMAP_E_TOOBIG if len > elem_size.
 */
SHMAP_API int shmap_ring_push_bytes(shmap_ring *r, const void *data, uint32_t len);

/**
 * @brief shmap_ring_push_bytes() that waits up to @p timeout_ms for a free
 *        slot, as shmap_ring_push_wait() does.
 * @return as shmap_ring_push_wait(), plus ::SHMAP_E_TOOBIG if len > elem_size
 *         and ::SHMAP_E_NOMEM (elem_size over 256 bytes and len < elem_size:
 *         the zero-padded copy could not be allocated).
 * Progress: blocks at most timeout_ms (+ scheduling latency).
 */
SHMAP_API int shmap_ring_push_bytes_wait(shmap_ring *r, const void *data, uint32_t len,
					 uint32_t timeout_ms);

/**
 * @brief Pop one element into @p out (elem_size bytes).
 * @return ::SHMAP_OK; ::SHMAP_E_EMPTY; lossy broadcast: ::SHMAP_E_OVERRUN
 *         (this subscriber was lapped: nothing is copied, shmap_ring_missed()
 *         grew by the number of elements lost, and the next pop continues
 *         with the oldest element still in the ring).
 */
SHMAP_API int shmap_ring_pop(shmap_ring *r, void *out);

/**
 * @brief Pop one element into a buffer of @p out_len bytes.
 * @return as shmap_ring_pop(), plus ::SHMAP_E_BUFSIZE if out_len < elem_size
 *         (nothing popped).
 */
SHMAP_API int shmap_ring_pop_bytes(shmap_ring *r, void *out, uint32_t out_len);

/**
 * @brief Push up to @p n elements from the array @p elems (n x elem_size
 *        bytes), as many as fit, in order.
 * @param[out] done number of elements pushed (0..n); may be NULL.
 * @return ::SHMAP_OK if at least one element (or n == 0) was pushed,
 *         ::SHMAP_E_FULL if none could be. Lossy broadcast always pushes all n.
 * Ordering (SPSC): the pushed elements are published together by one
 * release store; a consumer sees all of them or none.
 */
SHMAP_API int shmap_ring_push_n(shmap_ring *r, const void *elems, uint32_t n, uint32_t *done);

/**
 * @brief Pop up to @p n elements into @p out (room for n x elem_size bytes).
 * @param[out] done number of elements popped (0..n); may be NULL.
 * @return ::SHMAP_OK if at least one element (or n == 0) was popped,
 *         ::SHMAP_E_EMPTY if none; lossy broadcast: ::SHMAP_E_OVERRUN when the
 *         subscriber was lapped before the first element (done = 0); a lap
 *         detected after some elements were copied ends the batch with
 *         ::SHMAP_OK and the next call reports it.
 */
SHMAP_API int shmap_ring_pop_n(shmap_ring *r, void *out, uint32_t n, uint32_t *done);

/**
 * @brief Push one element, waiting up to @p timeout_ms for a free slot.
 *
 * Spins briefly (not at all while the handle's last yield let another
 * process run on its CPU: more processes than CPUs, where spinning only
 * holds the CPU a peer needs), then yields the CPU between tries for a
 * bounded budget (about a millisecond at most, adapted per handle:
 * shorter after waits that found the ring idle), then sleeps on a futex in the segment; a
 * consumer's pop wakes it. The same sequence serves shmap_ring_pop_wait()
 * and the other waiting calls: a waiter left with nothing to wait for uses
 * no CPU once asleep. While waiting, the producer reclaims slots held by dead
 * consumers (SPMC) and drops dead subscribers (reliable broadcast).
 * timeout_ms 0 behaves like shmap_ring_push().
 * @return as shmap_ring_push(), with ::SHMAP_E_TIMEOUT instead of ::SHMAP_E_FULL.
 * Progress: blocks at most timeout_ms (+ scheduling latency).
 */
SHMAP_API int shmap_ring_push_wait(shmap_ring *r, const void *elem, uint32_t timeout_ms);

/**
 * @brief Pop one element, waiting up to @p timeout_ms for one.
 * @return as shmap_ring_pop(), with ::SHMAP_E_TIMEOUT instead of ::SHMAP_E_EMPTY.
 * Progress: blocks at most timeout_ms (+ scheduling latency).
 */
SHMAP_API int shmap_ring_pop_wait(shmap_ring *r, void *out, uint32_t timeout_ms);

/**
 * @brief Push all @p n elements, waiting up to @p timeout_ms in total.
 * @param[out] done elements pushed (may be NULL); on ::SHMAP_E_TIMEOUT some
 *             may have been pushed.
 * @return ::SHMAP_OK (all pushed), ::SHMAP_E_TIMEOUT, or a common code.
 */
SHMAP_API int shmap_ring_push_n_wait(shmap_ring *r, const void *elems, uint32_t n,
				     uint32_t *done, uint32_t timeout_ms);

/**
 * @brief Pop between 1 and @p n elements, waiting up to @p timeout_ms for the
 *        first one.
 * @return as shmap_ring_pop_n(), with ::SHMAP_E_TIMEOUT instead of ::SHMAP_E_EMPTY.
 */
SHMAP_API int shmap_ring_pop_n_wait(shmap_ring *r, void *out, uint32_t n, uint32_t *done,
				    uint32_t timeout_ms);

/**
 * @brief Wait until the handle's next operation can make progress: for a
 *        producer, until a slot is free; for a consumer, until an element
 *        (or, lossy broadcast, an overrun) is there. Used with the zero-copy
 *        calls.
 * @return ::SHMAP_OK, ::SHMAP_E_TIMEOUT, or a common code.
 */
SHMAP_API int shmap_ring_wait(shmap_ring *r, uint32_t timeout_ms);
/**@}*/

/* ------------------------------------------------------------------ */
/** @name Event loops: a pollable descriptor per ring end
 *
 * shmap_ring_notify_fd() gives a descriptor that an event loop (poll,
 * epoll, select, libuv, asyncio, Go's poller, ...) waits on beside sockets
 * and timers; shmap_ring_notify_arm() re-arms it. The loop never loses a
 * wake-up and never spins:
 *
 * @code
 * int fd;
 * shmap_ring_notify_fd(r, &fd);        // readable at first
 * // add fd to the loop (POLLIN / EPOLLIN), then on every wake-up:
 * while ((rc = shmap_ring_pop(r, &elem)) == SHMAP_OK || rc == SHMAP_E_OVERRUN)
 *         handle(&elem);                // drain until SHMAP_E_EMPTY
 * rc = shmap_ring_notify_arm(r);        // then wait for the fd again
 * if (rc == SHMAP_E_PEERDEAD) ...       // the producer died (told once)
 * @endcode
 *
 * (A producer pushes until ::SHMAP_E_FULL instead.) shmap_ring_notify_fd()
 * says when the descriptor is readable, what it costs and how the peer's
 * death shows.
 */
/**@{*/

/**
 * @brief Get the pollable descriptor of this handle's role, creating it on
 *        the first call (and the process's waiter thread, if none has room).
 *
 * The usage loop, which never loses a wake-up and never spins: add the
 * descriptor to the event loop for POLLIN (EPOLLIN); when it is readable,
 * pop until ::SHMAP_E_EMPTY (a producer: push until ::SHMAP_E_FULL), call
 * shmap_ring_notify_arm(), and wait again. It is readable from the moment
 * the role can make progress until the next arm: a consumer/subscriber
 * has an element (or, lossy broadcast, an overrun) to take, a producer has
 * a free slot. It may also be readable for nothing (a peer woke the ring
 * needlessly, another consumer took the element): the drain then finds
 * EMPTY/FULL at once and the loop arms again.
 *
 * Mechanism and cost: the descriptor is an eventfd of this process
 * (O_CLOEXEC, non-blocking; never shared with a peer), written by a waiter
 * thread of this process that sleeps on the ring's futex word in the
 * segment exactly as the waiting calls do. So a peer's push or pop makes no
 * system call while nobody waits (the descriptor is not armed); while
 * armed, the peer's next push/pop makes one futex wake, and this process
 * pays a thread wake-up and an eventfd write per arm that waits. One waiter
 * thread serves up to 127 descriptors of the process (futex_waitv, Linux
 * 5.16 and later; on older kernels one thread per descriptor); it starts
 * with the first descriptor and ends with the last. Works between any
 * processes that open the ring, related or not. Each armed sleep of the
 * waiter is bounded (100 ms; 10 ms for SPMC and reliable-broadcast
 * producers), after which it re-checks the ring and the liveness of the
 * peers the role waits for.
 *
 * Death of the peer: when the producer (for a consumer or subscriber) or
 * the SPSC consumer (for an SPSC producer) dies holding its role, the
 * descriptor turns readable within one such slice plus the kernel's
 * release of the dead process's liveness lock (a few ms), and the next arm
 * that finds the ring blocked returns ::SHMAP_E_PEERDEAD, once per death.
 * SPMC and reliable-broadcast producers are not told: what a dead
 * consumer or subscriber held is reclaimed (by the arm, or the next push),
 * and the descriptor turns readable when that frees room.
 *
 * A new descriptor is readable: begin with a drain, then
 * shmap_ring_notify_arm(). It belongs to the handle: do not close it or
 * read it; shmap_ring_close() closes it and shmap_ring_reattach() closes it
 * too (call this again for a new one). It is O_CLOEXEC; a child after fork
 * inherits a copy that never fires (the waiter thread is not inherited) and
 * that the child's reattach or close closes. Closing the handle waits for
 * the waiter thread to let go of it (never longer than one of its rounds).
 * @param[out] fd the descriptor (the same one on every call).
 * @return ::SHMAP_OK; ::SHMAP_E_INVAL (NULL); ::SHMAP_E_NOTATTACHED (an
 *         observer); ::SHMAP_E_FORKED; ::SHMAP_E_NOMEM (memory, or the
 *         waiter thread could not be created); ::SHMAP_E_SYS (eventfd or
 *         thread creation failed; errno says why); ::SHMAP_E_NOTSUP (a
 *         platform, or a build forced to the portable waits, without the
 *         Linux futex and eventfd: no descriptor exists; the blocking calls
 *         work as everywhere).
 * Concurrency: the thread using the handle (as every data call).
 * Progress: never blocks; may start a thread.
 */
SHMAP_API int shmap_ring_notify_fd(shmap_ring *r, int *fd);

/**
 * @brief Re-arm the descriptor after a drain: make it not readable, then
 *        readable again as soon as the role can make progress.
 *
 * If progress is already possible, the descriptor is readable again at once
 * (arm never waits and never loses a wake-up). Arming twice without a
 * wake-up in between is a no-op. An SPMC or reliable-broadcast producer's
 * arm also reclaims what dead consumers or subscribers held.
 * @return ::SHMAP_OK (armed, or readable at once); ::SHMAP_E_PEERDEAD (the
 *         ring is blocked and the peer the role waits for died: reported
 *         once per death, not armed; arm again to keep waiting, e.g. for a
 *         replacement producer); ::SHMAP_E_INVAL (NULL, or no descriptor:
 *         call shmap_ring_notify_fd() first); ::SHMAP_E_NOTATTACHED;
 *         ::SHMAP_E_BUSY (a zero-copy reservation or peek is outstanding);
 *         ::SHMAP_E_FORKED; ::SHMAP_E_NOTSUP (no descriptors on this
 *         platform, see shmap_ring_notify_fd()).
 * Concurrency: the thread using the handle. Progress: never blocks; at most
 * a few system calls (an eventfd read, a liveness probe per peer when the
 * ring is blocked, a futex wake of the waiter thread).
 * Ordering: an element published (or a slot freed) before the arm, or
 * after it, makes the descriptor readable.
 */
SHMAP_API int shmap_ring_notify_arm(shmap_ring *r);
/**@}*/

/* ------------------------------------------------------------------ */
/** @name Zero-copy API
 *
 * Runs are contiguous in memory and never wrap: a run starting at slot i
 * ends at the end of the ring at most, so `got` may be smaller than asked
 * even when more slots are free (ask again after commit/release for the
 * part after the wrap). At most one reservation (producer) or one peek
 * (consumer) is outstanding per handle; every other data call returns
 * ::SHMAP_E_BUSY until it is committed/released.
 */
/**@{*/

/**
 * @brief Reserve up to @p n free slots to fill in place.
 * @param[out] ptr  first slot of the run (got x elem_size writable bytes).
 * @param[out] got  number of slots reserved (1..n).
 * @return ::SHMAP_OK, ::SHMAP_E_FULL (no free slot), ::SHMAP_E_INVAL (n == 0),
 *         or a common code. Lossy broadcast: never FULL; ::SHMAP_E_NOMEM if
 *         the handle's staging buffer cannot be allocated.
 * Lossy broadcast: @p ptr is a staging buffer owned by the handle (at most
 * 64 KiB of elements, at least one), not the ring's slots: subscribers may be
 * reading any slot at any time, and the caller's plain stores must not race
 * with them. shmap_ring_commit() copies the staged elements into the ring
 * exactly as shmap_ring_push_n() would; nothing in the ring changes before.
 */
SHMAP_API int shmap_ring_reserve(shmap_ring *r, uint32_t n, void **ptr, uint32_t *got);

/**
 * @brief Publish the first @p n slots of the outstanding reservation (n <=
 *        got; the rest of the reservation is dropped; n == 0 drops it all).
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL (no reservation, or n > got).
 * Ordering: the in-place writes happen-before a consumer's read of them.
 * SPSC: the n elements are published together by one release store.
 */
SHMAP_API int shmap_ring_commit(shmap_ring *r, uint32_t n);

/**
 * @brief Look at up to @p n elements in place without consuming them.
 * @param[out] ptr  first element of the run (got x elem_size readable bytes).
 * @param[out] got  number of elements (1..n).
 * @return ::SHMAP_OK, ::SHMAP_E_EMPTY, ::SHMAP_E_OVERRUN (lossy broadcast, as
 *         for pop), ::SHMAP_E_INVAL (n == 0), ::SHMAP_E_NOMEM (lossy
 *         broadcast: the handle's buffer cannot be allocated), or a common
 *         code. SPMC: the run is claimed by this consumer until released.
 * Lossy broadcast: the producer never waits, so no pointer into the ring
 * could stay valid while the caller reads it (every read through it would
 * race with the producer, and a torn element could be acted upon before any
 * later check). Peek therefore copies up to @p n elements (at most 64 KiB,
 * at least one) into a buffer owned by the handle, validating each as pop
 * does, and @p ptr points there: what the caller reads is never torn and
 * never changes until release. It costs the copy pop makes anyway.
 */
SHMAP_API int shmap_ring_peek(shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got);

/**
 * @brief Consume the first @p n elements of the outstanding peek (n <= got;
 *        SPSC/broadcast: the rest stays unread; SPMC: all `got` elements of
 *        the claim are consumed whatever n is, since they cannot go back).
 *        The pointer from peek must not be used afterwards.
 * @return ::SHMAP_OK; ::SHMAP_E_INVAL (no peek, or n > got). Lossy
 *         broadcast: the peeked elements were validated when peek copied
 *         them, so release never reports an overrun; a lap that happened
 *         since shows as ::SHMAP_E_OVERRUN at the next pop or peek.
 */
SHMAP_API int shmap_ring_release(shmap_ring *r, uint32_t n);
/**@}*/

/**
 * @brief Discard the elements waiting for this consumer (a consumer-side drain).
 *
 * Only a handle holding the consumer role may clear, and it clears only what
 * it would otherwise have read: SPSC, the whole ring; SPMC, the elements not
 * yet claimed by any consumer (they count as consumed by this one, as if
 * popped: pushed == popped + discarded + lost still holds); broadcast, this
 * subscriber's backlog only -- other subscribers still read every element
 * (a reliable ring's slots are freed once the slowest subscriber passes
 * them). Elements pushed while the call runs may be discarded or left; at
 * most capacity elements are discarded per call.
 *
 * Why not a reset of the whole ring: its positions belong to two sides in
 * different processes (the producer owns the write position, the consumers
 * their read positions) and each side may be inside a push or pop at any
 * instant; only the consuming side can give elements up without racing the
 * other. A producer that wants an empty ring asks its consumer to clear.
 *
 * @param[out] discarded number of elements discarded (may be NULL; set on
 *             every return, also when an error stopped the drain midway); for
 *             lossy broadcast, elements lost to a lap are counted by
 *             shmap_ring_missed() instead.
 * @return ::SHMAP_OK (also when there was nothing to discard);
 *         ::SHMAP_E_NOTATTACHED (producer or observer handle);
 *         ::SHMAP_E_BUSY (a peek is outstanding on this handle; SPMC: other
 *         consumers' claims kept winning, as for pop);
 *         ::SHMAP_E_INVAL (NULL), ::SHMAP_E_FORKED, ::SHMAP_E_CORRUPT.
 * Concurrency: as shmap_ring_pop() (the handle's one thread; producers and
 * other consumers run concurrently). Progress: never blocks (lock-free, as
 * pop).
 */
SHMAP_API int shmap_ring_clear(shmap_ring *r, uint64_t *discarded);

/* ------------------------------------------------------------------ */
/** @name Queries and inspection (wait-free; safe from any thread holding
 * the handle; values are snapshots) */
/**@{*/

/** @brief Elements in the ring (for broadcast: behind the slowest live
 *  subscriber, reliable; behind the caller, lossy subscriber). 0 on NULL. */
SHMAP_API uint64_t shmap_ring_size(const shmap_ring *r);
/** @brief Capacity in elements (a power of two). 0 on NULL. */
SHMAP_API uint64_t shmap_ring_capacity(const shmap_ring *r);
/** @brief Element size in bytes. 0 on NULL. */
SHMAP_API uint32_t shmap_ring_elem_size(const shmap_ring *r);
/** @brief Ring type (SHMAP_RING_*). 0 on NULL. */
SHMAP_API uint32_t shmap_ring_type(const shmap_ring *r);
/** @brief The handle's role (SHMAP_RING_PRODUCER/CONSUMER), 0 if none. */
SHMAP_API uint32_t shmap_ring_role(const shmap_ring *r);
/** @brief max_consumers stored at creation (1 for SPSC). 0 on NULL. */
SHMAP_API uint32_t shmap_ring_max_consumers(const shmap_ring *r);

/**
 * @brief Number of live consumers (SPSC, SPMC) or subscribers (broadcast)
 *        attached now; observers do not count. 0 on NULL or after fork
 *        without reattach.
 *
 * Only occupied role words/records are probed for liveness (one system call
 * each), never the free ones, so the cost is proportional to the number of
 * attached consumers, not to max_consumers. A record whose holder died and
 * was not yet reclaimed is not counted.
 * Concurrency: any thread holding the handle. Progress: wait-free, one
 * liveness probe per occupied record. Ordering: a snapshot; consumers may
 * attach or detach at any time.
 */
SHMAP_API uint32_t shmap_ring_consumers(const shmap_ring *r);

/**
 * @brief Copy the element at absolute position @p pos (the count of elements
 *        pushed before it) into @p out (elem_size bytes) without consuming it.
 *
 * The position must be in the live window:
 * - SPSC, SPMC: [tail, head): pushed and not yet taken by a consumer;
 * - reliable broadcast: [lowest live subscriber cursor, head) (empty
 *   when no subscriber is attached: the producer may then overwrite any slot);
 * - lossy broadcast: [head - capacity, head) (clamped at 0).
 * The copy is validated after it was made against the slot's sequence word
 * (and, for SPSC and reliable broadcast, whose producer does not mark a slot
 * it overwrites, against the consumer-side bound that lets the producer
 * reuse the slot), so a returned element is never torn.
 * @return ::SHMAP_OK; ::SHMAP_E_RANGE (pos outside the window, or its slot
 *         does not hold pos); ::SHMAP_E_OVERRUN (the element may have been
 *         overwritten during the copy: discard @p out, which may be torn);
 *         ::SHMAP_E_INVAL (NULL); ::SHMAP_E_FORKED; ::SHMAP_E_CORRUPT.
 * Concurrency: any role including ::SHMAP_RING_OBSERVER, beside any other
 * calls of other handles; allowed while this handle holds a zero-copy
 * reservation or peek. Changes nothing in shared memory.
 * Progress: wait-free (reliable broadcast: one scan of the records before
 * and one after the copy). Ordering: if it returns ::SHMAP_OK, the
 * producer's writes of the element happen-before the return.
 */
SHMAP_API int shmap_ring_read_at(const shmap_ring *r, uint64_t pos, void *out);
/** @brief Lossy broadcast subscriber: total elements this handle missed
 *  since it subscribed (grows at each ::SHMAP_E_OVERRUN). 0 otherwise. */
SHMAP_API uint64_t shmap_ring_missed(const shmap_ring *r);
/**
 * @brief SPMC: elements claimed by consumers that died before finishing
 * them (counted when the claim is reclaimed). 0 for other types.
 *
 * Exact, with one exception: the count and the claim it counts are two
 * words, so a *reclaimer* (producer, record taker or checker) killed
 * between taking a dead claim and counting it leaves this count short by
 * that claim's size (one slot for a claim no record names). A reclaimer
 * killed anywhere else, and any consumer, never makes it wrong.
 * **Concurrency:** any. **Progress:** wait-free.
 */
SHMAP_API uint64_t shmap_ring_lost(const shmap_ring *r);

/**
 * Ring-wide counters (shmap_ring_stats()). Set `size` to
 * `sizeof(shmap_ring_stats_t)` before the call; see "Statistics structs" in
 * common.h for how sizes of other header versions are handled.
 */
typedef struct shmap_ring_stats_t {
	uint32_t size;           /**< set by the caller: sizeof the struct */
	uint32_t reserved;       /**< set to 0 by the library */
	uint64_t head;           /**< elements (record rings: bytes) ever published by producers */
	uint64_t tail;           /**< SPSC/SPMC: ever consumed (incl. lost); broadcast: lowest
				      cursor of the attached subscribers (head if none) */
	uint64_t lost;           /**< as shmap_ring_lost() */
	uint32_t producer_pid;   /**< pid of the producer's process, 0 if none */
	uint32_t producer_alive; /**< 1 if a producer is attached and alive */
} shmap_ring_stats_t;

/**
 * @brief Ring-wide counters for inspection tools.
 * @param[in,out] st the caller's struct, `st->size` set (see common.h);
 *                filled on ::SHMAP_OK, untouched otherwise.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL (NULL, or a bad `st->size`),
 *         ::SHMAP_E_FORKED, ::SHMAP_E_PEERFAULT.
 * Concurrency: any role including ::SHMAP_RING_OBSERVER; changes nothing.
 * Progress: one liveness probe (a system call); broadcast: one scan of the
 * subscriber records.
 */
SHMAP_API int shmap_ring_stats(const shmap_ring *r, shmap_ring_stats_t *st);

/**
 * State of one consumer/subscriber slot (shmap_ring_consumer_stats()). Set
 * `size` to `sizeof(shmap_ring_consumer_stats_t)` before the call; see
 * "Statistics structs" in common.h.
 */
typedef struct shmap_ring_consumer_stats_t {
	uint32_t size;     /**< set by the caller: sizeof the struct */
	uint32_t reserved; /**< set to 0 by the library */
	uint64_t cursor;   /**< SPSC: consumed count; SPMC: start of its current claim
			        (0 if none); broadcast: next position it reads (reliable;
			        lossy: last published by the subscriber) */
	uint64_t missed;   /**< lossy broadcast: elements (record rings: bytes) it missed so far */
	uint32_t pid;      /**< pid of the process holding the slot */
	uint32_t alive;    /**< 1 if that process is alive */
} shmap_ring_consumer_stats_t;

/**
 * @brief Consumer/subscriber slot @p index (0..max_consumers-1; SPSC: 0).
 * @param[in,out] st the caller's struct, `st->size` set (see common.h);
 *                filled on ::SHMAP_OK, untouched otherwise.
 * @return ::SHMAP_OK, ::SHMAP_E_NOTFOUND (slot free), ::SHMAP_E_RANGE,
 *         ::SHMAP_E_INVAL (NULL, or a bad `st->size`), ::SHMAP_E_FORKED,
 *         ::SHMAP_E_PEERFAULT.
 * Concurrency: any role including ::SHMAP_RING_OBSERVER; changes nothing.
 * Progress: one liveness probe (a system call).
 */
SHMAP_API int shmap_ring_consumer_stats(const shmap_ring *r, uint32_t index,
					shmap_ring_consumer_stats_t *st);

/**
 * @brief Verify the ring's invariants (meant for a quiescent ring or one
 *        whose peers are dead) and optionally repair.
 *
 * Checks indices against the capacity, every slot's sequence word, role and
 * consumer slots. With ::SHMAP_CHECK_REPAIR: frees roles and consumer slots
 * of dead processes, reclaims SPMC elements claimed by dead consumers
 * (counting them lost), drops dead broadcast subscribers, resets sleeper
 * counts left by dead waiters.
 * Also reports (as a problem, not repairable) a segment header whose
 * immutable fields were rewritten after this handle opened it.
 * @param[out] problems number of problems found (may be NULL).
 * @return ::SHMAP_OK (no problem), ::SHMAP_RECOVERED (problems found and all
 *         repaired), ::SHMAP_E_CORRUPT (problems left), ::SHMAP_E_INVAL.
 * Concurrency: safe to run beside live peers (repairs only touch state of
 * dead processes) but may then report transient states as problems.
 */
SHMAP_API int shmap_ring_check(shmap_ring *r, uint32_t flags, uint64_t *problems);
/**@}*/

SHMAP_END_DECLS

#endif /* SHMAP_RING_H */
