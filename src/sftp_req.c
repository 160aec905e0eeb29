/* sftp_req: the request builders, one per SFTP request rfs sends (the
 * sftp_path ... sftp_copy_data API of rfs/sftp.h): each encodes its
 * packet and hands it to sftp_submit(); where it goes (connection, lane)
 * is chosen here for path requests and OPENs, by the writers table and
 * the connection pool. Moved out of sftp.c. Any thread.
 */
#include <string.h>
#include <glib.h>

#include "rfs/sftp.h"
#include "sftp_int.h"

/* An LSTAT of path to send right behind another request, or NULL. */
static struct sftp_req *lstat_if(sftp_done_cb stat_cb, const char *path)
{
	struct sftp_req *q;

	if (!stat_cb)
		return NULL;
	q = sftp_req_new(SSH_FXP_LSTAT, SSH_FXP_ATTRS, strlen(path));
	buf_put_cstring(&q->pkt, path);
	return q;
}

static uint8_t want_for(uint8_t type)
{
	switch (type) {
	case SSH_FXP_OPEN: case SSH_FXP_OPENDIR: return SSH_FXP_HANDLE;
	case SSH_FXP_READ: return SSH_FXP_DATA;
	case SSH_FXP_READDIR: case SSH_FXP_REALPATH: case SSH_FXP_READLINK:
		return SSH_FXP_NAME;
	case SSH_FXP_STAT: case SSH_FXP_LSTAT: case SSH_FXP_FSTAT:
		return SSH_FXP_ATTRS;
	default: return 0;
	}
}

/* q (on c), the LSTAT of path for stat_cb if any, and also's LSTAT if
 * any, each right behind the one before on q's lane. */
static void submit_with(struct sftp_conn *c, struct sftp_req *q,
			const char *path, sftp_done_cb cb,
			sftp_done_cb stat_cb, void *data,
			const struct sftp_also *also)
{
	struct sftp_req *qs[3] = { q };
	sftp_done_cb cbs[3] = { cb };
	void *datas[3] = { data };
	int n = 1;

	if (stat_cb) {
		qs[n] = lstat_if(stat_cb, path);
		cbs[n] = stat_cb;
		datas[n++] = data;
	}
	if (also) {
		qs[n] = lstat_if(also->cb, also->path);
		cbs[n] = also->cb;
		datas[n++] = also->data;
	}
	sftp_submit_chain(c, n, qs, cbs, datas);
}

/* A path request: on the metadata lane, unless a file open for writing
 * has that path: then after its writes, on its lane. */
static void submit_path(struct sftp_conn *c, struct sftp_req *q,
			const char *path, sftp_done_cb cb,
			sftp_done_cb stat_cb, void *data,
			const struct sftp_also *also)
{
	struct sftp_conn *w;
	uint8_t lane;

	if (sftp_file_writer(path, &w, &lane)) {
		c = w;
		q->lane = lane;
	}
	submit_with(c, q, path, cb, stat_cb, data, also);
}

void sftp_path(struct sftp_conn *c, uint8_t type, const char *path,
	       sftp_done_cb cb, void *data)
{
	struct sftp_req *q = sftp_req_new(type, want_for(type), strlen(path));

	buf_put_cstring(&q->pkt, path);
	submit_path(c, q, path, cb, NULL, data, NULL);
}

/* The file's current handle; take_incoming() puts a newer one in its
 * place if the file is reopened before q is sent. */
static void put_handle(struct sftp_req *q, struct sftp_file *f)
{
	q->file = sftp_file_ref(f);
	pthread_mutex_lock(&f->lock);
	q->hoff = q->pkt.len + 4;
	q->hlen = f->len;
	q->hgen = f->gen;
	buf_put_string(&q->pkt, f->data, f->len);
	pthread_mutex_unlock(&f->lock);
}

void sftp_handle(struct sftp_conn *c, uint8_t type,
		 struct sftp_file *h, sftp_done_cb cb, void *data)
{
	struct sftp_req *q = sftp_req_new(type, want_for(type), h->len);

	put_handle(q, h);
	sftp_submit(c, q, cb, data);
}

/* An OPEN, placed: where a file open for writing under that path is
 * (its writes come first), else on the bulk lane of the next connection.
 * Returns the connection. */
