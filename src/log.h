/* SPDX-License-Identifier: GPL-2.0 */
/* Diagnostics of the daemon itself, on standard error (not the event log). */
#ifndef NETLOG_LOG_H
#define NETLOG_LOG_H

#include <stdarg.h>

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

void log_init(const char *progname, int verbosity);
int log_verbosity(void);

/*
 * From now on stderr is never waited for: what it does not take is
 * counted and said later (see log.c). Call it once, in the daemon.
 */
void log_never_wait(void);

/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warnx(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* Text as it is (another library's diagnostics), never waited for either. */
void log_vraw(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);

#endif
