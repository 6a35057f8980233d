/* SPDX-License-Identifier: MIT */
/*
 * test_segment_mp.c - multi-process tests of the storage layer (white-box).
 *
 * scenarios: 2 (16-process create/open race), the sealed
 * memfd part of 6, 7 (tmpfs exhaustion), 9 (squatting and symlink attacks,
 * run as unprivileged uids), 12 (fork after open), and the zombie / pid-reuse
 * part of 19 (liveness comes from the lock, not from the pid).
 * Every child reports through exit codes or the ack pipe; the parent
 * verifies every value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <shmap/shmap.h>

#include "torture.h"
#include "segment_kind.h"

#define ATTACKER_UID 65534
#define VICTIM_UID 65533

static struct shmap_opts opts_default(void)
{
	struct shmap_opts o;
	shmap__opts_defaults(&o);
	return o;
}

/* A page of memory shared with forked children, for results. */
static void *shared_page(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 0, len);
	return p;
}

/* ------------------------------------------------------------------ */
/* scenario 2: 16 processes race open-or-create                         */

#define RACERS 16

struct race_res {
	int32_t rc;
	uint32_t created;
	uint64_t generation;
	uint64_t seed;
	uint64_t lat_ns;
	uint32_t verified;
	uint32_t done;
};

struct race_ctx {
	const char *name;
	struct tt_barrier bar;
	struct race_res *res;
	int idx;
	uint32_t backend;
};

static int race_child(void *a)
{
	struct race_ctx *c = a;
	tt_barrier_wait(&c->bar);
	struct shmap__params want = tk_params(4096);
	struct shmap__seg s;
	struct shmap_opts o = opts_default();
	o.backend = c->backend;
	uint64_t t0 = shmap__now_ns();
	int rc = shmap__seg_open(c->name, SHMAP_OPEN_OR_CREATE, &want, &tk_ops, &o, &s);
	struct race_res *r = &c->res[c->idx];
	r->lat_ns = shmap__now_ns() - t0;
	r->rc = rc;
	if (rc >= 0) {
		r->created = s.created;
		r->generation = s.generation;
		r->seed = s.p.hash_seed;
		r->verified = tk_verify(&s) == 0;
		shmap__seg_close(&s);
	}
	r->done = 1;
	return 0;
}

static void test_race16(void **state)
{
	(void)state;
	const unsigned rounds = tt_iters(500, 5000);
	struct race_res *res = shared_page(sizeof(struct race_res) * RACERS);
	volatile uint64_t *builds = shared_page(4096);
	tk_builds = builds;
	struct tt_lat lat = { 0 };
	unsigned one_builder = 0, signals = 0;
	double t0 = th_now();
	char dir[] = "/tmp/shmap-t-raceXXXXXX";
	assert_non_null(mkdtemp(dir));
	unsigned file_rounds = 0;
	for (unsigned r = 0; r < rounds; r++) {
		char name[128];
		/* every fifth round races on the file backend */
		const uint32_t backend = r % 5 == 4 ? SHMAP_BACKEND_FILE : SHMAP_BACKEND_SHM;
		if (backend == SHMAP_BACKEND_FILE) {
			snprintf(name, sizeof name, "%s/seg-%u", dir, r);
			file_rounds++;
		} else {
			th_name(name, sizeof name, "race");
		}
		memset(res, 0, sizeof(struct race_res) * RACERS);
		*builds = 0;
		/* every third round builds slowly, so most racers really wait */
		tk_init_delay_us = r % 3 == 2 ? 2000 : 0;
		struct race_ctx ctx[RACERS];
		struct tt_barrier bar;
		assert_int_equal(tt_barrier_init(&bar), 0);
		pid_t pids[RACERS];
		for (int i = 0; i < RACERS; i++) {
			ctx[i] = (struct race_ctx){ name, bar, res, i, backend };
			pids[i] = th_fork(race_child, &ctx[i], 20);
			assert_true(pids[i] > 0);
		}
		tt_barrier_release(&bar);
		for (int i = 0; i < RACERS; i++) {
			int st = th_wait(pids[i], 20);
			if (!th_ok(st)) {
				char b[64];
				signals++;
				fail_msg("round %u racer %d: %s", r, i, tt_status_str(st, b, sizeof b));
			}
		}
		unsigned created = 0;
		for (int i = 0; i < RACERS; i++) {
			if (!res[i].done || res[i].rc != SHMAP_OK)
				fail_msg("round %u racer %d: rc %s", r, i, shmap_errname(res[i].rc));
			created += res[i].created;
			assert_true(res[i].verified);
			assert_int_equal(res[i].generation, 1);
			assert_int_equal(res[i].seed, res[0].seed);
			tt_lat_add(&lat, (double)res[i].lat_ns);
		}
		if (created != 1 || *builds != 1)
			fail_msg("round %u: %u builders, %llu inits", r, created, (unsigned long long)*builds);
		one_builder++;
		struct shmap_opts uo = opts_default();
		uo.backend = backend;
		assert_int_equal(shmap_unlink(name, &uo), SHMAP_OK);
	}
	rmdir(dir);
	tk_builds = NULL;
	tk_init_delay_us = 0;
	print_message("# scenario 2: builders-per-round = 1 in %u/%u rounds (%u on the file backend), "
		      "%u signals, %.1f s\n", one_builder, rounds, file_rounds, signals, th_now() - t0);
	tt_lat_report(&lat, "scenario 2 open latency", "ms", 1e-6);
	tt_lat_free(&lat);
	munmap(res, sizeof(struct race_res) * RACERS);
	munmap((void *)builds, 4096);
}

/* ------------------------------------------------------------------ */
/* scenario 9: squatting and symlink attacks (unprivileged uids)        */

struct squat_ctx {
	char victim_file[128];       /* owned by the victim */
	char names[6][96];           /* planted names (shm names, "/...") */
};

