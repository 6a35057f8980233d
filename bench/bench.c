/* SPDX-License-Identifier: MIT */
/*
 * bench.c - shmap-bench: option parsing, the per-run process harness (fork,
 * CPU pinning, pipe + spin barriers, watchdog, floor-rtt probes), the
 * aggregation over --runs with probe-level grouping, and the output (one
 * aligned table, or one JSON object per line), plus the bars of BENCH.md.
 *
 * Timing: every child stamps CLOCK_MONOTONIC when its timed part starts and
 * ends; a throughput is the total count over max(end) - min(start). Per
 * sample latencies use the TSC on x86-64 (calibrated once at start-up
 * against CLOCK_MONOTONIC), elsewhere CLOCK_MONOTONIC.
 *
 * Probe levels: on shared virtual machines the cost of moving one cache
 * line between two CPUs sits at a few discrete levels. Every cross-process
 * run measures a floor-rtt probe (children 0 and 1 ping-pong one shared
 * cache line) right before and right after its timed part; a run's level is
 * the mean of the two. With --runs, runs are grouped into levels (sorted,
 * a new level starts where a value exceeds the level's lowest by more than
 * 25%) and the figures are the median/min/max over the most populated
 * level (ties: the lowest); all levels are reported with their run counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "atomic.h"
#include "bench.h"

#define PROBE_N 4096u          /* round trips per probe */
#define LEVEL_TOL 1.25         /* runs within 25% share a probe level */

static int g_single_cpu;
static double g_ns_per_tick = 1.0;
static int g_use_tsc;
static double g_timer_ns;

/* ------------------------------------------------------------------ */
/* small helpers */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_ticks(void)
{
#if defined(__x86_64__)
	if (g_use_tsc) {
		unsigned aux;
		return __rdtscp(&aux);
	}
#endif
	return now_ns();
}

double bench_ticks_to_ns(uint64_t ticks)
{
	return (double)ticks * g_ns_per_tick;
}

static void calibrate_ticks(void)
{
#if defined(__x86_64__)
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int constant = 0, nonstop = 0;
	if (f) {
		while (fgets(line, sizeof line, f)) {
			if (strncmp(line, "flags", 5) == 0) {
				constant = strstr(line, " constant_tsc") != NULL;
				nonstop = strstr(line, " nonstop_tsc") != NULL;
				break;
			}
		}
		fclose(f);
	}
	if (!constant || !nonstop)
		return;
	uint64_t t0 = now_ns(), c0 = __rdtsc();
	struct timespec d = { 0, 20 * 1000 * 1000 };
	nanosleep(&d, NULL);
	uint64_t t1 = now_ns(), c1 = __rdtsc();
	if (c1 <= c0 || t1 <= t0)
		return;
	g_ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
	g_use_tsc = 1;
#endif
	/* the cost of one timestamp: the median of back-to-back differences */
	double dt[1001];
	for (int i = 0; i < 1001; i++) {
		uint64_t a = bench_ticks();
		dt[i] = bench_ticks_to_ns(bench_ticks() - a);
	}
	bench_sort(dt, 1001);
	g_timer_ns = dt[500];
}

uint64_t bench_mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

void bench_relax(unsigned *spins)
{
	shmap_cpu_relax();
	if (g_single_cpu && (++*spins & 255u) == 0)
		sched_yield();
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void bench_sort(double *a, size_t n)
{
	qsort(a, n, sizeof *a, cmp_double);
}

double bench_pct(const double *s, size_t n, double p)
{
	if (n == 0)
		return 0;
	double pos = p * (double)(n - 1);
	size_t i = (size_t)pos;
	if (i + 1 >= n)
		return s[n - 1];
	double f = pos - (double)i;
	return s[i] * (1 - f) + s[i + 1] * f;
}

int bench_fail(struct bench_run *r, const char *fmt, ...)
{
	struct bench_slot *s = &r->ctl->slot[r->self];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	if (s->err[0] == 0)
		strcpy(s->err, "failed");
	fprintf(stderr, "shmap-bench: %s: process %d: FAILED: %s\n", r->wl->name, r->self, s->err);
	return 1;
}

void bench_metric(struct bench_run *r, const char *name, double value)
{
	if (r->nm < BENCH_MAX_METRICS) {
		r->m[r->nm].name = name;
		r->m[r->nm].value = value;
		r->nm++;
	}
}

double bench_span_s(struct bench_run *r, int a, int b)
{
	uint64_t s = UINT64_MAX, e = 0;
	for (int i = a; i < b; i++) {
		if (r->ctl->slot[i].t_start < s)
			s = r->ctl->slot[i].t_start;
		if (r->ctl->slot[i].t_end > e)
			e = r->ctl->slot[i].t_end;
	}
	return e > s ? (double)(e - s) * 1e-9 : 1e-9;
}

int bench_shm_create(const char *name, size_t len)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		fprintf(stderr, "shmap-bench: shm_open(%s): %s\n", name, strerror(errno));
		return -1;
	}
	int rc = posix_fallocate(fd, 0, (off_t)len);
	close(fd);
	if (rc != 0) {
		fprintf(stderr, "shmap-bench: posix_fallocate(%s): %s\n", name, strerror(rc));
		shm_unlink(name);
		return -1;
	}
	return 0;
}

void *bench_shm_map(const char *name, size_t len)
{
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0)
		return NULL;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

void bench_shm_unlink(const char *name)
{
	shm_unlink(name);
}

/* ------------------------------------------------------------------ */
/* barriers and the ping-pong */

void bench_barrier(struct bench_run *r)
{
	struct bench_ctl *c = r->ctl;
	uint64_t gen = shmap_atomic_load_acquire_u64(&c->bar_gen);
	unsigned spins = 0;
	/* B1: full, the last arriver's release of bar_gen pairs with B2 */
	if (shmap_atomic_fetch_add_full_u64(&c->bar_count, 1) == (uint64_t)r->nprocs - 1) {
		shmap_atomic_store_u64(&c->bar_count, 0);
		shmap_atomic_store_release_u64(&c->bar_gen, gen + 1);
		return;
	}
	/* B2: acquire, pairs with the release above */
	while (shmap_atomic_load_acquire_u64(&c->bar_gen) == gen)
		bench_relax(&spins);
}

double bench_timer_ns(void)
{
	return g_timer_ns;
}

double bench_pingpong2(volatile uint64_t *ping, volatile uint64_t *pong, int idx, uint64_t n,
		       double *samples)
{
	unsigned spins = 0;
	if (idx == 1) {
		for (uint64_t i = 0; i < n; i++) {
			while (shmap_atomic_load_acquire_u64(ping) != 2 * i + 1)
				bench_relax(&spins);
			shmap_atomic_store_release_u64(pong, 2 * i + 2);
		}
		return 0;
	}
	if (samples) {
		/* one timestamp per round trip, chained: each sample includes one timestamp read */
		uint64_t tp = bench_ticks();
		for (uint64_t i = 0; i < n; i++) {
			shmap_atomic_store_release_u64(ping, 2 * i + 1);
			while (shmap_atomic_load_acquire_u64(pong) != 2 * i + 2)
				bench_relax(&spins);
			uint64_t t = bench_ticks();
			samples[i] = bench_ticks_to_ns(t - tp);
			tp = t;
		}
		return 0;
	}
	size_t nb = (size_t)(n / BENCH_RTT_BLOCK);
	double *blocks = calloc(nb ? nb : 1, sizeof *blocks);
	uint64_t tb = bench_ticks();
	for (uint64_t i = 0; i < n; i++) {
		shmap_atomic_store_release_u64(ping, 2 * i + 1);
		while (shmap_atomic_load_acquire_u64(pong) != 2 * i + 2)
			bench_relax(&spins);
		if ((i + 1) % BENCH_RTT_BLOCK == 0) {
			uint64_t t = bench_ticks();
			size_t b = (size_t)((i + 1) / BENCH_RTT_BLOCK - 1);
			if (blocks && b < nb)
				blocks[b] = bench_ticks_to_ns(t - tb) / BENCH_RTT_BLOCK;
			tb = t;
		}
	}
	double med = 0;
	if (blocks && nb) {
		bench_sort(blocks, nb);
		med = bench_pct(blocks, nb, 0.5);
	}
	free(blocks);
	return med;
}

