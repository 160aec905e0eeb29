/* cli: main(), argv and -o parsing, mount-time checks; the daemon's
 * detaching, readiness and unmount watcher are in cli_daemon.c.
 *
 * Option classes, decided once here:
 *   rfs's own        idmap= uid= gid= umask= cache= cache_*timeout=
 *                    reconnect_timeout= probe_after= dead_after=
 *                    max_conns=
 *                    loglevel= ssh_config= (F=) password_stdin
 *                    no_default_permissions
 *   ssh_config       any keyword conf_is_keyword() knows (case-insensitive)
 *   FUSE / kernel    allow_other default_permissions ro fsname= ...
 *   mount(8) generic auto noauto _netdev nofail user users defaults
 *                    comment= x-*: accepted and ignored (fstab lines)
 * Anything else is an error that names it (a warning under mount -s).
 *
 * Run as mount.rfs (argv[0] "mount.*", see mount_helper.h) the command
 * line is mount(8)'s; its -o options go through the same classes, and
 * a lowercase user=NAME is mount(8)'s note of who mounted, not User=.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <sched.h>
#include <stddef.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib.h>

#include "rfs/conf.h"
#include "rfs/ctl.h"
#include "rfs/fs.h"
#include "rfs/log.h"
#include "rfs/mount_helper.h"
#include "rfs/notify.h"
#include "rfs/recon.h"
#include "rfs/sftp.h"
#include "rfs/sftp_sync.h"
#include "rfs/stats.h"
#include "rfs/util.h"
#include "rfs/xport.h"
#include "cli_int.h"

#define STARTUP_TIMEOUT_MS 30000

struct cli {
	char *source, *mountpoint;
	char *mnt_abs;			/* realpath, before mounting */
	char *user, *host, *dir;
	char *config_file;		/* -F */
	int foreground, debug;
	int dump_config;		/* -G */
	int password_stdin;
	int reconnect_password;
	int reconnect_timeout;		/* s */
	int probe_after, dead_after;	/* s */
	int max_conns;			/* SSH connections, >= 1 */
	int idmap;			/* -o idmap=, -1 unset */
	int revalidate_ms;		/* -o revalidate_window= */
	char *uidfile, *gidfile;	/* idmap=file's */
	int cache_off;			/* -o cache=no */
	int cache_s[5];			/* cache_*timeout= in s, -1 unset */
	int loglevel;			/* -o loglevel=, -1 unset */
	int allow_other, default_perms, no_default_perms;
	int suid, dev, trust_suid_dev;	/* -o suid, dev: the last word */
	int helper;			/* run as mount.rfs */
	int sloppy;			/* mount.rfs -s: unknown options warn */
	int fake;			/* mount.rfs -f: check, do not mount */
	int nonempty;			/* -o nonempty: no warning */
	int verbose;			/* mount.rfs -v */
	const char *ns;			/* mount.rfs -N: mount namespace */
	struct fs_opts fso;
	GPtrArray *ssh_opts;		/* "Keyword=value", in order */
	int transport;			/* -o transport=: XPORT_T_* */
	char *ssh_command, *sftp_server;	/* -o ssh_command=... */
	int directport;			/* -o directport=, 0 unset */
	int passive;			/* -o passive (sshfs's slave) */
	GString *fuse_opts;		/* for fuse_session_new */
};

static const char *const fuse_flags[] = {
	"allow_other", "allow_root", "default_permissions", "ro", "rw",
	"dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime",
	"noatime", "relatime", "norelatime", "strictatime", "nodiratime",
	"diratime", "sync", "async", "dirsync", "auto_unmount", NULL,
};
static const char *const fuse_valued[] = {
	"fsname", "subtype", "max_read", "blksize", NULL,
};
static const char *const mount_ignored[] = {
	"auto", "noauto", "_netdev", "nofail", "user", "nouser", "users",
	"owner", "group", "defaults", "nofail", "bg", "fg", NULL,
};
static const char *const rfs_flags[] = { "password_stdin",
	"reconnect_password", "nocto", "noxattr", "xattr",
	"transform_symlinks", "follow_symlinks", "debug", "reconnect",
	"delay_connect", "kernel_cache", "auto_cache", "nonempty",
	"no_default_permissions", "trust_suid_dev", "passive", "slave",
	NULL };

static void usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2)
	G_GNUC_NORETURN;
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("rfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see rfs --help)\n", stderr);
	exit(RFS_EXIT_USAGE);
}

static void die(GError *e) G_GNUC_NORETURN;
static void die(GError *e)
{
	char *msg = util_safe_text(e->message, TRUE);

	fprintf(stderr, "rfs: %s\n", msg);	/* may hold server text */
	g_free(msg);
	exit(e->domain == RFS_ERROR && e->code ? e->code : RFS_EXIT_USAGE);
}

