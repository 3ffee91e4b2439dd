// SPDX-License-Identifier: GPL-2.0
#include "format.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

#include "communityid.h"

static int checked(int n, size_t size)
{
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

/* An output cursor: the per-event path appends without snprintf. */
struct out {
	char *p, *end; /* end leaves room for the NUL */
	bool full;
};

static inline void put(struct out *o, const char *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

/* Inlined: most are literals, whose length is then known when compiled. */
static inline __attribute__((always_inline)) void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Written in place, two digits a step: one event holds a dozen numbers. */
static void put_u64(struct out *o, uint64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";
	size_t n = 1;
	char *p;

	for (uint64_t t = v; t >= 10; t /= 10)
		n++;
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	p = o->p + n;
	o->p = p;
	while (v >= 100) {
		unsigned i = (unsigned)(v % 100) * 2;

		v /= 100;
		*--p = pairs[i + 1];
		*--p = pairs[i];
	}
	if (v >= 10) {
		*--p = pairs[v * 2 + 1];
		*--p = pairs[v * 2];
	} else {
		*--p = (char)('0' + v);
	}
}

static void put_u32(struct out *o, uint32_t v)
{
	put_u64(o, v);
}

static int out_finish(struct out *o, char *start)
{
	if (o->full)
		return -ENOSPC;
	*o->p = '\0';
	return (int)(o->p - start);
}

int format_escape(char *dst, size_t size, const char *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < srclen && src[i]; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= size)
				return -ENOSPC;
			dst[o++] = (char)c;
			continue;
		}
		if (o + 4 >= size)
			return -ENOSPC;
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 0xf];
	}
	if (size == 0)
		return -ENOSPC;
	dst[o] = '\0';
	return (int)o;
}

