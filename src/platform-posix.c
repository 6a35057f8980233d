/* SPDX-License-Identifier: MIT */
/*
 * platform-posix.c - the platform layer's portable fallbacks (see
 * platform-internal.h): each is compiled when its Linux facility is absent
 * or forced off by the `portable` meson option (SHMAP_PLAT_* = 0).
 *
 * The fallbacks use POSIX only, and are the ones run on Linux by
 * scripts/test-portable.sh. The blocks under SHMAP_PLAT_UMTX (FreeBSD
 * _umtx_op) and SHMAP_PLAT_OS_SYNC (macOS 14.4 os_sync_wait_on_address) are
 * written from those systems' manuals and have never been compiled or run
 * by shmap's tests: no FreeBSD or macOS machine is part of them yet.
 */
#include "platform-config.h" /* first: it selects the OS headers below */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if SHMAP_PLAT_UMTX
#include <sys/types.h>
#include <sys/umtx.h>
#endif
#if SHMAP_PLAT_OS_SYNC
#include <os/os_sync_wait_on_address.h>
#endif
#if SHMAP_PLAT_BSD_MEMBARRIER
#include <sys/membarrier.h>
#endif

#include <shmap/status.h>

#include "internal.h"
#include "platform-internal.h"
#include "segment-internal.h" /* the SIGBUS guard */

/* ---------------------------------------------------------------- waits */

#if !SHMAP_PLAT_FUTEX && SHMAP_PLAT_UMTX
/* FreeBSD (untested): UMTX_OP_WAIT_UINT is the process-shared variant (the
 * _PRIVATE one is not), with an absolute CLOCK_MONOTONIC deadline. */
int shmap__futex_wait(volatile uint32_t *addr, uint32_t val, uint64_t deadline_ns)
{
	if (shmap__now_ns() >= deadline_ns)
		return SHMAP_E_TIMEOUT;
	struct _umtx_time ut;
	memset(&ut, 0, sizeof(ut));
	ut._timeout.tv_sec = (time_t)(deadline_ns / 1000000000u);
	ut._timeout.tv_nsec = (long)(deadline_ns % 1000000000u);
	ut._flags = UMTX_ABSTIME;
	ut._clockid = CLOCK_MONOTONIC;
	int r = _umtx_op((void *)(uintptr_t)addr, UMTX_OP_WAIT_UINT, val, (void *)sizeof(ut), &ut);
	if (r != 0 && errno == ETIMEDOUT)
		return SHMAP_E_TIMEOUT;
	return SHMAP_OK;
}

int shmap__futex_wake(volatile uint32_t *addr, int n)
{
	(void)_umtx_op((void *)(uintptr_t)addr, UMTX_OP_WAKE, n, NULL, NULL);
	return 0; /* the call does not say how many it woke */
}
#elif !SHMAP_PLAT_FUTEX && SHMAP_PLAT_OS_SYNC
/* macOS 14.4+ (untested): the shared flag makes the wait cross-process;
 * the timeout is relative, in nanoseconds of the given clock. */
int shmap__futex_wait(volatile uint32_t *addr, uint32_t val, uint64_t deadline_ns)
{
	uint64_t now = shmap__now_ns();
	if (now >= deadline_ns)
		return SHMAP_E_TIMEOUT;
	int r = os_sync_wait_on_address_with_timeout((void *)(uintptr_t)addr, val, 4,
						     OS_SYNC_WAIT_ON_ADDRESS_SHARED,
						     OS_CLOCK_MACH_ABSOLUTE_TIME, deadline_ns - now);
	if (r < 0 && errno == ETIMEDOUT)
		return SHMAP_E_TIMEOUT;
	return SHMAP_OK;
}

int shmap__futex_wake(volatile uint32_t *addr, int n)
{
	if (n == 1)
		(void)os_sync_wake_by_address_any((void *)(uintptr_t)addr, 4,
						  OS_SYNC_WAKE_BY_ADDRESS_SHARED);
	else
		(void)os_sync_wake_by_address_all((void *)(uintptr_t)addr, 4,
						  OS_SYNC_WAKE_BY_ADDRESS_SHARED);
	return 0;
}
#elif !SHMAP_PLAT_FUTEX
/*
 * Bounded polling. Callers have spun and yielded already (the rings' wait
 * loop does both before it sleeps), so the poller only sleeps: from 50 us,
 * doubling, to 1 ms for the first POLL_FAST_NS of a wait (a change is seen
 * within about a millisecond), then POLL_SLOW_NS between reads (seen within
 * that; an idle waiter wakes about 125 times a second, not 1000). The
 * deadline is kept to the same precision. Nothing has to wake a poller.
 */
