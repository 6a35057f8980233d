/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h - shared bits of the libFuzzer targets (torture
 * scenarios 23 and 24) and of the seed generator.
 *
 * Input format of the open/inspect targets: one control byte, then the bytes
 * of a would-be segment, which go into a memfd sized to them.
 *
 *   control bits 0-2  structure kind to open as (FZ_K_*)
 *   control bit  3    pass the fixed parameters below (else 0 = accept stored)
 *   control bit  4    recompute the header checksum before opening, so the
 *                     fuzzer gets past the checksum and exercises the
 *                     validation of the fields and the data region
 *   control bit  5    ring role: consumer (else producer)
 *   control bit  6    force the header state word to READY (keeps generation)
 *   control bit  7    second pass: open twice (two handles on one segment)
 */
#ifndef SHMAP_FUZZ_COMMON_H
#define SHMAP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FZ_K_VECTOR 0u
#define FZ_K_HTABLE 1u
#define FZ_K_SPSC 2u
#define FZ_K_SPMC 3u
#define FZ_K_BCAST_LOSSY 4u
#define FZ_K_BCAST_RELIABLE 5u
#define FZ_K_NKINDS 6u

#define FZ_C_FIXED 0x08u
#define FZ_C_FIXSUM 0x10u
#define FZ_C_CONSUMER 0x20u
#define FZ_C_READY 0x40u
#define FZ_C_TWICE 0x80u

/* Parameters of the seed segments (and of the "fixed params" opens). */
#define FZ_VEC_ELEM 8u
#define FZ_VEC_CAP 16u
#define FZ_HT_CAP 16u
#define FZ_HT_KEY 16u
#define FZ_HT_VAL 24u
#define FZ_RING_ELEM 8u
#define FZ_RING_CAP 8u
#define FZ_RING_CONS 2u

/* Header offsets (segment-internal.h, struct shmap__hdr). */
#define FZ_HDR_SIZE 512u
#define FZ_OFF_CHECKSUM 240u
#define FZ_OFF_STATE 256u

static inline uint64_t fz_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

#endif /* SHMAP_FUZZ_COMMON_H */
