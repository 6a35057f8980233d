/* SPDX-License-Identifier: MIT */
/*
 * test_htable_mp.c - the hash table shared by several processes:
 *   - torn reads: writer processes keep rewriting (upsert, update, cas,
 *     erase + re-insert) values that carry a pattern and a checksum while
 *     reader processes verify every value they read (millions of reads);
 *   - the same for get()'s fast path (8-byte keys, values of 8 bytes and
 *     less, mixed key lengths, small output buffers);
 *   - duplicate inserts: N processes insert overlapping key sets into
 *     colliding chains; a full scan finds each key once, with the value of
 *     the one process whose insert returned OK; then they all erase them;
 *   - cas_erase race: N processes cas_erase the same entries with the same
 *     expected value; exactly one wins each, and its re-insert survives;
 *   - churn at 50% load from two processes: never FULL;
 *   - cursor passes while two processes erase and re-insert their keys:
 *     every key nobody writes is returned exactly once per pass.
 * SHMAP_SOAK=1 makes every test run about ten times longer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>

#include <shmap/shmap.h>

#include "helpers.h"
#include "htable_val.h"
#include "th_api.h"

#define VCAP 200u
#define KMAX 24u

struct shared {
	volatile uint32_t stop;
	uint32_t pad;
	uint64_t reads[8];
	uint64_t writes[8];
	uint32_t owner[4096];
	uint32_t dups;
};

static struct shared *sh_new(void)
{
	void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 0, sizeof(struct shared));
	return p;
}

static double soak_factor(void)
{
	return getenv("SHMAP_SOAK") ? 10.0 : 1.0;
}

/* ---- torn reads ---- */

struct wctx {
	shmap_htable *t;
	struct shared *sh;
	int idx;
	uint32_t nkeys;
};

static int cb_next(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	uint32_t *id = arg, seq = 0;
	if (exists && val_check(cur, cur_len, VCAP, *id, &seq) != 0)
		return 99; /* torn value seen by a writer: reported as INVAL */
	*out_len = val_make(out, VCAP, *id, seq + 1);
	return SHMAP_HTABLE_COMMIT;
}

static int writer_main(void *arg)
{
	struct wctx *w = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(w->t) != SHMAP_OK)
		return 10;
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (uint64_t)(w->idx + 1);
	uint8_t key[KMAX], val[VCAP], cur[VCAP];
	uint32_t seq = (uint32_t)w->idx << 24;
	uint64_t n = 0;
	while (!__atomic_load_n(&w->sh->stop, __ATOMIC_RELAXED)) {
		uint64_t r = xorshift64(&rnd);
		uint32_t id = (uint32_t)(r % w->nkeys);
		uint32_t kl = key_make(key, id);
		uint32_t op = (uint32_t)(r >> 32) % 10u, vl, cl;
		int rc;
		switch (op) {
		case 0:
			rc = shmap_htable_erase(w->t, key, kl);
			if (rc < 0 && rc != SHMAP_E_NOTFOUND)
				return 11;
			break;
		case 1:
			rc = shmap_htable_update(w->t, key, kl, cb_next, &id);
			if (rc < 0)
				return 12;
			break;
		case 2:
			rc = shmap_htable_get(w->t, key, kl, cur, VCAP, &cl);
			if (rc == SHMAP_OK) {
				if (val_check(cur, cl, VCAP, id, NULL) != 0)
					return 13;
				vl = val_make(val, VCAP, id, ++seq);
				rc = shmap_htable_cas(w->t, key, kl, cur, cl, val, vl);
				if (rc < 0 && rc != SHMAP_E_MISMATCH && rc != SHMAP_E_NOTFOUND)
					return 14;
			}
			break;
		case 3:
			vl = val_make(val, VCAP, id, ++seq);
			rc = shmap_htable_insert(w->t, key, kl, val, vl);
			if (rc < 0 && rc != SHMAP_E_EXIST)
				return 15;
			break;
		default:
			vl = val_make(val, VCAP, id, ++seq);
			rc = shmap_htable_upsert(w->t, key, kl, val, vl);
			if (rc < 0)
				return 16;
			break;
		}
		n++;
	}
	w->sh->writes[w->idx] = n;
	return 0;
}