static void shm_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm%s", name);
}

/* The victim plants nothing but owns a file the symlink points at. */
static int victim_prepare(void *a)
{
	struct squat_ctx *c = a;
	if (tt_become(VICTIM_UID, VICTIM_UID) != 0)
		return 90;
	int fd = open(c->victim_file, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return 91;
	if (write(fd, "victim data", 11) != 11)
		return 92;
	close(fd);
	return 0;
}

static int attacker_plant(void *a)
{
	struct squat_ctx *c = a;
	if (tt_become(ATTACKER_UID, ATTACKER_UID) != 0)
		return 90;
	char p[160], p2[170];
	/* (a) symlink to the victim's file */
	shm_path(c->names[0], p, sizeof p);
	if (symlink(c->victim_file, p) != 0)
		return 91;
	/* (b) attacker-owned regular file, mode 0666 */
	shm_path(c->names[1], p, sizeof p);
	int fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0666);
	if (fd < 0 || fchmod(fd, 0666) != 0 || write(fd, "attacker", 8) != 8)
		return 92;
	close(fd);
	/* (c) attacker-owned file with two hard links */
	shm_path(c->names[2], p, sizeof p);
	fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (fd < 0 || write(fd, "linked", 6) != 6)
		return 93;
	close(fd);
	snprintf(p2, sizeof p2, "%s.link", p);
	if (link(p, p2) != 0)
		return 94;
	/* (d) FIFO */
	shm_path(c->names[3], p, sizeof p);
	if (mkfifo(p, 0666) != 0)
		return 95;
	/* (e) directory */
	shm_path(c->names[4], p, sizeof p);
	if (mkdir(p, 0777) != 0)
		return 96;
	return 0;
}

static int victim_attempt(void *a)
{
	struct squat_ctx *c = a;
	if (tt_become(VICTIM_UID, VICTIM_UID) != 0)
		return 90;
	struct shmap__params want = tk_params(16);
	struct shmap_opts o = opts_default();
	o.timeout_ms = 100;
	/* Case 5, a second hard link, exists only where shm names are files
	 * with a link count (SHMAP_PLAT_SHM_FILES): elsewhere st_nlink means
	 * something else (FreeBSD: mappings) and is not checked. */
	const int ncases = SHMAP_PLAT_SHM_FILES ? 6 : 5;
	for (int i = 0; i < ncases; i++) {
		struct shmap__seg s;
		int rc = shmap__seg_open(c->names[i], SHMAP_CREATE, &want, &tk_ops, &o, &s);
		if (rc != SHMAP_E_EXIST)
			return 10 + i;
		rc = shmap__seg_open(c->names[i], SHMAP_OPEN, &want, &tk_ops, &o, &s);
		if (rc != SHMAP_E_ACCESS)
			return 20 + i;
		rc = shmap__seg_open(c->names[i], SHMAP_OPEN_OR_CREATE, &want, &tk_ops, &o, &s);
		if (rc != SHMAP_E_ACCESS)
			return 30 + i;
		/* accepting any owner does not accept unsafe objects either
		 * (case 5 is the victim's own file with two links: owner is fine) */
		o.owner = -1;
		rc = shmap__seg_open(c->names[i], SHMAP_OPEN, &want, &tk_ops, &o, &s);
		o.owner = -2;
		if (rc != SHMAP_E_ACCESS)
			return 40 + i;
	}
	return 0;
}

struct planted {
	uint64_t hash;
	struct stat st;
};

static void snapshot(const char *path, struct planted *p)
{
	memset(p, 0, sizeof *p);
	assert_int_equal(lstat(path, &p->st), 0);
	p->hash = S_ISREG(p->st.st_mode) ? tt_hash_path(path) : 0;
}

static void same(const struct planted *a, const struct planted *b)
{
	assert_int_equal(a->hash, b->hash);
	assert_int_equal(a->st.st_mode, b->st.st_mode);
	assert_int_equal(a->st.st_uid, b->st.st_uid);
	assert_int_equal(a->st.st_size, b->st.st_size);
	assert_int_equal(a->st.st_nlink, b->st.st_nlink);
	assert_int_equal(a->st.st_mtim.tv_sec, b->st.st_mtim.tv_sec);
	assert_int_equal(a->st.st_mtim.tv_nsec, b->st.st_mtim.tv_nsec);
}

static int run_as(int (*fn)(void *), void *arg)
{
	pid_t pid = th_fork(fn, arg, 20);
	int st = th_wait(pid, 20);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 200;
}

static void test_squatting(void **state)
{
	(void)state;
	if (geteuid() != 0 && getuid() != 0) {
		/* Without root we cannot play two uids; the tests need them. */
		skip();
	}
	struct squat_ctx c;
	char tag[32];
	snprintf(c.victim_file, sizeof c.victim_file, "/dev/shm/shmap-t-vfile-%d-0", (int)getpid());
	for (int i = 0; i < 6; i++) {
		snprintf(tag, sizeof tag, "squat%d", i);
		th_name(c.names[i], sizeof c.names[i], tag);
	}
	assert_int_equal(run_as(victim_prepare, &c), 0);
	assert_int_equal(run_as(attacker_plant, &c), 0);
	/* (c2) the victim's own file with a second link (made here as root) */
	char p[160], p2[170];
	shm_path(c.names[5], p, sizeof p);
	int fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, VICTIM_UID, VICTIM_UID), 0);
	close(fd);
	snprintf(p2, sizeof p2, "%s.link", p);
	assert_int_equal(link(p, p2), 0);

	struct planted before[7], after[7];
	for (int i = 0; i < 6; i++) {
		shm_path(c.names[i], p, sizeof p);
		snapshot(p, &before[i]);
	}
	snapshot(c.victim_file, &before[6]);
	int rc = run_as(victim_attempt, &c);
	if (rc != 0)
		fail_msg("victim attempt failed with code %d (tens: 1 create, 2 open, 3 ooc, 4 any-owner; units: case)", rc);
	for (int i = 0; i < 6; i++) {
		shm_path(c.names[i], p, sizeof p);
		snapshot(p, &after[i]);
		same(&before[i], &after[i]);
	}
	snapshot(c.victim_file, &after[6]);
	same(&before[6], &after[6]);
	print_message("# scenario 9: 6/6 planted objects refused (EXIST on create, ACCESS on open), 0 bytes written\n");

	/* root, too, refuses objects it does not own or that are unsafe */
	struct shmap__params want = tk_params(16);
	struct shmap__seg s;
	for (int i = 0; i < 6; i++)
		assert_int_equal(shmap__seg_open(c.names[i], SHMAP_OPEN, &want, &tk_ops, NULL, &s), SHMAP_E_ACCESS);

	for (int i = 0; i < 6; i++) {
		shm_path(c.names[i], p, sizeof p);
		if (i == 4)
			rmdir(p);
		else
			unlink(p);
		if (i == 2 || i == 5) {
			snprintf(p2, sizeof p2, "%s.link", p);
			unlink(p2);
		}
	}
	unlink(c.victim_file);
}

