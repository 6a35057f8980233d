/* SPDX-License-Identifier: MIT */
/**
 * @file segment.h
 * @brief Segments: open flags, backends, creation options, unlink.
 *
 * Every shmap data structure lives in its own segment: one shared mapping
 * that starts with a validated header. The calls here are shared by all
 * structures; each structure's own header (htable.h, ring.h, vector.h) has
 * the open call that takes these flags and options.
 *
 * Backends:
 * - ::SHMAP_BACKEND_SHM (default): a POSIX shared-memory object. The name is
 *   `/name`: a leading slash, then 1 to 255 bytes with no further `/`, no
 *   control characters, not `.` or `..`, and not starting with `sem.`
 *   (glibc's semaphore namespace). Bad names are rejected before any system
 *   call with ::SHMAP_E_INVAL or ::SHMAP_E_NAMETOOLONG. Where the system
 *   keeps shorter shm names (macOS: 31 bytes with the `/`, and builds made
 *   with `-Dportable=object` to test that path) the limit is 30 bytes.
 * - ::SHMAP_BACKEND_FILE: a regular file at the given path; it survives
 *   reboots. The last path component is never followed if it is a symlink.
 * - ::SHMAP_BACKEND_MEMFD: an anonymous memfd, shared by passing its file
 *   descriptor (SCM_RIGHTS or inheritance). The creator names it with a label
 *   of its choice; the handle's fd is obtained with the structure's `_fd()`
 *   call; other processes open it with shmap_opts_set_fd(). The memfd is
 *   sealed against shrinking (F_SEAL_SHRINK), so no peer can truncate it.
 *
 * Security defaults: created with mode 0600 exactly (whatever the umask),
 * never following a symlink, space reserved at creation with
 * posix_fallocate() (a full /dev/shm is ::SHMAP_E_NOSPC at create time, not a
 * SIGBUS later). An existing object is opened only if it is a regular file
 * with one link, owned by the caller's effective uid (or the owner set with
 * shmap_opts_set_owner()), and without group/other permission bits beyond the
 * mode set with shmap_opts_set_mode(); otherwise ::SHMAP_E_ACCESS.
 *
 * Waiting for a segment (`SHMAP_OPEN | SHMAP_OPEN_WAIT`, for every structure):
 * consumers often start before their producer. With this flag an open that
 * finds no segment under the name waits for one to be created and become
 * ready, up to the options' open timeout (shmap_opts_set_timeout_ms(),
 * default 2000 ms, one deadline for the whole call), then opens it exactly as
 * ::SHMAP_OPEN does (a segment of another kind is still ::SHMAP_E_INCOMPAT,
 * a dead builder's ::SHMAP_E_NOTREADY). If the name never appears in time:
 * ::SHMAP_E_TIMEOUT (with a timeout of 0, after one attempt). The wait sleeps
 * on an inotify watch of the directory that will hold the name (/dev/shm, or
 * the file's directory), and where no watch can be set (inotify instances
 * exhausted, the directory does not exist yet) in a bounded back-off of 1 to
 * 64 ms sleeps; it never spins a CPU, and re-checks at least every 200 ms.
 * For ::SHMAP_BACKEND_MEMFD there is no name to wait for (the received
 * descriptor already is the segment): the flag means ::SHMAP_OPEN there.
 * ::SHMAP_OPEN_WAIT alone or with ::SHMAP_CREATE is ::SHMAP_E_INVAL.
 *
 * Guard pages: every mapping is framed by two PROT_NONE guards of one system
 * page each (sysconf(_SC_PAGESIZE): 4, 16 or 64 KiB), so an access just
 * outside a segment faults on every page size.
 *
 * Objects that are not segments: an existing object is only ever rebuilt by
 * ::SHMAP_OPEN_OR_CREATE if shmap made it and its builder died -- it carries
 * the building mark a builder writes first (under its builder lock), or the
 * segment magic, or it is empty and still has the sticky mode bit a shmap
 * create gives it until the mark is written. Anything else is refused with
 * ::SHMAP_E_BADMAGIC (an empty object without the bit only once the open's
 * timeout has passed, as it may be a creator's about to be marked) and is
 * never written, on every backend.
 *
 * A peer that shrinks the file (shm and file backends; sealed memfds refuse
 * it): shmap installs a SIGBUS handler when a process maps its first segment
 * (and puts it back in front of a handler installed later, at the next
 * open). A fault inside a segment mapping is answered by mapping anonymous
 * zero pages over that segment, so the access completes; the handle is
 * poisoned, the call that was running returns ::SHMAP_E_PEERFAULT, and every
 * later call on the handle returns it too (close it, and open again). Faults
 * elsewhere go to the handler that was installed before, or kill the process
 * with SIGBUS if that was the default. Opt out per segment with
 * ::SHMAP_OPT_NO_SIGBUS_GUARD, or for the whole process by setting the
 * environment variable `SHMAP_NO_SIGBUS_GUARD` (to anything but empty or
 * `0`) before the first open; a shrink then kills with SIGBUS.
 */
