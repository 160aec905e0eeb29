/* sftp_int: what sftp.c (the protocol and the request window),
 * sftp_req.c (the request builders), sftp_file.c (handles, lazy opens,
 * reopens after a reconnect) and recon.c (the link manager) share.
 * Private: no other file includes it.
 */
#ifndef RFS_SFTP_INT_H
#define RFS_SFTP_INT_H

#include <pthread.h>
#include <stdint.h>
#include <glib.h>
#include <libssh2.h>

#include "rfs/buf.h"
#include "rfs/chan.h"
#include "rfs/loop.h"
#include "rfs/sftp.h"
#include "rfs/xport.h"

struct sftp_file {
	gint refs;
	pthread_mutex_t lock;	/* guards gen, len, data, path */
	uint32_t gen;		/* connection generation of the handle */
	uint32_t len;
	unsigned char data[SFTP_MAX_HANDLE];
	char *path;		/* where to reopen it; NULL: never */
	uint32_t pflags;	/* how (no CREAT, EXCL, TRUNC) */
	int gone;		/* its name now is another file's */
	/* I/O thread only. */
	int reopening;		/* OPEN (+ FSTAT) in flight */
	int lazy;		/* never opened yet: opened by the first
				 * request that needs it */
	GQueue parked;		/* lazy: requests waiting for the OPEN */
	int stale;		/* -errno once reopening failed */
	struct sftp_attrs seen;	/* from the last FSTAT: who it was */
	/* Where its handle lives (guarded by lock; set once, the lane only
	 * changes on its connection's I/O thread): NULL until a request
	 * needs it (a lazy file) or the OPEN answered. */
	struct sftp_conn *conn;
	uint8_t lane;
	int writer;		/* in the writers table under its path */
};

struct sftp_req {
	uint32_t id;
	uint8_t type;		/* request packet type */
	uint8_t want;		/* reply type expected besides STATUS */
	uint8_t internal;	/* ours (INIT, reopen): never sent again */
	uint8_t no_replay;	/* outcome unknown after a loss: fail it */
	uint8_t replayed;	/* sent again after a reconnect */
	uint8_t losses;		/* links lost while it was in flight */
	uint8_t lane;		/* the channel it goes on (LANE_*) */
	struct sftp_conn *bulk;	/* READ/WRITE: counted in its bulk_pending */
	struct sftp_conn *owner;	/* counted in its in_flight */
	uint32_t max_data;	/* READ: bytes asked for */
	unsigned char *dest;	/* READ: where the data goes, or NULL */
	struct buf pkt;		/* whole packet, kept until the reply */
	struct sftp_file *file;	/* handle requests: the file (a ref) */
	struct sftp_file *file2;	/* copy-data's destination */
	size_t hoff;		/* where the handle's bytes are in pkt */
	uint32_t hlen, hgen;	/* and which handle they are */
	uint64_t seq;		/* order of sending */
	sftp_done_cb cb;
	void *data;
	int64_t sent_ms;	/* submitted, then sent */
	int64_t sent_us;	/* sent (monotonic, microseconds) */
	uint64_t after;		/* replies the conn had when it was sent:
				 * requests sent together share it (the
				 * debug log shows it, round trips count) */
};

enum conn_state {
	CONN_INIT,		/* INIT sent, waiting for VERSION */
	CONN_UP,
	CONN_DOWN,		/* lost; requests wait for the reconnect */
	CONN_CLOSED,		/* gone for good: requests fail at once */
};

/* Lanes: SFTP channels on one SSH session, each its own sftp-server
 * process on the server (which answers one request at a time, in order).
 * Metadata requests take one, file data the other, so a stat never waits
 * behind megabytes of READ replies. A handle belongs to the lane (the
 * server process) that opened it. */
#define LANE_META 0
#define LANE_BULK 1
#define NLANES 2

