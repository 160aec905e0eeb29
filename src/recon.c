/* recon: rebuild a lost connection without prompting. */
#include <glib.h>

#include "rfs/recon.h"
#include "rfs/log.h"
#include "rfs/xport.h"

struct recon {
	const struct conf *conf;
	const char *config_file;
	struct xport_pins *pins;	/* each hop's key at mount time, and
					 * password (reconnect_password) */
	int64_t attempts;
};

struct recon *recon_new(const struct conf *conf, const char *config_file,
			struct xport_pins *pins)
{
	struct recon *r = g_new0(struct recon, 1);

	r->conf = conf;
	r->config_file = config_file;
	r->pins = pins;
	pins->use = 1;
	return r;
}

void recon_forget_password(struct recon *r)
{
	xport_pins_forget_passwords(r->pins);
}

void recon_free(struct recon *r)
{
	if (!r)
		return;
	xport_pins_free(r->pins);
	g_free(r);
}

int recon_connect(void *data, struct xport *x, char **why)
{
	struct recon *r = data;
	/* No terminal after daemonizing: never prompt, never ask about a
	 * host key; a key that changed since mount time is refused, on
	 * every hop. */
	struct xport_opts o = { .password_stdin = 0, .interactive = 0,
				.pins = r->pins };
	GError *e = NULL;

	r->attempts++;
	log_info("reconnecting to %s port %d", r->conf->hostname,
		 r->conf->port);
	o.config_file = r->config_file;
	if (xport_connect(r->conf, &o, x, &e)) {
		*why = g_strdup(e->message);
		g_error_free(e);
		return -1;
	}
	return 0;
}