static const char help_text[] =
"usage: rfs [user@]host:[dir] MOUNTPOINT [options]\n"
"       rfs -G [-F ssh_config] [-o opt] [user@]host\n"
"       rfs status [--raw] MOUNTPOINT   (also rfs --status)\n"
"       mount.rfs [user@]host:[dir] MOUNTPOINT [-o opts] [-s] [-f] [-n] [-v]\n"
"                 [-t rfs|fuse.rfs] [-N namespace]   (run by mount(8))\n"
"Mount a remote directory over SSH (SFTP). dir defaults to the remote home;\n"
"a relative dir is relative to it. host may be an alias from ~/.ssh/config.\n"
"\n"
"options:\n"
"  -o opt[,opt...]        mount options (below); may be repeated\n"
"  -p PORT                remote port (= -o Port=PORT)\n"
"  -F FILE                ssh_config file instead of ~/.ssh/config\n"
"  -f                     stay in the foreground\n"
"  -d                     foreground, debug log of every request on stderr\n"
"  -G                     print the configuration for host as ssh -G does\n"
"  -h, --help             this help\n"
"  -V, --version          print the version\n"
"\n"
"rfs options (-o):\n"
"  idmap=none|user|file   user (default without allow_other): the login's\n"
"                         uid/gid show as yours; file: by uidfile=/gidfile=\n"
"  uidfile=F, gidfile=F   idmap=file's maps, lines local-name:server-id\n"
"  nomap=error|ignore     idmap=file: an unlisted id is EPERM (default) or\n"
"                         shown as it is\n"
"  uid=N, gid=N           show every file as owned by uid/gid N\n"
"  umask=M                clear the bits M (octal) from every file's mode\n"
"  cache=yes|no           keep metadata (attributes, listings, links) (yes)\n"
"  cache_timeout=S        seconds metadata is trusted (default 20); per kind:\n"
"  cache_stat_timeout=S   ... attributes and names (kernel caches too)\n"
"  cache_dir_timeout=S    ... directory listings\n"
"  cache_link_timeout=S   ... symlink targets\n"
"  cache_negative_timeout=S  seconds a name the server said is missing stays\n"
"                         missing (default 1)\n"
"  revalidate_window=MS   an open trusts attributes the server gave this lately\n"
"                         (default 0: close-to-open asks at every open)\n"
"  dir_cache=yes|no       sshfs's: no is cache_dir_timeout=0\n"
"  password_stdin         read the password from the first line of stdin\n"
"  reconnect_password     keep the password (locked memory) to reconnect\n"
"  nocto                  open trusts cached attributes (no revalidation)\n"
"  xattr                  user.rfs.stats on the root (only with xattr), other\n"
"                         xattr calls answered locally (ls -l then asks twice\n"
"                         a file); default noxattr\n"
"  symlinks=inside|raw    keep symlink targets inside the mount (default) or not\n"
"  transform_symlinks     sshfs's name for symlinks=inside\n"
"  follow_symlinks        show a symlink as what it points to (sshfs's)\n"
"  debug                  sshfs's name for -d\n"
"  nonempty               mount over files without the warning (sshfs's)\n"
"  reconnect, delay_connect, kernel_cache, auto_cache, workaround=\n"
"                         sshfs's, moot in rfs: accepted with a note\n"
"  ssh_config=FILE, F=FILE  the same as -F FILE (for fstab lines)\n"
"  reconnect_timeout=S    seconds a lost link may stay down before operations\n"
"                         fail with EIO (default 30)\n"
"  probe_after=S          probe a link silent this long under a request (5)\n"
"  dead_after=S           drop and reconnect a link silent this long (15)\n"
"  max_listing=N          a directory listing of more than N entries fails\n"
"                         with EIO (default 4000000)\n"
"  max_conns=N            spread open files over N SSH connections (1..16;\n"
"                         default 1), each its own crypto stream and thread\n"
"  loglevel=L             error, warn (default), info or debug (= -d's log)\n"
"  transport=libssh2|ssh  rfs's own SSH session (default), or OpenSSH's ssh\n"
"                         -s HOST sftp as a child (certificates, GSSAPI,\n"
"                         FIDO, ControlMaster: whatever ssh does)\n"
"  ssh_command=CMD        transport=ssh with CMD instead of \"ssh\"\n"
"  sftp_server=CMD        run CMD on the server instead of the sftp\n"
"                         subsystem (e.g. \"sudo -n /usr/lib/openssh/sftp-server\")\n"
"  directport=PORT        plain TCP to an sftp-server on PORT: no SSH, no\n"
"                         encryption (loopback, a VM's network)\n"
"  passive                SFTP on stdin/stdout (sshfs's passive, slave)\n"
"  special_files=exec|no  make fifos, sockets and device nodes with a command\n"
"                         on the server (default exec, when the login may)\n"
"  trust_suid_dev         allow suid or dev together with allow_other\n"
"  no_default_permissions with allow_other: let the server alone decide\n"
"                         access (default: allow_other adds\n"
"                         default_permissions, the kernel checks modes)\n"
"\n"
"ssh_config keywords (-o, case-insensitive, as in ssh -o):\n"
"  Port= User= IdentityFile= IdentitiesOnly= StrictHostKeyChecking=\n"
"  UserKnownHostsFile= GlobalKnownHostsFile= ConnectTimeout= Compression=\n"
"  PreferredAuthentications= ServerAliveInterval= HostKeyAlias= ...\n"
"  ConnectTimeout unset, none or 0 is 30 s (ssh: the kernel's TCP timeout)\n"
"\n"
"FUSE options (-o):\n"
"  allow_other, allow_root, default_permissions, ro, rw, fsname=, subtype=,\n"
"  dev, nodev, suid, nosuid, exec, noexec, atime, noatime, sync, dirsync\n"
"\n"
"mount(8) options accepted and ignored: auto, noauto, _netdev, nofail,\n"
"  user, users, defaults, comment=..., x-...\n"
"\n"
"mount.rfs flags (mount(8)'s): -f fake: check everything but do not mount;\n"
"  -s sloppy: warn about unknown options instead of failing; -n no mtab\n"
"  (rfs writes none); -v verbose; -N NS mount in that mount namespace\n"
"\n"
"exit codes: 0 ok, 1 usage, 2 connection failed, 3 host key rejected,\n"
"  4 authentication failed, 5 remote directory missing, 6 mount failed,\n"
"  7 SFTP protocol error\n"
"\n"
"unmount with: fusermount3 -u MOUNTPOINT (or umount MOUNTPOINT as root)\n"
"statistics: rfs status MOUNTPOINT (--raw: one line), SIGUSR1 (to the log and\n"
"  to the file rfs status names), and with -o xattr only:\n"
"  getfattr -n user.rfs.stats MOUNTPOINT\n";

static void help(void)
{
	fputs(help_text, stdout);
}

#ifndef RFS_LIBSSH2_BUILD
#define RFS_LIBSSH2_BUILD "unknown build"
#endif

/* The libssh2 linked in, and which of contrib/libssh2's patches it has
 * (meson's libssh2 option): they decide the CPU cost per byte. */
static void version(void)
{
	printf("rfs %s (libssh2 %s, %s; FUSE %d)\n", RFS_VERSION,
	       libssh2_version(0), RFS_LIBSSH2_BUILD, fuse_version());
}

static gboolean in_list(const char *const *list, const char *s)
{
	return g_strv_contains(list, s);
}

static int parse_int(const char *name, const char *v, int base, int max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, base);
	if (!*v || *end || errno || n < 0 || n > max)
		usage_error("bad value for option '%s': '%s'", name, v);
	return (int)n;
}

/* ssh_config keywords whose values are comma-separated lists. */
static const char *const list_keywords[] = {
	"preferredauthentications", "ciphers", "macs", "kexalgorithms",
	"hostkeyalgorithms", "proxyjump", "pubkeyacceptedalgorithms",
	"pubkeyacceptedkeytypes", "casignaturealgorithms",
	"hostbasedacceptedalgorithms", "ignoreunknown", NULL,
};

/* Does a bare word after prev continue prev's list value, as in
 * "PreferredAuthentications=publickey,password"? Only after a list
 * keyword, and only if the word is no option of its own. */
