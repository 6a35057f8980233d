/* SPDX-License-Identifier: MIT */
/*
 * test_htable_kill.c - SIGKILL of hash-table writers (torture
 * scenarios 13, 14, 27), linked with the failpoint build of the library.
 *
 * A victim process runs a deterministic sequence of operations (upsert,
 * erase, update through a callback, insert, compare-and-swap,
 * compare-and-erase) on its own keys and acknowledges each completed one
 * over a pipe. It is killed
 *   - at the N-th hit of each failpoint of the write protocol,
 *   - at a random instant (the parent sends SIGKILL),
 *   - inside its update callback (the callback kills its own process),
 * while two survivor processes keep writing and verifying their own keys,
 * which share probe chains with the victim's (a small, 60%-full table).
 * After each kill the parent checks: every acknowledged operation is there
 * with its exact value; the victim's in-flight operation is atomic (old or
 * new value, never a mix: values carry a checksum); no key appears twice;
 * lookups agree with a full scan; the in-flight key is writable again
 * (recovery latency measured); the checker passes after repair.
 * Separately: a clear() killed midway, a writer killed in its home bucket
 * whose lock an insert takes over as its target's and gives up again, and
 * versions about to wrap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/mman.h>

#include <shmap/shmap.h>

#include "helpers.h"
#include "htable_val.h"
#include "th_api.h"

void shmap__htable_test_seq_near_wrap(shmap_htable *t, uint64_t below);
void *shmap__htable_test_data(shmap_htable *t, uint64_t *len);
uint64_t shmap__htable_test_leaked(shmap_htable *t, uint64_t *dead_intents);
uint64_t shmap__htable_test_home(shmap_htable *t, const void *key, uint32_t klen);
extern void (*shmap__test_hook)(const char *point, void *obj, uint64_t arg);
extern void (*shmap__failpoint_hook)(const char *name);

#define VCAP 120u
#define KMAX 24u
#define NVK 20u        /* victim keys: ids 0..19 */
#define NSURV 2u
#define NSK 10u        /* keys per survivor: ids 100 + 10 * s + j */
#define MAXOPS 20000u

struct shared {
	volatile uint32_t stop, pause, paused;
	uint32_t pad;
	uint64_t surv_ops[NSURV];
	uint64_t surv_recovered[NSURV];
	uint64_t surv_max_ns[NSURV];
	uint32_t surv_err[NSURV];
};

static const char *const failpoints[] = {
	"htable.w.locked",    "htable.w.claimed",   "htable.w.callback",
	"htable.w.written",   "htable.w.partial",   "htable.w.published", "htable.w.counted",
	"htable.w.done",
	"htable.erase.tomb",  "htable.cleanup.locked", "htable.cleanup.step",
	/* the indirect layout (this table's): record linked, allocator steps
	 * (carving new blocks: test_kill_no_leak) */
	"htable.w.linked",    "htable.alloc.popped", "htable.alloc.freed",
};
#define NFP (sizeof(failpoints) / sizeof(failpoints[0]))

static uint64_t shmap__now_ns_test(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double soak(void)
{
	return getenv("SHMAP_SOAK") ? 10.0 : 1.0;
}

/* ---- the victim's deterministic operations ---- */

enum { K_UPSERT, K_UPSERT2, K_ERASE, K_UPDATE, K_INSERT, K_CAS, K_CASERASE, K_NKINDS };

static void gen_op(uint64_t seed, uint32_t i, uint32_t *id, uint32_t *kind)
{
	uint64_t z = seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	*id = (uint32_t)(z % NVK);
	*kind = (uint32_t)((z >> 32) % K_NKINDS);
}

/* State of a key in the model: 0 = absent, else the seq of its value. */
static uint32_t op_effect(uint32_t kind, uint32_t old, uint32_t seq)
{
	switch (kind) {
	case K_ERASE:
	case K_CASERASE: /* the victim's cas_erase expects the current value */
		return 0;
	case K_INSERT:
	case K_CAS: /* the victim's cas expects the current value */
		return kind == K_INSERT ? (old ? old : seq) : (old ? seq : 0);
	default:
		return seq;
	}
}

struct upd {
	uint32_t id, seq;
	long kill_at; /* kill the process inside the n-th callback (0: never) */
};

static long cb_calls;

static int cb_set(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	struct upd *u = arg;
	if (exists && val_check(cur, cur_len, VCAP, u->id, NULL) != 0)
		return 77; /* a torn current value: reported as INVAL */
	*out_len = val_make(out, VCAP, u->id, u->seq);
	if (u->kill_at && ++cb_calls == u->kill_at) {
		/* Die in the middle of the callback, with the output half done. */
		memset(out, 0x5a, *out_len / 2);
		raise(SIGKILL);
	}
	return SHMAP_HTABLE_COMMIT;
}

struct victim {
	shmap_htable *t;
	uint64_t seed;
	uint32_t seq_base;
	int ackfd;
	int readyfd;
	long cb_kill;
	const char *fp;
};

static int victim_main(void *arg)
{
	struct victim *v = arg;
	child_die_with_parent();
	if (v->fp)
		setenv("SHMAP_FAILPOINT", v->fp, 1);
	if (shmap_htable_reattach(v->t) != SHMAP_OK)
		return 50;
	th_ack(v->readyfd, 1);
	uint8_t key[KMAX], val[VCAP], cur[VCAP];
	for (uint32_t i = 0; i < MAXOPS; i++) {
		uint32_t id, kind, cl;
		gen_op(v->seed, i, &id, &kind);
		uint32_t kl = key_make(key, id), seq = v->seq_base + i + 1;
		uint32_t vl = val_make(val, VCAP, id, seq);
		int rc;
		switch (kind) {
		case K_UPSERT:
		case K_UPSERT2:
			rc = shmap_htable_upsert(v->t, key, kl, val, vl);
			break;
		case K_ERASE:
			rc = shmap_htable_erase(v->t, key, kl);
			break;
		case K_UPDATE: {
			struct upd u = { id, seq, v->cb_kill };
			rc = shmap_htable_update(v->t, key, kl, cb_set, &u);
			break;
		}
		case K_INSERT:
			rc = shmap_htable_insert(v->t, key, kl, val, vl);
			break;
		case K_CASERASE:
			rc = shmap_htable_get(v->t, key, kl, cur, VCAP, &cl);
			if (rc == SHMAP_OK)
				rc = shmap_htable_cas_erase(v->t, key, kl, cur, cl);
			break;
		default:
			rc = shmap_htable_get(v->t, key, kl, cur, VCAP, &cl);
			if (rc == SHMAP_OK)
				rc = shmap_htable_cas(v->t, key, kl, cur, cl, val, vl);
			break;
		}
		if (rc < 0 && rc != SHMAP_E_EXIST && rc != SHMAP_E_NOTFOUND)
			return 51;
		th_ack(v->ackfd, ((uint64_t)i << 32) | (uint32_t)rc);
	}
	return 0;
}

/* ---- survivors ---- */

struct surv {
	shmap_htable *t;
	struct shared *sh;
	uint32_t idx;
};

static int survivor_main(void *arg)
{
	struct surv *s = arg;
	child_die_with_parent();
	struct shared *sh = s->sh;
	if (shmap_htable_reattach(s->t) != SHMAP_OK)
		return 60;
	uint32_t model[NSK] = { 0 }, seq = 1;
	uint8_t key[KMAX], val[VCAP];
	uint64_t rnd = 0xabcdefull + s->idx, ops = 0, rec = 0, maxns = 0;
	int err = 0;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) && !err) {
		if (__atomic_load_n(&sh->pause, __ATOMIC_ACQUIRE)) {
			__atomic_fetch_add(&sh->paused, 1, __ATOMIC_ACQ_REL);
			while (__atomic_load_n(&sh->pause, __ATOMIC_ACQUIRE) && !__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
				usleep(100);
			__atomic_fetch_sub(&sh->paused, 1, __ATOMIC_ACQ_REL);
			continue;
		}
		uint32_t j = (uint32_t)(xorshift64(&rnd) % NSK), id = 100 + 10 * s->idx + j;
		uint32_t kl = key_make(key, id), r = (uint32_t)(xorshift64(&rnd) % 10), vl, got;
		uint64_t t0 = shmap__now_ns_test();
		int rc;
		if (r == 0) {
			rc = shmap_htable_erase(s->t, key, kl);
			if (rc == SHMAP_E_NOTFOUND ? model[j] != 0 : rc < 0)
				err = 61;
			model[j] = 0;
		} else {
			vl = val_make(val, VCAP, id, ++seq);
			rc = shmap_htable_upsert(s->t, key, kl, val, vl);
			if (rc < 0)
				err = rc == SHMAP_E_TIMEOUT ? 62 : 63;
			model[j] = seq;
		}
		uint64_t dt = shmap__now_ns_test() - t0;
		if (dt > maxns)
			maxns = dt;
		if (rc == SHMAP_RECOVERED)
			rec++;
		/* Verify all own keys now and then. */
		if (ops % 16 == 0) {
			for (uint32_t k = 0; k < NSK && !err; k++) {
				uint32_t kid = 100 + 10 * s->idx + k, q;
				kl = key_make(key, kid);
				rc = shmap_htable_get(s->t, key, kl, val, VCAP, &got);
				if (model[k] == 0 ? rc != SHMAP_E_NOTFOUND :
				    (rc != SHMAP_OK || val_check(val, got, VCAP, kid, &q) != 0 || q != model[k]))
					err = 64;
			}
		}
		ops++;
	}
	sh->surv_ops[s->idx] = ops;
	sh->surv_recovered[s->idx] = rec;
	sh->surv_max_ns[s->idx] = maxns;
	sh->surv_err[s->idx] = (uint32_t)err;
	return err;
}

