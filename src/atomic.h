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
 *   _full     sequentially consistent fence on both sides
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
#include <stdint.h>

#if defined(AO_USE_PTHREAD_DEFS)
#error "libatomic_ops selected its pthread emulation: not usable for shared memory"
#endif

#if !defined(AO_HAVE_load) || !defined(AO_HAVE_load_acquire) || !defined(AO_HAVE_store) || \
	!defined(AO_HAVE_store_release) || !defined(AO_HAVE_fetch_and_add) || \
	!defined(AO_HAVE_fetch_and_add_full) || !defined(AO_HAVE_fetch_compare_and_swap_full) || \
	!defined(AO_HAVE_fetch_compare_and_swap_acquire) || !defined(AO_HAVE_fetch_compare_and_swap_release) || \
	!defined(AO_HAVE_nop_full) || !defined(AO_HAVE_or_full) || !defined(AO_HAVE_and_full)
#error "a word-size atomic primitive shmap needs is not natively lock-free on this target"
#endif
#if !defined(AO_HAVE_int_load) || !defined(AO_HAVE_int_load_acquire) || !defined(AO_HAVE_int_store) || \
	!defined(AO_HAVE_int_store_release) || !defined(AO_HAVE_int_fetch_and_add_full) || \
	!defined(AO_HAVE_int_fetch_compare_and_swap_full) || !defined(AO_HAVE_int_fetch_and_add)
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
static inline uint64_t shmap_atomic_load_u64(const volatile uint64_t *p)
{
	return (uint64_t)AO_load((const volatile AO_t *)(const volatile void *)p);
}
static inline uint64_t shmap_atomic_load_acquire_u64(const volatile uint64_t *p)
{
	return (uint64_t)AO_load_acquire((const volatile AO_t *)(const volatile void *)p);
}
static inline void shmap_atomic_store_u64(volatile uint64_t *p, uint64_t v)
{
	AO_store(SHMAP__AO64(p), (AO_t)v);
}
static inline void shmap_atomic_store_release_u64(volatile uint64_t *p, uint64_t v)
{
	AO_store_release(SHMAP__AO64(p), (AO_t)v);
}
static inline uint64_t shmap_atomic_fetch_add_u64(volatile uint64_t *p, uint64_t v)
{
	return (uint64_t)AO_fetch_and_add(SHMAP__AO64(p), (AO_t)v);
}
static inline uint64_t shmap_atomic_fetch_add_full_u64(volatile uint64_t *p, uint64_t v)
{
	return (uint64_t)AO_fetch_and_add_full(SHMAP__AO64(p), (AO_t)v);
}
/* Returns the value found; the swap happened iff it equals `old`. */
static inline uint64_t shmap_atomic_cas_full_u64(volatile uint64_t *p, uint64_t old, uint64_t nv)
{
	return (uint64_t)AO_fetch_compare_and_swap_full(SHMAP__AO64(p), (AO_t)old, (AO_t)nv);
}
static inline uint64_t shmap_atomic_cas_acquire_u64(volatile uint64_t *p, uint64_t old, uint64_t nv)
{
	return (uint64_t)AO_fetch_compare_and_swap_acquire(SHMAP__AO64(p), (AO_t)old, (AO_t)nv);
}
static inline uint64_t shmap_atomic_cas_release_u64(volatile uint64_t *p, uint64_t old, uint64_t nv)
{
	return (uint64_t)AO_fetch_compare_and_swap_release(SHMAP__AO64(p), (AO_t)old, (AO_t)nv);
}
static inline void shmap_atomic_or_full_u64(volatile uint64_t *p, uint64_t v)
{
	AO_or_full(SHMAP__AO64(p), (AO_t)v);
}
static inline void shmap_atomic_and_full_u64(volatile uint64_t *p, uint64_t v)
{
	AO_and_full(SHMAP__AO64(p), (AO_t)v);
}

/* ---- 32-bit ---- */
static inline uint32_t shmap_atomic_load_u32(const volatile uint32_t *p)
{
	return (uint32_t)AO_int_load((const volatile unsigned int *)(const volatile void *)p);
}
static inline uint32_t shmap_atomic_load_acquire_u32(const volatile uint32_t *p)
{
	return (uint32_t)AO_int_load_acquire((const volatile unsigned int *)(const volatile void *)p);
}
static inline void shmap_atomic_store_u32(volatile uint32_t *p, uint32_t v)
{
	AO_int_store(SHMAP__AO32(p), v);
}
static inline void shmap_atomic_store_release_u32(volatile uint32_t *p, uint32_t v)
{
	AO_int_store_release(SHMAP__AO32(p), v);
}
static inline uint32_t shmap_atomic_fetch_add_u32(volatile uint32_t *p, uint32_t v)
{
	return (uint32_t)AO_int_fetch_and_add(SHMAP__AO32(p), v);
}
static inline uint32_t shmap_atomic_fetch_add_full_u32(volatile uint32_t *p, uint32_t v)
{
	return (uint32_t)AO_int_fetch_and_add_full(SHMAP__AO32(p), v);
}
static inline uint32_t shmap_atomic_cas_full_u32(volatile uint32_t *p, uint32_t old, uint32_t nv)
{
	return (uint32_t)AO_int_fetch_compare_and_swap_full(SHMAP__AO32(p), old, nv);
}

/* ---- fences ---- */
/* Full two-way fence (store-load ordering included). */
static inline void shmap_atomic_fence_full(void)
{
	AO_nop_full();
}
/* Acquire fence (load-load, load-store): earlier loads stay before later accesses. */
static inline void shmap_atomic_fence_acquire(void)
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
 * `dmb ishst`, which orders stores only; use shmap_atomic_fence_full there.
 */
static inline void shmap_atomic_fence_release(void)
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
