/* SPDX-License-Identifier: MIT */
/*
 * htable_val.h - self-checking values for the hash-table tests.
 *
 * A value is  [u32 key id][u32 seq][fill bytes ...][u32 checksum]  of
 * 12..cap bytes, where every fill byte is derived from (key id, seq) and the
 * checksum covers everything before it. A torn value (bytes of two writes)
 * or an invented one fails val_check().
 */
#ifndef SHMAP_TEST_HTABLE_VAL_H
#define SHMAP_TEST_HTABLE_VAL_H

#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>

#include "test_xxhash.h"

/* In a forked child: die when the test process exits (even after a failed assertion). */
static inline void child_die_with_parent(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* The check value of a value's bytes: the low half of XXH3-64, as the other
 * tests' check values (tt_sum32 in torture.h). */
static inline uint32_t val_sum(const uint8_t *p, uint32_t n)
{
	return (uint32_t)XXH3_64bits(p, n);
}

/* Length of the value for (id, seq), in [12, cap]. */
static inline uint32_t val_len_for(uint32_t id, uint32_t seq, uint32_t cap)
{
	return 12u + (id * 7u + seq * 13u) % (cap - 11u);
}

/* Build the value for (id, seq) into buf (cap bytes at least); returns its length. */
static inline uint32_t val_make(uint8_t *buf, uint32_t cap, uint32_t id, uint32_t seq)
{
	uint32_t len = val_len_for(id, seq, cap);
	memcpy(buf, &id, 4);
	memcpy(buf + 4, &seq, 4);
	uint8_t fill = (uint8_t)(id * 31u + seq * 17u + 1u);
	memset(buf + 8, fill, len - 12u);
	uint32_t s = val_sum(buf, len - 4u);
	memcpy(buf + len - 4u, &s, 4);
	return len;
}

/*
 * Check a value read back: consistent, for key `id` (or any id if id is
 * UINT32_MAX). Returns 0 if good; *seq receives its sequence number.
 */
static inline int val_check(const uint8_t *buf, uint32_t len, uint32_t cap, uint32_t id, uint32_t *seq)
{
	uint32_t vid, vseq, s;
	if (seq)
		*seq = UINT32_MAX; /* set on failure too: gcc cannot see cmocka's asserts never return */
	if (len < 12u || len > cap)
		return -1;
	memcpy(&vid, buf, 4);
	memcpy(&vseq, buf + 4, 4);
	if (id != UINT32_MAX && vid != id)
		return -2;
	if (len != val_len_for(vid, vseq, cap))
		return -3;
	uint8_t fill = (uint8_t)(vid * 31u + vseq * 17u + 1u);
	for (uint32_t i = 8; i < len - 4u; i++)
		if (buf[i] != fill)
			return -4;
	memcpy(&s, buf + len - 4u, 4);
	if (s != val_sum(buf, len - 4u))
		return -5;
	if (seq)
		*seq = vseq;
	return 0;
}

/* Key for id: 8..24 bytes, so keys of several lengths share chains. */
static inline uint32_t key_make(uint8_t *buf, uint32_t id)
{
	uint32_t len = 8u + (id % 3u) * 8u;
	memset(buf, 0, len);
	memcpy(buf, &id, 4);
	memcpy(buf + len - 4u, &id, 4);
	return len;
}

static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif /* SHMAP_TEST_HTABLE_VAL_H */
