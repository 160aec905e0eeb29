/* conf: ssh_config(5) for rfs, modelled on OpenSSH 9.2's readconf.c.
 *
 * A line is "Keyword value...", "Keyword=value" or "Keyword = value". The
 * values are split as OpenSSH's argv_split() does: blanks separate words,
 * single or double quotes group them, a backslash escapes a quote, a
 * backslash or (outside quotes) a blank, and a word starting with '#'
 * ends the line.
 *
 * One table maps each keyword (lowercase) to a parser kind and the offset
 * of its field in struct conf; parsers[] maps the kind to its function.
 * Every keyword that OpenSSH 9.2 (Debian) accepts is in the table; those
 * rfs does not implement are K_IGNORE: accepted, recorded in c->ignored,
 * their values kept in c->raw as ssh keeps them (enum raw).
 *
 * Values are checked on every line, active or not (as OpenSSH does), and
 * stored only when the line is active and the field is still unset.
 */
#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rfs/conf.h"
#include "rfs/util.h"

#define MAX_INCLUDE_DEPTH	16	/* READCONF_MAX_DEPTH */
#define MAX_IDENTITY_FILES	100	/* SSH_MAX_IDENTITY_FILES */
#define SYSTEM_DIR		"/etc/ssh"
#define SYSTEM_CONFIG		SYSTEM_DIR "/ssh_config"
#define DEFAULT_PREFAUTH	"publickey,keyboard-interactive,password"
#define WS			" \t\r\n\f"

/* ---- small helpers ------------------------------------------------------ */

GQuark
conf_error_quark(void)
{
	return g_quark_from_static_string("rfs-conf");
}

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

static const char *
local_user(void)
{
	pw_load();
	return pw_name;
}

static void
lowercase(char *s)
{
	for (; *s != '\0'; s++)
		*s = g_ascii_tolower(*s);
}

static void
rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && strchr(WS, s[n - 1]) != NULL)
		s[--n] = '\0';
}

/* Decimal 0..max, digits only (no sign, no blanks); -1 if not. */
static long
parse_decimal(const char *s, long max)
{
	char *end;
	long v;

	if (*s == '\0' || s[strspn(s, "0123456789")] != '\0' ||
	    strlen(s) > 10)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	return v;
}

/* OpenSSH's time format: a sequence of numbers, each with an optional
 * s/m/h/d/w unit ("90", "1h30m"). Seconds, or -1 if invalid. */
static int
conv_time(const char *s)
{
	long total = 0;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		char *end;
		long v, mult = 1;

		if (!g_ascii_isdigit(*s))
			return -1;
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno != 0)
			return -1;
		switch (g_ascii_tolower(*end)) {
		case '\0':
			break;
		case 's':
			end++;
			break;
		case 'm':
			mult = 60, end++;
			break;
		case 'h':
			mult = 60 * 60, end++;
			break;
		case 'd':
			mult = 24 * 60 * 60, end++;
			break;
		case 'w':
			mult = 7 * 24 * 60 * 60, end++;
			break;
		default:
			return -1;
		}
		if (v > INT_MAX / mult || total > INT_MAX - v * mult)
			return -1;
		total += v * mult;
		s = end;
	}
	return (int)total;
}

static void
add_once(GPtrArray *a, const char *s)
{
	guint i;

	for (i = 0; i < a->len; i++)
		if (strcmp(g_ptr_array_index(a, i), s) == 0)
			return;
	g_ptr_array_add(a, g_strdup(s));
}

/* ---- patterns (OpenSSH match.c) ----------------------------------------- */

/* '*' matches any run, '?' any one character; case-sensitive. */
static gboolean
match_pattern(const char *s, const char *pat)
{
	return util_glob_match(s, pat, strlen(pat), FALSE);
}

/* Comma-separated patterns, each possibly "!negated": -1 if a negated one
 * matches, 1 if a plain one does, else 0. */
