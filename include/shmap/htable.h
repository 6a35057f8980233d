/* SPDX-License-Identifier: MIT */
/**
 * @file htable.h
 * @brief A hash table in shared memory: lock-free reads, crash-safe writes,
 * runtime key and value sizes.
 *
 * Keys and values are byte strings of 1..key_max and 1..value_max bytes,
 * stored with their lengths; both maxima and the capacity are chosen when the
 * table is created and recorded in the segment.
 *
 * Guarantees:
 * - Readers (get, cursors, foreach, size) never block and never write shared
 *   memory. A lookup copies the entry and validates it against the bucket's
 *   64-bit version (seqlock style): it never returns a torn value.
 * - Writers change one bucket at a time and publish each change with one
 *   atomic store. A new value is written beside the old one and switched in
 *   atomically, so a writer killed at any instruction leaves the old or the
 *   new value, never a mix. Writers of one key serialise on a lock word in
 *   the key's home bucket that names its owner; a waiter that finds the owner
 *   dead takes the lock over (the call then returns ::SHMAP_RECOVERED), so no
 *   key stays locked longer than the liveness probe takes.
 * - No duplicate keys under any interleaving of concurrent inserts.
 * - Erase leaves a tombstone that inserts reuse; tombstones at the end of a
 *   probe chain turn back into empty buckets. A table whose live set stays
 *   under half its capacity accepts inserts forever.
 * - The hash is XXH3-64 seeded with the segment's random seed.
 * - Memory: when a key and two values of the maximum sizes fit one cache
 *   line with the bucket's version (key_max + 2 x value_max up to about 56
 *   bytes), entries live inline in the buckets and the whole table is
 *   allocated at creation. Otherwise each entry is a record in a size-class
 *   block of a record area that is sized but sparse and allocated (with
 *   posix_fallocate) as entries arrive: a table costs about what it holds
 *   (README: "How a hash table's parameters turn into memory"). A write that
 *   needs space the file system cannot give returns ::SHMAP_E_NOSPC; no
 *   access ever faults for lack of space. Blocks a writer killed at any
 *   instant had taken come back when its key is written again, when space or
 *   the writers' intent slots run out, or at shmap_htable_check() with
 *   ::SHMAP_CHECK_REPAIR.
 *
 * Thread safety: a handle may be shared by any number of threads; every call
 * except shmap_htable_close(), shmap_htable_reattach() and
 * shmap_htable_set_timeout_ms() may run concurrently with any other call on
 * the same handle or on other handles of the same table in other processes.
 *
 * Waits: writers may wait for the lock of a key another writer holds; each
 * wait is bounded by the handle's timeout (default: the open timeout of the
 * options, 2000 ms) and returns ::SHMAP_E_TIMEOUT if a live writer keeps the
 * lock that long.
 *
 * Common return codes of every call taking a handle: ::SHMAP_E_INVAL (NULL
 * handle or bad argument, nothing changed), ::SHMAP_E_FORKED (handle used in
 * a child after fork(); call shmap_htable_reattach()), ::SHMAP_E_CORRUPT (a
 * shared field violates an invariant; the handle stays usable),
 * ::SHMAP_E_PEERFAULT (a peer shrank the segment's file and this call, or an
 * earlier one on the handle, touched the lost pages: the handle is poisoned,
 * every later call returns this code; close it; see segment.h).
 */
#ifndef SHMAP_HTABLE_H
#define SHMAP_HTABLE_H

#include <shmap/common.h>
#include <shmap/segment.h>

SHMAP_BEGIN_DECLS

/** Opaque hash table handle. */
typedef struct shmap_htable shmap_htable;

/** Opaque iteration cursor (see shmap_htable_cursor_new()). */
typedef struct shmap_htable_cursor shmap_htable_cursor;

/** @name Return values of an update callback (::shmap_htable_update_fn) */
/**@{*/
#define SHMAP_HTABLE_COMMIT 0  /**< store `out` (`*out_len` bytes) as the key's value */
#define SHMAP_HTABLE_ABORT 1   /**< change nothing; shmap_htable_update() returns ::SHMAP_E_ABORTED */
#define SHMAP_HTABLE_ERASE 2   /**< erase the key (no-op if it does not exist) */
#define SHMAP_HTABLE_KEEP 3    /**< write nothing: OK, or NOTFOUND for a missing key */
/**@}*/


