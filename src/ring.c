/* SPDX-License-Identifier: MIT */
/*
 * ring.c - ring buffers: open/close, roles, the public calls and their
 * argument checks, waiting, inspection and the checker. It reaches a
 * ring's algorithm only through the handle's table of operations (struct
 * ring_ops, ring-internal.h), chosen in ring_bind() (and rec_bind() in
 * ring_rec.c), and never asks for the type: the tables are in ring_spsc.c,
 * ring_spmc.c and ring_bcast.c (record rings: ring_rec_*.c), the shared
 * helpers in ring_util.c, the inline SPSC fast path in
 * ring_spsc-internal.h.
 *
 * Design notes
 * ------------
 * Roles. The producer role is the word ctl.prod_owner, the SPSC consumer
 * role ctl.cons_owner; SPMC consumers and broadcast subscribers each own a
 * record (ring_rec.ow = state << 32 | owner). A role is taken by CAS from 0,
 * or from an owner id whose process is dead (shmap__seg_owner_alive):
 * that is a takeover (SHMAP_RECOVERED), after which the new holder repairs
 * what the dead one may have left half-done (ops->repair_head/repair_tail,
 * ops->join; SPMC claims are reclaimed lazily by the producer, ops->maint;
 * sleeper flags cleared).
 *
 * Waiting. A waiting call first spins (RING_SPIN tries; a sixteenth of
 * that after a wait that outlasted its spin phase, none while its last
 * yield let another process run on its CPU), then yields the
 * CPU between tries (a budget of RING_YIELDS tries and RING_YIELD_NS,
 * adapted per handle, see ring_wait_loop(); never past its deadline: in a
 * worker pool with more processes than CPUs, the
 * peer it waits for may need the CPU the waiter holds), then:
 *   announce (flag/counter store, W1: full fence)
 *   heavy barrier (membarrier GLOBAL_EXPEDITED: every CPU running a
 *     registered process executes a full fence)
 *   ev = event word; re-try the operation; futex_wait(ev) if still blocked
 * The other side, after publishing, reads the sleeper indication with only
 * a compiler barrier (W2): the waiter's membarrier orders that read after
 * the publishing store whenever it matters, so the fast path has neither a
 * fence nor a system call when nobody sleeps. If membarrier is not
 * available, shmap__ring_strong makes the waker use a full fence. Each
 * futex sleep is at most RING_SLICE_NS, so even a scribbled sleeper word can
 * only delay a waiter, never strand it.
 */
#include <assert.h>
#include <sched.h>
#include <stdlib.h>

#include "ring_spsc-internal.h"

/* ---------------------------------------------------------------- layout */

static uint64_t ring_seq_off(uint32_t mc)
{
	return SHMAP_ALIGN_UP((uint64_t)sizeof(struct ring_ctl) + (uint64_t)mc * sizeof(struct ring_rec),
			      (uint64_t)SHMAP_CACHELINE);
}

static uint64_t ring_data_off(uint32_t mc, uint64_t cap)
{
	return SHMAP_ALIGN_UP(ring_seq_off(mc) + cap * 8u, (uint64_t)SHMAP_CACHELINE);
}

static int ring_layout(struct shmap__params *p)
{
	if (p->elem_size == 0 || p->elem_size > SHMAP_RING_ELEM_MAX)
		return SHMAP_E_INVAL;
	if (p->capacity < 2 || p->capacity > SHMAP_RING_CAPACITY_MAX || !shmap__is_pow2_u64(p->capacity))
		return SHMAP_E_INVAL;
	if (p->capacity * p->elem_size > SHMAP_RING_DATA_MAX)
		return SHMAP_E_INVAL;
	if (p->max_consumers == 0 || p->max_consumers > SHMAP_RING_CONSUMERS_MAX)
		return SHMAP_E_INVAL;
	switch (p->kind) {
	case SHMAP__KIND_RING_SPSC:
		if (p->max_consumers != 1 || p->kind_flags != 0)
			return SHMAP_E_INVAL;
		break;
	case SHMAP__KIND_RING_SPMC:
		if (p->kind_flags != 0)
			return SHMAP_E_INVAL;
		break;
	case SHMAP__KIND_RING_BCAST:
		if (p->kind_flags != RING_BCAST_FLAG_LOSSY && p->kind_flags != RING_BCAST_FLAG_RELIABLE)
			return SHMAP_E_INVAL;
		break;
	default:
		return SHMAP_E_INVAL;
	}
	if (p->key_max || p->value_max)
		return SHMAP_E_INVAL;
	uint64_t sz = ring_data_off(p->max_consumers, p->capacity) + p->capacity * p->elem_size;
	p->data_size = SHMAP_ALIGN_UP(sz, (uint64_t)SHMAP__PAGE);
	return SHMAP_OK;
}

static int ring_init(struct shmap__seg *seg)
{
	if (seg->p.kind != SHMAP__KIND_RING_SPMC)
		return SHMAP_OK; /* zero-filled: no slot ever written */
	volatile uint64_t *seq = (volatile uint64_t *)(void *)(seg->data + ring_seq_off(seg->p.max_consumers));
	for (uint64_t i = 0; i < seg->p.capacity; i++)
		shmap__atomic_store_u64(&seq[i], i); /* free for position i */
	return SHMAP_OK;
}

static const struct shmap__kind_ops ring_ops_spsc = { SHMAP__KIND_RING_SPSC, ring_layout, ring_init };
static const struct shmap__kind_ops ring_ops_spmc = { SHMAP__KIND_RING_SPMC, ring_layout, ring_init };
static const struct shmap__kind_ops ring_ops_bcast = { SHMAP__KIND_RING_BCAST, ring_layout, ring_init };
const struct shmap__kind_ops *const shmap__ring_kind_ops[3] = { &ring_ops_spsc, &ring_ops_spmc, &ring_ops_bcast };

/* ----------------------------------------------------------------- roles */

static int ring_take_word(struct shmap_ring *r, volatile uint32_t *w)
{
	for (int i = 0; i < 16; i++) {
		/* acquire: pairs with the full CAS that took the role (the holder's state before
		 * it) */
		uint32_t o = shmap__atomic_load_acquire_u32(w);
		if (o == 0) {
			/* full CAS: the role is ours before any of its state is touched; pairs with
			 * the acquire loads of the role word */
			if (shmap__atomic_cas_full_u32(w, 0, r->seg.owner) == 0)
				return SHMAP_OK;
			continue;
		}
		if (o == r->seg.owner)
			return SHMAP_OK;
		if (shmap__seg_owner_alive(&r->seg, o))
			return SHMAP_E_BUSY;
		/* full CAS: takeover from the dead holder, as above */
		if (shmap__atomic_cas_full_u32(w, o, r->seg.owner) == o)
			return SHMAP_RECOVERED;
	}
	return SHMAP_E_BUSY;
}

