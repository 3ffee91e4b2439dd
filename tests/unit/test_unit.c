// SPDX-License-Identifier: GPL-2.0
/* Unit tests of the pure parts: escaping, addresses, time, lines, option parsing. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "netlog.h"
#include "options.h"
#include "udpflow.h"
#include "exetab.h"
#include "nametab.h"
#include "cgtab.h"
#include "communityid.h"
#include "filter.h"
#include "sink.h"

static int passed, failed;
static const char *current;

/* Assertions return bool so that a failed step ends the test cleanly. */
#define CHECK(cond, ...)                                                  \
	({                                                                \
		bool ok_ = (cond);                                        \
		if (!ok_) {                                               \
			fprintf(stderr, "FAIL %s (%s:%d): ", current, __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
		}                                                         \
		ok_;                                                      \
	})

#define CHECK_STR(got, want) CHECK(strcmp((got), (want)) == 0, "got \"%s\", want \"%s\"", (got), (want))

static void run(const char *name, bool (*fn)(void))
{
	current = name;
	if (fn())
		passed++;
	else
		failed++;
}

static void v6(uint8_t out[16], const char *text)
{
	inet_pton(AF_INET6, text, out);
}

static void v4(uint8_t out[16], const char *text)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	inet_pton(AF_INET, text, out + 12);
}

static bool escape_keeps_printable_ascii_and_spaces(void)
{
	char out[FORMAT_COMM_MAX];
	int n = format_escape(out, sizeof(out), "my prog-1.2", 16);

	return CHECK(n == 11, "n=%d", n) && CHECK_STR(out, "my prog-1.2");
}

static bool escape_hexes_control_bytes_backslash_and_high_bytes(void)
{
	char out[FORMAT_COMM_MAX];
	const char name[16] = "a\nb\\c\x7f\xff\t\x1b";

	return CHECK(format_escape(out, sizeof(out), name, sizeof(name)) > 0, "failed") &&
	       CHECK_STR(out, "a\\x0ab\\x5cc\\x7f\\xff\\x09\\x1b");
}

static bool escape_of_a_full_hostile_name_fits(void)
{
	char out[FORMAT_COMM_MAX];
	char name[16];

	memset(name, '\n', sizeof(name)); /* no NUL: a comm filled to the end */
	return CHECK(format_escape(out, sizeof(out), name, sizeof(name)) == 64, "not 64 bytes") &&
	       CHECK(strlen(out) == 64, "len %zu", strlen(out));
}

static bool escape_refuses_a_short_buffer(void)
{
	char out[4];

	return CHECK(format_escape(out, sizeof(out), "\n", 1) == -ENOSPC, "no ENOSPC");
}

static bool ipv4_mapped_is_written_as_ipv4(void)
{
	uint8_t a[16];
	char out[FORMAT_ADDR_MAX];

	v6(a, "::ffff:10.0.0.1");
	return CHECK(format_addr_port(out, sizeof(out), a, 22) > 0, "failed") && CHECK_STR(out, "10.0.0.1:22");
}

static bool ipv6_follows_rfc5952(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1" },
		{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" }, /* one zero group: not :: */
		{ "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },	      /* the longest run */
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },      /* the first of equal runs */
		{ "::", "::" },
		{ "::1", "::1" },
		{ "fe80::", "fe80::" },
		{ "2001:DB8::AB", "2001:db8::ab" },
		{ "::102:304", "::102:304" }, /* not mixed notation */
	};
	uint8_t a[16];
	char out[FORMAT_ADDR_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v6(a, cases[i].in);
		if (!CHECK(format_ip(out, sizeof(out), a) > 0, "%s failed", cases[i].in) ||
		    !CHECK_STR(out, cases[i].want))
			return false;
	}
	return true;
}

static bool ipv6_with_port_is_bracketed(void)
{
	uint8_t a[16];
	char out[FORMAT_ADDR_MAX];

	v6(a, "1111:2222:3333:4444:5555:6666:7777:8888");
	return CHECK(format_addr_port(out, sizeof(out), a, 65535) > 0, "failed") &&
	       CHECK_STR(out, "[1111:2222:3333:4444:5555:6666:7777:8888]:65535");
}

static bool time_is_rfc3339_utc_with_microseconds(void)
{
	char out[FORMAT_TIME_MAX];

	/* 2026-11-27T08:52:22.123456789Z */
	struct format_time_cache cache = { .sec = -1 };

	return CHECK(format_time_rfc3339(out, sizeof(out), 1795769542123456789ull, NULL) > 0, "failed") &&
	       CHECK_STR(out, "2026-11-27T08:52:22.123456Z") &&
	       CHECK(format_time_rfc3339(out, sizeof(out), 1795769542000001000ull, &cache) > 0, "cache") &&
	       CHECK_STR(out, "2026-11-27T08:52:22.000001Z") &&
	       CHECK(format_time_rfc3339(out, sizeof(out), 1795769603999999999ull, &cache) > 0, "next") &&
	       CHECK_STR(out, "2026-11-27T08:53:23.999999Z");
}

static struct netlog_event sample(uint8_t type, uint8_t dir)
{
	struct netlog_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.direction = dir;
	e.protocol = IPPROTO_TCP;
	e.family = AF_INET;
	v4(e.laddr, "128.141.47.174");
	v4(e.raddr, "128.141.1.2");
	e.lport = 22;
	e.rport = 51234;
	e.proc.sid = 20555;
	e.proc.tgid = 20555;
	e.proc.uid = 0;
	strcpy(e.proc.comm, "sshd");
	return e;
}

static bool classic_connect_line_matches_the_original(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_START, NETLOG_DIR_IN);
	char out[FORMAT_LINE_MAX];

	return CHECK(format_classic(out, sizeof(out), &e) > 0, "failed") &&
	       CHECK_STR(out, "connect start TCP 128.141.47.174:22 <- 128.141.1.2:51234 20555 20555 0 sshd");
}

static bool classic_listen_line_has_no_remote(void)
{
	struct netlog_event e = sample(NETLOG_LISTEN_START, NETLOG_DIR_NONE);
	char out[FORMAT_LINE_MAX];

	v4(e.laddr, "0.0.0.0");
	e.proc.sid = e.proc.tgid = 10416;
	return CHECK(format_classic(out, sizeof(out), &e) > 0, "failed") &&
	       CHECK_STR(out, "listen start TCP 0.0.0.0:22 10416 10416 0 sshd");
}

static bool classic_stop_outgoing_ipv6(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_OUT);
	char out[FORMAT_LINE_MAX];

	e.family = AF_INET6;
	v6(e.laddr, "2001:db8::2");
	v6(e.raddr, "2001:db8::1");
	e.lport = 40000;
	e.rport = 443;
	e.proc.tgid = 7;
	e.proc.uid = 1000;
	strcpy(e.proc.comm, "curl");
	return CHECK(format_classic(out, sizeof(out), &e) > 0, "failed") &&
	       CHECK_STR(out, "connect stop TCP [2001:db8::2]:40000 -> [2001:db8::1]:443 20555 7 1000 curl");
}

static bool classic_line_escapes_the_command(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_OUT);
	char out[FORMAT_LINE_MAX];

	memcpy(e.proc.comm, "x\n1 2 3 4 \\\r\x80yyyyy", 16); /* 16 bytes, no NUL */
	return CHECK(format_classic(out, sizeof(out), &e) > 0, "failed") &&
	       CHECK(strchr(out, '\n') == NULL && strchr(out, '\r') == NULL, "raw control byte") &&
	       CHECK_STR(strstr(out, " 0 ") + 3, "x\\x0a1 2 3 4 \\x5c\\x0d\\x80yyy");
}

/* An empty name (no process known, or one named "") is a field all the same: "-", never a trailing space. */
static bool classic_line_writes_an_empty_command_as_a_dash(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_OUT);
	char out[FORMAT_LINE_MAX];

	memset(&e.proc, 0, sizeof(e.proc));
	e.flags = NETLOG_F_OWNER_UNKNOWN;
	return CHECK(format_classic(out, sizeof(out), &e) > 0, "failed") &&
	       CHECK_STR(strstr(out, " -> ") + 4, "128.141.1.2:51234 0 0 0 -");
}

static bool classic_rejects_an_unknown_event_type(void)
{
	struct netlog_event e = sample(99, NETLOG_DIR_OUT);
	char out[FORMAT_LINE_MAX];

	return CHECK(format_classic(out, sizeof(out), &e) == -EINVAL, "accepted type 99");
}

static bool json_names_the_initiator_source_and_escapes_every_byte(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_IN);
	char out[FORMAT_JSON_MAX];

	e.ts_ns = 5000;
	e.start_ns = 1000;
	e.traffic.bytes_sent = 7;
	e.traffic.bytes_received = 300;
	memcpy(e.proc.comm, "a\"b\\c\n\xff", 8);
	return CHECK(format_json(out, sizeof(out), &e, NULL, 1795769542123456789ull, NULL) > 0, "failed") &&
	       CHECK(strstr(out, "\"source\":{\"ip\":\"128.141.1.2\",\"port\":51234,\"bytes\":300") != NULL, "%s", out) &&
	       CHECK(strstr(out, "\"destination\":{\"ip\":\"128.141.47.174\",\"port\":22,\"bytes\":7") != NULL, "%s", out) &&
	       CHECK(strstr(out, "\"duration\":4000") != NULL, "%s", out) &&
	       CHECK(strstr(out, "\"name\":\"a\\\"b\\\\c\\u000a\\\\xff\"") != NULL, "%s", out) &&
	       CHECK(strstr(out, "\"@timestamp\":\"2026-11-27T08:52:22.123456Z\"") != NULL, "%s", out) &&
	       CHECK(!strstr(out, "\"late\""), "%s", out);
}

/* A stop the kernel kept back while the ring was full says so; the classic line looks as ever. */
static bool late_stop_is_marked_in_json_only(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_IN);
	char out[FORMAT_JSON_MAX], plain[FORMAT_JSON_MAX], late[FORMAT_JSON_MAX];

	format_classic(plain, sizeof(plain), &e);
	e.flags |= NETLOG_F_LATE;
	format_classic(late, sizeof(late), &e);
	return CHECK(format_json(out, sizeof(out), &e, NULL, 0, NULL) > 0, "failed") &&
	       CHECK(strstr(out, ",\"late\":true") != NULL, "%s", out) && CHECK(!strcmp(plain, late), "%s", late);
}