static int is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* RFC 5952: lowercase, no leading zeros, the longest run (>= 2) of zero groups as "::". */
static int format_ipv6(char *dst, size_t size, const uint8_t a[16])
{
	uint16_t w[8];
	int best = -1, best_len = 0;
	size_t o = 0;

	for (int i = 0; i < 8; i++)
		w[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
	for (int i = 0; i < 8;) {
		int j = i;

		while (j < 8 && w[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j == i ? i + 1 : j;
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		int n;

		if (i == best) {
			n = snprintf(dst + o, size - o, "::");
			i += best_len - 1;
		} else {
			n = snprintf(dst + o, size - o, "%s%x", i && i != best + best_len ? ":" : "", w[i]);
		}
		if (checked(n, size - o) < 0)
			return -ENOSPC;
		o += (size_t)n;
	}
	return (int)o;
}

int format_ip(char *dst, size_t size, const uint8_t addr[16])
{
	if (size == 0)
		return -ENOSPC;
	if (is_v4_mapped(addr))
		return checked(snprintf(dst, size, "%u.%u.%u.%u", addr[12], addr[13], addr[14], addr[15]), size);
	return format_ipv6(dst, size, addr);
}

static void put_addr_port(struct out *o, const uint8_t addr[16], uint16_t port)
{
	char ip[FORMAT_ADDR_MAX];

	if (is_v4_mapped(addr)) {
		for (int i = 12; i < 16; i++) {
			put_u32(o, addr[i]);
			put(o, i < 15 ? "." : ":", 1);
		}
	} else {
		if (format_ipv6(ip, sizeof(ip), addr) < 0) {
			o->full = true;
			return;
		}
		put(o, "[", 1);
		put_str(o, ip);
		put(o, "]:", 2);
	}
	put_u32(o, port);
}

int format_addr_port(char *dst, size_t size, const uint8_t addr[16], uint16_t port)
{
	struct out o = { dst, dst + size - 1, size == 0 };

	put_addr_port(&o, addr, port);
	return out_finish(&o, dst);
}

int format_time_rfc3339(char *dst, size_t size, uint64_t epoch_ns, struct format_time_cache *cache)
{
	struct format_time_cache local = { .sec = -1 };
	int64_t sec = (int64_t)(epoch_ns / 1000000000ull);
	unsigned usec = (unsigned)(epoch_ns % 1000000000ull / 1000);

	if (!cache)
		cache = &local;
	/* the date and time change once a second; only the microseconds per line */
	if (cache->sec != sec) {
		time_t t = (time_t)sec;
		struct tm tm;

		if (!gmtime_r(&t, &tm))
			return -EINVAL;
		if (checked(snprintf(cache->prefix, sizeof(cache->prefix), "%04d-%02d-%02dT%02d:%02d:%02d.",
				     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
				     tm.tm_sec),
			    sizeof(cache->prefix)) < 0)
			return -EINVAL;
		cache->sec = sec;
	}
	if (size < 28)
		return -ENOSPC;
	size_t n = strlen(cache->prefix);

	memcpy(dst, cache->prefix, n);
	for (int i = 5; i >= 0; i--, usec /= 10)
		dst[n + (size_t)i] = (char)('0' + usec % 10);
	dst[n + 6] = 'Z';
	dst[n + 7] = '\0';
	return (int)n + 7;
}

const char *format_event_name(uint8_t type)
{
	switch (type) {
	case NETLOG_LISTEN_START:
		return "listen start";
	case NETLOG_LISTEN_STOP:
		return "listen stop";
	case NETLOG_CONNECT_START:
		return "connect start";
	case NETLOG_CONNECT_STOP:
		return "connect stop";
	case NETLOG_CONNECT_FAIL:
		return "connect fail";
	}
	return NULL;
}

/* A protocol's names: in the classic format, which knows two, and in JSON (ECS network.transport, the IANA keyword) */
static const struct protocol_names {
	uint8_t protocol;
	const char *classic, *transport;
} protocols[] = {
	{ IPPROTO_TCP, "TCP", "tcp" },
	{ IPPROTO_UDP, "UDP", "udp" },
	{ IPPROTO_UDPLITE, "UDP", "udplite" },
};

static const struct protocol_names *protocol_names(uint8_t protocol)
{
	for (size_t i = 0; i < sizeof(protocols) / sizeof(*protocols); i++)
		if (protocols[i].protocol == protocol)
			return &protocols[i];
	return NULL;
}

static const char *proto_name(uint8_t protocol)
{
	const struct protocol_names *n = protocol_names(protocol);

	return n ? n->classic : NULL;
}

static const char *transport_name(uint8_t protocol)
{
	const struct protocol_names *n = protocol_names(protocol);

	return n ? n->transport : NULL;
}

int format_classic(char *dst, size_t size, const struct netlog_event *e)
{
	const char *name = format_event_name(e->type);
	const char *proto = proto_name(e->protocol);
	const struct netlog_proc *p = &e->proc;
	struct out o = { dst, dst + size - 1, size == 0 };
	char comm[FORMAT_COMM_MAX];

	if (!name || !proto)
		return -EINVAL;
	if (format_escape(comm, sizeof(comm), p->comm, sizeof(p->comm)) < 0)
		return -ENOSPC;
	put_str(&o, name);
	put(&o, " ", 1);
	put_str(&o, proto);
	put(&o, " ", 1);
	put_addr_port(&o, e->laddr, e->lport);
	if (e->type != NETLOG_LISTEN_START && e->type != NETLOG_LISTEN_STOP) {
		put(&o, e->direction == NETLOG_DIR_IN ? " <- " : " -> ", 4);
		put_addr_port(&o, e->raddr, e->rport);
	}
	put(&o, " ", 1);
	put_u32(&o, p->sid);
	put(&o, " ", 1);
	put_u32(&o, p->tgid);
	put(&o, " ", 1);
	put_u32(&o, p->uid);
	put(&o, " ", 1);
	/* no name (no process known, or one that named itself ""): a field all the same */
	put_str(&o, comm[0] ? comm : "-");
	return out_finish(&o, dst);
}

/*
 * The length of the well-formed UTF-8 character (RFC 3629: shortest form,
 * no surrogates, at most U+10FFFF) of a non-ASCII first byte at @s, @n
 * bytes left, its code point in @cp; 0 if it is none.
 */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2, *cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, *cp = c & 0x0f, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, *cp = c & 0x07, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
		lo = 0x80, hi = 0xbf;
	}
	return len;
}

/* Characters kept as \uXXXX though valid: C1 controls, and the line and paragraph separators. */
static bool json_escaped_char(uint32_t cp)
{
	return cp < 0xa0 || cp == 0x2028 || cp == 0x2029;
}

/* A byte that stands for itself in a JSON string: printable ASCII but '"' and '\\'. */
static inline bool json_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/*
 * What @s[@i] begins, written inside a JSON string: one byte, or one
 * well-formed UTF-8 character (its length in @len). Returns the bytes it
 * takes so written: printable ASCII itself, '"' and '\' their two-byte
 * escapes, ASCII controls \u00XX, a character itself (or \uXXXX, above), a
 * byte of no character the four bytes of text \xHH (a JSON "\\xHH").
 */
static size_t json_unit(const unsigned char *s, size_t n, size_t i, size_t *len, uint32_t *cp)
{
	unsigned char c = s[i];

	*len = 1;
	*cp = c;
	if (json_plain(c))
		return 1;
	if (c < 0x80)
		return c == '"' || c == '\\' ? 2 : 6;
	*len = utf8_char(s + i, n - i, cp);
	if (!*len) {
		*len = 1;
		return 5;
	}
	return json_escaped_char(*cp) ? 6 : *len;
}

/*
 * How many bytes of @s (@n long) fit in @budget bytes of JSON text after
 * "...", whole characters: its start if not @from_end; else its end, and
 * the result is how many bytes go from its start. @width is what all of it
 * takes.
 */
static size_t json_fit(const unsigned char *s, size_t n, size_t budget, bool from_end, size_t width)
{
	size_t i, len, w;
	uint32_t cp;

	/* from the end: drop units until the rest fits; from the start: take them while they fit */
	for (i = 0; i < n && !(from_end && width + 3 <= budget); i += len) {
		w = json_unit(s, n, i, &len, &cp);
		if (from_end)
			width -= w;
		else if (w + 3 > budget)
			break;
		else
			budget -= w;
	}
	return i;
}

/*
 * A JSON string of @s (at most @maxlen bytes of it), whose decoded text is
 * the name's own: well-formed UTF-8 stays as it is, and a byte of no
 * character becomes the text \xHH, as Python's "backslashreplace" decodes
 * it. When written whole it would take more than @budget bytes between its
 * quotes, it is cut between two characters' escapes, "..." marking where:
 * its start goes if @keep_end (an executable's path, whose end says the
 * most), else its end (a cgroup's, whose start says where it lies). A line
 * must stay within what a syslog collector takes.
 */
static void put_json_str_max(struct out *o, const char *str, size_t maxlen, size_t budget, bool keep_end)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i, len, n = strnlen(str, maxlen), from = 0, to = n, plain, width = 0;
	uint32_t cp = 0;

	/* the width is counted only when escapes could pass the budget: most paths are short */
	for (i = 0; n > budget / 6 && i < n; i += len)
		width += json_unit(s, n, i, &len, &cp);
	put(o, "\"", 1);
	if (width > budget && keep_end) {
		from = json_fit(s, n, budget, true, width);
		put(o, "...", 3);
	} else if (width > budget) {
		to = json_fit(s, n, budget, false, width);
	}
	for (i = plain = from; i < to; i += len) {
		unsigned char c = s[i];
		size_t w;

		len = 1;
		if (json_plain(c))
			continue; /* the common case, without the look at characters */
		w = json_unit(s, n, i, &len, &cp);
		if (w == len)
			continue; /* itself */
		put(o, str + plain, i - plain);
		plain = i + len;
		if (c == '"' || c == '\\') {
			char pair[2] = { '\\', (char)c };

			put(o, pair, 2);
		} else if (c < 0x80 || len > 1) {
			char esc[6] = { '\\', 'u', hex[cp >> 12 & 0xf], hex[cp >> 8 & 0xf], hex[cp >> 4 & 0xf],
					hex[cp & 0xf] };

			put(o, esc, sizeof(esc));
		} else {
			char esc[5] = { '\\', '\\', 'x', hex[c >> 4], hex[c & 0xf] };

			put(o, esc, sizeof(esc));
		}
	}
	put(o, str + plain, i - plain);
	if (to < n)
		put(o, "...", 3);
	put(o, "\"", 1);
}

