/* SPDX-License-Identifier: MIT */
/*
 * test_peerfault.c - a peer that shrinks a segment's file does not kill us
 * (scenario 6 of tests/torture/README.md, guard on), and the SIGBUS guard stays out of
 * the way of everything else.
 *
 * Every scenario runs in a child of its own, so that each starts with the
 * guard not yet installed (it is installed when a process maps its first
 * segment; this parent never maps one). A "peer" is a process forked for the
 * purpose that opens the object by name and ftruncate()s it.
 *
 *   kinds:   table (8/8 fast path and general), SPSC ring (copy and
 *            zero-copy), vector; shm and file backends; shrink to 0 and to
 *            half. The call that touches the lost range returns
 *            SHMAP_E_PEERFAULT, every later call on the handle too, close
 *            works, and a fresh segment under the same name works.
 *   threads: 4 threads on a table and 2 on a vector when the peer shrinks
 *            both: every thread ends with SHMAP_E_PEERFAULT, nobody dies.
 *   chain:   a SIGBUS outside shmap's mappings (a file of the test's own,
 *            truncated; a raised SIGBUS) reaches the handler installed
 *            before shmap's (SA_SIGINFO and plain), or kills with SIGBUS
 *            when that was SIG_DFL.
 *   random:  scenario 6 proper: mixed table calls while a peer shrinks the
 *            file to 0 or half, or grows it to double, at a random moment
 *            (50 runs; 200 with SHMAP_SOAK): shrinks end in PEERFAULT,
 *            growth changes nothing, nobody dies.
 *   opt-out: SHMAP_NO_SIGBUS_GUARD, or SHMAP_OPT_NO_SIGBUS_GUARD on the
 *            segment: the shrink kills with SIGBUS, as it did before.
 *   sealed:  a memfd segment refuses the peer's shrink (EPERM).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <shmap/shmap.h>

#include "helpers.h"
#include "th_api.h"

#if defined(__SANITIZE_THREAD__)
#define PF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PF_TSAN 1
#endif
#endif
#ifndef PF_TSAN
#define PF_TSAN 0
#endif

#define CHECK(cond)                                                                                  \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
			return 1;                                                                    \
		}                                                                                    \
	} while (0)
#define CHECK_RC(call, want)                                                                         \
	do {                                                                                         \
		int rc_ = (call);                                                                    \
		if (rc_ != (want)) {                                                                 \
			fprintf(stderr, "%s:%d: %s = %s, want %s\n", __FILE__, __LINE__, #call,       \
				shmap_errname(rc_), shmap_errname(want));                            \
			return 1;                                                                    \
		}                                                                                    \
	} while (0)

static char fdir[64];

struct target {
	uint32_t backend;
	char name[PATH_MAX];
	off_t shrink_to; /* -1: half of the file's allocated bytes */
};

static shmap_opts *mkopts(const struct target *t, uint32_t flags)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != SHMAP_OK) {
		fprintf(stderr, "shmap_opts_new failed\n");
		exit(1);
	}
	shmap_opts_set_backend(o, t->backend);
	shmap_opts_set_timeout_ms(o, 200);
	shmap_opts_set_flags(o, flags);
	return o;
}

static int obj_fd(const struct target *t)
{
	return t->backend == SHMAP_BACKEND_SHM ? shm_open(t->name, O_RDWR, 0) : open(t->name, O_RDWR);
}

/* A forked peer shrinks the object; 0 when it did. */
static int peer_shrink(const struct target *t)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = obj_fd(t);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0)
			_exit(2);
		/* half of what is in use: a sparse file (a table's record area)
		 * has most of its size unallocated, and cutting only that spares
		 * every page the process touches */
		off_t used = (off_t)st.st_blocks * 512 < st.st_size ? (off_t)st.st_blocks * 512 : st.st_size;
		/* and at most 64 KiB in: a filesystem may count preallocated
		 * blocks past what the structure touched */
		off_t half = used / 2 < 65536 ? used / 2 : 65536;
		off_t to = t->shrink_to < 0 ? half : t->shrink_to;
		_exit(ftruncate(fd, to) == 0 ? 0 : 3);
	}
	int st = th_wait(pid, 10);
	return th_ok(st) ? 0 : -1;
}

static void unlink_target(const struct target *t)
{
	if (t->backend == SHMAP_BACKEND_SHM)
		shm_unlink(t->name);
	else
		unlink(t->name);
}

