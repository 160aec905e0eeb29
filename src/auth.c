/* auth: publickey (agent, key files), keyboard-interactive, password. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "rfs/xport.h"
#include "rfs/auth.h"
#include "rfs/log.h"
#include "rfs/util.h"

#define SECRET_MAX 1024

/* ---- secrets and prompts ---- */

/* Once the process holds a secret (a password kept for reconnecting, a
 * passphrase), no core dump of it and no ptrace by other processes of
 * the user: RLIMIT_CORE 0 and not dumpable, as ssh-agent does. */
static void no_dumps(void)
{
	static gsize done;

	if (g_once_init_enter(&done)) {
		struct rlimit zero = { 0, 0 };

		if (setrlimit(RLIMIT_CORE, &zero) < 0 ||
		    prctl(PR_SET_DUMPABLE, 0) < 0)
			log_debug("cannot disable core dumps: %s",
				  g_strerror(errno));
		g_once_init_leave(&done, 1);
	}
}

static char *secret_new(void)
{
	char *s = g_malloc0(SECRET_MAX);

	no_dumps();
	/* Keep it out of swap and core dumps; best effort. */
	mlock(s, SECRET_MAX);
	madvise(s, SECRET_MAX, MADV_DONTDUMP);
	return s;
}

void auth_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, SECRET_MAX);
	munlock(s, SECRET_MAX);
	g_free(s);
}

static void chomp(char *s)
{
	s[strcspn(s, "\r\n")] = '\0';
}

/* One line from fd into locked memory, byte by byte so that no stdio
 * buffer keeps a copy. NULL on EOF before any byte. */
static char *read_line(int fd)
{
	char *s = secret_new();
	size_t len = 0;
	ssize_t n = 0;
	char ch;

	while (len < SECRET_MAX - 1) {
		n = read(fd, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || ch == '\n' || ch == '\r')
			break;
		s[len++] = ch;
	}
	explicit_bzero(&ch, 1);
	if (n <= 0 && len == 0) {
		auth_secret_free(s);
		return NULL;
	}
	return s;
}

static char *tty_ask(int fd, const char *prompt, int echo)
{
	struct termios old, raw;
	int restore = 0;
	char *s;

	if (!echo && tcgetattr(fd, &old) == 0) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		restore = tcsetattr(fd, TCSAFLUSH, &raw) == 0;
	}
	/* "\r" first, as ssh: the prompt starts its line. */
	if (write(fd, "\r", 1) < 0 || write(fd, prompt, strlen(prompt)) < 0)
		(void)0;
	s = read_line(fd);
	if (restore) {
		tcsetattr(fd, TCSAFLUSH, &old);
		if (write(fd, "\n", 1) < 0)
			(void)0;
	}
	return s;
}

/* Run argv (searched in PATH) with stdout on a pipe: the answer is its
 * output up to the first newline, a non-zero exit is a cancel (ssh's
 * ssh_askpass()). */
static char *run_asker(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	char *s, junk[256];
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st = 0, rc;

	if (pipe2(p, O_CLOEXEC) < 0)
		return NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc) {
		log_err("cannot run %s: %s", argv[0], g_strerror(rc));
		close(p[0]);
		return NULL;
	}
	s = secret_new();
	for (;;) {	/* read to EOF so that the child never blocks */
		int full = len >= SECRET_MAX - 1;

		n = full ? read(p[0], junk, sizeof(junk)) :
			   read(p[0], s + len, SECRET_MAX - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (!full)
			len += (size_t)n;
	}
	explicit_bzero(junk, sizeof(junk));
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		log_debug("%s: cancelled (status %d)", argv[0], st);
		auth_secret_free(s);
		return NULL;
	}
	chomp(s);
	return s;
}

static int env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

/* systemd's password agents (the boot console, plymouth) answer
 * through /run/systemd/ask-password while systemd runs (sd_booted()).
 * Returns the program's path (g_free) or NULL. */
static char *systemd_asker(void)
{
	if (access("/run/systemd/system", F_OK) < 0 ||
	    access("/run/systemd/ask-password", W_OK) < 0)
		return NULL;
	return g_find_program_in_path("systemd-ask-password");
}

static char *systemd_ask(const struct conf *c, char *prog,
			 const char *prompt)
{
	char *id = g_strdup_printf("--id=rfs:%s", c->hostname);
	char *s = run_asker((char *[]){ prog, id, (char *)prompt, NULL });

	g_free(id);
	return s;
}

static char *prompt_user(const struct conf *c, const struct xport_opts *o,
			 const char *prompt, int echo, const char **why);

