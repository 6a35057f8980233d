/* SPDX-License-Identifier: MIT */
/*
 * inspect.c - read-only snapshots of segments, and stale-segment cleanup.
 *
 * Nothing here maps a segment: the header and the participant table are read
 * with pread() from a read-only descriptor (where objects refuse pread(),
 * through a short-lived guarded read-only mapping of those pages: the
 * platform layer's shmap__plat_obj_pread()) and validated exactly as an open
 * validates them, and liveness is probed through the platform layer
 * (F_OFD_GETLK, or a lock file opened and tried for a few microseconds). A
 * hostile file can therefore make inspection fail with a code, never crash
 * it, and inspection never writes anything (nor creates a lock file).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shmap/inspect.h>

#include "atomic.h"
#include "segment-internal.h"

_Static_assert(SHMAP_KIND_HTABLE == SHMAP__KIND_HTABLE, "kind ids");
_Static_assert(SHMAP_KIND_RING_SPSC == SHMAP__KIND_RING_SPSC, "kind ids");
_Static_assert(SHMAP_KIND_RING_SPMC == SHMAP__KIND_RING_SPMC, "kind ids");
_Static_assert(SHMAP_KIND_RING_BCAST == SHMAP__KIND_RING_BCAST, "kind ids");
_Static_assert(SHMAP_KIND_RING_REC == SHMAP__KIND_RING_REC, "kind ids");
_Static_assert(SHMAP_KIND_VECTOR == SHMAP__KIND_VECTOR, "kind ids");

const struct shmap__kind_ops *shmap__kind_ops_of(uint32_t kind)
{
	switch (kind) {
	case SHMAP__KIND_HTABLE: return shmap__htable_kind_ops;
	case SHMAP__KIND_RING_SPSC: return shmap__ring_kind_ops[0];
	case SHMAP__KIND_RING_SPMC: return shmap__ring_kind_ops[1];
	case SHMAP__KIND_RING_BCAST: return shmap__ring_kind_ops[2];
	case SHMAP__KIND_VECTOR: return shmap__vector_kind_ops;
	default: return NULL;
	}
}

struct info_part {
	uint64_t word;
	uint64_t start_time;
	uint32_t pid;
	uint32_t alive;
};

struct shmap_info {
	struct shmap__hdr hdr;
	uint64_t file_size;
	uint64_t alloc_size;
	uint32_t mode;
	uint32_t owner;
	uint32_t attached;
	struct info_part *parts;
};

static int open_readonly(const char *name, const struct shmap_opts *o)
{
	int fd;
	if (o->backend == SHMAP_BACKEND_MEMFD) {
		if (o->fd < 0)
			return -EINVAL;
		fd = shmap__reopen_fd(o->fd, O_RDONLY);
	} else if (o->backend == SHMAP_BACKEND_SHM) {
		/* O_NONBLOCK: a FIFO planted in /dev/shm must not block a
		 * read-only open (fstat then rejects it as not regular). */
		fd = shmap__plat_shm_open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
	} else {
		fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	}
	return fd < 0 ? -errno : fd;
}

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		/* pread() on Linux; through a mapping where objects refuse it */
		ssize_t n = shmap__plat_obj_pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return shmap__errno_code(errno);
		if (n == 0)
			return SHMAP_E_TRUNCATED;
		got += (size_t)n;
	}
	return SHMAP_OK;
}

/* The liveness locks of the object behind fd, for looking only (lock
 * files: never created here). */
static void live_look(struct shmap__live *lv, int fd, uint32_t backend, const char *name)
{
	shmap__plat_live_init(lv, backend, name, 0600);
	(void)shmap__plat_live_bind(lv, fd);
	lv->creator = false;
}

