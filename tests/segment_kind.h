/* SPDX-License-Identifier: MIT */
/*
 * segment_kind.h - a tiny private structure kind for storage-layer tests.
 *
 * Kind 99 (unused by the library): the data region is `capacity` 64-bit
 * counters, initialised to a pattern derived from (index, generation), so a
 * reader can verify it sees a fully built segment of the generation it was
 * told. Tests may point tk_builds at a shared counter to count how many
 * processes ran init (exactly one builder per build), and set
 * tk_init_delay_us to make building slow (races and random-delay kills).
 */
#ifndef SHMAP_TEST_SEGMENT_KIND_H
#define SHMAP_TEST_SEGMENT_KIND_H

#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "segment-internal.h"

#define TK_KIND 99u
#define TK_MAX_CAP (UINT64_C(1) << 24)

static volatile uint64_t *tk_builds;   /* optional: shared build counter */
static unsigned tk_init_delay_us;      /* optional: slow builds */
static int tk_init_fail;               /* optional: init fails (after the delay) */

static inline uint64_t tk_pattern(uint64_t i, uint64_t gen)
{
	return (i * UINT64_C(0x9e3779b97f4a7c15)) ^ (gen << 40) ^ UINT64_C(0xa5a5);
}

static int tk_layout(struct shmap__params *p)
{
	if (p->capacity == 0 || p->capacity > TK_MAX_CAP)
		return SHMAP_E_INVAL;
	if (p->elem_size != 0 && p->elem_size != 8)
		return SHMAP_E_INVAL;
	p->data_size = p->capacity * 8u;
	return SHMAP_OK;
}

static int tk_init(struct shmap__seg *seg)
{
	uint64_t *c = (uint64_t *)seg->data;
	for (uint64_t i = 0; i < seg->p.capacity; i++) {
		c[i] = tk_pattern(i, seg->generation);
		if (tk_init_delay_us && i == seg->p.capacity / 2)
			usleep(tk_init_delay_us); /* half-built for a while */
	}
	if (tk_init_fail)
		return SHMAP_E_NOMEM;
	if (tk_builds)
		shmap__atomic_fetch_add_full_u64(tk_builds, 1);
	return SHMAP_OK;
}

static const struct shmap__kind_ops tk_ops = { TK_KIND, tk_layout, tk_init };
/* Same layout, another kind id: "wrong kind" at open. */
static const struct shmap__kind_ops tk_ops_other = { TK_KIND - 1u, tk_layout, tk_init };

static inline struct shmap__params tk_params(uint64_t cap)
{
	struct shmap__params p;
	memset(&p, 0, sizeof p);
	p.kind = TK_KIND;
	p.capacity = cap;
	return p;
}

/* 0 if every counter holds the pattern of the segment's generation. */
static inline int tk_verify(const struct shmap__seg *seg)
{
	const uint64_t *c = (const uint64_t *)seg->data;
	for (uint64_t i = 0; i < seg->p.capacity; i++)
		if (c[i] != tk_pattern(i, seg->generation))
			return -1;
	return 0;
}

#endif /* SHMAP_TEST_SEGMENT_KIND_H */
