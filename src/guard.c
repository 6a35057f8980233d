/* SPDX-License-Identifier: MIT */
/*
 * guard.c - surviving a peer that shrinks a segment's file (the SIGBUS guard).
 *
 * A process that can write a POSIX shm or file-backed segment can ftruncate()
 * it; every other process that has it mapped then gets SIGBUS on its next
 * access to a page past the new end of file. The guard turns that into an
 * error code, the way compositors survive clients that shrink shared pools:
 *
 *   - every segment mapping is registered here (start, length, and the
 *     address of its handle's poison word) in a lock-free registry;
 *   - one process-wide SIGBUS handler, installed when the first mapping is
 *     registered, looks the faulting address up; if it lies inside a
 *     registered range, it maps anonymous zero pages over the whole range
 *     (MAP_FIXED, so the faulting instruction completes when the handler
 *     returns), and marks the handle poisoned (SHMAP__POISON_PEERFAULT);
 *   - the public call that was running sees the poison on its way out
 *     (shmap__seg_leave) and returns SHMAP_E_PEERFAULT, and so does every
 *     later call on the handle; closing it and opening again works;
 *   - any other SIGBUS goes to the handler that was installed before ours,
 *     or, if that was SIG_DFL or SIG_IGN, kills the process as SIGBUS would
 *     have (the disposition is reset to SIG_DFL, and a fault re-executes the
 *     access and dies of it with its own siginfo; a sent signal is raised
 *     again).
 *
 * The anonymous pages are private: nothing written after the fault reaches
 * the segment, and whatever the in-flight call reads there is zeros -- no
 * worse than a peer that scribbles zeros, which every call already survives
 * (every bound comes from the private handle).
 *
 * Opting out: a program that owns SIGBUS sets SHMAP_NO_SIGBUS_GUARD in the
 * environment (process-wide, read once when the first segment is mapped), or
 * opens with the SHMAP_OPT_NO_SIGBUS_GUARD flag (that segment is not
 * registered, and the handler is not installed on its behalf). A shrink then
 * kills with SIGBUS, as before the guard existed.
 *
 * Async-signal safety: the handler uses only lock-free atomics on static
 * memory, mmap(), sigaction() and raise(). The registry is a fixed table of
 * chunks allocated with mmap() and never freed, so the handler never sees
 * memory go away under it. A slot is published with a version word (a
 * seqlock): the handler reads a slot's fields between two loads of the
 * word and ignores the slot if the word moved.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "segment-internal.h"

#define G_CHUNK_SLOTS 512u
#define G_MAX_CHUNKS 64u /* 32768 mappings: more than vm.max_map_count allows segments */

/* Slot word: version << 2 | state. */
#define G_FREE 0u
#define G_WRITING 1u
#define G_LIVE 2u

struct gslot {
	uint64_t word;       /* version << 2 | G_* */
	uintptr_t start;     /* [start, end) */
	uintptr_t end;
	uint32_t *poison;    /* the handle's poison word */
	uint32_t remapping;  /* 1 while a handler maps anonymous memory over the range */
	uint32_t pad;
};

/* The handler relies on lock-free (async-signal-safe) 64-bit and pointer atomics. */
#if !defined(__GCC_ATOMIC_LLONG_LOCK_FREE) || __GCC_ATOMIC_LLONG_LOCK_FREE != 2 || \
	!defined(__GCC_ATOMIC_POINTER_LOCK_FREE) || __GCC_ATOMIC_POINTER_LOCK_FREE != 2
#error "the SIGBUS guard needs lock-free 64-bit and pointer atomics"
#endif

static struct gslot *chunks[G_MAX_CHUNKS];
static uint32_t nchunks; /* chunks published so far */

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int guard_state; /* 0 not installed, 1 installed, -1 opted out or failed */
/* The action we chain to: prev[prev_idx]. A re-install (see ensure_front())
 * fills the other one and then flips the index, so a handler never reads
 * one that is being written. */
static struct sigaction prev[2];
static uint32_t prev_idx;
static pthread_mutex_t front_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------ */
/* the handler                                                         */

static bool fault_code(int code)
{
	/* Faults the kernel raises for an access: returning re-executes it. */
	return code == BUS_ADRERR || code == BUS_ADRALN || code == BUS_OBJERR
#ifdef BUS_MCEERR_AR
	       || code == BUS_MCEERR_AR
#endif
		;
}

