// SPDX-License-Identifier: GPL-2.0
/*
 * netlog kernel side: turns TCP socket life cycles into per-connection
 * listen/connect start/stop records, with the right process on each.
 *
 * Hooks, all stable:
 *   sockops (cgroup)               listen, connect, established, and every
 *                                  later state change of those sockets
 *   tracepoint sys_exit_accept(4)  who accepted an incoming connection
 *   iter/task_file                 sockets that exist when netlogd starts
 *   tp_btf/inet_sock_set_state     the state changes of those pre-existing
 *                                  sockets, which sockops does not watch
 *
 * sockops carries the main path because cgroup programs always run: a
 * tracing program is skipped when it fires while another runs on the same
 * CPU (softirq over process context), which would lose a start or a stop.
 *
 * Per-socket state lives in `conns`, keyed by the socket's kernel address,
 * from the first event of a socket until it reaches TCP_CLOSE (or, for an
 * accepted connection, until its process lets it go: conn_closed()).
 */
#include "netlog.bpf.h"

#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct listener_key {
	__u8 addr[16];
	__u32 netns;
	__u16 port;
	__u16 pad;
};

/*
 * Events, on two rings: TCP's and UDP's. A flood of datagrams from forged
 * sources starts a flow per source, and would push out of a shared ring
 * the TCP connections it was sent to hide; each ring loses only its own.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by netlogd before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by netlogd before load */
} udp_events SEC(".maps");

enum ring { RING_TCP, RING_UDP };

/* Always inlined with a constant @r: the verifier sees one map at each call. */
static __always_inline void *ring_map(enum ring r)
{
	return r == RING_UDP ? (void *)&udp_events : (void *)&events;
}

static __always_inline __u32 ring_drop(enum ring r)
{
	return r == RING_UDP ? NETLOG_DROP_RINGBUF_UDP : NETLOG_DROP_RINGBUF;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by netlogd before load */
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

/*
 * UDP sockets, by cookie: those bound by bind() (a listen: role
 * ROLE_LISTENER) and those with flows (has_flows), until closed.
 * The owner is the last process seen using the socket.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized with conns */
	__type(key, __u64);
	__type(value, struct conn);
} udp_socks SEC(".maps");

/* UDP flows: counted here per datagram, reported once, ended by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by netlogd before load */
	__type(key, struct netlog_flow_key);
	__type(value, struct netlog_flow);
} udp_flows SEC(".maps");

/*
 * Flows reported untracked (the flow table was full), and when (flow_clock()):
 * one record per flow and refresh period, not per datagram, however many
 * such flows take turns. Sized by netlogd with the flow table.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct netlog_flow_key);
	__type(value, __u64);
} untracked_seen SEC(".maps");

/*
 * UDP sockets with an incoming flow no process may have received from yet:
 * the next process that receives on the socket without asking whose
 * datagram it read (recv(), read()) names it.
 */
struct recv_awaited {
	__u32 awaited; /* an incoming flow was reported since the last such receive */
	__u32 asker;   /* the thread whose receive now in progress asked the source */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct recv_awaited);
} recv_awaited SEC(".maps");

/*
 * An untracked flow is reported again this long after (netlogd sets half its
 * idle timeout): the daemon, with no count to look at, would end it as idle.
 */
__u64 untracked_refresh_ns = 30000000000ull;

/*
 * Incoming connections that closed before accept() (a reset, say), by
 * cookie: reported then, start and stop. accept() can still return one on
 * another CPU, with no entry left and its state not yet CLOSE (the kernel
 * stores that after the state-change callback): it must start it no more.
 * Recent ones are enough: that window is a few microseconds.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 2048);
	__type(key, __u64);
	__type(value, __u8);
} closed_unaccepted SEC(".maps");

/* The owner of each listening address, for connections nobody accepts. */
struct listen_owner {
	struct netlog_proc owner;
	__u64 sock; /* which listener: with SO_REUSEPORT several share an address */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* or --max-sockets / 8, set by netlogd before load */
	__type(key, struct listener_key);
	__type(value, struct listen_owner);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETLOG_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/*
 * Wake the daemon only once this much is waiting; it also drains the buffer
 * on a short timer. One wakeup per event would cost more than the event.
 * The wakeup is forced: the kernel's own (flags 0) comes only for a record
 * the reader has caught up with, never while others wait before it, so the
 * timer alone would drain a busy buffer (and a 1 MiB one overflowed at
 * 40 000 connections a second). At most once a millisecond, not at every
 * record while the daemon does not drain (stopped, or busy): each forced
 * wakeup is an interrupt. CPUs racing to store the time cost a wakeup more.
 */
const volatile __u64 wakeup_bytes = 0;
__u64 wakeup_forced_ns[2]; /* CLOCK_MONOTONIC, by ring */
#define WAKEUP_GAP_NS 1000000ull

/*
 * Whether the accept() tracepoints run. Without them an incoming connection
 * starts at its handshake, in the name of the listener's owner.
 */
const volatile bool accept_hook = true;

/*
 * Tests only (NETLOG_TEST_SKIP_CLOSE_PORT): the state-change tracepoint
 * leaves the CLOSE of the sockets whose entry has this local port, as a
 * run the kernel skipped would, and counts it as one, so that check_conn()
 * is tested.
 */
const volatile __u16 test_skip_close_port = 0;
__u64 test_skipped;

/* Whether tp_btf/sock_recv_length runs, which reads recv_awaited (kernels from 6.3). */
const volatile bool recv_hook = false;

/*
 * Executables' paths: each id (see netlog_exe) is reported once on the names
 * ring buffer, which the daemon reads before events; then only remembered
 * here, until the LRU forgets it (or the daemon, out of room, deletes it)
 * and it is reported again.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct netlog_exe_key);
	__type(value, __u8);
} exes_seen SEC(".maps");

/* About 1 KiB a path: a quarter of the events' ring, resized by netlogd before load */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} names SEC(".maps");

/* A zeroed socket entry to insert, never written: see udp_sock_get(). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct conn);
} conn_zero SEC(".maps");

/* What netlogd reads and writes while the programs run (netlog.h). */
struct netlog_ctl ctl;

/*
 * Ports that "ignore = port N" rules name (the daemon sets them, and how
 * many in ctl): their sockets are not tracked and their datagrams not
 * looked at.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} ignored_ports SEC(".maps");

static __always_inline bool port_ignored(__u16 port)
{
	__u32 k = port;
	__u8 *v;

	if (!ctl.ignored_ports_n)
		return false;
	v = bpf_map_lookup_elem(&ignored_ports, &k);
	return v && *v;
}

static __always_inline bool ports_ignored(__u16 lport, __u16 rport)
{
	return ctl.ignored_ports_n && (port_ignored(lport) || port_ignored(rport));
}

/*
 * Address rules ("ignore = address CIDR", "ignore = loopback"), for UDP
 * datagrams: those of ignored flows are not looked at.
 */
struct net_key {
	__u32 prefixlen; /* of the IPv4-mapped form */
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct net_key);
	__type(value, __u8);
} ignored_nets SEC(".maps");

static __always_inline bool net_ignored(const __u8 addr[16])
{
	struct net_key k = { .prefixlen = 128 };

	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&ignored_nets, &k) != NULL;
}

static __always_inline bool is_loopback(const __u8 a[16])
{
	const __u32 *w = (const __u32 *)a;

	return (w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == bpf_htonl(1)) ||
	       (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff) && a[12] == 127);
}

static __always_inline bool addrs_ignored(const __u8 laddr[16], const __u8 raddr[16])
{
	if (ctl.ignored_nets_n && (net_ignored(laddr) || net_ignored(raddr)))
		return true;
	return ctl.ignore_loopback && is_loopback(raddr);
}

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	/* atomic: a softirq's program may count on this CPU between a load and a store */
	if (n)
		__sync_fetch_and_add(n, 1);
}

/*
 * Global, so the verifier checks it once rather than at each of its
 * callers. Walk @exe's path up to the root of its mount namespace (a
 * container's own root; a chroot's is no stop: it would make the path the
 * chrooted process sees, shorter than where the file lies, and a chroot
 * after the exec would not be seen), crossing mount points, and report it:
 * one component per step, leaf first.
 */
__noinline int exe_report(__u64 exe_ptr, __u64 id)
{
	struct file *exe = (struct file *)exe_ptr;
	struct netlog_exe_key k = { .id = id };
	__u64 mnt_off = bpf_core_field_offset(struct mount, mnt);
	struct netlog_exe *r = bpf_ringbuf_reserve(&names, sizeof(*r), 0);
	struct dentry *d, *parent;
	struct vfsmount *vmnt;
	struct mount *mnt, *up;
	const unsigned char *name;
	__u32 n = 0;
	__u8 one = 1;

	if (!r) {
		count_drop(NETLOG_DROP_NAMES);
		return 0;
	}
	r->kind = NETLOG_NAME_EXE;
	r->flags = 0;
	r->id = id;
	r->truncated = 0;
	r->cut = 0;
	d = BPF_CORE_READ(exe, f_path.dentry);
	vmnt = BPF_CORE_READ(exe, f_path.mnt);
	mnt = (void *)vmnt - mnt_off;
	/* one component per step, so the verifier sees a single counter */
	for (n = 0; n < NETLOG_EXE_DEPTH; n++) {
		/* at the root of a mount, continue from where it is mounted (twice: stacked mounts) */
		for (int m = 0; m < 2 && d == BPF_CORE_READ(vmnt, mnt_root); m++) {
			up = BPF_CORE_READ(mnt, mnt_parent);
			if (up == mnt)
				break; /* the namespace's root */
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vmnt = (void *)mnt + mnt_off;
		}
		parent = BPF_CORE_READ(d, d_parent);
		if (d == BPF_CORE_READ(vmnt, mnt_root))
			break;
		if (d == parent) {
			if (n > 0)
				break;
			/* a file of no directory, a memfd's: its own name (fileless code says so) */
			r->flags = NETLOG_EXE_PSEUDO;
		}
		name = BPF_CORE_READ(d, d_name.name);
		bpf_probe_read_kernel_str(r->comp[n], NETLOG_EXE_NAME_LEN, name);
		if (BPF_CORE_READ(d, d_name.len) >= NETLOG_EXE_NAME_LEN)
			r->cut |= 1u << n;
		d = parent;
		if (r->flags) {
			n++;
			break;
		}
	}
	if (n == NETLOG_EXE_DEPTH && d != BPF_CORE_READ(d, d_parent))
		r->truncated = 1;
	r->ncomp = n;
	bpf_ringbuf_submit(r, 0);
	bpf_map_update_elem(&exes_seen, &k, &one, BPF_ANY);
	return 0;
}

static __always_inline __u64 exe_mix(__u64 h, __u64 v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

/* Before 6.8 a mount has no id that is never reused: its namespace's sequence number is. */
struct mnt_namespace___seq {
	u64 seq;
} __attribute__((preserve_access_index));

/*
 * The id of executable @exe (see netlog_exe): what its path is known by.
 * The mount is read as a number (the verifier allows no arithmetic on
 * pointers), then what tells it from a later one at the same address.
 */
static __always_inline __u64 exe_id(struct file *exe)
{
	__u64 h = KREAD(exe, f_inode, i_ino), mnt = 0;
	struct mnt_namespace___seq *ns;
	struct mount *m;

	BPF_CORE_READ_INTO(&mnt, exe, f_path.mnt);
	m = (struct mount *)(mnt - bpf_core_field_offset(struct mount, mnt));
	h = exe_mix(h, KREAD(exe, f_inode, i_sb, s_dev));
	h = exe_mix(h, KREAD(exe, f_inode, i_generation));
	h = exe_mix(h, mnt);
	if (bpf_core_field_exists(struct mount, mnt_id_unique))
		h = exe_mix(h, BPF_CORE_READ(m, mnt_id_unique));
	else if ((ns = (void *)BPF_CORE_READ(m, mnt_ns)))
		h = exe_mix(h, BPF_CORE_READ(ns, seq));
	return h ?: 1;
}

/*
 * Each process's executable, by its pid and start time (a pid is reused),
 * from its fork, its exec or start-up: an exiting process has let go of its
 * memory, and so of its executable, before the kernel closes its files.
 */
struct proc_key {
	__u32 tgid;
	__u32 pad;
	__u64 start; /* the thread-group leader's start time */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct proc_key);
	__type(value, __u64); /* exe id */
} proc_exes SEC(".maps");

static __always_inline void proc_key_of(struct proc_key *k, struct task_struct *task)
{
	k->tgid = KREAD(task, tgid);
	k->pad = 0;
	k->start = KREAD(task, group_leader, start_time);
}

