/* sftp_wire: decoding SFTP replies (see sftp_wire.h). */
#include <errno.h>
#include <string.h>
#include <glib.h>

#include "rfs/sftp_wire.h"

int sftp_status_errno(uint32_t status)
{
	switch (status) {
	case SSH_FX_OK: return 0;
	case SSH_FX_EOF: return -ENODATA;
	case SSH_FX_NO_SUCH_FILE: return -ENOENT;
	case SSH_FX_PERMISSION_DENIED: return -EACCES;
	case SSH_FX_FAILURE: return -EIO;
	case SSH_FX_BAD_MESSAGE: return -EBADMSG;
	case SSH_FX_NO_CONNECTION: return -ENOTCONN;
	case SSH_FX_CONNECTION_LOST: return -ECONNABORTED;
	case SSH_FX_OP_UNSUPPORTED: return -EOPNOTSUPP;
	default: return -EIO;
	}
}


int sftp_parse_statvfs(struct bufr *r, struct sftp_statvfs *st)
{
	if (buf_get_u64(r, &st->bsize) || buf_get_u64(r, &st->frsize) ||
	    buf_get_u64(r, &st->blocks) || buf_get_u64(r, &st->bfree) ||
	    buf_get_u64(r, &st->bavail) || buf_get_u64(r, &st->files) ||
	    buf_get_u64(r, &st->ffree) || buf_get_u64(r, &st->favail) ||
	    buf_get_u64(r, &st->fsid) || buf_get_u64(r, &st->flag) ||
	    buf_get_u64(r, &st->namemax)) {
		memset(st, 0, sizeof(*st));
		return -EPROTO;
	}
	return 0;
}

static void note_extension(uint32_t *exts, GString *names, const char *name)
{
	static const struct { const char *name; uint32_t bit; } known[] = {
		{ "posix-rename@openssh.com", SFTP_EXT_POSIX_RENAME },
		{ "statvfs@openssh.com", SFTP_EXT_STATVFS },
		{ "fsync@openssh.com", SFTP_EXT_FSYNC },
		{ "hardlink@openssh.com", SFTP_EXT_HARDLINK },
		{ "limits@openssh.com", SFTP_EXT_LIMITS },
		{ "lsetstat@openssh.com", SFTP_EXT_LSETSTAT },
		{ "copy-data", SFTP_EXT_COPY_DATA },
		{ "expand-path@openssh.com", SFTP_EXT_EXPAND_PATH },
	};

	g_string_append_printf(names, "%s%s", names->len ? " " : "", name);
	for (size_t i = 0; i < G_N_ELEMENTS(known); i++)
		if (!strcmp(name, known[i].name))
			*exts |= known[i].bit;
}

int sftp_wire_version(struct bufr *r, uint32_t *version, uint32_t *exts,
		      GString *names)
{
	uint32_t v;

	*version = 0;
	if (buf_get_u32(r, &v))
		return -EPROTO;
	*version = v;
	if (v < 3)
		return -EPROTONOSUPPORT;
	while (r->left) {
		char *name;
		const unsigned char *d;
		size_t dlen;

		if (buf_get_cstring(r, &name))
			return -EPROTO;
		if (buf_get_string_direct(r, &d, &dlen)) {
			g_free(name);	/* found by fuzz_sftp_wire */
			return -EPROTO;
		}
		note_extension(exts, names, name);
		g_free(name);
	}
	return 0;
}

void sftp_wire_free_names(struct sftp_name *n, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		g_free(n[i].name);
		g_free(n[i].longname);
	}
	g_free(n);
}

/* A name with a NUL inside cannot be a file name (nor be asked for
 * again): that entry is left out and the rest of the reply kept, so
 * one bad name does not fail a whole listing. rep->count counts what
 * was kept; a REALPATH or READLINK left with no name fails in the
 * caller's count check. */
static int parse_names(struct bufr *r, struct sftp_reply *rep)
{
	uint32_t count, kept = 0;

	if (buf_get_u32(r, &count))
		return -EPROTO;
	/* Each entry takes at least 12 bytes: bound before allocating. */
	if (count > r->left / 12)
		return -EPROTO;
	rep->names = g_new0(struct sftp_name, count ? count : 1);
	for (uint32_t i = 0; i < count; i++) {
		struct sftp_name *n = &rep->names[kept];
		const unsigned char *name, *lname;
		size_t name_len, lname_len;

		if (buf_get_string_direct(r, &name, &name_len) ||
		    buf_get_string_direct(r, &lname, &lname_len) ||
		    buf_get_attrs(r, &n->attrs)) {
			sftp_wire_free_names(rep->names, kept);
			rep->names = NULL;
			return -EPROTO;
		}
		if (memchr(name, '\0', name_len)) {
			rep->dropped++;
			continue;
		}
		n->name = g_strndup((const char *)name, name_len);
		n->longname = g_strndup((const char *)lname, lname_len);
		kept++;
	}
	rep->count = kept;
	return 0;
}

int sftp_wire_decode(const struct sftp_wire_req *q, uint8_t type,
		     struct bufr *r, struct sftp_reply *rep, char **msg,
		     const char **why)
{
	rep->type = type;
	*why = "malformed reply";
	if (type == SSH_FXP_STATUS) {
		if (buf_get_u32(r, &rep->status))
			return -EPROTO;
		/* Message and language tag are optional in practice. */
		if (r->left && buf_get_cstring(r, msg))
			*msg = NULL;
		rep->msg = *msg;
		rep->err = sftp_status_errno(rep->status);
		if (q->type == SSH_FXP_READ && rep->status == SSH_FX_EOF)
			rep->err = 0;	/* end of file: zero bytes */
		if (rep->status == SSH_FX_OK && q->want) {
			*why = "status OK where data was expected";
			return -EPROTO;
		}
		return 0;
	}
	if (type != q->want) {
		*why = "unexpected reply type";
		return -EPROTO;
	}
	switch (type) {
	case SSH_FXP_HANDLE:
		if (buf_get_string_direct(r, &rep->handle, &rep->handle_len) ||
		    rep->handle_len == 0 || rep->handle_len > SFTP_MAX_HANDLE)
			return -EPROTO;
		return 0;
	case SSH_FXP_DATA:
		if (buf_get_string_direct(r, &rep->data, &rep->data_len) ||
		    rep->data_len > q->max_data)
			return -EPROTO;
		return 0;
	case SSH_FXP_NAME:
		if (parse_names(r, rep))
			return -EPROTO;
		if (q->type != SSH_FXP_READDIR && rep->count != 1)
			return -EPROTO;
		/* Every path rfs sends is built on this one. */
		if (q->type == SSH_FXP_REALPATH && rep->names[0].name[0] != '/') {
			*why = "relative path from REALPATH";
			return -EPROTO;
		}
		return 0;
	case SSH_FXP_ATTRS:
		return buf_get_attrs(r, &rep->attrs);
	case SSH_FXP_EXTENDED_REPLY:
		rep->ext = *r;
		return 0;
	}
	return -EPROTO;
}

