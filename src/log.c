/* log: stderr or syslog, one line per call. */
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <pthread.h>

#include <glib.h>

#include "rfs/log.h"
#include "rfs/util.h"

static int level = LOG_LVL_WARN;
static int use_syslog;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(int l) { level = l; }
int log_get_level(void) { return level; }

void log_to_syslog(const char *ident)
{
	openlog(ident, LOG_PID, LOG_DAEMON);
	use_syslog = 1;
}

/* Messages carry server text (status messages, disconnect reasons,
 * names): made safe for a terminal (util_safe_text) before they go out. */
static void vlog(int l, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char *raw = g_strdup_vprintf(fmt, ap);
	char *msg = util_safe_text(raw, FALSE);

	if (use_syslog) {
		syslog(prio[l], "%s", msg);
	} else {
		pthread_mutex_lock(&lock);
		if (level >= LOG_LVL_DEBUG) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			fprintf(stderr, "[%ld.%03ld] ", (long)ts.tv_sec,
				ts.tv_nsec / 1000000);
		}
		fprintf(stderr, "rfs: %s\n", msg);
		pthread_mutex_unlock(&lock);
	}
	g_free(raw);
	g_free(msg);
}

void log_msg(int l, const char *fmt, ...)
{
	va_list ap;

	if (l > level)
		return;
	va_start(ap, fmt);
	vlog(l, fmt, ap);
	va_end(ap);
}

void log_msg_always(int l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(l, fmt, ap);
	va_end(ap);
}
