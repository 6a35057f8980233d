/* SPDX-License-Identifier: MIT */
/**
 * @file common.h
 * @brief Export and linkage macros shared by every public shmap header.
 *
 * Nothing here needs to be used by callers: the macros only decorate the
 * declarations in the other headers. Include <shmap/shmap.h> instead.
 */
#ifndef SHMAP_COMMON_H
#define SHMAP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define SHMAP_API __attribute__((visibility("default")))
#else
#define SHMAP_API
#endif

#ifdef __cplusplus
#define SHMAP_BEGIN_DECLS extern "C" {
#define SHMAP_END_DECLS }
#else
#define SHMAP_BEGIN_DECLS
#define SHMAP_END_DECLS
#endif

/**
 * Flag of every structure's checker (shmap_htable_check(),
 * shmap_ring_check(), shmap_vector_check()): also repair what dead
 * processes left behind.
 */
#define SHMAP_CHECK_REPAIR 1u

/**
 * @name Statistics structs
 *
 * Every structure reports its statistics the same way: the caller passes a
 * struct (shmap_htable_stats_t, shmap_ring_stats_t,
 * shmap_ring_consumer_stats_t, shmap_vector_stats_t) whose first member,
 * `size`, it sets to `sizeof` the struct it was compiled with, e.g.
 *
 * @code
 * shmap_ring_stats_t st = { .size = sizeof(st) };  // C++: st{}; st.size = sizeof st;
 * int rc = shmap_ring_stats(r, &st);
 * @endcode
 *
 * The library never writes past `size` bytes. It fills every field that
 * lies entirely within `size` and it knows; a `size` from an older header
 * (a prefix of today's struct) gets only the fields it has. A `size` larger
 * than the struct this library knows (a caller built against a newer
 * header) is accepted: the bytes from the end of the known fields up to
 * `size` are set to zero, so fields this library does not know read 0. The
 * `size` member itself is never written; the `reserved` member that follows
 * it is set to 0. `size` must be a multiple of 8, at least 8 and at most
 * ::SHMAP_STATS_SIZE_MAX, else the call returns ::SHMAP_E_INVAL and writes
 * nothing. New fields are only ever appended to a struct.
 *
 * The struct types end in `_t` (`shmap_ring_stats_t` beside the function
 * shmap_ring_stats()): a type and a function of one name cannot both be
 * declared in C, and in C++ the function would hide the struct's name.
 */
/**@{*/
/** Largest `size` a statistics struct may announce (guards against an unset member). */
#define SHMAP_STATS_SIZE_MAX 4096u
/**@}*/

#endif /* SHMAP_COMMON_H */
