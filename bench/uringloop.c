// SPDX-License-Identifier: GPL-2.0
/*
 * uringloop: the cost of one io_uring completion (a NOP, submitted and
 * reaped 32 at a time), in ns, over N completions. netlogd looks at every
 * io_uring completion on the host for accepts.
 * Prints: ns_per_completion=T, or io_uring=unavailable.
 */
#include <linux/io_uring.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000000;
	struct io_uring_params p;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct timespec a, b;
	char *sq, *cq;
	long done = 0;
	int fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, BATCH, &p);
	if (fd < 0) {
		printf("io_uring=unavailable\n");
		return 0;
	}
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
	sqes = mmap(NULL, p.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
		perror("uringloop: mmap");
		return 1;
	}
	sq_tail = (unsigned *)(sq + p.sq_off.tail);
	sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	sq_array = (unsigned *)(sq + p.sq_off.array);
	cq_head = (unsigned *)(cq + p.cq_off.head);
	cq_tail = (unsigned *)(cq + p.cq_off.tail);
	cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);

	clock_gettime(CLOCK_MONOTONIC, &a);
	while (done < n) {
		unsigned tail = *sq_tail, head;

		for (int i = 0; i < BATCH; i++, tail++) {
			unsigned idx = tail & *sq_mask;

			memset(&sqes[idx], 0, sizeof(sqes[idx]));
			sqes[idx].opcode = IORING_OP_NOP;
			sq_array[idx] = idx;
		}
		atomic_store_explicit((_Atomic unsigned *)sq_tail, tail, memory_order_release);
		if (syscall(__NR_io_uring_enter, fd, BATCH, BATCH, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
			perror("uringloop: io_uring_enter");
			return 1;
		}
		head = *cq_head;
		while (head != atomic_load_explicit((_Atomic unsigned *)cq_tail, memory_order_acquire)) {
			if (cqes[head & *cq_mask].res < 0) {
				fprintf(stderr, "uringloop: NOP failed: %d\n", cqes[head & *cq_mask].res);
				return 1;
			}
			head++;
			done++;
		}
		atomic_store_explicit((_Atomic unsigned *)cq_head, head, memory_order_release);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("ns_per_completion=%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / done);
	return 0;
}
