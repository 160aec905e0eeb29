/* sftp_wire: decoding what an SFTP server sends, bounds-checked.
 *
 * Pure (no I/O, no connection state): the bytes of one reply packet in,
 * a struct sftp_reply out, or -EPROTO. sftp.c runs every packet through
 * here; the fuzz target test/fuzz/fuzz_sftp_wire.c runs anything.
 */
#ifndef RFS_SFTP_WIRE_H
#define RFS_SFTP_WIRE_H

#include <stdint.h>
#include <glib.h>

#include "rfs/sftp.h"

/* What a reply answers: the request's type, the reply type it wants
 * besides STATUS (0: STATUS only) and, for READ, the bytes asked for. */
struct sftp_wire_req {
	uint8_t type, want;
	uint32_t max_data;
};

/* Decode the body r (after type and id) of a reply of type `type` to q.
 * 0 or -EPROTO with *why. rep->names (NAME) must be freed with
 * sftp_wire_free_names, *msg (STATUS) with g_free, on failure too;
 * rep's other pointers point into r. */
int sftp_wire_decode(const struct sftp_wire_req *q, uint8_t type,
		     struct bufr *r, struct sftp_reply *rep, char **msg,
		     const char **why);
void sftp_wire_free_names(struct sftp_name *n, uint32_t count);

/* Map an SSH_FX_* status to -errno: the one table (STYLE.md, Errors). */
int sftp_status_errno(uint32_t status);

/* Decode a statvfs@openssh.com reply body. 0 or -EPROTO (st zeroed). */
int sftp_parse_statvfs(struct bufr *r, struct sftp_statvfs *st);

/* VERSION's body: 0, -EPROTONOSUPPORT (below 3) or -EPROTO; *version is
 * what the server said (0 if not even that came). Each
 * extension's name is appended to names (space-separated) and the known
 * ones or'ed into *exts (SFTP_EXT_*). */
int sftp_wire_version(struct bufr *r, uint32_t *version, uint32_t *exts,
		      GString *names);

#endif
