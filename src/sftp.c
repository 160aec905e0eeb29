/* sftp: SFTP v3 client with a request window over a libssh2 channel. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <glib.h>
#include <libssh2.h>

#include "rfs/sftp.h"
#include "rfs/sftp_wire.h"
#include "rfs/loop.h"
#include "rfs/log.h"
#include "rfs/util.h"
#include "rfs/xport.h"

/* OpenSSH's sftp-server accepts messages of at most 256 KiB; replies we
 * ask for are smaller. Anything longer than this is a hostile server. */
#define SFTP_MAX_PACKET (256 * 1024 + 1024)
#define SFTP_DEFAULT_IO (32 * 1024)
#define CHANNEL_WINDOW (32 * 1024 * 1024)
#define OUT_HIGH_WATER (1024 * 1024)	/* bytes handed to libssh2 at once */

#include "sftp_int.h"

/* Smoothed reply time of metadata requests (not READ/WRITE, whose time
 * includes the transfer), in 1/8 ms as TCP's srtt: new = 7/8 old + 1/8. */
static void stats_rtt(struct sftp_conn *c, int64_t ms)
{
	uint64_t s8 = __atomic_load_n(&c->stats.rtt_ms8, __ATOMIC_RELAXED);

	s8 = s8 ? s8 - s8 / 8 + (uint64_t)MAX(ms, 0) : (uint64_t)MAX(ms, 0) * 8;
	__atomic_store_n(&c->stats.rtt_ms8, s8, __ATOMIC_RELAXED);
}

void sftp_req_free(struct sftp_req *q)
{
	if (q->bulk)
		__atomic_fetch_sub(&q->bulk->bulk_pending, 1, __ATOMIC_RELAXED);
	if (q->owner)
		__atomic_fetch_sub(&q->owner->in_flight, 1, __ATOMIC_RELAXED);
	buf_free(&q->pkt);
	sftp_file_unref(q->file);
	sftp_file_unref(q->file2);
	g_free(q);
}

void sftp_req_fail(struct sftp_req *q, int err)
{
	struct sftp_reply r = { .err = err };

	q->cb(&r, q->data);
	sftp_req_free(q);
}

/* Failed by the loss of its connection: r.lost tells the caller. */
void sftp_req_lost(struct sftp_req *q)
{
	struct sftp_reply r = { .err = -EIO, .lost = 1 };

	q->cb(&r, q->data);
	sftp_req_free(q);
}

/* For rfs status: since when the link is what it is. Under c->lock. */
void sftp_state_changed(struct sftp_conn *c)
{
	c->state_since = g_get_real_time() / G_USEC_PER_SEC;
}

static const char *state_name(int state)
{
	static const char *const names[] = {
		[CONN_INIT] = "init", [CONN_UP] = "up", [CONN_DOWN] = "down",
		[CONN_CLOSED] = "closed",
	};

	return state >= 0 && state < (int)G_N_ELEMENTS(names) ?
	       names[state] : "?";
}

/* Every change of c->state comes here. CONN_INIT (start-up, or a
 * reconnect's) keeps state_since: for rfs status the link is still
 * reconnecting since it went down. */
void sftp_set_state_locked(struct sftp_conn *c, int state)
{
	log_debug("conn %p: state %s -> %s", (void *)c, state_name(c->state),
		  state_name(state));
	c->state = state;
	if (state != CONN_INIT)
		sftp_state_changed(c);
}

void sftp_set_state(struct sftp_conn *c, int state)
{
	pthread_mutex_lock(&c->lock);
	sftp_set_state_locked(c, state);
	pthread_mutex_unlock(&c->lock);
}

int sftp_get_state(struct sftp_conn *c)
{
	int st;

	pthread_mutex_lock(&c->lock);
	st = c->state;
	pthread_mutex_unlock(&c->lock);
	return st;
}

static void note_start(struct sftp_conn *c, int i);

/* An SSH channel's stderr (extended data) must not fill its window. Until
 * the lane's VERSION its head is kept: it may say why the server's
 * process did not start (note_start). */
static void drain_stderr(struct sftp_conn *c, struct lane *L)
{
	char junk[512];
	ssize_t n;

	if (!L->ch.ssh)
		return;
	if (L->version || c->start_stderr.len >= sizeof(junk)) {
		chan_drain_stderr(&L->ch);
		return;
	}
	while ((n = libssh2_channel_read_stderr(L->ch.ssh, junk,
						sizeof(junk))) > 0)
		if (c->start_stderr.len < sizeof(junk))
			buf_put_raw(&c->start_stderr, junk,
				    MIN((size_t)n, sizeof(junk) -
					c->start_stderr.len));
}

/* Why a lane's read or write failed with n (< 0), for the log. */
static const char *link_error(struct sftp_conn *c, ssize_t n)
{
	if (c->session)
		return xport_error(c->session);
	return n == -EPIPE ? "the other end closed the SFTP stream"
			   : g_strerror((int)-n);
}

/* Free the sessions. Impolitely (the link is dead or the peer hostile),
 * shutdown() first, so libssh2's goodbye writes fail at once instead of
 * blocking; politely (unmount), say goodbye with a short timeout. */
void sftp_drop_session(struct sftp_conn *c, int polite)
{
	if (c->sock >= 0) {
		loop_del_fd(c->loop, c->sock);
		if (!polite)
			shutdown(c->sock, SHUT_RDWR);
	}
	for (int i = 0; i < NLANES; i++) {
		struct chan *ch = &c->lanes[i].ch;

		if (ch->ssh)		/* the session frees it */
			*ch = (struct chan)CHAN_NONE;
		if (ch->rfd >= 0 && c->linked)
			loop_del_fd(c->loop, ch->rfd);
		if (ch->wfd >= 0 && ch->wfd != ch->rfd && c->linked)
			loop_del_fd(c->loop, ch->wfd);
		chan_close(ch);
	}
	xport_close(&c->x);	/* frees the SSH channels too */
	c->session = NULL;
	c->linked = 0;
	c->sock = -1;
	for (int i = 0; i < NLANES; i++) {
		struct lane *L = &c->lanes[i];

		L->version = 0;
		g_queue_clear(&L->outq);
		L->out.len = L->out_off = 0;
		L->cur = NULL;
		L->in.len = 0;
		L->direct = NULL;
		L->peek = 0;
	}
}

