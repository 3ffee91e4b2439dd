// SPDX-License-Identifier: GPL-2.0
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"

enum {
	OPT_SYSLOG_SOCKET = 256,
	OPT_LOG_FAILED,
	OPT_NO_ACCEPT_HOOK,
	OPT_MAX_SOCKETS,
	OPT_RING_BUFFER,
	OPT_UDP_IDLE_TIMEOUT,
	OPT_MAX_UDP_FLOWS,
};

static const char usage[] =
	"Usage: netlogd [OPTION]...\n"
	"Log every TCP and UDP listen and connection of this host, with the process\n"
	"on each end: one line when it starts, one when it stops.\n"
	"\n"
	"  -f, --format FORMAT       classic (the default), or json: JSON Lines with\n"
	"                            Elastic Common Schema field names\n"
	"  -o, --output OUTPUT       stdout (the default), syslog, or a file path\n"
	"      --syslog-socket PATH  local syslog socket (default " SINK_DEFAULT_SYSLOG_SOCKET ")\n"
	"      --log-failed          also log outgoing connects that never completed\n"
	"                            as 'connect fail' lines\n"
	"      --no-accept-hook      leave accept() untraced: no system call on the host\n"
	"                            pays for netlog, but an incoming connection names\n"
	"                            the listening socket's owner, not the acceptor\n"
	"      --udp-idle-timeout S  a UDP flow with no datagram for S seconds stops\n"
	"                            (default 60)\n"
	"      --max-sockets N       sockets tracked at once in the kernel (default 65536)\n"
	"      --max-udp-flows N     UDP flows counted at once in the kernel (default 65536)\n"
	"      --ring-buffer MIB     kernel-to-daemon buffer, a power of two (default 16)\n"
	"  -v, --verbose             more diagnostics on stderr (twice: libbpf's too)\n"
	"  -V, --version             print the version and exit\n"
	"  -h, --help                print this help and exit\n"
	"\n"
	"Lines: connect {start|stop} PROTO LOCAL DIR REMOTE SID PID UID COMMAND\n"
	"       listen {start|stop} PROTO LOCAL SID PID UID COMMAND\n"
	"See netlogd(8).\n";

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

static int bad_number(const char *opt, const char *arg, int err, uint32_t min, uint32_t max)
{
	if (err == -ERANGE)
		fprintf(stderr, "netlogd: %s: '%s' is out of range [%u, %u]\n", opt, arg, min, max);
	else
		fprintf(stderr, "netlogd: %s: '%s' is not a number\n", opt, arg);
	return -EINVAL;
}

static int copy_arg(char *dst, size_t size, const char *opt, const char *arg)
{
	if (arg[0] == '\0') {
		fprintf(stderr, "netlogd: %s: empty value\n", opt);
		return -EINVAL;
	}
	if (snprintf(dst, size, "%s", arg) >= (int)size) {
		fprintf(stderr, "netlogd: %s: value too long\n", opt);
		return -EINVAL;
	}
	return 0;
}

int options_parse(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "syslog-socket", required_argument, NULL, OPT_SYSLOG_SOCKET },
		{ "log-failed", no_argument, NULL, OPT_LOG_FAILED },
		{ "no-accept-hook", no_argument, NULL, OPT_NO_ACCEPT_HOOK },
		{ "max-sockets", required_argument, NULL, OPT_MAX_SOCKETS },
		{ "ring-buffer", required_argument, NULL, OPT_RING_BUFFER },
		{ "udp-idle-timeout", required_argument, NULL, OPT_UDP_IDLE_TIMEOUT },
		{ "max-udp-flows", required_argument, NULL, OPT_MAX_UDP_FLOWS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, err;

	memset(o, 0, sizeof(*o));
	o->format = FORMAT_CLASSIC;
	strcpy(o->output, "stdout");
	strcpy(o->syslog_socket, SINK_DEFAULT_SYSLOG_SOCKET);
	o->accept_hook = true;
	o->max_sockets = 65536;
	o->ringbuf_mb = 16;
	o->udp_idle_timeout = 60;
	o->max_flows = 65536;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":f:o:vVh", longopts, NULL)) != -1) {
		const char *name = optind > 1 && optind <= argc ? argv[optind - 1] : "?";

		switch (c) {
		case 'f':
			if (strcmp(optarg, "classic") == 0) {
				o->format = FORMAT_CLASSIC;
			} else if (strcmp(optarg, "json") == 0) {
				o->format = FORMAT_JSON;
			} else {
				fprintf(stderr, "netlogd: --format: unknown format '%s' (known: classic, json)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'o':
			if ((err = copy_arg(o->output, sizeof(o->output), "--output", optarg)))
				return err;
			break;
		case OPT_SYSLOG_SOCKET:
			if ((err = copy_arg(o->syslog_socket, sizeof(o->syslog_socket), "--syslog-socket",
					    optarg)))
				return err;
			break;
		case OPT_LOG_FAILED:
			o->log_failed = true;
			break;
		case OPT_NO_ACCEPT_HOOK:
			o->accept_hook = false;
			break;
		case OPT_MAX_SOCKETS:
			if ((err = options_parse_u32(optarg, 1024, 1u << 24, &o->max_sockets)))
				return bad_number("--max-sockets", optarg, err, 1024, 1u << 24);
			break;
		case OPT_RING_BUFFER:
			if ((err = options_parse_u32(optarg, 1, 1024, &o->ringbuf_mb)))
				return bad_number("--ring-buffer", optarg, err, 1, 1024);
			if (o->ringbuf_mb & (o->ringbuf_mb - 1)) {
				fprintf(stderr, "netlogd: --ring-buffer: '%s' is not a power of two\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_UDP_IDLE_TIMEOUT:
			if ((err = options_parse_u32(optarg, 1, 86400, &o->udp_idle_timeout)))
				return bad_number("--udp-idle-timeout", optarg, err, 1, 86400);
			break;
		case OPT_MAX_UDP_FLOWS:
			if ((err = options_parse_u32(optarg, 64, 1u << 24, &o->max_flows)))
				return bad_number("--max-udp-flows", optarg, err, 64, 1u << 24);
			break;
		case 'v':
			o->verbose++;
			break;
		case 'V':
			printf("netlogd %s\n", NETLOG_VERSION);
			return 1;
		case 'h':
			fputs(usage, stdout);
			return 1;
		case ':':
			fprintf(stderr, "netlogd: option %s needs a value\n", name);
			return -EINVAL;
		default:
			fprintf(stderr, "netlogd: unknown option '%s' (see --help)\n", name);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netlogd: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}
