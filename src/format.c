// SPDX-License-Identifier: GPL-2.0
#include "format.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

static int checked(int n, size_t size)
{
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
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

int format_addr_port(char *dst, size_t size, const uint8_t addr[16], uint16_t port)
{
	char ip[FORMAT_ADDR_MAX];

	if (format_ip(ip, sizeof(ip), addr) < 0)
		return -ENOSPC;
	if (is_v4_mapped(addr))
		return checked(snprintf(dst, size, "%s:%u", ip, port), size);
	return checked(snprintf(dst, size, "[%s]:%u", ip, port), size);
}

int format_time_rfc3339(char *dst, size_t size, uint64_t epoch_ns)
{
	time_t sec = (time_t)(epoch_ns / 1000000000ull);
	unsigned usec = (unsigned)(epoch_ns % 1000000000ull / 1000);
	struct tm tm;

	if (!gmtime_r(&sec, &tm))
		return -EINVAL;
	return checked(snprintf(dst, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
				tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec),
		       size);
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

static const char *proto_name(uint8_t protocol)
{
	switch (protocol) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	}
	return NULL;
}

int format_classic(char *dst, size_t size, const struct netlog_event *e)
{
	const char *name = format_event_name(e->type);
	const char *proto = proto_name(e->protocol);
	char local[FORMAT_ADDR_MAX], remote[FORMAT_ADDR_MAX], comm[FORMAT_COMM_MAX];
	const struct netlog_proc *p = &e->proc;

	if (!name || !proto)
		return -EINVAL;
	if (format_addr_port(local, sizeof(local), e->laddr, e->lport) < 0 ||
	    format_escape(comm, sizeof(comm), p->comm, sizeof(p->comm)) < 0)
		return -ENOSPC;
	if (e->type == NETLOG_LISTEN_START || e->type == NETLOG_LISTEN_STOP)
		return checked(snprintf(dst, size, "%s %s %s %u %u %u %s", name, proto, local, p->sid,
					p->tgid, p->uid, comm),
			       size);
	if (format_addr_port(remote, sizeof(remote), e->raddr, e->rport) < 0)
		return -ENOSPC;
	return checked(snprintf(dst, size, "%s %s %s %s %s %u %u %u %s", name, proto, local,
				e->direction == NETLOG_DIR_IN ? "<-" : "->", remote, p->sid, p->tgid,
				p->uid, comm),
		       size);
}
