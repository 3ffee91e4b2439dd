/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one header shared by the kernel programs and the daemon: the event
 * record that crosses the ring buffer, and the constants both sides use.
 *
 * Layout rules: fixed-width types, largest first, explicit padding, no
 * pointers. Addresses are in network byte order, ports and everything else
 * in host byte order. IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d)
 * so that one 16-byte field serves both families.
 */
#ifndef NETLOG_H
#define NETLOG_H

#define NETLOG_COMM_LEN 16

enum netlog_event_type {
	NETLOG_LISTEN_START = 1,
	NETLOG_LISTEN_STOP = 2,
	NETLOG_CONNECT_START = 3,
	NETLOG_CONNECT_STOP = 4,
	NETLOG_CONNECT_FAIL = 5, /* outgoing TCP connect that never completed */
	/*
	 * UDP flow records, turned into connect start/stop lines by the daemon,
	 * which owns the flows' life cycle (close, idle timeout).
	 */
	NETLOG_UDP_FLOW = 6,  /* first datagram of a flow, or connect() */
	NETLOG_UDP_CLAIM = 7, /* a process received an incoming flow's datagram */
	NETLOG_UDP_CLOSE = 8, /* a socket that had flows was closed */
	/*
	 * A flow's socket sent from another local port (connect(AF_UNSPEC)
	 * gave its port back): the flow ended, its counts in traffic, and a
	 * new one started with this datagram, under the same key.
	 */
	NETLOG_UDP_MOVED = 9,
	/*
	 * A process received on a socket with incoming flows not yet named,
	 * not asking whose datagram it read: those flows' receiver.
	 */
	NETLOG_UDP_RECEIVER = 10,
};

enum netlog_direction {
	NETLOG_DIR_NONE = 0, /* listen events */
	NETLOG_DIR_OUT = 1,
	NETLOG_DIR_IN = 2,
};

enum netlog_event_flags {
	NETLOG_F_PREEXISTING = 1 << 0,	/* socket existed before netlogd started */
	NETLOG_F_NOT_ACCEPTED = 1 << 1, /* incoming, closed before any accept() */
	NETLOG_F_OWNER_UNKNOWN = 1 << 2, /* no process was ever seen owning it */
	NETLOG_F_UNTRACKED = 1 << 3,	 /* UDP flow table full: counted nowhere */
	NETLOG_F_LATE = 1 << 4,		 /* set by the daemon: a stop the full ring kept back, logged late */
	NETLOG_F_START_LOST = 1 << 5,	 /* a stop whose start the full ring lost (counted) */
	NETLOG_F_RECOVERED = 1 << 6,	 /* a stop the kernel skipped, logged when found (stop_unseen()) */
	NETLOG_F_NO_STOP = 1 << 7,	 /* set by the daemon: no stop follows (its flow table was full) */
};

/* Why the kernel side could not hand something over; indexes the counters map. */
enum netlog_drop_reason {
	NETLOG_DROP_RINGBUF = 0, /* TCP events' ring buffer full: an event was lost */
	NETLOG_DROP_TABLE = 1,	 /* socket table full: a socket is not tracked */
	NETLOG_DROP_FLOWS = 2,	 /* UDP flow table full: a flow is not counted */
	NETLOG_DROP_NAMES = 3,	 /* names ring full: an executable's or cgroup's path was lost */
	NETLOG_DROP_V6EXT = 4,	 /* a UDP datagram behind too many IPv6 extension headers: not looked at */
	NETLOG_DROP_RINGBUF_UDP = 5, /* UDP events' ring buffer full: an event was lost */
	NETLOG_DROP_MAX,
};

/* How the kernel's io_uring_complete tracepoint passes a completion (its BTF says). */
enum netlog_uring_args {
	NETLOG_URING_ARGS_NONE = 0, /* it names no request (before 5.18): not watched */
	NETLOG_URING_ARGS_RES = 1,  /* ring, request, user data, result, flags (5.18 to 6.2) */
	NETLOG_URING_ARGS_CQE = 2,  /* ring, request, the completion's entry (6.3 on) */
};

/*
 * What netlogd reads and writes in the kernel side's globals while the
 * programs run, in one variable: the two builds lay separate globals out
 * in different orders, and the one skeleton that drives both needs a
 * single layout (make checks it).
 */
