/* SPDX-License-Identifier: MIT */
/* xxHash for the tests' check values, header-only as the library uses it. */
#ifndef SHMAP_TEST_XXHASH_H
#define SHMAP_TEST_XXHASH_H
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>
#endif
