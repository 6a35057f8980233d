/* SPDX-License-Identifier: MIT */
/*
 * torture_hostile.c - hostile peers (scenarios 20 and 22).
 *
 * 20, random scribbler: for each structure (hash table, vector, SPSC, SPMC
 * and lossy broadcast rings) four worker processes run mixed operations
 * while a fifth process, holding its own MAP_SHARED view of the segment,
 * writes random values at random offsets (header, participant table, index
 * and sequence words, payloads) at about 10^5 writes per second. Workers
 * must never crash or fault (the library maps every segment between
 * PROT_NONE guard pages; a SIGSEGV/SIGBUS handler reports the address), every
 * call must return within its deadline + 10 ms, and every status must be one
 * the call documents for a damaged segment (OK, RECOVERED, NOTFOUND, EXIST,
 * FULL, EMPTY, OVERRUN, TIMEOUT, BUSY, CORRUPT, ...; never INVAL for valid
 * arguments, never SYS). A handle that reports CORRUPT is closed and
 * re-opened. The scribbler alternates 800 ms on the mutable part (state
 * word, participants, data region) with 200 ms that also hit the immutable
 * header, which it then restores, so re-opens can succeed again.
 *
 * Latency: a call is "over deadline" if its own time (wall time minus the
 * time the thread sat runnable waiting for a CPU, from
 * /proc/thread-self/schedstat) exceeds deadline + 10 ms; such calls are
 * counted and reported, and one over deadline + 100 ms (own time) fails
 * the test as a stall; a call that never returns is caught by the
 * workers' alarm() watchdog. Wall time is reported only: on an overloaded
 * machine a runnable process can wait over a second for a CPU. (With 6 busy
 * processes on 2 shared vCPUs, host steal time and membarrier() IPIs to
 * descheduled vCPUs can add 10-20 ms no in-guest clock attributes.) Calls
 * late only because of the CPU queue are counted separately.
 *
 * 22, header rewritten after open: after a handle validated the header, a
 * peer rewrites capacity, key/value/element sizes to 16x larger. Operations
 * must keep to the private bounds (fill stops at the private capacity,
 * oversize arguments are TOOBIG, indices past the private capacity RANGE),
 * nothing faults, and the module checker or a re-open reports
 * SHMAP_E_CORRUPT.
 *
 * Environment: SHMAP_SOAK=1 runs 60 s per structure; SHMAP_HOSTILE_SECS
 * overrides the duration per structure (CI: 8 s).
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

enum { S_HTABLE, S_VECTOR, S_SPSC, S_SPMC, S_BCAST, S_N };
static const char *const s_names[S_N] = { "htable", "vector", "ring-spsc", "ring-spmc",
					  "ring-bcast-lossy" };

#define NWORKERS 4
#define DEADLINE_MS 50u     /* timeout handed to every blocking call */
#define WAIT_MS 20u         /* timeout of ring *_wait calls */
#define SLACK_MS 10.0       /* counted and reported */
#define STALL_MS 100.0      /* own time past the deadline that fails the test */
#define SCRIBBLE_RATE 100000.0

/* Header offsets (struct shmap__hdr in src/segment-internal.h; checked against
 * shmap_info at run time). */
#define H_CAPACITY 24u
#define H_KEY_MAX 32u
#define H_VALUE_MAX 36u
#define H_ELEM_SIZE 40u
#define H_IMMUTABLE 256u
#define H_STATE_END 264u   /* the state word, fixed once READY */

#define NCODES 64
#define A_END 0x7fffffff
static int code_idx(int rc)
{
	if (rc >= 0)
		return rc <= 1 ? rc : 63;
	int i = -rc - 1000 + 1; /* -1001 -> 2 */
	return i >= 2 && i < 62 ? i : 63;
}

static const char *code_name(int i)
{
	if (i == 0)
		return "OK";
	if (i == 1)
		return "RECOVERED";
	if (i == 63)
		return "other";
	return shmap_errname(-(i - 1 + 1000));
}

struct wstats {
	uint64_t ops[2];
	double secs[2];
	uint64_t codes[NCODES];
	uint64_t over_deadline;
	uint64_t over_preempted;
	double max_ms;
	double max_ms_nopre;
	uint64_t reopens, reopen_fail;
	int bad_rc;
	char bad_op[40];
	char last_corrupt_op[40];
	int started;
};

struct shared {
	volatile int phase;   /* 0 warm-up, 1 scribbling */
	volatile int stop;
	struct wstats w[NWORKERS];
	uint64_t scribbles;
	double scribble_secs;
};

static struct shared *sh;
static int cur_struct;
static char seg_name[96];

/* ------------------------------------------------------------------ */
/* fault reporting                                                     */

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char msg[96] = "worker fault: signal ", *p = msg + strlen(msg);
	*p++ = (char)('0' + sig / 10);
	*p++ = (char)('0' + sig % 10);
	memcpy(p, " at 0x", 6);
	p += 6;
	uintptr_t a = (uintptr_t)si->si_addr;
	for (int i = 60; i >= 0; i -= 4)
		*p++ = "0123456789abcdef"[(a >> i) & 15u];
	*p++ = '\n';
	ssize_t wr = write(2, msg, (size_t)(p - msg));
	(void)wr;
	_exit(99);
}