static struct sftp_conn *open_new(struct sftp_conn *c, const char *path,
				  uint32_t pflags, const struct sftp_attrs *a,
				  struct sftp_req **qp)
{
	struct sftp_req *q = sftp_req_new(SSH_FXP_OPEN, SSH_FXP_HANDLE,
				     strlen(path) + 40);
	struct sftp_attrs none = { 0 };
	struct sftp_conn *w;

	buf_put_cstring(&q->pkt, path);
	buf_put_u32(&q->pkt, pflags);
	buf_put_attrs(&q->pkt, a ? a : &none);
	*qp = q;
	if (sftp_file_writer(path, &w, &q->lane))
		return w;
	q->lane = LANE_BULK;
	return recon_pick_conn(c);
}

void sftp_open(struct sftp_conn *c, const char *path, uint32_t pflags,
	       const struct sftp_attrs *a, sftp_done_cb cb, void *data)
{
	struct sftp_req *q;

	c = open_new(c, path, pflags, a, &q);
	sftp_submit(c, q, cb, data);
}

void sftp_open_lstat(struct sftp_conn *c, const char *path, uint32_t pflags,
		     const struct sftp_attrs *a, sftp_done_cb open_cb,
		     sftp_done_cb stat_cb, void *data,
		     const struct sftp_also *also)
{
	struct sftp_req *q;

	c = open_new(c, path, pflags, a, &q);
	submit_with(c, q, path, open_cb, stat_cb, data, also);
}

void sftp_read_into(struct sftp_conn *c, struct sftp_file *h,
		    uint64_t off, uint32_t len, void *dest,
		    sftp_done_cb cb, void *data)
{
	struct sftp_req *q = sftp_req_new(SSH_FXP_READ, SSH_FXP_DATA,
					  h->len + 16);

	put_handle(q, h);
	buf_put_u64(&q->pkt, off);
	buf_put_u32(&q->pkt, len);
	q->max_data = len;
	q->dest = dest;
	sftp_submit(c, q, cb, data);
}

void sftp_read(struct sftp_conn *c, struct sftp_file *h,
	       uint64_t off, uint32_t len, sftp_done_cb cb, void *data)
{
	sftp_read_into(c, h, off, len, NULL, cb, data);
}

void sftp_write(struct sftp_conn *c, struct sftp_file *h,
		uint64_t off, const void *buf, size_t len,
		sftp_done_cb cb, void *data)
{
	struct sftp_req *q = sftp_req_new(SSH_FXP_WRITE, 0, h->len + len + 16);

	put_handle(q, h);
	buf_put_u64(&q->pkt, off);
	buf_put_string(&q->pkt, buf, len);
	q->no_replay = (h->pflags & SSH_FXF_APPEND) != 0;
	sftp_submit(c, q, cb, data);
}

void sftp_mkdir(struct sftp_conn *c, const char *path,
		const struct sftp_attrs *a, sftp_done_cb cb,
		sftp_done_cb stat_cb, void *data,
		const struct sftp_also *also)
{
	struct sftp_req *q = sftp_req_new(SSH_FXP_MKDIR, 0, strlen(path) + 40);

	buf_put_cstring(&q->pkt, path);
	buf_put_attrs(&q->pkt, a);
	submit_path(c, q, path, cb, stat_cb, data, also);
}

struct sftp_req *sftp_req_ext(const char *name, uint8_t want, size_t hint)
{
	struct sftp_req *q = sftp_req_new(SSH_FXP_EXTENDED, want,
				     strlen(name) + hint);

	buf_put_cstring(&q->pkt, name);
	return q;
}

void sftp_setstat(struct sftp_conn *c, const char *path,
		  const struct sftp_attrs *a, int nofollow,
		  sftp_done_cb cb, sftp_done_cb stat_cb, void *data)
{
	struct sftp_req *q;

	if (nofollow)
		q = sftp_req_ext("lsetstat@openssh.com", 0, strlen(path) + 40);
	else
		q = sftp_req_new(SSH_FXP_SETSTAT, 0, strlen(path) + 40);
	buf_put_cstring(&q->pkt, path);
	buf_put_attrs(&q->pkt, a);
	submit_path(c, q, path, cb, stat_cb, data, NULL);
}

