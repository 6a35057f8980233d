/* SPDX-License-Identifier: MIT */
/*
 * shim.c - an LD_PRELOAD library that makes Linux answer like macOS or
 * FreeBSD where their POSIX shared-memory objects differ, so that shmap's
 * portable object paths (`-Dportable=object`, src/platform-internal.h) run
 * against those answers in the test suites. Built twice: SHIM_MACOS ->
 * libshmap-shim-macos.so, SHIM_FREEBSD -> libshmap-shim-freebsd.so.
 *
 * What each personality refuses or changes, on shm descriptors only:
 *
 *   call                       macos                      freebsd
 *   shm_open O_NOFOLLOW/NONBLOCK  accepted                EINVAL
 *   shm_open, name > 31 bytes  ENAMETOOLONG               accepted
 *   shm_open O_CREAT|O_EXCL    mode exact (no umask)      (Linux's)
 *   fcntl F_[OFD_]SETLK[W]/GETLK  EBADF                   EBADF
 *   flock                      EOPNOTSUPP                 EOPNOTSUPP
 *   ftruncate of a sized object  EINVAL (sized once)      (Linux's)
 *   pread / pwrite             ESPIPE                     (Linux's)
 *   fchmod                     EINVAL                     (Linux's)
 *   fstat                      mode bits only (no S_IFREG), st_nlink,
 *                              st_ino, st_dev, st_blocks 0   st_nlink = 1 + mappings
 *   memfd_create (any fd)      ENOSYS                     (Linux's)
 *
 * The errors are those of the systems' kernels (xnu: pread on a non-vnode
 * is ESPIPE, a second pshm_truncate EINVAL, fchmod's file_vnode() EINVAL,
 * pshm_stat fills only mode, uid, gid and size; FreeBSD: shm_open2 refuses
 * flags beyond O_ACCMODE|O_CREAT|O_EXCL|O_TRUNC|O_CLOEXEC, shm_stat's
 * st_nlink is the VM object's reference count; both: advisory locks only on
 * vnodes). The FreeBSD count is approximated by this process's mappings.
 * A macOS object "sized once" is approximated by "its size is not 0".
 *
 * A descriptor is a shm descriptor when the real fstat() says it is a
 * regular file on the device of /dev/shm (memfd objects live elsewhere and
 * are left alone, except memfd_create itself on macos).
 *
 * Environment:
 *   SHMAP_SHIM_ALLOW_SHM_LOCKS=1  let advisory locks on shm through (for the
 *                                 OFD-lock liveness backend), counted as
 *                                 "allowed" instead of refused;
 *   SHMAP_SHIM_LOG=path           at exit, append one line per process:
 *                                 "<personality> <pid> <op>=<n> ..." with
 *                                 the refusals (and allowed locks) counted.
 * shmap_shim_count(op) and shmap_shim_personality() are exported so that a
 * program can prove the shim is loaded and active (tests/shim/selftest.c);
 * shmap_shim_bypass() lets a test's own raw calls through (below).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#undef _FILE_OFFSET_BITS /* define the plain and the 64 entry points */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(SHIM_MACOS) == defined(SHIM_FREEBSD)
#error "build with exactly one of SHIM_MACOS, SHIM_FREEBSD"
#endif

#ifdef SHIM_MACOS
#define PERSONALITY "macos"
#else
#define PERSONALITY "freebsd"
#endif

#define EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------------ counting */

enum op {
	OP_SHM_OPEN_FLAGS,
	OP_SHM_OPEN_NAME,
	OP_LOCK,
	OP_FLOCK,
	OP_FTRUNCATE,
	OP_PREAD,
	OP_PWRITE,
	OP_FCHMOD,
	OP_FSTAT,
	OP_MEMFD,
	OP_LOCK_ALLOWED,
	OP_N
};

static const char *const op_names[OP_N] = {
	"shm_open_flags", "shm_open_name", "lock", "flock", "ftruncate", "pread",
	"pwrite", "fchmod", "fstat", "memfd_create", "lock_allowed",
};

static unsigned long counts[OP_N];

EXPORT unsigned long shmap_shim_count(const char *op);
EXPORT const char *shmap_shim_personality(void);
EXPORT void shmap_shim_bypass(int on);

/*
 * A test's own raw calls on a segment (playing a hostile peer, corrupting a
 * header, looking at what the library made) are not shmap's: between
 * shmap_shim_bypass(1) and shmap_shim_bypass(0) the calling thread meets
 * Linux's answers (tests/helpers.h, th_raw()). Nests.
 */
static _Thread_local int bypass;

EXPORT void shmap_shim_bypass(int on)
{
	bypass += on ? 1 : -1;
	if (bypass < 0)
		bypass = 0;
}

static void count(enum op o)
{
	__atomic_fetch_add(&counts[o], 1, __ATOMIC_RELAXED);
}

