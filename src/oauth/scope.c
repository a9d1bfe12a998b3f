#include "oauth/scope.h"

#include <stdlib.h>
#include <string.h>

static int
cmp(const void *a, const void *b)
{
	return (strcmp(a, b));
}

static int
tokchar(unsigned char c)
{
	return (c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e));
}

int
scope_parse(const char *s, struct scope_set *set)
{
	const char *p, *q;
	size_t i, j, n;

	set->n = 0;
	if (s == NULL)
		return (0);
	if (strlen(s) > SCOPE_MAX_LEN)
		return (-1);
	for (p = s; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		for (q = p; *q && *q != ' '; q++)
			if (!tokchar((unsigned char)*q))
				return (-1);
		n = (size_t)(q - p);
		if (n > SCOPE_TOKEN_MAX || set->n == SCOPE_MAX_TOKENS)
			return (-1);
		memcpy(set->tok[set->n], p, n);
		set->tok[set->n][n] = '\0';
		set->n++;
		p = q;
	}
	qsort(set->tok, set->n, sizeof(set->tok[0]), cmp);
	for (i = j = 0; i < set->n; i++)
		if (j == 0 || strcmp(set->tok[j - 1], set->tok[i]) != 0) {
			if (i != j)
				memcpy(set->tok[j], set->tok[i], sizeof(set->tok[0]));
			j++;
		}
	set->n = j;
	return (0);
}

int
scope_has(const struct scope_set *set, const char *tok)
{
	return (bsearch(tok, set->tok, set->n, sizeof(set->tok[0]), cmp) != NULL);
}

void
scope_intersect(const struct scope_set *a, const struct scope_set *b, struct scope_set *out)
{
	size_t i, n = 0;

	for (i = 0; i < a->n; i++)
		if (scope_has(b, a->tok[i])) {
			if (out != a || n != i)
				memmove(out->tok[n], a->tok[i], sizeof(a->tok[0]));
			n++;
		}
	out->n = n;
}

void
scope_copy(struct scope_set *dst, const struct scope_set *src)
{
	if (dst != src)
		memcpy(dst->tok, src->tok, src->n * sizeof(src->tok[0]));
	dst->n = src->n;
}

void
scope_union(const struct scope_set *a, const struct scope_set *b, struct scope_set *out)
{
	struct scope_set r;
	size_t i;

	scope_copy(&r, a);
	for (i = 0; i < b->n && r.n < SCOPE_MAX_TOKENS; i++)
		if (!scope_has(a, b->tok[i]))
			memcpy(r.tok[r.n++], b->tok[i], sizeof(b->tok[0]));
	qsort(r.tok, r.n, sizeof(r.tok[0]), cmp);
	scope_copy(out, &r);
}

int
scope_subset(const struct scope_set *a, const struct scope_set *b)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (!scope_has(b, a->tok[i]))
			return (0);
	return (1);
}

int
scope_string(const struct scope_set *set, char *out, size_t outcap)
{
	size_t i, o = 0, n;

	if (outcap == 0)
		return (-1);
	out[0] = '\0';
	for (i = 0; i < set->n; i++) {
		n = strlen(set->tok[i]);
		if (o + n + (i ? 1 : 0) + 1 > outcap)
			return (-1);
		if (i)
			out[o++] = ' ';
		memcpy(out + o, set->tok[i], n + 1);
		o += n;
	}
	return (0);
}
