/*
 * client/tokstore: encrypted, atomically written client files.
 */
#include "client/tokstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/internal.h"
#include "core/clock.h"
#include "core/secret.h"

#define MAGIC "mcpgate-store-1\n"
#define MAGIC_LEN (sizeof(MAGIC) - 1)

static mcpgate_err
io_fail(struct cerr *e, const char *what, const char *path)
{
	return (cerr_set(e, MCPGATE_E_STORE, "%s %.300s: %s", what, path, strerror(errno)));
}

/* mkdir -p, the last components 0700. */
static int
mkdirs(const char *dir)
{
	char *p, *s;
	int rv = 0;

	if ((s = strdup(dir)) == NULL)
		return (-1);
	for (p = s + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(s, 0700) != 0 && errno != EEXIST) {
			rv = -1;
			break;
		}
		*p = '/';
	}
	if (rv == 0 && mkdir(s, 0700) != 0 && errno != EEXIST)
		rv = -1;
	free(s);
	return (rv);
}

static char *
path_of(const struct tokstore *s, const char *name)
{
	size_t n = strlen(s->dir) + strlen(name) + 2;
	char *p;

	if ((p = malloc(n)) != NULL)
		snprintf(p, n, "%s/%s", s->dir, name);
	return (p);
}

static int
read_all(int fd, unsigned char *p, size_t cap, size_t *len)
{
	ssize_t r;

	unsigned char extra;

	*len = 0;
	for (;;) {
		if (*len == cap) {
			/* Full: only the end of the file is acceptable now. */
			while ((r = read(fd, &extra, 1)) < 0 && errno == EINTR)
				;
			return (r == 0 ? 0 : -1);
		}
		r = read(fd, p + *len, cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return (-1);
		if (r == 0)
			return (0);
		*len += (size_t)r;
	}
}

static int
write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return (-1);
		b += w;
		n -= (size_t)w;
	}
	return (0);
}

static int
fsync_dir(const char *dir)
{
	int fd, rv;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return (-1);
	rv = fsync(fd);
	close(fd);
	return (rv);
}

