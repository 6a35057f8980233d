/* SPDX-License-Identifier: MIT */
/*
 * wl_table.c - shmap hash table workloads.
 *
 * All use 1M keys (8-byte key, 8-byte value) in a table of capacity 2M
 * (rounded up to 2^21 slots by the table, the same slot count as the
 * baseline's), filled by the parent before the children open it. Key i is
 * bench_key(i); its value is bench_val(key), or, after an upsert, a value
 * with the same upper 32 bits and a counter below: every lookup verifies
 * that the value it got belongs to its key.
 *
 * table-get     one process, uniform random lookups that hit (the same
 *               sequence as table-baseline).
 * table-get-batch  the same lookups, 16 per shmap_htable_get_many() call
 *               (informational: no bar; shows what overlapping the misses
 *               of independent lookups buys).
 * table-get-2p  the same lookups from two processes at once (each its own
 *               sequence); ops_per_s is the total.
 * table-mixed   two processes, 90% get / 10% upsert over the same keys.
 * table-churn   two processes, each erasing and re-inserting random keys of
 *               its own half of the key set: the live set stays at 50% of
 *               capacity; an insert must never return FULL (nor EXIST) and
 *               an erase never NOTFOUND. Afterwards every key is checked.
 * table-get-var one process, uniform random lookups that hit, in a table
 *               created the way users size a cache (capacity 200k, keys up
 *               to 40 bytes, values up to 200) holding 100k entries of
 *               16-40-byte keys and 100-200-byte values.
 * table-baseline-var  its baseline: a private open-addressing table (16-byte
 *               slots: hash, pointer to a malloc'd record) holding the same
 *               entries, doing the same lookups.
 * Every table workload also reports the bytes its segment allocates
 * (st_blocks of the shm object) per live entry; the -var ones also the
 * allocated bytes over the bytes of the keys and values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <shmap/shmap.h>

#include "bench.h"

#define TAG_MASK 0xFFFFFFFF00000000ULL

static shmap_opts *topts(void)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != 0)
		return NULL;
	shmap_opts_set_flags(o, SHMAP_OPT_PREFAULT);
	shmap_opts_set_timeout_ms(o, 10000);
	return o;
}

static int table_procs(const struct bench_opts *o)
{
	(void)o;
	return 2;
}

static uint64_t ops_for(const struct bench_run *r)
{
	if (strcmp(r->wl->name, "table-churn") == 0)
		return r->o->quick ? 200000u : 2000000u;
	if (strcmp(r->wl->name, "table-mixed") == 0)
		return r->o->quick ? 500000u : 5000000u;
	return bench_table_lookups(r->o);
}

/* key and value sizes of this workload (--key-size/--value-size where it honours them) */
static uint32_t tks(const struct bench_run *r)
{
	return (r->wl->opts & BENCH_OPT_KEY_SIZE) ? bench_key_size(r->o) : 8;
}

static uint32_t tvs(const struct bench_run *r)
{
	return (r->wl->opts & BENCH_OPT_VALUE_SIZE) ? bench_value_size(r->o) : 8;
}

