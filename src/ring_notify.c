/* SPDX-License-Identifier: MIT */
/*
 * ring_notify.c - a pollable descriptor per ring end (shmap_ring_notify_fd,
 * shmap_ring_notify_arm).
 *
 * Design
 * ------
 * The descriptor is an eventfd private to the process (EFD_CLOEXEC,
 * EFD_NONBLOCK). What makes it readable is a waiter thread of the handle
 * that sleeps exactly as a waiting call does (ring.c): it announces itself
 * in the ring's sleeper indication, runs the heavy barrier, re-checks, and
 * sleeps on the ring's futex word in the segment. The other side's push or
 * pop therefore stays what it is: no system call unless the indication says
 * somebody sleeps, one futex wake when it does. When the role can make
 * progress the waiter withdraws its announcement, disarms, and writes the
 * eventfd. shmap_ring_notify_arm() makes the descriptor not readable again
 * and hands the waiter a new round.
 *
 * Why a thread and not a descriptor the peer writes to: the peer may be any
 * process that can open the segment, related or not, and may be hostile.
 * A futex in the segment reaches every such process without any name,
 * permission or descriptor exchange, and the worst a peer can do through it
 * is wake the waiter for nothing (it re-checks and sleeps again): it can
 * neither make the caller block nor make it hold anything on its behalf.
 * The eventfd is never shared, so nobody else can fill or steal it.
 *
 * The waiter sleeps on two words at once (futex_waitv): the ring's event
 * word (shared) and its own state word (private), so arm and close reach it
 * without touching the segment. Without futex_waitv (kernels before 5.16)
 * it sleeps on the event word alone and close also wakes that word (other
 * sleepers of the ring re-check once). Every sleep lasts at most one slice;
 * after each the waiter re-checks the ring and the liveness of the peers it
 * waits for: a peer that died wakes the descriptor (once per death) and the
 * next arm reports SHMAP_E_PEERDEAD.
 *
 * Fork: the waiter thread does not exist in a child. A child's close or
 * reattach only closes its copy of the eventfd (and CLOEXEC closes it at
 * exec). The waiter state uses no lock, so fork never copies a held one.
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

enum { NT_IDLE = 0, NT_ARMED = 1, NT_STOP = 2 };

#define NT_STACK (256u * 1024u) /* the waiter's stack: a few frames of system calls */

struct ring_notify {
	struct shmap_ring *r;
	int efd;
	int pid;          /* process that created the waiter */
	pthread_t thr;
	/* Private words shared by the caller's thread and the waiter (GCC
	 * __atomic builtins: process-private memory). */
	uint32_t state;   /* NT_*: caller IDLE->ARMED, waiter ARMED->IDLE, drop ->STOP */
	uint32_t fired;   /* 1 once the eventfd was (or is being) written since the last arm */
	uint32_t waitv;   /* futex_waitv available (cleared by the waiter on ENOSYS) */
	/* The arm's snapshot: written by the caller while IDLE, read by the
	 * waiter after it saw ARMED (the state's release/acquire orders them). */
	uint64_t pos, lim;
	uint64_t base;    /* dead-peer fingerprint the caller already knows of */
	/* caller only */
	uint64_t reported; /* fingerprint of the last death reported */
};

/*
 * Peers this role waits for that hold their role or record and are dead:
 * 0 if none, else a fingerprint that changes when another one dies.
 * Consumers/subscribers wait for the producer, an SPSC producer for its
 * consumer, SPMC and reliable producers for every consumer/subscriber (a
 * lossy producer waits for nobody). One liveness probe per occupied role.
 */
static uint64_t nt_dead_peers(struct shmap_ring *r)
{
	if (r->role == SHMAP_RING_CONSUMER || r->type == SHMAP_RING_SPSC) {
		volatile uint32_t *w = r->role == SHMAP_RING_CONSUMER ? &r->ctl->prod_owner
								      : &r->ctl->cons_owner;
		uint32_t o = shmap_atomic_load_acquire_u32(w);
		return o && !shmap__seg_owner_alive(&r->seg, o) ? o : 0;
	}
	if (r->type == SHMAP_RING_BCAST_LOSSY)
		return 0;
	uint64_t fp = 0;
	for (uint32_t i = 0; i < r->max_cons; i++) { /* bounded by the private count */
		uint64_t w = shmap_atomic_load_acquire_u64(&r->recs[i].ow);
		uint32_t o = rec_owner(w);
		if (w == 0 || rec_state(w) == REC_FREE || o == r->seg.owner)
			continue;
		if (!shmap__seg_owner_alive(&r->seg, o))
			fp += (uint64_t)(i + 1) << 32 | o;
	}
	return fp;
}