static void install_fault_handler(void)
{
	static char altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* ------------------------------------------------------------------ */
/* per-call accounting                                                 */

/*
 * Time this thread spent runnable but not running (waiting for a CPU,
 * after a preemption or a wake-up), in ns: field 2 of
 * /proc/thread-self/schedstat. A call's own time is its wall time minus
 * that; the deadline check applies to it, so an overloaded 2-core machine
 * does not count as a library stall.
 */
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

struct call {
	double t0;
	uint64_t rq0;
};

static inline void call_begin(struct call *c)
{
	c->rq0 = rq_wait_ns();
	c->t0 = th_now();
}

/* Returns 0, or an exit code for the worker (1: bad status, 2: over deadline). */
static int call_end(struct call *c, struct wstats *w, const char *op, int rc, const int *allowed,
		    double deadline_ms)
{
	double ms = (th_now() - c->t0) * 1e3;
	double own = ms - (double)(rq_wait_ns() - c->rq0) / 1e6;
	w->ops[sh->phase ? 1 : 0]++;
	w->codes[code_idx(rc)]++;
	if (ms > w->max_ms)
		w->max_ms = ms;
	if (own > w->max_ms_nopre)
		w->max_ms_nopre = own;
	if (ms > deadline_ms + SLACK_MS) {
		if (own <= deadline_ms + SLACK_MS)
			w->over_preempted++;
		else
			w->over_deadline++;
	}
	int ok = rc == SHMAP_OK;
	for (const int *a = allowed; *a != A_END; a++)
		if (*a == rc)
			ok = 1;
	if (!ok) {
		w->bad_rc = rc;
		snprintf(w->bad_op, sizeof(w->bad_op), "%s", op);
		return 1;
	}
	if (own > deadline_ms + STALL_MS) {
		w->bad_rc = 0;
		snprintf(w->bad_op, sizeof(w->bad_op), "%s %.1f/%.1fms", op, own, ms);
		return 2;
	}
	return 0;
}

/* Allowed-status lists, terminated by A_END. */
static const int A_OPEN[] = { SHMAP_RECOVERED, SHMAP_E_CORRUPT, SHMAP_E_BADMAGIC, SHMAP_E_VERSION,
			      SHMAP_E_TRUNCATED, SHMAP_E_NOTREADY, SHMAP_E_INCOMPAT, SHMAP_E_TIMEOUT,
			      SHMAP_E_BUSY, SHMAP_E_FULL, A_END };
static const int A_HT[] = { SHMAP_RECOVERED, SHMAP_E_NOTFOUND, SHMAP_E_EXIST, SHMAP_E_FULL,
			    SHMAP_E_TIMEOUT, SHMAP_E_BUSY, SHMAP_E_CORRUPT, SHMAP_E_MISMATCH,
			    SHMAP_E_BUFSIZE, A_END };
static const int A_VEC[] = { SHMAP_RECOVERED, SHMAP_E_NOTFOUND, SHMAP_E_FULL, SHMAP_E_EMPTY,
			     SHMAP_E_RANGE, SHMAP_E_NOTREADY, SHMAP_E_TIMEOUT, SHMAP_E_BUSY,
			     SHMAP_E_CORRUPT, A_END };
/* write/publish of our own reservation: INVAL is documented for "the slot is
 * not reserved by this handle", which a scribbled state word makes true. */
static const int A_VEC_PUB[] = { SHMAP_RECOVERED, SHMAP_E_INVAL, SHMAP_E_RANGE, SHMAP_E_CORRUPT, A_END };
static const int A_RING[] = { SHMAP_RECOVERED, SHMAP_E_FULL, SHMAP_E_EMPTY, SHMAP_E_OVERRUN,
			      SHMAP_E_TIMEOUT, SHMAP_E_BUSY, SHMAP_E_CORRUPT, SHMAP_E_NOTATTACHED, A_END };
/* commit/release of our own outstanding run: INVAL if the library dropped it. */
static const int A_RING_REL[] = { SHMAP_RECOVERED, SHMAP_E_INVAL, SHMAP_E_OVERRUN, SHMAP_E_CORRUPT,
				  SHMAP_E_NOTATTACHED, A_END };

/* ------------------------------------------------------------------ */
/* structure parameters                                                */

#define HT_CAP 256u
#define HT_KEY 16u
#define HT_VAL 64u
#define VEC_ELEM 16u
#define VEC_CAP 65536u
#define RING_ELEM 32u
#define RING_CAP 64u
#define RING_CONS 4u

static shmap_opts *make_opts(void)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != SHMAP_OK)
		return NULL;
	shmap_opts_set_timeout_ms(o, DEADLINE_MS);
	shmap_opts_set_max_procs(o, 32);
	return o;
}

static uint32_t ring_type(int s)
{
	return s == S_SPSC ? SHMAP_RING_SPSC : s == S_SPMC ? SHMAP_RING_SPMC : SHMAP_RING_BCAST_LOSSY;
}

/* A worker's handle: one of the three. */
struct handle {
	shmap_htable *t;
	shmap_vector *v;
	shmap_ring *r;
};

static int worker_role(int id)
{
	return id == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER;
}

static int open_handle(int id, struct handle *h, const shmap_opts *o)
{
	switch (cur_struct) {
	case S_HTABLE: {
		int rc = shmap_htable_open(seg_name, SHMAP_OPEN, 0, 0, 0, o, &h->t);
		if (rc >= 0)
			shmap_htable_set_timeout_ms(h->t, DEADLINE_MS);
		return rc;
	}
	case S_VECTOR:
		return shmap_vector_open(seg_name, SHMAP_OPEN, 0, 0, o, &h->v);
	default:
		return shmap_ring_open(seg_name, SHMAP_OPEN, 0, 0, 0, (uint32_t)worker_role(id), o, &h->r);
	}
}

