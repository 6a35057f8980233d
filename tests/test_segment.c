/* SPDX-License-Identifier: MIT */
/*
 * test_segment.c - single-process tests of the storage layer (white-box).
 *
 * scenarios covered here: 3 (short/odd-sized objects),
 * 4 (version/layout mismatch), 5 (not-a-shmap / corrupted header), the
 * growth half of 6, 8 (name table), 10 (exact mode under any umask),
 * 11 (create/close/unlink leaks), plus semantics of create/open, the file
 * and memfd backends, unlink while open, participants and guard pages.
 * Every validation failure also checks that the segment's bytes are
 * unchanged (content hash before and after).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <shmap/shmap.h>

#include "torture.h"
#include "segment_kind.h"
#include "hash-internal.h"

/* ------------------------------------------------------------------ */
/* Count the library's object-creating calls: the test executable's     */
/* definitions interpose on libc's for the statically linked library.   */

/* In a statically linked test program (-Dstatic_tests=true) there is no    */
/* next definition to find: the calls are then made as glibc makes them.   */

static unsigned n_shm_open, n_memfd;

/* This file counts the library's shm_open calls itself (below); its own
 * raw opens go around a tests/shim personality with th_raw(). */
#undef shm_open
#undef memfd_create

static int static_shm_open(const char *name, int oflag, mode_t mode)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "/dev/shm/%s", name[0] == '/' ? name + 1 : name) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, oflag | O_NOFOLLOW | O_CLOEXEC, mode);
}

static int static_memfd_create(const char *name, unsigned int flags)
{
	return (int)syscall(SYS_memfd_create, name, flags);
}

int shm_open(const char *name, int oflag, mode_t mode)
{
	static int (*real)(const char *, int, mode_t);
	if (!real)
	{
		void *sym = dlsym(RTLD_NEXT, "shm_open");
		memcpy(&real, &sym, sizeof sym);
		if (!real)
			real = static_shm_open;
	}
	n_shm_open++;
	return real(name, oflag, mode);
}

int memfd_create(const char *name, unsigned int flags)
{
	static int (*real)(const char *, unsigned int);
	if (!real)
	{
		void *sym = dlsym(RTLD_NEXT, "memfd_create");
		memcpy(&real, &sym, sizeof sym);
		if (!real)
			real = static_memfd_create;
	}
	n_memfd++;
	return real(name, flags);
}

/* ------------------------------------------------------------------ */

static struct shmap_opts opts_default(void)
{
	struct shmap_opts o;
	shmap__opts_defaults(&o);
	return o;
}

static int shm_fd_of(const char *name)
{
	th_raw(1);
	int fd = shm_open(name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	th_raw(0);
	return fd;
}

static char *devshm_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm%s", name);
	return buf;
}

/* Create a segment of `cap` counters under `name`, close it (the name stays). */
static void make_seg(const char *name, uint64_t cap)
{
	struct shmap__params want = tk_params(cap);
	struct shmap__seg s;
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &s), SHMAP_OK);
	assert_int_equal(tk_verify(&s), 0);
	shmap__seg_close(&s);
}

/* ------------------------------------------------------------------ */
/* scenario 8: names                                                    */

struct name_case {
	const char *name;
	int expect;
};

/* /dev/shm entries other than the test segments (th_name: "shmap-t-...")
 * of other test programs (meson runs this one alone, but a test run in
 * another build directory may share the machine). */
static int shm_not_tests(void)
{
	DIR *d = opendir("/dev/shm");
	int n = 0;
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strncmp(e->d_name, "shmap-t-", 8) != 0)
			n++;
	closedir(d);
	return n;
}

static void test_names(void **state)
{
	(void)state;
	/* Names are named after Linux's limit (NAME_MAX = 255 bytes after the
	 * '/'); L is the platform's (th_name_max(): 30 on macOS and with the
	 * forced object fallbacks), so n255 has L bytes after its '/'. */
	const size_t L = th_name_max();
	char n253[260], n254[260], n255[260], n256[260], w254[260], w255[260], w256[260];
	n253[0] = n254[0] = n255[0] = n256[0] = '/';
	snprintf(n253 + 1, sizeof n253 - 1, "shmap-t-n-%d-", (int)getpid());
	size_t pl = strlen(n253);
	if (pl - 1 > L - 2) /* a short limit: a shorter prefix */
		pl = 1 + (size_t)snprintf(n253 + 1, sizeof n253 - 1, "shmap-t-%d-", (int)getpid() % 1000);
	/* component lengths L-2 .. L+1 (the part after '/') */
	memset(n253 + pl, 'x', (L - 2) - (pl - 1));
	n253[L - 1] = 0;
	memcpy(n254, n253, L - 1);
	n254[L - 1] = 'x';
	n254[L] = 0;
	memcpy(n255, n254, L);
	n255[L] = 'x';
	n255[L + 1] = 0;
	memcpy(n256, n255, L + 1);
	n256[L + 1] = 'x';
	n256[L + 2] = 0;
	/* whole-name lengths L-1 .. L+1 (including the '/') */
	memcpy(w254, n253, L - 1);
	w254[L - 1] = 0;
	memcpy(w255, n254, L);
	w255[L] = 0;
	memcpy(w256, n255, L + 1);
	w256[L + 1] = 0;
	assert_int_equal(strlen(n255), L + 1);
	assert_int_equal(strlen(w255), L);

	const struct name_case bad[] = {
		{ "", SHMAP_E_INVAL },        { "/", SHMAP_E_INVAL },       { "//", SHMAP_E_INVAL },
		{ "a/b", SHMAP_E_INVAL },     { "/a/b", SHMAP_E_INVAL },    { ".", SHMAP_E_INVAL },
		{ "..", SHMAP_E_INVAL },      { "/.", SHMAP_E_INVAL },      { "/..", SHMAP_E_INVAL },
		{ "/a/", SHMAP_E_INVAL },     { "//a", SHMAP_E_INVAL },     { "noslash", SHMAP_E_INVAL },
		{ "/sem.x", SHMAP_E_INVAL },  { "sem.x", SHMAP_E_INVAL },   { "/a\nb", SHMAP_E_INVAL },
		{ "/a\x01", SHMAP_E_INVAL },  { "/\x1f", SHMAP_E_INVAL },   { "/a\x7f", SHMAP_E_INVAL },
		{ "/\tx", SHMAP_E_INVAL },    { n256, SHMAP_E_NAMETOOLONG },
	};
	char before_list[64];
	snprintf(before_list, sizeof before_list, "shmap-t-n-%d-", (int)getpid());
	int shm_before = shm_not_tests();
	const uint32_t oflags[] = { SHMAP_CREATE, SHMAP_OPEN, SHMAP_OPEN_OR_CREATE };
	struct shmap__params want = tk_params(16);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(shmap__name_check(bad[i].name, SHMAP_BACKEND_SHM), bad[i].expect);
		for (size_t k = 0; k < 3; k++) {
			struct shmap__seg s;
			n_shm_open = n_memfd = 0;
			errno = 4242;
			int rc = shmap__seg_open(bad[i].name, oflags[k], &want, &tk_ops, NULL, &s);
			if (rc != bad[i].expect)
				fail_msg("name #%zu (len %zu) oflags %u: got %s want %s", i,
					 strlen(bad[i].name), oflags[k], shmap_errname(rc),
					 shmap_errname(bad[i].expect));
			/* no system call: no shm_open, errno untouched, nothing created */
			assert_int_equal(n_shm_open, 0);
			assert_int_equal(n_memfd, 0);
			assert_int_equal(errno, 4242);
		}
		errno = 4242;
		assert_int_equal(shmap_unlink(bad[i].name, NULL), bad[i].expect);
		assert_int_equal(errno, 4242);
	}
	struct shmap__seg s;
	assert_int_equal(shmap__seg_open(NULL, SHMAP_CREATE, &want, &tk_ops, NULL, &s), SHMAP_E_INVAL);
	assert_int_equal(shmap_unlink(NULL, NULL), SHMAP_E_INVAL);
	assert_int_equal(shm_not_tests(), shm_before);

	/* valid: component lengths L-2 .. L and whole lengths L-1 .. L+1 */
	const char *good[] = { n253, n254, n255, w254, w255, w256, "/a", "/sem", "/.x", "/...", "/a b" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		assert_int_equal(shmap__name_check(good[i], SHMAP_BACKEND_SHM), SHMAP_OK);
		char nm[300];
		/* short ones get a unique suffix so parallel runs do not collide */
		if (strlen(good[i]) < 12)
			snprintf(nm, sizeof nm, "%s-%d", good[i], (int)getpid());
		else
			snprintf(nm, sizeof nm, "%s", good[i]);
		int rc = shmap__seg_open(nm, SHMAP_CREATE, &want, &tk_ops, NULL, &s);
		if (rc != SHMAP_OK)
			fail_msg("valid name of length %zu refused: %s", strlen(nm), shmap_errname(rc));
		shmap__seg_close(&s);
		assert_int_equal(shmap_unlink(nm, NULL), SHMAP_OK);
	}
	assert_int_equal(shm_not_tests(), shm_before);

	/* file backend: "" and >= PATH_MAX; memfd labels up to 249 bytes */
	struct shmap_opts o = opts_default();
	o.backend = SHMAP_BACKEND_FILE;
	char *longp = malloc(PATH_MAX + 8);
	memset(longp, 'a', PATH_MAX + 7);
	longp[0] = '/';
	longp[PATH_MAX + 7] = 0;
	n_shm_open = 0;
	errno = 4242;
	assert_int_equal(shmap__seg_open("", SHMAP_CREATE, &want, &tk_ops, &o, &s), SHMAP_E_INVAL);
	assert_int_equal(shmap__seg_open(longp, SHMAP_CREATE, &want, &tk_ops, &o, &s),
			 SHMAP_E_NAMETOOLONG);
	assert_int_equal(errno, 4242);
	assert_int_equal(shmap_unlink("", &o), SHMAP_E_INVAL);
	free(longp);
	o.backend = SHMAP_BACKEND_MEMFD;
	char label[260];
	memset(label, 'l', 250);
	label[250] = 0;
	n_memfd = 0;
	assert_int_equal(shmap__seg_open(label, SHMAP_CREATE, &want, &tk_ops, &o, &s),
			 SHMAP_E_NAMETOOLONG);
	assert_int_equal(shmap__seg_open("", SHMAP_CREATE, &want, &tk_ops, &o, &s), SHMAP_E_INVAL);
	assert_int_equal(n_memfd, 0);
	assert_int_equal(n_shm_open, 0);
	label[249] = 0;
	assert_int_equal(shmap__seg_open(label, SHMAP_CREATE, &want, &tk_ops, &o, &s), SHMAP_OK);
	shmap__seg_close(&s);
	assert_int_equal(shmap_unlink("/x", &o), SHMAP_E_INVAL); /* memfd has no name */
}

