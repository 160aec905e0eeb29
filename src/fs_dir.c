/* fs_dir: directory listings (fetched once for every opendir that wants
 * them, and ahead of the kernel), lookups that turn into a listing,
 * opendir, readdir, readdirplus, releasedir.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_int.h"
#include "rfs/log.h"

/* Directory listings fetched ahead (see "directory listings" below). */
#define PREFETCH_MAX 16
#define PREFETCH_PER_DIR 256
#define PREFETCH_QUEUE 4096
#define READDIR_AHEAD 2		/* READDIRs in flight per listing */

struct dir {			/* fi->fh of an open directory */
	GArray *ents;		/* struct cache_dent, "." and ".." first */
};

static void listing_start(struct rfs *fs, const char *path, struct op *op);

/* A second lookup in a directory the cache could not answer (git status,
 * make: lstat after lstat in one directory): fetch its listing in the
 * background, so the lookups after it need no round trip. (Counting only
 * names that turned out to exist made a cold git status 20% slower.) */
void dir_lookup_miss(struct op *op)
{
	struct rfs *fs = op->fs;
	char *dir;
	int go;

	pthread_mutex_lock(&fs->lock);
	go = ++op->parent->lookup_misses >= 2 && fs->o.cache.dir_ms &&
	     fs->prefetching < PREFETCH_MAX;
	pthread_mutex_unlock(&fs->lock);
	if (!go)
		return;
	dir = g_path_get_dirname(op->path2);
	pthread_mutex_lock(&fs->lock);
	go = !g_hash_table_contains(fs->listings, dir);
	pthread_mutex_unlock(&fs->lock);
	if (go && !cache_has_dir(fs->cache, dir)) {
		pthread_mutex_lock(&fs->lock);
		op->parent->lookup_misses = 0;
		fs->prefetching++;
		pthread_mutex_unlock(&fs->lock);
		listing_start(fs, dir, NULL);
	}
	g_free(dir);
}

/* ---- directories ---- */

/* "drwxr-xr-x    2 user group ..." -> 2; 0 if unparsable. */
static uint32_t longname_nlink(const char *ln)
{
	const char *p = ln ? strchr(ln, ' ') : NULL;
	char *end;
	unsigned long v;

	if (!p)
		return 0;
	v = strtoul(p, &end, 10);
	return (end != p && v < UINT32_MAX) ? (uint32_t)v : 0;
}

void dir_free(struct dir *d)
{
	for (guint i = 0; i < d->ents->len; i++)
		g_free(g_array_index(d->ents, struct cache_dent, i).name);
	g_array_free(d->ents, TRUE);
	g_free(d);
}

/* ---- directory listings ----
 *
 * A listing is fetched once (OPENDIR, READDIR until EOF, CLOSE) for every
 * opendir that wants it meanwhile, and goes into the cache. A listing the
 * kernel asked for also prefetches, in the background, the listings of
 * the subdirectories it revealed (one level: ls -lR and find find the
 * next level ready), at most PREFETCH_MAX at a time per mount.
 */

struct listing {
	struct rfs *fs;
	char *path;
	GArray *ents;		/* struct cache_dent, "." and ".." first */
	struct sftp_file *dir;	/* the OPENDIR handle */
	struct cache_fill *fill;	/* into the cache, unless changed */
	GSList *waiters;	/* struct op *: opendirs (guarded by fs->lock) */
	int prefetch;		/* nobody asked: counts in fs->prefetching */
	int inflight;		/* READDIRs sent, not answered (I/O thread) */
	int eof, err;
	int lost, restarts;	/* the link broke under it: start again */
	int delivered;		/* to the cache and the waiters */
	int onward;		/* a sorted walk goes on into it */
	GHashTable *seen;	/* the names in ents (borrowed), to leave
				 * out one a server repeats; or NULL */
};

GArray *dir_dents_new(void)
{
	GArray *a = g_array_new(FALSE, TRUE, sizeof(struct cache_dent));
	struct sftp_attrs dir = { .flags = SFTP_ATTR_PERMISSIONS,
				  .perm = S_IFDIR | 0755 };

	cache_dents_add(a, ".", &dir, 0);
	cache_dents_add(a, "..", &dir, 0);
	return a;
}

/* What a listing says, for "has it changed since the kernel got it". */
static uint64_t dents_hash(const GArray *ents)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (guint i = 0; i < ents->len; i++) {
		const struct cache_dent *d =
			&g_array_index(ents, struct cache_dent, i);
		uint64_t v[4] = { d->a.size, d->a.mtime, d->a.perm, d->nlink };

		for (const char *p = d->name; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
		for (int k = 0; k < 4; k++)
			h = (h ^ v[k]) * 1099511628211ull;
	}
	return h ? h : 1;
}

