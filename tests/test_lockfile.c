/* SPDX-License-Identifier: MIT */
/*
 * The lock-file liveness backend's own properties (platform-lockfile.c;
 * built with -Dportable=liveness or on systems without OFD locks): a
 * SIGKILLed holder's slot reads dead; a fork child that inherited a handle
 * does not keep its parent alive; a peer of another user attaches to a
 * segment whose mode admits it; squatted lock directories and files are
 * refused with SHMAP_E_ACCESS; shmap_unlink(), the last detacher and
 * shmap_cleanup_stale() remove the lock directories. Where the build uses
 * OFD byte locks every test skips with a message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <shmap/inspect.h>

#include "helpers.h"
#include "segment_kind.h"

#define ROOT "/tmp" /* SHMAP_LIVE_ROOT of platform-lockfile.c */

static bool lock_files(void)
{
	if (SHMAP_PLAT_OFD_LOCKS)
		print_message("# this build uses OFD byte locks (SHMAP_PLAT_OFD_LOCKS=1): "
			      "the lock-file backend is not compiled in; skipped\n");
	return !SHMAP_PLAT_OFD_LOCKS;
}

/* Tests that run a peer as another user: lock files, and root to drop. */
static void skip_unless_root_lock_files(void)
{
	if (!lock_files())
		skip();
	if (geteuid() != 0) {
		print_message("# needs root (to run a peer as another user); skipped\n");
		skip();
	}
}

/* The lock directory of shm name `name`, and of its set `id`. */
static void name_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, ROOT "/shmap-%u/s/%s", (unsigned)geteuid(), name + 1);
}