void sftp_fail_queue(GQueue *q, int err)
{
	struct sftp_req *r;

	while ((r = g_queue_pop_head(q)))
		sftp_req_fail(r, err);
}

/* ---- requests into the window (builders: sftp_req.c) ---- */

struct sftp_req *sftp_req_new(uint8_t type, uint8_t want, size_t hint)
{
	struct sftp_req *q = g_new0(struct sftp_req, 1);

	q->type = type;
	q->want = want;
	buf_init(&q->pkt, hint + 32);
	buf_put_u32(&q->pkt, 0);	/* length, set on submit */
	buf_put_u8(&q->pkt, type);
	if (type != SSH_FXP_INIT)
		buf_put_u32(&q->pkt, 0);	/* id, set by the I/O thread */
	return q;
}

void sftp_ignore_reply(struct sftp_reply *r, void *data)
{
	(void)r; (void)data;
}

/* Queue qs[0..n) (n <= 3), each right behind the one before on the same
 * lane (the first one's): all are queued, or all fail. */
void sftp_submit_chain(struct sftp_conn *c, int n, struct sftp_req **qs,
		       sftp_done_cb *cbs, void **datas)
{
	struct sftp_req *q = qs[0];	/* never NULL */
	int64_t now;

	for (int i = 0; i < n; i++) {
		qs[i]->cb = cbs[i] ? cbs[i] : sftp_ignore_reply;
		qs[i]->data = datas[i];
		buf_set_u32(&qs[i]->pkt, 0, (uint32_t)(qs[i]->pkt.len - 4));
	}
	if (q->file)		/* its handle's connection; route() the lane */
		c = sftp_file_bind(c, q->file);
	if (q->type == SSH_FXP_READ || q->type == SSH_FXP_WRITE) {
		q->bulk = c;
		__atomic_fetch_add(&c->bulk_pending, 1, __ATOMIC_RELAXED);
	} else if (!q->file && q->lane == LANE_META &&
		   __atomic_load_n(&c->bulk_pending, __ATOMIC_RELAXED)) {
		__atomic_store_n(&c->meta_us, g_get_monotonic_time(),
				 __ATOMIC_RELAXED);
	}
	for (int i = 0; i < n; i++) {
		qs[i]->lane = q->lane;
		qs[i]->owner = c;
	}
	__atomic_fetch_add(&c->in_flight, n, __ATOMIC_RELAXED);
	/* Queued even when the link is gone for good or past
	 * reconnect_timeout: sftp_pump() fails them on the I/O thread, never
	 * on the caller's (it may hold a lock its callback takes). */
	pthread_mutex_lock(&c->lock);
	now = loop_now_ms();
	for (int i = 0; i < n; i++) {
		qs[i]->sent_ms = now;
		g_queue_push_tail(&c->incoming, qs[i]);
	}
	pthread_mutex_unlock(&c->lock);
	loop_wake(c->loop);
}

/* Queue q, and if then is not NULL, then right behind it on the same
 * lane: both are queued, or both fail. */
void sftp_submit2(struct sftp_conn *c, struct sftp_req *q,
		  sftp_done_cb cb, struct sftp_req *then,
		  sftp_done_cb then_cb, void *data)
{
	struct sftp_req *qs[2] = { q, then };
	sftp_done_cb cbs[2] = { cb, then_cb };
	void *datas[2] = { data, data };

	sftp_submit_chain(c, then ? 2 : 1, qs, cbs, datas);
}

void sftp_submit(struct sftp_conn *c, struct sftp_req *q,
		 sftp_done_cb cb, void *data)
{
	sftp_submit2(c, q, cb, NULL, NULL, data);
}

/* ---- decoding replies: sftp_wire.c ---- */

/* The first VERSION of the mount says what the server offers; later
 * ones (other lanes, reconnects) are checked only. */
static void note_extensions(struct sftp_conn *c, struct lane *L,
			    struct bufr *r, int *rc)
{
	uint32_t exts = 0;
	GString *names = g_string_new(NULL);

	*rc = sftp_wire_version(r, &c->server_version, &exts, names);
	if (*rc != -EPROTO && *rc != -EPROTONOSUPPORT) {
		L->version = 3;
		if (!c->ext_names->len && !c->exts) {
			c->exts = exts;
			g_string_assign(c->ext_names, names->str);
		}
	}
	g_string_free(names, TRUE);
}

static void deliver(struct sftp_conn *c, int i, struct sftp_req *q,
		    uint32_t id, uint8_t type, struct sftp_reply *r,
		    size_t len);

/* The lane's first packet must be VERSION, the answer to its INIT (id
 * 0). 0, or -EPROTO to drop the connection. */
static int dispatch_version(struct sftp_conn *c, struct lane *L,
			    uint8_t type, struct bufr *r)
{
	struct sftp_req *q;
	struct sftp_reply rep = { 0 };
	int rc;

	if (type != SSH_FXP_VERSION)
		return -EPROTO;
	q = g_hash_table_lookup(L->pending, GUINT_TO_POINTER(0));
	note_extensions(c, L, r, &rc);
	if (rc == -EPROTO)
		log_err("protocol error: malformed VERSION");
	if (q) {
		g_hash_table_remove(L->pending, GUINT_TO_POINTER(0));
		rep.err = rc;
		rep.type = type;
		rep.gen = c->gen;
		q->cb(&rep, q->data);
		sftp_req_free(q);
	}
	return rc == -EPROTONOSUPPORT ? 0 : rc;
}

/* One whole packet (without its length) from lane i. 0, or -EPROTO to
 * drop the connection. */
