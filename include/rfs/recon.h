/* recon: how a lost connection is rebuilt.
 *
 * The SFTP layer notices the loss, keeps new requests waiting up to
 * reconnect_timeout and calls recon_connect() with backoff on the I/O
 * thread. recon_connect re-runs the whole transport: TCP, host key check
 * (a changed key is refused, as at mount time) and authentication, without
 * prompting: agent and key files only.
 */
#ifndef RFS_RECON_H
#define RFS_RECON_H

#include <glib.h>
#include <libssh2.h>

#include "rfs/conf.h"

struct recon;

/* conf and config_file (-F, or NULL) must outlive the recon; host_key
 * (taken) is the key the destination showed at mount time: a reconnect
 * to a server showing another one is refused. password (taken, locked
 * memory, or NULL): -o reconnect_password, the password that logged in. */
struct recon *recon_new(const struct conf *conf, const char *config_file,
			GBytes *host_key, char *password);
/* Drop the password (the mount's extra connections are made). */
void recon_forget_password(struct recon *r);
void recon_free(struct recon *r);	/* recon_free(NULL) does nothing */

/* An sftp_connect_cb: data is a struct recon. */
struct xport;
int recon_connect(void *data, struct xport *x, char **why);

#endif