static int
match_list(const char *s, const char *list, gboolean lower)
{
	gchar **v = g_strsplit(list, ",", -1);
	int i, r = 0;

	for (i = 0; v[i] != NULL; i++) {
		char *p = v[i];
		gboolean neg = *p == '!';

		if (neg)
			p++;
		if (lower)
			lowercase(p);
		if (match_pattern(s, p)) {
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
	int r = match_list(h, list, TRUE);

	g_free(h);
	return r;
}

/* ---- expansion: ~, ${VAR}, %-tokens ------------------------------------- */

static char *
expand_tilde(const char *s, GError **err)
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

#define MAX_TOKENS 12

struct tokens {
	int n;
	char key[MAX_TOKENS];
	char *val[MAX_TOKENS];
};

static void
tok_add(struct tokens *t, char key, const char *val)
{
	g_assert(t->n < MAX_TOKENS);
	t->key[t->n] = key;
	t->val[t->n++] = g_strdup(val != NULL ? val : "");
}

static void
tok_free(struct tokens *t)
{
	int i;

	for (i = 0; i < t->n; i++)
		g_free(t->val[i]);
	t->n = 0;
}

/* The tokens ssh_config(5) lists for IdentityFile, UserKnownHostsFile and
 * Match exec: %C %d %h %i %k %L %l %n %p %r %u (and %%). */
static void
tok_fill(struct tokens *t, const struct conf *c, const char *host,
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

	tok_add(t, 'C', hash);
	tok_add(t, 'd', conf_home());
	tok_add(t, 'h', host);
	tok_add(t, 'i', uid);
	tok_add(t, 'k', c->host_key_alias != NULL ? c->host_key_alias : host);
	tok_add(t, 'L', shorthost);
	tok_add(t, 'l', thishost);
	tok_add(t, 'n', c->host_arg);
	tok_add(t, 'p', port);
	tok_add(t, 'r', ruser);
	tok_add(t, 'u', local_user());
	g_free(cat);
	g_free(hash);
}

/* Replace %x by t's value for x and %% by %. NULL with *err for an
 * unknown token or a lone % at the end; what names the keyword. */
static char *
expand_tokens(const char *s, const struct tokens *t, const char *what,
	      GError **err)
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
expand_path(const char *s, const struct tokens *t, const char *what,
	    GError **err)
{
	char *a, *b, *r;

	if ((a = expand_tilde(s, err)) == NULL)
		return NULL;
	b = expand_env(a, what, err);
	g_free(a);
	if (b == NULL)
		return NULL;
	r = expand_tokens(b, t, what, err);
	g_free(b);
	return r;
}

/* HostName with %h as the host typed (only %h and %% are allowed there),
 * or the host typed when HostName is unset; lowercased if asked, as ssh
 * does before it uses the name. */
static char *
resolved_hostname(const struct conf *c, gboolean lower, GError **err)
{
	struct tokens t = { 0 };
	char *h;

	if (c->hostname == NULL)
		h = g_strdup(c->host_arg);
	else {
		tok_add(&t, 'h', c->host_arg);
		h = expand_tokens(c->hostname, &t, "HostName", err);
		tok_free(&t);
		if (h == NULL)
			return NULL;
	}
	if (lower)
		lowercase(h);
	return h;
}

/* ---- the keyword table -------------------------------------------------- */

struct state {
	const char *word;
	int value;
};

/* For each value the first word listed is the one conf_dump() prints,
 * which gives ssh -G's spelling ("yes" here, "true" for some below). */
static const struct state st_flag[] = {
	{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 }, { NULL, 0 }
};
static const struct state st_pubkey[] = {
	{ "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
	{ "unbound", 2 }, { "host-bound", 3 }, { NULL, 0 }
};
static const struct state st_shkc[] = {
	{ "true", CONF_SHKC_YES }, { "false", CONF_SHKC_NO },
	{ "yes", CONF_SHKC_YES }, { "no", CONF_SHKC_NO },
	{ "ask", CONF_SHKC_ASK }, { "off", CONF_SHKC_NO },
	{ "accept-new", CONF_SHKC_ACCEPT_NEW }, { NULL, 0 }
};
static const struct state st_compression[] = {
	{ "yes", 1 }, { "no", 0 }, { NULL, 0 }
};
static const struct state st_af[] = {
	{ "inet", CONF_AF_INET }, { "inet6", CONF_AF_INET6 },
	{ "any", CONF_AF_ANY }, { NULL, 0 }
};

/* The value of a word in a table, or -1. */
static int
state_value(const struct state *st, const char *word)
{
	for (; st->word != NULL; st++)
		if (g_ascii_strcasecmp(word, st->word) == 0)
			return st->value;
	return -1;
}

enum kind {
	K_IGNORE,	/* known to OpenSSH, not implemented: recorded */
	K_STATE,	/* int from a word table: yes/no, ask, inet, ... */
	K_INT,		/* decimal, 0..INT_MAX */
	K_TIME,		/* seconds in OpenSSH's time format, or "none" */
	K_PORT,		/* 1..65535 */
	K_STR,		/* one word */
	K_AGENT,	/* IdentityAgent */
	K_PREFAUTH,	/* PreferredAuthentications */
	K_IDFILE,	/* IdentityFile: accumulates */
	K_FILES,	/* *KnownHostsFile: the first line sets the list */
	K_IGNUNK,	/* IgnoreUnknown */
	K_JUMP,		/* ProxyJump */
	K_PROXYCMD,	/* ProxyCommand: the rest of the line */
	K_HOST,
	K_MATCH,
	K_INCLUDE,
	K_NKINDS
};

struct keyword {
	const char *name;		/* lowercase */
	enum kind kind;
	size_t off;			/* field in struct conf */
	const struct state *states;	/* K_STATE */
};

#define F(field)	offsetof(struct conf, field)
#define IGN(name)	{ name, K_IGNORE, 0, NULL }

static const struct keyword keywords[] = {
	{ "host", K_HOST, 0, NULL },
	{ "match", K_MATCH, 0, NULL },
	{ "include", K_INCLUDE, 0, NULL },
	{ "hostname", K_STR, F(hostname), NULL },
	{ "user", K_STR, F(user), NULL },
	{ "port", K_PORT, F(port), NULL },
	{ "identityfile", K_IDFILE, F(identity_files), NULL },
	{ "identityfile2", K_IDFILE, F(identity_files), NULL },
	{ "identitiesonly", K_STATE, F(identities_only), st_flag },
	{ "identityagent", K_AGENT, F(identity_agent), NULL },
	{ "preferredauthentications", K_PREFAUTH, F(preferred_auth), NULL },
	{ "pubkeyauthentication", K_STATE, F(pubkey_auth), st_pubkey },
	{ "dsaauthentication", K_STATE, F(pubkey_auth), st_pubkey },
	{ "passwordauthentication", K_STATE, F(password_auth), st_flag },
	{ "kbdinteractiveauthentication", K_STATE, F(kbdint_auth), st_flag },
	{ "challengeresponseauthentication", K_STATE, F(kbdint_auth),
	    st_flag },
	{ "skeyauthentication", K_STATE, F(kbdint_auth), st_flag },
	{ "tisauthentication", K_STATE, F(kbdint_auth), st_flag },
	{ "proxyjump", K_JUMP, F(proxy_jump), NULL },
	{ "proxycommand", K_PROXYCMD, F(proxy_command), NULL },
	{ "serveraliveinterval", K_TIME, F(server_alive_interval), NULL },
	{ "serveralivecountmax", K_INT, F(server_alive_count_max), NULL },
	{ "connecttimeout", K_TIME, F(connect_timeout), NULL },
	{ "compression", K_STATE, F(compression), st_compression },
	{ "stricthostkeychecking", K_STATE, F(strict_host_key_checking),
	    st_shkc },
	{ "hashknownhosts", K_STATE, F(hash_known_hosts), st_flag },
	{ "userknownhostsfile", K_FILES, F(user_known_hosts), NULL },
	{ "globalknownhostsfile", K_FILES, F(global_known_hosts), NULL },
	{ "hostkeyalias", K_STR, F(host_key_alias), NULL },
	{ "addressfamily", K_STATE, F(address_family), st_af },
	{ "bindaddress", K_STR, F(bind_address), NULL },
	{ "ciphers", K_STR, F(ciphers), NULL },
	{ "macs", K_STR, F(macs), NULL },
	{ "kexalgorithms", K_STR, F(kex_algorithms), NULL },
	{ "hostkeyalgorithms", K_STR, F(host_key_algorithms), NULL },
	{ "ignoreunknown", K_IGNUNK, F(ignore_unknown), NULL },
	{ "batchmode", K_STATE, F(batch_mode), st_flag },
	{ "numberofpasswordprompts", K_INT, F(number_of_password_prompts),
	    NULL },

	/* Debian's aliases of ServerAliveInterval. */
	{ "protocolkeepalives", K_TIME, F(server_alive_interval), NULL },
	{ "setuptimeout", K_TIME, F(server_alive_interval), NULL },

	/* The rest of OpenSSH 9.2's keywords (Debian's GSSAPI ones too),
	 * with their deprecated and unsupported spellings. */
	IGN("addkeystoagent"), IGN("afstokenpassing"),
	IGN("bindinterface"), IGN("canonicaldomains"),
	IGN("canonicalizefallbacklocal"), IGN("canonicalizehostname"),
	IGN("canonicalizemaxdots"), IGN("canonicalizepermittedcnames"),
	IGN("casignaturealgorithms"), IGN("certificatefile"),
	IGN("checkhostip"), IGN("cipher"), IGN("clearallforwardings"),
	IGN("compressionlevel"), IGN("connectionattempts"),
	IGN("controlmaster"), IGN("controlpath"), IGN("controlpersist"),
	IGN("dynamicforward"), IGN("enableescapecommandline"),
	IGN("enablesshkeysign"), IGN("escapechar"),
	IGN("exitonforwardfailure"), IGN("fallbacktorsh"),
	IGN("fingerprinthash"), IGN("forkafterauthentication"),
	IGN("forwardagent"), IGN("forwardx11"), IGN("forwardx11timeout"),
	IGN("forwardx11trusted"), IGN("gatewayports"),
	IGN("globalknownhostsfile2"), IGN("gssapiauthentication"),
	IGN("gssapiclientidentity"), IGN("gssapidelegatecredentials"),
	IGN("gssapikexalgorithms"), IGN("gssapikeyexchange"),
	IGN("gssapirenewalforcesrekey"), IGN("gssapiserveridentity"),
	IGN("gssapitrustdns"), IGN("hostbasedacceptedalgorithms"),
	IGN("hostbasedauthentication"), IGN("hostbasedkeytypes"),
	IGN("ipqos"), IGN("kbdinteractivedevices"), IGN("keepalive"),
	IGN("kerberosauthentication"), IGN("kerberostgtpassing"),
	IGN("knownhostscommand"), IGN("localcommand"), IGN("localforward"),
	IGN("loglevel"), IGN("logverbose"),
	IGN("nohostauthenticationforlocalhost"),
	IGN("permitlocalcommand"),
	IGN("permitremoteopen"), IGN("pkcs11provider"), IGN("protocol"),
	IGN("proxyusefdpass"),
	IGN("pubkeyacceptedalgorithms"), IGN("pubkeyacceptedkeytypes"),
	IGN("rekeylimit"), IGN("remotecommand"), IGN("remoteforward"),
	IGN("requesttty"), IGN("requiredrsasize"), IGN("revokedhostkeys"),
	IGN("rhostsauthentication"), IGN("rhostsrsaauthentication"),
	IGN("rsaauthentication"),
	IGN("securitykeyprovider"), IGN("sendenv"), IGN("sessiontype"),
	IGN("setenv"), IGN("smartcarddevice"),
	IGN("stdinnull"), IGN("streamlocalbindmask"),
	IGN("streamlocalbindunlink"), IGN("syslogfacility"),
	IGN("tcpkeepalive"), IGN("tunnel"), IGN("tunneldevice"),
	IGN("updatehostkeys"), IGN("useblacklistedkeys"),
	IGN("useprivilegedport"), IGN("userknownhostsfile2"),
	IGN("useroaming"), IGN("usersh"), IGN("verifyhostkeydns"),
	IGN("visualhostkey"), IGN("xauthlocation"),
};

static const struct keyword *
find_keyword(const char *kw)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(keywords); i++)
		if (g_ascii_strcasecmp(kw, keywords[i].name) == 0)
			return &keywords[i];
	return NULL;
}

gboolean
conf_is_keyword(const char *kw)
{
	return kw != NULL && find_keyword(kw) != NULL;
}

#define INT_AT(c, off)	((int *)((char *)(c) + (off)))
#define STR_AT(c, off)	((char **)((char *)(c) + (off)))
#define ARR_AT(c, off)	(*(GPtrArray **)((char *)(c) + (off)))

/* ---- parse state -------------------------------------------------------- */

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

static const char *
next_arg(struct line *l)
{
	if (l->next >= l->av->len)
		return NULL;
	return g_ptr_array_index(l->av, l->next++);
}

static void
consume_args(struct line *l)
{
	l->next = l->av->len;
}

static char *
vprefixed(const struct pctx *p, const char *fmt, va_list ap)
{
	char *msg = g_strdup_vprintf(fmt, ap), *r;

	if (p->file == NULL)
		return msg;
	r = g_strdup_printf("%s:%d: %s", p->file, p->line, msg);
	g_free(msg);
	return r;
}

/* Set *err to "FILE:LINE: message" (just the message for -o); -1. */
static int G_GNUC_PRINTF(3, 4)
perr(const struct pctx *p, GError **err, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = vprefixed(p, fmt, ap);
	va_end(ap);
	g_set_error_literal(err, CONF_ERROR, CONF_ERROR_FAILED, msg);
	g_free(msg);
	return -1;
}

static void G_GNUC_PRINTF(2, 3)
pwarn(const struct pctx *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(p->c->warnings, vprefixed(p, fmt, ap));
	va_end(ap);
}

/* Put an error from a helper (expansion) in FILE:LINE form. */
static int
perr_from(const struct pctx *p, GError **err, GError *e)
{
	/* e is NULL only if a helper failed without saying why (a host of
	 * NULL, say): still an error, never a crash. */
	perr(p, err, "%s", e != NULL ? e->message : "internal error");
	g_clear_error(&e);
	return -1;
}

/* The next word, which must be there and not be empty. */
static int
need_arg(const struct pctx *p, struct line *l, const char **arg,
	 GError **err)
{
	*arg = next_arg(l);
	if (*arg == NULL || **arg == '\0')
		return perr(p, err, "missing argument for '%s'", l->kw);
	return 0;
}

static int
bad_value(const struct pctx *p, const struct line *l, const char *arg,
	  GError **err)
{
	return perr(p, err, "bad %s '%s'", l->kw, arg);
}

/* ---- value parsers, one per kind ---------------------------------------- */

typedef int (*parse_fn)(struct pctx *p, const struct keyword *k,
			struct line *l, GError **err);

/* How c->raw keeps an ignored keyword's value, as ssh keeps it. */
enum raw {
	R_LINE = 0,	/* the first line that applies: its words */
	R_REST,		/* the first line that applies: the rest, raw */
	R_ADD,		/* each line: its words joined by ' ', once */
	R_WORDS,	/* each word; "-pattern" drops (SendEnv) */
	R_NONE,		/* deprecated or unsupported: ssh drops it */
};

/* The ignored keywords that are not R_LINE under their own name. */
static const struct raw_kind {
	const char *name;
	enum raw raw;
	const char *as;		/* kept under this name (an alias) */
} raw_kinds[] = {
	{ "certificatefile", R_ADD, NULL },
	{ "localforward", R_ADD, NULL },
	{ "remoteforward", R_ADD, NULL },
	{ "dynamicforward", R_ADD, "localforward" },	/* one word */
	{ "sendenv", R_WORDS, NULL },
	{ "knownhostscommand", R_REST, NULL },
	{ "localcommand", R_REST, NULL },
	{ "remotecommand", R_REST, NULL },
	{ "hostbasedkeytypes", R_LINE, "hostbasedacceptedalgorithms" },
	{ "pubkeyacceptedkeytypes", R_LINE, "pubkeyacceptedalgorithms" },
	{ "keepalive", R_LINE, "tcpkeepalive" },
	{ "smartcarddevice", R_LINE, "pkcs11provider" },
	{ "afstokenpassing", R_NONE, NULL },
	{ "cipher", R_NONE, NULL },
	{ "compressionlevel", R_NONE, NULL },
	{ "fallbacktorsh", R_NONE, NULL },
	{ "globalknownhostsfile2", R_NONE, NULL },
	{ "kerberosauthentication", R_NONE, NULL },
	{ "kerberostgtpassing", R_NONE, NULL },
	{ "protocol", R_NONE, NULL },
	{ "rhostsauthentication", R_NONE, NULL },
	{ "rhostsrsaauthentication", R_NONE, NULL },
	{ "rsaauthentication", R_NONE, NULL },
	{ "useblacklistedkeys", R_NONE, NULL },
	{ "useprivilegedport", R_NONE, NULL },
	{ "userknownhostsfile2", R_NONE, NULL },
	{ "useroaming", R_NONE, NULL },
	{ "usersh", R_NONE, NULL },
};

static struct raw_kind
raw_kind(const char *name)
{
	struct raw_kind r = { name, R_LINE, NULL };
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(raw_kinds); i++)
		if (strcmp(raw_kinds[i].name, name) == 0)
			r = raw_kinds[i];
	if (r.as == NULL)
		r.as = name;
	return r;
}