/* ------------------------------------------------------------------ */
/* one kind at a time                                                   */

static int table_case(void *a)
{
	const struct target *t = a;
	shmap_opts *o = mkopts(t, 0);
	for (int general = 0; general < 2; general++) {
		const uint32_t kmax = general ? 24 : 8, vmax = general ? 40 : 8;
		shmap_htable *h;
		CHECK_RC(shmap_htable_open(t->name, SHMAP_CREATE, kmax, vmax, 4096, o, &h), SHMAP_OK);
		uint64_t k, v;
		for (k = 0; k < 2000; k++)
			CHECK_RC(shmap_htable_insert(h, &k, 8, &k, 8), SHMAP_OK);
		CHECK(peer_shrink(t) == 0);
		/* reads until one touches the lost range: that one says PEERFAULT */
		int rc = SHMAP_OK;
		uint32_t vl;
		for (k = 0; k < 2000 && rc == SHMAP_OK; k++)
			rc = shmap_htable_get(h, &k, 8, &v, 8, &vl);
		CHECK_RC(rc, SHMAP_E_PEERFAULT);
		/* poisoned: every later call */
		k = 1;
		CHECK_RC(shmap_htable_get(h, &k, 8, &v, 8, &vl), SHMAP_E_PEERFAULT);
		CHECK_RC(shmap_htable_insert(h, &k, 8, &k, 8), SHMAP_E_PEERFAULT);
		CHECK_RC(shmap_htable_upsert(h, &k, 8, &k, 8), SHMAP_E_PEERFAULT);
		CHECK_RC(shmap_htable_erase(h, &k, 8), SHMAP_E_PEERFAULT);
		uint64_t live;
		CHECK_RC(th_htable_stats(h, &live, NULL, NULL), SHMAP_E_PEERFAULT);
		CHECK_RC(shmap_htable_check(h, 0, NULL), SHMAP_E_PEERFAULT);
		CHECK_RC(shmap_htable_clear(h), SHMAP_E_PEERFAULT);
		CHECK(shmap_htable_size(h) == 0);
		shmap_htable_close(h);
		/* the cut object is refused, never rebuilt behind our back */
		CHECK(shmap_htable_open(t->name, SHMAP_OPEN, 0, 0, 0, o, &h) < 0);
		/* a fresh segment under the same name works */
		unlink_target(t);
		CHECK_RC(shmap_htable_open(t->name, SHMAP_CREATE, kmax, vmax, 4096, o, &h), SHMAP_OK);
		k = 7;
		CHECK_RC(shmap_htable_insert(h, &k, 8, &k, 8), SHMAP_OK);
		CHECK_RC(shmap_htable_get(h, &k, 8, &v, 8, &vl), SHMAP_OK);
		CHECK(v == 7);
		shmap_htable_close(h);
		unlink_target(t);
	}
	shmap_opts_free(o);
	return 0;
}

