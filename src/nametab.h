/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Names by number: what events refer to by a key of two numbers (0 and an
 * executable's id, 0 and a cgroup's id) and the daemon resolves to
 * a string. Bounded: when full, the key put first goes, unless it was
 * asked for since (nametab_use()): that one gets a second chance
 * at the back of the order, and the next goes (the clock algorithm: the
 * keys in use stay, whatever their age). @forget (if set) hears of a key
 * that goes, so that whoever reports names can report it again. A key put
 * again replaces its name and keeps its place. A key deleted
 * leaves its place in the order behind, stale, until the oldest goes or,
 * once a quarter of the places are stale, they are swept out together.
 */
#ifndef NETLOG_NAMETAB_H
#define NETLOG_NAMETAB_H

#include <stddef.h>
#include <stdint.h>

struct nametab_entry;

/* A key's place in the order: its entry's @seq, or stale (deleted, or put again since). */
struct nametab_place {
	uint64_t a, b, seq;
};

struct nametab {
	struct nametab_entry **buckets;
	size_t nbuckets, count, max;
	size_t places;		     /* taken in @order: @count, and the stale ones */
	struct nametab_place *order; /* keys in the order they came, a ring of order_cap */
	size_t order_cap, oldest;
	uint64_t seq;
	uint64_t forgotten; /* keys that went to make room */
	void (*forget)(void *ctx, uint64_t a, uint64_t b);
	void *forget_ctx;
};

int nametab_init(struct nametab *t, size_t max);

/* Remember @name for (@a, @b). Returns 0 or -ENOMEM. */
int nametab_put(struct nametab *t, uint64_t a, uint64_t b, const char *name);

/* Forget (@a, @b), if known. */
void nametab_del(struct nametab *t, uint64_t a, uint64_t b);

/* The name of (@a, @b), or NULL. */
const char *nametab_get(const struct nametab *t, uint64_t a, uint64_t b);

/* nametab_get(), and (@a, @b) counts as used: kept when the table is full, for a while. */
const char *nametab_use(struct nametab *t, uint64_t a, uint64_t b);

void nametab_free(struct nametab *t);

#endif
