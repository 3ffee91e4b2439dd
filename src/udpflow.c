// SPDX-License-Identifier: GPL-2.0
#include "udpflow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's own, which bpf() returns for what a map type cannot do */
#endif

struct udpflow {
	struct netlog_event ev; /* the start: logged, or waiting for its receiver */
	uint64_t seen_ns;	/* latest datagram known here */
	bool started;
	bool received; /* ev.proc received on its socket (NETLOG_UDP_RECEIVER) */
	bool counted_late; /* untracked at first: the kernel counts it from later on */
	struct udpflow *next, *next_sock;
	struct udpflow *wait_prev, *wait_next; /* not started: the order they came in */
};

/* An incoming flow waits this long for a process to receive from it. */
#define CLAIM_WAIT_NS 500000000ull

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static size_t sock_bucket(const struct udpflows *t, uint64_t sock_id)
{
	return mix(sock_id) & (t->nbuckets - 1);
}

static size_t key_bucket(const struct udpflows *t, const struct netlog_event *e)
{
	uint64_t h = mix(e->sock_id ^ e->rport);

	for (int i = 0; i < 16; i += 8) {
		uint64_t w;

		memcpy(&w, e->raddr + i, 8);
		h = mix(h ^ w);
	}
	return h & (t->nbuckets - 1);
}

static bool same_flow(const struct netlog_event *a, const struct netlog_event *b)
{
	return a->sock_id == b->sock_id && a->rport == b->rport && !memcmp(a->raddr, b->raddr, 16);
}

int udpflows_init(struct udpflows *t, int map_fd, uint64_t idle_ns, size_t max,
		  udpflow_log_fn log, void *ctx)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = 1024;
	while (t->nbuckets < max && t->nbuckets < (1u << 22))
		t->nbuckets <<= 1;
	t->by_key = calloc(t->nbuckets, sizeof(*t->by_key));
	t->by_sock = calloc(t->nbuckets, sizeof(*t->by_sock));
	if (!t->by_key || !t->by_sock) {
		udpflows_free(t);
		return -ENOMEM;
	}
	t->max = max;
	t->map_fd = map_fd;
	t->untracked_fd = -1;
	t->idle_ns = idle_ns;
	t->claim_wait_ns = CLAIM_WAIT_NS;
	t->log = log;
	t->ctx = ctx;
	return 0;
}

bool udpflows_owns(const struct netlog_event *e)
{
	return e->type == NETLOG_UDP_FLOW || e->type == NETLOG_UDP_CLAIM ||
	       e->type == NETLOG_UDP_CLOSE || e->type == NETLOG_UDP_MOVED || e->type == NETLOG_UDP_RECEIVER;
}

static struct udpflow *find(const struct udpflows *t, const struct netlog_event *e)
{
	for (struct udpflow *f = t->by_key[key_bucket(t, e)]; f; f = f->next)
		if (same_flow(&f->ev, e))
			return f;
	return NULL;
}

/* Out of the waiting list, where a flow is until it starts. */
static void unwait(struct udpflows *t, struct udpflow *f)
{
	if (f->started)
		return;
	*(f->wait_prev ? &f->wait_prev->wait_next : &t->waiting) = f->wait_next;
	*(f->wait_next ? &f->wait_next->wait_prev : &t->waiting_last) = f->wait_prev;
	f->wait_prev = f->wait_next = NULL;
}

/*
 * netlogd's own flows: to a collector over UDP. They end at their socket's
 * close, not when idle, nor does a collector's flow from them on this host:
 * each stop would be a line, sent on the flow it had just stopped, which
 * would start it again. Known by their sockets, which netlogd gives
 * (udpflows_set_own()), not by its process id, which a PID namespace hides.
 */
static bool touches_own(const struct udpflows *t, const struct udpflow *f)
{
	for (size_t i = 0; i < t->nown; i++) {
		const struct udpflow_own *o = &t->own[i];

		if (f->ev.sock_id == o->sock_id ||
		    (f->ev.rport == o->port && !memcmp(f->ev.raddr, o->addr, sizeof(o->addr))))
			return true;
	}
	return false;
}

void udpflows_set_own(struct udpflows *t, const struct udpflow_own *own, size_t n)
{
	t->nown = n < UDPFLOW_OWN_MAX ? n : UDPFLOW_OWN_MAX;
	memcpy(t->own, own, t->nown * sizeof(*own));
}

static void unlink_flow(struct udpflows *t, struct udpflow *f)
{
	struct udpflow **p;

	unwait(t, f);
	for (p = &t->by_key[key_bucket(t, &f->ev)]; *p != f; p = &(*p)->next)
		;
	*p = f->next;
	for (p = &t->by_sock[sock_bucket(t, f->ev.sock_id)]; *p != f; p = &(*p)->next_sock)
		;
	*p = f->next_sock;
	t->count--;
	free(f);
}