/* ---- parent-side verification ---- */

struct model {
	uint32_t v[NVK]; /* 0 absent, else seq */
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void pause_survivors(struct shared *sh, uint32_t on)
{
	__atomic_store_n(&sh->pause, on, __ATOMIC_RELEASE);
	if (!on)
		return;
	double end = th_now() + 10;
	while (__atomic_load_n(&sh->paused, __ATOMIC_ACQUIRE) < NSURV) {
		assert_true(th_now() < end);
		usleep(100);
	}
}

/*
 * Every key at most once in a scan, scan == lookups, victim keys checked.
 * With `quiet` 0 the survivors are still writing: a cursor may then return
 * one of their keys twice (erased behind the cursor and inserted again in
 * a bucket it has not reached: two entries of one key, each returned at
 * most once, as shmap_htable_cursor_new() documents), so only the keys
 * nobody writes during the scan (the victim's) must appear at most once.
 * With `quiet` 1 every writer is stopped and every key is held to it.
 */
static void verify_table(shmap_htable *t, const struct model *m, uint32_t inflight_id, uint32_t alt,
			 uint32_t *observed, int quiet)
{
	uint8_t key[KMAX], val[VCAP];
	uint32_t kl, vl, id, seq;
	static uint32_t seen[256];
	memset(seen, 0, sizeof seen);
	shmap_htable_cursor *c;
	assert_int_equal(shmap_htable_cursor_new(t, &c), SHMAP_OK);
	int rc;
	while ((rc = shmap_htable_cursor_next(c, key, KMAX, &kl, val, VCAP, &vl)) == SHMAP_OK) {
		memcpy(&id, key, 4);
		assert_true(id < 256);
		assert_int_equal(kl, key_make(key, id));
		assert_int_equal(val_check(val, vl, VCAP, id, NULL), 0);
		seen[id]++;
		if (quiet || id < NVK)
			assert_int_equal(seen[id], 1); /* no duplicates */
	}
	assert_int_equal(rc, SHMAP_E_NOTFOUND);
	shmap_htable_cursor_free(c);
	/* Quiescent: the survivors' keys too are in the scan iff a lookup finds them. */
	for (id = 100; quiet && id < 100 + 10 * NSURV; id++) {
		kl = key_make(key, id);
		rc = shmap_htable_get(t, key, kl, val, VCAP, &vl);
		if (rc == SHMAP_OK)
			assert_int_equal(val_check(val, vl, VCAP, id, NULL), 0);
		else
			assert_int_equal(rc, SHMAP_E_NOTFOUND);
		if (seen[id] != (rc == SHMAP_OK ? 1u : 0u))
			fail_msg("survivor key %u: %u times in a quiescent scan, lookup %s", id, seen[id],
				 shmap_errname(rc));
	}
	for (id = 0; id < NVK; id++) {
		kl = key_make(key, id);
		rc = shmap_htable_get(t, key, kl, val, VCAP, &vl);
		uint32_t now = 0;
		if (rc == SHMAP_OK) {
			assert_int_equal(val_check(val, vl, VCAP, id, &seq), 0);
			now = seq;
		} else {
			assert_int_equal(rc, SHMAP_E_NOTFOUND);
		}
		assert_int_equal(seen[id], now ? 1 : 0); /* lookups agree with the scan */
		if (id == inflight_id) {
			if (now != m->v[id] && now != alt)
				fail_msg("in-flight key %u: found seq %u, expected old %u or new %u", id, now, m->v[id], alt);
		} else if (now != m->v[id]) {
			fail_msg("key %u: found seq %u, acknowledged %u (lost or invented)", id, now, m->v[id]);
		}
		observed[id] = now;
	}
}

struct killstats {
	uint64_t runs, killed, recovered_checks;
	uint64_t lat[4096];
	uint32_t nlat;
};

enum { MODE_FP, MODE_RANDOM, MODE_CALLBACK };

static void one_run(shmap_htable *t, struct shared *sh, struct model *m, uint32_t run, int mode, const char *fp,
		    uint64_t seed, struct killstats *ks)
{
	int ack[2], ready[2];
	assert_int_equal(pipe(ack), 0);
	assert_int_equal(pipe(ready), 0);
	char fpbuf[96];
	struct victim v = { .t = t, .seed = seed, .seq_base = run * 100000u, .ackfd = ack[1], .readyfd = ready[1] };
	if (mode == MODE_FP) {
		snprintf(fpbuf, sizeof fpbuf, "%s:%u", fp, 1 + (unsigned)(seed % 6));
		v.fp = fpbuf;
	} else if (mode == MODE_CALLBACK) {
		v.cb_kill = 1 + (long)(seed % 4);
	}
	pid_t pid = th_fork(victim_main, &v, 60);
	assert_true(pid > 0);
	close(ack[1]);
	close(ready[1]);
	uint64_t x;
	int started = th_read_ack(ready[0], &x) == 0;
	if (mode == MODE_RANDOM && started)
		usleep((useconds_t)(seed % 3000));
	if (mode == MODE_RANDOM)
		kill(pid, SIGKILL);
	int st = th_wait(pid, 60);
	double t_dead = th_now();
	assert_true(st != -1);
	int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	if (!killed && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		fail_msg("victim exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	ks->runs++;
	ks->killed += killed;

	/* Apply the acknowledged operations to the model. */
	int64_t last = -1;
	while (th_read_ack(ack[0], &x) == 0) {
		uint32_t i = (uint32_t)(x >> 32), id, kind;
		int rc = (int)(int32_t)(uint32_t)x;
		assert_int_equal(i, (uint32_t)(last + 1));
		last = i;
		gen_op(seed, i, &id, &kind);
		uint32_t seq = run * 100000u + i + 1, nv = op_effect(kind, m->v[id], seq);
		if (rc >= 0)
			m->v[id] = nv;
		else if (nv != m->v[id])
			fail_msg("op %u kind %u on key %u: %s but the model expected a change", i, kind, id,
				 shmap_errname(rc));
	}
	close(ack[0]);
	close(ready[0]);

	/* The in-flight operation (if the victim died): old or new state, read
	 * first (lookups never wait), then the key is written again at once:
	 * that write measures the recovery latency. */
	if (killed) {
		uint32_t id, kind, got, seq = 0;
		uint8_t key[KMAX], val[VCAP];
		gen_op(seed, (uint32_t)(last + 1), &id, &kind);
		uint32_t alt = op_effect(kind, m->v[id], run * 100000u + (uint32_t)(last + 1) + 1);
		uint32_t kl = key_make(key, id);
		int rc = shmap_htable_get(t, key, kl, val, VCAP, &got);
		if (rc == SHMAP_OK)
			assert_int_equal(val_check(val, got, VCAP, id, &seq), 0);
		else
			assert_int_equal(rc, SHMAP_E_NOTFOUND);
		if (seq != m->v[id] && seq != alt)
			fail_msg("in-flight key %u: found seq %u, expected old %u or new %u", id, seq, m->v[id], alt);
		uint32_t nseq = run * 100000u + 99999u, vl = val_make(val, VCAP, id, nseq);
		rc = shmap_htable_upsert(t, key, kl, val, vl);
		double dt = th_now() - t_dead;
		if (rc < 0)
			fail_msg("upsert of the victim's key after the kill: %s", shmap_errname(rc));
		m->v[id] = nseq;
		if (ks->nlat < 4096)
			ks->lat[ks->nlat++] = (uint64_t)(dt * 1e9);
	}
	uint32_t observed[NVK];
	verify_table(t, m, UINT32_MAX, 0, observed, 0);

	/* Quiesce the survivors, scan again (every key at most once now), then
	 * the checker: repair, then clean. */
	pause_survivors(sh, 1);
	verify_table(t, m, UINT32_MAX, 0, observed, 1);
	uint64_t problems = 0;
	int rc = shmap_htable_check(t, SHMAP_CHECK_REPAIR, &problems);
	if (rc != SHMAP_OK && rc != SHMAP_RECOVERED)
		fail_msg("check(REPAIR): %s", shmap_errname(rc));
	/* Only what a dead writer leaves: its locks (a cleanup holds up to a
	 * run of them) and the size counter. Structural damage (duplicates,
	 * unreachable keys, wrong values) was ruled out by verify_table(). */
	if (problems > 2u * 64u + 3u)
		fail_msg("check(REPAIR) found %llu problems", (unsigned long long)problems);
	if (rc == SHMAP_RECOVERED)
		ks->recovered_checks++;
	rc = shmap_htable_check(t, 0, &problems);
	if (rc != SHMAP_OK)
		fail_msg("check after repair: %s (%llu problems)", shmap_errname(rc), (unsigned long long)problems);
	pause_survivors(sh, 0);
}

static void test_kill_writers(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htkill");
	/* 40 keys of the victim and the survivors in 64 buckets. */
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 64, NULL, &t), SHMAP_OK);
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof *sh);
	struct surv sv[NSURV];
	pid_t sp[NSURV];
	for (uint32_t s = 0; s < NSURV; s++) {
		sv[s] = (struct surv){ .t = t, .sh = sh, .idx = s };
		sp[s] = th_fork(survivor_main, &sv[s], 600);
	}
	static struct killstats ks;
	memset(&ks, 0, sizeof ks);
	struct model m;
	memset(&m, 0, sizeof m);
	uint64_t per_fp[NFP] = { 0 };
	const uint32_t reps = (uint32_t)(10 * soak()), nrandom = (uint32_t)(100 * soak()),
		       ncb = (uint32_t)(40 * soak());
	uint32_t run = 1;
	uint64_t seed = 0x5eed;
	double t0 = th_now();
	for (uint32_t f = 0; f < NFP; f++) {
		for (uint32_t r = 0; r < reps; r++, run++) {
			uint64_t before = ks.killed;
			one_run(t, sh, &m, run, MODE_FP, failpoints[f], xorshift64(&seed), &ks);
			per_fp[f] += ks.killed - before;
		}
	}
	uint64_t fp_kills = ks.killed;
	for (uint32_t r = 0; r < nrandom; r++, run++)
		one_run(t, sh, &m, run, MODE_RANDOM, NULL, xorshift64(&seed), &ks);
	uint64_t cb_before = ks.killed;
	for (uint32_t r = 0; r < ncb; r++, run++)
		one_run(t, sh, &m, run, MODE_CALLBACK, NULL, xorshift64(&seed), &ks);
	uint64_t cb_kills = ks.killed - cb_before;
	double secs = th_now() - t0;

	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	for (uint32_t s = 0; s < NSURV; s++) {
		int st = th_wait(sp[s], 60);
		if (!th_ok(st))
			fail_msg("survivor %u failed: exit %d", s, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	qsort(ks.lat, ks.nlat, sizeof ks.lat[0], cmp_u64);
	uint64_t p50 = ks.nlat ? ks.lat[ks.nlat / 2] : 0, p99 = ks.nlat ? ks.lat[ks.nlat * 99 / 100] : 0,
		 pmax = ks.nlat ? ks.lat[ks.nlat - 1] : 0;
	print_message("kill test: %llu runs in %.1f s, %llu killed (%llu at failpoints, %llu inside callbacks), "
		      "0 lost, 0 torn, 0 duplicates\n",
		      (unsigned long long)ks.runs, secs, (unsigned long long)ks.killed, (unsigned long long)fp_kills,
		      (unsigned long long)cb_kills);
	for (uint32_t f = 0; f < NFP; f++)
		print_message("  %-24s %llu kills\n", failpoints[f], (unsigned long long)per_fp[f]);
	print_message("  recovery (kill -> victim's key written again): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		      p50 / 1e6, p99 / 1e6, pmax / 1e6);
	print_message("  checker repaired something after %llu runs; survivors: %llu + %llu ops, %llu + %llu "
		      "RECOVERED, max op %.2f / %.2f ms, 0 TIMEOUT\n",
		      (unsigned long long)ks.recovered_checks, (unsigned long long)sh->surv_ops[0],
		      (unsigned long long)sh->surv_ops[1], (unsigned long long)sh->surv_recovered[0],
		      (unsigned long long)sh->surv_recovered[1], sh->surv_max_ns[0] / 1e6, sh->surv_max_ns[1] / 1e6);
	/* Every failpoint killed (cleanup ones need an erase with a free run end). */
	for (uint32_t f = 0; f < NFP; f++)
		assert_true(per_fp[f] >= reps / 2);
	assert_true(cb_kills >= ncb * 9 / 10);
	assert_true(p99 <= 100000000u);
	munmap(sh, sizeof *sh);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/* ---- clear() killed midway ---- */

struct clr {
	shmap_htable *t;
	const char *fp;
};

static int clear_main(void *arg)
{
	struct clr *c = arg;
	child_die_with_parent();
	setenv("SHMAP_FAILPOINT", c->fp, 1);
	if (shmap_htable_reattach(c->t) != SHMAP_OK)
		return 70;
	shmap_htable_clear(c->t);
	return 0;
}

static void test_kill_clear(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htkclr");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 256, NULL, &t), SHMAP_OK);
	const char *fps[] = { "htable.clear.locked", "htable.clear.tombed" };
	uint8_t key[KMAX], val[VCAP];
	for (int r = 0; r < 10; r++) {
		for (uint32_t id = 0; id < 150; id++) {
			uint32_t kl = key_make(key, id), vl = val_make(val, VCAP, id, id + 1);
			int rc = shmap_htable_upsert(t, key, kl, val, vl);
			assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
		}
		struct clr c = { t, fps[r % 2] };
		pid_t pid = th_fork(clear_main, &c, 30);
		int st = th_wait(pid, 30);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		/* Every lock is held by the dead clearer: the next writer recovers. */
		uint32_t kl = key_make(key, 7), vl = val_make(val, VCAP, 7, 1000), got, seq;
		double t0 = th_now();
		assert_int_equal(shmap_htable_upsert(t, key, kl, val, vl), SHMAP_RECOVERED);
		assert_true(th_now() - t0 < 0.1);
		assert_int_equal(shmap_htable_get(t, key, kl, val, VCAP, &got), SHMAP_OK);
		assert_int_equal(val_check(val, got, VCAP, 7, &seq), 0);
		assert_int_equal(seq, 1000);
		/* Others: present with their value, or gone. */
		for (uint32_t id = 0; id < 150; id++) {
			kl = key_make(key, id);
			int rc = shmap_htable_get(t, key, kl, val, VCAP, &got);
			if (rc == SHMAP_OK) {
				assert_int_equal(val_check(val, got, VCAP, id, &seq), 0);
				assert_true(seq == id + 1 || (id == 7 && seq == 1000));
			} else {
				assert_int_equal(rc, SHMAP_E_NOTFOUND);
			}
		}
		uint64_t problems;
		int rc = shmap_htable_check(t, SHMAP_CHECK_REPAIR, &problems);
		assert_true(rc == SHMAP_RECOVERED);
		assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
		assert_int_equal(shmap_htable_clear(t), SHMAP_OK);
		assert_int_equal(shmap_htable_size(t), 0);
	}
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/* ---- scenario 27: versions about to wrap, under a write storm ---- */

struct storm {
	shmap_htable *t;
	struct shared *sh;
	int writer;
	uint64_t reads;
};

static int storm_main(void *arg)
{
	struct storm *s = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(s->t) != SHMAP_OK)
		return 80;
	uint8_t key[KMAX], val[VCAP];
	uint64_t rnd = 77 + (uint64_t)s->writer, n = 0;
	uint32_t seq = 1, got;
	while (!__atomic_load_n(&s->sh->stop, __ATOMIC_ACQUIRE)) {
		uint32_t id = (uint32_t)(xorshift64(&rnd) % 8), kl = key_make(key, id);
		if (s->writer) {
			uint32_t vl = val_make(val, VCAP, id, ++seq);
			if (shmap_htable_upsert(s->t, key, kl, val, vl) < 0)
				return 81;
		} else {
			int rc = shmap_htable_get(s->t, key, kl, val, VCAP, &got);
			if (rc == SHMAP_OK && val_check(val, got, VCAP, id, NULL) != 0)
				return 82;
			if (rc != SHMAP_OK && rc != SHMAP_E_BUSY)
				return 83;
			n++;
		}
	}
	s->sh->surv_ops[0] = s->writer ? s->sh->surv_ops[0] : n;
	return 0;
}

static void test_version_wrap(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htwrap");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 16, NULL, &t), SHMAP_OK);
	uint8_t key[KMAX], val[VCAP];
	for (uint32_t id = 0; id < 8; id++) {
		uint32_t kl = key_make(key, id), vl = val_make(val, VCAP, id, 1);
		assert_int_equal(shmap_htable_insert(t, key, kl, val, vl), SHMAP_OK);
	}
	shmap__htable_test_seq_near_wrap(t, 10);
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof *sh);
	struct storm w = { t, sh, 1, 0 }, r = { t, sh, 0, 0 };
	pid_t pw = th_fork(storm_main, &w, 60), pr = th_fork(storm_main, &r, 60);
	usleep((useconds_t)(2e6 * soak()));
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	assert_true(th_ok(th_wait(pw, 30)));
	assert_true(th_ok(th_wait(pr, 30)));
	print_message("version wrap: %llu verified reads across the wrap, 0 torn\n",
		      (unsigned long long)sh->surv_ops[0]);
	assert_true(sh->surv_ops[0] > 100000);
	uint64_t problems;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	munmap(sh, sizeof *sh);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}


/* ---- scenario 21: targeted field corruption ---- */

static int rc_allowed(int rc)
{
	return rc == SHMAP_OK || rc == SHMAP_RECOVERED || rc == SHMAP_E_NOTFOUND || rc == SHMAP_E_EXIST ||
	       rc == SHMAP_E_FULL || rc == SHMAP_E_BUSY || rc == SHMAP_E_TIMEOUT || rc == SHMAP_E_CORRUPT ||
	       rc == SHMAP_E_BUFSIZE || rc == SHMAP_E_MISMATCH || rc == SHMAP_E_ABORTED;
}

static double worst_call;

#define HOSTILE_CALL(expr)                                                                  \
	do {                                                                                \
		double c0_ = th_now();                                                      \
		int rc_ = (expr);                                                           \
		double dc_ = th_now() - c0_;                                                \
		if (dc_ > worst_call)                                                       \
			worst_call = dc_;                                                   \
		if (!rc_allowed(rc_))                                                       \
			fail_msg("%s returned %s", #expr, shmap_errname(rc_));              \
		if (dc_ > 1.0)                                                              \
			fail_msg("%s took %.3f s", #expr, dc_);                             \
	} while (0)

static int cb_keep(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	*out_len = val_make(out, VCAP, 3, 42);
	return SHMAP_HTABLE_COMMIT;
}

static int cb_count(const void *key, uint32_t klen, const void *val, uint32_t vlen, void *arg)
{
	++*(uint64_t *)arg;
	return 0;
}

static void hostile_ops(shmap_htable *t)
{
	uint8_t key[KMAX], val[VCAP], kb[KMAX];
	uint32_t kl, vl, got, kg;
	for (uint32_t id = 0; id < 44; id++) {
		kl = key_make(key, id);
		HOSTILE_CALL(shmap_htable_get(t, key, kl, val, VCAP, &got));
	}
	kl = key_make(key, 3);
	vl = val_make(val, VCAP, 3, 7);
	HOSTILE_CALL(shmap_htable_upsert(t, key, kl, val, vl));
	HOSTILE_CALL(shmap_htable_insert(t, key, kl, val, vl));
	HOSTILE_CALL(shmap_htable_replace(t, key, kl, val, vl));
	HOSTILE_CALL(shmap_htable_cas(t, key, kl, val, vl, val, vl));
	HOSTILE_CALL(shmap_htable_update(t, key, kl, cb_keep, NULL));
	HOSTILE_CALL(shmap_htable_cas_erase(t, key, kl, val, vl));
	HOSTILE_CALL(shmap_htable_erase(t, key, kl));
	kl = key_make(key, 999);
	HOSTILE_CALL(shmap_htable_insert(t, key, kl, val, vl));
	HOSTILE_CALL(shmap_htable_erase(t, key, kl));
	shmap_htable_cursor *c;
	assert_int_equal(shmap_htable_cursor_new(t, &c), SHMAP_OK);
	for (int n = 0; n < 200; n++) {
		double c0 = th_now();
		int rc = shmap_htable_cursor_next(c, kb, KMAX, &kg, val, VCAP, &got);
		assert_true(th_now() - c0 < 1.0);
		if (rc == SHMAP_E_NOTFOUND || rc == SHMAP_E_CORRUPT || rc == SHMAP_E_BUSY)
			break;
		assert_true(rc == SHMAP_OK);
	}
	shmap_htable_cursor_free(c);
	uint64_t cnt = 0, a, b, d;
	HOSTILE_CALL(shmap_htable_foreach(t, cb_count, &cnt));
	HOSTILE_CALL(th_htable_stats(t, &a, &b, &d));
	HOSTILE_CALL(shmap_htable_check(t, 0, &a));
	assert_true(shmap_htable_size(t) <= shmap_htable_capacity(t));
}

/* 8/8 tables: lookups take the inline path of shmap_htable_get(). */
static void hostile_ops_e88(shmap_htable *t)
{
	uint64_t k, v, got;
	uint32_t gl;
	for (uint64_t id = 0; id < 44; id++) {
		k = id * UINT64_C(0x9E3779B97F4A7C15);
		HOSTILE_CALL(shmap_htable_get(t, &k, 8, &got, 8, &gl));
		HOSTILE_CALL(shmap_htable_get(t, &k, 8, &got, 4, &gl));
	}
	k = 3 * UINT64_C(0x9E3779B97F4A7C15);
	v = 7;
	HOSTILE_CALL(shmap_htable_upsert(t, &k, 8, &v, 8));
	HOSTILE_CALL(shmap_htable_get(t, &k, 8, &got, 8, &gl));
	HOSTILE_CALL(shmap_htable_erase(t, &k, 8));
	HOSTILE_CALL(shmap_htable_insert(t, &k, 8, &v, 8));
	HOSTILE_CALL(shmap_htable_check(t, 0, &got));
	assert_true(shmap_htable_size(t) <= shmap_htable_capacity(t));
}

/*
 * Every word of every bucket, one bucket's version, every lock word and the
 * size counters, each set to each hostile value in turn with ops() run
 * between (the table restored after each case): every call returns a
 * defined code within a second.
 */
static void hostile_fields(const char *tag, uint32_t kmax, uint32_t vmax, void (*fill)(shmap_htable *),
			   void (*ops)(shmap_htable *))
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, tag);
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, kmax, vmax, 64, NULL, &t), SHMAP_OK);
	assert_int_equal(shmap_htable_set_timeout_ms(t, 20), SHMAP_OK);
	fill(t);
	uint64_t len;
	uint8_t *data = shmap__htable_test_data(t, &len);
	uint8_t *snap = malloc(len);
	assert_non_null(snap);
	memcpy(snap, data, len);
	const uint64_t cap = 64;
	/* The usual hostile values, plus two version words: a tombstone, and
	 * FULL with key length 8 and value length 8 in an 8/8 table (every
	 * bucket of a walk then fails to end it). */
	const uint64_t vals[] = { 0, 1, cap - 1, cap, cap + 1, UINT64_C(1) << 31, UINT64_C(1) << 32,
				  UINT64_C(1) << 63, UINT64_MAX, 2, 0x441 };
	/* Layout, from the control block: buckets offset and stride. */
	const uint64_t *ctl = (const uint64_t *)(void *)data;
	const uint64_t stride = ctl[2], boff = ctl[3], loff = 64 + 16 * 64;
	uint64_t cases = 0;
	for (size_t vi = 0; vi < sizeof vals / sizeof vals[0]; vi++) {
		/* Each word of every bucket (version, key, both slots). */
		for (uint64_t w = 0; w < stride / 8; w++) {
			for (uint64_t b = 0; b < cap; b++)
				memcpy(data + boff + b * stride + w * 8, &vals[vi], 8);
			ops(t);
			memcpy(data, snap, len);
			cases++;
		}
		/* One bucket's version only (the rest intact). */
		memcpy(data + boff + 5 * stride, &vals[vi], 8);
		ops(t);
		memcpy(data, snap, len);
		/* Every lock word, and the size counters. */
		for (uint64_t b = 0; b < cap; b++) {
			uint32_t v32 = (uint32_t)vals[vi];
			memcpy(data + loff + b * 4, &v32, 4);
		}
		for (uint64_t s = 0; s < 16; s++)
			memcpy(data + 64 + s * 64, &vals[vi], 8);
		ops(t);
		memcpy(data, snap, len);
		cases += 2;
	}
	if (ctl[4]) {
		/* Indirect layout: the allocator's words (lock, top, allocated
		 * bytes, journal, the first free-list heads), the first intent
		 * slots, and the header word of every live record. */
		const uint64_t aoff = ctl[5], ioff = ctl[6], roff = ctl[7];
		for (size_t vi = 0; vi < sizeof vals / sizeof vals[0]; vi++) {
			for (uint64_t w = 0; w < 8 + 24; w++) {
				memcpy(data + aoff + w * 8, &vals[vi], 8);
				ops(t);
				memcpy(data, snap, len);
				cases++;
			}
			for (uint64_t w = 0; w < 4 * 8; w++) {
				memcpy(data + ioff + w * 8, &vals[vi], 8);
				ops(t);
				memcpy(data, snap, len);
				cases++;
			}
			for (uint64_t b = 0; b < cap; b++) {
				uint64_t ver, ref;
				memcpy(&ver, data + boff + b * stride, 8);
				memcpy(&ref, data + boff + b * stride + 8, 8);
				uint64_t off = (ref & ((UINT64_C(1) << 48) - 1)) * 16;
				if ((ver & 3) != 1 || off + 8 > len - roff)
					continue;
				memcpy(data + roff + off, &vals[vi], 8);
			}
			ops(t);
			memcpy(data, snap, len);
			cases++;
		}
	}
	print_message("%u/%u table, targeted corruption: %llu field x value cases, all calls returned "
		      "defined codes, slowest call %.1f ms\n",
		      kmax, vmax, (unsigned long long)cases, worst_call * 1e3);
	uint64_t problems;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	free(snap);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

static void fill_var(shmap_htable *t)
{
	uint8_t key[KMAX], val[VCAP];
	for (uint32_t id = 0; id < 40; id++) {
		uint32_t kl = key_make(key, id), vl = val_make(val, VCAP, id, 1);
		assert_int_equal(shmap_htable_insert(t, key, kl, val, vl), SHMAP_OK);
	}
}

/* 40 keys of 8 bytes; every fifth value is 3 bytes long. */
static void fill_e88(shmap_htable *t)
{
	for (uint64_t id = 0; id < 40; id++) {
		uint64_t k = id * UINT64_C(0x9E3779B97F4A7C15), v = ~k;
		assert_int_equal(shmap_htable_insert(t, &k, 8, &v, id % 5 == 4 ? 3u : 8u), SHMAP_OK);
	}
}

static void test_hostile_fields(void **state)
{
	(void)state;
	hostile_fields("hthost", KMAX, VCAP, fill_var, hostile_ops);
}

static void test_hostile_fields_e88(void **state)
{
	(void)state;
	hostile_fields("hthost88", 8, 8, fill_e88, hostile_ops_e88);
}

/* ---- kill loops leak no record space ---- */

static const char *const alloc_fps[] = {
	"htable.alloc.popped", "htable.alloc.bumped", "htable.alloc.freed",
	"htable.w.written",    "htable.w.linked",     "htable.w.published", "htable.erase.tomb",
	"htable.alloc.grow", /* hit only when a chunk is allocated: rarely killed */
};
#define NAFP (sizeof(alloc_fps) / sizeof(alloc_fps[0]))

struct leakv {
	shmap_htable *t;
	char fp[64];
	uint32_t id0, run;
};

/* Upserts (values of varied sizes) and erases of four keys. */
static int leak_victim(void *arg)
{
	struct leakv *v = arg;
	setenv("SHMAP_FAILPOINT", v->fp, 1);
	if (shmap_htable_reattach(v->t) != SHMAP_OK)
		return 1;
	uint8_t key[KMAX], val[VCAP];
	for (uint32_t n = 0; n < 16; n++) {
		uint32_t id = v->id0 + n % 4, kl = key_make(key, id);
		if (n % 5 == 4) {
			(void)shmap_htable_erase(v->t, key, kl);
		} else {
			uint32_t vl = val_make(val, VCAP, id, v->run * 100u + n);
			if (shmap_htable_upsert(v->t, key, kl, val, vl) < 0)
				return 2;
		}
	}
	return 0;
}

/*
 * A victim killed at every step of the record allocator and of the
 * indirect write protocol, 300 times, with nothing but later writes of the
 * same keys to clean up (no checker): afterwards every carved byte of the
 * area is in a live record or on a free list again and no dead intent is
 * left. Keys are taken 4 at a time from 800, so that more than the 128
 * intent slots' worth of dead intents pile up before their keys are
 * written again (claiming a slot then reclaims dead ones).
 */
static void test_kill_no_leak(void **state)
{
	(void)state;
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htleak");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 1024, NULL, &t), SHMAP_OK);
	const uint32_t runs = (uint32_t)(300 * soak());
	uint64_t seed = 0x1ea5, killed = 0, max_dead = 0, dead;
	for (uint32_t r = 0; r < runs; r++) {
		struct leakv v = { .t = t, .id0 = (r * 4u) % 800u, .run = r };
		snprintf(v.fp, sizeof v.fp, "%s:%u", alloc_fps[r % NAFP], 1 + (unsigned)(xorshift64(&seed) % 4));
		pid_t pid = th_fork(leak_victim, &v, 60);
		int st = th_wait(pid, 60);
		assert_true(st != -1);
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			killed++;
		else
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		(void)shmap__htable_test_leaked(t, &dead);
		if (dead > max_dead)
			max_dead = dead;
	}
	/* Write every key once more (taking over the dead writers' locks),
	 * then erase them all. */
	uint8_t key[KMAX], val[VCAP];
	for (uint32_t id = 0; id < 800; id++) {
		uint32_t kl = key_make(key, id), vl = val_make(val, VCAP, id, 1);
		int rc = shmap_htable_upsert(t, key, kl, val, vl);
		assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
	}
	for (uint32_t id = 0; id < 800; id++) {
		uint32_t kl = key_make(key, id);
		int rc = shmap_htable_erase(t, key, kl);
		assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED || rc == SHMAP_E_NOTFOUND);
	}
	uint64_t leaked = shmap__htable_test_leaked(t, &dead);
	print_message("kill loop on the record allocator: %llu runs, %llu killed, up to %llu dead intents at once; "
		      "after rewriting the keys: %llu bytes leaked, %llu dead intents\n",
		      (unsigned long long)runs, (unsigned long long)killed, (unsigned long long)max_dead,
		      (unsigned long long)leaked, (unsigned long long)dead);
	assert_true(killed >= runs * 3 / 4);
	assert_int_equal(leaked, 0);
	assert_int_equal(dead, 0);
	uint64_t problems = 0;
	int rc = shmap_htable_check(t, SHMAP_CHECK_REPAIR, &problems);
	assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);

