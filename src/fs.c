/* fs: FUSE low-level operations mapped onto SFTP requests.
 *
 * Replies are sent from SFTP completions on the I/O thread; an op that
 * needs several requests chains them through a struct op (fs_op.c) and
 * one short callback per step.
 *
 * The fs*.c files share src/fs_int.h: fs_node.c has the node table,
 * fs_op.c the op helpers and replies, fs_dir.c directories, fs_file.c
 * open files, fs_ahead.c the small files fetched ahead. Here: the other
 * ops in kernel order, then the ops table, fs_new and fs_free.
 *
 * An open file that is unlinked is renamed to ".rfs-unlinked-<ino>" in its
 * directory (hidden from listings) and removed on last close, as NFS does;
 * the rename survives a reconnect because the name is on the server.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"
#include "rfs/log.h"
#include "rfs/path.h"
#include "rfs/sftp_wire.h"
#include "rfs/stats.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)	/* linux/fs.h; stdio.h has it with glibc >= 2.28 */
#endif

/* Local uid/gid -> remote, the inverse of idmap. */
static uint32_t remote_uid(struct rfs *fs, uid_t u)
{
	return idmap_remote(&fs->o.idmap, IDMAP_UID, u);
}

static uint32_t remote_gid(struct rfs *fs, gid_t g)
{
	return idmap_remote(&fs->o.idmap, IDMAP_GID, g);
}

/* ---- lookup, forget, getattr, setattr ---- */

/* ENOENT that the kernel may remember for the negative timeout. */
static void reply_negative(struct op *op)
{
	struct fuse_entry_param e = { 0 };

	e.entry_timeout = op->fs->o.neg_timeout;
	if (fsreq_claim(&op->r))
		fuse_reply_entry(op->r.req, &e);
	op_free(op);
}

/* ---- revalidation by working set (cache.h) ---- */

struct ws_ask {
	struct rfs *fs;
	char path[];
};

static void ws_done(struct sftp_reply *r, void *data)
{
	struct ws_ask *w = data;

	cache_put_reply(w->fs->cache, w->path, r->err, &r->attrs);
	g_free(w);
}

/* One of the working set must be asked again: ask for the rest of it
 * too, all at once, so that the program's next opens and lookups find
 * fresh answers instead of a round trip each. */
void revalidate_ws(struct rfs *fs)
{
	GPtrArray *paths = cache_ws_stale(fs->cache);

	if (paths->len)
		log_debug("revalidating %u paths of the working set",
			  paths->len);
	for (guint i = 0; i < paths->len; i++) {
		const char *p = paths->pdata[i];
		size_t n = strlen(p) + 1;
		struct ws_ask *w = g_malloc(sizeof(*w) + n);

		w->fs = fs;
		memcpy(w->path, p, n);
		sftp_path(fs->conn, stat_type(fs), p, ws_done, w);
	}
	g_ptr_array_unref(paths);
}

