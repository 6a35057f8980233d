/* SPDX-License-Identifier: MIT */
/*
 * registry.c - the workloads of this build: every wl_*.c table compiled in,
 * a "not available" entry for each competitor built without, in the order
 * the output shows them (baselines next to what they bound).
 */
#include <stdlib.h>
#include <string.h>

#include "bench-internal.h"

static const struct bench_wl *g_all[BENCH_MAX_WL];
static int g_nall;

/* A competitor's workloads when the build found no competitor: listed, and
 * reported as not available. */
#define MISSING(wl, why) { .name = (wl), .group = "competitor", .unavailable = (why) }
#define MISSING_ALL(sfx, why)                                                                      \
	MISSING("spsc-8-" sfx, why), MISSING("spsc-64-" sfx, why),                                 \
		MISSING("spsc-batch-8-" sfx, why), MISSING("spsc-256-" sfx, why),                  \
		MISSING("spsc-1024-" sfx, why), MISSING("spsc-4096-" sfx, why)
#ifndef BENCH_HAVE_CK
static const struct bench_wl g_missing_ck[] = {
	MISSING_ALL("ck", "competitor not available (built without Concurrency Kit, libck-dev)"),
	{ 0 }
};
#endif
#ifndef BENCH_HAVE_BOOST
static const struct bench_wl g_missing_boost[] = {
	MISSING_ALL("boost",
		    "competitor not available (built without a C++ compiler or Boost.Lockfree)"),
	{ 0 }
};
#endif

static void add_table(const struct bench_wl *t)
{
	for (; t && t->name; t++)
		if (g_nall < BENCH_MAX_WL)
			g_all[g_nall++] = t;
}

/* The display order: baselines next to what they bound. */
static const char *const g_order[] = {
	"floor-rtt", "spsc-rtt",
	"spsc-8", "spsc-8-ck", "spsc-8-boost",
	"floor-64", "spsc-64", "spsc-64-ck", "spsc-64-boost", "uds-64",
	"spsc-256", "spsc-256-ck", "spsc-256-boost",
	"spsc-1024", "spsc-1024-ck", "spsc-1024-boost",
	"spsc-4096", "spsc-4096-ck", "spsc-4096-boost", "uds-4096",
	"spsc-batch-8", "spsc-batch-8-ck", "spsc-batch-8-boost",
	"spmc-8", "broadcast-8", "spsc-notify",
	"spsc-var-small", "spsc-fixed-var-small", "seqpacket-var-small",
	"spsc-var-large", "spsc-fixed-var-large", "seqpacket-var-large",
	"table-baseline", "table-get", "table-get-2p", "table-mixed", "table-churn",
	"table-baseline-var", "table-get-var",
	"vector-push",
	NULL
};

static int order_of(const char *name)
{
	for (int i = 0; g_order[i]; i++)
		if (strcmp(g_order[i], name) == 0)
			return i;
	return 1000;
}

static int cmp_wl(const void *a, const void *b)
{
	const struct bench_wl *x = *(const struct bench_wl *const *)a;
	const struct bench_wl *y = *(const struct bench_wl *const *)b;
	int ox = order_of(x->name), oy = order_of(y->name);
	if (ox != oy)
		return ox - oy;
	return strcmp(x->variant ? x->variant : "", y->variant ? y->variant : "");
}

static void register_all(void)
{
	add_table(bench_wl_base);
	add_table(bench_wl_floor);
#ifdef BENCH_HAVE_RING
	add_table(bench_wl_ring);
	add_table(bench_wl_notify);
	add_table(bench_wl_msg);
	add_table(bench_wl_pool);
#endif
	add_table(bench_wl_uds);
#ifdef BENCH_HAVE_CK
	add_table(bench_wl_ck);
#else
	add_table(g_missing_ck);
#endif
#ifdef BENCH_HAVE_BOOST
	add_table(bench_wl_boost);
#else
	add_table(g_missing_boost);
#endif
#ifdef BENCH_HAVE_TABLE
	add_table(bench_wl_table);
#endif
#ifdef BENCH_HAVE_VECTOR
	add_table(bench_wl_vector);
#endif
#ifdef BENCH_HAVE_REC
	add_table(bench_wl_rec);
#endif
	qsort(g_all, (size_t)g_nall, sizeof g_all[0], cmp_wl);
}

void bench_full_name(const struct bench_wl *w, char *buf, size_t len)
{
	if (w->variant)
		snprintf(buf, len, "%s-%s", w->name, w->variant);
	else
		snprintf(buf, len, "%s", w->name);
}

const struct bench_wl *const *bench_registry(int *n)
{
	if (g_nall == 0)
		register_all();
	*n = g_nall;
	return g_all;
}

int bench_wl_matches(const struct bench_wl *w, const char *arg)
{
	char name[96];
	bench_full_name(w, name, sizeof name);
	return strcmp(arg, w->name) == 0 || strcmp(arg, name) == 0;
}
