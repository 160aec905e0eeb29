/* xport: TCP connect, SSH handshake, host key check. Auth is in auth.c. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rfs/xport.h"
#include "rfs/auth.h"
#include "rfs/khosts.h"
#include "rfs/loop.h"
#include "rfs/log.h"
#include "rfs/mux.h"
#include "rfs/util.h"

static int connect_timeout_ms(const struct conf *c)
{
	return (c->connect_timeout > 0 ? c->connect_timeout
				       : CONF_CONNECT_TIMEOUT) * 1000;
}

/* BindAddress: the local address to connect from. 0 or -errno. */
static int bind_local(int fd, const struct addrinfo *ai, const char *addr)
{
	struct addrinfo hints = { .ai_family = ai->ai_family,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST };
	struct addrinfo *res;
	int rc;

	if (getaddrinfo(addr, NULL, &hints, &res))
		return -EADDRNOTAVAIL;
	rc = bind(fd, res->ai_addr, res->ai_addrlen) ? -errno : 0;
	freeaddrinfo(res);
	return rc;
}

/* Non-blocking connect bounded by timeout_ms. Returns 0 or -errno. */
static int connect_one(int fd, const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int soerr = 0, rc;
	socklen_t len = sizeof(soerr);

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return -soerr;
}

static void tune_socket(int fd)
{
	int one = 1;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

/* Resolve and connect, trying every address. Returns the socket or -1. */
int xport_tcp_connect(const struct conf *c, int port_nr, GError **err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res, *ai;
	char port[16];
	int rc, fd = -1, last = 0;

	hints.ai_family = c->address_family == CONF_AF_INET ? AF_INET :
			  c->address_family == CONF_AF_INET6 ? AF_INET6 :
			  AF_UNSPEC;
	snprintf(port, sizeof(port), "%d", port_nr);
	rc = getaddrinfo(c->hostname, port, &hints, &res);
	if (rc) {
		rfs_set_error(err, RFS_EXIT_CONNECT,
			      "cannot resolve host '%s': %s", c->hostname,
			      gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			last = -errno;
			continue;
		}
		last = c->bind_address ? bind_local(fd, ai, c->bind_address)
				       : 0;
		if (last == 0)
			last = connect_one(fd, ai, connect_timeout_ms(c));
		if (last == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		rfs_set_error(err, RFS_EXIT_CONNECT,
			      "cannot connect to %s port %d: %s", c->hostname,
			      port_nr, g_strerror(-last));
		return -1;
	}
	tune_socket(fd);
	return fd;
}

/* Known-host key types -> libssh2 host key algorithm names. */
static const char *hostkey_algs(const char *type)
{
	if (!strcmp(type, "ssh-rsa"))
		return "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
	return type;
}

static const char *const default_hostkey_order[] = {
	"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521", "ssh-rsa", NULL,
};

static char **known_hosts_files(const struct conf *c)
{
	GPtrArray *a = g_ptr_array_new();

	GPtrArray *lists[] = { c->user_known_hosts, c->global_known_hosts };

	/* "none" means no file, not a file named none. */
	for (size_t l = 0; l < G_N_ELEMENTS(lists); l++)
		for (guint i = 0; i < lists[l]->len; i++)
			if (strcmp(lists[l]->pdata[i], "none") != 0)
				g_ptr_array_add(a, g_strdup(lists[l]->pdata[i]));
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

static const char *keyhost(const struct conf *c)
{
	return c->host_key_alias ? c->host_key_alias : c->hostname;
}

/* The port of the known_hosts entry: a HostKeyAlias stands for host and
 * port together, so it is looked up and written bare, as ssh does. */
static int keyport(const struct conf *c)
{
	return c->host_key_alias ? 22 : c->port;
}

/* Offer the key types already known for this host first, as OpenSSH does:
 * otherwise libssh2 may pick ECDSA and report a known ed25519 host as new. */
static void set_hostkey_prefs(LIBSSH2_SESSION *s, const struct conf *c)
{
	char **files = known_hosts_files(c);
	char **known = khosts_known_types((const char *const *)files,
					  keyhost(c), keyport(c));
	GString *pref = g_string_new(NULL);

	if (c->host_key_algorithms && !strchr("+-^", *c->host_key_algorithms)) {
		g_string_assign(pref, c->host_key_algorithms);
	} else {
		for (char **k = known; *k; k++)
			g_string_append_printf(pref, "%s%s",
					       pref->len ? "," : "",
					       hostkey_algs(*k));
		for (int i = 0; default_hostkey_order[i]; i++) {
			const char *t = default_hostkey_order[i];

			if (!g_strv_contains((const char *const *)known, t))
				g_string_append_printf(pref, "%s%s",
						       pref->len ? "," : "",
						       hostkey_algs(t));
		}
	}
	if (libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, pref->str))
		log_warn("no usable host key algorithm in '%s'", pref->str);
	log_debug("host key algorithms: %s", pref->str);
	g_string_free(pref, TRUE);
	g_strfreev(known);
	g_strfreev(files);
}

/* libssh2's list for a method, in its order of preference. */
static char *supported(LIBSSH2_SESSION *s, int method)
{
	const char **algs = NULL;
	int n = libssh2_session_supported_algs(s, method, &algs);
	GString *o = g_string_new(NULL);

	for (int i = 0; i < n; i++)
		g_string_append_printf(o, "%s%s", i ? "," : "", algs[i]);
	if (n > 0)
		libssh2_free(s, algs);
	return g_string_free(o, FALSE);
}

/* Ciphers offered when the configuration gives no plain list: cheapest
 * first by CPU per byte, measured on AES-NI/AVX2 hardware with this build's
 * libssh2 (doc/performance.md, "libssh2's crypto"), strongest first among
 * equals; then the rest of what libssh2 offers, in its order. The patched
 * libssh2 (contrib/libssh2, meson -Dlibssh2=bundled) spends about 0.8 CPU
 * s/GiB on chacha20-poly1305 and AES-GCM alike and 1.2 on AES-CTR with
 * hmac-sha2-256 (the MAC is most of it): that is libssh2's own order.
 * Unpatched libssh2 1.11.1 spends 3.0 on chacha20-poly1305 and AES-CTR and
 * 4.0 on AES-GCM, block by block: GCM goes last there. OpenSSH's sshd takes
 * the first of ours it has, chacha20-poly1305 with its defaults. */
#if RFS_LIBSSH2_PATCHED
static const char cipher_order[] = "chacha20-poly1305@openssh.com,"
	"aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
	"aes256-ctr,aes192-ctr,aes128-ctr";
#else
static const char cipher_order[] = "chacha20-poly1305@openssh.com,"
	"aes256-ctr,aes192-ctr,aes128-ctr,"
	"aes256-gcm@openssh.com,aes128-gcm@openssh.com";
#endif

static char *default_ciphers(LIBSSH2_SESSION *s)
{
	char *have = supported(s, LIBSSH2_METHOD_CRYPT_CS);
	char **avail = g_strsplit(have, ",", -1);
	char **order = g_strsplit(cipher_order, ",", -1);
	GString *o = g_string_new(NULL);

	for (char **a = order; *a; a++)
		if (g_strv_contains((const char *const *)avail, *a))
			g_string_append_printf(o, "%s%s", o->len ? "," : "", *a);
	for (char **a = avail; *a; a++)
		if (**a && !g_strv_contains((const char *const *)order, *a))
			g_string_append_printf(o, "%s%s", o->len ? "," : "", *a);
	g_strfreev(order);
	g_strfreev(avail);
	g_free(have);
	return g_string_free(o, FALSE);
}

void xport_default_algs(struct conf_algs *a)
{
	LIBSSH2_SESSION *s = libssh2_session_init();
	GString *hk = g_string_new(NULL);

	memset(a, 0, sizeof(*a));
	if (s) {
		a->ciphers = default_ciphers(s);
		a->macs = supported(s, LIBSSH2_METHOD_MAC_CS);
		a->kex = supported(s, LIBSSH2_METHOD_KEX);
		libssh2_session_free(s);
	}
	for (int i = 0; default_hostkey_order[i]; i++)
		g_string_append_printf(hk, "%s%s", hk->len ? "," : "",
				       hostkey_algs(default_hostkey_order[i]));
	a->hostkey = g_string_free(hk, FALSE);
}

void xport_default_algs_free(struct conf_algs *a)
{
	g_free(a->ciphers);
	g_free(a->macs);
	g_free(a->kex);
	g_free(a->hostkey);
	memset(a, 0, sizeof(*a));
}

static const char *type_label(const char *type)
{
	if (!type)
		return "unknown";
	if (!strcmp(type, "ssh-ed25519"))
		return "ED25519";
	if (!strcmp(type, "ssh-rsa"))
		return "RSA";
	if (g_str_has_prefix(type, "ecdsa-"))
		return "ECDSA";
	return type;
}

static char *host_label(const struct conf *c)
{
	if (keyport(c) == 22)
		return g_strdup(keyhost(c));
	return g_strdup_printf("[%s]:%d", keyhost(c), keyport(c));
}

/* ssh's confirm(): "yes", the key's fingerprint as pasted, or "no" (an
 * empty answer too); 1, 0, or -1 when nobody could be asked (*why). */
static int confirm_key(const struct conf *c, const struct xport_opts *o,
		       const char *question, const char *fp,
		       const char **why)
{
	const char *q = question;

	for (;;) {
		char *a = auth_prompt(c, o, q, 1, why), *p;
		int r;

		if (!a)
			return *why ? -1 : 0;
		p = a + strspn(a, " \t");
		p[strcspn(p, " \t")] = '\0';
		r = !*p || !g_ascii_strcasecmp(p, "no") ? 0 :
		    !g_ascii_strcasecmp(p, "yes") || !strcmp(p, fp) ? 1 :
		    g_str_has_prefix(p, "SHA256:") ? 3 : 2;
		auth_secret_free(a);
		if (r < 2)
			return r;
		q = r == 3 ? "Warning: the fingerprint does not match.\n"
			     "Please type 'yes', 'no' or the fingerprint: " :
			     "Please type 'yes', 'no' or the fingerprint: ";
	}
}

static int add_known(const struct conf *c, const unsigned char *key,
		     size_t len, const char *label, const char *fp,
		     const char *type, GError **err)
{
	const char *file = c->user_known_hosts->len &&
			   strcmp(c->user_known_hosts->pdata[0], "none") != 0 ?
			   c->user_known_hosts->pdata[0] : NULL;
	GError *e = NULL;

	if (!file || khosts_add(file, keyhost(c), keyport(c), key, len,
				c->hash_known_hosts > 0, &e)) {
		rfs_set_error(err, RFS_EXIT_HOSTKEY,
			      "cannot record the host key for %s: %s", label,
			      e ? e->message : "no UserKnownHostsFile");
		g_clear_error(&e);
		return -1;
	}
	log_warn("added %s key %s for %s to %s", type_label(type), fp, label,
		 file);
	return 0;
}

/* A reconnect: each hop must show the key it showed at mount
 * time, whatever known_hosts or StrictHostKeyChecking say now. */
static int check_pinned(const struct conf *c, const struct xport_opts *o,
			const unsigned char *key, size_t len, GError **err)
{
	char *was, *now, *label;

	gsize plen;
	const unsigned char *pin = g_bytes_get_data(o->pin_key, &plen);

	if (len == plen && !memcmp(key, pin, len))
		return 0;
	was = khosts_fingerprint(pin, plen);
	now = khosts_fingerprint(key, len);
	label = host_label(c);
	rfs_set_error(err, RFS_EXIT_HOSTKEY, "HOST KEY CHANGED for %s since "
		      "the mount (was %s, now %s): refusing to reconnect; "
		      "someone may be intercepting the connection", label,
		      was, now);
	g_free(was);
	g_free(now);
	g_free(label);
	return -1;
}

/* The first value of an ssh_config keyword rfs keeps but does not use,
 * unless it is "none". */
static const char *raw_value(const struct conf *c, const char *kw)
{
	const GPtrArray *a = conf_raw(c, kw);
	const char *v = a && a->len ? a->pdata[0] : NULL;

	return v && g_ascii_strcasecmp(v, "none") ? v : NULL;
}

/* RevokedHostKeys: a file of public keys the key must not be; a KRL,
 * which rfs cannot read, refuses the connection rather than be ignored.
 * 0, or -1 with *err. */
static int check_revoked_file(const struct conf *c, const unsigned char *key,
			      size_t len, const char *label, GError **err)
{
	const char *file = raw_value(c, "revokedhostkeys");
	GError *e = NULL;
	unsigned line;
	int rc;

	if (!file)
		return 0;
	rc = khosts_key_listed(file, key, len, &line, &e);
	if (rc < 0) {
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "RevokedHostKeys: %s: "
			      "refusing to connect to %s", e->message, label);
		g_error_free(e);
	} else if (rc) {
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "the host key of %s is "
			      "REVOKED in %s:%u", label, file, line);
	}
	return rc ? -1 : 0;
}

