/* SPDX-License-Identifier: MIT */
/*
 * test_ring.c - ring buffers: unit (one process), mp (fork) and threads
 * groups, selected by argv[1] ("unit", "mp", "threads"; none = all).
 * Sizes grow with SHMAP_SOAK=1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sys/mman.h>

#include <shmap/shmap.h>

#include "torture.h"
#include "th_api.h"

#define NAMELEN 96

static uint64_t seed_rng(void)
{
	uint64_t s = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(th_now() * 1e9);
	return s | 1;
}

static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 0, len);
	return p;
}

/* A 24-byte record that detects torn or invented elements. */
struct rec24 {
	uint64_t seq;
	uint64_t inv;
	uint64_t mix;
};

static void rec_make(struct rec24 *r, uint64_t s)
{
	r->seq = s;
	r->inv = ~s;
	r->mix = s * 0x9e3779b97f4a7c15ull + 0x1234567;
}

static int rec_ok(const struct rec24 *r)
{
	return r->inv == ~r->seq && r->mix == r->seq * 0x9e3779b97f4a7c15ull + 0x1234567;
}

/* ================================================================ unit */

static void test_misuse(void **state)
{
	(void)state;
	char name[NAMELEN];
	shmap_ring *r = NULL, *r2 = NULL;
	th_name(name, sizeof name, "ring-misuse");

	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, NULL, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, 7, NULL, &r), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, 9, 8, 16, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, 0, 8, 16, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 0, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 0, 16, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, SHMAP_RING_ELEM_MAX + 1, 16, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_TOOBIG);
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, 2, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_INVAL);
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPMC, 8, 16, SHMAP_RING_CONSUMERS_MAX + 1, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 1u << 20, 1ull << 30, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open(name, 7, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_E_NOENT);
	assert_null(r);

	/* capacity 5 -> 8; 1 -> 2 */
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 5, SHMAP_RING_PRODUCER, NULL, &r), SHMAP_OK);
	assert_int_equal(shmap_ring_capacity(r), 8);
	assert_int_equal(shmap_ring_elem_size(r), 8);
	assert_int_equal(shmap_ring_type(r), SHMAP_RING_SPSC);
	assert_int_equal(shmap_ring_role(r), SHMAP_RING_PRODUCER);
	assert_int_equal(shmap_ring_max_consumers(r), 1);

	/* second producer: BUSY; wrong element size / type: INCOMPAT */
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, NULL, &r2), SHMAP_E_BUSY);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, SHMAP_RING_SPSC, 16, 0, SHMAP_RING_CONSUMER, NULL, &r2), SHMAP_E_INCOMPAT);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, SHMAP_RING_SPMC, 0, 0, SHMAP_RING_CONSUMER, NULL, &r2), SHMAP_E_INCOMPAT);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, SHMAP_RING_SPSC, 0, 16, SHMAP_RING_CONSUMER, NULL, &r2), SHMAP_E_INCOMPAT);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, SHMAP_RING_SPSC, 8, 8, SHMAP_RING_CONSUMER, NULL, &r2), SHMAP_OK);
	shmap_ring *r3 = NULL;
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &r3), SHMAP_E_BUSY);
	assert_null(r3);

	uint64_t v = 7, out = 0;
	uint8_t big[16] = { 0 };
	/* roles */
	assert_int_equal(shmap_ring_pop(r, &out), SHMAP_E_NOTATTACHED);
	assert_int_equal(shmap_ring_push(r2, &v), SHMAP_E_NOTATTACHED);
	assert_int_equal(shmap_ring_push(NULL, &v), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_push(r, NULL), SHMAP_E_INVAL);
	/* sizes */
	assert_int_equal(shmap_ring_push_bytes(r, big, 9), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_ring_pop_bytes(r2, big, 7), SHMAP_E_BUFSIZE);
	assert_int_equal(shmap_ring_pop(r2, &out), SHMAP_E_EMPTY);
	assert_int_equal(shmap_ring_push_bytes(r, "\x01\x02", 2), SHMAP_OK);
	memset(big, 0xff, sizeof big);
	assert_int_equal(shmap_ring_pop_bytes(r2, big, 16), SHMAP_OK);
	assert_int_equal(big[0], 1);
	assert_int_equal(big[1], 2);
	for (int i = 2; i < 8; i++)
		assert_int_equal(big[i], 0);
	assert_int_equal(big[8], 0xff);

	/* full and empty */
	for (uint64_t i = 0; i < 8; i++)
		assert_int_equal(shmap_ring_push(r, &i), SHMAP_OK);
	assert_int_equal(shmap_ring_push(r, &v), SHMAP_E_FULL);
	assert_int_equal(shmap_ring_size(r), 8);
	assert_int_equal(shmap_ring_push_wait(r, &v, 50), SHMAP_E_TIMEOUT);
	void *wp;
	uint32_t got;
	assert_int_equal(shmap_ring_reserve(r, 1, &wp, &got), SHMAP_E_FULL);
	for (uint64_t i = 0; i < 8; i++) {
		assert_int_equal(shmap_ring_pop(r2, &out), SHMAP_OK);
		assert_int_equal(out, i);
	}
	assert_int_equal(shmap_ring_pop(r2, &out), SHMAP_E_EMPTY);

	/* zero-copy misuse */
	assert_int_equal(shmap_ring_commit(r, 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_reserve(r, 0, &wp, &got), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_reserve(r, 4, &wp, &got), SHMAP_OK);
	assert_int_equal(got, 4);
	assert_int_equal(shmap_ring_push(r, &v), SHMAP_E_BUSY);
	assert_int_equal(shmap_ring_commit(r, 5), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_commit(r, 0), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(r2, &out), SHMAP_E_EMPTY);
	const void *rp;
	assert_int_equal(shmap_ring_peek(r2, 1, &rp, &got), SHMAP_E_EMPTY);
	assert_int_equal(shmap_ring_release(r2, 1), SHMAP_E_INVAL);

	/* open with type 0 finds the stored type */
	shmap_ring_close(r2);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &r2), SHMAP_OK);
	assert_int_equal(shmap_ring_type(r2), SHMAP_RING_SPSC);
	uint64_t problems = 99;
	assert_int_equal(shmap_ring_check(r2, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	assert_int_equal(shmap_ring_check(r2, 0x80, &problems), SHMAP_E_INVAL);
	shmap_ring_close(r2);
	shmap_ring_close(r);
	shmap_ring_close(NULL);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);

	/* SPMC / broadcast limits */
	th_name(name, sizeof name, "ring-misuse");
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPMC, 8, 16, 2, SHMAP_RING_CONSUMER, NULL, &r), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &r2), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &r3), SHMAP_E_BUSY);
	assert_int_equal(shmap_ring_type(r2), SHMAP_RING_SPMC);
	shmap_ring_close(r2);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &r2), SHMAP_OK);
	shmap_ring_close(r2);
	shmap_ring_close(r);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* One process, both roles: every type through copy, batch and zero-copy, with wrap. */
