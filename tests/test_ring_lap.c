/* SPDX-License-Identifier: MIT */
/*
 * test_ring_lap.c - a lossy broadcast subscriber lapped by its producer,
 * two threads of one process (threads suite, run under ThreadSanitizer).
 *
 * White-box: the producer and the subscriber need separate handles (one
 * role each), and each handle maps the segment at its own address, where
 * ThreadSanitizer cannot see that two addresses are one byte. So after
 * opening, the subscriber handle's pointers into the mapping are moved onto
 * the producer handle's mapping (the same shared memory): every race
 * between the two is then a race on one address, and TSan reports it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>

#include <shmap/shmap.h>

#include "ring-internal.h"
#include "torture.h"
#include "th_api.h"

#define NAMELEN 96

/* Point c's views of the ring at p's mapping; unalias_mapping() undoes it. */
static struct {
	struct ring_ctl *ctl;
	struct ring_rec *recs, *rec;
	volatile uint64_t *seq;
	uint8_t *data;
} saved;

static void alias_mapping(shmap_ring *c, const shmap_ring *p)
{
	saved.ctl = c->ctl;
	saved.recs = c->recs;
	saved.rec = c->rec;
	saved.seq = c->seq;
	saved.data = c->data;
	c->rec = p->recs + (c->rec - c->recs);
	c->ctl = p->ctl;
	c->recs = p->recs;
	c->seq = p->seq;
	c->data = p->data;
}

static void unalias_mapping(shmap_ring *c)
{
	c->ctl = saved.ctl;
	c->recs = saved.recs;
	c->rec = saved.rec;
	c->seq = saved.seq;
	c->data = saved.data;
}

/*
 * Lossy broadcast, a subscriber lapped by the producer over and over (ring
 * of 8 elements of 20 bytes: not a multiple of the word size, so the
 * relaxed copies' byte edges are exercised). Under ThreadSanitizer every
 * read of a slot the producer may be writing must be atomic: the subscriber
 * pops, peeks and reads by position, the producer pushes, pushes runs and
 * commits reservations. Every element accepted must be intact and newer
 * than the one before.
 */
#define LAP_ESZ 20u
struct lap_arg {
	shmap_ring *r;
	uint64_t n;
	uint64_t done;      /* producer finished (atomic) */
	uint64_t accepted;  /* subscriber's counts, read by the producer (atomic) */
	uint64_t overruns;
	int rc;
	struct lap_arg *sub; /* producer: the subscriber it must lap at least once */
};

static void lap_make(uint8_t *e, uint64_t seq)
{
	uint64_t inv = ~seq;
	uint32_t mid = (uint32_t)(seq * 2654435761u);
	memcpy(e, &seq, 8);
	memcpy(e + 8, &mid, 4);
	memcpy(e + 12, &inv, 8);
}

static int lap_check(const uint8_t *e, uint64_t *seq)
{
	uint64_t s, inv;
	uint32_t mid;
	memcpy(&s, e, 8);
	memcpy(&mid, e + 8, 4);
	memcpy(&inv, e + 12, 8);
	*seq = s;
	return inv == ~s && mid == (uint32_t)(s * 2654435761u) ? 0 : -1;
}

static void *lap_producer(void *a)
{
	struct lap_arg *t = a;
	shmap_ring *p = t->r;
	t->rc = 1;
	uint8_t buf[16 * LAP_ESZ];
	/* At least n elements, and on until the subscriber has both accepted
	 * elements and been lapped (on a loaded machine it may start late),
	 * within 100 n. */
	for (uint64_t i = 0;;) {
		if (i >= t->n && (i >= 100 * t->n ||
				  (__atomic_load_n(&t->sub->accepted, __ATOMIC_RELAXED) > 0 &&
				   __atomic_load_n(&t->sub->overruns, __ATOMIC_RELAXED) > 0)))
			break;
		uint32_t want = 16, done = 0;
		int rc;
		if (i % 3 == 0) {
			lap_make(buf, i);
			rc = shmap_ring_push(p, buf);
			done = 1;
		} else if (i % 3 == 1) {
			for (uint32_t k = 0; k < want; k++)
				lap_make(buf + k * LAP_ESZ, i + k);
			rc = shmap_ring_push_n(p, buf, want, &done);
		} else {
			void *w;
			rc = shmap_ring_reserve(p, want, &w, &done);
			if (rc == SHMAP_OK) {
				for (uint32_t k = 0; k < done; k++)
					lap_make((uint8_t *)w + k * LAP_ESZ, i + k);
				rc = shmap_ring_commit(p, done);
			}
		}
		if (rc != SHMAP_OK || done == 0)
			return NULL;
		i += done;
	}
	t->rc = 0;
	return NULL;
}

