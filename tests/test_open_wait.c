/* SPDX-License-Identifier: MIT */
/*
 * test_open_wait.c - SHMAP_OPEN | SHMAP_OPEN_WAIT: an opener started before
 * its creator waits for the segment (all three structures, shm and file
 * backends, with and without an inotify watch), without burning a CPU, and
 * times out with SHMAP_E_TIMEOUT when nobody creates it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <shmap/shmap.h>

#include "helpers.h"

enum kind { K_HTABLE, K_RING, K_VECTOR };

struct plan {
	enum kind kind;
	char name[256];
	uint32_t backend;      /* SHM or FILE */
	const char *mkdir_first; /* FILE: directory the creator makes before creating */
	unsigned delay_ms;     /* creator's delay after the opener is waiting */
	uint32_t timeout_ms;   /* opener's open timeout */
	int ack[2];            /* opener -> parent: "about to wait" */
	int done[2];           /* opener -> creator: "read the value" */
};

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static shmap_opts *plan_opts(const struct plan *p, uint32_t timeout_ms)
{
	shmap_opts *o;
	if (shmap_opts_new(&o) != SHMAP_OK)
		return NULL;
	shmap_opts_set_backend(o, p->backend);
	shmap_opts_set_timeout_ms(o, timeout_ms);
	return o;
}

/* Opener: exit 0 if it waited, opened, and read the creator's value. */
static int opener(void *arg)
{
	struct plan *p = arg;
	shmap_opts *o = plan_opts(p, p->timeout_ms);
	if (!o)
		return 10;
	double t0 = th_now(), c0 = cpu_seconds();
	if (th_ack(p->ack[1], 1) != 0)
		return 11;
	const uint32_t fl = SHMAP_OPEN | SHMAP_OPEN_WAIT;
	int rc, ok = 0;
	switch (p->kind) {
	case K_HTABLE: {
		shmap_htable *t;
		rc = shmap_htable_open(p->name, fl, 0, 0, 0, o, &t);
		if (rc < 0)
			return 20;
		uint64_t v = 0;
		uint32_t len;
		ok = shmap_htable_get(t, "k", 1, &v, sizeof v, &len) == SHMAP_OK && v == 77;
		shmap_htable_close(t);
		break;
	}
	case K_RING: {
		shmap_ring *r;
		rc = shmap_ring_open(p->name, fl, 0, 0, 0, SHMAP_RING_CONSUMER, o, &r);
		if (rc < 0)
			return 21;
		uint64_t v = 0;
		ok = shmap_ring_pop_wait(r, &v, 5000) == SHMAP_OK && v == 77;
		shmap_ring_close(r);
		break;
	}
	case K_VECTOR: {
		shmap_vector *vec;
		rc = shmap_vector_open(p->name, fl, 0, 0, o, &vec);
		if (rc < 0)
			return 22;
		uint64_t v = 0;
		ok = shmap_vector_get(vec, 0, &v) == SHMAP_OK && v == 77;
		shmap_vector_close(vec);
		break;
	}
	}
	double waited = th_now() - t0, cpu = cpu_seconds() - c0;
	shmap_opts_free(o);
	th_ack(p->done[1], 1);
	if (!ok)
		return 30;
	/* It waited for the creator (who started after our ack, plus its delay). */
	if (waited < (double)p->delay_ms * 1e-3 * 0.8)
		return 31;
	/* ... and slept while waiting: a spinning wait burns about `waited`. */
	if (cpu > 0.1 + waited * 0.2)
		return 32;
	return 0;
}

/* Creator: after the delay, create, store 77, and hold the segment open
 * until the opener has read it. */
static int creator(void *arg)
{
	struct plan *p = arg;
	usleep(p->delay_ms * 1000u);
	if (p->mkdir_first && mkdir(p->mkdir_first, 0700) != 0)
		return 40;
	shmap_opts *o = plan_opts(p, 2000);
	if (!o)
		return 41;
	uint64_t v = 77, idx;
	int rc = 0;
	shmap_htable *t = NULL;
	shmap_ring *r = NULL;
	shmap_vector *vec = NULL;
	switch (p->kind) {
	case K_HTABLE:
		rc = shmap_htable_open(p->name, SHMAP_CREATE, 8, 8, 64, o, &t);
		if (rc == SHMAP_OK)
			rc = shmap_htable_upsert(t, "k", 1, &v, 8);
		break;
	case K_RING:
		rc = shmap_ring_open(p->name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, o, &r);
		if (rc == SHMAP_OK)
			rc = shmap_ring_push(r, &v);
		break;
	case K_VECTOR:
		rc = shmap_vector_open(p->name, SHMAP_CREATE, 8, 16, o, &vec);
		if (rc == SHMAP_OK)
			rc = shmap_vector_push(vec, &v, &idx);
		break;
	}
	if (rc != SHMAP_OK)
		return 42;
	uint64_t ack;
	th_read_ack(p->done[0], &ack);
	shmap_htable_close(t);
	shmap_ring_close(r);
	shmap_vector_close(vec);
	shmap_opts_free(o);
	return 0;
}

