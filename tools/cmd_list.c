/* SPDX-License-Identifier: MIT */
/* shmapctl list: the shmap segments in the shm directory, or the given ones. */
#include "shmapctl.h"

/* ---- list ------------------------------------------------------------ */

struct row {
	char name[PATH_MAX + 2];
	uint32_t backend;
	int rc;	     /* shmap_info_open() result */
	int open_rc; /* structure open result (if rc == OK) */
	shmap_info *in;
	uint64_t used, cap;
	int have_fill;
	char ring_type[24];
};

static void row_fill(struct row *r, const struct target *t)
{
	r->have_fill = 0;
	r->ring_type[0] = 0;
	uint32_t kind = (uint32_t)shmap_info_field(r->in, SHMAP_INFO_KIND);
	struct handle h;
	r->open_rc = struct_open(t, kind, &h);
	if (r->open_rc != SHMAP_OK)
		return;
	if (struct_fill(&h, &r->used, &r->cap) == SHMAP_OK)
		r->have_fill = 1;
#ifdef SHMAPCTL_HAVE_RING
	if (is_ring(kind))
		snprintf(r->ring_type, sizeof(r->ring_type), "%s",
			 ring_type_name(shmap_ring_type(h.r)));
#endif
	struct_close(&h);
}

static void row_print_json(const struct row *r, const struct target *t)
{
	j_open('{');
	jk_str("name", r->name);
	jk_str("backend", backend_name(r->backend));
	if (r->rc != SHMAP_OK) {
		jk_str("status", shmap_errname(r->rc));
		jk_err("error", r->rc);
		j_close('}');
		return;
	}
	jk_str("status", "ok");
	json_header(t, r->in);
	if (r->ring_type[0])
		jk_str("ring_type", r->ring_type);
	if (r->have_fill) {
		j_key("fill");
		j_open('{');
		jk_u64("used", r->used);
		jk_u64("capacity", r->cap);
		j_close('}');
	} else {
		j_key("fill");
		j_null();
		jk_err("state_error", r->open_rc);
	}
	j_close('}');
}

static int name_width = 12; /* width of the NAME column of list */

static void row_print_text(const struct row *r)
{
	char nbuf[80], sbuf[32], pbuf[128], full[192], fbuf[48], tbuf[64], procs[32], cbuf[48];
	fmt_name(r->name, nbuf, sizeof(nbuf));
	if (r->rc != SHMAP_OK) {
		printf("%-*s %-10s %s\n", name_width, nbuf, "?", explain(r->rc));
		return;
	}
	uint32_t kind = (uint32_t)shmap_info_field(r->in, SHMAP_INFO_KIND);
	fmt_size(shmap_info_field(r->in, SHMAP_INFO_TOTAL_SIZE), sbuf, sizeof(sbuf));
	fmt_params(r->in, pbuf, sizeof(pbuf));
	if (r->ring_type[0])
		snprintf(full, sizeof(full), "%s %s", r->ring_type, pbuf);
	else
		snprintf(full, sizeof(full), "%s", pbuf);
	if (r->have_fill)
		snprintf(fbuf, sizeof(fbuf), "%" PRIu64 "/%" PRIu64, r->used, r->cap);
	else
		snprintf(fbuf, sizeof(fbuf), "?");
	uint32_t alive, dead;
	count_parts(r->in, &alive, &dead);
	if (dead)
		snprintf(procs, sizeof(procs), "%u+%ud", alive, dead);
	else
		snprintf(procs, sizeof(procs), "%u", alive);
	fmt_time(shmap_info_field(r->in, SHMAP_INFO_CREATED_NS), tbuf, sizeof(tbuf));
	snprintf(cbuf, sizeof(cbuf), "%" PRIu64 "/%" PRIu64,
		 shmap_info_field(r->in, SHMAP_INFO_CREATOR_UID),
		 shmap_info_field(r->in, SHMAP_INFO_CREATOR_PID));
	printf("%-*s %-10s %7s  %-30s %-13s %-6s %-20s %s\n", name_width, nbuf,
	       shmap_kind_name(kind), sbuf, full, fbuf, procs, tbuf, cbuf);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is this /dev/shm entry worth inspecting? Checked with lstat, no open. */
static int shm_candidate(const char *d_name)
{
	if (d_name[0] == '.' || strncmp(d_name, "sem.", 4) == 0)
		return 0;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), SHM_DIR "/%s", d_name) >= (int)sizeof(path))
		return 0;
	struct stat st;
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < HDR_MIN)
		return 0;
	return 1;
}

