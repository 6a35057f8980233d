/* SPDX-License-Identifier: MIT */
/*
 * ring_notify.c - a pollable descriptor per ring end (shmap_ring_notify_fd,
 * shmap_ring_notify_arm).
 *
 * Design
 * ------
 * The descriptor is an eventfd private to the process (EFD_CLOEXEC,
 * EFD_NONBLOCK). What makes it readable is a waiter thread of the process
 * that sleeps exactly as a waiting call does (ring.c): for each armed ring
 * end it announces itself in the ring's sleeper indication, runs the heavy
 * barrier, re-checks, and sleeps on the ring's futex word in the segment.
 * The other side's push or pop therefore stays what it is: no system call
 * unless the indication says somebody sleeps, one futex wake when it does.
 * When a role can make progress the waiter withdraws its announcement,
 * disarms that end, and writes its eventfd. shmap_ring_notify_arm() makes
 * the descriptor not readable again and hands the waiter a new round.
 *
 * One waiter thread serves up to NT_HUB_SLOTS descriptors of the process
 * ("a hub"): it sleeps on all their event words and its own control word
 * at once (futex_waitv), so a process with many rings in its event loop
 * has one more thread, not one per ring. Without futex_waitv (kernels
 * before 5.16) a hub serves one descriptor and sleeps on its event word
 * alone (close then also wakes that word; other sleepers of the ring
 * re-check once).
 *
 * Why a thread and not a descriptor the peer writes to: the peer may be any
 * process that can open the segment, related or not, and may be hostile.
 * A futex in the segment reaches every such process without any name,
 * permission or descriptor exchange, and the worst a peer can do through it
 * is wake the waiter for nothing (it re-checks and sleeps again): it can
 * neither make the caller block nor make it hold anything on its behalf.
 * The eventfd is never shared, so nobody else can fill or steal it.
 *
 * Every sleep lasts at most one slice; after each the waiter re-checks the
 * ring and the liveness of the peers it waits for: a peer that died wakes
 * the descriptor (once per death) and the next arm reports
 * SHMAP_E_PEERDEAD.
 *
 * Fork: no waiter thread exists in a child. A child's close or reattach
 * only closes its copy of the eventfd (and CLOEXEC closes it at exec); the
 * hub list is reset in the child (pthread_atfork), so a child's first
 * descriptor starts a hub of its own.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ring-internal.h"

enum { NT_IDLE = 0, NT_ARMED = 1, NT_DROP = 2, NT_GONE = 3 };

#define NT_HUB_SLOTS 127u         /* futex_waitv takes 128 words: ours + 127 rings */
#define NT_STACK (256u * 1024u)   /* a hub's stack: a few frames of system calls */
#define NT_IDLE_NS (3600ull * 1000000000u) /* a hub with nothing armed sleeps long */

struct nt_hub;

struct ring_notify {
	struct shmap_ring *r;
	struct nt_hub *hub;
	int efd;
	int pid;          /* process that created it (a forked child has no hub thread) */
	/* Words shared by the caller's thread and the hub (GCC __atomic
	 * builtins: process-private memory). */
	uint32_t state;   /* NT_*: caller IDLE->ARMED and ->DROP; hub ARMED->IDLE, DROP->GONE */
	/* The handle's position when last armed: written by the caller at
	 * every arm (also while ARMED: the caller may have taken elements
	 * after a needless wake-up, and a stale position can look blocked
	 * forever once the ring wrapped), read by the hub at every look.
	 * Relaxed: the kick's release increment of the hub's generation and
	 * the hub's acquire load of it order it. */
	uint64_t pos;
	/* written by the caller while IDLE, read by the hub after it saw
	 * ARMED (the state's release/acquire orders them) */
	uint64_t base;    /* dead-peer fingerprint the caller already knows of */
	/* hub only */
	int announced;
	uint32_t ev_seen;
	uint64_t min_cache;
	uint64_t next_check;
	/* caller only */
	uint64_t reported; /* fingerprint of the last death reported */
};

struct nt_hub {
	struct nt_hub *next;      /* the process's hubs (under nt_lock) */
	pthread_t thr;
	uint32_t cap;             /* NT_HUB_SLOTS, or 1 without futex_waitv */
	uint32_t used;            /* slots taken (under nt_lock) */
	uint32_t gen;             /* private futex: bumped by every arm and drop */
	uint32_t stop;
	struct ring_notify *slot[NT_HUB_SLOTS]; /* set by the creator, cleared by the hub */
};

