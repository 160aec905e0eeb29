/* fs_int: what the fs*.c files share, private to them (the interface is
 * include/rfs/fs.h): struct rfs (one mount), struct node (an inode),
 * struct file (an open file), struct op (an operation in flight), and
 * the functions one file offers the others. Functions named *_locked
 * are called with fs->lock held.
 */
#ifndef RFS_FS_INT_H
#define RFS_FS_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <glib.h>

#include "rfs/fs.h"
#include "rfs/fsreq.h"
#include "rfs/stream.h"
#include "rfs/cache.h"

#define NAME_MAX_SFTP 255

/* Another name of a node: a hard link made through the mount. */
struct node_alias {
	struct node *parent;	/* holds a ref */
	char *name;
	char *key;		/* in fs->names, pointing at the node */
};

struct node {
	fuse_ino_t ino;
	struct node *parent;	/* NULL for the root */
	GSList *files;		/* struct file *, open on this node */
	char *name;		/* NULL for the root */
	char *key;		/* key in fs->names, NULL once detached */
	GSList *aliases;	/* struct node_alias *: its other names
				 * (never a directory's); parent, name and
				 * key above are the one node_path() uses */
	uint64_t nlookup;	/* kernel references */
	int refs;		/* ops in flight + children */
	int opens;		/* open file handles */
	int hidden;		/* renamed away by unlink while open */
	uint32_t nlink;		/* from readdir's longname or link(); 0 =
				 * unknown */
	uint32_t mode;		/* last known st_mode */
	uint64_t dir_hash;	/* of the listing the kernel last got */
	unsigned lookup_misses;	/* lookups in it the cache could not answer */
	int64_t ctime_ours;	/* s: the last change this mount made to it
				 * (atomic): SFTP v3 has no ctime */
	int64_t ctime_shown;	/* the latest ctime shown: never goes back */
	uint64_t changes;	/* node_changed() calls: attributes, names,
				 * entries changed through the mount
				 * (atomic) */
	int data_known;		/* the kernel's page cache of the file holds
				 * the content of this size and mtime */
	uint64_t data_size;
	uint32_t data_mtime;
};

struct rfs {
	struct sftp_conn *conn;
	GHashTable *hidden;	/* names this mount hid files under (see
				 * fs_unlink), owned; guarded by lock */
	char *base;		/* absolute remote directory, no trailing / */
	struct fs_opts o;
	uint32_t exts;
	struct stream_pool *pool;
	struct cache *cache;
	GHashTable *listings;	/* path -> struct listing *, being fetched */
	int prefetching;	/* listings fetched ahead, in flight */
	GQueue prefetch_q;	/* char *: paths waiting for a free slot */
	pthread_mutex_t lock;	/* guards the tables and every node field */
	GHashTable *inodes;	/* fuse_ino_t -> struct node * */
	GHashTable *names;	/* "parent-ino/name" -> struct node * */
	GHashTable *dirs;	/* struct dir *: open; the kernel may unmount
				 * before it sends their RELEASEDIR */
	struct node *root;
	int opens;		/* open files, all nodes */
	int offline;		/* the link is down or suspect (atomic) */
	int special_warned;	/* said why mknod is EPERM (atomic) */
	GSList *stale_waiters;	/* struct op *: stats with an expired cache
				 * entry to answer if the link fails */
	pthread_mutex_t stale_lock;	/* guards stale_waiters; held while
					 * answering them (before fs->lock) */
	struct statvfs last_statfs;	/* answered while offline, and */
	int have_statfs;
	int64_t statfs_ms;	/* for cache_stat_timeout from then */
	int space_changed;	/* by us since (atomic): ask again */
	int one_conn;		/* max_conns=1: an open need not wait to
				 * see where copy_file_range wants it */
	struct fuse_session *se;	/* for the kernel's page cache */
	GHashTable *walks;	/* directory path -> struct walk */
	GHashTable *ahead;	/* path -> struct ahead: small files fetched
				 * for the opens to come */
	GQueue ahead_ready;	/* struct ahead *: fetched, oldest first */
	uint64_t ahead_mem;	/* their bytes */
	int ahead_fetching;	/* on the way */
	uint64_t ahead_fetched, ahead_used;	/* files so far */
	GThreadPool *store_pool;	/* one thread: ahead_notify_run */
	int quiesced;		/* fs_quiesce: no more stores */
};

struct file {			/* fi->fh of an open file */
	struct node *node;
	struct stream *st;	/* readahead, write-behind; owns the handle */
	int writable;
	struct sftp_attrs a;	/* known attributes (fs->lock), if have_a: a
				 * file we created; our own setattrs on it */
	int have_a;
	uint64_t a_writes;	/* the stream's write count a.mtime saw */
};

