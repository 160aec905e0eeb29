/* Unit tests for buf: the bounded reader never reads past the end. */
#include <errno.h>
#include <string.h>
#include <glib.h>

#include "rfs/buf.h"
#include "rfs/sftp_attrs.h"
#include "rfs/bpool.h"

static void test_roundtrip(void)
{
	struct buf b;
	struct bufr r;
	struct sftp_attrs a = { .flags = SFTP_ATTR_SIZE | SFTP_ATTR_UIDGID |
		SFTP_ATTR_PERMISSIONS | SFTP_ATTR_ACMODTIME,
		.size = 1ULL << 40, .uid = 1000, .gid = 100, .perm = 0100644,
		.atime = 12345, .mtime = 67890 }, out;
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;
	char *s;

	buf_init(&b, 4);
	buf_put_u8(&b, 7);
	buf_put_u32(&b, 0xdeadbeef);
	buf_put_u64(&b, 0x0102030405060708ULL);
	buf_put_cstring(&b, "hello");
	buf_put_attrs(&b, &a);
	bufr_init(&r, b.data, b.len);
	g_assert_cmpint(buf_get_u8(&r, &u8) || buf_get_u32(&r, &u32) ||
			buf_get_u64(&r, &u64) || buf_get_cstring(&r, &s) ||
			buf_get_attrs(&r, &out), ==, 0);
	g_assert_cmpuint(u8, ==, 7);
	g_assert_cmphex(u32, ==, 0xdeadbeef);
	g_assert_cmphex(u64, ==, 0x0102030405060708ULL);
	g_assert_cmpstr(s, ==, "hello");
	g_assert_cmphex(out.flags, ==, a.flags);
	g_assert_cmpuint(out.size, ==, a.size);
	g_assert_cmpuint(out.uid, ==, a.uid);
	g_assert_cmpuint(out.gid, ==, a.gid);
	g_assert_cmpuint(out.perm, ==, a.perm);
	g_assert_cmpuint(out.atime, ==, a.atime);
	g_assert_cmpuint(out.mtime, ==, a.mtime);
	g_assert_cmpuint(r.left, ==, 0);
	g_free(s);
	buf_free(&b);
}

static void test_short_reads(void)
{
	static const unsigned char three[] = { 1, 2, 3 };
	struct bufr r;
	uint32_t v = 99;
	uint64_t w = 99;

	bufr_init(&r, three, sizeof(three));
	g_assert_cmpint(buf_get_u32(&r, &v), ==, -EPROTO);
	g_assert_cmpuint(v, ==, 0);
	g_assert_cmpuint(r.left, ==, 3);
	g_assert_cmpint(buf_get_u64(&r, &w), ==, -EPROTO);
	g_assert_cmpuint(w, ==, 0);
}

static void test_string_bounds(void)
{
	/* length 2^31 with 4 bytes behind it */
	static const unsigned char huge[] = { 0x80, 0, 0, 0, 'a', 'b', 'c', 'd' };
	static const unsigned char maxlen[] = { 0xff, 0xff, 0xff, 0xff, 'x' };
	static const unsigned char nul[] = { 0, 0, 0, 3, 'a', 0, 'b' };
	const unsigned char *p = (const void *)"x";
	size_t len = 5;
	char *s = (char *)"x";
	struct bufr r;

	bufr_init(&r, huge, sizeof(huge));
	g_assert_cmpint(buf_get_string_direct(&r, &p, &len), ==, -EPROTO);
	g_assert_null(p);
	g_assert_cmpuint(len, ==, 0);
	bufr_init(&r, maxlen, sizeof(maxlen));
	g_assert_cmpint(buf_get_string_direct(&r, &p, &len), ==, -EPROTO);
	bufr_init(&r, nul, sizeof(nul));
	g_assert_cmpint(buf_get_cstring(&r, &s), ==, -EPROTO);
	g_assert_null(s);
}

static void test_attrs_truncated(void)
{
	struct buf b;
	struct bufr r;
	struct sftp_attrs a = { .flags = SFTP_ATTR_SIZE | SFTP_ATTR_ACMODTIME,
				.size = 5, .atime = 1, .mtime = 2 }, out;

	buf_init(&b, 0);
	buf_put_attrs(&b, &a);
	for (size_t cut = 0; cut < b.len; cut++) {
		bufr_init(&r, b.data, cut);
		g_assert_cmpint(buf_get_attrs(&r, &out), ==, -EPROTO);
		g_assert_cmpuint(out.flags, ==, 0);
	}
	buf_free(&b);
}

