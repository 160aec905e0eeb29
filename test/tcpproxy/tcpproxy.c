/*
 * tcpproxy: a loopback TCP relay with injectable latency and faults, for
 * rfs's integration tests (the kernel here has no netem).
 *
 *   tcpproxy --listen 127.0.0.1:0 --target 127.0.0.1:PORT \
 *            --control /path/ctl.sock [--delay-ms N] [--verbose]
 *
 * Prints "port N" on stdout once it listens, then runs until SIGTERM.
 * Control: each connection to the unix socket sends one line and gets one
 * line back, "ok ..." or "error ...":
 *
 *   delay MS      one-way delay in each direction, new and open connections
 *   cut           reset every open connection (RST to both peers)
 *   blackhole     stop reading and writing everywhere, keep sockets open;
 *                 new connections are accepted, the target is not dialled
 *   drop-replies  relay client->server, read and discard server->client
 *   refuse        close the listening socket (new connects: ECONNREFUSED)
 *   restore       undo blackhole, drop-replies and refuse (delay is kept)
 *   target PORT   dial this port (same address) for new connections
 *   stats         ok conns=N bytes_up=N bytes_down=N accepted=N dropped=N
 *                 delay_ms=N  (conns: open now; bytes: delivered to the
 *                 destination; dropped: server bytes discarded)
 *
 * Single-threaded. One epoll set holds the listening socket, the control
 * socket, a signalfd and, per relayed connection, its two sockets and one
 * timerfd per direction. A direction is a FIFO of chunks, each stamped
 * with its release time (arrival + delay) and written in order once due;
 * at delay 0 with nothing queued a read goes straight out. A direction
 * holding MAX_INFLIGHT bytes stops reading its source: back-pressure, and
 * memory bounded per connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE	(256 * 1024)	/* bytes per recv(2) */
#define READS_PER_EVENT	8		/* then let other sockets run */
/* Bytes queued per direction; beyond it the source is not read. */
#define MAX_INFLIGHT	(64u * 1024 * 1024)
/* Bytes charged per chunk beyond its data: tiny chunks cannot pile up. */
#define CHUNK_COST	64
#define MAX_DELAY_MS	600000u
#define CTL_LINE_MAX	128
#define MAX_EVENTS	64
#define NS_PER_MS	1000000ull
#define NS_PER_S	1000000000ull

/* What an epoll registration points at: the first member of its owner. */
enum kind { K_LISTEN, K_CTL_LISTEN, K_CTL, K_SIGNAL, K_SOCK, K_TIMER };
struct handle {
	enum kind kind;
};

struct chunk {
	struct chunk *next;
	uint64_t release;	/* CLOCK_MONOTONIC ns */
	size_t len, off;	/* len 0: the source's FIN, passed on in turn */
	char data[];
};

struct conn;

/* One socket of a relayed connection. */
struct side {
	struct handle h;	/* K_SOCK */
	struct conn *conn;
	int fd;			/* -1 before the target is dialled */
	uint32_t events;	/* registered interest; 0: not in the set, so
				 * an idle socket's HUP cannot wake us */
};

/* One direction: src is read, dst written. */
struct dir {
	struct handle h;	/* K_TIMER */
	struct conn *conn;
	struct side *src, *dst;
	int tfd;		/* fires at head->release */
	struct chunk *head, *tail;
	size_t queued;		/* data + CHUNK_COST per chunk */
	uint64_t armed;		/* release time tfd is set to; 0: none */
	unsigned long long *bytes;	/* px counter, bytes sent to dst */
	bool down;		/* server -> client */
	bool eof;		/* src sent FIN: marker queued or discarded */
	bool done;		/* FIN passed on to dst (or discarded) */
	bool blocked;		/* dst send buffer full: await EPOLLOUT */
};

enum conn_state { C_WAIT, C_CONNECTING, C_OPEN };

struct conn {
	struct side cli, srv;
	struct dir up, down;
	enum conn_state state;	/* C_WAIT: accepted while blackholed */
	bool dead;		/* closed; freed after this batch of events */
	unsigned long id;
	struct conn *prev, *next;	/* proxy's open list, or graveyard */
};

