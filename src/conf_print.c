/* conf_print: the defaults conf_finish() fills in (at the end), and
 * `rfs -G`, the resolved ssh_config as OpenSSH 9.2 (Debian) prints it
 * with `ssh -G` (readconf.c dump_client_config()): the same keys in the
 * same order and spelling, so that the two outputs can be diffed.
 *
 * Keys rfs acts on print the value rfs uses. Keys rfs only accepts print
 * what ssh would: the value kept in c->raw, put in ssh's form (yes/no
 * words, times in seconds, ...), else ssh's default. A value ssh would
 * refuse is printed as written: rfs does not use it.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/conf.h"
#include "rfs/util.h"
#include "conf_int.h"

/* OpenSSH 9.2's default lists (myproposal.h, with OpenSSL). */
#define DEF_CIPHERS "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr," \
	"aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com"
#define DEF_MACS "umac-64-etm@openssh.com,umac-128-etm@openssh.com," \
	"hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com," \
	"hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com," \
	"hmac-sha2-256,hmac-sha2-512,hmac-sha1"
#define DEF_KEX "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com," \
	"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256," \
	"ecdh-sha2-nistp384,ecdh-sha2-nistp521," \
	"diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512," \
	"diffie-hellman-group18-sha512,diffie-hellman-group14-sha256"
#define DEF_SIG "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384," \
	"ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com," \
	"sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256"
#define DEF_PK "ssh-ed25519-cert-v01@openssh.com," \
	"ecdsa-sha2-nistp256-cert-v01@openssh.com," \
	"ecdsa-sha2-nistp384-cert-v01@openssh.com," \
	"ecdsa-sha2-nistp521-cert-v01@openssh.com," \
	"sk-ssh-ed25519-cert-v01@openssh.com," \
	"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com," \
	"rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com," \
	DEF_SIG
#define DEF_GSSKEX "gss-group14-sha256-,gss-group16-sha512-," \
	"gss-nistp256-sha256-,gss-curve25519-sha256-,gss-group14-sha1-," \
	"gss-gex-sha1-"

struct word {
	const char *word;
	int value;
};

/* OpenSSH's multistate tables: a value prints as the first word listed
 * for it. */