/* The kernel keeps what readdir returned (cache_readdir) and uses it
 * again while the listing we answer with is the one it has: then ls of a
 * warm tree costs an opendir each, and no readdir at all. */
static void reply_dir(struct op *op, GArray *ents)
{
	struct dir *d = g_new0(struct dir, 1);
	uint64_t h = dents_hash(ents);

	d->ents = ents;
	op->fi.fh = (uint64_t)(uintptr_t)d;
	pthread_mutex_lock(&op->fs->lock);
	g_hash_table_add(op->fs->dirs, d);
	if (op->fs->o.cache.dir_ms) {
		op->fi.cache_readdir = 1;
		op->fi.keep_cache = op->node->dir_hash == h;
		op->node->dir_hash = h;
	}
	pthread_mutex_unlock(&op->fs->lock);
	if (!fsreq_claim(&op->r) ||
	    fuse_reply_open(op->r.req, &op->fi) == -ENOENT) {
		pthread_mutex_lock(&op->fs->lock);
		g_hash_table_steal(op->fs->dirs, d);
		pthread_mutex_unlock(&op->fs->lock);
		dir_free(d);
	}
	op_free(op);
}

/* Prefetch the subdirectories of a listing someone asked for. */
static void prefetch_children(struct rfs *fs, struct listing *l)
{
	int n = 0;

	for (guint i = 2; i < l->ents->len && n < PREFETCH_PER_DIR; i++) {
		struct cache_dent *e = &g_array_index(l->ents,
						      struct cache_dent, i);
		char *p;
		GArray *have;

		if (!(e->a.flags & SFTP_ATTR_PERMISSIONS) ||
		    !S_ISDIR(e->a.perm))
			continue;
		p = g_strconcat(l->path, strcmp(l->path, "/") ? "/" : "",
				e->name, NULL);
		have = cache_get_dir(fs->cache, p);
		pthread_mutex_lock(&fs->lock);
		if (have || g_hash_table_contains(fs->listings, p)) {
			pthread_mutex_unlock(&fs->lock);
		} else if (fs->prefetching < PREFETCH_MAX) {
			fs->prefetching++;
			n++;
			pthread_mutex_unlock(&fs->lock);
			listing_start(fs, p, NULL);
		} else {
			/* All slots busy: in line for the next free one. */
			if (fs->prefetch_q.length < PREFETCH_QUEUE) {
				g_queue_push_tail(&fs->prefetch_q, p);
				p = NULL;
				n++;
			}
			pthread_mutex_unlock(&fs->lock);
		}
		cache_dents_free(have);
		g_free(p);
	}
}

/* The listing is whole (or failed): into the cache, to the opendirs
 * waiting for it; the next listing to fetch ahead starts. */
static void listing_deliver(struct listing *l, int err)
{
	struct rfs *fs = l->fs;
	GSList *waiters;
	char *next;

	l->delivered = 1;
	pthread_mutex_lock(&fs->lock);
	if (g_hash_table_lookup(fs->listings, l->path) == l)
		g_hash_table_remove(fs->listings, l->path);
	/* Off the table first: listing_start reads l->fill under the lock. */
	cache_fill_end(fs->cache, l->fill, err ? NULL : l->ents);
	waiters = l->waiters;
	l->waiters = NULL;
	if (l->prefetch)
		fs->prefetching--;
	next = NULL;
	while (fs->prefetching < PREFETCH_MAX &&
	       (next = g_queue_pop_head(&fs->prefetch_q)) &&
	       g_hash_table_contains(fs->listings, next))
		g_clear_pointer(&next, g_free);
	if (next)
		fs->prefetching++;
	pthread_mutex_unlock(&fs->lock);
	if (next) {
		GArray *have = cache_get_dir(fs->cache, next);

		if (have) {	/* fetched meanwhile: give the slot back */
			cache_dents_free(have);
			pthread_mutex_lock(&fs->lock);
			fs->prefetching--;
			pthread_mutex_unlock(&fs->lock);
		} else {
			listing_start(fs, next, NULL);
		}
		g_free(next);
	}
	for (GSList *w = waiters; w; w = w->next) {
		struct op *op = w->data;

		if (err)
			op_reply_err(op, err);
		else
			reply_dir(op, cache_dents_copy(l->ents));
	}
	if (!err && waiters && fs->o.cache.dir_ms)
		prefetch_children(fs, l);
	g_slist_free(waiters);
	if (!err && l->onward)
		walk_onward_listed(fs, l->path, l->ents);
}

static void listing_end(struct listing *l, int err)
{
	if (!l->delivered)
		listing_deliver(l, err);
	if (l->seen)
		g_hash_table_destroy(l->seen);
	cache_dents_free(l->ents);
	g_free(l->path);
	g_free(l);
}

