/* fs_node: the node table (inode numbers, names, paths), the kernel's
 * lookup counts, and the names open files are hidden under when unlinked.
 *
 * Inode numbers: a 64-bit hash of the remote path, probed past collisions
 * with live nodes, so a name keeps its number across forget/lookup (git's
 * index compares st_ino) without remembering every name ever seen.
 */
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "fs_int.h"
#include "rfs/log.h"

#define HIDDEN_PREFIX ".rfs-unlinked-"

/* ---- node table (callers hold fs->lock) ---- */

char *node_path(struct rfs *fs, struct node *n)
{
	GPtrArray *parts = g_ptr_array_new();
	GString *s = g_string_new(fs->base);

	for (; n && n->parent; n = n->parent)
		g_ptr_array_add(parts, n->name);
	for (guint i = parts->len; i-- > 0;) {
		if (s->len == 0 || s->str[s->len - 1] != '/')
			g_string_append_c(s, '/');
		g_string_append(s, parts->pdata[i]);
	}
	g_ptr_array_free(parts, TRUE);
	return g_string_free(s, FALSE);
}

char *node_child_path(struct rfs *fs, struct node *parent, const char *name)
{
	char *p = node_path(fs, parent);
	char *r = g_strconcat(p, (p[0] && p[strlen(p) - 1] == '/') ? "" : "/",
			      name, NULL);
	g_free(p);
	return r;
}

char *node_key(struct node *parent, const char *name)
{
	return g_strdup_printf("%lx/%s", (unsigned long)parent->ino, name);
}

/* The node of a remote path, if there is one (fs->lock held). */
struct node *node_at(struct rfs *fs, const char *path)
{
	size_t nb = strlen(fs->base);
	struct node *n = fs->root;
	gchar **parts;

	if (strncmp(path, fs->base, nb) != 0 || (path[nb] && path[nb] != '/' &&
					    nb && fs->base[nb - 1] != '/'))
		return NULL;
	parts = g_strsplit(path + nb, "/", -1);
	for (guint i = 0; n && parts[i]; i++) {
		char *key;

		if (!*parts[i])
			continue;
		key = node_key(n, parts[i]);
		n = g_hash_table_lookup(fs->names, key);
		g_free(key);
	}
	g_strfreev(parts);
	return n;
}

fuse_ino_t node_ino(struct rfs *fs, const char *path)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

	for (const unsigned char *p = (const void *)path; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	if (h < 2)
		h += 2;
	while (h < 2 || g_hash_table_contains(fs->inodes, &h))
		h++;
	return (fuse_ino_t)h;
}

struct node *node_get(struct rfs *fs, fuse_ino_t ino)
{
	uint64_t k = ino;

	return g_hash_table_lookup(fs->inodes, &k);
}

static void node_detach(struct rfs *fs, struct node *n)
{
	if (n->key) {
		g_hash_table_remove(fs->names, n->key);
		g_clear_pointer(&n->key, g_free);
	}
}

/* ---- other names: hard links made through the mount ----
 *
 * A link() through the mount gives the new name the source's node: one
 * inode, as the kernel must see it for the link count, mode, owner and
 * ctime of every name to follow a change made through any of them. The
 * node's first name (parent, name, key) is the one node_path() uses for
 * every request about it; the others are aliases, each a key in
 * fs->names pointing at the node. Names the mount did not link itself
 * (links made on the server, seen only by listing) keep their own nodes:
 * SFTP v3 cannot tell that two names are one file. Nor does the mount
 * remember aliases past the node's life: once the kernel forgets the
 * inode, its names are looked up anew, each with a node of its own.
 */

static void open_paths_changed_locked(struct rfs *fs);

/* What the caches hold under a name that stops being an alias: the
 * node's changes forgot only its own path's (fs->lock held). */
static void alias_forget_cached_locked(struct rfs *fs, struct node *parent,
				       const char *name)
{
	char *path = node_child_path(fs, parent, name);

	cache_invalidate(fs->cache, path);
	ahead_forget_locked(fs, path, 0);
	g_free(path);
}

/* Free alias al of n: off fs->names, its cached state gone, its parent's
 * reference dropped (that parent freed if nothing else holds it). */
