/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ops.c - libFuzzer target: differential operation sequences
 * (scenario 24).
 *
 * Each input is decoded into a sequence of operations on a fresh vector,
 * hash table and ring (all memfd segments created for this input) and
 * every result is compared with a trivial in-process reference model. A
 * divergence (other status, other value, other length, other size) aborts
 * with a message, which libFuzzer records as a crash input.
 *
 * Input: byte 0 selects the ring type (SPSC, SPMC, reliable or lossy
 * broadcast; one consumer/subscriber handle); then each operation is one
 * opcode byte (structure in the high bits, operation and argument in the
 * low bits) plus, for some, one argument byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <shmap/shmap.h>

#include "fuzz_common.h"
#include "../th_api.h"

#define VCAP 32u
#define HCAP 16u
#define HKEY 8u
#define HVAL 16u
#define RCAP 8u
#define NKEYS 24u

static void diverge(const char *what, long long got, long long want)
{
	fprintf(stderr, "DIVERGENCE: %s: shmap %lld, model %lld\n", what, got, want);
	abort();
}

#define EXPECT(what, got, want)                                                                   \
	do {                                                                                      \
		long long g_ = (long long)(got), w_ = (long long)(want);                          \
		if (g_ != w_)                                                                     \
			diverge(what, g_, w_);                                                    \
	} while (0)

#ifdef FZ_HAVE_VECTOR
/* ------------------------------------------------------------------ */
/* vector model                                                        */

struct vmodel {
	uint64_t val[VCAP];
	uint8_t pub[VCAP];   /* 1 published, 0 reserved by us and not published */
	uint64_t reserved;
};

static uint64_t vwatermark(const struct vmodel *m)
{
	uint64_t i = 0;
	while (i < m->reserved && m->pub[i])
		i++;
	return i;
}

static void vector_op(shmap_vector *v, struct vmodel *m, uint8_t op, uint8_t arg, uint64_t tick)
{
	uint64_t e = (tick << 16) | arg, out = 0, idx = 0;
	int rc;
	switch (op & 7u) {
	case 0: /* push */
		rc = shmap_vector_push(v, &e, &idx);
		if (m->reserved == VCAP) {
			EXPECT("vector push full", rc, SHMAP_E_FULL);
		} else {
			EXPECT("vector push", rc, SHMAP_OK);
			EXPECT("vector push index", idx, m->reserved);
			m->val[m->reserved] = e;
			m->pub[m->reserved++] = 1;
		}
		break;
	case 1: { /* get */
		uint64_t i = arg % (VCAP + 4u);
		if (arg == 255)
			i = UINT64_MAX;
		rc = shmap_vector_get(v, i, &out);
		if (i >= m->reserved)
			EXPECT("vector get range", rc, SHMAP_E_RANGE);
		else if (!m->pub[i])
			EXPECT("vector get pending", rc, SHMAP_E_NOTREADY);
		else {
			EXPECT("vector get", rc, SHMAP_OK);
			EXPECT("vector get value", out, m->val[i]);
		}
		break;
	}
	case 2: { /* replace */
		uint64_t i = arg % (VCAP + 2u);
		rc = shmap_vector_replace(v, i, &e);
		if (i >= m->reserved)
			EXPECT("vector replace range", rc, SHMAP_E_RANGE);
		else if (!m->pub[i])
			EXPECT("vector replace pending", rc, SHMAP_E_NOTREADY);
		else {
			EXPECT("vector replace", rc, SHMAP_OK);
			m->val[i] = e;
		}
		break;
	}
	case 3: { /* reserve n */
		uint64_t n = 1u + arg % 4u, first = 0;
		rc = shmap_vector_reserve(v, n, &first);
		if (m->reserved + n > VCAP) {
			EXPECT("vector reserve full", rc, SHMAP_E_FULL);
		} else {
			EXPECT("vector reserve", rc, SHMAP_OK);
			EXPECT("vector reserve first", first, m->reserved);
			for (uint64_t k = 0; k < n; k++) {
				m->pub[m->reserved + k] = 0;
				m->val[m->reserved + k] = 0;
			}
			m->reserved += n;
		}
		break;
	}
	case 4: { /* write + publish one pending slot (the arg-th one) */
		uint64_t cand[VCAP], nc = 0;
		for (uint64_t i = 0; i < m->reserved; i++)
			if (!m->pub[i])
				cand[nc++] = i;
		if (nc == 0) {
			/* publishing a published slot is refused */
			if (m->reserved) {
				uint64_t i = arg % m->reserved;
				rc = shmap_vector_publish(v, i, 1);
				EXPECT("vector publish published", rc, SHMAP_E_INVAL);
				EXPECT("vector value kept", shmap_vector_get(v, i, &out), SHMAP_OK);
				EXPECT("vector value kept", out, m->val[i]);
			}
			break;
		}
		uint64_t i = cand[arg % nc];
		if (arg & 0x80) {
			rc = shmap_vector_write(v, i, &e);
			EXPECT("vector write", rc, SHMAP_OK);
			m->val[i] = e;
		}
		rc = shmap_vector_publish(v, i, 1);
		EXPECT("vector publish", rc, SHMAP_OK);
		m->pub[i] = 1;
		break;
	}
	case 5: { /* iterate */
		uint64_t cur = 0, wm = vwatermark(m), seen = 0;
		for (uint64_t k = 0; k <= VCAP; k++) {
			rc = shmap_vector_next(v, &cur, &out, &idx);
			if (rc != SHMAP_OK)
				break;
			EXPECT("vector next index", idx, seen);
			EXPECT("vector next value", out, m->val[seen]);
			seen++;
		}
		EXPECT("vector next count", seen, wm);
		EXPECT("vector next end", rc, wm == m->reserved ? SHMAP_E_EMPTY : SHMAP_E_NOTREADY);
		break;
	}
	case 6: /* counters */
		EXPECT("vector size", shmap_vector_size(v), vwatermark(m));
		EXPECT("vector reserved", shmap_vector_reserved(v), m->reserved);
		EXPECT("vector holes", shmap_vector_holes(v), 0);
		break;
	default: { /* check + stat */
		uint64_t pub = 0, pend = 0, holes = 0, probs = 0, npub = 0;
		EXPECT("vector stat", th_vector_stats(v, &pub, &pend, &holes), SHMAP_OK);
		for (uint64_t i = 0; i < m->reserved; i++)
			npub += m->pub[i];
		EXPECT("vector stat published", pub, npub);
		EXPECT("vector stat pending", pend, m->reserved - npub);
		EXPECT("vector stat holes", holes, 0);
		EXPECT("vector check", shmap_vector_check(v, 0, &probs), SHMAP_OK);
		EXPECT("vector check problems", probs, 0);
		break;
	}
	}
}

