/* SPDX-License-Identifier: MIT */
/*
 * test_vector_mp.c - the vector under SIGKILL and hostile peers
 * (scenarios 18 and 21). Linked against the failpoint copy
 * of the library.
 *
 *  t_kill_failpoints   an appender/replacer is SIGKILLed at every step of
 *                      push, reserve, publish and replace (failpoints),
 *                      repeatedly; the survivors are never blocked, every
 *                      acknowledged element is intact, the dead writer's
 *                      slots become holes, the checker finds nothing left.
 *  t_kill_recoverer    a process recovering a dead reservation is killed
 *                      in the middle of the recovery; the next one finishes.
 *  t_kill_random       appenders SIGKILLed at random instants while a reader
 *                      races them; at the end: every acked element intact,
 *                      every other slot intact or a hole, holes <= kills.
 *  t_hostile_fields    each shared field (reserve, watermark, hole count,
 *                      slot words) set to each hostile value while a child
 *                      runs every operation: all calls end with a defined
 *                      code, bounded in time, no fault.
 *
 * Sizes: CI by default; SHMAP_SOAK=1 (meson -Dsoak=true) for the long runs,
 * SHMAP_TT_ITERS=N overrides the iteration counts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <shmap/shmap.h>

#include "segment-internal.h"
#include "torture.h"
#include "vector_rec.h"
#include "th_api.h"

#define ESZ 32u

static char g_name[96];

static int setup(void **state)
{
	(void)state;
	th_name(g_name, sizeof g_name, "vecmp");
	shmap_unlink(g_name, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	shmap_unlink(g_name, NULL);
	return 0;
}

static shmap_vector *open_vec(uint32_t oflags, uint64_t cap, uint32_t timeout_ms)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != SHMAP_OK)
		return NULL;
	shmap_opts_set_timeout_ms(o, timeout_ms);
	shmap_vector *v = NULL;
	int rc = shmap_vector_open(g_name, oflags, ESZ, cap, o, &v);
	shmap_opts_free(o);
	return rc >= 0 ? v : NULL;
}

/* Child wrapper: arm SHMAP_FAILPOINT, then run. */
struct fp_run {
	const char *fp;
	unsigned nth;
	uint32_t writer;
};

/* ------------------------------------------------------------------ */
/* kill at failpoints                                                  */

#define ACK_REPLACE (UINT64_C(1) << 63)

/*
 * The victim: a fixed mix of push, reserve+publish (one piece), reserve +
 * publish (two pieces) and replace(0), acknowledging each completed step.
 */
static int fp_child(void *a)
{
	struct fp_run *r = a;
	if (r->fp) {
		char buf[128];
		snprintf(buf, sizeof buf, "%s:%u", r->fp, r->nth);
		setenv("SHMAP_FAILPOINT", buf, 1);
	}
	shmap_vector *v = open_vec(SHMAP_OPEN, 0, 2000);
	if (!v)
		return 10;
	uint8_t e[ESZ];
	uint64_t seq = 0, idx, first;
	for (uint32_t it = 0; it < 8; it++) {
		switch (it % 4) {
		case 0:
			vr_make(e, ESZ, r->writer, 0, seq++);
			if (shmap_vector_push(v, e, &idx) != SHMAP_OK)
				return 11;
			tt_ack(idx);
			break;
		case 1:
		case 2:
			if (shmap_vector_reserve(v, 3, &first) != SHMAP_OK)
				return 12;
			for (uint64_t k = 0; k < 3; k++) {
				vr_make(e, ESZ, r->writer, 0, seq++);
				if (shmap_vector_write(v, first + k, e) != SHMAP_OK)
					return 13;
			}
			if (it % 4 == 1) {
				if (shmap_vector_publish(v, first, 3) != SHMAP_OK)
					return 14;
			} else {
				if (shmap_vector_publish(v, first, 1) != SHMAP_OK ||
				    shmap_vector_publish(v, first + 1, 2) != SHMAP_OK)
					return 15;
			}
			for (uint64_t k = 0; k < 3; k++)
				tt_ack(first + k);
			break;
		case 3:
			vr_make(e, ESZ, r->writer, it, 0);
			if (shmap_vector_replace(v, 0, e) < 0)
				return 16;
			tt_ack(ACK_REPLACE);
			break;
		}
	}
	shmap_vector_close(v);
	return 0;
}

struct fp_case {
	const char *fp;
	unsigned max_nth;
	int min_holes, max_holes; /* holes the kill may leave */
	int replace;              /* killed inside replace */
};

