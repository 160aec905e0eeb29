/* recon: the link manager. Rebuilds a lost connection without
 * prompting (struct recon), and for each sftp_conn: the reconnect
 * supervisor with backoff, the liveness watchdog (probes, dead timeout,
 * suspend detection), the rtnetlink listener and the pool of connections
 * (-o max_conns). Moved out of sftp.c, whose internals it shares through
 * sftp_int.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <glib.h>

#include "rfs/recon.h"
#include "rfs/log.h"
#include "rfs/xport.h"
#include "rfs/util.h"
#include "sftp_int.h"

struct recon {
	const struct conf *conf;
	struct xport_opts o;	/* the mount's transport and -F; no prompts */
	struct xport_pins *pins;	/* each hop's key at mount time, and
					 * password (reconnect_password) */
};

struct recon *recon_new(const struct conf *conf,
			const struct xport_opts *mount,
			struct xport_pins *pins)
{
	struct recon *r = g_new0(struct recon, 1);

	r->conf = conf;
	r->o.transport = mount->transport;
	r->o.ssh_command = mount->ssh_command;
	r->o.sftp_server = mount->sftp_server;
	r->o.directport = mount->directport;
	r->o.ssh_opts = mount->ssh_opts;
	r->o.passive_in = r->o.passive_out = -1;	/* gone with the first */
	r->o.config_file = mount->config_file;
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
	struct xport_opts o = r->o;
	GError *e = NULL;

	o.pins = r->pins;
	log_info("reconnecting to %s port %d", r->conf->hostname,
		 r->conf->port);
	if (xport_connect(r->conf, &o, x, &e)) {
		*why = g_strdup(e->message);
		g_error_free(e);
		return -1;
	}
	return 0;
}

/* ---- the link of each sftp_conn (I/O thread unless noted) ---- */

/* Which connection of c's (-o max_conns) takes the next file. */
struct sftp_conn *recon_pick_conn(struct sftp_conn *c)
{
	unsigned n, start;

	if (c->primary)
		c = c->primary;
	n = c->nall;
	if (n < 2)
		return c;
	/* From the second: the first carries the path requests, which then
	 * do not queue behind the data of the first file opened. One that
	 * is down is passed over while another is up. */
	start = __atomic_fetch_add(&c->rr, 1, __ATOMIC_RELAXED) + 1;
	for (unsigned i = 0; i < n; i++) {
		struct sftp_conn *k = c->all[(start + i) % n];

		if (sftp_conn_alive(k))
			return k;
	}
	return c->all[start % n];
}

/* Tell link_cb when the link turns unusable (down, or a probe is
 * unanswered) or usable again. With max_conns, the first connection's:
 * it carries the metadata that cached entries stand in for; a file on
 * another one waits for its own connection. I/O thread. */
static void report_link(struct sftp_conn *c, int usable)
{
	if (usable == c->usable)
		return;
	c->usable = usable;
	if (!c->primary && c->link_cb)
		c->link_cb(c->link_data, usable);
}

static long on_reconnect(struct loop *l, long long id, void *data);
static long on_expire(struct loop *l, long long id, void *data);

/* Can q be sent again on a new connection, its outcome unknown? Path
 * requests can (the callback learns r->replayed and judges an ENOENT
 * or EEXIST that the first attempt may have caused); so can requests on
 * a file that is reopened after the reconnect: reads, stats, writes at an
 * explicit offset. Not: our own start-up requests, handles that die with
 * their connection, appends (the data could land twice), copy-data. */
#define REPLAY_MAX 3	/* losses a request in flight may see */

static int replayable(const struct sftp_req *q)
{
	/* in flight at every one of several losses: it may be what breaks
	 * the link (a server that chokes on it), so it fails with EIO */
	if (q->internal || q->no_replay || q->losses >= REPLAY_MAX)
		return 0;
	if (q->file && !q->file->path)
		return 0;
	return 1;
}