struct netlog_ctl {
	__u32 iter_pass;	 /* which sockets the start-up dump reports: 1 listeners, 2 the rest */
	__u32 ignored_ports_n;	 /* how many ports "ignore = port" rules name */
	__u32 ignored_nets_n;	 /* how many address blocks "ignore = address" rules name */
	__u32 ignore_loopback;	 /* "ignore = loopback" */
	__u32 handed_to_sockops; /* existing_tcp(): sockets sockops watches from now on */
	__u32 handoff_refused;	 /* existing_tcp(): sockets the kernel would not hand over */
	__u32 queued_found;	 /* existing_tcp(): connections queued on a listener */
};

#define NETLOG_NO_AUID 0xffffffffu /* login uid of a process no login started */

/* A process, as seen in the kernel at the moment of the event. */
struct netlog_proc {
	__u64 cgroup_id; /* cgroup v2 id (the inode number of its directory) */
	__u32 tgid;	 /* process id (thread-group id), initial pid namespace */
	__u32 tid;	 /* the thread that acted */
	__u32 sid;	 /* session id, initial pid namespace */
	__u32 ppid;	 /* parent's process id */
	__u32 uid;	 /* real user id, initial user namespace */
	__u32 euid;	 /* effective user id */
	__u32 auid;	 /* login (audit) user id, NETLOG_NO_AUID if none */
	__u32 pad;
	__u64 exe_id;	 /* the executable as the process sees it (see netlog_exe); 0: none (a kernel thread) */
	char comm[NETLOG_COMM_LEN];	   /* thread-group leader's name, as ps -o comm */
	char thread_comm[NETLOG_COMM_LEN]; /* the acting thread's own name */
};

/* What went through a connection, as the kernel counted it (TCP stops). */
struct netlog_traffic {
	__u64 bytes_sent;	/* payload, each byte once however often it was sent */
	__u64 bytes_received;
	__u32 packets_sent;	/* segments */
	__u32 packets_received;
};

struct netlog_event {
	__u64 ts_ns;	   /* event time, CLOCK_BOOTTIME */
	__u64 start_ns;	   /* stops: when the start happened, CLOCK_BOOTTIME; else 0 */
	__u64 sock_id;	   /* the socket's cookie (as ss shows it), same on start and stop */
	__u8 laddr[16];	   /* local address, network byte order */
	__u8 raddr[16];	   /* remote address, network byte order; zero for listen */
	struct netlog_proc proc;
	struct netlog_traffic traffic; /* connect stop only; zero otherwise */
	__u32 netns;	   /* network namespace inode number */
	__u16 lport;	   /* local port, host byte order */
	__u16 rport;	   /* remote port, host byte order */
	__u16 family;	   /* AF_INET or AF_INET6: the socket's own family */
	__u8 type;	   /* enum netlog_event_type */
	__u8 protocol;	   /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_UDPLITE */
	__u8 direction;	   /* enum netlog_direction */
	__u8 flags;	   /* enum netlog_event_flags */
	__u8 pad[2];
};

/*
 * Names that events refer to by number, reported on their own ring buffer
 * (names) before any event that uses them: each record starts with its kind.
 */
enum netlog_name_kind {
	NETLOG_NAME_EXE = 1,
	NETLOG_NAME_CGROUP = 2,
	NETLOG_NAME_CGROUP_GONE = 3,
};

/*
 * An executable's path, reported once per id: the file (inode number,
 * device, generation: a number reused after a delete is another file) and
 * the mount it was run through (a bind mount shows the same file at
 * another path, and no process's view may name another's), hashed. Its
 * components are listed leaf first, up to its mount namespace's root.
 */
#define NETLOG_EXE_DEPTH 16
#define NETLOG_EXE_NAME_LEN 64

/* netlog_exe.flags */
enum netlog_exe_flags {
	/*
	 * A file no directory holds (memfd_create(), a pseudo file of the
	 * kernel's): comp[0] is its name, and its path is what the kernel
	 * writes for it, "/memfd:NAME (deleted)"
	 */
	NETLOG_EXE_PSEUDO = 1,
};

struct netlog_exe {
	__u32 kind;	 /* NETLOG_NAME_EXE */
	__u32 flags;	 /* enum netlog_exe_flags */
	__u64 id;	 /* netlog_proc.exe_id */
	__u16 ncomp;	 /* components filled, leaf first */
	__u16 truncated; /* deeper than NETLOG_EXE_DEPTH */
	__u32 cut;	 /* bit i: comp[i] is the start of a longer name */
	char comp[NETLOG_EXE_DEPTH][NETLOG_EXE_NAME_LEN];
};

/* What the kernel remembers of an executable it reported (exes_seen's key). */
struct netlog_exe_key {
	__u64 id;
};

