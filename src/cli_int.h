/* cli_int: what cli.c takes from cli_daemon.c; private to the two.
 * Main thread, at mount time (cli_reaper_done() at unmount). */
#ifndef RFS_CLI_INT_H
#define RFS_CLI_INT_H

/* Detach from the terminal: fork, new session, cwd /, stdio on
 * /dev/null; the parent exits with the byte cli_start_ready() writes (6
 * if none comes). Returns the pipe's write end in the child, or -1 (not
 * detached, message printed). */
int cli_detach(void);

/* Once a stat of mountpoint answers, write the verdict to pipe_fd (if
 * >= 0; it is closed) and tell the service manager READY=1 with "host:
 * base". On a thread of its own, detached. */
void cli_start_ready(const char *mountpoint, const char *host,
		     const char *base, int pipe_fd);

/* Start the rfs-unmount watcher of mnt (absolute), which unmounts it if
 * the daemon dies without doing so. Returns the pipe to give
 * cli_reaper_done(), or -1 (no watcher; warned). */
int cli_start_reaper(const char *mnt);

/* The daemon unmounted: the watcher may go. fd -1 does nothing. */
void cli_reaper_done(int fd);

#endif