static void run_local(uint32_t type)
{
	char name[NAMELEN];
	shmap_ring *p, *c;
	th_name(name, sizeof name, "ring-local");
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, type, sizeof(struct rec24), 16, type == SHMAP_RING_SPSC ? 0 : 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, type, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	uint64_t rs = 12345, next = 0, expect = 0, missed = 0;
	struct rec24 buf[40], out[40];
#define LOCAL_OVERRUN(rc)                                                       \
	if ((rc) == SHMAP_E_OVERRUN && type == SHMAP_RING_BCAST_LOSSY) {        \
		assert_true(shmap_ring_missed(c) > missed);                     \
		expect += shmap_ring_missed(c) - missed;                        \
		missed = shmap_ring_missed(c);                                  \
		break;                                                          \
	}
	for (int round = 0; round < 20000; round++) {
		uint32_t n = (uint32_t)(tt_rand(&rs) % 20) + 1, done = 0;
		switch (tt_rand(&rs) % 3) {
		case 0:
			for (uint32_t i = 0; i < n; i++) {
				rec_make(&buf[0], next);
				if (shmap_ring_push(p, &buf[0]) != SHMAP_OK)
					break;
				next++;
			}
			break;
		case 1:
			for (uint32_t i = 0; i < n; i++)
				rec_make(&buf[i], next + i);
			int rc = shmap_ring_push_n(p, buf, n, &done);
			assert_true(rc == SHMAP_OK || (rc == SHMAP_E_FULL && done == 0));
			next += done;
			break;
		default: {
			void *wp;
			uint32_t got;
			if (shmap_ring_reserve(p, n, &wp, &got) == SHMAP_OK) {
				uint32_t use = (uint32_t)(tt_rand(&rs) % got) + 1;
				for (uint32_t i = 0; i < use; i++)
					rec_make((struct rec24 *)wp + i, next + i);
				assert_int_equal(shmap_ring_commit(p, use), SHMAP_OK);
				next += use;
			}
		}
		}
		assert_true(shmap_ring_size(p) <= 16);
		n = (uint32_t)(tt_rand(&rs) % 20) + 1;
		switch (tt_rand(&rs) % 3) {
		case 0:
			for (uint32_t i = 0; i < n; i++) {
				int rc = shmap_ring_pop(c, &out[0]);
				if (rc == SHMAP_E_EMPTY)
					break;
				LOCAL_OVERRUN(rc);
				assert_int_equal(rc, SHMAP_OK);
				assert_true(rec_ok(&out[0]));
				assert_int_equal(out[0].seq, expect);
				expect++;
			}
			break;
		case 1: {
			int rc = shmap_ring_pop_n(c, out, n, &done);
			LOCAL_OVERRUN(rc);
			if (!(rc == SHMAP_OK || (rc == SHMAP_E_EMPTY && done == 0)))
				fail_msg("pop_n rc %d done %u", rc, done);
			for (uint32_t i = 0; i < done; i++) {
				assert_true(rec_ok(&out[i]));
				assert_int_equal(out[i].seq, expect);
				expect++;
			}
			break;
		}
		default: {
			const void *rp;
			uint32_t got;
			int rc = shmap_ring_peek(c, n, &rp, &got);
			if (rc == SHMAP_E_EMPTY)
				break;
			LOCAL_OVERRUN(rc);
			assert_int_equal(rc, SHMAP_OK);
			uint32_t use = type == SHMAP_RING_SPMC ? got : (uint32_t)(tt_rand(&rs) % got) + 1;
			for (uint32_t i = 0; i < use; i++) {
				const struct rec24 *e = (const struct rec24 *)rp + i;
				assert_true(rec_ok(e));
				assert_int_equal(e->seq, expect + i);
			}
			assert_int_equal(shmap_ring_release(c, use), SHMAP_OK);
			expect += use;
		}
		}
	}
	/* drain */
	for (;;) {
		int rc = shmap_ring_pop(c, &out[0]);
		if (rc == SHMAP_E_EMPTY)
			break;
		if (rc == SHMAP_E_OVERRUN) {
			expect += shmap_ring_missed(c) - missed;
			missed = shmap_ring_missed(c);
			continue;
		}
		assert_int_equal(rc, SHMAP_OK);
		assert_int_equal(out[0].seq, expect);
		expect++;
	}
	assert_int_equal(expect, next);
	assert_true(next > 20000);
	if (type == SHMAP_RING_BCAST_LOSSY)
		print_message("lossy local: %llu pushed, %llu missed\n", (unsigned long long)next,
			      (unsigned long long)missed);
#undef LOCAL_OVERRUN
	uint64_t head = 0, lost = 1;
	uint32_t pid = 0, alive = 0;
	assert_int_equal(th_ring_stats(c, &head, NULL, &lost, &pid, &alive), SHMAP_OK);
	assert_int_equal(head, next);
	assert_int_equal(lost, 0);
	assert_int_equal(pid, (uint32_t)getpid());
	assert_int_equal(alive, 1);
	uint32_t cpid = 0;
	assert_int_equal(th_ring_consumer_stats(c, 0, &cpid, &alive, NULL, NULL), SHMAP_OK);
	assert_int_equal(cpid, (uint32_t)getpid());
	uint64_t problems = 1;
	assert_int_equal(shmap_ring_check(c, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_local_spsc(void **s) { (void)s; run_local(SHMAP_RING_SPSC); }
static void test_local_spmc(void **s) { (void)s; run_local(SHMAP_RING_SPMC); }
static void test_local_reliable(void **s) { (void)s; run_local(SHMAP_RING_BCAST_RELIABLE); }
static void test_local_lossy(void **s) { (void)s; run_local(SHMAP_RING_BCAST_LOSSY); }

/* Lossy broadcast in one process: lapping reports the exact missed count. */
static void test_lossy_overrun(void **state)
{
	(void)state;
	char name[NAMELEN];
	shmap_ring *p, *c, *late;
	th_name(name, sizeof name, "ring-lossy");
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_BCAST_LOSSY, 8, 8, 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	assert_int_equal(shmap_ring_type(c), SHMAP_RING_BCAST_LOSSY);
	for (uint64_t i = 0; i < 20; i++)
		assert_int_equal(shmap_ring_push(p, &i), SHMAP_OK);
	/* a subscriber joining now starts with the next element pushed */
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &late), SHMAP_OK);
	uint64_t v = 0;
	assert_int_equal(shmap_ring_pop(late, &v), SHMAP_E_EMPTY);
	/* c is 20 behind in a ring of 8: overrun, resync on the oldest safe element */
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_OVERRUN);
	uint64_t missed = shmap_ring_missed(c);
	assert_int_equal(missed, 20 - 8 + 1);
	uint64_t expect = missed, got = 0;
	while (shmap_ring_pop(c, &v) == SHMAP_OK) {
		assert_int_equal(v, expect);
		expect++;
		got++;
	}
	assert_int_equal(got + missed, 20);
	uint64_t x = 20;
	assert_int_equal(shmap_ring_push(p, &x), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(late, &v), SHMAP_OK);
	assert_int_equal(v, 20);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
	assert_int_equal(v, 20);
	/* lossy peek hands out a validated private copy: the producer lapping
	 * the subscriber cannot change what the caller reads; the lap shows
	 * at the next pop */
	const void *rp;
	uint32_t g;
	for (uint64_t i = 21; i < 24; i++)
		assert_int_equal(shmap_ring_push(p, &i), SHMAP_OK);
	assert_int_equal(shmap_ring_peek(c, 3, &rp, &g), SHMAP_OK);
	assert_int_equal(g, 3);
	for (uint64_t i = 24; i < 40; i++)
		assert_int_equal(shmap_ring_push(p, &i), SHMAP_OK);
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(((const uint64_t *)rp)[i], 21 + i);
	missed = shmap_ring_missed(c);
	assert_int_equal(shmap_ring_release(c, 3), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_OVERRUN);
	assert_true(shmap_ring_missed(c) > missed);
	while (shmap_ring_pop(c, &v) == SHMAP_OK)
		;
	/* lossy reserve is staged: the slots change only at commit */
	void *wp;
	assert_int_equal(shmap_ring_reserve(p, 2, &wp, &g), SHMAP_OK);
	assert_int_equal(g, 2);
	uint64_t staged[2] = { 1000, 1001 };
	memcpy(wp, staged, sizeof staged);
	assert_int_equal(shmap_ring_commit(p, 2), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
	assert_int_equal(v, 1000);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
	assert_int_equal(v, 1001);
	assert_int_equal(shmap_ring_pop(late, &v), SHMAP_E_OVERRUN); /* late: lapped too */
	while (shmap_ring_pop(late, &v) == SHMAP_OK)
		;
	/* the broadcast producer never waits */
	uint64_t many[100];
	uint32_t done = 0;
	for (int i = 0; i < 100; i++)
		many[i] = 40 + (uint64_t)i;
	assert_int_equal(shmap_ring_push_n(p, many, 100, &done), SHMAP_OK);
	assert_int_equal(done, 100);
	shmap_ring_close(late);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* clear: a consumer-side drain, per type; refused for producers and observers. */
static void test_clear(void **state)
{
	(void)state;
	char name[NAMELEN];
	shmap_ring *p, *c, *c2, *obs;
	uint64_t v, n = 99;
	const void *rp;
	uint32_t got;

	/* SPSC, with a wrapped backlog (two contiguous runs). */
	th_name(name, sizeof name, "ring-clear");
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, NULL, &obs), SHMAP_OK);
	assert_int_equal(shmap_ring_clear(c, &n), SHMAP_OK);
	assert_int_equal(n, 0);
	for (v = 0; v < 12; v++)
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	for (int i = 0; i < 8; i++)
		assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
	for (v = 12; v < 22; v++)
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	n = 99;
	assert_int_equal(shmap_ring_clear(p, &n), SHMAP_E_NOTATTACHED);
	assert_int_equal(n, 0);
	assert_int_equal(shmap_ring_clear(obs, NULL), SHMAP_E_NOTATTACHED);
	assert_int_equal(shmap_ring_clear(NULL, &n), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_size(c), 14);
	assert_int_equal(shmap_ring_peek(c, 1, &rp, &got), SHMAP_OK);
	assert_int_equal(shmap_ring_clear(c, &n), SHMAP_E_BUSY); /* a peek is outstanding */
	assert_int_equal(shmap_ring_release(c, 0), SHMAP_OK);
	assert_int_equal(shmap_ring_clear(c, &n), SHMAP_OK);
	assert_int_equal(n, 14);
	assert_int_equal(shmap_ring_size(c), 0);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_EMPTY);
	/* The producer has the whole capacity again, and order continues. */
	for (v = 22; v < 38; v++)
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_E_FULL);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
	assert_int_equal(v, 22);
	assert_int_equal(shmap_ring_clear(c, NULL), SHMAP_OK);
	assert_int_equal(shmap_ring_size(c), 0);
	shmap_ring_close(obs);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);

	/* SPMC: only what no consumer claimed; counts as consumed, not lost. */
	th_name(name, sizeof name, "ring-clear-spmc");
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPMC, 8, 16, 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c2), SHMAP_OK);
	for (v = 0; v < 10; v++)
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	assert_int_equal(shmap_ring_peek(c, 3, &rp, &got), SHMAP_OK);
	assert_int_equal(got, 3);
	assert_int_equal(shmap_ring_clear(c2, &n), SHMAP_OK);
	assert_int_equal(n, 7);
	assert_int_equal(((const uint64_t *)rp)[2], 2); /* c's claim untouched */
	assert_int_equal(shmap_ring_release(c, 3), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_EMPTY);
	assert_int_equal(shmap_ring_pop(c2, &v), SHMAP_E_EMPTY);
	assert_int_equal(shmap_ring_lost(p), 0);
	for (v = 10; v < 26; v++)
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
	assert_int_equal(v, 10);
	shmap_ring_close(c2);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);

	/* Reliable broadcast: one subscriber's backlog; the other still reads all. */
	th_name(name, sizeof name, "ring-clear-rel");
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_BCAST_RELIABLE, 8, 8, 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c2), SHMAP_OK);
	for (v = 0; v < 8; v++)
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_E_FULL);
	assert_int_equal(shmap_ring_clear(c, &n), SHMAP_OK);
	assert_int_equal(n, 8);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_EMPTY);
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_E_FULL); /* c2 still gates */
	for (uint64_t i = 0; i < 8; i++) {
		assert_int_equal(shmap_ring_pop(c2, &v), SHMAP_OK);
		assert_int_equal(v, i);
	}
	v = 8;
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
	assert_int_equal(v, 8);
	shmap_ring_close(c2);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);

	/* Lossy broadcast, lapped subscriber: laps go to missed(), the rest is discarded. */
	th_name(name, sizeof name, "ring-clear-lossy");
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_BCAST_LOSSY, 8, 8, 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c2), SHMAP_OK);
	for (v = 0; v < 20; v++)
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	assert_int_equal(shmap_ring_clear(c, &n), SHMAP_OK);
	assert_int_equal(n + shmap_ring_missed(c), 20);
	assert_true(n > 0);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_EMPTY);
	assert_int_equal(shmap_ring_pop(c2, &v), SHMAP_E_OVERRUN); /* c2 unaffected: lapped on its own */
	v = 20;
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
	assert_int_equal(v, 20);
	shmap_ring_close(c2);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* clear against a producer in another process: what is popped plus what is
 * discarded is exactly what was pushed, in order, with no gap or repeat. */
struct clear_prod {
	const char *name;
	uint64_t n;
};

static int clear_producer(void *arg)
{
	struct clear_prod *cp = arg;
	shmap_ring *p;
	if (shmap_ring_open(cp->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, NULL, &p) != SHMAP_OK)
		return 1;
	for (uint64_t i = 0; i < cp->n; i++)
		if (shmap_ring_push_wait(p, &i, 5000) != SHMAP_OK)
			return 2;
	shmap_ring_close(p);
	return 0;
}