/* The executable of @task, which exits, as its fork, exec or start-up left it; 0: not known. */
static __always_inline __u64 exe_remembered(struct task_struct *task)
{
	struct proc_key k;
	__u64 *id;

	proc_key_of(&k, task);
	id = bpf_map_lookup_elem(&proc_exes, &k);
	return id ? *id : 0;
}

/* Name @task's executable in @p, by the id the daemon knows its path by. */
static __always_inline int exe_note(struct task_struct *task, struct netlog_proc *p)
{
	struct file *exe = KREAD(task, mm, exe_file);

	p->pad = 0;
	if (exe)
		p->exe_id = exe_id(exe);
	else /* exiting, or a kernel thread, which has none */
		p->exe_id = KREAD(task, flags) & PF_KTHREAD ? 0 : exe_remembered(task);
	return 0;
}

/* Report @task's executable's path, unless it was lately; remember it as @task's. */
static __always_inline void exe_learn(struct task_struct *task)
{
	struct file *exe = KREAD(task, mm, exe_file);
	struct netlog_exe_key k = {};
	struct proc_key pk;

	if (!exe)
		return; /* a kernel thread */
	k.id = exe_id(exe);
	proc_key_of(&pk, task);
	bpf_map_update_elem(&proc_exes, &pk, &k.id, BPF_ANY);
	/* exe_report() takes a number: a probe read gives it */
	if (!bpf_map_lookup_elem(&exes_seen, &k))
		exe_report((__u64)BPF_CORE_READ(task, mm, exe_file), k.id);
}

/* cgroup:cgroup_mkdir's record */
struct cgroup_mkdir_args {
	__u64 common;
	int root;	/* hierarchy: 0 is cgroup v2 */
	int level;
	__u64 id;
	__u32 path_loc; /* __data_loc: offset in the low 16 bits */
};

/* A cgroup v2 directory was made: its path, for the events of its processes. */
SEC("tracepoint/cgroup/cgroup_mkdir")
int cgroup_mkdir(struct cgroup_mkdir_args *ctx)
{
	struct netlog_cgroup *r;
	long len;

	if (ctx->root != 0)
		return 0;
	r = bpf_ringbuf_reserve(&names, sizeof(*r), 0);
	if (!r) {
		count_drop(NETLOG_DROP_NAMES);
		return 0;
	}
	r->kind = NETLOG_NAME_CGROUP;
	r->id = ctx->id;
	len = bpf_probe_read_kernel_str(r->path, sizeof(r->path), (void *)ctx + (ctx->path_loc & 0xffff));
	if (len < 0)
		r->path[0] = 0;
	r->cut = (ctx->path_loc >> 16) > sizeof(r->path); /* its length, NUL included: cut, said */
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* A cgroup v2 directory was removed: the daemon may let its path go (cgroup_rmdir has mkdir's record). */
SEC("tracepoint/cgroup/cgroup_rmdir")
int cgroup_rmdir(struct cgroup_mkdir_args *ctx)
{
	struct netlog_cgroup_gone *r;

	if (ctx->root != 0)
		return 0;
	r = bpf_ringbuf_reserve(&names, sizeof(*r), 0);
	if (!r)
		return 0; /* the path stays, until the daemon's table is full: nothing lost */
	r->kind = NETLOG_NAME_CGROUP_GONE;
	r->pad = 0;
	r->id = ctx->id;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* A process ran a new program: its path is reported before any event that names it. */
SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(void *ctx)
{
	exe_learn(current_task());
	return 0;
}

/* A new process (not a thread): it runs its parent's program until it runs one of its own. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	if (KREAD(child, pid) == KREAD(child, tgid))
		exe_learn(child);
	return 0;
}

/* Every field written: ring buffer memory is not zeroed. */
static __always_inline void event_fill(struct netlog_event *e, __u64 key, __u8 type,
				       const struct conn *c, const struct netlog_proc *proc)
{
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->start_ns = type == NETLOG_LISTEN_START || type == NETLOG_CONNECT_START ? 0 : c->start_ns;
	e->sock_id = conn_event_id(c);
	__builtin_memcpy(e->laddr, c->t.laddr, 16);
	__builtin_memcpy(e->raddr, c->t.raddr, 16);
	__builtin_memcpy(&e->proc, proc, sizeof(*proc));
	if (type == NETLOG_CONNECT_STOP)
		__builtin_memcpy(&e->traffic, &c->traffic, sizeof(e->traffic));
	else
		__builtin_memset(&e->traffic, 0, sizeof(e->traffic));
	e->netns = c->t.netns;
	e->lport = c->t.lport;
	e->rport = c->t.rport;
	e->family = c->t.family;
	e->type = type;
	e->protocol = c->t.protocol;
	e->direction = c->direction;
	e->flags = c->flags | (c->bits & CONN_START_LOST ? NETLOG_F_START_LOST : 0);
	e->pad[0] = 0;
	e->pad[1] = 0;
}

static __always_inline void ringbuf_submit(enum ring r, struct netlog_event *e)
{
	__u64 flags = 0, now;

	if (wakeup_bytes) {
		flags = BPF_RB_NO_WAKEUP;
		if (bpf_ringbuf_query(ring_map(r), BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
			now = bpf_ktime_get_ns(); /* tracing programs may not read the coarse clock */
			if (now - wakeup_forced_ns[r & 1] >= WAKEUP_GAP_NS) {
				wakeup_forced_ns[r & 1] = now;
				flags = BPF_RB_FORCE_WAKEUP;
			}
		}
	}
	bpf_ringbuf_submit(e, flags);
}

/* Fill and hand over @e, a place reserved in ring @r (NULL: the ring was full, counted unless @later). */
static __always_inline bool emit_into(enum ring r, struct netlog_event *e, __u64 key, __u8 type,
				      const struct conn *c, const struct netlog_proc *proc, bool later)
{
	if (!e) {
		if (!later)
			count_drop(ring_drop(r));
		return false;
	}
	event_fill(e, key, type, c, proc);
	ringbuf_submit(r, e);
	return true;
}

static __always_inline struct netlog_event *ring_reserve(enum ring r)
{
	return bpf_ringbuf_reserve(ring_map(r), sizeof(struct netlog_event), 0);
}

/* A TCP socket's event. Returns false if the ring was full (counted). */
static __always_inline bool emit(__u64 key, __u8 type, const struct conn *c,
				 const struct netlog_proc *proc)
{
	return emit_into(RING_TCP, ring_reserve(RING_TCP), key, type, c, proc, false);
}

/* A UDP socket's event. */
static __always_inline bool udp_emit(__u64 key, __u8 type, const struct conn *c,
				     const struct netlog_proc *proc)
{
	return emit_into(RING_UDP, ring_reserve(RING_UDP), key, type, c, proc, false);
}

/*
 * The start of the socket in @map at @key found the ring full (counted):
 * its stop says so, and is not kept for later either (emit_stop()), where
 * it would take the place of one whose start was logged. (A stop on
 * another CPU in the few instructions between the entry's store and this
 * mark misses it: its stop is then kept, or logged, unmarked.)
 */
static __always_inline void start_lost(void *map, const void *key)
{
	struct conn *c = bpf_map_lookup_elem(map, key);

	if (c)
		bits_or(&c->bits, CONN_START_LOST);
}

/*
 * Stops the full ring could not take wait here, each in a copy of its
 * socket's entry, for the daemon to take out and log (with their own time
 * stamps): a connection's stop is late then, not lost, and no start is left
 * without its stop. Only when this is full too is a stop lost (counted).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* --max-sockets / 4, set by netlogd before load */
	__type(key, struct netlog_late_key);
	__type(value, struct conn);
} late_stops SEC(".maps");

/*
 * A stop (@type) of socket entry @c in @proc's name, on ring @r, or kept in
 * late_stops. @c is the socket's entry, going or gone once it is logged:
 * its closer is set to @proc for the copy.
 */
static __always_inline bool emit_stop(enum ring r, __u64 key, __u8 type, struct conn *c,
				      const struct netlog_proc *proc)
{
	struct netlog_late_key k = {};

	if (emit_into(r, ring_reserve(r), key, type, c, proc, true))
		return true;
	if ((c->bits & CONN_START_LOST) && type != NETLOG_UDP_CLOSE) {
		count_drop(ring_drop(r));
		return false;
	}
	k.cookie = c->cookie;
	k.ts_ns = bpf_ktime_get_boot_ns();
	k.type = type;
	if (proc != &c->closer)
		__builtin_memcpy(&c->closer, proc, sizeof(c->closer));
	c->has_closer = 1;
	if (bpf_map_update_elem(&late_stops, &k, c, BPF_NOEXIST)) {
		count_drop(ring_drop(r));
		return false;
	}
	return true;
}

static __always_inline int conn_insert(__u64 key, const struct conn *c)
{
	int err = bpf_map_update_elem(&conns, &key, c, BPF_NOEXIST);

	if (err && err != -17 /* EEXIST */)
		count_drop(NETLOG_DROP_TABLE);
	return err;
}

/* The fields every new entry sets; the rest stays zero. */
static __always_inline void conn_init(struct conn *c, __u64 cookie, __u8 role, __u8 direction)
{
	c->start_ns = bpf_ktime_get_boot_ns();
	c->cookie = cookie;
	c->role = role;
	c->direction = direction;
}

/*
 * Emit the start once, whichever of accept() and the handshake comes last.
 * Its place in the ring is taken before the claim: a close on another CPU
 * that loses the claim to it then puts its stop after this start.
 */
static __always_inline void try_start(__u64 key, struct conn *c)
{
	struct netlog_event *e = ring_reserve(RING_TCP);

	if (!claim_once(&c->started)) {
		if (e)
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return;
	}
	if (!emit_into(RING_TCP, e, key, NETLOG_CONNECT_START, c, &c->owner, false))
		bits_or(&c->bits, CONN_START_LOST);
}

static __always_inline void listener_key_init(struct listener_key *k, const struct tuple *t)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->addr, t->laddr, 16);
	k->netns = t->netns;
	k->port = t->lport;
}

__u64 stops_recovered; /* stop_unseen()'s */

/*
 * The stop of entry @c, whose socket is gone without one: its end was in a
 * run of the state-change tracepoint that the kernel skipped (it fired
 * inside itself on one CPU). Logged now, marked recovered, in the name of
 * its closer or last owner; owed only by one logged started and not logged
 * gone. Found when another socket takes its address (conn_stale()), or by
 * the daemon's look (check_conn()). A function of its own: inlined, its
 * stack would add to that of every path to conn_stale(), which 6.1's
 * verifier then finds too deep (io_uring_complete: 544 bytes over 3 calls).
 */
static __noinline void stop_unseen(__u64 key, struct conn *c)
{
	struct listener_key k;
	struct listen_owner *l;
	__u8 type = c->role == ROLE_LISTENER ? NETLOG_LISTEN_STOP : NETLOG_CONNECT_STOP;

	if (!c->started || (c->bits & CONN_CLOSED))
		return;
	c->flags |= NETLOG_F_RECOVERED;
	if (emit_stop(RING_TCP, key, type, c, c->has_closer ? &c->closer : &c->owner))
		__sync_fetch_and_add(&stops_recovered, 1);
	if (c->role != ROLE_LISTENER)
		return;
	listener_key_init(&k, &c->t);
	l = bpf_map_lookup_elem(&listeners, &k);
	if (l && l->sock == key) /* not a SO_REUSEPORT sibling's */
		bpf_map_delete_elem(&listeners, &k);
}

/*
 * Whether @c, found at this socket's address, was left by an earlier
 * socket there (its end unseen, or an accept() that raced its
 * connection's reset re-entered it after its close): then it goes, with
 * the stop it owes. A cookie of 0 is unknown.
 */
static __always_inline bool conn_stale(__u64 key, struct conn *c, __u64 cookie)
{
	if (!c->cookie || !cookie || c->cookie == cookie)
		return false;
	stop_unseen(key, c);
	bpf_map_delete_elem(&conns, &key);
	return true;
}

/* The owner of the listener an incoming connection arrived on. */
static __always_inline struct netlog_proc *listener_owner(const struct tuple *t)
{
	struct listener_key k;
	struct listen_owner *l;

	listener_key_init(&k, t);
	l = bpf_map_lookup_elem(&listeners, &k);
	if (l)
		return &l->owner;
	/* an IPv4 wildcard listener, 0.0.0.0 stored mapped */
	if (k.addr[10] == 0xff && k.addr[11] == 0xff) {
		__builtin_memset(k.addr + 12, 0, 4);
		l = bpf_map_lookup_elem(&listeners, &k);
		if (l)
			return &l->owner;
	}
	/* an IPv6 wildcard listener, dual-stack or not */
	__builtin_memset(k.addr, 0, 16);
	l = bpf_map_lookup_elem(&listeners, &k);
	return l ? &l->owner : NULL;
}

static __always_inline void listener_add(const struct tuple *t, const struct netlog_proc *owner,
					 __u64 sock, __u64 flags)
{
	struct listener_key k;
	struct listen_owner l;

	listener_key_init(&k, t);
	__builtin_memcpy(&l.owner, owner, sizeof(l.owner));
	l.sock = sock;
	if (bpf_map_update_elem(&listeners, &k, &l, flags) && flags == BPF_ANY)
		count_drop(NETLOG_DROP_TABLE);
}

/* listen(), in the calling process, once the port is known. */
static __always_inline void on_listen(const struct sock *sk, __u64 cookie)
{
	__u64 key = (__u64)sk;
	struct conn *walked = bpf_map_lookup_elem(&conns, &key);
	struct conn c = {};

	if (walked && conn_stale(key, walked, cookie))
		walked = NULL;
	/*
	 * listen() stores LISTEN before it binds the port and calls this: the
	 * start-up walk may have seen the socket listening in between, entered
	 * and reported it. Its entry stays; sockops watches it from now on.
	 */
	if (walked && walked->role == ROLE_LISTENER && (walked->flags & NETLOG_F_PREEXISTING) &&
	    (!walked->cookie || walked->cookie == cookie)) {
		walked->watched = 1;
		return;
	}
	conn_init(&c, cookie, ROLE_LISTENER, NETLOG_DIR_NONE);
	c.started = 1;
	c.watched = 1;
	tuple_from_sock(&c.t, sk);
	proc_from_current(&c.owner);
	/* untracked, it could get no stop: counted, not started */
	if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY)) {
		count_drop(NETLOG_DROP_TABLE);
		return;
	}
	listener_add(&c.t, &c.owner, key, BPF_ANY);
	if (!emit(key, NETLOG_LISTEN_START, &c, &c.owner))
		start_lost(&conns, &key);
}

