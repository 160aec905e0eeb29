/* util: exit codes, the error domain, host strings. */
#include <string.h>

#include "rfs/util.h"

GQuark rfs_error_quark(void)
{
	return g_quark_from_static_string("rfs-error");
}

void rfs_set_error(GError **err, int code, const char *fmt, ...)
{
	va_list ap;
	char *m;

	if (!err || *err)
		return;
	va_start(ap, fmt);
	m = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(err, RFS_ERROR, code, m);
	g_free(m);
}

gboolean util_valid_host(const char *host)
{
	if (!host || !*host || *host == '-')
		return FALSE;
	for (const char *p = host; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr(".-_:%", *p))
			return FALSE;
	return TRUE;
}

int util_parse_source(const char *src, char **user, char **host, char **dir,
		      GError **err)
{
	const char *end = NULL, *at = NULL, *h;
	int depth = 0;

	*user = *host = *dir = NULL;
	/* The host part ends at the first ':' outside [brackets]; the user
	 * part is everything before the last '@' in front of it. */
	for (const char *p = src; *p && !end; p++) {
		if (*p == '[')
			depth++;
		else if (*p == ']')
			depth--;
		else if (*p == ':' && depth == 0)
			end = p;
		else if (*p == '@' && depth == 0)
			at = p;
	}
	if (!end) {
		rfs_set_error(err, RFS_EXIT_USAGE,
			      "'%s' is not [user@]host:[dir]", src);
		return -1;
	}
	if (at == src) {
		rfs_set_error(err, RFS_EXIT_USAGE, "empty user name in '%s'",
			      src);
		return -1;
	}
	h = at ? at + 1 : src;
	if (*h == '[') {
		if (end[-1] != ']' || end - h < 3) {
			rfs_set_error(err, RFS_EXIT_USAGE, "bad address in "
				      "'%s': expected [address]:dir", src);
			return -1;
		}
		*host = g_strndup(h + 1, (size_t)(end - h - 2));
	} else {
		*host = g_strndup(h, (size_t)(end - h));
	}
	if (!util_valid_host(*host)) {
		rfs_set_error(err, RFS_EXIT_USAGE, "bad host name '%s'", *host);
		g_clear_pointer(host, g_free);
		return -1;
	}
	if (at)
		*user = g_strndup(src, (size_t)(at - src));
	*dir = g_strdup(end + 1);
	return 0;
}

gboolean util_glob_match(const char *s, const char *p, size_t plen,
			 gboolean icase)
{
	const char *pend = p + plen, *star = NULL, *resume = NULL;

	while (*s) {
		if (p < pend && *p == '*') {
			star = ++p;
			resume = s;
		} else if (p < pend && (*p == '?' || *p == *s ||
			   (icase && g_ascii_tolower(*p) ==
				     g_ascii_tolower(*s)))) {
			p++;
			s++;
		} else if (star) {
			/* Only the last star backtracks: the earlier ones
			 * matched as little as they could. */
			p = star;
			s = ++resume;
		} else {
			return FALSE;
		}
	}
	while (p < pend && *p == '*')
		p++;
	return p == pend;
}

char *util_safe_text(const char *s, gboolean keep_newlines)
{
	GString *out = g_string_new(NULL);
	const char *p = s ? s : "";

	while (*p) {
		gunichar c = g_utf8_get_char_validated(p, -1);

		if (c == (gunichar)-1 || c == (gunichar)-2) {
			g_string_append_printf(out, "\\%03o", (unsigned char)*p);
			p++;
			continue;
		}
		if ((c == '\n' && keep_newlines) || c == '\t' ||
		    !g_unichar_iscntrl(c)) {
			g_string_append_len(out, p, g_utf8_next_char(p) - p);
		} else {
			/* C1 controls are two bytes in UTF-8: escape each */
			for (const char *q = p; q < g_utf8_next_char(p); q++)
				g_string_append_printf(out, "\\%03o",
						       (unsigned char)*q);
		}
		p = g_utf8_next_char(p);
	}
	return g_string_free(out, FALSE);
}
