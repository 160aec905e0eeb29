/* Unit tests for conf: ssh_config(5) parsing, matching and defaults.
 *
 * Each test gets a fresh temporary directory that also serves as the home
 * directory (conf_set_home_for_tests()), so "~/.ssh/..." lands inside it.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "rfs/conf.h"

#define IDX(a, i)	((const char *)g_ptr_array_index((a), (i)))

struct fx {
	char *dir;	/* temporary directory, also the home */
	char *config;	/* dir/config, the -F file of load() */
};

static const char *
me(void)
{
	return getpwuid(getuid())->pw_name;
}

static void
rm_rf(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	const char *name;

	if (d != NULL) {
		while ((name = g_dir_read_name(d)) != NULL) {
			char *p = g_build_filename(path, name, NULL);

			if (g_file_test(p, G_FILE_TEST_IS_DIR) &&
			    !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
				rm_rf(p);
			else
				g_unlink(p);
			g_free(p);
		}
		g_dir_close(d);
	}
	g_rmdir(path);
}

static void
fx_setup(struct fx *f, gconstpointer data)
{
	GError *e = NULL;
	char *ssh;

	(void)data;
	f->dir = g_dir_make_tmp("rfs-conf-XXXXXX", &e);
	g_assert_no_error(e);
	f->config = g_build_filename(f->dir, "config", NULL);
	ssh = g_build_filename(f->dir, ".ssh", NULL);
	g_assert_cmpint(g_mkdir(ssh, 0700), ==, 0);
	g_free(ssh);
	conf_set_home_for_tests(f->dir);
}

static void
fx_teardown(struct fx *f, gconstpointer data)
{
	(void)data;
	conf_set_home_for_tests(NULL);
	rm_rf(f->dir);
	g_free(f->dir);
	g_free(f->config);
}

/* Write text to dir/name, creating directories; returns the path. */
static char *
put(const struct fx *f, const char *name, const char *text)
{
	char *path = g_build_filename(f->dir, name, NULL);
	char *parent = g_path_get_dirname(path);
	GError *e = NULL;

	g_assert_cmpint(g_mkdir_with_parents(parent, 0700), ==, 0);
	g_file_set_contents(path, text, -1, &e);
	g_assert_no_error(e);
	g_assert_cmpint(chmod(path, 0644), ==, 0);
	g_free(parent);
	return path;
}

/* Apply options, read text as the -F file for host, finish. NULL and *err
 * on failure. */
static struct conf *
load_opts(const struct fx *f, const char *host, const char *const *opts,
	  const char *text, GError **err)
{
	struct conf *c = conf_new(host);

	g_free(put(f, "config", text));
	for (; opts != NULL && *opts != NULL; opts++)
		if (conf_set_option(c, *opts, err) < 0)
			goto fail;
	if (conf_read_files(c, f->config, "none", err) < 0 ||
	    conf_finish(c, err) < 0)
		goto fail;
	return c;
fail:
	conf_free(c);
	return NULL;
}

static struct conf *
load(const struct fx *f, const char *host, const char *text)
{
	GError *e = NULL;
	struct conf *c = load_opts(f, host, NULL, text, &e);

	g_assert_no_error(e);
	g_assert_nonnull(c);
	return c;
}

/* Expect the error "<config>:<msg>" ("<msg>" if msg starts with '!'). */
static void
expect_err(const struct fx *f, const char *host, const char *text,
	   const char *msg)
{
	GError *e = NULL;
	struct conf *c = load_opts(f, host, NULL, text, &e);
	char *want = msg[0] == '!' ? g_strdup(msg + 1) :
	    g_strdup_printf("%s:%s", f->config, msg);

	g_assert_null(c);
	g_assert_error(e, CONF_ERROR, CONF_ERROR_FAILED);
	g_assert_cmpstr(e->message, ==, want);
	g_error_free(e);
	g_free(want);
}

static void
expect_opt_err(const char *opt, const char *msg)
{
	struct conf *c = conf_new("h");
	GError *e = NULL;

	g_assert_cmpint(conf_set_option(c, opt, &e), ==, -1);
	g_assert_error(e, CONF_ERROR, CONF_ERROR_FAILED);
	g_assert_cmpstr(e->message, ==, msg);
	g_error_free(e);
	conf_free(c);
}

static char *
in_dir(const struct fx *f, const char *rel)
{
	return g_build_filename(f->dir, rel, NULL);
}

static void
assert_path(const struct fx *f, const char *got, const char *rel)
{
	char *want = in_dir(f, rel);

	g_assert_cmpstr(got, ==, want);
	g_free(want);
}

/* ---- basics ------------------------------------------------------------- */

static void
test_defaults(struct fx *f, gconstpointer d)
{
	static const char *ids[] = { "id_rsa", "id_ecdsa", "id_ecdsa_sk",
	    "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa" };
	struct conf *c = load(f, "example", "");
	guint i;

	(void)d;
	g_assert_cmpstr(c->hostname, ==, "example");
	g_assert_cmpstr(c->user, ==, me());
	g_assert_cmpint(c->port, ==, 22);
	g_assert_cmpint(c->identities_only, ==, 0);
	g_assert_cmpstr(c->preferred_auth, ==,
	    "publickey,keyboard-interactive,password");
	g_assert_cmpint(c->pubkey_auth, ==, 1);
	g_assert_cmpint(c->password_auth, ==, 1);
	g_assert_cmpint(c->kbdint_auth, ==, 1);
	g_assert_cmpint(c->server_alive_interval, ==, 0);
	g_assert_cmpint(c->server_alive_count_max, ==, 3);
	g_assert_cmpint(c->connect_timeout, ==, CONF_UNSET);
	g_assert_cmpint(c->compression, ==, 0);
	g_assert_cmpint(c->strict_host_key_checking, ==, CONF_SHKC_ASK);
	g_assert_cmpint(c->hash_known_hosts, ==, 0);
	g_assert_cmpint(c->address_family, ==, CONF_AF_ANY);
	g_assert_null(c->proxy_jump);
	g_assert_null(c->proxy_command);
	g_assert_null(c->identity_agent);
	g_assert_cmpuint(c->identity_files->len, ==, G_N_ELEMENTS(ids));
	for (i = 0; i < G_N_ELEMENTS(ids); i++) {
		char *rel = g_strconcat(".ssh/", ids[i], NULL);
		char *raw = g_strconcat("~/.ssh/", ids[i], NULL);

		assert_path(f, IDX(c->identity_files, i), rel);
		g_assert_cmpstr(IDX(c->identity_files_raw, i), ==, raw);
		g_free(rel);
		g_free(raw);
	}
	g_assert_cmpuint(c->user_known_hosts->len, ==, 2);
	assert_path(f, IDX(c->user_known_hosts, 0), ".ssh/known_hosts");
	assert_path(f, IDX(c->user_known_hosts, 1), ".ssh/known_hosts2");
	g_assert_cmpuint(c->global_known_hosts->len, ==, 2);
	g_assert_cmpstr(IDX(c->global_known_hosts, 0), ==,
	    "/etc/ssh/ssh_known_hosts");
	g_assert_cmpstr(IDX(c->global_known_hosts, 1), ==,
	    "/etc/ssh/ssh_known_hosts2");
	g_assert_cmpuint(c->ignored->len, ==, 0);
	g_assert_cmpuint(c->warnings->len, ==, 0);
	g_assert_true(c->finished);
	conf_free(c);
}

static void
test_keyword_case(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "PORT 2200\nuSeR bob\nhostNAME Real.Example.COM\n");

	(void)d;
	g_assert_cmpint(c->port, ==, 2200);
	g_assert_cmpstr(c->user, ==, "bob");
	g_assert_cmpstr(c->hostname, ==, "real.example.com");
	conf_free(c);
}

static void
test_equals_syntax(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "User=bob\nHostName = h.example\nIdentityFile =/k\n"
	    "ConnectTimeout= 7\n  Port\t=\t2201  \n");

	(void)d;
	g_assert_cmpstr(c->user, ==, "bob");
	g_assert_cmpstr(c->hostname, ==, "h.example");
	g_assert_cmpstr(IDX(c->identity_files, 0), ==, "/k");
	g_assert_cmpint(c->connect_timeout, ==, 7);
	g_assert_cmpint(c->port, ==, 2201);
	conf_free(c);
}

static void
test_comments_blank(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "# a comment\n\n   \t\n  Port 2201 # trailing comment\n"
	    "\tUser bob#notacomment\r\n#Port 1\n");

	(void)d;
	g_assert_cmpint(c->port, ==, 2201);
	g_assert_cmpstr(c->user, ==, "bob#notacomment");
	conf_free(c);
}

static void
test_quoted(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "IdentityFile \"/path with/space key\"\n"
	    "IdentityFile /x\\ y\n"
	    "User \"a b\"\n"
	    "HostKeyAlias 'Quoted Alias'\n");

	(void)d;
	g_assert_cmpstr(IDX(c->identity_files, 0), ==, "/path with/space key");
	g_assert_cmpstr(IDX(c->identity_files, 1), ==, "/x y");
	g_assert_cmpstr(c->user, ==, "a b");
	g_assert_cmpstr(c->host_key_alias, ==, "quoted alias");
	conf_free(c);
}

static void
test_unterminated_quote(struct fx *f, gconstpointer d)
{
	(void)d;
	expect_err(f, "h", "Port 22\nUser \"bob\n", "2: unterminated quote");
}

static void
test_missing_argument(struct fx *f, gconstpointer d)
{
	(void)d;
	expect_err(f, "h", "Port 22\n\nUser\n",
	    "3: missing argument for 'User'");
	expect_err(f, "h", "User \"\"\n", "1: missing argument for 'User'");
	expect_err(f, "h", "HostName=\n",
	    "1: missing argument for 'HostName'");
}

static void
test_extra_arguments(struct fx *f, gconstpointer d)
{
	(void)d;
	expect_err(f, "h", "Port 22 23\n", "1: extra arguments for 'Port'");
}

