/* fuzz_sftp_wire: libFuzzer target for reply decoding (src/sftp_wire.c),
 * what a hostile server controls most directly.
 *
 * Input: byte 0 picks the request the reply answers (its type, the reply
 * type it wants and, for READ, how many bytes it asked for), byte 1 is
 * the reply's type, the rest its body (after type and id). The body is
 * also read as a VERSION and as a statvfs@openssh.com reply. Checked:
 * whatever decodes points inside the body, a handle is 1..256 bytes, DATA
 * is no longer than asked, a NAME for anything but READDIR has one entry,
 * strings are terminated, and nothing leaks (ASan) on success or failure.
 * corpus/fuzz_sftp_wire/ holds well-formed replies of every kind.
 */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "rfs/sftp_wire.h"
#include "fuzz_common.h"

static const struct sftp_wire_req reqs[] = {
	{ SSH_FXP_OPEN, SSH_FXP_HANDLE, 0 },
	{ SSH_FXP_READ, SSH_FXP_DATA, 32768 },
	{ SSH_FXP_READ, SSH_FXP_DATA, 0 },
	{ SSH_FXP_READDIR, SSH_FXP_NAME, 0 },
	{ SSH_FXP_REALPATH, SSH_FXP_NAME, 0 },
	{ SSH_FXP_LSTAT, SSH_FXP_ATTRS, 0 },
	{ SSH_FXP_WRITE, 0, 0 },
	{ SSH_FXP_EXTENDED, SSH_FXP_EXTENDED_REPLY, 0 },
};

static int inside(const unsigned char *p, size_t n, const unsigned char *lo,
		  size_t len)
{
	return p >= lo && p + n <= lo + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sftp_wire_req *q;
	struct sftp_reply rep = { 0 };
	struct sftp_statvfs st;
	struct bufr r;
	char *msg = NULL;
	const char *why = NULL;
	GString *names;
	uint32_t exts = 0, version;
	int rc;

	if (size < 2)
		return 0;
	q = &reqs[data[0] % G_N_ELEMENTS(reqs)];
	bufr_init(&r, data + 2, size - 2);
	rc = sftp_wire_decode(q, data[1], &r, &rep, &msg, &why);
	if (rc == 0) {
		FUZZ_ASSERT(rep.type == data[1]);
		if (rep.handle) {
			FUZZ_ASSERT(rep.handle_len >= 1 &&
				    rep.handle_len <= SFTP_MAX_HANDLE);
			FUZZ_ASSERT(inside(rep.handle, rep.handle_len,
					   data + 2, size - 2));
		}
		if (rep.data) {
			FUZZ_ASSERT(rep.data_len <= q->max_data);
			FUZZ_ASSERT(inside(rep.data, rep.data_len, data + 2,
					   size - 2));
		}
		if (rep.type == SSH_FXP_NAME) {
			FUZZ_ASSERT(rep.names);
			FUZZ_ASSERT(q->type == SSH_FXP_READDIR ||
				    rep.count == 1);
			FUZZ_ASSERT(rep.count <= size / 12);
			FUZZ_ASSERT(q->type != SSH_FXP_REALPATH ||
				    rep.names[0].name[0] == '/');
			for (uint32_t i = 0; i < rep.count; i++)
				FUZZ_ASSERT(strlen(rep.names[i].name) <= size &&
					    strlen(rep.names[i].longname) <=
					    size);
		}
		if (msg)
			FUZZ_ASSERT(strlen(msg) <= size && rep.msg == msg);
	} else {
		FUZZ_ASSERT(rc == -EPROTO && why);	/* names: freed below */
	}
	if (rep.names)
		sftp_wire_free_names(rep.names, rep.count);
	g_free(msg);

	names = g_string_new(NULL);
	bufr_init(&r, data + 2, size - 2);
	rc = sftp_wire_version(&r, &version, &exts, names);
	FUZZ_ASSERT(rc == 0 || rc == -EPROTO || rc == -EPROTONOSUPPORT);
	FUZZ_ASSERT(rc != -EPROTONOSUPPORT || version < 3);
	FUZZ_ASSERT(names->len <= size * 2);
	g_string_free(names, TRUE);

	bufr_init(&r, data + 2, size - 2);
	if (sftp_parse_statvfs(&r, &st))
		FUZZ_ASSERT(st.bsize == 0 && st.namemax == 0);
	return 0;
}