/* A stop found late (recovered): marked, and with no duration or counts, which it cannot know. */
static bool recovered_stop_claims_no_duration_or_counts(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_IN);
	char out[FORMAT_JSON_MAX], plain[FORMAT_JSON_MAX], recovered[FORMAT_JSON_MAX];

	e.ts_ns = 5000;
	e.start_ns = 4000;
	e.traffic.bytes_sent = 7;
	format_classic(plain, sizeof(plain), &e);
	if (!CHECK(format_json(out, sizeof(out), &e, NULL, 0, NULL) > 0, "failed") ||
	    !CHECK(strstr(out, "\"duration\":1000") && strstr(out, "\"bytes\":7"), "%s", out))
		return false;
	e.flags |= NETLOG_F_RECOVERED;
	format_classic(recovered, sizeof(recovered), &e);
	return CHECK(format_json(out, sizeof(out), &e, NULL, 0, NULL) > 0, "failed") &&
	       CHECK(strstr(out, ",\"recovered\":true") != NULL, "%s", out) &&
	       CHECK(!strstr(out, "duration") && !strstr(out, "bytes") && !strstr(out, "packets"), "%s", out) &&
	       CHECK(!strcmp(plain, recovered), "%s", recovered);
}

/* Numbers are written two digits a step: every length, and the edges of each. */
static bool json_writes_numbers_of_every_length(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_OUT);
	char out[FORMAT_JSON_MAX], want[64];
	uint64_t v = 1;
	bool ok = true;

	for (int digits = 1; ok && digits <= 20; digits++, v *= 10) {
		uint64_t edges[3] = { v, v * 10 - 1, v + v / 2 + 7 };

		if (digits == 20)
			edges[1] = UINT64_MAX;
		for (int i = 0; ok && i < 3; i++) {
			e.sock_id = edges[i];
			snprintf(want, sizeof(want), "\"sock_cookie\":%llu,", (unsigned long long)edges[i]);
			ok = CHECK(format_json(out, sizeof(out), &e, NULL, 0, NULL) > 0, "failed") &&
			     CHECK(strstr(out, want) != NULL, "%s not in %s", want, out);
		}
	}
	e.sock_id = 0;
	return ok && CHECK(format_json(out, sizeof(out), &e, NULL, 0, NULL) > 0, "failed") &&
	       CHECK(strstr(out, "\"sock_cookie\":0,") != NULL, "%s", out);
}

/* Every buffer size: the whole line or -ENOSPC, and not a byte written past the end. */
static bool json_and_classic_fit_or_refuse_at_every_size(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_IN);
	struct format_extra x = { "/usr/sbin/sshd \"x\"", "/system.slice/ssh.service", NULL };
	char full[FORMAT_JSON_MAX], out[FORMAT_JSON_MAX + 16];
	int n, m, k;
	bool ok;

	e.sock_id = 12345678901234567890ull; /* the longest number */
	n = format_json(full, sizeof(full), &e, &x, 1795769542123456789ull, NULL);
	ok = CHECK(n > 0, "failed");
	for (int size = 0; ok && size <= n + 1; size++) {
		memset(out, '#', sizeof(out));
		m = format_json(out, (size_t)size, &e, &x, 1795769542123456789ull, NULL);
		ok = CHECK(size > n ? m == n && !strcmp(out, full) : m == -ENOSPC, "size %d: %d", size, m) &&
		     CHECK(out[size] == '#' && out[size + 15] == '#', "size %d: written past the end", size);
	}
	k = format_classic(full, sizeof(full), &e);
	for (int size = 0; ok && size <= k + 1; size++) {
		memset(out, '#', sizeof(out));
		m = format_classic(out, (size_t)size, &e);
		ok = CHECK(size > k ? m == k && !strcmp(out, full) : m == -ENOSPC, "size %d: %d", size, m) &&
		     CHECK(out[size] == '#', "classic, size %d: written past the end", size);
	}
	return ok;
}

/*
 * Every field at its longest and every byte of the names escaped: the line
 * stays within what a syslog collector takes as one message, and a long
 * path is cut between two bytes' escapes: an executable's to "..." and its
 * end, a cgroup's to its start and "...".
 */
static bool json_longest_line_stays_within_a_syslog_message(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_IN);
	static char exe[1200], cg[4096], out[FORMAT_JSON_MAX];
	struct format_extra x = { exe, cg, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" };
	const char *p, *want_end = "\\u0001z\"";
	int n;

	memset(exe, 1, sizeof(exe) - 2);
	exe[sizeof(exe) - 2] = 'z';
	memset(cg, '"', sizeof(cg) - 1);
	memset(e.laddr, 0xfe, 16);
	memset(e.raddr, 0xfe, 16);
	e.family = AF_INET6;
	e.lport = e.rport = 65535;
	e.sock_id = e.ts_ns = UINT64_MAX;
	e.start_ns = 1;
	e.netns = e.proc.tgid = e.proc.tid = e.proc.sid = e.proc.ppid = UINT32_MAX - 1;
	e.proc.uid = e.proc.euid = e.proc.auid = UINT32_MAX - 1;
	e.proc.cgroup_id = UINT64_MAX;
	memset(e.proc.comm, 0xff, sizeof(e.proc.comm) - 1);
	memset(e.proc.thread_comm, 0xff, sizeof(e.proc.thread_comm) - 1);
	e.traffic.bytes_sent = e.traffic.bytes_received = UINT64_MAX;
	e.traffic.packets_sent = e.traffic.packets_received = UINT32_MAX;
	e.flags = 0xff;
	n = format_json(out, sizeof(out), &e, &x, UINT64_MAX, NULL);
	if (!CHECK(n > 0 && n <= FORMAT_JSON_LONGEST, "%d bytes: %.200s", n, out))
		return false;
	p = strstr(out, "\"executable\":\"...\\u0001");
	if (!CHECK(p != NULL, "no cut executable in %.300s", out))
		return false;
	p += strlen("\"executable\":\"");
	/* "..." then whole escapes, as many as fit, then the end */
	return CHECK(strncmp(p + 3 + (FORMAT_JSON_PATH_MAX - 3 - 1) / 6 * 6 - 6, want_end, strlen(want_end)) == 0,
		     "not cut at an escape: %.80s", p + FORMAT_JSON_PATH_MAX - 80) &&
	       CHECK(strstr(out, "\"cgroup\":\"\\\"\\\"") != NULL && strstr(out, "\\\"...\"") != NULL,
		     "cgroup not cut at its end") &&
	       CHECK((size_t)n > 2 * FORMAT_JSON_PATH_MAX, "%d bytes", n);
}

/* The JSON string of @name as the executable's path, whole, into @got. */
static bool json_exe(const char *name, char *got, size_t size)
{
	struct netlog_event e = sample(NETLOG_CONNECT_START, NETLOG_DIR_OUT);
	struct format_extra x = { name, NULL, NULL };
	char out[FORMAT_JSON_MAX];
	const char *p, *q;

	if (!CHECK(format_json(out, sizeof(out), &e, &x, 0, NULL) > 0, "failed"))
		return false;
	p = strstr(out, "\"executable\":\"");
	if (!CHECK(p != NULL, "%s", out))
		return false;
	p += strlen("\"executable\":\"");
	for (q = p; *q != '"'; q += *q == '\\' ? 2 : 1)
		;
	snprintf(got, size, "%.*s", (int)(q - p), p);
	return true;
}

/*
 * Well-formed UTF-8 stays itself in JSON, so a decoder gets the name's own
 * text; a byte of no character (cut by the kernel's 15 bytes, overlong, a
 * surrogate, past U+10FFFF) is the text \xHH, as in the classic format;
 * C1 controls and the line separators are \uXXXX.
 */
static bool json_keeps_utf8_and_marks_other_bytes(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "/caf\xc3\xa9/\xe6\x97\xa5\xf0\x9f\x90\xa7", "/caf\xc3\xa9/\xe6\x97\xa5\xf0\x9f\x90\xa7" },
		{ "caf\xc3", "caf\\\\xc3" },			/* cut in its middle */
		{ "\xc0\xaf", "\\\\xc0\\\\xaf" },		/* overlong '/' */
		{ "\xed\xa0\x80", "\\\\xed\\\\xa0\\\\x80" },	/* a surrogate */
		{ "\xf4\x90\x80\x80", "\\\\xf4\\\\x90\\\\x80\\\\x80" }, /* past U+10FFFF */
		{ "\xe0\x80\xaf", "\\\\xe0\\\\x80\\\\xaf" },	/* overlong, three bytes */
		{ "\xc2\x85|\xe2\x80\xa8|\xe2\x80\xa9", "\\u0085|\\u2028|\\u2029" },
		{ "\xc2\xa0\xf4\x8f\xbf\xbf", "\xc2\xa0\xf4\x8f\xbf\xbf" },
		{ "a\\x41", "a\\\\x41" },
	};
	char got[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!json_exe(cases[i].in, got, sizeof(got)) ||
		    !CHECK(strcmp(got, cases[i].want) == 0, "case %zu: got %s, want %s", i, got, cases[i].want))
			return false;
	return true;
}

/* A long path of many-byte characters is cut between two characters, never inside one. */
static bool json_cuts_a_path_between_characters(void)
{
	static char exe[3000];
	char got[FORMAT_JSON_PATH_MAX + 16];
	size_t i, n;

	exe[0] = '/';
	for (i = 1; i + 3 < sizeof(exe) - 2; i += 3)
		memcpy(exe + i, "\xe6\x97\xa5", 3);
	exe[i] = 'z';
	if (!json_exe(exe, got, sizeof(got)))
		return false;
	n = strlen(got);
	return CHECK(strncmp(got, "...\xe6\x97\xa5", 6) == 0, "not cut at a character: %.12s", got) &&
	       CHECK(got[n - 1] == 'z' && (n - 4) % 3 == 0 && n <= FORMAT_JSON_PATH_MAX, "%zu bytes", n);
}

