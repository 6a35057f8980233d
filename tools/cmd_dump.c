/* SPDX-License-Identifier: MIT */
/* shmapctl dump: the contents of a segment as hex and, where printable, text. */
#include "shmapctl.h"

/* ---- dump ------------------------------------------------------------ */

static int printable(const uint8_t *p, size_t n)
{
	while (n > 0 && p[n - 1] == 0)
		n--; /* trailing zero padding */
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(p[i] >= 0x20 && p[i] < 0x7f) && p[i] != '\t' && p[i] != '\n')
			return 0;
	return 1;
}

static size_t printable_len(const uint8_t *p, size_t n)
{
	while (n > 0 && p[n - 1] == 0)
		n--;
	return n;
}

/* JSON fields for a byte string: len, hex (at most opt.bytes), text. */
static void json_bytes(const char *prefix, const uint8_t *p, size_t n)
{
	char k[64];
	size_t shown = opt.bytes && n > opt.bytes ? (size_t)opt.bytes : n;
	snprintf(k, sizeof(k), "%slen", prefix);
	jk_u64(k, n);
	snprintf(k, sizeof(k), "%shex", prefix);
	j_key(k);
	j_hex(p, shown);
	snprintf(k, sizeof(k), "%stext", prefix);
	j_key(k);
	if (printable(p, n)) {
		j_strn(p, printable_len(p, n));
	} else {
		j_null();
	}
	if (shown < n) {
		snprintf(k, sizeof(k), "%struncated", prefix);
		jk_bool(k, 1);
	}
}

static void text_hexdump(const char *indent, const uint8_t *p, size_t n)
{
	size_t shown = opt.bytes && n > opt.bytes ? (size_t)opt.bytes : n;
	for (size_t off = 0; off < shown; off += 16) {
		printf("%s%08zx ", indent, off);
		for (size_t i = 0; i < 16; i++) {
			if (i == 8)
				putchar(' ');
			if (off + i < shown)
				printf(" %02x", p[off + i]);
			else
				fputs("   ", stdout);
		}
		fputs("  |", stdout);
		for (size_t i = 0; i < 16 && off + i < shown; i++)
			putchar(p[off + i] >= 0x20 && p[off + i] < 0x7f ? p[off + i] : '.');
		puts("|");
	}
	if (shown < n)
		printf("%s... %zu more bytes\n", indent, n - shown);
}

static void text_bytes_line(const char *label, const uint8_t *p, size_t n)
{
	if (printable(p, n)) {
		size_t len = printable_len(p, n);
		printf("%s \"", label);
		for (size_t i = 0; i < len && (!opt.bytes || i < opt.bytes); i++) {
			if (p[i] == '\n')
				fputs("\\n", stdout);
			else if (p[i] == '\t')
				fputs("\\t", stdout);
			else if (p[i] == '"' || p[i] == '\\')
				printf("\\%c", p[i]);
			else
				putchar(p[i]);
		}
		printf("\" (%zu bytes)\n", n);
	} else {
		printf("%s %zu bytes\n", label, n);
		text_hexdump("    ", p, n);
	}
}

#ifdef SHMAPCTL_HAVE_VECTOR
static const char *vslot_name(uint32_t s)
{
	switch (s) {
	case SHMAP_VECTOR_SLOT_FREE: return "free";
	case SHMAP_VECTOR_SLOT_RESERVED: return "pending";
	case SHMAP_VECTOR_SLOT_PUBLISHED: return "published";
	case SHMAP_VECTOR_SLOT_REPLACING: return "replacing";
	case SHMAP_VECTOR_SLOT_HOLE: return "hole";
	default: return "invalid";
	}
}