static pthread_mutex_t nt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nt_hub *nt_hubs; /* under nt_lock */
static int nt_waitv = -1;      /* futex_waitv: -1 unknown, 0 no, 1 yes (under nt_lock) */
static pthread_once_t nt_once = PTHREAD_ONCE_INIT;

static void nt_atfork_child(void)
{
	/* the hubs' threads are the parent's: start afresh (their memory is
	 * the parent's copy, left alone) */
	pthread_mutex_init(&nt_lock, NULL);
	nt_hubs = NULL;
}

static void nt_init(void)
{
	(void)pthread_atfork(NULL, NULL, nt_atfork_child);
}

static long nt_futex(uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

/*
 * Peers this role waits for that hold their role or record and are dead:
 * 0 if none, else a fingerprint that changes when another one dies.
 * Consumers/subscribers wait for the producer, an SPSC producer for its
 * consumer, SPMC and reliable producers for every consumer/subscriber (a
 * lossy producer waits for nobody). One liveness probe per occupied role.
 */
static uint64_t nt_dead_peers(struct shmap_ring *r)
{
	if (r->role == SHMAP_RING_CONSUMER || (r->ops->flags & RING_F_CONS_WORD)) {
		volatile uint32_t *w = r->role == SHMAP_RING_CONSUMER ? &r->ctl->prod_owner
								      : &r->ctl->cons_owner;
		/* acquire: pairs with the full CAS that took the role */
		uint32_t o = shmap__atomic_load_acquire_u32(w);
		return o && !shmap__seg_owner_alive(&r->seg, o) ? o : 0;
	}
	if (!r->ops->maint)
		return 0; /* no dead peer can hold this producer back (lossy) */
	uint64_t fp = 0;
	for (uint32_t i = 0; i < r->max_cons; i++) { /* bounded by the private count */
		/* acquire: pairs with the release/CAS stores of ow (join, detach) */
		uint64_t w = shmap__atomic_load_acquire_u64(&r->recs[i].ow);
		uint32_t o = rec_owner(w);
		if (w == 0 || rec_state(w) == REC_FREE || o == r->seg.owner)
			continue;
		if (!shmap__seg_owner_alive(&r->seg, o))
			fp += (uint64_t)(i + 1) << 32 | o;
	}
	return fp;
}

/* Make the descriptor readable. */
static void nt_write(struct ring_notify *nt)
{
	uint64_t one = 1;
	/* never blocks (EFD_NONBLOCK); a full counter is readable anyway */
	ssize_t w = write(nt->efd, &one, sizeof one);
	(void)w;
}

static volatile uint32_t *nt_ev(const struct ring_notify *nt)
{
	struct shmap_ring *r = nt->r;
	return r->role == SHMAP_RING_PRODUCER ? &r->ctl->space_ev : &r->ctl->data_ev;
}

static uint64_t nt_slice(const struct shmap_ring *r)
{
	/* as ring.c: a producer a dead peer can block re-checks often */
	return r->role == SHMAP_RING_PRODUCER && r->ops->maint ? RING_SLICE_DEAD_NS : RING_SLICE_NS;
}

/* The hub fires an armed end: sleeper withdrawn, IDLE, then the write (a
 * caller woken by it and arming again must find the end idle, or its arm
 * would be a no-op and lost). */
static void nt_fire(struct ring_notify *nt)
{
	if (nt->announced) {
		shmap__ring_unannounce(nt->r);
		nt->announced = 0;
	}
	uint32_t armed = NT_ARMED;
	/* acq_rel: acquire pairs with the release that stored ARMED (the snapshot); release orders
	 * the unannounce before IDLE for an arm that follows */
	if (__atomic_compare_exchange_n(&nt->state, &armed, NT_IDLE, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		nt_write(nt);
}

/*
 * One look of the hub at slot i. Returns 1 if its end stays armed (the hub
 * then sleeps on its event word, value nt->ev_seen), with *until lowered
 * to its next re-check; 0 if there is nothing to wait for.
 */
static int nt_visit(struct nt_hub *h, uint32_t i, uint64_t now, uint64_t *until)
{
	/* acquire: pairs with the release store that filled the slot (the end initialised) */
	struct ring_notify *nt = __atomic_load_n(&h->slot[i], __ATOMIC_ACQUIRE);
	if (!nt)
		return 0;
	/* acquire: pairs with the release stores of arm and drop (the
	 * snapshot is written before ARMED) */
	uint32_t st = __atomic_load_n(&nt->state, __ATOMIC_ACQUIRE);
	if (st == NT_DROP) {
		if (nt->announced) {
			shmap__ring_unannounce(nt->r);
			nt->announced = 0;
		}
		/* release: the hub is done with the end before the slot is free; pairs with the
		 * acquire scan for a free slot */
		__atomic_store_n(&h->slot[i], NULL, __ATOMIC_RELEASE);
		/* release: we are done with nt; pairs with the dropper's acquire */
		__atomic_store_n(&nt->state, NT_GONE, __ATOMIC_RELEASE);
		nt_futex(&nt->state, FUTEX_WAKE_PRIVATE, 1);
		return 0;
	}
	if (st != NT_ARMED)
		return 0;
	struct shmap_ring *r = nt->r;
	volatile uint32_t *ev = nt_ev(nt);
	if (!nt->announced) {
		shmap__ring_announce(r); /* W1 + heavy barrier (ring.c) */
		nt->announced = 1;
		nt->min_cache = 0;
		nt->next_check = now + nt_slice(r);
	}
	/* acquire (pairs with the waker's full add to the event word): a
	 * wake after this load changes the word, so the sleep on
	 * it returns at once (the futex compares it); then re-check, on every
	 * look (a few loads): the wake may be for another waiter, or a new
	 * position may have come with an arm */
	nt->ev_seen = shmap__atomic_load_acquire_u32(ev);
	if (now >= nt->next_check) {
		/* slice over (even a scribbled sleeper word only delays us):
		 * look at the peers too */
		nt->next_check = now + nt_slice(r);
		uint64_t fp = nt_dead_peers(r);
		if (fp && fp != nt->base) {
			nt_fire(nt); /* a death the caller has not heard of */
			return 0;
		}
	}
	/* lim 0: no known-free/ready shortcut, only what shared memory says
	 * (the caller's arm found nothing below its own bound) */
	uint64_t pos = __atomic_load_n(&nt->pos, __ATOMIC_RELAXED);
	if (shmap__ring_ready(r, pos, 0, &nt->min_cache) == SHMAP_OK) {
		nt_fire(nt);
		return 0;
	}
	if (nt->next_check < *until)
		*until = nt->next_check;
	return 1;
}

static void *nt_hub_main(void *arg)
{
	struct nt_hub *h = arg;
	struct futex_waitv w[NT_HUB_SLOTS + 1];
	for (;;) {
		/* acquire: pairs with the release increment of nt_kick() */
		uint32_t gen = __atomic_load_n(&h->gen, __ATOMIC_ACQUIRE);
		/* acquire: pairs with the release store of stop */
		if (__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE))
			return NULL;
		uint64_t now = shmap__now_ns(), until = now + NT_IDLE_NS;
		uint32_t n = 0;
		w[n++] = (struct futex_waitv){ .val = gen, .uaddr = (uint64_t)(uintptr_t)&h->gen,
					       .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG };
		for (uint32_t i = 0; i < h->cap; i++) {
			if (!nt_visit(h, i, now, &until))
				continue;
			struct ring_notify *nt = __atomic_load_n(&h->slot[i], __ATOMIC_RELAXED); /* ours */
			w[n++] = (struct futex_waitv){ .val = nt->ev_seen,
						       .uaddr = (uint64_t)(uintptr_t)nt_ev(nt),
						       .flags = FUTEX_32 };
		}
		if (h->cap > 1) {
#ifdef SYS_futex_waitv
			struct timespec ts = { .tv_sec = (time_t)(until / 1000000000u),
					       .tv_nsec = (long)(until % 1000000000u) };
			/* woken, a word changed, timed out or interrupted: look again */
			(void)syscall(SYS_futex_waitv, w, n, 0u, &ts, CLOCK_MONOTONIC);
#endif
		} else if (n == 2) {
			/* one end, no futex_waitv: its event word alone (drop wakes it) */
			(void)shmap__futex_wait((volatile uint32_t *)(uintptr_t)w[1].uaddr,
						(uint32_t)w[1].val, until);
		} else {
			struct timespec ts = { .tv_sec = (time_t)(NT_IDLE_NS / 1000000000u), .tv_nsec = 0 };
			(void)syscall(SYS_futex, &h->gen, FUTEX_WAIT_PRIVATE, gen, &ts, NULL, 0);
		}
	}
}

/* Ask the hub to look again (after an arm or a drop). */
static void nt_kick(struct nt_hub *h)
{
	/* release: the end's state and snapshot before the new generation;
	 * pairs with the hub's acquire load of gen */
	__atomic_fetch_add(&h->gen, 1, __ATOMIC_RELEASE);
	nt_futex(&h->gen, FUTEX_WAKE_PRIVATE, 1);
}

static int nt_probe_waitv(void)
{
#ifdef SYS_futex_waitv
	/* an empty vector: EINVAL where the call exists, ENOSYS where not */
	long rc = syscall(SYS_futex_waitv, NULL, 0u, 0u, NULL, CLOCK_MONOTONIC);
	return !(rc < 0 && errno == ENOSYS);
#else
	return 0;
#endif
}

/* Give nt a slot of a hub with room (a new hub and thread if none has). */
static int nt_attach(struct ring_notify *nt)
{
	pthread_once(&nt_once, nt_init);
	pthread_mutex_lock(&nt_lock);
	if (nt_waitv < 0)
		nt_waitv = nt_probe_waitv();
	struct nt_hub *h = nt_hubs;
	while (h && h->used >= h->cap)
		h = h->next;
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h) {
			pthread_mutex_unlock(&nt_lock);
			return ENOMEM;
		}
		h->cap = nt_waitv ? NT_HUB_SLOTS : 1u;
		pthread_attr_t attr;
		sigset_t all, old;
		int err = pthread_attr_init(&attr);
		if (err == 0) {
			size_t st = NT_STACK;
			if (st < (size_t)PTHREAD_STACK_MIN)
				st = (size_t)PTHREAD_STACK_MIN;
			(void)pthread_attr_setstacksize(&attr, st);
			/* the hub takes no signal: they stay with the caller's threads */
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			err = pthread_create(&h->thr, &attr, nt_hub_main, h);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			pthread_attr_destroy(&attr);
		}
		if (err) {
			free(h);
			pthread_mutex_unlock(&nt_lock);
			return err;
		}
		(void)pthread_setname_np(h->thr, "shmap-notify");
		h->next = nt_hubs;
		nt_hubs = h;
	}
	uint32_t i = 0;
	/* acquire: pairs with the hub's release that emptied a slot */
	while (__atomic_load_n(&h->slot[i], __ATOMIC_ACQUIRE)) /* used < cap: one is free */
		i++;
	h->used++;
	nt->hub = h;
	/* release: nt is complete before the hub can see it; pairs with the
	 * hub's acquire load of the slot (nt_visit()) */
	__atomic_store_n(&h->slot[i], nt, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&nt_lock);
	return 0;
}

