/* SPDX-License-Identifier: MIT */
/*
 * segment.c - creating, opening, validating and attaching to segments.
 *
 * Design notes
 * ------------
 * Open is "validate everything before trusting anything":
 *   1. the name is checked by us before any system call;
 *   2. the object is opened with O_NOFOLLOW and fstat()ed: a regular file
 *      with one link, the expected owner, no permission bits beyond the
 *      configured mode -- anything else is SHMAP_E_ACCESS;
 *   3. the header is read with pread() (where objects refuse it, through a
 *      short guarded read-only mapping: shmap__plat_obj_pread()) and
 *      checked against fstat() BEFORE mapping: magic, layout version and
 *      descriptor, checksum, sizes and offsets, kind and parameters. Only
 *      then is exactly the validated size mapped (between two PROT_NONE
 *      guard pages);
 *   4. the mapped header is compared with the private copy, and from then on
 *      only the private copy is used: a peer rewriting the header later
 *      cannot widen any bound.
 *
 * Creation (see segment-internal.h for the state machine): the builder holds the
 * builder lock (an OFD lock on byte 0 of the file, or a lock file) for the
 * whole build. The file is sized with
 * posix_fallocate() (a full tmpfs fails here with SHMAP_E_NOSPC, not with a
 * SIGBUS later); header fields are written, the kind initialises its region,
 * the checksum is written, and READY is published last with a release
 * store. (Objects sized once -- macOS shm, SHMAP_PLAT_SHM_FILES 0 -- are
 * sized first and get the building mark through the mapping: build().)
 * An opener that finds the segment not READY:
 *   - builder lock held:  waits (backoff) until its deadline -> TIMEOUT;
 *   - builder lock free:  the builder died (or has not locked yet, in the
 *     microseconds after O_EXCL creation, while the file is still empty).
 *     In open-or-create mode the opener takes the lock itself and rebuilds
 *     with generation + 1; in open mode it reports NOTREADY. Only objects
 *     shmap made are rebuilt (shmap__unfinished(): the building mark, the
 *     magic, or an empty object with the creation mode bit); the check is
 *     made again once the lock is taken. Anything else is BADMAGIC.
 * A peer that shrinks the file later is the SIGBUS guard's (guard.c).
 *
 * The open path, in order: shmap__seg_open() checks its arguments (with the
 * backend's prepare hook), settle() runs the state machine above as a loop
 * over SETTLE_* states -- obtain the object through the backend's hooks
 * (new object, existing object), then created -> build, or wait / take over
 * -> ready -- and seg_open_attach() verifies what it did not build (the
 * backend's verify hook) and takes a participant slot. Every failure leaves
 * through one tail.
 *
 * Liveness: participant slots with one lock each, OFD byte locks on the
 * object or lock files, behind the platform layer's shmap__plat_live_*
 * (segment-internal.h, platform-internal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <shmap/ring.h>

#include "hash-internal.h"
#include "atomic.h"
#include "segment-internal.h"

#define SHMAP__HUGE_PAGE (2u * 1024u * 1024u)

volatile uint32_t shmap__fork_counter;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/*
 * Every open segment of this process, so that a fork() child can let go of
 * the parent's file descriptions. A shared mapping and a descriptor both pin
 * the open file description they came from, and OFD liveness locks are only
 * released when a description's last reference goes: a child that merely
 * inherited a handle (a pre-forked worker that never uses it) would otherwise
 * keep its parent looking alive forever after the parent died.
 */
static pthread_mutex_t seg_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shmap__seg *seg_list;

/* Re-open our own description of the segment's file and map the same pages
 * through it, in place; then drop the inherited descriptor. */
static int seg_private_fd(struct shmap__seg *seg)
{
	if (!SHMAP_PLAT_OFD_LOCKS) {
		/* Lock files: the locks are not on the object's description;
		 * the layer lets go of the parent's lock files instead. */
		int r = shmap__plat_live_forked(&seg->live);
		if (r != 0) {
			errno = r;
			return shmap__errno_code(r);
		}
		seg->fd_fork_gen = shmap__fork_counter;
		return SHMAP_OK;
	}
	int nfd = shmap__reopen_fd(seg->fd, O_RDWR);
	if (nfd < 0)
		return shmap__errno_code(errno);
	/* A handle the SIGBUS guard poisoned keeps its anonymous pages: the
	 * file behind them is shorter than the mapping. */
	void *m = shmap__seg_poison(seg) == SHMAP__POISON_PEERFAULT
			  ? (void *)seg->base
			  : mmap(seg->base, (size_t)seg->total_size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, nfd, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		close(nfd);
		errno = e;
		return shmap__errno_code(e);
	}
	close(seg->fd);
	seg->fd = nfd;
	(void)shmap__plat_live_bind(&seg->live, nfd);
	seg->fd_fork_gen = shmap__fork_counter;
	return SHMAP_OK;
}

/*
 * Opens in progress in other threads at the moment of a fork(): the child
 * inherits their descriptors and mappings but not the threads, so nobody in
 * the child will ever finish those opens. The fork handler drops them, or
 * they would pin the parent's file descriptions (and with them its builder
 * and liveness locks) for as long as the child lives.
 */
struct open_pending {
	const int *fd;             /* the opening thread's descriptor variable */
	struct shmap__seg *seg;    /* its mapping and memfd share descriptor */
	struct open_pending *next;
	struct open_pending *prev;
};
static struct open_pending *pending_list;

static void pending_add(struct open_pending *p)
{
	pthread_mutex_lock(&seg_list_lock);
	p->prev = NULL;
	p->next = pending_list;
	if (pending_list)
		pending_list->prev = p;
	pending_list = p;
	pthread_mutex_unlock(&seg_list_lock);
}

static void pending_del(struct open_pending *p)
{
	pthread_mutex_lock(&seg_list_lock);
	if (p->prev)
		p->prev->next = p->next;
	else if (pending_list == p)
		pending_list = p->next;
	if (p->next)
		p->next->prev = p->prev;
	pthread_mutex_unlock(&seg_list_lock);
}

static void on_fork_prepare(void)
{
	pthread_mutex_lock(&seg_list_lock);
}

static void on_fork_parent(void)
{
	pthread_mutex_unlock(&seg_list_lock);
}

static void on_fork_child(void)
{
	/* Plain increment: the child is single-threaded at this point. */
	shmap__fork_counter++;
	/* Best effort: on failure, shmap__seg_reattach() tries again. */
	for (struct shmap__seg *s = seg_list; s; s = s->next)
		(void)seg_private_fd(s);
	for (struct open_pending *p = pending_list; p; p = p->next) {
		if (*p->fd >= 0)
			close(*p->fd);
		if (p->seg->share_fd >= 0)
			close(p->seg->share_fd);
		/* its builder lock or lock set (lock files): the parent's */
		(void)shmap__plat_live_forked(&p->seg->live);
		shmap__plat_live_close(&p->seg->live, false);
		if (p->seg->map_start) {
			shmap__guard_unregister(p->seg->guard_id);
			munmap(p->seg->map_start, p->seg->map_len);
		}
	}
	pending_list = NULL;
	pthread_mutex_unlock(&seg_list_lock);
}

