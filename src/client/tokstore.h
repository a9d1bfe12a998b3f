/*
 * client/tokstore: the client's files: tokens per MCP server and client
 * registrations per authorization server, each a JSON document sealed with
 * AES-256-GCM (core/aead) under a 32-byte key kept in DIR/key (mode 0600).
 *
 * Layout of DIR (mode 0700):
 *   key                  32 random bytes, created once
 *   t-DIGEST             tokens of one server URL (DIGEST: SHA-256 of the URL)
 *   c-DIGEST             the registration of one issuer
 *   t-DIGEST.lock        flock(2) target serialising refreshes across processes
 *
 * A file is "mcpgate-store-1\n" followed by nonce | ciphertext | tag; the
 * associated data is the file's name, so that files cannot be swapped.
 * Writes go to a temporary file in DIR (O_EXCL, 0600), are fsync'd, renamed
 * over the old file, and the directory is fsync'd: a reader sees the old or
 * the new document, never a mix.  A file that fails authentication is
 * reported as MCPGATE_E_STORE_CORRUPT and never used.
 */
#ifndef MCPGATE_CLIENT_TOKSTORE_H
#define MCPGATE_CLIENT_TOKSTORE_H

#include <jansson.h>

#include "core/aead.h"
#include "mcpgate/mcpgate.h"

struct cerr;

#define TOKSTORE_FILE_MAX (256 * 1024)
#define TOKSTORE_LOCK_WAIT_MS 60000

struct tokstore {
	char *dir;
	unsigned char key[AEAD_KEY_LEN];
	int have_key; /* 0: nothing stored yet (opened without create) */
};

/* tokstore_open(s, dir, create, e): open the store in ${dir}; with ${create},
 * make the directory and key if missing.  Without, a missing store opens
 * empty.  Errors: MCPGATE_E_STORE (I/O, unsafe permissions), MCPGATE_E_NOMEM. */
mcpgate_err tokstore_open(struct tokstore *s, const char *dir, int create, struct cerr *e);

/* tokstore_close(s): wipe the key and free. */
void tokstore_close(struct tokstore *s);

/* tokstore_name(kind, id, out): the file name "KIND-DIGEST" of ${id}. */
void tokstore_name(char kind, const char *id, char out[64]);

/* tokstore_get(s, kind, id, doc, e): the document for ${id} in ${doc}, or
 * NULL if there is none.  Errors: MCPGATE_E_STORE, MCPGATE_E_STORE_CORRUPT. */
mcpgate_err tokstore_get(struct tokstore *s, char kind, const char *id, json_t **doc, struct cerr *e);

/* tokstore_put(s, kind, id, doc, e): replace the document for ${id}
 * atomically.  Errors: MCPGATE_E_STORE. */
mcpgate_err tokstore_put(struct tokstore *s, char kind, const char *id, json_t *doc, struct cerr *e);

/* tokstore_del(s, kind, id, e): remove the document for ${id} (absent: OK). */
mcpgate_err tokstore_del(struct tokstore *s, char kind, const char *id, struct cerr *e);

/* tokstore_lock(s, kind, id, fd, e): take the exclusive lock of ${id},
 * waiting at most TOKSTORE_LOCK_WAIT_MS; the descriptor in ${fd} is released
 * with tokstore_unlock().  Errors: MCPGATE_E_LOCK, MCPGATE_E_STORE. */
mcpgate_err tokstore_lock(struct tokstore *s, char kind, const char *id, int *fd, struct cerr *e);
void tokstore_unlock(int fd);

/* tokstore_each(s, kind, fn, arg, e): call ${fn} with every document of
 * ${kind}; stop if it returns non-zero.  A corrupted file is skipped and
 * makes the result MCPGATE_E_STORE_CORRUPT at the end. */
mcpgate_err tokstore_each(struct tokstore *s, char kind, int (*fn)(json_t *doc, void *arg), void *arg,
    struct cerr *e);

#endif