/** Largest key_max a table accepts. */
#define SHMAP_HTABLE_KEY_MAX_LIMIT 65535u
/** Largest value_max a table accepts (16 MiB). */
#define SHMAP_HTABLE_VALUE_MAX_LIMIT 16777216u
/** Largest capacity a table accepts (2^31 entries). */
#define SHMAP_HTABLE_CAPACITY_LIMIT 2147483648u

/**
 * @brief Update callback: sees the current value and decides the new one.
 *
 * @param[in] cur current value (a private copy), or NULL if the key is missing
 * @param[in] cur_len length of `cur` (0 if missing)
 * @param[in] exists 1 if the key exists, 0 if not
 * @param[in,out] out buffer of value_max bytes for the new value. On entry it
 *   holds a copy of the current value (the rest up to value_max zeroed) if
 *   the key exists, and value_max zero bytes if it does not, so a callback
 *   may edit it in place: a counter's `v += 1` needs no special case.
 * @param[in,out] out_len on entry the current value's length (`cur_len`) if
 *   the key exists, 0 if not; set it to the new value's length
 *   (1..value_max) before returning ::SHMAP_HTABLE_COMMIT (a new key's
 *   committed length must be set, since 0 is refused).
 * @param[in] arg the caller's argument
 * @return ::SHMAP_HTABLE_COMMIT, ::SHMAP_HTABLE_ABORT, ::SHMAP_HTABLE_ERASE or
 *   ::SHMAP_HTABLE_KEEP. An update-if-exists is a callback that returns
 *   ::SHMAP_HTABLE_KEEP when `exists` is 0; KEEP is also the way to succeed
 *   without writing (ABORT makes the call fail with ::SHMAP_E_ABORTED).
 *
 * The callback runs while the calling thread holds the key's lock: it must
 * be short, and must not call into the same table (that would wait for its
 * own lock until the timeout). If the process dies inside the callback,
 * nothing was written: the key keeps its old value and its lock is recovered
 * by the next writer.
 */
typedef int (*shmap_htable_update_fn)(const void *cur, uint32_t cur_len, int exists, void *out,
				      uint32_t *out_len, void *arg);

/**
 * @brief Iteration callback of shmap_htable_foreach().
 * @return 0 to continue, any other value to stop (foreach returns it).
 */
typedef int (*shmap_htable_foreach_fn)(const void *key, uint32_t klen, const void *val,
				       uint32_t vlen, void *arg);

/**
 * @brief Create, open, or open-or-create a hash table segment.
 *
 * @param[in] name segment name (see segment.h); ignored for a memfd being created
 * @param[in] oflags ::SHMAP_CREATE, ::SHMAP_OPEN, ::SHMAP_OPEN_OR_CREATE, or
 *   `SHMAP_OPEN | SHMAP_OPEN_WAIT` (wait for the table to be created)
 * @param[in] key_max largest key in bytes (1..65535); on open 0 accepts the stored value
 * @param[in] value_max largest value in bytes (1..16 MiB); on open 0 accepts the stored value
 * @param[in] capacity number of entries the table must hold (1..2^31);
 *   rounded up to a power of two (at least 16), readable back with
 *   shmap_htable_capacity(). Lookups stay fast up to about 70% of it.
 *   On open, 0 accepts the stored capacity; any other value must round to it.
 *   (Sizes come first, then the capacity, in every open of the library.)
 * @param[in] opts options, or NULL for the defaults
 * @param[out] ret receives the handle; untouched on failure
 * @return ::SHMAP_OK, ::SHMAP_RECOVERED (rebuilt after a dead builder),
 *   ::SHMAP_E_INVAL, ::SHMAP_E_NAMETOOLONG, ::SHMAP_E_NOMEM, ::SHMAP_E_EXIST,
 *   ::SHMAP_E_NOENT, ::SHMAP_E_INCOMPAT (another kind, or other sizes),
 *   ::SHMAP_E_VERSION, ::SHMAP_E_BADMAGIC, ::SHMAP_E_TRUNCATED,
 *   ::SHMAP_E_CORRUPT, ::SHMAP_E_NOTREADY, ::SHMAP_E_TIMEOUT,
 *   ::SHMAP_E_ACCESS, ::SHMAP_E_NOSPC, ::SHMAP_E_SYS (errno kept),
 *   ::SHMAP_E_PEERFAULT (a peer shrank the file during the open).
 *
 * Concurrency: any number of processes/threads may open the same table at
 * once. Progress: may block up to the options' open timeout while another
 * process builds the segment, or, with ::SHMAP_OPEN_WAIT, until it is created
 * (::SHMAP_E_TIMEOUT if it is not). Ordering: the table is fully initialised
 * before any opener returns.
 */
