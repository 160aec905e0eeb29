/* nextfiles: which files of a directory a program will read next. */
#include <string.h>
#include <glib.h>

#include "rfs/nextfiles.h"

static gint by_name(gconstpointer a, gconstpointer b, gpointer names)
{
	const char *const *v = names;

	return strcmp(v[*(const unsigned *)a], v[*(const unsigned *)b]);
}

/* The names' indexes in order (g_free). */
static unsigned *ranked(const char *const *names, unsigned n,
			enum next_order order)
{
	unsigned *r = g_new(unsigned, n ? n : 1);

	for (unsigned i = 0; i < n; i++)
		r[i] = i;
	if (order == NEXT_SORTED)
		g_qsort_with_data(r, (gint)n, sizeof(*r), by_name,
				  (gpointer)names);
	return r;
}

/* Where name is in r, or -1. */
static long place(const char *const *names, const unsigned *r, unsigned n,
		  const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(names[r[i]], name))
			return i;
	return -1;
}

enum next_order next_order(const char *const *names, unsigned n,
			   const char *prev, const char *cur)
{
	for (int o = NEXT_LISTING; o <= NEXT_SORTED; o++) {
		unsigned *r = ranked(names, n, (enum next_order)o);
		long a = place(names, r, n, prev), b = place(names, r, n, cur);

		g_free(r);
		if (a >= 0 && b > a && b - a <= NEXT_GAP)
			return (enum next_order)o;
	}
	return NEXT_NONE;
}

unsigned next_after(const char *const *names, unsigned n,
		    enum next_order order, const char *after,
		    unsigned *out, unsigned max)
{
	unsigned *r, k = 0;
	long at;

	if (order == NEXT_NONE)
		return 0;
	r = ranked(names, n, order);
	at = after ? place(names, r, n, after) : -1;
	for (unsigned i = (unsigned)(at + 1); (at >= 0 || !after) && i < n &&
	     k < max; i++)
		out[k++] = r[i];
	g_free(r);
	return k;
}