static const struct word w_flag[] = {
	{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 }, { NULL, 0 }
};
static const struct word w_ask[] = {
	{ "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
	{ "ask", 2 }, { NULL, 0 }
};
static const struct word w_confirm[] = {
	{ "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
	{ "ask", 2 }, { "confirm", 3 }, { NULL, 0 }
};
static const struct word w_canon[] = {
	{ "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
	{ "always", 2 }, { NULL, 0 }
};
static const struct word w_master[] = {
	{ "true", 1 }, { "yes", 1 }, { "false", 0 }, { "no", 0 },
	{ "auto", 2 }, { "ask", 3 }, { "autoask", 4 }, { NULL, 0 }
};
static const struct word w_tunnel[] = {
	{ "ethernet", 2 }, { "point-to-point", 1 }, { "true", 1 },
	{ "yes", 1 }, { "false", 0 }, { "no", 0 }, { NULL, 0 }
};
static const struct word w_tty[] = {
	{ "true", 1 }, { "yes", 1 }, { "false", 0 }, { "no", 0 },
	{ "force", 2 }, { "auto", 3 }, { NULL, 0 }
};
static const struct word w_session[] = {
	{ "none", 0 }, { "subsystem", 1 }, { "default", 2 }, { NULL, 0 }
};
static const struct word w_fphash[] = {
	{ "MD5", 1 }, { "SHA256", 2 }, { NULL, 0 }
};
/* rfs's own fields, by their enum values. */
static const struct word w_pubkey[] = {
	{ "true", 1 }, { "false", 0 }, { "unbound", 2 }, { "host-bound", 3 },
	{ NULL, 0 }
};
static const struct word w_shkc[] = {
	{ "true", CONF_SHKC_YES }, { "false", CONF_SHKC_NO },
	{ "ask", CONF_SHKC_ASK }, { "accept-new", CONF_SHKC_ACCEPT_NEW },
	{ NULL, 0 }
};
static const struct word w_af[] = {
	{ "inet", CONF_AF_INET }, { "inet6", CONF_AF_INET6 },
	{ "any", CONF_AF_ANY }, { NULL, 0 }
};

static int
word_value(const struct word *w, const char *s)
{
	for (; w->word != NULL; w++)
		if (g_ascii_strcasecmp(s, w->word) == 0)
			return w->value;
	return -1;
}

static const char *
value_word(const struct word *w, int v)
{
	for (; w->word != NULL; w++)
		if (w->value == v)
			return w->word;
	return "UNKNOWN";
}

/* ---- c->raw ------------------------------------------------------------- */

static const GPtrArray *
raw(const struct conf *c, const char *kw)
{
	const GPtrArray *a = conf_raw(c, kw);

	return a != NULL && a->len > 0 ? a : NULL;
}

/* The first value of kw, or NULL. */
static const char *
raw1(const struct conf *c, const char *kw)
{
	const GPtrArray *a = raw(c, kw);

	return a != NULL ? g_ptr_array_index(a, 0) : NULL;
}

/* The words of kw's line joined by sep, or NULL. */
static char *
raw_join(const struct conf *c, const char *kw, const char *sep)
{
	const GPtrArray *a = raw(c, kw);
	GString *o;
	guint i;

	if (a == NULL)
		return NULL;
	o = g_string_new(NULL);
	for (i = 0; i < a->len; i++)
		g_string_append_printf(o, "%s%s", i ? sep : "",
		    (const char *)g_ptr_array_index(a, i));
	return g_string_free(o, FALSE);
}

/* ---- one function per kind of key --------------------------------------- */

struct pkey;
typedef void (*print_fn)(GString *o, const struct conf *c,
			 const struct pkey *k, const struct conf_algs *dflt);

struct pkey {
	const char *name;	/* as ssh -G prints it */
	print_fn print;
	const void *arg;	/* a word table, or an offset (rfs fields) */
	const char *dflt;	/* ssh's default, as printed; NULL: none */
	const struct word *words;	/* rfs's enum fields */
};

#define FIELD(k, type)	((const type *)((const char *)c + \
			    GPOINTER_TO_SIZE((k)->arg)))
#define OFF(f)		GSIZE_TO_POINTER(offsetof(struct conf, f))

static void
line(GString *o, const char *name, const char *v)
{
	g_string_append_printf(o, "%s %s\n", name, v);
}

/* rfs's fields. */
static void
p_int(GString *o, const struct conf *c, const struct pkey *k,
      const struct conf_algs *d)
{
	(void)d;
	g_string_append_printf(o, "%s %d\n", k->name, *FIELD(k, int));
}

static void
p_str(GString *o, const struct conf *c, const struct pkey *k,
      const struct conf_algs *d)
{
	const char *v = *FIELD(k, char *);

	(void)d;
	if (v != NULL)
		line(o, k->name, v);
}

/* rfs's enum fields; arg is the field, dflt unused. */
#define STATE(name, f, w)	{ name, p_enum, OFF(f), NULL, w }

static void
p_enum(GString *o, const struct conf *c, const struct pkey *k,
       const struct conf_algs *d)
{
	(void)d;
	line(o, k->name, value_word(k->words, *FIELD(k, int)));
}

/* Ignored keys: a word of a table (arg), else the default. */
static void
p_word(GString *o, const struct conf *c, const struct pkey *k,
       const struct conf_algs *d)
{
	const struct word *w = k->arg;
	const char *v = raw1(c, k->name);
	int n;

	(void)d;
	if (v == NULL)
		line(o, k->name, k->dflt);
	else if ((n = word_value(w, v)) < 0)
		line(o, k->name, v);
	else
		line(o, k->name, value_word(w, n));
}

/* A number, or a time when arg is set. */
static void
p_num(GString *o, const struct conf *c, const struct pkey *k,
      const struct conf_algs *d)
{
	const char *v = raw1(c, k->name);
	long n;

	(void)d;
	if (v == NULL)
		line(o, k->name, k->dflt);
	else if (k->arg != NULL && (n = conf_conv_time(v)) >= 0)
		g_string_append_printf(o, "%s %ld\n", k->name, n);
	else
		line(o, k->name, v);
}

/* A string: "none" clears it where ssh's CLEAR_ON_NONE does (arg set). */
static void
p_text(GString *o, const struct conf *c, const struct pkey *k,
       const struct conf_algs *d)
{
	const char *v = raw1(c, k->name);

	(void)d;
	if (v != NULL && k->arg != NULL && g_ascii_strcasecmp(v, "none") == 0)
		return;
	if (v == NULL)
		v = k->dflt;
	if (v != NULL)
		line(o, k->name, v);
}

/* LogLevel and SyslogFacility print in capitals, a level by the first
 * of its names in log.c: DEBUG1 is DEBUG, QUIET is SILENT. */
static void
p_upper(GString *o, const struct conf *c, const struct pkey *k,
	const struct conf_algs *d)
{
	const char *v = raw1(c, k->name);
	char *u = g_ascii_strup(v != NULL ? v : k->dflt, -1);

	(void)d;
	line(o, k->name, strcmp(u, "DEBUG1") == 0 ? "DEBUG" :
	    strcmp(u, "QUIET") == 0 ? "SILENT" : u);
	g_free(u);
}

static gboolean
in_list(const char *item, gchar **list)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, item) == 0)
			return TRUE;
	return FALSE;
}

