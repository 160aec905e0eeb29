/* sftp_exec: a command run on the server beside SFTP, in an exec channel
 * of the connection's own SSH session (see sftp_exec() in rfs/sftp.h).
 *
 * A job is a struct sftp_req of type SFTP_REQ_EXEC: it waits in the
 * connection's incoming queue like any request (while the link is down,
 * until reconnect_timeout), then the I/O thread takes it (sftp_exec_take)
 * into c->execs. Jobs run one at a time, in order (sftp_exec_run): the
 * head job's channel is stepped through open, exec, EOF, reading, close
 * and free, each step a non-blocking libssh2 call that may say EAGAIN:
 * the job then waits for the session socket like the lanes. One channel
 * at a time also keeps within the server's MaxSessions. A job is never
 * run twice: one in flight when the link breaks fails with r->lost
 * (sftp_exec_abort).
 *
 * A transport without an SSH session of ours (transport=ssh, a
 * ControlMaster's sessions) has ssh's words for a command instead
 * (x.exec_argv): the job is then an ssh child, through the master if
 * there is one, its output read by the loop (spawn_read).
 *
 * No command with a name in it runs before a probe showed, once per
 * link, that the login's shell reads our quoting as a POSIX shell does:
 * PROBE prints PROBE_OUT only where it does. Anything else (a ForceCommand
 * such as internal-sftp, which runs for every command; a login shell
 * such as cmd.exe, where ' quotes nothing and & separates commands)
 * makes commands unavailable for the rest of that link (c->exec_works).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sftp_int.h"
#include "rfs/log.h"

/* ' and \ outside quotes, as shell_quote() writes them */
#define PROBE "printf '%s\\n' 'rfs'\\''exec'\\\\"
#define PROBE_OUT "rfs'exec\\\n"
#define OUT_MAX (16 * 1024)	/* output kept; the rest is read, dropped */

enum { EX_OPEN, EX_EXEC, EX_EOF, EX_READ, EX_CLOSE, EX_WAIT, EX_FREE };

struct exec_job {
	struct sftp_req *q;	/* the request: its callback, its count */
	struct sftp_conn *c;
	LIBSSH2_CHANNEL *ch;
	int spawned;		/* an ssh child instead of a channel: */
	GPid pid;		/* it, until reaped */
	int fd[2];		/* its stdout and stderr, -1 once at EOF */
	long long tick;		/* the timer watching it exit, or 0 */
	int started;
	int probe;		/* running PROBE before the command */
	int step;
	GString *out, *err;
	int status;		/* exit status, -1 killed by a signal */
	int64_t since_ms;	/* taken (the watchdog's "oldest") */
	char *why;		/* a failure before the command ran */
	int why_lasting;	/* ... that holds for the whole link */
	int refusals;		/* channel opens the server refused */
	int64_t retry_at;	/* ms: open again then, not before */
};

#define REFUSALS_MAX 12	/* about 2 s of asking again (a session the
			 * server has not let go of yet) */

/* What j runs now: the probe, or its command. */
static const char *cmd_of(struct exec_job *j)
{
	if (j->probe)
		return PROBE;
	return (const char *)j->q->pkt.data + 9;  /* behind length, type, id */
}

static void job_free(struct exec_job *j)
{
	if (j->tick)
		loop_del_timer(j->c->loop, j->tick);
	g_free(j->why);
	g_string_free(j->out, TRUE);
	g_string_free(j->err, TRUE);
	g_free(j);
}

/* Answer q: err 0 (the command ran: status, out, err), or -errno with
 * why as r->msg. */
static void answer(struct sftp_conn *c, struct sftp_req *q, int err,
		   int status, const char *out, size_t out_len,
		   const char *msg)
{
	struct sftp_reply r = { .err = err, .msg = msg, .gen = c->gen,
				.conn = c, .status = (uint32_t)status };

	r.data = (const unsigned char *)out;
	r.data_len = out_len;
	q->cb(&r, q->data);
	sftp_req_free(q);
}

/* n bytes of the command's stdout (e 0) or stderr (e 1): kept up to
 * OUT_MAX, the rest dropped. */
static void keep_output(struct exec_job *j, int e, const char *buf,
			size_t n)
{
	GString *s = e ? j->err : j->out;

	if (s->len < OUT_MAX)
		g_string_append_len(s, buf, MIN(n, OUT_MAX - s->len));
}