static int reader_main(void *arg)
{
	struct wctx *w = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(w->t) != SHMAP_OK)
		return 20;
	uint64_t rnd = 0x2545F4914F6CDD1Dull * (uint64_t)(w->idx + 1);
	uint8_t key[KMAX], val[VCAP];
	uint64_t n = 0, found = 0;
	shmap_htable_cursor *c;
	if (shmap_htable_cursor_new(w->t, &c) != SHMAP_OK)
		return 21;
	while (!__atomic_load_n(&w->sh->stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < 1000; i++) {
			uint32_t id = (uint32_t)(xorshift64(&rnd) % w->nkeys), vl = 0;
			uint32_t kl = key_make(key, id);
			int rc = shmap_htable_get(w->t, key, kl, val, VCAP, &vl);
			if (rc == SHMAP_OK) {
				if (val_check(val, vl, VCAP, id, NULL) != 0)
					return 22; /* torn or foreign value */
				found++;
			} else if (rc != SHMAP_E_NOTFOUND && rc != SHMAP_E_BUSY) {
				return 23;
			}
			n++;
		}
		__atomic_store_n(&w->sh->reads[w->idx], n, __ATOMIC_RELAXED);
		/* Now and then a full cursor pass: every entry consistent. */
		if ((n / 1000) % 64 == 0) {
			uint32_t kl, vl, id;
			int rc;
			shmap_htable_cursor_reset(c);
			while ((rc = shmap_htable_cursor_next(c, key, KMAX, &kl, val, VCAP, &vl)) == SHMAP_OK) {
				memcpy(&id, key, 4);
				if (kl != key_make(key, id) || val_check(val, vl, VCAP, id, NULL) != 0)
					return 24;
				n++;
			}
			if (rc != SHMAP_E_NOTFOUND && rc != SHMAP_E_BUSY)
				return 25;
		}
	}
	shmap_htable_cursor_free(c);
	w->sh->reads[w->idx] = n;
	return found > 0 ? 0 : 26;
}

static void test_torn_reads(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "httorn");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 128, NULL, &t), SHMAP_OK);
	struct shared *sh = sh_new();
	enum { NW = 2, NR = 2 };
	struct wctx ctx[NW + NR];
	pid_t pids[NW + NR];
	double secs = 6.0 * soak_factor();
	for (int i = 0; i < NW + NR; i++) {
		ctx[i] = (struct wctx){ .t = t, .sh = sh, .idx = i, .nkeys = 80 };
		pids[i] = th_fork(i < NW ? writer_main : reader_main, &ctx[i], (unsigned)secs + 120);
		assert_true(pids[i] > 0);
	}
	/* Run `secs`, longer if needed (slow sanitizer builds, a loaded
	 * machine) until a million reads were verified, at most 60 s. */
	const uint64_t target = (uint64_t)(1000000 * soak_factor());
	double t0 = th_now();
	for (;;) {
		usleep(100000);
		uint64_t sofar = 0;
		for (int i = NW; i < NW + NR; i++)
			sofar += __atomic_load_n(&sh->reads[i], __ATOMIC_RELAXED);
		double el = th_now() - t0;
		if ((el >= secs && sofar >= target) || el >= secs + 60)
			break;
	}
	secs = th_now() - t0;
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	int bad = 0;
	for (int i = 0; i < NW + NR; i++) {
		int st = th_wait(pids[i], 60);
		if (!th_ok(st)) {
			fprintf(stderr, "child %d: status %d (exit %d)\n", i, st, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			bad++;
		}
	}
	uint64_t reads = 0, writes = 0;
	for (int i = 0; i < NW + NR; i++) {
		reads += sh->reads[i];
		writes += sh->writes[i];
	}
	print_message("torn-read test: %llu verified reads, %llu writes in %.0f s, 0 torn\n",
		      (unsigned long long)reads, (unsigned long long)writes, secs);
	assert_int_equal(bad, 0);
	assert_true(reads >= target);
	assert_true(writes >= 10000u);
	uint64_t problems = 1;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	munmap(sh, sizeof *sh);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/* ---- duplicate inserts ---- */

struct dctx {
	shmap_htable *t;
	struct shared *sh;
	uint32_t proc, nkeys, erase;
};

static int dup_main(void *arg)
{
	struct dctx *d = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(d->t) != SHMAP_OK)
		return 30;
	uint8_t key[KMAX], val[VCAP];
	/* Each process walks the keys from its own offset, with its own stride. */
	uint32_t stride = d->proc % 2 ? d->nkeys - 1 : 1;
	uint32_t id = d->proc * d->nkeys / 4;
	for (uint32_t n = 0; n < d->nkeys; n++, id = (id + stride) % d->nkeys) {
		uint32_t kl = key_make(key, id);
		int rc;
		if (!d->erase) {
			uint32_t vl = val_make(val, VCAP, id, d->proc);
			rc = shmap_htable_insert(d->t, key, kl, val, vl);
		} else {
			rc = shmap_htable_erase(d->t, key, kl);
		}
		if (rc == SHMAP_OK || rc == SHMAP_RECOVERED) {
			uint32_t expect = 0;
			if (!__atomic_compare_exchange_n(&d->sh->owner[id], &expect, d->proc + 1, 0, __ATOMIC_SEQ_CST,
							 __ATOMIC_SEQ_CST))
				__atomic_fetch_add(&d->sh->dups, 1, __ATOMIC_SEQ_CST);
		} else if (rc != (d->erase ? SHMAP_E_NOTFOUND : SHMAP_E_EXIST)) {
			return 31;
		}
	}
	return 0;
}

