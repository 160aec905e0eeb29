/* mux: a session of an OpenSSH ControlMaster, as `ssh -S PATH` gets one
 * (OpenSSH's PROTOCOL.mux, "passenger" mode, protocol version 4).
 *
 * On the master's Unix socket: HELLO both ways, then NEW_SESSION with
 * the sftp subsystem (or a command) followed by three fds for the
 * session's stdin, stdout and stderr (SCM_RIGHTS, one byte each); the
 * master answers SESSION_OPENED. The session's stdin and stdout are one
 * end of our socketpair: the SFTP stream. The control socket stays open
 * for the session's life (the master ends the session when it closes).
 * No authentication, no prompt: the master did that once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib.h>

#include "rfs/mux.h"
#include "rfs/buf.h"
#include "rfs/log.h"
#include "rfs/util.h"

#define MUX_MSG_HELLO		0x00000001
#define MUX_C_NEW_SESSION	0x10000002
#define MUX_S_PERMISSION_DENIED	0x80000002
#define MUX_S_FAILURE		0x80000003
#define MUX_S_SESSION_OPENED	0x80000006
#define MUX_VERSION		4
#define MUX_MAX_PACKET		(256 * 1024)

/* Write all of buf, waiting up to timeout_ms for room. 0 or -errno. */
static int write_all(int fd, const void *buf, size_t n, int timeout_ms)
{
	const char *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		struct pollfd pf = { .fd = fd, .events = POLLOUT };

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (poll(&pf, 1, timeout_ms) == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t n, int timeout_ms)
{
	char *p = buf;

	while (n) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pf, 1, timeout_ms) == 0)
			return -ETIMEDOUT;
		r = read(fd, p, n);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		}
	}
	return 0;
}

/* Send b, whose first 4 bytes are room for the length, as one packet. */
static int send_packet(int fd, struct buf *b, int timeout_ms)
{
	buf_set_u32(b, 0, (uint32_t)(b->len - 4));
	return write_all(fd, b->data, b->len, timeout_ms);
}

/* One packet into *out (g_free). 0 or -errno. */
static int read_packet(int fd, unsigned char **out, size_t *len,
		       int timeout_ms)
{
	unsigned char hdr[4];
	uint32_t n;
	int rc;

	*out = NULL;
	if ((rc = read_all(fd, hdr, 4, timeout_ms)))
		return rc;
	n = buf_peek_u32(hdr);
	if (n < 4 || n > MUX_MAX_PACKET)
		return -EPROTO;
	*out = g_malloc(n);
	*len = n;
	if ((rc = read_all(fd, *out, n, timeout_ms))) {
		g_free(*out);
		*out = NULL;
	}
	return rc;
}

/* One fd over the socket, with one byte (what ssh's mm_send_fd does). */
static int send_fd(int sock, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr msg = { 0 };
	struct iovec v;
	struct cmsghdr *c;
	char one = 0;

	memset(&cm, 0, sizeof(cm));
	v.iov_base = &one;
	v.iov_len = 1;
	msg.msg_iov = &v;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_len = CMSG_LEN(sizeof(int));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -EIO;
}

/* Connect to the master's socket: the fd, or -errno (-ENOENT,
 * -ECONNREFUSED: no master there). */
static int mux_dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int hello(int fd, int timeout_ms, GError **err)
{
	struct buf b;
	unsigned char *p;
	size_t len;
	int rc;

	buf_init(&b, 16);
	buf_put_u32(&b, 0);		/* length */
	buf_put_u32(&b, MUX_MSG_HELLO);
	buf_put_u32(&b, MUX_VERSION);
	rc = send_packet(fd, &b, timeout_ms);
	buf_free(&b);
	if (!rc)
		rc = read_packet(fd, &p, &len, timeout_ms);
	if (rc) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "ControlMaster: no "
			      "greeting: %s", g_strerror(-rc));
		return -1;
	}
	if (len < 8 || buf_peek_u32(p) != MUX_MSG_HELLO ||
	    buf_peek_u32(p + 4) != MUX_VERSION) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "ControlMaster: it speaks "
			      "another mux protocol than version %d",
			      MUX_VERSION);
		g_free(p);
		return -1;
	}
	g_free(p);
	return 0;
}