static void lookup_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	stale_done(op);
	cache_put_reply(op->fs->cache, op->path2, r->err, &r->attrs);
	if (r->err == -ENOENT) {
		cache_ws_use(op->fs->cache, op->path2, CACHE_WS_ADD);
		node_name_gone(op->fs, op->parent, op->name);
		return reply_negative(op);
	}
	if (r->err)
		return op_reply_err(op, r->err);
	reply_entry(op, op->parent, op->name, &r->attrs);
	op_free(op);
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct op *op;
	struct sftp_attrs a;
	uint32_t nlink;
	char *apath;
	int rc;

	if (strlen(name) > NAME_MAX_SFTP) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (node_is_hidden((struct rfs *)fuse_req_userdata(req), name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	op = op_new(req, 0, parent, name);
	if (!op->r.req)
		return op_free(op);
	op_interruptible(op);
	/* Another name of a node (a hard link made through the mount): the
	 * node's attributes are cached under its own path, which every
	 * change made through the mount forgets; what is cached under this
	 * name may be older. Its "missing" is not this name's. */
	apath = node_attr_path(op->fs, op->parent, op->name);
	rc = cache_get_attr(op->fs->cache, apath ? apath : op->path2, &a,
			    &nlink);
	if (rc == 1 || (rc == -ENOENT && !apath)) {
		g_free(apath);
		if (rc == -ENOENT)
			return reply_negative(op);
		reply_entry(op, op->parent, op->name, &a);
		return op_free(op);
	}
	rc = stale_wait(op, apath ? apath : op->path2, 2);
	g_free(apath);
	if (rc)
		return;
	dir_lookup_miss(op);
	cache_ws_use(op->fs->cache, op->path2, CACHE_WS_ASKING);
	revalidate_ws(op->fs);
	sftp_path(op->fs->conn, stat_type(op->fs), op->path2, lookup_done, op);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct rfs *fs = fs_ctx(req);

	pthread_mutex_lock(&fs->lock);
	node_forget(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *f)
{
	struct rfs *fs = fs_ctx(req);

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < count; i++)
		node_forget(fs, f[i].ino, f[i].nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void attr_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	stale_done(op);
	if (r->err)
		return op_reply_err(op, r->err);
	if (op->flags)		/* cacheable: no file open on the node */
		cache_put_attr(op->fs->cache, op->path, &r->attrs, 0);
	reply_attr(op, op->node, &r->attrs);
	op_free(op);
}

/* FSTAT through the op's handle (works on unlinked files), else LSTAT. */
static void stat_node(struct op *op, sftp_done_cb cb)
{
	if (op->file)
		sftp_handle(op->fs->conn, SSH_FXP_FSTAT, op->file, cb, op);
	else
		sftp_path(op->fs->conn, stat_type(op->fs), op->path, cb, op);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct op *op = op_new(req, ino, 0, NULL);

	if (!op->r.req)
		return op_free(op);
	op_interruptible(op);
	/* An open file may be changing under writes: ask the server,
	 * unless it is one we created and only we write. */
	if (op_push_node(op, 0)) {
		if (file_getattr_local(op))
			return;
	} else if (!fi || !((struct file *)(uintptr_t)fi->fh)->writable) {
		struct sftp_attrs a;
		uint32_t nlink;

		if (cache_get_attr(op->fs->cache, op->path, &a, &nlink) == 1) {
			reply_attr(op, op->node, &a);
			return op_free(op);
		}
		op->flags = 1;
		if (stale_wait(op, op->path, 1))
			return;
	}
	op_use_file(op, fi);
	stat_node(op, attr_done);
}

static void setattr_send(struct op *op);

static void setattr_have_current(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (r->err)
		return op_reply_err(op, r->err);
	/* Fill in the half of a pair SFTP v3 cannot set alone. */
	if (((op->a.flags & SFTP_ATTR_UIDGID) &&
	     !(r->attrs.flags & SFTP_ATTR_UIDGID)) ||
	    ((op->a.flags & SFTP_ATTR_ACMODTIME) &&
	     !(r->attrs.flags & SFTP_ATTR_ACMODTIME)))
		return op_reply_err(op, EIO);	/* nothing to keep */
	if ((op->a.flags & SFTP_ATTR_UIDGID) && !(op->to_set & FUSE_SET_ATTR_UID))
		op->a.uid = r->attrs.uid;
	if ((op->a.flags & SFTP_ATTR_UIDGID) && !(op->to_set & FUSE_SET_ATTR_GID))
		op->a.gid = r->attrs.gid;
	if ((op->a.flags & SFTP_ATTR_ACMODTIME) &&
	    !(op->to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)))
		op->a.atime = r->attrs.atime;
	if ((op->a.flags & SFTP_ATTR_ACMODTIME) &&
	    !(op->to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
		op->a.mtime = r->attrs.mtime;
	setattr_send(op);
}

/* SETSTAT and the STAT that reads the result are sent together: the
 * server answers them in order, so one round trip does both. */
static void setattr_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	cache_invalidate(op->fs->cache, op->path);
	ahead_forget(op->fs, op->path, 0);
	op->err = r->err;
	if (!r->err)
		node_changed(op->node);
	/* SFTP has one "permission denied": chown, chmod and setting times
	 * other than "now" by someone else are EPERM (cp -a ignores that
	 * for a chown, as for a local one), the rest EACCES. */
	if (op->err == -EACCES &&
	    ((op->a.flags & (SFTP_ATTR_UIDGID | SFTP_ATTR_PERMISSIONS)) ||
	     (op->to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))))
		op->err = -EPERM;
}

static void setattr_stat(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	/* OpenSSH's server says FAILURE for EFBIG: a size that failed to
	 * grow the file (which still stats) is one its filesystem cannot
	 * hold. */
	if (op->err == -EIO && (op->a.flags & SFTP_ATTR_SIZE) && !r->err &&
	    (r->attrs.flags & SFTP_ATTR_SIZE) && op->a.size > r->attrs.size)
		op->err = -EFBIG;
	if (op->err)
		return op_reply_err(op, op->err);
	attr_done(r, data);
}

static void setattr_send(struct op *op)
{
	struct rfs *fs = op->fs;
	int is_link;

	pthread_mutex_lock(&fs->lock);
	is_link = S_ISLNK(op->node->mode);
	pthread_mutex_unlock(&fs->lock);
	if (is_link && (op->a.flags & SFTP_ATTR_PERMISSIONS)) {
		/* Linux never changes a symlink's mode. */
		op->a.flags &= ~SFTP_ATTR_PERMISSIONS;
	}
	op->flags = 0;		/* attr_done: do not cache (just changed) */
	if (op->file) {
		sftp_fsetstat(fs->conn, op->file, &op->a, setattr_done,
			      setattr_stat, op);
	} else if (is_link && !(fs->exts & SFTP_EXT_LSETSTAT)) {
		op_reply_err(op, EOPNOTSUPP);
	} else {
		sftp_setstat(fs->conn, op->path, &op->a, is_link, setattr_done,
			     setattr_stat, op);
	}
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct op *op = op_new(req, ino, 0, NULL);
	struct rfs *fs = op->fs;
	int need_current = 0;
	uint32_t now = (uint32_t)time(NULL);

	if (!op->r.req)
		return op_free(op);
	op_push_node(op, (to_set & FUSE_SET_ATTR_SIZE) != 0);
	op_use_file(op, fi);
	op->to_set = to_set;
	if (to_set & FUSE_SET_ATTR_MODE) {
		op->a.flags |= SFTP_ATTR_PERMISSIONS;
		op->a.perm = attr->st_mode & 07777;
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		op->a.flags |= SFTP_ATTR_UIDGID;
		op->a.uid = remote_uid(fs, attr->st_uid);
		op->a.gid = remote_gid(fs, attr->st_gid);
		need_current |= (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
				!= (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID);
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		space_changed(fs);
		if (attr->st_size < 0)
			return op_reply_err(op, EINVAL);
		op->a.flags |= SFTP_ATTR_SIZE;
		op->a.size = (uint64_t)attr->st_size;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		int at = to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW);
		int mt = to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW);

		/* SFTP v3 carries times as unsigned 32-bit seconds: say
		 * so rather than store another time. */
		if (((to_set & FUSE_SET_ATTR_ATIME) &&
		     (attr->st_atime < 0 || attr->st_atime > UINT32_MAX)) ||
		    ((to_set & FUSE_SET_ATTR_MTIME) &&
		     (attr->st_mtime < 0 || attr->st_mtime > UINT32_MAX)))
			return op_reply_err(op, EOVERFLOW);
		op->a.flags |= SFTP_ATTR_ACMODTIME;
		op->a.atime = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? now :
			      (uint32_t)attr->st_atime;
		op->a.mtime = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now :
			      (uint32_t)attr->st_mtime;
		need_current |= !at || !mt;	/* UTIME_OMIT on one */
	}
	if (!(to_set & FUSE_SET_ATTR_SIZE) &&
	    file_setattr_local(op, fi && fi->fh ?
			       (struct file *)(uintptr_t)fi->fh : NULL))
		return;
	file_forget_attrs(fs, op->node);
	if (need_current)
		stat_node(op, setattr_have_current);
	else
		setattr_send(op);
}