static int table_prepare(struct bench_run *r)
{
	const uint32_t ks = tks(r), vs = tvs(r);
	const uint64_t cap = bench_table_cap(r->o);
	r->n = ops_for(r);
	r->n2 = bench_table_keys(r->o);
	const char *what = strcmp(r->wl->name, "table-churn") == 0 ? "erase+insert pairs"
			 : strcmp(r->wl->name, "table-mixed") == 0 ? "ops (90% get, 10% upsert)"
								   : "lookups";
	bench_param_u64(r, "keys", r->n2);
	bench_param_u64(r, "capacity", cap);
	bench_param_u64(r, "key_size", ks);
	bench_param_u64(r, "value_size", vs);
	bench_param_u64(r, "procs", (uint64_t)r->nprocs);
	bench_param_u64(r, "per_proc", r->n);
	bench_param_str(r, "per_proc_is", "%s", what);
	shmap_opts *o = topts();
	shmap_htable *t = NULL;
	int rc = shmap_htable_open(r->seg[0], SHMAP_CREATE, ks, vs, cap, o, &t);
	shmap_opts_free(o);
	if (rc != 0) {
		fprintf(stderr, "shmap-bench: %s: shmap_htable_open(create, capacity %llu, %u/%u bytes): %s\n",
			r->wl->name, (unsigned long long)cap, ks, vs, shmap_strerror(rc));
		return -1;
	}
	uint8_t *kb = malloc(ks), *vb = malloc(vs);
	if (!kb || !vb) {
		free(kb);
		free(vb);
		shmap_htable_close(t);
		return -1;
	}
	if (r->n2 > BENCH_TABLE_KEYS)
		fprintf(stderr, "(filling %llu keys) ", (unsigned long long)r->n2);
	for (uint64_t i = 0; i < r->n2; i++) {
		uint64_t k = bench_key(i), v = bench_val(k);
		if (ks == 8 && vs == 8) {
			rc = shmap_htable_insert(t, &k, 8, &v, 8);
		} else {
			bench_key_bytes(kb, ks, k);
			bench_val_bytes(vb, vs, k);
			rc = shmap_htable_insert(t, kb, ks, vb, vs);
		}
		if (rc != 0) {
			fprintf(stderr, "shmap-bench: %s: fill: insert of key %llu: %s\n", r->wl->name,
				(unsigned long long)i, shmap_strerror(rc));
			free(kb);
			free(vb);
			shmap_htable_close(t);
			return -1;
		}
	}
	free(kb);
	free(vb);
	if (shmap_htable_size(t) != r->n2) {
		fprintf(stderr, "shmap-bench: %s: fill: size %llu, expected %llu\n", r->wl->name,
			(unsigned long long)shmap_htable_size(t), (unsigned long long)r->n2);
		shmap_htable_close(t);
		return -1;
	}
	shmap_htable_close(t);
	return 0;
}

static void table_cleanup(struct bench_run *r)
{
	shmap_unlink(r->seg[0], NULL);
}

static int table_attach(struct bench_run *r, shmap_htable **t)
{
	shmap_opts *o = topts();
	int rc = shmap_htable_open(r->seg[0], SHMAP_OPEN, 0, 0, 0, o, t);
	shmap_opts_free(o);
	if (rc != 0)
		return bench_fail(r, "shmap_htable_open: %s", shmap_strerror(rc));
	return 0;
}

/* table-get and table-get-2p with keys or values of other sizes than 8 */
static int get_var_child(struct bench_run *r, int idx, shmap_htable *t)
{
	const uint32_t ks = tks(r), vs = tvs(r);
	uint8_t *kb = malloc(ks), *vb = malloc(vs);
	if (!kb || !vb)
		return bench_fail(r, "out of memory");
	uint64_t rng = BENCH_TABLE_LOOKUP_SEED + (uint64_t)idx;
	uint64_t checksum = 0;
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n++) {
		uint64_t k = bench_key(bench_below(&rng, r->n2));
		uint32_t vlen;
		bench_key_bytes(kb, ks, k);
		int rc = shmap_htable_get(t, kb, ks, vb, vs, &vlen);
		if (rc != 0)
			return bench_fail(r, "lookup %llu: %s", (unsigned long long)n, shmap_strerror(rc));
		if (vlen != vs || !bench_val_ok(vb, vs, k))
			return bench_fail(r, "lookup %llu: len %u, not the value of its key",
					  (unsigned long long)n, vlen);
		checksum += vb[0];
	}
	bench_stop(r);
	free(kb);
	free(vb);
	r->ctl->slot[idx].count = r->n;
	r->ctl->slot[idx].u[0] = checksum + rng;
	shmap_htable_close(t);
	return 0;
}

