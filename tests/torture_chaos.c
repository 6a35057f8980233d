/* SPDX-License-Identifier: MIT */
/*
 * torture_chaos.c - chaos soak (scenario 28).
 *
 * Eight worker processes with random roles share one hash table, one SPSC
 * ring and one vector:
 *   table writer   upsert/update/erase of 256 keys with self-checking records
 *   table reader   get + record check (key matches, check value intact)
 *   ring producer  pushes records {incarnation, seq} (one producer at a time;
 *                  a new one takes the role over from a dead one)
 *   ring consumer  peek -> record what it saw -> release, so a kill at any
 *                  point is accounted for exactly
 *   vector appender pushes records {incarnation, seq}
 *   vector reader  iterates the published prefix and checks every record
 * A controller SIGKILLs a random worker every 50-500 ms and restarts it with
 * a random role, and SIGSTOPs/SIGCONTs random workers for 10-300 ms.
 *
 * Invariants (any violation fails the test):
 *   - no torn or invented record anywhere (check value + payload derived from key);
 *   - ring: elements arrive in order; within a producer incarnation seq
 *     numbers are contiguous, except that the element a consumer was
 *     killed on may be delivered again (at-least-once for that one); when a
 *     new incarnation's first element arrives, the previous one's elements
 *     were all delivered;
 *   - vector: per appender incarnation, seq numbers grow with the index;
 *   - no hang: a running (not stopped) worker makes progress at least every
 *     5 s, and no call's own time (wall minus CPU-queue wait) exceeds its
 *     deadline + 100 ms; calls over deadline + 10 ms are counted and
 *     reported (on a shared VM a membarrier() waiting for a vCPU the host
 *     has descheduled can add ~10-20 ms that no in-guest clock attributes);
 *     a call over deadline + 100 ms is excused (and counted) only when the
 *     host's steal of the guest's CPUs during it covers the excess;
 *   - after the run: every checker repairs what dead processes left and then
 *     reports OK; the structures' contents verify in full; no /dev/shm
 *     leftovers; the controller's descriptors and RSS stay stable (+-5%).
 *
 * Sizes: SHMAP_CHAOS_SECS overrides; CI 30 s, SHMAP_SOAK=1 600 s.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <shmap/shmap.h>

#include "torture.h"
#include "th_api.h"

#define NWORKERS 8
#define DEADLINE_MS 50u
#define WAIT_MS 20u
#define SLACK_MS 10.0      /* reported: calls whose own time exceeds deadline + 10 ms */
#define HARD_MS 100.0      /* failure: a call this far past its deadline is a stall */
#define STALL_S 5.0
#define HT_CAP 512u
#define HT_KEYS 256u
#define VEC_CAP (1u << 18)
#define RING_CAP 256u

enum { R_HT_WRITER, R_HT_READER, R_PRODUCER, R_CONSUMER, R_APPENDER, R_VREADER, R_N };
static const char *const role_names[R_N] = { "table-writer", "table-reader", "ring-producer",
					     "ring-consumer", "vector-appender", "vector-reader" };

struct wslot {
	volatile uint64_t heartbeat;   /* ops completed */
	volatile double max_own_ms;    /* longest call, own time */
	volatile int role;
	volatile int ready;
};

struct chaos {
	volatile int stop;
	volatile uint64_t violations;
	volatile uint64_t incarnation;      /* producer/appender incarnation counter */
	/* ring accounting */
	volatile uint64_t prod_inc;         /* incarnation of the current producer */
	volatile uint64_t prod_last_seq[4096]; /* per incarnation (mod 4096): last seq pushed + 1 */
	volatile uint64_t cons_ack;         /* last element acknowledged: inc << 40 | seq, 0 = none */
	volatile uint64_t ring_recv, ring_dups;
	/* counters */
	volatile uint64_t ops[R_N];
	volatile uint64_t kills, stops, restarts, timeouts, busy;
	volatile uint64_t over_slack;       /* calls over deadline + 10 ms (own time) */
	volatile uint64_t steal_ticks;      /* host steal of all CPUs (/proc/stat), sampled by the controller */
	volatile uint64_t steal_excused;    /* calls over deadline + 100 ms only by host steal */
	struct wslot w[NWORKERS];
	char vio_msg[256];
};

static struct chaos *cs;
static char n_ht[96], n_ring[96], n_vec[96];