static const struct fp_case fp_cases[] = {
	{ "vector.reserve.claimed", 6, 1, 3, 0 },
	{ "vector.reserve.bumped", 6, 1, 3, 0 },
	{ "vector.reserve.marked", 4, 3, 3, 0 },
	{ "vector.push.half", 2, 1, 1, 0 },
	{ "vector.push.written", 2, 1, 1, 0 },
	{ "vector.push.published", 2, 0, 0, 0 },
	{ "vector.publish.partial", 2, 1, 2, 0 },
	{ "vector.publish.published", 6, 0, 2, 0 },
	{ "vector.replace.claimed", 2, 0, 0, 1 },
	{ "vector.replace.half", 2, 0, 0, 1 },
	{ "vector.replace.written", 2, 0, 0, 1 },
};

/* Every slot below `reserved`: an intact element or a hole. Returns the hole count. */
static uint64_t verify_slots(shmap_vector *v)
{
	uint64_t r = shmap_vector_reserved(v), holes = 0;
	uint8_t o[ESZ];
	for (uint64_t i = 0; i < r; i++) {
		int rc = shmap_vector_get(v, i, o);
		if (rc == SHMAP_E_NOTFOUND) {
			holes++;
			continue;
		}
		if (rc != SHMAP_OK)
			fail_msg("slot %lu: %s", (unsigned long)i, shmap_errname(rc));
		if (vr_check(o, ESZ, NULL, NULL, NULL) != 0)
			fail_msg("slot %lu: torn or unwritten element", (unsigned long)i);
	}
	return holes;
}

static void t_kill_failpoints(void **state)
{
	(void)state;
	const unsigned iters = tt_iters(100, 500);
	const size_t ncases = sizeof fp_cases / sizeof fp_cases[0];
	uint64_t cap = (uint64_t)iters * ncases * 40 + 64;
	shmap_vector *v = open_vec(SHMAP_CREATE, cap, 2000);
	assert_non_null(v);
	uint8_t e[ESZ], o[ESZ];
	vr_make(e, ESZ, 0, 0, 0);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK); /* slot 0: replace target */
	uint64_t rnd = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	printf("# seed %lu, %u runs per failpoint\n", (unsigned long)rnd, iters);
	uint32_t writer = 1;
	unsigned kills = 0, runs = 0;
	double max_push_ms = 0;
	for (size_t c = 0; c < ncases; c++) {
		const struct fp_case *fc = &fp_cases[c];
		for (unsigned it = 0; it < iters; it++, runs++) {
			struct fp_run run = { fc->fp, 1 + (unsigned)(tt_rand(&rnd) % fc->max_nth), writer++ };
			struct tt_proc p;
			assert_int_equal(tt_spawn(&p, fp_child, &run, 20), 0);
			uint64_t acked[64];
			unsigned nack = 0;
			int replaced = 0;
			uint64_t a;
			while (tt_read_ack(&p, &a, 20000) == 0) {
				if (a == ACK_REPLACE)
					replaced++;
				else if (nack < 64)
					acked[nack++] = a;
			}
			int st = tt_wait(&p, 20);
			char sb[64];
			int killed = tt_killed_by(st, SIGKILL);
			if (!killed && !th_ok(st))
				fail_msg("%s:%u: child %s", fc->fp, run.nth, tt_status_str(st, sb, sizeof sb));
			kills += killed;
			/* Survivors are never blocked: a push right now completes at once. */
			uint64_t h0 = shmap_vector_holes(v);
			double t0 = th_now();
			vr_make(e, ESZ, 0, 1, runs);
			assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
			double dt = (th_now() - t0) * 1e3;
			if (dt > max_push_ms)
				max_push_ms = dt;
			/* Acknowledged elements are intact and where they were acked. */
			for (unsigned k = 0; k < nack; k++) {
				uint32_t w;
				assert_int_equal(shmap_vector_get(v, acked[k], o), SHMAP_OK);
				assert_int_equal(vr_check(o, ESZ, &w, NULL, NULL), 0);
				assert_int_equal(w, run.writer);
			}
			/* Dead writer's reservation: holes after recovery, nothing pending. */
			int rrc = shmap_vector_recover(v);
			assert_true(rrc == SHMAP_OK || rrc == SHMAP_RECOVERED);
			uint64_t pub, pend, nh;
			assert_int_equal(th_vector_stats(v, &pub, &pend, &nh), SHMAP_OK);
			assert_int_equal(pend, 0);
			assert_int_equal(shmap_vector_size(v), shmap_vector_reserved(v));
			uint64_t dh = shmap_vector_holes(v) - h0;
			if (killed) {
				if ((int)dh < fc->min_holes || (int)dh > fc->max_holes)
					fail_msg("%s:%u: %lu holes, expected %d..%d", fc->fp, run.nth,
						 (unsigned long)dh, fc->min_holes, fc->max_holes);
			} else {
				assert_int_equal(dh, 0);
			}
			/* Slot 0: old or new value, never torn; a dead replacer's claim is taken over. */
			assert_int_equal(shmap_vector_get(v, 0, o), SHMAP_OK);
			assert_int_equal(vr_check(o, ESZ, NULL, NULL, NULL), 0);
			vr_make(e, ESZ, 0, 2, 0);
			int prc = shmap_vector_replace(v, 0, e);
			if (killed && fc->replace)
				assert_int_equal(prc, SHMAP_RECOVERED);
			else
				assert_int_equal(prc, SHMAP_OK);
			assert_int_equal(shmap_vector_get(v, 0, o), SHMAP_OK);
			assert_memory_equal(o, e, ESZ);
			uint64_t problems = 99;
			assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
			assert_int_equal(problems, 0);
		}
	}
	assert_int_equal(verify_slots(v), shmap_vector_holes(v));
	printf("# %u runs, %u killed, %lu holes, max survivor push %.3f ms\n", runs, kills,
	       (unsigned long)shmap_vector_holes(v), max_push_ms);
	assert_true(kills >= runs / 2);
	shmap_vector_close(v);
}