double bench_pingpong(volatile uint64_t *line, int idx, uint64_t n, double *samples)
{
	return bench_pingpong2(line, line, idx, n, samples);
}

static void probe(struct bench_run *r, int which)
{
	if (!r->wl->cross || r->nprocs < 2 || r->self > 1)
		return;
	double v = bench_pingpong(r->ctl->probe_line[which], r->self, PROBE_N, NULL);
	if (r->self == 0) {
		if (which == 0)
			r->ctl->slot[0].probe_pre = v;
		else
			r->ctl->slot[0].probe_post = v;
	}
}

void bench_start(struct bench_run *r)
{
	char b = 'r';
	if (write(r->ready_w, &b, 1) != 1)
		_exit(3);
	if (read(r->go_r, &b, 1) != 1)
		_exit(3);
	bench_barrier(r);
	probe(r, 0);
	bench_barrier(r);
	r->ctl->slot[r->self].t_start = now_ns();
}

void bench_stop(struct bench_run *r)
{
	r->ctl->slot[r->self].t_end = now_ns();
	bench_barrier(r);
	probe(r, 1);
}

/* ------------------------------------------------------------------ */
/* one run of one workload */

struct run_result {
	int ok;
	double probe;           /* 0: no probe */
	int nm;
	struct bench_metric m[BENCH_MAX_METRICS];
	char params[256];
};

static unsigned g_seg_counter;
static unsigned run_index_for_warning;
static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

static void kill_all(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		if (pids[i] > 0) {
			waitpid(pids[i], NULL, 0);
			pids[i] = 0;
		}
}

static int pin_to(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

static void describe_status(const char *wl, int idx, int st, const char *err)
{
	if (WIFSIGNALED(st))
		fprintf(stderr, "shmap-bench: %s: process %d killed by signal %d (%s)%s%s\n", wl, idx,
			WTERMSIG(st), strsignal(WTERMSIG(st)),
			WTERMSIG(st) == SIGALRM ? ": watchdog, it hung" : "", err[0] ? "" : "");
	else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		fprintf(stderr, "shmap-bench: %s: process %d exited with status %d%s%s\n", wl, idx,
			WEXITSTATUS(st), err[0] ? ": " : "", err);
}

static int run_once(const struct bench_wl *wl, const struct bench_opts *o, struct run_result *out)
{
	struct bench_run r;
	memset(&r, 0, sizeof r);
	memset(out, 0, sizeof *out);
	r.wl = wl;
	r.o = o;
	r.nprocs = wl->nprocs ? wl->nprocs(o) : 1;
	if (r.nprocs < 1 || r.nprocs > BENCH_MAX_PROCS)
		r.nprocs = 1;
	for (int i = 0; i < 3; i++)
		snprintf(r.seg[i], sizeof r.seg[i], "/shmap-bench-%d-%u-%d", (int)getpid(),
			 g_seg_counter, i);
	run_index_for_warning = g_seg_counter;
	g_seg_counter++;

	r.extra_len = wl->extra_bytes ? wl->extra_bytes(&r) : 0;
	size_t ctl_len = (sizeof(struct bench_ctl) + 4095) & ~(size_t)4095;
	size_t total = ctl_len + ((r.extra_len + 4095) & ~(size_t)4095);
	void *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "shmap-bench: %s: mmap of %zu bytes: %s\n", wl->name, total,
			strerror(errno));
		return -1;
	}
	r.ctl = map;
	r.extra = r.extra_len ? (char *)map + ctl_len : NULL;

	int rc = -1;
	pid_t pids[BENCH_MAX_PROCS] = { 0 };
	int ready[2] = { -1, -1 }, go[2] = { -1, -1 };
	int started = 0;

	if (wl->prepare && wl->prepare(&r) != 0) {
		fprintf(stderr, "shmap-bench: %s: FAILED in setup\n", wl->name);
		goto out;
	}
	if (pipe(ready) != 0 || pipe(go) != 0) {
		fprintf(stderr, "shmap-bench: pipe: %s\n", strerror(errno));
		goto out;
	}
	/* watchdog: generous, the run sizes aim at well under a second each */
	unsigned watchdog_s = o->quick ? 60 : 240;
	fflush(NULL);
	for (int i = 0; i < r.nprocs; i++) {
		pid_t p = fork();
		if (p < 0) {
			fprintf(stderr, "shmap-bench: fork: %s\n", strerror(errno));
			kill_all(pids, i);
			goto out;
		}
		if (p == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			signal(SIGINT, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			alarm(watchdog_s);
			close(ready[0]);
			close(go[1]);
			r.ready_w = ready[1];
			r.go_r = go[0];
			r.self = i;
			if (o->ncpu > 1)
				pin_to(o->cpus[i % o->ncpu]);
			if (o->rt && o->ncpu > 1) {
				/* --rt: shield the pinned children from other load; the
				 * kernel's RT throttling still leaves 5% to the rest */
				struct sched_param sp = { .sched_priority = 1 };
				if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0 && i == 0 &&
				    run_index_for_warning == 0)
					fprintf(stderr, "shmap-bench: --rt: SCHED_FIFO refused (%s); "
							"running at normal priority\n", strerror(errno));
			}
			int crc = wl->child(&r, i);
			if (crc != 0 && r.ctl->slot[i].err[0] == 0)
				snprintf(r.ctl->slot[i].err, sizeof r.ctl->slot[i].err,
					 "failed (code %d)", crc);
			_exit(crc != 0 || r.ctl->slot[i].err[0] ? 2 : 0);
		}
		pids[i] = p;
	}
	close(ready[1]);
	ready[1] = -1;
	close(go[0]);
	go[0] = -1;

	/* wait for every child to be ready, noticing early deaths */
	uint64_t deadline = now_ns() + (uint64_t)watchdog_s * 1000000000u;
	int nready = 0, failed = 0;
	while (nready < r.nprocs && !failed) {
		struct pollfd pfd = { .fd = ready[0], .events = POLLIN };
		int pr = poll(&pfd, 1, 20);
		if (pr > 0) {
			char buf[BENCH_MAX_PROCS];
			ssize_t got = read(ready[0], buf, (size_t)(r.nprocs - nready));
			if (got > 0)
				nready += (int)got;
			else if (got == 0)
				failed = 1;
		}
		for (int i = 0; i < r.nprocs && !failed; i++) {
			int st;
			if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				pids[i] = 0;
				describe_status(wl->name, i, st, r.ctl->slot[i].err);
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
					failed = 1;
			}
		}
		if (now_ns() > deadline || g_interrupted) {
			fprintf(stderr, "shmap-bench: %s: children not ready in time\n", wl->name);
			failed = 1;
		}
	}
	if (failed) {
		fprintf(stderr, "shmap-bench: %s: FAILED before the timed part\n", wl->name);
		kill_all(pids, r.nprocs);
		goto out;
	}
	{
		char buf[BENCH_MAX_PROCS];
		memset(buf, 'g', sizeof buf);
		if (write(go[1], buf, (size_t)r.nprocs) != r.nprocs) {
			kill_all(pids, r.nprocs);
			goto out;
		}
	}
	started = 1;

	/* wait for all children; the first failure kills the rest */
	int alive = r.nprocs;
	for (int i = 0; i < r.nprocs; i++)
		if (pids[i] == 0)
			alive--;
	while (alive > 0) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p > 0) {
			int idx = -1;
			for (int i = 0; i < r.nprocs; i++)
				if (pids[i] == p)
					idx = i;
			if (idx < 0)
				continue;
			pids[idx] = 0;
			alive--;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				describe_status(wl->name, idx, st, r.ctl->slot[idx].err);
				failed = 1;
				kill_all(pids, r.nprocs);
				break;
			}
			continue;
		}
		if (now_ns() > deadline || g_interrupted) {
			fprintf(stderr, "shmap-bench: %s: watchdog: %d process(es) still running after %u s, "
					"killing them\n", wl->name, alive, watchdog_s);
			failed = 1;
			kill_all(pids, r.nprocs);
			break;
		}
		struct timespec d = { 0, 2 * 1000 * 1000 };
		nanosleep(&d, NULL);
	}
	if (failed)
		goto out;
	for (int i = 0; i < r.nprocs; i++)
		if (r.ctl->slot[i].err[0]) {
			fprintf(stderr, "shmap-bench: %s: process %d: %s\n", wl->name, i,
				r.ctl->slot[i].err);
			failed = 1;
		}
	if (failed)
		goto out;
	if (wl->finish && wl->finish(&r) != 0) {
		fprintf(stderr, "shmap-bench: %s: FAILED verification\n", wl->name);
		goto out;
	}
	out->ok = 1;
	if (wl->cross && r.nprocs >= 2)
		out->probe = (r.ctl->slot[0].probe_pre + r.ctl->slot[0].probe_post) / 2;
	out->nm = r.nm;
	memcpy(out->m, r.m, sizeof r.m);
	memcpy(out->params, r.params, sizeof out->params);
	rc = 0;