/* An unprivileged user cannot open root's 0600 segment; owners are checked. */
struct perm_ctx {
	char name[96];
	char own[96];
};

static int unpriv_open_root(void *a)
{
	struct perm_ctx *c = a;
	if (tt_become(ATTACKER_UID, ATTACKER_UID) != 0)
		return 90;
	struct shmap__params want = tk_params(0);
	struct shmap__seg s;
	struct shmap_opts o = opts_default();
	if (shmap__seg_open(c->name, SHMAP_OPEN, &want, &tk_ops, &o, &s) != SHMAP_E_ACCESS)
		return 1;
	o.owner = -1;
	o.mode = 0666;
	if (shmap__seg_open(c->name, SHMAP_OPEN, &want, &tk_ops, &o, &s) != SHMAP_E_ACCESS)
		return 2;
	want.capacity = 16;
	if (shmap__seg_open(c->name, SHMAP_OPEN_OR_CREATE, &want, &tk_ops, &o, &s) != SHMAP_E_ACCESS)
		return 3;
	/* its own segment works, exactly 0600 */
	o = opts_default();
	if (shmap__seg_open(c->own, SHMAP_CREATE, &want, &tk_ops, &o, &s) != SHMAP_OK)
		return 4;
	shmap__seg_close(&s);
	return 0;
}

static int other_unpriv_open(void *a)
{
	struct perm_ctx *c = a;
	if (tt_become(VICTIM_UID, VICTIM_UID) != 0)
		return 90;
	struct shmap__params want = tk_params(0);
	struct shmap__seg s;
	struct shmap_opts o = opts_default();
	o.owner = -1;
	return shmap__seg_open(c->own, SHMAP_OPEN, &want, &tk_ops, &o, &s) == SHMAP_E_ACCESS ? 0 : 1;
}

static void test_permissions(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct perm_ctx c;
	th_name(c.name, sizeof c.name, "perm");
	th_name(c.own, sizeof c.own, "permown");
	struct shmap__params want = tk_params(16);
	struct shmap__seg s, t;
	assert_int_equal(shmap__seg_open(c.name, SHMAP_CREATE, &want, &tk_ops, NULL, &s), SHMAP_OK);
	assert_int_equal(run_as(unpriv_open_root, &c), 0);
	assert_int_equal(run_as(other_unpriv_open, &c), 0);
	char p[160];
	shm_path(c.own, p, sizeof p);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, ATTACKER_UID);
	/* macOS shm keeps the creation bit (fchmod refused: segment.c) */
	const char *shim = th_shim();
	assert_int_equal(st.st_mode & 07777, 0600 | (shim && strcmp(shim, "macos") == 0 ? S_ISVTX : 0));
	/* root with the default owner policy refuses a foreign segment ... */
	assert_int_equal(shmap__seg_open(c.own, SHMAP_OPEN, &want, &tk_ops, NULL, &t), SHMAP_E_ACCESS);
	/* ... and accepts it when told whom to expect */
	struct shmap_opts o = opts_default();
	o.owner = ATTACKER_UID;
	assert_int_equal(shmap__seg_open(c.own, SHMAP_OPEN, &want, &tk_ops, &o, &t), SHMAP_OK);
	shmap__seg_close(&t);
	shmap__seg_close(&s);
	assert_int_equal(shmap_unlink(c.name, NULL), SHMAP_OK);
	assert_int_equal(shmap_unlink(c.own, NULL), SHMAP_OK);
}

/* ------------------------------------------------------------------ */
/* scenario 6 (sealed part): memfd passed to a child                    */

struct memfd_ctx {
	int fd;
	uint64_t size;
};

static int memfd_child(void *a)
{
	struct memfd_ctx *c = a;
#if SHMAP_PLAT_MEMFD
	/* the peer cannot shrink or grow the sealed memfd */
	errno = 0;
	if (ftruncate(c->fd, 0) == 0 || errno != EPERM)
		return 1;
	if (ftruncate(c->fd, (off_t)c->size / 2) == 0 || errno != EPERM)
		return 2;
	if (ftruncate(c->fd, (off_t)c->size * 2) == 0 || errno != EPERM)
		return 3;
	if (fcntl(c->fd, F_ADD_SEALS, 0) != 0) /* still sealable ... */
		return 4;
#endif /* the portable anonymous object has no seals (platform-internal.h) */
	struct shmap_opts o = opts_default();
	o.backend = SHMAP_BACKEND_MEMFD;
	o.fd = c->fd;
	struct shmap__params want = tk_params(0);
	struct shmap__seg s;
	if (shmap__seg_open(NULL, SHMAP_OPEN, &want, &tk_ops, &o, &s) != SHMAP_OK)
		return 5;
	if (s.total_size != c->size)
		return 6;
	for (uint64_t i = 2; i < s.p.capacity; i++)
		if (((uint64_t *)s.data)[i] != tk_pattern(i, s.generation))
			return 6;
	if (((uint64_t *)s.data)[0] != 0xfeed)
		return 7;
	((uint64_t *)s.data)[1] = 0xbeef;
	if (tt_ack(s.owner) != 0)
		return 8;
	shmap__seg_close(&s);
	return 0;
}

