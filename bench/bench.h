/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the shmap-bench harness: workloads, per-run contexts, helpers.
 *
 * A workload is a table entry (struct bench_wl). For every run the harness:
 *   1. maps a private control block shared by all the run's processes
 *      (MAP_SHARED | MAP_ANONYMOUS) and calls wl->prepare() in the parent
 *      (create segments, fill tables);
 *   2. forks wl->nprocs() children, each pinned to its own CPU when more
 *      than one is available, each running wl->child() with a watchdog;
 *   3. children call bench_start() once set up: a pipe barrier with the
 *      parent, then (cross-process workloads) the floor-rtt probe between
 *      children 0 and 1, then a spin barrier; bench_stop() ends the timed
 *      part and runs the closing probe;
 *   4. the parent waits for all children (watchdog), checks exit codes and
 *      error messages, calls wl->finish() to verify and compute metrics,
 *      and wl->cleanup() to unlink segments.
 * Any mismatch makes the whole program exit non-zero after cleanup.
 */
#ifndef SHMAP_BENCH_H
#define SHMAP_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define BENCH_MAX_PROCS 64
#define BENCH_MAX_METRICS 8
#define BENCH_CACHELINE 64

/* Per-child result slot in the control block (written by that child only). */
struct bench_slot {
	uint64_t t_start;       /* CLOCK_MONOTONIC ns when the timed part began */
	uint64_t t_end;         /* ... and when it ended */
	uint64_t count;         /* items/ops this child completed */
	uint64_t u[8];          /* workload-defined values (sums, misses, ...) */
	double d[8];            /* workload-defined values (percentiles, ...) */
	double probe_pre;       /* floor-rtt probe before (ns per round trip), child 0 */
	double probe_post;      /* ... after */
	char err[240];          /* non-empty: the child failed verification */
} __attribute__((aligned(BENCH_CACHELINE)));

/* The control block, one per run. */
struct bench_ctl {
	/* spin barrier: its own line */
	volatile uint64_t bar_count __attribute__((aligned(BENCH_CACHELINE)));
	volatile uint64_t bar_gen;
	/* probe lines: one shared cache line each */
	volatile uint64_t probe_line[3][BENCH_CACHELINE / 8] __attribute__((aligned(BENCH_CACHELINE)));
	/* workload-defined shared words, each on its own line */
	volatile uint64_t flag[8][BENCH_CACHELINE / 8] __attribute__((aligned(BENCH_CACHELINE)));
	struct bench_slot slot[BENCH_MAX_PROCS];
	/* followed by wl->extra_bytes bytes of workload shared space (page-aligned) */
};

struct bench_opts {
	int quick;
	int json;
	int runs;
	int rt;                /* --rt: children run SCHED_FIFO */
	int ncpu;              /* CPUs available to the process */
	int cpus[BENCH_MAX_PROCS];
	/* the user's own case (0: the workload's default); see BENCH_OPT_* */
	uint64_t keys;         /* --keys N */
	uint64_t capacity;     /* --capacity N */
	uint32_t key_size;     /* --key-size B */
	uint32_t value_size;   /* --value-size B */
	uint32_t elem_size;    /* --elem-size B */
};

/* Which of the user's options a workload honours (struct bench_wl.opts):
 * --list prints them, and the JSON params record the values used. */
#define BENCH_OPT_KEYS 1u
#define BENCH_OPT_KEY_SIZE 2u
#define BENCH_OPT_VALUE_SIZE 4u
#define BENCH_OPT_ELEM_SIZE 8u
#define BENCH_OPT_CAPACITY 16u

/* One metric of one run. */
struct bench_metric {
	const char *name;      /* "items_per_s", "rtt_ns", ... */
	double value;
};

/* One parameter of one run, written under "params" in the JSON output (see
 * bench_param_u64() and the others). */
#define BENCH_MAX_PARAMS 12
#define BENCH_PARAM_STR_MAX 80
enum bench_param_kind { BENCH_PARAM_U64, BENCH_PARAM_REAL, BENCH_PARAM_STR };
struct bench_param {
	const char *key;       /* a string literal */
	enum bench_param_kind kind;
	uint64_t u;
	double d;
	char s[BENCH_PARAM_STR_MAX];
};

struct bench_run;