out:
	(void)started;
	if (wl->cleanup)
		wl->cleanup(&r);
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (go[i] >= 0)
			close(go[i]);
	}
	munmap(map, total);
	return rc;
}

/* ------------------------------------------------------------------ */
/* workload registry and selection */

#define MAX_WL 128
static const struct bench_wl *g_all[MAX_WL];
static int g_nall;

#ifndef BENCH_HAVE_CK
static const struct bench_wl g_missing_ck[] = {
	{ .name = "spsc-8-ck", .group = "competitor",
	  .unavailable = "competitor not available (built without Concurrency Kit, libck-dev)" },
	{ .name = "spsc-64-ck", .group = "competitor",
	  .unavailable = "competitor not available (built without Concurrency Kit, libck-dev)" },
	{ .name = "spsc-batch-8-ck", .group = "competitor",
	  .unavailable = "competitor not available (built without Concurrency Kit, libck-dev)" },
	{ .name = "spsc-256-ck", .group = "competitor",
	  .unavailable = "competitor not available (built without Concurrency Kit, libck-dev)" },
	{ .name = "spsc-1024-ck", .group = "competitor",
	  .unavailable = "competitor not available (built without Concurrency Kit, libck-dev)" },
	{ .name = "spsc-4096-ck", .group = "competitor",
	  .unavailable = "competitor not available (built without Concurrency Kit, libck-dev)" },
	{ 0 }
};
#endif
#ifndef BENCH_HAVE_BOOST
static const struct bench_wl g_missing_boost[] = {
	{ .name = "spsc-8-boost", .group = "competitor",
	  .unavailable = "competitor not available (built without a C++ compiler or Boost.Lockfree)" },
	{ .name = "spsc-64-boost", .group = "competitor",
	  .unavailable = "competitor not available (built without a C++ compiler or Boost.Lockfree)" },
	{ .name = "spsc-batch-8-boost", .group = "competitor",
	  .unavailable = "competitor not available (built without a C++ compiler or Boost.Lockfree)" },
	{ .name = "spsc-256-boost", .group = "competitor",
	  .unavailable = "competitor not available (built without a C++ compiler or Boost.Lockfree)" },
	{ .name = "spsc-1024-boost", .group = "competitor",
	  .unavailable = "competitor not available (built without a C++ compiler or Boost.Lockfree)" },
	{ .name = "spsc-4096-boost", .group = "competitor",
	  .unavailable = "competitor not available (built without a C++ compiler or Boost.Lockfree)" },
	{ 0 }
};
#endif

static void add_table(const struct bench_wl *t)
{
	for (; t && t->name; t++)
		if (g_nall < MAX_WL)
			g_all[g_nall++] = t;
}

/* The display order: baselines next to what they bound. */
static const char *const g_order[] = {
	"floor-rtt", "spsc-rtt",
	"spsc-8", "spsc-8-ck", "spsc-8-boost",
	"spsc-64", "spsc-64-ck", "spsc-64-boost", "uds-64",
	"spsc-256", "spsc-256-ck", "spsc-256-boost",
	"spsc-1024", "spsc-1024-ck", "spsc-1024-boost",
	"spsc-4096", "spsc-4096-ck", "spsc-4096-boost", "uds-4096",
	"spsc-batch-8", "spsc-batch-8-ck", "spsc-batch-8-boost",
	"spmc-8", "broadcast-8", "spsc-notify",
	"spsc-var-small", "spsc-fixed-var-small", "seqpacket-var-small",
	"spsc-var-large", "spsc-fixed-var-large", "seqpacket-var-large",
	"table-baseline", "table-get", "table-get-2p", "table-mixed", "table-churn",
	"table-baseline-var", "table-get-var",
	"vector-push",
	NULL
};

static int order_of(const char *name)
{
	for (int i = 0; g_order[i]; i++)
		if (strcmp(g_order[i], name) == 0)
			return i;
	return 1000;
}

static int cmp_wl(const void *a, const void *b)
{
	const struct bench_wl *x = *(const struct bench_wl *const *)a;
	const struct bench_wl *y = *(const struct bench_wl *const *)b;
	int ox = order_of(x->name), oy = order_of(y->name);
	if (ox != oy)
		return ox - oy;
	return strcmp(x->variant ? x->variant : "", y->variant ? y->variant : "");
}