static int snapshot(int fd, struct shmap__live *lv, struct shmap_info *in)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return shmap__errno_code(errno);
	if (!shmap__plat_obj_type_ok(st.st_mode)) /* macOS shm: no type */
		return SHMAP_E_ACCESS;
	in->file_size = (uint64_t)st.st_size;
	in->alloc_size = (uint64_t)st.st_blocks * 512u;
	in->mode = (uint32_t)(st.st_mode & 07777);
	in->owner = (uint32_t)st.st_uid;
	const struct shmap__hdr *h = &in->hdr;
	int rc = shmap__hdr_read(fd, in->file_size, &in->hdr);
	if (rc != SHMAP_OK)
		return rc;
	if ((h->state & 0xffu) == SHMAP__ST_READY && h->total_size > in->file_size && fstat(fd, &st) == 0) {
		/* Sized before a build we saw finish: READY comes after the
		 * full size (as in the open's probe, segment.c). */
		in->file_size = (uint64_t)st.st_size;
		in->alloc_size = (uint64_t)st.st_blocks * 512u;
	}
	if (in->file_size < SHMAP__HDR_SIZE || (h->state & 0xffu) != SHMAP__ST_READY) {
		/* Not READY: what an open would rebuild is NOTREADY; anything
		 * else is not a segment (the same rule as open). */
		rc = shmap__unfinished(h->magic, h->state, in->file_size, (uint32_t)st.st_mode);
		if (rc == SHMAP_E_NOTREADY) /* empty, no creation mode bit */
			return shmap__plat_live_held(lv, SHMAP__LIVE_BUILDER) ? SHMAP_E_NOTREADY : SHMAP_E_BADMAGIC;
		return rc == SHMAP_OK ? SHMAP_E_NOTREADY : rc;
	}
	/* The validation of every open, with the stored kind's own checks. */
	struct shmap__params p;
	rc = shmap__hdr_validate(h, in->file_size, shmap__kind_ops_of(h->kind), &p);
	if (rc != SHMAP_OK)
		return rc;

	struct shmap__part *raw = calloc(h->nparts, sizeof(*raw));
	in->parts = calloc(h->nparts, sizeof(*in->parts));
	if (!raw || !in->parts) {
		free(raw);
		return SHMAP_E_NOMEM;
	}
	rc = read_full(fd, raw, (size_t)h->nparts * sizeof(*raw), h->parts_off);
	/* No set to look at: every probe says alive (cannot tell). */
	(void)shmap__plat_live_join(lv, h->reserved[0], h->nparts, SHMAP__LIVE_LOOK);
	if (rc == SHMAP_OK) {
		for (uint32_t i = 0; i < h->nparts; i++) {
			in->parts[i].word = raw[i].word;
			in->parts[i].pid = raw[i].pid;
			in->parts[i].start_time = raw[i].start_time;
			in->parts[i].alive = shmap__plat_live_held(lv, SHMAP__LOCK_PART0 + i);
			in->attached += in->parts[i].alive;
		}
	}
	free(raw);
	return rc;
}

SHMAP_API int shmap_info_open(const char *name, const shmap_opts *opts, shmap_info **ret)
{
	if (!ret)
		return SHMAP_E_INVAL;
	struct shmap_opts o;
	if (opts) {
		o = *opts;
	} else {
		shmap__opts_defaults(&o);
		o.owner = -1;
	}
	if (o.backend != SHMAP_BACKEND_MEMFD) {
		int rc = shmap__name_check(name, o.backend);
		if (rc != SHMAP_OK)
			return rc;
	}
	int fd = open_readonly(name, &o);
	if (fd < 0) {
		errno = -fd;
		return fd == -EINVAL ? SHMAP_E_ACCESS : shmap__errno_code(-fd);
	}
	struct shmap_info *in = calloc(1, sizeof(*in));
	if (!in) {
		close(fd);
		return SHMAP_E_NOMEM;
	}
	struct shmap__live lv;
	live_look(&lv, fd, o.backend, name);
	int rc = snapshot(fd, &lv, in);
	shmap__plat_live_close(&lv, false);
	if (rc == SHMAP_OK && o.owner >= 0 && (int64_t)in->owner != o.owner)
		rc = SHMAP_E_ACCESS;
	int saved = errno;
	close(fd);
	errno = saved;
	if (rc != SHMAP_OK) {
		shmap_info_free(in);
		return rc;
	}
	*ret = in;
	return SHMAP_OK;
}

SHMAP_API void shmap_info_free(shmap_info *info)
{
	if (!info)
		return;
	free(info->parts);
	free(info);
}