static void close_handle(struct handle *h)
{
	shmap_htable_close(h->t);
	shmap_vector_close(h->v);
	shmap_ring_close(h->r);
	memset(h, 0, sizeof(*h));
}

/* ------------------------------------------------------------------ */
/* one random operation                                                */

static int htable_upd(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len,
		      void *arg)
{
	(void)arg;
	if (exists && cur_len > 0 && cur_len <= HT_VAL) {
		memcpy(out, cur, cur_len);
		((uint8_t *)out)[0]++;
		*out_len = cur_len;
	} else {
		memset(out, 1, 8);
		*out_len = 8;
	}
	return SHMAP_HTABLE_COMMIT;
}

/* Runs one op; returns the worker's exit code (0 = go on); *corrupt set on CORRUPT. */
static int one_op(int id, struct handle *h, uint64_t *rs, struct wstats *w, int *corrupt)
{
	struct call c;
	uint64_t x = tt_rand(rs);
	unsigned pick = (unsigned)(x % 100u);
	int rc, e;
	uint8_t buf[RING_ELEM * 8 > HT_VAL ? RING_ELEM * 8 : HT_VAL];
	memset(buf, (int)(x >> 8), sizeof(buf));
	switch (cur_struct) {
	case S_HTABLE: {
		char key[HT_KEY];
		uint32_t kl = (uint32_t)snprintf(key, sizeof(key), "k%u", (unsigned)((x >> 16) % 512u));
		uint32_t vl = 1u + (uint32_t)((x >> 32) % HT_VAL), ol;
		double dl = DEADLINE_MS;
		const char *op;
		call_begin(&c);
		if (pick < 40) {
			op = "htable_get";
			dl = 0;
			rc = shmap_htable_get(h->t, key, kl, buf, sizeof(buf), &ol);
		} else if (pick < 60) {
			op = "htable_upsert";
			rc = shmap_htable_upsert(h->t, key, kl, buf, vl);
		} else if (pick < 70) {
			op = "htable_insert";
			rc = shmap_htable_insert(h->t, key, kl, buf, vl);
		} else if (pick < 80) {
			op = "htable_erase";
			rc = shmap_htable_erase(h->t, key, kl);
		} else if (pick < 85) {
			op = "htable_replace";
			rc = shmap_htable_replace(h->t, key, kl, buf, vl);
		} else if (pick < 90) {
			op = "htable_cas";
			rc = shmap_htable_cas(h->t, key, kl, buf, vl, buf, vl);
		} else if (pick < 95) {
			op = "htable_update";
			rc = shmap_htable_update(h->t, key, kl, htable_upd, NULL);
		} else {
			op = "htable_cursor";
			dl = 0;
			shmap_htable_cursor *cur = NULL;
			rc = shmap_htable_cursor_new(h->t, &cur);
			if (rc == SHMAP_OK) {
				char kb[HT_KEY];
				uint32_t k2, v2;
				for (int i = 0; i < 64; i++) {
					rc = shmap_htable_cursor_next(cur, kb, sizeof(kb), &k2, buf,
								      sizeof(buf), &v2);
					if (rc != SHMAP_OK)
						break;
				}
				shmap_htable_cursor_free(cur);
			}
		}
		e = call_end(&c, w, op, rc, A_HT, dl);
		break;
	}
	case S_VECTOR: {
		uint64_t n = shmap_vector_reserved(h->v);
		uint64_t idx = n ? (x >> 20) % (n + 4u) : (x >> 20) % 8u, got;
		double dl = 0;
		const int *al = A_VEC;
		const char *op;
		call_begin(&c);
		if (pick < 20) {
			op = "vector_push";
			rc = shmap_vector_push(h->v, buf, &got);
		} else if (pick < 60) {
			op = "vector_get";
			rc = shmap_vector_get(h->v, idx, buf);
		} else if (pick < 70) {
			op = "vector_replace";
			dl = DEADLINE_MS;
			rc = shmap_vector_replace(h->v, idx, buf);
		} else if (pick < 80) {
			op = "vector_next";
			uint64_t cur = idx;
			for (int i = 0; i < 16; i++) {
				rc = shmap_vector_next(h->v, &cur, buf, &got);
				if (rc != SHMAP_OK)
					break;
			}
		} else if (pick < 90) {
			op = "vector_reserve";
			uint64_t k = 1u + x % 4u, first;
			rc = shmap_vector_reserve(h->v, k, &first);
			if (rc == SHMAP_OK) {
				e = call_end(&c, w, op, rc, al, dl);
				if (e)
					return e;
				call_begin(&c);
				op = "vector_write_publish";
				al = A_VEC_PUB;
				rc = shmap_vector_write(h->v, first, buf);
				int rc2 = shmap_vector_publish(h->v, first, k);
				if (rc == SHMAP_OK)
					rc = rc2;
			}
		} else if (pick < 95) {
			op = "vector_stat";
			uint64_t a, b, d;
			rc = th_vector_stats(h->v, &a, &b, &d);
			(void)shmap_vector_size(h->v);
		} else {
			op = "vector_recover";
			rc = shmap_vector_recover(h->v);
			if (rc == SHMAP_E_NOTREADY)
				rc = SHMAP_OK; /* the first pending slot's writer is alive */
		}
		e = call_end(&c, w, op, rc, al, dl);
		break;
	}
	default: {
		uint32_t done, got;
		double dl = 0;
		const char *op;
		if (!h->r) {
			/* SPSC workers 2, 3 (no role to take): try the roles, expect BUSY. */
			shmap_opts *o = make_opts();
			shmap_ring *r = NULL;
			call_begin(&c);
			rc = shmap_ring_open(seg_name, SHMAP_OPEN, 0, 0, 0,
					     (x & 1) ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER, o, &r);
			e = call_end(&c, w, "ring_open(role taken)", rc, A_OPEN, DEADLINE_MS);
			shmap_ring_close(r);
			shmap_opts_free(o);
			usleep(200);
			return e;
		}
		call_begin(&c);
		if (worker_role(id) == SHMAP_RING_PRODUCER) {
			if (pick < 50) {
				op = "ring_push";
				rc = shmap_ring_push(h->r, buf);
			} else if (pick < 70) {
				op = "ring_push_n";
				rc = shmap_ring_push_n(h->r, buf, 1u + (uint32_t)(x % 8u), &done);
			} else if (pick < 80) {
				op = "ring_reserve";
				void *p;
				rc = shmap_ring_reserve(h->r, 1u + (uint32_t)(x % 4u), &p, &got);
				if (rc == SHMAP_OK) {
					memset(p, 7, (size_t)got * RING_ELEM);
					e = call_end(&c, w, op, rc, A_RING, dl);
					if (e)
						return e;
					call_begin(&c);
					op = "ring_commit";
					rc = shmap_ring_commit(h->r, got);
					e = call_end(&c, w, op, rc, A_RING_REL, dl);
					break;
				}
			} else if (pick < 90) {
				op = "ring_push_wait";
				dl = WAIT_MS;
				rc = shmap_ring_push_wait(h->r, buf, WAIT_MS);
			} else {
				op = "ring_stats";
				uint64_t a, b, d;
				uint32_t pid, alive;
				rc = th_ring_stats(h->r, &a, &b, &d, &pid, &alive);
			}
		} else {
			if (pick < 50) {
				op = "ring_pop";
				rc = shmap_ring_pop(h->r, buf);
			} else if (pick < 70) {
				op = "ring_pop_n";
				rc = shmap_ring_pop_n(h->r, buf, 1u + (uint32_t)(x % 8u), &done);
			} else if (pick < 80) {
				op = "ring_peek";
				const void *p;
				rc = shmap_ring_peek(h->r, 1u + (uint32_t)(x % 4u), &p, &got);
				if (rc == SHMAP_OK) {
					memcpy(buf, p, RING_ELEM);
					e = call_end(&c, w, op, rc, A_RING, dl);
					if (e)
						return e;
					call_begin(&c);
					op = "ring_release";
					rc = shmap_ring_release(h->r, got);
					e = call_end(&c, w, op, rc, A_RING_REL, dl);
					break;
				}
			} else if (pick < 90) {
				op = "ring_pop_wait";
				dl = WAIT_MS;
				rc = shmap_ring_pop_wait(h->r, buf, WAIT_MS);
			} else {
				op = "ring_info";
				uint64_t cur, miss;
				uint32_t pid, alive;
				(void)shmap_ring_size(h->r);
				rc = th_ring_consumer_stats(h->r, (uint32_t)(x % RING_CONS), &pid, &alive,
							      &cur, &miss);
				if (rc == SHMAP_E_NOTFOUND || rc == SHMAP_E_RANGE)
					rc = SHMAP_OK;
			}
		}
		e = call_end(&c, w, op, rc, A_RING, dl);
		break;
	}
	}
	if (rc == SHMAP_E_CORRUPT || rc == SHMAP_E_NOTATTACHED)
		*corrupt = 1;
	if (getenv("SHMAP_HOSTILE_DEBUG") && rc == SHMAP_E_CORRUPT && (x & 0xffff) == 0)
		fprintf(stderr, "worker %d: CORRUPT (handle %p)\n", id, (void *)h->r);
	return e;
}

