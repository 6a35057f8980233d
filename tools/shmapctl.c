/* SPDX-License-Identifier: MIT */
/*
 * shmapctl - see, check and repair shmap segments from the command line.
 *
 * Design notes
 *
 * Everything here goes through the public library API: the header and the
 * participant table come from shmap_info_open() (pread only, never mapped,
 * safe on any file), the structure's live state from the structure's own
 * open call with zero parameters ("accept what is stored") and its
 * inspection functions (stat, stats, slot state, cursors, checkers). The
 * tool never reads the segment layout itself, so a hostile file can make it
 * report an error but not crash it.
 *
 * Read commands (list, info, dump, check without --repair) change nothing in
 * the structure. Opening a structure does attach this process as a
 * participant for the duration of the command (the library needs a slot to
 * name claims and probe liveness); the participant table shown is the
 * snapshot taken before that attach, so a dead process's entry is reported
 * before our attach may reuse its slot.
 *
 * Which structure kinds are covered depends on the modules present in the
 * library this tool is built with (SHMAPCTL_HAVE_* from meson).
 *
 * Output: human-readable text by default; --json prints one JSON document
 * on stdout (hand-written emitter below; strings escaped per RFC 8259, bytes
 * outside ASCII as \u00XX). Diagnostics go to stderr.
 */
#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <shmap/common.h>
#include <shmap/inspect.h>
#include <shmap/segment.h>
#include <shmap/status.h>
#include <shmap/version.h>
#ifdef SHMAPCTL_HAVE_VECTOR
#include <shmap/vector.h>
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
#include <shmap/htable.h>
#endif
#ifdef SHMAPCTL_HAVE_RING
#include <shmap/ring.h>
#include <shmap/ring_rec.h>
#endif

#ifndef SHMAP_CHECK_REPAIR
#define SHMAP_CHECK_REPAIR 1u
#endif
#ifdef SHMAPCTL_HAVE_RING
_Static_assert(SHMAP_RING_PRODUCER == 1u && SHMAP_RING_CONSUMER == 2u, "--role values");
#endif

/* Exit codes (documented in --help and shmapctl(1)). */
#define EX_OK 0	      /* success; check: no problem left */
#define EX_PROBLEM 1  /* problems found, or the operation failed */
#define EX_USAGE 2    /* bad command line */
#define EX_NOTFOUND 3 /* no such segment, or not a shmap segment */
#define EX_BUSY 4     /* refused: live processes attached (check --repair) */

#define SHM_DIR "/dev/shm"
#define HDR_MIN 512u /* smaller objects cannot hold a shmap header */

static const char *prog = "shmapctl";

/* ---- options -------------------------------------------------------- */

static struct {
	int json;
	int repair;
	int force;
	int file; /* names are file paths (file backend) */
	int shm;  /* names are POSIX shm names */
	uint64_t limit;
	uint64_t bytes;
	uint32_t mode;
	uint32_t max_procs;
	uint32_t timeout_ms;
	uint32_t ring_role; /* 0: observer only; else SHMAP_RING_PRODUCER / _CONSUMER */
} opt = {
	.limit = 100,
	.bytes = 256,
	.mode = 0600,
	.timeout_ms = 1000,
};

/* ---- JSON emitter ---------------------------------------------------- */

#define J_MAX_DEPTH 32
static int j_depth;
static int j_first[J_MAX_DEPTH];
static int j_key_pending;

static void j_pre(void)
{
	if (j_key_pending) {
		j_key_pending = 0;
		return;
	}
	if (j_depth > 0) {
		if (!j_first[j_depth])
			putchar(',');
		j_first[j_depth] = 0;
	}
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned char c = p[0];
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) || /* overlong, surrogates */
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))
		return 0;
	return len;
}

/*
 * A JSON string: valid UTF-8 is copied, control characters and DEL are
 * escaped, and each byte of an invalid sequence becomes \u00XX (so the
 * document is always valid, at the price of reading such bytes as Latin-1).
 */
static void j_raw_str(const void *s, size_t n)
{
	const unsigned char *p = s;
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t l = utf8_len(p + i, n - i);
			if (l) {
				fwrite(p + i, 1, l, stdout);
				i += l - 1;
			} else {
				printf("\\u%04x", c);
			}
			continue;
		}
		switch (c) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		case '\b': fputs("\\b", stdout); break;
		case '\f': fputs("\\f", stdout); break;
		default:
			if (c < 0x20 || c == 0x7f)
				printf("\\u%04x", c);
			else
				putchar(c);
		}
	}
	putchar('"');
}

static void j_open(char c)
{
	j_pre();
	putchar(c);
	if (j_depth < J_MAX_DEPTH - 1)
		j_depth++;
	j_first[j_depth] = 1;
}

static void j_close(char c)
{
	putchar(c);
	if (j_depth > 0)
		j_depth--;
}

static void j_key(const char *k)
{
	j_pre();
	j_raw_str(k, strlen(k));
	putchar(':');
	j_key_pending = 1;
}

static void j_str(const char *s)
{
	j_pre();
	if (s)
		j_raw_str(s, strlen(s));
	else
		fputs("null", stdout);
}

static void j_u64(uint64_t v)
{
	j_pre();
	printf("%" PRIu64, v);
}

static void j_i64(int64_t v)
{
	j_pre();
	printf("%" PRId64, v);
}

static void j_bool(int v)
{
	j_pre();
	fputs(v ? "true" : "false", stdout);
}

static void j_null(void)
{
	j_pre();
	fputs("null", stdout);
}

static void j_double(double v)
{
	j_pre();
	printf("%.4f", v);
}

