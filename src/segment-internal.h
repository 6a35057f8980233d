/* SPDX-License-Identifier: MIT */
/*
 * segment-internal.h - the storage layer every data structure is built on.
 *
 * A segment is one shared mapping holding one data structure:
 *
 *   offset 0                 struct shmap__hdr (512 bytes)
 *   hdr.parts_off            participant table: nparts x struct shmap__part
 *   hdr.data_off (page)      the structure's data region (data_size bytes)
 *   total_size               = data_off + data_size, rounded up to a page
 *
 * The mapping is surrounded by PROT_NONE guards of one system page each
 * (sysconf(_SC_PAGESIZE)), so any access outside [base, base + total_size)
 * faults deterministically. SHMAP__PAGE is the layout's unit, not the
 * host's page size.
 *
 * Creation state machine (hdr.state = generation << 8 | state):
 *   UNINIT(0) -> BUILDING(1) -> READY(2)
 * The builder holds the builder lock (SHMAP__LIVE_BUILDER of the platform
 * layer's liveness service: an OFD lock on byte 0 of the segment's file on
 * Linux, a lock file elsewhere) while building. An opener that
 * finds the segment not READY and that lock free knows the builder is gone;
 * in open-or-create mode it takes the lock and rebuilds (generation + 1) --
 * but only an object that shmap made: one that carries the building mark
 * (the builder's first write, see SHMAP__MARK_BUILDING) or the magic, or an
 * empty one with the creation mode bit (SHMAP__MODE_NEW). Anything else is
 * SHMAP_E_BADMAGIC and is never written.
 *
 * Liveness: each attached handle owns a participant slot and holds its lock
 * (SHMAP__LIVE_SLOT0 + slot: an OFD write lock on that byte of the file, or
 * flock() on the slot's lock file; platform-internal.h). The kernel drops it
 * when the process dies, so "is the owner of slot s alive" is one probe
 * (F_OFD_GETLK; or opening the lock file and trying it).
 * An owner id (uint32_t) is slot + 1 + nparts * (generation - 1), where the
 * slot's generation counts the attaches through it (1, 2, ...); 0 means "no
 * owner". A claim word in any structure stores an owner id; a waiter that
 * waits too long calls shmap__seg_owner_alive() and recovers the claim if
 * the owner is dead. An owner id is never handed out twice in the life of
 * a segment: a slot whose generation reaches shmap__owner_gen_max() (the
 * last one whose id fits in 32 bits, about 2^32 / nparts attaches) is
 * retired and never attached again, instead of wrapping into the id of a
 * dead process whose claims may still be in place (a new process would
 * then take a dead holder's lock or reservation for its own).
 */
#ifndef SHMAP_SEGMENT_INTERNAL_H
#define SHMAP_SEGMENT_INTERNAL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <shmap/segment.h>

#include "internal.h"

struct shmap__seg;

#define SHMAP__MAGIC UINT64_C(0x3170614d6d685301) /* bytes 01 'S' 'h' 'm' 'M' 'a' 'p' '1' on LE */
/*
 * The building mark: the first bytes a builder writes into a segment's file,
 * under the builder lock, before it sizes the file or writes anything else
 * (bytes 02 'S' 'h' 'm' 'B' 'l' 'd' '1' on LE). The header's magic field
 * holds it until the build replaces it with SHMAP__MAGIC just before READY.
 * An unfinished object is ours to rebuild only if its first 8 bytes are the
 * mark or the magic -- or if it is empty and carries SHMAP__MODE_NEW (see
 * below); anything else is refused and never written. See shmap__unfinished().
 */
#define SHMAP__MARK_BUILDING UINT64_C(0x31646c426d685302)
/*
 * Mode bit an object gets from shmap's own O_CREAT|O_EXCL create, atomically
 * with its creation (umask never clears it): it marks an empty object as
 * "made by a shmap creator that has not written the building mark yet". The
 * build clears it (fchmod) right after writing the mark. A regular file with
 * the sticky bit is otherwise meaningless on Linux, so no other program
 * leaves one that shmap could mistake for its own. Where objects are sized
 * once (SHMAP_PLAT_SHM_FILES 0) it also marks a sized, all-zero object whose
 * builder died before storing the mark through the mapping; where fchmod()
 * is refused (macOS shm) it stays on the finished segment.
 */