static int worker_main(void *arg)
{
	int id = (int)(intptr_t)arg;
	install_fault_handler();
	schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	struct wstats *w = &sh->w[id];
	uint64_t rs = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(th_now() * 1e9);
	shmap_opts *o = make_opts();
	struct handle h = { 0 };
	int rc;
	if (cur_struct == S_SPSC && id >= 2) {
		/* no role left for us: let workers 0 and 1 take theirs first */
		for (int i = 0; i < 5000 && !(sh->w[0].started && sh->w[1].started); i++)
			usleep(1000);
		rc = SHMAP_E_BUSY;
	} else {
		rc = open_handle(id, &h, o);
	}
	if (rc < 0 && !(cur_struct == S_SPSC && id >= 2 && rc == SHMAP_E_BUSY)) {
		fprintf(stderr, "worker %d: open: %s\n", id, shmap_errname(rc));
		return 3;
	}
	w->started = 1;
	double t_phase = th_now();
	int phase = 0, e = 0;
	double next_reopen = 0;
	while (!sh->stop) {
		if (sh->phase != phase) {
			double now = th_now();
			w->secs[phase] += now - t_phase;
			t_phase = now;
			phase = sh->phase;
		}
		int no_role = cur_struct == S_SPSC && id >= 2;
		if (!h.t && !h.v && !h.r && !no_role) {
			if (th_now() < next_reopen) {
				usleep(500);
				continue;
			}
			struct call c;
			call_begin(&c);
			rc = open_handle(id, &h, o);
			w->reopens++;
			if (rc < 0)
				w->reopen_fail++;
			e = call_end(&c, w, "reopen", rc, A_OPEN, DEADLINE_MS);
			if (e)
				break;
			if (rc < 0) {
				memset(&h, 0, sizeof(h));
				next_reopen = th_now() + 0.002;
			}
			continue;
		}
		int corrupt = 0;
		e = one_op(id, &h, &rs, w, &corrupt);
		if (e)
			break;
		if (corrupt && !no_role) {
			close_handle(&h);
			next_reopen = th_now() + 0.001;
		}
	}
	w->secs[phase] += th_now() - t_phase;
	close_handle(&h);
	shmap_opts_free(o);
	return e;
}

