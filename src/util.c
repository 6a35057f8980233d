/* SPDX-License-Identifier: MIT */
/* util.c - backoff, randomness, hashing, failpoints and the statistics
 * copy-out (the OS side of waits and randomness is the platform layer's:
 * platform-internal.h). */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "internal.h"
#include "hash-internal.h"

int shmap__stats_size_ok(const void *dst)
{
	if (!dst)
		return 0;
	uint32_t size;
	memcpy(&size, dst, sizeof(size));
	return size >= 8u && size % 8u == 0 && size <= SHMAP_STATS_SIZE_MAX;
}

void shmap__stats_out(void *dst, const void *src, size_t known)
{
	uint32_t size;
	memcpy(&size, dst, sizeof(size));
	/* The reserved word, then the fields: never the caller's size member. */
	size_t n = size < known ? size : known;
	memcpy((unsigned char *)dst + 4, (const unsigned char *)src + 4, n - 4);
	memset((unsigned char *)dst + 4, 0, 4);
	if (size > known)
		memset((unsigned char *)dst + known, 0, size - known);
}

int shmap__backoff_wait(struct shmap__backoff *b, uint64_t deadline_ns)
{
	uint32_t r = b->round++;
	if (r < 10) {
		/* 1, 2, 4 ... 512 pauses: cheap while the other side is running. */
		for (uint32_t i = 0; i < (1u << r); i++)
			shmap_cpu_relax();
		return SHMAP_OK;
	}
	uint64_t now = shmap__now_ns();
	if (now >= deadline_ns)
		return SHMAP_E_TIMEOUT;
	if (r < 20) {
		sched_yield();
		return SHMAP_OK;
	}
	/* Sleep 2^(r-20) us, capped at 1 ms, jittered by up to 25%. */
	uint32_t shift = r - 20 > 10 ? 10 : r - 20;
	uint64_t ns = (uint64_t)1000u << shift;
	if (ns > 1000000u)
		ns = 1000000u;
	b->rnd = b->rnd * 1664525u + 1013904223u;
	ns += (ns / 4) * (b->rnd >> 24) / 256;
	if (now + ns > deadline_ns)
		ns = deadline_ns - now;
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
	nanosleep(&ts, NULL);
	return SHMAP_OK;
}

void shmap__random(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = shmap__plat_random(buf, len);
	if (got < len) {
		/* Fallback: mix clock, pid and address bits through XXH3. */
		uint64_t seed[3] = { shmap__now_ns(), (uint64_t)getpid(), (uint64_t)(uintptr_t)buf };
		while (got < len) {
			uint64_t v = XXH3_64bits(seed, sizeof(seed));
			seed[0] += v;
			size_t n = len - got < sizeof(v) ? len - got : sizeof(v);
			memcpy(p + got, &v, n);
			got += n;
		}
	}
}

#ifdef SHMAP_FAILPOINTS
/* The failpoints the code has (failpoints.h). */
static const char *const known_failpoints[] = {
#define SHMAP_FP(name, where) name,
#include "failpoints.h"
#undef SHMAP_FP
};

/* An armed name that no failpoint has would never fire: stop the test. */
static void failpoint_check_known(const char *name)
{
	for (size_t i = 0; i < sizeof(known_failpoints) / sizeof(known_failpoints[0]); i++)
		if (strcmp(known_failpoints[i], name) == 0)
			return;
	fprintf(stderr, "shmap: SHMAP_FAILPOINT names no failpoint: '%s' (see src/failpoints.h)\n",
		name);
	abort();
}

void (*shmap__test_hook)(const char *point, void *obj, uint64_t arg);

void (*shmap__failpoint_hook)(const char *name);

void shmap__failpoint(const char *name)
{
	if (shmap__failpoint_hook)
		shmap__failpoint_hook(name);
	static const char *armed;
	static unsigned long target, hits;
	static int parsed_pid;
	static char buf[128];
	if (parsed_pid != (int)getpid()) {
		/* (Re)read the environment once per process. */
		parsed_pid = (int)getpid();
		armed = NULL;
		hits = 0;
		const char *env = getenv("SHMAP_FAILPOINT");
		if (env && *env) {
			snprintf(buf, sizeof(buf), "%s", env);
			char *colon = strchr(buf, ':');
			target = 1;
			if (colon) {
				*colon = 0;
				target = strtoul(colon + 1, NULL, 10);
				if (target == 0)
					target = 1;
			}
			armed = buf;
			failpoint_check_known(armed);
		}
	}
	if (armed && strcmp(armed, name) == 0 && ++hits == target)
		raise(SIGKILL);
}
#endif