static GPtrArray *
raw_list(struct conf *c, const char *name)
{
	GPtrArray *a = g_hash_table_lookup(c->raw, name);

	if (a == NULL) {
		a = g_ptr_array_new_with_free_func(g_free);
		g_hash_table_insert(c->raw, g_strdup(name), a);
	}
	return a;
}

/* SendEnv's "-pattern" drops the names it matches (OpenSSH rm_env()). */
static void
raw_remove(GPtrArray *a, const char *pat)
{
	guint i = 0;

	while (i < a->len)
		if (match_pattern(g_ptr_array_index(a, i), pat))
			g_ptr_array_remove_index(a, i);
		else
			i++;
}

/* Not acted on, but kept as ssh keeps it (enum raw) for conf_dump(). */
static int
parse_ignore(struct pctx *p, const struct keyword *k, struct line *l,
	     GError **err)
{
	struct raw_kind rk = raw_kind(k->name);
	struct conf *c = p->c;
	GPtrArray *a, *words;
	const char *arg;

	(void)err;
	if (!*p->active || rk.raw == R_NONE) {
		consume_args(l);
		return 0;
	}
	add_once(c->ignored, k->name);
	if ((rk.raw == R_LINE || rk.raw == R_REST) &&
	    g_hash_table_contains(c->raw, rk.as)) {
		consume_args(l);
		return 0;
	}
	a = raw_list(c, rk.as);
	if (rk.raw == R_REST) {
		g_ptr_array_add(a, g_strdup(l->rest));
		consume_args(l);
		return 0;
	}
	words = g_ptr_array_new();
	while ((arg = next_arg(l)) != NULL) {
		if (rk.raw == R_WORDS && arg[0] == '-')
			raw_remove(a, arg + 1);
		else if (rk.raw == R_ADD)
			g_ptr_array_add(words, (char *)arg);
		else
			g_ptr_array_add(a, g_strdup(arg));
	}
	if (rk.raw == R_ADD) {
		char *v;

		g_ptr_array_add(words, NULL);
		v = g_strjoinv(" ", (char **)words->pdata);
		add_once(a, v);
		g_free(v);
	}
	g_ptr_array_free(words, TRUE);
	return 0;
}