void shmap__ring_notify_drop(struct shmap_ring *r)
{
	struct ring_notify *nt = r->nt;
	if (!nt)
		return;
	r->nt = NULL;
	if (nt->pid == (int)getpid()) {
		struct nt_hub *h = nt->hub;
		/* release: pairs with the hub's acquire load of the state */
		__atomic_store_n(&nt->state, NT_DROP, __ATOMIC_RELEASE);
		nt_kick(h);
		if (h->cap == 1 && shmap__seg_check(&r->seg) == SHMAP_OK)
			shmap__futex_wake(nt_ev(nt), 0x7fffffff); /* it may sleep on that word */
		/* the hub lets go of the end and of its sleeper indication;
		 * acquire: pairs with its release store of GONE */
		uint32_t st;
		while ((st = __atomic_load_n(&nt->state, __ATOMIC_ACQUIRE)) != NT_GONE)
			nt_futex(&nt->state, FUTEX_WAIT_PRIVATE, st);
		pthread_mutex_lock(&nt_lock);
		int last = --h->used == 0;
		if (last) { /* no end left: the hub goes */
			struct nt_hub **pp = &nt_hubs;
			while (*pp && *pp != h)
				pp = &(*pp)->next;
			if (*pp)
				*pp = h->next;
		}
		pthread_mutex_unlock(&nt_lock);
		if (last) {
			/* release: pairs with the hub's acquire load of stop */
			__atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
			nt_kick(h);
			pthread_join(h->thr, NULL);
			free(h);
		}
	}
	close(nt->efd);
	free(nt);
}