static void start(struct udpflows *t, struct udpflow *f)
{
	unwait(t, f);
	f->started = true;
	t->log(&f->ev, t->ctx);
}

static void kernel_key(struct netlog_flow_key *k, const struct netlog_event *e)
{
	memset(k, 0, sizeof(*k));
	k->sock_id = e->sock_id;
	memcpy(k->raddr, e->raddr, 16);
	k->rport = e->rport;
}

/*
 * The kernel's entry of the flow @e names, in @k: false if it has none
 * (no kernel table, or the flow was untracked there).
 */
static bool kernel_entry(const struct udpflows *t, const struct netlog_event *e, struct netlog_flow_key *k)
{
	if (t->map_fd < 0 || (e->flags & NETLOG_F_UNTRACKED))
		return false;
	kernel_key(k, e);
	return true;
}

/*
 * The flow's counts, and its last process, from the kernel; then forget it
 * there. Taken out in one step where the kernel can (5.14): a datagram
 * between a look and a delete would be counted in an entry already read,
 * and start no flow either.
 */
static bool kernel_take(struct udpflows *t, const struct udpflow *f, struct netlog_flow *v)
{
	struct netlog_flow_key k;

	if (!kernel_entry(t, &f->ev, &k))
		return false;
	if (!t->take_apart) {
		if (bpf_map_lookup_and_delete_elem(t->map_fd, &k, v) == 0)
			return true;
		if (errno != EINVAL && errno != ENOTSUPP && errno != EOPNOTSUPP)
			return false;
		t->take_apart = true;
	}
	if (bpf_map_lookup_elem(t->map_fd, &k, v) < 0)
		return false;
	bpf_map_delete_elem(t->map_fd, &k);
	return true;
}

/* The kernel's note that it reported @f untracked lately goes. */
static void forget_untracked(const struct udpflows *t, const struct udpflow *f)
{
	struct netlog_flow_key k;

	if (t->untracked_fd < 0)
		return;
	kernel_key(&k, &f->ev);
	bpf_map_delete_elem(t->untracked_fd, &k);
}

/*
 * Log the stop of @f at @ts, by @proc (the closer), or else its last
 * process; with its counts in @counted when the kernel gave them already
 * (its entry then holds another flow: left alone).
 */
static void stop_counted(struct udpflows *t, struct udpflow *f, uint64_t ts, const struct netlog_proc *proc,
			 const struct netlog_traffic *counted)
{
	struct netlog_event e = f->ev;
	struct netlog_flow v;

	if (!f->started)
		start(t, f);
	e.type = NETLOG_CONNECT_STOP;
	e.start_ns = f->ev.ts_ns;
	e.ts_ns = ts > f->ev.ts_ns ? ts : f->ev.ts_ns;
	if (counted)
		e.traffic = *counted;
	else if (kernel_take(t, f, &v)) {
		e.traffic = v.traffic;
		/*
		 * A flow nobody received from, on a socket of no known owner,
		 * still has none; one received through its socket keeps that
		 * process, where the kernel has but the stand-in.
		 */
		if (!proc && (v.claimed || (v.owner.tgid && !f->received))) {
			e.proc = v.owner;
			e.flags &= ~NETLOG_F_OWNER_UNKNOWN;
		}
	}
	if (proc) {
		e.proc = *proc;
		e.flags &= ~NETLOG_F_OWNER_UNKNOWN;
	}
	if (f->counted_late)
		e.flags |= NETLOG_F_UNTRACKED; /* its counts miss the datagrams before */
	/* the kernel reports its next datagram as a new flow at once, not after a refresh period */
	if (f->ev.flags & NETLOG_F_UNTRACKED)
		forget_untracked(t, f);
	t->log(&e, t->ctx);
	unlink_flow(t, f);
}

static void stop(struct udpflows *t, struct udpflow *f, uint64_t ts, const struct netlog_proc *proc)
{
	stop_counted(t, f, ts, proc, NULL);
}

static void make_room(struct udpflows *t, uint64_t now);

/*
 * Flow @f, untracked when it started (the kernel's table was full), has an
 * entry there now: its datagrams are counted there, so it is ended by
 * that entry's last datagram and takes it out when it stops. The kernel
 * looks at untracked_seen only when its table is full: the key goes, or a
 * full table would hide the next flow of the same key after this one ends.
 */
static void now_tracked(struct udpflows *t, struct udpflow *f)
{
	f->ev.flags &= ~NETLOG_F_UNTRACKED;
	f->counted_late = true;
	forget_untracked(t, f);
}

