/* log: one line per event, to stderr (foreground) or syslog (detached).
 * Thread: any. Secrets never reach a log: callers pass no passwords. */
#ifndef RFS_LOG_H
#define RFS_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(int level);
int log_get_level(void);
/* After daemonizing: send log lines to syslog instead of stderr. */
void log_to_syslog(const char *ident);

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same whatever the log level: for what the user asked for. */
void log_msg_always(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_get_level() >= LOG_LVL_DEBUG) \
	log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
