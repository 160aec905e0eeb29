/* fs: FUSE low-level operations mapped onto SFTP requests.
 *
 * Replies are sent from SFTP completions on the I/O thread; an op that
 * needs several requests chains them through a struct op (fs_op.c) and
 * one short callback per step.
 *
 * The fs*.c files share src/fs_int.h: fs_node.c has the node table,
 * fs_op.c the op helpers and replies, fs_dir.c directories, fs_ahead.c
 * the small files fetched ahead. Here: the other ops in kernel order,
 * then the ops table, fs_new and fs_free.
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
static void revalidate_ws(struct rfs *fs)
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

	if (strlen(name) > NAME_MAX_SFTP) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (is_hidden((struct rfs *)fuse_req_userdata(req), name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	op = op_new(req, 0, parent, name);
	if (!op->r.req)
		return op_free(op);
	op_interruptible(op);
	switch (cache_get_attr(op->fs->cache, op->path2, &a, &nlink)) {
	case 1:
		reply_entry(op, op->parent, op->name, &a);
		return op_free(op);
	case -ENOENT:
		return reply_negative(op);
	}
	if (stale_wait(op, op->path2, 2))
		return;
	lookup_miss(op);
	cache_ws_use(op->fs->cache, op->path2, CACHE_WS_ASKING);
	revalidate_ws(op->fs);
	sftp_path(op->fs->conn, stat_type(op->fs), op->path2, lookup_done, op);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct rfs *fs = fs_ctx(req);

	pthread_mutex_lock(&fs->lock);
	forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *f)
{
	struct rfs *fs = fs_ctx(req);

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < count; i++)
		forget_one(fs, f[i].ino, f[i].nlookup);
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

static int getattr_local(struct op *op);

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
		if (getattr_local(op))
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

/* fchmod, fchown, futimens on a file this mount created and has open for
 * writing (tar does all three after each file; the kernel sends them
 * without the file handle, so the node's open file is used): when the
 * server surely does it (setattr_sure), sent behind its writes without
 * waiting and answered from what we know. 1 if answered. */
/* The node's file open for writing whose attributes we know (this mount
 * created it), or NULL; *a: them as they are now (fs->lock held). */
static struct file *known_file_locked(struct node *n, struct file *only,
				      struct sftp_attrs *a, uint64_t *end,
				      uint64_t *writes)
{
	for (GSList *l = n->files; l; l = l->next) {
		struct file *f = l->data;

		if ((only && f != only) || !f->writable || !f->have_a)
			continue;
		*a = f->a;
		stream_write_marks(f->st, end, writes);
		if (*writes != f->a_writes)	/* written since: mtime moved */
			a->mtime = (uint32_t)time(NULL);
		return f;
	}
	return NULL;
}

/* A stat of a file this mount created and is writing (tar's, between
 * its writes and its fchown): answered from what we know, as
 * setattr_local() is. 1 if answered. */
static int getattr_local(struct op *op)
{
	struct sftp_attrs a = { 0 };
	uint64_t end = 0, writes = 0;
	struct file *f;
	int writers = 0;

	pthread_mutex_lock(&op->fs->lock);
	f = known_file_locked(op->node, NULL, &a, &end, &writes);
	for (GSList *l = op->node->files; l; l = l->next)
		writers += ((struct file *)l->data)->writable;
	pthread_mutex_unlock(&op->fs->lock);
	if (!f || writers != 1 || !(a.flags & SFTP_ATTR_PERMISSIONS) ||
	    !(a.flags & SFTP_ATTR_SIZE))
		return 0;
	a.size = MAX(a.size, end);
	reply_attr(op, op->node, &a);
	op_free(op);
	return 1;
}

/* Will the server surely set `set` on a file with attributes a? The
 * owner may always chmod and set times, and chown to the same ids; root
 * may do anything. Only such a setattr is answered before the server
 * has: any other waits for its answer, so an error (cp -a's fchown to a
 * uid the login is not) lands on the call that caused it. */