/* A cgroup v2 directory, made while netlogd runs: its id and path below the root. */
#define NETLOG_CGROUP_PATH_LEN 512

struct netlog_cgroup {
	__u32 kind; /* NETLOG_NAME_CGROUP */
	__u32 cut;  /* the path was longer than @path holds: cut */
	__u64 id;
	char path[NETLOG_CGROUP_PATH_LEN]; /* NUL-terminated, "/" first */
};

/* A cgroup v2 directory was removed: its path may go. */
struct netlog_cgroup_gone {
	__u32 kind; /* NETLOG_NAME_CGROUP_GONE */
	__u32 pad;
	__u64 id;
};

/* A stop kept in the kernel while the ring was full (late_stops, its value a struct conn). */
struct netlog_late_key {
	__u64 cookie;
	__u64 ts_ns; /* when it happened: the stop's time stamp */
	__u8 type;   /* NETLOG_LISTEN_STOP, NETLOG_CONNECT_STOP or NETLOG_UDP_CLOSE */
	__u8 pad[7];
};

/* A UDP flow: one local socket and one remote address and port. */
struct netlog_flow_key {
	__u64 sock_id;	 /* the socket's cookie */
	__u8 raddr[16];	 /* network byte order, IPv4 mapped */
	__u16 rport;	 /* host byte order */
	__u16 pad[3];
};

/*
 * What the kernel keeps of a flow; the daemon reads it at the flow's stop.
 * The fields every datagram writes come last, a cache line away from those
 * the receiving process's hook reads on another CPU (owner, claimed), so
 * that each datagram does not move the line between the two.
 */
struct netlog_flow {
	struct netlog_proc owner;	/* the last process that sent or received */
	__u64 start_ns;			/* first datagram, CLOCK_BOOTTIME */
	__u32 claimed;			/* a process has received on it */
	__u16 lport;			/* the local port its first datagram had */
	__u16 sport;			/* its socket's own port then (a NAT may give the datagram another) */
	__u8 apart[64];			/* see above */
	struct netlog_traffic traffic;	/* payload bytes and datagrams */
	__u64 last_ns;			/* latest datagram, CLOCK_MONOTONIC, to a tick: */
					/* read per datagram, so the cheapest clock */
};

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

/*
 * A socket the kernel side tracks (tables conns, TCP, and udp_socks). The
 * daemon reads conns too: whether sockops watches every TCP socket in it.
 */
/* conn.bits, set with atomic or: accept() and the handshake race */
enum conn_bits {
	CONN_HAS_TUPLE = 1 << 0, /* handshake done, addresses filled */
	CONN_ACCEPTED = 1 << 1,	 /* a process accepted it: owner is that process */
	CONN_CLOSED = 1 << 3,	 /* TCP: logged gone, its entry kept until its process lets it go */
	CONN_RELEASED = 1 << 4,	 /* TCP: its process let it go (sock_release) */
	CONN_START_LOST = 1 << 5, /* its start found the ring full: its stop says so, and is never kept for later */
};

/* conn.role */
enum conn_role {
	ROLE_LISTENER = 1,
	ROLE_ACTIVE = 2,  /* we called connect() */
	ROLE_PASSIVE = 3, /* created by a listener for an incoming connection */
};

struct conn {
	__u64 start_ns;
	__u64 cookie; /* the socket's cookie: the id events carry, never the address */
	struct tuple t;
	struct netlog_proc owner;  /* last process known to own the socket */
	struct netlog_proc closer; /* the process that closed it, if one did */
	struct netlog_traffic traffic; /* counted at the stop */
	__u32 started;		   /* start emitted; claimed with cmpxchg */
	__u32 bits;		   /* enum conn_bits */
	__u8 role;
	__u8 direction;
	__u8 flags;   /* NETLOG_F_* carried to the socket's events */
	__u8 watched; /* sockops sees its state changes; else the tracepoint */
	__u8 has_closer;
	/*
	 * UDP: the daemon ends its flows when it closes. A byte of its own, set
	 * with a plain store: CPUs starting flows at once may all set it, where
	 * the compat build's check-then-add on bits would carry into the next.
	 */
	__u8 has_flows;
	__u8 no_id; /* TCP: logged started before it had a cookie: its events say id 0 */
	__u8 pad;
};

/* The id the events of socket entry @c carry, in the kernel's and in kept-back stops alike. */
static inline __u64 conn_event_id(const struct conn *c)
{
	return c->no_id ? 0 : c->cookie;
}

#endif /* NETLOG_H */