static void alias_free_locked(struct rfs *fs, struct node *n,
			      struct node_alias *al)
{
	struct node *p = al->parent;

	if (g_hash_table_lookup(fs->names, al->key) == n)
		g_hash_table_remove(fs->names, al->key);
	alias_forget_cached_locked(fs, p, al->name);
	g_free(al->name);
	g_free(al->key);
	g_free(al);
	p->refs--;
	node_maybe_free(fs, p);
}

static GSList *alias_find(struct node *n, struct node *parent,
			  const char *name)
{
	for (GSList *l = n->aliases; l; l = l->next) {
		struct node_alias *al = l->data;

		if (al->parent == parent && !strcmp(al->name, name))
			return l;
	}
	return NULL;
}

void node_maybe_free(struct rfs *fs, struct node *n)
{
	while (n && n != fs->root && n->nlookup == 0 && n->refs == 0 &&
	       n->opens == 0) {
		struct node *p = n->parent;
		uint64_t ino = n->ino;
		GSList *aliases = n->aliases;

		node_detach(fs, n);
		g_hash_table_remove(fs->inodes, &ino);
		/* Its other names go with it; their parents too if nothing
		 * else holds them (directories: no aliases of their own, so
		 * this goes one level deep). p keeps n's reference until
		 * after: never freed here. */
		for (GSList *l = aliases; l; l = l->next)
			alias_free_locked(fs, n, l->data);
		g_slist_free(aliases);
		g_free(n->name);
		g_free(n);
		if (!p)
			break;
		p->refs--;
		n = p;
	}
}

struct node *node_named_locked(struct rfs *fs, struct node *parent,
			       const char *name)
{
	char *key = node_key(parent, name);
	struct node *n = g_hash_table_lookup(fs->names, key);

	g_free(key);
	return n;
}

int node_is_alias_locked(struct node *n, struct node *parent,
			 const char *name)
{
	return alias_find(n, parent, name) != NULL;
}

/* Take the name parent/name (one of its names) off n (fs->lock held):
 * an alias goes; its first name is taken over by an alias when it has
 * one (open files are reopened by that name after a reconnect), else
 * detached. Its link count drops. 1 if n has a name left, 0 if not. */
static int node_drop_name_locked(struct rfs *fs, struct node *n,
				 struct node *parent, const char *name)
{
	GSList *l = alias_find(n, parent, name);
	struct node_alias *al;
	struct node *old;

	if (n->nlink > 1)
		n->nlink--;
	if (l) {
		al = l->data;
		n->aliases = g_slist_delete_link(n->aliases, l);
		alias_free_locked(fs, n, al);
		return 1;
	}
	node_detach(fs, n);
	if (!n->aliases)
		return 0;
	al = n->aliases->data;
	n->aliases = g_slist_delete_link(n->aliases, n->aliases);
	old = n->parent;
	n->parent = al->parent;		/* with its reference */
	g_free(n->name);
	n->name = al->name;
	n->key = al->key;		/* in fs->names already */
	g_free(al);
	/* Its own path's cached state is as old as the alias's was. */
	alias_forget_cached_locked(fs, n->parent, n->name);
	open_paths_changed_locked(fs);
	old->refs--;
	node_maybe_free(fs, old);	/* the caller holds a ref: a no-op */
	return 1;
}

/* parent/name names another file on the server now (a rename or link
 * replaced it, or someone else removed it): off the node that had it. An
 * open file that lost its last name is not reopened by name. */
static void node_name_replaced_locked(struct rfs *fs, struct node *victim,
				      struct node *parent, const char *name)
{
	if (node_drop_name_locked(fs, victim, parent, name))
		return;
	for (GSList *l = victim->files; l; l = l->next)
		file_set_path(l->data, NULL);	/* replaced */
}