/* A recoverer killed in the middle of recovering a dead reservation. */
static int recoverer_child(void *a)
{
	struct fp_run *r = a;
	char buf[128];
	snprintf(buf, sizeof buf, "%s:%u", r->fp, r->nth);
	setenv("SHMAP_FAILPOINT", buf, 1);
	shmap_vector *v = open_vec(SHMAP_OPEN, 0, 2000);
	if (!v)
		return 10;
	uint8_t o[ESZ];
	int rc = shmap_vector_get(v, r->writer, o); /* writer field: the index to read */
	shmap_vector_close(v);
	return rc == SHMAP_E_NOTFOUND ? 0 : 11;
}

/* Reserve n slots from a handle that then dies (closes), return the first index. */
static uint64_t dead_reservation(uint64_t n, int mark_all)
{
	shmap_vector *d = open_vec(SHMAP_OPEN, 0, 2000);
	assert_non_null(d);
	uint64_t first;
	assert_int_equal(shmap_vector_reserve(d, n, &first), SHMAP_OK);
	(void)mark_all;
	shmap_vector_close(d);
	return first;
}

static void t_kill_recoverer(void **state)
{
	(void)state;
	const unsigned iters = tt_iters(25, 250);
	shmap_vector *v = open_vec(SHMAP_CREATE, 4096, 2000);
	assert_non_null(v);
	uint8_t e[ESZ];
	uint64_t rnd = (uint64_t)time(NULL) * 7u + 1u;
	unsigned kills = 0;
	for (unsigned it = 0; it < iters; it++) {
		for (int which = 0; which < 2; which++) {
			vr_make(e, ESZ, 0, 0, it);
			assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
			uint64_t h0 = shmap_vector_holes(v);
			uint64_t first = dead_reservation(6, 1);
			struct fp_run run = { which ? "vector.recover.slot" : "vector.recover.bumped",
					      which ? 1 + (unsigned)(tt_rand(&rnd) % 5) : 1,
					      (uint32_t)(first + 1 + tt_rand(&rnd) % 5) };
			struct tt_proc p;
			assert_int_equal(tt_spawn(&p, recoverer_child, &run, 20), 0);
			int st = tt_wait(&p, 20);
			char sb[64];
			if (!tt_killed_by(st, SIGKILL))
				fail_msg("%s:%u: recoverer %s", run.fp, run.nth, tt_status_str(st, sb, sizeof sb));
			kills++;
			/* Appenders go on; the next recovery completes the job. */
			assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
			int rc = shmap_vector_recover(v);
			assert_true(rc == SHMAP_RECOVERED || rc == SHMAP_OK);
			assert_int_equal(shmap_vector_holes(v) - h0, 6);
			assert_int_equal(shmap_vector_size(v), shmap_vector_reserved(v));
			uint64_t problems;
			assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
		}
	}
	verify_slots(v);
	printf("# %u recoverers killed mid-recovery\n", kills);
	shmap_vector_close(v);
}

/* The checker repairs what no reader has touched yet. */
static void t_check_repair(void **state)
{
	(void)state;
	shmap_vector *v = open_vec(SHMAP_CREATE, 256, 2000);
	assert_non_null(v);
	uint8_t e[ESZ];
	vr_make(e, ESZ, 0, 0, 0);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	(void)dead_reservation(4, 1);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	(void)dead_reservation(1, 1);
	/* A replacer killed while holding slot 0. */
	struct fp_run run = { "vector.replace.half", 1, 77 };
	struct tt_proc p;
	assert_int_equal(tt_spawn(&p, fp_child, &run, 20), 0);
	uint64_t a;
	while (tt_read_ack(&p, &a, 20000) == 0)
		;
	int st = tt_wait(&p, 20);
	assert_true(tt_killed_by(st, SIGKILL));
	uint32_t sst, own;
	assert_int_equal(shmap_vector_slot_state(v, 0, &sst, &own), SHMAP_OK);
	assert_int_equal(sst, SHMAP_VECTOR_SLOT_REPLACING);
	uint64_t problems = 0;
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_E_CORRUPT);
	assert_true(problems >= 3);
	assert_int_equal(shmap_vector_check(v, SHMAP_CHECK_REPAIR, &problems), SHMAP_RECOVERED);
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	assert_int_equal(shmap_vector_slot_state(v, 0, &sst, &own), SHMAP_OK);
	assert_int_equal(sst, SHMAP_VECTOR_SLOT_PUBLISHED);
	assert_int_equal(shmap_vector_size(v), shmap_vector_reserved(v));
	assert_int_equal(verify_slots(v), shmap_vector_holes(v));
	shmap_vector_close(v);
}

