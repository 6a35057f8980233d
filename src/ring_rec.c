/* SPDX-License-Identifier: MIT */
/*
 * ring_rec.c - rings of variable-length records: layout, open and the
 * public *_rec calls with their argument checks. The algorithms, with the
 * takeover, maintenance, wait probe and checker each needs, are behind
 * each type's table of operations in ring_rec_spsc.c, ring_rec_spmc.c and
 * ring_rec_bcast.c; the layout in ring_rec-internal.h.
 *
 * A record ring is a struct shmap_ring whose table has RING_F_RECORDS:
 * roles, liveness, takeover, waiting and inspection are ring.c's,
 * unchanged; ring.c's fixed-slot data calls refuse such a handle
 * (SHMAP_E_NOTSUP) and the calls here refuse a fixed-slot one. Its segment has its own kind
 * (SHMAP__KIND_RING_REC, kind_flags = the ring type), so neither kind of
 * ring can be opened as the other.
 */
#include <assert.h>
#include <stdlib.h>

#include <shmap/ring_rec.h>

#include "ring_rec-internal.h"

/* ---------------------------------------------------------------- layout */

static uint64_t rec_line_off(uint32_t mc)
{
	return SHMAP_ALIGN_UP((uint64_t)sizeof(struct ring_ctl) + (uint64_t)mc * sizeof(struct ring_rec),
			      (uint64_t)SHMAP_CACHELINE);
}

static uint64_t rec_data_off(uint32_t mc)
{
	return rec_line_off(mc) + sizeof(struct rec_line);
}

static int rec_cap_ok(uint64_t cap, uint32_t max_rec)
{
	return cap >= 64 && shmap__is_pow2_u64(cap) && cap <= SHMAP_RING_DATA_MAX &&
	       cap >= 2 * SHMAP_RING_REC_SIZE(max_rec);
}

static int rec_layout(struct shmap__params *p)
{
	if (p->elem_size == 0 || p->elem_size > SHMAP_RING_REC_MAX)
		return SHMAP_E_INVAL;
	if (!rec_cap_ok(p->capacity, p->elem_size))
		return SHMAP_E_INVAL;
	if (p->max_consumers == 0 || p->max_consumers > SHMAP_RING_CONSUMERS_MAX)
		return SHMAP_E_INVAL;
	if (p->kind_flags == SHMAP_RING_SPSC) {
		if (p->max_consumers != 1)
			return SHMAP_E_INVAL;
	} else if (p->kind_flags != SHMAP_RING_SPMC && p->kind_flags != SHMAP_RING_BCAST_LOSSY &&
		   p->kind_flags != SHMAP_RING_BCAST_RELIABLE) {
		return SHMAP_E_INVAL;
	}
	if (p->key_max || p->value_max)
		return SHMAP_E_INVAL;
	uint64_t sz = rec_data_off(p->max_consumers) + p->capacity;
	p->data_size = SHMAP_ALIGN_UP(sz, (uint64_t)SHMAP__PAGE);
	return SHMAP_OK;
}

/* zero-filled: no header written, the word at position 0 says "nothing" */
static const struct shmap__kind_ops rec_ops = { SHMAP__KIND_RING_REC, rec_layout, NULL };

/* The table of operations of a record ring's segment (its kind_flags were
 * checked by rec_layout() when it was opened: anything else is a bug). */
static const struct ring_ops *rec_ops_of(const struct shmap__params *p)
{
	switch (p->kind_flags) {
	case SHMAP_RING_SPSC:
		return &shmap__ring_rec_spsc_ops;
	case SHMAP_RING_SPMC:
		return &shmap__ring_rec_spmc_ops;
	case SHMAP_RING_BCAST_LOSSY:
		return &shmap__ring_rec_lossy_ops;
	case SHMAP_RING_BCAST_RELIABLE:
		return &shmap__ring_rec_reliable_ops;
	default:
		break;
	}
	assert(!"record ring segment of a type rec_layout() refuses");
	abort();
}

static void rec_bind(struct shmap_ring *r)
{
	const struct shmap__params *p = &r->seg.p;
	r->ops = rec_ops_of(p);
	r->esize = p->elem_size;
	r->cap = p->capacity;
	r->mask = p->capacity - 8u;
	r->max_cons = p->max_consumers;
	r->ctl = (struct ring_ctl *)(void *)r->seg.data;
	r->recs = (struct ring_rec *)(void *)(r->seg.data + sizeof(struct ring_ctl));
	r->seq = NULL;
	r->rx.line = (struct rec_line *)(void *)(r->seg.data + rec_line_off(r->max_cons));
	r->rx.max_rec = p->elem_size;
	r->data = r->seg.data + rec_data_off(r->max_cons);
}