static void
test_unknown_keyword(struct fx *f, gconstpointer d)
{
	(void)d;
	expect_err(f, "h", "Port 22\n\nBogusKeyword yes\n",
	    "3: unknown keyword 'BogusKeyword'");
	/* Also inside a block that does not apply, as OpenSSH. */
	expect_err(f, "h", "Host nomatch\n  Bogus x\n",
	    "2: unknown keyword 'Bogus'");
}

/* ---- precedence --------------------------------------------------------- */

static void
test_first_wins_star_first(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "web",
	    "Host *\n  User star\n  Port 1111\n"
	    "Host web\n  User web\n  HostName web.example\n");

	(void)d;
	g_assert_cmpstr(c->user, ==, "star");
	g_assert_cmpint(c->port, ==, 1111);
	g_assert_cmpstr(c->hostname, ==, "web.example");
	conf_free(c);
}

static void
test_first_wins_specific_first(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "web",
	    "Host web\n  User web\nHost *\n  User star\n  Port 1111\n");

	(void)d;
	g_assert_cmpstr(c->user, ==, "web");
	g_assert_cmpint(c->port, ==, 1111);
	conf_free(c);
}

static void
test_option_precedence(struct fx *f, gconstpointer d)
{
	static const char *const opts[] = { "Port 2222", "User=opt", NULL };
	GError *e = NULL;
	struct conf *c = load_opts(f, "h", opts,
	    "Port 1\nUser file\nHostName h.example\n", &e);

	(void)d;
	g_assert_no_error(e);
	g_assert_cmpint(c->port, ==, 2222);
	g_assert_cmpstr(c->user, ==, "opt");
	g_assert_cmpstr(c->hostname, ==, "h.example");
	conf_free(c);
}

static void
test_option_forms(struct fx *f, gconstpointer d)
{
	static const char *forms[] = { "Port=2222", "Port 2222",
	    "Port = 2222", "  port\t2222 ", "PORT=  2222" };
	guint i;

	(void)f;
	(void)d;
	for (i = 0; i < G_N_ELEMENTS(forms); i++) {
		struct conf *c = conf_new("h");
		GError *e = NULL;

		g_assert_cmpint(conf_set_option(c, forms[i], &e), ==, 0);
		g_assert_no_error(e);
		g_assert_cmpint(c->port, ==, 2222);
		conf_free(c);
	}
}

static void
test_option_errors(struct fx *f, gconstpointer d)
{
	(void)f;
	(void)d;
	expect_opt_err("Foo=bar", "unknown option 'Foo'");
	expect_opt_err("Port x", "bad Port 'x'");
	expect_opt_err("Port", "missing argument for 'Port'");
	expect_opt_err("Port 22 23", "extra arguments for 'Port'");
	expect_opt_err("StrictHostKeyChecking=maybe",
	    "bad StrictHostKeyChecking 'maybe'");
	expect_opt_err("Host x", "'Host' is not allowed as an option");
	expect_opt_err("Match all", "'Match' is not allowed as an option");
	expect_opt_err("Include x", "'Include' is not allowed as an option");
	expect_opt_err("", "empty option");
}

static void
test_is_keyword(struct fx *f, gconstpointer d)
{
	(void)f;
	(void)d;
	g_assert_true(conf_is_keyword("port"));
	g_assert_true(conf_is_keyword("PORT"));
	g_assert_true(conf_is_keyword("ProxyJump"));
	g_assert_true(conf_is_keyword("ControlMaster"));
	g_assert_true(conf_is_keyword("ChallengeResponseAuthentication"));
	g_assert_true(conf_is_keyword("Match"));
	g_assert_true(conf_is_keyword("Include"));
	g_assert_false(conf_is_keyword("UseKeychain"));
	g_assert_false(conf_is_keyword("bogus"));
	g_assert_false(conf_is_keyword(""));
	g_assert_false(conf_is_keyword(NULL));
}

/* ---- Host --------------------------------------------------------------- */

static int
port_for(const struct fx *f, const char *host, const char *text)
{
	struct conf *c = load(f, host, text);
	int port = c->port;

	conf_free(c);
	return port;
}

static void
test_host_negation(struct fx *f, gconstpointer d)
{
	static const char *a = "Host * !bastion\n  Port 2000\n";
	static const char *b = "Host !bastion *\n  Port 2000\n";

	(void)d;
	g_assert_cmpint(port_for(f, "web", a), ==, 2000);
	g_assert_cmpint(port_for(f, "bastion", a), ==, 22);
	g_assert_cmpint(port_for(f, "web", b), ==, 2000);
	g_assert_cmpint(port_for(f, "bastion", b), ==, 22);
}

static void
test_host_patterns(struct fx *f, gconstpointer d)
{
	static const char *t = "Host db? *.example.org web\n  Port 2000\n";

	(void)d;
	g_assert_cmpint(port_for(f, "db1", t), ==, 2000);
	g_assert_cmpint(port_for(f, "db12", t), ==, 22);
	g_assert_cmpint(port_for(f, "a.example.org", t), ==, 2000);
	g_assert_cmpint(port_for(f, "example.org", t), ==, 22);
	g_assert_cmpint(port_for(f, "web", t), ==, 2000);
	g_assert_cmpint(port_for(f, "webx", t), ==, 22);
}

/* As ssh: Host patterns compare with the host as typed, case and all. */
static void
test_host_case(struct fx *f, gconstpointer d)
{
	(void)d;
	g_assert_cmpint(port_for(f, "foo", "Host FOO\n  Port 3\n"), ==, 22);
	g_assert_cmpint(port_for(f, "FOO", "Host FOO\n  Port 3\n"), ==, 3);
}

/* ---- Include ------------------------------------------------------------ */

static void
test_include_relative(struct fx *f, gconstpointer d)
{
	struct conf *c;

	(void)d;
	g_free(put(f, ".ssh/extra.conf", "Port 2300\n"));
	c = load(f, "h", "Include extra.conf\nPort 1\n");
	g_assert_cmpint(c->port, ==, 2300);
	conf_free(c);
}

static void
test_include_glob_sorted(struct fx *f, gconstpointer d)
{
	struct conf *c;

	(void)d;
	g_free(put(f, ".ssh/conf.d/20-b.conf", "User b\nPort 20\n"));
	g_free(put(f, ".ssh/conf.d/10-a.conf", "User a\n"));
	g_free(put(f, ".ssh/conf.d/ignored.txt", "Port 99\n"));
	c = load(f, "h", "Include conf.d/*.conf\n");
	g_assert_cmpstr(c->user, ==, "a");
	g_assert_cmpint(c->port, ==, 20);
	conf_free(c);
}

static void
test_include_several(struct fx *f, gconstpointer d)
{
	struct conf *c;

	(void)d;
	g_free(put(f, ".ssh/one.conf", "User one\n"));
	g_free(put(f, ".ssh/two.conf", "Port 2\n"));
	c = load(f, "h", "Include one.conf two.conf missing-*.conf none\n");
	g_assert_cmpstr(c->user, ==, "one");
	g_assert_cmpint(c->port, ==, 2);
	conf_free(c);
}

static void
test_include_nested(struct fx *f, gconstpointer d)
{
	char *cpath, *b;
	struct conf *c;

	(void)d;
	cpath = put(f, "elsewhere/c.conf", "HostKeyAlias fromc\n");
	b = g_strdup_printf("Port 3\nInclude %s\n", cpath);
	g_free(put(f, ".ssh/a.conf", "User froma\nInclude ~/.ssh/b.conf\n"));
	g_free(put(f, ".ssh/b.conf", b));
	c = load(f, "h", "Include a.conf\n");
	g_assert_cmpstr(c->user, ==, "froma");
	g_assert_cmpint(c->port, ==, 3);
	g_assert_cmpstr(c->host_key_alias, ==, "fromc");
	conf_free(c);
	g_free(cpath);
	g_free(b);
}

static void
test_include_loop(struct fx *f, gconstpointer d)
{
	char *loop, *msg;

	(void)d;
	loop = put(f, ".ssh/loop.conf", "# loops\nInclude loop.conf\n");
	msg = g_strdup_printf("!%s:2: Include nested more than 16 levels deep",
	    loop);
	expect_err(f, "h", "Include loop.conf\n", msg);
	g_free(loop);
	g_free(msg);
}

/* An Include in a Host block applies only for that host; Host lines in
 * the included file cannot switch it on, and the including block is
 * active again after it. */
static void
test_include_in_host_block(struct fx *f, gconstpointer d)
{
	static const char *t =
	    "Host web\n  Include web.conf\n  Port 1\nHost *\n  Port 5\n";
	struct conf *c;

	(void)d;
	g_free(put(f, ".ssh/web.conf",
	    "User webuser\nHost other\n  Port 9\n  User other\n"));
	c = load(f, "web", t);
	g_assert_cmpstr(c->user, ==, "webuser");
	g_assert_cmpint(c->port, ==, 1);
	conf_free(c);
	c = load(f, "other", t);
	g_assert_cmpstr(c->user, ==, me());
	g_assert_cmpint(c->port, ==, 5);
	conf_free(c);
}

static void
test_include_system_tilde(struct fx *f, gconstpointer d)
{
	char *sys = put(f, "sys_config", "Port 2\nInclude ~/x.conf\n");
	struct conf *c = conf_new("h");
	GError *e = NULL;
	char *want;

	(void)d;
	g_assert_cmpint(conf_read_files(c, "none", sys, &e), ==, -1);
	want = g_strdup_printf("%s:2: bad Include path '~/x.conf': '~' is "
	    "only allowed in user files", sys);
	g_assert_cmpstr(e->message, ==, want);
	g_error_free(e);
	g_free(want);
	g_free(sys);
	conf_free(c);
}

/* ---- files -------------------------------------------------------------- */