SHMAP_API uint64_t shmap_info_field(const shmap_info *info, uint32_t field)
{
	if (!info)
		return 0;
	const struct shmap__hdr *h = &info->hdr;
	switch (field) {
	case SHMAP_INFO_KIND: return h->kind;
	case SHMAP_INFO_KIND_FLAGS: return h->kind_flags;
	case SHMAP_INFO_CAPACITY: return h->capacity;
	case SHMAP_INFO_KEY_MAX: return h->key_max;
	case SHMAP_INFO_VALUE_MAX: return h->value_max;
	case SHMAP_INFO_ELEM_SIZE: return h->elem_size;
	case SHMAP_INFO_MAX_CONSUMERS: return h->max_consumers;
	case SHMAP_INFO_TOTAL_SIZE: return h->total_size;
	case SHMAP_INFO_DATA_SIZE: return h->data_size;
	case SHMAP_INFO_FILE_SIZE: return info->file_size;
	case SHMAP_INFO_ALLOC_SIZE: return info->alloc_size;
	case SHMAP_INFO_CREATED_NS: return h->created_ns;
	case SHMAP_INFO_CREATOR_UID: return h->creator_uid;
	case SHMAP_INFO_CREATOR_PID: return h->creator_pid;
	case SHMAP_INFO_GENERATION: return h->state >> 8;
	case SHMAP_INFO_MAX_PROCS: return h->nparts;
	case SHMAP_INFO_ATTACHED: return info->attached;
	case SHMAP_INFO_MODE: return info->mode;
	case SHMAP_INFO_OWNER_UID: return info->owner;
	case SHMAP_INFO_HASH_SEED: return h->hash_seed;
	case SHMAP_INFO_LAYOUT_VERSION: return h->layout_version;
	default: return 0;
	}
}

SHMAP_API int shmap_info_participant(const shmap_info *info, uint32_t slot, uint32_t *pid,
				     uint64_t *start_time, uint32_t *alive)
{
	if (!info)
		return SHMAP_E_INVAL;
	if (slot >= info->hdr.nparts)
		return SHMAP_E_RANGE;
	const struct info_part *p = &info->parts[slot];
	if ((uint32_t)p->word != SHMAP__PART_ATTACHED && !p->alive)
		return SHMAP_E_NOTFOUND;
	if (pid)
		*pid = p->pid;
	if (start_time)
		*start_time = p->start_time;
	if (alive)
		*alive = p->alive;
	return SHMAP_OK;
}

SHMAP_API const char *shmap_kind_name(uint32_t kind)
{
	switch (kind) {
	case SHMAP_KIND_HTABLE: return "htable";
	case SHMAP_KIND_RING_SPSC: return "ring-spsc";
	case SHMAP_KIND_RING_SPMC: return "ring-spmc";
	case SHMAP_KIND_RING_BCAST: return "ring-bcast";
	case SHMAP_KIND_VECTOR: return "vector";
	case SHMAP_KIND_RING_REC: return "ring-rec";
	default: return "unknown";
	}
}

/* Is anyone attached to, or building, the segment behind fd? */
static bool segment_in_use(int fd, const char *name)
{
	struct shmap__live lv;
	live_look(&lv, fd, SHMAP_BACKEND_SHM, name);
	bool used = true;
	if (shmap__plat_live_held(&lv, SHMAP__LIVE_BUILDER))
		goto out;
	/* Nobody attaches before READY: an unfinished segment whose builder
	 * lock is free (never sized, or a build that died) has no users. */
	struct stat st;
	if (fstat(fd, &st) != 0)
		goto out;
	used = false;
	if (st.st_size < (off_t)SHMAP__HDR_SIZE)
		goto out; /* empty, or holding only a building mark */
	used = true;
	struct shmap__hdr h;
	if (read_full(fd, &h, sizeof(h), 0) != SHMAP_OK)
		goto out;
	used = false;
	if ((h.state & 0xffu) != SHMAP__ST_READY)
		goto out;
	used = true;
	struct shmap__params p;
	if (shmap__hdr_validate(&h, (uint64_t)st.st_size, NULL, &p) != SHMAP_OK)
		goto out; /* cannot tell: keep it */
	(void)shmap__plat_live_join(&lv, h.reserved[0], p.nparts, SHMAP__LIVE_LOOK);
	used = false;
	for (uint32_t i = 0; i < p.nparts && !used; i++)
		used = shmap__plat_live_held(&lv, SHMAP__LOCK_PART0 + i);
out:
	shmap__plat_live_close(&lv, false);
	return used;
}