/* ------------------------------------------------------------------ */
/* create / open / open-or-create                                       */

static void test_create_open(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "co");
	struct shmap__params want = tk_params(100);
	struct shmap__seg a, b, c;
	int before = tt_count_shm("shmap-t-co");

	/* bad arguments */
	assert_int_equal(shmap__seg_open(name, 0, &want, &tk_ops, NULL, &a), SHMAP_E_INVAL);
	assert_int_equal(shmap__seg_open(name, 4, &want, &tk_ops, NULL, &a), SHMAP_E_INVAL);
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, NULL, &tk_ops, NULL, &a), SHMAP_E_INVAL);
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, NULL, NULL, &a), SHMAP_E_INVAL);
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, NULL), SHMAP_E_INVAL);
	struct shmap__params bad = tk_params(0);
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &bad, &tk_ops, NULL, &a), SHMAP_E_INVAL);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN_OR_CREATE, &bad, &tk_ops, NULL, &a), SHMAP_E_INVAL);
	assert_int_equal(tt_count_shm("shmap-t-co"), before); /* nothing created */

	/* open of a missing name */
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, NULL, &a), SHMAP_E_NOENT);
	assert_int_equal(tt_count_shm("shmap-t-co"), before);

	/* create */
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &a), SHMAP_OK);
	assert_true(a.created);
	assert_false(a.recovered_build);
	assert_int_equal(a.generation, 1);
	assert_int_equal(a.p.capacity, 100);
	assert_int_equal(a.p.nparts, 128);
	assert_int_not_equal(a.p.hash_seed, 0);
	assert_non_null(a.data);
	assert_int_equal((uintptr_t)a.data % SHMAP__PAGE, 0);
	assert_int_equal(tk_verify(&a), 0);
	assert_int_not_equal(a.owner, 0);
	assert_int_equal(shmap__seg_check(&a), SHMAP_OK);
	/* header: every region cache-line (page) aligned, sizes consistent */
	const struct shmap__hdr *h = (const struct shmap__hdr *)a.base;
	assert_int_equal(h->magic, SHMAP__MAGIC);
	assert_int_equal(h->parts_off % SHMAP_CACHELINE, 0);
	assert_int_equal(h->data_off % SHMAP__PAGE, 0);
	assert_int_equal(h->total_size % SHMAP__PAGE, 0);
	assert_true(h->data_off + h->data_size <= h->total_size);
	assert_int_equal(h->state, (1u << 8) | SHMAP__ST_READY);
	assert_int_equal(h->creator_pid, (uint32_t)getpid());

	/* exclusive create of an existing name */
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &b), SHMAP_E_EXIST);

	/* open, accepting stored parameters (0) or naming equal ones */
	struct shmap__params any = tk_params(0);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &any, &tk_ops, NULL, &b), SHMAP_OK);
	assert_false(b.created);
	assert_int_equal(b.p.capacity, 100);
	assert_int_equal(b.p.hash_seed, a.p.hash_seed);
	assert_int_equal(b.generation, 1);
	assert_int_equal(tk_verify(&b), 0);
	assert_int_not_equal(b.owner, a.owner);
	assert_int_not_equal(b.slot, a.slot);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN_OR_CREATE, &want, &tk_ops, NULL, &c), SHMAP_OK);
	assert_false(c.created);

	/* the three handles share memory */
	((uint64_t *)a.data)[7] = 0x1234;
	assert_int_equal(((uint64_t *)b.data)[7], 0x1234);
	assert_int_equal(((uint64_t *)c.data)[7], 0x1234);
	shmap__seg_close(&c);
	shmap__seg_close(&b);
	shmap__seg_close(&a);
	shmap__seg_close(&a); /* double close is a no-op */

	/* open-or-create of a new name creates */
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_E_NOENT);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN_OR_CREATE, &want, &tk_ops, NULL, &a), SHMAP_OK);
	assert_true(a.created);
	assert_int_equal(a.generation, 1);
	shmap__seg_close(&a);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	assert_int_equal(tt_count_shm("shmap-t-co"), before);

	/* option flags: pre-fault, and huge pages (a hint on the shm backend) */
	struct shmap_opts fo;
	shmap__opts_defaults(&fo);
	fo.flags = SHMAP_OPT_PREFAULT | SHMAP_OPT_HUGEPAGES;
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, &fo, &a), SHMAP_OK);
	assert_int_equal(tk_verify(&a), 0);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &fo, &b), SHMAP_OK);
	shmap__seg_close(&b);
	shmap__seg_close(&a);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);

	/* a zeroed seg closes safely */
	struct shmap__seg z;
	memset(&z, 0, sizeof z);
	shmap__seg_close(&z);
	shmap__seg_close(NULL);
}

/* ------------------------------------------------------------------ */
/* scenarios 4 and 5: validation failures leave the bytes unchanged      */

typedef void (*mutator)(struct shmap__hdr *h, int fd);

static void recsum(struct shmap__hdr *h)
{
	h->checksum = shmap__hash64(h, offsetof(struct shmap__hdr, checksum), 0);
}

static void mut_version(struct shmap__hdr *h, int fd) { (void)fd; h->layout_version++; recsum(h); }
static void mut_version_nosum(struct shmap__hdr *h, int fd) { (void)fd; h->layout_version = 0; }
/* A segment written by a library of the previous layout (1: before hash
 * tables had a record area), checksum valid. */