static gboolean continues_list(const char *prev, const char *w)
{
	const char *eq = prev ? strchr(prev, '=') : NULL;
	char *kw;
	gboolean r;

	if (!eq || strchr(w, '=') || in_list(fuse_flags, w) ||
	    in_list(mount_ignored, w) || in_list(rfs_flags, w))
		return FALSE;
	kw = g_ascii_strdown(prev, eq - prev);
	r = in_list(list_keywords, kw);
	g_free(kw);
	return r;
}

/* s with its commas and backslashes escaped, as an option value that
 * libfuse splits on commas (fsname=, shown by mount(8) and df, too). */
static char *escape_commas(const char *s)
{
	GString *o = g_string_new(NULL);

	for (const char *p = s; *p; p++) {
		if (*p == ',' || *p == '\\')
			g_string_append_c(o, '\\');
		g_string_append_c(o, *p);
	}
	return g_string_free(o, FALSE);
}

static void add_fuse_opt(struct cli *c, const char *o)
{
	g_string_append_printf(c->fuse_opts, ",%s", o);
}

/* sshfs options that rfs makes moot: accepted, so a converted fstab line
 * mounts, with a one-line note of why they change nothing. 1 if name is
 * one. */
static int moot_option(const char *name, const char *val)
{
	static const struct {
		const char *name;
		int valued;
		const char *why;
	} moot[] = {
		{ "reconnect", 0, "rfs always reconnects (reconnect_timeout=)" },
		{ "delay_connect", 0, "rfs connects at mount time, so that "
		  "errors show; for a connection at first use, mount with "
		  "x-systemd.automount" },
		{ "kernel_cache", 0, "rfs keeps the page cache of a file while "
		  "its size and mtime stay the same" },
		{ "auto_cache", 0, "rfs keeps the page cache of a file while "
		  "its size and mtime stay the same" },
		{ "workaround", 1, "rfs renames over a file atomically where "
		  "the server can (posix-rename), else removes it first" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(moot); i++)
		if (!strcmp(name, moot[i].name) && !val == !moot[i].valued) {
			fprintf(stderr, "rfs: note: option '%s' changes nothing:"
				" %s\n", name, moot[i].why);
			return 1;
		}
	return 0;
}

/* Seconds for kind i: its own, else cache_timeout, else 20 (sshfs's).
 * Negative entries only by their own option, else 1: a name created on
 * the server is seen within a second of our last asking, and at once
 * after a listing (rfs(1), CACHING). */
static int cache_secs(const struct cli *c, int i)
{
	if (c->cache_off)
		return 0;
	if (i == 4)
		return c->cache_s[4] >= 0 ? c->cache_s[4] : 1;
	return c->cache_s[i] >= 0 ? c->cache_s[i] :
	       c->cache_s[0] >= 0 ? c->cache_s[0] : 20;
}

static void finish_cache_opts(struct cli *c)
{
	struct cache_opts *o = &c->fso.cache;

	o->attr_ms = cache_secs(c, 1) * 1000;
	o->dir_ms = cache_secs(c, 2) * 1000;
	o->link_ms = cache_secs(c, 3) * 1000;
	o->neg_ms = cache_secs(c, 4) * 1000;
	o->max_entries = 100000;
	o->follow_links = c->fso.follow_symlinks;
	o->confirm_ms = c->cache_off ? 0 : c->revalidate_ms;
	/* A name missing from a listing: asked again, unless the user said
	 * how long a missing name stays missing, or that answers within a
	 * revalidate_window stand (untar into a listed directory). */
	o->neg_list_ms = c->cache_s[4] >= 0 ? o->neg_ms :
			 MIN(o->confirm_ms, o->neg_ms);
	c->fso.attr_timeout = cache_secs(c, 1);
	c->fso.neg_timeout = cache_secs(c, 4);
}

/* ---- rfs's own -o options: one table ---- */

struct word {
	const char *word;
	int value;
};

static const struct word w_idmap[] = { { "none", IDMAP_NONE },
	{ "user", IDMAP_USER }, { "file", IDMAP_FILE }, { NULL, 0 } };
static const struct word w_nomap[] = { { "ignore", 0 }, { "error", 1 },
	{ NULL, 0 } };
static const struct word w_no[] = { { "yes", 0 }, { "no", 1 },
	{ NULL, 0 } };
static const struct word w_special[] = { { "exec", 0 }, { "no", 1 },
	{ NULL, 0 } };
static const struct word w_transport[] = {
	{ "libssh2", XPORT_T_LIBSSH2 }, { "ssh", XPORT_T_SSH }, { NULL, 0 } };
static const struct word w_loglevel[] = { { "error", LOG_LVL_ERR },
	{ "warn", LOG_LVL_WARN }, { "info", LOG_LVL_INFO },
	{ "debug", LOG_LVL_DEBUG }, { NULL, 0 } };

enum opt_kind {
	O_FLAG,		/* no value: the int becomes .set */
	O_INT,		/* decimal (octal if .base 8), .min to .max;
			 * below .min: an error naming .hint, or .min
			 * if no hint */
	O_STR,		/* a string, the last one given */
	O_WORD,		/* one of .words: its value; else an error naming
			 * the choices, .hint */
	O_FN,		/* .fn does it; .valued: takes a value */
};

struct opt {
	const char *name;
	enum opt_kind kind;
	size_t off;		/* the int (O_STR: char *) in struct cli */
	int set;		/* O_FLAG */
	int base, min, max;	/* O_INT */
	const char *hint;	/* O_INT, O_WORD */
	const struct word *words;	/* O_WORD */
	void (*fn)(struct cli *c, const char *name, const char *val);
	int valued;		/* O_FN */
};

#define AT(field)	offsetof(struct cli, field)
#define FLAG(n, f, v) \
	{ .name = (n), .kind = O_FLAG, .off = AT(f), .set = (v) }
#define INT(n, f, b, lo, hi, h) \
	{ .name = (n), .kind = O_INT, .off = AT(f), .base = (b), \
	  .min = (lo), .max = (hi), .hint = (h) }
#define STR(n, f) \
	{ .name = (n), .kind = O_STR, .off = AT(f) }
#define WORD(n, f, w, h) \
	{ .name = (n), .kind = O_WORD, .off = AT(f), .words = (w), \
	  .hint = (h) }
#define FN(n, f, v) \
	{ .name = (n), .kind = O_FN, .fn = (f), .valued = (v) }

static void opt_debug(struct cli *c, const char *name, const char *val)
{
	(void)name; (void)val;
	c->foreground = c->debug = 1;	/* sshfs's -o debug: -d */
}

static void opt_dir_cache(struct cli *c, const char *name, const char *val)
{
	(void)name;
	if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
		usage_error("bad value for option 'dir_cache': '%s' "
			    "(yes or no)", val);
	if (!strcmp(val, "no"))
		c->cache_s[2] = 0;	/* = cache_dir_timeout=0 */
}

static void opt_symlinks(struct cli *c, const char *name, const char *val)
{
	(void)name;
	if (strcmp(val, "inside") != 0 && strcmp(val, "raw") != 0)
		usage_error("option 'symlinks=%s': expected inside "
			    "or raw", val);
	c->fso.symlinks_raw = !strcmp(val, "raw");
}

/* rfs's own options, each with or without a value: the same name the
 * other way round is not this option (it may be a FUSE or ssh one). */
static const struct opt rfs_opts[] = {
	WORD("idmap", idmap, w_idmap, "none, user or file"),
	STR("uidfile", uidfile),
	STR("gidfile", gidfile),
	WORD("nomap", fso.idmap.nomap_error, w_nomap, "ignore or error"),
	INT("revalidate_window", revalidate_ms, 10, 0, 60000, NULL),
	FLAG("follow_symlinks", fso.follow_symlinks, 1),
	FN("debug", opt_debug, 0),
	FN("dir_cache", opt_dir_cache, 1),
	WORD("transport", transport, w_transport, "libssh2 or ssh"),
	STR("ssh_command", ssh_command),
	STR("sftp_server", sftp_server),
	INT("directport", directport, 10, 1, 65535, "1 to 65535"),
	FLAG("passive", passive, 1),
	FLAG("slave", passive, 1),	/* sshfs's old name */
	INT("uid", fso.uid, 10, 0, INT_MAX, NULL),
	INT("gid", fso.gid, 10, 0, INT_MAX, NULL),
	INT("umask", fso.umask, 8, 0, 0777, NULL),
	WORD("cache", cache_off, w_no, "yes or no"),
	/* cache_timeout and its per-kind overrides; -1 = not given. */
	INT("cache_timeout", cache_s[0], 10, 0, 86400 * 365, NULL),
	INT("cache_stat_timeout", cache_s[1], 10, 0, 86400 * 365, NULL),
	INT("cache_dir_timeout", cache_s[2], 10, 0, 86400 * 365, NULL),
	INT("cache_link_timeout", cache_s[3], 10, 0, 86400 * 365, NULL),
	INT("cache_negative_timeout", cache_s[4], 10, 0, 86400 * 365, NULL),
	INT("reconnect_timeout", reconnect_timeout, 10, 0, 86400, NULL),
	INT("probe_after", probe_after, 10, 1, 86400, NULL),
	INT("max_conns", max_conns, 10, 1, 16, "1 to 16"),
	INT("max_listing", fso.max_listing, 10, 100, 1 << 30,
	    "at least 100"),
	INT("dead_after", dead_after, 10, 1, 86400, NULL),
	FLAG("password_stdin", password_stdin, 1),
	FLAG("reconnect_password", reconnect_password, 1),
	FLAG("nonempty", nonempty, 1),	/* sshfs's: mount over files */
	FLAG("nocto", fso.nocto, 1),
	WORD("special_files", fso.no_special, w_special, "exec or no"),
	FLAG("noxattr", fso.noxattr, 1),
	FLAG("xattr", fso.noxattr, 0),
	FN("symlinks", opt_symlinks, 1),
	/* sshfs's name for symlinks=inside, the default */
	FLAG("transform_symlinks", fso.symlinks_raw, 0),
	STR("ssh_config", config_file),	/* = -F, for fstab lines */
	STR("F", config_file),
	WORD("loglevel", loglevel, w_loglevel, "error, warn, info or debug"),
	FLAG("no_default_permissions", no_default_perms, 1),
	FLAG("trust_suid_dev", trust_suid_dev, 1),
};

static const struct opt *find_opt(const char *name, const char *val)
{
	for (size_t i = 0; i < G_N_ELEMENTS(rfs_opts); i++) {
		const struct opt *o = &rfs_opts[i];
		int valued = o->kind == O_FN ? o->valued : o->kind != O_FLAG;

		if (!strcmp(name, o->name) && valued == (val != NULL))
			return o;
	}
	return NULL;
}

static void set_opt(struct cli *c, const struct opt *o, const char *val)
{
	int *field = (int *)((char *)c + o->off), v;
	const struct word *w;

	switch (o->kind) {
	case O_FLAG:
		*field = o->set;
		break;
	case O_INT:
		v = parse_int(o->name, val, o->base, o->max);
		if (v < o->min && o->hint)
			usage_error("bad value for option '%s': '%s' (%s)",
				    o->name, val, o->hint);
		*field = MAX(v, o->min);
		break;
	case O_STR:
		g_free(*(char **)((char *)c + o->off));
		*(char **)((char *)c + o->off) = g_strdup(val);
		break;
	case O_WORD:
		for (w = o->words; w->word && strcmp(val, w->word) != 0; w++)
			;
		if (!w->word)
			usage_error("bad value for option '%s': '%s' (%s)",
				    o->name, val, o->hint);
		*field = w->value;
		break;
	case O_FN:
		o->fn(c, o->name, val);
		break;
	}
}

/* mount(8)'s and fstab's business, not ours (user=LOGIN is mount(8)'s
 * for a user mount, not User=), or moot (noted): 1 if name is one. */
static int ignored_option(const struct cli *c, const char *name,
			  const char *val)
{
	return (c->helper && !strcmp(name, "user") && val) ||
	       (in_list(mount_ignored, name) && !val) ||
	       !strcmp(name, "comment") || g_str_has_prefix(name, "x-") ||
	       moot_option(name, val);
}

/* A FUSE option goes to fuse_session_new, an ssh_config keyword to
 * conf; anything else is an error (a warning under mount -s). */
static void pass_option(struct cli *c, const char *opt, const char *name,
			const char *val)
{
	if (in_list(fuse_flags, name) && !val) {
		if (!strcmp(name, "allow_other"))
			c->allow_other = 1;
		if (!strcmp(name, "suid") || !strcmp(name, "nosuid"))
			c->suid = *name == 's';
		if (!strcmp(name, "dev") || !strcmp(name, "nodev"))
			c->dev = *name == 'd';
		if (!strcmp(name, "default_permissions"))
			c->default_perms = 1;
		/* rfs-unmount does it (start_reaper); libfuse's helper would
		 * keep the terminal. */
		if (strcmp(name, "auto_unmount") != 0)
			add_fuse_opt(c, name);
	} else if (in_list(fuse_valued, name) && val) {
		/* libfuse splits on commas too: escape them again. */
		char *o = escape_commas(opt);

		add_fuse_opt(c, o);
		g_free(o);
	} else if (conf_is_keyword(name) && val) {
		g_ptr_array_add(c->ssh_opts, g_strdup(opt));
	} else if (c->sloppy) {
		log_warn("ignoring unknown option '%s' (mount -s)", name);
	} else {
		usage_error("unknown option '%s'", name);
	}
}

static void one_option(struct cli *c, const char *opt)
{
	const char *eq = strchr(opt, '=');
	char *name = eq ? g_strndup(opt, (size_t)(eq - opt)) : g_strdup(opt);
	const char *val = eq ? eq + 1 : NULL;
	const struct opt *o = find_opt(name, val);

	if (o)
		set_opt(c, o, val);
	else if (!ignored_option(c, name, val))
		pass_option(c, opt, name, val);
	g_free(name);
}

/* idmap: user by default for a mount of one's own (files one's login
 * owns look like one's own, as the tools expect); none for a shared one
 * (allow_other: every user sees the server's ids). */
static void finish_idmap_opts(struct cli *c)
{
	struct idmap *m = &c->fso.idmap;
	GError *e = NULL;

	m->mode = c->idmap >= 0 ? c->idmap :
		  c->allow_other ? IDMAP_NONE : IDMAP_USER;
	m->local[IDMAP_UID] = getuid();
	m->local[IDMAP_GID] = getgid();
	if ((c->uidfile || c->gidfile) && m->mode != IDMAP_FILE)
		usage_error("options 'uidfile' and 'gidfile' need idmap=file");
	if (m->mode != IDMAP_FILE)
		return;
	if (!c->uidfile && !c->gidfile)
		usage_error("idmap=file needs uidfile=FILE or gidfile=FILE");
	if (idmap_load(m, c->uidfile, c->gidfile, &e))
		die(e);
}

/* allow_other without default_permissions would let every local user do
 * what the SSH login may: the kernel checks modes unless refused. */
static void finish_perm_opts(struct cli *c)
{
	if (c->no_default_perms && c->default_perms)
		usage_error("options 'default_permissions' and "
			    "'no_default_permissions' contradict each other");
	if (c->allow_other && !c->default_perms && !c->no_default_perms)
		add_fuse_opt(c, "default_permissions");
	c->fso.kernel_perms = c->default_perms ||
			      (c->allow_other && !c->no_default_perms);
	c->fso.owner_callers = c->allow_other;
	/* The server decides a file's setuid bit and what a device node is:
	 * with both, any local user could run the server's files as root or
	 * open the client's devices (kernel memory, disks). */
	if (c->allow_other && (c->suid || c->dev) && !c->trust_suid_dev)
		usage_error("option '%s' with 'allow_other' lets every local "
			    "user run the server's setuid files or open its "
			    "device nodes; add 'trust_suid_dev' if the server "
			    "is trusted", c->suid ? "suid" : "dev");
}

/* -o's argument: options one by one (see mount_opts_split). */
static void parse_o(struct cli *c, const char *arg)
{
	GPtrArray *items = mount_opts_split(arg, continues_list);

	for (guint i = 0; i < items->len; i++)
		one_option(c, items->pdata[i]);
	g_ptr_array_free(items, TRUE);
}

static void parse_args(struct cli *c, int argc, char **argv)
{
	GPtrArray *pos = g_ptr_array_new();
	GError *e = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			help();
			exit(0);
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			version();
			exit(0);
		} else if (!strcmp(a, "-f")) {
			c->foreground = 1;
		} else if (!strcmp(a, "-G")) {
			c->dump_config = 1;
		} else if (!strcmp(a, "-d")) {
			c->foreground = c->debug = 1;
		} else if (!strncmp(a, "-o", 2) || !strncmp(a, "-p", 2) ||
			   !strncmp(a, "-F", 2)) {
			const char *v = a[2] ? a + 2 : argv[++i];
			char *port;

			if (!v)
				usage_error("option '%s' needs a value", a);
			if (a[1] == 'o') {
				parse_o(c, v);
			} else if (a[1] == 'p') {
				parse_int("-p", v, 10, 65535);
				port = g_strconcat("Port=", v, NULL);
				g_ptr_array_add(c->ssh_opts, port);
			} else {
				g_free(c->config_file);
				c->config_file = g_strdup(v);
			}
		} else if (a[0] == '-' && a[1]) {
			usage_error("unknown option '%s'", a);
		} else {
			g_ptr_array_add(pos, (char *)a);
		}
	}
	if (c->dump_config) {
		const char *at;

		if (pos->len != 1)
			usage_error("-G takes one [user@]host");
		at = strrchr(pos->pdata[0], '@');
		c->host = g_strdup(at ? at + 1 : pos->pdata[0]);
		if (at)
			c->user = g_strndup(pos->pdata[0],
					    (size_t)(at - (char *)pos->pdata[0]));
		if (!util_valid_host(c->host))
			usage_error("bad host name '%s'", c->host);
		g_ptr_array_free(pos, TRUE);
		return;
	}
	if (pos->len != 2)
		usage_error("%s", pos->len < 2 ?
			    "missing [user@]host:[dir] and MOUNTPOINT" :
			    "too many arguments");
	c->source = pos->pdata[0];
	c->mountpoint = pos->pdata[1];
	g_ptr_array_free(pos, TRUE);
	if (util_parse_source(c->source, &c->user, &c->host, &c->dir, &e))
		die(e);
}