SHMAP_API int shmap_htable_open(const char *name, uint32_t oflags, uint32_t key_max, uint32_t value_max,
				uint64_t capacity, const shmap_opts *opts, shmap_htable **ret);

/**
 * @brief Detach and free a handle. NULL is a no-op. The segment stays (use
 * shmap_unlink() to remove its name). Cursors of the handle must be freed
 * first. Concurrency: no other call may use the handle meanwhile.
 */
SHMAP_API void shmap_htable_close(shmap_htable *t);

/**
 * @brief In a child after fork(): attach the inherited handle to the child.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL, ::SHMAP_E_FULL (no free participant
 *   slot), ::SHMAP_E_SYS.
 * Concurrency: no other call may use the handle meanwhile.
 */
SHMAP_API int shmap_htable_reattach(shmap_htable *t);

/** @brief The memfd to pass to peers (memfd backend, creator), else -1. Never blocks. */
SHMAP_API int shmap_htable_fd(const shmap_htable *t);

/**
 * @brief Set the bound on how long a writer waits for a key's lock held by a
 * live writer (default: the options' open timeout). 0 means try once.
 * @return ::SHMAP_OK or ::SHMAP_E_INVAL.
 * Concurrency: not concurrently with other calls on the handle.
 */
SHMAP_API int shmap_htable_set_timeout_ms(shmap_htable *t, uint32_t ms);

/**
 * @brief Look a key up and copy its value out.
 *
 * @param[out] val buffer of `val_cap` bytes (may be NULL if val_cap is 0)
 * @param[out] val_len receives the value's length (also on ::SHMAP_E_BUFSIZE)
 * @return ::SHMAP_OK, ::SHMAP_E_NOTFOUND, ::SHMAP_E_BUFSIZE (val_cap too
 *   small; *val_len is the size needed, val unspecified), ::SHMAP_E_INVAL
 *   (NULL key/val_len, klen 0), ::SHMAP_E_TOOBIG (klen > key_max: such a key
 *   cannot exist), ::SHMAP_E_BUSY (the entry changed under more than a
 *   thousand consecutive copies; retry), ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * Concurrency: any. Progress: never blocks, never writes shared memory;
 * bounded by the capacity and a retry budget. Ordering: acquire; the value
 * returned is one that was current at some instant during the call.
 */
SHMAP_API int shmap_htable_get(const shmap_htable *t, const void *key, uint32_t klen, void *val,
			       uint32_t val_cap, uint32_t *val_len);

/**
 * @brief Look n keys up at once; per key, the same result as
 * shmap_htable_get().
 *
 * Random lookups in a table larger than the caches are bound by memory
 * latency. This call computes the keys' home buckets first and asks the CPU
 * to fetch them all, so that the lookups' cache misses overlap instead of
 * following one another; in the benchmark program, `table-get-batch`
 * against `table-get`.
 *
 * Flat arrays, no array of pointers (usable from cgo, ctypes and Rust as
 * plain buffers):
 * @param n number of keys, at most INT32_MAX; 0 returns 0 for any non-NULL
 *   t, and nothing else is read or written
 * @param keys key i starts at `keys + i * key_stride`
 * @param key_stride bytes from one key to the next
 * @param klens klens[i] is key i's length; NULL: every key is key_stride
 *   bytes long
 * @param[out] vals value i is copied to `vals + i * val_stride`, which has
 *   room for val_stride bytes (vals may be NULL if val_stride is 0: lengths
 *   only)
 * @param[out] val_lens val_lens[i] receives value i's length on
 *   ::SHMAP_OK and ::SHMAP_E_BUFSIZE, 0 otherwise
 * @param[out] rcs rcs[i] receives key i's status, as shmap_htable_get()
 *   would return it: ::SHMAP_OK, ::SHMAP_E_NOTFOUND, ::SHMAP_E_BUFSIZE,
 *   ::SHMAP_E_INVAL (klens[i] is 0), ::SHMAP_E_TOOBIG, ::SHMAP_E_BUSY,
 *   ::SHMAP_E_CORRUPT
 * @return the number of keys found (rcs[i] == ::SHMAP_OK), or, with nothing
 *   written: ::SHMAP_E_INVAL (NULL t, also with n 0; n > INT32_MAX; with
 *   n > 0: NULL keys, val_lens or rcs;
 *   NULL vals with val_stride > 0; klens NULL and key_stride 0),
 *   ::SHMAP_E_FORKED, ::SHMAP_E_PEERFAULT (poisoned handle).
 *
 * Concurrency: any, as shmap_htable_get(). Progress: never blocks, never
 * writes shared memory. Each key is looked up on its own: the results are
 * not a snapshot of one instant.
 */
