/* SPDX-License-Identifier: MIT */
/*
 * helpers.h - shared test helpers: unique segment names, fork/wait with a
 * watchdog, acknowledgement pipes. Include after the cmocka prerequisites
 * (stdarg.h, stddef.h, stdint.h, setjmp.h) and <cmocka.h>.
 */
#ifndef SHMAP_TEST_HELPERS_H
#define SHMAP_TEST_HELPERS_H

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * Under a personality of tests/shim (LD_PRELOAD: scripts/test-portable.sh)
 * a test's own raw calls on a segment -- a hostile peer's pwrite or
 * ftruncate, a look at the header or the mode the library left -- are the
 * test's, not shmap's: th_raw(1) .. th_raw(0) lets them meet Linux's
 * answers, so that only the library's calls meet the personality. Nothing
 * without the shim.
 */
static inline void th_raw(int on)
{
	static void (*fn)(int);
	static int looked;
	if (!looked) {
		*(void **)&fn = dlsym(RTLD_DEFAULT, "shmap_shim_bypass");
		looked = 1;
	}
	if (fn)
		fn(on);
}

/* The name of the personality tests/shim gives this process, or NULL. */
static inline const char *th_shim(void)
{
	const char *(*fn)(void);
	*(void **)&fn = dlsym(RTLD_DEFAULT, "shmap_shim_personality");
	return fn ? fn() : NULL;
}

/* The longest shm name after its '/' on this platform (NAME_MAX on Linux;
 * 30 on macOS and with -Dportable=object): SHMAP_PLAT_SHM_NAME_MAX, which
 * tests built with the platform facts see. */
static inline size_t th_name_max(void)
{
#ifdef SHMAP_PLAT_SHM_NAME_MAX
	return (size_t)(SHMAP_PLAT_SHM_NAME_MAX);
#else
	return 255;
#endif
}

/* A segment name unique to this process and call: "/shmap-t-<tag>-<pid>-<n>",
 * the tag cut short where the platform's names are short (the pid and the
 * count keep it unique). */
static inline const char *th_name(char *buf, size_t len, const char *tag)
{
	static unsigned counter;
	char tail[32];
	snprintf(tail, sizeof tail, "-%d-%u", (int)getpid(), counter++);
	size_t room = th_name_max() + 1; /* with the '/' */
	size_t fixed = strlen("/shmap-t-") + strlen(tail);
	int keep = room > fixed ? (int)(room - fixed) : 0;
	snprintf(buf, len, "/shmap-t-%.*s%s", keep, tag, tail);
	return buf;
}

static inline double th_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Fork a child running fn(arg); the child exits with fn's return value
 * (0..255). The child gets an alarm() watchdog of `watchdog_s` seconds so a
 * hang becomes a SIGALRM death instead of a stuck test.
 */
static inline pid_t th_fork(int (*fn)(void *), void *arg, unsigned watchdog_s)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(watchdog_s);
		_exit(fn(arg) & 0xff);
	}
	return pid;
}

/*
 * Wait for a child with a watchdog: returns its exit status as waitpid
 * encodes it, or -1 after SIGKILLing it when `timeout_s` passed.
 */
static inline int th_wait(pid_t pid, double timeout_s)
{
	double end = th_now() + timeout_s;
	int st;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -1;
		if (th_now() > end) {
			fprintf(stderr, "watchdog: child %d still running after %.1f s, killing it\n",
				(int)pid, timeout_s);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(1000);
	}
}

/* True if the waitpid status is a normal exit with code 0. */
static inline int th_ok(int st)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Write/read one acknowledgement word on a pipe (the harness protocol). */
static inline int th_ack(int fd, uint64_t v)
{
	return write(fd, &v, sizeof v) == (ssize_t)sizeof v ? 0 : -1;
}

static inline int th_read_ack(int fd, uint64_t *v)
{
	size_t got = 0;
	while (got < sizeof *v) {
		ssize_t r = read(fd, (char *)v + got, sizeof *v - got);
		if (r == 0)
			return -1; /* EOF */
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* Drop root in a forked child (permission tests run as root in CI). */
static inline int th_drop_root(void)
{
	if (geteuid() != 0)
		return 0;
	if (setgid(65534) != 0 || setuid(65534) != 0)
		return -1;
	return 0;
}

/*
 * Nanoseconds a thread has spent runnable but not running, waiting for a
 * CPU (field 2 of /proc/PID/schedstat; pid 0: the calling thread). Latency
 * tests subtract it, so that a machine too busy to run the woken process
 * at once is not mistaken for a late wake-up. 0 when the kernel does not
 * report it (the test then measures wall time only).
 */
static inline unsigned long long th_rq_wait_ns(pid_t pid)
{
	char path[64];
	if (pid == 0)
		snprintf(path, sizeof path, "/proc/thread-self/schedstat");
	else
		snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	unsigned long long run = 0, wait = 0;
	int n = fscanf(f, "%llu %llu", &run, &wait);
	fclose(f);
	return n == 2 ? wait : 0;
}

/*
 * The test's own raw calls on objects, everywhere a test includes this
 * header: around a tests/shim personality (see th_raw() above). The
 * library's calls are not affected (they are not compiled with these).
 */
static inline ssize_t th_raw_pread(int fd, void *buf, size_t n, off_t off)
{
	th_raw(1);
	ssize_t r = (pread)(fd, buf, n, off);
	int e = errno;
	th_raw(0);
	errno = e;
	return r;
}

static inline ssize_t th_raw_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	th_raw(1);
	ssize_t r = (pwrite)(fd, buf, n, off);
	int e = errno;
	th_raw(0);
	errno = e;
	return r;
}

static inline int th_raw_ftruncate(int fd, off_t len)
{
	th_raw(1);
	int r = (ftruncate)(fd, len);
	int e = errno;
	th_raw(0);
	errno = e;
	return r;
}

static inline int th_raw_fstat(int fd, struct stat *st)
{
	th_raw(1);
	int r = (fstat)(fd, st);
	int e = errno;
	th_raw(0);
	errno = e;
	return r;
}

static inline int th_raw_fchmod(int fd, mode_t mode)
{
	th_raw(1);
	int r = (fchmod)(fd, mode);
	int e = errno;
	th_raw(0);
	errno = e;
	return r;
}

static inline int th_raw_shm_open(const char *name, int flags, mode_t mode)
{
	th_raw(1);
	int r = (shm_open)(name, flags, mode);
	int e = errno;
	th_raw(0);
	errno = e;
	return r;
}

static inline int th_raw_memfd_create(const char *name, unsigned int flags)
{
	th_raw(1);
	int r = (memfd_create)(name, flags);
	int e = errno;
	th_raw(0);
	errno = e;
	return r;
}

#define shm_open(name, flags, mode) th_raw_shm_open(name, flags, mode)
#define memfd_create(name, flags) th_raw_memfd_create(name, flags)
#define pread(fd, buf, n, off) th_raw_pread(fd, buf, n, off)
#define pwrite(fd, buf, n, off) th_raw_pwrite(fd, buf, n, off)
#define ftruncate(fd, len) th_raw_ftruncate(fd, len)
#define fstat(fd, st) th_raw_fstat(fd, st)
#define fchmod(fd, mode) th_raw_fchmod(fd, mode)

#endif /* SHMAP_TEST_HELPERS_H */
