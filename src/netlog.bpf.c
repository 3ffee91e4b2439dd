// SPDX-License-Identifier: GPL-2.0
/*
 * netlog kernel side: turns TCP socket state changes into per-connection
 * listen/connect start/stop records, with the right process on each.
 *
 * Hooks, all stable:
 *   sockops (cgroup)               listen, connect, established, and every
 *                                  later state change of those sockets
 *   tracepoint sys_exit_accept(4)  who accepted an incoming connection
 *   cgroup/sock_release            who closed a socket (last fd closed)
 *   iter/task_file                 sockets that exist when netlogd starts
 *   tp_btf/inet_sock_set_state     the close of those pre-existing sockets
 *
 * sockops carries the main path because cgroup programs always run: a
 * tracing program is skipped when it fires while another runs on the same
 * CPU (softirq over process context), which would lose a start or a stop.
 *
 * Per-socket state lives in the `conns` hash, keyed by the socket's kernel
 * address, from the first event of a socket until it reaches TCP_CLOSE.
 */
#include "netlog.bpf.h"

#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

enum conn_role {
	ROLE_LISTENER = 1,
	ROLE_ACTIVE = 2,  /* we called connect() */
	ROLE_PASSIVE = 3, /* created by a listener for an incoming connection */
};

struct conn {
	__u64 start_ns;
	struct netlog_proc owner; /* last process known to own the socket */
	__u32 started;		  /* start emitted; claimed with cmpxchg */
	__u8 role;
	__u8 direction;
	__u8 flags;   /* NETLOG_F_* carried to the socket's events */
	__u8 watched; /* sockops sees its state changes; else the tracepoint */
};

struct listener_key {
	__u8 addr[16];
	__u32 netns;
	__u16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by netlogd before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by netlogd before load */
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct listener_key);
	__type(value, struct netlog_proc);
} listeners SEC(".maps");

/* The process that released (closed the last fd of) a socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct netlog_proc);
} closers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETLOG_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/*
 * Wake the daemon only once this much is waiting; it also drains the buffer
 * on a short timer. One wakeup per event would cost more than the event.
 */
const volatile __u64 wakeup_bytes = 0;

/* Which sockets the start-up iterator reports: 1 listeners, 2 the rest. */
__u32 iter_pass;

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1;
}

static __always_inline void event_init(struct netlog_event *e, const struct sock *sk, __u8 type,
				       const struct conn *c, const struct netlog_proc *proc)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->sock_id = (__u64)sk;
	e->type = type;
	e->direction = c->direction;
	e->flags = c->flags;
	if (type == NETLOG_CONNECT_STOP || type == NETLOG_LISTEN_STOP || type == NETLOG_CONNECT_FAIL)
		e->start_ns = c->start_ns;
	__builtin_memcpy(&e->proc, proc, sizeof(*proc));
	event_from_sock(e, sk);
}

static __always_inline void emit(const struct sock *sk, __u8 type, const struct conn *c,
				 const struct netlog_proc *proc)
{
	struct netlog_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop(NETLOG_DROP_RINGBUF);
		return;
	}
	event_init(e, sk, type, c, proc);
	if (wakeup_bytes && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < wakeup_bytes)
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	else
		bpf_ringbuf_submit(e, 0);
}

static __always_inline void listener_key_from_sock(struct listener_key *k, const struct sock *sk)
{
	struct netlog_event e;

	/* reuse the event's address decoding so both sides agree */
	__builtin_memset(&e, 0, sizeof(e));
	event_from_sock(&e, sk);
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->addr, e.laddr, 16);
	k->netns = e.netns;
	k->port = e.lport;
}

/* The owner of the listener an incoming connection arrived on. */
static __always_inline struct netlog_proc *listener_owner(const struct sock *child)
{
	struct listener_key k;
	struct netlog_proc *p;

	listener_key_from_sock(&k, child);
	p = bpf_map_lookup_elem(&listeners, &k);
	if (p)
		return p;
	/* an IPv4 wildcard listener, 0.0.0.0 stored mapped */
	if (k.addr[10] == 0xff && k.addr[11] == 0xff) {
		__builtin_memset(k.addr + 12, 0, 4);
		p = bpf_map_lookup_elem(&listeners, &k);
		if (p)
			return p;
	}
	/* an IPv6 wildcard listener, dual-stack or not */
	__builtin_memset(k.addr, 0, 16);
	return bpf_map_lookup_elem(&listeners, &k);
}

static __always_inline int conn_insert(__u64 key, const struct conn *c)
{
	int err = bpf_map_update_elem(&conns, &key, c, BPF_NOEXIST);

	if (err && err != -17 /* EEXIST */)
		count_drop(NETLOG_DROP_TABLE);
	return err;
}