static int ring_take_rec(struct shmap_ring *r)
{
	for (uint32_t i = 0; i < r->max_cons; i++) {
		struct ring_rec *rec = &r->recs[i];
		/* acquire: pairs with the release stores of ow (join, detach) */
		uint64_t w = shmap__atomic_load_acquire_u64(&rec->ow);
		int rc;
		if (w == 0) {
			/* full CAS: the record is ours before we touch its fields;
			 * pairs with the acquire loads of ow */
			if (shmap__atomic_cas_full_u64(&rec->ow, 0, rec_ow(REC_CLAIMING, r->seg.owner)) != 0)
				continue;
			rc = SHMAP_OK;
		} else {
			if (shmap__seg_owner_alive(&r->seg, rec_owner(w)))
				continue;
			/* full CAS: takeover of a dead holder's record, as above */
			if (shmap__atomic_cas_full_u64(&rec->ow, w, rec_ow(REC_CLAIMING, r->seg.owner)) != w)
				continue;
			rc = SHMAP_RECOVERED;
		}
		SHMAP_FAILPOINT("ring.attach.rec");
		r->rec = rec;
		shmap__ring_rec_unsleep(r, rec);
		r->ops->join(r, rc == SHMAP_RECOVERED); /* repair, then ACTIVE */
		return rc;
	}
	return SHMAP_E_BUSY;
}

/* The role held, and whether the inline SPSC paths serve it. */
static void ring_set_role(struct shmap_ring *r, uint32_t role)
{
	r->role = role;
	r->fast_role = r->ops == &shmap__ring_spsc_ops ? role : 0;
}

/* No zero-copy run outstanding (fixed or record ring). */
static void ring_zc_clear(struct shmap_ring *r)
{
	r->zc = 0;
	r->zc_kind = RING_ZC_NONE;
	r->rx.z_kind = RING_ZC_NONE;
}

static int ring_attach(struct shmap_ring *r, uint32_t role)
{
	int rc;
	const struct ring_ops *ops = r->ops;
	if (role == SHMAP_RING_OBSERVER) {
		/* a participant without a role: takes and repairs nothing */
		ring_set_role(r, 0);
		r->rec = NULL;
		ring_zc_clear(r);
		return SHMAP_OK;
	}
	if (role == SHMAP_RING_PRODUCER) {
		rc = ring_take_word(r, &r->ctl->prod_owner);
		if (rc < 0)
			return rc;
		SHMAP_FAILPOINT("ring.attach.producer");
		if (rc == SHMAP_RECOVERED)
			shmap__atomic_store_u32(&r->ctl->prod_sleeping, 0);
		r->pos = ops->repair_head(r);
		r->lim = r->pos;
		r->min_cache = 0;
	} else if (ops->flags & RING_F_CONS_WORD) {
		rc = ring_take_word(r, &r->ctl->cons_owner);
		if (rc < 0)
			return rc;
		SHMAP_FAILPOINT("ring.attach.consumer");
		if (rc == SHMAP_RECOVERED)
			shmap__atomic_store_u32(&r->ctl->cons_sleepers, 0);
		r->pos = ops->repair_tail(r);
		/* [tail, head) is published and head is a publication boundary:
		 * from there on the start words lead the way (ring_spsc.c) */
		r->lim = shmap__atomic_load_acquire_u64(&r->ctl->head); /* pairs with R1b */
		if (r->lim < r->pos || r->lim - r->pos > r->cap)
			r->lim = r->pos;
	} else {
		rc = ring_take_rec(r);
		if (rc < 0)
			return rc;
	}
	ring_set_role(r, role);
	ring_zc_clear(r);
	r->full_since = 0;
	return rc;
}

static void ring_detach(struct shmap_ring *r)
{
	if (!r->role)
		return;
	if (r->ops->abandon)
		r->ops->abandon(r); /* an outstanding peek the type cannot give back */
	ring_zc_clear(r);
	if (r->role == SHMAP_RING_PRODUCER) {
		/* full CAS: the role is given up after every access it made; pairs with the acquire
		 * load of the role word */
		shmap__atomic_cas_full_u32(&r->ctl->prod_owner, r->seg.owner, 0);
	} else if (r->ops->flags & RING_F_CONS_WORD) {
		/* full CAS: as for the producer role */
		shmap__atomic_cas_full_u32(&r->ctl->cons_owner, r->seg.owner, 0);
	} else if (r->rec) {
		/* acquire: pairs with our own release of ow (join) or a checker's CAS */
		uint64_t w = shmap__atomic_load_acquire_u64(&r->rec->ow);
		if (rec_owner(w) == r->seg.owner)
			/* full CAS: the record is freed after every access through it; pairs with
			 * the acquire loads of ow */
			shmap__atomic_cas_full_u64(&r->rec->ow, w, 0);
		r->rec = NULL;
	}
	ring_set_role(r, 0);
}

/* ------------------------------------------------------------ open/close */

/*
 * The table of operations of a fixed-slot ring's segment. Its kind and
 * flags were checked by ring_layout() when the segment was opened, so
 * anything else is a bug here, not a peer's doing.
 */
static const struct ring_ops *ring_ops_of(const struct shmap__params *p)
{
	switch (p->kind) {
	case SHMAP__KIND_RING_SPSC:
		return &shmap__ring_spsc_ops;
	case SHMAP__KIND_RING_SPMC:
		return &shmap__ring_spmc_ops;
	case SHMAP__KIND_RING_BCAST:
		switch (p->kind_flags) {
		case RING_BCAST_FLAG_LOSSY:
			return &shmap__ring_lossy_ops;
		case RING_BCAST_FLAG_RELIABLE:
			return &shmap__ring_reliable_ops;
		default:
			break;
		}
		break;
	default:
		break;
	}
	assert(!"ring segment of a kind ring_layout() refuses");
	abort();
}

static void ring_bind(struct shmap_ring *r)
{
	const struct shmap__params *p = &r->seg.p;
	r->ops = ring_ops_of(p);
	r->esize = p->elem_size;
	r->cap = p->capacity;
	r->mask = p->capacity - 1;
	r->max_cons = p->max_consumers;
	r->ctl = (struct ring_ctl *)(void *)r->seg.data;
	r->recs = (struct ring_rec *)(void *)(r->seg.data + sizeof(struct ring_ctl));
	r->seq = (volatile uint64_t *)(void *)(r->seg.data + ring_seq_off(r->max_cons));
	r->data = r->seg.data + ring_data_off(r->max_cons, r->cap);
}

static int ring_want(uint32_t type, struct shmap__params *w, const struct shmap__kind_ops **ops)
{
	switch (type) {
	case SHMAP_RING_SPSC:
		w->kind = SHMAP__KIND_RING_SPSC;
		*ops = &ring_ops_spsc;
		break;
	case SHMAP_RING_SPMC:
		w->kind = SHMAP__KIND_RING_SPMC;
		*ops = &ring_ops_spmc;
		break;
	case SHMAP_RING_BCAST_LOSSY:
		w->kind = SHMAP__KIND_RING_BCAST;
		w->kind_flags = RING_BCAST_FLAG_LOSSY;
		*ops = &ring_ops_bcast;
		break;
	case SHMAP_RING_BCAST_RELIABLE:
		w->kind = SHMAP__KIND_RING_BCAST;
		w->kind_flags = RING_BCAST_FLAG_RELIABLE;
		*ops = &ring_ops_bcast;
		break;
	case 0: /* open any broadcast ring (used when the type is unknown) */
		w->kind = SHMAP__KIND_RING_BCAST;
		*ops = &ring_ops_bcast;
		break;
	default:
		return SHMAP_E_INVAL;
	}
	return SHMAP_OK;
}

