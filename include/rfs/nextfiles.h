/* nextfiles: which files of a directory a program will read next. Pure.
 *
 * Programs that read many small files go through a directory either in
 * the order its listing came (find, grep -r, tar c, du: readdir order) or
 * in sorted order (a shell's glob in the C locale, git: its index is
 * sorted by name). From the last two names a program opened in one
 * directory, guess which of the two orders it follows; the names it will
 * open next are then the ones after the last, in that order, so fs.c can
 * fetch their content before it asks.
 */
#ifndef RFS_NEXTFILES_H
#define RFS_NEXTFILES_H

enum next_order { NEXT_NONE = 0, NEXT_LISTING = 1, NEXT_SORTED = 2 };

/* How far apart two opens may be (names skipped: subdirectories, files
 * the program passed over) and still count as one walk. */
#define NEXT_GAP 8

/* names: a directory's n entries in listing order. The order in which
 * cur comes 1 to NEXT_GAP places after prev (the listing's first when
 * both do), or NEXT_NONE. */
enum next_order next_order(const char *const *names, unsigned n,
			   const char *prev, const char *cur);

/* Up to max indexes into names (into out) of the names after `after`
 * in order (NULL: from the first); how many. None when after is not
 * among names. */
unsigned next_after(const char *const *names, unsigned n,
		    enum next_order order, const char *after,
		    unsigned *out, unsigned max);

#endif