/* connect(), in the calling process: the SYN is about to leave. */
static __always_inline void on_connect(const struct sock *sk, __u64 cookie)
{
	__u64 key = (__u64)sk;
	struct conn c = {}, *old;
	int err;

	conn_init(&c, cookie, ROLE_ACTIVE, NETLOG_DIR_OUT);
	c.watched = 1;
	c.bits = CONN_HAS_TUPLE;
	tuple_from_sock(&c.t, sk);
	proc_from_current(&c.owner);
	err = bpf_map_update_elem(&conns, &key, &c, BPF_NOEXIST);
	if (err == -17 /* EEXIST */) {
		/* an earlier socket's, owed its stop (conn_stale()), or a connect again after a failed attempt: replace */
		old = bpf_map_lookup_elem(&conns, &key);
		if (old)
			conn_stale(key, old, cookie);
		err = bpf_map_update_elem(&conns, &key, &c, BPF_ANY);
	}
	if (err)
		count_drop(NETLOG_DROP_TABLE);
}

/*
 * Our SYN was answered, in softirq: current is nobody in particular.
 * @watched: sockops saw the connect() (and its entry could not be made
 * if there is none: that socket was counted then).
 */
static __always_inline void on_active_established(const struct sock *sk, __u64 cookie, bool watched)
{
	__u64 key = (__u64)sk;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	struct conn n = {};

	if (c && conn_stale(key, c, cookie))
		c = NULL;
	if (c) {
		c->watched = 1;
		c->cookie = cookie;
		if (c->role != ROLE_ACTIVE)
			return;
		c->start_ns = bpf_ktime_get_boot_ns();
		if (c->flags & NETLOG_F_PREEXISTING)
			tuple_from_sock(&c->t, sk); /* connect() predates netlogd */
		try_start(key, c);
		return;
	}
	if (watched)
		return;
	/* connect() began before netlogd, in no process we could see */
	conn_init(&n, cookie, ROLE_ACTIVE, NETLOG_DIR_OUT);
	n.flags = NETLOG_F_OWNER_UNKNOWN;
	n.watched = 1;
	n.started = 1;
	n.bits = CONN_HAS_TUPLE;
	tuple_from_sock(&n.t, sk);
	if (conn_insert(key, &n) == 0 && !emit(key, NETLOG_CONNECT_START, &n, &n.owner))
		start_lost(&conns, &key);
}

/*
 * A new incoming connection's entry, waiting for accept(): its addresses,
 * and the listener's owner standing in until then.
 */
static __always_inline void passive_init(struct conn *n, const struct sock *sk, __u64 cookie)
{
	struct netlog_proc *owner;

	conn_init(n, cookie, ROLE_PASSIVE, NETLOG_DIR_IN);
	n->bits = CONN_HAS_TUPLE;
	tuple_from_sock(&n->t, sk);
	owner = listener_owner(&n->t);
	if (owner)
		__builtin_memcpy(&n->owner, owner, sizeof(n->owner));
	else
		n->flags = NETLOG_F_OWNER_UNKNOWN;
}

/*
 * An incoming handshake completed, in softirq. The start waits for
 * accept(), which names the process; until then the listener's owner
 * stands in, for a connection that nobody ever accepts.
 */
static __always_inline void on_passive_established(const struct sock *sk, __u64 cookie)
{
	__u64 key = (__u64)sk;
	struct conn *c;
	struct conn n = {};

	c = bpf_map_lookup_elem(&conns, &key);
	if (c && conn_stale(key, c, cookie))
		c = NULL;
	if (c && c->role == ROLE_ACTIVE) {
		/* a simultaneous open: our connect() met the peer's */
		c->watched = 1;
		c->cookie = cookie;
		c->start_ns = bpf_ktime_get_boot_ns();
		try_start(key, c);
		return;
	}
	if (!c) {
		passive_init(&n, sk, cookie);
		n.watched = 1;
		if (!accept_hook) {
			n.started = 1;
			if (conn_insert(key, &n) == 0 && !emit(key, NETLOG_CONNECT_START, &n, &n.owner))
				start_lost(&conns, &key);
			return;
		}
		if (conn_insert(key, &n) == 0)
			return; /* accept() will find the tuple there */
		/* accept() got there first */
		c = bpf_map_lookup_elem(&conns, &key);
		if (!c)
			return;
	}
	c->watched = 1;
	c->cookie = cookie;
	if (!(c->bits & CONN_HAS_TUPLE)) {
		tuple_from_sock(&c->t, sk);
		c->direction = NETLOG_DIR_IN;
	}
	if (bits_set(&c->bits, CONN_HAS_TUPLE) & CONN_ACCEPTED)
		try_start(key, c);
}

/* SO_REUSEPORT siblings looked at for the one to take over a listener's entry */
#define REUSEPORT_LOOK 16

/*
 * SO_REUSEPORT listeners share an address, and its entry in listeners names
 * the last to listen. When that one closes, a sibling still listening takes
 * the entry over: the kernel hands it the connections nobody accepts.
 */
static __always_inline void listener_remove(const struct sock *sk, __u64 key,
					    struct listener_key *k, struct listen_owner *l)
{
	/* probe reads: a plain address, to index the array of siblings with */
	struct sock_reuseport *reuse = BPF_CORE_READ(sk, sk_reuseport_cb);
	__u64 socks = (__u64)reuse + bpf_core_field_offset(struct sock_reuseport, socks);
	__u16 n = reuse ? BPF_CORE_READ(reuse, num_socks) : 0;

	for (__u32 i = 0; i < REUSEPORT_LOOK && i < n; i++) {
		struct sock *sib = NULL;
		struct conn *c;
		__u64 skey;

		bpf_probe_read_kernel(&sib, sizeof(sib), (void *)(socks + i * sizeof(sib)));
		skey = (__u64)sib;
		if (!sib || skey == key)
			continue;
		c = bpf_map_lookup_elem(&conns, &skey);
		if (c && c->role == ROLE_LISTENER) {
			__builtin_memcpy(&l->owner, &c->owner, sizeof(l->owner));
			l->sock = skey;
			return;
		}
	}
	bpf_map_delete_elem(&listeners, k);
}

/*
 * The cookie of a socket reached by following pointers (a descriptor's
 * file): 0 if nothing asked for one yet. The kernel refuses such a pointer
 * to helpers (since 6.18.y it is untrusted), so the cookie is read; the
 * hooks make one for every socket they see, and netlogd has sock_diag make
 * those of the sockets open before it (make_cookies()).
 */
static __always_inline __u64 walked_sock_cookie(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
}

/* LISTEN -> CLOSE happens only in close() or shutdown() by a process. */
static __always_inline void on_listen_close(const struct sock *sk, __u64 key, struct conn *c)
{
	struct listener_key k;
	struct listen_owner *l;

	/*
	 * The closer kept in the listener's entry (going now), not on the
	 * stack. The connections still in its queue are aborted right after,
	 * in this call, each one a disconnect: closed_by_a_process() names the
	 * closer on theirs, and marks them not accepted.
	 */
	if (closer_from_current(&c->closer, &c->owner))
		emit_stop(RING_TCP, key, NETLOG_LISTEN_STOP, c, &c->closer);
	else
		emit_stop(RING_TCP, key, NETLOG_LISTEN_STOP, c, &c->owner);
	listener_key_init(&k, &c->t);
	l = bpf_map_lookup_elem(&listeners, &k);
	if (l && l->sock == key) /* not a SO_REUSEPORT sibling's entry */
		listener_remove(sk, key, &k, l);
	bpf_map_delete_elem(&conns, &key);
}

/*
 * A socket the kernel made for itself (a VXLAN or WireGuard tunnel's, NFS's,
 * or a connection a kernel service accepted): nothing runs the release hook
 * for it, and no process holds it. Probe reads: the cgroup socket hooks get
 * their context, the socket itself, with no typed pointer to it.
 */
static __always_inline bool kernel_sock(const void *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED((const struct sock *)sk, sk_kern_sock);
}

/*
 * The entry of a connection that reached CLOSE goes, but not while accept()
 * may still hold it. accept() looks the entry up without the socket's lock,
 * and a hash table's entry, once deleted, is reused by the next insert at
 * once: the pointer accept() holds would then lead into another socket's
 * entry, to write its acceptor there and claim its start. An accepted
 * socket (it has a struct socket of its own: the graft is made under the
 * socket's lock, which the state change holds) keeps its entry, marked,
 * until its process releases it; the later of the two deletes it. A socket
 * closed before that graft has no accept() that could have found its
 * entry; nor has one a kernel service accepted (nfsd, ksmbd: no system
 * call, and no release hook either), nor an MPTCP subflow (grafted on its
 * connection's struct socket, whose release is the connection's).
 */
static __always_inline void conn_closed(const struct sock *sk, __u64 key, struct conn *c)
{
	if (c->role == ROLE_PASSIVE && KREAD(sk, sk_socket, sk) == sk && !kernel_sock(sk) &&
	    !(bits_set(&c->bits, CONN_CLOSED) & CONN_RELEASED))
		return;
	bpf_map_delete_elem(&conns, &key);
}

/* -> CLOSE: the connection is gone, whoever's context this is. */
static __always_inline void on_close(const struct sock *sk, __u64 key, struct conn *c)
{
	struct tcp_sock *tp;

	if (claim_once(&c->started)) {
		if (c->role == ROLE_ACTIVE) {
			emit(key, NETLOG_CONNECT_FAIL, c, &c->owner);
			goto out;
		}
		/* incoming, never seen accepted: log it now, so it is not lost */
		if (!(c->bits & CONN_ACCEPTED) && c->cookie) {
			__u8 one = 1;

			bpf_map_update_elem(&closed_unaccepted, &c->cookie, &one, BPF_ANY);
		}
		if (!(c->bits & CONN_HAS_TUPLE))
			tuple_from_sock(&c->t, sk);
		if (c->has_closer) {
			__builtin_memcpy(&c->owner, &c->closer, sizeof(c->owner));
			c->flags &= ~NETLOG_F_OWNER_UNKNOWN;
		} else if (!(c->bits & CONN_ACCEPTED)) {
			c->flags |= NETLOG_F_NOT_ACCEPTED;
		}
		if (!emit(key, NETLOG_CONNECT_START, c, &c->owner))
			bits_or(&c->bits, CONN_START_LOST);
	}
	tp = bpf_skc_to_tcp_sock((void *)sk);
	if (tp) {
		/*
		 * Payload bytes: bytes_acked and bytes_received count sequence
		 * space, which holds the SYN and FIN too. A retransmission is
		 * counted once; the FIN the peer sent, once in order, is removed.
		 */
		c->traffic.bytes_sent = KREAD(tp, bytes_sent) - KREAD(tp, bytes_retrans);
		c->traffic.bytes_received =
			KREAD(tp, bytes_received) - (KREAD(sk, __sk_common.skc_flags) >> SOCK_DONE & 1);
		c->traffic.packets_sent = KREAD(tp, segs_out);
		c->traffic.packets_received = KREAD(tp, segs_in);
	}
	emit_stop(RING_TCP, key, NETLOG_CONNECT_STOP, c, c->has_closer ? &c->closer : &c->owner);
out:
	conn_closed(sk, key, c);
}

