// SPDX-License-Identifier: GPL-2.0
#include "exetab.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int exetab_init(struct exetab *t, size_t max)
{
	return nametab_init(&t->names, max);
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

		bool cut = r->cut >> i & 1;

		if (len + 1 + c + (cut ? 3 : 0) + 1 > size)
			return -ENOSPC;
		dst[len++] = '/';
		memcpy(dst + len, r->comp[i], c);
		len += c;
		if (cut) {
			memcpy(dst + len, "...", 3);
			len += 3;
		}
	}
	if (r->flags & NETLOG_EXE_PSEUDO) {
		/* as the kernel writes it: a file of no directory is always deleted */
		if (len + sizeof(" (deleted)") > size)
			return -ENOSPC;
		memcpy(dst + len, " (deleted)", sizeof(" (deleted)") - 1);
		len += sizeof(" (deleted)") - 1;
	}
	dst[len] = '\0';
	return (int)len;
}

int exetab_add(struct exetab *t, const struct netlog_exe *r)
{
	char path[EXETAB_PATH_MAX];
	int len = exetab_path(path, sizeof(path), r);

	return len < 0 ? len : nametab_put(&t->names, 0, r->id, path);
}

const char *exetab_find(struct exetab *t, uint64_t id)
{
	return id ? nametab_use(&t->names, 0, id) : NULL;
}

void exetab_free(struct exetab *t)
{
	nametab_free(&t->names);
}
