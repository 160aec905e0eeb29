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

#include "rfs/chan.h"
#include "rfs/conf.h"

/* How the SFTP stream is reached (-o transport= and friends). */
enum {
	XPORT_T_LIBSSH2,	/* rfs's own SSH session (the default) */
	XPORT_T_SSH,		/* OpenSSH's ssh as a child (xport_cmd.c) */
	XPORT_T_DIRECT,		/* TCP to an sftp-server: directport= */
	XPORT_T_PASSIVE,	/* rfs's stdin and stdout: passive */
	XPORT_T_MUX,		/* only a ControlMaster's sessions: the
				 * reconnects of a mount that used one */
};

struct xport_opts {
	int transport;		/* XPORT_T_* */
	const char *ssh_command;	/* transport=ssh: instead of "ssh" */
	const char *sftp_server;	/* a command run instead of the sftp
					 * subsystem (exec), or NULL */
	int directport;		/* XPORT_T_DIRECT: the port */
	int passive_in, passive_out;	/* XPORT_T_PASSIVE: the fds (copies
					 * kept from before daemonizing) */
	char *const *ssh_opts;	/* transport=ssh: the mount's -o
				 * "Keyword=value"s, NULL-terminated */
	int password_stdin;	/* read the password from stdin (once) */
	int interactive;	/* prompts allowed: at mount time, not on a
				 * reconnect (BatchMode=yes forbids them
				 * too; auth_prompt() finds the terminal) */
	const char *config_file;	/* -F, for the jump hosts' configs */
	struct xport_pins *pins;	/* per hop: see below; or NULL */
	/* Set by xport_connect() for each hop from pins: */
	const char *password;	/* reconnect: answers password and
				 * keyboard-interactive prompts, once */
	char **used_password;	/* mount: receives the password that
				 * logged in (locked memory), if one did */
	GBytes *pin_key;	/* reconnect: the hop must offer exactly
				 * this host key */
};

/* What a mount learns of each hop of its chain (jump hosts first, the
 * destination last) and a reconnect holds it to: the host key each hop
 * showed, and the password that logged in there, if one did. A secret
 * goes only to the hop it came from (a jump host that asks first never
 * gets the destination's password); password_stdin's line only to the
 * destination. */
struct xport_pins {
	int use;		/* 0: being learnt (mount); 1: enforced */
	GPtrArray *keys;	/* GBytes * (NULL: none), by hop */
	GPtrArray *passwords;	/* char * in locked memory, or NULL */
};

struct xport_pins *xport_pins_new(void);
void xport_pins_free(struct xport_pins *p);	/* zeroes the passwords */
void xport_pins_forget_passwords(struct xport_pins *p);
int xport_pins_have_password(const struct xport_pins *p);

/* One jump host: its session and the direct-tcpip channel through which
 * the next hop's SSH session travels. */
struct xport_hop {
	LIBSSH2_SESSION *session;
	LIBSSH2_CHANNEL *channel;
	int wait_fd;		/* what the next session polls: an epoll set
				 * of the TCP socket and more (xport.c) */
	int more;		/* eventfd: tunnel data may be queued */
	char *name;		/* the hop as written, for messages */
};

struct xport {
	LIBSSH2_SESSION *session;	/* the destination's, authenticated */
	int sock;		/* the TCP socket (to the first hop, if any) */
	GPtrArray *hops;	/* struct xport_hop *, outermost first; NULL
				 * when connected directly */
	int proxy_pid;		/* ProxyCommand's process (or transport=ssh's
				 * ssh), 0 if none */
	struct chan pipe;	/* a transport of fds (no session): its SFTP
				 * stream, until sftp_open_lanes() takes it */
	char *sftp_server;	/* exec this instead of the sftp subsystem */
	const char *kind;	/* the transport, as rfs -d and the stats
				 * name it: "libssh2", "mux", "ssh",
				 * "directport", "passive" */
	char *mux_path;		/* "mux": the master's ControlPath */
	int mux_ctl[4];		/* its control connections, one a session
				 * (closing one ends its session) */
	int nmux;
	char **exec_argv;	/* "ssh" or "mux": ssh's words up to the host,
				 * to run a command beside SFTP (no session
				 * of ours to open a channel on), or NULL */
	int64_t *last_rx;	/* ms (monotonic) of the last bytes read from
				 * sock: any SSH traffic, keepalive replies
				 * included; read with xport_last_rx() */
};

