// SPDX-License-Identifier: GPL-2.0
#include "loader.h"
#include "options.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "netlog.skel.h"
#include "netlog_compat.skel.h"
#include "system.h"

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && log_verbosity() < 2)
		return 0;
	if (level == LIBBPF_INFO && log_verbosity() < 1)
		return 0;
	if (level == LIBBPF_WARN && log_verbosity() < 1)
		return 0;
	log_vraw(fmt, ap);
	return 0;
}

static int attach(struct bpf_program *prog, struct bpf_link **link, int cgroup_fd,
		  const char *what)
{
	*link = cgroup_fd >= 0 ? bpf_program__attach_cgroup(prog, cgroup_fd) : bpf_program__attach(prog);
	if (!*link) {
		int err = -errno;

		log_warnx("attach %s: %s", what, strerror(-err));
		return err;
	}
	return 0;
}

/*
 * How this kernel's io_uring_complete tracepoint passes a completion, read
 * in its BTF: as the completion's entry (6.3 on: __data, ring, request,
 * entry), or as its result and flags (5.18 to 6.2: eight arguments).
 * Earlier ones do not name the request; without io_uring there is none.
 */
static enum netlog_uring_args uring_args(const struct btf *btf)
{
	enum netlog_uring_args kind = NETLOG_URING_ARGS_NONE;
	const struct btf_type *t;
	int id;

	if (!btf)
		return kind;
	id = btf__find_by_name_kind(btf, "btf_trace_io_uring_complete", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(btf, btf__type_by_id(btf, id)->type) : NULL;
	t = t && btf_is_ptr(t) ? btf__type_by_id(btf, t->type) : NULL;
	if (t && btf_is_func_proto(t) && btf_vlen(t) == 8) {
		kind = NETLOG_URING_ARGS_RES;
	} else if (t && btf_is_func_proto(t) && btf_vlen(t) == 4) {
		const struct btf_type *arg = btf__type_by_id(btf, btf_params(t)[3].type);
		const struct btf_type *to = arg && btf_is_ptr(arg) ? btf__type_by_id(btf, arg->type) : NULL;

		if (to && btf_is_struct(to) && !strcmp(btf__name_by_offset(btf, to->name_off), "io_uring_cqe"))
			kind = NETLOG_URING_ARGS_CQE;
	}
	return kind;
}

/*
 * What the hooks watching processes' receives and accepts find in this
 * kernel's BTF (parsed once: it takes seconds under emulation): how io_uring
 * completions come, and whether the receive tracepoint (6.3) is there.
 */
static void read_kernel_btf(struct loader *l, const struct loader_opts *o)
{
	struct btf *btf = o->accept_hook ? btf__load_vmlinux_btf() : NULL;

	l->uring = uring_args(btf);
	l->recv_tracepoint =
		btf && btf__find_by_name_kind(btf, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF) > 0;
	btf__free(btf);
}

/*
 * Whether this kernel verifies fetching atomics (5.12): a compare-and-swap
 * on the stack of a socket filter.
 */
static bool probe_atomics(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 0 },
		{ .code = BPF_STX | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_10, .src_reg = BPF_REG_1, .off = -8 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1 },
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW, .dst_reg = BPF_REG_10, .src_reg = BPF_REG_1,
		  .off = -8, .imm = BPF_CMPXCHG },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, NULL, "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), NULL);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* The kinds of program that read the current task. */
static const struct {
	enum bpf_prog_type type;
	const char *name;
} task_readers[] = {
	{ BPF_PROG_TYPE_SOCK_OPS, "sockops" },
	{ BPF_PROG_TYPE_CGROUP_SKB, "cgroup_skb" },
	{ BPF_PROG_TYPE_CGROUP_SOCK, "cgroup/sock" },
	{ BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/sock_addr" },
	{ BPF_PROG_TYPE_TRACEPOINT, "tracepoint" },
};

/* NULL if every kind of program in task_readers may call @helper, or the first that may not. */
static const char *helper_missing(enum bpf_func_id helper)
{
	for (size_t i = 0; i < sizeof(task_readers) / sizeof(task_readers[0]); i++)
		if (libbpf_probe_bpf_helper(task_readers[i].type, helper, NULL) != 1)
			return task_readers[i].name;
	return NULL;
}

/*
 * Which build of the programs this kernel takes (see netlog.bpf.h): the
 * default one needs fetching atomics, bpf_get_current_task_btf() in every
 * kind of program netlog attaches, and bpf_task_pt_regs() (5.15) in
 * tracepoints. Returns NULL for the default, or what is missing.
 */
static const char *compat_reason(void)
{
	static char why[128];
	const char *where;

	if (!probe_atomics())
		return "no fetching BPF atomics";
	where = helper_missing(BPF_FUNC_get_current_task_btf);
	if (where) {
		snprintf(why, sizeof(why), "no bpf_get_current_task_btf() in %s programs", where);
		return why;
	}
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, NULL) != 1)
		return "no bpf_task_pt_regs() in tracepoint programs";
	return NULL;
}

