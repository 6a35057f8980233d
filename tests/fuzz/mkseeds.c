/* SPDX-License-Identifier: MIT */
/*
 * mkseeds.c - write seed inputs for the fuzz targets: valid segments of each
 * structure kind (small parameters, two participant slots), after a few
 * operations, each prefixed with control bytes (fuzz_common.h).
 *
 * usage: mkseeds OUTDIR   -> OUTDIR/open/<kind>-<variant>, OUTDIR/inspect/<kind>
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shmap/shmap.h>

#include "fuzz_common.h"
#include "../th_api.h"

static const char *outdir;

static void write_seed(const char *sub, const char *name, uint8_t ctl, int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return;
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len + 1);
	if (!buf)
		return;
	buf[0] = ctl;
	if (pread(fd, buf + 1, len, 0) != (ssize_t)len) {
		free(buf);
		return;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", outdir, sub);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(buf, 1, len + 1, f);
		fclose(f);
	}
	free(buf);
}

static void emit(const char *kind, unsigned k, int fd)
{
	char n[64];
	snprintf(n, sizeof(n), "%s-zero", kind);
	write_seed("open", n, (uint8_t)k, fd);
	snprintf(n, sizeof(n), "%s-fixed", kind);
	write_seed("open", n, (uint8_t)(k | FZ_C_FIXED), fd);
	snprintf(n, sizeof(n), "%s-consumer-twice", kind);
	write_seed("open", n, (uint8_t)(k | FZ_C_FIXED | FZ_C_CONSUMER | FZ_C_TWICE), fd);
	write_seed("inspect", kind, 0, fd);
}

static shmap_opts *memfd_opts(void)
{
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != SHMAP_OK)
		exit(1);
	shmap_opts_set_backend(o, SHMAP_BACKEND_MEMFD);
	shmap_opts_set_max_procs(o, 2);
	return o;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	int made = 0;
#ifdef FZ_HAVE_VECTOR
	{
		shmap_opts *o = memfd_opts();
		shmap_vector *v = NULL;
		int rc = shmap_vector_open("seed", SHMAP_CREATE, FZ_VEC_ELEM, FZ_VEC_CAP, o, &v);
		if (rc >= 0) {
			uint8_t e[FZ_VEC_ELEM] = { 1, 2, 3, 4, 5, 6, 7, 8 };
			for (int i = 0; i < 5; i++) {
				e[0] = (uint8_t)i;
				shmap_vector_push(v, e, NULL);
			}
			shmap_vector_replace(v, 1, e);
			uint64_t first;
			shmap_vector_reserve(v, 1, &first); /* left in flight */
			emit("vector", FZ_K_VECTOR, shmap_vector_fd(v));
			shmap_vector_close(v);
			made++;
		} else {
			fprintf(stderr, "vector: %s\n", shmap_errname(rc));
		}
		shmap_opts_free(o);
	}
#endif
#ifdef FZ_HAVE_HTABLE
	{
		shmap_opts *o = memfd_opts();
		shmap_htable *t = NULL;
		int rc = shmap_htable_open("seed", SHMAP_CREATE, FZ_HT_KEY, FZ_HT_VAL, FZ_HT_CAP, o, &t);
		if (rc >= 0) {
			char k[8], val[16];
			for (int i = 0; i < 6; i++) {
				int kl = snprintf(k, sizeof(k), "key%d", i);
				int vl = snprintf(val, sizeof(val), "value-%d", i * 7);
				shmap_htable_upsert(t, k, (uint32_t)kl, val, (uint32_t)vl);
			}
			shmap_htable_erase(t, "key2", 4);
			emit("htable", FZ_K_HTABLE, shmap_htable_fd(t));
			shmap_htable_close(t);
			made++;
		} else {
			fprintf(stderr, "htable: %s\n", shmap_errname(rc));
		}
		shmap_opts_free(o);
	}
#endif
#ifdef FZ_HAVE_RING
	{
		static const uint32_t types[] = { SHMAP_RING_SPSC, SHMAP_RING_SPMC, SHMAP_RING_BCAST_LOSSY,
						  SHMAP_RING_BCAST_RELIABLE };
		static const char *names[] = { "spsc", "spmc", "bcast-lossy", "bcast-reliable" };
		for (unsigned i = 0; i < 4; i++) {
			shmap_opts *o = memfd_opts();
			shmap_ring *r = NULL;
			uint32_t cons = types[i] == SHMAP_RING_SPSC ? 1u : FZ_RING_CONS;
			int rc = th_ring_open("seed", SHMAP_CREATE, types[i], FZ_RING_ELEM, FZ_RING_CAP,
						 cons, SHMAP_RING_PRODUCER, o, &r);
			if (rc < 0) {
				fprintf(stderr, "ring %s: %s\n", names[i], shmap_errname(rc));
				shmap_opts_free(o);
				continue;
			}
			uint8_t e[FZ_RING_ELEM] = { 9, 8, 7, 6, 5, 4, 3, 2 };
			for (int j = 0; j < 5; j++) {
				e[0] = (uint8_t)j;
				shmap_ring_push(r, e);
			}
			emit(names[i], FZ_K_SPSC + i, shmap_ring_fd(r));
			shmap_ring_close(r);
			shmap_opts_free(o);
			made++;
		}
	}
#endif
	/* Not-a-segment seeds for the inspector. */
	{
		int fd = memfd_create("junk", MFD_CLOEXEC);
		if (fd >= 0) {
			uint8_t junk[FZ_HDR_SIZE];
			memset(junk, 0, sizeof(junk));
			memcpy(junk, "\x01ShmMap1", 8);
			pwrite(fd, junk, sizeof(junk), 0);
			write_seed("inspect", "header-only-zero", 0, fd);
			close(fd);
		}
	}
	printf("mkseeds: %d segment kinds written to %s\n", made, outdir);
	return made > 0 ? 0 : 1;
}