struct ctl {
	struct handle h;	/* K_CTL */
	int fd;
	size_t len;
	char line[CTL_LINE_MAX];
};

struct proxy {
	int ep;
	struct handle listen_h, ctl_h, sig_h;
	int listen_fd;		/* -1 while refusing */
	int ctl_fd, sig_fd;
	int spare_fd;		/* freed to accept-and-drop at EMFILE */
	struct sockaddr_storage listen_addr, target;
	socklen_t listen_len, target_len;
	const char *ctl_path;
	uint64_t delay;		/* ns, one way */
	bool blackhole, drop_replies, stop, verbose;
	struct conn *conns;	/* open connections */
	struct conn *graveyard;	/* closed during the current batch */
	unsigned long nconns, accepted;
	unsigned long long bytes_up, bytes_down, dropped;
	char *buf;		/* READ_SIZE bytes, shared by every read */
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("tcpproxy: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void vlog(struct proxy *px, const char *fmt, ...)
{
	va_list ap;

	if (!px->verbose)
		return;
	va_start(ap, fmt);
	fputs("tcpproxy: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Make fd's registered interest `want`; *cur tracks what is registered. */
static void ep_set(struct proxy *px, int fd, uint32_t *cur, uint32_t want,
		   void *ptr)
{
	struct epoll_event ev = { .events = want, .data.ptr = ptr };
	int op;

	if (want == *cur)
		return;
	op = !*cur ? EPOLL_CTL_ADD : want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
	if (epoll_ctl(px->ep, op, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	*cur = want;
}

static void ep_add(struct proxy *px, int fd, void *ptr)
{
	uint32_t cur = 0;

	ep_set(px, fd, &cur, EPOLLIN, ptr);
}

/* ------------------------------------------------------------------ */
/* Addresses */

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) &&
			a->sin6_addr.s6_addr[12] == 127);
	}
	return false;
}

/* "HOST:PORT" or "[V6]:PORT", numeric, loopback only. */
static void parse_addr(const char *opt, const char *s,
		       struct sockaddr_storage *ss, socklen_t *len,
		       bool port0_ok)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct addrinfo *res;
	char host[128];
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hlen;
	char *end;
	unsigned long port;
	int rc;

	if (!colon || colon == s)
		die("%s %s: expected HOST:PORT", opt, s);
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hlen < 2 || s[hlen - 1] != ']')
			die("%s %s: expected [ADDR]:PORT", opt, s);
		h = s + 1;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		die("%s %s: host too long", opt, s);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port > 65535 ||
	    (port == 0 && !port0_ok))
		die("%s %s: bad port", opt, s);
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc)
		die("%s %s: %s (numeric addresses only)", opt, s,
		    gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	if (!is_loopback(ss))
		die("%s %s: only loopback addresses are allowed", opt, s);
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Open the listening socket on listen_addr; afterwards listen_addr holds
 * the port actually bound, so that `restore` reuses it. 0 or -errno. */
static int listen_open(struct proxy *px)
{
	int fd, one = 1, rc;

	fd = socket(px->listen_addr.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Accepted connections keep the port busy (and TIME_WAIT after
	 * them): without SO_REUSEADDR `restore` could not bind again. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&px->listen_addr, px->listen_len) < 0 ||
	    listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&px->listen_addr,
			&px->listen_len) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	px->listen_fd = fd;
	ep_add(px, fd, &px->listen_h);
	return 0;
}

static void listen_close(struct proxy *px)
{
	if (px->listen_fd >= 0)
		close(px->listen_fd);
	px->listen_fd = -1;
}

/* ------------------------------------------------------------------ */
/* Directions */

static void dir_pop(struct dir *d)
{
	struct chunk *k = d->head;

	d->head = k->next;
	if (!d->head)
		d->tail = NULL;
	d->queued -= k->len + CHUNK_COST;
	free(k);
}

static void dir_clear(struct dir *d)
{
	while (d->head)
		dir_pop(d);
	d->blocked = false;
}

