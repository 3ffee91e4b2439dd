// SPDX-License-Identifier: GPL-2.0
/*
 * netlogd: logs every TCP listen and connection on the host, one line when
 * it starts and one when it stops, with the process on each end.
 *
 * Life cycle: parse options, open the output, load and attach the kernel
 * programs, report the sockets that already exist, then one epoll loop over
 * the ring buffer, a signalfd and a 1 s timer that reports kernel-side drops.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "cgtab.h"
#include "exetab.h"
#include "filter.h"
#include "format.h"
#include "loader.h"
#include "log.h"
#include "netlog.h"
#include "options.h"
#include "privs.h"
#include "sink.h"
#include "system.h"
#include "udpflow.h"

_Static_assert(sizeof(struct netlog_event) == 176, "event layout changed: update both sides");
_Static_assert(sizeof(struct netlog_event) % 8 == 0, "event size must keep 8-byte alignment");

/* How much of an output's loss was said: sink.lost then, on stderr and in the log. */
struct lost_said {
	uint64_t warned, logged;
};

struct netlogd {
	struct options opt;
	struct loader loader;
	sigset_t signals; /* held from the start; the loop reads them from a signalfd */
	int pidfile;	  /* held locked while we run, or -1 */
	struct ring_buffer *rb;	      /* TCP's events */
	struct ring_buffer *rb_udp;   /* UDP's */
	struct ring_buffer *rb_names; /* read before both: events name what it reports */
	unsigned drain_left;	      /* records still to take from a ring before the other's turn */
	struct exetab exes;
	struct cgtab cgroups;
	struct sink sinks[OPTIONS_MAX_OUTPUTS];
	unsigned nsinks;
	uint64_t watchdog_ns; /* said alive this often (a service manager's watchdog); 0: not watched */
	uint64_t alive_said;  /* when last, CLOCK_MONOTONIC */
	struct format_cache format_cache;
	struct udpflows flows;
	struct filters filters;
	uint64_t flows_untracked_reported;
	uint64_t flows_ended_early_reported;
	uint64_t cgroup_unnamed, cgroup_unnamed_reported; /* JSON events that went without their cgroup's path */
	uint64_t exe_unnamed, exe_unnamed_reported;	  /* and without their program's */
	uint64_t late, late_reported; /* stops the kernel kept back while a ring was full, logged late */
	uint64_t missed_reported;     /* runs of the programs the kernel skipped (loader_missed_runs()) */
	unsigned check_looks;	      /* looks for stops among them still to take (loader_check_conns()) */
	uint64_t recovered_reported;  /* stops of theirs found since (loader_stops_recovered()) */
	int64_t boot_to_epoch_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME */
	uint64_t drops_reported[NETLOG_DROP_MAX];
	bool drops_unread; /* the kernel's loss counters could not be read: said once */
	struct lost_said sink_lost_reported[OPTIONS_MAX_OUTPUTS];
	uint64_t recent_starts[1024]; /* compat programs: TCP starts lately logged, by socket */
	unsigned held_looks; /* looks at held-back starts still to take, after the ring lost events */
	bool stdout_gone; /* standard output is a pipe whose reader is gone */
};

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void update_clock_offset(struct netlogd *d)
{
	d->boot_to_epoch_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
}

/* The executables' table was full and let @id go: the kernel reports it again when next used. */
static void exe_forgotten(void *ctx, uint64_t zero, uint64_t id)
{
	struct netlogd *d = ctx;

	log_debug("executables' table full: let %016llx go", (unsigned long long)id);
	loader_forget_exe(&d->loader, id);
}

/* A name the kernel reported: an executable's path, or a new cgroup's, or that a cgroup went. */
static int on_name_record(void *ctx, void *data, size_t size)
{
	struct netlogd *d = ctx;
	struct netlog_cgroup_gone gone;
	struct netlog_cgroup cg;
	struct netlog_exe exe;
	uint32_t kind;
	int err = 0;

	if (size < sizeof(kind))
		return 0;
	memcpy(&kind, data, sizeof(kind));
	if (kind == NETLOG_NAME_EXE && size >= sizeof(exe)) {
		memcpy(&exe, data, sizeof(exe));
		err = exetab_add(&d->exes, &exe);
	} else if (kind == NETLOG_NAME_CGROUP && size >= sizeof(cg)) {
		memcpy(&cg, data, sizeof(cg));
		cg.path[sizeof(cg.path) - 1] = '\0';
		err = cgtab_add(&d->cgroups, cg.id, cg.path, cg.cut);
	} else if (kind == NETLOG_NAME_CGROUP_GONE && size >= sizeof(gone)) {
		memcpy(&gone, data, sizeof(gone));
		cgtab_gone(&d->cgroups, gone.id, (time_t)(clock_ns(CLOCK_MONOTONIC) / 1000000000));
	} else {
		log_warnx("unknown name record: kind %u, %zu bytes", kind, size);
	}
	if (err)
		log_debug("name record of kind %u: %s", kind, strerror(-err));
	return 0;
}

/*
 * The names @p's event refers to: its executable's path and its cgroup's.
 * The kernel reports a name before the events that use it; one missing here
 * is read from the names' ring before either is taken, since reading names
 * can push older ones out of their tables. An unknown cgroup is walked for.
 */
static void event_names(struct netlogd *d, const struct netlog_proc *p, struct format_extra *x)
{
	x->executable = exetab_find(&d->exes, p->exe_id);
	x->cgroup = cgtab_get(&d->cgroups, p->cgroup_id);
	if ((!x->executable && p->exe_id) || !x->cgroup) {
		ring_buffer__consume(d->rb_names);
		x->executable = exetab_find(&d->exes, p->exe_id);
		x->cgroup = cgtab_find(&d->cgroups, p->cgroup_id);
		if (!x->executable && p->exe_id)
			d->exe_unnamed++;
		if (!x->cgroup && p->cgroup_id && d->cgroups.root[0])
			d->cgroup_unnamed++;
	}
}

static bool any_output(const struct netlogd *d, enum output_format format)
{
	for (unsigned i = 0; i < d->nsinks; i++)
		if (d->sinks[i].format == format)
			return true;
	return false;
}

