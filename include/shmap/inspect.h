/* SPDX-License-Identifier: MIT */
/**
 * @file inspect.h
 * @brief Looking at segments without attaching: kind, parameters, state,
 * attached processes; removing segments whose users are all gone.
 *
 * Inspection never maps the segment: it reads the header and the participant
 * table with pread(), validates them with the same checks and limits as an
 * open (magic, version, checksum, sizes and offsets against each other and
 * the file, at most 4000 participants, the kind's own layout), and probes each
 * participant's kernel-held liveness lock. It is therefore safe to point at
 * any file, including a hostile or truncated one, and it never changes the
 * segment. Tools (shmapctl) and monitoring code use it.
 */
#ifndef SHMAP_INSPECT_H
#define SHMAP_INSPECT_H

#include <shmap/common.h>
#include <shmap/segment.h>

SHMAP_BEGIN_DECLS

/** @name Structure kinds (shmap_info_field(::SHMAP_INFO_KIND)) */
/**@{*/
#define SHMAP_KIND_HTABLE 1u
#define SHMAP_KIND_RING_SPSC 2u
#define SHMAP_KIND_RING_SPMC 3u
#define SHMAP_KIND_RING_BCAST 4u
#define SHMAP_KIND_VECTOR 5u
#define SHMAP_KIND_RING_REC 6u  /**< ring of variable-length records (ring_rec.h) */
/**@}*/

/** @name Fields readable with shmap_info_field() */
/**@{*/
#define SHMAP_INFO_KIND 1u          /**< SHMAP_KIND_* */
#define SHMAP_INFO_KIND_FLAGS 2u    /**< kind-specific flags (e.g. broadcast policy) */
#define SHMAP_INFO_CAPACITY 3u
#define SHMAP_INFO_KEY_MAX 4u
#define SHMAP_INFO_VALUE_MAX 5u
#define SHMAP_INFO_ELEM_SIZE 6u
#define SHMAP_INFO_MAX_CONSUMERS 7u
#define SHMAP_INFO_TOTAL_SIZE 8u    /**< bytes mapped */
#define SHMAP_INFO_DATA_SIZE 9u     /**< bytes of the structure's region */
#define SHMAP_INFO_FILE_SIZE 10u    /**< size of the backing object */
#define SHMAP_INFO_CREATED_NS 11u   /**< creation time, ns since the Unix epoch */
#define SHMAP_INFO_CREATOR_UID 12u
#define SHMAP_INFO_CREATOR_PID 13u
#define SHMAP_INFO_GENERATION 14u   /**< build generation (rises when a dead builder's work is redone) */
#define SHMAP_INFO_MAX_PROCS 15u    /**< participant slots */
#define SHMAP_INFO_ATTACHED 16u     /**< participants alive right now */
#define SHMAP_INFO_MODE 17u         /**< permission bits of the backing object */
#define SHMAP_INFO_OWNER_UID 18u    /**< owner of the backing object */
#define SHMAP_INFO_HASH_SEED 19u
#define SHMAP_INFO_LAYOUT_VERSION 20u
#define SHMAP_INFO_ALLOC_SIZE 21u   /**< bytes the backing object allocates (st_blocks x 512); a hash table with varied-size entries leaves most of its file sparse */
/** The highest field number defined by this version of the header (fields run 1..MAX). */
#define SHMAP_INFO_FIELD_MAX 21u
/**@}*/

/** A snapshot of one segment's header and participant table. */
typedef struct shmap_info shmap_info;

/**
 * @brief Read and validate a segment's header and participant table.
 *
 * @param[in] name segment name (or path / ignored for memfd, per @p opts)
 * @param[in] opts backend, expected owner (inspection accepts any mode);
 *                 NULL for POSIX shm and "any owner".
 * @param[out] ret the snapshot; untouched on failure.
 * @return ::SHMAP_OK; ::SHMAP_E_INVAL / ::SHMAP_E_NAMETOOLONG (bad name),
 * ::SHMAP_E_NOENT, ::SHMAP_E_ACCESS (not a regular file, symlink, no read
 * permission), ::SHMAP_E_BADMAGIC (not a shmap segment: also a short or empty
 * object without shmap's building mark or creation mode bit), ::SHMAP_E_VERSION,
 * ::SHMAP_E_CORRUPT (checksum, sizes or offsets wrong), ::SHMAP_E_TRUNCATED,
 * ::SHMAP_E_NOTREADY (being built, or its builder died: what an
 * open-or-create would rebuild), ::SHMAP_E_NOMEM,
 * ::SHMAP_E_SYS (errno kept).
 *
 * Concurrency: safe from any thread or process, concurrently with any use of
 * the segment. Progress: a few system calls; never waits.
 */