static void
test_user_file_missing(struct fx *f, gconstpointer d)
{
	struct conf *c = conf_new("h");
	GError *e = NULL;

	(void)f;
	(void)d;
	g_assert_cmpint(conf_read_files(c, "/nonexistent/rfs.conf", "none",
	    &e), ==, -1);
	g_assert_cmpstr(e->message, ==,
	    "cannot open /nonexistent/rfs.conf: No such file or directory");
	g_clear_error(&e);
	/* The default ~/.ssh/config may be missing. */
	g_assert_cmpint(conf_read_files(c, NULL, "none", &e), ==, 0);
	g_assert_no_error(e);
	conf_free(c);
}

static void
test_default_user_and_system(struct fx *f, gconstpointer d)
{
	char *sys = put(f, "sys_config", "Port 2\nUser sys\n");
	struct conf *c = conf_new("h");
	GError *e = NULL;

	(void)d;
	g_free(put(f, ".ssh/config", "Port 1\n"));
	g_assert_cmpint(conf_read_files(c, NULL, sys, &e), ==, 0);
	g_assert_no_error(e);
	g_assert_cmpint(c->port, ==, 1);
	g_assert_cmpstr(c->user, ==, "sys");
	conf_free(c);
	g_free(sys);
}

/* ~/.ssh/config that others may write is refused; a -F file is not
 * checked (OpenSSH). */
static void
test_bad_permissions(struct fx *f, gconstpointer d)
{
	char *path = put(f, ".ssh/config", "Port 1\n"), *want;
	struct conf *c = conf_new("h");
	GError *e = NULL;

	(void)d;
	g_assert_cmpint(chmod(path, 0664), ==, 0);
	g_assert_cmpint(conf_read_files(c, NULL, "none", &e), ==, -1);
	want = g_strdup_printf("%s: bad owner or permissions", path);
	g_assert_cmpstr(e->message, ==, want);
	g_clear_error(&e);
	g_assert_cmpint(conf_read_files(c, path, "none", &e), ==, 0);
	g_assert_no_error(e);
	g_assert_cmpint(c->port, ==, 1);
	conf_free(c);
	g_free(path);
	g_free(want);
}

static void
test_home_override(struct fx *f, gconstpointer d)
{
	(void)d;
	g_assert_cmpstr(conf_home(), ==, f->dir);
	conf_set_home_for_tests(NULL);
	g_assert_cmpstr(conf_home(), ==, getpwuid(getuid())->pw_dir);
	conf_set_home_for_tests(f->dir);
}

/* ---- lists and tokens --------------------------------------------------- */

static void
test_identityfile_accumulates(struct fx *f, gconstpointer d)
{
	static const char *const opts[] = { "IdentityFile ~/.ssh/opt", NULL };
	GError *e = NULL;
	struct conf *c = load_opts(f, "web", opts,
	    "Host web\n  IdentityFile ~/.ssh/a\n  IdentityFile ~/.ssh/b\n"
	    "Host *\n  IdentityFile ~/.ssh/a\n  IdentityFile ~/.ssh/c\n"
	    "Host nomatch\n  IdentityFile ~/.ssh/d\n", &e);

	(void)d;
	g_assert_no_error(e);
	g_assert_cmpuint(c->identity_files->len, ==, 4);
	assert_path(f, IDX(c->identity_files, 0), ".ssh/opt");
	assert_path(f, IDX(c->identity_files, 1), ".ssh/a");
	assert_path(f, IDX(c->identity_files, 2), ".ssh/b");
	assert_path(f, IDX(c->identity_files, 3), ".ssh/c");
	g_assert_cmpstr(IDX(c->identity_files_raw, 1), ==, "~/.ssh/a");
	conf_free(c);
}

static void
test_identityfile_tokens(struct fx *f, gconstpointer d)
{
	char host[256] = "", *want;
	struct conf *c = load(f, "web",
	    "Host web\n  HostName Web.Example.com\n  User alice\n"
	    "  Port 2022\n  IdentityFile %d/k_%h_%r_%p_%u_%n_%%\n"
	    "  IdentityFile ~/.ssh/%l\n  IdentityFile ~\n");

	(void)d;
	g_assert_cmpint(gethostname(host, sizeof(host) - 1), ==, 0);
	want = g_strdup_printf("%s/k_web.example.com_alice_2022_%s_web_%%",
	    f->dir, me());
	g_assert_cmpstr(IDX(c->identity_files, 0), ==, want);
	g_free(want);
	want = g_strdup_printf("%s/.ssh/%s", f->dir, host);
	g_assert_cmpstr(IDX(c->identity_files, 1), ==, want);
	g_free(want);
	g_assert_cmpstr(IDX(c->identity_files, 2), ==, f->dir);
	g_assert_cmpstr(IDX(c->identity_files_raw, 0), ==,
	    "%d/k_%h_%r_%p_%u_%n_%%");
	conf_free(c);
}

static void
test_identityfile_env_and_bad_token(struct fx *f, gconstpointer d)
{
	struct conf *c;

	(void)d;
	g_setenv("RFS_TEST_KEYDIR", "/keys", TRUE);
	g_unsetenv("RFS_TEST_NOPE");
	c = load(f, "h", "IdentityFile ${RFS_TEST_KEYDIR}/id\n");
	g_assert_cmpstr(IDX(c->identity_files, 0), ==, "/keys/id");
	conf_free(c);
	expect_err(f, "h", "IdentityFile ${RFS_TEST_NOPE}/id\n",
	    "!IdentityFile: environment variable 'RFS_TEST_NOPE' is not set");
	expect_err(f, "h", "IdentityFile /k/%z\n",
	    "!IdentityFile: unknown token '%z' in '/k/%z'");
	expect_err(f, "h", "IdentityFile /k/%\n",
	    "!IdentityFile: '%' at the end of '/k/%'");
	g_unsetenv("RFS_TEST_KEYDIR");
}

/* The first line that gives the known hosts files sets the whole list. */
static void
test_known_hosts_lists(struct fx *f, gconstpointer d)
{
	static const char *t =
	    "Host web\n  UserKnownHostsFile ~/.ssh/kh_%h /abs/kh2\n"
	    "Host *\n  UserKnownHostsFile ~/.ssh/other\n"
	    "  GlobalKnownHostsFile /g1 ~/g2\n"
	    "  GlobalKnownHostsFile /g3\n";
	struct conf *c = load(f, "web", t);

	(void)d;
	g_assert_cmpuint(c->user_known_hosts->len, ==, 2);
	assert_path(f, IDX(c->user_known_hosts, 0), ".ssh/kh_web");
	g_assert_cmpstr(IDX(c->user_known_hosts, 1), ==, "/abs/kh2");
	/* As ssh uses them: the global ones are not expanded. */
	g_assert_cmpuint(c->global_known_hosts->len, ==, 2);
	g_assert_cmpstr(IDX(c->global_known_hosts, 0), ==, "/g1");
	g_assert_cmpstr(IDX(c->global_known_hosts, 1), ==, "~/g2");
	conf_free(c);
	c = load(f, "db", t);
	g_assert_cmpuint(c->user_known_hosts->len, ==, 1);
	assert_path(f, IDX(c->user_known_hosts, 0), ".ssh/other");
	conf_free(c);
}

static void
test_known_hosts_none(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h", "UserKnownHostsFile none\n");

	(void)d;
	g_assert_cmpuint(c->user_known_hosts->len, ==, 1);
	g_assert_cmpstr(IDX(c->user_known_hosts, 0), ==, "none");
	conf_free(c);
	expect_err(f, "h", "GlobalKnownHostsFile /a none\n",
	    "1: 'none' must be the only argument of 'GlobalKnownHostsFile'");
}

static void
test_hostname_tokens(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "web", "HostName %h.Internal.example\n");

	(void)d;
	g_assert_cmpstr(c->hostname, ==, "web.internal.example");
	conf_free(c);
	c = load(f, "web", "HostName 100%%%h\n");
	g_assert_cmpstr(c->hostname, ==, "100%web");
	conf_free(c);
	expect_err(f, "web", "HostName %p.x\n",
	    "!HostName: unknown token '%p' in '%p.x'");
}

/* The one %-token expander, with a ProxyCommand's tokens (xport.c): a
 * lone '%' at the end and an unknown token are errors, as for every
 * other keyword (before it had one expander of its own, ProxyCommand
 * kept a final '%' as it was). */
static void
test_expand_tokens(struct fx *f, gconstpointer d)
{
	struct conf_tokens t = { 0 };
	GError *e = NULL;
	char *s;

	(void)f;
	(void)d;
	conf_tokens_add(&t, 'h', "gw.example");
	conf_tokens_add(&t, 'n', "gw");
	conf_tokens_add(&t, 'r', "bob");
	conf_tokens_add(&t, 'p', "2222");
	conf_tokens_add(&t, 'k', NULL);
	s = conf_expand_tokens("nc %h %p # %n %r 100%%[%k]", &t, "ProxyCommand",
	    &e);
	g_assert_no_error(e);
	g_assert_cmpstr(s, ==, "nc gw.example 2222 # gw bob 100%[]");
	g_free(s);
	s = conf_expand_tokens("nc %h %d", &t, "ProxyCommand", &e);
	g_assert_null(s);
	g_assert_error(e, CONF_ERROR, CONF_ERROR_FAILED);
	g_assert_cmpstr(e->message, ==,
	    "ProxyCommand: unknown token '%d' in 'nc %h %d'");
	g_clear_error(&e);
	s = conf_expand_tokens("nc %h %", &t, "ProxyCommand", &e);
	g_assert_null(s);
	g_assert_cmpstr(e->message, ==,
	    "ProxyCommand: '%' at the end of 'nc %h %'");
	g_clear_error(&e);
	conf_tokens_clear(&t);
	g_assert_cmpint(t.n, ==, 0);
	s = conf_expand_tokens("a%%b", &t, "X", &e);
	g_assert_cmpstr(s, ==, "a%b");
	g_free(s);
}

