// SPDX-License-Identifier: GPL-2.0
#include "exetab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct exetab_entry {
	uint64_t ino;
	uint32_t dev;
	struct exetab_entry *next;
	char path[];
};

int exetab_init(struct exetab *t, size_t max)
{
	t->nbuckets = 4096;
	t->count = 0;
	t->max = max;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

static size_t bucket(const struct exetab *t, uint32_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ ((uint64_t)dev << 40)) * 0x9e3779b97f4a7c15ull;

	return (h >> 32) & (t->nbuckets - 1);
}

int exetab_path(char *dst, size_t size, const struct netlog_exe *r)
{
	size_t len = 0;
	unsigned n = r->ncomp < NETLOG_EXE_DEPTH ? r->ncomp : NETLOG_EXE_DEPTH;

	if (size < 2)
		return -ENOSPC;
	if (r->truncated && n == NETLOG_EXE_DEPTH) {
		memcpy(dst, "...", 3);
		len = 3;
	}
	if (n == 0)
		dst[len++] = '/';
	for (unsigned i = n; i-- > 0;) {
		size_t c = strnlen(r->comp[i], NETLOG_EXE_NAME_LEN);

		if (len + 1 + c + 1 > size)
			return -ENOSPC;
		dst[len++] = '/';
		memcpy(dst + len, r->comp[i], c);
		len += c;
	}
	dst[len] = '\0';
	return (int)len;
}

int exetab_add(struct exetab *t, const struct netlog_exe *r)
{
	char path[EXETAB_PATH_MAX];
	struct exetab_entry **p, *e;
	int len = exetab_path(path, sizeof(path), r);

	if (len < 0)
		return len;
	for (p = &t->buckets[bucket(t, r->dev, r->ino)]; *p; p = &(*p)->next) {
		if ((*p)->dev == r->dev && (*p)->ino == r->ino) {
			e = *p;
			*p = e->next;
			free(e);
			t->count--;
			break;
		}
	}
	if (t->count >= t->max)
		return -ENOSPC;
	e = malloc(sizeof(*e) + (size_t)len + 1);
	if (!e)
		return -ENOMEM;
	e->ino = r->ino;
	e->dev = r->dev;
	memcpy(e->path, path, (size_t)len + 1);
	p = &t->buckets[bucket(t, r->dev, r->ino)];
	e->next = *p;
	*p = e;
	t->count++;
	return 0;
}

const char *exetab_find(const struct exetab *t, uint32_t dev, uint64_t ino)
{
	if (!t->buckets || !ino)
		return NULL;
	for (struct exetab_entry *e = t->buckets[bucket(t, dev, ino)]; e; e = e->next)
		if (e->dev == dev && e->ino == ino)
			return e->path;
	return NULL;
}

void exetab_free(struct exetab *t)
{
	for (size_t b = 0; t->buckets && b < t->nbuckets; b++) {
		struct exetab_entry *e = t->buckets[b];

		while (e) {
			struct exetab_entry *next = e->next;

			free(e);
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->count = 0;
}
