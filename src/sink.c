// SPDX-License-Identifier: GPL-2.0
#include "sink.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "log.h"

/* syslog facility daemon; severities info and warning (RFC 5424 numbers) */
#define SYSLOG_PRI(sev) (3 * 8 + ((sev) == SINK_WARNING ? 4 : 6))

static const char *severity_name(enum sink_severity sev)
{
	return sev == SINK_WARNING ? "warning" : "info";
}

static int syslog_connect(struct sink *s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(s->path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, s->path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	return 0;
}

static int file_open(struct sink *s)
{
	int fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return -errno;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	return 0;
}

int sink_open(struct sink *s, const char *spec, const char *syslog_socket)
{
	s->fd = -1;
	s->len = 0;
	s->lost = 0;
	s->time_cache.sec = -1;
	if (strcmp(spec, "stdout") == 0 || strcmp(spec, "-") == 0) {
		s->kind = SINK_STDOUT;
		s->fd = STDOUT_FILENO;
		snprintf(s->path, sizeof(s->path), "stdout");
		return 0;
	}
	if (strcmp(spec, "syslog") == 0) {
		s->kind = SINK_SYSLOG;
		if (snprintf(s->path, sizeof(s->path), "%s", syslog_socket) >= (int)sizeof(s->path))
			return -ENAMETOOLONG;
		return syslog_connect(s);
	}
	s->kind = SINK_FILE;
	if (snprintf(s->path, sizeof(s->path), "%s", spec) >= (int)sizeof(s->path))
		return -ENAMETOOLONG;
	return file_open(s);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int sink_flush(struct sink *s)
{
	int err;

	if (s->len == 0)
		return 0;
	err = write_all(s->fd, s->buf, s->len);
	if (err < 0) {
		/* count whole lines, so the loss report is in the unit users read */
		for (size_t i = 0; i < s->len; i++)
			s->lost += s->buf[i] == '\n';
	}
	s->len = 0;
	return err;
}

static int syslog_send(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line,
		       bool raw)
{
	char msg[FORMAT_JSON_MAX + 64], stamp[32];
	time_t sec = (time_t)(epoch_ns / 1000000000ull);
	struct tm tm;
	int n;

	/* RFC 3164 header, as the original module's lines reached syslog */
	localtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	if (raw)
		n = snprintf(msg, sizeof(msg), "<%d>%s netlog: %s", SYSLOG_PRI(sev), stamp, line);
	else
		n = snprintf(msg, sizeof(msg), "<%d>%s netlog: %s: %s", SYSLOG_PRI(sev), stamp,
			     severity_name(sev), line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -ENOSPC;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (send(s->fd, msg, (size_t)n, MSG_NOSIGNAL) == n)
			return 0;
		if (errno == EINTR)
			continue;
		/* the collector restarted: its socket is a new one */
		if (errno != ECONNREFUSED && errno != ENOTCONN && errno != ENOENT)
			break;
		if (syslog_connect(s) < 0)
			break;
	}
	s->lost++;
	return -errno;
}

int sink_write(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line)
{
	static const char tag[] = " netlog: ";
	const char *sevname = severity_name(sev);
	size_t sevlen = strlen(sevname), linelen = strlen(line), need;
	char *p;
	int n;

	if (s->kind == SINK_SYSLOG)
		return syslog_send(s, epoch_ns, sev, line, false);
	need = FORMAT_TIME_MAX + sizeof(tag) + sevlen + 2 + linelen + 1;
	if (need > sizeof(s->buf))
		return -ENOSPC;
	if (s->len + need > sizeof(s->buf)) {
		int err = sink_flush(s);

		if (err < 0)
			return err;
	}
	/* "<time> netlog: <severity>: <line>\n", appended to the batch */
	p = s->buf + s->len;
	n = format_time_rfc3339(p, FORMAT_TIME_MAX, epoch_ns, &s->time_cache);
	if (n < 0)
		return n;
	p += n;
	memcpy(p, tag, sizeof(tag) - 1);
	p += sizeof(tag) - 1;
	memcpy(p, sevname, sevlen);
	p += sevlen;
	*p++ = ':';
	*p++ = ' ';
	memcpy(p, line, linelen);
	p += linelen;
	*p++ = '\n';
	s->len = (size_t)(p - s->buf);
	return 0;
}

int sink_write_raw(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line)
{
	size_t len = strlen(line);

	if (s->kind == SINK_SYSLOG)
		return syslog_send(s, epoch_ns, sev, line, true);
	if (len + 1 > sizeof(s->buf))
		return -ENOSPC;
	if (s->len + len + 1 > sizeof(s->buf)) {
		int err = sink_flush(s);

		if (err < 0)
			return err;
	}
	memcpy(s->buf + s->len, line, len);
	s->buf[s->len + len] = '\n';
	s->len += len + 1;
	return 0;
}

int sink_reopen(struct sink *s)
{
	int err = sink_flush(s);

	switch (s->kind) {
	case SINK_FILE:
		return file_open(s) ?: err;
	case SINK_SYSLOG:
		return syslog_connect(s);
	case SINK_STDOUT:
		break;
	}
	return err;
}

void sink_close(struct sink *s)
{
	sink_flush(s);
	if (s->fd >= 0 && s->kind != SINK_STDOUT)
		close(s->fd);
	s->fd = -1;
}
