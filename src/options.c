// SPDX-License-Identifier: GPL-2.0
#include "options.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "sink.h"

enum {
	OPT_SYSLOG_SOCKET = 256,
	OPT_LOG_FAILED,
	OPT_NO_ACCEPT_HOOK,
	OPT_MAX_SOCKETS,
	OPT_RING_BUFFER,
	OPT_UDP_IDLE_TIMEOUT,
	OPT_MAX_UDP_FLOWS,
	OPT_REMOTE_BUFFER,
	OPT_COMPAT,
	OPT_PRIORITY_BOOST,
	OPT_ACCEPT_HOOK, /* configuration file: accept-hook = yes|no */
	OPT_IGNORE,	 /* configuration file: ignore = RULE */
};

static const char usage[] =
	"Usage: netlogd [OPTION]...\n"
	"Log every TCP and UDP listen and connection of this host, with the process\n"
	"on each end: one line when it starts, one when it stops.\n"
	"\n"
	"  -f, --format FORMAT       classic (the default), or json: JSON Lines with\n"
	"                            Elastic Common Schema field names\n"
	"  -o, --output [FORMAT:]OUTPUT\n"
	"                            stdout (the default), syslog (local), a file path,\n"
	"                            or a remote syslog collector: tcp://HOST:PORT\n"
	"                            (RFC 5424, octet counting) or udp://HOST:PORT;\n"
	"                            repeat for several outputs, each in --format or\n"
	"                            its own (json:/var/log/netlog.json)\n"
	"      --syslog-socket PATH  local syslog socket (default " SINK_DEFAULT_SYSLOG_SOCKET ")\n"
	"      --log-failed          also log outgoing connects that never completed\n"
	"                            as 'connect fail' lines\n"
	"      --no-accept-hook      leave accept(), connect(), receives and io_uring\n"
	"                            completions untraced: system calls pay next to\n"
	"                            nothing for netlog, but an incoming TCP connection\n"
	"                            names the listening socket's owner, not the\n"
	"                            acceptor, a connected UDP socket's flow starts\n"
	"                            with its first datagram, and an incoming flow\n"
	"                            read with recv() names the socket's last user\n"
	"      --udp-idle-timeout S  a UDP flow with no datagram for S seconds stops\n"
	"                            (1 to 86400, default 60)\n"
	"      --max-sockets N       sockets tracked at once in the kernel\n"
	"                            (1024 to 16777216, default 65536)\n"
	"      --max-udp-flows N     UDP flows counted at once in the kernel\n"
	"                            (64 to 16777216, default 65536)\n"
	"      --ring-buffer MIB     each kernel-to-daemon buffer (TCP, UDP), a power\n"
	"                            of two (1 to 1024, default 16)\n"
	"      --remote-buffer KIB   lines kept for a remote collector that is down or\n"
	"                            slow, per output (4 to 1048576, default 4096)\n"
	"      --priority-boost N    run N nice levels higher (0 to 20, default\n"
	"                            4): a host busy on every CPU must not keep the\n"
	"                            daemon from reading what the kernel logged\n"
	"      --compat              load the compat kernel programs (built for what\n"
	"                            kernels before 5.12 allow) on any kernel; they\n"
	"                            are chosen by themselves before 5.15, or where\n"
	"                            the kernel refuses the default ones\n"
	"  -c, --config PATH         configuration file (default " OPTIONS_DEFAULT_CONFIG ");\n"
	"                            the command line overrides it\n"
	"  -n, --check               check the configuration (as root, the output files\n"
	"                            and the syslog socket too), print each error with\n"
	"                            its line, then 'configuration OK' or 'configuration\n"
	"                            has errors', and exit (0 or 1)\n"
	"  -v, --verbose             more diagnostics on stderr (twice: libbpf's too)\n"
	"  -V, --version             print the version and exit\n"
	"  -h, --help                print this help and exit\n"
	"\n"
	"Lines: connect {start|stop} PROTO LOCAL DIR REMOTE SID PID UID COMMAND\n"
	"       listen {start|stop} PROTO LOCAL SID PID UID COMMAND\n"
	"See netlogd(8) and netlog.conf(5).\n";

int options_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

/* Settings, by name: the long options, and the keys of the configuration file. */
struct setting {
	const char *name;
	int id;
	bool takes_value; /* on the command line; in the file every key has a value */
	bool file_only;
};