/* One multi-step operation in flight. */
struct op {
	struct rfs *fs;
	struct fsreq r;
	struct node *node, *parent, *newparent;	/* each holds a ref */
	char *path, *path2, *name, *name2;
	struct sftp_attrs a;	/* attributes to set / last received */
	struct sftp_file *file;	/* a reference: the file may be released
				 * while the op runs (a caller interrupted) */
	struct fuse_file_info fi;
	int flags, to_set, err;
	int existed;		/* create: the name was there already */
	uint32_t own_uid, own_gid;	/* create: the caller's, to own it */
	mode_t mode;
	void (*probe_done)(struct op *op, int rc, struct sftp_attrs *a);
	int stale_kind;		/* 1 getattr, 2 lookup: stale is its answer
				 * if the link fails meanwhile */
	struct sftp_attrs stale;
	int64_t start_ms;	/* statfs: when it was asked */
	struct ahead *ahead;	/* open: its content, fetched ahead */
	struct dir_seen *seen;	/* create: the directory's LSTAT behind it */
};

static inline struct rfs *fs_ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

struct dir;

/* fs_node.c: the node table, lookup counts, hidden names, hard links.
 * node_unref, node_stat, node_entry_ref, node_forget_name, node_is_hidden,
 * node_hide, node_move, node_attr_path, node_name_gone and node_path_gone
 * take fs->lock; the others want it held (node_hidden_name,
 * node_free_aliases: no lock). */
char *node_path(struct rfs *fs, struct node *n);
char *node_child_path(struct rfs *fs, struct node *parent, const char *name);
char *node_key(struct node *parent, const char *name);
struct node *node_at(struct rfs *fs, const char *path);
fuse_ino_t node_ino(struct rfs *fs, const char *path);
struct node *node_get(struct rfs *fs, fuse_ino_t ino);
void node_maybe_free(struct rfs *fs, struct node *n);
struct node *node_find_or_add(struct rfs *fs, struct node *parent,
			      const char *name);
void node_unref(struct rfs *fs, struct node *n);
void node_push_files_locked(struct node *n, int invalidate);
void node_stat(struct rfs *fs, struct node *n,
	       const struct sftp_attrs *a, struct stat *st);
struct node *node_entry_ref(struct rfs *fs, struct node *parent,
			    const char *name, const struct sftp_attrs *a,
			    struct fuse_entry_param *e);
void node_forget(struct rfs *fs, fuse_ino_t ino, uint64_t nlookup);
void node_forget_name(struct rfs *fs, struct node *parent, const char *name);
/* Hard links made through the mount: one node, several names. */
/* The node named parent/name, or NULL. */
struct node *node_named_locked(struct rfs *fs, struct node *parent,
			       const char *name);
/* Is parent/name one of n's other names (not the one node_path uses)? */
int node_is_alias_locked(struct node *n, struct node *parent,
			 const char *name);
/* parent/name, just made a hard link of n on the server, is another name
 * of n; n's link count grows. 0, or -1 if n takes no other name (the
 * root, a directory, hidden or detached: the caller gives the name a node
 * of its own). */
int node_link_locked(struct rfs *fs, struct node *n, struct node *parent,
		     const char *name);
/* n's link count changed: what the caches hold under each of its names
 * (listings show link counts) goes. */
void node_names_changed_locked(struct rfs *fs, struct node *n);
/* Where a lookup of parent/name finds its cached attributes: when it is
 * another name of a node, that node's path (g_free), which every change
 * made through the mount forgets; else NULL: its own path. */
char *node_attr_path(struct rfs *fs, struct node *parent, const char *name);
/* The server says parent/name does not exist (someone else removed it):
 * a name of a node with other names is taken off it, so that requests
 * about the node go by a name that exists. */
void node_name_gone(struct rfs *fs, struct node *parent, const char *name);
/* A request by path about n found nothing there: when path is n's own
 * (someone else removed or renamed that name on the server) and n has
 * another name, n goes by that one from now on. */
void node_path_gone(struct rfs *fs, struct node *n, const char *path);
/* Free n's other names at unmount (no cache, no parents to free). */
void node_free_aliases(struct node *n);
char *node_hidden_name(void);
int node_is_hidden(struct rfs *fs, const char *name);
void node_remove_hidden_locked(struct rfs *fs, struct node *n);
void node_hide(struct rfs *fs, struct node *n, char *hidden);
/* st as n shows it, fs->lock held: its inode number, a ctime of our own
 * (never going back), nlink 0 once unlinked while open. */
void node_show_locked(struct node *n, struct stat *st);
/* This mount changed n (attributes, data, names, links): its ctime
 * moves to now. Any thread, no lock. */
void node_changed(struct node *n);
/* An entry of directory n was made, removed or renamed through the
 * mount: its cached attributes (mtime) go, its ctime moves. */
void node_entries_changed(struct rfs *fs, struct node *n);
/* op made its entry in op->parent: as node_entries_changed, and the
 * directory's attributes seen right behind the create (dir_seen_start)
 * are kept when nothing else changed its entries meanwhile. */