static void violation(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "INVARIANT VIOLATION (pid %d): %s\n", (int)getpid(), buf);
	if (__atomic_fetch_add(&cs->violations, 1, __ATOMIC_SEQ_CST) == 0)
		snprintf(cs->vio_msg, sizeof(cs->vio_msg), "%s", buf);
}

/* ------------------------------------------------------------------ */
/* timing (own time = wall minus CPU-queue wait, see torture_hostile.c) */

/* Time the hypervisor took from this guest's CPUs (the steal column of
 * /proc/stat, every CPU added up), in clock ticks; 0 where there is none. */
static uint64_t steal_now(void)
{
	char b[256];
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = 0;
	unsigned long long f[8] = { 0 };
	if (sscanf(b, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3], &f[4],
		   &f[5], &f[6], &f[7]) != 8)
		return 0;
	return f[7];
}

static int schedstat_fd = -1;

static uint64_t rq_wait_ns(void)
{
	char b[128];
	if (schedstat_fd < 0)
		return 0;
	ssize_t n = pread(schedstat_fd, b, sizeof(b) - 1, 0);
	if (n <= 0)
		return 0;
	b[n] = 0;
	char *p = strchr(b, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

static int my_slot;
static volatile uint32_t cont_count; /* SIGCONT seen: a call spanning a stop is not timed */

static void on_cont(int sig)
{
	(void)sig;
	cont_count++;
}

struct call {
	double t0;
	uint64_t rq0;
	uint64_t steal0;
	uint32_t cont0;
};

static void cb(struct call *c)
{
	c->cont0 = cont_count;
	c->steal0 = cs->steal_ticks; /* at most one controller period old: never more than now */
	c->rq0 = rq_wait_ns();
	c->t0 = th_now();
}

static void ce(struct call *c, const char *op, int rc, double deadline_ms)
{
	double ms = (th_now() - c->t0) * 1e3;
	double own = ms - (double)(rq_wait_ns() - c->rq0) / 1e6;
	struct wslot *w = &cs->w[my_slot];
	w->heartbeat++;
	if (c->cont0 != cont_count)
		return; /* we were stopped during the call */
	if (own > w->max_own_ms)
		w->max_own_ms = own;
	if (own > deadline_ms + SLACK_MS) {
		__atomic_fetch_add(&cs->over_slack, 1, __ATOMIC_RELAXED);
		fprintf(stderr, "chaos: %s took %.1f ms own time (deadline %.0f ms), rc %s\n", op, own,
			deadline_ms, shmap_errname(rc));
	}
	if (own > deadline_ms + HARD_MS) {
		/* A vCPU the host did not run is not a stall of ours: the steal
		 * of every CPU since (at most 5 ms before) the call began bounds
		 * it from above. Only this rare path reads /proc/stat. */
		double steal_ms = (double)(steal_now() - c->steal0) * 1e3 / (double)sysconf(_SC_CLK_TCK);
		if (own - steal_ms <= deadline_ms + HARD_MS) {
			__atomic_fetch_add(&cs->steal_excused, 1, __ATOMIC_RELAXED);
			fprintf(stderr, "chaos: %s: %.1f ms of it host steal\n", op, steal_ms);
		} else {
			violation("%s took %.1f ms (own time; deadline %.0f ms), rc %s", op, own,
				  deadline_ms, shmap_errname(rc));
		}
	}
	if (rc == SHMAP_E_TIMEOUT)
		__atomic_fetch_add(&cs->timeouts, 1, __ATOMIC_RELAXED);
	if (rc == SHMAP_E_BUSY)
		__atomic_fetch_add(&cs->busy, 1, __ATOMIC_RELAXED);
}

static void bad_rc(const char *op, int rc)
{
	violation("%s returned %s", op, shmap_errname(rc));
}

static shmap_opts *opts(void)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != SHMAP_OK)
		return NULL;
	shmap_opts_set_timeout_ms(o, DEADLINE_MS);
	return o;
}

/* ------------------------------------------------------------------ */
/* roles                                                               */