static int ring_case(void *a)
{
	const struct target *t = a;
	shmap_opts *o = mkopts(t, 0);
	for (int zc = 0; zc < 2; zc++) {
		shmap_ring *p, *c;
		CHECK_RC(shmap_ring_open(t->name, SHMAP_CREATE, SHMAP_RING_SPSC, 64, 1024, SHMAP_RING_PRODUCER, o,
					 &p),
			 SHMAP_OK);
		CHECK_RC(shmap_ring_open(t->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, o, &c), SHMAP_OK);
		uint8_t e[64] = { 1 };
		for (int i = 0; i < 100; i++)
			CHECK_RC(shmap_ring_push(p, e), SHMAP_OK);
		CHECK_RC(shmap_ring_pop(c, e), SHMAP_OK);
		CHECK(peer_shrink(t) == 0);
		int rc = SHMAP_OK;
		if (zc) {
			/* the fault happens in our own code, through a pointer the
			 * ring handed out: the next call on the handle reports it */
			void *ptr;
			uint32_t got = 0;
			for (int i = 0; i < 2000 && rc == SHMAP_OK; i++) {
				rc = shmap_ring_reserve(p, 1, &ptr, &got);
				if (rc == SHMAP_OK && got) {
					memset(ptr, 0x5a, 64);
					rc = shmap_ring_commit(p, got);
				}
			}
		} else {
			for (int i = 0; i < 2000 && rc == SHMAP_OK; i++)
				rc = shmap_ring_push(p, e);
		}
		CHECK_RC(rc, SHMAP_E_PEERFAULT);
		CHECK_RC(shmap_ring_push(p, e), SHMAP_E_PEERFAULT);
		CHECK_RC(shmap_ring_push_wait(p, e, 10), SHMAP_E_PEERFAULT);
		/* the consumer's own mapping: cut to 0, its next call touches a
		 * lost page; cut in half, it only reaches what was published
		 * before (the producer's later writes went to its private copy) */
		rc = SHMAP_OK;
		for (int i = 0; i < 2000 && rc >= 0; i++)
			rc = shmap_ring_pop(c, e);
		if (t->shrink_to == 0) {
			CHECK_RC(rc, SHMAP_E_PEERFAULT);
			CHECK_RC(shmap_ring_pop(c, e), SHMAP_E_PEERFAULT);
			CHECK_RC(shmap_ring_pop_wait(c, e, 10), SHMAP_E_PEERFAULT);
			uint64_t hd;
			CHECK_RC(th_ring_stats(c, &hd, NULL, NULL, NULL, NULL), SHMAP_E_PEERFAULT);
		} else {
			CHECK_RC(rc, SHMAP_E_EMPTY);
		}
		shmap_ring_close(c);
		shmap_ring_close(p);
		unlink_target(t);
		CHECK_RC(shmap_ring_open(t->name, SHMAP_CREATE, SHMAP_RING_SPSC, 64, 1024, SHMAP_RING_PRODUCER, o,
					 &p),
			 SHMAP_OK);
		CHECK_RC(shmap_ring_open(t->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, o, &c), SHMAP_OK);
		CHECK_RC(shmap_ring_push(p, e), SHMAP_OK);
		CHECK_RC(shmap_ring_pop(c, e), SHMAP_OK);
		shmap_ring_close(c);
		shmap_ring_close(p);
		unlink_target(t);
	}
	shmap_opts_free(o);
	return 0;
}

static int vector_case(void *a)
{
	const struct target *t = a;
	shmap_opts *o = mkopts(t, 0);
	shmap_vector *v;
	CHECK_RC(shmap_vector_open(t->name, SHMAP_CREATE, 32, 4096, o, &v), SHMAP_OK);
	uint8_t e[32] = { 3 };
	uint64_t idx;
	for (int i = 0; i < 100; i++)
		CHECK_RC(shmap_vector_push(v, e, &idx), SHMAP_OK);
	CHECK(peer_shrink(t) == 0);
	int rc = SHMAP_OK;
	for (int i = 0; i < 4096 && rc == SHMAP_OK; i++)
		rc = shmap_vector_push(v, e, &idx);
	CHECK_RC(rc, SHMAP_E_PEERFAULT);
	CHECK_RC(shmap_vector_get(v, 0, e), SHMAP_E_PEERFAULT);
	CHECK_RC(shmap_vector_push(v, e, &idx), SHMAP_E_PEERFAULT);
	CHECK_RC(shmap_vector_check(v, 0, NULL), SHMAP_E_PEERFAULT);
	shmap_vector_close(v);
	unlink_target(t);
	CHECK_RC(shmap_vector_open(t->name, SHMAP_CREATE, 32, 4096, o, &v), SHMAP_OK);
	CHECK_RC(shmap_vector_push(v, e, &idx), SHMAP_OK);
	CHECK_RC(shmap_vector_get(v, idx, e), SHMAP_OK);
	shmap_vector_close(v);
	unlink_target(t);
	shmap_opts_free(o);
	return 0;
}

struct child {
	int (*fn)(void *);
	void *arg;
};

/* Children start from SIGBUS = SIG_DFL, not the test framework's handler:
 * without the guard, a shrink kills them with SIGBUS. */
static int child_main(void *a)
{
	const struct child *c = a;
	signal(SIGBUS, SIG_DFL);
	return c->fn(c->arg);
}

static void run_child(int (*fn)(void *), void *arg, const char *what)
{
	struct child c = { fn, arg };
	pid_t pid = th_fork(child_main, &c, 30);
	int st = th_wait(pid, 40);
	if (!th_ok(st)) {
		if (st != -1 && WIFSIGNALED(st))
			fail_msg("%s: child died of signal %d", what, WTERMSIG(st));
		fail_msg("%s: child status %d", what, st);
	}
}