int node_link_locked(struct rfs *fs, struct node *n, struct node *parent,
		     const char *name)
{
	struct node_alias *al;
	struct node *old;
	char *key;

	if (n == fs->root || !n->key || n->hidden || S_ISDIR(n->mode))
		return -1;
	key = node_key(parent, name);
	old = g_hash_table_lookup(fs->names, key);
	if (old == n) {		/* known already */
		g_free(key);
		return 0;
	}
	if (old)		/* a node of a name gone from the server */
		node_name_replaced_locked(fs, old, parent, name);
	al = g_new0(struct node_alias, 1);
	al->parent = parent;
	parent->refs++;
	al->name = g_strdup(name);
	al->key = key;
	g_hash_table_insert(fs->names, al->key, n);
	n->aliases = g_slist_append(n->aliases, al);
	n->nlink = (n->nlink ? n->nlink : 1) + 1;
	return 0;
}

void node_names_changed_locked(struct rfs *fs, struct node *n)
{
	char *path = node_path(fs, n);

	cache_invalidate(fs->cache, path);
	g_free(path);
	for (GSList *l = n->aliases; l; l = l->next) {
		struct node_alias *al = l->data;

		path = node_child_path(fs, al->parent, al->name);
		cache_invalidate(fs->cache, path);
		g_free(path);
	}
}

char *node_attr_path(struct rfs *fs, struct node *parent, const char *name)
{
	struct node *n;
	char *path = NULL;

	pthread_mutex_lock(&fs->lock);
	n = node_named_locked(fs, parent, name);
	if (n && alias_find(n, parent, name))
		path = node_path(fs, n);
	pthread_mutex_unlock(&fs->lock);
	return path;
}

void node_name_gone(struct rfs *fs, struct node *parent, const char *name)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_named_locked(fs, parent, name);
	if (n && n->aliases && node_drop_name_locked(fs, n, parent, name))
		node_names_changed_locked(fs, n);
	pthread_mutex_unlock(&fs->lock);
}

void node_path_gone(struct rfs *fs, struct node *n, const char *path)
{
	char *own;

	pthread_mutex_lock(&fs->lock);
	if (n->aliases && n->key) {
		own = node_path(fs, n);
		if (!strcmp(own, path)) {
			char *name = g_strdup(n->name);	/* freed on the way */

			node_drop_name_locked(fs, n, n->parent, name);
			g_free(name);
			log_warn("%s: gone from the server; its hard link %s "
				 "stands for it", path, n->name);
			node_names_changed_locked(fs, n);
		}
		g_free(own);
	}
	pthread_mutex_unlock(&fs->lock);
}

void node_free_aliases(struct node *n)
{
	for (GSList *l = n->aliases; l; l = l->next) {
		struct node_alias *al = l->data;

		g_free(al->name);
		g_free(al->key);
		g_free(al);
	}
	g_slist_free(n->aliases);
	n->aliases = NULL;
}

struct node *node_find_or_add(struct rfs *fs, struct node *parent,
			      const char *name)
{
	char *key = node_key(parent, name);
	struct node *n = g_hash_table_lookup(fs->names, key);
	uint64_t *ik;
	char *path;

	if (n) {
		g_free(key);
		return n;
	}
	n = g_new0(struct node, 1);
	path = node_child_path(fs, parent, name);
	n->ino = node_ino(fs, path);
	g_free(path);
	n->parent = parent;
	parent->refs++;
	n->name = g_strdup(name);
	n->key = key;
	ik = g_new(uint64_t, 1);
	*ik = n->ino;
	g_hash_table_insert(fs->inodes, ik, n);
	g_hash_table_insert(fs->names, n->key, n);
	return n;
}

void node_unref(struct rfs *fs, struct node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&fs->lock);
	n->refs--;
	node_maybe_free(fs, n);
	pthread_mutex_unlock(&fs->lock);
}

/* Send coalesced writes of every file open on n (fs->lock held): a stat
 * or truncate that follows must come after them. With invalidate, also
 * forget their readahead. */
void node_push_files_locked(struct node *n, int invalidate)
{
	for (GSList *l = n->files; l; l = l->next) {
		struct file *f = l->data;

		stream_push(f->st);
		if (invalidate)
			stream_invalidate(f->st);
	}
}

/* A node was renamed (or hidden): open files below it are reopened by
 * their new names after a reconnect (fs->lock held). */
