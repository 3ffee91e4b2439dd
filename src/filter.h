/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which events are not logged: "ignore" rules from the configuration. A
 * connection or listen is judged once, at its start; its stop follows that
 * decision, so a stop is never logged without its start (nor the reverse),
 * whatever process closes it and whatever the rules became since.
 */
#ifndef NETLOG_FILTER_H
#define NETLOG_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "netlog.h"

enum filter_kind {
	FILTER_PORT,	  /* local or remote port */
	FILTER_ADDRESS,	  /* local or remote address in a CIDR block */
	FILTER_UID,	  /* the process's real uid */
	FILTER_COMMAND,	  /* the process's name, exactly */
	FILTER_DIRECTION, /* in or out */
	FILTER_LOOPBACK,  /* the remote end is a loopback address */
	FILTER_PROTOCOL,  /* tcp or udp */
	FILTER_EVENT,	  /* listen or connect */
};

struct filter_cond {
	enum filter_kind kind;
	uint8_t addr[16]; /* IPv4 mapped */
	unsigned prefix;  /* of addr, in bits of the mapped form */
	uint32_t value;	  /* port, uid, direction, protocol or event type */
	char comm[NETLOG_COMM_LEN];
};

#define FILTER_MAX_AND 4

/* A rule: conditions that must all hold ("uid 998 and command node_exporter"). */
struct filter_rule {
	struct filter_cond c[FILTER_MAX_AND];
	unsigned n;
};

#define FILTER_MAX_RULES 256

/*
 * Parse one rule: a condition ("port 22", "address 10.0.0.0/8", "uid 0",
 * "command sshd", "direction in", "loopback", "protocol udp", "event
 * listen"), or several joined by "and", a command last (its name is the
 * rest of the line). Returns 0, or -EINVAL with the reason in @why.
 */
int filter_parse(struct filter_rule *r, const char *text, char *why, size_t whylen);

/* Whether @e matches @r: every condition of it. */
bool filter_match(const struct filter_rule *r, const struct netlog_event *e);

struct filter_held;

/* The rules in force, and the starts they held back (so their stops are too). */
struct filters {
	struct filter_rule rules[FILTER_MAX_RULES];
	unsigned n;
	struct filter_held **held;
	size_t nbuckets, nheld;
	uint64_t seq; /* starts held so far: those held before a mark taken here have a lower seq */
};

int filters_init(struct filters *f);

/* Replace the rules (a reload); what was held back stays held back. */
void filters_set(struct filters *f, const struct filter_rule *rules, unsigned n);

/* Whether to log @e: a start or a failure by the rules, a stop as its start was. */
bool filters_pass(struct filters *f, const struct netlog_event *e);

/*
 * Forget the starts held back before @before (a filters.seq) whose socket
 * is not in @live (@nlive ids, sorted here), at this call and the one before,
 * and whose stop only the kernel sends: that stop was lost (a full ring
 * buffer) and will never come. Returns how many went.
 */
size_t filters_forget_gone(struct filters *f, uint64_t before, uint64_t *live, size_t nlive);

void filters_free(struct filters *f);

#endif