static int get_child(struct bench_run *r, int idx)
{
	shmap_htable *t;
	if (table_attach(r, &t))
		return 1;
	if (tks(r) != 8 || tvs(r) != 8)
		return get_var_child(r, idx, t);
	uint64_t rng = BENCH_TABLE_LOOKUP_SEED + (uint64_t)idx;
	uint64_t checksum = 0;
	int rc;
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n++) {
		/* v and vlen are written by a successful get and read only
		 * then: no stores the baseline's loop does not make either. */
		uint64_t k = bench_key(bench_below(&rng, r->n2)), v;
		uint32_t vlen;
		rc = shmap_htable_get(t, &k, 8, &v, 8, &vlen);
		if (rc != 0)
			return bench_fail(r, "lookup %llu: %s", (unsigned long long)n, shmap_strerror(rc));
		if (vlen != 8 || v != bench_val(k))
			return bench_fail(r, "lookup %llu: len %u, value %llx, expected %llx",
					  (unsigned long long)n, vlen, (unsigned long long)v,
					  (unsigned long long)bench_val(k));
		checksum += v;
	}
	bench_stop(r);
	r->ctl->slot[idx].count = r->n;
	r->ctl->slot[idx].u[0] = checksum;
	shmap_htable_close(t);
	return 0;
}

/* table-get-batch: the same lookups as table-get, 16 per shmap_htable_get_many(). */
#define TABLE_BATCH 16u

/* table-get-batch with keys or values of other sizes than 8 */
static int getmany_var_child(struct bench_run *r, int idx, shmap_htable *t)
{
	const uint32_t ks = tks(r), vs = tvs(r);
	uint8_t *kb = malloc((size_t)ks * TABLE_BATCH), *vb = malloc((size_t)vs * TABLE_BATCH);
	uint64_t keys[TABLE_BATCH], checksum = 0, rng = BENCH_TABLE_LOOKUP_SEED + (uint64_t)idx;
	uint32_t lens[TABLE_BATCH];
	int rcs[TABLE_BATCH];
	if (!kb || !vb)
		return bench_fail(r, "out of memory");
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n += TABLE_BATCH) {
		uint32_t m = r->n - n < TABLE_BATCH ? (uint32_t)(r->n - n) : TABLE_BATCH;
		for (uint32_t j = 0; j < m; j++) {
			keys[j] = bench_key(bench_below(&rng, r->n2));
			bench_key_bytes(kb + (size_t)j * ks, ks, keys[j]);
		}
		int got = shmap_htable_get_many(t, m, kb, ks, NULL, vb, vs, lens, rcs);
		if (got != (int)m)
			return bench_fail(r, "get_many at lookup %llu: %d of %u found", (unsigned long long)n,
					  got, m);
		for (uint32_t j = 0; j < m; j++) {
			if (rcs[j] != 0 || lens[j] != vs || !bench_val_ok(vb + (size_t)j * vs, vs, keys[j]))
				return bench_fail(r, "lookup %llu: not the value of its key",
						  (unsigned long long)(n + j));
			checksum += vb[(size_t)j * vs];
		}
	}
	bench_stop(r);
	free(kb);
	free(vb);
	r->ctl->slot[idx].count = r->n;
	r->ctl->slot[idx].u[0] = checksum;
	shmap_htable_close(t);
	return 0;
}

