/* SPDX-License-Identifier: MIT */
/* status.c - names and descriptions of status codes (one table). */
#include <shmap/status.h>

#define SHMAP_STATUS_TABLE(X)                                                            \
	X(SHMAP_OK, "success")                                                           \
	X(SHMAP_RECOVERED, "success after recovering state left by a dead process")      \
	X(SHMAP_E_INVAL, "invalid argument")                                             \
	X(SHMAP_E_NOMEM, "out of process memory")                                        \
	X(SHMAP_E_NOSPC, "no space left for the segment")                                \
	X(SHMAP_E_EXIST, "already exists")                                               \
	X(SHMAP_E_NOENT, "no such segment")                                              \
	X(SHMAP_E_NOTFOUND, "key not found")                                             \
	X(SHMAP_E_FULL, "full")                                                          \
	X(SHMAP_E_EMPTY, "empty")                                                        \
	X(SHMAP_E_TIMEOUT, "timed out")                                                  \
	X(SHMAP_E_BUSY, "busy: held by another live process")                            \
	X(SHMAP_E_INCOMPAT, "segment has another kind or other parameters")              \
	X(SHMAP_E_CORRUPT, "segment is corrupt")                                         \
	X(SHMAP_E_ACCESS, "permission denied or unsafe object")                          \
	X(SHMAP_E_RANGE, "index out of range")                                           \
	X(SHMAP_E_TOOBIG, "key, value or element too large")                             \
	X(SHMAP_E_OVERRUN, "subscriber was overrun and missed items")                    \
	X(SHMAP_E_SYS, "system call failed (see errno)")                                 \
	X(SHMAP_E_VERSION, "segment format version or layout differs")                   \
	X(SHMAP_E_BADMAGIC, "not a shmap segment")                                       \
	X(SHMAP_E_TRUNCATED, "segment file is shorter than its header says")             \
	X(SHMAP_E_NOTREADY, "segment is not ready (being built, or its builder died)")   \
	X(SHMAP_E_FORKED, "handle used after fork(): reattach first")                    \
	X(SHMAP_E_NAMETOOLONG, "segment name too long")                                  \
	X(SHMAP_E_BUFSIZE, "output buffer too small")                                    \
	X(SHMAP_E_NOTSUP, "operation not supported")                                     \
	X(SHMAP_E_PEERFAULT, "another process shrank the segment")                       \
	X(SHMAP_E_ABORTED, "aborted by the callback; nothing changed")                   \
	X(SHMAP_E_MISMATCH, "current value differs from the expected one")               \
	X(SHMAP_E_NOTATTACHED, "handle does not hold the role this call needs")         \
	X(SHMAP_E_PEERDEAD, "the peer this ring end waits for died")

SHMAP_API const char *shmap_strerror(int code)
{
	switch (code) {
#define X(c, s) \
	case c: \
		return s;
		SHMAP_STATUS_TABLE(X)
#undef X
	default:
		return "unknown shmap status";
	}
}

SHMAP_API const char *shmap_errname(int code)
{
	switch (code) {
#define X(c, s) \
	case c: \
		return #c;
		SHMAP_STATUS_TABLE(X)
#undef X
	default:
		return "SHMAP_E_UNKNOWN";
	}
}