/* ---- Match -------------------------------------------------------------- */

static void
test_match_host(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "web",
	    "Host web\n  HostName real.example\n"
	    "Match host real.example\n  User m1\n"
	    "Match host web\n  Port 9\n");

	(void)d;
	g_assert_cmpstr(c->user, ==, "m1");
	g_assert_cmpint(c->port, ==, 22);
	conf_free(c);
	/* Without HostName, the host as typed; case does not matter. */
	g_assert_cmpint(port_for(f, "web", "Match host WEB,db\n  Port 9\n"),
	    ==, 9);
}

static void
test_match_originalhost(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "web",
	    "Host web\n  HostName real.example\n"
	    "Match originalhost real.example\n  Port 9\n"
	    "Match originalhost WE?\n  User orig\n");

	(void)d;
	g_assert_cmpstr(c->user, ==, "orig");
	g_assert_cmpint(c->port, ==, 22);
	conf_free(c);
}

static void
test_match_user(struct fx *f, gconstpointer d)
{
	static const char *t =
	    "Match user alice\n  Port 1\nMatch user !alice,*\n  Port 2\n";
	static const char *const alice[] = { "User alice", NULL };
	static const char *const bob[] = { "User=bob", NULL };
	GError *e = NULL;
	struct conf *c;

	(void)d;
	c = load_opts(f, "h", alice, t, &e);
	g_assert_cmpint(c->port, ==, 1);
	conf_free(c);
	c = load_opts(f, "h", bob, t, &e);
	g_assert_cmpint(c->port, ==, 2);
	conf_free(c);
	g_assert_no_error(e);
	/* No User: the local user. */
	g_assert_cmpint(port_for(f, "h", t), ==, 2);
	/* A User set earlier in the file counts. */
	g_assert_cmpint(port_for(f, "h",
	    "Host *\n  User carol\nMatch user carol\n  Port 3\n"), ==, 3);
}

static void
test_match_localuser(struct fx *f, gconstpointer d)
{
	char *t = g_strdup_printf("Host *\n  User someoneelse\n"
	    "Match localuser nobody-xyz\n  HostKeyAlias x\n"
	    "Match localuser %s\n  Port 4\n", me());
	struct conf *c = load(f, "h", t);

	(void)d;
	g_assert_cmpint(c->port, ==, 4);
	g_assert_null(c->host_key_alias);
	conf_free(c);
	g_free(t);
}

static void
test_match_all(struct fx *f, gconstpointer d)
{
	(void)d;
	g_assert_cmpint(port_for(f, "h", "Match all\n  Port 5\n"), ==, 5);
	g_assert_cmpint(port_for(f, "h",
	    "Match !all\n  Port 6\nHost *\n  Port 7\n"), ==, 7);
	g_assert_cmpint(port_for(f, "h",
	    "Match !final all\n  Port 8\n"), ==, 8);
	expect_err(f, "h", "Match all host x\n",
	    "1: 'all' cannot be combined with other Match criteria");
}

static void
test_match_exec(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "Match exec true\n  User t\n"
	    "Match exec false\n  Port 9\n"
	    "Match !exec false\n  HostKeyAlias neg\n"
	    "Match exec \"exit 3\"\n  BindAddress 10.0.0.1\n");
	char *flag, *t;

	(void)d;
	g_assert_cmpstr(c->user, ==, "t");
	g_assert_cmpint(c->port, ==, 22);
	g_assert_cmpstr(c->host_key_alias, ==, "neg");
	g_assert_null(c->bind_address);
	conf_free(c);

	/* exec is not run once an earlier criterion failed. */
	flag = in_dir(f, "ran");
	t = g_strdup_printf("Match host nomatch exec \"touch %s\"\n  Port 9\n"
	    "Match host h exec \"touch %s\"\n  Port 10\n", flag, flag);
	g_assert_cmpint(port_for(f, "nomatch2", t), ==, 22);
	g_assert_false(g_file_test(flag, G_FILE_TEST_EXISTS));
	g_assert_cmpint(port_for(f, "h", t), ==, 10);
	g_assert_true(g_file_test(flag, G_FILE_TEST_EXISTS));
	g_free(flag);
	g_free(t);
}

static void
test_match_exec_tokens(struct fx *f, gconstpointer d)
{
	char host[256] = "", *t;
	struct conf *c;

	(void)d;
	g_assert_cmpint(gethostname(host, sizeof(host) - 1), ==, 0);
	t = g_strdup_printf("Host web\n  HostName real.example\n"
	    "  User alice\n  Port 2022\n"
	    "Match exec \"test %%h = real.example -a %%n = web -a "
	    "%%p = 2022 -a %%r = alice -a %%u = %s -a '%%d' = '%s' -a "
	    "%%l = '%s'\"\n"
	    "  HostKeyAlias tokens-ok\n", me(), f->dir, host);
	c = load(f, "web", t);
	g_assert_cmpstr(c->host_key_alias, ==, "tokens-ok");
	conf_free(c);
	g_free(t);
}

/* Names that would reach the shell through a token must look like names;
 * otherwise the block does not apply and a warning says why. */
static void
test_match_exec_unsafe(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "bad;name",
	    "Match exec \"echo %h\"\n  Port 9\n"
	    "Match !exec \"echo %n\"\n  User x\n"
	    "Match exec true\n  HostKeyAlias ran\n");
	char *w;

	(void)d;
	g_assert_cmpint(c->port, ==, 22);
	g_assert_cmpstr(c->user, ==, me());
	g_assert_cmpstr(c->host_key_alias, ==, "ran");
	g_assert_cmpuint(c->warnings->len, ==, 2);
	w = g_strdup_printf("%s:1: Match exec not run: unsafe host name "
	    "'bad;name'", f->config);
	g_assert_cmpstr(IDX(c->warnings, 0), ==, w);
	g_free(w);
	conf_free(c);
}

/* Match final: a second pass in which Host patterns see the final name. */
static void
test_match_final(struct fx *f, gconstpointer d)
{
	static const char *t =
	    "Host web\n  HostName REAL.example\n"
	    "Match final host real.example\n  User fin\n"
	    "Host real.example\n  Port 99\n"
	    "Match canonical\n  Port 98\n  HostKeyAlias canon\n"
	    "Match !final\n  IdentityFile /first\n";
	struct conf *c = load(f, "web", t);

	(void)d;
	g_assert_cmpstr(c->hostname, ==, "real.example");
	g_assert_cmpstr(c->user, ==, "fin");
	g_assert_cmpint(c->port, ==, 99);
	g_assert_cmpstr(c->host_key_alias, ==, "canon");
	g_assert_cmpuint(c->identity_files->len, ==, 1);
	g_assert_cmpstr(IDX(c->identity_files, 0), ==, "/first");
	conf_free(c);
	/* No Match final: one pass, "Host real.example" never applies. */
	g_assert_cmpint(port_for(f, "web",
	    "Host web\n  HostName real.example\n"
	    "Host real.example\n  Port 99\n"
	    "Match canonical\n  Port 98\n"), ==, 22);
}

static void
test_match_unknown_criterion(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "x",
	    "Match tagged foo\n  Port 9\n"
	    "Match host x localnetwork 10.0.0.0/8 exec false\n  User y\n"
	    "Match all\n  HostKeyAlias after\n");
	char *w;

	(void)d;
	g_assert_cmpint(c->port, ==, 22);
	g_assert_cmpstr(c->user, ==, me());
	g_assert_cmpstr(c->host_key_alias, ==, "after");
	g_assert_cmpuint(c->warnings->len, ==, 2);
	w = g_strdup_printf("%s:1: unsupported Match criterion 'tagged', "
	    "block skipped", f->config);
	g_assert_cmpstr(IDX(c->warnings, 0), ==, w);
	g_free(w);
	conf_free(c);
}

static void
test_match_negation(struct fx *f, gconstpointer d)
{
	static const char *t = "Match !host web\n  Port 9\n";
	static const char *u =
	    "Match !originalhost web !user nobody-xyz\n  Port 8\n";

	(void)d;
	g_assert_cmpint(port_for(f, "web", t), ==, 22);
	g_assert_cmpint(port_for(f, "db", t), ==, 9);
	g_assert_cmpint(port_for(f, "web", u), ==, 22);
	g_assert_cmpint(port_for(f, "db", u), ==, 8);
}

static void
test_match_errors(struct fx *f, gconstpointer d)
{
	(void)d;
	expect_err(f, "h", "Match host\n",
	    "1: missing argument for Match criterion 'host'");
	expect_err(f, "h", "Match # nothing\n",
	    "1: Match needs at least one criterion");
	expect_err(f, "h", "Match\n", "1: missing argument for 'Match'");
}

/* ---- IgnoreUnknown and ignored keywords --------------------------------- */

static void
test_ignore_unknown(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "IgnoreUnknown UseKeychain,Foo*\n"
	    "Host *\n  UseKeychain yes\n  FooBar 1\n  Port 3\n");

	(void)d;
	g_assert_cmpint(c->port, ==, 3);
	g_assert_cmpuint(c->ignore_unknown->len, ==, 2);
	g_assert_cmpstr(IDX(c->ignore_unknown, 0), ==, "UseKeychain");
	g_assert_cmpstr(IDX(c->ignore_unknown, 1), ==, "Foo*");
	g_assert_cmpuint(c->ignored->len, ==, 0);
	conf_free(c);
	/* It must come first. */
	expect_err(f, "h", "Host *\n  UseKeychain yes\nIgnoreUnknown "
	    "UseKeychain\n", "2: unknown keyword 'UseKeychain'");
}

static void
test_ignored_recorded(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "Host *\n  ControlMaster auto\n  controlpath /x\n"
	    "  ForwardAgent yes\n  CONTROLMASTER no\n"
	    "Host nomatch\n  SendEnv LANG\n");

	(void)d;
	g_assert_cmpuint(c->ignored->len, ==, 3);
	g_assert_cmpstr(IDX(c->ignored, 0), ==, "controlmaster");
	g_assert_cmpstr(IDX(c->ignored, 1), ==, "controlpath");
	g_assert_cmpstr(IDX(c->ignored, 2), ==, "forwardagent");
	conf_free(c);
}