static gboolean
matches_any(const char *item, gchar **pats)
{
	for (; *pats != NULL; pats++)
		if (util_glob_match(item, *pats, strlen(*pats), FALSE))
			return TRUE;
	return FALSE;
}

/* "+x", "-x" or "^x": relative to the default list. */
static gboolean
relative(const char *v)
{
	return v != NULL && (*v == '+' || *v == '-' || *v == '^');
}

static void
append_item(GString *o, const char *item)
{
	g_string_append_printf(o, "%s%s", o->len ? "," : "", item);
}

/* OpenSSH's kex_assemble_names() on a default list: "+x" appends, "-x"
 * removes what the patterns match, "^x" puts first; a plain list is used
 * as given. */
static char *
assemble(const char *v, const char *def)
{
	gchar **dl, **vl, **p;
	GString *o;

	if (!relative(v))
		return g_strdup(v != NULL ? v : def);
	dl = g_strsplit(def, ",", -1);
	vl = g_strsplit(v + 1, ",", -1);
	o = g_string_new(NULL);
	if (*v == '^')
		for (p = vl; *p != NULL; p++)
			append_item(o, *p);
	for (p = dl; *p != NULL; p++)
		if (!(*v == '-' ? matches_any(*p, vl) : *v == '^' &&
		    in_list(*p, vl)))
			append_item(o, *p);
	if (*v == '+')
		for (p = vl; *p != NULL; p++)
			if (!in_list(*p, dl))
				append_item(o, *p);
	g_strfreev(dl);
	g_strfreev(vl);
	return g_string_free(o, FALSE);
}

static void
p_algs(GString *o, const struct conf *c, const struct pkey *k,
       const struct conf_algs *d)
{
	char *v = assemble(raw1(c, k->name), k->dflt);

	(void)d;
	line(o, k->name, v);
	g_free(v);
}

/* Ciphers, MACs, KexAlgorithms, HostKeyAlgorithms: rfs hands a plain list
 * to libssh2, and uses libssh2's defaults for none or a relative one. */
static void
p_rfs_algs(GString *o, const struct conf *c, const struct pkey *k,
	   const struct conf_algs *d)
{
	const char *v = *FIELD(k, char *), *def = NULL;

	if (d != NULL)
		def = strcmp(k->name, "ciphers") == 0 ? d->ciphers :
		    strcmp(k->name, "macs") == 0 ? d->macs :
		    strcmp(k->name, "kexalgorithms") == 0 ? d->kex : d->hostkey;
	if ((v == NULL || relative(v)) && def != NULL)
		v = def;
	if (v != NULL)
		line(o, k->name, v);
}

/* One line per value. */
static void
p_each(GString *o, const struct conf *c, const struct pkey *k,
       const struct conf_algs *d)
{
	const GPtrArray *a = raw(c, k->name);
	guint i;

	(void)d;
	for (i = 0; a != NULL && i < a->len; i++)
		line(o, k->name, g_ptr_array_index(a, i));
}

/* All values on one line, else the default. */
static void
p_oneline(GString *o, const struct conf *c, const struct pkey *k,
	  const struct conf_algs *d)
{
	char *v = raw_join(c, k->name, " ");

	(void)d;
	line(o, k->name, v != NULL ? v : k->dflt);
	g_free(v);
}

/* ---- forwards ----------------------------------------------------------- */

/* One side of a forward as ssh prints it: a path as is, "port", or
 * "[host]:port". */
static void
fwd_side(GString *o, const char *s)
{
	const char *colon, *end;
	char *host;

	if (strchr(s, '/') != NULL) {
		g_string_append_printf(o, " %s", s);
		return;
	}
	end = s[0] == '[' ? strchr(s, ']') : NULL;
	if ((colon = strrchr(s, ':')) == NULL || (end != NULL && end > colon)) {
		g_string_append_printf(o, " %s", s);
		return;
	}
	host = g_strndup(s, (gsize)(colon - s));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	g_string_append_printf(o, " [%s]:%s", host, colon + 1);
	g_free(host);
}

