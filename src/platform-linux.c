/* SPDX-License-Identifier: MIT */
/*
 * platform-linux.c - the platform layer's Linux facilities (see
 * platform-internal.h). Each service is compiled here only when meson found
 * the facility and the `portable` option does not force its fallback
 * (SHMAP_PLAT_* = 1); platform-posix.c has the other branch of each.
 */
#include "platform-config.h" /* first: it selects the OS headers below */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if SHMAP_PLAT_FUTEX || SHMAP_PLAT_MEMBARRIER
#include <sys/syscall.h>
#endif
#if SHMAP_PLAT_FUTEX
#include <linux/futex.h>
#endif
#if SHMAP_PLAT_MEMBARRIER
#include <linux/membarrier.h>
#endif
#if SHMAP_PLAT_GETRANDOM
#include <sys/random.h>
#endif
#if SHMAP_PLAT_INOTIFY
#include <poll.h>
#include <sys/inotify.h>
#endif

#include <shmap/status.h>

#include "internal.h"
#include "platform-internal.h"

/* A translation unit must not be empty (ISO C) when every service is forced
 * to its fallback. */
typedef int shmap__platform_linux_unit;

#if SHMAP_PLAT_FUTEX
int shmap__futex_wait(volatile uint32_t *addr, uint32_t val, uint64_t deadline_ns)
{
	uint64_t now = shmap__now_ns();
	if (now >= deadline_ns)
		return SHMAP_E_TIMEOUT;
	uint64_t left = deadline_ns - now;
	struct timespec ts = { .tv_sec = (time_t)(left / 1000000000u), .tv_nsec = (long)(left % 1000000000u) };
	long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, val, &ts, NULL, 0);
	if (r != 0 && errno == ETIMEDOUT)
		return SHMAP_E_TIMEOUT;
	return SHMAP_OK; /* woken, EAGAIN (value changed) or EINTR: caller re-checks */
}

int shmap__futex_wake(volatile uint32_t *addr, int n)
{
	long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, NULL, NULL, 0);
	return r < 0 ? 0 : (int)r;
}
#endif

#if SHMAP_PLAT_MEMBARRIER
int shmap__plat_heavy_barrier_register(void)
{
	long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (q < 0 || !(q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) ||
	    !(q & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) ||
	    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) != 0)
		return -1;
	return 0;
}

int shmap__plat_heavy_barrier(void)
{
	return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 ? 0 : -1;
}
#endif

#if SHMAP_PLAT_MEMFD
int shmap__plat_anon_create(const char *label, bool huge)
{
	unsigned mfl = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	if (huge)
		mfl |= MFD_HUGETLB;
	return memfd_create(label, mfl);
}

int shmap__plat_anon_seal(int fd)
{
	return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0 ? 0 : -1;
}

int shmap__plat_anon_sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -1;
	return (seals & F_SEAL_SHRINK) ? 1 : 0;
}
#endif

#if SHMAP_PLAT_PROC
int shmap__plat_reopen_fd(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, flags | O_CLOEXEC);
}

/* Process start time in clock ticks since boot (/proc/self/stat field 22). */
uint64_t shmap__plat_start_time(void)
{
	/* Per thread: threads attaching at once must not race on the cache. */
	static _Thread_local uint64_t cached;
	static _Thread_local pid_t cached_pid;
	pid_t me = getpid();
	if (cached_pid == me)
		return cached;
	uint64_t v = 0;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[1024];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			/* skip "pid (comm)": comm may contain spaces, so find the last ')' */
			char *p = strrchr(buf, ')');
			int field = 2;
			while (p && *p && field < 22) {
				if (*p == ' ')
					field++;
				p++;
			}
			if (p && field == 22)
				v = strtoull(p, NULL, 10);
		}
	}
	cached = v;
	cached_pid = me;
	return v;
}
#endif

#if SHMAP_PLAT_FALLOCATE
int shmap__plat_reserve(int fd, off_t off, off_t len, bool keep_size)
{
	if (keep_size) {
		struct stat st;
		if (fstat(fd, &st) != 0)
			return errno;
		if (off + len > st.st_size)
			return ERANGE; /* shrunk by a peer: not ours to heal */
	}
	int r = EINTR;
	for (int i = 0; i < 64 && r == EINTR; i++) {
		if (!keep_size)
			r = posix_fallocate(fd, off, len);
		else
#ifdef FALLOC_FL_KEEP_SIZE
			r = fallocate(fd, FALLOC_FL_KEEP_SIZE, off, len) == 0 ? 0 : errno;
#else
			r = EOPNOTSUPP;
#endif
	}
	if (r == EINVAL || r == EOPNOTSUPP || r == ENODEV || r == ENOSYS)
		return EOPNOTSUPP; /* this filesystem cannot reserve */
	return r;
}
#endif

#if SHMAP_PLAT_GETRANDOM
size_t shmap__plat_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t r = getrandom(p + got, len - got, GRND_NONBLOCK);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}
#endif

