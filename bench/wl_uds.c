/* SPDX-License-Identifier: MIT */
/*
 * wl_uds.c - the transport users would otherwise pick between two processes
 * on one host: a Unix-domain stream socket pair, moving the same messages as
 * the ring workloads between the same two pinned processes.
 *
 * uds-64, uds-4096  the parent creates socketpair(AF_UNIX, SOCK_STREAM)
 *               before fork (default buffer sizes, blocking descriptors);
 *               process 0 writes one message per write() (the
 *               message-at-a-time call, like shmap_ring_push), process 1
 *               reads whatever is there into a 64 KiB buffer and checks
 *               every message in it (how a stream reader is written: the
 *               most favourable way for the socket). Messages are those of
 *               bench_msg_fill(); every one is checked and counted.
 *
 * Also the helpers shared by every message-size workload (this file is
 * always built): the size of a run and its finish (items_per_s, gb_per_s).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

size_t bench_msg_size(const struct bench_run *r)
{
	if (r->o->elem_size && (r->wl->opts & BENCH_OPT_ELEM_SIZE))
		return r->o->elem_size;
	const char *d = strchr(r->wl->name, '-');
	return d ? (size_t)strtoul(d + 1, NULL, 10) : 0;
}

int bench_msg_finish(struct bench_run *r)
{
	struct bench_slot *c = &r->ctl->slot[1];
	if (c->count != r->n)
		return bench_fail(r, "consumer received %llu messages, expected %llu",
				  (unsigned long long)c->count, (unsigned long long)r->n);
	double s = bench_span_s(r, 0, 2);
	bench_metric(r, "items_per_s", (double)r->n / s);
	bench_metric(r, "gb_per_s", (double)r->n * (double)bench_msg_size(r) / s * 1e-9);
	return 0;
}

/* ---- uds-* ---- */

#define UDS_RBUF (64u * 1024u)

struct uds_priv {
	int fd[2];
};

static int uds_prepare(struct bench_run *r)
{
	size_t size = bench_msg_size(r);
	r->n = bench_msg_items(r->o, size, 1);
	bench_param_u64(r, "elem_size", size);
	bench_param_str(r, "transport", "socketpair(AF_UNIX, SOCK_STREAM)");
	bench_param_str(r, "write", "one message per write()");
	bench_param_str(r, "read", "up to %u bytes per read()", UDS_RBUF);
	struct uds_priv *p = malloc(sizeof *p);
	if (!p)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd) != 0) {
		fprintf(stderr, "shmap-bench: %s: socketpair: %s\n", r->wl->name, strerror(errno));
		free(p);
		return -1;
	}
	r->priv = p;
	return 0;
}

static void uds_cleanup(struct bench_run *r)
{
	struct uds_priv *p = r->priv;
	if (!p)
		return;
	close(p->fd[0]);
	close(p->fd[1]);
	free(p);
	r->priv = NULL;
}

static int uds_child(struct bench_run *r, int idx)
{
	struct uds_priv *p = r->priv;
	const size_t size = bench_msg_size(r);
	const uint64_t n = r->n;
	int fd = p->fd[idx];
	close(p->fd[1 - idx]);
	/* the reader's buffer holds whole messages plus one partial one */
	size_t cap = UDS_RBUF > 2 * size ? UDS_RBUF : 2 * size;
	uint64_t *buf = aligned_alloc(64, (cap + 63) & ~(size_t)63);
	if (!buf)
		return bench_fail(r, "out of memory");
	memset(buf, 0, cap);
	bench_start(r);
	if (idx == 0) {
		for (uint64_t i = 0; i < n; i++) {
			bench_msg_fill(buf, size, i);
			size_t off = 0;
			while (off < size) {
				ssize_t w = write(fd, (char *)buf + off, size - off);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					int e = errno;
					free(buf);
					return bench_fail(r, "write of message %llu: %s",
							  (unsigned long long)i, strerror(e));
				}
				off += (size_t)w;
			}
		}
	} else {
		uint64_t next = 0;
		size_t have = 0; /* bytes in buf, from the start of message `next` */
		while (next < n) {
			ssize_t got = read(fd, (char *)buf + have, cap - have);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				int e = errno;
				free(buf);
				return bench_fail(r, "read after %llu messages: %s", (unsigned long long)next,
						  got == 0 ? "end of stream" : strerror(e));
			}
			have += (size_t)got;
			size_t off = 0;
			for (; have - off >= size; off += size, next++) {
				if (next >= n || !bench_msg_ok((char *)buf + off, size, next)) {
					free(buf);
					return bench_fail(r, "message %llu: wrong contents",
							  (unsigned long long)next);
				}
			}
			/* keep the partial message at the start (8-byte aligned: size is) */
			if (off && have > off)
				memmove(buf, (char *)buf + off, have - off);
			have -= off;
		}
		if (have) {
			free(buf);
			return bench_fail(r, "%zu bytes beyond the last message", have);
		}
		r->ctl->slot[1].count = next;
	}
	bench_stop(r);
	free(buf);
	close(fd);
	return 0;
}

const struct bench_wl bench_wl_uds[] = {
	{ .name = "uds-64", .group = "base", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = uds_prepare, .child = uds_child, .finish = bench_msg_finish,
	  .cleanup = uds_cleanup, .opts = BENCH_OPT_ELEM_SIZE },
	{ .name = "uds-4096", .group = "base", .cross = 1, .nprocs = bench_two_procs,
	  .prepare = uds_prepare, .child = uds_child, .finish = bench_msg_finish,
	  .cleanup = uds_cleanup, .opts = BENCH_OPT_ELEM_SIZE },
	{ 0 }
};