static int setattr_sure(struct rfs *fs, const struct sftp_attrs *a,
			const struct sftp_attrs *set)
{
	const struct idmap *m = &fs->o.idmap;

	if (!m->have_login)
		return 0;
	if (m->login[IDMAP_UID] == 0)
		return 1;
	if (!(a->flags & SFTP_ATTR_UIDGID) || a->uid != m->login[IDMAP_UID])
		return 0;
	return !(set->flags & SFTP_ATTR_UIDGID) ||
	       (set->uid == a->uid && set->gid == a->gid);
}

static int setattr_local(struct op *op, struct file *only)
{
	struct rfs *fs = op->fs;
	struct sftp_attrs a = { 0 }, set = op->a;
	struct file *f;
	uint64_t end = 0, writes = 0;
	int err = 0, to_set = op->to_set;

	pthread_mutex_lock(&fs->lock);
	f = known_file_locked(op->node, only, &a, &end, &writes);
	if (!f || !(a.flags & SFTP_ATTR_PERMISSIONS) ||
	    ((set.flags & SFTP_ATTR_UIDGID) && !(a.flags & SFTP_ATTR_UIDGID)) ||
	    ((set.flags & SFTP_ATTR_ACMODTIME) &&
	     !(a.flags & SFTP_ATTR_ACMODTIME)) ||
	    ((set.flags & SFTP_ATTR_ACMODTIME) && writes != f->a_writes &&
	     !(to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))) {
		/* unknown, or keeping an mtime our writes changed */
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	if ((set.flags & SFTP_ATTR_UIDGID) && !(to_set & FUSE_SET_ATTR_UID))
		set.uid = a.uid;
	if ((set.flags & SFTP_ATTR_UIDGID) && !(to_set & FUSE_SET_ATTR_GID))
		set.gid = a.gid;
	if ((set.flags & SFTP_ATTR_ACMODTIME) &&
	    !(to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)))
		set.atime = a.atime;
	if ((set.flags & SFTP_ATTR_ACMODTIME) &&
	    !(to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
		set.mtime = a.mtime;
	if (!setattr_sure(fs, &a, &set)) {
		pthread_mutex_unlock(&fs->lock);
		return 0;	/* the server's answer decides, at once */
	}
	err = stream_setstat(f->st, &set);	/* fs->lock, then a stream's */
	if (!err) {
		if (set.flags & SFTP_ATTR_PERMISSIONS)
			f->a.perm = (f->a.perm & S_IFMT) | (set.perm & 07777);
		if (set.flags & SFTP_ATTR_UIDGID) {
			f->a.uid = set.uid;
			f->a.gid = set.gid;
		}
		if (set.flags & SFTP_ATTR_ACMODTIME) {
			f->a.atime = set.atime;
			f->a.mtime = set.mtime;
			f->a_writes = writes;
		}
		a = f->a;
		if (writes != f->a_writes)
			a.mtime = (uint32_t)time(NULL);	/* by the writes */
	}
	pthread_mutex_unlock(&fs->lock);
	if (err) {
		op_reply_err(op, err);
		return 1;
	}
	if ((a.flags & SFTP_ATTR_SIZE) && end > a.size)
		a.size = end;
	reply_attr(op, op->node, &a);
	op_free(op);
	return 1;
}

/* Forget what we knew of the node's created files: after a truncate or
 * an attribute change the server made, its word counts. */
static void files_forget_attrs(struct rfs *fs, struct node *n)
{
	pthread_mutex_lock(&fs->lock);
	for (GSList *l = n->files; l; l = l->next)
		((struct file *)l->data)->have_a = 0;
	pthread_mutex_unlock(&fs->lock);
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

		op->a.flags |= SFTP_ATTR_ACMODTIME;
		op->a.atime = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? now :
			      (uint32_t)attr->st_atime;
		op->a.mtime = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now :
			      (uint32_t)attr->st_mtime;
		need_current |= !at || !mt;	/* UTIME_OMIT on one */
	}
	if (!(to_set & FUSE_SET_ATTR_SIZE) &&
	    setattr_local(op, fi && fi->fh ? (struct file *)(uintptr_t)fi->fh
					  : NULL))
		return;
	files_forget_attrs(fs, op->node);
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

	if (r->err)
		return op_reply_err(op, r->err);
	cache_put_link(op->fs->cache, op->path, r->names[0].name);
	readlink_reply(op, r->names[0].name);
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
	if (op->to_set && S_ISDIR(op->a.perm) && fs->o.cache.dir_ms) {
		GArray *empty = dents_new();

		cache_put_dir(fs->cache, op->path2, empty, 1);
		cache_dents_free(empty);
	}
}

/* Should the mode of what we just created be set to the one asked for?
 * sftp-server applies its umask (022 by default) to the mode it is given,
 * which the kernel already cut with the caller's umask: set the caller's
 * mode again then. But a server that removes more (internal-sftp -u 077,
 * a site policy) is obeyed, not overridden. */
static int mode_fixable(mode_t want, const struct sftp_attrs *got)
{
	uint32_t removed;

	if (!want || !(got->flags & SFTP_ATTR_PERMISSIONS) ||
	    S_ISLNK(got->perm) || (got->perm & 07777) == (want & 07777))
		return 0;
	removed = (want & 07777) & ~(got->perm & 07777);
	return (got->perm & 07777 & ~want) == 0 && (removed & ~07022u) == 0;
}

static void created_stat(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	struct sftp_attrs fix = { .flags = SFTP_ATTR_PERMISSIONS };

	if (r->err)
		return op_reply_err(op, r->err);
	op->a = r->attrs;
	if (mode_fixable(op->mode, &r->attrs)) {
		fix.perm = op->mode & 07777;
		op->a.perm = (op->a.perm & ~07777u) | fix.perm;
		note_created(op);
		/* Not through a symlink someone put there meanwhile. */
		sftp_setstat(op->fs->conn, op->path2, &fix,
			     (op->fs->exts & SFTP_EXT_LSETSTAT) != 0,
			     created_fixed, NULL, op);
		return;
	}
	note_created(op);
	reply_entry(op, op->parent, op->name, &op->a);
	op_free(op);
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
static int unknown_create(struct op *op, const char *what)
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
		notify_push_locked(op->fs, NULL, op->parent->ino, op->name);
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

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	if (strlen(name) > NAME_MAX_SFTP)
		return op_reply_err(op, ENAMETOOLONG);
	op->mode = mode;
	a.perm = mode & 07777;
	sftp_mkdir(op->fs->conn, op->path2, &a, create_node_done,
		   create_node_stat, op);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct op *op = op_new(req, 0, parent, name);

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	if (strlen(name) > NAME_MAX_SFTP)
		return op_reply_err(op, ENAMETOOLONG);
	sftp_symlink(op->fs->conn, link, op->path2, create_node_done,
		     create_node_stat, op);
}

static void mknod_close(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	(void)r;
	sftp_path(op->fs->conn, SSH_FXP_LSTAT, op->path2, created_stat, op);
}

static void mknod_open(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (is_failure(r) && r->replayed)
		return op_reply_err(op, unknown_create(op, "mknod"));
	if (is_failure(r)) {
		op->err = EIO;
		return probe(op, op->path2, exists_probe);
	}
	if (r->err)
		return op_reply_err(op, r->err);
	cache_invalidate(op->fs->cache, op->path2);
	ahead_forget(op->fs, op->path2, 0);
	op->file = sftp_file_new(r, NULL, 0);
	sftp_handle(op->fs->conn, SSH_FXP_CLOSE, op->file, mknod_close, op);
}

/* SFTP can create regular files only: no fifos, sockets or devices. */
static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct op *op;
	struct sftp_attrs a = { .flags = SFTP_ATTR_PERMISSIONS };

	(void)rdev;
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	op = op_new(req, 0, parent, name);
	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
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
	forget_name(op->fs, op->parent, op->name);
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
	op_reply_err(op, 0);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct op *op = op_new(req, 0, parent, name);
	struct rfs *fs = op->fs;
	struct node *n;
	char *key;

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	g_assert(op->parent);	/* op_new: a live parent, or answered */
	op->flags = SSH_FXP_REMOVE;
	key = name_key(op->parent, name);
	pthread_mutex_lock(&fs->lock);
	n = g_hash_table_lookup(fs->names, key);
	if (n && n->opens > 0) {
		op->node = n;
		n->refs++;
		op->name2 = hidden_name();
		op->path = child_path(fs, op->parent, op->name2);
	}
	pthread_mutex_unlock(&fs->lock);
	g_free(key);
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
		op->path = child_path(fs, op->newparent, newname);
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
	uint32_t nlink;
	struct node *n;

	if (r->err)
		return op_reply_err(op, r->err);
	pthread_mutex_lock(&fs->lock);
	nlink = (op->node->nlink ? op->node->nlink : 1) + 1;
	op->node->nlink = nlink;
	n = node_find_or_add(fs, op->parent, op->name);
	n->nlink = nlink;
	pthread_mutex_unlock(&fs->lock);
	reply_entry(op, op->parent, op->name, &r->attrs);
	op_free(op);
}

