/* SPDX-License-Identifier: MIT */
/*
 * test_foreign.c - objects that are not shmap segments are never written,
 * and inspection validates a header exactly as open does.
 *
 * Foreign objects: zero-filled, sparse, random and "zero head, 1 at offset
 * 256" contents of every interesting size from 0 to 64 KiB, on the shm, file
 * and memfd (adopted fd) backends, opened with SHMAP_OPEN_OR_CREATE in three
 * situations:
 *   free:  nobody holds the builder lock (the opener's first probe);
 *   held:  another open file description holds the builder lock;
 *   taken: the object first carries the building mark (a dead build the
 *          opener takes over) and turns into the foreign content right after
 *          the opener took the builder lock (a failpoint hook rewrites it),
 *          so the opener's second probe, under its lock, must refuse it.
 * Each must be refused (SHMAP_E_BADMAGIC, or TIMEOUT while a foreign lock is
 * held on an empty object) with the content hash and size unchanged.
 * A real half-built segment -- its builder SIGKILLed at each build failpoint
 * -- is still rebuilt.
 *
 * Linked against the failpoint copy of the library.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <shmap/shmap.h>

#include "torture.h"
#include "segment-internal.h"

#ifndef SHMAP__MARK_BUILDING /* (so that this test also builds against an older segment-internal.h) */
#define SHMAP__MARK_BUILDING UINT64_C(0x31646c426d685302)
#define SHMAP__MAX_PARTS 4000u
#endif

/* Present in the failpoint build of this library; weak so that the
 * behavioural parts of this test also run against a build without it. */
extern void (*shmap__failpoint_hook)(const char *name) __attribute__((weak));

enum { PAT_ZERO, PAT_SPARSE, PAT_RANDOM, PAT_STATE1, PAT_ZHEAD, NPAT };
static const char *const pat_names[] = { "zero", "sparse", "random", "state1", "zero-head" };
enum { V_FREE, V_HELD, V_TAKEN, NVAR };
static const char *const var_names[] = { "free", "held", "taken" };

static size_t sizes[128];
static size_t nsizes;

static void make_sizes(void)
{
	static const size_t fixed[] = { 0, 1, 7, 8, 9, 63, 255, 256, 257, 263, 264, 511, 512, 513 };
	nsizes = 0;
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		sizes[nsizes++] = fixed[i];
	for (size_t k = 1; k <= 16; k++) {
		sizes[nsizes++] = k * 4096 - 1;
		sizes[nsizes++] = k * 4096;
		if (k < 16)
			sizes[nsizes++] = k * 4096 + 1;
	}
}

/* Fill fd (empty) with pattern p of n bytes. */
static void fill(int fd, int p, size_t n, uint64_t *rng)
{
	assert_int_equal(ftruncate(fd, 0), 0);
	if (n == 0)
		return;
	if (p == PAT_SPARSE) {
		assert_int_equal(ftruncate(fd, (off_t)n), 0);
		return;
	}
	uint8_t *b = calloc(1, n);
	assert_non_null(b);
	if (p == PAT_RANDOM || p == PAT_ZHEAD)
		for (size_t i = 0; i < n; i++)
			b[i] = (uint8_t)tt_rand(rng);
	if (p == PAT_ZHEAD)
		memset(b, 0, n < 8 ? n : 8);
	if ((p == PAT_STATE1 || p == PAT_ZHEAD) && n > 256) {
		memset(b + 256, 0, n - 256 < 8 ? n - 256 : 8);
		b[256] = 1; /* a BUILDING state word after a zero head */
	}
	assert_int_equal(pwrite(fd, b, n, 0), (ssize_t)n);
	free(b);
}

struct obj {
	int backend;
	char name[PATH_MAX];
	int fd;   /* our descriptor of the object */
	int lfd;  /* a second description (the foreign lock holder) */
	struct shmap__live lv; /* lock files: the foreign holder of the builder lock */
};

static char dir[64];