static void open_paths_changed_locked(struct rfs *fs)
{
	GHashTableIter it;
	gpointer v;

	if (!fs->opens)
		return;
	g_hash_table_iter_init(&it, fs->inodes);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct node *n = v;
		char *path;

		if (!n->files)
			continue;
		path = node_path(fs, n);
		for (GSList *l = n->files; l; l = l->next)
			file_set_path(l->data, path);
		g_free(path);
	}
}

/* Record attrs on n (under lock) and fill a stat for it. */
void node_changed(struct node *n)
{
	if (!n)
		return;
	__atomic_store_n(&n->ctime_ours, (int64_t)time(NULL),
			 __ATOMIC_RELAXED);
	__atomic_fetch_add(&n->changes, 1, __ATOMIC_SEQ_CST);
}

void node_entries_changed(struct rfs *fs, struct node *n)
{
	char *path;

	if (!n)
		return;
	node_changed(n);
	pthread_mutex_lock(&fs->lock);
	path = node_path(fs, n);
	pthread_mutex_unlock(&fs->lock);
	cache_forget_attr(fs->cache, path);
	g_free(path);
}

/* A directory's attributes seen by an LSTAT right behind a create in it
 * (struct sftp_also). Its answer and the create's own note of the entry
 * come in either order (a create that fixes owner or mode notes it after
 * one more round trip): the attributes go into the cache when both are
 * in, the directory is where it was, and nothing but that create changed
 * it through the mount meanwhile (a chmod or rename of it, another entry:
 * its answer may be newer than this one, on another lane). */
struct dir_seen {
	int refs;		/* the op and the LSTAT's callback (fs->lock) */
	struct rfs *fs;
	struct node *dir;	/* a reference */
	char *path;
	uint64_t gen;		/* dir->changes when sent */
	int created;		/* the create noted its entry */
	int have;		/* the LSTAT answered: a */
	struct sftp_attrs a;
};

/* Both in, nothing else changed: into the cache (fs->lock held). */
static void dir_seen_try_locked(struct dir_seen *ds)
{
	char *now;

	if (!ds->created || !ds->have ||
	    __atomic_load_n(&ds->dir->changes, __ATOMIC_SEQ_CST) !=
	    ds->gen + 1)
		return;
	now = node_path(ds->fs, ds->dir);
	if (!strcmp(now, ds->path))
		cache_put_reply(ds->fs->cache, ds->path, 0, &ds->a);
	g_free(now);
}

void dir_seen_unref(struct dir_seen *ds)
{
	struct rfs *fs;

	if (!ds)
		return;
	fs = ds->fs;
	pthread_mutex_lock(&fs->lock);
	if (--ds->refs > 0) {
		pthread_mutex_unlock(&fs->lock);
		return;
	}
	ds->dir->refs--;
	node_maybe_free(fs, ds->dir);
	pthread_mutex_unlock(&fs->lock);
	g_free(ds->path);
	g_free(ds);
}

static void dir_seen_done(struct sftp_reply *r, void *data)
{
	struct dir_seen *ds = data;

	pthread_mutex_lock(&ds->fs->lock);
	if (!r->err && S_ISDIR(r->attrs.perm)) {
		ds->a = r->attrs;
		ds->have = 1;
		dir_seen_try_locked(ds);
	}
	pthread_mutex_unlock(&ds->fs->lock);
	dir_seen_unref(ds);
}

const struct sftp_also *dir_seen_start(struct op *op, struct sftp_also *also)
{
	struct rfs *fs = op->fs;
	struct dir_seen *ds;

	if (!fs->o.kernel_perms || !op->parent || op->seen)
		return NULL;
	ds = g_new0(struct dir_seen, 1);
	ds->refs = 2;
	ds->fs = fs;
	pthread_mutex_lock(&fs->lock);
	ds->dir = op->parent;
	ds->dir->refs++;
	ds->gen = __atomic_load_n(&ds->dir->changes, __ATOMIC_SEQ_CST);
	ds->path = node_path(fs, ds->dir);
	pthread_mutex_unlock(&fs->lock);
	op->seen = ds;
	*also = (struct sftp_also){ ds->path, dir_seen_done, ds };
	return also;
}

void node_created_in(struct op *op)
{
	node_entries_changed(op->fs, op->parent);
	if (!op->seen)
		return;
	pthread_mutex_lock(&op->fs->lock);
	op->seen->created = 1;
	dir_seen_try_locked(op->seen);
	pthread_mutex_unlock(&op->fs->lock);
}