/* A keyboard-interactive prompt is the server's text: shown made safe
 * (util_safe_text), on the terminal or to an askpass program alike. */
char *auth_prompt(const struct conf *c, const struct xport_opts *o,
		  const char *prompt, int echo, const char **why)
{
	char *safe = util_safe_text(prompt, TRUE);
	char *s = prompt_user(c, o, safe, echo, why);

	g_free(safe);
	return s;
}

static char *prompt_user(const struct conf *c, const struct xport_opts *o,
			 const char *prompt, int echo, const char **why)
{
	const char *req = getenv("SSH_ASKPASS_REQUIRE");
	const char *prog = getenv("SSH_ASKPASS");
	int display = env_set("DISPLAY") || env_set("WAYLAND_DISPLAY");
	int allow = display, use = 0, fd = -1;
	char *s, *sys;

	*why = NULL;
	if (c->batch_mode > 0) {
		*why = "BatchMode forbids asking for";
		return NULL;
	}
	if (!o->interactive) {
		*why = "no prompt on a reconnect for";
		return NULL;
	}
	/* ssh(1)'s rules (readpass.c): force always runs the askpass
	 * program, prefer when there is a display, never never; otherwise
	 * it runs without a terminal and with a display only. */
	if (req && !g_ascii_strcasecmp(req, "force"))
		use = allow = 1;
	else if (req && !g_ascii_strcasecmp(req, "prefer"))
		use = allow;
	else if (req && !g_ascii_strcasecmp(req, "never"))
		allow = 0;
	if (!use) {
		fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
		use = fd < 0;
	}
	if (use && allow) {
		if (fd >= 0)
			close(fd);
		if (!prog || !*prog)
			prog = "/usr/bin/ssh-askpass";
		return run_asker((char *[]){ (char *)prog, (char *)prompt,
					     NULL });
	}
	if (fd >= 0) {
		s = tty_ask(fd, prompt, echo);
		close(fd);
		return s;
	}
	if (!echo && (sys = systemd_asker())) {
		s = systemd_ask(c, sys, prompt);
		g_free(sys);
		return s;
	}
	*why = "no terminal to ask for";
	return NULL;
}

/* ---- state shared by the methods ---- */

struct auth {
	LIBSSH2_SESSION *s;
	const struct conf *c;
	const struct xport_opts *o;
	char *stdin_pw;		/* -o password_stdin, read once */
	char *last;		/* the last password given, until it works */
	int stdin_read;
	int sent;		/* the current method reached the server */
	int unanswered;		/* a keyboard-interactive prompt was not */
	GString *tried;		/* methods that did, for the final error */
	GString *notes;		/* "; bad passphrase for key ...", ... */
};

static const char *stdin_password(struct auth *a)
{
	if (!a->stdin_read) {
		a->stdin_read = 1;
		a->stdin_pw = read_line(STDIN_FILENO);
	}
	return a->stdin_pw;
}