static void on_flow(struct udpflows *t, const struct netlog_event *e)
{
	struct udpflow *f = find(t, e);
	size_t b;

	if (f) { /* reported again: untracked in the kernel, or listed at start-up too */
		if (e->ts_ns > f->seen_ns)
			f->seen_ns = e->ts_ns;
		if ((f->ev.flags & NETLOG_F_UNTRACKED) && !(e->flags & NETLOG_F_UNTRACKED))
			now_tracked(t, f);
		return;
	}
	if (t->count >= t->max)
		make_room(t, e->ts_ns);
	f = t->count < t->max ? calloc(1, sizeof(*f)) : NULL;
	if (!f) {
		/* log the start all the same; its stop is counted as lost */
		struct netlog_event s = *e;

		struct netlog_flow_key k;

		s.type = NETLOG_CONNECT_START;
		s.flags |= NETLOG_F_NO_STOP;
		t->log(&s, t->ctx);
		t->untracked++;
		/* nothing here would ever end it there: the kernel's entry goes too */
		if (kernel_entry(t, e, &k))
			bpf_map_delete_elem(t->map_fd, &k);
		return;
	}
	f->ev = *e;
	f->ev.type = NETLOG_CONNECT_START;
	f->seen_ns = e->ts_ns;
	b = key_bucket(t, e);
	f->next = t->by_key[b];
	t->by_key[b] = f;
	b = sock_bucket(t, e->sock_id);
	f->next_sock = t->by_sock[b];
	t->by_sock[b] = f;
	t->count++;
	f->wait_prev = t->waiting_last;
	*(t->waiting_last ? &t->waiting_last->wait_next : &t->waiting) = f;
	t->waiting_last = f;
	/* incoming: the process that receives it is named when it does */
	if (e->direction != NETLOG_DIR_IN || (e->flags & NETLOG_F_PREEXISTING))
		start(t, f);
}

static void on_claim(struct udpflows *t, const struct netlog_event *e)
{
	struct udpflow *f = find(t, e);

	if (!f || f->started)
		return;
	f->ev.proc = e->proc;
	f->ev.flags &= ~NETLOG_F_OWNER_UNKNOWN;
	start(t, f);
}

/*
 * A process received on socket e->sock_id without asking whose datagram it
 * read (NETLOG_UDP_RECEIVER): it is the receiver of the socket's incoming
 * flows that came before and still wait for one, which start now. (Which
 * process read which datagram, no hook says: of processes sharing a socket
 * that way, the first to receive after a flow's first datagram names it.)
 */
static void on_receiver(struct udpflows *t, const struct netlog_event *e)
{
	struct udpflow *next;

	for (struct udpflow *f = t->waiting; f; f = next) {
		next = f->wait_next;
		if (f->ev.sock_id != e->sock_id || f->ev.direction != NETLOG_DIR_IN || f->ev.ts_ns > e->ts_ns)
			continue;
		f->ev.proc = e->proc;
		f->ev.flags &= ~NETLOG_F_OWNER_UNKNOWN;
		f->received = true;
		start(t, f);
	}
}

static void on_close(struct udpflows *t, const struct netlog_event *e)
{
	struct udpflow *f = t->by_sock[sock_bucket(t, e->sock_id)];

	while (f) {
		struct udpflow *next = f->next_sock;

		if (f->ev.sock_id == e->sock_id)
			stop(t, f, e->ts_ns, &e->proc);
		f = next;
	}
}

/* The flow ended where its socket's port changed, and a new one starts (NETLOG_UDP_MOVED). */
static void on_moved(struct udpflows *t, const struct netlog_event *e)
{
	struct udpflow *f = find(t, e);
	struct netlog_event n = *e;

	if (f) /* an incoming flow's stand-in may be nobody: the stop keeps the start's process */
		stop_counted(t, f, e->ts_ns, (e->flags & NETLOG_F_OWNER_UNKNOWN) ? NULL : &e->proc, &e->traffic);
	n.type = NETLOG_UDP_FLOW;
	memset(&n.traffic, 0, sizeof(n.traffic));
	on_flow(t, &n);
}

void udpflows_event(struct udpflows *t, const struct netlog_event *e)
{
	switch (e->type) {
	case NETLOG_UDP_MOVED:
		on_moved(t, e);
		break;
	case NETLOG_UDP_FLOW:
		on_flow(t, e);
		break;
	case NETLOG_UDP_CLAIM:
		on_claim(t, e);
		break;
	case NETLOG_UDP_RECEIVER:
		on_receiver(t, e);
		break;
	case NETLOG_UDP_CLOSE:
		on_close(t, e);
		break;
	}
}