/* A start the daemon had no room to follow says so: no stop will come for it. */
static bool json_marks_a_start_with_no_stop(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_START, NETLOG_DIR_OUT);
	char out[FORMAT_JSON_MAX];

	e.protocol = IPPROTO_UDP;
	if (!CHECK(format_json(out, sizeof(out), &e, NULL, 0, NULL) > 0 && !strstr(out, "no_stop"), "%s", out))
		return false;
	e.flags |= NETLOG_F_NO_STOP;
	return CHECK(format_json(out, sizeof(out), &e, NULL, 0, NULL) > 0 &&
		     strstr(out, ",\"no_stop\":true}}") != NULL, "%s", out);
}

static bool json_refuses_a_short_buffer(void)
{
	struct netlog_event e = sample(NETLOG_CONNECT_START, NETLOG_DIR_OUT);
	char out[64];

	return CHECK(format_json(out, sizeof(out), &e, NULL, 0, NULL) == -ENOSPC, "no ENOSPC");
}

static bool numbers_are_parsed_strictly(void)
{
	uint32_t v = 7;

	return CHECK(options_parse_u32("4096", 1024, 65536, &v) == 0 && v == 4096, "4096") &&
	       CHECK(options_parse_u32("", 0, 10, &v) == -EINVAL, "empty") &&
	       CHECK(options_parse_u32("12x", 0, 100, &v) == -EINVAL, "trailing junk") &&
	       CHECK(options_parse_u32("-1", 0, 100, &v) == -EINVAL, "negative") &&
	       CHECK(options_parse_u32(" 5", 0, 100, &v) == -EINVAL, "leading space") &&
	       CHECK(options_parse_u32("101", 0, 100, &v) == -ERANGE, "above max") &&
	       CHECK(options_parse_u32("99999999999999999999", 0, 100, &v) == -ERANGE, "overflow") &&
	       CHECK(v == 4096, "value changed on error");
}

/* Standard error muted (the errors are for users, not this log), and back. */
static int mute_stderr(void)
{
	int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);

	dup2(null, STDERR_FILENO);
	close(null);
	return saved;
}

static void unmute_stderr(int saved)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static int parse(struct options *o, const char *a1, const char *a2)
{
	char *argv[] = { "netlogd", (char *)a1, (char *)a2, NULL };
	int argc = 1 + (a1 != NULL) + (a2 != NULL);
	int saved = mute_stderr(), err;

	err = options_parse(o, argc, argv);
	unmute_stderr(saved);
	return err;
}

static bool options_default_to_classic_on_stdout(void)
{
	struct options o;

	return CHECK(parse(&o, NULL, NULL) == 0, "defaults rejected") &&
	       CHECK(o.noutputs == 1, "%u outputs", o.noutputs) && CHECK_STR(o.outputs[0].target, "stdout") &&
	       CHECK(o.format == FORMAT_CLASSIC && !o.log_failed && o.accept_hook, "defaults") &&
	       CHECK(parse(&o, "--no-accept-hook", NULL) == 0 && !o.accept_hook, "--no-accept-hook") &&
	       CHECK(parse(&o, "--format", "json") == 0 && o.format == FORMAT_JSON, "--format json");
}

static bool options_reject_what_they_do_not_understand(void)
{
	struct options o;

	return CHECK(parse(&o, "--bogus", NULL) == -EINVAL, "--bogus") &&
	       CHECK(parse(&o, "--format", "xml") == -EINVAL, "--format xml") &&
	       CHECK(parse(&o, "--output", "") == -EINVAL, "empty output") &&
	       CHECK(parse(&o, "--max-sockets", "10") == -EINVAL, "too few sockets") &&
	       CHECK(parse(&o, "--ring-buffer", "3") == -EINVAL, "not a power of two") &&
	       CHECK(parse(&o, "extra", NULL) == -EINVAL, "stray argument") &&
	       CHECK(parse(&o, "--output", NULL) == -EINVAL, "missing value") &&
	       CHECK(parse(&o, "--output", "tcp://collector") == -EINVAL, "no port") &&
	       CHECK(parse(&o, "--output", "tcp://:514") == -EINVAL, "no host") &&
	       CHECK(parse(&o, "--output", "udp://h:70000") == -EINVAL, "port out of range") &&
	       CHECK(parse(&o, "--output", "http://h:80") == -EINVAL, "unknown scheme") &&
	       CHECK(parse(&o, "--output", "json:") == -EINVAL, "format and no target") &&
	       CHECK(parse(&o, "--remote-buffer", "1") == -EINVAL, "remote buffer too small");
}

/* What the option check passes opens: a port with leading zeros is that port (-n said OK, the start failed). */
static bool a_collector_port_with_leading_zeros_opens(void)
{
	static struct sink s;
	struct options o;
	int err;
	bool ok = CHECK(parse(&o, "--output", "udp://127.0.0.1:00000514") == 0, "option rejected");

	err = sink_open(&s, "udp://127.0.0.1:00000514", FORMAT_CLASSIC, SINK_DEFAULT_SYSLOG_SOCKET, 8192);
	ok = ok && CHECK(err == 0, "sink_open: %s", strerror(-err));
	sink_close(&s, false);
	return ok;
}

/* The smallest --remote-buffer (4 KiB) still holds the longest line (a JSON one, paths at their longest). */
static bool the_smallest_collector_buffer_holds_the_longest_line(void)
{
	static struct sink s;
	static char line[FORMAT_JSON_LONGEST + 1];
	int err;
	bool ok;

	/* the discard port of this host: whether anything listens there or not, the line waits */
	err = sink_open(&s, "tcp://127.0.0.1:9", FORMAT_JSON, SINK_DEFAULT_SYSLOG_SOCKET, 4096);
	ok = CHECK(err == 0, "sink_open: %s", strerror(-err));
	memset(line, 'x', sizeof(line) - 1);
	err = sink_write_raw(&s, 0, SINK_INFO, line);
	ok = ok && CHECK(err == 0, "a %zu-byte line: %s", sizeof(line) - 1, strerror(-err)) &&
	     CHECK(s.lost == 0, "%llu lost", (unsigned long long)s.lost);
	sink_close(&s, false);
	return ok;
}

/*
 * A line longer than PIPE_BUF goes into a named pipe whole or not at all: a
 * pipe takes such a write in part, and if netlogd stopped then, its reader
 * would have a cut line, glued to what the next writer writes.
 */
static bool a_long_line_goes_into_a_pipe_whole(void)
{
	static struct sink s;
	static char line[5001], fill[65536], got[65536];
	char path[64];
	int rd, wr, size, err;
	ssize_t n;
	bool ok;

	snprintf(path, sizeof(path), "/tmp/netlog-unit-%d.fifo", (int)getpid());
	unlink(path);
	if (!CHECK(mkfifo(path, 0600) == 0, "mkfifo: %s", strerror(errno)))
		return false;
	rd = open(path, O_RDONLY | O_NONBLOCK);
	err = sink_open(&s, path, FORMAT_CLASSIC, SINK_DEFAULT_SYSLOG_SOCKET, 0);
	wr = open(path, O_WRONLY | O_NONBLOCK);
	unlink(path);
	size = fcntl(rd, F_GETPIPE_SZ);
	ok = CHECK(rd >= 0 && wr >= 0 && err == 0 && size >= 8192 && size <= (int)sizeof(fill), "set-up");
	/* another writer leaves 2000 bytes of room */
	memset(fill, 'x', sizeof(fill));
	ok = ok && CHECK(write(wr, fill, (size_t)size - 2000) == size - 2000, "fill");
	memset(line, 'y', sizeof(line) - 1);
	ok = ok && CHECK(sink_write(&s, 0, SINK_INFO, line) == 0, "write");
	err = sink_flush(&s);
	ok = ok && CHECK(err == -EAGAIN, "flush into 2000 bytes: %d", err);
	n = read(rd, got, sizeof(got));
	ok = ok && CHECK(n == size - 2000 && !memchr(got, 'y', (size_t)n), "%zd bytes, some of the line", n);
	err = sink_flush(&s);
	n = read(rd, got, sizeof(got));
	ok = ok && CHECK(err == 0, "flush once read: %d", err) &&
	     CHECK(n > 5000 && got[n - 1] == '\n' && got[n - 2] == 'y' && strspn(got + n - 5001, "y") == 5000,
		   "%zd bytes", n);
	sink_close(&s, false);
	close(wr);
	close(rd);
	return ok;
}

/*
 * A file output reopened (SIGHUP) while its last lines could not be
 * written (a full disk: /dev/full): the lines are counted lost, and the
 * reopen, which worked, is no failure (that would say the lines still go
 * to the file open before).
 */
static bool a_reopen_that_works_is_no_failure_after_a_lost_flush(void)
{
	static struct sink s;
	int err = sink_open(&s, "/dev/full", FORMAT_CLASSIC, SINK_DEFAULT_SYSLOG_SOCKET, 0);
	bool ok = CHECK(err == 0, "open /dev/full: %d", err);

	ok = ok && CHECK(sink_write(&s, 0, SINK_INFO, "listen start TCP 0.0.0.0:22 1 1 0 sshd") == 0, "write");
	err = ok ? sink_reopen(&s) : 0;
	ok = ok && CHECK(err == 0, "reopen said %s", strerror(-err)) && CHECK(s.lost == 1, "%llu lost",
									  (unsigned long long)s.lost);
	sink_close(&s, false);
	return ok;
}

static bool several_outputs_each_with_its_format(void)
{
	char *argv[] = { "netlogd", "-f", "json", "-o", "classic:syslog", "-o", "/var/log/n.json",
			 "--output", "tcp://[2001:db8::1]:6514", NULL };
	struct options o;

	return CHECK(options_parse(&o, 9, argv) == 0, "rejected") && CHECK(o.noutputs == 3, "%u", o.noutputs) &&
	       CHECK(o.outputs[0].format == FORMAT_CLASSIC && !strcmp(o.outputs[0].target, "syslog"), "0") &&
	       CHECK(o.outputs[1].format == FORMAT_JSON && !strcmp(o.outputs[1].target, "/var/log/n.json"), "1") &&
	       CHECK(o.outputs[2].format == FORMAT_JSON && !strcmp(o.outputs[2].target, "tcp://[2001:db8::1]:6514"), "2");
}


/* UDP flow life cycle, without a kernel table: what it logs, in order. */
static struct netlog_event logged[16];
static int nlogged;

static int record(const struct netlog_event *e, void *ctx)
{
	if (nlogged < 16)
		logged[nlogged++] = *e;
	return 0;
}

