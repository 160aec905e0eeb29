/* fs_ahead: small files fetched ahead of a program that reads a
 * directory's files one after another, and the thread that hands them to
 * the kernel's page cache.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_int.h"
#include "rfs/log.h"
#include "rfs/nextfiles.h"

/* ---- small files fetched ahead ----
 *
 * A program reading a directory's small files one after another (cat *,
 * grep -r, git's re-hash, a compiler) pays a round trip or two per file,
 * one file at a time. When two opens in a directory follow each other in
 * the listing's order or in sorted order (nextfiles.h), the next
 * AHEAD_FILES files in that order are fetched at once: OPEN and LSTAT
 * together, then READ and CLOSE, for all of them in parallel. A walk in
 * sorted order that reaches the end of its directory goes on into the
 * next one beside it (git's index is sorted by path).
 *
 * The content waits here (bounded by AHEAD_MEM) for the program's open,
 * which still revalidates as any open does (close-to-open, or
 * revalidate_window) and uses it only when size and mtime still match:
 * then it goes into the kernel's page cache (fuse_lowlevel_notify_store)
 * and the open keeps it, so the program's reads need no request. Opens of
 * a file on its way, or being stored, wait for it; none is stored while
 * the file is open. A change this mount makes to a path forgets what was
 * fetched of it (and below it).
 *
 * The store runs on a thread of its own (made in fs_init, after the
 * daemon forked): a store waits for the page locks of the file, and a
 * READ of it (an open that began before the file was fetched) holds them
 * until the I/O thread answers it. */
#define AHEAD_FILES 32		/* names planned ahead of a walk */
#define AHEAD_FILE_MAX (64u << 10)	/* only files this small */
#define AHEAD_MAX 64		/* files on the way, the whole mount */
#define AHEAD_MEM (8u << 20)	/* bytes kept for opens to come */
#define AHEAD_COST 256		/* bytes an entry costs beside its data */
#define AHEAD_WALKS 256		/* directories followed at once */
#define AHEAD_LISTING_MAX 8192	/* no walks in directories this big: each
				 * guess sorts the listing */

struct walk {			/* a program reading a directory's files */
	char *last;		/* the name it opened last */
	enum next_order order;	/* NEXT_NONE: not a walk (yet) */
	GQueue planned;		/* char *: names after last, in order,
				 * fetched ahead or passed over */
	int onward;		/* gone on into the next directory */
};

struct ahead {			/* a file fetched ahead (fs->lock) */
	struct rfs *fs;
	char *path;		/* its key in fs->ahead while listed */
	int listed;		/* in fs->ahead */
	int ready;		/* fetched: a and data (in fs->ahead_ready
				 * while listed and not storing) */
	int storing;		/* open_store has it */
	struct sftp_file *file;
	struct sftp_attrs a;
	void *data;
	GSList *waiters;	/* struct op *: opens waiting for it */
};

void walk_free(gpointer p)
{
	struct walk *w = p;

	g_free(w->last);
	g_queue_clear_full(&w->planned, g_free);
	g_free(w);
}

static void ahead_free(struct ahead *ah)
{
	sftp_file_unref(ah->file);
	g_free(ah->data);
	g_free(ah->path);
	g_free(ah);
}

/* ready and waiting for an open: out of the bound's queue (fs->lock). */
static void ahead_unready_locked(struct rfs *fs, struct ahead *ah)
{
	g_queue_remove(&fs->ahead_ready, ah);
	fs->ahead_mem -= ah->a.size + AHEAD_COST;
}

/* Take ah out of the table (fs->lock held); free it if nobody else
 * will: ahead_end does while it is fetched, open_store while stored. */
static void ahead_unlist_locked(struct rfs *fs, struct ahead *ah)
{
	if (!ah->listed)
		return;
	g_hash_table_remove(fs->ahead, ah->path);
	ah->listed = 0;
	if (!ah->ready || ah->storing)
		return;
	ahead_unready_locked(fs, ah);
	ahead_free(ah);
}

