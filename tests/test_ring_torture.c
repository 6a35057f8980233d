/* SPDX-License-Identifier: MIT */
/*
 * test_ring_torture.c - rings under SIGKILL (failpoints and random points)
 * and hostile shared fields (scenarios 15, 16, 17, 21).
 * Linked against the failpoint copy of the library; white-box (reads the
 * private ring layout to corrupt fields).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/mman.h>

#include <shmap/shmap.h>

#include "ring-internal.h"
#include "torture.h"
#include "th_api.h"

#define NAMELEN 96

static uint64_t g_rs;

static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 0, len);
	return p;
}

struct rec24 {
	uint64_t seq, inv, mix;
};

static void rec_make(struct rec24 *r, uint64_t s)
{
	r->seq = s;
	r->inv = ~s;
	r->mix = s * 0x9e3779b97f4a7c15ull + 77;
}

static int rec_ok(const struct rec24 *r)
{
	return r->inv == ~r->seq && r->mix == r->seq * 0x9e3779b97f4a7c15ull + 77;
}

static int open_role(const char *name, uint32_t role, shmap_ring **h)
{
	int rc = shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, role, NULL, h);
	return rc == SHMAP_OK || rc == SHMAP_RECOVERED ? rc : -1;
}

/* ============================================== scenario 15: SPSC kills */

struct spsc_ctx {
	const char *name;
	uint64_t limit;            /* items the child handles at most */
	volatile uint64_t *log;    /* consumer log: [0] count, [1..] values */
};

/* Producer child: continue the sequence at head with 24-byte records. */
static int spsc_prod_child(void *a)
{
	struct spsc_ctx *c = a;
	shmap_ring *p;
	if (open_role(c->name, SHMAP_RING_PRODUCER, &p) < 0)
		return 10;
	uint64_t head = 0;
	if (th_ring_stats(p, &head, NULL, NULL, NULL, NULL) != SHMAP_OK)
		return 11;
	uint64_t rs = g_rs ^ (uint64_t)getpid();
	for (uint64_t i = 0; i < c->limit;) {
		struct rec24 b[8];
		uint32_t n = (uint32_t)(tt_rand(&rs) % 8) + 1, done = 0;
		for (uint32_t k = 0; k < n; k++)
			rec_make(&b[k], head + i + k);
		int rc;
		switch (tt_rand(&rs) % 3) {
		case 0:
			rc = shmap_ring_push_wait(p, &b[0], 2000);
			done = rc == SHMAP_OK;
			break;
		case 1:
			rc = shmap_ring_push_n(p, b, n, &done);
			break;
		default: {
			void *wp;
			uint32_t got;
			rc = shmap_ring_reserve(p, n, &wp, &got);
			if (rc == SHMAP_OK) {
				memcpy(wp, b, (size_t)got * sizeof b[0]);
				rc = shmap_ring_commit(p, got);
				done = got;
			}
		}
		}
		if (rc != SHMAP_OK && rc != SHMAP_E_FULL)
			return 12;
		i += done;
	}
	shmap_ring_close(p);
	return 0;
}

/* Consumer child: pop and log each value after the call returned. */
static int spsc_cons_child(void *a)
{
	struct spsc_ctx *c = a;
	shmap_ring *h;
	if (open_role(c->name, SHMAP_RING_CONSUMER, &h) < 0)
		return 20;
	uint64_t rs = g_rs ^ (uint64_t)getpid();
	for (uint64_t i = 0; i < c->limit;) {
		struct rec24 b[8];
		uint32_t done = 0;
		int rc;
		switch (tt_rand(&rs) % 3) {
		case 0:
			rc = shmap_ring_pop_wait(h, &b[0], 200);
			done = rc == SHMAP_OK;
			break;
		case 1:
			rc = shmap_ring_pop_n(h, b, (uint32_t)(tt_rand(&rs) % 8) + 1, &done);
			break;
		default: {
			const void *rp;
			uint32_t got;
			rc = shmap_ring_peek(h, (uint32_t)(tt_rand(&rs) % 8) + 1, &rp, &got);
			if (rc == SHMAP_OK) {
				memcpy(b, rp, (size_t)got * sizeof b[0]);
				rc = shmap_ring_release(h, got);
				done = got;
			}
		}
		}
		if (rc == SHMAP_E_TIMEOUT || rc == SHMAP_E_EMPTY)
			return 0; /* drained */
		if (rc != SHMAP_OK)
			return 21;
		for (uint32_t k = 0; k < done; k++) {
			if (!rec_ok(&b[k]))
				return 22;
			c->log[1 + c->log[0]] = b[k].seq;
			c->log[0]++;
		}
		i += done;
	}
	shmap_ring_close(h);
	return 0;
}

