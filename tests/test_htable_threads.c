/* SPDX-License-Identifier: MIT */
/*
 * test_htable_threads.c - one hash-table handle shared by threads
 * (scenario 25; run under ThreadSanitizer too).
 *
 * 8 threads, 10^5 operations each (SHMAP_SOAK: 10^6): every thread owns a
 * set of keys whose exact values it tracks, and all of them also hammer a
 * set of shared keys with upsert, erase, update callbacks and
 * compare-and-swap, verifying the pattern and checksum of every value read.
 * Two of the threads also iterate with cursors and foreach.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include <shmap/shmap.h>

#include "helpers.h"
#include "htable_val.h"
#include "th_api.h"

#define NT 8u
#define OWN 16u        /* own keys per thread: ids 1000 + 16 * thread + j */
#define SHARED 32u     /* shared keys: ids 0..31 */
#define VCAP 96u
#define KMAX 24u

struct tctx {
	shmap_htable *t;
	uint32_t idx;
	uint64_t ops;
	int err;
	uint64_t upd_calls;
};

static int cb_bump(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	uint32_t *a = arg, seq = 0; /* a[0] = id, a[1] = error flag */
	if (exists && val_check(cur, cur_len, VCAP, a[0], &seq) != 0) {
		a[1] = 1;
		return SHMAP_HTABLE_ABORT;
	}
	*out_len = val_make(out, VCAP, a[0], seq + 1);
	return SHMAP_HTABLE_COMMIT;
}

static int check_entry(const void *key, uint32_t klen, const void *val, uint32_t vlen, void *arg)
{
	uint32_t id;
	memcpy(&id, key, 4);
	if (klen != key_make((uint8_t[KMAX]){ 0 }, id) || val_check(val, vlen, VCAP, id, NULL) != 0)
		++*(int *)arg;
	return 0;
}