/*
 * Read now even when the opener closes: since the start it may have changed
 * its user, session, name or program (setuid(), setsid(), exec).
 */
static __always_inline void note_closer(struct conn *c)
{
	if (closer_from_current(&c->closer, &c->owner))
		c->has_closer = 1;
}

/*
 * Whether a jump from @oldstate straight to CLOSE is a process's doing, in
 * its own context: close() with unread data or SO_LINGER 0 (it shut both
 * ways first), or a disconnect (connect() with AF_UNSPEC, a listener's
 * close aborting a connection nobody accepted), which sets its error only
 * after the state change. Every way the kernel ends a connection on its
 * own (a reset, a timeout, a write error, SOCK_DESTROY) sets the socket's
 * error first.
 */
static __always_inline bool closed_by_a_process(const struct sock *sk, int oldstate)
{
	if (oldstate != TCP_ESTABLISHED && oldstate != TCP_CLOSE_WAIT && oldstate != TCP_SYN_RECV)
		return false;
	return KREAD(sk, sk_shutdown) == SHUTDOWN_MASK || !KREAD(sk, sk_err);
}

/*
 * The states on_state() may have something to say at: its callers' filter,
 * before any helper, as most state changes say nothing new.
 */
static __always_inline bool state_may_say(int newstate)
{
	return newstate == TCP_CLOSE || newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK ||
	       newstate == TCP_FIN_WAIT2;
}

/*
 * A state change that passed state_may_say(). FIN_WAIT1 and LAST_ACK are
 * entered only by close() or shutdown(), in the process that called them:
 * that is the closer. A direct jump to CLOSE is a process too when
 * closed_by_a_process() says so; otherwise it is the kernel (a reset, a
 * timeout) and the stop names the last known owner.
 *
 * FIN_WAIT2 ends the connection as CLOSE does once no process holds the
 * socket: its FIN is acknowledged, and the kernel only waits for the
 * peer's, for tcp_fin_timeout. It usually waits in a time-wait socket, and
 * the full one goes to CLOSE at once; but in the full socket itself when
 * the ACK reached it while close() still held its lock, or when that
 * timeout is above 60 s: then CLOSE can be a minute away, for a connection
 * over. The CLOSE that follows finds no entry.
 */
static __always_inline void on_state(const struct sock *sk, int oldstate, int newstate,
				     bool from_sockops, __u64 cookie)
{
	__u64 key = (__u64)sk;
	struct conn *c;

	if (newstate == TCP_FIN_WAIT2 && !(KREAD(sk, __sk_common.skc_flags) >> SOCK_DEAD & 1))
		return; /* shutdown(): the process still holds it */
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c || conn_stale(key, c, cookie) || (!from_sockops && c->watched))
		return;
	/* the port's socket may have let its number go by now: the entry's */
	if (!from_sockops && test_skip_close_port && newstate == TCP_CLOSE &&
	    c->t.lport == test_skip_close_port) {
		__sync_fetch_and_add(&test_skipped, 1); /* as the kernel counts a skipped run */
		return;
	}
	/* logged gone, kept for its process (conn_closed()): a reuse untracked since says nothing */
	if (c->bits & CONN_CLOSED)
		return;
	/*
	 * Accepted before netlogd saw its handshake, with no cookie then. One
	 * logged started keeps the id its start had (no_id): its stop must
	 * match it. The cookie still tells a later socket at its address apart.
	 */
	if (!c->cookie) {
		c->no_id = c->started != 0;
		c->cookie = cookie;
	}
	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) {
		note_closer(c);
		return;
	}
	if (oldstate == TCP_LISTEN) {
		on_listen_close(sk, key, c);
		return;
	}
	if (closed_by_a_process(sk, oldstate)) {
		note_closer(c);
		/* no struct socket yet: aborted in its listener's queue, by the listener's closer */
		if (c->role == ROLE_PASSIVE && !(c->bits & CONN_ACCEPTED) && !KREAD(sk, sk_socket))
			c->flags |= NETLOG_F_NOT_ACCEPTED;
	}
	on_close(sk, key, c);
}

