/* sftp_attrs: the SFTP v3 ATTRS of a file, as the wire carries them
 * (draft-ietf-secsh-filexfer-02, 5). Encoded and decoded by buf.c's
 * buf_put_attrs/buf_get_attrs; a plain type, no functions.
 */
#ifndef RFS_SFTP_ATTRS_H
#define RFS_SFTP_ATTRS_H

#include <stdint.h>

/* SFTP v3 ATTRS flags. */
#define SFTP_ATTR_SIZE		0x00000001u
#define SFTP_ATTR_UIDGID	0x00000002u
#define SFTP_ATTR_PERMISSIONS	0x00000004u
#define SFTP_ATTR_ACMODTIME	0x00000008u
#define SFTP_ATTR_EXTENDED	0x80000000u

struct sftp_attrs {
	uint32_t flags;		/* SFTP_ATTR_* present */
	uint64_t size;
	uint32_t uid, gid;
	uint32_t perm;		/* st_mode bits, type included */
	uint32_t atime, mtime;	/* seconds */
};

#endif