static int
parse_state(struct pctx *p, const struct keyword *k, struct line *l,
	    GError **err)
{
	const struct state *st;
	const char *arg;
	int *field = INT_AT(p->c, k->off);

	if (need_arg(p, l, &arg, err) < 0)
		return -1;
	for (st = k->states; st->word != NULL; st++)
		if (g_ascii_strcasecmp(arg, st->word) == 0)
			break;
	if (st->word == NULL)
		return bad_value(p, l, arg, err);
	if (*p->active && *field == CONF_UNSET)
		*field = st->value;
	return 0;
}

/* K_INT: 0..INT_MAX. K_PORT: 1..65535, or a service name from
 * /etc/services, as OpenSSH's a2port(). */
static int
parse_number(struct pctx *p, const struct keyword *k, struct line *l,
	     GError **err)
{
	gboolean port = k->kind == K_PORT;
	const char *arg;
	long v;
	int *field = INT_AT(p->c, k->off);

	if (need_arg(p, l, &arg, err) < 0)
		return -1;
	v = parse_decimal(arg, port ? 65535 : INT_MAX);
	if (port && v < 1) {
		struct servent sebuf, *se = NULL;
		char buf[1024];

		if (getservbyname_r(arg, "tcp", &sebuf, buf, sizeof(buf),
		    &se) == 0 && se != NULL)
			v = ntohs((uint16_t)se->s_port);
	}
	if (v < (port ? 1 : 0))
		return bad_value(p, l, arg, err);
	if (*p->active && *field == CONF_UNSET)
		*field = (int)v;
	return 0;
}

/* "none" is OpenSSH's -1, which leaves the field unset. */
static int
parse_time(struct pctx *p, const struct keyword *k, struct line *l,
	   GError **err)
{
	const char *arg;
	int v, *field = INT_AT(p->c, k->off);

	if (need_arg(p, l, &arg, err) < 0)
		return -1;
	if (strcmp(arg, "none") == 0)
		v = CONF_UNSET;
	else if ((v = conv_time(arg)) < 0)
		return bad_value(p, l, arg, err);
	if (*p->active && *field == CONF_UNSET)
		*field = v;
	return 0;
}

static int
parse_str(struct pctx *p, const struct keyword *k, struct line *l,
	  GError **err)
{
	const char *arg;
	char **field = STR_AT(p->c, k->off);

	if (need_arg(p, l, &arg, err) < 0)
		return -1;
	if (*p->active && *field == NULL)
		*field = g_strdup(arg);
	return 0;
}

/* "none", "SSH_AUTH_SOCK", "$NAME" (an environment variable) or a path
 * that may use ~, ${VAR} and %-tokens (expanded by conf_finish()). */
