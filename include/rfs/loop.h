/* loop: the I/O thread's event loop: fds, timers, a wakeup, a before-sleep
 * hook. Model: Redis ae.c, on poll(2).
 *
 * Thread: everything runs on the thread that calls loop_run(), except
 * loop_wake() (any thread). Deleting an fd or timer during dispatch is
 * safe: removal is deferred until the dispatch round ends.
 */
#ifndef RFS_LOOP_H
#define RFS_LOOP_H

#include <stdint.h>

#define LOOP_READ  1
#define LOOP_WRITE 2
#define LOOP_TIMER_STOP (-1)

struct loop;

typedef void (*loop_fd_cb)(struct loop *l, int fd, int events, void *data);
/* Returns the next delay in ms, or LOOP_TIMER_STOP to delete the timer. */
typedef long (*loop_timer_cb)(struct loop *l, long long id, void *data);
typedef void (*loop_hook_cb)(struct loop *l, void *data);

struct loop *loop_new(void);
void loop_free(struct loop *l);

int loop_add_fd(struct loop *l, int fd, int events, loop_fd_cb cb,
		void *data);
/* Change the events watched for fd (LOOP_READ|LOOP_WRITE, or 0). */
void loop_mod_fd(struct loop *l, int fd, int events);
void loop_del_fd(struct loop *l, int fd);

long long loop_add_timer(struct loop *l, long ms, loop_timer_cb cb,
			 void *data);
void loop_del_timer(struct loop *l, long long id);

/* Called every time before the loop sleeps (flush queued writes here). */
void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *data);
/* Called after a wakeup from loop_wake(). */
void loop_set_wake_cb(struct loop *l, loop_hook_cb cb, void *data);

void loop_wake(struct loop *l);	/* any thread */
void loop_run(struct loop *l);	/* until loop_stop(); clears an earlier stop */
void loop_stop(struct loop *l);	/* loop thread, or any thread + wake */

/* Monotonic clock in ms. */
int64_t loop_now_ms(void);

#endif
