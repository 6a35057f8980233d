/* SPDX-License-Identifier: MIT */
/*
 * torture.h - reusable infrastructure for crash and hostile-peer tests.
 *
 * Include after <cmocka.h> (it includes helpers.h). Everything is static so
 * each test program gets its own copy; nothing here calls cmocka asserts, so
 * the helpers are safe to use in forked children (children report through
 * exit codes and pipes, never through cmocka).
 *
 *   tt_proc / tt_spawn / tt_wait    fork harness: every child gets an ack
 *                                   pipe to the parent and an alarm()
 *                                   watchdog; tt_wait kills a child that
 *                                   outlives its deadline (a hang becomes a
 *                                   failure with a message, never a stuck run)
 *   tt_kill_at(fp, n, fn, arg, ...) run fn in a child with SHMAP_FAILPOINT=fp:n
 *                                   set before fn starts (the failpoint copy of
 *                                   the library SIGKILLs itself at the n-th hit);
 *                                   reports whether the child died of SIGKILL
 *   tt_barrier_*                    pipe barrier: N children block on read();
 *                                   closing the write end releases all at once
 *   tt_rec_*                        value records {key, seq, version, sum}:
 *                                   lost, torn or invented data is detected
 *   tt_lat_*                        latency samples -> p50 / p99 / max
 *   tt_count_shm / tt_count_fds     leak checks (/dev/shm entries with a
 *                                   prefix, open descriptors of this process)
 *   tt_hash_fd / tt_hash_path       content hash of a file (bytes unchanged?)
 *   tt_become                       drop root to a given uid/gid in a child
 *   tt_expect_fault                 run fn in a child and require SIGSEGV or
 *                                   SIGBUS (guard-page checks)
 *   tt_guard_alloc / tt_guard_free  a private buffer whose last byte touches
 *                                   a PROT_NONE page (and whose start follows
 *                                   one): an output buffer that faults on
 *                                   the first byte written or read past it
 *   tt_soak / tt_iters              CI vs soak sizing (SHMAP_SOAK=1 in env)
 *
 * Guard pages: the storage layer itself maps every segment between two
 * PROT_NONE pages (segment.c map_segment), so an access one byte before the
 * header or one byte past total_size faults deterministically in every
 * build, not only in tests. tt_expect_fault() turns that into an assertion.
 */
#ifndef SHMAP_TEST_TORTURE_H
#define SHMAP_TEST_TORTURE_H

#include <dirent.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "helpers.h"
#include "test_xxhash.h"

/* ------------------------------------------------------------------ */
/* sizing                                                              */

static inline bool tt_soak(void)
{
	const char *s = getenv("SHMAP_SOAK");
	return s && *s && *s != '0';
}

/* `ci` iterations normally, `soak` with SHMAP_SOAK=1; SHMAP_TT_ITERS overrides. */
static inline unsigned tt_iters(unsigned ci, unsigned soak)
{
	const char *s = getenv("SHMAP_TT_ITERS");
	if (s && *s)
		return (unsigned)strtoul(s, NULL, 10);
	return tt_soak() ? soak : ci;
}

/*
 * True when built with a sanitizer: process teardown (and so the moment the
 * kernel drops a dead process's locks) is much slower there, because the
 * shadow mappings are unmapped first. Latency thresholds scale with this.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TT_SANITIZED 1
#endif
#endif
#ifndef TT_SANITIZED
#define TT_SANITIZED 0
#endif

/* Small deterministic PRNG (xorshift64*) for tests; seed it from the clock and print the seed. */
static inline uint64_t tt_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ------------------------------------------------------------------ */
/* fork harness                                                        */

struct tt_proc {
	pid_t pid;
	int ack_rd;   /* parent reads the child's acks here */
	int status;   /* waitpid status after tt_wait; -1 = watchdog killed it */
};

/*
 * In a forked child: restore default actions for crash signals, so a fault
 * kills the child visibly instead of entering the test framework's handler.
 */
static inline void tt_default_signals(void)
{
	const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
}

/* Children spawned and not yet waited for: tt_teardown kills them, so a
 * failed assertion never leaves a worker (or a pipe writer) behind. */
#define TT_MAX_LIVE 256
static pid_t tt_live[TT_MAX_LIVE];