static void test_memfd_passing(void **state)
{
	(void)state;
	struct shmap_opts o = opts_default();
	o.backend = SHMAP_BACKEND_MEMFD;
	struct shmap__params want = tk_params(1000);
	struct shmap__seg a;
	assert_int_equal(shmap__seg_open("shmap-test", SHMAP_CREATE, &want, &tk_ops, &o, &a), SHMAP_OK);
	uint64_t saved = ((uint64_t *)a.data)[0];
	((uint64_t *)a.data)[0] = 0xfeed;
	struct memfd_ctx c = { a.share_fd, a.total_size };
	/* fd passing by inheritance: clear CLOEXEC is not needed for fork */
	struct tt_proc p = { -1, -1, 0 };
	assert_int_equal(tt_spawn(&p, memfd_child, &c, 20), 0);
	uint64_t owner = 0;
	int ar = tt_read_ack(&p, &owner, 10000);
	int st = tt_wait(&p, 20);
	char b[64];
	if (!th_ok(st) || ar != 0)
		fail_msg("memfd child: %s", tt_status_str(st, b, sizeof b));
	assert_int_equal(((uint64_t *)a.data)[1], 0xbeef);
	assert_false(shmap__seg_owner_alive(&a, (uint32_t)owner)); /* it closed */
	((uint64_t *)a.data)[0] = saved;
	((uint64_t *)a.data)[1] = tk_pattern(1, a.generation);
	assert_int_equal(tk_verify(&a), 0);
	shmap__seg_close(&a);
}

/* ------------------------------------------------------------------ */
/* liveness: SIGKILLed, zombie, pid reuse (scenario 19 part)            */

struct live_ctx {
	const char *name;
};

static int live_child(void *a)
{
	struct live_ctx *c = a;
	struct shmap__params want = tk_params(0);
	struct shmap__seg s;
	if (shmap__seg_open(c->name, SHMAP_OPEN, &want, &tk_ops, NULL, &s) != SHMAP_OK)
		return 1;
	tt_ack(((uint64_t)s.slot << 32) | s.owner);
	for (;;)
		pause();
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static void test_liveness(void **state)
{
	(void)state;
	const unsigned runs = tt_iters(100, 2000);
	char name[96];
	th_name(name, sizeof name, "live");
	struct shmap__params want = tk_params(16);
	struct shmap__seg me;
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &me), SHMAP_OK);
	struct live_ctx c = { name };
	struct tt_lat lat = { 0 };
	unsigned zombies_dead = 0, false_alive = 0, false_dead = 0;
	for (unsigned r = 0; r < runs; r++) {
		struct tt_proc p = { -1, -1, 0 };
		assert_int_equal(tt_spawn(&p, live_child, &c, 30), 0);
		uint64_t v;
		assert_int_equal(tt_read_ack(&p, &v, 10000), 0);
		uint32_t owner = (uint32_t)v, slot = (uint32_t)(v >> 32);
		assert_int_equal(shmap__owner_slot(me.p.nparts, owner), slot);
		/* alive: the probe says so every time */
		unsigned probes = r == 0 ? 100000 : 100;
		for (unsigned k = 0; k < probes; k++)
			false_dead += !shmap__seg_owner_alive(&me, owner);
		assert_true(shmap__seg_slot_alive(&me, slot));
		uint64_t t0 = shmap__now_ns();
		kill(p.pid, SIGKILL);
		uint64_t t1 = t0;
		while (shmap__seg_owner_alive(&me, owner)) {
			t1 = shmap__now_ns();
			if (t1 - t0 > 2000000000ull)
				fail_msg("run %u: a SIGKILLed owner still looks alive after 2 s", r);
		}
		t1 = shmap__now_ns();
		tt_lat_add(&lat, (double)(t1 - t0));
		/* not reaped yet: a zombie (kill(pid, 0) still answers "alive") */
		for (int k = 0; k < 2000 && proc_state(p.pid) != 'Z'; k++)
			usleep(100);
		if (proc_state(p.pid) == 'Z') {
			assert_int_equal(kill(p.pid, 0), 0);
			if (!shmap__seg_owner_alive(&me, owner) && !shmap__seg_slot_alive(&me, slot))
				zombies_dead++;
		}
		/* the dead slot still reads ATTACHED; only the lock tells */
		assert_int_equal((uint32_t)me.parts[slot].word, SHMAP__PART_ATTACHED);
		tt_wait(&p, 10);
		/* pid reuse: a live unrelated pid in the slot changes nothing */
		me.parts[slot].pid = (uint32_t)getpid();
		me.parts[slot].start_time = 0;
		unsigned dprobes = r == 0 ? 100000 : 100;
		for (unsigned k = 0; k < dprobes; k++)
			false_alive += shmap__seg_owner_alive(&me, owner);
	}
	print_message("# liveness: %u/%u zombies reported dead, false-alive %u, false-dead %u (%u probes each way)\n",
		      zombies_dead, runs, false_alive, false_dead, 100000 + (runs - 1) * 100);
	tt_lat_report(&lat, "SIGKILL -> owner_alive()==false", "ms", 1e-6);
	assert_int_equal(false_alive, 0);
	assert_int_equal(false_dead, 0);
	assert_true(zombies_dead >= runs * 9 / 10); /* the rest were reaped by the time we looked */
	double p99 = tt_lat_pct(&lat, 0.99);
	/* milliseconds, not seconds (a sanitized process takes long to tear down) */
	assert_true(p99 < (TT_SANITIZED ? 2000e6 : 250e6));
	tt_lat_free(&lat);
	/* cost of one probe of a live owner */
	struct tt_proc p = { -1, -1, 0 };
	assert_int_equal(tt_spawn(&p, live_child, &c, 30), 0);
	uint64_t v;
	assert_int_equal(tt_read_ack(&p, &v, 10000), 0);
	uint64_t t0 = shmap__now_ns();
	for (int k = 0; k < 100000; k++)
		assert_true(shmap__seg_owner_alive(&me, (uint32_t)v));
	print_message("# owner_alive() probe of a live peer: %.0f ns\n", (double)(shmap__now_ns() - t0) / 1e5);
	kill(p.pid, SIGKILL);
	tt_wait(&p, 10);
	shmap__seg_close(&me);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ------------------------------------------------------------------ */
