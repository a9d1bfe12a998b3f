/*
 * upstream_stdio: the stdio transport backend.  One supervised child
 * process per instance, and one I/O thread that owns it.
 *
 * The thread spawns the child (posix_spawn, its own process group, empty
 * signal mask, default dispositions, every descriptor above 2 closed, an
 * environment of the configured variables plus PATH and HOME), then polls
 * its stdout (newline-delimited JSON-RPC, at most UPSTREAM_MSG_MAX bytes a
 * line), its stderr (lines into our log, prefixed and rate-limited), its
 * stdin when output is queued, a pidfd (the child exited) and a wake pipe.
 * When stdout ends or the child exits, the child is stopped (see
 * terminate()), reaped, down() is reported, and the thread waits a backoff
 * (0.5 s doubling to 30 s, back to 0.5 s after 30 s of healthy running)
 * before it spawns again.
 *
 * Output: a sender appends its line to the queue (16 MiB at most) under the
 * mutex; if no other thread is writing and the pipe is not full, it becomes
 * the writer: it takes the whole queue as one batch, writes it with the
 * mutex released (non-blocking: a send never waits for the child), and
 * goes on while others queued more meanwhile.  So concurrent senders never
 * wait for each other's write(), and lines queued during a write go out
 * together in the next.  When the pipe is full (EAGAIN) the rest goes back
 * to the front of the queue and the I/O thread writes on POLLOUT; a write
 * error marks the child's stdin broken and the I/O thread ends the child.
 * The I/O thread reads its flags without the mutex.
 */
#include "gateway/upstream_transport.h"

#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/jtext.h"
#include "core/log.h"

#define OUT_MAX (16 * 1024 * 1024)
#define SEND_SMALL 4096		/* messages up to this size are built on the stack */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define HEALTHY_MS 30000
#define EOF_GRACE_MS 500	/* after closing stdin, before SIGTERM */
#define TERM_GRACE_MS 2000	/* after SIGTERM, before SIGKILL */
#define ERRLINE_MAX 1024	/* stderr line, longer ones are cut */
#define ERRLINES_BURST 100	/* stderr lines logged at once ... */
#define ERRLINES_PER_S 20	/* ... and per second after that */

struct stdio_t {
	const struct upstream_config *cfg;
	struct upstream_transport_cb cb;
	pthread_t thr;
	pthread_mutex_t mtx;
	int wake[2];		/* wake pipe: [0] polled by the thread */
	/* under mtx */
	int stopping;		/* also read without mtx (atomic) */
	int running;		/* a child is up and in_fd is open */
	int in_fd;		/* child's stdin (ours: write end, non-blocking) */
	struct buf out;		/* queued output, not taken by a writer */
	struct buf batch;	/* what the writer is writing (only it, unlocked) */
	size_t queued;		/* bytes accepted and not yet written */
	int writing;		/* a thread is writing ${batch} */
	int blocked;		/* the pipe was full: the I/O thread writes (atomic) */
	int broken;		/* a write failed: end the child (atomic) */
	pthread_cond_t wcv;	/* writing went back to 0 */
	pid_t pid;
	/* thread-only */
	int out_fd, err_fd, pid_fd;
	struct buf line;	/* stdout line being read */
	int skipping;		/* discarding an oversized stdout line */
	char errline[ERRLINE_MAX + 1];
	size_t errlen;
	int errskip;
	double errtokens;
	int64_t errlast_ms;
	unsigned long errdropped;
};

static void
wake_thread(struct stdio_t *t)
{
	char c = 0;

	(void)!write(t->wake[1], &c, 1);
}

/* Sleep up to ${ms} unless woken for stopping.  Returns 1 if stopping. */
static int
nap(struct stdio_t *t, int64_t ms)
{
	int64_t end = clock_now_ms() + ms, left;
	struct pollfd p = {t->wake[0], POLLIN, 0};
	char junk[64];
	int stop;

	for (;;) {
		pthread_mutex_lock(&t->mtx);
		stop = t->stopping;
		pthread_mutex_unlock(&t->mtx);
		if (stop)
			return (1);
		if ((left = end - clock_now_ms()) <= 0)
			return (0);
		if (poll(&p, 1, (int)left) > 0)
			(void)!read(t->wake[0], junk, sizeof(junk));
	}
}