#endif

#ifdef FZ_HAVE_HTABLE
/* ------------------------------------------------------------------ */
/* hash table model                                                    */

struct hmodel {
	uint8_t present[NKEYS];
	uint8_t vlen[NKEYS];
	uint8_t val[NKEYS][HVAL];
	uint64_t count;
};

static uint32_t hkey(unsigned id, uint8_t *k)
{
	/* lengths 1..8, distinct bytes per id */
	uint32_t len = 1u + id % HKEY;
	for (uint32_t i = 0; i < len; i++)
		k[i] = (uint8_t)(id * 31u + i);
	return len;
}

static uint32_t hval(uint8_t arg, uint64_t tick, uint8_t *v)
{
	uint32_t len = 1u + (uint32_t)(tick + arg) % HVAL;
	for (uint32_t i = 0; i < len; i++)
		v[i] = (uint8_t)(tick * 7u + i + arg);
	return len;
}

static int upd_fn(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len,
		  void *arg)
{
	uint8_t mode = *(uint8_t *)arg;
	if (mode == 0)
		return SHMAP_HTABLE_ABORT;
	if (mode == 1)
		return SHMAP_HTABLE_ERASE;
	if (exists) {
		memcpy(out, cur, cur_len);
		((uint8_t *)out)[0] ^= 0xff;
		*out_len = cur_len;
	} else {
		memset(out, 0xab, 3);
		*out_len = 3;
	}
	return SHMAP_HTABLE_COMMIT;
}

static void htable_set(struct hmodel *m, unsigned id, const uint8_t *v, uint32_t vl)
{
	if (!m->present[id])
		m->count++;
	m->present[id] = 1;
	m->vlen[id] = (uint8_t)vl;
	memcpy(m->val[id], v, vl);
}

static void htable_del(struct hmodel *m, unsigned id)
{
	if (m->present[id])
		m->count--;
	m->present[id] = 0;
}

