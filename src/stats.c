/* stats: counters as text, the user.rfs.stats xattr, SIGUSR1. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib.h>

#include "rfs/stats.h"
#include "rfs/log.h"

char *stats_text(struct rfs *fs)
{
	struct sftp_stats s;
	uint64_t hits, misses, fetched, used;

	fs_stats(fs, &s, &hits, &misses);
	fs_ahead_stats(fs, &fetched, &used);
	return g_strdup_printf("requests=%llu bytes_out=%llu bytes_in=%llu "
		"cache_hits=%llu cache_misses=%llu cache_hit_rate=%.1f%% "
		"reconnects=%llu bad_replies=%llu execs=%llu rtt_ms=%.1f "
		"conns=%u "
		"channels=%u transport=%s files_ahead=%llu "
		"files_ahead_used=%llu",
		(unsigned long long)s.requests,
		(unsigned long long)s.bytes_out,
		(unsigned long long)s.bytes_in,
		(unsigned long long)hits, (unsigned long long)misses,
		hits + misses ? 100.0 * (double)hits / (double)(hits + misses)
			      : 0.0,
		(unsigned long long)s.reconnects,
		(unsigned long long)s.bad_replies,
		(unsigned long long)s.execs, (double)s.rtt_ms8 / 8,
		s.conns, s.channels, s.transport, (unsigned long long)fetched,
		(unsigned long long)used);
}

/* What carries SFTP, for rfs status. */
static const char *transport_text(const char *kind)
{
	if (!strcmp(kind, "mux"))
		return "an OpenSSH ControlMaster's sessions (ControlPath)";
	if (!strcmp(kind, "ssh"))
		return "OpenSSH's ssh (transport=ssh)";
	if (!strcmp(kind, "directport"))
		return "plain TCP (directport, not encrypted)";
	if (!strcmp(kind, "passive"))
		return "standard input and output (passive)";
	return "SSH";
}

/* "3 h 2 min", "5 min 3 s", "12 s". */
static void add_duration(GString *o, int64_t s)
{
	long long n = (long long)MAX(s, 0);

	if (n >= 86400)
		g_string_append_printf(o, "%lld d %lld h", n / 86400,
				       n % 86400 / 3600);
	else if (n >= 3600)
		g_string_append_printf(o, "%lld h %lld min", n / 3600,
				       n % 3600 / 60);
	else if (n >= 60)
		g_string_append_printf(o, "%lld min %lld s", n / 60, n % 60);
	else
		g_string_append_printf(o, "%lld s", n);
}

static void add_bytes(GString *o, const char *key, uint64_t n)
{
	char *h = g_format_size_full(n, G_FORMAT_SIZE_IEC_UNITS);

	if (n < 1024)
		g_string_append_printf(o, "%s: %s\n", key, h);
	else
		g_string_append_printf(o, "%s: %s (%llu bytes)\n", key, h,
				       (unsigned long long)n);
	g_free(h);
}

static void add_time(GString *o, int64_t t)
{
	char buf[64];
	time_t tt = (time_t)t;
	struct tm tm;

	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S",
		 localtime_r(&tt, &tm));
	g_string_append(o, buf);
}

char *stats_report(struct rfs *fs, const struct stats_about *a)
{
	static const char *const links[] = { "up", "reconnecting",
		"down (operations fail with EIO; still reconnecting)" };
	struct sftp_stats s;
	uint64_t hits, misses;
	int64_t now = g_get_real_time() / G_USEC_PER_SEC;
	GString *o = g_string_new(NULL);

	fs_stats(fs, &s, &hits, &misses);
	g_string_append_printf(o, "mountpoint: %s\nremote: %s\n"
		"transport: SFTP over %s, %u connection%s, %u channel%s\n"
		"state: %s since ", a->mountpoint, a->remote,
		transport_text(s.transport), s.conns,
		s.conns == 1 ? "" : "s", s.channels, s.channels == 1 ? "" : "s",
		links[CLAMP(s.link, 0, 2)]);
	add_time(o, s.link_since);
	g_string_append(o, " (");
	add_duration(o, now - s.link_since);
	g_string_append(o, " ago)\nuptime: ");
	add_duration(o, now - a->started);
	if (s.rtt_ms8)
		g_string_append_printf(o, "\nround trip: %.1f ms\n",
				       (double)s.rtt_ms8 / 8);
	else
		g_string_append(o, "\nround trip: none measured yet\n");
	g_string_append_printf(o, "requests in flight: %u\n"
		"requests sent: %llu\n", s.in_flight,
		(unsigned long long)s.requests);
	add_bytes(o, "bytes received", s.bytes_in);
	add_bytes(o, "bytes sent", s.bytes_out);
	g_string_append_printf(o, "metadata cache hit rate: %.1f%% "
		"(%llu hits, %llu misses)\nreconnects: %llu\n"
		"open files and directories: %u\ndaemon pid: %d\n",
		hits + misses ? 100.0 * (double)hits / (double)(hits + misses)
			      : 0.0,
		(unsigned long long)hits, (unsigned long long)misses,
		(unsigned long long)s.reconnects, s.open_handles,
		(int)getpid());
	if (a->stats_file) {
		struct stat st;

		g_string_append_printf(o, "SIGUSR1 snapshot: %s (",
				       a->stats_file);
		if (stat(a->stats_file, &st) == 0)
			add_time(o, st.st_mtime);
		else
			g_string_append(o, "none yet");
		g_string_append(o, ")\n");
	}
	return g_string_free(o, FALSE);
}

