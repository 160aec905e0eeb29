/* mount_helper: the command line of a mount(8) helper.
 *
 * mount(8) runs /sbin/mount.TYPE (here mount.rfs, or mount.fuse.rfs for
 * fstab type fuse.rfs) as
 *     mount.rfs SOURCE MOUNTPOINT [-s] [-f] [-n] [-v] [-o OPTS]
 *               [-t TYPE.SUBTYPE] [-N NAMESPACE]
 * where -f means "fake" (do everything but mount), not rfs's "foreground".
 * This module only reads that argv; cli.c gives the options their meaning
 * with the same classes as rfs's own -o. Pure: no I/O; any thread.
 */
#ifndef RFS_MOUNT_HELPER_H
#define RFS_MOUNT_HELPER_H

#include <glib.h>

struct mount_helper {
	char *source, *target;	/* borrowed from argv */
	GPtrArray *opts;	/* each -o argument (borrowed), in order */
	const char *type;	/* -t, or NULL */
	const char *ns;		/* -N: a mount namespace file, or NULL */
	int fake;		/* -f: check, do not mount */
	int nomtab;		/* -n: no mtab (rfs never writes one) */
	int sloppy;		/* -s: unknown options are warnings */
	int verbose;		/* -v */
	int help, version;	/* -h/--help, -V/--version */
};

/* Is argv0 (a path) a helper name: basename "mount.*"? */
gboolean mount_helper_named(const char *argv0);

/* Parse argv into *mh (zeroed first; mount_helper_clear() it even on
 * failure). Flags may be grouped ("-nv") and come anywhere; a value may
 * be attached ("-oro") or follow. Returns 0, or -1 with *err (code 1)
 * naming the problem. */
int mount_helper_parse(int argc, char **argv, struct mount_helper *mh,
		       GError **err);

/* Is type (from -t) one rfs serves: "rfs" or "*.rfs" (fuse.rfs)? */
gboolean mount_helper_type_ok(const char *type);

void mount_helper_clear(struct mount_helper *mh);

/* Split an -o argument ("a,b\\,c,d") on its unescaped commas; a
 * backslash keeps the next character as it is. Empty items vanish. A word
 * for which joins(previous item, word) says so is put back onto the
 * previous item with its comma (a list value: "Ciphers=a,b"). The items
 * (g_ptr_array_free). */
GPtrArray *mount_opts_split(const char *arg,
			    gboolean (*joins)(const char *prev,
					      const char *word));

#endif
