/* cache: attributes, negative entries, listings and link targets by path. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <glib.h>

#include "rfs/cache.h"

struct entry {
	char *path;		/* the key */
	GList *age;		/* link in c->order */
	int64_t attr_until, neg_until, dir_until, link_until;	/* ms */
	int64_t names_until;	/* ms: a name missing from dir is missing */
	int64_t confirmed;	/* ms: the server's last word on the path (that
				 * it is missing: neg_until is set) */
	int asking;		/* a revalidation of it is in flight */
	GList *ws;		/* its link in c->ws, or NULL */
	struct sftp_attrs a;
	uint32_t nlink;
	GArray *dir;		/* struct cache_dent */
	int dir_names_only;	/* our own changes since: the names are
				 * right, some attributes are not */
	char *link;
};

/* attr_until of a path that exists but whose attributes must be asked
 * for (we wrote to it): never fresh, and no "missing" either. */
#define ATTR_ASK 1

struct cache {
	struct cache_opts o;
	pthread_mutex_t lock;	/* guards everything below */
	GHashTable *map;	/* path -> struct entry * */
	GQueue order;		/* struct entry *, oldest first */
	uint64_t hits, misses;
	int offline;		/* serve entries past their timeout */
	GSList *fills;		/* struct cache_fill *: listings in flight */
	GQueue ws;		/* struct entry *: the working set, oldest
				 * use first */
};

/* The working set: paths opened or found missing lately, revalidated
 * together (cache_ws_stale). */
#define WS_MAX 1024
#define WS_BATCH 256

static char *parent_of(const char *path);

struct cache_fill {
	char *dir;
	int dirty;		/* changed meanwhile: do not keep it */
};

/* A change to path (or, tree, everything below it) makes a listing in
 * flight of its directory (or of one below) stale. (c->lock held) */
static void fills_dirty(struct cache *c, const char *path, int tree)
{
	char *parent = parent_of(path);
	size_t n = strlen(path);

	for (GSList *l = c->fills; l; l = l->next) {
		struct cache_fill *f = l->data;

		if ((parent && !strcmp(f->dir, parent)) ||
		    !strcmp(f->dir, path) ||
		    (tree && !strncmp(f->dir, path, n) &&
		     (f->dir[n] == '/' || (n == 1 && path[0] == '/'))))
			f->dirty = 1;
	}
	g_free(parent);
}

static int64_t now_ms(void)
{
	return g_get_monotonic_time() / 1000;
}

/* Is an entry kept until `until` good now? (c->lock held) */
static int fresh(const struct cache *c, int64_t until, int64_t now)
{
	return until > ATTR_ASK && (until > now || c->offline);
}

void cache_set_offline(struct cache *c, int offline)
{
	pthread_mutex_lock(&c->lock);
	c->offline = offline;
	pthread_mutex_unlock(&c->lock);
}

void cache_dents_free(GArray *ents)
{
	if (!ents)
		return;
	for (guint i = 0; i < ents->len; i++)
		g_free(g_array_index(ents, struct cache_dent, i).name);
	g_array_free(ents, TRUE);
}

void cache_dents_add(GArray *ents, const char *name,
		     const struct sftp_attrs *a, uint32_t nlink)
{
	struct cache_dent *d;

	g_array_set_size(ents, ents->len + 1);
	d = &g_array_index(ents, struct cache_dent, ents->len - 1);
	d->name = g_strdup(name);
	d->a = *a;
	d->nlink = nlink;
}

GArray *cache_dents_copy(const GArray *src)
{
	GArray *a = g_array_sized_new(FALSE, FALSE, sizeof(struct cache_dent),
				      src->len);

	for (guint i = 0; i < src->len; i++) {
		struct cache_dent d = g_array_index(src, struct cache_dent, i);

		d.name = g_strdup(d.name);
		g_array_append_val(a, d);
	}
	return a;
}

static void entry_free(gpointer p)
{
	struct entry *e = p;

	cache_dents_free(e->dir);
	g_free(e->link);
	g_free(e->path);
	g_free(e);
}

struct cache *cache_new(const struct cache_opts *o)
{
	struct cache *c = g_new0(struct cache, 1);

	c->o = *o;
	pthread_mutex_init(&c->lock, NULL);
	c->map = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
				       entry_free);
	g_queue_init(&c->order);
	g_queue_init(&c->ws);
	return c;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	g_queue_clear(&c->order);
	g_queue_clear(&c->ws);
	g_hash_table_destroy(c->map);
	pthread_mutex_destroy(&c->lock);
	g_free(c);
}