SHMAP_API int shmap_info_open(const char *name, const shmap_opts *opts, shmap_info **ret);

/** @brief Free a snapshot. NULL is a no-op. */
SHMAP_API void shmap_info_free(shmap_info *info);

/**
 * @brief One field of the snapshot (SHMAP_INFO_*); 0 for an unknown field.
 * Concurrency: a snapshot is immutable; any thread may read it.
 */
SHMAP_API uint64_t shmap_info_field(const shmap_info *info, uint32_t field);

/**
 * @brief Participant slot @p slot (0 .. SHMAP_INFO_MAX_PROCS-1).
 *
 * @param[out] pid        process id recorded at attach (may be NULL)
 * @param[out] start_time process start time in clock ticks since boot, as in
 *                        /proc/PID/stat field 22 (may be NULL)
 * @param[out] alive      1 if the slot's liveness lock is held now, else 0 (may be NULL)
 * @return ::SHMAP_OK for a slot that is attached or was left attached by a
 * process that died (then *alive is 0); ::SHMAP_E_NOTFOUND for a free slot;
 * ::SHMAP_E_RANGE for a slot out of range; ::SHMAP_E_INVAL for NULL info.
 */
SHMAP_API int shmap_info_participant(const shmap_info *info, uint32_t slot, uint32_t *pid,
				     uint64_t *start_time, uint32_t *alive);

/** @brief Name of a kind ("htable", "ring-spsc", "ring-spmc", "ring-bcast", "vector", "unknown"). */
SHMAP_API const char *shmap_kind_name(uint32_t kind);

/**
 * @brief Unlink every POSIX shm segment whose name starts with @p prefix and
 * that no live process uses (every participant's liveness lock free and no
 * builder at work). Objects that are not shmap segments are never touched.
 *
 * A process that is opening such a name at that very moment may still attach
 * to the unlinked object; use it for names whose users are known to be gone
 * (after a crash, at service start).
 *
 * Where the build keeps liveness in lock files, it also removes the
 * caller's lock directories that nobody holds: those of the names removed,
 * of names that no longer exist (matching @p prefix), of earlier segments
 * of a name, and of anonymous segments.
 *
 * @param[in] prefix name prefix including the leading '/', e.g. "/myapp-"
 * @param[out] removed number of names removed (may be NULL)
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL (bad prefix), ::SHMAP_E_SYS (cannot
 * list /dev/shm; errno kept), ::SHMAP_E_NOTSUP (a platform whose shm names
 * are not files in a directory: no listing exists).
 *
 * Concurrency: safe from any thread or process. Progress: a few system calls
 * per matching name; never waits.
 */
SHMAP_API int shmap_cleanup_stale(const char *prefix, uint32_t *removed);

/**
 * @brief Free the participant slots of processes that died while attached
 * to a segment (the "registry entries" they left).
 *
 * A slot is freed only when its kernel-held liveness lock can be taken, which
 * proves its holder is gone; live processes are never touched. Claims the dead
 * process left inside the structure already count as dead (the module calls
 * and checkers recover them); reaping only tidies the registry that tools show.
 *
 * @param[in] name segment name or path (per @p opts)
 * @param[in] opts backend and expected owner, as for the open calls; NULL for
 *                 POSIX shm with the default checks
 * @param[out] reaped number of slots freed (may be NULL)
 * @return ::SHMAP_OK, or the codes of shmap_info_open() (the segment is
 * validated first), ::SHMAP_E_ACCESS (no write access), ::SHMAP_E_PEERFAULT
 * (a peer shrank the file while it was being reaped; nothing is left mapped).
 *
 * Concurrency: safe while other processes attach, detach and use the
 * segment. Progress: one lock attempt per registered slot; never waits.
 */
SHMAP_API int shmap_reap(const char *name, const shmap_opts *opts, uint32_t *reaped);

SHMAP_END_DECLS

#endif /* SHMAP_INSPECT_H */
