/* shell: commands for the server's shell (see rfs/shell.h). Pure. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <glib.h>

#include "rfs/shell.h"

char *shell_quote(const char *s)
{
	GString *q = g_string_new("'");

	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			/* close, the character escaped, open again: the
			 * same word for sh and for fish */
			g_string_append_printf(q, "'\\%c'", *s);
		else
			g_string_append_c(q, *s);
	}
	g_string_append_c(q, '\'');
	return g_string_free(q, FALSE);
}

/* A socket is bound in its directory (cd first), so that its name, not
 * the whole path, must fit a sockaddr_un (108 bytes). perl (Debian's
 * perl-base, most servers), else python3. $1 dir, $2 mode, $3 name,
 * $4 the perl program, $5 the python one. */
static const char sock_sh[] =
	"cd \"$1\" 2>/dev/null || { if test -d \"$1\"; then "
	"echo 'Permission denied' >&2; else "
	"echo 'No such file or directory' >&2; fi; exit 1; }; "
	"if command -v perl >/dev/null 2>&1; then "
	"exec perl -e \"$4\" -- \"$2\" \"$3\"; fi; "
	"if command -v python3 >/dev/null 2>&1; then "
	"exec python3 -c \"$5\" \"$2\" \"$3\"; fi; "
	"echo 'neither perl nor python3 is there to make a socket' >&2; "
	"exit 127";
static const char sock_pl[] =
	"use Socket; my ($m, $n) = @ARGV; "
	"socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die \"$!\\n\"; "
	"bind($s, pack_sockaddr_un($n)) or die \"$!\\n\"; "
	"chmod(oct($m), $n) or die \"$!\\n\";";
static const char sock_py[] =
	"import os, socket, sys; m, n = sys.argv[1:]; "
	"s = socket.socket(socket.AF_UNIX); s.bind(n); os.chmod(n, int(m, 8))";

static char *socket_cmd(const char *path, const char *mode)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash && slash != path ? g_strndup(path,
				(gsize)(slash - path)) : g_strdup("/");
	const char *words[] = { sock_sh, dir, mode, slash ? slash + 1 : path,
				sock_pl, sock_py };
	GString *c = g_string_new("env LC_ALL=C /bin/sh -c ");

	for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
		char *q = shell_quote(words[i]);

		g_string_append_printf(c, "%s%s", q, i == 0 ? " sh " :
				       i + 1 < G_N_ELEMENTS(words) ? " " : "");
		g_free(q);
	}
	g_free(dir);
	return g_string_free(c, FALSE);
}

char *shell_special_cmd(const char *path, mode_t mode, dev_t rdev)
{
	char m[8], *q;
	GString *cmd;

	snprintf(m, sizeof(m), "%04o", (unsigned)(mode & 07777));
	if (S_ISSOCK(mode))
		return socket_cmd(path, m);
	if (!S_ISFIFO(mode) && !S_ISCHR(mode) && !S_ISBLK(mode))
		return NULL;
	q = shell_quote(path);
	/* -m takes permission bits only: setuid, setgid, sticky after */
	cmd = g_string_new(NULL);
	g_string_printf(cmd, "env LC_ALL=C %s -m %04o -- %s",
			S_ISFIFO(mode) ? "mkfifo" : "mknod",
			(unsigned)(mode & 0777), q);
	if (!S_ISFIFO(mode))
		g_string_append_printf(cmd, " %c %u %u",
				       S_ISCHR(mode) ? 'c' : 'b',
				       major(rdev), minor(rdev));
	if (mode & 07000)
		g_string_append_printf(cmd, " && env LC_ALL=C chmod %s -- %s",
				       m, q);
	g_free(q);
	return g_string_free(cmd, FALSE);
}

int shell_errno(const char *text)
{
	static const struct {
		int err;
		const char *text;
	} known[] = {
		{ EEXIST, "File exists" },
		{ EEXIST, "Address already in use" },
		{ ENOENT, "No such file or directory" },
		{ EACCES, "Permission denied" },
		{ EPERM, "Operation not permitted" },
		{ ENOTDIR, "Not a directory" },
		{ EISDIR, "Is a directory" },
		{ EROFS, "Read-only file system" },
		{ ENOSPC, "No space left on device" },
		{ EDQUOT, "Disk quota exceeded" },
		{ ENAMETOOLONG, "File name too long" },
		{ ENAMETOOLONG, "AF_UNIX path too long" },
		{ ELOOP, "Too many levels of symbolic links" },
		{ EMLINK, "Too many links" },
		{ EINVAL, "Invalid argument" },
		{ EIO, "Input/output error" },
	};

	char *last, *why;
	int err = 0;

	if (!text)
		return 0;
	/* the last line that is not empty, after its last ": " */
	last = g_strchomp(g_strdup(text));
	why = strrchr(last, '\n');
	why = why ? why + 1 : last;
	if (strstr(why, ": "))
		why = g_strrstr(why, ": ") + 2;
	for (size_t i = 0; i < G_N_ELEMENTS(known) && !err; i++)
		if (strstr(why, known[i].text))
			err = known[i].err;
	g_free(last);
	return err;
}