static void htable_op(shmap_htable *t, struct hmodel *m, uint8_t op, uint8_t arg, uint64_t tick)
{
	uint8_t k[HKEY], v[HVAL], out[HVAL + 8];
	unsigned id = arg % NKEYS;
	uint32_t kl = hkey(id, k), vl = hval(arg, tick, v), ol = 0;
	uint64_t cap = shmap_htable_capacity(t);
	int rc;
	switch (op & 7u) {
	case 0: /* insert */
		rc = shmap_htable_insert(t, k, kl, v, vl);
		if (m->present[id])
			EXPECT("htable insert exist", rc, SHMAP_E_EXIST);
		else if (rc == SHMAP_E_FULL && m->count >= cap)
			break;
		else {
			EXPECT("htable insert", rc, SHMAP_OK);
			htable_set(m, id, v, vl);
		}
		break;
	case 1: /* upsert */
		rc = shmap_htable_upsert(t, k, kl, v, vl);
		if (rc == SHMAP_E_FULL && !m->present[id] && m->count >= cap)
			break;
		EXPECT("htable upsert", rc, SHMAP_OK);
		htable_set(m, id, v, vl);
		break;
	case 2: /* replace */
		rc = shmap_htable_replace(t, k, kl, v, vl);
		if (!m->present[id])
			EXPECT("htable replace missing", rc, SHMAP_E_NOTFOUND);
		else {
			EXPECT("htable replace", rc, SHMAP_OK);
			htable_set(m, id, v, vl);
		}
		break;
	case 3: /* erase */
		rc = shmap_htable_erase(t, k, kl);
		EXPECT("htable erase", rc, m->present[id] ? SHMAP_OK : SHMAP_E_NOTFOUND);
		htable_del(m, id);
		break;
	case 4: /* get (sometimes with a short buffer) */
		if (arg & 0x80) {
			rc = shmap_htable_get(t, k, kl, out, 1, &ol);
			if (!m->present[id])
				EXPECT("htable get missing", rc, SHMAP_E_NOTFOUND);
			else if (m->vlen[id] > 1) {
				EXPECT("htable get bufsize", rc, SHMAP_E_BUFSIZE);
				EXPECT("htable get needed", ol, m->vlen[id]);
			} else {
				EXPECT("htable get", rc, SHMAP_OK);
				EXPECT("htable get byte", out[0], m->val[id][0]);
			}
			break;
		}
		rc = shmap_htable_get(t, k, kl, out, sizeof(out), &ol);
		if (!m->present[id]) {
			EXPECT("htable get missing", rc, SHMAP_E_NOTFOUND);
		} else {
			EXPECT("htable get", rc, SHMAP_OK);
			EXPECT("htable get length", ol, m->vlen[id]);
			EXPECT("htable get bytes", memcmp(out, m->val[id], ol), 0);
		}
		break;
	case 5: { /* cas: expected = current value (arg even) or a different one */
		uint8_t exp[HVAL];
		uint32_t el;
		if (m->present[id] && !(arg & 1)) {
			el = m->vlen[id];
			memcpy(exp, m->val[id], el);
		} else {
			el = 2;
			exp[0] = 0xee;
			exp[1] = (uint8_t)tick;
		}
		rc = shmap_htable_cas(t, k, kl, exp, el, v, vl);
		if (!m->present[id])
			EXPECT("htable cas missing", rc, SHMAP_E_NOTFOUND);
		else if (m->vlen[id] == el && memcmp(m->val[id], exp, el) == 0) {
			EXPECT("htable cas", rc, SHMAP_OK);
			htable_set(m, id, v, vl);
		} else
			EXPECT("htable cas mismatch", rc, SHMAP_E_MISMATCH);
		break;
	}
	case 6: { /* update: abort / erase / commit */
		uint8_t mode = (uint8_t)(arg >> 5) % 3u;
		rc = shmap_htable_update(t, k, kl, upd_fn, &mode);
		if (mode == 0) {
			EXPECT("htable update abort", rc, SHMAP_E_ABORTED);
		} else if (mode == 1) {
			/* erase of a missing key is a no-op */
			EXPECT("htable update erase", rc, SHMAP_OK);
			htable_del(m, id);
		} else if (!m->present[id] && m->count >= cap && rc == SHMAP_E_FULL) {
			break;
		} else {
			EXPECT("htable update commit", rc, SHMAP_OK);
			if (m->present[id]) {
				uint8_t nv[HVAL];
				memcpy(nv, m->val[id], m->vlen[id]);
				nv[0] ^= 0xff;
				htable_set(m, id, nv, m->vlen[id]);
			} else {
				uint8_t nv[3] = { 0xab, 0xab, 0xab };
				htable_set(m, id, nv, 3);
			}
		}
		break;
	}
	default: { /* size + full scan */
		EXPECT("htable size", shmap_htable_size(t), m->count);
		shmap_htable_cursor *c = NULL;
		EXPECT("htable cursor", shmap_htable_cursor_new(t, &c), SHMAP_OK);
		uint8_t seen[NKEYS] = { 0 };
		uint64_t n = 0;
		uint8_t kb[HKEY];
		uint32_t k2;
		for (;;) {
			rc = shmap_htable_cursor_next(c, kb, sizeof(kb), &k2, out, sizeof(out), &ol);
			if (rc != SHMAP_OK)
				break;
			if (k2 < 1 || k2 > HKEY)
				diverge("htable cursor key length", k2, 0);
			unsigned kid = (unsigned)(uint8_t)(kb[0] * 223u) % 256u; /* 31^-1 mod 256 = 223 */
			uint8_t want[HKEY];
			if (kid >= NKEYS || hkey(kid, want) != k2 || memcmp(want, kb, k2) != 0)
				diverge("htable cursor unknown key", kb[0], k2);
			if (!m->present[kid] || seen[kid])
				diverge("htable cursor key not in model or twice", kid, m->present[kid]);
			seen[kid] = 1;
			EXPECT("htable cursor value length", ol, m->vlen[kid]);
			EXPECT("htable cursor value", memcmp(out, m->val[kid], ol), 0);
			if (++n > NKEYS)
				break;
		}
		EXPECT("htable cursor end", rc, SHMAP_E_NOTFOUND);
		EXPECT("htable cursor count", n, m->count);
		shmap_htable_cursor_free(c);
		uint64_t probs = 0;
		EXPECT("htable check", shmap_htable_check(t, 0, &probs), SHMAP_OK);
		break;
	}
	}
}

