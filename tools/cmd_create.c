/* SPDX-License-Identifier: MIT */
/* shmapctl create: a vector, table or ring with the given parameters. */
#include "shmapctl.h"

/* ---- create ---------------------------------------------------------- */

static int create_opts(const struct target *t, shmap_opts **o)
{
	int rc = shmap_opts_new(o);
	if (rc == SHMAP_OK)
		rc = shmap_opts_set_backend(*o, t->backend);
	if (rc == SHMAP_OK)
		rc = shmap_opts_set_mode(*o, opt.mode);
	if (rc == SHMAP_OK && opt.max_procs)
		rc = shmap_opts_set_max_procs(*o, opt.max_procs);
	return rc;
}

int cmd_create(int argc, char **argv)
{
	if (argc < 2) {
		errmsg("create", "expects KIND NAME PARAMS... (see --help)");
		return EX_USAGE;
	}
	const char *kind = argv[0];
	struct target t;
	int rc = target_init(&t, argv[1]);
	if (rc != SHMAP_OK) {
		report_error(t.name, rc);
		target_fini(&t);
		return exit_for(rc);
	}
	shmap_opts *o = NULL;
	rc = create_opts(&t, &o);
	if (rc != SHMAP_OK) {
		errmsg("create", "bad option: %s", shmap_strerror(rc));
		shmap_opts_free(o);
		target_fini(&t);
		return EX_USAGE;
	}
	char **p = argv + 2;
	int np = argc - 2;
	int usage = 0;
	if (0) {
	}
#ifdef SHMAPCTL_HAVE_VECTOR
	else if (strcmp(kind, "vector") == 0) {
		uint32_t es;
		uint64_t cap;
		if (np != 2 || parse_u32(p[0], &es) || parse_u64(p[1], &cap)) {
			usage = 1;
		} else {
			shmap_vector *v = NULL;
			rc = shmap_vector_open(t.name, SHMAP_CREATE, es, cap, o, &v);
			shmap_vector_close(v);
		}
	}
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	else if (strcmp(kind, "htable") == 0) {
		uint64_t cap;
		uint32_t km, vm;
		if (np != 3 || parse_u64(p[0], &cap) || parse_u32(p[1], &km) ||
		    parse_u32(p[2], &vm)) {
			usage = 1;
		} else {
			shmap_htable *h = NULL;
			rc = shmap_htable_open(t.name, SHMAP_CREATE, km, vm, cap, o, &h);
			shmap_htable_close(h);
		}
	}
#endif
#ifdef SHMAPCTL_HAVE_RING
	else if (strcmp(kind, "ring") == 0) {
		uint32_t type = 0, es, mc = 0;
		uint64_t cap;
		if (np >= 1) {
			if (!strcmp(p[0], "spsc"))
				type = SHMAP_RING_SPSC;
			else if (!strcmp(p[0], "spmc"))
				type = SHMAP_RING_SPMC;
			else if (!strcmp(p[0], "bcast") || !strcmp(p[0], "bcast-lossy") ||
				 !strcmp(p[0], "lossy"))
				type = SHMAP_RING_BCAST_LOSSY;
			else if (!strcmp(p[0], "bcast-reliable") || !strcmp(p[0], "reliable"))
				type = SHMAP_RING_BCAST_RELIABLE;
		}
		if (type == 0 || (np != 3 && np != 4) || parse_u32(p[1], &es) ||
		    parse_u64(p[2], &cap) || (np == 4 && parse_u32(p[3], &mc))) {
			usage = 1;
		} else {
			shmap_ring *r = NULL;
			rc = shmap_opts_set_max_consumers(o, mc);
			if (rc == SHMAP_OK)
				rc = shmap_ring_open(t.name, SHMAP_CREATE, type, es, cap, SHMAP_RING_PRODUCER,
						     o, &r);
			shmap_ring_close(r);
		}
	}
#endif
	else {
		errmsg("create", "unknown kind '%s' (this build knows:%s%s%s)", kind,
#ifdef SHMAPCTL_HAVE_HTABLE
		       " htable",
#else
		       "",
#endif
#ifdef SHMAPCTL_HAVE_RING
		       " ring",
#else
		       "",
#endif
#ifdef SHMAPCTL_HAVE_VECTOR
		       " vector"
#else
		       ""
#endif
		);
		usage = 2;
	}
	shmap_opts_free(o);
	if (usage == 1)
		errmsg("create", "bad parameters for %s (see --help)", kind);
	if (usage) {
		target_fini(&t);
		return EX_USAGE;
	}
	int ex = EX_OK;
	if (rc < 0) {
		if (rc == SHMAP_E_EXIST)
			errmsg(t.name, "already exists");
		else if (rc == SHMAP_E_INVAL || rc == SHMAP_E_TOOBIG)
			errmsg(t.name, "invalid parameters: %s [%s]", shmap_strerror(rc),
			       shmap_errname(rc));
		else
			report_error(t.name, rc);
		ex = (rc == SHMAP_E_INVAL || rc == SHMAP_E_TOOBIG || rc == SHMAP_E_NAMETOOLONG)
			     ? EX_USAGE
			     : EX_PROBLEM;
	}
	if (opt.json) {
		j_open('{');
		json_target(&t);
		jk_str("kind", kind);
		jk_str("status", rc < 0 ? shmap_errname(rc) : "created");
		if (rc < 0)
			jk_err("error", rc);
		j_close('}');
		j_end_doc();
	} else if (rc >= 0) {
		printf("created %s %s\n", kind, t.shown);
	}
	target_fini(&t);
	return ex;
}