/* c->raw holds v1, v2, ... (NULL-terminated) for name. */
static void
assert_raw(const struct conf *c, const char *name, ...)
{
	const GPtrArray *a = conf_raw(c, name);
	const char *v;
	va_list ap;
	guint i = 0;

	g_assert_nonnull(a);
	va_start(ap, name);
	while ((v = va_arg(ap, const char *)) != NULL) {
		g_assert_cmpuint(i, <, a->len);
		g_assert_cmpstr(IDX(a, i), ==, v);
		i++;
	}
	va_end(ap);
	g_assert_cmpuint(a->len, ==, i);
}

/* Ignored keywords keep the first value that applies, as ssh does; a
 * line's words stay apart; -o comes before the files. */
static void
test_raw_first_wins(struct fx *f, gconstpointer d)
{
	static const char *const opts[] = { "ControlMaster=no", NULL };
	GError *e = NULL;
	struct conf *c = load_opts(f, "h", opts,
	    "Host nomatch\n  ForwardAgent no\n  SetEnv Z=0\n"
	    "Host h\n  ForwardAgent yes\n  RekeyLimit 1G 1h\n"
	    "  SetEnv A=1 \"B=two words\"\n  ControlMaster auto\n"
	    "  PubkeyAcceptedKeyTypes +ssh-rsa\n  KeepAlive no\n"
	    "  Cipher blowfish\n"
	    "Host *\n  ForwardAgent no\n  RekeyLimit 2G\n  SetEnv C=3\n"
	    "  PubkeyAcceptedAlgorithms -ssh-rsa\n  TCPKeepAlive yes\n",
	    &e);

	(void)d;
	g_assert_no_error(e);
	assert_raw(c, "forwardagent", "yes", NULL);
	assert_raw(c, "rekeylimit", "1G", "1h", NULL);
	assert_raw(c, "setenv", "A=1", "B=two words", NULL);
	assert_raw(c, "controlmaster", "no", NULL);
	/* Old names are kept under the current one. */
	assert_raw(c, "pubkeyacceptedalgorithms", "+ssh-rsa", NULL);
	assert_raw(c, "tcpkeepalive", "no", NULL);
	g_assert_null(conf_raw(c, "pubkeyacceptedkeytypes"));
	/* ssh drops deprecated keywords: nothing to print. */
	g_assert_null(conf_raw(c, "cipher"));
	g_assert_null(conf_raw(c, "batchmode"));
	conf_free(c);
}

/* The lists ssh accumulates: one value a line (never twice the same) for
 * files and forwards, one a word for SendEnv, whose "-pattern" drops. */
static void
test_raw_accumulates(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "Host h\n  CertificateFile ~/.ssh/c1\n"
	    "  LocalForward 8080 localhost:80\n  DynamicForward 1080\n"
	    "  SendEnv LANG LC_*\n  RemoteForward 2222 localhost:22\n"
	    "  RemoteCommand  echo %h  # kept\n"
	    "Host nomatch\n  CertificateFile ~/.ssh/nope\n  SendEnv NOPE\n"
	    "Host *\n  CertificateFile ~/.ssh/c2\n"
	    "  CertificateFile ~/.ssh/c1\n  LocalForward 9090 h2:90\n"
	    "  SendEnv -LC_* FOO\n  RemoteCommand other\n");

	(void)d;
	assert_raw(c, "certificatefile", "~/.ssh/c1", "~/.ssh/c2", NULL);
	assert_raw(c, "localforward", "8080 localhost:80", "1080",
	    "9090 h2:90", NULL);
	assert_raw(c, "remoteforward", "2222 localhost:22", NULL);
	assert_raw(c, "sendenv", "LANG", "FOO", NULL);
	/* The rest of the line; %h expanded by conf_finish() as ssh does. */
	assert_raw(c, "remotecommand", "echo h  # kept", NULL);
	g_assert_null(conf_raw(c, "dynamicforward"));
	conf_free(c);
}

/* Debian's ssh takes ProtocolKeepAlives and SetupTimeOut for
 * ServerAliveInterval. */
static void
test_debian_alive_aliases(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h", "SetupTimeOut 1m\n"
	    "ServerAliveInterval 5\nProtocolKeepAlives 7\n");

	(void)d;
	g_assert_cmpint(c->server_alive_interval, ==, 60);
	conf_free(c);
	c = load(f, "h", "ProtocolKeepAlives 7\n");
	g_assert_cmpint(c->server_alive_interval, ==, 7);
	conf_free(c);
}

/* ---- values ------------------------------------------------------------- */

static void
test_prefauth(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "PreferredAuthentications PublicKey,password,\n");

	(void)d;
	g_assert_cmpstr(c->preferred_auth, ==, "publickey,password");
	conf_free(c);
	expect_err(f, "h", "PreferredAuthentications ,,\n",
	    "1: bad PreferredAuthentications ',,'");
}

static void
test_strict_host_key_checking(struct fx *f, gconstpointer d)
{
	static const struct { const char *word; int want; } cases[] = {
		{ "yes", CONF_SHKC_YES }, { "true", CONF_SHKC_YES },
		{ "no", CONF_SHKC_NO }, { "off", CONF_SHKC_NO },
		{ "false", CONF_SHKC_NO }, { "ask", CONF_SHKC_ASK },
		{ "accept-new", CONF_SHKC_ACCEPT_NEW },
		{ "Accept-New", CONF_SHKC_ACCEPT_NEW },
	};
	guint i;

	(void)d;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *t = g_strdup_printf("StrictHostKeyChecking %s\n",
		    cases[i].word);
		struct conf *c = load(f, "h", t);

		g_assert_cmpint(c->strict_host_key_checking, ==,
		    cases[i].want);
		conf_free(c);
		g_free(t);
	}
	expect_err(f, "h", "StrictHostKeyChecking maybe\n",
	    "1: bad StrictHostKeyChecking 'maybe'");
}

static void
test_flags(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "IdentitiesOnly YES\nPasswordAuthentication false\n"
	    "KbdInteractiveAuthentication true\nPubkeyAuthentication no\n"
	    "HashKnownHosts yes\nCompression yes\n");

	(void)d;
	g_assert_cmpint(c->identities_only, ==, 1);
	g_assert_cmpint(c->password_auth, ==, 0);
	g_assert_cmpint(c->kbdint_auth, ==, 1);
	g_assert_cmpint(c->pubkey_auth, ==, 0);
	g_assert_cmpint(c->hash_known_hosts, ==, 1);
	g_assert_cmpint(c->compression, ==, 1);
	conf_free(c);
	expect_err(f, "h", "IdentitiesOnly maybe\n",
	    "1: bad IdentitiesOnly 'maybe'");
	/* OpenSSH takes only yes and no for Compression. */
	expect_err(f, "h", "Compression true\n", "1: bad Compression 'true'");
}

static void
test_kbdint_alias(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h", "ChallengeResponseAuthentication no\n"
	    "KbdInteractiveAuthentication yes\n");

	(void)d;
	g_assert_cmpint(c->kbdint_auth, ==, 0);
	g_assert_cmpuint(c->ignored->len, ==, 0);
	conf_free(c);
}

static void
test_port_values(struct fx *f, gconstpointer d)
{
	static const char *bad[] = { "0", "65536", "22x", "nosuchservice",
	    "-1", "+22", " 22a", "99999999999999" };
	struct conf *c;
	guint i;

	(void)d;
	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *opt = g_strdup_printf("Port=%s", bad[i]);
		char *msg = g_strdup_printf("bad Port '%s'",
		    bad[i][0] == ' ' ? bad[i] + 1 : bad[i]);

		expect_opt_err(opt, msg);
		g_free(opt);
		g_free(msg);
	}
	c = load(f, "h", "Port 65535\n");
	g_assert_cmpint(c->port, ==, 65535);
	conf_free(c);
	expect_err(f, "h", "\nPort 0\n", "2: bad Port '0'");
	/* a service name from /etc/services, as OpenSSH's a2port() */
	c = conf_new("h");
	g_assert_cmpint(conf_set_option(c, "Port=ssh", NULL), ==, 0);
	g_assert_cmpint(c->port, ==, 22);
	conf_free(c);
}

static void
test_timeouts(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "ConnectTimeout 1m30s\nServerAliveInterval 15\n"
	    "ServerAliveCountMax 0\n");

	(void)d;
	g_assert_cmpint(c->connect_timeout, ==, 90);
	g_assert_cmpint(c->server_alive_interval, ==, 15);
	g_assert_cmpint(c->server_alive_count_max, ==, 0);
	conf_free(c);
	/* "none" leaves the value unset, so a later line may set it. */
	c = load(f, "h", "ConnectTimeout none\nConnectTimeout 5\n");
	g_assert_cmpint(c->connect_timeout, ==, 5);
	conf_free(c);
	c = load(f, "h", "ConnectTimeout none\n");
	g_assert_cmpint(c->connect_timeout, ==, CONF_UNSET);
	conf_free(c);
	expect_err(f, "h", "ConnectTimeout soon\n",
	    "1: bad ConnectTimeout 'soon'");
	expect_err(f, "h", "ServerAliveInterval 0x10\n",
	    "1: bad ServerAliveInterval '0x10'");
	expect_err(f, "h", "ServerAliveCountMax -1\n",
	    "1: bad ServerAliveCountMax '-1'");
}

