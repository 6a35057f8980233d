/* SPDX-License-Identifier: MIT */
/*
 * fork() in one thread while another thread of the same process is inside an
 * open: the child inherits that open's descriptor and mapping but not the
 * thread, so they must not keep the parent's locks alive after the parent
 * dies (the library's fork handler drops them in the child).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include "helpers.h"
#include "segment_kind.h"

struct opener {
	const char *name;
	struct shmap__seg seg;
	int rc;
};

static void *open_slowly(void *arg)
{
	struct opener *op = arg;
	struct shmap__params want = tk_params(4096);
	op->rc = shmap__seg_open(op->name, SHMAP_CREATE, &want, &tk_ops, NULL, &op->seg);
	return NULL;
}

/* P: a thread creates the segment (slow build); P forks C in the middle. */
static int parent_proc(const char *name, int ackfd)
{
	static struct opener op;
	op.name = name;
	tk_init_delay_us = 300000; /* the build takes 300 ms */
	pthread_t th;
	pthread_create(&th, NULL, open_slowly, &op);
	usleep(100000);            /* the thread is inside the open now */
	fflush(NULL);
	pid_t c = fork();
	if (c == 0) {
		alarm(30);
		pause();           /* an idle child, alive until the test kills it */
		_exit(0);
	}
	pthread_join(th, NULL);
	if (op.rc != SHMAP_OK)
		return 1;
	th_ack(ackfd, ((uint64_t)(uint32_t)c << 32) | op.seg.owner);
	pause();
	return 0;
}

static void test_fork_during_open(void **state)
{
	(void)state;
	char name[64];
	th_name(name, sizeof(name), "forkopen");
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pp = fork();
	if (pp == 0) {
		alarm(30);
		_exit(parent_proc(name, p[1]));
	}
	uint64_t v;
	assert_int_equal(th_read_ack(p[0], &v), 0);
	pid_t child = (pid_t)(v >> 32);
	uint32_t powner = (uint32_t)v;

	struct shmap__params want = tk_params(0);
	struct shmap__seg me;
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, NULL, &me), SHMAP_OK);
	assert_true(shmap__seg_owner_alive(&me, powner));
	kill(pp, SIGKILL);
	waitpid(pp, NULL, 0);
	bool alive = true;
	for (int i = 0; i < 500 && (alive = shmap__seg_owner_alive(&me, powner)); i++)
		usleep(2000);
	assert_int_equal(kill(child, 0), 0); /* the child still lives */
	kill(child, SIGKILL);
	assert_false(alive);
	shmap__seg_close(&me);
	shmap_unlink(name, NULL);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_during_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
