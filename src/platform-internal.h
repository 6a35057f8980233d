/* SPDX-License-Identifier: MIT */
/*
 * platform-internal.h - the platform layer: every service shmap asks of the
 * operating system beyond plain POSIX file and mapping calls, behind one set
 * of `shmap__plat_*` functions (and the historical shmap__futex_* names of
 * the wait/wake pair). Nothing here is part of the ABI.
 *
 * Two implementations sit behind each service:
 *   - platform-linux.c: what shmap did on Linux before the layer existed
 *     (futex, membarrier, memfd_create, posix_fallocate, getrandom,
 *     MAP_POPULATE / MAP_NORESERVE / MADV_HUGEPAGE, /proc, /dev/shm,
 *     inotify, OFD byte locks for liveness);
 *   - platform-posix.c: portable fallbacks (bounded polling, the strong-fence
 *     mode, shm_open of a random name, reservation by touching pages,
 *     /dev/urandom or arc4random_buf, plain mappings, no directory watch),
 *     the services every system shares (page size, shm_open), plus
 *     OS-specific calls written for FreeBSD and macOS that are compiled
 *     there only and untested;
 *   - platform-lockfile.c: liveness by lock files (flock), where OFD locks
 *     are missing or forced off.
 * Which one a service uses is decided at configure time (meson detects the
 * facility; the `portable` option forces the fallback on Linux so that it
 * is tested). The SHMAP_PLAT_* macros of platform-config.h say what was
 * chosen: 1 = the Linux facility, 0 = the fallback.
 *
 * The structures (htable, rings, vector) call these functions only; no OS
 * header appears in their sources for the services listed here.
 */
#ifndef SHMAP_PLATFORM_INTERNAL_H
#define SHMAP_PLATFORM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "platform-config.h"

/* ---------------------------------------------------------------- waits */

/*
 * Wait/wake on a 32-bit word in shared memory (several processes map it).
 * wait: sleeps while *addr == val, until woken, the word changes, or the
 *   absolute CLOCK_MONOTONIC deadline; returns SHMAP_OK (woken, value
 *   already changed, interrupted, or a spurious return: the caller re-checks
 *   its condition) or SHMAP_E_TIMEOUT (the deadline has passed).
 *   Linux: FUTEX_WAIT (shared, never FUTEX_PRIVATE). Portable: the word is
 *   polled between sleeps, from 50 us doubling to 1 ms for the first 10 ms
 *   (a change is seen within about 1 ms), then every 8 ms (seen within
 *   8 ms); no spinning (callers spin before they wait); waking costs the
 *   waker nothing.
 * wake: wakes up to n waiters; returns how many were woken (portable: 0,
 *   the pollers see the word change by themselves).
 * Both are safe from any thread; wait blocks, wake never does.
 */
int shmap__futex_wait(volatile uint32_t *addr, uint32_t val, uint64_t deadline_ns);
int shmap__futex_wake(volatile uint32_t *addr, int n);

/*
 * SHMAP_PLAT_FUTEX (platform-config.h): 1 when wait/wake are kernel waits
 * that a wake ends at once. ring_notify.c (a waiter thread sleeping on many
 * words at once with futex_waitv, and an eventfd) needs it and is otherwise
 * compiled to return SHMAP_E_NOTSUP.
 */

/* -------------------------------------------------------- heavy barrier */

/*
 * The process-wide heavy barrier of the rings' sleeper protocol
 * (ring-internal.h): after it returns, every other thread of every process
 * that registered has executed a full memory barrier.
 * register: once per process (again in a fork child); returns 0 when the
 *   barrier is available to this process, -1 when it is not (the caller
 *   then switches to the strong-fence mode: wakers fence themselves).
 * barrier: returns 0 on success, -1 when the barrier failed (the caller
 *   fences itself instead).
 * Linux: membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED). Portable: none,
 * register always returns -1. May take milliseconds on a loaded machine.
 */
int shmap__plat_heavy_barrier_register(void);
int shmap__plat_heavy_barrier(void);

/* -------------------------------------------------- anonymous segments */

/*
 * A new anonymous shared-memory object that can be passed to other
 * processes by descriptor (SCM_RIGHTS or inheritance), close-on-exec.
 * `label` names it for the administrator where the OS shows one (Linux:
 * /proc/PID/fd). `huge`: back it with huge pages.
 * Returns the descriptor, or -1 with errno set; errno EINVAL or ENOTSUP
 * means this platform cannot make such an object (huge pages included).
 * Linux: memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING [| MFD_HUGETLB]).
 * Portable: shm_open() of a random name with O_CREAT | O_EXCL, then
 * shm_unlink() of that name at once (the name exists for microseconds and
 * is never reused); no huge pages (ENOTSUP).
 */
