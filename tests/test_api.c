/* SPDX-License-Identifier: MIT */
/*
 * test_api.c - the rules shared by every structure's API: statistics structs
 * sized by the caller (an older, shorter struct gets only its fields and
 * nothing past its size is written; a newer, longer one gets zeros past the
 * fields the library knows; a bad size is refused with nothing written), and
 * the rings' max_consumers option (default, stored value, mismatch).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include <shmap/shmap.h>

#include "helpers.h"

#define GUARD 0xa5u

/* A buffer holding a statistics struct of `size` bytes and guard bytes after. */
struct sbuf {
	unsigned char b[512];
};

static void sbuf_init(struct sbuf *s, uint32_t size)
{
	memset(s->b, GUARD, sizeof(s->b));
	memcpy(s->b, &size, sizeof(size));
}

static int untouched_from(const struct sbuf *s, size_t from)
{
	for (size_t i = from; i < sizeof(s->b); i++)
		if (s->b[i] != GUARD)
			return 0;
	return 1;
}

static uint64_t u64_at(const struct sbuf *s, size_t off)
{
	uint64_t v;
	memcpy(&v, s->b + off, sizeof(v));
	return v;
}

/*
 * The rules, for one statistics call `fill` whose full struct is `known`
 * bytes: exact size, an older prefix, a newer larger size, bad sizes.
 * `first_off`/`first_val`: a u64 field and its expected value.
 */
static void check_size_rules(int (*fill)(void *ctx, void *st), void *ctx, size_t known, size_t first_off,
			     uint64_t first_val)
{
	struct sbuf s;
	/* exact size: every field, the size member kept, reserved zeroed */
	sbuf_init(&s, (uint32_t)known);
	assert_int_equal(fill(ctx, s.b), SHMAP_OK);
	uint32_t size;
	memcpy(&size, s.b, 4);
	assert_int_equal(size, known);
	assert_int_equal(s.b[4] | s.b[5] | s.b[6] | s.b[7], 0);
	assert_int_equal(u64_at(&s, first_off), first_val);
	assert_true(untouched_from(&s, known));

	/* an older caller: the header and the first field only */
	sbuf_init(&s, (uint32_t)(first_off + 8));
	assert_int_equal(fill(ctx, s.b), SHMAP_OK);
	assert_int_equal(u64_at(&s, first_off), first_val);
	assert_true(untouched_from(&s, first_off + 8));

	/* the header only: nothing but reserved is written */
	sbuf_init(&s, 8);
	assert_int_equal(fill(ctx, s.b), SHMAP_OK);
	assert_true(untouched_from(&s, 8));

	/* a newer caller: the unknown tail is zeroed up to its size, not past it */
	sbuf_init(&s, (uint32_t)(known + 64));
	assert_int_equal(fill(ctx, s.b), SHMAP_OK);
	assert_int_equal(u64_at(&s, first_off), first_val);
	for (size_t i = known; i < known + 64; i++)
		assert_int_equal(s.b[i], 0);
	assert_true(untouched_from(&s, known + 64));

	/* bad sizes: refused, nothing written */
	static const uint32_t bad[] = { 0, 4, 12, SHMAP_STATS_SIZE_MAX + 8, 0xffffffffu };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		sbuf_init(&s, bad[k]);
		assert_int_equal(fill(ctx, s.b), SHMAP_E_INVAL);
		assert_true(untouched_from(&s, 4));
	}
	assert_int_equal(fill(ctx, NULL), SHMAP_E_INVAL);
}

static int fill_htable(void *ctx, void *st)
{
	return shmap_htable_stats(ctx, st);
}

static int fill_vector(void *ctx, void *st)
{
	return shmap_vector_stats(ctx, st);
}

static int fill_ring(void *ctx, void *st)
{
	return shmap_ring_stats(ctx, st);
}

static int fill_consumer(void *ctx, void *st)
{
	return shmap_ring_consumer_stats(ctx, 0, st);
}