static void jk_str(const char *k, const char *s)
{
	j_key(k);
	j_str(s);
}
static void jk_u64(const char *k, uint64_t v)
{
	j_key(k);
	j_u64(v);
}
static void jk_bool(const char *k, int v)
{
	j_key(k);
	j_bool(v);
}

static void jk_err(const char *k, int rc)
{
	j_key(k);
	j_open('{');
	j_key("code");
	j_i64(rc);
	jk_str("name", shmap_errname(rc));
	jk_str("message", shmap_strerror(rc));
	j_close('}');
}

static void j_end_doc(void)
{
	putchar('\n');
}

/* ---- small helpers --------------------------------------------------- */

static void fmt_name(const char *s, char *buf, size_t len);
static void errmsg(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errmsg(const char *what, const char *fmt, ...)
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
static int exit_for(int rc)
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
static const char *explain(int rc)
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

static void report_error(const char *name, int rc)
{
	if (rc == SHMAP_E_SYS)
		errmsg(name, "%s (%s)", explain(rc), strerror(errno));
	else
		errmsg(name, "%s [%s]", explain(rc), shmap_errname(rc));
}

static int parse_u64(const char *s, uint64_t *out)
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

static int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	if (parse_u64(s, &v) || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	if (ns == 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
}

static void fmt_size(uint64_t v, char *buf, size_t len)
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
static void fmt_name(const char *s, char *buf, size_t len)
{
	size_t i = 0;
	for (; s[i] && i + 1 < len; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = 0;
}

/* ---- targets: a name on the command line -> backend + name ----------- */

struct target {
	char name[PATH_MAX + 2];
	char shown[PATH_MAX + 2]; /* name for text output: control bytes as '?' */
	uint32_t backend;
	shmap_opts *opts;
};

/*
 * "/name" (one leading slash, no other) is a POSIX shm segment; anything
 * else containing a slash is a file path (file backend); a bare word is the
 * shm segment "/word". --file / --shm force the interpretation.
 */
static int target_init(struct target *t, const char *arg)
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

static void target_fini(struct target *t)
{
	shmap_opts_free(t->opts);
	t->opts = NULL;
}

static const char *backend_name(uint32_t b)
{
	return b == SHMAP_BACKEND_FILE ? "file" : "shm";
}

/* ---- structures: open any kind with stored parameters ---------------- */

struct handle {
	uint32_t kind;
#ifdef SHMAPCTL_HAVE_VECTOR
	shmap_vector *v;
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	shmap_htable *t;
#endif
#ifdef SHMAPCTL_HAVE_RING
	shmap_ring *r;
#endif
	int dummy;
};

static int is_ring(uint32_t kind)
{
	return kind == SHMAP_KIND_RING_SPSC || kind == SHMAP_KIND_RING_SPMC ||
	       kind == SHMAP_KIND_RING_BCAST || kind == SHMAP_KIND_RING_REC;
}

/* Open the structure of kind `kind` behind t (attaches this process). */
static int struct_open(const struct target *t, uint32_t kind, struct handle *h)
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
			rc = shmap_ring_open_rec(t->name, SHMAP_OPEN, 0, 0, 0, 0, opt.ring_role, t->opts, &h->r);
			break;
		}
		rc = opt.ring_role ? SHMAP_E_INVAL
				   : shmap_ring_open(t->name, SHMAP_OPEN, 0, 0, 0, 0, 0, t->opts, &h->r);
		if (rc == SHMAP_E_INVAL && opt.ring_role)
			rc = shmap_ring_open(t->name, SHMAP_OPEN, 0, 0, 0, 0, opt.ring_role,
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

static void struct_close(struct handle *h)
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
static int struct_fill(struct handle *h, uint64_t *used, uint64_t *cap)
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
		uint64_t head = 0, tail = 0;
		int rc = shmap_ring_stats(h->r, &head, &tail, NULL, NULL, NULL);
		if (rc < 0)
			return rc;
		*used = head >= tail ? head - tail : 0;
		*cap = shmap_ring_capacity(h->r);
		return SHMAP_OK;
	}
#endif
	default: return SHMAP_E_NOTSUP;
	}
}

#ifdef SHMAPCTL_HAVE_RING
static const char *ring_type_name(uint32_t type)
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
static void fmt_params(const shmap_info *in, char *buf, size_t len)
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

static void json_params(const shmap_info *in)
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
static void count_parts(const shmap_info *in, uint32_t *alive, uint32_t *dead)
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

static void json_header(const struct target *t, const shmap_info *in)
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

static void json_participants(const shmap_info *in)
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

static void text_header(const struct target *t, const shmap_info *in)
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

/* ---- list ------------------------------------------------------------ */

struct row {
	char name[PATH_MAX + 2];
	uint32_t backend;
	int rc;	     /* shmap_info_open() result */
	int open_rc; /* structure open result (if rc == OK) */
	shmap_info *in;
	uint64_t used, cap;
	int have_fill;
	char ring_type[24];
};

static void row_fill(struct row *r, const struct target *t)
{
	r->have_fill = 0;
	r->ring_type[0] = 0;
	uint32_t kind = (uint32_t)shmap_info_field(r->in, SHMAP_INFO_KIND);
	struct handle h;
	r->open_rc = struct_open(t, kind, &h);
	if (r->open_rc != SHMAP_OK)
		return;
	if (struct_fill(&h, &r->used, &r->cap) == SHMAP_OK)
		r->have_fill = 1;
#ifdef SHMAPCTL_HAVE_RING
	if (is_ring(kind))
		snprintf(r->ring_type, sizeof(r->ring_type), "%s",
			 ring_type_name(shmap_ring_type(h.r)));
#endif
	struct_close(&h);
}