/* ------------------------------------------------------------------ */
/* random kills                                                        */

struct rk_arg {
	uint32_t writer;
	uint32_t flags;
};

static int rk_appender(void *a)
{
	struct rk_arg *r = a;
	shmap_vector *v = open_vec(SHMAP_OPEN, 0, 2000);
	if (!v)
		return 10;
	uint8_t e[ESZ];
	uint64_t seq = 0, idx, first;
	for (uint32_t ops = 0;; ops++) {
		if ((ops & 7) == 7)
			usleep(100); /* leave the CPU to the parent, so kills land at many instants */
		if ((seq & 3) != 3) {
			vr_make(e, ESZ, r->writer, 0, seq++);
			int rc = shmap_vector_push(v, e, &idx);
			if (rc == SHMAP_E_FULL)
				break;
			if (rc != SHMAP_OK)
				return 11;
			tt_ack(idx);
		} else {
			int rc = shmap_vector_reserve(v, 4, &first);
			if (rc == SHMAP_E_FULL)
				break;
			if (rc != SHMAP_OK)
				return 12;
			for (uint64_t k = 0; k < 4; k++) {
				vr_make(e, ESZ, r->writer, 0, seq++);
				if (shmap_vector_write(v, first + k, e) != SHMAP_OK)
					return 13;
			}
			/* Widen the reserve..publish window so random kills land in it too. */
			for (volatile int z = 0; z < 3000; z++)
				;
			if (shmap_vector_publish(v, first, 4) != SHMAP_OK)
				return 14;
			for (uint64_t k = 0; k < 4; k++)
				tt_ack(first + k);
		}
	}
	shmap_vector_close(v);
	return 0;
}

/* Reader racing the appenders and the kills. */
static int rk_reader(void *a)
{
	(void)a;
	shmap_vector *v = open_vec(SHMAP_OPEN, 0, 2000);
	if (!v)
		return 20;
	uint8_t o[ESZ];
	uint64_t cur = 0, idx, n = 0;
	double end = th_now() + 60;
	while (th_now() < end) {
		int rc = shmap_vector_next(v, &cur, o, &idx);
		if (rc == SHMAP_OK) {
			if (vr_check(o, ESZ, NULL, NULL, NULL) != 0)
				return 21;
			n++;
		} else if (rc == SHMAP_E_EMPTY) {
			if (cur >= shmap_vector_capacity(v))
				break;
			usleep(20);
		} else if (rc == SHMAP_E_NOTREADY) {
			usleep(20);
		} else {
			return 22;
		}
	}
	uint64_t cap = shmap_vector_capacity(v);
	shmap_vector_close(v);
	return cur >= cap || n > 0 ? 0 : 23;
}

#define RK_PROCS 3

/* Record acks (index -> writer id) from one appender: timeout_ms 0 = what is there now. */
static void drain(struct tt_proc *p, uint32_t *acks, uint64_t cap, uint64_t *nacks, uint32_t writer,
		  int timeout_ms)
{
	uint64_t a;
	if (p->ack_rd < 0)
		return;
	while (tt_read_ack(p, &a, timeout_ms) == 0) {
		if (a < cap) {
			acks[a] = writer;
			(*nacks)++;
		}
	}
}

