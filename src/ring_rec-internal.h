/* SPDX-License-Identifier: MIT */
/*
 * ring_rec-internal.h - private layout and helpers of the record rings (ring_rec.c,
 * ring_rec_spsc.c, ring_rec_spmc.c, ring_rec_bcast.c): rings of variable-length records in
 * a byte buffer.
 *
 * Data region of a record ring segment (kind SHMAP__KIND_RING_REC,
 * kind_flags = the ring type):
 *
 *   struct ring_ctl        as for the fixed-slot rings (roles, head, tail,
 *                          sleepers, futex words); head, tail and the
 *                          subscriber cursors count BYTES
 *   struct ring_rec[max_consumers]   subscriber records, as for broadcast
 *   struct rec_line        one line written by the producer (lossy: intent,
 *                          latest; SPMC: free cursor)
 *   data[cap]              the byte ring, cap a power of two
 *
 * Positions are 64-bit byte counts, multiples of 8, that never wrap in
 * practice; offset = position & (cap - 8) with the PRIVATE capacity, so
 * every offset taken from shared memory is 8-aligned and inside the ring.
 *
 * A unit starting at position x is an 8-byte header word followed by its
 * payload, padded to a multiple of 8:
 *   hw = tag << 32 | lenf,  tag = (uint32_t)(x >> 3)
 *   lenf = len (1..max_record): a record of len bytes, size 8 + align8(len);
 *   lenf = REC_PAD: a padding record that runs to the end of the lap (the
 *   record after it starts at offset 0). A record never wraps.
 * The tag ties a header to its position: a header whose tag is not that
 * of the position it is read at is rejected (SHMAP_E_CORRUPT, or a lap for
 * a lossy subscriber), as is a length over the private max_record, a
 * record running past the end of the buffer or a padding record at offset
 * 0. So a hostile peer can make a pop fail but never read outside the ring.
 *
 * A record of max_record bytes plus the worst padding fits twice in the
 * ring (capacity >= 2 * (8 + align8(max_record))), so a producer facing an
 * empty ring can always place one.
 */
#ifndef SHMAP_RING_REC_INTERNAL_H
#define SHMAP_RING_REC_INTERNAL_H

#include "ring-internal.h"

#define REC_HDR 8u
#define REC_PAD 0x80000000u
#define REC_LEN_MASK 0x7fffffffu

/* The producer's own line (after the subscriber records). */
struct rec_line {
	uint64_t intent;  /* lossy: highest position the producer started to write;
			   * SPMC: the producer's free cursor (ring_rec_spmc.c) */
	uint64_t latest;  /* lossy: start of the last record published */
	uint64_t pad[6];
};
_Static_assert(sizeof(struct rec_line) == 64, "rec line size");

static inline uint64_t rec_size(uint32_t len)
{
	return REC_HDR + (((uint64_t)len + 7u) & ~UINT64_C(7));
}

static inline uint64_t rec_hw(uint64_t pos, uint32_t lenf)
{
	return (uint64_t)(uint32_t)(pos >> 3) << 32 | lenf;
}

static inline uint64_t rec_off(const struct shmap_ring *r, uint64_t pos)
{
	return pos & r->mask; /* mask = cap - 8: aligned, in the ring */
}

static inline volatile uint64_t *rec_word(const struct shmap_ring *r, uint64_t pos)
{
	return (volatile uint64_t *)(void *)(r->data + rec_off(r, pos));
}

static inline uint8_t *rec_payload(const struct shmap_ring *r, uint64_t pos)
{
	return r->data + rec_off(r, pos) + REC_HDR;
}

/*
 * Copy a record of len bytes from the caller into the ring reading the
 * caller's bytes in 8-byte words (as ring-internal.h's ring_copy_in_w8() does for
 * fixed slots): a caller has usually just written its message with
 * narrower stores (a length or number in front, a mark at the end), and a
 * wider load of bytes still in the store buffer cannot be forwarded from
 * it: it waits until every older store has left, among them the previous
 * record's stores into lines the consumer holds, one cross-CPU transfer
 * per record that nothing overlaps. An 8-byte load is forwarded from any
 * store that covers it. Up to 256 bytes all in words (the last word may
 * overlap the one before it), shorter than 8 in bytes; longer records with
 * memcpy (words at both ends of them measured slower: shmap-bench
 * spsc-var-large 0.93x, where words throughout the small ones gave
 * spsc-var-small 1.1x). The empty asm keeps the compiler from merging the
 * words into vector loads.
 */
__attribute__((always_inline)) static inline void rec_w8(uint8_t *d, const uint8_t *s)
{
	uint64_t w;
	memcpy(&w, s, 8);
	__asm__("" : "+r"(w));
	memcpy(d, &w, 8);
}

static inline void rec_copy_in(uint8_t *d, const uint8_t *s, uint32_t len)
{
	if (len < 8) {
		for (uint32_t i = 0; i < len; i++) {
			uint8_t b = s[i];
			__asm__("" : "+r"(b));
			d[i] = b;
		}
		return;
	}
	if (len > 256) {
		memcpy(d, s, len);
		return;
	}
	uint32_t off = 0;
	for (; off + 8 <= len; off += 8)
		rec_w8(d + off, s + off);
	if (off < len)
		rec_w8(d + len - 8, s + len - 8);
}

/* SPMC: a unit consumed (or reclaimed) is marked in its first word with
 * the inverted tag and the unit's length (padding included). */