/*
 * Whether @e repeats a TCP start just logged. The compat programs (kernels
 * before 5.12, no compare-and-swap) can emit a start twice when accept()
 * and the handshake race; the two come within microseconds of each other.
 * A stop (or a failure) ends that: the socket may connect again
 * (connect(AF_UNSPEC) undoes a connection), and its next start is new.
 */
static bool repeated_start(struct netlogd *d, const struct netlog_event *e)
{
	uint64_t *slot;

	if (!d->loader.compat || e->protocol != IPPROTO_TCP || !e->sock_id)
		return false;
	slot = &d->recent_starts[(e->sock_id * 0x9e3779b97f4a7c15ull) >> 54];
	if (e->type == NETLOG_CONNECT_STOP || e->type == NETLOG_CONNECT_FAIL) {
		if (*slot == e->sock_id)
			*slot = 0;
		return false;
	}
	if (e->type != NETLOG_CONNECT_START)
		return false;
	if (*slot == e->sock_id)
		return true;
	*slot = e->sock_id;
	return false;
}

/* One event, to every output, each in its format (each formatted once). */
static int log_event(const struct netlog_event *e, void *ctx)
{
	struct netlogd *d = ctx;
	uint64_t epoch_ns = (uint64_t)((int64_t)e->ts_ns + d->boot_to_epoch_ns);
	char json[FORMAT_JSON_MAX], classic[FORMAT_JSON_MAX], container[CGTAB_ID_MAX];
	bool have_json = false, have_classic = false;
	struct format_extra x = { 0 };
	/* failed connects are classic lines only when asked: old parsers know four events */
	bool classic_wanted = e->type != NETLOG_CONNECT_FAIL || d->opt.log_failed;

	if (repeated_start(d, e) || !filters_pass(&d->filters, e))
		return 0;

	if (any_output(d, FORMAT_JSON)) {
		event_names(d, &e->proc, &x);
		if (x.cgroup && cgtab_container_id(x.cgroup, container))
			x.container_id = container;
		have_json = format_json(json, sizeof(json), e, &x, epoch_ns, &d->format_cache) >= 0;
		if (!have_json)
			log_warnx("cannot format event of type %u as JSON: counted as lost", e->type);
	}
	if (any_output(d, FORMAT_CLASSIC) && classic_wanted) {
		have_classic = format_classic(classic, sizeof(classic), e) >= 0;
		if (!have_classic)
			log_warnx("cannot format event of type %u", e->type);
	}
	for (unsigned i = 0; i < d->nsinks; i++) {
		struct sink *s = &d->sinks[i];
		int err = 0;

		if (s->format == FORMAT_JSON && have_json)
			err = sink_write_raw(s, epoch_ns, SINK_INFO, json);
		else if (s->format == FORMAT_CLASSIC && have_classic)
			err = sink_write(s, epoch_ns, SINK_INFO, classic);
		else if (s->format == FORMAT_JSON || classic_wanted)
			s->lost++; /* no line for it: its output's log says so (bounded fields make it rare) */
		if (err < 0)
			log_debug("write to %s: %s", s->path, strerror(-err));
	}
	return 0;
}

/* Port and address rules of one condition go to the kernel too: that traffic is then not even looked at. */
static void push_port_rules(struct netlogd *d)
{
	static uint8_t ports[65536];
	int err;

	memset(ports, 0, sizeof(ports));
	for (unsigned i = 0; i < d->opt.nignore; i++)
		if (d->opt.ignore[i].n == 1 && d->opt.ignore[i].c[0].kind == FILTER_PORT)
			ports[d->opt.ignore[i].c[0].value] = 1;
	err = loader_set_ignored_ports(&d->loader, ports);
	if (!err) {
		uint8_t addrs[FILTER_MAX_RULES][16];
		unsigned prefix[FILTER_MAX_RULES], n = 0;
		bool loopback = false;

		for (unsigned i = 0; i < d->opt.nignore; i++) {
			const struct filter_cond *r = &d->opt.ignore[i].c[0];

			if (d->opt.ignore[i].n != 1) /* a condition among others: the daemon's */
				continue;
			if (r->kind == FILTER_LOOPBACK)
				loopback = true;
			if (r->kind != FILTER_ADDRESS)
				continue;
			memcpy(addrs[n], r->addr, 16);
			prefix[n++] = r->prefix;
		}
		err = loader_set_ignored_nets(&d->loader, (const uint8_t(*)[16])addrs, prefix, n, loopback);
	}
	if (err)
		log_warnx("ignore rules: cannot tell the kernel side: %s (the daemon still applies them)",
			  strerror(-err));
}

static void log_warning(struct netlogd *d, uint64_t count, const char *what, bool loss);

/*
 * SIGHUP: files are reopened (logrotate), the local syslog socket too. A
 * file that cannot be reopened keeps getting lines in the file it had
 * open, which a rotation may have renamed or deleted: the log says so
 * too, not stderr only, since whoever reads the log may never see stderr.
 */
static void reopen_all(struct netlogd *d)
{
	for (unsigned i = 0; i < d->nsinks; i++) {
		int err = sink_reopen(&d->sinks[i]);
		char why[PATH_MAX + 128], what[PATH_MAX + 256];
		bool file_failed = d->sinks[i].kind == SINK_FILE && err != -EAGAIN;

		if (err >= 0)
			continue;
		if (file_failed && sink_check(d->sinks[i].path, d->opt.syslog_socket, why, sizeof(why)))
			log_warnx("reopen %s", why);
		else
			log_warnx("reopen %s: %s", d->sinks[i].path, strerror(-err));
		if (!file_failed)
			continue;
		snprintf(what, sizeof(what), "reopen of %s failed (%s): its lines still go to the file open before",
			 d->sinks[i].path, strerror(-err));
		log_warning(d, 1, what, false);
	}
}

static bool same_outputs(const struct options *a, const struct options *b)
{
	if (a->noutputs != b->noutputs || strcmp(a->syslog_socket, b->syslog_socket) ||
	    a->remote_buffer_kb != b->remote_buffer_kb)
		return false;
	for (unsigned i = 0; i < a->noutputs; i++)
		if (a->outputs[i].format != b->outputs[i].format ||
		    strcmp(a->outputs[i].target, b->outputs[i].target))
			return false;
	return true;
}