EXPORT unsigned long shmap_shim_count(const char *op)
{
	for (int i = 0; i < OP_N; i++)
		if (strcmp(op, op_names[i]) == 0)
			return __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
	return (unsigned long)-1;
}

EXPORT const char *shmap_shim_personality(void)
{
	return PERSONALITY;
}

__attribute__((destructor)) static void shim_report(void)
{
	const char *path = getenv("SHMAP_SHIM_LOG");
	if (!path || !*path)
		return;
	char line[512];
	int n = snprintf(line, sizeof line, "%s %d", PERSONALITY, (int)getpid());
	bool any = false;
	for (int i = 0; i < OP_N && n < (int)sizeof line - 40; i++) {
		unsigned long c = __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
		if (c) {
			n += snprintf(line + n, sizeof line - (size_t)n, " %s=%lu", op_names[i], c);
			any = true;
		}
	}
	if (!any)
		return;
	n += snprintf(line + n, sizeof line - (size_t)n, "\n");
	int saved = errno;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		/* one write of a short line: O_APPEND keeps lines whole */
		ssize_t w = write(fd, line, (size_t)n);
		(void)w;
		close(fd);
	}
	errno = saved;
}

/* ------------------------------------------------------- real functions */

#define DECL_REAL(ret, name, ...)                                              \
	static ret (*real_##name)(__VA_ARGS__);                                 \
	__attribute__((unused)) static ret (*get_##name(void))(__VA_ARGS__)     \
	{                                                                       \
		if (!real_##name)                                               \
			*(void **)&real_##name = dlsym(RTLD_NEXT, #name);       \
		return real_##name;                                             \
	}

DECL_REAL(int, shm_open, const char *, int, mode_t)
DECL_REAL(int, fcntl, int, int, ...)
DECL_REAL(int, fcntl64, int, int, ...)
DECL_REAL(int, flock, int, int)
DECL_REAL(int, ftruncate, int, off_t)
DECL_REAL(int, ftruncate64, int, off64_t)
DECL_REAL(ssize_t, pread, int, void *, size_t, off_t)
DECL_REAL(ssize_t, pread64, int, void *, size_t, off64_t)
DECL_REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
DECL_REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t)
DECL_REAL(int, fchmod, int, mode_t)
DECL_REAL(int, fstat, int, struct stat *)
DECL_REAL(int, fstat64, int, struct stat64 *)
DECL_REAL(int, memfd_create, const char *, unsigned int)

/* ------------------------------------------------- which fds are shm */

static dev_t shm_dev;
static int shm_dev_known; /* 0 unknown, 1 known, -1 no /dev/shm */

static bool st_is_shm(const struct stat64 *st)
{
	if (__atomic_load_n(&shm_dev_known, __ATOMIC_ACQUIRE) == 0) {
		struct stat64 d;
		if (stat64("/dev/shm", &d) == 0) {
			shm_dev = d.st_dev;
			__atomic_store_n(&shm_dev_known, 1, __ATOMIC_RELEASE);
		} else {
			__atomic_store_n(&shm_dev_known, -1, __ATOMIC_RELEASE);
		}
	}
	return shm_dev_known == 1 && S_ISREG(st->st_mode) && st->st_dev == shm_dev;
}

/* The real fstat of fd, and whether it is a shm object. */
static bool fd_is_shm(int fd, struct stat64 *out)
{
	if (bypass)
		return false;
	struct stat64 st;
	int saved = errno;
	bool r = get_fstat64()(fd, &st) == 0 && st_is_shm(&st);
	errno = saved;
	if (out)
		*out = st;
	return r;
}

static int refuse(enum op o, int e)
{
	count(o);
	errno = e;
	return -1;
}

/* ------------------------------------------------------------ shm_open */

EXPORT int shm_open(const char *name, int oflag, mode_t mode)
{
	if (bypass)
		return get_shm_open()(name, oflag, mode);
#ifdef SHIM_FREEBSD
	if (oflag & (O_NOFOLLOW | O_NONBLOCK))
		return refuse(OP_SHM_OPEN_FLAGS, EINVAL);
#endif
#ifdef SHIM_MACOS
	if (name && strlen(name) > 31)
		return refuse(OP_SHM_OPEN_NAME, ENAMETOOLONG);
#endif
	int fd = get_shm_open()(name, oflag, mode);
#ifdef SHIM_MACOS
	/* xnu applies no umask to shm: the created object has the mode asked
	 * for (fchmod is refused later, so this is its mode for good) */
	if (fd >= 0 && (oflag & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
		int saved = errno;
		(void)get_fchmod()(fd, mode & 07777);
		errno = saved;
	}
#endif
	return fd;
}

/* --------------------------------------------------------------- locks */

static bool lock_cmd(int cmd)
{
	return cmd == F_SETLK || cmd == F_SETLKW || cmd == F_GETLK || cmd == F_OFD_SETLK ||
	       cmd == F_OFD_SETLKW || cmd == F_OFD_GETLK;
}

static bool locks_allowed(void)
{
	const char *e = getenv("SHMAP_SHIM_ALLOW_SHM_LOCKS");
	return e && *e && strcmp(e, "0") != 0;
}

static int shim_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	if (lock_cmd(cmd) && fd_is_shm(fd, NULL)) {
		if (!locks_allowed())
			return refuse(OP_LOCK, EBADF);
		count(OP_LOCK_ALLOWED);
	}
	return real(fd, cmd, arg);
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *); /* int or pointer: one register either way */
	va_end(ap);
	return shim_fcntl(get_fcntl(), fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return shim_fcntl(get_fcntl64(), fd, cmd, arg);
}

EXPORT int flock(int fd, int op)
{
	if (fd_is_shm(fd, NULL)) {
		if (!locks_allowed())
			return refuse(OP_FLOCK, EOPNOTSUPP);
		count(OP_LOCK_ALLOWED);
	}
	return get_flock()(fd, op);
}

/* ------------------------------------------------------------- sizing */

#ifdef SHIM_MACOS
static bool sized_already(int fd)
{
	struct stat64 st;
	return fd_is_shm(fd, &st) && st.st_size != 0;
}
#endif

EXPORT int ftruncate(int fd, off_t len)
{
#ifdef SHIM_MACOS
	if (sized_already(fd))
		return refuse(OP_FTRUNCATE, EINVAL);
#endif
	return get_ftruncate()(fd, len);
}

EXPORT int ftruncate64(int fd, off64_t len)
{
#ifdef SHIM_MACOS
	if (sized_already(fd))
		return refuse(OP_FTRUNCATE, EINVAL);
#endif
	return get_ftruncate64()(fd, len);
}

/* --------------------------------------------------------- read, write */

EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
#ifdef SHIM_MACOS
	if (fd_is_shm(fd, NULL))
		return refuse(OP_PREAD, ESPIPE);
#endif
	return get_pread()(fd, buf, n, off);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
#ifdef SHIM_MACOS
	if (fd_is_shm(fd, NULL))
		return refuse(OP_PREAD, ESPIPE);
#endif
	return get_pread64()(fd, buf, n, off);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
#ifdef SHIM_MACOS
	if (fd_is_shm(fd, NULL))
		return refuse(OP_PWRITE, ESPIPE);
#endif
	return get_pwrite()(fd, buf, n, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
#ifdef SHIM_MACOS
	if (fd_is_shm(fd, NULL))
		return refuse(OP_PWRITE, ESPIPE);
#endif
	return get_pwrite64()(fd, buf, n, off);
}

EXPORT int fchmod(int fd, mode_t mode)
{
#ifdef SHIM_MACOS
	if (fd_is_shm(fd, NULL))
		return refuse(OP_FCHMOD, EINVAL);
#endif
	return get_fchmod()(fd, mode);
}

/* --------------------------------------------------------------- fstat */

#ifdef SHIM_FREEBSD
/* Mappings of the object (dev, ino) in this process (/proc/self/maps). */
static unsigned long mappings_of(const struct stat64 *st)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return 0;
	unsigned long n = 0;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		unsigned long long ino = 0;
		unsigned int maj = 0, min = 0;
		if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) == 3 &&
		    ino == (unsigned long long)st->st_ino && (dev_t)makedev(maj, min) == st->st_dev)
			n++;
		if (!strchr(line, '\n')) { /* a long path: skip the rest of it */
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
		}
	}
	fclose(f);
	return n;
}
#endif

