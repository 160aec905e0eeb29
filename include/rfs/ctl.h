/* ctl: the daemon's control socket, and `rfs status`, its client.
 *
 * A mounted rfs listens on DIR/ID.sock: DIR is /run/rfs for root, else
 * $XDG_RUNTIME_DIR/rfs, else /run/user/UID/rfs, else /tmp/rfs-UID (0700,
 * the mounting user's); ID is the first 16 hex digits of the SHA-1 of the
 * absolute mountpoint. So `rfs status MNT` finds the daemon from the path
 * alone and never touches the mount itself: a frozen or dead mount must
 * not hang it. DIR/ID.stats holds SIGUSR1's last snapshot.
 *
 * A client sends one line, "status" or "raw"; the daemon answers with
 * stats_report() or stats_text() and closes. Only the mounting user and
 * root are answered (the directory and socket modes, and SO_PEERCRED).
 */
#ifndef RFS_CTL_H
#define RFS_CTL_H

#include <sys/types.h>
#include <glib.h>

#include "rfs/fs.h"
#include "rfs/stats.h"

/* DIR/ID<suffix> for the mount of uid on mountpoint (absolute), or NULL
 * (logged at debug level) if DIR is unsafe: not a directory of uid's,
 * or open to others. create: make DIR if missing. g_free it. */
char *ctl_path(uid_t uid, const char *mountpoint, const char *suffix,
	       int create);

/* Listen on sock (from ctl_path()) and answer on a thread of its own;
 * about must outlive it. NULL (logged) if it cannot. Call after
 * stats_signal_start() (the thread must not take SIGUSR1). */
struct ctl;
struct ctl *ctl_start(struct rfs *fs, const char *sock,
		      const struct stats_about *about);

/* Stop answering and remove the socket (unless another daemon has bound
 * the name since). NULL does nothing. */
void ctl_stop(struct ctl *c);

/* The last (topmost) mount on path, absolute, in /proc/self/mountinfo:
 * TRUE with its type ("fuse.rfs") and super options (user_id=...), g_free
 * both; FALSE if path is no mountpoint. */
gboolean ctl_mount_find(const char *path, char **fstype, char **sopts);

/* `rfs status [--raw] MOUNTPOINT` (argv[0] is "status"): print the
 * daemon's answer. Returns the exit status: 0, RFS_EXIT_USAGE (bad usage,
 * not an rfs mount) or RFS_EXIT_CONNECT (no daemon answers). */
int ctl_status_main(int argc, char **argv);

#endif