static void row_print_json(const struct row *r, const struct target *t)
{
	j_open('{');
	jk_str("name", r->name);
	jk_str("backend", backend_name(r->backend));
	if (r->rc != SHMAP_OK) {
		jk_str("status", shmap_errname(r->rc));
		jk_err("error", r->rc);
		j_close('}');
		return;
	}
	jk_str("status", "ok");
	json_header(t, r->in);
	if (r->ring_type[0])
		jk_str("ring_type", r->ring_type);
	if (r->have_fill) {
		j_key("fill");
		j_open('{');
		jk_u64("used", r->used);
		jk_u64("capacity", r->cap);
		j_close('}');
	} else {
		j_key("fill");
		j_null();
		jk_err("state_error", r->open_rc);
	}
	j_close('}');
}

static int name_width = 12; /* width of the NAME column of list */

static void row_print_text(const struct row *r)
{
	char nbuf[80], sbuf[32], pbuf[128], full[192], fbuf[48], tbuf[64], procs[32], cbuf[48];
	fmt_name(r->name, nbuf, sizeof(nbuf));
	if (r->rc != SHMAP_OK) {
		printf("%-*s %-10s %s\n", name_width, nbuf, "?", explain(r->rc));
		return;
	}
	uint32_t kind = (uint32_t)shmap_info_field(r->in, SHMAP_INFO_KIND);
	fmt_size(shmap_info_field(r->in, SHMAP_INFO_TOTAL_SIZE), sbuf, sizeof(sbuf));
	fmt_params(r->in, pbuf, sizeof(pbuf));
	if (r->ring_type[0])
		snprintf(full, sizeof(full), "%s %s", r->ring_type, pbuf);
	else
		snprintf(full, sizeof(full), "%s", pbuf);
	if (r->have_fill)
		snprintf(fbuf, sizeof(fbuf), "%" PRIu64 "/%" PRIu64, r->used, r->cap);
	else
		snprintf(fbuf, sizeof(fbuf), "?");
	uint32_t alive, dead;
	count_parts(r->in, &alive, &dead);
	if (dead)
		snprintf(procs, sizeof(procs), "%u+%ud", alive, dead);
	else
		snprintf(procs, sizeof(procs), "%u", alive);
	fmt_time(shmap_info_field(r->in, SHMAP_INFO_CREATED_NS), tbuf, sizeof(tbuf));
	snprintf(cbuf, sizeof(cbuf), "%" PRIu64 "/%" PRIu64,
		 shmap_info_field(r->in, SHMAP_INFO_CREATOR_UID),
		 shmap_info_field(r->in, SHMAP_INFO_CREATOR_PID));
	printf("%-*s %-10s %7s  %-30s %-13s %-6s %-20s %s\n", name_width, nbuf,
	       shmap_kind_name(kind), sbuf, full, fbuf, procs, tbuf, cbuf);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is this /dev/shm entry worth inspecting? Checked with lstat, no open. */
static int shm_candidate(const char *d_name)
{
	if (d_name[0] == '.' || strncmp(d_name, "sem.", 4) == 0)
		return 0;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), SHM_DIR "/%s", d_name) >= (int)sizeof(path))
		return 0;
	struct stat st;
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < HDR_MIN)
		return 0;
	return 1;
}

