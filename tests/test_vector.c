/* SPDX-License-Identifier: MIT */
/*
 * test_vector.c - the append-only vector: single-process behaviour, bad
 * input, fork()ed concurrent appenders / readers / replacers, and a
 * threaded variant (one handle, one mapping: the TSan configuration).
 *
 * Every element is self-checking (vector_rec.h): writer id, sequence and a
 * hash over all bytes, so a lost, duplicated, torn or unwritten element
 * fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <shmap/shmap.h>

#include "helpers.h"
#include "vector_rec.h"
#include "th_api.h"

static char g_name[96];

static int setup(void **state)
{
	(void)state;
	th_name(g_name, sizeof g_name, "vec");
	shmap_unlink(g_name, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	shmap_unlink(g_name, NULL);
	return 0;
}

static shmap_vector *mk_vec(uint32_t esz, uint64_t cap)
{
	shmap_vector *v = NULL;
	int rc = shmap_vector_open(g_name, SHMAP_CREATE, esz, cap, NULL, &v);
	assert_int_equal(rc, SHMAP_OK);
	assert_non_null(v);
	return v;
}

/* ------------------------------------------------------------------ */
/* unit                                                                */

/* clear is refused (NOTSUP) and changes nothing; NULL is INVAL. */
static void t_clear_refused(void **state)
{
	(void)state;
	shmap_vector *v = mk_vec(8, 16);
	uint64_t x = 7, idx, o = 0;
	assert_int_equal(shmap_vector_push(v, &x, &idx), SHMAP_OK);
	assert_int_equal(shmap_vector_clear(v), SHMAP_E_NOTSUP);
	assert_int_equal(shmap_vector_clear(NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_size(v), 1);
	assert_int_equal(shmap_vector_get(v, idx, &o), SHMAP_OK);
	assert_int_equal(o, 7);
	shmap_vector_close(v);
}

static void t_basic(void **state)
{
	(void)state;
	const uint32_t esz = 40;
	shmap_vector *v = mk_vec(esz, 100);
	uint8_t e[40], o[40];
	assert_int_equal(shmap_vector_capacity(v), 100);
	assert_int_equal(shmap_vector_elem_size(v), esz);
	assert_int_equal(shmap_vector_size(v), 0);
	assert_int_equal(shmap_vector_reserved(v), 0);
	assert_int_equal(shmap_vector_get(v, 0, o), SHMAP_E_RANGE);
	uint64_t cur = 0;
	assert_int_equal(shmap_vector_next(v, &cur, o, NULL), SHMAP_E_EMPTY);
	for (uint64_t i = 0; i < 50; i++) {
		uint64_t idx = 999;
		vr_make(e, esz, 1, 0, i);
		assert_int_equal(shmap_vector_push(v, e, &idx), SHMAP_OK);
		assert_int_equal(idx, i);
	}
	assert_int_equal(shmap_vector_size(v), 50);
	assert_int_equal(shmap_vector_reserved(v), 50);
	for (uint64_t i = 0; i < 50; i++) {
		uint64_t s;
		assert_int_equal(shmap_vector_get(v, i, o), SHMAP_OK);
		assert_int_equal(vr_check(o, esz, NULL, NULL, &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(shmap_vector_get(v, 50, o), SHMAP_E_RANGE);
	assert_int_equal(shmap_vector_get(v, 100, o), SHMAP_E_RANGE);
	assert_int_equal(shmap_vector_get(v, UINT64_MAX, o), SHMAP_E_RANGE);
	/* Iteration. */
	cur = 0;
	uint64_t n = 0, idx;
	while (shmap_vector_next(v, &cur, o, &idx) == SHMAP_OK) {
		uint64_t s;
		assert_int_equal(vr_check(o, esz, NULL, NULL, &s), 0);
		assert_int_equal(s, n);
		assert_int_equal(idx, n);
		n++;
	}
	assert_int_equal(n, 50);
	assert_int_equal(cur, 50);
	/* The cursor follows new appends. */
	vr_make(e, esz, 1, 0, 50);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	assert_int_equal(shmap_vector_next(v, &cur, o, &idx), SHMAP_OK);
	assert_int_equal(idx, 50);
	assert_int_equal(shmap_vector_next(v, &cur, o, &idx), SHMAP_E_EMPTY);
	uint64_t pub, pend, holes, problems = 99;
	assert_int_equal(th_vector_stats(v, &pub, &pend, &holes), SHMAP_OK);
	assert_int_equal(pub, 51);
	assert_int_equal(pend, 0);
	assert_int_equal(holes, 0);
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	assert_int_equal(shmap_vector_fd(v), -1);
	shmap_vector_close(v);
}

static void t_full(void **state)
{
	(void)state;
	const uint32_t esz = 24;
	shmap_vector *v = mk_vec(esz, 10);
	uint8_t e[24];
	uint64_t first;
	assert_int_equal(shmap_vector_reserve(v, 11, &first), SHMAP_E_FULL);
	assert_int_equal(shmap_vector_reserved(v), 0);
	for (uint64_t i = 0; i < 9; i++) {
		vr_make(e, esz, 2, 0, i);
		assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	}
	assert_int_equal(shmap_vector_reserve(v, 2, &first), SHMAP_E_FULL);
	assert_int_equal(shmap_vector_reserved(v), 9);
	assert_int_equal(shmap_vector_size(v), 9);
	vr_make(e, esz, 2, 0, 9);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_E_FULL);
	assert_int_equal(shmap_vector_reserve(v, 1, &first), SHMAP_E_FULL);
	assert_int_equal(shmap_vector_size(v), 10);
	assert_int_equal(shmap_vector_reserved(v), 10);
	uint8_t o[24];
	uint64_t s;
	assert_int_equal(shmap_vector_get(v, 9, o), SHMAP_OK);
	assert_int_equal(vr_check(o, esz, NULL, NULL, &s), 0);
	assert_int_equal(s, 9);
	assert_int_equal(shmap_vector_get(v, 10, o), SHMAP_E_RANGE);
	shmap_vector_close(v);
}

static void t_reserve_publish(void **state)
{
	(void)state;
	const uint32_t esz = 32;
	shmap_vector *v = mk_vec(esz, 64);
	uint8_t e[32], o[32];
	uint64_t first, idx, s;
	vr_make(e, esz, 3, 0, 100);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	assert_int_equal(shmap_vector_reserve(v, 5, &first), SHMAP_OK);
	assert_int_equal(first, 1);
	assert_int_equal(shmap_vector_reserved(v), 6);
	assert_int_equal(shmap_vector_size(v), 1);
	for (uint64_t i = 1; i < 6; i++)
		assert_int_equal(shmap_vector_get(v, i, o), SHMAP_E_NOTREADY);
	uint32_t st, ow;
	assert_int_equal(shmap_vector_slot_state(v, 3, &st, &ow), SHMAP_OK);
	assert_int_equal(st, SHMAP_VECTOR_SLOT_RESERVED);
	assert_int_not_equal(ow, 0);
	/* A push after the reservation lands beyond it and is readable by index... */
	vr_make(e, esz, 3, 0, 106);
	assert_int_equal(shmap_vector_push(v, e, &idx), SHMAP_OK);
	assert_int_equal(idx, 6);
	assert_int_equal(shmap_vector_get(v, 6, o), SHMAP_OK);
	/* ...but the watermark waits for the reservation. */
	assert_int_equal(shmap_vector_size(v), 1);
	uint64_t cur = 0;
	assert_int_equal(shmap_vector_next(v, &cur, o, &idx), SHMAP_OK);
	assert_int_equal(shmap_vector_next(v, &cur, o, &idx), SHMAP_E_NOTREADY);
	assert_int_equal(cur, 1);
	/* Write: copy and in place. */
	for (uint64_t i = first; i < first + 4; i++) {
		vr_make(e, esz, 3, 0, 100 + i);
		assert_int_equal(shmap_vector_write(v, i, e), SHMAP_OK);
	}
	void *p = NULL;
	assert_int_equal(shmap_vector_slot_ptr(v, first + 4, &p), SHMAP_OK);
	vr_make(p, esz, 3, 0, 105);
	/* Publish out of order, in pieces. */
	assert_int_equal(shmap_vector_publish(v, 3, 3), SHMAP_OK);
	assert_int_equal(shmap_vector_size(v), 1);
	assert_int_equal(shmap_vector_get(v, 4, o), SHMAP_OK);
	assert_int_equal(vr_check(o, esz, NULL, NULL, &s), 0);
	assert_int_equal(s, 104);
	assert_int_equal(shmap_vector_get(v, 2, o), SHMAP_E_NOTREADY);
	/* Publishing again, or a range that is not ours, fails and changes nothing. */
	assert_int_equal(shmap_vector_publish(v, 3, 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_publish(v, 0, 3), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_get(v, 1, o), SHMAP_E_NOTREADY);
	assert_int_equal(shmap_vector_write(v, 3, e), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_write(v, 7, e), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_slot_ptr(v, 0, &p), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_publish(v, 1, 2), SHMAP_OK);
	assert_int_equal(shmap_vector_size(v), 7);
	cur = 1;
	for (uint64_t i = 1; i < 7; i++) {
		assert_int_equal(shmap_vector_next(v, &cur, o, &idx), SHMAP_OK);
		assert_int_equal(idx, i);
		assert_int_equal(vr_check(o, esz, NULL, NULL, &s), 0);
		assert_int_equal(s, 100 + i);
	}
	assert_int_equal(shmap_vector_next(v, &cur, o, &idx), SHMAP_E_EMPTY);
	/* A reserved slot published without a write reads as zeros (never garbage). */
	assert_int_equal(shmap_vector_reserve(v, 1, &first), SHMAP_OK);
	assert_int_equal(shmap_vector_publish(v, first, 1), SHMAP_OK);
	assert_int_equal(shmap_vector_get(v, first, o), SHMAP_OK);
	for (uint32_t k = 0; k < esz; k++)
		assert_int_equal(o[k], 0);
	uint64_t problems;
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
	shmap_vector_close(v);
}

static void t_bad_input(void **state)
{
	(void)state;
	shmap_vector *v = NULL;
	uint8_t e[64] = { 0 }, o[64];
	uint64_t x;
	/* open */
	assert_int_equal(shmap_vector_open(NULL, SHMAP_CREATE, 8, 8, NULL, &v), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_CREATE, 8, 8, NULL, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_CREATE, 0, 8, NULL, &v), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_CREATE, 8, 0, NULL, &v), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN_OR_CREATE, 0, 8, NULL, &v), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_CREATE, SHMAP_VECTOR_ELEM_MAX + 1, 8, NULL, &v),
			 SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_CREATE, 8, SHMAP_VECTOR_CAPACITY_MAX + 1, NULL, &v),
			 SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_CREATE, SHMAP_VECTOR_ELEM_MAX,
					   SHMAP_VECTOR_CAPACITY_MAX, NULL, &v), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, 0, 8, 8, NULL, &v), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, 77, 8, 8, NULL, &v), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open("bad/name", SHMAP_CREATE, 8, 8, NULL, &v), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN, 8, 8, NULL, &v), SHMAP_E_NOENT);
	assert_null(v);
	/* NULL handles */
	shmap_vector_close(NULL);
	assert_int_equal(shmap_vector_reattach(NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_fd(NULL), -1);
	assert_int_equal(shmap_vector_push(NULL, e, &x), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_reserve(NULL, 1, &x), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_write(NULL, 0, e), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_publish(NULL, 0, 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_get(NULL, 0, o), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_replace(NULL, 0, e), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_next(NULL, &x, o, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_size(NULL), 0);
	assert_int_equal(shmap_vector_reserved(NULL), 0);
	assert_int_equal(shmap_vector_capacity(NULL), 0);
	assert_int_equal(shmap_vector_elem_size(NULL), 0);
	assert_int_equal(shmap_vector_holes(NULL), 0);
	assert_int_equal(shmap_vector_recover(NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_check(NULL, 0, &x), SHMAP_E_INVAL);
	assert_int_equal(th_vector_stats(NULL, &x, &x, &x), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_slot_state(NULL, 0, NULL, NULL), SHMAP_E_INVAL);

	v = mk_vec(16, 8);
	assert_int_equal(shmap_vector_push(v, NULL, &x), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_reserve(v, 0, &x), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_reserve(v, 1, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_reserve(v, (uint64_t)SHMAP_VECTOR_RESERVE_MAX + 1, &x), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_reserve(v, UINT64_MAX, &x), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_reserve(v, 9, &x), SHMAP_E_FULL);
	assert_int_equal(shmap_vector_publish(v, 0, 0), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_publish(v, 8, 1), SHMAP_E_RANGE);
	assert_int_equal(shmap_vector_publish(v, 2, UINT64_MAX), SHMAP_E_RANGE);
	assert_int_equal(shmap_vector_publish(v, 0, 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_write(v, 0, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_write(v, 0, e), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_write(v, 8, e), SHMAP_E_RANGE);
	assert_int_equal(shmap_vector_slot_ptr(v, 0, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_get(v, 0, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_replace(v, 0, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_replace(v, 0, e), SHMAP_E_RANGE);
	assert_int_equal(shmap_vector_replace(v, 8, e), SHMAP_E_RANGE);
	assert_int_equal(shmap_vector_next(v, NULL, o, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_next(v, &x, NULL, NULL), SHMAP_E_INVAL);
	x = UINT64_MAX;
	assert_int_equal(shmap_vector_next(v, &x, o, NULL), SHMAP_E_EMPTY);
	assert_int_equal(shmap_vector_check(v, 0x80, &x), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_slot_state(v, 8, NULL, NULL), SHMAP_E_RANGE);
	uint32_t st = 9;
	assert_int_equal(shmap_vector_slot_state(v, 7, &st, NULL), SHMAP_OK);
	assert_int_equal(st, SHMAP_VECTOR_SLOT_FREE);
	assert_int_equal(shmap_vector_reserved(v), 0);
	assert_int_equal(shmap_vector_size(v), 0);

	/* Existing name, other parameters, other kinds. */
	shmap_vector *w = NULL;
	assert_int_equal(shmap_vector_open(g_name, SHMAP_CREATE, 16, 8, NULL, &w), SHMAP_E_EXIST);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN, 17, 8, NULL, &w), SHMAP_E_INCOMPAT);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN, 16, 9, NULL, &w), SHMAP_E_INCOMPAT);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN_OR_CREATE, 16, 9, NULL, &w), SHMAP_E_INCOMPAT);
	assert_null(w);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN, 0, 0, NULL, &w), SHMAP_OK);
	assert_int_equal(shmap_vector_elem_size(w), 16);
	assert_int_equal(shmap_vector_capacity(w), 8);
	shmap_vector_close(w);
	w = NULL;
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN_OR_CREATE, 16, 8, NULL, &w), SHMAP_OK);
	shmap_vector_close(w);
	shmap_vector_close(v);
}