/* mount(8) runs helpers with a sanitized environment: no HOME or PATH
 * for a user mount. ssh_config's ~ comes from the password database
 * anyway (conf_home); a ProxyCommand needs PATH, its shell HOME. */
static void helper_env(void)
{
	struct passwd pwd, *pw = NULL;
	char buf[4096];

	if (!getenv("HOME") &&
	    getpwuid_r(getuid(), &pwd, buf, sizeof(buf), &pw) == 0 && pw &&
	    pw->pw_dir)
		setenv("HOME", pw->pw_dir, 1);
	if (!getenv("PATH"))
		setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
}

/* argv as mount(8) gives it to mount.rfs (see mount_helper.h). */
static void parse_helper(struct cli *c, int argc, char **argv)
{
	struct mount_helper mh;
	GError *e = NULL;

	c->helper = 1;
	if (mount_helper_parse(argc, argv, &mh, &e)) {
		mount_helper_clear(&mh);
		die(e);
	}
	if (mh.help || mh.version) {
		if (mh.help)
			help();
		else
			version();
		exit(0);
	}
	c->sloppy = mh.sloppy;
	c->fake = mh.fake;
	c->verbose = mh.verbose;
	c->ns = mh.ns;
	for (guint i = 0; i < mh.opts->len; i++)
		parse_o(c, mh.opts->pdata[i]);
	c->source = mh.source;
	c->mountpoint = mh.target;
	mount_helper_clear(&mh);
	if (util_parse_source(c->source, &c->user, &c->host, &c->dir, &e))
		die(e);
	helper_env();
}

