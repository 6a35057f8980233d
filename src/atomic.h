/* SPDX-License-Identifier: MIT */
/*
 * atomic.h - the only file in shmap that includes <atomic_ops.h>.
 *
 * Every access to a word that other processes may touch concurrently goes
 * through these wrappers. Names keep libatomic_ops' barrier suffixes so the
 * ordering is visible at each call site:
 *   (none)    relaxed: atomic, no ordering
 *   _acquire  later loads/stores stay after it
 *   _release  earlier loads/stores stay before it
 *   _full     on a read-modify-write: acquire + release on the accessed
 *             word, and no more. It is NOT a sequentially consistent fence:
 *             with gcc and clang libatomic_ops implements CAS_full with
 *             __atomic_compare_exchange_n(..., __ATOMIC_ACQ_REL, ...), which
 *             does not order an earlier store before a later load of another
 *             word (arm64 without LSE emits ldaxr/stlxr and no dmb; x86's
 *             lock-prefixed instructions happen to be full barriers, C11 does
 *             not promise it). Code that needs store-load ordering between
 *             different words (a Dekker pairing) calls
 *             shmap__atomic_fence_full() explicitly.
 *
 * Cross-process safety: libatomic_ops emulates missing primitives with a
 * process-local lock table, which is NOT atomic between processes. So we
 * require every primitive we use to be native (AO_HAVE_* defined without
 * the pthread emulation), and refuse to build otherwise.
 */
#ifndef SHMAP_ATOMIC_H
#define SHMAP_ATOMIC_H

#if defined(AO_REQUIRE_CAS) || defined(AO_USE_PTHREAD_DEFS) || defined(AO_DISABLE_GCC_ATOMICS)
#error "shmap must not use libatomic_ops emulation: it is not atomic across processes"
#endif

#include <atomic_ops.h>
#include <stddef.h>
#include <stdint.h>

#if defined(AO_USE_PTHREAD_DEFS)
#error "libatomic_ops selected its pthread emulation: not usable for shared memory"
#endif

#if !defined(AO_HAVE_load) || !defined(AO_HAVE_load_acquire) || !defined(AO_HAVE_store) || \
	!defined(AO_HAVE_store_release) || !defined(AO_HAVE_fetch_and_add) || \
	!defined(AO_HAVE_fetch_and_add_full) || !defined(AO_HAVE_fetch_compare_and_swap_full) || \
	!defined(AO_HAVE_fetch_compare_and_swap_release) || !defined(AO_HAVE_nop_full)
#error "a word-size atomic primitive shmap needs is not natively lock-free on this target"
#endif
#if !defined(AO_HAVE_char_load) || !defined(AO_HAVE_char_store)
#error "a byte-size atomic load/store shmap needs is not natively lock-free on this target"
#endif
#if !defined(AO_HAVE_int_load) || !defined(AO_HAVE_int_load_acquire) || !defined(AO_HAVE_int_store) || \
	!defined(AO_HAVE_int_store_release) || !defined(AO_HAVE_int_fetch_and_add_full) || \
	!defined(AO_HAVE_int_fetch_compare_and_swap_full)
#error "a 32-bit atomic primitive shmap needs is not natively lock-free on this target"
#endif

/* shmap's shared layout uses 64-bit words; AO_t is size_t, so require LP64. */
_Static_assert(sizeof(AO_t) == 8, "shmap needs 64-bit AO_t (an LP64 target)");
_Static_assert(sizeof(unsigned int) == 4, "shmap needs a 32-bit unsigned int");
#if defined(__GCC_ATOMIC_LLONG_LOCK_FREE) && __GCC_ATOMIC_LLONG_LOCK_FREE != 2
#error "64-bit atomics are not always lock-free on this target"
#endif
#if defined(__GCC_ATOMIC_INT_LOCK_FREE) && __GCC_ATOMIC_INT_LOCK_FREE != 2
#error "32-bit atomics are not always lock-free on this target"
#endif

#define SHMAP__AO64(p) ((volatile AO_t *)(void *)(p))
#define SHMAP__AO32(p) ((volatile unsigned int *)(void *)(p))

/* ---- 64-bit ---- */
static inline uint64_t shmap__atomic_load_u64(const volatile uint64_t *p)
{
	return (uint64_t)AO_load((const volatile AO_t *)(const volatile void *)p);
}
static inline uint64_t shmap__atomic_load_acquire_u64(const volatile uint64_t *p)
{
	return (uint64_t)AO_load_acquire((const volatile AO_t *)(const volatile void *)p);
}
static inline void shmap__atomic_store_u64(volatile uint64_t *p, uint64_t v)
{
	AO_store(SHMAP__AO64(p), (AO_t)v);
}
static inline void shmap__atomic_store_release_u64(volatile uint64_t *p, uint64_t v)
{
	AO_store_release(SHMAP__AO64(p), (AO_t)v);
}
static inline uint64_t shmap__atomic_fetch_add_u64(volatile uint64_t *p, uint64_t v)
{
	return (uint64_t)AO_fetch_and_add(SHMAP__AO64(p), (AO_t)v);
}
static inline uint64_t shmap__atomic_fetch_add_full_u64(volatile uint64_t *p, uint64_t v)
{
	return (uint64_t)AO_fetch_and_add_full(SHMAP__AO64(p), (AO_t)v);
}
/* Returns the value found; the swap happened iff it equals `old`. */
static inline uint64_t shmap__atomic_cas_full_u64(volatile uint64_t *p, uint64_t old, uint64_t nv)
{
	return (uint64_t)AO_fetch_compare_and_swap_full(SHMAP__AO64(p), (AO_t)old, (AO_t)nv);
}
static inline uint64_t shmap__atomic_cas_release_u64(volatile uint64_t *p, uint64_t old, uint64_t nv)
{
	return (uint64_t)AO_fetch_compare_and_swap_release(SHMAP__AO64(p), (AO_t)old, (AO_t)nv);
}