struct bench_wl {
	const char *name;      /* workload name as in BENCH.md */
	const char *variant;   /* NULL, or a sub-case shown in params ("lossy") */
	const char *group;     /* structure, for the CI subset: ring/table/vector/base */
	int cross;             /* 1: cross-process, probe before/after */
	int (*nprocs)(const struct bench_opts *o);
	size_t (*extra_bytes)(struct bench_run *r);
	int (*prepare)(struct bench_run *r);             /* parent, before fork */
	int (*child)(struct bench_run *r, int idx);      /* 0 ok, else failed */
	int (*finish)(struct bench_run *r);              /* parent: verify + metrics */
	void (*cleanup)(struct bench_run *r);            /* parent: always called */
	const char *unavailable; /* non-NULL: why this workload cannot run here */
	int variant_is_param;  /* 1: JSON names it `name` (the variant is in params,
				* e.g. broadcast-8's policy); 0: `name-variant` */
	unsigned opts;         /* BENCH_OPT_* the workload honours */
};

/* The per-run context. */
struct bench_run {
	const struct bench_wl *wl;
	const struct bench_opts *o;
	struct bench_ctl *ctl;
	void *extra;            /* workload shared space (page aligned) */
	size_t extra_len;
	int nprocs;
	int self;               /* in a child: its index */
	char seg[3][96];        /* segment names reserved for this run */
	uint64_t n;             /* main count (items, ops) */
	uint64_t n2;            /* second count (keys, batch...) */
	void *priv;             /* parent-private workload data */
	struct bench_metric m[BENCH_MAX_METRICS];
	int nm;
	struct bench_param params[BENCH_MAX_PARAMS]; /* see bench_param_u64() */
	int nparams;
	/* pipes for the start barrier (harness-internal) */
	int ready_w, go_r;
};

/* --- helpers for workloads (harness.c) --- */

/* In a child: everything is set up; synchronise with the parent and the
 * other children, run the opening probe, and start the clock. */
void bench_start(struct bench_run *r);
/* In a child: stop the clock, synchronise, run the closing probe. */
void bench_stop(struct bench_run *r);
/* Record a failure in the child's slot (printf-style) and return 1. */
int bench_fail(struct bench_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Spin barrier among the run's children (no parent). */
void bench_barrier(struct bench_run *r);
/* Add a metric (parent, in finish). */
void bench_metric(struct bench_run *r, const char *name, double value);
/* Record a parameter of the run (parent, in prepare or finish): what the
 * run used, written in that order as the members of the JSON "params"
 * object (strings escaped there). `key` must be a string literal. A
 * parameter beyond BENCH_MAX_PARAMS is dropped with a message on stderr;
 * a string is cut at BENCH_PARAM_STR_MAX - 1 bytes. */
void bench_param_u64(struct bench_run *r, const char *key, uint64_t v);
void bench_param_real(struct bench_run *r, const char *key, double v);
void bench_param_str(struct bench_run *r, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Wall time of the timed part: max(t_end) - min(t_start) over children [a, b). */
double bench_span_s(struct bench_run *r, int a, int b);
/* Spin-wait hint with a yield fallback when a single CPU is shared. */
void bench_relax(unsigned *spins);
/* Cycle counter for per-sample timings, and its scale to ns. */
uint64_t bench_ticks(void);
double bench_ticks_to_ns(uint64_t ticks);
/* Percentile (0..1) of a sorted array of doubles. */
double bench_pct(const double *sorted, size_t n, double p);
void bench_sort(double *a, size_t n);
/* The ping-pong through one cache line: idx 0 pings, idx 1 pongs. Without
 * samples, returns (in idx 0) the median over blocks of BENCH_RTT_BLOCK round
 * trips of the mean round trip in ns (two timestamps per block: no timer
 * cost). With samples, idx 0 stores every round trip in ns (one timestamp
 * per round trip, so each sample includes one timestamp read, whose
 * back-to-back cost is bench_timer_ns()) and returns 0. */
#define BENCH_RTT_BLOCK 64u
double bench_pingpong(volatile uint64_t *line, int idx, uint64_t n, double *samples);
/* The same with the ping written to one line and the pong to another (the
 * pinger writes `ping` and spins on `pong`; the ponger the other way round). */
double bench_pingpong2(volatile uint64_t *ping, volatile uint64_t *pong, int idx, uint64_t n,
		       double *samples);
double bench_timer_ns(void);
/* Deterministic 64-bit mixing (splitmix64) and a fast PRNG. */
uint64_t bench_mix64(uint64_t x);
static inline uint64_t bench_rng(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}
/* Uniform in [0, n) without division. */
__extension__ typedef unsigned __int128 bench_u128;
static inline uint64_t bench_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((bench_u128)bench_rng(s) * n) >> 64);
}

