/* conf_int: what conf.c, conf_match.c, conf_expand.c and conf_print.c
 * share; private to them (the module's API is include/rfs/conf.h).
 *
 *   conf.c         keyword table, line parser, files, Include, the API
 *   conf_match.c   patterns, Host and Match
 *   conf_expand.c  ~, ${VAR}, %-tokens; the paths conf_finish() expands
 *   conf_print.c   defaults (conf_finish()) and `rfs -G` (conf_dump())
 *
 * Thread: as conf.h; one struct pctx is one parse on one thread.
 */
#ifndef RFS_CONF_INT_H
#define RFS_CONF_INT_H

#include <glib.h>

#include "rfs/conf.h"

#define SYSTEM_DIR		"/etc/ssh"

/* ---- one parse (conf.c) ------------------------------------------------- */

enum {
	P_USER = 1 << 0,	/* user file: Include may use ~, and relative
				 * paths are under ~/.ssh */
	P_CHECKPERM = 1 << 1,	/* refuse a file others may write */
	P_FINAL = 1 << 2,	/* second pass: Match final matches */
	P_NEVER = 1 << 3,	/* Included from an inactive block: check the
				 * syntax, let no Host or Match apply */
};

struct pctx {
	struct conf *c;
	const char *file;	/* NULL for conf_set_option() */
	int line;
	int depth;		/* Include nesting; 0 for a top file */
	unsigned flags;
	int *active;		/* is the current block applying? */
	gboolean *want_final;	/* set on "Match final"; NULL on pass 2 */
	const char *host;	/* what Host patterns match against */
};

/* One line being parsed. */
struct line {
	const char *kw;		/* the keyword as written */
	const char *rest;	/* raw text after the keyword and '=' */
	GPtrArray *av;		/* rest split into words */
	guint next;		/* next word of av */
};

struct keyword;			/* conf.c's table */

static inline const char *
next_arg(struct line *l)
{
	if (l->next >= l->av->len)
		return NULL;
	return g_ptr_array_index(l->av, l->next++);
}

static inline void
consume_args(struct line *l)
{
	l->next = l->av->len;
}

/* Set *err to "FILE:LINE: message" (just the message for -o); -1. */
int conf_perr(const struct pctx *p, GError **err, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);
/* Add "FILE:LINE: message" to c->warnings. */
void conf_pwarn(const struct pctx *p, const char *fmt, ...)
	G_GNUC_PRINTF(2, 3);
/* conf_perr() with e's message (e freed; NULL: "internal error"); -1. */
int conf_perr_from(const struct pctx *p, GError **err, GError *e);
/* "'KW' is not allowed as an option" (Host, Match, Include in -o); -1. */
int conf_not_an_option(struct pctx *p, struct line *l, GError **err);

/* Is word one of yes/no/true/false (any case)? */
gboolean conf_flag_word(const char *word);
void conf_lowercase(char *s);
/* OpenSSH's time format ("90", "1h30m"): seconds, or -1 if invalid. */
int conf_conv_time(const char *s);

/* ---- patterns, Host, Match (conf_match.c) ------------------------------- */

/* '*' matches any run, '?' any one character; case-sensitive. */
gboolean conf_match_pattern(const char *s, const char *pat);
/* Comma-separated patterns, each possibly "!negated": -1 if a negated one
 * matches, 1 if a plain one does, else 0. lower: lowercase the patterns. */
int conf_match_list(const char *s, const char *list, gboolean lower);
/* The parsers of K_HOST and K_MATCH lines: 0, or -1 with *err. */
int conf_parse_host(struct pctx *p, const struct keyword *k, struct line *l,
		    GError **err);
int conf_parse_match(struct pctx *p, const struct keyword *k,
		     struct line *l, GError **err);

/* ---- expansion (conf_expand.c) ------------------------------------------ */

/* The local user's name from the password database. Never NULL. */
const char *conf_local_user(void);
/* "~" or "~user" at the start; NULL with *err for an unknown user. */
char *conf_expand_tilde(const char *s, GError **err);
/* The tokens ssh_config(5) lists for IdentityFile, UserKnownHostsFile and
 * Match exec: %C %d %h %i %k %L %l %n %p %r %u (and %%), for host and
 * remote user ruser. conf_tokens_clear() them. */
void conf_tokens_fill(struct conf_tokens *t, const struct conf *c,
		      const char *host, const char *ruser);
/* HostName with %h as the host typed (only %h and %% are allowed there),
 * or the host typed when HostName is unset; lowercased if asked. */
char *conf_resolved_hostname(const struct conf *c, gboolean lower,
			     GError **err);
/* "%" doubled, so that a later %h expansion gives s back. */
char *conf_escape_percent(const char *s);
/* conf_finish()'s lists and paths: default files, then ~, ${VAR} and
 * %-tokens, once hostname, user and port are final. 0 or -1 with *err. */
int conf_finish_paths(struct conf *c, GError **err);

#endif