static void run_dup_round(shmap_htable *t, struct shared *sh, uint32_t nkeys, uint32_t nproc, uint32_t erase)
{
	memset(sh->owner, 0, sizeof sh->owner);
	sh->dups = 0;
	struct dctx ctx[8];
	pid_t pids[8];
	for (uint32_t p = 0; p < nproc; p++) {
		ctx[p] = (struct dctx){ .t = t, .sh = sh, .proc = p, .nkeys = nkeys, .erase = erase };
		pids[p] = th_fork(dup_main, &ctx[p], 60);
	}
	for (uint32_t p = 0; p < nproc; p++)
		assert_true(th_ok(th_wait(pids[p], 60)));
	assert_int_equal(sh->dups, 0);
	for (uint32_t id = 0; id < nkeys; id++)
		assert_true(sh->owner[id] >= 1 && sh->owner[id] <= nproc);
}

static void test_dup_inserts(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htdup");
	/* 700 keys in 1024 buckets: 68% load, long shared chains. */
	const uint32_t nkeys = 700, nproc = 4;
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 1024, NULL, &t), SHMAP_OK);
	struct shared *sh = sh_new();
	int rounds = (int)(10 * soak_factor());
	static uint32_t seen[4096];
	for (int round = 0; round < rounds; round++) {
		run_dup_round(t, sh, nkeys, nproc, 0);
		/* Full scan: each key exactly once, with its winner's value. */
		memset(seen, 0, sizeof seen);
		shmap_htable_cursor *c;
		assert_int_equal(shmap_htable_cursor_new(t, &c), SHMAP_OK);
		uint8_t key[KMAX], val[VCAP];
		uint32_t kl, vl, id, seq = 0, n = 0;
		int rc;
		while ((rc = shmap_htable_cursor_next(c, key, KMAX, &kl, val, VCAP, &vl)) == SHMAP_OK) {
			memcpy(&id, key, 4);
			assert_true(id < nkeys);
			assert_int_equal(kl, key_make(key, id));
			assert_int_equal(val_check(val, vl, VCAP, id, &seq), 0);
			assert_int_equal(seq + 1, sh->owner[id]);
			seen[id]++;
			n++;
		}
		assert_int_equal(rc, SHMAP_E_NOTFOUND);
		shmap_htable_cursor_free(c);
		assert_int_equal(n, nkeys);
		for (id = 0; id < nkeys; id++)
			assert_int_equal(seen[id], 1);
		assert_int_equal(shmap_htable_size(t), nkeys);
		uint64_t problems = 1;
		assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
		/* Now all erase everything: exactly one erase per key succeeds. */
		run_dup_round(t, sh, nkeys, nproc, 1);
		assert_int_equal(shmap_htable_size(t), 0);
		uint64_t live = 1, tomb = 0, lp = 0;
		assert_int_equal(th_htable_stats(t, &live, &tomb, &lp), SHMAP_OK);
		assert_int_equal(live, 0);
		assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	}
	print_message("duplicate-insert test: %d rounds x %u processes x %u keys, 0 duplicates\n", rounds,
		      nproc, nkeys);
	munmap(sh, sizeof *sh);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/* ---- the 8-byte fast path of get() under writers ---- */

/*
 * A table with key_max 8 and value_max 8: get() of an 8-byte key takes the
 * fast path. Keys 0..F8_KEYS-1: most are 8 bytes, every fifth is 4 bytes
 * (so chains mix key lengths); values are 8 bytes (key tag << 32 | seq) or
 * 1..7 bytes derived from the key tag and the length. Writers erase,
 * insert, upsert (both value kinds), cas and cas_erase at about 50% load in
 * a small table (long chains, tombstones, wrap-around); readers verify
 * every value: its key's tag, its length, never another key's value.
 */
#define F8_KEYS 600u
#define F8_CAP 1024u

static uint32_t f8_key(uint32_t id, uint64_t *kw)
{
	*kw = ((uint64_t)id + 1u) * UINT64_C(0x9E3779B97F4A7C15);
	return id % 5u == 4u ? 4u : 8u;
}

static uint32_t f8_tag(uint32_t id)
{
	return id * 2654435761u ^ 0x5bd1e995u;
}

static uint32_t f8_val(uint32_t id, uint32_t seq, uint8_t *v)
{
	uint32_t len = seq % 4u == 3u ? 1u + seq % 7u : 8u;
	if (len == 8u) {
		uint64_t w = ((uint64_t)f8_tag(id) << 32) | seq;
		memcpy(v, &w, 8);
	} else {
		for (uint32_t i = 0; i < len; i++)
			v[i] = (uint8_t)(f8_tag(id) + 7u * i + len);
	}
	return len;
}