static int ht_update_fn(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len,
			void *arg)
{
	uint64_t key = *(uint64_t *)arg;
	struct tt_rec r;
	uint64_t ver = 1;
	if (exists) {
		if (cur_len != sizeof(r)) {
			violation("update: stored length %u", cur_len);
			return SHMAP_HTABLE_ABORT;
		}
		memcpy(&r, cur, sizeof(r));
		if (tt_rec_check(&r) != 0 || r.key != key) {
			violation("update: torn/invented current value for key %" PRIu64, key);
			return SHMAP_HTABLE_ABORT;
		}
		ver = r.version + 1;
	}
	tt_rec_make(&r, key, ver);
	memcpy(out, &r, sizeof(r));
	*out_len = sizeof(r);
	return SHMAP_HTABLE_COMMIT;
}

static void role_table(int writer, uint64_t *rs)
{
	shmap_opts *o = opts();
	shmap_htable *t = NULL;
	int rc = shmap_htable_open(n_ht, SHMAP_OPEN, 0, 0, 0, o, &t);
	if (rc < 0) {
		bad_rc("htable_open", rc);
		return;
	}
	shmap_htable_set_timeout_ms(t, DEADLINE_MS);
	cs->w[my_slot].ready = 1;
	while (!cs->stop) {
		uint64_t x = tt_rand(rs), key = (x >> 8) % HT_KEYS;
		char k[16];
		uint32_t kl = (uint32_t)snprintf(k, sizeof(k), "key-%" PRIu64, key);
		struct tt_rec r;
		struct call c;
		cb(&c);
		if (!writer) {
			uint32_t vl = 0;
			rc = shmap_htable_get(t, k, kl, &r, sizeof(r), &vl);
			ce(&c, "htable_get", rc, 0);
			if (rc == SHMAP_OK && (vl != sizeof(r) || tt_rec_check(&r) != 0 || r.key != key))
				violation("table reader: key %" PRIu64 " bad record (len %u, check %d, key %" PRIu64 ")",
					  key, vl, tt_rec_check(&r), r.key);
			else if (rc != SHMAP_OK && rc != SHMAP_E_NOTFOUND && rc != SHMAP_E_BUSY)
				bad_rc("htable_get", rc);
		} else if ((x & 15u) < 9u) {
			tt_rec_make(&r, key, x >> 40);
			rc = shmap_htable_upsert(t, k, kl, &r, sizeof(r));
			ce(&c, "htable_upsert", rc, DEADLINE_MS);
			if (rc < 0 && rc != SHMAP_E_TIMEOUT && rc != SHMAP_E_FULL)
				bad_rc("htable_upsert", rc);
		} else if ((x & 15u) < 14u) {
			rc = shmap_htable_update(t, k, kl, ht_update_fn, &key);
			ce(&c, "htable_update", rc, DEADLINE_MS);
			if (rc < 0 && rc != SHMAP_E_TIMEOUT && rc != SHMAP_E_FULL && rc != SHMAP_E_ABORTED)
				bad_rc("htable_update", rc);
		} else {
			rc = shmap_htable_erase(t, k, kl);
			ce(&c, "htable_erase", rc, DEADLINE_MS);
			if (rc < 0 && rc != SHMAP_E_TIMEOUT && rc != SHMAP_E_NOTFOUND)
				bad_rc("htable_erase", rc);
		}
		__atomic_fetch_add(&cs->ops[writer ? R_HT_WRITER : R_HT_READER], 1, __ATOMIC_RELAXED);
		if (writer)
			usleep(50);
	}
	shmap_htable_close(t);
	shmap_opts_free(o);
}

/* Ring element: a record whose key is the producer incarnation and version the seq. */
static void role_producer(uint64_t *rs)
{
	(void)rs;
	shmap_opts *o = opts();
	shmap_ring *r = NULL;
	int rc;
	/* The role is free once the previous producer is found dead. */
	for (;;) {
		if (cs->stop)
			goto out;
		struct call c;
		cb(&c);
		rc = shmap_ring_open(n_ring, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, o, &r);
		ce(&c, "ring_open(producer)", rc, DEADLINE_MS);
		if (rc >= 0)
			break;
		if (rc != SHMAP_E_BUSY) {
			bad_rc("ring_open(producer)", rc);
			goto out;
		}
		usleep(2000);
	}
	uint64_t inc = __atomic_add_fetch(&cs->incarnation, 1, __ATOMIC_SEQ_CST);
	cs->prod_last_seq[inc % 4096] = 0;
	cs->prod_inc = inc;
	cs->w[my_slot].ready = 1;
	uint64_t seq = 0;
	while (!cs->stop) {
		struct tt_rec e;
		tt_rec_make(&e, inc, seq);
		struct call c;
		cb(&c);
		rc = shmap_ring_push_wait(r, &e, WAIT_MS);
		ce(&c, "ring_push_wait", rc, WAIT_MS);
		if (rc >= 0) {
			seq++;
			cs->prod_last_seq[inc % 4096] = seq;
		} else if (rc != SHMAP_E_TIMEOUT) {
			bad_rc("ring_push_wait", rc);
			break;
		}
		__atomic_fetch_add(&cs->ops[R_PRODUCER], 1, __ATOMIC_RELAXED);
		usleep(100);
	}
	shmap_ring_close(r);
out:
	shmap_opts_free(o);
}

