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
 * - ::SHMAP_RING_SPMC: one producer, up to `max_consumers` consumers; every
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
 * reclaimed: elements pushed == elements returned by pops + lost.
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
 * process sleeps, push and pop make no system call.
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
 * shmap_ring_stats(), shmap_ring_consumer_info() and shmap_ring_check() work;
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
/**@}*/

#ifndef SHMAP_CHECK_REPAIR
/** shmap_ring_check() flag: also repair what dead processes left behind. */
#define SHMAP_CHECK_REPAIR 1u
#endif

/**
 * @brief Create or open a ring and attach to it with one role.
 *
 * @param name     segment name (see segment.h for the rules per backend).
 * @param oflags   ::SHMAP_CREATE, ::SHMAP_OPEN or ::SHMAP_OPEN_OR_CREATE.
 * @param type     ::SHMAP_RING_SPSC, ::SHMAP_RING_SPMC, ::SHMAP_RING_BCAST_LOSSY,
 *                 ::SHMAP_RING_BCAST_RELIABLE; on open, 0 accepts the stored type.
 * @param elem_size element size in bytes, 1..::SHMAP_RING_ELEM_MAX; 0 on open
 *                 accepts the stored size.
 * @param capacity number of elements, 1..::SHMAP_RING_CAPACITY_MAX, rounded up
 *                 to a power of two; 0 on open accepts the stored capacity.
 * @param max_consumers SPMC/broadcast: maximum number of attached consumers
 *                 (1..::SHMAP_RING_CONSUMERS_MAX; 0 at create means 16); SPSC: must be
 *                 0 or 1. On open, 0 accepts the stored value.
 * @param role     ::SHMAP_RING_PRODUCER, ::SHMAP_RING_CONSUMER or
 *                 ::SHMAP_RING_OBSERVER (no role: inspection only).
 * @param opts     options, or NULL for the defaults.
 * @param[out] ret the new handle; untouched on failure.
 * @return ::SHMAP_OK; ::SHMAP_RECOVERED (the role was taken over from a dead
 *         process, or the segment was rebuilt after a dead creator);
 *         ::SHMAP_E_INVAL (bad argument, zero capacity or element size at
 *         create, capacity x element size over ::SHMAP_RING_DATA_MAX);
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
 * Progress: bounded by the open timeout of @p opts (segment creation race)
 * plus one liveness probe per occupied role slot.
 */
SHMAP_API int shmap_ring_open(const char *name, uint32_t oflags, uint32_t type,
			      uint32_t elem_size, uint64_t capacity, uint32_t max_consumers,
			      uint32_t role, const shmap_opts *opts, shmap_ring **ret);

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
 * Spins briefly, then sleeps on a futex in the segment; a consumer's pop
 * wakes it. While waiting, the producer reclaims slots held by dead
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
 *         or a common code. Lossy broadcast: always succeeds; the reserved
 *         slots' old elements are invalidated at once.
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
 *         for pop), ::SHMAP_E_INVAL (n == 0), or a common code. SPMC: the run
 *         is claimed by this consumer until released.
 */
SHMAP_API int shmap_ring_peek(shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got);

/**
 * @brief Consume the first @p n elements of the outstanding peek (n <= got;
 *        SPSC/broadcast: the rest stays unread; SPMC: all `got` elements of
 *        the claim are consumed whatever n is, since they cannot go back).
 *        The pointer from peek must not be used afterwards.
 * @return ::SHMAP_OK; ::SHMAP_E_INVAL (no peek, or n > got); lossy broadcast:
 *         ::SHMAP_E_OVERRUN if the producer overwrote any of the peeked
 *         elements while they were read: the caller must discard what it read
 *         (the subscriber is resynchronised and shmap_ring_missed() grew).
 */
SHMAP_API int shmap_ring_release(shmap_ring *r, uint32_t n);
/**@}*/

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
SHMAP_API uint32_t shmap_ring_consumers(shmap_ring *r);

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
SHMAP_API int shmap_ring_read_at(shmap_ring *r, uint64_t pos, void *out);
/** @brief Lossy broadcast subscriber: total elements this handle missed
 *  since it subscribed (grows at each ::SHMAP_E_OVERRUN). 0 otherwise. */
SHMAP_API uint64_t shmap_ring_missed(const shmap_ring *r);
/** @brief SPMC: elements claimed by consumers that died before finishing
 *  them (counted when the claim is reclaimed). 0 for other types. */
SHMAP_API uint64_t shmap_ring_lost(const shmap_ring *r);

/**
 * @brief Ring-wide counters for inspection tools. Any out-param may be NULL.
 * @param[out] head     elements ever published by producers.
 * @param[out] tail     SPSC/SPMC: elements ever consumed (incl. lost);
 *                      broadcast: lowest cursor of the attached subscribers
 *                      (head if none).
 * @param[out] lost     as shmap_ring_lost().
 * @param[out] producer_pid   pid of the producer's process, 0 if none.
 * @param[out] producer_alive 1 if a producer is attached and alive.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL, ::SHMAP_E_FORKED.
 * Progress: one liveness probe (a system call).
 */
SHMAP_API int shmap_ring_stats(shmap_ring *r, uint64_t *head, uint64_t *tail, uint64_t *lost,
			       uint32_t *producer_pid, uint32_t *producer_alive);

/**
 * @brief Consumer/subscriber slot @p index (0..max_consumers-1; SPSC: 0).
 * @param[out] pid     pid of the process holding it.
 * @param[out] alive   1 if that process is alive.
 * @param[out] cursor  SPSC: consumed count; SPMC: start of its current claim
 *                     (0 if none); broadcast: next position it reads
 *                     (reliable; lossy: last published by the subscriber).
 * @param[out] missed  lossy broadcast: elements it missed so far.
 * @return ::SHMAP_OK, ::SHMAP_E_NOTFOUND (slot free), ::SHMAP_E_RANGE,
 *         ::SHMAP_E_INVAL, ::SHMAP_E_FORKED.
 */
SHMAP_API int shmap_ring_consumer_info(shmap_ring *r, uint32_t index, uint32_t *pid,
				       uint32_t *alive, uint64_t *cursor, uint64_t *missed);

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
