/* SPDX-License-Identifier: MIT */
/**
 * @file status.h
 * @brief Status codes returned by every fallible shmap call.
 *
 * Every call that can fail returns an `int`: 0 (::SHMAP_OK) on success, a
 * positive informational value where a call documents one, and a negative
 * `SHMAP_E_*` code on failure, so callers test `rc < 0`.
 *
 * The numeric values are pinned and identical on every platform: bindings may
 * copy them into their own constant tables. New codes are only ever appended;
 * no value is reused. They live in their own range (-1001 and below) so that a
 * stray `-errno` is never mistaken for a shmap code.
 *
 * When a failure comes from a system call (::SHMAP_E_SYS, ::SHMAP_E_NOSPC,
 * ::SHMAP_E_ACCESS, ::SHMAP_E_NOENT, ...), `errno` is left as that system call
 * set it, so the cause is never lost. shmap keeps no other "last error" state.
 */
#ifndef SHMAP_STATUS_H
#define SHMAP_STATUS_H

#include <shmap/common.h>

SHMAP_BEGIN_DECLS

/** Status codes. The enum only names constants: functions return `int`. */
enum shmap_status {
	SHMAP_OK = 0,               /**< success */
	SHMAP_RECOVERED = 1,        /**< success, after recovering state a dead process left */

	SHMAP_E_INVAL = -1001,      /**< invalid argument: NULL, zero or absurd size, bad flags */
	SHMAP_E_NOMEM = -1002,      /**< process-local memory allocation failed */
	SHMAP_E_NOSPC = -1003,      /**< no space left on the device backing the segment */
	SHMAP_E_EXIST = -1004,      /**< segment (or key, for an insert) already exists */
	SHMAP_E_NOENT = -1005,      /**< no such segment */
	SHMAP_E_NOTFOUND = -1006,   /**< key not found */
	SHMAP_E_FULL = -1007,       /**< structure full */
	SHMAP_E_EMPTY = -1008,      /**< structure empty */
	SHMAP_E_TIMEOUT = -1009,    /**< a bounded wait reached its deadline */
	SHMAP_E_BUSY = -1010,       /**< held by another live process (role, lock, in-flight write) */
	SHMAP_E_INCOMPAT = -1011,   /**< segment of another kind or with other parameters */
	SHMAP_E_CORRUPT = -1012,    /**< segment contents violate an invariant */
	SHMAP_E_ACCESS = -1013,     /**< permission denied, or an unsafe object (symlink, foreign owner) */
	SHMAP_E_RANGE = -1014,      /**< index out of range */
	SHMAP_E_TOOBIG = -1015,     /**< key, value or element longer than the segment allows */
	SHMAP_E_OVERRUN = -1016,    /**< a broadcast subscriber was lapped and lost items */
	SHMAP_E_SYS = -1017,        /**< another system call failure; see errno */
	SHMAP_E_VERSION = -1018,    /**< segment format version or layout descriptor differs */
	SHMAP_E_BADMAGIC = -1019,   /**< not a shmap segment */
	SHMAP_E_TRUNCATED = -1020,  /**< backing object shorter than its header says */
	SHMAP_E_NOTREADY = -1021,   /**< segment still being built, or its builder died */
	SHMAP_E_FORKED = -1022,     /**< handle used in a child after fork(); reattach first */
	SHMAP_E_NAMETOOLONG = -1023,/**< segment name too long */
	SHMAP_E_BUFSIZE = -1024,    /**< output buffer too small */
	SHMAP_E_NOTSUP = -1025,     /**< operation not supported by this kind or platform */
	SHMAP_E_PEERFAULT = -1026,  /**< another process shrank the backing file under us; the handle is poisoned */
	SHMAP_E_ABORTED = -1027,    /**< an update callback aborted; nothing changed */
	SHMAP_E_MISMATCH = -1028,   /**< compare-and-swap: current value differs from expected */
	SHMAP_E_NOTATTACHED = -1029,/**< the handle holds no role needed by this call */
	SHMAP_E_PEERDEAD = -1030    /**< the peer a ring end waits for died (reported once per death) */
};

/**
 * @brief Human-readable description of a status code.
 * @param[in] code any value returned by a shmap call
 * @return a static string, never NULL ("unknown shmap status" for unknown codes).
 *
 * Concurrency: safe from any thread. Never blocks.
 */
SHMAP_API const char *shmap_strerror(int code);

/**
 * @brief Symbolic name of a status code, e.g. "SHMAP_E_FULL".
 * @param[in] code any value returned by a shmap call
 * @return a static string, never NULL ("SHMAP_E_UNKNOWN" for unknown codes).
 *
 * Concurrency: safe from any thread. Never blocks.
 */
SHMAP_API const char *shmap_errname(int code);

SHMAP_END_DECLS

#endif /* SHMAP_STATUS_H */
