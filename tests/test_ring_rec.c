/* SPDX-License-Identifier: MIT */
/*
 * test_ring_rec.c - rings of variable-length records (ring_rec.h): unit
 * behaviour, forked producers/consumers, threads, SIGKILL at every
 * failpoint of the record protocols, and hostile shared fields.
 * Linked against the failpoint copy of the library (failpoints only fire
 * in children that arm them); white-box for the hostile tests.
 *
 * usage: test_ring_rec unit|mp|threads|torture
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sys/mman.h>

#include <shmap/shmap.h>

#include "ring_rec-internal.h"
#include "torture.h"
#include "th_api.h"

#define NAMELEN 96

static uint64_t g_rs = 0x1234567;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Record `s` of a stream: its length in [lo, hi] and its bytes follow from
 * s; records of 8 bytes or more start with s itself. */
static uint32_t rlen(uint64_t s, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(mix(s) % (hi - lo + 1));
}

static void rfill(uint8_t *b, uint64_t s, uint32_t len)
{
	uint64_t x = mix(s ^ 0x5555);
	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)((x >> (8 * (i & 7))) + i);
	if (len >= 8)
		memcpy(b, &s, 8);
}

static int rcheck(const uint8_t *b, uint64_t s, uint32_t len, uint32_t lo, uint32_t hi)
{
	if (len != rlen(s, lo, hi))
		return 0;
	uint8_t e[8192];
	rfill(e, s, len);
	return memcmp(e, b, len) == 0;
}

/* lossy streams: the record names its sequence number */
static int rcheck_self(const uint8_t *b, uint32_t len, uint32_t lo, uint32_t hi, uint64_t *s)
{
	if (len < 8)
		return 0;
	memcpy(s, b, 8);
	return rcheck(b, *s, len, lo, hi);
}

static int open_rec(const char *name, uint32_t role, shmap_ring **h)
{
	int rc = shmap_ring_open_rec(name, SHMAP_OPEN, 0, 0, 0, role, NULL, h);
	return rc == SHMAP_OK || rc == SHMAP_RECOVERED ? rc : -1;
}

/* ================================================================ unit */

static void test_api_errors(void **state)
{
	(void)state;
	char name[NAMELEN];
	shmap_ring *p = NULL, *c = NULL, *x = NULL;
	th_name(name, sizeof name, "rr-err");
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, 7, 100, 4096, 2, SHMAP_RING_PRODUCER, NULL,
					     &p), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, 0, 4096,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_E_INVAL);
	/* two records of max_record must fit */
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, 2048, 4096,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, SHMAP_RING_REC_MAX + 1u,
					     1ull << 32, SHMAP_RING_PRODUCER, NULL, &p), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, 100, 3000,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_capacity(p), 4096);
	assert_int_equal(shmap_ring_elem_size(p), 100);
	assert_int_equal(shmap_ring_type(p), SHMAP_RING_SPSC);
	assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &c), SHMAP_OK);
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &x),
			 SHMAP_E_BUSY);
	/* the kinds do not mix */
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, NULL, &x),
			 SHMAP_E_INCOMPAT);
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_OPEN, SHMAP_RING_BCAST_LOSSY, 0, 0,
					     SHMAP_RING_OBSERVER, NULL, &x), SHMAP_E_INCOMPAT);
	uint8_t b[256] = { 1 };
	uint32_t len = 0, d;
	/* fixed-slot data calls refuse a record ring */
	assert_int_equal(shmap_ring_push(p, b), SHMAP_E_NOTSUP);
	assert_int_equal(shmap_ring_push_n(p, b, 1, &d), SHMAP_E_NOTSUP);
	assert_int_equal(shmap_ring_pop(c, b), SHMAP_E_NOTSUP);
	assert_int_equal(shmap_ring_read_at(c, 0, b), SHMAP_E_NOTSUP);
	/* lengths */
	assert_int_equal(shmap_ring_push_rec(p, b, 0), SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_push_rec(p, b, 101), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_ring_push_rec(c, b, 10), SHMAP_E_NOTATTACHED);
	assert_int_equal(shmap_ring_pop_rec(p, b, 10, &len), SHMAP_E_NOTATTACHED);
	assert_int_equal(shmap_ring_pop_rec(c, b, sizeof b, &len), SHMAP_E_EMPTY);
	assert_int_equal(shmap_ring_push_rec(p, b, 100), SHMAP_OK);
	/* short buffer: the needed size, nothing popped */
	assert_int_equal(shmap_ring_pop_rec(c, b, 99, &len), SHMAP_E_BUFSIZE);
	assert_int_equal(len, 100);
	assert_int_equal(shmap_ring_pop_rec(c, NULL, 0, &len), SHMAP_E_BUFSIZE);
	assert_int_equal(len, 100);
	assert_int_equal(shmap_ring_pop_rec(c, b, 100, &len), SHMAP_OK);
	assert_int_equal(len, 100);
	/* the record calls refuse a fixed-slot ring */
	char name2[NAMELEN];
	th_name(name2, sizeof name2, "rr-err-fixed");
	assert_int_equal(shmap_ring_open(name2, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER,
					 NULL, &x), SHMAP_OK);
	assert_int_equal(shmap_ring_push_rec(x, b, 8), SHMAP_E_NOTSUP);
	void *wp;
	assert_int_equal(shmap_ring_reserve_rec(x, 8, &wp), SHMAP_E_NOTSUP);
	assert_int_equal(shmap_ring_commit_rec(x, 8), SHMAP_E_NOTSUP);
	shmap_ring_close(x);
	shmap_unlink(name2, NULL);
	/* kind name for inspection */
	assert_string_equal(shmap_kind_name(SHMAP_KIND_RING_REC), "ring-rec");
	uint64_t problems = 9;
	assert_int_equal(shmap_ring_check(c, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Many laps of random lengths through a small ring, every API in turn. */
static void run_spsc_laps(uint32_t lo, uint32_t hi, uint64_t cap, uint64_t n)
{
	char name[NAMELEN];
	shmap_ring *p, *c;
	th_name(name, sizeof name, "rr-laps");
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, hi, cap,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &c), SHMAP_OK);
	static uint8_t buf[16 * 8192], out[16 * 8192];
	uint32_t lens[16], olens[16];
	uint64_t ps = 0, cs = 0, rs = g_rs;
	while (cs < n) {
		/* produce a little */
		unsigned how = (unsigned)(tt_rand(&rs) % 4);
		if (ps < n) {
			if (how == 0) {
				uint32_t l = rlen(ps, lo, hi);
				rfill(buf, ps, l);
				int rc = shmap_ring_push_rec(p, buf, l);
				assert_true(rc == SHMAP_OK || rc == SHMAP_E_FULL);
				ps += rc == SHMAP_OK;
			} else if (how == 1) {
				uint32_t k = (uint32_t)(tt_rand(&rs) % 16) + 1, d = 0;
				uint64_t off = 0;
				for (uint32_t i = 0; i < k; i++) {
					lens[i] = rlen(ps + i, lo, hi);
					rfill(buf + off, ps + i, lens[i]);
					off += lens[i];
				}
				int rc = shmap_ring_push_rec_n(p, buf, lens, k, &d);
				assert_true(rc == SHMAP_OK || rc == SHMAP_E_FULL);
				ps += d;
			} else {
				uint32_t l = rlen(ps, lo, hi);
				void *wp;
				int rc = shmap_ring_reserve_rec(p, hi, &wp);
				assert_true(rc == SHMAP_OK || rc == SHMAP_E_FULL);
				if (rc == SHMAP_OK) {
					assert_int_equal((uintptr_t)wp % 8u, 0);
					assert_int_equal(shmap_ring_push_rec(p, buf, 1), SHMAP_E_BUSY);
					rfill(wp, ps, l);
					assert_int_equal(shmap_ring_commit_rec(p, hi + 1), SHMAP_E_INVAL);
					assert_int_equal(shmap_ring_commit_rec(p, l), SHMAP_OK);
					ps++;
				}
			}
		}
		/* consume a little */
		how = (unsigned)(tt_rand(&rs) % 4);
		if (how == 0) {
			uint32_t l = 0;
			int rc = shmap_ring_pop_rec(c, out, hi, &l);
			assert_true(rc == SHMAP_OK || rc == SHMAP_E_EMPTY);
			if (rc == SHMAP_OK) {
				assert_true(rcheck(out, cs, l, lo, hi));
				cs++;
			}
		} else if (how == 1) {
			uint32_t k = (uint32_t)(tt_rand(&rs) % 16) + 1, d = 0;
			uint64_t room = (uint64_t)(tt_rand(&rs) % ((uint64_t)k * hi)) + hi;
			int rc = shmap_ring_pop_rec_n(c, out, room, olens, k, &d);
			assert_true(rc == SHMAP_OK || rc == SHMAP_E_EMPTY);
			uint64_t off = 0, used = 0;
			for (uint32_t i = 0; i < d; i++) {
				assert_true(rcheck(out + off, cs, olens[i], lo, hi));
				off += olens[i];
				cs++;
			}
			used = off;
			assert_true(used <= room);
		} else {
			const void *rp;
			uint32_t l = 0;
			int rc = shmap_ring_peek_rec(c, &rp, &l);
			assert_true(rc == SHMAP_OK || rc == SHMAP_E_EMPTY);
			if (rc == SHMAP_OK) {
				assert_int_equal(shmap_ring_pop_rec(c, out, hi, &l), SHMAP_E_BUSY);
				assert_true(rcheck(rp, cs, l, lo, hi));
				assert_int_equal(shmap_ring_release_rec(c), SHMAP_OK);
				assert_int_equal(shmap_ring_release_rec(c), SHMAP_E_INVAL);
				cs++;
			}
		}
		assert_true(shmap_ring_size(c) <= cap);
	}
	uint32_t l;
	assert_int_equal(shmap_ring_pop_rec(c, out, hi, &l), SHMAP_E_EMPTY);
	uint64_t head = 0, tail = 0, problems = 1;
	assert_int_equal(th_ring_stats(c, &head, &tail, NULL, NULL, NULL), SHMAP_OK);
	assert_int_equal(head, tail);
	assert_true(head > 4 * cap); /* many laps */
	assert_int_equal(shmap_ring_check(c, 0, &problems), SHMAP_OK);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_spsc_laps(void **state)
{
	(void)state;
	run_spsc_laps(1, 40, 128, 20000);     /* tiny ring: padding almost every lap */
	run_spsc_laps(1, 300, 1024, 20000);
	run_spsc_laps(64, 4096, 16384, 5000);
}

/* Batch edge cases: packing, out_len stops, BUFSIZE on the first. */
static void test_batches(void **state)
{
	(void)state;
	char name[NAMELEN];
	shmap_ring *p, *c;
	th_name(name, sizeof name, "rr-batch");
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, 64, 1024,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &c), SHMAP_OK);
	uint8_t data[64 * 8];
	for (unsigned i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)i;
	uint32_t lens[4] = { 10, 64, 1, 30 }, d = 9;
	assert_int_equal(shmap_ring_push_rec_n(p, data, lens, 0, &d), SHMAP_OK);
	assert_int_equal(d, 0);
	uint32_t bad[2] = { 5, 0 };
	assert_int_equal(shmap_ring_push_rec_n(p, data, bad, 2, &d), SHMAP_E_INVAL);
	bad[1] = 65;
	assert_int_equal(shmap_ring_push_rec_n(p, data, bad, 2, &d), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_ring_size(c), 0); /* nothing of a refused batch */
	assert_int_equal(shmap_ring_push_rec_n(p, data, lens, 4, &d), SHMAP_OK);
	assert_int_equal(d, 4);
	uint8_t out[256];
	uint32_t ol[8];
	/* the first does not fit */
	assert_int_equal(shmap_ring_pop_rec_n(c, out, 9, ol, 8, &d), SHMAP_E_BUFSIZE);
	assert_int_equal(d, 0);
	assert_int_equal(ol[0], 10);
	/* room for 10 + 64 only */
	assert_int_equal(shmap_ring_pop_rec_n(c, out, 74, ol, 8, &d), SHMAP_OK);
	assert_int_equal(d, 2);
	assert_int_equal(ol[0], 10);
	assert_int_equal(ol[1], 64);
	assert_memory_equal(out, data, 74);
	assert_int_equal(shmap_ring_pop_rec_n(c, out, sizeof out, ol, 8, &d), SHMAP_OK);
	assert_int_equal(d, 2);
	assert_int_equal(ol[0], 1);
	assert_int_equal(ol[1], 30);
	assert_memory_equal(out, data + 74, 31);
	/* fill: a batch pushes what fits */
	uint32_t many[64];
	for (int i = 0; i < 64; i++)
		many[i] = 64;
	static uint8_t big[64 * 64];
	assert_int_equal(shmap_ring_push_rec_n(p, big, many, 64, &d), SHMAP_OK);
	assert_true(d > 0 && d < 64);
	assert_int_equal(shmap_ring_push_rec(p, big, 64), SHMAP_E_FULL);
	assert_int_equal(shmap_ring_push_rec_n(p, big, many, 64, &d), SHMAP_E_FULL);
	assert_int_equal(d, 0);
	/* waits */
	double t0 = th_now();
	assert_int_equal(shmap_ring_push_rec_wait(p, big, 64, 30), SHMAP_E_TIMEOUT);
	assert_true(th_now() - t0 >= 0.025);
	assert_int_equal(shmap_ring_push_rec_n_wait(p, big, many, 3, &d, 20), SHMAP_E_TIMEOUT);
	assert_int_equal(shmap_ring_wait(p, 10), SHMAP_E_TIMEOUT);
	uint32_t l;
	static uint8_t sink[64 * 64];
	while (shmap_ring_pop_rec(c, sink, 64, &l) == SHMAP_OK)
		;
	assert_int_equal(shmap_ring_wait(c, 10), SHMAP_E_TIMEOUT);
	assert_int_equal(shmap_ring_wait(p, 10), SHMAP_OK);
	/* a batch that fits in part, timeout 0: TIMEOUT whether or not the
	 * caller asks for the count (FULL would invite a retry of the whole
	 * batch, duplicating what was pushed); none fits: FULL */
	uint32_t got = 0;
	assert_int_equal(shmap_ring_push_rec_n_wait(p, big, many, 20, NULL, 0), SHMAP_E_TIMEOUT);
	while (shmap_ring_pop_rec(c, sink, 64, &l) == SHMAP_OK)
		got++;
	assert_true(got > 0 && got < 20);
	assert_int_equal(shmap_ring_push_rec_n_wait(p, big, many, 20, &d, 0), SHMAP_E_TIMEOUT);
	assert_int_equal(d, got);
	assert_int_equal(shmap_ring_push_rec_n_wait(p, big, many, 20, &d, 0), SHMAP_E_FULL);
	assert_int_equal(d, 0);
	while (shmap_ring_pop_rec(c, sink, 64, &l) == SHMAP_OK)
		;
	t0 = th_now();
	assert_int_equal(shmap_ring_pop_rec_wait(c, sink, 64, &l, 30), SHMAP_E_TIMEOUT);
	assert_true(th_now() - t0 >= 0.025);
	assert_int_equal(shmap_ring_pop_rec_n_wait(c, sink, sizeof sink, ol, 8, &d, 10), SHMAP_E_TIMEOUT);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* A ring full of 64-4096-byte records holds >= 90% payload bytes. */