static void mut_version_prev(struct shmap__hdr *h, int fd) { (void)fd; h->layout_version--; recsum(h); }
static void mut_desc(struct shmap__hdr *h, int fd) { (void)fd; h->layout_desc ^= 1u << 24; recsum(h); }
static void mut_desc_endian(struct shmap__hdr *h, int fd) { (void)fd; h->layout_desc ^= 2u; recsum(h); }
static void mut_magic(struct shmap__hdr *h, int fd) { (void)fd; h->magic ^= 0x100; }
static void mut_magic_swapped(struct shmap__hdr *h, int fd) { (void)fd; h->magic = __builtin_bswap64(SHMAP__MAGIC); recsum(h); }
static void mut_cap_nosum(struct shmap__hdr *h, int fd) { (void)fd; h->capacity++; }
static void mut_sum(struct shmap__hdr *h, int fd) { (void)fd; h->checksum ^= 1; }
static void mut_seed_nosum(struct shmap__hdr *h, int fd) { (void)fd; h->hash_seed ^= 1; }
static void mut_cap_sum(struct shmap__hdr *h, int fd) { (void)fd; h->capacity *= 2; recsum(h); }
static void mut_data_off(struct shmap__hdr *h, int fd) { (void)fd; h->data_off += SHMAP__PAGE; recsum(h); }
static void mut_parts_off(struct shmap__hdr *h, int fd) { (void)fd; h->parts_off = 64; recsum(h); }
static void mut_nparts0(struct shmap__hdr *h, int fd) { (void)fd; h->nparts = 0; recsum(h); }
static void mut_nparts_big(struct shmap__hdr *h, int fd) { (void)fd; h->nparts = 1u << 20; recsum(h); }
static void mut_data_size(struct shmap__hdr *h, int fd) { (void)fd; h->data_size += 8; recsum(h); }
static void mut_elem(struct shmap__hdr *h, int fd) { (void)fd; h->elem_size = 7; recsum(h); }
static void mut_total_big(struct shmap__hdr *h, int fd) { (void)fd; h->total_size += SHMAP__PAGE; recsum(h); }
static void mut_total_small(struct shmap__hdr *h, int fd) { (void)fd; h->total_size -= SHMAP__PAGE; recsum(h); }
static void mut_total_huge(struct shmap__hdr *h, int fd) { (void)fd; h->total_size = UINT64_MAX; recsum(h); }
static void mut_truncate(struct shmap__hdr *h, int fd) { (void)h; assert_int_equal(ftruncate(fd, (off_t)h->total_size - 1), 0); }
static void mut_building(struct shmap__hdr *h, int fd) { (void)fd; h->state = (1u << 8) | SHMAP__ST_BUILDING; }

struct val_case {
	const char *what;
	mutator m;
	int expect;
};

/* Build a segment, mutate its header with pwrite, then open it; nothing may be written. */
static void check_validation(const struct val_case *vc, uint32_t oflags)
{
	char name[96];
	th_name(name, sizeof name, "val");
	make_seg(name, 64);
	int fd = shm_fd_of(name);
	assert_true(fd >= 0);
	struct shmap__hdr h;
	assert_int_equal(pread(fd, &h, sizeof h, 0), sizeof h);
	vc->m(&h, fd);
	assert_int_equal(pwrite(fd, &h, sizeof h, 0), sizeof h);
	struct stat st0, st1;
	assert_int_equal(fstat(fd, &st0), 0);
	uint64_t before = tt_hash_fd(fd);

	struct shmap_opts o = opts_default();
	o.timeout_ms = 20;
	/* open accepts what is stored (0); open-or-create must name valid params */
	struct shmap__params want = tk_params(oflags & SHMAP_CREATE ? 64 : 0);
	struct shmap__seg s;
	int rc = shmap__seg_open(name, oflags, &want, &tk_ops, &o, &s);
	if (rc != vc->expect)
		fail_msg("%s (oflags %u): got %s, want %s", vc->what, oflags, shmap_errname(rc),
			 shmap_errname(vc->expect));
	assert_null(s.base);
	assert_int_equal(tt_hash_fd(fd), before);
	assert_int_equal(fstat(fd, &st1), 0);
	assert_int_equal(st0.st_size, st1.st_size);
	assert_int_equal(st0.st_mtim.tv_sec, st1.st_mtim.tv_sec);
	assert_int_equal(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
	close(fd);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

static void test_validation(void **state)
{
	(void)state;
	const struct val_case cases[] = {
		{ "layout version +1", mut_version, SHMAP_E_VERSION },
		{ "layout version 0, stale checksum", mut_version_nosum, SHMAP_E_VERSION },
		{ "layout version -1 (an older library's)", mut_version_prev, SHMAP_E_VERSION },
		{ "descriptor: pointer size", mut_desc, SHMAP_E_VERSION },
		{ "descriptor: endianness", mut_desc_endian, SHMAP_E_VERSION },
		{ "bad magic", mut_magic, SHMAP_E_BADMAGIC },
		{ "byte-swapped magic", mut_magic_swapped, SHMAP_E_BADMAGIC },
		{ "capacity changed, stale checksum", mut_cap_nosum, SHMAP_E_CORRUPT },
		{ "hash seed changed, stale checksum", mut_seed_nosum, SHMAP_E_CORRUPT },
		{ "checksum flipped", mut_sum, SHMAP_E_CORRUPT },
		{ "capacity doubled, checksum fixed", mut_cap_sum, SHMAP_E_CORRUPT },
		{ "data_off moved", mut_data_off, SHMAP_E_CORRUPT },
		{ "parts_off inside header", mut_parts_off, SHMAP_E_CORRUPT },
		{ "nparts 0", mut_nparts0, SHMAP_E_CORRUPT },
		{ "nparts 2^20", mut_nparts_big, SHMAP_E_CORRUPT },
		{ "data_size disagrees with kind", mut_data_size, SHMAP_E_CORRUPT },
		{ "elem_size the kind refuses", mut_elem, SHMAP_E_CORRUPT },
		{ "total_size > file", mut_total_big, SHMAP_E_TRUNCATED },
		{ "total_size too small", mut_total_small, SHMAP_E_CORRUPT },
		{ "total_size UINT64_MAX", mut_total_huge, SHMAP_E_TRUNCATED },
		{ "file truncated by one byte", mut_truncate, SHMAP_E_TRUNCATED },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		check_validation(&cases[i], SHMAP_OPEN);
		check_validation(&cases[i], SHMAP_OPEN_OR_CREATE);
	}
	/* BUILDING with no live builder: open-only reports NOTREADY */
	const struct val_case b = { "BUILDING, builder gone", mut_building, SHMAP_E_NOTREADY };
	check_validation(&b, SHMAP_OPEN);
}

/* Wrong kind and wrong parameters: INCOMPAT, nothing written. */
static void test_incompat(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "inc");
	make_seg(name, 64);
	int fd = shm_fd_of(name);
	assert_true(fd >= 0);
	uint64_t before = tt_hash_fd(fd);
	struct shmap__seg s;
	struct shmap__params w = tk_params(0);
	/* ops and want naming different kinds: a caller bug */
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &w, &tk_ops_other, NULL, &s), SHMAP_E_INVAL);
	struct shmap__params want_other = w;
	want_other.kind = TK_KIND - 1;
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want_other, &tk_ops_other, NULL, &s),
			 SHMAP_E_INCOMPAT);
	want_other.capacity = 64;
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN_OR_CREATE, &want_other, &tk_ops_other, NULL, &s),
			 SHMAP_E_INCOMPAT);
	for (int f = 0; f < 7; f++) {
		struct shmap__params p = tk_params(64);
		switch (f) {
		case 0: p.capacity = 65; break;
		case 1: p.kind_flags = 1; break;
		case 2: p.key_max = 8; break;
		case 3: p.value_max = 8; break;
		case 4: p.elem_size = 8; break;
		case 5: p.max_consumers = 1; break;
		case 6: p.hash_alg = 2; break;
		}
		assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &p, &tk_ops, NULL, &s), SHMAP_E_INCOMPAT);
		int rc = shmap__seg_open(name, SHMAP_OPEN_OR_CREATE, &p, &tk_ops, NULL, &s);
		assert_int_equal(rc, SHMAP_E_INCOMPAT);
		assert_int_equal(tt_hash_fd(fd), before);
	}
	struct shmap__params same = tk_params(64);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &same, &tk_ops, NULL, &s), SHMAP_OK);
	shmap__seg_close(&s);
	close(fd);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Random garbage of the right size (and of odd sizes) is never a shmap segment. */