/* Adds "; text" to the final error, once. */
static void note(struct auth *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(struct auth *a, const char *fmt, ...)
{
	va_list ap;
	char *t;

	va_start(ap, fmt);
	t = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (!strstr(a->notes->str, t))
		g_string_append_printf(a->notes, "; %s", t);
	g_free(t);
}

/* auth_prompt(), noting why there was no answer; what names the
 * secret ("the password"). */
static char *ask(struct auth *a, const char *prompt, int echo,
		 const char *what)
{
	const char *why;
	char *s = auth_prompt(a->c, a->o, prompt, echo, &why);

	if (!s && why)
		note(a, "%s %s", why, what);
	else if (!s)	/* EOF on the terminal, askpass said no */
		note(a, "%s was not given", what);
	return s;
}

/* ---- publickey ---- */

static gboolean blob_in_files(const struct conf *c, const unsigned char *b,
			      size_t blen)
{
	gboolean found = FALSE;

	for (guint i = 0; i < c->identity_files->len && !found; i++) {
		char *pub = g_strconcat(c->identity_files->pdata[i], ".pub",
					NULL);
		char *txt = NULL, **f;

		if (g_file_get_contents(pub, &txt, NULL, NULL)) {
			f = g_strsplit_set(g_strstrip(txt), " \t", 3);
			if (f[0] && f[1]) {
				gsize n;
				guchar *d = g_base64_decode(f[1], &n);

				found = n == blen && !memcmp(d, b, n);
				g_free(d);
			}
			g_strfreev(f);
		}
		g_free(txt);
		g_free(pub);
	}
	return found;
}

static int try_agent(struct auth *a)
{
	LIBSSH2_AGENT *ag;
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	const char *sock = conf_agent_socket(a->c);
	int ok = 0;

	if (!sock || !*sock)
		return 0;
	ag = libssh2_agent_init(a->s);
	if (!ag)
		return 0;
	libssh2_agent_set_identity_path(ag, sock);
	if (libssh2_agent_connect(ag)) {
		log_debug("cannot connect to the agent at %s", sock);
		goto out;
	}
	if (libssh2_agent_list_identities(ag))
		goto out;
	while (!ok && libssh2_agent_get_identity(ag, &id, prev) == 0) {
		prev = id;
		if (a->c->identities_only > 0 &&
		    !blob_in_files(a->c, id->blob, id->blob_len))
			continue;
		log_debug("trying agent key %s", id->comment);
		a->sent = 1;
		ok = libssh2_agent_userauth(ag, a->c->user, id) == 0;
	}
	libssh2_agent_disconnect(ag);
out:
	libssh2_agent_free(ag);
	return ok;
}

/* Is the private key file encrypted? Reads the header only. */
static int key_encrypted(const char *txt)
{
	const char *b, *e;
	gsize n = 0;
	guchar *raw;
	char *body;
	int enc = 0;

	if (strstr(txt, "ENCRYPTED"))
		return 1;	/* PEM: Proc-Type 4,ENCRYPTED or PKCS#8 */
	b = strstr(txt, "-----BEGIN OPENSSH PRIVATE KEY-----");
	if (!b)
		return 0;
	b = strchr(b, '\n');
	e = b ? strstr(b, "-----END") : NULL;
	if (!e)
		return 0;
	body = g_strndup(b, (size_t)(e - b));
	raw = g_base64_decode(body, &n);
	/* "openssh-key-v1\0", then string ciphername */
	if (n > 19 && !memcmp(raw, "openssh-key-v1", 15)) {
		uint32_t l = (uint32_t)raw[15] << 24 | raw[16] << 16 |
			     raw[17] << 8 | raw[18];

		enc = !(l == 4 && n >= 23 && !memcmp(raw + 19, "none", 4));
	}
	g_free(raw);
	g_free(body);
	return enc;
}

/* The .pub beside a key file, if there is one libssh2 can use: NULL for
 * none; -1 in *skip for a security-key or certificate key (not
 * supported: skipped with a warning). */
static char *usable_pub(const char *file, int *skip)
{
	char *pub = g_strconcat(file, ".pub", NULL), *p = NULL;

	*skip = 0;
	if (access(pub, R_OK) < 0 || g_str_has_suffix(file, "-cert")) {
		g_free(pub);
		return NULL;
	}
	if (g_file_get_contents(pub, &p, NULL, NULL) &&
	    (g_str_has_prefix(p, "sk-") || strstr(p, "-cert-v01@"))) {
		log_warn("identity %s: security-key and certificate keys are "
			 "not supported; skipped", file);
		*skip = 1;
	}
	g_free(p);
	return pub;
}

/* An encrypted key: as ssh, NumberOfPasswordPrompts tries, quiet between
 * them; an empty answer moves on to the next key. 1 if it logged in. */
static int try_key_passphrase(struct auth *a, const char *file)
{
	char *q = g_strdup_printf("Enter passphrase for key '%s': ", file);
	char *what = g_strdup_printf("the passphrase for key '%s'", file);
	int rc, ok = 0, bad = 0;

	for (int i = 0; i < a->c->number_of_password_prompts && !ok; i++) {
		char *pass = ask(a, q, 0, what);

		if (!pass || !*pass) {
			auth_secret_free(pass);
			break;
		}
		a->sent = 1;
		/* No .pub: libssh2 then decrypts the key before it sends
		 * anything, and a wrong passphrase is LIBSSH2_ERROR_FILE
		 * (with one, it is "Callback returned error"). */
		rc = libssh2_userauth_publickey_fromfile_ex(a->s, a->c->user,
			(unsigned)strlen(a->c->user), NULL, file, pass);
		auth_secret_free(pass);
		ok = rc == 0;
		bad = rc == LIBSSH2_ERROR_FILE ||
		      rc == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED;
		if (rc && !bad)
			break;	/* decrypted, but the server said no */
	}
	if (bad)
		note(a, "bad passphrase for key '%s'", file);
	g_free(what);
	g_free(q);
	return ok;
}

static int try_key_file(struct auth *a, const char *file, gboolean given)
{
	struct stat st;
	char *txt = NULL, *pub;
	gsize txt_len = 0;
	int rc, ok = 0, skip;

	if (stat(file, &st) < 0) {
		if (given)
			log_debug("identity file %s: %s", file,
				  g_strerror(errno));
		return 0;
	}
	if (st.st_uid == getuid() && (st.st_mode & 077)) {
		log_err("WARNING: UNPROTECTED PRIVATE KEY FILE %s (mode %04o): "
			"ignored, as ssh does; chmod 600 it", file,
			(unsigned)(st.st_mode & 07777));
		return 0;
	}
	if (!g_file_get_contents(file, &txt, &txt_len, NULL)) {
		log_warn("cannot read identity file %s", file);
		return 0;
	}
	no_dumps();	/* the key's text is in memory now */
	pub = usable_pub(file, &skip);
	if (skip) {
		/* not tried */
	} else if (!key_encrypted(txt)) {
		log_debug("trying key %s", file);
		a->sent = 1;
		rc = libssh2_userauth_publickey_fromfile_ex(a->s, a->c->user,
			(unsigned)strlen(a->c->user), pub, file, NULL);
		ok = rc == 0;
		if (rc && rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED &&
		    rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED)
			log_debug("key %s: %s", file, xport_error(a->s));
	} else {
		ok = try_key_passphrase(a, file);
	}
	g_free(pub);
	explicit_bzero(txt, txt_len);	/* the private key, maybe clear */
	g_free(txt);
	return ok;
}

/* An OpenSSH certificate that libssh2 cannot offer (CertificateFile, or
 * KEY-cert.pub beside a key): the final error says where it works. */
static void note_certificates(struct auth *a)
{
	const GPtrArray *cf = conf_raw(a->c, "certificatefile");
	int found = cf && cf->len > 0;

	for (guint i = 0; !found && i < a->c->identity_files->len; i++) {
		char *cert = g_strconcat(a->c->identity_files->pdata[i],
					 "-cert.pub", NULL);

		found = access(cert, R_OK) == 0;
		g_free(cert);
	}
	if (found)
		note(a, "OpenSSH certificates are not used with rfs's own "
		     "SSH session: -o transport=ssh uses them");
}

static int try_publickey(struct auth *a)
{
	gboolean given = a->c->identity_files->len > 0;

	note_certificates(a);
	if (try_agent(a))
		return 1;
	for (guint i = 0; i < a->c->identity_files->len; i++)
		if (try_key_file(a, a->c->identity_files->pdata[i], given))
			return 1;
	return 0;
}

/* ---- password and keyboard-interactive ---- */

/* Keep a copy of the answer: if it logs in, a reconnect may reuse it. */
static char *remember(struct auth *a, char *answer)
{
	if (answer && a->o->used_password) {
		auth_secret_free(a->last);
		a->last = secret_new();
		g_strlcpy(a->last, answer, SECRET_MAX);
	}
	return answer;
}

static char *ask_password(struct auth *a, const char *prompt, int echo,
			  const char *what)
{
	const char *p;
	char *s;

	if (a->o->password) {	/* a reconnect: the mount's password */
		s = secret_new();
		g_strlcpy(s, a->o->password, SECRET_MAX);
		return s;
	}
	if (a->o->password_stdin) {
		p = stdin_password(a);
		if (!p) {
			note(a, "no password on stdin (password_stdin)");
			return NULL;
		}
		s = secret_new();
		g_strlcpy(s, p, SECRET_MAX);
		return remember(a, s);
	}
	return remember(a, ask(a, prompt, echo, what));
}

/* A prompt's worth of tries: NumberOfPasswordPrompts, one for a given
 * password. */
static int tries(const struct auth *a)
{
	return a->o->password_stdin || a->o->password ? 1 :
	       a->c->number_of_password_prompts;
}

static int try_password(struct auth *a)
{
	char *q = g_strdup_printf("%s@%s's password: ", a->c->user,
				  a->c->hostname);
	int rc = -1;

	for (int i = 0; i < tries(a) && rc; i++) {
		char *pw;

		if (i)	/* ssh's words, between prompts */
			log_err("Permission denied, please try again.");
		pw = ask_password(a, q, 0, "the password");
		if (!pw)
			break;
		a->sent = 1;
		rc = libssh2_userauth_password_ex(a->s, a->c->user,
			(unsigned)strlen(a->c->user), pw,
			(unsigned)strlen(pw), NULL);
		auth_secret_free(pw);
		if (rc == LIBSSH2_ERROR_PASSWORD_EXPIRED)
			note(a, "the password of %s has expired", a->c->user);
		if (rc && rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED)
			break;
	}
	g_free(q);
	return rc == 0;
}

/* libssh2's callback has no user data of ours: set only during the call,
 * per thread, as the reconnects of several connections (max_conns)
 * authenticate at the same time on their own threads. */
static __thread struct auth *kbd_auth;

static void kbd_cb(const char *name, int name_len, const char *instr,
		   int instr_len, int n, const LIBSSH2_USERAUTH_KBDINT_PROMPT *p,
		   LIBSSH2_USERAUTH_KBDINT_RESPONSE *r, void **abstract)
{
	(void)name; (void)name_len; (void)instr; (void)instr_len;
	(void)abstract;
	for (int i = 0; i < n; i++) {
		char *q = g_strndup((const char *)p[i].text, p[i].length);
		char *ans = kbd_auth ? ask_password(kbd_auth, q, p[i].echo,
			"keyboard-interactive answers") : NULL;

		g_free(q);
		if (kbd_auth && ans)
			kbd_auth->sent = 1;
		else if (kbd_auth)
			kbd_auth->unanswered = 1;
		/* libssh2 frees the responses with its own free(). */
		r[i].text = strdup(ans ? ans : "");
		r[i].length = (unsigned)strlen(r[i].text);
		auth_secret_free(ans);
	}
}

static int try_kbdint(struct auth *a)
{
	int rc = -1;

	if (!a->o->password && !a->o->password_stdin &&
	    (a->c->batch_mode > 0 || !a->o->interactive))
		return 0;	/* nothing could answer: send nothing */
	kbd_auth = a;
	a->unanswered = 0;
	for (int i = 0; i < tries(a) && rc && !a->unanswered; i++)
		rc = libssh2_userauth_keyboard_interactive_ex(a->s, a->c->user,
			(unsigned)strlen(a->c->user), kbd_cb);
	kbd_auth = NULL;
	return rc == 0;
}

/* ---- driver ---- */

int auth_run(LIBSSH2_SESSION *s, const struct conf *c,
	     const struct xport_opts *o, int flags, GError **err)
{
	struct auth a = { .s = s, .c = c, .o = o, .tried = g_string_new(NULL),
			  .notes = g_string_new(NULL) };
	char *offered, **order;
	int ok = 0, via_pw = 0;

	offered = libssh2_userauth_list(s, c->user, (unsigned)strlen(c->user));
	if (!offered) {
		g_string_free(a.notes, TRUE);
		if (libssh2_userauth_authenticated(s)) {
			g_string_free(a.tried, TRUE);
			return 0;	/* "none" was enough */
		}
		rfs_set_error(err, RFS_EXIT_CONNECT, "the server closed the "
			      "connection before authentication: %s",
			      xport_error(s));
		g_string_free(a.tried, TRUE);
		return -1;
	}
	offered = g_strdup(offered);
	log_debug("server offers authentication: %s", offered);
	order = g_strsplit(c->preferred_auth, ",", -1);
	for (char **m = order; *m && !ok; m++) {
		gboolean on = FALSE;
		char **srv = g_strsplit(offered, ",", -1);

		on = g_strv_contains((const char *const *)srv, *m);
		g_strfreev(srv);
		if (!on)
			continue;
		a.sent = 0;
		if ((flags & AUTH_NO_PASSWORDS) &&
		    (!strcmp(*m, "keyboard-interactive") ||
		     !strcmp(*m, "password"))) {
			note(&a, "%s authentication is disabled: the "
			     "host key did not match", *m);
			continue;
		}
		if (!strcmp(*m, "publickey") && c->pubkey_auth != 0)
			ok = try_publickey(&a);
		else if (!strcmp(*m, "keyboard-interactive") &&
			 c->kbdint_auth != 0)
			ok = via_pw = try_kbdint(&a);
		else if (!strcmp(*m, "password") && c->password_auth != 0)
			ok = via_pw = try_password(&a);
		if (!a.sent)
			continue;
		g_string_append_printf(a.tried, "%s%s", a.tried->len ? "," : "",
				       *m);
	}
	if (!ok)
		rfs_set_error(err, RFS_EXIT_AUTH, "permission denied for %s@%s "
			      "(server offers %s; tried %s%s)", c->user,
			      c->hostname, offered,
			      a.tried->len ? a.tried->str : "nothing",
			      a.notes->str);
	g_strfreev(order);
	g_free(offered);
	g_string_free(a.tried, TRUE);
	g_string_free(a.notes, TRUE);
	auth_secret_free(a.stdin_pw);
	if (via_pw && a.last && a.o->used_password) {
		auth_secret_free(*a.o->used_password);
		*a.o->used_password = a.last;	/* the caller's now */
	}
	else
		auth_secret_free(a.last);
	return ok ? 0 : -1;
}
