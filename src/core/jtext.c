#include "core/jtext.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_SMALL 256	/* decoded strings, number texts up to this: no allocation */
#define DUMP_SMALL 1024		/* jtext_dumps(): one pass up to this */

/* --- UTF-8 ----------------------------------------------------------- */

/*
 * The length of the well-formed UTF-8 sequence at ${p} (before ${end}), or
 * 0: no overlong forms, no surrogates (U+D800..U+DFFF), nothing past
 * U+10FFFF.
 */
static size_t
utf8_seq(const unsigned char *p, const unsigned char *end)
{
	uint32_t cp;
	size_t n, i;

	if (p[0] < 0x80)
		return (1);
	if (p[0] < 0xc2)
		return (0);	/* a continuation byte, or an overlong 2-byte form */
	if (p[0] < 0xe0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] < 0xf0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] < 0xf5) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return (0);
	if ((size_t)(end - p) < n)
		return (0);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (n);
}

/* ${cp} (a scalar value, not 0) as UTF-8 at ${out}; returns the length. */
static size_t
utf8_put(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return (1);
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return (2);
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return (3);
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return (4);
}

/* --- reading ---------------------------------------------------------- */

/*
 * The parser's state.  A string with escapes is decoded into small (or heap
 * when longer), valid until the next string; an object key so decoded is
 * then pushed on keys until its value has been read, here and not in the
 * frame of parse_object(), which recursion repeats up to JTEXT_DEPTH_MAX
 * times on the reading thread's stack.
 */
struct ps {
	const unsigned char *p, *end;
	enum jtext_error err;
	char *heap;		/* decoded strings longer than small */
	size_t heapcap;
	char *keys;		/* the keys stack: keysmall, or malloc'd */
	size_t keyslen;
	size_t keyscap;
	const char *str;	/* scan_string()'s result */
	size_t strn;
	char small[SCRATCH_SMALL];
	char keysmall[SCRATCH_SMALL];
};

static json_t *parse_value(struct ps *s, unsigned depth);

static void *
fail(struct ps *s, enum jtext_error e)
{
	if (s->err == JTEXT_OK)
		s->err = e;
	return (NULL);
}

static void
skip_ws(struct ps *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
hex4(const unsigned char *p, const unsigned char *end, uint32_t *v)
{
	int i, d;

	if (end - p < 4)
		return (-1);
	*v = 0;
	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return (-1);
		*v = *v << 4 | (uint32_t)d;
	}
	return (0);
}

/*
 * The string whose opening quote is at s->p: its text (valid UTF-8, no NUL)
 * in s->str and s->strn, s->p past the closing quote.  The text is the
 * input itself when it has no escapes, else a decoding in s->small or, if it
 * does not fit, in s->heap, valid until the next string.  (Results in the
 * state, not through pointers to the caller's locals: no frame on the
 * recursion holds more than it must.)
 */
static int
scan_string(struct ps *s)
{
	const unsigned char *p = s->p + 1, *start = p, *end = s->end, *q;
	uint32_t cp, lo;
	char *d;
	size_t n, o, need;

	/* No escapes: the text is the input. */
	for (;;) {
		if (p >= end)
			return (fail(s, JTEXT_SYNTAX), -1);
		if (*p == '"') {
			s->str = (const char *)start;
			s->strn = (size_t)(p - start);
			s->p = p + 1;
			return (0);
		}
		if (*p == '\\')
			break;
		if (*p < 0x20)
			return (fail(s, JTEXT_SYNTAX), -1);
		if (*p < 0x80)
			p++;
		else if ((n = utf8_seq(p, end)) == 0)
			return (fail(s, JTEXT_SYNTAX), -1);
		else
			p += n;
	}

	/* Escapes shrink text: the string's own bytes bound the decoding.
	 * Its end is the first quote not escaped (or the input's end). */
	for (q = p; q < end && *q != '"'; q++)
		if (*q == '\\' && q + 1 < end)
			q++;
	need = (size_t)(q - start);
	if (need <= sizeof(s->small))
		d = s->small;
	else {
		if (need > s->heapcap) {
			free(s->heap);
			s->heapcap = 0;
			if ((s->heap = malloc(need)) == NULL)
				return (fail(s, JTEXT_NOMEM), -1);
			s->heapcap = need;
		}
		d = s->heap;
	}
	o = (size_t)(p - start);
	memcpy(d, start, o);
	for (;;) {
		if (p >= end)
			return (fail(s, JTEXT_SYNTAX), -1);
		if (*p == '"')
			break;
		if (*p < 0x20)
			return (fail(s, JTEXT_SYNTAX), -1);
		if (*p != '\\') {
			if ((n = utf8_seq(p, end)) == 0)
				return (fail(s, JTEXT_SYNTAX), -1);
			memcpy(d + o, p, n);
			o += n;
			p += n;
			continue;
		}
		if (++p >= end)
			return (fail(s, JTEXT_SYNTAX), -1);
		switch (*p++) {
		case '"': d[o++] = '"'; continue;
		case '\\': d[o++] = '\\'; continue;
		case '/': d[o++] = '/'; continue;
		case 'b': d[o++] = '\b'; continue;
		case 'f': d[o++] = '\f'; continue;
		case 'n': d[o++] = '\n'; continue;
		case 'r': d[o++] = '\r'; continue;
		case 't': d[o++] = '\t'; continue;
		case 'u': break;
		default: return (fail(s, JTEXT_SYNTAX), -1);
		}
		if (hex4(p, end, &cp) != 0)
			return (fail(s, JTEXT_SYNTAX), -1);
		p += 4;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			/* A high surrogate: its low half must follow. */
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) != 0 ||
			    lo < 0xdc00 || lo > 0xdfff)
				return (fail(s, JTEXT_SYNTAX), -1);
			p += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0)
			return (fail(s, JTEXT_SYNTAX), -1);
		o += utf8_put(cp, d + o);
	}
	s->p = p + 1;
	s->str = d;
	s->strn = o;
	return (0);
}