/* Close the child's pipes still open (at their end, or abandoned). */
static void close_pipes(struct exec_job *j)
{
	for (int e = 0; e < 2; e++)
		if (j->fd[e] >= 0) {
			loop_del_fd(j->c->loop, j->fd[e]);
			close(j->fd[e]);
			j->fd[e] = -1;
		}
}

/* Read what the child's stdout (e 0) or stderr (e 1) has; at its end
 * close it. */
static void spawn_drain(struct exec_job *j, int e)
{
	char tmp[4096];
	ssize_t n;

	if (j->fd[e] < 0)
		return;
	while ((n = read(j->fd[e], tmp, sizeof(tmp))) > 0)
		keep_output(j, e, tmp, (size_t)n);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	loop_del_fd(j->c->loop, j->fd[e]);
	close(j->fd[e]);
	j->fd[e] = -1;
}

/* Has the child exited? Then its status, what its pipes still hold, and
 * the job is done (sftp_pump, before the loop sleeps, answers it): 1.
 * A process it left behind may hold a pipe open: its exit decides. */
static int spawn_reaped(struct exec_job *j)
{
	int st = 0;
	pid_t rc;

	while ((rc = waitpid(j->pid, &st, WNOHANG)) < 0 && errno == EINTR)
		;
	if (rc == 0)
		return 0;
	j->pid = 0;
	spawn_drain(j, 0);
	spawn_drain(j, 1);
	close_pipes(j);		/* what another process holds open */
	j->status = rc > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (rc > 0 && WIFSIGNALED(st))
		g_string_append_printf(j->err, "%skilled by signal %d",
				       j->err->len ? "; " : "",
				       WTERMSIG(st));
	j->step = EX_FREE + 1;
	return 1;
}

static void spawn_read(struct loop *l, int fd, int events, void *data)
{
	struct exec_job *j = data;

	(void)l; (void)events;
	spawn_drain(j, fd == j->fd[1]);
	if (j->fd[0] < 0 && j->fd[1] < 0)
		spawn_reaped(j);	/* exiting: now or at the next tick */
}

static long spawn_tick(struct loop *l, long long id, void *data)
{
	struct exec_job *j = data;

	(void)l;
	if (id != j->tick)	/* an earlier child's: done */
		return LOOP_TIMER_STOP;
	if (j->pid > 0 && !spawn_reaped(j))
		return 50;
	j->tick = 0;
	return LOOP_TIMER_STOP;
}

/* Start j as an ssh child: 0, or -1 with why in j->err. */
static int spawn(struct sftp_conn *c, struct exec_job *j)
{
	GPtrArray *argv = g_ptr_array_new();
	GError *e = NULL;
	int ok;

	for (char **p = c->x.exec_argv; *p; p++)
		g_ptr_array_add(argv, *p);
	g_ptr_array_add(argv, (char *)cmd_of(j));
	g_ptr_array_add(argv, NULL);
	ok = g_spawn_async_with_pipes(NULL, (char **)argv->pdata, NULL,
			G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
			G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, &j->pid,
			NULL, &j->fd[0], &j->fd[1], &e);
	g_ptr_array_free(argv, TRUE);	/* not the strings: not ours */
	if (!ok) {
		j->why = g_strdup_printf("cannot run ssh for a command: %s",
					 e->message);
		g_error_free(e);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		fcntl(j->fd[i], F_SETFL, fcntl(j->fd[i], F_GETFL) | O_NONBLOCK);
		fcntl(j->fd[i], F_SETFD, FD_CLOEXEC);
		loop_add_fd(c->loop, j->fd[i], LOOP_READ, spawn_read, j);
	}
	if (j->tick)		/* the probe's */
		loop_del_timer(c->loop, j->tick);
	j->tick = loop_add_timer(c->loop, 50, spawn_tick, j);
	return 0;
}

/* Stop j's ssh child, if it runs (the job is being abandoned). */
static void spawn_stop(struct exec_job *j)
{
	close_pipes(j);
	if (j->pid > 0) {	/* an ssh_command= may ignore SIGTERM */
		xport_stop_child(j->pid, "ssh for a command");
		j->pid = 0;
	}
}

void sftp_exec_take(struct sftp_conn *c, struct sftp_req *q)
{
	struct exec_job *j;

	if (!c->session && !c->x.exec_argv)
		return answer(c, q, -EOPNOTSUPP, 0, NULL, 0, "this transport "
			      "(passive, directport) has no SSH session to "
			      "run commands on");
	j = g_new0(struct exec_job, 1);
	j->q = q;
	j->c = c;
	j->fd[0] = j->fd[1] = -1;
	j->out = g_string_new(NULL);
	j->err = g_string_new(NULL);
	j->since_ms = loop_now_ms();
	j->spawned = !c->session;
	log_debug("exec (queued): %s", cmd_of(j));
	g_queue_push_tail(&c->execs, j);
}