#ifndef SHMAP_SEGMENT_H
#define SHMAP_SEGMENT_H

#include <shmap/common.h>

SHMAP_BEGIN_DECLS

/** @name Open flags (the `oflags` argument of every `_open` call) */
/**@{*/
#define SHMAP_CREATE 1u          /**< create; ::SHMAP_E_EXIST if the name exists */
#define SHMAP_OPEN 2u            /**< open an existing segment; ::SHMAP_E_NOENT if missing */
#define SHMAP_OPEN_OR_CREATE 3u  /**< open, or create if missing; never rebuilds an object shmap did not make */
#define SHMAP_OPEN_WAIT 4u       /**< with ::SHMAP_OPEN: first wait for the segment to be created */
/**@}*/

/** @name Backends (shmap_opts_set_backend()) */
/**@{*/
#define SHMAP_BACKEND_SHM 0u
#define SHMAP_BACKEND_FILE 1u
#define SHMAP_BACKEND_MEMFD 2u
/**@}*/

/** @name Option flags (shmap_opts_set_flags()) */
/**@{*/
#define SHMAP_OPT_HUGEPAGES 1u   /**< map with MAP_HUGETLB where the backend allows (memfd) */
#define SHMAP_OPT_PREFAULT 2u    /**< pre-fault the whole mapping at open (MAP_POPULATE) */
/**
 * Do not guard this segment's mapping with shmap's SIGBUS handler, and do
 * not install the handler on its behalf: a peer that shrinks the backing
 * file then kills this process with SIGBUS on its next access. For programs
 * that own SIGBUS themselves. The environment variable
 * `SHMAP_NO_SIGBUS_GUARD` (set to anything but empty or `0` before the first
 * segment is opened) does the same for every segment of the process.
 */
#define SHMAP_OPT_NO_SIGBUS_GUARD 4u
/**@}*/

/** Creation and open options. Opaque; set through the functions below. */
typedef struct shmap_opts shmap_opts;

/**
 * @brief Allocate an options object holding the defaults.
 *
 * Defaults: backend ::SHMAP_BACKEND_SHM, mode 0600, owner = effective uid,
 * open timeout 2000 ms, 128 participant slots, max_consumers unset, no flags.
 *
 * @param[out] ret receives the new object; untouched on failure.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL (ret NULL), ::SHMAP_E_NOMEM.
 *
 * Concurrency: an options object is read by open calls and may be shared by
 * threads that only read it; setting it while another thread opens with it
 * is a data race. Never blocks.
 */
SHMAP_API int shmap_opts_new(shmap_opts **ret);

/** @brief Free an options object. NULL is a no-op. Handles opened with it are unaffected. */
SHMAP_API void shmap_opts_free(shmap_opts *opts);

/**
 * @brief Select the backend (::SHMAP_BACKEND_SHM, ::SHMAP_BACKEND_FILE, ::SHMAP_BACKEND_MEMFD).
 * @return ::SHMAP_OK, or ::SHMAP_E_INVAL for NULL or an unknown backend.
 */
SHMAP_API int shmap_opts_set_backend(shmap_opts *opts, uint32_t backend);

