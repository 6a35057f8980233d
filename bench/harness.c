/* SPDX-License-Identifier: MIT */
/*
 * harness.c - one run of one workload: the control block, fork, CPU
 * pinning, the pipe and spin barriers, the watchdog, the floor-rtt probes;
 * and the helpers bench.h declares for the workloads (timing, barriers,
 * ping-pong, metrics and parameters, POSIX shared memory).
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
 * the mean of the two (report.c groups the runs by it).
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
#include "bench-internal.h"

#define PROBE_N 4096u          /* round trips per probe */

static int g_single_cpu;
static double g_ns_per_tick = 1.0;
static int g_use_tsc;
static double g_timer_ns;

/* ------------------------------------------------------------------ */
/* small helpers */

uint64_t bench_now_ns(void)
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
	return bench_now_ns();
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
	uint64_t t0 = bench_now_ns(), c0 = __rdtsc();
	struct timespec d = { 0, 20 * 1000 * 1000 };
	nanosleep(&d, NULL);
	uint64_t t1 = bench_now_ns(), c1 = __rdtsc();
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

static struct bench_param *param_slot(struct bench_run *r, const char *key)
{
	if (r->nparams >= BENCH_MAX_PARAMS) {
		fprintf(stderr, "shmap-bench: %s: parameter %s dropped (more than %d)\n", r->wl->name,
			key, BENCH_MAX_PARAMS);
		return NULL;
	}
	struct bench_param *p = &r->params[r->nparams++];
	memset(p, 0, sizeof *p);
	p->key = key;
	return p;
}

void bench_param_u64(struct bench_run *r, const char *key, uint64_t v)
{
	struct bench_param *p = param_slot(r, key);
	if (p) {
		p->kind = BENCH_PARAM_U64;
		p->u = v;
	}
}

void bench_param_real(struct bench_run *r, const char *key, double v)
{
	struct bench_param *p = param_slot(r, key);
	if (p) {
		p->kind = BENCH_PARAM_REAL;
		p->d = v;
	}
}