static int nt_enter(shmap_ring *r)
{
	if (!r)
		return SHMAP_E_INVAL;
	int rc = shmap__seg_check(&r->seg);
	if (rc)
		return rc;
	if (!r->role)
		return SHMAP_E_NOTATTACHED;
	return SHMAP_OK;
}

SHMAP_API int shmap_ring_notify_fd(shmap_ring *r, int *fd)
{
	if (!fd)
		return SHMAP_E_INVAL;
	int rc = nt_enter(r);
	if (rc)
		return rc;
	if (r->nt) {
		*fd = r->nt->efd;
		return SHMAP_OK;
	}
	struct ring_notify *nt = calloc(1, sizeof(*nt));
	if (!nt)
		return SHMAP_E_NOMEM;
	nt->r = r;
	nt->pid = (int)getpid();
	nt->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (nt->efd < 0) {
		free(nt);
		return SHMAP_E_SYS;
	}
	/* A new descriptor starts readable: the loop begins with a drain. */
	nt_write(nt);
	int err = nt_attach(nt);
	if (err) {
		close(nt->efd);
		free(nt);
		errno = err;
		return err == ENOMEM || err == EAGAIN ? SHMAP_E_NOMEM : SHMAP_E_SYS;
	}
	r->nt = nt;
	*fd = nt->efd;
	return SHMAP_OK;
}