/* Open the skeleton with the default programs, or the compat build's in its place. */
static struct netlog_bpf *open_programs(bool compat)
{
	struct netlog_bpf *obj = calloc(1, sizeof(*obj));
	int err;

	if (!obj)
		return NULL;
	err = netlog_bpf__create_skeleton(obj);
	/* the same maps, programs and variables: only the code differs */
	if (!err && compat)
		obj->skeleton->data = (void *)netlog_compat_bpf__elf_bytes(&obj->skeleton->data_sz);
	err = err ?: bpf_object__open_skeleton(obj->skeleton, NULL);
	if (err) {
		netlog_bpf__destroy(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

/*
 * What only the tests ask (NETLOG_TEST_SKIP_CLOSE_PORT=PORT): the state-change
 * tracepoint leaves the CLOSE of that port's sockets, as a run the kernel
 * skipped would, for the tests of check_conn(). Said loudly: such a stop
 * is then logged only once found, seconds late.
 */
static void test_hooks(struct netlog_bpf *skel)
{
	const char *v = getenv("NETLOG_TEST_SKIP_CLOSE_PORT");
	uint32_t port;

	if (!v)
		return;
	if (options_parse_u32(v, 1, 65535, &port)) {
		log_warnx("NETLOG_TEST_SKIP_CLOSE_PORT: '%s' is not a port: ignored", v);
		return;
	}
	log_warnx("NETLOG_TEST_SKIP_CLOSE_PORT=%u (for tests): the state-change tracepoint leaves "
		  "the closes of that port's sockets, which netlogd then finds late", port);
	skel->rodata->test_skip_close_port = (__u16)port;
}

/* Open, size and load the programs of the build l->compat names, in l->skel. */
static int load_programs(struct loader *l, const struct loader_opts *o)
{
	struct netlog_bpf *skel = open_programs(l->compat);

	l->skel = skel;
	if (!skel) {
		log_warnx("open BPF object: %s", strerror(errno));
		return -errno;
	}
	bpf_map__set_max_entries(skel->maps.conns, o->max_sockets);
	bpf_map__set_max_entries(skel->maps.udp_socks, o->max_sockets);
	/* one listening address per 8 sockets, at least the 8192 it was built with */
	if (o->max_sockets / 8 > bpf_map__max_entries(skel->maps.listeners))
		bpf_map__set_max_entries(skel->maps.listeners, o->max_sockets / 8);
	/* stops the full ring kept back: a quarter of the sockets */
	bpf_map__set_max_entries(skel->maps.late_stops, o->max_sockets / 4);
	bpf_map__set_max_entries(skel->maps.udp_flows, o->max_flows);
	/* the flows that overflow it, remembered a while: as many as the daemon may keep beyond it */
	bpf_map__set_max_entries(skel->maps.untracked_seen, o->max_flows);
	bpf_map__set_max_entries(skel->maps.events, o->ringbuf_bytes);
	bpf_map__set_max_entries(skel->maps.udp_events, o->ringbuf_bytes);
	/* the paths of the programs running at start-up come in one burst: a quarter of it */
	bpf_map__set_max_entries(skel->maps.names, o->ringbuf_bytes / 4 > 1 << 20 ? o->ringbuf_bytes / 4 : 1 << 20);
	skel->rodata->wakeup_bytes = o->ringbuf_bytes / 8;
	skel->rodata->accept_hook = o->accept_hook;
	if (!o->accept_hook) {
		bpf_program__set_autoload(skel->progs.sys_exit_accept4, false);
		bpf_program__set_autoload(skel->progs.sys_exit_accept, false);
		bpf_program__set_autoload(skel->progs.sys_enter_connect, false);
		bpf_program__set_autoload(skel->progs.sys_exit_connect, false);
	}
	/* the receive tracepoint (6.3): the compat programs do without it, and --no-accept-hook */
	l->recv_hook = o->accept_hook && !l->compat && l->recv_tracepoint;
	if (!l->recv_hook)
		bpf_program__set_autoload(skel->progs.sock_recv_length, false);
	skel->rodata->recv_hook = l->recv_hook;
	skel->rodata->uring_args = l->uring;
	if (l->uring == NETLOG_URING_ARGS_NONE)
		bpf_program__set_autoload(skel->progs.io_uring_complete, false);
	test_hooks(skel);
	/* the iterator is attached only while dumping */
	bpf_program__set_autoattach(skel->progs.dump_task_file, false);
	bpf_program__set_autoattach(skel->progs.check_conn, false);
	bpf_program__set_autoattach(skel->progs.existing_tcp, false);
	return netlog_bpf__load(skel);
}

uint64_t loader_missed_runs(const struct loader *l)
{
	struct bpf_program *prog;
	uint64_t n = 0;

	bpf_object__for_each_program(prog, l->skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			n += info.recursion_misses;
	}
	return n + l->skel->bss->test_skipped;
}

void loader_count_open(const struct loader *l, unsigned long *conns, unsigned long *listens)
{
	int fds[] = { bpf_map__fd(l->skel->maps.conns), bpf_map__fd(l->skel->maps.udp_socks) };

	*conns = *listens = 0;
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		__u64 key, *prev = NULL;
		struct conn c;

		while (!bpf_map_get_next_key(fds[i], prev, &key)) {
			prev = &key;
			if (bpf_map_lookup_elem(fds[i], &key, &c) || !c.started ||
			    (c.bits & (CONN_CLOSED | CONN_START_LOST)))
				continue;
			if (c.role == ROLE_LISTENER)
				++*listens;
			else if (i == 0)
				++*conns; /* a UDP socket's flows are the daemon's to count */
		}
	}
}

int loader_start(struct loader *l, const struct loader_opts *o)
{
	char cgroup[PATH_MAX];
	struct netlog_bpf *skel;
	int err;

	l->skel = NULL;
	l->cgroup_fd = -1;
	memset(l->ignored_ports, 0, sizeof(l->ignored_ports)); /* a new array map is zeroed */
	libbpf_set_print(libbpf_log);

	err = system_ensure_tracefs();
	if (err)
		return err;
	err = system_cgroup2_root(cgroup, sizeof(cgroup));
	if (err)
		return err;
	snprintf(l->cgroup_root, sizeof(l->cgroup_root), "%s", cgroup);
	l->cgroup_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->cgroup_fd < 0) {
		err = -errno;
		log_warn("open cgroup2 root %s", cgroup);
		return err;
	}

	l->compat = o->compat;
	if (l->compat) {
		log_info("loading the programs built for kernels before 5.12, as asked (--compat)");
	} else {
		const char *why = compat_reason();

		if (why) {
			l->compat = true;
			log_info("this kernel has %s: loading the programs built for kernels before 5.12",
				 why);
		}
	}
	if (l->compat) {
		/* the compat build's floor: without it no program could name a process */
		const char *where = helper_missing(BPF_FUNC_get_current_task);

		if (where) {
			log_warnx("this kernel has no bpf_get_current_task() in %s programs: "
				  "netlogd cannot name processes here", where);
			return -EOPNOTSUPP;
		}
	}
	read_kernel_btf(l, o);
	if (o->accept_hook && l->uring == NETLOG_URING_ARGS_NONE)
		log_info("io_uring completions do not name their request here (before 5.18, or no "
			 "io_uring): connections accepted through io_uring start at their close");
	err = load_programs(l, o);
	/*
	 * A kernel whose verifier turns down the default programs (as 6.18.y
	 * did, for a pointer it newly deemed untrusted) still gets a logger:
	 * the compat programs ask less of it.
	 */
	if (err && !l->compat && !helper_missing(BPF_FUNC_get_current_task)) {
		log_warnx("this kernel refuses the default programs (%s; -vv shows the verifier's "
			  "log): loading those built for kernels before 5.12", strerror(-err));
		netlog_bpf__destroy(l->skel);
		l->compat = true;
		err = load_programs(l, o);
	}
	if (err) {
		log_warnx("load BPF programs: %s (run with -vv for the verifier's log)", strerror(-err));
		return err;
	}
	skel = l->skel;

	err = attach(skel->progs.tcp_sockops, &skel->links.tcp_sockops, l->cgroup_fd, "sockops");
	err = err ?: attach(skel->progs.inet_sock_set_state, &skel->links.inet_sock_set_state, -1,
			    "tp_btf/inet_sock_set_state");
	err = err ?: attach(skel->progs.udp_post_bind4, &skel->links.udp_post_bind4, l->cgroup_fd,
			    "cgroup/post_bind4");
	err = err ?: attach(skel->progs.udp_post_bind6, &skel->links.udp_post_bind6, l->cgroup_fd,
			    "cgroup/post_bind6");
	err = err ?: attach(skel->progs.sock_release, &skel->links.sock_release, l->cgroup_fd,
			    "cgroup/sock_release");
	err = err ?: attach(skel->progs.sched_process_exec, &skel->links.sched_process_exec, -1,
			    "tracepoint sched/sched_process_exec");
	err = err ?: attach(skel->progs.sched_process_fork, &skel->links.sched_process_fork, -1,
			    "tp_btf/sched_process_fork");
	err = err ?: attach(skel->progs.cgroup_mkdir, &skel->links.cgroup_mkdir, -1,
			    "tracepoint cgroup/cgroup_mkdir");
	err = err ?: attach(skel->progs.cgroup_rmdir, &skel->links.cgroup_rmdir, -1,
			    "tracepoint cgroup/cgroup_rmdir");
	err = err ?: attach(skel->progs.udp_egress, &skel->links.udp_egress, l->cgroup_fd,
			    "cgroup_skb/egress");
	err = err ?: attach(skel->progs.udp_ingress, &skel->links.udp_ingress, l->cgroup_fd,
			    "cgroup_skb/ingress");
	err = err ?: attach(skel->progs.udp_recvmsg4, &skel->links.udp_recvmsg4, l->cgroup_fd,
			    "cgroup/recvmsg4");
	err = err ?: attach(skel->progs.udp_recvmsg6, &skel->links.udp_recvmsg6, l->cgroup_fd,
			    "cgroup/recvmsg6");
	err = err ?: attach(skel->progs.udp_connect4, &skel->links.udp_connect4, l->cgroup_fd,
			    "cgroup/connect4");
	err = err ?: attach(skel->progs.udp_connect6, &skel->links.udp_connect6, l->cgroup_fd,
			    "cgroup/connect6");
	if (l->recv_hook)
		err = err ?: attach(skel->progs.sock_recv_length, &skel->links.sock_recv_length, -1,
				    "tp_btf/sock_recv_length");
	if (o->accept_hook) {
		err = err ?: attach(skel->progs.sys_exit_accept4, &skel->links.sys_exit_accept4, -1,
				    "tracepoint syscalls/sys_exit_accept4");
		err = err ?: attach(skel->progs.sys_exit_accept, &skel->links.sys_exit_accept, -1,
				    "tracepoint syscalls/sys_exit_accept");
		/* the default programs find connect()'s descriptor at its exit */
		if (l->compat)
			err = err ?: attach(skel->progs.sys_enter_connect, &skel->links.sys_enter_connect,
					    -1, "tracepoint syscalls/sys_enter_connect");
		err = err ?: attach(skel->progs.sys_exit_connect, &skel->links.sys_exit_connect, -1,
				    "tracepoint syscalls/sys_exit_connect");
		if (l->uring != NETLOG_URING_ARGS_NONE)
			err = err ?: attach(skel->progs.io_uring_complete, &skel->links.io_uring_complete,
					    -1, "raw_tp/io_uring_complete");
	}
	if (err)
		return err;
	log_debug("attached to %s", cgroup);
	return 0;
}

int loader_events_fd(const struct loader *l)
{
	return bpf_map__fd(l->skel->maps.events);
}

long loader_take_late(const struct loader *l, struct netlog_late_key *keys, struct conn *vals, size_t max,
		       bool *all)
{
	int fd = bpf_map__fd(l->skel->maps.late_stops);
	__u32 batch, *in = NULL;
	size_t n = 0;

	*all = false;
	while (n < max) {
		__u32 count = (__u32)(max - n);
		int err = bpf_map_lookup_and_delete_batch(fd, in, &batch, keys + n, vals + n, &count, NULL);

		/* a batch ends short of @count at a bucket that would not fit whole: go on */
		if (err && err != -ENOENT) /* -ENOSPC: the next bucket holds more than is left */
			return n || err == -ENOSPC ? (long)n : err;
		n += count;
		if (err) {
			*all = true;
			break;
		}
		in = &batch;
	}
	return (long)n;
}

int loader_udp_events_fd(const struct loader *l)
{
	return bpf_map__fd(l->skel->maps.udp_events);
}

int loader_names_fd(const struct loader *l)
{
	return bpf_map__fd(l->skel->maps.names);
}

int loader_flows_fd(const struct loader *l)
{
	return bpf_map__fd(l->skel->maps.udp_flows);
}

int loader_untracked_fd(const struct loader *l)
{
	return bpf_map__fd(l->skel->maps.untracked_seen);
}

void loader_forget_exe(const struct loader *l, uint64_t id)
{
	struct netlog_exe_key k = { .id = id };

	bpf_map_delete_elem(bpf_map__fd(l->skel->maps.exes_seen), &k); /* ENOENT: forgotten there too */
}

struct dump {
	struct netlog_event *ev;
	size_t n, cap;
};

static int dump_append(struct dump *d, const struct netlog_event *e)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct netlog_event *ev = realloc(d->ev, cap * sizeof(*ev));