struct lane {
	struct chan ch;		/* its byte stream (chan.h) */
	GHashTable *pending;	/* id -> struct sftp_req * */
	GQueue outq;		/* requests with an id, not fully written */
	struct buf out;		/* bytes for chan_write */
	size_t out_off;
	struct sftp_req *cur;	/* a big packet being written from its own
				 * memory (not copied into out) */
	size_t cur_off;
	struct buf in;		/* bytes read, not yet a whole packet */
	struct sftp_req *direct;	/* a DATA reply whose data is being
				 * read straight into direct->dest */
	size_t direct_got, direct_len;
	int peek;		/* the last reply went direct: read the next
				 * one's header alone first, so that its data
				 * is not copied through in */
	uint32_t next_id;
	int version;		/* 0 until VERSION arrived */
};

struct sftp_conn {
	struct xport x;		/* the sessions (with jump hosts) and socket,
				 * or a transport of fds (chan.h) */
	LIBSSH2_SESSION *session;	/* = x.session: NULL while down, and
				 * with a transport of fds */
	int linked;		/* a link is installed (gen tells which) */
	const char *transport;	/* x.kind of the first link (static) */
	char *start_err;	/* why the first start failed, if known */
	struct buf start_stderr;	/* the head of the server's stderr
					 * before VERSION */
	int start_child;	/* ... and it is our ssh child's exit */
	struct lane lanes[NLANES];
	int nlanes;		/* open on this session: 1 or 2 */
	int init_left, init_err;	/* INITs not answered yet */
	sftp_done_cb init_cb;	/* when all are */
	void *init_data;
	int sock;		/* = x.sock, polled for the SSH session; -1
				 * with a transport of fds (each lane's are
				 * polled) */
	struct loop *loop;
	pthread_t thread;
	int thread_started;
	int stopping;		/* stop_thread() asks the loop to stop
				 * (atomic) */

	pthread_mutex_t lock;	/* guards incoming, state, gen */
	GQueue incoming;	/* struct sftp_req *, not yet given an id */
	int state;		/* enum conn_state */
	int64_t state_since;	/* state or offline changed, wall clock s */
	uint32_t gen;		/* connection generation, from 1; handles
				 * of another generation are stale */

	/* Reconnect (I/O thread). */
	sftp_connect_cb reconnect;
	void *reconnect_data;
	int reconnect_timeout_ms;	/* how long a request waits */
	int attempts;
	int64_t down_since;
	unsigned replays, lost;	/* requests of the outage: sent again,
				 * failed with it */
	int offline;		/* down for reconnect_timeout: fail at once
				 * (guarded by lock) */
	long long expire_timer;
	struct recon_job *job;	/* an attempt running on its thread */

	/* I/O thread only. */
	uint64_t next_seq;
	uint64_t replies;	/* replies handled (I/O thread): see after */
	int reopening;		/* files being reopened after a reconnect */
	GQueue held;		/* requests waiting for them, in order */
	/* Liveness (I/O thread). */
	int probe_ms;		/* a request unanswered this long, with the
				 * link silent as long: probe */
	int dead_ms;		/* waited this long with the link silent:
				 * dead */
	int alive_ms;		/* ServerAliveInterval: probe an idle link */
	int64_t probe_sent;	/* last keepalive sent, 0 none */
	void (*link_cb)(void *data, int usable);
	void *link_data;
	int usable;		/* as last reported to link_cb */
	int64_t mono0, boot0;	/* clocks at the last tick: suspend */
	int nl_fd;		/* rtnetlink: local addresses changing */

	/* Commands run on the server (sftp_exec.c; I/O thread only). */
	GQueue execs;		/* struct exec_job *, taken, in order */
	int exec_works;		/* on this link: 1 yes, -1 no, 0 not known */
	char *exec_why;		/* why not */

	uint32_t exts;
	uint32_t server_version;	/* the last VERSION's number */
	GString *ext_names;
	size_t max_read, max_write;
	/* Counters: the I/O thread adds, any thread reads (__atomic). */
	struct sftp_stats stats;
	int64_t min_rtt_us;	/* the quickest metadata answer of this
				 * link (0: none yet): the path's round trip
				 * without queueing */
	int64_t meta_us;	/* when the last path request was submitted
				 * while file data was in flight */
	int bulk_pending;	/* READs and WRITEs not answered (atomic) */
	int in_flight;		/* requests submitted, not answered (atomic) */

	/* -o max_conns: the first connection (the one fs.c holds) lists
	 * them all, itself first; set before the I/O threads start. */
	struct sftp_conn *primary;	/* NULL: this is the first */
	struct sftp_conn **all;
	unsigned nall;
	unsigned rr;		/* round robin of new files (atomic) */
};

