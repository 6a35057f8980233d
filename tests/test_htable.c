/* SPDX-License-Identifier: MIT */
/*
 * test_htable.c - single-process behaviour of the hash table: every
 * operation, the error codes, iteration, statistics, clear, the checker,
 * the packed and wide layouts, and erase/re-insert churn at 50% load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <shmap/shmap.h>

#include "helpers.h"

#include <sys/stat.h>
#include "th_api.h"

struct fx {
	char name[96];
	shmap_htable *t;
};

static int fx_setup_sized(void **state, uint64_t cap, uint32_t kmax, uint32_t vmax)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	th_name(f->name, sizeof(f->name), "ht");
	if (shmap_htable_open(f->name, SHMAP_CREATE, kmax, vmax, cap, NULL, &f->t) != SHMAP_OK) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_setup_sized(state, 1000, 32, 64);
}

static int fx_setup_wide(void **state)
{
	/* key_max 4000 and value_max 5000 need 12 + 13 length bits: wide layout. */
	return fx_setup_sized(state, 64, 4000, 5000);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	if (f) {
		shmap_htable_close(f->t);
		shmap_unlink(f->name, NULL);
		free(f);
	}
	return 0;
}

static uint64_t check_ok(shmap_htable *t)
{
	uint64_t problems = 99;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	return problems;
}

static void test_basic_ops(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	char buf[64];
	uint32_t len = 0;

	assert_int_equal(shmap_htable_capacity(t), 1024);
	assert_int_equal(shmap_htable_key_max(t), 32);
	assert_int_equal(shmap_htable_value_max(t), 64);
	assert_int_equal(shmap_htable_size(t), 0);

	assert_int_equal(shmap_htable_get(t, "a", 1, buf, sizeof buf, &len), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_insert(t, "a", 1, "one", 3), SHMAP_OK);
	assert_int_equal(shmap_htable_insert(t, "a", 1, "uno", 3), SHMAP_E_EXIST);
	assert_int_equal(shmap_htable_get(t, "a", 1, buf, sizeof buf, &len), SHMAP_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(shmap_htable_size(t), 1);

	assert_int_equal(shmap_htable_replace(t, "b", 1, "two", 3), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_replace(t, "a", 1, "eins-longer", 11), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, "a", 1, buf, sizeof buf, &len), SHMAP_OK);
	assert_int_equal(len, 11);
	assert_memory_equal(buf, "eins-longer", 11);

	assert_int_equal(shmap_htable_upsert(t, "b", 1, "two", 3), SHMAP_OK);
	assert_int_equal(shmap_htable_upsert(t, "b", 1, "deux", 4), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, "b", 1, buf, sizeof buf, &len), SHMAP_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(buf, "deux", 4);
	assert_int_equal(shmap_htable_size(t), 2);

	/* Too-small buffer: BUFSIZE with the size needed, also with cap 0. */
	len = 0;
	assert_int_equal(shmap_htable_get(t, "b", 1, buf, 3, &len), SHMAP_E_BUFSIZE);
	assert_int_equal(len, 4);
	len = 0;
	assert_int_equal(shmap_htable_get(t, "b", 1, NULL, 0, &len), SHMAP_E_BUFSIZE);
	assert_int_equal(len, 4);

	/* Keys that are prefixes of each other are distinct. */
	assert_int_equal(shmap_htable_insert(t, "ab", 2, "x", 1), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, "ab", 2, buf, sizeof buf, &len), SHMAP_OK);
	assert_int_equal(len, 1);

	assert_int_equal(shmap_htable_erase(t, "a", 1), SHMAP_OK);
	assert_int_equal(shmap_htable_erase(t, "a", 1), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_get(t, "a", 1, buf, sizeof buf, &len), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_size(t), 2);
	assert_int_equal(check_ok(t), 0);
}

static void test_cas(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	char buf[64];
	uint32_t len;
	assert_int_equal(shmap_htable_cas(t, "k", 1, "v1", 2, "v2", 2), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_insert(t, "k", 1, "v1", 2), SHMAP_OK);
	assert_int_equal(shmap_htable_cas(t, "k", 1, "v0", 2, "v2", 2), SHMAP_E_MISMATCH);
	assert_int_equal(shmap_htable_cas(t, "k", 1, "v1x", 3, "v2", 2), SHMAP_E_MISMATCH);
	assert_int_equal(shmap_htable_get(t, "k", 1, buf, sizeof buf, &len), SHMAP_OK);
	assert_memory_equal(buf, "v1", 2);
	assert_int_equal(shmap_htable_cas(t, "k", 1, "v1", 2, "value-2", 7), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, "k", 1, buf, sizeof buf, &len), SHMAP_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(buf, "value-2", 7);
}

/* Update callbacks: a counter, abort, erase, bad lengths. */
static int cb_incr(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	uint64_t v = 0;
	int *calls = arg;
	++*calls;
	if (exists) {
		assert_int_equal(cur_len, 8);
		memcpy(&v, cur, 8);
	} else {
		assert_null(cur);
		assert_int_equal(cur_len, 0);
	}
	v++;
	memcpy(out, &v, 8);
	*out_len = 8;
	return SHMAP_HTABLE_COMMIT;
}

static int cb_abort(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	/* Scribble over the output first: abort must still change nothing. */
	memset(out, 0xee, 8);
	*out_len = 8;
	return SHMAP_HTABLE_ABORT;
}

static int cb_erase(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	return SHMAP_HTABLE_ERASE;
}

static int cb_ret_arg(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	const uint32_t *p = arg;
	memset(out, 1, 64);
	*out_len = p[0];
	return (int)p[1];
}