/* ---- 32-bit ---- */
static inline uint32_t shmap__atomic_load_u32(const volatile uint32_t *p)
{
	return (uint32_t)AO_int_load((const volatile unsigned int *)(const volatile void *)p);
}
static inline uint32_t shmap__atomic_load_acquire_u32(const volatile uint32_t *p)
{
	return (uint32_t)AO_int_load_acquire((const volatile unsigned int *)(const volatile void *)p);
}
static inline void shmap__atomic_store_u32(volatile uint32_t *p, uint32_t v)
{
	AO_int_store(SHMAP__AO32(p), v);
}
static inline void shmap__atomic_store_release_u32(volatile uint32_t *p, uint32_t v)
{
	AO_int_store_release(SHMAP__AO32(p), v);
}
static inline uint32_t shmap__atomic_fetch_add_full_u32(volatile uint32_t *p, uint32_t v)
{
	return (uint32_t)AO_int_fetch_and_add_full(SHMAP__AO32(p), v);
}
static inline uint32_t shmap__atomic_cas_full_u32(volatile uint32_t *p, uint32_t old, uint32_t nv)
{
	return (uint32_t)AO_int_fetch_compare_and_swap_full(SHMAP__AO32(p), old, nv);
}

/* ---- 8-bit ---- */
static inline uint8_t shmap__atomic_load_u8(const volatile uint8_t *p)
{
	return (uint8_t)AO_char_load((const volatile unsigned char *)(const volatile void *)p);
}
static inline void shmap__atomic_store_u8(volatile uint8_t *p, uint8_t v)
{
	AO_char_store((volatile unsigned char *)(volatile void *)p, v);
}

/*
 * Relaxed copies of bytes another process may be writing at the same time
 * (a seqlock payload: the reader validates afterwards and discards a copy
 * that raced). Every byte of the shared range is accessed atomically, so
 * the race is not a C11 data race: aligned 8-byte words inside the range
 * with 64-bit atomics, the unaligned head and tail byte by byte. Which
 * width covers a byte depends only on its address and the range, so both
 * sides of one range always use the same width on the same byte.
 * `shared` is the address in the mapping; `len` may be any size.
 */
static inline void shmap__atomic_copy_out(void *dst, const volatile void *shared, size_t len)
{
	const volatile uint8_t *s = (const volatile uint8_t *)shared;
	uint8_t *d = (uint8_t *)dst;
	size_t i = 0;
	for (; i < len && ((uintptr_t)(s + i) & 7u) != 0; i++)
		d[i] = shmap__atomic_load_u8(s + i);
	for (; i + 8u <= len; i += 8u) {
		uint64_t w = shmap__atomic_load_u64((const volatile uint64_t *)(const volatile void *)(s + i));
		__builtin_memcpy(d + i, &w, 8);
	}
	for (; i < len; i++)
		d[i] = shmap__atomic_load_u8(s + i);
}
static inline void shmap__atomic_copy_in(volatile void *shared, const void *src, size_t len)
{
	volatile uint8_t *d = (volatile uint8_t *)shared;
	const uint8_t *s = (const uint8_t *)src;
	size_t i = 0;
	for (; i < len && ((uintptr_t)(d + i) & 7u) != 0; i++)
		shmap__atomic_store_u8(d + i, s[i]);
	for (; i + 8u <= len; i += 8u) {
		uint64_t w;
		__builtin_memcpy(&w, s + i, 8);
		shmap__atomic_store_u64((volatile uint64_t *)(volatile void *)(d + i), w);
	}
	for (; i < len; i++)
		shmap__atomic_store_u8(d + i, s[i]);
}

/* ---- fences ---- */
/* Full two-way fence (store-load ordering included). */
static inline void shmap__atomic_fence_full(void)
{
	AO_nop_full();
}
/* Acquire fence (load-load, load-store): earlier loads stay before later accesses. */
static inline void shmap__atomic_fence_acquire(void)
{
#if !defined(AO_HAVE_nop_read)
#error "AO_nop_read is not available on this target"
#endif
	AO_nop_read();
}
/*
 * Release fence: earlier stores stay before later stores (store-store). That
 * is what a seqlock writer needs between its claim and its payload stores.
 * Do not rely on it for load-store ordering: on aarch64 AO_nop_write is
 * `dmb ishst`, which orders stores only; use shmap__atomic_fence_full there.
 */
static inline void shmap__atomic_fence_release(void)
{
#if !defined(AO_HAVE_nop_write)
#error "AO_nop_write is not available on this target"
#endif
	AO_nop_write();
}
/* Compiler-only barrier: keeps the compiler from moving memory accesses. */
static inline void shmap_compiler_barrier(void)
{
	__asm__ __volatile__("" ::: "memory");
}

/* CPU hint inside spin loops. */
static inline void shmap_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	shmap_compiler_barrier();
#endif
}

#endif /* SHMAP_ATOMIC_H */