/* Whether output @target is opened the same under @a and @b (its format aside). */
static bool same_settings_for(const struct options *a, const struct options *b, const char *target)
{
	if (!strcmp(target, "syslog"))
		return !strcmp(a->syslog_socket, b->syslog_socket);
	return true;
}

/*
 * Whether two file outputs of @o are one file (each line would be written
 * twice, or two formats mixed), or one is a file of netlogd's own: its
 * configuration (the next reload would fail on log lines), its pid file
 * (removed at exit, with the log), its program.
 */
static bool outputs_distinct(const struct options *o)
{
	const char *own[][2] = { { o->config, "configuration file" },
				 { SYSTEM_PIDFILE, "pid file" },
				 { "/proc/self/exe", "program" } };

	for (unsigned i = 0; i < o->noutputs; i++) {
		if (!options_output_is_file(o->outputs[i].target))
			continue;
		for (unsigned k = 0; k < sizeof(own) / sizeof(own[0]); k++) {
			struct stat st;

			/* a device (-c /dev/null) may be both */
			if (stat(own[k][0], &st) == 0 && !S_ISREG(st.st_mode))
				continue;
			if (sink_same_file(o->outputs[i].target, own[k][0])) {
				log_warnx("output %s is netlogd's own %s, not a log", o->outputs[i].target,
					  own[k][1]);
				return false;
			}
		}
	}
	for (unsigned i = 0; i < o->noutputs; i++)
		for (unsigned j = i + 1; j < o->noutputs; j++)
			if (options_output_is_file(o->outputs[i].target) &&
			    options_output_is_file(o->outputs[j].target) &&
			    sink_same_file(o->outputs[i].target, o->outputs[j].target)) {
				log_warnx("outputs %s and %s are one file", o->outputs[i].target,
					  o->outputs[j].target);
				return false;
			}
	return true;
}

/*
 * Open every output of @o in @sinks; on failure close those opened and say
 * why. On a reload, @was and @old are the outputs in force: one whose
 * target stays is carried over (@from[i]: the index it had, else -1), with
 * what it holds, such as the lines waiting for a collector, in its new
 * format and, for a collector, with its new buffer size.
 */
static int open_outputs(const struct options *o, struct sink *sinks, unsigned *n,
			const struct options *was, struct sink *old, int *from)
{
	bool taken[OPTIONS_MAX_OUTPUTS] = { false };

	*n = 0;
	if (!outputs_distinct(o))
		return -EINVAL;
	for (*n = 0; *n < o->noutputs; (*n)++) {
		const struct output_spec *out = &o->outputs[*n];
		struct sink *s = &sinks[*n];
		int err;

		if (from)
			from[*n] = -1;
		for (unsigned j = 0; was && j < was->noutputs; j++) {
			if (taken[j] || strcmp(was->outputs[j].target, out->target) ||
			    !same_settings_for(was, o, out->target))
				continue;
			memcpy(s, &old[j], sizeof(*s));
			s->format = out->format;
			taken[j] = true;
			from[*n] = (int)j;
			break;
		}
		if (from && from[*n] >= 0)
			continue;
		err = sink_open(s, out->target, out->format, o->syslog_socket,
				(size_t)o->remote_buffer_kb << 10);
		if (err) {
			char why[PATH_MAX + 128];

			if (s->kind == SINK_SYSLOG)
				log_warnx("open output syslog: %s: %s (is a syslog daemon running?)", s->path,
					  strerror(-err));
			else if (s->kind == SINK_FILE && sink_check(out->target, o->syslog_socket, why, sizeof(why)))
				log_warnx("open output %s", why);
			else
				log_warnx("open output %s: %s", out->target, strerror(-err));
			/* those carried over stay where they were */
			for (unsigned i = 0; i <= *n; i++)
				if (!from || from[i] < 0)
					sink_close(&sinks[i], false);
			*n = 0;
			return err;
		}
	}
	return 0;
}

static uint64_t sink_loss_to_log(struct netlogd *d, unsigned i, bool last, char *what, size_t len);

/*
 * SIGHUP: read the configuration again. A bad one changes nothing; what the
 * kernel side was sized or attached with waits for a restart.
 */