static void test_cas_erase(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	char buf[64];
	uint32_t len;
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, "v1", 2), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_insert(t, "k", 1, "v1", 2), SHMAP_OK);
	assert_int_equal(shmap_htable_insert(t, "other", 5, "v1", 2), SHMAP_OK);
	/* Different bytes, a prefix, a longer value: nothing changes. */
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, "v0", 2), SHMAP_E_MISMATCH);
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, "v", 1), SHMAP_E_MISMATCH);
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, "v1x", 3), SHMAP_E_MISMATCH);
	assert_int_equal(shmap_htable_get(t, "k", 1, buf, sizeof buf, &len), SHMAP_OK);
	assert_int_equal(len, 2);
	assert_memory_equal(buf, "v1", 2);
	assert_int_equal(shmap_htable_size(t), 2);
	/* Bad input: nothing changes. */
	char big[65];
	memset(big, 'x', sizeof big);
	assert_int_equal(shmap_htable_cas_erase(NULL, "k", 1, "v1", 2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cas_erase(t, NULL, 1, "v1", 2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cas_erase(t, "k", 0, "v1", 2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, NULL, 2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, "v1", 0), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, big, 65), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_cas_erase(t, big, 33, "v1", 2), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_size(t), 2);
	/* The match erases exactly that key. */
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, "v1", 2), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, "k", 1, buf, sizeof buf, &len), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, "v1", 2), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_get(t, "other", 5, buf, sizeof buf, &len), SHMAP_OK);
	assert_memory_equal(buf, "v1", 2);
	assert_int_equal(shmap_htable_size(t), 1);
	/* After a cas the new value is the one that matches. */
	assert_int_equal(shmap_htable_insert(t, "k", 1, "v1", 2), SHMAP_OK);
	assert_int_equal(shmap_htable_cas(t, "k", 1, "v1", 2, "v2", 2), SHMAP_OK);
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, "v1", 2), SHMAP_E_MISMATCH);
	assert_int_equal(shmap_htable_cas_erase(t, "k", 1, "v2", 2), SHMAP_OK);
	assert_int_equal(shmap_htable_size(t), 1);
	assert_int_equal(check_ok(t), 0);
}

/*
 * get()'s fast path (8-byte keys, room for 8 bytes) and every way out of
 * it: short values, a small buffer, other key lengths in the chain,
 * tombstones, a full table (the probe bound), and a sparse table where a
 * hash differing from the writers' would miss.
 */
static void test_get_fast8(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htf8");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 16, NULL, &t), SHMAP_OK);
	assert_int_equal(shmap_htable_capacity(t), 16);
	uint64_t k, v, out;
	uint32_t len;
	uint8_t small[8];
	/* Fill all 16 buckets: keys 0..11 of 8 bytes, 12..15 of 4 bytes. */
	for (uint32_t i = 0; i < 16; i++) {
		k = (i + 1) * UINT64_C(0x9E3779B97F4A7C15);
		v = k ^ 0xabcdef;
		uint32_t kl = i < 12 ? 8u : 4u;
		uint32_t vl = i % 4 == 1 ? 3u : 8u;
		assert_int_equal(shmap_htable_insert(t, &k, kl, &v, vl), SHMAP_OK);
	}
	k = 99;
	v = 1;
	assert_int_equal(shmap_htable_insert(t, &k, 8, &v, 8), SHMAP_E_FULL);
	for (uint32_t round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < 16; i++) {
			k = (i + 1) * UINT64_C(0x9E3779B97F4A7C15);
			uint32_t kl = i < 12 ? 8u : 4u;
			uint32_t vl = i % 4 == 1 ? 3u : 8u;
			if (round == 1 && i % 3 == 0) {
				assert_int_equal(shmap_htable_get(t, &k, kl, &out, 8, &len), SHMAP_E_NOTFOUND);
				continue;
			}
			out = 0;
			len = 0;
			assert_int_equal(shmap_htable_get(t, &k, kl, &out, 8, &len), SHMAP_OK);
			assert_int_equal(len, vl);
			v = k ^ 0xabcdef;
			assert_memory_equal(&out, &v, vl);
			/* A buffer too small for the value. */
			len = 0;
			assert_int_equal(shmap_htable_get(t, &k, kl, small, 2, &len), SHMAP_E_BUFSIZE);
			assert_int_equal(len, vl);
		}
		/* Missing keys in a full table (round 0) or among tombstones. */
		for (uint64_t m = 1000; m < 1100; m++)
			assert_int_equal(shmap_htable_get(t, &m, 8, &out, 8, &len), SHMAP_E_NOTFOUND);
		if (round == 0) {
			for (uint32_t i = 0; i < 16; i += 3) {
				k = (i + 1) * UINT64_C(0x9E3779B97F4A7C15);
				assert_int_equal(shmap_htable_erase(t, &k, i < 12 ? 8u : 4u), SHMAP_OK);
			}
		}
	}
	/* An updated value is read from the other slot. */
	k = 2 * UINT64_C(0x9E3779B97F4A7C15);
	v = 77;
	assert_int_equal(shmap_htable_upsert(t, &k, 8, &v, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, &k, 8, &out, 8, &len), SHMAP_OK);
	assert_int_equal(out, 77);
	v = 78;
	assert_int_equal(shmap_htable_upsert(t, &k, 8, &v, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, &k, 8, &out, 16, &len), SHMAP_OK);
	assert_int_equal(out, 78);
	assert_int_equal(len, 8);
	assert_int_equal(check_ok(t), 0);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);

	/* Sparse: every key must be found at its home (hash identical to the writers'). */
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 1u << 16, NULL, &t), SHMAP_OK);
	uint64_t rnd = 0x1234567;
	for (uint32_t i = 0; i < 2000; i++) {
		rnd = rnd * 6364136223846793005u + 1442695040888963407u;
		k = rnd;
		v = ~rnd;
		assert_int_equal(shmap_htable_upsert(t, &k, 8, &v, 8), SHMAP_OK);
	}
	rnd = 0x1234567;
	for (uint32_t i = 0; i < 2000; i++) {
		rnd = rnd * 6364136223846793005u + 1442695040888963407u;
		k = rnd;
		assert_int_equal(shmap_htable_get(t, &k, 8, &out, 8, &len), SHMAP_OK);
		assert_int_equal(out, ~rnd);
		k = rnd ^ 1;
		assert_int_equal(shmap_htable_get(t, &k, 8, &out, 8, &len), SHMAP_E_NOTFOUND);
	}
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/*
 * get_many() gives, key by key, what get() gives: on an 8/8 table (the
 * inline path) and on a wide one with keys of every length, with values
 * that fit and values that do not, present and absent keys, per-key length
 * errors; argument errors write nothing.
 */
static void many_vs_single(shmap_htable *t, uint32_t n, const uint8_t *keys, uint32_t kstride,
			   const uint32_t *klens, uint32_t vstride)
{
	uint8_t *vals = malloc((size_t)n * vstride + 1), one[256];
	uint32_t *lens = malloc(n * sizeof *lens), l1;
	int *rcs = malloc(n * sizeof *rcs);
	assert_non_null(vals);
	assert_non_null(lens);
	assert_non_null(rcs);
	int got = shmap_htable_get_many(t, n, keys, kstride, klens, vstride ? vals : NULL, vstride, lens, rcs);
	int ok = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t kl = klens ? klens[i] : kstride;
		l1 = 0;
		int r1 = shmap_htable_get(t, keys + (size_t)i * kstride, kl, vstride ? one : NULL, vstride, &l1);
		assert_int_equal(rcs[i], r1);
		if (r1 == SHMAP_OK || r1 == SHMAP_E_BUFSIZE)
			assert_int_equal(lens[i], l1);
		else
			assert_int_equal(lens[i], 0);
		if (r1 == SHMAP_OK) {
			assert_memory_equal(vals + (size_t)i * vstride, one, l1);
			ok++;
		}
	}
	assert_int_equal(got, ok);
	free(vals);
	free(lens);
	free(rcs);
}

