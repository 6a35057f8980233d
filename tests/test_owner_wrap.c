/* SPDX-License-Identifier: MIT */
/*
 * test_owner_wrap.c - an owner id is never handed out twice.
 *
 * A process dies holding a claim (a table lock, a vector reservation); later
 * processes attach through its participant slot. Owner ids used to carry 20
 * bits of the slot's generation, so the 2^20-th attach after the dead one
 * got its id back: the table's lock_wait() then waited for itself until the
 * timeout, and the vector accepted the dead owner's reservation as its own.
 * The test-only hook shmap__seg_test_set_gen() (private test build) moves
 * the slot's generation to the step before that wrap, or to the end of the
 * id space, instead of attaching 2^20 times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <shmap/shmap.h>

#include "htable-internal.h"
#include "torture.h"

/* Test-only symbol of the private test build (src/segment.c). */
int shmap__seg_test_set_gen(struct shmap__seg *seg, uint32_t slot, uint32_t gen);

#define NAMELEN 96
#define WRAP_OLD (UINT32_C(1) << 20) /* the period of the former 20-bit field */

static char g_name[NAMELEN];

static shmap_opts *two_procs(void)
{
	shmap_opts *o;
	assert_int_equal(shmap_opts_new(&o), SHMAP_OK);
	assert_int_equal(shmap_opts_set_max_procs(o, 2), SHMAP_OK);
	assert_int_equal(shmap_opts_set_timeout_ms(o, 300), SHMAP_OK);
	return o;
}

/* The segment handle of a table or a vector: both embed it first. */
static struct shmap__seg *seg_of(void *handle)
{
	return (struct shmap__seg *)handle;
}

static uint64_t id_ack(struct shmap__seg *s)
{
	return (uint64_t)s->slot << 32 | s->owner;
}

/* ---- table: a dead lock holder's id must not come back ---- */

static int ht_die_locked(void *a)
{
	(void)a;
	/* killed holding the home lock (read once per process: set it first) */
	setenv("SHMAP_FAILPOINT", "htable.w.published", 1);
	shmap_htable *t;
	if (shmap_htable_open(g_name, SHMAP_OPEN, 0, 0, 0, NULL, &t) != SHMAP_OK)
		return 10;
	tt_ack(id_ack(seg_of(t)));
	uint64_t k = 42, val = 1;
	(void)shmap_htable_upsert(t, &k, 8, &val, 8);
	return 11;
}

static int ht_next(void *a)
{
	(void)a;
	shmap_opts *o = two_procs();
	shmap_htable *t;
	if (shmap_htable_open(g_name, SHMAP_OPEN, 0, 0, 0, o, &t) != SHMAP_OK)
		return 10;
	tt_ack(id_ack(seg_of(t)));
	uint64_t k = 42, val = 2;
	int rc = shmap_htable_upsert(t, &k, 8, &val, 8);
	shmap_htable_close(t);
	shmap_opts_free(o);
	return rc == SHMAP_RECOVERED ? 0 : 12; /* the old ids: SHMAP_E_TIMEOUT */
}

static void test_htable_lock_holder_id(void **state)
{
	(void)state;
	th_name(g_name, sizeof g_name, "own-ht");
	shmap_opts *o = two_procs();
	shmap_htable *t;
	assert_int_equal(shmap_htable_open(g_name, SHMAP_CREATE, 8, 8, 64, o, &t), SHMAP_OK);
	struct tt_proc p;
	uint64_t dead, next;
	assert_int_equal(tt_spawn(&p, ht_die_locked, NULL, 30), 0);
	assert_int_equal(tt_read_ack(&p, &dead, 10000), 0);
	int st = tt_wait(&p, 30);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* the slot's next attach is the one a 20-bit generation wraps at */
	uint32_t slot = (uint32_t)(dead >> 32);
	uint32_t gen = (uint32_t)(t->seg.parts[slot].word >> 32);
	assert_int_equal(shmap__seg_test_set_gen(&t->seg, slot, gen + WRAP_OLD - 1u), SHMAP_OK);
	assert_int_equal(tt_spawn(&p, ht_next, NULL, 30), 0);
	assert_int_equal(tt_read_ack(&p, &next, 10000), 0);
	st = tt_wait(&p, 30);
	char sb[64];
	if (!th_ok(st))
		fail_msg("next writer: %s", tt_status_str(st, sb, sizeof sb));
	assert_int_equal((uint32_t)(next >> 32), slot); /* the same slot ... */
	assert_int_not_equal((uint32_t)next, (uint32_t)dead); /* ... never the same id */
	shmap_htable_close(t);
	shmap_opts_free(o);
	assert_int_equal(shmap_unlink(g_name, NULL), SHMAP_OK);
}

/* ---- vector: a dead owner's reservation is never our own ---- */

