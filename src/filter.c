// SPDX-License-Identifier: GPL-2.0
#include "filter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "options.h"

__attribute__((format(printf, 3, 4))) static int bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_cidr(struct filter_cond *r, const char *text, char *why, size_t whylen)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	uint32_t prefix;
	bool v4;

	if (alen == 0 || alen >= sizeof(addr))
		return bad(why, whylen, "'%s' is not an address or CIDR block", text);
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	memset(r->addr, 0, 16);
	v4 = inet_pton(AF_INET, addr, r->addr + 12) == 1;
	if (v4)
		r->addr[10] = r->addr[11] = 0xff;
	else if (inet_pton(AF_INET6, addr, r->addr) != 1)
		return bad(why, whylen, "'%s' is not an IPv4 or IPv6 address", addr);
	if (!slash)
		prefix = v4 ? 32 : 128;
	else if (options_parse_u32(slash + 1, 0, v4 ? 32 : 128, &prefix))
		return bad(why, whylen, "bad prefix length in '%s'", text);
	r->prefix = v4 ? 96 + prefix : prefix;
	/* host bits must be zero: 10.0.0.1/8 is probably a mistake */
	for (unsigned bit = r->prefix; bit < 128; bit++)
		if (r->addr[bit / 8] & (0x80 >> (bit % 8)))
			return bad(why, whylen, "'%s' has host bits set", text);
	return 0;
}

/* The rules that take one of two words. */
static const struct two_way {
	const char *rule;
	enum filter_kind kind;
	const char *word[2];
	uint32_t value[2];
} two_way[] = {
	{ "direction", FILTER_DIRECTION, { "in", "out" }, { NETLOG_DIR_IN, NETLOG_DIR_OUT } },
	{ "protocol", FILTER_PROTOCOL, { "tcp", "udp" }, { IPPROTO_TCP, IPPROTO_UDP } },
	{ "event", FILTER_EVENT, { "listen", "connect" }, { NETLOG_LISTEN_START, NETLOG_CONNECT_START } },
};

#define KNOWN_RULES "port, address, uid, command, direction, loopback, protocol, event"

/* Whether @word names a rule: one of KNOWN_RULES. */
static bool known_rule(const char *word)
{
	size_t n = strlen(word);

	for (const char *p = KNOWN_RULES; *p; p += strspn(p, ", ")) {
		size_t len = strcspn(p, ",");

		if (len == n && !strncmp(p, word, n))
			return true;
		p += len;
	}
	return false;
}

/* Whether @name holds "and" between blanks and a condition after it: a rule written with its command first. */
static bool and_a_condition(const char *name)
{
	for (const char *p = strstr(name, "and"); p; p = strstr(p + 1, "and")) {
		char word[32];
		const char *w = p + 3 + strspn(p + 3, " \t");
		size_t n = strcspn(w, " \t");

		if (p == name || !strchr(" \t", p[-1]) || w == p + 3)
			continue;

		if (n < sizeof(word)) {
			memcpy(word, w, n);
			word[n] = '\0';
			if (known_rule(word))
				return true;
		}
	}
	return false;
}

/*
 * One condition of a rule, from @text; *@next is where the next one
 * begins after "and", or NULL at the end of the line.
 */