#define STATS_ADD(c, field, n) \
	__atomic_fetch_add(&(c)->stats.field, (uint64_t)(n), __ATOMIC_RELAXED)

#define HANDLE_LOST (-0x10000)	/* not an errno: died with its connection */

/* sftp.c */
void sftp_req_free(struct sftp_req *q);
void sftp_req_fail(struct sftp_req *q, int err);
void sftp_req_lost(struct sftp_req *q);
void sftp_state_changed(struct sftp_conn *c);
int sftp_get_state(struct sftp_conn *c);
/* Change c->state (and state_since), logged at debug; _locked: under
 * c->lock, with other fields that change with it. */
void sftp_set_state(struct sftp_conn *c, int state);
void sftp_set_state_locked(struct sftp_conn *c, int state);
void sftp_drop_session(struct sftp_conn *c, int polite);
void sftp_fail_queue(GQueue *q, int err);
struct sftp_req *sftp_req_new(uint8_t type, uint8_t want, size_t hint);
void sftp_ignore_reply(struct sftp_reply *r, void *data);
/* Queue q (and then, if not NULL, right behind it on the same lane) on
 * c, or on the connection of q's file; wake the I/O thread. Any thread. */
void sftp_submit2(struct sftp_conn *c, struct sftp_req *q, sftp_done_cb cb,
		  struct sftp_req *then, sftp_done_cb then_cb, void *data);
void sftp_submit(struct sftp_conn *c, struct sftp_req *q, sftp_done_cb cb,
		 void *data);
/* qs[0..n), each right behind the one before on qs[0]'s lane, each with
 * its own callback and data. */
void sftp_submit_chain(struct sftp_conn *c, int n, struct sftp_req **qs,
		       sftp_done_cb *cbs, void **datas);
void sftp_send_req(struct sftp_conn *c, struct sftp_req *q);
void sftp_pump(struct sftp_conn *c);
/* Open the lanes' streams of x into ch[] (an SSH session: one sftp
 * channel each, 1 or NLANES; a transport of fds: its stream): how many,
 * or 0 with *err. */
int sftp_open_lanes(struct xport *x, struct chan ch[NLANES], GError **err);
void sftp_install(struct sftp_conn *c, struct chan ch[NLANES], int n,
		  sftp_done_cb init_cb, void *data);

/* sftp_req.c */
/* An EXTENDED request named name, wanting want besides STATUS. */
struct sftp_req *sftp_req_ext(const char *name, uint8_t want, size_t hint);

/* sftp_file.c */
/* struct sftp_file alive: open handles. Any thread. */
unsigned sftp_file_count(void);
int sftp_file_writer(const char *path, struct sftp_conn **c, uint8_t *lane);
struct sftp_conn *sftp_file_bind(struct sftp_conn *c, struct sftp_file *f);
void sftp_file_reopen(struct sftp_conn *c, struct sftp_file *f);
int sftp_file_ready(struct sftp_conn *c, struct sftp_file *f);
void sftp_file_patch_handle(struct sftp_req *q);

/* sftp_exec.c */
#define SFTP_REQ_EXEC 0		/* q->type of a command (not a packet) */
/* Start the command q (taken from incoming, the link up). */
void sftp_exec_take(struct sftp_conn *c, struct sftp_req *q);
/* Step the commands: 1 when any moved, 0 when all wait for the socket,
 * -1 after recon_conn_fail(). */
int sftp_exec_run(struct sftp_conn *c);
/* The link is gone: the commands taken fail with r->lost. */
void sftp_exec_abort(struct sftp_conn *c);
/* When the oldest command was taken (ms, 0: none): the watchdog's. */
int64_t sftp_exec_oldest(struct sftp_conn *c);

/* recon.c */
struct sftp_conn *recon_pick_conn(struct sftp_conn *c);
void recon_conn_fail(struct sftp_conn *c, const char *why);
void recon_check(struct sftp_conn *c);
void recon_abandon(struct sftp_conn *c);
void recon_watch_start(struct sftp_conn *c);
void recon_watch_stop(struct sftp_conn *c);

#endif