static void obj_make(struct obj *o, int backend)
{
	o->backend = backend;
	o->lfd = -1;
	shmap__plat_live_init(&o->lv, (uint32_t)backend, o->name, 0600);
	if (backend == SHMAP_BACKEND_SHM) {
		th_name(o->name, sizeof o->name, "foreign");
		o->fd = shm_open(o->name, O_RDWR | O_CREAT | O_EXCL, 0600);
	} else if (backend == SHMAP_BACKEND_FILE) {
		static unsigned n;
		snprintf(o->name, sizeof o->name, "%s/f%u", dir, n++);
		o->fd = open(o->name, O_RDWR | O_CREAT | O_EXCL, 0600);
	} else {
		snprintf(o->name, sizeof o->name, "foreign");
		o->fd = memfd_create("foreign", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	}
	assert_true(o->fd >= 0);
}

static void obj_drop(struct obj *o)
{
	if (o->lfd >= 0)
		close(o->lfd);
	shmap__plat_live_close(&o->lv, false);
	close(o->fd);
	/* shmap_unlink(): with lock files, the name's lock directory goes too */
	if (o->backend == SHMAP_BACKEND_SHM) {
		shmap_unlink(o->name, NULL);
	} else if (o->backend == SHMAP_BACKEND_FILE) {
		shmap_opts *fo = NULL;
		if (shmap_opts_new(&fo) == SHMAP_OK && shmap_opts_set_backend(fo, SHMAP_BACKEND_FILE) == SHMAP_OK)
			shmap_unlink(o->name, fo);
		shmap_opts_free(fo);
	}
}

static int second_description(const struct obj *o)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", o->fd);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static int open_vector(const struct obj *o, uint32_t timeout_ms, shmap_vector **v)
{
	shmap_opts *op;
	assert_int_equal(shmap_opts_new(&op), SHMAP_OK);
	assert_int_equal(shmap_opts_set_backend(op, (uint32_t)o->backend), SHMAP_OK);
	assert_int_equal(shmap_opts_set_timeout_ms(op, timeout_ms), SHMAP_OK);
	if (o->backend == SHMAP_BACKEND_MEMFD)
		assert_int_equal(shmap_opts_set_fd(op, o->fd), SHMAP_OK);
	int rc = shmap_vector_open(o->backend == SHMAP_BACKEND_MEMFD ? NULL : o->name, SHMAP_OPEN_OR_CREATE, 16,
				   64, op, v);
	shmap_opts_free(op);
	return rc;
}

/* The 'taken' hook: at the opener's takeover, right after it took the
 * builder lock, turn the marked object into the foreign content. */
static struct {
	int fd;
	int pat;
	size_t size;
	uint64_t seed;
	int fired;
} hook;

static void takeover_hook(const char *fp)
{
	if (strcmp(fp, "seg.takeover.locked") != 0 || hook.fired)
		return;
	hook.fired = 1;
	uint64_t rng = hook.seed;
	fill(hook.fd, hook.pat, hook.size, &rng);
}

static void test_foreign_objects_untouched(void **state)
{
	(void)state;
	make_sizes();
	snprintf(dir, sizeof dir, "/tmp/shmap-t-foreignXXXXXX");
	assert_non_null(mkdtemp(dir));
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	print_message("# foreign objects seed %llu\n", (unsigned long long)seed);
	const bool have_hook = &shmap__failpoint_hook != NULL;
	unsigned cases = 0, bad = 0, changed = 0, refused[4] = { 0 };
	double t0 = th_now();
	for (int backend = 0; backend <= (int)SHMAP_BACKEND_MEMFD; backend++) {
		for (int var = 0; var < NVAR; var++) {
			if (var == V_TAKEN && !have_hook)
				continue;
			for (size_t si = 0; si < nsizes; si++) {
				for (int p = 0; p < NPAT; p++) {
					const size_t n = sizes[si];
					if (n == 0 && p != PAT_ZERO)
						continue; /* every pattern of 0 bytes is the same */
					struct obj o;
					obj_make(&o, backend);
					uint64_t rng = seed ^ (si * 977u + (size_t)p * 31u + (size_t)backend);
					if (var == V_TAKEN) {
						/* what a builder leaves when killed right
						 * after its mark: a dead build to take over */
						const uint64_t mark = SHMAP__MARK_BUILDING;
						assert_int_equal(pwrite(o.fd, &mark, 8, 0), 8);
						hook.fd = o.fd;
						hook.pat = p;
						hook.size = n;
						hook.seed = rng;
						hook.fired = 0;
						shmap__failpoint_hook = takeover_hook;
					} else {
						fill(o.fd, p, n, &rng);
					}
					if (var == V_HELD && SHMAP_PLAT_OFD_LOCKS) {
						o.lfd = second_description(&o);
						struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
								    .l_start = SHMAP__LOCK_BUILDER, .l_len = 1 };
						assert_int_equal(fcntl(o.lfd, F_OFD_SETLK, &fl), 0);
					} else if (var == V_HELD) {
						/* lock files: the builder lock of the name (an
						 * anonymous object has none) */
						assert_int_equal(shmap__plat_live_bind(&o.lv, o.fd), 0);
						assert_int_equal(shmap__plat_live_trylock(&o.lv, SHMAP__LIVE_BUILDER), 0);
					}
					uint64_t before = tt_hash_fd(o.fd);
					struct stat sb;
					assert_int_equal(fstat(o.fd, &sb), 0);
					shmap_vector *v = NULL;
					int rc = open_vector(&o, 20, &v);
					if (var == V_TAKEN) {
						shmap__failpoint_hook = NULL;
						if (!hook.fired)
							fail_msg("%s/%s/%zu/%s: the opener did not take the "
								 "marked object over (%s)",
								 backend == 0 ? "shm" : backend == 1 ? "file" : "memfd",
								 var_names[var], n, pat_names[p], shmap_errname(rc));
						before = tt_hash_fd(o.fd); /* the foreign content */
						uint64_t r3 = rng;
						struct obj ref;
						obj_make(&ref, SHMAP_BACKEND_MEMFD);
						fill(ref.fd, p, n, &r3);
						/* the hook wrote exactly the pattern */
						assert_int_equal(tt_hash_fd(ref.fd), before);
						assert_int_equal(fstat(ref.fd, &sb), 0);
						obj_drop(&ref);
					}
					struct stat sa;
					assert_int_equal(fstat(o.fd, &sa), 0);
					const uint64_t after = tt_hash_fd(o.fd);
					/* lock files: an anonymous object has no builder lock */
					const bool held = var == V_HELD &&
							  (SHMAP_PLAT_OFD_LOCKS || backend != SHMAP_BACKEND_MEMFD);
					const int want = held && n == 0 ? SHMAP_E_TIMEOUT : SHMAP_E_BADMAGIC;
					const bool ok = rc == want && after == before && sa.st_size == sb.st_size;
					changed += after != before || sa.st_size != sb.st_size;
					if (!ok) {
						if (bad++ < 12)
							print_message("#   %s %s size %zu %s: %s, size %lld -> %lld, "
								      "content %s\n",
								      backend == 0 ? "shm" : backend == 1 ? "file" : "memfd",
								      var_names[var], n, pat_names[p], shmap_errname(rc),
								      (long long)sb.st_size, (long long)sa.st_size,
								      after == before ? "unchanged" : "CHANGED");
					}
					refused[var] += rc < 0;
					if (rc >= 0)
						shmap_vector_close(v);
					obj_drop(&o);
					cases++;
				}
			}
		}
	}
	rmdir(dir);
	print_message("# foreign objects: %u cases (%zu sizes 0..64 KiB, 3 backends, free/held/taken%s) in "
		      "%.2f s: refused %u/%u/%u, %u wrong, %u written\n",
		      cases, nsizes, have_hook ? "" : " (no hook: taken skipped)", th_now() - t0, refused[0],
		      refused[1], refused[2], bad, changed);
	assert_int_equal(changed, 0);
	assert_int_equal(bad, 0);
}

