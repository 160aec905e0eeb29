/* fsreq: a FUSE request answered later, from an SFTP completion.
 *
 * The kernel may interrupt it (a signal, or SIGKILL of the caller, which
 * otherwise waits for our answer however long the server takes): an
 * interruptible request is then answered EINTR at once, and the
 * completion, finding the reply taken, only cleans up. Only requests that
 * change nothing may be interruptible: a mkdir or a write answered EINTR
 * could still happen on the server.
 */
#ifndef RFS_FSREQ_H
#define RFS_FSREQ_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <errno.h>
#include <glib.h>

struct fsreq {
	fuse_req_t req;
	int claimed;		/* atomic: 1 once someone answers */
};

static inline void fsreq_interrupted(fuse_req_t req, void *data)
{
	struct fsreq *r = data;

	/* Touch nothing of r after the claim: the completion may free it. */
	if (g_atomic_int_compare_and_exchange(&r->claimed, 0, 1))
		fuse_reply_err(req, EINTR);
}

static inline void fsreq_init(struct fsreq *r, fuse_req_t req,
			      int interruptible)
{
	r->req = req;
	r->claimed = 0;
	if (interruptible)
		fuse_req_interrupt_func(req, fsreq_interrupted, r);
}

/* 1 if the reply is ours to send. Clearing the interrupt function takes
 * the request's lock, so a handler still running has finished with r. */
static inline int fsreq_claim(struct fsreq *r)
{
	if (!g_atomic_int_compare_and_exchange(&r->claimed, 0, 1))
		return 0;
	fuse_req_interrupt_func(r->req, NULL, NULL);
	return 1;
}

#endif
