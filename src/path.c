/* path: remote paths taken apart lexically, and symlink targets as the
 * mount shows them (a hostile server must not reach the client's files
 * through a link). Pure. */
#include <string.h>
#include <glib.h>

#include "rfs/path.h"

/* Lexically normalized absolute path: "." and ".." resolved, ".." at
 * "/" stays there. Components into *parts (g_strfreev). */
char **path_parts(const char *path)
{
	char **in = g_strsplit(path, "/", -1);
	GPtrArray *out = g_ptr_array_new();

	for (char **p = in; *p; p++) {
		if (!**p || !strcmp(*p, "."))
			continue;
		if (!strcmp(*p, "..")) {
			if (out->len)
				g_free(g_ptr_array_remove_index(out,
								out->len - 1));
			continue;
		}
		g_ptr_array_add(out, g_strdup(*p));
	}
	g_ptr_array_add(out, NULL);
	g_strfreev(in);
	return (char **)g_ptr_array_free(out, FALSE);
}

/* Does a relative target, from a link depth directories below the
 * mount root, surely stay inside the mount? Only ".." first (the link's
 * own directories, which are directories), no further up than the root,
 * then plain names: a ".." after a name that is a symlink would go up
 * from wherever that one leads (the mount root: then out of it). */
int path_rel_stays_inside(const char *target, guint depth)
{
	char **t = g_strsplit(target, "/", -1);
	int named = 0, ok = 1;

	for (char **p = t; *p && ok; p++) {
		if (!**p || !strcmp(*p, "."))
			continue;
		if (strcmp(*p, "..") != 0)
			named = 1;
		else if (named || depth-- == 0)
			ok = 0;
	}
	g_strfreev(t);
	return ok;
}

/* A symlink target as the mount shows it. A hostile or careless server
 * must not reach the client's own files through a link ("/etc/shadow" or
 * "../../../../etc/shadow" followed by a root backup job): unless
 * symlinks=raw (the caller checks), an absolute target is rewritten
 * relative to the link: to the file when it is inside the mounted
 * directory (sshfs's transform_symlinks: it works wherever the mount
 * is), else to the same path below the mount root, as if the mount were
 * the server's "/". A
 * relative target is shown as it is when it surely stays inside
 * (path_rel_stays_inside); any other is taken, lexically, as the absolute
 * path it names from the link's directory, and rewritten as one. */
char *path_link_shown(const char *base_path, const char *link,
		      const char *target)
{
	char *dir, *abs = NULL, **base, **ldir, **t;
	guint nb, nl, i, skip;
	GString *out;

	dir = g_path_get_dirname(link);
	base = path_parts(base_path);
	ldir = path_parts(dir);
	nb = g_strv_length(base);
	nl = g_strv_length(ldir);
	if (target[0] != '/') {
		if (path_rel_stays_inside(target, nl > nb ? nl - nb : 0)) {
			g_free(dir);
			g_strfreev(base);
			g_strfreev(ldir);
			return g_strdup(target);	/* as anywhere */
		}
		abs = g_strconcat(dir, "/", target, NULL);
		target = abs;
	}
	t = path_parts(target);
	/* Inside the base: skip it; else the whole path, below the root. */
	skip = nb;
	for (i = 0; i < nb && skip; i++)
		if (!t[i] || strcmp(t[i], base[i]) != 0)
			skip = 0;
	out = g_string_new(NULL);
	for (i = nb; i < nl; i++)	/* up to the mount root */
		g_string_append(out, "../");
	for (i = skip; t[i]; i++)	/* and down */
		g_string_append_printf(out, "%s/", t[i]);
	if (out->len)
		g_string_truncate(out, out->len - 1);
	else
		g_string_assign(out, ".");
	g_free(dir);
	g_free(abs);
	g_strfreev(base);
	g_strfreev(ldir);
	g_strfreev(t);
	return g_string_free(out, FALSE);
}
