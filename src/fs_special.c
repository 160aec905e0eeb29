/* fs_special: fifos, sockets and device nodes. SFTP v3 makes none of
 * them: a command on the server does (mkfifo, mknod, a socket bound by
 * perl or python3; rfs/shell.h builds it, every name quoted), in an exec
 * channel of the mount's own SSH session or an ssh child (sftp_exec),
 * then an LSTAT as for any create. Where the login cannot run commands
 * (an SFTP-only login, a transport without SSH) or special_files=no:
 * EPERM, as before.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_int.h"
#include "rfs/log.h"
#include "rfs/shell.h"

/* Say once per mount why special files cannot be made. */
static void special_unavailable(struct op *op, const char *why)
{
	if (!__atomic_exchange_n(&op->fs->special_warned, 1,
				 __ATOMIC_RELAXED))
		log_warn("mknod %s: fifos, sockets and device nodes are made "
			 "by a command on the server, and %s: EPERM",
			 op->path2, why ? why : "commands cannot run there");
	op_reply_err(op, EPERM);
}

static void special_made(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	int err;

	if (r->lost) {
		log_warn("mknod %s: the connection broke while the server "
			 "was making it: whether it did cannot be told: EIO",
			 op->path2);
		cache_invalidate(op->fs->cache, op->path2);
		return op_reply_err(op, EIO);
	}
	if (r->err == -EOPNOTSUPP)
		return special_unavailable(op, r->msg);
	if (r->err)
		return op_reply_err(op, r->err);
	if (r->status != 0) {
		/* the name may be there after all (another client): ask */
		cache_invalidate(op->fs->cache, op->path2);
		/* 127: no such tool (env says "No such file or directory") */
		err = r->status == 127 ? EPERM : shell_errno(r->msg);
		if (!err)
			err = EIO;	/* a message rfs does not know */
		if (err == EIO || err == EPERM)
			log_warn("mknod %s: %s (status %d): %s", op->path2,
				 r->msg && *r->msg ? r->msg : "failed",
				 (int)r->status, g_strerror(err));
		else
			log_debug("mknod %s: %s", op->path2, r->msg);
		return op_reply_err(op, err);
	}
	cache_invalidate(op->fs->cache, op->path2);	/* was missing */
	ahead_forget(op->fs, op->path2, 0);
	sftp_path(op->fs->conn, SSH_FXP_LSTAT, op->path2, created_stat, op);
}

void special_mknod(struct op *op, mode_t mode, dev_t rdev)
{
	char *cmd;

	if (op->fs->o.no_special)
		return op_reply_err(op, EPERM);
	/* bound in its directory: the name must fit a sockaddr_un (perl
	 * would cut it short) */
	if (S_ISSOCK(mode) && strlen(op->name) >= SHELL_SOCK_NAME_MAX)
		return op_reply_err(op, ENAMETOOLONG);
	cmd = shell_special_cmd(op->path2, mode, rdev);
	if (!cmd)
		return op_reply_err(op, EINVAL);	/* as mknod(2) */
	op->mode = mode;
	sftp_exec(op->fs->conn, cmd, special_made, op);
	g_free(cmd);
}