static int dispatch(struct sftp_conn *c, int i, const unsigned char *p,
		    size_t len)
{
	struct lane *L = &c->lanes[i];
	struct bufr r;
	uint8_t type;
	uint32_t id;
	struct sftp_req *q;
	struct sftp_reply rep = { 0 };
	char *msg = NULL;
	const char *why;
	int rc;

	bufr_init(&r, p, len);
	if (buf_get_u8(&r, &type))
		return -EPROTO;
	if (!L->version)
		return dispatch_version(c, L, type, &r);
	if (buf_get_u32(&r, &id))
		return -EPROTO;
	q = g_hash_table_lookup(L->pending, GUINT_TO_POINTER(id));
	if (!q) {
		log_err("protocol error: reply for unknown request id %u", id);
		return -EPROTO;
	}
	g_hash_table_remove(L->pending, GUINT_TO_POINTER(id));
	{
		struct sftp_wire_req w = { q->type, q->want, q->max_data };

		rc = sftp_wire_decode(&w, type, &r, &rep, &msg, &why);
	}
	if (rc) {
		/* The packet was whole and its id ours: the stream is in
		 * step, only this answer is wrong. It fails (EIO) and the
		 * connection stays: the transport is integrity-checked, so
		 * the server answered that way and would again; dropping
		 * the link would only break everything else in flight. */
		log_err("protocol error: %s (type %u) to request %u type %u: "
			"EIO", why, type, id, q->type);
		if (rep.names)
			sftp_wire_free_names(rep.names, rep.count);
		g_free(msg);
		memset(&rep, 0, sizeof(rep));
		rep.err = -EIO;
		STATS_ADD(c, bad_replies, 1);
		deliver(c, i, q, id, 0, &rep, len);
		return 0;
	}
	if (rep.dropped)
		log_debug("reply to request %u: %u names with a NUL inside "
			  "left out", id, rep.dropped);
	deliver(c, i, q, id, type, &rep, len);
	g_free(msg);
	return 0;
}

/* The end of a reply's life: where it came from, stats, the debug line,
 * the callback. */
static void deliver(struct sftp_conn *c, int i, struct sftp_req *q,
		    uint32_t id, uint8_t type, struct sftp_reply *r,
		    size_t len)
{
	r->gen = c->gen;
	r->conn = c;
	r->lane = i;
	r->replayed = q->replayed;
	c->replies++;
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("sftp: lane %d id %u type %u -> reply %u status %u "
			  "%zu bytes %lld ms, sent after reply %llu", i, id,
			  q->type, type, r->status, len,
			  (long long)(loop_now_ms() - q->sent_ms),
			  (unsigned long long)q->after);
	if (q->file && type == SSH_FXP_ATTRS)
		q->file->seen = r->attrs;	/* who the file is */
	if (q->type != SSH_FXP_READ && q->type != SSH_FXP_WRITE) {
		int64_t us = g_get_monotonic_time() - q->sent_us;
		int64_t min = __atomic_load_n(&c->min_rtt_us, __ATOMIC_RELAXED);

		stats_rtt(c, loop_now_ms() - q->sent_ms);
		if (!min || us < min)
			__atomic_store_n(&c->min_rtt_us, MAX(us, 1),
					 __ATOMIC_RELAXED);
	}
	q->cb(r, q->data);
	if (r->names)
		sftp_wire_free_names(r->names, r->count);
	sftp_req_free(q);
}

/* ---- the I/O engine (I/O thread) ---- */

/* Onto q->lane's output queue, with an id. */
void sftp_send_req(struct sftp_conn *c, struct sftp_req *q)
{
	struct lane *L = &c->lanes[q->lane];

	if (q->type == SSH_FXP_INIT) {
		q->id = 0;
	} else {
		do
			q->id = ++L->next_id;
		while (q->id == 0 || g_hash_table_contains(L->pending,
						GUINT_TO_POINTER(q->id)));
		buf_set_u32(&q->pkt, 5, q->id);
	}
	q->sent_ms = loop_now_ms();
	q->sent_us = g_get_monotonic_time();
	q->after = c->replies;
	q->seq = ++c->next_seq;
	STATS_ADD(c, requests, 1);
	g_hash_table_insert(L->pending, GUINT_TO_POINTER(q->id), q);
	g_queue_push_tail(&L->outq, q);
}

#define ROUTE_HOLD 0		/* wait until the reopens are done */
#define ROUTE_SEND 1
#define ROUTE_PARK 2		/* a lazy file's: wait for its OPEN */
#define ROUTE_DONE 3		/* CLOSE of a file never opened: done */

/* A request on a file never opened yet: the file is opened first, and
 * its requests wait (parked) for that OPEN. */
static int route_lazy(struct sftp_conn *c, struct sftp_req *q)
{
	struct sftp_file *f = q->file;

	if (f->stale)
		return f->stale;
	if (q->type == SSH_FXP_CLOSE && !f->reopening)
		return ROUTE_DONE;
	if (!f->reopening)
		sftp_file_reopen(c, f);
	return ROUTE_PARK;
}

/* copy-data: both handles current, and of one server process. */
static int route_copy(struct sftp_conn *c, struct sftp_req *q)
{
	if (q->file2->conn != c || q->file2->lane != q->file->lane)
		return -EXDEV;	/* two server processes */
	if (q->hgen != c->gen || q->file->stale || q->file2->stale)
		return HANDLE_LOST;
	return ROUTE_SEND;
}

/* Where q goes now: ROUTE_*, HANDLE_LOST or -errno. */
static int route(struct sftp_conn *c, struct sftp_req *q)
{
	int rc;

	/* A handle's lane is its file's (which a reopen may change). */
	q->lane = (uint8_t)MIN(q->file ? q->file->lane : q->lane,
			       c->nlanes - 1);
	if (!q->file)				/* a path request */
		rc = ROUTE_SEND;
	else if (q->file2)			/* copy-data */
		rc = route_copy(c, q);
	else if (q->file->lazy)			/* never opened yet */
		return route_lazy(c, q);
	else					/* its handle current? */
		rc = sftp_file_ready(c, q->file);
	if (rc != ROUTE_SEND)
		return rc;
	if (c->reopening)	/* files being reopened: all else waits */
		return ROUTE_HOLD;
	if (q->file && !q->file2)
		sftp_file_patch_handle(q);
	return ROUTE_SEND;
}