int shmap__plat_anon_create(const char *label, bool huge);

/*
 * Sealing of anonymous objects against resizing (a peer shrinking the
 * object would make our accesses fault). SHMAP_PLAT_SEALS is 1 where the
 * platform has seals (Linux memfd). Without them the SIGBUS guard (guard.c)
 * is the only defence, as it is for named segments.
 * seal: forbid shrinking and growing; 0 or -1 with errno. Portable: 0
 *   (nothing to do).
 * sealed: 1 if the object cannot shrink, 0 if it can, -1 on error.
 *   Portable: 1 (no seals exist; the guard covers it).
 */
int shmap__plat_anon_seal(int fd);
int shmap__plat_anon_sealed(int fd);

/*
 * A new open file description of the object behind `fd` (not a dup: locks
 * taken through it are its own). Returns the descriptor or -1 with errno.
 * Linux: open("/proc/self/fd/N"). Elsewhere there is no such call; only
 * the OFD liveness backend needs it (its locks live on the description),
 * and with lock files shmap duplicates the descriptor instead.
 */
int shmap__plat_reopen_fd(int fd, int flags);

/* ------------------------------------------------------------ liveness */

/*
 * The locks that say "participant slot s is alive" and "someone is
 * building this segment", released by the kernel when their holder dies.
 * Lock numbers: SHMAP__LIVE_BUILDER (0) and SHMAP__LIVE_SLOT0 + slot.
 *
 * SHMAP_PLAT_OFD_LOCKS = 1 (Linux): OFD byte locks (F_OFD_SETLK) on the
 *   segment's own descriptor, byte = lock number; a probe is F_OFD_GETLK.
 *   The object descriptor `fd` below carries them: the caller keeps it
 *   current (a new description after fork). No other state, no other
 *   system call than before the layer existed.
 * SHMAP_PLAT_OFD_LOCKS = 0 (lock files; what macOS and FreeBSD need, as
 *   they refuse advisory locks on POSIX shm descriptors): flock(LOCK_EX |
 *   LOCK_NB) on one file per lock, in directories outside the segment
 *   (platform-lockfile.c says where, and docs/ARCHITECTURE.md
 *   "Portability" gives the policy):
 *     <name dir>/builder          the builder lock of a name;
 *     <name dir>/<id>/<slot>      the slot locks of one segment, whose
 *                                 random 64-bit identity <id> the header
 *                                 records (shmap__hdr.reserved[0]);
 *     <root>/a.<id>/<slot>        the same for an anonymous segment.
 *   A handle joined to a segment's lock set holds LOCK_SH on the set's
 *   directory: a set is removed only by whoever takes LOCK_EX | LOCK_NB on
 *   it (nobody is joined), and a joiner that finds the set removed after
 *   its LOCK_SH looks again. A lock file is removed only by the holder of
 *   its lock, and every locker checks after locking that its file is still
 *   linked (else it locked nothing and tries again).
 *
 * One struct per handle (and per inspection). Not thread-safe for writes
 * (open, attach, close are one thread's); held() may be called from any
 * number of threads at once. At most one slot lock is held through a
 * struct at a time.
 */
#define SHMAP__LIVE_BUILDER 0u
#define SHMAP__LIVE_SLOT0 1u

struct shmap__live {
	int fd;             /* the segment's descriptor (the caller's; OFD locks live on it) */
	/* lock files only (-1 / 0 otherwise) */
	int name_fd;        /* the name's lock directory, or -1 */
	int set_fd;         /* the segment's lock set directory (LOCK_SH while joined), or -1 */
	int builder_fd;     /* the builder lock file while we hold it, or -1 */
	int slot_fd;        /* the slot lock file we hold, or -1 */
	uint32_t slot_lock; /* its lock number */
	uint32_t backend;   /* SHMAP_BACKEND_* */
	uint32_t uid;       /* the segment's owner: owner of every lock directory and file */
	uint32_t mode;      /* the segment's permission bits (lock files get mode & 0644) */
	bool creator;       /* may create missing directories and files (uid is ours) */
	uint64_t id;        /* the joined set's identity, 0 when none */
	const char *name;   /* the segment's name (the caller's string), NULL if anonymous */
};