#define POLL_FIRST_NS (50u * 1000u)
#define POLL_FAST_CAP_NS (1000u * 1000u)
#define POLL_FAST_NS (10u * 1000000u)
#define POLL_SLOW_NS (8u * 1000000u)

int shmap__futex_wait(volatile uint32_t *addr, uint32_t val, uint64_t deadline_ns)
{
	const uint64_t start = shmap__now_ns();
	uint64_t step = POLL_FIRST_NS;
	for (;;) {
		/* acquire: what the waker stored before changing the word is
		 * visible on return, as after a futex wait (the caller re-checks
		 * its condition in shared memory either way) */
		if (__atomic_load_n(addr, __ATOMIC_ACQUIRE) != val)
			return SHMAP_OK;
		uint64_t now = shmap__now_ns();
		if (now >= deadline_ns)
			return SHMAP_E_TIMEOUT;
		uint64_t ns = now - start < POLL_FAST_NS ? step : POLL_SLOW_NS;
		if (step < POLL_FAST_CAP_NS)
			step *= 2;
		if (ns > deadline_ns - now)
			ns = deadline_ns - now;
		struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
				       .tv_nsec = (long)(ns % 1000000000u) };
		nanosleep(&ts, NULL);
	}
}

int shmap__futex_wake(volatile uint32_t *addr, int n)
{
	(void)addr;
	(void)n;
	return 0;
}
#endif

/* -------------------------------------------------------- heavy barrier */

#if !SHMAP_PLAT_MEMBARRIER && SHMAP_PLAT_BSD_MEMBARRIER
/* FreeBSD 14.1+ (untested): membarrier(2) with the Linux commands. */
int shmap__plat_heavy_barrier_register(void)
{
	int q = membarrier(MEMBARRIER_CMD_QUERY, 0, 0);
	if (q < 0 || !(q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) ||
	    !(q & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) ||
	    membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) != 0)
		return -1;
	return 0;
}

int shmap__plat_heavy_barrier(void)
{
	return membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 ? 0 : -1;
}
#elif !SHMAP_PLAT_MEMBARRIER
/* No heavy barrier: the rings run in their strong-fence mode (every waker
 * fences; ring-internal.h). */
int shmap__plat_heavy_barrier_register(void)
{
	return -1;
}

int shmap__plat_heavy_barrier(void)
{
	return -1;
}
#endif

/* -------------------------------------------------- anonymous segments */

#if !SHMAP_PLAT_MEMFD
int shmap__plat_anon_create(const char *label, bool huge)
{
	(void)label; /* a shm name is gone at once: nobody would see the label */
	if (huge) {
		errno = ENOTSUP;
		return -1;
	}
	/* "/shmap-" + 16 hex digits: 23 bytes, within macOS's 31. */
	for (int attempt = 0; attempt < 16; attempt++) {
		uint64_t r = 0;
		if (shmap__plat_random(&r, sizeof(r)) != sizeof(r))
			r ^= shmap__now_ns() * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid() << 32;
		char name[32];
		snprintf(name, sizeof(name), "/shmap-%016llx", (unsigned long long)r);
		int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0) {
			if (errno == EEXIST || errno == EINTR)
				continue;
			return -1;
		}
		/* The name existed only between these two calls; it was random
		 * and created exclusively, so the unlink removes our object. */
		(void)shm_unlink(name);
		int fl = fcntl(fd, F_GETFD);
		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) != 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		return fd;
	}
	errno = EEXIST;
	return -1;
}

int shmap__plat_anon_seal(int fd)
{
	(void)fd;
	return 0;
}

int shmap__plat_anon_sealed(int fd)
{
	(void)fd;
	return 1;
}
#endif

#if !SHMAP_PLAT_PROC
int shmap__plat_reopen_fd(int fd, int flags)
{
	/* No portable way to open a new description of an unnamed object. */
	(void)fd;
	(void)flags;
	errno = ENOSYS;
	return -1;
}