SHMAP_API int shmap_ring_open_rec(const char *name, uint32_t oflags, uint32_t type, uint32_t max_record,
				  uint64_t capacity, uint32_t role, const shmap_opts *opts, shmap_ring **ret)
{
	uint32_t max_consumers = opts ? opts->max_consumers : 0;
	if (!ret || (role != SHMAP_RING_PRODUCER && role != SHMAP_RING_CONSUMER &&
		     role != SHMAP_RING_OBSERVER))
		return SHMAP_E_INVAL;
	if (oflags != SHMAP_CREATE && oflags != SHMAP_OPEN && oflags != SHMAP_OPEN_OR_CREATE)
		return SHMAP_E_INVAL;
	if (type > SHMAP_RING_BCAST_RELIABLE)
		return SHMAP_E_INVAL;
	int creating = oflags != SHMAP_OPEN;
	if (creating && (type == 0 || max_record == 0 || capacity == 0))
		return SHMAP_E_INVAL;
	if (max_record > SHMAP_RING_REC_MAX)
		return SHMAP_E_TOOBIG;
	if (capacity > SHMAP_RING_DATA_MAX || max_consumers > SHMAP_RING_CONSUMERS_MAX)
		return SHMAP_E_INVAL;
	if (type == SHMAP_RING_SPSC && max_consumers > 1)
		return SHMAP_E_INVAL;
	if (capacity) {
		capacity = shmap__next_pow2_u64(capacity < 64 ? 64 : capacity);
		if (max_record && !rec_cap_ok(capacity, max_record))
			return SHMAP_E_INVAL;
	}
	if (creating && type == SHMAP_RING_SPSC)
		max_consumers = 1;
	else if (creating && max_consumers == 0)
		max_consumers = SHMAP_RING_CONSUMERS_DEFAULT;
	shmap__ring_mb_register();

	struct shmap_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return SHMAP_E_NOMEM;
	struct shmap__params want = { 0 };
	want.kind = SHMAP__KIND_RING_REC;
	want.kind_flags = type;
	want.capacity = capacity;
	want.elem_size = max_record;
	want.max_consumers = max_consumers;
	int rc = shmap__seg_open(name, oflags, &want, &rec_ops, opts, &r->seg);
	if (rc < 0) {
		free(r);
		return rc;
	}
	rec_bind(r);
	return shmap__ring_open_finish(r, rc, role, ret);
}

/* ------------------------------------------------------------ data calls */

static inline int rec_enter(struct shmap_ring *r, uint32_t role)
{
	int rc = shmap__seg_check(&r->seg);
	if (shmap_unlikely(rc))
		return rc;
	if (shmap_unlikely(!(r->ops->flags & RING_F_RECORDS)))
		return SHMAP_E_NOTSUP;
	if (shmap_unlikely(r->role != role))
		return SHMAP_E_NOTATTACHED;
	if (shmap_unlikely(r->rx.z_kind))
		return SHMAP_E_BUSY;
	return SHMAP_OK;
}

static inline int rec_len_ok(const struct shmap_ring *r, uint32_t len)
{
	if (shmap_unlikely(len == 0))
		return SHMAP_E_INVAL;
	if (shmap_unlikely(len > r->rx.max_rec))
		return SHMAP_E_TOOBIG;
	return SHMAP_OK;
}

static inline int rec_push_once(struct shmap_ring *r, const uint8_t *src, const uint32_t *lens, uint32_t n,
				uint32_t *done)
{
	return r->ops->rec_push_n(r, src, lens, n, done);
}

static inline int rec_pop_once(struct shmap_ring *r, uint8_t *out, uint64_t out_len, uint32_t *lens,
			       uint32_t n, uint32_t *done, uint32_t *need)
{
	return r->ops->rec_pop_n(r, out, out_len, lens, n, done, need);
}

/* Non-waiting push with the FULL slow path of ring.c (shmap__ring_full_reclaim). */
static int rec_push_nb(struct shmap_ring *r, const uint8_t *src, const uint32_t *lens, uint32_t n,
		       uint32_t *done)
{
	int rc = rec_push_once(r, src, lens, n, done);
	if (shmap_likely(rc != SHMAP_E_FULL)) {
		r->full_since = 0;
		return rc;
	}
	if (!shmap__ring_full_reclaim(r))
		return rc;
	rc = rec_push_once(r, src, lens, n, done);
	if (rc == SHMAP_OK)
		rc = SHMAP_RECOVERED;
	r->full_since = 0;
	return rc;
}