		if (!ev)
			return -ENOMEM;
		d->ev = ev;
		d->cap = cap;
	}
	d->ev[d->n++] = *e;
	return 0;
}

static int dump_pass(struct loader *l, uint32_t pass, struct dump *d)
{
	struct bpf_link *link;
	/*
	 * Well under the iterator's 32 KiB buffer: a read stops taking objects
	 * once it has this much, and an object shows at most one record, so it
	 * never overflows, which would show that object again (a repeat that
	 * dump_task_file() could not report: it reports the visit that enters a
	 * socket).
	 */
	char buf[sizeof(struct netlog_event) * 64];
	_Static_assert(sizeof(buf) + sizeof(struct netlog_event) <= 32768, "a read that overflows the iterator");
	size_t have = 0;
	int fd, err = 0;

	l->skel->bss->ctl.iter_pass = pass;
	link = bpf_program__attach_iter(l->skel->progs.dump_task_file, NULL);
	if (!link) {
		err = -errno;
		log_warnx("attach iter/task_file: %s", strerror(-err));
		return err;
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		log_warnx("create iter/task_file: %s", strerror(-err));
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			log_warn("read iter/task_file");
			break;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		for (; have - off >= sizeof(struct netlog_event); off += sizeof(struct netlog_event)) {
			struct netlog_event e;

			memcpy(&e, buf + off, sizeof(e));
			err = dump_append(d, &e);
			if (err)
				goto out;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
out:
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	return err;
}

static int by_sock_id(const void *a, const void *b)
{
	const struct netlog_event *x = a, *y = b;

	return x->sock_id < y->sock_id ? -1 : x->sock_id > y->sock_id;
}

/*
 * List every @family @protocol socket of this network namespace, and forget
 * them; say once (*@warned) if the kernel cannot, or nothing (@warned NULL).
 */
static void diag_list(int family, int protocol, bool *warned)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = family, .sdiag_protocol = protocol, .idiag_states = ~0u },
	};
	long buf[8192 / sizeof(long)];
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	bool done = false;

	if (fd < 0) {
		if (warned && !*warned) {
			*warned = true;
			log_warnx("sock_diag of %s sockets: %s: those open before netlogd started are logged "
				  "with id 0", protocol == IPPROTO_TCP ? "TCP" : "UDP", strerror(errno));
		}
		return;
	}
	if (send(fd, &req, sizeof(req), 0) < 0)
		done = true;
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_ERROR && e->error && warned && !*warned) {
				*warned = true;
				log_warnx("sock_diag of %s sockets: %s (is the %s_diag module there?): "
					  "those open before netlogd started are logged with id 0",
					  protocol == IPPROTO_TCP ? "TCP" : "UDP", strerror(-e->error),
					  protocol == IPPROTO_TCP ? "tcp" : "udp");
			}
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				done = true;
		}
	}
	close(fd);
}