static int is_pattern(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Does /dev/shm entry d_name match one of the patterns (none: everything)? */
static int matches(const char *d_name, char **pats, int npats)
{
	if (npats == 0)
		return 1;
	for (int i = 0; i < npats; i++) {
		const char *p = pats[i][0] == '/' ? pats[i] + 1 : pats[i];
		if (fnmatch(p, d_name, FNM_PERIOD) == 0)
			return 1;
	}
	return 0;
}

/*
 * Arguments with glob characters are patterns over the names in /dev/shm
 * (scan mode, filtered); other arguments are listed as given. No argument
 * at all scans everything.
 */
static int cmd_list(int argc, char **argv)
{
	char **names = NULL; /* entries to list: scanned first, then explicit */
	size_t n = 0, cap = 0, nscan = 0;
	int status = EX_OK;
	uint32_t unreadable = 0;
	char **pats = calloc((size_t)argc + 1, sizeof(*pats));
	int npats = 0, nexplicit = 0;
	if (!pats)
		return EX_PROBLEM;
	for (int i = 0; i < argc; i++) {
		if (is_pattern(argv[i]))
			pats[npats++] = argv[i];
		else
			nexplicit++;
	}
	int scan = argc == 0 || npats > 0;

	if (scan) {
		DIR *d = opendir(SHM_DIR);
		if (!d) {
			errmsg(SHM_DIR, "%s", strerror(errno));
			free(pats);
			return EX_PROBLEM;
		}
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (!matches(de->d_name, pats, npats) || !shm_candidate(de->d_name))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				char **nn = realloc(names, cap * sizeof(*names));
				if (!nn)
					break;
				names = nn;
			}
			names[n] = malloc(strlen(de->d_name) + 2);
			if (!names[n])
				break;
			sprintf(names[n], "/%s", de->d_name);
			n++;
		}
		closedir(d);
		qsort(names, n, sizeof(*names), name_cmp);
	}
	nscan = n;
	if (nexplicit) {
		char **nn = realloc(names, (n + (size_t)nexplicit) * sizeof(*names));
		if (!nn) {
			for (size_t i = 0; i < n; i++)
				free(names[i]);
			free(names);
			free(pats);
			return EX_PROBLEM;
		}
		names = nn;
		for (int i = 0; i < argc; i++)
			if (!is_pattern(argv[i]))
				names[n++] = argv[i]; /* not owned */
	}

	if (opt.json) {
		j_open('{');
		j_key("segments");
		j_open('[');
	} else {
		for (size_t i = 0; i < n; i++) {
			size_t l = strlen(names[i]) + 1;
			if (l > (size_t)name_width)
				name_width = l > 79 ? 79 : (int)l;
		}
		printf("%-*s %-10s %7s  %-30s %-13s %-6s %-20s %s\n", name_width, "NAME", "KIND",
		       "SIZE", "PARAMS", "FILL", "PROCS", "CREATED", "UID/PID");
	}
	uint32_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		int scanned = i < nscan;
		struct target t;
		struct row r;
		memset(&r, 0, sizeof(r));
		int saved_file = opt.file, saved_shm = opt.shm;
		if (scanned)
			opt.shm = 1, opt.file = 0;
		int rc = target_init(&t, names[i]);
		opt.file = saved_file, opt.shm = saved_shm;
		snprintf(r.name, sizeof(r.name), "%s", t.name);
		r.backend = t.backend;
		if (rc == SHMAP_OK)
			rc = shmap_info_open(t.name, t.opts, &r.in);
		r.rc = rc;
		if (scanned) {
			/* Foreign, unreadable or unclassifiable objects are skipped. */
			if (rc == SHMAP_E_ACCESS)
				unreadable++;
			if (rc != SHMAP_OK && rc != SHMAP_E_CORRUPT && rc != SHMAP_E_VERSION &&
			    rc != SHMAP_E_TRUNCATED && rc != SHMAP_E_NOTREADY) {
				target_fini(&t);
				continue;
			}
		} else if (rc != SHMAP_OK) {
			if (status == EX_OK)
				status = exit_for(rc); /* the first failure decides */
			if (!opt.json)
				report_error(t.name, rc);
		}
		if (rc == SHMAP_OK)
			row_fill(&r, &t);
		if (opt.json)
			row_print_json(&r, &t);
		else if (rc == SHMAP_OK || scanned)
			row_print_text(&r);
		shown++;
		shmap_info_free(r.in);
		target_fini(&t);
	}
	if (opt.json) {
		j_close(']');
		jk_u64("count", shown);
		if (scan)
			jk_u64("unreadable", unreadable);
		j_close('}');
		j_end_doc();
	} else if (unreadable) {
		fprintf(stderr,
			"%s: %u objects in " SHM_DIR " could not be read (permission denied)\n",
			prog, unreadable);
	}
	for (size_t i = 0; i < nscan; i++)
		free(names[i]);
	free(names);
	free(pats);
	return status;
}

/* ---- info ------------------------------------------------------------ */