static void register_atfork(void)
{
	pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

static void seg_list_add(struct shmap__seg *seg)
{
	pthread_mutex_lock(&seg_list_lock);
	seg->prev = NULL;
	seg->next = seg_list;
	if (seg_list)
		seg_list->prev = seg;
	seg_list = seg;
	pthread_mutex_unlock(&seg_list_lock);
}

static void seg_list_del(struct shmap__seg *seg)
{
	pthread_mutex_lock(&seg_list_lock);
	if (seg->prev)
		seg->prev->next = seg->next;
	else if (seg_list == seg)
		seg_list = seg->next;
	if (seg->next)
		seg->next->prev = seg->prev;
	seg->next = seg->prev = NULL;
	pthread_mutex_unlock(&seg_list_lock);
}

/* ------------------------------------------------------------------ */
/* options                                                             */

void shmap__opts_defaults(struct shmap_opts *o)
{
	o->backend = SHMAP_BACKEND_SHM;
	o->mode = 0600;
	o->owner = -2;
	o->fd = -1;
	o->timeout_ms = 2000;
	o->max_procs = 128;
	o->max_consumers = 0;
	o->flags = 0;
}

SHMAP_API int shmap_opts_new(shmap_opts **ret)
{
	if (!ret)
		return SHMAP_E_INVAL;
	struct shmap_opts *o = calloc(1, sizeof(*o));
	if (!o)
		return SHMAP_E_NOMEM;
	shmap__opts_defaults(o);
	*ret = o;
	return SHMAP_OK;
}

SHMAP_API void shmap_opts_free(shmap_opts *opts)
{
	free(opts);
}

SHMAP_API int shmap_opts_set_backend(shmap_opts *opts, uint32_t backend)
{
	if (!opts || backend > SHMAP_BACKEND_MEMFD)
		return SHMAP_E_INVAL;
	opts->backend = backend;
	return SHMAP_OK;
}

SHMAP_API int shmap_opts_set_mode(shmap_opts *opts, uint32_t mode)
{
	if (!opts || (mode & ~0777u) || (mode & 0600u) != 0600u)
		return SHMAP_E_INVAL;
	opts->mode = mode;
	return SHMAP_OK;
}

SHMAP_API int shmap_opts_set_owner(shmap_opts *opts, int64_t uid)
{
	if (!opts || uid < -1 || uid > (int64_t)UINT32_MAX)
		return SHMAP_E_INVAL;
	opts->owner = uid;
	return SHMAP_OK;
}

SHMAP_API int shmap_opts_set_fd(shmap_opts *opts, int fd)
{
	if (!opts || fd < 0)
		return SHMAP_E_INVAL;
	opts->fd = fd;
	return SHMAP_OK;
}

SHMAP_API int shmap_opts_set_timeout_ms(shmap_opts *opts, uint32_t ms)
{
	if (!opts)
		return SHMAP_E_INVAL;
	opts->timeout_ms = ms;
	return SHMAP_OK;
}

SHMAP_API int shmap_opts_set_max_procs(shmap_opts *opts, uint32_t n)
{
	if (!opts || n == 0 || n > SHMAP__MAX_PARTS)
		return SHMAP_E_INVAL;
	opts->max_procs = n;
	return SHMAP_OK;
}

SHMAP_API int shmap_opts_set_max_consumers(shmap_opts *opts, uint32_t n)
{
	if (!opts || n > SHMAP_RING_CONSUMERS_MAX)
		return SHMAP_E_INVAL;
	opts->max_consumers = n;
	return SHMAP_OK;
}

SHMAP_API int shmap_opts_set_flags(shmap_opts *opts, uint32_t flags)
{
	if (!opts || (flags & ~(SHMAP_OPT_HUGEPAGES | SHMAP_OPT_PREFAULT | SHMAP_OPT_NO_SIGBUS_GUARD)))
		return SHMAP_E_INVAL;
	opts->flags = flags;
	return SHMAP_OK;
}

/* ------------------------------------------------------------------ */
/* names                                                               */

int shmap__name_check(const char *name, uint32_t backend)
{
	if (!name)
		return SHMAP_E_INVAL;
	size_t len = strnlen(name, PATH_MAX + 1);
	switch (backend) {
	case SHMAP_BACKEND_SHM: {
		/* "/" + 1..SHMAP_PLAT_SHM_NAME_MAX bytes, no further '/', no
		 * control bytes. */
		if (name[0] != '/')
			return SHMAP_E_INVAL;
		const char *n = name + 1;
		size_t nl = len - 1;
		if (nl == 0)
			return SHMAP_E_INVAL;
		if (nl > SHMAP_PLAT_SHM_NAME_MAX) /* NAME_MAX; macOS: 30 */
			return SHMAP_E_NAMETOOLONG;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strncmp(n, "sem.", 4) == 0)
			return SHMAP_E_INVAL;
		for (size_t i = 0; i < nl; i++) {
			unsigned char c = (unsigned char)n[i];
			if (c == '/' || c < 0x20 || c == 0x7f)
				return SHMAP_E_INVAL;
		}
		return SHMAP_OK;
	}
	case SHMAP_BACKEND_FILE:
		if (len == 0)
			return SHMAP_E_INVAL;
		if (len >= PATH_MAX)
			return SHMAP_E_NAMETOOLONG;
		return SHMAP_OK;
	case SHMAP_BACKEND_MEMFD:
		/* The label given to memfd_create (visible in /proc/PID/fd). */
		if (len == 0)
			return SHMAP_E_INVAL;
		if (len > 249)
			return SHMAP_E_NAMETOOLONG;
		return SHMAP_OK;
	default:
		return SHMAP_E_INVAL;
	}
}

uint32_t shmap__layout_desc(void)
{
	const uint16_t one = 1;
	uint32_t little = *(const uint8_t *)&one;
	return ((uint32_t)sizeof(void *) << 24) | (SHMAP_CACHELINE << 16) |
	       ((uint32_t)sizeof(struct shmap__part) << 8) | (little << 1) | 1u;
}

int shmap__errno_code(int e)
{
	switch (e) {
	case ENOENT:
		return SHMAP_E_NOENT;
	case EEXIST:
		return SHMAP_E_EXIST;
	case EACCES:
	case EPERM:
	case ELOOP:
	case EISDIR:
	case ENXIO:
		return SHMAP_E_ACCESS;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return SHMAP_E_NOSPC;
	case ENOMEM:
		return SHMAP_E_NOMEM;
	case ENAMETOOLONG:
		return SHMAP_E_NAMETOOLONG;
	default:
		return SHMAP_E_SYS;
	}
}

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t shmap__hdr_checksum(const struct shmap__hdr *h)
{
	return XXH3_64bits(h, offsetof(struct shmap__hdr, checksum));
}

int shmap__open_object(const char *name, const struct shmap_opts *o, int flags, mode_t mode)
{
	int fd;
	flags |= O_RDWR | O_NOFOLLOW | O_CLOEXEC;
	do {
		if (o->backend == SHMAP_BACKEND_SHM)
			fd = shmap__plat_shm_open(name, flags, mode);
		else
			fd = open(name, flags | O_NONBLOCK, mode);
	} while (fd < 0 && errno == EINTR);
	if (fd >= 0 && o->backend == SHMAP_BACKEND_FILE) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	return fd;
}

/* Checks on an object we did not create (squatting, symlinks, foreign owner). */
int shmap__check_object(const struct stat *st, const struct shmap_opts *o)
{
	/* A regular file; where shm objects are not files, also no type at
	 * all (macOS shm). */
	if (o->backend == SHMAP_BACKEND_FILE ? !S_ISREG(st->st_mode) : !shmap__plat_obj_type_ok(st->st_mode))
		return SHMAP_E_ACCESS;
	if (o->backend != SHMAP_BACKEND_MEMFD) {
		/* One name: no hard link planted elsewhere. Only files and
		 * Linux's shm files count names in st_nlink (FreeBSD's shm
		 * counts mappings, macOS's says 0; their shm names cannot be
		 * linked anyway). */
		if ((SHMAP_PLAT_SHM_FILES || o->backend == SHMAP_BACKEND_FILE) && st->st_nlink != 1)
			return SHMAP_E_ACCESS;
		if ((st->st_mode & 0777u) & ~o->mode)
			return SHMAP_E_ACCESS;
	}
	if (o->owner == -2) {
		if (st->st_uid != geteuid())
			return SHMAP_E_ACCESS;
	} else if (o->owner >= 0) {
		if ((int64_t)st->st_uid != o->owner)
			return SHMAP_E_ACCESS;
	}
	return SHMAP_OK;
}

/* Size the file to `size` and allocate its first `alloc` bytes: the
 * platform's reservation (posix_fallocate on Linux) and a ftruncate
 * fallback where it cannot reserve. */
static int reserve_space(int fd, uint64_t size, uint64_t alloc)
{
	if (alloc < size && ftruncate(fd, (off_t)size) != 0)
		return shmap__errno_code(errno);
	int r = shmap__plat_reserve(fd, 0, (off_t)alloc, false);
	if (r == 0)
		return SHMAP_OK;
	if (r == EOPNOTSUPP) {
		/* Filesystem cannot reserve: size it sparsely instead. */
		if (ftruncate(fd, (off_t)size) == 0)
			return SHMAP_OK;
		r = errno;
	}
	errno = r;
	return shmap__errno_code(r);
}

/*
 * Objects sized once (SHMAP_PLAT_SHM_FILES 0: macOS shm refuses a second
 * ftruncate()): every object but a regular file is given its full size by
 * one ftruncate(), and nothing in the open path sizes it again. Files keep
 * the mark-first build below on every system.
 */
static bool size_once(uint32_t backend)
{
	return !SHMAP_PLAT_SHM_FILES && backend != SHMAP_BACKEND_FILE;
}

/*
 * The sizing of a build on an object sized once: the empty object of a new
 * create is sized to `size` (the one ftruncate() of its life) and its first
 * `alloc` bytes reserved where the platform can (objects that refuse
 * pwrite() stay sparse). An object a dead builder sized already is reused
 * as it is when its size is ours (*dirty: it must be zeroed through the
 * mapping, as the ftruncate() to the mark does elsewhere), and refused with
 * SHMAP_E_INCOMPAT when it is not (it cannot be resized: unlink it).
 */
static int size_once_space(int fd, uint64_t size, uint64_t alloc, bool *dirty)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return shmap__errno_code(errno);
	*dirty = st.st_size != 0;
	if (st.st_size != 0 && (uint64_t)st.st_size != size)
		return SHMAP_E_INCOMPAT;
	SHMAP_FAILPOINT("seg.build.before_size");
	if (st.st_size == 0 && ftruncate(fd, (off_t)size) != 0)
		return shmap__errno_code(errno);
	SHMAP_FAILPOINT("seg.build.after_size");
	int r = shmap__plat_reserve(fd, 0, (off_t)alloc, false);
	if (r == 0 || r == EOPNOTSUPP)
		return SHMAP_OK;
	errno = r;
	return shmap__errno_code(r);
}

/* Zero [base + 8, base + len) through the mapping -- everything but the
 * building mark, which stays in place for concurrent probes -- writing only
 * the pages that hold something (a dead build's leftovers; untouched pages
 * stay untouched). */
static void zero_after_mark(uint8_t *base, size_t len)
{
	const size_t pg = SHMAP__PAGE;
	for (size_t off = 0; off < len; off += pg) {
		const size_t from = off == 0 ? sizeof(uint64_t) : off;
		const size_t end = len - off < pg ? len : off + pg;
		const uint64_t *w = (const uint64_t *)(const void *)(base + from);
		for (size_t i = 0; i < (end - from) / 8u; i++) {
			if (w[i] != 0) {
				memset(base + from, 0, end - from);
				break;
			}
		}
	}
}

/* Compute the full layout of a segment from its params. */
static int compute_layout(const struct shmap__params *p, uint64_t *parts_off, uint64_t *data_off,
			  uint64_t *total, bool huge)
{
	if (p->nparts == 0 || p->nparts > SHMAP__MAX_PARTS)
		return SHMAP_E_INVAL;
	if (p->data_size > SHMAP__MAX_TOTAL)
		return SHMAP_E_INVAL;
	*parts_off = SHMAP__HDR_SIZE;
	*data_off = SHMAP_ALIGN_UP(SHMAP__HDR_SIZE + (uint64_t)p->nparts * sizeof(struct shmap__part),
				   (uint64_t)SHMAP__PAGE);
	uint64_t t = SHMAP_ALIGN_UP(*data_off + p->data_size, (uint64_t)(huge ? SHMAP__HUGE_PAGE : SHMAP__PAGE));
	if (t > SHMAP__MAX_TOTAL)
		return SHMAP_E_INVAL;
	*total = t;
	return SHMAP_OK;
}