#define SHMAP__MODE_NEW S_ISVTX
/* Limits every header must respect, at open and at inspection alike. */
#define SHMAP__MAX_PARTS 4000u /* slots; ids slot + 1 + nparts * (gen - 1) in 32 bits: >= 2^20 attaches per slot */
#define SHMAP__MAX_TOTAL (UINT64_C(1) << 46) /* 64 TiB: refuse absurd sizes */
#define SHMAP__LAYOUT_VERSION 2u /* 2: sparse hash tables with a record area; 64-bit vector slot versions */
#define SHMAP__HDR_SIZE 512u
#define SHMAP__PAGE 4096u

/* Lock numbers of the liveness service (OFD: byte offsets, advisory;
 * beyond EOF is fine). */
#define SHMAP__LOCK_BUILDER SHMAP__LIVE_BUILDER
#define SHMAP__LOCK_PART0 SHMAP__LIVE_SLOT0

/* Creation states (low 8 bits of hdr.state). */
#define SHMAP__ST_UNINIT 0u
#define SHMAP__ST_BUILDING 1u
#define SHMAP__ST_READY 2u

/* Structure kinds recorded in the header. */
#define SHMAP__KIND_HTABLE 1u
#define SHMAP__KIND_RING_SPSC 2u
#define SHMAP__KIND_RING_SPMC 3u
#define SHMAP__KIND_RING_BCAST 4u
#define SHMAP__KIND_VECTOR 5u
#define SHMAP__KIND_RING_REC 6u

/* Participant slot states (low 32 bits of part.word); high 32 = generation. */
#define SHMAP__PART_FREE 0u
#define SHMAP__PART_ATTACHED 1u

/*
 * The header. Fields up to `checksum` never change after creation and are
 * covered by the checksum (XXH3-64 of bytes [0, offsetof(checksum)) with
 * seed 0). Only fixed-width integers; no pointers, size_t or bool.
 */
struct shmap__hdr {
	uint64_t magic;
	uint32_t layout_version;
	uint32_t layout_desc;   /* see shmap__layout_desc() */
	uint32_t kind;
	uint32_t kind_flags;    /* kind-specific (e.g. broadcast policy) */
	uint64_t capacity;
	uint32_t key_max;
	uint32_t value_max;
	uint32_t elem_size;
	uint32_t max_consumers;
	uint32_t hash_alg;
	uint32_t nparts;
	uint64_t hash_seed;
	uint64_t total_size;
	uint64_t parts_off;
	uint64_t data_off;
	uint64_t data_size;
	uint64_t created_ns;    /* CLOCK_REALTIME at creation */
	uint32_t creator_uid;
	uint32_t creator_pid;
	uint64_t reserved[16];  /* [0]: lock-file set identity (0 with OFD locks) */
	uint64_t checksum;
	uint64_t pad0;
	/* ---- mutable, from offset 256 ---- */
	uint64_t state;         /* generation << 8 | SHMAP__ST_* */
	uint64_t pad1[7];
	uint8_t kind_area[192]; /* 192 bytes a kind may use for small shared fields (zeroed at build) */
};
_Static_assert(sizeof(struct shmap__hdr) == SHMAP__HDR_SIZE, "header size");
_Static_assert(__builtin_offsetof(struct shmap__hdr, checksum) == 240, "checksum offset");
_Static_assert(__builtin_offsetof(struct shmap__hdr, state) == 256, "state offset");

/* One participant slot: one cache line. */
struct shmap__part {
	uint64_t word;          /* gen << 32 | SHMAP__PART_* */
	uint32_t pid;
	uint32_t uid;
	uint64_t start_time;    /* /proc/self/stat field 22 (clock ticks since boot) */
	uint64_t attach_ns;     /* CLOCK_REALTIME */
	uint64_t pad[4];
};
_Static_assert(sizeof(struct shmap__part) == 64, "participant slot size");

/* Parameters of a segment: what the caller asks for, and what is stored. */
struct shmap__params {
	uint32_t kind;
	uint32_t kind_flags;
	uint64_t capacity;
	uint32_t key_max;
	uint32_t value_max;
	uint32_t elem_size;
	uint32_t max_consumers;
	uint32_t hash_alg;
	uint32_t nparts;     /* filled from options/header by the storage layer */
	uint64_t hash_seed;  /* filled by the storage layer */
	uint64_t data_size;  /* bytes the kind's data region needs */
	uint64_t data_reserve; /* bytes of it allocated at creation (0: all); the
				* rest is sized but left sparse for the kind to
				* allocate (posix_fallocate) as it uses it */
};

/*
 * What a kind tells the storage layer.
 * layout: given params whose kind-specific fields are set (capacity already
 *   normalised by the kind), validate them and set p->data_size. Called at
 *   create with the caller's params, and at open with the params read from
 *   the header (so a hostile header cannot describe an impossible layout).
 *   Returns SHMAP_OK or SHMAP_E_INVAL (create) -- at open, any error becomes
 *   SHMAP_E_CORRUPT.
 * init: initialise the (zero-filled) data region while BUILDING. May be NULL.
 */