static int dump_vector(shmap_vector *v)
{
	uint64_t reserved = shmap_vector_reserved(v);
	uint64_t cap = shmap_vector_capacity(v);
	uint32_t es = shmap_vector_elem_size(v);
	if (reserved > cap)
		reserved = cap;
	uint64_t n = opt.limit && opt.limit < reserved ? opt.limit : reserved;
	uint8_t *buf = malloc(es ? es : 1);
	if (!buf)
		return SHMAP_E_NOMEM;
	int worst = SHMAP_OK;
	if (opt.json) {
		jk_u64("elem_size", es);
		jk_u64("count", reserved);
		j_key("elements");
		j_open('[');
	} else {
		printf("vector: %" PRIu64 " slots reserved, showing %" PRIu64 ", elem_size %u\n",
		       reserved, n, es);
	}
	for (uint64_t i = 0; i < n; i++) {
		uint32_t st = 0, owner = 0;
		int rc = shmap_vector_slot_state(v, i, &st, &owner);
		int grc = rc;
		/* Only published slots are read: reading a pending slot could turn
		 * a dead writer's reservation into a hole, and dump changes nothing. */
		if (rc == SHMAP_OK &&
		    (st == SHMAP_VECTOR_SLOT_PUBLISHED || st == SHMAP_VECTOR_SLOT_REPLACING))
			grc = shmap_vector_get(v, i, buf);
		else if (rc == SHMAP_OK)
			grc = 1; /* no data */
		if (rc < 0 || grc < 0)
			worst = rc < 0 ? rc : grc;
		if (opt.json) {
			j_open('{');
			jk_u64("index", i);
			jk_str("state", rc == SHMAP_OK ? vslot_name(st) : "error");
			if (owner)
				jk_u64("owner", owner);
			if (grc == SHMAP_OK)
				json_bytes("", buf, es);
			else if (grc < 0)
				jk_err("error", grc);
			j_close('}');
		} else if (rc < 0 || grc < 0) {
			printf("[%" PRIu64 "] error: %s [%s]\n", i,
			       shmap_strerror(rc < 0 ? rc : grc), shmap_errname(rc < 0 ? rc : grc));
		} else if (grc == SHMAP_OK) {
			char label[48];
			snprintf(label, sizeof(label), "[%" PRIu64 "]", i);
			text_bytes_line(label, buf, es);
		} else {
			printf("[%" PRIu64 "] %s", i, vslot_name(st));
			if (owner)
				printf(" (owner id 0x%x)", owner);
			putchar('\n');
		}
	}
	if (opt.json) {
		j_close(']');
		jk_bool("truncated", n < reserved);
	} else if (n < reserved) {
		printf("... %" PRIu64 " more (use --limit)\n", reserved - n);
	}
	free(buf);
	return worst;
}
#endif

#ifdef SHMAPCTL_HAVE_HTABLE
static int dump_htable(shmap_htable *t)
{
	uint32_t kmax = shmap_htable_key_max(t), vmax = shmap_htable_value_max(t);
	uint8_t *k = malloc(kmax ? kmax : 1), *v = malloc(vmax ? vmax : 1);
	shmap_htable_cursor *c = NULL;
	int rc = (!k || !v) ? SHMAP_E_NOMEM : shmap_htable_cursor_new(t, &c);
	if (rc != SHMAP_OK) {
		free(k);
		free(v);
		return rc;
	}
	if (opt.json) {
		jk_u64("size", shmap_htable_size(t));
		j_key("entries");
		j_open('[');
	} else {
		printf("htable: %" PRIu64 " entries\n", shmap_htable_size(t));
	}
	uint64_t shown = 0;
	int more = 0;
	for (;;) {
		uint32_t kl = 0, vl = 0;
		rc = shmap_htable_cursor_next(c, k, kmax, &kl, v, vmax, &vl);
		if (rc == SHMAP_E_NOTFOUND) {
			rc = SHMAP_OK;
			break;
		}
		if (rc < 0)
			break;
		if (opt.limit && shown >= opt.limit) {
			more = 1;
			break;
		}
		if (kl > kmax)
			kl = kmax;
		if (vl > vmax)
			vl = vmax;
		if (opt.json) {
			j_open('{');
			json_bytes("key_", k, kl);
			json_bytes("value_", v, vl);
			j_close('}');
		} else {
			text_bytes_line("key  ", k, kl);
			text_bytes_line("value", v, vl);
		}
		shown++;
	}
	if (opt.json) {
		j_close(']');
		jk_u64("shown", shown);
		jk_bool("truncated", more);
		if (rc < 0)
			jk_err("error", rc);
	} else {
		if (more)
			printf("... more entries (use --limit)\n");
		if (rc < 0)
			printf("error: %s [%s]\n", shmap_strerror(rc), shmap_errname(rc));
	}
	shmap_htable_cursor_free(c);
	free(k);
	free(v);
	return rc;
}
#endif

