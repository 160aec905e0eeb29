/* xport_cmd: transports that are a pair of file descriptors instead of
 * rfs's own SSH session, for the SFTP engine to run over (chan.h):
 *
 *   transport=ssh   OpenSSH's ssh as a child, `ssh [options] -s HOST sftp`
 *                   (or HOST CMD with sftp_server=), on a socketpair: the
 *                   user's whole ssh_config, agent, certificates, GSSAPI,
 *                   ControlMaster... as sshfs runs it.
 *   directport=P    a TCP stream to an sftp-server listening on port P of
 *                   the host (no SSH: no encryption).
 *   passive         rfs's own stdin and stdout carry SFTP (sshfs's
 *                   -o passive: the other end runs the sftp-server).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>

#include "rfs/xport.h"
#include "rfs/log.h"
#include "rfs/util.h"

int xport_spawn(char *const argv[], struct xport *x, GError **err)
{
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp)) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "socketpair: %s",
			      g_strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls: the I/O thread may exist. */
		if (dup2(sp[1], 0) < 0 || dup2(sp[1], 1) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(sp[1]);
	if (pid < 0) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "fork: %s",
			      g_strerror(errno));
		close(sp[0]);
		return -1;
	}
	x->proxy_pid = pid;
	return sp[0];
}

/* ssh's command line, the user's config deciding the rest (rfs passes
 * what the mount was given: -F, -o, the user), up to the host: for
 * transport=ssh's SFTP stream (then "-s" before the host), or for
 * commands (exec: never a prompt, never a new master; through the
 * master at mux_path if any). */
static GPtrArray *ssh_words(const struct conf *c, const struct xport_opts *o,
			    int exec, const char *mux_path, GError **err)
{
	GPtrArray *a = g_ptr_array_new();
	char **cmd = NULL;
	GError *e = NULL;

	if (!g_shell_parse_argv(o->ssh_command ? o->ssh_command : "ssh",
				NULL, &cmd, &e)) {
		rfs_set_error(err, RFS_EXIT_USAGE, "ssh_command: %s",
			      e->message);
		g_error_free(e);
		g_ptr_array_free(a, TRUE);
		return NULL;
	}
	for (char **p = cmd; *p; p++)
		g_ptr_array_add(a, *p);
	g_free(cmd);		/* the strings are a's now */
	/* No forwarding of any kind: this ssh carries SFTP only. */
	g_ptr_array_add(a, g_strdup("-x"));
	g_ptr_array_add(a, g_strdup("-a"));
	g_ptr_array_add(a, g_strdup("-oClearAllForwardings=yes"));
	if (!o->interactive || exec)	/* a reconnect: never a prompt */
		g_ptr_array_add(a, g_strdup("-oBatchMode=yes"));
	if (exec)
		g_ptr_array_add(a, g_strdup("-oControlMaster=no"));
	if (mux_path) {
		g_ptr_array_add(a, g_strdup("-S"));
		g_ptr_array_add(a, g_strdup(mux_path));
	}
	if (o->config_file) {
		g_ptr_array_add(a, g_strdup("-F"));
		g_ptr_array_add(a, g_strdup(o->config_file));
	}
	for (char *const *p = o->ssh_opts; p && *p; p++)
		g_ptr_array_add(a, g_strconcat("-o", *p, NULL));
	if (!exec && !o->sftp_server)
		g_ptr_array_add(a, g_strdup("-s"));
	g_ptr_array_add(a, g_strdup(c->host_arg));
	return a;
}