/* ------------------------------------------------------------------ */
/* the scribbler                                                       */

static int scribbler_main(void *arg)
{
	(void)arg;
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm%s", seg_name);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 10;
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size < 4096)
		return 11;
	size_t len = (size_t)st.st_size;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 12;
	uint8_t saved[H_STATE_END];
	memcpy(saved, m, sizeof(saved));
	uint64_t rs = (uint64_t)getpid() * 0x2545f4914f6cdd1dull;
	while (!sh->phase && !sh->stop)
		usleep(1000);
	const uint64_t table[] = { 0, 1, RING_CAP - 1, RING_CAP, RING_CAP + 1, UINT64_C(1) << 31,
				   UINT64_C(1) << 32, UINT64_C(1) << 63, UINT64_MAX };
	double t0 = th_now();
	uint64_t n = 0;
	int header_phase = 0;
	while (!sh->stop) {
		for (int k = 0; k < 1000; k++) {
			uint64_t x = tt_rand(&rs);
			size_t lo = header_phase ? 0 : H_IMMUTABLE;
			size_t off = lo + (size_t)((x >> 8) % (len - lo));
			uint64_t v;
			switch (x & 3u) {
			case 0:
				v = table[(x >> 3) % (sizeof(table) / sizeof(table[0]))];
				break;
			case 1:
				v = tt_rand(&rs);
				break;
			default:
				v = 0;
				break;
			}
			if ((x & 0x30u) == 0) {
				off &= ~(size_t)7;
				if (off + 8 > len)
					off = len - 8;
				if (v == 0 && (x & 4u))
					v = *(volatile uint64_t *)(m + off) + 1u; /* nudge a counter */
				__atomic_store_n((uint64_t *)(m + off), v, __ATOMIC_RELAXED);
			} else if ((x & 0x30u) == 0x10u) {
				off &= ~(size_t)3;
				if (off + 4 > len)
					off = len - 4;
				__atomic_store_n((uint32_t *)(m + off), (uint32_t)v, __ATOMIC_RELAXED);
			} else {
				__atomic_store_n(m + off, (uint8_t)(v ^ (x >> 40)), __ATOMIC_RELAXED);
			}
		}
		n += 1000;
		double el = th_now() - t0;
		/* 800 ms mutable part only, 200 ms everything; then restore the header. */
		int hp = (uint64_t)(el * 1000.0) % 1000u >= 800u;
		if (header_phase && !hp)
			memcpy(m, saved, H_IMMUTABLE);
		header_phase = hp;
		double ahead = (double)n / SCRIBBLE_RATE - el;
		if (ahead > 0.0005)
			usleep((useconds_t)(ahead * 1e6));
	}
	sh->scribbles = n;
	sh->scribble_secs = th_now() - t0;
	memcpy(m, saved, sizeof(saved)); /* header and state: the final checker re-opens */
	munmap(m, len);
	close(fd);
	return 0;
}

/* ------------------------------------------------------------------ */
/* scenario 20 driver                                                  */

static double run_secs(void)
{
	const char *s = getenv("SHMAP_HOSTILE_SECS");
	if (s && *s)
		return atof(s);
	return tt_soak() ? 60.0 : 8.0;
}

static int create_struct(int s, const char *name, struct handle *h)
{
	shmap_opts *o = make_opts();
	int rc;
	switch (s) {
	case S_HTABLE:
		rc = shmap_htable_open(name, SHMAP_CREATE, HT_KEY, HT_VAL, HT_CAP, o, &h->t);
		break;
	case S_VECTOR:
		rc = shmap_vector_open(name, SHMAP_CREATE, VEC_ELEM, VEC_CAP, o, &h->v);
		break;
	default:
		/* the creator takes no role the workers need: open as a consumer
		 * of a multi-consumer ring, or create and close for SPSC. */
		rc = th_ring_open(name, SHMAP_CREATE, ring_type(s), RING_ELEM, RING_CAP,
				     s == S_SPSC ? 1u : RING_CONS, SHMAP_RING_CONSUMER, o, &h->r);
		if (rc >= 0) {
			shmap_ring_close(h->r); /* keep the segment, free the role */
			h->r = NULL;
		}
		break;
	}
	shmap_opts_free(o);
	return rc;
}