static int
parse_agent(struct pctx *p, const struct keyword *k, struct line *l,
	    GError **err)
{
	const char *arg, *s;
	char **field = STR_AT(p->c, k->off);

	if (need_arg(p, l, &arg, err) < 0)
		return -1;
	if (arg[0] == '$' && arg[1] != '{') {
		for (s = arg + 1; g_ascii_isalnum(*s) || *s == '_'; s++)
			;
		if (s == arg + 1 || *s != '\0' || g_ascii_isdigit(arg[1]))
			return bad_value(p, l, arg, err);
	}
	if (*p->active && *field == NULL)
		*field = g_strdup(arg);
	return 0;
}

/* Lowercased, empty items dropped: "publickey,Password," (OpenSSH takes
 * the trailing comma) becomes "publickey,password". */
static char *
normalise_list(const char *s)
{
	gchar **v = g_strsplit(s, ",", -1);
	GString *o = g_string_new(NULL);
	int i;

	for (i = 0; v[i] != NULL; i++) {
		if (v[i][0] == '\0')
			continue;
		if (o->len > 0)
			g_string_append_c(o, ',');
		lowercase(v[i]);
		g_string_append(o, v[i]);
	}
	g_strfreev(v);
	if (o->len == 0) {
		g_string_free(o, TRUE);
		return NULL;
	}
	return g_string_free(o, FALSE);
}

static int
parse_prefauth(struct pctx *p, const struct keyword *k, struct line *l,
	       GError **err)
{
	const char *arg;
	char *v, **field = STR_AT(p->c, k->off);

	if (need_arg(p, l, &arg, err) < 0)
		return -1;
	if ((v = normalise_list(arg)) == NULL)
		return bad_value(p, l, arg, err);
	if (*p->active && *field == NULL)
		*field = v;
	else
		g_free(v);
	return 0;
}

/* IdentityFile accumulates across lines; a repeated one is dropped
 * (OpenSSH add_identity_file()). */
static int
parse_idfile(struct pctx *p, const struct keyword *k, struct line *l,
	     GError **err)
{
	GPtrArray *a = ARR_AT(p->c, k->off);
	const char *arg;

	if (need_arg(p, l, &arg, err) < 0)
		return -1;
	if (!*p->active)
		return 0;
	if (a->len >= MAX_IDENTITY_FILES)
		return perr(p, err, "too many IdentityFile entries (max %d)",
		    MAX_IDENTITY_FILES);
	add_once(a, arg);
	return 0;
}

/* UserKnownHostsFile, GlobalKnownHostsFile: several files on a line; the
 * first line that applies sets the whole list; "none" only alone. */
static int
parse_files(struct pctx *p, const struct keyword *k, struct line *l,
	    GError **err)
{
	GPtrArray *a = ARR_AT(p->c, k->off);
	gboolean set = *p->active && a->len == 0;
	const char *arg;
	guint n = 0;

	while ((arg = next_arg(l)) != NULL) {
		if (*arg == '\0')
			return perr(p, err, "empty argument for '%s'", l->kw);
		if (g_ascii_strcasecmp(arg, "none") == 0 &&
		    (n > 0 || l->next < l->av->len))
			return perr(p, err,
			    "'none' must be the only argument of '%s'", l->kw);
		n++;
		if (set)
			g_ptr_array_add(a, g_strdup(arg));
	}
	return 0;
}

/* One pattern list, set once like any string (OpenSSH keeps it as a
 * string); kept here split at the commas. */
static int
parse_ignunk(struct pctx *p, const struct keyword *k, struct line *l,
	     GError **err)
{
	GPtrArray *a = ARR_AT(p->c, k->off);
	const char *arg;
	gchar **v;
	int i;

	if (need_arg(p, l, &arg, err) < 0)
		return -1;
	if (!*p->active || a->len > 0)
		return 0;
	v = g_strsplit(arg, ",", -1);
	for (i = 0; v[i] != NULL; i++)
		if (v[i][0] != '\0')
			g_ptr_array_add(a, g_strdup(v[i]));
	g_strfreev(v);
	return 0;
}

/* One ProxyJump hop: [user@]host[:port], host possibly [bracketed], or
 * ssh://[user@]host[:port] without a path. */
static gboolean
valid_hop(const char *hop)
{
	const char *h = hop, *at, *end;

	if (g_str_has_prefix(h, "ssh://"))
		h += strlen("ssh://");
	if (*h == '\0' || h[strcspn(h, " \t/")] != '\0')
		return FALSE;
	if ((at = strrchr(h, '@')) != NULL) {
		if (at == h)
			return FALSE;
		h = at + 1;
	}
	if (*h == '[') {
		if ((end = strchr(h, ']')) == NULL || end == h + 1)
			return FALSE;
		end++;
	} else {
		end = h + strcspn(h, ":");
		if (end == h)
			return FALSE;
	}
	if (*end == '\0')
		return TRUE;
	return *end == ':' && parse_decimal(end + 1, 65535) >= 1;
}

static gboolean
valid_jump(const char *s)
{
	gchar **v;
	gboolean ok = TRUE;
	int i;

	if (g_ascii_strcasecmp(s, "none") == 0)
		return TRUE;
	v = g_strsplit(s, ",", -1);
	for (i = 0; v[i] != NULL && ok; i++)
		ok = valid_hop(v[i]);
	g_strfreev(v);
	return ok;
}

/* ProxyJump and ProxyCommand exclude each other: the first one given
 * wins, as in OpenSSH. ProxyJump is the rest of the line, stored raw. */
static int
parse_jump(struct pctx *p, const struct keyword *k, struct line *l,
	   GError **err)
{
	struct conf *c = p->c;
	char *v = g_strdup(l->rest);

	(void)k;
	consume_args(l);
	v[strcspn(v, "#")] = '\0';
	rtrim(v);
	if (!valid_jump(v)) {
		perr(p, err, "bad %s '%s'", l->kw, v);
		g_free(v);
		return -1;
	}
	if (*p->active && c->proxy_jump == NULL && c->proxy_command == NULL)
		c->proxy_jump = v;
	else
		g_free(v);
	return 0;
}

static int
parse_proxycmd(struct pctx *p, const struct keyword *k, struct line *l,
	       GError **err)
{
	struct conf *c = p->c;
	const char *s = l->rest + strspn(l->rest, WS "=");

	(void)k;
	consume_args(l);
	if (*s == '\0')
		return perr(p, err, "missing argument for '%s'", l->kw);
	if (*p->active && c->proxy_jump == NULL && c->proxy_command == NULL)
		c->proxy_command = g_strdup(s);
	return 0;
}

/* ---- Host, Match, Include ----------------------------------------------- */

static int
not_an_option(struct pctx *p, struct line *l, GError **err)
{
	return perr(p, err, "'%s' is not allowed as an option", l->kw);
}

