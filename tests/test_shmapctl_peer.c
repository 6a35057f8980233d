/* SPDX-License-Identifier: MIT */
/*
 * test_shmapctl_peer - a real peer process for the shmapctl tests.
 *
 * It fills segments and leaves behind what a process killed at a bad moment
 * leaves: reservations never published, key locks held, ring roles and
 * claims. Commands that end in a held state print "ready" on stdout and
 * wait to be SIGKILLed by the test driver (test_shmapctl.py). A 60 s alarm
 * ends a forgotten peer.
 *
 *   vector-push NAME STR...      push each string (zero-padded), exit
 *   vector-reserve NAME N        reserve N slots, write them, never publish; wait
 *   htable-put NAME K V [K V...] upsert each pair, exit
 *   htable-lock NAME KEY         die inside an update callback (key lock held); wait
 *   hold NAME KIND               attach (vector|htable) and wait
 *   ring-push NAME N             producer: push N elements "item-<i>"; wait
 *   ring-consume NAME N          consumer: pop N elements; wait
 *   ring-claim NAME              SPMC consumer: peek one element (claimed); wait
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmap/inspect.h>
#include <shmap/segment.h>
#include <shmap/status.h>
#ifdef SHMAPCTL_HAVE_VECTOR
#include <shmap/vector.h>
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
#include <shmap/htable.h>
#endif
#ifdef SHMAPCTL_HAVE_RING
#include <shmap/ring.h>
#endif

static void ready_and_wait(void)
{
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "peer: %s: %s [%s]\n", what, shmap_strerror(rc), shmap_errname(rc));
	return 1;
}

#ifdef SHMAPCTL_HAVE_HTABLE
static int lock_cb(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len,
		   void *arg)
{
	(void)cur, (void)cur_len, (void)exists, (void)out, (void)out_len, (void)arg;
	ready_and_wait(); /* killed here, holding the key's lock */
	return SHMAP_HTABLE_ABORT;
}
#endif

int main(int argc, char **argv)
{
	alarm(60);
	if (argc < 3) {
		fprintf(stderr, "usage: test_shmapctl_peer CMD NAME ARGS...\n");
		return 2;
	}
	const char *cmd = argv[1], *name = argv[2];
	int rc;
	(void)name;
	(void)rc;
#ifdef SHMAPCTL_HAVE_VECTOR
	if (!strcmp(cmd, "vector-push") || !strcmp(cmd, "vector-reserve") ||
	    (!strcmp(cmd, "hold") && argc > 3 && !strcmp(argv[3], "vector"))) {
		shmap_vector *v = NULL;
		rc = shmap_vector_open(name, SHMAP_OPEN, 0, 0, NULL, &v);
		if (rc < 0)
			return fail("vector_open", rc);
		uint32_t es = shmap_vector_elem_size(v);
		char *buf = calloc(1, es);
		if (!buf)
			return 1;
		if (!strcmp(cmd, "vector-push")) {
			for (int i = 3; i < argc; i++) {
				memset(buf, 0, es);
				size_t l = strlen(argv[i]);
				memcpy(buf, argv[i], l < es ? l : es);
				if ((rc = shmap_vector_push(v, buf, NULL)) < 0)
					return fail("vector_push", rc);
			}
			shmap_vector_close(v);
			free(buf);
			return 0;
		}
		if (!strcmp(cmd, "vector-reserve")) {
			uint64_t first, n = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
			if ((rc = shmap_vector_reserve(v, n, &first)) < 0)
				return fail("vector_reserve", rc);
			for (uint64_t i = 0; i < n; i++) {
				memset(buf, 'P', es);
				if ((rc = shmap_vector_write(v, first + i, buf)) < 0)
					return fail("vector_write", rc);
			}
		}
		ready_and_wait();
	}
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	if (!strcmp(cmd, "htable-put") || !strcmp(cmd, "htable-lock") ||
	    (!strcmp(cmd, "hold") && argc > 3 && !strcmp(argv[3], "htable"))) {
		shmap_htable *t = NULL;
		rc = shmap_htable_open(name, SHMAP_OPEN, 0, 0, 0, NULL, &t);
		if (rc < 0)
			return fail("htable_open", rc);
		if (!strcmp(cmd, "htable-put")) {
			for (int i = 3; i + 1 < argc; i += 2) {
				rc = shmap_htable_upsert(t, argv[i], (uint32_t)strlen(argv[i]),
							 argv[i + 1],
							 (uint32_t)strlen(argv[i + 1]));
				if (rc < 0)
					return fail("htable_upsert", rc);
			}
			shmap_htable_close(t);
			return 0;
		}
		if (!strcmp(cmd, "htable-lock")) {
			const char *key = argc > 3 ? argv[3] : "locked";
			rc = shmap_htable_update(t, key, (uint32_t)strlen(key), lock_cb, NULL);
			return fail("htable_update returned", rc);
		}
		ready_and_wait();
	}
#endif
#ifdef SHMAPCTL_HAVE_RING
	if (!strncmp(cmd, "ring-", 5)) {
		shmap_ring *r = NULL;
		uint32_t role =
			!strcmp(cmd, "ring-push") ? SHMAP_RING_PRODUCER : SHMAP_RING_CONSUMER;
		rc = shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, role, NULL, &r);
		if (rc < 0)
			return fail("ring_open", rc);
		uint32_t es = shmap_ring_elem_size(r);
		char *buf = calloc(1, es);
		if (!buf)
			return 1;
		uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
		if (!strcmp(cmd, "ring-push")) {
			for (uint64_t i = 0; i < n; i++) {
				memset(buf, 0, es);
				snprintf(buf, es, "item-%llu", (unsigned long long)i);
				if ((rc = shmap_ring_push(r, buf)) < 0)
					return fail("ring_push", rc);
			}
		} else if (!strcmp(cmd, "ring-consume")) {
			for (uint64_t i = 0; i < n; i++)
				if ((rc = shmap_ring_pop(r, buf)) < 0)
					return fail("ring_pop", rc);
		} else if (!strcmp(cmd, "ring-claim")) {
			const void *p;
			uint32_t got;
			if ((rc = shmap_ring_peek(r, 1, &p, &got)) < 0)
				return fail("ring_peek", rc);
		}
		ready_and_wait();
	}
#endif
	fprintf(stderr, "peer: unknown or unsupported command '%s'\n", cmd);
	return 2;
}