/*
 * Run @fn(@arg) in every network namespace a process is in or a name in
 * /run/netns holds, once each, in a child process: netlogd's own
 * namespace does not change. Returns when the child is done.
 */
static void each_netns(void (*fn)(void *arg), void *arg)
{
	static const char *const dirs[] = { "/proc", "/run/netns" };
	pid_t child = fork();

	if (child < 0) {
		log_warn("fork to visit network namespaces");
		return;
	}
	if (child == 0) {
		ino_t *seen = NULL;
		size_t nseen = 0, cap = 0;

		for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
			DIR *dir = opendir(dirs[d]);
			struct dirent *de;

			while (dir && (de = readdir(dir))) {
				bool procs = d == 0;
				char path[300];
				struct stat st;
				size_t i;
				int fd;

				if (procs ? de->d_name[0] < '1' || de->d_name[0] > '9' : de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), procs ? "%s/%s/ns/net" : "%s/%s", dirs[d],
					 de->d_name);
				if (stat(path, &st) < 0)
					continue;
				for (i = 0; i < nseen && seen[i] != st.st_ino; i++)
					;
				if (i < nseen)
					continue;
				if (nseen == cap) {
					ino_t *more = realloc(seen, (cap = cap ? 2 * cap : 256) * sizeof(*seen));

					if (!more)
						_exit(1);
					seen = more;
				}
				seen[nseen++] = st.st_ino;
				fd = open(path, O_RDONLY | O_CLOEXEC);
				if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
					if (fd >= 0)
						close(fd);
					continue;
				}
				close(fd);
				fn(arg);
			}
			if (dir)
				closedir(dir);
		}
		_exit(0);
	}
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
}