/* ---- xattrs: all answered locally ---- */

void stats_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size)
{
	char *line, *t;
	size_t len;

	if (fs_noxattr(fuse_req_userdata(req))) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (ino != FUSE_ROOT_ID || strcmp(name, STATS_XATTR) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	line = stats_text(fuse_req_userdata(req));
	t = g_strconcat(line, "\n", NULL);
	g_free(line);
	len = strlen(t);
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, t, len);
	g_free(t);
}

/* Empty, also on the root: copying tools (cp -a, rsync -X) must not copy
 * the statistics onto other files. */
void stats_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (fs_noxattr(fuse_req_userdata(req))) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

void stats_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags)
{
	if (fs_noxattr(fuse_req_userdata(req))) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	(void)ino; (void)name; (void)value; (void)size; (void)flags;
	fuse_reply_err(req, ENOTSUP);
}

void stats_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (fs_noxattr(fuse_req_userdata(req))) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	(void)ino; (void)name;
	fuse_reply_err(req, ENOTSUP);
}

/* ---- SIGUSR1 ---- */

struct stats_signal {
	struct rfs *fs;
	char *file;		/* the snapshot's, or NULL */
	pthread_t thread;
	int stop;		/* set before the wake-up signal; __atomic */
};

/* The log of a detached mount may go nowhere (no syslog): the snapshot
 * also goes to a file, replaced whole (rename), "TIME LINE". */
static void snapshot(const char *file, const char *line)
{
	int64_t now = g_get_real_time() / G_USEC_PER_SEC;
	struct timespec ts[2] = { { .tv_sec = (time_t)now },
				  { .tv_sec = (time_t)now } };
	GString *o;
	GError *e = NULL;

	if (!file)
		return;
	o = g_string_new(NULL);
	add_time(o, now);
	g_string_append_printf(o, " %s\n", line);
	if (!g_file_set_contents_full(file, o->str, (gssize)o->len,
				      G_FILE_SET_CONTENTS_CONSISTENT, 0600,
				      &e)) {
		log_warn("stats snapshot: %s", e->message);
		g_error_free(e);
	} else {
		/* rfs status shows its mtime: the time written inside, even
		 * when the write ended in the next second */
		utimensat(AT_FDCWD, file, ts, 0);
	}
	g_string_free(o, TRUE);
}

static void *signal_thread(void *data)
{
	struct stats_signal *s = data;
	sigset_t set;
	char *t;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
			break;
		t = stats_text(s->fs);
		/* Asked for: logged whatever the log level. */
		log_msg_always(LOG_LVL_INFO, "stats: %s", t);
		snapshot(s->file, t);
		g_free(t);
	}
	return NULL;
}

struct stats_signal *stats_signal_start(struct rfs *fs, const char *file)
{
	struct stats_signal *s = g_new0(struct stats_signal, 1);
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	s->fs = fs;
	s->file = g_strdup(file);
	if (pthread_create(&s->thread, NULL, signal_thread, s)) {
		g_free(s->file);
		g_free(s);
		return NULL;
	}
	return s;
}

void stats_signal_stop(struct stats_signal *s)
{
	if (!s)
		return;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_kill(s->thread, SIGUSR1);
	pthread_join(s->thread, NULL);
	if (s->file)
		unlink(s->file);
	g_free(s->file);
	g_free(s);
}