static void test_stats_sizes(void **state)
{
	(void)state;
	char name[64];

	shmap_htable *t;
	th_name(name, sizeof name, "api-ht");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 64, NULL, &t), SHMAP_OK);
	for (uint64_t k = 1; k <= 5; k++)
		assert_int_equal(shmap_htable_insert(t, &k, 8, &k, 8), SHMAP_OK);
	check_size_rules(fill_htable, t, sizeof(shmap_htable_stats_t), offsetof(shmap_htable_stats_t, live),
			 5);
	assert_int_equal(shmap_htable_stats(NULL, &(shmap_htable_stats_t){ .size = 32 }), SHMAP_E_INVAL);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);

	shmap_vector *v;
	th_name(name, sizeof name, "api-vec");
	assert_int_equal(shmap_vector_open(name, SHMAP_CREATE, 8, 64, NULL, &v), SHMAP_OK);
	for (uint64_t k = 0; k < 3; k++)
		assert_int_equal(shmap_vector_push(v, &k, NULL), SHMAP_OK);
	check_size_rules(fill_vector, v, sizeof(shmap_vector_stats_t),
			 offsetof(shmap_vector_stats_t, published), 3);
	shmap_vector_close(v);
	shmap_unlink(name, NULL);

	shmap_ring *p, *c;
	th_name(name, sizeof name, "api-ring");
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, NULL,
					 &p),
			 SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c), SHMAP_OK);
	for (uint64_t k = 0; k < 7; k++)
		assert_int_equal(shmap_ring_push(p, &k), SHMAP_OK);
	uint64_t e;
	assert_int_equal(shmap_ring_pop(c, &e), SHMAP_OK);
	check_size_rules(fill_ring, p, sizeof(shmap_ring_stats_t), offsetof(shmap_ring_stats_t, head), 7);
	check_size_rules(fill_consumer, p, sizeof(shmap_ring_consumer_stats_t),
			 offsetof(shmap_ring_consumer_stats_t, cursor), 1);
	/* every field of the full structs */
	shmap_ring_stats_t rs = { .size = sizeof(rs) };
	assert_int_equal(shmap_ring_stats(c, &rs), SHMAP_OK);
	assert_int_equal(rs.head, 7);
	assert_int_equal(rs.tail, 1);
	assert_int_equal(rs.lost, 0);
	assert_int_equal(rs.producer_pid, (uint32_t)getpid());
	assert_int_equal(rs.producer_alive, 1);
	shmap_ring_consumer_stats_t cs = { .size = sizeof(cs) };
	assert_int_equal(shmap_ring_consumer_stats(p, 0, &cs), SHMAP_OK);
	assert_int_equal(cs.pid, (uint32_t)getpid());
	assert_int_equal(cs.alive, 1);
	assert_int_equal(cs.cursor, 1);
	assert_int_equal(cs.missed, 0);
	assert_int_equal(shmap_ring_consumer_stats(p, 1, &cs), SHMAP_E_RANGE);
	shmap_ring_close(c);
	cs.cursor = 99;
	assert_int_equal(shmap_ring_consumer_stats(p, 0, &cs), SHMAP_E_NOTFOUND);
	assert_int_equal(cs.cursor, 99); /* untouched on failure */
	shmap_ring_close(p);
	shmap_unlink(name, NULL);
}