/* Queue len bytes (len 0: FIN) to be written at `release`. */
static void dir_enqueue(struct dir *d, const char *p, size_t len,
			uint64_t release)
{
	struct chunk *k = malloc(sizeof(*k) + len);

	if (!k)
		die("out of memory");
	k->next = NULL;
	k->release = release;
	k->len = len;
	k->off = 0;
	if (len)	/* a FIN has no bytes (and p is NULL) */
		memcpy(k->data, p, len);
	if (d->tail)
		d->tail->next = k;
	else
		d->head = k;
	d->tail = k;
	d->queued += len + CHUNK_COST;
}

static bool dir_discards(struct proxy *px, struct dir *d)
{
	return d->down && px->drop_replies;
}

static bool dir_want_read(struct proxy *px, struct dir *d)
{
	return d->conn->state == C_OPEN && !d->conn->dead && !px->blackhole &&
	       !d->eof && d->queued < MAX_INFLIGHT;
}

static void conn_abort(struct proxy *px, struct conn *c, const char *why,
		       int err);

/* Write every due chunk until dst's buffer fills; a FIN marker becomes
 * shutdown(SHUT_WR). */
static void dir_flush(struct proxy *px, struct dir *d)
{
	struct conn *c = d->conn;
	struct chunk *k;
	uint64_t now;
	ssize_t n;

	if (px->blackhole || d->blocked || c->state != C_OPEN || c->dead)
		return;
	now = now_ns();
	while ((k = d->head) && k->release <= now) {
		if (k->len == 0) {
			/* ENOTCONN after a reset: nothing left to tell. */
			shutdown(d->dst->fd, SHUT_WR);
			d->done = true;
			dir_pop(d);
			continue;
		}
		n = send(d->dst->fd, k->data + k->off, k->len - k->off,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				d->blocked = true;
				return;
			}
			conn_abort(px, c, "send", errno);
			return;
		}
		*d->bytes += (size_t)n;
		k->off += (size_t)n;
		if (k->off < k->len) {
			d->blocked = true;	/* full; spare an EAGAIN */
			return;
		}
		dir_pop(d);
	}
}

/* Straight through when nothing is queued and there is no delay; returns
 * how much of p went out, or -1 after aborting the connection. */
static ssize_t dir_send_now(struct proxy *px, struct dir *d, const char *p,
			    size_t len)
{
	ssize_t n;

	do
		n = send(d->dst->fd, p, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_abort(px, d->conn, "send", errno);
		return -1;
	}
	*d->bytes += (size_t)n;
	return n;
}

static void dir_read(struct proxy *px, struct dir *d)
{
	ssize_t n, w;
	int i;

	for (i = 0; i < READS_PER_EVENT && dir_want_read(px, d); i++) {
		n = recv(d->src->fd, px->buf, READ_SIZE, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			conn_abort(px, d->conn, "recv", errno);
			return;
		}
		if (n == 0) {
			d->eof = true;
			if (dir_discards(px, d))
				d->done = true;
			else
				dir_enqueue(d, NULL, 0, now_ns() + px->delay);
			break;
		}
		if (dir_discards(px, d)) {
			px->dropped += (size_t)n;
			continue;
		}
		if (!d->head && !d->blocked && px->delay == 0) {
			w = dir_send_now(px, d, px->buf, (size_t)n);
			if (w < 0)
				return;
			if (w == n)
				continue;
			d->blocked = true;
			dir_enqueue(d, px->buf + w, (size_t)(n - w), 0);
			continue;
		}
		dir_enqueue(d, px->buf, (size_t)n, now_ns() + px->delay);
	}
	dir_flush(px, d);
}