static int getmany_child(struct bench_run *r, int idx)
{
	shmap_htable *t;
	if (table_attach(r, &t))
		return 1;
	if (tks(r) != 8 || tvs(r) != 8)
		return getmany_var_child(r, idx, t);
	uint64_t rng = BENCH_TABLE_LOOKUP_SEED + (uint64_t)idx;
	uint64_t checksum = 0, keys[TABLE_BATCH], vals[TABLE_BATCH];
	uint32_t lens[TABLE_BATCH];
	int rcs[TABLE_BATCH];
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n += TABLE_BATCH) {
		uint32_t m = r->n - n < TABLE_BATCH ? (uint32_t)(r->n - n) : TABLE_BATCH;
		for (uint32_t j = 0; j < m; j++)
			keys[j] = bench_key(bench_below(&rng, r->n2));
		int got = shmap_htable_get_many(t, m, keys, 8, NULL, vals, 8, lens, rcs);
		if (got != (int)m)
			return bench_fail(r, "get_many at lookup %llu: %d of %u found (%s)", (unsigned long long)n,
					  got, m, got < 0 ? shmap_strerror(got) : "missing keys");
		for (uint32_t j = 0; j < m; j++) {
			if (rcs[j] != 0 || lens[j] != 8 || vals[j] != bench_val(keys[j]))
				return bench_fail(r, "lookup %llu: rc %s, len %u, value %llx, expected %llx",
						  (unsigned long long)(n + j), shmap_strerror(rcs[j]), lens[j],
						  (unsigned long long)vals[j],
						  (unsigned long long)bench_val(keys[j]));
			checksum += vals[j];
		}
	}
	bench_stop(r);
	r->ctl->slot[idx].count = r->n;
	r->ctl->slot[idx].u[0] = checksum;
	shmap_htable_close(t);
	return 0;
}

static int mixed_child(struct bench_run *r, int idx)
{
	shmap_htable *t;
	if (table_attach(r, &t))
		return 1;
	uint64_t rng = BENCH_TABLE_LOOKUP_SEED * 3 + (uint64_t)idx;
	uint64_t gets = 0, ups = 0;
	int rc;
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n++) {
		uint64_t k = bench_key(bench_below(&rng, r->n2)), v = 0;
		uint64_t tag = bench_val(k) & TAG_MASK;
		if (bench_below(&rng, 10) == 0) {
			v = tag | ((uint64_t)idx << 31) | (n & 0x7FFFFFFF);
			rc = shmap_htable_upsert(t, &k, 8, &v, 8);
			if (rc != 0)
				return bench_fail(r, "upsert %llu: %s", (unsigned long long)n,
						  shmap_strerror(rc));
			ups++;
		} else {
			uint32_t vlen = 0;
			rc = shmap_htable_get(t, &k, 8, &v, 8, &vlen);
			if (rc != 0 || vlen != 8 || (v & TAG_MASK) != tag)
				return bench_fail(r, "get %llu: rc %s, len %u, value %llx not of this key",
						  (unsigned long long)n, shmap_strerror(rc), vlen,
						  (unsigned long long)v);
			gets++;
		}
	}
	bench_stop(r);
	r->ctl->slot[idx].count = gets + ups;
	r->ctl->slot[idx].u[0] = ups;
	shmap_htable_close(t);
	return 0;
}

static int churn_child(struct bench_run *r, int idx)
{
	shmap_htable *t;
	if (table_attach(r, &t))
		return 1;
	/* process idx owns the keys i with i % nprocs == idx */
	const uint64_t np = (uint64_t)r->nprocs, mine = (r->n2 - (uint64_t)idx + np - 1) / np;
	uint64_t rng = BENCH_TABLE_LOOKUP_SEED * 7 + (uint64_t)idx;
	int rc;
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n++) {
		uint64_t i = bench_below(&rng, mine) * np + (uint64_t)idx;
		uint64_t k = bench_key(i);
		uint64_t v = (bench_val(k) & TAG_MASK) | (n & 0xFFFFFFFF);
		rc = shmap_htable_erase(t, &k, 8);
		if (rc != 0)
			return bench_fail(r, "erase of an owned key (op %llu): %s",
					  (unsigned long long)n, shmap_strerror(rc));
		rc = shmap_htable_insert(t, &k, 8, &v, 8);
		if (rc != 0)
			return bench_fail(r, "insert after erase (op %llu, live load 50%%): %s",
					  (unsigned long long)n, shmap_strerror(rc));
	}
	bench_stop(r);
	/* verify every owned key, untimed */
	for (uint64_t i = (uint64_t)idx; i < r->n2; i += np) {
		uint64_t k = bench_key(i), v = 0;
		uint32_t vlen = 0;
		rc = shmap_htable_get(t, &k, 8, &v, 8, &vlen);
		if (rc != 0 || vlen != 8 || (v & TAG_MASK) != (bench_val(k) & TAG_MASK))
			return bench_fail(r, "after churn, key %llu: rc %s, value %llx",
					  (unsigned long long)i, shmap_strerror(rc),
					  (unsigned long long)v);
	}
	r->ctl->slot[idx].count = 2 * r->n;
	r->ctl->slot[idx].u[0] = shmap_htable_size(t);
	shmap_htable_close(t);
	return 0;
}