static void register_all(void)
{
	add_table(bench_wl_base);
#ifdef BENCH_HAVE_RING
	add_table(bench_wl_ring);
	add_table(bench_wl_notify);
	add_table(bench_wl_msg);
	add_table(bench_wl_pool);
#endif
	add_table(bench_wl_uds);
#ifdef BENCH_HAVE_CK
	add_table(bench_wl_ck);
#else
	add_table(g_missing_ck);
#endif
#ifdef BENCH_HAVE_BOOST
	add_table(bench_wl_boost);
#else
	add_table(g_missing_boost);
#endif
#ifdef BENCH_HAVE_TABLE
	add_table(bench_wl_table);
#endif
#ifdef BENCH_HAVE_VECTOR
	add_table(bench_wl_vector);
#endif
#ifdef BENCH_HAVE_REC
	add_table(bench_wl_rec);
#endif
	qsort(g_all, (size_t)g_nall, sizeof g_all[0], cmp_wl);
}

static void full_name(const struct bench_wl *w, char *buf, size_t len)
{
	if (w->variant)
		snprintf(buf, len, "%s-%s", w->name, w->variant);
	else
		snprintf(buf, len, "%s", w->name);
}

/* ------------------------------------------------------------------ */
/* aggregation */

struct agg {
	const struct bench_wl *wl;
	struct run_result *res;   /* [runs] */
	int nres;
	int failed;
	/* chosen level */
	int *use;                 /* [runs] 1: run is at the chosen level */
	int nuse;
	double probe;             /* median probe of the chosen level */
	int nlevels;
	double level_ns[64];
	int level_runs[64];
	char params[256];
};

static double median_of(double *v, int n, double *mn, double *mx)
{
	bench_sort(v, (size_t)n);
	if (mn)
		*mn = v[0];
	if (mx)
		*mx = v[n - 1];
	return bench_pct(v, (size_t)n, 0.5);
}

static void choose_level(struct agg *a)
{
	int n = a->nres;
	a->nuse = 0;
	a->nlevels = 0;
	if (n == 0)
		return;
	if (a->res[0].probe <= 0) {
		for (int i = 0; i < n; i++)
			a->use[i] = 1;
		a->nuse = n;
		return;
	}
	/* sort run indices by probe */
	int idx[256];
	for (int i = 0; i < n; i++)
		idx[i] = i;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && a->res[idx[j - 1]].probe > a->res[idx[j]].probe; j--) {
			int t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	int start[64], len[64], nl = 0;
	for (int i = 0; i < n; i++) {
		if (nl == 0 || a->res[idx[i]].probe > a->res[idx[start[nl - 1]]].probe * LEVEL_TOL) {
			if (nl == 64)
				break;
			start[nl] = i;
			len[nl] = 0;
			nl++;
		}
		len[nl - 1]++;
	}
	int best = 0;
	for (int l = 1; l < nl; l++)
		if (len[l] > len[best])
			best = l;
	for (int l = 0; l < nl; l++) {
		double v[256];
		for (int k = 0; k < len[l]; k++)
			v[k] = a->res[idx[start[l] + k]].probe;
		a->level_ns[l] = median_of(v, len[l], NULL, NULL);
		a->level_runs[l] = len[l];
	}
	a->nlevels = nl;
	for (int i = 0; i < n; i++)
		a->use[i] = 0;
	for (int k = 0; k < len[best]; k++)
		a->use[idx[start[best] + k]] = 1;
	a->nuse = len[best];
	a->probe = a->level_ns[best];
}

/* median/min/max of metric `name` over the chosen runs; 0 if absent */
static int agg_metric(const struct agg *a, const char *name, double *med, double *mn, double *mx)
{
	double v[256];
	int k = 0;
	for (int i = 0; i < a->nres; i++) {
		if (!a->use[i])
			continue;
		for (int j = 0; j < a->res[i].nm; j++)
			if (strcmp(a->res[i].m[j].name, name) == 0)
				v[k++] = a->res[i].m[j].value;
	}
	if (k == 0)
		return 0;
	*med = median_of(v, k, mn, mx);
	return 1;
}

static struct agg *find_agg(struct agg *aggs, int n, const char *name, const char *variant)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(aggs[i].wl->name, name) != 0)
			continue;
		if ((variant == NULL) != (aggs[i].wl->variant == NULL))
			continue;
		if (variant && strcmp(variant, aggs[i].wl->variant) != 0)
			continue;
		return &aggs[i];
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* output */