static void set_dir(char *buf, size_t len, const char *name, uint64_t id)
{
	snprintf(buf, len, ROOT "/shmap-%u/s/%s/%016llx", (unsigned)geteuid(), name + 1, (unsigned long long)id);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int open_tk(const char *name, uint32_t oflags, struct shmap__seg *seg, uint32_t mode)
{
	struct shmap__params want = tk_params(oflags & SHMAP_CREATE ? 64 : 0);
	struct shmap_opts o;
	shmap__opts_defaults(&o);
	o.mode = mode;
	o.timeout_ms = 500;
	return shmap__seg_open(name, oflags, &want, &tk_ops, &o, seg);
}

/* ------------------------------------------------------------------ */

struct child_arg {
	const char *name;
	int ackfd;
};

static int attach_and_wait(void *a)
{
	struct child_arg *c = a;
	struct shmap__seg s;
	if (open_tk(c->name, SHMAP_OPEN, &s, 0600) != SHMAP_OK)
		return 1;
	th_ack(c->ackfd, s.owner);
	pause();
	return 0;
}

/* A SIGKILLed holder: its slot lock goes with it, the probe reads it dead,
 * and shmap_reap frees the slot. */
static void test_killed_holder_dead(void **state)
{
	(void)state;
	if (!lock_files())
		skip();
	char name[64];
	th_name(name, sizeof name, "lf-kill");
	struct shmap__seg me;
	assert_int_equal(open_tk(name, SHMAP_CREATE, &me, 0600), SHMAP_OK);
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct child_arg ca = { name, p[1] };
	pid_t c = th_fork(attach_and_wait, &ca, 30);
	uint64_t owner;
	assert_int_equal(th_read_ack(p[0], &owner), 0);
	const uint32_t slot = shmap__owner_slot(me.p.nparts, (uint32_t)owner);
	/* its lock file is where the policy says, and held */
	char sd[PATH_MAX], f[PATH_MAX + 16];
	set_dir(sd, sizeof sd, name, me.live.id);
	snprintf(f, sizeof f, "%s/%u", sd, slot);
	int fd = open(f, O_RDONLY | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
	assert_true(shmap__seg_owner_alive(&me, (uint32_t)owner));
	assert_true(shmap__seg_slot_alive(&me, slot));
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	assert_false(shmap__seg_owner_alive(&me, (uint32_t)owner));
	assert_false(shmap__seg_slot_alive(&me, slot));
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0); /* the kernel released it */
	close(fd);
	uint32_t reaped = 0;
	assert_int_equal(shmap_reap(name, NULL, &reaped), SHMAP_OK);
	assert_int_equal(reaped, 1);
	shmap__seg_close(&me);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	close(p[0]);
	close(p[1]);
}

/* ------------------------------------------------------------------ */

struct fork_arg {
	const char *name;
	int ackfd;
};

/* P attaches, forks C (which re-attaches on its own slot), reports both
 * owner ids and waits. */
static int parent_with_child(void *a)
{
	struct fork_arg *fa = a;
	struct shmap__seg s;
	if (open_tk(fa->name, SHMAP_OPEN, &s, 0600) != SHMAP_OK)
		return 1;
	fflush(NULL);
	pid_t c = fork();
	if (c == 0) {
		alarm(30);
		if (shmap__seg_reattach(&s) != SHMAP_OK)
			_exit(2);
		th_ack(fa->ackfd, ((uint64_t)(uint32_t)getpid() << 32) | s.owner);
		pause();
		_exit(0);
	}
	th_ack(fa->ackfd, s.owner);
	pause();
	return 0;
}

/* flock() locks are shared across fork(): a child that inherited the
 * parent's handle must not keep the parent's slot alive. */
static void test_fork_child_does_not_keep_parent(void **state)
{
	(void)state;
	if (!lock_files())
		skip();
	char name[64];
	th_name(name, sizeof name, "lf-fork");
	struct shmap__seg me;
	assert_int_equal(open_tk(name, SHMAP_CREATE, &me, 0600), SHMAP_OK);
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct fork_arg fa = { name, p[1] };
	pid_t pp = th_fork(parent_with_child, &fa, 30);
	uint64_t a, b, powner, cv;
	assert_int_equal(th_read_ack(p[0], &a), 0);
	assert_int_equal(th_read_ack(p[0], &b), 0);
	/* the two acks come in either order: the child's carries its pid */
	powner = (a >> 32) ? b : a;
	cv = (a >> 32) ? a : b;
	const pid_t child = (pid_t)(cv >> 32);
	const uint32_t cowner = (uint32_t)cv;
	assert_true(powner != cowner);
	assert_true(shmap__seg_owner_alive(&me, (uint32_t)powner));
	assert_true(shmap__seg_owner_alive(&me, cowner));
	kill(pp, SIGKILL);
	waitpid(pp, NULL, 0);
	assert_int_equal(kill(child, 0), 0); /* the child lives on */
	assert_false(shmap__seg_owner_alive(&me, (uint32_t)powner));
	assert_true(shmap__seg_owner_alive(&me, cowner));
	kill(child, SIGKILL);
	for (int i = 0; i < 1000 && shmap__seg_owner_alive(&me, cowner); i++)
		usleep(2000); /* not our child: reaped by init */
	assert_false(shmap__seg_owner_alive(&me, cowner));
	shmap__seg_close(&me);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	close(p[0]);
	close(p[1]);
}

/* ------------------------------------------------------------------ */

static int other_user_attach(void *a)
{
	struct child_arg *c = a;
	if (th_drop_root() != 0)
		return 90;
	struct shmap__params want = tk_params(0);
	struct shmap_opts o;
	shmap__opts_defaults(&o);
	o.mode = 0666;
	o.owner = -1;
	struct shmap__seg s;
	int rc = shmap__seg_open(c->name, SHMAP_OPEN, &want, &tk_ops, &o, &s);
	if (rc != SHMAP_OK) {
		th_ack(c->ackfd, UINT64_C(1) << 63 | (uint32_t)rc);
		return 91;
	}
	th_ack(c->ackfd, s.owner);
	pause();
	return 0;
}

/* A segment shared with other users: its builder made every slot file
 * (others cannot create them, flock needs only read access); a peer of
 * another uid attaches, reads alive, and dead once killed. Root only. */
static void test_other_user(void **state)
{
	(void)state;
	skip_unless_root_lock_files();
	char name[64];
	th_name(name, sizeof name, "lf-user");
	struct shmap__seg me;
	assert_int_equal(open_tk(name, SHMAP_CREATE, &me, 0666), SHMAP_OK);
	char sd[PATH_MAX], f[PATH_MAX + 16];
	set_dir(sd, sizeof sd, name, me.live.id);
	snprintf(f, sizeof f, "%s/%u", sd, me.p.nparts - 1);
	struct stat st;
	assert_int_equal(stat(f, &st), 0); /* made at build, never attached */
	assert_int_equal(st.st_mode & 0777, 0644);
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct child_arg ca = { name, p[1] };
	pid_t c = th_fork(other_user_attach, &ca, 30);
	close(p[1]); /* EOF if the child dies before its ack */
	uint64_t owner = 0;
	int ar = th_read_ack(p[0], &owner);
	if (ar != 0 || owner >> 63) {
		th_wait(c, 5);
		fail_msg("the other user's attach failed: %s", ar ? "no answer" : shmap_errname((int)(int32_t)owner));
	}
	assert_true(shmap__seg_owner_alive(&me, (uint32_t)owner));
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	assert_false(shmap__seg_owner_alive(&me, (uint32_t)owner));
	shmap__seg_close(&me);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	close(p[0]);
}

static int other_user_create(void *a)
{
	struct child_arg *c = a;
	if (th_drop_root() != 0)
		return 90;
	struct shmap__seg s;
	if (open_tk(c->name, SHMAP_CREATE, &s, 0600) != SHMAP_OK)
		return 91;
	shmap__seg_close(&s); /* the segment and its lock directories stay */
	return 0;
}

/* Lock directories of another user's segment removed behind shmap's back
 * (a tmp cleaner): root, told whom to expect, attaches and makes them
 * again as the owner's, never its own. Root only. */
static void test_root_remakes_for_owner(void **state)
{
	(void)state;
	skip_unless_root_lock_files();
	char name[64], nd[256], root[128];
	th_name(name, sizeof name, "lf-remake");
	struct child_arg ca = { name, -1 };
	pid_t c = th_fork(other_user_create, &ca, 30);
	assert_int_equal(th_wait(c, 10), 0);
	const uid_t other = 65534; /* th_drop_root() */
	snprintf(root, sizeof root, ROOT "/shmap-%u", (unsigned)other);
	snprintf(nd, sizeof nd, "%s/s/%s", root, name + 1);
	assert_true(exists(nd));
	/* the cleaner: everything under the name's directory, and itself */
	char cmd[320];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", nd);
	assert_int_equal(system(cmd), 0);
	assert_false(exists(nd));
	struct shmap__params want = tk_params(0);
	struct shmap_opts o;
	shmap__opts_defaults(&o);
	o.owner = (int64_t)other;
	struct shmap__seg s;
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &s), SHMAP_OK);
	struct stat st;
	assert_int_equal(lstat(nd, &st), 0);
	assert_int_equal(st.st_uid, other);
	assert_int_equal(st.st_mode & 0777, 0700);
	char sd[320];
	snprintf(sd, sizeof sd, "%s/%016llx", nd, (unsigned long long)s.live.id);
	assert_int_equal(lstat(sd, &st), 0);
	assert_int_equal(st.st_uid, other);
	shmap__seg_close(&s);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	assert_false(exists(nd));
}

