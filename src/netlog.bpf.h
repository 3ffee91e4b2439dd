/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel-side helpers: reading a task and a socket into the event record. */
#ifndef NETLOG_BPF_H
#define NETLOG_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "netlog.h"

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Fill @p from @task: everything is read now, never looked up later. */
static __always_inline void proc_from_task(struct netlog_proc *p, struct task_struct *task)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct pid *session = BPF_CORE_READ(task, signal, pids[PIDTYPE_SID]);

	p->tgid = BPF_CORE_READ(task, tgid);
	p->tid = BPF_CORE_READ(task, pid);
	/* numbers[0] is the pid in the initial pid namespace */
	p->sid = session ? BPF_CORE_READ(session, numbers[0].nr) : 0;
	p->uid = BPF_CORE_READ(task, real_cred, uid.val);
	BPF_CORE_READ_STR_INTO(&p->comm, leader, comm);
	BPF_CORE_READ_STR_INTO(&p->thread_comm, task, comm);
}

static __always_inline void proc_from_current(struct netlog_proc *p)
{
	proc_from_task(p, (struct task_struct *)bpf_get_current_task());
}

static __always_inline bool sk_is_inet_tcp(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family != AF_INET && family != AF_INET6)
		return false;
	return BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

/* IPv4 addresses are stored IPv4-mapped: ::ffff:a.b.c.d */
static __always_inline void addr_from_v4(__u8 dst[16], __be32 v4)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &v4, 4);
}

/* The socket's addresses, ports, family, protocol and namespace. */
static __always_inline void event_from_sock(struct netlog_event *e, const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	e->family = family;
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	/* at TCP_CLOSE the port is already released (skc_num 0); inet_sport stays */
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!e->lport)
		e->lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (family == AF_INET) {
		addr_from_v4(e->laddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		addr_from_v4(e->raddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	} else {
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

#endif /* NETLOG_BPF_H */
