/* bpool: reusable blocks for the data path (see bpool.h). */
#include <glib.h>

#include "rfs/bpool.h"

static GMutex lock;
static void *idle[BPOOL_KEEP];	/* the free list, a stack */
static size_t nidle, nout;

static int pooled(size_t n)
{
	return n >= BPOOL_MIN && n <= BPOOL_BLOCK;
}

size_t bpool_size(size_t n)
{
	return pooled(n) ? BPOOL_BLOCK : n;
}

void *bpool_get(size_t n)
{
	void *p = NULL;

	if (!pooled(n))
		return g_malloc(n ? n : 1);
	g_mutex_lock(&lock);
	if (nidle)
		p = idle[--nidle];
	nout++;
	g_mutex_unlock(&lock);
	return p ? p : g_malloc(BPOOL_BLOCK);
}

void bpool_put(void *p, size_t n)
{
	if (!p)
		return;
	if (pooled(n)) {
		g_mutex_lock(&lock);
		nout--;
		if (nidle < BPOOL_KEEP) {
			idle[nidle++] = p;
			p = NULL;
		}
		g_mutex_unlock(&lock);
	}
	g_free(p);
}

void bpool_counts(size_t *out, size_t *idle_n)
{
	g_mutex_lock(&lock);
	*out = nout;
	*idle_n = nidle;
	g_mutex_unlock(&lock);
}