static void test_density(void **state)
{
	(void)state;
	const uint64_t caps[] = { 1u << 16, 1u << 20 };
	for (int k = 0; k < 2; k++) {
		char name[NAMELEN];
		shmap_ring *p;
		th_name(name, sizeof name, "rr-dense");
		assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, 4096, caps[k],
						     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
		static uint8_t b[4096];
		uint64_t payload = 0, s = 0;
		for (;; s++) {
			uint32_t l = rlen(s, 64, 4096);
			if (shmap_ring_push_rec(p, b, l) != SHMAP_OK)
				break;
			payload += l;
		}
		double frac = (double)payload / (double)caps[k];
		print_message("ring of %llu bytes full of 64-4096-byte records: %llu records, %.1f%% payload\n",
			      (unsigned long long)caps[k], (unsigned long long)s, frac * 100.0);
		/* full: the largest record plus its header (and the kept 8
		 * bytes) did not fit, so at most that much is unused */
		assert_true(frac >= 0.90);
		shmap_ring_close(p);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
}

/* Broadcast: reliable subscribers see everything; the producer waits for the slowest. */
static void test_bcast_reliable(void **state)
{
	(void)state;
	char name[NAMELEN];
	shmap_ring *p, *s1, *s2;
	th_name(name, sizeof name, "rr-rel");
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_BCAST_RELIABLE, 200, 2048, 4,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &s1), SHMAP_OK);
	assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &s2), SHMAP_OK);
	assert_int_equal(shmap_ring_consumers(p), 2);
	uint8_t b[200], out[200];
	uint64_t ps = 0, c1 = 0, c2 = 0, rs = g_rs;
	while (c2 < 3000) {
		if (ps < 3000) {
			uint32_t l = rlen(ps, 1, 200);
			rfill(b, ps, l);
			int rc = shmap_ring_push_rec(p, b, l);
			assert_true(rc == SHMAP_OK || rc == SHMAP_E_FULL);
			ps += rc == SHMAP_OK;
		}
		uint32_t l;
		int rc = shmap_ring_pop_rec(s1, out, sizeof out, &l);
		if (rc == SHMAP_OK) {
			assert_true(rcheck(out, c1, l, 1, 200));
			c1++;
		}
		if (tt_rand(&rs) % 3 == 0) { /* s2 is slower: it gates the producer */
			const void *rp;
			rc = shmap_ring_peek_rec(s2, &rp, &l);
			if (rc == SHMAP_OK) {
				assert_true(rcheck(rp, c2, l, 1, 200));
				assert_int_equal(shmap_ring_release_rec(s2), SHMAP_OK);
				c2++;
			}
		}
		uint64_t head = 0, tail = 0;
		th_ring_stats(p, &head, &tail, NULL, NULL, NULL);
		assert_true(head - tail <= 2048);
	}
	assert_int_equal(c1, 3000);
	/* a batch is published at once; a late subscriber starts at head */
	shmap_ring *s3;
	assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &s3), SHMAP_OK);
	uint32_t lens[3] = { 5, 6, 7 }, d, l;
	assert_int_equal(shmap_ring_push_rec_n(p, b, lens, 3, &d), SHMAP_OK);
	uint32_t ol[4];
	assert_int_equal(shmap_ring_pop_rec_n(s3, out, sizeof out, ol, 4, &d), SHMAP_OK);
	assert_int_equal(d, 3);
	assert_int_equal(ol[2], 7);
	assert_int_equal(shmap_ring_pop_rec(s3, out, sizeof out, &l), SHMAP_E_EMPTY);
	uint64_t problems = 1;
	assert_int_equal(shmap_ring_check(p, 0, &problems), SHMAP_OK);
	shmap_ring_close(s3);
	shmap_ring_close(s2);
	shmap_ring_close(s1);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Lossy: the producer never waits; a lapped subscriber is told once and
 * continues with intact records, in order. */
