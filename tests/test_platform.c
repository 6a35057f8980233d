/* SPDX-License-Identifier: MIT */
/*
 * test_platform.c - the platform layer (src/platform-internal.h) on its
 * own: each service's contract, in whichever implementation this build
 * selected (the Linux facility, or the portable fallback forced with
 * -Dportable=...). White-box: links the static library.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "platform-internal.h"
#include "helpers.h"

static double ms_since(uint64_t t0)
{
	return (double)(shmap__now_ns() - t0) / 1e6;
}

/* A wait on an unchanged word ends at its deadline, not before; a deadline
 * already past returns at once. */
static void test_wait_timeout(void **state)
{
	(void)state;
	volatile uint32_t w = 5;
	uint64_t t0 = shmap__now_ns();
	assert_int_equal(shmap__futex_wait(&w, 5, t0 + 50 * 1000000ull), SHMAP_E_TIMEOUT);
	double ms = ms_since(t0);
	assert_true(ms >= 49.0);
	assert_true(ms < 2000.0);
	t0 = shmap__now_ns();
	assert_int_equal(shmap__futex_wait(&w, 5, t0 - 1), SHMAP_E_TIMEOUT);
	assert_true(ms_since(t0) < 50.0);
}

/* A word that already differs: the wait returns SHMAP_OK at once. */
static void test_wait_changed(void **state)
{
	(void)state;
	volatile uint32_t w = 5;
	uint64_t t0 = shmap__now_ns();
	assert_int_equal(shmap__futex_wait(&w, 4, t0 + 5000 * 1000000ull), SHMAP_OK);
	assert_true(ms_since(t0) < 100.0);
}

/* Another process changes the shared word and wakes: the waiter returns
 * long before its deadline (futex: at the wake; polling: within about a
 * millisecond of the change). */
static void test_wait_cross_process(void **state)
{
	(void)state;
	uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(w != MAP_FAILED);
	*w = 0;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		usleep(50 * 1000);
		__atomic_store_n(w, 1u, __ATOMIC_RELEASE);
		shmap__futex_wake(w, 1);
		_exit(0);
	}
	uint64_t t0 = shmap__now_ns(), deadline = t0 + 10000 * 1000000ull;
	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == 0)
		assert_int_equal(shmap__futex_wait(w, 0, deadline), SHMAP_OK);
	double ms = ms_since(t0);
	print_message("# wake seen after %.1f ms (change at 50 ms)\n", ms);
	assert_true(ms < 3000.0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	munmap(w, 4096);
}

/* The heavy barrier is there exactly when the build chose membarrier (and
 * the kernel has it); the portable build never has it. */
static void test_heavy_barrier(void **state)
{
	(void)state;
	int r = shmap__plat_heavy_barrier_register();
	if (!SHMAP_PLAT_MEMBARRIER && !SHMAP_PLAT_BSD_MEMBARRIER) {
		assert_int_equal(r, -1);
		assert_int_equal(shmap__plat_heavy_barrier(), -1);
	} else if (r == 0) {
		assert_int_equal(shmap__plat_heavy_barrier(), 0);
	}
}

/* An anonymous object: close-on-exec, sizable, shared by descriptor; sealed
 * where seals exist, and without any name left behind otherwise. */
static void test_anon(void **state)
{
	(void)state;
	int fd = shmap__plat_anon_create("plat-test", false);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	const size_t pg = shmap__plat_page_size();
	assert_int_equal(ftruncate(fd, (off_t)(4 * pg)), 0);
	struct stat st;
	th_raw(1); /* the object as Linux sees it, under a tests/shim personality too */
	assert_int_equal(fstat(fd, &st), 0);
	th_raw(0);
	assert_true(S_ISREG(st.st_mode));
	if (!SHMAP_PLAT_MEMFD)
		assert_int_equal(st.st_nlink, 0); /* its random name is gone */
	uint8_t *a = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(a != MAP_FAILED);
	a[pg + 1] = 42;
	int fd2 = dup(fd);
	uint8_t *b = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	assert_true(b != MAP_FAILED);
	assert_int_equal(b[pg + 1], 42);
	assert_int_equal(shmap__plat_anon_seal(fd), 0);
	assert_int_equal(shmap__plat_anon_sealed(fd), 1);
	if (SHMAP_PLAT_MEMFD) {
		errno = 0;
		assert_int_equal(ftruncate(fd, (off_t)pg), -1);
		assert_int_equal(errno, EPERM);
	} else {
		errno = 0;
		assert_int_equal(shmap__plat_anon_create("plat-test", true), -1); /* no huge pages */
		assert_int_equal(errno, ENOTSUP);
	}
	munmap(a, 4 * pg);
	munmap(b, 4 * pg);
	close(fd2);
	close(fd);
}