static void clear_mp(uint32_t type)
{
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-clear-mp");
	shmap_ring *c;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, type, 8, 64, type == SHMAP_RING_SPSC ? 0 : 2, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	struct clear_prod cp = { name, tt_soak() ? 5000000 : 200000 };
	struct tt_proc pp;
	assert_int_equal(tt_spawn(&pp, clear_producer, &cp, 60), 0);
	uint64_t expect = 0, discarded = 0, clears = 0, v;
	while (expect < cp.n) {
		int rc = shmap_ring_pop_wait(c, &v, 5000);
		assert_int_equal(rc, SHMAP_OK);
		assert_int_equal(v, expect);
		expect++;
		if (v % 997 == 0) {
			uint64_t d = 0;
			assert_int_equal(shmap_ring_clear(c, &d), SHMAP_OK);
			assert_true(d <= 64);
			expect += d;
			discarded += d;
			clears++;
		}
	}
	assert_int_equal(expect, cp.n);
	assert_true(th_ok(tt_wait(&pp, 30)));
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_EMPTY);
	assert_int_equal(shmap_ring_lost(c), 0);
	print_message("clear mp (type %u): %llu clears discarded %llu of %llu\n", type,
		      (unsigned long long)clears, (unsigned long long)discarded, (unsigned long long)cp.n);
	shmap_ring_close(c);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_clear_mp(void **state)
{
	(void)state;
	clear_mp(SHMAP_RING_SPSC);
	clear_mp(SHMAP_RING_SPMC);
	clear_mp(SHMAP_RING_BCAST_RELIABLE);
}

/* Reliable broadcast in one process: the slowest subscriber gates the producer. */
static void test_reliable_gate(void **state)
{
	(void)state;
	char name[NAMELEN];
	shmap_ring *p, *a, *b;
	th_name(name, sizeof name, "ring-rel");
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_BCAST_RELIABLE, 8, 8, 2, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &a), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &b), SHMAP_OK);
	shmap_ring *c3;
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c3), SHMAP_E_BUSY);
	uint64_t v;
	for (uint64_t i = 0; i < 8; i++)
		assert_int_equal(shmap_ring_push(p, &i), SHMAP_OK);
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_E_FULL);
	for (uint64_t i = 0; i < 8; i++) {
		assert_int_equal(shmap_ring_pop(a, &v), SHMAP_OK);
		assert_int_equal(v, i);
	}
	v = 8;
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_E_FULL); /* b still holds it */
	double t0 = th_now();
	assert_int_equal(shmap_ring_push_wait(p, &v, 100), SHMAP_E_TIMEOUT);
	double dt = th_now() - t0;
	assert_true(dt >= 0.095 && dt < 2.0); /* upper bound: a loaded box */
	assert_int_equal(shmap_ring_pop(b, &v), SHMAP_OK);
	assert_int_equal(v, 0);
	v = 8;
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	/* unsubscribe b: the producer is gated by a alone */
	shmap_ring_close(b);
	for (uint64_t i = 9; i < 16; i++)
		assert_int_equal(shmap_ring_push(p, &i), SHMAP_OK);
	assert_int_equal(shmap_ring_size(p), 8);
	for (uint64_t i = 8; i < 16; i++) {
		assert_int_equal(shmap_ring_pop(a, &v), SHMAP_OK);
		assert_int_equal(v, i);
	}
	shmap_ring_close(a);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ================================================================== mp */

struct stream_arg {
	const char *name;
	uint64_t n;
	uint32_t type;
	int mode; /* 0 mixed, 1 copy, 2 batch, 3 zero-copy */
	volatile uint64_t *shared; /* per-test shared words */
};

static int ok_or_busyloop(int rc, int blocked)
{
	return rc == SHMAP_OK || rc == blocked || rc == SHMAP_E_TIMEOUT;
}

/* Producer of 8-byte sequence numbers 0..n-1 through a random mix of paths. */
static int stream_producer(void *a)
{
	struct stream_arg *s = a;
	shmap_ring *p;
	int rc = shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, NULL, &p);
	if (rc != SHMAP_OK)
		return 10;
	uint64_t rs = seed_rng(), next = 0, buf[128];
	while (next < s->n) {
		int mode = s->mode ? s->mode : (int)(tt_rand(&rs) % 4) + 1;
		uint32_t want = (uint32_t)(tt_rand(&rs) % 100) + 1;
		if (want > s->n - next)
			want = (uint32_t)(s->n - next);
		uint32_t done = 0;
		if (mode == 1) {
			rc = shmap_ring_push(p, &next);
			if (rc == SHMAP_OK)
				next++;
		} else if (mode == 2) {
			for (uint32_t i = 0; i < want; i++)
				buf[i] = next + i;
			rc = shmap_ring_push_n(p, buf, want, &done);
			next += done;
		} else if (mode == 3) {
			void *wp;
			uint32_t got;
			rc = shmap_ring_reserve(p, want, &wp, &got);
			if (rc == SHMAP_OK) {
				for (uint32_t i = 0; i < got; i++)
					((uint64_t *)wp)[i] = next + i;
				rc = shmap_ring_commit(p, got);
				next += got;
			}
		} else {
			rc = shmap_ring_push_wait(p, &next, 1000);
			if (rc == SHMAP_OK)
				next++;
		}
		if (!ok_or_busyloop(rc, SHMAP_E_FULL))
			return 11;
	}
	shmap_ring_close(p);
	return 0;
}

static int stream_consumer(void *a)
{
	struct stream_arg *s = a;
	shmap_ring *c;
	int rc = shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c);
	if (rc != SHMAP_OK)
		return 20;
	tt_ack(1);
	uint64_t rs = seed_rng(), expect = 0, buf[128];
	while (expect < s->n) {
		int mode = s->mode ? s->mode : (int)(tt_rand(&rs) % 4) + 1;
		uint32_t want = (uint32_t)(tt_rand(&rs) % 100) + 1, done = 0;
		if (mode == 1) {
			rc = shmap_ring_pop(c, &buf[0]);
			done = rc == SHMAP_OK;
		} else if (mode == 2) {
			rc = shmap_ring_pop_n(c, buf, want, &done);
		} else if (mode == 3) {
			const void *rp;
			uint32_t got;
			rc = shmap_ring_peek(c, want, &rp, &got);
			if (rc == SHMAP_OK) {
				done = (uint32_t)(tt_rand(&rs) % got) + 1;
				memcpy(buf, rp, (size_t)done * 8);
				rc = shmap_ring_release(c, done);
			}
		} else {
			rc = shmap_ring_pop_n_wait(c, buf, want, &done, 1000);
		}
		if (!ok_or_busyloop(rc, SHMAP_E_EMPTY))
			return 21;
		for (uint32_t i = 0; i < done; i++) {
			if (buf[i] != expect) {
				fprintf(stderr, "consumer: got %llu expected %llu\n",
					(unsigned long long)buf[i], (unsigned long long)expect);
				return 22;
			}
			expect++;
		}
	}
	uint64_t v;
	if (shmap_ring_pop(c, &v) != SHMAP_E_EMPTY)
		return 23;
	shmap_ring_close(c);
	return 0;
}

static void run_spsc_stream(uint64_t n, uint64_t cap, int mode)
{
	char name[NAMELEN];
	shmap_ring *own;
	th_name(name, sizeof name, "ring-stream");
	/* create without a role-holder that stays: a consumer handle we close at once */
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, cap, SHMAP_RING_CONSUMER, NULL, &own), SHMAP_OK);
	shmap_ring_close(own);
	struct stream_arg s = { name, n, SHMAP_RING_SPSC, mode, NULL };
	struct tt_proc cp, pp;
	double t0 = th_now();
	assert_int_equal(tt_spawn(&cp, stream_consumer, &s, 300), 0);
	uint64_t ack;
	assert_int_equal(tt_read_ack(&cp, &ack, 10000), 0);
	assert_int_equal(tt_spawn(&pp, stream_producer, &s, 300), 0);
	int sp = tt_wait(&pp, 280), sc = tt_wait(&cp, 280);
	char b1[64], b2[64];
	if (!th_ok(sp) || !th_ok(sc))
		fail_msg("producer %s, consumer %s", tt_status_str(sp, b1, sizeof b1), tt_status_str(sc, b2, sizeof b2));
	double dt = th_now() - t0;
	print_message("spsc stream n=%llu cap=%llu mode=%d: %.2f s (%.1f M items/s incl. fork)\n",
		      (unsigned long long)n, (unsigned long long)cap, mode, dt, (double)n / dt / 1e6);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_spsc_stream(void **state)
{
	(void)state;
	uint64_t big = tt_soak() ? 100000000ull : 6000000ull;
	uint64_t mid = tt_soak() ? 20000000ull : 1000000ull;
	run_spsc_stream(big, 4096, 1);  /* copy */
	run_spsc_stream(big, 4096, 2);  /* batch */
	run_spsc_stream(big, 4096, 3);  /* zero-copy */
	run_spsc_stream(mid, 4096, 0);  /* mixed, incl. waits */
	run_spsc_stream(mid / 5, 8, 0);  /* tiny ring: wrap every few items, waits sleep often */
	run_spsc_stream(mid / 20, 2, 0); /* smallest ring */
}

/* ---- SPMC: union of consumers == produced, no duplicates ---- */

struct spmc_arg {
	const char *name;
	uint64_t n;
	volatile uint8_t *seen;     /* n bytes */
	volatile uint64_t *done;    /* producer finished */
	volatile uint64_t *count;   /* per consumer */
	int idx;
};