void ahead_forget_locked(struct rfs *fs, const char *path,
			 int tree)
{
	if (!tree) {
		struct ahead *ah = g_hash_table_lookup(fs->ahead, path);

		if (ah)
			ahead_unlist_locked(fs, ah);
	} else if (g_hash_table_size(fs->ahead)) {
		size_t n = strlen(path);
		GList *all = g_hash_table_get_values(fs->ahead);

		for (GList *l = all; l; l = l->next) {
			struct ahead *ah = l->data;

			if (!strncmp(ah->path, path, n) &&
			    (!ah->path[n] || ah->path[n] == '/'))
				ahead_unlist_locked(fs, ah);
		}
		g_list_free(all);
	}
}

/* We changed path (tree: and everything below it): what was fetched of
 * it is not its content. */
void ahead_forget(struct rfs *fs, const char *path, int tree)
{
	pthread_mutex_lock(&fs->lock);
	ahead_forget_locked(fs, path, tree);
	pthread_mutex_unlock(&fs->lock);
}

/* Go on with the opens that waited for ah (taken off it). */
static void ahead_resume(GSList *waiters)
{
	for (GSList *l = g_slist_reverse(waiters); l; l = l->next) {
		struct op *op = l->data;
		struct sftp_attrs a = op->a;

		file_open_known(op, &a);
	}
	g_slist_free(waiters);
}

static void ahead_end(struct ahead *ah, const struct sftp_reply *r)
{
	struct rfs *fs = ah->fs;
	GSList *waiters;

	pthread_mutex_lock(&fs->lock);
	fs->ahead_fetching--;
	waiters = ah->waiters;
	ah->waiters = NULL;
	if (!ah->listed) {		/* forgotten meanwhile */
		ahead_free(ah);
	} else if (!r) {
		g_hash_table_remove(fs->ahead, ah->path);
		ahead_free(ah);
	} else {
		ah->ready = 1;
		ah->data = g_memdup2(r->data, r->data_len);
		g_queue_push_tail(&fs->ahead_ready, ah);
		fs->ahead_mem += ah->a.size + AHEAD_COST;
		fs->ahead_fetched++;
		while (fs->ahead_mem > AHEAD_MEM)
			ahead_unlist_locked(fs, g_queue_peek_head(
						    &fs->ahead_ready));
	}
	pthread_mutex_unlock(&fs->lock);
	ahead_resume(waiters);
}

static void ahead_read(struct sftp_reply *r, void *data)
{
	struct ahead *ah = data;

	ahead_end(ah, !r->err && r->data_len == ah->a.size ? r : NULL);
}

static void ahead_handle(struct sftp_reply *r, void *data)
{
	struct ahead *ah = data;

	if (!r->err)
		ah->file = sftp_file_new(r, NULL, SSH_FXF_READ);
}

/* The LSTAT right behind the OPEN: what the open file is. */
static void ahead_stat(struct sftp_reply *r, void *data)
{
	struct ahead *ah = data;
	struct rfs *fs = ah->fs;
	const struct sftp_attrs *a = &r->attrs;

	cache_put_reply(fs->cache, ah->path, r->err, a);
	if (!ah->file)
		return ahead_end(ah, NULL);
	if (r->err || !(a->flags & SFTP_ATTR_SIZE) ||
	    !(a->flags & SFTP_ATTR_ACMODTIME) ||
	    !(a->flags & SFTP_ATTR_PERMISSIONS) || !S_ISREG(a->perm) ||
	    !a->size ||
	    a->size > MIN(AHEAD_FILE_MAX, sftp_conn_max_read(fs->conn))) {
		sftp_handle(fs->conn, SSH_FXP_CLOSE, ah->file, NULL, NULL);
		return ahead_end(ah, NULL);
	}
	ah->a = *a;
	sftp_read(fs->conn, ah->file, 0, (uint32_t)a->size, ahead_read, ah);
	sftp_handle(fs->conn, SSH_FXP_CLOSE, ah->file, NULL, NULL);
}