static void test_garbage(void **state)
{
	(void)state;
	uint64_t seed = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	print_message("# garbage seed %llu\n", (unsigned long long)seed);
	char name[96];
	th_name(name, sizeof name, "garb");
	make_seg(name, 64);
	int fd = shm_fd_of(name);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	size_t sz = (size_t)st.st_size;
	uint8_t *buf = malloc(sz);
	struct shmap_opts o = opts_default();
	o.timeout_ms = 10;
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sz; i += 8) {
			uint64_t r = tt_rand(&seed);
			memcpy(buf + i, &r, 8);
		}
		if (round % 4 == 1) {
			/* the right magic, an impossible state, rest garbage */
			uint64_t m = SHMAP__MAGIC;
			memcpy(buf, &m, 8);
			buf[256] = (uint8_t)(3 + tt_rand(&seed) % 253);
		} else if (round % 4 == 2) {
			/* READY state byte, rest garbage */
			buf[256] = SHMAP__ST_READY;
		} else if (round % 4 == 3) {
			/* the right magic and READY, rest garbage */
			uint64_t m = SHMAP__MAGIC;
			memcpy(buf, &m, 8);
			buf[256] = SHMAP__ST_READY;
		}
		assert_int_equal(pwrite(fd, buf, sz, 0), (ssize_t)sz);
		uint64_t before = tt_hash_fd(fd);
		struct shmap__params want = tk_params(64);
		struct shmap__seg s;
		for (int k = 0; k < 2; k++) {
			int rc = shmap__seg_open(name, k ? SHMAP_OPEN_OR_CREATE : SHMAP_OPEN, &want, &tk_ops,
						 &o, &s);
			int exp = round % 4 == 1 ? SHMAP_E_CORRUPT
				: round % 4 == 3 ? SHMAP_E_VERSION : SHMAP_E_BADMAGIC;
			if (round % 4 == 3 && rc == SHMAP_E_CORRUPT)
				exp = rc; /* version and descriptor happened to match: checksum */
			if (rc != exp)
				fail_msg("round %d oflags %d: got %s want %s", round, k, shmap_errname(rc),
					 shmap_errname(exp));
			assert_null(s.base);
			assert_int_equal(tt_hash_fd(fd), before);
		}
	}
	free(buf);
	close(fd);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ------------------------------------------------------------------ */
/* scenario 21 (header part): every header field x hostile values        */

static void test_field_table(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "field");
	const uint64_t cap = 64;
	make_seg(name, cap);
	int fd = shm_fd_of(name);
	struct shmap__hdr orig;
	assert_int_equal(pread(fd, &orig, sizeof orig, 0), sizeof orig);
	struct stat st0;
	assert_int_equal(fstat(fd, &st0), 0);
	const uint64_t vals[] = { 0, 1, cap - 1, cap, cap + 1, UINT64_C(1) << 31, UINT64_C(1) << 32,
				  UINT64_C(1) << 63, UINT64_MAX };
	struct {
		size_t off, size;
	} fields[] = {
#define F(f) { offsetof(struct shmap__hdr, f), sizeof(((struct shmap__hdr *)0)->f) }
		F(magic), F(layout_version), F(layout_desc), F(kind), F(kind_flags), F(capacity),
		F(key_max), F(value_max), F(elem_size), F(max_consumers), F(hash_alg), F(nparts),
		F(hash_seed), F(total_size), F(parts_off), F(data_off), F(data_size), F(created_ns),
		F(creator_uid), F(creator_pid), F(reserved[0]), F(state),
#undef F
	};
	struct shmap_opts o = opts_default();
	o.timeout_ms = 5;
	unsigned cases = 0, ok = 0;
	for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
		for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
			for (int k = 0; k < 2; k++) {
				struct shmap__hdr h = orig;
				if (fields[f].size == 8) {
					memcpy((uint8_t *)&h + fields[f].off, &vals[v], 8);
				} else {
					uint32_t x = (uint32_t)vals[v];
					memcpy((uint8_t *)&h + fields[f].off, &x, 4);
				}
				recsum(&h);
				assert_int_equal(ftruncate(fd, st0.st_size), 0);
				assert_int_equal(pwrite(fd, &h, sizeof h, 0), sizeof h);
				uint64_t before = tt_hash_fd(fd);
				struct shmap__params want = tk_params(k ? cap : 0);
				struct shmap__seg s;
				int rc = shmap__seg_open(name, k ? SHMAP_OPEN_OR_CREATE : SHMAP_OPEN, &want,
							 &tk_ops, &o, &s);
				cases++;
				switch (rc) {
				case SHMAP_OK:
				case SHMAP_RECOVERED:
					/* accepted: then it must be fully usable and in bounds */
					assert_true(s.total_size <= (uint64_t)st0.st_size);
					assert_int_equal(s.p.capacity, cap);
					for (uint64_t i = 0; i < cap; i++)
						(void)((volatile uint64_t *)s.data)[i];
					shmap__seg_close(&s);
					ok++;
					break;
				case SHMAP_E_BADMAGIC:
				case SHMAP_E_VERSION:
				case SHMAP_E_CORRUPT:
				case SHMAP_E_TRUNCATED:
				case SHMAP_E_INCOMPAT:
				case SHMAP_E_NOTREADY:
					assert_int_equal(tt_hash_fd(fd), before);
					break;
				default:
					fail_msg("field at %zu = %llx (%s): %s", fields[f].off,
						 (unsigned long long)vals[v], k ? "ooc" : "open", shmap_errname(rc));
				}
			}
		}
	}
	print_message("# header field table: %u cases, %u accepted (fields that do not bound anything), "
		      "0 crashes\n", cases, ok);
	close(fd);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ------------------------------------------------------------------ */
/* scenario 3: short and odd-sized objects                              */

