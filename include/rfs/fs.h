/* fs: FUSE low-level operations over the SFTP client.
 *
 * Every fuse_req_t gets exactly one reply, either in the op or in the SFTP
 * completion (I/O thread). No op waits for the network.
 */
#ifndef RFS_FS_H
#define RFS_FS_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <sys/types.h>

#include "rfs/sftp.h"
#include "rfs/cache.h"
#include "rfs/idmap.h"

#define FS_MAX_LISTING (4 * 1000 * 1000)

struct fs_opts {
	struct idmap idmap;	/* ids shown; the login's, for access() */
	int follow_symlinks;	/* show what a symlink points to instead */
	int nocto;		/* open trusts the attribute cache */
	int noxattr;		/* xattr calls: ENOSYS, the kernel stops */
	int symlinks_raw;	/* show targets as the server has them */
	int uid, gid;		/* -1: not forced */
	int umask;		/* -1: none */
	double attr_timeout;	/* s: kernel attribute/entry cache */
	double neg_timeout;	/* s: kernel negative entries */
	struct cache_opts cache;	/* rfs's own metadata cache */
	int max_write;		/* bytes per FUSE write */
	int owner_callers;	/* allow_other: on a root login, what a
				 * caller creates is made the caller's */
	int kernel_perms;	/* default_permissions: the kernel checks
				 * modes, asking for a directory's attributes
				 * before each create in it */
	int no_special;		/* special_files=no: mknod of a fifo, socket
				 * or device is EPERM without asking */
	int max_listing;	/* entries a listing may have, or EIO (a
				 * server that never ends one); 0:
				 * FS_MAX_LISTING */
};

struct rfs;

/* base: absolute remote directory. Returns a new rfs; fs_free() it. */
struct rfs *fs_new(struct sftp_conn *c, const char *base,
		   const struct fs_opts *o);
void fs_free(struct rfs *fs);
const struct fuse_lowlevel_ops *fs_ops(void);

/* The session fs serves: files fetched ahead go into the kernel's page
 * cache through it. Before the session runs. */
void fs_set_session(struct rfs *fs, struct fuse_session *se);
/* Before the connection goes: finish the opens that wait on the thread
 * that stores fetched data, and start no more. */
void fs_quiesce(struct rfs *fs);
/* -o noxattr: answer every xattr call ENOSYS (the kernel then stops
 * asking, also for the stats). Any thread. */
int fs_noxattr(struct rfs *fs);
/* The connection's counters and the metadata cache's hits and misses,
 * for stats.c. Any thread. */
void fs_stats(struct rfs *fs, struct sftp_stats *s, uint64_t *hits,
	      uint64_t *misses);
/* Small files fetched ahead so far, and how many of them an open used. */
void fs_ahead_stats(struct rfs *fs, uint64_t *fetched, uint64_t *used);

#endif
