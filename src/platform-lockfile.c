/* SPDX-License-Identifier: MIT */
/*
 * platform-lockfile.c - the liveness service of the platform layer
 * (platform-internal.h, "liveness") with lock files: compiled where OFD byte
 * locks on the segment's descriptor are unavailable (macOS and FreeBSD refuse
 * advisory locks on POSIX shm objects) or forced off (`-Dportable=liveness`).
 *
 * flock() locks an open file description, alike on Linux, macOS and
 * FreeBSD, and the kernel drops it when the description's last reference
 * goes (at a crash too). It locks whole files: one file per lock.
 *
 * Where (docs/ARCHITECTURE.md, "Portability"):
 *   root        SHMAP_LIVE_ROOT "/shmap-<uid>" (default /tmp/shmap-<uid>),
 *               the segment owner's; mode 0755, owned by <uid>; created by
 *               that user only;
 *   name dir    file segment "<dir>/<base>": "<dir>/.<base>.shmap-locks"
 *               (".shmap-locks-<hash of base>" when that is too long);
 *               shm name "/<n>": "<root>/s/<n>"; holds "builder" and the
 *               lock sets of the segments that had this name;
 *   lock set    "<name dir>/<id>" or, anonymous, "<root>/a.<id>", <id> the
 *               16 hex digits of the header's identity; holds "0".."n-1".
 * Directories get mode 0700 plus r-x for the group / others who may open
 * the segment; files mode & 0644 (flock needs only read access).
 *
 * Squatting checks, on every directory and file opened (O_NOFOLLOW,
 * O_NONBLOCK, then fstat): the expected type, owned by the segment's
 * owner, no write bit for group or others (files: no execute or set-id
 * bits, exactly one link). A failure is EACCES (SHMAP_E_ACCESS).
 *
 * Who creates: only the segment's owner (uid == geteuid(); or root, giving
 * what it makes to the owner), and then
 * idempotently (mkdir / O_CREAT without O_EXCL): the builder of a segment
 * creates its lock set with every slot file before it publishes READY; an
 * owner that finds something missing (a tmp cleaner, a sweep) creates it
 * again -- a lock set holds no state but the locks themselves, and nobody
 * holds a lock in a set that was removed. Other users never create.
 *
 * Removal without races (the rules of platform-internal.h): a set is
 * removed under LOCK_EX on its directory, which no joined handle lets
 * anyone take (joined handles hold LOCK_SH); a lock file outside a set (the
 * builder) is removed by the holder of its lock. Whoever locks checks the
 * link count afterwards and starts again when its file or set was removed.
 */
#include "platform-config.h"

#if !SHMAP_PLAT_OFD_LOCKS

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <shmap/segment.h>

#include "platform-internal.h"

#ifndef SHMAP_LIVE_ROOT
#define SHMAP_LIVE_ROOT "/tmp"
#endif

#define BUILDER_FILE "builder"

static void close_keep_errno(int fd)
{
	int e = errno;
	if (fd >= 0)
		close(fd);
	errno = e;
}

static void nap_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

/* Squatting checks (see the top). 0, EACCES, or ENOENT for a file whose last
 * link was removed (a lock taken on it locks nothing). */
static int check_dir(int fd, uint32_t uid)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 022))
		return EACCES;
	return 0;
}

static int check_file(int fd, uint32_t uid)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != uid || (st.st_mode & 07133))
		return EACCES;
	if (st.st_nlink == 0)
		return ENOENT;
	return st.st_nlink == 1 ? 0 : EACCES;
}

static mode_t dir_mode(uint32_t mode)
{
	mode_t m = 0700;
	if (mode & 0060)
		m |= 0050;
	if (mode & 0006)
		m |= 0005;
	return m;
}

static mode_t file_mode(uint32_t mode)
{
	return (mode_t)((mode & 0644u) | 0600u);
}

/*
 * Root may attach to (and so create lock files for) a segment of another
 * user: what root itself just made goes to the segment's owner, as the
 * owner would have made it. Nothing else is ever chowned (a file of a
 * third user stays theirs, and fails the checks).
 */
static void give_to_owner(int fd, uint32_t uid)
{
	struct stat st;
	if (uid != 0 && geteuid() == 0 && fstat(fd, &st) == 0 && st.st_uid == 0)
		(void)fchown(fd, (uid_t)uid, (gid_t)-1);
}