static void test_sizes(void **state)
{
	(void)state;
	char ref[96];
	th_name(ref, sizeof ref, "szref");
	make_seg(ref, 1024);
	int rfd = shm_fd_of(ref);
	struct stat st;
	assert_int_equal(fstat(rfd, &st), 0);
	const size_t expected = (size_t)st.st_size;
	uint8_t *img = calloc(1, expected + 8192);
	assert_int_equal(pread(rfd, img, expected, 0), (ssize_t)expected);
	close(rfd);
	assert_int_equal(shmap_unlink(ref, NULL), SHMAP_OK);

	struct {
		size_t size;
		int expect_open;
		int expect_ooc;
		mode_t mode;
	} table[] = {
		/* empty, made by a shmap create (creation mode bit): nobody built
		 * it, we build; an empty object without the bit is not ours */
		{ 0, SHMAP_E_NOTREADY, SHMAP_OK, 0600 | SHMAP__MODE_NEW },
		{ 0, SHMAP_E_BADMAGIC, SHMAP_E_BADMAGIC, 0600 },
		{ 1, SHMAP_E_BADMAGIC, SHMAP_E_BADMAGIC, 0 },
		{ 63, SHMAP_E_TRUNCATED, SHMAP_E_TRUNCATED, 0 },
		{ SHMAP__HDR_SIZE - 1, SHMAP_E_TRUNCATED, SHMAP_E_TRUNCATED, 0 },
		{ SHMAP__HDR_SIZE, SHMAP_E_TRUNCATED, SHMAP_E_TRUNCATED, 0 },
		{ SHMAP__HDR_SIZE + 1, SHMAP_E_TRUNCATED, SHMAP_E_TRUNCATED, 0 },
		{ expected / 2, SHMAP_E_TRUNCATED, SHMAP_E_TRUNCATED, 0 },
		{ expected - 1, SHMAP_E_TRUNCATED, SHMAP_E_TRUNCATED, 0 },
		{ expected, SHMAP_OK, SHMAP_OK, 0 },
		{ expected + 4096, SHMAP_OK, SHMAP_OK, 0 },
	};
	struct shmap_opts o = opts_default();
	o.timeout_ms = 20;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		for (int k = 0; k < 2; k++) {
			char name[96];
			th_name(name, sizeof name, "sz");
			th_raw(1);
			int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, table[i].mode ? table[i].mode : 0600);
			th_raw(0);
			assert_true(fd >= 0);
			size_t sz = table[i].size;
			assert_int_equal(ftruncate(fd, (off_t)sz), 0);
			size_t n = sz < expected ? sz : expected;
			if (n)
				assert_int_equal(pwrite(fd, img, n, 0), (ssize_t)n);
			uint64_t before = tt_hash_fd(fd);
			struct shmap__params want = tk_params(k ? 1024 : 0);
			struct shmap__seg s;
			int rc = shmap__seg_open(name, k ? SHMAP_OPEN_OR_CREATE : SHMAP_OPEN, &want, &tk_ops,
						 &o, &s);
			int exp = k ? table[i].expect_ooc : table[i].expect_open;
			if (rc != exp)
				fail_msg("size %zu %s: got %s want %s", sz, k ? "open-or-create" : "open",
					 shmap_errname(rc), shmap_errname(exp));
			if (rc >= 0) {
				/* only the validated size is mapped */
				assert_int_equal(s.total_size, expected);
				assert_int_equal(s.map_len, expected + 2 * SHMAP__PAGE);
				assert_int_equal(tk_verify(&s), 0);
				if (sz != 0)
					assert_false(s.created);
				shmap__seg_close(&s);
			}
			if (rc < 0) {
				assert_int_equal(tt_hash_fd(fd), before);
				struct stat now;
				assert_int_equal(fstat(fd, &now), 0);
				assert_int_equal((size_t)now.st_size, sz);
			}
			close(fd);
			assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
		}
	}
	free(img);
}

/* The grow half of scenario 6: a peer growing the file changes nothing. */
static void test_grow(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "grow");
	struct shmap__params want = tk_params(512);
	struct shmap__seg a, b;
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &a), SHMAP_OK);
	int fd = shm_fd_of(name);
	uint64_t total = a.total_size;
	assert_int_equal(ftruncate(fd, (off_t)total * 2), 0);
	assert_int_equal(tk_verify(&a), 0);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, NULL, &b), SHMAP_OK);
	assert_int_equal(b.total_size, total);
	assert_int_equal(tk_verify(&b), 0);
	shmap__seg_close(&b);
	shmap__seg_close(&a);
	close(fd);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/*
 * Scenario 6, unsealed shm backend, at the storage layer: a peer shrinking
 * the file makes our next access to the lost pages fault; the SIGBUS guard
 * puts anonymous memory there, the access completes, and the handle is
 * poisoned (SHMAP__POISON_PEERFAULT). With the guard off for the segment
 * (SHMAP_OPT_NO_SIGBUS_GUARD) the access dies of SIGBUS, and only of SIGBUS.
 * The module-level behaviour (calls return SHMAP_E_PEERFAULT) is in
 * test_peerfault.c.
 */
static struct shmap__seg trunc_seg;
static int touch_data(void *a)
{
	(void)a;
	uint64_t sum = 0;
	for (uint64_t i = 0; i < trunc_seg.p.capacity; i++)
		sum += ((volatile uint64_t *)trunc_seg.data)[i];
	return (int)(sum & 1);
}

static void test_peer_truncate(void **state)
{
	(void)state;
	for (int guarded = 1; guarded >= 0; guarded--) {
		char name[96];
		th_name(name, sizeof name, "trunc");
		struct shmap__params want = tk_params(4096);
		struct shmap_opts o = opts_default();
		o.flags = guarded ? 0 : SHMAP_OPT_NO_SIGBUS_GUARD;
		assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, &o, &trunc_seg), SHMAP_OK);
		assert_false(tt_expect_fault(touch_data, NULL));
		int fd = shm_fd_of(name);
		assert_int_equal(ftruncate(fd, (off_t)(trunc_seg.total_size / 2)), 0);
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			/* the guard's handler, not the test framework's */
			struct sigaction sa;
			sigaction(SIGBUS, NULL, &sa);
			if (!guarded)
				tt_default_signals();
			alarm(10);
			touch_data(NULL);
			_exit(shmap__seg_poison(&trunc_seg) == SHMAP__POISON_PEERFAULT ? 0 : 2);
		}
		int st = th_wait(pid, 10);
		char b[64];
		if (guarded && !th_ok(st))
			fail_msg("after a peer's shrink, guarded: %s (expected a poisoned handle)",
				 tt_status_str(st, b, sizeof b));
		if (!guarded && !tt_killed_by(st, SIGBUS))
			fail_msg("after a peer's shrink, unguarded: %s (expected SIGBUS only)",
				 tt_status_str(st, b, sizeof b));
		close(fd);
		shmap__seg_close(&trunc_seg);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
}

/* ------------------------------------------------------------------ */
/* scenario 10: exact mode under any umask                              */

static void test_modes(void **state)
{
	(void)state;
	const mode_t masks[] = { 0, 022, 077, 0277 };
	const uint32_t modes[] = { 0600, 0660, 0640, 0644 };
	mode_t old = umask(0);
	char dir[] = "/tmp/shmap-t-modeXXXXXX";
	assert_non_null(mkdtemp(dir));
	int cases = 0;
	for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
		for (size_t j = 0; j < sizeof modes / sizeof modes[0]; j++) {
			for (int backend = 0; backend < 2; backend++) {
				umask(masks[i]);
				char name[PATH_MAX], path[PATH_MAX + 16];
				struct shmap_opts o = opts_default();
				o.mode = modes[j];
				if (backend == 0) {
					th_name(name, sizeof name, "mode");
					devshm_path(name, path, sizeof path);
				} else {
					o.backend = SHMAP_BACKEND_FILE;
					snprintf(name, sizeof name, "%s/f%zu%zu", dir, i, j);
					snprintf(path, sizeof path, "%s", name);
				}
				struct shmap__params want = tk_params(8);
				struct shmap__seg s;
				assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, &o, &s),
						 SHMAP_OK);
				struct stat st;
				assert_int_equal(lstat(path, &st), 0);
				/* macOS shm refuses fchmod(): the mode is exact from the
				 * create, and the creation bit stays (segment.c) */
				const char *shim = th_shim();
				const mode_t extra = backend == 0 && shim && strcmp(shim, "macos") == 0 ? S_ISVTX : 0;
				if ((st.st_mode & 07777) != (modes[j] | extra))
					fail_msg("umask %03o mode %03o backend %d: got %03o", masks[i], modes[j],
						 backend, st.st_mode & 07777);
				/* a second opener with the same mode policy accepts it */
				struct shmap__seg t;
				assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &t), SHMAP_OK);
				shmap__seg_close(&t);
				/* the default (0600) policy refuses a wider mode */
				if (modes[j] != 0600) {
					struct shmap_opts d = opts_default();
					d.backend = o.backend;
					assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &d, &t),
							 SHMAP_E_ACCESS);
				}
				shmap__seg_close(&s);
				assert_int_equal(shmap_unlink(name, &o), SHMAP_OK);
				cases++;
			}
		}
	}
	umask(old);
	rmdir(dir);
	print_message("# modes: %d/%d exact\n", cases, cases);
	/* option validation */
	shmap_opts *po;
	assert_int_equal(shmap_opts_new(&po), SHMAP_OK);
	assert_int_equal(shmap_opts_set_mode(po, 0400), SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_set_mode(po, 01600), SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_set_mode(po, 0666), SHMAP_OK);
	assert_int_equal(shmap_opts_set_max_procs(po, 0), SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_set_max_procs(po, 4097), SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_set_backend(po, 3), SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_set_flags(po, 8), SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_set_flags(po, SHMAP_OPT_NO_SIGBUS_GUARD), SHMAP_OK);
	assert_int_equal(shmap_opts_set_owner(po, -3), SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_set_fd(po, -1), SHMAP_E_INVAL);
	assert_int_equal(shmap_opts_new(NULL), SHMAP_E_INVAL);
	shmap_opts_free(po);
	shmap_opts_free(NULL);
}

