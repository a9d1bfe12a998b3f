/*
 * oauth/scope: space-separated scope strings (RFC 6749 section 3.3).
 *
 * A scope set is kept as a canonical string: tokens sorted, no duplicates,
 * single spaces.  Canonical strings compare with strcmp and store compactly.
 */
#ifndef MCPGATE_OAUTH_SCOPE_H
#define MCPGATE_OAUTH_SCOPE_H

#include <stddef.h>

#define SCOPE_MAX_TOKENS 64
#define SCOPE_TOKEN_MAX 128
#define SCOPE_MAX_LEN 2048

struct scope_set {
	size_t n;
	char tok[SCOPE_MAX_TOKENS][SCOPE_TOKEN_MAX + 1];
};

/* scope_parse(s, set): parse the scope string ${s} into ${set}, sorted and
 * without duplicates.  Returns 0, or -1 if a token has a forbidden character
 * (outside %x21 / %x23-5B / %x5D-7E), the string is longer than
 * SCOPE_MAX_LEN, or there are too many tokens.  "" and NULL give an empty set. */
int scope_parse(const char *s, struct scope_set *set);

/* scope_has(set, tok): 1 if ${tok} is in ${set}. */
int scope_has(const struct scope_set *set, const char *tok);

/* scope_intersect(a, b, out): the tokens in both. ${out} may alias ${a}. */
void scope_intersect(const struct scope_set *a, const struct scope_set *b, struct scope_set *out);

/* scope_copy(dst, src): ${dst} = ${src}, copying only the tokens in use
 * (a whole struct is over 8 KiB). */
void scope_copy(struct scope_set *dst, const struct scope_set *src);

/* scope_union(a, b, out): the tokens in either (truncated at the maximum). */
void scope_union(const struct scope_set *a, const struct scope_set *b, struct scope_set *out);

/* scope_subset(a, b): 1 if every token of ${a} is in ${b}. */
int scope_subset(const struct scope_set *a, const struct scope_set *b);

/* scope_string(set, out, outcap): the canonical string; -1 if it does not fit. */
int scope_string(const struct scope_set *set, char *out, size_t outcap);

#endif