#endif

#ifdef FZ_HAVE_RING
/* ------------------------------------------------------------------ */
/* ring model                                                          */

struct rmodel {
	uint32_t type;
	uint64_t head;   /* next sequence number to push */
	uint64_t tail;   /* next sequence number the consumer gets */
	uint64_t cap;
	uint64_t lost_below; /* lossy: sequence numbers below this were overwritten */
};

/* Lossy broadcast: has the subscriber been lapped? Pushes overwrite the
 * element cap positions back; a reservation invalidates the slots it covers
 * at once, even if it is committed only in part. */
static uint64_t lossy_floor(const struct rmodel *m)
{
	uint64_t f = m->head > m->cap ? m->head - m->cap : 0;
	return f > m->lost_below ? f : m->lost_below;
}

static void ring_pop_one(shmap_ring *c, struct rmodel *m, int rc, uint64_t got, uint64_t missed0)
{
	uint64_t avail = m->head - m->tail;
	if (m->type == SHMAP_RING_BCAST_LOSSY && m->tail < lossy_floor(m)) {
		EXPECT("lossy pop after lap", rc, SHMAP_E_OVERRUN);
		uint64_t d = shmap_ring_missed(c) - missed0;
		if (d == 0 || m->tail + d > m->head || m->tail + d < lossy_floor(m))
			diverge("lossy missed count", (long long)d, (long long)(lossy_floor(m) - m->tail));
		m->tail += d;
		return;
	}
	if (avail == 0) {
		EXPECT("ring pop empty", rc, SHMAP_E_EMPTY);
		return;
	}
	EXPECT("ring pop", rc, SHMAP_OK);
	EXPECT("ring pop value", got, m->tail);
	m->tail++;
}