static void set_target(struct target *t, uint32_t backend, off_t to, const char *tag)
{
	static unsigned n;
	t->backend = backend;
	t->shrink_to = to;
	if (backend == SHMAP_BACKEND_SHM)
		th_name(t->name, sizeof t->name, tag);
	else
		snprintf(t->name, sizeof t->name, "%s/%s%u", fdir, tag, n++);
}

static void test_kinds(void **state)
{
	(void)state;
	unsigned runs = 0;
	/* Under the macos personality of tests/shim a shm object is sized
	 * once and never reserved: a peer cannot shrink it on macOS, and
	 * "half of what is allocated" is not what these cases expect. The
	 * file backend is shrunk as everywhere. */
	const char *shim = th_shim();
	const uint32_t first = shim && strcmp(shim, "macos") == 0 ? SHMAP_BACKEND_FILE : 0;
	for (uint32_t backend = first; backend <= SHMAP_BACKEND_FILE; backend++) {
		for (int half = 0; half < 2; half++) {
			struct target t;
			char what[96];
			set_target(&t, backend, half ? -1 : 0, "pf-t");
			snprintf(what, sizeof what, "table %s %s", backend ? "file" : "shm", half ? "half" : "zero");
			run_child(table_case, &t, what);
			set_target(&t, backend, half ? -1 : 0, "pf-r");
			snprintf(what, sizeof what, "ring %s %s", backend ? "file" : "shm", half ? "half" : "zero");
			run_child(ring_case, &t, what);
			set_target(&t, backend, half ? -1 : 0, "pf-v");
			snprintf(what, sizeof what, "vector %s %s", backend ? "file" : "shm", half ? "half" : "zero");
			run_child(vector_case, &t, what);
			runs += 3;
		}
	}
	print_message("# peer shrink: %u cases (table 8/8 and general, SPSC copy and zero-copy, vector; shm and "
		      "file; to 0 and to half): PEERFAULT, poisoned, reopen fresh OK\n", runs);
}

/* ------------------------------------------------------------------ */
/* Scenario 6: a shrink (or growth) at a random moment    */

struct rnd_ctx {
	struct target t;
	int how;           /* 0 shrink to 0, 1 to half, 2 grow to double */
	unsigned delay_us; /* when the peer strikes */
};

/* Mixed table operations until the peer has struck and a call reported it
 * (or, for growth, 20 ms after it struck): exit 0 with PEERFAULT seen
 * (shrink) or not (growth); any other status is a failure. */
static int rnd_case(void *a)
{
	const struct rnd_ctx *c = a;
	shmap_opts *o = mkopts(&c->t, 0);
	shmap_htable *h;
	CHECK_RC(shmap_htable_open(c->t.name, SHMAP_CREATE, 16, 32, 2048, o, &h), SHMAP_OK);
	fflush(NULL);
	pid_t peer = fork();
	if (peer == 0) {
		usleep(c->delay_us);
		int fd = obj_fd(&c->t);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0)
			_exit(2);
		off_t to = c->how == 0 ? 0 : c->how == 1 ? st.st_size / 2 : st.st_size * 2;
		_exit(ftruncate(fd, to) == 0 ? 0 : 3);
	}
	uint64_t rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15u;
	int rc = SHMAP_OK, pst = 0;
	double struck = 0;
	for (unsigned long i = 0;; i++) {
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		uint64_t k = (rng >> 33) % 1500, v[4];
		uint32_t vl;
		switch ((rng >> 20) % 4) {
		case 0: rc = shmap_htable_upsert(h, &k, 8, &k, 8); break;
		case 1: rc = shmap_htable_erase(h, &k, 8); break;
		default: rc = shmap_htable_get(h, &k, 8, v, sizeof v, &vl); break;
		}
		if (rc == SHMAP_E_PEERFAULT)
			break;
		CHECK(rc == SHMAP_OK || rc == SHMAP_E_NOTFOUND || rc == SHMAP_E_FULL);
		if (!struck && (i & 255) == 0 && waitpid(peer, &pst, WNOHANG) == peer) {
			CHECK(th_ok(pst)); /* the peer did strike */
			struck = th_now();
		}
		if (struck && th_now() - struck > 0.02)
			break;
	}
	if (!struck)
		CHECK(th_ok(th_wait(peer, 10)));
	if (c->how == 2) {
		CHECK(rc == SHMAP_OK || rc == SHMAP_E_NOTFOUND || rc == SHMAP_E_FULL); /* no effect */
	} else {
		/* a shrink to half may spare every page this run touched */
		CHECK(rc == SHMAP_E_PEERFAULT || c->how == 1);
		if (rc == SHMAP_E_PEERFAULT)
			CHECK_RC(shmap_htable_upsert(h, "k", 1, "v", 1), SHMAP_E_PEERFAULT);
	}
	shmap_htable_close(h);
	unlink_target(&c->t);
	shmap_opts_free(o);
	return rc == SHMAP_E_PEERFAULT ? 0 : 10;
}