/* Is the entry d of directory dir (node dn, or NULL if it has none: then
 * no node below it either) worth fetching ahead? Then a new struct ahead
 * for it, listed (fs->lock held). */
static struct ahead *ahead_new_locked(struct rfs *fs, struct node *dn,
				      const char *dir,
				      const struct cache_dent *d)
{
	const struct sftp_attrs *a = &d->a;
	char *key = dn ? node_key(dn, d->name) : NULL, *path;
	struct node *n = key ? g_hash_table_lookup(fs->names, key) : NULL;
	struct ahead *ah;

	g_free(key);
	if ((n && (n->files || n->opens || n->hidden ||
		   (n->data_known && n->data_size == a->size &&
		    n->data_mtime == a->mtime))) ||
	    !(a->flags & SFTP_ATTR_SIZE) || !(a->flags & SFTP_ATTR_ACMODTIME) ||
	    !S_ISREG(a->perm) || !a->size || a->size > AHEAD_FILE_MAX ||
	    !file_probably_readable(fs, a))
		return NULL;
	path = g_strconcat(dir, strcmp(dir, "/") ? "/" : "", d->name, NULL);
	if (g_hash_table_contains(fs->ahead, path)) {
		g_free(path);
		return NULL;
	}
	ah = g_new0(struct ahead, 1);
	ah->fs = fs;
	ah->path = path;
	ah->listed = 1;
	g_hash_table_insert(fs->ahead, ah->path, ah);
	fs->ahead_fetching++;
	return ah;
}

/* The walk of directory dpath, found or made (fs->lock held). */
static struct walk *walk_get_locked(struct rfs *fs, const char *dpath)
{
	struct walk *w = g_hash_table_lookup(fs->walks, dpath);

	if (w)
		return w;
	if (g_hash_table_size(fs->walks) >= AHEAD_WALKS)
		g_hash_table_remove_all(fs->walks);	/* rare: start over */
	w = g_new0(struct walk, 1);
	g_hash_table_insert(fs->walks, g_strdup(dpath), w);
	return w;
}

static void walk_onward(struct rfs *fs, struct node *dn, const char *dpath);

/* Plan the walk of directory dpath (its node's ino, or 0 if it has none;
 * listing ents, its names in names) on from `from` (NULL: from the
 * start): the next names go into its plan, and those worth it are
 * fetched. At the end of its directory, a sorted walk the program is in
 * goes on into the next directory. */
static void walk_plan(struct rfs *fs, fuse_ino_t dir, const char *dpath,
		      const GArray *ents, const char *const *names,
		      const char *from)
{
	unsigned idx[AHEAD_FILES], k = 0, want = 0, i;
	GSList *go = NULL;
	struct walk *w;
	struct node *dn;
	int onward = 0;

	pthread_mutex_lock(&fs->lock);
	w = g_hash_table_lookup(fs->walks, dpath);
	dn = dir ? node_get(fs, dir) : NULL;
	if (w) {
		want = AHEAD_FILES - MIN(AHEAD_FILES, w->planned.length);
		k = next_after(names, ents->len, w->order, from, idx, want);
	}
	for (i = 0; i < k && fs->ahead_fetching < AHEAD_MAX; i++) {
		const struct cache_dent *d =
			&g_array_index(ents, struct cache_dent, idx[i]);
		struct ahead *ah;

		if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
			continue;
		ah = ahead_new_locked(fs, dn, dpath, d);
		g_queue_push_tail(&w->planned, g_strdup(d->name));
		if (ah)
			go = g_slist_prepend(go, ah);
	}
	/* (stopped by AHEAD_MAX: the rest is planned when the program
	 * gets nearer) */
	if (w && i == k && k < want && w->order == NEXT_SORTED &&
	    !w->onward && w->last && dn) {
		onward = w->onward = 1;
		dn->refs++;
	}
	pthread_mutex_unlock(&fs->lock);
	go = g_slist_reverse(go);
	for (GSList *l = go; l; l = l->next) {
		struct ahead *ah = l->data;

		sftp_open_lstat(fs->conn, ah->path, SSH_FXF_READ, NULL,
				ahead_handle, ahead_stat, ah, NULL);
	}
	g_slist_free(go);
	if (onward) {
		walk_onward(fs, dn, dpath);
		node_unref(fs, dn);
	}
}