static void put_json_str(struct out *o, const char *s, size_t maxlen)
{
	put_json_str_max(o, s, maxlen, SIZE_MAX, false);
}

static inline __attribute__((always_inline)) void put_key(struct out *o, const char *key)
{
	put(o, ",\"", 2);
	put_str(o, key);
	put(o, "\":", 2);
}

static void put_ip(struct out *o, const uint8_t addr[16])
{
	char ip[FORMAT_ADDR_MAX];

	if (is_v4_mapped(addr)) {
		put(o, "\"", 1);
		for (int i = 12; i < 16; i++) {
			put_u32(o, addr[i]);
			if (i < 15)
				put(o, ".", 1);
		}
		put(o, "\"", 1);
		return;
	}
	if (format_ip(ip, sizeof(ip), addr) < 0) {
		o->full = true;
		return;
	}
	put(o, "\"", 1);
	put_str(o, ip);
	put(o, "\"", 1);
}

/* {"ip":...,"port":...[,"bytes":...,"packets":...]} for one end */
static void put_endpoint(struct out *o, const char *name, const uint8_t addr[16], uint16_t port,
			 const __u64 *bytes, const __u32 *packets)
{
	put_key(o, name);
	put(o, "{\"ip\":", 6);
	put_ip(o, addr);
	put_key(o, "port");
	put_u32(o, port);
	if (bytes) {
		put_key(o, "bytes");
		put_u64(o, *bytes);
		put_key(o, "packets");
		put_u32(o, *packets);
	}
	put(o, "}", 1);
}

