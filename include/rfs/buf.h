/* buf: bounded reader and growable writer for SSH/SFTP wire data.
 *
 * Model: OpenSSH sshbuf. Every getter returns 0 or -EPROTO, zeroes its
 * outputs on failure and never reads past the end; chain them with || and
 * test once. *_direct getters return a pointer into the reader's memory,
 * valid while that memory lives. Pure; any thread.
 */
#ifndef RFS_BUF_H
#define RFS_BUF_H

#include <stddef.h>
#include <stdint.h>

/* SFTP ATTRS (rfs/sftp_attrs.h): buf_get_attrs/buf_put_attrs code them. */
struct sftp_attrs;

struct bufr {			/* reader: a window over memory */
	const unsigned char *p;
	size_t left;
};

struct buf {			/* writer: grows with g_realloc */
	unsigned char *data;
	size_t len, cap;
};

static inline void bufr_init(struct bufr *r, const void *p, size_t len)
{
	r->p = p;
	r->left = len;
}

int buf_get_u8(struct bufr *r, uint8_t *v);
int buf_get_u32(struct bufr *r, uint32_t *v);
int buf_get_u64(struct bufr *r, uint64_t *v);
/* A uint32-length-prefixed string, as a pointer into r's memory. */
int buf_get_string_direct(struct bufr *r, const unsigned char **s,
			  size_t *len);
/* Same, copied and NUL-terminated (g_free); fails on an embedded NUL. */
int buf_get_cstring(struct bufr *r, char **s);
int buf_get_attrs(struct bufr *r, struct sftp_attrs *a);
int buf_skip(struct bufr *r, size_t n);

void buf_init(struct buf *b, size_t hint);
void buf_free(struct buf *b);	/* frees data; the struct is the caller's */
void buf_reserve(struct buf *b, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);
void buf_put_string(struct buf *b, const void *s, size_t len);
void buf_put_cstring(struct buf *b, const char *s);
void buf_put_attrs(struct buf *b, const struct sftp_attrs *a);
void buf_put_raw(struct buf *b, const void *p, size_t len);
void buf_set_u32(struct buf *b, size_t off, uint32_t v);

static inline uint32_t buf_peek_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

#endif
