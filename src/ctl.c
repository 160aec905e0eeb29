/* ctl: the control socket (daemon side) and rfs status (client side). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib.h>

#include "rfs/ctl.h"
#include "rfs/log.h"
#include "rfs/util.h"

#define CTL_TIMEOUT_MS 2000	/* a client waits this long for an answer */

/* ---- where ---- */

static char *ctl_dir(uid_t uid)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char *run;
	struct stat st;

	if (uid == 0)
		return g_strdup("/run/rfs");
	if (uid == getuid() && xdg && xdg[0] == '/')
		return g_build_filename(xdg, "rfs", NULL);
	run = g_strdup_printf("/run/user/%u", (unsigned)uid);
	if (stat(run, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid) {
		char *d = g_build_filename(run, "rfs", NULL);

		g_free(run);
		return d;
	}
	g_free(run);
	return g_strdup_printf("/tmp/rfs-%u", (unsigned)uid);
}

/* A directory of uid's that no one else may enter: /tmp/rfs-UID could
 * have been made by anyone. */
static int dir_safe(const char *dir, uid_t uid, int create)
{
	struct stat st;

	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid)
		return -EPERM;
	if ((st.st_mode & 077) && (!create || chmod(dir, 0700) < 0))
		return -EPERM;
	return 0;
}

char *ctl_path(uid_t uid, const char *mountpoint, const char *suffix,
	       int create)
{
	char *dir = ctl_dir(uid), *path = NULL;
	char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA1,
						  mountpoint, -1);
	int rc = dir_safe(dir, uid, create);

	if (rc)
		log_debug("control directory %s: %s", dir, g_strerror(-rc));
	else
		path = g_strdup_printf("%s/%.16s%s", dir, sum, suffix);
	if (path && strlen(path) >= sizeof(struct sockaddr_un) -
		    offsetof(struct sockaddr_un, sun_path)) {
		log_debug("control socket path too long: %s", path);
		g_clear_pointer(&path, g_free);
	}
	g_free(sum);
	g_free(dir);
	return path;
}

static socklen_t set_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	g_strlcpy(a->sun_path, path, sizeof(a->sun_path));
	return (socklen_t)sizeof(*a);
}

/* ---- the daemon's side ---- */

struct ctl {
	struct rfs *fs;
	const struct stats_about *about;
	char *path;
	int lfd, wake[2];
	dev_t dev;		/* the socket we bound: removed only if */
	ino_t ino;		/* the name is still ours */
	pthread_t thread;
};

/* One client: its request line, our answer. The socket times out, so a
 * client that sends nothing cannot stop the others for long. */
static void answer(struct ctl *c, int fd)
{
	struct timeval tv = { .tv_sec = 1 };
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char req[64] = "", *text;
	ssize_t n;
	size_t off = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) ||
	    (cr.uid != getuid() && cr.uid != 0))
		return;
	while (off < sizeof(req) - 1 && !strchr(req, '\n') &&
	       (n = read(fd, req + off, sizeof(req) - 1 - off)) > 0)
		req[off += (size_t)n] = '\0';
	if (g_str_has_prefix(req, "raw\n")) {
		char *line = stats_text(c->fs);

		text = g_strconcat(line, "\n", NULL);
		g_free(line);
	} else if (g_str_has_prefix(req, "status\n")) {
		text = stats_report(c->fs, c->about);
	} else {
		text = g_strdup("error: unknown request\n");
	}
	for (off = 0; off < strlen(text); off += (size_t)n)
		if ((n = write(fd, text + off, strlen(text) - off)) <= 0)
			break;
	g_free(text);
}

static void *ctl_thread(void *data)
{
	struct ctl *c = data;
	struct pollfd p[2] = { { .fd = c->lfd, .events = POLLIN },
			       { .fd = c->wake[0], .events = POLLIN } };

	for (;;) {
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			answer(c, fd);
			close(fd);
		}
	}
	return NULL;
}