/* Reservation extends the file, allocates its pages, and changes no byte. */
static void test_reserve(void **state)
{
	(void)state;
	int fd = shmap__plat_anon_create("plat-reserve", false);
	assert_true(fd >= 0);
	const char *shim = th_shim();
	if (!SHMAP_PLAT_FALLOCATE && shim && strcmp(shim, "macos") == 0) {
		/* an object that refuses pwrite (macOS shm): sized, left sparse,
		 * and the caller told so */
		const off_t n = (off_t)(3 * shmap__plat_page_size() + 5);
		assert_int_equal(shmap__plat_reserve(fd, 0, n, false), EOPNOTSUPP);
		struct stat sst;
		assert_int_equal(fstat(fd, &sst), 0);
		assert_int_equal(sst.st_size, n);
		close(fd);
		return;
	}
	const uint64_t mark = 0x0123456789abcdefull;
	assert_int_equal(pwrite(fd, &mark, sizeof(mark), 0), (ssize_t)sizeof(mark));
	const size_t pg = shmap__plat_page_size();
	const off_t len = (off_t)(3 * pg + 5);
	assert_int_equal(shmap__plat_reserve(fd, 0, len, false), 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, len);
	assert_true((uint64_t)st.st_blocks * 512u >= 3u * pg); /* pages allocated, not sparse */
	uint64_t got = 0;
	assert_int_equal(pread(fd, &got, sizeof(got), 0), (ssize_t)sizeof(got));
	assert_true(got == mark);
	/* a range inside the file: allocated, size unchanged */
	assert_int_equal(ftruncate(fd, (off_t)(16 * pg)), 0);
	assert_int_equal(shmap__plat_reserve(fd, (off_t)(8 * pg), (off_t)(2 * pg), true), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)(16 * pg));
	assert_true((uint64_t)st.st_blocks * 512u >= 5u * pg);
	/* growth inside a segment never moves its end: a range past it (a peer
	 * shrank the object) is refused, and the size stays the peer's */
	assert_int_equal(ftruncate(fd, (off_t)(4 * pg)), 0);
	assert_int_equal(shmap__plat_reserve(fd, (off_t)(8 * pg), (off_t)(2 * pg), true), ERANGE);
	assert_int_equal(shmap__plat_reserve(fd, (off_t)(3 * pg), (off_t)(2 * pg), true), ERANGE);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)(4 * pg));
	close(fd);
}

static void test_random(void **state)
{
	(void)state;
	uint8_t a[32], b[32], z[32] = { 0 };
	assert_int_equal(shmap__plat_random(a, sizeof a), sizeof a);
	assert_int_equal(shmap__plat_random(b, sizeof b), sizeof b);
	assert_true(memcmp(a, b, sizeof a) != 0);
	assert_true(memcmp(a, z, sizeof a) != 0);
}

static void test_mapping(void **state)
{
	(void)state;
	size_t pg = shmap__plat_page_size();
	assert_true(pg >= 4096 && (pg & (pg - 1)) == 0);
	if (SHMAP_PLAT_MAP_FLAGS) {
		assert_int_equal(shmap__plat_map_flags(true), MAP_POPULATE);
		assert_int_equal(shmap__plat_map_noreserve(), MAP_NORESERVE);
	} else {
		assert_int_equal(shmap__plat_map_flags(true), 0);
		assert_int_equal(shmap__plat_map_noreserve(), 0);
	}
	assert_int_equal(shmap__plat_map_flags(false), 0);
	/* prefault: after a mapping made with the layer's flags and its
	 * prefault call, every page is resident */
	int fd = shmap__plat_anon_create("plat-prefault", false);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(32 * pg)), 0);
	uint8_t *m = mmap(NULL, 32 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | shmap__plat_map_flags(true),
			  fd, 0);
	assert_true(m != MAP_FAILED);
	shmap__plat_prefault(m, 32 * pg);
	unsigned char vec[32];
	assert_int_equal(mincore(m, 32 * pg, vec), 0);
	for (int i = 0; i < 32; i++)
		assert_true(vec[i] & 1);
	munmap(m, 32 * pg);
	close(fd);
}

/* A watch reports a name created in its directory; without one (portable),
 * open returns -1 and the wait says "look again". */
static void test_watch(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmap-t-platXXXXXX";
	assert_non_null(mkdtemp(dir));
	int w = shmap__plat_watch_open(dir);
	if (!SHMAP_PLAT_INOTIFY) {
		assert_int_equal(w, -1);
		assert_int_equal(shmap__plat_watch_wait(-1, "x", 10), 1);
		rmdir(dir);
		return;
	}
	assert_true(w >= 0);
	char path[64];
	snprintf(path, sizeof path, "%s/other", dir);
	int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(f >= 0);
	close(f);
	assert_int_equal(shmap__plat_watch_wait(w, "mine", 1000), 0); /* another name */
	snprintf(path, sizeof path, "%s/mine", dir);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(f >= 0);
	close(f);
	assert_int_equal(shmap__plat_watch_wait(w, "mine", 1000), 1);
	close(w);
	unlink(path);
	snprintf(path, sizeof path, "%s/other", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_timeout),   cmocka_unit_test(test_wait_changed),
		cmocka_unit_test(test_wait_cross_process), cmocka_unit_test(test_heavy_barrier),
		cmocka_unit_test(test_anon),           cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_random),         cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_watch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
