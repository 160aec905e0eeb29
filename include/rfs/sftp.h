/* sftp: our SFTP v3 client, many requests in flight.
 *
 * One I/O thread owns the non-blocking libssh2 session. Other threads
 * build a request and submit it: it is queued under a lock and the I/O
 * thread is woken (eventfd). The I/O thread gives it an id, writes it and
 * records it as pending; the reply is decoded and matched by id, and the
 * request's callback runs on the I/O thread. Callbacks must not block.
 *
 * The session carries two SFTP channels (each its own sftp-server process
 * on the server, which answers one request at a time): metadata and
 * directories on one, open files' data on the other. Requests on one file
 * stay on one channel, in order. With sftp_conn_add() there are several
 * sessions, each with its own I/O thread: callbacks may then run on any
 * of them (one file's always on the same one).
 *
 * Before the I/O thread exists (at mount time, before daemonizing),
 * sftp_conn_wait() runs the same loop on the calling thread until every
 * pending request has completed.
 */
#ifndef RFS_SFTP_H
#define RFS_SFTP_H

#include <stdint.h>
#include <stddef.h>
#include <glib.h>

#include "rfs/buf.h"
#include "rfs/sftp_attrs.h"

/* Packet types (draft-ietf-secsh-filexfer-02). */
enum {
	SSH_FXP_INIT = 1, SSH_FXP_VERSION = 2, SSH_FXP_OPEN = 3,
	SSH_FXP_CLOSE = 4, SSH_FXP_READ = 5, SSH_FXP_WRITE = 6,
	SSH_FXP_LSTAT = 7, SSH_FXP_FSTAT = 8, SSH_FXP_SETSTAT = 9,
	SSH_FXP_FSETSTAT = 10, SSH_FXP_OPENDIR = 11, SSH_FXP_READDIR = 12,
	SSH_FXP_REMOVE = 13, SSH_FXP_MKDIR = 14, SSH_FXP_RMDIR = 15,
	SSH_FXP_REALPATH = 16, SSH_FXP_STAT = 17, SSH_FXP_RENAME = 18,
	SSH_FXP_READLINK = 19, SSH_FXP_SYMLINK = 20,
	SSH_FXP_STATUS = 101, SSH_FXP_HANDLE = 102, SSH_FXP_DATA = 103,
	SSH_FXP_NAME = 104, SSH_FXP_ATTRS = 105,
	SSH_FXP_EXTENDED = 200, SSH_FXP_EXTENDED_REPLY = 201,
};

enum {
	SSH_FX_OK = 0, SSH_FX_EOF = 1, SSH_FX_NO_SUCH_FILE = 2,
	SSH_FX_PERMISSION_DENIED = 3, SSH_FX_FAILURE = 4,
	SSH_FX_BAD_MESSAGE = 5, SSH_FX_NO_CONNECTION = 6,
	SSH_FX_CONNECTION_LOST = 7, SSH_FX_OP_UNSUPPORTED = 8,
};

/* Open flags. */
#define SSH_FXF_READ	0x01u
#define SSH_FXF_WRITE	0x02u
#define SSH_FXF_APPEND	0x04u
#define SSH_FXF_CREAT	0x08u
#define SSH_FXF_TRUNC	0x10u
#define SSH_FXF_EXCL	0x20u

/* Extensions the server announced in VERSION. */
#define SFTP_EXT_POSIX_RENAME	0x01u
#define SFTP_EXT_STATVFS	0x02u
#define SFTP_EXT_FSYNC		0x04u
#define SFTP_EXT_HARDLINK	0x08u
#define SFTP_EXT_LIMITS		0x10u
#define SFTP_EXT_LSETSTAT	0x20u
#define SFTP_EXT_COPY_DATA	0x40u
#define SFTP_EXT_EXPAND_PATH	0x80u

#define SFTP_MAX_HANDLE 256	/* v3 says handles are at most 256 bytes */

/* An open file or directory on the server (refcounted; any thread).
 *
 * A handle string belongs to one connection. A file opened with a path
 * (sftp_file_new with path != NULL) survives reconnects: the first request
 * on it after a reconnect reopens it (same path, same flags minus
 * CREAT/EXCL/TRUNC) and checks it is still the same regular file (not
 * removed, not of another type or owner); if not, every request on it
 * fails with ESTALE from then on. Requests on it that were in flight when
 * the link broke are sent again, in their order, once it is reopened.
 * Without a path (directories, one-shot opens) requests after a reconnect
 * fail with EIO. */
struct sftp_file;

struct sftp_name {
	char *name;
	char *longname;
	struct sftp_attrs attrs;
};