/* The names of a listing, in its order (g_free the array only). */
static const char **dents_names(const GArray *ents)
{
	const char **names = g_new(const char *, ents->len + 1);

	for (guint i = 0; i < ents->len; i++)
		names[i] = g_array_index(ents, struct cache_dent, i).name;
	return names;
}

/* The listing of dpath, the directory a sorted walk goes on into, is
 * here: plan its first files, unless the program is there already. */
void walk_onward_listed(struct rfs *fs, const char *dpath,
			const GArray *ents)
{
	const char **names;
	struct walk *w;
	struct node *dn;
	fuse_ino_t dir = 0;
	int fresh;

	if (ents->len > AHEAD_LISTING_MAX)
		return;
	pthread_mutex_lock(&fs->lock);
	w = walk_get_locked(fs, dpath);
	fresh = !w->last && !w->planned.length;
	if (fresh)
		w->order = NEXT_SORTED;
	dn = node_at(fs, dpath);
	if (dn)
		dir = dn->ino;
	pthread_mutex_unlock(&fs->lock);
	if (!fresh)
		return;
	names = dents_names(ents);
	walk_plan(fs, dir, dpath, ents, names, NULL);
	g_free(names);
}

/* A sorted walk in directory dn (dpath) is at its end: the next
 * directory in sorted order beside it is where the program goes next.
 * Its listing, then its first files, are fetched. */
static void walk_onward(struct rfs *fs, struct node *dn, const char *dpath)
{
	char *parent = g_path_get_dirname(dpath), *name, *next = NULL;
	GArray *pents = NULL, *ents;
	unsigned idx;

	pthread_mutex_lock(&fs->lock);
	name = dn->name ? g_strdup(dn->name) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (name && strcmp(parent, dpath) != 0)
		pents = cache_get_dir(fs->cache, parent);
	if (pents && pents->len <= AHEAD_LISTING_MAX) {
		const char **names = dents_names(pents);

		if (next_after(names, pents->len, NEXT_SORTED, name, &idx,
			       1) == 1 &&
		    S_ISDIR(g_array_index(pents, struct cache_dent,
					  idx).a.perm))
			next = g_strconcat(parent, strcmp(parent, "/") ?
					   "/" : "", names[idx], NULL);
		g_free(names);
	}
	cache_dents_free(pents);
	g_free(parent);
	g_free(name);
	if (!next)
		return;
	ents = cache_get_dir(fs->cache, next);
	if (!ents && !dir_listing_onward(fs, next))	/* here, or no slot */
		ents = cache_get_dir(fs->cache, next);
	if (ents)
		walk_onward_listed(fs, next, ents);
	cache_dents_free(ents);
	g_free(next);
}

/* A planned name the program passed over: what was fetched of it goes
 * (fs->lock held). */
static void ahead_drop_locked(struct rfs *fs, const char *dir,
			      const char *name)
{
	char *path = g_strconcat(dir, strcmp(dir, "/") ? "/" : "", name,
				 NULL);
	struct ahead *ah = g_hash_table_lookup(fs->ahead, path);

	if (ah && ah->ready)
		ahead_unlist_locked(fs, ah);
	g_free(path);
}

/* The program opens name in w's directory dir: 1 if the plan had it
 * (the names before it, passed over, are dropped with what was fetched
 * of them), 0 if not (the plan stays) (fs->lock held). */