/* Move newly submitted requests to the output queue, giving them ids;
 * while the link is not up they stay queued. */
static void take_incoming(struct sftp_conn *c)
{
	GQueue batch = G_QUEUE_INIT;
	struct sftp_req *q;

	pthread_mutex_lock(&c->lock);
	if (c->state == CONN_UP) {
		batch = c->incoming;
		g_queue_init(&c->incoming);
	}
	pthread_mutex_unlock(&c->lock);
	while ((q = g_queue_pop_head(&batch))) {
		int rc;

		if (q->type == SFTP_REQ_EXEC) {
			sftp_exec_take(c, q);
			continue;
		}
		rc = route(c, q);

		if (rc == ROUTE_PARK)
			g_queue_push_tail(&q->file->parked, q);
		else if (rc == ROUTE_DONE)
			sftp_req_fail(q, 0);
		else if (rc == ROUTE_SEND)
			sftp_send_req(c, q);
		else if (rc == ROUTE_HOLD)
			g_queue_push_tail(&c->held, q);
		else if (rc == HANDLE_LOST)
			sftp_req_lost(q);
		else
			sftp_req_fail(q, rc);
	}
}

/* A packet this big (a WRITE's data) is written from its own memory,
 * not copied into the lane's output buffer first. */
#define DIRECT_OUT (32 * 1024)

/* Write as much of lane i's queue as libssh2 takes. 0, or -1 after
 * recon_conn_fail(). */
static int do_write(struct sftp_conn *c, int i)
{
	struct lane *L = &c->lanes[i];

	for (;;) {
		struct sftp_req *q;
		const unsigned char *p;
		size_t left;
		ssize_t n;

		if (!L->cur && L->out_off == L->out.len) {
			L->out.len = L->out_off = 0;
			q = g_queue_peek_head(&L->outq);
			if (q && q->pkt.len >= DIRECT_OUT) {
				L->cur = g_queue_pop_head(&L->outq);
				L->cur_off = 0;
			}
		}
		/* Coalesce small packets: libssh2 sends one SSH packet per
		 * call at best, so small SFTP requests go out together. */
		while (!L->cur && L->out.len - L->out_off < OUT_HIGH_WATER &&
		       (q = g_queue_peek_head(&L->outq)) &&
		       q->pkt.len < DIRECT_OUT) {
			g_queue_pop_head(&L->outq);
			buf_put_raw(&L->out, q->pkt.data, q->pkt.len);
		}
		if (L->cur) {
			p = L->cur->pkt.data + L->cur_off;
			left = L->cur->pkt.len - L->cur_off;
		} else {
			p = L->out.data + L->out_off;
			left = L->out.len - L->out_off;
		}
		if (!left)
			return 0;
		n = chan_write(&L->ch, p, left);
		if (n == -EAGAIN || n == 0)
			return 0;
		if (n < 0) {
			note_start(c, i);
			recon_conn_fail(c, link_error(c, n));
			return -1;
		}
		if (L->cur && (L->cur_off += (size_t)n) == L->cur->pkt.len)
			L->cur = NULL;
		else if (!L->cur)
			L->out_off += (size_t)n;
		STATS_ADD(c, bytes_out, n);
	}
}

#define DATA_HEADER 13	/* length, type, id, data length */

/* The start of a DATA reply (avail bytes after its length, plen in all)
 * that is not all here yet: when its request has a destination, its
 * data goes there, and the rest of it is read straight into it. */
static int start_direct(struct sftp_conn *c, int i, const unsigned char *p,
			size_t avail, uint32_t plen)
{
	struct lane *L = &c->lanes[i];
	struct sftp_req *q;
	uint32_t id, dlen;

	if (avail < 9 || p[0] != SSH_FXP_DATA || !L->version)
		return 0;
	id = buf_peek_u32(p + 1);
	dlen = buf_peek_u32(p + 5);
	q = g_hash_table_lookup(L->pending, GUINT_TO_POINTER(id));
	if (!q || !q->dest || q->type != SSH_FXP_READ ||
	    dlen != plen - 9 || dlen > q->max_data)
		return 0;	/* dispatch() sees it whole (or refuses it) */
	L->direct = q;
	L->direct_len = dlen;
	L->direct_got = avail - 9;
	memcpy(q->dest, p + 9, L->direct_got);
	return 1;
}

static void end_direct(struct sftp_conn *c, int i)
{
	struct lane *L = &c->lanes[i];
	struct sftp_req *q = L->direct;
	struct sftp_reply rep = { 0 };

	L->direct = NULL;
	L->peek = 1;
	g_hash_table_remove(L->pending, GUINT_TO_POINTER(q->id));
	rep.type = SSH_FXP_DATA;
	rep.data = q->dest;
	rep.data_len = L->direct_len;
	deliver(c, i, q, q->id, SSH_FXP_DATA, &rep, L->direct_len + 9);
}

/* Dispatch the whole packets in lane i's input, keep the rest (or start
 * reading a DATA reply's data straight into its destination). 0, or -1
 * after recon_conn_fail() or when a callback dropped the session s0. */
static int parse_in(struct sftp_conn *c, int i, uint32_t g0)
{
	struct lane *L = &c->lanes[i];
	size_t off = 0;

	while (L->in.len - off >= 4) {
		uint32_t plen = buf_peek_u32(L->in.data + off);

		if (plen == 0 || plen > SFTP_MAX_PACKET) {
			log_err("protocol error: packet length %u", plen);
			recon_conn_fail(c, "protocol error from server");
			return -1;
		}
		if (L->in.len - off - 4 < plen) {
			if (start_direct(c, i, L->in.data + off + 4,
					 L->in.len - off - 4, plen))
				off = L->in.len;
			else if (L->in.len - off >= DATA_HEADER)
				L->peek = 0;
			break;
		}
		if (dispatch(c, i, L->in.data + off + 4, plen)) {
			recon_conn_fail(c, "protocol error from server");
			return -1;
		}
		/* A callback may have dropped the connection (and emptied
		 * L->in): stop parsing what is gone. */
		if (!c->linked || c->gen != g0)
			return -1;
		off += 4 + (size_t)plen;
	}
	if (off) {
		memmove(L->in.data, L->in.data + off, L->in.len - off);
		L->in.len -= off;
	}
	return 0;
}