static void link_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (is_failure(r) && r->replayed)
		return op_reply_err(op, unknown_create(op, "link"));
	if (is_failure(r)) {
		op->err = EIO;
		return probe(op, op->path2, exists_probe);
	}
	if (r->err)
		return op_reply_err(op, r->err);
	cache_invalidate(op->fs->cache, op->path2);
	ahead_forget(op->fs, op->path2, 0);
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

/* ---- open, read, write, flush, release, fsync ---- */

static uint32_t pflags_of(int flags)
{
	uint32_t p = 0;

	switch (flags & O_ACCMODE) {
	case O_RDONLY: p = SSH_FXF_READ; break;
	case O_WRONLY: p = SSH_FXF_WRITE; break;
	default: p = SSH_FXF_READ | SSH_FXF_WRITE; break;
	}
	if (flags & O_APPEND)
		p |= SSH_FXF_APPEND;
	if (flags & O_TRUNC)
		p |= SSH_FXF_TRUNC;
	if (flags & O_CREAT)
		p |= SSH_FXF_CREAT;
	if (flags & O_EXCL)
		p |= SSH_FXF_EXCL;
	return p;
}

/* A file open on node n (fs->lock held); takes the reference to sf. */
static struct file *file_new_locked(struct rfs *fs, struct node *n,
				    struct sftp_file *sf, int flags)
{
	struct file *f = g_new0(struct file, 1);

