/* stats: counters as text, the user.rfs.stats xattr, SIGUSR1. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <glib.h>

#include "rfs/stats.h"
#include "rfs/log.h"

char *stats_text(struct rfs *fs)
{
	struct sftp_stats s;
	uint64_t hits, misses;

	fs_stats(fs, &s, &hits, &misses);
	return g_strdup_printf("requests=%llu bytes_out=%llu bytes_in=%llu "
		"cache_hits=%llu cache_misses=%llu cache_hit_rate=%.1f%% "
		"reconnects=%llu rtt_ms=%.1f conns=%u channels=%u",
		(unsigned long long)s.requests,
		(unsigned long long)s.bytes_out,
		(unsigned long long)s.bytes_in,
		(unsigned long long)hits, (unsigned long long)misses,
		hits + misses ? 100.0 * (double)hits / (double)(hits + misses)
			      : 0.0,
		(unsigned long long)s.reconnects, (double)s.rtt_ms8 / 8,
		s.conns, s.channels);
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
	pthread_t thread;
	int stop;		/* set before the wake-up signal; __atomic */
};

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
		g_free(t);
	}
	return NULL;
}

struct stats_signal *stats_signal_start(struct rfs *fs)
{
	struct stats_signal *s = g_new0(struct stats_signal, 1);
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	s->fs = fs;
	if (pthread_create(&s->thread, NULL, signal_thread, s)) {
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
	g_free(s);
}