static void drop(struct cache *c, struct entry *e)
{
	if (e->ws)
		g_queue_delete_link(&c->ws, e->ws);
	g_queue_delete_link(&c->order, e->age);
	g_hash_table_remove(c->map, e->path);	/* frees e */
}

/* Make room: the oldest goes. Its parent's listing goes with it, which
 * would otherwise say the name does not exist. */
static void evict_oldest(struct cache *c)
{
	struct entry *e = g_queue_peek_head(&c->order), *p;
	char *parent = parent_of(e->path);

	if (parent && (p = g_hash_table_lookup(c->map, parent)))
		p->dir_until = 0;
	g_free(parent);
	drop(c, e);
}

/* The entry for path, made (and made youngest) when create. */
static struct entry *get(struct cache *c, const char *path, int create)
{
	struct entry *e = g_hash_table_lookup(c->map, path);

	if (!e && !create)
		return NULL;
	if (!e) {
		e = g_new0(struct entry, 1);
		e->path = g_strdup(path);
		g_hash_table_insert(c->map, e->path, e);
		g_queue_push_tail(&c->order, e);
		e->age = c->order.tail;
		while (c->order.length > c->o.max_entries)
			evict_oldest(c);
	} else if (create) {
		g_queue_unlink(&c->order, e->age);
		g_queue_push_tail_link(&c->order, e->age);
	}
	return e;
}

/* "/a/b" -> "/a"; "/a" -> "/"; NULL for "/". */
static char *parent_of(const char *path)
{
	const char *s = strrchr(path, '/');

	if (!s || s == path)
		return s && path[1] ? g_strdup("/") : NULL;
	return g_strndup(path, (size_t)(s - path));
}