/* ------------------------------------------------------------------ */
/* backends                                                              */

static void test_file_backend(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmap-t-fileXXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[PATH_MAX], link[PATH_MAX], victim[PATH_MAX];
	snprintf(path, sizeof path, "%s/seg", dir);
	snprintf(link, sizeof link, "%s/link", dir);
	snprintf(victim, sizeof victim, "%s/victim", dir);
	struct shmap_opts o = opts_default();
	o.backend = SHMAP_BACKEND_FILE;
	struct shmap__params want = tk_params(300);
	struct shmap__seg a, b;
	assert_int_equal(shmap__seg_open(path, SHMAP_OPEN, &want, &tk_ops, &o, &a), SHMAP_E_NOENT);
	assert_int_equal(shmap__seg_open(path, SHMAP_CREATE, &want, &tk_ops, &o, &a), SHMAP_OK);
	assert_int_equal(shmap__seg_open(path, SHMAP_CREATE, &want, &tk_ops, &o, &b), SHMAP_E_EXIST);
	((uint64_t *)a.data)[3] = 77;
	assert_int_equal(shmap__seg_open(path, SHMAP_OPEN, &want, &tk_ops, &o, &b), SHMAP_OK);
	assert_int_equal(((uint64_t *)b.data)[3], 77);
	shmap__seg_close(&b);
	shmap__seg_close(&a);
	/* survives with no handle open */
	assert_int_equal(shmap__seg_open(path, SHMAP_OPEN_OR_CREATE, &want, &tk_ops, &o, &a), SHMAP_OK);
	assert_false(a.created);
	assert_int_equal(((uint64_t *)a.data)[3], 77);
	shmap__seg_close(&a);

	/* a symlink is never followed, neither on create nor on open */
	int vfd = open(victim, O_CREAT | O_RDWR, 0600);
	assert_int_equal(write(vfd, "victim", 6), 6);
	close(vfd);
	uint64_t vh = tt_hash_path(victim);
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(shmap__seg_open(link, SHMAP_CREATE, &want, &tk_ops, &o, &a), SHMAP_E_EXIST);
	assert_int_equal(shmap__seg_open(link, SHMAP_OPEN, &want, &tk_ops, &o, &a), SHMAP_E_ACCESS);
	assert_int_equal(shmap__seg_open(link, SHMAP_OPEN_OR_CREATE, &want, &tk_ops, &o, &a), SHMAP_E_ACCESS);
	assert_int_equal(tt_hash_path(victim), vh);
	/* a directory is refused */
	assert_int_equal(shmap__seg_open(dir, SHMAP_OPEN, &want, &tk_ops, &o, &a), SHMAP_E_ACCESS);

	assert_int_equal(shmap_unlink(path, &o), SHMAP_OK);
	unlink(link);
	unlink(victim);
	assert_int_equal(rmdir(dir), 0);
}

static void test_memfd_local(void **state)
{
	(void)state;
	struct shmap_opts o = opts_default();
	o.backend = SHMAP_BACKEND_MEMFD;
	struct shmap__params want = tk_params(200);
	struct shmap__seg a, b;
	/* open without an fd is invalid; create with an fd is invalid */
	assert_int_equal(shmap__seg_open("m", SHMAP_OPEN, &want, &tk_ops, &o, &a), SHMAP_E_INVAL);
	assert_int_equal(shmap__seg_open("m", SHMAP_CREATE, &want, &tk_ops, &o, &a), SHMAP_OK);
	assert_true(a.share_fd >= 0);
	assert_true(a.fd != a.share_fd);
	assert_int_equal(tk_verify(&a), 0);
#if SHMAP_PLAT_MEMFD
	int seals = fcntl(a.share_fd, F_GET_SEALS);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	struct stat st;
	assert_int_equal(fstat(a.share_fd, &st), 0);
	errno = 0;
	assert_int_equal(ftruncate(a.share_fd, st.st_size / 2), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(ftruncate(a.share_fd, st.st_size * 2), -1);
	assert_int_equal(errno, EPERM);
#else
	/* the portable anonymous object: an unlinked shm object, no seals
	 * (the SIGBUS guard is the defence), and nothing left in /dev/shm */
	struct stat st;
	assert_int_equal(fstat(a.share_fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_nlink, 0);
#endif
	struct shmap_opts ob = o;
	ob.fd = a.share_fd;
	assert_int_equal(shmap__seg_open(NULL, SHMAP_CREATE, &want, &tk_ops, &ob, &b), SHMAP_E_INVAL);
	assert_int_equal(shmap__seg_open(NULL, SHMAP_OPEN, &want, &tk_ops, &ob, &b), SHMAP_OK);
	assert_true(b.share_fd < 0);
	((uint64_t *)a.data)[1] = 5;
	assert_int_equal(((uint64_t *)b.data)[1], 5);
	assert_true(shmap__seg_owner_alive(&b, a.owner));
	shmap__seg_close(&b);
	shmap__seg_close(&a);
	/* a non-shmap fd */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	ob.fd = pfd[0];
	assert_int_equal(shmap__seg_open(NULL, SHMAP_OPEN, &want, &tk_ops, &ob, &b), SHMAP_E_ACCESS);
	close(pfd[0]);
	close(pfd[1]);
}

/* Unlink while open: handles keep working, the name is gone. */
static void test_unlink_while_open(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "unl");
	struct shmap__params want = tk_params(64);
	struct shmap__seg a, b, c;
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &a), SHMAP_OK);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, NULL, &b), SHMAP_OK);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, NULL, &c), SHMAP_E_NOENT);
	for (uint64_t i = 0; i < 64; i++)
		((uint64_t *)a.data)[i] = i * 3;
	for (uint64_t i = 0; i < 64; i++)
		assert_int_equal(((uint64_t *)b.data)[i], i * 3);
	assert_true(shmap__seg_owner_alive(&a, b.owner));
	assert_int_equal(shmap__seg_check(&a), SHMAP_OK);
	/* a new segment under the same name is a different one */
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &c), SHMAP_OK);
	assert_int_equal(tk_verify(&c), 0);
	assert_int_equal(((uint64_t *)b.data)[5], 15);
	shmap__seg_close(&c);
	shmap__seg_close(&b);
	shmap__seg_close(&a);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ------------------------------------------------------------------ */
/* participants                                                          */

static void test_participants(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "part");
	struct shmap_opts o = opts_default();
	o.max_procs = 3;
	struct shmap__params want = tk_params(8);
	struct shmap__seg h[4];
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, &o, &h[0]), SHMAP_OK);
	assert_int_equal(h[0].p.nparts, 3);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &h[1]), SHMAP_OK);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &h[2]), SHMAP_OK);
	/* table full */
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &h[3]), SHMAP_E_FULL);
	assert_null(h[3].base);
	assert_int_equal(h[3].fd, -1);
	for (int i = 0; i < 3; i++) {
		const struct shmap__part *pt = &h[0].parts[h[i].slot];
		assert_int_equal((uint32_t)pt->word, SHMAP__PART_ATTACHED);
		assert_int_equal(pt->pid, (uint32_t)getpid());
		assert_int_equal(pt->uid, (uint32_t)geteuid());
		assert_int_not_equal(pt->start_time, 0);
		assert_int_equal(pt->start_time, h[0].parts[h[0].slot].start_time);
		assert_int_not_equal(pt->attach_ns, 0);
		assert_int_equal(shmap__owner_slot(h[i].p.nparts, h[i].owner), h[i].slot);
		for (int j = 0; j < 3; j++) {
			assert_true(shmap__seg_owner_alive(&h[j], h[i].owner));
			assert_true(shmap__seg_slot_alive(&h[j], h[i].slot));
			if (i != j)
				assert_int_not_equal(h[i].slot, h[j].slot);
		}
	}
	/* bogus owners are dead */
	assert_false(shmap__seg_owner_alive(&h[0], 0));
	assert_false(shmap__seg_owner_alive(&h[0], 4));          /* slot 0, generation 2 */
	assert_false(shmap__seg_owner_alive(&h[0], 0xffffffffu));
	assert_false(shmap__seg_slot_alive(&h[0], 3));
	assert_false(shmap__seg_slot_alive(&h[0], UINT32_MAX));
	/* an owner id with a stale generation is dead */
	uint32_t stale = h[1].owner + h[1].p.nparts; /* the slot's next generation */
	assert_false(shmap__seg_owner_alive(&h[0], stale));

	/* detach frees the slot; the old owner id stays dead after reuse */
	uint32_t old = h[1].owner, oslot = h[1].slot;
	shmap__seg_close(&h[1]);
	assert_false(shmap__seg_owner_alive(&h[0], old));
	assert_false(shmap__seg_slot_alive(&h[0], oslot));
	assert_int_equal((uint32_t)h[0].parts[oslot].word, SHMAP__PART_FREE);
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &h[1]), SHMAP_OK);
	assert_int_equal(h[1].slot, oslot);
	assert_int_not_equal(h[1].owner, old);
	assert_false(shmap__seg_owner_alive(&h[0], old));
	assert_true(shmap__seg_owner_alive(&h[0], h[1].owner));
	for (int i = 0; i < 3; i++)
		shmap__seg_close(&h[i]);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Scenario 21, participant table: a peer scribbles every slot with hostile values. */
