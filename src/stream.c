/* stream: per-open-file readahead and write-behind (see stream.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <glib.h>

#include "rfs/stream.h"
#include "rfs/bpool.h"
#include "rfs/fsreq.h"
#include "rfs/log.h"

#define RA_START (256 * 1024)	/* first readahead window, bytes */
#define PACE_FLOOR (512 * 1024)	/* in flight at least (bytes) */
#define PACE_ALPHA (512 * 1024)	/* queued beyond the BDP: grow below */
#define PACE_BETA (1024 * 1024)	/* ... shrink above */
#define PACE_SAMPLE_US 50000		/* rate samples span this, or 2 RTT */
#define PACE_IDLE_US 250000		/* a pause this long: a new sample */
#define PACE_CALM_US 2000000		/* no stat for this long: full speed */

/* How much a stream keeps in flight one way. Alone on the link, the
 * per-file budget (8 MiB): the CPUs on both ends and the TCP buffers
 * need that to run at the link's speed. But bytes in flight also queue
 * in the TCP buffers ahead of everything else on the connection, so
 * once a path request (a stat, an ls) came while data was flowing, and
 * for 2 s after the last one, a stream keeps only what the link holds
 * (as TCP Vegas does): the bandwidth-delay product (measured rate
 * x the link's quickest round trip) plus 0.5 to 1 MiB. While that cap is
 * what limits the rate, the rate follows it up and the cap doubles. */
struct pace {
	uint64_t rate;		/* bytes/s, smoothed; 0: not known yet */
	int64_t t0, last;	/* this sample's start, the last bytes */
	uint64_t bytes;		/* in this sample */
	size_t cap;		/* bytes in flight allowed */
};
struct stream_pool {
	struct sftp_conn *conn;
	size_t per_file, total;
	pthread_mutex_t lock;	/* guards used */
	size_t used;		/* bytes in flight, all streams */
};

struct chunk {			/* one SFTP READ of readahead */
	struct stream *s;
	uint64_t off;
	size_t len, got;
	int done, err, dropped;
	int pins;		/* replies being sent from data */
	char *data;		/* a bpool block: the server's DATA lands
				 * here, and FUSE replies are sent from it */
};

struct reader {			/* a FUSE read waiting for chunks */
	struct fsreq r;
	uint64_t off;
	size_t size;
};

struct writer {			/* a FUSE write waiting for room */
	fuse_req_t req;
	size_t size;
};

struct wchunk {			/* one SFTP WRITE in flight */
	struct stream *s;
	size_t len;
	struct through *t;	/* write-through: the write it is part of */
};

struct through {		/* an O_SYNC write, answered by its last piece */
	fuse_req_t req;
	size_t size;
	int left;		/* pieces not answered */
	int err;
};

struct stream {
	struct stream_pool *p;
	struct sftp_file *f;	/* ours: one reference */
	int sync;		/* O_SYNC/O_DSYNC/O_DIRECT: write through */
	pthread_mutex_t lock;	/* guards everything below */
	int refs;		/* the opener + every request in flight */

	GQueue chunks;		/* struct chunk *, sorted by offset */
	GQueue readers;		/* struct reader * */
	uint64_t next_off;	/* a sequential reader reads here next */
	size_t window;		/* readahead bytes wanted ahead */
	size_t ra_bytes;	/* readahead held or in flight */
	uint64_t eof_at;	/* end of file seen by a READ or the open's
				 * attributes, or UINT64_MAX */

	struct pace rpace;	/* sequential reads */
	struct pace wpace;	/* writes answered */

	struct buf cbuf;	/* coalesced writes at coff, not sent yet */
	uint64_t coff;
	size_t wb_bytes;	/* written, not yet answered by the server */
	int wb_other;		/* FSETSTATs sent, not yet answered */
	uint64_t wend;		/* end of the furthest write */
	uint64_t wcount;	/* writes so far */
	int werr;		/* first write error: sticky, -errno */
	GQueue writers;		/* struct writer * */
};

static void send_cbuf(struct stream *s);

/* ---- the pool ---- */