int cache_get_attr(struct cache *c, const char *path, struct sftp_attrs *a,
		   uint32_t *nlink)
{
	int64_t now = now_ms();
	struct entry *e, *p;
	char *parent;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	e = get(c, path, 0);
	if (e && fresh(c, e->attr_until, now)) {
		*a = e->a;
		*nlink = e->nlink;
		rc = 1;
	} else if (e && fresh(c, e->neg_until, now)) {
		rc = -ENOENT;
	} else if (e && e->attr_until) {
		rc = 0;		/* exists (expired, or written): ask */
	} else if ((parent = parent_of(path))) {
		/* A fresh listing of the parent without this name, from
		 * within the negative timeout (or of a directory we made:
		 * see cache_put_dir). */
		p = get(c, parent, 0);
		if (p && p->dir && fresh(c, p->dir_until, now) &&
		    fresh(c, p->names_until, now))
			rc = -ENOENT;
		g_free(parent);
	}
	if (rc)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int cache_peek_attr(struct cache *c, const char *path, struct sftp_attrs *a,
		    uint32_t *nlink)
{
	struct entry *e;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	e = get(c, path, 0);
	if (e && e->attr_until) {
		*a = e->a;
		*nlink = e->nlink;
		rc = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void put_attr_locked(struct cache *c, const char *path,
			    const struct sftp_attrs *a, uint32_t nlink,
			    int64_t now)
{
	struct entry *e = get(c, path, 1);

	e->a = *a;
	e->nlink = nlink;
	e->attr_until = now + c->o.attr_ms;
	e->neg_until = 0;
	e->confirmed = now;
	e->asking = 0;
}

void cache_put_attr(struct cache *c, const char *path,
		    const struct sftp_attrs *a, uint32_t nlink)
{
	if (!c->o.attr_ms)
		return;
	pthread_mutex_lock(&c->lock);
	put_attr_locked(c, path, a, nlink, now_ms());
	pthread_mutex_unlock(&c->lock);
}

void cache_put_neg(struct cache *c, const char *path)
{
	struct entry *e;
	int64_t now = now_ms();

	if (!c->o.neg_ms)
		return;
	pthread_mutex_lock(&c->lock);
	e = get(c, path, 1);
	e->attr_until = 0;
	e->neg_until = now + c->o.neg_ms;
	e->confirmed = now;
	e->asking = 0;
	pthread_mutex_unlock(&c->lock);
}

int cache_confirmed_attr(struct cache *c, const char *path,
			 struct sftp_attrs *a)
{
	struct entry *e;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	e = get(c, path, 0);
	if (e && e->attr_until > ATTR_ASK &&
	    now_ms() - e->confirmed < c->o.confirm_ms) {
		*a = e->a;
		rc = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void cache_ws_use(struct cache *c, const char *path, int how)
{
	struct entry *e;

	if (!c->o.confirm_ms && !c->o.neg_ms)
		return;
	pthread_mutex_lock(&c->lock);
	e = get(c, path, how & CACHE_WS_ADD);
	if (!e || !(e->ws || (how & CACHE_WS_ADD))) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (e->ws)
		g_queue_unlink(&c->ws, e->ws);
	else
		e->ws = g_list_alloc();
	e->ws->data = e;
	g_queue_push_tail_link(&c->ws, e->ws);
	if (how & CACHE_WS_ASKING)
		e->asking = 1;
	while (c->ws.length > WS_MAX) {
		struct entry *old = g_queue_pop_head(&c->ws);

		old->ws = NULL;
	}
	pthread_mutex_unlock(&c->lock);
}

GPtrArray *cache_ws_stale(struct cache *c)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	int64_t now = now_ms();

	pthread_mutex_lock(&c->lock);
	for (GList *l = c->ws.tail; l && out->len < WS_BATCH; l = l->prev) {
		struct entry *e = l->data;
		/* Worth asking: an answer that would not serve the next use
		 * for long (past half its life), not asked yet, not ours to
		 * ask (we wrote it). */
		int aged = e->neg_until ?
			   e->neg_until - now < c->o.neg_ms / 2 :
			   c->o.confirm_ms &&
			   now - e->confirmed >= c->o.confirm_ms / 2 &&
			   e->attr_until > ATTR_ASK;

		if (e->asking || !aged)
			continue;
		e->asking = 1;
		g_ptr_array_add(out, g_strdup(e->path));
	}
	pthread_mutex_unlock(&c->lock);
	return out;
}

void cache_put_reply(struct cache *c, const char *path, int err,
		     const struct sftp_attrs *a)
{
	if (!err)
		cache_put_attr(c, path, a, 0);
	else if (err == -ENOENT)
		cache_put_neg(c, path);
	else
		cache_ask_failed(c, path);
}

void cache_ask_failed(struct cache *c, const char *path)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	if ((e = get(c, path, 0)))
		e->asking = 0;
	pthread_mutex_unlock(&c->lock);
}

/* dir's whole listing, fresh, or NULL (c->lock held). */
static struct entry *listing_of(struct cache *c, const char *dir)
{
	struct entry *e = get(c, dir, 0);

	return e && e->dir && !e->dir_names_only &&
	       fresh(c, e->dir_until, now_ms()) ? e : NULL;
}

int cache_has_dir(struct cache *c, const char *dir)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = listing_of(c, dir) != NULL;
	pthread_mutex_unlock(&c->lock);
	return r;
}

GArray *cache_get_dir(struct cache *c, const char *dir)
{
	struct entry *e;
	GArray *r = NULL;

	pthread_mutex_lock(&c->lock);
	if ((e = listing_of(c, dir)))
		r = cache_dents_copy(e->dir);
	if (r)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->lock);
	return r;
}

struct cache_fill *cache_fill_begin(struct cache *c, const char *dir)
{
	struct cache_fill *f = g_new0(struct cache_fill, 1);

	f->dir = g_strdup(dir);
	pthread_mutex_lock(&c->lock);
	c->fills = g_slist_prepend(c->fills, f);
	pthread_mutex_unlock(&c->lock);
	return f;
}

int cache_fill_dirty(struct cache *c, struct cache_fill *f)
{
	int dirty;

	pthread_mutex_lock(&c->lock);
	dirty = f->dirty;
	pthread_mutex_unlock(&c->lock);
	return dirty;
}

void cache_fill_end(struct cache *c, struct cache_fill *f,
		    const GArray *ents)
{
	int dirty;

	pthread_mutex_lock(&c->lock);
	c->fills = g_slist_remove(c->fills, f);
	dirty = f->dirty;
	pthread_mutex_unlock(&c->lock);
	if (ents && !dirty)
		cache_put_dir(c, f->dir, ents, 0);
	g_free(f->dir);
	g_free(f);
}

void cache_put_dir(struct cache *c, const char *dir, const GArray *ents,
		   int ours)
{
	int64_t now = now_ms();
	struct entry *e;

	if (!c->o.dir_ms || ents->len >= c->o.max_entries / 2)
		return;
	pthread_mutex_lock(&c->lock);
	for (guint i = 0; c->o.attr_ms && i < ents->len; i++) {
		const struct cache_dent *d =
			&g_array_index(ents, struct cache_dent, i);
		char *p = g_strconcat(dir, strcmp(dir, "/") ? "/" : "",
				      d->name, NULL);

		if (c->o.follow_links && (d->a.flags & SFTP_ATTR_PERMISSIONS) &&
		    S_ISLNK(d->a.perm))
			get(c, p, 1)->attr_until = ATTR_ASK;	/* exists */
		else
			put_attr_locked(c, p, &d->a, d->nlink, now);
		g_free(p);
	}
	e = get(c, dir, 1);	/* after the children: youngest */
	cache_dents_free(e->dir);
	e->dir = cache_dents_copy(ents);
	e->dir_names_only = 0;
	e->dir_until = now + c->o.dir_ms;
	e->names_until = ours ? e->dir_until : now + c->o.neg_list_ms;
	pthread_mutex_unlock(&c->lock);
}

char *cache_get_link(struct cache *c, const char *path)
{
	struct entry *e;
	char *r = NULL;

	pthread_mutex_lock(&c->lock);
	e = get(c, path, 0);
	if (e && e->link && fresh(c, e->link_until, now_ms()))
		r = g_strdup(e->link);
	pthread_mutex_unlock(&c->lock);
	return r;
}

void cache_put_link(struct cache *c, const char *path, const char *target)
{
	struct entry *e;

	if (!c->o.link_ms)
		return;
	pthread_mutex_lock(&c->lock);
	e = get(c, path, 1);
	g_free(e->link);
	e->link = g_strdup(target);
	e->link_until = now_ms() + c->o.link_ms;
	pthread_mutex_unlock(&c->lock);
}

/* A name in e's directory came or went: its mtime moved on the server
 * (rsync sets a directory's times after filling it, then checks them). */
static void dir_changed(struct entry *e)
{
	if (e->attr_until)
		e->attr_until = ATTR_ASK;
}

static void invalidate_locked(struct cache *c, const char *path)
{
	fills_dirty(c, path, 0);
	struct entry *e = get(c, path, 0);
	char *parent = parent_of(path);

	if (e)
		drop(c, e);
	if (parent && (e = get(c, parent, 0))) {
		e->dir_until = 0;
		dir_changed(e);
	}
	g_free(parent);
}

/* The fresh listing of path's parent, or NULL (c->lock held). */
static struct entry *parent_listing(struct cache *c, const char *path,
				    char **name)
{
	char *parent = parent_of(path);
	struct entry *p = parent ? get(c, parent, 0) : NULL;

	g_free(parent);
	if (!p || !p->dir || !p->dir_until || p->dir_until <= now_ms())
		return NULL;
	*name = strrchr(path, '/') + 1;
	return p;
}

void cache_created(struct cache *c, const char *path,
		   const struct sftp_attrs *a)
{
	struct entry *p, *e;
	char *name;
	guint i;

	pthread_mutex_lock(&c->lock);
	fills_dirty(c, path, 0);
	e = get(c, path, 1);	/* first: making it may evict the parent */
	p = parent_listing(c, path, &name);
	if (!p) {
		invalidate_locked(c, path);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	for (i = 0; i < p->dir->len; i++)
		if (!strcmp(g_array_index(p->dir, struct cache_dent, i).name,
			    name))
			break;
	if (i == p->dir->len)
		cache_dents_add(p->dir, name, a, 0);
	else
		g_array_index(p->dir, struct cache_dent, i).a = *a;
	p->dir_names_only = 1;
	dir_changed(p);
	e->attr_until = ATTR_ASK;
	e->neg_until = 0;
	pthread_mutex_unlock(&c->lock);
}

void cache_forget_attr(struct cache *c, const char *path)
{
	struct entry *p, *e;
	char *name;

	pthread_mutex_lock(&c->lock);
	fills_dirty(c, path, 0);	/* a listing in flight saw the old */
	p = parent_listing(c, path, &name);
	e = get(c, path, 0);
	if (p)
		p->dir_names_only = 1;
	if (e) {
		/* its own listing, link target stay: only attributes go */
		e->neg_until = 0;
		e->attr_until = ATTR_ASK;
	}
	pthread_mutex_unlock(&c->lock);
}

void cache_invalidate(struct cache *c, const char *path)
{
	pthread_mutex_lock(&c->lock);
	invalidate_locked(c, path);
	pthread_mutex_unlock(&c->lock);
}

void cache_invalidate_tree(struct cache *c, const char *path)
{
	size_t n = strlen(path);
	GList *l;

	pthread_mutex_lock(&c->lock);
	invalidate_locked(c, path);
	fills_dirty(c, path, 1);
	for (l = c->order.head; l;) {
		struct entry *e = l->data;

		l = l->next;
		if (!strncmp(e->path, path, n) &&
		    (e->path[n] == '/' || (n == 1 && path[0] == '/')))
			drop(c, e);
	}
	pthread_mutex_unlock(&c->lock);
}

void cache_stats(struct cache *c, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&c->lock);
	*hits = c->hits;
	*misses = c->misses;
	pthread_mutex_unlock(&c->lock);
}
