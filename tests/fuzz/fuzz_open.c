/* SPDX-License-Identifier: MIT */
/*
 * fuzz_open.c - libFuzzer target: open/validate arbitrary bytes
 * (scenario 23).
 *
 * The input (after the control byte, see fuzz_common.h) becomes the whole
 * content of a memfd, which is opened through the public API
 * (SHMAP_BACKEND_MEMFD + shmap_opts_set_fd) as the selected structure kind,
 * with parameters 0 ("accept what is stored") or the fixed seed parameters.
 * When the open succeeds, a short fixed operation sequence runs on the
 * handle, then the module checker. Any crash, sanitizer report, leak or hang
 * (-timeout) is a finding; return codes are not judged here beyond "the call
 * returned".
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shmap/shmap.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fuzz_common.h"
#include "../th_api.h"

static int make_memfd(const uint8_t *data, size_t len, uint8_t ctl)
{
	int fd = memfd_create("shmap-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	memcpy(buf, data, len);
	if (len >= FZ_HDR_SIZE) {
		if (ctl & FZ_C_READY) {
			uint64_t st = fz_le64(buf + FZ_OFF_STATE);
			st = (st & ~UINT64_C(0xff)) | 2u;
			memcpy(buf + FZ_OFF_STATE, &st, sizeof(st));
		}
		if (ctl & FZ_C_FIXSUM) {
			uint64_t sum = XXH3_64bits(buf, FZ_OFF_CHECKSUM);
			memcpy(buf + FZ_OFF_CHECKSUM, &sum, sizeof(sum));
		}
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = pwrite(fd, buf + off, len - off, (off_t)off);
		if (w <= 0) {
			free(buf);
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	free(buf);
	return fd;
}

#ifdef FZ_HAVE_VECTOR
static void vector_ops(shmap_vector *v)
{
	uint8_t e[64] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t out[SHMAP_VECTOR_ELEM_MAX < 4096 ? SHMAP_VECTOR_ELEM_MAX : 4096];
	uint32_t es = shmap_vector_elem_size(v);
	uint64_t cap = shmap_vector_capacity(v);
	if (es > sizeof(e) || es > sizeof(out)) {
		/* big elements: only the calls that copy nothing */
		(void)shmap_vector_size(v);
		(void)shmap_vector_check(v, 0, NULL);
		return;
	}
	uint64_t idx;
	(void)shmap_vector_push(v, e, &idx);
	(void)shmap_vector_push(v, e, NULL);
	uint64_t first;
	if (shmap_vector_reserve(v, 2, &first) == SHMAP_OK) {
		(void)shmap_vector_write(v, first, e);
		void *p;
		if (shmap_vector_slot_ptr(v, first + 1, &p) == SHMAP_OK)
			memset(p, 0x5a, es);
		(void)shmap_vector_publish(v, first, 2);
	}
	const uint64_t probes[] = { 0, 1, 2, 3, cap - 1, cap, cap + 1, UINT64_C(1) << 31,
				    UINT64_C(1) << 32, UINT64_C(1) << 63, UINT64_MAX };
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint32_t st, ow;
		(void)shmap_vector_get(v, probes[i], out);
		(void)shmap_vector_slot_state(v, probes[i], &st, &ow);
	}
	(void)shmap_vector_replace(v, 0, e);
	(void)shmap_vector_replace(v, cap - 1, e);
	uint64_t cur = 0;
	for (int i = 0; i < 64; i++) {
		if (shmap_vector_next(v, &cur, out, &idx) != SHMAP_OK)
			break;
	}
	uint64_t a, b, c;
	(void)th_vector_stats(v, &a, &b, &c);
	(void)shmap_vector_size(v);
	(void)shmap_vector_reserved(v);
	(void)shmap_vector_holes(v);
	(void)shmap_vector_recover(v);
	(void)shmap_vector_check(v, 0, &a);
	(void)shmap_vector_check(v, SHMAP_CHECK_REPAIR, &a);
	(void)shmap_vector_push(v, e, &idx);
}
#endif