static void fmt_num(char *buf, size_t len, double v)
{
	double a = fabs(v);
	if (a >= 1e9)
		snprintf(buf, len, "%.3gG", v / 1e9);
	else if (a >= 1e6)
		snprintf(buf, len, "%.3gM", v / 1e6);
	else if (a >= 1e4)
		snprintf(buf, len, "%.3gk", v / 1e3);
	else if (a >= 100 || v == floor(v))
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

static void machine(char *model, size_t mlen, char *kernel, size_t klen)
{
	snprintf(model, mlen, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	if (f) {
		while (fgets(line, sizeof line, f)) {
			char *c = strchr(line, ':');
			if (strncmp(line, "model name", 10) == 0 && c) {
				c++;
				while (*c == ' ' || *c == '\t')
					c++;
				c[strcspn(c, "\n\"\\")] = 0;
				snprintf(model, mlen, "%.100s", c);
				break;
			}
		}
		fclose(f);
	}
	snprintf(kernel, klen, "unknown");
	f = fopen("/proc/sys/kernel/osrelease", "r");
	if (f) {
		if (fgets(line, sizeof line, f)) {
			line[strcspn(line, "\n\"\\")] = 0;
			snprintf(kernel, klen, "%.100s", line);
		}
		fclose(f);
	}
}

static void print_json(struct agg *aggs, int n, const struct bench_opts *o)
{
	char model[128], kernel[128];
	machine(model, sizeof model, kernel, sizeof kernel);
	printf("{\"machine\":{\"cpus\":%d,\"cpu_model\":\"%s\",\"kernel\":\"%s\",\"quick\":%s,"
	       "\"rt\":%s}}\n", o->ncpu, model, kernel, o->quick ? "true" : "false",
	       o->rt ? "true" : "false");
	for (int i = 0; i < n; i++) {
		struct agg *a = &aggs[i];
		const struct bench_wl *w = a->wl;
		if (w->unavailable) {
			printf("{\"workload\":\"%s\",\"available\":false,\"reason\":\"%s\"}\n", w->name,
			       w->unavailable);
			continue;
		}
		if (a->failed || a->nres == 0) {
			char fname[96];
			full_name(w, fname, sizeof fname);
			printf("{\"workload\":\"%s\",\"failed\":true,\"runs\":%d}\n", fname,
			       a->nres);
			continue;
		}
		const struct run_result *r0 = NULL;
		for (int k = 0; k < a->nres; k++)
			if (a->use[k]) {
				r0 = &a->res[k];
				break;
			}
		if (!r0)
			continue;
		for (int j = 0; j < r0->nm; j++) {
			double med, mn, mx;
			if (!agg_metric(a, r0->m[j].name, &med, &mn, &mx))
				continue;
			char name[96];
			if (w->variant_is_param)
				snprintf(name, sizeof name, "%s", w->name);
			else
				full_name(w, name, sizeof name);
			printf("{\"workload\":\"%s\",\"metric\":\"%s\",\"median\":%.6g,\"min\":%.6g,"
			       "\"max\":%.6g,\"runs\":%d", name, r0->m[j].name, med, mn, mx, a->nres);
			if (a->nlevels > 0) {
				printf(",\"runs_used\":%d,\"probe_ns\":%.1f,\"probe_levels\":[", a->nuse,
				       a->probe);
				for (int l = 0; l < a->nlevels; l++)
					printf("%s{\"ns\":%.1f,\"runs\":%d}", l ? "," : "",
					       a->level_ns[l], a->level_runs[l]);
				printf("]");
			}
			printf(",\"params\":{%s}}\n", r0->params);
		}
	}
}

struct bar {
	const char *text;
	double ratio;
	double target;
	int le;            /* 1: ratio must be <= target */
	int info;          /* 1: reported only (the bar's condition does not hold in this run) */
	int have;
	char note[320];
};

/* Paired ratio: median over runs r of ours_r / theirs_r, for runs where both
 * probes sit within LEVEL_TOL of each other, or where neither workload has a
 * probe (single-process workloads, whose k-th runs sit next to each other in
 * time); 0 if no such run. */
static double paired_ratio(struct agg *x, struct agg *y, const char *metric, int *npairs)
{
	double v[256];
	int k = 0;
	for (int i = 0; i < x->nres && i < y->nres; i++) {
		const struct run_result *a = &x->res[i], *b = &y->res[i];
		if (!a->ok || !b->ok || (a->probe <= 0) != (b->probe <= 0))
			continue;
		double hi = a->probe > b->probe ? a->probe : b->probe;
		double lo = a->probe > b->probe ? b->probe : a->probe;
		if (hi > lo * LEVEL_TOL)
			continue;
		double va = 0, vb = 0;
		for (int j = 0; j < a->nm; j++)
			if (strcmp(a->m[j].name, metric) == 0)
				va = a->m[j].value;
		for (int j = 0; j < b->nm; j++)
			if (strcmp(b->m[j].name, metric) == 0)
				vb = b->m[j].value;
		if (va > 0 && vb > 0)
			v[k++] = va / vb;
	}
	*npairs = k;
	return k ? median_of(v, k, NULL, NULL) : 0;
}

static int compute_bars(struct agg *aggs, int n, const struct bench_opts *o, struct bar *bars)
{
	int nb = 0;
	double a, b, mn, mx;
	struct agg *x, *y;

	x = find_agg(aggs, n, "table-get", NULL);
	y = find_agg(aggs, n, "table-baseline", NULL);
	/* BENCH.md: 0.8x with both tables far beyond any L3 (--keys 8000000);
	 * at smaller sizes the ratio is reported, not judged */
	bars[nb] = (struct bar){ .text = "table-get >= 0.8x table-baseline (--keys 8000000)",
				 .target = 0.8, .info = o->keys < 8000000 };
	if (x && y && agg_metric(x, "ops_per_s", &a, &mn, &mx) &&
	    agg_metric(y, "ops_per_s", &b, &mn, &mx)) {
		/* paired when every run has both: the k-th runs of the two
		 * sit next to each other, so a slow spell of the machine
		 * weighs on both sides of each ratio */
		int np;
		double pr = paired_ratio(x, y, "ops_per_s", &np);
		bars[nb].ratio = 2 * np >= x->nres ? pr : a / b;
		bars[nb].have = 1;
		int l = snprintf(bars[nb].note, sizeof bars[nb].note, "%s; medians %.3g / %.3g",
				 2 * np >= x->nres ? "paired" : "medians", a, b);
		/* informational: the same lookups through get_many() */
		struct agg *xb = find_agg(aggs, n, "table-get", "batch");
		double c;
		if (xb && !xb->failed && agg_metric(xb, "ops_per_s", &c, &mn, &mx)) {
			int npb;
			double prb = paired_ratio(xb, y, "ops_per_s", &npb);
			snprintf(bars[nb].note + l, sizeof bars[nb].note - (size_t)l,
				 "; table-get-batch (get_many) %.2fx table-baseline", 2 * npb >= xb->nres ? prb : c / b);
		}
	}
	nb++;

	x = find_agg(aggs, n, "table-get-2p", NULL);
	y = find_agg(aggs, n, "table-get", NULL);
	bars[nb] = (struct bar){ .text = "table-get-2p >= 1.8x table-get", .target = 1.8 };
	if (x && y && agg_metric(x, "ops_per_s", &a, &mn, &mx) &&
	    agg_metric(y, "ops_per_s", &b, &mn, &mx)) {
		bars[nb].ratio = a / b;
		bars[nb].have = 1;
		if (o->ncpu < 2)
			snprintf(bars[nb].note, sizeof bars[nb].note, "only 1 CPU: not applicable");
	}
	nb++;

	x = find_agg(aggs, n, "table-get-var", NULL);
	y = find_agg(aggs, n, "table-baseline-var", NULL);
	bars[nb] = (struct bar){ .text = "table-get-var allocates <= 2x its keys and values", .target = 2.0,
				 .le = 1 };
	if (x && agg_metric(x, "alloc_over_data", &a, &mn, &mx)) {
		bars[nb].ratio = a;
		bars[nb].have = 1;
		double c, d;
		if (y && agg_metric(y, "ops_per_s", &c, &mn, &mx) && agg_metric(x, "ops_per_s", &d, &mn, &mx) && c > 0) {
			int np;
			double pr = paired_ratio(x, y, "ops_per_s", &np);
			snprintf(bars[nb].note, sizeof bars[nb].note, "lookups %.3g/s, %.2fx table-baseline-var (%s)", d,
				 2 * np >= x->nres ? pr : d / c, 2 * np >= x->nres ? "paired" : "medians");
		}
	}
	nb++;

	/* BENCH.md: against the floor of any two-ring round trip (one line per
	 * direction); the one-line floor is reported beside it */
	x = find_agg(aggs, n, "spsc-rtt", NULL);
	y = find_agg(aggs, n, "floor-rtt", "2line");
	bars[nb] = (struct bar){ .text = "spsc-rtt median <= 1.2x floor-rtt-2line median",
				 .target = 1.2, .le = 1 };
	if (x && y && agg_metric(x, "rtt_ns", &a, &mn, &mx) && agg_metric(y, "rtt_ns", &b, &mn, &mx)) {
		int np;
		double pr = paired_ratio(x, y, "rtt_ns", &np);
		bars[nb].ratio = 2 * np >= x->nres ? pr : a / b;
		bars[nb].have = 1;
		int l = snprintf(bars[nb].note, sizeof bars[nb].note, "%s; medians %.0f / %.0f ns",
				 2 * np >= x->nres ? "paired" : "medians", a, b);
		struct agg *y1 = find_agg(aggs, n, "floor-rtt", NULL);
		double c;
		if (y1 && !y1->failed && agg_metric(y1, "rtt_ns", &c, &mn, &mx) && c > 0)
			snprintf(bars[nb].note + l, sizeof bars[nb].note - (size_t)l,
				 "; one-line floor %.0f ns, spsc-rtt %.2fx it", c, a / c);
	}
	nb++;

	static const struct {
		const char *ours, *text;
		double target;
		int zc; /* 1: the zero-copy variant counts too (BENCH.md allows it) */
	} rings[] = {
		{ "spsc-8", "spsc-8 >= 0.95x fastest packaged SPSC ring", 0.95, 0 },
		{ "spsc-64", "spsc-64 >= 1.2x fastest packaged SPSC ring", 1.2, 0 },
		{ "spsc-batch-8", "spsc-batch-8 >= 1.0x fastest packaged SPSC ring", 1.0, 1 },
	};
	for (size_t i = 0; i < sizeof rings / sizeof rings[0]; i++) {
		static const char *const sfx[] = { "ck", "boost", NULL };
		bars[nb] = (struct bar){ .text = rings[i].text, .target = rings[i].target };
		/* ours: the plain workload, or its zero-copy variant (BENCH.md allows
		 * either API for the batch workload): the better of the two counts */
		struct agg *ours[2] = { find_agg(aggs, n, rings[i].ours, NULL),
					rings[i].zc ? find_agg(aggs, n, rings[i].ours, "zc") : NULL };
		size_t l = 0;
		int any = 0, unavail = 0;
		double best_ours = 0;
		for (int v = 0; v < 2; v++) {
			x = ours[v];
			if (!x || x->failed || !x->nres || !agg_metric(x, "items_per_s", &a, &mn, &mx))
				continue;
			any = 1;
			double worst = 0;
			int have = 0;
			/* against every competitor; the bar is the smallest ratio (the
			 * fastest competitor) */
			for (int k = 0; sfx[k]; k++) {
				char cname[64];
				snprintf(cname, sizeof cname, "%s-%s", rings[i].ours, sfx[k]);
				struct agg *ca = find_agg(aggs, n, cname, NULL);
				double c;
				if (ca && ca->wl->unavailable)
					unavail = 1;
				if (!ca || ca->wl->unavailable || ca->failed ||
				    !agg_metric(ca, "items_per_s", &c, &mn, &mx))
					continue;
				int np;
				double pr = paired_ratio(x, ca, "items_per_s", &np);
				double ratio = 2 * np >= x->nres ? pr : a / c;
				if (!have || ratio < worst)
					worst = ratio;
				have = 1;
				if (l < sizeof bars[nb].note)
					l += (size_t)snprintf(bars[nb].note + l, sizeof bars[nb].note - l,
							      "%s%s vs %s %.2f (%s)", l ? "; " : "",
							      v ? "zero-copy" : "copy", sfx[k], ratio,
							      2 * np >= x->nres ? "paired" : "medians");
			}
			if (have && (!bars[nb].have || worst > best_ours)) {
				best_ours = worst;
				bars[nb].ratio = worst;
				bars[nb].have = 1;
			}
		}
		if (!any && (ours[0] || ours[1]))
			snprintf(bars[nb].note, sizeof bars[nb].note, "no figure: %s failed",
				 rings[i].ours);
		else if (any && !bars[nb].have)
			snprintf(bars[nb].note, sizeof bars[nb].note, "%s",
				 unavail ? "competitor not available"
					 : "no competitor measured in this run");
		nb++;
	}
	return nb;
}

/*
 * The message-size bars of BENCH.md: shmap's ring against a Unix-domain
 * stream socket moving the same messages (copy API; the zero-copy ratio is
 * in the note); and the variable-length bars: the record ring against a
 * SOCK_SEQPACKET pair and against the fixed-slot way.
 */
static int compute_msg_bars(struct agg *aggs, int n, struct bar *bars)
{
	static const struct {
		const char *ours, *uds, *text;
		double target;
	} b[] = {
		{ "spsc-64", "uds-64", "spsc-64 >= 10x uds-64", 10 },
		{ "spsc-4096", "uds-4096", "spsc-4096 >= 5x uds-4096", 5 },
		/* variable-length messages: the record ring against a
		 * SOCK_SEQPACKET pair and against fixed slots with a length prefix */
		{ "spsc-var-small", "seqpacket-var-small", "spsc-var-small >= 20x seqpacket-var-small", 20 },
		{ "spsc-var-large", "seqpacket-var-large", "spsc-var-large >= 10x seqpacket-var-large", 10 },
		{ "spsc-var-small", "spsc-fixed-var-small", "spsc-var-small >= 1.5x spsc-fixed-var-small", 1.5 },
		{ "spsc-var-large", "spsc-fixed-var-large", "spsc-var-large >= 1.5x spsc-fixed-var-large", 1.5 },
	};
	int nb = 0;
	for (size_t i = 0; i < sizeof b / sizeof b[0]; i++, nb++) {
		double a, c, mn, mx;
		struct agg *x = find_agg(aggs, n, b[i].ours, NULL), *y = find_agg(aggs, n, b[i].uds, NULL);
		bars[nb] = (struct bar){ .text = b[i].text, .target = b[i].target };
		if (!x || !y || x->failed || y->failed || !agg_metric(x, "items_per_s", &a, &mn, &mx) ||
		    !agg_metric(y, "items_per_s", &c, &mn, &mx))
			continue;
		int np;
		double pr = paired_ratio(x, y, "items_per_s", &np);
		bars[nb].ratio = 2 * np >= x->nres ? pr : a / c;
		bars[nb].have = 1;
		int l = snprintf(bars[nb].note, sizeof bars[nb].note, "%s; medians %.3g / %.3g messages/s",
				 2 * np >= x->nres ? "paired" : "medians", a, c);
		struct agg *z = find_agg(aggs, n, b[i].ours, "zc");
		if (z && !z->failed && agg_metric(z, "items_per_s", &a, &mn, &mx)) {
			pr = paired_ratio(z, y, "items_per_s", &np);
			snprintf(bars[nb].note + l, sizeof bars[nb].note - (size_t)l,
				 "; zero-copy %.2fx", 2 * np >= z->nres ? pr : a / c);
		}
	}
	return nb;
}

static const char *bar_verdict(const struct bar *b)
{
	if (b->info)
		return "reported";
	int met = b->le ? b->ratio <= b->target : b->ratio >= b->target;
	return met ? "met" : "NOT MET";
}

static void print_bars_json(struct bar *bars, int nb)
{
	for (int i = 0; i < nb; i++) {
		if (!bars[i].have)
			continue;
		const char *v = bar_verdict(&bars[i]);
		printf("{\"bar\":\"%s\",\"ratio\":%.3f,\"target\":%.2f,\"met\":%s%s%s%s%s}\n",
		       bars[i].text, bars[i].ratio, bars[i].target,
		       v[0] == 'r' ? "null" : v[0] == 'm' ? "true" : "false",
		       v[0] == 'r' ? ",\"applies\":false" : "",
		       bars[i].note[0] ? ",\"note\":\"" : "", bars[i].note, bars[i].note[0] ? "\"" : "");
	}
}

static void print_table(struct agg *aggs, int n, const struct bench_opts *o, struct bar *bars, int nb)
{
	/* rows first, then widths */
	struct row {
		char c[7][96];
	};
	int cap = 256, nr = 0;
	struct row *rows = calloc((size_t)cap, sizeof *rows);
	if (!rows)
		return;
	static const char *const hdr[7] = { "workload", "metric", "median", "min", "max", "runs",
					    "probe_ns" };
	for (int k = 0; k < 7; k++)
		snprintf(rows[nr].c[k], 96, "%s", hdr[k]);
	nr++;
	for (int i = 0; i < n && nr < cap - 8; i++) {
		struct agg *a = &aggs[i];
		char name[96];
		full_name(a->wl, name, sizeof name);
		if (a->wl->unavailable) {
			snprintf(rows[nr].c[0], 96, "%s", name);
			snprintf(rows[nr].c[1], 96, "%s", "competitor not available");
			nr++;
			continue;
		}
		if (a->failed) {
			snprintf(rows[nr].c[0], 96, "%s", name);
			snprintf(rows[nr].c[1], 96, "%s", "FAILED");
			nr++;
			continue;
		}
		const struct run_result *r0 = NULL;
		for (int k = 0; k < a->nres; k++)
			if (a->use[k]) {
				r0 = &a->res[k];
				break;
			}
		if (!r0)
			continue;
		for (int j = 0; j < r0->nm && nr < cap - 1; j++) {
			double med, mn, mx;
			if (!agg_metric(a, r0->m[j].name, &med, &mn, &mx))
				continue;
			snprintf(rows[nr].c[0], 96, "%s", j == 0 ? name : "");
			snprintf(rows[nr].c[1], 96, "%s", r0->m[j].name);
			fmt_num(rows[nr].c[2], 96, med);
			fmt_num(rows[nr].c[3], 96, mn);
			fmt_num(rows[nr].c[4], 96, mx);
			if (a->nlevels > 0 && a->nuse != a->nres)
				snprintf(rows[nr].c[5], 96, "%d/%d", a->nuse, a->nres);
			else
				snprintf(rows[nr].c[5], 96, "%d", a->nres);
			if (a->nlevels > 0 && j == 0) {
				int l = snprintf(rows[nr].c[6], 96, "%.0f", a->probe);
				if (a->nlevels > 1) {
					l += snprintf(rows[nr].c[6] + l, (size_t)(96 - l), " (levels");
					for (int q = 0; q < a->nlevels && l < 80; q++)
						l += snprintf(rows[nr].c[6] + l, (size_t)(96 - l),
							      " %.0f:%d", a->level_ns[q],
							      a->level_runs[q]);
					snprintf(rows[nr].c[6] + l, (size_t)(96 - l), ")");
				}
			}
			nr++;
		}
	}
	int w[7] = { 0 };
	for (int i = 0; i < nr; i++)
		for (int k = 0; k < 7; k++) {
			int l = (int)strlen(rows[i].c[k]);
			if (l > w[k])
				w[k] = l;
		}
	char model[128], kernel[128];
	machine(model, sizeof model, kernel, sizeof kernel);
	printf("shmap-bench: %d CPU(s) (%s, Linux %s)%s, %s%s\n", o->ncpu, model, kernel,
	       o->ncpu > 1 ? ", one process per CPU" : "", o->quick ? "quick sizes" : "full sizes",
	       o->rt ? ", SCHED_FIFO" : "");
	if (o->keys || o->capacity || o->key_size || o->value_size || o->elem_size)
		printf("your case:%s%.0llu%s%.0llu%s%.0u%s%.0u%s%.0u (workload names stay; "
		       "--list shows which honour what)\n",
		       o->keys ? " --keys " : "", (unsigned long long)o->keys,
		       o->capacity ? " --capacity " : "", (unsigned long long)o->capacity,
		       o->key_size ? " --key-size " : "", o->key_size,
		       o->value_size ? " --value-size " : "", o->value_size,
		       o->elem_size ? " --elem-size " : "", o->elem_size);
	for (int i = 0; i < nr; i++) {
		for (int k = 0; k < 7; k++) {
			if (k < 2 || k == 6)
				printf("%-*s", w[k], rows[i].c[k]);
			else
				printf("%*s", w[k], rows[i].c[k]);
			printf(k < 6 ? "  " : "\n");
		}
		if (i == 0) {
			int tot = 0;
			for (int k = 0; k < 7; k++)
				tot += w[k] + 2;
			for (int k = 0; k < tot - 2; k++)
				putchar('-');
			putchar('\n');
		}
	}
	free(rows);
	int any = 0;
	for (int i = 0; i < nb; i++)
		any |= bars[i].have || bars[i].note[0];
	if (!any)
		return;
	printf("\nbars (BENCH.md):\n");
	for (int i = 0; i < nb; i++) {
		if (!bars[i].have) {
			if (bars[i].note[0])
				printf("  %-46s  %s\n", bars[i].text, bars[i].note);
			continue;
		}
		printf("  %-46s  %6.2fx  %-8s %s\n", bars[i].text, bars[i].ratio, bar_verdict(&bars[i]),
		       bars[i].note);
	}
}

/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmap-bench [--quick] [--json] [--runs N] [--rt] [--list] [--keys N]\n"
		"                   [--key-size B] [--value-size B] [--elem-size B] [--capacity N]\n"
		"                   [WORKLOAD ...]\n"
		"  --quick    shrink every count about tenfold\n"
		"  --json     one JSON object per line on stdout (else one aligned table)\n"
		"  --runs N   repeat each workload N times; report median, min and max over the\n"
		"             runs at the most common floor-rtt probe level\n"
		"  --list     list the workloads and exit\n"
		"  --rt       run the pinned processes SCHED_FIFO (root or CAP_SYS_NICE) so\n"
		"             other load on a shared machine cannot preempt them\n"
		"Your own case (--list shows which workloads honour which; JSON params record them):\n"
		"  --keys N         number of keys in the table workloads (default 1000000)\n"
		"  --key-size B     key size in bytes, 8..1024 (table workloads; default 8)\n"
		"  --value-size B   value size in bytes, 8..65536 (table workloads; default 8)\n"
		"  --elem-size B    message size in bytes, a multiple of 8 (message workloads)\n"
		"  --capacity N     ring capacity (power of two; default 4096) or table capacity\n"
		"                   (default twice the keys)\n"
		"With no workload, runs them all. Progress goes to stderr.\n");
}