#if SHMAP_PLAT_MAP_FLAGS
int shmap__plat_map_flags(bool prefault)
{
	return prefault ? MAP_POPULATE : 0;
}

int shmap__plat_map_noreserve(void)
{
	return MAP_NORESERVE;
}

void shmap__plat_advise_huge(void *addr, size_t len)
{
	(void)madvise(addr, len, MADV_HUGEPAGE);
}

void shmap__plat_prefault(const void *addr, size_t len)
{
	(void)addr; /* MAP_POPULATE did it */
	(void)len;
}
#endif

#if SHMAP_PLAT_SHM_FILES
const char *shmap__plat_shm_dir(void)
{
	return "/dev/shm";
}

int shmap__plat_shm_same(int fd, const char *name, off_t scratch)
{
	(void)scratch; /* the inode decides */
	char path[PATH_MAX];
	struct stat a, b;
	if (snprintf(path, sizeof(path), "/dev/shm%s", name) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (fstat(fd, &a) != 0)
		return -1;
	if (lstat(path, &b) != 0)
		return errno == ENOENT ? 0 : -1;
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}
#endif

#if SHMAP_PLAT_INOTIFY
int shmap__plat_watch_open(const char *dir)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd >= 0 && inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
						  IN_MOVE_SELF | IN_ONLYDIR) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

int shmap__plat_watch_wait(int wfd, const char *base, int timeout_ms)
{
	struct pollfd pfd = { .fd = wfd, .events = POLLIN };
	int r = poll(&pfd, 1, timeout_ms);
	if (r <= 0)
		return 1; /* timeout (look again) or error (EINTR: look again) */
	/* Drain the events; report only our name, a lost event (overflow) or
	 * a change of the directory itself. */
	union {
		struct inotify_event ev;
		char buf[4096];
	} u;
	int ours = 0;
	ssize_t n;
	while ((n = read(wfd, u.buf, sizeof(u.buf))) > 0) {
		const uint32_t lost = IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF;
		const ssize_t evsz = (ssize_t)sizeof(struct inotify_event);
		for (ssize_t off = 0; off + evsz <= n;) {
			const struct inotify_event *ev = (const void *)(u.buf + off);
			if ((ev->mask & lost) || (ev->len && strcmp(ev->name, base) == 0))
				ours = 1;
			off += evsz + (ssize_t)ev->len;
		}
	}
	return ours;
}
#endif

#if SHMAP_PLAT_OFD_LOCKS
/* Liveness: OFD byte locks on the segment's own descriptor, byte = lock
 * number (the code that lived in segment.c before the layer had it). */
void shmap__plat_live_init(struct shmap__live *lv, uint32_t backend, const char *name, uint32_t mode)
{
	memset(lv, 0, sizeof(*lv));
	lv->fd = lv->name_fd = lv->set_fd = lv->builder_fd = lv->slot_fd = -1;
	lv->backend = backend;
	lv->name = name;
	lv->mode = mode;
}

int shmap__plat_live_bind(struct shmap__live *lv, int fd)
{
	lv->fd = fd;
	return 0;
}

int shmap__plat_live_join(struct shmap__live *lv, uint64_t id, uint32_t nparts, uint32_t how)
{
	(void)nparts;
	(void)how;
	lv->id = id;
	return 0;
}

int shmap__plat_live_trylock(struct shmap__live *lv, uint32_t lock)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)lock, .l_len = 1 };
	for (;;) {
		if (fcntl(lv->fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		return (errno == EACCES || errno == EAGAIN) ? EAGAIN : errno;
	}
}

void shmap__plat_live_unlock(struct shmap__live *lv, uint32_t lock)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = (off_t)lock, .l_len = 1 };
	int saved = errno;
	(void)fcntl(lv->fd, F_OFD_SETLK, &fl);
	errno = saved;
}

bool shmap__plat_live_held(const struct shmap__live *lv, uint32_t lock)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)lock, .l_len = 1 };
	int saved = errno;
	if (fcntl(lv->fd, F_OFD_GETLK, &fl) != 0) {
		errno = saved;
		return true; /* cannot tell: assume alive (never recover on doubt) */
	}
	errno = saved;
	return fl.l_type != F_UNLCK;
}

int shmap__plat_live_forked(struct shmap__live *lv)
{
	(void)lv; /* the caller gives the child a description of its own (fd) */
	return 0;
}

void shmap__plat_live_close(struct shmap__live *lv, bool remove)
{
	(void)remove; /* the locks go with the object's description */
	lv->fd = -1;
	lv->id = 0;
}

void shmap__plat_live_unlinked(uint32_t backend, const char *name, uint32_t uid)
{
	(void)backend;
	(void)name;
	(void)uid;
}

uint32_t shmap__plat_live_sweep(const char *prefix, int (*current)(const char *name, uint64_t *id))
{
	(void)prefix;
	(void)current;
	return 0;
}
#endif
