/* stats: what a mount has done so far.
 *
 * One line of "name=value" counters (requests, bytes each way, cache hits
 * and misses, reconnects, the smoothed reply time), readable as the
 * virtual extended attribute user.rfs.stats of the mount root (-o xattr),
 * given to `rfs status --raw` and written to the log and a snapshot file
 * on SIGUSR1; `rfs status` shows them as "key: value" lines. Every other
 * xattr request is answered here, with no round trip: getxattr ENODATA,
 * listxattr empty, setxattr and removexattr ENOTSUP (SFTP v3 has no
 * xattrs; the kernel asks for security.capability before every write once
 * getxattr exists).
 */
#ifndef RFS_STATS_H
#define RFS_STATS_H

#include "rfs/fs.h"

#define STATS_XATTR "user.rfs.stats"

/* The counters as one line, no newline; g_free it. Any thread. */
char *stats_text(struct rfs *fs);

/* What the daemon knows of itself, for stats_report(). */
struct stats_about {
	const char *mountpoint;		/* absolute */
	const char *remote;		/* user@host:port:dir */
	const char *stats_file;		/* SIGUSR1's snapshot, or NULL */
	int64_t started;		/* wall clock, s */
};

/* The view of rfs status: "key: value" lines, human-readable; g_free
 * it. Any thread. */
char *stats_report(struct rfs *fs, const struct stats_about *a);

/* FUSE xattr ops (fs.c's table); req's userdata is the struct rfs. */
void stats_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void stats_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void stats_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);
void stats_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* SIGUSR1 logs stats_text(fs) and writes it, after the time, to file
 * (if not NULL; removed by stats_signal_stop()). Blocks SIGUSR1 in the
 * calling thread and starts a thread that waits for it: call before any
 * other thread is started (they inherit the mask). Returns NULL if no
 * thread could be started. stats_signal_stop() ends it; NULL does nothing. */
struct stats_signal;
struct stats_signal *stats_signal_start(struct rfs *fs, const char *file);
void stats_signal_stop(struct stats_signal *s);

#endif