static void list_sockets(void *arg)
{
	bool *warned = arg;

	diag_list(AF_INET, IPPROTO_TCP, &warned[0]);
	diag_list(AF_INET6, IPPROTO_TCP, &warned[0]);
	diag_list(AF_INET, IPPROTO_UDP, &warned[1]);
	diag_list(AF_INET6, IPPROTO_UDP, &warned[1]);
	/* a kernel without UDP-Lite (gone from 7.1) has none to list: nothing to say */
	diag_list(AF_INET, IPPROTO_UDPLITE, NULL);
	diag_list(AF_INET6, IPPROTO_UDPLITE, NULL);
}

/*
 * The start-up iterator cannot make a socket's cookie, the id its events
 * carry (the kernel refuses it the socket behind a descriptor: before 5.12
 * any, since 6.18.y as untrusted), and a socket has none until something
 * asks. sock_diag makes one for each socket it lists: a child process
 * lists every TCP and UDP socket in each network namespace. A socket left
 * in a namespace no process is in and no name holds keeps none.
 */
static void make_cookies(void)
{
	bool warned[2] = { false, false };

	each_netns(list_sockets, warned);
}

struct existing {
	struct loader *l;
	struct bpf_link *iter;
};

/* Run existing_tcp() over the TCP sockets of this network namespace. */
static void existing_here(void *arg)
{
	const struct existing *x = arg;
	const struct netlog_bpf__bss *bss = x->l->skel->bss;
	uint32_t handed = bss->ctl.handed_to_sockops, queued = bss->ctl.queued_found;
	struct stat st = { 0 };
	char buf[64];
	ssize_t n;
	int fd = bpf_iter_create(bpf_link__fd(x->iter));

	if (fd < 0) {
		log_warn("create iter/tcp");
		return;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		;
	close(fd);
	stat("/proc/self/ns/net", &st);
	if (bss->ctl.handed_to_sockops != handed)
		log_debug("network namespace %lu: sockops watches %u TCP sockets open before netlogd",
			  (unsigned long)st.st_ino, bss->ctl.handed_to_sockops - handed);
	if (bss->ctl.queued_found != queued)
		log_debug("network namespace %lu: %u TCP connections made before netlogd wait to be "
			  "accepted", (unsigned long)st.st_ino, bss->ctl.queued_found - queued);
}

/*
 * After the dump, which saw the sockets processes hold: existing_tcp() in
 * each network namespace (the iterator walks the namespace of the process
 * that opens it, hence a child visiting each) enters the connections still
 * queued on listeners, and where the kernel allows (6.12) has sockops watch
 * every TCP socket open before netlogd, like every socket made since: the
 * kernel never skips sockops, it may skip the state-change tracepoint.
 */
static void existing_tcp_pass(struct loader *l)
{
	struct existing x = { .l = l };
	uint32_t refused;

	x.iter = bpf_program__attach_iter(l->skel->progs.existing_tcp, NULL);
	if (!x.iter) {
		log_warn("attach iter/tcp: connections queued before netlogd are logged at their close");
		return;
	}
	each_netns(existing_here, &x);
	bpf_link__destroy(x.iter);
	refused = l->skel->bss->ctl.handoff_refused;
	if (refused)
		log_debug("this kernel (before 6.12) cannot hand %u TCP sockets open before netlogd to "
			  "sockops: the state-change tracepoint ends them", refused);
}

/* Entries read from the socket table per call; a bucket never holds more. */
#define SCAN_BATCH 256

/*
 * Each entry of socket table @fd (conns or udp_socks) to @fn, or -errno.
 * Read in batches: they walk the table's buckets, which the kernel side
 * adds to and removes from meanwhile; an entry there all along is seen.
 */
static int each_socket(int fd, void (*fn)(void *ctx, __u64 key, const struct conn *c), void *ctx)
{
	static __u64 keys[SCAN_BATCH];
	static struct conn vals[SCAN_BATCH];
	__u32 batch, *in = NULL;

	for (;;) {
		__u32 count = SCAN_BATCH;
		int err = bpf_map_lookup_batch(fd, in, &batch, keys, vals, &count, NULL);

		if (err && err != -ENOENT)
			return err;
		for (__u32 i = 0; i < count; i++)
			fn(ctx, keys[i], &vals[i]);
		if (err) /* -ENOENT: the end of the table */
			return 0;
		in = &batch;
	}
}

static void count_unwatched(void *ctx, __u64 key, const struct conn *c)
{
	*(long *)ctx += !c->watched;
}

/* The TCP sockets in the table whose state changes sockops does not see, or -errno. */
static long unwatched_sockets(const struct loader *l)
{
	long n = 0;
	int err = each_socket(bpf_map__fd(l->skel->maps.conns), count_unwatched, &n);

	return err ?: n;
}

struct check {
	int prog_fd;
	int err;
	long n; /* entries looked at */
};

static void check_one(void *ctx, __u64 key, const struct conn *c)
{
	struct check *x = ctx;
	__u64 args[1] = { key };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));

	/* what check_conn() looks at: the tracepoint's, logged started, not logged gone */
	if (c->watched || !c->started || (c->bits & CONN_CLOSED) || !c->cookie || x->err)
		return;
	if (bpf_prog_test_run_opts(x->prog_fd, &opts))
		x->err = -errno;
	x->n++;
}