struct sftp_statvfs {
	uint64_t bsize, frsize, blocks, bfree, bavail, files, ffree, favail;
	uint64_t fsid, flag, namemax;
};

/* What a callback receives. Pointers are valid during the callback only. */
struct sftp_reply {
	int err;		/* 0, or -errno (status mapped, -EIO when the
				 * connection failed, -EPROTO) */
	uint8_t type;		/* reply packet type, 0 if none */
	uint32_t status;	/* SSH_FX_* of a STATUS reply */
	const char *msg;	/* STATUS message, may be NULL */
	struct sftp_attrs attrs;		/* ATTRS */
	const unsigned char *handle;		/* HANDLE */
	size_t handle_len;
	const unsigned char *data;		/* DATA */
	size_t data_len;
	struct sftp_name *names;		/* NAME */
	uint32_t count;
	uint32_t dropped;	/* NAME entries left out: a NUL in the name */
	struct bufr ext;			/* EXTENDED_REPLY body */
	uint32_t gen;		/* connection generation it came from */
	struct sftp_conn *conn;	/* and the connection and lane: where a */
	int lane;		/* HANDLE is valid */
	int lost;		/* no reply: the connection broke with the
				 * request in flight, and it could not be
				 * sent again (err is -EIO) */
	int replayed;		/* sent again after a reconnect: the first
				 * attempt may have been carried out (an
				 * unlink answering ENOENT, a mkdir EEXIST) */
};

typedef void (*sftp_done_cb)(struct sftp_reply *r, void *data);

struct sftp_conn;

struct xport;

/* Open the "sftp" subsystem on x's session (connected and authenticated,
 * blocking), send INIT and read VERSION and the limits. Returns the
 * connection or NULL with *err (code 7 = protocol error). The conn takes
 * x's sessions and socket (x is zeroed), and frees them on failure too. */
struct sftp_conn *sftp_conn_new(struct xport *x, int timeout_ms,
				GError **err);
/* Stop the I/O thread if running, fail pending requests, close the channel
 * and session, free. sftp_conn_free(NULL) does nothing. */
void sftp_conn_free(struct sftp_conn *c);
/* Wait up to ms for reconnect attempts that outlived their connection
 * (blocked in connect or login: they use the reconnect callback's data,
 * and the crypto library). Returns how many still run: then the caller
 * must not free that data, nor run exit handlers (_exit). */
int sftp_jobs_wait(int ms);

/* Run the loop on this thread until nothing is pending or timeout_ms passes
 * (-ETIMEDOUT). Only before sftp_conn_start(). */
int sftp_conn_wait(struct sftp_conn *c, int timeout_ms);
/* Start the I/O thread (after daemonizing). */
int sftp_conn_start(struct sftp_conn *c);

uint32_t sftp_conn_exts(const struct sftp_conn *c);	/* SFTP_EXT_* */
const char *sftp_conn_ext_names(const struct sftp_conn *c);
size_t sftp_conn_max_read(const struct sftp_conn *c);	/* bytes */
size_t sftp_conn_max_write(const struct sftp_conn *c);
int sftp_conn_alive(const struct sftp_conn *c);
/* Liveness: a request unanswered for probe_ms on a silent link sends an
 * SSH keepalive; waiting dead_ms with nothing arriving drops the link
 * (then reconnect). alive_ms (ServerAliveInterval, 0 off) probes an idle
 * link too. Defaults 5000 and 15000. Before sftp_conn_start(). */
void sftp_conn_set_liveness(struct sftp_conn *c, int probe_ms, int dead_ms,
			    int alive_ms);

/* cb(data, 0) on the I/O thread when the link turns unusable (lost, or
 * a liveness probe is unanswered), cb(data, 1) when it is usable again.
 * With several connections, the first one's (it carries the metadata).
 * Set before sftp_conn_start(). */
void sftp_conn_set_link_cb(struct sftp_conn *c,
			   void (*cb)(void *data, int usable), void *data);

/* Make a new authenticated connection into *x (blocking mode), or return
 * -1 with *why (g_free). Runs on the I/O thread. */
typedef int (*sftp_connect_cb)(void *data, struct xport *x, char **why);
/* After a lost connection, call cb with backoff until it succeeds;
 * meanwhile requests wait up to timeout_ms (0: fail at once), then fail
 * with EIO. Requests in flight when the link broke are sent again on the
 * new connection, in their order, with r->replayed set, except those
 * whose repetition could do harm: writes to files opened for appending,
 * copy-data, and requests on handles that are not reopened; those fail
 * with EIO. */
