// SPDX-License-Identifier: GPL-2.0
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "system.h"

static const char *prog = "netlogd";
static int verbose;
static bool err_sock;	    /* stderr is a socket: sent to with MSG_DONTWAIT */
static uint64_t unwritten; /* diagnostics stderr did not take, not said yet */

void log_init(const char *progname, int verbosity)
{
	prog = progname;
	verbose = verbosity;
}

int log_verbosity(void)
{
	return verbose;
}

/*
 * Standard error is often read by whoever reads standard output (the
 * journal's stream, "2>&1 | reader"): a reader that stops must not hold the
 * daemon up in a diagnostic, when the output it stopped reading is never
 * waited for. A pipe or terminal gets a description of its own, without
 * waiting (the one shared with whoever started netlogd keeps its flags),
 * in place of descriptor 2, so that whatever writes there (stdio, libbpf)
 * waits for nothing either; a socket is sent to with MSG_DONTWAIT. What
 * it does not take is counted, and said with the next that goes.
 */
void log_never_wait(void)
{
	struct stat st;
	int fd;

	if (fstat(STDERR_FILENO, &st) < 0 || S_ISREG(st.st_mode))
		return;
	if (S_ISSOCK(st.st_mode)) {
		err_sock = true;
		return;
	}
	fd = system_reopen_nonblocking(STDERR_FILENO);
	if (fd < 0)
		return;
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* One write of @len bytes, never waited for: whether all went. */
static bool put(const char *buf, size_t len)
{
	ssize_t n;

	do
		n = err_sock ? send(STDERR_FILENO, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL)
			     : write(STDERR_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len;
}

/* @text (a whole line or more) to stderr, after the count of what it did not take. */
static void emit(const char *text, size_t len)
{
	if (unwritten) {
		char said[128];
		int n = snprintf(said, sizeof(said),
				 "%s: %llu diagnostics not written: standard error took nothing\n", prog,
				 (unsigned long long)unwritten);

		if (!put(said, (size_t)n)) {
			unwritten++;
			return;
		}
		unwritten = 0;
	}
	if (!put(text, len))
		unwritten++;
}

/* @n more bytes were written at @line + *@len, of room @room in all: the new length; *@cut if they did not fit */
static size_t grown(size_t len, int n, size_t room, bool *cut)
{
	if (n < 0)
		return len;
	if (len + (size_t)n < room)
		return len + (size_t)n;
	*cut = true;
	return room - 1;
}

static void vlog(const char *fmt, va_list ap, const char *err)
{
	static const char more[] = "...";
	char line[4096];
	size_t len = 0, room = sizeof(line) - 1; /* the newline's */
	bool cut = false;

	/* one write per line: lines of other writers to the same stderr do not cut into it */
	len = grown(len, snprintf(line, room, "%s: ", prog), room, &cut);
	len = grown(len, vsnprintf(line + len, room - len, fmt, ap), room, &cut);
	if (err && !cut)
		len = grown(len, snprintf(line + len, room - len, ": %s", err), room, &cut);
	if (cut)
		memcpy(line + len - (sizeof(more) - 1), more, sizeof(more) - 1);
	line[len++] = '\n';
	emit(line, len);
}

void log_vraw(const char *fmt, va_list ap)
{
	char text[4096];
	int n = vsnprintf(text, sizeof(text), fmt, ap);

	if (n > 0)
		emit(text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

void log_warn(const char *fmt, ...)
{
	const char *err = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap, err);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap, NULL);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap, NULL);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap, NULL);
	va_end(ap);
}