long loader_check_conns(const struct loader *l)
{
	struct check x = { .prog_fd = bpf_program__fd(l->skel->progs.check_conn) };
	int err = each_socket(bpf_map__fd(l->skel->maps.conns), check_one, &x);

	return err ?: x.err ?: x.n;
}

uint64_t loader_stops_recovered(const struct loader *l)
{
	return __atomic_load_n(&l->skel->bss->stops_recovered, __ATOMIC_RELAXED);
}

struct ids {
	uint64_t *id;
	size_t n, size;
	bool short_of_memory;
};

static void add_id(struct ids *s, uint64_t id)
{
	if (s->n == s->size) {
		size_t size = s->size ? 2 * s->size : 4096;
		uint64_t *id2 = realloc(s->id, size * sizeof(*id2));

		if (!id2) {
			s->short_of_memory = true;
			return;
		}
		s->id = id2;
		s->size = size;
	}
	s->id[s->n++] = id;
}

static void add_conn_cookie(void *ctx, __u64 key, const struct conn *c)
{
	if (!(c->bits & CONN_CLOSED)) /* its stop is out: kept only for its process */
		add_id(ctx, c->cookie);
}

static void add_udp_cookie(void *ctx, __u64 key, const struct conn *c)
{
	add_id(ctx, key);
}

