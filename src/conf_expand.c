/* conf_expand: "~", ${VAR} and %-tokens in ssh_config values, as OpenSSH
 * 9.2's ssh.c and misc.c (tilde_expand(), dollar_expand(),
 * percent_expand()) do, and the lists and paths conf_finish() fills in
 * and expands. "~" is the password database's home (conf_home()), never
 * $HOME. Pure: reads the password database, no I/O.
 *
 * conf_expand_tokens() is the one %-token expander: conf's keywords and
 * the transport's ProxyCommand (xport.c) use it, each with its own set of
 * tokens.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rfs/conf.h"
#include "conf_int.h"

/* ---- the password database ---------------------------------------------- */

/* Buffer of getpwuid_r()/getpwnam_r(): the plain forms share static
 * storage, and a reconnect may read a config on another thread. */
#define PW_BUF 16384

static gsize pw_once;
static char *pw_name, *pw_dir;
static char *home_override;

static void
pw_load(void)
{
	if (g_once_init_enter(&pw_once)) {
		struct passwd pwbuf, *pw = NULL;
		char buf[PW_BUF];

		if (getpwuid_r(getuid(), &pwbuf, buf, sizeof(buf), &pw) != 0)
			pw = NULL;

		pw_name = g_strdup(pw != NULL && pw->pw_name != NULL ?
		    pw->pw_name : g_get_user_name());
		pw_dir = g_strdup(pw != NULL && pw->pw_dir != NULL ?
		    pw->pw_dir : g_get_home_dir());
		g_once_init_leave(&pw_once, 1);
	}
}

const char *
conf_home(void)
{
	if (home_override != NULL)
		return home_override;
	pw_load();
	return pw_dir;
}

void
conf_set_home_for_tests(const char *home)
{
	g_free(home_override);
	home_override = g_strdup(home);
}

const char *
conf_local_user(void)
{
	pw_load();
	return pw_name;
}

/* ---- ~ and ${VAR} ------------------------------------------------------- */

char *
conf_expand_tilde(const char *s, GError **err)
{
	const char *slash;
	struct passwd pwbuf, *pw = NULL;
	char buf[PW_BUF];
	char *name, *r;

	if (s[0] != '~')
		return g_strdup(s);
	if (s[1] == '\0' || s[1] == '/')
		return g_strconcat(conf_home(), s + 1, NULL);
	slash = strchr(s, '/');
	name = g_strndup(s + 1, slash != NULL ? (size_t)(slash - s - 1) :
	    strlen(s + 1));
	if (getpwnam_r(name, &pwbuf, buf, sizeof(buf), &pw) != 0)
		pw = NULL;
	if (pw == NULL) {
		g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED,
		    "unknown user '%s' in '%s'", name, s);
		g_free(name);
		return NULL;
	}
	r = g_strconcat(pw->pw_dir, slash != NULL ? slash : "", NULL);
	g_free(name);
	return r;
}

/* "${NAME}" becomes the variable's value; an unset one is an error. A '$'
 * not followed by '{' stays as it is (OpenSSH dollar_expand()). */
static char *
expand_env(const char *s, const char *what, GError **err)
{
	GString *o = g_string_new(NULL);
	const char *p, *end, *val;
	char *name;

	for (p = s; *p != '\0'; p++) {
		if (p[0] != '$' || p[1] != '{') {
			g_string_append_c(o, *p);
			continue;
		}
		end = strchr(p + 2, '}');
		if (end == NULL || end == p + 2) {
			g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED,
			    "%s: bad ${} in '%s'", what, s);
			g_string_free(o, TRUE);
			return NULL;
		}
		name = g_strndup(p + 2, (gsize)(end - p - 2));
		val = getenv(name);
		if (val == NULL) {
			g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED,
			    "%s: environment variable '%s' is not set",
			    what, name);
			g_free(name);
			g_string_free(o, TRUE);
			return NULL;
		}
		g_string_append(o, val);
		g_free(name);
		p = end;
	}
	return g_string_free(o, FALSE);
}

/* ---- %-tokens ----------------------------------------------------------- */

void
conf_tokens_add(struct conf_tokens *t, char key, const char *val)
{
	g_assert(t->n < CONF_MAX_TOKENS);
	t->key[t->n] = key;
	t->val[t->n++] = g_strdup(val != NULL ? val : "");
}