static gboolean
clear_forwards(const struct conf *c)
{
	const char *v = raw1(c, "clearallforwardings");

	return v != NULL && word_value(w_flag, v) == 1;
}

/* Is forward (a c->raw value) printed under key? DynamicForward and
 * LocalForward share ssh's list ("localforward", one word for a dynamic
 * one): ssh lists under dynamicforward the forwards without a target host
 * (a LocalForward to a path too), under localforward all but dynamic
 * ones. */
static gboolean
fwd_listed(const char *key, gchar **w)
{
	if (strcmp(key, "dynamicforward") == 0)
		return w[1] == NULL || strchr(w[1], '/') != NULL;
	if (strcmp(key, "localforward") == 0)
		return w[1] != NULL;
	return TRUE;
}

static void
p_fwd(GString *o, const struct conf *c, const struct pkey *k,
      const struct conf_algs *d)
{
	gboolean dyn = strcmp(k->name, "dynamicforward") == 0;
	const GPtrArray *a = raw(c, dyn ? "localforward" : k->name);
	guint i;

	(void)d;
	for (i = 0; a != NULL && !clear_forwards(c) && i < a->len; i++) {
		gchar **w = g_strsplit(g_ptr_array_index(a, i), " ", 2);

		if (w[0] != NULL && fwd_listed(k->name, w)) {
			g_string_append(o, k->name);
			fwd_side(o, w[0]);
			if (!dyn)	/* a dynamic RemoteForward: socks */
				fwd_side(o, w[1] != NULL ? w[1] : "socks:0");
			g_string_append_c(o, '\n');
		}
		g_strfreev(w);
	}
}

/* ---- the special cases of dump_client_config() -------------------------- */

/* "confirm", a lifetime, or both: "addkeystoagent confirm 3600". */
static void
p_addkeys(GString *o, const struct conf *c, const struct pkey *k,
	  const struct conf_algs *d)
{
	const GPtrArray *a = raw(c, k->name);
	const char *v = a != NULL ? g_ptr_array_index(a, 0) : NULL;
	long t = -1;

	(void)d;
	if (v != NULL && a->len == 2 && strcmp(v, "confirm") == 0)
		t = conf_conv_time(g_ptr_array_index(a, 1));
	else if (v != NULL && word_value(w_confirm, v) < 0)
		t = conf_conv_time(v);
	if (t > 0)
		g_string_append_printf(o, "addkeystoagent%s %ld\n",
		    a->len == 2 ? " confirm" : "", t);
	else if (v == NULL || word_value(w_confirm, v) < 0)
		line(o, k->name, v != NULL ? v : "false");
	else
		line(o, k->name, value_word(w_confirm,
		    word_value(w_confirm, v)));
}

static void
p_fwdagent(GString *o, const struct conf *c, const struct pkey *k,
	   const struct conf_algs *d)
{
	const char *v = raw1(c, k->name);
	int n = v != NULL ? word_value(w_flag, v) : 0;

	(void)d;
	line(o, k->name, n >= 0 ? value_word(w_flag, n) : v);
}

/* rfs connects with a 30 s limit when ConnectTimeout is unset, none or 0
 * (xport.c); ssh has none. */
static void
p_timeout(GString *o, const struct conf *c, const struct pkey *k,
	  const struct conf_algs *d)
{
	(void)d;
	g_string_append_printf(o, "%s %d\n", k->name, c->connect_timeout > 0 ?
	    c->connect_timeout : CONF_CONNECT_TIMEOUT);
}

static void
p_tundev(GString *o, const struct conf *c, const struct pkey *k,
	 const struct conf_algs *d)
{
	const char *v = raw1(c, k->name);
	char *l = g_ascii_strdown(v != NULL ? v : "any", -1);

	(void)d;
	g_string_append_printf(o, "%s %s%s\n", k->name, l,
	    strchr(l, ':') != NULL ? "" : ":any");
	g_free(l);
}

/* ssh prints "canonicalizePermittedcnames" so, with that capital. */
static void
p_cnames(GString *o, const struct conf *c, const struct pkey *k,
	 const struct conf_algs *d)
{
	char *v = raw_join(c, "canonicalizepermittedcnames", " ");

	(void)d;
	line(o, k->name, v != NULL && g_ascii_strcasecmp(v, "none") != 0 ?
	    v : "none");
	g_free(v);
}

static void
p_persist(GString *o, const struct conf *c, const struct pkey *k,
	  const struct conf_algs *d)
{
	const char *v = raw1(c, k->name);
	long t;

	(void)d;
	if (v == NULL || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
		line(o, k->name, "no");
	else if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    (t = conf_conv_time(v)) == 0)
		line(o, k->name, "yes");
	else if (t > 0)
		g_string_append_printf(o, "%s %ld\n", k->name, t);
	else
		line(o, k->name, v);
}

