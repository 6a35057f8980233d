/* SPDX-License-Identifier: MIT */
/*
 * test_ring_ops.c - every ring type's table of operations (white-box).
 *
 * ring.c reaches a ring's algorithm only through the handle's struct
 * ring_ops and never asks for the type, so a table with a hole, or a
 * property flag that does not match the type, would crash or misbehave in
 * whatever path first needs it. Here each of the eight tables (four fixed-
 * slot types, four record types) is checked against the type it reports,
 * and driven through one push, pop, zero-copy round and check, with the
 * other family's calls refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmap/shmap.h>

#include "ring-internal.h"

static const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, SHMAP_RING_BCAST_LOSSY,
				  SHMAP_RING_BCAST_RELIABLE };

static void ring_name(char *buf, size_t len, const char *what, uint32_t type)
{
	snprintf(buf, len, "/shmap-test-ops-%s-%u-%d", what, type, (int)getpid());
}

/* The table matches the type: which calls it has, which properties. */
static void check_table(const shmap_ring *r, uint32_t type, int records)
{
	const struct ring_ops *o = r->ops;
	assert_non_null(o);
	assert_int_equal(o->type, type);
	assert_int_equal(shmap_ring_type(r), type);
	assert_int_equal(!!(o->flags & RING_F_RECORDS), records);
	/* one family of data calls, never both */
	int fixed = o->push_n && o->pop_n && o->reserve && o->commit && o->peek && o->release && o->read_at;
	int none_fixed = !o->push_n && !o->pop_n && !o->reserve && !o->commit && !o->peek && !o->release &&
			 !o->read_at;
	int rec = o->rec_push_n && o->rec_pop_n && o->rec_reserve && o->rec_commit && o->rec_peek &&
		  o->rec_release;
	int none_rec = !o->rec_push_n && !o->rec_pop_n && !o->rec_reserve && !o->rec_commit &&
		       !o->rec_peek && !o->rec_release;
	assert_true(records ? rec && none_fixed : fixed && none_rec);
	/* what every type needs */
	assert_non_null(o->repair_head);
	assert_non_null(o->ready);
	assert_non_null(o->size);
	assert_non_null(o->low);
	assert_non_null(o->check);
	/* consumer role: one word (SPSC) or records */
	int word = type == SHMAP_RING_SPSC;
	assert_int_equal(!!(o->flags & RING_F_CONS_WORD), word);
	assert_int_equal(o->repair_tail != NULL, word);
	assert_int_equal(o->join != NULL, !word);
	assert_int_equal(o->free_dead != NULL, !word);
	/* claims and their reclaim: SPMC */
	int claims = type == SHMAP_RING_SPMC;
	assert_int_equal(!!(o->flags & RING_F_CLAIMS), claims);
	assert_int_equal(o->reap_all != NULL, claims);
	assert_int_equal(o->reap_rec != NULL, claims);
	assert_int_equal(o->abandon != NULL, claims);
	/* a dead peer can block the producer: SPMC and reliable broadcast */
	assert_int_equal(o->maint != NULL, type == SHMAP_RING_SPMC || type == SHMAP_RING_BCAST_RELIABLE);
	assert_int_equal(!!(o->flags & RING_F_LOSSY), type == SHMAP_RING_BCAST_LOSSY);
}