static int vec_die_reserved(void *a)
{
	(void)a;
	shmap_vector *v;
	if (shmap_vector_open(g_name, SHMAP_OPEN, 0, 0, NULL, &v) != SHMAP_OK)
		return 10;
	uint64_t first;
	if (shmap_vector_reserve(v, 1, &first) != SHMAP_OK || first != 0)
		return 11;
	tt_ack(id_ack(seg_of(v)));
	raise(SIGKILL);
	return 12;
}

static int vec_next(void *a)
{
	(void)a;
	shmap_opts *o = two_procs();
	shmap_vector *v;
	if (shmap_vector_open(g_name, SHMAP_OPEN, 0, 0, o, &v) != SHMAP_OK)
		return 10;
	tt_ack(id_ack(seg_of(v)));
	uint64_t e = 7;
	int rc = shmap_vector_write(v, 0, &e); /* slot 0: the dead owner's */
	shmap_vector_close(v);
	shmap_opts_free(o);
	return rc == SHMAP_E_INVAL ? 0 : 12; /* the old ids: SHMAP_OK */
}

static void test_vector_reservation_id(void **state)
{
	(void)state;
	th_name(g_name, sizeof g_name, "own-vec");
	shmap_opts *o = two_procs();
	shmap_vector *v;
	assert_int_equal(shmap_vector_open(g_name, SHMAP_CREATE, 8, 16, o, &v), SHMAP_OK);
	struct tt_proc p;
	uint64_t dead, next;
	assert_int_equal(tt_spawn(&p, vec_die_reserved, NULL, 30), 0);
	assert_int_equal(tt_read_ack(&p, &dead, 10000), 0);
	int st = tt_wait(&p, 30);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	struct shmap__seg *s = seg_of(v);
	uint32_t slot = (uint32_t)(dead >> 32);
	uint32_t gen = (uint32_t)(s->parts[slot].word >> 32);
	assert_int_equal(shmap__seg_test_set_gen(s, slot, gen + WRAP_OLD - 1u), SHMAP_OK);
	assert_int_equal(tt_spawn(&p, vec_next, NULL, 30), 0);
	assert_int_equal(tt_read_ack(&p, &next, 10000), 0);
	st = tt_wait(&p, 30);
	char sb[64];
	if (!th_ok(st))
		fail_msg("next process: %s", tt_status_str(st, sb, sizeof sb));
	assert_int_equal((uint32_t)(next >> 32), slot);
	assert_int_not_equal((uint32_t)next, (uint32_t)dead);
	shmap_vector_close(v);
	shmap_opts_free(o);
	assert_int_equal(shmap_unlink(g_name, NULL), SHMAP_OK);
}

/* ---- the end of a slot's id space retires the slot ---- */

static int attach_once(void *a)
{
	(void)a;
	shmap_vector *v;
	int rc = shmap_vector_open(g_name, SHMAP_OPEN, 0, 0, NULL, &v);
	if (rc != SHMAP_OK)
		return rc == SHMAP_E_FULL ? 1 : 10;
	tt_ack(id_ack(seg_of(v)));
	shmap_vector_close(v);
	return 0;
}

static void test_retire_at_end(void **state)
{
	(void)state;
	th_name(g_name, sizeof g_name, "own-end");
	shmap_opts *o = two_procs();
	shmap_vector *v;
	assert_int_equal(shmap_vector_open(g_name, SHMAP_CREATE, 8, 16, o, &v), SHMAP_OK);
	struct shmap__seg *s = seg_of(v);
	uint32_t other = s->slot ^ 1u;
	/* one generation left in the other slot: one more attach, then none */
	assert_int_equal(shmap__seg_test_set_gen(s, other, shmap__owner_gen_max(2) - 1u), SHMAP_OK);
	struct tt_proc p;
	uint64_t id;
	assert_int_equal(tt_spawn(&p, attach_once, NULL, 30), 0);
	assert_int_equal(tt_read_ack(&p, &id, 10000), 0);
	assert_true(th_ok(tt_wait(&p, 30)));
	assert_int_equal((uint32_t)(id >> 32), other);
	assert_int_equal((uint32_t)id, shmap__owner_id(2, other, shmap__owner_gen_max(2)));
	assert_int_equal(tt_spawn(&p, attach_once, NULL, 30), 0);
	int st = tt_wait(&p, 30);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1); /* SHMAP_E_FULL: retired */
	/* our own handle is unaffected */
	uint64_t e = 1, i;
	assert_int_equal(shmap_vector_push(v, &e, &i), SHMAP_OK);
	shmap_vector_close(v);
	shmap_opts_free(o);
	assert_int_equal(shmap_unlink(g_name, NULL), SHMAP_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_htable_lock_holder_id),
		cmocka_unit_test(test_vector_reservation_id),
		cmocka_unit_test(test_retire_at_end),
	};
	return cmocka_run_group_tests_name("owner-wrap", tests, NULL, tt_teardown);
}
