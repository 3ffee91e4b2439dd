/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Formatters: pure functions from an event to text, no I/O, so they are
 * tested without a kernel. Each returns the length written (without the
 * terminating NUL, which is always written) or -ENOSPC.
 */
#ifndef NETLOG_FORMAT_H
#define NETLOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "communityid.h"
#include "netlog.h"

enum output_format {
	FORMAT_CLASSIC,
	FORMAT_JSON,
};

/* "[1111:2222:3333:4444:5555:6666:7777:8888]:65535" plus NUL */
#define FORMAT_ADDR_MAX 48
/* every byte of a name may become \xHH */
#define FORMAT_COMM_MAX (NETLOG_COMM_LEN * 4 + 1)
#define FORMAT_LINE_MAX 512
/* one JSON event: every field at its longest, names escaped six-fold */
#define FORMAT_JSON_MAX 16384
/*
 * What an executable's or cgroup's path takes in a JSON line at most, and
 * a container id: a longer one is cut, "..." marking where (an executable's
 * keeps its end, a cgroup's its start). So a line
 * stays under 8 KiB, which syslog daemons take as one message (rsyslog's
 * default limit: a longer one is cut, and over TCP its rest read as a
 * message of its own, whose text the process that named its path chose).
 */
#define FORMAT_JSON_PATH_MAX 2048
#define FORMAT_JSON_ID_MAX 128
/* the longest JSON event line, with both paths at their longest */
#define FORMAT_JSON_LONGEST 6144
/* "2026-11-27T08:52:22.123456Z" plus NUL */
#define FORMAT_TIME_MAX 32

/* Bytes outside printable ASCII, and the backslash, become \xHH. */
int format_escape(char *dst, size_t size, const char *src, size_t srclen);

/* An IP address alone: dotted quad, or RFC 5952 text for IPv6. */
int format_ip(char *dst, size_t size, const uint8_t addr[16]);

/* address:port, IPv6 in brackets, IPv4-mapped written as IPv4. */
int format_addr_port(char *dst, size_t size, const uint8_t addr[16], uint16_t port);

/* The formatted date and time of one second, reused for the lines within it. */
struct format_time_cache {
	int64_t sec;
	char prefix[24]; /* "2026-11-27T08:52:22." */
};

/* "2026-11-27T08:52:22.123456Z" from nanoseconds since the epoch; @cache may be NULL. */
int format_time_rfc3339(char *dst, size_t size, uint64_t epoch_ns, struct format_time_cache *cache);

/* The event line in the original netlog shape, without prefix or newline. */
int format_classic(char *dst, size_t size, const struct netlog_event *e);

/*
 * One JSON object (no newline) with Elastic Common Schema field names.
 * @x may be NULL. @epoch_ns is the event's time on the wall clock; @cache may be NULL. Strings are escaped so
 * that any bytes give valid JSON: well-formed UTF-8 stays, a byte of no character is the text \xHH.
 */
/* What the daemon knows of an event beyond its record; any field may be NULL. */
struct format_extra {
	const char *executable;	  /* the process's executable, as the kernel named it */
	const char *cgroup;	  /* its cgroup v2 path */
	const char *container_id; /* the container that cgroup belongs to */
};

/* What formatting one event after another reuses: zeroed, with time.sec = -1. */
struct format_cache {
	struct format_time_cache time;
	struct communityid_cache communityid;
};

int format_json(char *dst, size_t size, const struct netlog_event *e,
		const struct format_extra *x, uint64_t epoch_ns, struct format_cache *cache);

/* A loss report as a JSON object: @count of @what, with the reason in it. */
int format_json_loss(char *dst, size_t size, uint64_t epoch_ns, uint64_t count, const char *what);

/* The same for a warning that is no loss (nothing missing from the log): no netlog.lost. */
int format_json_notice(char *dst, size_t size, uint64_t epoch_ns, uint64_t count, const char *what);

const char *format_event_name(uint8_t type);

#endif