static void test_get_many(void **state)
{
	(void)state;
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htmany");
	/* 8/8: 700 keys of 8 bytes (every 7th value 3 bytes), 300 absent. */
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 1024, NULL, &t), SHMAP_OK);
	enum { N88 = 1000 };
	uint64_t k88[N88];
	for (uint32_t i = 0; i < N88; i++) {
		k88[i] = (i + 1) * UINT64_C(0x9E3779B97F4A7C15);
		uint64_t v = ~k88[i];
		if (i < 700)
			assert_int_equal(shmap_htable_insert(t, &k88[i], 8, &v, i % 7 ? 8u : 3u), SHMAP_OK);
	}
	many_vs_single(t, N88, (const uint8_t *)k88, 8, NULL, 8);
	many_vs_single(t, N88, (const uint8_t *)k88, 8, NULL, 4); /* BUFSIZE for 8-byte values */
	many_vs_single(t, 37, (const uint8_t *)k88, 8, NULL, 0);  /* lengths only */
	/* Per-key errors: length 0 and over key_max. */
	uint32_t kl[4] = { 8, 0, 9, 8 }, lens[4];
	uint64_t vals[4];
	int rcs[4];
	assert_int_equal(shmap_htable_get_many(t, 4, k88, 8, kl, vals, 8, lens, rcs), 2);
	assert_int_equal(rcs[0], SHMAP_OK);
	assert_int_equal(rcs[1], SHMAP_E_INVAL);
	assert_int_equal(rcs[2], SHMAP_E_TOOBIG);
	assert_int_equal(rcs[3], SHMAP_OK);
	assert_int_equal(vals[3], ~k88[3]);
	/* Argument errors: nothing written. */
	rcs[0] = 12345;
	lens[0] = 777;
	assert_int_equal(shmap_htable_get_many(NULL, 4, k88, 8, NULL, vals, 8, lens, rcs), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get_many(t, 4, NULL, 8, NULL, vals, 8, lens, rcs), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get_many(t, 4, k88, 8, NULL, vals, 8, NULL, rcs), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get_many(t, 4, k88, 8, NULL, vals, 8, lens, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get_many(t, 4, k88, 8, NULL, NULL, 8, lens, rcs), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get_many(t, 4, k88, 0, NULL, vals, 8, lens, rcs), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get_many(t, UINT32_MAX, k88, 8, NULL, vals, 8, lens, rcs), SHMAP_E_INVAL);
	assert_int_equal(rcs[0], 12345);
	assert_int_equal(lens[0], 777);
	assert_int_equal(shmap_htable_get_many(t, 0, NULL, 0, NULL, NULL, 0, NULL, NULL), 0);
	assert_int_equal(shmap_htable_get_many(NULL, 0, NULL, 0, NULL, NULL, 0, NULL, NULL), SHMAP_E_INVAL);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);

	/* Wide: keys of 1..32 bytes in a 32-byte stride, values of 1..64. */
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 32, 64, 512, NULL, &t), SHMAP_OK);
	enum { NW = 300 };
	uint8_t kw[NW * 32], v[64];
	uint32_t klw[NW];
	for (uint32_t i = 0; i < NW; i++) {
		klw[i] = 1u + i % 32u;
		for (uint32_t b = 0; b < 32; b++)
			kw[i * 32 + b] = (uint8_t)(i * 7u + b * 13u + (i >> 5));
		memset(v, (int)i, sizeof v);
		if (i % 3 != 2)
			assert_int_equal(shmap_htable_upsert(t, kw + i * 32, klw[i], v, 1u + i % 64u), SHMAP_OK);
	}
	many_vs_single(t, NW, kw, 32, klw, 64);
	many_vs_single(t, NW, kw, 32, klw, 20);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

static void test_update(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	int calls = 0;
	uint64_t v;
	uint32_t len;
	for (int i = 0; i < 10; i++)
		assert_int_equal(shmap_htable_update(t, "ctr", 3, cb_incr, &calls), SHMAP_OK);
	assert_int_equal(calls, 10); /* exactly once per call */
	assert_int_equal(shmap_htable_get(t, "ctr", 3, &v, sizeof v, &len), SHMAP_OK);
	assert_int_equal(v, 10);

	/* Abort: the old value untouched ("rollback"), also for a missing key. */
	assert_int_equal(shmap_htable_update(t, "ctr", 3, cb_abort, NULL), SHMAP_E_ABORTED);
	assert_int_equal(shmap_htable_get(t, "ctr", 3, &v, sizeof v, &len), SHMAP_OK);
	assert_int_equal(v, 10);
	assert_int_equal(shmap_htable_update(t, "new", 3, cb_abort, NULL), SHMAP_E_ABORTED);
	assert_int_equal(shmap_htable_get(t, "new", 3, &v, sizeof v, &len), SHMAP_E_NOTFOUND);

	/* Bad results: nothing changed. */
	uint32_t r0[2] = { 0, SHMAP_HTABLE_COMMIT }, rbig[2] = { 65, SHMAP_HTABLE_COMMIT }, rbad[2] = { 8, 77 };
	assert_int_equal(shmap_htable_update(t, "ctr", 3, cb_ret_arg, r0), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_update(t, "ctr", 3, cb_ret_arg, rbig), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_update(t, "ctr", 3, cb_ret_arg, rbad), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_update(t, "zzz", 3, cb_ret_arg, rbig), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_get(t, "zzz", 3, &v, sizeof v, &len), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_get(t, "ctr", 3, &v, sizeof v, &len), SHMAP_OK);
	assert_int_equal(v, 10);

	/* Erase through the callback; erase of a missing key is a no-op. */
	assert_int_equal(shmap_htable_update(t, "ctr", 3, cb_erase, NULL), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, "ctr", 3, &v, sizeof v, &len), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_update(t, "ctr", 3, cb_erase, NULL), SHMAP_OK);
	assert_int_equal(shmap_htable_size(t), 0);
	assert_int_equal(check_ok(t), 0);
}

/* What the callback sees in `out` on entry, and a scribble to leave behind. */
struct out_probe {
	uint32_t vmax;
	int exists;
	uint32_t out_len_in;
	uint8_t out_in[6000];
	int ret;
};