static void test_part_scribble(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "pscrib");
	struct shmap_opts o = opts_default();
	o.max_procs = 8;
	struct shmap__params want = tk_params(8);
	struct shmap__seg a, b, c;
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, &o, &a), SHMAP_OK);
	const uint64_t vals[] = { 0, 1, 7, 8, 9, UINT64_C(1) << 31, UINT64_C(1) << 32, UINT64_C(1) << 63,
				  UINT64_MAX, UINT64_C(0xfffff00000001), UINT64_C(0x0000000100000002) };
	for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
		for (uint32_t i = 0; i < 8; i++) {
			a.parts[i].word = vals[v];
			a.parts[i].pid = (uint32_t)vals[v];
			a.parts[i].start_time = vals[v];
		}
		/* our own handle keeps working; a scribbled own word does not make others alive */
		assert_int_equal(shmap__seg_check(&a), SHMAP_OK);
		assert_true(shmap__seg_owner_alive(&a, a.owner));
		for (uint32_t ow = 0; ow < 64; ow++) {
			uint32_t x = ow | ((uint32_t)vals[v] << 12);
			if (x != a.owner && shmap__seg_owner_alive(&a, x))
				fail_msg("v=%zu owner %#x (a.owner %#x slot %u) reads alive", v, x, a.owner, a.slot);
		}
		/* a generation at the end of the id space retires the slot: no
		 * attach, rather than an id that may name a dead process's claims */
		if ((uint32_t)(vals[v] >> 32) >= shmap__owner_gen_max(8)) {
			assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &b), SHMAP_E_FULL);
			continue;
		}
		/* new handles attach over the scribble, see each other, detach */
		assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &b), SHMAP_OK);
		assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &c), SHMAP_OK);
		assert_true(shmap__seg_owner_alive(&a, b.owner));
		assert_true(shmap__seg_owner_alive(&b, c.owner));
		/* a's own word is scribbled: others may now see a as dead -- a peer
		 * with write access can destroy availability, which the trust model
		 * allows; it must not crash anyone or make a dead owner alive */
		(void)shmap__seg_owner_alive(&c, a.owner);
		uint32_t bo = b.owner;
		shmap__seg_close(&b);
		assert_false(shmap__seg_owner_alive(&a, bo));
		shmap__seg_close(&c);
	}
	/* the table is full of live locks only when 8 handles hold them */
	struct shmap__seg h[8];
	int n = 0;
	while (n < 8 && shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &h[n]) == SHMAP_OK)
		n++;
	assert_int_equal(n, 7); /* a holds the 8th */
	for (int i = 0; i < n; i++)
		shmap__seg_close(&h[i]);
	shmap__seg_close(&a);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Scribbled header after open: the private copy is what counts. */
static void test_header_rewritten(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "hdrw");
	struct shmap__params want = tk_params(64);
	struct shmap__seg a, b;
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &a), SHMAP_OK);
	struct shmap__hdr *h = (struct shmap__hdr *)a.base;
	h->capacity = UINT64_MAX;
	h->nparts = 1u << 30;
	h->data_off = 1;
	assert_int_equal(a.p.capacity, 64);
	assert_int_equal(a.p.nparts, 128);
	assert_false(shmap__seg_owner_alive(&a, (1u << 12) - 1)); /* slot 4094 > private nparts */
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, NULL, &b), SHMAP_E_CORRUPT);
	shmap__seg_close(&a);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ------------------------------------------------------------------ */
/* guard pages                                                           */

static struct shmap__seg guard_seg;
static int touch_before(void *a) { (void)a; return *(volatile uint8_t *)(guard_seg.base - 1); }
static int touch_after(void *a) { (void)a; return *(volatile uint8_t *)(guard_seg.base + guard_seg.total_size); }
static int touch_last(void *a) { (void)a; (void)*(volatile uint8_t *)(guard_seg.base + guard_seg.total_size - 1); return 0; }

static int sleeper(void *a) { (void)a; sleep(30); return 0; }
static uint8_t *gbuf;
static size_t gbuf_len;
static int gbuf_over(void *a) { (void)a; return ((volatile uint8_t *)gbuf)[gbuf_len]; }
static int gbuf_inside(void *a) { (void)a; memset(gbuf, 1, gbuf_len); return 0; }
static int faulter(void *a) { (void)a; raise(SIGSEGV); return 0; }
static int returns0(void *a) { (void)a; return 0; }

static void test_guard_pages(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "guard");
	struct shmap__params want = tk_params(1000);
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &guard_seg), SHMAP_OK);
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	assert_true(guard_seg.map_start + page == guard_seg.base);
	assert_int_equal(guard_seg.map_len, 2 * page + SHMAP_ALIGN_UP((size_t)guard_seg.total_size, page));
	assert_true(tt_expect_fault(touch_before, NULL));
	assert_true(tt_expect_fault(touch_after, NULL));
	assert_false(tt_expect_fault(touch_last, NULL));
	shmap__seg_close(&guard_seg);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Is every page of [a, a + len) mapped with protection `prot` ("---p", "rw-s")? */
static bool maps_cover(const uint8_t *a, size_t len, const char *prot)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return false;
	uintptr_t want = (uintptr_t)a, end = (uintptr_t)a + len;
	char line[512];
	while (want < end && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (lo <= want && want < hi) {
			if (strcmp(perms, prot) != 0)
				break;
			want = hi;
		}
	}
	fclose(f);
	return want >= end;
}

static int touch_guard_start(void *a) { (void)a; return *(volatile uint8_t *)guard_seg.map_start; }
static int touch_guard_end(void *a)
{
	(void)a;
	return *(volatile uint8_t *)(guard_seg.map_start + guard_seg.map_len - 1);
}

/* A forced 64 KiB guard (as on a kernel with 64 KiB pages): the mapping
 * starts 64 KiB into the reservation, each guard is 64 KiB of PROT_NONE,
 * and every structure works in it. With a fixed 4096-byte offset the base
 * would sit 4 KiB in, and on a 64 KiB-page kernel MAP_FIXED would fail. */
