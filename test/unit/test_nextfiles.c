/* Unit tests for nextfiles: telling a walk in listing order from one in
 * sorted order, and what comes next in each. */
#include <glib.h>

#include "rfs/nextfiles.h"

/* A listing as a server gives it: no order of its own. */
static const char *const ls[] = { "m.c", "b.c", "sub", "z.c", "a.c",
				  "k.c" };
#define N 6u

static void test_order(void)
{
	/* m.c then b.c: next in the listing, not in sorted order */
	g_assert_cmpint(next_order(ls, N, "m.c", "b.c"), ==, NEXT_LISTING);
	/* past a subdirectory (grep -r walks it in between) */
	g_assert_cmpint(next_order(ls, N, "b.c", "z.c"), ==, NEXT_LISTING);
	/* a.c then b.c: sorted (a.c comes after b.c in the listing) */
	g_assert_cmpint(next_order(ls, N, "a.c", "b.c"), ==, NEXT_SORTED);
	/* backwards in both, the same name, unknown names: no walk */
	g_assert_cmpint(next_order(ls, N, "k.c", "a.c"), ==, NEXT_NONE);
	g_assert_cmpint(next_order(ls, N, "b.c", "b.c"), ==, NEXT_NONE);
	g_assert_cmpint(next_order(ls, N, "x.c", "b.c"), ==, NEXT_NONE);
	g_assert_cmpint(next_order(ls, N, "b.c", "x.c"), ==, NEXT_NONE);
	g_assert_cmpint(next_order(NULL, 0, "a", "b"), ==, NEXT_NONE);
}

static void test_gap(void)
{
	const char *many[NEXT_GAP + 2];
	char buf[NEXT_GAP + 2][8];

	for (unsigned i = 0; i < NEXT_GAP + 2; i++) {
		g_snprintf(buf[i], sizeof(buf[i]), "f%02u", i);
		many[i] = buf[i];
	}
	g_assert_cmpint(next_order(many, NEXT_GAP + 2, "f00",
				   buf[NEXT_GAP]), ==, NEXT_LISTING);
	g_assert_cmpint(next_order(many, NEXT_GAP + 2, "f00",
				   buf[NEXT_GAP + 1]), ==, NEXT_NONE);
}

static void test_after(void)
{
	unsigned out[8];

	g_assert_cmpuint(next_after(ls, N, NEXT_LISTING, "b.c", out, 8), ==,
			 4);
	g_assert_cmpuint(out[0], ==, 2);	/* sub: fs_ahead.c skips it */
	g_assert_cmpuint(out[3], ==, 5);
	g_assert_cmpuint(next_after(ls, N, NEXT_SORTED, "b.c", out, 2), ==,
			 2);
	g_assert_cmpstr(ls[out[0]], ==, "k.c");
	g_assert_cmpstr(ls[out[1]], ==, "m.c");
	g_assert_cmpuint(next_after(ls, N, NEXT_SORTED, "z.c", out, 8), ==,
			 0);
	g_assert_cmpuint(next_after(ls, N, NEXT_SORTED, "x.c", out, 8), ==,
			 0);
	g_assert_cmpuint(next_after(ls, N, NEXT_NONE, "b.c", out, 8), ==, 0);
	/* from the start (a walk going on into the next directory) */
	g_assert_cmpuint(next_after(ls, N, NEXT_SORTED, NULL, out, 2), ==, 2);
	g_assert_cmpstr(ls[out[0]], ==, "a.c");
	g_assert_cmpstr(ls[out[1]], ==, "b.c");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/nextfiles/order", test_order);
	g_test_add_func("/nextfiles/gap", test_gap);
	g_test_add_func("/nextfiles/after", test_after);
	return g_test_run();
}