static int rec_lens_ok(const struct shmap_ring *r, const uint32_t *lens, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		int rc = rec_len_ok(r, lens[i]);
		if (rc)
			return rc;
	}
	return SHMAP_OK;
}

SHMAP_API int shmap_ring_push_rec(shmap_ring *r, const void *data, uint32_t len)
{
	uint32_t done;
	if (!r || !data)
		return SHMAP_E_INVAL;
	int rc = rec_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	rc = rec_len_ok(r, len);
	if (rc)
		return rc;
	return rec_push_nb(r, data, &len, 1, &done);
}

SHMAP_API int shmap_ring_pop_rec(shmap_ring *r, void *out, uint32_t out_len, uint32_t *len)
{
	uint32_t done, l = 0, need = 0;
	if (!r || !len || (!out && out_len))
		return SHMAP_E_INVAL;
	int rc = rec_enter(r, SHMAP_RING_CONSUMER);
	if (rc)
		return rc;
	rc = rec_pop_once(r, out, out_len, &l, 1, &done, &need);
	if (rc == SHMAP_OK)
		*len = l;
	else if (rc == SHMAP_E_BUFSIZE)
		*len = need;
	return rc;
}

SHMAP_API int shmap_ring_push_rec_n(shmap_ring *r, const void *data, const uint32_t *lens, uint32_t n,
				    uint32_t *done)
{
	uint32_t d = 0;
	if (done)
		*done = 0;
	if (!r || (n && (!data || !lens)))
		return SHMAP_E_INVAL;
	int rc = rec_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	if (n == 0)
		return SHMAP_OK;
	rc = rec_lens_ok(r, lens, n);
	if (rc)
		return rc;
	rc = rec_push_nb(r, data, lens, n, &d);
	if (done)
		*done = d;
	return rc;
}

SHMAP_API int shmap_ring_pop_rec_n(shmap_ring *r, void *out, uint64_t out_len, uint32_t *lens, uint32_t n,
				   uint32_t *done)
{
	uint32_t d = 0, need = 0;
	if (done)
		*done = 0;
	if (!r || (n && !lens) || (!out && out_len))
		return SHMAP_E_INVAL;
	int rc = rec_enter(r, SHMAP_RING_CONSUMER);
	if (rc)
		return rc;
	if (n == 0)
		return SHMAP_OK;
	rc = rec_pop_once(r, out, out_len, lens, n, &d, &need);
	if (rc == SHMAP_E_BUFSIZE)
		lens[0] = need;
	if (done)
		*done = d;
	return rc;
}

/* ---------------------------------------------------------------- waiting */

/*
 * SPSC consumer that caught up with its producer (a waiting pop found the
 * ring empty): re-try RECS_PACE_TRIES times, RECS_PACE_RELAX pauses apart,
 * before the spin-yield-sleep loop of ring.c. Each try reads the word the
 * producer is about to write, and every read that falls between two of its
 * writes to that line (the zero word, the payload, the header) costs the
 * producer one more transfer of the line: at ring.c's spinning pace a
 * streaming producer pays several per record, at this pace the producer
 * writes a few records undisturbed and the consumer takes them in a row.
 * Measured with shmap-bench spsc-var-small/-large on a 2-CPU guest
 * (a pause there took about 77 ns): 8 pauses gave about 1.15x the
 * throughput, 12 about 1.2x, 32 about 1.25x; a ping-pong of 64-byte
 * records between two record rings kept its round trip (about 840 ns on
 * that guest) up to 12 pauses and lost 130 ns with 16, 360 ns with 32.
 * Only private state and the words a pop reads anyway are touched;
 * returns as rec_pop_once().
 */
#define RECS_PACE_TRIES 16
#define RECS_PACE_RELAX 12

static int recs_pop_paced(struct shmap_ring *r, uint8_t *out, uint64_t out_len, uint32_t *lens, uint32_t n,
			  uint32_t *done, uint32_t *need)
{
	int rc = SHMAP_E_EMPTY;
	if (!(r->ops->flags & RING_F_CONS_WORD)) /* SPSC only */
		return rc;
	for (int i = 0; i < RECS_PACE_TRIES && rc == SHMAP_E_EMPTY; i++) {
		for (int k = 0; k < RECS_PACE_RELAX; k++)
			shmap_cpu_relax();
		rc = rec_pop_once(r, out, out_len, lens, n, done, need);
	}
	return rc;
}