static gint by_seq(gconstpointer a, gconstpointer b)
{
	const struct sftp_req *x = *(struct sftp_req *const *)a;
	const struct sftp_req *y = *(struct sftp_req *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The connection is lost (or we drop it). With a reconnect to come,
 * requests in flight that can be sent again go back to the head of the
 * queue in the order they were sent, followed by those held for a reopen
 * and those not sent yet; they wait up to reconnect_timeout. The rest
 * fail with EIO: their outcome is unknown. Without a reconnect everything
 * fails now. */
void recon_conn_fail(struct sftp_conn *c, const char *why)
{
	GQueue failed = G_QUEUE_INIT, again = G_QUEUE_INIT, lost = G_QUEUE_INIT;
	GPtrArray *sent;
	GHashTableIter it;
	gpointer v;
	int64_t now = loop_now_ms();
	int st = sftp_get_state(c);

	if (st == CONN_DOWN || st == CONN_CLOSED)
		return;
	log_err("connection lost: %s", why);
	sent = g_ptr_array_new();
	for (int i = 0; i < NLANES; i++) {
		GHashTable *pending = c->lanes[i].pending;

		g_hash_table_iter_init(&it, pending);
		while (g_hash_table_iter_next(&it, NULL, &v))
			g_ptr_array_add(sent, v);
		g_hash_table_steal_all(pending);
	}
	g_ptr_array_sort(sent, by_seq);
	pthread_mutex_lock(&c->lock);
	sftp_set_state_locked(c, c->reconnect ? CONN_DOWN : CONN_CLOSED);
	st = c->state;
	for (guint i = 0; i < sent->len; i++) {
		struct sftp_req *q = sent->pdata[i];

		q->losses++;
		if (st == CONN_DOWN && replayable(q)) {
			c->replays++;
			q->replayed = 1;
			q->sent_ms = now;	/* waits from now on */
			/* An EXCL OPEN goes again as it was: if the name
			 * exists now, nobody can say who made it (fs.c,
			 * unknown_create). */
			g_queue_push_tail(&again, q);
		} else {
			c->lost++;
			g_queue_push_tail(&lost, q);
		}
	}
	while ((v = g_queue_pop_head(&c->held)))
		g_queue_push_tail(st == CONN_DOWN ? &again : &failed, v);
	while ((v = g_queue_pop_head(&c->incoming)))
		g_queue_push_tail(st == CONN_DOWN ? &again : &failed, v);
	c->incoming = again;
	c->reopening = 0;
	pthread_mutex_unlock(&c->lock);
	g_ptr_array_free(sent, TRUE);
	sftp_exec_abort(c);	/* never run twice: lost */
	sftp_drop_session(c, 0);
	report_link(c, 0);
	while ((v = g_queue_pop_head(&lost)))
		sftp_req_lost(v);
	if (st == CONN_DOWN) {
		if (!c->down_since)
			c->down_since = now;
		loop_add_timer(c->loop, 0, on_reconnect, c);
		if (!c->expire_timer)
			c->expire_timer = loop_add_timer(c->loop, 250,
							 on_expire, c);
	}
	sftp_fail_queue(&failed, -EIO);
}

static int64_t recon_boottime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t oldest_pending(struct sftp_conn *c)
{
	GHashTableIter it;
	gpointer v;
	int64_t oldest = sftp_exec_oldest(c);

	for (int i = 0; i < c->nlanes; i++) {
		g_hash_table_iter_init(&it, c->lanes[i].pending);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			struct sftp_req *q = v;

			if (!oldest || q->sent_ms < oldest)
				oldest = q->sent_ms;
		}
	}
	return oldest;
}

/* Every 500 ms: is the link alive? Bytes of any kind arriving on the
 * socket say so (SSH keepalive replies come from sshd itself, even while
 * sftp-server is busy with a long request). A request unanswered for
 * probe_ms on a link silent as long sends a keepalive; waiting dead_ms
 * with nothing at all arriving drops the connection (and reconnects). A
 * suspend (boot time jumping ahead of monotonic time) probes at once. */
/* An SSH keepalive wanting a reply: any answer proves the link alive;
 * recon_on_watch() drops it if none comes within dead_ms. */
static void probe_now(struct sftp_conn *c)
{
	int next;

	if (c->session) {
		libssh2_keepalive_send(c->session, &next);
	} else {
		/* No SSH session of ours (a transport of fds): a cheap SFTP
		 * request instead; its answer is bytes arriving too. */
		struct sftp_req *q = sftp_req_new(SSH_FXP_REALPATH,
						  SSH_FXP_NAME, 8);

		buf_put_cstring(&q->pkt, ".");
		q->internal = 1;
		sftp_submit(c, q, sftp_ignore_reply, NULL);
	}
	c->probe_sent = loop_now_ms();
	report_link(c, 0);	/* suspect until an answer */
	sftp_pump(c);		/* send it now */
}

static long recon_on_watch(struct loop *l, long long id, void *data)
{
	struct sftp_conn *c = data;
	int64_t now = loop_now_ms(), boot = recon_boottime_ms();
	int64_t rx, oldest, waiting = 0;
	int resumed;

	(void)l; (void)id;
	resumed = (boot - c->boot0) - (now - c->mono0) > 2000;
	c->mono0 = now;
	c->boot0 = boot;
	if (!c->linked || sftp_get_state(c) == CONN_DOWN)
		return 500;
	rx = xport_last_rx(&c->x);
	report_link(c, !(c->probe_sent > rx));
	oldest = oldest_pending(c);
	if (oldest)
		waiting = oldest;
	if (c->probe_sent > rx)
		waiting = waiting ? MIN(waiting, c->probe_sent) : c->probe_sent;
	if (waiting && now - MAX(rx, waiting) >= c->dead_ms) {
		char why[96];

		snprintf(why, sizeof(why), "no answer from the server for "
			 "%lld s", (long long)(now - MAX(rx, waiting)) / 1000);
		recon_conn_fail(c, why);
		return 500;
	}
	if ((resumed || (oldest && now - oldest >= c->probe_ms &&
			 now - rx >= c->probe_ms) ||
	     (c->alive_ms && now - rx >= c->alive_ms)) &&
	    now - c->probe_sent >= 1000) {
		if (resumed)
			log_info("clock jump (suspend?): probing the link");
		probe_now(c);
	}
	return 500;
}

/* Is the address an RTM_DELADDR message names the local end of our
 * socket? Then the connection cannot survive. */
static int addr_is_ours(struct sftp_conn *c, struct nlmsghdr *nh)
{
	struct ifaddrmsg *ifa = NLMSG_DATA(nh);
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);
	unsigned int len = (unsigned int)IFA_PAYLOAD(nh);

	if (c->sock < 0 || getsockname(c->sock, (struct sockaddr *)&ss, &sl) ||
	    ss.ss_family != ifa->ifa_family)
		return 0;
	for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		const void *mine;
		size_t n;

		if (a->rta_type != IFA_LOCAL && a->rta_type != IFA_ADDRESS)
			continue;
		if (ss.ss_family == AF_INET) {
			mine = &((struct sockaddr_in *)&ss)->sin_addr;
			n = 4;
		} else {
			mine = &((struct sockaddr_in6 *)&ss)->sin6_addr;
			n = 16;
		}
		if (RTA_PAYLOAD(a) == n && !memcmp(RTA_DATA(a), mine, n))
			return 1;
	}
	return 0;
}