/* join modes */
#define SHMAP__LIVE_LOOK 0u  /* open the set only: no LOCK_SH, never create (inspection) */
#define SHMAP__LIVE_JOIN 1u  /* hold LOCK_SH; create what is missing when the segment is ours */
#define SHMAP__LIVE_BUILD 2u /* as JOIN, for the builder of a new segment */

/*
 * init: no system call. `name` must outlive the struct (ignored for
 *   anonymous segments). The owner is the caller until bind says otherwise;
 *   `mode`: the segment's permission bits.
 * bind: the object descriptor is `fd` from now on (OFD: the locks' home,
 *   nothing else; lock files: fstat() learns the object's owner and mode,
 *   so that an opener looks in the owner's directories). 0 or an errno.
 * join: open the lock set of identity `id` in mode SHMAP__LIVE_*. Lock
 *   files: a missing set is created only by the segment's owner (or root,
 *   for the owner), with every slot file when the segment's mode admits
 *   other users (who cannot create one), else empty (each slot file comes
 *   with its first attacher); LOOK never creates nor locks. 0, or ENOENT
 *   (missing and not ours to create), EACCES (a directory or file that
 *   fails the squatting checks: wrong type, owner, mode or link count, a
 *   symlink), ENAMETOOLONG (a name too long for its lock directory),
 *   others. OFD: 0, nothing to do.
 * trylock: 0 (now ours), EAGAIN (held by another open file description,
 *   in this process or another), or an errno as for join. The builder lock
 *   of an anonymous segment (nobody else can see it before it is READY)
 *   always succeeds with lock files. Slot locks need a joined set.
 * unlock: drop a lock this struct holds.
 * held: true when another description holds `lock` (a lock held through
 *   this struct is not: as with OFD locks, ours never conflict with
 *   ourselves); true as well when the
 *   probe cannot tell (never recover on doubt). Lock files: opens the file
 *   afresh and tries LOCK_EX | LOCK_NB (then closes it: a prober holds the
 *   lock for a few microseconds, during which others see it held).
 *   Costs one fcntl (OFD) or four system calls (lock files).
 * forked: in a fork child, before anything else: let go of the parent's
 *   lock descriptions (closing, never unlocking, what is shared) and make
 *   the joined set's LOCK_SH the child's own. Async-signal-safe. 0 or an
 *   errno (then called again later).
 * close: drop every lock and descriptor of the struct (not `fd`). With
 *   `remove`, the lock set is removed if nobody else is joined (an
 *   anonymous segment's last detacher, or a named one whose name is gone),
 *   and so is the name's directory when nothing else is left in it.
 * unlinked: after the name of a segment owned by `uid` was removed: remove
 *   its builder lock and every lock set nobody is joined to, then the
 *   name's directory. Sets still in use stay until their last detacher.
 * sweep: shmap_cleanup_stale()'s part: for the caller's own shm names
 *   starting with `prefix` ("/..."), remove every lock set nobody is joined
 *   to except the one `current` names (it returns 1 when the name exists,
 *   with its set identity in *id, or 0 in *id when that is not known --
 *   then nothing of the name is removed; 0 when the name does not exist --
 *   its builder lock and directory go too), and every anonymous set nobody
 *   is joined to. Returns how many sets it removed.
 */
void shmap__plat_live_init(struct shmap__live *lv, uint32_t backend, const char *name, uint32_t mode);
int shmap__plat_live_bind(struct shmap__live *lv, int fd);
int shmap__plat_live_join(struct shmap__live *lv, uint64_t id, uint32_t nparts, uint32_t how);
int shmap__plat_live_trylock(struct shmap__live *lv, uint32_t lock);
void shmap__plat_live_unlock(struct shmap__live *lv, uint32_t lock);
bool shmap__plat_live_held(const struct shmap__live *lv, uint32_t lock);
int shmap__plat_live_forked(struct shmap__live *lv);
void shmap__plat_live_close(struct shmap__live *lv, bool remove);
void shmap__plat_live_unlinked(uint32_t backend, const char *name, uint32_t uid);
uint32_t shmap__plat_live_sweep(const char *prefix, int (*current)(const char *name, uint64_t *id));

/* ------------------------------------------------- space and randomness */