static void test_spsc_producer_kill(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rt-spsc-p");
	shmap_ring *c;
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, sizeof(struct rec24), 256,
					 SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	const char *fps[] = { "ring.spsc.push.copied", "ring.spsc.push.published", NULL };
	unsigned runs = tt_iters(300, 1000);
	uint64_t expect = 0, kills = 0;
	struct tt_lat lat = { 0 };
	for (unsigned run = 0; run < runs; run++) {
		struct spsc_ctx ctx = { name, 200, NULL };
		const char *fp = fps[run % 3];
		unsigned nth = (unsigned)(tt_rand(&g_rs) % 25) + 1; /* >= 25 calls per child */
		int code = 0;
		int out = tt_kill_at(fp, nth, spsc_prod_child, &ctx, fp ? 0 : (unsigned)(tt_rand(&g_rs) % 3000) + 1, 20, &code);
		if (out == TT_EXITED)
			assert_int_equal(code, 0);
		else
			assert_int_equal(out, TT_KILLED);
		if (fp)
			assert_int_equal(out, TT_KILLED);
		kills += out == TT_KILLED;
		/* the consumer sees an exact prefix: no gap, no duplicate, no torn record */
		struct rec24 r;
		int rc;
		while ((rc = shmap_ring_pop(c, &r)) == SHMAP_OK) {
			assert_true(rec_ok(&r));
			if (r.seq != expect)
				fail_msg("run %u (%s:%u): got %llu expected %llu", run, fp ? fp : "random", nth,
					 (unsigned long long)r.seq, (unsigned long long)expect);
			expect++;
		}
		assert_int_equal(rc, SHMAP_E_EMPTY);
		/* takeover: the replacement producer continues right after */
		double t0 = th_now();
		shmap_ring *p;
		rc = shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, NULL, &p);
		tt_lat_add(&lat, th_now() - t0);
		if (fp && out == TT_KILLED)
			assert_int_equal(rc, SHMAP_RECOVERED); /* died holding the role */
		else
			assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED); /* random kill: maybe before attaching */
		uint64_t head = 0;
		assert_int_equal(th_ring_stats(p, &head, NULL, NULL, NULL, NULL), SHMAP_OK);
		assert_int_equal(head, expect);
		shmap_ring_close(p);
	}
	print_message("spsc producer kills: %llu of %u runs, %llu items, takeover ", (unsigned long long)kills,
		      runs, (unsigned long long)expect);
	tt_lat_report(&lat, "open", "us", 1e6);
	tt_lat_free(&lat);
	uint64_t problems = 1;
	assert_int_equal(shmap_ring_check(c, 0, &problems), SHMAP_OK);
	shmap_ring_close(c);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_spsc_consumer_kill(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rt-spsc-c");
	shmap_ring *p;
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, sizeof(struct rec24), 256,
					 SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	const char *fps[] = { "ring.spsc.pop.copied", "ring.spsc.pop.released", NULL };
	unsigned runs = tt_iters(300, 1000);
	volatile uint64_t *log = shared_alloc(8 * 4096);
	uint64_t next = 0, expect = 0, gaps = 0, allowed = 0;
	for (unsigned run = 0; run < runs; run++) {
		/* fill */
		struct rec24 r;
		for (int i = 0; i < 200; i++) {
			rec_make(&r, next);
			assert_int_equal(shmap_ring_push(p, &r), SHMAP_OK);
			next++;
		}
		log[0] = 0;
		struct spsc_ctx ctx = { name, 250, log };
		const char *fp = fps[run % 3];
		unsigned nth = (unsigned)(tt_rand(&g_rs) % 25) + 1; /* >= 25 calls per child */
		int code = 0;
		int out = tt_kill_at(fp, nth, spsc_cons_child, &ctx, fp ? 0 : (unsigned)(tt_rand(&g_rs) % 2000) + 1, 20, &code);
		if (out == TT_EXITED)
			assert_int_equal(code, 0);
		else
			assert_int_equal(out, TT_KILLED);
		if (fp)
			assert_int_equal(out, TT_KILLED);
		/* what the victim logged, then what a replacement consumer gets */
		shmap_ring *c;
		int rc = open_role(name, SHMAP_RING_CONSUMER, &c);
		assert_true(rc >= 0);
		if (fp && out == TT_KILLED)
			assert_int_equal(rc, SHMAP_RECOVERED);
		uint64_t n = log[0];
		for (;;) {
			int prc = shmap_ring_pop(c, &r);
			if (prc == SHMAP_E_EMPTY)
				break;
			assert_int_equal(prc, SHMAP_OK);
			assert_true(rec_ok(&r));
			log[1 + n++] = r.seq;
		}
		shmap_ring_close(c);
		/* at-least-once inside pop: a kill before the release loses nothing;
		 * a kill after it (the call was done) or a random kill may lose the
		 * elements of that one call (at most 8 here) that were not yet logged */
		uint64_t may_lose = out == TT_KILLED && (!fp || fp == fps[1]) ? 8 : 0;
		allowed += may_lose;
		uint64_t lost_here = 0;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t v = log[1 + i];
			if (v < expect)
				fail_msg("run %u: duplicate %llu", run, (unsigned long long)v);
			lost_here += v - expect;
			expect = v + 1;
		}
		lost_here += next - expect;
		expect = next;
		if (lost_here > may_lose)
			fail_msg("run %u (%s:%u): %llu lost", run, fp ? fp : "random", nth, (unsigned long long)lost_here);
		gaps += lost_here;
	}
	print_message("spsc consumer kills: %u runs, %llu gaps (allowed %llu, post-release kills)\n", runs,
		      (unsigned long long)gaps, (unsigned long long)allowed);
	shmap_ring_close(p);
	munmap((void *)log, 8 * 4096);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ============================================= scenario 16: SPMC kills */

