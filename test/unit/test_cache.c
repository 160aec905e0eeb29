/* Unit tests for cache: hits, misses, negative answers from listings,
 * precise invalidation, timeouts and the size bound. */
#include <errno.h>
#include <string.h>
#include <glib.h>

#include "rfs/cache.h"

static struct cache *mk(int ms, unsigned max)
{
	struct cache_opts o = { ms, ms, ms, ms, max, 0, 0, ms };

	return cache_new(&o);
}

static struct sftp_attrs attrs(uint64_t size)
{
	struct sftp_attrs a = { .flags = SFTP_ATTR_SIZE | SFTP_ATTR_PERMISSIONS,
				.size = size, .perm = 0100644 };
	return a;
}

static void test_attr_roundtrip(void)
{
	struct cache *c = mk(10000, 100);
	struct sftp_attrs a = attrs(42), out;
	uint32_t nlink = 0;

	g_assert_cmpint(cache_get_attr(c, "/d/f", &out, &nlink), ==, 0);
	cache_put_attr(c, "/d/f", &a, 3);
	g_assert_cmpint(cache_get_attr(c, "/d/f", &out, &nlink), ==, 1);
	g_assert_cmpuint(out.size, ==, 42);
	g_assert_cmpuint(nlink, ==, 3);
	cache_put_neg(c, "/d/g");
	g_assert_cmpint(cache_get_attr(c, "/d/g", &out, &nlink), ==, -ENOENT);
	cache_put_attr(c, "/d/g", &a, 1);	/* created: no longer negative */
	g_assert_cmpint(cache_get_attr(c, "/d/g", &out, &nlink), ==, 1);
	cache_free(c);
}

static GArray *listing(const char *const *names)
{
	GArray *a = g_array_new(FALSE, TRUE, sizeof(struct cache_dent));

	for (int i = 0; names[i]; i++) {
		struct cache_dent d = { g_strdup(names[i]), attrs(i), 1 };
		g_array_append_val(a, d);
	}
	return a;
}

static void test_listing_answers_lookups(void)
{
	static const char *const names[] = { ".", "..", "a", "b", NULL };
	struct cache *c = mk(10000, 100);
	GArray *l = listing(names), *got;
	struct sftp_attrs out;
	uint32_t nlink;

	cache_put_dir(c, "/d", l, 0);
	g_assert_cmpint(cache_get_attr(c, "/d/a", &out, &nlink), ==, 1);
	g_assert_cmpuint(out.size, ==, 2);
	/* not in the fresh listing: known not to exist */
	g_assert_cmpint(cache_get_attr(c, "/d/zz", &out, &nlink), ==, -ENOENT);
	got = cache_get_dir(c, "/d");
	g_assert_nonnull(got);
	g_assert_cmpuint(got->len, ==, 4);
	g_assert_cmpstr(g_array_index(got, struct cache_dent, 3).name, ==, "b");
	cache_dents_free(got);
	/* a change in /d drops its listing, not the other entries */
	cache_invalidate(c, "/d/new");
	g_assert_null(cache_get_dir(c, "/d"));
	g_assert_cmpint(cache_get_attr(c, "/d/zz", &out, &nlink), ==, 0);
	g_assert_cmpint(cache_get_attr(c, "/d/a", &out, &nlink), ==, 1);
	cache_dents_free(l);
	cache_free(c);
}

static void test_root_listing(void)
{
	static const char *const names[] = { "etc", NULL };
	struct cache *c = mk(10000, 100);
	GArray *l = listing(names);
	struct sftp_attrs out;
	uint32_t nlink;

	cache_put_dir(c, "/", l, 0);
	g_assert_cmpint(cache_get_attr(c, "/etc", &out, &nlink), ==, 1);
	g_assert_cmpint(cache_get_attr(c, "/usr", &out, &nlink), ==, -ENOENT);
	cache_dents_free(l);
	cache_free(c);
}

/* Someone may create a name on the server right after we listed the
 * directory: absence from a fetched listing answers ENOENT only within
 * the negative timeout (0 by default), from a directory we made for as
 * long as its listing is kept. */