static void
test_prompts(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h", "");

	(void)d;
	g_assert_cmpint(c->batch_mode, ==, 0);
	g_assert_cmpint(c->number_of_password_prompts, ==, 3);
	conf_free(c);
	c = load(f, "h", "BatchMode yes\nNumberOfPasswordPrompts 1\n"
	    "NumberOfPasswordPrompts 5\n");
	g_assert_cmpint(c->batch_mode, ==, 1);
	g_assert_cmpint(c->number_of_password_prompts, ==, 1);
	conf_free(c);
	expect_err(f, "h", "NumberOfPasswordPrompts many\n",
	    "1: bad NumberOfPasswordPrompts 'many'");
	expect_err(f, "h", "BatchMode maybe\n",
	    "1: bad BatchMode 'maybe'");
}

static void
test_proxy_jump(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h", "ProxyJump alice@gw1:2222,"
	    "ssh://bob@gw2:22,[::1]:2200,gw3  # comment\n");

	(void)d;
	g_assert_cmpstr(c->proxy_jump, ==,
	    "alice@gw1:2222,ssh://bob@gw2:22,[::1]:2200,gw3");
	conf_free(c);
	c = load(f, "h", "ProxyJump none\nProxyJump gw\n");
	g_assert_null(c->proxy_jump);
	conf_free(c);
	expect_err(f, "h", "ProxyJump gw:port\n", "1: bad ProxyJump 'gw:port'");
	expect_err(f, "h", "ProxyJump a,,b\n", "1: bad ProxyJump 'a,,b'");
	expect_err(f, "h", "ProxyJump ssh://gw/path\n",
	    "1: bad ProxyJump 'ssh://gw/path'");
}

/* ProxyJump and ProxyCommand: whichever comes first wins. */
static void
test_proxy_exclusive(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h", "ProxyJump gw\nProxyCommand nc %h %p\n");

	(void)d;
	g_assert_cmpstr(c->proxy_jump, ==, "gw");
	g_assert_null(c->proxy_command);
	conf_free(c);
	c = load(f, "h", "ProxyCommand ssh -W %h:%p gw\nProxyJump gw\n");
	g_assert_null(c->proxy_jump);
	g_assert_cmpstr(c->proxy_command, ==, "ssh -W %h:%p gw");
	conf_free(c);
	c = load(f, "h", "ProxyJump none\nProxyCommand nc %h %p\n");
	g_assert_null(c->proxy_jump);
	g_assert_null(c->proxy_command);
	conf_free(c);
}

static void
test_address_family(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h", "AddressFamily inet6\n");

	(void)d;
	g_assert_cmpint(c->address_family, ==, CONF_AF_INET6);
	conf_free(c);
	c = load(f, "h", "AddressFamily inet\n");
	g_assert_cmpint(c->address_family, ==, CONF_AF_INET);
	conf_free(c);
	expect_err(f, "h", "AddressFamily inet4\n",
	    "1: bad AddressFamily 'inet4'");
}

static void
test_identity_agent(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h", "IdentityAgent ~/agent.sock\n");

	(void)d;
	assert_path(f, c->identity_agent, "agent.sock");
	g_assert_cmpstr(conf_agent_socket(c), ==, c->identity_agent);
	conf_free(c);
	c = load(f, "h", "IdentityAgent none\n");
	g_assert_cmpstr(c->identity_agent, ==, "none");
	g_assert_null(conf_agent_socket(c));
	conf_free(c);
	g_setenv("SSH_AUTH_SOCK", "/tmp/agent.default", TRUE);
	g_setenv("RFS_TEST_SOCK", "/tmp/agent.other", TRUE);
	c = load(f, "h", "IdentityAgent SSH_AUTH_SOCK\n");
	g_assert_cmpstr(c->identity_agent, ==, "SSH_AUTH_SOCK");
	g_assert_cmpstr(conf_agent_socket(c), ==, "/tmp/agent.default");
	conf_free(c);
	c = load(f, "h", "");
	g_assert_cmpstr(conf_agent_socket(c), ==, "/tmp/agent.default");
	conf_free(c);
	c = load(f, "h", "IdentityAgent $RFS_TEST_SOCK\n");
	g_assert_cmpstr(c->identity_agent, ==, "$RFS_TEST_SOCK");
	g_assert_cmpstr(conf_agent_socket(c), ==, "/tmp/agent.other");
	conf_free(c);
	g_unsetenv("RFS_TEST_SOCK");
	expect_err(f, "h", "IdentityAgent $1bad\n",
	    "1: bad IdentityAgent '$1bad'");
}

static void
test_raw_strings(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h",
	    "Ciphers +aes128-cbc\nMACs hmac-sha2-256\n"
	    "KexAlgorithms -diffie-hellman-group1-sha1\n"
	    "HostKeyAlgorithms ssh-ed25519\nBindAddress 192.0.2.1\n"
	    "HostKeyAlias MyAlias\n");

	(void)d;
	g_assert_cmpstr(c->ciphers, ==, "+aes128-cbc");
	g_assert_cmpstr(c->macs, ==, "hmac-sha2-256");
	g_assert_cmpstr(c->kex_algorithms, ==, "-diffie-hellman-group1-sha1");
	g_assert_cmpstr(c->host_key_algorithms, ==, "ssh-ed25519");
	g_assert_cmpstr(c->bind_address, ==, "192.0.2.1");
	g_assert_cmpstr(c->host_key_alias, ==, "myalias");
	conf_free(c);
}

static void
test_free_null_and_finish_twice(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "h", "HostName 100%%\n");
	GError *e = NULL;

	(void)d;
	conf_free(NULL);
	g_assert_cmpstr(c->hostname, ==, "100%");
	g_assert_cmpint(conf_finish(c, &e), ==, 0);
	g_assert_no_error(e);
	g_assert_cmpstr(c->hostname, ==, "100%");
	conf_free(c);
}

/* ---- the course chapter's config (seed) --------------------------------- */

static const char seed[] =
    "Host ens\n"
    "  HostName  ssh.ens-lyon.fr\n"
    "  User  jdupont\n"
    "  IdentitiesOnly  yes\n"
    "  IdentityFile  ~/.ssh/id_ens\n"
    "  PreferredAuthentications publickey,password,\n"
    "\n"
    "Host *\n"
    "  Compression  yes\n"
    "  ServerAliveInterval  36000\n"
    "  ControlMaster  auto\n"
    "  ControlPersist  yes\n"
    "  ControlPath  ~/.ssh/socket-%r@%h:%p\n"
    "\n"
    "Host work-ens\n"
    "  ProxyJump ens\n"
    "  HostName  ip.ip.ip.ip\n"
    "  User  login\n"
    "  IdentitiesOnly  yes\n"
    "  IdentityFile  ~/.ssh/id_work\n"
    "  PreferredAuthentications publickey,password,\n";

static void
check_seed_common(const struct conf *c)
{
	g_assert_cmpint(c->identities_only, ==, 1);
	g_assert_cmpstr(c->preferred_auth, ==, "publickey,password");
	g_assert_cmpint(c->compression, ==, 1);
	g_assert_cmpint(c->server_alive_interval, ==, 36000);
	g_assert_cmpint(c->port, ==, 22);
	g_assert_cmpuint(c->ignored->len, ==, 3);
	g_assert_cmpstr(IDX(c->ignored, 0), ==, "controlmaster");
	g_assert_cmpstr(IDX(c->ignored, 1), ==, "controlpersist");
	g_assert_cmpstr(IDX(c->ignored, 2), ==, "controlpath");
}

static void
test_seed(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "ens", seed);

	(void)d;
	g_assert_cmpstr(c->hostname, ==, "ssh.ens-lyon.fr");
	g_assert_cmpstr(c->user, ==, "jdupont");
	g_assert_cmpuint(c->identity_files->len, ==, 1);
	assert_path(f, IDX(c->identity_files, 0), ".ssh/id_ens");
	g_assert_null(c->proxy_jump);
	check_seed_common(c);
	conf_free(c);

	c = load(f, "work-ens", seed);
	g_assert_cmpstr(c->hostname, ==, "ip.ip.ip.ip");
	g_assert_cmpstr(c->user, ==, "login");
	g_assert_cmpuint(c->identity_files->len, ==, 1);
	assert_path(f, IDX(c->identity_files, 0), ".ssh/id_work");
	g_assert_cmpstr(c->proxy_jump, ==, "ens");
	check_seed_common(c);
	conf_free(c);

	c = load(f, "other", seed);
	g_assert_cmpstr(c->hostname, ==, "other");
	g_assert_cmpint(c->compression, ==, 1);
	g_assert_cmpint(c->identities_only, ==, 0);
	g_assert_cmpuint(c->identity_files->len, ==, 7);
	conf_free(c);
}

/* ---- conf_dump ---------------------------------------------------------- */

/* Every key ssh -G prints for this config, in its order. */
static const char *const dump_keys[] = {
	"host", "user", "hostname", "port", "addressfamily", "batchmode",
	"canonicalizefallbacklocal", "canonicalizehostname", "checkhostip",
	"compression", "controlmaster", "enablesshkeysign",
	"clearallforwardings", "exitonforwardfailure", "fingerprinthash",
	"forwardx11", "forwardx11trusted", "gatewayports",
	"gssapiauthentication", "gssapikeyexchange",
	"gssapidelegatecredentials", "gssapitrustdns",
	"gssapirenewalforcesrekey", "gssapikexalgorithms", "hashknownhosts",
	"hostbasedauthentication", "identitiesonly",
	"kbdinteractiveauthentication", "nohostauthenticationforlocalhost",
	"passwordauthentication", "permitlocalcommand", "proxyusefdpass",
	"pubkeyauthentication", "requesttty", "sessiontype", "stdinnull",
	"forkafterauthentication", "streamlocalbindunlink",
	"stricthostkeychecking", "tcpkeepalive", "tunnel", "verifyhostkeydns",
	"visualhostkey", "updatehostkeys", "enableescapecommandline",
	"canonicalizemaxdots", "connectionattempts", "forwardx11timeout",
	"numberofpasswordprompts", "serveralivecountmax",
	"serveraliveinterval", "requiredrsasize", "ciphers",
	"hostkeyalgorithms", "hostkeyalias", "hostbasedacceptedalgorithms",
	"identityagent", "ignoreunknown", "kexalgorithms",
	"casignaturealgorithms", "loglevel", "macs", "securitykeyprovider",
	"pubkeyacceptedalgorithms", "xauthlocation", "identityfile",
	"canonicaldomains", "globalknownhostsfile", "userknownhostsfile",
	"logverbose", "permitremoteopen", "addkeystoagent", "forwardagent",
	"connecttimeout", "tunneldevice", "canonicalizePermittedcnames",
	"controlpersist", "escapechar", "ipqos", "rekeylimit",
	"streamlocalbindmask", "syslogfacility", "proxyjump",
};

