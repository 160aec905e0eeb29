/* util: exit codes, the error domain, host strings. Pure; any thread. */
#ifndef RFS_UTIL_H
#define RFS_UTIL_H

#include <glib.h>

/* Exit codes, documented in rfs(1). GError codes in RFS_ERROR are these. */
enum rfs_exit {
	RFS_EXIT_OK = 0,
	RFS_EXIT_USAGE = 1,	/* bad option, host string, config */
	RFS_EXIT_CONNECT = 2,	/* resolve, TCP, SSH handshake */
	RFS_EXIT_HOSTKEY = 3,	/* host key unknown, changed or revoked */
	RFS_EXIT_AUTH = 4,	/* authentication failed */
	RFS_EXIT_REMOTE = 5,	/* remote directory missing or not a dir */
	RFS_EXIT_MOUNT = 6,	/* mountpoint or FUSE mount failed */
	RFS_EXIT_PROTO = 7,	/* SFTP subsystem missing or bad data */
};

#define RFS_ERROR (rfs_error_quark())
GQuark rfs_error_quark(void);

/* g_set_error with RFS_ERROR; does nothing if err is NULL or set. */
void rfs_set_error(GError **err, int code, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

/* "[user@]host:[dir]", host may be "[v6addr]" or "[fe80::1%eth0]".
 * Fills *user (NULL if none), *host, *dir ("" if none); g_free each.
 * Returns 0 or -1 with *err (code RFS_EXIT_USAGE). */
int util_parse_source(const char *src, char **user, char **host, char **dir,
		      GError **err);

/* Could this be a host name, address or alias? Rejects a leading '-' and
 * characters no host name has (shell metacharacters, spaces...). */
gboolean util_valid_host(const char *host);

/* Does s match the wildcard pattern p[0..plen) ("*", "?"), optionally
 * ignoring ASCII case? Linear backtracking: no blow-up on "*a*a*a*b". */
gboolean util_glob_match(const char *s, const char *p, size_t plen,
			 gboolean icase);

/* s made safe for a terminal (g_free): text from the server (a prompt,
 * a status message, a disconnect reason) must not move the cursor,
 * retitle the window or answer back. Control characters (C0, DEL, C1)
 * and bytes that are not UTF-8 become \ooo octal escapes, as OpenSSH's
 * vis(3) shows them; newlines stay when keep_newlines. NULL gives "". */
char *util_safe_text(const char *s, gboolean keep_newlines);

#endif