	/* Then kills on fresh keys that nobody writes again: the checker's
	 * repair alone gives every block back. */
	uint64_t killed2 = 0, dead2 = 0;
	for (uint32_t r = 0; r < 40; r++) {
		struct leakv v = { .t = t, .id0 = 1000u + r * 4u, .run = runs + r };
		snprintf(v.fp, sizeof v.fp, "%s:%u", alloc_fps[r % (NAFP - 1)], 1 + (unsigned)(xorshift64(&seed) % 4));
		pid_t pid = th_fork(leak_victim, &v, 60);
		int st = th_wait(pid, 60);
		killed2 += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	}
	uint64_t leaked2 = shmap__htable_test_leaked(t, &dead2);
	rc = shmap_htable_check(t, SHMAP_CHECK_REPAIR, &problems);
	assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
	leaked = shmap__htable_test_leaked(t, &dead);
	print_message("  then %llu kills on fresh keys: %llu bytes leaked and %llu dead intents before the "
		      "checker's repair, %llu and %llu after\n",
		      (unsigned long long)killed2, (unsigned long long)leaked2, (unsigned long long)dead2,
		      (unsigned long long)leaked, (unsigned long long)dead);
	assert_true(killed2 >= 30);
	assert_int_equal(leaked, 0);
	assert_int_equal(dead, 0);
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/* ---- a dead writer's home lock taken over by an insert that then backs off ---- */

/* Fixed-size values (one size class for every record below): id, tag. */
#define TV_LEN 40u
static void tv_make(uint8_t *v, uint32_t id, uint32_t tag)
{
	memset(v, (int)(id * 7u + tag), TV_LEN);
	memcpy(v, &id, 4);
	memcpy(v + 4, &tag, 4);
}

/* An id whose key is 8 bytes long and whose home is `home` (not in `not`). */
static uint32_t id_with_home(shmap_htable *t, uint64_t home, uint32_t from, uint32_t not)
{
	uint8_t key[KMAX];
	for (uint32_t id = from;; id += 3) {
		uint32_t kl = key_make(key, id);
		if (id != not && shmap__htable_test_home(t, key, kl) == home)
			return id;
	}
}

static struct {
	int ready_w, go_r, go_w; /* pipe ends: victim -> parent, parent -> victim */
	pid_t victim;
	int released, victim_st;
} tk;

/* The victim's failpoint hook: hold its home lock until told, then die
 * right after publishing its new key (its intent still names the block). */
static void tk_victim_hook(const char *name)
{
	uint64_t x;
	if (strcmp(name, "htable.w.locked") == 0) {
		th_ack(tk.ready_w, 1);
		if (th_read_ack(tk.go_r, &x) != 0)
			raise(SIGKILL);
	} else if (strcmp(name, "htable.w.published") == 0) {
		raise(SIGKILL);
	}
}

struct tkv {
	shmap_htable *t;
	uint32_t id;
};

static int tk_victim(void *arg)
{
	struct tkv *v = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(v->t) != SHMAP_OK)
		return 1;
	shmap__failpoint_hook = tk_victim_hook;
	uint8_t key[KMAX], val[TV_LEN];
	uint32_t kl = key_make(key, v->id);
	tv_make(val, v->id, 1);
	(void)shmap_htable_insert(v->t, key, kl, val, TV_LEN);
	return 2; /* not reached: killed after publishing */
}

