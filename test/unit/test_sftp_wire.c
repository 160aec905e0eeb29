/* Unit tests for sftp_wire: what a hostile server's replies decode to. */
#include <errno.h>
#include <string.h>
#include <glib.h>

#include "rfs/buf.h"
#include "rfs/sftp.h"
#include "rfs/sftp_wire.h"

static void put_entry(struct buf *b, const void *name, size_t len)
{
	struct sftp_attrs a = { .flags = SFTP_ATTR_PERMISSIONS,
				.perm = 0100644 };

	buf_put_string(b, name, len);
	buf_put_cstring(b, "-rw-r--r-- 1 u g 0 Jan 1 2020 x");
	buf_put_attrs(b, &a);
}

/* Decode b as a NAME reply to a request of type req. */
static int decode_names(struct buf *b, uint8_t req, struct sftp_reply *rep,
			const char **why)
{
	struct sftp_wire_req q = { req, SSH_FXP_NAME, 0 };
	struct bufr r;
	char *msg = NULL;
	int rc;

	memset(rep, 0, sizeof(*rep));
	bufr_init(&r, b->data, b->len);
	rc = sftp_wire_decode(&q, SSH_FXP_NAME, &r, rep, &msg, why);
	g_assert_null(msg);
	return rc;
}

static void test_nul_in_a_name(void)
{
	struct buf b;
	struct sftp_reply rep;
	const char *why;

	buf_init(&b, 64);
	buf_put_u32(&b, 3);
	put_entry(&b, "ok1", 3);
	put_entry(&b, "bad\0name", 8);
	put_entry(&b, "ok2", 3);
	g_assert_cmpint(decode_names(&b, SSH_FXP_READDIR, &rep, &why), ==, 0);
	g_assert_cmpuint(rep.count, ==, 2);
	g_assert_cmpuint(rep.dropped, ==, 1);
	g_assert_cmpstr(rep.names[0].name, ==, "ok1");
	g_assert_cmpstr(rep.names[1].name, ==, "ok2");
	g_assert_cmpuint(rep.names[1].attrs.perm, ==, 0100644);
	sftp_wire_free_names(rep.names, rep.count);
	buf_free(&b);

	/* The only name of a READLINK: nothing is left, a protocol error. */
	buf_init(&b, 64);
	buf_put_u32(&b, 1);
	put_entry(&b, "/etc\0/x", 7);
	g_assert_cmpint(decode_names(&b, SSH_FXP_READLINK, &rep, &why), ==,
			-EPROTO);
	sftp_wire_free_names(rep.names, rep.count);
	buf_free(&b);
}

static void test_count_larger_than_body(void)
{
	struct buf b;
	struct sftp_reply rep;
	const char *why;

	buf_init(&b, 64);
	buf_put_u32(&b, 3);
	put_entry(&b, "ok1", 3);
	put_entry(&b, "ok2", 3);
	g_assert_cmpint(decode_names(&b, SSH_FXP_READDIR, &rep, &why), ==,
			-EPROTO);
	g_assert_null(rep.names);
	buf_free(&b);
}

static void test_realpath_answers(void)
{
	static const char *const names[][2] = {
		{ "/home/u", NULL }, { "home/u", NULL }, { "", NULL },
		{ "/a", "/b" },
	};
	static const int want[] = { 0, -EPROTO, -EPROTO, -EPROTO };

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		struct buf b;
		struct sftp_reply rep;
		const char *why;
		uint32_t n = names[i][1] ? 2 : 1;

		buf_init(&b, 64);
		buf_put_u32(&b, n);
		for (uint32_t k = 0; k < n; k++)
			put_entry(&b, names[i][k], strlen(names[i][k]));
		g_assert_cmpint(decode_names(&b, SSH_FXP_REALPATH, &rep, &why),
				==, want[i]);
		if (!want[i])
			g_assert_cmpstr(rep.names[0].name, ==, names[i][0]);
		if (rep.names)
			sftp_wire_free_names(rep.names, rep.count);
		buf_free(&b);
	}
	/* Zero names. */
	{
		struct buf b;
		struct sftp_reply rep;
		const char *why;

		buf_init(&b, 8);
		buf_put_u32(&b, 0);
		g_assert_cmpint(decode_names(&b, SSH_FXP_REALPATH, &rep, &why),
				==, -EPROTO);
		if (rep.names)
			sftp_wire_free_names(rep.names, rep.count);
		buf_free(&b);
	}
}

static void test_version(void)
{
	struct buf b;
	struct bufr r;
	uint32_t v, exts;
	GString *names = g_string_new(NULL);

	buf_init(&b, 64);
	buf_put_u32(&b, 2);
	bufr_init(&r, b.data, b.len);
	g_assert_cmpint(sftp_wire_version(&r, &v, &exts, names), ==,
			-EPROTONOSUPPORT);
	g_assert_cmpuint(v, ==, 2);
	buf_free(&b);

	/* An extension whose value is cut short. */
	buf_init(&b, 64);
	buf_put_u32(&b, 3);
	buf_put_cstring(&b, "posix-rename@openssh.com");
	buf_put_cstring(&b, "1");
	buf_put_cstring(&b, "cut@example.com");
	buf_put_u32(&b, 100);
	bufr_init(&r, b.data, b.len);
	exts = 0;
	g_assert_cmpint(sftp_wire_version(&r, &v, &exts, names), ==, -EPROTO);
	g_assert_cmpuint(v, ==, 3);
	buf_free(&b);
	g_string_free(names, TRUE);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sftp_wire/nul_in_a_name", test_nul_in_a_name);
	g_test_add_func("/sftp_wire/count_larger_than_body",
			test_count_larger_than_body);
	g_test_add_func("/sftp_wire/realpath_answers", test_realpath_answers);
	g_test_add_func("/sftp_wire/version", test_version);
	return g_test_run();
}
