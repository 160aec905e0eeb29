/* fs_op: one operation in flight (struct op), its replies, the
 * attributes as the mount shows them, the stale-while-disconnected
 * answers and the probe that tells SSH_FX_FAILURE's real errno.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_int.h"
#include "rfs/log.h"

/* ---- ops: allocation, attributes, replies ---- */

void op_interruptible(struct op *op)
{
	fuse_req_interrupt_func(op->r.req, fsreq_interrupted, &op->r);
}

/* A path of PATH_MAX bytes or more: as a server path the server cannot
 * take it (sftp-server answers BAD_MESSAGE; the mount's base and the path
 * below it can pass what the kernel lets through locally), nor the
 * kernel as a symlink target. */
int path_too_long(const char *path)
{
	return path && strlen(path) >= PATH_MAX;
}

/* Who is to own what op just made (made: its attributes): on a root
 * login shared with allow_other, a non-root caller, as a local file
 * system would make it theirs: own gets the caller's uid (the server's
 * id, idmap) and gid (the one made got when its directory is setgid).
 * 1 if a chown is due. */
static int op_creator_ids(struct op *op, const struct sftp_attrs *made,
			  struct sftp_attrs *own)
{
	const struct idmap *m = &op->fs->o.idmap;
	const struct fuse_ctx *ctx = op->r.req ? fuse_req_ctx(op->r.req)
					       : NULL;
	int setgid_dir;

	if (!op->fs->o.owner_callers || !m->have_login ||
	    m->login[IDMAP_UID] != 0 || !ctx || ctx->uid == 0 ||
	    !(made->flags & SFTP_ATTR_UIDGID) || !op->parent)
		return 0;
	pthread_mutex_lock(&op->fs->lock);
	setgid_dir = (op->parent->mode & S_ISGID) != 0;
	pthread_mutex_unlock(&op->fs->lock);
	memset(own, 0, sizeof(*own));
	own->flags = SFTP_ATTR_UIDGID;
	own->uid = idmap_remote(m, IDMAP_UID, ctx->uid);
	own->gid = setgid_dir ? made->gid
			      : idmap_remote(m, IDMAP_GID, ctx->gid);
	return own->uid != made->uid || own->gid != made->gid;
}

int op_after_create(struct op *op, struct sftp_attrs *fix,
		    struct sftp_attrs *own)
{
	int todo = 0;

	memset(fix, 0, sizeof(*fix));
	fix->flags = SFTP_ATTR_PERMISSIONS;
	if (mode_fixable(op->mode, &op->a)) {
		/* the server's umask cut the mode: the exact one */
		fix->perm = op->mode & 07777;
		op->a.perm = (op->a.perm & ~07777u) | fix->perm;
		todo |= CREATE_FIX_MODE;
	}
	if (op_creator_ids(op, &op->a, own)) {
		op->own_uid = own->uid;
		op->own_gid = own->gid;
		todo |= CREATE_FIX_OWNER;
		if ((op->a.perm & 06000) && !S_ISLNK(op->a.perm)) {
			/* chown clears setuid and setgid: the mode again */
			fix->perm = op->a.perm & 07777;
			todo |= CREATE_FIX_MODE;
		}
	}
	return todo;
}

void op_owned(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	if (r->err)
		log_warn("%s: cannot make it its creator's: %s", op->path2,
			 g_strerror(-r->err));
	else
		op->a.uid = op->own_uid, op->a.gid = op->own_gid;
}

struct op *op_new(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		  const char *name)
{
	struct rfs *fs = fs_ctx(req);
	struct op *op = g_new0(struct op, 1);

