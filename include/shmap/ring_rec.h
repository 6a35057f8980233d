/* SPDX-License-Identifier: MIT */
/**
 * @file ring_rec.h
 * @brief Rings of variable-length records: SPSC, SPMC and broadcast (lossy,
 *        reliable), with the record's length carried by the ring.
 *
 * A record ring is a byte ring of `capacity` bytes (a power of two) holding
 * records of 1..`max_record` bytes. Each record takes its length rounded up
 * to 8 plus an 8-byte header, never a fixed slot; a record that does not fit
 * before the end of the buffer is preceded by a padding record and starts
 * at the beginning. So a ring full of records of 64-4096 bytes holds about
 * 99% payload.
 *
 * A record ring is a ::shmap_ring handle: open it with shmap_ring_open_rec()
 * and move records with the `*_rec` calls below. Roles, takeover of a dead
 * producer/consumer, dead-subscriber handling, shmap_ring_close(),
 * shmap_ring_reattach(), shmap_ring_wait(), shmap_ring_notify_fd(),
 * shmap_ring_notify_arm(), shmap_ring_consumers(),
 * shmap_ring_stats(), shmap_ring_consumer_stats(), shmap_ring_missed() and
 * shmap_ring_check() work as for the fixed-slot rings (ring.h), with these
 * differences: positions (head, tail, cursors) and shmap_ring_size(),
 * shmap_ring_capacity() and shmap_ring_missed() count bytes (headers and
 * padding included); shmap_ring_elem_size() is max_record;
 * shmap_ring_wait() makes a producer wait for room for a record of
 * max_record bytes, and a producer's descriptor (shmap_ring_notify_fd())
 * becomes readable when such a record fits. The fixed-slot data calls (shmap_ring_push(),
 * shmap_ring_pop(), ..., shmap_ring_read_at()) return ::SHMAP_E_NOTSUP on
 * a record ring, and the `*_rec` calls return ::SHMAP_E_NOTSUP on a
 * fixed-slot ring.
 *
 * Types: ::SHMAP_RING_SPSC (in order, exactly once, at-least-once for the
 * records of a call a consumer was killed in before it released them, as
 * for the fixed-slot ring), ::SHMAP_RING_SPMC (each record to exactly one
 * consumer; the records a consumer claimed and never finished because it
 * died are reclaimed and counted in shmap_ring_lost(), in records, never
 * redelivered: pushed == popped + lost), ::SHMAP_RING_BCAST_LOSSY (a
 * lapped subscriber gets ::SHMAP_E_OVERRUN once and continues with the
 * newest record; its missed count grows by the bytes it skipped),
 * ::SHMAP_RING_BCAST_RELIABLE (the producer is gated by the slowest live
 * subscriber; dead subscribers are dropped).
 *
 * No torn or partial record is ever returned: a push (a batch too, for
 * SPSC and reliable broadcast) becomes visible at once, a lossy subscriber
 * validates each copy after making it. Trust model as in ring.h: every
 * header, length and position read from shared memory is checked against
 * the private capacity and max_record, so a hostile peer can make a call
 * fail (::SHMAP_E_CORRUPT) but never make it read or write outside the
 * ring or loop without bound.
 *
 * Common return codes of the data calls: ::SHMAP_E_INVAL (NULL argument,
 * length 0 or over max_record), ::SHMAP_E_NOTATTACHED (the handle does
 * not hold the needed role), ::SHMAP_E_NOTSUP (not a record ring),
 * ::SHMAP_E_FORKED, ::SHMAP_E_CORRUPT, ::SHMAP_E_BUSY (a zero-copy
 * reservation/peek is outstanding on this handle).
 * Concurrency: one handle must not be used by two threads at once.
 * Progress: non-waiting calls are wait-free for SPSC and lossy broadcast,
 * lock-free for SPMC (claim retries bounded by a private budget) and
 * reliable broadcast (one scan of the subscriber records when the cached
 * lowest cursor is too low); after FULL has lasted a while, one push probes
 * the liveness of the peers holding it back; waiting calls block at most
 * their timeout (+ scheduling latency).
 */
#ifndef SHMAP_RING_REC_H
#define SHMAP_RING_REC_H

#include <shmap/ring.h>

SHMAP_BEGIN_DECLS

/** Largest max_record of a record ring, in bytes. */
#define SHMAP_RING_REC_MAX (1u << 30)
/** Bytes a record of @p len bytes takes in a record ring (header included). */
#define SHMAP_RING_REC_SIZE(len) (8u + (((uint64_t)(len) + 7u) & ~(uint64_t)7u))

