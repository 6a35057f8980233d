/* SPDX-License-Identifier: MIT */
/**
 * @file vector.h
 * @brief Append-only vector in shared memory: runtime element size, fixed
 *        capacity, never a torn or unwritten read.
 *
 * Elements are fixed-size byte blocks (the element size is a parameter of
 * the segment). Appenders either push one element, or reserve n contiguous
 * slots, write them (copy or in place) and publish them. Readers get an
 * element by index, or iterate over the published prefix with a cursor.
 * An element may be replaced in place; readers see the old or the new
 * value, never a mix.
 *
 * Every slot has a state (see ::SHMAP_VECTOR_SLOT_FREE and friends):
 *
 *     FREE --reserve--> RESERVED(owner) --publish--> PUBLISHED <--> REPLACING(owner)
 *                           |
 *                           +--owner died, recovered--> HOLE
 *
 * Two counters describe the vector:
 *  - shmap_vector_reserved(): slots handed out so far (published or not);
 *  - shmap_vector_size(): the *watermark*: every slot below it is published
 *    or a hole. It only advances over published slots and holes, so the
 *    prefix [0, size) is stable and final: iterate it with shmap_vector_next().
 *
 * A writer killed between reserve and publish leaves its slots RESERVED by
 * a dead owner. Nobody waits for them: other appenders carry on, readers of
 * those indices get ::SHMAP_E_NOTREADY (owner alive) or, once the owner is
 * found dead (by shmap_vector_get(), shmap_vector_next(), shmap_vector_replace(),
 * shmap_vector_recover() or shmap_vector_check() with ::SHMAP_CHECK_REPAIR),
 * the slots become holes:
 * reading a hole returns ::SHMAP_E_NOTFOUND, iteration skips it, and
 * shmap_vector_holes() counts them.
 *
 * Error codes used by this module for an index:
 *  - ::SHMAP_E_RANGE: beyond the end (index >= shmap_vector_reserved(), or
 *    >= capacity);
 *  - ::SHMAP_E_NOTREADY: reserved but not yet published, and its writer is
 *    alive;
 *  - ::SHMAP_E_NOTFOUND: a hole (its writer died before publishing).
 *
 * Memory: each slot holds an 8-byte state word, an 8-byte version and two
 * copies of the element (rounded up to 8 bytes): replace writes the copy
 * that readers are not using and then switches, so a replacer killed
 * mid-write leaves the old element intact. Segment data size is about
 * capacity * (16 + 2 * round8(elem_size)).
 * Readers validate a copy against the slot's 64-bit replacement version,
 * which never comes back to a value it had: no stall of a reader, however
 * long, lets it accept a torn copy.
 *
 * Thread safety: a handle may be used by several threads at once. Slot
 * ownership (reservations, replace claims) belongs to the handle, not to
 * the thread: threads sharing a handle must each write and publish only the
 * slots they reserved themselves.
 *
 * Trust model: every index and counter read from shared memory is checked
 * against the capacity this handle validated at open; a peer that scribbles
 * on the segment can destroy its data (calls then return ::SHMAP_E_CORRUPT),
 * but cannot make a call read or write outside the mapping or loop without
 * bound. A peer that shrinks the segment's file poisons the handle: the call
 * that touched the lost pages (or the next call, when the caller's own code
 * touched them through shmap_vector_slot_ptr()) and every later call on the
 * handle return ::SHMAP_E_PEERFAULT; close it (see segment.h).
 */
#ifndef SHMAP_VECTOR_H
#define SHMAP_VECTOR_H

#include <shmap/common.h>
#include <shmap/segment.h>
#include <shmap/status.h>

SHMAP_BEGIN_DECLS

/** An open vector (process-local handle). */
typedef struct shmap_vector shmap_vector;

/** Largest element size, in bytes. */
#define SHMAP_VECTOR_ELEM_MAX (1u << 24)
/** Largest capacity, in elements. */
#define SHMAP_VECTOR_CAPACITY_MAX (UINT64_C(1) << 40)
/** Largest n for one shmap_vector_reserve() call. */
#define SHMAP_VECTOR_RESERVE_MAX ((1u << 29) - 1u)