/* A builder SIGKILLed at each build step leaves a segment that an
 * open-or-create rebuilds (the mark makes it recognisable). */
static const char *const build_fps[] = {
	"seg.open.after_open", "seg.create.locked", "seg.build.before_size", "seg.build.after_size",
	"seg.build.building", "seg.build.after_init", "seg.build.before_ready",
};

struct builder_ctx {
	struct obj *o;
};

static int builder_child(void *a)
{
	struct builder_ctx *c = a;
	shmap_vector *v;
	int rc = open_vector(c->o, 200, &v);
	return rc < 0 ? 1 : 0;
}

static void test_half_built_is_recovered(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/shmap-t-halfXXXXXX");
	assert_non_null(mkdtemp(dir));
	unsigned recovered = 0, runs = 0;
	for (int backend = 0; backend <= (int)SHMAP_BACKEND_FILE; backend++) {
		for (size_t f = 0; f < sizeof build_fps / sizeof build_fps[0]; f++) {
			struct obj o;
			char name[PATH_MAX];
			if (backend == SHMAP_BACKEND_SHM) {
				th_name(name, sizeof name, "half");
			} else {
				static unsigned n;
				snprintf(name, sizeof name, "%s/h%u", dir, n++);
			}
			o.backend = backend;
			o.fd = -1;
			o.lfd = -1;
			shmap__plat_live_init(&o.lv, (uint32_t)backend, o.name, 0600);
			snprintf(o.name, sizeof o.name, "%s", name);
			struct builder_ctx c = { &o };
			int code = 0;
			int out = tt_kill_at(build_fps[f], 1, builder_child, &c, 0, 10, &code);
			if (out != TT_KILLED)
				fail_msg("builder at %s: outcome %d (code %d)", build_fps[f], out, code);
			shmap_vector *v = NULL;
			int rc = open_vector(&o, 200, &v);
			if (rc < 0)
				fail_msg("%s, builder killed at %s: %s", backend ? "file" : "shm", build_fps[f],
					 shmap_errname(rc));
			uint64_t idx;
			char e[16] = "after";
			assert_int_equal(shmap_vector_push(v, e, &idx), SHMAP_OK);
			recovered += rc == SHMAP_RECOVERED;
			shmap_vector_close(v);
			shmap_opts *op;
			assert_int_equal(shmap_opts_new(&op), SHMAP_OK);
			assert_int_equal(shmap_opts_set_backend(op, (uint32_t)backend), SHMAP_OK);
			assert_int_equal(shmap_unlink(name, op), SHMAP_OK);
			shmap_opts_free(op);
			runs++;
		}
	}
	rmdir(dir);
	print_message("# half-built segments: %u builders killed at a build step, %u rebuilt (%u RECOVERED)\n",
		      runs, runs, recovered);
	/* the sized ones (after_size .. before_ready) report a recovery */
	assert_true(recovered >= 2u * 4u);
}