/* A key the known_hosts files do not have: what rfs cannot check must
 * not fall back to trust on first use (unless StrictHostKeyChecking=no):
 * a host vouched for by a certificate authority, a KnownHostsCommand;
 * nor may a key of a new type replace the types known for the host
 * without a question. 0, or -1 with *err. */
static int unknown_refused(const struct conf *c,
			   const struct khosts_check *chk, const char *label,
			   const char *type, const char *fp, GError **err)
{
	const char *khc = raw_value(c, "knownhostscommand");

	if (c->strict_host_key_checking == CONF_SHKC_NO)
		return 0;
	if (chk->ca_file)
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "%s:%u trusts a "
			      "certificate authority for %s, and rfs cannot "
			      "check host certificates: the %s key %s it "
			      "offered is not trusted; add the host's own key "
			      "(ssh-keyscan) to known_hosts", chk->ca_file,
			      chk->ca_line, label, type_label(type), fp);
	else if (khc)
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "KnownHostsCommand is not "
			      "supported by rfs: the %s key %s of %s is not in "
			      "the known_hosts files, and is not trusted on "
			      "first use", type_label(type), fp, label);
	else if (chk->other_types &&
		 c->strict_host_key_checking != CONF_SHKC_ASK)
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "host key for %s is not "
			      "known (%s %s), but keys of other types are, "
			      "which the server did not offer: refusing; if "
			      "the host really changed its keys, add the new "
			      "one to known_hosts (ssh-keyscan)", label,
			      type_label(type), fp);
	else
		return 0;
	return -1;
}

