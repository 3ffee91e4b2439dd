// SPDX-License-Identifier: GPL-2.0
#include "nametab.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct nametab_entry {
	uint64_t a, b;
	uint64_t seq; /* its place in the order */
	bool used;    /* asked for (nametab_use()) since it took that place */
	struct nametab_entry *next;
	char name[];
};

#define NAMETAB_MIN_BUCKETS 1024

int nametab_init(struct nametab *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = NAMETAB_MIN_BUCKETS;
	t->max = max ? max : 1;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

static size_t bucket(size_t nbuckets, uint64_t a, uint64_t b)
{
	uint64_t h = (b ^ (a << 40) ^ (a >> 24)) * 0x9e3779b97f4a7c15ull;

	return (h >> 32) & (nbuckets - 1);
}

static struct nametab_entry **slot(const struct nametab *t, uint64_t a, uint64_t b)
{
	struct nametab_entry **p = &t->buckets[bucket(t->nbuckets, a, b)];

	while (*p && ((*p)->a != a || (*p)->b != b))
		p = &(*p)->next;
	return p;
}

/* Twice the buckets, so chains stay short as the table fills; without memory it goes on as it is. */
static void grow(struct nametab *t)
{
	size_t n = t->nbuckets * 2;
	struct nametab_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct nametab_entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			size_t j = bucket(n, e->a, e->b);

			next = e->next;
			e->next = b[j];
			b[j] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/*
 * The ring of keys is full, and so not the table: twice as long, up to
 * max. It has not wrapped yet (only a full table forgets, and by then the
 * ring is as long as it gets): its keys stay where they are.
 */
static int order_grow(struct nametab *t)
{
	size_t cap = t->order_cap ? t->order_cap * 2 : 1024;
	struct nametab_place *o;

	if (cap > t->max)
		cap = t->max;
	o = realloc(t->order, cap * sizeof(*o));
	if (!o)
		return -ENOMEM;
	t->order = o;
	t->order_cap = cap;
	return 0;
}

/*
 * The oldest place goes, and its key with it unless the place was stale or
 * the key was used since it took it: that one gets a place at the back
 * (a second chance, its mark cleared) and the next oldest is looked at.
 * Called with the order full (as long as it gets), so the place freed at
 * the front is the one taken at the back.
 */
static void forget_oldest(struct nametab *t)
{
	struct nametab_place k;
	struct nametab_entry **p, *e;

	for (;;) {
		k = t->order[t->oldest];
		p = slot(t, k.a, k.b);
		e = *p;
		t->oldest = (t->oldest + 1) % t->order_cap;
		t->places--;
		if (!e || e->seq != k.seq)
			return;
		if (!e->used)
			break;
		e->used = false;
		e->seq = t->seq++;
		t->order[(t->oldest + t->places) % t->order_cap] = (struct nametab_place){ k.a, k.b, e->seq };
		t->places++;
	}
	*p = e->next;
	free(e);
	t->count--;
	t->forgotten++;
	if (t->forget)
		t->forget(t->forget_ctx, k.a, k.b);
}

/* Close up the places of deleted keys, the order kept: each is moved back, never past one unread. */
static void sweep(struct nametab *t)
{
	size_t kept = 0;

	for (size_t i = 0; i < t->places; i++) {
		struct nametab_place k = t->order[(t->oldest + i) % t->order_cap];
		struct nametab_entry *e = *slot(t, k.a, k.b);

		if (e && e->seq == k.seq)
			t->order[(t->oldest + kept++) % t->order_cap] = k;
	}
	t->places = kept;
}

void nametab_del(struct nametab *t, uint64_t a, uint64_t b)
{
	struct nametab_entry **p = t->buckets ? slot(t, a, b) : NULL, *e = p ? *p : NULL;

	if (!e)
		return;
	*p = e->next;
	free(e);
	t->count--;
}

int nametab_put(struct nametab *t, uint64_t a, uint64_t b, const char *name)
{
	struct nametab_entry **p = slot(t, a, b), *old = *p, *e;
	size_t len = strlen(name);

	if (old && !strcmp(old->name, name))
		return 0;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->a = a;
	e->b = b;
	e->used = old && old->used;
	memcpy(e->name, name, len + 1);
	if (old) { /* replaced in place: the key keeps its place in the order */
		e->seq = old->seq;
		e->next = old->next;
		free(old);
		*p = e;
		return 0;
	}
	if (t->places == t->max) {
		if (t->places - t->count >= t->max / 4)
			sweep(t);
		if (t->places == t->max)
			forget_oldest(t);
		p = slot(t, a, b); /* its chain may have been that one */
	} else if (t->places == t->order_cap && order_grow(t) < 0) {
		free(e);
		return -ENOMEM;
	}
	e->seq = t->seq++;
	e->next = NULL;
	*p = e;
	t->order[(t->oldest + t->places) % t->order_cap] = (struct nametab_place){ a, b, e->seq };
	t->places++;
	t->count++;
	if (t->count > 2 * t->nbuckets)
		grow(t);
	return 0;
}

const char *nametab_get(const struct nametab *t, uint64_t a, uint64_t b)
{
	struct nametab_entry *e = t->buckets ? *slot(t, a, b) : NULL;

	return e ? e->name : NULL;
}

const char *nametab_use(struct nametab *t, uint64_t a, uint64_t b)
{
	struct nametab_entry *e = t->buckets ? *slot(t, a, b) : NULL;

	if (!e)
		return NULL;
	e->used = true;
	return e->name;
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
	free(t->order);
	t->buckets = NULL;
	t->order = NULL;
	t->count = 0;
	t->places = 0;
}