/* A flow table without a kernel one, and nothing logged yet. */
static void flows_begin(struct udpflows *t, uint64_t idle_ns, size_t max)
{
	nlogged = 0;
	udpflows_init(t, -1, idle_ns, max, record, NULL);
}

static struct netlog_event flow_rec(uint8_t type, uint64_t sock, uint16_t rport, uint8_t dir,
				    uint32_t pid, uint64_t ts)
{
	struct netlog_event e = { .ts_ns = ts, .sock_id = sock, .rport = rport, .lport = 5000,
				  .type = type, .protocol = IPPROTO_UDP, .direction = dir,
				  .family = AF_INET };

	v4(e.raddr, "192.0.2.1");
	v4(e.laddr, "192.0.2.9");
	e.proc.tgid = pid;
	return e;
}

static bool udp_flows_start_once_and_stop_at_close_with_the_closer(void)
{
	struct udpflows t;
	struct netlog_event e;
	bool ok;

	flows_begin(&t, 60000000000ull, 16);
	e = flow_rec(NETLOG_UDP_FLOW, 7, 53, NETLOG_DIR_OUT, 100, 1000);
	udpflows_event(&t, &e);
	udpflows_event(&t, &e); /* reported twice (start-up and live): one flow */
	e = flow_rec(NETLOG_UDP_FLOW, 7, 54, NETLOG_DIR_OUT, 100, 2000);
	udpflows_event(&t, &e);
	e = flow_rec(NETLOG_UDP_FLOW, 8, 53, NETLOG_DIR_OUT, 100, 2500); /* another socket */
	udpflows_event(&t, &e);
	e = flow_rec(NETLOG_UDP_CLOSE, 7, 0, 0, 200, 3000);
	udpflows_event(&t, &e);
	ok = CHECK(nlogged == 5, "%d records", nlogged) &&
	     CHECK(logged[0].type == NETLOG_CONNECT_START && logged[0].rport == 53, "first start") &&
	     CHECK(logged[1].type == NETLOG_CONNECT_START && logged[1].rport == 54, "second start") &&
	     CHECK(logged[3].type == NETLOG_CONNECT_STOP && logged[4].type == NETLOG_CONNECT_STOP, "stops") &&
	     CHECK(logged[3].proc.tgid == 200 && logged[4].proc.tgid == 200, "closer") &&
	     CHECK(logged[3].sock_id == 7 && logged[4].sock_id == 7, "only socket 7 stopped") &&
	     CHECK(logged[3].start_ns + logged[4].start_ns == 3000 && logged[3].ts_ns == 3000, "times") &&
	     CHECK(t.count == 1, "%zu flows left", t.count);
	udpflows_free(&t);
	return ok;
}

/* A socket that gave its port back sends from a new one: the flow stops with the kernel's counts, and a new one starts. */
static bool udp_flow_moved_to_a_new_port_stops_and_starts_again(void)
{
	struct udpflows t;
	struct netlog_event e;
	bool ok;

	flows_begin(&t, 60000000000ull, 16);
	e = flow_rec(NETLOG_UDP_FLOW, 7, 53, NETLOG_DIR_OUT, 100, 1000);
	udpflows_event(&t, &e);
	e = flow_rec(NETLOG_UDP_MOVED, 7, 53, NETLOG_DIR_OUT, 100, 2000);
	e.lport = 6000;
	e.traffic.packets_sent = 3;
	e.traffic.bytes_sent = 30;
	udpflows_event(&t, &e);
	e = flow_rec(NETLOG_UDP_CLOSE, 7, 0, 0, 100, 3000);
	udpflows_event(&t, &e);
	ok = CHECK(nlogged == 4, "%d records", nlogged) &&
	     CHECK(logged[1].type == NETLOG_CONNECT_STOP && logged[1].lport == 5000 && logged[1].ts_ns == 2000,
		   "the first flow's stop") &&
	     CHECK(logged[1].traffic.packets_sent == 3 && logged[1].traffic.bytes_sent == 30, "its counts") &&
	     CHECK(logged[2].type == NETLOG_CONNECT_START && logged[2].lport == 6000 && logged[2].ts_ns == 2000 &&
		   logged[2].direction == NETLOG_DIR_OUT, "the new flow's start") &&
	     CHECK(logged[3].type == NETLOG_CONNECT_STOP && logged[3].lport == 6000 && logged[3].start_ns == 2000,
		   "the new flow's stop") &&
	     CHECK(t.count == 0, "%zu flows left", t.count);
	udpflows_free(&t);
	return ok;
}

/* A receive that does not ask the source names the socket's waiting flows that came before it, once. */
static bool udp_receiver_names_the_waiting_flows_of_its_socket_before_it(void)
{
	struct udpflows t;
	struct netlog_event e;
	bool ok;

	flows_begin(&t, 60000000000ull, 16);
	/* socket 9's owner, 100, stands in; 8 is another socket */
	const struct netlog_event seq[] = {
		flow_rec(NETLOG_UDP_FLOW, 9, 40000, NETLOG_DIR_IN, 100, 1000),
		flow_rec(NETLOG_UDP_FLOW, 9, 40001, NETLOG_DIR_IN, 100, 1100),
		flow_rec(NETLOG_UDP_FLOW, 8, 40000, NETLOG_DIR_IN, 100, 1200),
		flow_rec(NETLOG_UDP_RECEIVER, 9, 0, 0, 300, 1500),
		flow_rec(NETLOG_UDP_FLOW, 9, 40002, NETLOG_DIR_IN, 100, 1600), /* after the receive */
	};

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		udpflows_event(&t, &seq[i]);
	ok = CHECK(nlogged == 2, "%d started", nlogged) &&
	     CHECK(logged[0].rport == 40000 && logged[0].proc.tgid == 300 && logged[0].ts_ns == 1000, "first") &&
	     CHECK(logged[1].rport == 40001 && logged[1].proc.tgid == 300, "second");
	/* a later receiver names only what came since: the first one keeps its own */
	e = flow_rec(NETLOG_UDP_RECEIVER, 9, 0, 0, 400, 1700);
	udpflows_event(&t, &e);
	ok = ok && CHECK(nlogged == 3 && logged[2].rport == 40002 && logged[2].proc.tgid == 400, "third");
	/* the other socket's flow: nobody received on it, its stand-in after the wait */
	udpflows_tick(&t, 1200 + t.claim_wait_ns, false);
	ok = ok && CHECK(nlogged == 4 && logged[3].sock_id == 8 && logged[3].proc.tgid == 100, "other socket");
	udpflows_free(&t);
	return ok;
}

static bool udp_incoming_flow_waits_for_its_receiver(void)
{
	struct udpflows t;
	struct netlog_event e;
	bool ok;

	flows_begin(&t, 60000000000ull, 16);
	e = flow_rec(NETLOG_UDP_FLOW, 9, 40000, NETLOG_DIR_IN, 100, 1000); /* 100: the socket's owner */
	udpflows_event(&t, &e);
	ok = CHECK(nlogged == 0, "started before its receiver was known");
	e = flow_rec(NETLOG_UDP_CLAIM, 9, 40000, 0, 300, 1500);
	udpflows_event(&t, &e);
	ok = ok && CHECK(nlogged == 1 && logged[0].proc.tgid == 300, "claimed by 300") &&
	     CHECK(logged[0].ts_ns == 1000 && logged[0].direction == NETLOG_DIR_IN, "first datagram's time");
	/* nobody claims this one: the socket's owner stands in after the wait */
	e = flow_rec(NETLOG_UDP_FLOW, 9, 40001, NETLOG_DIR_IN, 100, 2000);
	udpflows_event(&t, &e);
	udpflows_tick(&t, 2000 + t.claim_wait_ns - 1, false);
	ok = ok && CHECK(nlogged == 1, "started before the wait was over");
	udpflows_tick(&t, 2000 + t.claim_wait_ns, false);
	ok = ok && CHECK(nlogged == 2 && logged[1].proc.tgid == 100 && logged[1].rport == 40001, "owner");
	udpflows_free(&t);
	return ok;
}

static bool udp_idle_flow_stops_and_comes_back_as_a_new_one(void)
{
	struct udpflows t;
	struct netlog_event e;
	bool ok;

	flows_begin(&t, 1000, 16);
	e = flow_rec(NETLOG_UDP_FLOW, 7, 53, NETLOG_DIR_OUT, 100, 5000);
	udpflows_event(&t, &e);
	udpflows_tick(&t, 5999, true);
	ok = CHECK(nlogged == 1, "stopped before the timeout");
	udpflows_tick(&t, 6000, true);
	ok = ok && CHECK(nlogged == 2 && logged[1].type == NETLOG_CONNECT_STOP, "no idle stop") &&
	     CHECK(logged[1].proc.tgid == 100 && logged[1].start_ns == 5000, "stop fields");
	e.ts_ns = 7000;
	udpflows_event(&t, &e);
	ok = ok && CHECK(nlogged == 3 && logged[2].type == NETLOG_CONNECT_START, "no new start");
	udpflows_free(&t);
	return ok;
}

/* A full table stops the flows quiet longest to make room: every start still gets its stop. */
static bool udp_flows_beyond_the_table_stop_the_quietest_early(void)
{
	struct udpflows t;
	struct netlog_event e;
	bool ok;

	flows_begin(&t, 60000000000ull, 2);
	for (uint16_t port = 1; port <= 3; port++) {
		e = flow_rec(NETLOG_UDP_FLOW, 7, port, NETLOG_DIR_OUT, 100, 5000 + port);
		udpflows_event(&t, &e);
	}
	ok = CHECK(nlogged == 4, "%d records for 3 flows in a table of 2", nlogged) &&
	     CHECK(logged[2].type == NETLOG_CONNECT_STOP && logged[2].rport == 1 && logged[2].ts_ns == 5003,
		   "the quietest did not stop when the third came") &&
	     CHECK(logged[3].type == NETLOG_CONNECT_START && logged[3].rport == 3, "third start") &&
	     CHECK(t.ended_early == 1 && t.untracked == 0 && t.count == 2, "%llu early, %llu untracked",
		   (unsigned long long)t.ended_early, (unsigned long long)t.untracked);
	/* a bigger table: a sixteenth goes at a time, and each start has its stop at the close */
	udpflows_free(&t);
	flows_begin(&t, 60000000000ull, 64);
	for (uint16_t port = 1; port <= 100; port++) {
		e = flow_rec(NETLOG_UDP_FLOW, 8, port, NETLOG_DIR_OUT, 100, 5000 + port);
		udpflows_event(&t, &e);
	}
	ok = ok && CHECK(t.ended_early == 36 && t.count == 64, "%llu early, %zu kept",
			 (unsigned long long)t.ended_early, t.count);
	e = flow_rec(NETLOG_UDP_CLOSE, 8, 0, 0, 100, 9000);
	udpflows_event(&t, &e);
	ok = ok && CHECK(t.count == 0 && t.untracked == 0, "%zu left", t.count);
	udpflows_free(&t);
	return ok;
}

