/* SPDX-License-Identifier: GPL-2.0 */
/* Load the kernel programs, attach them, and read what they left in maps. */
#ifndef NETLOG_LOADER_H
#define NETLOG_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "netlog.h"

struct netlog_bpf;

struct loader_opts {
	uint32_t max_sockets;	 /* entries of the socket table */
	uint32_t max_flows;	 /* entries of the UDP flow table */
	uint32_t ringbuf_bytes;	 /* power of two, multiple of the page size */
	bool accept_hook;	 /* attach the accept() syscall tracepoints */
	bool compat;		 /* the programs for kernels before 5.12, whatever the kernel */
};

struct loader {
	struct netlog_bpf *skel;
	int cgroup_fd;
	bool compat;		/* the programs for kernels before 5.12 are loaded */
	enum netlog_uring_args uring; /* io_uring accepts: how completions come, or not watched */
	bool recv_hook; /* tp_btf/sock_recv_length: receivers that do not ask the source (6.3) */
	bool recv_tracepoint; /* this kernel has that tracepoint */
	char cgroup_root[4096]; /* where cgroup v2 is mounted */
	long unwatched;		/* sockets the state-change tracepoint still ends, last seen */
	uint8_t ignored_ports[65536]; /* what the kernel's ignored_ports holds (zero at load) */
};

/* Open, size, load and attach everything. Returns 0 or -errno, having logged why. */
int loader_start(struct loader *l, const struct loader_opts *o);

/* The events' ring buffers' map fds, TCP's and UDP's, for ring_buffer__new(). */
int loader_events_fd(const struct loader *l);
int loader_udp_events_fd(const struct loader *l);

/*
 * Take out of the kernel up to @max stops it kept back while their ring was
 * full (@keys, and their sockets' entries in @vals); *@all if none is left.
 * Returns how many, or -errno.
 */
long loader_take_late(const struct loader *l, struct netlog_late_key *keys, struct conn *vals, size_t max,
		      bool *all);

/* The kernel's table of untracked UDP flows lately reported (struct netlog_flow_key, time). */
int loader_untracked_fd(const struct loader *l);

/* Have the kernel report executable @id again: the daemon let its path go. */
void loader_forget_exe(const struct loader *l, uint64_t id);

typedef int (*loader_event_fn)(const struct netlog_event *e, void *ctx);

/*
 * Report every TCP and UDP socket some process holds open now: listeners
 * first, then connections, each socket once, to @fn. @between(@ctx) runs
 * after each pass, once what it found is reported: the programs run
 * all along, and their rings are read there, not only after the walk (on
 * a busy host they would fill). Returns 0 or -errno.
 */
int loader_dump_existing(struct loader *l, loader_event_fn fn, void (*between)(void *ctx), void *ctx);

/*
 * The state-change tracepoint ends the TCP sockets whose state changes
 * sockops does not see: those open before netlogd, on kernels before 6.12
 * (or with the compat programs) or in a network namespace the start-up
 * pass could not enter. It runs on every state change of every TCP socket
 * on the host, so it is detached, for good, once the socket table holds
 * none of those (every socket made since is sockops's). Call it after the
 * start-up dump and now and then; once it is detached, it returns at once.
 */
void loader_release_state_tracepoint(struct loader *l);

/*
 * The ids (cookies) of the sockets the kernel side tracks now, TCP and UDP,
 * whose stop is still to come, in *@ids to free(); their number, or
 * -errno.
 */
long loader_live_sockets(const struct loader *l, uint64_t **ids);

/* The names' ring buffer's map fd (struct netlog_exe and netlog_cgroup records). */
int loader_names_fd(const struct loader *l);

/* The UDP flow table's map fd: the daemon reads and ends flows there. */
int loader_flows_fd(const struct loader *l);

/*
 * Runs of the programs the kernel skipped, so far: a tracing program is not
 * run again on a CPU where it (or, for a classic tracepoint, any BPF
 * program) is running already, as when an interrupt changes another
 * socket's state in the middle of a run. Counted from 5.12 (0 before).
 */
uint64_t loader_missed_runs(const struct loader *l);

/*
 * Look for connections whose end such a skipped run missed (check_conn()):
 * one seen ended at two looks in a row gets its stop, marked recovered.
 * Returns how many connections it looked at, or -errno.
 */
long loader_check_conns(const struct loader *l);

/* The stops of such connections logged so far, by those looks or when a new socket took the place. */
uint64_t loader_stops_recovered(const struct loader *l);

/*
 * What is open as netlogd stops (the programs detached): TCP connections,
 * and listens (TCP, UDP), started in the log and not stopped.
 */
void loader_count_open(const struct loader *l, unsigned long *conns, unsigned long *listens);

/* The ports whose sockets and datagrams the kernel side skips (ignore rules). */
int loader_set_ignored_ports(struct loader *l, const uint8_t ports[65536]);

/*
 * The address blocks (IPv4 mapped, @prefix bits of 128) and whether the
 * loopback, whose datagrams the kernel side skips (ignore rules).
 */
int loader_set_ignored_nets(struct loader *l, const uint8_t (*addrs)[16], const unsigned *prefix,
			    unsigned n, bool loopback);

/* The UDP idle timeout: the kernel side reports untracked flows again twice per period. */
void loader_set_udp_idle(struct loader *l, uint64_t idle_ns);

/* Totals of the kernel side's drop counters, summed over CPUs. */
int loader_read_drops(const struct loader *l, uint64_t totals[NETLOG_DROP_MAX]);

/* Whether this process can read the maps now (a bpf() call on one of them works). */
bool loader_maps_readable(void *loader);

/* Take every program off its hook; the maps stay, to be read out. */
void loader_detach(struct loader *l);

/* Detach and free everything; safe on a partly started loader. */
void loader_stop(struct loader *l);

#endif