void
conf_tokens_clear(struct conf_tokens *t)
{
	int i;

	for (i = 0; i < t->n; i++)
		g_free(t->val[i]);
	t->n = 0;
}

/* The tokens ssh_config(5) lists for IdentityFile, UserKnownHostsFile and
 * Match exec: %C %d %h %i %k %L %l %n %p %r %u (and %%). */
void
conf_tokens_fill(struct conf_tokens *t, const struct conf *c, const char *host,
		 const char *ruser)
{
	char thishost[256] = "", shorthost[256], port[16], uid[32], *cat;
	char *hash;

	t->n = 0;
	if (gethostname(thishost, sizeof(thishost) - 1) != 0)
		thishost[0] = '\0';
	g_strlcpy(shorthost, thishost, sizeof(shorthost));
	shorthost[strcspn(shorthost, ".")] = '\0';
	snprintf(port, sizeof(port), "%d", c->port > 0 ? c->port : 22);
	snprintf(uid, sizeof(uid), "%lu", (unsigned long)getuid());
	cat = g_strconcat(thishost, host, port, ruser, NULL);
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA1, cat, -1);

	conf_tokens_add(t, 'C', hash);
	conf_tokens_add(t, 'd', conf_home());
	conf_tokens_add(t, 'h', host);
	conf_tokens_add(t, 'i', uid);
	conf_tokens_add(t, 'k', c->host_key_alias != NULL ?
	    c->host_key_alias : host);
	conf_tokens_add(t, 'L', shorthost);
	conf_tokens_add(t, 'l', thishost);
	conf_tokens_add(t, 'n', c->host_arg);
	conf_tokens_add(t, 'p', port);
	conf_tokens_add(t, 'r', ruser);
	conf_tokens_add(t, 'u', conf_local_user());
	g_free(cat);
	g_free(hash);
}

/* Replace %x by t's value for x and %% by %. NULL with *err for an
 * unknown token or a lone % at the end; what names the keyword. */
char *
conf_expand_tokens(const char *s, const struct conf_tokens *t,
		   const char *what, GError **err)
{
	GString *o = g_string_new(NULL);
	const char *p;
	int i;

	for (p = s; *p != '\0'; p++) {
		if (*p != '%') {
			g_string_append_c(o, *p);
			continue;
		}
		if (*++p == '%') {
			g_string_append_c(o, '%');
			continue;
		}
		for (i = 0; i < t->n && t->key[i] != *p; i++)
			;
		if (*p == '\0' || i == t->n) {
			if (*p == '\0')
				g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED,
				    "%s: '%%' at the end of '%s'", what, s);
			else
				g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED,
				    "%s: unknown token '%%%c' in '%s'",
				    what, *p, s);
			g_string_free(o, TRUE);
			return NULL;
		}
		g_string_append(o, t->val[i]);
	}
	return g_string_free(o, FALSE);
}

/* File names: ~ first, then ${VAR}, then %-tokens, as ssh.c does. */
static char *
expand_path(const char *s, const struct conf_tokens *t, const char *what,
	    GError **err)
{
	char *a, *b, *r;

	if ((a = conf_expand_tilde(s, err)) == NULL)
		return NULL;
	b = expand_env(a, what, err);
	g_free(a);
	if (b == NULL)
		return NULL;
	r = conf_expand_tokens(b, t, what, err);
	g_free(b);
	return r;
}

/* HostName with %h as the host typed (only %h and %% are allowed there),
 * or the host typed when HostName is unset; lowercased if asked, as ssh
 * does before it uses the name. */
char *
conf_resolved_hostname(const struct conf *c, gboolean lower, GError **err)
{
	struct conf_tokens t = { 0 };
	char *h;

	if (c->hostname == NULL)
		h = g_strdup(c->host_arg);
	else {
		conf_tokens_add(&t, 'h', c->host_arg);
		h = conf_expand_tokens(c->hostname, &t, "HostName", err);
		conf_tokens_clear(&t);
		if (h == NULL)
			return NULL;
	}
	if (lower)
		conf_lowercase(h);
	return h;
}

