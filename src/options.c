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
	OPT_REMOTE_BUFFER,
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
	"      --no-accept-hook      leave accept() untraced: no system call on the host\n"
	"                            pays for netlog, but an incoming connection names\n"
	"                            the listening socket's owner, not the acceptor\n"
	"      --udp-idle-timeout S  a UDP flow with no datagram for S seconds stops\n"
	"                            (default 60)\n"
	"      --max-sockets N       sockets tracked at once in the kernel (default 65536)\n"
	"      --max-udp-flows N     UDP flows counted at once in the kernel (default 65536)\n"
	"      --ring-buffer MIB     kernel-to-daemon buffer, a power of two (default 16)\n"
	"      --remote-buffer KIB   lines kept for a remote collector that is down or\n"
	"                            slow, per output (default 4096)\n"
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

/* [classic:|json:]TARGET; a remote target must be tcp:// or udp:// with a host and a port. */
static int add_output(struct options *o, const char *arg)
{
	struct output_spec *out;
	const char *target = arg;
	int err;

	if (o->noutputs == OPTIONS_MAX_OUTPUTS) {
		fprintf(stderr, "netlogd: --output: at most %d outputs\n", OPTIONS_MAX_OUTPUTS);
		return -EINVAL;
	}
	out = &o->outputs[o->noutputs];
	memset(out, 0, sizeof(*out));
	if (!strncmp(arg, "classic:", 8) || !strncmp(arg, "json:", 5)) {
		out->format = arg[0] == 'j' ? FORMAT_JSON : FORMAT_CLASSIC;
		out->format_set = true;
		target = strchr(arg, ':') + 1;
	}
	if ((err = copy_arg(out->target, sizeof(out->target), "--output", target)))
		return err;
	if (!strncmp(target, "tcp://", 6) || !strncmp(target, "udp://", 6)) {
		const char *hostport = target + 6, *colon = strrchr(hostport, ':');
		uint32_t port;

		if (!colon || colon == hostport || options_parse_u32(colon + 1, 1, 65535, &port)) {
			fprintf(stderr, "netlogd: --output: '%s' is not %.6sHOST:PORT (port 1-65535)\n",
				target, target);
			return -EINVAL;
		}
	} else if (strstr(target, "://")) {
		fprintf(stderr, "netlogd: --output: unknown scheme in '%s' (known: tcp://, udp://)\n", target);
		return -EINVAL;
	}
	o->noutputs++;
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
		{ "remote-buffer", required_argument, NULL, OPT_REMOTE_BUFFER },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, err;

	memset(o, 0, sizeof(*o));
	o->format = FORMAT_CLASSIC;
	o->remote_buffer_kb = 4096;
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
			if ((err = add_output(o, optarg)))
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
		case OPT_REMOTE_BUFFER:
			if ((err = options_parse_u32(optarg, 4, 1u << 20, &o->remote_buffer_kb)))
				return bad_number("--remote-buffer", optarg, err, 4, 1u << 20);
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
	if (o->noutputs == 0)
		add_output(o, "stdout");
	for (unsigned i = 0; i < o->noutputs; i++)
		if (!o->outputs[i].format_set)
			o->outputs[i].format = o->format;
	return 0;
}
