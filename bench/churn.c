// SPDX-License-Identifier: GPL-2.0
/*
 * churn: as many short TCP connections as this machine makes, for a while.
 *
 * One acceptor thread closes each connection as soon as it accepts it (so
 * TIME_WAIT lands on the server side and client ports never run out); the
 * client threads connect, wait for the close, close, and start again.
 * By default both ends are on loopback; given an address of this network
 * namespace and another namespace's path, the listener binds that address
 * and the client threads connect to it from the other namespace (over a
 * veth pair, say: the path a connection from another host takes).
 * With -r the clients reset each connection as soon as it is made, while
 * two acceptors race to accept it: the start and stop of a connection that
 * goes while accept() returns it (tests use this).
 * With -q each connection carries a request and its answer, as a web
 * server's short ones do: the client sends 100 bytes, the server reads
 * them, answers 1000 and closes (two acceptors serve).
 * Prints: connections=N seconds=S rate=R port=P
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_long done;
static atomic_int stop;
static struct sockaddr_in server;
static const char *client_netns;
static bool reset, request;

#define REQUEST_BYTES 100
#define ANSWER_BYTES 1000

/* Read @n bytes from @fd, or up to its end: what was read. */
static size_t read_full(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r <= 0)
			break;
		got += r;
	}
	return got;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *acceptor(void *arg)
{
	int lfd = *(int *)arg;
	char buf[ANSWER_BYTES] = { 0 };

	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		if (request && read_full(fd, buf, REQUEST_BYTES) == REQUEST_BYTES)
			(void)!send(fd, buf, ANSWER_BYTES, MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

static void *client(void *arg)
{
	char b, buf[ANSWER_BYTES + 1] = { 0 };

	(void)arg;
	if (client_netns) {
		/* a thread may enter a network namespace of its own */
		int ns = open(client_netns, O_RDONLY | O_CLOEXEC);

		if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
			perror(client_netns);
			exit(1);
		}
		close(ns);
	}
	while (!atomic_load(&stop)) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof(server)) < 0) {
			perror("churn: connect");
			exit(1);
		}
		if (reset) {
			struct linger now = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
			atomic_fetch_add(&done, 1);
		} else if (request) {
			if (send(fd, buf, REQUEST_BYTES, MSG_NOSIGNAL) == REQUEST_BYTES &&
			    read_full(fd, buf, sizeof(buf)) == ANSWER_BYTES)
				atomic_fetch_add(&done, 1);
		} else if (read(fd, &b, 1) == 0) {
			atomic_fetch_add(&done, 1);
		}
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds;
	int clients;
	socklen_t len = sizeof(server);
	pthread_t t, client_threads[64];
	int lfd, one = 1;
	double t0;

	if (argc > 1 && (strcmp(argv[1], "-r") == 0 || strcmp(argv[1], "-q") == 0)) {
		reset = argv[1][1] == 'r';
		request = argv[1][1] == 'q';
		argv++;
		argc--;
	}
	seconds = argc > 1 ? atof(argv[1]) : 5;
	clients = argc > 2 ? atoi(argv[2]) : 1;
	server.sin_family = AF_INET;
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (seconds <= 0 || clients < 1 || clients > 64 || argc == 4 || argc > 5 ||
	    (argc == 5 && inet_pton(AF_INET, argv[3], &server.sin_addr) != 1)) {
		fprintf(stderr, "usage: churn [-r|-q] [SECONDS] [CLIENT_THREADS] [SERVER_IPV4 CLIENT_NETNS_PATH]\n");
		return 2;
	}
	if (argc == 5)
		client_netns = argv[4];
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&server, sizeof(server)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&server, &len) < 0) {
		perror("churn: listen");
		return 1;
	}
	for (int i = 0; i < (reset || request ? 2 : 1); i++)
		pthread_create(&t, NULL, acceptor, &lfd);
	t0 = now();
	for (int i = 0; i < clients; i++)
		pthread_create(&client_threads[i], NULL, client, NULL);
	while (now() - t0 < seconds)
		usleep(10000);
	atomic_store(&stop, 1);
	long n = atomic_load(&done);
	double elapsed = now() - t0;

	/* each client finishes its last connection: every connection made is counted */
	for (int i = 0; i < clients; i++)
		pthread_join(client_threads[i], NULL);
	printf("connections=%ld seconds=%.3f rate=%.1f port=%u\n", atomic_load(&done), elapsed,
	       n / elapsed, ntohs(server.sin_port));
	return 0;
}