struct shmap__kind_ops {
	uint32_t kind;
	int (*layout)(struct shmap__params *p);
	int (*init)(struct shmap__seg *seg);
};

/* A process-local view of one attached segment. Embedded in each handle. */
struct shmap__seg {
	int fd;                     /* our own open file description (holds our locks) */
	int share_fd;               /* memfd created here: the fd handed to peers; else -1 */
	uint32_t backend;
	uint8_t *base;              /* start of the segment (header) */
	uint8_t *data;              /* base + data_off */
	uint8_t *map_start;         /* start of the whole reservation (guard page) */
	size_t map_len;             /* length of the reservation incl. guards */
	uint64_t total_size;
	struct shmap__params p;     /* private copy: never re-read from shared memory */
	struct shmap__part *parts;  /* base + parts_off */
	uint32_t slot;              /* our participant slot */
	uint32_t owner;             /* our owner id (see "Owner ids" below) */
	uint64_t generation;        /* segment build generation */
	uint32_t fork_gen;          /* value of the process fork counter at attach */
	uint32_t poisoned;          /* SHMAP__POISON_*: written by the SIGBUS guard (any thread) */
	bool created;               /* this handle built the segment */
	bool recovered_build;       /* this handle rebuilt after a dead builder */
	char *name;                 /* copy of the name (NULL for memfd) */
	uint64_t hdr_checksum;      /* checksum of the header validated at open */
	uint32_t fd_fork_gen;       /* fork counter when fd + mapping were last made ours */
	int guard_id;               /* SIGBUS guard registration of the mapping, or -1 */
	struct shmap__live live;    /* our liveness and builder locks (platform layer) */
	struct shmap__seg *next;    /* process-wide list of open segments (fork handling) */
	struct shmap__seg *prev;
};

struct shmap_opts {
	uint32_t backend;
	uint32_t mode;
	int64_t owner;     /* -1 any; -2 = effective uid (default) */
	int fd;            /* memfd to open, or -1 */
	uint32_t timeout_ms;
	uint32_t max_procs;
	uint32_t max_consumers; /* rings; 0 = unset (default at create, any at open) */
	uint32_t flags;
};

#ifdef SHMAP_FAILPOINTS
/* Tests only (the private test build): a guard larger than the page size
 * (0: page size). */
extern size_t shmap__guard_test_size;
#endif

/* Fill defaults into *o (used when the caller passes NULL opts). */
void shmap__opts_defaults(struct shmap_opts *o);

/*
 * Open, create or open-or-create a segment.
 * `want` holds the kind and the parameters; at create every parameter the
 * kind needs must be set; at open a zero parameter means "accept what is
 * stored", a non-zero one must equal the stored value (SHMAP_E_INCOMPAT).
 * On success *seg is filled and the caller's process is attached.
 * Returns SHMAP_OK, SHMAP_RECOVERED (rebuilt after a dead builder) or a
 * negative code; errno is preserved for system failures.
 */
int shmap__seg_open(const char *name, uint32_t oflags, const struct shmap__params *want,
		    const struct shmap__kind_ops *ops, const struct shmap_opts *opts,
		    struct shmap__seg *seg);

/* Detach (free our participant slot), unmap, close. Safe on a zeroed seg. */
void shmap__seg_close(struct shmap__seg *seg);

/* Process-wide fork counter, bumped in the pthread_atfork child handler. */
extern volatile uint32_t shmap__fork_counter;

/*
 * Poison value of a handle. PEERFAULT: the SIGBUS guard (guard.c) caught a
 * fault inside the handle's mapping (a peer shrank the file) and put
 * anonymous memory in its place; every call on the handle returns
 * SHMAP_E_PEERFAULT from then on, until it is closed. (A detected
 * violation of an invariant returns SHMAP_E_CORRUPT and poisons nothing.)
 * The guard's signal handler stores the word with an atomic store, possibly
 * from another thread: every read of it is a relaxed atomic load.
 */
#define SHMAP__POISON_PEERFAULT 2u

static inline uint32_t shmap__seg_poison(const struct shmap__seg *seg)
{
	return __atomic_load_n(&seg->poisoned, __ATOMIC_RELAXED);
}

static inline int shmap__poison_code(uint32_t poison)
{
	(void)poison; /* the one poison there is */
	return SHMAP_E_PEERFAULT;
}

/* SHMAP_E_FORKED if the handle was attached in another process (after fork);
 * SHMAP_E_PEERFAULT if it is poisoned. */
