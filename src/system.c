// SPDX-License-Identifier: GPL-2.0
#include "system.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define BTF_VMLINUX "/sys/kernel/btf/vmlinux"
#define TRACEFS "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"
#define OWN_CGROUP2 "/run/netlog/cgroup2"

int system_check(void)
{
	if (geteuid() != 0) {
		log_warnx("must run as root: loading BPF programs needs CAP_BPF, CAP_PERFMON, "
			  "CAP_NET_ADMIN and CAP_SYS_ADMIN");
		return -EPERM;
	}
	if (access(BTF_VMLINUX, R_OK) != 0) {
		log_warn("kernel BTF %s is not readable (netlogd needs a kernel built with "
			 "CONFIG_DEBUG_INFO_BTF=y)",
			 BTF_VMLINUX);
		return -ENOENT;
	}
	return 0;
}

int system_ensure_tracefs(void)
{
	if (access(TRACEFS "/events", F_OK) == 0 || access(DEBUGFS_TRACING "/events", F_OK) == 0)
		return 0;
	if (mount("tracefs", TRACEFS, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		int err = -errno;

		log_warn("mount tracefs on %s (needed for syscall tracepoints)", TRACEFS);
		return err;
	}
	log_debug("mounted tracefs on %s", TRACEFS);
	return 0;
}

static int find_cgroup2_mount(char *path, size_t size)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int found = -ENOENT;

	if (!f)
		return -errno;
	/* mountinfo: id parent major:minor root mountpoint options ... - fstype source */
	while (fgets(line, sizeof(line), f)) {
		char root[1024], mnt[1024], fstype[64];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep, " - %63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, mnt) != 2 || strcmp(root, "/") != 0)
			continue;
		if (snprintf(path, size, "%s", mnt) >= (int)size)
			continue;
		found = 0;
		break;
	}
	fclose(f);
	return found;
}

int system_cgroup2_root(char *path, size_t size)
{
	if (find_cgroup2_mount(path, size) == 0)
		return 0;
	if ((mkdir("/run/netlog", 0755) < 0 && errno != EEXIST) ||
	    (mkdir(OWN_CGROUP2, 0755) < 0 && errno != EEXIST)) {
		int err = -errno;

		log_warn("create %s", OWN_CGROUP2);
		return err;
	}
	if (mount("cgroup2", OWN_CGROUP2, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		int err = -errno;

		log_warn("mount cgroup2 on %s (needed for socket hooks)", OWN_CGROUP2);
		return err;
	}
	log_debug("mounted cgroup2 on %s", OWN_CGROUP2);
	snprintf(path, size, "%s", OWN_CGROUP2);
	return 0;
}

/* Whether @fd is still the file at @path: its owner may have removed it between our open and our lock. */
static bool still_there(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void system_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd)
			break; /* nothing better to do: it is the lowest free descriptor */
}

int system_pidfile(const char *path, bool quiet)
{
	char pid[32] = "";
	int fd, len, err, tries = 0;
	ssize_t n;

again:
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		log_debug("pid file %s: %s", path, strerror(errno));
		return -1;
	}
	err = flock(fd, LOCK_EX | LOCK_NB) < 0 ? errno : 0;
	if (!err && !still_there(fd, path) && ++tries < 3) {
		close(fd); /* a file its owner removed on its way out: a new one is ours */
		goto again;
	}
	if (err) {
		if (err == EWOULDBLOCK && quiet) {
			; /* still running */
		} else if (err == EWOULDBLOCK) {
			n = pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
			if (pid[0])
				log_warnx("another netlogd (pid %s) is running: both log every event", pid);
			else
				log_warnx("another netlogd is running (%s is locked): both log every event", path);
		} else {
			log_debug("pid file %s: %s", path, strerror(err));
		}
		close(fd);
		return -err;
	}
	len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		log_debug("pid file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void system_pidfile_remove(int fd, const char *path)
{
	if (fd < 0)
		return;
	unlink(path);
	close(fd);
}

int system_reopen_nonblocking(int fd)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

void system_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = path ? strlen(path) : 0;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return; /* not asked, or an address of a kind (vsock) netlogd does not speak */
	if (len >= sizeof(sa.sun_path)) {
		log_warnx("NOTIFY_SOCKET: %s: too long for a socket's path", path);
		return;
	}
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* an abstract socket's name */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
			     offsetof(struct sockaddr_un, sun_path) + len) < 0)
		log_warnx("NOTIFY_SOCKET: %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

uint64_t system_watchdog_ns(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (!usec || !*usec)
		return 0;
	if (pid && *pid && strtoull(pid, &end, 10) != (unsigned long long)getpid())
		return 0; /* meant for another process: whoever started netlogd */
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno || *end || !v || v > UINT64_MAX / 1000) {
		log_warnx("WATCHDOG_USEC: '%s' is not a time in microseconds: no watchdog", usec);
		return 0;
	}
	return v * 1000;
}