	f->node = n;
	f->st = stream_new(fs->pool, sf, flags);
	f->writable = (flags & O_ACCMODE) != O_RDONLY;
	n->opens++;
	fs->opens++;
	n->files = g_slist_prepend(n->files, f);
	return f;
}

void file_set_path(struct file *f, const char *path)
{
	sftp_file_set_path(stream_file(f->st), path);
}

static struct file *file_new(struct rfs *fs, struct node *n, const char *path,
			     struct sftp_reply *r, int flags)
{
	struct sftp_file *sf = r ? sftp_file_new(r, path, pflags_of(flags))
				 : sftp_file_lazy(path, pflags_of(flags));
	struct file *f;

	pthread_mutex_lock(&fs->lock);
	f = file_new_locked(fs, n, sf, flags);
	pthread_mutex_unlock(&fs->lock);
	return f;
}

/* Undo file_new() for a handle the kernel never got. */
/* The last reference to an open file: close it in our books at once (an
 * unlink that follows must see it closed), on the server after everything
 * queued for it; remove the hidden name of a file unlinked while open. */
static void file_close(struct rfs *fs, struct file *f)
{
	struct node *n = f->node;

	pthread_mutex_lock(&fs->lock);
	/* Off the node's list first: others walk it under the lock. */
	n->files = g_slist_remove(n->files, f);
	stream_close(f->st);	/* fs->lock before a stream's: as push */
	if (f->writable) {	/* size and mtime changed, not the name */
		char *path = path_of(fs, n);

		cache_forget_attr(fs->cache, path);
		ahead_forget_locked(fs, path, 0);
		g_free(path);
	}
	fs->opens--;
	if (--n->opens == 0 && n->hidden)
		remove_hidden_locked(fs, n);
	node_maybe_free(fs, n);
	pthread_mutex_unlock(&fs->lock);
	g_free(f);
}

#define OPEN_PREFETCH (128 * 1024)	/* read at open of an uncached file */

/* Answer the open with f. A read-only open knows the size from its
 * revalidation (op->a): readahead stops there, and when the kernel holds
 * no page of the file its first READs go out now, not a round trip later
 * when the kernel asks (with one connection: with several, a file is
 * opened where its first request goes, see open_cold_handle). */