/* A waiting call's attempt (ring.c's, first) with the record call's arguments. */
struct rec_attempt {
	struct ring_attempt a;
	const uint32_t *lens_in;
	uint32_t *lens_out;
	uint64_t len;  /* pop: out_len; push: bytes of the records already pushed */
};

static int attempt_push(struct shmap_ring *r, struct ring_attempt *ra)
{
	struct rec_attempt *a = (struct rec_attempt *)(void *)ra;
	uint32_t d = 0;
	const uint8_t *src = ra->src;
	int rc = rec_push_once(r, src + a->len, a->lens_in + ra->done, ra->n - ra->done, &d);
	for (uint32_t i = 0; i < d; i++)
		a->len += a->lens_in[ra->done + i];
	ra->done += d;
	if (rc == SHMAP_OK && ra->done < ra->n)
		return SHMAP_E_FULL; /* keep waiting for the rest */
	return rc;
}

static int attempt_pop(struct shmap_ring *r, struct ring_attempt *ra)
{
	struct rec_attempt *a = (struct rec_attempt *)(void *)ra;
	uint32_t d = 0, need = 0;
	int rc = rec_pop_once(r, ra->dst, a->len, a->lens_out, ra->n, &d, &need);
	if (rc == SHMAP_E_BUFSIZE)
		a->lens_out[0] = need;
	ra->done = d;
	return rc;
}

static int rec_push_wait(shmap_ring *r, const void *data, const uint32_t *lens, uint32_t n, uint32_t *done,
			 uint32_t timeout_ms)
{
	struct rec_attempt a = { { attempt_push, data, NULL, n, 0 }, lens, NULL, 0 };
	int rc = shmap__ring_wait_loop(r, &a.a, timeout_ms);
	if (done)
		*done = a.a.done;
	if (rc == SHMAP_E_FULL && timeout_ms)
		rc = SHMAP_E_TIMEOUT;
	return rc;
}

SHMAP_API int shmap_ring_push_rec_wait(shmap_ring *r, const void *data, uint32_t len, uint32_t timeout_ms)
{
	if (!r || !data)
		return SHMAP_E_INVAL;
	int rc = rec_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	rc = rec_len_ok(r, len);
	if (rc)
		return rc;
	uint32_t done;
	rc = rec_push_nb(r, data, &len, 1, &done); /* the common case: room at once */
	if (rc != SHMAP_E_FULL || timeout_ms == 0)
		return rc;
	return rec_push_wait(r, data, &len, 1, NULL, timeout_ms);
}

SHMAP_API int shmap_ring_push_rec_n_wait(shmap_ring *r, const void *data, const uint32_t *lens, uint32_t n,
					 uint32_t *done, uint32_t timeout_ms)
{
	if (done)
		*done = 0;
	if (!r || (n && (!data || !lens)))
		return SHMAP_E_INVAL;
	int rc = rec_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	if (n == 0)
		return SHMAP_OK;
	rc = rec_lens_ok(r, lens, n);
	if (rc)
		return rc;
	uint32_t d = 0;
	rc = rec_push_wait(r, data, lens, n, &d, timeout_ms);
	if (done)
		*done = d;
	/* some pushed, not all: TIMEOUT (with timeout 0 too), whether or not
	 * the caller asked for the count, as shmap_ring_push_n_wait() */
	if (rc == SHMAP_E_FULL && d)
		rc = SHMAP_E_TIMEOUT;
	return rc;
}

static int rec_pop_wait(shmap_ring *r, void *out, uint64_t out_len, uint32_t *lens, uint32_t n,
			uint32_t *done, uint32_t timeout_ms)
{
	struct rec_attempt a = { { attempt_pop, NULL, out, n, 0 }, NULL, lens, out_len };
	int rc = shmap__ring_wait_loop(r, &a.a, timeout_ms);
	if (done)
		*done = a.a.done;
	return rc;
}

/*
 * A waiting pop of up to n records: the first try straight away (the
 * common case), then the paced SPSC re-tries, then ring.c's waiting loop.
 * On SHMAP_E_BUFSIZE lens[0] is the length the first record needs.
 */
