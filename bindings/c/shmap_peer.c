/* SPDX-License-Identifier: MIT */
/*
 * shmap_peer.c - the C side of the binding tests' cross-process checks.
 *
 * Every binding test suite runs this program as a separate process on a
 * segment the language side opened (or will open), so the data really
 * crosses a process boundary and the C ABI. The data pattern is shared by
 * all languages (see bindings/README.md, "Test data"):
 *
 *   key(i)       = "key-<i>" (decimal, no padding)
 *   value(i, vm) = 1 + (i * 7919) % vm bytes, byte j = (i * 131 + j * 17 + 7) & 0xff
 *   elem(i, es)  = es bytes: u64 little-endian i, then byte j (8 <= j < es)
 *                  = (i + j * 29 + 3) & 0xff
 *
 * Usage:
 *   shmap_peer table-write  NAME N     upsert key(i) -> value(i) for i < N
 *   shmap_peer table-verify NAME N     every key(i) maps to value(i)
 *   shmap_peer table-cas-erase NAME N  for every key(i): compare-and-erase with a
 *                                      wrong value must be refused, with value(i)
 *                                      must erase it
 *   shmap_peer ring-push    NAME N     producer: push elem(0..N-1), waiting
 *   shmap_peer ring-pop     NAME N     consumer: pop N elements, in order
 *   shmap_peer ring-observe NAME N     observer (no role): read_at(0..N-1) equal
 *                                      elem(i) without consuming; pop refused;
 *                                      exactly one live consumer attached
 *   shmap_peer vector-push  NAME N     push elem(0..N-1)
 *   shmap_peer vector-verify NAME N    elements 0..N-1 equal elem(i)
 *
 * Segments are opened with SHMAP_OPEN and 0 parameters (accept what is
 * stored). Exit status 0 on success; the first mismatch is printed on stderr.
 */
#include <shmap/shmap.h>
#include <shmap/htable.h>
#include <shmap/ring.h>
#include <shmap/vector.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 20000u

static int fail(const char *what, int rc)
{
	fprintf(stderr, "shmap_peer: %s: %s (%s)\n", what, shmap_strerror(rc), shmap_errname(rc));
	return 1;
}

static uint32_t value_len(uint64_t i, uint32_t vmax)
{
	return 1u + (uint32_t)((i * 7919u) % vmax);
}

static void value_fill(uint64_t i, uint8_t *buf, uint32_t len)
{
	for (uint32_t j = 0; j < len; j++)
		buf[j] = (uint8_t)((i * 131u + j * 17u + 7u) & 0xffu);
}

static void elem_fill(uint64_t i, uint8_t *buf, uint32_t es)
{
	for (uint32_t j = 0; j < 8 && j < es; j++)
		buf[j] = (uint8_t)(i >> (8 * j));
	for (uint32_t j = 8; j < es; j++)
		buf[j] = (uint8_t)((i + j * 29u + 3u) & 0xffu);
}

enum { T_WRITE, T_VERIFY, T_CAS_ERASE };

static int table_cmd(const char *name, uint64_t n, int mode)
{
	shmap_htable *t = NULL;
	int rc = shmap_htable_open(name, SHMAP_OPEN, 0, 0, 0, NULL, &t);
	if (rc < 0)
		return fail("shmap_htable_open", rc);
	uint32_t vmax = shmap_htable_value_max(t);
	uint8_t *want = malloc(vmax), *got = malloc(vmax);
	int ret = 0;
	if (!want || !got) {
		ret = fail("malloc", SHMAP_E_NOMEM);
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		char key[32];
		int klen = snprintf(key, sizeof(key), "key-%llu", (unsigned long long)i);
		uint32_t len = value_len(i, vmax);
		value_fill(i, want, len);
		if (mode == T_WRITE) {
			rc = shmap_htable_upsert(t, key, (uint32_t)klen, want, len);
			if (rc < 0) {
				ret = fail("shmap_htable_upsert", rc);
				goto out;
			}
			continue;
		}
		if (mode == T_CAS_ERASE) {
			want[len - 1] ^= 0xffu;
			rc = shmap_htable_cas_erase(t, key, (uint32_t)klen, want, len);
			want[len - 1] ^= 0xffu;
			if (rc != SHMAP_E_MISMATCH) {
				fprintf(stderr, "shmap_peer: key %s, wrong expected value: ", key);
				ret = fail("shmap_htable_cas_erase", rc);
				goto out;
			}
			rc = shmap_htable_cas_erase(t, key, (uint32_t)klen, want, len);
			if (rc < 0) {
				fprintf(stderr, "shmap_peer: key %s: ", key);
				ret = fail("shmap_htable_cas_erase", rc);
				goto out;
			}
			uint32_t glen = 0;
			rc = shmap_htable_get(t, key, (uint32_t)klen, got, vmax, &glen);
			if (rc != SHMAP_E_NOTFOUND) {
				fprintf(stderr, "shmap_peer: key %s still there after erase: ", key);
				ret = fail("shmap_htable_get", rc);
				goto out;
			}
			continue;
		}
		uint32_t glen = 0;
		rc = shmap_htable_get(t, key, (uint32_t)klen, got, vmax, &glen);
		if (rc < 0) {
			fprintf(stderr, "shmap_peer: key %s: ", key);
			ret = fail("shmap_htable_get", rc);
			goto out;
		}
		if (glen != len || memcmp(got, want, len) != 0) {
			fprintf(stderr, "shmap_peer: key %s: wrong value (len %u, want %u)\n", key,
				glen, len);
			ret = 1;
			goto out;
		}
	}
out:
	free(want);
	free(got);
	shmap_htable_close(t);
	return ret;
}