static int walk_advance_locked(struct rfs *fs, struct walk *w,
			       const char *dir, const char *name)
{
	GList *hit;
	char *p;

	for (hit = w->planned.head; hit && strcmp(hit->data, name) != 0;
	     hit = hit->next)
		;
	if (!hit)
		return 0;
	while ((p = g_queue_pop_head(&w->planned))) {
		int at = !strcmp(p, name);

		if (!at)
			ahead_drop_locked(fs, dir, p);
		g_free(p);
		if (at)
			break;
	}
	return 1;
}

/* Drop w's plan and what was fetched for it (fs->lock held). */
static void walk_drop_plan_locked(struct rfs *fs, struct walk *w,
				  const char *dir)
{
	char *p;

	while ((p = g_queue_pop_head(&w->planned))) {
		ahead_drop_locked(fs, dir, p);
		g_free(p);
	}
}

/* A read-only open of op's node: follow its directory's walk, and keep
 * the files after it coming. */
void walk_note(struct op *op)
{
	struct rfs *fs = op->fs;
	struct node *n = op->node;
	struct walk *w;
	fuse_ino_t dir;
	char *prev = NULL, *from = NULL, *dpath;
	enum next_order order;
	const char **names;
	GArray *ents;

	if (!fs->se || !fs->one_conn || fs->o.follow_symlinks ||
	    !fs->o.cache.dir_ms)
		return;
	dpath = g_path_get_dirname(op->path);
	pthread_mutex_lock(&fs->lock);
	if (!n->parent || !S_ISREG(n->mode) || n->hidden) {
		pthread_mutex_unlock(&fs->lock);
		g_free(dpath);
		return;
	}
	dir = n->parent->ino;
	w = walk_get_locked(fs, dpath);
	if (walk_advance_locked(fs, w, dpath, n->name)) {
		if (w->planned.length < AHEAD_FILES / 2)
			from = g_strdup(g_queue_peek_tail(&w->planned));
		if (!from && !w->planned.length)
			from = g_strdup(n->name);
	} else if (w->last && strcmp(w->last, n->name) != 0) {
		prev = g_strdup(w->last);	/* not planned: a walk? */
		from = g_strdup(n->name);
	}
	g_free(w->last);
	w->last = g_strdup(n->name);
	order = w->order;
	pthread_mutex_unlock(&fs->lock);
	ents = from ? cache_get_dir(fs->cache, dpath) : NULL;
	if (!ents || ents->len > AHEAD_LISTING_MAX) {
		cache_dents_free(ents);
		g_free(prev);
		g_free(from);
		g_free(dpath);
		return;
	}
	names = dents_names(ents);
	if (prev) {
		order = next_order(names, ents->len, prev, from);
		pthread_mutex_lock(&fs->lock);
		w = walk_get_locked(fs, dpath);
		if (order != NEXT_NONE) {	/* a walk (again): anew */
			walk_drop_plan_locked(fs, w, dpath);
			w->order = order;
			w->onward = 0;
		}
		pthread_mutex_unlock(&fs->lock);
	}
	if (order != NEXT_NONE)
		walk_plan(fs, dir, dpath, ents, names, from);
	g_free(names);
	cache_dents_free(ents);
	g_free(dpath);
	g_free(prev);
	g_free(from);
}

/* What the notify thread (fs->store_pool) does: store data fetched
 * ahead into the page cache (open_store), or make the kernel forget its
 * entry for parent/name. Never on the I/O thread: a notify waits for the
 * directory's lock, which a syscall may hold while it waits for the I/O
 * thread. */
struct notify_job {
	struct op *store;	/* open_store() it, or NULL */
	fuse_ino_t parent;	/* else: inval_entry of parent/name */
	char *name;
};

static void open_store(gpointer data, gpointer user);

void ahead_notify_run(gpointer data, gpointer user)
{
	struct notify_job *j = data;
	struct rfs *fs = user;

	if (j->store)
		open_store(j->store, NULL);
	else
		fuse_lowlevel_notify_inval_entry(fs->se, j->parent, j->name,
						 strlen(j->name));
	g_free(j->name);
	g_free(j);
}