static void t_two_handles(void **state)
{
	(void)state;
	const uint32_t esz = 24;
	shmap_vector *a = mk_vec(esz, 32), *b = NULL;
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN, esz, 32, NULL, &b), SHMAP_OK);
	uint8_t e[24], o[24];
	uint64_t first, s;
	vr_make(e, esz, 4, 0, 0);
	assert_int_equal(shmap_vector_push(a, e, NULL), SHMAP_OK);
	assert_int_equal(shmap_vector_get(b, 0, o), SHMAP_OK);
	assert_int_equal(vr_check(o, esz, NULL, NULL, &s), 0);
	/* b cannot write or publish a's reservation. */
	assert_int_equal(shmap_vector_reserve(a, 2, &first), SHMAP_OK);
	assert_int_equal(shmap_vector_write(b, first, e), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_publish(b, first, 2), SHMAP_E_INVAL);
	assert_int_equal(shmap_vector_get(b, first, o), SHMAP_E_NOTREADY);
	assert_int_equal(shmap_vector_recover(b), SHMAP_E_NOTREADY);
	assert_int_equal(shmap_vector_publish(a, first, 2), SHMAP_OK);
	assert_int_equal(shmap_vector_size(b), 3);
	shmap_vector_close(a);
	shmap_vector_close(b);
}