void node_created_in(struct op *op);
/* With default_permissions the kernel asks for a directory's attributes
 * before each create in it, and each create makes them stale: an LSTAT of
 * the directory right behind the create, in the same round trip, has them
 * again. Fills *also for the create's request and returns it, or NULL
 * where the kernel does not ask. */
const struct sftp_also *dir_seen_start(struct op *op, struct sftp_also *also);
void dir_seen_unref(struct dir_seen *ds);
/* mkdir (+1) or rmdir (-1) below n: its link count, when known. Under
 * fs->lock. */
void node_subdirs_locked(struct node *n, int delta);
void node_move(struct rfs *fs, struct node *parent, const char *name,
	       struct node *newparent, const char *newname);

/* fs_op.c: ops, replies, shown attributes, stale answers, probes */
int path_too_long(const char *path);
/* What to set on what op just made (op->a: its attributes, a new entry,
 * not a name that was there): *fix, the exact mode, when the server's
 * umask cut it (mode_fixable) or a chown is to clear setuid/setgid bits;
 * *own, the caller as owner on a root login shared with allow_other
 * (then op->own_uid/own_gid too). op->a shows the mode to come. Returns
 * CREATE_FIX_* bits, 0 when nothing is to be set. */
enum { CREATE_FIX_MODE = 1, CREATE_FIX_OWNER = 2 };
int op_after_create(struct op *op, struct sftp_attrs *fix,
		    struct sftp_attrs *own);
/* The chown of op_creator_ids answered: on success op->a shows the new
 * owner (op->own_uid, own_gid); no reply (the next step's). */
void op_owned(struct sftp_reply *r, void *data);
void op_interruptible(struct op *op);
struct op *op_new(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		  const char *name);
void op_free(struct op *op);
void op_reply_err(struct op *op, int err);
int to_stat(struct rfs *fs, const struct sftp_attrs *a,
	    uint32_t nlink, struct stat *st);
int login_may(struct rfs *fs, const struct sftp_attrs *a, int mask);
void reply_entry(struct op *op, struct node *parent, const char *name,
		 const struct sftp_attrs *a);
void reply_attr(struct op *op, struct node *n,
		const struct sftp_attrs *a);
int stale_wait(struct op *op, const char *path, int kind);
void stale_done(struct op *op);
void stale_release(struct rfs *fs);
uint8_t stat_type(struct rfs *fs);
void probe(struct op *op, const char *path,
	   void (*done)(struct op *, int, struct sftp_attrs *));
int is_failure(struct sftp_reply *r);
void op_use_file(struct op *op, struct fuse_file_info *fi);
int op_push_node(struct op *op, int invalidate);

/* fs_dir.c: listings and directories */
void dir_lookup_miss(struct op *op);
void dir_free(struct dir *d);
GArray *dir_dents_new(void);
int dir_listing_onward(struct rfs *fs, const char *path);
void fs_opendir(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		off_t off, struct fuse_file_info *fi);
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
		    off_t off, struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi);

/* fs_ahead.c: small files fetched ahead; the notify thread */
void walk_free(gpointer p);
void ahead_forget_locked(struct rfs *fs, const char *path,
			 int tree);
void ahead_forget(struct rfs *fs, const char *path, int tree);
void walk_onward_listed(struct rfs *fs, const char *dpath,
			const GArray *ents);
void walk_note(struct op *op);
void ahead_notify_run(gpointer data, gpointer user);
void ahead_notify_push_locked(struct rfs *fs, struct op *store,
			      fuse_ino_t parent, const char *name);
int ahead_use(struct op *op, const struct sftp_attrs *a);
void ahead_free_cb(gpointer k, gpointer v, gpointer data);

/* fs_file.c: open files */
int file_getattr_local(struct op *op);
int file_setattr_local(struct op *op, struct file *only);
void file_forget_attrs(struct rfs *fs, struct node *n);
void file_set_path(struct file *f, const char *path);
int file_probably_readable(struct rfs *fs, const struct sftp_attrs *a);
void file_open_known(struct op *op, const struct sftp_attrs *a);
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
	      size_t size, off_t off, struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi);
void fs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
			off_t off_in, struct fuse_file_info *fi_in,
			fuse_ino_t ino_out, off_t off_out,
			struct fuse_file_info *fi_out, size_t len,
			int flags);

/* fs.c */
void revalidate_ws(struct rfs *fs);
int mode_fixable(mode_t want, const struct sftp_attrs *got);
int unknown_create(struct op *op, const char *what);
/* The LSTAT after op made op->path2 answered: owner and mode fixed
 * (op_after_create), the entry replied. */
void created_stat(struct sftp_reply *r, void *data);

/* fs_special.c: mknod of a fifo, socket or device (op from op_new) */
void special_mknod(struct op *op, mode_t mode, dev_t rdev);
void space_changed(struct rfs *fs);

#endif