/* Tell the kernel to run sockops on every later state change of @skops. */
static __always_inline void watch_state(struct bpf_sock_ops *skops)
{
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

SEC("sockops")
int tcp_sockops(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	struct bpf_sock *bsk;
	struct sock *sk;

	if (op != BPF_SOCK_OPS_TCP_LISTEN_CB && op != BPF_SOCK_OPS_TCP_CONNECT_CB &&
	    op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB &&
	    op != BPF_SOCK_OPS_STATE_CB)
		return 1;
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	if (op == BPF_SOCK_OPS_STATE_CB && !state_may_say(skops->args[1]))
		return 1;
	bsk = skops->sk;
	if (!bsk)
		return 1;
	sk = (struct sock *)bpf_skc_to_tcp_sock(bsk);
	if (!sk)
		return 1;
	/* an ignored port: never watched, so no later event either */
	if (op != BPF_SOCK_OPS_STATE_CB &&
	    ports_ignored(KREAD(sk, __sk_common.skc_num), bpf_ntohs(KREAD(sk, __sk_common.skc_dport))))
		return 1;

	switch (op) {
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		on_listen(sk, bpf_get_socket_cookie(skops));
		watch_state(skops);
		break;
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		on_connect(sk, bpf_get_socket_cookie(skops));
		watch_state(skops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		on_active_established(sk, bpf_get_socket_cookie(skops),
				      skops->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_STATE_CB_FLAG);
		watch_state(skops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		on_passive_established(sk, bpf_get_socket_cookie(skops));
		watch_state(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		on_state(sk, skops->args[0], skops->args[1], true, bpf_get_socket_cookie(skops));
		break;
	}
	return 1;
}

/*
 * The cookie of a socket a tracing program was handed, made now if it has
 * none. Kernels before 5.12 do not let tracing programs call the helper.
 */
static __always_inline __u64 sock_cookie(struct sock *sk)
{
#ifdef NETLOG_COMPAT
	return walked_sock_cookie(sk);
#else
	return bpf_get_socket_cookie(sk);
#endif
}

/* State changes of sockets sockops does not watch: those that predate netlogd. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	struct tcp_sock *tp;

	if (!state_may_say(newstate))
		return 0;
	if (!sk_is_inet_tcp(sk))
		return 0;
	/* sockops has it: skip the table lookup, this runs for every socket */
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp || (KREAD(tp, bpf_sock_ops_cb_flags) & BPF_SOCK_OPS_STATE_CB_FLAG))
		return 0;
	on_state(sk, oldstate, newstate, false, sock_cookie(sk));
	return 0;
}

/*
 * Stops the kernel skipped. A run of the state-change tracepoint that the
 * kernel skips (it fired inside itself on one CPU) may be a connection's
 * end: its entry stays, and its stop would never come. After netlogd sees
 * skipped runs, it has check_conn() look at the entries the tracepoint
 * ends, three times a second apart. One logged started whose socket has
 * ended (its memory holds another socket now, or it is in CLOSE) is noted
 * in ended_seen the first time; found so again the next time, it gets its
 * stop then, marked recovered, in the name of its closer or last owner, and
 * goes. The look between lets a stop under way on another CPU land first.
 * Socket memory stays socket memory (the kernel frees TCP sockets by RCU):
 * a probe read of one gone shows its last state or another socket's.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a mark whose entry went meanwhile is let go in time */
	__uint(max_entries, 4096);
	__type(key, __u64);   /* the socket's address, as in conns */
	__type(value, __u64); /* its cookie */
} ended_seen SEC(".maps");

/* Whether the socket of an entry with @cookie, at @key, has ended. */
static __always_inline bool sock_ended(__u64 key, __u64 cookie)
{
	const struct sock *sk = (const struct sock *)key;

	if (BPF_CORE_READ(sk, __sk_common.skc_cookie.counter) != (__s64)cookie)
		return true;
	return BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE;
}

/*
 * Run by netlogd (BPF_PROG_TEST_RUN) for each entry logged started and
 * not logged gone, with args[0] its key, the socket's address.
 */
SEC("raw_tp")
int check_conn(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 key = ctx->args[0], *seen, cookie;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);

	if (!c)
		return 0;
	cookie = c->cookie;
	/* the tracepoint's (sockops is never skipped), started, not logged gone, with a cookie */
	if (c->watched || !c->started || (c->bits & CONN_CLOSED) || !cookie || !sock_ended(key, cookie)) {
		bpf_map_delete_elem(&ended_seen, &key);
		return 0;
	}
	seen = bpf_map_lookup_elem(&ended_seen, &key);
	if (!seen || *seen != cookie) {
		bpf_map_update_elem(&ended_seen, &key, &cookie, BPF_ANY);
		return 0;
	}
	bpf_map_delete_elem(&ended_seen, &key);
	/* deleted meanwhile, or its place taken by another socket's entry: not ours to end */
	if (bpf_map_lookup_elem(&conns, &key) != c || c->cookie != cookie)
		return 0;
	stop_unseen(key, c);
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

/*
 * UDP. A bind() is a listen (autobind on first send is not: it never comes
 * through post_bind). A flow is one socket and one remote address and port:
 * its first datagram, either way, reports it; later ones are only counted
 * in udp_flows. The daemon ends flows when their socket closes or they go
 * idle, reading the counts from the table.
 *
 * Datagrams are seen by cgroup_skb: egress runs in the sending process
 * (every way of sending: send, sendto, sendmsg, sendmmsg, write), with the
 * real source address; ingress runs in softirq, where current is nobody,
 * so an incoming flow is claimed by the first process that receives from
 * it with its address (recvmsg hooks: recvfrom, recvmsg, recvmmsg).
 */

/* A flow as reported: its key and what the packet or socket says of it. */
struct flow_info {
	struct netlog_flow_key k;
	__u8 laddr[16];
	__u32 netns;
	__u16 lport;
	__u16 family;
	__u8 direction;
	__u8 flags;
	__u8 protocol; /* IPPROTO_UDP or IPPROTO_UDPLITE; 0: UDP */
	__u8 pad;
	__u16 sport; /* the socket's own port (lport: the datagram's) */
	__u16 pad2;
};

/* Every field written: ring buffer and iterator memory is not zeroed. */
static __always_inline void flow_event_fill(struct netlog_event *e, __u8 type,
					    const struct flow_info *f,
					    const struct netlog_proc *proc, __u64 ts)
{
	e->ts_ns = ts;
	e->start_ns = ts;
	e->sock_id = f->k.sock_id;
	__builtin_memcpy(e->laddr, f->laddr, 16);
	__builtin_memcpy(e->raddr, f->k.raddr, 16);
	__builtin_memcpy(&e->proc, proc, sizeof(*proc));
	__builtin_memset(&e->traffic, 0, sizeof(e->traffic));
	e->netns = f->netns;
	e->lport = f->lport;
	e->rport = f->k.rport;
	e->family = f->family;
	e->type = type;
	e->protocol = f->protocol ?: IPPROTO_UDP;
	e->direction = f->direction;
	e->flags = f->flags;
	e->pad[0] = 0;
	e->pad[1] = 0;
}

/* Returns false if the ring was full (counted). */
static __always_inline bool flow_emit(__u8 type, const struct flow_info *f,
				      const struct netlog_proc *proc, __u64 ts)
{
	struct netlog_event *e = ring_reserve(RING_UDP);

	if (!e) {
		count_drop(NETLOG_DROP_RINGBUF_UDP);
		return false;
	}
	flow_event_fill(e, type, f, proc, ts);
	ringbuf_submit(RING_UDP, e);
	return true;
}

/*
 * The entry of flow @f's socket; made when missing, in process context
 * only: the owner is then the current process.
 */
static __always_inline struct conn *udp_sock_get(const struct flow_info *f, bool create)
{
	__u64 cookie = f->k.sock_id;
	struct conn *s = bpf_map_lookup_elem(&udp_socks, &cookie);
	struct conn *zero;
	__u32 key0 = 0;
	long err;

	if (s || !create)
		return s;
	/* inserted zeroed, then filled in place: a struct conn is too big for the stack here */
	zero = bpf_map_lookup_elem(&conn_zero, &key0);
	if (!zero)
		return NULL;
	err = bpf_map_update_elem(&udp_socks, &cookie, zero, BPF_NOEXIST);
	if (err == -7 /* E2BIG */)
		count_drop(NETLOG_DROP_TABLE);
	s = bpf_map_lookup_elem(&udp_socks, &cookie);
	if (!s || err)
		return s;
	conn_init(s, cookie, 0, NETLOG_DIR_NONE);
	s->t.family = f->family;
	s->t.protocol = f->protocol ?: IPPROTO_UDP;
	s->t.netns = f->netns;
	proc_from_current(&s->owner);
	return s;
}

/* @proc uses socket @s now: the stand-in for its next incoming flows. */
static __always_inline void udp_sock_used_by(struct conn *s, const struct netlog_proc *proc)
{
	if (s && s->owner.tgid != proc->tgid)
		__builtin_memcpy(&s->owner, proc, sizeof(s->owner));
}

/* A datagram of flow @v, counted the way it went: CPUs may count at once. */
static __always_inline void flow_count(struct netlog_flow *v, bool egress, __u32 payload, __u32 segs)
{
	if (egress) {
		__sync_fetch_and_add(&v->traffic.packets_sent, segs);
		__sync_fetch_and_add(&v->traffic.bytes_sent, payload);
	} else {
		__sync_fetch_and_add(&v->traffic.packets_received, segs);
		__sync_fetch_and_add(&v->traffic.bytes_received, payload);
	}
}

/*
 * Insert a new flow and report it. When the table is full the flow is
 * reported all the same, marked untracked, once per refresh period rather
 * than per datagram; the daemon still ends it.
 */
static __always_inline bool flow_insert(struct flow_info *f, struct netlog_flow *n)
{
	long err;
	__u64 *seen;

	n->lport = f->lport;
	n->sport = f->sport;
	err = bpf_map_update_elem(&udp_flows, &f->k, n, BPF_NOEXIST);

	if (err == -17 /* EEXIST: another CPU was first */) {
		struct netlog_flow *v = bpf_map_lookup_elem(&udp_flows, &f->k);

		/* its datagram counts there (one way only: the other's counts are 0) */
		if (v)
			flow_count(v, f->direction == NETLOG_DIR_OUT,
				   n->traffic.bytes_sent + n->traffic.bytes_received,
				   n->traffic.packets_sent + n->traffic.packets_received);
		return false;
	}
	if (err) {
		seen = bpf_map_lookup_elem(&untracked_seen, &f->k);
		if (seen) {
			/* signed: another CPU may have just stored a later time */
			if ((__s64)(n->last_ns - *seen) < (__s64)untracked_refresh_ns)
				return false;
			*seen = n->last_ns; /* still going: said again, so that the daemon keeps it */
		} else if (bpf_map_update_elem(&untracked_seen, &f->k, &n->last_ns, BPF_NOEXIST) == 0) {
			count_drop(NETLOG_DROP_FLOWS);
		} else {
			return false; /* another CPU reports it */
		}
		f->flags |= NETLOG_F_UNTRACKED;
	}
	if (flow_emit(NETLOG_UDP_FLOW, f, &n->owner, n->start_ns))
		return true;
	/* the daemon, which ends flows, would never know it: the next datagram starts it again */
	if (!err)
		bpf_map_delete_elem(&udp_flows, &f->k);
	return false;
}

/*
 * The first datagram of a flow: out, in the sender; in, in softirq. The
 * socket gets an entry if it has none when @add_sock: a process sends on a
 * socket of its own (not one the kernel made for itself, which no release
 * hook would ever remove). Returns 1 if the flow was reported.
 */
static __noinline int flow_new(struct flow_info *f, __u32 payload, __u32 segs, bool egress, bool add_sock)
{
	struct netlog_flow n = {};
	struct conn *s;

	n.start_ns = bpf_ktime_get_boot_ns();
	n.last_ns = flow_clock();
	s = udp_sock_get(f, add_sock);
	if (egress) {
		n.traffic.packets_sent = segs;
		n.traffic.bytes_sent = payload;
		n.claimed = 1;
		proc_from_current(&n.owner);
		f->direction = NETLOG_DIR_OUT;
		udp_sock_used_by(s, &n.owner);
	} else {
		n.traffic.packets_received = segs;
		n.traffic.bytes_received = payload;
		f->direction = NETLOG_DIR_IN;
		/*
		 * Until a process receives it, the socket's last user stands in.
		 * In softirq, the socket may be closing on another CPU: its entry
		 * deleted and at once reused by the next insert, which writes its
		 * cookie before its owner. A cookie not the socket's after the
		 * copy: the owner read may be another socket's, so none is named.
		 * (Closed where loads keep their order, x86; narrowed elsewhere.)
		 */
		if (s) {
			__builtin_memcpy(&n.owner, &s->owner, sizeof(n.owner));
			barrier(); /* the cookie is read after the copy */
			if (*(volatile __u64 *)&s->cookie != f->k.sock_id) {
				__builtin_memset(&n.owner, 0, sizeof(n.owner));
				s = NULL;
			}
		}
		if (!s)
			f->flags |= NETLOG_F_OWNER_UNKNOWN;
	}
	if (s)
		s->has_flows = 1;
	return flow_insert(f, &n);
}

/*
 * Another process sends on a flow's socket. Read into the stack, then
 * stored: processes sharing the socket may send at once, and the daemon
 * may read the owner for an idle stop, so it is never written field by
 * field in place. Kept out of line: rare, and udp_packet() is per datagram.
 */
static __noinline int flow_handed_over(struct netlog_flow *v, __u64 sock_id)
{
	struct netlog_proc me;

	proc_from_current(&me);
	__builtin_memcpy(&v->owner, &me, sizeof(me));
	udp_sock_used_by(bpf_map_lookup_elem(&udp_socks, &sock_id), &me);
	return 0;
}

/*
 * A flow's socket sends, receives or connects on another local port than
 * the flow had: connect(AF_UNSPEC) gave back the port the kernel had bound
 * it to, and a datagram, connect() or bind() took a new one. The flow
 * ends, its counts so far in the record, and a new one starts, in place:
 * with this datagram (@payload, @segs; none for a connect), going the way
 * @f's direction says: out in the sending process, in (softirq) in the
 * flow's last process, which stands in until a process receives. @clock:
 * the caller's flow_clock().
 * With the ring full nothing changes (the loss is counted): the next
 * datagram tries again. Out of line: rare, and udp_packet() is per datagram.
 */
static __noinline int flow_moved(struct netlog_flow *v, struct flow_info *f, __u32 payload, __u32 segs,
				 __u64 clock)
{
	struct netlog_event *e = ring_reserve(RING_UDP);
	bool egress = f->direction == NETLOG_DIR_OUT;
	struct netlog_proc me;
	__u64 now = bpf_ktime_get_boot_ns();

	if (!e) {
		count_drop(NETLOG_DROP_RINGBUF_UDP);
		return 0;
	}
	if (egress)
		proc_from_current(&me);
	else
		__builtin_memcpy(&me, &v->owner, sizeof(me));
	if (!me.tgid)
		f->flags |= NETLOG_F_OWNER_UNKNOWN; /* an incoming flow no process has received from yet */
	flow_event_fill(e, NETLOG_UDP_MOVED, f, &me, now);
	__builtin_memcpy(&e->traffic, &v->traffic, sizeof(e->traffic));
	/*
	 * The counts reset first, the ports last: a datagram on another CPU
	 * that sees the new port counts on the new flow. Two CPUs may still
	 * both move it (a send and a receive at once, plain stores): the
	 * daemon then logs a flow that stops as it starts between the two.
	 */
	v->traffic.packets_sent = egress ? segs : 0;
	v->traffic.bytes_sent = egress ? payload : 0;
	v->traffic.packets_received = egress ? 0 : segs;
	v->traffic.bytes_received = egress ? 0 : payload;
	v->start_ns = now;
	v->last_ns = clock;
	v->claimed = egress;
	__builtin_memcpy(&v->owner, &me, sizeof(me));
	barrier();
	v->lport = f->lport;
	v->sport = f->sport;
	ringbuf_submit(RING_UDP, e);
	return 0;
}

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_DEST 60
#define IPV6_EXT_MAX 8

/* The extension headers followed to a UDP header: hop-by-hop, routing, destination options */
static __always_inline bool ipv6_ext_followed(__u8 next)
{
	return next == NEXTHDR_HOP || next == NEXTHDR_ROUTING || next == NEXTHDR_DEST;
}

/*
 * An IPv6 datagram whose UDP header comes after extension headers (a
 * process may add a routing header to what it sends, or options with
 * CAP_NET_RAW in its own network namespace, and a remote sender anything):
 * the UDP (or UDP-Lite) header's ports, read past them, in @ports. Returns
 * the headers' length, or 0: no UDP, or more headers than followed
 * (counted: a datagram not looked at). Out of line: rare, and udp_packet()
 * runs for every packet.
 */
static __noinline __u32 ipv6_past_ext(struct __sk_buff *skb, __u8 next, __u8 *protocol, __be16 ports[2])
{
	__u32 off = sizeof(struct ipv6hdr);
	__u8 h[2];

	for (int i = 0; i < IPV6_EXT_MAX; i++) {
		if (!ipv6_ext_followed(next))
			break;
		if (bpf_skb_load_bytes(skb, off, h, sizeof(h)))
			return 0;
		next = h[0];
		off += ((__u32)h[1] + 1) * 8;
	}
	if (ipv6_ext_followed(next)) {
		count_drop(NETLOG_DROP_V6EXT);
		return 0;
	}
	*protocol = next;
	if (!proto_is_udp(next) || bpf_skb_load_bytes(skb, off, ports, 2 * sizeof(__be16)))
		return 0;
	return off;
}

/*
 * Every datagram a local UDP socket sends or receives. The headers are in
 * the linear part of the buffer here: UDP built them (egress) or pulled
 * them (ingress). IPv6 extension headers before UDP are followed (up to 8).
 */
static __always_inline int udp_packet(struct __sk_buff *skb, bool egress)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct bpf_sock *sk = skb->sk;
	struct netlog_flow *v;
	struct flow_info f;
	__be16 ports[2]; /* source, destination */
	__u32 payload, segs, hl;

	/* the header first: most packets are TCP, and this is cheaper than the socket */
	__builtin_memset(&f, 0, sizeof(f));
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end || !proto_is_udp(ip->protocol))
			return 1;
		f.protocol = ip->protocol;
		hl = ip->ihl * 4;
		if (data + hl + sizeof(struct udphdr) > end)
			return 1;
		__builtin_memcpy(ports, data + hl, sizeof(ports));
		addr_from_v4(f.k.raddr, egress ? ip->daddr : ip->saddr);
		addr_from_v4(f.laddr, egress ? ip->saddr : ip->daddr);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end)
			return 1;
		f.protocol = ip6->nexthdr;
		hl = sizeof(*ip6);
		if (proto_is_udp(f.protocol)) {
			if ((void *)(ip6 + 1) + sizeof(struct udphdr) > end)
				return 1;
			__builtin_memcpy(ports, ip6 + 1, sizeof(ports));
		} else {
			if (!ipv6_ext_followed(f.protocol))
				return 1; /* TCP, mostly */
			hl = ipv6_past_ext(skb, f.protocol, &f.protocol, ports);
			if (!hl)
				return 1;
		}
		__builtin_memcpy(f.k.raddr, egress ? &ip6->daddr : &ip6->saddr, 16);
		__builtin_memcpy(f.laddr, egress ? &ip6->saddr : &ip6->daddr, 16);
	} else {
		return 1;
	}
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	/* a raw socket of protocol UDP sees (and sends) datagrams of other sockets' ports: none of its own */
	if (!sk || sk->protocol != f.protocol || sk->type != SOCK_DGRAM)
		return 1;
	f.k.rport = bpf_ntohs(egress ? ports[1] : ports[0]);
	f.lport = bpf_ntohs(egress ? ports[0] : ports[1]);
	f.sport = (__u16)sk->src_port;
	if (ports_ignored(f.lport, f.k.rport) || addrs_ignored(f.laddr, f.k.raddr))
		return 1;
	f.k.sock_id = bpf_get_socket_cookie(skb);
	payload = skb->len > hl + 8 ? skb->len - hl - 8 : 0;
	segs = skb->gso_segs ?: 1; /* UDP_SEGMENT: one buffer here, that many datagrams on the wire */

	v = bpf_map_lookup_elem(&udp_flows, &f.k);
	if (!v) {
		/* the socket itself, for what the bpf_sock lacks: probe reads */
		const struct sock *ksk = BPF_CORE_READ((struct sk_buff *)skb, sk);
		int reported;

		f.family = sk->family;
		f.netns = sock_netns(ksk);
		reported = flow_new(&f, payload, segs, egress, egress && !kernel_sock(ksk));
#ifndef NETLOG_COMPAT
		if (reported && !egress && recv_hook) {
			struct recv_awaited *r = bpf_sk_storage_get(&recv_awaited, sk, 0,
								    BPF_SK_STORAGE_GET_F_CREATE);

			if (r)
				r->awaited = 1;
		}
#endif
		return 1;
	}
	/* the socket's port, not the datagram's: a NAT of the host's own may rewrite that one */
	if (v->sport != f.sport && v->sport) {
		f.family = sk->family;
		f.netns = sock_netns(BPF_CORE_READ((struct sk_buff *)skb, sk));
		f.direction = egress ? NETLOG_DIR_OUT : NETLOG_DIR_IN;
		flow_moved(v, &f, payload, segs, flow_clock());
		return 1;
	}
	v->last_ns = flow_clock();
	flow_count(v, egress, payload, segs);
	if (egress && v->owner.tgid != current_tgid()) /* the socket changed hands */
		flow_handed_over(v, f.k.sock_id);
	return 1;
}

