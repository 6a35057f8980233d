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
 * on stdout (tools/lib/json.c; strings escaped per RFC 8259, bytes that
 * are not valid UTF-8 as \u00XX). Diagnostics go to stderr.
 *
 * Files: shmapctl.c (options, dispatch), common.c (targets, handles, errors,
 * the header section), one cmd_*.c per command, shmapctl.h between them.
 */
#include <getopt.h>

#include "shmapctl.h"

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

enum {
	OPT_JSON = 256,
	OPT_REPAIR,
	OPT_FILE,
	OPT_SHM,
	OPT_BYTES,
	OPT_MODE,
	OPT_MAX_PROCS,
	OPT_ROLE,
	OPT_TIMEOUT,
};

static const struct option long_opts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "repair", no_argument, NULL, OPT_REPAIR },
	{ "force", no_argument, NULL, 'f' },
	{ "file", no_argument, NULL, OPT_FILE },
	{ "shm", no_argument, NULL, OPT_SHM },
	{ "limit", required_argument, NULL, 'n' },
	{ "bytes", required_argument, NULL, OPT_BYTES },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "max-procs", required_argument, NULL, OPT_MAX_PROCS },
	{ "role", required_argument, NULL, OPT_ROLE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* The long name of an option (for messages; -n is --limit). */
static const char *opt_name(int c)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* One option's value into `opt`; 0, or -1 when the value is bad. */
static int set_value(int c, const char *val)
{
	switch (c) {
	case 'n': return parse_u64(val, &opt.limit);
	case OPT_BYTES: return parse_u64(val, &opt.bytes);
	case OPT_MAX_PROCS: return parse_u32(val, &opt.max_procs);
	case OPT_TIMEOUT: return parse_u32(val, &opt.timeout_ms);
	case OPT_MODE: {
		char *end;
		errno = 0;
		unsigned long m = strtoul(val, &end, 8);
		if (errno || *end || end == val || m > 0777)
			return -1;
		opt.mode = (uint32_t)m;
		return 0;
	}
	case OPT_ROLE:
		if (!strcmp(val, "consumer") || !strcmp(val, "subscriber"))
			opt.ring_role = 2; /* SHMAP_RING_CONSUMER (asserted in shmapctl.h) */
		else if (!strcmp(val, "producer"))
			opt.ring_role = 1; /* SHMAP_RING_PRODUCER */
		else
			return -1;
		return 0;
	default: return -1;
	}
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "list", cmd_list },	{ "ls", cmd_list },   { "info", cmd_info },
	{ "dump", cmd_dump },	{ "check", cmd_check }, { "rm", cmd_rm },
	{ "create", cmd_create },
};

int main(int argc, char **argv)
{
	/* Options may come anywhere on the line (GNU getopt permutes); "--"
	 * ends them. Errors are reported here, not by getopt. */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":fn:hV", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: opt.json = 1; break;
		case OPT_REPAIR: opt.repair = 1; break;
		case 'f': opt.force = 1; break;
		case OPT_FILE: opt.file = 1; break;
		case OPT_SHM: opt.shm = 1; break;
		case 'h': usage(stdout); return EX_OK;
		case 'V':
			printf("shmapctl %s (library %s, segment layout %u)\n", SHMAP_VERSION_STRING,
			       shmap_version_string(), shmap_layout_version());
			return EX_OK;
		case ':':
			errmsg(NULL, "option --%s needs a value", opt_name(optopt));
			return EX_USAGE;
		case '?':
			errmsg(NULL, "unknown option '%s' (see --help)", argv[optind - 1]);
			return EX_USAGE;
		default:
			if (set_value(c, optarg)) {
				errmsg(NULL, "bad value '%s' for --%s", optarg, opt_name(c));
				return EX_USAGE;
			}
		}
	}
	if (opt.file && opt.shm) {
		errmsg(NULL, "--file and --shm exclude each other");
		return EX_USAGE;
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[optind];
	int n = argc - optind - 1;
	char **args = argv + optind + 1;
	int ex = -1;
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		ex = EX_OK;
	}
	for (size_t i = 0; ex < 0 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			ex = commands[i].fn(n, args);
	if (ex < 0) {
		errmsg(NULL, "unknown command '%s' (see --help)", cmd);
		ex = EX_USAGE;
	}
	if (fflush(stdout) != 0 && ex == EX_OK)
		ex = EX_PROBLEM;
	return ex;
}