SHMAP_API int shmap_htable_get_many(const shmap_htable *t, uint32_t n, const void *keys, uint32_t key_stride,
				    const uint32_t *klens, void *vals, uint32_t val_stride, uint32_t *val_lens,
				    int *rcs);

/**
 * @brief Insert a key that must not exist yet.
 * @return ::SHMAP_OK, ::SHMAP_RECOVERED (done, after taking over a dead
 *   writer's lock), ::SHMAP_E_EXIST (key present, nothing changed),
 *   ::SHMAP_E_FULL (no free bucket; or, out-of-line records, the record area
 *   is exhausted, which a table never holding more than its capacity never
 *   reaches), ::SHMAP_E_NOSPC (out-of-line records: the file system has no
 *   room for the record; nothing changed), ::SHMAP_E_TOOBIG (klen > key_max
 *   or vlen > value_max), ::SHMAP_E_INVAL (NULL, zero length),
 *   ::SHMAP_E_TIMEOUT (a live writer held the key's lock past the timeout),
 *   ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * Concurrency: any. Progress: blocking on the key's lock, bounded by the
 * handle's timeout; dead lock owners are recovered. Ordering: release; a
 * reader that sees the key sees the whole value.
 */
SHMAP_API int shmap_htable_insert(shmap_htable *t, const void *key, uint32_t klen, const void *val,
				  uint32_t vlen);

/**
 * @brief Insert the key, or replace its value if present.
 * @return as shmap_htable_insert(), without ::SHMAP_E_EXIST.
 */
SHMAP_API int shmap_htable_upsert(shmap_htable *t, const void *key, uint32_t klen, const void *val,
				  uint32_t vlen);

/**
 * @brief Replace the value of a key that must exist.
 * @return as shmap_htable_insert(), with ::SHMAP_E_NOTFOUND instead of
 *   ::SHMAP_E_EXIST (::SHMAP_E_FULL and ::SHMAP_E_NOSPC only for out-of-line
 *   records: the new value needs a new record; nothing changed).
 */
SHMAP_API int shmap_htable_replace(shmap_htable *t, const void *key, uint32_t klen, const void *val,
				   uint32_t vlen);

/**
 * @brief Erase a key.
 * @return ::SHMAP_OK, ::SHMAP_RECOVERED, ::SHMAP_E_NOTFOUND,
 *   ::SHMAP_E_TOOBIG, ::SHMAP_E_INVAL, ::SHMAP_E_TIMEOUT, ::SHMAP_E_CORRUPT,
 *   ::SHMAP_E_FORKED.
 * Concurrency, progress, ordering: as shmap_htable_insert().
 */
SHMAP_API int shmap_htable_erase(shmap_htable *t, const void *key, uint32_t klen);

/**
 * @brief Compare-and-swap a value: replace it with `desired` only if it
 * currently equals `expected` (same length and bytes).
 * @return ::SHMAP_OK, ::SHMAP_RECOVERED, ::SHMAP_E_MISMATCH (differs;
 *   nothing changed), ::SHMAP_E_NOTFOUND, ::SHMAP_E_TOOBIG, ::SHMAP_E_INVAL,
 *   ::SHMAP_E_FULL, ::SHMAP_E_NOSPC (as shmap_htable_replace()),
 *   ::SHMAP_E_TIMEOUT, ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 * Concurrency, progress, ordering: as shmap_htable_insert().
 */
SHMAP_API int shmap_htable_cas(shmap_htable *t, const void *key, uint32_t klen, const void *expected,
			       uint32_t elen, const void *desired, uint32_t dlen);