/* For the lock-file sweep: does shm name `name` exist, and which lock set
 * does its header name? */
static int current_set(const char *name, uint64_t *id)
{
	*id = 0;
	shmap_info *in = NULL;
	int rc = shmap_info_open(name, NULL, &in);
	if (rc == SHMAP_E_NOENT)
		return 0;
	if (rc == SHMAP_OK)
		*id = in->hdr.reserved[0];
	shmap_info_free(in);
	return 1;
}

SHMAP_API int shmap_cleanup_stale(const char *prefix, uint32_t *removed)
{
	if (!prefix || prefix[0] != '/' || strchr(prefix + 1, '/'))
		return SHMAP_E_INVAL;
	if (removed)
		*removed = 0;
	/* the directory shm names appear in (/dev/shm on Linux) */
	const char *dir = shmap__plat_shm_dir();
	if (!dir)
		return SHMAP_E_NOTSUP;
	DIR *d = opendir(dir);
	if (!d)
		return SHMAP_E_SYS;
	size_t plen = strlen(prefix + 1);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix + 1, plen) != 0)
			continue;
		char name[NAME_MAX + 2];
		snprintf(name, sizeof(name), "/%s", de->d_name);
		if (shmap__name_check(name, SHMAP_BACKEND_SHM) != SHMAP_OK)
			continue;
		shmap_info *in = NULL;
		int rc = shmap_info_open(name, NULL, &in);
		/* Only complete shmap segments, or ones whose builder died. */
		if (rc != SHMAP_OK && rc != SHMAP_E_NOTREADY)
			continue;
		shmap_info_free(in);
		int fd = shmap__plat_shm_open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
		if (fd < 0)
			continue;
		struct stat st;
		bool stale = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && !segment_in_use(fd, name);
		if (stale && rc == SHMAP_E_NOTREADY) {
			/* Unfinished: info_open found the building mark, the magic,
			 * or an empty object made by a shmap create.
			 * An empty object may be a creator between its O_EXCL
			 * create and its builder lock (microseconds): look again a
			 * little later before calling it abandoned. */
			if (stale && st.st_size == 0) {
				struct timespec nap = { 0, 20 * 1000 * 1000 };
				nanosleep(&nap, NULL);
				stale = fstat(fd, &st) == 0 && st.st_size == 0 && !segment_in_use(fd, name);
			}
		}
		/* Unlink only the object we looked at, not one re-created under
		 * the same name since. */
		struct stat cur;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s%s", dir, name);
		if (stale && (lstat(path, &cur) != 0 || cur.st_ino != st.st_ino || cur.st_dev != st.st_dev))
			stale = false;
		if (stale && shm_unlink(name) == 0) {
			if (removed)
				(*removed)++;
			if (!SHMAP_PLAT_OFD_LOCKS)
				shmap__plat_live_unlinked(SHMAP_BACKEND_SHM, name, (uint32_t)st.st_uid);
		}
		close(fd);
	}
	closedir(d);
	/* Lock files: the lock directories of names gone, sets of segments
	 * gone, and anonymous sets nobody holds. */
	if (!SHMAP_PLAT_OFD_LOCKS)
		(void)shmap__plat_live_sweep(prefix, current_set);
	return SHMAP_OK;
}

/* ------------------------------------------------------------------ */
/* reaping dead participants                                           */

