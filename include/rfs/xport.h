/* xport: TCP connect, SSH handshake, host key check, authentication.
 *
 * Runs at mount time on the main thread (blocking libssh2 calls with a
 * timeout), before daemonizing; the reconnect supervisor will run it
 * again. Errors are GErrors in RFS_ERROR whose code is the exit code.
 */
#ifndef RFS_XPORT_H
#define RFS_XPORT_H

#include <glib.h>
#include <libssh2.h>

#include "rfs/conf.h"

struct xport_opts {
	int password_stdin;	/* read the password from stdin (once) */
	int interactive;	/* prompts allowed (a terminal exists) */
};

struct xport {
	LIBSSH2_SESSION *session;	/* authenticated, blocking */
	int sock;
};

/* Connect to c->hostname:c->port as c->user. Returns 0 and fills *x, or -1
 * with *err. */
int xport_connect(const struct conf *c, const struct xport_opts *o,
		  struct xport *x, GError **err);
/* Disconnect and free; safe on a zeroed or closed xport. */
void xport_close(struct xport *x);

/* auth.c: authenticate session as c->user in c->preferred_auth order. */
int auth_run(LIBSSH2_SESSION *s, const struct conf *c,
	     const struct xport_opts *o, GError **err);

/* Prompt on /dev/tty (echo off unless echo). NULL when there is no
 * terminal. The answer is in locked memory: free with auth_secret_free. */
char *auth_prompt(const char *prompt, int echo);
void auth_secret_free(char *s);

#endif
