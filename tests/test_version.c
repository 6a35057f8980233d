/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include <shmap/shmap.h>

static void test_runtime_matches_headers(void **state)
{
	(void)state;
	assert_int_equal(shmap_version(), SHMAP_VERSION_NUMBER);
	assert_string_equal(shmap_version_string(), SHMAP_VERSION_STRING);
	char buf[32];
	snprintf(buf, sizeof(buf), "%d.%d.%d", SHMAP_VERSION_MAJOR, SHMAP_VERSION_MINOR,
		 SHMAP_VERSION_PATCH);
	assert_string_equal(buf, shmap_version_string());
	assert_true(SHMAP_CHECK_VERSION(0, 1, 0));
	assert_false(SHMAP_CHECK_VERSION(SHMAP_VERSION_MAJOR + 1, 0, 0));
	assert_true(shmap_layout_version() >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runtime_matches_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