/**
 * @brief Compare-and-erase: erase a key only if its value currently equals
 * `expected` (same length and bytes). The comparison and the erase happen
 * under the key's lock, as one step: of several callers racing to
 * cas_erase the same entry with its current value, exactly one gets
 * ::SHMAP_OK and the others ::SHMAP_E_NOTFOUND (or ::SHMAP_E_MISMATCH if
 * the key was re-inserted with another value in between). The
 * non-callback form of an update callback returning ::SHMAP_HTABLE_ERASE
 * on a matching value (for bindings that cannot pass C callbacks).
 * @return ::SHMAP_OK (erased), ::SHMAP_RECOVERED (erased after taking over
 *   a dead writer's lock), ::SHMAP_E_MISMATCH (the value differs; nothing
 *   changed), ::SHMAP_E_NOTFOUND (no such key; nothing changed),
 *   ::SHMAP_E_TOOBIG (klen > key_max or elen > value_max),
 *   ::SHMAP_E_INVAL (NULL table, key or expected; klen or elen 0),
 *   ::SHMAP_E_TIMEOUT (the key's lock stayed held by a live process past
 *   the timeout; nothing changed), ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * Concurrency: any. Progress: blocking on the key's lock, bounded by the
 * handle's timeout; dead lock owners are recovered; readers never wait for
 * it. Ordering: release, linearizable with every other write of the key; a
 * lookup that starts after a successful call returns does not find the key.
 */
SHMAP_API int shmap_htable_cas_erase(shmap_htable *t, const void *key, uint32_t klen, const void *expected,
				     uint32_t elen);

/**
 * @brief Read-modify-write a key through a callback (see ::shmap_htable_update_fn).
 *
 * The callback is called exactly once, with the key's lock held, on a
 * private copy of the current value (or NULL if the key is missing). Its
 * result is applied atomically: COMMIT stores the value (creating the key
 * if missing), ERASE removes it, ABORT and KEEP change nothing. The
 * callback's `out` starts as a copy of the current value, or zero-filled
 * with `*out_len` 0 for a missing key.
 *
 * @return ::SHMAP_OK, ::SHMAP_RECOVERED, ::SHMAP_E_ABORTED (callback
 *   aborted; nothing changed), ::SHMAP_E_NOTFOUND (callback returned KEEP
 *   for a missing key; nothing changed), ::SHMAP_E_FULL (callback committed a new key
 *   but no bucket was free; nothing changed), ::SHMAP_E_TOOBIG (key too long,
 *   or the callback returned a length above value_max; nothing changed),
 *   ::SHMAP_E_INVAL (also: callback returned length 0 or an unknown code),
 *   ::SHMAP_E_NOSPC (as shmap_htable_insert(); nothing changed),
 *   ::SHMAP_E_NOMEM, ::SHMAP_E_TIMEOUT, ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 *
 * Concurrency: any; the callback of one key never runs concurrently with
 * another writer of that key. Progress: blocking, bounded by the timeout
 * plus the callback's own duration. Ordering: release on commit.
 */
SHMAP_API int shmap_htable_update(shmap_htable *t, const void *key, uint32_t klen, shmap_htable_update_fn fn,
				  void *arg);

/**
 * @brief Create a cursor over the table. Iteration is weakly consistent:
 * each entry returned was present with that value at some instant; entries
 * present for the whole iteration are returned exactly once, others at most
 * once. An entry is one insertion of a key: a key erased and inserted again
 * while the iteration runs is a new entry, which may sit in a bucket the
 * cursor has not reached yet, so such a key can be returned twice (once per
 * entry). On a table that no one writes during the iteration, every key is
 * returned exactly once.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL, ::SHMAP_E_NOMEM, ::SHMAP_E_FORKED.
 * Concurrency: any. A cursor itself is used by one thread at a time.
 */
SHMAP_API int shmap_htable_cursor_new(const shmap_htable *t, shmap_htable_cursor **ret);

/**
 * @brief Copy the next entry out and advance.
 * @return ::SHMAP_OK, ::SHMAP_E_NOTFOUND (end of table), ::SHMAP_E_BUFSIZE
 *   (a buffer is too small: *klen and *vlen hold the sizes needed and the
 *   cursor does not advance), ::SHMAP_E_INVAL, ::SHMAP_E_BUSY,
 *   ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 * Progress: never blocks, never writes shared memory.
 */
SHMAP_API int shmap_htable_cursor_next(shmap_htable_cursor *c, void *key, uint32_t key_cap, uint32_t *klen,
				       void *val, uint32_t val_cap, uint32_t *vlen);

/** @brief Restart a cursor from the beginning. @return ::SHMAP_OK or ::SHMAP_E_INVAL. */
SHMAP_API int shmap_htable_cursor_reset(shmap_htable_cursor *c);

/** @brief Free a cursor. NULL is a no-op. */
SHMAP_API void shmap_htable_cursor_free(shmap_htable_cursor *c);

/**
 * @brief Call fn for each entry (weakly consistent, as a cursor). The
 * callback gets private copies and may call other table functions.
 * @return ::SHMAP_OK after the last entry, the callback's nonzero value if
 *   it stopped early, ::SHMAP_E_INVAL, ::SHMAP_E_NOMEM, ::SHMAP_E_BUSY,
 *   ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 * Progress: never blocks on other processes.
 */