static void test_bcast_lossy(void **state)
{
	(void)state;
	char name[NAMELEN];
	shmap_ring *p, *s;
	th_name(name, sizeof name, "rr-lossy");
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_BCAST_LOSSY, 300, 2048, 2,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &s), SHMAP_OK);
	uint8_t b[300], out[300];
	uint64_t ps = 0, last = 0, got = 0, overruns = 0, rs = g_rs;
	int have = 0;
	for (int round = 0; round < 4000; round++) {
		unsigned k = (unsigned)(tt_rand(&rs) % 40);
		for (unsigned i = 0; i < k; i++, ps++) {
			uint32_t l = rlen(ps, 8, 300);
			rfill(b, ps, l);
			assert_int_equal(shmap_ring_push_rec(p, b, l), SHMAP_OK);
		}
		unsigned m = (unsigned)(tt_rand(&rs) % 40);
		for (unsigned i = 0; i < m; i++) {
			uint32_t l = 0;
			uint64_t sq = 0;
			int rc;
			if (i & 1) {
				rc = shmap_ring_pop_rec(s, out, sizeof out, &l);
				if (rc == SHMAP_OK)
					assert_true(rcheck_self(out, l, 8, 300, &sq));
			} else {
				const void *rp;
				rc = shmap_ring_peek_rec(s, &rp, &l);
				if (rc == SHMAP_OK) {
					memcpy(out, rp, l);
					rc = shmap_ring_release_rec(s);
					if (rc == SHMAP_OK)
						assert_true(rcheck_self(out, l, 8, 300, &sq));
				}
			}
			if (rc == SHMAP_E_EMPTY)
				break;
			if (rc == SHMAP_E_OVERRUN) {
				overruns++;
				continue;
			}
			assert_int_equal(rc, SHMAP_OK);
			if (have)
				assert_true(sq > last);
			if (have && overruns == 0)
				assert_int_equal(sq, last + 1);
			last = sq;
			have = 1;
			got++;
		}
	}
	print_message("lossy: %llu pushed, %llu read, %llu overruns, %llu bytes missed\n",
		      (unsigned long long)ps, (unsigned long long)got, (unsigned long long)overruns,
		      (unsigned long long)shmap_ring_missed(s));
	assert_true(overruns > 0);
	assert_true(shmap_ring_missed(s) > 0);
	assert_true(got > 0);
	/* a record overwritten while it is read in place: release says so */
	uint32_t l = 0;
	const void *rp;
	int rc;
	while ((rc = shmap_ring_pop_rec(s, out, sizeof out, &l)) != SHMAP_E_EMPTY)
		assert_true(rc == SHMAP_OK || rc == SHMAP_E_OVERRUN);
	rfill(b, ps, 100);
	assert_int_equal(shmap_ring_push_rec(p, b, 100), SHMAP_OK);
	assert_int_equal(shmap_ring_peek_rec(s, &rp, &l), SHMAP_OK);
	assert_int_equal(l, 100);
	uint64_t missed = shmap_ring_missed(s);
	for (int i = 0; i < 20; i++)
		assert_int_equal(shmap_ring_push_rec(p, b, 150), SHMAP_OK);
	assert_int_equal(shmap_ring_release_rec(s), SHMAP_E_OVERRUN);
	assert_true(shmap_ring_missed(s) > missed);
	/* and continues with an intact record */
	assert_int_equal(shmap_ring_pop_rec(s, out, sizeof out, &l), SHMAP_OK);
	assert_int_equal(l, 150);
	shmap_ring_close(s);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* SPMC in one process: two consumers take turns with every call; each
 * record goes to exactly one of them, in order; a peek closed unreleased
 * counts as consumed. */
