/* sftp_sync: mount-time requests, one at a time, waited for (see
 * sftp_sync.h). Only sftp.h's API: the callback keeps what the reply
 * holds, sftp_conn_wait() runs the loop until it has come. */
#include <errno.h>
#include <string.h>

#include "rfs/sftp_sync.h"

struct sync_wait {
	int done;
	struct sftp_sync_reply *out;
};

static void sync_cb(struct sftp_reply *r, void *data)
{
	struct sync_wait *w = data;
	struct sftp_sync_reply *s = w->out;

	w->done = 1;
	s->err = r->err;
	if (!r->err && r->type == SSH_FXP_NAME && r->count)
		s->name = g_strdup(r->names[0].name);
	if (!r->err && r->type == SSH_FXP_ATTRS)
		s->attrs = r->attrs;
}

int sftp_sync_path(struct sftp_conn *c, uint8_t type, const char *path,
		   int timeout_ms, struct sftp_sync_reply *out)
{
	struct sync_wait w = { 0, out };
	struct sftp_stats st;

	memset(out, 0, sizeof(*out));
	sftp_path(c, type, path, sync_cb, &w);
	if (sftp_conn_wait(c, timeout_ms) || !w.done)
		return -ETIMEDOUT;
	if (!sftp_conn_alive(c))
		return -ECONNRESET;
	sftp_conn_stats(c, &st);
	if (st.bad_replies)
		return -EPROTO;	/* a malformed answer: logged already */
	return 0;
}

int sftp_sync_login_ids(struct sftp_conn *c, int timeout_ms,
			uint32_t ids[2])
{
	struct sftp_sync_reply home = { 0 }, st = { 0 };
	int rc, found = 0;

	rc = sftp_sync_path(c, SSH_FXP_REALPATH, ".", timeout_ms, &home);
	if (rc == 0 && home.err == 0) {
		rc = sftp_sync_path(c, SSH_FXP_STAT, home.name, timeout_ms,
				    &st);
		if (rc == 0 && st.err == 0 &&
		    (st.attrs.flags & SFTP_ATTR_UIDGID)) {
			ids[0] = st.attrs.uid;
			ids[1] = st.attrs.gid;
			found = 1;
		}
	}
	g_free(home.name);
	return rc < 0 ? rc : found;
}