static void nt_write(struct ring_notify *nt)
{
	uint64_t one = 1;
	__atomic_store_n(&nt->fired, 1, __ATOMIC_RELEASE);
	/* never blocks (EFD_NONBLOCK); a full counter is readable anyway */
	ssize_t w = write(nt->efd, &one, sizeof one);
	(void)w;
}

/* Sleep on the ring's event word (value e) and our state word (ARMED) for
 * at most ns. 1: woken or a value changed; 0: slice over. */
static int nt_sleep(struct ring_notify *nt, volatile uint32_t *ev, uint32_t e, uint64_t ns)
{
	uint64_t until = shmap__now_ns() + ns;
#ifdef SYS_futex_waitv
	if (__atomic_load_n(&nt->waitv, __ATOMIC_RELAXED)) {
		struct futex_waitv w[2] = {
			{ .val = e, .uaddr = (uint64_t)(uintptr_t)ev, .flags = FUTEX_32 },
			{ .val = NT_ARMED, .uaddr = (uint64_t)(uintptr_t)&nt->state,
			  .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG },
		};
		struct timespec ts = { .tv_sec = (time_t)(until / 1000000000u),
				       .tv_nsec = (long)(until % 1000000000u) };
		long rc = syscall(SYS_futex_waitv, w, 2u, 0u, &ts, CLOCK_MONOTONIC);
		if (rc >= 0 || errno == EAGAIN || errno == EINTR)
			return 1;
		if (errno == ETIMEDOUT)
			return 0;
		__atomic_store_n(&nt->waitv, 0, __ATOMIC_RELAXED); /* ENOSYS and kin */
	}
#endif
	return shmap__futex_wait(ev, e, until) == SHMAP_OK;
}