/* ---- readlink, mknod, mkdir, unlink, rmdir, symlink ---- */

static void readlink_reply(struct op *op, const char *target)
{
	char *shown = op->fs->o.symlinks_raw ? g_strdup(target) :
		      path_link_shown(op->fs->base, op->path, target);

	if (fsreq_claim(&op->r))
		fuse_reply_readlink(op->r.req, shown);
	g_free(shown);
}

static void readlink_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	const char *target;

	if (r->err)
		return op_reply_err(op, r->err);
	/* No local filesystem holds such a link; a program given an empty
	 * one might take it for the current directory. */
	target = r->names[0].name;
	if (!*target) {
		log_err("readlink %s: the server gave a target that is empty: "
			"EIO", op->path);
		return op_reply_err(op, -EIO);
	}
	if (path_too_long(target)) {
		log_err("readlink %s: the server gave a target longer than "
			"PATH_MAX: ENAMETOOLONG", op->path);
		return op_reply_err(op, -ENAMETOOLONG);
	}
	cache_put_link(op->fs->cache, op->path, target);
	readlink_reply(op, target);
	op_free(op);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *target;
	struct op *op = op_new(req, ino, 0, NULL);

	if (!op->r.req)
		return op_free(op);
	op_interruptible(op);
	target = cache_get_link(op->fs->cache, op->path);
	if (target) {
		readlink_reply(op, target);
		g_free(target);
		return op_free(op);
	}
	sftp_path(op->fs->conn, SSH_FXP_READLINK, op->path, readlink_done, op);
}

/* After creating parent/name: stat it, fix a mode the server's umask cut,
 * reply the entry. */
static void created_fixed(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	(void)r;	/* best effort: the entry shows what we asked for */
	reply_entry(op, op->parent, op->name, &op->a);
	op_free(op);
}

/* Into the cache: the parent's listing gains the name; a directory we
 * just made (op->to_set: not a replay) is known to be empty, so lookups
 * in it need no round trip (tar, cp -r, git checkout). */
static void note_created(struct op *op)
{
	struct rfs *fs = op->fs;

	cache_created(fs->cache, op->path2, &op->a);
	ahead_forget(fs, op->path2, 0);
	node_created_in(op);
	if (S_ISDIR(op->a.perm)) {	/* "." and its entry in the parent */
		struct node *n;

		pthread_mutex_lock(&fs->lock);
		n = node_find_or_add(fs, op->parent, op->name);
		n->nlink = 2;
		node_subdirs_locked(op->parent, 1);
		pthread_mutex_unlock(&fs->lock);
	}
	if (op->to_set && S_ISDIR(op->a.perm) && fs->o.cache.dir_ms) {
		GArray *empty = dir_dents_new();

		cache_put_dir(fs->cache, op->path2, empty, 1);
		cache_dents_free(empty);
	}
}

/* Should the mode of what we just created be set to the one asked for?
 * sftp-server applies its umask (022 by default) to the mode it is given,
 * which the kernel already cut with the caller's umask: set the caller's
 * mode again then. But a server that removes more (internal-sftp -u 077,
 * a site policy) is obeyed, not overridden. */
int mode_fixable(mode_t want, const struct sftp_attrs *got)
{
	uint32_t removed;

	if (!want || !(got->flags & SFTP_ATTR_PERMISSIONS) ||
	    S_ISLNK(got->perm) || (got->perm & 07777) == (want & 07777))
		return 0;
	removed = (want & 07777) & ~(got->perm & 07777);
	return (got->perm & 07777 & ~want) == 0 && (removed & ~07022u) == 0;
}