/* NEW_SESSION for command (a subsystem name if subsystem), with peer as
 * the session's stdin and stdout and errfd as its stderr. */
static int new_session(int fd, const char *command, int subsystem,
		       int peer, int errfd, int timeout_ms, GError **err)
{
	struct buf b;
	unsigned char *p = NULL;
	size_t len;
	struct bufr r;
	uint32_t type, id;
	int rc;

	buf_init(&b, 64);
	buf_put_u32(&b, 0);		/* length */
	buf_put_u32(&b, MUX_C_NEW_SESSION);
	buf_put_u32(&b, 1);		/* request id */
	buf_put_cstring(&b, "");	/* reserved */
	buf_put_u32(&b, 0);		/* tty (as ssh: bools are u32) */
	buf_put_u32(&b, 0);		/* X11 forwarding */
	buf_put_u32(&b, 0);		/* agent forwarding */
	buf_put_u32(&b, (uint32_t)subsystem);
	buf_put_u32(&b, 0xffffffff);	/* no escape character */
	buf_put_cstring(&b, "");	/* terminal type */
	buf_put_cstring(&b, command);
	rc = send_packet(fd, &b, timeout_ms);
	buf_free(&b);
	/* stdin, stdout (both the same socket), stderr */
	for (int i = 0; i < 3 && !rc; i++)
		rc = send_fd(fd, i < 2 ? peer : errfd);
	if (!rc)
		rc = read_packet(fd, &p, &len, timeout_ms);
	if (rc) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "ControlMaster: session "
			      "request: %s", g_strerror(-rc));
		return -1;
	}
	bufr_init(&r, p, len);
	if (buf_get_u32(&r, &type) || buf_get_u32(&r, &id) || id != 1) {
		type = 0;
	} else if (type == MUX_S_PERMISSION_DENIED || type == MUX_S_FAILURE) {
		char *why = NULL, *safe;

		buf_get_cstring(&r, &why);
		safe = util_safe_text(why ? why : "", FALSE);
		rfs_set_error(err, RFS_EXIT_CONNECT, "ControlMaster refused "
			      "the session: %s", safe);
		g_free(safe);
		g_free(why);
		g_free(p);
		return -1;
	}
	g_free(p);
	if (type != MUX_S_SESSION_OPENED) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "ControlMaster: unexpected "
			      "answer to a session request");
		return -1;
	}
	return 0;
}

int mux_session(const char *path, const char *command, int subsystem,
		int timeout_ms, int *stream, int *ctl, GError **err)
{
	int fd = mux_dial(path), sp[2], errfd;

	*stream = *ctl = -1;
	if (fd < 0) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "no ControlMaster answers "
			      "at %s: %s", path, g_strerror(-fd));
		return fd == -ENOENT || fd == -ECONNREFUSED ? 1 : -1;
	}
	if (hello(fd, timeout_ms, err)) {
		close(fd);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp)) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "socketpair: %s",
			      g_strerror(errno));
		close(fd);
		return -1;
	}
	/* The server process's stderr: rfs's own (the terminal at mount
	 * time, /dev/null or the journal once detached). */
	errfd = fcntl(2, F_GETFD) < 0 ? sp[1] : 2;
	if (new_session(fd, command, subsystem, sp[1], errfd, timeout_ms,
			err)) {
		close(sp[0]);
		close(sp[1]);
		close(fd);
		return -1;
	}
	close(sp[1]);		/* the master has its copy */
	*stream = sp[0];
	*ctl = fd;
	log_debug("ControlMaster %s: new %s session", path, command);
	return 0;
}
