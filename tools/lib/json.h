/* SPDX-License-Identifier: MIT */
/* The JSON writer of shmap's programs: see json.c. */
#ifndef SHMAP_TOOLS_JSON_H
#define SHMAP_TOOLS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Start a document on `out` (stdout when never called). */
void j_begin(FILE *out);
/* Open / close an object ('{' '}') or array ('[' ']'). */
void j_open(char c);
void j_close(char c);
/* The key of the next value inside an object. */
void j_key(const char *k);
/* Values. j_str(NULL) writes null; j_strn writes n bytes as a string;
 * j_hex writes n bytes as a string of lowercase hex digits. */
void j_str(const char *s);
void j_strn(const void *s, size_t n);
void j_hex(const void *p, size_t n);
void j_u64(uint64_t v);
void j_i64(int64_t v);
void j_bool(int v);
void j_null(void);
void j_double(double v); /* four decimals; NaN and infinities as null */
/* A number with `digits` significant digits (1..17, as printf's %.*g); NaN
 * and infinities, which JSON cannot hold, as null. */
void j_real(double v, int digits);
/* Key and value in one call. */
void jk_str(const char *k, const char *s);
void jk_u64(const char *k, uint64_t v);
void jk_bool(const char *k, int v);
/* End the document: a newline (one document per line). */
void j_end_doc(void);

#endif