static void *thread_main(void *arg)
{
	struct tctx *c = arg;
	uint32_t model[OWN] = { 0 }, seq = 0;
	uint8_t key[KMAX], val[VCAP], cur[VCAP];
	uint64_t rnd = 0x1234567ull * (c->idx + 1);
	for (uint64_t n = 0; n < c->ops && !c->err; n++) {
		uint64_t r = xorshift64(&rnd);
		uint32_t op = (uint32_t)(r % 16), got, q;
		int rc;
		if (op < 6) {
			/* Own key: exact model. */
			uint32_t j = (uint32_t)((r >> 8) % OWN), id = 1000 + OWN * c->idx + j;
			uint32_t kl = key_make(key, id);
			if (op == 0) {
				rc = shmap_htable_erase(c->t, key, kl);
				if (rc != (model[j] ? SHMAP_OK : SHMAP_E_NOTFOUND))
					c->err = 1;
				model[j] = 0;
			} else {
				uint32_t vl = val_make(val, VCAP, id, ++seq);
				rc = op == 1 ? shmap_htable_insert(c->t, key, kl, val, vl) :
				     shmap_htable_upsert(c->t, key, kl, val, vl);
				if (op == 1 && model[j]) {
					if (rc != SHMAP_E_EXIST)
						c->err = 2;
				} else {
					if (rc != SHMAP_OK)
						c->err = 3;
					model[j] = seq;
				}
			}
			rc = shmap_htable_get(c->t, key, kl, val, VCAP, &got);
			if (model[j] ? (rc != SHMAP_OK || val_check(val, got, VCAP, id, &q) || q != model[j]) :
				       rc != SHMAP_E_NOTFOUND)
				c->err = 4;
		} else if (op < 14) {
			/* Shared key: consistency only. */
			uint32_t id = (uint32_t)((r >> 8) % SHARED), kl = key_make(key, id);
			if (op < 9) {
				/* every other shared read through get_many() */
				if (op & 1) {
					int one = shmap_htable_get_many(c->t, 1, key, kl, NULL, val, VCAP, &got, &rc);
					if (one != (rc == SHMAP_OK))
						c->err = 5;
				} else {
					rc = shmap_htable_get(c->t, key, kl, val, VCAP, &got);
				}
				if (rc == SHMAP_OK ? val_check(val, got, VCAP, id, NULL) != 0 :
						     rc != SHMAP_E_NOTFOUND && rc != SHMAP_E_BUSY)
					c->err = 5;
			} else if (op == 9) {
				uint32_t vl = val_make(val, VCAP, id, ++seq);
				if (shmap_htable_upsert(c->t, key, kl, val, vl) != SHMAP_OK)
					c->err = 6;
			} else if (op == 10) {
				rc = shmap_htable_erase(c->t, key, kl);
				if (rc != SHMAP_OK && rc != SHMAP_E_NOTFOUND)
					c->err = 7;
			} else if (op < 13) {
				uint32_t a[2] = { id, 0 };
				rc = shmap_htable_update(c->t, key, kl, cb_bump, a);
				if (rc != SHMAP_OK || a[1])
					c->err = 8;
				c->upd_calls++;
			} else {
				rc = shmap_htable_get(c->t, key, kl, cur, VCAP, &got);
				if (rc == SHMAP_OK) {
					uint32_t vl = val_make(val, VCAP, id, ++seq);
					rc = shmap_htable_cas(c->t, key, kl, cur, got, val, vl);
					if (rc != SHMAP_OK && rc != SHMAP_E_MISMATCH && rc != SHMAP_E_NOTFOUND)
						c->err = 9;
				}
			}
		} else if (c->idx < 2 && n % 512 == 14) {
			/* Iterate: every entry consistent. */
			int bad = 0;
			if (c->idx == 0) {
				shmap_htable_cursor *cu;
				uint32_t kl, vl;
				if (shmap_htable_cursor_new(c->t, &cu) != SHMAP_OK) {
					c->err = 10;
					break;
				}
				while ((rc = shmap_htable_cursor_next(cu, key, KMAX, &kl, val, VCAP, &vl)) == SHMAP_OK)
					check_entry(key, kl, val, vl, &bad);
				shmap_htable_cursor_free(cu);
				if (rc != SHMAP_E_NOTFOUND && rc != SHMAP_E_BUSY)
					c->err = 11;
			} else {
				rc = shmap_htable_foreach(c->t, check_entry, &bad);
				if (rc != SHMAP_OK && rc != SHMAP_E_BUSY)
					c->err = 12;
			}
			if (bad)
				c->err = 13;
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	char name[96];
	shmap_htable *t;
	th_name(name, sizeof name, "htthr");
	/* 8 x 16 own + 32 shared = 160 keys in 256 buckets. */
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, KMAX, VCAP, 256, NULL, &t), SHMAP_OK);
	pthread_t th[NT];
	struct tctx ctx[NT];
	uint64_t ops = getenv("SHMAP_SOAK") ? 1000000u : 100000u;
	double t0 = th_now();
	for (uint32_t i = 0; i < NT; i++) {
		ctx[i] = (struct tctx){ .t = t, .idx = i, .ops = ops };
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &ctx[i]), 0);
	}
	uint64_t upd = 0;
	for (uint32_t i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		if (ctx[i].err)
			fail_msg("thread %u: error %d", i, ctx[i].err);
		upd += ctx[i].upd_calls;
	}
	print_message("threads: %u x %llu ops in %.2f s, %llu update callbacks, 0 inconsistencies\n", NT,
		      (unsigned long long)ops, th_now() - t0, (unsigned long long)upd);
	uint64_t problems = 1;
	assert_int_equal(shmap_htable_check(t, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	uint64_t live;
	assert_int_equal(th_htable_stats(t, &live, NULL, NULL), SHMAP_OK);
	assert_int_equal(shmap_htable_size(t), live);
	assert_int_equal(shmap_htable_clear(t), SHMAP_OK);
	assert_int_equal(shmap_htable_size(t), 0);
	shmap_htable_close(t);
	shmap_unlink(name, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
