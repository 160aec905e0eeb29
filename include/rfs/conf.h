/* conf: ssh_config(5) semantics, pure (reads files, runs Match exec only).
 *
 * Model: OpenSSH readconf.c. Every field starts unset; the first value
 * obtained wins (command-line -o options are applied first, then the user
 * file, then the system file). IdentityFile accumulates over lines;
 * UserKnownHostsFile and GlobalKnownHostsFile take several files on one
 * line, and the first line that applies sets the whole list; IgnoreUnknown
 * is one pattern list, first wins. conf_finish() fills in defaults and
 * expands tokens and "~". "~" is always conf_home(), never $HOME.
 *
 * Thread: any, but one struct conf is used by one thread at a time;
 * conf_read_files() may fork /bin/sh for Match exec.
 */
#ifndef RFS_CONF_H
#define RFS_CONF_H

#include <glib.h>

#define CONF_UNSET (-1)

/* Seconds rfs allows to connect (TCP and SSH handshake) when
 * ConnectTimeout is unset, none or 0; ssh has no limit of its own. */
#define CONF_CONNECT_TIMEOUT 30

enum conf_shkc {		/* StrictHostKeyChecking */
	CONF_SHKC_ASK = 0,
	CONF_SHKC_YES,
	CONF_SHKC_ACCEPT_NEW,
	CONF_SHKC_NO,		/* "no" and "off" */
};

enum conf_af { CONF_AF_ANY = 0, CONF_AF_INET, CONF_AF_INET6 };

struct conf {
	/* As typed on the command line (the "original host"). */
	char *host_arg;

	/* Scalars: NULL or CONF_UNSET until set; conf_finish() gives defaults. */
	char *hostname;		/* HostName, %h expanded, lowercased */
	char *user;		/* User; default: local user name */
	int port;		/* Port; default 22 */
	int identities_only;	/* IdentitiesOnly yes/no -> 1/0 */
	char *identity_agent;	/* IdentityAgent; "none" disables; default
				 * NULL = $SSH_AUTH_SOCK; "SSH_AUTH_SOCK"
				 * and "$NAME" kept as written, else
				 * expanded; see conf_agent_socket() */
	char *preferred_auth;	/* PreferredAuthentications, normalised list
				 * "publickey,keyboard-interactive,password" */
	gboolean preferred_auth_given;	/* set by the config, not the
					 * default (conf_finish()) */
	int pubkey_auth;	/* PubkeyAuthentication: 0 no, 1 yes, 2
				 * unbound, 3 host-bound (all but 0: yes) */
	int password_auth;	/* PasswordAuthentication */
	int kbdint_auth;	/* KbdInteractiveAuthentication */
	char *proxy_jump;	/* ProxyJump as written ("[user@]host[:port]"
				 * or "ssh://..." hops, comma-separated;
				 * syntax checked); "none" -> NULL after
				 * finish */
	char *proxy_command;	/* ProxyCommand (accepted), raw; "none" ->
				 * NULL. ProxyJump and ProxyCommand exclude
				 * each other: the first one given wins. */
	int server_alive_interval;	/* seconds; default 0 (OpenSSH time
					 * format: "90", "1m30s") */
	int server_alive_count_max;	/* default 3 */
	int connect_timeout;	/* seconds; CONF_UNSET = none: rfs then
				 * uses CONF_CONNECT_TIMEOUT */
	int compression;	/* default 0 */
	int strict_host_key_checking;	/* enum conf_shkc; default ASK */
	int hash_known_hosts;	/* HashKnownHosts; default 0 */
	char *host_key_alias;	/* HostKeyAlias, lowercased */
	int address_family;	/* enum conf_af; default ANY */
	char *bind_address;	/* BindAddress */
	char *ciphers;		/* Ciphers, MACs, KexAlgorithms,
				 * HostKeyAlgorithms: raw value, as given */
	char *macs;
	char *kex_algorithms;
	char *host_key_algorithms;
	int batch_mode;		/* BatchMode: never prompt; default 0 */
	int number_of_password_prompts;	/* tries per passphrase, password
					 * and keyboard-interactive; default 3 */

	/* Lists, in the order obtained; GPtrArray of char *, NULL-free. */
	GPtrArray *identity_files;	/* default (if empty and nothing set):
					 * ~/.ssh/id_rsa, id_ecdsa, id_ecdsa_sk,
					 * id_ed25519, id_ed25519_sk, id_xmss,
					 * id_dsa (OpenSSH's order); duplicates
					 * dropped; after finish: ~, ${VAR} and
					 * %C %d %h %i %k %L %l %n %p %r %u %%
					 * expanded */
	GPtrArray *user_known_hosts;	/* default ~/.ssh/known_hosts,
					 * ~/.ssh/known_hosts2; expanded like
					 * identity_files; a lone "none" means
					 * no file */
	GPtrArray *global_known_hosts;	/* default /etc/ssh/ssh_known_hosts,
					 * /etc/ssh/ssh_known_hosts2; used as
					 * written (ssh does not expand them) */
	GPtrArray *ignore_unknown;	/* IgnoreUnknown patterns (the
					 * comma-separated list, split) */

	/* Keywords seen but not implemented (lowercase), for the debug log. */
	GPtrArray *ignored;

