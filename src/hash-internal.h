/* SPDX-License-Identifier: MIT */
/*
 * hash-internal.h - the hash of keys and header checksums. Included only by
 * the units that hash (segment.c, util.c, the table), so the other units do
 * not compile xxHash's inline implementation.
 */
#ifndef SHMAP_HASH_INTERNAL_H
#define SHMAP_HASH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Stable 64-bit hash (XXH3-64, whose output is frozen since xxHash 0.8.0)
 * with a per-segment seed; the id stored in headers is 1. xxHash is used in
 * its header-only form, so libshmap.so has no runtime dependency on it and
 * short keys hash inline.
 */
#define SHMAP__HASH_XXH3_64 1u
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>
static inline uint64_t shmap__hash64(const void *data, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(data, len, seed);
}

#endif /* SHMAP_HASH_INTERNAL_H */
