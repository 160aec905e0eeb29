/* conf_match: ssh_config's Host and Match lines, as OpenSSH 9.2's
 * readconf.c (match_cfg_line()) and match.c evaluate them: the patterns,
 * the criteria, and Match exec, the one place conf runs a command.
 */
#include <string.h>
#include <sys/wait.h>

#include "rfs/conf.h"
#include "rfs/util.h"
#include "conf_int.h"

/* ---- patterns (OpenSSH match.c) ----------------------------------------- */

/* '*' matches any run, '?' any one character; case-sensitive. */
gboolean
conf_match_pattern(const char *s, const char *pat)
{
	return util_glob_match(s, pat, strlen(pat), FALSE);
}

/* Comma-separated patterns, each possibly "!negated": -1 if a negated one
 * matches, 1 if a plain one does, else 0. */
int
conf_match_list(const char *s, const char *list, gboolean lower)
{
	gchar **v = g_strsplit(list, ",", -1);
	int i, r = 0;

	for (i = 0; v[i] != NULL; i++) {
		char *p = v[i];
		gboolean neg = *p == '!';

		if (neg)
			p++;
		if (lower)
			conf_lowercase(p);
		if (conf_match_pattern(s, p)) {
			if (neg) {
				r = -1;
				break;
			}
			r = 1;
		}
	}
	g_strfreev(v);
	return r;
}

/* Host names compare case-insensitively (OpenSSH match_hostname()). */
static int
match_hostname(const char *host, const char *list)
{
	char *h = g_ascii_strdown(host, -1);
	int r = conf_match_list(h, list, TRUE);

	g_free(h);
	return r;
}

/* ---- Host --------------------------------------------------------------- */

/* The block applies if a pattern matches; a matching !pattern cancels
 * it whatever else matches. */
int
conf_parse_host(struct pctx *p, const struct keyword *k, struct line *l,
		GError **err)
{
	const char *arg;

	(void)k;
	if (p->file == NULL)
		return conf_not_an_option(p, l, err);
	*p->active = 0;
	while ((arg = next_arg(l)) != NULL) {
		gboolean neg = *arg == '!';

		if (*arg == '\0')
			return conf_perr(p, err, "empty argument for '%s'",
			    l->kw);
		if (p->flags & P_NEVER)
			continue;
		if (!conf_match_pattern(p->host, arg + neg))
			continue;
		if (neg) {
			*p->active = 0;
			consume_args(l);
			break;
		}
		*p->active = 1;
	}
	return 0;
}

/* ---- Match -------------------------------------------------------------- */

enum {
	M_NO = 0, M_YES = 1,
	M_SKIP,		/* not evaluated; leaves the result alone */
	M_REFUSED,	/* exec not run: the block does not apply */
	M_UNKNOWN,	/* criterion rfs does not know: block skipped */
};

/* A name that reaches the shell through a token: a host name is only
 * [A-Za-z0-9._:-]; a user name has no blank, control or shell character.
 * Neither may start with '-'. */
static gboolean
safe_name(const char *s, gboolean host)
{
	if (*s == '\0' || *s == '-')
		return FALSE;
	for (; *s != '\0'; s++) {
		if (host && !g_ascii_isalnum(*s) && strchr("._:-", *s) == NULL)
			return FALSE;
		if (!host && ((unsigned char)*s < 0x21 || *s == 0x7f ||
		    strchr("'`\"$\\;&<>|(){}*?[]~", *s) != NULL))
			return FALSE;
	}
	return TRUE;
}

/* Which names a command uses: the host (%h %n %k %C) or user (%r). */
static gboolean
uses_token(const char *cmd, const char *keys)
{
	const char *p;

	for (p = cmd; (p = strchr(p, '%')) != NULL; p += 2) {
		if (p[1] == '\0')
			break;
		if (strchr(keys, p[1]) != NULL)
			return TRUE;
	}
	return FALSE;
}

/* Match exec: run through /bin/sh -c with stdin and stdout on /dev/null;
 * it matches if the command exits 0. Names that reach the shell through
 * a token must look like names, or the command is not run. */