	op->fs = fs;
	pthread_mutex_lock(&fs->lock);
	if (ino) {
		op->node = node_get(fs, ino);
		if (op->node) {
			op->node->refs++;
			op->path = node_path(fs, op->node);
		}
	}
	if (parent) {
		op->parent = node_get(fs, parent);
		if (op->parent) {
			op->parent->refs++;
			op->path2 = node_child_path(fs, op->parent, name);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	op->name = g_strdup(name);
	if ((ino && !op->node) || (parent && !op->parent))
		fuse_reply_err(req, ESTALE);	/* op->r.req stays NULL */
	else if (path_too_long(op->path) || path_too_long(op->path2))
		fuse_reply_err(req, ENAMETOOLONG);	/* the same */
	else
		fsreq_init(&op->r, req, 0);
	return op;
}

void op_free(struct op *op)
{
	dir_seen_unref(op->seen);
	node_unref(op->fs, op->node);
	node_unref(op->fs, op->parent);
	node_unref(op->fs, op->newparent);
	sftp_file_unref(op->file);
	g_free(op->path);
	g_free(op->path2);
	g_free(op->name);
	g_free(op->name2);
	g_free(op);
}

void op_reply_err(struct op *op, int err)
{
	/* an op on a node's own path (not link(), whose ENOENT may be the
	 * new name's) */
	if ((err == ENOENT || err == -ENOENT) && op->node && op->path &&
	    !op->path2)
		node_path_gone(op->fs, op->node, op->path);
	if (fsreq_claim(&op->r))
		fuse_reply_err(op->r.req, err < 0 ? -err : err);
	op_free(op);
}

/* Would a's owner show? Not an id that idmap=file, nomap=error leaves
 * unmapped (unless uid= forces one): EPERM for it, as sshfs does. */
static int ids_shown(struct rfs *fs, const struct sftp_attrs *a)
{
	uint32_t id;

	return !(a->flags & SFTP_ATTR_UIDGID) || fs->o.uid >= 0 ||
	       (idmap_local(&fs->o.idmap, IDMAP_UID, a->uid, &id) == 0 &&
		idmap_local(&fs->o.idmap, IDMAP_GID, a->gid, &id) == 0);
}

/* a as a stat; -1 if its owner does not show (ids_shown). */
int to_stat(struct rfs *fs, const struct sftp_attrs *a,
	    uint32_t nlink, struct stat *st)
{
	uint32_t uid, gid;

	memset(st, 0, sizeof(*st));
	st->st_mode = (a->flags & SFTP_ATTR_PERMISSIONS) ? a->perm
							  : S_IFREG | 0644;
	if (fs->o.umask >= 0)
		st->st_mode &= ~(mode_t)fs->o.umask;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_blksize = 64 * 1024;
	if (a->flags & SFTP_ATTR_UIDGID) {
		idmap_local(&fs->o.idmap, IDMAP_UID, a->uid, &uid);
		idmap_local(&fs->o.idmap, IDMAP_GID, a->gid, &gid);
		st->st_uid = uid;
		st->st_gid = gid;
	}
	if (fs->o.uid >= 0)
		st->st_uid = (uid_t)fs->o.uid;
	if (fs->o.gid >= 0)
		st->st_gid = (gid_t)fs->o.gid;
	st->st_atime = a->atime;
	st->st_mtime = a->mtime;
	st->st_ctime = a->mtime;	/* SFTP v3 has no ctime */
	st->st_nlink = nlink ? nlink : 1;
	return ids_shown(fs, a) ? 0 : -1;
}

/* An owner that does not show (ids_shown): answered EPERM. 1 if so. */
static int reply_unshown(struct op *op, const struct sftp_attrs *a)
{
	if (ids_shown(op->fs, a))
		return 0;
	if (fsreq_claim(&op->r))
		fuse_reply_err(op->r.req, EPERM);
	return 1;
}

/* Would the server let the SSH login do mask (R_OK, W_OK, X_OK) to a
 * file with attributes a? 1 yes, 0 surely not, -1 cannot tell (the login
 * or the owner unknown, or only a group the login may be in grants it).
 * ACLs on the server are not seen: they may allow more. */
int login_may(struct rfs *fs, const struct sftp_attrs *a, int mask)
{
	const struct idmap *m = &fs->o.idmap;
	unsigned need = ((mask & R_OK) ? 4u : 0) | ((mask & W_OK) ? 2u : 0) |
			((mask & X_OK) ? 1u : 0);
	unsigned perm = a->perm;

	if (!(a->flags & SFTP_ATTR_PERMISSIONS) ||
	    !(a->flags & SFTP_ATTR_UIDGID) || !m->have_login)
		return -1;
	if (m->login[IDMAP_UID] == 0)	/* root: x needs some x bit */
		return !(mask & X_OK) || S_ISDIR(perm) || (perm & 0111);
	if (a->uid == m->login[IDMAP_UID])
		return ((perm >> 6) & need) == need;
	if (a->gid == m->login[IDMAP_GID])
		return ((perm >> 3) & need) == need;
	if ((perm & need) == need)
		return 1;
	return ((perm >> 3) & need) == need ? -1 : 0;
}

/* Reply an entry for parent/name with attrs a: adds a kernel reference. */
void reply_entry(struct op *op, struct node *parent, const char *name,
		 const struct sftp_attrs *a)
{
	struct rfs *fs = op->fs;
	struct fuse_entry_param e;
	struct node *n;

	if (reply_unshown(op, a))
		return;
	n = node_entry_ref(fs, parent, name, a, &e);
	if (!fsreq_claim(&op->r) || fuse_reply_entry(op->r.req, &e) == -ENOENT) {
		/* The caller was interrupted: the kernel took no reference. */
		pthread_mutex_lock(&fs->lock);
		n->nlookup--;
		node_maybe_free(fs, n);
		pthread_mutex_unlock(&fs->lock);
	}
}

void reply_attr(struct op *op, struct node *n,
		const struct sftp_attrs *a)
{
	struct stat st;

	if (reply_unshown(op, a))
		return;
	node_stat(op->fs, n, a, &st);
	if (fsreq_claim(&op->r))
		fuse_reply_attr(op->r.req, &st, op->fs->o.attr_timeout);
}

/* ---- stale-while-disconnected ----
 *
 * A stat whose cache entry has expired asks the server; should the link
 * turn out dead meanwhile (a probe unanswered), it is answered from the
 * expired entry at once instead of waiting for the reconnect. While the
 * link is down or suspect the cache serves expired entries anyway. */

static void stale_answer(struct op *op, int kind)
{
	if (kind == 1)
		reply_attr(op, op->node, &op->stale);
	else
		reply_entry(op, op->parent, op->name, &op->stale);
}

/* Before sending op's stat: 1 if answered already (op freed), else 0;
 * with an expired entry, op waits on the list for a failing link. */
int stale_wait(struct op *op, const char *path, int kind)
{
	uint32_t nlink;

	if (!cache_peek_attr(op->fs->cache, path, &op->stale, &nlink))
		return 0;
	op->stale_kind = kind;
	if (g_atomic_int_get(&op->fs->offline)) {
		stale_answer(op, kind);	/* already known to be down */
		op_free(op);
		return 1;
	}
	pthread_mutex_lock(&op->fs->stale_lock);
	op->fs->stale_waiters = g_slist_prepend(op->fs->stale_waiters, op);
	pthread_mutex_unlock(&op->fs->stale_lock);
	return 0;
}

/* op's reply arrived (I/O thread): it answers itself. */
void stale_done(struct op *op)
{
	/* After this an answer from the stale entry is done with op. */
	pthread_mutex_lock(&op->fs->stale_lock);
	if (op->stale_kind)
		op->fs->stale_waiters = g_slist_remove(op->fs->stale_waiters,
						       op);
	pthread_mutex_unlock(&op->fs->stale_lock);
}

/* The link turned unusable (I/O thread, like the replies): answer every
 * waiting stat from its expired entry; its reply, if it ever comes, finds
 * the request answered. */
void stale_release(struct rfs *fs)
{
	GSList *list;

	/* Held throughout: an op whose reply comes meanwhile (on another
	 * thread, if its request failed at once) is not freed under us. */
	pthread_mutex_lock(&fs->stale_lock);
	list = fs->stale_waiters;
	fs->stale_waiters = NULL;
	for (GSList *l = list; l; l = l->next) {
		struct op *op = l->data;
		int kind = op->stale_kind;

		op->stale_kind = 0;	/* off the list */
		stale_answer(op, kind);
	}
	pthread_mutex_unlock(&fs->stale_lock);
	g_slist_free(list);
}

/* The stat that shows a name: LSTAT, or with -o follow_symlinks STAT (a
 * symlink shows as what it points to, as with sshfs). */
uint8_t stat_type(struct rfs *fs)
{
	return fs->o.follow_symlinks ? SSH_FXP_STAT : SSH_FXP_LSTAT;
}

/* ---- probing SSH_FX_FAILURE for the real errno ---- */

/* OpenSSH's server answers SSH_FX_FAILURE for EEXIST, ENOTEMPTY, EISDIR,
 * ENOTDIR, ENOSPC...: stat the path and let the op decide. */
static void probe_cb(struct sftp_reply *r, void *data)
{
	struct op *op = data;

	op->probe_done(op, r->err, &r->attrs);
}

void probe(struct op *op, const char *path,
	   void (*done)(struct op *, int, struct sftp_attrs *))
{
	op->probe_done = done;
	sftp_path(op->fs->conn, SSH_FXP_LSTAT, path, probe_cb, op);
}

int is_failure(struct sftp_reply *r)
{
	return r->type == SSH_FXP_STATUS && r->status == SSH_FX_FAILURE;
}

/* Use the open file's handle (a copy) and send its coalesced writes
 * first, so a stat or truncate comes after them. */
void op_use_file(struct op *op, struct fuse_file_info *fi)
{
	if (fi && fi->fh) {
		struct stream *st = ((struct file *)(uintptr_t)fi->fh)->st;

		stream_push(st);
		op->file = sftp_file_ref(stream_file(st));
	}
}

/* Before a request about the node's attributes: its open files' writes
 * go first (invalidate: and their readahead is stale after it). Returns
 * whether files are open for writing on it. */
int op_push_node(struct op *op, int invalidate)
{
	int open;

	pthread_mutex_lock(&op->fs->lock);
	node_push_files_locked(op->node, invalidate);
	open = 0;
	for (GSList *l = op->node->files; l && !open; l = l->next)
		open = ((struct file *)l->data)->writable;
	pthread_mutex_unlock(&op->fs->lock);
	return open;
}