static void ring_op(shmap_ring *p, shmap_ring *c, struct rmodel *m, uint8_t op, uint8_t arg)
{
	uint64_t e, buf[RCAP * 2];
	int rc;
	const int lossy = m->type == SHMAP_RING_BCAST_LOSSY;
	switch (op & 7u) {
	case 0: /* push */
	case 1:
		e = m->head;
		rc = shmap_ring_push(p, &e);
		if (!lossy && m->head - m->tail == m->cap) {
			EXPECT("ring push full", rc, SHMAP_E_FULL);
		} else {
			EXPECT("ring push", rc, SHMAP_OK);
			m->head++;
		}
		break;
	case 2: /* pop */
	case 3: {
		uint64_t missed0 = shmap_ring_missed(c), got = UINT64_MAX;
		rc = shmap_ring_pop(c, &got);
		ring_pop_one(c, m, rc, got, missed0);
		break;
	}
	case 4: { /* push_n */
		uint32_t n = 1u + arg % (RCAP + 3u), done = 99;
		for (uint32_t i = 0; i < n; i++)
			buf[i] = m->head + i;
		rc = shmap_ring_push_n(p, buf, n, &done);
		uint64_t room = lossy ? n : m->cap - (m->head - m->tail);
		uint64_t want = n < room ? n : room;
		if (want == 0) {
			EXPECT("ring push_n full", rc, SHMAP_E_FULL);
			EXPECT("ring push_n done", done, 0);
		} else {
			EXPECT("ring push_n", rc, SHMAP_OK);
			EXPECT("ring push_n done", done, want);
			m->head += want;
		}
		break;
	}
	case 5: { /* pop_n */
		uint32_t n = 1u + arg % (RCAP + 3u), done = 99;
		uint64_t missed0 = shmap_ring_missed(c);
		rc = shmap_ring_pop_n(c, buf, n, &done);
		uint64_t avail = m->head - m->tail;
		if (lossy && m->tail < lossy_floor(m)) {
			ring_pop_one(c, m, rc, 0, missed0);
			break;
		}
		uint64_t want = n < avail ? n : avail;
		if (want == 0) {
			EXPECT("ring pop_n empty", rc, SHMAP_E_EMPTY);
			break;
		}
		EXPECT("ring pop_n", rc, SHMAP_OK);
		EXPECT("ring pop_n done", done, want);
		for (uint32_t i = 0; i < done; i++)
			EXPECT("ring pop_n value", buf[i], m->tail + i);
		m->tail += done;
		break;
	}
	case 6: { /* zero-copy: reserve/commit or peek/release */
		uint32_t n = 1u + arg % 4u, got = 0;
		if (arg & 0x80) {
			void *ptr = NULL;
			rc = shmap_ring_reserve(p, n, &ptr, &got);
			if (!lossy && m->head - m->tail == m->cap) {
				EXPECT("ring reserve full", rc, SHMAP_E_FULL);
				break;
			}
			EXPECT("ring reserve", rc, SHMAP_OK);
			if (got < 1 || got > n)
				diverge("ring reserve got", got, n);
			uint32_t commit = (arg & 0x40) ? got : got - 1u;
			/* lossy: reserve writes into the handle's staging buffer, so
			 * only the committed elements overwrite the ring */
			if (lossy && m->head + commit > m->cap && m->head + commit - m->cap > m->lost_below)
				m->lost_below = m->head + commit - m->cap;
			for (uint32_t i = 0; i < got; i++) {
				uint64_t s = m->head + i;
				memcpy((uint8_t *)ptr + (size_t)i * 8u, &s, 8);
			}
			EXPECT("ring commit", shmap_ring_commit(p, commit), SHMAP_OK);
			m->head += commit;
		} else {
			const void *ptr = NULL;
			uint64_t missed0 = shmap_ring_missed(c);
			rc = shmap_ring_peek(c, n, &ptr, &got);
			uint64_t avail = m->head - m->tail;
			if (rc != SHMAP_OK) {
				ring_pop_one(c, m, rc, 0, missed0);
				break;
			}
			if (lossy && m->tail < lossy_floor(m))
				diverge("lossy peek after lap", rc, SHMAP_E_OVERRUN);
			if (got < 1 || got > n || got > avail)
				diverge("ring peek got", got, avail);
			for (uint32_t i = 0; i < got; i++) {
				uint64_t s;
				memcpy(&s, (const uint8_t *)ptr + (size_t)i * 8u, 8);
				EXPECT("ring peek value", s, m->tail + i);
			}
			uint32_t rel = (arg & 0x40) ? got : 1u;
			EXPECT("ring release", shmap_ring_release(c, rel), SHMAP_OK);
			/* SPMC consumes the whole claim whatever n is */
			m->tail += m->type == SHMAP_RING_SPMC ? got : rel;
		}
		break;
	}
	default: { /* queries */
		uint64_t avail = m->head - m->tail;
		if (!(lossy && m->tail < lossy_floor(m)))
			EXPECT("ring size", shmap_ring_size(c), avail);
		uint64_t h = 0, t = 0, l = 0;
		uint32_t pid = 0, alive = 0;
		EXPECT("ring stats", th_ring_stats(p, &h, &t, &l, &pid, &alive), SHMAP_OK);
		EXPECT("ring stats head", h, m->head);
		EXPECT("ring stats producer alive", alive, 1);
		EXPECT("ring lost", shmap_ring_lost(c), 0);
		break;
	}
	}
}