/* The daemon's own warnings in JSON: a loss says how many in netlog.lost, a notice does not. */
static bool json_loss_and_notice_records(void)
{
	char loss[512], notice[512];

	return CHECK(format_json_loss(loss, sizeof(loss), 0, 3, "events lost: \"x\"") > 0, "loss") &&
	       CHECK_STR(loss, "{\"@timestamp\":\"1970-01-01T00:00:00.000000Z\",\"event\":{\"kind\":\"alert\","
			       "\"action\":\"netlog-loss\"},\"log\":{\"level\":\"warning\"},"
			       "\"message\":\"3 events lost: \\\"x\\\"\",\"netlog\":{\"lost\":3}}") &&
	       CHECK(format_json_notice(notice, sizeof(notice), 0, 2, "flows stopped early") > 0, "notice") &&
	       CHECK_STR(notice, "{\"@timestamp\":\"1970-01-01T00:00:00.000000Z\",\"event\":{\"kind\":\"alert\","
				 "\"action\":\"netlog-notice\"},\"log\":{\"level\":\"warning\"},"
				 "\"message\":\"2 flows stopped early\"}");
}

/* A notice naming a long output path says all of it, as the classic line does. */
static bool json_notice_names_a_long_path_whole(void)
{
	static char what[1200], out[FORMAT_JSON_MAX];
	const char *m;

	memcpy(what, "lines could not be written to /", 31);
	memset(what + 31, 'd', sizeof(what) - 32);
	if (!CHECK(format_json_loss(out, sizeof(out), 0, 7, what) > 0, "failed"))
		return false;
	m = strstr(out, "\"message\":\"7 lines could not be written to /");
	return CHECK(m != NULL && strstr(m, what + 31) != NULL && strstr(out, "\"lost\":7}") != NULL,
		     "cut: %.80s", out + strlen(out) - 80);
}

/* What a full name table let go, in order. */
struct forgotten {
	uint64_t keys[600];
	size_t n;
};

static void note_forgotten(void *ctx, uint64_t a, uint64_t b)
{
	struct forgotten *f = ctx;

	if (f->n < sizeof(f->keys) / sizeof(*f->keys))
		f->keys[f->n++] = a * 100000 + b;
}

static bool full_name_table_lets_the_oldest_go_and_says_which(void)
{
	struct forgotten f = { .n = 0 };
	struct nametab t;
	char name[32];
	bool ok = true;

	if (!CHECK(nametab_init(&t, 2500) == 0, "init"))
		return false;
	t.forget = note_forgotten;
	t.forget_ctx = &f;
	for (uint64_t i = 0; ok && i < 3000; i++) {
		snprintf(name, sizeof(name), "/bin/p%llu", (unsigned long long)i);
		ok = CHECK(nametab_put(&t, i % 7, i, name) == 0, "put %llu", (unsigned long long)i);
	}
	ok = ok && CHECK(t.count == 2500 && t.forgotten == 500 && f.n == 500, "%zu kept, %zu told", t.count, f.n) &&
	     CHECK(t.nbuckets >= 1024 && t.count <= 2 * t.nbuckets, "%zu buckets for %zu", t.nbuckets, t.count);
	for (uint64_t i = 0; ok && i < 3000; i++) {
		const char *got = nametab_get(&t, i % 7, i);

		snprintf(name, sizeof(name), "/bin/p%llu", (unsigned long long)i);
		ok = i < 500 ? CHECK(!got && f.keys[i] == (i % 7) * 100000 + i, "%llu kept, or told out of order",
				     (unsigned long long)i)
			     : CHECK(got && !strcmp(got, name), "%llu lost", (unsigned long long)i);
	}
	/* a name replaced keeps its key's place: 500 is still the oldest */
	ok = ok && CHECK(nametab_put(&t, 500 % 7, 500, "/bin/renamed") == 0 && t.count == 2500, "replace") &&
	     CHECK(nametab_put(&t, 1, 99999, "/bin/new") == 0, "put after replace") &&
	     CHECK(!nametab_get(&t, 500 % 7, 500) && f.n == 501 && f.keys[500] == (500 % 7) * 100000 + 500,
		   "the replaced name's key did not go first") &&
	     CHECK(nametab_get(&t, 501 % 7, 501) && nametab_get(&t, 1, 99999), "others went");
	nametab_free(&t);
	/* the smallest table */
	ok = ok && CHECK(nametab_init(&t, 1) == 0 && nametab_put(&t, 0, 1, "a") == 0 && nametab_put(&t, 0, 2, "b") == 0,
			 "max 1") &&
	     CHECK(!nametab_get(&t, 0, 1) && !strcmp(nametab_get(&t, 0, 2), "b") && t.count == 1, "max 1 keeps the last");
	nametab_free(&t);
	return ok;
}

/*
 * A key asked for since it came is kept when the table is full (a server's
 * program, named by its every event, outlives any number of newer ones);
 * one not asked for again goes, oldest first.
 */
static bool full_name_table_keeps_the_names_in_use(void)
{
	struct forgotten f = { .n = 0 };
	struct nametab t;
	char name[32];
	bool ok = CHECK(nametab_init(&t, 100) == 0, "init");

	t.forget = note_forgotten;
	t.forget_ctx = &f;
	for (uint64_t i = 0; ok && i < 100; i++) {
		snprintf(name, sizeof(name), "/bin/p%llu", (unsigned long long)i);
		ok = CHECK(nametab_put(&t, 0, i, name) == 0, "put %llu", (unsigned long long)i);
	}
	/* 0 and 7 are used all along; the rest never again */
	for (uint64_t i = 100; ok && i < 10000; i++) {
		ok = CHECK(nametab_use(&t, 0, 0) && nametab_use(&t, 0, 7), "%llu: a name in use went",
			   (unsigned long long)i);
		snprintf(name, sizeof(name), "/bin/p%llu", (unsigned long long)i);
		ok = ok && CHECK(nametab_put(&t, 0, i, name) == 0, "put %llu", (unsigned long long)i);
	}
	ok = ok && CHECK(t.count == 100 && t.forgotten == 9900, "%zu kept, %llu forgotten", t.count,
			 (unsigned long long)t.forgotten) &&
	     CHECK(!strcmp(nametab_get(&t, 0, 0) ?: "", "/bin/p0") && !strcmp(nametab_get(&t, 0, 7) ?: "", "/bin/p7"),
		   "the names in use") &&
	     CHECK(f.keys[0] == 1 && f.keys[6] == 8 && f.keys[7] == 9, "the first to go: %llu %llu %llu",
		   (unsigned long long)f.keys[0], (unsigned long long)f.keys[6], (unsigned long long)f.keys[7]) &&
	     CHECK(nametab_get(&t, 0, 9999) && !nametab_get(&t, 0, 9901), "the newest 98 stay");
	/* no longer asked for: it goes in its turn */
	for (uint64_t i = 10000; ok && i < 10200; i++) {
		snprintf(name, sizeof(name), "/bin/p%llu", (unsigned long long)i);
		ok = CHECK(nametab_put(&t, 0, i, name) == 0, "put %llu", (unsigned long long)i);
	}
	ok = ok && CHECK(!nametab_get(&t, 0, 0) && !nametab_get(&t, 0, 7) && t.count == 100, "unused names stayed");
	ok = ok && CHECK(!nametab_use(&t, 0, 123456), "an unknown key");
	nametab_free(&t);
	return ok;
}

/* Removed cgroups are deleted: a stream of them never pushes out the names still in use. */
static bool deleted_names_make_room_without_pushing_out_live_ones(void)
{
	struct nametab t;
	char name[32];
	bool ok = CHECK(nametab_init(&t, 1000) == 0, "init");

	for (uint64_t i = 0; ok && i < 100; i++)
		ok = CHECK(nametab_put(&t, 0, i, "/system.slice/live") == 0, "put %llu", (unsigned long long)i);
	for (uint64_t i = 0; ok && i < 100000; i++) {
		snprintf(name, sizeof(name), "/gone/%llu", (unsigned long long)i);
		ok = CHECK(nametab_put(&t, 0, 1000 + i, name) == 0, "put %llu", (unsigned long long)i);
		nametab_del(&t, 0, 1000 + i);
	}
	ok = ok && CHECK(t.count == 100 && t.forgotten == 0 && t.places <= 1000, "%zu kept, %llu forgotten, %zu places",
			 t.count, (unsigned long long)t.forgotten, t.places);
	for (uint64_t i = 0; ok && i < 100; i++)
		ok = CHECK(nametab_get(&t, 0, i), "%llu pushed out", (unsigned long long)i);
	nametab_del(&t, 0, 5000000); /* unknown: nothing */
	ok = ok && CHECK(t.count == 100, "deleting an unknown key");
	nametab_free(&t);
	/* a key deleted and put again: its stale place does not take the new one with it */
	ok = ok && CHECK(nametab_init(&t, 4) == 0, "init 4");
	for (uint64_t i = 1; ok && i <= 4; i++)
		ok = CHECK(nametab_put(&t, 0, i, "x") == 0, "put");
	nametab_del(&t, 0, 1);
	ok = ok && CHECK(nametab_put(&t, 0, 1, "again") == 0 && nametab_put(&t, 0, 5, "y") == 0, "put again") &&
	     CHECK(!strcmp(nametab_get(&t, 0, 1) ?: "", "again") && !nametab_get(&t, 0, 2) && t.forgotten == 1,
		   "the oldest live key goes, not the one put again");
	nametab_free(&t);
	return ok;
}