static int is_pattern(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Does /dev/shm entry d_name match one of the patterns (none: everything)? */
static int matches(const char *d_name, char **pats, int npats)
{
	if (npats == 0)
		return 1;
	for (int i = 0; i < npats; i++) {
		const char *p = pats[i][0] == '/' ? pats[i] + 1 : pats[i];
		if (fnmatch(p, d_name, FNM_PERIOD) == 0)
			return 1;
	}
	return 0;
}

/*
 * Arguments with glob characters are patterns over the names in /dev/shm
 * (scan mode, filtered); other arguments are listed as given. No argument
 * at all scans everything.
 */
int cmd_list(int argc, char **argv)
{
	char **names = NULL; /* entries to list: scanned first, then explicit */
	size_t n = 0, cap = 0, nscan = 0;
	int status = EX_OK;
	uint32_t unreadable = 0;
	char **pats = calloc((size_t)argc + 1, sizeof(*pats));
	int npats = 0, nexplicit = 0;
	if (!pats)
		return EX_PROBLEM;
	for (int i = 0; i < argc; i++) {
		if (is_pattern(argv[i]))
			pats[npats++] = argv[i];
		else
			nexplicit++;
	}
	int scan = argc == 0 || npats > 0;

	if (scan) {
		DIR *d = opendir(SHM_DIR);
		if (!d && (errno == ENOENT || errno == ENOTDIR)) {
			/* macOS, FreeBSD: shm names are not files anywhere */
			errmsg(SHM_DIR, "listing segments is not supported on this system "
			       "(shm names are not files here); name them instead");
			free(pats);
			return EX_PROBLEM;
		}
		if (!d) {
			errmsg(SHM_DIR, "%s", strerror(errno));
			free(pats);
			return EX_PROBLEM;
		}
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (!matches(de->d_name, pats, npats) || !shm_candidate(de->d_name))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				char **nn = realloc(names, cap * sizeof(*names));
				if (!nn)
					break;
				names = nn;
			}
			names[n] = malloc(strlen(de->d_name) + 2);
			if (!names[n])
				break;
			sprintf(names[n], "/%s", de->d_name);
			n++;
		}
		closedir(d);
		qsort(names, n, sizeof(*names), name_cmp);
	}
	nscan = n;
	if (nexplicit) {
		char **nn = realloc(names, (n + (size_t)nexplicit) * sizeof(*names));
		if (!nn) {
			for (size_t i = 0; i < n; i++)
				free(names[i]);
			free(names);
			free(pats);
			return EX_PROBLEM;
		}
		names = nn;
		for (int i = 0; i < argc; i++)
			if (!is_pattern(argv[i]))
				names[n++] = argv[i]; /* not owned */
	}

	if (opt.json) {
		j_open('{');
		j_key("segments");
		j_open('[');
	} else {
		for (size_t i = 0; i < n; i++) {
			size_t l = strlen(names[i]) + 1;
			if (l > (size_t)name_width)
				name_width = l > 79 ? 79 : (int)l;
		}
		printf("%-*s %-10s %7s  %-30s %-13s %-6s %-20s %s\n", name_width, "NAME", "KIND",
		       "SIZE", "PARAMS", "FILL", "PROCS", "CREATED", "UID/PID");
	}
	uint32_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		int scanned = i < nscan;
		struct target t;
		struct row r;
		memset(&r, 0, sizeof(r));
		int saved_file = opt.file, saved_shm = opt.shm;
		if (scanned)
			opt.shm = 1, opt.file = 0;
		int rc = target_init(&t, names[i]);
		opt.file = saved_file, opt.shm = saved_shm;
		snprintf(r.name, sizeof(r.name), "%s", t.name);
		r.backend = t.backend;
		if (rc == SHMAP_OK)
			rc = shmap_info_open(t.name, t.opts, &r.in);
		r.rc = rc;
		if (scanned) {
			/* Foreign, unreadable or unclassifiable objects are skipped. */
			if (rc == SHMAP_E_ACCESS)
				unreadable++;
			if (rc != SHMAP_OK && rc != SHMAP_E_CORRUPT && rc != SHMAP_E_VERSION &&
			    rc != SHMAP_E_TRUNCATED && rc != SHMAP_E_NOTREADY) {
				target_fini(&t);
				continue;
			}
		} else if (rc != SHMAP_OK) {
			if (status == EX_OK)
				status = exit_for(rc); /* the first failure decides */
			if (!opt.json)
				report_error(t.name, rc);
		}
		if (rc == SHMAP_OK)
			row_fill(&r, &t);
		if (opt.json)
			row_print_json(&r, &t);
		else if (rc == SHMAP_OK || scanned)
			row_print_text(&r);
		shown++;
		shmap_info_free(r.in);
		target_fini(&t);
	}
	if (opt.json) {
		j_close(']');
		jk_u64("count", shown);
		if (scan)
			jk_u64("unreadable", unreadable);
		j_close('}');
		j_end_doc();
	} else if (unreadable) {
		fprintf(stderr,
			"%s: %u objects in " SHM_DIR " could not be read (permission denied)\n",
			prog, unreadable);
	}
	for (size_t i = 0; i < nscan; i++)
		free(names[i]);
	free(names);
	free(pats);
	return status;
}