static void listing_opened(struct sftp_reply *r, void *data);

/* Every READDIR answered: close the handle, and end the listing, or
 * start it again when the connection broke under it (a directory handle
 * is not reopened: its position is lost). */
static void listing_finish(struct listing *l)
{
	sftp_handle(l->fs->conn, SSH_FXP_CLOSE, l->dir, NULL, NULL);
	sftp_file_unref(l->dir);
	l->dir = NULL;
	if (l->lost && !l->err && !l->delivered) {
		l->lost = l->eof = 0;
		l->restarts++;
		if (l->seen)
			g_hash_table_remove_all(l->seen);
		cache_dents_free(l->ents);
		l->ents = dir_dents_new();
		sftp_path(l->fs->conn, SSH_FXP_OPENDIR, l->path,
			  listing_opened, l);
		return;
	}
	listing_end(l, l->err);
}

/* READDIR_AHEAD requests stay in flight: a small directory ends in one
 * round trip after OPENDIR (its EOF comes with the names). */
static void listing_next(struct sftp_reply *r, void *data)
{
	struct listing *l = data;

	l->inflight--;
	if ((r->type == SSH_FXP_STATUS && r->status == SSH_FX_EOF) ||
	    (r->type == SSH_FXP_NAME && r->count == 0) || r->err) {
		if (r->lost && l->restarts < 3)
			l->lost = 1;
		else if (r->err && !(r->type == SSH_FXP_STATUS &&
				     r->status == SSH_FX_EOF) && !l->err)
			l->err = r->err;
		l->eof = 1;
		if (!l->inflight)	/* the last answer ends it */
			listing_finish(l);
		else if ((!r->err || (r->type == SSH_FXP_STATUS &&
					      r->status == SSH_FX_EOF)) &&
			 !l->err && !l->lost && !l->delivered)
			/* The server answers in order: everything before
			 * this EOF is here, what follows can only be EOF. */
			listing_deliver(l, 0);
		return;
	}
	if (l->ents->len + r->count > (guint)l->fs->o.max_listing + 2) {
		/* A server that never ends a listing must not fill memory. */
		if (!l->err)
			log_err("listing of %s: more than %d entries, stopped "
				"(max_listing): EIO", l->path,
				l->fs->o.max_listing);
		l->err = -EIO;
		l->eof = 1;
		if (!l->inflight)
			listing_finish(l);
		return;
	}
	for (uint32_t i = 0; i < r->count; i++) {
		struct sftp_name *n = &r->names[i];
		/* Names no directory holds are left out: ".", "..", empty,
		 * with a "/", longer than NAME_MAX, twice the same. */
		if (!strcmp(n->name, ".") || !strcmp(n->name, "..") ||
		    node_is_hidden(l->fs, n->name) ||
		    strchr(n->name, '/') || !*n->name ||
		    strlen(n->name) > NAME_MAX_SFTP)
			continue;
		if (!l->seen)
			l->seen = g_hash_table_new(g_str_hash, g_str_equal);
		if (g_hash_table_contains(l->seen, n->name))
			continue;
		cache_dents_add(l->ents, n->name, &n->attrs,
				longname_nlink(n->longname));
		g_hash_table_add(l->seen, g_array_index(l->ents,
			struct cache_dent, l->ents->len - 1).name);
	}
	if (l->eof) {		/* a later answer said EOF already */
		if (!l->inflight)
			listing_finish(l);
		return;
	}
	l->inflight++;
	sftp_handle(l->fs->conn, SSH_FXP_READDIR, l->dir, listing_next, l);
}

static void listing_opened(struct sftp_reply *r, void *data)
{
	struct listing *l = data;

	if (r->err)
		return listing_end(l, r->err);
	l->dir = sftp_file_new(r, NULL, 0);
	for (int i = 0; i < READDIR_AHEAD; i++) {
		l->inflight++;
		sftp_handle(l->fs->conn, SSH_FXP_READDIR, l->dir, listing_next,
			    l);
	}
}

/* Fetch path's listing for op (NULL: a prefetch, already counted). */
static void listing_start(struct rfs *fs, const char *path, struct op *op)
{
	struct listing *l;

	pthread_mutex_lock(&fs->lock);
	l = g_hash_table_lookup(fs->listings, path);
	/* Already on its way: wait for it, unless one of our own changes
	 * came after it began (it would not show it). */
	if (l && !cache_fill_dirty(fs->cache, l->fill)) {
		if (op)
			l->waiters = g_slist_prepend(l->waiters, op);
		else
			fs->prefetching--;
		pthread_mutex_unlock(&fs->lock);
		return;
	}
	l = g_new0(struct listing, 1);
	l->fs = fs;
	l->path = g_strdup(path);
	l->ents = dir_dents_new();
	l->prefetch = op == NULL;
	if (op)
		l->waiters = g_slist_prepend(NULL, op);
	l->fill = cache_fill_begin(fs->cache, path);
	g_hash_table_replace(fs->listings, l->path, l);	/* the newest */
	pthread_mutex_unlock(&fs->lock);
	sftp_path(fs->conn, SSH_FXP_OPENDIR, path, listing_opened, l);
}

