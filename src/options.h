/* SPDX-License-Identifier: GPL-2.0 */
/* Command-line options: parsed, range-checked, with a clear error for anything else. */
#ifndef NETLOG_OPTIONS_H
#define NETLOG_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define NETLOG_VERSION "0.1.0"

#include "format.h"

#define OPTIONS_MAX_OUTPUTS 8

/* One --output: where, and in which format. */
struct output_spec {
	enum output_format format;
	bool format_set;	  /* given as FORMAT:TARGET, not taken from --format */
	char target[PATH_MAX];	  /* stdout, syslog, tcp://HOST:PORT, udp://HOST:PORT or a path */
};

struct options {
	enum output_format format;    /* for outputs that do not name theirs */
	struct output_spec outputs[OPTIONS_MAX_OUTPUTS];
	unsigned noutputs;
	char syslog_socket[PATH_MAX]; /* where local syslog listens */
	bool log_failed;	      /* classic lines for failed connects too */
	bool accept_hook;	      /* name the accepting process (syscall tracepoints) */
	uint32_t max_sockets;
	uint32_t max_flows;	      /* UDP flow table entries */
	uint32_t udp_idle_timeout;    /* seconds */
	uint32_t ringbuf_mb;
	uint32_t remote_buffer_kb;    /* per remote syslog output */
	int verbose;
};

/*
 * Returns 0 to run, 1 when --help or --version was printed, or -EINVAL after
 * printing what was wrong (exit status 2).
 */
int options_parse(struct options *o, int argc, char **argv);

/* Strict unsigned parse: all digits, in [min, max]. Returns 0 or -EINVAL/-ERANGE. */
int options_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

#endif
