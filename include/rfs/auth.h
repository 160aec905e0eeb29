/* auth: who we are to the server (auth.c): public key (agent, key
 * files), password, keyboard-interactive, in PreferredAuthentications
 * order; and asking the user as ssh(1) does. xport.c calls it once a
 * hop's host key is checked. */
#ifndef RFS_AUTH_H
#define RFS_AUTH_H

#include <glib.h>
#include <libssh2.h>

#include "rfs/conf.h"
#include "rfs/xport.h"

/* Authenticate session as c->user in c->preferred_auth order.
 * AUTH_NO_PASSWORDS: the host key did not match and the connection goes
 * on anyway (StrictHostKeyChecking=no): nothing a man in the middle
 * could keep (password, keyboard-interactive answers) is sent. */
#define AUTH_NO_PASSWORDS 1
int auth_run(LIBSSH2_SESSION *s, const struct conf *c,
	     const struct xport_opts *o, int flags, GError **err);

/* Ask as ssh(1) does: on /dev/tty (echo off unless echo), or through
 * $SSH_ASKPASS as SSH_ASKPASS_REQUIRE and DISPLAY say, or (a secret, no
 * terminal, systemd running) systemd-ask-password. Returns the answer in
 * locked memory (free with auth_secret_free), or NULL: then *why is the
 * reason nobody was asked ("no terminal to ask for", to be followed by
 * what was wanted), or NULL when the user cancelled. Main thread. */
char *auth_prompt(const struct conf *c, const struct xport_opts *o,
		  const char *prompt, int echo, const char **why);
void auth_secret_free(char *s);

#endif