/* fs->lock held: fs_quiesce frees the pool under it. */
void ahead_notify_push_locked(struct rfs *fs, struct op *store,
			      fuse_ino_t parent, const char *name)
{
	struct notify_job *j;

	if (!fs->store_pool || !fs->se)
		return;
	j = g_new0(struct notify_job, 1);
	j->store = store;
	j->parent = parent;
	j->name = g_strdup(name);
	g_thread_pool_push(fs->store_pool, j, NULL);
	/* cppcheck-suppress memleak ; the pool's: ahead_notify_run frees j */
}

/* The store thread: put what was fetched ahead into the kernel's page
 * cache (after dropping what it held: the file may have shrunk), then go
 * on with the open. */
static void open_store(gpointer data, gpointer user)
{
	struct op *op = data;
	struct ahead *ah = op->ahead;
	struct fuse_bufvec v = FUSE_BUFVEC_INIT(ah->a.size);
	struct rfs *fs = op->fs;
	struct sftp_attrs a = op->a;
	GSList *waiters;
	int rc, kept;

	(void)user;
	op->ahead = NULL;
	v.buf[0].mem = ah->data;
	rc = fuse_lowlevel_notify_inval_inode(fs->se, op->node->ino, 0, 0);
	if (!rc)
		rc = fuse_lowlevel_notify_store(fs->se, op->node->ino, 0, &v,
						0);
	log_debug("ahead: %s: %" PRIu64 " bytes fetched ahead%s%s", op->path,
		  ah->a.size, rc ? ", not stored: " : "",
		  rc ? strerror(-rc) : "");
	pthread_mutex_lock(&fs->lock);
	kept = !rc && ah->listed;	/* else forgotten: a change of ours */
	if (kept) {
		fs->ahead_used++;
		op->node->data_known = 1;
		op->node->data_size = ah->a.size;
		op->node->data_mtime = ah->a.mtime;
	}
	if (ah->listed) {
		g_hash_table_remove(fs->ahead, ah->path);
		ah->listed = 0;
	}
	waiters = ah->waiters;
	ah->waiters = NULL;
	pthread_mutex_unlock(&fs->lock);
	if (!rc && !kept)	/* undo what it stored */
		fuse_lowlevel_notify_inval_inode(fs->se, op->node->ino, 0, 0);
	ahead_free(ah);
	file_open_known(op, &a);
	ahead_resume(waiters);
}

/* An open revalidated with attributes a: wait for its file on the way
 * (or being stored), or use what was fetched when a says it is still
 * the content. 1 if the open goes on elsewhere. */
int ahead_use(struct op *op, const struct sftp_attrs *a)
{
	struct rfs *fs = op->fs;
	struct ahead *ah;
	int use = 0;

	pthread_mutex_lock(&fs->lock);
	ah = g_hash_table_lookup(fs->ahead, op->path);
	if (ah && (!ah->ready || ah->storing)) {
		op->a = *a;
		ah->waiters = g_slist_prepend(ah->waiters, op);
		pthread_mutex_unlock(&fs->lock);
		return 1;
	}
	if (ah) {
		use = (a->flags & SFTP_ATTR_SIZE) &&
		      (a->flags & SFTP_ATTR_ACMODTIME) &&
		      a->size == ah->a.size && a->mtime == ah->a.mtime &&
		      !op->node->files && fs->store_pool;
		if (use) {	/* under the lock: fs_quiesce frees the pool */
			ahead_unready_locked(fs, ah);
			ah->storing = 1;
			op->a = *a;
			op->ahead = ah;
			ahead_notify_push_locked(fs, op, 0, NULL);
		} else {
			ahead_unlist_locked(fs, ah);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return use;
}

void ahead_free_cb(gpointer k, gpointer v, gpointer data)
{
	(void)k;
	(void)data;
	ahead_free(v);	/* fetched or not: nothing is in flight now */
}