static void created_owned_last(struct sftp_reply *r, void *data)
{
	op_owned(r, data);
	created_fixed(r, data);
}

void created_stat(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	struct sftp_attrs fix, own;
	int nofollow = (op->fs->exts & SFTP_EXT_LSETSTAT) != 0;
	int todo;

	if (r->err)
		return op_reply_err(op, r->err);
	op->a = r->attrs;
	todo = op_after_create(op, &fix, &own);
	note_created(op);
	if (!todo) {
		reply_entry(op, op->parent, op->name, &op->a);
		return op_free(op);
	}
	/* Both at once, in order on one channel: one round trip. Not
	 * through a symlink someone put there meanwhile (lsetstat). */
	if (todo & CREATE_FIX_OWNER)
		sftp_setstat(op->fs->conn, op->path2, &own, nofollow,
			     todo & CREATE_FIX_MODE ? op_owned
						    : created_owned_last,
			     NULL, op);
	if (todo & CREATE_FIX_MODE)
		sftp_setstat(op->fs->conn, op->path2, &fix, nofollow,
			     created_fixed, NULL, op);
}

static void exists_probe(struct op *op, int rc, struct sftp_attrs *a)
{
	(void)a;
	op_reply_err(op, rc == 0 ? EEXIST : op->err ? op->err : EIO);
}

/* An exclusive create (O_EXCL open, mknod, mkdir, symlink, link) that
 * was in flight when the connection broke, sent again, and answered
 * "exists": its first attempt may have made the name, or another client
 * may have meanwhile. Nobody can tell, and a lock file or a mkdir lock
 * must never be won twice: EIO, and a message saying why. */
int unknown_create(struct op *op, const char *what)
{
	log_warn("%s %s: the connection broke while it was being created; "
		 "it exists now, but whether this mount made it cannot be "
		 "told: EIO", what, op->path2);
	cache_invalidate(op->fs->cache, op->path2);
	ahead_forget(op->fs, op->path2, 0);
	/* The kernel still has the name as absent (the lookup before the
	 * create): make it ask again, so that the name shows. */
	pthread_mutex_lock(&op->fs->lock);
	if (op->parent)
		ahead_notify_push_locked(op->fs, NULL, op->parent->ino,
					 op->name);
	pthread_mutex_unlock(&op->fs->lock);
	return EIO;
}

/* MKDIR or SYMLINK, and the LSTAT sent right behind it: one round trip.
 * The LSTAT also tells why a FAILURE failed (the name exists). */
static void create_node_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	op->err = is_failure(r) && r->replayed ?
		  unknown_create(op, op->mode ? "mkdir" : "symlink") : r->err;
	if (op->err) {
		cache_invalidate(op->fs->cache, op->path2);
		ahead_forget(op->fs, op->path2, 0);
	}
	op->to_set = !r->err && !r->replayed;	/* made it now, empty */
}

static void create_node_stat(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (op->err == -EIO)
		return exists_probe(op, r->err, &r->attrs);
	if (op->err)
		return op_reply_err(op, op->err);
	created_stat(r, data);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct op *op = op_new(req, 0, parent, name);
	struct sftp_attrs a = { .flags = SFTP_ATTR_PERMISSIONS };
	struct sftp_also also;

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	if (strlen(name) > NAME_MAX_SFTP)
		return op_reply_err(op, ENAMETOOLONG);
	op->mode = mode;
	a.perm = mode & 07777;
	sftp_mkdir(op->fs->conn, op->path2, &a, create_node_done,
		   create_node_stat, op, dir_seen_start(op, &also));
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct op *op = op_new(req, 0, parent, name);
	struct sftp_also also;

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	if (strlen(name) > NAME_MAX_SFTP)
		return op_reply_err(op, ENAMETOOLONG);
	sftp_symlink(op->fs->conn, link, op->path2, create_node_done,
		     create_node_stat, op, dir_seen_start(op, &also));
}

static void mknod_close(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	(void)r;
	sftp_path(op->fs->conn, SSH_FXP_LSTAT, op->path2, created_stat, op);
}

/* The answer to an exclusive create of op->path2 (what: "mknod",
 * "link"): 1 when it failed and op is answered (or a probe says why),
 * else 0 with the new name's cached state forgotten. */
static int excl_create_failed(struct op *op, struct sftp_reply *r,
			      const char *what)
{
	if (is_failure(r) && r->replayed) {
		op_reply_err(op, unknown_create(op, what));
		return 1;
	}
	if (is_failure(r)) {
		op->err = EIO;
		probe(op, op->path2, exists_probe);
		return 1;
	}
	if (r->err) {
		op_reply_err(op, r->err);
		return 1;
	}
	cache_invalidate(op->fs->cache, op->path2);
	ahead_forget(op->fs, op->path2, 0);
	return 0;
}

static void mknod_open(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (excl_create_failed(op, r, "mknod"))
		return;
	op->file = sftp_file_new(r, NULL, 0);
	sftp_handle(op->fs->conn, SSH_FXP_CLOSE, op->file, mknod_close, op);
}

/* SFTP creates regular files only: fifos, sockets and devices are made
 * by a command on the server (fs_special.c). */