static int f8_check(uint32_t id, const uint8_t *v, uint32_t len)
{
	if (len == 8u) {
		uint64_t w;
		memcpy(&w, v, 8);
		return (uint32_t)(w >> 32) == f8_tag(id) && (uint32_t)w % 4u != 3u ? 0 : -1;
	}
	if (len == 0 || len > 7u)
		return -1;
	for (uint32_t i = 0; i < len; i++)
		if (v[i] != (uint8_t)(f8_tag(id) + 7u * i + len))
			return -1;
	return 0;
}

static int f8_writer(void *arg)
{
	struct wctx *w = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(w->t) != SHMAP_OK)
		return 60;
	uint64_t rnd = 0x51ed2701f3a5c7b9ull * (uint64_t)(w->idx + 1), kw, n = 0;
	uint32_t seq = (uint32_t)w->idx << 28;
	uint8_t val[8], cur[8];
	while (!__atomic_load_n(&w->sh->stop, __ATOMIC_RELAXED)) {
		uint64_t r = xorshift64(&rnd);
		uint32_t id = (uint32_t)(r % F8_KEYS), kl = f8_key(id, &kw), vl, cl = 0;
		int rc;
		switch ((uint32_t)(r >> 32) % 8u) {
		case 0:
			rc = shmap_htable_erase(w->t, &kw, kl);
			if (rc < 0 && rc != SHMAP_E_NOTFOUND)
				return 61;
			break;
		case 1:
		case 2:
			vl = f8_val(id, ++seq, val);
			rc = shmap_htable_insert(w->t, &kw, kl, val, vl);
			if (rc < 0 && rc != SHMAP_E_EXIST)
				return 62;
			break;
		case 3:
		case 4:
			rc = shmap_htable_get(w->t, &kw, kl, cur, sizeof cur, &cl);
			if (rc == SHMAP_OK) {
				if (f8_check(id, cur, cl) != 0)
					return 63;
				if (r & (1ull << 40)) {
					rc = shmap_htable_cas_erase(w->t, &kw, kl, cur, cl);
				} else {
					vl = f8_val(id, ++seq, val);
					rc = shmap_htable_cas(w->t, &kw, kl, cur, cl, val, vl);
				}
				if (rc < 0 && rc != SHMAP_E_MISMATCH && rc != SHMAP_E_NOTFOUND)
					return 64;
			} else if (rc != SHMAP_E_NOTFOUND) {
				return 65;
			}
			break;
		default:
			vl = f8_val(id, ++seq, val);
			rc = shmap_htable_upsert(w->t, &kw, kl, val, vl);
			if (rc < 0)
				return 66;
			break;
		}
		n++;
	}
	w->sh->writes[w->idx] = n;
	return 0;
}

static int f8_reader(void *arg)
{
	struct wctx *w = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(w->t) != SHMAP_OK)
		return 70;
	uint64_t rnd = 0x2545F4914F6CDD1Dull * (uint64_t)(w->idx + 1), kw, n = 0, found = 0;
	uint8_t val[16];
	/* The second reader looks its keys up 16 at a time with get_many(),
	 * under the same checks. */
	const int many = w->idx == 3;
	uint64_t mk[16];
	uint32_t mkl[16], mid[16], mvl[16];
	uint8_t mval[16 * 8];
	int mrc[16];
	while (!__atomic_load_n(&w->sh->stop, __ATOMIC_RELAXED)) {
		for (int i = 0; many && i < 1000 / 16; i++) {
			uint64_t r = xorshift64(&rnd);
			uint32_t cap = (r >> 32) % 16u == 0 ? 4u : 8u;
			for (int j = 0; j < 16; j++) {
				mid[j] = (uint32_t)(xorshift64(&rnd) % F8_KEYS);
				mkl[j] = f8_key(mid[j], &mk[j]);
			}
			int got = shmap_htable_get_many(w->t, 16, mk, 8, mkl, mval, cap, mvl, mrc);
			if (got < 0 || got > 16)
				return 75;
			int ok = 0;
			for (int j = 0; j < 16; j++) {
				if (mrc[j] == SHMAP_OK) {
					if (mvl[j] > cap || f8_check(mid[j], mval + j * cap, mvl[j]) != 0)
						return 71;
					ok++;
				} else if (mrc[j] == SHMAP_E_BUFSIZE) {
					if (cap != 4u || mvl[j] <= cap || mvl[j] > 8u)
						return 72;
				} else if (mrc[j] != SHMAP_E_NOTFOUND && mrc[j] != SHMAP_E_BUSY) {
					return 73;
				}
			}
			if (ok != got)
				return 76;
			found += (uint64_t)ok;
			n += 16;
		}
		for (int i = 0; !many && i < 1000; i++) {
			uint64_t r = xorshift64(&rnd);
			uint32_t id = (uint32_t)(r % F8_KEYS), kl = f8_key(id, &kw), vl = 0;
			/* Mostly room for 8 bytes (the fast path), sometimes less. */
			uint32_t cap = (r >> 32) % 16u == 0 ? 4u : 8u;
			int rc = shmap_htable_get(w->t, &kw, kl, val, cap, &vl);
			if (rc == SHMAP_OK) {
				if (vl > cap || f8_check(id, val, vl) != 0)
					return 71; /* torn, foreign or mis-sized value */
				found++;
			} else if (rc == SHMAP_E_BUFSIZE) {
				if (cap != 4u || vl <= cap || vl > 8u)
					return 72;
			} else if (rc != SHMAP_E_NOTFOUND && rc != SHMAP_E_BUSY) {
				return 73;
			}
			n++;
		}
		__atomic_store_n(&w->sh->reads[w->idx], n, __ATOMIC_RELAXED);
	}
	w->sh->reads[w->idx] = n;
	return found > 0 ? 0 : 74;
}