/*
 * Reserve backing store for [off, off + len) of fd. The range must hold only
 * zero bytes (space not yet used: the portable fallback writes zeros into
 * it). Returns 0, or an errno value: ENOSPC when the store is full,
 * EOPNOTSUPP when this platform or filesystem cannot reserve (the caller
 * sizes the file sparsely with ftruncate() instead, or lets the pages come
 * with first use), others as the OS reports. Retries EINTR.
 *
 * keep_size false (building a segment): the file is extended when the range
 * passes its end.
 * keep_size true (growth inside a segment already sized, e.g. the htable
 * record area): the object's size is never changed, so a peer that shrank
 * it is not healed with zero pages where live data was -- the fault it
 * caused stays a fault (SHMAP_E_PEERFAULT) for every process. ERANGE when
 * the range passes the object's end, before the call or (portable) during
 * it.
 *
 * Linux: posix_fallocate(), or fallocate(FALLOC_FL_KEEP_SIZE) for
 * keep_size, which allocates without moving the end of file at all.
 * Portable: ftruncate() (keep_size false) plus one zero byte written per
 * page (pwrite), so a full tmpfs still reports ENOSPC here; objects that
 * refuse pwrite() stay sparse (a full store then shows as SIGBUS, which the
 * guard reports as SHMAP_E_PEERFAULT). A pwrite() past an end a peer just
 * moved re-extends the file to that byte; it is never the object's last, so
 * the size the call checks afterwards is smaller than before, and the call
 * reports ERANGE (other handles then read zeros in the re-extended part
 * instead of faulting: the residue of a platform without a size-keeping
 * reservation).
 */
int shmap__plat_reserve(int fd, off_t off, off_t len, bool keep_size);

/*
 * Fill buf with len random bytes from the kernel. Returns how many bytes it
 * got (less than len when no source answered; the caller mixes its own).
 * Linux: getrandom(GRND_NONBLOCK). Portable: arc4random_buf() where the C
 * library has it, else /dev/urandom.
 */
size_t shmap__plat_random(void *buf, size_t len);

/* ------------------------------------------------------------- mapping */

/* The page size of the host (4 KiB, 16 KiB or 64 KiB); 4096 if unknown. */
size_t shmap__plat_page_size(void);

/*
 * Extra flags for the shared mapping of a segment, and the reservation
 * around it. Linux: MAP_POPULATE when prefaulting is asked for, and
 * MAP_NORESERVE on the PROT_NONE reservation and the guard's replacement
 * pages. Portable: none (see shmap__plat_prefault()).
 */
int shmap__plat_map_flags(bool prefault);
int shmap__plat_map_noreserve(void);

/*
 * Prefault a shared mapping made with shmap__plat_map_flags(true): nothing
 * on Linux (MAP_POPULATE did it); portable: one byte read per page, so the
 * pages are mapped before the first operation needs them. Called with the
 * SIGBUS guard in place.
 */
void shmap__plat_prefault(const void *addr, size_t len);

/* Advise transparent huge pages for [addr, addr + len) (Linux:
 * MADV_HUGEPAGE; portable: nothing). Never fails. */
void shmap__plat_advise_huge(void *addr, size_t len);

/* ------------------------------------------------------- backing objects */

/*
 * shm_open() with the flags shmap asks for everywhere (O_NOFOLLOW: no
 * symlink planted under /dev/shm; O_NONBLOCK: no FIFO planted there blocks
 * a read-only open), minus those the system refuses on shm names where
 * they guard against nothing: FreeBSD's shm_open() fails with EINVAL on
 * O_NOFOLLOW and O_NONBLOCK, and its shm names are not files (no symlink or
 * FIFO can be planted): there they are never passed. Elsewhere where shm
 * names are not files (SHM_FILES 0: macOS, and Linux with
 * `-Dportable=object`) an EINVAL answer to them is taken as that refusal
 * and the call made again without them (a FIFO planted under Linux's
 * /dev/shm then still cannot block a read-only open). Returns the
 * descriptor or -1 with errno, as shm_open().
 */
int shmap__plat_shm_open(const char *name, int flags, mode_t mode);

/*
 * SHMAP_PLAT_SHM_FILES (platform-config.h): 1 where POSIX shm objects are
 * files as on Linux: a tmpfs under /dev/shm, whose objects fstat() as
 * S_IFREG with a link count and an inode, that pread() reads, ftruncate()
 * sizes any number of times and fchmod() changes. 0 on macOS and FreeBSD,
 * and on Linux with `-Dportable=object`, where the object services below
 * and the open path (segment.c) assume only what those systems give:
 *   - macOS: a shm object is sized once (a second ftruncate() is EINVAL)
 *     and cannot be mapped before; pread()/pwrite() are ESPIPE; fchmod() is
 *     EINVAL; fstat() gives the mode bits without S_IFREG, the owner and the
 *     size, and 0 for the link count, the inode and the device; names are
 *     at most 31 bytes with the '/' (PSHMNAMLEN);
 *   - FreeBSD: shm_open() refuses O_NOFOLLOW and O_NONBLOCK (EINVAL);
 *     st_nlink counts references (mappings), not names;
 *   - both: no directory lists the names.
 * What the open path does then (docs/ARCHITECTURE.md, "Portability"): the
 * header is read through a mapping, every non-file object is sized by one
 * ftruncate() and gets its building mark through the mapping, a dead build
 * is taken over in place (same size, zeroed through the mapping) or
 * refused (SHMAP_E_INCOMPAT: another size), fchmod() may fail, and a name is
 * known to still be ours by opening it again instead of by st_nlink.
 *
 * SHMAP_PLAT_SHM_NAME_MAX: the longest shm name after its '/' (NAME_MAX on
 * Linux and FreeBSD, 30 on macOS and with the forced fallbacks); longer
 * names are SHMAP_E_NAMETOOLONG.
 */

