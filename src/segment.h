/* SPDX-License-Identifier: MIT */
/*
 * segment.h - the storage layer every data structure is built on.
 *
 * A segment is one shared mapping holding one data structure:
 *
 *   offset 0                 struct shmap__hdr (512 bytes)
 *   hdr.parts_off            participant table: nparts x struct shmap__part
 *   hdr.data_off (page)      the structure's data region (data_size bytes)
 *   total_size               = data_off + data_size, rounded up to a page
 *
 * The mapping is surrounded by PROT_NONE guard pages, so any access outside
 * [base, base + total_size) faults deterministically.
 *
 * Creation state machine (hdr.state = generation << 8 | state):
 *   UNINIT(0) -> BUILDING(1) -> READY(2)
 * The builder holds an open-file-description lock (F_OFD_SETLK) on byte
 * SHMAP__LOCK_BUILDER of the segment's file while building. An opener that
 * finds the segment not READY and that lock free knows the builder is gone;
 * in open-or-create mode it takes the lock and rebuilds (generation + 1).
 *
 * Liveness: each attached handle owns a participant slot and holds an OFD
 * write lock on byte SHMAP__LOCK_PART0 + slot. The kernel drops it when the
 * process dies, so "is the owner of slot s alive" is one F_OFD_GETLK probe.
 * An owner id (uint32_t) packs {slot + 1, low 20 bits of the slot's
 * generation}; 0 means "no owner". A claim word in any structure stores an
 * owner id; a waiter that waits too long calls shmap__seg_owner_alive() and
 * recovers the claim if the owner is dead.
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
#define SHMAP__LAYOUT_VERSION 1u
#define SHMAP__HDR_SIZE 512u
#define SHMAP__PAGE 4096u

/* OFD lock byte offsets (advisory; beyond EOF is fine). */
#define SHMAP__LOCK_BUILDER 0
#define SHMAP__LOCK_PART0 1

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
	uint64_t reserved[16];
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
	uint32_t owner;             /* our owner id (slot + 1 | gen << 12) */
	uint64_t generation;        /* segment build generation */
	uint32_t fork_gen;          /* value of the process fork counter at attach */
	uint32_t poisoned;          /* set after a detected violation */
	bool created;               /* this handle built the segment */
	bool recovered_build;       /* this handle rebuilt after a dead builder */
	char *name;                 /* copy of the name (NULL for memfd) */
	uint64_t hdr_checksum;      /* checksum of the header validated at open */
	uint32_t fd_fork_gen;       /* fork counter when fd + mapping were last made ours */
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
	uint32_t flags;
};

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

/* SHMAP_E_FORKED if the handle was attached in another process (after fork). */
static inline int shmap__seg_check(const struct shmap__seg *seg)
{
	if (shmap_unlikely(seg->fork_gen != shmap__fork_counter))
		return SHMAP_E_FORKED;
	if (shmap_unlikely(seg->poisoned))
		return SHMAP_E_CORRUPT;
	return SHMAP_OK;
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
	uint64_t pair;
	memcpy(&pair, &seg->fork_gen, 8);
	return pair == (uint64_t)shmap__fork_counter;
#else
	return seg->fork_gen == shmap__fork_counter && !seg->poisoned;
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

/* Owner ids. */
#define SHMAP__OWNER_SLOT_BITS 12u
static inline uint32_t shmap__owner_slot(uint32_t owner)
{
	return (owner & ((1u << SHMAP__OWNER_SLOT_BITS) - 1u)) - 1u;
}

/*
 * Is the process named by `owner` still attached and alive?
 * true: alive (or it is us). false: dead or detached -- its claims may be
 * recovered. Out-of-range owners (a scribbled word) count as dead.
 * Cost: one relaxed load, plus one F_OFD_GETLK syscall (~0.5 us) when the
 * owner is another live-looking slot.
 */
bool shmap__seg_owner_alive(const struct shmap__seg *seg, uint32_t owner);

/* Liveness of participant slot `slot` (lock probe only). */
bool shmap__seg_slot_alive(const struct shmap__seg *seg, uint32_t slot);

/* Validate a segment name for a backend: SHMAP_OK / SHMAP_E_INVAL / SHMAP_E_NAMETOOLONG. */
int shmap__name_check(const char *name, uint32_t backend);

/* Layout descriptor: pointer size, cache line, slot size, endianness. */
uint32_t shmap__layout_desc(void);

/* Shared by segment.c and inspect.c. */
bool shmap__ofd_held(int fd, off_t byte);                   /* another description locks `byte` */
int shmap__errno_code(int e);                               /* errno -> SHMAP_E_* */
int shmap__check_object(const struct stat *st, const struct shmap_opts *o); /* squatting checks */
int shmap__open_object(const char *name, const struct shmap_opts *o, int flags, mode_t mode);
uint64_t shmap__hdr_checksum(const struct shmap__hdr *h);

#endif /* SHMAP_SEGMENT_INTERNAL_H */