static char **
make_env(const struct upstream_config *cfg)
{
	static const char *keep[] = {"PATH", "HOME"};
	char **envp;
	const char *v;
	size_t i, j, n = 0;

	if ((envp = calloc(cfg->envc + 3, sizeof(char *))) == NULL)
		return (NULL);
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t kl = strlen(keep[i]);

		for (j = 0; j < cfg->envc; j++)
			if (strncmp(cfg->envp[j], keep[i], kl) == 0 && cfg->envp[j][kl] == '=')
				break;
		if (j < cfg->envc || (v = getenv(keep[i])) == NULL)
			continue;
		if (asprintf(&envp[n], "%s=%s", keep[i], v) < 0) {
			envp[n] = NULL;
			goto err;
		}
		n++;
	}
	for (j = 0; j < cfg->envc; j++)
		if ((envp[n++] = strdup(cfg->envp[j])) == NULL)
			goto err;
	return (envp);
err:
	for (i = 0; envp[i] != NULL; i++)
		free(envp[i]);
	free(envp);
	return (NULL);
}

static void
free_env(char **envp)
{
	size_t i;

	for (i = 0; envp[i] != NULL; i++) {
		explicit_bzero(envp[i], strlen(envp[i]));
		free(envp[i]);
	}
	free(envp);
}

/* Spawn the child with pipes on 0, 1, 2.  Returns 0 or -1 (logged). */
static int
spawn(struct stdio_t *t)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	char **envp;
	pid_t pid;
	int e;

	if ((envp = make_env(t->cfg)) == NULL)
		return (-1);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
		log_warnp("upstream %s: pipe", t->cfg->name);
		goto err0;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* dup2 clears close-on-exec on the target; everything else above 2
	 * is closed in the child whatever its flags. */
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	e = posix_spawnp(&pid, t->cfg->argv[0], &fa, &at, t->cfg->argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e != 0) {
		errno = e;
		log_warnp("upstream %s: cannot start %s", t->cfg->name, t->cfg->argv[0]);
		goto err0;
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	free_env(envp);
	(void)fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
	t->out_fd = out[0];
	t->err_fd = err[0];
	t->pid_fd = (int)syscall(SYS_pidfd_open, pid, 0);
	pthread_mutex_lock(&t->mtx);
	t->pid = pid;
	t->in_fd = in[1];
	t->running = 1;
	buf_reset(&t->out);
	buf_reset(&t->batch);
	t->queued = 0;
	__atomic_store_n(&t->blocked, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&t->broken, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&t->mtx);
	buf_reset(&t->line);
	t->skipping = 0;
	t->errlen = 0;
	t->errskip = 0;
	log_info("upstream %s: started pid %ld", t->cfg->name, (long)pid);
	return (0);
err0:
	for (e = 0; e < 2; e++) {
		if (in[e] >= 0)
			close(in[e]);
		if (out[e] >= 0)
			close(out[e]);
		if (err[e] >= 0)
			close(err[e]);
	}
	free_env(envp);
	return (-1);
}

/* Write the queue as the writer (see the top of the file).  Called with mtx
 * held and no other writer; returns with mtx held, the queue written, or
 * the pipe full (blocked), or stdin broken, or the child gone. */
static void
drain_locked(struct stdio_t *t)
{
	struct buf tmp;
	size_t off;
	ssize_t w = 0;
	int fd = t->in_fd, e = 0;

	t->writing = 1;
	while (t->out.len > 0 && t->running && !t->blocked && !t->broken) {
		/* The queue becomes the batch; senders fill the other buffer. */
		tmp = t->batch;
		t->batch = t->out;
		t->out = tmp;
		pthread_mutex_unlock(&t->mtx);
		for (off = 0; off < t->batch.len; off += (size_t)w)
			if ((w = write(fd, t->batch.p + off, t->batch.len - off)) < 0) {
				if ((e = errno) == EINTR)
					w = 0;
				else
					break;
			}
		pthread_mutex_lock(&t->mtx);
		t->queued -= off;
		if (off == t->batch.len) {
			buf_reset(&t->batch);
			continue;
		}
		if (e == EAGAIN) {
			/* The rest first, then what was queued meanwhile. */
			memmove(t->batch.p, t->batch.p + off, t->batch.len - off);
			t->batch.len -= off;
			if (buf_add(&t->batch, t->out.p, t->out.len) == 0) {
				tmp = t->out;
				t->out = t->batch;
				t->batch = tmp;
				buf_reset(&t->batch);
				__atomic_store_n(&t->blocked, 1, __ATOMIC_RELEASE);
				wake_thread(t);
				continue;
			}
		}
		__atomic_store_n(&t->broken, 1, __ATOMIC_RELEASE);
		buf_reset(&t->batch);
		wake_thread(t);
	}
	t->writing = 0;
	pthread_cond_broadcast(&t->wcv);
}

