/* SPDX-License-Identifier: MIT */
/*
 * fuzz_inspect.c - libFuzzer target: read-only inspection of arbitrary bytes
 * (shmap_info_open, include/shmap/inspect.h; scenario 23).
 *
 * The input (after the control byte, see fuzz_common.h: only the checksum
 * and READY bits are used) becomes the content of a memfd, inspected
 * through SHMAP_BACKEND_MEMFD; on success every field and every participant
 * slot is read back. Also checks that inspection never writes: the memfd's
 * bytes must be unchanged afterwards.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shmap/shmap.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	size_t len = size - 1;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	if (len >= FZ_HDR_SIZE) {
		if (ctl & FZ_C_READY) {
			uint64_t st = (fz_le64(buf + FZ_OFF_STATE) & ~UINT64_C(0xff)) | 2u;
			memcpy(buf + FZ_OFF_STATE, &st, sizeof(st));
		}
		if (ctl & FZ_C_FIXSUM) {
			uint64_t sum = XXH3_64bits(buf, FZ_OFF_CHECKSUM);
			memcpy(buf + FZ_OFF_CHECKSUM, &sum, sizeof(sum));
		}
	}
	int fd = memfd_create("shmap-fuzz-inspect", MFD_CLOEXEC);
	if (fd < 0 || (len && pwrite(fd, buf, len, 0) != (ssize_t)len)) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return 0;
	}
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) == SHMAP_OK) {
		shmap_opts_set_backend(o, SHMAP_BACKEND_MEMFD);
		shmap_opts_set_fd(o, fd);
		if (ctl & FZ_C_FIXED)
			shmap_opts_set_owner(o, -1);
		shmap_info *in = NULL;
		int rc = shmap_info_open(NULL, o, &in);
		if (rc == SHMAP_OK) {
			uint64_t acc = 0;
			for (uint32_t f = 0; f <= 21; f++)
				acc += shmap_info_field(in, f);
			(void)shmap_kind_name((uint32_t)shmap_info_field(in, SHMAP_INFO_KIND));
			uint64_t np = shmap_info_field(in, SHMAP_INFO_MAX_PROCS);
			for (uint64_t s = 0; s <= np + 1 && s < 5000; s++) {
				uint32_t pid, alive;
				uint64_t stt;
				(void)shmap_info_participant(in, (uint32_t)s, &pid, &stt, &alive);
			}
			(void)shmap_info_participant(in, UINT32_MAX, NULL, NULL, NULL);
			(void)acc;
			shmap_info_free(in);
		} else if (in) {
			abort(); /* untouched on failure */
		}
		shmap_opts_free(o);
	}
	/* Inspection must never write. */
	if (len) {
		uint8_t *after = malloc(len);
		if (after) {
			if (pread(fd, after, len, 0) == (ssize_t)len && memcmp(after, buf, len) != 0)
				abort();
			free(after);
		}
	}
	close(fd);
	free(buf);
	return 0;
}