static inline int shmap__seg_check(const struct shmap__seg *seg)
{
	if (shmap_unlikely(seg->fork_gen != shmap__fork_counter))
		return SHMAP_E_FORKED;
	uint32_t poison = shmap__seg_poison(seg);
	if (shmap_unlikely(poison))
		return shmap__poison_code(poison);
	return SHMAP_OK;
}

/*
 * The last step of every public call that touched the mapping: if the SIGBUS
 * guard poisoned the handle during the call (in this thread, whose faulting
 * access it let complete on anonymous memory, or in another), the call
 * returns SHMAP_E_PEERFAULT instead of `rc`. The signal fence pairs with
 * the guard's handler running in this thread (in the middle of the call's
 * accesses): it keeps the compiler from moving the load above them. A
 * handler in another thread stores the poison before it replaces the pages
 * (G1 in guard.c), so a call that read the replacement sees the poison here.
 */
static inline int shmap__seg_leave(const struct shmap__seg *seg, int rc)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	uint32_t poison = shmap__seg_poison(seg);
	if (shmap_unlikely(poison))
		return shmap__poison_code(poison);
	return rc;
}

/*
 * shmap__seg_check() == SHMAP_OK in one load and compare, for fast paths:
 * fork_gen and poisoned are adjacent u32 fields of the private handle, so
 * on a little-endian host the pair equals the zero-extended fork counter
 * exactly when the handle is not forked (fork_gen == counter) and not
 * poisoned (0). Elsewhere: the two compares.
 */
_Static_assert(offsetof(struct shmap__seg, poisoned) == offsetof(struct shmap__seg, fork_gen) + 4u,
	       "fork_gen and poisoned must be adjacent");
_Static_assert(offsetof(struct shmap__seg, fork_gen) % 8u == 0, "fork_gen must be 8-byte aligned");

static inline int shmap__seg_ok_fast(const struct shmap__seg *seg)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* One relaxed atomic load: `poisoned` may be stored by the SIGBUS
	 * guard in another thread (may_alias: the pair is two u32 fields). */
	typedef uint64_t __attribute__((may_alias)) u64_alias;
	uint64_t pair = __atomic_load_n((const u64_alias *)(const void *)&seg->fork_gen, __ATOMIC_RELAXED);
	return pair == (uint64_t)shmap__fork_counter;
#else
	return seg->fork_gen == shmap__fork_counter && !shmap__seg_poison(seg);
#endif
}

/*
 * For checkers: has anyone rewritten the header's immutable fields since we
 * validated them? SHMAP_OK or SHMAP_E_CORRUPT. (Our bounds never depend on
 * it -- they come from the private copy -- but a rewrite is a violation a
 * checker must report.)
 */
int shmap__seg_verify_header(const struct shmap__seg *seg);

/* In a child after fork(): take a fresh file description and participant slot. */
int shmap__seg_reattach(struct shmap__seg *seg);

/*
 * Owner ids: owner = slot + 1 + nparts * (gen - 1), gen = 1..gen_max, so
 * every id of every generation of every slot is distinct and non-zero.
 * owner 0 means "no owner": the decoders below are meaningful for owner >= 1.
 */
static inline uint32_t shmap__owner_gen_max(uint32_t nparts)
{
	return UINT32_MAX / nparts;
}
static inline uint32_t shmap__owner_id(uint32_t nparts, uint32_t slot, uint32_t gen)
{
	return slot + 1u + nparts * (gen - 1u);
}
static inline uint32_t shmap__owner_slot(uint32_t nparts, uint32_t owner)
{
	return (owner - 1u) % nparts;
}
static inline uint32_t shmap__owner_gen(uint32_t nparts, uint32_t owner)
{
	return (owner - 1u) / nparts + 1u;
}

/*
 * Is the process named by `owner` still attached and alive?
 * true: alive (or it is us). false: dead or detached -- its claims may be
 * recovered. Out-of-range owners (a scribbled word) count as dead.
 * Cost: one relaxed load, plus one F_OFD_GETLK syscall (~0.5 us) when the
 * owner is another live-looking slot (lock files: four system calls).
 */
bool shmap__seg_owner_alive(const struct shmap__seg *seg, uint32_t owner);

/* Liveness of participant slot `slot` (lock probe only). */
bool shmap__seg_slot_alive(const struct shmap__seg *seg, uint32_t slot);

/* Validate a segment name for a backend: SHMAP_OK / SHMAP_E_INVAL / SHMAP_E_NAMETOOLONG. */
int shmap__name_check(const char *name, uint32_t backend);

