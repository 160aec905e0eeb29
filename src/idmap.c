/* idmap: the server's uids and gids shown locally, and back. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/idmap.h"
#include "rfs/util.h"

static GHashTable *id_table(void)
{
	return g_hash_table_new(g_direct_hash, g_direct_equal);
}

int idmap_parse(struct idmap *m, int kind, const char *file,
		const char *text, int (*lookup)(int kind, const char *name,
						uint32_t *id),
		GError **e)
{
	char **lines = g_strsplit(text, "\n", -1);
	int rc = 0;

	if (!m->to_local[kind]) {
		m->to_local[kind] = id_table();
		m->to_remote[kind] = id_table();
	}
	for (int i = 0; lines[i] && !rc; i++) {
		char *l = g_strstrip(lines[i]), *colon = strchr(l, ':'), *end;
		uint32_t local;
		unsigned long remote;

		if (!*l || *l == '#')
			continue;
		if (!colon || colon == l || !colon[1])
			goto bad;
		*colon = '\0';
		errno = 0;
		remote = strtoul(colon + 1, &end, 10);
		if (errno || *end || remote > UINT32_MAX - 1)
			goto bad;
		if (lookup(kind, l, &local)) {
			g_set_error(e, RFS_ERROR, RFS_EXIT_USAGE,
				    "%s, line %d: no local %s '%s'", file,
				    i + 1, kind == IDMAP_UID ? "user" : "group",
				    l);
			rc = -1;
			break;
		}
		/* first line wins, both ways (one id, one meaning) */
		if (!g_hash_table_contains(m->to_local[kind],
					   GUINT_TO_POINTER(remote)))
			g_hash_table_insert(m->to_local[kind],
					    GUINT_TO_POINTER(remote),
					    GUINT_TO_POINTER(local));
		if (!g_hash_table_contains(m->to_remote[kind],
					   GUINT_TO_POINTER(local)))
			g_hash_table_insert(m->to_remote[kind],
					    GUINT_TO_POINTER(local),
					    GUINT_TO_POINTER(remote));
		continue;
bad:
		g_set_error(e, RFS_ERROR, RFS_EXIT_USAGE,
			    "%s, line %d: expected NAME:ID", file, i + 1);
		rc = -1;
	}
	g_strfreev(lines);
	return rc;
}

static int lookup_name(int kind, const char *name, uint32_t *id)
{
	char buf[16384];

	if (kind == IDMAP_UID) {
		struct passwd pwd, *pw = NULL;

		if (getpwnam_r(name, &pwd, buf, sizeof(buf), &pw) || !pw)
			return -1;
		*id = pw->pw_uid;
	} else {
		struct group grp, *gr = NULL;

		if (getgrnam_r(name, &grp, buf, sizeof(buf), &gr) || !gr)
			return -1;
		*id = gr->gr_gid;
	}
	return 0;
}

int idmap_load(struct idmap *m, const char *uidfile, const char *gidfile,
	       GError **e)
{
	const char *files[2] = { uidfile, gidfile };

	for (int k = IDMAP_UID; k <= IDMAP_GID; k++) {
		char *text;
		int rc;

		if (!files[k])
			continue;
		if (!g_file_get_contents(files[k], &text, NULL, e))
			return -1;
		rc = idmap_parse(m, k, files[k], text, lookup_name, e);
		g_free(text);
		if (rc)
			return -1;
	}
	return 0;
}

void idmap_clear(struct idmap *m)
{
	for (int k = IDMAP_UID; k <= IDMAP_GID; k++) {
		if (m->to_local[k])
			g_hash_table_destroy(m->to_local[k]);
		if (m->to_remote[k])
			g_hash_table_destroy(m->to_remote[k]);
		m->to_local[k] = m->to_remote[k] = NULL;
	}
}

int idmap_local(const struct idmap *m, int kind, uint32_t remote,
		uint32_t *out)
{
	gpointer v;

	*out = remote;
	switch (m->mode) {
	case IDMAP_USER:
		if (m->have_login && remote == m->login[kind])
			*out = m->local[kind];
		return 0;
	case IDMAP_FILE:
		if (m->to_local[kind] &&
		    g_hash_table_lookup_extended(m->to_local[kind],
						 GUINT_TO_POINTER(remote),
						 NULL, &v)) {
			*out = GPOINTER_TO_UINT(v);
			return 0;
		}
		return m->nomap_error ? -1 : 0;
	}
	return 0;
}

uint32_t idmap_remote(const struct idmap *m, int kind, uint32_t local)
{
	gpointer v;

	switch (m->mode) {
	case IDMAP_USER:
		if (m->have_login && local == m->local[kind])
			return m->login[kind];
		break;
	case IDMAP_FILE:
		if (m->to_remote[kind] &&
		    g_hash_table_lookup_extended(m->to_remote[kind],
						 GUINT_TO_POINTER(local),
						 NULL, &v))
			return GPOINTER_TO_UINT(v);
		break;
	}
	return local;
}