static int spmc_victim(void *a)
{
	struct spsc_ctx *c = a;
	shmap_ring *h;
	if (open_role(c->name, SHMAP_RING_CONSUMER, &h) < 0)
		return 30;
	uint64_t rs = g_rs ^ (uint64_t)getpid();
	for (;;) {
		uint64_t b[16];
		uint32_t done = 0;
		int rc;
		if (tt_rand(&rs) & 1) {
			rc = shmap_ring_pop_n(h, b, (uint32_t)(tt_rand(&rs) % 16) + 1, &done);
		} else {
			const void *rp;
			uint32_t got;
			rc = shmap_ring_peek(h, (uint32_t)(tt_rand(&rs) % 16) + 1, &rp, &got);
			if (rc == SHMAP_OK) {
				memcpy(b, rp, (size_t)got * 8);
				rc = shmap_ring_release(h, got);
				done = got;
			}
		}
		if (rc == SHMAP_E_EMPTY)
			break;
		if (rc != SHMAP_OK)
			return 31;
		for (uint32_t k = 0; k < done; k++) {
			c->log[1 + c->log[0]] = b[k];
			c->log[0]++;
		}
	}
	shmap_ring_close(h);
	return 0;
}

static void test_spmc_consumer_kill(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rt-spmc");
	shmap_ring *p, *c;
	uint64_t cap = 64;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPMC, 8, cap, 3, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	const char *fps[] = { "ring.spmc.pop.cas", "ring.spmc.pop.claimed", "ring.spmc.pop.copied",
			      "ring.spmc.pop.released", NULL };
	unsigned runs = tt_iters(300, 1000);
	uint64_t total = 1000000;
	uint8_t *seen = calloc(total, 1);
	volatile uint64_t *log = shared_alloc(8 * 4096);
	uint64_t next = 0, received = 0, kills = 0;
	struct tt_lat push_lat = { 0 };
	for (unsigned run = 0; run < runs; run++) {
		for (int i = 0; i < 60; i++) {
			assert_int_equal(shmap_ring_push(p, &next), SHMAP_OK);
			next++;
		}
		log[0] = 0;
		struct spsc_ctx ctx = { name, 0, log };
		const char *fp = fps[run % 5];
		unsigned nth = (unsigned)(tt_rand(&g_rs) % 20) + 1;
		int code = 0;
		int out = tt_kill_at(fp, nth, spmc_victim, &ctx, fp ? 0 : (unsigned)(tt_rand(&g_rs) % 1000) + 1, 20, &code);
		if (out == TT_EXITED)
			assert_int_equal(code, 0);
		else
			assert_int_equal(out, TT_KILLED);
		kills += out == TT_KILLED;
		for (uint64_t i = 0; i < log[0]; i++) {
			assert_true(log[1 + i] < next);
			assert_int_equal(seen[log[1 + i]]++, 0);
			received++;
		}
		/* the producer keeps going: with no check() call, it must reclaim the
		 * dead consumer's claim itself when it comes round to it */
		for (uint64_t i = 0; i < cap + 8; i++) {
			double t0 = th_now();
			int rc = shmap_ring_push_wait(p, &next, 2000);
			tt_lat_add(&push_lat, th_now() - t0);
			if (rc == SHMAP_E_TIMEOUT) {
				/* full of live elements: drain with the surviving consumer */
				uint64_t v;
				while (shmap_ring_pop(c, &v) == SHMAP_OK) {
					assert_int_equal(seen[v]++, 0);
					received++;
				}
				i--;
				continue;
			}
			assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
			next++;
			uint64_t v;
			if (shmap_ring_pop(c, &v) == SHMAP_OK) {
				assert_int_equal(seen[v]++, 0);
				received++;
			}
		}
		uint64_t v;
		while (shmap_ring_pop(c, &v) == SHMAP_OK) {
			assert_int_equal(seen[v]++, 0);
			received++;
		}
		assert_true(next < total);
	}
	/* reclaim whatever dead claims remain, then the identity must hold exactly */
	uint64_t problems = 0;
	int crc = shmap_ring_check(p, SHMAP_CHECK_REPAIR, &problems);
	assert_true(crc == SHMAP_OK || crc == SHMAP_RECOVERED);
	uint64_t v;
	while (shmap_ring_pop(c, &v) == SHMAP_OK) {
		assert_int_equal(seen[v]++, 0);
		received++;
	}
	uint64_t lost = shmap_ring_lost(p);
	print_message("spmc: %u runs, %llu kills, produced %llu, received %llu, lost %llu; push ", runs,
		      (unsigned long long)kills, (unsigned long long)next, (unsigned long long)received,
		      (unsigned long long)lost);
	tt_lat_report(&push_lat, "push_wait", "us", 1e6);
	tt_lat_free(&push_lat);
	/* random kills may take an element out after its pop returned but before it was logged */
	uint64_t unlogged = next - received - lost;
	assert_true(unlogged <= kills * 16);
	assert_int_equal(shmap_ring_check(p, 0, &problems), SHMAP_OK);
	free(seen);
	munmap((void *)log, 8 * 4096);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Exact identity with failpoint kills only (every kill inside the claim window). */
static void test_spmc_identity_exact(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rt-spmc-x");
	shmap_ring *p, *c;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPMC, 8, 256, 3, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	const char *fps[] = { "ring.spmc.pop.cas", "ring.spmc.pop.claimed", "ring.spmc.pop.copied",
			      "ring.spmc.pop.released" };
	unsigned runs = tt_iters(200, 1000), ok = 0;
	volatile uint64_t *log = shared_alloc(8 * 4096);
	for (unsigned run = 0; run < runs; run++) {
		uint64_t head0 = 0, lost0 = shmap_ring_lost(p);
		assert_int_equal(th_ring_stats(p, &head0, NULL, NULL, NULL, NULL), SHMAP_OK);
		for (uint64_t i = 0; i < 200; i++) {
			uint64_t v = head0 + i;
			assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
		}
		log[0] = 0;
		struct spsc_ctx ctx = { name, 0, log };
		int out = tt_kill_at(fps[run % 4], (unsigned)(tt_rand(&g_rs) % 10) + 1, spmc_victim, &ctx, 0, 20, NULL);
		assert_int_equal(out, TT_KILLED);
		uint64_t got = log[0], v;
		while (shmap_ring_pop(c, &v) == SHMAP_OK)
			got++;
		assert_true(shmap_ring_check(p, SHMAP_CHECK_REPAIR, NULL) >= 0);
		while (shmap_ring_pop(c, &v) == SHMAP_OK)
			got++;
		uint64_t lost = shmap_ring_lost(p) - lost0;
		if (got + lost != 200)
			fail_msg("run %u (%s): received %llu + lost %llu != 200", run, fps[run % 4],
				 (unsigned long long)got, (unsigned long long)lost);
		assert_true(lost > 0);
		ok++;
	}
	print_message("spmc identity produced == consumed + lost: %u/%u runs\n", ok, runs);
	munmap((void *)log, 8 * 4096);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ======================================= scenario 17: broadcast kills */

static int bc_victim(void *a)
{
	struct spsc_ctx *c = a;
	shmap_ring *h;
	if (open_role(c->name, SHMAP_RING_CONSUMER, &h) < 0)
		return 40;
	tt_ack(1);
	for (;;) {
		struct rec24 b[8];
		uint32_t done;
		int rc = shmap_ring_pop_n_wait(h, b, 8, &done, 5000);
		if (rc != SHMAP_OK && rc != SHMAP_E_OVERRUN)
			return 41;
		for (uint32_t k = 0; k < done; k++)
			if (!rec_ok(&b[k]))
				return 42;
	}
}

static void run_bcast_kill(uint32_t type)
{
	char name[NAMELEN];
	th_name(name, sizeof name, "rt-bc");
	shmap_ring *p, *c;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, type, sizeof(struct rec24), 64, 4, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	unsigned runs = tt_iters(100, 1000);
	uint64_t next = 0, expect = 0, missed0 = 0;
	struct tt_lat lat = { 0 };
	for (unsigned run = 0; run < runs; run++) {
		struct spsc_ctx ctx = { name, 0, NULL };
		struct tt_proc v;
		assert_int_equal(tt_spawn(&v, bc_victim, &ctx, 30), 0);
		uint64_t ack;
		assert_int_equal(tt_read_ack(&v, &ack, 5000), 0);
		usleep((useconds_t)(tt_rand(&g_rs) % 2000));
		/* push a while with the victim alive, then kill it mid-stream */
		for (int i = 0; i < 300; i++) {
			struct rec24 r;
			rec_make(&r, next);
			if (i == 100)
				kill(v.pid, SIGKILL);
			double t0 = th_now();
			int rc = shmap_ring_push_wait(p, &r, 3000);
			tt_lat_add(&lat, th_now() - t0);
			if (rc != SHMAP_OK && rc != SHMAP_RECOVERED)
				fail_msg("run %u push %d: %s", run, i, shmap_strerror(rc));
			next++;
			/* the surviving subscriber reads everything (reliable) or everything it was not lapped on */
			struct rec24 o;
			int prc;
			while ((prc = shmap_ring_pop(c, &o)) != SHMAP_E_EMPTY) {
				if (prc == SHMAP_E_OVERRUN) {
					assert_int_equal(type, SHMAP_RING_BCAST_LOSSY);
					expect += shmap_ring_missed(c) - missed0;
					missed0 = shmap_ring_missed(c);
					continue;
				}
				assert_int_equal(prc, SHMAP_OK);
				assert_true(rec_ok(&o));
				assert_int_equal(o.seq, expect);
				expect++;
			}
		}
		int st = tt_wait(&v, 10);
		assert_true(tt_killed_by(st, SIGKILL));
	}
	assert_int_equal(expect, next);
	uint64_t problems = 0;
	int rc = shmap_ring_check(p, SHMAP_CHECK_REPAIR, &problems);
	assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
	assert_int_equal(shmap_ring_check(p, 0, &problems), SHMAP_OK);
	print_message("%s: %u subscriber kills, %llu items, missed %llu; producer ",
		      type == SHMAP_RING_BCAST_LOSSY ? "lossy" : "reliable", runs, (unsigned long long)next,
		      (unsigned long long)missed0);
	tt_lat_report(&lat, "push_wait", "us", 1e6);
	tt_lat_free(&lat);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_bcast_subscriber_kill(void **state)
{
	(void)state;
	run_bcast_kill(SHMAP_RING_BCAST_RELIABLE);
	run_bcast_kill(SHMAP_RING_BCAST_LOSSY);
}

/* Broadcast producer killed at its failpoints: subscribers see an exact prefix, takeover continues. */
static int bc_prod_child(void *a)
{
	struct spsc_ctx *c = a;
	shmap_ring *p;
	if (open_role(c->name, SHMAP_RING_PRODUCER, &p) < 0)
		return 50;
	uint64_t head = 0;
	th_ring_stats(p, &head, NULL, NULL, NULL, NULL);
	uint64_t rs = g_rs ^ (uint64_t)getpid();
	for (uint64_t i = 0; i < c->limit;) {
		struct rec24 b[4];
		uint32_t n = (uint32_t)(tt_rand(&rs) % 4) + 1, done = 0;
		for (uint32_t k = 0; k < n; k++)
			rec_make(&b[k], head + i + k);
		int rc;
		if (tt_rand(&rs) & 1) {
			rc = shmap_ring_push_n(p, b, n, &done);
		} else {
			void *wp;
			uint32_t got;
			rc = shmap_ring_reserve(p, n, &wp, &got);
			if (rc == SHMAP_OK) {
				memcpy(wp, b, (size_t)got * sizeof b[0]);
				rc = shmap_ring_commit(p, got);
				done = got;
			}
		}
		if (rc != SHMAP_OK && rc != SHMAP_E_FULL)
			return 51;
		i += done;
	}
	shmap_ring_close(p);
	return 0;
}

static void test_bcast_producer_kill(void **state)
{
	(void)state;
	const uint32_t types[] = { SHMAP_RING_BCAST_RELIABLE, SHMAP_RING_BCAST_LOSSY };
	const char *fps[] = { "ring.bcast.push.marked", "ring.bcast.push.copied", "ring.bcast.push.published", NULL };
	for (int t = 0; t < 2; t++) {
		char name[NAMELEN];
		th_name(name, sizeof name, "rt-bcp");
		shmap_ring *c;
		assert_int_equal(th_ring_open(name, SHMAP_CREATE, types[t], sizeof(struct rec24), 256, 2,
						 SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
		uint64_t expect = 0;
		unsigned runs = tt_iters(150, 600);
		for (unsigned run = 0; run < runs; run++) {
			struct spsc_ctx ctx = { name, 200, NULL };
			const char *fp = fps[run % 4];
			if (fp && t == 0 && run % 4 == 0)
				fp = "ring.bcast.push.copied"; /* reliable rings do not mark */
			int out = tt_kill_at(fp, (unsigned)(tt_rand(&g_rs) % 100) + 1, bc_prod_child, &ctx,
					     fp ? 0 : (unsigned)(tt_rand(&g_rs) % 2000) + 1, 20, NULL);
			assert_true(out == TT_KILLED || out == TT_EXITED);
			struct rec24 o;
			int rc;
			while ((rc = shmap_ring_pop(c, &o)) == SHMAP_OK) {
				assert_true(rec_ok(&o));
				if (o.seq != expect)
					fail_msg("type %u run %u: got %llu expected %llu", types[t], run,
						 (unsigned long long)o.seq, (unsigned long long)expect);
				expect++;
			}
			assert_int_equal(rc, SHMAP_E_EMPTY);
			shmap_ring *p;
			assert_true(open_role(name, SHMAP_RING_PRODUCER, &p) >= 0);
			uint64_t head;
			th_ring_stats(p, &head, NULL, NULL, NULL, NULL);
			assert_int_equal(head, expect);
			shmap_ring_close(p);
		}
		assert_int_equal(shmap_ring_missed(c), 0);
		print_message("broadcast %u producer kills: %u runs, %llu items in order\n", types[t], runs,
			      (unsigned long long)expect);
		shmap_ring_close(c);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
}

/* ================================ scenario 21: targeted field corruption */

static double g_maxlat, g_maxwait;

static int hostile_ops(shmap_ring *p, shmap_ring *c, uint32_t esize)
{
	uint8_t buf[64 * 32];
	memset(buf, 0x5a, sizeof buf);
	uint32_t d;
	void *wp;
	const void *rp;
	uint32_t got;
	int rcs[16], n = 0;
	double t0 = th_now(), t;
	rcs[n++] = shmap_ring_push(p, buf);
	rcs[n++] = shmap_ring_push_n(p, buf, 16, &d);
	if ((rcs[n++] = shmap_ring_reserve(p, 4, &wp, &got)) == SHMAP_OK) {
		memset(wp, 0, (size_t)got * esize);
		rcs[n++] = shmap_ring_commit(p, got);
	}
	rcs[n++] = shmap_ring_pop(c, buf);
	rcs[n++] = shmap_ring_pop_n(c, buf, 16, &d);
	if ((rcs[n++] = shmap_ring_peek(c, 4, &rp, &got)) == SHMAP_OK)
		rcs[n++] = shmap_ring_release(c, got);
	(void)shmap_ring_size(p);
	(void)shmap_ring_size(c);
	uint64_t pr;
	rcs[n++] = shmap_ring_check(c, 0, &pr);
	t = th_now() - t0;
	if (t > g_maxlat)
		g_maxlat = t;
	/* waits end by their deadline */
	t0 = th_now();
	rcs[n++] = shmap_ring_push_wait(p, buf, 10);
	rcs[n++] = shmap_ring_pop_wait(c, buf, 10);
	t = th_now() - t0;
	if (t > g_maxwait)
		g_maxwait = t;
	/* Deadline (2 x 10 ms) plus slack for a loaded 2-CPU machine, where a
	 * runnable process can wait hundreds of ms for a CPU: an unbounded wait
	 * still fails, scheduling noise does not. */
	if (t > 0.020 + 1.5) {
		fprintf(stderr, "waits took %.3f ms (%d %d)\n", t * 1e3, rcs[n - 2], rcs[n - 1]);
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (rcs[i] > SHMAP_RECOVERED || rcs[i] < SHMAP_E_NOTATTACHED)
			return 2;
	return 0;
}

static int hostile_child(void *a)
{
	(void)a;
	const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, SHMAP_RING_BCAST_LOSSY, SHMAP_RING_BCAST_RELIABLE };
	uint64_t cap = 16;
	const uint64_t vals[] = { 0, 1, cap - 1, cap, cap + 1, 1ull << 31, 1ull << 32, 1ull << 63, UINT64_MAX };
	enum { F_HEAD, F_TAIL, F_LOST, F_PROD_OWNER, F_CONS_OWNER, F_CONS_SLEEP, F_PROD_SLEEP, F_SEQ0,
	       F_SEQ_ALL, F_SEQ_NEXT, F_REC_OW, F_REC_POS, F_REC_N, F_REC_SLEEP, F_COUNT };
	unsigned combos = 0;
	for (int t = 0; t < 4; t++) {
		for (int f = 0; f < F_COUNT; f++) {
			for (size_t vi = 0; vi < sizeof vals / sizeof vals[0]; vi++) {
				char name[NAMELEN];
				th_name(name, sizeof name, "rt-hostile");
				shmap_ring *p, *c;
				if (th_ring_open(name, SHMAP_CREATE, types[t], 24, cap, t ? 2 : 0, SHMAP_RING_PRODUCER, NULL, &p) != SHMAP_OK)
					return 60;
				if (shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c) != SHMAP_OK)
					return 61;
				uint8_t e[24] = { 1 };
				for (int i = 0; i < 10; i++)
					shmap_ring_push(p, e);
				for (int i = 0; i < 3; i++)
					shmap_ring_pop(c, e);
				struct ring_ctl *ctl = p->ctl;
				struct ring_rec *rec = &p->recs[0];
				uint64_t v = vals[vi];
				switch (f) {
				case F_HEAD: ctl->head = v; break;
				case F_TAIL: ctl->tail = v; break;
				case F_LOST: ctl->lost = v; break;
				case F_PROD_OWNER: ctl->prod_owner = (uint32_t)v; break;
				case F_CONS_OWNER: ctl->cons_owner = (uint32_t)v; break;
				case F_CONS_SLEEP: ctl->cons_sleepers = (uint32_t)v; break;
				case F_PROD_SLEEP: ctl->prod_sleeping = (uint32_t)v; break;
				/* SPSC rings have no sequence words (seq is NULL): scribble
				 * the first data words instead */
				case F_SEQ0:
					if (p->seq)
						p->seq[0] = v;
					else
						memcpy(p->data, &v, 8);
					break;
				case F_SEQ_ALL:
					for (uint64_t i = 0; i < cap; i++) {
						if (p->seq)
							p->seq[i] = v;
						else
							memcpy(p->data + i * 24, &v, 8);
					}
					break;
				case F_SEQ_NEXT:
					if (p->seq) {
						p->seq[10 & (cap - 1)] = v;
						p->seq[3] = v;
					}
					break;
				case F_REC_OW: if (t) rec->ow = v; break;
				case F_REC_POS: if (t) rec->pos = v; break;
				case F_REC_N: if (t) rec->n = (uint32_t)v; break;
				case F_REC_SLEEP: if (t) rec->sleeping = (uint32_t)v; break;
				}
				/* run every operation twice, then again after a repair attempt */
				for (int k = 0; k < 2; k++) {
					int r = hostile_ops(p, c, 24);
					if (r) {
						fprintf(stderr, "type %u field %d value %#llx: failure %d\n", types[t], f,
							(unsigned long long)v, r);
						return 62;
					}
				}
				shmap_ring_check(p, SHMAP_CHECK_REPAIR, NULL);
				if (hostile_ops(p, c, 24))
					return 63;
				/* reopen after the damage: a defined code, never a crash */
				shmap_ring *x = NULL;
				int orc = shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &x);
				if (orc > SHMAP_RECOVERED || orc < SHMAP_E_NOTATTACHED)
					return 64;
				shmap_ring_close(x);
				shmap_ring_close(c);
				shmap_ring_close(p);
				shmap_unlink(name, NULL);
				combos++;
			}
		}
	}
	fprintf(stderr, "hostile: %u type x field x value combinations terminated; max op batch %.3f ms, "
		"max push_wait(10)+pop_wait(10) %.3f ms\n", combos, g_maxlat * 1e3, g_maxwait * 1e3);
	return 0;
}

/*
 * Producer killed between publishing a batch's start word and storing head;
 * the consumer then consumes into the middle of that batch before a new
 * producer takes over. The takeover must continue after the whole batch:
 * every acknowledged element is delivered once, in order, and the ring keeps
 * flowing (it used to restart inside the batch, overwrite unconsumed
 * elements and leave the consumer waiting on a start word never written).
 */
static void test_spsc_takeover_mid_batch(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "rt-spsc-mid");
	shmap_ring *c;
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 64, SHMAP_RING_CONSUMER,
					 NULL, &c), SHMAP_OK);
	for (int round = 0; round < 3; round++) {
		uint64_t base = 1000u * (uint64_t)(round + 1);
		fflush(NULL);
		pid_t a = fork();
		if (a == 0) {
			alarm(10);
			setenv("SHMAP_FAILPOINT", "ring.spsc.push.published", 1);
			shmap_ring *p;
			if (shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, NULL, &p) < 0)
				_exit(1);
			uint64_t v[10];
			for (int i = 0; i < 10; i++)
				v[i] = base + (uint64_t)i;
			uint32_t d;
			shmap_ring_push_n(p, v, 10, &d); /* killed after publishing */
			_exit(2);
		}
		int st;
		assert_int_equal(waitpid(a, &st, 0), a);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		uint64_t out[64];
		uint32_t d = 0;
		assert_int_equal(shmap_ring_pop_n(c, out, 3, &d), SHMAP_OK);
		assert_int_equal(d, 3);
		for (uint32_t i = 0; i < 3; i++)
			assert_int_equal(out[i], base + i);
		fflush(NULL);
		pid_t b = fork();
		if (b == 0) {
			alarm(10);
			shmap_ring *p;
			if (shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_PRODUCER, NULL, &p) < 0)
				_exit(1);
			uint64_t v[20];
			for (int i = 0; i < 20; i++)
				v[i] = base + 10 + (uint64_t)i;
			uint32_t dd = 0;
			int rc = shmap_ring_push_n(p, v, 20, &dd);
			shmap_ring_close(p);
			_exit(rc == SHMAP_OK && dd == 20 ? 0 : 3);
		}
		assert_int_equal(waitpid(b, &st, 0), b);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		/* The rest of the killed batch, then the new producer's 20. */
		uint64_t expect = base + 3;
		while (expect < base + 30) {
			d = 0;
			int rc = shmap_ring_pop_n_wait(c, out, 64, &d, 1000);
			if (rc < 0 && d == 0)
				fail_msg("round %d: stalled at %llu: %s", round, (unsigned long long)expect,
					 shmap_errname(rc));
			for (uint32_t i = 0; i < d; i++, expect++)
				assert_int_equal(out[i], expect);
		}
		d = 0;
		assert_int_equal(shmap_ring_pop_n(c, out, 64, &d), SHMAP_E_EMPTY);
	}
	shmap_ring_close(c);
	shmap_unlink(name, NULL);
}

static void test_hostile_fields(void **state)
{
	(void)state;
	struct tt_proc h;
	assert_int_equal(tt_spawn(&h, hostile_child, NULL, 240), 0);
	int st = tt_wait(&h, 230);
	tt_cleanup_pid(h.pid); /* segments the child left if it failed */
	char b[64];
	if (!th_ok(st))
		fail_msg("hostile child: %s", tt_status_str(st, b, sizeof b));
}

int main(void)
{
	g_rs = ((uint64_t)getpid() << 32 ^ (uint64_t)(th_now() * 1e6)) | 1;
	fprintf(stderr, "ring torture seed %llu\n", (unsigned long long)g_rs);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spsc_producer_kill),
		cmocka_unit_test(test_spsc_consumer_kill),
		cmocka_unit_test(test_spmc_consumer_kill),
		cmocka_unit_test(test_spmc_identity_exact),
		cmocka_unit_test(test_bcast_subscriber_kill),
		cmocka_unit_test(test_bcast_producer_kill),
		cmocka_unit_test(test_spsc_takeover_mid_batch),
		cmocka_unit_test(test_hostile_fields),
	};
	return cmocka_run_group_tests_name("ring-torture", tests, NULL, tt_teardown); /* unlinks our segments, also after a failure */
}