static const struct setting settings[] = {
	{ "format", 'f', true, false },
	{ "output", 'o', true, false },
	{ "syslog-socket", OPT_SYSLOG_SOCKET, true, false },
	{ "log-failed", OPT_LOG_FAILED, false, false },
	{ "no-accept-hook", OPT_NO_ACCEPT_HOOK, false, false },
	{ "accept-hook", OPT_ACCEPT_HOOK, true, true },
	{ "max-sockets", OPT_MAX_SOCKETS, true, false },
	{ "ring-buffer", OPT_RING_BUFFER, true, false },
	{ "udp-idle-timeout", OPT_UDP_IDLE_TIMEOUT, true, false },
	{ "max-udp-flows", OPT_MAX_UDP_FLOWS, true, false },
	{ "remote-buffer", OPT_REMOTE_BUFFER, true, false },
	{ "compat", OPT_COMPAT, false, false },
	{ "priority-boost", OPT_PRIORITY_BOOST, true, false },
	{ "ignore", OPT_IGNORE, true, true },
};

/* The long name of option @id, as errors call it (also when given short or as --name=value). */
static const char *setting_name(int id)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(*settings); i++)
		if (settings[i].id == id && !settings[i].file_only)
			return settings[i].name;
	return "?";
}

static int number(const char *name, const char *arg, uint32_t min, uint32_t max, uint32_t *out, char *why,
		  size_t whylen)
{
	int err = options_parse_u32(arg, min, max, out);

	if (err == -ERANGE)
		snprintf(why, whylen, "%s: '%s' is out of range [%u, %u]", name, arg, min, max);
	else if (err)
		snprintf(why, whylen, "%s: '%s' is not a number", name, arg);
	return err ? -EINVAL : 0;
}

static int text(char *dst, size_t size, const char *name, const char *arg, char *why, size_t whylen)
{
	if (arg[0] == '\0') {
		snprintf(why, whylen, "%s: empty value", name);
		return -EINVAL;
	}
	if (snprintf(dst, size, "%s", arg) >= (int)size) {
		snprintf(why, whylen, "%s: value too long", name);
		return -EINVAL;
	}
	return 0;
}

/* yes/no in the file; a flag on the command line (@arg NULL) is yes */
static int boolean(const char *name, const char *arg, bool *out, char *why, size_t whylen)
{
	if (!arg || !strcmp(arg, "yes") || !strcmp(arg, "true") || !strcmp(arg, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(arg, "no") || !strcmp(arg, "false") || !strcmp(arg, "off")) {
		*out = false;
		return 0;
	}
	snprintf(why, whylen, "%s: '%s' is not yes or no", name, arg);
	return -EINVAL;
}

bool options_output_is_file(const char *target)
{
	return strcmp(target, "stdout") && strcmp(target, "-") && strcmp(target, "syslog") &&
	       strncmp(target, "tcp://", 6) && strncmp(target, "udp://", 6);
}

static bool same_target(const char *a, const char *b)
{
	bool out_a = !strcmp(a, "stdout") || !strcmp(a, "-"), out_b = !strcmp(b, "stdout") || !strcmp(b, "-");

	return out_a || out_b ? out_a && out_b : !strcmp(a, b);
}

/*
 * Whether the @len bytes at @host name a host: an IPv6 address in
 * brackets, or a name or IPv4 address (letters, digits, '-', '.', '_').
 */
static bool valid_host(const char *host, size_t len)
{
	char addr[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;

	if (len > 2 && host[0] == '[' && host[len - 1] == ']') {
		const char *zone = memchr(host, '%', len);
		size_t alen = (zone ? (size_t)(zone - host) : len - 1) - 1;

		if (alen >= sizeof(addr))
			return false;
		memcpy(addr, host + 1, alen);
		addr[alen] = '\0';
		if (inet_pton(AF_INET6, addr, &a6) != 1)
			return false;
		/* a link-local address's zone: an interface's name or number */
		return !zone || valid_host(zone + 1, (size_t)(host + len - 1 - zone - 1));
	}
	if (len == 0 || len > 254)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)host[i]) && !strchr("-._", host[i]))
			return false;
	return true;
}

