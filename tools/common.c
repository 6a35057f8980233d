/* SPDX-License-Identifier: MIT */
/* shmapctl: the parts every command uses (see shmapctl.h). */
#include "shmapctl.h"

const char *prog = "shmapctl";

struct shmapctl_opt opt = {
	.limit = 100,
	.bytes = 256,
	.mode = 0600,
	.timeout_ms = 1000,
};

void jk_err(const char *k, int rc)
{
	j_key(k);
	j_open('{');
	j_key("code");
	j_i64(rc);
	jk_str("name", shmap_errname(rc));
	jk_str("message", shmap_strerror(rc));
	j_close('}');
}

/* ---- small helpers --------------------------------------------------- */

void errmsg(const char *what, const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	if (what) {
		char safe[PATH_MAX + 2];
		fmt_name(what, safe, sizeof(safe)); /* no control bytes on a terminal */
		fprintf(stderr, "%s: ", safe);
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Exit code for a failed lookup of a segment. */
int exit_for(int rc)
{
	switch (rc) {
	case SHMAP_OK:
	case SHMAP_RECOVERED: return EX_OK;
	case SHMAP_E_NOENT:
	case SHMAP_E_BADMAGIC: return EX_NOTFOUND;
	case SHMAP_E_INVAL:
	case SHMAP_E_NAMETOOLONG: return EX_USAGE;
	default: return EX_PROBLEM;
	}
}

/* A sentence for an error on a segment, with the errno for system errors. */
const char *explain(int rc)
{
	switch (rc) {
	case SHMAP_E_NOENT: return "no such segment";
	case SHMAP_E_BADMAGIC: return "not a shmap segment (left untouched)";
	case SHMAP_E_CORRUPT: return "corrupted segment: header checksum or offsets are wrong";
	case SHMAP_E_TRUNCATED: return "truncated: the object is shorter than a shmap header says";
	case SHMAP_E_VERSION: return "written by an incompatible shmap version or platform";
	case SHMAP_E_NOTREADY:
		return "not ready: being built, or its creator died while building it";
	case SHMAP_E_ACCESS: return "permission denied, or not a regular file (symlink, FIFO, ...)";
	case SHMAP_E_INVAL: return "invalid segment name";
	case SHMAP_E_NAMETOOLONG: return "segment name too long";
	default: return shmap_strerror(rc);
	}
}

void report_error(const char *name, int rc)
{
	if (rc == SHMAP_E_SYS)
		errmsg(name, "%s (%s)", explain(rc), strerror(errno));
	else
		errmsg(name, "%s [%s]", explain(rc), shmap_errname(rc));
}

int parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10; /* no octal surprise */
	unsigned long long v = strtoull(s, &end, base);
	if (errno || end == s)
		return -1;
	uint64_t mul = 1;
	if (*end == 'k' || *end == 'K')
		mul = 1024;
	else if (*end == 'm' || *end == 'M')
		mul = 1024 * 1024;
	else if (*end == 'g' || *end == 'G')
		mul = 1024 * 1024 * 1024;
	if (mul != 1)
		end++;
	if (*end)
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = (uint64_t)v * mul;
	return 0;
}

int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	if (parse_u64(s, &v) || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	if (ns == 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
}

void fmt_size(uint64_t v, char *buf, size_t len)
{
	const char *u = "KMGTP";
	if (v < 1024) {
		snprintf(buf, len, "%" PRIu64 "B", v);
		return;
	}
	double d = (double)v / 1024.0;
	int i = 0;
	while (d >= 1024.0 && i < 4) {
		d /= 1024.0;
		i++;
	}
	snprintf(buf, len, "%.1f%c", d, u[i]);
}

/* Printable for a text column: control and non-ASCII bytes become '?'. */
void fmt_name(const char *s, char *buf, size_t len)
{
	size_t i = 0;
	for (; s[i] && i + 1 < len; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = 0;
}

/* ---- targets: a name on the command line -> backend + name ----------- */


/*
 * "/name" (one leading slash, no other) is a POSIX shm segment; anything
 * else containing a slash is a file path (file backend); a bare word is the
 * shm segment "/word". --file / --shm force the interpretation.
 */
int target_init(struct target *t, const char *arg)
{
	memset(t, 0, sizeof(*t));
	int file = opt.file;
	if (!opt.file && !opt.shm)
		file = arg[0] == '/' ? strchr(arg + 1, '/') != NULL : strchr(arg, '/') != NULL;
	t->backend = file ? SHMAP_BACKEND_FILE : SHMAP_BACKEND_SHM;
	int n;
	if (!file && arg[0] != '/')
		n = snprintf(t->name, sizeof(t->name), "/%s", arg);
	else
		n = snprintf(t->name, sizeof(t->name), "%s", arg);
	if (n < 0 || (size_t)n >= sizeof(t->name))
		return SHMAP_E_NAMETOOLONG;
	fmt_name(t->name, t->shown, sizeof(t->shown));
	int rc = shmap_opts_new(&t->opts);
	if (rc != SHMAP_OK)
		return rc;
	/* Inspection accepts any owner and any permission bits. */
	if ((rc = shmap_opts_set_backend(t->opts, t->backend)) != SHMAP_OK ||
	    (rc = shmap_opts_set_owner(t->opts, -1)) != SHMAP_OK ||
	    (rc = shmap_opts_set_mode(t->opts, 0777)) != SHMAP_OK ||
	    (rc = shmap_opts_set_timeout_ms(t->opts, opt.timeout_ms)) != SHMAP_OK)
		return rc;
	return SHMAP_OK;
}

void target_fini(struct target *t)
{
	shmap_opts_free(t->opts);
	t->opts = NULL;
}

const char *backend_name(uint32_t b)
{
	return b == SHMAP_BACKEND_FILE ? "file" : "shm";
}

/* ---- structures: open any kind with stored parameters ---------------- */


int is_ring(uint32_t kind)
{
	return kind == SHMAP_KIND_RING_SPSC || kind == SHMAP_KIND_RING_SPMC ||
	       kind == SHMAP_KIND_RING_BCAST || kind == SHMAP_KIND_RING_REC;
}

/* Open the structure of kind `kind` behind t (attaches this process). */
int struct_open(const struct target *t, uint32_t kind, struct handle *h)
{
	memset(h, 0, sizeof(*h));
	h->kind = kind;
	int rc = SHMAP_E_NOTSUP;
	switch (kind) {
#ifdef SHMAPCTL_HAVE_VECTOR
	case SHMAP_KIND_VECTOR:
		rc = shmap_vector_open(t->name, SHMAP_OPEN, 0, 0, t->opts, &h->v);
		break;
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	case SHMAP_KIND_HTABLE:
		rc = shmap_htable_open(t->name, SHMAP_OPEN, 0, 0, 0, t->opts, &h->t);
		break;
#endif
#ifdef SHMAPCTL_HAVE_RING
	case SHMAP_KIND_RING_SPSC:
	case SHMAP_KIND_RING_SPMC:
	case SHMAP_KIND_RING_BCAST:
	case SHMAP_KIND_RING_REC:
		/*
		 * An observer: attached without a role (role 0), unless the user
		 * asked for a role with --role (dump reads an SPSC ring through
		 * the consumer's peek). A ring library that only opens with a
		 * role refuses role 0 (SHMAP_E_INVAL); then the tool takes the
		 * role the user asked for, knowing that taking a role may take
		 * over a dead process's role.
		 */
		if (kind == SHMAP_KIND_RING_REC) { /* a ring of records (ring_rec.h) */
			rc = shmap_ring_open_rec(t->name, SHMAP_OPEN, 0, 0, 0, opt.ring_role, t->opts, &h->r);
			break;
		}
		rc = opt.ring_role ? SHMAP_E_INVAL
				   : shmap_ring_open(t->name, SHMAP_OPEN, 0, 0, 0, 0, t->opts, &h->r);
		if (rc == SHMAP_E_INVAL && opt.ring_role)
			rc = shmap_ring_open(t->name, SHMAP_OPEN, 0, 0, 0, opt.ring_role,
					     t->opts, &h->r);
		else if (rc == SHMAP_E_INVAL)
			rc = SHMAP_E_NOTSUP;
		break;
#endif
	default: break;
	}
	if (rc == SHMAP_RECOVERED)
		rc = SHMAP_OK;
	return rc;
}

void struct_close(struct handle *h)
{
#ifdef SHMAPCTL_HAVE_VECTOR
	shmap_vector_close(h->v);
	h->v = NULL;
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	shmap_htable_close(h->t);
	h->t = NULL;
#endif
#ifdef SHMAPCTL_HAVE_RING
	shmap_ring_close(h->r);
	h->r = NULL;
#endif
	(void)h;
}

/* Fill of a structure: used / capacity. */
int struct_fill(struct handle *h, uint64_t *used, uint64_t *cap)
{
	switch (h->kind) {
#ifdef SHMAPCTL_HAVE_VECTOR
	case SHMAP_KIND_VECTOR:
		*used = shmap_vector_size(h->v);
		*cap = shmap_vector_capacity(h->v);
		return SHMAP_OK;
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	case SHMAP_KIND_HTABLE:
		*used = shmap_htable_size(h->t);
		*cap = shmap_htable_capacity(h->t);
		return SHMAP_OK;
#endif
#ifdef SHMAPCTL_HAVE_RING
	case SHMAP_KIND_RING_SPSC:
	case SHMAP_KIND_RING_SPMC:
	case SHMAP_KIND_RING_BCAST:
	case SHMAP_KIND_RING_REC: {
		shmap_ring_stats_t st = { .size = sizeof(st) };
		int rc = shmap_ring_stats(h->r, &st);
		if (rc < 0)
			return rc;
		*used = st.head >= st.tail ? st.head - st.tail : 0;
		*cap = shmap_ring_capacity(h->r);
		return SHMAP_OK;
	}
#endif
	default: return SHMAP_E_NOTSUP;
	}
}

#ifdef SHMAPCTL_HAVE_RING
const char *ring_type_name(uint32_t type)
{
	switch (type) {
	case SHMAP_RING_SPSC: return "spsc";
	case SHMAP_RING_SPMC: return "spmc";
	case SHMAP_RING_BCAST_LOSSY: return "bcast-lossy";
	case SHMAP_RING_BCAST_RELIABLE: return "bcast-reliable";
	default: return "unknown";
	}
}
#endif

/* ---- header section (shared by list, info) --------------------------- */

/* Parameters of a segment as text, from the header snapshot. */
void fmt_params(const shmap_info *in, char *buf, size_t len)
{
	uint32_t kind = (uint32_t)shmap_info_field(in, SHMAP_INFO_KIND);
	uint64_t cap = shmap_info_field(in, SHMAP_INFO_CAPACITY);
	switch (kind) {
	case SHMAP_KIND_HTABLE:
		snprintf(buf, len, "cap=%" PRIu64 " key<=%" PRIu64 " val<=%" PRIu64, cap,
			 shmap_info_field(in, SHMAP_INFO_KEY_MAX),
			 shmap_info_field(in, SHMAP_INFO_VALUE_MAX));
		break;
	case SHMAP_KIND_RING_SPSC:
		snprintf(buf, len, "elem=%" PRIu64 " cap=%" PRIu64,
			 shmap_info_field(in, SHMAP_INFO_ELEM_SIZE), cap);
		break;
	case SHMAP_KIND_RING_SPMC:
	case SHMAP_KIND_RING_BCAST:
		snprintf(buf, len, "elem=%" PRIu64 " cap=%" PRIu64 " cons<=%" PRIu64,
			 shmap_info_field(in, SHMAP_INFO_ELEM_SIZE), cap,
			 shmap_info_field(in, SHMAP_INFO_MAX_CONSUMERS));
		break;
	case SHMAP_KIND_VECTOR:
		snprintf(buf, len, "elem=%" PRIu64 " cap=%" PRIu64,
			 shmap_info_field(in, SHMAP_INFO_ELEM_SIZE), cap);
		break;
	case SHMAP_KIND_RING_REC:
		snprintf(buf, len, "rec<=%" PRIu64 " bytes=%" PRIu64 " cons<=%" PRIu64,
			 shmap_info_field(in, SHMAP_INFO_ELEM_SIZE), cap,
			 shmap_info_field(in, SHMAP_INFO_MAX_CONSUMERS));
		break;
	default: snprintf(buf, len, "-");
	}
}

void json_params(const shmap_info *in)
{
	uint32_t kind = (uint32_t)shmap_info_field(in, SHMAP_INFO_KIND);
	j_key("params");
	j_open('{');
	jk_u64("capacity", shmap_info_field(in, SHMAP_INFO_CAPACITY));
	if (kind == SHMAP_KIND_HTABLE) {
		jk_u64("key_max", shmap_info_field(in, SHMAP_INFO_KEY_MAX));
		jk_u64("value_max", shmap_info_field(in, SHMAP_INFO_VALUE_MAX));
	} else {
		jk_u64("elem_size", shmap_info_field(in, SHMAP_INFO_ELEM_SIZE));
	}
	if (is_ring(kind))
		jk_u64("max_consumers", shmap_info_field(in, SHMAP_INFO_MAX_CONSUMERS));
	if (shmap_info_field(in, SHMAP_INFO_KIND_FLAGS))
		jk_u64("kind_flags", shmap_info_field(in, SHMAP_INFO_KIND_FLAGS));
	j_close('}');
}

/* Count participants: alive, and recorded as attached but dead. */
void count_parts(const shmap_info *in, uint32_t *alive, uint32_t *dead)
{
	uint32_t n = (uint32_t)shmap_info_field(in, SHMAP_INFO_MAX_PROCS);
	*alive = *dead = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = 0;
		if (shmap_info_participant(in, i, NULL, NULL, &a) != SHMAP_OK)
			continue;
		if (a)
			(*alive)++;
		else
			(*dead)++;
	}
}

void json_header(const struct target *t, const shmap_info *in)
{
	uint32_t kind = (uint32_t)shmap_info_field(in, SHMAP_INFO_KIND);
	char tbuf[64], mbuf[16], sbuf[32];
	jk_str("kind", shmap_kind_name(kind));
	jk_u64("kind_id", kind);
	json_params(in);
	jk_u64("total_size", shmap_info_field(in, SHMAP_INFO_TOTAL_SIZE));
	jk_u64("data_size", shmap_info_field(in, SHMAP_INFO_DATA_SIZE));
	jk_u64("file_size", shmap_info_field(in, SHMAP_INFO_FILE_SIZE));
	jk_u64("created_ns", shmap_info_field(in, SHMAP_INFO_CREATED_NS));
	fmt_time(shmap_info_field(in, SHMAP_INFO_CREATED_NS), tbuf, sizeof(tbuf));
	jk_str("created", tbuf);
	jk_u64("creator_uid", shmap_info_field(in, SHMAP_INFO_CREATOR_UID));
	jk_u64("creator_pid", shmap_info_field(in, SHMAP_INFO_CREATOR_PID));
	jk_u64("owner_uid", shmap_info_field(in, SHMAP_INFO_OWNER_UID));
	snprintf(mbuf, sizeof(mbuf), "%04" PRIo64, shmap_info_field(in, SHMAP_INFO_MODE));
	jk_str("mode", mbuf);
	jk_u64("generation", shmap_info_field(in, SHMAP_INFO_GENERATION));
	jk_u64("layout_version", shmap_info_field(in, SHMAP_INFO_LAYOUT_VERSION));
	snprintf(sbuf, sizeof(sbuf), "0x%016" PRIx64, shmap_info_field(in, SHMAP_INFO_HASH_SEED));
	jk_str("hash_seed", sbuf);
	jk_u64("max_procs", shmap_info_field(in, SHMAP_INFO_MAX_PROCS));
	uint32_t alive, dead;
	count_parts(in, &alive, &dead);
	jk_u64("attached", alive);
	jk_u64("dead", dead);
	(void)t;
}

void json_participants(const shmap_info *in)
{
	uint32_t n = (uint32_t)shmap_info_field(in, SHMAP_INFO_MAX_PROCS);
	j_key("participants");
	j_open('[');
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pid = 0, alive = 0;
		uint64_t st = 0;
		if (shmap_info_participant(in, i, &pid, &st, &alive) != SHMAP_OK)
			continue;
		j_open('{');
		jk_u64("slot", i);
		jk_u64("pid", pid);
		jk_u64("start_time", st);
		jk_bool("alive", (int)alive);
		j_close('}');
	}
	j_close(']');
}

void text_header(const struct target *t, const shmap_info *in)
{
	uint32_t kind = (uint32_t)shmap_info_field(in, SHMAP_INFO_KIND);
	char tbuf[64], pbuf[128], s1[32], s2[32], s3[32], nbuf[PATH_MAX + 2];
	fmt_name(t->name, nbuf, sizeof(nbuf));
	printf("segment   %s (%s)\n", nbuf, backend_name(t->backend));
	printf("kind      %s\n", shmap_kind_name(kind));
	fmt_params(in, pbuf, sizeof(pbuf));
	printf("params    %s\n", pbuf);
	fmt_size(shmap_info_field(in, SHMAP_INFO_TOTAL_SIZE), s1, sizeof(s1));
	fmt_size(shmap_info_field(in, SHMAP_INFO_DATA_SIZE), s2, sizeof(s2));
	fmt_size(shmap_info_field(in, SHMAP_INFO_FILE_SIZE), s3, sizeof(s3));
	printf("size      %s mapped, %s data, %s file\n", s1, s2, s3);
	fmt_time(shmap_info_field(in, SHMAP_INFO_CREATED_NS), tbuf, sizeof(tbuf));
	printf("created   %s by uid %" PRIu64 " pid %" PRIu64 " (generation %" PRIu64 ")\n", tbuf,
	       shmap_info_field(in, SHMAP_INFO_CREATOR_UID),
	       shmap_info_field(in, SHMAP_INFO_CREATOR_PID),
	       shmap_info_field(in, SHMAP_INFO_GENERATION));
	printf("owner     uid %" PRIu64 ", mode %04" PRIo64 "\n",
	       shmap_info_field(in, SHMAP_INFO_OWNER_UID), shmap_info_field(in, SHMAP_INFO_MODE));
	printf("layout    version %" PRIu64 ", hash seed 0x%016" PRIx64 "\n",
	       shmap_info_field(in, SHMAP_INFO_LAYOUT_VERSION),
	       shmap_info_field(in, SHMAP_INFO_HASH_SEED));
	uint32_t alive, dead;
	count_parts(in, &alive, &dead);
	printf("processes %u attached, %u dead, %" PRIu64 " slots\n", alive, dead,
	       shmap_info_field(in, SHMAP_INFO_MAX_PROCS));
	uint32_t n = (uint32_t)shmap_info_field(in, SHMAP_INFO_MAX_PROCS);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pid = 0, a = 0;
		if (shmap_info_participant(in, i, &pid, NULL, &a) != SHMAP_OK)
			continue;
		printf("  slot %-4u pid %-8u %s\n", i, pid, a ? "alive" : "DEAD");
	}
}

/* ---- opening a target (shared by info, dump, check, rm, create) ---- */

int open_one(const char *arg, struct target *t, shmap_info **in)
{
	int rc = target_init(t, arg);
	if (rc == SHMAP_OK)
		rc = shmap_info_open(t->name, t->opts, in);
	return rc;
}

void json_target(const struct target *t)
{
	jk_str("name", t->name);
	jk_str("backend", backend_name(t->backend));
}

int open_single(const char *cmd, int argc, char **argv, struct target *t, shmap_info **in)
{
	if (argc != 1) {
		errmsg(cmd, "expects exactly one NAME");
		return EX_USAGE;
	}
	int rc = open_one(argv[0], t, in);
	if (rc == SHMAP_OK)
		return EX_OK;
	if (opt.json) {
		j_open('{');
		json_target(t);
		jk_str("status", shmap_errname(rc));
		jk_err("error", rc);
		j_close('}');
		j_end_doc();
	}
	report_error(t->name, rc);
	target_fini(t);
	return exit_for(rc);
}