/* mount -N: mount in another mount namespace (before any thread). */
static void enter_namespace(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNS)) {
		fprintf(stderr, "rfs: mount namespace '%s': %s\n", path,
			g_strerror(errno));
		exit(RFS_EXIT_MOUNT);
	}
	close(fd);
}

static void mount_error(const struct cli *c, const char *fmt, ...)
	G_GNUC_PRINTF(2, 3) G_GNUC_NORETURN;
static void mount_error(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rfs: %s: ", c->mountpoint);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(RFS_EXIT_MOUNT);
}

static gboolean dir_empty(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);	/* skips . and .. */
	gboolean empty = !d || !g_dir_read_name(d);

	if (d)
		g_dir_close(d);
	return empty;
}

/* What fusermount3 and the kernel would refuse, checked before any login:
 * a typo in the mountpoint must not cost a password prompt. */
static void check_mountpoint(struct cli *c)
{
	struct stat st;
	char *real, *fstype = NULL, *sopts = NULL;
	int fd;

	if (stat(c->mountpoint, &st) < 0) {
		if (errno == ENOTCONN)
			mount_error(c, "a dead FUSE mount: run fusermount3 -u "
				    "%s", c->mountpoint);
		mount_error(c, "%s", errno == ENOENT ? "no such directory" :
			    g_strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		mount_error(c, "not a directory");
	if (getuid() && (st.st_mode & S_ISVTX) && st.st_uid != getuid())
		mount_error(c, "not your directory (fusermount3 mounts on a "
			    "sticky directory only for its owner)");
	if (getuid() && access(c->mountpoint, W_OK) < 0)
		mount_error(c, "no write permission (fusermount3 mounts only "
			    "where you may write)");
	real = realpath(c->mountpoint, NULL);
	if (!real)
		mount_error(c, "%s", g_strerror(errno));
	if (ctl_mount_find(real, &fstype, &sopts) &&
	    g_str_has_prefix(fstype, "fuse"))
		mount_error(c, "already mounted");
	g_free(fstype);
	g_free(sopts);
	c->mnt_abs = g_strdup(real);
	free(real);
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "rfs: cannot open /dev/fuse: %s (is the fuse3 "
			"package installed and are you allowed to use it?)\n",
			g_strerror(errno));
		exit(RFS_EXIT_MOUNT);
	}
	close(fd);
	/* libfuse 3 mounts over files silently; sshfs users know the
	 * warning (and -o nonempty to silence it). */
	if (!c->nonempty && !dir_empty(c->mountpoint))
		fprintf(stderr, "rfs: warning: mountpoint %s is not empty; its "
			"files are hidden while mounted\n", c->mountpoint);
}