static inline int shmap_ring_open__body(const char *name, uint32_t oflags, uint32_t type, uint32_t elem_size,
					uint64_t capacity, uint32_t role, const shmap_opts *opts,
					shmap_ring **ret)
{
	uint32_t max_consumers = opts ? opts->max_consumers : 0;
	if (!ret || (role != SHMAP_RING_PRODUCER && role != SHMAP_RING_CONSUMER &&
		     role != SHMAP_RING_OBSERVER))
		return SHMAP_E_INVAL;
	if (oflags != SHMAP_CREATE && oflags != SHMAP_OPEN && oflags != SHMAP_OPEN_OR_CREATE &&
	    oflags != (SHMAP_OPEN | SHMAP_OPEN_WAIT))
		return SHMAP_E_INVAL;
	if (type > SHMAP_RING_BCAST_RELIABLE)
		return SHMAP_E_INVAL;
	int creating = (oflags & SHMAP_CREATE) != 0;
	if (creating && (type == 0 || elem_size == 0 || capacity == 0))
		return SHMAP_E_INVAL;
	if (elem_size > SHMAP_RING_ELEM_MAX)
		return SHMAP_E_TOOBIG;
	if (capacity > SHMAP_RING_CAPACITY_MAX || max_consumers > SHMAP_RING_CONSUMERS_MAX)
		return SHMAP_E_INVAL;
	if (type == SHMAP_RING_SPSC && max_consumers > 1)
		return SHMAP_E_INVAL;
	if (capacity) {
		capacity = shmap__next_pow2_u64(capacity);
		if (capacity < 2)
			capacity = 2;
	}
	if (capacity && elem_size && capacity * elem_size > SHMAP_RING_DATA_MAX)
		return SHMAP_E_INVAL;
	if (creating) {
		if (type == SHMAP_RING_SPSC)
			max_consumers = 1;
		else if (max_consumers == 0)
			max_consumers = SHMAP_RING_CONSUMERS_DEFAULT;
	}
	shmap__ring_mb_register();

	struct shmap_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return SHMAP_E_NOMEM;
	static const uint32_t any[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, 0 };
	const uint32_t *try = type ? &type : any;
	uint32_t ntry = type ? 1 : 3;
	int rc = SHMAP_E_INCOMPAT;
	for (uint32_t i = 0; i < ntry; i++) {
		struct shmap__params want = { 0 };
		const struct shmap__kind_ops *ops = NULL;
		if (ring_want(try[i], &want, &ops) != SHMAP_OK) {
			free(r);
			return SHMAP_E_INVAL;
		}
		want.capacity = capacity;
		want.elem_size = elem_size;
		want.max_consumers = max_consumers;
		rc = shmap__seg_open(name, oflags, &want, ops, opts, &r->seg);
		if (rc != SHMAP_E_INCOMPAT)
			break;
	}
	if (rc < 0) {
		free(r);
		return rc;
	}
	ring_bind(r);
	return shmap__ring_open_finish(r, rc, role, ret);
}

int shmap__ring_open_finish(struct shmap_ring *r, int seg_rc, uint32_t role, shmap_ring **ret)
{
	r->want_role = role;
	int rc = ring_attach(r, role);
	if (rc < 0) {
		shmap__seg_close(&r->seg);
		free(r);
		return rc;
	}
	*ret = r;
	return rc == SHMAP_RECOVERED || seg_rc == SHMAP_RECOVERED ? SHMAP_RECOVERED : SHMAP_OK;
}

SHMAP_API int shmap_ring_open(const char *name, uint32_t oflags, uint32_t type, uint32_t elem_size,
			      uint64_t capacity, uint32_t role, const shmap_opts *opts, shmap_ring **ret)
{
	if (!ret)
		return SHMAP_E_INVAL;
	shmap_ring *h = NULL;
	int rc = shmap_ring_open__body(name, oflags, type, elem_size, capacity, role, opts, &h);
	if (rc < 0)
		return rc;
	/* A peer shrank the file while the handle was being set up. */
	if (shmap__seg_poison(&h->seg)) {
		shmap_ring_close(h);
		return SHMAP_E_PEERFAULT;
	}
	*ret = h;
	return rc;
}

SHMAP_API void shmap_ring_close(shmap_ring *r)
{
	if (!r)
		return;
	shmap__ring_notify_drop(r); /* the descriptor waiter first: it uses the role */
	if (shmap__seg_check(&r->seg) == SHMAP_OK)
		ring_detach(r);
	shmap__seg_close(&r->seg);
	free(r->zbuf);
	free(r);
}

static inline int shmap_ring_reattach__body(shmap_ring *r)
{
	if (!r)
		return SHMAP_E_INVAL;
	uint32_t role = r->role ? r->role : r->want_role;
	/* a descriptor does not survive: its waiter thread is the parent's
	 * (after fork), or would watch a role that may change hands */
	shmap__ring_notify_drop(r);
	int rc = shmap__seg_reattach(&r->seg);
	if (rc < 0)
		return rc;
	shmap__ring_mb_register();
	if (role == SHMAP_RING_OBSERVER)
		return ring_attach(r, role);
	/* the parent keeps its role; try to take it (BUSY while the parent lives) */
	ring_set_role(r, 0);
	r->rec = NULL;
	r->zc = 0;
	return ring_attach(r, role);
}

SHMAP_API int shmap_ring_reattach(shmap_ring *r)
{
	int rc = shmap_ring_reattach__body(r);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

SHMAP_API int shmap_ring_fd(const shmap_ring *r)
{
	return r ? r->seg.share_fd : -1;
}

/* ------------------------------------------------------------ operations */

static inline int ring_enter(struct shmap_ring *r, uint32_t role)
{
	int rc = shmap__seg_check(&r->seg);
	if (shmap_unlikely(rc))
		return rc;
	if (shmap_unlikely(r->ops->flags & RING_F_RECORDS))
		return SHMAP_E_NOTSUP; /* a record ring: the *_rec calls (ring_rec.c) */
	if (shmap_unlikely(r->role != role))
		return SHMAP_E_NOTATTACHED;
	if (shmap_unlikely(r->zc))
		return SHMAP_E_BUSY;
	return SHMAP_OK;
}

int shmap__ring_maint(struct shmap_ring *r)
{
	return r->ops->maint ? r->ops->maint(r) : SHMAP_OK;
}

/*
 * The FULL slow path of every non-waiting producer call (push, reserve,
 * and the record calls): when FULL has lasted RING_STUCK_NS, probe the
 * peers holding us back once and reclaim from dead ones (at most one probe
 * round per RING_STUCK_NS). Returns 1 if room was made: the caller tries
 * again (and says RECOVERED if that succeeds).
 */
int shmap__ring_full_reclaim(struct shmap_ring *r)
{
	if (!r->ops->maint)
		return 0; /* no dead peer can hold this producer back */
	uint64_t now = ring_now();
	if (r->full_since == 0) {
		r->full_since = now;
		return 0;
	}
	if (now - r->full_since < RING_STUCK_NS)
		return 0;
	r->full_since = now;
	return r->ops->maint(r) == SHMAP_RECOVERED;
}

/* Non-waiting push with the FULL slow path. */
static int ring_push_nb(struct shmap_ring *r, const void *src, uint32_t n, uint32_t *done)
{
	int rc = r->ops->push_n(r, src, n, done);
	if (shmap_likely(rc != SHMAP_E_FULL)) {
		r->full_since = 0;
		return rc;
	}
	if (!shmap__ring_full_reclaim(r))
		return rc;
	rc = r->ops->push_n(r, src, n, done);
	if (rc == SHMAP_OK)
		rc = SHMAP_RECOVERED;
	r->full_since = 0;
	return rc;
}

/*
 * The SPSC fast paths of push and pop check the handle in two compares:
 * ring_enter()'s fork and poison checks in one (shmap__seg_ok_fast()), and
 * in the other the role the inline path serves (fast_role: set at attach
 * for a fixed-slot SPSC ring only) with no outstanding zero-copy run (zc),
 * adjacent u32 fields compared as a pair. Anything else takes the full path.
 */
_Static_assert(offsetof(struct shmap_ring, zc) == offsetof(struct shmap_ring, fast_role) + 4u,
	       "fast_role and zc must be adjacent");

static inline int ring_spsc_gate(const struct shmap_ring *r, uint32_t role)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t pair;
	memcpy(&pair, &r->fast_role, 8);
	const int fast = pair == role;
#else
	const int fast = r->fast_role == role && r->zc == 0;
#endif
	return shmap__seg_ok_fast(&r->seg) && fast;
}

