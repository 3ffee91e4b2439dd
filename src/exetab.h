/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Executables' paths, as the kernel reported them (struct netlog_exe), by
 * their id: events carry only that number.
 */
#ifndef NETLOG_EXETAB_H
#define NETLOG_EXETAB_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "nametab.h"
#include "netlog.h"

/* The longest path a record can make: every component full, with its '/' and a cut's "...". */
#define EXETAB_PATH_MAX (NETLOG_EXE_DEPTH * (NETLOG_EXE_NAME_LEN + 3) + 8)

struct exetab {
	struct nametab names; /* by (0, netlog_exe.id) */
};

int exetab_init(struct exetab *t, size_t max);

/*
 * The path of @r: "/" and its components root first; a path deeper than
 * the record holds starts with "...", and a name longer than it holds
 * ends with "...". Returns its length or -ENOSPC.
 */
int exetab_path(char *dst, size_t size, const struct netlog_exe *r);

/* Remember @r (replacing what was known of its executable). Returns 0 or -errno. */
int exetab_add(struct exetab *t, const struct netlog_exe *r);

/*
 * The path of executable @id, or NULL if the kernel never reported it (or
 * it went to make room: those asked for stay longer).
 */
const char *exetab_find(struct exetab *t, uint64_t id);

void exetab_free(struct exetab *t);

#endif