void sftp_conn_set_reconnect(struct sftp_conn *c, sftp_connect_cb cb,
			     void *data, int timeout_ms);

/* -o max_conns: open n more connections to the same server, made by cb
 * (as a reconnect makes them: no prompts). New files are spread over all
 * of them round robin, each file's requests stay on its connection (and
 * so in order); path requests go on the first, or on the connection of
 * a file open for writing under that path. Call after the setters above,
 * before sftp_conn_start(). 0, or -1 with *err. */
int sftp_conn_add(struct sftp_conn *c, unsigned n, sftp_connect_cb cb,
		  void *data, int timeout_ms, GError **err);

/* A file from the HANDLE reply r of an OPEN/OPENDIR. path (copied): where
 * to reopen it after a reconnect with pflags, or NULL for never. The
 * caller holds the one reference. */
struct sftp_file *sftp_file_new(const struct sftp_reply *r, const char *path,
				uint32_t pflags);
/* A file not opened yet: the first request that needs its handle opens
 * it (path, pflags), meanwhile that file's requests wait (others go on);
 * a CLOSE before that is answered at once. If the OPEN fails, so does
 * every request on it (ENOENT as ESTALE: it existed when it was
 * "opened"). */
struct sftp_file *sftp_file_lazy(const char *path, uint32_t pflags);
/* Put f where with is (the same connection and server process), if f
 * has no place yet (a lazy file not opened): copy-data needs both
 * handles on one. c: the mount's connection. */
void sftp_file_colocate(struct sftp_conn *c, struct sftp_file *f,
			struct sftp_file *with);
/* Has it a handle (of this or an earlier connection)? */
int sftp_file_is_open(struct sftp_file *f);
struct sftp_file *sftp_file_ref(struct sftp_file *f);
void sftp_file_unref(struct sftp_file *f);
/* The file's name changed (a rename, or hidden after an unlink); NULL:
 * it has none (replaced by a rename), so after a reconnect its requests
 * fail with ESTALE. */
void sftp_file_set_path(struct sftp_file *f, const char *path);

/* Requests. Each copies what it needs; cb (NULL: ignore the reply) runs
 * exactly once, on the I/O
 * thread (or on the waiting thread in sftp_conn_wait). Any thread. */
void sftp_path(struct sftp_conn *c, uint8_t type, const char *path,
	       sftp_done_cb cb, void *data);	/* STAT LSTAT OPENDIR REMOVE
						 * RMDIR REALPATH READLINK */
void sftp_handle(struct sftp_conn *c, uint8_t type,
		 struct sftp_file *h, sftp_done_cb cb, void *data);
						/* FSTAT READDIR CLOSE */
void sftp_open(struct sftp_conn *c, const char *path, uint32_t pflags,
	       const struct sftp_attrs *a, sftp_done_cb cb, void *data);
/* A third request behind a create and its LSTAT, in the same round trip
 * and on the same channel: an LSTAT of another path (the directory the
 * create changed), which sees what the create did. cb gets data. */
struct sftp_also {
	const char *path;
	sftp_done_cb cb;
	void *data;
};
/* OPEN, and right behind it on the same channel an LSTAT of the path:
 * one round trip, and the LSTAT sees what the OPEN created. also: see
 * struct sftp_also, or NULL. */
void sftp_open_lstat(struct sftp_conn *c, const char *path, uint32_t pflags,
		     const struct sftp_attrs *a, sftp_done_cb open_cb,
		     sftp_done_cb stat_cb, void *data,
		     const struct sftp_also *also);
void sftp_read(struct sftp_conn *c, struct sftp_file *h,
	       uint64_t off, uint32_t len, sftp_done_cb cb, void *data);
/* Same, the data read straight into dest (len bytes, valid until cb):
 * then r->data == dest. */
void sftp_read_into(struct sftp_conn *c, struct sftp_file *h,
		    uint64_t off, uint32_t len, void *dest,
		    sftp_done_cb cb, void *data);
void sftp_write(struct sftp_conn *c, struct sftp_file *h,
		uint64_t off, const void *buf, size_t len,
		sftp_done_cb cb, void *data);
/* stat_cb (or NULL): an LSTAT of the path (linkpath) right behind, on
 * the same channel: one round trip, and it sees what the request did. */
void sftp_mkdir(struct sftp_conn *c, const char *path,
		const struct sftp_attrs *a, sftp_done_cb cb,
		sftp_done_cb stat_cb, void *data,
		const struct sftp_also *also);