static void test_spmc_unit(void **state)
{
	(void)state;
	char name[NAMELEN];
	shmap_ring *p, *c[2];
	th_name(name, sizeof name, "rr-spmc");
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPMC, 300, 4096, 4,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_type(p), SHMAP_RING_SPMC);
	for (int i = 0; i < 2; i++)
		assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &c[i]), SHMAP_OK);
	assert_int_equal(shmap_ring_consumers(p), 2);
	static uint8_t buf[16 * 300], out[16 * 300];
	uint32_t lens[16], olens[16];
	uint64_t ps = 0, cs = 0, rs = g_rs, n = 20000;
	while (cs < n) {
		if (ps < n) {
			uint32_t k = (uint32_t)(tt_rand(&rs) % 6) + 1, d = 0;
			uint64_t off = 0;
			for (uint32_t i = 0; i < k; i++) {
				lens[i] = rlen(ps + i, 1, 300);
				rfill(buf + off, ps + i, lens[i]);
				off += lens[i];
			}
			if (tt_rand(&rs) % 2) {
				int rc = shmap_ring_push_rec_n(p, buf, lens, k, &d);
				assert_true(rc == SHMAP_OK || rc == SHMAP_E_FULL);
			} else {
				void *wp;
				int rc = shmap_ring_reserve_rec(p, 300, &wp);
				assert_true(rc == SHMAP_OK || rc == SHMAP_E_FULL);
				if (rc == SHMAP_OK) {
					memcpy(wp, buf, lens[0]);
					assert_int_equal(shmap_ring_commit_rec(p, lens[0]), SHMAP_OK);
					d = 1;
				}
			}
			ps += d;
		}
		shmap_ring *h = c[tt_rand(&rs) % 2];
		unsigned how = (unsigned)(tt_rand(&rs) % 3);
		uint32_t l = 0, d = 0;
		int rc;
		if (how == 0) {
			rc = shmap_ring_pop_rec(h, out, 300, &l);
			if (rc == SHMAP_OK) {
				assert_true(rcheck(out, cs, l, 1, 300));
				cs++;
			}
		} else if (how == 1) {
			rc = shmap_ring_pop_rec_n(h, out, sizeof out, olens, 16, &d);
			uint64_t off = 0;
			for (uint32_t i = 0; i < d; i++, cs++) {
				assert_true(rcheck(out + off, cs, olens[i], 1, 300));
				off += olens[i];
			}
		} else {
			const void *rp;
			rc = shmap_ring_peek_rec(h, &rp, &l);
			if (rc == SHMAP_OK) {
				assert_true(rcheck(rp, cs, l, 1, 300));
				assert_int_equal(shmap_ring_release_rec(h), SHMAP_OK);
				cs++;
			}
		}
		assert_true(rc == SHMAP_OK || rc == SHMAP_E_EMPTY);
	}
	assert_int_equal(shmap_ring_lost(p), 0);
	/* a short buffer: the length, nothing claimed */
	assert_int_equal(shmap_ring_push_rec(p, buf, 50), SHMAP_OK);
	uint32_t l;
	assert_int_equal(shmap_ring_pop_rec(c[0], out, 10, &l), SHMAP_E_BUFSIZE);
	assert_int_equal(l, 50);
	/* a peek left open at close is consumed */
	const void *rp;
	assert_int_equal(shmap_ring_peek_rec(c[0], &rp, &l), SHMAP_OK);
	shmap_ring_close(c[0]);
	assert_int_equal(shmap_ring_pop_rec(c[1], out, 300, &l), SHMAP_E_EMPTY);
	uint64_t problems = 1;
	assert_int_equal(shmap_ring_check(p, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	shmap_ring_close(c[1]);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ============================================================ processes */

struct mp_ctx {
	const char *name;
	uint64_t n;
	uint32_t lo, hi;
	int lossy;
	volatile uint8_t *seen;   /* SPMC: times each record was received */
	volatile uint64_t *total; /* SPMC: records received by all consumers */
};

static int mp_producer(void *a)
{
	struct mp_ctx *x = a;
	shmap_ring *p;
	if (open_rec(x->name, SHMAP_RING_PRODUCER, &p) < 0)
		return 10;
	static uint8_t buf[16 * 8192];
	uint32_t lens[16];
	uint64_t rs = g_rs ^ (uint64_t)getpid();
	for (uint64_t s = 0; s < x->n;) {
		int rc;
		uint32_t d = 0;
		switch (tt_rand(&rs) % 3) {
		case 0: {
			uint32_t l = rlen(s, x->lo, x->hi);
			rfill(buf, s, l);
			rc = shmap_ring_push_rec_wait(p, buf, l, 5000);
			d = rc >= 0;
			break;
		}
		case 1: {
			uint32_t k = (uint32_t)(tt_rand(&rs) % 16) + 1;
			if (k > x->n - s)
				k = (uint32_t)(x->n - s);
			uint64_t off = 0;
			for (uint32_t i = 0; i < k; i++) {
				lens[i] = rlen(s + i, x->lo, x->hi);
				rfill(buf + off, s + i, lens[i]);
				off += lens[i];
			}
			rc = shmap_ring_push_rec_n_wait(p, buf, lens, k, &d, 5000);
			break;
		}
		default: {
			void *wp;
			if (shmap_ring_wait(p, 5000) < 0)
				return 11;
			rc = shmap_ring_reserve_rec(p, rlen(s, x->lo, x->hi), &wp);
			if (rc == SHMAP_OK) {
				rfill(wp, s, rlen(s, x->lo, x->hi));
				rc = shmap_ring_commit_rec(p, rlen(s, x->lo, x->hi));
				d = 1;
			} else if (rc == SHMAP_E_FULL) {
				rc = SHMAP_OK; /* wait said room for the largest: a record may still not fit */
			}
		}
		}
		if (rc < 0)
			return 12;
		s += d;
	}
	shmap_ring_close(p);
	return 0;
}

static int mp_consumer(void *a)
{
	struct mp_ctx *x = a;
	shmap_ring *c;
	if (open_rec(x->name, SHMAP_RING_CONSUMER, &c) < 0)
		return 20;
	tt_ack(1);
	static uint8_t out[16 * 8192];
	uint32_t lens[16];
	uint64_t rs = g_rs ^ (uint64_t)getpid(), last = 0;
	uint64_t s = 0, overruns = 0;
	int have = 0;
	/* SPMC: the others may have taken the last records: short waits */
	const uint32_t wt = x->seen ? 50 : 5000;
	while (s < x->n) {
		int rc;
		uint32_t d = 0;
		if (x->seen && __atomic_load_n(x->total, __ATOMIC_SEQ_CST) >= x->n)
			break;
		switch (tt_rand(&rs) % 3) {
		case 0:
			rc = shmap_ring_pop_rec_wait(c, out, x->hi, &lens[0], wt);
			d = rc == SHMAP_OK;
			break;
		case 1:
			rc = shmap_ring_pop_rec_n_wait(c, out, (uint64_t)x->hi * 16, lens, 16, &d, wt);
			break;
		default: {
			const void *rp;
			rc = shmap_ring_wait(c, wt);
			if (rc == SHMAP_OK)
				rc = shmap_ring_peek_rec(c, &rp, &lens[0]);
			if (rc == SHMAP_OK) {
				memcpy(out, rp, lens[0]);
				rc = shmap_ring_release_rec(c);
				d = rc == SHMAP_OK;
			}
		}
		}
		if (rc == SHMAP_E_OVERRUN && x->lossy) {
			overruns++;
			continue;
		}
		if ((rc == SHMAP_E_TIMEOUT || rc == SHMAP_E_EMPTY) && x->seen)
			continue; /* another consumer took it; re-check the total */
		if (rc == SHMAP_E_TIMEOUT && x->lossy)
			break; /* the producer finished */
		if (rc < 0)
			return 21;
		uint64_t off = 0;
		for (uint32_t i = 0; i < d; i++) {
			if (x->seen) { /* SPMC: records are self-describing, any order across consumers */
				uint64_t sq;
				if (!rcheck_self(out + off, lens[i], x->lo, x->hi, &sq) || sq >= x->n)
					return 25;
				if (have && sq <= last)
					return 26; /* one consumer sees its records in order */
				last = sq;
				have = 1;
				x->seen[sq]++;
				if (__atomic_add_fetch(x->total, 1, __ATOMIC_SEQ_CST) >= x->n)
					s = x->n;
			} else if (x->lossy) {
				uint64_t sq = 0;
				if (!rcheck_self(out + off, lens[i], x->lo, x->hi, &sq))
					return 22;
				if (have && sq <= last)
					return 23;
				last = sq;
				have = 1;
				s = sq + 1;
			} else {
				if (!rcheck(out + off, s, lens[i], x->lo, x->hi))
					return 24;
				s++;
			}
			off += lens[i];
		}
	}
	shmap_ring_close(c);
	return 0;
}

static void run_mp(uint32_t type, uint32_t nsubs, uint32_t lo, uint32_t hi, uint64_t cap, uint64_t n)
{
	char name[NAMELEN];
	th_name(name, sizeof name, "rr-mp");
	shmap_ring *o;
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, type, hi, cap, type == SHMAP_RING_SPSC ? 0 : 4,
					     SHMAP_RING_OBSERVER, NULL, &o), SHMAP_OK);
	struct mp_ctx x = { name, n, lo, hi, type == SHMAP_RING_BCAST_LOSSY, NULL, NULL };
	if (type == SHMAP_RING_SPMC) {
		x.seen = mmap(NULL, n + 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		x.total = (volatile uint64_t *)(void *)(x.seen + ((n + 63) & ~(uint64_t)63));
		assert_true((void *)x.seen != MAP_FAILED);
	}
	struct tt_proc cs[4], pp;
	uint64_t v;
	for (uint32_t i = 0; i < nsubs; i++) {
		assert_int_equal(tt_spawn(&cs[i], mp_consumer, &x, 120), 0);
		assert_int_equal(tt_read_ack(&cs[i], &v, 10000), 0); /* subscribed */
	}
	assert_int_equal(tt_spawn(&pp, mp_producer, &x, 120), 0);
	char b[64];
	int st = tt_wait(&pp, 110);
	if (!th_ok(st))
		fail_msg("producer: %s", tt_status_str(st, b, sizeof b));
	for (uint32_t i = 0; i < nsubs; i++) {
		st = tt_wait(&cs[i], 110);
		if (!th_ok(st))
			fail_msg("consumer %u: %s", i, tt_status_str(st, b, sizeof b));
	}
	uint64_t problems = 1;
	assert_int_equal(shmap_ring_check(o, 0, &problems), SHMAP_OK);
	if (x.seen) {
		/* every record to exactly one consumer */
		for (uint64_t i = 0; i < n; i++)
			if (x.seen[i] != 1)
				fail_msg("record %llu received %u times", (unsigned long long)i, x.seen[i]);
		assert_int_equal(shmap_ring_lost(o), 0);
		munmap((void *)x.seen, n + 4096);
	}
	shmap_ring_close(o);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_mp_spsc(void **state)
{
	(void)state;
	run_mp(SHMAP_RING_SPSC, 1, 1, 256, 4096, 200000);
	run_mp(SHMAP_RING_SPSC, 1, 64, 4096, 65536, 30000);
}

static void test_mp_spmc(void **state)
{
	(void)state;
	run_mp(SHMAP_RING_SPMC, 3, 8, 300, 8192, 100000);
}

static void test_mp_bcast(void **state)
{
	(void)state;
	run_mp(SHMAP_RING_BCAST_RELIABLE, 3, 1, 256, 8192, 60000);
	run_mp(SHMAP_RING_BCAST_LOSSY, 2, 8, 512, 4096, 200000);
}

/* ============================================================== threads */

struct th_arg {
	shmap_ring *h;
	uint64_t n;
	int fail;
};

static void *th_prod(void *a)
{
	struct th_arg *t = a;
	uint8_t b[512];
	for (uint64_t s = 0; s < t->n; s++) {
		uint32_t l = rlen(s, 1, 512);
		rfill(b, s, l);
		if (shmap_ring_push_rec_wait(t->h, b, l, 10000) != SHMAP_OK) {
			t->fail = 1;
			break;
		}
	}
	return NULL;
}

static void *th_cons(void *a)
{
	struct th_arg *t = a;
	uint8_t b[512 * 8];
	uint32_t lens[8];
	for (uint64_t s = 0; s < t->n;) {
		uint32_t d = 0;
		if (shmap_ring_pop_rec_n_wait(t->h, b, sizeof b, lens, 8, &d, 10000) != SHMAP_OK) {
			t->fail = 2;
			break;
		}
		uint64_t off = 0;
		for (uint32_t i = 0; i < d; i++, s++) {
			if (!rcheck(b + off, s, lens[i], 1, 512)) {
				t->fail = 3;
				return NULL;
			}
			off += lens[i];
		}
	}
	return NULL;
}

/* SPMC: one producer thread, three consumer threads, each record once. */
struct thm_arg {
	shmap_ring *h;
	uint64_t n;
	uint8_t *seen;
	uint64_t *total;
	int fail;
};

static void *thm_cons(void *a)
{
	struct thm_arg *t = a;
	uint8_t b[512 * 8];
	uint32_t lens[8];
	while (__atomic_load_n(t->total, __ATOMIC_SEQ_CST) < t->n) {
		uint32_t d = 0;
		int rc = shmap_ring_pop_rec_n_wait(t->h, b, sizeof b, lens, 8, &d, 20);
		if (rc == SHMAP_E_TIMEOUT)
			continue;
		if (rc != SHMAP_OK) {
			t->fail = 1;
			break;
		}
		uint64_t off = 0;
		for (uint32_t i = 0; i < d; i++) {
			uint64_t sq = 0;
			if (!rcheck_self(b + off, lens[i], 8, 512, &sq) || sq >= t->n) {
				t->fail = 2;
				return NULL;
			}
			__atomic_add_fetch(&t->seen[sq], 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(t->total, 1, __ATOMIC_SEQ_CST);
			off += lens[i];
		}
	}
	return NULL;
}

static void *thm_prod(void *a)
{
	struct thm_arg *t = a;
	uint8_t b[512];
	for (uint64_t s = 0; s < t->n; s++) {
		uint32_t l = rlen(s, 8, 512);
		rfill(b, s, l);
		if (shmap_ring_push_rec_wait(t->h, b, l, 10000) != SHMAP_OK) {
			t->fail = 1;
			break;
		}
	}
	return NULL;
}

static void test_threads_spmc(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rr-thm");
	const uint64_t n = 60000;
	uint8_t *seen = calloc(n, 1);
	uint64_t total = 0;
	struct thm_arg a[4];
	for (int i = 0; i < 4; i++)
		a[i] = (struct thm_arg){ NULL, n, seen, &total, 0 };
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPMC, 512, 8192, 4,
					     SHMAP_RING_PRODUCER, NULL, &a[0].h), SHMAP_OK);
	for (int i = 1; i < 4; i++)
		assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &a[i].h), SHMAP_OK);
	pthread_t th[4];
	assert_int_equal(pthread_create(&th[0], NULL, thm_prod, &a[0]), 0);
	for (int i = 1; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thm_cons, &a[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(a[i].fail, 0);
	for (uint64_t i = 0; i < n; i++)
		if (seen[i] != 1)
			fail_msg("record %llu received %u times", (unsigned long long)i, seen[i]);
	assert_int_equal(shmap_ring_lost(a[0].h), 0);
	for (int i = 0; i < 4; i++)
		shmap_ring_close(a[i].h);
	free(seen);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_threads_spsc(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rr-thr");
	struct th_arg pa = { NULL, 100000, 0 }, ca = { NULL, 100000, 0 };
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, 512, 8192,
					     SHMAP_RING_PRODUCER, NULL, &pa.h), SHMAP_OK);
	assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &ca.h), SHMAP_OK);
	pthread_t t1, t2;
	assert_int_equal(pthread_create(&t1, NULL, th_prod, &pa), 0);
	assert_int_equal(pthread_create(&t2, NULL, th_cons, &ca), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(pa.fail, 0);
	assert_int_equal(ca.fail, 0);
	shmap_ring_close(ca.h);
	shmap_ring_close(pa.h);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ============================================================== torture */

/* Producer child: continue the stream at `next` (read from the shared log). */
struct kill_ctx {
	const char *name;
	volatile uint64_t *next;   /* producer: next sequence number to push */
	volatile uint64_t *log;    /* consumer: [0] count, [1..] sequence numbers */
	uint32_t lo, hi;
	uint64_t limit;
};

static int kill_producer(void *a)
{
	struct kill_ctx *x = a;
	shmap_ring *p;
	if (open_rec(x->name, SHMAP_RING_PRODUCER, &p) < 0)
		return 10;
	static uint8_t buf[8 * 512];
	uint32_t lens[8];
	uint64_t rs = g_rs ^ (uint64_t)getpid();
	for (uint64_t i = 0; i < x->limit;) {
		uint64_t s = *x->next;
		uint32_t d = 0;
		int rc;
		switch (tt_rand(&rs) % 3) {
		case 0: {
			uint32_t l = rlen(s, x->lo, x->hi);
			rfill(buf, s, l);
			rc = shmap_ring_push_rec_wait(p, buf, l, 2000);
			d = rc >= 0;
			break;
		}
		case 1: {
			uint32_t k = (uint32_t)(tt_rand(&rs) % 8) + 1;
			uint64_t off = 0;
			for (uint32_t j = 0; j < k; j++) {
				lens[j] = rlen(s + j, x->lo, x->hi);
				rfill(buf + off, s + j, lens[j]);
				off += lens[j];
			}
			rc = shmap_ring_push_rec_n(p, buf, lens, k, &d);
			break;
		}
		default: {
			void *wp;
			uint32_t l = rlen(s, x->lo, x->hi);
			rc = shmap_ring_reserve_rec(p, x->hi, &wp);
			if (rc == SHMAP_OK) {
				rfill(wp, s, l);
				rc = shmap_ring_commit_rec(p, l);
				d = 1;
			}
		}
		}
		if (rc < 0 && rc != SHMAP_E_FULL && rc != SHMAP_E_TIMEOUT)
			return 12;
		/* acknowledged: the next producer continues after these */
		*x->next = s + d;
		i += d ? d : 1;
	}
	shmap_ring_close(p);
	return 0;
}

static int kill_consumer(void *a)
{
	struct kill_ctx *x = a;
	shmap_ring *c;
	if (open_rec(x->name, SHMAP_RING_CONSUMER, &c) < 0)
		return 20;
	static uint8_t out[8 * 512];
	uint32_t lens[8];
	uint64_t rs = g_rs ^ (uint64_t)getpid();
	for (uint64_t i = 0; i < x->limit;) {
		uint32_t d = 0;
		int rc;
		switch (tt_rand(&rs) % 3) {
		case 0:
			rc = shmap_ring_pop_rec_wait(c, out, x->hi, &lens[0], 100);
			d = rc == SHMAP_OK;
			break;
		case 1:
			rc = shmap_ring_pop_rec_n(c, out, sizeof out, lens, (uint32_t)(tt_rand(&rs) % 8) + 1, &d);
			break;
		default: {
			const void *rp;
			rc = shmap_ring_peek_rec(c, &rp, &lens[0]);
			if (rc == SHMAP_OK) {
				memcpy(out, rp, lens[0]);
				rc = shmap_ring_release_rec(c);
				d = 1;
			}
		}
		}
		if (rc == SHMAP_E_TIMEOUT || rc == SHMAP_E_EMPTY)
			break;
		if (rc != SHMAP_OK)
			return 21;
		uint64_t off = 0;
		for (uint32_t k = 0; k < d; k++) {
			uint64_t sq = 0;
			if (!rcheck_self(out + off, lens[k], x->lo, x->hi, &sq))
				return 22;
			x->log[1 + x->log[0]] = sq;
			x->log[0]++;
			off += lens[k];
		}
		i += d;
	}
	shmap_ring_close(c);
	return 0;
}

static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 0, len);
	return p;
}