#ifdef SHMAP_FAILPOINTS
size_t shmap__guard_test_size;
#endif

/*
 * Guard size: the system page size (4 KiB, 16 KiB or 64 KiB), so the shared
 * mapping placed after the leading guard starts page-aligned. The segment
 * layout keeps its fixed 4 KiB unit (it is part of the format); only the
 * mapping arithmetic depends on the host. Tests may force a larger guard.
 */
static size_t guard_size(size_t page)
{
	size_t g = page;
#ifdef SHMAP_FAILPOINTS
	/* tests only (the private test build): not in the library */
	if (shmap__guard_test_size > g)
		g = SHMAP_ALIGN_UP(shmap__guard_test_size, page);
#endif
	return g;
}

static size_t page_size(void)
{
	return shmap__plat_page_size();
}

/*
 * Map `total` bytes of fd between two PROT_NONE guards:
 *   [res, res + g) guard | [res + g, res + g + round_up(total, page)) segment | g guard
 * The kernel maps whole pages, so the segment's span is `total` rounded up to
 * the page size (the bytes past `total` in its last page fault with SIGBUS,
 * being beyond the end of the object).
 */
static int map_segment(struct shmap__seg *seg, int fd, uint64_t total, uint32_t oflags)
{
	const size_t page = page_size();
	const size_t g = guard_size(page);
	size_t len = SHMAP_ALIGN_UP((size_t)total, page) + 2u * g;
	void *res = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | shmap__plat_map_noreserve(),
			 -1, 0);
	if (res == MAP_FAILED)
		return shmap__errno_code(errno);
	int mflags = MAP_SHARED | MAP_FIXED | shmap__plat_map_flags(oflags & SHMAP_OPT_PREFAULT);
	void *m = mmap((uint8_t *)res + g, (size_t)total, PROT_READ | PROT_WRITE, mflags, fd, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		munmap(res, len);
		errno = e;
		return shmap__errno_code(e);
	}
	if ((oflags & SHMAP_OPT_HUGEPAGES) && seg->backend != SHMAP_BACKEND_MEMFD)
		shmap__plat_advise_huge(m, (size_t)total);
	/* Guard the mapping before anything reads it (guard.c). */
	int gid = 0;
	if (!(oflags & SHMAP_OPT_NO_SIGBUS_GUARD)) {
		gid = shmap__guard_register(m, (size_t)total, &seg->poisoned);
		if (gid < 0) {
			munmap(res, len);
			errno = ENOMEM;
			return SHMAP_E_NOMEM;
		}
	}
	/* Where the mapping flags could not prefault: the layer touches the
	 * pages now, under the guard (a shrunk object poisons, not kills). */
	if (oflags & SHMAP_OPT_PREFAULT)
		shmap__plat_prefault(m, (size_t)total);
	seg->guard_id = gid;
	seg->map_start = res;
	seg->map_len = len;
	seg->base = m;
	seg->total_size = total;
	return SHMAP_OK;
}