/*
 * Read up to len bytes at off of a backing object, without changing it.
 * Returns the number of bytes read (fewer than len when the object ends
 * before off + len; 0 at or past its end), or -1 with errno set. Safe from
 * any thread; never blocks on anything but the object's pages.
 * SHM_FILES: pread(). Otherwise: a temporary read-only shared mapping of
 * the pages holding the range, registered with the SIGBUS guard while it
 * is copied (a peer that shrinks the object meanwhile makes a short read,
 * never a crash), then unmapped; fstat() decides how much exists.
 */
#if SHMAP_PLAT_SHM_FILES
#include <unistd.h>
static inline ssize_t shmap__plat_obj_pread(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off);
}
#else
ssize_t shmap__plat_obj_pread(int fd, void *buf, size_t len, off_t off);
#endif

/*
 * Is an object of st_mode's file type acceptable as a segment's object? A
 * regular file always; where shm objects are not files (SHM_FILES 0), also
 * no file type at all (macOS shm). A FIFO, device, directory or symlink
 * planted where a segment is expected is refused everywhere.
 */
static inline bool shmap__plat_obj_type_ok(mode_t st_mode)
{
	if ((st_mode & S_IFMT) == S_IFREG)
		return true;
	return !SHMAP_PLAT_SHM_FILES && (st_mode & S_IFMT) == 0;
}

/*
 * Does the shm name `name` still refer to the object open as fd? 1: yes;
 * 0: the name is gone or names another object; -1: cannot tell (errno
 * set). SHM_FILES: lstat() of the name in the shm directory, compared by
 * device and inode. Otherwise: the name is opened again read-only and both
 * objects fstat()ed: device and inode decide where the system gives them
 * (FreeBSD, Linux). Where it gives neither (macOS): a different size, mode
 * or owner says 0; alike and sized, a random word is stored at `scratch`
 * of fd's object (8 bytes the caller owns and may overwrite: fd must be
 * writable and the caller the object's builder; -1: none) and must be read
 * back through the name's object; alike and both empty, 1 -- the one case
 * taken on trust (docs/ARCHITECTURE.md). Used where a build or a failed
 * create must know its name was not removed. Not for concurrent use on
 * one object by two builders (the builder lock makes it one).
 */
int shmap__plat_shm_same(int fd, const char *name, off_t scratch);

/* ------------------------------------------------------------- watching */

/*
 * The directory where POSIX shm names appear as files ("/dev/shm" on
 * Linux), or NULL where they do not (macOS, FreeBSD, SHM_FILES 0): listing
 * segments and shmap_cleanup_stale() report SHMAP_E_NOTSUP there.
 */
const char *shmap__plat_shm_dir(void);

/*
 * A watch on directory `dir` for names created, moved in or changed there,
 * for open-and-wait. Returns a descriptor (close it with close()), or -1
 * when no watch is possible (the caller then polls with back-off).
 * Linux: inotify. Portable: -1.
 * wait: blocks up to timeout_ms on the watch; returns 1 when the caller
 * should look again (an event for `base`, a lost event, a change of the
 * directory itself, the timeout, or an error) and 0 when only other names
 * changed (wait again). Safe from any thread on its own watch.
 */
int shmap__plat_watch_open(const char *dir);
int shmap__plat_watch_wait(int wfd, const char *base, int timeout_ms);

/* ------------------------------------------------------------ processes */

/*
 * Start time of the calling process, in an OS unit that only needs to be
 * the same for every reader on this boot (Linux: clock ticks since boot,
 * /proc/self/stat field 22). 0 when unknown; compared only for equality
 * to tell a recycled pid from the original process.
 */
uint64_t shmap__plat_start_time(void);

#endif /* SHMAP_PLATFORM_INTERNAL_H */
