/* fs_file: open files: open, create, read, write, flush, release,
 * fsync, copy_file_range, and the attributes of files this mount created
 * and is writing, answered locally.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs_int.h"

/* ---- attributes of files this mount created, answered locally ---- */

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
 * file_setattr_local() is. 1 if answered. */
int file_getattr_local(struct op *op)
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

/* fchmod, fchown, futimens on a file this mount created and has open for
 * writing (tar does all three after each file; the kernel sends them
 * without the file handle, so the node's open file is used): when the
 * server surely does it (setattr_sure), sent behind its writes without
 * waiting and answered from what we know. 1 if answered. */
int file_setattr_local(struct op *op, struct file *only)
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
void file_forget_attrs(struct rfs *fs, struct node *n)
{
	pthread_mutex_lock(&fs->lock);
	for (GSList *l = n->files; l; l = l->next)
		((struct file *)l->data)->have_a = 0;
	pthread_mutex_unlock(&fs->lock);
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
		char *path = node_path(fs, n);

		cache_forget_attr(fs->cache, path);
		ahead_forget_locked(fs, path, 0);
		g_free(path);
	}
	fs->opens--;
	if (--n->opens == 0 && n->hidden)
		node_remove_hidden_locked(fs, n);
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
int file_probably_readable(struct rfs *fs, const struct sftp_attrs *a)
{
	if (!(a->flags & SFTP_ATTR_PERMISSIONS) || !S_ISREG(a->perm))
		return 0;
	if (a->perm & 0004)
		return 1;
	return (a->perm & 0004) || login_may(fs, a, R_OK) > 0;
}

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

/* A read-only open with the file's attributes, revalidated (or cached,
 * nocto): the kernel keeps its page cache if size and mtime are those it
 * was filled with (FOPEN_KEEP_CACHE), and the OPEN is sent only when a
 * read needs the server: a warm git status opens and reads its files
 * without a round trip beyond the revalidation. */
void file_open_known(struct op *op, const struct sftp_attrs *a)
{
	if (ahead_use(op, a))
		return;
	open_revalidated(op, a);
	if (file_probably_readable(op->fs, a))
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
	file_open_known(op, &r->attrs);
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

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
		return file_open_known(op, &a);
	if (!writers && cache_confirmed_attr(op->fs->cache, op->path, &a)) {
		/* in the working set all the same: the next time it is
		 * asked with the rest (a file fetched ahead, then opened
		 * again by the next run of the program) */
		cache_ws_use(op->fs->cache, op->path, CACHE_WS_ADD);
		return file_open_known(op, &a);
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
					open_cold_handle, open_cold_stat, op,
					NULL);
		else
			sftp_path(op->fs->conn, stat_type(op->fs), op->path,
				  open_stat, op);
		return;
	}
	sftp_open(op->fs->conn, op->path, pflags_of(fi->flags), NULL,
		  open_done, op);
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	(void)ino;
	stream_read(((struct file *)(uintptr_t)fi->fh)->st, req, size,
		    (uint64_t)off);
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
	      size_t size, off_t off, struct fuse_file_info *fi)
{
	struct file *f = (struct file *)(uintptr_t)fi->fh;

	(void)ino;
	space_changed(fs_ctx(req));
	node_changed(f->node);
	stream_write(f->st, req, buf, size, (uint64_t)off);
}

/* close(2): every write answered, with the first error if any. */
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	stream_flush(((struct file *)(uintptr_t)fi->fh)->st, req);
}

void fs_release(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi)
{
	(void)ino;
	file_close(fs_ctx(req), (struct file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct rfs *fs = fs_ctx(req);

	(void)ino; (void)datasync;
	stream_fsync(((struct file *)(uintptr_t)fi->fh)->st, req,
		     (fs->exts & SFTP_EXT_FSYNC) != 0);
}

/* ---- create ---- */

static void create_fixed(struct sftp_reply *r, void *data);
static void create_owned_last(struct sftp_reply *r, void *data);

static void create_probe(struct op *op, int rc, struct sftp_attrs *a);
static void create_open(struct sftp_reply *r, void *data);

/* The LSTAT sent right behind the OPEN: one round trip for both. */
static void create_stat(struct sftp_reply *r, void *data)
{
	struct op *op = data;
	struct sftp_attrs fix, own;
	int todo;

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
				NULL, create_open, create_stat, op, NULL);
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
	todo = !r->err && !op->existed ? op_after_create(op, &fix, &own) : 0;
	/* on the handle, both in one round trip */
	if (todo & CREATE_FIX_OWNER)
		sftp_fsetstat(op->fs->conn, op->file, &own,
			      todo & CREATE_FIX_MODE ? op_owned
						     : create_owned_last,
			      NULL, op);
	if (todo & CREATE_FIX_MODE)
		sftp_fsetstat(op->fs->conn, op->file, &fix,
			      create_fixed, NULL, op);
	if (!todo)
		create_fixed(NULL, op);
}

static void create_owned_last(struct sftp_reply *r, void *data)
{
	op_owned(r, data);
	create_fixed(r, data);
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
	if (op->existed)	/* opened as it was: no entry made */
		node_entries_changed(fs, op->parent);
	else
		node_created_in(op);
	n = node_entry_ref(fs, op->parent, op->name, &op->a, &e);
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

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi)
{
	struct op *op = op_new(req, 0, parent, name);
	struct sftp_attrs a = { .flags = SFTP_ATTR_PERMISSIONS };
	struct sftp_also also;

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
			&a, create_open, create_stat, op,
			dir_seen_start(op, &also));
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

void fs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
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
			file_forget_attrs(fs, n);
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
