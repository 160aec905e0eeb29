/* stream: per-open-file readahead and write-behind.
 *
 * Reads: sequential access is detected per handle and rfs keeps a window
 * of SFTP READs in flight ahead of the reader, doubling from 256 KiB up to
 * a cap, so one link's bandwidth-delay product is covered (the kernel only
 * ever asks 128 KiB ahead). Random reads fetch just what was asked.
 *
 * Writes: a write is answered once its data is queued, up to a cap of
 * bytes in flight per file and per mount (back-pressure beyond).
 *
 * The cap: the per-file budget while data flows alone; while path
 * requests (stat, ls) come meanwhile, the measured bandwidth-delay
 * product plus 0.5-1 MiB, so that they do not queue behind megabytes in the
 * connection's TCP buffers (struct pace in stream.c). Small
 * contiguous writes are coalesced. The first error of any write is kept
 * and returned by the next write, flush (close) and fsync: never dropped.
 * flush answers only when every earlier write has been answered. Files
 * opened O_SYNC, O_DSYNC or O_DIRECT write through.
 *
 * Ordering: the server handles one channel's requests in order (OpenSSH's
 * sftp-server is sequential), so a READ, FSTAT or FSYNC sent after WRITEs
 * sees them; flush relies on it too.
 *
 * Thread: stream_* ops on FUSE threads; completions on the I/O thread.
 * Each stream has its own lock, never held across a callback or reply.
 */
#ifndef RFS_STREAM_H
#define RFS_STREAM_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <stdint.h>

#include "rfs/sftp.h"

struct stream_pool;		/* caps and counters of one mount */
struct stream;

/* per_file: bytes of readahead or write-behind one file may have in
 * flight; total: for the whole mount. */
struct stream_pool *stream_pool_new(struct sftp_conn *c, size_t per_file,
				    size_t total);
void stream_pool_free(struct stream_pool *p);

/* A stream over file f (takes the caller's reference); flags: the
 * open(2) flags. */
struct stream *stream_new(struct stream_pool *p, struct sftp_file *f,
			  int flags);
/* Send what is buffered, then CLOSE the handle after everything queued;
 * drops the opener's reference (completions keep theirs). */
void stream_close(struct stream *s);

void stream_read(struct stream *s, fuse_req_t req, size_t size,
		 uint64_t off);
void stream_write(struct stream *s, fuse_req_t req, const char *buf,
		  size_t size, uint64_t off);
/* Answer req with 0 or the first write error once every write so far is
 * answered by the server (close(2) returns this). */
void stream_flush(struct stream *s, fuse_req_t req);
/* Like flush, then fsync@openssh.com if have_fsync. */
void stream_fsync(struct stream *s, fuse_req_t req, int have_fsync);
/* FSETSTAT after the writes so far, answered at once: an error is kept
 * like a write's (returned by the next write, flush, fsync). Returns the
 * kept error instead, if there is one, and sends nothing. */
int stream_setstat(struct stream *s, const struct sftp_attrs *a);
/* The end of the furthest write through this stream (0 if none), and
 * how many writes there were. */
void stream_write_marks(struct stream *s, uint64_t *end, uint64_t *count);
/* Send coalesced data now: a stat after it sees the right size. */
void stream_push(struct stream *s);
/* The file's size as the open saw it: readahead stops there, and a
 * READ answered short there is at its end (not asked again); READs of
 * its first prefetch bytes (whole pages) go out now, before the kernel
 * asks (a small file: open, read, close in two round trips). */
void stream_expect(struct stream *s, uint64_t size, size_t prefetch);
/* Forget readahead (the file changed by another path, e.g. truncate). */
void stream_invalidate(struct stream *s);
/* The file, for FSTAT/FSETSTAT through it (borrowed: take a reference
 * to keep it past the stream). */
struct sftp_file *stream_file(struct stream *s);

#endif
