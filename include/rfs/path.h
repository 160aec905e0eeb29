/* path: remote paths taken apart lexically, and symlink targets as the
 * mount shows them. Pure (no I/O, no lock); any thread. */
#ifndef RFS_PATH_H
#define RFS_PATH_H

#include <glib.h>

/* Lexically normalized absolute path: "." and ".." resolved, ".." at
 * "/" stays there. Returns its components, NULL-terminated (g_strfreev);
 * "/" has none. */
char **path_parts(const char *path);

/* Does a relative target, from a link depth directories below the mount
 * root, surely stay inside the mount? 1 yes, 0 not surely. */
int path_rel_stays_inside(const char *target, guint depth);

/* The target of the symlink at path link (absolute, below base_path,
 * the mounted directory: absolute, no trailing "/" but for "/" itself)
 * as the mount shows it: a new string (g_free). The caller shows targets
 * raw instead with symlinks=raw. */
char *path_link_shown(const char *base_path, const char *link,
		      const char *target);

#endif