/* scenario 12: fork after open                                          */

struct fork_ctx {
	const char *name;
	int reattach;
};

/* Grandchild: inherits P's handle. */
static int fork_grandchild(struct shmap__seg *s, int reattach)
{
	uint32_t parent_owner = s->owner;
	alarm(30); /* watchdogs are not inherited across fork */
	if (shmap__seg_check(s) != SHMAP_E_FORKED)
		return 10;
	if (!reattach) {
		/* keep the inherited description (and with it P's lock); the test kills us */
		tt_ack(((uint64_t)parent_owner << 32) | (uint32_t)getpid());
		for (;;)
			pause();
	}
	if (shmap__seg_check(s) != SHMAP_E_FORKED) /* until reattached */
		return 11;
	if (shmap__seg_reattach(s) != SHMAP_OK)
		return 12;
	if (shmap__seg_check(s) != SHMAP_OK)
		return 13;
	if (s->owner == parent_owner || s->owner == 0)
		return 14;
	if (shmap__seg_reattach(s) != SHMAP_OK) /* idempotent */
		return 15;
	if (!shmap__seg_owner_alive(s, parent_owner))
		return 16;
	if (tk_verify(s) != 0)
		return 17;
	tt_ack(((uint64_t)parent_owner << 32) | s->owner);
	/* now the test kills P: its slot must be seen dead */
	uint64_t t0 = shmap__now_ns();
	while (shmap__seg_owner_alive(s, parent_owner)) {
		if (shmap__now_ns() - t0 > 5000000000ull) {
			tt_ack(UINT64_MAX);
			return 18;
		}
		usleep(50);
	}
	tt_ack(shmap__now_ns());
	shmap__seg_close(s);
	return 0;
}

static int fork_parent(void *a)
{
	struct fork_ctx *c = a;
	struct shmap__params want = tk_params(0);
	struct shmap__seg s;
	if (shmap__seg_open(c->name, SHMAP_OPEN, &want, &tk_ops, NULL, &s) != SHMAP_OK)
		return 1;
	if (shmap__seg_check(&s) != SHMAP_OK)
		return 2;
	fflush(NULL);
	pid_t g = fork();
	if (g < 0)
		return 3;
	if (g == 0)
		_exit(fork_grandchild(&s, c->reattach));
	/* P: still fine in its own process */
	if (shmap__seg_check(&s) != SHMAP_OK)
		return 4;
	for (;;)
		pause();
}

static void test_fork_after_open(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "fork");
	struct shmap__params want = tk_params(64);
	struct shmap__seg me;
	assert_int_equal(shmap__seg_open(name, SHMAP_CREATE, &want, &tk_ops, NULL, &me), SHMAP_OK);
	const unsigned runs = tt_iters(20, 500);
	struct tt_lat lat = { 0 };
	for (unsigned r = 0; r < runs; r++) {
		struct fork_ctx c = { name, 1 };
		struct tt_proc p = { -1, -1, 0 };
		assert_int_equal(tt_spawn(&p, fork_parent, &c, 30), 0);
		uint64_t v;
		int ar = tt_read_ack(&p, &v, 10000);
		if (ar != 0) {
			int st = tt_wait(&p, 5);
			char b[64];
			fail_msg("run %u: no ack (%d), P %s", r, ar, tt_status_str(st, b, sizeof b));
		}
		uint32_t powner = (uint32_t)(v >> 32), cowner = (uint32_t)v;
		assert_true(shmap__seg_owner_alive(&me, powner));
		assert_true(shmap__seg_owner_alive(&me, cowner));
		uint64_t t0 = shmap__now_ns();
		kill(p.pid, SIGKILL);
		assert_int_equal(tt_read_ack(&p, &v, 10000), 0);
		if (v == UINT64_MAX)
			fail_msg("run %u: the reattached child never saw the parent die", r);
		tt_lat_add(&lat, (double)(v - t0));
		assert_false(shmap__seg_owner_alive(&me, powner));
		uint64_t eof;
		assert_int_equal(tt_read_ack(&p, &eof, 10000), -1); /* both gone */
		assert_false(shmap__seg_owner_alive(&me, cowner));
		tt_wait(&p, 10);
	}
	tt_lat_report(&lat, "scenario 12: parent SIGKILL -> seen dead by reattached child", "ms", 1e-6);
	tt_lat_free(&lat);

	/*
	 * A child that never reattaches (a pre-forked worker that does not use
	 * the inherited handle) must not keep the parent's liveness lock: the
	 * library's fork handler gives the child its own file description and
	 * mapping, so the parent's death is visible at once.
	 */
	struct fork_ctx c = { name, 0 };
	struct tt_proc p = { -1, -1, 0 };
	assert_int_equal(tt_spawn(&p, fork_parent, &c, 30), 0);
	uint64_t v;
	assert_int_equal(tt_read_ack(&p, &v, 10000), 0);
	uint32_t powner = (uint32_t)(v >> 32);
	pid_t grandchild = (pid_t)(uint32_t)v;
	kill(p.pid, SIGKILL);
	tt_wait(&p, 10);
	usleep(20000);
	/* P is dead; its non-reattached child holds nothing of P's. */
	bool held = false;
	for (int i = 0; i < 500 && (held = shmap__seg_owner_alive(&me, powner)); i++)
		usleep(1000);
	kill(grandchild, SIGKILL); /* reparented: init reaps it */
	uint64_t t0 = shmap__now_ns();
	while (shmap__seg_owner_alive(&me, powner) && shmap__now_ns() - t0 < 5000000000ull)
		usleep(100);
	assert_false(held);
	assert_false(shmap__seg_owner_alive(&me, powner));
	print_message("# scenario 12: %u/%u parent deaths detected after reattach; also detected "
		      "while an idle child still holds the inherited handle\n", runs, runs);
	shmap__seg_close(&me);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* ------------------------------------------------------------------ */