__attribute__((noinline)) static int ring_push_slow(shmap_ring *r, const void *elem)
{
	uint32_t done;
	if (!r || !elem)
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	if (r->fast_role == SHMAP_RING_PRODUCER)
		return ring_spsc_push1(r, elem);
	return shmap__seg_leave(&r->seg, ring_push_nb(r, elem, 1, &done));
}

__attribute__((noinline)) static int ring_pop_slow(shmap_ring *r, void *out)
{
	uint32_t done;
	if (!r || !out)
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_CONSUMER);
	if (rc)
		return rc;
	if (r->fast_role == SHMAP_RING_CONSUMER)
		return ring_spsc_pop1(r, out);
	return shmap__seg_leave(&r->seg, r->ops->pop_n(r, out, 1, &done));
}

/* (The SIGBUS guard's check on the way out, shmap__seg_leave(), is made
 * inside ring_spsc_push1/pop1 and the slow paths, so that the fast paths
 * keep their tail calls and need no stack frame.) */
SHMAP_API int shmap_ring_push(shmap_ring *r, const void *elem)
{
	if (shmap_likely(r && elem && ring_spsc_gate(r, SHMAP_RING_PRODUCER)))
		return ring_spsc_push1(r, elem);
	return ring_push_slow(r, elem);
}

SHMAP_API int shmap_ring_pop(shmap_ring *r, void *out)
{
	if (shmap_likely(r && out && ring_spsc_gate(r, SHMAP_RING_CONSUMER)))
		return ring_spsc_pop1(r, out);
	return ring_pop_slow(r, out);
}

/* push_bytes(_wait): data of len <= esize bytes, zero-padded to an element. */
static int ring_push_padded(shmap_ring *r, const void *data, uint32_t len, int wait, uint32_t timeout_ms)
{
	if (!r || (!data && len))
		return SHMAP_E_INVAL;
	if (len > r->esize)
		return SHMAP_E_TOOBIG;
	const void *elem = data;
	uint8_t small[256];
	uint8_t *buf = NULL;
	if (len < r->esize) {
		buf = r->esize <= sizeof small ? small : malloc(r->esize);
		if (!buf)
			return SHMAP_E_NOMEM;
		if (len)
			memcpy(buf, data, len);
		memset(buf + len, 0, r->esize - len);
		elem = buf;
	}
	int rc = wait ? shmap_ring_push_wait(r, elem, timeout_ms) : shmap_ring_push(r, elem);
	if (buf != small)
		free(buf);
	return rc;
}

static inline int shmap_ring_push_bytes__body(shmap_ring *r, const void *data, uint32_t len)
{
	return ring_push_padded(r, data, len, 0, 0);
}