static void unmap_segment(struct shmap__seg *seg)
{
	if (seg->map_start) {
		/* Out of the guard's registry before the range can be reused. */
		shmap__guard_unregister(seg->guard_id);
		seg->guard_id = 0;
		munmap(seg->map_start, seg->map_len);
		seg->map_start = NULL;
		seg->base = NULL;
		seg->data = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* participants                                                        */

static int attach_participant(struct shmap__seg *seg)
{
	uint32_t n = seg->p.nparts;
	uint32_t start = (uint32_t)getpid() % n;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (start + k) % n;
		int r = shmap__plat_live_trylock(&seg->live, SHMAP__LIVE_SLOT0 + i);
		if (r == EAGAIN)
			continue; /* a live process holds it */
		if (r != 0) {
			errno = r;
			return shmap__errno_code(r);
		}
		/* We hold the slot's lock: any previous owner is dead or gone. */
		struct shmap__part *pt = &seg->parts[i];
		uint64_t w = shmap__atomic_load_u64(&pt->word);
		uint32_t gen = 0;
		int retired = 0;
		for (int tries = 0;; tries++) {
			if ((uint32_t)(w >> 32) >= shmap__owner_gen_max(n)) {
				/* Every id of this slot was handed out: the next one
				 * would repeat a dead process's id. Retired for good. */
				retired = 1;
				break;
			}
			gen = (uint32_t)(w >> 32) + 1u;
			/* C1: full CAS; the new generation is visible before any claim
			 * we make with it (claims are published with release/full ops). */
			uint64_t seen = shmap__atomic_cas_full_u64(&pt->word, w,
								  ((uint64_t)gen << 32) | SHMAP__PART_ATTACHED);
			if (seen == w)
				break;
			w = seen;
			if (tries > 64) {
				shmap__plat_live_unlock(&seg->live, SHMAP__LIVE_SLOT0 + i);
				return SHMAP_E_CORRUPT; /* someone keeps scribbling on our slot */
			}
		}
		if (retired) {
			shmap__plat_live_unlock(&seg->live, SHMAP__LIVE_SLOT0 + i);
			continue;
		}
		shmap__atomic_store_u32(&pt->pid, (uint32_t)getpid());
		shmap__atomic_store_u32(&pt->uid, (uint32_t)geteuid());
		shmap__atomic_store_u64(&pt->start_time, shmap__plat_start_time());
		shmap__atomic_store_u64(&pt->attach_ns, realtime_ns());
		seg->slot = i;
		seg->owner = shmap__owner_id(n, i, gen);
		pthread_once(&atfork_once, register_atfork);
		seg->fork_gen = shmap__fork_counter;
		return SHMAP_OK;
	}
	return SHMAP_E_FULL;
}

static void detach_participant(struct shmap__seg *seg)
{
	if (!seg->parts || seg->owner == 0)
		return;
	struct shmap__part *pt = &seg->parts[seg->slot];
	uint64_t w = shmap__atomic_load_u64(&pt->word);
	if ((uint32_t)(w >> 32) == shmap__owner_gen(seg->p.nparts, seg->owner)) {
		/* R1: release; our last writes to the structure happen before the
		 * slot reads as free (pairs with the acquire in owner_alive). */
		shmap__atomic_cas_release_u64(&pt->word, w, (w & ~UINT64_C(0xffffffff)) | SHMAP__PART_FREE);
	}
	shmap__plat_live_unlock(&seg->live, SHMAP__LIVE_SLOT0 + seg->slot);
	seg->owner = 0;
}

#ifdef SHMAP_FAILPOINTS
/*
 * Test build only: set the generation of participant slot `slot` (its state
 * kept), so that a test reaches the end of a slot's id space, or the value
 * a narrower generation field would wrap to, without 2^20 real attaches.
 */
int shmap__seg_test_set_gen(struct shmap__seg *seg, uint32_t slot, uint32_t gen);
int shmap__seg_test_set_gen(struct shmap__seg *seg, uint32_t slot, uint32_t gen)
{
	if (slot >= seg->p.nparts)
		return SHMAP_E_INVAL;
	struct shmap__part *pt = &seg->parts[slot];
	uint64_t w = shmap__atomic_load_u64(&pt->word);
	for (;;) {
		uint64_t seen = shmap__atomic_cas_full_u64(&pt->word, w, (uint64_t)gen << 32 | (uint32_t)w);
		if (seen == w)
			return SHMAP_OK;
		w = seen;
	}
}
#endif

bool shmap__seg_slot_alive(const struct shmap__seg *seg, uint32_t slot)
{
	if (slot >= seg->p.nparts)
		return false;
	if (slot == seg->slot && seg->owner != 0)
		return true;
	return shmap__plat_live_held(&seg->live, SHMAP__LIVE_SLOT0 + slot);
}

bool shmap__seg_owner_alive(const struct shmap__seg *seg, uint32_t owner)
{
	if (owner == 0)
		return false;
	uint32_t slot = shmap__owner_slot(seg->p.nparts, owner);
	if (owner == seg->owner)
		return true;
	if (slot == seg->slot)
		return false; /* an earlier, dead holder of our own slot */
	/* A1: acquire, pairs with C1/R1 on the slot word. */
	uint64_t w = shmap__atomic_load_acquire_u64(&seg->parts[slot].word);
	if ((uint32_t)w != SHMAP__PART_ATTACHED)
		return false;
	if ((uint32_t)(w >> 32) != shmap__owner_gen(seg->p.nparts, owner))
		return false;
	return shmap__plat_live_held(&seg->live, SHMAP__LIVE_SLOT0 + slot);
}

/* ------------------------------------------------------------------ */
/* validation                                                          */

static void params_from_hdr(const struct shmap__hdr *h, struct shmap__params *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = h->kind;
	p->kind_flags = h->kind_flags;
	p->capacity = h->capacity;
	p->key_max = h->key_max;
	p->value_max = h->value_max;
	p->elem_size = h->elem_size;
	p->max_consumers = h->max_consumers;
	p->hash_alg = h->hash_alg;
	p->nparts = h->nparts;
	p->hash_seed = h->hash_seed;
	p->data_size = h->data_size;
}

int shmap__hdr_validate(const struct shmap__hdr *h, uint64_t st_size, const struct shmap__kind_ops *ops,
			struct shmap__params *out)
{
	if (h->magic != SHMAP__MAGIC)
		return SHMAP_E_BADMAGIC;
	if (h->layout_version != SHMAP__LAYOUT_VERSION || h->layout_desc != shmap__layout_desc())
		return SHMAP_E_VERSION;
	if (h->checksum != shmap__hdr_checksum(h))
		return SHMAP_E_CORRUPT;
	if (h->total_size > st_size)
		return SHMAP_E_TRUNCATED;
	/* The lock-set identity says which liveness backend made it: OFD
	 * locks (0) and lock files (non-zero) do not see each other. */
	if ((h->reserved[0] != 0) != !SHMAP_PLAT_OFD_LOCKS)
		return SHMAP_E_INCOMPAT;
	params_from_hdr(h, out);
	uint64_t parts_off, data_off, total;
	bool huge = h->total_size % SHMAP__HUGE_PAGE == 0 && h->total_size >= SHMAP__HUGE_PAGE;
	if (compute_layout(out, &parts_off, &data_off, &total, false) != SHMAP_OK)
		return SHMAP_E_CORRUPT;
	if (h->parts_off != parts_off || h->data_off != data_off)
		return SHMAP_E_CORRUPT;
	if (h->total_size != total) {
		uint64_t t2;
		if (!huge || compute_layout(out, &parts_off, &data_off, &t2, true) != SHMAP_OK ||
		    h->total_size != t2)
			return SHMAP_E_CORRUPT;
	}
	if (ops && h->kind == ops->kind) {
		/* The stored parameters must describe a layout the kind can build. */
		struct shmap__params chk = *out;
		if (ops->layout(&chk) != SHMAP_OK || chk.data_size != out->data_size)
			return SHMAP_E_CORRUPT;
	}
	return SHMAP_OK;
}

/* Validate a READY header read with pread() for an open of `want` (the same
 * checks as inspection, then the kind and parameters asked for); fill *out
 * with its params. */
static int validate_hdr(const struct shmap__hdr *h, uint64_t st_size, const struct shmap__params *want,
			const struct shmap__kind_ops *ops, struct shmap__params *out)
{
	int rc = shmap__hdr_validate(h, st_size, ops, out);
	if (rc != SHMAP_OK)
		return rc;
	if (h->kind != want->kind)
		return SHMAP_E_INCOMPAT;
	if ((want->kind_flags && want->kind_flags != out->kind_flags) ||
	    (want->capacity && want->capacity != out->capacity) ||
	    (want->key_max && want->key_max != out->key_max) ||
	    (want->value_max && want->value_max != out->value_max) ||
	    (want->elem_size && want->elem_size != out->elem_size) ||
	    (want->max_consumers && want->max_consumers != out->max_consumers) ||
	    (want->hash_alg && want->hash_alg != out->hash_alg))
		return SHMAP_E_INCOMPAT;
	return SHMAP_OK;
}

/* ------------------------------------------------------------------ */
/* build                                                               */

/*
 * Build the segment in fd (we hold the builder lock). `gen` is the new
 * generation. On failure the caller unlinks/cleans up.
 */
static int build(struct shmap__seg *seg, int fd, const struct shmap__params *want,
		 const struct shmap__kind_ops *ops, const struct shmap_opts *o, uint64_t gen)
{
	struct shmap__params p = *want;
	p.nparts = o->max_procs;
	p.hash_seed = 0;
	int rc = ops->layout(&p);
	if (rc != SHMAP_OK)
		return rc;
	shmap__random(&p.hash_seed, sizeof(p.hash_seed));
	uint64_t parts_off, data_off, total;
	bool huge = (o->flags & SHMAP_OPT_HUGEPAGES) && o->backend == SHMAP_BACKEND_MEMFD;
	rc = compute_layout(&p, &parts_off, &data_off, &total, huge);
	if (rc != SHMAP_OK)
		return rc;
	/* Lock files: the segment's own lock set, made and joined before
	 * anyone can attach (its identity goes into the header). */
	uint64_t live_id = 0;
	while (!SHMAP_PLAT_OFD_LOCKS && live_id == 0)
		shmap__random(&live_id, sizeof(live_id));
	seg->live.mode = o->mode;
	int lr = shmap__plat_live_join(&seg->live, live_id, p.nparts, SHMAP__LIVE_BUILD);
	if (lr != 0) {
		errno = lr;
		return shmap__errno_code(lr);
	}

	const uint64_t mark = SHMAP__MARK_BUILDING;
	const uint64_t alloc = p.data_reserve && !huge ? data_off + p.data_reserve : total;
	bool dirty = false;
	if (size_once(o->backend)) {
		/* Sized once, then mapped: the mark goes through the mapping
		 * (below). Until then the object is recognisably ours by its
		 * creation mode bit (shmap__unfinished()). */
		rc = size_once_space(fd, total, alloc, &dirty);
		if (rc != SHMAP_OK)
			return rc;
		goto sized;
	}
	/* B1: the building mark is the first thing written, under the builder
	 * lock: from here on the object is recognisably an unfinished segment
	 * (shmap__unfinished()). Over an object that already carries it (a dead
	 * build we take over) this rewrites the same bytes. */
	ssize_t wn;
	do {
		wn = pwrite(fd, &mark, sizeof(mark), 0);
	} while (wn < 0 && errno == EINTR);
	if (wn != (ssize_t)sizeof(mark))
		return wn < 0 ? shmap__errno_code(errno) : SHMAP_E_SYS;
	/* The exact mode; this also clears SHMAP__MODE_NEW, which the mark
	 * now stands in for. */
	if (o->backend != SHMAP_BACKEND_MEMFD && fchmod(fd, (mode_t)o->mode) != 0)
		return shmap__errno_code(errno);
	SHMAP_FAILPOINT("seg.build.before_size");
	/* Start from the mark alone: a dead builder may have left anything
	 * after it (and the file never gets shorter than the mark). */
	if (ftruncate(fd, (off_t)sizeof(mark)) != 0)
		return shmap__errno_code(errno);
	rc = reserve_space(fd, total, alloc);
	if (rc != SHMAP_OK)
		return rc;
	SHMAP_FAILPOINT("seg.build.after_size");
sized:
	if (o->backend == SHMAP_BACKEND_MEMFD) {
		/* The one defence against a peer truncating the memory under us
		 * (where the platform has seals; the SIGBUS guard otherwise). */
		if (shmap__plat_anon_seal(fd) != 0)
			return shmap__errno_code(errno);
	}
	rc = map_segment(seg, fd, total, o->flags);
	if (rc != SHMAP_OK)
		return rc;

	struct shmap__hdr *h = (struct shmap__hdr *)seg->base;
	if (size_once(o->backend)) {
		/* B1 through the mapping: from here on the object carries the
		 * mark as elsewhere. Then a dead build's bytes go (the object
		 * cannot be cut to the mark); the mark stays while they do, so a
		 * probe never sees a head that is neither mark nor magic. */
		/* B1': relaxed, one aligned 8-byte store (a probe reads the
		 * mark or what was there, both "unfinished"); the fields
		 * written after it are published by R2, as elsewhere. */
		shmap__atomic_store_u64(&h->magic, mark);
		if (dirty)
			zero_after_mark(seg->base, (size_t)total);
		/* The exact mode, clearing SHMAP__MODE_NEW, where the object
		 * allows it: macOS shm refuses fchmod() (EINVAL) and keeps its
		 * creation mode, which is exact there (shm_open() applies no
		 * umask) and keeps the bit (harmless once the mark is in). */
		if (o->backend != SHMAP_BACKEND_MEMFD && fchmod(fd, (mode_t)o->mode) != 0 && errno != EINVAL) {
			unmap_segment(seg);
			return shmap__errno_code(errno);
		}
	}
	shmap__atomic_store_u64(&h->state, (gen << 8) | SHMAP__ST_BUILDING);
	SHMAP_FAILPOINT("seg.build.building");
	h->layout_version = SHMAP__LAYOUT_VERSION;
	h->layout_desc = shmap__layout_desc();
	h->kind = p.kind;
	h->kind_flags = p.kind_flags;
	h->capacity = p.capacity;
	h->key_max = p.key_max;
	h->value_max = p.value_max;
	h->elem_size = p.elem_size;
	h->max_consumers = p.max_consumers;
	h->hash_alg = p.hash_alg;
	h->nparts = p.nparts;
	h->hash_seed = p.hash_seed;
	h->total_size = total;
	h->parts_off = parts_off;
	h->data_off = data_off;
	h->data_size = p.data_size;
	h->created_ns = realtime_ns();
	h->creator_uid = (uint32_t)geteuid();
	h->creator_pid = (uint32_t)getpid();
	h->reserved[0] = live_id;
	seg->p = p;
	seg->parts = (struct shmap__part *)(seg->base + parts_off);
	seg->data = seg->base + data_off;
	seg->generation = gen;
	if (ops->init) {
		rc = ops->init(seg);
		if (rc != SHMAP_OK) {
			unmap_segment(seg);
			return rc;
		}
	}
	SHMAP_FAILPOINT("seg.build.after_init");
	/* The magic replaces the building mark (one aligned 8-byte store: a
	 * pread() sees one or the other). */
	h->magic = SHMAP__MAGIC;
	h->checksum = shmap__hdr_checksum(h);
	seg->hdr_checksum = h->checksum;
	SHMAP_FAILPOINT("seg.build.before_ready");
	/* R2: release; every header and data-region store above is visible to
	 * whoever sees READY (pairs with A2 in attach_existing and with the
	 * pread() of openers, which the kernel orders after our stores). */
	shmap__atomic_store_release_u64(&h->state, (gen << 8) | SHMAP__ST_READY);
	return SHMAP_OK;
}

/* ------------------------------------------------------------------ */
/* open                                                                */

enum probe_result { PR_READY, PR_WAIT_BUILDER, PR_BUILDER_GONE, PR_WAIT_EMPTY, PR_ERROR };

int shmap__unfinished(uint64_t head, uint64_t state, uint64_t size, uint32_t mode)
{
	if (size == 0)
		return (mode & SHMAP__MODE_NEW) ? SHMAP_OK : SHMAP_E_NOTREADY;
#if !SHMAP_PLAT_SHM_FILES
	/* An object sized once gets its mark through the mapping, after the
	 * sizing: a builder that died between the two left it sized, all
	 * zero, with the creation mode bit. */
	if (head == 0 && state == 0 && (mode & SHMAP__MODE_NEW))
		return SHMAP_OK;
#endif
	/* A builder writes the 8-byte mark into the empty file in one write,
	 * and never makes the file shorter than it again. */
	if (size < sizeof(uint64_t))
		return SHMAP_E_BADMAGIC;
	if (head != SHMAP__MARK_BUILDING && head != SHMAP__MAGIC)
		return SHMAP_E_BADMAGIC;
	/* The magic is written only once the file has its full size: a
	 * shorter one is a segment someone cut, not a build to redo. */
	if (head == SHMAP__MAGIC && size < SHMAP__HDR_SIZE)
		return SHMAP_E_TRUNCATED;
	/* No builder ever writes a state above READY: not a dead build we
	 * may redo. */
	return (state & 0xffu) > SHMAP__ST_READY ? SHMAP_E_CORRUPT : SHMAP_OK;
}

/* pread() all of len bytes at off: SHMAP_OK, SHMAP_E_TRUNCATED on a short
 * read (the file shrank), or the errno's code. */
static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;
	do {
		n = shmap__plat_obj_pread(fd, buf, len, off); /* pread() on Linux */
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return shmap__errno_code(errno);
	return n == (ssize_t)len ? SHMAP_OK : SHMAP_E_TRUNCATED;
}

int shmap__hdr_read(int fd, uint64_t size, struct shmap__hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (size < SHMAP__HDR_SIZE)
		return size >= sizeof(h->magic) ? pread_all(fd, &h->magic, sizeof(h->magic), 0) : SHMAP_OK;
	/* Read the state word on its own first: one pread() of the whole
	 * header is not atomic against a concurrent builder, so it could copy
	 * the low (immutable) bytes before they were written and the state
	 * after READY was published -- a torn "READY" header that fails
	 * validation. Once a pread() has seen READY (R2), a later pread() sees
	 * every header byte written before it. */
	uint64_t state = 0;
	int rc = pread_all(fd, &state, sizeof(state), offsetof(struct shmap__hdr, state));
	if (rc == SHMAP_OK)
		rc = pread_all(fd, h, sizeof(*h), 0);
	/* READY may have arrived mid-read: the first look decides. */
	if (rc == SHMAP_OK)
		h->state = state;
	return rc;
}

/*
 * Look at an open object without mapping it. Fills *hdr on PR_READY.
 * PR_WAIT_BUILDER: a live builder holds the lock. PR_BUILDER_GONE: an
 * unfinished segment (shmap__unfinished()) nobody builds. PR_WAIT_EMPTY: an
 * empty object without the creation mode bit, whose builder lock is free:
 * never ours to build; it may still become a segment (a creator about to
 * lock it), so it is waited for, then refused. PR_ERROR: *rc holds the code
 * -- SHMAP_E_BADMAGIC for anything that is neither READY nor unfinished,
 * which is never written.
 */
static enum probe_result probe_once(int fd, const struct shmap__live *lv, struct shmap__hdr *hdr, uint64_t *st_size,
				    int *rc)
{
	struct stat st;
	/* A short pread means the file shrank after our fstat (a rebuilder
	 * truncating it to start over): look again, a bounded number of times. */
	for (int tries = 0;; tries++) {
		if (fstat(fd, &st) != 0) {
			*rc = shmap__errno_code(errno);
			return PR_ERROR;
		}
		*st_size = (uint64_t)st.st_size;
		SHMAP_TEST_HOOK("seg.probe.stat", &fd, *st_size);
		int r = shmap__hdr_read(fd, *st_size, hdr);
		if (r == SHMAP_E_TRUNCATED && tries < 8)
			continue;
		if (r != SHMAP_OK) {
			*rc = r;
			return PR_ERROR;
		}
		const uint64_t state = hdr->state;
		if ((state & 0xffu) == SHMAP__ST_READY) {
			/* Our size may predate the build: the file grows while
			 * the builder reserves it (ext4 extends it extent by
			 * extent), and READY is stored only after the file has
			 * its full size (build()). Once READY is seen, a new
			 * fstat() gives that size; a file still shorter than
			 * its header says was cut (SHMAP_E_TRUNCATED). */
			if (hdr->total_size > *st_size && fstat(fd, &st) == 0)
				*st_size = (uint64_t)st.st_size;
			return PR_READY;
		}
		int u = shmap__unfinished(hdr->magic, state, *st_size, (uint32_t)st.st_mode);
		if (u == SHMAP_E_TRUNCATED && tries < 8) {
			struct stat again;
			/* The magic with the size of a mark: a build finished
			 * between our fstat and our pread. Look again. */
			if (fstat(fd, &again) == 0 && again.st_size != st.st_size)
				continue;
		}
		if (u != SHMAP_OK && u != SHMAP_E_NOTREADY) {
			/* Not ours to build: refused whatever its lock, never written. */
			*rc = u;
			return PR_ERROR;
		}
		if (shmap__plat_live_held(lv, SHMAP__LIVE_BUILDER))
			return PR_WAIT_BUILDER;
		return u == SHMAP_OK ? PR_BUILDER_GONE : PR_WAIT_EMPTY;
	}
}

static enum probe_result probe_object(int fd, const struct shmap__live *lv, struct shmap__hdr *hdr,
				      uint64_t *st_size, int *rc)
{
	enum probe_result pr = probe_once(fd, lv, hdr, st_size, rc);
	if (pr != PR_BUILDER_GONE)
		return pr;
	/* The builder publishes READY and then drops its lock: if it finished
	 * between our read and our lock probe, the lock is free but the state
	 * we read is stale. Read again once now that the lock is seen free. */
	return probe_once(fd, lv, hdr, st_size, rc);
}

static int attach_existing(struct shmap__seg *seg, int fd, const struct shmap__hdr *hdr, uint64_t st_size,
			   const struct shmap__params *want, const struct shmap__kind_ops *ops,
			   const struct shmap_opts *o)
{
	struct shmap__params p;
	int rc = validate_hdr(hdr, st_size, want, ops, &p);
	if (rc != SHMAP_OK)
		return rc;
	int lr = shmap__plat_live_join(&seg->live, hdr->reserved[0], p.nparts, SHMAP__LIVE_JOIN);
	if (lr != 0) {
		errno = lr;
		return shmap__errno_code(lr);
	}
	rc = map_segment(seg, fd, hdr->total_size, o->flags);
	if (rc != SHMAP_OK)
		return rc;
	const struct shmap__hdr *mh = (const struct shmap__hdr *)seg->base;
	/* A2: acquire, pairs with R2 in build(). */
	uint64_t state = shmap__atomic_load_acquire_u64(&mh->state);
	if ((state & 0xffu) != SHMAP__ST_READY || memcmp(mh, hdr, offsetof(struct shmap__hdr, pad0)) != 0) {
		unmap_segment(seg);
		return SHMAP_E_CORRUPT;
	}
	seg->p = p;
	seg->parts = (struct shmap__part *)(seg->base + hdr->parts_off);
	seg->data = seg->base + hdr->data_off;
	seg->generation = state >> 8;
	seg->hdr_checksum = hdr->checksum;
	return SHMAP_OK;
}

int shmap__seg_verify_header(const struct shmap__seg *seg)
{
	if (!seg || !seg->base)
		return SHMAP_E_INVAL;
	/* Copy word by word with single loads: a peer may be writing it. */
	struct shmap__hdr copy;
	const volatile uint64_t *src = (const volatile uint64_t *)(const void *)seg->base;
	uint64_t *dst = (uint64_t *)(void *)&copy;
	for (size_t i = 0; i < offsetof(struct shmap__hdr, pad0) / 8u; i++)
		dst[i] = shmap__atomic_load_u64(&src[i]);
	if (copy.checksum != seg->hdr_checksum || shmap__hdr_checksum(&copy) != seg->hdr_checksum)
		return SHMAP_E_CORRUPT;
	return SHMAP_OK;
}

/* ------------------------------------------------------------------ */
/* open: one open in progress                                          */

/* The states of settle(), below. */
enum settle_state {
	SETTLE_OBTAIN,   /* no descriptor yet: create the object, or open the one there */
	SETTLE_CREATED,  /* our create made it: build it, unless a racer took over */
	SETTLE_PROBE,    /* look at the object without mapping it */
	SETTLE_TAKEOVER, /* unfinished and nobody builds it: lock and rebuild */
	SETTLE_WAIT,     /* someone builds it (or may): back off, then op->after_wait */
	SETTLE_READY,    /* READY: validate it and map it */
	SETTLE_DONE,     /* mapped: built by us, or validated */
	SETTLE_FAILED,   /* op->rc holds the code */
};

struct seg_backend;

struct seg_open {
	const char *name;
	const struct shmap__params *want;
	const struct shmap__kind_ops *ops;
	const struct shmap_opts *o;
	struct shmap__seg *seg;
	const struct seg_backend *be;
	bool may_create;
	bool may_open;
	bool we_created;           /* our create made the object, and nobody else builds it */
	bool made_object;          /* our create made the object (someone else may build it) */
	int fd;                    /* our own description of the object, or -1 */
	int rc;                    /* the code, once settle() ends in SETTLE_FAILED */
	uint64_t deadline;
	struct shmap__backoff bo;
	struct shmap__hdr hdr;     /* what the last probe read */
	uint64_t st_size;          /* and the size it saw */
	int wait_rc;               /* SETTLE_WAIT's code at the deadline */
	enum settle_state after_wait;
};

/* ------------------------------------------------------------------ */
/* open: backends                                                      */

int shmap__reopen_fd(int fd, int flags)
{
	/* Lock files: no lock lives on the object's description, so a
	 * duplicate does (and works where /proc/self/fd does not exist). */
	if (!SHMAP_PLAT_OFD_LOCKS)
		return fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return shmap__plat_reopen_fd(fd, flags);
}

/*
 * How each backend comes by its object. shm and files have a name: create
 * it with O_EXCL, or open what is there and check it. A memfd created here
 * has no name, and one received from a peer is only ever opened.
 */
struct seg_backend {
	/* Check the name (or memfd label) against the open flags. */
	int (*prepare)(const struct seg_open *op);
	/* Make a new object into op->fd. SHMAP_E_EXIST: the name is taken.
	 * NULL: this backend never creates. */
	int (*new_object)(struct seg_open *op);
	/* Open the existing object into op->fd and check it (squatting, owner,
	 * mode). SHMAP_E_NOENT: the name is gone. NULL: never opens. */
	int (*existing_object)(struct seg_open *op);
	/* The last check of an object this open did not build, once mapped. */
	int (*verify_object)(const struct seg_open *op);
	/* The object has a name (that may be removed under us). */
	bool named;
};

static int check_opened(int fd, const struct shmap_opts *o)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return shmap__errno_code(errno);
	return shmap__check_object(&st, o);
}