static void run_plan(struct plan *p)
{
	assert_int_equal(pipe(p->ack), 0);
	assert_int_equal(pipe(p->done), 0);
	pid_t op = th_fork(opener, p, 30);
	assert_true(op > 0);
	uint64_t ack;
	assert_int_equal(th_read_ack(p->ack[0], &ack), 0); /* the opener is about to wait */
	pid_t cr = th_fork(creator, p, 30);
	assert_true(cr > 0);
	int so = th_wait(op, 30), sc = th_wait(cr, 30);
	if (!th_ok(so) || !th_ok(sc))
		fprintf(stderr, "kind %d backend %u: opener status %d (exit %d), creator status %d (exit %d)\n",
			(int)p->kind, p->backend, so, WIFEXITED(so) ? WEXITSTATUS(so) : -1, sc,
			WIFEXITED(sc) ? WEXITSTATUS(sc) : -1);
	assert_true(th_ok(so));
	assert_true(th_ok(sc));
	close(p->ack[0]);
	close(p->ack[1]);
	close(p->done[0]);
	close(p->done[1]);
	shmap_opts *o = plan_opts(p, 0);
	assert_int_equal(shmap_unlink(p->name, o), SHMAP_OK);
	shmap_opts_free(o);
}

/* Opener before creator, for each structure, on POSIX shm (inotify on /dev/shm). */
static void t_wait_shm(void **state)
{
	(void)state;
	const enum kind kinds[] = { K_HTABLE, K_RING, K_VECTOR };
	for (unsigned i = 0; i < 3; i++) {
		struct plan p = { .kind = kinds[i], .backend = SHMAP_BACKEND_SHM, .delay_ms = 300,
				  .timeout_ms = 10000 };
		th_name(p.name, sizeof p.name, "ow");
		run_plan(&p);
	}
}

/* File backend: the file's directory is watched. */
static void t_wait_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmap-t-ow-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct plan p = { .kind = K_HTABLE, .backend = SHMAP_BACKEND_FILE, .delay_ms = 300, .timeout_ms = 10000 };
	snprintf(p.name, sizeof p.name, "%s/table", dir);
	run_plan(&p);
	assert_int_equal(rmdir(dir), 0);
}

/* File backend whose directory does not exist yet: no watch possible, the
 * bounded back-off path finds it. */
static void t_wait_file_nodir(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmap-t-ow-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sub[200];
	snprintf(sub, sizeof sub, "%s/later", dir);
	struct plan p = { .kind = K_VECTOR, .backend = SHMAP_BACKEND_FILE, .delay_ms = 300, .timeout_ms = 10000,
			  .mkdir_first = sub };
	snprintf(p.name, sizeof p.name, "%s/vec", sub);
	run_plan(&p);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* Nobody creates it: SHMAP_E_TIMEOUT after about the timeout, sleeping. */
static void t_timeout(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "owto");
	shmap_opts *o;
	assert_int_equal(shmap_opts_new(&o), SHMAP_OK);
	assert_int_equal(shmap_opts_set_timeout_ms(o, 300), SHMAP_OK);
	const uint32_t fl = SHMAP_OPEN | SHMAP_OPEN_WAIT;
	shmap_htable *t = (shmap_htable *)1;
	shmap_ring *r = (shmap_ring *)1;
	shmap_vector *v = (shmap_vector *)1;

	double t0 = th_now(), c0 = cpu_seconds();
	assert_int_equal(shmap_htable_open(name, fl, 0, 0, 0, o, &t), SHMAP_E_TIMEOUT);
	double el = th_now() - t0, cpu = cpu_seconds() - c0;
	assert_true(el >= 0.29);
	assert_true(el < 3.0);
	assert_true(cpu < 0.1);
	assert_true(t == (shmap_htable *)1);

	t0 = th_now();
	assert_int_equal(shmap_ring_open(name, fl, 0, 0, 0, SHMAP_RING_CONSUMER, o, &r), SHMAP_E_TIMEOUT);
	assert_int_equal(shmap_vector_open(name, fl, 0, 0, o, &v), SHMAP_E_TIMEOUT);
	el = th_now() - t0;
	assert_true(el >= 0.58);
	assert_true(r == (shmap_ring *)1 && v == (shmap_vector *)1);

	/* Timeout 0: one attempt, then TIMEOUT at once. Plain OPEN: NOENT. */
	assert_int_equal(shmap_opts_set_timeout_ms(o, 0), SHMAP_OK);
	t0 = th_now();
	assert_int_equal(shmap_htable_open(name, fl, 0, 0, 0, o, &t), SHMAP_E_TIMEOUT);
	assert_true(th_now() - t0 < 0.5);
	assert_int_equal(shmap_htable_open(name, SHMAP_OPEN, 0, 0, 0, o, &t), SHMAP_E_NOENT);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, o, &r), SHMAP_E_NOENT);
	assert_int_equal(shmap_vector_open(name, SHMAP_OPEN, 0, 0, o, &v), SHMAP_E_NOENT);
	shmap_opts_free(o);
}