static void reload(struct netlogd *d)
{
	struct options *old = malloc(sizeof(*old));
	struct sink *fresh = NULL;
	unsigned nfresh = 0;
	int err;

	if (!old)
		return;
	memcpy(old, &d->opt, sizeof(*old));
	err = options_reload(&d->opt);
	if (err) {
		log_warnx("reload: %s: %s; the configuration in force stays", d->opt.config,
			  err == -EBADMSG	 ? "errors above"
			  : err == -ENODATA	 ? "empty (being written?)"
			  : err == -EDESTADDRREQ ? "it names no output, where it named some (every line would go "
						   "to standard output; say 'output = stdout' for that)"
						 : strerror(-err));
		goto out;
	}
#define KEEP(field, what)                                                                        \
	if (d->opt.field != old->field) {                                                        \
		log_warnx("reload: %s changes only when netlogd restarts", what);                  \
		d->opt.field = old->field;                                                       \
	}
	KEEP(max_sockets, "max-sockets");
	KEEP(max_flows, "max-udp-flows");
	KEEP(ringbuf_mb, "ring-buffer");
	KEEP(accept_hook, "accept-hook");
	KEEP(compat, "compat");
	KEEP(priority_boost, "priority-boost");
#undef KEEP
	if (!same_outputs(&d->opt, old)) {
		int from[OPTIONS_MAX_OUTPUTS];
		bool carried[OPTIONS_MAX_OUTPUTS] = { false };
		struct lost_said reported[OPTIONS_MAX_OUTPUTS];
		struct {
			uint64_t n;
			char what[PATH_MAX + 96];
		} gone[OPTIONS_MAX_OUTPUTS];
		unsigned ngone = 0;

		fresh = calloc(OPTIONS_MAX_OUTPUTS, sizeof(*fresh));
		if (!fresh || open_outputs(&d->opt, fresh, &nfresh, old, d->sinks, from)) {
			log_warnx("reload: the new outputs cannot be opened; the configuration in force stays");
			memcpy(&d->opt, old, sizeof(*old));
			goto out;
		}
		memcpy(reported, d->sink_lost_reported, sizeof(reported));
		for (unsigned i = 0; i < nfresh; i++) {
			if (from[i] < 0)
				continue;
			carried[from[i]] = true;
			err = sink_resize(&fresh[i], (size_t)d->opt.remote_buffer_kb << 10);
			if (err)
				log_warnx("reload: %s keeps its buffer's size: %s", fresh[i].path,
					  strerror(-err));
		}
		/* the losses of those that go: said to the outputs in force next */
		for (unsigned i = 0; i < d->nsinks; i++)
			if (!carried[i] && (gone[ngone].n = sink_loss_to_log(d, i, true, gone[ngone].what,
									     sizeof(gone[ngone].what))))
				ngone++;
		for (unsigned i = 0; i < d->nsinks; i++)
			if (!carried[i])
				sink_close(&d->sinks[i], false);
		memcpy(d->sinks, fresh, nfresh * sizeof(*fresh));
		d->nsinks = nfresh;
		for (unsigned i = 0; i < nfresh; i++)
			if (from[i] >= 0)
				d->sink_lost_reported[i] = reported[from[i]];
			else
				memset(&d->sink_lost_reported[i], 0, sizeof(d->sink_lost_reported[i]));
		for (unsigned k = 0; k < ngone; k++)
			log_warning(d, gone[k].n, gone[k].what, true);
	}
	filters_set(&d->filters, d->opt.ignore, d->opt.nignore);
	push_port_rules(d);
	d->flows.idle_ns = (uint64_t)d->opt.udp_idle_timeout * 1000000000ull;
	loader_set_udp_idle(&d->loader, d->flows.idle_ns);
	log_info("reload: %s %s, %u ignore rules, %u outputs", d->opt.config,
		 d->opt.config_read ? "read" : "absent (the command line alone)", d->opt.nignore, d->nsinks);
out:
	/* whatever the file said, logrotate may have moved the files: each output reopens */
	reopen_all(d);
	free(fresh);
	free(old);
}

static void flush_all(struct netlogd *d)
{
	for (unsigned i = 0; i < d->nsinks; i++)
		if (sink_flush(&d->sinks[i]) == -EPIPE && d->sinks[i].kind == SINK_STDOUT)
			d->stdout_gone = true;
}

/* A reader of stdout gone while nothing was written: seen once a second, not at the next event. */
static void look_at_readers(struct netlogd *d)
{
	for (unsigned i = 0; i < d->nsinks; i++)
		if (sink_reader_gone(&d->sinks[i]))
			d->stdout_gone = true;
}

/* Every record from the kernel: UDP flow records go through the flow table. */
static int on_record(const struct netlog_event *e, void *ctx)
{
	struct netlogd *d = ctx;

	if (udpflows_owns(e)) {
		udpflows_event(&d->flows, e);
		return 0;
	}
	return log_event(e, ctx);
}

/*
 * Records taken from one ring before the other's turn: a flood of one
 * protocol's events holds the other's back by this many at most. A
 * callback's error ends ring_buffer__consume(), the record taken.
 */
#define DRAIN_BATCH 4096
#define DRAIN_PAUSE (-EXFULL)

static int on_ringbuf_record(void *ctx, void *data, size_t size)
{
	struct netlog_event e;

	if (size < sizeof(e)) {
		log_warnx("short ring buffer record: %zu bytes, expected %zu", size, sizeof(e));
		return 0;
	}
	memcpy(&e, data, sizeof(e));
	on_record(&e, ctx);
	return --((struct netlogd *)ctx)->drain_left ? 0 : DRAIN_PAUSE;
}

/*
 * A warning in the log itself: "<count> <what>", a line in every output but
 * output @but (-1: none); a @loss says how many are missing.
 */
static void log_warning_but(struct netlogd *d, int but, uint64_t count, const char *what, bool loss)
{
	uint64_t now = (uint64_t)clock_ns(CLOCK_REALTIME);
	char line[FORMAT_JSON_MAX];

	for (unsigned i = 0; i < d->nsinks; i++) {
		struct sink *s = &d->sinks[i];

		if ((int)i == but)
			continue;

		if (s->format == FORMAT_JSON) {
			if ((loss ? format_json_loss : format_json_notice)(line, sizeof(line), now, count, what) >= 0)
				sink_write_raw(s, now, SINK_WARNING, line);
		} else {
			snprintf(line, sizeof(line), "%llu %s", (unsigned long long)count, what);
			sink_write(s, now, SINK_WARNING, line);
		}
	}
}

/* A warning line (a @loss, or not) in every output's log. */
static void log_warning(struct netlogd *d, uint64_t count, const char *what, bool loss)
{
	log_warning_but(d, -1, count, what, loss);
}

/* A warning (a @loss, or not), in the log and on stderr. */
static void report_warning(struct netlogd *d, uint64_t count, const char *what, bool loss)
{
	log_warning(d, count, what, loss);
	log_warnx("%llu %s", (unsigned long long)count, what);
}

/*
 * Lines output @i could not take: said on stderr at once, and in the log
 * once the output takes lines again, to every output, itself included, so
 * its own log shows the gap (@last: the daemon stops, or a reload drops
 * the output: say it now). A remote collector is told by its sink when
 * the link is back; what it was never told is said to the other outputs
 * last. Returns how many lines the log is to be told of now, in @what
 * (@len bytes): 0 for none.
 */
