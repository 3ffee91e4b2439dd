// SPDX-License-Identifier: GPL-2.0
/*
 * floor: attach bench/floor.bpf.c's do-nothing programs to the hooks netlogd
 * uses, say "floor: attached", and hold them until SIGINT or SIGTERM.
 * Usage: floor OBJECT CGROUP2_ROOT [PROGRAM...]: the programs named are left out;
 * floor OBJECT CGROUP2_ROOT --only PROGRAM...: only those are attached.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t done;

static void on_signal(int sig)
{
	(void)sig;
	done = 1;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	int cgroup_fd, first = 3, only;

	if (argc < 3) {
		fprintf(stderr, "usage: floor OBJECT CGROUP2_ROOT [--only] [PROGRAM...]\n");
		return 2;
	}
	only = argc > 3 && !strcmp(argv[3], "--only");
	first += only;
	cgroup_fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgroup_fd < 0) {
		fprintf(stderr, "floor: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	/* the receive tracepoint came with 6.3: without it, netlogd goes without too */
	if (obj && libbpf_find_vmlinux_btf_id("sock_recv_length", BPF_TRACE_RAW_TP) < 0)
		bpf_program__set_autoload(bpf_object__find_program_by_name(obj, "floor_recv_length"), false);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "floor: cannot load %s\n", argv[1]);
		return 1;
	}
	/* a name that is no program would measure something else, unsaid */
	if (only && first == argc) {
		fprintf(stderr, "floor: --only names no program\n");
		return 2;
	}
	for (int i = first; i < argc; i++) {
		if (!bpf_object__find_program_by_name(obj, argv[i])) {
			fprintf(stderr, "floor: %s: no such program in %s\n", argv[i], argv[1]);
			return 2;
		}
	}
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		struct bpf_link *link;
		int cgroup, i;

		for (i = first; i < argc && strcmp(argv[i], bpf_program__name(prog)); i++)
			;
		if ((i < argc) != only || !bpf_program__autoload(prog))
			continue;
		cgroup = !strncmp(sec, "cgroup", 6) || !strcmp(sec, "sockops");
		link = cgroup ? bpf_program__attach_cgroup(prog, cgroup_fd) : bpf_program__attach(prog);

		if (!link) {
			fprintf(stderr, "floor: attach %s: %s\n", sec, strerror(errno));
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "floor: attached\n");
	while (!done)
		pause();
	bpf_object__close(obj); /* detaches every link */
	return 0;
}