/* Already there: opens at once. Bad combinations: INVAL, nothing created. */
static void t_existing_and_flags(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "owex");
	shmap_htable *t, *t2;
	shmap_ring *r;
	shmap_vector *v;
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 64, NULL, &t), SHMAP_OK);
	double t0 = th_now();
	assert_int_equal(shmap_htable_open(name, SHMAP_OPEN | SHMAP_OPEN_WAIT, 0, 0, 0, NULL, &t2), SHMAP_OK);
	assert_true(th_now() - t0 < 0.5);
	/* Another kind under the name: INCOMPAT, not a wait. */
	assert_int_equal(shmap_vector_open(name, SHMAP_OPEN | SHMAP_OPEN_WAIT, 0, 0, NULL, &v), SHMAP_E_INCOMPAT);
	shmap_htable_close(t2);
	shmap_htable_close(t);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);

	const uint32_t bad[] = { SHMAP_OPEN_WAIT, SHMAP_CREATE | SHMAP_OPEN_WAIT,
				 SHMAP_OPEN_OR_CREATE | SHMAP_OPEN_WAIT, SHMAP_OPEN | SHMAP_OPEN_WAIT | 8u };
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(shmap_htable_open(name, bad[i], 8, 8, 64, NULL, &t), SHMAP_E_INVAL);
		assert_int_equal(shmap_ring_open(name, bad[i], SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, NULL, &r),
				 SHMAP_E_INVAL);
		assert_int_equal(shmap_vector_open(name, bad[i], 8, 16, NULL, &v), SHMAP_E_INVAL);
	}
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_E_NOENT);
}

/* memfd: the descriptor is the segment; OPEN_WAIT opens it as OPEN does. */
static void t_memfd(void **state)
{
	(void)state;
	shmap_opts *o;
	assert_int_equal(shmap_opts_new(&o), SHMAP_OK);
	assert_int_equal(shmap_opts_set_backend(o, SHMAP_BACKEND_MEMFD), SHMAP_OK);
	shmap_ring *p, *c;
	assert_int_equal(shmap_ring_open("owm", SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, o, &p),
			 SHMAP_OK);
	assert_int_equal(shmap_opts_set_fd(o, shmap_ring_fd(p)), SHMAP_OK);
	assert_int_equal(shmap_ring_open(NULL, SHMAP_OPEN | SHMAP_OPEN_WAIT, 0, 0, 0, SHMAP_RING_CONSUMER, o, &c),
			 SHMAP_OK);
	uint64_t v = 5, out = 0;
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(c, &out), SHMAP_OK);
	assert_int_equal(out, 5);
	shmap_ring_close(c);
	shmap_ring_close(p);
	shmap_opts_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_wait_shm),
		cmocka_unit_test(t_wait_file),
		cmocka_unit_test(t_wait_file_nodir),
		cmocka_unit_test(t_timeout),
		cmocka_unit_test(t_existing_and_flags),
		cmocka_unit_test(t_memfd),
	};
	return cmocka_run_group_tests_name("open-wait", tests, NULL, NULL);
}