/* Bytes the segment `name` (POSIX shm) allocates; 0 if unknown. */
static double seg_alloc_bytes(const char *name)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof path, "/dev/shm%s", name);
	return stat(path, &st) == 0 ? (double)st.st_blocks * 512.0 : 0.0;
}

static int table_finish(struct bench_run *r)
{
	uint64_t total = 0;
	for (int i = 0; i < r->nprocs; i++)
		total += r->ctl->slot[i].count;
	uint64_t want = (uint64_t)r->nprocs * r->n * (strcmp(r->wl->name, "table-churn") ? 1 : 2);
	if (total != want)
		return bench_fail(r, "%llu operations done, expected %llu", (unsigned long long)total,
				  (unsigned long long)want);
	if (r->nprocs >= 2 && strcmp(r->wl->name, "table-get-2p") == 0 &&
	    r->ctl->slot[0].u[0] == r->ctl->slot[1].u[0])
		return bench_fail(r, "both processes did the same lookups");
	if (strcmp(r->wl->name, "table-churn") == 0)
		for (int i = 0; i < r->nprocs; i++)
			if (r->ctl->slot[i].u[0] != r->n2)
				return bench_fail(r, "table holds %llu keys after churn, expected %llu",
						  (unsigned long long)r->ctl->slot[i].u[0],
						  (unsigned long long)r->n2);
	bench_metric(r, "ops_per_s", (double)total / bench_span_s(r, 0, r->nprocs));
	bench_metric(r, "bytes_per_entry", seg_alloc_bytes(r->seg[0]) / (double)r->n2);
	return 0;
}

/* ---- varied sizes: table-get-var, table-baseline-var ---- */

#define VAR_KEYS 100000u
#define VAR_CAP 200000u
#define VAR_KMAX 40u
#define VAR_VMAX 200u

/* Entry i: a 16-40-byte key starting with bench_key(i), a 100-200-byte value
 * whose bytes derive from i. */
static void var_entry(uint64_t i, uint8_t *key, uint32_t *kl, uint8_t *val, uint32_t *vl)
{
	uint64_t k = bench_key(i), h = k * 0x9E3779B97F4A7C15ULL;
	*kl = 16u + (uint32_t)(h % 25u);
	*vl = 100u + (uint32_t)((h >> 16) % 101u);
	memset(key, (int)(k >> 56) | 1, *kl);
	memcpy(key, &k, 8);
	if (val) {
		memset(val, (int)(i & 0xff), *vl);
		memcpy(val, &k, 8);
	}
}

static uint64_t var_data_bytes(void)
{
	uint8_t key[VAR_KMAX];
	uint32_t kl, vl;
	uint64_t sum = 0;
	for (uint64_t i = 0; i < VAR_KEYS; i++) {
		var_entry(i, key, &kl, NULL, &vl);
		sum += kl + vl;
	}
	return sum;
}