static inline uint64_t rec_done_hw(uint64_t pos, uint32_t unit_len)
{
	return (uint64_t)(uint32_t)~(uint32_t)(pos >> 3) << 32 | unit_len;
}

static inline int rec_is_done(uint64_t hw, uint64_t pos)
{
	return (uint32_t)(hw >> 32) == (uint32_t)~(uint32_t)(pos >> 3);
}

/* Where a record of len bytes goes when the producer is at p: padding
 * first if it does not fit before the end of the buffer. */
struct rec_place {
	uint64_t rec;  /* position of the record's header */
	uint64_t end;  /* position after the record */
	int pad;       /* 1: a padding record at p runs to rec */
};

static inline void rec_place(const struct shmap_ring *r, uint64_t p, uint32_t len, struct rec_place *pl)
{
	uint64_t off = rec_off(r, p);
	uint64_t sz = rec_size(len);
	pl->pad = r->cap - off < sz;
	pl->rec = pl->pad ? p + (r->cap - off) : p;
	pl->end = pl->rec + sz;
}

/*
 * Parse the unit at position c whose header word is hw (non-zero): skip a
 * padding record (reading the header after it with `acq` ordering), check
 * the record. Returns 0 and fills *rec (the record's header position) and
 * *len, or -1 if the words are no valid unit for c.
 */
static inline int rec_parse(const struct shmap_ring *r, uint64_t c, uint64_t hw, int acq, uint64_t *rec,
			    uint32_t *len)
{
	if ((uint32_t)(hw >> 32) != (uint32_t)(c >> 3))
		return -1;
	uint32_t lenf = (uint32_t)hw;
	if (lenf == REC_PAD) {
		uint64_t off = rec_off(r, c);
		if (off == 0)
			return -1;
		c += r->cap - off;
		/* acquire (SPSC): as for the first word; the pad's header was
		 * published after the record's header */
		hw = acq ? shmap__atomic_load_acquire_u64(rec_word(r, c)) : shmap__atomic_load_u64(rec_word(r, c));
		if ((uint32_t)(hw >> 32) != (uint32_t)(c >> 3))
			return -1;
		lenf = (uint32_t)hw;
	}
	if (lenf == 0 || lenf > r->rx.max_rec)
		return -1;
	if (rec_off(r, c) + rec_size(lenf) > r->cap)
		return -1;
	*rec = c;
	*len = lenf;
	return 0;
}

/*
 * SPSC and SPMC producers (the unit's first word publishes it): write the
 * records lens[0..n) from src from position r->pos on, as many as
 * room(r, p, end, bad) allows (room up to `end` for a unit ending at end -
 * REC_HDR: the next unit's word must fit too), every header but the first
 * unit's word, and the zero word after the last ("nothing yet"). Returns
 * the records written; *endp the position after them, *first_hw the word
 * the caller stores last, with release, at r->pos.
 */
static inline uint32_t rec_fill(struct shmap_ring *r, const uint8_t *src, const uint32_t *lens, uint32_t n,
				int (*room)(struct shmap_ring *, uint64_t, uint64_t, int *), int *bad,
				uint64_t *endp, uint64_t *first_hw)
{
	uint64_t p = r->pos;
	uint32_t k = 0;
	while (k < n) {
		struct rec_place pl;
		uint32_t len = lens[k];
		rec_place(r, p, len, &pl);
		if (!room(r, p, pl.end + REC_HDR, bad))
			break;
		rec_copy_in(rec_payload(r, pl.rec), src, len);
		src += len;
		uint64_t hw = rec_hw(pl.rec, len);
		if (pl.pad) {
			shmap__atomic_store_u64(rec_word(r, pl.rec), hw);
			hw = rec_hw(p, REC_PAD);
		}
		if (k == 0)
			*first_hw = hw; /* stored last, by the caller */
		else
			shmap__atomic_store_u64(rec_word(r, p), hw);
		p = pl.end;
		k++;
	}
	if (k)
		shmap__atomic_store_u64(rec_word(r, p), 0); /* the next unit's word: "nothing yet" */
	*endp = p;
	return k;
}

/* The same for a commit of the reservation (rx.z_pos, rx.z_rec) with len
 * bytes: returns the first word, *endp the end. */
static inline uint64_t rec_commit_words(struct shmap_ring *r, uint32_t len, uint64_t *endp)
{
	uint64_t p = r->rx.z_pos, rec = r->rx.z_rec;
	uint64_t end = rec + rec_size(len);
	uint64_t hw = rec_hw(rec, len);
	shmap__atomic_store_u64(rec_word(r, end), 0);
	if (rec != p) {
		shmap__atomic_store_u64(rec_word(r, rec), hw);
		hw = rec_hw(p, REC_PAD);
	}
	*endp = end;
	return hw;
}

/* Each record ring type's operations are its table (struct ring_ops,
 * ring-internal.h): ring_rec_spsc.c, ring_rec_spmc.c, ring_rec_bcast.c.
 * rec_push_n: push up to n records (lens[i] bytes each, consecutive in
 *   src); *done records pushed. OK / FULL / CORRUPT.
 * rec_pop_n: pop up to n records into out (out_len bytes, packed), lens[i];
 *   OK / EMPTY / OVERRUN / CORRUPT / BUFSIZE (first record does not fit:
 *   *need its length). */

#endif /* SHMAP_RING_REC_INTERNAL_H */