	/* Their values, as ssh keeps them, for conf_dump(): keyword
	 * (lowercase, an alias under its main name) -> GPtrArray of char *.
	 * The first line that applies wins and gives its words (SetEnv
	 * "A=1" "B=2": two values); CertificateFile, LocalForward,
	 * RemoteForward and DynamicForward (under "localforward", one word
	 * where LocalForward has two) add one value a line, its words joined
	 * by a space, never twice the same; SendEnv adds each word and
	 * "-pattern" drops the names it matches; KnownHostsCommand,
	 * LocalCommand and RemoteCommand keep the rest of the line. After
	 * conf_finish(), ControlPath and a ForwardAgent path are expanded
	 * like IdentityAgent, RemoteCommand's %-tokens and RevokedHostKeys's
	 * ~ too (left as written if they do not expand). See conf_raw(). */
	GHashTable *raw;

	/* Non-fatal problems, "FILE:LINE: message", for the log: Match
	 * criteria rfs does not know (the block is skipped), Match exec
	 * refused because of an unsafe host or user name. */
	GPtrArray *warnings;

	/* IdentityFile values as written, before "~", ${VAR} and %-token
	 * expansion; filled by conf_finish(), printed by conf_dump() the
	 * way `ssh -G` prints them. */
	GPtrArray *identity_files_raw;

	gboolean finished;	/* conf_finish() has run */
};

/* GError domain "rfs-conf"; every error has code CONF_ERROR_FAILED. */
#define CONF_ERROR (conf_error_quark())
enum { CONF_ERROR_FAILED = 1 };
GQuark conf_error_quark(void);

struct conf *conf_new(const char *host_arg);
void conf_free(struct conf *c);	/* conf_free(NULL) does nothing */

/* Apply one "Keyword=value" or "Keyword value" as if from -o.
 * Returns 0, or -1 with *err set ("unknown option 'foo'", "bad Port 'x'").
 * Keywords are case-insensitive. */
int conf_set_option(struct conf *c, const char *kw_and_value, GError **err);

/* Is this word (case-insensitive) an ssh_config keyword rfs knows? */
gboolean conf_is_keyword(const char *kw);

/* Read ssh_config files for c->host_arg: user_file (NULL = ~/.ssh/config,
 * missing is fine, refused if others may write it; "none" = none; a named
 * file must exist) then /etc/ssh/ssh_config (system_file argument, NULL =
 * that default, "none" = none). If a "Match final" was seen, both are read
 * a second time, as ssh does, with HostName final. Returns 0, or -1 with
 * *err, "FILE:LINE: message". Warnings go to c->warnings. */
int conf_read_files(struct conf *c, const char *user_file,
		    const char *system_file, GError **err);

/* Fill in defaults, expand ~, ${VAR} and %-tokens. Returns 0 or -1 with
 * *err (an unknown %-token, an unset ${VAR}). A second call does nothing. */
int conf_finish(struct conf *c, GError **err);

/* The values kept for an ignored keyword (see c->raw), or NULL if no line
 * that applies gave it. Owned by c. */
const GPtrArray *conf_raw(const struct conf *c, const char *name);

/* What rfs offers when the config gives no list, or a relative one ("+x",
 * "-x", "^x", which rfs does not support): libssh2's defaults, which only
 * the transport knows (xport_default_algs()). */
struct conf_algs {
	char *ciphers, *macs, *kex, *hostkey;
};

/* Print the resolved configuration as OpenSSH 9.2's `ssh -G` does: the
 * same keys in the same order and format, after conf_finish(). Keys rfs
 * acts on show what rfs uses: ConnectTimeout 30 when unset, none or 0;
 * PreferredAuthentications normalised; Ciphers, MACs, KexAlgorithms and
 * HostKeyAlgorithms from dflt when the config gives no plain list (dflt
 * NULL or a NULL member: printed as given, or not at all). The others
 * show what ssh would: the value from c->raw, else ssh's default. In
 * conf_print.c. Returns a string to g_free(). */
char *conf_dump(const struct conf *c, const struct conf_algs *dflt);

/* Home directory of the current user from the password database
 * (getpwuid(getuid())->pw_dir, not $HOME, as OpenSSH does), or the
 * directory given to conf_set_home_for_tests(). Never NULL. */
const char *conf_home(void);

/* Tests only: make conf_home() return home (copied); NULL restores the
 * password database. Not thread-safe. */
void conf_set_home_for_tests(const char *home);

/* The agent socket to use after conf_finish(): NULL when IdentityAgent is
 * "none" (or unset and $SSH_AUTH_SOCK is unset); the value of
 * $SSH_AUTH_SOCK for unset or "SSH_AUTH_SOCK"; the named variable's value
 * for "$NAME"; else the expanded path. Points into the environment or c. */
const char *conf_agent_socket(const struct conf *c);

/* %-tokens, as ssh_config(5) TOKENS: a letter each, and its value. One
 * expander for every keyword that takes them, conf's and the transport's
 * (ProxyCommand). Fill with conf_tokens_add(), then conf_tokens_clear(). */
#define CONF_MAX_TOKENS 12

struct conf_tokens {
	int n;
	char key[CONF_MAX_TOKENS];
	char *val[CONF_MAX_TOKENS];
};

/* Add %key -> val (copied; NULL is ""). At most CONF_MAX_TOKENS. */
void conf_tokens_add(struct conf_tokens *t, char key, const char *val);
/* Free the values; t is empty again. */
void conf_tokens_clear(struct conf_tokens *t);

/* s with each %x replaced by t's value for x and %% by %. Returns a string
 * to g_free(), or NULL with *err (CONF_ERROR) for a key t lacks ("WHAT:
 * unknown token '%z' in 'S'") or a lone % at the end ("WHAT: '%' at the
 * end of 'S'"); what names the keyword. Pure; any thread. */
char *conf_expand_tokens(const char *s, const struct conf_tokens *t,
			 const char *what, GError **err);

#endif