SHMAP_API int shmap_ring_push_bytes(shmap_ring *r, const void *data, uint32_t len)
{
	int rc = shmap_ring_push_bytes__body(r, data, len);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_push_bytes_wait__body(shmap_ring *r, const void *data, uint32_t len,
						   uint32_t timeout_ms)
{
	return ring_push_padded(r, data, len, 1, timeout_ms);
}

SHMAP_API int shmap_ring_push_bytes_wait(shmap_ring *r, const void *data, uint32_t len,
					 uint32_t timeout_ms)
{
	int rc = shmap_ring_push_bytes_wait__body(r, data, len, timeout_ms);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_pop_bytes__body(shmap_ring *r, void *out, uint32_t out_len)
{
	if (!r || !out)
		return SHMAP_E_INVAL;
	if (out_len < r->esize)
		return SHMAP_E_BUFSIZE;
	return shmap_ring_pop(r, out);
}

SHMAP_API int shmap_ring_pop_bytes(shmap_ring *r, void *out, uint32_t out_len)
{
	int rc = shmap_ring_pop_bytes__body(r, out, out_len);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_push_n__body(shmap_ring *r, const void *elems, uint32_t n, uint32_t *done)
{
	uint32_t d = 0;
	if (done)
		*done = 0;
	if (!r || (!elems && n))
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	if (n == 0)
		return SHMAP_OK;
	rc = ring_push_nb(r, elems, n, &d);
	if (done)
		*done = d;
	return rc;
}

SHMAP_API int shmap_ring_push_n(shmap_ring *r, const void *elems, uint32_t n, uint32_t *done)
{
	int rc = shmap_ring_push_n__body(r, elems, n, done);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_pop_n__body(shmap_ring *r, void *out, uint32_t n, uint32_t *done)
{
	uint32_t d = 0;
	if (done)
		*done = 0;
	if (!r || (!out && n))
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_CONSUMER);
	if (rc)
		return rc;
	if (n == 0)
		return SHMAP_OK;
	rc = r->ops->pop_n(r, out, n, &d);
	if (done)
		*done = d;
	return rc;
}

SHMAP_API int shmap_ring_pop_n(shmap_ring *r, void *out, uint32_t n, uint32_t *done)
{
	int rc = shmap_ring_pop_n__body(r, out, n, done);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

/* ---------------------------------------------------------------- waiting */

/*
 * The sleeper indications are counts, not flags: one handle can have two
 * sleepers at once, a waiting call and the descriptor waiter of
 * ring_notify.c. Wakers only test them against 0.
 */
void shmap__ring_announce(struct shmap_ring *r)
{
	/* full adds: counts, read by the wakers (W2) with the fence W1 below
	 * between them and the waiter's re-check */
	if (r->role == SHMAP_RING_PRODUCER) {
		shmap__atomic_fetch_add_full_u32(&r->ctl->prod_sleeping, 1);
	} else if (r->ops->flags & RING_F_CONS_WORD) {
		shmap__atomic_fetch_add_full_u32(&r->ctl->cons_sleepers, 1);
	} else {
		shmap__atomic_fetch_add_full_u32(&r->rec->sleeping, 1);
		shmap__atomic_fetch_add_full_u32(&r->ctl->cons_sleepers, 1);
	}
	/* W1: full fence, then the heavy barrier; pairs with W2 in
	 * ring_wake_consumers()/ring_wake_producer(). */
	shmap__atomic_fence_full();
	shmap__ring_heavy_barrier();
}

void shmap__ring_unannounce(struct shmap_ring *r)
{
	if (r->role == SHMAP_RING_PRODUCER)
		shmap__ring_count_dec(&r->ctl->prod_sleeping);
	else if (r->ops->flags & RING_F_CONS_WORD)
		shmap__ring_count_dec(&r->ctl->cons_sleepers);
	else if (shmap__ring_count_dec(&r->rec->sleeping))
		/* full: a count, as the increment in shmap__ring_announce() */
		shmap__atomic_fetch_add_full_u32(&r->ctl->cons_sleepers, UINT32_MAX); /* -1 */
}

/* What a waiting call retries: struct ring_attempt (ring-internal.h). */

/* The sleeping part of a waiting call (announce, re-check, futex wait). */
static int ring_wait_sleep(struct shmap_ring *r, struct ring_attempt *a, uint64_t deadline)
{
	int producer = r->role == SHMAP_RING_PRODUCER;
	int blocked = producer ? SHMAP_E_FULL : SHMAP_E_EMPTY;
	int rc;
	volatile uint32_t *ev = producer ? &r->ctl->space_ev : &r->ctl->data_ev;
	int recovered = 0;
	for (;;) {
		if (producer && shmap__ring_maint(r) == SHMAP_RECOVERED) {
			recovered = 1;
			rc = a->fn(r, a);
			if (rc != blocked)
				return rc == SHMAP_OK ? SHMAP_RECOVERED : rc;
		}
		uint64_t now = ring_now();
		if (now >= deadline)
			return SHMAP_E_TIMEOUT;
		shmap__ring_announce(r);
		/* acquire: pairs with the waker's full add to the event word (shmap__ring_wake_*,
		 * ring_util.c): the event read before the re-try, so a wake-up after it changes the
		 * word and the futex wait returns */
		uint32_t e = shmap__atomic_load_acquire_u32(ev);
		rc = a->fn(r, a);
		/* The heavy barrier in ring_announce() can take milliseconds on a
		 * loaded machine: measure the time left after it, not before. */
		now = ring_now();
		if (rc == blocked && now >= deadline) {
			shmap__ring_unannounce(r);
			rc = a->fn(r, a);
			if (rc != blocked)
				return rc == SHMAP_OK && recovered ? SHMAP_RECOVERED : rc;
			return SHMAP_E_TIMEOUT;
		}
		if (rc == blocked) {
			/* a producer that a dead peer can block re-checks (and reclaims) often */
			uint64_t slice = producer && r->ops->maint ? RING_SLICE_DEAD_NS : RING_SLICE_NS;
			uint64_t until = now + slice < deadline ? now + slice : deadline;
			shmap__futex_wait(ev, e, until);
		}
		shmap__ring_unannounce(r);
		if (rc == blocked)
			rc = a->fn(r, a);
		if (rc != blocked)
			return rc == SHMAP_OK && recovered ? SHMAP_RECOVERED : rc;
	}
}

/*
 * A waiting call: spin, yield, then sleep. The yield budget adapts per
 * handle (wait_shift: the budget is RING_YIELDS tries and RING_YIELD_NS,
 * both divided by 2^wait_shift): a wait that ends while yielding, or soon
 * after its budget, doubles it (up to the full budget), one that lasts
 * much longer than the budget (the ring really was idle) halves it, down
 * to 1/64. A consumer fed in bursts or at a slow pace thus stops paying a
 * millisecond of CPU per element, while a busy pool keeps the full budget.
 */
static int ring_wait_loop(struct shmap_ring *r, struct ring_attempt *a, uint32_t timeout_ms)
{
	int producer = r->role == SHMAP_RING_PRODUCER;
	int blocked = producer ? SHMAP_E_FULL : SHMAP_E_EMPTY;
	int rc = a->fn(r, a);
	if (rc != blocked || timeout_ms == 0)
		return rc;
	uint64_t deadline = shmap__deadline_ms(timeout_ms);
	/* Spin phase: full length while waits of this handle end in it (the
	 * peer runs on another CPU), a sixteenth after one that did not (the
	 * tries then mostly take CPU time from the peer; a reliable broadcast
	 * producer's try scans every subscriber's cursor), none while the
	 * handle's last yield let another process run on this CPU (crowded:
	 * more processes than CPUs; the spin holds the CPU a process on it may
	 * need, and a consumer that spins keeps pulling the slot line the
	 * producer writes, so yield at once, as a polling loop does). Private
	 * state only. */
	uint32_t spins = r->wait_crowded ? 0 : r->wait_short_spin ? RING_SPIN / 16 : RING_SPIN;
	for (uint32_t i = 0; i < spins; i++) {
		shmap_cpu_relax();
		rc = a->fn(r, a);
		if (rc != blocked) {
			r->wait_short_spin = 0;
			return rc;
		}
	}
	r->wait_short_spin = 1;
	/* Yield phase: give the CPU to the peer we wait for (with more
	 * processes than CPUs it may be waiting for one) and re-try, within
	 * the budget (bounded: an idle waiter then sleeps); only then pay for
	 * announcing and sleeping. Each yield's length says whether another
	 * process ran meanwhile (wait_crowded, for the next spin phase: a bare
	 * sched_yield() is a system call, well under RING_CROWDED_NS; one that
	 * hands the CPU over and gets it back takes two context switches and
	 * the other's run). No shared word is written here, so this
	 * phase adds nothing to the sleeper protocol of ring_wait_sleep(). */
	uint32_t sh = r->wait_shift;
	uint64_t budget = RING_YIELD_NS >> sh;
	uint64_t now0 = ring_now(), yield_end = now0 + budget;
	for (uint32_t y = 0;; y++) {
		uint64_t t = y ? ring_now() : now0;
		if (t >= deadline || (y >= (RING_YIELDS >> sh) && t >= yield_end))
			break;
		sched_yield();
		r->wait_crowded = ring_now() - t > RING_CROWDED_NS;
		rc = a->fn(r, a);
		if (rc != blocked) {
			if (sh)
				r->wait_shift = sh - 1;
			return rc;
		}
	}
	rc = ring_wait_sleep(r, a, deadline);
	if (ring_now() - now0 < 2 * budget) {
		if (sh)
			r->wait_shift = sh - 1;
	} else if (sh < RING_YIELD_SHIFT_MAX) {
		r->wait_shift = sh + 1;
	}
	return rc;
}

int shmap__ring_wait_loop(struct shmap_ring *r, struct ring_attempt *a, uint32_t timeout_ms)
{
	return ring_wait_loop(r, a, timeout_ms);
}

static int attempt_push1(struct shmap_ring *r, struct ring_attempt *a)
{
	uint32_t d;
	return r->ops->push_n(r, a->src, 1, &d);
}

static int attempt_pop1(struct shmap_ring *r, struct ring_attempt *a)
{
	uint32_t d;
	return r->ops->pop_n(r, a->dst, 1, &d);
}

static int attempt_push_all(struct shmap_ring *r, struct ring_attempt *a)
{
	uint32_t d = 0;
	int rc = r->ops->push_n(r, (const uint8_t *)a->src + (size_t)a->done * r->esize, a->n - a->done, &d);
	a->done += d;
	if (rc == SHMAP_OK && a->done < a->n)
		return SHMAP_E_FULL; /* keep waiting for the rest */
	return rc;
}

static int attempt_pop_n(struct shmap_ring *r, struct ring_attempt *a)
{
	uint32_t d = 0;
	int rc = r->ops->pop_n(r, a->dst, a->n, &d);
	a->done = d;
	return rc;
}

static int attempt_probe(struct shmap_ring *r, struct ring_attempt *a)
{
	(void)a;
	return shmap__ring_ready(r, r->pos, r->lim, &r->min_cache);
}

/*
 * Can the role make progress from position p (the handle's pos; lim its
 * SPSC bound, min_cache the reliable producer's cursor cache)? Reads only
 * shared memory and the handle's immutable fields besides the arguments,
 * so the descriptor waiter (ring_notify.c) runs it on a snapshot.
 */
int shmap__ring_ready(struct shmap_ring *r, uint64_t p, uint64_t lim, uint64_t *min_cache)
{
	return r->ops->ready(r, p, lim, min_cache);
}

static inline int shmap_ring_push_wait__body(shmap_ring *r, const void *elem, uint32_t timeout_ms)
{
	if (!r || !elem)
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	if (timeout_ms == 0)
		return shmap_ring_push(r, elem);
	/* the first try straight from here (as push makes it, without the
	 * full-ring reclaim, which the sleeping part does): when it succeeds,
	 * as it mostly does, the call costs what push costs */
	uint32_t d;
	rc = r->ops->push_n(r, elem, 1, &d);
	if (rc != SHMAP_E_FULL)
		return rc;
	struct ring_attempt a = { attempt_push1, elem, NULL, 1, 0 };
	return ring_wait_loop(r, &a, timeout_ms);
}

SHMAP_API int shmap_ring_push_wait(shmap_ring *r, const void *elem, uint32_t timeout_ms)
{
	int rc = shmap_ring_push_wait__body(r, elem, timeout_ms);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_pop_wait__body(shmap_ring *r, void *out, uint32_t timeout_ms)
{
	if (!r || !out)
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_CONSUMER);
	if (rc)
		return rc;
	/* the first try straight from here, as in push_wait */
	uint32_t d;
	rc = r->ops->pop_n(r, out, 1, &d);
	if (rc != SHMAP_E_EMPTY || timeout_ms == 0)
		return rc;
	struct ring_attempt a = { attempt_pop1, NULL, out, 1, 0 };
	return ring_wait_loop(r, &a, timeout_ms);
}

SHMAP_API int shmap_ring_pop_wait(shmap_ring *r, void *out, uint32_t timeout_ms)
{
	int rc = shmap_ring_pop_wait__body(r, out, timeout_ms);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_push_n_wait__body(shmap_ring *r, const void *elems, uint32_t n, uint32_t *done,
					       uint32_t timeout_ms)
{
	if (done)
		*done = 0;
	if (!r || (!elems && n))
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	if (n == 0)
		return SHMAP_OK;
	struct ring_attempt a = { attempt_push_all, elems, NULL, n, 0 };
	rc = ring_wait_loop(r, &a, timeout_ms);
	if (done)
		*done = a.done;
	if (rc == SHMAP_E_FULL && a.done)
		rc = SHMAP_E_TIMEOUT;
	return rc;
}

SHMAP_API int shmap_ring_push_n_wait(shmap_ring *r, const void *elems, uint32_t n, uint32_t *done,
				     uint32_t timeout_ms)
{
	int rc = shmap_ring_push_n_wait__body(r, elems, n, done, timeout_ms);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_pop_n_wait__body(shmap_ring *r, void *out, uint32_t n, uint32_t *done,
					      uint32_t timeout_ms)
{
	if (done)
		*done = 0;
	if (!r || (!out && n))
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_CONSUMER);
	if (rc)
		return rc;
	if (n == 0)
		return SHMAP_OK;
	struct ring_attempt a = { attempt_pop_n, NULL, out, n, 0 };
	rc = ring_wait_loop(r, &a, timeout_ms);
	if (done)
		*done = a.done;
	return rc;
}

SHMAP_API int shmap_ring_pop_n_wait(shmap_ring *r, void *out, uint32_t n, uint32_t *done,
				    uint32_t timeout_ms)
{
	int rc = shmap_ring_pop_n_wait__body(r, out, n, done, timeout_ms);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_wait__body(shmap_ring *r, uint32_t timeout_ms)
{
	if (!r)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&r->seg);
	if (rc)
		return rc;
	if (!r->role)
		return SHMAP_E_NOTATTACHED;
	if (r->zc || r->rx.z_kind)
		return SHMAP_E_BUSY;
	struct ring_attempt a = { attempt_probe, NULL, NULL, 0, 0 };
	rc = ring_wait_loop(r, &a, timeout_ms);
	if (timeout_ms == 0 && (rc == SHMAP_E_FULL || rc == SHMAP_E_EMPTY))
		rc = SHMAP_E_TIMEOUT;
	return rc;
}

SHMAP_API int shmap_ring_wait(shmap_ring *r, uint32_t timeout_ms)
{
	int rc = shmap_ring_wait__body(r, timeout_ms);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

/* -------------------------------------------------------------- zero-copy */

static inline int shmap_ring_reserve__body(shmap_ring *r, uint32_t n, void **ptr, uint32_t *got)
{
	if (!r || !ptr || !got || n == 0)
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_PRODUCER);
	if (rc)
		return rc;
	r->zc_kind = RING_ZC_RESERVE;
	rc = r->ops->reserve(r, n, ptr, got);
	if (rc == SHMAP_E_FULL) {
		/* same slow path as push: reclaim from dead peers after a while */
		if (shmap__ring_full_reclaim(r))
			return shmap_ring_reserve(r, n, ptr, got);
	} else if (rc == SHMAP_OK) {
		r->full_since = 0;
	}
	return rc;
}

SHMAP_API int shmap_ring_reserve(shmap_ring *r, uint32_t n, void **ptr, uint32_t *got)
{
	int rc = shmap_ring_reserve__body(r, n, ptr, got);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

/*
 * Prologue of commit and release: the handle holds `role` and an outstanding
 * zero-copy run of `kind` (RING_ZC_RESERVE, RING_ZC_PEEK) of at least n
 * elements.
 */
static int zc_finish_check(shmap_ring *r, uint32_t role, uint32_t kind, uint32_t n)
{
	if (!r)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&r->seg);
	if (rc)
		return rc;
	if (r->role != role)
		return SHMAP_E_NOTATTACHED;
	if (!r->zc || r->zc_kind != kind || n > r->zc)
		return SHMAP_E_INVAL;
	return SHMAP_OK;
}

static inline int shmap_ring_commit__body(shmap_ring *r, uint32_t n)
{
	int rc = zc_finish_check(r, SHMAP_RING_PRODUCER, RING_ZC_RESERVE, n);
	if (rc)
		return rc;
	r->ops->commit(r, n);
	r->zc = 0;
	return SHMAP_OK;
}

SHMAP_API int shmap_ring_commit(shmap_ring *r, uint32_t n)
{
	int rc = shmap_ring_commit__body(r, n);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_peek__body(shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got)
{
	if (!r || !ptr || !got || n == 0)
		return SHMAP_E_INVAL;
	int rc = ring_enter(r, SHMAP_RING_CONSUMER);
	if (rc)
		return rc;
	r->zc_kind = RING_ZC_PEEK;
	return r->ops->peek(r, n, ptr, got);
}

SHMAP_API int shmap_ring_peek(shmap_ring *r, uint32_t n, const void **ptr, uint32_t *got)
{
	int rc = shmap_ring_peek__body(r, n, ptr, got);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_release__body(shmap_ring *r, uint32_t n)
{
	int rc = zc_finish_check(r, SHMAP_RING_CONSUMER, RING_ZC_PEEK, n);
	if (rc)
		return rc;
	rc = r->ops->release(r, n);
	r->zc = 0;
	return rc;
}

/*
 * clear: a consumer-side drain built on peek/release, so each type's own
 * consumption protocol (SPSC release store, SPMC claims, broadcast cursors)
 * applies unchanged. At most one capacity's worth is discarded per call, so a
 * producer that keeps pushing cannot keep it running forever.
 */
SHMAP_API int shmap_ring_clear(shmap_ring *r, uint64_t *discarded)
{
	if (discarded)
		*discarded = 0;
	if (!r)
		return SHMAP_E_INVAL;
	uint64_t total = 0;
	int rc = SHMAP_OK;
	uint32_t overruns = 0;
	while (total < r->cap) {
		const void *ptr;
		uint32_t got = 0;
		uint64_t left = r->cap - total;
		uint32_t want = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
		rc = shmap_ring_peek(r, want, &ptr, &got);
		if (rc == SHMAP_E_OVERRUN && ++overruns < 4)
			continue; /* lossy: resynchronised to the oldest element; go on */
		if (rc != SHMAP_OK)
			break;
		rc = shmap_ring_release(r, got);
		total += got;
		if (rc == SHMAP_E_OVERRUN)
			rc = SHMAP_OK; /* discarded anyway; missed() counts the lap */
		if (rc != SHMAP_OK)
			break;
	}
	if (rc == SHMAP_E_EMPTY || rc == SHMAP_E_OVERRUN)
		rc = SHMAP_OK;
	if (discarded)
		*discarded = total;
	return rc;
}

SHMAP_API int shmap_ring_release(shmap_ring *r, uint32_t n)
{
	int rc = shmap_ring_release__body(r, n);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

/* ---------------------------------------------------------------- queries */

SHMAP_API uint64_t shmap_ring_size(const shmap_ring *r)
{
	if (!r || shmap__seg_check(&r->seg))
		return 0;
	/* acquire: pairs with the producer's release of head (R1b, or the
	 * relaxed inspection store of the other types: then an estimate) */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	return r->ops->size(r, h);
}

SHMAP_API uint64_t shmap_ring_capacity(const shmap_ring *r)
{
	return r ? r->cap : 0;
}

SHMAP_API uint32_t shmap_ring_elem_size(const shmap_ring *r)
{
	return r ? r->esize : 0;
}

SHMAP_API uint32_t shmap_ring_type(const shmap_ring *r)
{
	return r ? r->ops->type : 0;
}

SHMAP_API uint32_t shmap_ring_role(const shmap_ring *r)
{
	return r ? r->role : 0;
}

SHMAP_API uint32_t shmap_ring_max_consumers(const shmap_ring *r)
{
	return r ? r->max_cons : 0;
}

SHMAP_API uint32_t shmap_ring_consumers(const shmap_ring *r)
{
	if (!r || shmap__seg_check(&r->seg))
		return 0;
	if (r->ops->flags & RING_F_CONS_WORD) {
		/* acquire: pairs with the CAS that took the role */
		uint32_t o = shmap__atomic_load_acquire_u32(&r->ctl->cons_owner);
		if (o == 0)
			return 0;
		if (o == r->seg.owner)
			return 1;
		return shmap__seg_owner_alive(&r->seg, o) ? 1u : 0u;
	}
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->max_cons; i++) { /* bounded by the private count */
		/* acquire: pairs with the release/CAS stores of ow (join, detach) */
		uint64_t w = shmap__atomic_load_acquire_u64(&r->recs[i].ow);
		uint32_t st = rec_state(w);
		if (w == 0 || (st != REC_ACTIVE && st != REC_CLAIMING))
			continue;
		if (rec_owner(w) == r->seg.owner || shmap__seg_owner_alive(&r->seg, rec_owner(w)))
			n++;
	}
	return n;
}

/*
 * Non-consuming read: each type validates its own window (see ring.h for
 * the windows; ops->read_at: ring_spsc.c, ring_spmc.c, ring_bcast.c).
 */
static inline int shmap_ring_read_at__body(const shmap_ring *r, uint64_t pos, void *out)
{
	if (!r || !out)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&r->seg);
	if (rc)
		return rc;
	if (!r->ops->read_at)
		return SHMAP_E_NOTSUP; /* records have no element positions */
	return r->ops->read_at(r, pos, out);
}

SHMAP_API int shmap_ring_read_at(const shmap_ring *r, uint64_t pos, void *out)
{
	int rc = shmap_ring_read_at__body(r, pos, out);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

SHMAP_API uint64_t shmap_ring_missed(const shmap_ring *r)
{
	return r && (r->ops->flags & RING_F_LOSSY) ? r->missed : 0;
}

SHMAP_API uint64_t shmap_ring_lost(const shmap_ring *r)
{
	if (!r || !(r->ops->flags & RING_F_CLAIMS) || shmap__seg_check(&r->seg))
		return 0;
	/* acquire: pairs with the reclaimers' full add to lost */
	return shmap__atomic_load_acquire_u64(&r->ctl->lost);
}

static uint32_t ring_owner_pid(const struct shmap_ring *r, uint32_t owner)
{
	if (owner == 0)
		return 0;
	uint32_t slot = shmap__owner_slot(r->seg.p.nparts, owner);
	return shmap__atomic_load_u32(&r->seg.parts[slot].pid);
}

static inline int shmap_ring_stats__body(const shmap_ring *r, shmap_ring_stats_t *st)
{
	if (!r || !shmap__stats_size_ok(st))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&r->seg);
	if (rc)
		return rc;
	shmap_ring_stats_t out = { sizeof(out), 0, 0, 0, 0, 0, 0 };
	/* acquire: pairs with the producer's release of head (R1b; others store it relaxed, for
	 * inspection) */
	uint64_t h = shmap__atomic_load_acquire_u64(&r->ctl->head);
	out.head = h;
	out.tail = r->ops->low(r, h);
	/* acquire: pairs with the reclaimers' full add to lost */
	out.lost = r->ops->flags & RING_F_CLAIMS ? shmap__atomic_load_acquire_u64(&r->ctl->lost) : 0;
	uint32_t o = shmap__atomic_load_acquire_u32(&r->ctl->prod_owner);
	out.producer_pid = ring_owner_pid(r, o);
	out.producer_alive = o && shmap__seg_owner_alive(&r->seg, o) ? 1u : 0u;
	shmap__stats_out(st, &out, sizeof(out));
	return SHMAP_OK;
}

SHMAP_API int shmap_ring_stats(const shmap_ring *r, shmap_ring_stats_t *st)
{
	int rc = shmap_ring_stats__body(r, st);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

static inline int shmap_ring_consumer_stats__body(const shmap_ring *r, uint32_t index,
						  shmap_ring_consumer_stats_t *st)
{
	if (!r || !shmap__stats_size_ok(st))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&r->seg);
	if (rc)
		return rc;
	if (index >= r->max_cons)
		return SHMAP_E_RANGE;
	uint32_t o;
	uint64_t cur, mis = 0;
	if (r->ops->flags & RING_F_CONS_WORD) {
		/* acquire: pair with the role's CAS and the consumer's release of tail */
		o = shmap__atomic_load_acquire_u32(&r->ctl->cons_owner);
		/* acquire: pairs with the consumer's release of tail (R2) */
		cur = shmap__atomic_load_acquire_u64(&r->ctl->tail);
	} else {
		struct ring_rec *rec = &r->recs[index];
		/* acquire: pairs with the release/CAS stores of ow (join, detach) */
		uint64_t w = shmap__atomic_load_acquire_u64(&rec->ow);
		o = rec_state(w) == REC_FREE ? 0 : rec_owner(w);
		/* acquire: pairs with the owner's release of its cursor or claim (R6, the claim's
		 * intent) */
		cur = shmap__atomic_load_acquire_u64(&rec->pos);
		if ((r->ops->flags & RING_F_CLAIMS) && cur)
			cur -= 1; /* a claim start + 1 */
		mis = shmap__atomic_load_u64(&rec->missed);
	}
	if (o == 0)
		return SHMAP_E_NOTFOUND;
	shmap_ring_consumer_stats_t out = { sizeof(out), 0, cur, mis, ring_owner_pid(r, o),
					    shmap__seg_owner_alive(&r->seg, o) ? 1u : 0u };
	shmap__stats_out(st, &out, sizeof(out));
	return SHMAP_OK;
}

SHMAP_API int shmap_ring_consumer_stats(const shmap_ring *r, uint32_t index, shmap_ring_consumer_stats_t *st)
{
	int rc = shmap_ring_consumer_stats__body(r, index, st);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}

/* ---------------------------------------------------------------- checker */

/* Checker: role words held by dead processes (freed, and what they held
 * repaired, if `repair`). Adds to *found and *fixed. */
static void ring_check_roles(struct shmap_ring *r, int repair, uint64_t *found, uint64_t *fixed)
{
	struct ring_ctl *c = r->ctl;
	/* acquire: pairs with the CAS that took the role */
	uint32_t o = shmap__atomic_load_acquire_u32(&c->prod_owner);
	if (o && o != r->seg.owner && !shmap__seg_owner_alive(&r->seg, o)) {
		(*found)++;
		/* full CAS: freed only if still the dead one's */
		if (repair && shmap__atomic_cas_full_u32(&c->prod_owner, o, 0) == o) {
			shmap__atomic_store_u32(&c->prod_sleeping, 0);
			r->ops->repair_head(r);
			(*fixed)++;
		}
	}
	if (!(r->ops->flags & RING_F_CONS_WORD))
		return;
	o = shmap__atomic_load_acquire_u32(&c->cons_owner); /* as prod_owner */
	if (o && o != r->seg.owner && !shmap__seg_owner_alive(&r->seg, o)) {
		(*found)++;
		if (repair && shmap__atomic_cas_full_u32(&c->cons_owner, o, 0) == o) {
			shmap__atomic_store_u32(&c->cons_sleepers, 0);
			r->ops->repair_tail(r);
			(*fixed)++;
		}
	}
}

/* Checker: records of dead consumers/subscribers (their claims reclaimed
 * and the records freed, if `repair`), and records in no valid state. */
static void ring_check_records(struct shmap_ring *r, int repair, uint64_t *found, uint64_t *fixed)
{
	if (repair && r->ops->reap_all) {
		/* reclaimed elements are counted lost */
		uint64_t reaped = r->ops->reap_all(r);
		*found += reaped;
		*fixed += reaped;
	}
	uint64_t dead = 0;
	for (uint32_t i = 0; i < r->max_cons; i++) {
		struct ring_rec *rec = &r->recs[i];
		/* acquire: pairs with the release stores of ow (join, detach) */
		uint64_t w = shmap__atomic_load_acquire_u64(&rec->ow);
		if (w == 0)
			continue;
		if (rec_state(w) > REC_ACTIVE) {
			(*found)++;
			continue;
		}
		if (rec_owner(w) == r->seg.owner || shmap__seg_owner_alive(&r->seg, rec_owner(w)))
			continue;
		dead++;
	}
	*found += dead;
	if (repair && dead)
		*fixed += r->ops->free_dead(r);
}

/* Checker: a consumers' sleeper count above the records' (dead waiters). */
static void ring_check_sleepers(struct shmap_ring *r, int repair, uint64_t *found, uint64_t *fixed)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->max_cons; i++)
		n += shmap__atomic_load_u32(&r->recs[i].sleeping); /* a count */
	if (shmap__atomic_load_u32(&r->ctl->cons_sleepers) > n) {
		(*found)++;
		if (repair) {
			shmap__atomic_store_u32(&r->ctl->cons_sleepers, n);
			(*fixed)++;
		}
	}
}

static inline int shmap_ring_check__body(shmap_ring *r, uint32_t flags, uint64_t *problems)
{
	if (problems)
		*problems = 0;
	if (!r || (flags & ~SHMAP_CHECK_REPAIR))
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&r->seg);
	if (rc)
		return rc;
	int repair = (flags & SHMAP_CHECK_REPAIR) != 0;
	uint64_t found = 0, fixed = 0;
	/* a header rewritten after open: reported, never repaired */
	if (shmap__seg_verify_header(&r->seg) != SHMAP_OK)
		found++;
	ring_check_roles(r, repair, &found, &fixed);
	if (!(r->ops->flags & RING_F_CONS_WORD))
		ring_check_records(r, repair, &found, &fixed);
	found += r->ops->check(r); /* indices and slots (or record headers) */
	if (!(r->ops->flags & RING_F_CONS_WORD))
		ring_check_sleepers(r, repair, &found, &fixed);
	if (problems)
		*problems = found;
	if (found == 0)
		return SHMAP_OK;
	return fixed >= found ? SHMAP_RECOVERED : SHMAP_E_CORRUPT;
}

SHMAP_API int shmap_ring_check(shmap_ring *r, uint32_t flags, uint64_t *problems)
{
	int rc = shmap_ring_check__body(r, flags, problems);
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}
