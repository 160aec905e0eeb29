/* chan: one SFTP byte stream, whatever carries it.
 *
 * The SFTP engine (sftp.c) reads and writes its lanes through these
 * calls only, so one engine runs over any transport: an SSH channel of
 * rfs's own libssh2 session (the sftp subsystem, or an exec channel
 * running sftp_server=), or a pair of file descriptors: pipes to an
 * `ssh -s HOST sftp` child or a session of an OpenSSH ControlMaster, a
 * TCP socket to an sftp-server (directport), rfs's own stdin and stdout
 * (passive). All calls are non-blocking; I/O thread only.
 */
#ifndef RFS_CHAN_H
#define RFS_CHAN_H

#include <stdint.h>
#include <sys/types.h>
#include <libssh2.h>

struct chan {
	LIBSSH2_CHANNEL *ssh;	/* an SSH channel, or NULL: then */
	int rfd, wfd;		/* the stream's two ends (one socket: the
				 * same fd), non-blocking; -1 if none. The
				 * far end's stderr is not ours: a child
				 * writes it where rfs writes its own */
	int64_t *last_rx;	/* fds: ms (monotonic) of the last bytes
				 * read, for the liveness watch; or NULL */
};

#define CHAN_NONE { NULL, -1, -1, NULL }

/* Bytes read (> 0), 0 at the end of the stream, -EAGAIN when nothing is
 * there yet, or another -errno. */
ssize_t chan_read(struct chan *ch, void *buf, size_t n);
/* Bytes written (>= 0), -EAGAIN, or another -errno. */
ssize_t chan_write(struct chan *ch, const void *buf, size_t n);
/* An SSH channel: read and drop what the server wrote on its stderr
 * (extended data), which would otherwise fill the window and stall the
 * stream. */
void chan_drain_stderr(struct chan *ch);
/* Free the SSH channel or close the fds; leaves it CHAN_NONE. */
void chan_close(struct chan *ch);

#endif