static void test_guard_forced_64k(void **state)
{
	(void)state;
	const size_t g = 65536, page = (size_t)sysconf(_SC_PAGESIZE);
	shmap__guard_test_size = g;
	char name[96];
	th_name(name, sizeof name, "guard64");
	struct shmap__params want = tk_params(1000); /* 8000-byte data region: total not a multiple of 64 KiB */
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &guard_seg), SHMAP_OK);
	size_t span = SHMAP_ALIGN_UP((size_t)guard_seg.total_size, page);
	assert_true(guard_seg.base == guard_seg.map_start + g);
	assert_int_equal(guard_seg.map_len, g + span + g);
	assert_int_equal((uintptr_t)guard_seg.base % page, 0);
	assert_true(maps_cover(guard_seg.map_start, g, "---p"));
	assert_true(maps_cover(guard_seg.base, span, "rw-s"));
	assert_true(maps_cover(guard_seg.base + span, g, "---p"));
	assert_int_equal(tk_verify(&guard_seg), 0);
	assert_true(tt_expect_fault(touch_before, NULL));
	assert_true(tt_expect_fault(touch_after, NULL));
	assert_true(tt_expect_fault(touch_guard_start, NULL));
	assert_true(tt_expect_fault(touch_guard_end, NULL));
	assert_false(tt_expect_fault(touch_last, NULL));
	/* A second handle (open path) and a reattach-style remap keep it. */
	struct shmap__seg b;
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, NULL, &b), SHMAP_OK);
	assert_true(b.base == b.map_start + g);
	assert_int_equal(tk_verify(&b), 0);
	shmap__seg_close(&b);
	shmap__seg_close(&guard_seg);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);

	/* Every structure through the public API, with 64 KiB guards. */
	shmap_htable *t;
	th_name(name, sizeof name, "guard64h");
	assert_int_equal(shmap_htable_open(name, SHMAP_CREATE, 8, 8, 100, NULL, &t), SHMAP_OK);
	uint64_t k = 1, v = 2, out = 0;
	uint32_t len;
	assert_int_equal(shmap_htable_insert(t, &k, 8, &v, 8), SHMAP_OK);
	assert_int_equal(shmap_htable_get(t, &k, 8, &out, 8, &len), SHMAP_OK);
	assert_int_equal(out, 2);
	shmap_htable_close(t);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	shmap_ring *r;
	th_name(name, sizeof name, "guard64r");
	assert_int_equal(shmap_ring_open(name, SHMAP_CREATE, SHMAP_RING_SPSC, 8, 16, SHMAP_RING_PRODUCER, NULL, &r),
			 SHMAP_OK);
	assert_int_equal(shmap_ring_push(r, &v), SHMAP_OK);
	shmap_ring_close(r);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	shmap_vector *vec;
	uint64_t idx;
	th_name(name, sizeof name, "guard64v");
	assert_int_equal(shmap_vector_open(name, SHMAP_CREATE, 8, 16, NULL, &vec), SHMAP_OK);
	assert_int_equal(shmap_vector_push(vec, &v, &idx), SHMAP_OK);
	assert_int_equal(shmap_vector_get(vec, idx, &out), SHMAP_OK);
	shmap_vector_close(vec);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	shmap__guard_test_size = 0;
}

/* ------------------------------------------------------------------ */
/* the torture helpers themselves                                        */

static void test_torture_helpers(void **state)
{
	(void)state;
	/* the check value sees every bit of its input */
	uint8_t blk[64] = { 0 };
	uint32_t sum0 = tt_sum32(blk, sizeof blk);
	for (size_t bit = 0; bit < sizeof blk * 8; bit++) {
		blk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(tt_sum32(blk, sizeof blk), sum0);
		blk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* records: intact, torn, invented */
	struct tt_rec r;
	tt_rec_make(&r, 42, 7);
	assert_int_equal(tt_rec_check(&r), 0);
	struct tt_rec t = r;
	((uint8_t *)&t.payload)[13] ^= 1;
	assert_int_equal(tt_rec_check(&t), -1);
	t = r;
	t.version = 8; /* consistent sum, but not derived from (key, version) */
	t.sum = tt_sum32(&t, offsetof(struct tt_rec, sum));
	assert_int_equal(tt_rec_check(&t), -2);
	/* percentiles */
	struct tt_lat l = { 0 };
	for (int i = 100; i >= 1; i--)
		tt_lat_add(&l, i);
	assert_true(tt_lat_pct(&l, 0.5) == 51);
	assert_true(tt_lat_pct(&l, 0.99) == 100);
	assert_true(tt_lat_pct(&l, 1.0) == 100);
	tt_lat_free(&l);
	/* guarded buffers: every byte usable, one past the end faults */
	const size_t lens[] = { 1, 100, 4095, 4096, 4097 };
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		gbuf_len = lens[i];
		gbuf = tt_guard_alloc(gbuf_len);
		assert_non_null(gbuf);
		assert_false(tt_expect_fault(gbuf_inside, NULL));
		assert_true(tt_expect_fault(gbuf_over, NULL));
		tt_guard_free(gbuf, gbuf_len);
	}
	/* kill at failpoint: a child that never reaches the point exits normally */
	int code = -1;
	assert_int_equal(tt_kill_at("no.such.point", 1, returns0, NULL, 0, 5, &code), TT_EXITED);
	assert_int_equal(code, 0);
	/* a delayed kill of a sleeper is a SIGKILL death */
	assert_int_equal(tt_kill_at(NULL, 0, sleeper, NULL, 20000, 5, &code), TT_KILLED);
	/* a fault is reported as such */
	assert_int_equal(tt_kill_at(NULL, 0, faulter, NULL, 0, 5, &code), TT_OTHER_SIGNAL);
}

/* ------------------------------------------------------------------ */
/* scenario 11 (first half): leaks                                       */

static void test_leaks(void **state)
{
	(void)state;
	const unsigned n = tt_iters(1000, 20000);
	char prefix[64];
	snprintf(prefix, sizeof prefix, "shmap-t-leak-%d-", (int)getpid());
	int fd0 = tt_count_fds();
	int shm0 = tt_count_shm(prefix);
	assert_int_equal(shm0, 0);
	double t0 = th_now();
	for (unsigned i = 0; i < n; i++) {
		char name[96];
		th_name(name, sizeof name, "leak");
		struct shmap__params want = tk_params(16);
		struct shmap__seg a, b;
		assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &a), SHMAP_OK);
		assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, NULL, &b), SHMAP_OK);
		/* failing opens must not leak either */
		struct shmap__seg c;
		assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &c), SHMAP_E_EXIST);
		struct shmap__params other = want;
		other.kind = TK_KIND - 1;
		assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &other, &tk_ops_other, NULL, &c),
				 SHMAP_E_INCOMPAT);
		shmap__seg_close(&b);
		shmap__seg_close(&a);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
	double dt = th_now() - t0;
	assert_int_equal(tt_count_shm(prefix), 0);
	assert_int_equal(tt_count_fds(), fd0);
	print_message("# leaks: %u cycles in %.2f s, fds %d -> %d, /dev/shm leftovers 0\n", n, dt, fd0,
		      tt_count_fds());
}

int main(int argc, char **argv)
{
	if (argc > 1)
		cmocka_set_test_filter(argv[1]); /* e.g. "test_race*" */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_names, tt_teardown),
		cmocka_unit_test_teardown(test_create_open, tt_teardown),
		cmocka_unit_test_teardown(test_validation, tt_teardown),
		cmocka_unit_test_teardown(test_incompat, tt_teardown),
		cmocka_unit_test_teardown(test_garbage, tt_teardown),
		cmocka_unit_test_teardown(test_field_table, tt_teardown),
		cmocka_unit_test_teardown(test_sizes, tt_teardown),
		cmocka_unit_test_teardown(test_grow, tt_teardown),
		cmocka_unit_test_teardown(test_peer_truncate, tt_teardown),
		cmocka_unit_test_teardown(test_modes, tt_teardown),
		cmocka_unit_test_teardown(test_file_backend, tt_teardown),
		cmocka_unit_test_teardown(test_memfd_local, tt_teardown),
		cmocka_unit_test_teardown(test_unlink_while_open, tt_teardown),
		cmocka_unit_test_teardown(test_participants, tt_teardown),
		cmocka_unit_test_teardown(test_part_scribble, tt_teardown),
		cmocka_unit_test_teardown(test_header_rewritten, tt_teardown),
		cmocka_unit_test_teardown(test_guard_pages, tt_teardown),
		cmocka_unit_test_teardown(test_guard_forced_64k, tt_teardown),
		cmocka_unit_test_teardown(test_torture_helpers, tt_teardown),
		cmocka_unit_test_teardown(test_leaks, tt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