static void ctl_free(struct ctl *c)
{
	struct stat st;

	if (c->lfd >= 0)
		close(c->lfd);
	if (stat(c->path, &st) == 0 && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		unlink(c->path);
	for (int i = 0; i < 2; i++)
		if (c->wake[i] >= 0)
			close(c->wake[i]);
	g_free(c->path);
	g_free(c);
}

struct ctl *ctl_start(struct rfs *fs, const char *sock,
		      const struct stats_about *about)
{
	struct ctl *c = g_new0(struct ctl, 1);
	struct sockaddr_un a;
	socklen_t alen = set_addr(&a, sock);
	struct stat st;

	c->fs = fs;
	c->about = about;
	c->path = g_strdup(sock);
	c->wake[0] = c->wake[1] = -1;
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* A socket left by a daemon that died: its mountpoint is ours now
	 * (it was not mounted, or we could not have mounted). */
	unlink(sock);
	if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&a, alen) ||
	    chmod(sock, 0600) || listen(c->lfd, 8) || stat(sock, &st) ||
	    pipe2(c->wake, O_CLOEXEC)) {
		log_warn("control socket %s: %s (rfs status will not answer)",
			 sock, g_strerror(errno));
		ctl_free(c);
		return NULL;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	if (pthread_create(&c->thread, NULL, ctl_thread, c)) {
		log_warn("control socket: cannot start a thread");
		ctl_free(c);
		return NULL;
	}
	return c;
}

void ctl_stop(struct ctl *c)
{
	if (!c)
		return;
	if (write(c->wake[1], "", 1) != 1)
		log_warn("control socket: cannot stop its thread");
	else
		pthread_join(c->thread, NULL);
	ctl_free(c);
}

/* ---- the mount table ---- */

/* /proc/self/mountinfo escapes blanks as \040. */
static char *unescape_mount(const char *s)
{
	GString *o = g_string_new(NULL);

	for (; *s; s++) {
		if (s[0] == '\\' && g_ascii_isdigit(s[1]) &&
		    g_ascii_isdigit(s[2]) && g_ascii_isdigit(s[3])) {
			g_string_append_c(o, (char)((s[1] - '0') * 64 +
				(s[2] - '0') * 8 + (s[3] - '0')));
			s += 3;
		} else {
			g_string_append_c(o, *s);
		}
	}
	return g_string_free(o, FALSE);
}

gboolean ctl_mount_find(const char *path, char **fstype, char **sopts)
{
	char *txt = NULL, **lines;
	gboolean found = FALSE;

	*fstype = *sopts = NULL;
	if (!g_file_get_contents("/proc/self/mountinfo", &txt, NULL, NULL))
		return FALSE;
	lines = g_strsplit(txt, "\n", -1);
	for (char **l = lines; *l; l++) {
		char **f = g_strsplit(*l, " ", -1);
		const char *sep = strstr(*l, " - ");
		char **tail = sep ? g_strsplit(sep + 3, " ", 3) : NULL;

		if (g_strv_length(f) > 5 && tail && g_strv_length(tail) == 3) {
			char *mp = unescape_mount(f[4]);

			if (!strcmp(mp, path)) {	/* the last is on top */
				found = TRUE;
				g_free(*fstype);
				g_free(*sopts);
				*fstype = g_strdup(tail[0]);
				*sopts = g_strdup(tail[2]);
			}
			g_free(mp);
		}
		g_strfreev(tail);
		g_strfreev(f);
	}
	g_strfreev(lines);
	g_free(txt);
	return found;
}

/* ---- rfs status ---- */

/* arg made absolute without looking at its last component, which may be
 * a frozen mount: only its parent is resolved. NULL: errno. */
static char *abs_untouched(const char *arg)
{
	char *t = g_strdup(arg), *base, *dir, *rdir, *r = NULL;

	while (strlen(t) > 1 && t[strlen(t) - 1] == '/')
		t[strlen(t) - 1] = '\0';
	base = g_path_get_basename(t);
	dir = g_path_get_dirname(t);
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/")) {
		rdir = realpath(t, NULL);
		r = rdir ? g_strdup(rdir) : NULL;
	} else {
		rdir = realpath(dir, NULL);
		r = rdir ? g_build_filename(rdir, base, NULL) : NULL;
	}
	free(rdir);
	g_free(dir);
	g_free(base);
	g_free(t);
	return r;
}