static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct op *op = op_new(req, 0, parent, name);
	struct sftp_attrs a = { .flags = SFTP_ATTR_PERMISSIONS };

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	if (strlen(name) > NAME_MAX_SFTP)
		return op_reply_err(op, ENAMETOOLONG);
	if (!S_ISREG(mode))
		return special_mknod(op, mode, rdev);
	op->mode = mode;
	a.perm = mode & 07777;
	sftp_open(op->fs->conn, op->path2, SSH_FXF_WRITE | SSH_FXF_CREAT |
		  SSH_FXF_EXCL, &a, mknod_open, op);
}

static void remove_probe(struct op *op, int rc, struct sftp_attrs *a)
{
	int err = op->err;

	if (rc)
		err = -rc;
	else if (op->flags == SSH_FXP_REMOVE && S_ISDIR(a->perm))
		err = EISDIR;
	else if (op->flags == SSH_FXP_RMDIR && !S_ISDIR(a->perm))
		err = ENOTDIR;
	else if (op->flags == SSH_FXP_RMDIR)
		err = ENOTEMPTY;
	op_reply_err(op, err);
}

static void remove_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (is_failure(r)) {
		op->err = EIO;
		return probe(op, op->path2, remove_probe);
	}
	/* replayed: the first attempt may have removed it */
	if (r->err && !(r->replayed && r->err == -ENOENT))
		return op_reply_err(op, r->err);
	if (op->flags == SSH_FXP_RMDIR)
		cache_invalidate_tree(op->fs->cache, op->path2);
	else
		cache_invalidate(op->fs->cache, op->path2);
	ahead_forget(op->fs, op->path2, op->flags == SSH_FXP_RMDIR);
	node_forget_name(op->fs, op->parent, op->name);
	node_entries_changed(op->fs, op->parent);
	if (op->flags == SSH_FXP_RMDIR) {
		pthread_mutex_lock(&op->fs->lock);
		node_subdirs_locked(op->parent, -1);
		pthread_mutex_unlock(&op->fs->lock);
	}
	op_reply_err(op, 0);
}

static void hide_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	struct rfs *fs = op->fs;

	/* replayed: the first attempt renamed it already */
	if (r->err && !(r->replayed && r->err == -ENOENT))
		return op_reply_err(op, r->err);
	cache_invalidate(fs->cache, op->path2);
	ahead_forget(fs, op->path2, 0);
	cache_invalidate(fs->cache, op->path);
	ahead_forget(fs, op->path, 0);
	node_hide(fs, op->node, op->name2);
	op->name2 = NULL;
	node_changed(op->node);		/* its link count went to 0 */
	node_entries_changed(fs, op->parent);
	op_reply_err(op, 0);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct op *op = op_new(req, 0, parent, name);
	struct rfs *fs = op->fs;
	struct node *n;

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	g_assert(op->parent);	/* op_new: a live parent, or answered */
	op->flags = SSH_FXP_REMOVE;
	pthread_mutex_lock(&fs->lock);
	n = node_named_locked(fs, op->parent, name);
	/* Still open, and no other name made through the mount keeps the
	 * data reachable (with one, a plain REMOVE: open files are reopened
	 * by that name after a reconnect, node_forget_name). */
	if (n && n->opens > 0 && !n->aliases) {
		op->node = n;
		n->refs++;
		op->name2 = node_hidden_name();
		op->path = node_child_path(fs, op->parent, op->name2);
	}
	pthread_mutex_unlock(&fs->lock);
	if (op->node) {
		/* Still open: keep the data reachable until last close. */
		sftp_rename(fs->conn, op->path2, op->path, 0, hide_done,
			    op);	/* RENAME: never replaces */
		return;
	}
	sftp_path(fs->conn, SSH_FXP_REMOVE, op->path2, remove_done, op);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct op *op = op_new(req, 0, parent, name);

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	op->flags = SSH_FXP_RMDIR;
	sftp_path(op->fs->conn, SSH_FXP_RMDIR, op->path2, remove_done, op);
}

/* ---- rename, link ---- */

static void rename_probe_new(struct op *op, int rc, struct sftp_attrs *a)
{
	int src_dir = S_ISDIR(op->a.perm);

	if (rc)		/* target missing: the failure was elsewhere */
		return op_reply_err(op, op->err);
	if (op->flags & RENAME_NOREPLACE)
		return op_reply_err(op, EEXIST);
	if (src_dir && S_ISDIR(a->perm))
		return op_reply_err(op, ENOTEMPTY);
	if (src_dir)
		return op_reply_err(op, ENOTDIR);
	if (S_ISDIR(a->perm))
		return op_reply_err(op, EISDIR);
	op_reply_err(op, op->err);
}

static void rename_probe_old(struct op *op, int rc, struct sftp_attrs *a)
{
	if (rc)
		return op_reply_err(op, rc);
	op->a = *a;
	probe(op, op->path, rename_probe_new);
}

static void rename_finish(struct op *op);

/* A rename sent again after a reconnect found no source: did the first
 * attempt move it? The new name exists: yes. */
static void rename_probe_replayed(struct op *op, int rc, struct sftp_attrs *a)
{
	(void)a;
	if (rc)
		return op_reply_err(op, ENOENT);
	rename_finish(op);
}

