/* Unit tests for mount_helper: mount(8)'s helper argv. */
#include <glib.h>

#include "rfs/mount_helper.h"

static int parse(struct mount_helper *mh, GError **e, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = "/sbin/mount.rfs";
	va_start(ap, e);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	return mount_helper_parse(argc, argv, mh, e);
}

static void test_named(void)
{
	g_assert_true(mount_helper_named("/sbin/mount.rfs"));
	g_assert_true(mount_helper_named("mount.fuse.rfs"));
	g_assert_true(mount_helper_named("/tmp/x/mount.rfstest1"));
	g_assert_false(mount_helper_named("/usr/bin/rfs"));
	g_assert_false(mount_helper_named("mount."));
	g_assert_false(mount_helper_named("/sbin.d/rfs"));
	g_assert_false(mount_helper_named(NULL));
}

/* The order mount(8) uses: SOURCE DIR -s -f -n -v -o OPTS -t T -N NS. */
static void test_mount_order(void)
{
	struct mount_helper mh;
	GError *e = NULL;

	g_assert_cmpint(parse(&mh, &e, "h:/d", "/mnt", "-s", "-f", "-n", "-v",
			      "-o", "rw,_netdev", "-t", "fuse.rfs", "-N",
			      "/proc/1/fd/3", NULL), ==, 0);
	g_assert_cmpstr(mh.source, ==, "h:/d");
	g_assert_cmpstr(mh.target, ==, "/mnt");
	g_assert_true(mh.sloppy && mh.fake && mh.nomtab && mh.verbose);
	g_assert_cmpuint(mh.opts->len, ==, 1);
	g_assert_cmpstr(mh.opts->pdata[0], ==, "rw,_netdev");
	g_assert_cmpstr(mh.type, ==, "fuse.rfs");
	g_assert_cmpstr(mh.ns, ==, "/proc/1/fd/3");
	mount_helper_clear(&mh);
}

static void test_grouped(void)
{
	struct mount_helper mh;
	GError *e = NULL;

	g_assert_cmpint(parse(&mh, &e, "-nvoro", "h:", "-o", "a=1", "/m",
			      NULL), ==, 0);
	g_assert_true(mh.nomtab && mh.verbose && !mh.fake && !mh.sloppy);
	g_assert_cmpuint(mh.opts->len, ==, 2);
	g_assert_cmpstr(mh.opts->pdata[0], ==, "ro");
	g_assert_cmpstr(mh.opts->pdata[1], ==, "a=1");
	g_assert_cmpstr(mh.source, ==, "h:");
	g_assert_cmpstr(mh.target, ==, "/m");
	mount_helper_clear(&mh);
}

static void test_errors(void)
{
	struct mount_helper mh;
	GError *e = NULL;

	g_assert_cmpint(parse(&mh, &e, "h:/d", NULL), ==, -1);
	g_assert_nonnull(strstr(e->message, "MOUNTPOINT"));
	g_clear_error(&e);
	mount_helper_clear(&mh);
	g_assert_cmpint(parse(&mh, &e, "h:/d", "/m", "/x", NULL), ==, -1);
	g_assert_nonnull(strstr(e->message, "too many"));
	g_clear_error(&e);
	mount_helper_clear(&mh);
	g_assert_cmpint(parse(&mh, &e, "h:/d", "/m", "-o", NULL), ==, -1);
	g_assert_nonnull(strstr(e->message, "needs a value"));
	g_clear_error(&e);
	mount_helper_clear(&mh);
	g_assert_cmpint(parse(&mh, &e, "h:/d", "/m", "-q", NULL), ==, -1);
	g_assert_nonnull(strstr(e->message, "'-q'"));
	g_clear_error(&e);
	mount_helper_clear(&mh);
	g_assert_cmpint(parse(&mh, &e, "h:/d", "/m", "-t", "nfs", NULL), ==,
			-1);
	g_assert_nonnull(strstr(e->message, "'nfs'"));
	g_assert_cmpint(e->code, ==, 1);
	g_clear_error(&e);
	mount_helper_clear(&mh);
	g_assert_cmpint(parse(&mh, &e, "-t", "rfs", "--", "-odd", "/m", NULL),
			==, 0);
	g_assert_cmpstr(mh.source, ==, "-odd");
	mount_helper_clear(&mh);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mount_helper/named", test_named);
	g_test_add_func("/mount_helper/mount_order", test_mount_order);
	g_test_add_func("/mount_helper/grouped", test_grouped);
	g_test_add_func("/mount_helper/errors", test_errors);
	return g_test_run();
}