static int named_prepare(const struct seg_open *op)
{
	return shmap__name_check(op->name, op->o->backend);
}

static int named_new(struct seg_open *op)
{
	/* SHMAP__MODE_NEW marks the empty object as ours until the build
	 * writes its mark. */
	/* Where the build may be unable to fchmod() the object (macOS shm),
	 * it is created with its final mode bits. */
	const mode_t bits = size_once(op->o->backend) ? (mode_t)op->o->mode : (mode_t)(op->o->mode & 0600u);
	op->fd = shmap__open_object(op->name, op->o, O_CREAT | O_EXCL, bits | SHMAP__MODE_NEW);
	if (op->fd >= 0)
		return SHMAP_OK;
	return errno == EEXIST ? SHMAP_E_EXIST : shmap__errno_code(errno);
}

static int named_existing(struct seg_open *op)
{
	op->fd = shmap__open_object(op->name, op->o, 0, 0);
	if (op->fd < 0)
		return errno == EINVAL ? SHMAP_E_ACCESS : shmap__errno_code(errno);
	return check_opened(op->fd, op->o);
}

static int memfd_new_prepare(const struct seg_open *op)
{
	if (!op->may_create)
		return SHMAP_E_INVAL;
	return shmap__name_check(op->name ? op->name : "shmap", SHMAP_BACKEND_MEMFD);
}