/*
 * Check one received element against the accounting, then acknowledge it
 * with one store (a consumer killed anywhere leaves either the old or the
 * new acknowledgement).
 */
static void ring_account(const struct tt_rec *e)
{
	if (tt_rec_check(e) != 0) {
		violation("ring: torn/invented element (inc %" PRIu64 " seq %" PRIu64 ")", e->key, e->version);
		return;
	}
	uint64_t inc = e->key, seq = e->version, ack = cs->cons_ack;
	uint64_t ainc = ack >> 40, aseq = ack & ((UINT64_C(1) << 40) - 1);
	if (ack == 0) {
		if (seq != 0)
			violation("ring: first element is inc %" PRIu64 " seq %" PRIu64, inc, seq);
	} else if (inc == ainc) {
		if (seq == aseq) {
			cs->ring_dups++; /* redelivery after a consumer died between ack and release */
		} else if (seq != aseq + 1) {
			violation("ring: inc %" PRIu64 " seq %" PRIu64 " after seq %" PRIu64, inc, seq, aseq);
		}
	} else if (inc > ainc && inc - ainc < 4096) {
		/* the previous producer's elements were all delivered (its record of
		 * the last push may lag by one: killed after push, before recording) */
		uint64_t pushed = cs->prod_last_seq[ainc % 4096];
		if (seq != 0 || (aseq + 1 != pushed && aseq != pushed))
			violation("ring: inc %" PRIu64 " seq %" PRIu64 " follows inc %" PRIu64 " seq %" PRIu64
				  " (that producer pushed %" PRIu64 ")",
				  inc, seq, ainc, aseq, pushed);
		/* producers in between pushed nothing */
		for (uint64_t k = ainc + 1; k < inc; k++)
			if (cs->prod_last_seq[k % 4096] > 0)
				violation("ring: producer inc %" PRIu64 " pushed %" PRIu64 " never delivered", k,
					  cs->prod_last_seq[k % 4096]);
	} else {
		violation("ring: inc %" PRIu64 " after inc %" PRIu64, inc, ainc);
	}
	cs->cons_ack = inc << 40 | seq;
	cs->ring_recv++;
}

static void role_consumer(uint64_t *rs)
{
	(void)rs;
	shmap_opts *o = opts();
	shmap_ring *r = NULL;
	int rc;
	for (;;) {
		if (cs->stop)
			goto out;
		struct call c;
		cb(&c);
		rc = shmap_ring_open(n_ring, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, o, &r);
		ce(&c, "ring_open(consumer)", rc, DEADLINE_MS);
		if (rc >= 0)
			break;
		if (rc != SHMAP_E_BUSY) {
			bad_rc("ring_open(consumer)", rc);
			goto out;
		}
		usleep(2000);
	}
	cs->w[my_slot].ready = 1;
	while (!cs->stop) {
		struct call c;
		cb(&c);
		rc = shmap_ring_wait(r, WAIT_MS);
		ce(&c, "ring_wait", rc, WAIT_MS);
		if (rc == SHMAP_E_TIMEOUT)
			continue;
		if (rc < 0) {
			bad_rc("ring_wait", rc);
			break;
		}
		const void *p;
		uint32_t got;
		cb(&c);
		rc = shmap_ring_peek(r, 1, &p, &got);
		ce(&c, "ring_peek", rc, 0);
		if (rc == SHMAP_E_EMPTY)
			continue;
		if (rc != SHMAP_OK) {
			bad_rc("ring_peek", rc);
			break;
		}
		struct tt_rec e;
		memcpy(&e, p, sizeof(e));
		ring_account(&e);
		cb(&c);
		rc = shmap_ring_release(r, 1);
		ce(&c, "ring_release", rc, 0);
		if (rc != SHMAP_OK) {
			bad_rc("ring_release", rc);
			break;
		}
		__atomic_fetch_add(&cs->ops[R_CONSUMER], 1, __ATOMIC_RELAXED);
	}
	shmap_ring_close(r);
out:
	shmap_opts_free(o);
}

