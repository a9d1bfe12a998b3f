/*
 * jtext: JSON text to and from jansson values, on the request path.
 *
 * jansson stays the data model; this is a reader and a writer for it that
 * cost a fraction of json_loadb() and json_dumpb() (jansson reads its input
 * a character at a time through a callback and writes through one per
 * token: docs/DESIGN.md, "JSON on the request path").  They accept and
 * produce exactly what jansson does with the flags the gateway uses, which
 * the fuzz driver tests/fuzz/fuzz_jtext.c checks against jansson itself:
 *
 *   jtext_parse(p, n, flags, err)   json_loadb(p, n, JSON_REJECT_DUPLICATES
 *                                   [| JSON_DECODE_ANY with JTEXT_ANY])
 *   jtext_dumpb(v, out, cap)        json_dumpb(v, out, cap, JSON_COMPACT |
 *                                   JSON_ENCODE_ANY)
 *   jtext_dumps(v)                  json_dumps(v, JSON_COMPACT |
 *                                   JSON_ENCODE_ANY)
 *
 * That is: RFC 8259 JSON in UTF-8 (strict: no overlong forms, no encoded
 * surrogates, nothing past U+10FFFF), no NUL in strings (\u0000 refused),
 * paired surrogate escapes only, duplicate object keys refused, integers
 * that fit a json_int_t (else JTEXT_RANGE, as are reals beyond a double),
 * at most JTEXT_DEPTH_MAX levels of nesting, whitespace around the value and
 * nothing else.
 */
#ifndef MCPGATE_CORE_JTEXT_H
#define MCPGATE_CORE_JTEXT_H

#include <stddef.h>

#include <jansson.h>

/* Nesting the parser follows (jansson's own limit). */
#define JTEXT_DEPTH_MAX 2048

/* Nesting the writer follows: what the parser read, wrapped in a few more
 * levels (an upstream's request inside an InputRequiredResult is three
 * deeper).  jansson's writer has no limit; this one only stops a runaway. */
#define JTEXT_DUMP_DEPTH_MAX (2 * JTEXT_DEPTH_MAX)

/* jtext_parse() flags. */
#define JTEXT_ANY 0x1	/* a scalar is a document too (else only { or [) */

enum jtext_error {
	JTEXT_OK = 0,
	JTEXT_SYNTAX,	/* not JSON, or nested too deeply */
	JTEXT_RANGE,	/* a number out of range */
	JTEXT_NOMEM	/* out of memory */
};

/* jtext_parse(p, n, flags, err): the value of the ${n} bytes at ${p} (a new
 * reference), or NULL with ${err} set (${err} may be NULL). */
json_t *jtext_parse(const char *p, size_t n, int flags, enum jtext_error *err);

/* jtext_dumpb(v, out, cap): write ${v} as compact JSON to ${out} (no NUL
 * added).  Returns the length of the text, which may exceed ${cap} (then
 * ${out} holds only a prefix), or 0 if ${v} cannot be written (a string
 * that is not UTF-8, a real that is not finite, nesting past
 * JTEXT_DUMP_DEPTH_MAX). */
size_t jtext_dumpb(const json_t *v, char *out, size_t cap);

/* jtext_dumps(v): ${v} as compact JSON in a malloc'd NUL-terminated string,
 * or NULL (what jtext_dumpb() cannot write, or ENOMEM). */
char *jtext_dumps(const json_t *v);

#endif