/* Errors of an open with O_NOFOLLOW | O_DIRECTORY that mean "not what we
 * made": a symlink (ELOOP; EMLINK on FreeBSD) or not a directory. */
static int open_errno(int e)
{
	return (e == ELOOP || e == EMLINK || e == ENOTDIR) ? EACCES : e;
}

/* Open directory `name` under `parent` (creating it with `dmode` when
 * `create`), checked as owned by `uid`. */
static int open_dir_at(int parent, const char *name, uint32_t uid, bool create, mode_t dmode, int *out,
		       bool *made)
{
	bool mk = false; /* made by this call: root gives it to the owner */
	if (made)
		*made = false;
	/* A directory we just made is empty, and a closing handle may remove
	 * an empty name directory (clean_name_dir()) before our openat():
	 * make it again. Each closer removes it once, so a few rounds do. */
	for (int tries = 0; tries < 16; tries++) {
		int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			if (e != ENOENT || !create)
				return open_errno(e);
			if (mkdirat(parent, name, dmode) == 0)
				mk = true;
			else if (errno != EEXIST)
				return errno;
			continue;
		}
		if (mk)
			give_to_owner(fd, uid);
		int r = check_dir(fd, uid);
		if (r != 0) {
			close(fd);
			return r;
		}
		if (mk)
			(void)fchmod(fd, dmode); /* what the umask took away */
		if (made)
			*made = mk;
		*out = fd;
		return 0;
	}
	return ENOENT;
}

/* Open lock file `name` in `dir` read-only (creating it when `create`),
 * checked. */
static int open_lock_file(int dir, const char *name, uint32_t uid, bool create, mode_t fmode, int *out)
{
	int fd;
	do {
		fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (create ? O_CREAT : 0), fmode);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return open_errno(errno);
	if (create)
		give_to_owner(fd, uid);
	int r = check_file(fd, uid);
	if (r != 0) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* ------------------------------------------------------------ where */

/* FNV-1a: a name for a file segment's lock directory whose own name would
 * be too long (not a defence against anything: a collision only shares a
 * builder lock between two names). */
static uint64_t name_hash(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
	return h;
}

static int open_root(uint32_t uid, bool create, int *out)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/shmap-%u", SHMAP_LIVE_ROOT, (unsigned)uid);
	return open_dir_at(AT_FDCWD, path, uid, create, 0755, out, NULL);
}

/*
 * The directory that holds the name's directory (*parent, to close) and the
 * name directory's own name (in buf). Anonymous segments: the root, and no
 * name directory (buf empty).
 */
static int name_parent(const struct shmap__live *lv, bool create, int *parent, char *buf, size_t bufsz)
{
	buf[0] = '\0';
	if (lv->backend == SHMAP_BACKEND_FILE) {
		const char *slash = strrchr(lv->name, '/');
		const char *base = slash ? slash + 1 : lv->name;
		char dir[PATH_MAX];
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == lv->name)
			snprintf(dir, sizeof(dir), "/");
		else if ((size_t)(slash - lv->name) < sizeof(dir)) {
			memcpy(dir, lv->name, (size_t)(slash - lv->name));
			dir[slash - lv->name] = '\0';
		} else {
			return ENAMETOOLONG;
		}
		if (*base == '\0')
			return EINVAL;
		if ((size_t)snprintf(buf, bufsz, ".%s.shmap-locks", base) >= bufsz || strlen(buf) > NAME_MAX)
			snprintf(buf, bufsz, ".shmap-locks-%016llx", (unsigned long long)name_hash(base));
		/* The path up to the segment's directory is the caller's, as
		 * for the segment itself: followed. */
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return errno;
		*parent = fd;
		return 0;
	}
	int root;
	int r = open_root(lv->uid, create, &root);
	if (r != 0 || lv->backend != SHMAP_BACKEND_SHM) {
		*parent = root;
		return r;
	}
	if ((size_t)snprintf(buf, bufsz, "%s", lv->name + 1) >= bufsz)
		return ENAMETOOLONG;
	r = open_dir_at(root, "s", lv->uid, create, 0755, parent, NULL);
	close(root);
	return r;
}

/* The name's lock directory, opened (and created when we may) into *out. */
static int open_name_dir(const struct shmap__live *lv, bool create, int *out)
{
	char nd[NAME_MAX + 2];
	int parent = -1;
	int r = name_parent(lv, create, &parent, nd, sizeof(nd));
	if (r != 0)
		return r;
	r = open_dir_at(parent, nd, lv->uid, create, dir_mode(lv->mode), out, NULL);
	close_keep_errno(parent);
	return r;
}