/* The parent's insert, at its third scan (the first that may take a dead
 * holder's lock over): the victim publishes into the bucket the scan chose
 * and dies, so the claim finds it taken after the takeover. */
static void tk_insert_hook(const char *point, void *obj, uint64_t attempt)
{
	(void)obj;
	if (strcmp(point, "htable.w.scanned") != 0 || attempt != 2 || tk.released)
		return;
	tk.released = 1;
	th_ack(tk.go_w, 1);
	tk.victim_st = th_wait(tk.victim, 30);
}

static int tk_locked_victim(void *arg)
{
	struct tkv *v = arg;
	child_die_with_parent();
	setenv("SHMAP_FAILPOINT", "htable.w.locked:1", 1);
	if (shmap_htable_reattach(v->t) != SHMAP_OK)
		return 1;
	uint8_t key[KMAX], val[TV_LEN];
	uint32_t kl = key_make(key, v->id);
	tv_make(val, v->id, 9);
	(void)shmap_htable_upsert(v->t, key, kl, val, TV_LEN);
	return 2;
}

/*
 * Writer V inserts key Q into Q's home bucket q and is killed right after
 * publishing it (its intent still names the new block). Meanwhile an
 * insert of L, whose chain's first free bucket was q, takes V's lock on q
 * over as the lock of its target, finds q taken and backs off. That
 * takeover must recover V's intent (q is V's home lock): otherwise the lock
 * is free again with a dead intent behind it, the next writer of Q
 * (plain lock, no takeover) frees Q's block when it replaces the record,
 * and whoever recovers the intent later frees that block a second time,
 * while another record lives in it. Afterwards: no dead intent, no leaked
 * byte, every key once in a scan with its own value, the checker clean.
 */