/* scenario 7: tmpfs exhaustion                                          */

static int enter_private_tmpfs(const char *size)
{
	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) != 0)
			return -1;
	} else {
		uid_t uid = getuid();
		gid_t gid = getgid();
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
			return -1;
		char buf[64];
		int fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			(void)!write(fd, "deny", 4);
			close(fd);
		}
		snprintf(buf, sizeof buf, "0 %d 1", (int)uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			return -1;
		close(fd);
		snprintf(buf, sizeof buf, "0 %d 1", (int)gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			return -1;
		close(fd);
	}
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return -1;
	char opt[64];
	snprintf(opt, sizeof opt, "size=%s,mode=1777", size);
	if (mount("shmap-test", "/dev/shm", "tmpfs", 0, opt) != 0)
		return -1;
	return 0;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int count_entries(void)
{
	return tt_count_shm("");
}

/* exit codes: 77 = cannot mount a private tmpfs (skip); 0 ok; else failure step */
static int nospc_child(void *a)
{
	(void)a;
	if (enter_private_tmpfs("1m") != 0)
		return 77;
	struct shmap__params big = tk_params(512 * 1024); /* 4 MiB of data */
	struct shmap__params small = tk_params(1024);     /* 8 KiB */
	struct shmap__seg s, t;
	if (count_entries() != 0)
		return 1;
	errno = 0;
	int rc = shmap__seg_open("/shmap-t-nospc-big", SHMAP_CREATE, &big, &tk_ops, NULL, &s);
	if (rc != SHMAP_E_NOSPC)
		return 2;
	if (errno != ENOSPC)
		return 3;
	if (count_entries() != 0)
		return 4; /* the name was removed */
	rc = shmap__seg_open("/shmap-t-nospc-big", SHMAP_OPEN_OR_CREATE, &big, &tk_ops, NULL, &s);
	if (rc != SHMAP_E_NOSPC || count_entries() != 0)
		return 5;
	/* fill it with small segments until NOSPC; every page of each is backed */
	struct shmap__seg segs[200];
	int n = 0;
	for (; n < 200; n++) {
		char nm[64];
		snprintf(nm, sizeof nm, "/shmap-t-nospc-%d", n);
		rc = shmap__seg_open(nm, SHMAP_CREATE, &small, &tk_ops, NULL, &segs[n]);
		if (rc == SHMAP_E_NOSPC)
			break;
		if (rc != SHMAP_OK)
			return 6;
	}
	if (n == 0 || n == 200 || count_entries() != n)
		return 7;
	for (int i = 0; i < n; i++) {
		volatile uint8_t *b = segs[i].base;
		for (uint64_t off = 0; off < segs[i].total_size; off += 4096)
			b[off] = b[off]; /* no SIGBUS: fallocated */
		if (tk_verify(&segs[i]) != 0)
			return 8;
	}
	/* an EINTR storm during creates: a 1 ms SIGALRM timer, no SA_RESTART */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	for (int k = 0; k < 200; k++) {
		rc = shmap__seg_open("/shmap-t-nospc-big", SHMAP_CREATE, &big, &tk_ops, NULL, &s);
		if (rc != SHMAP_E_NOSPC)
			return 9;
	}
	for (int i = 0; i < n; i++) {
		char nm[64];
		snprintf(nm, sizeof nm, "/shmap-t-nospc-%d", i);
		shmap__seg_close(&segs[i]);
		shmap_unlink(nm, NULL);
	}
	for (int k = 0; k < 100; k++) {
		rc = shmap__seg_open("/shmap-t-nospc-s", SHMAP_CREATE, &small, &tk_ops, NULL, &t);
		if (rc != SHMAP_OK)
			return 10;
		shmap__seg_close(&t);
		shmap_unlink("/shmap-t-nospc-s", NULL);
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	if (count_entries() != 0)
		return 11;
	return 0;
}

/* The 64 MiB Docker /dev/shm case: two 40 MiB segments, the second fails cleanly. */
static int docker_child(void *a)
{
	uint64_t *ns = a;
	if (enter_private_tmpfs("64m") != 0)
		return 77;
	struct shmap__params p40 = tk_params(40 * 1024 * 128); /* 40 MiB of data */
	struct shmap__seg s, t;
	uint64_t t0 = shmap__now_ns();
	if (shmap__seg_open("/shmap-t-dock-a", SHMAP_CREATE, &p40, &tk_ops, NULL, &s) != SHMAP_OK)
		return 1;
	*ns = shmap__now_ns() - t0;
	if (shmap__seg_open("/shmap-t-dock-b", SHMAP_CREATE, &p40, &tk_ops, NULL, &t) != SHMAP_E_NOSPC)
		return 2;
	if (count_entries() != 1)
		return 3;
	if (tk_verify(&s) != 0)
		return 4;
	shmap__seg_close(&s);
	shmap_unlink("/shmap-t-dock-a", NULL);
	/* a 64 MiB-class create on an empty tmpfs, timed */
	struct shmap__params p56 = tk_params(56 * 1024 * 128);
	t0 = shmap__now_ns();
	if (shmap__seg_open("/shmap-t-dock-c", SHMAP_CREATE, &p56, &tk_ops, NULL, &s) != SHMAP_OK)
		return 5;
	ns[1] = shmap__now_ns() - t0;
	shmap__seg_close(&s);
	return 0;
}

static void test_nospc(void **state)
{
	(void)state;
	pid_t pid = th_fork(nospc_child, NULL, 60);
	int st = th_wait(pid, 60);
	char b[64];
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		print_message("# scenario 7 SKIPPED: cannot mount a private tmpfs here "
			      "(needs root or unprivileged user namespaces)\n");
		skip();
	}
	if (!th_ok(st))
		fail_msg("nospc child: %s", tt_status_str(st, b, sizeof b));
	uint64_t *ns = shared_page(4096);
	pid = th_fork(docker_child, ns, 60);
	st = th_wait(pid, 60);
	if (!th_ok(st))
		fail_msg("docker child: %s", tt_status_str(st, b, sizeof b));
	print_message("# scenario 7: NOSPC at create, name removed, 0 signals; 40 MiB create %.1f ms, "
		      "56 MiB create %.1f ms\n", (double)ns[0] / 1e6, (double)ns[1] / 1e6);
	munmap(ns, 4096);
}

/* ------------------------------------------------------------------ */
/* bounded waits while a live builder works                             */

struct slow_ctx {
	const char *name;
};

static int slow_builder(void *a)
{
	struct slow_ctx *c = a;
	tk_init_delay_us = 400000; /* 400 ms in the middle of init */
	struct shmap__params want = tk_params(2048);
	struct shmap__seg s;
	if (shmap__seg_open(c->name, SHMAP_CREATE, &want, &tk_ops, NULL, &s) != SHMAP_OK)
		return 1;
	shmap__seg_close(&s);
	return 0;
}

static void test_bounded_wait(void **state)
{
	(void)state;
	char name[96];
	th_name(name, sizeof name, "slow");
	struct slow_ctx c = { name };
	struct tt_proc p = { -1, -1, 0 };
	assert_int_equal(tt_spawn(&p, slow_builder, &c, 20), 0);
	struct shmap_opts o = opts_default();
	struct shmap__params want = tk_params(0);
	struct shmap__seg s;
	/* wait until the builder holds its lock */
	o.timeout_ms = 0;
	int rc = SHMAP_E_NOENT;
	uint64_t t0 = shmap__now_ns();
	while ((rc = shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &s)) != SHMAP_E_TIMEOUT) {
		assert_int_equal(rc, rc == SHMAP_E_NOENT ? SHMAP_E_NOENT : SHMAP_E_NOTREADY);
		if (shmap__now_ns() - t0 > 300000000ull)
			fail_msg("builder never seen at work: %s", shmap_errname(rc));
		usleep(200);
	}
	/* timeout 0 and 50 ms return TIMEOUT on time, for open and open-or-create */
	for (int k = 0; k < 2; k++) {
		uint32_t of = k ? SHMAP_OPEN_OR_CREATE : SHMAP_OPEN;
		struct shmap__params w = tk_params(k ? 2048 : 0);
		o.timeout_ms = 0;
		t0 = shmap__now_ns();
		assert_int_equal(shmap__seg_open(name, of, &w, &tk_ops, &o, &s), SHMAP_E_TIMEOUT);
		double ms0 = (double)(shmap__now_ns() - t0) / 1e6;
		o.timeout_ms = 50;
		t0 = shmap__now_ns();
		assert_int_equal(shmap__seg_open(name, of, &w, &tk_ops, &o, &s), SHMAP_E_TIMEOUT);
		double ms50 = (double)(shmap__now_ns() - t0) / 1e6;
		print_message("# bounded wait (%s): timeout 0 -> %.2f ms, timeout 50 -> %.2f ms\n",
			      k ? "open-or-create" : "open", ms0, ms50);
		/* generous upper bounds: the box may be busy; a wait that ignored
		 * its deadline would take the builder's 400 ms */
		assert_true(ms0 < 100);
		assert_true(ms50 >= 50 && ms50 < 50 + 200);
	}
	/* the default deadline outlasts the build: success, same segment */
	o.timeout_ms = 2000;
	assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &want, &tk_ops, &o, &s), SHMAP_OK);
	assert_false(s.created);
	assert_int_equal(tk_verify(&s), 0);
	shmap__seg_close(&s);
	assert_true(th_ok(tt_wait(&p, 10)));
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* SHMAP_OPEN_WAIT: the name appears, and the segment is still being built
 * for 400 ms; the opener waits for both, within one deadline. */