static void rename_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (is_failure(r)) {
		op->err = EIO;
		return probe(op, op->path2, rename_probe_old);
	}
	if (r->replayed && r->err == -ENOENT)
		return probe(op, op->path, rename_probe_replayed);
	if (r->err)
		return op_reply_err(op, r->err);
	rename_finish(op);
}

static void rename_finish(struct op *op)
{
	struct rfs *fs = op->fs;

	/* Everything below a renamed directory moved too. */
	cache_invalidate_tree(fs->cache, op->path2);
	ahead_forget(fs, op->path2, 1);
	cache_invalidate_tree(fs->cache, op->path);
	ahead_forget(fs, op->path, 1);
	node_move(fs, op->parent, op->name, op->newparent, op->name2);
	node_entries_changed(fs, op->parent);
	if (op->newparent != op->parent)
		node_entries_changed(fs, op->newparent);
	op_reply_err(op, 0);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct op *op = op_new(req, 0, parent, name);
	struct rfs *fs = op->fs;
	int posix;

	if (!op->r.req)
		return op_free(op);
	g_assert(op->parent && op->path2);	/* op_new's, as above */
	if (flags & ~(unsigned int)RENAME_NOREPLACE)
		return op_reply_err(op, EINVAL);	/* RENAME_EXCHANGE... */
	if (strlen(newname) > NAME_MAX_SFTP)
		return op_reply_err(op, ENAMETOOLONG);
	pthread_mutex_lock(&fs->lock);
	op->newparent = node_get(fs, newparent);
	if (op->newparent) {
		op->newparent->refs++;
		op->path = node_child_path(fs, op->newparent, newname);
	}
	pthread_mutex_unlock(&fs->lock);
	if (!op->newparent)
		return op_reply_err(op, ESTALE);
	op->name2 = g_strdup(newname);
	op->flags = (int)flags;
	/* A directory cannot move below itself. */
	if (g_str_has_prefix(op->path, op->path2) &&
	    op->path[strlen(op->path2)] == '/')
		return op_reply_err(op, EINVAL);
	/* SSH_FXP_RENAME never replaces: it is RENAME_NOREPLACE. */
	posix = !(flags & RENAME_NOREPLACE) &&
		(fs->exts & SFTP_EXT_POSIX_RENAME);
	sftp_rename(fs->conn, op->path2, op->path, posix, rename_done, op);
}

static void link_stat(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	struct rfs *fs = op->fs;
	struct node *n = NULL;

	if (r->err)
		return op_reply_err(op, r->err);
	pthread_mutex_lock(&fs->lock);
	/* The new name is the source's node: one inode with two names, so
	 * a change through one shows through the other at once. */
	if (node_link_locked(fs, op->node, op->parent, op->name) < 0) {
		uint32_t nlink = (op->node->nlink ? op->node->nlink : 1) + 1;

		op->node->nlink = nlink;
		n = node_find_or_add(fs, op->parent, op->name);
		n->nlink = nlink;
	}
	node_names_changed_locked(fs, op->node);	/* link counts */
	pthread_mutex_unlock(&fs->lock);
	node_changed(op->node);		/* one link more: ctime moves */
	node_changed(n);
	node_entries_changed(fs, op->parent);
	reply_entry(op, op->parent, op->name, &r->attrs);
	op_free(op);
}

static void link_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (excl_create_failed(op, r, "link"))
		return;
	cache_invalidate(op->fs->cache, op->path);	/* its nlink */
	ahead_forget(op->fs, op->path, 0);
	sftp_path(op->fs->conn, SSH_FXP_LSTAT, op->path2, link_stat, op);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct op *op = op_new(req, ino, newparent, newname);

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	if (!(op->fs->exts & SFTP_EXT_HARDLINK))
		return op_reply_err(op, EPERM);
	sftp_hardlink(op->fs->conn, op->path, op->path2, link_done, op);
}

/* ---- statfs, access ---- */

/* df's figures: cached like attributes, and asked again after this mount
 * wrote, created or removed anything (find asks for them every run). */
void space_changed(struct rfs *fs)
{
	g_atomic_int_set(&fs->space_changed, 1);
}