static void test_listing_negatives_short(void)
{
	static const char *const names[] = { "a", NULL };
	struct cache_opts o = { 10000, 10000, 10000, 0, 100, 0, 0, 0 };
	struct cache *c = cache_new(&o);
	GArray *l = listing(names), *none = listing((const char *[]){ NULL });
	struct sftp_attrs out;
	uint32_t nlink;

	cache_put_dir(c, "/d", l, 0);
	g_assert_cmpint(cache_get_attr(c, "/d/a", &out, &nlink), ==, 1);
	g_assert_cmpint(cache_get_attr(c, "/d/new", &out, &nlink), ==, 0);
	cache_put_dir(c, "/made", none, 1);
	g_assert_cmpint(cache_get_attr(c, "/made/x", &out, &nlink), ==,
			-ENOENT);
	cache_put_neg(c, "/d/gone");	/* neg_ms 0: not kept */
	g_assert_cmpint(cache_get_attr(c, "/d/gone", &out, &nlink), ==, 0);
	cache_dents_free(l);
	cache_dents_free(none);
	cache_free(c);
}

/* The working set: an answer past half its life, not being asked, is
 * handed out once for asking again; a confirmation of attributes counts
 * only within confirm_ms. */
static void test_working_set(void)
{
	struct cache_opts o = { 10000, 10000, 10000, 80, 100, 0, 0, 0 };
	struct cache *c = cache_new(&o);
	struct sftp_attrs a = attrs(7), out;
	uint32_t nlink;
	GPtrArray *p;

	cache_put_neg(c, "/d/gone");
	cache_ws_use(c, "/d/gone", CACHE_WS_ADD);
	cache_put_attr(c, "/d/f", &a, 1);
	cache_ws_use(c, "/d/f", CACHE_WS_ADD);
	g_assert_cmpint(cache_get_attr(c, "/d/gone", &out, &nlink), ==,
			-ENOENT);
	p = cache_ws_stale(c);
	g_assert_cmpuint(p->len, ==, 0);	/* fresh */
	g_ptr_array_unref(p);
	g_usleep(50000);
	p = cache_ws_stale(c);	/* /d/f: confirm_ms 0, never worth it */
	g_assert_cmpuint(p->len, ==, 1);
	g_assert_cmpstr(p->pdata[0], ==, "/d/gone");
	g_ptr_array_unref(p);
	p = cache_ws_stale(c);
	g_assert_cmpuint(p->len, ==, 0);	/* being asked */
	g_ptr_array_unref(p);
	cache_put_neg(c, "/d/gone");		/* the answer */
	g_assert_cmpint(cache_get_attr(c, "/d/gone", &out, &nlink), ==,
			-ENOENT);
	g_assert_cmpint(cache_confirmed_attr(c, "/d/f", &out), ==, 0);
	cache_free(c);
	o.confirm_ms = 1000;
	c = cache_new(&o);
	cache_put_attr(c, "/d/f", &a, 1);
	g_assert_cmpint(cache_confirmed_attr(c, "/d/f", &out), ==, 1);
	g_assert_cmpuint(out.size, ==, 7);
	cache_forget_attr(c, "/d/f");		/* we wrote it */
	g_assert_cmpint(cache_confirmed_attr(c, "/d/f", &out), ==, 0);
	cache_free(c);
}

static void test_invalidate_tree(void)
{
	struct cache *c = mk(10000, 100);
	struct sftp_attrs a = attrs(1), out;
	uint32_t nlink;

	cache_put_attr(c, "/a", &a, 1);
	cache_put_attr(c, "/a/b", &a, 1);
	cache_put_attr(c, "/a/b/c", &a, 1);
	cache_put_attr(c, "/ab", &a, 1);	/* a prefix, not a child */
	cache_put_link(c, "/a/l", "target");
	cache_invalidate_tree(c, "/a");
	g_assert_cmpint(cache_get_attr(c, "/a", &out, &nlink), ==, 0);
	g_assert_cmpint(cache_get_attr(c, "/a/b/c", &out, &nlink), ==, 0);
	g_assert_null(cache_get_link(c, "/a/l"));
	g_assert_cmpint(cache_get_attr(c, "/ab", &out, &nlink), ==, 1);
	cache_free(c);
}

static void test_timeout(void)
{
	struct cache *c = mk(30, 100);
	struct sftp_attrs a = attrs(1), out;
	uint32_t nlink;
	char *t;

	cache_put_attr(c, "/f", &a, 1);
	cache_put_link(c, "/l", "x");
	g_assert_cmpint(cache_get_attr(c, "/f", &out, &nlink), ==, 1);
	t = cache_get_link(c, "/l");
	g_assert_cmpstr(t, ==, "x");
	g_free(t);
	g_usleep(60 * 1000);
	g_assert_cmpint(cache_get_attr(c, "/f", &out, &nlink), ==, 0);
	g_assert_null(cache_get_link(c, "/l"));
	cache_free(c);
}

