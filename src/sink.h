/* SPDX-License-Identifier: GPL-2.0 */
/* Sinks: where finished lines go. They do I/O and nothing else. */
#ifndef NETLOG_SINK_H
#define NETLOG_SINK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define SINK_DEFAULT_SYSLOG_SOCKET "/dev/log"

enum sink_kind {
	SINK_STDOUT,
	SINK_FILE,
	SINK_SYSLOG,
	SINK_REMOTE_TCP, /* RFC 5424 over TCP, octet counting (RFC 6587) */
	SINK_REMOTE_UDP, /* RFC 5424, one datagram per line (RFC 5426) */
};

struct remote;

enum sink_severity {
	SINK_INFO,
	SINK_WARNING,
};

struct sink {
	enum sink_kind kind;
	enum output_format format;
	int fd;
	char path[PATH_MAX]; /* the file, the syslog socket, or the remote URL */
	uint64_t lost;	     /* lines that could not be written (remote: dropped) */
	struct remote *remote; /* remote collectors: the buffer and the link's state */
	struct format_time_cache time_cache;
	bool cut;	     /* files: the last write stopped inside a line */
	bool nonblock;	     /* stdout that a reader drains (a pipe, a socket, a terminal): never waited for */
	bool sock;	     /* stdout is a socket: send() rather than write() */
	bool pipe;	     /* stdout is a pipe: written whole lines at a time, so a stalled one cuts none */
	bool own_fd;	     /* stdout reopened as a description of our own (closed with the sink) */
	bool failing;	     /* the last write lost lines; the next that works clears it */
	size_t len;
	char buf[1 << 16]; /* stream sinks: whole lines, written in one go */
};

/*
 * @spec is "stdout", "syslog", a file path, or tcp://HOST:PORT or
 * udp://HOST:PORT (a remote collector, with @remote_buffer bytes kept for
 * it while it is down or slow; it is connected to in the background).
 * Returns 0 or -errno.
 */
int sink_open(struct sink *s, const char *spec, enum output_format format,
	      const char *syslog_socket, size_t remote_buffer);

/*
 * Whether @spec could be opened, without opening or creating anything (for
 * netlogd -n): a file output's directory must exist and be writable, an
 * existing file must not be a directory nor in /proc or /sys; syslog needs
 * @syslog_socket. Returns 0, or -errno with @why.
 */
int sink_check(const char *spec, const char *syslog_socket, char *why, size_t whylen);

/*
 * A UDP collector's socket, when it has one: its cookie, and its local
 * address (16 bytes, IPv4 as ::ffff:a.b.c.d) and port. False otherwise.
 */
bool sink_udp_end(const struct sink *s, uint64_t *cookie, uint8_t addr[16], uint16_t *port);

/* Whether file outputs @a and @b are one file (two spellings of a path, a link). */
bool sink_same_file(const char *a, const char *b);

/*
 * From now on, remote collectors' names are resolved without blocking (in
 * a thread of the C library's): call it once capabilities are dropped.
 */
void sink_resolve_in_background(void);

/* One event line, stamped with the event's own time. Returns 0 or -errno. */
int sink_write(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line);

/*
 * A line that carries its own time (JSON): written as it is to a file or
 * stdout, after the syslog header to syslog. Returns 0 or -errno.
 */
int sink_write_raw(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line);

/*
 * Push out buffered lines; for a remote collector, also (re)connect when
 * due, without ever blocking. Returns 0 or -errno.
 */
int sink_flush(struct sink *s);

/*
 * Standard output that a reader drains: whether the reader is gone (a pipe
 * closed, a terminal hung up, a socket shut), asked without writing, so a
 * quiet host notices it too.
 */
bool sink_reader_gone(const struct sink *s);

/* Remote collectors: lines dropped that the collector has not been told of yet. */
uint64_t sink_untold(const struct sink *s);

/* Remote collectors: whether the link is up now. */
bool sink_remote_up(const struct sink *s);

/* Reopen a file sink (after rotation); other sinks reconnect. */
int sink_reopen(struct sink *s);

/*
 * Close @s, writing what waits. At exit (@at_exit) a collector or a reader
 * that takes nothing is waited for, two seconds at most; on a reload, not
 * at all. Lines left undelivered are said on standard error.
 */
void sink_close(struct sink *s, bool at_exit);

/*
 * A reload gave a remote collector @bytes of buffer: what waits is kept,
 * oldest first; lines that no longer fit are dropped (counted), except
 * those TCP was given already. Returns 0 or -errno (nothing changed).
 */
int sink_resize(struct sink *s, size_t bytes);

#endif