static void *lap_subscriber(void *a)
{
	struct lap_arg *t = a;
	shmap_ring *c = t->r;
	t->rc = 1;
	uint8_t buf[8 * LAP_ESZ];
	uint64_t last = 0, seq, round = 0;
	int any = 0;
	for (;;) {
		uint32_t got = 0;
		const uint8_t *src = buf;
		int rc, peeked = 0;
		round++;
		if (round % 3 == 0) {
			const void *rp;
			rc = shmap_ring_peek(c, 8, &rp, &got);
			if (rc == SHMAP_OK) {
				src = rp;
				peeked = 1;
			}
		} else {
			rc = shmap_ring_pop_n(c, buf, 8, &got);
		}
		if (rc == SHMAP_E_OVERRUN) {
			__atomic_fetch_add(&t->overruns, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (rc == SHMAP_E_EMPTY) {
			if (__atomic_load_n(&t->done, __ATOMIC_ACQUIRE) && shmap_ring_pop_n(c, buf, 8, &got) == SHMAP_E_EMPTY)
				break;
			continue;
		}
		if (rc != SHMAP_OK)
			return NULL;
		for (uint32_t k = 0; k < got; k++) {
			if (lap_check(src + k * LAP_ESZ, &seq) != 0 || (any && seq <= last))
				return NULL; /* torn or out of order */
			last = seq;
			any = 1;
			__atomic_fetch_add(&t->accepted, 1, __ATOMIC_RELAXED);
		}
		if (peeked && shmap_ring_release(c, got) != SHMAP_OK)
			return NULL;
		if (round % 5 == 0) {
			/* read an element by position: may be overwritten meanwhile */
			uint8_t e[LAP_ESZ];
			rc = shmap_ring_read_at(c, last, e);
			if (rc == SHMAP_OK && (lap_check(e, &seq) != 0 || seq != last))
				return NULL;
		}
		if (round % 64 == 0)
			sched_yield(); /* let the producer lap us */
	}
	t->rc = 0;
	return NULL;
}

static void test_lossy_lapped(void **state)
{
	(void)state;
	char name[NAMELEN];
	th_name(name, sizeof name, "ring-lap");
	shmap_ring *p, *c;
	assert_int_equal(th_ring_open(name, SHMAP_CREATE, SHMAP_RING_BCAST_LOSSY, LAP_ESZ, 8, 2,
					 SHMAP_RING_PRODUCER, NULL, &p), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	alias_mapping(c, p);
	struct lap_arg sa = { c, 0, 0, 0, 0, 1, NULL };
	struct lap_arg pa = { p, tt_soak() ? 20000000u : 300000u, 0, 0, 0, 1, &sa };
	pthread_t ts, tp;
	assert_int_equal(pthread_create(&ts, NULL, lap_subscriber, &sa), 0);
	assert_int_equal(pthread_create(&tp, NULL, lap_producer, &pa), 0);
	pthread_join(tp, NULL);
	__atomic_store_n(&sa.done, 1, __ATOMIC_RELEASE);
	pthread_join(ts, NULL);
	assert_int_equal(pa.rc, 0);
	assert_int_equal(sa.rc, 0);
	assert_true(sa.accepted > 0);
	assert_true(sa.overruns > 0); /* it was lapped */
	unalias_mapping(c);
	shmap_ring_close(c);
	shmap_ring_close(p);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lossy_lapped),
	};
	return cmocka_run_group_tests_name("ring-lap", tests, NULL, NULL);
}