/** @name Slot states reported by shmap_vector_slot_state() */
/**@{*/
#define SHMAP_VECTOR_SLOT_FREE 0u      /**< never reserved */
#define SHMAP_VECTOR_SLOT_RESERVED 1u  /**< reserved by `owner`, not yet published */
#define SHMAP_VECTOR_SLOT_PUBLISHED 2u /**< readable */
#define SHMAP_VECTOR_SLOT_REPLACING 3u /**< readable (old value) while `owner` replaces it */
#define SHMAP_VECTOR_SLOT_HOLE 4u      /**< its writer died before publishing: no element */
/**@}*/


/**
 * @brief Create or open a vector.
 * @param[in] name       segment name ("/name"; for the file backend a path;
 *                       for memfd a label, may be NULL)
 * @param[in] oflags     ::SHMAP_CREATE, ::SHMAP_OPEN, ::SHMAP_OPEN_OR_CREATE, or
 *                       `SHMAP_OPEN | SHMAP_OPEN_WAIT` (wait for it to be created)
 * @param[in] elem_size  element size in bytes, 1..::SHMAP_VECTOR_ELEM_MAX
 *                       (0 on open: accept the stored size)
 * @param[in] capacity   number of elements, 1..::SHMAP_VECTOR_CAPACITY_MAX
 *                       (0 on open: accept the stored capacity)
 * @param[in] opts       options (backend, mode, timeout, ...), or NULL for defaults
 * @param[out] ret       the new handle (untouched on failure)
 * @return ::SHMAP_OK, ::SHMAP_RECOVERED (rebuilt after a dead creator),
 *         ::SHMAP_E_INVAL, ::SHMAP_E_NAMETOOLONG, ::SHMAP_E_EXIST, ::SHMAP_E_NOENT,
 *         ::SHMAP_E_INCOMPAT (another kind, or other parameters), ::SHMAP_E_CORRUPT,
 *         ::SHMAP_E_VERSION, ::SHMAP_E_BADMAGIC, ::SHMAP_E_TRUNCATED,
 *         ::SHMAP_E_NOTREADY, ::SHMAP_E_TIMEOUT, ::SHMAP_E_ACCESS, ::SHMAP_E_NOSPC,
 *         ::SHMAP_E_NOMEM, ::SHMAP_E_SYS (errno kept), ::SHMAP_E_PEERFAULT (a
 *         peer shrank the file during the open).
 *
 * **Concurrency:** any number of processes may open the same name at once.
 * **Progress:** may block, bounded by the options' timeout (open-or-create race,
 * or with ::SHMAP_OPEN_WAIT the wait for the vector to appear: ::SHMAP_E_TIMEOUT
 * if it does not).
 * **Ordering:** the vector is fully built before any opener sees it.
 */
SHMAP_API int shmap_vector_open(const char *name, uint32_t oflags, uint32_t elem_size,
				uint64_t capacity, const shmap_opts *opts, shmap_vector **ret);

/**
 * @brief Detach and free a handle. NULL is a no-op. Slots this handle
 *        reserved and did not publish become holes once a peer notices.
 *
 * **Concurrency:** no other call may be using the handle. **Progress:** a
 * few system calls. **Ordering:** none.
 */
SHMAP_API void shmap_vector_close(shmap_vector *v);

/**
 * @brief In a child after fork(): attach the inherited handle to this
 *        process (new participant slot, new owner id).
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL, ::SHMAP_E_FULL (participant table
 *         full), ::SHMAP_E_SYS.
 *
 * Until this is called, every other call on the handle in the child returns
 * ::SHMAP_E_FORKED. **Concurrency:** no other call on this handle.
 * **Progress:** a few system calls. **Ordering:** none.
 */
SHMAP_API int shmap_vector_reattach(shmap_vector *v);

/**
 * @brief The memfd share descriptor (for the memfd backend, when this
 *        handle created the segment), else -1. NULL gives -1.
 *
 * **Concurrency:** any. **Progress:** wait-free.
 */
SHMAP_API int shmap_vector_fd(const shmap_vector *v);