static void scribble_test(int s)
{
	const char *only = getenv("SHMAP_HOSTILE_ONLY");
	if (only && *only && strcmp(only, s_names[s]) != 0)
		skip();
	cur_struct = s;
	th_name(seg_name, sizeof(seg_name), "hostile");
	struct handle owner = { 0 };
	int rc = create_struct(s, seg_name, &owner);
	assert_true(rc >= 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	double secs = run_secs();
	struct tt_proc w[NWORKERS], sc;
	for (int i = 0; i < NWORKERS; i++)
		assert_int_equal(tt_spawn(&w[i], worker_main, (void *)(intptr_t)i, (unsigned)secs + 30), 0);
	assert_int_equal(tt_spawn(&sc, scribbler_main, NULL, (unsigned)secs + 30), 0);
	usleep((useconds_t)(secs * 0.3 * 1e6));
	sh->phase = 1;
	usleep((useconds_t)(secs * 0.7 * 1e6));
	sh->stop = 1;
	int failed = 0;
	char sb[64];
	for (int i = 0; i < NWORKERS; i++) {
		int st = tt_wait(&w[i], 20.0);
		if (!th_ok(st)) {
			failed++;
			fprintf(stderr, "hostile %s: worker %d %s; last op '%s' rc %s\n", s_names[s], i,
				tt_status_str(st, sb, sizeof(sb)), sh->w[i].bad_op,
				sh->w[i].bad_rc ? shmap_errname(sh->w[i].bad_rc) : "(deadline)");
		}
	}
	int st = tt_wait(&sc, 20.0);
	if (!th_ok(st)) {
		failed++;
		fprintf(stderr, "hostile %s: scribbler %s\n", s_names[s], tt_status_str(st, sb, sizeof(sb)));
	}

	/* aggregate */
	uint64_t ops[2] = { 0, 0 }, codes[NCODES] = { 0 }, over = 0, overp = 0, reo = 0, reof = 0;
	double secs_ph[2] = { 0, 0 }, maxms = 0, maxnp = 0;
	for (int i = 0; i < NWORKERS; i++) {
		struct wstats *ws = &sh->w[i];
		for (int p = 0; p < 2; p++) {
			ops[p] += ws->ops[p];
			secs_ph[p] = ws->secs[p] > secs_ph[p] ? ws->secs[p] : secs_ph[p];
		}
		for (int k = 0; k < NCODES; k++)
			codes[k] += ws->codes[k];
		over += ws->over_deadline;
		overp += ws->over_preempted;
		reo += ws->reopens;
		reof += ws->reopen_fail;
		if (ws->max_ms > maxms)
			maxms = ws->max_ms;
		if (ws->max_ms_nopre > maxnp)
			maxnp = ws->max_ms_nopre;
	}
	printf("# hostile %-16s %.0f s: ops/s before %.0f, during scribbling %.0f; scribbles %" PRIu64
	       " (%.0f/s); max call %.2f ms wall, %.2f ms own (wall minus CPU-queue wait); over deadline+10ms: %" PRIu64
	       " (only by CPU-queue wait, not counted: %" PRIu64 "); re-opens %" PRIu64 " (failed %" PRIu64
	       "); failed processes %d\n",
	       s_names[s], secs, secs_ph[0] > 0 ? (double)ops[0] / secs_ph[0] : 0,
	       secs_ph[1] > 0 ? (double)ops[1] / secs_ph[1] : 0, sh->scribbles,
	       sh->scribble_secs > 0 ? (double)sh->scribbles / sh->scribble_secs : 0, maxms, maxnp, over,
	       overp, reo, reof, failed);
	printf("#   codes:");
	for (int k = 0; k < NCODES; k++)
		if (codes[k])
			printf(" %s=%" PRIu64, code_name(k), codes[k]);
	printf("\n");
	fflush(stdout);

	/* The owner's handle still works (any defined code) and the checker
	 * says what it thinks of the scribbled segment; closing is clean. */
	uint64_t problems = 0;
	if (owner.t) {
		rc = shmap_htable_check(owner.t, SHMAP_CHECK_REPAIR, &problems);
	} else if (owner.v) {
		rc = shmap_vector_check(owner.v, SHMAP_CHECK_REPAIR, &problems);
	} else {
		shmap_opts *o = make_opts();
		rc = shmap_ring_open(seg_name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, o, &owner.r);
		if (rc >= 0)
			rc = shmap_ring_check(owner.r, SHMAP_CHECK_REPAIR, &problems);
		shmap_opts_free(o);
	}
	printf("#   final checker (repair) on the scribbled segment: %s, %" PRIu64 " problems\n",
	       shmap_errname(rc), problems);
	/* BUSY: a scribbled lock word (a bucket's, the record allocator's) can
	 * name a live owner, and a repair never runs beside a live writer */
	assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED || rc == SHMAP_E_CORRUPT ||
		    (owner.t && rc == SHMAP_E_BUSY) ||
		    (!owner.t && !owner.v && rc < 0 && rc != SHMAP_E_INVAL && rc != SHMAP_E_SYS));
	close_handle(&owner);
	shmap_unlink(seg_name, NULL);
	munmap(sh, sizeof(*sh));
	assert_int_equal(failed, 0);
}

static void test_scribble_htable(void **state)
{
	(void)state;
	scribble_test(S_HTABLE);
}

static void test_scribble_vector(void **state)
{
	(void)state;
	scribble_test(S_VECTOR);
}

static void test_scribble_spsc(void **state)
{
	(void)state;
	scribble_test(S_SPSC);
}

static void test_scribble_spmc(void **state)
{
	(void)state;
	scribble_test(S_SPMC);
}

static void test_scribble_bcast(void **state)
{
	(void)state;
	scribble_test(S_BCAST);
}

/* ------------------------------------------------------------------ */
/* scenario 22: header rewritten after open                            */

struct hdr_result {
	int check_rc;
	int reopen_rc;
	int fail_line;
};

static struct hdr_result *hres;