static void statfs_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	struct sftp_statvfs v;
	struct statvfs st = { 0 };

	if (r->err || sftp_parse_statvfs(&r->ext, &v)) {
		space_changed(op->fs);	/* what we have is no fresher */
		return op_reply_err(op, r->err ? r->err : EPROTO);
	}
	st.f_bsize = v.bsize;
	st.f_frsize = v.frsize;
	st.f_blocks = v.blocks;
	st.f_bfree = v.bfree;
	st.f_bavail = v.bavail;
	st.f_files = v.files;
	st.f_ffree = v.ffree;
	st.f_favail = v.favail;
	st.f_fsid = v.fsid;
	st.f_namemax = v.namemax;
	pthread_mutex_lock(&op->fs->lock);
	op->fs->last_statfs = st;
	op->fs->have_statfs = 1;
	op->fs->statfs_ms = op->start_ms;
	pthread_mutex_unlock(&op->fs->lock);
	if (fsreq_claim(&op->r))
		fuse_reply_statfs(op->r.req, &st);
	op_free(op);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct op *op = op_new(req, ino, 0, NULL);

	if (!op->r.req)
		return op_free(op);
	if (!(op->fs->exts & SFTP_EXT_STATVFS)) {
		/* No statvfs@openssh.com: claim plenty, as sshfs does. */
		struct statvfs st = { .f_bsize = 4096, .f_frsize = 4096,
			.f_blocks = 1u << 30, .f_bfree = 1u << 30,
			.f_bavail = 1u << 30, .f_namemax = NAME_MAX_SFTP };
		fuse_reply_statfs(req, &st);
		return op_free(op);
	}
	{
		/* Fresh, or the link is dead (df answers at once, with the
		 * last figures). */
		struct statvfs st;
		int have, ms = op->fs->o.cache.attr_ms;
		int64_t now = g_get_monotonic_time() / 1000;

		pthread_mutex_lock(&op->fs->lock);
		st = op->fs->last_statfs;
		have = op->fs->have_statfs &&
		       (g_atomic_int_get(&op->fs->offline) ||
			(!g_atomic_int_get(&op->fs->space_changed) &&
			 now - op->fs->statfs_ms < ms));
		pthread_mutex_unlock(&op->fs->lock);
		if (have) {
			fuse_reply_statfs(req, &st);
			return op_free(op);
		}
		op->start_ms = now;
		g_atomic_int_set(&op->fs->space_changed, 0);
	}
	op_interruptible(op);
	sftp_statvfs(op->fs->conn, op->path, statfs_done, op);
}

/* The server's own answer to a probe that changes nothing. */
static void access_probed(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (r->type == SSH_FXP_HANDLE && !r->err) {
		struct sftp_file *f = sftp_file_new(r, NULL, 0);

		sftp_handle(op->fs->conn, SSH_FXP_CLOSE, f, NULL, NULL);
		sftp_file_unref(f);
	}
	op_reply_err(op, r->err == -EPERM ? EACCES : r->err);
}

/* The modes cannot tell (only a group the login may be in grants it,
 * and SFTP does not say which groups those are): ask the server in a way
 * that changes nothing, where there is one. Reading or writing a file:
 * open it so (no create, no truncate) and close it; searching a
 * directory: a stat of "dir/."; reading one: open it as a listing. Else
 * (execute a file, write a directory) yes: the operation will ask. */
static void access_probe(struct op *op, const struct sftp_attrs *a)
{
	int m = op->flags;
	uint32_t pf = ((m & R_OK) ? SSH_FXF_READ : 0) |
		      ((m & W_OK) ? SSH_FXF_WRITE : 0);

	if (S_ISREG(a->perm) && !(m & X_OK)) {
		sftp_open(op->fs->conn, op->path, pf, NULL, access_probed, op);
	} else if (S_ISDIR(a->perm) && m == X_OK) {
		char *dot = g_strconcat(op->path, "/.", NULL);

		sftp_path(op->fs->conn, SSH_FXP_LSTAT, dot, access_probed, op);
		g_free(dot);
	} else if (S_ISDIR(a->perm) && m == R_OK) {
		sftp_path(op->fs->conn, SSH_FXP_OPENDIR, op->path,
			  access_probed, op);
	} else {
		op_reply_err(op, 0);
	}
}

static void access_decide(struct op *op, const struct sftp_attrs *a)
{
	int may = login_may(op->fs, a, op->flags);

	if (may < 0 && op->fs->o.idmap.have_login)
		return access_probe(op, a);
	op_reply_err(op, may ? 0 : EACCES);
}

static void access_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (r->err)
		return op_reply_err(op, r->err);
	cache_put_attr(op->fs->cache, op->path, &r->attrs, 0);
	access_decide(op, &r->attrs);
}

/* access(2), test -w, chdir, rm's prompt: what the server would answer
 * the SSH login, whoever the local caller is (rfs(1), PERMISSIONS).
 * Asked only without default_permissions: with it the kernel checks the
 * modes it is shown. */
static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct op *op = op_new(req, ino, 0, NULL);
	struct sftp_attrs a;
	uint32_t nlink;

	if (!op->r.req)
		return op_free(op);
	op->flags = mask;
	if (mask == F_OK)	/* the kernel has the inode: it exists */
		return op_reply_err(op, 0);
	op_interruptible(op);
	if (cache_get_attr(op->fs->cache, op->path, &a, &nlink) == 1)
		return access_decide(op, &a);
	sftp_path(op->fs->conn, stat_type(op->fs), op->path, access_done, op);
}

/* ---- init and the ops table ---- */

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct rfs *fs = userdata;

	/* Here, in the daemon (after the fork: a GLib thread pool may
	 * start a helper thread with its first pool). */
	pthread_mutex_lock(&fs->lock);
	if (!fs->store_pool && !fs->quiesced)
		fs->store_pool = g_thread_pool_new(ahead_notify_run, fs,
						   1, FALSE, NULL);
	pthread_mutex_unlock(&fs->lock);

	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
		conn->want &= ~(unsigned int)FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	if (fs->o.max_write > 0)
		conn->max_write = (unsigned)fs->o.max_write;
	conn->max_readahead = conn->max_write;
}

