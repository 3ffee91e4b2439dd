// SPDX-License-Identifier: GPL-2.0
/*
 * fmtbench: what formatting one event costs the daemon, in ns: a classic
 * line, a JSON object (executable, cgroup, a thread name), and the same
 * JSON with names and paths in UTF-8 and bytes of no character. Each the
 * best of 5 runs of N events.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format.h"

static double best_ns(const struct netlog_event *tmpl, const struct format_extra *x, bool json, long n)
{
	static char out[FORMAT_JSON_MAX];
	struct format_cache cache;
	struct netlog_event e = *tmpl;
	double best = 1e12;

	memset(&cache, 0, sizeof(cache));
	cache.time.sec = -1;
	for (int r = 0; r < 5; r++) {
		struct timespec a, b;
		double ns;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < n; i++) {
			e.sock_id = (uint64_t)i; /* a new connection each: no cached Community ID */
			e.lport = (uint16_t)(40000 + i % 20000);
			if (json)
				format_json(out, sizeof(out), &e, x, 1795769542123456789ull + (uint64_t)i * 1000, &cache);
			else
				format_classic(out, sizeof(out), &e);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
		if (ns < best)
			best = ns;
	}
	return best;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	struct format_extra ascii = { "/usr/lib/firefox-esr/firefox-esr",
				      "/user.slice/user-1000.slice/session-2.scope", NULL };
	struct format_extra utf8 = { "/home/jos\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/bin/caf\xc3\xa9\xff",
				     "/user.slice/user-1000.slice/caf\xc3\xa9.scope", NULL };
	/* 10.0.0.1 -> 10.0.0.2:443, as IPv4-mapped addresses */
	struct netlog_event e = {
		.type = NETLOG_CONNECT_STOP, .protocol = IPPROTO_TCP, .family = AF_INET,
		.direction = NETLOG_DIR_OUT, .rport = 443, .start_ns = 1, .ts_ns = 5000,
		.laddr = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 },
		.raddr = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 2 },
		.proc = { .tgid = 4242, .sid = 4242, .uid = 1000, .euid = 1000, .auid = 1000,
			  .comm = "firefox-esr", .thread_comm = "Socket Thread" },
	};

	printf("classic=%.1f\n", best_ns(&e, NULL, false, n));
	printf("json=%.1f\n", best_ns(&e, &ascii, true, n));
	memcpy(e.proc.comm, "caf\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac!\xe8\x8a", 16); /* 15 bytes, the last character cut */
	printf("json_utf8=%.1f\n", best_ns(&e, &utf8, true, n));
	return 0;
}