SEC("cgroup_skb/egress")
int udp_egress(struct __sk_buff *skb)
{
	return udp_packet(skb, true);
}

SEC("cgroup_skb/ingress")
int udp_ingress(struct __sk_buff *skb)
{
	return udp_packet(skb, false);
}

/*
 * A process received a datagram and asked for its source: it is the flow's
 * process. The first such receive claims an incoming flow.
 */
static __always_inline int on_udp_recvmsg(struct bpf_sock_addr *ctx, bool v6)
{
	struct netlog_flow_key k = {};
	struct netlog_flow *v;
	struct netlog_proc me;
	struct flow_info f;

	k.sock_id = bpf_get_socket_cookie(ctx);
	if (v6) {
		__u32 *w = (__u32 *)k.raddr;

		w[0] = ctx->user_ip6[0];
		w[1] = ctx->user_ip6[1];
		w[2] = ctx->user_ip6[2];
		w[3] = ctx->user_ip6[3];
	} else {
		addr_from_v4(k.raddr, ctx->user_ip4);
	}
	k.rport = bpf_ntohs(ctx->user_port);
#ifndef NETLOG_COMPAT
	if (recv_hook && ctx->sk) {
		/* this receive names its own flow: sock_recv_length is to leave the others waiting */
		struct recv_awaited *r = bpf_sk_storage_get(&recv_awaited, ctx->sk, 0, 0);

		if (r && r->awaited)
			r->asker = (__u32)bpf_get_current_pid_tgid();
	}
#endif
	v = bpf_map_lookup_elem(&udp_flows, &k);
	if (!v)
		return 1;
	if (v->claimed && v->owner.tgid == current_tgid())
		return 1;
	/*
	 * Read into the stack, then stored: two processes sharing the socket
	 * may both receive the flow's first datagram at once, and the claim
	 * must name one of them whole, not a mix of the two.
	 */
	proc_from_current(&me);
	if (claim_once(&v->claimed)) {
		__builtin_memset(&f, 0, sizeof(f));
		__builtin_memcpy(&f.k, &k, sizeof(k));
		flow_emit(NETLOG_UDP_CLAIM, &f, &me, bpf_ktime_get_boot_ns());
	}
	__builtin_memcpy(&v->owner, &me, sizeof(me));
	udp_sock_used_by(bpf_map_lookup_elem(&udp_socks, &k.sock_id), &me);
	return 1;
}

SEC("cgroup/recvmsg4")
int udp_recvmsg4(struct bpf_sock_addr *ctx)
{
	return on_udp_recvmsg(ctx, false);
}

SEC("cgroup/recvmsg6")
int udp_recvmsg6(struct bpf_sock_addr *ctx)
{
	return on_udp_recvmsg(ctx, true);
}

/*
 * A process received on a UDP socket with an incoming flow awaiting its
 * receiver (recv_awaited), in process context: every way, also recv() and
 * read(), which do not ask the source and so pass no recvmsg hook. It
 * names the socket's flows still waiting (NETLOG_UDP_RECEIVER), unless it
 * did ask: then the recvmsg hook named its flow, and noted so (asker), and
 * the others wait on. Kernels from 6.3 have the tracepoint; the compat
 * programs do not load it.
 */
#define MSG_ERRQUEUE 0x2000

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length, struct sock *sk, int ret, int flags)
{
#ifndef NETLOG_COMPAT
	struct netlog_proc me;
	struct flow_info f;
	struct recv_awaited *r;

	if (ret < 0 || (flags & MSG_ERRQUEUE) || !proto_is_udp(sk->sk_protocol))
		return 0;
	r = bpf_sk_storage_get(&recv_awaited, sk, 0, 0);
	if (!r || !r->awaited)
		return 0;
	if (r->asker == (__u32)bpf_get_current_pid_tgid()) {
		r->asker = 0; /* it named its flow (on_udp_recvmsg): the others wait on */
		return 0;
	}
	/* a kernel thread (nfsd peeking) is no process: the flows wait for one */
	if (KREAD(current_task(), flags) & PF_KTHREAD)
		return 0;
	r->awaited = 0; /* two CPUs may both pass: the daemon is told twice, harmlessly */
	__builtin_memset(&f, 0, sizeof(f));
	f.k.sock_id = bpf_get_socket_cookie(sk);
	proc_from_current(&me);
	flow_emit(NETLOG_UDP_RECEIVER, &f, &me, bpf_ktime_get_boot_ns());
	udp_sock_used_by(bpf_map_lookup_elem(&udp_socks, &f.k.sock_id), &me);
#endif
	return 0;
}

/* bind(), in the binding process, the port known: a UDP listen. */
static __always_inline int on_udp_bind(struct bpf_sock *ctx, bool v6)
{
	bool ignored;
	__u64 cookie;
	struct conn *s;
	struct conn n = {};

	if (!proto_is_udp(ctx->protocol) || kernel_sock(ctx))
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	/*
	 * An ignored port is no listen, but the socket gets its entry all the
	 * same: a reload may drop the rule, and the flows it then has stop at
	 * its close, not only when idle.
	 */
	ignored = port_ignored(ctx->src_port);
	conn_init(&n, cookie, ignored ? 0 : ROLE_LISTENER, NETLOG_DIR_NONE);
	n.started = !ignored;
	tuple_from_bpf_sock(&n.t, ctx, v6);
	proc_from_current(&n.owner);
	s = bpf_map_lookup_elem(&udp_socks, &cookie);
	if (s) { /* keep what it had */
		n.bits = s->bits & ~CONN_START_LOST;
		n.has_flows = s->has_flows;
	}
	/*
	 * Bound again: connect(AF_UNSPEC) gave back a port the kernel chose
	 * (bind() to port 0 locks none). That listen ends here, by this
	 * process, before the new one starts: every start has one stop.
	 */
	if (s && s->role == ROLE_LISTENER)
		emit_stop(RING_UDP, cookie, NETLOG_LISTEN_STOP, s, &n.owner);
	/* untracked, it could get no stop: counted, not started */
	if (bpf_map_update_elem(&udp_socks, &cookie, &n, BPF_ANY)) {
		if (!ignored)
			count_drop(NETLOG_DROP_TABLE);
		return 1;
	}
	if (ignored)
		return 1;
	if (!udp_emit(cookie, NETLOG_LISTEN_START, &n, &n.owner))
		start_lost(&udp_socks, &cookie);
	return 1;
}

SEC("cgroup/post_bind4")
int udp_post_bind4(struct bpf_sock *ctx)
{
	return on_udp_bind(ctx, false);
}

SEC("cgroup/post_bind6")
int udp_post_bind6(struct bpf_sock *ctx)
{
	return on_udp_bind(ctx, true);
}

/* A TCP socket's process let it go: its entry goes if the connection is gone too (conn_closed()). */
static __always_inline void tcp_released(struct bpf_sock *ctx)
{
	__u64 key = (__u64)ctx;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	struct netlog_proc p;

	if (!c)
		return;
	/*
	 * A connection shut down earlier (its closer noted then, maybe by
	 * another process, or this one under another name or user) and still
	 * going: its stop names the process that closes it now. Read into the
	 * stack and copied whole: a stop in softirq on another CPU may read it
	 * (no socket lock here), and may delete an outgoing connection's
	 * entry, at once reused: the cookie says whether it is still ours.
	 */
	if (c->has_closer && c->role != ROLE_LISTENER && !(c->bits & CONN_CLOSED) &&
	    closer_from_current(&p, &c->owner)) {
		barrier(); /* the cookie is read after the entry's fields */
		if (*(volatile __u64 *)&c->cookie == bpf_get_socket_cookie(ctx) && !(c->bits & CONN_CLOSED))
			__builtin_memcpy(&c->closer, &p, sizeof(p));
	}
	if (c->role == ROLE_PASSIVE && (bits_set(&c->bits, CONN_RELEASED) & CONN_CLOSED))
		bpf_map_delete_elem(&conns, &key);
}

/*
 * The last descriptor of a socket is closed, in the closing process: a
 * bound socket's listen stops, and the daemon ends the socket's flows; a
 * closed TCP connection's entry goes.
 */
SEC("cgroup/sock_release")
int sock_release(struct bpf_sock *ctx)
{
	const struct netlog_proc *who;
	struct netlog_proc closer;
	struct conn *c;
	__u64 cookie;

	if (ctx->protocol == IPPROTO_TCP) {
		tcp_released(ctx);
		return 1;
	}
	if (!proto_is_udp(ctx->protocol))
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	c = bpf_map_lookup_elem(&udp_socks, &cookie);
	if (!c)
		return 1;
	who = closer_from_current(&closer, &c->owner) ? &closer : &c->owner;
	/* the flows' stops first, then the listen's: what the socket started ends inside it */
	if (c->has_flows)
		emit_stop(RING_UDP, cookie, NETLOG_UDP_CLOSE, c, who);
	if (c->role == ROLE_LISTENER)
		emit_stop(RING_UDP, cookie, NETLOG_LISTEN_STOP, c, who);
	bpf_map_delete_elem(&udp_socks, &cookie);
	return 1;
}

/* The file behind descriptor @fd of the current process. */
static __always_inline struct file *current_fd_file(long fd)
{
	struct fdtable *fdt = KREAD(current_task(), files, fdt);
	struct file *file = NULL;

	if (fd < 0 || fd >= KREAD(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), KREAD(fdt, fd) + fd);
	return file;
}

/* The sock of @file, known to be a socket's. */
static __always_inline struct sock *file_sock(struct file *file)
{
	struct socket *sock = file ? BPF_CORE_READ(file, private_data) : NULL;

	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* The sock behind descriptor @fd, which a socket call returned. */
static __always_inline struct sock *current_fd_sock(long fd)
{
	return file_sock(current_fd_file(fd));
}

/*
 * The entry of @sk (at @key) if it is a connection waiting for its accept,
 * or was accepted: not an earlier socket's at the same address.
 */
static __always_inline struct conn *passive_conn(struct sock *sk, __u64 key)
{
	struct conn *c = bpf_map_lookup_elem(&conns, &key);

	return c && c->role == ROLE_PASSIVE && !conn_stale(key, c, walked_sock_cookie(sk)) ? c : NULL;
}

/* The current process accepted @c: it starts now, or at its handshake if that is still to come. */
static __always_inline void accepted(__u64 key, struct conn *c)
{
	struct netlog_proc me;

	if (c->bits & CONN_CLOSED)
		return; /* reset before accept() returned it: its start and stop are out */
	/*
	 * Stored in one copy: a reset on another CPU can log the connection
	 * meanwhile, reading the owner. Made in place, field by field over some
	 * probe reads, it would be half acceptor, half listener there.
	 */
	proc_from_current(&me);
	__builtin_memcpy(&c->owner, &me, sizeof(me));
	if (c->flags & NETLOG_F_OWNER_UNKNOWN) /* not a plain store: a reset may be marking it not accepted */
		c->flags &= ~NETLOG_F_OWNER_UNKNOWN;
	if (bits_set(&c->bits, CONN_ACCEPTED) & CONN_HAS_TUPLE)
		try_start(key, c);
}

/*
 * An accepted socket that has no entry of a connection waiting for its
 * accept: the handshake came before netlogd, or is still to come, or it is
 * no socket netlogd tracks. @sk was read out of memory: probe reads only.
 */
static __always_inline void accept_untracked(struct sock *sk, __u64 key)
{
	struct conn n = {};
	struct conn *c;
	__u16 family;
	__u64 cookie;
	int state;

	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if ((family != AF_INET && family != AF_INET6) || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return;
	if (ports_ignored(BPF_CORE_READ(sk, __sk_common.skc_num),
			  bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport))))
		return;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_CLOSE)
		return; /* already reported as gone, never accepted */
	c = bpf_map_lookup_elem(&conns, &key);
	/*
	 * 0 until something asks: the handshake callback or the close names it
	 * then. Read after the table: an entry found was made after its cookie.
	 */
	cookie = walked_sock_cookie(sk);
	if (c && (c->cookie && c->cookie != cookie)) {
		stop_unseen(key, c); /* an earlier socket's (conn_stale()) */
		bpf_map_delete_elem(&conns, &key);
		c = NULL;
	}
	if (!c) {
		/* after the table: on_close() marks it before it removes the entry */
		if (cookie && bpf_map_lookup_elem(&closed_unaccepted, &cookie))
			return; /* it closed while being accepted: its start and stop are out */
		conn_init(&n, cookie, ROLE_PASSIVE, NETLOG_DIR_IN);
		n.bits = CONN_ACCEPTED;
		proc_from_current(&n.owner);
		if (state != TCP_SYN_RECV) {
			/*
			 * The handshake callback runs before ESTABLISHED is
			 * stored: this one's came before netlogd. It starts now.
			 */
			n.bits |= CONN_HAS_TUPLE;
			n.flags = NETLOG_F_PREEXISTING;
			n.started = 1;
			tuple_from_sock_probed(&n.t, sk);
			/*
			 * Not counted if the table is full: the handshake
			 * callback (or, before netlogd, the start-up walk of
			 * the queues) counted the socket it could not insert.
			 */
			if (bpf_map_update_elem(&conns, &key, &n, BPF_NOEXIST) == 0 &&
			    !emit(key, NETLOG_CONNECT_START, &n, &n.owner))
				start_lost(&conns, &key);
			return;
		}
		/*
		 * Its handshake callback has not run yet. Not counted if the
		 * table is full: that callback counts the socket it cannot insert.
		 */
		if (bpf_map_update_elem(&conns, &key, &n, BPF_NOEXIST) == 0)
			return; /* the handshake callback starts it */
		c = bpf_map_lookup_elem(&conns, &key);
		if (!c)
			return;
	}
	if (c->role == ROLE_PASSIVE)
		accepted(key, c);
}