/* One armed round of the waiter: returns when it fired or must stop. */
static void nt_watch(struct ring_notify *nt)
{
	struct shmap_ring *r = nt->r;
	int producer = r->role == SHMAP_RING_PRODUCER;
	volatile uint32_t *ev = producer ? &r->ctl->space_ev : &r->ctl->data_ev;
	/* as ring.c: a producer a dead peer can block re-checks often */
	uint64_t slice = producer && (r->type == SHMAP_RING_SPMC || r->type == SHMAP_RING_BCAST_RELIABLE)
				 ? RING_SLICE_DEAD_NS
				 : RING_SLICE_NS;
	uint64_t pos = nt->pos, lim = nt->lim, base = nt->base, min_cache = 0;
	int fire = 0;
	shmap__ring_announce(r); /* W1 + heavy barrier (ring.c) */
	for (;;) {
		/* acquire: a wake after this load changes the word, so the
		 * sleep below returns at once (the futex compares it) */
		uint32_t e = shmap_atomic_load_acquire_u32(ev);
		if (shmap__ring_ready(r, pos, lim, &min_cache) == SHMAP_OK) {
			fire = 1;
			break;
		}
		int woken = nt_sleep(nt, ev, e, slice);
		if (__atomic_load_n(&nt->state, __ATOMIC_ACQUIRE) != NT_ARMED)
			break; /* drop: stop */
		if (woken)
			continue; /* re-check: the wake may be for another waiter */
		uint64_t fp = nt_dead_peers(r);
		if (fp && fp != base) {
			fire = 1; /* a death the caller has not heard of */
			break;
		}
	}
	shmap__ring_unannounce(r);
	/* IDLE before the write: a caller woken by it and arming again must
	 * find the waiter idle, or its arm would be a no-op and lost. */
	uint32_t armed = NT_ARMED;
	if (fire && __atomic_compare_exchange_n(&nt->state, &armed, NT_IDLE, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
		nt_write(nt);
}

static void *nt_main(void *arg)
{
	struct ring_notify *nt = arg;
	for (;;) {
		/* acquire: pairs with the release stores of arm and drop (the
		 * snapshot is written before ARMED) */
		uint32_t st = __atomic_load_n(&nt->state, __ATOMIC_ACQUIRE);
		if (st == NT_STOP)
			return NULL;
		if (st == NT_ARMED) {
			nt_watch(nt);
			continue;
		}
		syscall(SYS_futex, &nt->state, FUTEX_WAIT_PRIVATE, NT_IDLE, NULL, NULL, 0);
	}
}

static void nt_kick(struct ring_notify *nt)
{
	syscall(SYS_futex, &nt->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void shmap__ring_notify_drop(struct shmap_ring *r)
{
	struct ring_notify *nt = r->nt;
	if (!nt)
		return;
	r->nt = NULL;
	if (nt->pid == (int)getpid()) {
		__atomic_store_n(&nt->state, NT_STOP, __ATOMIC_RELEASE);
		nt_kick(nt);
		if (!__atomic_load_n(&nt->waitv, __ATOMIC_RELAXED)) {
			/* the waiter may sleep on the event word alone */
			volatile uint32_t *ev = r->role == SHMAP_RING_PRODUCER ? &r->ctl->space_ev
									       : &r->ctl->data_ev;
			if (shmap__seg_check(&r->seg) == SHMAP_OK)
				shmap__futex_wake(ev, 0x7fffffff);
		}
		pthread_join(nt->thr, NULL);
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
	nt->waitv = 1;
	nt->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (nt->efd < 0) {
		free(nt);
		return SHMAP_E_SYS;
	}
	/* A new descriptor starts readable: the loop begins with a drain. */
	nt_write(nt);
	pthread_attr_t attr;
	sigset_t all, old;
	int err = pthread_attr_init(&attr);
	if (err == 0) {
		size_t st = NT_STACK;
		if (st < (size_t)PTHREAD_STACK_MIN)
			st = (size_t)PTHREAD_STACK_MIN;
		(void)pthread_attr_setstacksize(&attr, st);
		/* the waiter takes no signal: they stay with the caller's threads */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		err = pthread_create(&nt->thr, &attr, nt_main, nt);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (err) {
		close(nt->efd);
		free(nt);
		errno = err;
		return err == ENOMEM || err == EAGAIN ? SHMAP_E_NOMEM : SHMAP_E_SYS;
	}
	(void)pthread_setname_np(nt->thr, "shmap-notify");
	r->nt = nt;
	*fd = nt->efd;
	return SHMAP_OK;
}

SHMAP_API int shmap_ring_notify_arm(shmap_ring *r)
{
	int rc = nt_enter(r);
	if (rc)
		return rc;
	struct ring_notify *nt = r->nt;
	if (!nt)
		return SHMAP_E_INVAL;
	if (r->zc)
		return SHMAP_E_BUSY;
	/* Not readable any more. A waiter write racing with this read leaves
	 * the descriptor readable for nothing: one needless wake, no loss. */
	if (__atomic_exchange_n(&nt->fired, 0, __ATOMIC_ACQ_REL)) {
		uint64_t v;
		ssize_t n = read(nt->efd, &v, sizeof v);
		(void)n;
	}
	if (__atomic_load_n(&nt->state, __ATOMIC_ACQUIRE) == NT_ARMED)
		return SHMAP_OK; /* still armed from an earlier call */
	if (shmap__ring_ready(r, r->pos, r->lim, &r->min_cache) == SHMAP_OK) {
		nt_write(nt); /* progress possible now: readable at once */
		return SHMAP_OK;
	}
	/* Blocked: the peers it waits for. Taken before the reclaim below, so
	 * a peer dying after it is news to the waiter. */
	uint64_t fp = nt_dead_peers(r);
	if (r->role == SHMAP_RING_CONSUMER || r->type == SHMAP_RING_SPSC) {
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
	nt->pos = r->pos;
	nt->lim = r->lim;
	nt->base = fp;
	/* release: the snapshot before ARMED; pairs with the waiter's acquire */
	__atomic_store_n(&nt->state, NT_ARMED, __ATOMIC_RELEASE);
	nt_kick(nt);
	return SHMAP_OK;
}