static void reply_open(struct op *op, struct file *f)
{
	if ((op->a.flags & SFTP_ATTR_SIZE) && !f->writable)
		stream_expect(f->st, op->a.size,
			      op->fi.keep_cache || !op->fs->one_conn ? 0 :
			      OPEN_PREFETCH);
	op->fi.fh = (uint64_t)(uintptr_t)f;
	if (!fsreq_claim(&op->r) || fuse_reply_open(op->r.req, &op->fi) == -ENOENT)
		file_close(op->fs, f);
	op_free(op);
}

/* r: the OPEN's reply, or NULL for a file opened lazily. */
static void open_done(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (r && r->err)
		return op_reply_err(op, r->err);
	reply_open(op, file_new(op->fs, op->node, op->path, r, op->fi.flags));
}

/* Can the login read it? Then an OPEN can wait for the first read. */
int probably_readable(struct rfs *fs, const struct sftp_attrs *a)
{
	if (!(a->flags & SFTP_ATTR_PERMISSIONS) || !S_ISREG(a->perm))
		return 0;
	if (a->perm & 0004)
		return 1;
	return (a->perm & 0004) || login_may(fs, a, R_OK) > 0;
}

/* A read-only open with the file's attributes, revalidated (or cached,
 * nocto): the kernel keeps its page cache if size and mtime are those it
 * was filled with (FOPEN_KEEP_CACHE), and the OPEN is sent only when a
 * read needs the server: a warm git status opens and reads its files
 * without a round trip beyond the revalidation. */
/* The revalidated attributes a: may the kernel keep its pages? */
static void open_revalidated(struct op *op, const struct sftp_attrs *a)
{
	struct node *n = op->node;
	int have = (a->flags & SFTP_ATTR_SIZE) &&
		   (a->flags & SFTP_ATTR_ACMODTIME);

	op->a = *a;
	pthread_mutex_lock(&op->fs->lock);
	op->fi.keep_cache = have && n->data_known && n->data_size == a->size &&
			    n->data_mtime == a->mtime;
	n->data_known = have;
	n->data_size = a->size;
	n->data_mtime = a->mtime;
	pthread_mutex_unlock(&op->fs->lock);
}

void open_known(struct op *op, const struct sftp_attrs *a)
{
	if (ahead_use(op, a))
		return;
	open_revalidated(op, a);
	if (probably_readable(op->fs, a))
		return open_done(NULL, op);
	sftp_open(op->fs->conn, op->path, pflags_of(op->fi.flags), NULL,
		  open_done, op);
}

static void open_stat(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	cache_put_reply(op->fs->cache, op->path, r->err, &r->attrs);
	if (r->err)
		return op_reply_err(op, r->err);
	open_known(op, &r->attrs);
}

/* A read-only open of a file the kernel holds no page of: the OPEN and
 * the LSTAT that revalidates go out together, one round trip (the
 * server answers them in order), then the first READs with the reply:
 * open, read and close of a small file in two round trips. */
static void open_cold_handle(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (r->err)
		op->err = r->err;
	else
		op->file = sftp_file_new(r, op->path, pflags_of(op->fi.flags));
}