static char **ssh_argv(const struct conf *c, const struct xport_opts *o,
		       GError **err)
{
	GPtrArray *a = ssh_words(c, o, 0, NULL, err);

	if (!a)
		return NULL;
	g_ptr_array_add(a, g_strdup(o->sftp_server ? o->sftp_server
						   : "sftp"));
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

void xport_set_exec(struct xport *x, const struct conf *c,
		    const struct xport_opts *o)
{
	GPtrArray *a;

	if (!util_valid_host(c->host_arg))
		return;
	a = ssh_words(c, o, 1, x->mux_path, NULL);
	if (!a)
		return;
	g_ptr_array_add(a, NULL);
	g_strfreev(x->exec_argv);
	x->exec_argv = (char **)g_ptr_array_free(a, FALSE);
}

static int ssh_connect(const struct conf *c, const struct xport_opts *o,
		       struct xport *x, GError **err)
{
	char **argv, *line;
	int fd;

	if (!util_valid_host(c->host_arg)) {
		rfs_set_error(err, RFS_EXIT_USAGE, "transport=ssh: the host "
			      "'%s' cannot be passed to ssh", c->host_arg);
		return -1;
	}
	argv = ssh_argv(c, o, err);
	if (!argv)
		return -1;
	line = g_strjoinv(" ", argv);
	log_debug("transport=ssh: %s", line);
	g_free(line);
	fd = xport_spawn(argv, x, err);
	g_strfreev(argv);
	return fd;
}

/* Is the connected socket fd's peer on this machine? */
static int peer_is_loopback(int fd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >>
			24) == 127;
	return ss.ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
}

static int direct_connect(const struct conf *c, const struct xport_opts *o,
			  GError **err)
{
	int fd = xport_tcp_connect(c, o->directport, err);

	if (fd >= 0 && !peer_is_loopback(fd) && o->interactive)
		log_warn("directport: SFTP to %s port %d is not encrypted "
			 "(no SSH): anyone on the network path can read and "
			 "change it", c->hostname, o->directport);
	return fd;
}

static int passive_connect(const struct xport_opts *o, struct xport *x,
			   GError **err)
{
	int in, out;

	if (o->passive_in < 0) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "passive: the SFTP stream "
			      "on standard input and output is gone, and "
			      "cannot be opened again");
		return -1;
	}
	in = fcntl(o->passive_in, F_DUPFD_CLOEXEC, 3);
	out = fcntl(o->passive_out, F_DUPFD_CLOEXEC, 3);
	if (in < 0 || out < 0) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "passive: %s",
			      g_strerror(errno));
		if (in >= 0)
			close(in);
		return -1;
	}
	x->pipe.wfd = out;
	return in;
}

int xport_cmd_connect(const struct conf *c, const struct xport_opts *o,
		      struct xport *x, GError **err)
{
	int fd;

	switch (o->transport) {
	case XPORT_T_SSH:
		xport_start(x, "ssh");
		fd = ssh_connect(c, o, x, err);
		xport_set_exec(x, c, o);
		break;
	case XPORT_T_DIRECT:
		xport_start(x, "directport");
		fd = direct_connect(c, o, err);
		break;
	default:
		xport_start(x, "passive");
		fd = passive_connect(o, x, err);
		break;
	}
	if (fd < 0) {
		xport_close(x);
		return -1;
	}
	x->pipe.rfd = fd;
	if (x->pipe.wfd < 0)
		x->pipe.wfd = fd;
	fcntl(x->pipe.rfd, F_SETFL, fcntl(x->pipe.rfd, F_GETFL) | O_NONBLOCK);
	fcntl(x->pipe.wfd, F_SETFL, fcntl(x->pipe.wfd, F_GETFL) | O_NONBLOCK);
	log_debug("transport %s: SFTP stream open", x->kind);
	return 0;
}

const char *xport_child_gone(struct xport *x, char *buf, size_t len)
{
	int st;

	if (x->proxy_pid <= 0 || waitpid(x->proxy_pid, &st, WNOHANG) <= 0)
		return NULL;
	x->proxy_pid = 0;
	if (WIFEXITED(st))
		snprintf(buf, len, "ssh exited with status %d%s",
			 WEXITSTATUS(st), WEXITSTATUS(st) == 127 ?
			 " (not found?)" : "");
	else
		snprintf(buf, len, "ssh was killed by signal %d",
			 WTERMSIG(st));
	return buf;
}
