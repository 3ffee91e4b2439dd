// SPDX-License-Identifier: GPL-2.0
/*
 * The floor: programs that do nothing, on every hook netlogd uses. What
 * they cost is what the hooks cost, whatever the programs do; make bench
 * runs them beside netlogd so the two can be told apart.
 *
 * sockops asks for state callbacks at the same points netlogd does, so it
 * runs as often.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("sockops")
int floor_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	}
	return 1;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_set_state, struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(floor_recv_length, struct sock *sk, int ret, int flags)
{
	return 0;
}

#define NOTHING(sec, name, ctx_type, ret)	\
	SEC(sec) int name(ctx_type *ctx) { return ret; }

NOTHING("cgroup_skb/egress", floor_egress, struct __sk_buff, 1)
NOTHING("cgroup_skb/ingress", floor_ingress, struct __sk_buff, 1)
NOTHING("cgroup/recvmsg4", floor_recvmsg4, struct bpf_sock_addr, 1)
NOTHING("cgroup/recvmsg6", floor_recvmsg6, struct bpf_sock_addr, 1)
NOTHING("cgroup/connect4", floor_connect4, struct bpf_sock_addr, 1)
NOTHING("cgroup/connect6", floor_connect6, struct bpf_sock_addr, 1)
NOTHING("cgroup/post_bind4", floor_post_bind4, struct bpf_sock, 1)
NOTHING("cgroup/post_bind6", floor_post_bind6, struct bpf_sock, 1)
NOTHING("cgroup/sock_release", floor_sock_release, struct bpf_sock, 1)
NOTHING("tracepoint/syscalls/sys_exit_accept4", floor_exit_accept4, void, 0)
NOTHING("tracepoint/syscalls/sys_exit_accept", floor_exit_accept, void, 0)
NOTHING("tracepoint/syscalls/sys_exit_connect", floor_exit_connect, void, 0)
NOTHING("tracepoint/sched/sched_process_exec", floor_exec, void, 0)
NOTHING("tp_btf/sched_process_fork", floor_fork, void, 0)
NOTHING("tracepoint/cgroup/cgroup_mkdir", floor_cgroup_mkdir, void, 0)
NOTHING("tracepoint/cgroup/cgroup_rmdir", floor_cgroup_rmdir, void, 0)

char LICENSE[] SEC("license") = "GPL";