static void chain(int sig, siginfo_t *si, void *uc)
{
	/* H0: acquire, pairs with P0 in ensure_front(). */
	const struct sigaction *p = &prev[__atomic_load_n(&prev_idx, __ATOMIC_ACQUIRE) & 1u];
	const bool custom = (p->sa_flags & SA_SIGINFO) ? p->sa_sigaction != NULL
						       : (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN);
	if (custom) {
		/* Run it with the signals its sa_mask blocks, as the kernel would
		 * have (SIGBUS itself is blocked already, unless it asked for
		 * SA_NODEFER, which is not emulated; nor is SA_RESETHAND). */
		sigset_t old;
		pthread_sigmask(SIG_BLOCK, &p->sa_mask, &old);
		if (p->sa_flags & SA_SIGINFO)
			p->sa_sigaction(sig, si, uc);
		else
			p->sa_handler(sig);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return;
	}
	/* SIG_DFL (or SIG_IGN, which the kernel does not honour for a fault):
	 * die of SIGBUS as if we had never been installed. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	if (si->si_code <= 0 || !fault_code(si->si_code))
		raise(sig); /* blocked while we run: delivered when we return */
}

/* Find the live slot whose range holds addr. */
static struct gslot *lookup(uintptr_t addr)
{
	/* H1: acquire, pairs with P1 in grow(): the chunk's zeroed slots are
	 * visible before its pointer. */
	uint32_t n = __atomic_load_n(&nchunks, __ATOMIC_ACQUIRE);
	for (uint32_t c = 0; c < n && c < G_MAX_CHUNKS; c++) {
		struct gslot *ch = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
		if (!ch)
			continue;
		for (uint32_t i = 0; i < G_CHUNK_SLOTS; i++) {
			struct gslot *s = &ch[i];
			/* H2: acquire, pairs with P2 in shmap__guard_register():
			 * the fields are those written before the word went LIVE. */
			uint64_t w1 = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
			if ((w1 & 3u) != G_LIVE)
				continue;
			uintptr_t a = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
			uintptr_t e = __atomic_load_n(&s->end, __ATOMIC_RELAXED);
			/* H3: acquire fence, so the re-check below is not done before
			 * the field loads (the seqlock read side). */
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&s->word, __ATOMIC_RELAXED) != w1)
				continue;
			if (addr >= a && addr < e)
				return s;
		}
	}
	return NULL;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	struct gslot *s = NULL;
	if (si && si->si_code > 0 && si->si_code == BUS_ADRERR)
		s = lookup((uintptr_t)si->si_addr);
	if (!s) {
		chain(sig, si, uc);
		errno = saved;
		return;
	}
	uint32_t *poison = __atomic_load_n(&s->poison, __ATOMIC_RELAXED);
	uint32_t zero = 0;
	/* G0: acquire, pairs with G2: one handler at a time replaces a range. */
	if (!__atomic_compare_exchange_n(&s->remapping, &zero, 1u, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED)) {
		/* Another thread is replacing the range right now: return, and
		 * the access faults again until its mmap is done. */
		errno = saved;
		return;
	}
	/* Poisoned before the range changes: a call in another thread that
	 * reads the zero pages (and finds nonsense there) must already see the
	 * poison when it leaves (shmap__seg_leave), not report what it found.
	 * A remap already done by another thread (poison set, remapping back
	 * to 0) is simply done again: the range holds nothing we keep.
	 * G1: seq_cst, pairs with the load in shmap__seg_leave() (and the
	 * handle checks) of any thread; the mmap() below is a system call the
	 * store is ordered before. */
	__atomic_store_n(poison, SHMAP__POISON_PEERFAULT, __ATOMIC_SEQ_CST);
	uintptr_t a = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
	uintptr_t e = __atomic_load_n(&s->end, __ATOMIC_RELAXED);
	void *m = mmap((void *)a, (size_t)(e - a), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | shmap__plat_map_noreserve(), -1, 0);
	/* G2: release, pairs with G0. */
	__atomic_store_n(&s->remapping, 0u, __ATOMIC_RELEASE);
	if (m == MAP_FAILED)
		chain(sig, si, uc); /* cannot make the access complete */
	errno = saved;
}

/* ------------------------------------------------------------------ */
/* installation                                                        */

static void our_action(struct sigaction *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sa_sigaction = on_sigbus;
	sa->sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa->sa_mask);
}

static void install(void)
{
	const char *off = getenv("SHMAP_NO_SIGBUS_GUARD");
	if (off && off[0] && strcmp(off, "0") != 0) {
		guard_state = -1;
		return;
	}
	struct sigaction sa;
	our_action(&sa);
	/* prev[0] is written before the handler can run: sigaction() is the
	 * point after which it may. */
	if (sigaction(SIGBUS, &sa, &prev[0]) != 0) {
		guard_state = -1;
		return;
	}
	guard_state = 1;
}