static void test_random_shrink(void **state)
{
	(void)state;
	const unsigned runs = getenv("SHMAP_SOAK") ? 200 : 50;
	uint64_t rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	unsigned faults = 0, quiet = 0;
	double t0 = th_now();
	for (unsigned r = 0; r < runs; r++) {
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		struct rnd_ctx c;
		c.how = (int)(r % 3);
		c.delay_us = (unsigned)((rng >> 33) % 3000);
		set_target(&c.t, r % 2 ? SHMAP_BACKEND_FILE : SHMAP_BACKEND_SHM, 0, "pf-rnd");
		struct child ch = { rnd_case, &c };
		pid_t pid = th_fork(child_main, &ch, 20);
		int st = th_wait(pid, 30);
		if (st == -1 || !WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 10))
			fail_msg("run %u (%s, %u us): status %d%s", r, c.how == 0 ? "to 0" : c.how == 1 ? "half" : "double",
				 c.delay_us, st, st != -1 && WIFSIGNALED(st) ? " (killed by a signal)" : "");
		if (c.how == 2 && WEXITSTATUS(st) == 0)
			fail_msg("run %u: growth reported PEERFAULT", r);
		faults += WEXITSTATUS(st) == 0;
		quiet += WEXITSTATUS(st) == 10;
	}
	print_message("# random shrink/grow: %u runs in %.1f s: %u PEERFAULT (shrinks), %u without (growth, "
		      "spared halves), 0 deaths\n", runs, th_now() - t0, faults, quiet);
}

/* ------------------------------------------------------------------ */
/* threads                                                              */

struct th_arg {
	shmap_htable *h;
	shmap_vector *v;
	int id;
	int final_rc;
	unsigned long ops;
};

static void *table_worker(void *a)
{
	struct th_arg *x = a;
	uint64_t rng = (uint64_t)x->id * 0x9e3779b97f4a7c15u + 1;
	for (;;) {
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		uint64_t k = (rng >> 33) % 4096, v;
		uint32_t vl;
		int rc = (rng >> 20) & 1 ? shmap_htable_upsert(x->h, &k, 8, &k, 8)
					 : shmap_htable_get(x->h, &k, 8, &v, 8, &vl);
		x->ops++;
		if (rc == SHMAP_OK || rc == SHMAP_E_NOTFOUND || rc == SHMAP_E_FULL || rc == SHMAP_E_BUSY ||
		    rc == SHMAP_E_TIMEOUT)
			continue;
		x->final_rc = rc;
		return NULL;
	}
}

static void *vector_worker(void *a)
{
	struct th_arg *x = a;
	uint8_t e[32] = { 9 };
	for (uint64_t i = 0;; i++) {
		uint64_t idx;
		/* the reader strides over the whole vector (a full vector makes
		 * the pusher touch nothing) */
		int rc = x->id & 1 ? shmap_vector_get(x->v, (i * 7919u) % (1u << 16), e)
				   : shmap_vector_push(x->v, e, &idx);
		x->ops++;
		if (rc == SHMAP_OK || rc == SHMAP_E_RANGE || rc == SHMAP_E_BUSY || rc == SHMAP_E_NOTFOUND ||
		    rc == SHMAP_E_NOTREADY || rc == SHMAP_E_TIMEOUT)
			continue;
		if (rc == SHMAP_E_FULL)
			continue;
		x->final_rc = rc;
		return NULL;
	}
}