static mcpgate_err
load_key(struct tokstore *s, const char *kp, struct cerr *e)
{
	struct stat st;
	size_t len;
	int fd;

	if ((fd = open(kp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return (io_fail(e, "cannot open key file", kp));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return (cerr_set(e, MCPGATE_E_STORE, "key file %.300s is not a regular file", kp));
	}
	if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
		close(fd);
		return (cerr_set(e, MCPGATE_E_STORE,
		    "key file %.300s must be owned by you and have mode 0600; refusing to use it", kp));
	}
	if (read_all(fd, s->key, sizeof(s->key), &len) != 0 || len != sizeof(s->key)) {
		/* read_all fails when the file is longer than the key. */
		close(fd);
		secret_wipe(s->key, sizeof(s->key));
		return (cerr_set(e, MCPGATE_E_STORE_CORRUPT, "key file %.300s does not hold a %d-byte key", kp,
		    AEAD_KEY_LEN));
	}
	close(fd);
	s->have_key = 1;
	return (MCPGATE_OK);
}

static mcpgate_err
create_key(struct tokstore *s, const char *kp, struct cerr *e)
{
	unsigned char k[AEAD_KEY_LEN];
	int fd;

	if ((fd = open(kp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		if (errno == EEXIST)
			return (load_key(s, kp, e)); /* another process won the race */
		return (io_fail(e, "cannot create key file", kp));
	}
	if (secret_random(k, sizeof(k)) != 0 || write_all(fd, k, sizeof(k)) != 0 || fsync(fd) != 0) {
		secret_wipe(k, sizeof(k));
		close(fd);
		unlink(kp);
		return (io_fail(e, "cannot write key file", kp));
	}
	close(fd);
	memcpy(s->key, k, sizeof(k));
	secret_wipe(k, sizeof(k));
	s->have_key = 1;
	fsync_dir(s->dir);
	return (MCPGATE_OK);
}

mcpgate_err
tokstore_open(struct tokstore *s, const char *dir, int create, struct cerr *e)
{
	char *kp;
	mcpgate_err rv;
	struct stat st;

	memset(s, 0, sizeof(*s));
	if ((s->dir = strdup(dir)) == NULL)
		return (cerr_set(e, MCPGATE_E_NOMEM, "out of memory"));
	if ((kp = path_of(s, "key")) == NULL) {
		tokstore_close(s);
		return (cerr_set(e, MCPGATE_E_NOMEM, "out of memory"));
	}
	if (lstat(kp, &st) == 0) {
		rv = load_key(s, kp, e);
	} else if (errno != ENOENT) {
		rv = io_fail(e, "cannot read", kp);
	} else if (!create) {
		rv = MCPGATE_OK; /* nothing stored yet */
	} else if (mkdirs(dir) != 0) {
		rv = io_fail(e, "cannot create directory", dir);
	} else {
		rv = create_key(s, kp, e);
	}
	free(kp);
	if (rv != MCPGATE_OK)
		tokstore_close(s);
	return (rv);
}

void
tokstore_close(struct tokstore *s)
{
	free(s->dir);
	s->dir = NULL;
	secret_wipe(s->key, sizeof(s->key));
	s->have_key = 0;
}

void
tokstore_name(char kind, const char *id, char out[64])
{
	char d[SECRET_DIGEST_LEN + 1];

	secret_digest(id, strlen(id), d);
	snprintf(out, 64, "%c-%s", kind, d);
}

/* Open the sealed file at ${path} named ${name}; *doc NULL if absent. */
static mcpgate_err
open_file(struct tokstore *s, const char *path, const char *name, json_t **doc, struct cerr *e)
{
	unsigned char *raw = NULL, *pt = NULL;
	size_t len = 0, ptlen;
	json_error_t je;
	mcpgate_err rv;
	int fd;

	*doc = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return (MCPGATE_OK);
		return (io_fail(e, "cannot open", path));
	}
	if ((raw = malloc(TOKSTORE_FILE_MAX)) == NULL) {
		close(fd);
		return (cerr_set(e, MCPGATE_E_NOMEM, "out of memory"));
	}
	if (read_all(fd, raw, TOKSTORE_FILE_MAX, &len) != 0) {
		rv = cerr_set(e, MCPGATE_E_STORE_CORRUPT, "%.300s is unreadable or too large", path);
		goto out;
	}
	if (len < MAGIC_LEN + AEAD_OVERHEAD || memcmp(raw, MAGIC, MAGIC_LEN) != 0) {
		rv = cerr_set(e, MCPGATE_E_STORE_CORRUPT,
		    "%.300s is not an mcpgate store file; it was not used (remove it or log in again)", path);
		goto out;
	}
	ptlen = len - MAGIC_LEN - AEAD_OVERHEAD;
	if ((pt = malloc(ptlen + 1)) == NULL) {
		rv = cerr_set(e, MCPGATE_E_NOMEM, "out of memory");
		goto out;
	}
	if (aead_open(s->key, name, strlen(name), raw + MAGIC_LEN, len - MAGIC_LEN, pt) != 0) {
		rv = cerr_set(e, MCPGATE_E_STORE_CORRUPT,
		    "%.300s is corrupted or was written with another key; it was not used "
		    "(log out and in again to replace it)",
		    path);
		goto out;
	}
	*doc = json_loadb((char *)pt, ptlen, JSON_REJECT_DUPLICATES, &je);
	if (*doc == NULL || !json_is_object(*doc)) {
		if (*doc != NULL)
			json_decref(*doc);
		*doc = NULL;
		rv = cerr_set(e, MCPGATE_E_STORE_CORRUPT, "%.300s holds no valid document; it was not used", path);
		goto out;
	}
	rv = MCPGATE_OK;
out:
	if (pt != NULL) {
		secret_wipe(pt, ptlen);
		free(pt);
	}
	secret_wipe(raw, len);
	free(raw);
	close(fd);
	return (rv);
}

mcpgate_err
tokstore_get(struct tokstore *s, char kind, const char *id, json_t **doc, struct cerr *e)
{
	char name[64], *path;
	mcpgate_err rv;

	*doc = NULL;
	if (!s->have_key)
		return (MCPGATE_OK);
	tokstore_name(kind, id, name);
	if ((path = path_of(s, name)) == NULL)
		return (cerr_set(e, MCPGATE_E_NOMEM, "out of memory"));
	rv = open_file(s, path, name, doc, e);
	free(path);
	return (rv);
}

mcpgate_err
tokstore_put(struct tokstore *s, char kind, const char *id, json_t *doc, struct cerr *e)
{
	char name[64], tmpname[128], rnd[SECRET_TOKEN_LEN + 1], *path = NULL, *tmp = NULL, *text = NULL;
	unsigned char *out = NULL;
	size_t n = 0, outlen = 0;
	mcpgate_err rv;
	int fd = -1;

	if (!s->have_key)
		return (cerr_set(e, MCPGATE_E_INTERNAL, "store opened read-only"));
	tokstore_name(kind, id, name);
	if (secret_token(rnd) != 0)
		return (cerr_set(e, MCPGATE_E_INTERNAL, "random generator failed"));
	rnd[12] = '\0';
	snprintf(tmpname, sizeof(tmpname), ".tmp-%s-%s", name, rnd);
	rv = MCPGATE_E_NOMEM;
	if ((path = path_of(s, name)) == NULL || (tmp = path_of(s, tmpname)) == NULL ||
	    (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		cerr_set(e, rv, "out of memory");
		goto out;
	}
	n = strlen(text);
	outlen = MAGIC_LEN + n + AEAD_OVERHEAD;
	if (outlen > TOKSTORE_FILE_MAX) {
		rv = cerr_set(e, MCPGATE_E_STORE, "document too large for the store");
		goto out;
	}
	if ((out = malloc(outlen)) == NULL) {
		cerr_set(e, rv, "out of memory");
		goto out;
	}
	memcpy(out, MAGIC, MAGIC_LEN);
	if (aead_seal(s->key, name, strlen(name), text, n, out + MAGIC_LEN) != 0) {
		rv = cerr_set(e, MCPGATE_E_INTERNAL, "encryption failed");
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		rv = io_fail(e, "cannot create", tmp);
		goto out;
	}
	if (write_all(fd, out, outlen) != 0 || fsync(fd) != 0) {
		rv = io_fail(e, "cannot write", tmp);
		goto out_unlink;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		rv = io_fail(e, "cannot replace", path);
		goto out_unlink;
	}
	fsync_dir(s->dir);
	rv = MCPGATE_OK;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	if (text != NULL) {
		secret_wipe(text, n);
		free(text);
	}
	if (out != NULL) {
		secret_wipe(out, outlen);
		free(out);
	}
	free(path);
	free(tmp);
	return (rv);
}

mcpgate_err
tokstore_del(struct tokstore *s, char kind, const char *id, struct cerr *e)
{
	char name[64], *path;
	mcpgate_err rv = MCPGATE_OK;

	if (!s->have_key)
		return (MCPGATE_OK);
	tokstore_name(kind, id, name);
	if ((path = path_of(s, name)) == NULL)
		return (cerr_set(e, MCPGATE_E_NOMEM, "out of memory"));
	if (unlink(path) != 0 && errno != ENOENT)
		rv = io_fail(e, "cannot remove", path);
	else
		fsync_dir(s->dir);
	free(path);
	return (rv);
}

mcpgate_err
tokstore_lock(struct tokstore *s, char kind, const char *id, int *fd, struct cerr *e)
{
	char name[64], lname[80], *path;
	int64_t deadline;

	*fd = -1;
	if (!s->have_key)
		return (cerr_set(e, MCPGATE_E_INTERNAL, "store not open"));
	tokstore_name(kind, id, name);
	snprintf(lname, sizeof(lname), "%s.lock", name);
	if ((path = path_of(s, lname)) == NULL)
		return (cerr_set(e, MCPGATE_E_NOMEM, "out of memory"));
	if ((*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		mcpgate_err rv = io_fail(e, "cannot open lock file", path);

		free(path);
		return (rv);
	}
	free(path);
	/* flock(2) has no timeout: poll the non-blocking form. */
	deadline = clock_now_ms() + TOKSTORE_LOCK_WAIT_MS;
	while (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || clock_now_ms() > deadline) {
			close(*fd);
			*fd = -1;
			return (cerr_set(e, MCPGATE_E_LOCK,
			    "another mcpgate process holds the token store lock; try again"));
		}
		poll(NULL, 0, 20);
	}
	return (MCPGATE_OK);
}

void
tokstore_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

mcpgate_err
tokstore_each(struct tokstore *s, char kind, int (*fn)(json_t *doc, void *arg), void *arg, struct cerr *e)
{
	DIR *d;
	struct dirent *de;
	char *path;
	json_t *doc;
	mcpgate_err rv = MCPGATE_OK, r1;
	size_t n;

	if (!s->have_key)
		return (MCPGATE_OK);
	if ((d = opendir(s->dir)) == NULL)
		return (io_fail(e, "cannot list", s->dir));
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (de->d_name[0] != kind || de->d_name[1] != '-' || n != 2 + SECRET_DIGEST_LEN)
			continue;
		if ((path = path_of(s, de->d_name)) == NULL) {
			rv = cerr_set(e, MCPGATE_E_NOMEM, "out of memory");
			break;
		}
		r1 = open_file(s, path, de->d_name, &doc, e);
		free(path);
		if (r1 != MCPGATE_OK) {
			rv = r1;
			continue;
		}
		if (doc != NULL) {
			int stop = fn(doc, arg);

			json_decref(doc);
			if (stop)
				break;
		}
	}
	closedir(d);
	return (rv);
}