static const struct fuse_lowlevel_ops ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.releasedir = fs_releasedir,
	.statfs = fs_statfs,
	.access = fs_access,
	.create = fs_create,
	.forget_multi = fs_forget_multi,
	.readdirplus = fs_readdirplus,
	.copy_file_range = fs_copy_file_range,
	.getxattr = stats_getxattr,	/* all answered locally: stats.c */
	.listxattr = stats_listxattr,
	.setxattr = stats_setxattr,
	.removexattr = stats_removexattr,
};

const struct fuse_lowlevel_ops *fs_ops(void)
{
	return &ops;
}

/* The link turned unusable or usable again (I/O thread): while it is
 * down or suspect, the cache serves entries past their timeout. */
static void link_changed(void *data, int usable)
{
	struct rfs *fs = data;

	g_atomic_int_set(&fs->offline, !usable);
	cache_set_offline(fs->cache, !usable);
	if (!usable)
		stale_release(fs);
	log_debug("link %s: cached entries %s", usable ? "usable" : "down",
		  usable ? "expire again" : "served past their timeout");
}

int fs_noxattr(struct rfs *fs)
{
	return fs->o.noxattr;
}

struct rfs *fs_new(struct sftp_conn *c, const char *base,
		   const struct fs_opts *o)
{
	struct rfs *fs = g_new0(struct rfs, 1);
	uint64_t *k;

	fs->conn = c;
	fs->base = g_strdup(base);
	fs->o = *o;
	if (fs->o.max_listing <= 0)
		fs->o.max_listing = FS_MAX_LISTING;
	fs->exts = sftp_conn_exts(c);
	{
		struct sftp_stats st;

		sftp_conn_stats(c, &st);
		fs->one_conn = st.conns <= 1;
	}
	/* 8 MiB a file keeps one stream near the link speed (libssh2 slows
	 * down with more queued); 32 MiB bounds the mount and is the channel
	 * window, so readahead never waits for a window adjust, and the peak
	 * RSS of 4 readers and 4 writers stays near 85 MiB. */
	fs->pool = stream_pool_new(c, 8 << 20, 32 << 20);
	fs->cache = cache_new(&o->cache);
	fs->listings = g_hash_table_new(g_str_hash, g_str_equal);
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&fs->stale_lock, NULL);
	fs->inodes = g_hash_table_new_full(g_int64_hash, g_int64_equal,
					   g_free, NULL);
	fs->names = g_hash_table_new(g_str_hash, g_str_equal);
	fs->hidden = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   NULL);
	fs->walks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					  walk_free);
	fs->ahead = g_hash_table_new(g_str_hash, g_str_equal);
	fs->dirs = g_hash_table_new_full(NULL, NULL,
					 (GDestroyNotify)dir_free, NULL);
	fs->root = g_new0(struct node, 1);
	fs->root->ino = FUSE_ROOT_ID;
	fs->root->nlookup = 1;
	fs->root->mode = S_IFDIR | 0755;
	k = g_new(uint64_t, 1);
	*k = FUSE_ROOT_ID;
	g_hash_table_insert(fs->inodes, k, fs->root);
	sftp_conn_set_link_cb(c, link_changed, fs);
	return fs;
}

void fs_quiesce(struct rfs *fs)
{
	GThreadPool *p;

	pthread_mutex_lock(&fs->lock);
	p = fs->store_pool;
	fs->store_pool = NULL;
	fs->quiesced = 1;
	pthread_mutex_unlock(&fs->lock);
	if (p)
		g_thread_pool_free(p, FALSE, TRUE);
}

void fs_free(struct rfs *fs)
{
	GHashTableIter it;
	gpointer v;

	if (!fs)
		return;
	fs_quiesce(fs);
	g_hash_table_iter_init(&it, fs->inodes);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct node *n = v;

		node_free_aliases(n);
		g_free(n->name);
		g_free(n->key);
		g_free(n);
	}
	g_hash_table_destroy(fs->names);
	g_hash_table_destroy(fs->hidden);
	g_hash_table_destroy(fs->inodes);
	g_hash_table_destroy(fs->dirs);	/* never released: unmounted */
	g_hash_table_destroy(fs->walks);
	g_queue_clear(&fs->ahead_ready);
	g_hash_table_foreach(fs->ahead, ahead_free_cb, NULL);
	g_hash_table_destroy(fs->ahead);
	stream_pool_free(fs->pool);
	cache_free(fs->cache);
	g_hash_table_destroy(fs->listings);
	g_queue_clear_full(&fs->prefetch_q, g_free);
	pthread_mutex_destroy(&fs->lock);
	pthread_mutex_destroy(&fs->stale_lock);
	g_slist_free(fs->stale_waiters);
	g_free(fs->base);
	g_free(fs);
}

void fs_set_session(struct rfs *fs, struct fuse_session *se)
{
	fs->se = se;
}

void fs_stats(struct rfs *fs, struct sftp_stats *s, uint64_t *hits,
	      uint64_t *misses)
{
	sftp_conn_stats(fs->conn, s);
	cache_stats(fs->cache, hits, misses);
}

void fs_ahead_stats(struct rfs *fs, uint64_t *fetched, uint64_t *used)
{
	pthread_mutex_lock(&fs->lock);
	*fetched = fs->ahead_fetched;
	*used = fs->ahead_used;
	pthread_mutex_unlock(&fs->lock);
}