static int spmc_consumer(void *a)
{
	struct spmc_arg *s = a;
	shmap_ring *c;
	if (shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
		return 30;
	tt_ack(1);
	uint64_t rs = seed_rng(), buf[64];
	for (;;) {
		uint32_t done = 0;
		int rc;
		int mode = (int)(tt_rand(&rs) % 3);
		if (mode == 0) {
			rc = shmap_ring_pop_wait(c, buf, 20);
			done = rc == SHMAP_OK;
		} else if (mode == 1) {
			rc = shmap_ring_pop_n_wait(c, buf, (uint32_t)(tt_rand(&rs) % 64) + 1, &done, 20);
		} else {
			const void *rp;
			uint32_t got;
			rc = shmap_ring_peek(c, (uint32_t)(tt_rand(&rs) % 64) + 1, &rp, &got);
			if (rc == SHMAP_OK) {
				memcpy(buf, rp, (size_t)got * 8);
				done = got;
				if (shmap_ring_release(c, got) != SHMAP_OK)
					return 31;
			}
		}
		if (rc != SHMAP_OK && rc != SHMAP_E_TIMEOUT && rc != SHMAP_E_EMPTY)
			return 32;
		for (uint32_t i = 0; i < done; i++) {
			if (buf[i] >= s->n)
				return 33;
			__atomic_fetch_add(&s->seen[buf[i]], 1, __ATOMIC_RELAXED);
		}
		s->count[s->idx] += done;
		if (done == 0 && __atomic_load_n(s->done, __ATOMIC_ACQUIRE) && shmap_ring_size(c) == 0)
			break;
	}
	shmap_ring_close(c);
	return 0;
}

static void test_spmc_union(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-spmc");
	uint64_t n = tt_soak() ? 50000000ull : 3000000ull;
	shmap_ring *p;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPMC, 8, 1024, 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	volatile uint8_t *seen = shared_alloc(n);
	volatile uint64_t *words = shared_alloc(4096);
	struct spmc_arg args[3];
	struct tt_proc cps[3];
	for (int i = 0; i < 3; i++) {
		args[i] = (struct spmc_arg){ name, n, seen, &words[0], &words[8], i };
		assert_int_equal(tt_spawn(&cps[i], spmc_consumer, &args[i], 300), 0);
		uint64_t ack;
		assert_int_equal(tt_read_ack(&cps[i], &ack, 10000), 0);
	}
	uint64_t next = 0, rs = seed_rng(), buf[64];
	while (next < n) {
		uint32_t want = (uint32_t)(tt_rand(&rs) % 64) + 1, done = 0;
		if (want > n - next)
			want = (uint32_t)(n - next);
		int rc;
		if (tt_rand(&rs) & 1) {
			rc = shmap_ring_push_wait(p, &next, 2000);
			done = rc == SHMAP_OK;
		} else {
			for (uint32_t i = 0; i < want; i++)
				buf[i] = next + i;
			rc = shmap_ring_push_n_wait(p, buf, want, &done, 2000);
		}
		assert_true(rc == SHMAP_OK);
		next += done;
	}
	__atomic_store_n(&words[0], 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++) {
		int st = tt_wait(&cps[i], 280);
		char b[64];
		if (!th_ok(st))
			fail_msg("consumer %d: %s", i, tt_status_str(st, b, sizeof b));
	}
	uint64_t bad = 0, total = 0;
	for (uint64_t i = 0; i < n; i++)
		bad += seen[i] != 1;
	for (int i = 0; i < 3; i++) {
		total += words[8 + i];
		print_message("spmc consumer %d: %llu items\n", i, (unsigned long long)words[8 + i]);
	}
	assert_int_equal(bad, 0);
	assert_int_equal(total, n);
	assert_int_equal(shmap_ring_lost(p), 0);
	shmap_ring_close(p);
	munmap((void *)seen, n);
	munmap((void *)words, 4096);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ---- broadcast: every subscriber sees everything (reliable) or everything minus missed (lossy) ---- */

struct bc_arg {
	const char *name;
	uint64_t n;
	int slow;                    /* subscriber sleeps now and then */
	volatile uint64_t *res;      /* [0] received, [1] missed, [2] torn */
};

static int bc_subscriber(void *a)
{
	struct bc_arg *s = a;
	shmap_ring *c;
	if (shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
		return 40;
	int lossy = shmap_ring_type(c) == SHMAP_RING_BCAST_LOSSY;
	tt_ack(1);
	uint64_t expect = 0, received = 0, rs = seed_rng(), missed0 = 0;
	struct rec24 buf[32];
	while (expect < s->n) {
		uint32_t done = 0;
		int rc;
		if (tt_rand(&rs) & 1) {
			rc = shmap_ring_pop_n_wait(c, buf, (uint32_t)(tt_rand(&rs) % 32) + 1, &done, 5000);
		} else {
			const void *rp;
			uint32_t got;
			rc = shmap_ring_peek(c, (uint32_t)(tt_rand(&rs) % 32) + 1, &rp, &got);
			if (rc == SHMAP_OK) {
				memcpy(buf, rp, (size_t)got * sizeof buf[0]);
				rc = shmap_ring_release(c, got);
				done = rc == SHMAP_OK ? got : 0;
			} else if (rc == SHMAP_E_EMPTY) {
				rc = shmap_ring_wait(c, 5000);
			}
		}
		if (rc == SHMAP_E_OVERRUN) {
			if (!lossy)
				return 41;
			uint64_t m = shmap_ring_missed(c);
			expect += m - missed0;
			missed0 = m;
			continue;
		}
		if (rc != SHMAP_OK)
			return 42;
		for (uint32_t i = 0; i < done; i++) {
			if (!rec_ok(&buf[i])) {
				s->res[2]++;
				return 43;
			}
			if (buf[i].seq != expect) {
				fprintf(stderr, "subscriber: got %llu expected %llu\n",
					(unsigned long long)buf[i].seq, (unsigned long long)expect);
				return 44;
			}
			expect++;
			received++;
		}
		if (s->slow && (tt_rand(&rs) % 1000) == 0)
			usleep(2000);
	}
	s->res[0] = received;
	s->res[1] = shmap_ring_missed(c);
	if (expect != s->n)
		return 45;
	shmap_ring_close(c);
	return 0;
}

static void run_bcast(uint32_t type, uint64_t n, int nsubs, int stop_one)
{
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-bc");
	shmap_ring *p;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, type, sizeof(struct rec24), 1024, 8, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	volatile uint64_t *res = shared_alloc(4096);
	struct bc_arg args[8];
	struct tt_proc sp[8];
	for (int i = 0; i < nsubs; i++) {
		args[i] = (struct bc_arg){ name, n, i == 1, &res[i * 8] };
		assert_int_equal(tt_spawn(&sp[i], bc_subscriber, &args[i], 300), 0);
		uint64_t ack;
		assert_int_equal(tt_read_ack(&sp[i], &ack, 10000), 0);
	}
	uint64_t next = 0, rs = seed_rng();
	struct rec24 buf[32];
	double t0 = th_now();
	int stopped = 0;
	while (next < n) {
		uint32_t want = (uint32_t)(tt_rand(&rs) % 32) + 1, done = 0;
		if (want > n - next)
			want = (uint32_t)(n - next);
		for (uint32_t i = 0; i < want; i++)
			rec_make(&buf[i], next + i);
		int rc = shmap_ring_push_n_wait(p, buf, want, &done, 5000);
		assert_int_equal(rc, SHMAP_OK);
		assert_int_equal(done, want);
		next += done;
		if (type == SHMAP_RING_BCAST_LOSSY && (tt_rand(&rs) & 3) == 0)
			usleep(20); /* pace the never-waiting producer so live subscribers keep up */
		if (stop_one && !stopped && next > n / 4) {
			kill(sp[0].pid, SIGSTOP);
			stopped = 1;
			t0 = th_now();
		}
		if (stopped == 1 && th_now() - t0 > 0.3) {
			kill(sp[0].pid, SIGCONT);
			stopped = 2;
		}
	}
	if (stopped == 1)
		kill(sp[0].pid, SIGCONT);
	for (int i = 0; i < nsubs; i++) {
		int st = tt_wait(&sp[i], 280);
		char b[64];
		if (!th_ok(st))
			fail_msg("subscriber %d: %s", i, tt_status_str(st, b, sizeof b));
		print_message("%s subscriber %d: received %llu missed %llu\n",
			      type == SHMAP_RING_BCAST_LOSSY ? "lossy" : "reliable", i,
			      (unsigned long long)res[i * 8], (unsigned long long)res[i * 8 + 1]);
		assert_int_equal(res[i * 8] + res[i * 8 + 1], n);
		assert_int_equal(res[i * 8 + 2], 0);
		if (type == SHMAP_RING_BCAST_RELIABLE)
			assert_int_equal(res[i * 8 + 1], 0);
	}
	if (type == SHMAP_RING_BCAST_LOSSY && stop_one)
		assert_true(res[1] > 0); /* the stopped one was lapped */
	shmap_ring_close(p);
	munmap((void *)res, 4096);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_bcast_reliable(void **state)
{
	(void)state;
	run_bcast(SHMAP_RING_BCAST_RELIABLE, tt_soak() ? 20000000ull : 1000000ull, 3, 0);
}

static void test_bcast_lossy(void **state)
{
	(void)state;
	run_bcast(SHMAP_RING_BCAST_LOSSY, tt_soak() ? 20000000ull : 1000000ull, 3, 1);
}

/* ---- waits: wake latency across processes, timeouts on time ---- */

struct wait_arg {
	const char *name;
	volatile uint64_t *w; /* [0] child ready, [1] push time ns, [2] wake time ns, [3] rc,
			       * [4] the child's run-queue wait ns after the wake */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int wait_child(void *a)
{
	struct wait_arg *s = a;
	shmap_ring *c;
	if (shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
		return 50;
	uint64_t v = 0;
	__atomic_store_n(&s->w[0], 1, __ATOMIC_RELEASE);
	int rc = shmap_ring_pop_wait(c, &v, 10000);
	s->w[2] = mono_ns();
	s->w[4] = th_rq_wait_ns(0);
	s->w[3] = (uint64_t)(int64_t)rc;
	if (rc != SHMAP_OK || v != 42)
		return 51;
	shmap_ring_close(c);
	return 0;
}

static void run_wake(uint32_t type)
{
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-wait");
	shmap_ring *p;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, type, 8, 64, type == SHMAP_RING_SPSC ? 0 : 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	volatile uint64_t *w = shared_alloc(4096);
	struct wait_arg s = { name, w };
	struct tt_proc cp;
	assert_int_equal(tt_spawn(&cp, wait_child, &s, 60), 0);
	while (!__atomic_load_n(&w[0], __ATOMIC_ACQUIRE))
		usleep(1000);
	usleep(200000); /* the child is asleep in the kernel by now */
	uint64_t v = 42;
	/* Time that the child and we spend waiting for a CPU between the
	 * push and the child's return is the machine's load, not the wake's
	 * latency (the child's single-threaded: its pid is its thread). */
	const unsigned long long child_rq0 = th_rq_wait_ns(cp.pid), self_rq0 = th_rq_wait_ns(0);
	w[1] = mono_ns();
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	const unsigned long long self_rq1 = th_rq_wait_ns(0);
	int st = tt_wait(&cp, 30);
	assert_true(th_ok(st));
	double lat_ms = (double)(w[2] - w[1]) / 1e6;
	double rq_ms = (double)((w[4] > child_rq0 ? w[4] - child_rq0 : 0) + (self_rq1 - self_rq0)) / 1e6;
	print_message("type %u: wake latency %.3f ms (%.3f ms of it waiting for a CPU)\n", type, lat_ms, rq_ms);
	assert_true(lat_ms - rq_ms < 50.0);
	shmap_ring_close(p);
	munmap((void *)w, 4096);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_wake(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++) {
		run_wake(SHMAP_RING_SPSC);
		run_wake(SHMAP_RING_SPMC);
		run_wake(SHMAP_RING_BCAST_LOSSY);
		run_wake(SHMAP_RING_BCAST_RELIABLE);
	}
}

/*
 * Worker pools. An idle consumer blocked in pop_wait sleeps after its spin
 * and yield budget: its CPU time over the wait stays far below the wait.
 */
static int idle_child(void *a)
{
	struct wait_arg *s = a;
	shmap_ring *c;
	if (shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
		return 50;
	uint64_t v = 0;
	uint32_t ms = (uint32_t)s->w[1];
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	int rc = shmap_ring_pop_wait(c, &v, ms);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	s->w[2] = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec));
	shmap_ring_close(c);
	return rc == SHMAP_E_TIMEOUT ? 0 : 51;
}

static void test_idle_waiter_cpu(void **state)
{
	(void)state;
	const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, SHMAP_RING_BCAST_RELIABLE };
	const uint32_t ms = tt_soak() ? 10000 : 2000;
	for (int i = 0; i < 3; i++) {
		char name[NAMELEN];
		th_name(name, sizeof name, "ring-idle");
		shmap_ring *p;
		assert_int_equal(th_ring_open(name, SHMAP_CREATE, types[i], 8, 64,
						 types[i] == SHMAP_RING_SPSC ? 0 : 4, SHMAP_RING_PRODUCER,
						 NULL, &p),
				 SHMAP_OK);
		volatile uint64_t *w = shared_alloc(4096);
		w[1] = ms;
		struct wait_arg s = { name, w };
		struct tt_proc cp;
		assert_int_equal(tt_spawn(&cp, idle_child, &s, ms / 1000 + 60), 0);
		assert_true(th_ok(tt_wait(&cp, ms / 1000.0 + 60)));
		double cpu_ms = (double)w[2] / 1e6;
		print_message("type %u: idle pop_wait(%u ms) used %.2f ms of CPU\n", types[i], ms, cpu_ms);
		/* the spin and yield budget (about a millisecond), then one
		 * wake-up per 100 ms slice: 2% of the wait is a wide margin */
		assert_true(cpu_ms < ms * 0.02);
		shmap_ring_close(p);
		munmap((void *)w, 4096);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
}

/*
 * A pool of 16 blocking consumers (more than the CPUs of a small machine)
 * behind one blocking producer: every element arrives exactly once, and
 * the whole stream within a time bound (the waits must not collapse).
 */
#define POOL_C 16
struct pool_arg {
	const char *name;
	volatile uint8_t *seen;
	uint64_t n;
};

static int pool_child(void *a)
{
	struct pool_arg *s = a;
	shmap_ring *c;
	if (shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
		return 50;
	for (;;) {
		uint64_t v;
		if (shmap_ring_pop_wait(c, &v, 30000) != SHMAP_OK)
			return 51;
		if (v == UINT64_MAX)
			break;
		if (v >= s->n)
			return 52;
		__atomic_fetch_add(&s->seen[v], 1, __ATOMIC_RELAXED);
	}
	shmap_ring_close(c);
	return 0;
}

static void test_pool16(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-pool");
	/* sanitized builds run several times slower: fewer elements, a
	 * looser bound (the exactly-once check is what they add) */
	const uint64_t n = tt_soak() ? 20000000 : TT_SANITIZED ? 300000 : 2000000;
	shmap_ring *p;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPMC, 8, 1024, POOL_C,
					 SHMAP_RING_PRODUCER, NULL, &p),
			 SHMAP_OK);
	volatile uint8_t *seen = shared_alloc(n);
	struct pool_arg s = { name, seen, n };
	struct tt_proc cp[POOL_C];
	for (int i = 0; i < POOL_C; i++)
		assert_int_equal(tt_spawn(&cp[i], pool_child, &s, 120), 0);
	uint64_t t0 = mono_ns();
	for (uint64_t i = 0; i < n + POOL_C; i++) {
		uint64_t v = i < n ? i : UINT64_MAX;
		assert_int_equal(shmap_ring_push_wait(p, &v, 30000), SHMAP_OK);
	}
	for (int i = 0; i < POOL_C; i++)
		assert_true(th_ok(tt_wait(&cp[i], 60)));
	double dt = (double)(mono_ns() - t0) / 1e9;
	print_message("%d blocking consumers: %llu elements in %.3f s (%.2f M/s)\n", POOL_C,
		      (unsigned long long)n, dt, (double)n / dt / 1e6);
	for (uint64_t i = 0; i < n; i++)
		if (seen[i] != 1)
			fail_msg("element %llu arrived %u times", (unsigned long long)i, seen[i]);
	/* about 0.1 s on two CPUs with the yield phase, 5 s and more
	 * when every empty ring put the pool to sleep */
	assert_true(dt < (tt_soak() ? 30.0 : 3.0) * (TT_SANITIZED ? 10 : 1));
	shmap_ring_close(p);
	munmap((void *)seen, n);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/*
 * A consumer SIGKILLed while asleep in pop_wait: the others, asleep too,
 * still get each element promptly (well within the futex slice, so a wake
 * is not lost to the dead one: SPMC wakes only as many sleepers as there
 * are elements, plus one).
 */
#define KILL_C 4
struct asleep_arg {
	const char *name;
	volatile uint64_t *w; /* [0] ready count, [1] elements taken, [2] bad */
};

static int asleep_child(void *a)
{
	struct asleep_arg *s = a;
	shmap_ring *c;
	if (shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
		return 50;
	__atomic_fetch_add(&s->w[0], 1, __ATOMIC_RELEASE);
	uint64_t v;
	int rc = shmap_ring_pop_wait(c, &v, 20000);
	if (rc != SHMAP_OK || v != 7)
		__atomic_fetch_add(&s->w[2], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->w[1], 1, __ATOMIC_RELEASE);
	shmap_ring_close(c);
	return rc == SHMAP_OK ? 0 : 51;
}

static void test_kill_asleep(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-asleep");
	shmap_ring *p;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPMC, 8, 64, KILL_C,
					 SHMAP_RING_PRODUCER, NULL, &p),
			 SHMAP_OK);
	volatile uint64_t *w = shared_alloc(4096);
	struct asleep_arg s = { name, w };
	struct tt_proc cp[KILL_C];
	for (int i = 0; i < KILL_C; i++)
		assert_int_equal(tt_spawn(&cp[i], asleep_child, &s, 60), 0);
	while (__atomic_load_n(&w[0], __ATOMIC_ACQUIRE) < KILL_C)
		usleep(1000);
	usleep(300000); /* past the spin and yield budget: all asleep */
	kill(cp[0].pid, SIGKILL);
	int st = tt_wait(&cp[0], 30);
	assert_true(tt_killed_by(st, SIGKILL));
	for (uint64_t k = 1; k < KILL_C; k++) {
		uint64_t v = 7, t0 = mono_ns();
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
		while (__atomic_load_n(&w[1], __ATOMIC_ACQUIRE) < k && mono_ns() - t0 < 2000000000ull)
			usleep(100);
		double ms = (double)(mono_ns() - t0) / 1e6;
		print_message("element %llu taken after %.3f ms\n", (unsigned long long)k, ms);
		assert_true(w[1] == k);
		/* the futex slice is 100 ms: a lost wake would show as that */
		assert_true(ms < 50.0);
	}
	for (int i = 1; i < KILL_C; i++)
		assert_true(th_ok(tt_wait(&cp[i], 30)));
	assert_int_equal(w[2], 0);
	shmap_ring_close(p);
	munmap((void *)w, 4096);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_timeouts(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-tmo");
	shmap_ring *p, *c;
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	uint64_t v = 1;
	uint32_t tmo[] = { 1, 20, 150 };
	for (size_t i = 0; i < 3; i++) {
		double t0 = th_now();
		assert_int_equal(shmap_ring_pop_wait(c, &v, tmo[i]), SHMAP_E_TIMEOUT);
		double dt = (th_now() - t0) * 1e3;
		print_message("pop_wait(%u ms) -> TIMEOUT after %.2f ms\n", tmo[i], dt);
		assert_true(dt >= tmo[i] * 0.95 && dt < tmo[i] + 250.0); /* upper: scheduling on a loaded box */
		assert_int_equal(shmap_ring_wait(c, 5), SHMAP_E_TIMEOUT);
	}
	assert_int_equal(shmap_ring_pop_wait(c, &v, 0), SHMAP_E_EMPTY);
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(shmap_ring_push(p, &i), SHMAP_OK);
	for (size_t i = 0; i < 3; i++) {
		double t0 = th_now();
		assert_int_equal(shmap_ring_push_wait(p, &v, tmo[i]), SHMAP_E_TIMEOUT);
		double dt = (th_now() - t0) * 1e3;
		print_message("push_wait(%u ms) -> TIMEOUT after %.2f ms\n", tmo[i], dt);
		assert_true(dt >= tmo[i] * 0.95 && dt < tmo[i] + 250.0); /* upper: scheduling on a loaded box */
	}
	assert_int_equal(shmap_ring_wait(c, 10), SHMAP_OK);
	assert_int_equal(shmap_ring_wait(p, 0), SHMAP_E_TIMEOUT);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}


/* ---- observers, read_at, consumers, push_bytes_wait, header check ---- */

static void test_observer(void **state)
{
	(void)state;
	static const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, SHMAP_RING_BCAST_LOSSY,
					  SHMAP_RING_BCAST_RELIABLE };
	for (size_t t = 0; t < 4; t++) {
		char name[NAMELEN];
		th_name(name, sizeof name, "ring-obs");
		shmap_ring *p, *c, *o, *o2;
		assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, types[t], 8, 8, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
		/* observer before any consumer: counts nothing, takes nothing */
		assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, NULL, &o), SHMAP_OK);
		assert_int_equal(shmap_ring_role(o), SHMAP_RING_OBSERVER);
		assert_int_equal(shmap_ring_type(o), types[t]);
		assert_int_equal(shmap_ring_consumers(o), 0);
		assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
		assert_int_equal(shmap_ring_consumers(o), 1);
		assert_int_equal(shmap_ring_consumers(p), 1);
		/* a second observer while both roles are alive */
		assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, types[t], 0, 0, SHMAP_RING_OBSERVER, NULL, &o2), SHMAP_OK);
		uint64_t v = 5, out = 0;
		const void *rp;
		void *wp;
		uint32_t got, done;
		assert_int_equal(shmap_ring_push(o, &v), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_pop(o, &out), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_push_n(o, &v, 1, &done), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_pop_n(o, &out, 1, &done), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_push_wait(o, &v, 5), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_pop_wait(o, &out, 5), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_push_bytes_wait(o, &v, 4, 5), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_wait(o, 5), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_reserve(o, 1, &wp, &got), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_peek(o, 1, &rp, &got), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_commit(o, 0), SHMAP_E_NOTATTACHED);
		assert_int_equal(shmap_ring_release(o, 0), SHMAP_E_NOTATTACHED);
		/* the queries work and the roles are untouched */
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
		assert_int_equal(shmap_ring_size(o), 1);
		uint64_t head = 0, tail = 9;
		uint32_t pid = 0, alive = 0;
		assert_int_equal(th_ring_stats(o, &head, &tail, NULL, &pid, &alive), SHMAP_OK);
		assert_int_equal(head, 1);
		assert_int_equal(pid, (uint32_t)getpid());
		assert_int_equal(alive, 1);
		uint32_t found = 0;
		for (uint32_t i = 0; i < shmap_ring_max_consumers(o); i++)
			found += th_ring_consumer_stats(o, i, &pid, &alive, NULL, NULL) == SHMAP_OK;
		assert_int_equal(found, 1);
		uint64_t problems = 9;
		assert_int_equal(shmap_ring_check(o, 0, &problems), SHMAP_OK);
		assert_int_equal(problems, 0);
		assert_int_equal(shmap_ring_read_at(o, 0, &out), SHMAP_OK);
		assert_int_equal(out, 5);
		assert_int_equal(shmap_ring_pop(c, &out), SHMAP_OK);
		assert_int_equal(out, 5);
		assert_int_equal(shmap_ring_role(p), SHMAP_RING_PRODUCER);
		assert_int_equal(shmap_ring_role(c), SHMAP_RING_CONSUMER);
		shmap_ring_close(o2);
		shmap_ring_close(o);
		shmap_ring_close(c);
		assert_int_equal(shmap_ring_consumers(p), 0);
		shmap_ring_close(p);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
}

static void test_read_at(void **state)
{
	(void)state;
	static const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, SHMAP_RING_BCAST_LOSSY,
					  SHMAP_RING_BCAST_RELIABLE };
	for (size_t t = 0; t < 4; t++) {
		char name[NAMELEN];
		th_name(name, sizeof name, "ring-rdat");
		shmap_ring *p, *c, *o;
		struct rec24 e, out;
		assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, types[t], sizeof e, 8, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
		assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
		assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, NULL, &o), SHMAP_OK);
		assert_int_equal(shmap_ring_read_at(NULL, 0, &out), SHMAP_E_INVAL);
		assert_int_equal(shmap_ring_read_at(o, 0, NULL), SHMAP_E_INVAL);
		assert_int_equal(shmap_ring_read_at(o, 0, &out), SHMAP_E_RANGE);
		for (uint64_t i = 0; i < 6; i++) {
			rec_make(&e, 100 + i);
			assert_int_equal(shmap_ring_push(p, &e), SHMAP_OK);
		}
		shmap_ring *who[] = { o, p, c };
		for (size_t w = 0; w < 3; w++) {
			for (uint64_t i = 0; i < 6; i++) {
				memset(&out, 0, sizeof out);
				assert_int_equal(shmap_ring_read_at(who[w], i, &out), SHMAP_OK);
				assert_true(rec_ok(&out));
				assert_int_equal(out.seq, 100 + i);
			}
			assert_int_equal(shmap_ring_read_at(who[w], 6, &out), SHMAP_E_RANGE);
			assert_int_equal(shmap_ring_read_at(who[w], UINT64_MAX, &out), SHMAP_E_RANGE);
		}
		assert_int_equal(shmap_ring_size(o), types[t] == SHMAP_RING_BCAST_LOSSY ? 6 : 6);
		/* consume two: they leave the window except for lossy broadcast */
		for (uint64_t i = 0; i < 2; i++) {
			assert_int_equal(shmap_ring_pop(c, &out), SHMAP_OK);
			assert_int_equal(out.seq, 100 + i);
		}
		int lossy = types[t] == SHMAP_RING_BCAST_LOSSY;
		assert_int_equal(shmap_ring_read_at(o, 0, &out), lossy ? SHMAP_OK : SHMAP_E_RANGE);
		assert_int_equal(shmap_ring_read_at(o, 2, &out), SHMAP_OK);
		assert_int_equal(out.seq, 102);
		/* wrap: positions 6..13; the oldest still readable is head - cap for lossy */
		for (uint64_t i = 6; i < 10; i++) {
			rec_make(&e, 100 + i);
			assert_int_equal(shmap_ring_push(p, &e), SHMAP_OK);
		}
		for (uint64_t i = 2; i < 10; i++) {
			assert_int_equal(shmap_ring_read_at(o, i, &out), SHMAP_OK);
			assert_true(rec_ok(&out));
			assert_int_equal(out.seq, 100 + i);
		}
		assert_int_equal(shmap_ring_read_at(o, 1, &out), SHMAP_E_RANGE);
		if (lossy) {
			/* lap the ring: positions below head - cap are gone */
			for (uint64_t i = 10; i < 30; i++) {
				rec_make(&e, 100 + i);
				assert_int_equal(shmap_ring_push(p, &e), SHMAP_OK);
			}
			assert_int_equal(shmap_ring_read_at(o, 21, &out), SHMAP_E_RANGE);
			assert_int_equal(shmap_ring_read_at(o, 22, &out), SHMAP_OK);
			assert_int_equal(out.seq, 122);
		}
		/* read_at changes nothing: the consumer still gets everything in order */
		uint64_t nxt = 2;
		if (lossy) {
			assert_int_equal(shmap_ring_pop(c, &out), SHMAP_E_OVERRUN);
			nxt = 23; /* resynchronised on head - cap + 1 */
		}
		while (shmap_ring_pop(c, &out) == SHMAP_OK) {
			assert_true(rec_ok(&out));
			assert_int_equal(out.seq, 100 + nxt);
			nxt++;
		}
		assert_int_equal(nxt, lossy ? 30 : 10);
		/* zero-copy outstanding: read_at is still allowed */
		const void *rp;
		uint32_t got;
		rec_make(&e, 500);
		assert_int_equal(shmap_ring_push(p, &e), SHMAP_OK);
		assert_int_equal(shmap_ring_peek(c, 1, &rp, &got), SHMAP_OK);
		if (types[t] == SHMAP_RING_SPMC) {
			/* a claimed element has left the SPMC window */
			assert_int_equal(shmap_ring_read_at(c, nxt, &out), SHMAP_E_RANGE);
		} else {
			assert_int_equal(shmap_ring_read_at(c, nxt, &out), SHMAP_OK);
			assert_int_equal(out.seq, 500);
		}
		assert_int_equal(shmap_ring_release(c, 1), SHMAP_OK);
		shmap_ring_close(o);
		shmap_ring_close(c);
		shmap_ring_close(p);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
}