static int
is_digit(const unsigned char *p, const unsigned char *end)
{
	return (p < end && *p >= '0' && *p <= '9');
}

static json_t *
parse_number(struct ps *s)
{
	const unsigned char *p = s->p, *end = s->end;
	char *text, *e;
	int integral = 1;
	long long iv;
	double dv;
	json_t *v;
	size_t n;

	if (*p == '-')
		p++;
	if (!is_digit(p, end))
		return (fail(s, JTEXT_SYNTAX));
	if (*p == '0') {
		if (is_digit(++p, end))
			return (fail(s, JTEXT_SYNTAX));	/* a leading zero */
	} else
		while (is_digit(p, end))
			p++;
	if (p < end && *p == '.') {
		integral = 0;
		if (!is_digit(++p, end))
			return (fail(s, JTEXT_SYNTAX));
		while (is_digit(p, end))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		integral = 0;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!is_digit(p, end))
			return (fail(s, JTEXT_SYNTAX));
		while (is_digit(p, end))
			p++;
	}

	/* strtoll() and strtod() want a terminated string: in the scratch
	 * (not a buffer in this frame, inlined into the recursion's). */
	n = (size_t)(p - s->p);
	if (n < sizeof(s->small))
		text = s->small;
	else if ((text = malloc(n + 1)) == NULL)
		return (fail(s, JTEXT_NOMEM));
	memcpy(text, s->p, n);
	text[n] = '\0';
	errno = 0;
	if (integral) {
		iv = strtoll(text, &e, 10);
		v = errno == ERANGE ? NULL : json_integer(iv);
	} else {
		dv = strtod(text, &e);
		v = (errno == ERANGE && (dv == HUGE_VAL || dv == -HUGE_VAL)) ? NULL : json_real(dv);
	}
	if (v == NULL)
		fail(s, errno == ERANGE ? JTEXT_RANGE : JTEXT_NOMEM);
	if (text != s->small)
		free(text);
	s->p = p;
	return (v);
}

/* A literal: true, false or null. */
static json_t *
parse_word(struct ps *s, const char *w, size_t n, json_t *v)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return (fail(s, JTEXT_SYNTAX));
	s->p += n;
	return (v);
}

/* Push the ${n} bytes at ${k} on s->keys; returns their offset there, or
 * SIZE_MAX (ENOMEM). */
static size_t
key_push(struct ps *s, const char *k, size_t n)
{
	size_t cap;
	char *nk;

	/* Every key on the stack was decoded from a distinct part of the
	 * input, so keyslen + n cannot exceed its length. */
	if (n > s->keyscap - s->keyslen) {
		cap = s->keyscap * 2 > s->keyslen + n ? s->keyscap * 2 : s->keyslen + n;
		if ((nk = malloc(cap)) == NULL)
			return (SIZE_MAX);
		memcpy(nk, s->keys, s->keyslen);
		if (s->keys != s->keysmall)
			free(s->keys);
		s->keys = nk;
		s->keyscap = cap;
	}
	memcpy(s->keys + s->keyslen, k, n);
	s->keyslen += n;
	return (s->keyslen - n);
}