/* A removed cgroup's path stays CGTAB_GONE_KEEP seconds; no more wait to go than the table holds. */
static bool removed_cgroups_go_after_a_while(void)
{
	struct cgtab t;
	bool ok = CHECK(cgtab_init(&t, "", 100) == 0, "init");

	for (uint64_t id = 1; ok && id <= 100; id++)
		ok = CHECK(cgtab_add(&t, id, "/a", false) == 0, "add");
	cgtab_gone(&t, 1, 1000);
	cgtab_gone(&t, 2, 1100);
	cgtab_gone(&t, 12345, 1100); /* unknown: nothing to forget */
	cgtab_expire(&t, 1000 + CGTAB_GONE_KEEP - 1);
	ok = ok && CHECK(cgtab_get(&t, 1) && cgtab_get(&t, 2) && t.ngone == 2, "gone too soon");
	cgtab_expire(&t, 1000 + CGTAB_GONE_KEEP);
	ok = ok && CHECK(!cgtab_get(&t, 1) && cgtab_get(&t, 2) && t.paths.count == 99, "not gone in time");
	for (uint64_t id = 3; ok && id <= 100; id++)
		cgtab_gone(&t, id, 1200);
	ok = ok && CHECK(t.ngone <= 100 && t.paths.count == 100 - 1 - (99 - t.ngone), "%zu waiting, %zu kept", t.ngone,
			 t.paths.count);
	cgtab_expire(&t, 1200 + CGTAB_GONE_KEEP);
	ok = ok && CHECK(t.ngone == 0 && t.paths.count == 0, "%zu waiting, %zu kept", t.ngone, t.paths.count);
	cgtab_free(&t);
	return ok;
}

static bool exe_path_is_built_root_first_and_found_by_its_id(void)
{
	struct netlog_exe r = { .id = 42, .ncomp = 3 };
	struct exetab t;
	char out[EXETAB_PATH_MAX];
	bool ok;

	strcpy(r.comp[0], "python3.11");
	strcpy(r.comp[1], "bin");
	strcpy(r.comp[2], "usr");
	ok = CHECK(exetab_path(out, sizeof(out), &r) == 19, "length") && CHECK_STR(out, "/usr/bin/python3.11");
	r.ncomp = 0;
	ok = ok && CHECK(exetab_path(out, sizeof(out), &r) == 1, "root") && CHECK_STR(out, "/");
	/* a memfd's: as /proc/PID/exe shows it */
	r.ncomp = 1;
	r.flags = NETLOG_EXE_PSEUDO;
	strcpy(r.comp[0], "memfd:x");
	ok = ok && CHECK(exetab_path(out, sizeof(out), &r) == 18, "memfd") && CHECK_STR(out, "/memfd:x (deleted)") &&
	     CHECK(exetab_path(out, 18, &r) == -ENOSPC, "memfd, short buffer");
	r.flags = 0;
	r.ncomp = NETLOG_EXE_DEPTH;
	r.truncated = 1;
	for (int i = 0; i < NETLOG_EXE_DEPTH; i++)
		snprintf(r.comp[i], sizeof(r.comp[i]), "d%d", i);
	ok = ok && CHECK(exetab_path(out, sizeof(out), &r) > 0, "deep") &&
	     CHECK(strncmp(out, ".../d15/d14/", 12) == 0 && strstr(out, "/d0") != NULL, "deep: %s", out) &&
	     CHECK(exetab_path(out, 8, &r) == -ENOSPC, "short buffer");
	/* names longer than a component holds end with "...", the others do not */
	r.truncated = 0;
	r.ncomp = 3;
	r.cut = 1 << 0 | 1 << 2;
	memset(r.comp[0], 'x', NETLOG_EXE_NAME_LEN - 1);
	r.comp[0][NETLOG_EXE_NAME_LEN - 1] = '\0';
	strcpy(r.comp[1], "bin");
	strcpy(r.comp[2], "a-long-directory-name");
	ok = ok && CHECK(exetab_path(out, sizeof(out), &r) == 1 + 21 + 3 + 4 + 1 + 63 + 3, "cut: %s", out) &&
	     CHECK(!strncmp(out, "/a-long-directory-name.../bin/xxx", 33) && !strcmp(out + strlen(out) - 6, "xxx..."),
		   "cut: %s", out);
	r.cut = 0;
	ok = ok && CHECK(exetab_init(&t, 16) == 0, "init");
	r.ncomp = 2;
	r.truncated = 0;
	strcpy(r.comp[0], "sh");
	strcpy(r.comp[1], "bin");
	ok = ok && CHECK(exetab_add(&t, &r) == 0, "add") &&
	     CHECK(exetab_find(&t, 42) && !strcmp(exetab_find(&t, 42), "/bin/sh"), "find") &&
	     CHECK(!exetab_find(&t, 43) && !exetab_find(&t, 0), "found what was never added");
	strcpy(r.comp[0], "dash"); /* reported again after a change: replaced */
	ok = ok && CHECK(exetab_add(&t, &r) == 0 && !strcmp(exetab_find(&t, 42), "/bin/dash"), "replace") &&
	     CHECK(t.names.count == 1, "%zu entries", t.names.count);
	exetab_free(&t);
	return ok;
}

/* the layouts are formats, each with the id to put in */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static bool container_ids_are_found_in_the_usual_cgroup_layouts(void)
{
	static const char hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	static const char *const with[] = {
		"/system.slice/docker-%s.scope",
		"/docker/%s",
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b.slice/cri-containerd-%s.scope",
		"/kubepods/burstable/pod7f3e/%s",
		"/machine.slice/libpod-%s.scope/container",
		"/kubepods.slice/kubepods-pod1.slice/crio-%s.scope",
	};
	static const char *const without[] = {
		"/", "/user.slice/user-1000.slice/session-3.scope", "/system.slice/docker.service",
		"/machine.slice/libpod-conmon-%s.scope", "/docker/%.63s", "/docker/%sA",
	};
	char path[512], id[CGTAB_ID_MAX];
	bool ok = true;

	for (size_t i = 0; ok && i < sizeof(with) / sizeof(*with); i++) {
		snprintf(path, sizeof(path), with[i], hex);
		ok = CHECK(cgtab_container_id(path, id), "none in %s", path) && CHECK_STR(id, hex);
	}
	for (size_t i = 0; ok && i < sizeof(without) / sizeof(*without); i++) {
		snprintf(path, sizeof(path), without[i], hex);
		ok = CHECK(!cgtab_container_id(path, id), "one in %s: %s", path, id);
	}
	return ok;
}
#pragma GCC diagnostic pop

/*
 * A cgroup path is cut where the kernel's record would cut it, and says so;
 * then the largest fields an event can carry, every byte escaped, still fit
 * a JSON line: no event is left out of a JSON log for its names' length.
 */
static bool long_cgroup_paths_are_cut_visibly_and_the_largest_json_line_fits(void)
{
	static char path[3001], exe[2048], out[FORMAT_JSON_MAX];
	struct netlog_event e = sample(NETLOG_CONNECT_STOP, NETLOG_DIR_OUT);
	struct format_extra x = { exe, NULL, NULL };
	struct cgtab t;
	const char *got;
	size_t n = 0;
	bool ok;

	path[0] = '/';
	memset(path + 1, 0xff, sizeof(path) - 2);
	if (cgtab_init(&t, NULL, 16) < 0 || cgtab_add(&t, 7, path, false) || cgtab_add(&t, 8, "/a/b", true))
		return CHECK(false, "cgtab");
	got = cgtab_get(&t, 7);
	ok = CHECK(got && strlen(got) == CGTAB_PATH_SHOWN + 3 && !strncmp(got, path, CGTAB_PATH_SHOWN) &&
			   !strcmp(got + CGTAB_PATH_SHOWN, "..."), "%s", got ? got : "(none)") &&
	     CHECK_STR(cgtab_get(&t, 8), "/a/b...");
	/* the executable as the daemon shows the deepest: "...", then 16 names cut at 63 bytes */
	n += (size_t)sprintf(exe, "...");
	for (int i = 0; i < 16; i++) {
		exe[n++] = '/';
		memset(exe + n, 0x01, 63);
		n += 63;
		n += (size_t)sprintf(exe + n, "...");
	}
	x.cgroup = got;
	memset(e.proc.comm, 0xff, sizeof(e.proc.comm) - 1);
	memset(e.proc.thread_comm, 0x01, sizeof(e.proc.thread_comm) - 1);
	ok = ok && CHECK(format_json(out, sizeof(out), &e, &x, 0, NULL) > 0, "the largest line did not fit");
	cgtab_free(&t);
	return ok;
}

static bool community_id_matches_the_specification(void)
{
	uint8_t a[16], b[16], digest[20];
	char out[COMMUNITYID_LEN];
	bool ok;

	sha1("abc", 3, digest);
	ok = CHECK(digest[0] == 0xa9 && digest[1] == 0x99 && digest[19] == 0x9d, "sha1(abc)");
	/* the specification's own example, both ways round */
	v4(a, "1.2.3.4");
	v4(b, "43.3.132.3");
	communityid(out, a, 4584, b, 3483, IPPROTO_TCP);
	ok = ok && CHECK_STR(out, "1:koNcqhFRD5kb254ZrLsdv630jCM=");
	communityid(out, b, 3483, a, 4584, IPPROTO_TCP);
	ok = ok && CHECK_STR(out, "1:koNcqhFRD5kb254ZrLsdv630jCM=");
	v4(a, "198.18.0.2");
	v4(b, "198.18.0.1");
	communityid(out, a, 5353, b, 53, IPPROTO_UDP);
	ok = ok && CHECK_STR(out, "1:HWJ52N8/FPUsZK8VEmSXdog6myk=");
	v6(a, "2001:db8::2");
	v6(b, "2001:db8::1");
	communityid(out, a, 40000, b, 443, IPPROTO_TCP);
	return ok && CHECK_STR(out, "1:jn1M/64iWT+nYqxpE1jYHo+15rE=");
}

