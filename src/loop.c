/* loop: a tiny poll(2) event loop with timers and an eventfd wakeup. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <glib.h>

#include "rfs/loop.h"

struct loop_fd {
	int fd;
	int events;
	bool dead;
	loop_fd_cb cb;
	void *data;
};

struct loop_timer {
	long long id;
	int64_t when;		/* ms, monotonic */
	bool dead;
	loop_timer_cb cb;
	void *data;
};

struct loop {
	GPtrArray *fds;		/* struct loop_fd * */
	GPtrArray *timers;	/* struct loop_timer * */
	long long next_timer_id;
	int wake_fd;
	volatile int stop;
	bool dispatching;
	loop_hook_cb before_sleep, on_wake;
	void *before_sleep_data, *on_wake_data;
	int running;		/* in loop_run (atomic) */
	pthread_t thread;	/* which thread runs it, while running */
};

int64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *l = g_new0(struct loop, 1);

	l->fds = g_ptr_array_new_with_free_func(g_free);
	l->timers = g_ptr_array_new_with_free_func(g_free);
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	g_ptr_array_free(l->fds, TRUE);
	g_ptr_array_free(l->timers, TRUE);
	close(l->wake_fd);
	g_free(l);
}

static struct loop_fd *find_fd(struct loop *l, int fd)
{
	for (guint i = 0; i < l->fds->len; i++) {
		struct loop_fd *f = l->fds->pdata[i];
		if (f->fd == fd && !f->dead)
			return f;
	}
	return NULL;
}

int loop_add_fd(struct loop *l, int fd, int events, loop_fd_cb cb,
		void *data)
{
	struct loop_fd *f = find_fd(l, fd);

	if (!f) {
		f = g_new0(struct loop_fd, 1);
		g_ptr_array_add(l->fds, f);
	}
	f->fd = fd;
	f->events = events;
	f->cb = cb;
	f->data = data;
	return 0;
}

void loop_mod_fd(struct loop *l, int fd, int events)
{
	struct loop_fd *f = find_fd(l, fd);

	if (f)
		f->events = events;
}

void loop_del_fd(struct loop *l, int fd)
{
	struct loop_fd *f = find_fd(l, fd);

	if (f)
		f->dead = true;
}

long long loop_add_timer(struct loop *l, long ms, loop_timer_cb cb,
			 void *data)
{
	struct loop_timer *t = g_new0(struct loop_timer, 1);

	t->id = ++l->next_timer_id;
	t->when = loop_now_ms() + ms;
	t->cb = cb;
	t->data = data;
	g_ptr_array_add(l->timers, t);
	return t->id;
}

void loop_del_timer(struct loop *l, long long id)
{
	for (guint i = 0; i < l->timers->len; i++) {
		struct loop_timer *t = l->timers->pdata[i];
		if (t->id == id)
			t->dead = true;
	}
}

/* The hooks are read by the running loop without a lock: setting one
 * from another thread meanwhile is a data race (loop.h forbids it). Say
 * so, loudly, instead of racing quietly. */
static void check_not_running(struct loop *l, const char *what)
{
	if (__atomic_load_n(&l->running, __ATOMIC_SEQ_CST) &&
	    !pthread_equal(l->thread, pthread_self()))
		g_warning("%s called while the loop runs on another thread",
			  what);
}

void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *data)
{
	check_not_running(l, "loop_set_before_sleep");
	l->before_sleep = cb;
	l->before_sleep_data = data;
}

void loop_set_wake_cb(struct loop *l, loop_hook_cb cb, void *data)
{
	check_not_running(l, "loop_set_wake_cb");
	l->on_wake = cb;
	l->on_wake_data = data;
}

void loop_wake(struct loop *l)
{
	uint64_t one = 1;

	if (write(l->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		g_warning("loop_wake: %s", g_strerror(errno));
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
}

/* Drop entries deleted during dispatch. */
static void reap(struct loop *l)
{
	for (guint i = l->fds->len; i-- > 0;)
		if (((struct loop_fd *)l->fds->pdata[i])->dead)
			g_ptr_array_remove_index_fast(l->fds, i);
	for (guint i = l->timers->len; i-- > 0;)
		if (((struct loop_timer *)l->timers->pdata[i])->dead)
			g_ptr_array_remove_index_fast(l->timers, i);
}

static int next_timeout(struct loop *l)
{
	int64_t now = loop_now_ms(), best = -1;

	for (guint i = 0; i < l->timers->len; i++) {
		struct loop_timer *t = l->timers->pdata[i];
		int64_t d;

		if (t->dead)
			continue;
		d = t->when > now ? t->when - now : 0;
		if (best < 0 || d < best)
			best = d;
	}
	return best > 60000 ? 60000 : (int)best;
}

static void run_timers(struct loop *l)
{
	int64_t now = loop_now_ms();
	guint n = l->timers->len;	/* timers added now wait a round */

	for (guint i = 0; i < n; i++) {
		struct loop_timer *t = l->timers->pdata[i];
		long next;

		if (t->dead || t->when > now)
			continue;
		next = t->cb(l, t->id, t->data);
		if (next == LOOP_TIMER_STOP)
			t->dead = true;
		else
			t->when = loop_now_ms() + next;
	}
}

void loop_run(struct loop *l)
{
	GArray *pfds = g_array_new(FALSE, TRUE, sizeof(struct pollfd));

	l->stop = 0;
	l->thread = pthread_self();
	__atomic_store_n(&l->running, 1, __ATOMIC_SEQ_CST);
	while (!l->stop) {
		struct pollfd *p;
		guint n;

		if (l->before_sleep)
			l->before_sleep(l, l->before_sleep_data);
		reap(l);
		if (l->stop)
			break;
		n = l->fds->len;
		g_array_set_size(pfds, n + 1);
		p = (struct pollfd *)pfds->data;
		for (guint i = 0; i < n; i++) {
			struct loop_fd *f = l->fds->pdata[i];
			p[i].fd = f->fd;
			p[i].events = (short)((f->events & LOOP_READ ? POLLIN : 0) |
				      (f->events & LOOP_WRITE ? POLLOUT : 0));
			p[i].revents = 0;
		}
		p[n].fd = l->wake_fd;
		p[n].events = POLLIN;
		p[n].revents = 0;
		if (poll(p, n + 1, next_timeout(l)) < 0 && errno != EINTR)
			break;
		if (p[n].revents & POLLIN) {
			uint64_t v;
			if (read(l->wake_fd, &v, sizeof(v)) < 0)
				(void)0;	/* EAGAIN: a racing reader */
			if (l->on_wake)
				l->on_wake(l, l->on_wake_data);
		}
		for (guint i = 0; i < n; i++) {
			struct loop_fd *f = l->fds->pdata[i];
			int ev = 0;

			if (f->dead || !p[i].revents)
				continue;
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
				ev |= LOOP_READ;
			if (p[i].revents & (POLLOUT | POLLERR))
				ev |= LOOP_WRITE;
			f->cb(l, f->fd, ev, f->data);
		}
		run_timers(l);
	}
	__atomic_store_n(&l->running, 0, __ATOMIC_SEQ_CST);
	g_array_free(pfds, TRUE);
}