void sftp_fsetstat(struct sftp_conn *c, struct sftp_file *h,
		   const struct sftp_attrs *a, sftp_done_cb cb,
		   sftp_done_cb stat_cb, void *data)
{
	struct sftp_req *q = sftp_req_new(SSH_FXP_FSETSTAT, 0, h->len + 40);
	struct sftp_req *st = NULL;

	put_handle(q, h);
	buf_put_attrs(&q->pkt, a);
	if (stat_cb) {
		st = sftp_req_new(SSH_FXP_FSTAT, SSH_FXP_ATTRS, h->len);
		put_handle(st, h);
	}
	sftp_submit2(c, q, cb, st, stat_cb, data);
}

static void two_paths(struct sftp_conn *c, struct sftp_req *q,
		      const char *a, const char *b, sftp_done_cb cb,
		      void *data)
{
	buf_put_cstring(&q->pkt, a);
	buf_put_cstring(&q->pkt, b);
	sftp_submit(c, q, cb, data);
}

void sftp_rename(struct sftp_conn *c, const char *oldpath,
		 const char *newpath, int posix, sftp_done_cb cb, void *data)
{
	size_t n = strlen(oldpath) + strlen(newpath) + 8;

	two_paths(c, posix ? sftp_req_ext("posix-rename@openssh.com", 0, n)
			   : sftp_req_new(SSH_FXP_RENAME, 0, n),
		  oldpath, newpath, cb, data);
}

/* OpenSSH's server takes SYMLINK's two paths in the opposite order to the
 * draft (target first); its client and every other follows it. */
void sftp_symlink(struct sftp_conn *c, const char *target,
		  const char *linkpath, sftp_done_cb cb,
		  sftp_done_cb stat_cb, void *data,
		  const struct sftp_also *also)
{
	struct sftp_req *q = sftp_req_new(SSH_FXP_SYMLINK, 0,
				     strlen(target) + strlen(linkpath) + 8);

	buf_put_cstring(&q->pkt, target);
	buf_put_cstring(&q->pkt, linkpath);
	submit_path(c, q, linkpath, cb, stat_cb, data, also);
}

void sftp_hardlink(struct sftp_conn *c, const char *oldpath,
		   const char *newpath, sftp_done_cb cb, void *data)
{
	two_paths(c, sftp_req_ext("hardlink@openssh.com", 0,
			     strlen(oldpath) + strlen(newpath) + 8),
		  oldpath, newpath, cb, data);
}

void sftp_statvfs(struct sftp_conn *c, const char *path,
		  sftp_done_cb cb, void *data)
{
	struct sftp_req *q = sftp_req_ext("statvfs@openssh.com",
				     SSH_FXP_EXTENDED_REPLY, strlen(path) + 4);

	buf_put_cstring(&q->pkt, path);
	sftp_submit(c, q, cb, data);
}

void sftp_fsync(struct sftp_conn *c, struct sftp_file *h,
		sftp_done_cb cb, void *data)
{
	struct sftp_req *q = sftp_req_ext("fsync@openssh.com", 0, h->len + 4);

	put_handle(q, h);
	sftp_submit(c, q, cb, data);
}

/* Two handles: sent only if both are of the current connection (never
 * reopened for it), and never sent again. */
void sftp_copy_data(struct sftp_conn *c, struct sftp_file *src,
		    uint64_t src_off, uint64_t len,
		    struct sftp_file *dst, uint64_t dst_off,
		    sftp_done_cb cb, void *data)
{
	struct sftp_req *q = sftp_req_ext("copy-data", 0, 2 * SFTP_MAX_HANDLE + 32);

	put_handle(q, src);
	buf_put_u64(&q->pkt, src_off);
	buf_put_u64(&q->pkt, len);
	q->file2 = sftp_file_ref(dst);
	pthread_mutex_lock(&dst->lock);
	if (dst->gen != q->hgen)
		q->hgen = 0;	/* one of them is stale: fail */
	buf_put_string(&q->pkt, dst->data, dst->len);
	pthread_mutex_unlock(&dst->lock);
	buf_put_u64(&q->pkt, dst_off);
	q->no_replay = 1;
	sftp_submit(c, q, cb, data);
}
