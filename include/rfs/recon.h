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

/* conf, and what mount's strings point to, must outlive the recon; its
 * transport settings and -F are what a reconnect uses (never prompting;
 * passive's stream cannot be opened again). pins (taken) are what each
 * hop showed at mount time and the passwords that logged in there: a
 * reconnect to a hop showing another host key is refused, and a hop's
 * password answers only that hop. */
struct xport_pins;
struct xport_opts;
struct recon *recon_new(const struct conf *conf,
			const struct xport_opts *mount,
			struct xport_pins *pins);
/* Drop the passwords (the mount's extra connections are made). */
void recon_forget_password(struct recon *r);
void recon_free(struct recon *r);	/* recon_free(NULL) does nothing */

/* An sftp_connect_cb: data is a struct recon. */
struct xport;
int recon_connect(void *data, struct xport *x, char **why);

#endif