static void open_cold_stat(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	struct file *f;

	cache_put_reply(op->fs->cache, op->path, r->err, &r->attrs);
	if (r->err && op->file)
		sftp_handle(op->fs->conn, SSH_FXP_CLOSE, op->file, NULL, NULL);
	if (r->err || op->err)
		return op_reply_err(op, r->err ? r->err : op->err);
	open_revalidated(op, &r->attrs);
	pthread_mutex_lock(&op->fs->lock);
	f = file_new_locked(op->fs, op->node, sftp_file_ref(op->file),
			    op->fi.flags);
	pthread_mutex_unlock(&op->fs->lock);
	reply_open(op, f);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct op *op = op_new(req, ino, 0, NULL);
	struct sftp_attrs a;
	uint32_t nlink;
	int writers;

	if (!op->r.req)
		return op_free(op);
	g_assert(op->node);	/* op_new: a live inode, or answered */
	op->fi = *fi;
	op->fi.keep_cache = 0;
	if (!(fi->flags & O_TRUNC))
		op_interruptible(op);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		cache_forget_attr(op->fs->cache, op->path);
		ahead_forget(op->fs, op->path, 0);
		pthread_mutex_lock(&op->fs->lock);
		op->node->data_known = 0;	/* it is going to change */
		pthread_mutex_unlock(&op->fs->lock);
		sftp_open(op->fs->conn, op->path,
			  pflags_of(fi->flags & ~(O_CREAT | O_EXCL)), NULL,
			  open_done, op);
		return;
	}
	writers = op_push_node(op, 0);
	if (!writers)
		walk_note(op);
	if (!writers && op->fs->o.nocto &&
	    cache_get_attr(op->fs->cache, op->path, &a, &nlink) == 1)
		return open_known(op, &a);
	if (!writers && cache_confirmed_attr(op->fs->cache, op->path, &a)) {
		/* in the working set all the same: the next time it is
		 * asked with the rest (a file fetched ahead, then opened
		 * again by the next run of the program) */
		cache_ws_use(op->fs->cache, op->path, CACHE_WS_ADD);
		return open_known(op, &a);
	}
	if (!writers) {		/* close-to-open: revalidate */
		int cold;

		cache_ws_use(op->fs->cache, op->path,
			     CACHE_WS_ADD | CACHE_WS_ASKING);
		revalidate_ws(op->fs);
		pthread_mutex_lock(&op->fs->lock);
		cold = !op->node->data_known && S_ISREG(op->node->mode) &&
		       !g_hash_table_contains(op->fs->ahead, op->path);
		pthread_mutex_unlock(&op->fs->lock);
		/* With several connections a file is opened by its first
		 * read, on the connection copy_file_range puts it on. */
		if (cold && op->fs->one_conn && !op->fs->o.follow_symlinks)
			sftp_open_lstat(op->fs->conn, op->path,
					pflags_of(fi->flags), NULL,
					open_cold_handle, open_cold_stat, op);
		else
			sftp_path(op->fs->conn, stat_type(op->fs), op->path,
				  open_stat, op);
		return;
	}
	sftp_open(op->fs->conn, op->path, pflags_of(fi->flags), NULL,
		  open_done, op);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	stream_read(((struct file *)(uintptr_t)fi->fh)->st, req, size,
		    (uint64_t)off);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	space_changed(fs_ctx(req));
	stream_write(((struct file *)(uintptr_t)fi->fh)->st, req, buf, size,
		     (uint64_t)off);
}

