// SPDX-License-Identifier: GPL-2.0
/* udpsend ADDR PORT COUNT: COUNT datagrams from one unbound socket, then close it. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	int fd, n;

	if (argc != 4 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "usage: udpsend ADDR PORT COUNT\n");
		return 2;
	}
	to.sin_port = htons((unsigned short)atoi(argv[2]));
	n = atoi(argv[3]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	for (int i = 0; i < n; i++)
		if (sendto(fd, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)) != 4)
			perror("udpsend: sendto");
	close(fd);
	return 0;
}
