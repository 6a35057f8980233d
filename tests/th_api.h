/* SPDX-License-Identifier: MIT */
/*
 * th_api.h - short forms of the tests.
 *
 * th_ring_open() and th_ring_open_rec() take max_consumers as an argument
 * and set it in the options
 * (shmap_opts_set_max_consumers()) and open. With opts NULL they use an
 * options object of their own; a caller's options get max_consumers for the
 * open and are left unset again afterwards. max_consumers 0 leaves it unset.
 */
#ifndef SHMAP_TEST_TH_API_H
#define SHMAP_TEST_TH_API_H

#include <shmap/shmap.h>

typedef int (*th_ring_open_fn)(const char *, uint32_t, uint32_t, uint32_t, uint64_t, uint32_t,
			       const shmap_opts *, shmap_ring **);

static inline int th_ring_open_via(th_ring_open_fn fn, const char *name, uint32_t oflags, uint32_t type,
				   uint32_t size, uint64_t capacity, uint32_t max_consumers, uint32_t role,
				   shmap_opts *opts, shmap_ring **ret)
{
	shmap_opts *own = NULL, *o = opts;
	if (max_consumers == 0)
		return fn(name, oflags, type, size, capacity, role, opts, ret);
	if (!o) {
		int rc = shmap_opts_new(&own);
		if (rc)
			return rc;
		o = own;
	}
	int rc = shmap_opts_set_max_consumers(o, max_consumers);
	if (rc == SHMAP_OK)
		rc = fn(name, oflags, type, size, capacity, role, o, ret);
	if (own)
		shmap_opts_free(own);
	else
		(void)shmap_opts_set_max_consumers(o, 0);
	return rc;
}

static inline int th_ring_open(const char *name, uint32_t oflags, uint32_t type, uint32_t elem_size,
			       uint64_t capacity, uint32_t max_consumers, uint32_t role, shmap_opts *opts,
			       shmap_ring **ret)
{
	return th_ring_open_via(shmap_ring_open, name, oflags, type, elem_size, capacity, max_consumers, role,
				opts, ret);
}

static inline int th_ring_open_rec(const char *name, uint32_t oflags, uint32_t type, uint32_t max_record,
				   uint64_t capacity, uint32_t max_consumers, uint32_t role, shmap_opts *opts,
				   shmap_ring **ret)
{
	return th_ring_open_via(shmap_ring_open_rec, name, oflags, type, max_record, capacity, max_consumers,
				role, opts, ret);
}

/*
 * Statistics into separate variables (each pointer may be NULL), through the
 * statistics structs of the public API. The structs' own rules (size
 * handling) are tested in test_api.c.
 */
static inline int th_htable_stats(const shmap_htable *t, uint64_t *live, uint64_t *tombstones,
				  uint64_t *longest_probe)
{
	shmap_htable_stats_t st = { .size = sizeof(st) };
	int rc = shmap_htable_stats(t, &st);
	if (rc == SHMAP_OK) {
		if (live)
			*live = st.live;
		if (tombstones)
			*tombstones = st.tombstones;
		if (longest_probe)
			*longest_probe = st.longest_probe;
	}
	return rc;
}

static inline int th_ring_stats(const shmap_ring *r, uint64_t *head, uint64_t *tail, uint64_t *lost,
				uint32_t *producer_pid, uint32_t *producer_alive)
{
	shmap_ring_stats_t st = { .size = sizeof(st) };
	int rc = shmap_ring_stats(r, &st);
	if (rc == SHMAP_OK) {
		if (head)
			*head = st.head;
		if (tail)
			*tail = st.tail;
		if (lost)
			*lost = st.lost;
		if (producer_pid)
			*producer_pid = st.producer_pid;
		if (producer_alive)
			*producer_alive = st.producer_alive;
	}
	return rc;
}

static inline int th_ring_consumer_stats(const shmap_ring *r, uint32_t index, uint32_t *pid, uint32_t *alive,
					 uint64_t *cursor, uint64_t *missed)
{
	shmap_ring_consumer_stats_t st = { .size = sizeof(st) };
	int rc = shmap_ring_consumer_stats(r, index, &st);
	if (rc == SHMAP_OK) {
		if (pid)
			*pid = st.pid;
		if (alive)
			*alive = st.alive;
		if (cursor)
			*cursor = st.cursor;
		if (missed)
			*missed = st.missed;
	}
	return rc;
}

static inline int th_vector_stats(const shmap_vector *v, uint64_t *published, uint64_t *pending,
				  uint64_t *holes)
{
	shmap_vector_stats_t st = { .size = sizeof(st) };
	int rc = shmap_vector_stats(v, &st);
	if (rc == SHMAP_OK) {
		if (published)
			*published = st.published;
		if (pending)
			*pending = st.pending;
		if (holes)
			*holes = st.holes;
	}
	return rc;
}

#endif /* SHMAP_TEST_TH_API_H */