static void test_disabled_and_bounded(void)
{
	struct cache *off = mk(0, 100), *c = mk(10000, 10);
	struct sftp_attrs a = attrs(1), out;
	uint32_t nlink;
	uint64_t hits, misses;

	cache_put_attr(off, "/f", &a, 1);
	cache_put_neg(off, "/g");
	g_assert_cmpint(cache_get_attr(off, "/f", &out, &nlink), ==, 0);
	g_assert_cmpint(cache_get_attr(off, "/g", &out, &nlink), ==, 0);
	for (int i = 0; i < 50; i++) {
		char *p = g_strdup_printf("/f%d", i);
		cache_put_attr(c, p, &a, 1);
		g_free(p);
	}
	/* only the 10 youngest stay */
	g_assert_cmpint(cache_get_attr(c, "/f0", &out, &nlink), ==, 0);
	g_assert_cmpint(cache_get_attr(c, "/f49", &out, &nlink), ==, 1);
	g_assert_cmpint(cache_get_attr(c, "/f40", &out, &nlink), ==, 1);
	g_assert_cmpint(cache_get_attr(c, "/f39", &out, &nlink), ==, 0);
	cache_stats(c, &hits, &misses);
	g_assert_cmpuint(hits, ==, 2);
	g_assert_cmpuint(misses, ==, 2);
	cache_free(off);
	cache_free(c);
}

/* Our own creates keep a fresh listing answering lookups of other
 * names; readdir fetches it again (its attributes went stale). */
static void test_created_keeps_names(void)
{
	static const char *const names[] = { ".", "..", "a", NULL };
	struct cache *c = mk(10000, 100);
	GArray *l = listing(names);
	struct sftp_attrs a = attrs(0), out;
	uint32_t nlink;

	cache_put_dir(c, "/d", l, 0);
	cache_dents_free(l);
	cache_created(c, "/d/new", &a);
	g_assert_cmpint(cache_get_attr(c, "/d/new", &out, &nlink), ==, 0);
	g_assert_cmpint(cache_get_attr(c, "/d/other", &out, &nlink), ==,
			-ENOENT);
	g_assert_null(cache_get_dir(c, "/d"));
	cache_forget_attr(c, "/d/a");
	g_assert_cmpint(cache_get_attr(c, "/d/a", &out, &nlink), ==, 0);
	g_assert_cmpint(cache_get_attr(c, "/d/zz", &out, &nlink), ==, -ENOENT);
	/* Without a listing of the parent: nothing is inferred. */
	cache_created(c, "/e/new", &a);
	g_assert_cmpint(cache_get_attr(c, "/e/other", &out, &nlink), ==, 0);
	cache_free(c);
}

/* A child evicted for room must not turn into "does not exist" while its
 * parent's listing stays. */
static void test_eviction_drops_parent_listing(void)
{
	static const char *const names[] = { ".", "..", "a", "b", NULL };
	struct cache *c = mk(10000, 4);
	GArray *l = listing(names);
	struct sftp_attrs a = attrs(1), out;
	uint32_t nlink;

	cache_put_dir(c, "/d", l, 0);	/* /d/., /d/.., /d/a, /d/b, /d */
	cache_dents_free(l);
	cache_put_attr(c, "/x", &a, 1);	/* evicts the oldest children */
	g_assert_cmpint(cache_get_attr(c, "/d/a", &out, &nlink), !=, -ENOENT);
	g_assert_cmpint(cache_get_attr(c, "/d/b", &out, &nlink), !=, -ENOENT);
	cache_free(c);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cache/attr_roundtrip", test_attr_roundtrip);
	g_test_add_func("/cache/listing_answers_lookups",
			test_listing_answers_lookups);
	g_test_add_func("/cache/root_listing", test_root_listing);
	g_test_add_func("/cache/working_set", test_working_set);
	g_test_add_func("/cache/listing_negatives_short",
			test_listing_negatives_short);
	g_test_add_func("/cache/invalidate_tree", test_invalidate_tree);
	g_test_add_func("/cache/timeout", test_timeout);
	g_test_add_func("/cache/created_keeps_names",
			test_created_keeps_names);
	g_test_add_func("/cache/eviction_drops_parent_listing",
			test_eviction_drops_parent_listing);
	g_test_add_func("/cache/disabled_and_bounded",
			test_disabled_and_bounded);
	return g_test_run();
}