/* Layout descriptor: pointer size, cache line, slot size, endianness. */
uint32_t shmap__layout_desc(void);

/*
 * Validate a header read with pread() from an object of st_size bytes whose
 * state is READY: magic, layout version and descriptor, checksum, size
 * against the file, participant table and data region offsets and sizes
 * (the limits above), and -- when `ops` is given -- that the kind's own
 * layout of the stored parameters gives the stored data_size. Fills *out
 * with the stored parameters. Open (with its kind's ops) and inspection
 * (with the ops of the stored kind, NULL for a kind this library does not
 * know) both use it. Returns SHMAP_OK, SHMAP_E_BADMAGIC, SHMAP_E_VERSION,
 * SHMAP_E_CORRUPT, SHMAP_E_TRUNCATED, or SHMAP_E_INCOMPAT (made by the other
 * liveness backend: reserved[0] is zero with OFD locks, the lock set's
 * identity with lock files).
 */
int shmap__hdr_validate(const struct shmap__hdr *h, uint64_t st_size, const struct shmap__kind_ops *ops,
			struct shmap__params *out);

/* The kind ops of a library kind (SHMAP__KIND_*), NULL for any other. */
const struct shmap__kind_ops *shmap__kind_ops_of(uint32_t kind);
extern const struct shmap__kind_ops *const shmap__htable_kind_ops;
extern const struct shmap__kind_ops *const shmap__ring_kind_ops[3]; /* spsc, spmc, bcast */
extern const struct shmap__kind_ops *const shmap__vector_kind_ops;

/*
 * Read the header of an object of `size` bytes without mapping it: all of it
 * when size >= SHMAP__HDR_SIZE, else only its first 8 bytes (if it has that
 * many); the rest of *h is zeroed. h->state is the state word as read before
 * the rest (see segment.c). SHMAP_OK, SHMAP_E_TRUNCATED on a short read (the
 * file shrank meanwhile) or an errno's code. Open and inspection both read
 * with it.
 */
int shmap__hdr_read(int fd, uint64_t size, struct shmap__hdr *h);

/*
 * Is an object that is not READY an unfinished shmap segment we may rebuild?
 * `head` holds its first min(size, 8) bytes (zero-padded), `state` its state
 * word (0 if it is shorter than a header), `mode` its st_mode. Open and
 * inspection both decide with it.
 * SHMAP_OK: it carries the building mark or the magic, or it is empty and
 * has SHMAP__MODE_NEW. SHMAP_E_NOTREADY: empty without the mode bit -- a
 * creator between its O_EXCL create and its mark on a filesystem that drops
 * the bit, or a foreign empty file; never rebuilt (an opener waits, then
 * refuses). SHMAP_E_TRUNCATED: the magic in an object shorter than a header
 * (a segment someone cut). SHMAP_E_CORRUPT: a state no builder writes.
 * SHMAP_E_BADMAGIC: anything else (not ours).
 */
int shmap__unfinished(uint64_t head, uint64_t state, uint64_t size, uint32_t mode);

/*
 * The SIGBUS guard (guard.c). A process-wide SIGBUS handler, installed when
 * the first guarded mapping is registered unless the environment variable
 * SHMAP_NO_SIGBUS_GUARD is set (to anything but "" or "0"), recognises faults
 * inside registered ranges, maps anonymous memory over the whole range
 * (MAP_FIXED) so the faulting access completes, and stores
 * SHMAP__POISON_PEERFAULT into *poison. Faults anywhere else go to the
 * handler that was installed before (or kill the process as SIG_DFL would).
 * Registration and removal are lock-free and async-signal-safe.
 * register: returns a registration id > 0; 0 when the guard is off (opted
 *   out: the range is simply not guarded); -1 when the registry is full
 *   (the caller reports SHMAP_E_NOMEM).
 * unregister: call before the range is unmapped. An id <= 0 is a no-op.
 */
int shmap__guard_register(void *start, size_t len, uint32_t *poison);
void shmap__guard_unregister(int id);
bool shmap__guard_enabled(void);

/* Shared by segment.c and inspect.c. */
int shmap__errno_code(int e);                               /* errno -> SHMAP_E_* */
int shmap__check_object(const struct stat *st, const struct shmap_opts *o); /* squatting checks */
int shmap__open_object(const char *name, const struct shmap_opts *o, int flags, mode_t mode);
int shmap__reopen_fd(int fd, int flags); /* our own description of fd (O_CLOEXEC added) */
uint64_t shmap__hdr_checksum(const struct shmap__hdr *h);

#endif /* SHMAP_SEGMENT_INTERNAL_H */