/* ------------------------------------------------------------------ */

/* Squatted directories and files: SHMAP_E_ACCESS, and the squat untouched. */
static void test_squatted(void **state)
{
	(void)state;
	if (!lock_files())
		skip();
	char name[64], nd[PATH_MAX], sd[PATH_MAX], f[PATH_MAX + 16];
	struct shmap__seg s;

	/* 1. the name's directory is a symlink (to a directory of ours) */
	th_name(name, sizeof name, "lf-squat");
	struct shmap__seg first;
	assert_int_equal(open_tk(name, SHMAP_CREATE, &first, 0600), SHMAP_OK); /* makes the root */
	shmap__seg_close(&first);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	name_dir(nd, sizeof nd, name);
	assert_false(exists(nd));
	char target[] = "/tmp/shmap-t-lfXXXXXX";
	assert_non_null(mkdtemp(target));
	assert_int_equal(symlink(target, nd), 0);
	assert_int_equal(open_tk(name, SHMAP_CREATE, &s, 0600), SHMAP_E_ACCESS);
	assert_int_equal(shm_unlink(name), -1); /* the failed create removed its object */
	unlink(nd);

	/* 2. the name's directory is writable by others */
	assert_int_equal(mkdir(nd, 0700), 0);
	assert_int_equal(chmod(nd, 0777), 0);
	assert_int_equal(open_tk(name, SHMAP_CREATE, &s, 0600), SHMAP_E_ACCESS);
	assert_int_equal(rmdir(nd), 0);

	/* 3. a slot file of a segment replaced: by a symlink, a file with two
	 * links, a file writable by others */
	for (int how = 0; how < 3; how++) {
		assert_int_equal(open_tk(name, SHMAP_CREATE, &first, 0600), SHMAP_OK);
		const uint64_t id = first.live.id;
		const uint32_t n = first.p.nparts;
		shmap__seg_close(&first);
		set_dir(sd, sizeof sd, name, id);
		char other[PATH_MAX + 16];
		snprintf(other, sizeof other, "%s.other", target);
		int ofd = open(other, O_RDWR | O_CREAT, 0600);
		assert_true(ofd >= 0);
		close(ofd);
		for (uint32_t i = 0; i < n; i++) {
			snprintf(f, sizeof f, "%s/%u", sd, i);
			unlink(f);
			if (how == 0) {
				assert_int_equal(symlink(other, f), 0);
			} else if (how == 1) {
				assert_int_equal(link(other, f), 0);
			} else {
				int fd = open(f, O_RDONLY | O_CREAT | O_EXCL, 0600);
				assert_true(fd >= 0);
				assert_int_equal(fchmod(fd, 0666), 0);
				close(fd);
			}
		}
		assert_int_equal(open_tk(name, SHMAP_OPEN, &s, 0600), SHMAP_E_ACCESS);
		struct stat st;
		assert_int_equal(lstat(f, &st), 0); /* the squat is still there */
		assert_true(how == 0 ? S_ISLNK(st.st_mode) : S_ISREG(st.st_mode));
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
		/* nobody is joined: unlink removed the set, squat and all */
		assert_false(exists(sd));
		unlink(other);
	}

	/* 4. a file segment whose lock directory beside it is a symlink */
	char fpath[PATH_MAX], fl[PATH_MAX + 32];
	snprintf(fpath, sizeof fpath, "%s/seg", target);
	snprintf(fl, sizeof fl, "%s/.seg.shmap-locks", target);
	char target2[] = "/tmp/shmap-t-lf2XXXXXX";
	assert_non_null(mkdtemp(target2));
	assert_int_equal(symlink(target2, fl), 0);
	struct shmap__params want = tk_params(64);
	struct shmap_opts o;
	shmap__opts_defaults(&o);
	o.backend = SHMAP_BACKEND_FILE;
	assert_int_equal(shmap__seg_open(fpath, SHMAP_CREATE, &want, &tk_ops, &o, &s), SHMAP_E_ACCESS);
	assert_false(exists(fpath));
	unlink(fl);
	/* and without the squat: the directory appears beside it, and goes
	 * with shmap_unlink() */
	assert_int_equal(shmap__seg_open(fpath, SHMAP_CREATE, &want, &tk_ops, &o, &s), SHMAP_OK);
	assert_true(exists(fl));
	shmap__seg_close(&s);
	shmap_opts *po;
	assert_int_equal(shmap_opts_new(&po), SHMAP_OK);
	assert_int_equal(shmap_opts_set_backend(po, SHMAP_BACKEND_FILE), SHMAP_OK);
	assert_int_equal(shmap_unlink(fpath, po), SHMAP_OK);
	shmap_opts_free(po);
	assert_false(exists(fl));
	assert_int_equal(rmdir(target2), 0);
	assert_int_equal(rmdir(target), 0);
}

