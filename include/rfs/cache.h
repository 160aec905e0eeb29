/* cache: what rfs knows about remote paths, for a while.
 *
 * Attributes, negative entries (the name does not exist), directory
 * listings and symlink targets, keyed by remote path, each kind with its
 * own timeout. Filled from LSTAT replies and from READDIR (one listing
 * answers every lookup in that directory), invalidated precisely by our
 * own changes: the path, its parent's listing, and for a directory that
 * is renamed or removed, everything below it.
 *
 * Coherence policy (documented in rfs(1)): our own changes are seen at
 * once; a change made on the server by someone else is seen after the
 * timeout (cache_timeout, default 20 s, as sshfs); a name created there
 * after a listing is seen after cache_negative_timeout (default 0: at
 * once), except in a directory this mount made itself; open() of a file
 * asks the server again (close-to-open).
 *
 * Bounded: at most max_entries entries; the oldest go first.
 * Thread: any; one lock inside, never held while calling out.
 */
#ifndef RFS_CACHE_H
#define RFS_CACHE_H

#include <glib.h>
#include <stdint.h>

#include "rfs/sftp_attrs.h"

struct cache_opts {
	int attr_ms, dir_ms, link_ms, neg_ms;	/* 0: do not cache */
	unsigned max_entries;
	int follow_links;	/* a symlink shows as its target: a listing's
				 * attributes of one are not the shown ones */
	int confirm_ms;		/* attributes the server gave this lately
				 * count as an open's revalidation
				 * (revalidate_window; 0: never) */
	int neg_list_ms;	/* a name missing from a fetched listing is
				 * missing this long (0: asked) */
};

struct cache_dent {
	char *name;
	struct sftp_attrs a;
	uint32_t nlink;
};

struct cache;

struct cache *cache_new(const struct cache_opts *o);
void cache_free(struct cache *c);		/* NULL is fine */

/* 1: *a and *nlink filled; -ENOENT: known not to exist; 0: unknown. */
int cache_get_attr(struct cache *c, const char *path, struct sftp_attrs *a,
		   uint32_t *nlink);
/* Attributes kept for path, expired or not: 1 or 0. */
int cache_peek_attr(struct cache *c, const char *path, struct sftp_attrs *a,
		    uint32_t *nlink);
void cache_put_attr(struct cache *c, const char *path,
		    const struct sftp_attrs *a, uint32_t nlink);
/* The server said path does not exist: that stands for neg_ms. */
void cache_put_neg(struct cache *c, const char *path);

/* Revalidation by working set. Close-to-open asks the server for a
 * file's attributes at each open, and a missing name is asked each
 * lookup once neg_ms is over: one round trip each, one after the other,
 * as a program opens its files one by one. So what was opened or found
 * missing lately is a working set; when one of it must be asked again,
 * the rest is asked too, all at once: a missing name's answer stands for
 * neg_ms, attributes for confirm_ms (when not 0), so the program's next
 * lookups (and opens) of the set need no round trip. */
/* 1 and *a: the server confirmed path's attributes within confirm_ms. */
int cache_confirmed_attr(struct cache *c, const char *path,
			 struct sftp_attrs *a);
/* path was opened or found missing: CACHE_WS_ADD puts it into the
 * working set (youngest; without it, only a path already there is
 * touched); CACHE_WS_ASKING: the caller is asking the server for it. */
enum { CACHE_WS_ADD = 1, CACHE_WS_ASKING = 2 };
void cache_ws_use(struct cache *c, const char *path, int how);
/* The working set's paths whose answer is past half its life and not
 * being asked: the caller asks for each (g_ptr_array_unref) and
 * puts the answer with cache_put_attr, cache_put_neg or
 * cache_ask_failed. */
GPtrArray *cache_ws_stale(struct cache *c);
void cache_ask_failed(struct cache *c, const char *path);
/* The server's answer to a stat of path: its attributes (err 0), that it
 * is missing (-ENOENT), or no word on it (another error). */
void cache_put_reply(struct cache *c, const char *path, int err,
		     const struct sftp_attrs *a);

/* A listing being fetched: cache_fill_end() keeps ents (NULL: failed)
 * unless one of our own changes touched the directory meanwhile (the
 * listing may predate it). */
struct cache_fill;
struct cache_fill *cache_fill_begin(struct cache *c, const char *dir);
void cache_fill_end(struct cache *c, struct cache_fill *f,
		    const GArray *ents);
/* Has a change touched its directory since it began? */
int cache_fill_dirty(struct cache *c, struct cache_fill *f);
/* Is there a fresh listing of dir? (No copy.) */
int cache_has_dir(struct cache *c, const char *dir);
/* A fresh listing of dir: a copy (free with cache_dents_free), or NULL. */
GArray *cache_get_dir(struct cache *c, const char *dir);
/* Store a whole listing (struct cache_dent, copied); also the attributes
 * of every entry, so lookups in dir need no round trip. A name missing
 * from it counts as missing for neg_ms (someone else may create it on the
 * server at any time), or, ours: a directory this mount just made, whose
 * every change it has seen, for as long as the listing is kept. */
void cache_put_dir(struct cache *c, const char *dir, const GArray *ents,
		   int ours);
void cache_dents_free(GArray *ents);
/* Append an entry (name copied). */
void cache_dents_add(GArray *ents, const char *name,
		     const struct sftp_attrs *a, uint32_t nlink);
GArray *cache_dents_copy(const GArray *ents);

/* The symlink target (g_free) or NULL. */
char *cache_get_link(struct cache *c, const char *path);
void cache_put_link(struct cache *c, const char *path, const char *target);

/* We made path (attrs a, as far as we know): when its parent's listing
 * is fresh, add the name to it (lookups of other names there still need
 * no round trip) and ask the server for path's attributes; else as
 * cache_invalidate. */
void cache_created(struct cache *c, const char *path,
		   const struct sftp_attrs *a);
/* We changed path's content or attributes, not its name: ask for its
 * attributes; the parent's listing keeps answering which names exist
 * (but is fetched again for readdir). */
void cache_forget_attr(struct cache *c, const char *path);
/* Forget path and its parent's listing. */
void cache_invalidate(struct cache *c, const char *path);
/* ... and everything below path (a directory renamed or removed). */
void cache_invalidate_tree(struct cache *c, const char *path);

/* While the link is down or suspect: serve what is cached even past its
 * timeout (stale-while-disconnected), so ls and stat answer at once. */
void cache_set_offline(struct cache *c, int offline);

/* Counters for statistics: hits and misses so far. */
void cache_stats(struct cache *c, uint64_t *hits, uint64_t *misses);

#endif