/* The block applies if a pattern matches; a matching !pattern cancels
 * it whatever else matches. */
static int
parse_host(struct pctx *p, const struct keyword *k, struct line *l,
	   GError **err)
{
	const char *arg;

	(void)k;
	if (p->file == NULL)
		return not_an_option(p, l, err);
	*p->active = 0;
	while ((arg = next_arg(l)) != NULL) {
		gboolean neg = *arg == '!';

		if (*arg == '\0')
			return perr(p, err, "empty argument for '%s'", l->kw);
		if (p->flags & P_NEVER)
			continue;
		if (!match_pattern(p->host, arg + neg))
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
	struct tokens t;
	GError *e = NULL;
	char *cmd, *argv[4];
	int status = 0;

	if (uses_token(tmpl, "hkC") && !safe_name(host, TRUE)) {
		pwarn(p, "Match exec not run: unsafe host name '%s'", host);
		return M_REFUSED;
	}
	if (uses_token(tmpl, "n") && !safe_name(c->host_arg, TRUE)) {
		pwarn(p, "Match exec not run: unsafe host name '%s'",
		    c->host_arg);
		return M_REFUSED;
	}
	if (uses_token(tmpl, "r") && !safe_name(ruser, FALSE)) {
		pwarn(p, "Match exec not run: unsafe user name '%s'", ruser);
		return M_REFUSED;
	}
	tok_fill(&t, c, host, ruser);
	cmd = expand_tokens(tmpl, &t, "Match exec", &e);
	tok_free(&t);
	if (cmd == NULL)
		return perr_from(p, err, e);
	argv[0] = (char *)"/bin/sh";
	argv[1] = (char *)"-c";
	argv[2] = cmd;
	argv[3] = NULL;
	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
	    NULL, NULL, NULL, NULL, &status, &e)) {
		perr(p, err, "Match exec '%s': %s", cmd, e->message);
		g_error_free(e);
		g_free(cmd);
		return -1;
	}
	if (!WIFEXITED(status))
		pwarn(p, "Match exec '%s' did not exit normally", cmd);
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
	const char *ruser = c->user != NULL ? c->user : local_user();

	if (g_ascii_strcasecmp(attr, "host") == 0)
		return match_hostname(host, arg) == 1;
	if (g_ascii_strcasecmp(attr, "originalhost") == 0)
		return match_hostname(c->host_arg, arg) == 1;
	if (g_ascii_strcasecmp(attr, "user") == 0)
		return match_list(ruser, arg, FALSE) == 1;
	if (g_ascii_strcasecmp(attr, "localuser") == 0)
		return match_list(local_user(), arg, FALSE) == 1;
	if (g_ascii_strcasecmp(attr, "exec") == 0) {
		if (result != 1 || (p->flags & P_NEVER))
			return M_SKIP;
		return match_exec(p, arg, host, ruser, err);
	}
	pwarn(p, "unsupported Match criterion '%s', block skipped", attr);
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
				return perr(p, err, "'all' cannot be combined "
				    "with other Match criteria");
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
			return perr(p, err, "missing argument for Match "
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
		return perr(p, err, "Match needs at least one criterion");
	return result;
}

/* Match host compares with HostName (%h expanded) if set, else with the
 * host as typed; originalhost always with the host as typed. */
static int
parse_match(struct pctx *p, const struct keyword *k, struct line *l,
	    GError **err)
{
	GError *e = NULL;
	char *host;
	int r;

	(void)k;
	if (p->file == NULL)
		return not_an_option(p, l, err);
	if ((host = resolved_hostname(p->c, FALSE, &e)) == NULL)
		return perr_from(p, err, e);
	r = match_line(p, l, host, err);
	g_free(host);
	if (r < 0)
		return -1;
	*p->active = (p->flags & P_NEVER) ? 0 : r;
	return 0;
}

static int read_file(const struct pctx *from, const char *path,
		     unsigned flags, int depth, int *active, GError **err);

/* Read every file a glob names, in glob(3)'s sorted order. Each starts
 * with the including block's state and cannot change it; from an
 * inactive block they are only checked. */
static int
include_glob(struct pctx *p, const char *pattern, GError **err)
{
	int oactive = *p->active, r = 0;
	unsigned flags = p->flags | P_CHECKPERM | (oactive ? 0 : P_NEVER);
	glob_t gl;
	size_t i;

	memset(&gl, 0, sizeof(gl));
	r = glob(pattern, 0, NULL, &gl);
	if (r == GLOB_NOMATCH)
		return 0;
	if (r != 0)
		return perr(p, err, "Include: glob failed for '%s'", pattern);
	for (i = 0; i < gl.gl_pathc && r >= 0; i++) {
		if (p->depth + 1 > MAX_INCLUDE_DEPTH) {
			r = perr(p, err, "Include nested more than %d levels "
			    "deep", MAX_INCLUDE_DEPTH);
			break;
		}
		r = read_file(p, gl.gl_pathv[i], flags, p->depth + 1,
		    p->active, err);
		*p->active = oactive;
	}
	globfree(&gl);
	return r < 0 ? -1 : 0;
}

/* Relative paths are under ~/.ssh for user files, /etc/ssh for system
 * ones; only user files may use ~. */
static int
parse_include(struct pctx *p, const struct keyword *k, struct line *l,
	      GError **err)
{
	const char *arg;
	GError *e = NULL;
	char *path;
	int r;

	(void)k;
	if (p->file == NULL)
		return not_an_option(p, l, err);
	while ((arg = next_arg(l)) != NULL) {
		if (*arg == '\0')
			return perr(p, err, "empty argument for '%s'", l->kw);
		if (*arg == '~' && !(p->flags & P_USER))
			return perr(p, err, "bad Include path '%s': '~' is "
			    "only allowed in user files", arg);
		if (*arg == '/')
			path = g_strdup(arg);
		else if (*arg == '~')
			path = expand_tilde(arg, &e);
		else if (p->flags & P_USER)
			path = g_build_filename(conf_home(), ".ssh", arg,
			    NULL);
		else
			path = g_build_filename(SYSTEM_DIR, arg, NULL);
		if (path == NULL)
			return perr_from(p, err, e);
		r = include_glob(p, path, err);
		g_free(path);
		if (r < 0)
			return -1;
	}
	return 0;
}

static const parse_fn parsers[K_NKINDS] = {
	[K_IGNORE] = parse_ignore,
	[K_STATE] = parse_state,
	[K_INT] = parse_number,
	[K_TIME] = parse_time,
	[K_PORT] = parse_number,
	[K_STR] = parse_str,
	[K_AGENT] = parse_agent,
	[K_PREFAUTH] = parse_prefauth,
	[K_IDFILE] = parse_idfile,
	[K_FILES] = parse_files,
	[K_IGNUNK] = parse_ignunk,
	[K_JUMP] = parse_jump,
	[K_PROXYCMD] = parse_proxycmd,
	[K_HOST] = parse_host,
	[K_MATCH] = parse_match,
	[K_INCLUDE] = parse_include,
};