/* Set the timer for the head chunk unless a write is what we wait for. */
static void dir_arm(struct proxy *px, struct dir *d)
{
	struct itimerspec its = { 0 };
	uint64_t t;

	if (px->blackhole || d->blocked || !d->head)
		return;
	t = d->head->release;
	if (t == d->armed)
		return;
	its.it_value.tv_sec = (time_t)(t / NS_PER_S);
	its.it_value.tv_nsec = (long)(t % NS_PER_S);
	if (timerfd_settime(d->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die("timerfd_settime: %s", strerror(errno));
	d->armed = t;
}

static void dir_init(struct proxy *px, struct conn *c, struct dir *d,
		     struct side *src, struct side *dst, bool down)
{
	d->h.kind = K_TIMER;
	d->conn = c;
	d->src = src;
	d->dst = dst;
	d->down = down;
	d->bytes = down ? &px->bytes_down : &px->bytes_up;
	d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->tfd >= 0)
		ep_add(px, d->tfd, &d->h);
}

/* ------------------------------------------------------------------ */
/* Connections */

static void conn_close(struct proxy *px, struct conn *c, bool rst)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct side *s[2] = { &c->cli, &c->srv };
	struct dir *d[2] = { &c->up, &c->down };
	int i;

	if (c->dead)
		return;
	for (i = 0; i < 2; i++) {
		if (s[i]->fd < 0)
			continue;
		if (rst)	/* linger 0: close sends RST, not FIN */
			setsockopt(s[i]->fd, SOL_SOCKET, SO_LINGER, &lg,
				   sizeof(lg));
		close(s[i]->fd);	/* also leaves the epoll set */
		s[i]->fd = -1;
	}
	for (i = 0; i < 2; i++) {
		if (d[i]->tfd >= 0)
			close(d[i]->tfd);
		d[i]->tfd = -1;
		dir_clear(d[i]);
	}
	vlog(px, "conn %lu closed%s", c->id, rst ? " (reset)" : "");
	if (c->prev)
		c->prev->next = c->next;
	else
		px->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = px->graveyard;
	px->graveyard = c;
	c->dead = true;
	px->nconns--;
}

static void conn_abort(struct proxy *px, struct conn *c, const char *why,
		       int err)
{
	vlog(px, "conn %lu: %s: %s", c->id, why, strerror(err));
	conn_close(px, c, true);
}

/* Register what each socket waits for now, arm the timers, and close the
 * connection once FIN has gone through both ways. */
static void conn_update(struct proxy *px, struct conn *c)
{
	uint32_t cw = 0, sw = 0;

	if (c->dead)
		return;
	if (c->up.done && c->down.done) {
		conn_close(px, c, false);
		return;
	}
	if (c->state == C_CONNECTING) {
		sw = EPOLLOUT;
	} else if (c->state == C_OPEN) {
		if (dir_want_read(px, &c->up))
			cw |= EPOLLIN;
		if (dir_want_read(px, &c->down))
			sw |= EPOLLIN;
		if (!px->blackhole && c->down.blocked)
			cw |= EPOLLOUT;
		if (!px->blackhole && c->up.blocked)
			sw |= EPOLLOUT;
	}
	ep_set(px, c->cli.fd, &c->cli.events, cw, &c->cli.h);
	if (c->srv.fd >= 0)
		ep_set(px, c->srv.fd, &c->srv.events, sw, &c->srv.h);
	dir_arm(px, &c->up);
	dir_arm(px, &c->down);
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* Nagle plus the peer's delayed ACK would add its own 40 ms. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Dial the target (non-blocking); failures reset the client. */
static void conn_connect(struct proxy *px, struct conn *c)
{
	int fd;

	fd = socket(px->target.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_abort(px, c, "socket", errno);
		return;
	}
	c->srv.fd = fd;
	set_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&px->target, px->target_len) == 0)
		c->state = C_OPEN;
	else if (errno == EINPROGRESS)
		c->state = C_CONNECTING;
	else
		conn_abort(px, c, "connect", errno);
}

static void conn_new(struct proxy *px, int cfd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		die("out of memory");
	c->id = ++px->accepted;
	c->cli.h.kind = c->srv.h.kind = K_SOCK;
	c->cli.conn = c->srv.conn = c;
	c->cli.fd = cfd;
	c->srv.fd = -1;
	dir_init(px, c, &c->up, &c->cli, &c->srv, false);
	dir_init(px, c, &c->down, &c->srv, &c->cli, true);
	c->next = px->conns;
	if (px->conns)
		px->conns->prev = c;
	px->conns = c;
	px->nconns++;
	set_nodelay(cfd);
	vlog(px, "conn %lu accepted%s", c->id,
	     px->blackhole ? " (blackholed)" : "");
	if (c->up.tfd < 0 || c->down.tfd < 0) {
		conn_abort(px, c, "timerfd_create", errno);
		return;
	}
	/* While blackholed the target sees nothing; `restore` dials it. */
	c->state = C_WAIT;
	if (!px->blackhole)
		conn_connect(px, c);
	conn_update(px, c);
}