static void test_attrs_extended(void)
{
	struct buf b;
	struct bufr r;
	struct sftp_attrs out;

	buf_init(&b, 0);
	buf_put_u32(&b, SFTP_ATTR_EXTENDED);
	buf_put_u32(&b, 1);
	buf_put_cstring(&b, "name@x");
	buf_put_cstring(&b, "data");
	bufr_init(&r, b.data, b.len);
	g_assert_cmpint(buf_get_attrs(&r, &out), ==, 0);
	g_assert_cmpuint(r.left, ==, 0);
	/* an extended count with nothing behind it */
	b.len = 0;
	buf_put_u32(&b, SFTP_ATTR_EXTENDED);
	buf_put_u32(&b, 1000000);
	bufr_init(&r, b.data, b.len);
	g_assert_cmpint(buf_get_attrs(&r, &out), ==, -EPROTO);
	buf_free(&b);
}

/* Data-sized buffers reuse the pool's blocks; a buffer that grew to any
 * size by doubling never enters the pool (it would be handed out as a
 * whole block and overrun). */
/* Modes as the kernel takes them: a type it does not know, or none,
 * shows as a regular file; setuid, devices, fifos, sockets pass. */
static void test_attrs_mode_types(void)
{
	static const uint32_t in[] = { 0104755, 020644, 060600, 010644,
		0140755, 0120777, 040755, 0130644, 0644, 0170000, 0x80000000u | 0100644 };
	static const uint32_t out[] = { 0104755, 020644, 060600, 010644,
		0140755, 0120777, 040755, 0100644, 0100644, 0100000, 0100644 };

	for (size_t i = 0; i < G_N_ELEMENTS(in); i++) {
		struct sftp_attrs a = { .flags = SFTP_ATTR_PERMISSIONS,
					.perm = in[i] }, got;
		struct buf b;
		struct bufr r;

		buf_init(&b, 16);
		buf_put_attrs(&b, &a);
		bufr_init(&r, b.data, b.len);
		g_assert_cmpint(buf_get_attrs(&r, &got), ==, 0);
		g_assert_cmpuint(got.perm, ==, out[i]);
		buf_free(&b);
	}
}

static void test_pool(void)
{
	struct buf b;
	size_t out, idle, idle0;
	unsigned char *p, *q;
	char big[70000];

	memset(big, 'x', sizeof(big));
	bpool_counts(&out, &idle0);
	buf_init(&b, 40000);
	g_assert_cmpuint(b.cap, ==, BPOOL_BLOCK);
	p = b.data;
	buf_put_raw(&b, big, 1000);
	buf_free(&b);
	bpool_counts(&out, &idle);
	g_assert_cmpuint(out, ==, 0);
	g_assert_cmpuint(idle, ==, idle0 + 1);
	q = bpool_get(BPOOL_BLOCK);	/* the same block again */
	g_assert_true(q == p);
	memset(q, 0, BPOOL_BLOCK);
	bpool_put(q, BPOOL_BLOCK);

	buf_init(&b, 0);		/* grows past BPOOL_MIN by doubling */
	buf_put_raw(&b, big, sizeof(big));
	g_assert_cmpuint(b.cap, !=, BPOOL_BLOCK);
	buf_free(&b);
	bpool_counts(&out, &idle);
	g_assert_cmpuint(idle, ==, idle0 + 1);

	buf_init(&b, 40000);		/* a pool block that outgrows it */
	buf_put_raw(&b, big, sizeof(big));
	buf_put_raw(&b, big, sizeof(big));
	buf_put_raw(&b, big, sizeof(big));
	buf_put_raw(&b, big, sizeof(big));
	g_assert_cmpuint(b.len, ==, 4 * sizeof(big));
	g_assert_cmpint(memcmp(b.data + 3 * sizeof(big), big, sizeof(big)), ==, 0);
	bpool_counts(&out, &idle);
	g_assert_cmpuint(out, ==, 0);	/* given back when it grew */
	buf_free(&b);
	bpool_counts(&out, &idle);
	g_assert_cmpuint(idle, ==, idle0 + 1);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/buf/pool", test_pool);
	g_test_add_func("/buf/roundtrip", test_roundtrip);
	g_test_add_func("/buf/short_reads", test_short_reads);
	g_test_add_func("/buf/string_bounds", test_string_bounds);
	g_test_add_func("/buf/attrs_truncated", test_attrs_truncated);
	g_test_add_func("/buf/attrs_extended", test_attrs_extended);
	g_test_add_func("/buf/attrs_mode_types", test_attrs_mode_types);
	return g_test_run();
}