/* Exec does not work on this link: say why once, and answer every
 * command of the link so from now on. */
static void exec_unavailable(struct sftp_conn *c, const char *why)
{
	if (c->exec_works >= 0)
		log_info("commands on the server are not available on this "
			 "link: %s", why);
	c->exec_works = -1;
	g_free(c->exec_why);
	c->exec_why = g_strdup(why);
}

/* j's channel or child is done: 1 when it goes on (the probe passed:
 * now its command, from the start), else 0 with its request answered. */
static int job_done(struct sftp_conn *c, struct exec_job *j)
{
	if (j->why) {
		if (j->why_lasting)
			exec_unavailable(c, j->why);
		answer(c, j->q, -EOPNOTSUPP, 0, NULL, 0, j->why);
		return 0;
	}
	if (j->probe && strcmp(j->out->str, PROBE_OUT) != 0) {
		if (j->spawned && j->status == 255) {	/* ssh failed: maybe
							 * not for good */
			char *why = g_strdup_printf("ssh could not run a "
					"command: %s", j->err->len ?
					j->err->str : "status 255");

			g_strchomp(why);
			answer(c, j->q, -EOPNOTSUPP, 0, NULL, 0, why);
			g_free(why);
			return 0;
		}
		exec_unavailable(c, "the server did not run a command as a "
				 "POSIX shell would (a ForceCommand such as "
				 "internal-sftp, or a login shell that is "
				 "not sh-like)");
		answer(c, j->q, -EOPNOTSUPP, 0, NULL, 0, c->exec_why);
		return 0;
	}
	if (j->probe) {
		c->exec_works = 1;
		j->probe = 0;
		j->step = EX_OPEN;
		j->ch = NULL;
		j->status = 0;
		j->refusals = 0;
		j->retry_at = 0;
		g_string_truncate(j->out, 0);
		g_string_truncate(j->err, 0);
		return 1;
	}
	log_debug("exec: status %d%s%s", j->status, j->err->len ? ": " : "",
		  j->err->str);
	answer(c, j->q, 0, j->status, j->out->str, j->out->len, j->err->str);
	return 0;
}

/* Read what the channel has, stdout and stderr: 1 when the channel is
 * at its end, 0 to wait, -1 on a session error. */
static int job_read(struct exec_job *j)
{
	char tmp[4096];
	ssize_t n;

	for (int got = 1; got;) {	/* until nothing is left */
		got = 0;
		for (int e = 0; e < 2; e++) {
			while ((n = libssh2_channel_read_ex(j->ch, e, tmp,
							sizeof(tmp))) > 0) {
				got = 1;
				keep_output(j, e, tmp, (size_t)n);
			}
			if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
				return -1;
		}
	}
	return libssh2_channel_eof(j->ch) ? 1 : 0;
}

/* Only wakes the loop: the pump then steps the job waiting for it. */
static long retry_timer(struct loop *l, long long id, void *data)
{
	(void)l; (void)id; (void)data;
	return LOOP_TIMER_STOP;
}

/* One step of j: 1 when it moved (call again), 0 when it waits for the
 * socket, -1 after the session failed (the link is dropped). */