static void test_kill_target_takeover(void **state)
{
	(void)state;
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "httake");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 16, NULL, &t), SHMAP_OK);
	/* The insert waits for the victim inside its hook: a loaded machine
	 * must not turn that into a timeout. */
	assert_int_equal(shmap_htable_set_timeout_ms(t, 60000), SHMAP_OK);
	uint8_t key[KMAX], val[VCAP];
	uint32_t kl, vl;
	/* Q's home q; F and L at home q - 1, F stored there, q empty. */
	const uint32_t q_id = 3;
	kl = key_make(key, q_id);
	const uint64_t q = shmap__htable_test_home(t, key, kl);
	const uint32_t f_id = id_with_home(t, (q - 1u) & 15u, 6, q_id);
	const uint32_t l_id = id_with_home(t, (q - 1u) & 15u, f_id + 3u, q_id);
	const uint32_t m_id = id_with_home(t, (q + 8u) & 15u, 6, f_id);
	kl = key_make(key, f_id);
	tv_make(val, f_id, 1);
	assert_int_equal(shmap_htable_insert(t, key, kl, val, TV_LEN), SHMAP_OK);

	int ready[2], go[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	tk.ready_w = ready[1];
	tk.go_r = go[0];
	tk.go_w = go[1];
	struct tkv v = { t, q_id };
	tk.victim = th_fork(tk_victim, &v, 60);
	assert_true(tk.victim > 0);
	uint64_t x;
	assert_int_equal(th_read_ack(ready[0], &x), 0); /* V holds lock[q] */

	tk.released = 0;
	shmap__test_hook = tk_insert_hook;
	kl = key_make(key, l_id);
	tv_make(val, l_id, 1);
	int rc = shmap_htable_insert(t, key, kl, val, TV_LEN);
	shmap__test_hook = NULL;
	assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
	assert_int_equal(tk.released, 1); /* V published in q and died during the insert */
	assert_true(WIFSIGNALED(tk.victim_st) && WTERMSIG(tk.victim_st) == SIGKILL);
	uint64_t dead = 0;
	(void)shmap__htable_test_leaked(t, &dead);
	print_message("target lock taken over from a writer killed after publishing in its home bucket: %llu "
		      "dead intents left\n", (unsigned long long)dead);

	/* Q written again (lock[q] free: no takeover), M inserted, then a
	 * writer of Q killed holding lock[q] and Q written once more (a
	 * takeover: whatever intent is left behind q is recovered now). */
	kl = key_make(key, q_id);
	tv_make(val, q_id, 2);
	rc = shmap_htable_upsert(t, key, kl, val, TV_LEN);
	assert_true(rc == SHMAP_OK || rc == SHMAP_RECOVERED);
	kl = key_make(key, m_id);
	tv_make(val, m_id, 1);
	assert_int_equal(shmap_htable_insert(t, key, kl, val, TV_LEN), SHMAP_OK);
	struct tkv v2 = { t, q_id };
	int st = th_wait(th_fork(tk_locked_victim, &v2, 60), 60);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	kl = key_make(key, q_id);
	tv_make(val, q_id, 3);
	assert_int_equal(shmap_htable_upsert(t, key, kl, val, TV_LEN), SHMAP_RECOVERED);

	/* Every key once, with its own last value. */
	const uint32_t ids[4] = { f_id, l_id, q_id, m_id }, tags[4] = { 1, 1, 3, 1 };
	uint32_t seen[4] = { 0 };
	shmap_htable_cursor *c;
	assert_int_equal(shmap_htable_cursor_new(t, &c), SHMAP_OK);
	uint8_t kb[KMAX], want[TV_LEN];
	uint32_t kg;
	while ((rc = shmap_htable_cursor_next(c, kb, KMAX, &kg, val, VCAP, &vl)) == SHMAP_OK) {
		uint32_t id;
		memcpy(&id, kb, 4);
		for (int j = 0; j < 4; j++)
			if (id == ids[j])
				seen[j]++;
	}
	assert_int_equal(rc, SHMAP_E_NOTFOUND);
	shmap_htable_cursor_free(c);
	for (int j = 0; j < 4; j++) {
		kl = key_make(key, ids[j]);
		rc = shmap_htable_get(t, key, kl, val, VCAP, &vl);
		tv_make(want, ids[j], tags[j]);
		if (seen[j] != 1 || rc != SHMAP_OK || vl != TV_LEN || memcmp(val, want, TV_LEN) != 0)
			fail_msg("key %u: %u times in a scan, lookup %s%s", ids[j], seen[j], shmap_errname(rc),
				 rc == SHMAP_OK && memcmp(val, want, TV_LEN) != 0 ? " with another key's value" : "");
	}
	assert_int_equal(dead, 0);
	assert_int_equal(shmap__htable_test_leaked(t, &dead), 0);
	assert_int_equal(dead, 0);
	/* The checker: only the size counter V did not bump (killed between
	 * publishing and counting) is left to repair. */
	uint64_t problems = 0;
	rc = shmap_htable_check(t, SHMAP_CHECK_REPAIR, &problems);
	if ((rc != SHMAP_OK && rc != SHMAP_RECOVERED) || problems > 1)
		fail_msg("check(REPAIR): %s (%llu problems)", shmap_errname(rc), (unsigned long long)problems);
	rc = shmap_htable_check(t, 0, &problems);
	if (rc != SHMAP_OK)
		fail_msg("check after repair: %s (%llu problems)", shmap_errname(rc), (unsigned long long)problems);
	assert_int_equal(shmap_htable_size(t), 4);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_writers),
		cmocka_unit_test(test_kill_clear),
		cmocka_unit_test(test_kill_no_leak),
		cmocka_unit_test(test_kill_target_takeover),
		cmocka_unit_test(test_version_wrap),
		cmocka_unit_test(test_hostile_fields),
		cmocka_unit_test(test_hostile_fields_e88),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