/* vis(3) with VIS_WHITE, as ssh prints it: "^A" is "\^A". */
static void
p_escape(GString *o, const struct conf *c, const struct pkey *k,
	 const struct conf_algs *d)
{
	const char *v = raw1(c, k->name);

	(void)d;
	if (v == NULL)
		v = "~";
	if (v[0] == '^' && v[1] != '\0' && v[2] == '\0')
		g_string_append_printf(o, "%s \\^%c\n", k->name,
		    (v[1] & 31) + '@');
	else if (v[0] == '\\' && v[1] == '\0')
		line(o, k->name, "\\\\");
	else if ((v[0] == ' ' || v[0] == '\t') && v[1] == '\0')
		g_string_append_printf(o, "%s \\%03o\n", k->name, v[0]);
	else
		line(o, k->name, v);
}

static const struct word w_ipqos[] = {
	{ "af11", 0x28 }, { "af12", 0x30 }, { "af13", 0x38 },
	{ "af21", 0x48 }, { "af22", 0x50 }, { "af23", 0x58 },
	{ "af31", 0x68 }, { "af32", 0x70 }, { "af33", 0x78 },
	{ "af41", 0x88 }, { "af42", 0x90 }, { "af43", 0x98 },
	{ "cs0", 0x00 }, { "cs1", 0x20 }, { "cs2", 0x40 }, { "cs3", 0x60 },
	{ "cs4", 0x80 }, { "cs5", 0xa0 }, { "cs6", 0xc0 }, { "cs7", 0xe0 },
	{ "ef", 0xb8 }, { "le", 0x01 }, { "lowdelay", 0x10 },
	{ "throughput", 0x08 }, { "reliability", 0x04 }, { NULL, 0 }
};

/* A name, or a number printed by its name if it has one (iptos2str()). */
static void
ipqos_one(GString *o, const char *s)
{
	char *end;
	long v = word_value(w_ipqos, s);

	if (v < 0 && g_ascii_strcasecmp(s, "none") != 0) {
		v = strtol(s, &end, 0);
		if (*s == '\0' || *end != '\0')
			v = -1;
	}
	if (v < 0)
		g_string_append_printf(o, "%s", s);
	else if (strcmp(value_word(w_ipqos, (int)v), "UNKNOWN") != 0)
		g_string_append(o, value_word(w_ipqos, (int)v));
	else
		g_string_append_printf(o, "0x%02lx", v);
}

/* "ipqos INTERACTIVE BULK"; one value is both. */
static void
p_ipqos(GString *o, const struct conf *c, const struct pkey *k,
	const struct conf_algs *d)
{
	const GPtrArray *a = raw(c, k->name);

	(void)d;
	if (a == NULL) {
		line(o, k->name, k->dflt);
		return;
	}
	g_string_append_printf(o, "%s ", k->name);
	ipqos_one(o, g_ptr_array_index(a, 0));
	g_string_append_c(o, ' ');
	ipqos_one(o, g_ptr_array_index(a, a->len > 1 ? 1 : 0));
	g_string_append_c(o, '\n');
}

/* scan_scaled(): "1G" -> 1073741824; -1 if invalid. */
static long long
scaled(const char *s)
{
	static const char units[] = "BKMGTPE";
	const char *u;
	char *end;
	long long v = strtoll(s, &end, 10);
	int i;

	if (end == s || v < 0)
		return -1;
	if (*end == '\0')
		return v;
	if (end[1] != '\0' ||
	    (u = strchr(units, g_ascii_toupper(*end))) == NULL)
		return -1;
	for (i = 0; i < u - units; i++) {
		if (v > G_MAXINT64 / 1024)
			return -1;
		v *= 1024;
	}
	return v;
}

/* "rekeylimit BYTES SECONDS"; "default" bytes and "none" time are 0. */
static void
p_rekey(GString *o, const struct conf *c, const struct pkey *k,
	const struct conf_algs *d)
{
	const GPtrArray *a = raw(c, k->name);
	const char *b = a != NULL ? g_ptr_array_index(a, 0) : "0";
	const char *t = a != NULL && a->len > 1 ? g_ptr_array_index(a, 1) :
	    "0";
	long long n = strcmp(b, "default") == 0 ? 0 : scaled(b);
	long s = strcmp(t, "none") == 0 ? 0 : conf_conv_time(t);

	(void)d;
	if (n < 0 || s < 0) {
		char *v = raw_join(c, k->name, " ");

		line(o, k->name, v);
		g_free(v);
		return;
	}
	g_string_append_printf(o, "%s %lld %ld\n", k->name, n, s);
}