SHMAP_API int shmap_htable_foreach(const shmap_htable *t, shmap_htable_foreach_fn fn, void *arg);

/**
 * @brief Number of live entries. O(1), wait-free, reads shared counters;
 * exact when the table is quiescent (a writer killed between publishing and
 * counting leaves it off by one until shmap_htable_check() repairs it).
 * Returns 0 for a NULL handle.
 */
SHMAP_API uint64_t shmap_htable_size(const shmap_htable *t);

/** @brief Real capacity (buckets = most entries it holds). 0 for NULL. */
SHMAP_API uint64_t shmap_htable_capacity(const shmap_htable *t);

/** @brief Largest key length accepted. 0 for NULL. */
SHMAP_API uint32_t shmap_htable_key_max(const shmap_htable *t);

/** @brief Largest value length accepted. 0 for NULL. */
SHMAP_API uint32_t shmap_htable_value_max(const shmap_htable *t);

/**
 * Statistics of a hash table (shmap_htable_stats()). Set `size` to
 * `sizeof(shmap_htable_stats_t)` before the call; see "Statistics structs"
 * in common.h for how sizes of other header versions are handled.
 */
typedef struct shmap_htable_stats_t {
	uint32_t size;          /**< set by the caller: sizeof the struct */
	uint32_t reserved;      /**< set to 0 by the library */
	uint64_t live;          /**< entries found */
	uint64_t tombstones;    /**< tombstones found */
	uint64_t longest_probe; /**< buckets a lookup of the worst-placed key touches (1 = its home bucket) */
} shmap_htable_stats_t;

/**
 * @brief Statistics from a scan of every bucket (O(capacity), never blocks;
 * approximate while writers run).
 * @param[in,out] st the caller's struct, `st->size` set (see common.h);
 *   filled on ::SHMAP_OK, untouched otherwise.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL (NULL, or a bad `st->size`),
 *   ::SHMAP_E_NOMEM, ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED, ::SHMAP_E_PEERFAULT.
 * Concurrency: any. Progress: never blocks, never writes shared memory.
 */
SHMAP_API int shmap_htable_stats(const shmap_htable *t, shmap_htable_stats_t *st);

/**
 * @brief Erase every entry. Takes every bucket lock in order, so it waits
 * for in-flight writers (bounded by the timeout); not atomic for readers,
 * which may see some entries gone and others not yet. A clear killed midway
 * leaves a valid table with some entries erased.
 * @return ::SHMAP_OK, ::SHMAP_RECOVERED, ::SHMAP_E_TIMEOUT, ::SHMAP_E_INVAL,
 *   ::SHMAP_E_CORRUPT, ::SHMAP_E_FORKED.
 */
SHMAP_API int shmap_htable_clear(shmap_htable *t);

/**
 * @brief Verify every invariant of a quiescent table; with
 * ::SHMAP_CHECK_REPAIR, recover what dead processes left.
 *
 * Checks: bucket states and lengths within the private limits, every key
 * reachable from its home bucket, no duplicate key, no lock held by a dead
 * process, the size counter; with out-of-line records also: no block taken
 * by a dead writer, no block used twice, every block of the record area in
 * a live record or on a free list. With ::SHMAP_CHECK_REPAIR it takes every lock
 * (recovering those of dead owners, never one whose owner is alive), then
 * fixes what it found: releases dead locks, makes unreachable keys reachable,
 * erases duplicates, recounts the size, turns trailing tombstones back into
 * empty buckets; gives dead writers' blocks back and rebuilds the free lists
 * from the live records.
 *
 * @param[in] flags 0 or ::SHMAP_CHECK_REPAIR
 * @param[out] problems receives the number of problems found (may be NULL)
 * @return ::SHMAP_OK (no problem), ::SHMAP_RECOVERED (problems found and all
 *   repaired), ::SHMAP_E_CORRUPT (problems found and not repaired),
 *   ::SHMAP_E_BUSY (a live process holds a lock: not quiescent; with REPAIR,
 *   after the timeout), ::SHMAP_E_INVAL, ::SHMAP_E_FORKED.
 * Progress: O(capacity x probe length); with REPAIR blocking like clear().
 */
SHMAP_API int shmap_htable_check(shmap_htable *t, uint32_t flags, uint64_t *problems);

SHMAP_END_DECLS

#endif /* SHMAP_HTABLE_H */