/* The options that describe the user's own case. */
static const struct {
	const char *name;
	unsigned bit;
	uint64_t min, max;
	const char *what;
} g_user_opts[] = {
	{ "--keys", BENCH_OPT_KEYS, 1, 1ull << 32, "number of keys in the table workloads" },
	{ "--key-size", BENCH_OPT_KEY_SIZE, 8, 1024, "key size in bytes (table workloads)" },
	{ "--value-size", BENCH_OPT_VALUE_SIZE, 8, 65536, "value size in bytes (table workloads)" },
	{ "--elem-size", BENCH_OPT_ELEM_SIZE, 8, 1u << 20, "message size in bytes, a multiple of 8" },
	{ "--capacity", BENCH_OPT_CAPACITY, 2, 1ull << 32,
	  "ring capacity in elements (a power of two) / table capacity in keys" },
};
#define N_USER_OPTS (sizeof g_user_opts / sizeof g_user_opts[0])

/* --keys N and the like (also --keys=N): 1 if argv[*i] is one (then *bad
 * says whether its value was refused), 0 if not. */
static int user_opt(int argc, char **argv, int *i, struct bench_opts *o, int *bad)
{
	*bad = 0;
	for (size_t k = 0; k < N_USER_OPTS; k++) {
		size_t l = strlen(g_user_opts[k].name);
		if (strncmp(argv[*i], g_user_opts[k].name, l) != 0 ||
		    (argv[*i][l] != 0 && argv[*i][l] != '='))
			continue;
		const char *v = argv[*i][l] == '=' ? argv[*i] + l + 1 : (*i + 1 < argc ? argv[++*i] : "");
		char *end;
		unsigned long long n = strtoull(v, &end, 10);
		unsigned bit = g_user_opts[k].bit;
		if (*v == 0 || *end || n < g_user_opts[k].min || n > g_user_opts[k].max ||
		    (bit == BENCH_OPT_ELEM_SIZE && n % 8)) {
			fprintf(stderr, "shmap-bench: %s needs a number from %llu to %llu%s\n",
				g_user_opts[k].name, (unsigned long long)g_user_opts[k].min,
				(unsigned long long)g_user_opts[k].max,
				bit == BENCH_OPT_ELEM_SIZE ? ", a multiple of 8" : "");
			*bad = 1;
			return 1;
		}
		if (bit == BENCH_OPT_KEYS)
			o->keys = n;
		else if (bit == BENCH_OPT_CAPACITY)
			o->capacity = n;
		else if (bit == BENCH_OPT_KEY_SIZE)
			o->key_size = (uint32_t)n;
		else if (bit == BENCH_OPT_VALUE_SIZE)
			o->value_size = (uint32_t)n;
		else
			o->elem_size = (uint32_t)n;
		return 1;
	}
	return 0;
}