/* One round: RK_PROCS appenders and a reader on a fresh vector, `kills` random SIGKILLs. */
static void kill_random_round(unsigned target_kills, uint64_t *rnd, unsigned *kills_out,
			      uint64_t *acked_out, uint64_t *holes_out)
{
	const uint64_t cap = (uint64_t)target_kills * 3000 + 10000;
	shmap_unlink(g_name, NULL);
	shmap_vector *v = open_vec(SHMAP_CREATE, cap, 2000);
	assert_non_null(v);
	uint32_t *acks = calloc(cap, sizeof(uint32_t));
	assert_non_null(acks);
	uint64_t nacks = 0;
	struct tt_proc rd;
	assert_int_equal(tt_spawn(&rd, rk_reader, NULL, 120), 0);
	struct tt_proc ap[RK_PROCS];
	struct rk_arg args[RK_PROCS];
	uint32_t writer = 1;
	for (int i = 0; i < RK_PROCS; i++) {
		args[i] = (struct rk_arg){ writer++, 0 };
		assert_int_equal(tt_spawn(&ap[i], rk_appender, &args[i], 120), 0);
	}
	unsigned kills = 0;
	double t_end = th_now() + 90;
	while (kills < target_kills && th_now() < t_end) {
		usleep(200 + (useconds_t)(tt_rand(rnd) % 2000));
		int i = (int)(tt_rand(rnd) % RK_PROCS);
		for (int k = 0; k < RK_PROCS; k++)
			drain(&ap[k], acks, cap, &nacks, args[k].writer, 0);
		kill(ap[i].pid, SIGKILL);
		drain(&ap[i], acks, cap, &nacks, args[i].writer, 5000); /* until EOF */
		int st = tt_wait(&ap[i], 10);
		char sb[64];
		if (!tt_killed_by(st, SIGKILL) && !th_ok(st))
			fail_msg("appender: %s", tt_status_str(st, sb, sizeof sb));
		kills++;
		if (shmap_vector_reserved(v) + 1000 >= cap)
			break;
		args[i].writer = writer++;
		assert_int_equal(tt_spawn(&ap[i], rk_appender, &args[i], 120), 0);
	}
	/* Stop the rest (kills too), then fill the vector so the reader can finish. */
	for (int i = 0; i < RK_PROCS; i++) {
		if (ap[i].ack_rd < 0)
			continue;
		kill(ap[i].pid, SIGKILL);
		drain(&ap[i], acks, cap, &nacks, args[i].writer, 5000);
		tt_wait(&ap[i], 10);
	}
	uint8_t e[ESZ], o[ESZ];
	vr_make(e, ESZ, 0, 0, 0);
	while (shmap_vector_push(v, e, NULL) == SHMAP_OK)
		;
	int rc = shmap_vector_recover(v);
	assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
	int st = tt_wait(&rd, 60);
	char sb[64];
	if (!th_ok(st))
		fail_msg("reader: %s", tt_status_str(st, sb, sizeof sb));
	/* Every acked element is intact at its index, written by the process that acked it. */
	for (uint64_t i = 0; i < cap; i++) {
		if (!acks[i])
			continue;
		uint32_t w;
		assert_int_equal(shmap_vector_get(v, i, o), SHMAP_OK);
		assert_int_equal(vr_check(o, ESZ, &w, NULL, NULL), 0);
		assert_int_equal(w, acks[i]);
	}
	uint64_t holes = verify_slots(v);
	assert_int_equal(holes, shmap_vector_holes(v));
	assert_true(holes <= (uint64_t)(kills + RK_PROCS) * 4);
	assert_int_equal(shmap_vector_size(v), cap);
	uint64_t problems;
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
	free(acks);
	shmap_vector_close(v);
	*kills_out += kills;
	*acked_out += nacks;
	*holes_out += holes;
}

static void t_kill_random(void **state)
{
	(void)state;
	const unsigned rounds = tt_iters(1, 8);
	uint64_t rnd = (uint64_t)time(NULL) * 31u + (uint64_t)getpid();
	printf("# seed %lu, %u round(s) of 400 kills\n", (unsigned long)rnd, rounds);
	unsigned kills = 0;
	uint64_t acked = 0, holes = 0;
	for (unsigned r = 0; r < rounds; r++)
		kill_random_round(400, &rnd, &kills, &acked, &holes);
	printf("# %u kills, %lu acked elements intact, %lu holes, 0 torn\n", kills,
	       (unsigned long)acked, (unsigned long)holes);
}

/* ------------------------------------------------------------------ */
/* hostile peer: targeted field corruption                             */

/* White-box layout of the data region (src/vector.c): ctrl words, then slots. */
#define OFF_RESERVE 0u
#define OFF_COMMITTED 64u
#define OFF_HOLES 128u
#define OFF_SLOTS 256u
#define STRIDE (16u + ESZ) /* meta, ver, buf0 */

static volatile uint64_t *map_word(void **base, size_t *len, uint64_t off_in_data)
{
	char path[160];
	snprintf(path, sizeof path, "/dev/shm%s", g_name);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return NULL;
	struct stat sb;
	fstat(fd, &sb);
	void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return NULL;
	const struct shmap__hdr *h = m;
	*base = m;
	*len = (size_t)sb.st_size;
	return (volatile uint64_t *)(void *)((uint8_t *)m + h->data_off + off_in_data);
}

