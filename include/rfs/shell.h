/* shell: commands for the server's shell, built so that no name can
 * become a command, and the errors its tools print read back as errno
 * values. Pure (no I/O, no lock); any thread.
 *
 * The server runs a command with the login's shell (sh -c): words are
 * quoted for a POSIX shell, which bash, dash, ksh and zsh are; fish reads
 * them the same. A name with a newline cannot be given to csh or tcsh.
 */
#ifndef RFS_SHELL_H
#define RFS_SHELL_H

#include <sys/types.h>

/* s as one word of a POSIX shell command: single-quoted, with ' and \
 * outside the quotes, escaped (g_free). */
char *shell_quote(const char *s);

/* A socket's name, bound in its directory, must be shorter than this
 * (sizeof sun_path, with its NUL). */
#define SHELL_SOCK_NAME_MAX 108

/* The command that makes the fifo, socket, character or block device at
 * path (absolute) with exactly the permission bits of mode (07777) and,
 * for a device, the number rdev: a new string, or NULL when mode is not
 * of those types. Messages in the C locale (shell_errno reads them). */
char *shell_special_cmd(const char *path, mode_t mode, dev_t rdev);

/* The errno a tool's message names by its text in the C locale ("File
 * exists": EEXIST), read in its last line after the last ": " (a file
 * name in the message cannot decide it); 0 when none is known. A socket
 * path in use (EADDRINUSE) is EEXIST, as mknod(2) says for a name taken. */
int shell_errno(const char *text);

#endif