static void role_vector(int appender, uint64_t *rs)
{
	shmap_opts *o = opts();
	shmap_vector *v = NULL;
	int rc = shmap_vector_open(n_vec, SHMAP_OPEN, 0, 0, o, &v);
	if (rc < 0) {
		bad_rc("vector_open", rc);
		shmap_opts_free(o);
		return;
	}
	cs->w[my_slot].ready = 1;
	uint64_t inc = appender ? __atomic_add_fetch(&cs->incarnation, 1, __ATOMIC_SEQ_CST) : 0, seq = 0;
	uint64_t cursor = 0;
	uint64_t last_seq_of[64] = { 0 }, last_inc_of[64] = { 0 };
	while (!cs->stop) {
		struct call c;
		struct tt_rec e;
		if (appender) {
			tt_rec_make(&e, inc, seq);
			uint64_t idx;
			cb(&c);
			if (tt_rand(rs) & 1) {
				rc = shmap_vector_push(v, &e, &idx);
				ce(&c, "vector_push", rc, 0);
			} else {
				uint64_t first;
				rc = shmap_vector_reserve(v, 1, &first);
				if (rc == SHMAP_OK) {
					rc = shmap_vector_write(v, first, &e);
					if (rc == SHMAP_OK)
						rc = shmap_vector_publish(v, first, 1);
				}
				ce(&c, "vector_reserve_write_publish", rc, 0);
			}
			if (rc == SHMAP_OK)
				seq++;
			else if (rc != SHMAP_E_FULL && rc != SHMAP_E_BUSY)
				bad_rc("vector append", rc);
			if (rc == SHMAP_E_FULL)
				usleep(10000);
			usleep(500);
		} else {
			uint64_t idx;
			cb(&c);
			rc = shmap_vector_next(v, &cursor, &e, &idx);
			ce(&c, "vector_next", rc, 0);
			if (rc == SHMAP_OK) {
				if (tt_rec_check(&e) != 0) {
					violation("vector: bad record at %" PRIu64, idx);
				} else {
					/* per incarnation, seq grows with the index */
					unsigned h = (unsigned)(e.key % 64u);
					if (last_inc_of[h] == e.key && e.version <= last_seq_of[h])
						violation("vector: inc %" PRIu64 " seq %" PRIu64 " at %" PRIu64
							  " after seq %" PRIu64,
							  e.key, e.version, idx, last_seq_of[h]);
					last_inc_of[h] = e.key;
					last_seq_of[h] = e.version;
				}
			} else if (rc == SHMAP_E_EMPTY || rc == SHMAP_E_NOTREADY) {
				usleep(1000);
			} else if (rc != SHMAP_E_BUSY) {
				bad_rc("vector_next", rc);
			}
		}
		__atomic_fetch_add(&cs->ops[appender ? R_APPENDER : R_VREADER], 1, __ATOMIC_RELAXED);
	}
	shmap_vector_close(v);
	shmap_opts_free(o);
}

static int worker_main(void *arg)
{
	my_slot = (int)(intptr_t)arg;
	schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_cont;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCONT, &sa, NULL);
	uint64_t rs = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(th_now() * 1e9);
	switch (cs->w[my_slot].role) {
	case R_HT_WRITER:
		role_table(1, &rs);
		break;
	case R_HT_READER:
		role_table(0, &rs);
		break;
	case R_PRODUCER:
		role_producer(&rs);
		break;
	case R_CONSUMER:
		role_consumer(&rs);
		break;
	case R_APPENDER:
		role_vector(1, &rs);
		break;
	default:
		role_vector(0, &rs);
		break;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* controller                                                          */

/* Private resident memory (RssAnon, kB): shared segment pages the
 * controller touches while reading are not a leak and are excluded. */
static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static double chaos_secs(void)
{
	const char *s = getenv("SHMAP_CHAOS_SECS");
	if (s && *s)
		return atof(s);
	return tt_soak() ? 600.0 : 30.0;
}

struct wstate {
	pid_t pid;
	int stopped;
	double resume_at;
	double last_beat_t;
	uint64_t last_beat;
};

static void spawn(int i, struct wstate *ws, uint64_t *rs)
{
	cs->w[i].role = (int)(tt_rand(rs) % R_N);
	cs->w[i].heartbeat = 0;
	cs->w[i].ready = 0;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		tt_default_signals();
		alarm((unsigned)chaos_secs() + 60u);
		_exit(worker_main((void *)(intptr_t)i));
	}
	ws[i].pid = pid;
	ws[i].stopped = 0;
	ws[i].last_beat = 0;
	ws[i].last_beat_t = th_now();
}

