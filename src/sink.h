/* SPDX-License-Identifier: GPL-2.0 */
/* Sinks: where finished lines go. They do I/O and nothing else. */
#ifndef NETLOG_SINK_H
#define NETLOG_SINK_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define SINK_DEFAULT_SYSLOG_SOCKET "/dev/log"

enum sink_kind {
	SINK_STDOUT,
	SINK_FILE,
	SINK_SYSLOG,
};

enum sink_severity {
	SINK_INFO,
	SINK_WARNING,
};

struct sink {
	enum sink_kind kind;
	int fd;
	char path[PATH_MAX]; /* the file, or the syslog socket */
	uint64_t lost;	     /* lines that could not be written */
	struct format_time_cache time_cache;
	size_t len;
	char buf[1 << 16]; /* stream sinks: whole lines, written in one go */
};

/* @spec is "stdout", "syslog" or a file path. Returns 0 or -errno. */
int sink_open(struct sink *s, const char *spec, const char *syslog_socket);

/* One event line, stamped with the event's own time. Returns 0 or -errno. */
int sink_write(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line);

/*
 * A line that carries its own time (JSON): written as it is to a file or
 * stdout, after the syslog header to syslog. Returns 0 or -errno.
 */
int sink_write_raw(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line);

/* Push out buffered lines. Returns 0 or -errno. */
int sink_flush(struct sink *s);

/* Reopen a file sink (after rotation); other sinks reconnect. */
int sink_reopen(struct sink *s);

void sink_close(struct sink *s);

#endif