static void
deliver_line(struct stdio_t *t)
{
	json_t *msg;
	size_t n = t->line.len;

	if (n > 0 && t->line.p[n - 1] == '\r')
		n--;
	if (n == 0)
		return;
	msg = jtext_parse(t->line.p, n, 0, NULL);
	if (json_is_array(msg)) {
		/* A batch (protocol 2025-03-26): its messages one by one. */
		json_t *v;
		size_t i;

		json_array_foreach(msg, i, v)
			if (json_is_object(v))
				t->cb.message(t->cb.arg, json_incref(v), 0);
		json_decref(msg);
		return;
	}
	if (msg == NULL || !json_is_object(msg)) {
		log_warn("upstream %s: ignored a line on stdout that is not a JSON-RPC message",
		    t->cfg->name);
		json_decref(msg);
		return;
	}
	t->cb.message(t->cb.arg, msg, 0);
}

static void
read_out(struct stdio_t *t, const char *p, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl ? (size_t)(nl - p) : n;
		if (!t->skipping && buf_add(&t->line, p, k)) {
			log_warn("upstream %s: message over %d bytes dropped", t->cfg->name,
			    UPSTREAM_MSG_MAX);
			t->skipping = 1;
			buf_reset(&t->line);
		}
		if (nl == NULL)
			return;
		if (!t->skipping)
			deliver_line(t);
		t->skipping = 0;
		buf_reset(&t->line);
		p += k + 1;
		n -= k + 1;
	}
}

/* One stderr line into the log: control characters replaced, at most
 * ERRLINES_PER_S lines a second after a burst of ERRLINES_BURST. */
static void
log_errline(struct stdio_t *t)
{
	int64_t now = clock_now_ms();
	size_t i;

	t->errtokens += (double)(now - t->errlast_ms) * ERRLINES_PER_S / 1000.0;
	if (t->errtokens > ERRLINES_BURST)
		t->errtokens = ERRLINES_BURST;
	t->errlast_ms = now;
	if (t->errtokens < 1) {
		t->errdropped++;
		return;
	}
	t->errtokens -= 1;
	if (t->errdropped > 0) {
		log_warn("upstream %s: %lu stderr lines not logged (rate limit)", t->cfg->name,
		    t->errdropped);
		t->errdropped = 0;
	}
	if (t->errlen > 0 && t->errline[t->errlen - 1] == '\r')
		t->errlen--;
	t->errline[t->errlen] = '\0';
	for (i = 0; i < t->errlen; i++)
		if ((unsigned char)t->errline[i] < 0x20 || t->errline[i] == 0x7f)
			t->errline[i] = '?';
	log_info("upstream %s: stderr: %s", t->cfg->name, t->errline);
}

static void
read_err(struct stdio_t *t, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (!t->errskip)
				log_errline(t);
			t->errlen = 0;
			t->errskip = 0;
			continue;
		}
		if (t->errskip)
			continue;
		if (t->errlen == ERRLINE_MAX) {
			log_errline(t);
			t->errlen = 0;
			t->errskip = 1;
			continue;
		}
		t->errline[t->errlen++] = p[i];
	}
}

