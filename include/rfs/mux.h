/* mux: sessions of an OpenSSH ControlMaster (PROTOCOL.mux), so that rfs
 * rides on a connection ssh already authenticated (an OTP typed once, a
 * Kerberos ticket...). Blocking, bounded by timeout_ms; any thread.
 */
#ifndef RFS_MUX_H
#define RFS_MUX_H

#include <glib.h>

/* Ask the master listening at path for a session running command (the
 * subsystem of that name if subsystem). 0: *stream is our end of the
 * session's stdin/stdout and *ctl the control connection, to keep open
 * as long as the session is used (closing it ends the session). 1: no
 * master answers there (*err says so); -1: a master answered but
 * refused or failed (*err). */
int mux_session(const char *path, const char *command, int subsystem,
		int timeout_ms, int *stream, int *ctl, GError **err);

#endif