SHMAP_API int shmap_reap(const char *name, const shmap_opts *opts, uint32_t *reaped)
{
	struct shmap_opts o;
	if (opts)
		o = *opts;
	else
		shmap__opts_defaults(&o);
	if (reaped)
		*reaped = 0;
	int fd;
	if (o.backend == SHMAP_BACKEND_MEMFD) {
		if (o.fd < 0)
			return SHMAP_E_INVAL;
		fd = shmap__reopen_fd(o.fd, O_RDWR);
	} else {
		int rc = shmap__name_check(name, o.backend);
		if (rc != SHMAP_OK)
			return rc;
		fd = shmap__open_object(name, &o, O_NONBLOCK, 0);
	}
	if (fd < 0)
		return shmap__errno_code(errno);
	struct stat st;
	int rc = fstat(fd, &st) == 0 ? shmap__check_object(&st, &o) : shmap__errno_code(errno);
	struct shmap_info *in = NULL;
	struct shmap__live lv;
	live_look(&lv, fd, o.backend, name);
	if (rc == SHMAP_OK) {
		in = calloc(1, sizeof(*in));
		rc = in ? snapshot(fd, &lv, in) : SHMAP_E_NOMEM;
	}
	if (rc == SHMAP_OK) {
		/* To take slot locks: joined (lock files: LOCK_SH on the set,
		 * so that nobody removes it meanwhile; created if ours). */
		shmap__plat_live_close(&lv, false);
		live_look(&lv, fd, o.backend, name);
		int lr = shmap__plat_live_join(&lv, in->hdr.reserved[0], in->hdr.nparts, SHMAP__LIVE_JOIN);
		if (lr != 0) {
			errno = lr;
			rc = shmap__errno_code(lr);
		}
	}
	if (rc != SHMAP_OK) {
		int e = errno;
		shmap__plat_live_close(&lv, false);
		shmap_info_free(in);
		close(fd);
		errno = e;
		return rc;
	}
	/* Map only the header and the participant table. */
	const uint64_t len = SHMAP_ALIGN_UP(in->hdr.parts_off + (uint64_t)in->hdr.nparts * sizeof(struct shmap__part),
					    (uint64_t)SHMAP__PAGE);
	const uint32_t nparts = in->hdr.nparts;
	const uint64_t parts_off = in->hdr.parts_off;
	shmap_info_free(in);
	void *m = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		rc = shmap__errno_code(errno);
		shmap__plat_live_close(&lv, false);
		close(fd);
		return rc;
	}
	/* A peer may shrink the file while we look: guard the mapping. */
	uint32_t poison = 0;
	const int gid = (o.flags & SHMAP_OPT_NO_SIGBUS_GUARD) ? 0 : shmap__guard_register(m, (size_t)len, &poison);
	if (gid < 0) {
		munmap(m, (size_t)len);
		shmap__plat_live_close(&lv, false);
		close(fd);
		return SHMAP_E_NOMEM;
	}
	struct shmap__part *parts = (struct shmap__part *)((uint8_t *)m + parts_off);
	for (uint32_t i = 0; i < nparts; i++) {
		uint64_t w = shmap__atomic_load_u64(&parts[i].word);
		if ((uint32_t)w != SHMAP__PART_ATTACHED)
			continue;
		/* Holding the slot's liveness lock proves its holder is gone, and
		 * keeps an attacher off the slot while we free it. */
		if (shmap__plat_live_trylock(&lv, SHMAP__LOCK_PART0 + i) != 0)
			continue;
		/* R4: release; pairs with the acquire in shmap__seg_owner_alive():
		 * the slot reads FREE (its generation kept), so every claim the
		 * dead process left names an owner that is no longer alive. */
		if (shmap__atomic_cas_release_u64(&parts[i].word, w,
						 (w & ~UINT64_C(0xffffffff)) | SHMAP__PART_FREE) == w &&
		    reaped)
			(*reaped)++;
		shmap__plat_live_unlock(&lv, SHMAP__LOCK_PART0 + i);
	}
	shmap__guard_unregister(gid);
	munmap(m, (size_t)len);
	shmap__plat_live_close(&lv, false);
	close(fd);
	/* As in shmap__seg_leave(): the guard's handler may have run in this
	 * thread during the loop above (the fence pairs with it) or in another. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&poison, __ATOMIC_RELAXED) ? SHMAP_E_PEERFAULT : SHMAP_OK;
}