static int rec_pop_n_wait(shmap_ring *r, void *out, uint64_t out_len, uint32_t *lens, uint32_t n,
			  uint32_t *done, uint32_t timeout_ms)
{
	int rc = rec_enter(r, SHMAP_RING_CONSUMER);
	if (rc)
		return rc;
	if (n == 0)
		return SHMAP_OK;
	uint32_t d = 0, need = 0;
	rc = rec_pop_once(r, out, out_len, lens, n, &d, &need);
	if (rc == SHMAP_E_EMPTY && timeout_ms)
		rc = recs_pop_paced(r, out, out_len, lens, n, &d, &need);
	if (rc != SHMAP_E_EMPTY || timeout_ms == 0) {
		if (rc == SHMAP_E_BUFSIZE)
			lens[0] = need;
		if (done)
			*done = d;
		return rc;
	}
	return rec_pop_wait(r, out, out_len, lens, n, done, timeout_ms);
}

SHMAP_API int shmap_ring_pop_rec_wait(shmap_ring *r, void *out, uint32_t out_len, uint32_t *len,
				      uint32_t timeout_ms)
{
	uint32_t l = 0;
	if (!r || !len || (!out && out_len))
		return SHMAP_E_INVAL;
	int rc = rec_pop_n_wait(r, out, out_len, &l, 1, NULL, timeout_ms);
	if (rc == SHMAP_OK || rc == SHMAP_E_BUFSIZE)
		*len = l;
	return rc;
}

SHMAP_API int shmap_ring_pop_rec_n_wait(shmap_ring *r, void *out, uint64_t out_len, uint32_t *lens,
					uint32_t n, uint32_t *done, uint32_t timeout_ms)
{
	if (done)
		*done = 0;
	if (!r || (n && !lens) || (!out && out_len))
		return SHMAP_E_INVAL;
	return rec_pop_n_wait(r, out, out_len, lens, n, done, timeout_ms);
}

/* -------------------------------------------------------------- zero-copy */

SHMAP_API int shmap_ring_reserve_rec(shmap_ring *r, uint32_t len, void **ptr)
{
	if (!r || !ptr)
		return SHMAP_E_INVAL;
	int rc = rec_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	rc = rec_len_ok(r, len);
	if (rc)
		return rc;
	for (int again = 0; again < 2; again++) {
		rc = r->ops->rec_reserve(r, len, ptr);
		if (rc == SHMAP_OK) {
			r->full_since = 0;
			r->rx.z_kind = RING_ZC_RESERVE;
			return again ? SHMAP_RECOVERED : SHMAP_OK;
		}
		/* same slow path as push: reclaim from dead peers after a while */
		if (rc != SHMAP_E_FULL || !shmap__ring_full_reclaim(r))
			return rc;
	}
	return rc;
}

static int rec_finish_check(shmap_ring *r, uint32_t role, uint32_t kind)
{
	if (!r)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&r->seg);
	if (rc)
		return rc;
	if (!(r->ops->flags & RING_F_RECORDS))
		return SHMAP_E_NOTSUP;
	if (r->role != role)
		return SHMAP_E_NOTATTACHED;
	if (r->rx.z_kind != kind)
		return SHMAP_E_INVAL;
	return SHMAP_OK;
}

SHMAP_API int shmap_ring_commit_rec(shmap_ring *r, uint32_t len)
{
	int rc = rec_finish_check(r, SHMAP_RING_PRODUCER, RING_ZC_RESERVE);
	if (rc)
		return rc;
	if (len > r->rx.z_len)
		return SHMAP_E_INVAL;
	r->ops->rec_commit(r, len);
	r->rx.z_kind = RING_ZC_NONE;
	return SHMAP_OK;
}

SHMAP_API int shmap_ring_peek_rec(shmap_ring *r, const void **ptr, uint32_t *len)
{
	if (!r || !ptr || !len)
		return SHMAP_E_INVAL;
	int rc = rec_enter(r, SHMAP_RING_CONSUMER);
	if (rc)
		return rc;
	rc = r->ops->rec_peek(r, ptr, len);
	if (rc == SHMAP_OK)
		r->rx.z_kind = RING_ZC_PEEK;
	return rc;
}

SHMAP_API int shmap_ring_release_rec(shmap_ring *r)
{
	int rc = rec_finish_check(r, SHMAP_RING_CONSUMER, RING_ZC_PEEK);
	if (rc)
		return rc;
	rc = r->ops->rec_release(r);
	r->rx.z_kind = RING_ZC_NONE;
	return rc;
}