/*
 * accept() returned @fd: its connection starts now, in this process. In
 * the usual case the handshake callback entered the connection and checked
 * the rest, so it takes four probe reads (the whole check took ten).
 */
static __always_inline void on_accept(long fd)
{
	struct sock *sk = current_fd_sock(fd);
	__u64 key = (__u64)sk;
	struct conn *c;

	if (!sk)
		return;
	c = passive_conn(sk, key);
	if (c)
		accepted(key, c);
	else
		accept_untracked(sk, key);
}

/* sys_exit tracepoint record: the common header, the syscall number, its result */
struct sys_exit_args {
	__u64 common;
	long nr;
	long ret;
};

SEC("tracepoint/syscalls/sys_exit_accept4")
int sys_exit_accept4(struct sys_exit_args *ctx)
{
	on_accept(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sys_exit_accept(struct sys_exit_args *ctx)
{
	on_accept(ctx->ret);
	return 0;
}

/* uapi: the completion's buffer came from a provided-buffer group */
#define IORING_CQE_F_BUFFER (1U << 0)

/*
 * How io_uring_complete passes a completion (netlogd reads it in the
 * kernel's BTF): the ring, the request and the completion's entry (6.3 on),
 * or the ring, the request, user data, result and flags (5.18 to 6.2).
 */
const volatile __u8 uring_args = NETLOG_URING_ARGS_NONE;

/* uapi: a direct accept into the first free slot of the ring's table; the result is the slot */
#define IORING_FILE_INDEX_ALLOC (~0U)

/*
 * The ring's own table of files (direct descriptors), as 6.13 and later
 * keep it (an array of nodes) and as 5.19 to 6.12 did (an array of file
 * pointers): CO-RE picks the one the kernel has. Both tag the pointer's
 * low bits, and a struct file is aligned more than that.
 */
struct io_rsrc_node___nodes {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));

struct io_ring_ctx___nodes {
	struct {
		struct {
			unsigned int nr;
			struct io_rsrc_node___nodes **nodes;
		} data;
	} file_table;
} __attribute__((preserve_access_index));

struct io_fixed_file___array {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));

struct io_ring_ctx___array {
	struct {
		struct io_fixed_file___array *files;
	} file_table;
	unsigned int nr_user_files;
} __attribute__((preserve_access_index));

#define FFS_TAG_BITS 7UL

/* The file in slot @slot of ring @ctx's table, or NULL. */
static __always_inline struct file *ring_slot_file(void *ctx, __u32 slot)
{
	struct io_ring_ctx___nodes *r = ctx;
	struct io_ring_ctx___array *a = ctx;
	struct io_rsrc_node___nodes *node = NULL;
	unsigned long ptr = 0;

	if (bpf_core_field_exists(r->file_table.data)) {
		if (slot >= BPF_CORE_READ(r, file_table.data.nr))
			return NULL;
		bpf_probe_read_kernel(&node, sizeof(node), BPF_CORE_READ(r, file_table.data.nodes) + slot);
		if (node)
			ptr = BPF_CORE_READ(node, file_ptr);
	} else if (bpf_core_field_exists(a->file_table.files)) {
		if (slot >= BPF_CORE_READ(a, nr_user_files))
			return NULL;
		bpf_probe_read_kernel(&ptr, sizeof(ptr), &BPF_CORE_READ(a, file_table.files)[slot].file_ptr);
	}
	return (struct file *)(ptr & ~FFS_TAG_BITS);
}

/* The connection waiting for its accept that @file holds, if it is a socket's. */
static __always_inline struct conn *file_passive_conn(struct file *file, __u64 *key)
{
	struct sock *sk;

	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sk = file_sock(file);
	*key = (__u64)sk;
	return sk ? passive_conn(sk, *key) : NULL;
}

/*
 * io_uring's accept makes no accept() system call. Its completion carries
 * the new descriptor, in the ring's process (the thread that entered the
 * ring, or one of the io_uring threads it owns, which share its files),
 * or, for an accept into the ring's own table of files (a direct
 * descriptor), the slot. A multishot accept's completions name no request:
 * those are recognised by what the descriptor, or else the slot, holds: a
 * connection that waits for its accept, which no other completion's result
 * can name. Every io_uring completion on the host runs this (a raw
 * tracepoint: no record is built for it), so the usual ones leave at once:
 * a request that is not an accept, a failure, a receive's buffer.
 */
static __noinline int udp_connected(struct sock *sk);

SEC("raw_tp/io_uring_complete")
int io_uring_complete(struct bpf_raw_tracepoint_args *ctx)
{
	struct io_kiocb *req = (void *)ctx->args[1];
	struct { __s32 res; __u32 flags; } cqe = {};
	__u8 op = IORING_OP_ACCEPT; /* no request: a multishot accept's */
	__u32 slot = 0;
	struct conn *c;
	__u64 key = 0;

	if (req) {
		op = BPF_CORE_READ(req, opcode);
		if (op != IORING_OP_ACCEPT && op != IORING_OP_CONNECT)
			return 0;
		if (op == IORING_OP_ACCEPT && bpf_core_field_exists(struct io_accept, file_slot))
			slot = BPF_CORE_READ((struct io_accept *)req, file_slot); /* the slot + 1, or ALLOC */
	}
	if (uring_args == NETLOG_URING_ARGS_CQE) {
		bpf_probe_read_kernel(&cqe, sizeof(cqe), &((struct io_uring_cqe *)ctx->args[2])->res);
	} else {
		cqe.res = ctx->args[3];
		cqe.flags = ctx->args[4];
	}
	if (cqe.res < 0 || (!req && (cqe.flags & IORING_CQE_F_BUFFER)))
		return 0;
	/*
	 * A UDP socket's connect: no system call's exit tells it. (Not in the
	 * compat programs, whose stack this would overflow: there the flow
	 * starts with its first datagram.)
	 */
	if (op == IORING_OP_CONNECT) {
#ifndef NETLOG_COMPAT
		if (!cqe.res)
			udp_connected(file_sock(BPF_CORE_READ(req, file)));
#endif
		return 0;
	}
	if (slot) {
		c = file_passive_conn(ring_slot_file((void *)ctx->args[0],
						     slot == IORING_FILE_INDEX_ALLOC ? cqe.res : slot - 1), &key);
	} else {
		c = file_passive_conn(current_fd_file(cqe.res), &key);
		/* a multishot accept into the ring's table: the descriptor of that number is another's */
		if (!req && (!c || (c->bits & CONN_ACCEPTED)))
			c = file_passive_conn(ring_slot_file((void *)ctx->args[0], cqe.res), &key);
	}
	/* only a connection still waiting for its accept: a result is not always a descriptor */
	if (c && !(c->bits & CONN_ACCEPTED))
		accepted(key, c);
	return 0;
}

/*
 * connect() on a UDP socket starts a flow, with the local address and port
 * it gave the socket: so it is read at the syscall's exit, from the
 * descriptor. The cgroup connect hook, which runs only for connect() and
 * knows the protocol for free, marks the thread (and makes the kernel give
 * the socket its cookie, the flow's key); the exit finds the descriptor in
 * the registers the system call saved. No sys_enter tracepoint: attaching
 * one slows every system call on the host (by 22 ns here), connect() or not.
 * Compat kernels have no bpf_task_pt_regs(): there sys_enter_connect
 * remembers the descriptor of a UDP socket's connect().
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid: one connect() per thread at a time */
	__type(value, __s64); /* the descriptor; -1: read it at the exit */
} udp_connecting SEC(".maps");

static __always_inline bool sk_ptr_is_inet_udp(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return (family == AF_INET || family == AF_INET6) &&
	       proto_is_udp(BPF_CORE_READ(sk, sk_protocol));
}

/* A connected UDP socket's new flow @f, in the connecting process. Out of line: its frame is not flow_moved()'s. */
static __noinline int flow_connected(struct flow_info *f)
{
	struct netlog_flow n = {};

	n.start_ns = bpf_ktime_get_boot_ns();
	n.last_ns = flow_clock_traced();
	n.claimed = 1;
	proc_from_current(&n.owner);
	flow_insert(f, &n);
	return 0;
}