static uint64_t sink_loss_to_log(struct netlogd *d, unsigned i, bool last, char *what, size_t len)
{
	struct sink *s = &d->sinks[i];
	struct lost_said *r = &d->sink_lost_reported[i];
	uint64_t n;

	if (s->lost != r->warned) {
		log_warnx("%llu lines %s %s%s", (unsigned long long)(s->lost - r->warned),
			  s->remote ? "dropped for" : "could not be written to", s->path,
			  s->remote ? ": the collector away or slow, the buffer full (raise --remote-buffer)" : "");
		r->warned = s->lost;
	}
	if (s->remote) {
		if (!last)
			return 0;
		sink_flush(s); /* a collector that is back is told now, by its sink */
		snprintf(what, len, "lines dropped for %s, the collector not told", s->path);
		return sink_untold(s);
	}
	if (s->lost == r->logged || (s->failing && !last))
		return 0;
	snprintf(what, len, "lines could not be written to %s", s->path);
	n = s->lost - r->logged;
	r->logged = s->lost;
	return n; /* if the output fails again, the next round says so */
}

static void report_sink_loss(struct netlogd *d, unsigned i, bool last)
{
	char what[PATH_MAX + 96];
	uint64_t n = sink_loss_to_log(d, i, last, what, sizeof(what));

	if (n)
		log_warning_but(d, d->sinks[i].remote ? (int)i : -1, n, what, true);
}

/*
 * Stopping: what is open gets no stop from this run. Said, with how a
 * restart tells them (reported again then, pre-existing): a reader then
 * knows why a start has no stop, or a connection two starts.
 */
static void say_open(const struct netlogd *d)
{
	unsigned long conns, listens;

	loader_count_open(&d->loader, &conns, &listens);
	conns += d->flows.count;
	if (conns || listens)
		log_info("stopping with %lu connection%s and %lu listen%s open (ignore rules aside): "
			 "their stops are not logged; netlogd started again reports them as open before it "
			 "(JSON: netlog.preexisting)",
			 conns, conns == 1 ? "" : "s", listens, listens == 1 ? "" : "s");
}

/* Before the idle sweep: the sockets of UDP collectors now, whose flows never go idle. */
static void note_own_sockets(struct netlogd *d)
{
	struct udpflow_own own[UDPFLOW_OWN_MAX];
	size_t n = 0;

	for (unsigned i = 0; i < d->nsinks && n < UDPFLOW_OWN_MAX; i++)
		if (sink_udp_end(&d->sinks[i], &own[n].sock_id, own[n].addr, &own[n].port))
			n++;
	udpflows_set_own(&d->flows, own, n);
}

/* A gap in the log must be visible in the log: say what the kernel side lost. */
static void report_drops(struct netlogd *d, bool last)
{
	static const char *const what[NETLOG_DROP_MAX] = {
		[NETLOG_DROP_RINGBUF] = "events lost: ring buffer full (TCP events; raise --ring-buffer)",
		[NETLOG_DROP_RINGBUF_UDP] = "events lost: ring buffer full (UDP events; raise --ring-buffer)",
		[NETLOG_DROP_TABLE] = "sockets not tracked: socket table full (raise --max-sockets)",
		[NETLOG_DROP_FLOWS] =
			"UDP flows not counted: flow table full (raise --max-udp-flows)",
		[NETLOG_DROP_NAMES] = "program or cgroup paths lost: their events go without them "
				      "(raise --ring-buffer: a quarter of it holds paths)",
		[NETLOG_DROP_V6EXT] = "UDP datagrams not looked at: more than 8 IPv6 extension headers "
				      "before the UDP header (their flows may be missing)",
	};
	uint64_t now[NETLOG_DROP_MAX], missed, recovered;
	int err;

	err = loader_read_drops(&d->loader, now);
	if (err < 0) {
		/* said once; the rest of the round (outputs' losses, flows) goes on */
		if (!d->drops_unread)
			log_warnx("cannot read the kernel side's loss counters (%s); losses there go unsaid "
				  "meanwhile", strerror(-err));
		d->drops_unread = true;
		memcpy(now, d->drops_reported, sizeof(now));
	} else {
		d->drops_unread = false;
	}
	for (int r = 0; r < NETLOG_DROP_MAX; r++) {
		if (now[r] == d->drops_reported[r])
			continue;
		report_warning(d, now[r] - d->drops_reported[r], what[r], true);
		d->drops_reported[r] = now[r];
		if (r == NETLOG_DROP_RINGBUF || r == NETLOG_DROP_RINGBUF_UDP)
			d->held_looks = 2; /* a start goes when gone at two in a row */
	}
	missed = loader_missed_runs(&d->loader);
	if (missed != d->missed_reported) {
		report_warning(d, missed - d->missed_reported,
			       "runs of netlogd's programs skipped by the kernel (one was running on that CPU "
			       "already, interrupted): as many events may be missing (the stops among them "
			       "are looked for)", true);
		d->missed_reported = missed;
		d->check_looks = 3;
	}
	recovered = loader_stops_recovered(&d->loader);
	if (recovered != d->recovered_reported) {
		/* no loss: each is logged, marked recovered in JSON */
		report_warning(d, recovered - d->recovered_reported,
			       "stops logged late: their connections ended in runs the kernel skipped, and "
			       "were found ended since", false);
		d->recovered_reported = recovered;
	}
	if (d->flows.untracked != d->flows_untracked_reported) {
		report_warning(d, d->flows.untracked - d->flows_untracked_reported,
			       "UDP flow stops lost: no memory for the daemon's flow table", true);
		d->flows_untracked_reported = d->flows.untracked;
	}
	if (d->flows.ended_early != d->flows_ended_early_reported) {
		/* no loss: each got its start and its stop */
		report_warning(d, d->flows.ended_early - d->flows_ended_early_reported,
			       "UDP flows stopped before their idle timeout: the daemon's flow table is full "
			       "(raise --max-udp-flows)", false);
		d->flows_ended_early_reported = d->flows.ended_early;
	}
	if (d->late != d->late_reported) {
		/* no loss: each is logged, with its own time, marked late in JSON */
		report_warning(d, d->late - d->late_reported,
			       "stops logged late: their ring buffer was full (raise --ring-buffer)", false);
		d->late_reported = d->late;
	}
	if (d->cgroup_unnamed != d->cgroup_unnamed_reported) {
		/* no loss either: the events are logged, without netlog.cgroup and container.id */
		report_warning(d, d->cgroup_unnamed - d->cgroup_unnamed_reported,
			       "events without their cgroup's path: not found, or pushed out of the daemon's "
			       "table by cgroups made faster than it walks the hierarchy (once a second)", false);
		d->cgroup_unnamed_reported = d->cgroup_unnamed;
	}
	if (d->exe_unnamed != d->exe_unnamed_reported) {
		/* no loss either: the events are logged, without process.executable */
		report_warning(d, d->exe_unnamed - d->exe_unnamed_reported,
			       "events without their program's path: its report was lost (said apart), or "
			       "pushed out of the daemon's table", false);
		d->exe_unnamed_reported = d->exe_unnamed;
	}
	if (last)
		flush_all(d); /* the last events' lines first: what writing them lost is said next */
	for (unsigned i = 0; i < d->nsinks; i++)
		report_sink_loss(d, i, last);
	flush_all(d); /* the notices: one that is lost too is a notice, no event, and not said again */
}

