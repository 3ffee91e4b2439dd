/* SPDX-License-Identifier: GPL-2.0 */
/* Command-line options: parsed, range-checked, with a clear error for anything else. */
#ifndef NETLOG_OPTIONS_H
#define NETLOG_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define NETLOG_VERSION "0.1.0"

#include "filter.h"
#include "format.h"

#define OPTIONS_MAX_OUTPUTS 8
#define OPTIONS_DEFAULT_CONFIG "/etc/netlog/netlog.conf"

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
	bool compat;		      /* the kernel programs for kernels before 5.12 */
	uint32_t max_sockets;
	uint32_t max_flows;	      /* UDP flow table entries */
	uint32_t udp_idle_timeout;    /* seconds */
	uint32_t ringbuf_mb;
	uint32_t remote_buffer_kb;    /* per remote syslog output */
	uint32_t priority_boost;      /* nice levels above 0 */
	struct filter_rule ignore[FILTER_MAX_RULES]; /* configuration file only */
	unsigned nignore;
	int verbose;
	char config[PATH_MAX];	      /* the configuration file */
	bool config_given;	      /* -c: it must exist */
	bool config_read;	      /* the file was there and read */
	bool config_empty;	      /* ... and held not a byte */
	bool outputs_default;	      /* no output given anywhere: stdout */
	bool check_only;	      /* -n: check the configuration and exit */
	char **argv;		      /* the command line, which overrides the file on reloads */
	int argc;
};

/*
 * The command line, then the configuration file under it (the command line
 * wins). Returns 0 to run, 1 when --help or --version was printed, -EINVAL
 * after printing what was wrong with the command line (exit status 2), or
 * -EBADMSG after printing each error of the file with its line number.
 */
int options_parse(struct options *o, int argc, char **argv);

/*
 * Read the configuration file again into @o, with the command line over it
 * (SIGHUP). On errors @o is left as it was; each is printed. Returns 0,
 * -ENOENT when the file is gone, or -EBADMSG.
 */
int options_reload(struct options *o);

/*
 * Apply "key = value" lines of @text (named @path in errors) to @o. Returns
 * the number of errors, each printed as "PATH:LINE: reason" to stderr.
 */
int options_load_text(struct options *o, const char *path, const char *text);

/* Whether output @target is a file path (not stdout, syslog or a collector). */
bool options_output_is_file(const char *target);

/* Strict unsigned parse: all digits, in [min, max]. Returns 0 or -EINVAL/-ERANGE. */
int options_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

#endif