#ifdef SHMAPCTL_HAVE_RING
/*
 * Rings: only a non-consuming look is acceptable. An SPSC consumer can peek
 * and release nothing; an SPMC peek claims (release consumes) and a new
 * broadcast subscriber sees nothing already pushed, so those are refused.
 */
static int dump_ring(shmap_ring *r)
{
	if (shmap_ring_type(r) != SHMAP_RING_SPSC || shmap_ring_role(r) != SHMAP_RING_CONSUMER)
		return SHMAP_E_NOTSUP;
	uint32_t es = shmap_ring_elem_size(r);
	uint32_t want = opt.limit && opt.limit < UINT32_MAX ? (uint32_t)opt.limit : UINT32_MAX;
	const void *ptr = NULL;
	uint32_t got = 0;
	int rc = shmap_ring_peek(r, want, &ptr, &got);
	if (rc == SHMAP_E_EMPTY) {
		rc = SHMAP_OK;
		got = 0;
	}
	if (rc < 0)
		return rc;
	if (opt.json) {
		jk_u64("elem_size", es);
		j_key("elements");
		j_open('[');
	} else {
		printf("ring: %u element%s readable in one run, elem_size %u\n", got,
		       got == 1 ? "" : "s", es);
	}
	for (uint32_t i = 0; i < got; i++) {
		const uint8_t *p = (const uint8_t *)ptr + (size_t)i * es;
		if (opt.json) {
			j_open('{');
			jk_u64("index", i);
			json_bytes("", p, es);
			j_close('}');
		} else {
			char label[32];
			snprintf(label, sizeof(label), "[%u]", i);
			text_bytes_line(label, p, es);
		}
	}
	if (opt.json)
		j_close(']');
	if (got)
		rc = shmap_ring_release(r, 0); /* consume nothing */
	return rc < 0 ? rc : SHMAP_OK;
}
#endif

int cmd_dump(int argc, char **argv)
{
	struct target t;
	shmap_info *in = NULL;
	int rc, ex = open_single("dump", argc, argv, &t, &in);
	if (ex != EX_OK)
		return ex;
	uint32_t kind = (uint32_t)shmap_info_field(in, SHMAP_INFO_KIND);
	struct handle h;
	rc = struct_open(&t, kind, &h);
	if (opt.json) {
		j_open('{');
		json_target(&t);
		jk_str("kind", shmap_kind_name(kind));
	}
	if (rc == SHMAP_OK) {
		switch (kind) {
#ifdef SHMAPCTL_HAVE_VECTOR
		case SHMAP_KIND_VECTOR: rc = dump_vector(h.v); break;
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
		case SHMAP_KIND_HTABLE: rc = dump_htable(h.t); break;
#endif
#ifdef SHMAPCTL_HAVE_RING
		case SHMAP_KIND_RING_SPSC:
		case SHMAP_KIND_RING_SPMC:
		case SHMAP_KIND_RING_BCAST: rc = dump_ring(h.r); break;
#endif
		default: rc = SHMAP_E_NOTSUP;
		}
		struct_close(&h);
	}
	if (opt.json) {
		jk_str("status", rc < 0 ? shmap_errname(rc) : "ok");
		if (rc < 0)
			jk_err("error", rc);
		j_close('}');
		j_end_doc();
	}
	if (rc < 0) {
		if (rc == SHMAP_E_NOTSUP)
			errmsg(t.name, "dump is not supported for a %s segment%s",
			       shmap_kind_name(kind),
			       is_ring(kind)
				       ? " (only an SPSC ring, read with --role consumer, can be "
					 "looked at without consuming)"
				       : " by this build");
		else
			report_error(t.name, rc);
	}
	shmap_info_free(in);
	target_fini(&t);
	return rc < 0 ? EX_PROBLEM : EX_OK;
}