/* Rewrite what fstat() returns for a shm object as the personality would. */
static void personalise(struct stat64 *st)
{
	count(OP_FSTAT);
#ifdef SHIM_MACOS
	/* pshm_stat: mode (permission bits), uid, gid and size; the rest 0 */
	struct stat64 m;
	memset(&m, 0, sizeof m);
	m.st_mode = st->st_mode & 07777;
	m.st_uid = st->st_uid;
	m.st_gid = st->st_gid;
	m.st_size = st->st_size;
	m.st_blksize = st->st_blksize;
	*st = m;
#else
	/* shm_stat: st_nlink is the VM object's reference count */
	int saved = errno;
	st->st_nlink = (nlink_t)(1 + mappings_of(st));
	errno = saved;
#endif
}

EXPORT int fstat64(int fd, struct stat64 *st)
{
	int r = get_fstat64()(fd, st);
	if (r == 0 && !bypass && st_is_shm(st))
		personalise(st);
	return r;
}

EXPORT int fstat(int fd, struct stat *st)
{
	_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "LP64 only");
	return fstat64(fd, (struct stat64 *)(void *)st);
}

/* -------------------------------------------------------------- memfd */

EXPORT int memfd_create(const char *name, unsigned int flags)
{
#ifdef SHIM_MACOS
	if (bypass)
		return get_memfd_create()(name, flags);
	return refuse(OP_MEMFD, ENOSYS);
#else
	return get_memfd_create()(name, flags);
#endif
}
