/* SPDX-License-Identifier: MIT */
/* shmapctl check: verify every invariant; --repair recovers what dead processes left. */
#include "shmapctl.h"

/* ---- check ----------------------------------------------------------- */

static int struct_check(struct handle *h, uint32_t flags, uint64_t *problems)
{
	switch (h->kind) {
#ifdef SHMAPCTL_HAVE_VECTOR
	case SHMAP_KIND_VECTOR: return shmap_vector_check(h->v, flags, problems);
#endif
#ifdef SHMAPCTL_HAVE_HTABLE
	case SHMAP_KIND_HTABLE: return shmap_htable_check(h->t, flags, problems);
#endif
#ifdef SHMAPCTL_HAVE_RING
	case SHMAP_KIND_RING_SPSC:
	case SHMAP_KIND_RING_SPMC:
	case SHMAP_KIND_RING_BCAST:
	case SHMAP_KIND_RING_REC: return shmap_ring_check(h->r, flags, problems);
#endif
	default: return SHMAP_E_NOTSUP;
	}
}

int cmd_check(int argc, char **argv)
{
	if (argc != 1) {
		errmsg("check", "expects exactly one NAME");
		return EX_USAGE;
	}
	struct target t;
	shmap_info *in = NULL;
	int rc = open_one(argv[0], &t, &in);
	const char *verdict;
	int ex;
	uint64_t problems = 0;
	uint32_t alive = 0, dead = 0;
	int crc = SHMAP_OK; /* checker result */
	int refused = 0;

	if (rc != SHMAP_OK) {
		/* The header itself is wrong (or the object is missing / foreign). */
		ex = exit_for(rc);
		verdict = ex == EX_NOTFOUND ? "not-found" : "header-invalid";
		if (opt.json) {
			j_open('{');
			json_target(&t);
			jk_str("status", verdict);
			jk_bool("header_ok", 0);
			jk_err("error", rc);
			jk_u64("problems", ex == EX_PROBLEM ? 1 : 0);
			jk_bool("repaired", 0);
			j_close('}');
			j_end_doc();
		} else if (ex == EX_PROBLEM) {
			printf("%s: header: %s [%s]\n", t.shown, explain(rc), shmap_errname(rc));
			printf("%s: 1 problem (not repairable here: remove and re-create it)\n",
			       t.shown);
		}
		if (ex != EX_PROBLEM)
			report_error(t.name, rc);
		target_fini(&t);
		return ex;
	}

	count_parts(in, &alive, &dead);
	uint32_t kind = (uint32_t)shmap_info_field(in, SHMAP_INFO_KIND);
	struct handle h;
	int orc = SHMAP_OK;
	if (opt.repair && alive > 0 && !opt.force) {
		refused = 1;
	} else {
		orc = struct_open(&t, kind, &h);
		if (orc == SHMAP_OK) {
			crc = struct_check(&h, opt.repair ? SHMAP_CHECK_REPAIR : 0, &problems);
			struct_close(&h);
		}
	}

	if (refused) {
		verdict = "refused";
		ex = EX_BUSY;
	} else if (orc != SHMAP_OK) {
		verdict = "open-failed";
		ex = exit_for(orc) == EX_NOTFOUND ? EX_NOTFOUND : EX_PROBLEM;
		crc = orc;
	} else if (crc == SHMAP_OK) {
		verdict = "ok";
		ex = EX_OK;
	} else if (crc == SHMAP_RECOVERED) {
		verdict = "repaired";
		ex = EX_OK;
	} else if (crc == SHMAP_E_BUSY) {
		verdict = "busy";
		ex = EX_PROBLEM;
	} else {
		verdict = "problems";
		ex = EX_PROBLEM;
	}

	if (opt.json) {
		j_open('{');
		json_target(&t);
		jk_str("kind", shmap_kind_name(kind));
		jk_str("status", verdict);
		jk_bool("header_ok", 1);
		jk_u64("problems", problems);
		jk_bool("repair", opt.repair);
		jk_bool("repaired", crc == SHMAP_RECOVERED);
		jk_u64("attached", alive);
		jk_u64("dead", dead);
		j_key("result");
		if (refused || crc == SHMAP_OK) {
			j_null();
		} else {
			j_open('{');
			j_key("code");
			j_i64(crc);
			jk_str("name", shmap_errname(crc));
			jk_str("message", shmap_strerror(crc));
			j_close('}');
		}
		json_participants(in);
		j_close('}');
		j_end_doc();
	} else {
		printf("%s: header ok (%s)\n", t.shown, shmap_kind_name(kind));
		if (dead)
			printf("%s: %u dead process%s still registered (harmless: a later attach "
			       "reuses the slot)\n",
			       t.shown, dead, dead == 1 ? "" : "es");
		if (refused) {
			printf("%s: repair refused: %u live process%s attached:", t.shown, alive,
			       alive == 1 ? "" : "es");
			uint32_t n = (uint32_t)shmap_info_field(in, SHMAP_INFO_MAX_PROCS);
			for (uint32_t i = 0; i < n; i++) {
				uint32_t pid = 0, a = 0;
				if (shmap_info_participant(in, i, &pid, NULL, &a) == SHMAP_OK && a)
					printf(" %u", pid);
			}
			printf("\n%s: stop them first, or use --force (the checker never takes "
			       "over a live "
			       "process's claims)\n",
			       t.shown);
		} else if (orc != SHMAP_OK) {
			printf("%s: cannot open the structure: %s [%s]\n", t.shown, explain(orc),
			       shmap_errname(orc));
		} else if (crc == SHMAP_OK) {
			printf("%s: ok, no problem found\n", t.shown);
		} else if (crc == SHMAP_RECOVERED) {
			printf("%s: %" PRIu64 " problem%s found and repaired\n", t.shown, problems,
			       problems == 1 ? "" : "s");
		} else if (crc == SHMAP_E_BUSY) {
			printf("%s: not quiescent: a live process holds a lock [%s]\n", t.shown,
			       shmap_errname(crc));
		} else {
			printf("%s: %" PRIu64 " problem%s found%s [%s]\n", t.shown, problems,
			       problems == 1 ? "" : "s",
			       opt.repair ? ", not all repairable"
					  : " (run with --repair to recover)",
			       shmap_errname(crc));
		}
	}
	shmap_info_free(in);
	target_fini(&t);
	return ex;
}