/* Run the child's I/O until it ends or we are stopping. */
static void
pump(struct stdio_t *t)
{
	struct pollfd p[5];
	char junk[64], *b;
	ssize_t r;
	int n, want_out, stop, broken;

	if ((b = malloc(64 * 1024)) == NULL)
		return;
	for (;;) {
		stop = __atomic_load_n(&t->stopping, __ATOMIC_ACQUIRE);
		want_out = __atomic_load_n(&t->blocked, __ATOMIC_ACQUIRE);
		broken = __atomic_load_n(&t->broken, __ATOMIC_ACQUIRE);
		if (stop || broken)
			break;
		n = 0;
		p[n++] = (struct pollfd){t->wake[0], POLLIN, 0};
		p[n++] = (struct pollfd){t->out_fd, POLLIN, 0};
		p[n++] = (struct pollfd){t->err_fd, t->err_fd >= 0 ? POLLIN : 0, 0};
		p[n++] = (struct pollfd){want_out ? t->in_fd : -1, POLLOUT, 0};
		p[n++] = (struct pollfd){t->pid_fd, POLLIN, 0};
		if (poll(p, (nfds_t)n, 1000) < 0) {
			if (errno == EINTR)
				continue;
			log_warnp("upstream %s: poll", t->cfg->name);
			break;
		}
		if (p[0].revents)
			(void)!read(t->wake[0], junk, sizeof(junk));
		if (p[2].revents) {
			r = read(t->err_fd, b, 64 * 1024);
			if (r > 0)
				read_err(t, b, (size_t)r);
			else if (r == 0 || errno != EINTR) {
				close(t->err_fd);
				t->err_fd = -1;
			}
		}
		if (p[1].revents) {
			r = read(t->out_fd, b, 64 * 1024);
			if (r > 0)
				read_out(t, b, (size_t)r);
			else if (r == 0 || errno != EINTR)
				break;
		}
		if (p[3].revents) {
			/* Room in the pipe: write what is queued (unless a
			 * sender already does). */
			pthread_mutex_lock(&t->mtx);
			__atomic_store_n(&t->blocked, 0, __ATOMIC_RELEASE);
			if (!t->writing)
				drain_locked(t);
			pthread_mutex_unlock(&t->mtx);
		}
		/* The child exited: drain what it wrote, then stop. */
		if (p[4].revents && !p[1].revents)
			break;
	}
	free(b);
}

/* Wait up to ${ms} for the child to exit, without reaping it.  1 if it did. */
static int
exited(pid_t pid, int64_t ms)
{
	int64_t end = clock_now_ms() + ms;
	siginfo_t si;
	struct timespec ts = {0, 10 * 1000 * 1000};

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
			return (1);	/* ECHILD: someone reaped it */
		if (si.si_pid == pid)
			return (1);
		if (clock_now_ms() >= end)
			return (0);
		nanosleep(&ts, NULL);
	}
}

/* Stop the child: close our ends (stdin EOF is the graceful signal), wait,
 * SIGTERM, wait, SIGKILL; then SIGKILL whatever is left in its process
 * group while the leader is still a zombie (so the group id cannot have
 * been reused), and reap it. */