/* 0 when the connection may go on; *mitm set when it goes on with a
 * key that does not match (StrictHostKeyChecking=no). */
/* The key a server offered, as messages name it. */
struct offered {
	const unsigned char *key;
	size_t len;
	char *fp, *type, *label;
};

/* known_hosts has another key for the host. 0 to go on (only with
 * StrictHostKeyChecking=no, and then *mitm), else -1 with *err. */
static int key_mismatch(const struct conf *c, const struct khosts_check *chk,
			const struct offered *k, int *mitm, GError **err)
{
	if (c->strict_host_key_checking == CONF_SHKC_NO) {
		log_err("WARNING: HOST KEY MISMATCH for %s: %s:%u has a "
			"different %s key (offered %s); continuing because "
			"StrictHostKeyChecking=no, without password and "
			"keyboard-interactive authentication (a man in the "
			"middle would get them)", k->label, chk->file,
			chk->line, type_label(k->type), k->fp);
		*mitm = 1;
		return 0;
	}
	/* ssh's hint: -R takes the name as known_hosts has it */
	rfs_set_error(err, RFS_EXIT_HOSTKEY, "HOST KEY MISMATCH for %s: %s:%u "
		      "has a different %s key (offered %s); someone may be "
		      "intercepting the connection; if the key was really "
		      "changed, remove the old one with: ssh-keygen -f \"%s\" "
		      "-R \"%s\"", k->label, chk->file, chk->line,
		      type_label(k->type), k->fp, chk->file, k->label);
	return -1;
}

/* known_hosts does not know the host: refuse, add, or ask, as
 * StrictHostKeyChecking says. 0 if the key is now trusted. */
