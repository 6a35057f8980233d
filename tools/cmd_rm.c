/* SPDX-License-Identifier: MIT */
/* shmapctl rm: remove segments (only shmap segments unless --force). */
#include "shmapctl.h"

/* ---- rm -------------------------------------------------------------- */

int cmd_rm(int argc, char **argv)
{
	if (argc < 1) {
		errmsg("rm", "expects at least one NAME");
		return EX_USAGE;
	}
	int status = EX_OK;
	for (int i = 0; i < argc; i++) {
		struct target t;
		shmap_info *in = NULL;
		int rc = open_one(argv[i], &t, &in);
		int ex = EX_OK;
		/* Only shmap segments (complete, broken or unfinished) are removed
		 * unless --force: never a foreign object. */
		int ours = rc == SHMAP_OK || rc == SHMAP_E_CORRUPT || rc == SHMAP_E_VERSION ||
			   rc == SHMAP_E_NOTREADY || rc == SHMAP_E_TRUNCATED;
		if (rc == SHMAP_E_NOENT || rc == SHMAP_E_INVAL || rc == SHMAP_E_NAMETOOLONG) {
			report_error(t.name, rc);
			ex = exit_for(rc);
		} else if (!ours && !opt.force) {
			errmsg(t.name, "%s; not removed (use --force to remove it anyway)",
			       explain(rc));
			ex = rc == SHMAP_E_BADMAGIC ? EX_NOTFOUND : EX_PROBLEM;
		} else {
			uint32_t alive = 0, dead = 0;
			if (in)
				count_parts(in, &alive, &dead);
			if (alive && !opt.json)
				fprintf(stderr,
					"%s: %s: warning: %u process%s still attached keep%s it "
					"until "
					"they close it\n",
					prog, t.shown, alive, alive == 1 ? "" : "es",
					alive == 1 ? "s" : "");
			rc = shmap_unlink(t.name, t.opts);
			if (rc != SHMAP_OK) {
				report_error(t.name, rc);
				ex = exit_for(rc);
			} else if (!opt.json) {
				printf("removed %s\n", t.shown);
			}
		}
		if (status == EX_OK)
			status = ex; /* the first failure decides */
		shmap_info_free(in);
		target_fini(&t);
	}
	return status;
}