static json_t *
parse_object(struct ps *s, unsigned depth)
{
	const char *k;
	size_t klen, koff;
	json_t *o, *v;

	if ((o = json_object()) == NULL)
		return (fail(s, JTEXT_NOMEM));
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return (o);
	}
	for (;;) {
		if (s->p >= s->end || *s->p != '"' || scan_string(s) != 0)
			goto err;
		k = s->str;
		klen = s->strn;
		/* A key decoded into the scratch would not survive its value:
		 * onto the keys stack, and read back from there after it (the
		 * stack may have moved). */
		koff = SIZE_MAX;
		if (k == s->small || (s->heap != NULL && k == s->heap)) {
			if ((koff = key_push(s, k, klen)) == SIZE_MAX) {
				fail(s, JTEXT_NOMEM);
				goto err;
			}
			k = s->keys + koff;
		}
		if (json_object_getn(o, k, klen) != NULL)
			goto err;	/* a duplicate key */
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			goto err;
		s->p++;
		if ((v = parse_value(s, depth + 1)) == NULL)
			goto err;
		if (koff != SIZE_MAX)
			k = s->keys + koff;
		if (json_object_setn_new_nocheck(o, k, klen, v) != 0) {
			fail(s, JTEXT_NOMEM);
			goto err;
		}
		if (koff != SIZE_MAX)
			s->keyslen = koff;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			return (o);
		}
		goto err;
	}
err:
	json_decref(o);
	return (fail(s, JTEXT_SYNTAX));
}

static json_t *
parse_array(struct ps *s, unsigned depth)
{
	json_t *a, *v;

	if ((a = json_array()) == NULL)
		return (fail(s, JTEXT_NOMEM));
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return (a);
	}
	for (;;) {
		if ((v = parse_value(s, depth + 1)) == NULL)
			goto err;
		if (json_array_append_new(a, v) != 0) {
			fail(s, JTEXT_NOMEM);
			goto err;
		}
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return (a);
		}
		goto err;
	}
err:
	json_decref(a);
	return (fail(s, JTEXT_SYNTAX));
}

/* The value at s->p (after whitespace); ${depth} counts it, as jansson's
 * parser does, so a scalar inside JTEXT_DEPTH_MAX arrays is one too many. */
static json_t *
parse_value(struct ps *s, unsigned depth)
{
	json_t *v;

	if (depth > JTEXT_DEPTH_MAX)
		return (fail(s, JTEXT_SYNTAX));
	skip_ws(s);
	if (s->p >= s->end)
		return (fail(s, JTEXT_SYNTAX));
	switch (*s->p) {
	case '{':
		return (parse_object(s, depth));
	case '[':
		return (parse_array(s, depth));
	case '"':
		if (scan_string(s) != 0)
			return (NULL);
		if ((v = json_stringn_nocheck(s->str, s->strn)) == NULL)
			return (fail(s, JTEXT_NOMEM));
		return (v);
	case 't':
		return (parse_word(s, "true", 4, json_true()));
	case 'f':
		return (parse_word(s, "false", 5, json_false()));
	case 'n':
		return (parse_word(s, "null", 4, json_null()));
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return (parse_number(s));
		return (fail(s, JTEXT_SYNTAX));
	}
}

/**
 * jtext_parse(p, n, flags, err):
 * The value of the ${n} bytes at ${p}, or NULL and ${err}.
 */
json_t *
jtext_parse(const char *p, size_t n, int flags, enum jtext_error *err)
{
	struct ps s;
	json_t *v = NULL;

	s.p = (const unsigned char *)p;
	s.end = s.p + n;
	s.err = JTEXT_OK;
	s.heap = NULL;
	s.heapcap = 0;
	s.keys = s.keysmall;
	s.keyslen = 0;
	s.keyscap = sizeof(s.keysmall);
	skip_ws(&s);
	if (s.p >= s.end || (!(flags & JTEXT_ANY) && *s.p != '{' && *s.p != '['))
		fail(&s, JTEXT_SYNTAX);
	else if ((v = parse_value(&s, 1)) != NULL) {
		skip_ws(&s);
		if (s.p != s.end) {
			json_decref(v);
			v = fail(&s, JTEXT_SYNTAX);
		}
	}
	free(s.heap);
	if (s.keys != s.keysmall)
		free(s.keys);
	if (err != NULL)
		*err = v != NULL ? JTEXT_OK : s.err;
	return (v);
}

/* --- writing ---------------------------------------------------------- */

struct out {
	char *p;
	size_t len;	/* the whole text so far, written or not */
	size_t cap;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->len < o->cap)
		memcpy(o->p + o->len, s, n < o->cap - o->len ? n : o->cap - o->len);
	o->len += n;
}

static void
putc_(struct out *o, char c)
{
	if (o->len < o->cap)
		o->p[o->len] = c;
	o->len++;
}

