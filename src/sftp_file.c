/* sftp_file: open files and directories on the server: handles that
 * survive reconnects (reopened by path, checked to be the same file), lazy
 * opens, and the table of files open for writing by path that path
 * requests follow. Moved out of sftp.c; see rfs/sftp.h for the API.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <glib.h>

#include "rfs/sftp.h"
#include "rfs/log.h"
#include "sftp_int.h"

/* ---- files ---- */

/* Files open for writing, by path: a path request naming one (a stat, a
 * truncate, a chmod) goes on that file's lane, after its writes, since
 * another lane's server process could overtake them. Lock order:
 * writers_lock, then a file's lock.
 * Why here and not on the fs side (stream.c, fs_file.c): an entry lives
 * as long as the sftp_file (the last unref, often a CLOSE's on the I/O
 * thread), not as long as the fs's open file; it is keyed by the path
 * sftp_file_set_path renames; and it is read when a request is queued,
 * to route it. An fs-side table would need a routing callback into
 * every builder and would end at release, before the CLOSE. */
static pthread_mutex_t writers_lock = PTHREAD_MUTEX_INITIALIZER;
static gint files_alive;	/* struct sftp_file: open handles (atomic) */
static GHashTable *writers;	/* path (ours) -> GPtrArray of files */

static void writers_add(struct sftp_file *f, const char *path)
{
	GPtrArray *a;

	pthread_mutex_lock(&writers_lock);
	if (!writers)
		writers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
			(GDestroyNotify)g_ptr_array_unref);
	a = g_hash_table_lookup(writers, path);
	if (!a) {
		a = g_ptr_array_new();
		g_hash_table_insert(writers, g_strdup(path), a);
	}
	g_ptr_array_add(a, f);
	pthread_mutex_unlock(&writers_lock);
}

static void writers_del(struct sftp_file *f, const char *path)
{
	GPtrArray *a;

	pthread_mutex_lock(&writers_lock);
	a = writers ? g_hash_table_lookup(writers, path) : NULL;
	if (a && g_ptr_array_remove(a, f) && !a->len)
		g_hash_table_remove(writers, path);
	pthread_mutex_unlock(&writers_lock);
}

/* A file open for writing under path: where its handle lives. */
int sftp_file_writer(const char *path, struct sftp_conn **c,
			uint8_t *lane)
{
	struct sftp_file *f;
	GPtrArray *a;
	int found = 0;

	pthread_mutex_lock(&writers_lock);
	a = writers ? g_hash_table_lookup(writers, path) : NULL;
	/* The oldest: with two writers of one path (on two connections at
	 * worst) a path request follows the first one's writes. */
	f = a && a->len ? a->pdata[0] : NULL;
	if (f) {
		pthread_mutex_lock(&f->lock);
		if (f->conn) {
			*c = f->conn;
			*lane = f->lane;
			found = 1;
		}
		pthread_mutex_unlock(&f->lock);
	}
	pthread_mutex_unlock(&writers_lock);
	return found;
}

unsigned sftp_file_count(void)
{
	return (unsigned)g_atomic_int_get(&files_alive);
}

/* A file without a handle yet (gen 0: no connection's). */
static struct sftp_file *file_alloc(const char *path, uint32_t pflags)
{
	struct sftp_file *f = g_new0(struct sftp_file, 1);

	g_atomic_int_inc(&files_alive);
	f->refs = 1;
	pthread_mutex_init(&f->lock, NULL);
	f->path = g_strdup(path);
	f->pflags = pflags & ~(SSH_FXF_CREAT | SSH_FXF_EXCL | SSH_FXF_TRUNC);
	g_queue_init(&f->parked);
	if (path && (pflags & SSH_FXF_WRITE)) {
		f->writer = 1;
		writers_add(f, path);
	}
	return f;
}