#define HFAIL()                                                                                    \
	do {                                                                                       \
		hres->fail_line = __LINE__;                                                        \
		return 1;                                                                          \
	} while (0)

static void rewrite_header(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	uint8_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	uint64_t cap;
	uint32_t v;
	memcpy(&cap, m + H_CAPACITY, 8);
	cap *= 16;
	memcpy(m + H_CAPACITY, &cap, 8);
	const uint32_t offs[] = { H_KEY_MAX, H_VALUE_MAX, H_ELEM_SIZE };
	for (size_t i = 0; i < 3; i++) {
		memcpy(&v, m + offs[i], 4);
		v = v ? v * 16u : 0;
		memcpy(m + offs[i], &v, 4);
	}
	munmap(m, 4096);
}

/* The header offsets used above are those of the library's header. */
static int offsets_match(const char *name, uint64_t cap, uint32_t key_max, uint32_t val_max,
			 uint32_t elem)
{
	shmap_info *in = NULL;
	if (shmap_info_open(name, NULL, &in) != SHMAP_OK)
		return 0;
	int ok = shmap_info_field(in, SHMAP_INFO_CAPACITY) == cap &&
		 shmap_info_field(in, SHMAP_INFO_KEY_MAX) == key_max &&
		 shmap_info_field(in, SHMAP_INFO_VALUE_MAX) == val_max &&
		 shmap_info_field(in, SHMAP_INFO_ELEM_SIZE) == elem;
	shmap_info_free(in);
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t hb[64];
	if (fd < 0 || pread(fd, hb, sizeof(hb), 0) != (ssize_t)sizeof(hb)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	close(fd);
	uint64_t c;
	uint32_t k, vv, e;
	memcpy(&c, hb + H_CAPACITY, 8);
	memcpy(&k, hb + H_KEY_MAX, 4);
	memcpy(&vv, hb + H_VALUE_MAX, 4);
	memcpy(&e, hb + H_ELEM_SIZE, 4);
	return ok && c == cap && k == key_max && vv == val_max && e == elem;
}

static int hdr_vector(void *arg)
{
	(void)arg;
	install_fault_handler();
	shmap_vector *v = NULL;
	if (shmap_vector_open(seg_name, SHMAP_CREATE, 8, 64, NULL, &v) != SHMAP_OK)
		HFAIL();
	if (!offsets_match(seg_name, 64, 0, 0, 8))
		HFAIL();
	rewrite_header(seg_name);
	uint64_t e = 0x1122334455667788ull, out, n = 0, idx;
	if (shmap_vector_capacity(v) != 64 || shmap_vector_elem_size(v) != 8)
		HFAIL();
	while (shmap_vector_push(v, &e, &idx) == SHMAP_OK)
		if (++n > 64 * 16)
			break;
	if (n != 64)
		HFAIL();
	if (shmap_vector_get(v, 64, &out) != SHMAP_E_RANGE || shmap_vector_get(v, 64 * 16 - 1, &out) != SHMAP_E_RANGE)
		HFAIL();
	if (shmap_vector_get(v, 63, &out) != SHMAP_OK || out != e)
		HFAIL();
	uint32_t sst;
	if (shmap_vector_slot_state(v, 64 * 8, &sst, NULL) != SHMAP_E_RANGE)
		HFAIL();
	hres->check_rc = shmap_vector_check(v, 0, NULL);
	shmap_vector *v2 = NULL;
	hres->reopen_rc = shmap_vector_open(seg_name, SHMAP_OPEN, 0, 0, NULL, &v2);
	shmap_vector_close(v2);
	shmap_vector_close(v);
	return 0;
}

static int hdr_htable(void *arg)
{
	(void)arg;
	install_fault_handler();
	shmap_htable *t = NULL;
	if (shmap_htable_open(seg_name, SHMAP_CREATE, 8, 16, 16, NULL, &t) != SHMAP_OK)
		HFAIL();
	uint64_t cap = shmap_htable_capacity(t);
	if (!offsets_match(seg_name, cap, 8, 16, 0))
		HFAIL();
	rewrite_header(seg_name);
	if (shmap_htable_capacity(t) != cap || shmap_htable_key_max(t) != 8 ||
	    shmap_htable_value_max(t) != 16)
		HFAIL();
	uint8_t big[16 * 16 + 1];
	memset(big, 'x', sizeof(big));
	if (shmap_htable_insert(t, big, 9, big, 4) != SHMAP_E_TOOBIG)
		HFAIL();
	if (shmap_htable_insert(t, big, 4, big, 17) != SHMAP_E_TOOBIG)
		HFAIL();
	uint64_t n = 0;
	char k[8];
	for (unsigned i = 0; i < cap * 16; i++) {
		uint32_t kl = (uint32_t)snprintf(k, sizeof(k), "k%u", i);
		int rc = shmap_htable_insert(t, k, kl, big, 16);
		if (rc == SHMAP_E_FULL)
			break;
		if (rc != SHMAP_OK)
			HFAIL();
		n++;
	}
	if (n < 16 || n > cap)
		HFAIL();
	uint8_t out[16];
	uint32_t ol;
	if (shmap_htable_get(t, "k0", 2, out, sizeof(out), &ol) != SHMAP_OK || ol != 16 ||
	    memcmp(out, big, 16) != 0)
		HFAIL();
	if (shmap_htable_size(t) != n)
		HFAIL();
	hres->check_rc = shmap_htable_check(t, 0, NULL);
	shmap_htable *t2 = NULL;
	hres->reopen_rc = shmap_htable_open(seg_name, SHMAP_OPEN, 0, 0, 0, NULL, &t2);
	shmap_htable_close(t2);
	shmap_htable_close(t);
	return 0;
}

static uint32_t hdr_ring_type = SHMAP_RING_SPSC;

static int hdr_ring(void *arg)
{
	(void)arg;
	install_fault_handler();
	shmap_ring *p = NULL, *c = NULL;
	uint32_t cons = hdr_ring_type == SHMAP_RING_SPSC ? 1u : 2u;
	if (th_ring_open(seg_name, SHMAP_CREATE, hdr_ring_type, 8, 16, cons, SHMAP_RING_PRODUCER, NULL,
			    &p) != SHMAP_OK)
		HFAIL();
	if (shmap_ring_open(seg_name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
		HFAIL();
	if (!offsets_match(seg_name, 16, 0, 0, 8))
		HFAIL();
	rewrite_header(seg_name);
	if (shmap_ring_capacity(p) != 16 || shmap_ring_elem_size(p) != 8 ||
	    shmap_ring_capacity(c) != 16 || shmap_ring_elem_size(c) != 8)
		HFAIL();
	uint8_t big[8 * 16];
	memset(big, 'y', sizeof(big));
	if (shmap_ring_push_bytes(p, big, 9) != SHMAP_E_TOOBIG)
		HFAIL();
	uint64_t n = 0, e;
	for (;;) {
		e = n;
		int rc = shmap_ring_push(p, &e);
		if (rc != SHMAP_OK)
			break;
		if (++n > 16 * 16)
			break;
	}
	if (hdr_ring_type == SHMAP_RING_BCAST_LOSSY) {
		if (n <= 16 * 16)
			HFAIL(); /* lossy never refuses */
	} else if (n != 16) {
		HFAIL();
	}
	uint64_t got = 0, out;
	int rc;
	while ((rc = shmap_ring_pop(c, &out)) == SHMAP_OK || rc == SHMAP_E_OVERRUN) {
		if (rc == SHMAP_OK && hdr_ring_type != SHMAP_RING_BCAST_LOSSY && out != got)
			HFAIL();
		if (++got > 16 * 16 + 4)
			HFAIL();
	}
	if (hdr_ring_type != SHMAP_RING_BCAST_LOSSY && got != 16)
		HFAIL();
	hres->check_rc = shmap_ring_check(p, 0, NULL);
	shmap_ring *r2 = NULL;
	hres->reopen_rc = shmap_ring_open(seg_name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &r2);
	shmap_ring_close(r2);
	shmap_ring_close(c);
	shmap_ring_close(p);
	return 0;
}

static void hdr_case(const char *what, int (*fn)(void *), int *detected_by_check, int *detected)
{
	th_name(seg_name, sizeof(seg_name), "hdr22");
	hres->check_rc = hres->reopen_rc = 12345;
	hres->fail_line = 0;
	pid_t pid = th_fork(fn, NULL, 20);
	int st = th_wait(pid, 30.0);
	shmap_unlink(seg_name, NULL);
	char sb[64];
	printf("# header-rewrite %-16s child %s, bounds %s, check %s, re-open %s\n", what,
	       tt_status_str(st, sb, sizeof(sb)), hres->fail_line ? "VIOLATED" : "kept",
	       hres->check_rc == 12345 ? "-" : shmap_errname(hres->check_rc),
	       hres->reopen_rc == 12345 ? "-" : shmap_errname(hres->reopen_rc));
	if (hres->fail_line)
		fprintf(stderr, "header-rewrite %s: failed at torture_hostile.c:%d\n", what, hres->fail_line);
	assert_true(th_ok(st));
	assert_int_equal(hres->fail_line, 0);
	*detected_by_check += hres->check_rc == SHMAP_E_CORRUPT;
	*detected += hres->check_rc == SHMAP_E_CORRUPT || hres->reopen_rc == SHMAP_E_CORRUPT;
}

static void test_header_rewrite(void **state)
{
	(void)state;
	hres = mmap(NULL, sizeof(*hres), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(hres != MAP_FAILED);
	int by_check = 0, detected = 0, cases = 0;
	hdr_case("vector", hdr_vector, &by_check, &detected);
	cases++;
	hdr_case("htable", hdr_htable, &by_check, &detected);
	cases++;
	const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, SHMAP_RING_BCAST_LOSSY,
				   SHMAP_RING_BCAST_RELIABLE };
	const char *names[] = { "ring-spsc", "ring-spmc", "ring-bcast-lossy", "ring-bcast-reliable" };
	for (int i = 0; i < 4; i++) {
		hdr_ring_type = types[i];
		hdr_case(names[i], hdr_ring, &by_check, &detected);
		cases++;
	}
	printf("# header-rewrite: %d cases, 0 faults, corruption detected %d/%d (by the module checker "
	       "alone %d/%d)\n",
	       cases, detected, cases, by_check, cases);
	munmap(hres, sizeof(*hres));
	assert_int_equal(detected, cases);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_header_rewrite, tt_teardown),
		cmocka_unit_test_teardown(test_scribble_htable, tt_teardown),
		cmocka_unit_test_teardown(test_scribble_vector, tt_teardown),
		cmocka_unit_test_teardown(test_scribble_spsc, tt_teardown),
		cmocka_unit_test_teardown(test_scribble_spmc, tt_teardown),
		cmocka_unit_test_teardown(test_scribble_bcast, tt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
