/* cli_daemon: the daemon's life around the mount, for cli.c: detaching
 * from the terminal with the parent waiting for the verdict, telling it
 * and the service manager once the mount answers, and the rfs-unmount
 * watcher that clears a mount its daemon left dead.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <glib.h>

#include "rfs/log.h"
#include "rfs/notify.h"
#include "rfs/util.h"
#include "cli_int.h"

/* Detach from the terminal: fork, new session, cwd /, stdio on
 * /dev/null. The parent waits for one byte on a pipe, the child's verdict
 * once the mount answers (see ready_thread), and exits with it: mount(8),
 * systemd and scripts see a working mount when rfs returns. Returns the
 * pipe's write end, in the child. */
int cli_detach(void)
{
	int p[2], fd;
	pid_t pid;
	unsigned char st;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) || (pid = fork()) < 0) {
		fprintf(stderr, "rfs: cannot start the daemon: %s\n",
			g_strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		do
			n = read(p[0], &st, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1) {
			fprintf(stderr, "rfs: the daemon exited before the "
				"mount answered\n");
			_exit(RFS_EXIT_MOUNT);
		}
		_exit(st);
	}
	close(p[0]);
	setsid();
	if (chdir("/") < 0) {
		/* "/" is there */
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return p[1];
}

struct ready {
	char *path;		/* absolute mountpoint */
	char *what;		/* "host:dir" */
	int pipe_fd;		/* cli_detach()'s, or -1 */
};

/* stat(path) in a child process: 0 or errno. A stat of our own mount
 * from one of our threads would be answered by our FUSE loop all the
 * same, but under valgrind (which runs one thread at a time and counts a
 * stat as a call that never blocks) it would never be. */
static int stat_in_child(const char *path)
{
	struct stat st;
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(stat(path, &st) ? (errno & 0x7f) : 0);
	if (pid < 0)
		return errno;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

/* A stat of the mount root goes through the FUSE loop and the link: once
 * it answers, the mount works. Then tell the waiting parent and the
 * service manager. Runs detached. */
static void *ready_thread(void *data)
{
	struct ready *r = data;
	unsigned char ok = 0;
	char *msg;
	int err = stat_in_child(r->path);

	if (err)
		log_warn("%s does not answer yet: %s", r->path,
			 g_strerror(err));
	if (r->pipe_fd >= 0) {
		if (write(r->pipe_fd, &ok, 1) != 1)
			log_warn("cannot tell the parent: %s",
				 g_strerror(errno));
		close(r->pipe_fd);
	}
	msg = g_strdup_printf("READY=1\nSTATUS=Mounted %s on %s", r->what,
			      r->path);
	notify_send(msg);
	g_free(msg);
	g_free(r->path);
	g_free(r->what);
	g_free(r);
	return NULL;
}

void cli_start_ready(const char *mountpoint, const char *host,
		     const char *base, int pipe_fd)
{
	struct ready *r = g_new0(struct ready, 1);
	pthread_t t;

	r->path = g_strdup(mountpoint);
	r->what = g_strdup_printf("%s:%s", host, base);
	r->pipe_fd = pipe_fd;
	if (pthread_create(&t, NULL, ready_thread, r)) {
		log_err("cannot start a thread");
		r->pipe_fd = -1;
		if (pipe_fd >= 0)
			close(pipe_fd);		/* the parent exits 6 */
		g_free(r->path);
		g_free(r->what);
		g_free(r);
		return;
	}
	pthread_detach(t);
}

/* A daemon that dies without unmounting (kill -9, a crash) leaves a
 * mountpoint that answers ENOTCONN. fusermount3's auto_unmount cannot
 * clear it for a user's mount (its check opens the mountpoint as root,
 * which a mount without allow_other refuses with EACCES), so this child
 * does, as the mounting user: in a session of its own, stdio on
 * /dev/null, it holds only the read end of a pipe. The daemon writes a
 * byte once it has unmounted; EOF without one means it is gone, and a
 * mountpoint that then answers ENOTCONN is unmounted. Only
 * async-signal-safe calls after fork() (other threads may exist).
 * Returns the pipe's write end (for cli_reaper_done()) or -1. */
int cli_start_reaper(const char *mnt)
{
	char *fm = g_find_program_in_path("fusermount3");
	int p[2], fd;
	pid_t pid;
	char b;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) || (pid = fork()) < 0) {
		log_warn("cannot watch for the daemon's death: %s",
			 g_strerror(errno));
		g_free(fm);
		return -1;
	}
	if (pid > 0) {
		close(p[0]);
		g_free(fm);
		return p[1];
	}
	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	prctl(PR_SET_NAME, "rfs-unmount");
	fd = open("/dev/null", O_RDWR);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
	    dup2(p[0], 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);		/* /dev/fuse above all */
	do
		n = read(3, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(0);		/* unmounted by the daemon */
	/* The pipe may close before /dev/fuse does: a request sent then is
	 * ended with ECONNABORTED, the next ones fail with ENOTCONN. */
	for (int i = 0; i < 100; i++) {
		struct timespec ms10 = { .tv_nsec = 10000000 };

		fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 || errno != ECONNABORTED)
			break;
		nanosleep(&ms10, NULL);
	}
	if (fd >= 0 || errno != ENOTCONN)
		_exit(0);		/* not a dead mount (any more) */
	if (getuid() == 0)
		_exit(umount2(mnt, MNT_DETACH) ? 1 : 0);
	if (fm)
		execl(fm, "fusermount3", "-u", "-z", "-q", "--", mnt,
		      (char *)NULL);
	_exit(1);
}

/* The daemon unmounted: the reaper may go. */
void cli_reaper_done(int fd)
{
	if (fd >= 0 && write(fd, "u", 1) != 1)
		log_warn("cannot tell the unmount watcher: %s",
			 g_strerror(errno));
	if (fd >= 0)
		close(fd);
}