static int notify_arm_body(shmap_ring *r)
{
	int rc = nt_enter(r);
	if (rc)
		return rc;
	struct ring_notify *nt = r->nt;
	if (!nt)
		return SHMAP_E_INVAL;
	if (r->zc || r->rx.z_kind) /* a zero-copy run (fixed slots) or record reservation/peek */
		return SHMAP_E_BUSY;
	/* Not readable any more: every arm reads the counter (one system
	 * call; a flag telling whether a write happened cannot be set in the
	 * same instant as the write). A hub write of an earlier round still
	 * under way lands after this read: one needless wake-up, after which
	 * the next arm reads it. */
	uint64_t v;
	ssize_t got = read(nt->efd, &v, sizeof v);
	(void)got;
	/* acquire: pairs with the hub's acq_rel CAS from ARMED (nt_fire) */
	if (__atomic_load_n(&nt->state, __ATOMIC_ACQUIRE) == NT_ARMED) {
		/* still armed from an earlier call: the hub looks again, from
		 * where the handle is now */
		__atomic_store_n(&nt->pos, r->pos, __ATOMIC_RELAXED);
		nt_kick(nt->hub);
		if (shmap__ring_ready(r, r->pos, r->lim, &r->min_cache) == SHMAP_OK)
			nt_write(nt); /* elements below the handle's own bound */
		return SHMAP_OK;
	}
	if (shmap__ring_ready(r, r->pos, r->lim, &r->min_cache) == SHMAP_OK) {
		nt_write(nt); /* progress possible now: readable at once */
		return SHMAP_OK;
	}
	/* Blocked: the peers it waits for. Taken before the reclaim below, so
	 * a peer dying after it is news to the waiter. */
	uint64_t fp = nt_dead_peers(r);
	if (r->role == SHMAP_RING_CONSUMER || (r->ops->flags & RING_F_CONS_WORD)) {
		if (fp && fp != nt->reported) {
			nt->reported = fp;
			return SHMAP_E_PEERDEAD; /* once per death; not armed */
		}
	} else if (fp && shmap__ring_maint(r) == SHMAP_RECOVERED) {
		/* SPMC/reliable producer: what dead peers held is reclaimed
		 * (as a blocked push does): there is room now */
		nt_write(nt);
		return SHMAP_OK;
	}
	__atomic_store_n(&nt->pos, r->pos, __ATOMIC_RELAXED);
	nt->base = fp;
	/* release: the snapshot before ARMED; pairs with the hub's acquire */
	__atomic_store_n(&nt->state, NT_ARMED, __ATOMIC_RELEASE);
	nt_kick(nt->hub);
	return SHMAP_OK;
}

SHMAP_API int shmap_ring_notify_arm(shmap_ring *r)
{
	int rc = notify_arm_body(r);
	/* the readiness probe reads the mapping: a peer's shrink poisons */
	return r ? shmap__seg_leave(&r->seg, rc) : rc;
}