/**
 * @brief Create or open a record ring and attach to it with one role.
 *
 * @param type     ::SHMAP_RING_SPSC, ::SHMAP_RING_SPMC, ::SHMAP_RING_BCAST_LOSSY
 *                 or ::SHMAP_RING_BCAST_RELIABLE; on open, 0 accepts the stored type.
 * @param max_record largest record in bytes, 1..::SHMAP_RING_REC_MAX; 0 on
 *                 open accepts the stored value.
 * @param capacity ring size in bytes, rounded up to a power of two, at least
 *                 2 x SHMAP_RING_REC_SIZE(max_record) (and 64), at most
 *                 ::SHMAP_RING_DATA_MAX; 0 on open accepts the stored value.
 * The maximum number of consumers/subscribers is an option, as for
 * shmap_ring_open() (shmap_opts_set_max_consumers()).
 * Other parameters and return codes as shmap_ring_open(). Opening a fixed-slot ring's
 * segment with this call (or a record ring's with shmap_ring_open()) is
 * ::SHMAP_E_INCOMPAT.
 * Concurrency and progress: as shmap_ring_open().
 */
SHMAP_API int shmap_ring_open_rec(const char *name, uint32_t oflags, uint32_t type,
				  uint32_t max_record, uint64_t capacity, uint32_t role,
				  const shmap_opts *opts, shmap_ring **ret);

/**
 * @brief Push one record of @p len bytes (1..max_record).
 * @return ::SHMAP_OK; ::SHMAP_E_FULL (no room; never for lossy broadcast);
 *         ::SHMAP_RECOVERED (pushed after reclaiming records a dead SPMC
 *         consumer held, or dropping a dead subscriber);
 *         ::SHMAP_E_TOOBIG (len > max_record); a common code.
 */
SHMAP_API int shmap_ring_push_rec(shmap_ring *r, const void *data, uint32_t len);

/**
 * @brief Pop one record into @p out (@p out_len bytes); its length goes to
 *        @p len.
 * @return ::SHMAP_OK; ::SHMAP_E_EMPTY; ::SHMAP_E_BUFSIZE (out_len is shorter
 *         than the record: nothing popped, *len = the length needed);
 *         lossy broadcast: ::SHMAP_E_OVERRUN (lapped: nothing copied, the
 *         next pop continues with the newest record); a common code.
 *         @p out may be NULL when @p out_len is 0 (asks for the length).
 */
SHMAP_API int shmap_ring_pop_rec(shmap_ring *r, void *out, uint32_t out_len, uint32_t *len);

/**
 * @brief shmap_ring_push_rec() waiting up to @p timeout_ms for room (as
 *        shmap_ring_push_wait(): spins, then sleeps on a futex; the
 *        producer drops dead subscribers meanwhile).
 * timeout_ms 0 behaves like shmap_ring_push_rec().
 * @return as shmap_ring_push_rec(), ::SHMAP_E_TIMEOUT instead of ::SHMAP_E_FULL.
 */
SHMAP_API int shmap_ring_push_rec_wait(shmap_ring *r, const void *data, uint32_t len,
				       uint32_t timeout_ms);

/**
 * @brief shmap_ring_pop_rec() waiting up to @p timeout_ms for a record
 *        (timeout_ms 0 behaves like shmap_ring_pop_rec()).
 *
 * Blocking: an SPSC consumer that finds the ring empty first re-tries a
 * few times at a slow pace (16 tries, 12 CPU pause instructions apart), so
 * that a streaming producer is not slowed by reads of the line it is
 * writing; then it spins, yields and sleeps as shmap_ring_pop_wait().
 * shmap_ring_pop_rec_n_wait() waits the same way.
 * @return as shmap_ring_pop_rec(), ::SHMAP_E_TIMEOUT instead of ::SHMAP_E_EMPTY.
 */
SHMAP_API int shmap_ring_pop_rec_wait(shmap_ring *r, void *out, uint32_t out_len, uint32_t *len,
				      uint32_t timeout_ms);

/**
 * @brief Push up to @p n records, in order, as many as fit: record i is
 *        lens[i] bytes, the records lie one after the other in @p data.
 * @param[out] done records pushed (0..n); may be NULL.
 * @return ::SHMAP_OK if at least one (or n == 0) was pushed, ::SHMAP_E_FULL
 *         if none could be; ::SHMAP_E_INVAL/::SHMAP_E_TOOBIG if a length is
 *         0/over max_record (nothing pushed); a common code.
 * Ordering: SPSC, SPMC and reliable broadcast publish the records pushed by
 * one call together (a consumer sees all of them or none); lossy broadcast
 * publishes them one by one.
 */
