/* fuzz_common: helpers shared by the libFuzzer targets in this directory.
 *
 * The parsers under test read files by path, so each target keeps its
 * input in a memfd and hands them "/proc/self/fd/N": no temporary files
 * to clean up, and every fopen() sees the whole input from offset 0.
 * Test code only: a failure here aborts, which libFuzzer reports.
 */
#ifndef RFS_FUZZ_COMMON_H
#define RFS_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Make an empty, owner-only memfd and write its /proc path to path. */
static inline int fuzz_memfd(const char *name, char *path, size_t pathsz)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	/* conf.c refuses an included file others may write */
	if (fd < 0 || fchmod(fd, 0600) != 0) {
		perror("fuzz: memfd_create");
		abort();
	}
	snprintf(path, pathsz, "/proc/self/fd/%d", fd);
	return fd;
}

/* Replace the memfd's contents with data. */
static inline void fuzz_memfd_set(int fd, const void *data, size_t size)
{
	const uint8_t *p = data;
	size_t off = 0;
	ssize_t n;

	if (ftruncate(fd, 0) != 0) {
		perror("fuzz: ftruncate");
		abort();
	}
	while (off < size) {
		n = pwrite(fd, p + off, size - off, (off_t)off);
		if (n <= 0) {
			perror("fuzz: pwrite");
			abort();
		}
		off += (size_t)n;
	}
}

/* An invariant of the code under test does not hold: say which, crash. */
#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n",	\
			__FILE__, __LINE__, #cond);			\
		abort();						\
	}								\
} while (0)

#endif
