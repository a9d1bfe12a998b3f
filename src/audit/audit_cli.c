/*
 * audit_cli: `mcpgate admin audit`, the query command on the audit log.
 */
#include "audit/audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: mcpgate admin audit [--since TIME] [--subject SUB] [--client ID]\n"
	            "                           [--tool NAME] [--denied]\n"
	            "  TIME: 2026-07-28T09:00:00Z, 2026-07-28, or a duration back from now:\n"
	            "        30s, 15m, 2h, 7d\n");
}

/* --since: an RFC 3339 time, a date, or N followed by s, m, h or d. */
static int
parse_since(const char *s, int64_t *ms)
{
	struct timespec ts;
	unsigned long long n = 0, unit;
	const char *p;

	if (audit_time_parse(s, ms) == 0)
		return (0);
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned long long)(*p - '0');
		if (n > 100000000ULL)
			return (-1);
	}
	if (p == s || p[0] == '\0' || p[1] != '\0')
		return (-1);
	switch (*p) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return (-1);
	}
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (-1);
	*ms = ((int64_t)ts.tv_sec - (int64_t)(n * unit)) * 1000 + ts.tv_nsec / 1000000;
	if (*ms <= 0)
		*ms = 1;
	return (0);
}

static int
print_line(void *ctx, const char *line, size_t len, const json_t *rec)
{
	FILE *fp = ctx;

	(void)rec;
	if (fwrite(line, 1, len, fp) != len || putc('\n', fp) == EOF)
		return (-1);
	return (0);
}

/* The value of option ${name} at argv[*i]: "--name value" or "--name=value". */
static const char *
optval(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return (NULL);
	if (argv[*i][n] == '=')
		return (argv[*i] + n + 1);
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return (argv[++*i]);
	return (NULL);
}

/**
 * audit_cli(argc, argv, path):
 * `mcpgate admin audit ...` on ${path}; returns the exit status.
 */
int
audit_cli(int argc, char **argv, const char *path)
{
	struct audit_filter f;
	struct audit_stats st;
	const char *v;
	int i;

	memset(&f, 0, sizeof(f));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return (0);
		} else if (strcmp(argv[i], "--denied") == 0) {
			f.denied = 1;
		} else if ((v = optval(argc, argv, &i, "--since")) != NULL) {
			if (parse_since(v, &f.since_ms) != 0) {
				fprintf(stderr, "mcpgate: --since: not a time or duration: %s\n", v);
				return (2);
			}
		} else if ((v = optval(argc, argv, &i, "--subject")) != NULL) {
			f.subject = v;
		} else if ((v = optval(argc, argv, &i, "--client")) != NULL) {
			f.client = v;
		} else if ((v = optval(argc, argv, &i, "--tool")) != NULL) {
			f.tool = v;
		} else {
			usage(stderr);
			return (2);
		}
	}
	if (path == NULL) {
		fprintf(stderr, "mcpgate: no audit log configured\n");
		return (1);
	}
	if (audit_query(path, &f, print_line, stdout, &st) != 0) {
		fprintf(stderr, "mcpgate: cannot read the audit log %s: %s\n", path, strerror(errno));
		return (1);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mcpgate: cannot write the output\n");
		return (1);
	}
	if (st.partial > 0)
		fprintf(stderr, "mcpgate: the log ends in a partial line (a write in progress, or cut short)\n");
	if (st.malformed > 0)
		fprintf(stderr, "mcpgate: %zu malformed line%s skipped\n", st.malformed,
		    st.malformed == 1 ? "" : "s");
	return (0);
}
