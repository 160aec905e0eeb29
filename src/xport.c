/* xport: TCP connect, SSH handshake, host key check. Auth is in auth.c. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rfs/xport.h"
#include "rfs/khosts.h"
#include "rfs/loop.h"
#include "rfs/log.h"
#include "rfs/util.h"

#define DEFAULT_CONNECT_TIMEOUT 30	/* s, when ConnectTimeout is unset */

static int connect_timeout_ms(const struct conf *c)
{
	return (c->connect_timeout > 0 ? c->connect_timeout
				       : DEFAULT_CONNECT_TIMEOUT) * 1000;
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
static int tcp_connect(const struct conf *c, GError **err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res, *ai;
	char port[16];
	int rc, fd = -1, last = 0;

	hints.ai_family = c->address_family == CONF_AF_INET ? AF_INET :
			  c->address_family == CONF_AF_INET6 ? AF_INET6 :
			  AF_UNSPEC;
	snprintf(port, sizeof(port), "%d", c->port);
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
			      c->port, g_strerror(-last));
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
			if (strcmp(lists[l]->pdata[i], "none"))
				g_ptr_array_add(a, g_strdup(lists[l]->pdata[i]));
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

static const char *keyhost(const struct conf *c)
{
	return c->host_key_alias ? c->host_key_alias : c->hostname;
}

/* Offer the key types already known for this host first, as OpenSSH does:
 * otherwise libssh2 may pick ECDSA and report a known ed25519 host as new. */
static void set_hostkey_prefs(LIBSSH2_SESSION *s, const struct conf *c)
{
	char **files = known_hosts_files(c);
	char **known = khosts_known_types((const char *const *)files,
					  keyhost(c), c->port);
	GString *pref = g_string_new(NULL);

	if (c->host_key_algorithms) {
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
	if (c->port == 22)
		return g_strdup(keyhost(c));
	return g_strdup_printf("[%s]:%d", keyhost(c), c->port);
}

static int ask_yes_no(const char *question)
{
	for (;;) {
		char *a = auth_prompt(question, 1);
		int r;

		if (!a)
			return -1;
		r = !g_ascii_strcasecmp(a, "yes") ? 1 :
		    !g_ascii_strcasecmp(a, "no") ? 0 : 2;
		auth_secret_free(a);
		if (r != 2)
			return r;
		question = "Please type 'yes' or 'no': ";
	}
}

static int add_known(const struct conf *c, const unsigned char *key,
		     size_t len, const char *label, const char *fp,
		     const char *type, GError **err)
{
	const char *file = c->user_known_hosts->len &&
			   strcmp(c->user_known_hosts->pdata[0], "none") ?
			   c->user_known_hosts->pdata[0] : NULL;
	GError *e = NULL;

	if (!file || khosts_add(file, keyhost(c), c->port, key, len,
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

static int check_hostkey(LIBSSH2_SESSION *s, const struct conf *c,
			 const struct xport_opts *o, GError **err)
{
	size_t len = 0;
	int ktype;
	const unsigned char *key = (const unsigned char *)
		libssh2_session_hostkey(s, &len, &ktype);
	char **files = NULL, *fp = NULL, *type = NULL, *label = NULL;
	struct khosts_check chk = { 0 };
	GError *e = NULL;
	int rc = -1, ans;

	if (!key) {
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "server sent no host key");
		return -1;
	}
	files = known_hosts_files(c);
	fp = khosts_fingerprint(key, len);
	type = khosts_key_type(key, len);
	label = host_label(c);
	if (khosts_check((const char *const *)files, keyhost(c), c->port,
			 key, len, &chk, &e)) {
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "%s", e->message);
		g_clear_error(&e);
		goto out;
	}
	switch (chk.result) {
	case KHOSTS_MATCH:
		log_debug("host key %s %s found in %s:%u", type_label(type), fp,
			  chk.file, chk.line);
		rc = 0;
		break;
	case KHOSTS_REVOKED:
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "the %s host key %s of %s "
			      "is REVOKED in %s:%u", type_label(type), fp,
			      label, chk.file, chk.line);
		break;
	case KHOSTS_MISMATCH:
		if (c->strict_host_key_checking == CONF_SHKC_NO) {
			log_err("WARNING: HOST KEY MISMATCH for %s: %s:%u has a "
				"different %s key (offered %s); continuing "
				"because StrictHostKeyChecking=no", label,
				chk.file, chk.line, type_label(type), fp);
			rc = 0;
			break;
		}
		rfs_set_error(err, RFS_EXIT_HOSTKEY, "HOST KEY MISMATCH for %s: "
			      "%s:%u has a different %s key (offered %s); "
			      "someone may be intercepting the connection",
			      label, chk.file, chk.line, type_label(type), fp);
		break;
	case KHOSTS_NOTFOUND:
		switch (c->strict_host_key_checking) {
		case CONF_SHKC_YES:
			rfs_set_error(err, RFS_EXIT_HOSTKEY, "host key for %s "
				      "is not known (%s %s) and "
				      "StrictHostKeyChecking is yes", label,
				      type_label(type), fp);
			goto out;
		case CONF_SHKC_NO:
		case CONF_SHKC_ACCEPT_NEW:
			rc = add_known(c, key, len, label, fp, type, err);
			goto out;
		}
		if (o->interactive) {
			char *q = g_strdup_printf(
				"The authenticity of host '%s' can't be "
				"established.\n%s key fingerprint is %s.\n"
				"Are you sure you want to continue connecting "
				"(yes/no)? ", label, type_label(type), fp);
			ans = ask_yes_no(q);
			g_free(q);
		} else {
			ans = -1;
		}
		if (ans == 1) {
			rc = add_known(c, key, len, label, fp, type, err);
		} else {
			rfs_set_error(err, RFS_EXIT_HOSTKEY, "host key for %s is "
				      "not known (%s %s)%s", label,
				      type_label(type), fp, ans < 0 ?
				      " and there is no terminal to ask on" :
				      " and was not accepted");
		}
		break;
	}
out:
	khosts_check_clear(&chk);
	g_strfreev(files);
	g_free(fp);
	g_free(type);
	g_free(label);
	return rc;
}

int xport_connect(const struct conf *c, const struct xport_opts *o,
		  struct xport *x, GError **err)
{
	LIBSSH2_SESSION *s;
	int fd;

	memset(x, 0, sizeof(*x));
	x->sock = -1;
	fd = tcp_connect(c, err);
	if (fd < 0)
		return -1;
	s = libssh2_session_init();
	if (!s) {
		close(fd);
		rfs_set_error(err, RFS_EXIT_CONNECT, "cannot start an SSH "
			      "session");
		return -1;
	}
	x->session = s;
	x->sock = fd;
	libssh2_session_set_blocking(s, 1);
	libssh2_session_set_timeout(s, connect_timeout_ms(c));
	if (c->compression > 0)
		libssh2_session_flag(s, LIBSSH2_FLAG_COMPRESS, 1);
	set_hostkey_prefs(s, c);
	if (c->ciphers) {
		libssh2_session_method_pref(s, LIBSSH2_METHOD_CRYPT_CS,
					    c->ciphers);
		libssh2_session_method_pref(s, LIBSSH2_METHOD_CRYPT_SC,
					    c->ciphers);
	}
	if (c->macs) {
		libssh2_session_method_pref(s, LIBSSH2_METHOD_MAC_CS, c->macs);
		libssh2_session_method_pref(s, LIBSSH2_METHOD_MAC_SC, c->macs);
	}
	if (c->kex_algorithms)
		libssh2_session_method_pref(s, LIBSSH2_METHOD_KEX,
					    c->kex_algorithms);
	if (libssh2_session_handshake(s, fd)) {
		char *m = NULL;

		libssh2_session_last_error(s, &m, NULL, 0);
		rfs_set_error(err, RFS_EXIT_CONNECT, "SSH handshake with %s "
			      "port %d failed: %s", c->hostname, c->port,
			      m ? m : "unknown error");
		xport_close(x);
		return -1;
	}
	log_debug("connected to %s port %d, cipher %s", c->hostname, c->port,
		  libssh2_session_methods(s, LIBSSH2_METHOD_CRYPT_CS));
	if (check_hostkey(s, c, o, err) || auth_run(s, c, o, err)) {
		xport_close(x);
		return -1;
	}
	return 0;
}

void xport_close(struct xport *x)
{
	if (x->session) {
		libssh2_session_disconnect(x->session, "rfs closing");
		libssh2_session_free(x->session);
		x->session = NULL;
	}
	if (x->sock >= 0) {
		close(x->sock);
		x->sock = -1;
	}
}