/* close(2): every write answered, with the first error if any. */
static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	stream_flush(((struct file *)(uintptr_t)fi->fh)->st, req);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	file_close(fs_ctx(req), (struct file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct rfs *fs = fs_ctx(req);

	(void)ino; (void)datasync;
	stream_fsync(((struct file *)(uintptr_t)fi->fh)->st, req,
		     (fs->exts & SFTP_EXT_FSYNC) != 0);
}

/* ---- statfs, access, create ---- */

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

static void create_fixed(struct sftp_reply *r, void *data);

static void create_probe(struct op *op, int rc, struct sftp_attrs *a);
static void create_open(struct sftp_reply *r, void *data);

/* The LSTAT sent right behind the OPEN: one round trip for both. */
static void create_stat(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	struct sftp_attrs fix = { .flags = SFTP_ATTR_PERMISSIONS };

	if (op->err == -EEXIST && !op->file) {
		/* The name was there (a stale negative entry, another
		 * client): open it as it is, no create and no mode set. */
		if (r->err) {	/* it is not: FAILURE meant something else */
			op->err = EIO;
			return create_probe(op, r->err, &r->attrs);
		}
		if (S_ISDIR(r->attrs.perm))
			return op_reply_err(op, EISDIR);
		op->err = 0;
		op->existed = 1;
		sftp_open_lstat(op->fs->conn, op->path2,
				pflags_of(op->fi.flags & ~(O_CREAT | O_EXCL)),
				NULL, create_open, create_stat, op);
		return;
	}
	if (op->err == -EIO && !op->file) {
		/* OPEN said FAILURE: this LSTAT tells why */
		op->err = EIO;
		return create_probe(op, r->err, &r->attrs);
	}
	if (op->err)
		return op_reply_err(op, op->err);
	if (r->err) {
		/* Opened but cannot stat: report what we asked for. */
		op->a.flags = SFTP_ATTR_PERMISSIONS;
		op->a.perm = S_IFREG | (op->mode & 07777);
	} else {
		op->a = r->attrs;
	}
	if (!r->err && !op->existed && mode_fixable(op->mode, &op->a)) {
		/* The server's umask cut the mode: set the exact one. */
		fix.perm = op->mode & 07777;
		op->a.perm = (op->a.perm & ~07777u) | fix.perm;
		sftp_fsetstat(op->fs->conn, op->file, &fix,
			      create_fixed, NULL, op);
		return;
	}
	create_fixed(NULL, op);
}

static void create_fixed(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	struct rfs *fs = op->fs;
	struct fuse_entry_param e;
	struct node *n;
	struct file *f;

	(void)r;
	cache_created(fs->cache, op->path2, &op->a);
	ahead_forget(fs, op->path2, 0);
	n = entry_ref(fs, op->parent, op->name, &op->a, &e);
	pthread_mutex_lock(&fs->lock);
	f = file_new_locked(fs, n, op->file, op->fi.flags);
	op->file = NULL;	/* the stream's now */
	f->a = op->a;		/* as created: setattr on it can be local */
	f->have_a = 1;
	pthread_mutex_unlock(&fs->lock);
	op->fi.fh = (uint64_t)(uintptr_t)f;
	if (!fsreq_claim(&op->r) ||
	    fuse_reply_create(op->r.req, &e, &op->fi) == -ENOENT) {
		pthread_mutex_lock(&fs->lock);
		n->nlookup--;
		pthread_mutex_unlock(&fs->lock);
		file_close(fs, f);
	}
	op_free(op);
}

static void create_probe(struct op *op, int rc, struct sftp_attrs *a)
{
	if (rc == 0 && (op->fi.flags & O_EXCL))
		return op_reply_err(op, EEXIST);
	if (rc == 0 && S_ISDIR(a->perm))
		return op_reply_err(op, EISDIR);
	op_reply_err(op, op->err);
}

static void create_open(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (r->err) {
		cache_invalidate(op->fs->cache, op->path2);
		ahead_forget(op->fs, op->path2, 0);
		if (is_failure(r) && r->replayed && (op->fi.flags & O_EXCL))
			op->err = unknown_create(op, "exclusive create");
		else if (is_failure(r) && !(op->fi.flags & O_EXCL) &&
			 !op->existed)
			op->err = -EEXIST;	/* our own EXCL: it exists */
		else
			op->err = is_failure(r) ? -EIO : r->err;
		return;		/* create_stat answers */
	}
	op->file = sftp_file_new(r, op->path2,
				 pflags_of(op->fi.flags | O_CREAT));
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct op *op = op_new(req, 0, parent, name);
	struct sftp_attrs a = { .flags = SFTP_ATTR_PERMISSIONS };

	if (!op->r.req)
		return op_free(op);
	space_changed(op->fs);
	if (strlen(name) > NAME_MAX_SFTP)
		return op_reply_err(op, ENAMETOOLONG);
	op->fi = *fi;
	op->mode = mode;
	a.perm = mode & 07777;
	/* Always exclusive: a name that exists after all (a stale negative
	 * entry, another client) is then opened as it is (create_stat),
	 * never chmod-ed as if we had made it. */
	sftp_open_lstat(op->fs->conn, op->path2,
			pflags_of(fi->flags | O_CREAT) | SSH_FXF_EXCL,
			&a, create_open, create_stat, op);
}

/* ---- copy_file_range ---- */

/* The server copies (copy-data): no byte crosses the network. An FSTAT of
 * the source goes first, in the same round trip, to know how many bytes
 * exist to copy; the COPY's status says whether it worked. */
struct copy {
	struct fsreq r;
	struct rfs *fs;
	uint64_t off_in, len;
	size_t done;		/* bytes the copy covers */
	int err;
	/* A file not opened on the server yet (lazy): the COPY waits for
	 * the FSTATs that open both. */
	int waiting;
	struct sftp_file *in, *out;	/* references, while waiting */
	uint64_t off_out;
	int refs;		/* callbacks to come that use it */
};

static void copy_unref(struct copy *c)
{
	if (!g_atomic_int_dec_and_test(&c->refs))
		return;
	sftp_file_unref(c->in);
	sftp_file_unref(c->out);
	g_free(c);
}

static void copy_done(struct sftp_reply *r, void *data);

static void copy_send(struct copy *c)
{
	sftp_copy_data(c->fs->conn, c->in, c->off_in, c->len, c->out,
		       c->off_out, copy_done, c);
}

/* One of the FSTATs that opened a lazy file: the COPY once both are in. */
static void copy_opened(struct sftp_reply *r, void *data)
{
	struct copy *c = data;

	if (r->err && !c->err)
		c->err = r->err;
	if (!g_atomic_int_dec_and_test(&c->waiting))
		return;
	if (c->err) {
		struct sftp_reply none = { 0 };

		copy_done(&none, c);
		return;
	}
	copy_send(c);
}

static void copy_size(struct sftp_reply *r, void *data)
{
	struct copy *c = data;

	if (r->err || !(r->attrs.flags & SFTP_ATTR_SIZE))
		c->err = r->err ? r->err : -EIO;
	else if (r->attrs.size <= c->off_in)
		c->done = 0;
	else
		c->done = (size_t)MIN(c->len, r->attrs.size - c->off_in);
	if (c->waiting)
		copy_opened(r, c);
	else
		copy_unref(c);
}

static void copy_done(struct sftp_reply *r, void *data)
{
	struct copy *c = data;
	int err = c->err ? c->err : r->err;

	if (fsreq_claim(&c->r)) {
		if (err)
			fuse_reply_err(c->r.req, -err);
		else
			fuse_reply_write(c->r.req, c->done);
	}
	copy_unref(c);
}

static void fs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
			       off_t off_in, struct fuse_file_info *fi_in,
			       fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len,
			       int flags)
{
	struct rfs *fs = fs_ctx(req);
	struct stream *in = ((struct file *)(uintptr_t)fi_in->fh)->st;
	struct stream *out = ((struct file *)(uintptr_t)fi_out->fh)->st;
	struct copy *c;

	(void)ino_in;
	space_changed(fs);
	{
		/* The server grows the destination: what we knew of its
		 * size (a file we created) is no longer it. */
		struct node *n;

		pthread_mutex_lock(&fs->lock);
		n = node_get(fs, ino_out);
		if (n)
			n->refs++;
		pthread_mutex_unlock(&fs->lock);
		if (n) {
			files_forget_attrs(fs, n);
			node_unref(fs, n);
		}
	}
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!(fs->exts & SFTP_EXT_COPY_DATA)) {
		/* The kernel falls back to reading and writing. */
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	c = g_new0(struct copy, 1);
	c->fs = fs;
	c->off_in = (uint64_t)off_in;
	c->len = len;
	fsreq_init(&c->r, req, 0);
	/* Our buffered writes to either file go first; readahead of the
	 * destination is stale afterwards. */
	stream_push(in);
	stream_push(out);
	stream_invalidate(out);
	c->in = sftp_file_ref(stream_file(in));
	c->out = sftp_file_ref(stream_file(out));
	/* copy-data wants both handles of one server process: a source not
	 * opened yet opens where the destination is. */
	sftp_file_colocate(fs->conn, c->in, c->out);
	c->off_out = (uint64_t)off_out;
	if (sftp_file_is_open(c->in) && sftp_file_is_open(c->out)) {
		/* Same round trip, same channel: the FSTAT answers first,
		 * unless the COPY fails before it is sent (copy_done). */
		c->refs = 2;
		sftp_handle(fs->conn, SSH_FXP_FSTAT, c->in, copy_size, c);
		copy_send(c);
		return;
	}
	c->refs = 1;
	c->waiting = 2;		/* each FSTAT opens its file if need be */
	sftp_handle(fs->conn, SSH_FXP_FSTAT, c->in, copy_size, c);
	sftp_handle(fs->conn, SSH_FXP_FSTAT, c->out, copy_opened, c);
}

/* ---- init and the ops table ---- */

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct rfs *fs = userdata;

	/* Here, in the daemon (after the fork: a GLib thread pool may
	 * start a helper thread with its first pool). */
	pthread_mutex_lock(&fs->lock);
	if (!fs->store_pool && !fs->quiesced)
		fs->store_pool = g_thread_pool_new(notify_job_run, fs, 1,
						   FALSE, NULL);
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