/* listen(), in the calling process, once the port is known. */
static __always_inline void on_listen(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct listener_key k;
	struct conn c = {};

	c.start_ns = bpf_ktime_get_boot_ns();
	c.role = ROLE_LISTENER;
	c.started = 1;
	c.watched = 1;
	proc_from_current(&c.owner);
	bpf_map_update_elem(&conns, &key, &c, BPF_ANY);
	listener_key_from_sock(&k, sk);
	bpf_map_update_elem(&listeners, &k, &c.owner, BPF_ANY);
	emit(sk, NETLOG_LISTEN_START, &c, &c.owner);
}

/* LISTEN -> CLOSE happens only in close() or shutdown() by a process. */
static __always_inline void on_listen_close(const struct sock *sk, struct conn *c)
{
	__u64 key = (__u64)sk;
	struct listener_key k;
	struct netlog_proc closer;

	proc_from_current(&closer);
	emit(sk, NETLOG_LISTEN_STOP, c, &closer);
	listener_key_from_sock(&k, sk);
	bpf_map_delete_elem(&listeners, &k);
	bpf_map_delete_elem(&conns, &key);
}

/* connect(), in the calling process: the SYN is about to leave. */
static __always_inline void on_connect(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct conn c = {};

	c.start_ns = bpf_ktime_get_boot_ns();
	c.watched = 1;
	c.role = ROLE_ACTIVE;
	c.direction = NETLOG_DIR_OUT;
	proc_from_current(&c.owner);
	/* a socket may connect again after a failed attempt: replace */
	if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY))
		count_drop(NETLOG_DROP_TABLE);
}

/*
 * Handshake done, in softirq: current is nobody in particular. @oldstate
 * says which side we are: SYN_SENT active, SYN_RECV passive.
 */
static __always_inline void on_established(const struct sock *sk, int oldstate)
{
	__u64 key = (__u64)sk;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	struct netlog_proc *owner;
	struct conn n = {};

	if (c) {
		c->watched = 1;
		if (c->role != ROLE_ACTIVE)
			return; /* accept() got there first */
		if (__sync_val_compare_and_swap(&c->started, 0, 1) == 0) {
			c->start_ns = bpf_ktime_get_boot_ns();
			emit(sk, NETLOG_CONNECT_START, c, &c->owner);
		}
		return;
	}
	n.start_ns = bpf_ktime_get_boot_ns();
	n.watched = 1;
	if (oldstate == TCP_SYN_SENT) {
		/* connect() began before netlogd: the caller is unknown */
		n.role = ROLE_ACTIVE;
		n.direction = NETLOG_DIR_OUT;
		n.flags = NETLOG_F_OWNER_UNKNOWN;
		n.started = 1;
		if (conn_insert(key, &n) == 0)
			emit(sk, NETLOG_CONNECT_START, &n, &n.owner);
		return;
	}
	/*
	 * Incoming: the start waits for accept(), which names the process.
	 * Keep the listener's owner for a connection nobody ever accepts.
	 */
	n.role = ROLE_PASSIVE;
	n.direction = NETLOG_DIR_IN;
	owner = listener_owner(sk);
	if (owner)
		__builtin_memcpy(&n.owner, owner, sizeof(n.owner));
	else
		n.flags |= NETLOG_F_OWNER_UNKNOWN;
	conn_insert(key, &n);
}

/* -> CLOSE: the connection is gone, whoever's context this is. */
static __always_inline void on_close(const struct sock *sk, struct conn *c)
{
	__u64 key = (__u64)sk;
	struct netlog_proc *closer;

	closer = bpf_sk_storage_get(&closers, (void *)sk, 0, 0);
	if (__sync_val_compare_and_swap(&c->started, 0, 1) == 0) {
		if (c->role == ROLE_ACTIVE) {
			emit(sk, NETLOG_CONNECT_FAIL, c, &c->owner);
			goto out;
		}
		/* incoming, never accepted: log it now, so it is not lost */
		if (closer) {
			__builtin_memcpy(&c->owner, closer, sizeof(*closer));
			c->flags &= ~NETLOG_F_OWNER_UNKNOWN;
		} else {
			c->flags |= NETLOG_F_NOT_ACCEPTED;
		}
		emit(sk, NETLOG_CONNECT_START, c, &c->owner);
	}
	emit(sk, NETLOG_CONNECT_STOP, c, closer ? closer : &c->owner);
out:
	bpf_map_delete_elem(&conns, &key);
}

