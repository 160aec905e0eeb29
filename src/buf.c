/* buf: bounded wire reader and growable writer. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <glib.h>

#include "rfs/buf.h"
#include "rfs/sftp_attrs.h"
#include "rfs/bpool.h"

int buf_skip(struct bufr *r, size_t n)
{
	if (n > r->left)
		return -EPROTO;
	r->p += n;
	r->left -= n;
	return 0;
}

int buf_get_u8(struct bufr *r, uint8_t *v)
{
	*v = 0;
	if (r->left < 1)
		return -EPROTO;
	*v = r->p[0];
	return buf_skip(r, 1);
}

int buf_get_u32(struct bufr *r, uint32_t *v)
{
	*v = 0;
	if (r->left < 4)
		return -EPROTO;
	*v = buf_peek_u32(r->p);
	return buf_skip(r, 4);
}

int buf_get_u64(struct bufr *r, uint64_t *v)
{
	uint32_t hi, lo;

	*v = 0;
	if (r->left < 8)
		return -EPROTO;
	hi = buf_peek_u32(r->p);
	lo = buf_peek_u32(r->p + 4);
	*v = (uint64_t)hi << 32 | lo;
	return buf_skip(r, 8);
}

int buf_get_string_direct(struct bufr *r, const unsigned char **s,
			  size_t *len)
{
	uint32_t n;

	*s = NULL;
	*len = 0;
	if (r->left < 4)
		return -EPROTO;
	n = buf_peek_u32(r->p);
	if (n > r->left - 4)
		return -EPROTO;
	*s = r->p + 4;
	*len = n;
	return buf_skip(r, 4 + (size_t)n);
}

int buf_get_cstring(struct bufr *r, char **s)
{
	const unsigned char *p;
	size_t len;

	*s = NULL;
	if (buf_get_string_direct(r, &p, &len))
		return -EPROTO;
	if (memchr(p, '\0', len))
		return -EPROTO;
	*s = g_strndup((const char *)p, len);
	return 0;
}

/* Mode bits as the kernel takes them: a file type it does not know (or
 * none) would make every stat of the name fail with EIO, so such a name
 * shows as a regular file; bits above the type are dropped. */
static uint32_t known_type(uint32_t perm)
{
	switch (perm & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return perm & (S_IFMT | 07777);
	}
	return S_IFREG | (perm & 07777);
}

int buf_get_attrs(struct bufr *r, struct sftp_attrs *a)
{
	uint32_t count, i;

	memset(a, 0, sizeof(*a));
	if (buf_get_u32(r, &a->flags))
		goto bad;
	if ((a->flags & SFTP_ATTR_SIZE) && buf_get_u64(r, &a->size))
		goto bad;
	if ((a->flags & SFTP_ATTR_UIDGID) &&
	    (buf_get_u32(r, &a->uid) || buf_get_u32(r, &a->gid)))
		goto bad;
	if ((a->flags & SFTP_ATTR_PERMISSIONS) && buf_get_u32(r, &a->perm))
		goto bad;
	if (a->flags & SFTP_ATTR_PERMISSIONS)
		a->perm = known_type(a->perm);
	if ((a->flags & SFTP_ATTR_ACMODTIME) &&
	    (buf_get_u32(r, &a->atime) || buf_get_u32(r, &a->mtime)))
		goto bad;
	if (a->flags & SFTP_ATTR_EXTENDED) {
		if (buf_get_u32(r, &count))
			goto bad;
		for (i = 0; i < count; i++) {
			const unsigned char *type, *data;
			size_t tlen, dlen;

			/* An extension pair we skip: its type and data. */
			if (buf_get_string_direct(r, &type, &tlen) ||
			    buf_get_string_direct(r, &data, &dlen))
				goto bad;
		}
	}
	return 0;
bad:
	memset(a, 0, sizeof(*a));
	return -EPROTO;
}

/* A buffer whose hint is a data block's size takes a block of the pool
 * (bpool.h); cap == BPOOL_BLOCK tells it is one. */
void buf_init(struct buf *b, size_t hint)
{
	b->len = 0;
	b->cap = bpool_size(hint ? hint : 64);
	b->data = bpool_get(b->cap);
}

void buf_free(struct buf *b)
{
	if (b->cap == BPOOL_BLOCK)
		bpool_put(b->data, BPOOL_BLOCK);
	else
		g_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reserve(struct buf *b, size_t n)
{
	size_t cap = b->cap;

	if (n <= b->cap - b->len)
		return;
	while (n > cap - b->len)
		cap = cap ? cap * 2 : 64;
	if (b->cap == BPOOL_BLOCK) {	/* out of the pool's block */
		unsigned char *d = g_malloc(cap);

		memcpy(d, b->data, b->len);
		bpool_put(b->data, b->cap);
		b->data = d;
	} else {
		b->data = g_realloc(b->data, cap);
	}
	b->cap = cap;
}

void buf_put_raw(struct buf *b, const void *p, size_t len)
{
	buf_reserve(b, len);
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
}

void buf_put_u8(struct buf *b, uint8_t v)
{
	buf_put_raw(b, &v, 1);
}

void buf_set_u32(struct buf *b, size_t off, uint32_t v)
{
	b->data[off] = (unsigned char)(v >> 24);
	b->data[off + 1] = (unsigned char)(v >> 16);
	b->data[off + 2] = (unsigned char)(v >> 8);
	b->data[off + 3] = (unsigned char)v;
}

void buf_put_u32(struct buf *b, uint32_t v)
{
	buf_reserve(b, 4);
	b->len += 4;
	buf_set_u32(b, b->len - 4, v);
}

void buf_put_u64(struct buf *b, uint64_t v)
{
	buf_put_u32(b, (uint32_t)(v >> 32));
	buf_put_u32(b, (uint32_t)v);
}

void buf_put_string(struct buf *b, const void *s, size_t len)
{
	buf_put_u32(b, (uint32_t)len);
	buf_put_raw(b, s, len);
}

void buf_put_cstring(struct buf *b, const char *s)
{
	buf_put_string(b, s, strlen(s));
}

void buf_put_attrs(struct buf *b, const struct sftp_attrs *a)
{
	uint32_t f = a->flags & ~SFTP_ATTR_EXTENDED;

	buf_put_u32(b, f);
	if (f & SFTP_ATTR_SIZE)
		buf_put_u64(b, a->size);
	if (f & SFTP_ATTR_UIDGID) {
		buf_put_u32(b, a->uid);
		buf_put_u32(b, a->gid);
	}
	if (f & SFTP_ATTR_PERMISSIONS)
		buf_put_u32(b, a->perm);
	if (f & SFTP_ATTR_ACMODTIME) {
		buf_put_u32(b, a->atime);
		buf_put_u32(b, a->mtime);
	}
}