/* ------------------------------------------------------------------ */
/* item: inspection validates like open                                 */

static void seg_path(const char *name, char *path, size_t len)
{
	snprintf(path, len, "/dev/shm%s", name);
}

static void test_inspect_validates_like_open(void **state)
{
	(void)state;
	struct hcase {
		const char *what;
		int field; /* 0 data_off, 1 data_size, 2 total_size, 3 nparts, 4 capacity */
		uint64_t value;
		int grow_file; /* make the file big enough for the claimed size */
		int want;
	} cases[] = {
		{ "data_off = 2^64-1", 0, UINT64_MAX, 0, SHMAP_E_CORRUPT },
		{ "data_off one page on", 0, 0, 0, SHMAP_E_CORRUPT },
		{ "data_size = 2^62", 1, UINT64_C(1) << 62, 0, SHMAP_E_CORRUPT },
		{ "data_size + 4096", 1, 4096, 1, SHMAP_E_CORRUPT },
		{ "total_size - 4096", 2, 0, 0, SHMAP_E_CORRUPT },
		{ "total_size + 4096 (file grown)", 2, 4096, 1, SHMAP_E_CORRUPT },
		{ "total_size past the file", 2, 8192, 0, SHMAP_E_TRUNCATED },
		{ "nparts 4001, layout consistent", 3, 4001, 1, SHMAP_E_CORRUPT },
		{ "nparts 4096, layout consistent", 3, 4096, 1, SHMAP_E_CORRUPT },
		{ "capacity the kind does not match", 4, 0, 0, SHMAP_E_CORRUPT },
	};
	unsigned agreed = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char name[96], path[128];
		th_name(name, sizeof name, "hdr");
		seg_path(name, path, sizeof path);
		shmap_vector *v;
		assert_int_equal(shmap_vector_open(name, SHMAP_CREATE, 16, 64, NULL, &v), SHMAP_OK);
		shmap_vector_close(v);
		int fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		struct shmap__hdr h;
		assert_int_equal(pread(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
		switch (cases[i].field) {
		case 0:
			h.data_off = cases[i].value ? cases[i].value : h.data_off + 4096;
			break;
		case 1:
			h.data_size = cases[i].value == 4096 ? h.data_size + 4096 : cases[i].value;
			if (cases[i].value == 4096)
				h.total_size += 4096;
			break;
		case 2:
			h.total_size = cases[i].value ? h.total_size + cases[i].value : h.total_size - 4096;
			break;
		case 3: {
			h.nparts = (uint32_t)cases[i].value;
			h.data_off = SHMAP_ALIGN_UP(SHMAP__HDR_SIZE + (uint64_t)h.nparts * 64u, (uint64_t)4096);
			h.total_size = SHMAP_ALIGN_UP(h.data_off + h.data_size, (uint64_t)4096);
			break;
		}
		case 4:
			h.capacity *= 2; /* data_size no longer the kind's layout */
			break;
		}
		h.checksum = shmap__hdr_checksum(&h);
		assert_int_equal(pwrite(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
		if (cases[i].grow_file)
			assert_int_equal(ftruncate(fd, (off_t)h.total_size + 8192), 0);
		uint64_t before = tt_hash_fd(fd);
		shmap_info *in = NULL;
		int irc = shmap_info_open(name, NULL, &in);
		if (irc == SHMAP_OK)
			shmap_info_free(in);
		int orc = shmap_vector_open(name, SHMAP_OPEN, 0, 0, NULL, &v);
		if (orc >= 0)
			shmap_vector_close(v);
		shmap_htable *t;
		int trc = shmap_htable_open(name, SHMAP_OPEN, 0, 0, 0, NULL, &t);
		if (trc >= 0)
			shmap_htable_close(t);
		print_message("#   %-34s inspect %-18s open %-18s\n", cases[i].what, shmap_errname(irc),
			      shmap_errname(orc));
		if (irc != cases[i].want || orc != cases[i].want)
			fail_msg("%s: inspect %s, open %s, want %s", cases[i].what, shmap_errname(irc),
				 shmap_errname(orc), shmap_errname(cases[i].want));
		/* another kind's open refuses it too, before looking at the kind */
		assert_true(trc < 0);
		assert_int_equal(tt_hash_fd(fd), before);
		agreed++;
		close(fd);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
	print_message("# inspection and open agree on %u bad headers\n", agreed);
	/* one participant limit: what a create accepts, inspection accepts */
	shmap_opts *op;
	assert_int_equal(shmap_opts_new(&op), SHMAP_OK);
	assert_int_equal(shmap_opts_set_max_procs(op, SHMAP__MAX_PARTS), SHMAP_OK);
	assert_int_equal(shmap_opts_set_max_procs(op, SHMAP__MAX_PARTS + 1), SHMAP_E_INVAL);
	char name[96];
	th_name(name, sizeof name, "maxparts");
	shmap_vector *v;
	assert_int_equal(shmap_vector_open(name, SHMAP_CREATE, 16, 64, op, &v), SHMAP_OK);
	shmap_info *in = NULL;
	assert_int_equal(shmap_info_open(name, NULL, &in), SHMAP_OK);
	assert_int_equal(shmap_info_field(in, SHMAP_INFO_MAX_PROCS), SHMAP__MAX_PARTS);
	shmap_info_free(in);
	shmap_vector_close(v);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	shmap_opts_free(op);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_objects_untouched),
		cmocka_unit_test(test_half_built_is_recovered),
		cmocka_unit_test(test_inspect_validates_like_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