static void test_push_bytes_wait(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-pbw");
	shmap_ring *p, *c;
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 16, 2, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	uint8_t big[17] = { 0 }, out[16];
	assert_int_equal(shmap_ring_push_bytes_wait(NULL, big, 1, 5), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_push_bytes_wait(p, NULL, 1, 5), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_push_bytes_wait(p, big, 17, 5), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_ring_push_bytes_wait(c, big, 1, 5), SHMAP_E_NOTATTACHED);
	assert_int_equal(shmap_ring_push_bytes_wait(p, "abc", 3, 5), SHMAP_OK);
	assert_int_equal(shmap_ring_push_bytes_wait(p, NULL, 0, 0), SHMAP_OK);
	double t0 = th_now();
	assert_int_equal(shmap_ring_push_bytes_wait(p, "x", 1, 20), SHMAP_E_TIMEOUT);
	double dt = (th_now() - t0) * 1e3;
	assert_true(dt >= 19.0 && dt < 270.0);
	assert_int_equal(shmap_ring_pop(c, out), SHMAP_OK);
	assert_memory_equal(out, "abc\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(shmap_ring_pop(c, out), SHMAP_OK);
	for (int i = 0; i < 16; i++)
		assert_int_equal(out[i], 0);
	/* a consumer in another process frees a slot: the waiting push completes */
	uint8_t fill[16];
	memset(fill, 7, sizeof fill);
	assert_int_equal(shmap_ring_push(p, fill), SHMAP_OK);
	assert_int_equal(shmap_ring_push(p, fill), SHMAP_OK);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		usleep(20000); /* let the parent block in the waiting push */
		shmap_ring *c2 = NULL;
		/* the parent closes its consumer handle; take the role then */
		for (int i = 0; i < 500 && !c2; i++) {
			if (shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c2) < 0) {
				c2 = NULL;
				usleep(2000);
			}
		}
		uint8_t o2[16];
		int rc = c2 && shmap_ring_pop(c2, o2) == SHMAP_OK && o2[0] == 7 ? 0 : 1;
		shmap_ring_close(c2);
		_exit(rc);
	}
	shmap_ring_close(c);
	assert_int_equal(shmap_ring_push_bytes_wait(p, "yz", 2, 5000), SHMAP_OK);
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(shmap_ring_size(p), 2);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_check_header(void **state)
{
	(void)state;
	char name[NAMELEN], path[NAMELEN + 16];
	th_name(name, sizeof name, "ring-hdr");
	shmap_ring *p;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPMC, 8, 8, 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	uint64_t problems = 9;
	assert_int_equal(shmap_ring_check(p, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	close(fd);
	m[24] ^= 0x10; /* capacity field of the header, rewritten behind our back */
	assert_int_equal(shmap_ring_check(p, 0, &problems), SHMAP_E_CORRUPT);
	assert_true(problems >= 1);
	assert_int_equal(shmap_ring_check(p, SHMAP_CHECK_REPAIR, &problems), SHMAP_E_CORRUPT);
	assert_true(problems >= 1);
	m[24] ^= 0x10;
	assert_int_equal(shmap_ring_check(p, 0, &problems), SHMAP_OK);
	munmap(m, 4096);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Waits end within a few ms of their deadline (median of several). */
static void test_timeout_precision(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-tprec");
	shmap_ring *c;
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 4, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	double over[9];
	uint64_t v;
	for (int i = 0; i < 9; i++) {
		double t0 = th_now();
		assert_int_equal(shmap_ring_pop_wait(c, &v, 10), SHMAP_E_TIMEOUT);
		over[i] = (th_now() - t0) * 1e3 - 10.0;
		assert_true(over[i] >= -0.5);
	}
	for (int i = 0; i < 9; i++)
		for (int j = i + 1; j < 9; j++)
			if (over[j] < over[i]) {
				double x = over[i];
				over[i] = over[j];
				over[j] = x;
			}
	print_message("pop_wait(10 ms) overshoot: median %.2f ms, max %.2f ms\n", over[4], over[8]);
	assert_true(over[4] < 5.0); /* a couple of ms; slack for a loaded machine */
	shmap_ring_close(c);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}


/*
 * SPSC single elements of every size class the copy paths distinguish (the
 * fixed sizes, their neighbours, and sizes past the fixed ones), in a small
 * ring so that positions wrap and the producer and consumer look ahead
 * across the end of the ring: every byte of every element arrives, nothing
 * is written past an element in the caller's buffer, and the single calls
 * interleave with push_n/pop_n and reserve/peek on the same ring.
 */
static uint8_t size_byte(uint64_t seq, uint32_t j)
{
	return (uint8_t)(seq * 131u + j * 7u + (j >> 8) + 1u);
}

static void size_fill(uint8_t *e, uint32_t es, uint64_t seq)
{
	for (uint32_t j = 0; j < es; j++)
		e[j] = size_byte(seq, j);
}

static int size_ok(const uint8_t *e, uint32_t es, uint64_t seq)
{
	for (uint32_t j = 0; j < es; j++)
		if (e[j] != size_byte(seq, j))
			return 0;
	return 1;
}

static void test_spsc_elem_sizes(void **state)
{
	(void)state;
	static const uint32_t sizes[] = { 8, 16, 24, 32, 40, 48, 56, 64, 72, 96, 128, 136, 256, 264, 1000, 4096 };
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		const uint32_t es = sizes[si];
		const uint64_t cap = 16;
		char name[NAMELEN];
		th_name(name, sizeof name, "ring-sizes");
		shmap_ring *p, *c;
		assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, es, cap, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
		assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
		uint8_t *buf = malloc((size_t)es * 4 + 64);
		assert_non_null(buf);
		uint64_t next_in = 0, next_out = 0, rs = 0x5151 + es;
		uint32_t done, got;
		for (int round = 0; round < 600; round++) {
			/* producer: singles mostly (the fixed-size paths), sometimes a batch or a reserve */
			uint64_t room = cap - (next_in - next_out);
			uint32_t k = room ? 1 + (uint32_t)(tt_rand(&rs) % room) : 0;
			int kind = (int)(tt_rand(&rs) % 6);
			if (k && kind <= 3) {
				for (uint32_t i = 0; i < k; i++) {
					size_fill(buf, es, next_in);
					assert_int_equal(shmap_ring_push(p, buf), SHMAP_OK);
					next_in++;
				}
			} else if (k && kind == 4) {
				uint32_t b = k < 4 ? k : 4;
				for (uint32_t i = 0; i < b; i++)
					size_fill(buf + (size_t)i * es, es, next_in + i);
				assert_int_equal(shmap_ring_push_n(p, buf, b, &done), SHMAP_OK);
				assert_int_equal(done, b);
				next_in += b;
			} else if (k) {
				void *wp;
				assert_int_equal(shmap_ring_reserve(p, k, &wp, &got), SHMAP_OK);
				assert_true(got >= 1 && got <= k);
				for (uint32_t i = 0; i < got; i++)
					size_fill((uint8_t *)wp + (size_t)i * es, es, next_in + i);
				assert_int_equal(shmap_ring_commit(p, got), SHMAP_OK);
				next_in += got;
			}
			if (next_in - next_out == cap) {
				size_fill(buf, es, next_in);
				assert_int_equal(shmap_ring_push(p, buf), SHMAP_E_FULL);
			}
			/* consumer: singles into a guarded buffer, sometimes a batch or a peek */
			uint64_t avail = next_in - next_out;
			uint64_t take = avail ? 1 + tt_rand(&rs) % avail : 0;
			kind = (int)(tt_rand(&rs) % 6);
			if (kind <= 3) {
				for (uint64_t i = 0; i < take; i++) {
					memset(buf, 0xA5, (size_t)es + 64);
					assert_int_equal(shmap_ring_pop(c, buf), SHMAP_OK);
					assert_true(size_ok(buf, es, next_out));
					for (uint32_t g = 0; g < 64; g++)
						assert_int_equal(buf[es + g], 0xA5);
					next_out++;
				}
			} else if (kind == 4 && take) {
				uint32_t b = take < 4 ? (uint32_t)take : 4;
				assert_int_equal(shmap_ring_pop_n(c, buf, b, &done), SHMAP_OK);
				assert_int_equal(done, b);
				for (uint32_t i = 0; i < b; i++)
					assert_true(size_ok(buf + (size_t)i * es, es, next_out + i));
				next_out += b;
			} else if (take) {
				const void *rp;
				assert_int_equal(shmap_ring_peek(c, (uint32_t)take, &rp, &got), SHMAP_OK);
				assert_true(got >= 1 && got <= take);
				for (uint32_t i = 0; i < got; i++)
					assert_true(size_ok((const uint8_t *)rp + (size_t)i * es, es, next_out + i));
				assert_int_equal(shmap_ring_release(c, got), SHMAP_OK);
				next_out += got;
			}
			if (next_in == next_out)
				assert_int_equal(shmap_ring_pop(c, buf), SHMAP_E_EMPTY);
		}
		assert_true(next_out > 1000);
		free(buf);
		shmap_ring_close(c);
		shmap_ring_close(p);
		shmap_unlink(name, NULL);
	}
}

/*
 * The same single-element calls (push and pop, spinning on FULL and EMPTY)
 * between two processes, streaming: the
 * producer fills every byte, the consumer checks every byte, for sizes with
 * a fixed-size path (64, 256) and without (1024), in a ring small enough to
 * wrap many times while both sides look ahead.
 */
struct sizes_arg {
	const char *name;
	uint32_t es;
	uint64_t n;
};

static int sizes_consumer(void *a)
{
	struct sizes_arg *s = a;
	shmap_ring *c;
	if (shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
		return 30;
	tt_ack(1);
	uint8_t *buf = malloc(s->es);
	if (!buf)
		return 31;
	for (uint64_t i = 0; i < s->n; i++) {
		int rc;
		while ((rc = shmap_ring_pop(c, buf)) == SHMAP_E_EMPTY)
			sched_yield();
		if (rc != SHMAP_OK)
			return 32;
		if (!size_ok(buf, s->es, i))
			return 33;
	}
	free(buf);
	shmap_ring_close(c);
	return 0;
}

static void test_spsc_sizes_stream(void **state)
{
	(void)state;
	static const uint32_t sizes[] = { 64, 256, 1024 };
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		char name[NAMELEN];
		th_name(name, sizeof name, "ring-sizes-mp");
		struct sizes_arg a = { name, sizes[si], (tt_soak() ? 2000000u : 200000u) / (sizes[si] / 64) };
		shmap_ring *p;
		assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, a.es, 64, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
		struct tt_proc cons;
		assert_int_equal(tt_spawn(&cons, sizes_consumer, &a, 120), 0);
		uint64_t v;
		assert_int_equal(tt_read_ack(&cons, &v, 10000), 0);
		uint8_t *buf = malloc(a.es);
		assert_non_null(buf);
		for (uint64_t i = 0; i < a.n; i++) {
			size_fill(buf, a.es, i);
			int rc;
			double t0 = 0;
			while ((rc = shmap_ring_push(p, buf)) == SHMAP_E_FULL) {
				/* a consumer that failed a check stops popping: do not spin forever */
				if (t0 == 0)
					t0 = th_now();
				else if (th_now() - t0 > 20)
					break;
				sched_yield();
			}
			if (rc != SHMAP_OK) {
				int st = tt_wait(&cons, 1);
				char b0[64];
				fail_msg("%u-byte elements: push %llu: %s; consumer %s", a.es, (unsigned long long)i,
					 shmap_strerror(rc), tt_status_str(st, b0, sizeof b0));
			}
		}
		free(buf);
		int st = tt_wait(&cons, 120);
		char b1[64];
		if (!th_ok(st))
			fail_msg("%u-byte elements: consumer %s", a.es, tt_status_str(st, b1, sizeof b1));
		shmap_ring_close(p);
		shmap_unlink(name, NULL);
	}
}

/* SPSC publication runs: batches, singles and commits mixed, across the wrap,
 * with consumers re-attaching in the middle of a run. */
static void test_spsc_runs(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-runs");
	shmap_ring *p, *c;
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 8, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	uint64_t next_in = 0, next_out = 0, buf[8];
	uint32_t done, got;
	for (int round = 0; round < 400; round++) {
		/* producer: a batch, a single, or a commit of a reserved run */
		uint32_t free_slots = (uint32_t)(8 - (next_in - next_out));
		int kind = round % 3;
		if (free_slots) {
			uint32_t k = 1 + (uint32_t)(round * 7 % free_slots);
			if (kind == 0) {
				for (uint32_t i = 0; i < k; i++)
					buf[i] = next_in + i;
				assert_int_equal(shmap_ring_push_n(p, buf, k, &done), SHMAP_OK);
				assert_int_equal(done, k);
				next_in += k;
			} else if (kind == 1) {
				assert_int_equal(shmap_ring_push(p, &next_in), SHMAP_OK);
				next_in++;
			} else {
				void *wp;
				assert_int_equal(shmap_ring_reserve(p, k, &wp, &got), SHMAP_OK);
				assert_true(got >= 1 && got <= k);
				for (uint32_t i = 0; i < got; i++)
					memcpy((uint8_t *)wp + i * 8, &(uint64_t){ next_in + i }, 8);
				uint32_t pub = got > 1 && (round & 4) ? got - 1 : got; /* sometimes drop the last */
				assert_int_equal(shmap_ring_commit(p, pub), SHMAP_OK);
				next_in += pub;
			}
		}
		assert_int_equal(shmap_ring_size(p), next_in - next_out);
		/* every few rounds the consumer re-attaches (maybe in a run) */
		if (round % 5 == 4) {
			shmap_ring_close(c);
			assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
		}
		/* consumer: a few singles or a batch, not always everything */
		uint64_t avail = next_in - next_out;
		uint64_t take = avail ? 1 + (uint64_t)(round * 5 % avail) : 0;
		if (round & 1) {
			for (uint64_t i = 0; i < take; i++) {
				uint64_t v;
				assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
				assert_int_equal(v, next_out);
				next_out++;
			}
		} else if (take) {
			assert_int_equal(shmap_ring_pop_n(c, buf, (uint32_t)take, &done), SHMAP_OK);
			assert_int_equal(done, take);
			for (uint32_t i = 0; i < done; i++)
				assert_int_equal(buf[i], next_out + i);
			next_out += done;
		}
		for (uint64_t q = next_out; q < next_in; q++) {
			uint64_t v;
			assert_int_equal(shmap_ring_read_at(p, q, &v), SHMAP_OK);
			assert_int_equal(v, q);
		}
	}
	uint64_t v;
	while (next_out < next_in) {
		assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
		assert_int_equal(v, next_out);
		next_out++;
	}
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_EMPTY);
	uint64_t problems = 9;
	assert_int_equal(shmap_ring_check(c, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	/* a producer re-attaching continues at head */
	shmap_ring_close(p);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_push(p, &next_in), SHMAP_OK);
	assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
	assert_int_equal(v, next_in);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ---- role takeover after a holder exits without closing ---- */

static int takeover_child(void *a)
{
	struct stream_arg *s = a;
	shmap_ring *h;
	uint32_t role = s->mode == 0 ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER;
	int rc = shmap_ring_open(s->name, SHMAP_OPEN, 0, 0, 0, role, NULL, &h);
	if (rc < 0)
		return 60;
	uint64_t v;
	for (uint64_t i = 0; i < s->n; i++) {
		if (role == SHMAP_RING_PRODUCER) {
			v = s->shared[0]++;
			if (shmap_ring_push(h, &v) != SHMAP_OK)
				return 61;
		} else {
			if (shmap_ring_pop(h, &v) != SHMAP_OK || v != s->shared[1])
				return 62;
			s->shared[1]++;
		}
	}
	_exit(0); /* no close: the role stays with a dead process */
}

static void test_takeover(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-take");
	shmap_ring *own;
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 64, SHMAP_RING_CONSUMER, NULL, &own), SHMAP_OK);
	shmap_ring_close(own);
	volatile uint64_t *sh = shared_alloc(4096);
	for (int round = 0; round < 6; round++) {
		struct stream_arg s = { name, 10, 0, round & 1, sh };
		struct tt_proc cp;
		if (round & 1) {
			/* consumer round: first fill 10 */
			shmap_ring *p;
			int rc = shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, NULL, &p);
			assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
			for (int i = 0; i < 10; i++) {
				uint64_t v = sh[0]++;
				assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
			}
			shmap_ring_close(p);
		}
		assert_int_equal(tt_spawn(&cp, takeover_child, &s, 30), 0);
		assert_true(th_ok(tt_wait(&cp, 20)));
		/* the dead holder's role is taken over; contents survive */
		shmap_ring *h;
		uint32_t role = (round & 1) ? SHMAP_RING_CONSUMER : SHMAP_RING_PRODUCER;
		assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, role, NULL, &h), SHMAP_RECOVERED);
		shmap_ring_close(h);
		if (!(round & 1)) {
			/* drain what the dead producer pushed */
			shmap_ring *c;
			int rc = shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c);
			assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
			uint64_t v;
			for (int i = 0; i < 10; i++) {
				assert_int_equal(shmap_ring_pop(c, &v), SHMAP_OK);
				assert_int_equal(v, sh[1]);
				sh[1]++;
			}
			assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_EMPTY);
			shmap_ring_close(c);
		}
	}
	assert_int_equal(sh[0], sh[1]);
	assert_int_equal(sh[0], 60);
	munmap((void *)sh, 4096);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* fork without reattach -> FORKED; reattach -> BUSY while the parent holds the role */