static __always_inline void on_state_close(const struct sock *sk, int oldstate, struct conn *c)
{
	if (oldstate == TCP_LISTEN)
		on_listen_close(sk, c);
	else
		on_close(sk, c);
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
	struct conn *c;
	struct sock *sk;
	__u64 key;

	if (op != BPF_SOCK_OPS_TCP_LISTEN_CB && op != BPF_SOCK_OPS_TCP_CONNECT_CB &&
	    op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB &&
	    op != BPF_SOCK_OPS_STATE_CB)
		return 1;
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	bsk = skops->sk;
	if (!bsk)
		return 1;
	sk = (struct sock *)bpf_skc_to_tcp_sock(bsk);
	if (!sk)
		return 1;

	switch (op) {
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		on_listen(sk);
		watch_state(skops);
		break;
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		on_connect(sk);
		watch_state(skops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		on_established(sk, TCP_SYN_SENT);
		watch_state(skops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		on_established(sk, TCP_SYN_RECV);
		watch_state(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] != TCP_CLOSE)
			break;
		key = (__u64)sk;
		c = bpf_map_lookup_elem(&conns, &key);
		if (c)
			on_state_close(sk, skops->args[0], c);
		break;
	}
	return 1;
}

/* The close of sockets sockops does not watch: those that predate netlogd. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	struct conn *c;
	__u64 key;

	if (newstate != TCP_CLOSE || !sk_is_inet_tcp(sk))
		return 0;
	key = (__u64)sk;
	c = bpf_map_lookup_elem(&conns, &key);
	if (c && !c->watched)
		on_state_close(sk, oldstate, c);
	return 0;
}

/* The socket behind file descriptor @fd of the current process. */
static __always_inline struct sock *current_fd_sock(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	struct socket *sock;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* accept() returned @fd: its connection starts now, in this process. */
static __always_inline void on_accept(long fd)
{
	struct sock *sk = current_fd_sock(fd);
	__u64 key = (__u64)sk;
	struct conn *c;
	struct conn n = {};

	if (!sk || !sk_is_inet_tcp(sk))
		return;
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE)
		return; /* already reported as gone, never accepted */
	c = bpf_map_lookup_elem(&conns, &key);
	if (c) {
		if (__sync_val_compare_and_swap(&c->started, 0, 1) != 0)
			return;
		proc_from_current(&c->owner);
		c->flags &= ~NETLOG_F_OWNER_UNKNOWN;
		emit(sk, NETLOG_CONNECT_START, c, &c->owner);
		return;
	}
	/* not seen established (fast open, or the table was full) */
	n.start_ns = bpf_ktime_get_boot_ns();
	n.role = ROLE_PASSIVE;
	n.direction = NETLOG_DIR_IN;
	n.started = 1;
	proc_from_current(&n.owner);
	if (conn_insert(key, &n) == 0)
		emit(sk, NETLOG_CONNECT_START, &n, &n.owner);
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

/* The last fd of a socket is closed: remember by whom, for its stop. */
SEC("cgroup/sock_release")
int sock_release(struct bpf_sock *ctx)
{
	struct netlog_proc *p;

	if (ctx->protocol != IPPROTO_TCP || ctx->state == TCP_CLOSE || ctx->state == TCP_LISTEN)
		return 1;
	p = bpf_sk_storage_get(&closers, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (p)
		proc_from_current(p);
	return 1;
}

/*
 * Start-up: every socket some process holds open. A visit can repeat when
 * the output buffer fills, so this is idempotent; user space drops the
 * duplicates that fork and fd passing create.
 */
SEC("iter/task_file")
int dump_task_file(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct netlog_event e;
	struct socket *sock;
	struct conn n = {};
	struct conn *c;
	struct sock *sk;
	__u64 key;
	int state;

	if (!task || !file)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
	if (!sk || !sk_is_inet_tcp(sk))
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if ((iter_pass == 1) != (state == TCP_LISTEN))
		return 0;
	if (state == TCP_CLOSE || state == TCP_SYN_RECV || state == TCP_NEW_SYN_RECV)
		return 0;

	key = (__u64)sk;
	n.start_ns = bpf_ktime_get_boot_ns();
	n.flags = NETLOG_F_PREEXISTING;
	n.started = state != TCP_SYN_SENT;
	proc_from_task(&n.owner, task);
	if (state == TCP_LISTEN) {
		struct listener_key k;

		n.role = ROLE_LISTENER;
		listener_key_from_sock(&k, sk);
		bpf_map_update_elem(&listeners, &k, &n.owner, BPF_NOEXIST);
	} else if (state == TCP_SYN_SENT) {
		n.role = ROLE_ACTIVE;
		n.direction = NETLOG_DIR_OUT;
	} else {
		n.role = listener_owner(sk) ? ROLE_PASSIVE : ROLE_ACTIVE;
		n.direction = n.role == ROLE_PASSIVE ? NETLOG_DIR_IN : NETLOG_DIR_OUT;
	}
	conn_insert(key, &n);
	c = bpf_map_lookup_elem(&conns, &key);
	/* report only what this iterator inserted, and not a connect in flight */
	if (!c || !(c->flags & NETLOG_F_PREEXISTING) || !c->started)
		return 0;
	event_init(&e, sk, state == TCP_LISTEN ? NETLOG_LISTEN_START : NETLOG_CONNECT_START, c,
		   &c->owner);
	bpf_seq_write(ctx->meta->seq, &e, sizeof(e));
	return 0;
}