void node_subdirs_locked(struct node *n, int delta)
{
	if (n && n->nlink && (delta > 0 || n->nlink > 2))
		n->nlink = (uint32_t)((int)n->nlink + delta);
}

/* st as n shows it (fs->lock held): the node's link count (0 once an
 * open file is unlinked), and a ctime of our own: the later of the
 * server's mtime and the last change this mount made, never going back
 * for the life of the mount. */
void node_show_locked(struct node *n, struct stat *st)
{
	int64_t c = MAX((int64_t)st->st_ctime,
			__atomic_load_n(&n->ctime_ours, __ATOMIC_RELAXED));

	c = MAX(c, n->ctime_shown);
	n->ctime_shown = c;
	st->st_ctime = (time_t)c;
	st->st_ctim.tv_nsec = 0;
	if (n->hidden)
		st->st_nlink = 0;
	st->st_ino = n->ino;
}

void node_stat(struct rfs *fs, struct node *n,
	       const struct sftp_attrs *a, struct stat *st)
{
	uint32_t nlink;

	pthread_mutex_lock(&fs->lock);
	if (a->flags & SFTP_ATTR_PERMISSIONS)
		n->mode = a->perm;
	nlink = n->nlink;
	pthread_mutex_unlock(&fs->lock);
	to_stat(fs, a, nlink, st);
	pthread_mutex_lock(&fs->lock);
	node_show_locked(n, st);
	pthread_mutex_unlock(&fs->lock);
}

/* The node for parent/name with one more kernel reference, and its entry
 * (e) from attrs a. The caller drops the reference if the reply fails. */
struct node *node_entry_ref(struct rfs *fs, struct node *parent,
			    const char *name, const struct sftp_attrs *a,
			    struct fuse_entry_param *e)
{
	struct node *n;
	uint32_t nlink;

	pthread_mutex_lock(&fs->lock);
	n = node_find_or_add(fs, parent, name);
	n->nlookup++;
	if (a->flags & SFTP_ATTR_PERMISSIONS)
		n->mode = a->perm;
	nlink = n->nlink;
	pthread_mutex_unlock(&fs->lock);
	memset(e, 0, sizeof(*e));
	to_stat(fs, a, nlink, &e->attr);
	pthread_mutex_lock(&fs->lock);
	node_show_locked(n, &e->attr);
	pthread_mutex_unlock(&fs->lock);
	e->ino = n->ino;
	e->attr_timeout = e->entry_timeout = fs->o.attr_timeout;
	return n;
}

void node_forget(struct rfs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n = node_get(fs, ino);

	if (!n || n == fs->root)
		return;
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	node_maybe_free(fs, n);
}

/* Take parent/name off the table after it was removed on the server. A
 * node with other names keeps them: one link less, its ctime moves. */
void node_forget_name(struct rfs *fs, struct node *parent, const char *name)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_named_locked(fs, parent, name);
	if (n && node_drop_name_locked(fs, n, parent, name)) {
		node_changed(n);
		node_names_changed_locked(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
}

/* The name a file unlinked while open is kept under until its last
 * close: unpredictable (no other client or server user can guess it,
 * and two mounts never pick the same), and known to this mount only, so
 * that a server's own file of that pattern still shows. */
char *node_hidden_name(void)
{
	uint32_t r[2];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		r[0] = g_random_int();	/* no getrandom: still unique */
		r[1] = g_random_int();
	}
	return g_strdup_printf(HIDDEN_PREFIX "%08x%08x", r[0], r[1]);
}

int node_is_hidden(struct rfs *fs, const char *name)
{
	int yes;

	if (!g_str_has_prefix(name, HIDDEN_PREFIX))
		return 0;
	pthread_mutex_lock(&fs->lock);
	yes = g_hash_table_contains(fs->hidden, name);
	pthread_mutex_unlock(&fs->lock);
	return yes;
}

struct unhide {
	struct rfs *fs;
	char *name;
};

/* The name stays hidden until the server has removed it: a listing
 * fetched meanwhile must not show it (fs_free comes after the
 * connection's last callback). */