/* The machine's addresses changed (another network, a VPN, DHCP): probe
 * the link at once instead of waiting for a request to time out; if the
 * connection's own local address went away, drop it now. */
static void recon_on_netlink(struct loop *l, int fd, int events, void *data)
{
	struct sftp_conn *c = data;
	char buf[8192];
	int changed = 0, ours = 0;
	ssize_t n;

	(void)l; (void)events;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		unsigned int len = (unsigned int)n;

		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf;
		     NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type != RTM_NEWADDR &&
			    nh->nlmsg_type != RTM_DELADDR)
				continue;
			changed = 1;
			if (nh->nlmsg_type == RTM_DELADDR && addr_is_ours(c, nh))
				ours = 1;
		}
	}
	if (!changed || !c->linked || sftp_get_state(c) != CONN_UP)
		return;
	if (ours) {
		recon_conn_fail(c, "the connection's local address went away");
		return;
	}
	log_info("local addresses changed: probing the link");
	probe_now(c);
}

static int recon_netlink_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			NETLINK_ROUTE);

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The watchdog (every 500 ms) and the rtnetlink listener (best effort:
 * probes come anyway), with the default liveness. Before the loop runs. */
void recon_watch_start(struct sftp_conn *c)
{
	c->probe_ms = 5000;
	c->dead_ms = 15000;
	c->mono0 = loop_now_ms();
	c->boot0 = recon_boottime_ms();
	loop_add_timer(c->loop, 500, recon_on_watch, c);
	c->nl_fd = recon_netlink_open();
	if (c->nl_fd >= 0)
		loop_add_fd(c->loop, c->nl_fd, LOOP_READ, recon_on_netlink, c);
}

/* Close the listener. After the loop stopped. */
void recon_watch_stop(struct sftp_conn *c)
{
	if (c->nl_fd >= 0) {
		loop_del_fd(c->loop, c->nl_fd);
		close(c->nl_fd);
		c->nl_fd = -1;
	}
}