/*
 * A program (or a test framework) that installed a SIGBUS handler of its own
 * after ours replaced it: put ours back in front at the next mapping, and
 * chain to theirs from then on.
 */
static void ensure_front(void)
{
	struct sigaction cur;
	if (sigaction(SIGBUS, NULL, &cur) != 0)
		return;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)
		return;
	pthread_mutex_lock(&front_lock);
	if (sigaction(SIGBUS, NULL, &cur) == 0 &&
	    !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)) {
		uint32_t n = (__atomic_load_n(&prev_idx, __ATOMIC_RELAXED) + 1u) & 1u;
		prev[n] = cur;
		/* P0: release, pairs with H0: the action is complete before a
		 * handler can pick it. Ours is not installed yet at this point,
		 * so no handler of ours runs that could read the old slot. */
		__atomic_store_n(&prev_idx, n, __ATOMIC_RELEASE);
		struct sigaction sa;
		our_action(&sa);
		(void)sigaction(SIGBUS, &sa, NULL);
	}
	pthread_mutex_unlock(&front_lock);
}

bool shmap__guard_enabled(void)
{
	pthread_once(&install_once, install);
	if (guard_state != 1)
		return false;
	ensure_front();
	return true;
}

/* ------------------------------------------------------------------ */
/* the registry                                                        */

/* Publish chunk `have` (lock-free: a thread that loses the race frees its
 * copy; whoever sees the chunk published advances the count). */
static bool grow(uint32_t have)
{
	if (have >= G_MAX_CHUNKS)
		return false;
	if (!__atomic_load_n(&chunks[have], __ATOMIC_ACQUIRE)) {
		void *m = mmap(NULL, G_CHUNK_SLOTS * sizeof(struct gslot), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return false;
		struct gslot *expect = NULL;
		/* P1: release (the CAS and the count below), pairs with H1: the
		 * chunk's zeroed slots are visible before its pointer. */
		if (!__atomic_compare_exchange_n(&chunks[have], &expect, (struct gslot *)m, false,
						 __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
			munmap(m, G_CHUNK_SLOTS * sizeof(struct gslot));
	}
	uint32_t n = have;
	__atomic_compare_exchange_n(&nchunks, &n, have + 1u, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	return true;
}

int shmap__guard_register(void *start, size_t len, uint32_t *poison)
{
	if (!shmap__guard_enabled())
		return 0;
	for (;;) {
		uint32_t n = __atomic_load_n(&nchunks, __ATOMIC_ACQUIRE);
		for (uint32_t c = 0; c < n; c++) {
			struct gslot *ch = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
			for (uint32_t i = 0; i < G_CHUNK_SLOTS; i++) {
				struct gslot *s = &ch[i];
				uint64_t w = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
				if ((w & 3u) != G_FREE)
					continue;
				uint64_t v = (w >> 2) + 1u;
				if (!__atomic_compare_exchange_n(&s->word, &w, v << 2 | G_WRITING, false,
								 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
					continue;
				__atomic_store_n(&s->start, (uintptr_t)start, __ATOMIC_RELAXED);
				__atomic_store_n(&s->end, (uintptr_t)start + len, __ATOMIC_RELAXED);
				__atomic_store_n(&s->poison, poison, __ATOMIC_RELAXED);
				__atomic_store_n(&s->remapping, 0u, __ATOMIC_RELAXED);
				/* P2: release, pairs with H2: the fields above are
				 * visible to a handler that sees the slot LIVE. */
				__atomic_store_n(&s->word, v << 2 | G_LIVE, __ATOMIC_RELEASE);
				return (int)(c * G_CHUNK_SLOTS + i) + 1;
			}
		}
		if (!grow(n))
			return -1;
	}
}

void shmap__guard_unregister(int id)
{
	if (id <= 0)
		return;
	uint32_t c = (uint32_t)(id - 1) / G_CHUNK_SLOTS, i = (uint32_t)(id - 1) % G_CHUNK_SLOTS;
	struct gslot *ch = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
	struct gslot *s = &ch[i];
	uint64_t w = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
	/* R1: release; a new version, so a handler that read the fields of the
	 * old registration (H2..H3) sees the word move and ignores them. The
	 * range is unmapped only after this store. */
	__atomic_store_n(&s->word, ((w >> 2) + 1u) << 2 | G_FREE, __ATOMIC_RELEASE);
}