/**
 * @brief Append one element.
 * @param[in]  v      the vector
 * @param[in]  elem   elem_size bytes to copy in
 * @param[out] index  its index (may be NULL)
 * @return ::SHMAP_OK, ::SHMAP_E_FULL (nothing changed), ::SHMAP_E_INVAL,
 *         ::SHMAP_E_BUSY (contention retry budget exhausted; nothing changed),
 *         ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * **Concurrency:** any number of threads and processes push, reserve, read
 * and replace at once. **Progress:** lock-free (a bounded number of CAS
 * retries); never waits for another appender, live or dead.
 * **Ordering:** the element is published with release semantics: a reader
 * that sees it (get, next, size) sees all its bytes.
 */
SHMAP_API int shmap_vector_push(shmap_vector *v, const void *elem, uint64_t *index);

/**
 * @brief Reserve n contiguous slots for this handle.
 * @param[in]  v      the vector
 * @param[in]  n      1..::SHMAP_VECTOR_RESERVE_MAX
 * @param[out] first  index of the first reserved slot
 * @return ::SHMAP_OK, ::SHMAP_E_FULL (fewer than n slots left; nothing
 *         changed), ::SHMAP_E_INVAL, ::SHMAP_E_BUSY, ::SHMAP_E_CORRUPT,
 *         ::SHMAP_E_FORKED.
 *
 * Fill the slots with shmap_vector_write() (or in place through
 * shmap_vector_slot_ptr()), then make them visible with
 * shmap_vector_publish(). Until published, readers get ::SHMAP_E_NOTREADY
 * for these indices and shmap_vector_size() stops below them. A slot that
 * is published without being written reads as zero bytes (slots are zeroed
 * at creation and never reused).
 *
 * **Concurrency:** as push. **Progress:** lock-free; O(n) stores to mark the
 * slots. **Ordering:** none visible to readers until publish.
 */
SHMAP_API int shmap_vector_reserve(shmap_vector *v, uint64_t n, uint64_t *first);

/**
 * @brief Copy an element into a slot this handle reserved and has not published.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL (NULL, or the slot is not reserved by
 *         this handle: already published, another owner's, a hole),
 *         ::SHMAP_E_RANGE, ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * **Concurrency:** only the reserving handle writes its slots (one thread
 * per slot). **Progress:** wait-free. **Ordering:** none until publish.
 */
SHMAP_API int shmap_vector_write(shmap_vector *v, uint64_t index, const void *elem);

/**
 * @brief Zero-copy access to a slot this handle reserved and has not
 *        published: *ptr points to elem_size writable bytes in the mapping.
 * @return as shmap_vector_write().
 *
 * The pointer must not be used after shmap_vector_publish() of the slot.
 * **Concurrency / Progress / Ordering:** as shmap_vector_write().
 */
SHMAP_API int shmap_vector_slot_ptr(shmap_vector *v, uint64_t index, void **ptr);

/**
 * @brief Publish slots [first, first + n) reserved by this handle.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL (n == 0, or a slot in the range is
 *         not reserved by this handle; then nothing is published),
 *         ::SHMAP_E_RANGE, ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * A reservation may be published in several pieces, in any order. After
 * publishing, the watermark (shmap_vector_size()) is advanced as far as it
 * can go over published slots and holes.
 *
 * **Concurrency:** as push. **Progress:** lock-free; O(n) plus the
 * watermark advance (bounded by the capacity).
 * **Ordering:** release: a reader that sees a published slot sees the bytes
 * written before publish.
 */
SHMAP_API int shmap_vector_publish(shmap_vector *v, uint64_t first, uint64_t n);

/**
 * @brief Copy the element at `index` into `out` (elem_size bytes).
 * @return ::SHMAP_OK; ::SHMAP_E_RANGE (beyond the end); ::SHMAP_E_NOTREADY
 *         (reserved, not yet published, writer alive); ::SHMAP_E_NOTFOUND
 *         (a hole: the writer died before publishing -- if this call found
 *         the writer dead it turned its slots into holes first);
 *         ::SHMAP_E_BUSY (the element was replaced continuously while we
 *         copied, retry budget exhausted); ::SHMAP_E_TIMEOUT (recovering a dead
 *         writer's very large reservation took longer than the options' timeout:
 *         call again, it carries on); ::SHMAP_E_INVAL; ::SHMAP_E_CORRUPT;
 *         ::SHMAP_E_FORKED.
 *
 * A published element above the watermark (an earlier slot still in
 * flight) is returned too.
 *
 * **Concurrency:** any. **Progress:** never waits for a writer: lock-free
 * (bounded retries while replacements complete under it); one liveness
 * probe (a system call) when the slot is reserved but unpublished.
 * **Ordering:** acquire: pairs with publish/replace.
 */