static void test_fast8_reads(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htf8");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, F8_CAP, NULL, &t), SHMAP_OK);
	struct shared *sh = sh_new();
	struct wctx ctx[4];
	pid_t pids[4];
	for (int p = 0; p < 4; p++) {
		ctx[p] = (struct wctx){ .t = t, .sh = sh, .idx = p, .nkeys = F8_KEYS };
		pids[p] = th_fork(p < 2 ? f8_writer : f8_reader, &ctx[p], 120);
	}
	usleep((useconds_t)(1500000 * soak_factor()));
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	for (int p = 0; p < 4; p++) {
		int st = th_wait(pids[p], 60);
		if (!th_ok(st))
			fail_msg("fast8 child %d: exit %d", p, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	print_message("fast-path reads: %llu (get) + %llu (get_many) verified reads beside %llu + %llu writes\n",
		      (unsigned long long)sh->reads[2], (unsigned long long)sh->reads[3],
		      (unsigned long long)sh->writes[0], (unsigned long long)sh->writes[1]);
	assert_true(sh->reads[2] > 0 && sh->reads[3] > 0 && sh->writes[0] > 0 && sh->writes[1] > 0);
	/* Afterwards every present key holds a valid value, and the table checks. */
	for (uint32_t id = 0; id < F8_KEYS; id++) {
		uint64_t kw;
		uint8_t v[8];
		uint32_t kl = f8_key(id, &kw), vl = 0;
		int rc = shmap_htable_get(t, &kw, kl, v, sizeof v, &vl);
		assert_true(rc == SHMAP_OK || rc == SHMAP_E_NOTFOUND);
		if (rc == SHMAP_OK)
			assert_int_equal(f8_check(id, v, vl), 0);
	}
	uint64_t problems = 1;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	munmap(sh, sizeof *sh);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/* ---- cas_erase race ---- */

/*
 * Every process walks the same keys in the same order (so they collide on
 * each entry at about the same time) and cas_erases each one with the value
 * the parent inserted (seq 0). A winner records itself in owner[id] and
 * re-inserts the key with its own value (seq proc + 1, a different value),
 * so a late loser must see NOTFOUND or MISMATCH, never OK.
 */
static int caserase_main(void *arg)
{
	struct dctx *d = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(d->t) != SHMAP_OK)
		return 50;
	__atomic_fetch_add(&d->sh->writes[0], 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&d->sh->stop, __ATOMIC_ACQUIRE) == 0)
		; /* start together */
	uint8_t key[KMAX], val[VCAP];
	for (uint32_t id = 0; id < d->nkeys; id++) {
		uint32_t kl = key_make(key, id);
		uint32_t vl = val_make(val, VCAP, id, 0);
		int rc = shmap_htable_cas_erase(d->t, key, kl, val, vl);
		if (rc == SHMAP_OK || rc == SHMAP_RECOVERED) {
			uint32_t expect = 0;
			if (!__atomic_compare_exchange_n(&d->sh->owner[id], &expect, d->proc + 1, 0, __ATOMIC_SEQ_CST,
							 __ATOMIC_SEQ_CST))
				__atomic_fetch_add(&d->sh->dups, 1, __ATOMIC_SEQ_CST);
			vl = val_make(val, VCAP, id, d->proc + 1);
			if (shmap_htable_insert(d->t, key, kl, val, vl) != SHMAP_OK)
				return 51;
		} else if (rc == SHMAP_E_MISMATCH) {
			__atomic_fetch_add(&d->sh->reads[1], 1, __ATOMIC_RELAXED);
		} else if (rc == SHMAP_E_NOTFOUND) {
			__atomic_fetch_add(&d->sh->reads[2], 1, __ATOMIC_RELAXED);
		} else {
			return 52;
		}
	}
	return 0;
}

static void test_cas_erase_race(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htcaserase");
	const uint32_t nkeys = 700, nproc = 4;
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 1024, NULL, &t), SHMAP_OK);
	struct shared *sh = sh_new();
	int rounds = (int)(10 * soak_factor());
	uint8_t key[KMAX], val[VCAP];
	uint64_t mismatches = 0, notfound = 0;
	for (int round = 0; round < rounds; round++) {
		assert_int_equal(shmap_htable_clear(t), SHMAP_OK);
		for (uint32_t id = 0; id < nkeys; id++) {
			uint32_t kl = key_make(key, id);
			uint32_t vl = val_make(val, VCAP, id, 0);
			assert_int_equal(shmap_htable_insert(t, key, kl, val, vl), SHMAP_OK);
		}
		memset(sh->owner, 0, sizeof sh->owner);
		memset(sh->reads, 0, sizeof sh->reads);
		memset(sh->writes, 0, sizeof sh->writes);
		sh->dups = 0;
		sh->stop = 0;
		struct dctx ctx[8];
		pid_t pids[8];
		for (uint32_t p = 0; p < nproc; p++) {
			ctx[p] = (struct dctx){ .t = t, .sh = sh, .proc = p, .nkeys = nkeys };
			pids[p] = th_fork(caserase_main, &ctx[p], 60);
		}
		while (__atomic_load_n(&sh->writes[0], __ATOMIC_SEQ_CST) < nproc)
			usleep(100);
		__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
		for (uint32_t p = 0; p < nproc; p++) {
			int st = th_wait(pids[p], 60);
			if (!th_ok(st))
				fail_msg("cas_erase child %u: exit %d", p, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		}
		/* Exactly one winner per key, and the losers all lost. */
		assert_int_equal(sh->dups, 0);
		assert_int_equal(sh->reads[1] + sh->reads[2], (uint64_t)nkeys * (nproc - 1));
		mismatches += sh->reads[1];
		notfound += sh->reads[2];
		/* Every key holds exactly its winner's re-inserted value. */
		for (uint32_t id = 0; id < nkeys; id++) {
			assert_true(sh->owner[id] >= 1 && sh->owner[id] <= nproc);
			uint32_t kl = key_make(key, id), vl = 0, seq = 0;
			assert_int_equal(shmap_htable_get(t, key, kl, val, VCAP, &vl), SHMAP_OK);
			assert_int_equal(val_check(val, vl, VCAP, id, &seq), 0);
			assert_int_equal(seq, sh->owner[id]);
		}
		assert_int_equal(shmap_htable_size(t), nkeys);
		uint64_t problems = 1;
		assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
		assert_int_equal(problems, 0);
	}
	print_message("cas_erase race: %d rounds x %u processes x %u keys, one winner each "
		      "(losers: %llu mismatch, %llu not found)\n",
		      rounds, nproc, nkeys, (unsigned long long)mismatches, (unsigned long long)notfound);
	munmap(sh, sizeof *sh);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/* ---- churn from two processes ---- */

struct cctx {
	shmap_htable *t;
	uint32_t proc;
	uint64_t ops;
};

static int churn_main(void *arg)
{
	struct cctx *c = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(c->t) != SHMAP_OK)
		return 40;
	enum { LIVE = 1024 };
	static uint64_t keys[LIVE];
	uint64_t next = (uint64_t)c->proc << 40, rnd = 0x1234567ull + c->proc;
	for (int i = 0; i < LIVE; i++) {
		keys[i] = next++;
		if (shmap_htable_insert(c->t, &keys[i], 8, &keys[i], 8) != SHMAP_OK)
			return 41;
	}
	for (uint64_t n = 0; n < c->ops; n++) {
		uint64_t s = xorshift64(&rnd) % LIVE;
		if (shmap_htable_erase(c->t, &keys[s], 8) != SHMAP_OK)
			return 42;
		keys[s] = next++;
		int rc = shmap_htable_insert(c->t, &keys[s], 8, &keys[s], 8);
		if (rc == SHMAP_E_FULL)
			return 43;
		if (rc != SHMAP_OK)
			return 44;
	}
	for (int i = 0; i < LIVE; i++) {
		uint64_t v;
		uint32_t len;
		if (shmap_htable_get(c->t, &keys[i], 8, &v, 8, &len) != SHMAP_OK || v != keys[i])
			return 45;
	}
	return 0;
}

