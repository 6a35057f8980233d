/* SPDX-License-Identifier: MIT */
/*
 * selftest.c - proves that a personality of tests/shim is loaded and
 * refuses what its system refuses: run with LD_PRELOAD set to one of the
 * shim libraries. Each refusal is made once on a shm object and checked for
 * its errno and for the shim's count of it; the same calls on a regular
 * file pass (only shm descriptors are affected). Exits 0 when every check
 * holds, 1 otherwise (also when no shim is loaded).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			failures++;                                             \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
		}                                                               \
	} while (0)

static unsigned long (*count_of)(const char *);

/* The call `expr` fails with errno `e`, and the shim counted one more `op`. */
#define REFUSED(expr, e, op)                                                    \
	do {                                                                    \
		unsigned long before_ = count_of(op);                           \
		errno = 0;                                                      \
		long r_ = (long)(expr);                                         \
		int err_ = errno;                                               \
		CHECK(r_ == -1 && err_ == (e), "%s: got %ld errno %d (%s), want errno %d", #expr, r_, \
		      err_, strerror(err_), (e));                               \
		CHECK(count_of(op) == before_ + 1, "%s: not counted as %s", #expr, op); \
	} while (0)

#define PASSES(expr)                                                            \
	do {                                                                    \
		errno = 0;                                                      \
		long r_ = (long)(expr);                                         \
		CHECK(r_ >= 0, "%s: got %ld errno %d (%s), want success", #expr, r_, errno, \
		      strerror(errno));                                         \
	} while (0)

int main(void)
{
	const char *(*personality)(void);
	*(void **)&personality = dlsym(RTLD_DEFAULT, "shmap_shim_personality");
	*(void **)&count_of = dlsym(RTLD_DEFAULT, "shmap_shim_count");
	if (!personality || !count_of) {
		fprintf(stderr, "no shim loaded (LD_PRELOAD=%s)\n", getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "");
		return 1;
	}
	const int macos = strcmp(personality(), "macos") == 0;
	printf("personality %s\n", personality());
	unsetenv("SHMAP_SHIM_ALLOW_SHM_LOCKS");

	char name[32];
	snprintf(name, sizeof name, "/shmap-t-shim-%d", (int)getpid());
	shm_unlink(name);
	mode_t old = umask(022);
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0666);
	umask(old);
	if (fd < 0) {
		perror("shm_open");
		return 1;
	}
	char tmpl[] = "/tmp/shmap-shim-XXXXXX";
	int rf = mkstemp(tmpl); /* a regular file: never refused */
	if (rf < 0) {
		perror("mkstemp");
		return 1;
	}
	unlink(tmpl);

	/* shm_open's flags and names */
	char longname[64];
	snprintf(longname, sizeof longname, "/shmap-t-shim-long-name-%d-xxxxxxxx", (int)getpid());
	if (macos) {
		REFUSED(shm_open(longname, O_RDWR | O_CREAT, 0600), ENAMETOOLONG, "shm_open_name");
		int fd2 = shm_open(name, O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0);
		CHECK(fd2 >= 0, "macos accepts O_NOFOLLOW | O_NONBLOCK");
		if (fd2 >= 0)
			close(fd2);
	} else {
		REFUSED(shm_open(name, O_RDWR | O_NOFOLLOW, 0), EINVAL, "shm_open_flags");
		REFUSED(shm_open(name, O_RDONLY | O_NONBLOCK, 0), EINVAL, "shm_open_flags");
		int fd2 = shm_open(longname, O_RDWR | O_CREAT | O_EXCL, 0600);
		CHECK(fd2 >= 0, "freebsd accepts long names");
		if (fd2 >= 0) {
			close(fd2);
			shm_unlink(longname);
		}
	}

	/* advisory locks on shm: refused by both, unless let through */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	REFUSED(fcntl(fd, F_OFD_SETLK, &fl), EBADF, "lock");
	REFUSED(fcntl(fd, F_SETLK, &fl), EBADF, "lock");
	REFUSED(fcntl(fd, F_OFD_GETLK, &fl), EBADF, "lock");
	REFUSED(fcntl(fd, F_GETLK, &fl), EBADF, "lock");
	REFUSED(flock(fd, LOCK_EX | LOCK_NB), EOPNOTSUPP, "flock");
	PASSES(fcntl(rf, F_OFD_SETLK, &fl));
	PASSES(flock(rf, LOCK_EX | LOCK_NB));
	PASSES(fcntl(fd, F_GETFD));
	setenv("SHMAP_SHIM_ALLOW_SHM_LOCKS", "1", 1);
	unsigned long allowed = count_of("lock_allowed");
	PASSES(fcntl(fd, F_OFD_SETLK, &fl));
	CHECK(count_of("lock_allowed") == allowed + 1, "allowed lock not counted");
	unsetenv("SHMAP_SHIM_ALLOW_SHM_LOCKS");

	/* sizing, reading, writing, mode */
	PASSES(ftruncate(fd, 4096));
	char buf[8] = "abcdefg";
	if (macos) {
		REFUSED(ftruncate(fd, 8192), EINVAL, "ftruncate");
		REFUSED(pread(fd, buf, 8, 0), ESPIPE, "pread");
		REFUSED(pwrite(fd, buf, 8, 0), ESPIPE, "pwrite");
		REFUSED(fchmod(fd, 0600), EINVAL, "fchmod");
	} else {
		PASSES(ftruncate(fd, 8192));
		PASSES(pwrite(fd, buf, 8, 0));
		PASSES(pread(fd, buf, 8, 0));
		PASSES(fchmod(fd, 0600));
	}
	PASSES(ftruncate(rf, 4096));
	PASSES(ftruncate(rf, 8192));
	PASSES(pwrite(rf, buf, 8, 0));
	PASSES(pread(rf, buf, 8, 0));

	/* fstat */
	struct stat st;
	unsigned long fst = count_of("fstat");
	PASSES(fstat(fd, &st));
	CHECK(count_of("fstat") == fst + 1, "fstat of shm not counted");
	if (macos) {
		CHECK((st.st_mode & S_IFMT) == 0, "macos: no file type, got %o", (unsigned)st.st_mode);
		CHECK((st.st_mode & 0777) == 0666, "macos: mode without umask, got %o", (unsigned)st.st_mode);
		CHECK(st.st_nlink == 0 && st.st_ino == 0 && st.st_dev == 0, "macos: no link count, inode, device");
		CHECK(st.st_size == 4096, "macos: size kept");
	} else {
		CHECK(S_ISREG(st.st_mode), "freebsd: regular");
		CHECK(st.st_nlink == 1, "freebsd: nlink 1 without mappings, got %lu", (unsigned long)st.st_nlink);
		void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		CHECK(m != MAP_FAILED, "mmap");
		PASSES(fstat(fd, &st));
		CHECK(st.st_nlink == 2, "freebsd: nlink counts the mapping, got %lu", (unsigned long)st.st_nlink);
		if (m != MAP_FAILED)
			munmap(m, 4096);
	}
	PASSES(fstat(rf, &st));
	CHECK(S_ISREG(st.st_mode) && st.st_nlink == 0 + (st.st_nlink > 0 ? st.st_nlink : 0),
	      "regular file untouched");

	/* memfd */
	if (macos) {
		REFUSED(memfd_create("shim", MFD_CLOEXEC), ENOSYS, "memfd_create");
	} else {
		int mfd = memfd_create("shim", MFD_CLOEXEC);
		CHECK(mfd >= 0, "freebsd: memfd_create works");
		if (mfd >= 0)
			close(mfd);
	}

	close(fd);
	close(rf);
	shm_unlink(name);
	printf("%s: %s\n", personality(), failures ? "FAILED" : "every refusal seen");
	return failures ? 1 : 0;
}