static void set_name(const struct shmap__live *lv, uint64_t id, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s%016llx", lv->backend == SHMAP_BACKEND_MEMFD ? "a." : "",
		 (unsigned long long)id);
}

/* The directory that holds the lock set (name dir, or root if anonymous). */
static int set_parent(struct shmap__live *lv, bool create, int *out, bool *owned)
{
	*owned = false;
	if (lv->backend == SHMAP_BACKEND_MEMFD) {
		*owned = true;
		return open_root(lv->uid, create, out);
	}
	if (lv->name_fd < 0) {
		int r = open_name_dir(lv, create, &lv->name_fd);
		if (r != 0)
			return r;
	}
	*out = lv->name_fd;
	return 0;
}

/* ------------------------------------------------------------ removal */

/* Remove the set directory `fd` (we hold LOCK_EX on it), named `name` in
 * `parent`: its files, then itself -- if the name still refers to it. */
static bool remove_set(int parent, const char *name, int fd)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		close_keep_errno(dfd);
		return false;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		(void)unlinkat(fd, de->d_name, 0);
	}
	closedir(d);
	struct stat a, b;
	if (fstat(fd, &a) != 0 || fstatat(parent, name, &b, AT_SYMLINK_NOFOLLOW) != 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev)
		return false;
	return unlinkat(parent, name, AT_REMOVEDIR) == 0;
}

/* Remove set `name` in `parent` if nobody is joined to it. */
static bool try_remove_set(int parent, const char *name, uint32_t uid)
{
	int fd;
	if (open_dir_at(parent, name, uid, false, 0, &fd, NULL) != 0)
		return false;
	bool done = false;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		done = remove_set(parent, name, fd);
	close(fd);
	return done;
}

static bool is_set_name(const char *s, uint64_t *id)
{
	if (strlen(s) != 16)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return true;
}

/*
 * In the name directory `nfd` (named `ndname` in `parent`): with `sets`,
 * remove every set nobody is joined to except `keep` (0: keep none); with
 * `whole`, the builder file (under its lock) and the directory too, when
 * that leaves it empty. Returns the sets removed.
 */