struct sftp_file *sftp_file_new(const struct sftp_reply *r, const char *path,
				uint32_t pflags)
{
	struct sftp_file *f = file_alloc(path, pflags);

	f->gen = r->gen;
	f->len = (uint32_t)MIN(r->handle_len, SFTP_MAX_HANDLE);
	memcpy(f->data, r->handle, f->len);
	pthread_mutex_lock(&f->lock);
	f->conn = r->conn;
	f->lane = (uint8_t)r->lane;
	pthread_mutex_unlock(&f->lock);
	return f;
}

struct sftp_file *sftp_file_lazy(const char *path, uint32_t pflags)
{
	struct sftp_file *f = file_alloc(path, pflags);

	f->lazy = 1;
	return f;
}

int sftp_file_is_open(struct sftp_file *f)
{
	int open;

	pthread_mutex_lock(&f->lock);
	open = f->gen != 0;
	pthread_mutex_unlock(&f->lock);
	return open;
}

struct sftp_file *sftp_file_ref(struct sftp_file *f)
{
	g_atomic_int_inc(&f->refs);
	return f;
}

void sftp_file_unref(struct sftp_file *f)
{
	if (!f || !g_atomic_int_dec_and_test(&f->refs))
		return;
	if (f->writer && f->path)
		writers_del(f, f->path);
	g_free(f->path);
	pthread_mutex_destroy(&f->lock);
	g_free(f);
	g_atomic_int_add(&files_alive, -1);
}

void sftp_file_set_path(struct sftp_file *f, const char *path)
{
	char *old;

	pthread_mutex_lock(&f->lock);
	old = f->path;
	if (old) {
		f->path = g_strdup(path);
		f->gone = !path;
	}
	pthread_mutex_unlock(&f->lock);
	if (old && f->writer) {
		writers_del(f, old);
		if (path)
			writers_add(f, path);
	}
	g_free(old);
}

/* Give f a place if it has none yet (a lazy file): a connection of c's,
 * the bulk lane. Returns that connection. */
struct sftp_conn *sftp_file_bind(struct sftp_conn *c, struct sftp_file *f)
{
	struct sftp_conn *to;

	struct sftp_conn *w = NULL;
	uint8_t lane = LANE_BULK;
	char *path = NULL;

	pthread_mutex_lock(&f->lock);
	if (!f->conn && f->path && !f->writer)
		path = g_strdup(f->path);
	pthread_mutex_unlock(&f->lock);
	/* After the writes of a file open for writing under that path (the
	 * writers table is locked before a file). */
	if (path && !sftp_file_writer(path, &w, &lane))
		w = NULL;
	g_free(path);
	pthread_mutex_lock(&f->lock);
	if (!f->conn) {
		f->conn = w ? w : recon_pick_conn(c);
		f->lane = w ? lane : LANE_BULK;
	}
	to = f->conn;
	pthread_mutex_unlock(&f->lock);
	return to;
}

void sftp_file_colocate(struct sftp_conn *c, struct sftp_file *f,
			struct sftp_file *with)
{
	struct sftp_conn *to = sftp_file_bind(c, with);
	uint8_t lane;

	pthread_mutex_lock(&with->lock);
	lane = with->lane;
	pthread_mutex_unlock(&with->lock);
	pthread_mutex_lock(&f->lock);
	if (!f->conn) {
		f->conn = to;
		f->lane = lane;
	}
	pthread_mutex_unlock(&f->lock);
}

/* ---- reopening files after a reconnect (I/O thread) ----
 *
 * The first request on a file whose handle is of an older connection
 * starts a reopen: OPEN the same path with the same flags, then FSTAT the
 * new handle to check it is still the same file. Until every reopen has
 * finished, that request and all after it are held, so requests keep the
 * order they were submitted in (a flush after writes, a stat after a
 * truncate). */

struct reopen {
	struct sftp_conn *c;
	struct sftp_file *f;	/* a ref */
	uint32_t gen;		/* the connection it runs on */
	int first;		/* a lazy file's first open: no check, and
				 * only its own requests wait */
	uint32_t len;		/* the new handle */
	unsigned char data[SFTP_MAX_HANDLE];
};