/* A handle closed with an unpublished reservation: its slots become holes. */
static void t_closed_writer_hole(void **state)
{
	(void)state;
	const uint32_t esz = 24;
	shmap_vector *a = mk_vec(esz, 64), *b = NULL, *c = NULL;
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN, 0, 0, NULL, &b), SHMAP_OK);
	assert_int_equal(shmap_vector_open(g_name, SHMAP_OPEN, 0, 0, NULL, &c), SHMAP_OK);
	uint8_t e[24], o[24];
	uint64_t first, first2, idx, s, problems;
	vr_make(e, esz, 5, 0, 0);
	assert_int_equal(shmap_vector_push(a, e, NULL), SHMAP_OK);
	assert_int_equal(shmap_vector_reserve(b, 3, &first), SHMAP_OK);   /* 1..3, dies */
	assert_int_equal(shmap_vector_reserve(c, 1, &first2), SHMAP_OK);  /* 4, dies */
	for (uint64_t i = 0; i < 3; i++) {
		vr_make(e, esz, 5, 0, 5 + i);
		assert_int_equal(shmap_vector_push(a, e, NULL), SHMAP_OK); /* 5..7: never blocked */
	}
	assert_int_equal(shmap_vector_write(b, first, e), SHMAP_OK);
	shmap_vector_close(b);
	shmap_vector_close(c);
	assert_int_equal(shmap_vector_size(a), 1);
	/* One problem per slot held by a dead writer; nothing repaired without the flag. */
	assert_int_equal(shmap_vector_check(a, 0, &problems), SHMAP_E_CORRUPT);
	assert_int_equal(problems, 4);
	assert_int_equal(shmap_vector_holes(a), 0);
	/* get of a dead writer's slot recovers that reservation. */
	assert_int_equal(shmap_vector_get(a, 2, o), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_vector_holes(a), 3);
	assert_int_equal(shmap_vector_get(a, 1, o), SHMAP_E_NOTFOUND);
	uint32_t st;
	assert_int_equal(shmap_vector_slot_state(a, 1, &st, NULL), SHMAP_OK);
	assert_int_equal(st, SHMAP_VECTOR_SLOT_HOLE);
	assert_int_equal(shmap_vector_size(a), 4);
	/* Iteration skips holes and recovers the next dead reservation itself. */
	uint64_t cur = 0, n = 0;
	int rc;
	while ((rc = shmap_vector_next(a, &cur, o, &idx)) == SHMAP_OK) {
		assert_int_equal(vr_check(o, esz, NULL, NULL, &s), 0);
		assert_int_equal(s, idx);
		n++;
	}
	assert_int_equal(rc, SHMAP_E_EMPTY);
	assert_int_equal(n, 4);
	assert_int_equal(shmap_vector_holes(a), 4);
	assert_int_equal(shmap_vector_size(a), 8);
	uint64_t pub, pend, holes;
	assert_int_equal(th_vector_stats(a, &pub, &pend, &holes), SHMAP_OK);
	assert_int_equal(pub, 4);
	assert_int_equal(pend, 0);
	assert_int_equal(holes, 4);
	assert_int_equal(shmap_vector_replace(a, 2, e), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_vector_check(a, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	shmap_vector_close(a);
}

static void t_replace(void **state)
{
	(void)state;
	const uint32_t esz = 48;
	shmap_vector *v = mk_vec(esz, 16);
	uint8_t e[48], o[48];
	uint64_t first, s;
	uint32_t tag;
	for (uint64_t i = 0; i < 4; i++) {
		vr_make(e, esz, 6, 0, i);
		assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	}
	for (uint32_t r = 1; r <= 1000; r++) {
		vr_make(e, esz, 6, r, 2);
		assert_int_equal(shmap_vector_replace(v, 2, e), SHMAP_OK);
		assert_int_equal(shmap_vector_get(v, 2, o), SHMAP_OK);
		assert_int_equal(vr_check(o, esz, NULL, &tag, &s), 0);
		assert_int_equal(tag, r);
		assert_int_equal(s, 2);
	}
	/* Neighbours untouched. */
	for (uint64_t i = 0; i < 4; i++) {
		if (i == 2)
			continue;
		assert_int_equal(shmap_vector_get(v, i, o), SHMAP_OK);
		assert_int_equal(vr_check(o, esz, NULL, &tag, &s), 0);
		assert_int_equal(tag, 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(shmap_vector_replace(v, 4, e), SHMAP_E_RANGE);
	assert_int_equal(shmap_vector_reserve(v, 1, &first), SHMAP_OK);
	assert_int_equal(shmap_vector_replace(v, first, e), SHMAP_E_NOTREADY);
	assert_int_equal(shmap_vector_publish(v, first, 1), SHMAP_OK);
	assert_int_equal(shmap_vector_replace(v, first, e), SHMAP_OK);
	uint64_t problems;
	assert_int_equal(shmap_vector_check(v, SHMAP_CHECK_REPAIR, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	shmap_vector_close(v);
}

/* Element sizes that are not multiples of 8, down to 1 byte. */
static void t_odd_sizes(void **state)
{
	(void)state;
	static const uint32_t sizes[] = { 1, 3, 7, 9, 13, 24, 25, 4095, 4097 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		const uint32_t esz = sizes[k];
		shmap_vector *v = mk_vec(esz, 33);
		uint8_t *e = malloc(esz), *o = malloc(esz + 16);
		assert_non_null(e);
		assert_non_null(o);
		for (uint64_t i = 0; i < 33; i++) {
			for (uint32_t b = 0; b < esz; b++)
				e[b] = (uint8_t)(i * 17 + b * 3 + 1);
			assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
		}
		assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_E_FULL);
		for (uint64_t i = 0; i < 33; i++) {
			memset(o, 0xAB, esz + 16);
			if (i % 3 == 0) {
				for (uint32_t b = 0; b < esz; b++)
					e[b] = (uint8_t)(i * 17 + b * 3 + 2);
				assert_int_equal(shmap_vector_replace(v, i, e), SHMAP_OK);
			}
			assert_int_equal(shmap_vector_get(v, i, o), SHMAP_OK);
			for (uint32_t b = 0; b < esz; b++)
				assert_int_equal(o[b], (uint8_t)(i * 17 + b * 3 + (i % 3 == 0 ? 2 : 1)));
			for (uint32_t b = esz; b < esz + 16; b++)
				assert_int_equal(o[b], 0xAB); /* never writes past elem_size */
		}
		free(e);
		free(o);
		shmap_vector_close(v);
		shmap_unlink(g_name, NULL);
	}
}

/* memfd backend: the share fd opens the same vector. */
static void t_memfd(void **state)
{
	(void)state;
	shmap_opts *op = NULL;
	assert_int_equal(shmap_opts_new(&op), SHMAP_OK);
	assert_int_equal(shmap_opts_set_backend(op, SHMAP_BACKEND_MEMFD), SHMAP_OK);
	shmap_vector *a = NULL, *b = NULL;
	assert_int_equal(shmap_vector_open("vec", SHMAP_CREATE, 24, 8, op, &a), SHMAP_OK);
	int fd = shmap_vector_fd(a);
	assert_true(fd >= 0);
	shmap_opts *ob = NULL;
	assert_int_equal(shmap_opts_new(&ob), SHMAP_OK);
	assert_int_equal(shmap_opts_set_backend(ob, SHMAP_BACKEND_MEMFD), SHMAP_OK);
	assert_int_equal(shmap_opts_set_fd(ob, fd), SHMAP_OK);
	assert_int_equal(shmap_vector_open(NULL, SHMAP_OPEN, 24, 8, ob, &b), SHMAP_OK);
	uint8_t e[24], o[24];
	vr_make(e, 24, 7, 0, 1);
	assert_int_equal(shmap_vector_push(a, e, NULL), SHMAP_OK);
	assert_int_equal(shmap_vector_get(b, 0, o), SHMAP_OK);
	assert_memory_equal(e, o, 24);
	shmap_vector_close(b);
	shmap_vector_close(a);
	shmap_opts_free(op);
	shmap_opts_free(ob);
}

/* ------------------------------------------------------------------ */
/* fork: concurrent appenders                                          */

#define MP_WRITERS 4
#define MP_PER_WRITER 20000u
#define MP_ESZ 40u

struct mp_arg {
	uint32_t id;
	uint32_t count;
	uint32_t batch;   /* 0: push; else reserve/publish batches of this size */
};

static int mp_appender(void *a)
{
	struct mp_arg *arg = a;
	shmap_vector *v = NULL;
	if (shmap_vector_open(g_name, SHMAP_OPEN, MP_ESZ, 0, NULL, &v) != SHMAP_OK)
		return 10;
	uint8_t e[MP_ESZ];
	uint64_t seq = 0;
	while (seq < arg->count) {
		if (arg->batch == 0 || (seq & 1)) {
			vr_make(e, MP_ESZ, arg->id, 0, seq);
			if (shmap_vector_push(v, e, NULL) != SHMAP_OK)
				return 11;
			seq++;
			continue;
		}
		uint64_t n = arg->batch, first;
		if (n > arg->count - seq)
			n = arg->count - seq;
		if (shmap_vector_reserve(v, n, &first) != SHMAP_OK)
			return 12;
		for (uint64_t k = 0; k < n; k++) {
			vr_make(e, MP_ESZ, arg->id, 0, seq + k);
			if (shmap_vector_write(v, first + k, e) != SHMAP_OK)
				return 13;
		}
		if (shmap_vector_publish(v, first, n) != SHMAP_OK)
			return 14;
		seq += n;
	}
	shmap_vector_close(v);
	return 0;
}

/* Reader racing the appenders: everything it can read is intact, in per-writer order. */
static int mp_reader(void *a)
{
	struct mp_arg *arg = a;
	shmap_vector *v = NULL;
	if (shmap_vector_open(g_name, SHMAP_OPEN, MP_ESZ, 0, NULL, &v) != SHMAP_OK)
		return 20;
	uint8_t o[MP_ESZ];
	uint64_t last[MP_WRITERS + 1];
	memset(last, 0xff, sizeof last);
	uint64_t cur = 0, total = (uint64_t)arg->count, seen = 0, idx;
	uint32_t rnd = arg->id * 2654435761u;
	double end = th_now() + 60;
	while (seen < total && th_now() < end) {
		int rc = shmap_vector_next(v, &cur, o, &idx);
		if (rc == SHMAP_OK) {
			uint32_t w;
			uint64_t s;
			if (vr_check(o, MP_ESZ, &w, NULL, &s) != 0)
				return 21; /* torn or unwritten element */
			if (w == 0 || w > MP_WRITERS)
				return 22;
			if (last[w] != UINT64_MAX && s <= last[w])
				return 23; /* out of order or duplicate */
			last[w] = s;
			seen++;
		} else if (rc != SHMAP_E_EMPTY && rc != SHMAP_E_NOTREADY) {
			return 24;
		}
		/* Random gets anywhere below the reserve counter. */
		uint64_t r = shmap_vector_reserved(v);
		if (r) {
			rnd = rnd * 1103515245u + 12345u;
			/* Mostly the newest slots (in flight), sometimes anywhere. */
			uint64_t back = (rnd >> 8) % 8u;
			uint64_t i = (rnd & 3u) ? (back < r ? r - 1 - back : 0) : (rnd >> 4) % r;
			rc = shmap_vector_get(v, i, o);
			if (rc == SHMAP_OK) {
				if (vr_check(o, MP_ESZ, NULL, NULL, NULL) != 0)
					return 25;
			} else if (rc != SHMAP_E_NOTREADY) {
				return 26;
			}
		}
	}
	shmap_vector_close(v);
	return seen == total ? 0 : 27;
}

static void verify_all(shmap_vector *v, uint32_t writers, uint32_t per_writer)
{
	uint64_t total = (uint64_t)writers * per_writer;
	assert_int_equal(shmap_vector_size(v), total);
	assert_int_equal(shmap_vector_reserved(v), total);
	uint8_t *seen = calloc(total, 1);
	assert_non_null(seen);
	uint8_t o[MP_ESZ];
	for (uint64_t i = 0; i < total; i++) {
		uint32_t w = 0;
		uint64_t s = 0;
		assert_int_equal(shmap_vector_get(v, i, o), SHMAP_OK);
		assert_int_equal(vr_check(o, MP_ESZ, &w, NULL, &s), 0);
		assert_true(w >= 1 && w <= writers);
		assert_true(s < per_writer);
		uint64_t k = (uint64_t)(w - 1) * per_writer + s;
		assert_int_equal(seen[k], 0);
		seen[k] = 1;
	}
	free(seen);
	uint64_t problems;
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
}

static void t_mp_append(void **state)
{
	(void)state;
	shmap_vector *v = mk_vec(MP_ESZ, (uint64_t)MP_WRITERS * MP_PER_WRITER);
	struct mp_arg args[MP_WRITERS + 2];
	pid_t pids[MP_WRITERS + 2];
	for (uint32_t i = 0; i < MP_WRITERS; i++) {
		args[i] = (struct mp_arg){ i + 1, MP_PER_WRITER, (i & 1) ? 7 : 0 };
		pids[i] = th_fork(mp_appender, &args[i], 120);
		assert_true(pids[i] > 0);
	}
	for (uint32_t i = 0; i < 2; i++) {
		args[MP_WRITERS + i] = (struct mp_arg){ 100 + i, MP_WRITERS * MP_PER_WRITER, 0 };
		pids[MP_WRITERS + i] = th_fork(mp_reader, &args[MP_WRITERS + i], 120);
		assert_true(pids[MP_WRITERS + i] > 0);
	}
	for (uint32_t i = 0; i < MP_WRITERS + 2; i++) {
		int st = th_wait(pids[i], 120);
		if (!th_ok(st))
			fail_msg("child %u: status 0x%x (exit %d)", i, st, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	verify_all(v, MP_WRITERS, MP_PER_WRITER);
	shmap_vector_close(v);
}

/* ------------------------------------------------------------------ */
/* fork: replace under concurrent readers                              */

#define RP_ESZ 256u
#define RP_SLOTS 8u

static int rp_replacer(void *a)
{
	struct mp_arg *arg = a;
	shmap_vector *v = NULL;
	if (shmap_vector_open(g_name, SHMAP_OPEN, RP_ESZ, 0, NULL, &v) != SHMAP_OK)
		return 30;
	uint8_t e[RP_ESZ];
	for (uint32_t k = 0; k < arg->count; k++) {
		uint64_t i = k % RP_SLOTS;
		vr_make(e, RP_ESZ, arg->id, k + 1, i);
		int rc = shmap_vector_replace(v, i, e);
		if (rc != SHMAP_OK)
			return 31;
	}
	shmap_vector_close(v);
	return 0;
}

static int rp_reader(void *a)
{
	struct mp_arg *arg = a;
	shmap_vector *v = NULL;
	if (shmap_vector_open(g_name, SHMAP_OPEN, RP_ESZ, 0, NULL, &v) != SHMAP_OK)
		return 40;
	uint8_t o[RP_ESZ];
	uint32_t lasttag[RP_SLOTS][4];
	memset(lasttag, 0, sizeof lasttag);
	for (uint32_t k = 0; k < arg->count; k++) {
		uint64_t i = k % RP_SLOTS, s;
		uint32_t w, t;
		int rc = shmap_vector_get(v, i, o);
		if (rc == SHMAP_E_BUSY)
			continue;
		if (rc != SHMAP_OK)
			return 41;
		if (vr_check(o, RP_ESZ, &w, &t, &s) != 0)
			return 42; /* torn */
		if (s != i || w > 3)
			return 43;
		if (t < lasttag[i][w])
			return 44; /* went back in time for one replacer */
		lasttag[i][w] = t;
	}
	shmap_vector_close(v);
	return 0;
}

static void t_mp_replace(void **state)
{
	(void)state;
	shmap_vector *v = mk_vec(RP_ESZ, RP_SLOTS);
	uint8_t e[RP_ESZ];
	for (uint64_t i = 0; i < RP_SLOTS; i++) {
		vr_make(e, RP_ESZ, 0, 0, i);
		assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	}
	struct mp_arg args[4] = { { 1, 100000, 0 }, { 2, 100000, 0 }, { 10, 300000, 0 }, { 11, 300000, 0 } };
	pid_t pids[4];
	for (int i = 0; i < 4; i++) {
		pids[i] = th_fork(i < 2 ? rp_replacer : rp_reader, &args[i], 120);
		assert_true(pids[i] > 0);
	}
	for (int i = 0; i < 4; i++) {
		int st = th_wait(pids[i], 120);
		if (!th_ok(st))
			fail_msg("child %d: status 0x%x (exit %d)", i, st, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	uint8_t o[RP_ESZ];
	for (uint64_t i = 0; i < RP_SLOTS; i++) {
		assert_int_equal(shmap_vector_get(v, i, o), SHMAP_OK);
		assert_int_equal(vr_check(o, RP_ESZ, NULL, NULL, NULL), 0);
	}
	uint64_t problems;
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
	shmap_vector_close(v);
}

/* fork() after open: the child must reattach before using the handle. */
static void t_fork_reattach(void **state)
{
	(void)state;
	shmap_vector *v = mk_vec(24, 16);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		uint8_t e[24];
		vr_make(e, 24, 9, 0, 1);
		if (shmap_vector_push(v, e, NULL) != SHMAP_E_FORKED)
			_exit(1);
		if (shmap_vector_reattach(v) != SHMAP_OK)
			_exit(2);
		if (shmap_vector_push(v, e, NULL) != SHMAP_OK)
			_exit(3);
		shmap_vector_close(v);
		_exit(0);
	}
	assert_true(th_ok(th_wait(pid, 30)));
	assert_int_equal(shmap_vector_size(v), 1);
	shmap_vector_close(v);
}

/* ------------------------------------------------------------------ */
/* threads: one handle shared by 8 threads (the TSan configuration)    */

#define TH_APPENDERS 4
#define TH_PER 100000u /* operations per thread (scenario 25) */
#define TH_ESZ 40u

struct th_arg {
	shmap_vector *v;
	uint32_t id;
	int result;
};

static void *th_appender(void *a)
{
	struct th_arg *t = a;
	uint8_t e[TH_ESZ];
	for (uint64_t s = 0; s < TH_PER;) {
		if (s % 3 == 2) {
			uint64_t first, n = TH_PER - s < 5 ? TH_PER - s : 5;
			if (shmap_vector_reserve(t->v, n, &first) != SHMAP_OK) {
				t->result = 1;
				return NULL;
			}
			for (uint64_t k = 0; k < n; k++) {
				vr_make(e, TH_ESZ, t->id, 0, s + k);
				if (shmap_vector_write(t->v, first + k, e) != SHMAP_OK) {
					t->result = 2;
					return NULL;
				}
			}
			if (shmap_vector_publish(t->v, first, n) != SHMAP_OK) {
				t->result = 3;
				return NULL;
			}
			s += n;
		} else {
			vr_make(e, TH_ESZ, t->id, 0, s);
			if (shmap_vector_push(t->v, e, NULL) != SHMAP_OK) {
				t->result = 4;
				return NULL;
			}
			s++;
		}
	}
	return NULL;
}

static void *th_reader(void *a)
{
	struct th_arg *t = a;
	uint8_t o[TH_ESZ];
	uint64_t cur = 0, seen = 0, idx;
	double end = th_now() + 100;
	while (seen < (uint64_t)TH_APPENDERS * TH_PER && th_now() < end) {
		int rc = shmap_vector_next(t->v, &cur, o, &idx);
		if (rc == SHMAP_OK) {
			uint32_t w, tag;
			if (vr_check(o, TH_ESZ, &w, &tag, NULL) != 0) {
				t->result = 5;
				return NULL;
			}
			seen++;
		} else if (rc != SHMAP_E_EMPTY && rc != SHMAP_E_NOTREADY && rc != SHMAP_E_BUSY) {
			t->result = 6;
			return NULL;
		}
	}
	if (seen != (uint64_t)TH_APPENDERS * TH_PER)
		t->result = 7;
	return NULL;
}

/* Replaces elements 0..63 (pushed before the threads start) with the same identity, new tag. */
static void *th_replacer(void *a)
{
	struct th_arg *t = a;
	uint8_t e[TH_ESZ], o[TH_ESZ];
	for (uint32_t k = 1; k <= TH_PER; k++) {
		uint64_t i = (k * 7u + t->id) % 64u;
		vr_make(e, TH_ESZ, 99, k, i);
		if (shmap_vector_replace(t->v, i, e) != SHMAP_OK) {
			t->result = 8;
			return NULL;
		}
		int rc = shmap_vector_get(t->v, (i + 1) % 64u, o);
		if (rc == SHMAP_OK) {
			uint64_t s;
			uint32_t w;
			if (vr_check(o, TH_ESZ, &w, NULL, &s) != 0 || w != 99 || s != (i + 1) % 64u) {
				t->result = 9;
				return NULL;
			}
		} else if (rc != SHMAP_E_BUSY) {
			t->result = 10;
			return NULL;
		}
	}
	return NULL;
}

static void t_threads(void **state)
{
	(void)state;
	const uint64_t total = (uint64_t)TH_APPENDERS * TH_PER;
	shmap_vector *v = mk_vec(TH_ESZ, 64 + total);
	uint8_t e[TH_ESZ];
	for (uint64_t i = 0; i < 64; i++) {
		vr_make(e, TH_ESZ, 99, 0, i);
		assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	}
	pthread_t th[8];
	struct th_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (struct th_arg){ v, (uint32_t)i + 1, 0 };
		void *(*fn)(void *) = i < TH_APPENDERS ? th_appender : (i < 6 ? th_reader : th_replacer);
		assert_int_equal(pthread_create(&th[i], NULL, fn, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		if (args[i].result)
			fail_msg("thread %d failed with %d", i, args[i].result);
	}
	assert_int_equal(shmap_vector_size(v), 64 + total);
	uint8_t *seen = calloc(total, 1);
	assert_non_null(seen);
	uint8_t o[TH_ESZ];
	for (uint64_t i = 64; i < 64 + total; i++) {
		uint32_t w = 0;
		uint64_t s = 0;
		assert_int_equal(shmap_vector_get(v, i, o), SHMAP_OK);
		assert_int_equal(vr_check(o, TH_ESZ, &w, NULL, &s), 0);
		assert_true(w >= 1 && w <= TH_APPENDERS && s < TH_PER);
		uint64_t k = (uint64_t)(w - 1) * TH_PER + s;
		assert_int_equal(seen[k], 0);
		seen[k] = 1;
	}
	free(seen);
	uint64_t problems;
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
	shmap_vector_close(v);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test_setup_teardown(t_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(t_full, setup, teardown),
		cmocka_unit_test_setup_teardown(t_reserve_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(t_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(t_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(t_closed_writer_hole, setup, teardown),
		cmocka_unit_test_setup_teardown(t_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(t_odd_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(t_memfd, setup, teardown),
		cmocka_unit_test_setup_teardown(t_clear_refused, setup, teardown),
	};
	const struct CMUnitTest mp[] = {
		cmocka_unit_test_setup_teardown(t_mp_append, setup, teardown),
		cmocka_unit_test_setup_teardown(t_mp_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(t_fork_reattach, setup, teardown),
	};
	const struct CMUnitTest thr[] = {
		cmocka_unit_test_setup_teardown(t_threads, setup, teardown),
	};
	/* argv[1]: "unit", "mp" or "threads" (default: all). */
	const char *which = argc > 1 ? argv[1] : "all";
	int fails = 0;
	if (!strcmp(which, "all") || !strcmp(which, "unit"))
		fails += cmocka_run_group_tests_name("vector-unit", unit, NULL, NULL);
	if (!strcmp(which, "all") || !strcmp(which, "mp"))
		fails += cmocka_run_group_tests_name("vector-multiproc", mp, NULL, NULL);
	if (!strcmp(which, "all") || !strcmp(which, "threads"))
		fails += cmocka_run_group_tests_name("vector-threads", thr, NULL, NULL);
	return fails ? 1 : 0;
}