static int
dump_string(struct out *o, const char *str, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)str, *end = p + n, *run;
	char esc[6];
	size_t k;

	putc_(o, '"');
	while (p < end) {
		/* A run of bytes written as they are. */
		for (run = p; p < end && *p >= 0x20 && *p != '"' && *p != '\\';) {
			if (*p < 0x80)
				p++;
			else if ((k = utf8_seq(p, end)) == 0)
				return (-1);
			else
				p += k;
		}
		put(o, (const char *)run, (size_t)(p - run));
		if (p == end)
			break;
		esc[0] = '\\';
		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			put(o, esc, 6);
			p++;
			continue;
		}
		put(o, esc, 2);
		p++;
	}
	putc_(o, '"');
	return (0);
}

static void
dump_integer(struct out *o, json_int_t v)
{
	char b[24];
	unsigned long long u;
	size_t i = sizeof(b);

	u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		b[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		b[--i] = '-';
	put(o, b + i, sizeof(b) - i);
}

/* A real as jansson writes it: 17 significant digits, a ".0" when the text
 * would read back as an integer, an exponent without "+" or leading zeros. */
static int
dump_real(struct out *o, double v)
{
	char b[40], *e, *q;
	int n;

	if (!isfinite(v))
		return (-1);
	n = snprintf(b, sizeof(b) - 2, "%.17g", v);
	if (n < 0 || (size_t)n >= sizeof(b) - 2)
		return (-1);
	if (strchr(b, '.') == NULL && strchr(b, 'e') == NULL) {
		memcpy(b + n, ".0", 3);
		n += 2;
	}
	if ((e = strchr(b, 'e')) != NULL) {
		q = ++e;
		if (*q == '+')
			q++;
		else if (*q == '-')
			q = ++e;
		while (*q == '0' && q[1] != '\0')
			q++;
		if (q != e) {
			memmove(e, q, strlen(q) + 1);
			n = (int)strlen(b);
		}
	}
	put(o, b, (size_t)n);
	return (0);
}

static int
dump_value(struct out *o, const json_t *v, unsigned depth)
{
	json_t *m = (json_t *)(uintptr_t)v;	/* jansson's iterators take no const */
	void *it;
	size_t i, n;
	int first = 1;

	if (depth > JTEXT_DUMP_DEPTH_MAX)
		return (-1);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		putc_(o, '{');
		for (it = json_object_iter(m); it != NULL; it = json_object_iter_next(m, it)) {
			if (!first)
				putc_(o, ',');
			first = 0;
			if (dump_string(o, json_object_iter_key(it), json_object_iter_key_len(it)) != 0)
				return (-1);
			putc_(o, ':');
			if (dump_value(o, json_object_iter_value(it), depth + 1) != 0)
				return (-1);
		}
		putc_(o, '}');
		return (0);
	case JSON_ARRAY:
		putc_(o, '[');
		n = json_array_size(v);
		for (i = 0; i < n; i++) {
			if (i > 0)
				putc_(o, ',');
			if (dump_value(o, json_array_get(v, i), depth + 1) != 0)
				return (-1);
		}
		putc_(o, ']');
		return (0);
	case JSON_STRING:
		return (dump_string(o, json_string_value(v), json_string_length(v)));
	case JSON_INTEGER:
		dump_integer(o, json_integer_value(v));
		return (0);
	case JSON_REAL:
		return (dump_real(o, json_real_value(v)));
	case JSON_TRUE:
		put(o, "true", 4);
		return (0);
	case JSON_FALSE:
		put(o, "false", 5);
		return (0);
	case JSON_NULL:
		put(o, "null", 4);
		return (0);
	}
	return (-1);
}

/**
 * jtext_dumpb(v, out, cap):
 * ${v} as compact JSON at ${out}; the length of the whole text, or 0.
 */
size_t
jtext_dumpb(const json_t *v, char *out, size_t cap)
{
	struct out o = {out, 0, cap};

	if (v == NULL || dump_value(&o, v, 1) != 0)
		return (0);
	return (o.len);
}

/**
 * jtext_dumps(v):
 * ${v} as compact JSON, malloc'd, or NULL.
 */
char *
jtext_dumps(const json_t *v)
{
	char small[DUMP_SMALL], *s;
	size_t n;

	if ((n = jtext_dumpb(v, small, sizeof(small))) == 0)
		return (NULL);
	if ((s = malloc(n + 1)) == NULL)
		return (NULL);
	if (n <= sizeof(small))
		memcpy(s, small, n);
	else if (jtext_dumpb(v, s, n) != n) {
		free(s);
		return (NULL);
	}
	s[n] = '\0';
	return (s);
}