/* Lane i ended before its VERSION at the connection's first start (the
 * mount's, gen 1): keep why for start_failure(), before the session
 * goes. The server's process may have said it on stderr (sudo wanting a
 * password, a command not found); or our ssh child ended (its own
 * message went to rfs's stderr), whose status we wait for a moment. A
 * reconnect's start is not waited on: that is the I/O thread, and its
 * failure is logged and tried again anyway. */
static void note_start(struct sftp_conn *c, int i)
{
	struct chan *ch = &c->lanes[i].ch;
	char buf[512], why[96];
	const char *gone = NULL;
	ssize_t n = 0;

	if (c->lanes[i].version || c->start_err || c->gen > 1)
		return;
	if (ch->ssh) {
		drain_stderr(c, &c->lanes[i]);
		n = (ssize_t)MIN(c->start_stderr.len, sizeof(buf) - 1);
		memcpy(buf, c->start_stderr.data, (size_t)n);
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		if (*buf) {
			char *safe = util_safe_text(buf, FALSE);

			c->start_err = c->x.sftp_server ?
				g_strdup_printf("sftp_server '%s' did not "
						"start: %s", c->x.sftp_server,
						safe) :
				g_strdup_printf("protocol error from server "
						"during SFTP start-up; the "
						"server said: %s", safe);
			g_free(safe);
		}
		return;
	}
	for (int k = 0; k < 50 && c->x.proxy_pid > 0 && !gone; k++) {
		gone = xport_child_gone(&c->x, why, sizeof(why));
		if (!gone)
			g_usleep(10 * 1000);
	}
	if (gone) {
		c->start_err = g_strdup_printf("transport=ssh: %s", gone);
		c->start_child = 1;
	}
}

/* Read lane i until EAGAIN, dispatching whole packets. 0 (1 if any
 * bytes came), or -1 after recon_conn_fail(). */
static int do_read(struct sftp_conn *c, int i)
{
	struct lane *L = &c->lanes[i];
	uint32_t g0 = c->gen;
	int got = 0;

	drain_stderr(c, L);	/* pending, it holds back the channel's EOF */
	for (;;) {
		ssize_t n;
		int direct = L->direct != NULL;

		if (direct) {
			n = chan_read(&L->ch,
				      (char *)L->direct->dest + L->direct_got,
				      L->direct_len - L->direct_got);
		} else {
			size_t want;

			buf_reserve(&L->in, 64 * 1024);
			want = L->in.cap - L->in.len;
			if (L->peek && L->in.len < DATA_HEADER)
				want = DATA_HEADER - L->in.len;
			n = chan_read(&L->ch, L->in.data + L->in.len, want);
		}
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			note_start(c, i);
			recon_conn_fail(c, n == 0 ? "the server closed the "
					"SFTP channel" : link_error(c, n));
			return -1;
		}
		got = 1;
		STATS_ADD(c, bytes_in, n);
		drain_stderr(c, L);
		if (direct) {
			L->direct_got += (size_t)n;
			if (L->direct_got == L->direct_len) {
				end_direct(c, i);
				if (!c->linked || c->gen != g0)
					return -1;
			}
			continue;
		}
		L->in.len += (size_t)n;
		if (parse_in(c, i, g0))
			return -1;
	}
	return got;
}

/* Output waiting on lane L. */
static int lane_pending(struct lane *L)
{
	return L->cur || L->out.len > L->out_off ||
	       !g_queue_is_empty(&L->outq);
}

static void on_sock(struct loop *l, int fd, int events, void *data);

/* A transport of fds: each lane's read end always, its write end while
 * output waits. add: register them (sftp_install). */
static void poll_lanes(struct sftp_conn *c, int add)
{
	for (int i = 0; i < c->nlanes; i++) {
		struct chan *ch = &c->lanes[i].ch;
		int w = lane_pending(&c->lanes[i]) ? LOOP_WRITE : 0;

		if (ch->rfd < 0)
			continue;
		if (add) {
			loop_add_fd(c->loop, ch->rfd, LOOP_READ |
				    (ch->wfd == ch->rfd ? LOOP_WRITE : 0),
				    on_sock, c);
			if (ch->wfd != ch->rfd)
				loop_add_fd(c->loop, ch->wfd, LOOP_WRITE,
					    on_sock, c);
		} else if (ch->wfd == ch->rfd) {
			loop_mod_fd(c->loop, ch->rfd, LOOP_READ | w);
		} else {
			loop_mod_fd(c->loop, ch->wfd, w);
		}
	}
}

static void update_poll(struct sftp_conn *c)
{
	int dir = xport_block_directions(&c->x);
	int ev = LOOP_READ;

	if (!c->session) {
		poll_lanes(c, 0);
		return;
	}
	/* Queued output alone is no reason to poll for writing: when the
	 * channel window is full libssh2 waits for the peer (inbound). */
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		ev |= LOOP_WRITE;
	loop_mod_fd(c->loop, c->sock, ev);
}

/* Write and read until neither makes progress; decrypted data can sit
 * inside libssh2 while the socket is quiet, so always drain reads. */