/**
 * @brief Permission bits for a created segment (default 0600), applied exactly
 * with fchmod() whatever the umask. Also the widest permissions accepted on an
 * existing object at open. Only bits 0777 are allowed; owner read/write are
 * required. @return ::SHMAP_OK or ::SHMAP_E_INVAL.
 */
SHMAP_API int shmap_opts_set_mode(shmap_opts *opts, uint32_t mode);

/**
 * @brief Expected owner uid of an existing segment; -1 accepts any owner.
 * Default: the effective uid of the opening process. @return ::SHMAP_OK or ::SHMAP_E_INVAL.
 */
SHMAP_API int shmap_opts_set_owner(shmap_opts *opts, int64_t uid);

/**
 * @brief For ::SHMAP_BACKEND_MEMFD: open the segment behind this file
 * descriptor (received from the creator). The descriptor stays the caller's;
 * shmap opens its own description of the same memory. @return ::SHMAP_OK or ::SHMAP_E_INVAL.
 */
SHMAP_API int shmap_opts_set_fd(shmap_opts *opts, int fd);

/**
 * @brief Bound on how long an open waits for a segment another process is
 * building, and with ::SHMAP_OPEN_WAIT for it to be created (default
 * 2000 ms; 0 means do not wait). @return ::SHMAP_OK or ::SHMAP_E_INVAL.
 */
SHMAP_API int shmap_opts_set_timeout_ms(shmap_opts *opts, uint32_t ms);

/**
 * @brief Number of participant slots (processes attached at once) in a
 * created segment: 1..4000, default 128. @return ::SHMAP_OK or ::SHMAP_E_INVAL.
 * Each attach takes an owner id that is never given out again in the
 * segment's life (so a dead process's locks and reservations can never be
 * mistaken for a new process's own); a slot serves about 2^32 / n attaches,
 * then retires, and opens return ::SHMAP_E_FULL once every slot is busy or
 * retired.
 */
SHMAP_API int shmap_opts_set_max_procs(shmap_opts *opts, uint32_t n);

/**
 * @brief Rings: the most consumers (SPMC) or subscribers (broadcast) attached
 * at once, 1..1024 (::SHMAP_RING_CONSUMERS_MAX); an SPSC ring takes only 1.
 * Unset (the default, or 0): a created ring gets 16
 * (::SHMAP_RING_CONSUMERS_DEFAULT; SPSC 1) and an opened one accepts what is
 * stored; set, an open of a ring created with another value returns
 * ::SHMAP_E_INCOMPAT. Other structures ignore it.
 * @return ::SHMAP_OK or ::SHMAP_E_INVAL (NULL, or n over 1024).
 */
SHMAP_API int shmap_opts_set_max_consumers(shmap_opts *opts, uint32_t n);
/** @brief Set ::SHMAP_OPT_HUGEPAGES, ::SHMAP_OPT_PREFAULT and/or ::SHMAP_OPT_NO_SIGBUS_GUARD.
 * Unknown bits: ::SHMAP_E_INVAL. */
SHMAP_API int shmap_opts_set_flags(shmap_opts *opts, uint32_t flags);

/**
 * @brief Remove a segment's name. Handles already open stay valid (POSIX
 * semantics); the memory is freed when the last one closes.
 *
 * Where the build keeps liveness in lock files (systems without OFD locks,
 * or `-Dportable=liveness`), their directories go too: at once those nobody
 * holds, the rest when their last handle closes.
 *
 * @param[in] name the segment name (shm) or path (file)
 * @param[in] opts selects the backend; NULL means ::SHMAP_BACKEND_SHM.
 * @return ::SHMAP_OK, ::SHMAP_E_INVAL / ::SHMAP_E_NAMETOOLONG (bad name, or a
 * memfd backend, which has no name), ::SHMAP_E_NOENT, ::SHMAP_E_ACCESS,
 * ::SHMAP_E_SYS (errno kept).
 *
 * Concurrency: safe from any thread or process. Does not block.
 */
SHMAP_API int shmap_unlink(const char *name, const shmap_opts *opts);

SHMAP_END_DECLS

#endif /* SHMAP_SEGMENT_H */