/* Take up to DRAIN_BATCH records from @rb; *@more if it may hold others. */
static int drain_one(struct netlogd *d, struct ring_buffer *rb, bool *more)
{
	int n;

	d->drain_left = DRAIN_BATCH;
	n = ring_buffer__consume(rb);
	if (n == DRAIN_PAUSE) {
		*more = true;
		return 0;
	}
	return n < 0 ? n : 0;
}

/*
 * The two rings in turn. What a flood leaves in them after a few turns
 * waits for the next wakeup (the kernel forces one while a ring is an
 * eighth full) or tick: signals and the once-a-second reports are not held.
 * @whole: take as many turns as the rings held (at exit, and before late
 * stops, whose starts were in them): no more, or a flood would hold us.
 */
static int drain_rings(struct netlogd *d, bool whole)
{
	unsigned turns = whole ? (d->opt.ringbuf_mb << 20) / (sizeof(struct netlog_event) + 8) / DRAIN_BATCH + 2 : 16;
	int err = 0;

	update_clock_offset(d);
	ring_buffer__consume(d->rb_names);
	for (unsigned turn = 0; turn < turns && !err; turn++) {
		bool more = false;

		err = drain_one(d, d->rb, &more) ?: drain_one(d, d->rb_udp, &more);
		flush_all(d);
		if (!more)
			break;
	}
	return err;
}

/*
 * After the kernel skipped runs of the programs: was a connection's end
 * among them? Three looks, a second apart (loader_check_conns()); the
 * stops they find come on the ring.
 */
static void look_for_skipped_stops(struct netlogd *d)
{
	int64_t t = clock_ns(CLOCK_MONOTONIC);
	long n = loader_check_conns(&d->loader);

	d->check_looks--;
	if (n < 0)
		log_debug("look for stops the kernel skipped: %s", strerror((int)-n));
	else
		log_debug("looked for stops the kernel skipped: %ld connections in %.1f ms", n,
			  (double)(clock_ns(CLOCK_MONOTONIC) - t) / 1e6);
	drain_rings(d, true);
}

/* Between the steps of the start-up walk: the rings, which the hooks fill meanwhile. */
static void drain_during_walk(void *ctx)
{
	drain_rings(ctx, true);
}

/* The stop the kernel kept back as @k, in socket entry @c: the event it would have sent. */
static void late_event(struct netlog_event *e, const struct netlog_late_key *k, const struct conn *c)
{
	memset(e, 0, sizeof(*e));
	e->ts_ns = k->ts_ns;
	e->start_ns = c->start_ns;
	e->sock_id = conn_event_id(c);
	memcpy(e->laddr, c->t.laddr, sizeof(e->laddr));
	memcpy(e->raddr, c->t.raddr, sizeof(e->raddr));
	e->proc = c->closer; /* emit_stop() put the stop's process there */
	if (k->type == NETLOG_CONNECT_STOP)
		e->traffic = c->traffic;
	e->netns = c->t.netns;
	e->lport = c->t.lport;
	e->rport = c->t.rport;
	e->family = c->t.family;
	e->type = k->type;
	e->protocol = c->t.protocol;
	e->direction = c->direction;
	e->flags = c->flags | NETLOG_F_LATE;
}

static int by_time(const void *a, const void *b)
{
	const struct netlog_late_key *x = a, *y = b;

	return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

/*
 * Stops that found their ring full wait in the kernel: taken out, then the
 * rings drained (a stop's start went in before it), then logged, each with
 * its own time, in time order within a batch; batch after batch, until the
 * kernel's table is empty (what comes meanwhile waits for the next round).
 */
static void log_late_stops(struct netlogd *d)
{
	enum { LATE_BATCH = 4096 };
	static struct netlog_late_key keys[LATE_BATCH];
	static struct conn vals[LATE_BATCH];
	static struct { struct netlog_late_key k; unsigned i; } order[LATE_BATCH];
	struct netlog_event e;
	bool all = false;

	for (unsigned round = 0; !all && round <= d->opt.max_sockets / 4 / (LATE_BATCH / 2) + 1; round++) {
		long n = loader_take_late(&d->loader, keys, vals, LATE_BATCH, &all);

		if (n < 0)
			log_debug("stops kept back in the kernel: %s", strerror((int)-n));
		if (n <= 0)
			return;
		drain_rings(d, true);
		for (long i = 0; i < n; i++)
			order[i].k = keys[i], order[i].i = (unsigned)i;
		qsort(order, (size_t)n, sizeof(*order), by_time);
		for (long i = 0; i < n; i++) {
			late_event(&e, &keys[order[i].i], &vals[order[i].i]);
			on_record(&e, d);
		}
		d->late += (uint64_t)n;
		flush_all(d);
	}
}

/*
 * A start that an ignore rule held back waits for its stop, to drop that
 * too; a stop the full ring lost would leave it held for good. So after a
 * loss, twice a second apart: the sockets the kernel tracks are read, then
 * the ring drained (a stop sent before that read is then taken), and a
 * start held before the read whose socket was not there, both times, goes.
 */
static void forget_lost_stops(struct netlogd *d)
{
	uint64_t mark = d->filters.seq, *ids = NULL;
	size_t gone;
	long n;

	d->held_looks--;
	if (!d->filters.nheld)
		return;
	n = loader_live_sockets(&d->loader, &ids);
	if (n < 0) {
		log_debug("read the socket tables: %s: held-back starts stay", strerror((int)-n));
		return;
	}
	drain_rings(d, false);
	gone = filters_forget_gone(&d->filters, mark, ids, (size_t)n);
	free(ids);
	if (gone)
		log_debug("%zu starts held back by ignore rules let go: their stops were lost", gone);
}

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

enum { TAG_RINGBUF, TAG_SIGNAL, TAG_TIMER };

#define DRAIN_INTERVAL_MS 100
/* while sockets open before netlogd need the state-change tracepoint, look again this often */
#define STATE_CHECK_MS 5000

/*
 * The signals the loop reads from a signalfd: held from the start, so that
 * one sent while netlogd loads (logrotate's SIGHUP) waits for the loop
 * rather than kill it.
 */
static void hold_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
	sigprocmask(SIG_BLOCK, mask, NULL);
	/* an ignored signal is discarded before signalfd sees it (nohup, sh's &) */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	/* a write to a pipe nobody reads fails with EPIPE: the loop says so and stops */
	signal(SIGPIPE, SIG_IGN);
}