void sftp_pump(struct sftp_conn *c)
{
	if (c->job)
		recon_check(c);
	if (!c->linked) {		/* down: fail what must fail */
		GQueue failed = G_QUEUE_INIT;
		struct sftp_req *q;

		pthread_mutex_lock(&c->lock);
		if (c->state == CONN_CLOSED ||
		    (c->state == CONN_DOWN &&
		     (c->reconnect_timeout_ms == 0 || c->offline)))
			while ((q = g_queue_pop_head(&c->incoming)))
				g_queue_push_tail(&failed, q);
		pthread_mutex_unlock(&c->lock);
		sftp_fail_queue(&failed, -EIO);
		return;
	}
	take_incoming(c);
	/* Reading (or writing) one channel makes libssh2 read every packet
	 * waiting on the socket, another channel's too, and keep it: go
	 * round again until a pass reads nothing, or the socket is quiet
	 * while an answer sits inside libssh2. */
	for (int more = 1; more;) {
		more = 0;
		/* commands first: their libssh2 calls read the socket too,
		 * and what they read for the lanes is read out below */
		if (!g_queue_is_empty(&c->execs)) {
			int r = sftp_exec_run(c);

			if (r < 0)
				return;
			more |= r;
		}
		for (int i = 0; i < c->nlanes; i++) {
			int r = 0;

			if (do_write(c, i) || (r = do_read(c, i)) < 0 ||
			    do_write(c, i))
				return;
			more |= r;
		}
	}
	update_poll(c);
}

static void on_sock(struct loop *l, int fd, int events, void *data)
{
	(void)l; (void)fd; (void)events;
	sftp_pump(data);
}

static void before_sleep(struct loop *l, void *data)
{
	(void)l;
	sftp_pump(data);
}

/* The loop's wake callback, set once in sftp_conn_new before the loop
 * ever runs (loop.h: never while it runs): stop when stop_thread() asks.
 * Not loop_stop() from the other thread: loop_run() clears an earlier
 * stop, so a thread that has not reached it yet would miss that one. */
static void on_wake(struct loop *l, void *data)
{
	struct sftp_conn *c = data;

	if (__atomic_load_n(&c->stopping, __ATOMIC_SEQ_CST))
		loop_stop(l);
}

/* ---- set-up ---- */

static void init_done(struct sftp_reply *r, void *data)
{
	*(int *)data = r->err ? r->err : 1;
}

static void limits_done(struct sftp_reply *r, void *data)
{
	struct sftp_conn *c = data;
	uint64_t max_packet, max_read, max_write;

	if (r->err || r->type != SSH_FXP_EXTENDED_REPLY)
		return;
	if (buf_get_u64(&r->ext, &max_packet) ||
	    buf_get_u64(&r->ext, &max_read) ||
	    buf_get_u64(&r->ext, &max_write))
		return;
	/* 0 means "no limit"; never exceed what our reader accepts. */
	if (max_read)
		c->max_read = MIN(max_read, SFTP_MAX_PACKET - 1024);
	if (max_write)
		c->max_write = MIN(max_write, SFTP_MAX_PACKET - 1024);
	log_debug("limits@openssh.com: packet %llu read %llu write %llu",
		  (unsigned long long)max_packet, (unsigned long long)max_read,
		  (unsigned long long)max_write);
}

static void *io_thread(void *data)
{
	struct sftp_conn *c = data;

	loop_run(c->loop);
	return NULL;
}

/* Open the sftp subsystem on x's session (blocking, bounded by the
 * session timeout). Any thread that owns x. */