#ifdef FZ_HAVE_HTABLE
static int upd_cb(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len,
		  void *arg)
{
	(void)arg;
	if (exists && cur_len > 0) {
		memcpy(out, cur, cur_len);
		((uint8_t *)out)[0]++;
		*out_len = cur_len;
	} else {
		((uint8_t *)out)[0] = 7;
		*out_len = 1;
	}
	return SHMAP_HTABLE_COMMIT;
}

static int each_cb(const void *key, uint32_t klen, const void *val, uint32_t vlen, void *arg)
{
	(void)key;
	(void)val;
	*(uint64_t *)arg += klen + vlen;
	return 0;
}

static void htable_ops(shmap_htable *t)
{
	uint32_t km = shmap_htable_key_max(t), vm = shmap_htable_value_max(t);
	uint8_t key[8] = "key0", val[8] = "value00";
	static uint8_t out[1u << 16];
	uint32_t kl = km < 4 ? km : 4, vl = vm < 7 ? vm : 7, ol;
	(void)shmap_htable_set_timeout_ms(t, 0);
	for (int i = 0; i < 4; i++) {
		key[3] = (uint8_t)('0' + i);
		(void)shmap_htable_insert(t, key, kl, val, vl);
		(void)shmap_htable_get(t, key, kl, out, sizeof(out), &ol);
	}
	(void)shmap_htable_upsert(t, key, kl, val, vl);
	(void)shmap_htable_replace(t, key, kl, val, vl);
	(void)shmap_htable_cas(t, key, kl, val, vl, val, vl);
	(void)shmap_htable_update(t, key, kl, upd_cb, NULL);
	key[3] = '1';
	(void)shmap_htable_erase(t, key, kl);
	(void)shmap_htable_get(t, "zz", 2, out, sizeof(out), &ol);
	(void)shmap_htable_get(t, key, kl, out, 1, &ol);
	shmap_htable_cursor *c = NULL;
	if (shmap_htable_cursor_new(t, &c) == SHMAP_OK) {
		uint8_t kb[64];
		uint32_t k2;
		for (int i = 0; i < 64; i++)
			if (shmap_htable_cursor_next(c, kb, sizeof(kb), &k2, out, sizeof(out), &ol) !=
			    SHMAP_OK)
				break;
		shmap_htable_cursor_free(c);
	}
	uint64_t sum = 0, a, b, d;
	(void)shmap_htable_foreach(t, each_cb, &sum);
	(void)shmap_htable_size(t);
	(void)th_htable_stats(t, &a, &b, &d);
	(void)shmap_htable_check(t, 0, &a);
	(void)shmap_htable_check(t, SHMAP_CHECK_REPAIR, &a);
	(void)shmap_htable_upsert(t, key, kl, val, vl);
	(void)shmap_htable_clear(t);
}
#endif

#ifdef FZ_HAVE_RING
static void ring_ops(shmap_ring *r)
{
	uint32_t es = shmap_ring_elem_size(r);
	static uint8_t buf[4 * 4096];
	if (es > 4096) {
		(void)shmap_ring_size(r);
		(void)shmap_ring_check(r, 0, NULL);
		return;
	}
	memset(buf, 0x33, sizeof(buf));
	uint32_t done;
	if (shmap_ring_role(r) == SHMAP_RING_PRODUCER) {
		(void)shmap_ring_push(r, buf);
		(void)shmap_ring_push_bytes(r, buf, es);
		(void)shmap_ring_push_n(r, buf, 4, &done);
		(void)shmap_ring_push_wait(r, buf, 0);
		void *p;
		uint32_t got;
		if (shmap_ring_reserve(r, 2, &p, &got) == SHMAP_OK) {
			memset(p, 0x44, (size_t)got * es);
			(void)shmap_ring_commit(r, got);
		}
	} else {
		(void)shmap_ring_pop(r, buf);
		(void)shmap_ring_pop_bytes(r, buf, es);
		(void)shmap_ring_pop_n(r, buf, 4, &done);
		(void)shmap_ring_pop_wait(r, buf, 0);
		const void *p;
		uint32_t got;
		if (shmap_ring_peek(r, 2, &p, &got) == SHMAP_OK) {
			volatile uint8_t x = ((const uint8_t *)p)[(size_t)got * es - 1];
			(void)x;
			(void)shmap_ring_release(r, got);
		}
	}
	uint64_t h, t, l, cur, miss;
	uint32_t pid, alive;
	(void)th_ring_stats(r, &h, &t, &l, &pid, &alive);
	for (uint32_t i = 0; i < 4; i++)
		(void)th_ring_consumer_stats(r, i, &pid, &alive, &cur, &miss);
	(void)shmap_ring_size(r);
	(void)shmap_ring_missed(r);
	(void)shmap_ring_lost(r);
	(void)shmap_ring_check(r, 0, &l);
	(void)shmap_ring_check(r, SHMAP_CHECK_REPAIR, &l);
}
#endif

