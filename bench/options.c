/* SPDX-License-Identifier: MIT */
/*
 * options.c - shmap-bench's command line: getopt_long (options may come
 * anywhere, as --opt VALUE or --opt=VALUE; "--" ends them), --help, and the
 * options that describe the user's own case (sizes the workloads honour).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bench-internal.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmap-bench [--quick] [--json] [--runs N] [--rt] [--list] [--keys N]\n"
		"                   [--key-size B] [--value-size B] [--elem-size B] [--capacity N]\n"
		"                   [WORKLOAD ...]\n"
		"  --quick    shrink every count about tenfold\n"
		"  --json     one JSON object per line on stdout (else one aligned table)\n"
		"  --runs N   repeat each workload N times; report median, min and max over the\n"
		"             runs at the most common floor-rtt probe level\n"
		"  --list     list the workloads and exit\n"
		"  --rt       run the pinned processes SCHED_FIFO (root or CAP_SYS_NICE) so\n"
		"             other load on a shared machine cannot preempt them\n"
		"Your own case (--list shows which workloads honour which; JSON params record them):\n"
		"  --keys N         number of keys in the table workloads (default 1000000)\n"
		"  --key-size B     key size in bytes, 8..1024 (table workloads; default 8)\n"
		"  --value-size B   value size in bytes, 8..65536 (table workloads; default 8)\n"
		"  --elem-size B    message size in bytes, a multiple of 8 (message workloads)\n"
		"  --capacity N     ring capacity (power of two; default 4096) or table capacity\n"
		"                   (default twice the keys)\n"
		"With no workload, runs them all. Progress goes to stderr.\n");
}

/* The options that describe the user's own case. */
static const struct {
	const char *name; /* without the leading "--" */
	unsigned bit;
	uint64_t min, max;
} g_user_opts[] = {
	{ "keys", BENCH_OPT_KEYS, 1, 1ull << 32 },
	{ "key-size", BENCH_OPT_KEY_SIZE, 8, 1024 },
	{ "value-size", BENCH_OPT_VALUE_SIZE, 8, 65536 },
	{ "elem-size", BENCH_OPT_ELEM_SIZE, 8, 1u << 20 },
	{ "capacity", BENCH_OPT_CAPACITY, 2, 1ull << 32 },
};
#define N_USER_OPTS (sizeof g_user_opts / sizeof g_user_opts[0])

/* getopt_long's values: the user's options are 256 + their index above. */
enum { OPT_QUICK = 'q', OPT_JSON = 'j', OPT_LIST = 'l', OPT_RT = 'r', OPT_RUNS = 'n',
       OPT_USER = 256 };

static const struct option g_long_opts[] = {
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "rt", no_argument, NULL, OPT_RT },
	{ "runs", required_argument, NULL, OPT_RUNS },
	{ "help", no_argument, NULL, 'h' },
	{ "keys", required_argument, NULL, OPT_USER + 0 },
	{ "key-size", required_argument, NULL, OPT_USER + 1 },
	{ "value-size", required_argument, NULL, OPT_USER + 2 },
	{ "elem-size", required_argument, NULL, OPT_USER + 3 },
	{ "capacity", required_argument, NULL, OPT_USER + 4 },
	{ NULL, 0, NULL, 0 },
};
_Static_assert(N_USER_OPTS == 5, "g_long_opts lists every user option");

/* A whole decimal number in [min, max]: 0 and *out, or -1. */
static int parse_num(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* --keys N and the like: 0, or -1 after reporting a refused value. */
static int set_user_opt(size_t k, const char *v, struct bench_opts *o)
{
	unsigned bit = g_user_opts[k].bit;
	uint64_t n;
	if (parse_num(v, g_user_opts[k].min, g_user_opts[k].max, &n) != 0 ||
	    (bit == BENCH_OPT_ELEM_SIZE && n % 8)) {
		fprintf(stderr, "shmap-bench: --%s needs a number from %llu to %llu%s\n",
			g_user_opts[k].name, (unsigned long long)g_user_opts[k].min,
			(unsigned long long)g_user_opts[k].max,
			bit == BENCH_OPT_ELEM_SIZE ? ", a multiple of 8" : "");
		return -1;
	}
	if (bit == BENCH_OPT_KEYS)
		o->keys = n;
	else if (bit == BENCH_OPT_CAPACITY)
		o->capacity = n;
	else if (bit == BENCH_OPT_KEY_SIZE)
		o->key_size = (uint32_t)n;
	else if (bit == BENCH_OPT_VALUE_SIZE)
		o->value_size = (uint32_t)n;
	else
		o->elem_size = (uint32_t)n;
	return 0;
}

/* The long name of getopt_long's value c, for messages. */
static const char *opt_name(int c)
{
	for (size_t i = 0; g_long_opts[i].name; i++)
		if (g_long_opts[i].val == c)
			return g_long_opts[i].name;
	return "?";
}

int bench_parse_args(int argc, char **argv, struct bench_cli *cli)
{
	memset(cli, 0, sizeof *cli);
	cli->o.runs = 1;
	/* errors are reported here, not by getopt */
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, ":h", g_long_opts, NULL)) != -1) {
		uint64_t n;
		switch (c) {
		case OPT_QUICK: cli->o.quick = 1; break;
		case OPT_JSON: cli->o.json = 1; break;
		case OPT_LIST: cli->list = 1; break;
		case OPT_RT: cli->o.rt = 1; break;
		case OPT_RUNS:
			if (parse_num(optarg, 1, BENCH_MAX_RUNS, &n) != 0) {
				fprintf(stderr, "shmap-bench: --runs needs a number from 1 to %d\n",
					BENCH_MAX_RUNS);
				return 2;
			}
			cli->o.runs = (int)n;
			break;
		case 'h': usage(stdout); return 0;
		case ':':
			if (optopt >= OPT_USER && optopt < OPT_USER + (int)N_USER_OPTS)
				set_user_opt((size_t)(optopt - OPT_USER), NULL, &cli->o);
			else /* --runs */
				fprintf(stderr, "shmap-bench: --%s needs a number from 1 to %d\n",
					opt_name(optopt), BENCH_MAX_RUNS);
			return 2;
		case '?':
			if (optopt > 0 && optopt < 256) /* a short option */
				fprintf(stderr, "shmap-bench: unknown option -%c\n", optopt);
			else
				fprintf(stderr, "shmap-bench: unknown option %s\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		default:
			if (set_user_opt((size_t)(c - OPT_USER), optarg, &cli->o) != 0)
				return 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (cli->nsel == BENCH_MAX_WL) {
			fprintf(stderr, "shmap-bench: more than %d workloads named\n", BENCH_MAX_WL);
			return 2;
		}
		cli->sel[cli->nsel++] = argv[i];
	}
	return -1;
}

void bench_opts_text(unsigned bits, char *buf, size_t len)
{
	size_t l = 0;
	buf[0] = 0;
	for (size_t k = 0; k < N_USER_OPTS && l < len; k++)
		if (bits & g_user_opts[k].bit)
			l += (size_t)snprintf(buf + l, len - l, "%s--%s", l ? " " : "",
					      g_user_opts[k].name);
}
