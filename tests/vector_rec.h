/* SPDX-License-Identifier: MIT */
/*
 * vector_rec.h - self-checking vector elements for the vector tests.
 *
 * An element of any size >= VR_MIN carries {writer, tag, seq}, a byte
 * pattern derived from them, and (last 8 bytes) the XXH3-64 hash of all the
 * bytes before it. vr_check() rejects zero-filled, torn or invented
 * elements. Sizes below VR_MIN are checked by pattern only.
 */
#ifndef SHMAP_TEST_VECTOR_REC_H
#define SHMAP_TEST_VECTOR_REC_H

#include <stdint.h>
#include <string.h>

#include "test_xxhash.h"

#define VR_MIN 24u

/* Fill buf (esz >= VR_MIN bytes). */
static inline void vr_make(void *buf, uint32_t esz, uint32_t writer, uint32_t tag, uint64_t seq)
{
	uint8_t *b = buf;
	memcpy(b, &writer, 4);
	memcpy(b + 4, &tag, 4);
	memcpy(b + 8, &seq, 8);
	for (uint32_t k = 16; k < esz - 8u; k++)
		b[k] = (uint8_t)(seq * 31u + writer * 7u + tag * 13u + k);
	uint64_t h = XXH3_64bits(b, esz - 8u);
	memcpy(b + esz - 8u, &h, 8);
}

/* 0 if intact (fills writer/tag/seq when non-NULL), -1 if not. */
static inline int vr_check(const void *buf, uint32_t esz, uint32_t *writer, uint32_t *tag, uint64_t *seq)
{
	const uint8_t *b = buf;
	uint32_t w, t;
	uint64_t s, h;
	memcpy(&w, b, 4);
	memcpy(&t, b + 4, 4);
	memcpy(&s, b + 8, 8);
	memcpy(&h, b + esz - 8u, 8);
	/* The outputs are set on failure too: callers assert the result with
	 * cmocka, which gcc cannot see never returns on failure. */
	if (writer)
		*writer = w;
	if (tag)
		*tag = t;
	if (seq)
		*seq = s;
	if (h != XXH3_64bits(b, esz - 8u))
		return -1;
	for (uint32_t k = 16; k < esz - 8u; k++)
		if (b[k] != (uint8_t)(s * 31u + w * 7u + t * 13u + k))
			return -1;
	return 0;
}

#endif /* SHMAP_TEST_VECTOR_REC_H */