/* SPSC producer killed at each failpoint (and at random points): the
 * consumer sees an exact prefix, a new producer continues right after. */
static void run_kill_producer(uint32_t type, const char *fp_copied, const char *fp_published)
{
	char name[NAMELEN];
	th_name(name, sizeof name, "rr-kill-p");
	shmap_ring *c;
	/* room for every record a child pushes (it runs alone); many laps */
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, type, 300, 65536,
					     type == SHMAP_RING_SPSC ? 0 : 2, SHMAP_RING_CONSUMER, NULL, &c),
			 SHMAP_OK);
	const char *fps[] = { fp_copied, fp_published, NULL };
	volatile uint64_t *next = shared_alloc(4096);
	unsigned runs = tt_iters(150, 1000);
	uint64_t expect = 0, kills = 0;
	static uint8_t out[300];
	for (unsigned run = 0; run < runs; run++) {
		struct kill_ctx x = { name, next, NULL, 8, 300, 100 };
		const char *fp = fps[run % 3];
		unsigned nth = (unsigned)(tt_rand(&g_rs) % 20) + 1;
		int code = 0;
		int o = tt_kill_at(fp, nth, kill_producer, &x, fp ? 0 : (unsigned)(tt_rand(&g_rs) % 3000) + 1, 20,
				   &code);
		if (o == TT_EXITED)
			assert_int_equal(code, 0);
		else
			assert_int_equal(o, TT_KILLED);
		kills += o == TT_KILLED;
		uint32_t l;
		int rc;
		while ((rc = shmap_ring_pop_rec(c, out, sizeof out, &l)) == SHMAP_OK) {
			uint64_t sq = 0;
			if (!rcheck_self(out, l, 8, 300, &sq) || sq != expect)
				fail_msg("run %u (%s:%u): got a bad or out-of-order record (%llu expected)", run,
					 fp ? fp : "random", nth, (unsigned long long)expect);
			expect++;
		}
		assert_int_equal(rc, SHMAP_E_EMPTY);
		/* everything acknowledged was delivered; a push killed after
		 * publishing may be delivered without its acknowledgement */
		assert_true(expect >= *next);
		*next = expect;
	}
	print_message("record %s producer kills: %llu of %u runs, %llu records\n",
		      type == SHMAP_RING_SPSC ? "spsc" : "spmc", (unsigned long long)kills, runs,
		      (unsigned long long)expect);
	shmap_ring *p;
	assert_true(open_rec(name, SHMAP_RING_PRODUCER, &p) >= 0);
	uint64_t problems = 1;
	assert_int_equal(shmap_ring_check(c, 0, &problems), SHMAP_OK);
	shmap_ring_close(p);
	shmap_ring_close(c);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_kill_spsc_producer(void **state)
{
	(void)state;
	run_kill_producer(SHMAP_RING_SPSC, "ring.rec.spsc.push.copied", "ring.rec.spsc.push.published");
}

/* The same for SPMC (one consumer: in order): the takeover resumes the
 * free cursor and head after many laps. */
static void test_kill_spmc_producer(void **state)
{
	(void)state;
	run_kill_producer(SHMAP_RING_SPMC, "ring.rec.spmc.push.copied", "ring.rec.spmc.push.published");
}

/* A producer killed between publishing and storing head, then the consumer
 * takes the records and is replaced: the new consumer starts after them
 * (tail is authoritative past the stored head), a new producer after them
 * too; nothing twice, nothing lost. */