static int cb_probe(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	(void)cur;
	(void)cur_len;
	struct out_probe *p = arg;
	p->exists = exists;
	p->out_len_in = *out_len;
	memcpy(p->out_in, out, p->vmax);
	/* Leave garbage in the buffer: the next call must not see it. */
	memset(out, 0xa1, p->vmax);
	*out_len = p->vmax;
	return p->ret;
}

/* A direct port of `v += 1` from a visitor API: edit `out` in place. */
static int cb_inplace_incr(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len,
			   void *arg)
{
	(void)cur;
	(void)cur_len;
	(void)exists;
	(void)arg;
	uint64_t v;
	memcpy(&v, out, 8);
	v += 1;
	memcpy(out, &v, 8);
	*out_len = 8; /* already 8 for an existing key; a new key must set it */
	return SHMAP_HTABLE_COMMIT;
}

/* Update-if-exists: KEEP for a missing key, increment otherwise. */
static int cb_incr_if_exists(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len,
			     void *arg)
{
	if (!exists)
		return SHMAP_HTABLE_KEEP;
	return cb_inplace_incr(cur, cur_len, exists, out, out_len, arg);
}

static int cb_keep(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	(void)cur;
	(void)cur_len;
	(void)exists;
	(void)arg;
	memset(out, 0xee, 8); /* KEEP writes nothing, whatever is in out */
	*out_len = 8;
	return SHMAP_HTABLE_KEEP;
}

/* `out` on entry: the current value (zero tail) for an existing key, zeroes
 * and *out_len 0 for a new key; even after a callback left garbage in it. */
static void update_out_contents(shmap_htable *t, uint32_t vmax)
{
	struct out_probe *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->vmax = vmax;
	uint8_t zeros[6000] = { 0 }, val[6000];
	uint8_t cur[5] = { 1, 2, 3, 4, 5 };
	assert_int_equal(shmap_htable_upsert(t, "have", 4, cur, 5), SHMAP_OK);
	for (int round = 0; round < 3; round++) {
		p->ret = SHMAP_HTABLE_ABORT;
		assert_int_equal(shmap_htable_update(t, "have", 4, cb_probe, p), SHMAP_E_ABORTED);
		assert_int_equal(p->exists, 1);
		assert_int_equal(p->out_len_in, 5);
		assert_memory_equal(p->out_in, cur, 5);
		assert_memory_equal(p->out_in + 5, zeros, vmax - 5);
		p->ret = SHMAP_HTABLE_ABORT;
		assert_int_equal(shmap_htable_update(t, "none", 4, cb_probe, p), SHMAP_E_ABORTED);
		assert_int_equal(p->exists, 0);
		assert_int_equal(p->out_len_in, 0);
		assert_memory_equal(p->out_in, zeros, vmax);
	}
	/* Committing the unchanged buffer with the length on entry rewrites the
	 * same value (the probe's scribble is what gets committed here). */
	p->ret = SHMAP_HTABLE_COMMIT;
	assert_int_equal(shmap_htable_update(t, "have", 4, cb_probe, p), SHMAP_OK);
	uint32_t len;
	assert_int_equal(shmap_htable_get(t, "have", 4, val, sizeof val, &len), SHMAP_OK);
	assert_int_equal(len, vmax);
	memset(zeros, 0xa1, vmax);
	assert_memory_equal(val, zeros, vmax);
	free(p);
}

static void test_update_out(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	update_out_contents(t, 64);

	/* v += 1 in place, from a missing key: 1, 2, 3. */
	uint64_t v;
	uint32_t len;
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmap_htable_update(t, "ctr", 3, cb_inplace_incr, NULL), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, "ctr", 3, &v, sizeof v, &len), SHMAP_OK);
	assert_int_equal(len, 8);
	assert_int_equal(v, 3);
	assert_int_equal(check_ok(t), 0);
}

static void test_update_out_wide(void **state)
{
	struct fx *f = *state;
	update_out_contents(f->t, 5000); /* heap buffer path (value_max over the stack buffer) */
	assert_int_equal(check_ok(f->t), 0);
}