static int parse_cond(struct filter_cond *r, const char *text, const char **next, char *why, size_t whylen)
{
	char word[32], value[64];
	const char *arg, *end;
	size_t wlen, vlen;

	*next = NULL;
	while (*text == ' ' || *text == '\t')
		text++;
	wlen = strcspn(text, " \t");
	if (wlen == 0 || wlen >= sizeof(word))
		return bad(why, whylen, "%s", "empty rule (known: " KNOWN_RULES ")");
	memcpy(word, text, wlen);
	word[wlen] = '\0';
	arg = text + wlen;
	while (*arg == ' ' || *arg == '\t')
		arg++;
	if (!known_rule(word))
		return bad(why, whylen, "unknown rule '%s' (known: " KNOWN_RULES ")", word);
	if (!strcmp(word, "command")) {
		/* the rest of the line: names may hold spaces ("Web Content") */
		r->kind = FILTER_COMMAND;
		if (!*arg)
			return bad(why, whylen, "'%s' needs a value", word);
		if (and_a_condition(arg))
			return bad(why, whylen, "'%s': a command comes last in a rule (its name is the rest of the line)", arg);
		if (strlen(arg) >= NETLOG_COMM_LEN)
			return bad(why, whylen, "'%s' is longer than a command name (15 bytes)", arg);
		strcpy(r->comm, arg);
		return 0;
	}
	/* a value, unless loopback; then the end, or "and" and the next condition */
	vlen = strcmp(word, "loopback") ? strcspn(arg, " \t") : 0;
	end = arg + vlen;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end) {
		if (strncmp(end, "and", 3) || (end[3] != ' ' && end[3] != '\t' && end[3] != '\0'))
			return vlen ? bad(why, whylen, "one value per condition, then 'and' or the end, got '%s'", arg)
				    : bad(why, whylen, "'loopback' takes no value, got '%s'", arg);
		*next = end + 3;
	}
	if (!strcmp(word, "loopback")) {
		r->kind = FILTER_LOOPBACK;
		return 0;
	}
	if (!vlen)
		return bad(why, whylen, "'%s' needs a value", word);
	if (vlen >= sizeof(value))
		return bad(why, whylen, "'%.*s' is no %s", (int)vlen, arg, word);
	memcpy(value, arg, vlen);
	value[vlen] = '\0';
	arg = value;
	if (!strcmp(word, "port")) {
		r->kind = FILTER_PORT;
		/* 0 is no port: a listener's remote port, which it would hide */
		return options_parse_u32(arg, 1, 65535, &r->value) ? bad(why, whylen, "'%s' is not a port (1-65535)", arg) : 0;
	}
	if (!strcmp(word, "uid")) {
		r->kind = FILTER_UID;
		return options_parse_u32(arg, 0, UINT32_MAX - 1, &r->value) ? bad(why, whylen, "'%s' is not a uid", arg) : 0;
	}
	if (!strcmp(word, "address")) {
		r->kind = FILTER_ADDRESS;
		return parse_cidr(r, arg, why, whylen);
	}
	for (size_t i = 0; i < sizeof(two_way) / sizeof(two_way[0]); i++) {
		const struct two_way *t = &two_way[i];

		if (strcmp(word, t->rule))
			continue;
		r->kind = t->kind;
		if (!strcmp(arg, t->word[0]))
			r->value = t->value[0];
		else if (!strcmp(arg, t->word[1]))
			r->value = t->value[1];
		else
			return bad(why, whylen, "%s '%s' is not %s or %s", t->rule, arg, t->word[0], t->word[1]);
		return 0;
	}
	return bad(why, whylen, "unknown rule '%s' (known: " KNOWN_RULES ")", word);
}

int filter_parse(struct filter_rule *r, const char *text, char *why, size_t whylen)
{
	const char *next = text;

	memset(r, 0, sizeof(*r));
	while (next) {
		if (r->n == FILTER_MAX_AND)
			return bad(why, whylen, "more than %d conditions joined by 'and'", FILTER_MAX_AND);
		if (r->n > 0 && !next[strspn(next, " \t")])
			return bad(why, whylen, "%s", "'and' with no condition after it");
		if (parse_cond(&r->c[r->n++], next, &next, why, whylen))
			return -EINVAL;
	}
	return 0;
}

static bool in_block(const struct filter_cond *r, const uint8_t a[16])
{
	unsigned full = r->prefix / 8, rest = r->prefix % 8;

	if (memcmp(a, r->addr, full))
		return false;
	return !rest || ((a[full] ^ r->addr[full]) & (0xff00 >> rest)) == 0;
}

static bool is_loopback(const uint8_t a[16])
{
	static const uint8_t v6[16] = { [15] = 1 };
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, v6, 16) || (!memcmp(a, mapped, 12) && a[12] == 127);
}

static bool is_listen(uint8_t type)
{
	return type == NETLOG_LISTEN_START || type == NETLOG_LISTEN_STOP;
}

static bool cond_match(const struct filter_cond *r, const struct netlog_event *e)
{
	bool listen = is_listen(e->type);

	switch (r->kind) {
	case FILTER_PORT:
		return e->lport == r->value || (!listen && e->rport == r->value);
	case FILTER_ADDRESS:
		return in_block(r, e->laddr) || (!listen && in_block(r, e->raddr));
	case FILTER_UID:
		return e->proc.uid == r->value;
	case FILTER_COMMAND:
		return !strncmp(e->proc.comm, r->comm, NETLOG_COMM_LEN);
	case FILTER_DIRECTION:
		return !listen && e->direction == r->value;
	case FILTER_LOOPBACK:
		return listen ? is_loopback(e->laddr) : is_loopback(e->raddr);
	case FILTER_PROTOCOL: /* udp takes UDP-Lite in, as the classic format does */
		return e->protocol == r->value || (r->value == IPPROTO_UDP && e->protocol == IPPROTO_UDPLITE);
	case FILTER_EVENT:
		return (r->value == NETLOG_LISTEN_START) == listen;
	}
	return false;
}

bool filter_match(const struct filter_rule *r, const struct netlog_event *e)
{
	for (unsigned i = 0; i < r->n; i++)
		if (!cond_match(&r->c[i], e))
			return false;
	return r->n > 0;
}

/* A start held back: the key its stop will carry. */
struct filter_held {
	uint64_t sock_id;
	uint64_t seq; /* the order it was held in (filters.seq) */
	uint8_t raddr[16];
	uint8_t laddr[16];
	uint16_t rport;
	uint16_t lport;
	uint8_t protocol;
	bool listen;
	bool gone_once; /* its socket was gone at the last look (filters_forget_gone()) */
	struct filter_held *next;
};