static struct conf *load_conf(struct cli *c)
{
	struct conf *cf = conf_new(c->host);
	GError *e = NULL;

	if (c->user) {
		char *u = g_strconcat("User=", c->user, NULL);
		if (conf_set_option(cf, u, &e))
			die(e);
		g_free(u);
	}
	for (guint i = 0; i < c->ssh_opts->len; i++)
		if (conf_set_option(cf, c->ssh_opts->pdata[i], &e))
			die(e);		/* CONF_ERROR: exit RFS_EXIT_USAGE */
	if (conf_read_files(cf, c->config_file,
			    c->config_file ? "none" : NULL, &e) ||
	    conf_finish(cf, &e))
		die(e);
	for (guint i = 0; cf->warnings && i < cf->warnings->len; i++)
		log_warn("%s", (char *)cf->warnings->pdata[i]);
	if (cf->ignored)
		for (guint i = 0; i < cf->ignored->len; i++)
			log_debug("ssh_config keyword '%s' is not used by rfs",
				  (char *)cf->ignored->pdata[i]);
	return cf;
}

/* sftp_sync's answer to a mount-time request: an unanswered one ends rfs
 * (there is no I/O thread yet to wait longer). */
static void sync_check(int rc)
{
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "rfs: protocol error: the server did not "
			"answer\n");
		exit(RFS_EXIT_PROTO);
	}
	if (rc < 0) {
		fprintf(stderr, "rfs: protocol error from server\n");
		exit(RFS_EXIT_PROTO);
	}
}

/* One request, waited for, at mount time only: the server's 0 or
 * -errno. */
static int sync_path(struct sftp_conn *sc, uint8_t type, const char *path,
		     struct sftp_sync_reply *out)
{
	sync_check(sftp_sync_path(sc, type, path, STARTUP_TIMEOUT_MS, out));
	return out->err;
}

/* Resolve the remote directory; exit 5 if it is missing or no directory.
 * Also learns the login's uid/gid (idmap, and who may read what without
 * asking). */
