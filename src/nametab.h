/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Names by number: what events refer to by a key of two numbers (an
 * executable's device and inode, a cgroup's id) and the daemon resolves to
 * a string. Bounded; a key put again replaces its name.
 */
#ifndef NETLOG_NAMETAB_H
#define NETLOG_NAMETAB_H

#include <stddef.h>
#include <stdint.h>

struct nametab_entry;

struct nametab {
	struct nametab_entry **buckets;
	size_t nbuckets, count, max;
};

int nametab_init(struct nametab *t, size_t max);

/* Remember @name for (@a, @b). Returns 0, -ENOSPC when full, or -ENOMEM. */
int nametab_put(struct nametab *t, uint64_t a, uint64_t b, const char *name);

/* The name of (@a, @b), or NULL. */
const char *nametab_get(const struct nametab *t, uint64_t a, uint64_t b);

void nametab_free(struct nametab *t);

#endif