SHMAP_API int shmap_vector_get(shmap_vector *v, uint64_t index, void *out);

/**
 * @brief Replace the published element at `index`.
 * @return ::SHMAP_OK, ::SHMAP_RECOVERED (took over from a replacer that
 *         died), ::SHMAP_E_RANGE, ::SHMAP_E_NOTREADY, ::SHMAP_E_NOTFOUND
 *         (hole), ::SHMAP_E_TIMEOUT (another live replacer held the slot past
 *         the options' timeout), ::SHMAP_E_INVAL, ::SHMAP_E_CORRUPT,
 *         ::SHMAP_E_FORKED.
 *
 * The new value is written beside the current one and switched in with
 * one atomic store, so readers see the old or the new element, never a
 * mix, and a replacer killed mid-write leaves the old element in place.
 *
 * **Concurrency:** any; concurrent replacers of one index are serialised.
 * **Progress:** wait-free without contention on the index; otherwise waits
 * (backoff) for the other replacer, probing its liveness, bounded by the
 * timeout. **Ordering:** release on the switch; pairs with get's acquire.
 */
SHMAP_API int shmap_vector_replace(shmap_vector *v, uint64_t index, const void *elem);

/**
 * @brief Iterate over the published prefix, skipping holes.
 * @param[in]     v       the vector
 * @param[in,out] cursor  start at 0; advanced past the returned element
 * @param[out]    out     elem_size bytes (the element)
 * @param[out]    index   index of the returned element (may be NULL)
 * @return ::SHMAP_OK (an element), ::SHMAP_E_EMPTY (the cursor reached the
 *         end of everything reserved so far: call again later to follow
 *         new appends), ::SHMAP_E_NOTREADY (the cursor reached a slot whose
 *         live writer has not published yet), ::SHMAP_E_BUSY, ::SHMAP_E_TIMEOUT
 *         (as shmap_vector_get()), ::SHMAP_E_INVAL,
 *         ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * Elements come in index order. A slot whose writer is found dead is turned
 * into a hole and skipped. **Concurrency:** any. **Progress:** lock-free, as
 * get; at most one liveness probe per call. **Ordering:** as get.
 */
SHMAP_API int shmap_vector_next(shmap_vector *v, uint64_t *cursor, void *out, uint64_t *index);

/**
 * @brief Published-prefix length (the watermark): every slot below it is
 *        published or a hole. 0 for NULL. Clamped to the capacity.
 *
 * **Concurrency:** any. **Progress:** wait-free. **Ordering:** acquire.
 */
SHMAP_API uint64_t shmap_vector_size(const shmap_vector *v);

/** @brief Number of slots reserved so far (published, in flight or holes). 0 for NULL.
 *  **Concurrency:** any. **Progress:** wait-free. */
SHMAP_API uint64_t shmap_vector_reserved(const shmap_vector *v);

/** @brief Capacity in elements (private copy). 0 for NULL. Wait-free. */
SHMAP_API uint64_t shmap_vector_capacity(const shmap_vector *v);

/** @brief Element size in bytes (private copy). 0 for NULL. Wait-free. */
SHMAP_API uint32_t shmap_vector_elem_size(const shmap_vector *v);

/** @brief Number of holes recovered so far (slots of writers that died
 *  before publishing). 0 for NULL. Wait-free. */
SHMAP_API uint64_t shmap_vector_holes(const shmap_vector *v);

/**
 * @brief State of one slot, for tools.
 * @param[out] state  one of SHMAP_VECTOR_SLOT_* (may be NULL)
 * @param[out] owner  owner id of a RESERVED or REPLACING slot, the dead writer of a
 *                    HOLE, else 0 (may be NULL)
 * @return ::SHMAP_OK, ::SHMAP_E_RANGE (index >= capacity), ::SHMAP_E_INVAL,
 *         ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * **Concurrency:** any (a snapshot). **Progress:** wait-free.
 */