/* The keys of a dump, in order, and whether it has line. */
static gchar **
dump_key_list(const char *dump)
{
	gchar **lines = g_strsplit(dump, "\n", -1);
	int i;

	for (i = 0; lines[i] != NULL; i++)
		lines[i][strcspn(lines[i], " ")] = '\0';
	if (i > 0 && lines[i - 1][0] == '\0') {
		g_free(lines[i - 1]);
		lines[i - 1] = NULL;
	}
	return lines;
}

static void
assert_line(const char *dump, const char *line)
{
	char *l = g_strconcat("\n", line, "\n", NULL);

	if (strstr(dump, l) == NULL)
		g_test_message("no line '%s' in:\n%s", line, dump);
	g_assert_nonnull(strstr(dump, l));
	g_free(l);
}

static void
test_dump(struct fx *f, gconstpointer d)
{
	struct conf *c = load(f, "Web",
	    "Host Web\n  HostName Web.Example\n  User alice\n  Port 2022\n"
	    "  IdentityFile ~/.ssh/id_%h\n  ProxyJump gw\n"
	    "  StrictHostKeyChecking no\n  ConnectTimeout 10\n"
	    "  IdentityAgent none\n  HostKeyAlias Alias\n"
	    "  UserKnownHostsFile /kh1 /kh2\n  PubkeyAuthentication no\n"
	    "  IgnoreUnknown a,b\n  Ciphers aes128-ctr\n");
	struct conf_algs algs = { "c1,c2", "m1", "k1", "h1" };
	char *got = conf_dump(c, &algs);
	gchar **keys = dump_key_list(got);
	guint i;

	(void)d;
	g_assert_true(g_str_has_prefix(got, "host Web\nuser alice\n"
	    "hostname web.example\nport 2022\n"));
	g_assert_cmpuint(g_strv_length(keys), ==, G_N_ELEMENTS(dump_keys));
	for (i = 0; i < G_N_ELEMENTS(dump_keys); i++)
		g_assert_cmpstr(keys[i], ==, dump_keys[i]);
	assert_line(got, "pubkeyauthentication false");
	assert_line(got, "stricthostkeychecking false");
	assert_line(got, "hostkeyalias alias");
	assert_line(got, "identityagent none");
	assert_line(got, "ignoreunknown a,b");
	assert_line(got, "identityfile ~/.ssh/id_%h");
	assert_line(got, "userknownhostsfile /kh1 /kh2");
	assert_line(got, "connecttimeout 10");
	assert_line(got, "proxyjump gw");
	/* Given: as given; not given: what libssh2 offers (algs). */
	assert_line(got, "ciphers aes128-ctr");
	assert_line(got, "macs m1");
	assert_line(got, "kexalgorithms k1");
	assert_line(got, "hostkeyalgorithms h1");
	/* Not acted on: ssh's defaults. */
	assert_line(got, "batchmode no");
	assert_line(got, "numberofpasswordprompts 3");
	assert_line(got, "forwardx11trusted yes");
	assert_line(got, "updatehostkeys false");	/* own known_hosts */
	assert_line(got, "ipqos lowdelay throughput");
	g_strfreev(keys);
	g_free(got);
	conf_free(c);
}

/* ConnectTimeout: rfs waits 30 s when it is unset, none or 0. */
static void
test_dump_connect_timeout(struct fx *f, gconstpointer d)
{
	static const char *const cfg[] = {
		"", "ConnectTimeout none\n", "ConnectTimeout 0\n",
		"ConnectTimeout 1m\n",
	};
	static const char *const want[] = {
		"connecttimeout 30", "connecttimeout 30", "connecttimeout 30",
		"connecttimeout 60",
	};
	guint i;

	(void)d;
	for (i = 0; i < G_N_ELEMENTS(cfg); i++) {
		struct conf *c = load(f, "h", cfg[i]);
		char *got = conf_dump(c, NULL);

		assert_line(got, want[i]);
		/* Not given, not printed: ssh -G does the same. */
		g_assert_null(strstr(got, "\npreferredauthentications "));
		g_free(got);
		conf_free(c);
	}
}

/* Values of ignored keywords in ssh -G's form. */
static void
test_dump_ignored(struct fx *f, gconstpointer d)
{
	static const char *const want[] = {
		"batchmode yes", "canonicalizehostname false",
		"controlmaster auto", "fingerprinthash MD5", "requesttty true",
		"tunnel point-to-point", "verifyhostkeydns ask",
		"updatehostkeys false", "tcpkeepalive no",
		"forwardx11timeout 3600", "numberofpasswordprompts 5",
		"loglevel DEBUG", "syslogfacility LOCAL3",
		"controlpath ~/cm-x",
		"pubkeyacceptedalgorithms ssh-ed25519,ssh-rsa",
		"dynamicforward /tmp/l.sock", "dynamicforward 1080",
		"dynamicforward [localhost]:1081",
		"localforward 8080 [localhost]:80",
		"localforward [127.0.0.1]:9090 [::1]:90",
		"localforward /tmp/l.sock /tmp/r.sock",
		"remoteforward 2222 [localhost]:22",
		"certificatefile ~/.ssh/c1", "certificatefile ~/.ssh/c2",
		"sendenv LC_*", "sendenv FOO", "setenv A=1", "setenv B=two words",
		"canonicaldomains a.example b.example",
		"permitremoteopen host:22 other:80",
		"addkeystoagent confirm 3600", "forwardagent yes",
		"tunneldevice 3:any", "controlpersist 600", "escapechar \\^A",
		"ipqos af11 af11", "rekeylimit 1073741824 3600",
		"streamlocalbindmask 022", "remotecommand echo x",
	};
	struct conf *c = load(f, "x",
	    "Host x\n  BatchMode yes\n  ControlMaster auto\n"
	    "  FingerprintHash md5\n  RequestTTY yes\n"
	    "  Tunnel yes\n  Tunnel ethernet\n"
	    "  VerifyHostKeyDNS ask\n  KeepAlive no\n"
	    "  ForwardX11Timeout 1h\n  NumberOfPasswordPrompts 5\n"
	    "  LogLevel debug1\n  SyslogFacility local3\n"
	    "  ControlPath %d/cm-%h\n  PubkeyAcceptedKeyTypes ssh-ed25519,ssh-rsa\n"
	    "  LocalForward 8080 localhost:80\n"
	    "  LocalForward 127.0.0.1:9090 [::1]:90\n"
	    "  LocalForward /tmp/l.sock /tmp/r.sock\n"
	    "  DynamicForward 1080\n  DynamicForward localhost:1081\n"
	    "  RemoteForward 2222 localhost:22\n"
	    "  CertificateFile ~/.ssh/c1\n  CertificateFile ~/.ssh/c2\n"
	    "  SendEnv LANG LC_*\n  SendEnv -LANG FOO\n"
	    "  SetEnv A=1 \"B=two words\"\n  SetEnv C=3\n"
	    "  CanonicalDomains a.example b.example\n"
	    "  PermitRemoteOpen host:22 other:80\n"
	    "  AddKeysToAgent confirm 1h\n  ForwardAgent yes\n"
	    "  TunnelDevice 3\n  ControlPersist 10m\n  EscapeChar ^A\n"
	    "  IPQoS af11\n  RekeyLimit 1G 1h\n  StreamLocalBindMask 0022\n"
	    "  RemoteCommand echo %h\n");
	char *got = conf_dump(c, NULL), *home;
	guint i;

	(void)d;
	home = g_strconcat("controlpath ", f->dir, "/cm-x", NULL);
	for (i = 0; i < G_N_ELEMENTS(want); i++)
		assert_line(got, g_str_has_prefix(want[i], "controlpath") ?
		    home : want[i]);
	g_assert_null(strstr(got, "\nsendenv LANG\n"));
	g_assert_null(strstr(got, "\nsetenv C=3\n"));
	g_free(home);
	g_free(got);
	conf_free(c);
}

/* The last hop of ProxyJump as ssh prints it; the others as written. */
static void
test_dump_proxyjump(struct fx *f, gconstpointer d)
{
	static const char *const cfg[] = {
		"ProxyJump ssh://u@gw:2200\n",
		"ProxyJump a,ssh://b@c:22\n",
		"ProxyJump u@[2001:db8::1]:22\n",
		"ProxyJump 192.0.2.1\n",
		"ProxyCommand nc %h %p\n",
	};
	static const char *const want[] = {
		"proxyjump u@gw:2200", "proxyjump a,b@c:22",
		"proxyjump u@[2001:db8::1]:22", "proxyjump [192.0.2.1]",
		"proxycommand nc %h %p",
	};
	guint i;

	(void)d;
	for (i = 0; i < G_N_ELEMENTS(cfg); i++) {
		struct conf *c = load(f, "h", cfg[i]);
		char *got = conf_dump(c, NULL);

		assert_line(got, want[i]);
		g_free(got);
		conf_free(c);
	}
}

/* ---- against ssh -G ----------------------------------------------------- */

static const char *const g_keys[] = {
	"host", "hostname", "user", "port", "identitiesonly", "identityfile",
	"proxyjump", "serveraliveinterval", "serveralivecountmax",
	"connecttimeout", "compression", "stricthostkeychecking",
	"userknownhostsfile", "globalknownhostsfile", "hashknownhosts",
	"preferredauthentications", "addressfamily", "pubkeyauthentication",
	"passwordauthentication", "kbdinteractiveauthentication",
	"identityagent", "hostkeyalias",
};

