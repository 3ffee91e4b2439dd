/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-side helpers: reading a task and a socket.
 *
 * netlogd carries two builds of the programs and loads the one the running
 * kernel can verify (loader.c probes it):
 *  - the default build reads BTF-typed pointers (current task, sockops'
 *    tcp_sock, tracepoint and iterator arguments) with direct, CO-RE
 *    relocated loads rather than bpf_probe_read calls, since this runs
 *    several times per connection; and it settles races with fetching
 *    atomics (compare-and-swap, fetch-or);
 *  - the NETLOG_COMPAT build, for kernels before 5.12 (Debian 11's 5.10),
 *    which have neither bpf_get_current_task_btf() nor fetching atomics:
 *    it reads through bpf_get_current_task() and probe reads (KREAD), and
 *    uses only plain stores and atomic add (see bits_set(), claim_once()).
 * Both builds come from this same source and keep the same maps, programs
 * and variables, so one skeleton drives either.
 */
#ifndef NETLOG_BPF_H
#define NETLOG_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "netlog.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_DGRAM 2
#define SHUTDOWN_MASK 3
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/*
 * KREAD(p, a, b, ...) reads p->a->b...: a direct load in the default build,
 * a chain of CO-RE probe reads in the compat one.
 */
#ifdef NETLOG_COMPAT
#define KREAD(...) BPF_CORE_READ(__VA_ARGS__)
#else
#define KREAD(...) (___arrow(__VA_ARGS__))
#endif

/* The current task: BTF-typed where the kernel can give one. */
static __always_inline struct task_struct *current_task(void)
{
#ifdef NETLOG_COMPAT
	return (struct task_struct *)bpf_get_current_task();
#else
	return bpf_get_current_task_btf();
#endif
}

/* Copy 16 bytes of comm: two direct loads, or a probe read. */
#ifdef NETLOG_COMPAT
#define COMM_COPY(dst, src) bpf_probe_read_kernel((dst), 16, (src))
#else
#define COMM_COPY(dst, src) __builtin_memcpy((dst), (src), 16)
#endif

/*
 * Set @bit in *@bits and return the bits set before, @bit left out. A
 * connection's accept() and its handshake each set their own bit and look
 * for the other's: one of them at least must see both. Without fetch-or
 * (compat), a locked add, done once per bit, orders the write before the
 * read that follows; both may then see both.
 */
static __always_inline __u32 bits_set(__u32 *bits, __u32 bit)
{
#ifdef NETLOG_COMPAT
	if (*bits & bit)
		return *bits & ~bit;
	__sync_fetch_and_add(bits, bit);
	return *bits & ~bit;
#else
	return __sync_fetch_and_or(bits, bit) & ~bit;
#endif
}

/*
 * Turn *@flag from 0 to 1: true for the caller that did. Without
 * compare-and-swap (compat) two racing callers can both win; the daemon
 * keeps the first of two starts of one socket.
 */
static __always_inline bool claim_once(__u32 *flag)
{
#ifdef NETLOG_COMPAT
	if (*flag)
		return false;
	*flag = 1;
	return true;
#else
	return __sync_val_compare_and_swap(flag, 0, 1) == 0;
#endif
}

/*
 * A flow's last datagram time, CLOCK_MONOTONIC: it only decides when a
 * flow goes idle. It is read on every datagram: the coarse clock reads the
 * time of the last tick, 15 ns a call here against 38 for
 * bpf_ktime_get_boot_ns(). Compat kernels lack it (5.11).
 */
static __always_inline __u64 flow_clock(void)
{
#ifdef NETLOG_COMPAT
	return bpf_ktime_get_ns();
#else
	return bpf_ktime_get_coarse_ns();
#endif
}

/* flow_clock() in a tracing program, which may not read the coarse clock: the same clock, exact. */
static __always_inline __u64 flow_clock_traced(void)
{
	return bpf_ktime_get_ns();
}

/* Set @bit in *@bits, nothing returned. */
static __always_inline void bits_or(__u32 *bits, __u32 bit)
{
#ifdef NETLOG_COMPAT
	if (!(*bits & bit))
		__sync_fetch_and_add(bits, bit);
#else
	__sync_fetch_and_or(bits, bit);
#endif
}

static __always_inline int exe_note(struct task_struct *task, struct netlog_proc *p);

/* Fill @p from @task: everything is read now, never looked up later. */
static __always_inline void proc_from_task(struct netlog_proc *p, struct task_struct *task)
{
	struct task_struct *leader = KREAD(task, group_leader);
	struct pid *session = KREAD(task, signal, pids[PIDTYPE_SID]);

	p->tgid = KREAD(task, tgid);
	p->tid = KREAD(task, pid);
	/* numbers[0] is the pid in the initial pid namespace */
	p->sid = session ? KREAD(session, numbers[0].nr) : 0;
	p->ppid = KREAD(task, real_parent, tgid);
	p->uid = KREAD(task, real_cred, uid.val);
	p->euid = KREAD(task, real_cred, euid.val);
	p->auid = NETLOG_NO_AUID;
	if (bpf_core_field_exists(task->loginuid)) /* kernels without audit lack it */
		p->auid = KREAD(task, loginuid.val);
	p->cgroup_id = KREAD(task, cgroups, dfl_cgrp, kn, id);
	exe_note(task, p);
	/* the kernel keeps comm NUL-padded */
	COMM_COPY(p->comm, leader->comm);
	COMM_COPY(p->thread_comm, task->comm);
}

/*
 * The current process's id. Through the task, not bpf_get_current_pid_tgid():
 * kernels before 6.10 refuse that helper in sockops and cgroup_skb programs.
 */
static __always_inline __u32 current_tgid(void)
{
	return KREAD(current_task(), tgid);
}

/* bpf_get_current_pid_tgid()'s value, from the task: every program type may read that. */
static __always_inline __u64 current_pid_tgid(void)
{
	struct task_struct *task = current_task();

	return (__u64)KREAD(task, tgid) << 32 | (__u32)KREAD(task, pid);
}

static __always_inline void proc_from_current(struct netlog_proc *p)
{
	proc_from_task(p, current_task());
}

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h, unchanged since 2.6 */

/*
 * The process that closes a socket: the current one, unless it is a kernel
 * thread (a worker that does the last put of a socket nobody holds: one
 * freed by the SCM_RIGHTS garbage collector, or by io_uring). Then no
 * process closed it, and the stop names the last known owner: false.
 *
 * A process that exits closes its sockets after it has let go of its
 * memory map, and with it the name of its executable: that of @owner is
 * taken then, if it is the same process under the same name (an exec since
 * would have changed the name, most likely).
 */
static __always_inline bool closer_from_current(struct netlog_proc *p, const struct netlog_proc *owner)
{
	struct task_struct *task = current_task();
	__u64 a[2], b[2];

	if (KREAD(task, flags) & PF_KTHREAD)
		return false;
	proc_from_task(p, task);
	if (p->exe_id || p->tgid != owner->tgid)
		return true;
	__builtin_memcpy(a, p->comm, sizeof(a));
	__builtin_memcpy(b, owner->comm, sizeof(b));
	if (a[0] == b[0] && a[1] == b[1])
		p->exe_id = owner->exe_id;
	return true;
}

/* IPv4 addresses are stored IPv4-mapped: ::ffff:a.b.c.d */
static __always_inline void addr_from_v4(__u8 dst[16], __be32 v4)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &v4, 4);
}