static int forked_child(void *a)
{
	shmap_ring *p = a;
	uint64_t v = 1;
	if (shmap_ring_push(p, &v) != SHMAP_E_FORKED)
		return 70;
	if (shmap_ring_reattach(p) != SHMAP_E_BUSY)
		return 71;
	if (shmap_ring_push(p, &v) != SHMAP_E_NOTATTACHED)
		return 72;
	if (shmap_ring_capacity(p) != 8)
		return 73;
	shmap_ring_close(p);
	return 0;
}

static void test_fork(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-fork");
	shmap_ring *p;
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 8, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	struct tt_proc cp;
	assert_int_equal(tt_spawn(&cp, forked_child, p, 30), 0);
	assert_true(th_ok(tt_wait(&cp, 20)));
	uint64_t v = 5;
	assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ============================================================= threads */

struct th_arg {
	const char *name;
	uint32_t role;
	uint64_t n;
	int idx;
	uint8_t *seen;
	uint64_t *done_flag;
	int rc;
};

static void *th_producer(void *a)
{
	struct th_arg *t = a;
	shmap_ring *p;
	t->rc = 1;
	if (shmap_ring_open(t->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, NULL, &p) != SHMAP_OK)
		return NULL;
	uint64_t buf[16];
	for (uint64_t i = 0; i < t->n;) {
		uint32_t want = t->n - i < 16 ? (uint32_t)(t->n - i) : 16, done = 0;
		for (uint32_t k = 0; k < want; k++)
			buf[k] = i + k;
		int rc = (i & 1) ? shmap_ring_push_n_wait(p, buf, want, &done, 5000)
				 : shmap_ring_push_wait(p, buf, 5000);
		if (rc != SHMAP_OK)
			return NULL;
		i += (i & 1) ? done : 1;
	}
	__atomic_store_n(t->done_flag, 1, __ATOMIC_RELEASE);
	shmap_ring_close(p);
	t->rc = 0;
	return NULL;
}

static void *th_consumer(void *a)
{
	struct th_arg *t = a;
	shmap_ring *c = t->seen ? NULL : NULL;
	t->rc = 1;
	if (shmap_ring_open(t->name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
		return NULL;
	uint32_t type = shmap_ring_type(c);
	uint64_t expect = 0, buf[16];
	for (;;) {
		uint32_t done = 0;
		int rc = shmap_ring_pop_n_wait(c, buf, 16, &done, 20);
		if (rc != SHMAP_OK && rc != SHMAP_E_TIMEOUT)
			return NULL;
		for (uint32_t k = 0; k < done; k++) {
			if (type == SHMAP_RING_SPMC) {
				if (buf[k] >= t->n)
					return NULL;
				__atomic_fetch_add(&t->seen[buf[k]], 1, __ATOMIC_RELAXED);
			} else if (buf[k] != expect++) {
				return NULL;
			}
		}
		if (type != SHMAP_RING_SPMC && expect == t->n)
			break;
		if (type == SHMAP_RING_SPMC && done == 0 && __atomic_load_n(t->done_flag, __ATOMIC_ACQUIRE) &&
		    shmap_ring_size(c) == 0)
			break;
	}
	shmap_ring_close(c);
	t->rc = 0;
	return NULL;
}

static void run_threads(uint32_t type, int ncons, uint64_t n)
{
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-th");
	shmap_ring *own;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, type, 8, 256, type == SHMAP_RING_SPSC ? 0 : 4, SHMAP_RING_CONSUMER, NULL, &own), SHMAP_OK);
	shmap_ring_close(own);
	uint8_t *seen = calloc(n, 1);
	uint64_t done_flag = 0;
	pthread_t th[5];
	struct th_arg args[5];
	for (int i = 0; i <= ncons; i++)
		args[i] = (struct th_arg){ name, i ? SHMAP_RING_CONSUMER : SHMAP_RING_PRODUCER, n, i, seen, &done_flag, 1 };
	/* subscribers first so broadcast ones see everything */
	for (int i = 1; i <= ncons; i++)
		assert_int_equal(pthread_create(&th[i], NULL, th_consumer, &args[i]), 0);
	usleep(100000);
	assert_int_equal(pthread_create(&th[0], NULL, th_producer, &args[0]), 0);
	for (int i = 0; i <= ncons; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].rc, 0);
	}
	if (type == SHMAP_RING_SPMC)
		for (uint64_t i = 0; i < n; i++)
			assert_int_equal(seen[i], 1);
	free(seen);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_threads_spsc(void **s) { (void)s; run_threads(SHMAP_RING_SPSC, 1, tt_soak() ? 20000000 : 500000); }
