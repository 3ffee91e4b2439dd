/* SPDX-License-Identifier: GPL-2.0 */
/* What netlogd needs from the system before it can load: checks and mounts. */
#ifndef NETLOG_SYSTEM_H
#define NETLOG_SYSTEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYSTEM_PIDFILE "/run/netlogd.pid"

/* Root, BTF: returns 0, or -errno after saying what is missing. */
int system_check(void);

/* Mount tracefs if no tracing directory is there. Returns 0 or -errno. */
int system_ensure_tracefs(void);

/* Find (or mount) the cgroup v2 hierarchy; its root goes in @path. */
int system_cgroup2_root(char *path, size_t size);

/*
 * Descriptors 0, 1 and 2 that whoever started netlogd left closed are
 * opened on /dev/null: else the files opened next (the pid file, an
 * output) would take them, and what is said on stderr would go there.
 */
void system_std_fds(void);

/*
 * Write our pid to @path, held with a lock while we run. Another netlogd
 * holding it is said (both would log every event) unless @quiet; a file
 * that cannot be made is said with -v only. Returns the descriptor to
 * keep, or < 0: -EWOULDBLOCK when another holds it. A netlogd started
 * second tries again now and then (@quiet), to hold it once the first is
 * gone.
 */
int system_pidfile(const char *path, bool quiet);

/*
 * A description of our own of what @fd (standard output or error: a pipe, a
 * terminal, a device) is open on, that never waits: O_NONBLOCK belongs to
 * a description, and set on the one shared with whoever started netlogd it
 * would stay after netlogd exits. Returns the new descriptor, or -errno.
 */
int system_reopen_nonblocking(int fd);

/*
 * Tell a service manager that asked ($NOTIFY_SOCKET: systemd's Type=notify)
 * @state: "READY=1" once netlogd logs, "STOPPING=1" when it stops. A
 * datagram, as sd_notify() sends it; nothing when nobody asked.
 */
void system_notify(const char *state);

/*
 * The watchdog's time (systemd's WatchdogSec=), in ns, if one watches
 * netlogd ($WATCHDOG_USEC, for this pid): "WATCHDOG=1" must reach
 * system_notify() more often than that, or the service manager takes
 * netlogd for hung and restarts it. 0: none.
 */
uint64_t system_watchdog_ns(void);

/* Remove the pid file, if @fd holds it. */
void system_pidfile_remove(int fd, const char *path);

#endif
