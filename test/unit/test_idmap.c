/* Unit tests for idmap: sshfs's uidfile/gidfile format, the three modes,
 * nomap. */
#include <string.h>
#include <glib.h>

#include "rfs/idmap.h"

/* Local names for the tests: "alice" 1002, "staff" 50. */
static int fake_lookup(int kind, const char *name, uint32_t *id)
{
	if (kind == IDMAP_UID && !strcmp(name, "alice"))
		*id = 1002;
	else if (kind == IDMAP_GID && !strcmp(name, "staff"))
		*id = 50;
	else
		return -1;
	return 0;
}

static void test_file_mode(void)
{
	struct idmap m = { .mode = IDMAP_FILE, .nomap_error = 1 };
	GError *e = NULL;
	uint32_t out;

	g_assert_cmpint(idmap_parse(&m, IDMAP_UID, "u", "# c\n\nalice:1001\n"
				    "alice:7\n", fake_lookup, &e), ==, 0);
	g_assert_no_error(e);
	g_assert_cmpint(idmap_parse(&m, IDMAP_GID, "g", " staff:100 \n",
				    fake_lookup, &e), ==, 0);
	g_assert_cmpint(idmap_local(&m, IDMAP_UID, 1001, &out), ==, 0);
	g_assert_cmpuint(out, ==, 1002);
	g_assert_cmpint(idmap_local(&m, IDMAP_UID, 7, &out), ==, 0);
	g_assert_cmpuint(out, ==, 1002);
	g_assert_cmpuint(idmap_remote(&m, IDMAP_UID, 1002), ==, 1001);
	g_assert_cmpint(idmap_local(&m, IDMAP_GID, 100, &out), ==, 0);
	g_assert_cmpuint(out, ==, 50);
	g_assert_cmpuint(idmap_remote(&m, IDMAP_GID, 50), ==, 100);
	/* unlisted: EPERM with nomap=error, as it is with ignore */
	g_assert_cmpint(idmap_local(&m, IDMAP_UID, 0, &out), ==, -1);
	m.nomap_error = 0;
	g_assert_cmpint(idmap_local(&m, IDMAP_UID, 0, &out), ==, 0);
	g_assert_cmpuint(out, ==, 0);
	g_assert_cmpuint(idmap_remote(&m, IDMAP_UID, 5), ==, 5);
	idmap_clear(&m);
}

static void test_bad_lines(void)
{
	static const char *const bad[] = { "alice", "alice:", ":5",
		"alice:x", "alice:-1", "alice:4294967295", "bob:5", NULL };

	for (int i = 0; bad[i]; i++) {
		struct idmap m = { .mode = IDMAP_FILE };
		GError *e = NULL;

		g_assert_cmpint(idmap_parse(&m, IDMAP_UID, "f", bad[i],
					    fake_lookup, &e), ==, -1);
		g_assert_nonnull(e);
		g_assert_nonnull(strstr(e->message, "f, line 1"));
		g_error_free(e);
		idmap_clear(&m);
	}
}

static void test_user_and_none(void)
{
	struct idmap m = { .mode = IDMAP_USER, .have_login = 1,
			   .login = { 1001, 1001 }, .local = { 1002, 1003 } };
	uint32_t out;

	g_assert_cmpint(idmap_local(&m, IDMAP_UID, 1001, &out), ==, 0);
	g_assert_cmpuint(out, ==, 1002);
	g_assert_cmpint(idmap_local(&m, IDMAP_GID, 1001, &out), ==, 0);
	g_assert_cmpuint(out, ==, 1003);
	g_assert_cmpint(idmap_local(&m, IDMAP_UID, 0, &out), ==, 0);
	g_assert_cmpuint(out, ==, 0);
	g_assert_cmpuint(idmap_remote(&m, IDMAP_UID, 1002), ==, 1001);
	g_assert_cmpuint(idmap_remote(&m, IDMAP_UID, 0), ==, 0);
	m.mode = IDMAP_NONE;
	g_assert_cmpint(idmap_local(&m, IDMAP_UID, 1001, &out), ==, 0);
	g_assert_cmpuint(out, ==, 1001);
	g_assert_cmpuint(idmap_remote(&m, IDMAP_UID, 1002), ==, 1002);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/idmap/file_mode", test_file_mode);
	g_test_add_func("/idmap/bad_lines", test_bad_lines);
	g_test_add_func("/idmap/user_and_none", test_user_and_none);
	return g_test_run();
}