/* "%" doubled, so that a later %h expansion gives s back. */
char *
conf_escape_percent(const char *s)
{
	GString *o = g_string_new(NULL);

	for (; *s != '\0'; s++) {
		if (*s == '%')
			g_string_append_c(o, '%');
		g_string_append_c(o, *s);
	}
	return g_string_free(o, FALSE);
}

/* ---- conf_finish()'s lists and paths ------------------------------------ */

static void
add_defaults(GPtrArray *a, const char *const *names)
{
	if (a->len > 0)
		return;
	for (; *names != NULL; names++)
		g_ptr_array_add(a, g_strdup(*names));
}

static const char *const default_ids[] = {
	"~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk",
	"~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss",
	"~/.ssh/id_dsa", NULL
};
static const char *const default_user_hosts[] = {
	"~/.ssh/known_hosts", "~/.ssh/known_hosts2", NULL
};
static const char *const default_global_hosts[] = {
	SYSTEM_DIR "/ssh_known_hosts", SYSTEM_DIR "/ssh_known_hosts2", NULL
};

/* Expand every entry of a (in place). */
static int
expand_all(GPtrArray *a, const struct conf_tokens *t, const char *what,
	   GError **err)
{
	guint i;

	for (i = 0; i < a->len; i++) {
		char *v = expand_path(g_ptr_array_index(a, i), t, what, err);

		if (v == NULL)
			return -1;
		g_free(g_ptr_array_index(a, i));
		g_ptr_array_index(a, i) = v;
	}
	return 0;
}

/* The values of c->raw that ssh expands before -G prints them (ssh.c):
 * paths fully, RemoteCommand its %-tokens, RevokedHostKeys its ~ only. A
 * value that does not expand stays as written: rfs does not use it. */
static void
finish_raw(struct conf *c, const struct conf_tokens *t)
{
	static const char *const names[] = {
		"controlpath", "forwardagent", "remotecommand",
		"revokedhostkeys",
	};
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(names); i++) {
		GPtrArray *a = g_hash_table_lookup(c->raw, names[i]);
		const char *v;
		char *x;

		if (a == NULL || a->len == 0)
			continue;
		v = g_ptr_array_index(a, 0);
		if (i == 1 && conf_flag_word(v))
			continue;	/* ForwardAgent yes/no */
		if (i == 2)
			x = conf_expand_tokens(v, t, names[i], NULL);
		else if (i == 3)
			x = conf_expand_tilde(v, NULL);
		else
			x = expand_path(v, t, names[i], NULL);
		if (x == NULL)
			continue;
		g_free(g_ptr_array_index(a, 0));
		g_ptr_array_index(a, 0) = x;
	}
}

/* The names and paths, once hostname, user and port are final. As in
 * ssh.c, GlobalKnownHostsFile is used as written. */
int
conf_finish_paths(struct conf *c, GError **err)
{
	struct conf_tokens t;
	const char *a = c->identity_agent;
	char *v;
	guint i;
	int r = -1;

	add_defaults(c->identity_files, default_ids);
	add_defaults(c->user_known_hosts, default_user_hosts);
	add_defaults(c->global_known_hosts, default_global_hosts);
	if (c->identity_files_raw != NULL)
		g_ptr_array_unref(c->identity_files_raw);
	c->identity_files_raw = g_ptr_array_new_with_free_func(g_free);
	for (i = 0; i < c->identity_files->len; i++)
		g_ptr_array_add(c->identity_files_raw,
		    g_strdup(g_ptr_array_index(c->identity_files, i)));

	conf_tokens_fill(&t, c, c->hostname, c->user);
	if (expand_all(c->identity_files, &t, "IdentityFile", err) < 0 ||
	    expand_all(c->user_known_hosts, &t, "UserKnownHostsFile",
	    err) < 0)
		goto out;
	if (a != NULL && strcmp(a, "none") != 0 &&
	    strcmp(a, "SSH_AUTH_SOCK") != 0 && !(a[0] == '$' && a[1] != '{')) {
		if ((v = expand_path(a, &t, "IdentityAgent", err)) == NULL)
			goto out;
		g_free(c->identity_agent);
		c->identity_agent = v;
	}
	finish_raw(c, &t);
	r = 0;
out:
	conf_tokens_clear(&t);
	return r;
}

