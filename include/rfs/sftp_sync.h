/* sftp_sync: one SFTP request at a time, sent and waited for on the
 * calling thread with sftp_conn_wait(): for mount time, before
 * sftp_conn_start() (no I/O thread yet), never on the data path. The
 * caller decides what a missing answer means (rfs exits).
 *
 * Thread: the one that made the connection, before sftp_conn_start().
 */
#ifndef RFS_SFTP_SYNC_H
#define RFS_SFTP_SYNC_H

#include <stdint.h>

#include "rfs/sftp.h"

struct sftp_sync_reply {
	int err;		/* the server's answer: 0 or -errno */
	char *name;		/* REALPATH: the name, to g_free() */
	struct sftp_attrs attrs;	/* STAT, LSTAT: the attributes */
};

/* Send sftp_path(c, type, path) and wait up to timeout_ms. Returns 0 if
 * it was answered (then out->err says how), -ETIMEDOUT if no answer came
 * in time, -ECONNRESET if the connection broke, -EPROTO if the server
 * answered something malformed (to this or an earlier request). *out is
 * zeroed first. */
int sftp_sync_path(struct sftp_conn *c, uint8_t type, const char *path,
		   int timeout_ms, struct sftp_sync_reply *out);

/* The SSH login's uid and gid on the server: those of its home directory
 * (REALPATH ".", then STAT; a uid of its own SFTP does not tell). Returns
 * 1 with ids[0] the uid and ids[1] the gid, 0 if the server did not give
 * them, or sftp_sync_path()'s negative code (each request waits up to
 * timeout_ms). */
int sftp_sync_login_ids(struct sftp_conn *c, int timeout_ms,
			uint32_t ids[2]);

#endif
