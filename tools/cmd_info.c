/* SPDX-License-Identifier: MIT */
/* shmapctl info: header, attached processes and live state of one segment. */
#include "shmapctl.h"

/* ---- info ------------------------------------------------------------ */

/* Allocated bytes of the segment being shown (from its info snapshot). */
static uint64_t g_info_alloc;

#ifdef SHMAPCTL_HAVE_HTABLE
static int sum_entry_bytes(const void *key, uint32_t klen, const void *val, uint32_t vlen, void *arg)
{
	(void)key;
	(void)val;
	*(uint64_t *)arg += (uint64_t)klen + vlen;
	return 0;
}
#endif

static int info_state_json(struct handle *h)
{
	int rc = SHMAP_OK;
	j_key("state");
	j_open('{');
	switch (h->kind) {
#ifdef SHMAPCTL_HAVE_VECTOR
	case SHMAP_KIND_VECTOR: {
		shmap_vector_stats_t vs = { .size = sizeof(vs) };
		rc = shmap_vector_stats(h->v, &vs);
		uint64_t pub = vs.published, pend = vs.pending, holes = vs.holes;
		jk_u64("capacity", shmap_vector_capacity(h->v));
		jk_u64("elem_size", shmap_vector_elem_size(h->v));
		jk_u64("size", shmap_vector_size(h->v));
		jk_u64("reserved", shmap_vector_reserved(h->v));
		jk_u64("holes_recovered", shmap_vector_holes(h->v));
		if (rc >= 0) {
			jk_u64("published", pub);
			jk_u64("pending", pend);
			jk_u64("holes", holes);
		}
		break;
	}
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	case SHMAP_KIND_HTABLE: {
		shmap_htable_stats_t hs = { .size = sizeof(hs) };
		uint64_t cap = shmap_htable_capacity(h->t);
		rc = shmap_htable_stats(h->t, &hs);
		uint64_t live = hs.live, tomb = hs.tombstones, probe = hs.longest_probe;
		jk_u64("capacity", cap);
		jk_u64("key_max", shmap_htable_key_max(h->t));
		jk_u64("value_max", shmap_htable_value_max(h->t));
		jk_u64("size", shmap_htable_size(h->t));
		if (rc >= 0) {
			jk_u64("live", live);
			jk_u64("tombstones", tomb);
			jk_u64("longest_probe", probe);
			j_key("load");
			j_double(cap ? (double)live / (double)cap : 0.0);
		}
		uint64_t data = 0;
		if (rc >= 0)
			rc = shmap_htable_foreach(h->t, sum_entry_bytes, &data);
		if (rc >= 0) {
			jk_u64("data_bytes", data);
			jk_u64("allocated_bytes", g_info_alloc);
			j_key("overhead");
			if (data)
				j_double((double)g_info_alloc / (double)data);
			else
				j_null();
		}
		break;
	}
#endif
#ifdef SHMAPCTL_HAVE_RING
	case SHMAP_KIND_RING_SPSC:
	case SHMAP_KIND_RING_SPMC:
	case SHMAP_KIND_RING_BCAST:
	case SHMAP_KIND_RING_REC: {
		shmap_ring_stats_t rs = { .size = sizeof(rs) };
		rc = shmap_ring_stats(h->r, &rs);
		uint64_t head = rs.head, tail = rs.tail, lost = rs.lost;
		uint32_t ppid = rs.producer_pid, palive = rs.producer_alive;
		uint32_t mc = shmap_ring_max_consumers(h->r);
		jk_str("type", ring_type_name(shmap_ring_type(h->r)));
		jk_u64("capacity", shmap_ring_capacity(h->r));
		jk_u64("elem_size", shmap_ring_elem_size(h->r));
		jk_u64("max_consumers", mc);
		if (rc >= 0) {
			jk_u64("head", head);
			jk_u64("tail", tail);
			jk_u64("fill", head >= tail ? head - tail : 0);
			jk_u64("lost", lost);
			j_key("producer");
			if (ppid || palive) {
				j_open('{');
				jk_u64("pid", ppid);
				jk_bool("alive", (int)palive);
				j_close('}');
			} else {
				j_null();
			}
			j_key("consumers");
			j_open('[');
			for (uint32_t i = 0; i < mc && i < SHMAP_RING_CONSUMERS_MAX; i++) {
				shmap_ring_consumer_stats_t cs = { .size = sizeof(cs) };
				if (shmap_ring_consumer_stats(h->r, i, &cs) != SHMAP_OK)
					continue;
				uint32_t pid = cs.pid, alive = cs.alive;
				uint64_t cursor = cs.cursor, missed = cs.missed;
				j_open('{');
				jk_u64("index", i);
				jk_u64("pid", pid);
				jk_bool("alive", (int)alive);
				jk_u64("cursor", cursor);
				jk_u64("missed", missed);
				j_close('}');
			}
			j_close(']');
		}
		break;
	}
#endif
	default: rc = SHMAP_E_NOTSUP;
	}
	if (rc < 0)
		jk_err("error", rc);
	j_close('}');
	return rc;
}