void sftp_setstat(struct sftp_conn *c, const char *path,
		  const struct sftp_attrs *a, int nofollow,
		  sftp_done_cb cb, sftp_done_cb stat_cb,
		  void *data);		/* nofollow: lsetstat@ */
/* stat_cb (or NULL): an FSTAT right behind, as for sftp_setstat. */
void sftp_fsetstat(struct sftp_conn *c, struct sftp_file *h,
		   const struct sftp_attrs *a, sftp_done_cb cb,
		   sftp_done_cb stat_cb, void *data);
/* posix: posix-rename@openssh.com (replaces newpath); else SSH_FXP_RENAME */
void sftp_rename(struct sftp_conn *c, const char *oldpath,
		 const char *newpath, int posix, sftp_done_cb cb, void *data);
void sftp_symlink(struct sftp_conn *c, const char *target,
		  const char *linkpath, sftp_done_cb cb,
		  sftp_done_cb stat_cb, void *data,
		  const struct sftp_also *also);
void sftp_hardlink(struct sftp_conn *c, const char *oldpath,
		   const char *newpath, sftp_done_cb cb, void *data);
void sftp_statvfs(struct sftp_conn *c, const char *path,
		  sftp_done_cb cb, void *data);
void sftp_fsync(struct sftp_conn *c, struct sftp_file *h,
		sftp_done_cb cb, void *data);

/* copy-data: the server copies len bytes (0: to end of file) from src at
 * src_off to dst at dst_off; a STATUS answers. */
void sftp_copy_data(struct sftp_conn *c, struct sftp_file *src,
		    uint64_t src_off, uint64_t len,
		    struct sftp_file *dst, uint64_t dst_off,
		    sftp_done_cb cb, void *data);

/* Counters since the mount, for rfs's statistics. */
struct sftp_stats {
	uint64_t requests;	/* SFTP requests sent, resent ones too */
	uint64_t bytes_out;	/* bytes handed to the SSH channel */
	uint64_t bytes_in;	/* bytes read from it */
	uint64_t reconnects;	/* successful reconnects */
	uint64_t bad_replies;	/* malformed answers, each failed with EIO */
	uint64_t execs;		/* commands run on the server (sftp_exec) */
	uint64_t rtt_ms8;	/* smoothed metadata reply time, 1/8 ms;
				 * 0: none yet */
	unsigned conns;		/* SSH connections (max_conns) */
	unsigned channels;	/* SFTP channels on the first */
	const char *transport;	/* how the first is carried: "libssh2",
				 * "ssh", "directport", "passive" */
	unsigned in_flight;	/* requests submitted, not yet answered */
	unsigned open_handles;	/* files and directories open */
	int link;		/* SFTP_LINK_*, of the first connection */
	int64_t link_since;	/* when it became so, wall clock, s */
};

enum { SFTP_LINK_UP, SFTP_LINK_RECONNECTING, SFTP_LINK_DOWN };

/* The quickest answer to a metadata request on c's current link, in
 * microseconds (0: none yet): the round trip without queueing, for
 * sizing what is kept in flight. Any thread. */
int64_t sftp_conn_min_rtt_us(const struct sftp_conn *c);

/* When a path request (a stat, a listing...) was last submitted on c
 * while READs or WRITEs were in flight there, monotonic microseconds (0:
 * never). Any thread. */
int64_t sftp_conn_last_meta_us(const struct sftp_conn *c);

/* Run the shell command cmd on the server, beside SFTP: an exec channel
 * of c's own SSH session (never another login), or with transport=ssh
 * or a ControlMaster an ssh child (x.exec_argv: batch mode, through the
 * master if any); its stdin closed at once. cb (I/O thread) gets r->err
 * 0 once it ran: r->status its exit status (-1: killed by a signal),
 * r->data/data_len its output, r->msg its stderr (each cut at 16 KiB);
 * or -EOPNOTSUPP with r->msg saying why it could not run (a transport
 * without SSH, a channel refused, ssh failing; or, for the rest of the
 * link, exec refused or a shell that is not POSIX: a ForceCommand); or
 * -EIO with r->lost when the link broke while it ran (it is never run
 * twice: whether it ran is unknown). Waits like any request while the
 * link is down. Commands run one at a time, in order; the first of a
 * link runs behind a probe that the login's shell reads POSIX quoting
 * (a command with a name in it never reaches any other shell). Any
 * thread. */
void sftp_exec(struct sftp_conn *c, const char *cmd, sftp_done_cb cb,
	       void *data);

/* A snapshot of c's counters. Any thread. */
void sftp_conn_stats(const struct sftp_conn *c, struct sftp_stats *s);

#endif