static void test_max_consumers_option(void **state)
{
	(void)state;
	char name[64];
	shmap_opts *o;
	assert_int_equal(shmap_opts_new(&o), SHMAP_OK);
	assert_int_equal(shmap_opts_set_max_consumers(NULL, 4), SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_set_max_consumers(o, SHMAP_RING_CONSUMERS_MAX + 1), SHMAP_E_INVAL);

	static const uint32_t types[] = { SHMAP_RING_SPMC, SHMAP_RING_BCAST_LOSSY, SHMAP_RING_BCAST_RELIABLE };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		for (int rec = 0; rec < 2; rec++) {
			shmap_ring *r, *r2;
			/* unset: the default */
			th_name(name, sizeof name, "api-mc");
			assert_int_equal(shmap_opts_set_max_consumers(o, 0), SHMAP_OK);
			int rc = rec ? shmap_ring_open_rec(name, SHMAP_CREATE, types[i], 64, 4096,
							   SHMAP_RING_PRODUCER, o, &r)
				     : shmap_ring_open(name, SHMAP_CREATE, types[i], 8, 64, SHMAP_RING_PRODUCER,
						       o, &r);
			assert_int_equal(rc, SHMAP_OK);
			assert_int_equal(shmap_ring_max_consumers(r), SHMAP_RING_CONSUMERS_DEFAULT);
			shmap_ring_close(r);
			shmap_unlink(name, NULL);

			/* set at create: stored; unset at open accepts it, equal is fine,
			 * another value is INCOMPAT */
			th_name(name, sizeof name, "api-mc");
			assert_int_equal(shmap_opts_set_max_consumers(o, 3), SHMAP_OK);
			rc = rec ? shmap_ring_open_rec(name, SHMAP_CREATE, types[i], 64, 4096, SHMAP_RING_PRODUCER,
						       o, &r)
				 : shmap_ring_open(name, SHMAP_CREATE, types[i], 8, 64, SHMAP_RING_PRODUCER, o, &r);
			assert_int_equal(rc, SHMAP_OK);
			assert_int_equal(shmap_ring_max_consumers(r), 3);
			rc = rec ? shmap_ring_open_rec(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, o, &r2)
				 : shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, o, &r2);
			assert_int_equal(rc, SHMAP_OK);
			shmap_ring_close(r2);
			rc = rec ? shmap_ring_open_rec(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, NULL, &r2)
				 : shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, NULL, &r2);
			assert_int_equal(rc, SHMAP_OK);
			assert_int_equal(shmap_ring_max_consumers(r2), 3);
			shmap_ring_close(r2);
			assert_int_equal(shmap_opts_set_max_consumers(o, 4), SHMAP_OK);
			rc = rec ? shmap_ring_open_rec(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, o, &r2)
				 : shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_OBSERVER, o, &r2);
			assert_int_equal(rc, SHMAP_E_INCOMPAT);
			/* 3 consumers attach, the 4th is refused */
			shmap_ring *cons[4];
			for (int k = 0; k < 4; k++) {
				rc = rec ? shmap_ring_open_rec(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL,
							       &cons[k])
					 : shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL,
							   &cons[k]);
				assert_int_equal(rc, k < 3 ? SHMAP_OK : SHMAP_E_BUSY);
			}
			for (int k = 0; k < 3; k++)
				shmap_ring_close(cons[k]);
			shmap_ring_close(r);
			shmap_unlink(name, NULL);
		}
	}

	/* SPSC: unset or 1 */
	shmap_ring *r;
	th_name(name, sizeof name, "api-mc");
	assert_int_equal(shmap_opts_set_max_consumers(o, 2), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 64, SHMAP_RING_PRODUCER, o, &r),
			 SHMAP_E_INVAL);
	assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, SHMAP_RING_SPSC, 64, 4096, SHMAP_RING_PRODUCER,
					     o, &r),
			 SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_set_max_consumers(o, 1), SHMAP_OK);
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 64, SHMAP_RING_PRODUCER, o, &r),
			 SHMAP_OK);
	assert_int_equal(shmap_ring_max_consumers(r), 1);
	shmap_ring_close(r);
	shmap_unlink(name, NULL);
	shmap_opts_free(o);
}

/* The const queries take a pointer to const (this file compiles with them). */
static void test_const_queries(void **state)
{
	(void)state;
	char name[64];
	shmap_htable *t;
	th_name(name, sizeof name, "api-const");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 64, NULL, &t), SHMAP_OK);
	const shmap_htable *ct = t;
	uint64_t k = 1, val = 0;
	uint32_t len = 0;
	assert_int_equal(shmap_htable_insert(t, &k, 8, &k, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_get(ct, &k, 8, &val, 8, &len), SHMAP_OK);
	assert_int_equal(val, 1);
	shmap_htable_cursor *cur;
	assert_int_equal(shmap_htable_cursor_new(ct, &cur), SHMAP_OK);
	shmap_htable_cursor_free(cur);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);

	shmap_ring *p;
	th_name(name, sizeof name, "api-const");
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, NULL,
					 &p),
			 SHMAP_OK);
	assert_int_equal(shmap_ring_push(p, &k), SHMAP_OK);
	const shmap_ring *cp = p;
	assert_int_equal(shmap_ring_consumers(cp), 0);
	assert_int_equal(shmap_ring_read_at(cp, 0, &val), SHMAP_OK);
	assert_int_equal(val, 1);
	shmap_ring_close(p);
	shmap_unlink(name, NULL);

	shmap_vector *v;
	th_name(name, sizeof name, "api-const");
	assert_int_equal(shmap_vector_open(name, SHMAP_CREATE, 8, 16, NULL, &v), SHMAP_OK);
	assert_int_equal(shmap_vector_push(v, &k, NULL), SHMAP_OK);
	const shmap_vector *cv = v;
	uint32_t st = 9, owner = 9;
	assert_int_equal(shmap_vector_slot_state(cv, 0, &st, &owner), SHMAP_OK);
	assert_int_equal(st, SHMAP_VECTOR_SLOT_PUBLISHED);
	shmap_vector_close(v);
	shmap_unlink(name, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_sizes),
		cmocka_unit_test(test_max_consumers_option),
		cmocka_unit_test(test_const_queries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