static void send_internal(struct sftp_conn *c, struct sftp_req *q,
			  uint8_t lane, sftp_done_cb cb, void *data)
{
	q->internal = 1;
	q->lane = lane;
	q->cb = cb;
	q->data = data;
	buf_set_u32(&q->pkt, 0, (uint32_t)(q->pkt.len - 4));
	sftp_send_req(c, q);
}

/* Requests that waited (in order) go to the front of the queue again. */
static void requeue_front(struct sftp_conn *c, GQueue *waited)
{
	struct sftp_req *q;

	pthread_mutex_lock(&c->lock);
	while ((q = g_queue_pop_tail(waited)))
		g_queue_push_head(&c->incoming, q);
	pthread_mutex_unlock(&c->lock);
	loop_wake(c->loop);
}

/* Done with one file: it has its new handle, or f->stale is set. */
static void reopen_end(struct reopen *ro, int err)
{
	struct sftp_conn *c = ro->c;
	struct sftp_file *f = ro->f;
	char *path;

	pthread_mutex_lock(&f->lock);
	path = g_strdup(f->path);
	if (!err) {
		f->gen = ro->gen;
		f->len = ro->len;
		memcpy(f->data, ro->data, ro->len);
	}
	pthread_mutex_unlock(&f->lock);
	f->reopening = 0;
	if (err) {
		f->stale = err;
		log_err("%s: cannot reopen after the reconnect (%s): its "
			"requests fail with %s", path,
			err == -ESTALE ? "removed or replaced meanwhile"
				       : g_strerror(-err),
			err == -ESTALE ? "ESTALE" : "that error");
	} else {
		log_info("%s: reopened after the reconnect", path);
	}
	g_free(path);
	if (--c->reopening == 0)
		requeue_front(c, &c->held);
	sftp_file_unref(f);
	g_free(ro);
}

/* The connection broke again while reopening: the file is reopened on
 * the next one (recon_conn_fail() has put the held requests back). */
/* A lazy file's parked requests go back to the queue (they are sent,
 * or fail, with everything else), or fail with err. */
static void unpark(struct sftp_conn *c, struct sftp_file *f, int err)
{
	struct sftp_req *q;

	if (!err) {
		requeue_front(c, &f->parked);
		return;
	}
	while ((q = g_queue_pop_head(&f->parked)))
		sftp_req_fail(q, err);
}

static int reopen_lost(struct reopen *ro)
{
	if (ro->gen == ro->c->gen && sftp_get_state(ro->c) == CONN_UP)
		return 0;
	ro->f->reopening = 0;
	if (ro->first)		/* tried again on the next connection */
		unpark(ro->c, ro->f,
		       sftp_get_state(ro->c) == CONN_CLOSED ? -EIO : 0);
	sftp_file_unref(ro->f);
	g_free(ro);
	return 1;
}

/* The first open of a lazy file answered. */
static void lazy_opened(struct reopen *ro, struct sftp_reply *r)
{
	struct sftp_file *f = ro->f;
	int err = r->err == -ENOENT ? -ESTALE : r->err;

	f->reopening = 0;
	if (!err) {
		pthread_mutex_lock(&f->lock);
		f->gen = ro->gen;
		f->len = (uint32_t)r->handle_len;
		memcpy(f->data, r->handle, r->handle_len);
		pthread_mutex_unlock(&f->lock);
		f->lazy = 0;
	} else {
		f->stale = err;
	}
	unpark(ro->c, f, err);
	sftp_file_unref(f);
	g_free(ro);
}

static void reopen_stat(struct sftp_reply *r, void *data)
{
	struct reopen *ro = data;
	struct sftp_file *f = ro->f;
	const struct sftp_attrs *a = &r->attrs, *was = &f->seen;
	int same;

	if (reopen_lost(ro))
		return;
	same = !r->err &&
	       (!(a->flags & SFTP_ATTR_PERMISSIONS) || S_ISREG(a->perm)) &&
	       (!(a->flags & SFTP_ATTR_UIDGID) ||
		!(was->flags & SFTP_ATTR_UIDGID) ||
		(a->uid == was->uid && a->gid == was->gid));
	if (same) {
		f->seen = *a;
		reopen_end(ro, 0);
		return;
	}
	/* Not ours any more: close the new handle, keep the file stale. */
	{
		struct sftp_req *q = sftp_req_new(SSH_FXP_CLOSE, 0, ro->len);

		buf_put_string(&q->pkt, ro->data, ro->len);
		send_internal(ro->c, q, f->lane, sftp_ignore_reply, NULL);
	}
	reopen_end(ro, -ESTALE);
}