/* Periodic observer work in the controller (exercises inspection and the
 * read-only paths; its fds/RSS are what is measured for stability). */
static void observe(shmap_htable *t, shmap_vector *v)
{
	shmap_info *in = NULL;
	if (shmap_info_open(n_ring, NULL, &in) == SHMAP_OK)
		shmap_info_free(in);
	uint64_t a, b, c;
	(void)th_htable_stats(t, &a, &b, &c);
	(void)th_vector_stats(v, &a, &b, &c);
	(void)shmap_vector_size(v);
}

static void test_chaos(void **state)
{
	(void)state;
	cs = mmap(NULL, sizeof(*cs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(cs != MAP_FAILED);
	memset((void *)cs, 0, sizeof(*cs));
	cs->steal_ticks = steal_now(); /* before any worker times a call */
	th_name(n_ht, sizeof(n_ht), "chaos-ht");
	th_name(n_ring, sizeof(n_ring), "chaos-ring");
	th_name(n_vec, sizeof(n_vec), "chaos-vec");

	shmap_opts *o = opts();
	shmap_opts_set_max_procs(o, 64);
	shmap_htable *t = NULL;
	shmap_vector *v = NULL;
	shmap_ring *r = NULL;
	assert_int_equal(shmap_htable_open(n_ht, SHMAP_CREATE, 16, sizeof(struct tt_rec), HT_CAP, o, &t), SHMAP_OK);
	assert_int_equal(shmap_vector_open(n_vec, SHMAP_CREATE, sizeof(struct tt_rec), VEC_CAP, o, &v), SHMAP_OK);
	/* create the ring, then drop the role (workers take it) */
	assert_int_equal(shmap_ring_open(n_ring, SHMAP_CREATE, SHMAP_RING_SPSC, sizeof(struct tt_rec), RING_CAP, SHMAP_RING_CONSUMER, o, &r),
			 SHMAP_OK);
	shmap_ring_close(r);
	r = NULL;

	uint64_t rs = (uint64_t)getpid() ^ (uint64_t)(th_now() * 1e6);
	printf("# chaos: seed %" PRIu64 "\n", rs);
	double secs = chaos_secs();
	struct wstate ws[NWORKERS];
	for (int i = 0; i < NWORKERS; i++)
		spawn(i, ws, &rs);

	double t0 = th_now(), end = t0 + secs;
	double next_kill = t0 + 0.05 + (double)(tt_rand(&rs) % 450) / 1000.0;
	double next_stop = t0 + 0.1;
	double next_obs = t0;
	int fds0 = -1, hangs = 0;
	long rss0 = 0;
	double max_stall = 0;
	while (th_now() < end) {
		double now = th_now();
		if (fds0 < 0 && now - t0 > secs * 0.1) {
			fds0 = tt_count_fds();
			rss0 = rss_kb();
		}
		if (now >= next_obs) {
			observe(t, v);
			next_obs = now + 0.1;
		}
		/* resume stopped workers */
		for (int i = 0; i < NWORKERS; i++) {
			if (ws[i].stopped && now >= ws[i].resume_at) {
				kill(ws[i].pid, SIGCONT);
				ws[i].stopped = 0;
				ws[i].last_beat_t = now;
			}
		}
		/* hang detection: a running worker must make progress */
		for (int i = 0; i < NWORKERS; i++) {
			uint64_t hb = cs->w[i].heartbeat;
			if (hb != ws[i].last_beat || ws[i].stopped) {
				ws[i].last_beat = hb;
				ws[i].last_beat_t = now;
			} else if (now - ws[i].last_beat_t > STALL_S) {
				fprintf(stderr, "chaos: worker %d (%s, pid %d) made no progress for %.1f s\n", i,
					role_names[cs->w[i].role], (int)ws[i].pid, now - ws[i].last_beat_t);
				hangs++;
				ws[i].last_beat_t = now;
			}
			if (!ws[i].stopped && now - ws[i].last_beat_t > max_stall)
				max_stall = now - ws[i].last_beat_t;
		}
		/* reap workers that exited on their own (they should not) */
		for (int i = 0; i < NWORKERS; i++) {
			int st;
			if (waitpid(ws[i].pid, &st, WNOHANG) == ws[i].pid) {
				char sb[64];
				fprintf(stderr, "chaos: worker %d (%s) ended early: %s\n", i,
					role_names[cs->w[i].role], tt_status_str(st, sb, sizeof(sb)));
				cs->violations++;
				spawn(i, ws, &rs);
			}
		}
		if (now >= next_kill) {
			int i = (int)(tt_rand(&rs) % NWORKERS);
			kill(ws[i].pid, SIGKILL);
			waitpid(ws[i].pid, NULL, 0);
			cs->kills++;
			spawn(i, ws, &rs);
			cs->restarts++;
			next_kill = now + 0.05 + (double)(tt_rand(&rs) % 451) / 1000.0;
		}
		if (now >= next_stop) {
			int i = (int)(tt_rand(&rs) % NWORKERS);
			if (!ws[i].stopped) {
				kill(ws[i].pid, SIGSTOP);
				ws[i].stopped = 1;
				ws[i].resume_at = now + 0.01 + (double)(tt_rand(&rs) % 291) / 1000.0;
				cs->stops++;
			}
			next_stop = now + 0.1 + (double)(tt_rand(&rs) % 400) / 1000.0;
		}
		cs->steal_ticks = steal_now();
		usleep(5000);
	}
	int fds1 = tt_count_fds();
	long rss1 = rss_kb();
	/* stop everyone */
	cs->stop = 1;
	for (int i = 0; i < NWORKERS; i++)
		kill(ws[i].pid, SIGCONT);
	int unclean = 0;
	for (int i = 0; i < NWORKERS; i++) {
		int st = th_wait(ws[i].pid, 10.0);
		if (!th_ok(st)) {
			char sb[64];
			fprintf(stderr, "chaos: worker %d (%s) at the end: %s\n", i, role_names[cs->w[i].role],
				tt_status_str(st, sb, sizeof(sb)));
			unclean++;
		}
	}
	double max_own = 0;
	for (int i = 0; i < NWORKERS; i++)
		if (cs->w[i].max_own_ms > max_own)
			max_own = cs->w[i].max_own_ms;

	/* final checkers: repair what dead processes left, then clean */
	uint64_t p1 = 0, p2 = 0, p3 = 0;
	int rc_ht = shmap_htable_check(t, SHMAP_CHECK_REPAIR, &p1);
	int rc_vec = shmap_vector_check(v, SHMAP_CHECK_REPAIR, &p2);
	int rc_ring = -1;
	assert_true(shmap_ring_open(n_ring, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, o, &r) >= 0);
	rc_ring = shmap_ring_check(r, SHMAP_CHECK_REPAIR, &p3);
	int rc_ht2 = shmap_htable_check(t, 0, NULL), rc_vec2 = shmap_vector_check(v, 0, NULL);
	int rc_ring2 = shmap_ring_check(r, 0, NULL);
	printf("# chaos: checkers (repair) htable %s (%" PRIu64 " problems), vector %s (%" PRIu64
	       "), ring %s (%" PRIu64 "); then %s / %s / %s\n",
	       shmap_errname(rc_ht), p1, shmap_errname(rc_vec), p2, shmap_errname(rc_ring), p3,
	       shmap_errname(rc_ht2), shmap_errname(rc_vec2), shmap_errname(rc_ring2));

	/* full verification of what is left */
	uint64_t bad = 0, nht = 0;
	for (unsigned k = 0; k < HT_KEYS; k++) {
		char key[16];
		uint32_t kl = (uint32_t)snprintf(key, sizeof(key), "key-%u", k), vl = 0;
		struct tt_rec rec;
		int rc = shmap_htable_get(t, key, kl, &rec, sizeof(rec), &vl);
		if (rc == SHMAP_OK) {
			nht++;
			bad += vl != sizeof(rec) || tt_rec_check(&rec) != 0 || rec.key != k;
		} else if (rc != SHMAP_E_NOTFOUND) {
			bad++;
		}
	}
	uint64_t cur = 0, nvec = 0, idx;
	struct tt_rec rec;
	int rc;
	while ((rc = shmap_vector_next(v, &cur, &rec, &idx)) == SHMAP_OK) {
		nvec++;
		bad += tt_rec_check(&rec) != 0;
	}
	if (rc != SHMAP_E_EMPTY)
		bad++;
	uint64_t nring = 0;
	while ((rc = shmap_ring_pop(r, &rec)) == SHMAP_OK) {
		nring++;
		ring_account(&rec);
	}
	if (rc != SHMAP_E_EMPTY)
		bad++;

	shmap_ring_close(r);
	shmap_vector_close(v);
	shmap_htable_close(t);
	shmap_opts_free(o);
	shmap_unlink(n_ht, NULL);
	shmap_unlink(n_vec, NULL);
	shmap_unlink(n_ring, NULL);
	/* this run's names only: another test run on the machine may hold
	 * names with the same prefix meanwhile */
	int leftovers = 0;
	const char *const ours[] = { n_ht, n_vec, n_ring };
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "/dev/shm%s", ours[i]);
		leftovers += access(path, F_OK) == 0;
	}

	printf("# chaos %.0f s: kills %" PRIu64 ", stops %" PRIu64 ", restarts %" PRIu64
	       "; ops: table-w %" PRIu64 " table-r %" PRIu64 " produced %" PRIu64 " consumed %" PRIu64
	       " appended %" PRIu64 " vread %" PRIu64 "; ring received %" PRIu64 " (redelivered %" PRIu64
	       "); timeouts %" PRIu64 ", busy %" PRIu64 "\n",
	       secs, cs->kills, cs->stops, cs->restarts, cs->ops[R_HT_WRITER], cs->ops[R_HT_READER],
	       cs->ops[R_PRODUCER], cs->ops[R_CONSUMER], cs->ops[R_APPENDER], cs->ops[R_VREADER],
	       cs->ring_recv, cs->ring_dups, cs->timeouts, cs->busy);
	printf("# chaos: invariant violations %" PRIu64 ", hangs %d, max progress gap of a running worker "
	       "%.0f ms, max call own time %.2f ms (calls over deadline+10 ms: %" PRIu64 ", over deadline+100 ms only by host steal: %" PRIu64 "); final: table %" PRIu64 " keys, vector %" PRIu64
	       " elements, ring %" PRIu64 " left, %" PRIu64 " bad; /dev/shm leftovers %d; fds %d -> %d, RSS %ld -> %ld kB\n",
	       cs->violations, hangs, max_stall * 1e3, max_own, cs->over_slack, cs->steal_excused, nht, nvec, nring, bad, leftovers, fds0, fds1,
	       rss0, rss1);
	fflush(stdout);
	if (cs->violations)
		fprintf(stderr, "first violation: %s\n", cs->vio_msg);
	uint64_t vio = cs->violations;
	munmap((void *)cs, sizeof(*cs));
	assert_int_equal(vio, 0);
	assert_int_equal(hangs, 0);
	assert_int_equal(unclean, 0);
	assert_true(rc_ht == SHMAP_OK || rc_ht == SHMAP_RECOVERED);
	assert_true(rc_vec == SHMAP_OK || rc_vec == SHMAP_RECOVERED);
	assert_true(rc_ring == SHMAP_OK || rc_ring == SHMAP_RECOVERED);
	assert_int_equal(rc_ht2, SHMAP_OK);
	assert_int_equal(rc_vec2, SHMAP_OK);
	assert_int_equal(rc_ring2, SHMAP_OK);
	assert_int_equal(bad, 0);
	assert_int_equal(leftovers, 0);
	assert_int_equal(fds1, fds0);
#if defined(__SANITIZE_ADDRESS__)
	(void)rss1; /* ASan's free-memory quarantine grows by design: not a leak */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	(void)rss1;
#else
	assert_true(rss1 <= rss0 + rss0 / 20 + 64);
#endif
#else
	assert_true(rss1 <= rss0 + rss0 / 20 + 64);
#endif
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_chaos, tt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
