/* SPDX-License-Identifier: GPL-2.0 */
/* What netlogd needs from the system before it can load: checks and mounts. */
#ifndef NETLOG_SYSTEM_H
#define NETLOG_SYSTEM_H

#include <stddef.h>

/* Root, BTF: returns 0, or -errno after saying what is missing. */
int system_check(void);

/* Mount tracefs if no tracing directory is there. Returns 0 or -errno. */
int system_ensure_tracefs(void);

/* Find (or mount) the cgroup v2 hierarchy; its root goes in @path. */
int system_cgroup2_root(char *path, size_t size);

#endif