/* Fetch path's listing (unless on its way) for a sorted walk to go on
 * into (walk_onward_listed once delivered). 0 if not on its way. */
int dir_listing_onward(struct rfs *fs, const char *path)
{
	struct listing *l;

	pthread_mutex_lock(&fs->lock);
	l = g_hash_table_lookup(fs->listings, path);
	if (!l && fs->prefetching < PREFETCH_MAX) {
		fs->prefetching++;
		pthread_mutex_unlock(&fs->lock);
		listing_start(fs, path, NULL);
		pthread_mutex_lock(&fs->lock);
		l = g_hash_table_lookup(fs->listings, path);
	}
	if (l)
		l->onward = 1;
	pthread_mutex_unlock(&fs->lock);
	return l != NULL;
}

void fs_opendir(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi)
{
	struct op *op = op_new(req, ino, 0, NULL);
	GArray *ents;

	if (!op->r.req)
		return op_free(op);
	op->fi = *fi;
	op_interruptible(op);
	ents = cache_get_dir(op->fs->cache, op->path);
	if (ents)
		return reply_dir(op, ents);
	listing_start(op->fs, op->path, op);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi, int plus)
{
	struct rfs *fs = fs_ctx(req);
	struct dir *d = (struct dir *)(uintptr_t)fi->fh;
	char *buf = g_malloc(size);
	size_t pos = 0;
	struct node *dn;

	pthread_mutex_lock(&fs->lock);
	dn = node_get(fs, ino);
	for (size_t i = (size_t)off; dn && i < d->ents->len; i++) {
		struct cache_dent *e = &g_array_index(d->ents, struct cache_dent, i);
		struct fuse_entry_param ep = { 0 };
		struct node *n = NULL, *had = NULL;
		size_t len;

		int shown = to_stat(fs, &e->a, e->nlink, &ep.attr) == 0;

		if (fs->o.follow_symlinks && S_ISLNK(e->a.perm)) {
			shown = 0;	/* its target's type: lookup says */
			ep.attr.st_mode = 0;
		}
		if (i >= 2)
			had = node_named_locked(fs, dn, e->name);
		/* Another name of a node (a hard link made through the
		 * mount): the listing's attributes of it may be older than a
		 * change made through the node's own name, which forgot only
		 * that name's cached state. Its number only: the kernel asks
		 * a lookup for the rest (node_attr_path). */
		if (had && node_is_alias_locked(had, dn, e->name))
			shown = 0;

		if (i < 2) {
			ep.attr.st_ino = i == 0 ? dn->ino :
				(dn->parent ? dn->parent->ino : dn->ino);
		} else if (plus && shown) {
			n = node_find_or_add(fs, dn, e->name);
			n->nlookup++;
			if (e->nlink)
				n->nlink = e->nlink;
			n->mode = e->a.perm;
			ep.attr.st_nlink = n->nlink ? n->nlink : 1;
			node_show_locked(n, &ep.attr);	/* ctime */
			ep.ino = n->ino;
			ep.attr_timeout = ep.entry_timeout = fs->o.attr_timeout;
		} else if (had) {	/* its inode's number (ls -i) */
			ep.attr.st_ino = had->ino;
		} else {
			char *p = node_child_path(fs, dn, e->name);

			ep.attr.st_ino = node_ino(fs, p);
			g_free(p);
		}
		if (plus)
			len = fuse_add_direntry_plus(req, buf + pos, size - pos,
						     e->name, &ep, (off_t)i + 1);
		else
			len = fuse_add_direntry(req, buf + pos, size - pos,
						e->name, &ep.attr, (off_t)i + 1);
		if (len > size - pos) {
			if (n) {
				n->nlookup--;
				node_maybe_free(fs, n);
			}
			break;
		}
		pos += len;
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_buf(req, buf, pos);
	g_free(buf);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
		    off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi)
{
	struct rfs *fs = fs_ctx(req);
	struct dir *d = (struct dir *)(uintptr_t)fi->fh;

	(void)ino;
	pthread_mutex_lock(&fs->lock);
	g_hash_table_steal(fs->dirs, d);
	pthread_mutex_unlock(&fs->lock);
	dir_free(d);
	fuse_reply_err(req, 0);
}
