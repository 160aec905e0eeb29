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

void node_maybe_free(struct rfs *fs, struct node *n)
{
	while (n && n != fs->root && n->nlookup == 0 && n->refs == 0 &&
	       n->opens == 0) {
		struct node *p = n->parent;
		uint64_t ino = n->ino;

		node_detach(fs, n);
		g_hash_table_remove(fs->inodes, &ino);
		g_free(n->name);
		g_free(n);
		if (!p)
			break;
		p->refs--;
		n = p;
	}
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
	if (n)
		__atomic_store_n(&n->ctime_ours, (int64_t)time(NULL),
				 __ATOMIC_RELAXED);
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

/* Detach parent/name from the table after it was removed on the server. */
void node_forget_name(struct rfs *fs, struct node *parent, const char *name)
{
	char *key = node_key(parent, name);
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = g_hash_table_lookup(fs->names, key);
	if (n) {
		node_detach(fs, n);
		if (n->nlink > 1)
			n->nlink--;
	}
	pthread_mutex_unlock(&fs->lock);
	g_free(key);
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

/* parent/name was renamed to newparent/newname on the server: the node
 * moves there, a node that was at the new name is off the table (its
 * open files are not reopened by name). The caller holds a reference to
 * both parents. */
void node_move(struct rfs *fs, struct node *parent, const char *name,
	       struct node *newparent, const char *newname)
{
	char *okey = node_key(parent, name);
	char *nkey = node_key(newparent, newname);
	struct node *n, *victim;

	pthread_mutex_lock(&fs->lock);
	victim = g_hash_table_lookup(fs->names, nkey);
	if (victim) {
		if (S_ISDIR(victim->mode))
			node_subdirs_locked(newparent, -1);
		node_detach(fs, victim);
		for (GSList *l = victim->files; l; l = l->next)
			file_set_path(l->data, NULL);	/* replaced */
	}
	n = g_hash_table_lookup(fs->names, okey);
	if (n) {
		if (S_ISDIR(n->mode) && newparent != n->parent) {
			node_subdirs_locked(n->parent, -1);
			node_subdirs_locked(newparent, 1);
		}
		node_changed(n);	/* rename moves ctime, as ext4 does */
		node_detach(fs, n);
		newparent->refs++;
		n->parent->refs--;
		/* the old parent keeps the caller's ref, so it cannot be
		 * freed here */
		n->parent = newparent;
		g_free(n->name);
		n->name = g_strdup(newname);
		n->key = nkey;
		nkey = NULL;
		g_hash_table_insert(fs->names, n->key, n);
		open_paths_changed_locked(fs);
	}
	pthread_mutex_unlock(&fs->lock);
	g_free(okey);
	g_free(nkey);
}
