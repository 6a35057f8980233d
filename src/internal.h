/* SPDX-License-Identifier: MIT */
/*
 * internal.h - private helpers shared by every shmap module.
 * Nothing here is part of the ABI; cross-file functions are `shmap__*` and
 * hidden (the library is built with -fvisibility=hidden).
 */
#ifndef SHMAP_INTERNAL_H
#define SHMAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <shmap/status.h>

#include "platform-internal.h"

#define SHMAP_CACHELINE 64u

#define shmap_likely(x) __builtin_expect(!!(x), 1)
#define shmap_unlikely(x) __builtin_expect(!!(x), 0)

#define SHMAP_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))

static inline bool shmap__is_pow2_u64(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* Smallest power of two >= x; 0 if it does not fit in 63 bits. */
static inline uint64_t shmap__next_pow2_u64(uint64_t x)
{
	if (x <= 1)
		return 1;
	if (x > (UINT64_C(1) << 62))
		return 0;
	return UINT64_C(1) << (64 - __builtin_clzll(x - 1));
}

/*
 * Statistics structs (common.h, "Statistics structs"): every one starts with
 * uint32_t size, uint32_t reserved. shmap__stats_size_ok() validates the
 * caller's size before any work; shmap__stats_out() copies the `known` bytes
 * of the library's filled struct `src` to `dst` without passing dst->size:
 * whole 8-byte units after the size member (every field is 4 or 8 bytes and
 * every valid size a multiple of 8, so no field is cut), then zeroes
 * dst->size - known bytes past the known struct.
 */
int shmap__stats_size_ok(const void *dst);
void shmap__stats_out(void *dst, const void *src, size_t known);

/* Monotonic clock in nanoseconds. */
static inline uint64_t shmap__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Deadline helper: now + ms (saturating). UINT64_MAX means "never". */
static inline uint64_t shmap__deadline_ms(uint32_t ms)
{
	return shmap__now_ns() + (uint64_t)ms * 1000000u;
}

/*
 * Backoff for bounded waits: spin with a CPU pause (growing), then yield,
 * then sleep with growing, slightly randomised delays capped at 1 ms.
 * Every wait in shmap is bounded by a deadline and, where it waits for
 * another process, probes that process's liveness between rounds.
 */
struct shmap__backoff {
	uint32_t round;
	uint32_t rnd;
};

static inline void shmap__backoff_init(struct shmap__backoff *b)
{
	b->round = 0;
	b->rnd = 0x9e3779b9u;
}

/*
 * One backoff step. Returns SHMAP_OK, or SHMAP_E_TIMEOUT when the monotonic
 * clock has passed `deadline_ns` (checked only once spinning is over, so the
 * fast first rounds cost no clock read).
 */
int shmap__backoff_wait(struct shmap__backoff *b, uint64_t deadline_ns);

/* Wait/wake on a shared 32-bit word (shmap__futex_wait/_wake), the heavy
 * barrier and the other OS services: the platform layer, platform-internal.h
 * (included above). */

/*
 * Failpoints. Test builds (SHMAP_FAILPOINTS defined, used only by the
 * torture tests' private copy of the library) call shmap__failpoint(name)
 * at every step of every multi-step protocol; when the environment variable
 * SHMAP_FAILPOINT is "name" or "name:N", the N-th hit (default 1) of that
 * point SIGKILLs the process. Release builds compile them out entirely.
 */
#ifdef SHMAP_FAILPOINTS
void shmap__failpoint(const char *name);
/* Tests only: called at every failpoint before the kill check, when set. */
extern void (*shmap__failpoint_hook)(const char *name);
#define SHMAP_FAILPOINT(name) shmap__failpoint(name)
#else
#define SHMAP_FAILPOINT(name) ((void)0)
#endif

/*
 * Test hooks, in the same private test build only: SHMAP_TEST_HOOK(point,
 * obj, arg) calls shmap__test_hook when a test has set it, so a test can
 * act at an exact step of a protocol (e.g. in the middle of a reader's
 * copy). Neither the hook nor the test-only helpers declared with it exist
 * in the released library.
 */
#ifdef SHMAP_FAILPOINTS
extern void (*shmap__test_hook)(const char *point, void *obj, uint64_t arg);
#define SHMAP_TEST_HOOK(point, obj, arg)                          \
	do {                                                      \
		if (shmap__test_hook)                             \
			shmap__test_hook((point), (obj), (arg));  \
	} while (0)
#else
#define SHMAP_TEST_HOOK(point, obj, arg) ((void)0)
#endif

/* Random bytes from the platform (shmap__plat_random); falls back to
 * clock/pid mixing. */
void shmap__random(void *buf, size_t len);

#endif /* SHMAP_INTERNAL_H */