static int memfd_new(struct seg_open *op)
{
	/* memfd_create on Linux; an unlinked shm object elsewhere */
	int mfd = shmap__plat_anon_create(op->name ? op->name : "shmap",
					  (op->o->flags & SHMAP_OPT_HUGEPAGES) != 0);
	if (mfd < 0)
		return errno == EINVAL || errno == ENOTSUP ? SHMAP_E_NOTSUP : shmap__errno_code(errno);
	/* Our locks live on a description of our own, not on the one we hand
	 * out: a peer holding the passed fd must not keep our liveness lock
	 * alive after we die. */
	op->seg->share_fd = mfd;
	op->fd = shmap__reopen_fd(mfd, O_RDWR);
	return op->fd < 0 ? shmap__errno_code(errno) : SHMAP_OK;
}

static int memfd_adopt_prepare(const struct seg_open *op)
{
	return op->may_open ? SHMAP_OK : SHMAP_E_INVAL;
}

/* A received memfd: open our own description of it (as above). */
static int memfd_adopt(struct seg_open *op)
{
	op->fd = shmap__reopen_fd(op->o->fd, O_RDWR);
	if (op->fd < 0)
		return shmap__errno_code(errno);
	return check_opened(op->fd, op->o);
}

static int memfd_adopt_verify(const struct seg_open *op)
{
	/* A memfd received from a peer must be sealed against shrinking, or
	 * that peer could truncate it under us (SIGBUS on our next access).
	 * Ours are sealed at build; refuse anything else. (A platform without
	 * seals reports every object sealed: the SIGBUS guard is the defence
	 * there, as for named segments.) */
	return shmap__plat_anon_sealed(op->fd) == 1 ? SHMAP_OK : SHMAP_E_ACCESS;
}

static const struct seg_backend named_backend = {
	.prepare = named_prepare,
	.new_object = named_new,
	.existing_object = named_existing,
	.named = true,
};

static const struct seg_backend memfd_new_backend = {
	.prepare = memfd_new_prepare,
	.new_object = memfd_new,
};

static const struct seg_backend memfd_adopt_backend = {
	.prepare = memfd_adopt_prepare,
	.existing_object = memfd_adopt,
	.verify_object = memfd_adopt_verify,
};

static const struct seg_backend *backend_of(const struct shmap_opts *o)
{
	if (o->backend != SHMAP_BACKEND_MEMFD)
		return &named_backend;
	return o->fd >= 0 ? &memfd_adopt_backend : &memfd_new_backend;
}

/* Where shmap__plat_shm_same() may write its probe into an object whose
 * builder lock we hold (macOS): a mutable header word nothing reads,
 * zeroed by the build that follows. */
#define SAME_SCRATCH ((off_t)offsetof(struct shmap__hdr, pad1))