/* ------------------------------------------------------------------ */

/* Who removes the lock directories: shmap_unlink (idle sets at once, sets
 * in use by their last detacher), the last detacher of an anonymous
 * segment, and shmap_cleanup_stale for names removed behind shmap's back
 * (where shm names can be listed: SHMAP_PLAT_SHM_FILES). */
static void test_cleanup(void **state)
{
	(void)state;
	if (!lock_files())
		skip();
	char name[64], nd[PATH_MAX], sd[PATH_MAX];
	struct shmap__seg a, b;

	/* unlink while nobody is attached */
	th_name(name, sizeof name, "lf-clean");
	assert_int_equal(open_tk(name, SHMAP_CREATE, &a, 0600), SHMAP_OK);
	name_dir(nd, sizeof nd, name);
	set_dir(sd, sizeof sd, name, a.live.id);
	assert_true(exists(sd));
	shmap__seg_close(&a);
	assert_true(exists(sd)); /* the segment lives on: so do its locks */
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	assert_false(exists(nd));

	/* unlink while attached: the last detacher removes them */
	assert_int_equal(open_tk(name, SHMAP_CREATE, &a, 0600), SHMAP_OK);
	assert_int_equal(open_tk(name, SHMAP_OPEN, &b, 0600), SHMAP_OK);
	set_dir(sd, sizeof sd, name, a.live.id);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	assert_true(exists(sd));
	shmap__seg_close(&a);
	assert_true(exists(sd));
	shmap__seg_close(&b);
	assert_false(exists(sd));
	assert_false(exists(nd));

	/* a new segment of the same name gets a new set; the old one, still
	 * in use, is not touched */
	assert_int_equal(open_tk(name, SHMAP_CREATE, &a, 0600), SHMAP_OK);
	const uint64_t id1 = a.live.id;
	assert_int_equal(shm_unlink(name), 0); /* behind shmap's back */
	assert_int_equal(open_tk(name, SHMAP_CREATE, &b, 0600), SHMAP_OK);
	assert_true(b.live.id != id1);
	uint32_t removed = 99;
	if (SHMAP_PLAT_SHM_FILES) {
		assert_int_equal(shmap_cleanup_stale(name, &removed), SHMAP_OK);
		assert_int_equal(removed, 0); /* b is attached */
	} else {
		/* no listing of shm names: cleanup_stale promises nothing */
		assert_int_equal(shmap_cleanup_stale(name, &removed), SHMAP_E_NOTSUP);
	}
	set_dir(sd, sizeof sd, name, id1);
	assert_true(exists(sd)); /* a is joined */
	shmap__seg_close(&a);
	assert_false(exists(sd)); /* its last detacher: its name is gone */
	shmap__seg_close(&b);
	set_dir(sd, sizeof sd, name, b.live.id);
	if (SHMAP_PLAT_SHM_FILES) {
		assert_int_equal(shm_unlink(name), 0); /* behind shmap's back again */
		assert_true(exists(nd));
		assert_int_equal(shmap_cleanup_stale(name, &removed), SHMAP_OK);
		assert_false(exists(nd));
	} else {
		print_message("# no listing of shm names (SHMAP_PLAT_SHM_FILES=0): "
			      "shmap_cleanup_stale() is SHMAP_E_NOTSUP; the lock directory of a "
			      "name removed behind shmap's back stays; shmap_unlink() removes it\n");
		assert_true(exists(nd));
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
		assert_false(exists(nd));
	}

	/* anonymous: a.<id> in the root, removed by the last detacher */
	struct shmap__params want = tk_params(64);
	struct shmap_opts o;
	shmap__opts_defaults(&o);
	o.backend = SHMAP_BACKEND_MEMFD;
	assert_int_equal(shmap__seg_open(NULL, SHMAP_CREATE, &want, &tk_ops, &o, &a), SHMAP_OK);
	char ad[PATH_MAX];
	snprintf(ad, sizeof ad, ROOT "/shmap-%u/a.%016llx", (unsigned)geteuid(), (unsigned long long)a.live.id);
	assert_true(exists(ad));
	o.fd = a.share_fd;
	struct shmap__params any = tk_params(0);
	assert_int_equal(shmap__seg_open(NULL, SHMAP_OPEN, &any, &tk_ops, &o, &b), SHMAP_OK);
	assert_int_equal(b.live.id, a.live.id);
	shmap__seg_close(&a);
	assert_true(exists(ad));
	shmap__seg_close(&b);
	assert_false(exists(ad));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_killed_holder_dead),
		cmocka_unit_test(test_fork_child_does_not_keep_parent),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_root_remakes_for_owner),
		cmocka_unit_test(test_squatted),
		cmocka_unit_test(test_cleanup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