#endif

/* ------------------------------------------------------------------ */

static shmap_opts *memfd_opts(int fd)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != SHMAP_OK)
		abort();
	shmap_opts_set_backend(o, SHMAP_BACKEND_MEMFD);
	shmap_opts_set_max_procs(o, 4);
	shmap_opts_set_timeout_ms(o, 0);
	if (fd >= 0)
		shmap_opts_set_fd(o, fd);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	shmap_opts *o = memfd_opts(-1);
	uint64_t tick = 0, probs = 0;
	int rc;
	(void)rc;
	(void)probs;
#ifdef FZ_HAVE_VECTOR
	shmap_vector *v = NULL;
	static struct vmodel vm;
	memset(&vm, 0, sizeof(vm));
	if ((rc = shmap_vector_open("fz-vec", SHMAP_CREATE, 8, VCAP, o, &v)) != SHMAP_OK)
		diverge("vector create", rc, 0);
#endif
#ifdef FZ_HAVE_HTABLE
	shmap_htable *t = NULL;
	static struct hmodel hm;
	memset(&hm, 0, sizeof(hm));
	if ((rc = shmap_htable_open("fz-ht", SHMAP_CREATE, HKEY, HVAL, HCAP, o, &t)) != SHMAP_OK)
		diverge("htable create", rc, 0);
	shmap_htable_set_timeout_ms(t, 0);
#endif
#ifdef FZ_HAVE_RING
	static const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, SHMAP_RING_BCAST_RELIABLE,
					  SHMAP_RING_BCAST_LOSSY };
	shmap_ring *rp = NULL, *rcons = NULL;
	struct rmodel rm = { .type = types[data[0] & 3u] };
	if ((rc = th_ring_open("fz-ring", SHMAP_CREATE, rm.type, 8, RCAP,
				  rm.type == SHMAP_RING_SPSC ? 1u : 2u, SHMAP_RING_PRODUCER, o, &rp)) != SHMAP_OK)
		diverge("ring create", rc, 0);
	shmap_opts *oc = memfd_opts(shmap_ring_fd(rp));
	if ((rc = shmap_ring_open(NULL, SHMAP_OPEN, 0, 0, 0, SHMAP_RING_CONSUMER, oc, &rcons)) != SHMAP_OK)
		diverge("ring consumer open", rc, 0);
	rm.cap = shmap_ring_capacity(rp);
	EXPECT("ring capacity", rm.cap, RCAP);
#endif
	for (size_t i = 1; i < size; i++, tick++) {
		uint8_t b = data[i];
		uint8_t arg = i + 1 < size ? data[i + 1] : 0;
		(void)arg;
		switch (b >> 6) {
#ifdef FZ_HAVE_VECTOR
		case 0:
			vector_op(v, &vm, b, arg, tick);
			i++;
			break;
		case 3:
			/* one-byte vector operation */
			vector_op(v, &vm, (uint8_t)(b >> 3), b, tick);
			break;
#endif
#ifdef FZ_HAVE_HTABLE
		case 1:
			htable_op(t, &hm, b, arg, tick);
			i++;
			break;
#endif
#ifdef FZ_HAVE_RING
		case 2:
			ring_op(rp, rcons, &rm, b, arg);
			i++;
			break;
#endif
		default:
			break;
		}
	}
	/* Final: the checkers pass on what the sequence left. */
#ifdef FZ_HAVE_VECTOR
	EXPECT("final vector check", shmap_vector_check(v, 0, &probs), SHMAP_OK);
	shmap_vector_close(v);
#endif
#ifdef FZ_HAVE_HTABLE
	EXPECT("final htable check", shmap_htable_check(t, 0, &probs), SHMAP_OK);
	shmap_htable_close(t);
#endif
#ifdef FZ_HAVE_RING
	EXPECT("final ring check", shmap_ring_check(rp, 0, &probs), SHMAP_OK);
	shmap_ring_close(rcons);
	shmap_ring_close(rp);
	shmap_opts_free(oc);
#endif
	shmap_opts_free(o);
	return 0;
}
