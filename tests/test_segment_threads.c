/* SPDX-License-Identifier: MIT */
/*
 * test_segment_threads.c - threads of one process opening, checking and
 * closing handles of the same segments at once (run under ThreadSanitizer
 * by the 'threads' suite). Each handle has its own file description, so
 * threads race exactly like processes do on creation and participant slots.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include <shmap/shmap.h>

#include "torture.h"
#include "segment_kind.h"

#define NTHREADS 8

struct thr_ctx {
	char name[96];
	pthread_barrier_t *bar;
	int rounds;
	int errors;
	int builds;
};

static struct thr_ctx names_ctx[NTHREADS];
static char round_names[64][96];

static void *worker(void *a)
{
	struct thr_ctx *c = a;
	for (int r = 0; r < c->rounds; r++) {
		pthread_barrier_wait(c->bar);
		struct shmap__params want = tk_params(512);
		struct shmap__seg s;
		int rc = shmap__seg_open(round_names[r], SHMAP_OPEN_OR_CREATE, &want, &tk_ops, NULL, &s);
		if (rc != SHMAP_OK) {
			c->errors++;
			continue;
		}
		c->builds += s.created;
		if (tk_verify(&s) != 0 || shmap__seg_check(&s) != SHMAP_OK)
			c->errors++;
		if (!shmap__seg_owner_alive(&s, s.owner))
			c->errors++;
		if (s.parts[s.slot].start_time == 0 || s.parts[s.slot].pid != (uint32_t)getpid())
			c->errors++;
		shmap__seg_close(&s);
	}
	return NULL;
}

static void test_threads_open_or_create(void **state)
{
	(void)state;
	const int rounds = (int)tt_iters(64, 64);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, NTHREADS);
	for (int r = 0; r < rounds; r++)
		th_name(round_names[r], sizeof round_names[r], "thr");
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		names_ctx[i] = (struct thr_ctx){ "", &bar, rounds, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &names_ctx[i]), 0);
	}
	int builds = 0, errors = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		builds += names_ctx[i].builds;
		errors += names_ctx[i].errors;
	}
	pthread_barrier_destroy(&bar);
	assert_int_equal(errors, 0);
	assert_int_equal(builds, rounds); /* exactly one builder per name */
	for (int r = 0; r < rounds; r++)
		assert_int_equal(shmap_unlink(round_names[r], NULL), SHMAP_OK);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_threads_open_or_create, tt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
