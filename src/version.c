/* SPDX-License-Identifier: MIT */
#include <shmap/version.h>

#include "segment-internal.h"

SHMAP_API uint32_t shmap_version(void)
{
	return SHMAP_VERSION_NUMBER;
}

SHMAP_API const char *shmap_version_string(void)
{
	return SHMAP_VERSION_STRING;
}

SHMAP_API uint32_t shmap_layout_version(void)
{
	return SHMAP__LAYOUT_VERSION;
}