/* Connect to c->hostname:c->port as c->user, through c->proxy_jump's
 * hosts if any (each checked and authenticated with its own config
 * block). Returns 0 and fills *x (blocking mode), or -1 with *err; errors
 * at a jump host name it. */
int xport_connect(const struct conf *c, const struct xport_opts *o,
		  struct xport *x, GError **err);
/* What rfs offers when the config gives no plain list: libssh2's default
 * ciphers, MACs and key exchanges, and rfs's host key order (the types
 * known_hosts has for the host go first when connecting). For `rfs -G`;
 * free the members with xport_default_algs_free(). */
void xport_default_algs(struct conf_algs *a);
void xport_default_algs_free(struct conf_algs *a);
/* libssh2's message for the last error on s, never NULL. */
const char *xport_error(LIBSSH2_SESSION *s);

/* When bytes last arrived on the socket (monotonic ms). */
int64_t xport_last_rx(const struct xport *x);
/* The socket gives up on unacknowledged data after ms (TCP_USER_TIMEOUT). */
void xport_set_user_timeout(struct xport *x, int ms);

/* Every session of the chain blocking (1) or not (0). */
void xport_set_blocking(struct xport *x, int blocking);
/* LIBSSH2_SESSION_BLOCK_* of the whole chain, for polling x->sock. */
int xport_block_directions(struct xport *x);
/* A ControlMaster session more for x (a "mux" transport): 0 with *fd
 * its SFTP stream (non-blocking); 1 when no master answers, -1 when one
 * answered and failed (mux_session()'s), with *err. */
int xport_mux_session(struct xport *x, int *fd, GError **err);
/* An empty xport of that kind (a static name), its liveness clock
 * started: the first step of every connect. */
void xport_start(struct xport *x, const char *kind);

/* xport_cmd.c: connect a transport of fds (o->transport is not
 * XPORT_T_LIBSSH2; xport_connect() calls it). 0 or -1 with *err. */
int xport_cmd_connect(const struct conf *c, const struct xport_opts *o,
		      struct xport *x, GError **err);
/* Run argv with a socketpair as its stdin and stdout (its stderr is
 * rfs's); x->proxy_pid is the child. Our end, or -1 with *err. */
int xport_spawn(char *const argv[], struct xport *x, GError **err);
/* x->exec_argv for c: ssh's words for a command (the master's at
 * x->mux_path, if any), or left NULL when the host cannot be passed. */
void xport_set_exec(struct xport *x, const struct conf *c,
		    const struct xport_opts *o);
/* Stop our child pid (what: for the log): SIGTERM, SIGKILL after a
 * second if it is still there; reaped. */
void xport_stop_child(pid_t pid, const char *what);
/* A transport's child (ssh) has exited: why, in buf; else NULL. */
const char *xport_child_gone(struct xport *x, char *buf, size_t len);
/* Resolve c->hostname and connect to port (c's AddressFamily,
 * BindAddress, ConnectTimeout). The socket (blocking), or -1 with *err. */
int xport_tcp_connect(const struct conf *c, int port, GError **err);

/* An empty xport (nothing open): what xport_close() leaves. */
void xport_init(struct xport *x);

/* Disconnect and free; safe on an xport_init()ed or closed one. After
 * shutdown(x->sock) it never waits on the network. */
void xport_close(struct xport *x);

#endif