void bench_param_str(struct bench_run *r, const char *key, const char *fmt, ...)
{
	struct bench_param *p = param_slot(r, key);
	if (p) {
		va_list ap;
		p->kind = BENCH_PARAM_STR;
		va_start(ap, fmt);
		vsnprintf(p->s, sizeof p->s, fmt, ap);
		va_end(ap);
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
	uint64_t gen = shmap__atomic_load_acquire_u64(&c->bar_gen);
	unsigned spins = 0;
	/* B1: full, the last arriver's release of bar_gen pairs with B2 */
	if (shmap__atomic_fetch_add_full_u64(&c->bar_count, 1) == (uint64_t)r->nprocs - 1) {
		shmap__atomic_store_u64(&c->bar_count, 0);
		shmap__atomic_store_release_u64(&c->bar_gen, gen + 1);
		return;
	}
	/* B2: acquire, pairs with the release above */
	while (shmap__atomic_load_acquire_u64(&c->bar_gen) == gen)
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
			while (shmap__atomic_load_acquire_u64(ping) != 2 * i + 1)
				bench_relax(&spins);
			shmap__atomic_store_release_u64(pong, 2 * i + 2);
		}
		return 0;
	}
	if (samples) {
		/* one timestamp per round trip, chained: each sample includes one timestamp read */
		uint64_t tp = bench_ticks();
		for (uint64_t i = 0; i < n; i++) {
			shmap__atomic_store_release_u64(ping, 2 * i + 1);
			while (shmap__atomic_load_acquire_u64(pong) != 2 * i + 2)
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
		shmap__atomic_store_release_u64(ping, 2 * i + 1);
		while (shmap__atomic_load_acquire_u64(pong) != 2 * i + 2)
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
	r->ctl->slot[r->self].t_start = bench_now_ns();
}

void bench_stop(struct bench_run *r)
{
	r->ctl->slot[r->self].t_end = bench_now_ns();
	bench_barrier(r);
	probe(r, 1);
}

/* ------------------------------------------------------------------ */
/* one run of one workload */

static unsigned g_seg_counter;
static unsigned run_index_for_warning;
static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

int bench_interrupted(void)
{
	return g_interrupted;
}

void bench_harness_init(const struct bench_opts *o)
{
	g_single_cpu = o->ncpu < 2;
	calibrate_ticks();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
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

/* The harness's side of one run: the children and the start pipes. */
struct run_procs {
	pid_t pids[BENCH_MAX_PROCS];
	int ready[2], go[2];  /* children -> parent "ready"; parent -> children "go" */
	unsigned watchdog_s;
	uint64_t deadline;    /* CLOCK_MONOTONIC ns: the watchdog of the parent */
};

/* In the child `idx`: set up (death signal, watchdog, CPU, --rt), run the
 * workload's child part, and exit with its verdict (0 only if it passed). */
static void __attribute__((noreturn)) child_main(struct bench_run *r, struct run_procs *rp, int idx)
{
	const struct bench_opts *o = r->o;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	alarm(rp->watchdog_s);
	close(rp->ready[0]);
	close(rp->go[1]);
	r->ready_w = rp->ready[1];
	r->go_r = rp->go[0];
	r->self = idx;
	if (o->ncpu > 1)
		pin_to(o->cpus[idx % o->ncpu]);
	if (o->rt && o->ncpu > 1) {
		/* --rt: shield the pinned children from other load; the
		 * kernel's RT throttling still leaves 5% to the rest */
		struct sched_param sp = { .sched_priority = 1 };
		if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0 && idx == 0 && run_index_for_warning == 0)
			fprintf(stderr, "shmap-bench: --rt: SCHED_FIFO refused (%s); "
					"running at normal priority\n", strerror(errno));
	}
	int crc = r->wl->child(r, idx);
	struct bench_slot *slot = &r->ctl->slot[idx];
	if (crc != 0 && slot->err[0] == 0)
		snprintf(slot->err, sizeof slot->err, "failed (code %d)", crc);
	_exit(crc != 0 || slot->err[0] ? 2 : 0);
}

/* Fork the run's children: 0, or -1 (reported; those forked are killed). */
static int spawn(struct bench_run *r, struct run_procs *rp)
{
	if (pipe(rp->ready) != 0 || pipe(rp->go) != 0) {
		fprintf(stderr, "shmap-bench: pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	for (int i = 0; i < r->nprocs; i++) {
		pid_t p = fork();
		if (p < 0) {
			fprintf(stderr, "shmap-bench: fork: %s\n", strerror(errno));
			kill_all(rp->pids, i);
			return -1;
		}
		if (p == 0)
			child_main(r, rp, i);
		rp->pids[i] = p;
	}
	close(rp->ready[1]);
	rp->ready[1] = -1;
	close(rp->go[0]);
	rp->go[0] = -1;
	return 0;
}

/* Wait until every child is set up, noticing early deaths, then let them
 * all go: 0, or -1 (reported; the children are killed). */
static int start_children(struct bench_run *r, struct run_procs *rp)
{
	const char *wl = r->wl->name;
	int nready = 0, failed = 0;
	while (nready < r->nprocs && !failed) {
		struct pollfd pfd = { .fd = rp->ready[0], .events = POLLIN };
		if (poll(&pfd, 1, 20) > 0) {
			char buf[BENCH_MAX_PROCS];
			ssize_t got = read(rp->ready[0], buf, (size_t)(r->nprocs - nready));
			if (got > 0)
				nready += (int)got;
			else if (got == 0)
				failed = 1;
		}
		for (int i = 0; i < r->nprocs && !failed; i++) {
			int st;
			if (rp->pids[i] > 0 && waitpid(rp->pids[i], &st, WNOHANG) == rp->pids[i]) {
				rp->pids[i] = 0;
				describe_status(wl, i, st, r->ctl->slot[i].err);
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
					failed = 1;
			}
		}
		if (bench_now_ns() > rp->deadline || g_interrupted) {
			fprintf(stderr, "shmap-bench: %s: children not ready in time\n", wl);
			failed = 1;
		}
	}
	char buf[BENCH_MAX_PROCS];
	memset(buf, 'g', sizeof buf);
	if (failed)
		fprintf(stderr, "shmap-bench: %s: FAILED before the timed part\n", wl);
	else if (write(rp->go[1], buf, (size_t)r->nprocs) != r->nprocs)
		failed = 1;
	if (failed)
		kill_all(rp->pids, r->nprocs);
	return failed ? -1 : 0;
}

/* Wait for all children; the first failure, the watchdog or an interrupt
 * kills the rest. 0 if every child passed, else -1 (reported). */
static int wait_children(struct bench_run *r, struct run_procs *rp)
{
	const char *wl = r->wl->name;
	int alive = 0;
	for (int i = 0; i < r->nprocs; i++)
		alive += rp->pids[i] != 0;
	while (alive > 0) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p > 0) {
			int idx = -1;
			for (int i = 0; i < r->nprocs; i++)
				if (rp->pids[i] == p)
					idx = i;
			if (idx < 0)
				continue;
			rp->pids[idx] = 0;
			alive--;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				describe_status(wl, idx, st, r->ctl->slot[idx].err);
				kill_all(rp->pids, r->nprocs);
				return -1;
			}
			continue;
		}
		if (bench_now_ns() > rp->deadline || g_interrupted) {
			fprintf(stderr, "shmap-bench: %s: watchdog: %d process(es) still running after %u s, "
					"killing them\n", wl, alive, rp->watchdog_s);
			kill_all(rp->pids, r->nprocs);
			return -1;
		}
		struct timespec d = { 0, 2 * 1000 * 1000 };
		nanosleep(&d, NULL);
	}
	int failed = 0;
	for (int i = 0; i < r->nprocs; i++)
		if (r->ctl->slot[i].err[0]) {
			fprintf(stderr, "shmap-bench: %s: process %d: %s\n", wl, i, r->ctl->slot[i].err);
			failed = 1;
		}
	return failed ? -1 : 0;
}

