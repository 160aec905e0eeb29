/* notify: systemd's readiness protocol (sd_notify(3)) without libsystemd.
 *
 * A service of Type=notify gets $NOTIFY_SOCKET: a unix datagram socket,
 * a path ("/run/...") or an abstract name ("@..."). Each message is one
 * datagram of newline-separated VAR=value lines: READY=1 once the
 * service works, STATUS=text for systemctl status, STOPPING=1 on the way
 * out.
 */
#ifndef RFS_NOTIFY_H
#define RFS_NOTIFY_H

/* Read and unset $NOTIFY_SOCKET (so that ProxyCommand children do not
 * see it). Returns 1 if there is a socket to notify, 0 if none, -1 (with
 * a warning logged) if the variable is unusable. Main thread, before any
 * other thread starts. */
int notify_init(void);

/* Send one datagram, e.g. "READY=1\nSTATUS=Mounted". 0, 1 if there is
 * no socket, or -errno. Any thread, after notify_init(). */
int notify_send(const char *msg);

#endif