/* Remove the name of an object we created, only if it still refers to it. */
static void cleanup_created(const struct seg_open *op)
{
	if (!op->be->named)
		return;
	struct stat a, b;
	int saved = errno;
	if (fstat(op->fd, &a) == 0) {
		int r;
		if (op->o->backend == SHMAP_BACKEND_SHM) {
			/* cannot tell: remove (as when the name cannot be looked at) */
			if (shmap__plat_shm_same(op->fd, op->name, SAME_SCRATCH) != 0)
				shm_unlink(op->name);
		} else {
			r = lstat(op->name, &b);
			if (r == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
				unlink(op->name);
		}
	}
	errno = saved;
}

/* ------------------------------------------------------------------ */
/* open: settle (created -> build / wait / take over -> ready)         */

static enum settle_state settle_fail(struct seg_open *op, int rc)
{
	op->rc = rc;
	return SETTLE_FAILED;
}

static enum settle_state settle_wait_then(struct seg_open *op, int rc_at_deadline, enum settle_state next)
{
	op->wait_rc = rc_at_deadline;
	op->after_wait = next;
	return SETTLE_WAIT;
}

static enum settle_state settle_obtain(struct seg_open *op)
{
	int rc = SHMAP_E_EXIST;
	op->we_created = op->made_object = false;
	if (op->may_create && op->be->new_object) {
		rc = op->be->new_object(op);
		if (rc == SHMAP_OK)
			op->we_created = op->made_object = true;
		else if (rc != SHMAP_E_EXIST || !op->may_open)
			return settle_fail(op, rc);
	}
	if (rc != SHMAP_OK) {
		rc = op->be->existing_object(op);
		if (rc == SHMAP_E_NOENT && op->may_create && op->be->new_object)
			return SETTLE_OBTAIN; /* removed meanwhile: try to create again */
		if (rc != SHMAP_OK)
			return settle_fail(op, rc);
	}
	int br = shmap__plat_live_bind(&op->seg->live, op->fd);
	if (br != 0) {
		errno = br;
		return settle_fail(op, shmap__errno_code(br));
	}
	if (op->we_created)
		op->seg->live.mode = op->o->mode; /* not yet the object's */
	SHMAP_FAILPOINT("seg.open.after_open");
	return op->we_created ? SETTLE_CREATED : SETTLE_PROBE;
}

/*
 * Build generation `gen` under the builder lock we hold, attach, and drop
 * the lock. A builder attaches before it drops the builder lock, so that at
 * no instant is a finished segment held by nobody: shmap_cleanup_stale()
 * treats a READY segment with no builder and no participant lock as unused.
 */
static enum settle_state build_locked(struct seg_open *op, uint64_t gen)
{
	int rc = build(op->seg, op->fd, op->want, op->ops, op->o, gen);
	if (rc == SHMAP_OK) {
		op->seg->fd = op->fd;
		rc = attach_participant(op->seg);
	} else if (op->we_created) {
		/* On failure remove the name BEFORE dropping the lock: a waiter
		 * that then gets the lock must find the object unlinked, not
		 * build a segment nobody can open. */
		cleanup_created(op);
	}
	shmap__plat_live_unlock(&op->seg->live, SHMAP__LIVE_BUILDER);
	if (rc != SHMAP_OK)
		return settle_fail(op, rc);
	op->seg->created = true;
	return SETTLE_DONE;
}

static enum settle_state settle_created(struct seg_open *op)
{
	/* We made the name: build, unless a racer already took over. */
	int lr = shmap__plat_live_trylock(&op->seg->live, SHMAP__LIVE_BUILDER);
	struct stat cst;
	if (lr == 0 && fstat(op->fd, &cst) == 0 && cst.st_size != 0) {
		/* Between our O_EXCL create and this lock, an opener saw an
		 * empty file with a free lock, took over and built (or began
		 * to): never build over it. */
		shmap__plat_live_unlock(&op->seg->live, SHMAP__LIVE_BUILDER);
		lr = EAGAIN;
	}
	if (lr == 0) {
		SHMAP_FAILPOINT("seg.create.locked");
		return build_locked(op, 1);
	}
	if (lr != EAGAIN) {
		/* Cannot lock (a squatted lock file): the name we made goes. */
		errno = lr;
		cleanup_created(op);
		return settle_fail(op, shmap__errno_code(lr));
	}
	op->we_created = false; /* another process is building it */
	return SETTLE_PROBE;
}

/* SETTLE_WAIT's code at the deadline, after a probe that found no READY. */
static int wait_code(enum probe_result pr)
{
	return pr == PR_WAIT_BUILDER ? SHMAP_E_TIMEOUT : pr == PR_WAIT_EMPTY ? SHMAP_E_BADMAGIC : SHMAP_E_NOTREADY;
}

static enum settle_state settle_probe(struct seg_open *op)
{
	int rc = SHMAP_E_SYS;
	enum probe_result pr = probe_object(op->fd, &op->seg->live, &op->hdr, &op->st_size, &rc);
	if (pr == PR_ERROR)
		return settle_fail(op, rc);
	if (pr == PR_READY)
		return SETTLE_READY;
	if (pr == PR_BUILDER_GONE && op->may_create)
		return SETTLE_TAKEOVER;
	if (pr == PR_BUILDER_GONE && op->st_size != 0)
		return settle_fail(op, SHMAP_E_NOTREADY); /* open-only: the builder died */
	return settle_wait_then(op, wait_code(pr), SETTLE_PROBE);
}

/* Has the name of the object we hold been removed? Files and Linux's shm
 * files say so in st_nlink; other shm objects are looked up again, without
 * writing anything (`probe` false: on macOS alike objects pass) or, once
 * the object is known to be an unfinished segment of ours, with the probe
 * word of shmap__plat_shm_same() (`probe` true). */
static bool name_gone(const struct seg_open *op, bool probe)
{
	if (SHMAP_PLAT_SHM_FILES || op->o->backend == SHMAP_BACKEND_FILE) {
		struct stat lst;
		return !probe && fstat(op->fd, &lst) == 0 && lst.st_nlink == 0;
	}
	return shmap__plat_shm_same(op->fd, op->name, probe ? SAME_SCRATCH : (off_t)-1) == 0;
}

/* The name is gone (a failed creator removed it, or stale cleanup did):
 * building here would make a segment nobody can find. Start again from the
 * name, within the same deadline. */
static enum settle_state takeover_restart(struct seg_open *op)
{
	shmap__plat_live_unlock(&op->seg->live, SHMAP__LIVE_BUILDER);
	close(op->fd);
	op->fd = -1;
	return settle_wait_then(op, SHMAP_E_NOTREADY, SETTLE_OBTAIN);
}

static enum settle_state settle_takeover(struct seg_open *op)
{
	/* Take over: the lock is free, so the builder is dead (or has not
	 * started); whoever gets the lock builds. */
	int lr = shmap__plat_live_trylock(&op->seg->live, SHMAP__LIVE_BUILDER);
	if (lr == EAGAIN) /* someone else took over; wait for them */
		return settle_wait_then(op, SHMAP_E_NOTREADY, SETTLE_PROBE);
	if (lr != 0) {
		errno = lr;
		return settle_fail(op, shmap__errno_code(lr));
	}
	SHMAP_FAILPOINT("seg.takeover.locked");
	if (op->be->named && name_gone(op, false))
		return takeover_restart(op);
	int rc = SHMAP_E_SYS;
	enum probe_result pr = probe_object(op->fd, &op->seg->live, &op->hdr, &op->st_size, &rc);
	/* Where fstat() gives no identity (macOS), the word that tells two
	 * alike objects apart is written only into an object just probed as
	 * an unfinished segment, never into one that may not be ours. */
	if (!SHMAP_PLAT_SHM_FILES && op->be->named && pr == PR_BUILDER_GONE && name_gone(op, true))
		return takeover_restart(op);
	if (pr == PR_READY || pr == PR_WAIT_EMPTY || pr == PR_ERROR) {
		shmap__plat_live_unlock(&op->seg->live, SHMAP__LIVE_BUILDER);
		if (pr == PR_READY)
			return SETTLE_PROBE; /* finished just before we locked */
		if (pr == PR_WAIT_EMPTY)
			/* Lost its mark between our probes (a racer's build
			 * failed and truncated?): not ours now. */
			return settle_wait_then(op, SHMAP_E_BADMAGIC, SETTLE_PROBE);
		/* Garbage in a segment nobody finished (or a failure to look):
		 * refuse, never overwrite what may not be ours. */
		return settle_fail(op, rc);
	}
	/* A dead builder that got as far as sizing the file was building
	 * generation 1 even if it never wrote the state word: a rebuild
	 * always gets a higher generation. */
	bool recovered = op->hdr.state != 0 || op->st_size != 0;
	/* An object we made and nobody began to build is ours to build as its
	 * creator, whatever made us wait first: where a liveness probe takes
	 * the lock for an instant (lock files: flock has no test), our own
	 * first trylock may have met a prober, not a builder. A failed build
	 * then removes the name as the creator's does (build_locked()), rather
	 * than leaving a half-built object for the next opener to recover. */
	if (!recovered && op->made_object)
		op->we_created = true;
	uint64_t gen = (op->hdr.state >> 8) + 1;
	if (recovered && gen < 2)
		gen = 2;
	enum settle_state next = build_locked(op, gen);
	op->seg->recovered_build = next == SETTLE_DONE && recovered;
	return next;
}

static enum settle_state settle_ready(struct seg_open *op)
{
	int rc = attach_existing(op->seg, op->fd, &op->hdr, op->st_size, op->want, op->ops, op->o);
	return rc == SHMAP_OK ? SETTLE_DONE : settle_fail(op, rc);
}

static enum settle_state settle_wait(struct seg_open *op)
{
	if (shmap__backoff_wait(&op->bo, op->deadline) != SHMAP_OK)
		return settle_fail(op, op->wait_rc);
	return op->after_wait;
}

/*
 * From no descriptor to a mapped, validated segment: created -> build (we
 * made the object), or wait (someone builds it) / take over (its builder
 * died) -> ready. Each state's step returns the next state.
 */
static int settle(struct seg_open *op)
{
	enum settle_state s = SETTLE_OBTAIN;
	for (;;) {
		switch (s) {
		case SETTLE_OBTAIN: s = settle_obtain(op); break;
		case SETTLE_CREATED: s = settle_created(op); break;
		case SETTLE_PROBE: s = settle_probe(op); break;
		case SETTLE_TAKEOVER: s = settle_takeover(op); break;
		case SETTLE_WAIT: s = settle_wait(op); break;
		case SETTLE_READY: s = settle_ready(op); break;
		case SETTLE_DONE: return SHMAP_OK;
		case SETTLE_FAILED: return op->rc;
		}
	}
}

/* ------------------------------------------------------------------ */
/* open and wait (SHMAP_OPEN_WAIT)                                     */

/*
 * Waiting for a name to appear: a watch (the platform layer's: inotify on
 * Linux) on the directory that will hold it (the shm directory, /dev/shm on
 * Linux, for shm; the path's directory for files), set up before the first
 * attempt so that no creation can fall between an attempt and the wait.
 * Where no watch is possible (no inotify instance left, directory missing,
 * no shm directory, a platform without inotify) the wait is a bounded
 * back-off: sleeps from 1 ms doubling to 64 ms. Even with a watch, one wait
 * never sleeps more than 200 ms before trying again, so a missed event
 * costs latency, never the whole timeout.
 */
struct appear_watch {
	int fd;              /* watch descriptor (platform layer), or -1: back-off */
	const char *base;    /* last path component, matched against events */
	uint32_t sleep_ms;   /* next back-off sleep */
};

static void appear_watch_init(struct appear_watch *w, const char *name, uint32_t backend)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(name, '/');
	w->sleep_ms = 1;
	w->base = slash ? slash + 1 : name;
	if (backend == SHMAP_BACKEND_SHM) {
		const char *shm = shmap__plat_shm_dir();
		if (!shm) {
			w->fd = -1; /* shm names are not files here: back-off */
			return;
		}
		snprintf(dir, sizeof(dir), "%s", shm);
	} else if (!slash) {
		snprintf(dir, sizeof(dir), ".");
	} else if (slash == name) {
		snprintf(dir, sizeof(dir), "/");
	} else if ((size_t)(slash - name) < sizeof(dir)) {
		memcpy(dir, name, (size_t)(slash - name));
		dir[slash - name] = '\0';
	} else {
		w->fd = -1;
		return;
	}
	int saved = errno;
	w->fd = shmap__plat_watch_open(dir); /* inotify on Linux; -1: back-off */
	errno = saved;
}

/* Sleep until our name may have appeared, or the deadline, or 200 ms. */
static void appear_watch_wait(struct appear_watch *w, uint64_t deadline)
{
	uint64_t now = shmap__now_ns();
	if (now >= deadline)
		return;
	uint64_t left_ms = (deadline - now + 999999u) / 1000000u;
	if (w->fd < 0) {
		uint64_t ms = w->sleep_ms < left_ms ? w->sleep_ms : left_ms;
		if (w->sleep_ms < 64)
			w->sleep_ms *= 2;
		struct timespec ts = { .tv_sec = (time_t)(ms / 1000u),
				       .tv_nsec = (long)(ms % 1000u) * 1000000L };
		nanosleep(&ts, NULL);
		return;
	}
	const int cap_ms = 200;
	int saved = errno;
	for (;;) {
		now = shmap__now_ns();
		if (now >= deadline)
			break;
		left_ms = (deadline - now + 999999u) / 1000000u;
		/* try again on our name, a lost event, a change of the directory
		 * itself, the cap, or an error; keep waiting on other names */
		if (shmap__plat_watch_wait(w->fd, w->base,
					   left_ms < (uint64_t)cap_ms ? (int)left_ms : cap_ms))
			break;
	}
	errno = saved;
}

