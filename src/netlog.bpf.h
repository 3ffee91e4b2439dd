/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-side helpers: reading a task and a socket. Both take BTF-typed
 * pointers (current task, sockops' tcp_sock, tracepoint and iterator
 * arguments), so every field is a direct, CO-RE relocated load rather than
 * a bpf_probe_read call: this runs several times per connection.
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
#define SHUTDOWN_MASK 3

/* The addresses, ports and namespace of a socket, as events carry them. */
struct tuple {
	__u8 laddr[16];
	__u8 raddr[16];
	__u32 netns;
	__u16 lport;
	__u16 rport;
	__u16 family;
	__u8 protocol;
	__u8 pad;
};

static __always_inline int exe_note(struct task_struct *task, struct netlog_proc *p);

/* Fill @p from @task: everything is read now, never looked up later. */
static __always_inline void proc_from_task(struct netlog_proc *p, struct task_struct *task)
{
	struct task_struct *leader = task->group_leader;
	struct pid *session = task->signal->pids[PIDTYPE_SID];

	p->tgid = task->tgid;
	p->tid = task->pid;
	/* numbers[0] is the pid in the initial pid namespace */
	p->sid = session ? session->numbers[0].nr : 0;
	p->ppid = task->real_parent->tgid;
	p->uid = task->real_cred->uid.val;
	p->euid = task->real_cred->euid.val;
	p->auid = NETLOG_NO_AUID;
	if (bpf_core_field_exists(task->loginuid)) /* kernels without audit lack it */
		p->auid = task->loginuid.val;
	p->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	exe_note(task, p);
	/* 16 bytes as two direct loads; the kernel keeps comm NUL-padded */
	__builtin_memcpy(p->comm, leader->comm, sizeof(p->comm));
	__builtin_memcpy(p->thread_comm, task->comm, sizeof(p->thread_comm));
}

/*
 * The current process's id. Through the task, not bpf_get_current_pid_tgid():
 * kernels before 6.10 refuse that helper in sockops and cgroup_skb programs.
 */
static __always_inline __u32 current_tgid(void)
{
	return bpf_get_current_task_btf()->tgid;
}

static __always_inline void proc_from_current(struct netlog_proc *p)
{
	proc_from_task(p, bpf_get_current_task_btf());
}

/* IPv4 addresses are stored IPv4-mapped: ::ffff:a.b.c.d */
static __always_inline void addr_from_v4(__u8 dst[16], __be32 v4)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &v4, 4);
}

static __always_inline void tuple_from_sock(struct tuple *t, const struct sock *sk)
{
	const struct sock_common *skc = &sk->__sk_common;
	__u16 family = skc->skc_family;

	t->family = family;
	t->protocol = sk->sk_protocol;
	/* at TCP_CLOSE the port is already released (skc_num 0); inet_sport stays */
	t->lport = skc->skc_num;
	if (!t->lport)
		t->lport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	t->rport = bpf_ntohs(skc->skc_dport);
	t->netns = skc->skc_net.net->ns.inum;
	if (family == AF_INET) {
		addr_from_v4(t->laddr, skc->skc_rcv_saddr);
		addr_from_v4(t->raddr, skc->skc_daddr);
	} else {
		bpf_probe_read_kernel(t->laddr, 16, skc->skc_v6_rcv_saddr.in6_u.u6_addr8);
		bpf_probe_read_kernel(t->raddr, 16, skc->skc_v6_daddr.in6_u.u6_addr8);
	}
}

/*
 * A cgroup socket hook's view of its socket, for a process-context event.
 * @v6 must be a constant: an IPv4 hook may not even read the IPv6 fields.
 */
static __always_inline void tuple_from_bpf_sock(struct tuple *t, const struct bpf_sock *ctx, bool v6)
{
	struct task_struct *task = bpf_get_current_task_btf();

	__builtin_memset(t, 0, sizeof(*t));
	t->family = ctx->family;
	t->protocol = ctx->protocol;
	t->lport = ctx->src_port;
	/* the socket lives in the namespace of the process binding it */
	t->netns = task->nsproxy->net_ns->ns.inum;
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

static __always_inline bool sk_is_inet_tcp(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	return (family == AF_INET || family == AF_INET6) && sk->sk_protocol == IPPROTO_TCP;
}

#endif /* NETLOG_BPF_H */