static inline void tt__track(pid_t pid, bool add)
{
	for (int i = 0; i < TT_MAX_LIVE; i++) {
		if (add ? tt_live[i] == 0 : tt_live[i] == pid) {
			tt_live[i] = add ? pid : 0;
			return;
		}
	}
}

/* Kill and reap every tracked child (SIGKILL). */
static inline void tt_kill_all(void)
{
	for (int i = 0; i < TT_MAX_LIVE; i++) {
		if (tt_live[i] > 0) {
			kill(tt_live[i], SIGKILL);
			waitpid(tt_live[i], NULL, 0);
			tt_live[i] = 0;
		}
	}
}

/* In the child: the write end of its ack pipe (tt_spawn sets it). */
static int tt_ack_fd = -1;

/* Child side: acknowledge a completed call (value v) to the parent. */
static inline int tt_ack(uint64_t v)
{
	return th_ack(tt_ack_fd, v);
}

/*
 * Fork a child running fn(arg) with an ack pipe and an alarm() watchdog of
 * `watchdog_s` seconds. The child exits with fn's return value.
 * Returns 0, or -1 if fork/pipe failed.
 */
static inline int tt_spawn(struct tt_proc *p, int (*fn)(void *), void *arg, unsigned watchdog_s)
{
	int fds[2];
	p->pid = -1;
	p->ack_rd = -1;
	p->status = 0;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		memset(tt_live, 0, sizeof tt_live); /* not our children */
		tt_ack_fd = fds[1];
		tt_default_signals();
		alarm(watchdog_s);
		_exit(fn(arg) & 0xff);
	}
	close(fds[1]);
	tt__track(pid, true);
	p->pid = pid;
	p->ack_rd = fds[0];
	p->status = 0;
	return 0;
}

/*
 * Parent side: read one ack within timeout_ms. 0 = got it (*v set),
 * -1 = EOF (the child exited or died before acking), -2 = timeout.
 */
static inline int tt_read_ack(struct tt_proc *p, uint64_t *v, int timeout_ms)
{
	struct pollfd pfd = { .fd = p->ack_rd, .events = POLLIN };
	int r;
	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return -2;
	return th_read_ack(p->ack_rd, v);
}

/* Wait for the child (watchdog: SIGKILL after timeout_s, status -1). Closes the ack pipe. */
static inline int tt_wait(struct tt_proc *p, double timeout_s)
{
	p->status = th_wait(p->pid, timeout_s);
	tt__track(p->pid, false);
	if (p->ack_rd >= 0)
		close(p->ack_rd);
	p->ack_rd = -1;
	return p->status;
}

static inline bool tt_killed_by(int st, int sig)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

/* Describe a waitpid status for failure messages. */
static inline const char *tt_status_str(int st, char *buf, size_t len)
{
	if (st == -1)
		snprintf(buf, len, "hung (watchdog)");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "status 0x%x", st);
	return buf;
}

/* ------------------------------------------------------------------ */
/* kill at failpoint k                                                 */

/* Outcome of tt_kill_at. */
enum { TT_KILLED = 0, TT_EXITED = 1, TT_OTHER_SIGNAL = 2, TT_HUNG = 3 };

struct tt_fp_ctx {
	const char *fp;
	unsigned nth;
	int (*fn)(void *);
	void *arg;
};

static inline int tt__fp_child(void *a)
{
	struct tt_fp_ctx *c = a;
	if (c->fp) {
		char buf[160];
		snprintf(buf, sizeof buf, "%s:%u", c->fp, c->nth ? c->nth : 1u);
		setenv("SHMAP_FAILPOINT", buf, 1);
	} else {
		unsetenv("SHMAP_FAILPOINT");
	}
	return c->fn(c->arg);
}

/*
 * Run fn(arg) in a child whose SHMAP_FAILPOINT is "fp:nth" (fp NULL: no
 * failpoint), linked against the failpoint copy of the library. Optionally
 * (delay_us > 0) SIGKILL the child after that many microseconds as well.
 * Returns TT_KILLED (died of SIGKILL), TT_EXITED (*exit_code set),
 * TT_OTHER_SIGNAL (e.g. SIGSEGV/SIGBUS: always a bug) or TT_HUNG.
 * If `out` is non-NULL the child's process record is copied there (its ack
 * pipe is already closed).
 */