static void
p_mask(GString *o, const struct conf *c, const struct pkey *k,
       const struct conf_algs *d)
{
	const char *v = raw1(c, k->name);
	char *end;
	unsigned long m = v != NULL ? strtoul(v, &end, 8) : 0177;

	(void)d;
	if (v != NULL && (*v == '\0' || *end != '\0' || m > 0777))
		line(o, k->name, v);
	else
		g_string_append_printf(o, "%s 0%lo\n", k->name, m);
}

/* ssh prints the last hop parsed ("[user@]host[:port]", brackets around
 * a numeric host) after the others as written. */
static void
p_proxy(GString *o, const struct conf *c, const struct pkey *k,
	const struct conf_algs *d)
{
	const char *j = c->proxy_jump, *last, *hp, *at, *colon;
	char *user = NULL, *host, *port = NULL;
	gboolean br;

	(void)k;
	(void)d;
	if (j == NULL) {
		if (c->proxy_command != NULL)
			line(o, "proxycommand", c->proxy_command);
		return;
	}
	last = strrchr(j, ',');
	last = last != NULL ? last + 1 : j;
	hp = g_str_has_prefix(last, "ssh://") ? last + 6 : last;
	if ((at = strrchr(hp, '@')) != NULL) {
		user = g_strndup(hp, (gsize)(at - hp));
		hp = at + 1;
	}
	if (*hp == '[') {
		const char *e = strchr(hp, ']');

		host = g_strndup(hp + 1, (gsize)(e - hp - 1));
		colon = e[1] == ':' ? e + 1 : NULL;
	} else {
		colon = strrchr(hp, ':');
		host = g_strndup(hp, colon != NULL ? (gsize)(colon - hp) :
		    strlen(hp));
	}
	if (colon != NULL)
		port = g_strdup_printf("%ld", strtol(colon + 1, NULL, 10));
	br = strchr(host, ':') != NULL ||
	    strspn(host, "1234567890.") == strlen(host);
	g_string_append_printf(o, "proxyjump %.*s%s%s%s%s%s%s%s\n",
	    (int)(last - j), j, user != NULL ? user : "",
	    user != NULL ? "@" : "", br ? "[" : "", host, br ? "]" : "",
	    port != NULL ? ":" : "", port != NULL ? port : "");
	g_free(user);
	g_free(host);
	g_free(port);
}

/* rfs's PreferredAuthentications, normalised; printed only if set, as
 * ssh does (c->preferred_auth always is after conf_finish()). */
static void
p_prefauth(GString *o, const struct conf *c, const struct pkey *k,
	   const struct conf_algs *d)
{
	(void)d;
	if (c->preferred_auth_given)
		line(o, k->name, c->preferred_auth);
}

/* True unless VerifyHostKeyDNS is on or UserKnownHostsFile names other
 * files than ~/.ssh/known_hosts (readconf.c fill_default_options()). */
static void
p_update(GString *o, const struct conf *c, const struct pkey *k,
	 const struct conf_algs *d)
{
	const char *dns = raw1(c, "verifyhostkeydns");
	const GPtrArray *u = c->user_known_hosts;
	char *kh = g_build_filename(conf_home(), ".ssh", "known_hosts", NULL);
	char *kh2 = g_strconcat(kh, "2", NULL);
	gboolean yes = u->len > 0 && (u->len == 1 || (u->len == 2 &&
	    strcmp(g_ptr_array_index(u, 1), kh2) == 0)) &&
	    strcmp(g_ptr_array_index(u, 0), kh) == 0;

	if (dns != NULL && word_value(w_ask, dns) != 0)
		yes = FALSE;
	if (raw1(c, k->name) != NULL)
		p_word(o, c, k, d);
	else
		line(o, k->name, yes ? "true" : "false");
	g_free(kh);
	g_free(kh2);
}

static void
p_host(GString *o, const struct conf *c, const struct pkey *k,
       const struct conf_algs *d)
{
	(void)d;
	line(o, k->name, c->host_arg);
}

static void
p_ignunk(GString *o, const struct conf *c, const struct pkey *k,
	 const struct conf_algs *d)
{
	guint i;

	(void)d;
	for (i = 0; i < c->ignore_unknown->len; i++)
		g_string_append_printf(o, "%s%s", i == 0 ? "ignoreunknown " :
		    ",", (const char *)g_ptr_array_index(c->ignore_unknown, i));
	if (c->ignore_unknown->len > 0)
		g_string_append_c(o, '\n');
	(void)k;
}