/* [classic:|json:]TARGET; a remote target must be tcp:// or udp:// with a host and a port. */
static int add_output(struct options *o, const char *arg, char *why, size_t whylen)
{
	struct output_spec *out;
	const char *target = arg;
	int err;

	if (o->noutputs == OPTIONS_MAX_OUTPUTS) {
		snprintf(why, whylen, "output: at most %d outputs", OPTIONS_MAX_OUTPUTS);
		return -EINVAL;
	}
	out = &o->outputs[o->noutputs];
	memset(out, 0, sizeof(*out));
	if (!strncmp(arg, "classic:", 8) || !strncmp(arg, "json:", 5)) {
		out->format = arg[0] == 'j' ? FORMAT_JSON : FORMAT_CLASSIC;
		out->format_set = true;
		target = strchr(arg, ':') + 1;
	}
	if ((err = text(out->target, sizeof(out->target), "output", target, why, whylen)))
		return err;
	if (!strncmp(target, "tcp://", 6) || !strncmp(target, "udp://", 6)) {
		const char *hostport = target + 6, *colon = strrchr(hostport, ':');
		uint32_t port;

		if (!colon || colon == hostport || (colon == hostport + 2 && hostport[0] == '[') ||
		    options_parse_u32(colon + 1, 1, 65535, &port)) {
			snprintf(why, whylen, "output: '%s' is not %.6sHOST:PORT (port 1-65535)", target, target);
			return -EINVAL;
		}
		if (!valid_host(hostport, (size_t)(colon - hostport))) {
			snprintf(why, whylen, "output: '%s': '%.*s' is no host name or address (an IPv6 one in brackets, [ADDR] or [ADDR%%ZONE])",
				 target, (int)(colon - hostport), hostport);
			return -EINVAL;
		}
	} else if (strstr(target, "://")) {
		snprintf(why, whylen, "output: unknown scheme in '%s' (known: tcp://, udp://)", target);
		return -EINVAL;
	}
	/* twice the same place: every line would be written twice, or two formats mixed */
	for (unsigned i = 0; i < o->noutputs; i++) {
		if (same_target(o->outputs[i].target, out->target)) {
			snprintf(why, whylen, "output: '%s' is given twice", target);
			return -EINVAL;
		}
	}
	o->noutputs++;
	return 0;
}