static void
terminate(struct stdio_t *t)
{
	pid_t pid;
	int st = 0;

	pthread_mutex_lock(&t->mtx);
	t->running = 0;
	pid = t->pid;
	/* A sender may be in write() on in_fd: not before it is out. */
	while (t->writing)
		pthread_cond_wait(&t->wcv, &t->mtx);
	if (t->in_fd >= 0)
		close(t->in_fd);
	t->in_fd = -1;
	buf_reset(&t->out);
	buf_reset(&t->batch);
	t->queued = 0;
	pthread_mutex_unlock(&t->mtx);
	close(t->out_fd);
	t->out_fd = -1;
	if (t->err_fd >= 0)
		close(t->err_fd);
	t->err_fd = -1;
	if (!exited(pid, EOF_GRACE_MS)) {
		(void)kill(-pid, SIGTERM);
		if (!exited(pid, TERM_GRACE_MS)) {
			log_warn("upstream %s: pid %ld ignored SIGTERM, killing it", t->cfg->name,
			    (long)pid);
			(void)kill(-pid, SIGKILL);
		}
	}
	(void)kill(-pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (t->pid_fd >= 0)
		close(t->pid_fd);
	t->pid_fd = -1;
	if (t->errdropped > 0) {
		log_warn("upstream %s: %lu stderr lines not logged (rate limit)", t->cfg->name,
		    t->errdropped);
		t->errdropped = 0;
	}
	pthread_mutex_lock(&t->mtx);
	t->pid = -1;
	pthread_mutex_unlock(&t->mtx);
	if (WIFEXITED(st))
		log_info("upstream %s: pid %ld exited with status %d", t->cfg->name, (long)pid,
		    WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		log_info("upstream %s: pid %ld killed by signal %d", t->cfg->name, (long)pid,
		    WTERMSIG(st));
}

static void *
run(void *arg)
{
	struct stdio_t *t = arg;
	int64_t backoff = BACKOFF_MIN_MS, started;
	int stop;

	for (;;) {
		pthread_mutex_lock(&t->mtx);
		stop = t->stopping;
		pthread_mutex_unlock(&t->mtx);
		if (stop)
			break;
		if (spawn(t) == 0) {
			started = clock_now_ms();
			t->cb.up(t->cb.arg);
			pump(t);
			if (t->line.len > 0 && !t->skipping)
				deliver_line(t);	/* a last line without newline */
			terminate(t);
			pthread_mutex_lock(&t->mtx);
			stop = t->stopping;
			pthread_mutex_unlock(&t->mtx);
			t->cb.down(t->cb.arg, stop ? "stopped" : "exited");
			if (stop)
				break;
			if (clock_now_ms() - started >= HEALTHY_MS)
				backoff = BACKOFF_MIN_MS;
		}
		log_info("upstream %s: restarting in %lld ms", t->cfg->name, (long long)backoff);
		if (nap(t, backoff))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return (NULL);
}

static void *
s_open(const struct upstream_config *cfg, const char *subject, const struct upstream_transport_cb *cb)
{
	struct stdio_t *t;
	sigset_t all, old;
	int e;

	(void)subject;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	t->cfg = cfg;
	t->cb = *cb;
	t->in_fd = t->out_fd = t->err_fd = t->pid_fd = -1;
	t->pid = -1;
	t->errtokens = ERRLINES_BURST;
	t->errlast_ms = clock_now_ms();
	buf_init(&t->out, OUT_MAX);
	buf_init(&t->batch, OUT_MAX);
	buf_init(&t->line, UPSTREAM_MSG_MAX);
	if (pipe2(t->wake, O_CLOEXEC | O_NONBLOCK))
		goto err0;
	pthread_mutex_init(&t->mtx, NULL);
	pthread_cond_init(&t->wcv, NULL);
	/* The thread takes no process signals (SIGTERM, SIGHUP and SIGPIPE
	 * stay with whoever waits for them); a write to a dead child's stdin
	 * then fails with EPIPE. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&t->thr, NULL, run, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		log_warn("upstream %s: cannot start thread", cfg->name);
		goto err1;
	}
	return (t);
err1:
	pthread_cond_destroy(&t->wcv);
	pthread_mutex_destroy(&t->mtx);
	close(t->wake[0]);
	close(t->wake[1]);
err0:
	buf_clear(&t->out);
	buf_clear(&t->batch);
	buf_clear(&t->line);
	free(t);
	return (NULL);
}

static int
s_send(void *arg, json_t *msg, int64_t id, int64_t timeout_ms)
{
	struct stdio_t *t = arg;
	char small[SEND_SMALL], *text = small;
	size_t n;
	int rc = -1;

	(void)id;
	(void)timeout_ms;
	/* Compact JSON never holds a raw newline: strings escape it.  Most
	 * messages fit on the stack; bigger ones get jansson's buffer. */
	if ((n = jtext_dumpb(msg, small, sizeof(small) - 1)) == 0)
		return (-1);
	if (n > sizeof(small) - 1) {
		if ((text = jtext_dumps(msg)) == NULL)
			return (-1);
		n = strlen(text);
	}
	text[n] = '\n';
	pthread_mutex_lock(&t->mtx);
	if (!t->running || t->stopping || t->broken)
		goto out;
	if (t->queued + n + 1 > OUT_MAX) {
		log_warn("upstream %s: output queue full", t->cfg->name);
		goto out;
	}
	if (buf_add(&t->out, text, n + 1) != 0)
		goto out;
	t->queued += n + 1;
	rc = 0;
	if (!t->writing && !t->blocked)
		drain_locked(t);
out:
	pthread_mutex_unlock(&t->mtx);
	if (text != small)
		free(text);
	return (rc);
}

static void
s_set_version(void *arg, const char *v)
{
	(void)arg;
	(void)v;
}

static pid_t
s_pid(void *arg)
{
	struct stdio_t *t = arg;
	pid_t pid;

	pthread_mutex_lock(&t->mtx);
	pid = t->running ? t->pid : -1;
	pthread_mutex_unlock(&t->mtx);
	return (pid);
}

static void
s_close(void *arg)
{
	struct stdio_t *t = arg;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mtx);
	__atomic_store_n(&t->stopping, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&t->mtx);
	wake_thread(t);
	pthread_join(t->thr, NULL);
	pthread_cond_destroy(&t->wcv);
	pthread_mutex_destroy(&t->mtx);
	close(t->wake[0]);
	close(t->wake[1]);
	buf_clear(&t->out);
	buf_clear(&t->batch);
	buf_clear(&t->line);
	free(t);
}

const struct upstream_transport upstream_stdio_transport = {
	.name = "stdio",
	.open = s_open,
	.send = s_send,
	.set_version = s_set_version,
	.pid = s_pid,
	.close = s_close,
};