static void reopen_open(struct sftp_reply *r, void *data)
{
	struct reopen *ro = data;
	struct sftp_req *q;

	if (reopen_lost(ro))
		return;
	if (ro->first)
		return lazy_opened(ro, r);
	if (r->err) {
		reopen_end(ro, r->err == -ENOENT ? -ESTALE : r->err);
		return;
	}
	ro->len = (uint32_t)r->handle_len;
	memcpy(ro->data, r->handle, r->handle_len);
	q = sftp_req_new(SSH_FXP_FSTAT, SSH_FXP_ATTRS, ro->len);
	buf_put_string(&q->pkt, ro->data, ro->len);
	send_internal(ro->c, q, ro->f->lane, reopen_stat, ro);
}

void sftp_file_reopen(struct sftp_conn *c, struct sftp_file *f)
{
	struct reopen *ro = g_new0(struct reopen, 1);
	struct sftp_req *q;
	struct sftp_attrs none = { 0 };

	ro->c = c;
	ro->f = sftp_file_ref(f);
	ro->gen = c->gen;
	ro->first = f->lazy;
	f->reopening = 1;
	if (!ro->first)
		c->reopening++;
	pthread_mutex_lock(&f->lock);
	/* This connection may have fewer lanes than the last one. */
	f->lane = (uint8_t)MIN(f->lane, c->nlanes - 1);
	q = sftp_req_new(SSH_FXP_OPEN, SSH_FXP_HANDLE, strlen(f->path) + 16);
	buf_put_cstring(&q->pkt, f->path);
	pthread_mutex_unlock(&f->lock);
	buf_put_u32(&q->pkt, f->pflags);
	buf_put_attrs(&q->pkt, &none);
	send_internal(c, q, f->lane, reopen_open, ro);
}

/* Is f's handle one of this connection? 1 yes, 0 not yet (a reopen is
 * under way), HANDLE_LOST, or -errno. */
int sftp_file_ready(struct sftp_conn *c, struct sftp_file *f)
{
	uint32_t gen;
	int reopenable, gone;

	if (f->stale)
		return f->stale;
	pthread_mutex_lock(&f->lock);
	gen = f->gen;
	reopenable = f->path != NULL;
	gone = f->gone;
	pthread_mutex_unlock(&f->lock);
	if (gen == c->gen)
		return 1;
	if (gone)
		return -ESTALE;
	if (!reopenable)
		return HANDLE_LOST;
	if (!f->reopening)
		sftp_file_reopen(c, f);
	return 0;
}

/* Put the file's current handle into q's packet, if it changed. */
void sftp_file_patch_handle(struct sftp_req *q)
{
	struct sftp_file *f = q->file;

	pthread_mutex_lock(&f->lock);
	if (q->hgen != f->gen) {
		if (q->hlen == f->len) {
			memcpy(q->pkt.data + q->hoff, f->data, f->len);
		} else {	/* another length: rebuild the packet */
			struct buf b;
			size_t tail = q->hoff + q->hlen;

			buf_init(&b, q->pkt.len + f->len);
			buf_put_raw(&b, q->pkt.data, q->hoff - 4);
			buf_put_string(&b, f->data, f->len);
			buf_put_raw(&b, q->pkt.data + tail, q->pkt.len - tail);
			buf_free(&q->pkt);
			q->pkt = b;
			buf_set_u32(&q->pkt, 0, (uint32_t)(q->pkt.len - 4));
			q->hlen = f->len;
		}
		q->hgen = f->gen;
	}
	pthread_mutex_unlock(&f->lock);
}