static int var_prepare(struct bench_run *r)
{
	r->n = bench_table_lookups(r->o);
	r->n2 = VAR_KEYS;
	bench_param_u64(r, "keys", VAR_KEYS);
	bench_param_u64(r, "capacity", VAR_CAP);
	bench_param_str(r, "key_size", "16-40");
	bench_param_str(r, "value_size", "100-200");
	bench_param_u64(r, "key_max", VAR_KMAX);
	bench_param_u64(r, "value_max", VAR_VMAX);
	bench_param_u64(r, "procs", 1);
	bench_param_u64(r, "per_proc", r->n);
	bench_param_str(r, "per_proc_is", "lookups");
	if (strcmp(r->wl->name, "table-baseline-var") == 0)
		return 0; /* the child builds its private table */
	shmap_opts *o = topts();
	shmap_htable *t = NULL;
	int rc = shmap_htable_open(r->seg[0], SHMAP_CREATE, VAR_KMAX, VAR_VMAX, VAR_CAP, o, &t);
	shmap_opts_free(o);
	if (rc != 0) {
		fprintf(stderr, "shmap-bench: %s: shmap_htable_open(create): %s\n", r->wl->name, shmap_strerror(rc));
		return -1;
	}
	uint8_t key[VAR_KMAX], val[VAR_VMAX];
	uint32_t kl, vl;
	for (uint64_t i = 0; i < r->n2; i++) {
		var_entry(i, key, &kl, val, &vl);
		rc = shmap_htable_insert(t, key, kl, val, vl);
		if (rc != 0) {
			fprintf(stderr, "shmap-bench: %s: fill: insert of key %llu: %s\n", r->wl->name,
				(unsigned long long)i, shmap_strerror(rc));
			shmap_htable_close(t);
			return -1;
		}
	}
	shmap_htable_close(t);
	return 0;
}

static int var_child(struct bench_run *r, int idx)
{
	shmap_htable *t;
	if (table_attach(r, &t))
		return 1;
	uint64_t rng = BENCH_TABLE_LOOKUP_SEED + (uint64_t)idx, checksum = 0;
	uint8_t key[VAR_KMAX], val[VAR_VMAX];
	uint32_t kl, vl, got;
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n++) {
		uint64_t i = bench_below(&rng, r->n2), k;
		var_entry(i, key, &kl, NULL, &vl);
		int rc = shmap_htable_get(t, key, kl, val, sizeof val, &got);
		memcpy(&k, val, 8);
		if (rc != 0 || got != vl || k != bench_key(i))
			return bench_fail(r, "lookup %llu: %s, len %u (expected %u)", (unsigned long long)n,
					  shmap_strerror(rc), got, vl);
		checksum += val[got - 1];
	}
	bench_stop(r);
	r->ctl->slot[idx].count = r->n;
	r->ctl->slot[idx].u[0] = checksum;
	shmap_htable_close(t);
	return 0;
}

/* The baseline: slots of (hash, record pointer), linear probing, records
 * [u32 klen][u32 vlen][key][value] from malloc. */
struct var_slot {
	uint64_t hash;
	uint8_t *rec;
};

static int var_base_child(struct bench_run *r, int idx)
{
	const uint64_t cap = 262144u, mask = cap - 1u, seed = 0x5eedULL;
	struct var_slot *tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return bench_fail(r, "out of memory");
	uint8_t key[VAR_KMAX], val[VAR_VMAX];
	uint32_t kl, vl;
	for (uint64_t i = 0; i < r->n2; i++) {
		var_entry(i, key, &kl, val, &vl);
		uint8_t *rec = malloc(8u + kl + vl);
		if (!rec)
			return bench_fail(r, "out of memory");
		memcpy(rec, &kl, 4);
		memcpy(rec + 4, &vl, 4);
		memcpy(rec + 8, key, kl);
		memcpy(rec + 8 + kl, val, vl);
		uint64_t h = XXH3_64bits_withSeed(key, kl, seed), p = h & mask;
		while (tab[p].rec)
			p = (p + 1) & mask;
		tab[p] = (struct var_slot){ h, rec };
	}
	uint64_t rng = BENCH_TABLE_LOOKUP_SEED + (uint64_t)idx, checksum = 0, bad = 0;
	bench_start(r);
	for (uint64_t n = 0; n < r->n; n++) {
		uint64_t i = bench_below(&rng, r->n2), k = 0;
		var_entry(i, key, &kl, NULL, &vl);
		uint64_t h = XXH3_64bits_withSeed(key, kl, seed), p = h & mask;
		uint32_t got = 0;
		for (uint64_t probes = 0; probes < cap && tab[p].rec; probes++, p = (p + 1) & mask) {
			uint32_t skl;
			memcpy(&skl, tab[p].rec, 4);
			if (tab[p].hash == h && skl == kl && memcmp(tab[p].rec + 8, key, kl) == 0) {
				memcpy(&got, tab[p].rec + 4, 4);
				memcpy(val, tab[p].rec + 8 + kl, got);
				break;
			}
		}
		memcpy(&k, val, 8);
		bad += got != vl || k != bench_key(i);
		checksum += val[got ? got - 1 : 0];
	}
	bench_stop(r);
	for (uint64_t p = 0; p < cap; p++)
		free(tab[p].rec);
	free(tab);
	if (bad)
		return bench_fail(r, "%llu lookups returned a wrong value", (unsigned long long)bad);
	r->ctl->slot[idx].count = r->n;
	r->ctl->slot[idx].u[0] = checksum;
	return 0;
}