/* POSIX shared memory for the competitors (same backend as shmap's default):
 * create (parent, O_EXCL, 0600, zero-filled), map (any process, populated),
 * unlink. */
int bench_shm_create(const char *name, size_t len);
void *bench_shm_map(const char *name, size_t len);
void bench_shm_unlink(const char *name);

/* SPSC ring workloads: sizes shared by ours and the competitors. */
#define BENCH_RING_CAP 4096u
#define BENCH_BATCH 64u
struct bench_e64 {
	uint64_t w[8];
};
static inline void bench_e64_fill(struct bench_e64 *e, uint64_t seq)
{
	for (int j = 0; j < 8; j++)
		e->w[j] = seq + (uint64_t)j;
}
static inline int bench_e64_ok(const struct bench_e64 *e, uint64_t seq)
{
	return e->w[0] == seq && e->w[7] == seq + 7;
}
static inline uint64_t bench_spsc_items(const struct bench_opts *o, int elem)
{
	if (elem == 64)
		return o->quick ? 1000000u : 10000000u;
	return o->quick ? 2000000u : 20000000u;
}
static inline uint64_t bench_batch_items(const struct bench_opts *o)
{
	return o->quick ? 4000000u : 40000000u;
}
/* The ring capacity of shmap's ring workloads: --capacity, else 4096. */
static inline uint64_t bench_ring_cap(const struct bench_opts *o)
{
	return o->capacity ? o->capacity : BENCH_RING_CAP;
}

/*
 * Messages of any size (the message-size workloads spsc-256 .. spsc-4096,
 * their zero-copy variants, their competitors and the Unix-socket
 * baselines): a message of `size` bytes (a multiple of 8) carries
 * seq * 64 + j in the first word of each of its cache lines j (but the
 * last word) and ~seq in its last word. Producers write those words, consumers check them all, so
 * every line of every message crosses from one CPU to the other.
 */
static inline void bench_msg_fill(void *msg, size_t size, uint64_t seq)
{
	uint64_t *w = (uint64_t *)msg;
	size_t last = size / 8 - 1;
	for (size_t j = 0; j < last || j == 0; j += 8)
		w[j] = seq * 64 + j / 8;
	if (last)
		w[last] = ~seq;
}
static inline int bench_msg_ok(const void *msg, size_t size, uint64_t seq)
{
	const uint64_t *w = (const uint64_t *)msg;
	size_t last = size / 8 - 1;
	uint64_t bad = 0;
	for (size_t j = 0; j < last || j == 0; j += 8)
		bad |= w[j] ^ (seq * 64 + j / 8);
	if (last)
		bad |= w[last] ^ ~seq;
	return bad == 0;
}
/* Messages per run at a size: about 1 GiB (100 MiB with --quick), at most
 * the count of spsc-8; sockets a quarter of that. */
static inline uint64_t bench_msg_items(const struct bench_opts *o, size_t size, int socket)
{
	uint64_t bytes = (o->quick ? 100u : 1024u) << 20, cap = o->quick ? 2000000u : 20000000u;
	if (socket) {
		bytes /= 4;
		cap /= 10;
	}
	uint64_t n = bytes / (size ? size : 1);
	n = n < cap ? n : cap;
	return n < 1000 ? 1000 : n;
}
/* The size of a message-size workload: --elem-size, else the number in its
 * name ("spsc-1024", "uds-64", "spsc-256-ck"). */
size_t bench_msg_size(const struct bench_run *r);
/* Shared finish of the message workloads: items_per_s and gb_per_s. */
int bench_msg_finish(struct bench_run *r);

/* Shared finish of the SPSC throughput workloads: consumer is child 1 and
 * must have counted r->n items; metric items_per_s over both processes. */
int bench_spsc_finish(struct bench_run *r);
int bench_two_procs(const struct bench_opts *o);
int bench_one_proc(const struct bench_opts *o);
uint64_t bench_rtt_count(const struct bench_opts *o);
void bench_rtt_report(struct bench_run *r, double block_median, double *samples, uint64_t n);
/* Process 0's side of a round-trip workload (spsc-rtt, floor-rtt-ring):
 * r->n round trips timed per block of BENCH_RTT_BLOCK, then r->n timed one
 * by one, each made by ping(r, ctx, i) (nonzero: it failed, and so does
 * this); the figures go to slot 0 (bench_rtt_report). The other side makes
 * bench_rtt_total(r) round trips. */
