/* mount_helper: argv of mount.rfs as mount(8) calls it. */
#include <string.h>
#include <glib.h>

#include "rfs/mount_helper.h"
#include "rfs/util.h"

gboolean mount_helper_named(const char *argv0)
{
	const char *base;

	if (!argv0)
		return FALSE;
	base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	return g_str_has_prefix(base, "mount.") && base[6];
}

gboolean mount_helper_type_ok(const char *type)
{
	return !strcmp(type, "rfs") || g_str_has_suffix(type, ".rfs");
}

void mount_helper_clear(struct mount_helper *mh)
{
	if (mh->opts)
		g_ptr_array_free(mh->opts, TRUE);
	memset(mh, 0, sizeof(*mh));
}

/* One flag group "-snv", or "-o VALUE" / "-oVALUE" (also -t, -N).
 * Returns how many extra argv entries it used (0 or 1), or -1. */
static int one_group(struct mount_helper *mh, int argc, char **argv, int i,
		     GError **err)
{
	const char *a = argv[i];

	for (const char *p = a + 1; *p; p++) {
		const char *v;

		switch (*p) {
		case 's': mh->sloppy = 1; continue;
		case 'f': mh->fake = 1; continue;
		case 'n': mh->nomtab = 1; continue;
		case 'v': mh->verbose = 1; continue;
		case 'h': mh->help = 1; continue;
		case 'V': mh->version = 1; continue;
		case 'o': case 't': case 'N':
			break;
		default:
			rfs_set_error(err, RFS_EXIT_USAGE, "unknown option "
				      "'-%c' (mount.rfs takes -o, -s, -f, -n, "
				      "-v, -t, -N)", *p);
			return -1;
		}
		/* A value: the rest of this word, or the next word. */
		v = p[1] ? p + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
		if (!v) {
			rfs_set_error(err, RFS_EXIT_USAGE, "option '-%c' needs "
				      "a value", *p);
			return -1;
		}
		if (*p == 'o')
			g_ptr_array_add(mh->opts, (char *)v);
		else if (*p == 't')
			mh->type = v;
		else
			mh->ns = v;
		return p[1] ? 0 : 1;
	}
	return 0;
}

int mount_helper_parse(int argc, char **argv, struct mount_helper *mh,
		       GError **err)
{
	int npos = 0, dashdash = 0;

	memset(mh, 0, sizeof(*mh));
	mh->opts = g_ptr_array_new();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int used;

		if (!dashdash && !strcmp(a, "--")) {
			dashdash = 1;
		} else if (!dashdash && !strcmp(a, "--help")) {
			mh->help = 1;
		} else if (!dashdash && !strcmp(a, "--version")) {
			mh->version = 1;
		} else if (!dashdash && a[0] == '-' && a[1]) {
			used = one_group(mh, argc, argv, i, err);
			if (used < 0)
				return -1;
			i += used;
		} else if (npos == 0) {
			mh->source = argv[i];
			npos++;
		} else if (npos == 1) {
			mh->target = argv[i];
			npos++;
		} else {
			rfs_set_error(err, RFS_EXIT_USAGE, "too many arguments: "
				      "'%s' (mount.rfs SOURCE MOUNTPOINT "
				      "[-o options])", a);
			return -1;
		}
	}
	if (mh->help || mh->version)
		return 0;
	if (npos < 2) {
		rfs_set_error(err, RFS_EXIT_USAGE, "missing %s (mount.rfs "
			      "[user@]host:[dir] MOUNTPOINT [-o options])",
			      npos ? "MOUNTPOINT" : "SOURCE and MOUNTPOINT");
		return -1;
	}
	if (mh->type && !mount_helper_type_ok(mh->type)) {
		rfs_set_error(err, RFS_EXIT_USAGE, "filesystem type '%s' is not "
			      "rfs (rfs or fuse.rfs)", mh->type);
		return -1;
	}
	return 0;
}

GPtrArray *mount_opts_split(const char *arg,
			    gboolean (*joins)(const char *prev,
					      const char *word))
{
	GPtrArray *items = g_ptr_array_new_with_free_func(g_free);
	GString *cur = g_string_new(NULL);

	for (const char *p = arg;; p++) {
		if (*p == '\\' && p[1]) {
			g_string_append_c(cur, *++p);
			continue;
		}
		if (*p != ',' && *p) {
			g_string_append_c(cur, *p);
			continue;
		}
		if (cur->len) {
			char **last = items->len ?
				(char **)&items->pdata[items->len - 1] : NULL;

			if (last && joins && joins(*last, cur->str)) {
				char *j = g_strconcat(*last, ",", cur->str,
						      NULL);

				g_free(*last);
				*last = j;
			} else {
				g_ptr_array_add(items, g_strdup(cur->str));
			}
		}
		g_string_truncate(cur, 0);
		if (!*p)
			break;
	}
	g_string_free(cur, TRUE);
	return items;
}