static const char *action_name(uint8_t type)
{
	switch (type) {
	case NETLOG_LISTEN_START:
		return "listen-start";
	case NETLOG_LISTEN_STOP:
		return "listen-stop";
	case NETLOG_CONNECT_START:
		return "connect-start";
	case NETLOG_CONNECT_STOP:
		return "connect-stop";
	case NETLOG_CONNECT_FAIL:
		return "connect-fail";
	}
	return NULL;
}

int format_json(char *dst, size_t size, const struct netlog_event *e,
		const struct format_extra *x, uint64_t epoch_ns, struct format_cache *cache)
{
	const char *action = action_name(e->type);
	const char *proto = transport_name(e->protocol);
	const struct netlog_proc *p = &e->proc;
	const struct netlog_traffic *t = &e->traffic;
	struct out o = { dst, dst + size - 1, size == 0 };
	bool listen = e->type == NETLOG_LISTEN_START || e->type == NETLOG_LISTEN_STOP;
	bool stop = e->type == NETLOG_LISTEN_STOP || e->type == NETLOG_CONNECT_STOP ||
		    e->type == NETLOG_CONNECT_FAIL;
	bool incoming = e->direction == NETLOG_DIR_IN || listen;
	/* a stop found late (recovered) knows neither its time nor its counts */
	bool counted = e->type == NETLOG_CONNECT_STOP && !(e->flags & NETLOG_F_RECOVERED);
	char stamp[FORMAT_TIME_MAX];

	if (!action || !proto)
		return -EINVAL;
	if (format_time_rfc3339(stamp, sizeof(stamp), epoch_ns, cache ? &cache->time : NULL) < 0)
		return -EINVAL;

	put_str(&o, "{\"@timestamp\":\"");
	put_str(&o, stamp);
	put_str(&o, "\",\"event\":{\"kind\":\"event\",\"category\":[\"network\"],\"type\":[");
	put_str(&o, listen ? "" : "\"connection\",");
	put_str(&o, stop ? "\"end\"" : "\"start\"");
	put_str(&o, "],\"action\":\"");
	put_str(&o, action);
	put(&o, "\"", 1);
	if (e->type == NETLOG_CONNECT_FAIL)
		put_str(&o, ",\"outcome\":\"failure\"");
	if (stop && e->start_ns && e->ts_ns >= e->start_ns && !(e->flags & NETLOG_F_RECOVERED)) {
		put_key(&o, "duration");
		put_u64(&o, e->ts_ns - e->start_ns);
	}
	put_str(&o, "},\"network\":{\"transport\":\"");
	put_str(&o, proto);
	put_str(&o, "\",\"iana_number\":\"");
	put_u32(&o, e->protocol);
	put_str(&o, "\",\"type\":\"");
	put_str(&o, is_v4_mapped(e->laddr) ? "ipv4" : "ipv6");
	put_str(&o, "\",\"direction\":\"");
	put_str(&o, incoming ? "ingress" : "egress");
	put(&o, "\"", 1);
	if (!listen) {
		char cid[COMMUNITYID_LEN];

		communityid_cached(cache ? &cache->communityid : NULL, cid, e->laddr, e->lport, e->raddr,
				   e->rport, e->protocol);
		put_key(&o, "community_id");
		put(&o, "\"", 1);
		put_str(&o, cid);
		put(&o, "\"", 1);
	}
	if (counted) {
		put_key(&o, "bytes");
		put_u64(&o, t->bytes_sent + t->bytes_received);
		put_key(&o, "packets");
		put_u64(&o, (uint64_t)t->packets_sent + t->packets_received);
	}
	put(&o, "}", 1);

	/* the initiator is the source; a listener is where connections go */
	if (listen) {
		put_endpoint(&o, "destination", e->laddr, e->lport, NULL, NULL);
	} else {
		const __u64 *lb = counted ? &t->bytes_sent : NULL, *rb = counted ? &t->bytes_received : NULL;
		const __u32 *lp = counted ? &t->packets_sent : NULL, *rp = counted ? &t->packets_received : NULL;

		if (incoming) {
			put_endpoint(&o, "source", e->raddr, e->rport, rb, rp);
			put_endpoint(&o, "destination", e->laddr, e->lport, lb, lp);
		} else {
			put_endpoint(&o, "source", e->laddr, e->lport, lb, lp);
			put_endpoint(&o, "destination", e->raddr, e->rport, rb, rp);
		}
	}

	put_str(&o, ",\"process\":{\"pid\":");
	put_u32(&o, p->tgid);
	put_key(&o, "name");
	put_json_str(&o, p->comm, sizeof(p->comm));
	if (x && x->executable) {
		put_key(&o, "executable");
		put_json_str_max(&o, x->executable, SIZE_MAX, FORMAT_JSON_PATH_MAX, true);
	}
	put_str(&o, ",\"thread\":{\"id\":");
	put_u32(&o, p->tid);
	put_key(&o, "name");
	put_json_str(&o, p->thread_comm, sizeof(p->thread_comm));
	put_str(&o, "},\"parent\":{\"pid\":");
	put_u32(&o, p->ppid);
	put_str(&o, "},\"session_leader\":{\"pid\":");
	put_u32(&o, p->sid);
	put_str(&o, "}},\"user\":{\"id\":\"");
	put_u32(&o, p->uid);
	put_str(&o, "\",\"effective\":{\"id\":\"");
	put_u32(&o, p->euid);
	/* always there: 4294967295 when no login set it, as /proc/PID/loginuid says */
	put_str(&o, "\"},\"audit\":{\"id\":\"");
	put_u32(&o, p->auid);
	put_str(&o, "\"}}");
	if (x && x->container_id) {
		put_str(&o, ",\"container\":{\"id\":");
		put_json_str_max(&o, x->container_id, SIZE_MAX, FORMAT_JSON_ID_MAX, false);
		put(&o, "}", 1);
	}
	put_str(&o, ",\"netlog\":{\"sock_cookie\":");
	put_u64(&o, e->sock_id);
	put_key(&o, "netns");
	put_u32(&o, e->netns);
	put_key(&o, "cgroup_id");
	put_u64(&o, p->cgroup_id);
	if (x && x->cgroup) {
		put_key(&o, "cgroup");
		put_json_str_max(&o, x->cgroup, SIZE_MAX, FORMAT_JSON_PATH_MAX, false);
	}
	if (e->flags & NETLOG_F_PREEXISTING)
		put_str(&o, ",\"preexisting\":true");
	if (e->flags & NETLOG_F_NOT_ACCEPTED)
		put_str(&o, ",\"not_accepted\":true");
	if (e->flags & NETLOG_F_LATE)
		put_str(&o, ",\"late\":true");
	if (e->flags & NETLOG_F_START_LOST)
		put_str(&o, ",\"start_lost\":true");
	if (e->flags & NETLOG_F_RECOVERED)
		put_str(&o, ",\"recovered\":true");
	if (e->flags & NETLOG_F_OWNER_UNKNOWN)
		put_str(&o, ",\"owner_unknown\":true");
	if (e->flags & NETLOG_F_UNTRACKED)
		put_str(&o, ",\"untracked\":true");
	if (e->flags & NETLOG_F_NO_STOP)
		put_str(&o, ",\"no_stop\":true");
	put(&o, "}}", 2);
	return out_finish(&o, dst);
}