static int allowed(int rc)
{
	switch (rc) {
	case SHMAP_OK: case SHMAP_RECOVERED: case SHMAP_E_FULL: case SHMAP_E_EMPTY:
	case SHMAP_E_RANGE: case SHMAP_E_NOTREADY: case SHMAP_E_NOTFOUND: case SHMAP_E_BUSY:
	case SHMAP_E_TIMEOUT: case SHMAP_E_CORRUPT: case SHMAP_E_INVAL:
		return 1;
	default:
		return 0;
	}
}

#define HCAP 64u

/* Runs every operation; exit 0 if every result is a defined code and every call was quick. */
static int hostile_child(void *a)
{
	(void)a;
	shmap_vector *v = open_vec(SHMAP_OPEN, 0, 200);
	if (!v)
		return 10;
	uint8_t e[ESZ], o[ESZ];
	vr_make(e, ESZ, 5, 0, 0);
	double worst = 0;
	int bad = 0;
#define CALL(expr) do { \
		double t0_ = th_now(); \
		int rc_ = (expr); \
		double dt_ = th_now() - t0_; \
		if (dt_ > worst) worst = dt_; \
		if (!allowed(rc_)) { fprintf(stderr, "%s -> %s\n", #expr, shmap_errname(rc_)); bad = 1; } \
	} while (0)
	uint64_t x, first;
	CALL(shmap_vector_push(v, e, &x));
	CALL(shmap_vector_reserve(v, 3, &first));
	for (uint64_t i = 0; i < HCAP + 2; i++) {
		CALL(shmap_vector_get(v, i, o));
		CALL(shmap_vector_slot_state(v, i < HCAP ? i : 0, NULL, NULL));
	}
	uint64_t cur = 0;
	for (int k = 0; k < 2 * (int)HCAP; k++) {
		int rc;
		double t0 = th_now();
		rc = shmap_vector_next(v, &cur, o, &x);
		if (th_now() - t0 > worst)
			worst = th_now() - t0;
		if (!allowed(rc)) {
			bad = 1;
			break;
		}
		if (rc == SHMAP_OK && vr_check(o, ESZ, NULL, NULL, NULL) != 0) {
			/* The peer may destroy data: only the *bounds* matter here. */
		}
		if (rc != SHMAP_OK)
			break;
	}
	CALL(shmap_vector_replace(v, 0, e));
	CALL(shmap_vector_replace(v, 1, e));
	CALL(shmap_vector_recover(v));
	CALL(th_vector_stats(v, &x, &x, &x));
	CALL(shmap_vector_check(v, 0, &x));
	CALL(shmap_vector_check(v, SHMAP_CHECK_REPAIR, &x));
	CALL(shmap_vector_push(v, e, &x));
	(void)shmap_vector_size(v);
	(void)shmap_vector_reserved(v);
	shmap_vector_close(v);
#undef CALL
	/* The handle's timeout is 200 ms; the rest is slack for a loaded CI machine. */
	if (worst > 1.5)
		fprintf(stderr, "slowest call %.1f ms\n", worst * 1e3);
	tt_ack((uint64_t)(worst * 1e9));
	return bad ? 1 : (worst > 1.5 ? 2 : 0);
}

static void t_hostile_fields(void **state)
{
	(void)state;
	const uint64_t vals[] = { 0, 1, HCAP - 1, HCAP, HCAP + 1, UINT64_C(1) << 31, UINT64_C(1) << 32,
				  UINT64_C(1) << 63, UINT64_MAX,
				  /* structured slot words: HEAD(owner 1, huge n), RESV/REPL(dead owner), bad state */
				  (UINT64_C(1) << 32) | (UINT64_C(0x1fffffff) << 3) | 1u,
				  (UINT64_C(0xffffffff) << 32) | 2u, (UINT64_C(3) << 32) | (7u << 3) | 4u, 6u, 7u };
	const size_t nvals = sizeof vals / sizeof vals[0];
	/* fields: ctrl words, then slot words 0, 5 (published), 10 (dead reservation), 12 (free), 63 */
	const uint64_t fields[] = { OFF_RESERVE, OFF_COMMITTED, OFF_HOLES,
				    OFF_SLOTS + 0 * STRIDE, OFF_SLOTS + 5 * STRIDE, OFF_SLOTS + 10 * STRIDE,
				    OFF_SLOTS + 12 * STRIDE, OFF_SLOTS + (HCAP - 1) * STRIDE };
	const size_t nfields = sizeof fields / sizeof fields[0];
	uint64_t worst_ns = 0;
	unsigned runs = 0;
	for (size_t f = 0; f < nfields; f++) {
		for (size_t k = 0; k < nvals; k++) {
			shmap_vector *v = open_vec(SHMAP_CREATE, HCAP, 200);
			assert_non_null(v);
			uint8_t e[ESZ];
			for (uint64_t i = 0; i < 10; i++) {
				vr_make(e, ESZ, 1, 0, i);
				assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
			}
			(void)dead_reservation(2, 1); /* slots 10, 11 */
			void *base;
			size_t len;
			volatile uint64_t *w = map_word(&base, &len, fields[f]);
			assert_non_null(w);
			*w = vals[k];
			struct tt_proc p;
			assert_int_equal(tt_spawn(&p, hostile_child, NULL, 20), 0);
			uint64_t ns = 0;
			(void)tt_read_ack(&p, &ns, 20000);
			int st = tt_wait(&p, 20);
			char sb[64];
			if (!th_ok(st))
				fail_msg("field +%lu = 0x%lx: child %s", (unsigned long)fields[f],
					 (unsigned long)vals[k], tt_status_str(st, sb, sizeof sb));
			if (ns > worst_ns)
				worst_ns = ns;
			/* And this process too (it holds a handle validated before the corruption). */
			uint8_t o[ESZ];
			uint64_t x;
			for (uint64_t i = 0; i < HCAP; i++)
				assert_true(allowed(shmap_vector_get(v, i, o)));
			assert_true(allowed(shmap_vector_check(v, SHMAP_CHECK_REPAIR, &x)));
			munmap(base, len);
			shmap_vector_close(v);
			shmap_unlink(g_name, NULL);
			runs++;
		}
	}
	printf("# %u field x value runs, slowest call %.3f ms\n", runs, (double)worst_ns / 1e6);
}

/* Long scans are bounded by the handle's timeout (a peer claims a huge range is reserved). */
static void t_hostile_long_scan(void **state)
{
	(void)state;
	const uint64_t cap = UINT64_C(1) << 21;
	shmap_vector *v = open_vec(SHMAP_CREATE, cap, 1);
	assert_non_null(v);
	uint8_t e[ESZ], o[ESZ];
	vr_make(e, ESZ, 1, 0, 0);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	void *base;
	size_t len;
	volatile uint64_t *w = map_word(&base, &len, OFF_RESERVE);
	assert_non_null(w);
	*w = cap; /* every slot "reserved", none claimed */
	double t0 = th_now();
	int rc = shmap_vector_get(v, cap - 1, o);
	double dt = th_now() - t0;
	assert_true(rc == SHMAP_E_TIMEOUT || rc == SHMAP_E_CORRUPT);
	assert_true(dt < 1.5); /* timeout 1 ms, plus slack for a loaded machine */
	/* A huge HEAD written by the peer: recovery stops at the timeout, never runs away. */
	volatile uint64_t *h = map_word(&base, &len, OFF_SLOTS + 1 * STRIDE);
	*h = (UINT64_C(0xfff) << 32) | (UINT64_C(0x1fffffff) << 3) | 1u; /* HEAD(dead, 2^29-1) */
	t0 = th_now();
	rc = shmap_vector_get(v, 1, o);
	dt = th_now() - t0;
	printf("# long scans: %s after %.2f ms\n", shmap_errname(rc), dt * 1e3);
	assert_true(rc == SHMAP_E_TIMEOUT || rc == SHMAP_E_CORRUPT || rc == SHMAP_E_NOTFOUND);
	assert_true(dt < 1.5);
	munmap(base, len);
	shmap_vector_close(v);
}

/* A dead writer's large reservation (2^18 slots) is recovered as a whole. */
static void t_large_dead_reservation(void **state)
{
	(void)state;
	const uint64_t n = UINT64_C(1) << 18;
	shmap_vector *v = open_vec(SHMAP_CREATE, n + 16, 2000);
	assert_non_null(v);
	uint8_t e[ESZ], o[ESZ];
	vr_make(e, ESZ, 1, 0, 0);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	uint64_t first = dead_reservation(n, 1);
	assert_int_equal(first, 1);
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	double t0 = th_now();
	assert_int_equal(shmap_vector_get(v, n / 2, o), SHMAP_E_NOTFOUND);
	int rc;
	/* Under sanitizers a pass may stop at the timeout; each call carries on. */
	for (int k = 0; k < 100 && (rc = shmap_vector_recover(v)) == SHMAP_E_TIMEOUT; k++)
		;
	double dt = th_now() - t0;
	assert_true(rc == SHMAP_RECOVERED || rc == SHMAP_OK);
	assert_int_equal(shmap_vector_holes(v), n);
	assert_int_equal(shmap_vector_size(v), n + 2);
	uint64_t cur = 0, idx;
	assert_int_equal(shmap_vector_next(v, &cur, o, &idx), SHMAP_OK);
	assert_int_equal(idx, 0);
	assert_int_equal(shmap_vector_next(v, &cur, o, &idx), SHMAP_OK);
	assert_int_equal(idx, n + 1);
	printf("# recovered a dead 2^18-slot reservation in %.1f ms (failpoint build)\n", dt * 1e3);
	shmap_vector_close(v);
}

/* A peer rewrites the header after we opened (scenario 22): bounds unchanged, checker reports it. */
static void t_header_rewritten(void **state)
{
	(void)state;
	shmap_vector *v = open_vec(SHMAP_CREATE, 16, 200);
	assert_non_null(v);
	uint8_t e[ESZ], o[ESZ];
	vr_make(e, ESZ, 1, 0, 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	uint64_t problems;
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
	char path[160];
	snprintf(path, sizeof path, "/dev/shm%s", g_name);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct shmap__hdr *h = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(h != MAP_FAILED);
	h->capacity = UINT64_C(1) << 40;
	h->elem_size = 1u << 20;
	assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_E_FULL);
	assert_int_equal(shmap_vector_get(v, 16, o), SHMAP_E_RANGE);
	assert_int_equal(shmap_vector_get(v, 15, o), SHMAP_OK);
	assert_int_equal(shmap_vector_capacity(v), 16);
	assert_int_equal(shmap_vector_check(v, SHMAP_CHECK_REPAIR, &problems), SHMAP_E_CORRUPT);
	assert_int_equal(problems, 1);
	munmap(h, 4096);
	shmap_vector_close(v);
}

/* Replacement versions near the ends of their fields (29 bits of meta, 64 of ver): readers never accept a torn copy. */
static int wrap_reader(void *a)
{
	(void)a;
	shmap_vector *v = open_vec(SHMAP_OPEN, 0, 2000);
	if (!v)
		return 10;
	uint8_t o[ESZ];
	tt_ack(1); /* reading: the parent starts replacing now */
	for (int k = 0; k < 200000; k++) {
		int rc = shmap_vector_get(v, k & 1, o);
		if (rc == SHMAP_E_BUSY)
			continue;
		if (rc != SHMAP_OK || vr_check(o, ESZ, NULL, NULL, NULL) != 0)
			return 11;
	}
	shmap_vector_close(v);
	return 0;
}

static void t_version_wrap(void **state)
{
	(void)state;
	shmap_vector *v = open_vec(SHMAP_CREATE, 4, 2000);
	assert_non_null(v);
	uint8_t e[ESZ], o[ESZ];
	for (uint64_t i = 0; i < 2; i++) {
		vr_make(e, ESZ, 1, 0, i);
		assert_int_equal(shmap_vector_push(v, e, NULL), SHMAP_OK);
	}
	/* White box: PUB with an even version 12 below the wrap of meta's
	 * 29-bit field and of the 64-bit ver word (buffer 0 stays current). */
	void *base[2];
	size_t len[2];
	for (int i = 0; i < 2; i++) {
		volatile uint64_t *w = map_word(&base[i], &len[i], OFF_SLOTS + (uint64_t)i * STRIDE);
		assert_non_null(w);
		w[1] = UINT64_MAX - 11u; /* ver */
		*w = (UINT64_C(0x1fffffff) - 11u) << 3 | 3u;
	}
	assert_int_equal(shmap_vector_get(v, 0, o), SHMAP_OK);
	assert_int_equal(vr_check(o, ESZ, NULL, NULL, NULL), 0);
	struct tt_proc p;
	assert_int_equal(tt_spawn(&p, wrap_reader, NULL, 60), 0);
	uint64_t ready;
	assert_int_equal(tt_read_ack(&p, &ready, 10000), 0);
	uint32_t tag;
	for (uint32_t k = 1; k <= 20000; k++) {
		vr_make(e, ESZ, 1, k, k & 1);
		assert_int_equal(shmap_vector_replace(v, k & 1, e), SHMAP_OK);
		assert_int_equal(shmap_vector_get(v, k & 1, o), SHMAP_OK);
		assert_int_equal(vr_check(o, ESZ, NULL, &tag, NULL), 0);
		assert_int_equal(tag, k);
	}
	int st = tt_wait(&p, 60);
	char sb[64];
	if (!th_ok(st))
		fail_msg("reader: %s", tt_status_str(st, sb, sizeof sb));
	uint64_t problems;
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
	for (int i = 0; i < 2; i++)
		munmap(base[i], len[i]);
	shmap_vector_close(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_kill_failpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(t_kill_recoverer, setup, teardown),
		cmocka_unit_test_setup_teardown(t_check_repair, setup, teardown),
		cmocka_unit_test_setup_teardown(t_kill_random, setup, teardown),
		cmocka_unit_test_setup_teardown(t_hostile_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(t_hostile_long_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(t_large_dead_reservation, setup, teardown),
		cmocka_unit_test_setup_teardown(t_header_rewritten, setup, teardown),
		cmocka_unit_test_setup_teardown(t_version_wrap, setup, teardown),
	};
	return cmocka_run_group_tests_name("vector-torture", tests, NULL, NULL);
}