static int key_unknown(const struct conf *c, const struct xport_opts *o,
		       const struct khosts_check *chk,
		       const struct offered *k, GError **err)
{
	const char *why;
	char *q;
	int ans;

	if (unknown_refused(c, chk, k->label, k->type, k->fp, err))
		return -1;
	switch (c->strict_host_key_checking) {
	case CONF_SHKC_YES:
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "host key for %s is not "
			      "known (%s %s) and StrictHostKeyChecking is yes",
			      k->label, type_label(k->type), k->fp);
		return -1;
	case CONF_SHKC_NO:
	case CONF_SHKC_ACCEPT_NEW:
		return add_known(c, k->key, k->len, k->label, k->fp, k->type,
				 err);
	}
	q = g_strdup_printf("The authenticity of host '%s' can't be "
			    "established.\n%s key fingerprint is %s.\n%s"
			    "Are you sure you want to continue connecting "
			    "(yes/no/[fingerprint])? ", k->label,
			    type_label(k->type), k->fp, chk->other_types ?
			    "WARNING: keys of other types are known for this "
			    "host, and the server did not offer them.\n" : "");
	ans = confirm_key(c, o, q, k->fp, &why);
	g_free(q);
	if (ans == 1)
		return add_known(c, k->key, k->len, k->label, k->fp, k->type,
				 err);
	if (ans == 0)
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "host key for %s is not "
			      "known (%s %s) and was not accepted", k->label,
			      type_label(k->type), k->fp);
	else
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "host key for %s is not "
			      "known (%s %s); %s a confirmation", k->label,
			      type_label(k->type), k->fp, why);
	return -1;
}

static int check_hostkey(LIBSSH2_SESSION *s, const struct conf *c,
			 const struct xport_opts *o, int *mitm, GError **err)
{
	struct offered k = { 0 };
	int ktype;
	char **files = NULL;
	struct khosts_check chk = { 0 };
	GError *e = NULL;
	int rc = -1;

	k.key = (const unsigned char *)libssh2_session_hostkey(s, &k.len,
								&ktype);
	if (!k.key) {
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "server sent no host key");
		return -1;
	}
	if (o->pin_key)
		return check_pinned(c, o, k.key, k.len, err);
	files = known_hosts_files(c);
	k.fp = khosts_fingerprint(k.key, k.len);
	k.type = khosts_key_type(k.key, k.len);
	k.label = host_label(c);
	if (check_revoked_file(c, k.key, k.len, k.label, err))
		goto out;
	if (khosts_check((const char *const *)files, keyhost(c), keyport(c),
			 k.key, k.len, &chk, &e)) {
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "%s", e->message);
		g_clear_error(&e);
		goto out;
	}
	switch (chk.result) {
	case KHOSTS_MATCH:
		log_debug("host key %s %s found in %s:%u", type_label(k.type),
			  k.fp, chk.file, chk.line);
		rc = 0;
		break;
	case KHOSTS_REVOKED:
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "the %s host key %s of %s "
			      "is REVOKED in %s:%u", type_label(k.type), k.fp,
			      k.label, chk.file, chk.line);
		break;
	case KHOSTS_MISMATCH:
		rc = key_mismatch(c, &chk, &k, mitm, err);
		break;
	case KHOSTS_NOTFOUND:
		rc = key_unknown(c, o, &chk, &k, err);
		break;
	}
out:
	khosts_check_clear(&chk);
	g_strfreev(files);
	g_free(k.fp);
	g_free(k.type);
	g_free(k.label);
	return rc;
}

const char *xport_error(LIBSSH2_SESSION *s)
{
	char *m = NULL;

	libssh2_session_last_error(s, &m, NULL, 0);
	return m ? m : "unknown error";
}

/* ---- liveness: the time of the last bytes received ---- */

/* libssh2's recv, noting when bytes arrive: the SFTP layer tells a quiet
 * link from a dead one by it (SSH keepalive replies count, and sshd sends
 * them even while sftp-server is busy). */
