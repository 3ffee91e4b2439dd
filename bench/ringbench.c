// SPDX-License-Identifier: GPL-2.0
/*
 * ringbench: the time an event's ring buffer record costs the process that
 * emits it, from one CPU and from two at once, with one ring shared by the
 * CPUs (as netlogd has) and with one ring per CPU. Each case times N
 * getppid() calls per thread (one thread pinned per CPU) with the program
 * emitting nothing, then emitting a record per call; a thread drains the
 * rings meanwhile. Prints the ns each record added, per case.
 * Usage: ringbench OBJECT [N]
 */
#include <bpf/libbpf.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct loop {
	pthread_t thread;
	int cpu;
	long calls;
	double ns_per_call;
};

static volatile int draining;
static long records;

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int count(void *ctx, void *data, size_t size)
{
	(void)ctx, (void)data, (void)size;
	records++;
	return 0;
}

static void *drain(void *rb)
{
	while (draining) {
		ring_buffer__consume(rb);
		usleep(10000);
	}
	ring_buffer__consume(rb);
	return NULL;
}

static void *calls(void *arg)
{
	struct loop *l = arg;
	cpu_set_t set;
	double t;

	CPU_ZERO(&set);
	CPU_SET(l->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		perror("ringbench: sched_setaffinity");
	t = now_ns();
	for (long i = 0; i < l->calls; i++)
		syscall(SYS_getppid);
	l->ns_per_call = (now_ns() - t) / l->calls;
	return NULL;
}

/* ns per call of @nthreads threads on CPUs 0.. at once, in @mode; their mean */
static double run(struct bpf_object *obj, struct ring_buffer *rb, uint32_t mode, int nthreads, long n)
{
	struct { uint32_t tgid, mode; } settings = { (uint32_t)getpid(), mode };
	struct loop loops[2] = { { .cpu = 0, .calls = n }, { .cpu = 1, .calls = n } };
	uint32_t key = 0;
	pthread_t drainer;
	double sum = 0;

	if (bpf_map__update_elem(bpf_object__find_map_by_name(obj, ".bss"), &key, sizeof(key), &settings,
				 sizeof(settings), 0) < 0) {
		fprintf(stderr, "ringbench: cannot set mode %u\n", mode);
		exit(1);
	}
	draining = 1;
	pthread_create(&drainer, NULL, drain, rb);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&loops[i].thread, NULL, calls, &loops[i]);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(loops[i].thread, NULL);
		sum += loops[i].ns_per_call;
	}
	draining = 0;
	pthread_join(drainer, NULL);
	return sum / nthreads;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 200000;
	struct bpf_object *obj;
	struct ring_buffer *rb;
	struct bpf_link *link;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (argc < 2 || n < 1000) {
		fprintf(stderr, "usage: ringbench OBJECT [N >= 1000]\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "ringbench: cannot load %s\n", argv[1]);
		return 1;
	}
	link = bpf_program__attach(bpf_object__find_program_by_name(obj, "emit"));
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "ring0")), count, NULL, NULL);
	if (!link || !rb || ring_buffer__add(rb, bpf_map__fd(bpf_object__find_map_by_name(obj, "ring1")),
					    count, NULL) < 0) {
		fprintf(stderr, "ringbench: cannot attach or open the rings\n");
		return 1;
	}
	/* mode 0 (nothing) next to each case, so each difference is of runs seconds apart */
	printf("one_cpu=%.1f\n", run(obj, rb, 1, 1, n) - run(obj, rb, 0, 1, n));
	if (cpus >= 2) {
		printf("two_cpus_one_ring=%.1f\n", run(obj, rb, 1, 2, n) - run(obj, rb, 0, 2, n));
		printf("two_cpus_ring_each=%.1f\n", run(obj, rb, 2, 2, n) - run(obj, rb, 0, 2, n));
	}
	printf("records=%ld\n", records);
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