static void unhide_done(struct sftp_reply *r, void *data)
{
	struct unhide *u = data;

	if (r->err)
		log_warn("cannot remove a hidden unlinked file: %s",
			 g_strerror(-r->err));
	pthread_mutex_lock(&u->fs->lock);
	g_hash_table_remove(u->fs->hidden, u->name);
	pthread_mutex_unlock(&u->fs->lock);
	g_free(u->name);
	g_free(u);
}

/* After the last close of a file unlinked while open: remove its hidden
 * name. Called with fs->lock held; queueing a request never blocks. */
void node_remove_hidden_locked(struct rfs *fs, struct node *n)
{
	char *path = node_path(fs, n);
	struct unhide *u = g_new0(struct unhide, 1);

	u->fs = fs;
	u->name = g_strdup(n->name);
	sftp_path(fs->conn, SSH_FXP_REMOVE, path, unhide_done, u);
	g_free(path);
}

/* n, open, was renamed on the server to its hidden name (taken): off
 * the names table, shown in no listing, and removed at its last close,
 * or now if that came meanwhile. */
void node_hide(struct rfs *fs, struct node *n, char *hidden)
{
	pthread_mutex_lock(&fs->lock);
	node_detach(fs, n);
	g_free(n->name);
	n->name = hidden;
	n->hidden = 1;
	g_hash_table_add(fs->hidden, g_strdup(n->name));
	open_paths_changed_locked(fs);
	if (n->opens == 0)	/* closed while we renamed it */
		node_remove_hidden_locked(fs, n);
	pthread_mutex_unlock(&fs->lock);
}

/* One name of n (its own or an alias's: the fields given) moves to
 * newparent/newname, keyed nkey (taken). The old parent keeps the
 * caller's reference, so it cannot be freed here (fs->lock held). */
static void name_move_locked(struct rfs *fs, struct node *n,
			     struct node **parent, char **name, char **key,
			     struct node *newparent, const char *newname,
			     char *nkey)
{
	if (*key) {
		g_hash_table_remove(fs->names, *key);
		g_free(*key);
	}
	newparent->refs++;
	(*parent)->refs--;
	*parent = newparent;
	g_free(*name);
	*name = g_strdup(newname);
	*key = nkey;
	g_hash_table_insert(fs->names, *key, n);
}

/* parent/name was renamed to newparent/newname on the server: that name
 * of the node moves there, a node that was at the new name loses that
 * name (with no other name left, its open files are not reopened by
 * name). Two names of one node: nothing moves, as rename(2) does nothing
 * then. The caller holds a reference to both parents. */
void node_move(struct rfs *fs, struct node *parent, const char *name,
	       struct node *newparent, const char *newname)
{
	char *okey = node_key(parent, name);
	char *nkey = node_key(newparent, newname);
	struct node *n, *victim;
	GSList *al;

	pthread_mutex_lock(&fs->lock);
	victim = g_hash_table_lookup(fs->names, nkey);
	n = g_hash_table_lookup(fs->names, okey);
	if (n && victim == n) {
		pthread_mutex_unlock(&fs->lock);
		g_free(okey);
		g_free(nkey);
		return;
	}
	if (victim) {
		if (S_ISDIR(victim->mode))
			node_subdirs_locked(newparent, -1);
		node_name_replaced_locked(fs, victim, newparent, newname);
	}
	if (n && (al = alias_find(n, parent, name))) {
		struct node_alias *a = al->data;

		node_changed(n);
		name_move_locked(fs, n, &a->parent, &a->name, &a->key,
				 newparent, newname, nkey);
		nkey = NULL;
	} else if (n) {
		if (S_ISDIR(n->mode) && newparent != n->parent) {
			node_subdirs_locked(n->parent, -1);
			node_subdirs_locked(newparent, 1);
		}
		node_changed(n);	/* rename moves ctime, as ext4 does */
		name_move_locked(fs, n, &n->parent, &n->name, &n->key,
				 newparent, newname, nkey);
		nkey = NULL;
		open_paths_changed_locked(fs);
	}
	pthread_mutex_unlock(&fs->lock);
	g_free(okey);
	g_free(nkey);
}