static int run_loop(struct netlogd *d)
{
	/* drain the ring buffer this often; the kernel wakes us sooner when it fills */
	struct itimerspec tick = { .it_interval = { 0, DRAIN_INTERVAL_MS * 1000000 },
				   .it_value = { 0, DRAIN_INTERVAL_MS * 1000000 } };
	unsigned ticks_since_report = 0, ticks_since_state_check = 0;
	int epfd = -1, sigfd = -1, timerfd = -1, err = 0;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	sigfd = signalfd(-1, &d->signals, SFD_CLOEXEC | SFD_NONBLOCK);
	timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (epfd < 0 || sigfd < 0 || timerfd < 0 || timerfd_settime(timerfd, 0, &tick, NULL) < 0) {
		err = -errno;
		log_warn("set up the event loop");
		goto out;
	}
	err = epoll_add(epfd, ring_buffer__epoll_fd(d->rb), TAG_RINGBUF);
	err = err ?: epoll_add(epfd, ring_buffer__epoll_fd(d->rb_udp), TAG_RINGBUF);
	err = err ?: epoll_add(epfd, sigfd, TAG_SIGNAL);
	err = err ?: epoll_add(epfd, timerfd, TAG_TIMER);
	if (err) {
		log_warnx("epoll: %s", strerror(-err));
		goto out;
	}

	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(epfd, evs, 4, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			log_warn("epoll_wait");
			goto out;
		}
		for (int i = 0; i < n; i++) {
			struct signalfd_siginfo si;
			uint64_t ticks;

			switch (evs[i].data.u32) {
			case TAG_RINGBUF:
				err = drain_rings(d, false);
				if (err) {
					log_warnx("ring buffer: %s", strerror(-err));
					goto out;
				}
				break;
			case TAG_TIMER:
				if (read(timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					log_warn("read timerfd");
				err = drain_rings(d, false);
				if (err) {
					log_warnx("ring buffer: %s", strerror(-err));
					goto out;
				}
				if (++ticks_since_report * DRAIN_INTERVAL_MS >= 1000) {
					log_late_stops(d);
					note_own_sockets(d);
					udpflows_tick(&d->flows, (uint64_t)clock_ns(CLOCK_BOOTTIME), true);
					report_drops(d, false);
					if (d->check_looks)
						look_for_skipped_stops(d);
					look_at_readers(d);
					if (d->pidfile == -EWOULDBLOCK) /* another netlogd's: gone now? */
						d->pidfile = system_pidfile(SYSTEM_PIDFILE, true);
					if (d->held_looks)
						forget_lost_stops(d);
					cgtab_expire(&d->cgroups, (time_t)(clock_ns(CLOCK_MONOTONIC) / 1000000000));
					ticks_since_report = 0;
				} else {
					udpflows_tick(&d->flows, (uint64_t)clock_ns(CLOCK_BOOTTIME), false);
				}
				flush_all(d);
				/* at half the watchdog's time: alive, as the loop goes round */
				if (d->watchdog_ns) {
					uint64_t mono = (uint64_t)clock_ns(CLOCK_MONOTONIC);

					if (mono - d->alive_said >= d->watchdog_ns / 2) {
						system_notify("WATCHDOG=1");
						d->alive_said = mono;
					}
				}
				/* returns at once when it is detached already */
				if (++ticks_since_state_check * DRAIN_INTERVAL_MS >= STATE_CHECK_MS) {
					loader_release_state_tracepoint(&d->loader);
					ticks_since_state_check = 0;
				}
				break;
			case TAG_SIGNAL:
				if (read(sigfd, &si, sizeof(si)) != sizeof(si))
					break;
				if (si.ssi_signo == SIGHUP) {
					drain_rings(d, false);
					reload(d);
					err = 0;
					break;
				}
				log_debug("signal %u: stopping", si.ssi_signo);
				goto out;
			}
		}
		if (d->stdout_gone) {
			/* nothing can reopen it: stop, failed, so that a service manager restarts netlogd */
			log_warnx("stdout: its reader is gone (broken pipe): stopping");
			err = -EPIPE;
			goto out;
		}
	}
out:
	if (timerfd >= 0)
		close(timerfd);
	if (sigfd >= 0)
		close(sigfd);
	if (epfd >= 0)
		close(epfd);
	return err;
}

/*
 * Each output could be opened as it is now (nothing made); the errors
 * printed after @say. For -n, and at start-up before the programs load. As
 * root only: netlogd opens them as root, and another user's rights would
 * say nothing of that.
 */
static bool outputs_can_open(const struct options *o, const char *say)
{
	bool ok = true;

	if (geteuid() != 0) {
		/* what root could open is root's to say; names alone, anyone can compare */
		log_warnx("output files not checked: not root");
		return outputs_distinct(o);
	}

	for (unsigned i = 0; i < o->noutputs; i++) {
		char why[PATH_MAX + 128];

		if (sink_check(o->outputs[i].target, o->syslog_socket, why, sizeof(why))) {
			log_warnx("%s %s", say, why);
			ok = false;
		}
	}
	return outputs_distinct(o) && ok;
}

int main(int argc, char **argv)
{
	struct netlogd *d = calloc(1, sizeof(*d));
	struct loader_opts lo;
	int err;

	system_std_fds();
	if (!d)
		return 1;
	log_init("netlogd", 0);
	err = options_parse(&d->opt, argc, argv);
	if (d->opt.check_only && err != -EINVAL && err <= 0) {
		if (!err && !outputs_can_open(&d->opt, "output"))
			err = -EBADMSG;
		puts(err ? "configuration has errors" : "configuration OK");
		return err ? 1 : 0;
	}
	if (err == -EBADMSG)
		return 1; /* the configuration file's errors, already printed */
	if (err)
		return err < 0 ? 2 : 0; /* > 0: --help or --version, already printed */
	log_init("netlogd", d->opt.verbose);
	log_never_wait();
	if (system_check())
		return 1;
	d->pidfile = system_pidfile(SYSTEM_PIDFILE, false);
	hold_signals(&d->signals);

	d->format_cache.time.sec = -1;
	/*
	 * The outputs are checked now, and opened once the programs are
	 * attached: a log file that is there is one that logs (whoever waits
	 * for it to appear before connecting misses nothing).
	 */
	if (!outputs_can_open(&d->opt, "open output") || filters_init(&d->filters)) {
		err = 1;
		goto out;
	}
	filters_set(&d->filters, d->opt.ignore, d->opt.nignore);
	lo.max_sockets = d->opt.max_sockets;
	lo.max_flows = d->opt.max_flows;
	lo.ringbuf_bytes = d->opt.ringbuf_mb << 20;
	lo.accept_hook = d->opt.accept_hook;
	lo.compat = d->opt.compat;
	err = loader_start(&d->loader, &lo);
	if (err)
		goto out;
	if (open_outputs(&d->opt, d->sinks, &d->nsinks, NULL, NULL, NULL)) {
		err = 1;
		goto out;
	}
	push_port_rules(d);
	d->rb = ring_buffer__new(loader_events_fd(&d->loader), on_ringbuf_record, d, NULL);
	d->rb_udp = ring_buffer__new(loader_udp_events_fd(&d->loader), on_ringbuf_record, d, NULL);
	if (!d->rb || !d->rb_udp) {
		err = -errno;
		log_warnx("ring buffer: %s", strerror(-err));
		goto out;
	}
	d->rb_names = ring_buffer__new(loader_names_fd(&d->loader), on_name_record, d, NULL);
	if (!d->rb_names || exetab_init(&d->exes, 262144) < 0 ||
	    cgtab_init(&d->cgroups, d->loader.cgroup_root, 262144) < 0) {
		err = -ENOMEM;
		log_warnx("names' tables: %s", strerror(ENOMEM));
		goto out;
	}
	d->exes.names.forget = exe_forgotten;
	d->exes.names.forget_ctx = d;
	if (any_output(d, FORMAT_JSON))
		cgtab_walk(&d->cgroups); /* the cgroups made before netlogd */
	update_clock_offset(d);
	err = udpflows_init(&d->flows, loader_flows_fd(&d->loader),
			    (uint64_t)d->opt.udp_idle_timeout * 1000000000ull,
			    (size_t)d->opt.max_flows * 2, log_event, d);
	d->flows.untracked_fd = loader_untracked_fd(&d->loader);
	if (err) {
		log_warnx("UDP flow table: %s", strerror(-err));
		goto out;
	}
	loader_set_udp_idle(&d->loader, d->flows.idle_ns);
	err = loader_dump_existing(&d->loader, on_record, drain_during_walk, d);
	if (err)
		goto out;
	loader_release_state_tracepoint(&d->loader);
	flush_all(d);
	/*
	 * Under a host busy on every CPU, a fair share of one is too little for
	 * a flood of events (JSON above all): the rings fill while the daemon
	 * waits its turn. auditd's priority_boost has the same default, and is
	 * relative too: to the niceness a service manager gave.
	 */
	if (d->opt.priority_boost) {
		int nice, want;

		errno = 0;
		nice = getpriority(PRIO_PROCESS, 0);
		want = nice - (int)d->opt.priority_boost;
		if (errno == 0 && setpriority(PRIO_PROCESS, 0, want < -20 ? -20 : want) < 0)
			log_warnx("priority-boost: %s; keeping nice %d", strerror(errno), nice);
	}
	/* everything privileged is done: programs attached, buffers mapped */
	err = privs_drop(loader_maps_readable, &d->loader);
	if (err)
		goto out;
	sink_resolve_in_background();
	{
		char where[1024] = "";

		for (unsigned i = 0; i < d->nsinks; i++)
			snprintf(where + strlen(where), sizeof(where) - strlen(where), "%s%s%s",
				 i ? ", " : "", d->sinks[i].path,
				 d->sinks[i].format == FORMAT_JSON ? " (json)" : "");
		log_info("logging to %s", where);
	}
	system_notify("READY=1");
	d->watchdog_ns = system_watchdog_ns();
	d->alive_said = (uint64_t)clock_ns(CLOCK_MONOTONIC);

	err = run_loop(d);
	system_notify("STOPPING=1");
	/*
	 * What the kernel handed over before we stopped still gets logged, and
	 * nothing comes after: the programs go first, so that nothing is added
	 * (or counted lost) once the rings and the waiting stops are read.
	 */
	loader_detach(&d->loader);
	drain_rings(d, true);
	log_late_stops(d);
	udpflows_flush(&d->flows);
	report_drops(d, true);
	say_open(d);
out:
	udpflows_free(&d->flows);
	filters_free(&d->filters);
	ring_buffer__free(d->rb);
	ring_buffer__free(d->rb_udp);
	ring_buffer__free(d->rb_names);
	exetab_free(&d->exes);
	cgtab_free(&d->cgroups);
	loader_stop(&d->loader);
	for (unsigned i = 0; i < d->nsinks; i++)
		sink_close(&d->sinks[i], true);
	system_pidfile_remove(d->pidfile, SYSTEM_PIDFILE);
	free(d);
	return err ? 1 : 0;
}