struct stream_pool *stream_pool_new(struct sftp_conn *c, size_t per_file,
				    size_t total)
{
	struct stream_pool *p = g_new0(struct stream_pool, 1);

	p->conn = c;
	p->per_file = per_file;
	p->total = total;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void stream_pool_free(struct stream_pool *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	g_free(p);
}

static int pool_room(struct stream_pool *p, size_t n)
{
	int ok;

	pthread_mutex_lock(&p->lock);
	ok = p->used + n <= p->total;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static void pool_add(struct stream_pool *p, size_t n, int sign)
{
	pthread_mutex_lock(&p->lock);
	p->used = sign > 0 ? p->used + n : p->used - MIN(n, p->used);
	pthread_mutex_unlock(&p->lock);
}

/* ---- pacing (s->lock held) ---- */

static void pace_add(struct stream *s, struct pace *p, size_t n)
{
	int64_t now = g_get_monotonic_time();
	int64_t rtt = sftp_conn_min_rtt_us(s->p->conn);
	int64_t dt = now - p->t0;

	if (!p->t0 || now - p->last > PACE_IDLE_US + 2 * rtt) {
		p->t0 = now;	/* idle meanwhile: measure from here */
		p->bytes = 0;
		dt = 0;
	}
	p->last = now;
	p->bytes += n;
	if (dt < MAX(PACE_SAMPLE_US, 2 * rtt))
		return;
	{
		uint64_t sample = p->bytes * 1000000 / (uint64_t)dt;
		uint64_t bdp, cap = p->cap;

		p->rate = p->rate ? (p->rate + sample) / 2 : sample;
		bdp = p->rate * (uint64_t)MAX(rtt, 0) / 1000000;
		if (cap < bdp + PACE_ALPHA)
			cap = MAX(cap * 2, bdp + PACE_ALPHA);
		else if (cap > bdp + PACE_BETA)
			cap = bdp + PACE_BETA;
		p->cap = (size_t)CLAMP(cap, (uint64_t)PACE_FLOOR,
				       (uint64_t)s->p->per_file);
	}
	p->t0 = now;
	p->bytes = 0;
}

/* Bytes this stream may keep in flight one way: see struct pace. */
static size_t pace_cap(struct stream *s, const struct pace *p)
{
	int64_t meta = sftp_conn_last_meta_us(s->p->conn);

	if (meta && g_get_monotonic_time() - meta < PACE_CALM_US)
		return p->cap;
	return s->p->per_file;
}

/* ---- lifetime ---- */

struct stream *stream_new(struct stream_pool *p, struct sftp_file *f,
			  int flags)
{
	struct stream *s = g_new0(struct stream, 1);

	s->p = p;
	s->f = f;
	s->sync = (flags & (O_SYNC | O_DSYNC | O_DIRECT)) != 0;
	log_debug("stream: flags 0%o%s", (unsigned)flags, s->sync ? " (write-through)" : "");
	pthread_mutex_init(&s->lock, NULL);
	s->refs = 1;
	g_queue_init(&s->chunks);
	g_queue_init(&s->readers);
	g_queue_init(&s->writers);
	s->window = RA_START;
	s->rpace.cap = s->wpace.cap = PACE_FLOOR;
	s->eof_at = UINT64_MAX;
	buf_init(&s->cbuf, 0);
	return s;
}

static void chunk_free(struct chunk *c)
{
	bpool_put(c->data, c->len);
	g_free(c);
}

/* A chunk nothing refers to any more: out of the mount's budget too. */
static void chunk_release(struct stream *s, struct chunk *c)
{
	pool_add(s->p, c->len, -1);
	chunk_free(c);
}

static void stream_destroy(struct stream *s)
{
	struct chunk *c;

	while ((c = g_queue_pop_head(&s->chunks)))
		chunk_free(c);
	buf_free(&s->cbuf);
	sftp_file_unref(s->f);
	pthread_mutex_destroy(&s->lock);
	g_free(s);
}

/* Drop a reference with s->lock held; unlocks. Frees on the last one. */
static void unref_unlock(struct stream *s)
{
	int last = --s->refs == 0;

	pthread_mutex_unlock(&s->lock);
	if (last)
		stream_destroy(s);
}

struct sftp_file *stream_file(struct stream *s)
{
	return s->f;
}

/* ---- readahead ---- */

static void chunk_done(struct sftp_reply *r, void *data);

static void issue_chunk(struct stream *s, uint64_t off, size_t len)
{
	struct chunk *c = g_new0(struct chunk, 1);
	GList *l;

	c->s = s;
	c->off = off;
	c->len = len;
	c->data = bpool_get(len);
	for (l = s->chunks.tail; l && ((struct chunk *)l->data)->off > off;
	     l = l->prev)
		;
	if (l)
		g_queue_insert_after(&s->chunks, l, c);
	else
		g_queue_push_head(&s->chunks, c);
	s->ra_bytes += len;
	pool_add(s->p, len, 1);
	s->refs++;
	sftp_read_into(s->p->conn, s->f, off, (uint32_t)len, c->data,
		       chunk_done, c);
}

static struct chunk *chunk_at(struct stream *s, uint64_t pos)
{
	for (GList *l = s->chunks.head; l; l = l->next) {
		struct chunk *c = l->data;

		if (c->off <= pos && pos < c->off + c->len)
			return c;
		if (c->off > pos)
			break;
	}
	return NULL;
}

/* Make sure [off, end) is being fetched, in READs of max_read bytes.
 * Readahead (ahead) stops at the end of file seen so far; what a reader
 * asks for is always asked of the server: the file may have grown. */
static void cover(struct stream *s, uint64_t off, uint64_t end, int ahead)
{
	size_t max = sftp_conn_max_read(s->p->conn);

	if (ahead && end > s->eof_at)
		end = s->eof_at;
	while (off < end) {
		struct chunk *c = chunk_at(s, off);
		size_t len;

		if (c) {
			off = c->off + c->len;
			continue;
		}
		len = (size_t)MIN((uint64_t)max, end - off);
		if (ahead && len < max && end != s->eof_at)
			break;	/* readahead in whole READs only */
		/* Stop before the next chunk, so they never overlap. */
		for (GList *l = s->chunks.head; l; l = l->next) {
			struct chunk *n = l->data;

			if (n->off > off) {
				len = (size_t)MIN((uint64_t)len, n->off - off);
				break;
			}
		}
		issue_chunk(s, off, len);
		off += len;
	}
}

static int needed(struct stream *s, struct chunk *c)
{
	for (GList *l = s->readers.head; l; l = l->next) {
		struct reader *w = l->data;

		if (c->off < w->off + w->size && w->off < c->off + c->len)
			return 1;
	}
	return 0;
}

static void drop_chunk(struct stream *s, GList *l)
{
	struct chunk *c = l->data;

	g_queue_delete_link(&s->chunks, l);
	s->ra_bytes -= c->len;
	if (c->done && !c->pins)
		chunk_release(s, c);
	else
		c->dropped = 1;	/* chunk_done or the last unpin frees it */
}

/* Drop readahead no waiting reader needs; with below, only what ends at or
 * before it (consumed). */
static void drop_chunks(struct stream *s, int all, uint64_t below)
{
	GList *l = s->chunks.head;

	while (l) {
		GList *next = l->next;
		struct chunk *c = l->data;

		if ((all || c->off + c->len <= below) && !needed(s, c))
			drop_chunk(s, l);
		l = next;
	}
}

struct answer {
	struct reader *w;
	int err;
	int n;			/* pieces of data, each in a pinned chunk */
	struct iovec *iov;
	struct chunk **pinned;
};

/* Can reader w be answered? Then point a->iov at its data in the chunks,
 * pinned until the reply is sent (no copy), with a->err set if it failed
 * before any byte, and return 1. */
static int reader_ready(struct stream *s, struct reader *w, struct answer *a)
{
	uint64_t pos = w->off, end = w->off + w->size;
	int n = 0;

	/* First pass: everything needed has arrived? */
	while (pos < end) {
		struct chunk *c = chunk_at(s, pos);

		if (!c || !c->done)
			return 0;
		n++;
		if (c->err || c->got < c->len)
			break;	/* an error or end of file ends the read */
		pos = c->off + c->len;
	}
	a->iov = g_new(struct iovec, n ? n : 1);
	a->pinned = g_new(struct chunk *, n ? n : 1);
	for (pos = w->off; pos < end;) {
		struct chunk *c = chunk_at(s, pos);
		uint64_t have = c->off + c->got;

		if (c->err) {
			if (a->n == 0)
				a->err = c->err;
			break;
		}
		if (pos < have) {
			a->iov[a->n].iov_base = c->data + (pos - c->off);
			a->iov[a->n].iov_len = (size_t)(MIN(have, end) - pos);
			a->pinned[a->n++] = c;
			c->pins++;
		}
		if (c->got < c->len)
			break;
		pos = c->off + c->len;
	}
	return 1;
}

/* Take every reader that can be answered now (s->lock held); a non-empty
 * list holds a reference on s, for answer_readers(). */
static GSList *collect_readers(struct stream *s)
{
	GSList *out = NULL;
	GList *l = s->readers.head;

	while (l) {
		GList *next = l->next;
		struct answer *a = g_new0(struct answer, 1);

		a->w = l->data;
		if (reader_ready(s, a->w, a)) {
			g_queue_delete_link(&s->readers, l);
			out = g_slist_prepend(out, a);
		} else {
			g_free(a);
		}
		l = next;
	}
	if (out)
		s->refs++;
	return out;
}

/* Send the replies (s->lock not held), then unpin their chunks. */
static void answer_readers(struct stream *s, GSList *list)
{
	if (!list)
		return;
	for (GSList *l = list; l; l = l->next) {
		struct answer *a = l->data;

		if (fsreq_claim(&a->w->r)) {
			if (a->err)
				fuse_reply_err(a->w->r.req, -a->err);
			else
				fuse_reply_iov(a->w->r.req, a->iov, a->n);
		}
	}
	pthread_mutex_lock(&s->lock);
	for (GSList *l = list; l; l = l->next) {
		struct answer *a = l->data;

		for (int i = 0; i < a->n; i++) {
			struct chunk *c = a->pinned[i];

			if (--c->pins == 0 && c->dropped)
				chunk_release(s, c);
		}
		g_free(a->iov);
		g_free(a->pinned);
		g_free(a->w);
		g_free(a);
	}
	g_slist_free(list);
	unref_unlock(s);
}

static void chunk_done(struct sftp_reply *r, void *data)
{
	struct chunk *c = data;
	struct stream *s = c->s;
	GSList *ready;

	pthread_mutex_lock(&s->lock);
	if (!r->err && r->type == SSH_FXP_DATA && r->data_len > 0 &&
	    !c->dropped) {
		if (r->data != (unsigned char *)c->data + c->got)
			memcpy(c->data + c->got, r->data, r->data_len);
		c->got += r->data_len;
		if (c->off + c->got > s->eof_at)
			s->eof_at = UINT64_MAX;	/* the file grew */
		if (c->got < c->len && c->off + c->got < s->eof_at) {
			/* A short read is not end of file: ask for the rest. */
			sftp_read_into(s->p->conn, s->f, c->off + c->got,
				       (uint32_t)(c->len - c->got),
				       c->data + c->got, chunk_done, c);
			pthread_mutex_unlock(&s->lock);
			return;
		}
	} else if (r->err) {
		c->err = r->err;
	} else if (!c->dropped && c->off + c->got < s->eof_at) {
		s->eof_at = c->off + c->got;	/* EOF (or empty DATA) */
	}
	c->done = 1;
	if (c->dropped)
		chunk_release(s, c);
	ready = collect_readers(s);
	unref_unlock(s);
	answer_readers(s, ready);
}

void stream_read(struct stream *s, fuse_req_t req, size_t size, uint64_t off)
{
	struct reader *w = g_new0(struct reader, 1);
	int sequential;
	size_t ahead;
	GSList *ready;

	pthread_mutex_lock(&s->lock);
	send_cbuf(s);		/* reads see our own writes */
	fsreq_init(&w->r, req, 1);
	w->off = off;
	w->size = size;
	sequential = off == s->next_off ||
		     (off > s->next_off && off < s->next_off + s->window &&
		      s->chunks.length);
	if (sequential) {
		pace_add(s, &s->rpace, size);
		s->window = MIN(s->window * 2, pace_cap(s, &s->rpace));
	} else {
		log_debug("stream: reset at %llu (next %llu)",
			  (unsigned long long)off,
			  (unsigned long long)s->next_off);
		s->window = RA_START;
		drop_chunks(s, 1, 0);
	}
	s->next_off = off + size;
	g_queue_push_tail(&s->readers, w);
	cover(s, off, off + size, 0);
	/* Read ahead, within this file's and the mount's budget. */
	ahead = sequential ? s->window : 0;
	if (ahead && s->ra_bytes < s->p->per_file &&
	    pool_room(s->p, sftp_conn_max_read(s->p->conn)))
		cover(s, off + size, off + size + ahead, 1);
	drop_chunks(s, 0, off);
	ready = collect_readers(s);
	pthread_mutex_unlock(&s->lock);
	answer_readers(s, ready);
}

void stream_expect(struct stream *s, uint64_t size, size_t prefetch)
{
	pthread_mutex_lock(&s->lock);
	s->eof_at = size;
	/* Whole pages, as the kernel will ask: its first READ finds this. */
	if (prefetch && size)
		cover(s, 0, MIN((size + 4095) & ~(uint64_t)4095,
				(uint64_t)prefetch), 0);
	pthread_mutex_unlock(&s->lock);
}

void stream_invalidate(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	drop_chunks(s, 1, 0);
	s->eof_at = UINT64_MAX;
	s->next_off = 0;
	s->window = RA_START;
	pthread_mutex_unlock(&s->lock);
}

/* ---- write-behind ---- */

static void wchunk_done(struct sftp_reply *r, void *data);

/* Queue a WRITE of [off, off+len) (s->lock held). */
static void send_write(struct stream *s, uint64_t off, const void *buf,
		       size_t len, struct wchunk *w)
{
	w->s = s;
	w->len = len;
	s->wb_bytes += len;
	pool_add(s->p, len, 1);
	s->refs++;
	sftp_write(s->p->conn, s->f, off, buf, len, wchunk_done, w);
}

static void send_cbuf(struct stream *s)
{
	if (!s->cbuf.len)
		return;
	send_write(s, s->coff, s->cbuf.data, s->cbuf.len,
		   g_new0(struct wchunk, 1));
	s->cbuf.len = 0;
}

void stream_push(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	send_cbuf(s);
	pthread_mutex_unlock(&s->lock);
}

static int have_room(struct stream *s)
{
	return s->wb_bytes + s->cbuf.len <= pace_cap(s, &s->wpace) &&
	       pool_room(s->p, 0);
}

static void wchunk_done(struct sftp_reply *r, void *data)
{
	struct wchunk *w = data;
	struct stream *s = w->s;
	GSList *answer = NULL;
	struct writer *wr;
	struct through *through = NULL;
	int err;

	pthread_mutex_lock(&s->lock);
	s->wb_bytes -= w->len;
	pool_add(s->p, w->len, -1);
	if (!r->err)
		pace_add(s, &s->wpace, w->len);
	if (r->err && !s->werr) {
		s->werr = r->err;
		log_err("write failed: %s; the next write, fsync or close "
			"reports it", g_strerror(-r->err));
	}
	/* Room, or nothing of ours left in flight: then the mount's budget
	 * is held by other files, whose completions do not wake us; go on
	 * (one write over the budget per file at most). */
	while (!g_queue_is_empty(&s->writers) &&
	       (s->werr || have_room(s) || s->wb_bytes == 0))
		answer = g_slist_append(answer, g_queue_pop_head(&s->writers));
	err = s->werr;
	if (w->t && r->err && !w->t->err)
		w->t->err = r->err;
	if (w->t && --w->t->left == 0)
		through = w->t;	/* write-through: the last piece answers */
	unref_unlock(s);
	if (through && through->err)
		fuse_reply_err(through->req, -through->err);
	else if (through)
		fuse_reply_write(through->req, through->size);
	g_free(through);
	for (GSList *l = answer; l; l = l->next) {
		wr = l->data;
		if (err)
			fuse_reply_err(wr->req, -err);
		else
			fuse_reply_write(wr->req, wr->size);
		g_free(wr);
	}
	g_slist_free(answer);
	g_free(w);
}

/* O_SYNC and friends: answered when the server has answered every piece. */
static void write_through(struct stream *s, fuse_req_t req, const char *buf,
			  size_t size, uint64_t off)
{
	size_t max = sftp_conn_max_write(s->p->conn);
	int n = size ? (int)((size + max - 1) / max) : 1;
	struct through *t = g_new0(struct through, 1);

	g_assert(n > 0);	/* the last piece frees t */
	t->req = req;
	t->size = size;
	t->left = n;
	for (int i = 0; i < n; i++) {
		struct wchunk *w = g_new0(struct wchunk, 1);
		size_t start = (size_t)i * max;

		w->t = t;
		send_write(s, off + start, buf + start, MIN(max, size - start),
			   w);
	}
}

void stream_write(struct stream *s, fuse_req_t req, const char *buf,
		  size_t size, uint64_t off)
{
	size_t max = sftp_conn_max_write(s->p->conn);
	int err, room;

	pthread_mutex_lock(&s->lock);
	err = s->werr;
	if (err) {
		pthread_mutex_unlock(&s->lock);
		fuse_reply_err(req, -err);
		return;
	}
	drop_chunks(s, 1, 0);	/* readahead no longer matches */
	s->eof_at = UINT64_MAX;
	s->wend = MAX(s->wend, off + size);
	s->wcount++;
	if (s->sync) {
		send_cbuf(s);
		write_through(s, req, buf, size, off);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (s->cbuf.len && (off != s->coff + s->cbuf.len ||
			    s->cbuf.len + size > max))
		send_cbuf(s);
	if (s->cbuf.len == 0 && size >= max / 2) {
		/* Big writes go out at once, in pieces the server takes. */
		for (size_t done = 0; done < size; done += max)
			send_write(s, off + done, buf + done,
				   MIN(max, size - done),
				   g_new0(struct wchunk, 1));
	} else {
		if (s->cbuf.len == 0)
			s->coff = off;
		buf_put_raw(&s->cbuf, buf, size);
		if (s->cbuf.len >= max / 2)
			send_cbuf(s);
	}
	/* Parked only behind writes of our own in flight: their
	 * completions wake it (wchunk_done). With none, the budget is held
	 * by other files, which would never wake it: answer now, as
	 * wchunk_done does. */
	room = have_room(s) || s->wb_bytes == 0;
	if (!room) {
		struct writer *w = g_new0(struct writer, 1);

		w->req = req;
		w->size = size;
		g_queue_push_tail(&s->writers, w);
	}
	pthread_mutex_unlock(&s->lock);
	if (room)
		fuse_reply_write(req, size);
}

static void setstat_done(struct sftp_reply *r, void *data)
{
	struct stream *s = data;

	/* Sent only when the server surely does it (fs.c, setattr_sure):
	 * should it refuse after all, that is no data lost, and no later
	 * write or close of the file is to fail for it. */
	if (r->err)
		log_warn("setting a file's attributes behind its writes "
			 "failed: %s", g_strerror(-r->err));
	pthread_mutex_lock(&s->lock);
	s->wb_other--;
	unref_unlock(s);
}

int stream_setstat(struct stream *s, const struct sftp_attrs *a)
{
	int err;

	pthread_mutex_lock(&s->lock);
	err = s->werr;
	if (!err) {
		send_cbuf(s);	/* after the writes: times stay as set */
		s->wb_other++;
		s->refs++;
		sftp_fsetstat(s->p->conn, s->f, a, setstat_done, NULL, s);
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

void stream_write_marks(struct stream *s, uint64_t *end, uint64_t *count)
{
	pthread_mutex_lock(&s->lock);
	*end = s->wend;
	*count = s->wcount;
	pthread_mutex_unlock(&s->lock);
}

/* ---- flush, fsync, close ---- */

struct barrier {
	struct stream *s;
	fuse_req_t req;
};

/* Every WRITE sent before the barrier has been answered by now. */
static void barrier_done(struct sftp_reply *r, void *data)
{
	struct barrier *b = data;
	struct stream *s = b->s;
	int err;

	pthread_mutex_lock(&s->lock);
	err = s->werr ? s->werr : r->err;
	unref_unlock(s);
	fuse_reply_err(b->req, -err);
	g_free(b);
}

static void barrier(struct stream *s, fuse_req_t req, int fsync)
{
	struct barrier *b = g_new0(struct barrier, 1);

	b->s = s;
	b->req = req;
	pthread_mutex_lock(&s->lock);
	send_cbuf(s);
	s->refs++;
	if (fsync)
		sftp_fsync(s->p->conn, s->f, barrier_done, b);
	else	/* a cheap request on the same handle, answered in order */
		sftp_handle(s->p->conn, SSH_FXP_FSTAT, s->f, barrier_done, b);
	pthread_mutex_unlock(&s->lock);
}

void stream_flush(struct stream *s, fuse_req_t req)
{
	int clean;

	pthread_mutex_lock(&s->lock);
	clean = !s->cbuf.len && !s->wb_bytes && !s->wb_other;
	if (clean && !s->werr) {
		pthread_mutex_unlock(&s->lock);
		fuse_reply_err(req, 0);	/* nothing written: no round trip */
		return;
	}
	pthread_mutex_unlock(&s->lock);
	barrier(s, req, 0);
}

void stream_fsync(struct stream *s, fuse_req_t req, int have_fsync)
{
	barrier(s, req, have_fsync);
}

void stream_close(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	send_cbuf(s);
	drop_chunks(s, 1, 0);
	sftp_handle(s->p->conn, SSH_FXP_CLOSE, s->f, NULL, NULL);
	unref_unlock(s);
}