int bench_rtt_pinger(struct bench_run *r, int (*ping)(struct bench_run *r, void *ctx, uint64_t i), void *ctx);
uint64_t bench_rtt_total(const struct bench_run *r);
int bench_rtt_finish(struct bench_run *r);

/* The table workloads' keys and values (shared by table-* and the baseline):
 * key i is splitmix64(i + TABLE_KEY_BASE), distinct and never 0; its value is
 * derived from the key, so every lookup can be verified. */
#define BENCH_TABLE_KEYS 1000000u
#define BENCH_TABLE_CAP 2000000u
#define BENCH_TABLE_KEY_BASE 0x5eed0000ULL
#define BENCH_TABLE_LOOKUP_SEED 0x9e3779b97f4a7c15ULL
static inline uint64_t bench_key(uint64_t i)
{
	uint64_t x = i + BENCH_TABLE_KEY_BASE + 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}
static inline uint64_t bench_val(uint64_t key)
{
	return (key * 0xD6E8FEB86659FD93ULL) ^ 0xA5A5A5A5A5A5A5A5ULL;
}
/* The table workloads' sizes: --keys (default 1M), --capacity (default
 * twice the keys), --key-size and --value-size (default 8). */
static inline uint64_t bench_table_keys(const struct bench_opts *o)
{
	return o->keys ? o->keys : BENCH_TABLE_KEYS;
}
static inline uint64_t bench_table_cap(const struct bench_opts *o)
{
	return o->capacity ? o->capacity : 2 * bench_table_keys(o);
}
static inline uint32_t bench_key_size(const struct bench_opts *o)
{
	return o->key_size ? o->key_size : 8;
}
static inline uint32_t bench_value_size(const struct bench_opts *o)
{
	return o->value_size ? o->value_size : 8;
}
/* Keys and values of other sizes than 8: the first 8 bytes are key i's
 * bench_key() (its value's: bench_val()), the rest are derived from them,
 * so every byte of a value can be checked against its key. */
static inline void bench_key_bytes(uint8_t *out, uint32_t size, uint64_t k)
{
	memcpy(out, &k, 8);
	for (uint32_t j = 8; j < size; j++)
		out[j] = (uint8_t)((k >> (8 * (j % 8))) ^ j);
}
static inline void bench_val_bytes(uint8_t *out, uint32_t size, uint64_t k)
{
	uint64_t v = bench_val(k);
	memcpy(out, &v, 8);
	for (uint32_t j = 8; j < size; j++)
		out[j] = (uint8_t)((v >> (8 * (j % 8))) + j);
}
/* A value of `size` bytes belongs to key k: its first and last 8 bytes. */
static inline int bench_val_ok(const uint8_t *v, uint32_t size, uint64_t k)
{
	uint8_t want[16];
	uint64_t w = bench_val(k);
	memcpy(want, &w, 8);
	for (uint32_t j = size - 8, i = 8; j < size; j++, i++)
		want[i] = j < 8 ? want[j] : (uint8_t)((w >> (8 * (j % 8))) + j);
	return memcmp(v, want, 8) == 0 && memcmp(v + size - 8, want + 8, 8) == 0;
}

/* Number of lookups per process for table-get and table-baseline. */
static inline uint64_t bench_table_lookups(const struct bench_opts *o)
{
	return o->quick ? 1000000u : 10000000u;
}

/* Workload tables, one per file. Each ends with a zeroed entry. */
extern const struct bench_wl bench_wl_base[];
extern const struct bench_wl bench_wl_floor[];
extern const struct bench_wl bench_wl_ring[];
extern const struct bench_wl bench_wl_notify[]; /* wl_notify.c, with the ring */
extern const struct bench_wl bench_wl_table[];
extern const struct bench_wl bench_wl_vector[];
extern const struct bench_wl bench_wl_rec[];
extern const struct bench_wl bench_wl_ck[];
extern const struct bench_wl bench_wl_boost[];
extern const struct bench_wl bench_wl_msg[];
extern const struct bench_wl bench_wl_pool[]; /* wl_pool.c, with the ring */
extern const struct bench_wl bench_wl_uds[];

#endif /* SHMAP_BENCH_H */