static void test_churn_mp(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htchurnmp");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 4096, NULL, &t), SHMAP_OK);
	struct cctx ctx[2];
	pid_t pids[2];
	for (uint32_t p = 0; p < 2; p++) {
		ctx[p] = (struct cctx){ .t = t, .proc = p, .ops = (uint64_t)(500000 * soak_factor()) };
		pids[p] = th_fork(churn_main, &ctx[p], 300);
	}
	for (int p = 0; p < 2; p++) {
		int st = th_wait(pids[p], 300);
		if (!th_ok(st))
			fail_msg("churn child %d: exit %d", p, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	assert_int_equal(shmap_htable_size(t), 2048);
	uint64_t live = 0, tomb = 0, lp = 0, problems;
	assert_int_equal(th_htable_stats(t, &live, &tomb, &lp), SHMAP_OK);
	print_message("churn (2 processes, 50%% load): live %llu, tombstones %llu, longest probe %llu\n",
		      (unsigned long long)live, (unsigned long long)tomb, (unsigned long long)lp);
	assert_int_equal(live, 2048);
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/* ---- a full tmpfs: SHMAP_E_NOSPC from the write, never SIGBUS ---- */

/* A private tmpfs of `size` on /dev/shm (mount namespace; a user namespace
 * when not root). 0, or -1 if the system does not allow it. */
static int private_tmpfs(const char *size)
{
	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) != 0)
			return -1;
	} else {
		char buf[64];
		uid_t uid = getuid();
		gid_t gid = getgid();
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
			return -1;
		int fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			(void)!write(fd, "deny", 4);
			close(fd);
		}
		snprintf(buf, sizeof buf, "0 %d 1", (int)uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			return -1;
		close(fd);
		snprintf(buf, sizeof buf, "0 %d 1", (int)gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			return -1;
		close(fd);
	}
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return -1;
	char opt[64];
	snprintf(opt, sizeof opt, "size=%s,mode=1777", size);
	return mount("shmap-test", "/dev/shm", "tmpfs", 0, opt) != 0 ? -1 : 0;
}

/* exit: 77 no private tmpfs (skip), 0 ok, else the failing step */
static int nospc_table_child(void *arg)
{
	(void)arg;
	if (private_tmpfs("12m") != 0)
		return 77;
	shmap_htable *t;
	/* 5.3 MB of buckets and locks; the records get what is left. */
	if (shmap_htable_open("/shmap-t-htnospc", SHMAP_CREATE, 40, 200, 200000, NULL, &t) != SHMAP_OK)
		return 1;
	uint8_t k[40], v[200];
	uint32_t n = 0, got;
	int rc;
	for (;; n++) {
		memset(k, 'k', sizeof k);
		memcpy(k, &n, 4);
		memset(v, (int)n, sizeof v);
		rc = shmap_htable_insert(t, k, 32, v, 200);
		if (rc != SHMAP_OK)
			break;
		if (n > 200000)
			return 2;
	}
	if (rc != SHMAP_E_NOSPC || n < 10000)
		return 3;
	/* Every entry written before is intact; replacing one with a value of
	 * the same class needs no new space; an erase gives its block back. */
	for (uint32_t i = 0; i < n; i += 97) {
		memset(k, 'k', sizeof k);
		memcpy(k, &i, 4);
		if (shmap_htable_get(t, k, 32, v, sizeof v, &got) != SHMAP_OK || got != 200 || v[199] != (uint8_t)i)
			return 4;
	}
	memset(k, 'k', sizeof k);
	memcpy(k, &n, 4);
	if (shmap_htable_insert(t, k, 32, v, 200) != SHMAP_E_NOSPC)
		return 5;
	uint32_t zero = 0;
	memcpy(k, &zero, 4);
	if (shmap_htable_erase(t, k, 32) != SHMAP_OK)
		return 6;
	memcpy(k, &n, 4);
	if (shmap_htable_insert(t, k, 32, v, 200) != SHMAP_OK)
		return 7;
	uint64_t problems;
	if (shmap_htable_check(t, 0, &problems) != SHMAP_OK)
		return 8;
	fprintf(stderr, "# full tmpfs: %u entries fit in 12 MiB, then SHMAP_E_NOSPC, 0 signals\n", n);
	shmap_htable_close(t);
	shmap_unlink("/shmap-t-htnospc", NULL);
	return 0;
}

static void test_nospc(void **state)
{
	(void)state;
	pid_t pid = th_fork(nospc_table_child, NULL, 60);
	int st = th_wait(pid, 60);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		print_message("# no private tmpfs here: skipped\n");
		skip();
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child: %s %d", WIFSIGNALED(st) ? "signal" : "exit",
			 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

/* ---- cursor passes over keys that others erase and insert again ---- */

struct churnctx {
	shmap_htable *t;
	struct shared *sh;
	uint32_t idx;
};

/* Ten keys of its own (ids 100 + 10 * idx + j): one write in ten an erase,
 * the others upserts, until told to stop. */
static int churn_writer(void *arg)
{
	struct churnctx *w = arg;
	child_die_with_parent();
	if (shmap_htable_reattach(w->t) != SHMAP_OK)
		return 1;
	uint64_t rnd = 0x5157ull + w->idx, n = 0;
	uint32_t seq = 1;
	uint8_t key[KMAX], val[VCAP];
	while (!__atomic_load_n(&w->sh->stop, __ATOMIC_ACQUIRE)) {
		uint32_t id = 100 + 10 * w->idx + (uint32_t)(xorshift64(&rnd) % 10), kl = key_make(key, id);
		int rc;
		if (xorshift64(&rnd) % 10 == 0) {
			rc = shmap_htable_erase(w->t, key, kl);
			if (rc != SHMAP_OK && rc != SHMAP_E_NOTFOUND)
				return 2;
		} else {
			uint32_t vl = val_make(val, VCAP, id, ++seq);
			if (shmap_htable_upsert(w->t, key, kl, val, vl) != SHMAP_OK)
				return 3;
		}
		n++;
	}
	w->sh->writes[w->idx] = n;
	return 0;
}

/*
 * A 64-bucket table (records out of line) with 20 keys nobody writes and 20
 * that two processes keep erasing and inserting again, scanned over and
 * over: every pass returns each unwritten key exactly once with its value
 * (entries present for the whole iteration). A rewritten key may come back
 * twice in a pass (erased behind the cursor and inserted again ahead of
 * it: two entries), which is counted, not failed. When the writers stop,
 * a pass returns every key once, as lookups say.
 */
static void test_cursor_churn(void **state)
{
	(void)state;
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htcurch");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 64, NULL, &t), SHMAP_OK);
	uint8_t key[KMAX], val[VCAP];
	uint32_t kl, vl, id, seq;
	for (id = 0; id < 20; id++) {
		kl = key_make(key, id);
		vl = val_make(val, VCAP, id, 1);
		assert_int_equal(shmap_htable_insert(t, key, kl, val, vl), SHMAP_OK);
	}
	struct shared *sh = sh_new();
	struct churnctx w[2];
	pid_t pids[2];
	for (uint32_t p = 0; p < 2; p++) {
		w[p] = (struct churnctx){ t, sh, p };
		pids[p] = th_fork(churn_writer, &w[p], 120);
		assert_true(pids[p] > 0);
	}
	uint64_t passes = 0, twice = 0;
	const double end = th_now() + 1.0 * soak_factor();
	while (th_now() < end) {
		uint32_t seen[128] = { 0 };
		shmap_htable_cursor *c;
		assert_int_equal(shmap_htable_cursor_new(t, &c), SHMAP_OK);
		int rc;
		while ((rc = shmap_htable_cursor_next(c, key, KMAX, &kl, val, VCAP, &vl)) == SHMAP_OK) {
			memcpy(&id, key, 4);
			assert_true(id < 20 || (id >= 100 && id < 120));
			assert_int_equal(kl, key_make(key, id));
			assert_int_equal(val_check(val, vl, VCAP, id, &seq), 0);
			if (id < 20)
				assert_int_equal(seq, 1);
			seen[id % 128]++;
		}
		assert_int_equal(rc, SHMAP_E_NOTFOUND);
		shmap_htable_cursor_free(c);
		for (id = 0; id < 20; id++)
			if (seen[id] != 1)
				fail_msg("key %u, written by nobody, returned %u times by one pass", id, seen[id]);
		for (id = 100; id < 120; id++)
			twice += seen[id % 128] > 1;
		passes++;
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	for (uint32_t p = 0; p < 2; p++)
		assert_true(th_ok(th_wait(pids[p], 60)));
	/* Quiescent: every key once, as lookups say. */
	uint32_t seen[128] = { 0 };
	shmap_htable_cursor *c;
	assert_int_equal(shmap_htable_cursor_new(t, &c), SHMAP_OK);
	while (shmap_htable_cursor_next(c, key, KMAX, &kl, val, VCAP, &vl) == SHMAP_OK) {
		memcpy(&id, key, 4);
		seen[id % 128]++;
	}
	shmap_htable_cursor_free(c);
	for (id = 0; id < 120; id = id == 19 ? 100 : id + 1) {
		kl = key_make(key, id);
		int rc = shmap_htable_get(t, key, kl, val, VCAP, &vl);
		assert_true(rc == SHMAP_OK || rc == SHMAP_E_NOTFOUND);
		assert_int_equal(seen[id % 128], rc == SHMAP_OK ? 1u : 0u);
	}
	uint64_t problems = 0;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	print_message("cursor under churn: %llu passes over 64 buckets, %llu + %llu writes meanwhile; every "
		      "unwritten key exactly once per pass, a rewritten key twice in a pass %llu times\n",
		      (unsigned long long)passes, (unsigned long long)sh->writes[0],
		      (unsigned long long)sh->writes[1], (unsigned long long)twice);
	assert_true(passes > 100);
	assert_true(sh->writes[0] > 1000 && sh->writes[1] > 1000);
	munmap(sh, sizeof *sh);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torn_reads),
		cmocka_unit_test(test_fast8_reads),
		cmocka_unit_test(test_dup_inserts),
		cmocka_unit_test(test_cas_erase_race),
		cmocka_unit_test(test_churn_mp),
		cmocka_unit_test(test_cursor_churn),
		cmocka_unit_test(test_nospc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