static ssize_t counting_recv(libssh2_socket_t fd, void *buf, size_t len,
			     int flags, void **abstract)
{
	ssize_t n = recv(fd, buf, len, flags);

	if (n > 0) {
		__atomic_store_n((int64_t *)*abstract, loop_now_ms(),
				 __ATOMIC_RELAXED);
		return n;
	}
	if (n == 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -EAGAIN;
	return -errno;
}

int64_t xport_last_rx(const struct xport *x)
{
	return x->last_rx ? __atomic_load_n(x->last_rx, __ATOMIC_RELAXED) : 0;
}

void xport_set_user_timeout(struct xport *x, int ms)
{
	unsigned t = (unsigned)ms;

	if (x->sock >= 0 && !x->proxy_pid)
		setsockopt(x->sock, IPPROTO_TCP, TCP_USER_TIMEOUT, &t,
			   sizeof(t));
}

/* ---- ProxyCommand ---- */

/* Expand %h %p %r %n %% in a ProxyCommand (conf's expander, with these
 * tokens only). Host and user are checked first: they reach a shell
 * (sshfs had a command injection there). */
static char *proxy_expand(const char *cmd, const struct conf *c,
			  GError **err)
{
	struct conf_tokens t = { 0 };
	GError *e = NULL;
	char port[16], *r;

	if (!util_valid_host(c->hostname) || !util_valid_host(c->host_arg) ||
	    strspn(c->user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
		   "WXYZ0123456789._-") != strlen(c->user)) {
		rfs_set_error(err, RFS_EXIT_USAGE, "ProxyCommand: refusing to "
			      "put host '%s' or user '%s' into a shell command",
			      c->hostname, c->user);
		return NULL;
	}
	snprintf(port, sizeof(port), "%d", c->port);
	conf_tokens_add(&t, 'h', c->hostname);
	conf_tokens_add(&t, 'n', c->host_arg);
	conf_tokens_add(&t, 'r', c->user);
	conf_tokens_add(&t, 'p', port);
	r = conf_expand_tokens(cmd, &t, "ProxyCommand", &e);
	conf_tokens_clear(&t);
	if (!r) {
		rfs_set_error(err, RFS_EXIT_USAGE, "%s", e->message);
		g_error_free(e);
	}
	return r;
}

/* Run the ProxyCommand with a socketpair as its stdin and stdout; the
 * SSH session speaks over our end. Returns that end, or -1. */
static int proxy_connect(const struct conf *c, struct xport *x, GError **err)
{
	char *cmd = proxy_expand(c->proxy_command, c, err), *sh;
	int fd;

	if (!cmd)
		return -1;
	sh = g_strconcat("exec ", cmd, NULL);
	log_debug("ProxyCommand: %s", cmd);
	{
		char *argv[] = { "/bin/sh", "-c", sh, NULL };

		fd = xport_spawn(argv, x, err);
	}
	g_free(sh);
	g_free(cmd);
	return fd;
}

/* ---- sessions tunnelled through a jump host ---- */

/* libssh2 I/O callbacks of a session whose bytes travel in the hop's
 * direct-tcpip channel instead of a socket.
 *
 * Receiving never blocks: libssh2 reads opportunistically inside its
 * writes and expects EAGAIN, so the hop's session is made non-blocking for
 * the read. A blocking inner session then waits by polling its "socket",
 * h->wait_fd: an epoll set of the real TCP socket and h->more, an eventfd
 * raised while the hop may still hold queued tunnel data. On the I/O
 * thread every session is non-blocking and EAGAIN means "poll the real
 * socket". Sending follows the hop session's mode. */
static ssize_t hop_send(libssh2_socket_t fd, const void *buf, size_t len,
			int flags, void **abstract)
{
	struct xport_hop *h = *abstract;
	ssize_t n = libssh2_channel_write(h->channel, buf, len);

	(void)fd; (void)flags;
	if (n == LIBSSH2_ERROR_EAGAIN)
		return -EAGAIN;
	return n < 0 ? -ECONNRESET : n;
}

static ssize_t hop_recv(libssh2_socket_t fd, void *buf, size_t len,
			int flags, void **abstract)
{
	struct xport_hop *h = *abstract;
	int blocking = libssh2_session_get_blocking(h->session);
	uint64_t v = 1;
	ssize_t n;

	(void)fd; (void)flags;
	if (blocking)
		libssh2_session_set_blocking(h->session, 0);
	n = libssh2_channel_read(h->channel, buf, len);
	if (blocking)
		libssh2_session_set_blocking(h->session, 1);
	if (n == LIBSSH2_ERROR_EAGAIN ||
	    (n == 0 && !libssh2_channel_eof(h->channel))) {
		if (read(h->more, &v, sizeof(v)) < 0)
			(void)0;	/* already clear */
		return -EAGAIN;
	}
	if (n > 0 && (size_t)n == len && write(h->more, &v, sizeof(v)) < 0)
		(void)0;	/* the counter is saturated: still raised */
	return n < 0 ? -ECONNRESET : n;	/* 0: the tunnel closed */
}

static void hop_free(struct xport_hop *h)
{
	if (h->channel)
		libssh2_channel_free(h->channel);
	if (h->session) {
		libssh2_session_disconnect(h->session, "rfs closing");
		libssh2_session_free(h->session);
	}
	if (h->wait_fd >= 0)
		close(h->wait_fd);
	if (h->more >= 0)
		close(h->more);
	g_free(h->name);
	g_free(h);
}

/* "[ssh://][user@]host[:port]" -> a resolved conf for that jump host. */
static struct conf *hop_conf(const char *spec, const struct xport_opts *o,
			     GError **err)
{
	const char *p = g_str_has_prefix(spec, "ssh://") ? spec + 6 : spec;
	const char *at = strrchr(p, '@');
	const char *h = at ? at + 1 : p;
	char *host, *port = NULL, *opt;
	struct conf *c;
	const char *end;

	if (*h == '[' && (end = strchr(h, ']'))) {
		host = g_strndup(h + 1, (size_t)(end - h - 1));
		if (end[1] == ':')
			port = g_strdup(end + 2);
	} else if ((end = strchr(h, ':'))) {
		host = g_strndup(h, (size_t)(end - h));
		port = g_strdup(end + 1);
	} else {
		host = g_strdup(h);
	}
	if (!util_valid_host(host)) {
		rfs_set_error(err, RFS_EXIT_USAGE, "bad jump host '%s'", spec);
		g_free(host);
		g_free(port);
		return NULL;
	}
	c = conf_new(host);
	if (at) {
		char *u = g_strndup(p, (size_t)(at - p));
		opt = g_strconcat("User=", u, NULL);
		conf_set_option(c, opt, NULL);
		g_free(opt);
		g_free(u);
	}
	if (port && *port) {
		opt = g_strconcat("Port=", port, NULL);
		if (conf_set_option(c, opt, err))
			goto fail;
		g_free(opt);
	}
	if (conf_read_files(c, o->config_file, o->config_file ? "none" : NULL,
			    err) || conf_finish(c, err))
		goto fail;
	g_free(host);
	g_free(port);
	return c;
fail:
	g_prefix_error(err, "jump host %s: ", spec);
	conf_free(c);
	g_free(host);
	g_free(port);
	return NULL;
}

#define MAX_JUMPS 8

/* The hosts to pass through, outermost first, then c itself (not owned:
 * the last element is c). A first jump host with a ProxyJump of its own
 * is reached through that, as ssh does. */
static int build_chain(const struct conf *c, const struct xport_opts *o,
		       GPtrArray *chain, int depth, GError **err)
{
	char **hops;
	int rc = 0;

	if (!c->proxy_jump) {
		g_ptr_array_add(chain, (gpointer)c);
		return 0;
	}
	if (depth >= MAX_JUMPS) {
		rfs_set_error(err, RFS_EXIT_USAGE, "ProxyJump: more than %d "
			      "jump hosts (a loop?)", MAX_JUMPS);
		return -1;
	}
	hops = g_strsplit(c->proxy_jump, ",", -1);
	for (int i = 0; hops[i] && !rc; i++) {
		struct conf *hc = hop_conf(g_strstrip(hops[i]), o, err);

		if (!hc) {
			rc = -1;
		} else if (i == 0) {
			rc = build_chain(hc, o, chain, depth + 1, err);
		} else {
			g_clear_pointer(&hc->proxy_jump, g_free);
			g_ptr_array_add(chain, hc);
		}
	}
	g_strfreev(hops);
	if (!rc)
		g_ptr_array_add(chain, (gpointer)c);
	return rc;
}

/* Ciphers, MACs, KexAlgorithms as libssh2 preferences. OpenSSH's "+",
 * "-" and "^" forms change its default list, which libssh2 does not
 * share: keep the defaults then (libssh2's; for ciphers, ours). */
static void method_pref(LIBSSH2_SESSION *s, int type, const char *kw,
			const char *v)
{
	if (!v)
		return;
	if (strchr("+-^", *v)) {
		log_debug("%s %s: relative lists are not supported, using "
			  "the defaults", kw, v);
		return;
	}
	if (libssh2_session_method_pref(s, type, v))
		log_warn("%s %s: none of these is supported; using the "
			 "defaults", kw, v);
}

/* Handshake, host key check and authentication on s (blocking). */
static int ssh_setup(LIBSSH2_SESSION *s, int fd, const struct conf *c,
		     const struct xport_opts *o, GError **err)
{
	libssh2_session_set_blocking(s, 1);
	libssh2_session_set_timeout(s, connect_timeout_ms(c));
	if (c->compression > 0)
		libssh2_session_flag(s, LIBSSH2_FLAG_COMPRESS, 1);
	set_hostkey_prefs(s, c);
	method_pref(s, LIBSSH2_METHOD_CRYPT_CS, "Ciphers", c->ciphers);
	method_pref(s, LIBSSH2_METHOD_CRYPT_SC, "Ciphers", c->ciphers);
	if (!c->ciphers || strchr("+-^", *c->ciphers)) {
		char *def = default_ciphers(s);

		if (*def) {
			libssh2_session_method_pref(s, LIBSSH2_METHOD_CRYPT_CS,
						    def);
			libssh2_session_method_pref(s, LIBSSH2_METHOD_CRYPT_SC,
						    def);
		}
		g_free(def);
	}
	method_pref(s, LIBSSH2_METHOD_MAC_CS, "MACs", c->macs);
	method_pref(s, LIBSSH2_METHOD_MAC_SC, "MACs", c->macs);
	method_pref(s, LIBSSH2_METHOD_KEX, "KexAlgorithms", c->kex_algorithms);
	if (libssh2_session_handshake(s, fd)) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "SSH handshake with %s "
			      "port %d failed: %s", c->hostname, c->port,
			      xport_error(s));
		return -1;
	}
	log_debug("connected to %s port %d, cipher %s, compression %s",
		  c->hostname, c->port,
		  libssh2_session_methods(s, LIBSSH2_METHOD_CRYPT_CS),
		  libssh2_session_methods(s, LIBSSH2_METHOD_COMP_CS));
	{
		int mitm = 0;

		return check_hostkey(s, c, o, &mitm, err) ||
		       auth_run(s, c, o, mitm ? AUTH_NO_PASSWORDS : 0, err) ?
		       -1 : 0;
	}
}