static int job_step(struct sftp_conn *c, struct exec_job *j)
{
	LIBSSH2_SESSION *s = c->session;
	int rc = 0;
	char *sig = NULL;

	switch (j->step) {
	case EX_OPEN:
		j->ch = libssh2_channel_open_ex(s, "session",
				sizeof("session") - 1, 64 * 1024,
				LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
		if (j->ch)
			break;
		rc = libssh2_session_last_errno(s);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return 0;
		if (rc != LIBSSH2_ERROR_CHANNEL_FAILURE) {
			rc = MIN(rc, -1);	/* the link failed: below */
			break;
		}
		/* MaxSessions reached: the last command's session may not
		 * be let go of yet on the server. Ask again a little later;
		 * refused all along, the link allows no command. */
		if (++j->refusals < REFUSALS_MAX) {
			j->retry_at = loop_now_ms() + 30L * j->refusals;
			loop_add_timer(c->loop, 30L * j->refusals,
				       retry_timer, NULL);
			return 0;
		}
		j->why = g_strdup_printf("the server refused a channel: %s",
					 xport_error(s));
		j->why_lasting = 1;
		j->step = EX_FREE + 1;
		return 1;
	case EX_EXEC:
		rc = libssh2_channel_exec(j->ch, cmd_of(j));
		if (rc == LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED) {
			j->why = g_strdup("the server refused to run a "
					  "command");
			j->why_lasting = 1;
			j->step = EX_FREE;	/* free closes it */
			return 1;
		}
		break;
	case EX_EOF:
		rc = libssh2_channel_send_eof(j->ch);
		break;
	case EX_READ:
		rc = job_read(j);
		if (rc == 0)
			return 0;
		rc = rc < 0 ? -1 : 0;
		break;
	case EX_CLOSE:
		rc = libssh2_channel_close(j->ch);
		break;
	case EX_WAIT:
		rc = libssh2_channel_wait_closed(j->ch);
		if (rc)
			break;
		j->status = libssh2_channel_get_exit_status(j->ch);
		if (libssh2_channel_get_exit_signal(j->ch, &sig, NULL, NULL,
						    NULL, NULL, NULL) == 0 &&
		    sig) {
			g_string_append_printf(j->err, "%skilled by signal "
					       "%s", j->err->len ? "; " : "",
					       sig);
			j->status = -1;
		}
		libssh2_free(s, sig);
		break;
	case EX_FREE:
		if (j->ch)
			rc = libssh2_channel_free(j->ch);
		break;
	}
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return 0;
	if (rc < 0) {
		recon_conn_fail(c, xport_error(s));
		return -1;
	}
	j->step++;
	return 1;
}

/* Start the head job j: its probe first while the link has not shown
 * that commands work. 0, or -1 when it is answered already. */
static int job_start(struct sftp_conn *c, struct exec_job *j)
{
	j->started = 1;
	if (c->exec_works < 0) {
		j->why = g_strdup(c->exec_why);
		return -1;
	}
	j->probe = c->exec_works == 0;
	if (j->spawned && spawn(c, j))
		return -1;
	if (j->spawned)
		j->step = EX_READ;	/* spawn_read() ends it */
	STATS_ADD(c, execs, 1);
	log_debug("exec: %s", cmd_of(j));
	return 0;
}

int sftp_exec_run(struct sftp_conn *c)
{
	struct exec_job *j;
	int moved = 0, rc;

	while ((j = g_queue_peek_head(&c->execs))) {
		if (j->retry_at && loop_now_ms() < j->retry_at)
			break;
		if (!j->started && job_start(c, j))
			j->step = EX_FREE + 1;
		rc = 0;
		while (!j->spawned && j->step <= EX_FREE &&
		       (rc = job_step(c, j)) > 0)
			moved = 1;
		if (rc < 0)
			return -1;	/* sftp_exec_abort() had them all */
		if (j->step <= EX_FREE)
			break;		/* the socket, or the child's pipes */
		moved = 1;
		if (job_done(c, j)) {	/* the probe passed: its command */
			if (j->spawned)
				j->started = 0;
			else
				STATS_ADD(c, execs, 1);
			continue;
		}
		g_queue_pop_head(&c->execs);
		job_free(j);
	}
	return moved;
}

void sftp_exec_abort(struct sftp_conn *c)
{
	struct exec_job *j;
	struct sftp_req *q;

	GQueue waiting = G_QUEUE_INIT;

	while ((j = g_queue_pop_head(&c->execs))) {
		/* its channel goes with the session; an ssh child is
		 * stopped */
		spawn_stop(j);
		if (!j->started || j->probe ||
		    (!j->spawned && j->step == EX_OPEN)) {
			/* its command never ran: the next link runs it */
			g_queue_push_tail(&waiting, j->q);
			j->q = NULL;
		} else {
			sftp_req_lost(j->q);
		}
		job_free(j);
	}
	pthread_mutex_lock(&c->lock);
	while ((q = g_queue_pop_tail(&waiting)))
		g_queue_push_head(&c->incoming, q);
	pthread_mutex_unlock(&c->lock);
}

int64_t sftp_exec_oldest(struct sftp_conn *c)
{
	struct exec_job *j = g_queue_peek_head(&c->execs);

	return j ? j->since_ms : 0;
}

void sftp_exec(struct sftp_conn *c, const char *cmd, sftp_done_cb cb,
	       void *data)
{
	struct sftp_req *q = sftp_req_new(SFTP_REQ_EXEC, 0, strlen(cmd) + 1);

	buf_put_raw(&q->pkt, cmd, strlen(cmd) + 1);
	q->no_replay = 1;
	sftp_submit(c, q, cb, data);
}