/* One setting, from the command line or the file. Returns 0 or -EINVAL with @why. */
static int set(struct options *o, int id, const char *name, const char *arg, char *why, size_t whylen)
{
	char reason[256];
	int err;

	switch (id) {
	case 'f':
		if (!strcmp(arg, "classic"))
			o->format = FORMAT_CLASSIC;
		else if (!strcmp(arg, "json"))
			o->format = FORMAT_JSON;
		else {
			snprintf(why, whylen, "format: unknown format '%s' (known: classic, json)", arg);
			return -EINVAL;
		}
		return 0;
	case 'o':
		return add_output(o, arg, why, whylen);
	case OPT_SYSLOG_SOCKET:
		return text(o->syslog_socket, sizeof(o->syslog_socket), name, arg, why, whylen);
	case OPT_LOG_FAILED:
		return boolean(name, arg, &o->log_failed, why, whylen);
	case OPT_NO_ACCEPT_HOOK:
		err = boolean(name, arg, &o->accept_hook, why, whylen);
		o->accept_hook = !o->accept_hook;
		return err;
	case OPT_ACCEPT_HOOK:
		return boolean(name, arg, &o->accept_hook, why, whylen);
	case OPT_COMPAT:
		return boolean(name, arg, &o->compat, why, whylen);
	case OPT_MAX_SOCKETS:
		return number(name, arg, 1024, 1u << 24, &o->max_sockets, why, whylen);
	case OPT_RING_BUFFER:
		if ((err = number(name, arg, 1, 1024, &o->ringbuf_mb, why, whylen)))
			return err;
		if (o->ringbuf_mb & (o->ringbuf_mb - 1)) {
			snprintf(why, whylen, "ring-buffer: '%s' is not a power of two", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_UDP_IDLE_TIMEOUT:
		return number(name, arg, 1, 86400, &o->udp_idle_timeout, why, whylen);
	case OPT_MAX_UDP_FLOWS:
		return number(name, arg, 64, 1u << 24, &o->max_flows, why, whylen);
	case OPT_REMOTE_BUFFER:
		return number(name, arg, 4, 1u << 20, &o->remote_buffer_kb, why, whylen);
	case OPT_PRIORITY_BOOST:
		return number(name, arg, 0, 20, &o->priority_boost, why, whylen);
	case OPT_IGNORE:
		if (o->nignore == FILTER_MAX_RULES) {
			snprintf(why, whylen, "ignore: at most %d rules", FILTER_MAX_RULES);
			return -EINVAL;
		}
		if (filter_parse(&o->ignore[o->nignore], arg, reason, sizeof(reason))) {
			snprintf(why, whylen, "ignore: %s", reason);
			return -EINVAL;
		}
		o->nignore++;
		return 0;
	}
	snprintf(why, whylen, "%s: not a setting", name);
	return -EINVAL;
}

static void defaults(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->format = FORMAT_CLASSIC;
	o->remote_buffer_kb = 4096;
	strcpy(o->syslog_socket, SINK_DEFAULT_SYSLOG_SOCKET);
	o->accept_hook = true;
	o->max_sockets = 65536;
	o->ringbuf_mb = 16;
	o->udp_idle_timeout = 60;
	o->max_flows = 65536;
	o->priority_boost = 4;
	strcpy(o->config, OPTIONS_DEFAULT_CONFIG);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

int options_load_text(struct options *o, const char *path, const char *textbuf)
{
	char *copy = strdup(textbuf), *line, *next;
	unsigned lineno = 0, first[sizeof(settings) / sizeof(*settings)] = { 0 };
	int errors = 0;

	if (!copy) {
		log_warnx("%s: out of memory", path);
		return 1;
	}
	for (line = copy; line; line = next) {
		char why[512], *key, *value, *eq;
		const struct setting *st = NULL;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			log_warnx("%s:%u: expected 'key = value', got '%s'", path, lineno, key);
			errors++;
			continue;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		for (size_t i = 0; i < sizeof(settings) / sizeof(*settings); i++)
			if (!strcmp(settings[i].name, key) && settings[i].id != OPT_NO_ACCEPT_HOOK)
				st = &settings[i];
		if (!st) {
			log_warnx("%s:%u: unknown setting '%s'", path, lineno, key);
			errors++;
			continue;
		}
		if (*value == '\0') {
			log_warnx("%s:%u: %s: no value", path, lineno, key);
			errors++;
			continue;
		}
		/* not taken as part of the value (a file named so): said, so nobody wonders */
		if (strstr(value, " #") || strstr(value, "\t#")) {
			log_warnx("%s:%u: %s: '#' after the value: comments go on lines of their own",
				path, lineno, key);
			errors++;
			continue;
		}
		/* a key that holds one value, given twice: which one was meant? */
		if (first[st - settings] && st->id != 'o' && st->id != OPT_IGNORE) {
			log_warnx("%s:%u: %s: given again (first on line %u)", path, lineno, key,
				first[st - settings]);
			errors++;
			continue;
		}
		first[st - settings] = lineno;
		if (set(o, st->id, key, value, why, sizeof(why))) {
			log_warnx("%s:%u: %s", path, lineno, why);
			errors++;
		}
	}
	free(copy);
	return errors;
}

/* Read the file into @o. Returns 0, -ENOENT (absent), -errno, or -EBADMSG. */
static int load_file(struct options *o)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	/* non-blocking: a FIFO would otherwise wait here for a writer */
	int fd = open(o->config, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
	struct stat st;
	int errors;

	if (!f) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return err;
	}
	if (fstat(fileno(f), &st) < 0) {
		int err = -errno;

		fclose(f);
		return err;
	}
	/* /dev/null: no settings ("-c /dev/null": the command line alone) */
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
		fclose(f);
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		fclose(f);
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		log_warnx("%s: not a regular file", o->config);
		return -EBADMSG;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *p = realloc(buf, cap = cap ? cap * 2 : 8192);

			if (!p || cap > (1u << 24)) {
				free(p ? p : buf);
				fclose(f);
				log_warnx("%s: too large", o->config);
				return -EBADMSG;
			}
			buf = p;
		}
		size_t n = fread(buf + len, 1, 4096, f);

		len += n;
		if (n < 4096)
			break;
	}
	if (ferror(f)) {
		int err = -errno;

		fclose(f);
		free(buf);
		return err ? err : -EIO;
	}
	fclose(f);
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		log_warnx("%s: not a text file (a NUL byte)", o->config);
		free(buf);
		return -EBADMSG;
	}
	o->config_empty = len == 0;
	errors = options_load_text(o, o->config, buf);
	free(buf);
	return errors ? -EBADMSG : 0;
}

/* Whether @arg is --NAME=VALUE for a long option of @opts that takes no value. */
static bool takes_no_value(const struct option *opts, const char *arg)
{
	size_t n = strcspn(arg, "=");

	if (strncmp(arg, "--", 2) || !arg[n])
		return false;
	for (; opts->name; opts++)
		if (opts->has_arg == no_argument && strlen(opts->name) == n - 2 && !strncmp(opts->name, arg + 2, n - 2))
			return true;
	return false;
}