static void open_and_run(int fd, uint8_t ctl)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != SHMAP_OK)
		return;
	shmap_opts_set_backend(o, SHMAP_BACKEND_MEMFD);
	shmap_opts_set_fd(o, fd);
	shmap_opts_set_timeout_ms(o, 0);
	const int fixed = (ctl & FZ_C_FIXED) != 0;
	const unsigned kind = (ctl & 7u) % FZ_K_NKINDS;
	switch (kind) {
#ifdef FZ_HAVE_VECTOR
	case FZ_K_VECTOR: {
		shmap_vector *v = NULL;
		if (shmap_vector_open(NULL, SHMAP_OPEN, fixed ? FZ_VEC_ELEM : 0, fixed ? FZ_VEC_CAP : 0,
				      o, &v) >= 0) {
			vector_ops(v);
			shmap_vector *v2 = NULL;
			if ((ctl & FZ_C_TWICE) && shmap_vector_open(NULL, SHMAP_OPEN, 0, 0, o, &v2) >= 0) {
				vector_ops(v2);
				shmap_vector_close(v2);
			}
			shmap_vector_close(v);
		}
		break;
	}
#endif
#ifdef FZ_HAVE_HTABLE
	case FZ_K_HTABLE: {
		shmap_htable *t = NULL;
		if (shmap_htable_open(NULL, SHMAP_OPEN, fixed ? FZ_HT_KEY : 0, fixed ? FZ_HT_VAL : 0,
				      fixed ? FZ_HT_CAP : 0, o, &t) >= 0) {
			htable_ops(t);
			shmap_htable *t2 = NULL;
			if ((ctl & FZ_C_TWICE) && shmap_htable_open(NULL, SHMAP_OPEN, 0, 0, 0, o, &t2) >= 0) {
				htable_ops(t2);
				shmap_htable_close(t2);
			}
			shmap_htable_close(t);
		}
		break;
	}
#endif
#ifdef FZ_HAVE_RING
	case FZ_K_SPSC:
	case FZ_K_SPMC:
	case FZ_K_BCAST_LOSSY:
	case FZ_K_BCAST_RELIABLE: {
		static const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, SHMAP_RING_BCAST_LOSSY,
						  SHMAP_RING_BCAST_RELIABLE };
		uint32_t type = types[kind - FZ_K_SPSC];
		uint32_t role = (ctl & FZ_C_CONSUMER) ? SHMAP_RING_CONSUMER : SHMAP_RING_PRODUCER;
		uint32_t cons = type == SHMAP_RING_SPSC ? 1u : FZ_RING_CONS;
		shmap_ring *r = NULL;
		if (th_ring_open(NULL, SHMAP_OPEN, fixed ? type : 0, fixed ? FZ_RING_ELEM : 0,
				    fixed ? FZ_RING_CAP : 0, fixed ? cons : 0, role, o, &r) >= 0) {
			ring_ops(r);
			shmap_ring *r2 = NULL;
			uint32_t other = role == SHMAP_RING_PRODUCER ? SHMAP_RING_CONSUMER : SHMAP_RING_PRODUCER;
			if ((ctl & FZ_C_TWICE) &&
			    shmap_ring_open(NULL, SHMAP_OPEN, 0, 0, 0, other, o, &r2) >= 0) {
				ring_ops(r2);
				ring_ops(r);
				shmap_ring_close(r2);
			}
			shmap_ring_close(r);
		}
		break;
	}
#endif
	default:
		break;
	}
	shmap_opts_free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	int fd = make_memfd(data + 1, size - 1, ctl);
	if (fd < 0)
		return 0;
	open_and_run(fd, ctl);
	close(fd);
	return 0;
}
