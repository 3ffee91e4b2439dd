// SPDX-License-Identifier: GPL-2.0
/*
 * udpflood: as many loopback UDP datagrams as one sender makes, for a while.
 *
 * The sender round-robins over SOCKETS unconnected sockets, each sendto()ing
 * to one receiver; a receiver thread recvfrom()s them (asking each source,
 * as a server does). So there are SOCKETS flows each way: few sockets is
 * many datagrams per flow, many sockets is many flows. All sockets are
 * closed at the end, which stops every flow.
 * Usage: udpflood SECONDS SOCKETS
 * Prints: sent=N received=N seconds=S rate=R port=P sockets=K
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_long received;
static atomic_int stop;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *receiver(void *arg)
{
	int fd = *(int *)arg;
	char buf[2048];

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct sockaddr_in from;
		socklen_t len = sizeof(from);

		if (recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len) >= 0)
			atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tick = { 0, 100000 };
	socklen_t len = sizeof(addr);
	double seconds, t0, t;
	int nsocks, rfd, size = 8 << 20;
	long sent = 0;
	pthread_t th;
	int *fds;

	if (argc != 3 || (seconds = atof(argv[1])) <= 0 || (nsocks = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: udpflood SECONDS SOCKETS\n");
		return 2;
	}
	rfd = socket(AF_INET, SOCK_DGRAM, 0);
	if (rfd < 0 || bind(rfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    getsockname(rfd, (struct sockaddr *)&addr, &len) < 0) {
		perror("udpflood: receiver");
		return 1;
	}
	setsockopt(rfd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	setsockopt(rfd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick));
	fds = calloc(nsocks, sizeof(*fds));
	for (int i = 0; i < nsocks; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] < 0) {
			perror("udpflood: socket");
			return 1;
		}
	}
	pthread_create(&th, NULL, receiver, &rfd);

	t0 = now();
	do {
		for (int i = 0; i < 64; i++) {
			if (sendto(fds[sent % nsocks], "0123456789abcdef", 16, 0, (struct sockaddr *)&addr,
				   sizeof(addr)) == 16)
				sent++;
			else if (errno != ENOBUFS && errno != EAGAIN)
				perror("udpflood: sendto");
		}
		t = now() - t0;
	} while (t < seconds);

	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	for (int i = 0; i < nsocks; i++)
		close(fds[i]);
	close(rfd);
	printf("sent=%ld received=%ld seconds=%.3f rate=%.1f port=%u sockets=%d\n", sent,
	       atomic_load(&received), t, sent / t, ntohs(addr.sin_port), nsocks);
	return 0;
}