uint64_t shmap__plat_start_time(void)
{
	return 0; /* unknown (informational only: shmap_info) */
}

#endif

#if !SHMAP_PLAT_INOTIFY
int shmap__plat_watch_open(const char *dir)
{
	(void)dir;
	return -1; /* open-and-wait polls with back-off */
}

int shmap__plat_watch_wait(int wfd, const char *base, int timeout_ms)
{
	(void)wfd;
	(void)base;
	(void)timeout_ms;
	return 1;
}
#endif

/* ------------------------------------------------------- backing objects */

int shmap__plat_shm_open(const char *name, int flags, mode_t mode)
{
#ifdef __FreeBSD__
	flags &= ~(O_NOFOLLOW | O_NONBLOCK); /* see platform-internal.h */
#endif
	int fd = shm_open(name, flags, mode);
#if !SHMAP_PLAT_SHM_FILES
	/* FreeBSD's answer to these flags, met where we do not know it (the
	 * freebsd personality of tests/shim proves this path on Linux). */
	if (fd < 0 && errno == EINVAL && (flags & (O_NOFOLLOW | O_NONBLOCK)))
		fd = shm_open(name, flags & ~(O_NOFOLLOW | O_NONBLOCK), mode);
#endif
	return fd;
}

#if !SHMAP_PLAT_SHM_FILES
/* Store v at off of fd's object through a guarded shared mapping: 0, or -1
 * when it cannot be mapped or the object shrank under us. */
static int obj_poke(int fd, off_t off, uint64_t v)
{
	const off_t page = (off_t)shmap__plat_page_size();
	const off_t start = off - off % page;
	const size_t span = (size_t)(off - start) + sizeof(v);
	void *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, start);
	if (m == MAP_FAILED)
		return -1;
	uint32_t poison = 0;
	const int gid = shmap__guard_register(m, span, &poison);
	if (gid < 0) {
		munmap(m, span);
		return -1;
	}
	/* relaxed: read back through the other descriptor's mapping by this
	 * thread only, after munmap (a system call orders it) */
	__atomic_store_n((uint64_t *)(void *)((uint8_t *)m + (off - start)), v, __ATOMIC_RELAXED);
	shmap__guard_unregister(gid);
	munmap(m, span);
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* pairs with the guard's handler */
	return __atomic_load_n(&poison, __ATOMIC_RELAXED) ? -1 : 0;
}

int shmap__plat_shm_same(int fd, const char *name, off_t scratch)
{
	int fd2;
	do {
		fd2 = shmap__plat_shm_open(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
	} while (fd2 < 0 && errno == EINTR);
	if (fd2 < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat a, b;
	int r = -1;
	if (fstat(fd, &a) == 0 && fstat(fd2, &b) == 0) {
		if (a.st_ino != 0 || b.st_ino != 0) {
			r = a.st_ino == b.st_ino && a.st_dev == b.st_dev;
		} else if (a.st_size != b.st_size || a.st_mode != b.st_mode || a.st_uid != b.st_uid) {
			r = 0; /* macOS: no identity in fstat; these differ */
		} else if (scratch >= 0 && scratch + 8 <= a.st_size) {
			/* Alike: a random word stored through ours must be read
			 * back through the name's, or they are two objects. */
			uint64_t nonce = 0, back = 0;
			if (shmap__plat_random(&nonce, sizeof(nonce)) != sizeof(nonce))
				nonce = shmap__now_ns() ^ (uint64_t)getpid() << 40;
			nonce |= 1; /* never the zero of a fresh object */
			r = -1;
			if (obj_poke(fd, scratch, nonce) == 0 &&
			    shmap__plat_obj_pread(fd2, &back, sizeof(back), scratch) == (ssize_t)sizeof(back))
				r = back == nonce;
		} else {
			r = 1; /* both empty and alike: taken as ours (documented) */
		}
	}
	int e = errno;
	close(fd2);
	errno = e;
	return r;
}

const char *shmap__plat_shm_dir(void)
{
	return NULL; /* shm names are not files in a directory */
}

/*
 * Objects that refuse pread() (macOS shm): map the pages holding the range
 * read-only, copy under the SIGBUS guard, unmap. A mapping never extends
 * the object, and macOS refuses one past the object's end: the range is cut
 * to the size fstat() reports first.
 */
ssize_t shmap__plat_obj_pread(int fd, void *buf, size_t len, off_t off)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -1;
	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	if (off >= st.st_size || len == 0)
		return 0;
	if ((uint64_t)len > (uint64_t)(st.st_size - off))
		len = (size_t)(st.st_size - off);
	const off_t page = (off_t)shmap__plat_page_size();
	const off_t start = off - off % page;
	const size_t span = (size_t)(off - start) + len;
	void *m = mmap(NULL, span, PROT_READ, MAP_SHARED, fd, start);
	if (m == MAP_FAILED)
		return -1;
	uint32_t poison = 0;
	const int gid = shmap__guard_register(m, span, &poison);
	if (gid < 0) {
		munmap(m, span);
		errno = ENOMEM;
		return -1;
	}
	memcpy(buf, (const uint8_t *)m + (off - start), len);
	shmap__guard_unregister(gid);
	munmap(m, span);
	/* The guard's handler may have run in this thread during the copy
	 * (the fence pairs with its store of the poison word). */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&poison, __ATOMIC_RELAXED))
		return 0; /* the object shrank under us: nothing reliable was read */
	return (ssize_t)len;
}
#endif