static int
match_exec(struct pctx *p, const char *tmpl, const char *host,
	   const char *ruser, GError **err)
{
	struct conf *c = p->c;
	struct conf_tokens t;
	GError *e = NULL;
	char *cmd, *argv[4];
	int status = 0;

	if (uses_token(tmpl, "hkC") && !safe_name(host, TRUE)) {
		conf_pwarn(p, "Match exec not run: unsafe host name '%s'",
		    host);
		return M_REFUSED;
	}
	if (uses_token(tmpl, "n") && !safe_name(c->host_arg, TRUE)) {
		conf_pwarn(p, "Match exec not run: unsafe host name '%s'",
		    c->host_arg);
		return M_REFUSED;
	}
	if (uses_token(tmpl, "r") && !safe_name(ruser, FALSE)) {
		conf_pwarn(p, "Match exec not run: unsafe user name '%s'",
		    ruser);
		return M_REFUSED;
	}
	conf_tokens_fill(&t, c, host, ruser);
	cmd = conf_expand_tokens(tmpl, &t, "Match exec", &e);
	conf_tokens_clear(&t);
	if (cmd == NULL)
		return conf_perr_from(p, err, e);
	argv[0] = (char *)"/bin/sh";
	argv[1] = (char *)"-c";
	argv[2] = cmd;
	argv[3] = NULL;
	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
	    NULL, NULL, NULL, NULL, &status, &e)) {
		conf_perr(p, err, "Match exec '%s': %s", cmd, e->message);
		g_error_free(e);
		g_free(cmd);
		return -1;
	}
	if (!WIFEXITED(status))
		conf_pwarn(p, "Match exec '%s' did not exit normally", cmd);
	g_free(cmd);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? M_YES : M_NO;
}

/* One "criterion argument" pair; result is the Match so far (exec is not
 * run once the line cannot match any more). */
static int
match_one(struct pctx *p, const char *attr, const char *arg,
	  const char *host, int result, GError **err)
{
	struct conf *c = p->c;
	const char *ruser = c->user != NULL ? c->user : conf_local_user();

	if (g_ascii_strcasecmp(attr, "host") == 0)
		return match_hostname(host, arg) == 1;
	if (g_ascii_strcasecmp(attr, "originalhost") == 0)
		return match_hostname(c->host_arg, arg) == 1;
	if (g_ascii_strcasecmp(attr, "user") == 0)
		return conf_match_list(ruser, arg, FALSE) == 1;
	if (g_ascii_strcasecmp(attr, "localuser") == 0)
		return conf_match_list(conf_local_user(), arg, FALSE) == 1;
	if (g_ascii_strcasecmp(attr, "exec") == 0) {
		if (result != 1 || (p->flags & P_NEVER))
			return M_SKIP;
		return match_exec(p, arg, host, ruser, err);
	}
	conf_pwarn(p, "unsupported Match criterion '%s', block skipped", attr);
	return M_UNKNOWN;
}

/* Evaluate a Match line: 1 if it applies, 0 if not, -1 on error. */
static int
match_line(struct pctx *p, struct line *l, const char *host, GError **err)
{
	const char *attr, *arg;
	int result = 1, nattr = 0, r;

	while ((attr = next_arg(l)) != NULL) {
		gboolean neg = *attr == '!';

		attr += neg;
		if (g_ascii_strcasecmp(attr, "all") == 0) {
			if (nattr > 1 || l->next < l->av->len)
				return conf_perr(p, err, "'all' cannot be "
				    "combined with other Match criteria");
			return result && !neg;
		}
		nattr++;
		if (g_ascii_strcasecmp(attr, "final") == 0 ||
		    g_ascii_strcasecmp(attr, "canonical") == 0) {
			if (p->want_final != NULL &&
			    g_ascii_strcasecmp(attr, "final") == 0)
				*p->want_final = TRUE;
			if (((p->flags & P_FINAL) != 0) == neg)
				result = 0;
			continue;
		}
		arg = next_arg(l);
		if (arg == NULL || *arg == '\0')
			return conf_perr(p, err, "missing argument for Match "
			    "criterion '%s'", attr);
		r = match_one(p, attr, arg, host, result, err);
		if (r < 0)
			return -1;
		if (r == M_UNKNOWN) {
			consume_args(l);
			return 0;
		}
		if (r == M_REFUSED || ((r == M_YES || r == M_NO) &&
		    r == (int)neg))
			result = 0;
	}
	if (nattr == 0)
		return conf_perr(p, err, "Match needs at least one criterion");
	return result;
}

/* Match host compares with HostName (%h expanded) if set, else with the
 * host as typed; originalhost always with the host as typed. */
int
conf_parse_match(struct pctx *p, const struct keyword *k, struct line *l,
		 GError **err)
{
	GError *e = NULL;
	char *host;
	int r;

	(void)k;
	if (p->file == NULL)
		return conf_not_an_option(p, l, err);
	if ((host = conf_resolved_hostname(p->c, FALSE, &e)) == NULL)
		return conf_perr_from(p, err, e);
	r = match_line(p, l, host, err);
	g_free(host);
	if (r < 0)
		return -1;
	*p->active = (p->flags & P_NEVER) ? 0 : r;
	return 0;
}

