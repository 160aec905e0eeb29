/* idmap: how the server's uids and gids show locally, and back (-o idmap=).
 *
 *   none  as the server has them
 *   user  the SSH login's uid/gid show as the mounting user's, and back
 *         (the default for a mount that is not shared: allow_other unset)
 *   file  uidfile=/gidfile=: lines "name:id", name a local user or group,
 *         id the server's (sshfs's format); an id in neither file shows as
 *         it is (nomap=ignore) or makes a stat fail with EPERM
 *         (nomap=error, sshfs's default)
 *
 * The login's identity is here too: access() answers as the server would
 * for it (rfs(1), PERMISSIONS). Thread: any, read-only once made.
 */
#ifndef RFS_IDMAP_H
#define RFS_IDMAP_H

#include <stdint.h>
#include <glib.h>

enum idmap_mode { IDMAP_NONE = 0, IDMAP_USER, IDMAP_FILE };
enum { IDMAP_UID = 0, IDMAP_GID = 1 };

struct idmap {
	int mode;		/* enum idmap_mode */
	int nomap_error;	/* file: an unlisted server id is EPERM */
	int have_login;		/* login[] is known */
	uint32_t login[2];	/* the SSH login's uid, gid on the server */
	uint32_t local[2];	/* the mounting user's uid, gid */
	GHashTable *to_local[2], *to_remote[2];	/* file: id -> id */
};

/* One map file's text into m (kind: IDMAP_UID or IDMAP_GID); lookup
 * turns a local name into its id (0, or -1: no such name). 0, or -1 with
 * *e naming the line. Pure: the caller reads the file. */
int idmap_parse(struct idmap *m, int kind, const char *file,
		const char *text, int (*lookup)(int kind, const char *name,
						uint32_t *id),
		GError **e);
/* Read uidfile and gidfile (either may be NULL) into m, names looked up
 * in the local user and group databases. 0, or -1 with *e. */
int idmap_load(struct idmap *m, const char *uidfile, const char *gidfile,
	       GError **e);
void idmap_clear(struct idmap *m);

/* The server's id as shown locally: 0, or -1 (unlisted, nomap=error). */
int idmap_local(const struct idmap *m, int kind, uint32_t remote,
		uint32_t *out);
/* A local id (chown's) as the server's. */
uint32_t idmap_remote(const struct idmap *m, int kind, uint32_t local);

#endif
