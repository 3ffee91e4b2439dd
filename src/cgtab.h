/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cgroup v2 paths by cgroup id, and the container a path belongs to. The
 * kernel reports directories made while netlogd runs (struct netlog_cgroup);
 * those that existed before are found by walking the hierarchy, which is
 * also done again (at most once a second) when an event names an unknown id.
 */
#ifndef NETLOG_CGTAB_H
#define NETLOG_CGTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "nametab.h"

#define CGTAB_ID_MAX 65 /* a container id: 64 hex digits and a NUL */
#define CGTAB_PATH_SHOWN 511 /* the kernel's record holds that much of a path: longer ones are cut */

/*
 * A removed cgroup's path is kept this long after: its processes' last
 * events may come later (a connection they closed, ending once the peer
 * acknowledges; a UDP flow's idle stop).
 */
#define CGTAB_GONE_KEEP 600

struct cgtab_gone {
	uint64_t id;
	time_t when;
};

struct cgtab {
	struct nametab paths;	 /* by (0, id) */
	char root[4096];	 /* where cgroup v2 is mounted; "" for none */
	time_t last_walk;
	struct cgtab_gone *gone; /* removed cgroups, oldest first: a ring of gone_cap */
	size_t gone_cap, gone_first, ngone;
};

int cgtab_init(struct cgtab *t, const char *root, size_t max);

/*
 * Remember cgroup @id at @path ("/" first, below the root). A path longer
 * than CGTAB_PATH_SHOWN bytes, or @cut (the kernel cut it), is kept cut
 * there with "..." after it, never passed off as whole (nor as its parent's
 * when the cut falls on a "/"). Returns 0 or -errno.
 */
int cgtab_add(struct cgtab *t, uint64_t id, const char *path, bool cut);

/*
 * Cgroup @id was removed at @now: its path goes CGTAB_GONE_KEEP seconds
 * later (or sooner, when more are waiting than the table holds).
 */
void cgtab_gone(struct cgtab *t, uint64_t id, time_t now);

/* Forget the removed cgroups whose time is up at @now. */
void cgtab_expire(struct cgtab *t, time_t now);

/* Walk the hierarchy and add every directory. Returns 0 or -errno. */
int cgtab_walk(struct cgtab *t);

/* The path of cgroup @id, if known. */
const char *cgtab_get(const struct cgtab *t, uint64_t id);

/* The path of cgroup @id; unknown ids trigger a walk, at most once a second. */
const char *cgtab_find(struct cgtab *t, uint64_t id);

/*
 * The container id in cgroup @path, or false: the last component that is,
 * or wraps, 64 hex digits (docker-<id>.scope, cri-containerd-<id>.scope,
 * crio-<id>.scope, libpod-<id>.scope, .../docker/<id>, kubepods .../<id>).
 */
bool cgtab_container_id(const char *path, char id[CGTAB_ID_MAX]);

void cgtab_free(struct cgtab *t);

#endif