static void test_spsc_takeover_past_head(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rr-past-head");
	shmap_ring *c;
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, 300, 4096,
					     SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	fflush(NULL);
	pid_t a = fork();
	if (a == 0) {
		alarm(10);
		setenv("SHMAP_FAILPOINT", "ring.rec.spsc.push.published", 1);
		shmap_ring *p;
		if (open_rec(name, SHMAP_RING_PRODUCER, &p) < 0)
			_exit(1);
		uint8_t b[5 * 300];
		uint32_t lens[5];
		uint64_t off = 0;
		for (uint64_t i = 0; i < 5; i++) {
			lens[i] = rlen(i, 8, 300);
			rfill(b + off, i, lens[i]);
			off += lens[i];
		}
		uint32_t d;
		shmap_ring_push_rec_n(p, b, lens, 5, &d); /* killed after publishing */
		_exit(2);
	}
	int st;
	assert_int_equal(waitpid(a, &st, 0), a);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	uint8_t out[300 * 5];
	uint32_t ol[5], d = 0;
	assert_int_equal(shmap_ring_pop_rec_n(c, out, sizeof out, ol, 3, &d), SHMAP_OK);
	assert_int_equal(d, 3);
	uint64_t head = 9, tail = 0;
	assert_int_equal(th_ring_stats(c, &head, &tail, NULL, NULL, NULL), SHMAP_OK);
	assert_int_equal(head, 0); /* the dead producer never stored it */
	assert_true(tail > head);
	shmap_ring_close(c);
	assert_true(open_rec(name, SHMAP_RING_CONSUMER, &c) >= 0);
	uint32_t l;
	uint64_t sq = 0;
	assert_int_equal(shmap_ring_pop_rec(c, out, sizeof out, &l), SHMAP_OK);
	assert_true(rcheck_self(out, l, 8, 300, &sq));
	assert_int_equal(sq, 3); /* not 0 again */
	shmap_ring *p;
	assert_true(open_rec(name, SHMAP_RING_PRODUCER, &p) >= 0);
	l = rlen(5, 8, 300);
	rfill(out, 5, l);
	assert_int_equal(shmap_ring_push_rec(p, out, l), SHMAP_OK);
	for (uint64_t i = 4; i < 6; i++) {
		assert_int_equal(shmap_ring_pop_rec(c, out, sizeof out, &l), SHMAP_OK);
		assert_true(rcheck_self(out, l, 8, 300, &sq));
		assert_int_equal(sq, i);
	}
	assert_int_equal(shmap_ring_pop_rec(c, out, sizeof out, &l), SHMAP_E_EMPTY);
	shmap_ring_close(p);
	shmap_ring_close(c);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* SPSC consumer killed at each failpoint: records of the killed call are
 * delivered again (killed before releasing) or lost with that call (after);
 * never a gap elsewhere, never a torn record. */
static void test_kill_spsc_consumer(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rr-kill-c");
	shmap_ring *p;
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, 300, 4096,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	const char *fps[] = { "ring.rec.spsc.pop.copied", "ring.rec.spsc.pop.released", NULL };
	size_t loglen = 1u << 22;
	volatile uint64_t *log = shared_alloc(loglen);
	unsigned runs = tt_iters(150, 1000);
	uint64_t ps = 0, expect = 0, kills = 0;
	static uint8_t b[300];
	for (unsigned run = 0; run < runs; run++) {
		/* refill */
		for (;;) {
			uint32_t l = rlen(ps, 8, 300);
			rfill(b, ps, l);
			if (shmap_ring_push_rec(p, b, l) != SHMAP_OK)
				break;
			ps++;
		}
		log[0] = 0;
		struct kill_ctx x = { name, NULL, log, 8, 300, 60 };
		const char *fp = fps[run % 3];
		unsigned nth = (unsigned)(tt_rand(&g_rs) % 10) + 1;
		int code = 0;
		int o = tt_kill_at(fp, nth, kill_consumer, &x, fp ? 0 : (unsigned)(tt_rand(&g_rs) % 2000) + 1, 20,
				   &code);
		if (o == TT_EXITED)
			assert_int_equal(code, 0);
		else
			assert_int_equal(o, TT_KILLED);
		kills += o == TT_KILLED;
		for (uint64_t i = 0; i < log[0]; i++) {
			if (log[1 + i] != expect)
				fail_msg("run %u: logged %llu, expected %llu", run, (unsigned long long)log[1 + i],
					 (unsigned long long)expect);
			expect++;
		}
		/* where the next consumer starts */
		shmap_ring *c;
		assert_true(open_rec(name, SHMAP_RING_CONSUMER, &c) >= 0);
		uint32_t l;
		static uint8_t out[300];
		int rc = shmap_ring_pop_rec(c, out, sizeof out, &l);
		if (rc == SHMAP_OK) {
			uint64_t sq = 0;
			assert_true(rcheck_self(out, l, 8, 300, &sq));
			/* killed before releasing: exactly the next; after: the
			 * records of the killed call (at most 8) are gone */
			if (fp && strstr(fp, "copied"))
				assert_int_equal(sq, expect);
			assert_true(sq >= expect && sq <= expect + 8);
			expect = sq + 1;
		} else {
			assert_int_equal(rc, SHMAP_E_EMPTY);
			expect = ps;
		}
		shmap_ring_close(c);
	}
	print_message("record spsc consumer kills: %llu of %u runs\n", (unsigned long long)kills, runs);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* SPMC consumer killed at each failpoint of its claim: nothing stalls the
 * producer (it reclaims the dead claim, RECOVERED), no record is delivered
 * twice, and records pushed == delivered + lost (random kills: a call
 * killed after it finished but before its caller logged it loses up to 8
 * records uncounted). */
static int spmc_victim(void *a)
{
	struct kill_ctx *x = a;
	shmap_ring *c;
	if (open_rec(x->name, SHMAP_RING_CONSUMER, &c) < 0)
		return 20;
	static uint8_t out[8 * 300];
	uint32_t lens[8];
	uint64_t rs = g_rs ^ (uint64_t)getpid();
	for (uint64_t i = 0; i < x->limit; i++) {
		uint32_t d = 0;
		int rc;
		switch (tt_rand(&rs) % 3) {
		case 0:
			rc = shmap_ring_pop_rec(c, out, 300, &lens[0]);
			d = rc == SHMAP_OK;
			break;
		case 1:
			rc = shmap_ring_pop_rec_n(c, out, sizeof out, lens, (uint32_t)(tt_rand(&rs) % 8) + 1, &d);
			break;
		default: {
			const void *rp;
			rc = shmap_ring_peek_rec(c, &rp, &lens[0]);
			if (rc == SHMAP_OK) {
				memcpy(out, rp, lens[0]);
				rc = shmap_ring_release_rec(c);
				d = 1;
			}
		}
		}
		if (rc == SHMAP_E_EMPTY)
			break;
		if (rc != SHMAP_OK)
			return 21;
		uint64_t off = 0;
		for (uint32_t k = 0; k < d; k++) {
			uint64_t sq = 0;
			if (!rcheck_self(out + off, lens[k], 8, 300, &sq))
				return 22;
			x->log[1 + x->log[0]] = sq;
			x->log[0]++;
			off += lens[k];
		}
	}
	shmap_ring_close(c);
	return 0;
}

static void test_kill_spmc_consumer(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rr-kill-m");
	shmap_ring *p, *c;
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPMC, 300, 4096, 4,
					     SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(open_rec(name, SHMAP_RING_CONSUMER, &c), SHMAP_OK);
	const char *fps[] = { "ring.rec.spmc.pop.cas", "ring.rec.spmc.pop.claimed", "ring.rec.spmc.pop.copied",
			      "ring.rec.spmc.pop.released", NULL };
	unsigned runs = tt_iters(100, 600);
	size_t maxrec = (size_t)runs * 200 + 1000;
	uint8_t *seen = calloc(maxrec, 1);
	volatile uint64_t *log = shared_alloc(1u << 20);
	uint64_t pushed = 0, kills = 0, random_kills = 0, recovered = 0;
	static uint8_t b[300], out[300];
	for (unsigned run = 0; run < runs; run++) {
		for (;;) { /* fill */
			uint32_t l = rlen(pushed, 8, 300);
			rfill(b, pushed, l);
			if (shmap_ring_push_rec(p, b, l) != SHMAP_OK)
				break;
			pushed++;
		}
		log[0] = 0;
		struct kill_ctx x = { name, NULL, log, 8, 300, 40 };
		const char *fp = fps[run % 5];
		unsigned nth = (unsigned)(tt_rand(&g_rs) % 6) + 1;
		int code = 0;
		int o = tt_kill_at(fp, nth, spmc_victim, &x, fp ? 0 : (unsigned)(tt_rand(&g_rs) % 1500) + 1, 20,
				   &code);
		if (o == TT_EXITED)
			assert_int_equal(code, 0);
		else
			assert_int_equal(o, TT_KILLED);
		kills += o == TT_KILLED;
		random_kills += o == TT_KILLED && !fp;
		for (uint64_t i = 0; i < log[0]; i++) {
			assert_true(log[1 + i] < pushed);
			if (seen[log[1 + i]]++)
				fail_msg("run %u: record %llu delivered twice", run, (unsigned long long)log[1 + i]);
		}
		/* keep the ring moving: the producer must get past the dead claim */
		for (int i = 0; i < 40; i++) {
			uint32_t l2;
			while (shmap_ring_pop_rec(c, out, sizeof out, &l2) == SHMAP_OK) {
				uint64_t sq = 0;
				assert_true(rcheck_self(out, l2, 8, 300, &sq));
				if (seen[sq]++)
					fail_msg("run %u: record %llu delivered twice", run, (unsigned long long)sq);
			}
			uint32_t l = rlen(pushed, 8, 300);
			rfill(b, pushed, l);
			int rc = shmap_ring_push_rec_wait(p, b, l, 5000);
			if (rc != SHMAP_OK && rc != SHMAP_RECOVERED) {
				uint64_t f = p->min_cache, w = *(volatile uint64_t *)(void *)(p->data + (f & (4096 - 8)));
				fprintf(stderr, "pos %llu head %llu tail %llu free %llu/%llu word %#llx\n",
					(unsigned long long)p->pos, (unsigned long long)p->ctl->head,
					(unsigned long long)p->ctl->tail, (unsigned long long)f,
					(unsigned long long)p->rx.line->intent, (unsigned long long)w);
				for (int q = 0; q < 4; q++)
					fprintf(stderr, "rec %d ow %#llx pos %llu n %#x nrec %llu\n", q,
						(unsigned long long)p->recs[q].ow, (unsigned long long)p->recs[q].pos,
						p->recs[q].n, (unsigned long long)p->recs[q].nrec);
				fail_msg("run %u (%s:%u): push: %s", run, fp ? fp : "random", nth, shmap_errname(rc));
			}
			recovered += rc == SHMAP_RECOVERED;
			pushed++;
		}
	}
	/* claims never reached by the producer: the checker reclaims them */
	uint64_t problems = 0;
	assert_true(shmap_ring_check(p, SHMAP_CHECK_REPAIR, &problems) >= 0);
	uint32_t l2;
	while (shmap_ring_pop_rec(c, out, sizeof out, &l2) == SHMAP_OK) {
		uint64_t sq = 0;
		assert_true(rcheck_self(out, l2, 8, 300, &sq));
		assert_int_equal(seen[sq]++, 0);
	}
	uint64_t delivered = 0;
	for (uint64_t i = 0; i < pushed; i++)
		delivered += seen[i];
	uint64_t lost = shmap_ring_lost(p);
	print_message("record spmc consumer kills: %llu of %u runs (%llu random), %llu pushed, %llu delivered, "
		      "%llu lost, %llu pushes RECOVERED\n", (unsigned long long)kills, runs,
		      (unsigned long long)random_kills, (unsigned long long)pushed, (unsigned long long)delivered,
		      (unsigned long long)lost, (unsigned long long)recovered);
	assert_true(delivered + lost <= pushed);
	assert_true(pushed - (delivered + lost) <= 8 * random_kills);
	assert_true(recovered > 0);
	assert_int_equal(shmap_ring_check(p, 0, &problems), SHMAP_OK);
	free(seen);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* SPMC chaos: a producer process and two consumer processes run at once;
 * consumers are SIGKILLed at random moments and replaced, so the producer
 * reclaims dead claims while live consumers keep claiming. No record is
 * delivered twice or torn, and delivered + lost accounts for everything
 * pushed except what killed consumers took without logging (one call each). */
struct chaos_ctx {
	const char *name;
	uint64_t n;
	volatile uint8_t *seen;     /* times each record was logged */
	volatile uint64_t *pushed;  /* producer: records pushed */
};

static int chaos_producer(void *a)
{
	struct chaos_ctx *x = a;
	shmap_ring *p;
	if (open_rec(x->name, SHMAP_RING_PRODUCER, &p) < 0)
		return 10;
	uint8_t b[300];
	for (uint64_t s = 0; s < x->n; s++) {
		uint32_t l = rlen(s, 8, 300);
		rfill(b, s, l);
		int rc = shmap_ring_push_rec_wait(p, b, l, 10000);
		if (rc != SHMAP_OK && rc != SHMAP_RECOVERED)
			return 11;
		__atomic_store_n(x->pushed, s + 1, __ATOMIC_SEQ_CST);
	}
	shmap_ring_close(p);
	return 0;
}

static int chaos_consumer(void *a)
{
	struct chaos_ctx *x = a;
	shmap_ring *c;
	if (open_rec(x->name, SHMAP_RING_CONSUMER, &c) < 0)
		return 20;
	static uint8_t out[8 * 300];
	uint32_t lens[8];
	for (;;) {
		uint32_t d = 0;
		int rc = shmap_ring_pop_rec_n_wait(c, out, sizeof out, lens, 8, &d, 100);
		if (rc == SHMAP_E_TIMEOUT || rc == SHMAP_E_EMPTY)
			continue;
		if (rc != SHMAP_OK)
			return 21;
		uint64_t off = 0;
		for (uint32_t k = 0; k < d; k++) {
			uint64_t sq = 0;
			if (!rcheck_self(out + off, lens[k], 8, 300, &sq) || sq >= x->n)
				return 22;
			x->seen[sq]++;
			off += lens[k];
		}
	}
}

static void test_spmc_chaos(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "rr-chaos");
	shmap_ring *o;
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPMC, 300, 8192, 8,
					     SHMAP_RING_OBSERVER, NULL, &o), SHMAP_OK);
	const uint64_t n = tt_soak() ? 2000000 : 300000;
	struct chaos_ctx x = { name, n, shared_alloc(n + 4096), NULL };
	x.pushed = (volatile uint64_t *)(void *)(x.seen + ((n + 63) & ~(uint64_t)63));
	struct tt_proc prod, cons[2];
	assert_int_equal(tt_spawn(&prod, chaos_producer, &x, 120), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(tt_spawn(&cons[i], chaos_consumer, &x, 120), 0);
	unsigned kills = 0;
	double t0 = th_now();
	while (__atomic_load_n(x.pushed, __ATOMIC_SEQ_CST) < n) {
		if (th_now() - t0 > 90)
			fail_msg("producer stalled at %llu", (unsigned long long)*x.pushed);
		usleep((useconds_t)(tt_rand(&g_rs) % 20000) + 1000);
		int i = (int)(tt_rand(&g_rs) % 2);
		kill(cons[i].pid, SIGKILL);
		tt_wait(&cons[i], 10);
		kills++;
		assert_int_equal(tt_spawn(&cons[i], chaos_consumer, &x, 120), 0);
	}
	char b[64];
	int st = tt_wait(&prod, 60);
	if (!th_ok(st))
		fail_msg("producer: %s", tt_status_str(st, b, sizeof b));
	usleep(300000); /* let the consumers drain */
	for (int i = 0; i < 2; i++) {
		kill(cons[i].pid, SIGKILL);
		tt_wait(&cons[i], 10);
	}
	uint64_t problems = 0;
	assert_true(shmap_ring_check(o, SHMAP_CHECK_REPAIR, &problems) >= 0);
	uint64_t delivered = 0, dup = 0;
	for (uint64_t i = 0; i < n; i++) {
		delivered += x.seen[i] != 0;
		dup += x.seen[i] > 1;
	}
	uint64_t lost = shmap_ring_lost(o), head = 0, tail = 0;
	assert_int_equal(th_ring_stats(o, &head, &tail, NULL, NULL, NULL), SHMAP_OK);
	print_message("record spmc chaos: %u consumer kills, %llu pushed, %llu delivered, %llu lost, "
		      "%llu bytes unclaimed\n", kills, (unsigned long long)n, (unsigned long long)delivered,
		      (unsigned long long)lost, (unsigned long long)(head - tail));
	assert_int_equal(dup, 0);
	assert_true(head == tail); /* everything was claimed */
	assert_true(delivered + lost <= n);
	assert_true(n - (delivered + lost) <= 8u * (kills + 2));
	munmap((void *)x.seen, n + 4096);
	shmap_ring_close(o);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Broadcast producer killed at each failpoint: subscribers see an exact
 * prefix with no torn record (reliable) / intact records in order (lossy);
 * the next producer continues. A subscriber killed holding the reliable
 * producer back is dropped. */
static int bc_sub_victim(void *a)
{
	shmap_ring *s;
	if (open_rec(a, SHMAP_RING_CONSUMER, &s) < 0)
		return 30;
	tt_ack(1);
	for (;;)
		pause(); /* never reads: holds the producer back until killed */
}

static void run_kill_bcast(uint32_t type)
{
	char name[NAMELEN];
	th_name(name, sizeof name, "rr-kill-b");
	shmap_ring *s;
	assert_int_equal(th_ring_open_rec(name, SHMAP_CREATE, type, 300, 4096, 4, SHMAP_RING_CONSUMER, NULL,
					     &s), SHMAP_OK);
	const char *fps[] = { "ring.rec.bcast.push.marked", "ring.rec.bcast.push.copied",
			      "ring.rec.bcast.push.published", NULL };
	volatile uint64_t *next = shared_alloc(4096);
	unsigned runs = tt_iters(80, 500);
	uint64_t expect = 0;
	static uint8_t out[300];
	for (unsigned run = 0; run < runs; run++) {
		struct kill_ctx x = { name, next, NULL, 8, 300, 12 };
		const char *fp = fps[run % 4];
		unsigned nth = (unsigned)(tt_rand(&g_rs) % 8) + 1;
		int code = 0;
		int o = tt_kill_at(fp, nth, kill_producer, &x, fp ? 0 : (unsigned)(tt_rand(&g_rs) % 2000) + 1, 20,
				   &code);
		if (o == TT_EXITED)
			assert_int_equal(code, 0);
		else
			assert_int_equal(o, TT_KILLED);
		uint32_t l;
		int rc;
		while ((rc = shmap_ring_pop_rec(s, out, sizeof out, &l)) == SHMAP_OK || rc == SHMAP_E_OVERRUN) {
			if (rc == SHMAP_E_OVERRUN) {
				assert_int_equal(type, SHMAP_RING_BCAST_LOSSY);
				continue;
			}
			uint64_t sq = 0;
			if (!rcheck_self(out, l, 8, 300, &sq))
				fail_msg("run %u: torn record", run);
			if (type == SHMAP_RING_BCAST_RELIABLE && sq != expect)
				fail_msg("run %u (%s:%u): got %llu expected %llu", run, fp ? fp : "random", nth,
					 (unsigned long long)sq, (unsigned long long)expect);
			if (sq < expect)
				fail_msg("run %u: went back", run);
			expect = sq + 1;
		}
		assert_int_equal(rc, SHMAP_E_EMPTY);
		if (type == SHMAP_RING_BCAST_RELIABLE)
			assert_true(expect >= *next);
		*next = expect;
	}
	/* a dead subscriber that holds the producer back is dropped */
	if (type == SHMAP_RING_BCAST_RELIABLE) {
		struct tt_proc v;
		uint64_t ack;
		assert_int_equal(tt_spawn(&v, bc_sub_victim, name, 60), 0);
		assert_int_equal(tt_read_ack(&v, &ack, 10000), 0);
		kill(v.pid, SIGKILL);
		tt_wait(&v, 10);
		shmap_ring *p;
		assert_true(open_rec(name, SHMAP_RING_PRODUCER, &p) >= 0);
		static uint8_t b[300];
		int recovered = 0;
		for (uint64_t i = 0; i < 200; i++) {
			uint32_t l2 = rlen(expect + i, 8, 300);
			rfill(b, expect + i, l2);
			int rc = shmap_ring_push_rec_wait(p, b, l2, 5000);
			assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
			recovered += rc == SHMAP_RECOVERED;
			uint32_t l;
			assert_int_equal(shmap_ring_pop_rec(s, out, sizeof out, &l), SHMAP_OK);
			uint64_t sq = 0;
			assert_true(rcheck_self(out, l, 8, 300, &sq));
			assert_int_equal(sq, expect + i);
		}
		assert_int_equal(recovered, 1);
		assert_int_equal(shmap_ring_consumers(p), 1);
		shmap_ring_close(p);
	}
	uint64_t problems = 1;
	assert_true(shmap_ring_check(s, SHMAP_CHECK_REPAIR, &problems) >= 0);
	assert_int_equal(shmap_ring_check(s, 0, &problems), SHMAP_OK);
	shmap_ring_close(s);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_kill_bcast(void **state)
{
	(void)state;
	run_kill_bcast(SHMAP_RING_BCAST_RELIABLE);
	run_kill_bcast(SHMAP_RING_BCAST_LOSSY);
}

/* Hostile shared fields: every call returns a defined code, in bounded
 * time, without touching memory outside the mapping (guard pages). */
static int hostile_ops(shmap_ring *p, shmap_ring *c, uint32_t hi)
{
	static uint8_t buf[64 * 300];
	memset(buf, 0x5a, sizeof buf);
	uint32_t lens[16], l, d;
	int rcs[24], n = 0;
	for (int i = 0; i < 16; i++)
		lens[i] = 1 + (uint32_t)i * 7 % hi;
	rcs[n++] = shmap_ring_push_rec(p, buf, hi);
	rcs[n++] = shmap_ring_push_rec_n(p, buf, lens, 16, &d);
	void *wp;
	if ((rcs[n++] = shmap_ring_reserve_rec(p, hi, &wp)) == SHMAP_OK) {
		memset(wp, 1, hi);
		rcs[n++] = shmap_ring_commit_rec(p, hi);
	}
	rcs[n++] = shmap_ring_pop_rec(c, buf, hi, &l);
	rcs[n++] = shmap_ring_pop_rec_n(c, buf, sizeof buf, lens, 16, &d);
	const void *rp;
	if ((rcs[n++] = shmap_ring_peek_rec(c, &rp, &l)) == SHMAP_OK) {
		if (l > hi)
			return 3;
		volatile uint8_t sink = 0;
		for (uint32_t i = 0; i < l; i++)
			sink ^= ((const uint8_t *)rp)[i];
		(void)sink;
		rcs[n++] = shmap_ring_release_rec(c);
	}
	(void)shmap_ring_size(p);
	(void)shmap_ring_size(c);
	uint64_t pr;
	rcs[n++] = shmap_ring_check(c, 0, &pr);
	double t0 = th_now();
	rcs[n++] = shmap_ring_push_rec_wait(p, buf, hi, 10);
	rcs[n++] = shmap_ring_pop_rec_wait(c, buf, hi, &l, 10);
	if (th_now() - t0 > 0.020 + 1.5)
		return 1;
	for (int i = 0; i < n; i++)
		if (rcs[i] > SHMAP_RECOVERED || rcs[i] < SHMAP_E_NOTATTACHED)
			return 2;
	return 0;
}

static int hostile_child(void *a)
{
	(void)a;
	const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_BCAST_LOSSY, SHMAP_RING_BCAST_RELIABLE,
				   SHMAP_RING_SPMC };
	const uint64_t cap = 1024;
	const uint32_t hi = 200;
	const uint64_t vals[] = { 0, 1, 7, 8, cap - 8, cap, cap + 8, 1ull << 31, 1ull << 32, 1ull << 63,
				  UINT64_MAX, 0x7fffffffull, 0x80000000ull };
	enum { F_HEAD, F_TAIL, F_INTENT, F_LATEST, F_HDR_LEN, F_HDR_RAW, F_HDR_PAD, F_HDR_ALL, F_NEXT,
	       F_REC_POS, F_REC_OW, F_REC_N, F_DONE, F_COUNT };
	unsigned combos = 0;
	for (int t = 0; t < 4; t++) {
		for (int f = 0; f < F_COUNT; f++) {
			for (size_t vi = 0; vi < sizeof vals / sizeof vals[0]; vi++) {
				char name[NAMELEN];
				th_name(name, sizeof name, "rr-hostile");
				shmap_ring *p, *c;
				if (th_ring_open_rec(name, SHMAP_CREATE, types[t], hi, cap, t ? 2 : 0,
							SHMAP_RING_PRODUCER, NULL, &p) != SHMAP_OK)
					return 60;
				if (open_rec(name, SHMAP_RING_CONSUMER, &c) < 0)
					return 61;
				uint8_t e[200] = { 1 };
				uint32_t l;
				for (int i = 0; i < 9; i++)
					shmap_ring_push_rec(p, e, 1 + (uint32_t)i * 23);
				for (int i = 0; i < 3; i++)
					shmap_ring_pop_rec(c, e, sizeof e, &l);
				struct ring_ctl *ctl = p->ctl;
				uint64_t v = vals[vi];
				uint64_t cpos = c->pos; /* the consumer's next header */
				volatile uint64_t *hw = (volatile uint64_t *)(void *)(p->data + (cpos & (cap - 8)));
				switch (f) {
				case F_HEAD: ctl->head = v; break;
				case F_TAIL: ctl->tail = v; break;
				case F_INTENT: p->rx.line->intent = v; break;
				case F_LATEST: p->rx.line->latest = v; break;
				case F_HDR_LEN: *hw = (*hw & ~UINT64_C(0xffffffff)) | (uint32_t)v; break;
				case F_HDR_RAW: *hw = v; break;
				case F_HDR_PAD: *hw = (*hw & ~UINT64_C(0xffffffff)) | REC_PAD; break;
				case F_HDR_ALL:
					for (uint64_t i = 0; i < cap; i += 8)
						memcpy(p->data + i, &v, 8);
					break;
				case F_NEXT: /* the word after the last record */
					memcpy(p->data + (p->pos & (cap - 8)), &v, 8);
					break;
				case F_REC_POS: if (t) p->recs[0].pos = v; break;
				case F_REC_OW: if (t) p->recs[0].ow = v; break;
				case F_REC_N:
					p->recs[0].n = (uint32_t)v;
					p->recs[0].nrec = v;
					break;
				case F_DONE: /* the first unit looks consumed, with length v */
					*(volatile uint64_t *)(void *)p->data =
						(uint64_t)(uint32_t)~0u << 32 | (uint32_t)v;
					break;
				}
				for (int k = 0; k < 2; k++) {
					int r = hostile_ops(p, c, hi);
					if (r) {
						fprintf(stderr, "type %u field %d value %#llx: failure %d\n", types[t], f,
							(unsigned long long)v, r);
						return 62;
					}
				}
				shmap_ring_check(p, SHMAP_CHECK_REPAIR, NULL);
				if (hostile_ops(p, c, hi))
					return 63;
				shmap_ring *x = NULL;
				int orc = shmap_ring_open_rec(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &x);
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
	/* random scribbles over the whole data region */
	for (int t = 0; t < 4; t++) {
		for (int round = 0; round < 60; round++) {
			char name[NAMELEN];
			th_name(name, sizeof name, "rr-hostile-r");
			shmap_ring *p, *c;
			if (th_ring_open_rec(name, SHMAP_CREATE, types[t], hi, cap, t ? 2 : 0, SHMAP_RING_PRODUCER,
						NULL, &p) != SHMAP_OK)
				return 70;
			if (open_rec(name, SHMAP_RING_CONSUMER, &c) < 0)
				return 71;
			uint64_t rs = g_rs + (uint64_t)round * 77 + (uint64_t)t;
			for (int k = 0; k < 6; k++) {
				for (int i = 0; i < 8; i++) {
					uint64_t w = tt_rand(&rs);
					uint64_t v = (tt_rand(&rs) & 1) ? w : (w & 0xffffffff00000000ull) | (w % (hi + 2));
					memcpy(p->data + (tt_rand(&rs) % (cap / 8)) * 8, &v, 8);
				}
				if (hostile_ops(p, c, hi))
					return 72;
			}
			shmap_ring_close(c);
			shmap_ring_close(p);
			shmap_unlink(name, NULL);
			combos++;
		}
	}
	fprintf(stderr, "record ring hostile: %u combinations terminated\n", combos);
	return 0;
}

static void test_hostile(void **state)
{
	(void)state;
	struct tt_proc h;
	assert_int_equal(tt_spawn(&h, hostile_child, NULL, 240), 0);
	int st = tt_wait(&h, 230);
	tt_cleanup_pid(h.pid);
	char b[64];
	if (!th_ok(st))
		fail_msg("hostile child: %s", tt_status_str(st, b, sizeof b));
}

int main(int argc, char **argv)
{
	const char *group = argc > 1 ? argv[1] : "unit";
	tt_default_signals();
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_api_errors),
		cmocka_unit_test(test_spsc_laps),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_density),
		cmocka_unit_test(test_bcast_reliable),
		cmocka_unit_test(test_bcast_lossy),
		cmocka_unit_test(test_spmc_unit),
	};
	const struct CMUnitTest mp[] = {
		cmocka_unit_test(test_mp_spsc),
		cmocka_unit_test(test_mp_spmc),
		cmocka_unit_test(test_mp_bcast),
	};
	const struct CMUnitTest threads[] = {
		cmocka_unit_test(test_threads_spsc),
		cmocka_unit_test(test_threads_spmc),
	};
	const struct CMUnitTest torture[] = {
		cmocka_unit_test(test_kill_spsc_producer),
		cmocka_unit_test(test_kill_spmc_producer),
		cmocka_unit_test(test_kill_spsc_consumer),
		cmocka_unit_test(test_kill_spmc_consumer),
		cmocka_unit_test(test_spmc_chaos),
		cmocka_unit_test(test_spsc_takeover_past_head),
		cmocka_unit_test(test_kill_bcast),
		cmocka_unit_test(test_hostile),
	};
	if (strcmp(group, "mp") == 0)
		return cmocka_run_group_tests_name("ring-rec-mp", mp, NULL, NULL);
	if (strcmp(group, "threads") == 0)
		return cmocka_run_group_tests_name("ring-rec-threads", threads, NULL, NULL);
	if (strcmp(group, "torture") == 0)
		return cmocka_run_group_tests_name("ring-rec-torture", torture, NULL, NULL);
	return cmocka_run_group_tests_name("ring-rec", unit, NULL, NULL);
}
