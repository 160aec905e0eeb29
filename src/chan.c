/* chan: one SFTP byte stream over an SSH channel or a pair of fds (see
 * rfs/chan.h). */
#include <errno.h>
#include <unistd.h>
#include <glib.h>

#include "rfs/chan.h"
#include "rfs/loop.h"

ssize_t chan_read(struct chan *ch, void *buf, size_t n)
{
	ssize_t r;

	if (ch->ssh) {
		r = libssh2_channel_read(ch->ssh, buf, n);
		if (r == LIBSSH2_ERROR_EAGAIN)
			return -EAGAIN;
		if (r < 0)
			return -EIO;	/* the session says why */
		if (r == 0 && !libssh2_channel_eof(ch->ssh))
			return -EAGAIN;
		return r;
	}
	r = read(ch->rfd, buf, n);
	if (r > 0 && ch->last_rx)
		__atomic_store_n(ch->last_rx, loop_now_ms(), __ATOMIC_RELAXED);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -EAGAIN;
	return -errno;
}

ssize_t chan_write(struct chan *ch, const void *buf, size_t n)
{
	ssize_t r;

	if (ch->ssh) {
		r = libssh2_channel_write(ch->ssh, buf, n);
		if (r == LIBSSH2_ERROR_EAGAIN)
			return -EAGAIN;
		return r < 0 ? -EIO : r;
	}
	r = write(ch->wfd, buf, n);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -EAGAIN;
	return -errno;
}

void chan_drain_stderr(struct chan *ch)
{
	char junk[4096];

	if (ch->ssh)
		while (libssh2_channel_read_stderr(ch->ssh, junk,
						   sizeof(junk)) > 0)
			;
}

void chan_close(struct chan *ch)
{
	if (ch->ssh)
		libssh2_channel_free(ch->ssh);
	if (ch->wfd >= 0 && ch->wfd != ch->rfd)
		close(ch->wfd);
	if (ch->rfd >= 0)
		close(ch->rfd);
	*ch = (struct chan)CHAN_NONE;
}
