/* SPDX-License-Identifier: MIT */
/**
 * @file shmap.h
 * @brief Umbrella header: include this one; it includes every public header.
 *
 * shmap: lock-free data structures in POSIX shared memory, shared by
 * processes. Link with `pkg-config --libs shmap`.
 */
#ifndef SHMAP_SHMAP_H
#define SHMAP_SHMAP_H

#include <shmap/common.h>
#include <shmap/status.h>
#include <shmap/version.h>
#include <shmap/segment.h>
#include <shmap/inspect.h>
/* structures */
#include <shmap/vector.h>
#include <shmap/htable.h>
#include <shmap/ring.h>
#include <shmap/ring_rec.h>

#endif /* SHMAP_SHMAP_H */