/* ------------------------------------------------- space and randomness */

#if !SHMAP_PLAT_FALLOCATE
/*
 * Extend the file with ftruncate() where the range passes its end (not with
 * keep_size: ERANGE then), then touch the range: one zero byte written at the
 * end of each page makes the store allocate it now (a full tmpfs answers
 * ENOSPC here instead of SIGBUS at first use). The range holds only zeros
 * (platform-internal.h), so the writes change no byte (a build's mark, in the
 * first bytes of a file, is never a page's last). With keep_size the size is
 * read again afterwards: a peer's shrink during the loop shows as a smaller
 * size, because a write past the moved end re-extends the file only to that
 * byte, and the object's own last byte is never the one written (the one
 * before it is). An object that cannot be written with pwrite() (macOS shm)
 * is left sparse: EOPNOTSUPP.
 */
int shmap__plat_reserve(int fd, off_t off, off_t len, bool keep_size)
{
	if (len <= 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return errno;
	const off_t end = off + len, size = st.st_size;
	if (end > size) {
		if (keep_size)
			return ERANGE; /* shrunk by a peer: not ours to heal */
		if (ftruncate(fd, end) != 0)
			return errno;
	}
	const off_t page = (off_t)shmap__plat_page_size();
	const uint8_t zero = 0;
	for (off_t p = off - off % page; p < end; p += page) {
		off_t at = p + page - 1 < end ? p + page - 1 : end - 1;
		if (keep_size && at == size - 1 && at > p)
			at--;
		if (at < off)
			at = off;
		ssize_t w;
		do {
			w = pwrite(fd, &zero, 1, at);
		} while (w < 0 && errno == EINTR);
		if (w == 1)
			continue;
		if (w < 0 && (errno == ENOSPC || errno == EFBIG || errno == ENOMEM || errno == EDQUOT))
			return errno;
		return EOPNOTSUPP; /* cannot touch this object: sparse */
	}
	if (keep_size && (fstat(fd, &st) != 0 || st.st_size < size))
		return ERANGE;
	return 0;
}
#endif

#if !SHMAP_PLAT_GETRANDOM
size_t shmap__plat_random(void *buf, size_t len)
{
#if SHMAP_PLAT_ARC4RANDOM
	arc4random_buf(buf, len);
	return len;
#else
	uint8_t *p = buf;
	size_t got = 0;
	int fd;
	do {
		fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return 0;
	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return got;
#endif
}
#endif

/* ------------------------------------------------------------- mapping */

size_t shmap__plat_page_size(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	return pg > 0 ? (size_t)pg : 4096u;
}

#if !SHMAP_PLAT_MAP_FLAGS
int shmap__plat_map_flags(bool prefault)
{
	(void)prefault;
	return 0;
}

int shmap__plat_map_noreserve(void)
{
	return 0;
}

void shmap__plat_advise_huge(void *addr, size_t len)
{
	(void)addr;
	(void)len;
}

void shmap__plat_prefault(const void *addr, size_t len)
{
	const size_t pg = shmap__plat_page_size();
	const volatile uint8_t *p = addr;
	for (size_t off = 0; off < len; off += pg)
		(void)p[off]; /* a read fault maps the page */
}
#endif