/* A warning of the daemon's own: @count @what; a loss carries its count in netlog.lost. */
static int json_warning(char *dst, size_t size, uint64_t epoch_ns, uint64_t count, const char *what, bool loss)
{
	struct out o = { dst, dst + size - 1, size == 0 };
	/* the text may name an output's path: whole, but for a line kept within a syslog message */
	char stamp[FORMAT_TIME_MAX], message[PATH_MAX + FORMAT_LINE_MAX];

	if (format_time_rfc3339(stamp, sizeof(stamp), epoch_ns, NULL) < 0)
		return -EINVAL;
	snprintf(message, sizeof(message), "%llu %s", (unsigned long long)count, what);
	put_str(&o, "{\"@timestamp\":\"");
	put_str(&o, stamp);
	put_str(&o, loss ? "\",\"event\":{\"kind\":\"alert\",\"action\":\"netlog-loss\"}"
			 : "\",\"event\":{\"kind\":\"alert\",\"action\":\"netlog-notice\"}");
	put_str(&o, ",\"log\":{\"level\":\"warning\"},\"message\":");
	put_json_str_max(&o, message, sizeof(message), FORMAT_JSON_LONGEST - 512, false);
	if (loss) {
		put_str(&o, ",\"netlog\":{\"lost\":");
		put_u64(&o, count);
		put(&o, "}", 1);
	}
	put(&o, "}", 1);
	return out_finish(&o, dst);
}

int format_json_loss(char *dst, size_t size, uint64_t epoch_ns, uint64_t count, const char *what)
{
	return json_warning(dst, size, epoch_ns, count, what, true);
}

int format_json_notice(char *dst, size_t size, uint64_t epoch_ns, uint64_t count, const char *what)
{
	return json_warning(dst, size, epoch_ns, count, what, false);
}