static char *resolve_remote(struct cli *c, struct sftp_conn *sc)
{
	struct sftp_sync_reply r = { 0 };
	const char *dir = *c->dir ? c->dir : ".";
	uint32_t ids[2];
	char *base;
	int rc;

	rc = sync_path(sc, SSH_FXP_REALPATH, dir, &r);
	if (rc) {
		fprintf(stderr, "rfs: remote directory '%s': %s\n", dir,
			g_strerror(-rc));
		exit(RFS_EXIT_REMOTE);
	}
	base = r.name;
	rc = sync_path(sc, SSH_FXP_STAT, base, &r);
	if (rc || !S_ISDIR(r.attrs.perm)) {
		fprintf(stderr, "rfs: remote directory '%s': %s\n", dir,
			rc ? g_strerror(-rc) : "Not a directory");
		exit(RFS_EXIT_REMOTE);
	}
	rc = sftp_sync_login_ids(sc, STARTUP_TIMEOUT_MS, ids);
	sync_check(rc);
	if (rc == 1) {
		c->fso.idmap.login[IDMAP_UID] = ids[0];
		c->fso.idmap.login[IDMAP_GID] = ids[1];
		c->fso.idmap.have_login = 1;
	}
	/* No trailing slash, except for "/" itself. */
	while (strlen(base) > 1 && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	return base;
}

static struct fuse_session *make_session(struct cli *c, struct rfs *fs,
					 const char *fsname)
{
	char *opts = g_strdup_printf("-osubtype=rfs,fsname=%s%s",
				     fsname, c->fuse_opts->str);
	char *argv[] = { "rfs", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(2, argv);
	struct fuse_session *se;

	log_debug("FUSE options: %s", opts + 2);
	se = fuse_session_new(&args, fs_ops(), sizeof(struct fuse_lowlevel_ops),
			      fs);
	fuse_opt_free_args(&args);
	g_free(opts);
	return se;
}

/* probe_after and dead_after; ServerAliveInterval * ServerAliveCountMax
 * tightens dead_after when lower, and probes an idle link. */
static void set_liveness(const struct cli *c, const struct conf *cf,
			 struct sftp_conn *sc)
{
	int dead = c->dead_after, alive = 0;

	if (cf->server_alive_interval > 0) {
		int sa = cf->server_alive_interval *
			 MAX(cf->server_alive_count_max, 1);

		alive = cf->server_alive_interval;
		if (sa < dead)
			dead = sa;
	}
	sftp_conn_set_liveness(sc, c->probe_after * 1000, dead * 1000,
			       alive * 1000);
}

static int notifying;		/* $NOTIFY_SOCKET was given */

/* Mounted: detach (unless -f), then serve until unmounted, with the
 * SIGUSR1 thread, the control socket (rfs status) and the readiness
 * check. Returns the exit status; the caller unmounts and frees in every
 * case. */
static int serve(const struct cli *c, struct fuse_session *se,
		 struct sftp_conn *sc, struct rfs *fs, const struct conf *cf,
		 const char *base)
{
	struct stats_signal *sig = NULL;
	struct ctl *ctl = NULL;
	char *sock = ctl_path(getuid(), c->mnt_abs, ".sock", 1);
	char *snap = sock ? ctl_path(getuid(), c->mnt_abs, ".stats", 0) : NULL;
	char *remote = g_strdup_printf("%s@%s:%d:%s", cf->user, cf->hostname,
				       cf->port, base);
	struct stats_about about = { .mountpoint = c->mnt_abs,
		.remote = remote, .stats_file = snap,
		.started = g_get_real_time() / G_USEC_PER_SEC };
	int rc = RFS_EXIT_MOUNT, ready_fd = -1;	/* a detached parent sees
						 * EOF: 6 */

	if (!c->foreground && (ready_fd = cli_detach()) < 0)
		goto out;
	if (!c->foreground)
		log_to_syslog("rfs");
	log_info("mounted %s:%s on %s", cf->hostname, base, c->mountpoint);
	if (!sock)
		log_warn("no safe directory for the control socket: rfs status "
			 "will not answer");
	sig = stats_signal_start(fs, snap);	/* before any other thread */
	if (sock)
		ctl = ctl_start(fs, sock, &about);
	if (sftp_conn_start(sc)) {
		log_err("cannot start the I/O thread");
		goto out;
	}
	fuse_set_signal_handlers(se);
	if (ready_fd >= 0 || notifying)	/* someone waits for the mount */
		cli_start_ready(c->mnt_abs, cf->hostname, base, ready_fd);
	rc = fuse_session_loop(se) < 0 ? RFS_EXIT_MOUNT : 0;
	notify_send("STOPPING=1\nSTATUS=Unmounting");
	fuse_remove_signal_handlers(se);
out:
	ctl_stop(ctl);
	stats_signal_stop(sig);
	g_free(remote);
	g_free(snap);
	g_free(sock);
	return rc;
}

/* Blocks of 128 KiB and more are mmapped, so that memory goes back to the
 * system when freed (the data path's 256 KiB blocks are kept in bpool.c,
 * not freed). Smaller ones come from the heap, whose top glibc would give
 * back at every free of a packet (libssh2 mallocs and frees one per 32 KiB
 * received), to fault it in again at the next malloc: keep up to 8 MiB of
 * free heap. */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
}

/* rfs's defaults, before any option. */
static void cli_init(struct cli *c)
{
	c->fso.uid = c->fso.gid = c->fso.umask = -1;
	for (int i = 0; i < 5; i++)
		c->cache_s[i] = -1;
	c->reconnect_timeout = 30;
	c->fso.noxattr = 1;	/* see xattr in rfs(1) */
	c->probe_after = 5;
	c->max_conns = 1;
	c->dead_after = 15;
	c->ssh_opts = g_ptr_array_new_with_free_func(g_free);
	c->fuse_opts = g_string_new(NULL);
	c->loglevel = -1;
	c->idmap = -1;
	/* idmap=file: an unlisted id is EPERM unless nomap=ignore (sshfs) */
	c->fso.idmap.nomap_error = 1;
}

/* argv (rfs's or mount(8)'s), then what the options decide together,
 * then the log level. Exits on a usage error. */
static void parse_command_line(struct cli *c, int argc, char **argv)
{
	if (mount_helper_named(argv[0]))
		parse_helper(c, argc, argv);
	else
		parse_args(c, argc, argv);
	finish_cache_opts(c);
	finish_perm_opts(c);
	finish_idmap_opts(c);
	if (c->debug)
		log_set_level(LOG_LVL_DEBUG);
	else if (c->loglevel >= 0)
		log_set_level(c->loglevel);
	else if (c->verbose)
		log_set_level(LOG_LVL_INFO);
}

/* rfs -G: the configuration as ssh -G prints it. Frees cf; 0. */
static int dump_config(struct conf *cf)
{
	struct conf_algs algs;
	char *d;

	xport_default_algs(&algs);
	d = conf_dump(cf, &algs);
	xport_default_algs_free(&algs);
	fputs(d, stdout);
	g_free(d);
	conf_free(cf);
	return 0;
}

/* Log in, open SFTP, set reconnection and liveness up, open the other
 * max_conns connections. Exits on failure. Returns the connection, and
 * in *rcp its link manager (recon_free() after sftp_conn_free()). */
/* -o transport=, ssh_command=, sftp_server=, directport=, passive into
 * xo: one way to the server, or a usage error. */
static void set_transport(const struct cli *c, struct xport_opts *xo)
{
	static GPtrArray *opts;

	if (c->passive + (c->directport > 0) +
	    (c->transport == XPORT_T_SSH || c->ssh_command != NULL) > 1)
		usage_error("passive, directport and transport=ssh (or "
			    "ssh_command) are different ways to the server: "
			    "choose one");
	if (c->passive && c->max_conns > 1)
		usage_error("passive has one stream (standard input and "
			    "output): max_conns must be 1");
	xo->transport = c->passive ? XPORT_T_PASSIVE :
			c->directport ? XPORT_T_DIRECT :
			c->transport == XPORT_T_SSH || c->ssh_command ?
			XPORT_T_SSH : XPORT_T_LIBSSH2;
	xo->ssh_command = c->ssh_command;
	xo->sftp_server = c->sftp_server;
	xo->directport = c->directport;
	xo->passive_in = xo->passive_out = -1;
	if (c->passive) {	/* copies that outlive daemonizing */
		xo->passive_in = fcntl(0, F_DUPFD_CLOEXEC, 3);
		xo->passive_out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	}
	/* transport=ssh: what the mount was given goes to ssh as -o */
	opts = g_ptr_array_new();
	if (c->user)
		g_ptr_array_add(opts, g_strconcat("User=", c->user, NULL));
	for (guint i = 0; i < c->ssh_opts->len; i++)
		g_ptr_array_add(opts, g_strdup(c->ssh_opts->pdata[i]));
	g_ptr_array_add(opts, NULL);
	xo->ssh_opts = (char *const *)opts->pdata;
}

static struct sftp_conn *connect_server(const struct cli *c,
					struct conf *cf, struct recon **rcp)
{
	struct xport x;
	struct xport_opts xo = { 0 };
	struct xport_pins *pins;
	struct sftp_conn *sc;
	struct recon *rc_;
	char *status;
	GError *e = NULL;

	if (libssh2_init(0)) {
		fprintf(stderr, "rfs: cannot initialise libssh2\n");
		exit(RFS_EXIT_CONNECT);
	}
	set_transport(c, &xo);
	xo.password_stdin = c->password_stdin;
	pins = xport_pins_new();
	xo.pins = pins;		/* each hop's host key and password */
	xo.config_file = c->config_file;
	xo.interactive = 1;	/* auth_prompt() finds who can answer */
	status = g_strdup_printf("STATUS=Connecting to %s", cf->hostname);
	notify_send(status);
	g_free(status);
	if (xport_connect(cf, &xo, &x, &e))
		die(e);
	if (!strcmp(x.kind, "mux"))	/* reconnects: the master only */
		xo.transport = XPORT_T_MUX;
	sc = sftp_conn_new(&x, STARTUP_TIMEOUT_MS, &e);
	if (!sc)
		die(e);		/* the conn freed the session */
	/* The password (if one logged in) serves max_conns' connections;
	 * it is kept after the mount only with reconnect_password. */
	rc_ = recon_new(cf, &xo, pins);
	/* passive: the stream on stdin and stdout cannot be had again */
	if (xo.transport != XPORT_T_PASSIVE)
		sftp_conn_set_reconnect(sc, recon_connect, rc_,
					c->reconnect_timeout * 1000);
	set_liveness(c, cf, sc);
	if (c->max_conns > 1 &&
	    sftp_conn_add(sc, (unsigned)c->max_conns - 1, recon_connect, rc_,
			  STARTUP_TIMEOUT_MS, &e))
		die(e);
	if (xport_pins_have_password(pins) && !c->reconnect_password) {
		log_warn("logged in with a password: after a lost connection "
			 "rfs cannot log in again unless -o reconnect_password "
			 "(or a key) is used");
		recon_forget_password(rc_);
	}
	*rcp = rc_;
	return sc;
}

/* The FUSE session for fs, mounted, with the reaper watching from before
 * the mount shows (a kill -9 right after finds it watched; its pipe in
 * *reaper). Exits on failure. */
static struct fuse_session *mount_session(struct cli *c, struct rfs *fs,
					  const char *fsname, int *reaper)
{
	struct fuse_session *se = make_session(c, fs, fsname);

	if (!se) {
		fprintf(stderr, "rfs: bad FUSE options: %s\n",
			c->fuse_opts->str + 1);
		exit(RFS_EXIT_USAGE);
	}
	fs_set_session(fs, se);
	*reaper = cli_start_reaper(c->mnt_abs);
	if (fuse_session_mount(se, c->mountpoint)) {
		fprintf(stderr, "rfs: cannot mount on '%s'\n", c->mountpoint);
		exit(RFS_EXIT_MOUNT);
	}
	return se;
}

static void cli_clear(struct cli *c)
{
	g_free(c->user);
	g_free(c->host);
	g_free(c->dir);
	g_free(c->config_file);
	g_free(c->mnt_abs);
	g_ptr_array_free(c->ssh_opts, TRUE);
	g_string_free(c->fuse_opts, TRUE);
	idmap_clear(&c->fso.idmap);
	g_free(c->uidfile);
	g_free(c->gidfile);
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	struct conf *cf;
	struct sftp_conn *sc;
	struct rfs *fs;
	struct recon *rc_;
	struct fuse_session *se;
	char *base, *fsname;
	int rc, reaper;

	if (argc > 1 && !mount_helper_named(argv[0]) &&
	    (!strcmp(argv[1], "status") || !strcmp(argv[1], "--status")))
		return ctl_status_main(argc - 1, argv + 1);
	signal(SIGPIPE, SIG_IGN);
	tune_malloc();
	cli_init(&c);
	parse_command_line(&c, argc, argv);
	cf = load_conf(&c);
	if (c.dump_config)
		return dump_config(cf);
	notifying = notify_init() > 0;
	if (c.ns)
		enter_namespace(c.ns);
	check_mountpoint(&c);
	if (c.fake) {		/* mount -f: everything checked, no mount */
		log_info("fake mount of %s on %s", c.source, c.mountpoint);
		conf_free(cf);
		return 0;
	}
	sc = connect_server(&c, cf, &rc_);
	base = resolve_remote(&c, sc);
	c.fso.max_write = 1024 * 1024;
	fs = fs_new(sc, base, &c.fso);
	fsname = escape_commas(c.source);
	se = mount_session(&c, fs, fsname, &reaper);
	rc = serve(&c, se, sc, fs, cf, base);
	/* Stop the I/O thread (it answers requests) before /dev/fuse closes. */
	fs_quiesce(fs);
	sftp_conn_free(sc);
	fuse_session_unmount(se);
	cli_reaper_done(reaper);
	fuse_session_destroy(se);
	if (sftp_jobs_wait(2000)) {
		/* a reconnect attempt still blocked uses the configuration */
		log_info("unmounted %s", c.mountpoint);
		_exit(rc);
	}
	fs_free(fs);
	recon_free(rc_);
	conf_free(cf);
	libssh2_exit();
	g_free(base);
	g_free(fsname);
	cli_clear(&c);
	log_info("unmounted %s", c.mountpoint);
	return rc;
}