static int late_slow_builder(void *a)
{
	usleep(200000);
	return slow_builder(a);
}

static void test_open_wait_building(void **state)
{
	(void)state;
	const uint32_t fl = SHMAP_OPEN | SHMAP_OPEN_WAIT;
	struct shmap__params want = tk_params(0);
	struct shmap__seg s;
	for (int k = 0; k < 2; k++) {
		char name[96];
		th_name(name, sizeof name, "owslow");
		struct slow_ctx c = { name };
		struct tt_proc p = { -1, -1, 0 };
		assert_int_equal(tt_spawn(&p, late_slow_builder, &c, 20), 0);
		struct shmap_opts o = opts_default();
		o.timeout_ms = k ? 400 : 5000;
		uint64_t t0 = shmap__now_ns();
		int rc = shmap__seg_open(name, fl, &want, &tk_ops, &o, &s);
		double ms = (double)(shmap__now_ns() - t0) / 1e6;
		print_message("# open-wait on a slow build (timeout %u ms): %s after %.1f ms\n", o.timeout_ms,
			      shmap_errname(rc), ms);
		if (k == 0) {
			/* appeared after 200 ms, then READY 400 ms into the build */
			assert_int_equal(rc, SHMAP_OK);
			assert_false(s.created);
			assert_int_equal(tk_verify(&s), 0);
			assert_true(ms >= 500);
			shmap__seg_close(&s);
		} else {
			/* the deadline falls inside the build: TIMEOUT, on time */
			assert_int_equal(rc, SHMAP_E_TIMEOUT);
			assert_true(ms >= 390 && ms < 400 + 300);
		}
		assert_true(th_ok(tt_wait(&p, 10)));
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
}

/* ------------------------------------------------------------------ */
/* a creator whose build fails while others wait                        */

struct fail_ctx {
	const char *name;
	struct race_res *res;
	int idx;
};

static int failing_creator(void *a)
{
	struct fail_ctx *c = a;
	tk_init_delay_us = 150000;
	tk_init_fail = 1;
	struct shmap__params want = tk_params(2048);
	struct shmap__seg s;
	int rc = shmap__seg_open(c->name, SHMAP_CREATE, &want, &tk_ops, NULL, &s);
	return rc == SHMAP_E_NOMEM ? 0 : 1;
}

static int waiting_opener(void *a)
{
	struct fail_ctx *c = a;
	struct shmap_opts o = opts_default();
	o.timeout_ms = 3000;
	struct shmap__params want = tk_params(2048);
	struct shmap__seg s;
	struct race_res *r = &c->res[c->idx];
	int rc = shmap__seg_open(c->name, SHMAP_OPEN_OR_CREATE, &want, &tk_ops, &o, &s);
	r->rc = rc;
	if (rc >= 0) {
		r->created = s.created;
		r->seed = s.p.hash_seed;
		r->verified = tk_verify(&s) == 0;
		shmap__seg_close(&s);
	}
	r->done = 1;
	return 0;
}

static void test_failed_build_waiters(void **state)
{
	(void)state;
	const unsigned runs = tt_iters(5, 50);
	struct race_res *res = shared_page(sizeof(struct race_res) * 4);
	unsigned missed = 0;
	for (unsigned run = 0; run < runs; run++) {
		char name[96];
		th_name(name, sizeof name, "fbuild");
		memset(res, 0, sizeof(struct race_res) * 4);
		struct fail_ctx cc = { name, res, 0 };
		struct tt_proc pc = { -1, -1, 0 }, po[4];
		assert_int_equal(tt_spawn(&pc, failing_creator, &cc, 20), 0);
		/* wait until the creator is building */
		struct shmap_opts o = opts_default();
		o.timeout_ms = 0;
		struct shmap__params any = tk_params(0);
		struct shmap__seg s;
		uint64_t t0 = shmap__now_ns();
		bool gone = false;
		while (shmap__seg_open(name, SHMAP_OPEN, &any, &tk_ops, &o, &s) != SHMAP_E_TIMEOUT) {
			/* A loaded machine may keep this process off a CPU through
			 * the creator's whole 150 ms build: the creator has given up
			 * already (it must still have failed as planned), and the
			 * run is made again, a bounded number of times. */
			siginfo_t si;
			memset(&si, 0, sizeof si);
			if (waitid(P_PID, (id_t)pc.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pc.pid) {
				gone = true;
				break;
			}
			assert_true(shmap__now_ns() - t0 < 2000000000ull);
			usleep(100);
		}
		if (gone) {
			assert_true(th_ok(tt_wait(&pc, 10)));
			assert_true(++missed < 10);
			run--; /* unsigned: wraps and comes back with the loop's ++ */
			continue;
		}
		struct fail_ctx oc[4];
		for (int i = 0; i < 4; i++) {
			oc[i] = (struct fail_ctx){ name, res, i };
			assert_int_equal(tt_spawn(&po[i], waiting_opener, &oc[i], 20), 0);
		}
		assert_true(th_ok(tt_wait(&pc, 10)));
		unsigned created = 0;
		for (int i = 0; i < 4; i++) {
			assert_true(th_ok(tt_wait(&po[i], 10)));
			/* Never SHMAP_RECOVERED: the failed creator removed its
			 * name before anyone could take its build over, even when
			 * its first builder trylock met a liveness probe (lock
			 * files: the probe takes the lock for an instant) and it
			 * built by taking over its own object. */
			if (res[i].rc != SHMAP_OK)
				fail_msg("run %u opener %d: %s", run, i, shmap_errname(res[i].rc));
			assert_true(res[i].verified);
			assert_int_equal(res[i].seed, res[0].seed);
			created += res[i].created;
		}
		assert_int_equal(created, 1);
		/* the segment they share is the one the name leads to */
		o.timeout_ms = 100;
		assert_int_equal(shmap__seg_open(name, SHMAP_OPEN, &any, &tk_ops, &o, &s), SHMAP_OK);
		assert_int_equal(s.p.hash_seed, res[0].seed);
		shmap__seg_close(&s);
		assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
	}
	munmap(res, sizeof(struct race_res) * 4);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		cmocka_set_test_filter(argv[1]); /* e.g. "test_race*" */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_race16, tt_teardown),
		cmocka_unit_test_teardown(test_squatting, tt_teardown),
		cmocka_unit_test_teardown(test_permissions, tt_teardown),
		cmocka_unit_test_teardown(test_memfd_passing, tt_teardown),
		cmocka_unit_test_teardown(test_liveness, tt_teardown),
		cmocka_unit_test_teardown(test_fork_after_open, tt_teardown),
		cmocka_unit_test_teardown(test_nospc, tt_teardown),
		cmocka_unit_test_teardown(test_bounded_wait, tt_teardown),
		cmocka_unit_test_teardown(test_open_wait_building, tt_teardown),
		cmocka_unit_test_teardown(test_failed_build_waiters, tt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