int filters_init(struct filters *f)
{
	memset(f, 0, sizeof(*f));
	f->nbuckets = 1024;
	f->held = calloc(f->nbuckets, sizeof(*f->held));
	return f->held ? 0 : -ENOMEM;
}

void filters_set(struct filters *f, const struct filter_rule *rules, unsigned n)
{
	memcpy(f->rules, rules, n * sizeof(*rules));
	f->n = n;
}

static size_t held_bucket(const struct filters *f, uint64_t sock_id, uint16_t rport)
{
	return ((sock_id ^ rport) * 0x9e3779b97f4a7c15ull >> 32) & (f->nbuckets - 1);
}

/* Id 0 (a socket logged before it had a cookie) tells no socket apart: its local end must too. */
static bool same(const struct filter_held *h, const struct netlog_event *e)
{
	return h->sock_id == e->sock_id && h->listen == is_listen(e->type) &&
	       (h->listen || (h->rport == e->rport && !memcmp(h->raddr, e->raddr, 16))) &&
	       (h->sock_id || (h->lport == e->lport && !memcmp(h->laddr, e->laddr, 16)));
}

/* Twice the buckets, so chains stay short however many starts are held; without memory it goes on as it is. */
static void held_grow(struct filters *f)
{
	size_t n = f->nbuckets * 2, was = f->nbuckets;
	struct filter_held **b = calloc(n, sizeof(*b)), **old = f->held;

	if (!b)
		return;
	f->held = b;
	f->nbuckets = n;
	for (size_t i = 0; i < was; i++) {
		struct filter_held *h = old[i], *next;

		for (; h; h = next) {
			size_t j = held_bucket(f, h->sock_id, h->rport);

			next = h->next;
			h->next = b[j];
			b[j] = h;
		}
	}
	free(old);
}

bool filters_pass(struct filters *f, const struct netlog_event *e)
{
	struct filter_held **p, *h;
	bool stop = e->type == NETLOG_LISTEN_STOP || e->type == NETLOG_CONNECT_STOP;

	if (stop && (e->flags & NETLOG_F_START_LOST)) {
		/* no start was seen to judge: the stop is, by its own fields */
		for (unsigned i = 0; i < f->n; i++)
			if (filter_match(&f->rules[i], e))
				return false;
		return true;
	}
	if (stop) {
		for (p = &f->held[held_bucket(f, e->sock_id, e->rport)]; *p; p = &(*p)->next) {
			if (same(*p, e)) {
				h = *p;
				*p = h->next;
				free(h);
				f->nheld--;
				return false;
			}
		}
		return true;
	}
	for (unsigned i = 0; i < f->n; i++) {
		if (!filter_match(&f->rules[i], e))
			continue;
		if (e->type == NETLOG_CONNECT_FAIL || (e->flags & NETLOG_F_NO_STOP))
			return false; /* no stop to hold back */
		h = calloc(1, sizeof(*h));
		if (h) { /* without memory the stop is logged alone: better than lost */
			h->sock_id = e->sock_id;
			memcpy(h->raddr, e->raddr, 16);
			memcpy(h->laddr, e->laddr, 16);
			h->rport = e->rport;
			h->lport = e->lport;
			h->protocol = e->protocol;
			h->listen = is_listen(e->type);
			h->seq = f->seq++;
			p = &f->held[held_bucket(f, e->sock_id, e->rport)];
			h->next = *p;
			*p = h;
			if (++f->nheld > 2 * f->nbuckets)
				held_grow(f);
		}
		return false;
	}
	return true;
}

/*
 * Only the kernel sends the stops of TCP sockets and of UDP listens, and a
 * full ring buffer can lose them; the daemon itself ends UDP flows. Gone at
 * two looks in a row: a stop sent before a look may still wait behind a
 * record another CPU has not finished writing, and be read at the next.
 */
static int by_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

size_t filters_forget_gone(struct filters *f, uint64_t before, uint64_t *live, size_t nlive)
{
	size_t gone = 0;

	if (nlive)
		qsort(live, nlive, sizeof(*live), by_id);
	for (size_t b = 0; f->held && b < f->nbuckets; b++) {
		struct filter_held **p = &f->held[b], *h;

		while ((h = *p)) {
			bool dead = h->seq < before && (h->protocol == IPPROTO_TCP || h->listen) &&
				    !bsearch(&h->sock_id, live, nlive, sizeof(*live), by_id);

			if (dead && h->gone_once) {
				*p = h->next;
				free(h);
				f->nheld--;
				gone++;
				continue;
			}
			h->gone_once = dead;
			p = &h->next;
		}
	}
	return gone;
}

void filters_free(struct filters *f)
{
	for (size_t b = 0; f->held && b < f->nbuckets; b++) {
		struct filter_held *h = f->held[b];

		while (h) {
			struct filter_held *next = h->next;

			free(h);
			h = next;
		}
	}
	free(f->held);
	f->held = NULL;
}
