/* SPDX-License-Identifier: GPL-2.0 */
/*
 * UDP flows, as the daemon sees them: the kernel reports a flow's first
 * datagram (NETLOG_UDP_FLOW), the process that first received from it
 * (NETLOG_UDP_CLAIM, or NETLOG_UDP_RECEIVER for a socket's waiting flows)
 * and the close of its socket (NETLOG_UDP_CLOSE), and
 * counts the datagrams in its flow table. This turns those records into
 * one connect start and one connect stop per flow: at the socket's close,
 * or when the flow has been idle too long. It owns the flows' life cycle,
 * so it also removes them from the kernel's table.
 */
#ifndef NETLOG_UDPFLOW_H
#define NETLOG_UDPFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "netlog.h"

typedef int (*udpflow_log_fn)(const struct netlog_event *e, void *ctx);

struct udpflow;

/* One of netlogd's own sockets to a UDP collector: its cookie, and its local end. */
struct udpflow_own {
	uint64_t sock_id;
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d, as events carry it */
	uint16_t port;
};

#define UDPFLOW_OWN_MAX 16

struct udpflows {
	struct udpflow **by_key;  /* chained on udpflow.next */
	struct udpflow **by_sock; /* chained on udpflow.next_sock */
	size_t nbuckets;	  /* a power of two */
	size_t count, max;
	struct udpflow *waiting, *waiting_last; /* incoming flows not started yet, oldest first */
	int map_fd;		  /* the kernel's flow table, or -1 */
	int untracked_fd;	  /* the kernel's untracked flows lately reported, or -1 */
	bool take_apart;	  /* the kernel takes no hash entry out whole (before 5.14) */
	uint64_t idle_ns;	  /* a flow with no datagram this long stops */
	uint64_t claim_wait_ns;	  /* how long an incoming flow waits for its receiver */
	uint64_t untracked;	  /* flows started here but not kept: no stop will follow */
	uint64_t ended_early;	  /* flows stopped before their idle timeout: the table was full */
	size_t nown;		  /* netlogd's own sockets to UDP collectors, in own[] */
	struct udpflow_own own[UDPFLOW_OWN_MAX];
	udpflow_log_fn log;
	void *ctx;
};

/* Returns 0 or -ENOMEM. @map_fd may be -1 (no kernel table: tests). */
int udpflows_init(struct udpflows *t, int map_fd, uint64_t idle_ns, size_t max,
		  udpflow_log_fn log, void *ctx);

/* Whether @e is one of the UDP flow records this module handles. */
bool udpflows_owns(const struct netlog_event *e);

/*
 * netlogd's own sockets to UDP collectors, now (@n at most UDPFLOW_OWN_MAX):
 * their flows, and a collector's on this host from them, never end idle.
 */
void udpflows_set_own(struct udpflows *t, const struct udpflow_own *own, size_t n);

/* Take one record from the kernel; logs what it decides. */
void udpflows_event(struct udpflows *t, const struct netlog_event *e);

/*
 * Time has passed (@now: CLOCK_BOOTTIME ns): start incoming flows no
 * process claimed in time, and, with @sweep, stop the idle ones.
 */
void udpflows_tick(struct udpflows *t, uint64_t now, bool sweep);

/* Shutting down: start whatever is still waiting, so nothing is lost. */
void udpflows_flush(struct udpflows *t);

void udpflows_free(struct udpflows *t);

#endif