/*
 * SHMAP_OPEN | SHMAP_OPEN_WAIT: SHMAP_OPEN attempts until the name exists,
 * all within one deadline (the options' timeout); each attempt gets the time
 * left, so a segment that appears but is still being built is waited for by
 * the ordinary open. A memfd has no name to wait for: the descriptor in hand
 * already is the segment, so the flag means SHMAP_OPEN there.
 */
static int seg_open_wait(const char *name, uint32_t oflags, const struct shmap__params *want,
			 const struct shmap__kind_ops *ops, const struct shmap_opts *opts,
			 struct shmap__seg *seg)
{
	if (oflags != (SHMAP_OPEN | SHMAP_OPEN_WAIT))
		return SHMAP_E_INVAL;
	struct shmap_opts o;
	if (opts)
		o = *opts;
	else
		shmap__opts_defaults(&o);
	if (o.backend == SHMAP_BACKEND_MEMFD)
		return shmap__seg_open(name, SHMAP_OPEN, want, ops, &o, seg);
	int rc = shmap__name_check(name, o.backend);
	if (rc != SHMAP_OK)
		return rc;
	const uint64_t deadline = shmap__now_ns() + (uint64_t)o.timeout_ms * 1000000u;
	struct appear_watch w;
	appear_watch_init(&w, name, o.backend);
	for (;;) {
		uint64_t now = shmap__now_ns();
		uint64_t left = deadline > now ? deadline - now : 0;
		o.timeout_ms = (uint32_t)((left + 999999u) / 1000000u);
		rc = shmap__seg_open(name, SHMAP_OPEN, want, ops, &o, seg);
		if (rc != SHMAP_E_NOENT)
			break;
		if (shmap__now_ns() >= deadline) {
			rc = SHMAP_E_TIMEOUT;
			break;
		}
		appear_watch_wait(&w, deadline);
	}
	if (w.fd >= 0) {
		int e = errno;
		close(w.fd);
		errno = e;
	}
	return rc;
}

/* The name and the parameters, before anything is touched. */
static int seg_open_args(const struct seg_open *op)
{
	int rc = op->be->prepare(op);
	if (rc != SHMAP_OK || !op->may_create || !op->be->new_object)
		return rc;
	/* Validate the caller's parameters before touching anything. */
	struct shmap__params chk = *op->want;
	chk.nparts = op->o->max_procs;
	return op->ops->layout(&chk);
}

/* Take a participant slot in the mapped segment (a builder has one already). */
static int seg_open_attach(struct seg_open *op)
{
	struct shmap__seg *seg = op->seg;
	if (!seg->created && op->be->verify_object) {
		int rc = op->be->verify_object(op);
		if (rc != SHMAP_OK)
			return rc;
	}
	seg->fd = op->fd;
	int rc = seg->owner ? SHMAP_OK : attach_participant(seg);
	if (rc == SHMAP_OK && shmap__seg_poison(seg)) {
		/* A peer shrank the file while we built or validated it. */
		detach_participant(seg);
		rc = SHMAP_E_PEERFAULT;
	}
	return rc;
}

/*
 * Lock files: may the lock set of a segment we leave be removed (if nobody
 * else is joined)? Yes for an anonymous segment, and for a named one whose
 * name is gone. (OFD locks: nothing to remove, no system call. Where shm
 * objects are not files, the name is opened again: a few system calls.)
 */
static bool live_orphan(const struct shmap__seg *seg, int fd)
{
	if (SHMAP_PLAT_OFD_LOCKS || seg->live.set_fd < 0)
		return false;
	if (seg->backend == SHMAP_BACKEND_MEMFD)
		return true;
	if (fd < 0)
		return false;
	if (SHMAP_PLAT_SHM_FILES || seg->backend == SHMAP_BACKEND_FILE) {
		struct stat st;
		return fstat(fd, &st) == 0 && st.st_nlink == 0;
	}
	/* Other shm objects: st_nlink counts no names (0 on macOS, the
	 * references on FreeBSD); the name is looked up again, writing
	 * nothing. "Cannot tell" (-1) keeps the set. */
	if (!seg->name)
		return false;
	const int same = shmap__plat_shm_same(fd, seg->name, (off_t)-1);
	if (same != 1)
		return same == 0;
	/* Alike objects pass as one on macOS (no identity in fstat): the
	 * header the name leads to tells, by the lock set it names (drawn at
	 * random by each build; 0 while one is at work: cannot tell). */
	int nfd = shmap__plat_shm_open(seg->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
	if (nfd < 0)
		return errno == ENOENT;
	uint64_t other = 0;
	const ssize_t n = shmap__plat_obj_pread(nfd, &other, sizeof(other),
						(off_t)offsetof(struct shmap__hdr, reserved[0]));
	close(nfd);
	return n == (ssize_t)sizeof(other) && other != 0 && other != seg->live.id;
}

int shmap__seg_open(const char *name, uint32_t oflags, const struct shmap__params *want,
		    const struct shmap__kind_ops *ops, const struct shmap_opts *opts,
		    struct shmap__seg *seg)
{
	if (oflags & SHMAP_OPEN_WAIT)
		return seg_open_wait(name, oflags, want, ops, opts, seg);
	struct shmap_opts defaults;
	if (!opts) {
		shmap__opts_defaults(&defaults);
		opts = &defaults;
	}
	if (!want || !ops || !seg || oflags == 0 || (oflags & ~SHMAP_OPEN_OR_CREATE) ||
	    !ops->layout || want->kind != ops->kind)
		return SHMAP_E_INVAL;
	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
	seg->share_fd = -1;
	seg->backend = opts->backend;
	struct seg_open op = { .name = name, .want = want, .ops = ops, .o = opts, .seg = seg,
			       .be = backend_of(opts), .fd = -1,
			       .may_create = (oflags & SHMAP_CREATE) != 0,
			       .may_open = (oflags & SHMAP_OPEN) != 0 };
	int rc = seg_open_args(&op);
	if (rc != SHMAP_OK)
		return rc;
	if (op.be->named) {
		seg->name = strdup(name);
		if (!seg->name)
			return SHMAP_E_NOMEM;
	}
	shmap__plat_live_init(&seg->live, opts->backend, seg->name, opts->mode);
	op.deadline = shmap__now_ns() + (uint64_t)opts->timeout_ms * 1000000u;
	shmap__backoff_init(&op.bo);
	struct open_pending pend = { .fd = &op.fd, .seg = seg };
	pthread_once(&atfork_once, register_atfork);
	pending_add(&pend);

	rc = settle(&op);
	if (rc == SHMAP_OK)
		rc = seg_open_attach(&op);
	pending_del(&pend);
	if (rc != SHMAP_OK) {
		/* The one way out of a failed open: errno kept for the caller. */
		int e = errno;
		if (seg->share_fd >= 0)
			close(seg->share_fd);
		unmap_segment(seg);
		shmap__plat_live_close(&seg->live, live_orphan(seg, op.fd));
		if (op.fd >= 0)
			close(op.fd);
		free(seg->name);
		memset(seg, 0, sizeof(*seg));
		seg->fd = -1;
		seg->share_fd = -1;
		errno = e;
		return rc;
	}
	seg->fd_fork_gen = shmap__fork_counter;
	seg_list_add(seg);
	return seg->recovered_build ? SHMAP_RECOVERED : SHMAP_OK;
}

void shmap__seg_close(struct shmap__seg *seg)
{
	if (!seg || !seg->base)
		return; /* never opened, or already closed */
	seg_list_del(seg);
	if (seg->base && seg->fork_gen == shmap__fork_counter)
		detach_participant(seg);
	unmap_segment(seg);
	shmap__plat_live_close(&seg->live, live_orphan(seg, seg->fd));
	if (seg->fd >= 0)
		close(seg->fd);
	if (seg->share_fd >= 0)
		close(seg->share_fd);
	free(seg->name);
	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
	seg->share_fd = -1;
}

int shmap__seg_reattach(struct shmap__seg *seg)
{
	if (!seg || !seg->base)
		return SHMAP_E_INVAL;
	if (seg->fork_gen == shmap__fork_counter)
		return SHMAP_OK; /* not forked: nothing to do */
	/* The fork handler normally gave us our own description already; if
	 * it could not, do it now (see seg_private_fd). */
	if (seg->fd_fork_gen != shmap__fork_counter) {
		int rc = seg_private_fd(seg);
		if (rc != SHMAP_OK)
			return rc;
	}
	seg->owner = 0;
	return attach_participant(seg);
}

SHMAP_API int shmap_unlink(const char *name, const shmap_opts *opts)
{
	uint32_t backend = opts ? opts->backend : SHMAP_BACKEND_SHM;
	if (backend == SHMAP_BACKEND_MEMFD)
		return SHMAP_E_INVAL;
	int rc = shmap__name_check(name, backend);
	if (rc != SHMAP_OK)
		return rc;
	/* Lock files: the segment's owner owns its lock directories. */
	uint32_t uid = (uint32_t)-1;
	if (!SHMAP_PLAT_OFD_LOCKS) {
		int fd = backend == SHMAP_BACKEND_SHM
				 ? shmap__plat_shm_open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0)
				 : open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		struct stat st;
		uid = fd >= 0 && fstat(fd, &st) == 0 ? (uint32_t)st.st_uid : (uint32_t)geteuid();
		if (fd >= 0)
			close(fd);
	}
	int r = backend == SHMAP_BACKEND_SHM ? shm_unlink(name) : unlink(name);
	if (r != 0)
		return shmap__errno_code(errno);
	/* After the name: an opener that finds the lock directory gone has
	 * an unlinked segment, or opens a new one. */
	if (!SHMAP_PLAT_OFD_LOCKS)
		shmap__plat_live_unlinked(backend, name, uid);
	return SHMAP_OK;
}
