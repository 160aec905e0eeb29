/* khosts: OpenSSH known_hosts files, read line by line by us.
 *
 * libssh2's whole-file reader mangles @revoked/@cert-authority markers, so
 * we parse plain, hashed (|1|salt|hmac) and [host]:port entries ourselves.
 * Host names are given as the caller would type them; for a port other than
 * 22 the entry looked for is "[host]:port", as OpenSSH writes it.
 *
 * Keys are raw SSH public key blobs (string type, then type-specific data),
 * exactly what libssh2_session_hostkey() returns.
 *
 * Thread: any. No global state.
 */
#ifndef RFS_KHOSTS_H
#define RFS_KHOSTS_H

#include <glib.h>
#include <stddef.h>

enum khosts_result {
	KHOSTS_NOTFOUND = 0,	/* no entry of this key type for the host */
	KHOSTS_MATCH,		/* an entry with this very key */
	KHOSTS_MISMATCH,	/* entry of the same type, different key */
	KHOSTS_REVOKED,		/* key listed under @revoked */
};

struct khosts_check {
	enum khosts_result result;
	char *file;		/* entry that decided it (MATCH, MISMATCH,
				 * REVOKED), else NULL; g_free */
	unsigned line;		/* 1-based line in file */
	gboolean other_types;	/* NOTFOUND, but the host has keys of other
				 * types recorded */
	char *ca_file;		/* NOTFOUND, but a @cert-authority line is
				 * for this host (certificates, which rfs
				 * cannot check); g_free */
	unsigned ca_line;
};

/* Check key (blob of keylen bytes) for host:port against files (NULL-
 * terminated list; missing files are skipped). Returns 0 and fills *out;
 * -1 only when a file exists but cannot be read (*err says which).
 * Call khosts_check_clear(out) afterwards. */
int khosts_check(const char *const *files, const char *host, int port,
		 const unsigned char *key, size_t keylen,
		 struct khosts_check *out, GError **err);
void khosts_check_clear(struct khosts_check *out);

/* The key types ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", ...)
 * recorded for host:port in files, first seen first, no duplicates,
 * @revoked entries excluded. NULL-terminated; g_strfreev. */
char **khosts_known_types(const char *const *files, const char *host,
			  int port);

/* Append an entry for host:port and key to file, as OpenSSH writes it
 * ("host keytype base64" or "|1|salt|hash keytype base64" when hash),
 * creating the file (0600) and its directory (0700) if needed.
 * Returns 0 or -1 with *err. */
int khosts_add(const char *file, const char *host, int port,
	       const unsigned char *key, size_t keylen, gboolean hash,
	       GError **err);

/* Is key listed in file, a list of public keys ("type base64 [comment]"
 * a line, as RevokedHostKeys names)? 1 with *line (1-based), 0, or -1
 * with *err: the file cannot be read, or is a key revocation list
 * (OpenSSH's binary KRL), which we do not read. */
int khosts_key_listed(const char *file, const unsigned char *key,
		      size_t keylen, unsigned *line, GError **err);

/* "SHA256:" + unpadded base64 of SHA-256(key), as ssh-keygen -l prints.
 * g_free. */
char *khosts_fingerprint(const unsigned char *key, size_t keylen);

/* Key type name from a blob ("ssh-ed25519"...), or NULL if malformed.
 * g_free. */
char *khosts_key_type(const unsigned char *key, size_t keylen);

/* Does one known_hosts host-pattern field (comma-separated patterns with *
 * and ?, !negation, or a |1| hash) match name ("host" or "[host]:port")?
 * Exposed for tests and the fuzzer. */
gboolean khosts_match_field(const char *field, const char *name);

#endif
