/* SPDX-License-Identifier: MIT */
/*
 * shmapctl's shared parts: options, exit codes, targets (a name on the
 * command line), handles (any structure kind opened with its stored
 * parameters), error reporting, and the header section printed by list and
 * info. One file per command (cmd_*.c) builds on them; main() is in
 * shmapctl.c. See shmapctl.c for the design notes.
 */
#ifndef SHMAPCTL_H
#define SHMAPCTL_H

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

extern const char *prog;

#include "json.h"

/* ---- options (set by main, read by the commands) --------------------- */

struct shmapctl_opt {
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
};
extern struct shmapctl_opt opt;

/* ---- targets and handles --------------------------------------------- */

struct target {
	char name[PATH_MAX + 2];
	char shown[PATH_MAX + 2]; /* name for text output: control bytes as '?' */
	uint32_t backend;
	shmap_opts *opts;
};

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

/* ---- shared functions (common.c) ------------------------------------- */

void jk_err(const char *k, int rc);
void errmsg(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int exit_for(int rc);
const char *explain(int rc);
void report_error(const char *name, int rc);
int parse_u64(const char *s, uint64_t *out);
int parse_u32(const char *s, uint32_t *out);
void fmt_time(uint64_t ns, char *buf, size_t len);
void fmt_size(uint64_t v, char *buf, size_t len);
void fmt_name(const char *s, char *buf, size_t len);
int target_init(struct target *t, const char *arg);
void target_fini(struct target *t);
const char *backend_name(uint32_t b);
int is_ring(uint32_t kind);
int struct_open(const struct target *t, uint32_t kind, struct handle *h);
void struct_close(struct handle *h);
int struct_fill(struct handle *h, uint64_t *used, uint64_t *cap);
#ifdef SHMAPCTL_HAVE_RING
const char *ring_type_name(uint32_t type);
#endif
void fmt_params(const shmap_info *in, char *buf, size_t len);
void json_params(const shmap_info *in);
void count_parts(const shmap_info *in, uint32_t *alive, uint32_t *dead);
void json_header(const struct target *t, const shmap_info *in);
void json_participants(const shmap_info *in);
void text_header(const struct target *t, const shmap_info *in);
/* The header snapshot of the segment `arg` names (pread only). */
int open_one(const char *arg, struct target *t, shmap_info **in);
/* The prologue of a command on exactly one NAME: checks argc, opens the
 * header snapshot, and on failure reports it (a JSON document with --json)
 * and releases `t`. EX_OK, or the exit code to return. */
int open_single(const char *cmd, int argc, char **argv, struct target *t, shmap_info **in);
void json_target(const struct target *t);

/* ---- commands: argc/argv are the command's own arguments -------------- */

int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_create(int argc, char **argv);

#endif