static int threads_case(void *a)
{
	const struct target *tt = a;
	struct target tv = *tt;
	snprintf(tv.name + strlen(tv.name), 8, "-v");
	shmap_opts *o = mkopts(tt, 0);
	shmap_htable *h;
	shmap_vector *v;
	CHECK_RC(shmap_htable_open(tt->name, SHMAP_CREATE, 8, 8, 8192, o, &h), SHMAP_OK);
	CHECK_RC(shmap_vector_open(tv.name, SHMAP_CREATE, 32, 1u << 16, o, &v), SHMAP_OK);
	uint8_t e[32] = { 1 };
	uint64_t idx;
	for (int i = 0; i < 64; i++)
		CHECK_RC(shmap_vector_push(v, e, &idx), SHMAP_OK);
	enum { NT = 4, NV = 2 };
	pthread_t th[NT + NV];
	struct th_arg args[NT + NV];
	memset(args, 0, sizeof args);
	for (int i = 0; i < NT + NV; i++) {
		args[i].h = h;
		args[i].v = v;
		args[i].id = i;
		CHECK(pthread_create(&th[i], NULL, i < NT ? table_worker : vector_worker, &args[i]) == 0);
	}
	usleep(20000);
	CHECK(peer_shrink(tt) == 0);
	CHECK(peer_shrink(&tv) == 0);
	unsigned long ops = 0;
	for (int i = 0; i < NT + NV; i++) {
		pthread_join(th[i], NULL);
		ops += args[i].ops;
		if (args[i].final_rc != SHMAP_E_PEERFAULT) {
			fprintf(stderr, "thread %d ended with %s\n", i, shmap_errname(args[i].final_rc));
			return 1;
		}
	}
	uint64_t k = 1, val;
	uint32_t vl;
	CHECK_RC(shmap_htable_get(h, &k, 8, &val, 8, &vl), SHMAP_E_PEERFAULT);
	CHECK_RC(shmap_vector_get(v, 0, e), SHMAP_E_PEERFAULT);
	shmap_htable_close(h);
	shmap_vector_close(v);
	unlink_target(tt);
	unlink_target(&tv);
	CHECK_RC(shmap_htable_open(tt->name, SHMAP_CREATE, 8, 8, 8192, o, &h), SHMAP_OK);
	CHECK_RC(shmap_htable_insert(h, &k, 8, &k, 8), SHMAP_OK);
	shmap_htable_close(h);
	unlink_target(tt);
	shmap_opts_free(o);
	fprintf(stderr, "# threads: %lu calls before the shrink, all %d threads ended with PEERFAULT\n", ops,
		NT + NV);
	return 0;
}

static void test_threads(void **state)
{
	(void)state;
	if (PF_TSAN) {
		/* Two things here are outside what ThreadSanitizer models: the
		 * peer is forked from a process whose threads are running, and
		 * the guard replaces the segment with fresh zero pages from
		 * inside a signal handler (a pusher's copy after the fault and a
		 * reader's read of the same address before it then look like a
		 * race). The case runs in the plain and ASan builds. */
		print_message("# threads: skipped under ThreadSanitizer (fork of a threaded process, "
			      "remap inside the signal handler)\n");
		skip();
	}
	for (uint32_t backend = 0; backend <= SHMAP_BACKEND_FILE; backend++) {
		for (int half = 0; half < 2; half++) {
			struct target t;
			set_target(&t, backend, half ? -1 : 0, "pf-th");
			run_child(threads_case, &t, backend ? "threads file" : "threads shm");
		}
	}
}

/* ------------------------------------------------------------------ */
/* chaining to the handler installed before ours                        */

static sigjmp_buf chain_jmp;
static volatile sig_atomic_t chain_hits;
static void *volatile chain_addr;

static void prior_siginfo(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	chain_hits++;
	chain_addr = si->si_addr;
	if (sig == SIGBUS)
		siglongjmp(chain_jmp, 1);
}

static void prior_plain(int sig)
{
	chain_hits++;
	if (sig == SIGBUS)
		siglongjmp(chain_jmp, 1);
}

/* A SIGBUS of the test's own: a mapping of a file it then truncates. */
static uint8_t *own_mapping(int *fdp)
{
	char path[128];
	snprintf(path, sizeof path, "%s/own-%d", fdir, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 8192) != 0)
		return NULL;
	unlink(path);
	uint8_t *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return NULL;
	m[0] = 1;
	if (ftruncate(fd, 0) != 0)
		return NULL;
	*fdp = fd;
	return m;
}