long loader_live_sockets(const struct loader *l, uint64_t **ids)
{
	struct ids s = { 0 };
	int err;

	err = each_socket(bpf_map__fd(l->skel->maps.conns), add_conn_cookie, &s);
	err = err ?: each_socket(bpf_map__fd(l->skel->maps.udp_socks), add_udp_cookie, &s);
	if (!err && s.short_of_memory)
		err = -ENOMEM;
	if (err) {
		free(s.id);
		return err;
	}
	*ids = s.id;
	return (long)s.n;
}

void loader_release_state_tracepoint(struct loader *l)
{
	struct bpf_link **link = &l->skel->links.inet_sock_set_state;
	long n;

	if (!*link)
		return;
	n = unwatched_sockets(l);
	if (n < 0) {
		log_debug("read the socket table: %s: the state-change tracepoint stays",
			  strerror((int)-n));
		return;
	}
	if (n > 0) {
		if (n != l->unwatched)
			log_debug("%ld TCP sockets open before netlogd are not watched by sockops: the "
				  "state-change tracepoint ends them", n);
		l->unwatched = n;
		return;
	}
	bpf_link__destroy(*link);
	*link = NULL;
	log_debug("sockops watches every TCP socket: state-change tracepoint detached");
}

int loader_dump_existing(struct loader *l, loader_event_fn fn, void (*between)(void *ctx), void *ctx)
{
	int err = 0;

	/*
	 * No read of the rings before the first pass: a socket's first report
	 * is the walk's (a UDP socket bound before netlogd that sent since has
	 * its listen start there, before its flow's).
	 */
	make_cookies();

	for (uint32_t pass = 1; pass <= 2 && !err; pass++) {
		struct dump d = { 0 };

		err = dump_pass(l, pass, &d);
		/* a socket shared by several processes shows up once per holder */
		if (d.n) /* none found: d.ev is NULL, which qsort() may not be given */
			qsort(d.ev, d.n, sizeof(*d.ev), by_sock_id);
		for (size_t i = 0; i < d.n && !err; i++) {
			/* id 0: a socket no cookie was made for (see make_cookies) */
			if (i == 0 || !d.ev[i].sock_id || d.ev[i].sock_id != d.ev[i - 1].sock_id)
				err = fn(&d.ev[i], ctx);
		}
		free(d.ev);
		/* what the hooks sent since: after the walk's own reports of this pass, which may precede it */
		between(ctx);
	}
	if (!err)
		existing_tcp_pass(l);
	return err;
}

