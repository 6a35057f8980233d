/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <shmap/shmap.h>

/* Every code has a distinct name and message; values are pinned. */
static const int codes[] = {
	SHMAP_OK, SHMAP_RECOVERED, SHMAP_E_INVAL, SHMAP_E_NOMEM, SHMAP_E_NOSPC, SHMAP_E_EXIST,
	SHMAP_E_NOENT, SHMAP_E_NOTFOUND, SHMAP_E_FULL, SHMAP_E_EMPTY, SHMAP_E_TIMEOUT,
	SHMAP_E_BUSY, SHMAP_E_INCOMPAT, SHMAP_E_CORRUPT, SHMAP_E_ACCESS, SHMAP_E_RANGE,
	SHMAP_E_TOOBIG, SHMAP_E_OVERRUN, SHMAP_E_SYS, SHMAP_E_VERSION, SHMAP_E_BADMAGIC,
	SHMAP_E_TRUNCATED, SHMAP_E_NOTREADY, SHMAP_E_FORKED, SHMAP_E_NAMETOOLONG,
	SHMAP_E_BUFSIZE, SHMAP_E_NOTSUP, SHMAP_E_PEERFAULT, SHMAP_E_ABORTED, SHMAP_E_MISMATCH,
	SHMAP_E_NOTATTACHED,
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static void test_names_unique(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCODES; i++) {
		const char *n = shmap_errname(codes[i]);
		const char *m = shmap_strerror(codes[i]);
		assert_non_null(n);
		assert_non_null(m);
		assert_string_not_equal(n, "SHMAP_E_UNKNOWN");
		assert_string_not_equal(m, "unknown shmap status");
		assert_true(strncmp(n, "SHMAP_", 6) == 0);
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(n, shmap_errname(codes[j]));
			assert_string_not_equal(m, shmap_strerror(codes[j]));
		}
	}
}

static void test_pinned_values(void **state)
{
	(void)state;
	/* Bindings copy these numbers: they must never move. */
	assert_int_equal(SHMAP_OK, 0);
	assert_int_equal(SHMAP_RECOVERED, 1);
	assert_int_equal(SHMAP_E_INVAL, -1001);
	assert_int_equal(SHMAP_E_FULL, -1007);
	assert_int_equal(SHMAP_E_SYS, -1017);
	assert_int_equal(SHMAP_E_NOTATTACHED, -1029);
	/* Failure codes are contiguous from -1001 down: nothing was inserted. */
	for (size_t i = 2; i < NCODES; i++)
		assert_int_equal(codes[i], -1001 - (int)(i - 2));
	assert_string_equal(shmap_errname(SHMAP_E_FULL), "SHMAP_E_FULL");
}

static void test_unknown(void **state)
{
	(void)state;
	assert_string_equal(shmap_errname(-5), "SHMAP_E_UNKNOWN");
	assert_string_equal(shmap_strerror(12345), "unknown shmap status");
	assert_string_equal(shmap_errname(-1000), "SHMAP_E_UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_unique),
		cmocka_unit_test(test_pinned_values),
		cmocka_unit_test(test_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