/* The processes of the run: prepare, fork, start, wait, verify. 0 if the
 * run passed; -1 after a failure (reported). */
static int run_procs(struct bench_run *r, struct run_procs *rp)
{
	const struct bench_wl *wl = r->wl;
	if (wl->prepare && wl->prepare(r) != 0) {
		fprintf(stderr, "shmap-bench: %s: FAILED in setup\n", wl->name);
		return -1;
	}
	/* watchdog: generous, the run sizes aim at well under a second each */
	rp->watchdog_s = r->o->quick ? 60 : 240;
	rp->deadline = bench_now_ns() + (uint64_t)rp->watchdog_s * 1000000000u;
	if (spawn(r, rp) != 0 || start_children(r, rp) != 0 || wait_children(r, rp) != 0)
		return -1;
	if (wl->finish && wl->finish(r) != 0) {
		fprintf(stderr, "shmap-bench: %s: FAILED verification\n", wl->name);
		return -1;
	}
	return 0;
}

int bench_run_once(const struct bench_wl *wl, const struct bench_opts *o, struct run_result *out)
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

	struct run_procs rp = { .ready = { -1, -1 }, .go = { -1, -1 } };
	int rc = run_procs(&r, &rp);
	if (rc == 0) {
		out->ok = 1;
		if (wl->cross && r.nprocs >= 2)
			out->probe = (r.ctl->slot[0].probe_pre + r.ctl->slot[0].probe_post) / 2;
		out->nm = r.nm;
		memcpy(out->m, r.m, sizeof r.m);
		out->nparams = r.nparams;
		memcpy(out->params, r.params, sizeof r.params);
	}
	if (wl->cleanup)
		wl->cleanup(&r);
	for (int i = 0; i < 2; i++) {
		if (rp.ready[i] >= 0)
			close(rp.ready[i]);
		if (rp.go[i] >= 0)
			close(rp.go[i]);
	}
	munmap(map, total);
	return rc;
}