/* Open the tunnel from the authenticated hop h to next; sock is the real
 * TCP socket of the chain. */
static int open_tunnel(struct xport_hop *h, const struct conf *next,
		       int sock, GError **err)
{
	struct epoll_event ev = { .events = EPOLLIN };

	/* The destination name is resolved on the jump host, as ssh -J. */
	h->channel = libssh2_channel_direct_tcpip_ex(h->session,
		next->hostname, next->port, "127.0.0.1", 0);
	if (!h->channel) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "jump host %s cannot "
			      "reach %s port %d: %s", h->name, next->hostname,
			      next->port, xport_error(h->session));
		return -1;
	}
	/* A larger window than libssh2's 2 MiB default: bulk data crosses
	 * the tunnel at the speed of the inner session. */
	libssh2_channel_receive_window_adjust2(h->channel, 14 * 1024 * 1024,
					       1, NULL);
	h->wait_fd = epoll_create1(EPOLL_CLOEXEC);
	h->more = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev.data.fd = sock;
	if (h->wait_fd < 0 || h->more < 0 ||
	    epoll_ctl(h->wait_fd, EPOLL_CTL_ADD, sock, &ev)) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "epoll: %s",
			      g_strerror(errno));
		return -1;
	}
	ev.data.fd = h->more;
	if (epoll_ctl(h->wait_fd, EPOLL_CTL_ADD, h->more, &ev)) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "epoll: %s",
			      g_strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- per hop: host keys and passwords (struct xport_pins) ---- */

