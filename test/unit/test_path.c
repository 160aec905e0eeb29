/* path: lexical paths and symlink targets as the mount shows them. */
#include <glib.h>

#include "rfs/path.h"

/* path_parts(in), joined with "|" ("" for none). */
static void check_parts(const char *in, const char *want)
{
	char **p = path_parts(in);
	char *got = g_strjoinv("|", p);

	g_assert_cmpstr(got, ==, want);
	g_free(got);
	g_strfreev(p);
}

static void test_parts(void)
{
	check_parts("/a/b/c", "a|b|c");
	check_parts("/", "");
	check_parts("", "");
	check_parts("//a///b/", "a|b");
	check_parts("/a/./b/.", "a|b");
	check_parts("/a/b/../c", "a|c");
	check_parts("/a/../../b", "b");		/* ".." at "/" stays there */
	check_parts("/..", "");
	check_parts("/../../etc/shadow", "etc|shadow");
	check_parts("/a/b/../..", "");
}

static void test_rel_stays_inside(void)
{
	g_assert_cmpint(path_rel_stays_inside("f", 0), ==, 1);
	g_assert_cmpint(path_rel_stays_inside("a/b/c", 0), ==, 1);
	g_assert_cmpint(path_rel_stays_inside("", 0), ==, 1);
	g_assert_cmpint(path_rel_stays_inside(".", 0), ==, 1);
	g_assert_cmpint(path_rel_stays_inside("./a/./b", 0), ==, 1);
	/* climbing: no higher than the link's depth below the root */
	g_assert_cmpint(path_rel_stays_inside("../f", 0), ==, 0);
	g_assert_cmpint(path_rel_stays_inside("../f", 1), ==, 1);
	g_assert_cmpint(path_rel_stays_inside("../../f", 1), ==, 0);
	g_assert_cmpint(path_rel_stays_inside("../../f", 2), ==, 1);
	g_assert_cmpint(path_rel_stays_inside("./../f", 1), ==, 1);
	g_assert_cmpint(path_rel_stays_inside("..", 0), ==, 0);
	/* ".." after a name: the name may be a symlink, never sure */
	g_assert_cmpint(path_rel_stays_inside("a/../f", 5), ==, 0);
	g_assert_cmpint(path_rel_stays_inside("../a/..", 5), ==, 0);
	g_assert_cmpint(path_rel_stays_inside("a/..", 5), ==, 0);
}

static void check_shown(const char *base, const char *link,
			const char *target, const char *want)
{
	char *got = path_link_shown(base, link, target);

	g_assert_cmpstr(got, ==, want);
	g_free(got);
}

static void test_link_shown_relative(void)
{
	/* inside: as the server has it */
	check_shown("/home/u", "/home/u/l", "f", "f");
	check_shown("/home/u", "/home/u/d/l", "../f", "../f");
	check_shown("/home/u", "/home/u/d/e/l", "../../d/f", "../../d/f");
	check_shown("/home/u", "/home/u/l", ".", ".");
	/* climbing above the mount root: the path it names, below the
	 * root, as an absolute target outside the base is */
	check_shown("/home/u", "/home/u/l", "../../etc/shadow",
		    "etc/shadow");
	check_shown("/home/u", "/home/u/d/l", "../../../../etc/shadow",
		    "../etc/shadow");
	/* to the base's parent and back into the base: lexically inside */
	check_shown("/home/u", "/home/u/d/l", "../../u/f", "../f");
	/* ".." after a name: taken lexically from the link's directory */
	check_shown("/home/u", "/home/u/l", "a/../../../etc/passwd",
		    "etc/passwd");
	check_shown("/home/u", "/home/u/d/l", "a/../f", "../d/f");
}

static void test_link_shown_absolute(void)
{
	/* inside the base: relative to the link */
	check_shown("/home/u", "/home/u/l", "/home/u/f", "f");
	check_shown("/home/u", "/home/u/d/l", "/home/u/f", "../f");
	check_shown("/home/u", "/home/u/d/l", "/home/u/d/e/f", "../d/e/f");
	check_shown("/home/u", "/home/u/l", "/home/u/./a/../f", "f");
	/* outside: the same path below the mount root */
	check_shown("/home/u", "/home/u/l", "/etc/shadow", "etc/shadow");
	check_shown("/home/u", "/home/u/d/e/l", "/etc/shadow",
		    "../../etc/shadow");
	check_shown("/home/u", "/home/u/l", "/home/user2/f",
		    "home/user2/f");
	check_shown("/home/u", "/home/u/l", "/home", "home");
	/* ".." never climbs out of "/" */
	check_shown("/home/u", "/home/u/l", "/../../etc", "etc");
}

static void test_link_shown_root(void)
{
	/* the mount root itself */
	check_shown("/home/u", "/home/u/l", "/home/u", ".");
	check_shown("/home/u", "/home/u/d/l", "/home/u", "..");
	check_shown("/home/u", "/home/u/d/e/l", "/home/u/", "../..");
	check_shown("/home/u", "/home/u/l", "/", ".");
	/* the server's "/" mounted */
	check_shown("/", "/l", "/etc/passwd", "etc/passwd");
	check_shown("/", "/d/l", "/etc/passwd", "../etc/passwd");
	check_shown("/", "/d/l", "/", "..");
	check_shown("/", "/l", "../etc/passwd", "etc/passwd");
	check_shown("/", "/d/l", "../etc/passwd", "../etc/passwd");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/path/parts", test_parts);
	g_test_add_func("/path/rel_stays_inside", test_rel_stays_inside);
	g_test_add_func("/path/link_shown/relative", test_link_shown_relative);
	g_test_add_func("/path/link_shown/absolute", test_link_shown_absolute);
	g_test_add_func("/path/link_shown/root", test_link_shown_root);
	return g_test_run();
}
