// SPDX-License-Identifier: GPL-2.0
#include "cgtab.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct cgtab_entry {
	uint64_t id;
	struct cgtab_entry *next;
	char path[];
};

int cgtab_init(struct cgtab *t, const char *root, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = 4096;
	t->max = max;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	if (root && strlen(root) < sizeof(t->root))
		strcpy(t->root, root);
	return 0;
}

static size_t bucket(const struct cgtab *t, uint64_t id)
{
	return ((id * 0x9e3779b97f4a7c15ull) >> 32) & (t->nbuckets - 1);
}

static struct cgtab_entry *lookup(const struct cgtab *t, uint64_t id)
{
	for (struct cgtab_entry *e = t->buckets[bucket(t, id)]; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

int cgtab_add(struct cgtab *t, uint64_t id, const char *path)
{
	struct cgtab_entry *e = lookup(t, id), **p;
	size_t len = strlen(path);

	if (e && !strcmp(e->path, path))
		return 0;
	if (e) { /* an id is never reused while its cgroup lives; a rename */
		for (p = &t->buckets[bucket(t, id)]; *p != e; p = &(*p)->next)
			;
		*p = e->next;
		free(e);
		t->count--;
	}
	if (t->count >= t->max)
		return -ENOSPC;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->id = id;
	memcpy(e->path, path, len + 1);
	p = &t->buckets[bucket(t, id)];
	e->next = *p;
	*p = e;
	t->count++;
	return 0;
}

static struct cgtab *walking; /* nftw() has no context argument */

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t rootlen = strlen(walking->root);

	if (type != FTW_D)
		return 0;
	/* the root itself is "/", the rest their path below it */
	cgtab_add(walking, (uint64_t)st->st_ino, path[rootlen] ? path + rootlen : "/");
	return 0;
}

int cgtab_walk(struct cgtab *t)
{
	int err;

	if (!t->root[0])
		return -ENOENT;
	t->last_walk = time(NULL);
	walking = t;
	err = nftw(t->root, visit, 16, FTW_PHYS | FTW_MOUNT);
	walking = NULL;
	return err < 0 ? -errno : 0;
}

const char *cgtab_find(struct cgtab *t, uint64_t id)
{
	struct cgtab_entry *e;

	if (!t->buckets || !id)
		return NULL;
	e = lookup(t, id);
	if (!e && t->root[0] && time(NULL) != t->last_walk) {
		cgtab_walk(t);
		e = lookup(t, id);
	}
	return e ? e->path : NULL;
}

static bool hex64(const char *s, size_t len)
{
	if (len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

bool cgtab_container_id(const char *path, char id[CGTAB_ID_MAX])
{
	static const char *const prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-",
						"containerd-", "" };
	const char *end = path + strlen(path);

	while (end > path) {
		const char *start = end;
		size_t len;

		while (start > path && start[-1] != '/')
			start--;
		len = (size_t)(end - start);
		if (len > 6 && !memcmp(end - 6, ".scope", 6))
			len -= 6;
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++) {
			size_t plen = strlen(prefixes[i]);

			if (len > plen && !strncmp(start, prefixes[i], plen) && hex64(start + plen, len - plen)) {
				memcpy(id, start + plen, 64);
				id[64] = '\0';
				return true;
			}
		}
		end = start > path ? start - 1 : path;
	}
	return false;
}

void cgtab_free(struct cgtab *t)
{
	for (size_t b = 0; t->buckets && b < t->nbuckets; b++) {
		struct cgtab_entry *e = t->buckets[b];

		while (e) {
			struct cgtab_entry *next = e->next;

			free(e);
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->count = 0;
}