/* A UDP socket @sk connected, in the connecting process: its flow starts. */
static __noinline int udp_connected(struct sock *sk)
{
	struct flow_info f = {};
	struct netlog_flow *v;
	struct conn *s;

	if (!sk || !sk_ptr_is_inet_udp(sk) ||
	    BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_ESTABLISHED)
		return 0;
	f.k.sock_id = walked_sock_cookie(sk);
	if (!f.k.sock_id)
		return 0; /* no cookie: its first datagram reports the flow */
	f.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	f.protocol = BPF_CORE_READ(sk, sk_protocol);
	f.lport = f.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	f.k.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	f.netns = sock_netns(sk);
	if (f.family == AF_INET) {
		addr_from_v4(f.laddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		addr_from_v4(f.k.raddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	} else {
		BPF_CORE_READ_INTO(&f.laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&f.k.raddr, sk, __sk_common.skc_v6_daddr);
	}
	if (ports_ignored(f.lport, f.k.rport))
		return 0;
	f.direction = NETLOG_DIR_OUT;
	s = udp_sock_get(&f, true);
	if (s)
		s->has_flows = 1;
	/* connected again to a flow's peer, from the new port a disconnect left it to take */
	v = bpf_map_lookup_elem(&udp_flows, &f.k);
	if (!v)
		return flow_connected(&f);
	if (v->sport != f.sport && v->sport)
		flow_moved(v, &f, 0, 0, flow_clock_traced());
	return 0;
}

static __always_inline int on_udp_connect(long fd)
{
	return udp_connected(current_fd_sock(fd));
}

struct sys_enter_connect_args {
	__u64 common;
	long nr;
	long fd;
	long uservaddr;
	long addrlen;
};

SEC("tracepoint/syscalls/sys_enter_connect")
int sys_enter_connect(struct sys_enter_connect_args *ctx)
{
	struct sock *sk = current_fd_sock(ctx->fd);
	__u64 id = bpf_get_current_pid_tgid();
	__s64 fd = ctx->fd;

	if (sk && sk_ptr_is_inet_udp(sk))
		bpf_map_update_elem(&udp_connecting, &id, &fd, BPF_ANY);
	return 0;
}

/* connect() of a UDP socket, in the calling thread, before the kernel connects it. */
static __always_inline int on_connect_hook(struct bpf_sock_addr *ctx)
{
	struct flow_info f = {};
#ifndef NETLOG_COMPAT
	__u64 id;
	__s64 fd = -1;
#endif

	if (!proto_is_udp(ctx->protocol))
		return 1;
	f.k.sock_id = bpf_get_socket_cookie(ctx);
	/*
	 * Without the system call's exit (udp_connected()), the socket's
	 * entry is made here, its owner the connecting process: the stand-in
	 * of a flow its peer starts, and what stops its flows at its close
	 * (a socket connect() gave its port has no bind() that made one).
	 * Not a kernel thread's (a kernel socket's, which no release hook
	 * would ever remove; the verifier lets no pointer to the socket be
	 * walked here to ask it). The caller's namespace, for the same reason.
	 */
	if (!accept_hook && !port_ignored(bpf_ntohs(ctx->user_port)) &&
	    !(KREAD(current_task(), flags) & PF_KTHREAD)) {
		f.family = ctx->family;
		f.protocol = ctx->protocol;
		f.netns = KREAD(current_task(), nsproxy, net_ns, ns.inum);
		udp_sock_get(&f, true);
	}
#ifndef NETLOG_COMPAT
	/* for the system call's exit, which --no-accept-hook leaves unattached */
	if (accept_hook) {
		id = current_pid_tgid();
		bpf_map_update_elem(&udp_connecting, &id, &fd, BPF_ANY);
	}
#endif
	return 1;
}

SEC("cgroup/connect4")
int udp_connect4(struct bpf_sock_addr *ctx)
{
	return on_connect_hook(ctx);
}

SEC("cgroup/connect6")
int udp_connect6(struct bpf_sock_addr *ctx)
{
	return on_connect_hook(ctx);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct sys_exit_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__s64 *fd = bpf_map_lookup_elem(&udp_connecting, &id);
	__s64 f;

	if (!fd)
		return 0;
	f = *fd;
	bpf_map_delete_elem(&udp_connecting, &id);
	if (ctx->ret != 0)
		return 0;
#ifndef NETLOG_COMPAT
	/* the first argument, as the system call's entry saved it */
	f = PT_REGS_PARM1_CORE_SYSCALL((struct pt_regs *)bpf_task_pt_regs(current_task()));
#endif
	on_udp_connect(f);
	return 0;
}

/*
 * Start-up: every socket some process holds open, once per holder (fork and
 * fd passing make several). A socket is reported by the visit that enters
 * it in the tables: the others, and the hooks that entered one since they
 * attached, say nothing. The kernel shows an object again when its output
 * overflows the iterator's buffer (32 KiB), which a read of less than that
 * less one record never makes it do (dump_pass()).
 */
#define SOCK_BINDADDR_LOCK 4
#define SOCK_BINDPORT_LOCK 8

/*
 * A UDP socket open before netlogd started. Pass 1 gives it an entry, and
 * a listen if it was bound: bind() locks what it set, autobind nothing.
 * Pass 2 reports the flow of a connected one.
 */
/* The iterator's working memory: more than a BPF stack holds. */
struct iter_scratch {
	struct netlog_event e;
	struct conn n;
	struct netlog_flow v;
	struct flow_info f;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct iter_scratch);
} iter_scratch SEC(".maps");

static __always_inline int dump_udp(struct bpf_iter__task_file *ctx, struct task_struct *task,
				    struct sock *sk, struct iter_scratch *m)
{
	__u64 cookie = walked_sock_cookie(sk);
	struct conn *n = &m->n, *c;
	struct netlog_flow *v = &m->v;
	struct flow_info *f = &m->f;
	long err;

	if (ctl.iter_pass == 1) {
		__builtin_memset(n, 0, sizeof(*n));
		conn_init(n, cookie, 0, NETLOG_DIR_NONE);
		n->flags = NETLOG_F_PREEXISTING;
		tuple_from_sock(&n->t, sk);
		proc_from_task(&n->owner, task);
		if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_userlocks) & (SOCK_BINDADDR_LOCK | SOCK_BINDPORT_LOCK)) {
			n->role = ROLE_LISTENER;
			n->started = 1;
		}
		/* no key to enter it by (see make_cookies()): said, its close not matched */
		c = n;
		if (cookie) {
			if (bpf_map_update_elem(&udp_socks, &cookie, n, BPF_NOEXIST) == -7 /* E2BIG */)
				count_drop(NETLOG_DROP_TABLE);
			c = bpf_map_lookup_elem(&udp_socks, &cookie);
		}
		if (c && n->role == ROLE_LISTENER && c->role != ROLE_LISTENER &&
		    !(c->flags & NETLOG_F_PREEXISTING)) {
			/* bound before netlogd, it sent since: the entry that made is one of flows only */
			__builtin_memcpy(&c->t, &n->t, sizeof(c->t));
			c->role = ROLE_LISTENER;
			c->started = 1;
			c->flags |= NETLOG_F_PREEXISTING;
		}
		if (!c || !(c->flags & NETLOG_F_PREEXISTING) || c->role != ROLE_LISTENER)
			return 0;
		event_fill(&m->e, cookie, NETLOG_LISTEN_START, c, &c->owner);
		bpf_seq_write(ctx->meta->seq, &m->e, sizeof(m->e));
		return 0;
	}
	if (KREAD(sk, __sk_common.skc_state) != TCP_ESTABLISHED || !cookie)
		return 0;
	c = bpf_map_lookup_elem(&udp_socks, &cookie);
	/*
	 * One made since start-up: its connect() was seen, and started its
	 * flow (with --no-accept-hook, the connect hook made it: the flow
	 * starts with its first datagram, as every connected one does then).
	 */
	if (!c || !(c->flags & NETLOG_F_PREEXISTING))
		return 0;
	c->has_flows = 1;
	/* its addresses now: it may have connected since the first pass */
	tuple_from_sock(&n->t, sk);
	__builtin_memset(f, 0, sizeof(*f));
	__builtin_memset(v, 0, sizeof(*v));
	f->k.sock_id = cookie;
	__builtin_memcpy(f->k.raddr, n->t.raddr, 16);
	f->k.rport = n->t.rport;
	__builtin_memcpy(f->laddr, n->t.laddr, 16);
	f->lport = n->t.lport;
	f->netns = n->t.netns;
	f->family = n->t.family;
	f->protocol = n->t.protocol;
	f->direction = NETLOG_DIR_OUT;
	f->flags = NETLOG_F_PREEXISTING;
	v->start_ns = bpf_ktime_get_boot_ns();
	v->last_ns = flow_clock_traced();
	v->claimed = 1;
	v->lport = v->sport = f->lport;
	__builtin_memcpy(&v->owner, &c->owner, sizeof(v->owner));
	err = bpf_map_update_elem(&udp_flows, &f->k, v, BPF_NOEXIST);
	/* another holder's visit reported it, or the datagram or connect() that entered it since */
	if (err == -17 /* EEXIST */)
		return 0;
	if (err) {
		count_drop(NETLOG_DROP_FLOWS);
		f->flags |= NETLOG_F_UNTRACKED;
	}
	flow_event_fill(&m->e, NETLOG_UDP_FLOW, f, &v->owner, v->start_ns);
	bpf_seq_write(ctx->meta->seq, &m->e, sizeof(m->e));
	return 0;
}

/* The socket of an open file, if it is one. */
static __always_inline struct socket *file_socket(struct file *file)
{
#ifdef NETLOG_COMPAT
	/* before 5.11, no bpf_sock_from_file: a socket's file and the socket point to each other */
	struct socket *sock;

	if ((KREAD(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = KREAD(file, private_data);
	return sock && KREAD(sock, file) == file ? sock : NULL;
#else
	return bpf_sock_from_file(file);
#endif
}

SEC("iter/task_file")
int dump_task_file(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct iter_scratch *m;
	struct socket *sock;
	struct conn *n;
	struct sock *sk;
	__u32 zero = 0;
	__u64 key;
	int state;

	m = bpf_map_lookup_elem(&iter_scratch, &zero);
	if (!task || !file || !m)
		return 0;
	if (ctl.iter_pass == 1)
		exe_learn(task); /* programs started before netlogd */
	sock = file_socket(file);
	sk = sock ? KREAD(sock, sk) : NULL;
	if (!sk)
		return 0;
	if (sk_ptr_is_inet_udp(sk))
		return dump_udp(ctx, task, sk, m);
	if (!sk_is_inet_tcp(sk))
		return 0;
	state = KREAD(sk, __sk_common.skc_state);
	if ((ctl.iter_pass == 1) != (state == TCP_LISTEN))
		return 0;
	if (state == TCP_CLOSE || state == TCP_SYN_RECV || state == TCP_NEW_SYN_RECV)
		return 0;

	key = (__u64)sk;
	n = &m->n;
	__builtin_memset(n, 0, sizeof(*n));
	n->start_ns = bpf_ktime_get_boot_ns();
	n->cookie = walked_sock_cookie(sk);
	n->flags = NETLOG_F_PREEXISTING;
	n->started = state != TCP_SYN_SENT;
	n->bits = CONN_HAS_TUPLE | CONN_ACCEPTED;
	tuple_from_sock(&n->t, sk);
	proc_from_task(&n->owner, task);
	if (state == TCP_LISTEN) {
		n->role = ROLE_LISTENER;
		listener_add(&n->t, &n->owner, key, BPF_NOEXIST);
	} else if (state == TCP_SYN_SENT) {
		n->role = ROLE_ACTIVE;
		n->direction = NETLOG_DIR_OUT;
	} else {
		n->role = listener_owner(&n->t) ? ROLE_PASSIVE : ROLE_ACTIVE;
		n->direction = n->role == ROLE_PASSIVE ? NETLOG_DIR_IN : NETLOG_DIR_OUT;
	}
	/*
	 * Report only what this visit entered, and not a connect in flight:
	 * an entry there already is another holder's (this walk reported it)
	 * or a hook's since it attached (accept(), a handshake: that one
	 * reported it). Reported from what was entered, even if the socket
	 * closed since on another CPU: its stop is on the ring, read after
	 * the walk.
	 */
	if (conn_insert(key, n) || !n->started)
		return 0;
	/*
	 * Gone since its state was read (a reset, a timeout: the file the walk
	 * holds keeps only a close() away)? The state-change hook runs before
	 * the new state is stored: seen CLOSE, that run is over, and it stopped
	 * the entry if it found it (deleted it, or marked it closed). One it
	 * never found came too early: no stop will come, so no start either.
	 */
	if (KREAD(sk, __sk_common.skc_state) == TCP_CLOSE) {
		struct conn *c = bpf_map_lookup_elem(&conns, &key);

		if (c && !(c->bits & CONN_CLOSED)) {
			bpf_map_delete_elem(&conns, &key);
			return 0;
		}
	}
	event_fill(&m->e, key, state == TCP_LISTEN ? NETLOG_LISTEN_START : NETLOG_CONNECT_START, n,
		   &n->owner);
	bpf_seq_write(ctx->meta->seq, &m->e, sizeof(m->e));
	return 0;
}

#define SOL_TCP 6
/* bpf_setsockopt() takes it since Linux 6.12; its uapi value, absent from older vmlinux.h */
#define TCP_BPF_SOCK_OPS_CB_FLAGS_OPT 1008


/*
 * A connection whose handshake completed before netlogd and that no process
 * has accepted yet: no descriptor, so the dump did not see it. Its entry
 * waits for accept() as a new one's does; if it is never accepted, its
 * close reports it for the listener's owner.
 */
static __always_inline struct conn *queued_connection(struct sock *sk, __u64 key)
{
	int state = KREAD(sk, __sk_common.skc_state);
	struct conn n = {};

	if (state != TCP_ESTABLISHED && state != TCP_CLOSE_WAIT)
		return NULL;
	/* a descriptor: the dump had it; dead: closed, an orphan finishing */
	if (KREAD(sk, sk_socket) || (KREAD(sk, __sk_common.skc_flags) >> SOCK_DEAD & 1))
		return NULL;
	if (ports_ignored(KREAD(sk, __sk_common.skc_num), bpf_ntohs(KREAD(sk, __sk_common.skc_dport))))
		return NULL;
	passive_init(&n, sk, sock_cookie(sk));
	n.flags |= NETLOG_F_PREEXISTING;
	n.started = !accept_hook; /* without accept(), it starts now, for the listener's owner */
	if (conn_insert(key, &n) == 0) {
		__sync_fetch_and_add(&ctl.queued_found, 1);
		if (!accept_hook && !emit(key, NETLOG_CONNECT_START, &n, &n.owner))
			start_lost(&conns, &key);
	}
	return bpf_map_lookup_elem(&conns, &key);
}

/*
 * After the start-up dump, in each network namespace, each TCP socket
 * locked while the program runs:
 *  - connections still queued on a listener are entered (queued_connection());
 *  - sockops is asked to see the state changes of them all, as it does for
 *    sockets made since. Their stops then no longer depend on the
 *    state-change tracepoint, which the kernel skips when it fires inside
 *    itself on one CPU. Kernels before 6.12 refuse the option, and the
 *    compat build does not ask: there the tracepoint ends them.
 */
SEC("iter/tcp")
int existing_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	struct sock *sk;
	struct conn *c;
	__u64 key;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	key = (__u64)tp;
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c) {
		c = queued_connection(sk, key);
		if (!c)
			return 0;
	}
#ifndef NETLOG_COMPAT
	if (!c->watched) {
		int flags = tp->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG;

		if (bpf_setsockopt(tp, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS_OPT, &flags, sizeof(flags))) {
			__sync_fetch_and_add(&ctl.handoff_refused, 1);
			return 0;
		}
		c->watched = 1;
		__sync_fetch_and_add(&ctl.handed_to_sockops, 1);
	}
#endif
	return 0;
}
