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

#endif /* SHMAP_COMMON_H */