/* The mount's owner: fuse's user_id= super option. */
static uid_t owner_of(const char *sopts)
{
	const char *p = sopts ? strstr(sopts, "user_id=") : NULL;

	return p && (p == sopts || p[-1] == ',') ?
	       (uid_t)strtoul(p + 8, NULL, 10) : getuid();
}

/* Read until EOF or the deadline. 0, or -ETIMEDOUT / -errno. */
static int read_answer(int fd, GString *out)
{
	gint64 end = g_get_monotonic_time() + CTL_TIMEOUT_MS * 1000LL;
	char buf[4096];
	ssize_t n;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		gint64 left = (end - g_get_monotonic_time()) / 1000;

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			return -ETIMEDOUT;
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (n > 0)
			g_string_append_len(out, buf, n);
	}
}

/* Ask the daemon at sock. 0 with *out, or -errno (-ECONNREFUSED: no
 * one listens, -ENOENT: no socket, -ETIMEDOUT: no answer in time). */
static int ask(const char *sock, const char *req, GString *out)
{
	struct sockaddr_un a;
	socklen_t alen = set_addr(&a, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	/* EAGAIN: the backlog is full, or the request does not fit. */
	if (connect(fd, (struct sockaddr *)&a, alen) < 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
	else
		rc = read_answer(fd, out);
	close(fd);
	return rc;
}

static int status_error(const char *mnt, const char *fmt, ...)
	G_GNUC_PRINTF(2, 3);
static int status_error(const char *mnt, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rfs: %s: ", mnt);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return RFS_EXIT_CONNECT;
}

int ctl_status_main(int argc, char **argv)
{
	const char *mnt = NULL;
	int raw = 0, rc, mounted, is_rfs;
	char *abs, *fstype, *sopts, *sock;
	GString *out;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--raw"))
			raw = 1;
		else if (argv[i][0] == '-' || mnt) {
			fprintf(stderr, "rfs: status: unexpected '%s' (rfs "
				"status [--raw] MOUNTPOINT)\n", argv[i]);
			return RFS_EXIT_USAGE;
		} else {
			mnt = argv[i];
		}
	}
	if (!mnt) {
		fputs("rfs: status: missing MOUNTPOINT (rfs status [--raw] "
		      "MOUNTPOINT)\n", stderr);
		return RFS_EXIT_USAGE;
	}
	abs = abs_untouched(mnt);
	if (!abs) {
		fprintf(stderr, "rfs: %s: %s\n", mnt, g_strerror(errno));
		return RFS_EXIT_USAGE;
	}
	mounted = ctl_mount_find(abs, &fstype, &sopts);
	is_rfs = mounted && !strcmp(fstype, "fuse.rfs");
	sock = ctl_path(owner_of(is_rfs ? sopts : NULL), abs, ".sock", 0);
	out = g_string_new(NULL);
	rc = sock ? ask(sock, raw ? "raw\n" : "status\n", out) : -ENOENT;
	if (rc == 0 && !out->len) {
		rc = status_error(mnt, "the daemon closed without answering "
				  "(only its user and root are answered)");
	} else if (rc == 0) {
		fputs(out->str, stdout);
	} else if (rc == -ECONNREFUSED) {
		rc = status_error(mnt, "no daemon answers (the rfs process is "
				  "gone)%s", is_rfs ? "; unmount with "
				  "fusermount3 -u" : "");
	} else if (rc == -ETIMEDOUT) {
		rc = status_error(mnt, "the daemon does not answer within %d s "
				  "(stopped?)", CTL_TIMEOUT_MS / 1000);
	} else if (!is_rfs) {
		fprintf(stderr, "rfs: %s: not an rfs mount%s%s%s\n", mnt,
			mounted ? " (a " : "", mounted ? fstype : "",
			mounted ? " mount)" : "");
		rc = RFS_EXIT_USAGE;
	} else if (rc == -ENOENT) {
		rc = status_error(mnt, "no control socket %s (mounted by an "
				  "rfs without rfs status?)",
				  sock ? sock : "(unsafe directory)");
	} else {
		rc = status_error(mnt, "%s: %s", sock, g_strerror(-rc));
	}
	g_string_free(out, TRUE);
	g_free(sock);
	g_free(fstype);
	g_free(sopts);
	g_free(abs);
	return rc;
}
