// SPDX-License-Identifier: GPL-2.0
#include "cgtab.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cgtab_init(struct cgtab *t, const char *root, size_t max)
{
	memset(t, 0, sizeof(*t));
	if (root && strlen(root) < sizeof(t->root))
		strcpy(t->root, root);
	return nametab_init(&t->paths, max);
}

int cgtab_add(struct cgtab *t, uint64_t id, const char *path, bool cut)
{
	char shown[CGTAB_PATH_SHOWN + sizeof("...")];
	size_t len = strlen(path);

	if (!cut && len <= CGTAB_PATH_SHOWN)
		return nametab_put(&t->paths, 0, id, path);
	if (len > CGTAB_PATH_SHOWN)
		len = CGTAB_PATH_SHOWN;
	memcpy(shown, path, len);
	memcpy(shown + len, "...", sizeof("..."));
	return nametab_put(&t->paths, 0, id, shown);
}

static void forget_first_gone(struct cgtab *t)
{
	nametab_del(&t->paths, 0, t->gone[t->gone_first].id);
	t->gone_first = (t->gone_first + 1) % t->gone_cap;
	t->ngone--;
}

void cgtab_gone(struct cgtab *t, uint64_t id, time_t now)
{
	if (!nametab_get(&t->paths, 0, id))
		return;
	if (t->ngone == t->gone_cap && t->gone_cap < t->paths.max) {
		size_t cap = t->gone_cap ? t->gone_cap * 2 : 64;
		struct cgtab_gone *g = malloc(cap * sizeof(*g));

		if (g) { /* unrolled into the new ring, oldest first */
			for (size_t i = 0; i < t->ngone; i++)
				g[i] = t->gone[(t->gone_first + i) % t->gone_cap];
			free(t->gone);
			t->gone = g;
			t->gone_cap = cap;
			t->gone_first = 0;
		}
	}
	if (t->ngone == t->gone_cap) {
		if (!t->gone_cap) { /* no memory for the ring: at once */
			nametab_del(&t->paths, 0, id);
			return;
		}
		forget_first_gone(t);
	}
	t->gone[(t->gone_first + t->ngone) % t->gone_cap] = (struct cgtab_gone){ id, now };
	t->ngone++;
}

void cgtab_expire(struct cgtab *t, time_t now)
{
	while (t->ngone && now - t->gone[t->gone_first].when >= CGTAB_GONE_KEEP)
		forget_first_gone(t);
}

static struct cgtab *walking; /* nftw() has no context argument */

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t rootlen = strlen(walking->root);

	if (type != FTW_D)
		return 0;
	/* the root itself is "/", the rest their path below it */
	cgtab_add(walking, (uint64_t)st->st_ino, path[rootlen] ? path + rootlen : "/", false);
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

const char *cgtab_get(const struct cgtab *t, uint64_t id)
{
	return id ? nametab_get(&t->paths, 0, id) : NULL;
}

const char *cgtab_find(struct cgtab *t, uint64_t id)
{
	const char *path = cgtab_get(t, id);

	if (!path && id && t->root[0] && time(NULL) != t->last_walk) {
		cgtab_walk(t);
		path = cgtab_get(t, id);
	}
	return path;
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
	nametab_free(&t->paths);
	free(t->gone);
	t->gone = NULL;
	t->ngone = t->gone_cap = 0;
}