static int chain_case(void *a)
{
	/* 0 SA_SIGINFO, 1 plain handler, 2 SA_SIGINFO installed after shmap's */
	const int mode = *(const int *)a;
	struct target t, t2;
	set_target(&t, SHMAP_BACKEND_SHM, 0, "pf-chain");
	set_target(&t2, SHMAP_BACKEND_SHM, 0, "pf-chain2");
	shmap_opts *o = mkopts(&t, 0);
	shmap_vector *v, *v2 = NULL;
	if (mode == 2)
		CHECK_RC(shmap_vector_open(t.name, SHMAP_CREATE, 32, 1024, o, &v), SHMAP_OK);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	if (mode != 1) {
		sa.sa_sigaction = prior_siginfo;
		sa.sa_flags = SA_SIGINFO;
	} else {
		sa.sa_handler = prior_plain;
	}
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
	/* shmap maps its first segment: its guard goes in front of ours; a
	 * guard that was replaced goes back in front at the next mapping */
	if (mode != 2)
		CHECK_RC(shmap_vector_open(t.name, SHMAP_CREATE, 32, 1024, o, &v), SHMAP_OK);
	else
		CHECK_RC(shmap_vector_open(t2.name, SHMAP_CREATE, 32, 1024, o, &v2), SHMAP_OK);
	struct sigaction now;
	CHECK(sigaction(SIGBUS, NULL, &now) == 0);
	CHECK((now.sa_flags & SA_SIGINFO) && now.sa_sigaction != prior_siginfo);
	/* a fault outside shmap's mappings reaches the prior handler */
	int fd;
	uint8_t *m = own_mapping(&fd);
	CHECK(m != NULL);
	if (sigsetjmp(chain_jmp, 1) == 0) {
		volatile uint8_t x = m[4096];
		(void)x;
		fprintf(stderr, "no SIGBUS from a truncated mapping?\n");
		return 1;
	}
	CHECK(chain_hits == 1);
	if (mode != 1)
		CHECK(chain_addr == (void *)(m + 4096));
	/* so does a SIGBUS sent to us */
	if (sigsetjmp(chain_jmp, 1) == 0) {
		raise(SIGBUS);
		fprintf(stderr, "raised SIGBUS did not reach the prior handler\n");
		return 1;
	}
	CHECK(chain_hits == 2);
	/* and a shrink of the segment is still ours, not the prior handler's */
	uint8_t e[32] = { 0 };
	uint64_t idx;
	CHECK_RC(shmap_vector_push(v, e, &idx), SHMAP_OK);
	CHECK(peer_shrink(&t) == 0);
	CHECK_RC(shmap_vector_push(v, e, &idx), SHMAP_E_PEERFAULT);
	CHECK(chain_hits == 2);
	shmap_vector_close(v);
	unlink_target(&t);
	if (v2) {
		shmap_vector_close(v2);
		unlink_target(&t2);
	}
	munmap(m, 8192);
	close(fd);
	shmap_opts_free(o);
	return 0;
}

/* SIG_DFL before us: a fault outside shmap kills with SIGBUS (how = 0),
 * and so does a raised SIGBUS (how = 1). */
static int default_case(void *a)
{
	const int how = *(const int *)a;
	signal(SIGBUS, SIG_DFL);
	struct target t;
	set_target(&t, SHMAP_BACKEND_SHM, 0, "pf-dfl");
	shmap_opts *o = mkopts(&t, 0);
	shmap_vector *v;
	CHECK_RC(shmap_vector_open(t.name, SHMAP_CREATE, 32, 1024, o, &v), SHMAP_OK);
	shm_unlink(t.name);
	int fd;
	uint8_t *m = own_mapping(&fd);
	CHECK(m != NULL);
	if (how == 0) {
		volatile uint8_t x = m[4096];
		(void)x;
	} else {
		raise(SIGBUS);
	}
	return 0; /* survived: wrong */
}

static void expect_sigbus(int (*fn)(void *), void *arg, const char *what)
{
	pid_t pid = th_fork(fn, arg, 20);
	int st = th_wait(pid, 30);
	if (st == -1 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGBUS)
		fail_msg("%s: want death by SIGBUS, got status %d", what, st);
}

static void test_chain(void **state)
{
	(void)state;
	int mode = 0;
	run_child(chain_case, &mode, "prior SA_SIGINFO handler");
	mode = 1;
	run_child(chain_case, &mode, "prior plain handler");
	mode = 2;
	run_child(chain_case, &mode, "handler installed after shmap's");
	int how = 0;
	expect_sigbus(default_case, &how, "SIG_DFL, fault outside shmap");
	how = 1;
	expect_sigbus(default_case, &how, "SIG_DFL, raised SIGBUS");
}