/* "--elem-size --capacity" for a workload's BENCH_OPT_* bits */
static void opts_text(unsigned bits, char *buf, size_t len)
{
	size_t l = 0;
	buf[0] = 0;
	for (size_t k = 0; k < N_USER_OPTS && l < len; k++)
		if (bits & g_user_opts[k].bit)
			l += (size_t)snprintf(buf + l, len - l, "%s%s", l ? " " : "", g_user_opts[k].name);
}

int main(int argc, char **argv)
{
	int bad;
	struct bench_opts o;
	memset(&o, 0, sizeof o);
	o.runs = 1;
	const char *sel[MAX_WL];
	int nsel = 0, list = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			o.quick = 1;
		else if (strcmp(argv[i], "--json") == 0)
			o.json = 1;
		else if (strcmp(argv[i], "--list") == 0)
			list = 1;
		else if (strcmp(argv[i], "--rt") == 0)
			o.rt = 1;
		else if (strcmp(argv[i], "--runs") == 0 || strncmp(argv[i], "--runs=", 7) == 0) {
			const char *v = argv[i][6] == '=' ? argv[i] + 7 : (i + 1 < argc ? argv[++i] : "");
			char *end;
			long n = strtol(v, &end, 10);
			if (*v == 0 || *end || n < 1 || n > 200) {
				fprintf(stderr, "shmap-bench: --runs needs a number from 1 to 200\n");
				return 2;
			}
			o.runs = (int)n;
		} else if (user_opt(argc, argv, &i, &o, &bad)) {
			if (bad)
				return 2;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "shmap-bench: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (nsel < MAX_WL) {
			sel[nsel++] = argv[i];
		}
	}

	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE && o.ncpu < BENCH_MAX_PROCS; c++)
			if (CPU_ISSET(c, &set))
				o.cpus[o.ncpu++] = c;
	}
	if (o.ncpu < 1) {
		o.ncpu = 1;
		o.cpus[0] = 0;
	}
	g_single_cpu = o.ncpu < 2;

	register_all();
	if (list) {
		/* one line per workload: its name, then the options it honours */
		for (int i = 0; i < g_nall; i++) {
			char name[96], ot[128];
			full_name(g_all[i], name, sizeof name);
			opts_text(g_all[i]->opts, ot, sizeof ot);
			if (g_all[i]->unavailable)
				printf("%s  (not available)\n", name);
			else if (ot[0])
				printf("%-20s  %s\n", name, ot);
			else
				printf("%s\n", name);
		}
		return 0;
	}

	/* selection: exact name, or name-variant */
	const struct bench_wl *todo[MAX_WL];
	int ntodo = 0;
	for (int i = 0; i < g_nall; i++) {
		int want = nsel == 0;
		char name[96];
		full_name(g_all[i], name, sizeof name);
		for (int k = 0; k < nsel && !want; k++)
			want = strcmp(sel[k], g_all[i]->name) == 0 || strcmp(sel[k], name) == 0;
		if (want)
			todo[ntodo++] = g_all[i];
	}
	for (int k = 0; k < nsel; k++) {
		int found = 0;
		for (int i = 0; i < g_nall; i++) {
			char name[96];
			full_name(g_all[i], name, sizeof name);
			found |= strcmp(sel[k], g_all[i]->name) == 0 || strcmp(sel[k], name) == 0;
		}
		if (!found) {
			fprintf(stderr, "shmap-bench: unknown workload '%s' (see --list)\n", sel[k]);
			return 2;
		}
	}

	calibrate_ticks();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct agg *aggs = calloc((size_t)ntodo + 1, sizeof *aggs);
	if (!aggs)
		return 1;
	for (int i = 0; i < ntodo; i++) {
		aggs[i].wl = todo[i];
		aggs[i].res = calloc((size_t)o.runs, sizeof *aggs[i].res);
		aggs[i].use = calloc((size_t)o.runs, sizeof *aggs[i].use);
		if (!aggs[i].res || !aggs[i].use)
			return 1;
	}

	int failures = 0;
	uint64_t t_begin = now_ns();
	/* runs outermost: each workload's k-th run sits close in time to its
	 * neighbours' k-th run (ours beside the competitor's) */
	for (int run = 0; run < o.runs && !g_interrupted; run++) {
		for (int i = 0; i < ntodo && !g_interrupted; i++) {
			struct agg *a = &aggs[i];
			char name[96];
			full_name(a->wl, name, sizeof name);
			if (a->wl->unavailable) {
				if (run == 0)
					fprintf(stderr, "shmap-bench: %s: %s\n", name, a->wl->unavailable);
				continue;
			}
			if (a->failed)
				continue;
			fprintf(stderr, "[%5.1fs] run %d/%d %-22s ", (double)(now_ns() - t_begin) * 1e-9,
				run + 1, o.runs, name);
			fflush(stderr);
			struct run_result *res = &a->res[a->nres];
			if (run_once(a->wl, &o, res) != 0) {
				fprintf(stderr, "shmap-bench: %s: FAILED (run %d)\n", name, run + 1);
				a->failed = 1;
				failures++;
				continue;
			}
			a->nres++;
			char v[32];
			fmt_num(v, sizeof v, res->nm ? res->m[0].value : 0);
			fprintf(stderr, "%s %s", v, res->nm ? res->m[0].name : "");
			if (res->probe > 0)
				fprintf(stderr, "  (probe %.0f ns)", res->probe);
			fputc('\n', stderr);
		}
	}
	for (int i = 0; i < ntodo; i++)
		choose_level(&aggs[i]);
	struct bar bars[16];
	int nb = compute_bars(aggs, ntodo, &o, bars);
	nb += compute_msg_bars(aggs, ntodo, bars + nb);
	if (o.json) {
		print_json(aggs, ntodo, &o);
		print_bars_json(bars, nb);
	} else {
		print_table(aggs, ntodo, &o, bars, nb);
	}
	fflush(stdout);
	for (int i = 0; i < ntodo; i++) {
		free(aggs[i].res);
		free(aggs[i].use);
	}
	free(aggs);
	if (g_interrupted) {
		fprintf(stderr, "shmap-bench: interrupted\n");
		return 130;
	}
	if (failures) {
		fprintf(stderr, "shmap-bench: %d workload(s) FAILED\n", failures);
		return 1;
	}
	return 0;
}
