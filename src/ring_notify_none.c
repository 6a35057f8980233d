/* SPDX-License-Identifier: MIT */
/*
 * ring_notify_none.c - shmap_ring_notify_fd() and shmap_ring_notify_arm()
 * where the platform layer has no kernel wait on shared words that a wake
 * ends at once (SHMAP_PLAT_FUTEX = 0: the portable polling waits, or a build
 * forced to them). The descriptor's waiter thread (ring_notify.c) sleeps on
 * many rings' event words at once with futex_waitv and signals an eventfd;
 * without both it would have to poll every armed ring, so the calls report
 * SHMAP_E_NOTSUP instead and the blocking calls remain.
 */
#include <stddef.h>

#include "ring-internal.h"

void shmap__ring_notify_drop(struct shmap_ring *r)
{
	(void)r; /* no descriptor is ever made */
}

SHMAP_API int shmap_ring_notify_fd(shmap_ring *r, int *fd)
{
	if (!r || !fd)
		return SHMAP_E_INVAL;
	return SHMAP_E_NOTSUP;
}

SHMAP_API int shmap_ring_notify_arm(shmap_ring *r)
{
	if (!r)
		return SHMAP_E_INVAL;
	return SHMAP_E_NOTSUP;
}