static void secret_free(gpointer s)
{
	auth_secret_free(s);
}

static void bytes_free(gpointer b)
{
	if (b)
		g_bytes_unref(b);
}

struct xport_pins *xport_pins_new(void)
{
	struct xport_pins *p = g_new0(struct xport_pins, 1);

	p->keys = g_ptr_array_new_with_free_func(bytes_free);
	p->passwords = g_ptr_array_new_with_free_func(secret_free);
	return p;
}

void xport_pins_free(struct xport_pins *p)
{
	if (!p)
		return;
	g_ptr_array_unref(p->keys);
	g_ptr_array_unref(p->passwords);
	g_free(p);
}

void xport_pins_forget_passwords(struct xport_pins *p)
{
	for (guint i = 0; p && i < p->passwords->len; i++) {
		auth_secret_free(p->passwords->pdata[i]);
		p->passwords->pdata[i] = NULL;
	}
}

int xport_pins_have_password(const struct xport_pins *p)
{
	for (guint i = 0; p && i < p->passwords->len; i++)
		if (p->passwords->pdata[i])
			return 1;
	return 0;
}

/* ssh_setup() for hop i with what pins say of it, then (at mount time)
 * what it showed and which password logged in. */
static int hop_setup(LIBSSH2_SESSION *s, int fd, const struct conf *hc,
		     const struct xport_opts *o, guint i, int last,
		     GError **err)
{
	struct xport_opts ho = *o;
	struct xport_pins *p = o->pins;
	char *pw = NULL;
	int rc;

	ho.password_stdin = last && o->password_stdin;
	ho.password = NULL;
	ho.used_password = NULL;
	ho.pin_key = NULL;
	if (p && p->use) {
		ho.password = i < p->passwords->len ? p->passwords->pdata[i]
						     : NULL;
		ho.pin_key = i < p->keys->len ? p->keys->pdata[i] : NULL;
	} else if (p) {
		ho.used_password = &pw;
	}
	rc = ssh_setup(s, fd, hc, &ho, err);
	if (p && !p->use && !rc) {
		size_t len = 0;
		int type;
		const char *key = libssh2_session_hostkey(s, &len, &type);

		g_ptr_array_set_size(p->keys, (gint)(i + 1));
		g_ptr_array_set_size(p->passwords, (gint)(i + 1));
		p->keys->pdata[i] = key ? g_bytes_new(key, len) : NULL;
		p->passwords->pdata[i] = pw;
		pw = NULL;
	}
	auth_secret_free(pw);
	return rc;
}

/* The ControlPath rfs may use: set, not "none", and ControlMaster not
 * "no" (rfs then always connects on its own). NULL otherwise. */
static const char *control_path(const struct conf *c)
{
	const GPtrArray *p = conf_raw(c, "controlpath");
	const GPtrArray *m = conf_raw(c, "controlmaster");
	const char *path = p && p->len ? p->pdata[0] : NULL;

	if (!path || !g_ascii_strcasecmp(path, "none") ||
	    (m && m->len && !g_ascii_strcasecmp(m->pdata[0], "no")))
		return NULL;
	return path;
}

int xport_mux_session(struct xport *x, int *fd, GError **err)
{
	int ctl, rc;

	if (x->nmux == (int)G_N_ELEMENTS(x->mux_ctl)) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "too many sessions");
		return -1;
	}
	rc = mux_session(x->mux_path, x->sftp_server ? x->sftp_server
						    : "sftp",
			 !x->sftp_server, CONF_CONNECT_TIMEOUT * 1000, fd, &ctl,
			 err);
	if (rc)
		return rc;
	x->mux_ctl[x->nmux++] = ctl;
	fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

void xport_start(struct xport *x, const char *kind)
{
	xport_init(x);
	x->kind = kind;
	x->last_rx = g_new0(int64_t, 1);
	*x->last_rx = loop_now_ms();
}

/* A session of the ControlMaster at c's ControlPath: 0 (x is a "mux"
 * transport), 1 when no master answers there, -1 with *err when one
 * answered and failed. */
static int mux_connect(const struct conf *c, const struct xport_opts *o,
		       struct xport *x, GError **err)
{
	const char *path = control_path(c);
	int fd, rc;

	if (!path) {
		rfs_set_error(err, RFS_EXIT_CONNECT, "no ControlPath (the "
			      "mount used a ControlMaster)");
		return 1;
	}
	xport_start(x, "mux");
	x->mux_path = g_strdup(path);
	x->sftp_server = g_strdup(o->sftp_server);
	rc = xport_mux_session(x, &fd, err);
	if (rc) {
		xport_close(x);
		return rc;
	}
	x->pipe.rfd = x->pipe.wfd = fd;
	xport_set_exec(x, c, o);
	log_debug("transport mux: a session of the ControlMaster at %s",
		  path);
	return 0;
}

int xport_connect(const struct conf *c, const struct xport_opts *o,
		  struct xport *x, GError **err)
{
	GPtrArray *chain;
	struct xport_hop *hop = NULL;
	int rc = -1;

