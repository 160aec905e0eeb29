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
 *
 * Host and Match lines are evaluated in conf_match.c; "~", ${VAR} and
 * %-tokens are expanded in conf_expand.c; conf_finish()'s defaults and
 * `rfs -G` are in conf_print.c (conf_int.h: what they share).
 */
#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rfs/conf.h"
#include "rfs/util.h"
#include "conf_int.h"

#define MAX_INCLUDE_DEPTH	16	/* READCONF_MAX_DEPTH */
#define MAX_IDENTITY_FILES	100	/* SSH_MAX_IDENTITY_FILES */
#define SYSTEM_CONFIG		SYSTEM_DIR "/ssh_config"
#define WS			" \t\r\n\f"

/* ---- small helpers ------------------------------------------------------ */

GQuark
conf_error_quark(void)
{
	return g_quark_from_static_string("rfs-conf");
}

void
conf_lowercase(char *s)
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
int
conf_conv_time(const char *s)
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

gboolean
conf_flag_word(const char *word)
{
	return state_value(st_flag, word) >= 0;
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

/* ---- errors ------------------------------------------------------------- */

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
int
conf_perr(const struct pctx *p, GError **err, const char *fmt, ...)
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

void
conf_pwarn(const struct pctx *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(p->c->warnings, vprefixed(p, fmt, ap));
	va_end(ap);
}

/* Put an error from a helper (expansion) in FILE:LINE form. */
int
conf_perr_from(const struct pctx *p, GError **err, GError *e)
{
	/* e is NULL only if a helper failed without saying why (a host of
	 * NULL, say): still an error, never a crash. */
	conf_perr(p, err, "%s", e != NULL ? e->message : "internal error");
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
		return conf_perr(p, err, "missing argument for '%s'", l->kw);
	return 0;
}

static int
bad_value(const struct pctx *p, const struct line *l, const char *arg,
	  GError **err)
{
	return conf_perr(p, err, "bad %s '%s'", l->kw, arg);
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
		if (conf_match_pattern(g_ptr_array_index(a, i), pat))
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
	else if ((v = conf_conv_time(arg)) < 0)
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
		conf_lowercase(v[i]);
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
		return conf_perr(p, err,
		    "too many IdentityFile entries (max %d)",
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
			return conf_perr(p, err, "empty argument for '%s'",
			    l->kw);
		if (g_ascii_strcasecmp(arg, "none") == 0 &&
		    (n > 0 || l->next < l->av->len))
			return conf_perr(p, err,
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
		conf_perr(p, err, "bad %s '%s'", l->kw, v);
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
		return conf_perr(p, err, "missing argument for '%s'", l->kw);
	if (*p->active && c->proxy_jump == NULL && c->proxy_command == NULL)
		c->proxy_command = g_strdup(s);
	return 0;
}

/* ---- Include (Host and Match: conf_match.c) ----------------------------- */

int
conf_not_an_option(struct pctx *p, struct line *l, GError **err)
{
	return conf_perr(p, err, "'%s' is not allowed as an option", l->kw);
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
		return conf_perr(p, err, "Include: glob failed for '%s'",
		    pattern);
	for (i = 0; i < gl.gl_pathc && r >= 0; i++) {
		if (p->depth + 1 > MAX_INCLUDE_DEPTH) {
			r = conf_perr(p, err, "Include nested more than %d "
			    "levels deep", MAX_INCLUDE_DEPTH);
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
		return conf_not_an_option(p, l, err);
	while ((arg = next_arg(l)) != NULL) {
		if (*arg == '\0')
			return conf_perr(p, err, "empty argument for '%s'",
			    l->kw);
		if (*arg == '~' && !(p->flags & P_USER))
			return conf_perr(p, err, "bad Include path '%s': "
			    "'~' is only allowed in user files", arg);
		if (*arg == '/')
			path = g_strdup(arg);
		else if (*arg == '~')
			path = conf_expand_tilde(arg, &e);
		else if (p->flags & P_USER)
			path = g_build_filename(conf_home(), ".ssh", arg,
			    NULL);
		else
			path = g_build_filename(SYSTEM_DIR, arg, NULL);
		if (path == NULL)
			return conf_perr_from(p, err, e);
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
	[K_HOST] = conf_parse_host,
	[K_MATCH] = conf_parse_match,
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

		r = conf_match_list(lower, pat, TRUE);
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
		return conf_perr(p, err, "missing argument for '%s'", kw);
	if ((k = find_keyword(kw)) == NULL) {
		if (ignored_unknown(p->c, kw))
			return 0;
		if (p->file == NULL)
			return conf_perr(p, err, "unknown option '%s'", kw);
		return conf_perr(p, err, "unknown keyword '%s'", kw);
	}
	if ((l.av = split_args(s)) == NULL)
		return conf_perr(p, err, "unterminated quote");
	r = parsers[k->kind](p, k, &l, err);
	if (r == 0 && l.next < l.av->len)
		r = conf_perr(p, err, "extra arguments for '%s'", kw);
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
	if ((host = conf_resolved_hostname(c, TRUE, err)) == NULL)
		return -1;
	g_free(c->hostname);
	c->hostname = conf_escape_percent(host);
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
		return conf_perr(&p, err, "empty option");
	buf = g_strdup(kw_and_value);
	r = process_line(&p, buf, err);
	g_free(buf);
	return r;
}

/* ---- the object --------------------------------------------------------- */

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
