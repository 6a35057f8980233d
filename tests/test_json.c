/* SPDX-License-Identifier: MIT */
/*
 * test_json.c - the JSON writer of shmapctl and shmap-bench (tools/lib):
 * every string is escaped (quotes, backslashes, control bytes, bytes that
 * are not valid UTF-8), valid UTF-8 is kept, members and elements get their
 * commas, numbers that JSON cannot hold are null. Each case compares the
 * exact document written.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static char *g_buf;
static size_t g_len;
static FILE *g_f;

static void begin(void)
{
	g_f = open_memstream(&g_buf, &g_len);
	assert_non_null(g_f);
	j_begin(g_f);
}

/* End the document and compare it with `want` (its trailing newline too). */
static void expect(const char *want)
{
	j_end_doc();
	assert_int_equal(fclose(g_f), 0);
	assert_string_equal(g_buf, want);
	free(g_buf);
	g_buf = NULL;
}

static void test_escapes(void **state)
{
	(void)state;
	begin();
	j_open('[');
	j_str("say \"hi\" \\ there");
	j_str("tab\tnl\nret\rbs\bff\f");
	j_str("\x01\x1f\x7f");
	j_str(NULL);
	j_close(']');
	expect("[\"say \\\"hi\\\" \\\\ there\",\"tab\\tnl\\nret\\rbs\\bff\\f\","
	       "\"\\u0001\\u001f\\u007f\",null]\n");
}

static void test_utf8(void **state)
{
	(void)state;
	begin();
	j_open('[');
	j_str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"); /* valid: kept */
	j_str("raw-\xff");                                   /* invalid byte */
	j_str("\xc3");                                       /* cut sequence */
	j_str("\xc0\xaf");                                   /* overlong '/' */
	j_str("\xed\xa0\x80");                               /* a surrogate */
	j_strn("a\0b", 3);                                   /* a NUL inside */
	j_close(']');
	expect("[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"raw-\\u00ff\",\"\\u00c3\","
	       "\"\\u00c0\\u00af\",\"\\u00ed\\u00a0\\u0080\",\"a\\u0000b\"]\n");
}

static void test_structure(void **state)
{
	(void)state;
	begin();
	j_open('{');
	jk_str("k\"ey", "v");
	jk_u64("n", UINT64_MAX);
	j_key("i");
	j_i64(-5);
	jk_bool("t", 1);
	j_key("a");
	j_open('[');
	j_open('{');
	j_close('}');
	j_open('[');
	j_close(']');
	j_null();
	j_close(']');
	j_key("h");
	j_hex("\x00\xab", 2);
	j_close('}');
	expect("{\"k\\\"ey\":\"v\",\"n\":18446744073709551615,\"i\":-5,\"t\":true,"
	       "\"a\":[{},[],null],\"h\":\"00ab\"}\n");
}

static void test_numbers(void **state)
{
	(void)state;
	begin();
	j_open('[');
	j_real(41234567.0, 6);
	j_real(63.25, 4);
	j_real(0.8, 3);
	j_real(NAN, 6);
	j_real(INFINITY, 6);
	j_double(1.5);
	j_double(-INFINITY);
	j_close(']');
	expect("[4.12346e+07,63.25,0.8,null,null,1.5000,null]\n");
}

/* Documents one after the other: each starts afresh. */
static void test_documents(void **state)
{
	(void)state;
	begin();
	j_open('{');
	jk_u64("a", 1);
	j_close('}');
	j_end_doc();
	j_open('{');
	jk_u64("b", 2);
	j_close('}');
	expect("{\"a\":1}\n{\"b\":2}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