static inline int tt_kill_at(const char *fp, unsigned nth, int (*fn)(void *), void *arg,
			     unsigned delay_us, double timeout_s, int *exit_code)
{
	struct tt_fp_ctx c = { fp, nth, fn, arg };
	struct tt_proc p = { -1, -1, 0 };
	if (tt_spawn(&p, tt__fp_child, &c, (unsigned)timeout_s + 2u) != 0)
		return TT_HUNG;
	if (delay_us) {
		usleep(delay_us);
		kill(p.pid, SIGKILL);
	}
	int st = tt_wait(&p, timeout_s);
	if (st == -1)
		return TT_HUNG;
	if (WIFEXITED(st)) {
		if (exit_code)
			*exit_code = WEXITSTATUS(st);
		return TT_EXITED;
	}
	if (tt_killed_by(st, SIGKILL))
		return TT_KILLED;
	return TT_OTHER_SIGNAL;
}

/* ------------------------------------------------------------------ */
/* pipe barrier                                                        */

struct tt_barrier {
	int rd, wr;
};

static inline int tt_barrier_init(struct tt_barrier *b)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	b->rd = fds[0];
	b->wr = fds[1];
	return 0;
}

/* Child: drop the write end, then block until the parent releases everyone. */
static inline void tt_barrier_wait(struct tt_barrier *b)
{
	char c;
	close(b->wr);
	while (read(b->rd, &c, 1) < 0 && errno == EINTR)
		;
	close(b->rd);
}

/* Parent: release all waiting children at once (EOF on the pipe). */
static inline void tt_barrier_release(struct tt_barrier *b)
{
	close(b->wr);
	close(b->rd);
}

/* ------------------------------------------------------------------ */
/* value records                                                       */

/* A 32-bit check value of len bytes (the low half of XXH3-64). */
static inline uint32_t tt_sum32(const void *data, size_t len)
{
	return (uint32_t)XXH3_64bits(data, len);
}

/*
 * A self-checking record: {key or sequence number, version, payload, sum}.
 * The payload is derived from (key, version), so a reader can tell a torn
 * record (the sum fails), an invented one (payload does not match key/version),
 * and a lost one (expected key/seq missing).
 */
struct tt_rec {
	uint64_t key;
	uint64_t version;
	uint64_t payload[5];
	uint32_t sum; /* tt_sum32 of everything before it */
	uint32_t pad;
};

static inline void tt_rec_make(struct tt_rec *r, uint64_t key, uint64_t version)
{
	r->key = key;
	r->version = version;
	uint64_t s = key * 0x9e3779b97f4a7c15ull ^ version;
	for (int i = 0; i < 5; i++)
		r->payload[i] = tt_rand(&s);
	r->pad = 0;
	r->sum = tt_sum32(r, offsetof(struct tt_rec, sum));
}

/* 0 if intact; -1 torn (sum); -2 invented (payload does not derive from key/version). */
static inline int tt_rec_check(const struct tt_rec *r)
{
	if (r->sum != tt_sum32(r, offsetof(struct tt_rec, sum)))
		return -1;
	struct tt_rec x;
	tt_rec_make(&x, r->key, r->version);
	return memcmp(x.payload, r->payload, sizeof x.payload) == 0 ? 0 : -2;
}

/* ------------------------------------------------------------------ */
/* latency percentiles                                                 */

struct tt_lat {
	double *v;
	size_t n, cap;
};

static inline void tt_lat_add(struct tt_lat *l, double x)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		double *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = x;
}

static inline int tt__cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* q in [0, 1]: nearest-rank percentile (sorts the samples). */
static inline double tt_lat_pct(struct tt_lat *l, double q)
{
	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), tt__cmp_double);
	size_t i = (size_t)(q * (double)l->n);
	if (i >= l->n)
		i = l->n - 1;
	return l->v[i];
}

/* Print "label: n=.. p50=.. p99=.. max=.. unit" to stderr. */
static inline void tt_lat_report(struct tt_lat *l, const char *label, const char *unit, double scale)
{
	fprintf(stderr, "# %s: n=%zu p50=%.3f p99=%.3f max=%.3f %s\n", label, l->n,
		tt_lat_pct(l, 0.50) * scale, tt_lat_pct(l, 0.99) * scale, tt_lat_pct(l, 1.0) * scale,
		unit);
}