static void test_fixed_tables(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		char name[96];
		shmap_ring *p = NULL, *c = NULL;
		ring_name(name, sizeof name, "fixed", types[i]);
		(void)shmap_unlink(name, NULL);
		assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, types[i], 8, 16, SHMAP_RING_PRODUCER,
						 NULL, &p),
				 SHMAP_OK);
		check_table(p, types[i], 0);
		/* only a fixed-slot SPSC handle takes the inline paths */
		assert_int_equal(p->fast_role, types[i] == SHMAP_RING_SPSC ? SHMAP_RING_PRODUCER : 0u);
		assert_int_equal(shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL, &c),
				 SHMAP_OK);
		assert_ptr_equal(c->ops, p->ops);
		uint64_t v = 0x1234 + i, out = 0;
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_OK);
		assert_int_equal(shmap_ring_size(c), 1);
		assert_int_equal(shmap_ring_pop(c, &out), SHMAP_OK);
		assert_int_equal(out, v);
		assert_int_equal(shmap_ring_pop(c, &out), SHMAP_E_EMPTY);
		/* zero-copy through the table */
		void *w;
		const void *rd;
		uint32_t got = 0;
		assert_int_equal(shmap_ring_reserve(p, 1, &w, &got), SHMAP_OK);
		assert_int_equal(got, 1);
		memcpy(w, &v, 8);
		assert_int_equal(shmap_ring_commit(p, 1), SHMAP_OK);
		assert_int_equal(shmap_ring_peek(c, 1, &rd, &got), SHMAP_OK);
		memcpy(&out, rd, 8);
		assert_int_equal(out, v);
		assert_int_equal(shmap_ring_release(c, 1), SHMAP_OK);
		/* the record calls refuse a fixed-slot ring */
		assert_int_equal(shmap_ring_push_rec(p, &v, 8), SHMAP_E_NOTSUP);
		uint64_t problems = 1;
		assert_int_equal(shmap_ring_check(c, 0, &problems), SHMAP_OK);
		assert_int_equal(problems, 0);
		shmap_ring_close(c);
		shmap_ring_close(p);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
}

static void test_record_tables(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		char name[96];
		shmap_ring *p = NULL, *c = NULL;
		ring_name(name, sizeof name, "rec", types[i]);
		(void)shmap_unlink(name, NULL);
		assert_int_equal(shmap_ring_open_rec(name, SHMAP_CREATE, types[i], 100, 4096,
						     SHMAP_RING_PRODUCER, NULL, &p),
				 SHMAP_OK);
		check_table(p, types[i], 1);
		assert_int_equal(p->fast_role, 0u); /* never the inline fixed-slot paths */
		assert_int_equal(shmap_ring_open_rec(name, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, NULL,
						     &c),
				 SHMAP_OK);
		assert_ptr_equal(c->ops, p->ops);
		const char msg[] = "a record";
		char out[128];
		uint32_t len = 0;
		assert_int_equal(shmap_ring_push_rec(p, msg, sizeof msg), SHMAP_OK);
		assert_int_equal(shmap_ring_pop_rec(c, out, sizeof out, &len), SHMAP_OK);
		assert_int_equal(len, sizeof msg);
		assert_memory_equal(out, msg, sizeof msg);
		assert_int_equal(shmap_ring_pop_rec(c, out, sizeof out, &len), SHMAP_E_EMPTY);
		void *w;
		const void *rd;
		assert_int_equal(shmap_ring_reserve_rec(p, sizeof msg, &w), SHMAP_OK);
		memcpy(w, msg, sizeof msg);
		assert_int_equal(shmap_ring_commit_rec(p, sizeof msg), SHMAP_OK);
		assert_int_equal(shmap_ring_peek_rec(c, &rd, &len), SHMAP_OK);
		assert_int_equal(len, sizeof msg);
		assert_memory_equal(rd, msg, sizeof msg);
		assert_int_equal(shmap_ring_release_rec(c), SHMAP_OK);
		/* the fixed-slot calls refuse a record ring */
		uint64_t v = 1;
		assert_int_equal(shmap_ring_push(p, &v), SHMAP_E_NOTSUP);
		assert_int_equal(shmap_ring_pop(c, &v), SHMAP_E_NOTSUP);
		assert_int_equal(shmap_ring_read_at(c, 0, &v), SHMAP_E_NOTSUP);
		uint64_t problems = 1;
		assert_int_equal(shmap_ring_check(c, 0, &problems), SHMAP_OK);
		assert_int_equal(problems, 0);
		shmap_ring_close(c);
		shmap_ring_close(p);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_tables),
		cmocka_unit_test(test_record_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