int options_parse(struct options *o, int argc, char **argv)
{
	static const char shortopts[] = ":f:o:c:nvVh";
	struct option longopts[sizeof(settings) / sizeof(*settings) + 6];
	unsigned nlong = 0;
	bool help = false, version = false; /* answered once the whole line is known good */
	int c, err, pass;

	for (size_t i = 0; i < sizeof(settings) / sizeof(*settings); i++) {
		if (settings[i].file_only)
			continue;
		longopts[nlong++] = (struct option){ settings[i].name,
						     settings[i].takes_value ? required_argument : no_argument,
						     NULL, settings[i].id };
	}
	longopts[nlong++] = (struct option){ "config", required_argument, NULL, 'c' };
	longopts[nlong++] = (struct option){ "check", no_argument, NULL, 'n' };
	longopts[nlong++] = (struct option){ "verbose", no_argument, NULL, 'v' };
	longopts[nlong++] = (struct option){ "version", no_argument, NULL, 'V' };
	longopts[nlong++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[nlong] = (struct option){ 0 };

	/* pass 0: the command line alone, to find -c and -n and every mistake;
	 * then the file; pass 1: the command line again, over the file */
	defaults(o);
	for (pass = 0; pass < 2; pass++) {
		struct options cli;
		bool cli_outputs = false;

		if (pass == 1) {
			memcpy(&cli, o, sizeof(cli));
			err = load_file(o);
			o->config_read = err == 0;
			if (err == -ENOENT && !cli.config_given)
				err = 0; /* no file: the defaults */
			else if (err == -EBADMSG)
				return err;
			else if (err) {
				log_warnx("%s: %s", o->config, strerror(-err));
				return -EBADMSG;
			}
			o->verbose = cli.verbose;
			o->check_only = cli.check_only;
			o->config_given = cli.config_given;
		}
		opterr = 0;
		optind = 1;
		while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
			const char *name = optind > 1 && optind <= argc ? argv[optind - 1] : "?";
			char why[512];

			switch (c) {
			case 'c':
				if (pass == 0 && text(o->config, sizeof(o->config), "--config", optarg, why, sizeof(why))) {
					log_warnx("%s", why);
					return -EINVAL;
				}
				o->config_given = true;
				break;
			case 'n':
				o->check_only = true;
				break;
			case 'v':
				if (pass == 0)
					o->verbose++;
				break;
			case 'V':
				version = true;
				break;
			case 'h':
				help = true;
				break;
			case ':':
				log_warnx("option %s needs a value", name);
				return -EINVAL;
			case '?':
				if (takes_no_value(longopts, name))
					log_warnx("option %.*s takes no value", (int)strcspn(name, "="), name);
				else
					log_warnx("unknown option '%s' (see --help)", name);
				return -EINVAL;
			default:
				if (c == 'o' && pass == 1 && !cli_outputs) {
					o->noutputs = 0; /* outputs on the command line replace the file's */
					cli_outputs = true;
				}
				if (set(o, c, setting_name(c), optarg, why, sizeof(why))) {
					log_warnx("--%s", why);
					return -EINVAL;
				}
			}
		}
		if (optind < argc) {
			log_warnx("unexpected argument '%s' (see --help)", argv[optind]);
			return -EINVAL;
		}
		if (help) {
			fputs(usage, stdout);
			return 1;
		}
		if (version) {
			printf("netlogd %s\n", NETLOG_VERSION);
			return 1;
		}
		if (pass == 0) {
			char config[PATH_MAX];
			bool given = o->config_given, check = o->check_only;
			int verbose = o->verbose;

			/* start again from the defaults: the file goes under the command line */
			snprintf(config, sizeof(config), "%s", o->config);
			defaults(o);
			snprintf(o->config, sizeof(o->config), "%s", config);
			o->config_given = given;
			o->check_only = check;
			o->verbose = verbose;
		}
	}
	if (o->noutputs == 0) {
		char why[64];

		add_output(o, "stdout", why, sizeof(why));
		o->outputs_default = true;
	}
	for (unsigned i = 0; i < o->noutputs; i++)
		if (!o->outputs[i].format_set)
			o->outputs[i].format = o->format;
	o->argc = argc;
	o->argv = argv;
	return 0;
}

int options_reload(struct options *o)
{
	struct options *n = malloc(sizeof(*n));
	int err;

	if (!n)
		return -ENOMEM;
	err = options_parse(n, o->argc, o->argv);
	/* the file read at start is gone: not a reason to fall back to the defaults */
	if (err == 0 && o->config_read && !n->config_read)
		err = -ENOENT;
	/* read between its truncation and its writing (cat > FILE): not what was meant */
	if (err == 0 && n->config_empty && !o->config_empty)
		err = -ENODATA;
	/* every line to standard output, away from the outputs in force: only when asked for */
	if (err == 0 && n->outputs_default && !o->outputs_default)
		err = -EDESTADDRREQ;
	if (err == 0) {
		n->verbose = o->verbose;
		memcpy(o, n, sizeof(*o));
	}
	free(n);
	return err == -EINVAL ? -EBADMSG : err;
}
