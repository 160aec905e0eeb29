/* bpool: reusable blocks for the data path.
 *
 * A READ's data and a WRITE's packet are up to 256 KiB each. glibc serves
 * blocks that size with a fresh mmap and gives them back with munmap: each
 * request then faults its pages in one by one and its munmap interrupts
 * every core to flush their TLBs, which on a virtual machine cost a third
 * of the CPU of a big read. Blocks of BPOOL_BLOCK bytes are kept on a free
 * list instead (at most BPOOL_KEEP of them, 16 MiB, held once a transfer
 * used that many), so the data path allocates nothing once it runs.
 * Smaller or bigger sizes are plain g_malloc. Any thread.
 */
#ifndef RFS_BPOOL_H
#define RFS_BPOOL_H

#include <stddef.h>

#define BPOOL_BLOCK (257 * 1024)	/* an SFTP packet of 256 KiB data */
#define BPOOL_MIN (32 * 1024)		/* below this: g_malloc */
#define BPOOL_KEEP 64

/* A block of at least n bytes; give it back with bpool_put(p, n), the
 * same n: it tells a pool block from a g_malloc'd one. Never fails. */
void *bpool_get(size_t n);
/* The size of the block bpool_get(n) gives: BPOOL_BLOCK or n. */
size_t bpool_size(size_t n);
void bpool_put(void *p, size_t n);

/* Blocks handed out and blocks waiting on the free list (for tests). */
void bpool_counts(size_t *out, size_t *idle);

#endif