/* IdentityFile as written, before expansion, as ssh prints it. */
static void
p_idfiles(GString *o, const struct conf *c, const struct pkey *k,
	  const struct conf_algs *d)
{
	const GPtrArray *a = c->identity_files_raw != NULL ?
	    c->identity_files_raw : c->identity_files;
	guint i;

	(void)d;
	for (i = 0; i < a->len; i++)
		line(o, k->name, g_ptr_array_index(a, i));
}

static void
p_files(GString *o, const struct conf *c, const struct pkey *k,
	const struct conf_algs *d)
{
	const GPtrArray *a = *FIELD(k, GPtrArray *);
	guint i;

	(void)d;
	g_string_append(o, k->name);
	if (a->len == 0)
		g_string_append(o, " none");
	for (i = 0; i < a->len; i++)
		g_string_append_printf(o, " %s",
		    (const char *)g_ptr_array_index(a, i));
	g_string_append_c(o, '\n');
}

#define RFS(name, fn, f)	{ name, fn, OFF(f), NULL, NULL }
#define IGN(name, fn, arg, dflt) { name, fn, arg, dflt, NULL }
#define FLAG(name, dflt)	{ name, p_word, w_flag, dflt, NULL }
#define WORD(name, w, dflt)	{ name, p_word, w, dflt, NULL }
#define TEXT(name, dflt)	{ name, p_text, NULL, dflt, NULL }
#define CLEARED(name, dflt)	{ name, p_text, "", dflt, NULL }
#define SPECIAL(name, fn)	{ name, fn, NULL, NULL, NULL }

/* Every key of dump_client_config(), in its order, with Debian's GSSAPI
 * keys. */