static int var_finish(struct bench_run *r)
{
	if (r->ctl->slot[0].count != r->n)
		return bench_fail(r, "lookup count mismatch");
	bench_metric(r, "ops_per_s", (double)r->n / bench_span_s(r, 0, 1));
	if (strcmp(r->wl->name, "table-get-var") == 0) {
		const double alloc = seg_alloc_bytes(r->seg[0]);
		bench_metric(r, "bytes_per_entry", alloc / (double)r->n2);
		bench_metric(r, "alloc_over_data", alloc / (double)var_data_bytes());
	} else {
		/* What the keys and values alone take: the memory baseline. */
		bench_metric(r, "bytes_per_entry", (double)var_data_bytes() / (double)r->n2);
	}
	return 0;
}

/* the options each table workload honours (the 8/8 ones keep 8-byte keys and
 * values: their checks live in the value's 8 bytes) */
#define TABLE_OPTS_8 (BENCH_OPT_KEYS | BENCH_OPT_CAPACITY)
#define TABLE_OPTS_ALL (TABLE_OPTS_8 | BENCH_OPT_KEY_SIZE | BENCH_OPT_VALUE_SIZE)

const struct bench_wl bench_wl_table[] = {
	{ .name = "table-get", .group = "table", .cross = 0, .nprocs = bench_one_proc,
	  .prepare = table_prepare, .child = get_child, .finish = table_finish,
	  .cleanup = table_cleanup, .opts = TABLE_OPTS_ALL },
	{ .name = "table-get", .variant = "batch", .group = "table", .cross = 0, .nprocs = bench_one_proc,
	  .prepare = table_prepare, .child = getmany_child, .finish = table_finish,
	  .cleanup = table_cleanup, .opts = TABLE_OPTS_ALL },
	{ .name = "table-get-2p", .group = "table", .cross = 1, .nprocs = table_procs,
	  .prepare = table_prepare, .child = get_child, .finish = table_finish,
	  .cleanup = table_cleanup, .opts = TABLE_OPTS_ALL },
	{ .name = "table-mixed", .group = "table", .cross = 1, .nprocs = table_procs,
	  .prepare = table_prepare, .child = mixed_child, .finish = table_finish,
	  .cleanup = table_cleanup, .opts = TABLE_OPTS_8 },
	{ .name = "table-churn", .group = "table", .cross = 1, .nprocs = table_procs,
	  .prepare = table_prepare, .child = churn_child, .finish = table_finish,
	  .cleanup = table_cleanup, .opts = TABLE_OPTS_8 },
	{ .name = "table-baseline-var", .group = "table", .cross = 0, .nprocs = bench_one_proc,
	  .prepare = var_prepare, .child = var_base_child, .finish = var_finish },
	{ .name = "table-get-var", .group = "table", .cross = 0, .nprocs = bench_one_proc,
	  .prepare = var_prepare, .child = var_child, .finish = var_finish, .cleanup = table_cleanup },
	{ 0 }
};
