/* SPDX-License-Identifier: MIT */
/*
 * test_vector_wrap.c - a reader descheduled across exactly as many
 * replacements as it takes the slot version to come back must not accept a
 * torn copy.
 *
 * Built against the private test build of the library (test hooks): the
 * hook "vector.get.half" runs in the middle of a reader's copy. There the
 * test replaces the element twice (the second replacement rewrites the very
 * buffer the reader is copying), then accounts 2^29 - 2 further
 * replacements with shmap__vector_test_skip_versions(): with a 29-bit
 * version in the slot word, the word is then exactly what the reader saw
 * before its copy and it accepted half of one element and half of another.
 * The 64-bit version cannot come back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <shmap/shmap.h>

#include "torture.h"
#include "vector_rec.h"

/* Test-only symbols of the private test build (src/internal.h, src/vector.c). */
extern void (*shmap__test_hook)(const char *point, void *obj, uint64_t arg);
int shmap__vector_test_skip_versions(shmap_vector *v, uint64_t i, uint64_t k);

#define ESZ 64u
#define NAMELEN 96

static struct {
	int armed;
	uint64_t skip;
	uint8_t b[ESZ], c[ESZ];
} g;

static void hook(const char *point, void *obj, uint64_t arg)
{
	if (!g.armed || strcmp(point, "vector.get.half") != 0)
		return;
	g.armed = 0; /* the replacements' own reads below must not re-enter */
	shmap_vector *v = obj;
	assert_int_equal(shmap_vector_replace(v, arg, g.b), SHMAP_OK);
	assert_int_equal(shmap_vector_replace(v, arg, g.c), SHMAP_OK); /* the copy being read */
	assert_int_equal(shmap__vector_test_skip_versions(v, arg, g.skip), SHMAP_OK);
}

static void run(uint64_t skip)
{
	char name[NAMELEN];
	th_name(name, sizeof name, "vec-wrap");
	shmap_vector *v;
	assert_int_equal(shmap_vector_open(name, SHMAP_CREATE, ESZ, 4, NULL, &v), SHMAP_OK);
	uint8_t a[ESZ], o[ESZ];
	vr_make(a, ESZ, 1, 1, 100);
	vr_make(g.b, ESZ, 2, 2, 200);
	vr_make(g.c, ESZ, 3, 3, 300);
	assert_int_equal(shmap_vector_push(v, a, NULL), SHMAP_OK);
	g.skip = skip;
	g.armed = 1;
	shmap__test_hook = hook;
	int rc = shmap_vector_get(v, 0, o);
	shmap__test_hook = NULL;
	assert_int_equal(g.armed, 0); /* the hook ran */
	assert_int_equal(rc, SHMAP_OK);
	uint32_t tag = 0;
	assert_int_equal(vr_check(o, ESZ, NULL, &tag, NULL), 0); /* not torn */
	assert_int_equal(tag, 3); /* the current element */
	/* and the slot keeps working past the skipped range */
	assert_int_equal(shmap_vector_replace(v, 0, a), SHMAP_OK);
	assert_int_equal(shmap_vector_get(v, 0, o), SHMAP_OK);
	assert_int_equal(memcmp(o, a, ESZ), 0);
	uint64_t problems = 0;
	assert_int_equal(shmap_vector_check(v, 0, &problems), SHMAP_OK);
	assert_int_equal(problems, 0);
	shmap_vector_close(v);
	assert_int_equal(shmap_unlink(name, NULL), SHMAP_OK);
}

/* Two real replacements plus 2^29 - 2 accounted ones: 2^29 in all. */
static void test_reader_across_2_29(void **state)
{
	(void)state;
	run((UINT64_C(1) << 29) - 2u);
}

/* No skip: the plain torn-copy detection still works. */
static void test_reader_two_replacements(void **state)
{
	(void)state;
	run(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_two_replacements),
		cmocka_unit_test(test_reader_across_2_29),
	};
	return cmocka_run_group_tests_name("vector-wrap", tests, NULL, NULL);
}