/* ---- lines and files ---------------------------------------------------- */

/* Split like OpenSSH's argv_split(s, ..., terminate_on_comment = 1); NULL
 * if a quote is not closed. */
static GPtrArray *
split_args(const char *s)
{
	GPtrArray *av = g_ptr_array_new_with_free_func(g_free);
	size_t i = 0;

	for (;;) {
		GString *arg;
		char quote = 0;

		while (s[i] == ' ' || s[i] == '\t')
			i++;
		if (s[i] == '\0' || s[i] == '#')
			return av;
		arg = g_string_new(NULL);
		for (; s[i] != '\0'; i++) {
			char ch = s[i], nx = s[i + 1];

			if (ch == '\\' && (nx == '\'' || nx == '"' ||
			    nx == '\\' || (quote == 0 && nx == ' ')))
				g_string_append_c(arg, s[++i]);
			else if (quote == 0 && (ch == ' ' || ch == '\t'))
				break;
			else if (quote == 0 && (ch == '"' || ch == '\''))
				quote = ch;
			else if (quote != 0 && ch == quote)
				quote = 0;
			else
				g_string_append_c(arg, ch);
		}
		g_ptr_array_add(av, g_string_free(arg, FALSE));
		if (quote != 0) {
			g_ptr_array_unref(av);
			return NULL;
		}
	}
}

/* An unknown keyword is fine if IgnoreUnknown, given before, matches. */
static gboolean
ignored_unknown(const struct conf *c, const char *kw)
{
	char *lower = g_ascii_strdown(kw, -1);
	int r = 0;
	guint i;

	for (i = 0; i < c->ignore_unknown->len && r == 0; i++) {
		const char *pat = g_ptr_array_index(c->ignore_unknown, i);

		r = match_list(lower, pat, TRUE);
	}
	g_free(lower);
	return r == 1;
}

/* Parse one line (modified in place). */
static int
process_line(struct pctx *p, char *buf, GError **err)
{
	const struct keyword *k;
	struct line l = { 0 };
	char *s, *kw, delim;
	int r;

	rtrim(buf);
	s = buf + strspn(buf, WS);
	if (*s == '\0' || *s == '#')
		return 0;
	kw = s;
	s += strcspn(s, WS "=");
	delim = *s;
	if (*s != '\0')
		*s++ = '\0';
	s += strspn(s, WS);
	if (delim != '=' && *s == '=')
		s += 1 + strspn(s + 1, WS);
	l.kw = kw;
	l.rest = s;
	if (*s == '\0')
		return perr(p, err, "missing argument for '%s'", kw);
	if ((k = find_keyword(kw)) == NULL) {
		if (ignored_unknown(p->c, kw))
			return 0;
		if (p->file == NULL)
			return perr(p, err, "unknown option '%s'", kw);
		return perr(p, err, "unknown keyword '%s'", kw);
	}
	if ((l.av = split_args(s)) == NULL)
		return perr(p, err, "unterminated quote");
	r = parsers[k->kind](p, k, &l, err);
	if (r == 0 && l.next < l.av->len)
		r = perr(p, err, "extra arguments for '%s'", kw);
	g_ptr_array_unref(l.av);
	return r;
}

/* OpenSSH refuses a user config file that others could have written. */
static int
check_perm(FILE *f, const char *path, GError **err)
{
	struct stat st;

	if (fstat(fileno(f), &st) != 0) {
		g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED, "%s: %s",
		    path, g_strerror(errno));
		return -1;
	}
	if ((st.st_uid != 0 && st.st_uid != getuid()) ||
	    (st.st_mode & 022) != 0) {
		g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED,
		    "%s: bad owner or permissions", path);
		return -1;
	}
	return 0;
}

/* Returns 1 if read, 0 if it does not exist, -1 with *err. */
static int
read_file(const struct pctx *from, const char *path, unsigned flags,
	  int depth, int *active, GError **err)
{
	struct pctx p = *from;
	char *buf = NULL;
	size_t cap = 0;
	FILE *f;
	int r = 1;

	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED,
		    "cannot open %s: %s", path, g_strerror(errno));
		return -1;
	}
	if ((flags & P_CHECKPERM) && check_perm(f, path, err) < 0) {
		fclose(f);
		return -1;
	}
	p.file = path;
	p.line = 0;
	p.flags = flags;
	p.depth = depth;
	p.active = active;
	while (getline(&buf, &cap, f) != -1) {
		p.line++;
		if (process_line(&p, buf, err) < 0) {
			r = -1;
			break;
		}
	}
	if (r == 1 && ferror(f)) {
		g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED,
		    "cannot read %s: %s", path, g_strerror(errno));
		r = -1;
	}
	free(buf);
	fclose(f);
	return r;
}

/* One pass over the user file, then the system file. */
static int
read_pass(struct conf *c, const char *user_file, const char *system_file,
	  const char *host, unsigned flags, gboolean *want_final,
	  GError **err)
{
	struct pctx p = { 0 };
	char *path;
	int active, r = 0;

	p.c = c;
	p.host = host;
	p.want_final = want_final;
	if (user_file == NULL) {
		path = g_build_filename(conf_home(), ".ssh", "config", NULL);
		active = 1;
		r = read_file(&p, path, flags | P_USER | P_CHECKPERM, 0,
		    &active, err);
		g_free(path);
	} else if (strcmp(user_file, "none") != 0) {
		active = 1;
		r = read_file(&p, user_file, flags | P_USER, 0, &active, err);
		if (r == 0) {
			g_set_error(err, CONF_ERROR, CONF_ERROR_FAILED,
			    "cannot open %s: %s", user_file,
			    g_strerror(ENOENT));
			return -1;
		}
	}
	if (r < 0)
		return -1;
	if (system_file != NULL && strcmp(system_file, "none") == 0)
		return 0;
	active = 1;
	r = read_file(&p, system_file != NULL ? system_file : SYSTEM_CONFIG,
	    flags, 0, &active, err);
	return r < 0 ? -1 : 0;
}

/* "%" doubled, so that a later %h expansion gives s back. */
static char *
escape_percent(const char *s)
{
	GString *o = g_string_new(NULL);

	for (; *s != '\0'; s++) {
		if (*s == '%')
			g_string_append_c(o, '%');
		g_string_append_c(o, *s);
	}
	return g_string_free(o, FALSE);
}

