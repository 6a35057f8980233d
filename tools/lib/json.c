/* SPDX-License-Identifier: MIT */
/*
 * A small JSON writer for shmap's programs (shmapctl, shmap-bench): one
 * document at a time, written as it is built, to the stream given to
 * j_begin() (stdout by default). Strings are escaped per RFC 8259; bytes
 * that are not valid UTF-8 are written as \u00XX, so every document is
 * valid JSON whatever bytes a segment holds. Not thread-safe: one writer
 * per program.
 */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#define J_MAX_DEPTH 32
static FILE *j_out; /* NULL: stdout */
static int j_depth;
static int j_first[J_MAX_DEPTH];
static int j_key_pending;

static FILE *out(void)
{
	return j_out ? j_out : stdout;
}

static void j_pre(void)
{
	if (j_key_pending) {
		j_key_pending = 0;
		return;
	}
	if (j_depth > 0) {
		if (!j_first[j_depth])
			putc(',', out());
		j_first[j_depth] = 0;
	}
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned char c = p[0];
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) || /* overlong, surrogates */
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))
		return 0;
	return len;
}

/*
 * A JSON string: valid UTF-8 is copied, control characters and DEL are
 * escaped, and each byte of an invalid sequence becomes \u00XX (so the
 * document is always valid, at the price of reading such bytes as Latin-1).
 */
static void put_str(const void *s, size_t n)
{
	const unsigned char *p = s;
	putc('"', out());
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t l = utf8_len(p + i, n - i);
			if (l) {
				fwrite(p + i, 1, l, out());
				i += l - 1;
			} else {
				fprintf(out(), "\\u%04x", c);
			}
			continue;
		}
		switch (c) {
		case '"': fputs("\\\"", out()); break;
		case '\\': fputs("\\\\", out()); break;
		case '\n': fputs("\\n", out()); break;
		case '\r': fputs("\\r", out()); break;
		case '\t': fputs("\\t", out()); break;
		case '\b': fputs("\\b", out()); break;
		case '\f': fputs("\\f", out()); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(out(), "\\u%04x", c);
			else
				putc(c, out());
		}
	}
	putc('"', out());
}

void j_open(char c)
{
	j_pre();
	putc(c, out());
	if (j_depth < J_MAX_DEPTH - 1)
		j_depth++;
	j_first[j_depth] = 1;
}

void j_close(char c)
{
	putc(c, out());
	if (j_depth > 0)
		j_depth--;
}

void j_key(const char *k)
{
	j_pre();
	put_str(k, strlen(k));
	putc(':', out());
	j_key_pending = 1;
}

void j_str(const char *s)
{
	j_pre();
	if (s)
		put_str(s, strlen(s));
	else
		fputs("null", out());
}

void j_u64(uint64_t v)
{
	j_pre();
	fprintf(out(), "%" PRIu64, v);
}

void j_i64(int64_t v)
{
	j_pre();
	fprintf(out(), "%" PRId64, v);
}

void j_bool(int v)
{
	j_pre();
	fputs(v ? "true" : "false", out());
}

void j_null(void)
{
	j_pre();
	fputs("null", out());
}

void j_double(double v)
{
	j_pre();
	if (isfinite(v))
		fprintf(out(), "%.4f", v);
	else
		fputs("null", out());
}

void j_real(double v, int digits)
{
	j_pre();
	if (digits < 1)
		digits = 1;
	else if (digits > 17)
		digits = 17;
	if (isfinite(v))
		fprintf(out(), "%.*g", digits, v);
	else
		fputs("null", out());
}

void jk_str(const char *k, const char *s)
{
	j_key(k);
	j_str(s);
}
void jk_u64(const char *k, uint64_t v)
{
	j_key(k);
	j_u64(v);
}
void jk_bool(const char *k, int v)
{
	j_key(k);
	j_bool(v);
}


void j_end_doc(void)
{
	putc('\n', out());
}

void j_begin(FILE *out)
{
	j_out = out;
	j_depth = 0;
	j_first[0] = 1;
	j_key_pending = 0;
}

void j_strn(const void *s, size_t n)
{
	j_pre();
	put_str(s, n);
}

void j_hex(const void *p, size_t n)
{
	const unsigned char *b = p;
	j_pre();
	putc('"', out());
	for (size_t i = 0; i < n; i++)
		fprintf(out(), "%02x", b[i]);
	putc('"', out());
}