SHMAP_API int shmap_vector_slot_state(const shmap_vector *v, uint64_t index, uint32_t *state,
				      uint32_t *owner);

/**
 * Slot counts of a vector (shmap_vector_stats()). Set `size` to
 * `sizeof(shmap_vector_stats_t)` before the call; see "Statistics structs"
 * in common.h for how sizes of other header versions are handled.
 */
typedef struct shmap_vector_stats_t {
	uint32_t size;      /**< set by the caller: sizeof the struct */
	uint32_t reserved;  /**< set to 0 by the library */
	uint64_t published; /**< published or being replaced */
	uint64_t pending;   /**< reserved, not yet published */
	uint64_t holes;     /**< holes */
} shmap_vector_stats_t;

/**
 * @brief Count slot states over [0, reserved) by scanning, for tools.
 * @param[in,out] st the caller's struct, `st->size` set (see common.h);
 *                filled on ::SHMAP_OK, untouched otherwise.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL (NULL, or a bad `st->size`),
 *         ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED, ::SHMAP_E_PEERFAULT.
 *
 * **Concurrency:** any (not a snapshot while appenders run); changes
 * nothing. **Progress:** wait-free, O(reserved).
 */
SHMAP_API int shmap_vector_stats(const shmap_vector *v, shmap_vector_stats_t *st);

/**
 * @brief Unblock the watermark: if the first unpublished slot belongs to a
 *        dead writer, turn that writer's unpublished slots into holes and
 *        advance the watermark; repeat while possible.
 * @return ::SHMAP_OK (nothing to recover), ::SHMAP_RECOVERED (holes made),
 *         ::SHMAP_E_NOTREADY (the first unpublished slot's writer is alive),
 *         ::SHMAP_E_TIMEOUT (as shmap_vector_get()), ::SHMAP_E_INVAL,
 *         ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * **Concurrency:** any. **Progress:** lock-free; one liveness probe per
 * blocking reservation. **Ordering:** full fences around recovery.
 */
SHMAP_API int shmap_vector_recover(shmap_vector *v);

/**
 * @brief Verify the invariants of a quiescent vector (and that the segment
 *        header still matches what this handle validated at open); with
 *        ::SHMAP_CHECK_REPAIR, turn slots reserved by dead writers into
 *        holes, finish replacements abandoned by dead replacers (the old
 *        value stays), fix the watermark and the hole counter.
 * @param[in]  v         the vector
 * @param[in]  flags     0 or ::SHMAP_CHECK_REPAIR
 * @param[out] problems  number of problems found (may be NULL)
 * @return ::SHMAP_OK (no problem), ::SHMAP_RECOVERED (problems found and all
 *         repaired), ::SHMAP_E_CORRUPT (problems left), ::SHMAP_E_INVAL,
 *         ::SHMAP_E_FORKED.
 *
 * Slots held by live processes (in-flight reservations or replacements)
 * are not problems. **Concurrency:** meant for a quiescent vector; safe
 * (never faults, never corrupts) but imprecise while others write.
 * **Progress:** O(capacity), one liveness probe per distinct owner seen.
 */
SHMAP_API int shmap_vector_check(shmap_vector *v, uint32_t flags, uint64_t *problems);

/**
 * @brief Clearing a vector is refused: always ::SHMAP_E_NOTSUP.
 *
 * A vector is append-only by contract: once an index is published it names
 * the same element (or its replacement) for every reader for the life of the
 * segment, and readers rely on it without locks -- they cache indices,
 * lengths and cursors, and a hole is final. A reset could not be made safe
 * against a reader in another process holding such an index, nor against a
 * process attaching during the reset, since attaching takes no lock a
 * clearing process could hold. To start over, create a new vector under a
 * new name (or shmap_unlink() the old one and create it again: handles still
 * open keep the old contents).
 *
 * @return ::SHMAP_E_NOTSUP; ::SHMAP_E_INVAL (NULL); ::SHMAP_E_FORKED.
 * Concurrency: any thread. Never blocks; changes nothing.
 */
SHMAP_API int shmap_vector_clear(shmap_vector *v);

SHMAP_END_DECLS

#endif /* SHMAP_VECTOR_H */
