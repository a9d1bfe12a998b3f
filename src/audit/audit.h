/*
 * audit: one JSON line per MCP request, appended to a file, and queries on
 * that file.
 *
 * A line looks like (one line in the file, keys absent when unknown):
 *
 *   {"time":"2026-07-28T09:15:02.123Z","id":7,"subject":"u_3f...",
 *    "client":"c_91...","session":"...","method":"tools/call",
 *    "tool":"github__create_issue","decision":"deny",
 *    "reason":"denied: tool not read-only; missing mcp:write",
 *    "upstream":"github","latency_ms":0,"outcome":"error","code":-32600,
 *    "status":403}
 *
 * "outcome" is "ok", or "error" with the JSON-RPC error "code", or
 * "input_required" for the interim answer of a multi round-trip request
 * (2026-07-28) that the client retries; "status" is
 * the HTTP status when the caller gives one.  "arguments" (the tool call's
 * arguments, verbatim) appear only when the configuration asks for them.
 *
 * WARNING: never put a token, secret or credential in a record.  Records
 * carry the token's subject and client id; a tool's arguments may carry
 * secrets, which is why they are off by default.
 *
 * Durability: every line is formatted in full in memory (at most
 * AUDIT_LINE_MAX bytes, newline included) and written with a single
 * write(2) on a descriptor opened with O_APPEND, under a mutex.  One process
 * writes a log: audit_open() takes an exclusive flock(2) on the file and
 * fails if another process holds it.  On Linux a write to a regular file is
 * not interleaved with other writes to it, so the threads of that process
 * produce whole lines; but the kernel may stop a write between two pages
 * when its writer is killed (SIGKILL), leaving a partial line at the end.
 * audit_query() does not count that tail as a line (it reports it as
 * "partial": it may also be a write in progress), and the next audit_open()
 * rewrites it in place as a whole line of its own,
 * {"time":<then>,"torn":"<the fragment, as a JSON string>"}, so the file
 * holds whole lines only and nothing that reached it is lost.
 * String fields are cut to AUDIT_FIELD_MAX bytes of output (at a character
 * boundary, invalid UTF-8 replaced by U+FFFD, control characters escaped) and
 * "truncated":true is added, so a line is always valid JSON.  Arguments that
 * do not fit are replaced by "arguments_truncated":true.
 *
 * fsync: none by default (lines reach the page cache at once and survive a
 * crash of the process, not of the machine); "fsync": true calls fdatasync(2)
 * after every line, at a cost of one disk flush per request.
 */
#ifndef MCPGATE_AUDIT_AUDIT_H
#define MCPGATE_AUDIT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define AUDIT_LINE_MAX  8192 /* bytes of a line, newline included */
#define AUDIT_FIELD_MAX 512  /* bytes of one string field, quotes and escapes included */

struct audit_config {
	char *file;    /* path of the log; NULL: the caller's default */
	int arguments; /* record tools/call arguments (default 0) */
	int fsync;     /* fdatasync(2) after each line (default 0) */
};

enum audit_decision { AUDIT_NONE = 0, AUDIT_ALLOW, AUDIT_DENY };

struct audit_record {
	int64_t time_ms;       /* ms since the epoch; 0 means now */
	const json_t *id;      /* the JSON-RPC id (string or integer), or NULL */
	const char *subject;   /* the token's sub */
	const char *client_id; /* the token's client_id */
	const char *session;   /* Mcp-Session-Id, if any */
	const char *method;    /* JSON-RPC method */
	const char *tool;      /* namespaced tool or prompt name */
	const char *resource;  /* resource URI */
	enum audit_decision decision;
	const char *reason;      /* the policy's reason, or why the request was refused */
	const char *upstream;    /* upstream server name */
	int64_t latency_ms;      /* < 0: not written */
	int error_code;          /* 0: outcome ok; else the JSON-RPC error code */
	const char *outcome;     /* NULL: "ok" or "error" per error_code; else this
				  * (a static string, e.g. "input_required") */
	int http_status;         /* 0: not written */
	const json_t *arguments; /* written only when the log records arguments */
};

struct audit_log;

/* audit_config_init(cfg): the defaults (no file, no arguments, no fsync). */
void audit_config_init(struct audit_config *cfg);