static void on_connected(struct proxy *px, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->srv.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_abort(px, c, "connect", err);
		return;
	}
	c->state = C_OPEN;
	vlog(px, "conn %lu connected", c->id);
}

static void on_sock(struct proxy *px, struct side *s, uint32_t ev)
{
	struct conn *c = s->conn;
	bool cli = s == &c->cli;
	struct dir *in = cli ? &c->up : &c->down;	/* reads s */
	struct dir *out = cli ? &c->down : &c->up;	/* writes s */

	if (c->dead)
		return;
	if (!cli && c->state == C_CONNECTING) {
		on_connected(px, c);
	} else {
		/* ERR and HUP come unasked: act on what we registered for;
		 * the send or recv then reports the error. */
		if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && out->blocked) {
			out->blocked = false;
			dir_flush(px, out);
		}
		if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		    dir_want_read(px, in))
			dir_read(px, in);
	}
	conn_update(px, c);
}

static void on_timer(struct proxy *px, struct dir *d)
{
	uint64_t expirations;

	if (d->conn->dead)
		return;
	/* Drain it, or level-triggered epoll reports it forever. */
	if (read(d->tfd, &expirations, sizeof(expirations)) < 0 &&
	    errno != EAGAIN)
		die("timerfd read: %s", strerror(errno));
	d->armed = 0;
	dir_flush(px, d);
	conn_update(px, d->conn);
}

