/* shell: quoting for the server's shell, the special-file commands, and
 * tools' messages read back as errno values. The quoting is checked by
 * the shells themselves: each word must come back out of sh (and bash)
 * exactly as it went in. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <glib.h>

#include "rfs/shell.h"

static const char *const nasty[] = {
	"plain", "", "it's", "''", "a'b'c", "$(touch PWNED)", "`id`",
	"x; touch PWNED", "two words", "new\nline", "-rf", "--", "back\\",
	"\\'", "\\\\'\\", "\"dq\"", "*", "$HOME", "tab\there", "!", "~",
	"#c", "a|b&c>d<e", "{a,b}", "\x01\x7f\xff",
};

/* What shell prints for `printf %s WORD` with WORD = shell_quote(s). */
static char *through(const char *shell, const char *s)
{
	char *q = shell_quote(s);
	char *cmd = g_strconcat("printf %s ", q, NULL);
	const char *argv[] = { shell, "-c", cmd, NULL };
	char *out = NULL;
	int status = -1;

	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
				   G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
				   &out, NULL, &status, NULL));
	g_assert_cmpint(status, ==, 0);
	g_free(cmd);
	g_free(q);
	return out;
}

static void test_quote_round_trip(void)
{
	const char *shells[] = { "/bin/sh", "/bin/bash", "/bin/dash" };

	for (size_t k = 0; k < G_N_ELEMENTS(shells); k++) {
		if (!g_file_test(shells[k], G_FILE_TEST_IS_EXECUTABLE))
			continue;
		for (size_t i = 0; i < G_N_ELEMENTS(nasty); i++) {
			char *out = through(shells[k], nasty[i]);

			g_assert_cmpstr(out, ==, nasty[i]);
			g_free(out);
		}
	}
}

static void test_quote_form(void)
{
	char *q = shell_quote("a'b\\c");

	/* quoted throughout; ' and \ escaped outside the quotes */
	g_assert_cmpstr(q, ==, "'a'\\''b'\\\\'c'");
	g_free(q);
}

static void test_special_cmd(void)
{
	char *c;

	g_assert_null(shell_special_cmd("/x", S_IFREG | 0644, 0));
	g_assert_null(shell_special_cmd("/x", S_IFDIR | 0755, 0));
	c = shell_special_cmd("/d/-p", S_IFIFO | 0640, 0);
	g_assert_cmpstr(c, ==, "env LC_ALL=C mkfifo -m 0640 -- '/d/-p'");
	g_free(c);
	c = shell_special_cmd("/d/n", S_IFCHR | 0600, makedev(1, 3));
	g_assert_cmpstr(c, ==, "env LC_ALL=C mknod -m 0600 -- '/d/n' c 1 3");
	g_free(c);
	c = shell_special_cmd("/d/b", S_IFBLK | 0660, makedev(259, 70000));
	g_assert_cmpstr(c, ==,
			"env LC_ALL=C mknod -m 0660 -- '/d/b' b 259 70000");
	g_free(c);
	/* -m takes permission bits only: the rest by chmod */
	c = shell_special_cmd("/d/s", S_IFIFO | 01751, 0);
	g_assert_cmpstr(c, ==, "env LC_ALL=C mkfifo -m 0751 -- '/d/s' && "
			"env LC_ALL=C chmod 1751 -- '/d/s'");
	g_free(c);
	/* a socket: bound in its directory, the name its own word */
	c = shell_special_cmd("/d i r/it's", S_IFSOCK | 0600, 0);
	g_assert_true(g_str_has_prefix(c, "env LC_ALL=C /bin/sh -c '"));
	g_assert_nonnull(strstr(c, " '/d i r' '0600' 'it'\\''s' "));
	g_free(c);
	c = shell_special_cmd("/top", S_IFSOCK | 0600, 0);
	g_assert_nonnull(strstr(c, " '/' '0600' 'top' "));
	g_free(c);
}

static void test_errno(void)
{
	g_assert_cmpint(shell_errno("mkfifo: cannot create fifo '/a': "
				    "File exists"), ==, EEXIST);
	g_assert_cmpint(shell_errno("mknod: /a: Operation not permitted"), ==,
			EPERM);
	g_assert_cmpint(shell_errno("Address already in use\n"), ==, EEXIST);
	g_assert_cmpint(shell_errno("OSError: AF_UNIX path too long"), ==,
			ENAMETOOLONG);
	g_assert_cmpint(shell_errno("mkfifo: cannot create fifo 'x': "
				    "Permission denied"), ==, EACCES);
	g_assert_cmpint(shell_errno("Read-only file system"), ==, EROFS);
	g_assert_cmpint(shell_errno("sh: 1: mkfifo: not found"), ==, 0);
	/* a name in the message cannot decide it */
	g_assert_cmpint(shell_errno("mkfifo: cannot create fifo '/a/No such "
				    "file or directory': File exists"), ==,
			EEXIST);
	g_assert_cmpint(shell_errno("mkfifo: cannot create fifo '/a/x: File "
				    "exists': Permission denied\n"), ==,
			EACCES);
	/* python's traceback: its last line */
	g_assert_cmpint(shell_errno("Traceback (most recent call last):\n"
				    "  File \"<string>\", line 1, in <module>\n"
				    "OSError: [Errno 98] Address already in "
				    "use\n"), ==, EEXIST);
	g_assert_cmpint(shell_errno(""), ==, 0);
	g_assert_cmpint(shell_errno(NULL), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/shell/quote_round_trip", test_quote_round_trip);
	g_test_add_func("/shell/quote_form", test_quote_form);
	g_test_add_func("/shell/special_cmd", test_special_cmd);
	g_test_add_func("/shell/errno", test_errno);
	return g_test_run();
}
