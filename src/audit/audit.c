#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* Room kept at the end of a line for ,"truncated":true}\n and friends. */
#define TAIL_RESERVE 64
#define PATH_MAX_LEN 4096

struct audit_log {
	int fd;
	int with_args;
	int fsync;
	int torn; /* the file may end in a partial line: start the next on a new one */
	char *path;
	pthread_mutex_t mu;
};

/**
 * audit_config_init(cfg):
 * No file, no arguments, no fsync.
 */
void
audit_config_init(struct audit_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

/**
 * audit_config_clear(cfg):
 * Free what ${cfg} holds.
 */
void
audit_config_clear(struct audit_config *cfg)
{
	free(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}

/**
 * audit_config_parse(o, cfg, why):
 * Read the "audit" object ${o} into ${cfg}; unchanged on failure.
 */
int
audit_config_parse(json_t *o, struct audit_config *cfg, const char **why)
{
	struct audit_config n = *cfg;
	const char *k;
	char *file = NULL;
	json_t *v;

	*why = NULL;
	if (!json_is_object(o)) {
		*why = "\"audit\" must be an object";
		return (-1);
	}
	json_object_foreach(o, k, v)
	{
		if (strcmp(k, "file") == 0) {
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > PATH_MAX_LEN ||
			    json_string_length(v) != strlen(json_string_value(v))) {
				*why = "\"audit\".\"file\" must be a path";
				goto err;
			}
		} else if (strcmp(k, "arguments") == 0 || strcmp(k, "fsync") == 0) {
			if (!json_is_boolean(v)) {
				*why = "\"audit\".\"arguments\" and \"fsync\" must be true or false";
				goto err;
			}
			if (k[0] == 'a')
				n.arguments = json_is_true(v);
			else
				n.fsync = json_is_true(v);
		} else {
			*why = "unknown key in \"audit\" (allowed: \"file\", \"arguments\", \"fsync\")";
			goto err;
		}
	}
	if ((v = json_object_get(o, "file")) != NULL) {
		if ((file = strdup(json_string_value(v))) == NULL) {
			*why = "out of memory";
			goto err;
		}
		free(cfg->file);
		n.file = file;
	}
	*cfg = n;
	return (0);

err:
	return (-1);
}

static int64_t now_ms(void);

/* The line {"time":<now>,"torn":<${frag}>} in ${out} (AUDIT_LINE_MAX bytes):
 * its length with the newline, or -1.  Bytes that are not UTF-8 (a write
 * can stop inside a character) become '?'; a fragment too long to fit is
 * cut and "truncated":true added. */
static int
torn_line(const char *frag, size_t len, char *out)
{
	char ts[25], *text = NULL, *fix;
	json_t *rec = NULL;
	size_t i, n = len, tl;

	audit_time_format(now_ms(), ts);
	if ((fix = malloc(len + 1)) == NULL)
		return (-1);
	memcpy(fix, frag, len);
	fix[len] = '\0';
	for (;;) {
		json_t *str = json_stringn(fix, n);

		if (str == NULL) {
			/* Not UTF-8: keep ASCII only. */
			for (i = 0; i < n; i++)
				if ((unsigned char)fix[i] >= 0x80)
					fix[i] = '?';
			if ((str = json_stringn(fix, n)) == NULL)
				goto err;
		}
		rec = json_pack("{s:s, s:o}", "time", ts, "torn", str);
		if (rec != NULL && n < len)
			json_object_set_new(rec, "truncated", json_true());
		if (rec == NULL || (text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
			goto err;
		json_decref(rec);
		rec = NULL;
		if ((tl = strlen(text)) < AUDIT_LINE_MAX)
			break;
		free(text);
		text = NULL;
		n /= 2;
		while (n > 0 && ((unsigned char)fix[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, text, tl);
	out[tl] = '\n';
	free(text);
	free(fix);
	return ((int)tl + 1);

err:
	json_decref(rec);
	free(text);
	free(fix);
	return (-1);
}

/* If the log open on ${fd} (read-write, not yet O_APPEND) ends in a partial
 * line (a write cut short because its writer was killed, see audit.h), make
 * that fragment a whole line of its own (torn_line()) in place, so that the
 * file holds whole lines only and nothing that reached it is lost.  Sets
 * ${torn} when the tail could not be repaired (the next line then starts on
 * a fresh one).  Only the process holding the log's lock does this, on the
 * descriptor it holds the lock on and will write with: the file is never
 * named again, so a rename of the path meanwhile cannot make it repair one
 * file and append to another.  ${path} is for the log message.  Returns 0,
 * or -1 on an I/O error. */
static int
repair_tail(int fd, const char *path, int *torn)
{
	char *buf = NULL, line[AUDIT_LINE_MAX];
	struct stat sb;
	size_t want, i;
	ssize_t r;
	off_t start;
	int n, rc = -1;

	*torn = 0;
	if (fstat(fd, &sb) != 0)
		goto done;
	if (sb.st_size == 0) {
		rc = 0;
		goto done;
	}
	want = sb.st_size < AUDIT_LINE_MAX ? (size_t)sb.st_size : AUDIT_LINE_MAX;
	start = sb.st_size - (off_t)want;
	if ((buf = malloc(want)) == NULL || (r = pread(fd, buf, want, start)) != (ssize_t)want)
		goto done;
	if (buf[want - 1] == '\n') {
		rc = 0;
		goto done;
	}
	for (i = want; i > 0 && buf[i - 1] != '\n'; i--)
		;
	if (i == 0 && start > 0) {
		/* Longer than any line we write: not ours to rewrite. */
		*torn = 1;
		rc = 0;
		goto done;
	}
	if ((n = torn_line(buf + i, want - i, line)) < 0) {
		*torn = 1;
		rc = 0;
		goto done;
	}
	/* Over the fragment, which the new line holds. */
	if (pwrite(fd, line, (size_t)n, start + (off_t)i) != n)
		goto done;
	log_warn("audit: %s ended in a partial line; kept as a \"torn\" record", path);
	rc = 0;

done:
	free(buf);
	return (rc);
}

/* Open ${path} for appending (0600 if created); a regular file only, that
 * no other process holds open for writing (flock(2)).  Repairs a torn tail
 * (repair_tail()) through the same descriptor, which is then switched to
 * O_APPEND.  Returns the descriptor or -1. */
static int
open_append(const char *path, int *torn)
{
	struct stat sb;
	int fd, e, fl;

	*torn = 0;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return (-1);
	if (fstat(fd, &sb) != 0)
		goto err;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		goto err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			log_warn("audit: %s is written by another process", path);
		goto err;
	}
	if (repair_tail(fd, path, torn) != 0)
		goto err;
	/* Linux lets F_SETFL set O_APPEND: from now on every write goes to
	 * the end, whatever the offset. */
	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl | O_APPEND) == -1)
		goto err;
	return (fd);

err:
	e = errno;
	close(fd);
	errno = e;
	return (-1);
}

/* Whether ${fd} and ${path} are the same file. */
static int
same_file(int fd, const char *path)
{
	struct stat a, b;

	return (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

/**
 * audit_open(cfg):
 * Open ${cfg->file} for appending, creating it 0600.
 */
struct audit_log *
audit_open(const struct audit_config *cfg)
{
	struct audit_log *log;

	if (cfg->file == NULL) {
		log_warn("audit: no file configured");
		return (NULL);
	}
	if ((log = calloc(1, sizeof(*log))) == NULL)
		goto err0;
	if ((log->path = strdup(cfg->file)) == NULL)
		goto err1;
	if ((log->fd = open_append(cfg->file, &log->torn)) == -1)
		goto err2;
	if (pthread_mutex_init(&log->mu, NULL) != 0)
		goto err3;
	log->with_args = cfg->arguments;
	log->fsync = cfg->fsync;
	return (log);

err3:
	close(log->fd);
err2:
	free(log->path);
err1:
	free(log);
err0:
	log_warnp("audit: cannot open %s", cfg->file);
	return (NULL);
}

/**
 * audit_reopen(log):
 * Continue in a fresh open of the configured path.
 */
int
audit_reopen(struct audit_log *log)
{
	int fd, old, torn;

	/* Not rotated: this descriptor is already the file (and holds its
	 * lock, which a second open of it here could not take). */
	if (same_file(log->fd, log->path))
		return (0);
	if ((fd = open_append(log->path, &torn)) == -1) {
		log_warnp("audit: cannot reopen %s", log->path);
		return (-1);
	}
	pthread_mutex_lock(&log->mu);
	old = log->fd;
	log->fd = fd;
	log->torn = torn;
	pthread_mutex_unlock(&log->mu);
	if (close(old) != 0)
		log_warnp("audit: close");
	return (0);
}

/**
 * audit_close(log):
 * Close ${log}.
 */
void
audit_close(struct audit_log *log)
{
	if (log == NULL)
		return;
	if (close(log->fd) != 0)
		log_warnp("audit: close");
	pthread_mutex_destroy(&log->mu);
	free(log->path);
	free(log);
}

/* ${v} (0 <= v < 10^n) as exactly ${n} decimal digits at ${p}. */
static void
put_digits(char *p, int n, int v)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/**
 * audit_time_format(ms, out):
 * RFC 3339 UTC with milliseconds.
 */
void
audit_time_format(int64_t ms, char out[25])
{
	struct tm tm;
	time_t t;

	if (ms < 0)
		ms = 0;
	t = (time_t)(ms / 1000);
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999) {
		memcpy(out, "9999-12-31T23:59:59.999Z", 25);
		return;
	}
	/* By hand: one line per request, and snprintf() was most of it. */
	put_digits(out, 4, tm.tm_year + 1900);
	out[4] = '-';
	put_digits(out + 5, 2, tm.tm_mon + 1);
	out[7] = '-';
	put_digits(out + 8, 2, tm.tm_mday);
	out[10] = 'T';
	put_digits(out + 11, 2, tm.tm_hour);
	out[13] = ':';
	put_digits(out + 14, 2, tm.tm_min);
	out[16] = ':';
	put_digits(out + 17, 2, tm.tm_sec);
	out[19] = '.';
	put_digits(out + 20, 3, (int)(ms % 1000));
	out[23] = 'Z';
	out[24] = '\0';
}

/* The value of the ${n} decimal digits at ${s}, or -1. */
static int
digits(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	return (v);
}

static int
leap(int y)
{
	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

/**
 * audit_time_parse(s, ms):
 * An RFC 3339 time or a date into ms since the epoch.
 */
int
audit_time_parse(const char *s, int64_t *ms)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm;
	int Y, M, D, h = 0, m = 0, sec = 0, frac = 0, off = 0, i;
	size_t n, p;
	time_t t;

	if (s == NULL || (n = strnlen(s, 64)) < 10 || n >= 64)
		return (-1);
	if ((Y = digits(s, 4)) < 0 || s[4] != '-' || (M = digits(s + 5, 2)) < 0 || s[7] != '-' ||
	    (D = digits(s + 8, 2)) < 0)
		return (-1);
	if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && leap(Y)))
		return (-1);
	if (n > 10) {
		if ((s[10] != 'T' && s[10] != 't') || n < 20 || (h = digits(s + 11, 2)) < 0 || s[13] != ':' ||
		    (m = digits(s + 14, 2)) < 0 || s[16] != ':' || (sec = digits(s + 17, 2)) < 0)
			return (-1);
		if (h > 23 || m > 59 || sec > 60)
			return (-1);
		p = 19;
		if (s[p] == '.') {
			p++;
			for (i = 0; s[p] >= '0' && s[p] <= '9'; i++, p++) {
				if (i >= 9)
					return (-1);
				if (i < 3)
					frac = frac * 10 + (s[p] - '0');
			}
			if (i == 0)
				return (-1);
			for (; i < 3; i++)
				frac *= 10;
		}
		if ((s[p] == 'Z' || s[p] == 'z') && p + 1 == n) {
			off = 0;
		} else if ((s[p] == '+' || s[p] == '-') && p + 6 == n && s[p + 3] == ':') {
			int oh = digits(s + p + 1, 2), om = digits(s + p + 4, 2);

			if (oh < 0 || om < 0 || oh > 23 || om > 59)
				return (-1);
			off = (oh * 60 + om) * 60 * (s[p] == '+' ? 1 : -1);
		} else
			return (-1);
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return (-1);
	*ms = ((int64_t)t - off) * 1000 + frac;
	return (0);
}

/* A bounded output: appends past ${lim} set ${full} and are dropped. */
struct out {
	char *p;
	size_t len;
	size_t lim;
	int full;
	int truncated;
	int first;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->lim - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
key(struct out *o, const char *k)
{
	if (!o->first)
		put(o, ",", 1);
	o->first = 0;
	put(o, "\"", 1);
	puts_(o, k);
	put(o, "\":", 2);
}

/* Length of the well-formed UTF-8 sequence at ${p} (at most ${n} bytes), or
 * 0 if the bytes there are not one. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	size_t need, k;
	unsigned long cp, min;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 1;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 2;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 3;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return (0);
	if (n - 1 < need)
		return (0);
	for (k = 1; k <= need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (need + 1);
}

/* Write ${s} as a JSON string of at most AUDIT_FIELD_MAX bytes, quotes
 * included: escapes as JSON needs, control bytes as \u00XX, bytes that are
 * not UTF-8 as U+FFFD; cut at a character boundary if too long. */
static void
put_str(struct out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, used = 1, k, tl;
	char tmp[8];
	const char *t;

	put(o, "\"", 1);
	while (i < n) {
		unsigned char c = p[i];

		/* A run of printable ASCII needing no escape, at once (every
		 * byte of it is a character boundary to cut at). */
		for (k = i; k < n && p[k] >= 0x20 && p[k] < 0x7f && p[k] != '"' && p[k] != '\\'; k++)
			;
		if (k > i) {
			tl = k - i;
			if (used + tl + 1 > AUDIT_FIELD_MAX) {
				tl = AUDIT_FIELD_MAX - 1 - used;
				put(o, s + i, tl);
				o->truncated = 1;
				break;
			}
			put(o, s + i, tl);
			used += tl;
			i = k;
			continue;
		}
		t = tmp;
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			tl = 2;
			k = 1;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			tl = 6;
			k = 1;
		} else if ((k = utf8_seq(p + i, n - i)) == 0) {
			t = "\\ufffd";
			tl = 6;
			k = 1;
		} else {
			t = s + i;
			tl = k;
		}
		if (used + tl + 1 > AUDIT_FIELD_MAX) {
			o->truncated = 1;
			break;
		}
		put(o, t, tl);
		used += tl;
		i += k;
	}
	put(o, "\"", 1);
}

static void
put_int(struct out *o, long long v)
{
	char tmp[24];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	size_t i = sizeof(tmp);

	tmp[--i] = '\0';
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		tmp[--i] = '-';
	puts_(o, tmp + i);
}

static void
field_str(struct out *o, const char *k, const char *v)
{
	if (v == NULL)
		return;
	key(o, k);
	put_str(o, v);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (0);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/**
 * audit_format(r, with_args, out, cap):
 * The line for ${r} in ${out}; its length, or -1.
 */
int
audit_format(const struct audit_record *r, int with_args, char *out, size_t cap)
{
	struct out o;
	char ts[25];
	char *args;
	size_t alen;

	if (cap < AUDIT_LINE_MAX)
		return (-1);
	o.p = out;
	o.len = 0;
	o.lim = AUDIT_LINE_MAX - TAIL_RESERVE;
	o.full = 0;
	o.truncated = 0;
	o.first = 1;

	put(&o, "{", 1);
	audit_time_format(r->time_ms != 0 ? r->time_ms : now_ms(), ts);
	key(&o, "time");
	put(&o, "\"", 1);
	puts_(&o, ts);
	put(&o, "\"", 1);
	if (r->id != NULL && json_is_integer(r->id)) {
		key(&o, "id");
		put_int(&o, (long long)json_integer_value(r->id));
	} else if (r->id != NULL && json_is_string(r->id)) {
		field_str(&o, "id", json_string_value(r->id));
	}
	field_str(&o, "subject", r->subject);
	field_str(&o, "client", r->client_id);
	field_str(&o, "session", r->session);
	field_str(&o, "method", r->method);
	field_str(&o, "tool", r->tool);
	field_str(&o, "resource", r->resource);
	if (r->decision == AUDIT_ALLOW || r->decision == AUDIT_DENY)
		field_str(&o, "decision", r->decision == AUDIT_ALLOW ? "allow" : "deny");
	field_str(&o, "reason", r->reason);
	field_str(&o, "upstream", r->upstream);
	if (r->latency_ms >= 0) {
		key(&o, "latency_ms");
		put_int(&o, (long long)r->latency_ms);
	}
	field_str(&o, "outcome", r->outcome != NULL ? r->outcome : r->error_code == 0 ? "ok" : "error");
	if (r->error_code != 0) {
		key(&o, "code");
		put_int(&o, r->error_code);
	}
	if (r->http_status != 0) {
		key(&o, "status");
		put_int(&o, r->http_status);
	}
	/* Every field above is bounded, so only the arguments can fill the
	 * line; they are written whole or not at all. */
	if (o.full)
		return (-1);
	if (with_args && r->arguments != NULL) {
		if ((args = json_dumps(r->arguments, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
			return (-1);
		alen = strlen(args);
		o.lim = AUDIT_LINE_MAX;
		if (alen + 16 <= AUDIT_LINE_MAX - TAIL_RESERVE - o.len) {
			key(&o, "arguments");
			put(&o, args, alen);
		} else {
			key(&o, "arguments_truncated");
			puts_(&o, "true");
		}
		free(args);
	}
	o.lim = AUDIT_LINE_MAX;
	if (o.truncated) {
		key(&o, "truncated");
		puts_(&o, "true");
	}
	put(&o, "}\n", 2);
	if (o.full)
		return (-1);
	return ((int)o.len);
}

/**
 * audit_write(log, r):
 * Append the line for ${r} with one write(2).
 */
int
audit_write(struct audit_log *log, const struct audit_record *r)
{
	char line[AUDIT_LINE_MAX + 1];
	const char *p;
	ssize_t w;
	size_t len;
	int n, rc = 0;

	/* line[0] is a newline sent only after a torn write. */
	line[0] = '\n';
	if ((n = audit_format(r, log->with_args, line + 1, AUDIT_LINE_MAX)) < 0) {
		log_warn("audit: cannot format a record");
		return (-1);
	}
	pthread_mutex_lock(&log->mu);
	p = log->torn ? line : line + 1;
	len = (size_t)n + (log->torn ? 1 : 0);
	do
		w = write(log->fd, p, len);
	while (w == -1 && errno == EINTR);
	if (w < 0 || (size_t)w != len) {
		if (w > 0)
			log->torn = 1;
		if (w < 0)
			log_warnp("audit: write");
		else
			log_warn("audit: short write (%zd of %zu bytes)", w, len);
		rc = -1;
	} else {
		log->torn = 0;
		if (log->fsync && fdatasync(log->fd) != 0) {
			log_warnp("audit: fdatasync");
			rc = -1;
		}
	}
	pthread_mutex_unlock(&log->mu);
	return (rc);
}

static int
str_is(const json_t *rec, const char *k, const char *want)
{
	const json_t *v = json_object_get(rec, k);

	return (json_is_string(v) && strcmp(json_string_value(v), want) == 0);
}

static int
match(const struct audit_filter *f, const json_t *rec, int64_t t)
{
	if (f == NULL)
		return (1);
	if (f->since_ms != 0 && t < f->since_ms)
		return (0);
	if (f->subject != NULL && !str_is(rec, "subject", f->subject))
		return (0);
	if (f->client != NULL && !str_is(rec, "client", f->client))
		return (0);
	if (f->tool != NULL && !str_is(rec, "tool", f->tool))
		return (0);
	if (f->denied && !str_is(rec, "decision", "deny"))
		return (0);
	return (1);
}

/**
 * audit_query(path, f, cb, ctx, st):
 * Read ${path} line by line, calling ${cb} for lines passing ${f}.
 */
int
audit_query(
    const char *path, const struct audit_filter *f, audit_query_cb *cb, void *ctx, struct audit_stats *st)
{
	struct audit_stats s = { 0, 0, 0, 0 };
	FILE *fp;
	char *line;
	size_t len;
	int c, over, rc = 0;
	json_t *rec, *tv;
	int64_t t;

	if ((fp = fopen(path, "re")) == NULL)
		goto err0;
	if ((line = malloc(AUDIT_LINE_MAX)) == NULL)
		goto err1;
	for (;;) {
		len = 0;
		over = 0;
		while ((c = getc_unlocked(fp)) != EOF && c != '\n') {
			if (len < AUDIT_LINE_MAX - 1)
				line[len++] = (char)c;
			else
				over = 1;
		}
		if (c == EOF && len == 0 && !over)
			break;
		if (c == EOF) {
			/* A write in progress, or cut short by a kill (the next
			 * audit_open() makes it a "torn" line). */
			s.partial++;
			break;
		}
		s.lines++;
		if (over) {
			/* Longer than any line we write. */
			s.malformed++;
			continue;
		}
		rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
		tv = json_object_get(rec, "time");
		if (!json_is_object(rec) || !json_is_string(tv) ||
		    audit_time_parse(json_string_value(tv), &t) != 0) {
			s.malformed++;
			json_decref(rec);
			continue;
		}
		if (match(f, rec, t)) {
			s.matched++;
			if (cb != NULL && cb(ctx, line, len, rec) != 0) {
				json_decref(rec);
				break;
			}
		}
		json_decref(rec);
	}
	if (ferror(fp))
		rc = -1;
	free(line);
	fclose(fp);
	if (st != NULL)
		*st = s;
	return (rc);

err1:
	fclose(fp);
err0:
	if (st != NULL)
		*st = s;
	return (-1);
}