static int info_state_json(struct handle *h)
{
	int rc = SHMAP_OK;
	j_key("state");
	j_open('{');
	switch (h->kind) {
#ifdef SHMAPCTL_HAVE_VECTOR
	case SHMAP_KIND_VECTOR: {
		uint64_t pub = 0, pend = 0, holes = 0;
		rc = shmap_vector_stat(h->v, &pub, &pend, &holes);
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
		uint64_t live = 0, tomb = 0, probe = 0, cap = shmap_htable_capacity(h->t);
		rc = shmap_htable_stats(h->t, &live, &tomb, &probe);
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
		break;
	}
#endif
#ifdef SHMAPCTL_HAVE_RING
	case SHMAP_KIND_RING_SPSC:
	case SHMAP_KIND_RING_SPMC:
	case SHMAP_KIND_RING_BCAST:
	case SHMAP_KIND_RING_REC: {
		uint64_t head = 0, tail = 0, lost = 0;
		uint32_t ppid = 0, palive = 0;
		rc = shmap_ring_stats(h->r, &head, &tail, &lost, &ppid, &palive);
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
				uint32_t pid = 0, alive = 0;
				uint64_t cursor = 0, missed = 0;
				if (shmap_ring_consumer_info(h->r, i, &pid, &alive, &cursor,
							     &missed) != SHMAP_OK)
					continue;
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
		uint64_t pub = 0, pend = 0, holes = 0;
		rc = shmap_vector_stat(h->v, &pub, &pend, &holes);
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
		uint64_t live = 0, tomb = 0, probe = 0, cap = shmap_htable_capacity(h->t);
		rc = shmap_htable_stats(h->t, &live, &tomb, &probe);
		printf("htable    %" PRIu64 " entries (counter), capacity %" PRIu64
		       ", key<=%u, value<=%u\n",
		       shmap_htable_size(h->t), cap, shmap_htable_key_max(h->t),
		       shmap_htable_value_max(h->t));
		if (rc >= 0)
			printf("scan      %" PRIu64 " live (load %.1f%%), %" PRIu64
			       " tombstones, longest probe %" PRIu64 "\n",
			       live, cap ? 100.0 * (double)live / (double)cap : 0.0, tomb, probe);
		break;
	}
#endif
#ifdef SHMAPCTL_HAVE_RING
	case SHMAP_KIND_RING_SPSC:
	case SHMAP_KIND_RING_SPMC:
	case SHMAP_KIND_RING_BCAST:
	case SHMAP_KIND_RING_REC: {
		uint64_t head = 0, tail = 0, lost = 0;
		uint32_t ppid = 0, palive = 0;
		rc = shmap_ring_stats(h->r, &head, &tail, &lost, &ppid, &palive);
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
			uint32_t pid = 0, alive = 0;
			uint64_t cursor = 0, missed = 0;
			if (shmap_ring_consumer_info(h->r, i, &pid, &alive, &cursor, &missed) !=
			    SHMAP_OK)
				continue;
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

/* Open the header snapshot for a command on one segment; reports errors. */
static int open_one(const char *arg, struct target *t, shmap_info **in)
{
	int rc = target_init(t, arg);
	if (rc == SHMAP_OK)
		rc = shmap_info_open(t->name, t->opts, in);
	return rc;
}

static void json_target(const struct target *t)
{
	jk_str("name", t->name);
	jk_str("backend", backend_name(t->backend));
}

static int cmd_info(int argc, char **argv)
{
	if (argc != 1) {
		errmsg("info", "expects exactly one NAME");
		return EX_USAGE;
	}
	struct target t;
	shmap_info *in = NULL;
	int rc = open_one(argv[0], &t, &in);
	if (rc != SHMAP_OK) {
		if (opt.json) {
			j_open('{');
			json_target(&t);
			jk_str("status", shmap_errname(rc));
			jk_err("error", rc);
			j_close('}');
			j_end_doc();
		}
		report_error(t.name, rc);
		target_fini(&t);
		return exit_for(rc);
	}
	uint32_t kind = (uint32_t)shmap_info_field(in, SHMAP_INFO_KIND);
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
	j_pre();
	putchar('"');
	for (size_t i = 0; i < shown; i++)
		printf("%02x", p[i]);
	putchar('"');
	snprintf(k, sizeof(k), "%stext", prefix);
	j_key(k);
	if (printable(p, n)) {
		j_pre();
		j_raw_str(p, printable_len(p, n));
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

static int cmd_dump(int argc, char **argv)
{
	if (argc != 1) {
		errmsg("dump", "expects exactly one NAME");
		return EX_USAGE;
	}
	struct target t;
	shmap_info *in = NULL;
	int rc = open_one(argv[0], &t, &in);
	if (rc != SHMAP_OK) {
		if (opt.json) {
			j_open('{');
			json_target(&t);
			jk_str("status", shmap_errname(rc));
			jk_err("error", rc);
			j_close('}');
			j_end_doc();
		}
		report_error(t.name, rc);
		target_fini(&t);
		return exit_for(rc);
	}
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

/* ---- check ----------------------------------------------------------- */

static int struct_check(struct handle *h, uint32_t flags, uint64_t *problems)
{
	switch (h->kind) {
#ifdef SHMAPCTL_HAVE_VECTOR
	case SHMAP_KIND_VECTOR: return shmap_vector_check(h->v, flags, problems);
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	case SHMAP_KIND_HTABLE: return shmap_htable_check(h->t, flags, problems);
#endif
#ifdef SHMAPCTL_HAVE_RING
	case SHMAP_KIND_RING_SPSC:
	case SHMAP_KIND_RING_SPMC:
	case SHMAP_KIND_RING_BCAST:
	case SHMAP_KIND_RING_REC: return shmap_ring_check(h->r, flags, problems);
#endif
	default: return SHMAP_E_NOTSUP;
	}
}

static int cmd_check(int argc, char **argv)
{
	if (argc != 1) {
		errmsg("check", "expects exactly one NAME");
		return EX_USAGE;
	}
	struct target t;
	shmap_info *in = NULL;
	int rc = open_one(argv[0], &t, &in);
	const char *verdict;
	int ex;
	uint64_t problems = 0;
	uint32_t alive = 0, dead = 0;
	int crc = SHMAP_OK; /* checker result */
	int refused = 0;

	if (rc != SHMAP_OK) {
		/* The header itself is wrong (or the object is missing / foreign). */
		ex = exit_for(rc);
		verdict = ex == EX_NOTFOUND ? "not-found" : "header-invalid";
		if (opt.json) {
			j_open('{');
			json_target(&t);
			jk_str("status", verdict);
			jk_bool("header_ok", 0);
			jk_err("error", rc);
			jk_u64("problems", ex == EX_PROBLEM ? 1 : 0);
			jk_bool("repaired", 0);
			j_close('}');
			j_end_doc();
		} else if (ex == EX_PROBLEM) {
			printf("%s: header: %s [%s]\n", t.shown, explain(rc), shmap_errname(rc));
			printf("%s: 1 problem (not repairable here: remove and re-create it)\n",
			       t.shown);
		}
		if (ex != EX_PROBLEM)
			report_error(t.name, rc);
		target_fini(&t);
		return ex;
	}

	count_parts(in, &alive, &dead);
	uint32_t kind = (uint32_t)shmap_info_field(in, SHMAP_INFO_KIND);
	struct handle h;
	int orc = SHMAP_OK;
	if (opt.repair && alive > 0 && !opt.force) {
		refused = 1;
	} else {
		orc = struct_open(&t, kind, &h);
		if (orc == SHMAP_OK) {
			crc = struct_check(&h, opt.repair ? SHMAP_CHECK_REPAIR : 0, &problems);
			struct_close(&h);
		}
	}

	if (refused) {
		verdict = "refused";
		ex = EX_BUSY;
	} else if (orc != SHMAP_OK) {
		verdict = "open-failed";
		ex = exit_for(orc) == EX_NOTFOUND ? EX_NOTFOUND : EX_PROBLEM;
		crc = orc;
	} else if (crc == SHMAP_OK) {
		verdict = "ok";
		ex = EX_OK;
	} else if (crc == SHMAP_RECOVERED) {
		verdict = "repaired";
		ex = EX_OK;
	} else if (crc == SHMAP_E_BUSY) {
		verdict = "busy";
		ex = EX_PROBLEM;
	} else {
		verdict = "problems";
		ex = EX_PROBLEM;
	}

	if (opt.json) {
		j_open('{');
		json_target(&t);
		jk_str("kind", shmap_kind_name(kind));
		jk_str("status", verdict);
		jk_bool("header_ok", 1);
		jk_u64("problems", problems);
		jk_bool("repair", opt.repair);
		jk_bool("repaired", crc == SHMAP_RECOVERED);
		jk_u64("attached", alive);
		jk_u64("dead", dead);
		j_key("result");
		if (refused || crc == SHMAP_OK) {
			j_null();
		} else {
			j_open('{');
			j_key("code");
			j_i64(crc);
			jk_str("name", shmap_errname(crc));
			jk_str("message", shmap_strerror(crc));
			j_close('}');
		}
		json_participants(in);
		j_close('}');
		j_end_doc();
	} else {
		printf("%s: header ok (%s)\n", t.shown, shmap_kind_name(kind));
		if (dead)
			printf("%s: %u dead process%s still registered (harmless: a later attach "
			       "reuses the slot)\n",
			       t.shown, dead, dead == 1 ? "" : "es");
		if (refused) {
			printf("%s: repair refused: %u live process%s attached:", t.shown, alive,
			       alive == 1 ? "" : "es");
			uint32_t n = (uint32_t)shmap_info_field(in, SHMAP_INFO_MAX_PROCS);
			for (uint32_t i = 0; i < n; i++) {
				uint32_t pid = 0, a = 0;
				if (shmap_info_participant(in, i, &pid, NULL, &a) == SHMAP_OK && a)
					printf(" %u", pid);
			}
			printf("\n%s: stop them first, or use --force (the checker never takes "
			       "over a live "
			       "process's claims)\n",
			       t.shown);
		} else if (orc != SHMAP_OK) {
			printf("%s: cannot open the structure: %s [%s]\n", t.shown, explain(orc),
			       shmap_errname(orc));
		} else if (crc == SHMAP_OK) {
			printf("%s: ok, no problem found\n", t.shown);
		} else if (crc == SHMAP_RECOVERED) {
			printf("%s: %" PRIu64 " problem%s found and repaired\n", t.shown, problems,
			       problems == 1 ? "" : "s");
		} else if (crc == SHMAP_E_BUSY) {
			printf("%s: not quiescent: a live process holds a lock [%s]\n", t.shown,
			       shmap_errname(crc));
		} else {
			printf("%s: %" PRIu64 " problem%s found%s [%s]\n", t.shown, problems,
			       problems == 1 ? "" : "s",
			       opt.repair ? ", not all repairable"
					  : " (run with --repair to recover)",
			       shmap_errname(crc));
		}
	}
	shmap_info_free(in);
	target_fini(&t);
	return ex;
}

/* ---- rm -------------------------------------------------------------- */

static int cmd_rm(int argc, char **argv)
{
	if (argc < 1) {
		errmsg("rm", "expects at least one NAME");
		return EX_USAGE;
	}
	int status = EX_OK;
	for (int i = 0; i < argc; i++) {
		struct target t;
		shmap_info *in = NULL;
		int rc = open_one(argv[i], &t, &in);
		int ex = EX_OK;
		/* Only shmap segments (complete, broken or unfinished) are removed
		 * unless --force: never a foreign object. */
		int ours = rc == SHMAP_OK || rc == SHMAP_E_CORRUPT || rc == SHMAP_E_VERSION ||
			   rc == SHMAP_E_NOTREADY || rc == SHMAP_E_TRUNCATED;
		if (rc == SHMAP_E_NOENT || rc == SHMAP_E_INVAL || rc == SHMAP_E_NAMETOOLONG) {
			report_error(t.name, rc);
			ex = exit_for(rc);
		} else if (!ours && !opt.force) {
			errmsg(t.name, "%s; not removed (use --force to remove it anyway)",
			       explain(rc));
			ex = rc == SHMAP_E_BADMAGIC ? EX_NOTFOUND : EX_PROBLEM;
		} else {
			uint32_t alive = 0, dead = 0;
			if (in)
				count_parts(in, &alive, &dead);
			if (alive && !opt.json)
				fprintf(stderr,
					"%s: %s: warning: %u process%s still attached keep%s it "
					"until "
					"they close it\n",
					prog, t.shown, alive, alive == 1 ? "" : "es",
					alive == 1 ? "s" : "");
			rc = shmap_unlink(t.name, t.opts);
			if (rc != SHMAP_OK) {
				report_error(t.name, rc);
				ex = exit_for(rc);
			} else if (!opt.json) {
				printf("removed %s\n", t.shown);
			}
		}
		if (status == EX_OK)
			status = ex; /* the first failure decides */
		shmap_info_free(in);
		target_fini(&t);
	}
	return status;
}

/* ---- create ---------------------------------------------------------- */

static int create_opts(const struct target *t, shmap_opts **o)
{
	int rc = shmap_opts_new(o);
	if (rc == SHMAP_OK)
		rc = shmap_opts_set_backend(*o, t->backend);
	if (rc == SHMAP_OK)
		rc = shmap_opts_set_mode(*o, opt.mode);
	if (rc == SHMAP_OK && opt.max_procs)
		rc = shmap_opts_set_max_procs(*o, opt.max_procs);
	return rc;
}

static int cmd_create(int argc, char **argv)
{
	if (argc < 2) {
		errmsg("create", "expects KIND NAME PARAMS... (see --help)");
		return EX_USAGE;
	}
	const char *kind = argv[0];
	struct target t;
	int rc = target_init(&t, argv[1]);
	if (rc != SHMAP_OK) {
		report_error(t.name, rc);
		target_fini(&t);
		return exit_for(rc);
	}
	shmap_opts *o = NULL;
	rc = create_opts(&t, &o);
	if (rc != SHMAP_OK) {
		errmsg("create", "bad option: %s", shmap_strerror(rc));
		shmap_opts_free(o);
		target_fini(&t);
		return EX_USAGE;
	}
	char **p = argv + 2;
	int np = argc - 2;
	int usage = 0;
	if (0) {
	}
#ifdef SHMAPCTL_HAVE_VECTOR
	else if (strcmp(kind, "vector") == 0) {
		uint32_t es;
		uint64_t cap;
		if (np != 2 || parse_u32(p[0], &es) || parse_u64(p[1], &cap)) {
			usage = 1;
		} else {
			shmap_vector *v = NULL;
			rc = shmap_vector_open(t.name, SHMAP_CREATE, es, cap, o, &v);
			shmap_vector_close(v);
		}
	}
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	else if (strcmp(kind, "htable") == 0) {
		uint64_t cap;
		uint32_t km, vm;
		if (np != 3 || parse_u64(p[0], &cap) || parse_u32(p[1], &km) ||
		    parse_u32(p[2], &vm)) {
			usage = 1;
		} else {
			shmap_htable *h = NULL;
			rc = shmap_htable_open(t.name, SHMAP_CREATE, cap, km, vm, o, &h);
			shmap_htable_close(h);
		}
	}
#endif
#ifdef SHMAPCTL_HAVE_RING
	else if (strcmp(kind, "ring") == 0) {
		uint32_t type = 0, es, mc = 0;
		uint64_t cap;
		if (np >= 1) {
			if (!strcmp(p[0], "spsc"))
				type = SHMAP_RING_SPSC;
			else if (!strcmp(p[0], "spmc"))
				type = SHMAP_RING_SPMC;
			else if (!strcmp(p[0], "bcast") || !strcmp(p[0], "bcast-lossy") ||
				 !strcmp(p[0], "lossy"))
				type = SHMAP_RING_BCAST_LOSSY;
			else if (!strcmp(p[0], "bcast-reliable") || !strcmp(p[0], "reliable"))
				type = SHMAP_RING_BCAST_RELIABLE;
		}
		if (type == 0 || (np != 3 && np != 4) || parse_u32(p[1], &es) ||
		    parse_u64(p[2], &cap) || (np == 4 && parse_u32(p[3], &mc))) {
			usage = 1;
		} else {
			shmap_ring *r = NULL;
			rc = shmap_ring_open(t.name, SHMAP_CREATE, type, es, cap, mc,
					     SHMAP_RING_PRODUCER, o, &r);
			shmap_ring_close(r);
		}
	}
#endif
	else {
		errmsg("create", "unknown kind '%s' (this build knows:%s%s%s)", kind,
#ifdef SHMAPCTL_HAVE_HTABLE
		       " htable",
#else
		       "",
#endif
#ifdef SHMAPCTL_HAVE_RING
		       " ring",
#else
		       "",
#endif
#ifdef SHMAPCTL_HAVE_VECTOR
		       " vector"
#else
		       ""
#endif
		);
		usage = 2;
	}
	shmap_opts_free(o);
	if (usage == 1)
		errmsg("create", "bad parameters for %s (see --help)", kind);
	if (usage) {
		target_fini(&t);
		return EX_USAGE;
	}
	int ex = EX_OK;
	if (rc < 0) {
		if (rc == SHMAP_E_EXIST)
			errmsg(t.name, "already exists");
		else if (rc == SHMAP_E_INVAL || rc == SHMAP_E_TOOBIG)
			errmsg(t.name, "invalid parameters: %s [%s]", shmap_strerror(rc),
			       shmap_errname(rc));
		else
			report_error(t.name, rc);
		ex = (rc == SHMAP_E_INVAL || rc == SHMAP_E_TOOBIG || rc == SHMAP_E_NAMETOOLONG)
			     ? EX_USAGE
			     : EX_PROBLEM;
	}
	if (opt.json) {
		j_open('{');
		json_target(&t);
		jk_str("kind", kind);
		jk_str("status", rc < 0 ? shmap_errname(rc) : "created");
		if (rc < 0)
			jk_err("error", rc);
		j_close('}');
		j_end_doc();
	} else if (rc >= 0) {
		printf("created %s %s\n", kind, t.shown);
	}
	target_fini(&t);
	return ex;
}

/* ---- main ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmapctl [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  list [NAME|PATTERN...]    shmap segments in " SHM_DIR ", or those matching\n"
		"                            glob PATTERNs (quote them), or the given names/paths\n"
		"  info NAME                 header, attached processes, live state\n"
		"  dump NAME                 contents as hex and, where printable, text\n"
		"  check NAME                verify every invariant; --repair recovers what dead\n"
		"                            processes left (refused while processes are "
		"attached)\n"
		"  rm NAME...                remove segments (only shmap segments, unless "
		"--force)\n"
		"  create vector NAME ELEM_SIZE CAPACITY\n"
		"  create htable NAME CAPACITY KEY_MAX VALUE_MAX\n"
		"  create ring NAME TYPE ELEM_SIZE CAPACITY [MAX_CONSUMERS]\n"
		"                            TYPE: spsc, spmc, bcast-lossy, bcast-reliable\n"
		"\n"
		"NAME: /name or name is a POSIX shm segment; a path with a slash inside\n"
		"(./file, /dir/file) is a file-backed segment. Numbers accept k, M, G suffixes.\n"
		"\n"
		"Options:\n"
		"  --json            machine-readable output (list, info, dump, check, create)\n"
		"  --limit N         dump at most N elements/entries (default 100, 0 = all)\n"
		"  --bytes N         dump at most N bytes of each element (default 256, 0 = all)\n"
		"  --repair          check: repair what dead processes left\n"
		"  --force           check --repair: run beside live processes; rm: remove\n"
		"                    objects that are not shmap segments\n"
		"  --file, --shm     treat every NAME as a file path / a shm name\n"
		"  --mode OCTAL      create: permission bits (default 0600)\n"
		"  --max-procs N     create: participant slots (default 128)\n"
		"  --timeout MS      wait at most MS for a segment being built (default 1000)\n"
		"  --role ROLE       rings: attach as 'consumer' or 'producer' when the library\n"
		"                    cannot attach an observer without a role (may take over\n"
		"                    the role of a dead process)\n"
		"  -h, --help        this text\n"
		"  -V, --version     version of shmapctl and of the library\n"
		"\n"
		"Exit status: 0 success (check: no problem left), 1 problems found or the\n"
		"operation failed, 2 usage error, 3 no such segment or not a shmap segment,\n"
		"4 check --repair refused because live processes are attached.\n");
}

int main(int argc, char **argv)
{
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	int npos = 0;
	int only_pos = 0;
	if (!pos)
		return EX_PROBLEM;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_pos || a[0] != '-' || a[1] == 0) {
			pos[npos++] = argv[i];
			continue;
		}
		const char *val = NULL;
		const char *eq = strchr(a, '=');
		char keybuf[32];
		if (eq && a[1] == '-' && (size_t)(eq - a) < sizeof(keybuf)) {
			memcpy(keybuf, a, (size_t)(eq - a));
			keybuf[eq - a] = 0;
			val = eq + 1;
			a = keybuf;
		}
#define NEEDVAL()                                                           \
	do {                                                                \
		if (!val) {                                                 \
			if (i + 1 >= argc) {                                \
				errmsg(NULL, "option %s needs a value", a); \
				free(pos);                                  \
				return EX_USAGE;                            \
			}                                                   \
			val = argv[++i];                                    \
		}                                                           \
	} while (0)
		if (!strcmp(a, "--")) {
			only_pos = 1;
		} else if (!strcmp(a, "--json")) {
			opt.json = 1;
		} else if (!strcmp(a, "--repair")) {
			opt.repair = 1;
		} else if (!strcmp(a, "--force") || !strcmp(a, "-f")) {
			opt.force = 1;
		} else if (!strcmp(a, "--file")) {
			opt.file = 1;
		} else if (!strcmp(a, "--shm")) {
			opt.shm = 1;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			free(pos);
			return EX_OK;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("shmapctl %s (library %s, segment layout %u)\n",
			       SHMAP_VERSION_STRING, shmap_version_string(),
			       shmap_layout_version());
			free(pos);
			return EX_OK;
		} else if (!strcmp(a, "--limit") || !strcmp(a, "-n")) {
			NEEDVAL();
			if (parse_u64(val, &opt.limit))
				goto badval;
		} else if (!strcmp(a, "--bytes")) {
			NEEDVAL();
			if (parse_u64(val, &opt.bytes))
				goto badval;
		} else if (!strcmp(a, "--mode")) {
			NEEDVAL();
			char *end;
			errno = 0;
			unsigned long m = strtoul(val, &end, 8);
			if (errno || *end || end == val || m > 0777)
				goto badval;
			opt.mode = (uint32_t)m;
		} else if (!strcmp(a, "--max-procs")) {
			NEEDVAL();
			if (parse_u32(val, &opt.max_procs))
				goto badval;
		} else if (!strcmp(a, "--role")) {
			NEEDVAL();
			if (!strcmp(val, "consumer") || !strcmp(val, "subscriber"))
				opt.ring_role = 2; /* SHMAP_RING_CONSUMER (asserted below) */
			else if (!strcmp(val, "producer"))
				opt.ring_role = 1; /* SHMAP_RING_PRODUCER */
			else
				goto badval;
		} else if (!strcmp(a, "--timeout")) {
			NEEDVAL();
			if (parse_u32(val, &opt.timeout_ms))
				goto badval;
		} else {
			errmsg(NULL, "unknown option '%s' (see --help)", argv[i]);
			free(pos);
			return EX_USAGE;
		}
		continue;
	badval:
		errmsg(NULL, "bad value '%s' for %s", val, a);
		free(pos);
		return EX_USAGE;
#undef NEEDVAL
	}
	if (opt.file && opt.shm) {
		errmsg(NULL, "--file and --shm exclude each other");
		free(pos);
		return EX_USAGE;
	}
	if (npos == 0) {
		usage(stderr);
		free(pos);
		return EX_USAGE;
	}
	const char *cmd = pos[0];
	int n = npos - 1;
	char **args = pos + 1;
	int ex;
	if (!strcmp(cmd, "list") || !strcmp(cmd, "ls"))
		ex = cmd_list(n, args);
	else if (!strcmp(cmd, "info"))
		ex = cmd_info(n, args);
	else if (!strcmp(cmd, "dump"))
		ex = cmd_dump(n, args);
	else if (!strcmp(cmd, "check"))
		ex = cmd_check(n, args);
	else if (!strcmp(cmd, "rm"))
		ex = cmd_rm(n, args);
	else if (!strcmp(cmd, "create"))
		ex = cmd_create(n, args);
	else if (!strcmp(cmd, "help"))
		usage(stdout), ex = EX_OK;
	else {
		errmsg(NULL, "unknown command '%s' (see --help)", cmd);
		ex = EX_USAGE;
	}
	free(pos);
	if (fflush(stdout) != 0 && ex == EX_OK)
		ex = EX_PROBLEM;
	return ex;
}