static inline void tt_lat_free(struct tt_lat *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* ------------------------------------------------------------------ */
/* leaks, content hashes, privileges                                   */

/* Number of /dev/shm entries whose name starts with prefix (without the leading '/'). */
static inline int tt_count_shm(const char *prefix)
{
	DIR *d = opendir("/dev/shm");
	if (!d)
		return -1;
	int n = 0;
	size_t pl = strlen(prefix);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strncmp(e->d_name, prefix, pl) == 0)
			n++;
	closedir(d);
	return n;
}

/*
 * Unlink every /dev/shm entry named by th_name() in process `pid`
 * ("shmap-t-<tag>-<pid>-<n>"): a teardown that also runs after a failed
 * assertion skipped a test's own unlink. Returns how many were removed.
 */
static inline int tt_cleanup_pid(pid_t pid)
{
	DIR *d = opendir("/dev/shm");
	if (!d)
		return -1;
	char mid[32];
	snprintf(mid, sizeof mid, "-%d-", (int)pid);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "shmap-t-", 8) != 0 || !strstr(e->d_name + 8, mid))
			continue;
		char path[300];
		snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
		if (unlink(path) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* cmocka-compatible teardown: remove this process's leftover test segments. */
static inline int tt_teardown(void **state)
{
	(void)state;
	tt_kill_all();
	tt_cleanup_pid(getpid());
	return 0;
}

/* Number of open descriptors of this process. */
static inline int tt_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* XXH3-64 of a file's whole content, read with pread (the offset does not
 * move), mixed with its length. */
static inline uint64_t tt_hash_fd(int fd)
{
	XXH3_state_t st;
	uint8_t buf[8192];
	off_t off = 0;
	XXH3_64bits_reset(&st);
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof buf, off);
		if (n <= 0)
			break;
		XXH3_64bits_update(&st, buf, (size_t)n);
		off += n;
	}
	return XXH3_64bits_digest(&st) ^ (uint64_t)off;
}

/* Hash of a path's content (O_NOFOLLOW: a symlink hashes as 0). */
static inline uint64_t tt_hash_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint64_t h = tt_hash_fd(fd);
	close(fd);
	return h;
}

/* In a forked child: become uid/gid (no supplementary groups). 0 ok, -1 failed. */
static inline int tt_become(uid_t uid, gid_t gid)
{
	if (geteuid() != 0)
		return geteuid() == uid ? 0 : -1;
	if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
		return -1;
	return geteuid() == uid ? 0 : -1;
}

/*
 * Guard-page check: run fn(arg) in a child and require that it dies of
 * SIGSEGV or SIGBUS (true). A normal exit or another death is false.
 */
struct tt__fault_ctx {
	int (*fn)(void *);
	void *arg;
};

static inline int tt__fault_child(void *a)
{
	struct tt__fault_ctx *c = a;
	tt_default_signals();
	return c->fn(c->arg);
}

static inline bool tt_expect_fault(int (*fn)(void *), void *arg)
{
	struct tt__fault_ctx c = { fn, arg };
	pid_t pid = th_fork(tt__fault_child, &c, 10);
	if (pid < 0)
		return false;
	int st = th_wait(pid, 10.0);
	return tt_killed_by(st, SIGSEGV) || tt_killed_by(st, SIGBUS);
}

/*
 * A private buffer of `len` bytes placed so that buf[len] is the first byte
 * of a PROT_NONE page (and a PROT_NONE page precedes the mapping): give it to
 * a call as its output or input buffer and any overrun faults at once.
 * Returns NULL on failure. Free with tt_guard_free(buf, len).
 */
static inline void *tt_guard_alloc(size_t len)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (len + pg - 1) / pg * pg;
	if (body == 0)
		body = pg;
	uint8_t *m = mmap(NULL, body + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m + pg, body, PROT_READ | PROT_WRITE) != 0) {
		munmap(m, body + 2 * pg);
		return NULL;
	}
	return m + pg + (body - len);
}

static inline void tt_guard_free(void *buf, size_t len)
{
	if (!buf)
		return;
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (len + pg - 1) / pg * pg;
	if (body == 0)
		body = pg;
	uint8_t *m = (uint8_t *)buf - (body - len) - pg;
	munmap(m, body + 2 * pg);
}

#endif /* SHMAP_TEST_TORTURE_H */
