// SPDX-License-Identifier: GPL-2.0
#include "nametab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct nametab_entry {
	uint64_t a, b;
	struct nametab_entry *next;
	char name[];
};

int nametab_init(struct nametab *t, size_t max)
{
	t->nbuckets = 4096;
	t->count = 0;
	t->max = max;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

static struct nametab_entry **slot(const struct nametab *t, uint64_t a, uint64_t b)
{
	uint64_t h = (b ^ (a << 40) ^ (a >> 24)) * 0x9e3779b97f4a7c15ull;
	struct nametab_entry **p = &t->buckets[(h >> 32) & (t->nbuckets - 1)];

	while (*p && ((*p)->a != a || (*p)->b != b))
		p = &(*p)->next;
	return p;
}

int nametab_put(struct nametab *t, uint64_t a, uint64_t b, const char *name)
{
	struct nametab_entry **p = slot(t, a, b), *e = *p;
	size_t len = strlen(name);

	if (e && !strcmp(e->name, name))
		return 0;
	if (!e && t->count >= t->max)
		return -ENOSPC;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->a = a;
	e->b = b;
	memcpy(e->name, name, len + 1);
	if (*p) { /* replace in place */
		e->next = (*p)->next;
		free(*p);
	} else {
		e->next = NULL;
		t->count++;
	}
	*p = e;
	return 0;
}

const char *nametab_get(const struct nametab *t, uint64_t a, uint64_t b)
{
	struct nametab_entry *e = t->buckets ? *slot(t, a, b) : NULL;

	return e ? e->name : NULL;
}

void nametab_free(struct nametab *t)
{
	for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
		struct nametab_entry *e = t->buckets[i];

		while (e) {
			struct nametab_entry *next = e->next;

			free(e);
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->count = 0;
}
