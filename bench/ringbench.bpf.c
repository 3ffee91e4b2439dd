// SPDX-License-Identifier: GPL-2.0
/*
 * What emitting an event costs, by itself: on every getppid() of the
 * process, a record of netlogd's event size is reserved, filled and
 * submitted to a ring buffer, shared by all CPUs (as netlogd's is) or one
 * per CPU. Driven by bench/ringbench.c.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "netlog.h"

#define RING_CPUS 2 /* rings of their own for CPUs 0 and 1; the others share ring 0 */

struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
};

struct ring ring0 SEC(".maps");
struct ring ring1 SEC(".maps");

/* set by ringbench between its runs */
struct settings {
	__u32 tgid; /* only this process's calls */
	__u32 mode; /* 0: nothing, 1: one ring, 2: a ring per CPU */
} settings;

SEC("tp/syscalls/sys_enter_getppid")
int emit(void *ctx)
{
	struct netlog_event *e;
	void *ring = &ring0;

	if ((bpf_get_current_pid_tgid() >> 32) != settings.tgid || settings.mode == 0)
		return 0;
	if (settings.mode == 2 && bpf_get_smp_processor_id() == 1)
		ring = &ring1;
	e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_boot_ns();
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