/* ------------------------------------------------------------------ */
/* opting out                                                           */

static int optout_case(void *a)
{
	const int how = *(const int *)a; /* 0 environment, 1 option flag */
	signal(SIGBUS, SIG_DFL); /* (the test framework's handler is inherited) */
	if (how == 0)
		setenv("SHMAP_NO_SIGBUS_GUARD", "1", 1);
	struct target t, g;
	set_target(&t, SHMAP_BACKEND_SHM, 0, "pf-off");
	set_target(&g, SHMAP_BACKEND_SHM, 0, "pf-on");
	shmap_opts *o = mkopts(&t, how ? SHMAP_OPT_NO_SIGBUS_GUARD : 0);
	shmap_opts *og = mkopts(&g, 0);
	shmap_vector *v, *vg;
	/* with the flag, another (guarded) segment is open too: the flagged
	 * one stays unguarded all the same */
	if (how == 1)
		CHECK_RC(shmap_vector_open(g.name, SHMAP_CREATE, 32, 1024, og, &vg), SHMAP_OK);
	CHECK_RC(shmap_vector_open(t.name, SHMAP_CREATE, 32, 1024, o, &v), SHMAP_OK);
	if (how == 0) {
		struct sigaction now;
		CHECK(sigaction(SIGBUS, NULL, &now) == 0);
		CHECK(now.sa_handler == SIG_DFL);
	}
	uint8_t e[32] = { 0 };
	uint64_t idx;
	CHECK_RC(shmap_vector_push(v, e, &idx), SHMAP_OK);
	shm_unlink(g.name);
	CHECK(peer_shrink(&t) == 0);
	shm_unlink(t.name);
	for (int i = 0; i < 1024; i++)
		(void)shmap_vector_push(v, e, &idx);
	return 0; /* survived: the opt-out did not opt out */
}

static void test_optout(void **state)
{
	(void)state;
	int how = 0;
	expect_sigbus(optout_case, &how, "SHMAP_NO_SIGBUS_GUARD=1");
	how = 1;
	expect_sigbus(optout_case, &how, "SHMAP_OPT_NO_SIGBUS_GUARD");
}

/* ------------------------------------------------------------------ */
/* sealed memfds keep refusing the shrink                               */

static int sealed_case(void *a)
{
	(void)a;
	shmap_opts *o;
	CHECK_RC(shmap_opts_new(&o), SHMAP_OK);
	CHECK_RC(shmap_opts_set_backend(o, SHMAP_BACKEND_MEMFD), SHMAP_OK);
	shmap_htable *h;
	CHECK_RC(shmap_htable_open("pf-sealed", SHMAP_CREATE, 8, 8, 1024, o, &h), SHMAP_OK);
	uint64_t k = 5, v;
	uint32_t vl;
	CHECK_RC(shmap_htable_insert(h, &k, 8, &k, 8), SHMAP_OK);
	const int fd = shmap_htable_fd(h);
	fflush(NULL);
	pid_t pid = fork();
#if SHMAP_PLAT_MEMFD
	if (pid == 0)
		_exit(ftruncate(fd, 0) == -1 && errno == EPERM ? 0 : 1);
	CHECK(th_ok(th_wait(pid, 10)));
	CHECK_RC(shmap_htable_get(h, &k, 8, &v, 8, &vl), SHMAP_OK);
	CHECK(v == 5);
#else
	/* the portable anonymous object has no seals: the peer's shrink
	 * succeeds and the guard turns our next access into PEERFAULT */
	if (pid == 0)
		_exit(ftruncate(fd, 0) == 0 ? 0 : 1);
	CHECK(th_ok(th_wait(pid, 10)));
	CHECK_RC(shmap_htable_get(h, &k, 8, &v, 8, &vl), SHMAP_E_PEERFAULT);
#endif
	shmap_htable_close(h);
	shmap_opts_free(o);
	return 0;
}

static void test_sealed(void **state)
{
	(void)state;
	run_child(sealed_case, NULL, "sealed memfd");
}

static int setup(void **state)
{
	(void)state;
	snprintf(fdir, sizeof fdir, "/tmp/shmap-t-pfXXXXXX");
	return mkdtemp(fdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rmdir(fdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds), cmocka_unit_test(test_random_shrink), cmocka_unit_test(test_threads),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_optout), cmocka_unit_test(test_sealed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
