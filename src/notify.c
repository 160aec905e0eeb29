/* notify: sd_notify's datagram, by hand. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rfs/log.h"
#include "rfs/notify.h"

static struct sockaddr_un addr;
static socklen_t addr_len;	/* 0: nothing to notify */

int notify_init(void)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t n;

	addr_len = 0;
	if (!e || !*e)
		return 0;
	n = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || n >= sizeof(addr.sun_path)) {
		log_warn("NOTIFY_SOCKET '%s' is no unix socket path or "
			 "@abstract name: not notifying", e);
		unsetenv("NOTIFY_SOCKET");
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, e, n);
	if (e[0] == '@')
		addr.sun_path[0] = '\0';	/* abstract: no trailing NUL */
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			       (e[0] == '/'));
	unsetenv("NOTIFY_SOCKET");
	return 1;
}

int notify_send(const char *msg)
{
	int fd, rc = 0;

	if (!addr_len)
		return 1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
		   (struct sockaddr *)&addr, addr_len) < 0)
		rc = -errno;
	close(fd);
	if (rc)
		log_warn("cannot notify the service manager: %s",
			 strerror(-rc));
	return rc;
}