/* audit_config_clear(cfg): free what ${cfg} holds. */
void audit_config_clear(struct audit_config *cfg);

/* audit_config_parse(o, cfg, why): read the "audit" configuration object
 * ${o} ({"file": "...", "arguments": false, "fsync": false}) into ${cfg},
 * which must have been initialised.  Unknown keys are errors.  Returns 0,
 * or -1 with ${why} set to a static explanation and ${cfg} unchanged. */
int audit_config_parse(json_t *o, struct audit_config *cfg, const char **why);

/* audit_open(cfg): open (creating it with mode 0600 if needed) the file
 * ${cfg->file} for appending.  Returns the log, or NULL (logged with errno). */
struct audit_log *audit_open(const struct audit_config *cfg);

/* audit_reopen(log): open the configured path again and continue there, for
 * a rotation that moved the file away (call it on SIGHUP).  Lines written
 * concurrently go to the old or the new file, never get lost or torn.
 * Returns 0, or -1 (logged) and the old file stays in use. */
int audit_reopen(struct audit_log *log);

/* audit_close(log): close ${log}; NULL does nothing. */
void audit_close(struct audit_log *log);

/* audit_write(log, r): append the line for ${r}.  Safe to call from any
 * number of threads at once.  Returns 0, or -1 if the line could not be
 * written in full (logged). */
int audit_write(struct audit_log *log, const struct audit_record *r);

/* audit_format(r, with_args, out, cap): the line for ${r}, newline
 * included, in ${out} of ${cap} >= AUDIT_LINE_MAX bytes (not NUL-terminated
 * beyond the newline when exactly full).  Returns its length, or -1 if ${cap}
 * is too small or memory ran out. */
int audit_format(const struct audit_record *r, int with_args, char *out, size_t cap);

/* audit_time_format(ms, out): RFC 3339 UTC with milliseconds
 * ("2026-07-28T09:15:02.123Z", 24 characters and a NUL) into ${out}. */
void audit_time_format(int64_t ms, char out[25]);

/* audit_time_parse(s, ms): parse an RFC 3339 UTC time, "YYYY-MM-DDTHH:MM:SSZ"
 * with optional ".mmm" (1 to 3 digits), or a date "YYYY-MM-DD" (midnight
 * UTC), into ms since the epoch.  Returns 0 or -1. */
int audit_time_parse(const char *s, int64_t *ms);

struct audit_filter {
	int64_t since_ms;    /* lines at or after; 0: all */
	const char *subject; /* exact matches; NULL: any */
	const char *client;
	const char *tool;
	int denied; /* only "decision":"deny" */
};

struct audit_stats {
	size_t lines;     /* lines read */
	size_t matched;   /* lines passed to the callback */
	size_t malformed; /* lines skipped: too long, not JSON, or no time */
	size_t partial;	  /* an unterminated last line (not in lines) */
};

/* audit_query_cb(ctx, line, len, rec): called for each matching line (the
 * text, without its newline, and its parsed object).  Return 0 to go on,
 * anything else to stop the query. */
typedef int audit_query_cb(void *ctx, const char *line, size_t len, const json_t *rec);

/* audit_query(path, f, cb, ctx, st): read the log ${path} line by line
 * (each at most AUDIT_LINE_MAX bytes; longer ones are skipped), calling
 * ${cb} for the lines that pass ${f} (NULL: all).  ${st} (may be NULL)
 * receives the counts.  Returns 0, or -1 if the file cannot be read. */
int audit_query(
    const char *path, const struct audit_filter *f, audit_query_cb *cb, void *ctx, struct audit_stats *st);

/* audit_cli(argc, argv, path): `mcpgate admin audit [--since T] [--subject S]
 * [--client C] [--tool T] [--denied]` on the log ${path}; ${argv[0]} is
 * "audit".  Prints matching lines to standard output and the count of
 * skipped malformed lines to standard error.  --since takes an RFC 3339 time,
 * a date, or a duration back from now ("30s", "15m", "2h", "7d").  Returns the
 * exit status: 0, 1 (the log cannot be read) or 2 (usage). */
int audit_cli(int argc, char **argv, const char *path);

#endif
