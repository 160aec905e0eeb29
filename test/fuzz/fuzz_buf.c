/* fuzz_buf: libFuzzer target for the bounded wire reader (src/buf.c).
 *
 * Input: one header byte h, then h & 15 op bytes, then the body. The ops
 * drive the getters over the body in the order they give (op % 8: u8,
 * u32, u64, string_direct, cstring, attrs, skip(op >> 3), u32 count then
 * that many strings); the body is then read again as the payload of an
 * SSH_FXP_NAME (count, then count x (filename, longname, attrs)) and as a
 * lone ATTRS. Every getter must keep to the body, zero its outputs when
 * it fails, and attrs must survive buf_put_attrs() and a second read.
 * corpus/fuzz_buf/ comes from gen_buf_corpus.py.
 */
#include <string.h>

#include <glib.h>

#include "rfs/buf.h"
#include "rfs/sftp_attrs.h"
#include "fuzz_common.h"

struct win {			/* the body, to check pointers against */
	const unsigned char *start, *end;
};

static void check_reader(const struct win *w, const struct bufr *r,
			 size_t before)
{
	FUZZ_ASSERT(r->p >= w->start && r->p <= w->end);
	FUZZ_ASSERT(r->left == (size_t)(w->end - r->p));
	FUZZ_ASSERT(r->left <= before);
}

/* Read every byte, so that ASan sees a string lies inside the input. */
static void touch(const unsigned char *s, size_t len)
{
	volatile unsigned char sink = 0;
	size_t i;

	for (i = 0; i < len; i++)
		sink ^= s[i];
	(void)sink;
}

static gboolean attrs_zero(const struct sftp_attrs *a)
{
	static const struct sftp_attrs zero;

	return memcmp(a, &zero, sizeof(zero)) == 0;
}

/* Write a parsed ATTRS back out and read it again: same values, minus
 * the extensions buf_put_attrs() leaves out. */
static void attrs_roundtrip(const struct sftp_attrs *a)
{
	struct sftp_attrs b;
	struct bufr r;
	struct buf w;

	buf_init(&w, 0);
	buf_put_attrs(&w, a);
	bufr_init(&r, w.data, w.len);
	FUZZ_ASSERT(buf_get_attrs(&r, &b) == 0 && r.left == 0);
	FUZZ_ASSERT(b.flags == (a->flags & ~SFTP_ATTR_EXTENDED));
	FUZZ_ASSERT(b.size == a->size && b.uid == a->uid && b.gid == a->gid);
	FUZZ_ASSERT(b.perm == a->perm && b.atime == a->atime &&
		    b.mtime == a->mtime);
	buf_free(&w);
}

static int get_attrs(const struct win *w, struct bufr *r)
{
	struct sftp_attrs a;
	size_t before = r->left;
	int rc = buf_get_attrs(r, &a);

	check_reader(w, r, before);
	if (rc != 0)
		FUZZ_ASSERT(rc < 0 && attrs_zero(&a));
	else
		attrs_roundtrip(&a);
	return rc;
}

static int get_cstring(const struct win *w, struct bufr *r)
{
	size_t before = r->left;
	char *s;
	int rc = buf_get_cstring(r, &s);

	check_reader(w, r, before);
	if (rc != 0) {
		/* the reader may have moved: an embedded NUL is only seen
		 * after the string was taken */
		FUZZ_ASSERT(rc < 0 && s == NULL);
		return rc;
	}
	/* u32 length, then exactly strlen(s) bytes without a NUL */
	FUZZ_ASSERT(s != NULL && before - r->left == 4 + strlen(s));
	g_free(s);
	return 0;
}

static int get_string(const struct win *w, struct bufr *r)
{
	const unsigned char *s;
	size_t before = r->left, len;
	int rc = buf_get_string_direct(r, &s, &len);

	check_reader(w, r, before);
	if (rc != 0) {
		FUZZ_ASSERT(rc < 0 && s == NULL && len == 0);
		FUZZ_ASSERT(r->left == before);
		return rc;
	}
	FUZZ_ASSERT(s >= w->start && len <= (size_t)(w->end - s));
	FUZZ_ASSERT(s + len == r->p && before - r->left == 4 + len);
	touch(s, len);
	return 0;
}

static int do_op(const struct win *w, struct bufr *r, uint8_t op)
{
	size_t before = r->left;
	uint64_t v64;
	uint32_t v32, n, i;
	uint8_t v8;
	int rc;

	switch (op % 8) {
	case 0:
		rc = buf_get_u8(r, &v8);
		FUZZ_ASSERT(rc == 0 ? before - r->left == 1 : v8 == 0);
		break;
	case 1:
		rc = buf_get_u32(r, &v32);
		FUZZ_ASSERT(rc == 0 ? before - r->left == 4 : v32 == 0);
		break;
	case 2:
		rc = buf_get_u64(r, &v64);
		FUZZ_ASSERT(rc == 0 ? before - r->left == 8 : v64 == 0);
		break;
	case 3:
		return get_string(w, r);
	case 4:
		return get_cstring(w, r);
	case 5:
		return get_attrs(w, r);
	case 6:
		rc = buf_skip(r, op >> 3);
		FUZZ_ASSERT(rc == 0 ? before - r->left == (size_t)(op >> 3) :
			    r->left == before);
		break;
	default:
		/* a count from the wire: never trusted to size anything */
		if ((rc = buf_get_u32(r, &n)) != 0)
			break;
		for (i = 0; i < n && rc == 0; i++)
			rc = get_string(w, r);
		break;
	}
	if (rc != 0)
		FUZZ_ASSERT(rc < 0);
	check_reader(w, r, before);
	return rc;
}

/* SSH_FXP_NAME after type and id: count, then per entry filename,
 * longname, attrs. The count is bounded by the bytes there are, since
 * each entry takes at least 12. */
static void read_names(const struct win *w)
{
	struct bufr r;
	uint32_t count, i;

	bufr_init(&r, w->start, (size_t)(w->end - w->start));
	if (buf_get_u32(&r, &count) != 0)
		return;
	for (i = 0; i < count && r.left > 0; i++)
		if (get_cstring(w, &r) || get_cstring(w, &r) ||
		    get_attrs(w, &r))
			break;
	FUZZ_ASSERT(i <= (size_t)(w->end - w->start) / 12);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *ops;
	struct bufr r;
	struct win w;
	size_t nops, i;

	if (size < 1)
		return 0;
	nops = data[0] & 15;
	if (nops > size - 1)
		nops = size - 1;
	ops = data + 1;
	w.start = data + 1 + nops;
	w.end = data + size;

	bufr_init(&r, w.start, (size_t)(w.end - w.start));
	for (i = 0; i < nops; i++)
		if (do_op(&w, &r, ops[i]) != 0 && (data[0] & 0x10) == 0)
			break;	/* bit 4: keep going after a failure */

	read_names(&w);
	bufr_init(&r, w.start, (size_t)(w.end - w.start));
	(void)get_attrs(&w, &r);
	return 0;
}