static int info_state_text(struct handle *h)
{
	int rc = SHMAP_OK;
	switch (h->kind) {
#ifdef SHMAPCTL_HAVE_VECTOR
	case SHMAP_KIND_VECTOR: {
		shmap_vector_stats_t vs = { .size = sizeof(vs) };
		rc = shmap_vector_stats(h->v, &vs);
		uint64_t pub = vs.published, pend = vs.pending, holes = vs.holes;
		printf("vector    size %" PRIu64 " of %" PRIu64 " (reserved %" PRIu64
		       "), elem_size %u\n",
		       shmap_vector_size(h->v), shmap_vector_capacity(h->v),
		       shmap_vector_reserved(h->v), shmap_vector_elem_size(h->v));
		if (rc >= 0)
			printf("slots     %" PRIu64 " published, %" PRIu64 " pending, %" PRIu64
			       " holes (%" PRIu64 " recovered)\n",
			       pub, pend, holes, shmap_vector_holes(h->v));
		break;
	}
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	case SHMAP_KIND_HTABLE: {
		shmap_htable_stats_t hs = { .size = sizeof(hs) };
		uint64_t cap = shmap_htable_capacity(h->t);
		rc = shmap_htable_stats(h->t, &hs);
		uint64_t live = hs.live, tomb = hs.tombstones, probe = hs.longest_probe;
		printf("htable    %" PRIu64 " entries (counter), capacity %" PRIu64
		       ", key<=%u, value<=%u\n",
		       shmap_htable_size(h->t), cap, shmap_htable_key_max(h->t),
		       shmap_htable_value_max(h->t));
		if (rc >= 0)
			printf("scan      %" PRIu64 " live (load %.1f%%), %" PRIu64
			       " tombstones, longest probe %" PRIu64 "\n",
			       live, cap ? 100.0 * (double)live / (double)cap : 0.0, tomb, probe);
		uint64_t data = 0;
		if (rc >= 0)
			rc = shmap_htable_foreach(h->t, sum_entry_bytes, &data);
		if (rc >= 0) {
			char d[32], a[32];
			fmt_size(data, d, sizeof d);
			fmt_size(g_info_alloc, a, sizeof a);
			if (data)
				printf("memory    %s of keys and values, %s allocated: %.2fx\n", d, a,
				       (double)g_info_alloc / (double)data);
			else
				printf("memory    no entries, %s allocated\n", a);
		}
		break;
	}
#endif
#ifdef SHMAPCTL_HAVE_RING
	case SHMAP_KIND_RING_SPSC:
	case SHMAP_KIND_RING_SPMC:
	case SHMAP_KIND_RING_BCAST:
	case SHMAP_KIND_RING_REC: {
		shmap_ring_stats_t rs = { .size = sizeof(rs) };
		rc = shmap_ring_stats(h->r, &rs);
		uint64_t head = rs.head, tail = rs.tail, lost = rs.lost;
		uint32_t ppid = rs.producer_pid, palive = rs.producer_alive;
		uint32_t mc = shmap_ring_max_consumers(h->r);
		printf("ring      %s, capacity %" PRIu64 ", elem_size %u, max consumers %u\n",
		       ring_type_name(shmap_ring_type(h->r)), shmap_ring_capacity(h->r),
		       shmap_ring_elem_size(h->r), mc);
		if (rc < 0)
			break;
		printf("indices   head %" PRIu64 ", tail %" PRIu64 ", fill %" PRIu64
		       ", lost %" PRIu64 "\n",
		       head, tail, head >= tail ? head - tail : 0, lost);
		if (ppid || palive)
			printf("producer  pid %u %s\n", ppid, palive ? "alive" : "DEAD");
		else
			printf("producer  none\n");
		for (uint32_t i = 0; i < mc && i < SHMAP_RING_CONSUMERS_MAX; i++) {
			shmap_ring_consumer_stats_t cs = { .size = sizeof(cs) };
			if (shmap_ring_consumer_stats(h->r, i, &cs) != SHMAP_OK)
				continue;
			uint32_t pid = cs.pid, alive = cs.alive;
			uint64_t cursor = cs.cursor, missed = cs.missed;
			printf("consumer  #%u pid %u %s, cursor %" PRIu64 ", missed %" PRIu64 "\n",
			       i, pid, alive ? "alive" : "DEAD", cursor, missed);
		}
		break;
	}
#endif
	default: rc = SHMAP_E_NOTSUP;
	}
	if (rc < 0)
		printf("state     unavailable: %s [%s]\n", shmap_strerror(rc), shmap_errname(rc));
	return rc;
}

int cmd_info(int argc, char **argv)
{
	struct target t;
	shmap_info *in = NULL;
	int ex = open_single("info", argc, argv, &t, &in);
	if (ex != EX_OK)
		return ex;
	uint32_t kind = (uint32_t)shmap_info_field(in, SHMAP_INFO_KIND);
	g_info_alloc = shmap_info_field(in, SHMAP_INFO_ALLOC_SIZE);
	struct handle h;
	int orc = struct_open(&t, kind, &h);
	int src = orc;
	if (opt.json) {
		j_open('{');
		json_target(&t);
		jk_str("status", "ok");
		json_header(&t, in);
		json_participants(in);
		if (orc == SHMAP_OK) {
			src = info_state_json(&h);
		} else {
			j_key("state");
			j_null();
			jk_err("state_error", orc);
		}
		j_close('}');
		j_end_doc();
	} else {
		text_header(&t, in);
		if (orc == SHMAP_OK)
			src = info_state_text(&h);
		else
			printf("state     unavailable: cannot open the structure: %s [%s]\n",
			       shmap_strerror(orc), shmap_errname(orc));
		if (orc == SHMAP_E_NOTSUP && is_ring(kind))
			printf("          (this ring library has no role-less open: use --role "
			       "consumer or\n"
			       "          --role producer to attach with a role)\n");
	}
	if (orc == SHMAP_OK)
		struct_close(&h);
	shmap_info_free(in);
	target_fini(&t);
	/* The header is fine; an unreadable structure state is still a problem. */
	return src < 0 && src != SHMAP_E_NOTSUP ? EX_PROBLEM : EX_OK;
}