static void test_update_keep(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	uint64_t v = 41;
	uint32_t len;
	/* Missing key: NOTFOUND, nothing created. */
	assert_int_equal(shmap_htable_update(t, "k", 1, cb_keep, NULL), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_get(t, "k", 1, &v, sizeof v, &len), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_size(t), 0);
	/* Existing key: OK, value unchanged. */
	v = 41;
	assert_int_equal(shmap_htable_insert(t, "k", 1, &v, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_update(t, "k", 1, cb_keep, NULL), SHMAP_OK);
	v = 0;
	assert_int_equal(shmap_htable_get(t, "k", 1, &v, sizeof v, &len), SHMAP_OK);
	assert_int_equal(v, 41);
	/* Update-if-exists. */
	assert_int_equal(shmap_htable_update(t, "k", 1, cb_incr_if_exists, NULL), SHMAP_OK);
	assert_int_equal(shmap_htable_update(t, "x", 1, cb_incr_if_exists, NULL), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_get(t, "k", 1, &v, sizeof v, &len), SHMAP_OK);
	assert_int_equal(v, 42);
	assert_int_equal(shmap_htable_get(t, "x", 1, &v, sizeof v, &len), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_size(t), 1);
	assert_int_equal(check_ok(t), 0);
}

/* KEEP for a missing key in a full table: NOTFOUND, not FULL. */
static void test_update_keep_full(void **state)
{
	(void)state;
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htkeep");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 16, NULL, &t), SHMAP_OK);
	uint64_t k;
	for (k = 0; k < 16; k++)
		assert_int_equal(shmap_htable_insert(t, &k, 8, &k, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_update(t, &k, 8, cb_keep, NULL), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_update(t, &k, 8, cb_incr_if_exists, NULL), SHMAP_E_NOTFOUND);
	uint64_t three = 3, out;
	uint32_t len;
	assert_int_equal(shmap_htable_update(t, &three, 8, cb_incr_if_exists, NULL), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, &three, 8, &out, 8, &len), SHMAP_OK);
	assert_int_equal(out, 4);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

static void test_bad_input(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	char big[200];
	char buf[64];
	uint32_t len;
	memset(big, 'k', sizeof big);
	int calls = 0;

	assert_int_equal(shmap_htable_insert(t, "a", 1, "v", 1), SHMAP_OK);
	/* NULL handle / key / value / length pointer. */
	assert_int_equal(shmap_htable_insert(NULL, "a", 1, "v", 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_insert(t, NULL, 1, "v", 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_insert(t, "b", 1, NULL, 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_upsert(t, "a", 1, NULL, 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get(NULL, "a", 1, buf, 64, &len), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get(t, NULL, 1, buf, 64, &len), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get(t, "a", 1, buf, 64, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get(t, "a", 1, NULL, 64, &len), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_erase(NULL, "a", 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cas(t, "a", 1, NULL, 1, "w", 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cas(t, "a", 1, "v", 1, NULL, 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_update(t, "a", 1, NULL, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_update(NULL, "a", 1, cb_incr, &calls), SHMAP_E_INVAL);
	/* Zero lengths. */
	assert_int_equal(shmap_htable_insert(t, "b", 0, "v", 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_insert(t, "b", 1, "v", 0), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_get(t, "a", 0, buf, 64, &len), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_erase(t, "a", 0), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cas(t, "a", 1, "v", 0, "w", 1), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cas(t, "a", 1, "v", 1, "w", 0), SHMAP_E_INVAL);
	/* Over-long keys and values: TOOBIG. */
	assert_int_equal(shmap_htable_insert(t, big, 33, "v", 1), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_insert(t, "b", 1, big, 65), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_upsert(t, "a", 1, big, 65), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_replace(t, "a", 1, big, 65), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_get(t, big, 33, buf, 64, &len), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_erase(t, big, 33), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_cas(t, "a", 1, big, 65, "w", 1), SHMAP_E_TOOBIG);
	assert_int_equal(shmap_htable_update(t, big, 33, cb_incr, &calls), SHMAP_E_TOOBIG);
	assert_int_equal(calls, 0);
	/* The maximum sizes themselves are fine. */
	assert_int_equal(shmap_htable_insert(t, big, 32, big, 64), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, big, 32, buf, 64, &len), SHMAP_OK);
	assert_int_equal(len, 64);
	/* Nothing else changed. */
	assert_int_equal(shmap_htable_size(t), 2);
	assert_int_equal(shmap_htable_get(t, "a", 1, buf, 64, &len), SHMAP_OK);
	assert_int_equal(len, 1);
	assert_int_equal(shmap_htable_get(t, "b", 1, buf, 64, &len), SHMAP_E_NOTFOUND);
	/* Cursor, foreach, stats, check, clear with bad arguments. */
	shmap_htable_cursor *c = NULL;
	assert_int_equal(shmap_htable_cursor_new(NULL, &c), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cursor_new(t, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_cursor_next(NULL, buf, 64, &len, buf, 64, &len), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_foreach(t, NULL, NULL), SHMAP_E_INVAL);
	assert_int_equal(th_htable_stats(NULL, NULL, NULL, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_check(t, 0x80, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_check(NULL, 0, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_clear(NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_size(NULL), 0);
	assert_int_equal(shmap_htable_capacity(NULL), 0);
	assert_int_equal(shmap_htable_fd(NULL), -1);
	assert_int_equal(shmap_htable_fd(t), -1);
	shmap_htable_close(NULL);
	shmap_htable_cursor_free(NULL);
}

static void test_open_params(void **state)
{
	struct fx *f = *state;
	shmap_htable *t2 = NULL;
	char name[96];
	/* Bad parameters at create. */
	th_name(name, sizeof name, "htp");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 0, NULL, &t2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 0, 8, 16, NULL, &t2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 0, 16, NULL, &t2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 65536, 8, 16, NULL, &t2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, (1u << 24) + 1, 16, NULL, &t2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, UINT64_C(1) << 40, NULL, &t2), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 16, NULL, NULL), SHMAP_E_INVAL);
	assert_int_equal(shmap_htable_open(name, 0, 8, 8, 16, NULL, &t2), SHMAP_E_INVAL);
	assert_null(t2);
	assert_int_equal(shmap_htable_open(name, SHMAP_OPEN, 0, 0, 0, NULL, &t2), SHMAP_E_NOENT);

	/* Open the fixture's table: 0 accepts, equal values match, others fail. */
	assert_int_equal(shmap_htable_insert(f->t, "x", 1, "y", 1), SHMAP_OK);
	assert_int_equal(shmap_htable_open(f->name, SHMAP_OPEN, 0, 0, 0, NULL, &t2), SHMAP_OK);
	assert_int_equal(shmap_htable_capacity(t2), 1024);
	assert_int_equal(shmap_htable_key_max(t2), 32);
	assert_int_equal(shmap_htable_value_max(t2), 64);
	char b[8];
	uint32_t len;
	assert_int_equal(shmap_htable_get(t2, "x", 1, b, sizeof b, &len), SHMAP_OK);
	shmap_htable_close(t2);
	t2 = NULL;
	assert_int_equal(shmap_htable_open(f->name, SHMAP_OPEN, 32, 64, 1000, NULL, &t2), SHMAP_OK);
	shmap_htable_close(t2);
	t2 = NULL;
	assert_int_equal(shmap_htable_open(f->name, SHMAP_OPEN_OR_CREATE, 32, 64, 1000, NULL, &t2), SHMAP_OK);
	shmap_htable_close(t2);
	t2 = NULL;
	assert_int_equal(shmap_htable_open(f->name, SHMAP_OPEN, 0, 0, 4096, NULL, &t2), SHMAP_E_INCOMPAT);
	assert_int_equal(shmap_htable_open(f->name, SHMAP_OPEN, 31, 0, 0, NULL, &t2), SHMAP_E_INCOMPAT);
	assert_int_equal(shmap_htable_open(f->name, SHMAP_OPEN, 0, 65, 0, NULL, &t2), SHMAP_E_INCOMPAT);
	assert_int_equal(shmap_htable_open(f->name, SHMAP_CREATE, 32, 64, 1000, NULL, &t2), SHMAP_E_EXIST);
	assert_null(t2);
	/* The table is unchanged by the failed opens. */
	assert_int_equal(shmap_htable_size(f->t), 1);
	assert_int_equal(check_ok(f->t), 0);
}

static int count_cb(const void *key, uint32_t klen, const void *val, uint32_t vlen, void *arg)
{
	uint64_t *seen = arg;
	uint32_t k;
	assert_int_equal(klen, 4);
	assert_int_equal(vlen, 12);
	memcpy(&k, key, 4);
	assert_true(k < 500);
	char exp[12];
	snprintf(exp, sizeof exp, "val%08u", k);
	assert_memory_equal(val, exp, 11);
	seen[k]++;
	return 0;
}

static int stop_cb(const void *key, uint32_t klen, const void *val, uint32_t vlen, void *arg)
{
	++*(int *)arg;
	return 42;
}

static void test_iterate(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	for (uint32_t k = 0; k < 500; k++) {
		char v[12];
		snprintf(v, sizeof v, "val%08u", k);
		assert_int_equal(shmap_htable_insert(t, &k, 4, v, 12), SHMAP_OK);
	}
	for (uint32_t k = 0; k < 500; k += 5)
		assert_int_equal(shmap_htable_erase(t, &k, 4), SHMAP_OK);
	assert_int_equal(shmap_htable_size(t), 400);

	uint64_t seen[500] = { 0 };
	shmap_htable_cursor *c;
	assert_int_equal(shmap_htable_cursor_new(t, &c), SHMAP_OK);
	char kb[32], vb[64];
	uint32_t kl, vl;
	/* Too-small buffers: BUFSIZE with both sizes, no advance. */
	assert_int_equal(shmap_htable_cursor_next(c, kb, 3, &kl, vb, 64, &vl), SHMAP_E_BUFSIZE);
	assert_int_equal(kl, 4);
	assert_int_equal(vl, 12);
	assert_int_equal(shmap_htable_cursor_next(c, kb, 32, &kl, vb, 11, &vl), SHMAP_E_BUFSIZE);
	int n = 0, rc;
	while ((rc = shmap_htable_cursor_next(c, kb, sizeof kb, &kl, vb, sizeof vb, &vl)) == SHMAP_OK) {
		count_cb(kb, kl, vb, vl, seen);
		n++;
	}
	assert_int_equal(rc, SHMAP_E_NOTFOUND);
	assert_int_equal(n, 400);
	assert_int_equal(shmap_htable_cursor_next(c, kb, sizeof kb, &kl, vb, sizeof vb, &vl), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_cursor_reset(c), SHMAP_OK);
	assert_int_equal(shmap_htable_cursor_next(c, kb, sizeof kb, &kl, vb, sizeof vb, &vl), SHMAP_OK);
	shmap_htable_cursor_free(c);
	for (uint32_t k = 0; k < 500; k++)
		assert_int_equal(seen[k], k % 5 ? 1 : 0);

	memset(seen, 0, sizeof seen);
	assert_int_equal(shmap_htable_foreach(t, count_cb, seen), SHMAP_OK);
	for (uint32_t k = 0; k < 500; k++)
		assert_int_equal(seen[k], k % 5 ? 1 : 0);
	int stops = 0;
	assert_int_equal(shmap_htable_foreach(t, stop_cb, &stops), 42);
	assert_int_equal(stops, 1);

	uint64_t live = 0, tomb = 0, longest = 0;
	assert_int_equal(th_htable_stats(t, &live, &tomb, &longest), SHMAP_OK);
	assert_int_equal(live, 400);
	assert_true(longest >= 1 && longest < 1024);
	assert_int_equal(th_htable_stats(t, NULL, NULL, NULL), SHMAP_OK);
	assert_int_equal(check_ok(t), 0);

	/* Clear: everything gone, no tombstone left, reusable. */
	assert_int_equal(shmap_htable_clear(t), SHMAP_OK);
	assert_int_equal(shmap_htable_size(t), 0);
	assert_int_equal(th_htable_stats(t, &live, &tomb, &longest), SHMAP_OK);
	assert_int_equal(live, 0);
	assert_int_equal(tomb, 0);
	assert_int_equal(longest, 0);
	uint32_t k = 7;
	char v[12];
	uint32_t len;
	assert_int_equal(shmap_htable_get(t, &k, 4, v, sizeof v, &len), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_insert(t, &k, 4, "val00000007", 12), SHMAP_OK);
	assert_int_equal(check_ok(t), 0);
}

/* Fill to the last bucket, then FULL; erase one, insert again. */
static void test_full(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htfull");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 16, NULL, &t), SHMAP_OK);
	assert_int_equal(shmap_htable_capacity(t), 16);
	uint64_t k;
	for (k = 0; k < 16; k++)
		assert_int_equal(shmap_htable_insert(t, &k, 8, &k, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_insert(t, &k, 8, &k, 8), SHMAP_E_FULL);
	assert_int_equal(shmap_htable_upsert(t, &k, 8, &k, 8), SHMAP_E_FULL);
	int calls = 0;
	assert_int_equal(shmap_htable_update(t, &k, 8, cb_incr, &calls), SHMAP_E_FULL);
	assert_int_equal(calls, 1);
	/* Present keys can still be updated in a full table; misses terminate. */
	uint64_t v = 99, out;
	uint32_t len;
	for (uint64_t j = 0; j < 16; j++)
		assert_int_equal(shmap_htable_upsert(t, &j, 8, &v, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, &k, 8, &out, 8, &len), SHMAP_E_NOTFOUND);
	uint64_t five = 5;
	assert_int_equal(shmap_htable_erase(t, &five, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_insert(t, &k, 8, &k, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, &k, 8, &out, 8, &len), SHMAP_OK);
	assert_int_equal(out, k);
	assert_int_equal(shmap_htable_size(t), 16);
	assert_int_equal(check_ok(t), 0);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/* Wide layout (lengths in words): large keys and values round-trip. */
static void test_wide(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	static uint8_t key[4000], val[5000], out[5000];
	uint32_t len;
	for (uint32_t n = 1; n <= 40; n++) {
		uint32_t kl = n * 97 % 4000 + 1, vl = n * 131 % 5000 + 1;
		memset(key, (int)n, kl);
		memset(val, (int)(n + 100), vl);
		assert_int_equal(shmap_htable_insert(t, key, kl, val, vl), SHMAP_OK);
	}
	for (uint32_t n = 1; n <= 40; n++) {
		uint32_t kl = n * 97 % 4000 + 1, vl = n * 131 % 5000 + 1;
		memset(key, (int)n, kl);
		memset(val, (int)(n + 100), vl);
		assert_int_equal(shmap_htable_get(t, key, kl, out, sizeof out, &len), SHMAP_OK);
		assert_int_equal(len, vl);
		assert_memory_equal(out, val, vl);
		/* Replace with a shorter value, then a maximal one. */
		assert_int_equal(shmap_htable_replace(t, key, kl, val, 1), SHMAP_OK);
		assert_int_equal(shmap_htable_get(t, key, kl, out, sizeof out, &len), SHMAP_OK);
		assert_int_equal(len, 1);
		assert_int_equal(shmap_htable_replace(t, key, kl, val, 5000), SHMAP_OK);
		assert_int_equal(shmap_htable_get(t, key, kl, out, 4999, &len), SHMAP_E_BUFSIZE);
		assert_int_equal(len, 5000);
	}
	memset(key, 1, 4000);
	assert_int_equal(shmap_htable_get(t, key, 97 % 4000, out, sizeof out, &len), SHMAP_E_NOTFOUND);
	assert_int_equal(shmap_htable_size(t), 40);
	assert_int_equal(check_ok(t), 0);
}

/*
 * Churn at 50% live load: erase a random live key, insert a new one;
 * millions of operations in total (soak: more), never FULL, and the
 * tombstones stay bounded.
 */
static void test_churn(void **state)
{
	char name[96];
	shmap_htable *t;
	const uint64_t cap = 4096, live = cap / 2;
	uint64_t ops = getenv("SHMAP_SOAK") ? 50000000u : 2000000u;
	th_name(name, sizeof name, "htchurn");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, cap, NULL, &t), SHMAP_OK);
	uint64_t *keys = malloc(live * sizeof(uint64_t));
	assert_non_null(keys);
	uint64_t next = 0, rnd = 88172645463325252ull;
	for (uint64_t i = 0; i < live; i++) {
		keys[i] = next++;
		assert_int_equal(shmap_htable_insert(t, &keys[i], 8, &keys[i], 8), SHMAP_OK);
	}
	uint64_t max_tomb = 0, max_probe = 0;
	for (uint64_t n = 0; n < ops / 2; n++) {
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		uint64_t slot = rnd % live;
		int rc = shmap_htable_erase(t, &keys[slot], 8);
		if (rc != SHMAP_OK)
			fail_msg("erase %llu: %s", (unsigned long long)keys[slot], shmap_errname(rc));
		keys[slot] = next++;
		rc = shmap_htable_insert(t, &keys[slot], 8, &keys[slot], 8);
		if (rc != SHMAP_OK)
			fail_msg("insert after %llu ops: %s", (unsigned long long)n, shmap_errname(rc));
		if (n % 100000 == 0) {
			uint64_t l = 0, tb = 0, lp = 0;
			assert_int_equal(th_htable_stats(t, &l, &tb, &lp), SHMAP_OK);
			assert_int_equal(l, live);
			if (tb > max_tomb)
				max_tomb = tb;
			if (lp > max_probe)
				max_probe = lp;
		}
	}
	for (uint64_t i = 0; i < live; i++) {
		uint64_t v;
		uint32_t len;
		assert_int_equal(shmap_htable_get(t, &keys[i], 8, &v, 8, &len), SHMAP_OK);
		assert_int_equal(v, keys[i]);
	}
	assert_int_equal(shmap_htable_size(t), live);
	print_message("churn: %llu ops at 50%% load, max tombstones %llu, longest probe %llu\n",
		      (unsigned long long)ops, (unsigned long long)max_tomb, (unsigned long long)max_probe);
	assert_true(max_tomb < cap / 2);
	assert_int_equal(check_ok(t), 0);
	free(keys);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

static int cb_die(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	memset(out, 'X', 1);
	*out_len = 1;
	raise(SIGKILL);
	return SHMAP_HTABLE_COMMIT;
}

/* The checker finds and repairs a lock left by a process killed in a callback. */
static void test_check_stale_lock(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	assert_int_equal(shmap_htable_insert(t, "k", 1, "v", 1), SHMAP_OK);
	pid_t pid = fork();
	if (pid == 0) {
		if (shmap_htable_reattach(t) != SHMAP_OK)
			_exit(2);
		shmap_htable_update(t, "k", 1, cb_die, NULL);
		_exit(3);
	}
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	uint64_t problems = 0;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_E_CORRUPT);
	assert_int_equal(problems, 1);
	assert_int_equal(shmap_htable_check(t, SHMAP_CHECK_REPAIR, &problems), SHMAP_RECOVERED);
	assert_int_equal(problems, 1);
	assert_int_equal(check_ok(t), 0);
	char b[8];
	uint32_t len;
	assert_int_equal(shmap_htable_get(t, "k", 1, b, sizeof b, &len), SHMAP_OK);
	assert_int_equal(len, 1);
	assert_memory_equal(b, "v", 1);
}

/* A killed update: the next writer takes the lock over (RECOVERED). */
static void test_recover_lock(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	assert_int_equal(shmap_htable_insert(t, "k", 1, "old", 3), SHMAP_OK);
	pid_t pid = fork();
	if (pid == 0) {
		if (shmap_htable_reattach(t) != SHMAP_OK)
			_exit(2);
		shmap_htable_update(t, "k", 1, cb_die, NULL);
		_exit(3);
	}
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFSIGNALED(st));
	char b[8];
	uint32_t len;
	/* Readers never noticed. */
	assert_int_equal(shmap_htable_get(t, "k", 1, b, sizeof b, &len), SHMAP_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(b, "old", 3);
	double t0 = th_now();
	assert_int_equal(shmap_htable_upsert(t, "k", 1, "new", 3), SHMAP_RECOVERED);
	double dt = th_now() - t0;
	assert_true(dt < 0.1);
	assert_int_equal(shmap_htable_get(t, "k", 1, b, sizeof b, &len), SHMAP_OK);
	assert_memory_equal(b, "new", 3);
	assert_int_equal(shmap_htable_upsert(t, "k", 1, "new2", 4), SHMAP_OK);
	assert_int_equal(check_ok(t), 0);
}

/* Fork without reattach: FORKED; after reattach it works. */
static void test_forked(void **state)
{
	struct fx *f = *state;
	shmap_htable *t = f->t;
	pid_t pid = fork();
	if (pid == 0) {
		char b[8];
		uint32_t len;
		if (shmap_htable_get(t, "k", 1, b, sizeof b, &len) != SHMAP_E_FORKED)
			_exit(1);
		if (shmap_htable_insert(t, "k", 1, "v", 1) != SHMAP_E_FORKED)
			_exit(2);
		if (shmap_htable_reattach(t) != SHMAP_OK)
			_exit(3);
		if (shmap_htable_insert(t, "k", 1, "v", 1) != SHMAP_OK)
			_exit(4);
		shmap_htable_close(t);
		_exit(0);
	}
	assert_true(th_ok(th_wait(pid, 20)));
	char b[8];
	uint32_t len;
	assert_int_equal(shmap_htable_get(t, "k", 1, b, sizeof b, &len), SHMAP_OK);
}

/* memfd backend: the fd is shared and a second handle sees the data. */
static void test_memfd(void **state)
{
	shmap_opts *o;
	shmap_htable *a, *b;
	assert_int_equal(shmap_opts_new(&o), SHMAP_OK);
	assert_int_equal(shmap_opts_set_backend(o, SHMAP_BACKEND_MEMFD), SHMAP_OK);
	assert_int_equal(shmap_htable_open("ht", SHMAP_CREATE, 8, 8, 64, o, &a), SHMAP_OK);
	int fd = shmap_htable_fd(a);
	assert_true(fd >= 0);
	assert_int_equal(shmap_opts_set_fd(o, fd), SHMAP_OK);
	assert_int_equal(shmap_htable_open(NULL, SHMAP_OPEN, 0, 0, 0, o, &b), SHMAP_OK);
	assert_int_equal(shmap_htable_insert(a, "k", 1, "v", 1), SHMAP_OK);
	char buf[8];
	uint32_t len;
	assert_int_equal(shmap_htable_get(b, "k", 1, buf, sizeof buf, &len), SHMAP_OK);
	shmap_htable_close(b);
	shmap_htable_close(a);
	shmap_opts_free(o);
}

/* ---- memory: the indirect layout ---- */

static uint64_t mem_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Allocated bytes of a table's POSIX shm object. */
static uint64_t shm_alloc_bytes(const char *name)
{
	char path[160];
	struct stat st;
	snprintf(path, sizeof path, "/dev/shm%s", name);
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512u;
}

/*
 * Sized the way users size a cache (capacity 200k, keys up to 40 bytes,
 * values up to 200) and filled with 100k entries of 16-40-byte keys and
 * 100-200-byte values, a table allocates at most 2x the bytes of its keys
 * and values (st_blocks of the shm object). The inline layout took 6.3x.
 */
static void test_memory_ratio(void **state)
{
	(void)state;
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htmem");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 40, 200, 200000, NULL, &t), SHMAP_OK);
	const uint64_t empty = shm_alloc_bytes(name);
	uint64_t seed = 0x5eed5, data = 0;
	uint8_t k[40], v[200];
	for (uint32_t i = 0; i < 100000; i++) {
		uint32_t kl = 16u + (uint32_t)(mem_rnd(&seed) % 25u), vl = 100u + (uint32_t)(mem_rnd(&seed) % 101u);
		memset(k, 'k', sizeof k);
		memcpy(k, &i, 4);
		memset(v, (int)(i & 0xff), sizeof v);
		assert_int_equal(shmap_htable_insert(t, k, kl, v, vl), SHMAP_OK);
		data += kl + vl;
	}
	const uint64_t alloc = shm_alloc_bytes(name);
	print_message("200k/40/200 table, 100k entries: %.1f MB of keys and values, %.1f MB allocated "
		      "(%.1f MB empty): %.2fx\n",
		      data / 1e6, alloc / 1e6, empty / 1e6, (double)alloc / (double)data);
	assert_true(alloc <= 2u * data);
	/* Every entry reads back. */
	seed = 0x5eed5;
	for (uint32_t i = 0; i < 100000; i += 7) {
		uint32_t kl = 16u + (uint32_t)(mem_rnd(&seed) % 25u), vl = 100u + (uint32_t)(mem_rnd(&seed) % 101u), got;
		for (uint32_t j = 1; j < 7 && i + j < 100000; j++) {
			mem_rnd(&seed);
			mem_rnd(&seed);
		}
		memset(k, 'k', sizeof k);
		memcpy(k, &i, 4);
		assert_int_equal(shmap_htable_get(t, k, kl, v, sizeof v, &got), SHMAP_OK);
		assert_int_equal(got, vl);
		assert_int_equal(v[vl - 1], (uint8_t)(i & 0xff));
	}
	uint64_t problems;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

/*
 * Churn on an indirect table whose value sizes drift from small to large
 * and back (every size class in turn): with a live set that fits, nothing
 * reports FULL, every value reads back, and the allocator accounts for
 * every byte afterwards (check finds no leak).
 */
static void test_var_churn(void **state)
{
	(void)state;
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htvchurn");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 40, 1000, 512, NULL, &t), SHMAP_OK);
	enum { NK = 400 };
	static uint32_t cur[NK]; /* value length, 0 = absent */
	memset(cur, 0, sizeof cur);
	uint64_t seed = 0xc4c4;
	uint8_t k[40], v[1000], g[1000];
	uint32_t got;
	const uint32_t ops = 60000;
	for (uint32_t n = 0; n < ops; n++) {
		/* The band of value sizes drifts up and down over the run. */
		uint32_t phase = (n / 2000u) % 20u, band = phase < 10u ? phase : 19u - phase;
		uint32_t id = (uint32_t)(mem_rnd(&seed) % NK), kl = 8u + id % 33u;
		memset(k, 0, sizeof k);
		memcpy(k, &id, 4);
		if (mem_rnd(&seed) % 4u == 0) {
			int rc = shmap_htable_erase(t, k, kl);
			assert_int_equal(rc, cur[id] ? SHMAP_OK : SHMAP_E_NOTFOUND);
			cur[id] = 0;
			continue;
		}
		uint32_t vl = 1u + band * 99u + (uint32_t)(mem_rnd(&seed) % 100u);
		memset(v, (int)(id + vl), vl);
		int rc = shmap_htable_upsert(t, k, kl, v, vl);
		if (rc != SHMAP_OK)
			fail_msg("churn op %u: upsert returned %s", n, shmap_errname(rc));
		cur[id] = vl;
	}
	for (uint32_t id = 0; id < NK; id++) {
		uint32_t kl = 8u + id % 33u;
		memset(k, 0, sizeof k);
		memcpy(k, &id, 4);
		int rc = shmap_htable_get(t, k, kl, g, sizeof g, &got);
		if (!cur[id]) {
			assert_int_equal(rc, SHMAP_E_NOTFOUND);
			continue;
		}
		assert_int_equal(rc, SHMAP_OK);
		assert_int_equal(got, cur[id]);
		assert_int_equal(g[got - 1], (uint8_t)(id + got));
	}
	uint64_t problems;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	print_message("drifting-size churn: %u ops, 0 FULL, %.1f KB allocated for at most %u live entries\n", ops,
		      shm_alloc_bytes(name) / 1e3, (unsigned)NK);
	/* clear() gives every record back. */
	assert_int_equal(shmap_htable_clear(t), SHMAP_OK);
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_basic_ops, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cas, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cas_erase, fx_setup, fx_teardown),
		cmocka_unit_test(test_get_fast8),
		cmocka_unit_test(test_get_many),
		cmocka_unit_test_setup_teardown(test_update, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update_out, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update_out_wide, fx_setup_wide, fx_teardown),
		cmocka_unit_test_setup_teardown(test_update_keep, fx_setup, fx_teardown),
		cmocka_unit_test(test_update_keep_full),
		cmocka_unit_test_setup_teardown(test_bad_input, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_params, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_iterate, fx_setup, fx_teardown),
		cmocka_unit_test(test_full),
		cmocka_unit_test_setup_teardown(test_wide, fx_setup_wide, fx_teardown),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_memory_ratio),
		cmocka_unit_test(test_var_churn),
		cmocka_unit_test_setup_teardown(test_check_stale_lock, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_recover_lock, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_forked, fx_setup, fx_teardown),
		cmocka_unit_test(test_memfd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