static int ring_cmd(const char *name, uint64_t n, uint32_t role)
{
	shmap_ring *r = NULL;
	int producer = role == SHMAP_RING_PRODUCER;
	int rc = shmap_ring_open(name, SHMAP_OPEN, 0, 0, 0, role, NULL, &r);
	if (rc < 0)
		return fail("shmap_ring_open", rc);
	uint32_t es = shmap_ring_elem_size(r);
	uint8_t *want = malloc(es), *got = malloc(es);
	int ret = 0;
	if (!want || !got || es < 8) {
		ret = fail("elem buffer (elem_size must be >= 8)", SHMAP_E_INVAL);
		goto out;
	}
	if (role == SHMAP_RING_OBSERVER) {
		uint32_t live = shmap_ring_consumers(r);
		if (shmap_ring_role(r) != SHMAP_RING_OBSERVER || live != 1) {
			fprintf(stderr, "shmap_peer: observer: role %u, %u consumers (want 1)\n",
				shmap_ring_role(r), live);
			ret = 1;
			goto out;
		}
		rc = shmap_ring_pop(r, got);
		if (rc != SHMAP_E_NOTATTACHED) {
			ret = fail("observer pop (want SHMAP_E_NOTATTACHED)", rc);
			goto out;
		}
	}
	for (uint64_t i = 0; i < n; i++) {
		elem_fill(i, want, es);
		if (role == SHMAP_RING_OBSERVER) {
			rc = shmap_ring_read_at(r, i, got);
			if (rc < 0) {
				fprintf(stderr, "shmap_peer: position %llu: ", (unsigned long long)i);
				ret = fail("shmap_ring_read_at", rc);
				goto out;
			}
			if (memcmp(got, want, es) != 0) {
				fprintf(stderr, "shmap_peer: position %llu differs\n",
					(unsigned long long)i);
				ret = 1;
				goto out;
			}
			continue;
		}
		if (producer) {
			rc = shmap_ring_push_wait(r, want, WAIT_MS);
			if (rc < 0) {
				ret = fail("shmap_ring_push_wait", rc);
				goto out;
			}
			continue;
		}
		rc = shmap_ring_pop_wait(r, got, WAIT_MS);
		if (rc < 0) {
			fprintf(stderr, "shmap_peer: element %llu: ", (unsigned long long)i);
			ret = fail("shmap_ring_pop_wait", rc);
			goto out;
		}
		if (memcmp(got, want, es) != 0) {
			fprintf(stderr, "shmap_peer: element %llu differs\n", (unsigned long long)i);
			ret = 1;
			goto out;
		}
	}
out:
	free(want);
	free(got);
	shmap_ring_close(r);
	return ret;
}

static int vector_cmd(const char *name, uint64_t n, int verify)
{
	shmap_vector *v = NULL;
	int rc = shmap_vector_open(name, SHMAP_OPEN, 0, 0, NULL, &v);
	if (rc < 0)
		return fail("shmap_vector_open", rc);
	uint32_t es = shmap_vector_elem_size(v);
	uint8_t *want = malloc(es), *got = malloc(es);
	int ret = 0;
	if (!want || !got || es < 8) {
		ret = fail("elem buffer (elem_size must be >= 8)", SHMAP_E_INVAL);
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		elem_fill(i, want, es);
		if (!verify) {
			uint64_t idx = 0;
			rc = shmap_vector_push(v, want, &idx);
			if (rc < 0) {
				ret = fail("shmap_vector_push", rc);
				goto out;
			}
			continue;
		}
		rc = shmap_vector_get(v, i, got);
		if (rc < 0) {
			fprintf(stderr, "shmap_peer: index %llu: ", (unsigned long long)i);
			ret = fail("shmap_vector_get", rc);
			goto out;
		}
		if (memcmp(got, want, es) != 0) {
			fprintf(stderr, "shmap_peer: index %llu differs\n", (unsigned long long)i);
			ret = 1;
			goto out;
		}
	}
out:
	free(want);
	free(got);
	shmap_vector_close(v);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: shmap_peer COMMAND NAME N\n");
		return 2;
	}
	const char *cmd = argv[1], *name = argv[2];
	uint64_t n = strtoull(argv[3], NULL, 10);
	if (strcmp(cmd, "table-write") == 0)
		return table_cmd(name, n, T_WRITE);
	if (strcmp(cmd, "table-verify") == 0)
		return table_cmd(name, n, T_VERIFY);
	if (strcmp(cmd, "table-cas-erase") == 0)
		return table_cmd(name, n, T_CAS_ERASE);
	if (strcmp(cmd, "ring-push") == 0)
		return ring_cmd(name, n, SHMAP_RING_PRODUCER);
	if (strcmp(cmd, "ring-pop") == 0)
		return ring_cmd(name, n, SHMAP_RING_CONSUMER);
	if (strcmp(cmd, "ring-observe") == 0)
		return ring_cmd(name, n, SHMAP_RING_OBSERVER);
	if (strcmp(cmd, "vector-push") == 0)
		return vector_cmd(name, n, 0);
	if (strcmp(cmd, "vector-verify") == 0)
		return vector_cmd(name, n, 1);
	fprintf(stderr, "shmap_peer: unknown command %s\n", cmd);
	return 2;
}