static uint64_t ns_of(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/*
 * The kernel's time of a flow's last datagram, CLOCK_MONOTONIC to a tick
 * (see netlog.h), on @now's clock, CLOCK_BOOTTIME, and at the latest it may
 * have been (the coarse clock lags by up to a tick): an idle stop is never
 * early, at most a tick late. No later than @now.
 */
static uint64_t boottime_of(uint64_t mono, uint64_t now)
{
	static uint64_t tick = UINT64_MAX;
	struct timespec m, b;
	uint64_t last;

	if (tick == UINT64_MAX)
		tick = clock_getres(CLOCK_MONOTONIC_COARSE, &m) ? 0 : ns_of(&m);
	/* the clocks' offset, read together: not against @now, read some time ago */
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_BOOTTIME, &b);
	last = mono + tick + (ns_of(&b) - ns_of(&m));
	return last < now ? last : now;
}

/* @f's latest datagram as the kernel counted it (tracked flows only: the others are reported again). */
static void refresh_seen(struct udpflows *t, struct udpflow *f, uint64_t now)
{
	struct netlog_flow_key k;
	struct netlog_flow v;
	uint64_t last;

	if (kernel_entry(t, &f->ev, &k) && bpf_map_lookup_elem(t->map_fd, &k, &v) == 0) {
		last = boottime_of(v.last_ns, now);
		if (last > f->seen_ns)
			f->seen_ns = last;
	}
}

/* Whether @f saw no datagram for the idle timeout, asking the kernel's count. */
static bool idle(struct udpflows *t, struct udpflow *f, uint64_t now)
{
	if (now < f->seen_ns + t->idle_ns || touches_own(t, f))
		return false;
	refresh_seen(t, f, now);
	return now >= f->seen_ns + t->idle_ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define ROOM_SAMPLE 4096

/*
 * The table is full: a sixteenth of it, the flows quiet longest, stop now,
 * at @now, as if idle; a later datagram starts one again. An early stop is
 * better than a start that never gets one. Where the quietest end is found
 * from a sample of what the daemon knows; the candidates are then asked of
 * the kernel, which alone knows a tracked flow's last datagram, and the
 * busy ones spared.
 */
static void make_room(struct udpflows *t, uint64_t now)
{
	size_t share = t->max / 16 ? t->max / 16 : 1, want = share;
	size_t step = t->count / ROOM_SAMPLE + 1, n = 0, i = 0;
	uint64_t sample[ROOM_SAMPLE], cut;

	for (size_t b = 0; b < t->nbuckets; b++)
		for (struct udpflow *f = t->by_key[b]; f && n < ROOM_SAMPLE; f = f->next)
			if (i++ % step == 0)
				sample[n++] = f->seen_ns;
	if (!n)
		return;
	qsort(sample, n, sizeof(*sample), cmp_u64);
	cut = sample[n / 8]; /* twice the share: some candidates turn out busy */
	/* sparing the busy ones; if every candidate was, a second round spares none */
	for (int spare = 1; spare >= 0 && want == share; spare--) {
		for (size_t b = 0; b < t->nbuckets && want; b++) {
			struct udpflow *f = t->by_key[b], *next;

			for (; f && want; f = next) {
				next = f->next;
				if (spare) {
					if (f->seen_ns > cut)
						continue;
					refresh_seen(t, f, now);
					if (f->seen_ns > cut)
						continue;
				}
				stop(t, f, now, NULL);
				t->ended_early++;
				want--;
			}
		}
	}
}

void udpflows_tick(struct udpflows *t, uint64_t now, bool sweep)
{
	/* the waiting list, oldest first: only those due, not the whole table */
	while (t->waiting && now >= t->waiting->ev.ts_ns + t->claim_wait_ns)
		start(t, t->waiting);
	if (!sweep)
		return;
	for (size_t b = 0; b < t->nbuckets && t->count; b++) {
		struct udpflow *f = t->by_key[b];

		while (f) {
			struct udpflow *next = f->next;

			if (idle(t, f, now))
				stop(t, f, now, NULL);
			f = next;
		}
	}
}

void udpflows_flush(struct udpflows *t)
{
	while (t->waiting)
		start(t, t->waiting);
}

void udpflows_free(struct udpflows *t)
{
	for (size_t b = 0; t->by_key && b < t->nbuckets; b++) {
		struct udpflow *f = t->by_key[b];

		while (f) {
			struct udpflow *next = f->next;

			free(f);
			f = next;
		}
	}
	free(t->by_key);
	free(t->by_sock);
	memset(t, 0, sizeof(*t));
	t->map_fd = -1;
	t->untracked_fd = -1;
}