static void test_threads_spmc(void **s) { (void)s; run_threads(SHMAP_RING_SPMC, 3, tt_soak() ? 5000000 : 300000); }
static void test_threads_reliable(void **s) { (void)s; run_threads(SHMAP_RING_BCAST_RELIABLE, 2, tt_soak() ? 5000000 : 300000); }

int main(int argc, char **argv)
{
	const char *g = argc > 1 ? argv[1] : "all";
	int all = !strcmp(g, "all"), rc = 0;
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_local_spsc),
		cmocka_unit_test(test_local_spmc),
		cmocka_unit_test(test_local_reliable),
		cmocka_unit_test(test_local_lossy),
		cmocka_unit_test(test_lossy_overrun),
		cmocka_unit_test(test_reliable_gate),
		cmocka_unit_test(test_observer),
		cmocka_unit_test(test_read_at),
		cmocka_unit_test(test_check_header),
		cmocka_unit_test(test_spsc_runs),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_spsc_elem_sizes),
	};
	const struct CMUnitTest mp[] = {
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_timeout_precision),
		cmocka_unit_test(test_push_bytes_wait),
		cmocka_unit_test(test_wake),
		cmocka_unit_test(test_takeover),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_spsc_stream),
		cmocka_unit_test(test_spsc_sizes_stream),
		cmocka_unit_test(test_spmc_union),
		cmocka_unit_test(test_bcast_reliable),
		cmocka_unit_test(test_bcast_lossy),
		cmocka_unit_test(test_clear_mp),
		cmocka_unit_test(test_idle_waiter_cpu),
		cmocka_unit_test(test_pool16),
		cmocka_unit_test(test_kill_asleep),
	};
	const struct CMUnitTest threads[] = {
		cmocka_unit_test(test_threads_spsc),
		cmocka_unit_test(test_threads_spmc),
		cmocka_unit_test(test_threads_reliable),
	};
	if (all || !strcmp(g, "unit"))
		rc |= cmocka_run_group_tests_name("ring-unit", unit, NULL, tt_teardown);
	if (all || !strcmp(g, "mp"))
		rc |= cmocka_run_group_tests_name("ring-mp", mp, NULL, tt_teardown);
	if (all || !strcmp(g, "threads"))
		rc |= cmocka_run_group_tests_name("ring-threads", threads, NULL, tt_teardown);
	return rc;
}