static LIBSSH2_CHANNEL *open_channel(struct xport *x, GError **err)
{
	LIBSSH2_CHANNEL *ch;

	xport_set_blocking(x, 1);
	ch = libssh2_channel_open_ex(x->session, "session",
		sizeof("session") - 1, CHANNEL_WINDOW,
		LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
	if (!ch) {
		rfs_set_error(err, RFS_EXIT_PROTO, "cannot open an SSH "
			      "channel: %s", xport_error(x->session));
		return NULL;
	}
	if (x->sftp_server ? libssh2_channel_exec(ch, x->sftp_server)
			   : libssh2_channel_subsystem(ch, "sftp")) {
		if (x->sftp_server)
			rfs_set_error(err, RFS_EXIT_PROTO, "the server refused "
				      "to run '%s' (sftp_server): %s",
				      x->sftp_server, xport_error(x->session));
		else
			rfs_set_error(err, RFS_EXIT_PROTO, "the server refused "
				      "the sftp subsystem: %s",
				      xport_error(x->session));
		libssh2_channel_free(ch);
		return NULL;
	}
	return ch;
}

/* Open the lanes' channels into ch[]: how many (1 or NLANES), or 0 with
 * *err. A server that allows one channel per session (MaxSessions 1)
 * gets one lane for everything. */
int sftp_open_lanes(struct xport *x, struct chan ch[NLANES], GError **err)
{
	GError *e = NULL;
	int n = 0;

	for (int i = 0; i < NLANES; i++)
		ch[i] = (struct chan)CHAN_NONE;
	if (!x->session) {	/* a transport of fds: its stream */
		ch[n++] = x->pipe;
		x->pipe = (struct chan)CHAN_NONE;
		/* a ControlMaster gives a session more for file data */
		while (x->mux_path && n < NLANES) {
			int fd;

			if (xport_mux_session(x, &fd, &e)) {
				log_info("one SFTP session only (%s): metadata "
					 "and file data share it", e->message);
				g_clear_error(&e);
				break;
			}
			ch[n].rfd = ch[n].wfd = fd;
			n++;
		}
		return n;
	}
	if (!(ch[n++].ssh = open_channel(x, err)))
		return 0;
	while (n < NLANES) {
		if (!(ch[n].ssh = open_channel(x, &e))) {
			log_info("one SFTP channel only (%s): metadata and "
				 "file data share it", e->message);
			g_clear_error(&e);
			break;
		}
		n++;
	}
	return n;
}

/* Each lane's VERSION: when the last is in, the connection's. */
static void lane_init_done(struct sftp_reply *r, void *data)
{
	struct sftp_conn *c = data;
	struct sftp_reply all = { 0 };

	if (r->err && !c->init_err)
		c->init_err = r->err;
	if (--c->init_left > 0)
		return;
	all.err = c->init_err;
	all.type = SSH_FXP_VERSION;
	all.gen = c->gen;
	c->init_cb(&all, c->init_data);
}

/* Make c->x (with its n sftp channels ch) the connection: non-blocking,
 * polled, and an INIT queued on each lane; init_cb when all answered.
 * I/O thread, or before it exists. */
void sftp_install(struct sftp_conn *c, struct chan ch[NLANES], int n,
		  sftp_done_cb init_cb, void *data)
{
	c->session = c->x.session;
	c->sock = c->session ? c->x.sock : -1;
	c->linked = 1;
	c->transport = c->x.kind;
	/* atomic: sftp_conn_stats() reads it on another thread */
	__atomic_store_n(&c->nlanes, n, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++) {
		c->lanes[i].ch = ch[i];
		if (!ch[i].ssh)
			c->lanes[i].ch.last_rx = c->x.last_rx;
	}
	c->probe_sent = 0;
	c->exec_works = 0;	/* a new link: not known yet */
	if (c->session) {
		xport_set_blocking(&c->x, 0);
		/* want_reply: the answer is what proves the link alive.
		 * Keepalives go out only while we wait for an answer, or
		 * every ServerAliveInterval: libssh2 keeps the replies, a
		 * few bytes each. */
		libssh2_keepalive_config(c->session, 1, 1);
		if (c->dead_ms)
			xport_set_user_timeout(&c->x, c->dead_ms);
		loop_add_fd(c->loop, c->sock, LOOP_READ | LOOP_WRITE,
			    on_sock, c);
	} else {
		poll_lanes(c, 1);
	}
	pthread_mutex_lock(&c->lock);
	c->gen++;
	sftp_set_state_locked(c, CONN_INIT);
	pthread_mutex_unlock(&c->lock);
	__atomic_store_n(&c->min_rtt_us, 0, __ATOMIC_RELAXED);	/* a new path */
	c->init_cb = init_cb;
	c->init_data = data;
	c->init_left = n;
	c->init_err = 0;
	for (int i = 0; i < n; i++) {
		struct sftp_req *q = sftp_req_new(SSH_FXP_INIT, 0, 8);

		buf_put_u32(&q->pkt, 3);
		buf_set_u32(&q->pkt, 0, (uint32_t)(q->pkt.len - 4));
		q->cb = lane_init_done;
		q->data = c;
		q->lane = (uint8_t)i;
		sftp_send_req(c, q);
	}
}

/* The SFTP start failed: say why as well as we can tell (note_start). */
static void start_failure(struct sftp_conn *c, int rc, GError **err)
{
	if (c->start_err)
		rfs_set_error(err, c->start_child ? RFS_EXIT_CONNECT
						  : RFS_EXIT_PROTO,
			      "%s", c->start_err);
	else
		rfs_set_error(err, RFS_EXIT_PROTO, "protocol error from server "
			      "during SFTP start-up%s",
			      rc == -ETIMEDOUT ? " (timed out)" : "");
}

struct sftp_conn *sftp_conn_new(struct xport *x, int timeout_ms,
				GError **err)
{
	struct sftp_conn *c = g_new0(struct sftp_conn, 1);
	struct chan ch[NLANES];
	struct sftp_req *q;
	int init = 0, rc, n;

	c->x = *x;		/* ours now */
	xport_init(x);
	c->sock = -1;
	c->nl_fd = -1;
	c->loop = loop_new();
	pthread_mutex_init(&c->lock, NULL);
	g_queue_init(&c->incoming);
	g_queue_init(&c->held);
	for (int i = 0; i < NLANES; i++) {
		struct lane *L = &c->lanes[i];

		g_queue_init(&L->outq);
		L->pending = g_hash_table_new(g_direct_hash, g_direct_equal);
		buf_init(&L->out, 64 * 1024);
		buf_init(&L->in, 64 * 1024);
	}
	c->nlanes = 1;
	buf_init(&c->start_stderr, 512);
	c->ext_names = g_string_new(NULL);
	c->max_read = c->max_write = SFTP_DEFAULT_IO;
	c->usable = 1;
	loop_set_before_sleep(c->loop, before_sleep, c);
	loop_set_wake_cb(c->loop, on_wake, c);
	recon_watch_start(c);

	n = sftp_open_lanes(&c->x, ch, err);
	if (!n)
		goto fail;
	sftp_install(c, ch, n, init_done, &init);
	rc = sftp_conn_wait(c, timeout_ms);
	if (init == -EPROTONOSUPPORT) {
		rfs_set_error(err, RFS_EXIT_PROTO, "protocol error: the server "
			      "speaks SFTP version %u; rfs needs version 3",
			      c->server_version);
		goto fail;
	}
	if (rc || init != 1) {
		start_failure(c, rc, err);
		goto fail;
	}
	sftp_set_state(c, CONN_UP);
	if (c->exts & SFTP_EXT_LIMITS) {
		q = sftp_req_ext("limits@openssh.com",
				 SSH_FXP_EXTENDED_REPLY, 0);
		sftp_submit(c, q, limits_done, c);
		if (sftp_conn_wait(c, timeout_ms) ||
		    sftp_get_state(c) != CONN_UP) {
			rfs_set_error(err, RFS_EXIT_PROTO, "protocol error "
				      "from server (limits@openssh.com)");
			goto fail;
		}
	}
	log_debug("sftp: version 3, %d channel%s, extensions: %s; read %zu "
		  "write %zu", c->nlanes, c->nlanes > 1 ? "s" : "",
		  c->ext_names->str, c->max_read, c->max_write);
	return c;
fail:
	sftp_conn_free(c);
	return NULL;
}

static long wait_timeout(struct loop *l, long long id, void *data)
{
	(void)id;
	*(int *)data = 1;
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

static void wait_check(struct loop *l, void *data)
{
	struct sftp_conn *c = data;

	sftp_pump(c);
	for (int i = 0; i < NLANES; i++)
		if (g_hash_table_size(c->lanes[i].pending))
			return;
	if (g_queue_is_empty(&c->incoming))
		loop_stop(l);
}

int sftp_conn_wait(struct sftp_conn *c, int timeout_ms)
{
	int timed_out = 0;
	long long t = loop_add_timer(c->loop, timeout_ms, wait_timeout,
				     &timed_out);

	loop_set_before_sleep(c->loop, wait_check, c);
	loop_run(c->loop);
	loop_set_before_sleep(c->loop, before_sleep, c);
	loop_del_timer(c->loop, t);
	return timed_out ? -ETIMEDOUT : 0;
}

int sftp_conn_start(struct sftp_conn *c)
{
	for (unsigned i = 1; i < c->nall; i++)
		if (sftp_conn_start(c->all[i]))
			return -EAGAIN;
	if (pthread_create(&c->thread, NULL, io_thread, c))
		return -EAGAIN;
	c->thread_started = 1;
	return 0;
}

uint32_t sftp_conn_exts(const struct sftp_conn *c) { return c->exts; }
const char *sftp_conn_ext_names(const struct sftp_conn *c)
{
	return c->ext_names->str;
}
size_t sftp_conn_max_read(const struct sftp_conn *c) { return c->max_read; }
size_t sftp_conn_max_write(const struct sftp_conn *c) { return c->max_write; }
int sftp_conn_alive(const struct sftp_conn *c)
{
	int st = sftp_get_state((struct sftp_conn *)c);

	return st == CONN_UP || st == CONN_INIT;
}

static void stop_thread(struct sftp_conn *c)
{
	if (!c->thread_started)
		return;
	__atomic_store_n(&c->stopping, 1, __ATOMIC_SEQ_CST);
	loop_wake(c->loop);
	pthread_join(c->thread, NULL);
	c->thread_started = 0;
}

void sftp_conn_free(struct sftp_conn *c)
{
	GQueue failed = G_QUEUE_INIT;
	GHashTableIter it;
	gpointer v;

	if (!c)
		return;
	if (c->nall) {
		/* Every I/O thread stops before any connection goes: a reply
		 * on one may open a file on another. Then none is picked. */
		struct sftp_conn **all = c->all;
		unsigned n = c->nall;

		for (unsigned i = 0; i < n; i++)
			stop_thread(all[i]);
		c->nall = 0;
		c->all = NULL;
		for (unsigned i = 1; i < n; i++)
			sftp_conn_free(all[i]);
		g_free(all);
	}
	stop_thread(c);
	recon_abandon(c);
	pthread_mutex_lock(&c->lock);
	sftp_set_state_locked(c, CONN_CLOSED);
	while ((v = g_queue_pop_head(&c->held)))
		g_queue_push_tail(&failed, v);
	while ((v = g_queue_pop_head(&c->incoming)))
		g_queue_push_tail(&failed, v);
	pthread_mutex_unlock(&c->lock);
	sftp_exec_abort(c);
	for (int i = 0; i < NLANES; i++) {
		g_hash_table_iter_init(&it, c->lanes[i].pending);
		while (g_hash_table_iter_next(&it, NULL, &v))
			g_queue_push_tail(&failed, v);
		g_hash_table_steal_all(c->lanes[i].pending);
	}
	sftp_fail_queue(&failed, -EIO);
	/* Their callbacks may queue more (a listing's CLOSE): fail those. */
	for (;;) {
		pthread_mutex_lock(&c->lock);
		failed = c->incoming;
		g_queue_init(&c->incoming);
		pthread_mutex_unlock(&c->lock);
		if (g_queue_is_empty(&failed))
			break;
		sftp_fail_queue(&failed, -EIO);
	}
	sftp_drop_session(c, 1);
	recon_watch_stop(c);
	for (int i = 0; i < NLANES; i++) {
		g_hash_table_destroy(c->lanes[i].pending);
		buf_free(&c->lanes[i].out);
		buf_free(&c->lanes[i].in);
	}
	buf_free(&c->start_stderr);
	g_string_free(c->ext_names, TRUE);
	g_free(c->start_err);
	g_free(c->exec_why);
	loop_free(c->loop);
	pthread_mutex_destroy(&c->lock);
	g_free(c);
}

int64_t sftp_conn_min_rtt_us(const struct sftp_conn *c)
{
	return __atomic_load_n(&c->min_rtt_us, __ATOMIC_RELAXED);
}

int64_t sftp_conn_last_meta_us(const struct sftp_conn *c)
{
	return __atomic_load_n(&c->meta_us, __ATOMIC_RELAXED);
}

#define LOAD(c, field) __atomic_load_n(&(c)->stats.field, __ATOMIC_RELAXED)

/* Summed over the connections; the reply time is the first's (it
 * carries the metadata). */
void sftp_conn_stats(const struct sftp_conn *c, struct sftp_stats *s)
{
	pthread_mutex_t *lock = (pthread_mutex_t *)&c->lock;

	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < MAX(c->nall, 1u); i++) {
		const struct sftp_conn *k = c->nall ? c->all[i] : c;

		s->requests += LOAD(k, requests);
		s->bytes_out += LOAD(k, bytes_out);
		s->bytes_in += LOAD(k, bytes_in);
		s->reconnects += LOAD(k, reconnects);
		s->bad_replies += LOAD(k, bad_replies);
		s->execs += LOAD(k, execs);
		s->in_flight += (unsigned)__atomic_load_n(&k->in_flight,
							  __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(lock);
	s->link = c->state == CONN_CLOSED || c->offline ? SFTP_LINK_DOWN :
		  c->state == CONN_UP ? SFTP_LINK_UP : SFTP_LINK_RECONNECTING;
	s->link_since = c->state_since;
	pthread_mutex_unlock(lock);
	s->open_handles = sftp_file_count();
	s->rtt_ms8 = LOAD(c, rtt_ms8);
	s->conns = MAX(c->nall, 1u);
	s->channels = (unsigned)__atomic_load_n(&c->nlanes, __ATOMIC_RELAXED);
	s->transport = c->transport ? c->transport : "none";
}