/* The cache gives what the hash gives, for flows that share its slots too, either way round. */
static bool community_id_cache_gives_the_hash(void)
{
	static struct communityid_cache cache;
	char out[COMMUNITYID_LEN], want[COMMUNITYID_LEN];
	uint8_t a[16], b[16];
	bool ok = true;

	for (int round = 0; round < 2; round++) {
		/* neighbours differ by the protocol alone, or by one address alone */
		for (uint32_t i = 0; ok && i < 3 * COMMUNITYID_CACHE_SLOTS; i++) {
			uint16_t port = (uint16_t)(1024 + i / 4);
			uint8_t proto = i & 1 ? IPPROTO_TCP : IPPROTO_UDP;

			v4(a, "10.0.0.1");
			a[15] = (uint8_t)(1 + (i >> 1 & 1));
			v4(b, "10.0.0.2");
			b[14] = (uint8_t)(i / 7);
			communityid(want, a, port, b, 443, proto);
			communityid_cached(&cache, out, round ? b : a, round ? 443 : port, round ? a : b,
					   round ? port : 443, proto);
			ok = CHECK_STR(out, want);
		}
	}
	v6(a, "2001:db8::2");
	v6(b, "2001:db8::1");
	communityid_cached(&cache, out, a, 40000, b, 443, IPPROTO_TCP);
	ok = ok && CHECK_STR(out, "1:jn1M/64iWT+nYqxpE1jYHo+15rE=");
	communityid_cached(&cache, out, b, 443, a, 40000, IPPROTO_TCP);
	ok = ok && CHECK_STR(out, "1:jn1M/64iWT+nYqxpE1jYHo+15rE=");
	communityid_cached(NULL, out, a, 40000, b, 443, IPPROTO_TCP);
	return ok && CHECK_STR(out, "1:jn1M/64iWT+nYqxpE1jYHo+15rE=");
}

/* options_load_text() with stderr muted: the errors are for users */
static int load_quiet(struct options *o, const char *text)
{
	int saved = mute_stderr(), errors;

	errors = options_load_text(o, "netlog.conf", text);
	unmute_stderr(saved);
	return errors;
}

static bool config_file_sets_everything_it_names(void)
{
	static const char text[] = "# netlog\n"
				   "\n"
				   "format = json\n"
				   "output = classic:syslog\n"
				   "  output=tcp://logs.example.org:514  \n"
				   "udp-idle-timeout = 30\n"
				   "log-failed = yes\n"
				   "accept-hook = no\n"
				   "max-sockets = 2048\n"
				   "ignore = port 22\n"
				   "ignore = address 10.0.0.0/8\n"
				   "ignore = command Web Content \n"
				   "ignore = command sshd\r\n";
	struct options o;

	parse(&o, NULL, NULL);
	o.noutputs = 0;
	return CHECK(load_quiet(&o, text) == 0, "errors in a good file") &&
	       CHECK(o.format == FORMAT_JSON && o.noutputs == 2, "format, outputs") &&
	       CHECK_STR(o.outputs[1].target, "tcp://logs.example.org:514") &&
	       CHECK(o.udp_idle_timeout == 30 && o.log_failed && !o.accept_hook && o.max_sockets == 2048, "values") &&
	       CHECK(o.nignore == 4 && o.ignore[3].c[0].kind == FILTER_COMMAND && !strcmp(o.ignore[3].c[0].comm, "sshd"), "rules") &&
	       CHECK_STR(o.ignore[2].c[0].comm, "Web Content");
}

static bool config_file_errors_are_each_counted(void)
{
	static const char *const bad[] = {
		"no equals sign here\n",
		"outptu = stdout\n",
		"format =\n",
		"format = xml\n",
		"udp-idle-timeout = 0\n",
		"udp-idle-timeout = ten\n",
		"max-sockets = 99999999999999999999\n",
		"ring-buffer = 3\n",
		"log-failed = maybe\n",
		"output = http://x:80\n",
		"output = tcp://nohost\n",
		"output = tcp://[]:514\n",
		"output = /var/log/a\noutput = json:/var/log/a\n",
		"ignore = port 70000\n",
		"ignore = port 0\n",
		"ignore = address 10.0.0.1/8\n",
		"ignore = address 300.1.1.1\n",
		"ignore = address fd00::/129\n",
		"ignore = direction sideways\n",
		"ignore = command a-name-longer-than-15\n",
		"ignore = loopback yes\n",
		"ignore = uid\n",
		"ignore = colour blue\n",
		"ignore = port 22 23\n",
		"output = /var/log/netlog.log   # the main log\n",
		"ignore = port 22\t# ssh\n",
		"no-accept-hook = yes\n",
	};
	struct options o;
	bool ok = true;

	for (size_t i = 0; ok && i < sizeof(bad) / sizeof(*bad); i++) {
		parse(&o, NULL, NULL);
		ok = CHECK(load_quiet(&o, bad[i]) == 1, "accepted: %s", bad[i]);
	}
	parse(&o, NULL, NULL);
	ok = ok && CHECK(load_quiet(&o, "format = xml\n# fine\nport = 1\nformat = json\nbogus\n") == 4,
			 "four errors, one per bad line (the second format is one: given again)");
	parse(&o, NULL, NULL);
	return ok && CHECK(load_quiet(&o, "output = /a\nignore = port 1\noutput = /b\nignore = port 2\n") == 0 &&
				   o.noutputs == 3 && !strcmp(o.outputs[2].target, "/b") && o.nignore == 2,
			   "output and ignore add (to the default stdout, here)");
}

static bool ignore_rules_match_and_a_stop_follows_its_start(void)
{
	struct filter_rule r[3];
	struct filters f;
	struct netlog_event start = { .type = NETLOG_CONNECT_START, .protocol = IPPROTO_TCP, .sock_id = 5,
				      .lport = 40000, .rport = 22, .direction = NETLOG_DIR_OUT };
	struct netlog_event stop = start, other = start;
	char why[256];
	bool ok;

	v4(start.laddr, "10.1.2.3");
	v4(start.raddr, "192.0.2.7");
	stop = start;
	stop.type = NETLOG_CONNECT_STOP;
	ok = CHECK(filter_parse(&r[0], "address 192.0.2.0/24", why, sizeof(why)) == 0, "%s", why) &&
	     CHECK(filter_match(&r[0], &start), "remote in the block") &&
	     CHECK(filter_parse(&r[1], "address 2001:db8::/32", why, sizeof(why)) == 0, "%s", why) &&
	     CHECK(!filter_match(&r[1], &start), "IPv4 in an IPv6 block") &&
	     CHECK(filter_parse(&r[1], "loopback", why, sizeof(why)) == 0 && !filter_match(&r[1], &start), "loopback") &&
	     CHECK(filter_parse(&r[1], "direction in", why, sizeof(why)) == 0 && !filter_match(&r[1], &start), "dir") &&
	     CHECK(filter_parse(&r[2], "uid 1000", why, sizeof(why)) == 0, "%s", why);
	if (!ok || !CHECK(filters_init(&f) == 0, "init"))
		return false;
	/* a rule on the process: the start is held back, and so its stop whoever closes */
	start.proc.uid = 1000;
	stop.proc.uid = 0;
	filters_set(&f, &r[2], 1);
	ok = CHECK(!filters_pass(&f, &start), "start of uid 1000 logged") &&
	     CHECK(!filters_pass(&f, &stop), "its stop by uid 0 logged alone") &&
	     CHECK(f.nheld == 0, "still held");
	/* a start logged keeps its stop, even when a reload would now ignore it */
	other.sock_id = 6;
	other.proc.uid = 0;
	ok = ok && CHECK(filters_pass(&f, &other), "uid 0 ignored");
	filters_set(&f, r, 1);
	other.type = NETLOG_CONNECT_STOP;
	ok = ok && CHECK(filters_pass(&f, &other), "the stop of a logged start was dropped");
	/* many held at once: the table grows, and every stop still finds its start */
	filters_set(&f, &r[2], 1);
	for (uint64_t i = 0; ok && i < 10000; i++) {
		start.sock_id = 1000 + i;
		ok = CHECK(!filters_pass(&f, &start), "start %llu logged", (unsigned long long)i);
	}
	ok = ok && CHECK(f.nheld == 10000 && f.nbuckets >= 4096, "%zu held in %zu buckets", f.nheld, f.nbuckets);
	for (uint64_t i = 0; ok && i < 10000; i++) {
		stop.sock_id = 1000 + i;
		ok = CHECK(!filters_pass(&f, &stop), "stop %llu logged", (unsigned long long)i);
	}
	/* a start the daemon could keep no stop of is not held back for one */
	start.flags = NETLOG_F_NO_STOP;
	ok = ok && CHECK(f.nheld == 0, "%zu still held", f.nheld) &&
	     CHECK(!filters_pass(&f, &start) && f.nheld == 0, "held a start with no stop to come");
	/* a stop whose start the full ring lost: judged by its own fields, nothing held */
	stop.flags = NETLOG_F_START_LOST;
	stop.sock_id = 77;
	stop.proc.uid = 1000;
	ok = ok && CHECK(!filters_pass(&f, &stop), "an ignored process's stop, its start lost, logged");
	stop.proc.uid = 0;
	ok = ok && CHECK(filters_pass(&f, &stop) && f.nheld == 0, "another's stop, its start lost, dropped");
	/* id 0 (logged before its socket had a cookie) tells no socket apart: the local end does */
	start.flags = stop.flags = 0;
	start.sock_id = stop.sock_id = 0;
	start.proc.uid = 1000;
	ok = ok && CHECK(!filters_pass(&f, &start) && f.nheld == 1, "an ignored id-0 start logged");
	other = stop;
	other.lport = 40001;
	ok = ok && CHECK(filters_pass(&f, &other) && f.nheld == 1,
			 "another id-0 connection's stop to the same remote took the held start");
	ok = ok && CHECK(!filters_pass(&f, &stop) && f.nheld == 0, "the held id-0 start's own stop logged");
	filters_free(&f);
	return ok;
}