static uint32_t clean_name_dir(int parent, const char *ndname, int nfd, uint32_t uid, uint64_t keep,
			       bool sets, bool whole)
{
	uint32_t n = 0;
	if (!sets)
		goto name_dir;
	int dfd = fcntl(nfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		close_keep_errno(dfd);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t id;
		if (is_set_name(de->d_name, &id) && (keep == 0 || id != keep) &&
		    try_remove_set(nfd, de->d_name, uid))
			n++;
	}
	closedir(d);
name_dir:
	if (!whole)
		return n;
	int bfd;
	struct stat a, b;
	if (open_lock_file(nfd, BUILDER_FILE, uid, false, 0, &bfd) == 0) {
		/* Only the name of the file we locked goes: between our open
		 * and our lock, its holder may have removed it and a builder
		 * created and locked a new "builder" under the same name.
		 * Unlinking that one would let a third process create another
		 * and take the builder lock beside the first (two builders).
		 * While we hold the lock of the file the name leads to, nobody
		 * else removes it (only a holder does), so the name cannot
		 * change between this check and the unlink. */
		if (flock(bfd, LOCK_EX | LOCK_NB) == 0 && fstat(bfd, &a) == 0 && a.st_nlink > 0 &&
		    fstatat(nfd, BUILDER_FILE, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			(void)unlinkat(nfd, BUILDER_FILE, 0);
		close(bfd);
	}
	if (fstat(nfd, &a) == 0 && fstatat(parent, ndname, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		(void)unlinkat(parent, ndname, AT_REMOVEDIR); /* ENOTEMPTY: sets in use stay */
	return n;
}

/* ------------------------------------------------------------ the service */

void shmap__plat_live_init(struct shmap__live *lv, uint32_t backend, const char *name, uint32_t mode)
{
	const uint32_t uid = (uint32_t)geteuid();
	memset(lv, 0, sizeof(*lv));
	lv->fd = lv->name_fd = lv->set_fd = lv->builder_fd = lv->slot_fd = -1;
	lv->backend = backend;
	lv->name = backend == SHMAP_BACKEND_MEMFD ? NULL : name;
	lv->uid = uid;
	lv->mode = mode;
	lv->creator = true;
}

int shmap__plat_live_bind(struct shmap__live *lv, int fd)
{
	lv->fd = fd;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return errno;
	lv->uid = (uint32_t)st.st_uid;
	lv->mode = (uint32_t)st.st_mode & 0777u;
	lv->creator = lv->uid == (uint32_t)geteuid() || geteuid() == 0;
	return 0;
}

int shmap__plat_live_join(struct shmap__live *lv, uint64_t id, uint32_t nparts, uint32_t how)
{
	const bool create = lv->creator && how != SHMAP__LIVE_LOOK;
	if (lv->set_fd >= 0)
		return 0;
	char sname[32];
	set_name(lv, id, sname, sizeof(sname));
	if (how == SHMAP__LIVE_BUILD && create && lv->name_fd >= 0)
		/* The name's directory outlives segments of other modes: the
		 * builder of this one opens it to whom this mode admits. */
		(void)fchmod(lv->name_fd, dir_mode(lv->mode));
	int r = ENOENT;
	for (int tries = 0; tries < 200; tries++) {
		int parent;
		bool own_parent;
		r = set_parent(lv, create, &parent, &own_parent);
		if (r == ENOENT && create && tries < 16)
			continue; /* the name directory removed as it was made: again */
		if (r != 0)
			return r;
		int fd;
		bool made;
		r = open_dir_at(parent, sname, lv->uid, create, dir_mode(lv->mode), &fd, &made);
		if (own_parent)
			close_keep_errno(parent);
		if (r == ENOENT && !own_parent && create && tries < 16) {
			/* Our name directory was removed (its name was unlinked,
			 * then created again): open the new one. */
			close(lv->name_fd);
			lv->name_fd = -1;
			continue;
		}
		if (r != 0)
			return r;
		if (how == SHMAP__LIVE_LOOK) {
			lv->set_fd = fd;
			lv->id = id;
			return 0;
		}
		if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
			int e = errno;
			close(fd);
			if (e == EWOULDBLOCK || e == EINTR) {
				nap_ms(1); /* being removed: look again */
				continue;
			}
			return e;
		}
		struct stat st;
		if (fstat(fd, &st) != 0) {
			r = errno;
			close(fd);
			return r;
		}
		if (st.st_nlink == 0) {
			close(fd); /* removed before our LOCK_SH: look again */
			continue;
		}
		if (create && made && (lv->mode & 0066)) {
			/* Every slot file now when peers of other users may
			 * attach: they cannot create one. Otherwise each comes
			 * with its first attacher (a probe reads a missing
			 * file as free: nobody can hold a lock on it). */
			for (uint32_t i = 0; i < nparts && r == 0; i++) {
				char f[16];
				int ffd;
				snprintf(f, sizeof(f), "%u", (unsigned)i);
				r = open_lock_file(fd, f, lv->uid, true, file_mode(lv->mode), &ffd);
				if (r == 0) {
					(void)fchmod(ffd, file_mode(lv->mode));
					close(ffd);
				}
			}
			if (r != 0) {
				close(fd);
				return r;
			}
		}
		lv->set_fd = fd;
		lv->id = id;
		return 0;
	}
	return r == 0 ? EAGAIN : r;
}

/* Lock file `fname` in `dir` with LOCK_EX | LOCK_NB, checking afterwards
 * that it is still linked. 0 (*out holds it), EAGAIN, ENOENT (missing, or
 * removed again and again), others. */
static int lock_file(int dir, const char *fname, const struct shmap__live *lv, bool create, int *out)
{
	for (int tries = 0; tries < 8; tries++) {
		int fd;
		int r = open_lock_file(dir, fname, lv->uid, create, file_mode(lv->mode), &fd);
		if (r != 0)
			return r;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;
			close(fd);
			if (e == EINTR)
				continue;
			return e == EWOULDBLOCK ? EAGAIN : e;
		}
		struct stat st;
		if (fstat(fd, &st) != 0) {
			r = errno;
			close(fd);
			return r;
		}
		if (st.st_nlink == 0) {
			close(fd); /* its holder removed it: we locked nothing */
			continue;
		}
		*out = fd;
		return 0;
	}
	return ENOENT;
}

int shmap__plat_live_trylock(struct shmap__live *lv, uint32_t lock)
{
	if (lock == SHMAP__LIVE_BUILDER) {
		if (lv->backend == SHMAP_BACKEND_MEMFD)
			return 0; /* nobody else sees it before READY */
		if (lv->builder_fd >= 0)
			return EAGAIN; /* ours already (another build in this struct) */
		int r = ENOENT;
		/* ENOENT: the name directory was removed under us (a closing
		 * handle's clean_name_dir(): builder file first, then the
		 * directory). Opening it again may still find the one being
		 * removed, so a few tries; each removal happens once. */
		for (int tries = 0; tries < 8; tries++) {
			if (lv->name_fd < 0) {
				r = open_name_dir(lv, lv->creator, &lv->name_fd);
				if (r == ENOENT && lv->creator)
					continue; /* removed again as we made it: once more */
				if (r != 0)
					return r;
			}
			r = lock_file(lv->name_fd, BUILDER_FILE, lv, lv->creator, &lv->builder_fd);
			if (r != ENOENT || !lv->creator)
				break;
			/* the name directory itself was removed: open it again */
			close(lv->name_fd);
			lv->name_fd = -1;
		}
		return r;
	}
	if (lv->set_fd < 0)
		return ENOENT; /* not joined */
	if (lv->slot_fd >= 0)
		return EAGAIN;
	char f[16];
	snprintf(f, sizeof(f), "%u", (unsigned)(lock - SHMAP__LIVE_SLOT0));
	lv->slot_lock = lock;
	return lock_file(lv->set_fd, f, lv, lv->creator, &lv->slot_fd);
}

void shmap__plat_live_unlock(struct shmap__live *lv, uint32_t lock)
{
	int *fdp = lock == SHMAP__LIVE_BUILDER ? &lv->builder_fd : &lv->slot_fd;
	if (*fdp < 0)
		return;
	int e = errno;
	/* Unlock first: should a stray reference to the description remain,
	 * it must not keep the lock. */
	(void)flock(*fdp, LOCK_UN);
	close(*fdp);
	*fdp = -1;
	errno = e;
}

bool shmap__plat_live_held(const struct shmap__live *lv, uint32_t lock)
{
	int e = errno;
	int dir = -1;
	bool own_dir = false;
	char f[16];
	bool held = true; /* cannot tell: alive (never recover on doubt) */
	if ((lock == SHMAP__LIVE_BUILDER && lv->builder_fd >= 0) || (lv->slot_fd >= 0 && lock == lv->slot_lock))
		return false; /* ours: as an OFD lock, not in our own way */
	if (lock == SHMAP__LIVE_BUILDER) {
		if (lv->backend == SHMAP_BACKEND_MEMFD) {
			errno = e;
			return false;
		}
		memcpy(f, BUILDER_FILE, sizeof(BUILDER_FILE));
		dir = lv->name_fd;
		if (dir < 0) {
			int r = open_name_dir(lv, false, &dir);
			if (r == ENOENT) {
				/* No name directory: no builder file in it (a held
				 * one is linked, so its directory is not empty). */
				errno = e;
				return false;
			}
			own_dir = r == 0;
		}
	} else {
		snprintf(f, sizeof(f), "%u", (unsigned)(lock - SHMAP__LIVE_SLOT0));
		dir = lv->set_fd;
	}
	int fd;
	int r = dir >= 0 ? open_lock_file(dir, f, lv->uid, false, 0, &fd) : EBADF;
	if (r == 0) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			held = false;
		close(fd); /* drops the lock we took */
	} else if (r == ENOENT) {
		/* No file in a directory we could open: nobody holds it (a
		 * lock file is removed only by its holder, a slot file only
		 * with its set, under LOCK_EX, which no joined holder lets
		 * anyone take; a set made again gets every slot file). */
		held = false;
	}
	if (own_dir)
		close(dir);
	errno = e;
	return held;
}

int shmap__plat_live_forked(struct shmap__live *lv)
{
	/* Closing (never unlocking) the inherited descriptions leaves the
	 * parent's locks to the parent. */
	if (lv->builder_fd >= 0) {
		close(lv->builder_fd);
		lv->builder_fd = -1;
	}
	if (lv->slot_fd >= 0) {
		close(lv->slot_fd);
		lv->slot_fd = -1;
	}
	if (lv->set_fd >= 0) {
		/* Our own description of the set and our own LOCK_SH (the
		 * parent's is shared until the parent's goes). */
		int nfd = openat(lv->set_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (nfd < 0)
			return errno;
		if (flock(nfd, LOCK_SH | LOCK_NB) != 0) {
			int e = errno;
			close(nfd);
			return e;
		}
		close(lv->set_fd);
		lv->set_fd = nfd;
	}
	return 0;
}

void shmap__plat_live_close(struct shmap__live *lv, bool remove)
{
	int e = errno;
	shmap__plat_live_unlock(lv, SHMAP__LIVE_BUILDER);
	shmap__plat_live_unlock(lv, SHMAP__LIVE_SLOT0);
	if (lv->set_fd >= 0) {
		/* LOCK_SH -> LOCK_EX (not atomic: two last detachers may each
		 * see the other and both leave it to a sweep). */
		if (remove && flock(lv->set_fd, LOCK_EX | LOCK_NB) == 0) {
			char sname[32];
			set_name(lv, lv->id, sname, sizeof(sname));
			int parent = -1;
			bool own_parent = false;
			if (set_parent(lv, false, &parent, &own_parent) == 0) {
				(void)remove_set(parent, sname, lv->set_fd);
				if (own_parent)
					close(parent);
			}
			if (lv->backend != SHMAP_BACKEND_MEMFD && lv->name_fd >= 0) {
				char nd[NAME_MAX + 2];
				int np = -1;
				if (name_parent(lv, false, &np, nd, sizeof(nd)) == 0) {
					(void)clean_name_dir(np, nd, lv->name_fd, lv->uid, 0, false, true);
					close(np);
				}
			}
		}
		close(lv->set_fd);
		lv->set_fd = -1;
	}
	if (lv->name_fd >= 0) {
		close(lv->name_fd);
		lv->name_fd = -1;
	}
	lv->fd = -1;
	lv->id = 0;
	errno = e;
}

void shmap__plat_live_unlinked(uint32_t backend, const char *name, uint32_t uid)
{
	struct shmap__live lv;
	shmap__plat_live_init(&lv, backend, name, 0600);
	lv.uid = uid;
	int e = errno;
	char nd[NAME_MAX + 2];
	int parent = -1, nfd = -1;
	if (name_parent(&lv, false, &parent, nd, sizeof(nd)) == 0) {
		if (open_dir_at(parent, nd, uid, false, 0, &nfd, NULL) == 0) {
			(void)clean_name_dir(parent, nd, nfd, uid, 0, true, true);
			close(nfd);
		}
		close(parent);
	}
	errno = e;
}

uint32_t shmap__plat_live_sweep(const char *prefix, int (*current)(const char *name, uint64_t *id))
{
	int e = errno;
	uint32_t n = 0;
	const uint32_t uid = (uint32_t)geteuid();
	int root;
	if (open_root(uid, false, &root) != 0) {
		errno = e;
		return 0;
	}
	int dfd = fcntl(root, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		close_keep_errno(dfd);
		close(root);
		errno = e;
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t id;
		if (strncmp(de->d_name, "a.", 2) == 0 && is_set_name(de->d_name + 2, &id))
			n += try_remove_set(root, de->d_name, uid);
	}
	closedir(d);
	int sdir = -1;
	if (open_dir_at(root, "s", uid, false, 0, &sdir, NULL) != 0) {
		close(root);
		errno = e;
		return n;
	}
	close(root);
	dfd = fcntl(sdir, F_DUPFD_CLOEXEC, 0);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		close_keep_errno(dfd);
		close(sdir);
		errno = e;
		return n;
	}
	const size_t plen = strlen(prefix + 1);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, prefix + 1, plen) != 0)
			continue;
		char name[NAME_MAX + 2];
		snprintf(name, sizeof(name), "/%s", de->d_name);
		uint64_t cur = 0;
		int c = current(name, &cur);
		if (c == 1 && cur == 0)
			continue; /* the segment exists and we cannot tell its set */
		int nfd;
		if (open_dir_at(sdir, de->d_name, uid, false, 0, &nfd, NULL) != 0)
			continue;
		n += clean_name_dir(sdir, de->d_name, nfd, uid, c == 1 ? cur : 0, true, c == 0);
		close(nfd);
	}
	closedir(d);
	close(sdir);
	errno = e;
	return n;
}

#else
/* A translation unit must not be empty (ISO C). */
typedef int shmap__platform_lockfile_unit;
#endif /* !SHMAP_PLAT_OFD_LOCKS */