/* The body of tuple_from_sock(), with READ(sk, field...) the way to read. */
#define TUPLE_FROM_SOCK(t, sk, READ)                                                               \
	do {                                                                                       \
		__u16 family = READ(sk, __sk_common.skc_family);                                   \
                                                                                                   \
		(t)->family = family;                                                              \
		(t)->protocol = READ(sk, sk_protocol);                                             \
		/* at TCP_CLOSE the port is already released (skc_num 0); inet_sport stays */     \
		(t)->lport = READ(sk, __sk_common.skc_num);                                        \
		if (!(t)->lport)                                                                   \
			(t)->lport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)(sk), inet_sport)); \
		(t)->rport = bpf_ntohs(READ(sk, __sk_common.skc_dport));                           \
		(t)->netns = READ(sk, __sk_common.skc_net.net, ns.inum);                           \
		if (family == AF_INET) {                                                           \
			addr_from_v4((t)->laddr, READ(sk, __sk_common.skc_rcv_saddr));             \
			addr_from_v4((t)->raddr, READ(sk, __sk_common.skc_daddr));                 \
		} else {                                                                           \
			bpf_probe_read_kernel((t)->laddr, 16,                                      \
					      (sk)->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);  \
			bpf_probe_read_kernel((t)->raddr, 16,                                      \
					      (sk)->__sk_common.skc_v6_daddr.in6_u.u6_addr8);      \
		}                                                                                  \
	} while (0)

static __always_inline void tuple_from_sock(struct tuple *t, const struct sock *sk)
{
	TUPLE_FROM_SOCK(t, sk, KREAD);
}

/* The same from a socket pointer read out of memory, which only probe reads may follow. */
static __always_inline void tuple_from_sock_probed(struct tuple *t, const struct sock *sk)
{
	TUPLE_FROM_SOCK(t, sk, BPF_CORE_READ);
}

/*
 * A cgroup socket hook's view of its socket, for a process-context event.
 * @v6 must be a constant: an IPv4 hook may not even read the IPv6 fields.
 */
/*
 * The network namespace @sk was made in, which its holder may have left
 * (setns()) or never been in (a socket handed over with SCM_RIGHTS, as
 * systemd hands a service in a private namespace its sockets). @sk may be
 * a hook's context that is the socket itself: probe reads.
 */
static __always_inline __u32 sock_netns(const void *sk)
{
	return BPF_CORE_READ((const struct sock *)sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline void tuple_from_bpf_sock(struct tuple *t, const struct bpf_sock *ctx, bool v6)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->family = ctx->family;
	t->protocol = ctx->protocol;
	t->lport = ctx->src_port;
	t->netns = sock_netns(ctx);
	if (!v6) {
		addr_from_v4(t->laddr, ctx->src_ip4);
	} else {
		__u32 *w = (__u32 *)t->laddr;

		w[0] = ctx->src_ip6[0];
		w[1] = ctx->src_ip6[1];
		w[2] = ctx->src_ip6[2];
		w[3] = ctx->src_ip6[3];
	}
}

/* UDP, or UDP-Lite: the same sockets and headers, another protocol number */
static __always_inline bool proto_is_udp(__u32 protocol)
{
	return protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE;
}

static __always_inline bool sk_is_inet_tcp(const struct sock *sk)
{
	__u16 family = KREAD(sk, __sk_common.skc_family);

	return (family == AF_INET || family == AF_INET6) && KREAD(sk, sk_protocol) == IPPROTO_TCP;
}

#endif /* NETLOG_BPF_H */