/* A process's name is its own to choose: a rule that pins it to a user too holds only with both. */
static bool conditions_joined_by_and_must_all_hold(void)
{
	struct netlog_event e = { .type = NETLOG_CONNECT_START, .protocol = IPPROTO_TCP, .lport = 40000,
				  .rport = 9100, .direction = NETLOG_DIR_IN };
	struct filter_rule r;
	char why[256];
	bool ok;

	strcpy(e.proc.comm, "node_exporter");
	e.proc.uid = 998;
	ok = CHECK(filter_parse(&r, "uid 998 and  command node_exporter", why, sizeof(why)) == 0, "%s", why) &&
	     CHECK(r.n == 2 && r.c[0].kind == FILTER_UID && r.c[1].kind == FILTER_COMMAND, "%u conditions", r.n) &&
	     CHECK(filter_match(&r, &e), "both hold");
	e.proc.uid = 1000; /* someone else under that name */
	ok = ok && CHECK(!filter_match(&r, &e), "the name alone matched");
	ok = ok && CHECK(filter_parse(&r, "loopback and port 9100 and direction in", why, sizeof(why)) == 0, "%s", why) &&
	     CHECK(r.n == 3 && !filter_match(&r, &e), "not loopback, matched");
	v4(e.raddr, "127.0.0.1");
	ok = ok && CHECK(filter_match(&r, &e), "all three hold");
	for (size_t i = 0; ok && i < 6; i++) {
		static const char *const bad[][2] = {
			{ "uid 1 and", "'and' with no condition after it" },
			{ "port 22 23", "one value per condition, then 'and' or the end, got '22 23'" },
			{ "command a and uid 1", "'a and uid 1': a command comes last in a rule (its name is the rest of the line)" },
			{ "port 1 and port 2 and port 3 and port 4 and port 5", "more than 4 conditions joined by 'and'" },
			{ "loopback or port 1", "'loopback' takes no value, got 'or port 1'" },
			{ "command x\tand\tuid 1", "'x\tand\tuid 1': a command comes last in a rule (its name is the rest of the line)" },
		};
		ok = CHECK(filter_parse(&r, bad[i][0], why, sizeof(why)) == -EINVAL, "%s accepted", bad[i][0]) &&
		     CHECK_STR(why, bad[i][1]);
	}
	return ok;
}

static bool held_starts_whose_stop_was_lost_go_and_no_other(void)
{
	struct filter_rule r;
	struct filters f;
	struct netlog_event e = { .type = NETLOG_CONNECT_START, .protocol = IPPROTO_TCP, .rport = 80 };
	uint64_t odd[] = { 3 }, all[] = { 10, 8, 6, 4, 3, 2 }; /* the sockets alive */
	char why[256];
	uint64_t mark;
	bool ok;

	if (!CHECK(filter_parse(&r, "uid 1000", why, sizeof(why)) == 0, "%s", why) ||
	    !CHECK(filters_init(&f) == 0, "init"))
		return false;
	filters_set(&f, &r, 1);
	e.proc.uid = 1000;
	/* held: TCP connections 2 and 3, a TCP listen 4, a UDP listen 6, a UDP flow 8 */
	for (uint64_t id = 2; id <= 4; id++) {
		e.sock_id = id;
		e.type = id == 4 ? NETLOG_LISTEN_START : NETLOG_CONNECT_START;
		filters_pass(&f, &e);
	}
	e.protocol = IPPROTO_UDP;
	e.sock_id = 6;
	e.type = NETLOG_LISTEN_START;
	filters_pass(&f, &e);
	e.sock_id = 8;
	e.type = NETLOG_CONNECT_START;
	filters_pass(&f, &e);
	mark = f.seq;
	/* held after the look at the tables: gone from them says nothing yet */
	e.protocol = IPPROTO_TCP;
	e.sock_id = 10;
	filters_pass(&f, &e);
	/*
	 * 2, 4 and 6 go (even: gone) at the second look, not the first (a stop
	 * can still be on its way); 3 lives, the UDP flow's stop is the
	 * daemon's own, 10 is too new
	 */
	ok = CHECK(f.nheld == 6, "%zu held", f.nheld) &&
	     CHECK(filters_forget_gone(&f, mark, odd, 1) == 0, "let go at the first look") &&
	     CHECK(filters_forget_gone(&f, mark, odd, 1) == 3, "not three let go") &&
	     CHECK(f.nheld == 3, "%zu held", f.nheld);
	/* gone, then there again: two looks in a row from then on */
	mark = f.seq;
	ok = ok && CHECK(filters_forget_gone(&f, mark, odd, 1) == 0, "first look") &&
	     CHECK(filters_forget_gone(&f, mark, all, 6) == 0, "all there") &&
	     CHECK(filters_forget_gone(&f, mark, odd, 1) == 0, "let go after a look it was there");
	/* those kept still drop their stops; those let go log theirs */
	e.type = NETLOG_CONNECT_STOP;
	e.sock_id = 3;
	ok = ok && CHECK(!filters_pass(&f, &e), "stop of held 3 logged");
	e.sock_id = 10;
	ok = ok && CHECK(!filters_pass(&f, &e), "stop of held 10 logged");
	e.protocol = IPPROTO_UDP;
	e.sock_id = 8;
	ok = ok && CHECK(!filters_pass(&f, &e), "stop of held flow 8 logged");
	e.protocol = IPPROTO_TCP;
	e.sock_id = 2;
	ok = ok && CHECK(filters_pass(&f, &e), "stop of 2, let go, dropped") && CHECK(f.nheld == 0, "%zu held", f.nheld);
	filters_free(&f);
	return ok;
}

int main(void)
{
	run("escape_keeps_printable_ascii_and_spaces", escape_keeps_printable_ascii_and_spaces);
	run("escape_hexes_control_bytes_backslash_and_high_bytes", escape_hexes_control_bytes_backslash_and_high_bytes);
	run("escape_of_a_full_hostile_name_fits", escape_of_a_full_hostile_name_fits);
	run("escape_refuses_a_short_buffer", escape_refuses_a_short_buffer);
	run("ipv4_mapped_is_written_as_ipv4", ipv4_mapped_is_written_as_ipv4);
	run("ipv6_follows_rfc5952", ipv6_follows_rfc5952);
	run("ipv6_with_port_is_bracketed", ipv6_with_port_is_bracketed);
	run("time_is_rfc3339_utc_with_microseconds", time_is_rfc3339_utc_with_microseconds);
	run("classic_connect_line_matches_the_original", classic_connect_line_matches_the_original);
	run("classic_listen_line_has_no_remote", classic_listen_line_has_no_remote);
	run("a_collector_port_with_leading_zeros_opens", a_collector_port_with_leading_zeros_opens);
	run("a_long_line_goes_into_a_pipe_whole", a_long_line_goes_into_a_pipe_whole);
	run("the_smallest_collector_buffer_holds_the_longest_line", the_smallest_collector_buffer_holds_the_longest_line);
	run("classic_stop_outgoing_ipv6", classic_stop_outgoing_ipv6);
	run("classic_line_escapes_the_command", classic_line_escapes_the_command);
	run("classic_line_writes_an_empty_command_as_a_dash", classic_line_writes_an_empty_command_as_a_dash);
	run("classic_rejects_an_unknown_event_type", classic_rejects_an_unknown_event_type);
	run("json_names_the_initiator_source_and_escapes_every_byte", json_names_the_initiator_source_and_escapes_every_byte);
	run("json_writes_numbers_of_every_length", json_writes_numbers_of_every_length);
	run("json_and_classic_fit_or_refuse_at_every_size", json_and_classic_fit_or_refuse_at_every_size);
	run("json_longest_line_stays_within_a_syslog_message", json_longest_line_stays_within_a_syslog_message);
	run("json_keeps_utf8_and_marks_other_bytes", json_keeps_utf8_and_marks_other_bytes);
	run("json_cuts_a_path_between_characters", json_cuts_a_path_between_characters);
	run("json_marks_a_start_with_no_stop", json_marks_a_start_with_no_stop);
	run("json_refuses_a_short_buffer", json_refuses_a_short_buffer);
	run("numbers_are_parsed_strictly", numbers_are_parsed_strictly);
	run("options_default_to_classic_on_stdout", options_default_to_classic_on_stdout);
	run("options_reject_what_they_do_not_understand", options_reject_what_they_do_not_understand);
	run("a_reopen_that_works_is_no_failure_after_a_lost_flush", a_reopen_that_works_is_no_failure_after_a_lost_flush);
	run("several_outputs_each_with_its_format", several_outputs_each_with_its_format);
	run("udp_flows_start_once_and_stop_at_close_with_the_closer", udp_flows_start_once_and_stop_at_close_with_the_closer);
	run("udp_flow_moved_to_a_new_port_stops_and_starts_again", udp_flow_moved_to_a_new_port_stops_and_starts_again);
	run("udp_receiver_names_the_waiting_flows_of_its_socket_before_it",
	    udp_receiver_names_the_waiting_flows_of_its_socket_before_it);
	run("udp_incoming_flow_waits_for_its_receiver", udp_incoming_flow_waits_for_its_receiver);
	run("udp_idle_flow_stops_and_comes_back_as_a_new_one", udp_idle_flow_stops_and_comes_back_as_a_new_one);
	run("udp_flows_beyond_the_table_stop_the_quietest_early", udp_flows_beyond_the_table_stop_the_quietest_early);
	run("json_loss_and_notice_records", json_loss_and_notice_records);
	run("json_notice_names_a_long_path_whole", json_notice_names_a_long_path_whole);
	run("full_name_table_lets_the_oldest_go_and_says_which", full_name_table_lets_the_oldest_go_and_says_which);
	run("full_name_table_keeps_the_names_in_use", full_name_table_keeps_the_names_in_use);
	run("late_stop_is_marked_in_json_only", late_stop_is_marked_in_json_only);
	run("recovered_stop_claims_no_duration_or_counts", recovered_stop_claims_no_duration_or_counts);
	run("deleted_names_make_room_without_pushing_out_live_ones", deleted_names_make_room_without_pushing_out_live_ones);
	run("removed_cgroups_go_after_a_while", removed_cgroups_go_after_a_while);
	run("exe_path_is_built_root_first_and_found_by_its_id", exe_path_is_built_root_first_and_found_by_its_id);
	run("container_ids_are_found_in_the_usual_cgroup_layouts", container_ids_are_found_in_the_usual_cgroup_layouts);
	run("long_cgroup_paths_are_cut_visibly_and_the_largest_json_line_fits",
	    long_cgroup_paths_are_cut_visibly_and_the_largest_json_line_fits);
	run("community_id_matches_the_specification", community_id_matches_the_specification);
	run("community_id_cache_gives_the_hash", community_id_cache_gives_the_hash);
	run("config_file_sets_everything_it_names", config_file_sets_everything_it_names);
	run("config_file_errors_are_each_counted", config_file_errors_are_each_counted);
	run("ignore_rules_match_and_a_stop_follows_its_start", ignore_rules_match_and_a_stop_follows_its_start);
	run("conditions_joined_by_and_must_all_hold", conditions_joined_by_and_must_all_hold);
	run("held_starts_whose_stop_was_lost_go_and_no_other", held_starts_whose_stop_was_lost_go_and_no_other);
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
