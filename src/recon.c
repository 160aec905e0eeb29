/* recon: rebuild a lost connection without prompting. */
#include <glib.h>

#include "rfs/recon.h"
#include "rfs/log.h"
#include "rfs/xport.h"

struct recon {
	const struct conf *conf;
	const char *config_file;
	GBytes *host_key;	/* the destination's, at mount time */
	char *password;		/* reconnect_password (locked memory) */
	int64_t attempts;
};

struct recon *recon_new(const struct conf *conf, const char *config_file,
			GBytes *host_key, char *password)
{
	struct recon *r = g_new0(struct recon, 1);

	r->conf = conf;
	r->config_file = config_file;
	r->host_key = host_key;
	r->password = password;
	return r;
}

void recon_forget_password(struct recon *r)
{
	auth_secret_free(r->password);
	r->password = NULL;
}

void recon_free(struct recon *r)
{
	if (!r)
		return;
	if (r->host_key)
		g_bytes_unref(r->host_key);
	auth_secret_free(r->password);
	g_free(r);
}

int recon_connect(void *data, struct xport *x, char **why)
{
	struct recon *r = data;
	/* No terminal after daemonizing: never prompt, never ask about a
	 * host key; a key that changed since mount time is refused. */
	struct xport_opts o = { .password_stdin = 0, .interactive = 0 };
	GError *e = NULL;

	r->attempts++;
	log_info("reconnecting to %s port %d", r->conf->hostname,
		 r->conf->port);
	o.config_file = r->config_file;
	if (r->host_key)
		o.pin_key = g_bytes_get_data(r->host_key, &o.pin_len);
	o.password = r->password;
	if (xport_connect(r->conf, &o, x, &e)) {
		*why = g_strdup(e->message);
		g_error_free(e);
		return -1;
	}
	return 0;
}