void loader_set_udp_idle(struct loader *l, uint64_t idle_ns)
{
	l->skel->data->untracked_refresh_ns = idle_ns / 2;
}

int loader_set_ignored_ports(struct loader *l, const uint8_t ports[65536])
{
	int fd = bpf_map__fd(l->skel->maps.ignored_ports);
	uint32_t n = 0;

	/* only what changed: a system call per port is seconds under emulation */
	for (uint32_t port = 0; port < 65536; port++) {
		uint8_t v = ports[port] ? 1 : 0;

		n += v;
		if (l->ignored_ports[port] == v)
			continue;
		if (bpf_map_update_elem(fd, &port, &v, BPF_ANY) < 0)
			return -errno;
		l->ignored_ports[port] = v;
	}
	l->skel->bss->ctl.ignored_ports_n = n;
	return 0;
}

struct net_key {
	uint32_t prefixlen;
	uint8_t addr[16];
};

int loader_set_ignored_nets(struct loader *l, const uint8_t (*addrs)[16], const unsigned *prefix,
			    unsigned n, bool loopback)
{
	int fd = bpf_map__fd(l->skel->maps.ignored_nets);
	struct net_key k, next;
	uint8_t one = 1;

	/* stop using the trie, empty it, fill it, use it again */
	l->skel->bss->ctl.ignored_nets_n = 0;
	while (bpf_map_get_next_key(fd, NULL, &next) == 0) {
		k = next;
		if (bpf_map_delete_elem(fd, &k) < 0)
			return -errno;
	}
	for (unsigned i = 0; i < n; i++) {
		memset(&k, 0, sizeof(k));
		k.prefixlen = prefix[i];
		memcpy(k.addr, addrs[i], 16);
		if (bpf_map_update_elem(fd, &k, &one, BPF_ANY) < 0)
			return -errno;
	}
	l->skel->bss->ctl.ignored_nets_n = n;
	l->skel->bss->ctl.ignore_loopback = loopback;
	return 0;
}

int loader_read_drops(const struct loader *l, uint64_t totals[NETLOG_DROP_MAX])
{
	int ncpus = libbpf_num_possible_cpus();
	int fd = bpf_map__fd(l->skel->maps.drops);

	if (ncpus < 0)
		return ncpus;
	uint64_t per_cpu[ncpus];

	for (uint32_t r = 0; r < NETLOG_DROP_MAX; r++) {
		totals[r] = 0;
		if (bpf_map_lookup_elem(fd, &r, per_cpu) < 0)
			return -errno;
		for (int c = 0; c < ncpus; c++)
			totals[r] += per_cpu[c];
	}
	return 0;
}

bool loader_maps_readable(void *loader)
{
	struct loader *l = loader;
	uint32_t port = 0;
	uint8_t v;

	return bpf_map_lookup_elem(bpf_map__fd(l->skel->maps.ignored_ports), &port, &v) == 0;
}

void loader_detach(struct loader *l)
{
	if (l->skel)
		netlog_bpf__detach(l->skel);
}

void loader_stop(struct loader *l)
{
	netlog_bpf__destroy(l->skel);
	l->skel = NULL;
	if (l->cgroup_fd >= 0)
		close(l->cgroup_fd);
	l->cgroup_fd = -1;
}