void sftp_conn_set_link_cb(struct sftp_conn *c,
			   void (*cb)(void *data, int usable), void *data)
{
	c->link_cb = cb;
	c->link_data = data;
}

void sftp_conn_set_liveness(struct sftp_conn *c, int probe_ms, int dead_ms,
			    int alive_ms)
{
	for (unsigned i = 1; i < c->nall; i++)
		sftp_conn_set_liveness(c->all[i], probe_ms, dead_ms, alive_ms);
	c->probe_ms = probe_ms;
	c->dead_ms = dead_ms;
	c->alive_ms = alive_ms;
	xport_set_user_timeout(&c->x, dead_ms);
}

/* ---- reconnect (I/O thread) ---- */

static long backoff_ms(int attempt)
{
	long ms = 250L << MIN(attempt, 7);	/* 250 ms .. 32 s */

	ms = MIN(ms, 30000L);
	return ms / 2 + g_random_int_range(0, (gint32)(ms / 2) + 1);
}

static void reinit_done(struct sftp_reply *r, void *data)
{
	struct sftp_conn *c = data;

	if (r->err) {
		recon_conn_fail(c, "SFTP start-up failed after reconnect");
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->offline = 0;
	sftp_set_state_locked(c, CONN_UP);
	pthread_mutex_unlock(&c->lock);
	STATS_ADD(c, reconnects, 1);
	log_err("reconnected after %lld ms (%d attempt%s); %u request%s in "
		"flight sent again, %u failed", (long long)(loop_now_ms() -
		c->down_since), c->attempts + 1, c->attempts ? "s" : "",
		c->replays, c->replays == 1 ? "" : "s", c->lost);
	c->replays = c->lost = 0;
	c->attempts = 0;
	c->down_since = 0;
	report_link(c, 1);
}

/* A reconnect attempt runs on a thread of its own: TCP connect, DNS,
 * handshake and authentication block, and the I/O thread must go on
 * expiring waiting requests and answering unmount meanwhile. The job is
 * shared: the conn may be freed while the attempt is still blocked. */
struct recon_job {
	pthread_mutex_t lock;	/* guards everything below */
	int refs;		/* the conn's and the thread's */
	struct sftp_conn *c;	/* NULL once the conn is gone */
	sftp_connect_cb connect;
	void *connect_data;
	int done, ok;
	struct xport x;
	struct chan ch[NLANES];
	int nch;
	char *why;
};

static void job_unref(struct recon_job *j)
{
	int last;

	pthread_mutex_lock(&j->lock);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (!last)
		return;
	for (int i = 0; i < j->nch; i++)
		chan_close(&j->ch[i]);
	xport_close(&j->x);	/* unless installed (then zeroed) */
	g_free(j->why);
	pthread_mutex_destroy(&j->lock);
	g_free(j);
}

/* The conn goes while an attempt is still blocked: let it clean up alone. */
void recon_abandon(struct sftp_conn *c)
{
	if (c->job) {
		pthread_mutex_lock(&c->job->lock);
		c->job->c = NULL;
		pthread_mutex_unlock(&c->job->lock);
		job_unref(c->job);
		c->job = NULL;
	}
}

/* Attempts whose thread still runs (they outlive their conn). */
static int jobs_running;

int sftp_jobs_wait(int ms)
{
	int64_t end = g_get_monotonic_time() + (int64_t)ms * 1000;

	while (g_atomic_int_get(&jobs_running) &&
	       g_get_monotonic_time() < end)
		g_usleep(10000);
	return g_atomic_int_get(&jobs_running);
}

static void *recon_thread(void *data)
{
	struct recon_job *j = data;
	GError *e = NULL;
	char *why = NULL;
	struct xport x;
	struct chan ch[NLANES];
	int n = 0, ok = j->connect(j->connect_data, &x, &why) == 0;

	if (ok && !(n = sftp_open_lanes(&x, ch, &e))) {
		why = g_strdup(e->message);
		g_clear_error(&e);
		xport_close(&x);
		ok = 0;
	}
	pthread_mutex_lock(&j->lock);
	j->done = 1;
	j->ok = ok;
	if (ok) {
		j->x = x;
		memcpy(j->ch, ch, sizeof(ch));
		j->nch = n;
	}
	j->why = why;
	if (j->c)
		loop_wake(j->c->loop);
	pthread_mutex_unlock(&j->lock);
	job_unref(j);
	g_atomic_int_add(&jobs_running, -1);
	return NULL;
}

static long on_reconnect(struct loop *l, long long id, void *data)
{
	struct sftp_conn *c = data;
	struct recon_job *j;
	pthread_t t;

	(void)l; (void)id;
	if (sftp_get_state(c) != CONN_DOWN || c->job)
		return LOOP_TIMER_STOP;
	j = g_new0(struct recon_job, 1);
	pthread_mutex_init(&j->lock, NULL);
	j->refs = 2;
	j->c = c;
	j->connect = c->reconnect;
	j->connect_data = c->reconnect_data;
	xport_init(&j->x);
	c->job = j;
	g_atomic_int_inc(&jobs_running);
	if (pthread_create(&t, NULL, recon_thread, j)) {
		g_atomic_int_add(&jobs_running, -1);
		c->job = NULL;
		j->refs = 1;
		job_unref(j);
		return backoff_ms(++c->attempts);
	}
	pthread_detach(t);
	return LOOP_TIMER_STOP;
}

/* A finished attempt: install the new connection or try again later. */
void recon_check(struct sftp_conn *c)
{
	struct recon_job *j = c->job;
	int done;

	pthread_mutex_lock(&j->lock);
	done = j->done;
	pthread_mutex_unlock(&j->lock);
	if (!done)
		return;
	c->job = NULL;
	if (j->ok && sftp_get_state(c) == CONN_DOWN) {
		c->x = j->x;
		xport_init(&j->x);
		sftp_install(c, j->ch, j->nch, reinit_done, c);
		j->nch = 0;
	} else {
		log_err("reconnect failed: %s",
			 j->why ? j->why : "unknown error");
		loop_add_timer(c->loop, backoff_ms(++c->attempts),
			       on_reconnect, c);
	}
	job_unref(j);
}

/* While the link is down: once it has been down for reconnect_timeout,
 * fail what waits, and from then on fail new requests at once, until it
 * is back. A request thus waits at most reconnect_timeout after the loss
 * was detected (and a retry by the kernel does not wait again). */
static long on_expire(struct loop *l, long long id, void *data)
{
	struct sftp_conn *c = data;
	GQueue failed = G_QUEUE_INIT;
	int over = loop_now_ms() - c->down_since >= c->reconnect_timeout_ms;
	int up;

	(void)l; (void)id;
	pthread_mutex_lock(&c->lock);
	up = c->state == CONN_UP;
	if (!up && over) {
		if (!c->offline) {
			log_err("link down for %d s: operations fail with EIO "
				"until it is back",
				c->reconnect_timeout_ms / 1000);
			sftp_state_changed(c);
		}
		c->offline = 1;
		failed = c->incoming;
		g_queue_init(&c->incoming);
	}
	pthread_mutex_unlock(&c->lock);
	sftp_fail_queue(&failed, -EIO);
	if (up) {
		c->expire_timer = 0;
		return LOOP_TIMER_STOP;
	}
	return 250;
}

void sftp_conn_set_reconnect(struct sftp_conn *c, sftp_connect_cb cb,
			     void *data, int timeout_ms)
{
	for (unsigned i = 1; i < c->nall; i++)
		sftp_conn_set_reconnect(c->all[i], cb, data, timeout_ms);
	c->reconnect = cb;
	c->reconnect_data = data;
	c->reconnect_timeout_ms = timeout_ms;
}

/* Open n more connections like c (-o max_conns): cb makes each, as a
 * reconnect does. Before sftp_conn_start(), after the setters. */
int sftp_conn_add(struct sftp_conn *c, unsigned n, sftp_connect_cb cb,
		  void *data, int timeout_ms, GError **err)
{
	c->all = g_new0(struct sftp_conn *, n + 1);
	c->all[0] = c;
	c->nall = 1;
	for (unsigned i = 0; i < n; i++) {
		struct xport x;
		char *why = NULL;
		struct sftp_conn *k;

		if (cb(data, &x, &why)) {
			rfs_set_error(err, RFS_EXIT_CONNECT, "connection %u of "
				      "%u (max_conns): %s", i + 2, n + 1, why);
			g_free(why);
			return -1;
		}
		k = sftp_conn_new(&x, timeout_ms, err);
		if (!k)
			return -1;
		k->primary = c;
		sftp_conn_set_reconnect(k, c->reconnect, c->reconnect_data,
					c->reconnect_timeout_ms);
		sftp_conn_set_liveness(k, c->probe_ms, c->dead_ms, c->alive_ms);
		c->all[c->nall++] = k;
	}
	return 0;
}