static const struct pkey pkeys[] = {
	SPECIAL("host", p_host),
	RFS("user", p_str, user),
	RFS("hostname", p_str, hostname),
	RFS("port", p_int, port),
	STATE("addressfamily", address_family, w_af),
	STATE("batchmode", batch_mode, w_flag),
	FLAG("canonicalizefallbacklocal", "yes"),
	WORD("canonicalizehostname", w_canon, "false"),
	FLAG("checkhostip", "no"),
	STATE("compression", compression, w_flag),
	WORD("controlmaster", w_master, "false"),
	FLAG("enablesshkeysign", "no"),
	FLAG("clearallforwardings", "no"),
	FLAG("exitonforwardfailure", "no"),
	WORD("fingerprinthash", w_fphash, "SHA256"),
	FLAG("forwardx11", "no"),
	FLAG("forwardx11trusted", "yes"),	/* Debian's default */
	FLAG("gatewayports", "no"),
	FLAG("gssapiauthentication", "no"),
	FLAG("gssapikeyexchange", "no"),
	FLAG("gssapidelegatecredentials", "no"),
	FLAG("gssapitrustdns", "no"),
	FLAG("gssapirenewalforcesrekey", "no"),
	TEXT("gssapiclientidentity", NULL),
	TEXT("gssapiserveridentity", NULL),
	IGN("gssapikexalgorithms", p_algs, NULL, DEF_GSSKEX),
	STATE("hashknownhosts", hash_known_hosts, w_flag),
	FLAG("hostbasedauthentication", "no"),
	STATE("identitiesonly", identities_only, w_flag),
	STATE("kbdinteractiveauthentication", kbdint_auth, w_flag),
	FLAG("nohostauthenticationforlocalhost", "no"),
	STATE("passwordauthentication", password_auth, w_flag),
	FLAG("permitlocalcommand", "no"),
	FLAG("proxyusefdpass", "no"),
	STATE("pubkeyauthentication", pubkey_auth, w_pubkey),
	WORD("requesttty", w_tty, "auto"),
	WORD("sessiontype", w_session, "default"),
	FLAG("stdinnull", "no"),
	FLAG("forkafterauthentication", "no"),
	FLAG("streamlocalbindunlink", "no"),
	STATE("stricthostkeychecking", strict_host_key_checking, w_shkc),
	FLAG("tcpkeepalive", "yes"),
	WORD("tunnel", w_tunnel, "false"),
	WORD("verifyhostkeydns", w_ask, "false"),
	FLAG("visualhostkey", "no"),
	IGN("updatehostkeys", p_update, w_ask, NULL),
	FLAG("enableescapecommandline", "no"),

	IGN("canonicalizemaxdots", p_num, NULL, "1"),
	IGN("connectionattempts", p_num, NULL, "1"),
	IGN("forwardx11timeout", p_num, "time", "1200"),
	RFS("numberofpasswordprompts", p_int, number_of_password_prompts),
	RFS("serveralivecountmax", p_int, server_alive_count_max),
	RFS("serveraliveinterval", p_int, server_alive_interval),
	IGN("requiredrsasize", p_num, NULL, "1024"),

	RFS("bindaddress", p_str, bind_address),
	TEXT("bindinterface", NULL),
	RFS("ciphers", p_rfs_algs, ciphers),
	CLEARED("controlpath", NULL),
	RFS("hostkeyalgorithms", p_rfs_algs, host_key_algorithms),
	RFS("hostkeyalias", p_str, host_key_alias),
	IGN("hostbasedacceptedalgorithms", p_algs, NULL, DEF_PK),
	RFS("identityagent", p_str, identity_agent),
	SPECIAL("ignoreunknown", p_ignunk),
	TEXT("kbdinteractivedevices", NULL),
	RFS("kexalgorithms", p_rfs_algs, kex_algorithms),
	IGN("casignaturealgorithms", p_algs, NULL, DEF_SIG),
	CLEARED("localcommand", NULL),
	CLEARED("remotecommand", NULL),
	IGN("loglevel", p_upper, NULL, "INFO"),
	RFS("macs", p_rfs_algs, macs),
	CLEARED("pkcs11provider", NULL),
	CLEARED("securitykeyprovider", "internal"),
	SPECIAL("preferredauthentications", p_prefauth),
	IGN("pubkeyacceptedalgorithms", p_algs, NULL, DEF_PK),
	CLEARED("revokedhostkeys", NULL),
	TEXT("xauthlocation", "/usr/bin/xauth"),
	CLEARED("knownhostscommand", NULL),

	SPECIAL("dynamicforward", p_fwd),
	SPECIAL("localforward", p_fwd),
	SPECIAL("remoteforward", p_fwd),

	SPECIAL("identityfile", p_idfiles),
	IGN("canonicaldomains", p_oneline, NULL, "none"),
	SPECIAL("certificatefile", p_each),
	RFS("globalknownhostsfile", p_files, global_known_hosts),
	RFS("userknownhostsfile", p_files, user_known_hosts),
	SPECIAL("sendenv", p_each),
	SPECIAL("setenv", p_each),
	IGN("logverbose", p_oneline, NULL, "none"),

	IGN("permitremoteopen", p_oneline, NULL, "any"),
	SPECIAL("addkeystoagent", p_addkeys),
	SPECIAL("forwardagent", p_fwdagent),
	SPECIAL("connecttimeout", p_timeout),
	SPECIAL("tunneldevice", p_tundev),
	SPECIAL("canonicalizePermittedcnames", p_cnames),
	SPECIAL("controlpersist", p_persist),
	SPECIAL("escapechar", p_escape),
	IGN("ipqos", p_ipqos, NULL, "lowdelay throughput"),
	SPECIAL("rekeylimit", p_rekey),
	SPECIAL("streamlocalbindmask", p_mask),
	IGN("syslogfacility", p_upper, NULL, "USER"),
	SPECIAL("proxyjump", p_proxy),
};

char *
conf_dump(const struct conf *c, const struct conf_algs *dflt)
{
	GString *o = g_string_new(NULL);
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(pkeys); i++)
		pkeys[i].print(o, c, &pkeys[i], dflt);
	return g_string_free(o, FALSE);
}

/* ---- defaults ----------------------------------------------------------- */

#define DEFAULT_PREFAUTH	"publickey,keyboard-interactive,password"

static void
set_default(int *field, int value)
{
	if (*field == CONF_UNSET)
		*field = value;
}

int
conf_finish(struct conf *c, GError **err)
{
	char *h;

	if (c->finished)
		return 0;
	if ((h = conf_resolved_hostname(c, TRUE, err)) == NULL)
		return -1;
	g_free(c->hostname);
	c->hostname = h;
	if (c->user == NULL)
		c->user = g_strdup(conf_local_user());
	c->preferred_auth_given = c->preferred_auth != NULL;
	if (c->preferred_auth == NULL)
		c->preferred_auth = g_strdup(DEFAULT_PREFAUTH);
	if (c->host_key_alias != NULL)
		conf_lowercase(c->host_key_alias);
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
	if (conf_finish_paths(c, err) < 0)
		return -1;
	c->finished = TRUE;
	return 0;
}