SHMAP_API int shmap_ring_push_rec_n(shmap_ring *r, const void *data, const uint32_t *lens, uint32_t n,
				    uint32_t *done);

/**
 * @brief Pop up to @p n records into @p out (@p out_len bytes), packed one
 *        after the other; record i's length goes to lens[i]. Stops before a
 *        record that does not fit in what is left of @p out (SPMC: also
 *        after 64 records, the most one claim takes).
 * @param[out] done records popped (0..n); may be NULL.
 * @return ::SHMAP_OK if at least one (or n == 0) was popped; ::SHMAP_E_EMPTY;
 *         ::SHMAP_E_BUFSIZE (the first record does not fit: nothing popped,
 *         lens[0] = its length); ::SHMAP_E_OVERRUN (lossy, lapped before the
 *         first record; a lap after some records ends the batch with OK and
 *         the next call reports it); a common code.
 */
SHMAP_API int shmap_ring_pop_rec_n(shmap_ring *r, void *out, uint64_t out_len, uint32_t *lens,
				   uint32_t n, uint32_t *done);

/**
 * @brief Push all @p n records, waiting up to @p timeout_ms in total.
 * @param[out] done records pushed (may be NULL).
 * @return ::SHMAP_OK (all pushed); ::SHMAP_E_TIMEOUT when some but not all
 *         were pushed (*done of them; also with timeout_ms 0), or none within
 *         a timeout_ms > 0; ::SHMAP_E_FULL when timeout_ms is 0 and none fit;
 *         or as shmap_ring_push_rec_n().
 */
SHMAP_API int shmap_ring_push_rec_n_wait(shmap_ring *r, const void *data, const uint32_t *lens,
					 uint32_t n, uint32_t *done, uint32_t timeout_ms);

/**
 * @brief Pop between 1 and @p n records, waiting up to @p timeout_ms for
 *        the first.
 * @return as shmap_ring_pop_rec_n(), ::SHMAP_E_TIMEOUT instead of ::SHMAP_E_EMPTY.
 */
SHMAP_API int shmap_ring_pop_rec_n_wait(shmap_ring *r, void *out, uint64_t out_len, uint32_t *lens,
					uint32_t n, uint32_t *done, uint32_t timeout_ms);

/**
 * @brief Reserve room for a record of @p len bytes to fill in place.
 * @param[out] ptr where the record's len bytes go (8-byte aligned).
 * @return ::SHMAP_OK, ::SHMAP_E_FULL, ::SHMAP_E_TOOBIG, or a common code.
 *         Lossy broadcast: always room; the bytes are announced as being
 *         overwritten at once. Until shmap_ring_commit_rec(), every other
 *         data call of the handle returns ::SHMAP_E_BUSY.
 */
SHMAP_API int shmap_ring_reserve_rec(shmap_ring *r, uint32_t len, void **ptr);

/**
 * @brief Publish the reserved record with its first @p len bytes (len <=
 *        the reserved length; 0 drops the reservation).
 * @return ::SHMAP_OK; ::SHMAP_E_INVAL (no reservation, or len too long);
 *         ::SHMAP_E_NOTATTACHED; ::SHMAP_E_FORKED; ::SHMAP_E_CORRUPT.
 * Ordering: the in-place writes happen-before a consumer's read of them.
 */
SHMAP_API int shmap_ring_commit_rec(shmap_ring *r, uint32_t len);

/**
 * @brief Look at the next record in place without consuming it.
 * @param[out] ptr its first byte; @param[out] len its length.
 * @return ::SHMAP_OK, ::SHMAP_E_EMPTY, ::SHMAP_E_OVERRUN (lossy, as for pop),
 *         or a common code. SPMC: the record is claimed by this consumer
 *         until released (shmap_ring_close() then counts it consumed).
 */
SHMAP_API int shmap_ring_peek_rec(shmap_ring *r, const void **ptr, uint32_t *len);

/**
 * @brief Consume the peeked record. The pointer from the peek must not be
 *        used afterwards.
 * @return ::SHMAP_OK; ::SHMAP_E_INVAL (no peek); lossy broadcast:
 *         ::SHMAP_E_OVERRUN if the producer may have overwritten the record
 *         while it was read: discard what was read (the subscriber is
 *         resynchronised); ::SHMAP_E_NOTATTACHED; ::SHMAP_E_FORKED.
 */
SHMAP_API int shmap_ring_release_rec(shmap_ring *r);

SHMAP_END_DECLS

#endif /* SHMAP_RING_REC_H */