	if (o->transport == XPORT_T_MUX)
		return mux_connect(c, o, x, err) ? -1 : 0;
	if (o->transport != XPORT_T_LIBSSH2)
		return xport_cmd_connect(c, o, x, err);
	if (control_path(c)) {
		GError *e = NULL;

		rc = mux_connect(c, o, x, &e);
		if (rc <= 0) {
			if (rc)
				g_propagate_error(err, e);
			return rc;
		}
		log_debug("%s; connecting on our own", e->message);
		g_error_free(e);
		rc = -1;
	}
	chain = g_ptr_array_new();
	xport_start(x, "libssh2");
	x->sftp_server = g_strdup(o->sftp_server);
	if (build_chain(c, o, chain, 0, err))
		goto out;
	for (guint i = 0; i < chain->len; i++) {
		const struct conf *hc = chain->pdata[i];
		int last = i + 1 == chain->len, fd;
		LIBSSH2_SESSION *s;

		if (!hop) {
			fd = x->sock = hc->proxy_command && !hc->proxy_jump ?
				       proxy_connect(hc, x, err) :
				       xport_tcp_connect(hc, hc->port, err);
			if (fd < 0)
				goto fail_hop;
			s = libssh2_session_init_ex(NULL, NULL, NULL,
						   x->last_rx);
			if (s)
				libssh2_session_callback_set2(s,
					LIBSSH2_CALLBACK_RECV,
					(libssh2_cb_generic *)counting_recv);
		} else {
			fd = hop->wait_fd;
			s = libssh2_session_init_ex(NULL, NULL, NULL, hop);
			if (s) {
				libssh2_session_callback_set2(s,
					LIBSSH2_CALLBACK_SEND,
					(libssh2_cb_generic *)hop_send);
				libssh2_session_callback_set2(s,
					LIBSSH2_CALLBACK_RECV,
					(libssh2_cb_generic *)hop_recv);
			}
		}
		if (!s) {
			rfs_set_error(err, RFS_EXIT_CONNECT, "cannot start an "
				      "SSH session");
			goto fail_hop;
		}
		if (last) {
			x->session = s;
		} else {
			hop = g_new0(struct xport_hop, 1);
			hop->session = s;
			hop->wait_fd = hop->more = -1;
			hop->name = g_strdup(hc->host_arg);
			if (!x->hops)
				x->hops = g_ptr_array_new();
			g_ptr_array_add(x->hops, hop);
		}
		if (hop_setup(s, fd, hc, o, i, last, err))
			goto fail_hop;
		if (!last && open_tunnel(hop, chain->pdata[i + 1], x->sock,
					 err))
			goto fail;
		continue;
fail_hop:
		if (!last)
			g_prefix_error(err, "jump host %s: ", hc->host_arg);
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	xport_close(x);
out:
	for (guint i = 0; i + 1 < chain->len; i++)
		conf_free(chain->pdata[i]);
	g_ptr_array_free(chain, TRUE);
	return rc;
}

void xport_set_blocking(struct xport *x, int blocking)
{
	if (x->session)
		libssh2_session_set_blocking(x->session, blocking);
	for (guint i = 0; x->hops && i < x->hops->len; i++) {
		struct xport_hop *h = x->hops->pdata[i];
		libssh2_session_set_blocking(h->session, blocking);
	}
}

int xport_block_directions(struct xport *x)
{
	int dir = x->session ? libssh2_session_block_directions(x->session)
			     : 0;

	for (guint i = 0; x->hops && i < x->hops->len; i++) {
		struct xport_hop *h = x->hops->pdata[i];
		dir |= libssh2_session_block_directions(h->session);
	}
	return dir;
}

/* Our child, by PID: SIGTERM, and SIGKILL after a second: this runs on
 * the I/O thread (a reconnect) or at unmount, neither of which may wait
 * for a command that ignores it. */
void xport_stop_child(pid_t pid, const char *what)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;	/* reaped, or not ours to reap (ECHILD) */
		g_usleep(10 * 1000);
	}
	log_warn("%s (pid %d) still running a second after SIGTERM: "
		 "SIGKILL", what, (int)pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

void xport_close(struct xport *x)
{
	xport_set_blocking(x, 1);
	if (x->session) {
		libssh2_session_set_timeout(x->session, 2000);
		libssh2_session_disconnect(x->session, "rfs closing");
		/* A peer slower than the timeout to answer our CHANNEL_CLOSE
		 * leaves the session half freed (libssh2 returns, keeps it):
		 * cut the link, so that the rest of the free cannot wait. */
		if (libssh2_session_free(x->session) != 0 && x->sock >= 0) {
			shutdown(x->sock, SHUT_RDWR);
			libssh2_session_free(x->session);
		}
		x->session = NULL;
	}
	/* Innermost first: each session's goodbye travels through the
	 * hops outside it. */
	for (guint i = x->hops ? x->hops->len : 0; i-- > 0;) {
		struct xport_hop *h = x->hops->pdata[i];
		libssh2_session_set_timeout(h->session, 2000);
		hop_free(h);
	}
	if (x->hops)
		g_ptr_array_free(x->hops, TRUE);
	x->hops = NULL;
	if (x->sock >= 0) {
		close(x->sock);
		x->sock = -1;
	}
	chan_close(&x->pipe);	/* before its child is stopped: EOF */
	g_strfreev(x->exec_argv);
	x->exec_argv = NULL;
	for (int i = 0; i < x->nmux; i++)
		close(x->mux_ctl[i]);	/* the master ends those sessions */
	x->nmux = 0;
	g_clear_pointer(&x->mux_path, g_free);
	g_clear_pointer(&x->sftp_server, g_free);
	if (x->proxy_pid > 0) {
		/* it should exit on EOF already */
		xport_stop_child(x->proxy_pid, "ProxyCommand");
		x->proxy_pid = 0;
	}
	g_clear_pointer(&x->last_rx, g_free);
}

void xport_init(struct xport *x)
{
	memset(x, 0, sizeof(*x));
	x->sock = -1;
	x->pipe = (struct chan)CHAN_NONE;
}