static void on_accept(struct proxy *px)
{
	int fd;

	while (px->listen_fd >= 0) {
		fd = accept4(px->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_new(px, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if ((errno == EMFILE || errno == ENFILE) && px->spare_fd >= 0) {
			/* Out of fds: accept and drop this one, or the
			 * level-triggered listener spins. */
			close(px->spare_fd);
			fd = accept(px->listen_fd, NULL, NULL);
			if (fd >= 0)
				close(fd);
			px->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			vlog(px, "out of file descriptors: connection dropped");
			continue;
		}
		return;	/* EAGAIN, or transient errors */
	}
}

/* ------------------------------------------------------------------ */
/* Control socket */

static int cmd_cut(struct proxy *px)
{
	int n = 0;

	while (px->conns) {
		conn_close(px, px->conns, true);
		n++;
	}
	return n;
}

static void cmd_drop_replies(struct proxy *px)
{
	struct conn *c;

	px->drop_replies = true;
	/* Replies still queued are lost too; so is a queued FIN. */
	for (c = px->conns; c; c = c->next) {
		dir_clear(&c->down);
		if (c->down.eof)
			c->down.done = true;
		conn_update(px, c);
	}
}

/* Pass-through again; returns 0 or the -errno of re-listening. */
static int cmd_restore(struct proxy *px)
{
	struct conn *c, *next;
	int rc = 0;

	px->blackhole = false;
	px->drop_replies = false;
	if (px->listen_fd < 0)
		rc = listen_open(px);
	for (c = px->conns; c; c = next) {
		next = c->next;	/* c may die below */
		if (c->state == C_WAIT)
			conn_connect(px, c);
		dir_flush(px, &c->up);
		dir_flush(px, &c->down);
		conn_update(px, c);
	}
	return rc;
}

static void ctl_exec(struct proxy *px, char *line, char *out, size_t size)
{
	struct conn *c;
	unsigned long ms;
	char *end;
	int rc;

	line[strcspn(line, "\r\n")] = '\0';
	vlog(px, "control: %s", line);
	if (!strncmp(line, "delay ", 6)) {
		errno = 0;
		ms = strtoul(line + 6, &end, 10);
		if (errno || end == line + 6 || *end || ms > MAX_DELAY_MS) {
			snprintf(out, size, "error delay: 0..%u ms\n",
				 MAX_DELAY_MS);
			return;
		}
		px->delay = ms * NS_PER_MS;
		snprintf(out, size, "ok delay=%lu\n", ms);
	} else if (!strcmp(line, "cut")) {
		snprintf(out, size, "ok cut=%d\n", cmd_cut(px));
	} else if (!strcmp(line, "blackhole")) {
		px->blackhole = true;
		for (c = px->conns; c; c = c->next)
			conn_update(px, c);
		snprintf(out, size, "ok blackhole\n");
	} else if (!strcmp(line, "drop-replies")) {
		cmd_drop_replies(px);
		snprintf(out, size, "ok drop-replies\n");
	} else if (!strcmp(line, "refuse")) {
		listen_close(px);
		snprintf(out, size, "ok refuse\n");
	} else if (!strcmp(line, "restore")) {
		rc = cmd_restore(px);
		if (rc)
			snprintf(out, size, "error restore: listen on port "
				 "%u: %s\n", addr_port(&px->listen_addr),
				 strerror(-rc));
		else
			snprintf(out, size, "ok restore\n");
	} else if (!strncmp(line, "target ", 7)) {
		errno = 0;
		ms = strtoul(line + 7, &end, 10);
		if (errno || end == line + 7 || *end || ms == 0 || ms > 65535) {
			snprintf(out, size, "error target: a port 1..65535\n");
			return;
		}
		if (px->target.ss_family == AF_INET)
			((struct sockaddr_in *)&px->target)->sin_port =
				htons((uint16_t)ms);
		else
			((struct sockaddr_in6 *)&px->target)->sin6_port =
				htons((uint16_t)ms);
		snprintf(out, size, "ok target=%lu\n", ms);
	} else if (!strcmp(line, "stats")) {
		snprintf(out, size, "ok conns=%lu bytes_up=%llu bytes_down=%llu"
			 " accepted=%lu dropped=%llu delay_ms=%llu\n",
			 px->nconns, px->bytes_up, px->bytes_down,
			 px->accepted, px->dropped,
			 (unsigned long long)(px->delay / NS_PER_MS));
	} else {
		snprintf(out, size, "error unknown command '%.40s'\n", line);
	}
}

static void on_ctl_accept(struct proxy *px)
{
	struct ctl *k;
	int fd;

	while ((fd = accept4(px->ctl_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		k = calloc(1, sizeof(*k));
		if (!k)
			die("out of memory");
		k->h.kind = K_CTL;
		k->fd = fd;
		ep_add(px, fd, &k->h);
	}
}

/* One line in, one line out, then close. A line cut short by EOF or by
 * the size limit is executed as it stands. */
static void on_ctl(struct proxy *px, struct ctl *k)
{
	char reply[256];
	ssize_t n;

	n = recv(k->fd, k->line + k->len, sizeof(k->line) - 1 - k->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		k->len += (size_t)n;
		k->line[k->len] = '\0';
		if (!memchr(k->line, '\n', k->len) &&
		    k->len < sizeof(k->line) - 1)
			return;
	}
	if (n >= 0) {
		k->line[k->len] = '\0';
		ctl_exec(px, k->line, reply, sizeof(reply));
		/* A fresh unix socket has room for one short line. */
		if (send(k->fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
			vlog(px, "control reply: %s", strerror(errno));
	}
	close(k->fd);
	free(k);
}

static void ctl_open(struct proxy *px)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(px->ctl_path) >= sizeof(sun.sun_path))
		die("--control %s: path too long", px->ctl_path);
	strcpy(sun.sun_path, px->ctl_path);
	if (lstat(px->ctl_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			die("--control %s: exists and is not a socket",
			    px->ctl_path);
		unlink(px->ctl_path);	/* stale, from a killed run */
	}
	px->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, 0);
	if (px->ctl_fd < 0 ||
	    bind(px->ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(px->ctl_fd, 16) < 0)
		die("--control %s: %s", px->ctl_path, strerror(errno));
	ep_add(px, px->ctl_fd, &px->ctl_h);
}

/* ------------------------------------------------------------------ */
/* Main */

static void usage(FILE *f)
{
	fputs("usage: tcpproxy --listen ADDR:PORT --target ADDR:PORT "
	      "--control PATH [--delay-ms N] [--verbose]\n"
	      "Loopback addresses only. Prints \"port N\" once listening.\n"
	      "Control commands (one line per connection): delay MS, cut, "
	      "blackhole,\n  drop-replies, refuse, restore, stats\n", f);
}

static void parse_args(struct proxy *px, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "target", required_argument, NULL, 't' },
		{ "control", required_argument, NULL, 'c' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_listen = false, have_target = false;
	unsigned long ms;
	char *end;
	int o;

	while ((o = getopt_long(argc, argv, "l:t:c:d:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			parse_addr("--listen", optarg, &px->listen_addr,
				   &px->listen_len, true);
			have_listen = true;
			break;
		case 't':
			parse_addr("--target", optarg, &px->target,
				   &px->target_len, false);
			have_target = true;
			break;
		case 'c':
			px->ctl_path = optarg;
			break;
		case 'd':
			errno = 0;
			ms = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || ms > MAX_DELAY_MS)
				die("--delay-ms %s: 0..%u", optarg,
				    MAX_DELAY_MS);
			px->delay = ms * NS_PER_MS;
			break;
		case 'v':
			px->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || !have_listen || !have_target || !px->ctl_path) {
		usage(stderr);
		exit(2);
	}
}

static void setup(struct proxy *px)
{
	struct rlimit rl;
	sigset_t mask;
	int rc;

	/* Four fds per connection (two sockets, two timers). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	px->listen_h.kind = K_LISTEN;
	px->ctl_h.kind = K_CTL_LISTEN;
	px->sig_h.kind = K_SIGNAL;
	px->ep = epoll_create1(EPOLL_CLOEXEC);
	px->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	px->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	px->buf = malloc(READ_SIZE);
	if (px->ep < 0 || px->sig_fd < 0 || !px->buf)
		die("setup: %s", strerror(errno));
	ep_add(px, px->sig_fd, &px->sig_h);
	rc = listen_open(px);
	if (rc)
		die("--listen: %s", strerror(-rc));
	ctl_open(px);
}

static void dispatch(struct proxy *px, struct epoll_event *ev)
{
	struct handle *h = ev->data.ptr;
	struct signalfd_siginfo si;

	switch (h->kind) {
	case K_LISTEN:
		on_accept(px);
		break;
	case K_CTL_LISTEN:
		on_ctl_accept(px);
		break;
	case K_CTL:
		on_ctl(px, (struct ctl *)h);
		break;
	case K_SIGNAL:
		if (read(px->sig_fd, &si, sizeof(si)) == sizeof(si)) {
			vlog(px, "signal %u: exiting", si.ssi_signo);
			px->stop = true;
		}
		break;
	case K_SOCK:
		on_sock(px, (struct side *)h, ev->events);
		break;
	case K_TIMER:
		on_timer(px, (struct dir *)h);
		break;
	}
}

static void bury(struct proxy *px)
{
	struct conn *c;

	while ((c = px->graveyard)) {
		px->graveyard = c->next;
		free(c);
	}
}

int main(int argc, char **argv)
{
	struct proxy px = { .listen_fd = -1, .ctl_fd = -1 };
	struct epoll_event evs[MAX_EVENTS];
	int i, n;

	parse_args(&px, argc, argv);
	setup(&px);
	printf("port %u\n", addr_port(&px.listen_addr));
	fflush(stdout);
	while (!px.stop) {
		n = epoll_wait(px.ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++)
			dispatch(&px, &evs[i]);
		/* Events later in the batch may name a connection closed
		 * earlier in it: free only now. */
		bury(&px);
	}
	while (px.conns)
		conn_close(&px, px.conns, false);
	bury(&px);
	listen_close(&px);
	close(px.ctl_fd);
	unlink(px.ctl_path);
	close(px.sig_fd);
	close(px.ep);
	free(px.buf);
	return 0;
}