/* key -> value; repeated keys (identityfile) joined with '\n'. */
static GHashTable *
parse_dump(const char *text)
{
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal,
	    g_free, g_free);
	gchar **lines = g_strsplit(text, "\n", -1);
	int i;

	for (i = 0; lines[i] != NULL; i++) {
		char *sp = strchr(lines[i], ' '), *old, *key;

		if (sp == NULL)
			continue;
		key = g_strndup(lines[i], sp - lines[i]);
		old = g_hash_table_lookup(h, key);
		g_hash_table_replace(h, key, old == NULL ? g_strdup(sp + 1) :
		    g_strconcat(old, "\n", sp + 1, NULL));
	}
	g_strfreev(lines);
	return h;
}

static char *
norm_prefauth(const char *v)
{
	gchar **items = g_strsplit(v, ",", -1);
	GString *o = g_string_new(NULL);
	char *r;
	int i;

	for (i = 0; items[i] != NULL; i++) {
		if (items[i][0] == '\0')
			continue;
		if (o->len > 0)
			g_string_append_c(o, ',');
		g_string_append(o, items[i]);
	}
	g_strfreev(items);
	r = g_ascii_strdown(o->str, -1);
	g_string_free(o, TRUE);
	return r;
}

static void
compare_with_ssh(const char *ssh, const char *path, const char *host)
{
	const char *argv[] = { ssh, "-G", "-F", path, host, NULL };
	char *out = NULL, *errout = NULL, *ours;
	GHashTable *theirs_h, *ours_h;
	struct conf *c = conf_new(host);
	GError *e = NULL;
	int status;
	guint i;

	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL,
	    &out, &errout, &status, &e));
	g_assert_no_error(e);
	g_assert_cmpint(status, ==, 0);
	g_assert_cmpint(conf_read_files(c, path, "none", &e), ==, 0);
	g_assert_cmpint(conf_finish(c, &e), ==, 0);
	g_assert_no_error(e);
	ours = conf_dump(c, NULL);
	theirs_h = parse_dump(out);
	ours_h = parse_dump(ours);
	/* rfs's own default: it waits 30 s where ssh waits for ever. */
	if (g_strcmp0(g_hash_table_lookup(theirs_h, "connecttimeout"),
	    "none") == 0)
		g_hash_table_insert(theirs_h, g_strdup("connecttimeout"),
		    g_strdup("30"));
	for (i = 0; i < G_N_ELEMENTS(g_keys); i++) {
		const char *k = g_keys[i];
		const char *a = g_hash_table_lookup(theirs_h, k);
		const char *b = g_hash_table_lookup(ours_h, k);
		char *na = NULL;

		if (strcmp(k, "preferredauthentications") == 0 && a != NULL)
			a = na = norm_prefauth(a);
		if (g_strcmp0(a, b) != 0)
			g_test_message("%s %s: ssh -G '%s', rfs '%s'", path,
			    k, a, b);
		g_assert_cmpstr(a, ==, b);
		g_free(na);
	}
	g_hash_table_unref(theirs_h);
	g_hash_table_unref(ours_h);
	g_free(ours);
	g_free(out);
	g_free(errout);
	conf_free(c);
}

static const char cmp_config[] =
    "Host web\n"
    "  HostName Web.Example.COM\n"
    "  User alice\n"
    "  Port 2022\n"
    "  IdentitiesOnly yes\n"
    "  IdentityFile ~/.ssh/id_web\n"
    "  IdentityFile %d/keys/%h_%r\n"
    "  PreferredAuthentications publickey,password,\n"
    "  ProxyJump gw1,bob@gw2:2200\n"
    "Host * !bastion\n"
    "  Compression yes\n"
    "  ServerAliveInterval 1m\n"
    "  ServerAliveCountMax 5\n"
    "  ConnectTimeout 10\n"
    "  StrictHostKeyChecking accept-new\n"
    "  UserKnownHostsFile ~/.ssh/kh_%h /tmp/kh2\n"
    "  GlobalKnownHostsFile /etc/ssh/g1\n"
    "  HashKnownHosts yes\n"
    "  AddressFamily inet\n"
    "  PasswordAuthentication no\n"
    "  KbdInteractiveAuthentication no\n"
    "  IdentityAgent none\n"
    "  HostKeyAlias SomeAlias\n"
    "Host bastion\n"
    "  StrictHostKeyChecking no\n"
    "  PubkeyAuthentication no\n"
    "  IdentityAgent ~/agent.sock\n"
    "  UserKnownHostsFile none\n"
    "Match originalhost db exec true\n"
    "  Port 3306\n"
    "  ProxyCommand nc %h %p\n"
    "Match final host web.example.com\n"
    "  User finaluser\n"
    "  ConnectTimeout 3\n";

static void
test_ssh_G(struct fx *f, gconstpointer d)
{
	static const char *hosts[] = { "web", "db", "bastion", "other" };
	static const char *seed_hosts[] = { "ens", "work-ens", "x" };
	char *ssh = g_find_program_in_path("ssh"), *a, *b, *e;
	guint i;

	(void)d;
	if (ssh == NULL) {
		g_test_skip("ssh is not installed");
		return;
	}
	/* ssh expands ~ with the password database's home. */
	conf_set_home_for_tests(NULL);
	a = put(f, "cmp_a", cmp_config);
	b = put(f, "cmp_b", seed);
	e = put(f, "cmp_empty", "");
	for (i = 0; i < G_N_ELEMENTS(hosts); i++)
		compare_with_ssh(ssh, a, hosts[i]);
	for (i = 0; i < G_N_ELEMENTS(seed_hosts); i++)
		compare_with_ssh(ssh, b, seed_hosts[i]);
	compare_with_ssh(ssh, e, "plain.example");
	g_free(a);
	g_free(b);
	g_free(e);
	g_free(ssh);
}

#define ADD(name, fn) \
	g_test_add("/conf/" name, struct fx, NULL, fx_setup, fn, fx_teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	ADD("defaults", test_defaults);
	ADD("keyword-case", test_keyword_case);
	ADD("equals-syntax", test_equals_syntax);
	ADD("comments-blank", test_comments_blank);
	ADD("quoted", test_quoted);
	ADD("unterminated-quote", test_unterminated_quote);
	ADD("missing-argument", test_missing_argument);
	ADD("extra-arguments", test_extra_arguments);
	ADD("unknown-keyword", test_unknown_keyword);
	ADD("first-wins-star-first", test_first_wins_star_first);
	ADD("first-wins-specific-first", test_first_wins_specific_first);
	ADD("option-precedence", test_option_precedence);
	ADD("option-forms", test_option_forms);
	ADD("option-errors", test_option_errors);
	ADD("is-keyword", test_is_keyword);
	ADD("host-negation", test_host_negation);
	ADD("host-patterns", test_host_patterns);
	ADD("host-case", test_host_case);
	ADD("include-relative", test_include_relative);
	ADD("include-glob-sorted", test_include_glob_sorted);
	ADD("include-several", test_include_several);
	ADD("include-nested", test_include_nested);
	ADD("include-loop", test_include_loop);
	ADD("include-in-host-block", test_include_in_host_block);
	ADD("include-system-tilde", test_include_system_tilde);
	ADD("user-file-missing", test_user_file_missing);
	ADD("default-user-and-system", test_default_user_and_system);
	ADD("bad-permissions", test_bad_permissions);
	ADD("home-override", test_home_override);
	ADD("identityfile-accumulates", test_identityfile_accumulates);
	ADD("identityfile-tokens", test_identityfile_tokens);
	ADD("identityfile-env-bad-token", test_identityfile_env_and_bad_token);
	ADD("known-hosts-lists", test_known_hosts_lists);
	ADD("known-hosts-none", test_known_hosts_none);
	ADD("hostname-tokens", test_hostname_tokens);
	ADD("expand-tokens", test_expand_tokens);
	ADD("match-host", test_match_host);
	ADD("match-originalhost", test_match_originalhost);
	ADD("match-user", test_match_user);
	ADD("match-localuser", test_match_localuser);
	ADD("match-all", test_match_all);
	ADD("match-exec", test_match_exec);
	ADD("match-exec-tokens", test_match_exec_tokens);
	ADD("match-exec-unsafe", test_match_exec_unsafe);
	ADD("match-final", test_match_final);
	ADD("match-unknown-criterion", test_match_unknown_criterion);
	ADD("match-negation", test_match_negation);
	ADD("match-errors", test_match_errors);
	ADD("ignore-unknown", test_ignore_unknown);
	ADD("ignored-recorded", test_ignored_recorded);
	ADD("raw-first-wins", test_raw_first_wins);
	ADD("raw-accumulates", test_raw_accumulates);
	ADD("debian-alive-aliases", test_debian_alive_aliases);
	ADD("prefauth", test_prefauth);
	ADD("strict-host-key-checking", test_strict_host_key_checking);
	ADD("flags", test_flags);
	ADD("kbdint-alias", test_kbdint_alias);
	ADD("port-values", test_port_values);
	ADD("timeouts", test_timeouts);
	ADD("prompts", test_prompts);
	ADD("proxy-jump", test_proxy_jump);
	ADD("proxy-exclusive", test_proxy_exclusive);
	ADD("address-family", test_address_family);
	ADD("identity-agent", test_identity_agent);
	ADD("raw-strings", test_raw_strings);
	ADD("free-null-finish-twice", test_free_null_and_finish_twice);
	ADD("seed", test_seed);
	ADD("dump", test_dump);
	ADD("dump-connect-timeout", test_dump_connect_timeout);
	ADD("dump-ignored", test_dump_ignored);
	ADD("dump-proxyjump", test_dump_proxyjump);
	ADD("ssh-G", test_ssh_G);
	return g_test_run();
}