/* As ssh does for "Match final": after the first pass, HostName becomes
 * the final (expanded, lowercased) name, and the files are read again
 * with Host patterns matched against it. Values set in the first pass
 * stay: the first value still wins. */
int
conf_read_files(struct conf *c, const char *user_file,
		const char *system_file, GError **err)
{
	gboolean want_final = FALSE;
	char *host;
	int r;

	r = read_pass(c, user_file, system_file, c->host_arg, 0, &want_final,
	    err);
	if (r < 0 || !want_final)
		return r;
	if ((host = resolved_hostname(c, TRUE, err)) == NULL)
		return -1;
	g_free(c->hostname);
	c->hostname = escape_percent(host);
	r = read_pass(c, user_file, system_file, host, P_FINAL, NULL, err);
	g_free(host);
	return r;
}

int
conf_set_option(struct conf *c, const char *kw_and_value, GError **err)
{
	struct pctx p = { 0 };
	char *buf;
	int active = 1, r;

	p.c = c;
	p.host = c->host_arg;
	p.active = &active;
	if (kw_and_value[strspn(kw_and_value, WS)] == '\0')
		return perr(&p, err, "empty option");
	buf = g_strdup(kw_and_value);
	r = process_line(&p, buf, err);
	g_free(buf);
	return r;
}

/* ---- object, defaults --------------------------------------------------- */

struct conf *
conf_new(const char *host_arg)
{
	struct conf *c = g_new0(struct conf, 1);

	c->host_arg = g_strdup(host_arg != NULL ? host_arg : "");
	c->port = CONF_UNSET;
	c->identities_only = CONF_UNSET;
	c->pubkey_auth = CONF_UNSET;
	c->password_auth = CONF_UNSET;
	c->kbdint_auth = CONF_UNSET;
	c->server_alive_interval = CONF_UNSET;
	c->server_alive_count_max = CONF_UNSET;
	c->connect_timeout = CONF_UNSET;
	c->compression = CONF_UNSET;
	c->strict_host_key_checking = CONF_UNSET;
	c->hash_known_hosts = CONF_UNSET;
	c->address_family = CONF_UNSET;
	c->batch_mode = CONF_UNSET;
	c->number_of_password_prompts = CONF_UNSET;
	c->identity_files = g_ptr_array_new_with_free_func(g_free);
	c->user_known_hosts = g_ptr_array_new_with_free_func(g_free);
	c->global_known_hosts = g_ptr_array_new_with_free_func(g_free);
	c->ignore_unknown = g_ptr_array_new_with_free_func(g_free);
	c->ignored = g_ptr_array_new_with_free_func(g_free);
	c->raw = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    (GDestroyNotify)g_ptr_array_unref);
	c->warnings = g_ptr_array_new_with_free_func(g_free);
	return c;
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	g_free(c->host_arg);
	g_free(c->hostname);
	g_free(c->user);
	g_free(c->identity_agent);
	g_free(c->preferred_auth);
	g_free(c->proxy_jump);
	g_free(c->proxy_command);
	g_free(c->host_key_alias);
	g_free(c->bind_address);
	g_free(c->ciphers);
	g_free(c->macs);
	g_free(c->kex_algorithms);
	g_free(c->host_key_algorithms);
	g_ptr_array_unref(c->identity_files);
	g_ptr_array_unref(c->user_known_hosts);
	g_ptr_array_unref(c->global_known_hosts);
	g_ptr_array_unref(c->ignore_unknown);
	g_ptr_array_unref(c->ignored);
	g_hash_table_unref(c->raw);
	g_ptr_array_unref(c->warnings);
	if (c->identity_files_raw != NULL)
		g_ptr_array_unref(c->identity_files_raw);
	g_free(c);
}

static void
set_default(int *field, int value)
{
	if (*field == CONF_UNSET)
		*field = value;
}

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
expand_all(GPtrArray *a, const struct tokens *t, const char *what,
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
finish_raw(struct conf *c, const struct tokens *t)
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
		if (i == 1 && state_value(st_flag, v) >= 0)
			continue;	/* ForwardAgent yes/no */
		if (i == 2)
			x = expand_tokens(v, t, names[i], NULL);
		else if (i == 3)
			x = expand_tilde(v, NULL);
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
static int
finish_paths(struct conf *c, GError **err)
{
	struct tokens t;
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

	tok_fill(&t, c, c->hostname, c->user);
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
	tok_free(&t);
	return r;
}

int
conf_finish(struct conf *c, GError **err)
{
	char *h;

	if (c->finished)
		return 0;
	if ((h = resolved_hostname(c, TRUE, err)) == NULL)
		return -1;
	g_free(c->hostname);
	c->hostname = h;
	if (c->user == NULL)
		c->user = g_strdup(local_user());
	c->preferred_auth_given = c->preferred_auth != NULL;
	if (c->preferred_auth == NULL)
		c->preferred_auth = g_strdup(DEFAULT_PREFAUTH);
	if (c->host_key_alias != NULL)
		lowercase(c->host_key_alias);
	set_default(&c->port, 22);
	set_default(&c->identities_only, 0);
	set_default(&c->pubkey_auth, 1);
	set_default(&c->password_auth, 1);
	set_default(&c->kbdint_auth, 1);
	set_default(&c->server_alive_interval, 0);
	set_default(&c->server_alive_count_max, 3);
	set_default(&c->compression, 0);
	set_default(&c->strict_host_key_checking, CONF_SHKC_ASK);
	set_default(&c->hash_known_hosts, 0);
	set_default(&c->address_family, CONF_AF_ANY);
	set_default(&c->batch_mode, 0);
	set_default(&c->number_of_password_prompts, 3);
	if (c->proxy_jump != NULL &&
	    g_ascii_strcasecmp(c->proxy_jump, "none") == 0)
		g_clear_pointer(&c->proxy_jump, g_free);
	if (c->proxy_command != NULL &&
	    g_ascii_strcasecmp(c->proxy_command, "none") == 0)
		g_clear_pointer(&c->proxy_command, g_free);
	if (finish_paths(c, err) < 0)
		return -1;
	c->finished = TRUE;
	return 0;
}

const char *
conf_agent_socket(const struct conf *c)
{
	const char *a = c->identity_agent, *v;

	if (a != NULL && strcmp(a, "none") == 0)
		return NULL;
	if (a == NULL || strcmp(a, "SSH_AUTH_SOCK") == 0)
		v = getenv("SSH_AUTH_SOCK");
	else if (a[0] == '$')
		v = getenv(a + 1);
	else
		return a;
	return v != NULL && *v != '\0' ? v : NULL;
}

const GPtrArray *
conf_raw(const struct conf *c, const char *name)
{
	return g_hash_table_lookup(c->raw, name);
}
