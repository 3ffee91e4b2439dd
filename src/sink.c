// SPDX-License-Identifier: GPL-2.0
#include "sink.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "log.h"
#include "options.h"
#include "system.h"

/* syslog facility daemon; severities info and warning (RFC 5424 numbers) */
#define SYSLOG_PRI(sev) (3 * 8 + ((sev) == SINK_WARNING ? 4 : 6))

static const char *severity_name(enum sink_severity sev)
{
	return sev == SINK_WARNING ? "warning" : "info";
}

static int syslog_connect(struct sink *s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(s->path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, s->path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	return 0;
}

/* Whether a file can be made at @path: 0 or an errno, with the directory in @dir. */
static int creatable(const char *path, char *dir, size_t size)
{
	char *slash;
	struct stat st;

	snprintf(dir, size, "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, size, ".");
	else
		slash[slash == dir] = '\0'; /* "/log" is in "/" */
	if (stat(dir, &st) < 0)
		return errno;
	if (!S_ISDIR(st.st_mode))
		return ENOTDIR;
	return access(dir, W_OK | X_OK) < 0 ? errno : 0;
}

/*
 * Whether a user other than root could change what @path names: a
 * directory on its way that another user owns, or that its group or
 * everyone may write (sticky or not: a name not made yet can be taken
 * there). netlogd writes as root: a symbolic link put on such a path would
 * have it append lines, whose text processes choose in part, to any file.
 */
/* Whether directory @dir is another user's, or its group or everyone may write it; or is not there yet. */
static bool others_may_write(const char *dir)
{
	struct stat st;

	return stat(dir, &st) < 0 || st.st_uid != 0 || st.st_mode & (S_IWGRP | S_IWOTH);
}

static bool others_control_as_written(const char *path)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		return true;
	memcpy(p, path, n + 1);
	if (p[0] != '/' && others_may_write("."))
		return true;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '/' || (i > 0 && p[i - 1] == '/'))
			continue;
		p[i] = '\0';
		if (others_may_write(i == 0 ? "/" : p))
			return true;
		p[i] = '/';
	}
	return false;
}

/*
 * The same, for @path as written and as its directory resolves: a link
 * only root could have made may still lead through a directory another
 * user may write, where the rest of the way is theirs to change.
 */
static bool others_control(const char *path)
{
	char dir[PATH_MAX], real[PATH_MAX + 2];

	if (others_control_as_written(path))
		return true;
	creatable(path, dir, sizeof(dir));
	if (!realpath(dir, real))
		return true;
	strcat(real, "/x"); /* the directories of real, and real itself */
	return others_control_as_written(real);
}

/*
 * Where others control the path (others_control()), a file they could have
 * put there for netlogd to write: one another user owns (a planted file or
 * named pipe: the log theirs to read or stall), or a hard link to a file
 * elsewhere. 0, or the reason as an errno (EPERM: owner, EMLINK: links).
 */
static int planted(const struct stat *st)
{
	if (st->st_uid != 0)
		return EPERM;
	return S_ISREG(st->st_mode) && st->st_nlink > 1 ? EMLINK : 0;
}

/*
 * open(2) of an output's @path, following no symbolic link on its way
 * when another user could have put one there (others_control()).
 */
static int open_output(const char *path, int flags, mode_t mode)
{
	struct open_how how = { .flags = (unsigned)flags, .mode = mode, .resolve = RESOLVE_NO_SYMLINKS };
	struct stat st;
	int fd, err;

	if (!others_control(path))
		return open(path, flags, mode);
	fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) /* a sandbox that hides openat2: the last name at least */
		fd = open(path, flags | O_NOFOLLOW, mode);
	if (fd >= 0 && fstat(fd, &st) == 0 && (err = planted(&st))) {
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/*
 * A file output. A path that is a named pipe or a device (a reader at the
 * other end) is written to like standard output to a pipe: never waited
 * for (see stdout_open()); the description is netlogd's own. A pipe is
 * opened for reading too, so opening it does not wait for a reader.
 */
static int file_open(struct sink *s)
{
	/* O_NONBLOCK: a device's open (a serial line's carrier) must not wait either; no effect on files */
	int fd = open_output(s->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);
	struct stat st;
	char last = '\n';

	if (fd < 0)
		return -errno;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	s->nonblock = s->pipe = false;
	if (fstat(fd, &st) < 0)
		return 0;
	if (!S_ISREG(st.st_mode)) {
		s->nonblock = true;
		s->pipe = S_ISFIFO(st.st_mode);
		s->cut = false;
		return 0;
	}
	/* a file that ends inside a line (a full disk, a crash): the next line starts on its own */
	if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
		last = '\n';
	s->cut = last != '\n';
	return 0;
}


/*
 * Standard output that a reader drains (a pipe, a socket, a terminal) is
 * never waited for: a reader that stops reading would hold up every other
 * output, the kernel's ring and SIGTERM. Lines wait in the buffer while
 * it takes nothing, and those that no longer fit are counted as lost. A
 * pipe or terminal gets a description of its own (O_NONBLOCK on the one
 * shared with whoever started netlogd would stay after it exits); a
 * socket is sent to with MSG_DONTWAIT. A file is written to as ever.
 */
static void stdout_open(struct sink *s)
{
	struct stat st;
	int fd;

	s->nonblock = s->sock = s->own_fd = s->pipe = false;
	if (fstat(STDOUT_FILENO, &st) < 0 || S_ISREG(st.st_mode))
		return;
	if (S_ISSOCK(st.st_mode)) {
		s->nonblock = s->sock = true;
		return;
	}
	fd = system_reopen_nonblocking(STDOUT_FILENO);
	if (fd < 0) {
		log_warnx("stdout: cannot reopen it to write without waiting (%s): a reader that stops "
			  "reading holds netlogd up", strerror(-fd));
		return; /* a blocking pipe takes a long line in parts, waiting: not split by hand */
	}
	s->fd = fd;
	s->nonblock = s->own_fd = true;
	s->pipe = S_ISFIFO(st.st_mode);
}

/*
 * Remote collectors. Lines wait in a ring of framed messages ("LEN MSG",
 * RFC 6587 octet counting) until the collector's TCP acknowledged them
 * (SIOCOUTQ): when the link breaks, sending starts again from the first
 * frame not known to be acknowledged, so a line may come twice but none
 * still in the ring is lost or cut. When the ring is full, lines TCP
 * has taken whole give way to new ones (their acknowledgement may just be
 * delayed: a collector that keeps up must not cost lines); if the link
 * breaks before they are acknowledged, how many may be missing is said. A
 * line that still does not fit is dropped and counted; the count is sent
 * when the link is back. Nothing here ever blocks: connects are
 * non-blocking and retried with backoff.
 */
enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_UP };

/*
 * A name being resolved in the background (getaddrinfo_a): the loop never
 * waits for DNS. Owned by the resolver while it runs.
 */
struct resolving {
	struct gaicb req;
	struct addrinfo hints;
	char host[256], port[8];
};

struct remote {
	bool tcp;
	struct resolving *resolving; /* a lookup under way, or NULL */
	struct addrinfo *addrs;	     /* the name's addresses, the last time it resolved */
	struct addrinfo *next_addr;  /* the next of them to try; NULL: resolve again */
	bool complained;	     /* UDP: said that lines are being lost */
	uint64_t complained_ms;	     /* UDP: when it was last said */
	bool said;		     /* UDP: and said this time (else its end is not said either) */
	bool tried_in_place;	     /* the name was looked up before the background resolver could be */
	char host[256], port[8], hostname[256];
	int pid;
	enum link_state state;
	uint64_t next_try_ms, connect_started_ms;
	unsigned backoff_ms;
	char *ring;
	size_t cap;
	uint64_t head, sent, tail; /* positions: written, given to TCP, acknowledged (or given up) */
	uint64_t given_up;	   /* lines TCP had, unacknowledged, dropped from the ring for new ones */
	uint64_t given_up_end;	   /* where the last of them ends: all arrived once acknowledged there */
	uint64_t lost_reported;	   /* sink.lost when the collector was last told */
	bool pumping;		   /* in remote_pump(), which may enqueue a loss report */
	uint64_t notice;	   /* UDP: the count the loss notice being sent carries; 0: a line */
	enum { SENT_NOTHING, SENT_LINE, SENT_NOTICE } last_sent; /* UDP: what went last */
	uint64_t last_notice;	   /* UDP: the count of the notice that went last */
	char unresolved[320];	   /* why the name did not resolve, the last time it did not */
};

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define CONNECT_TIMEOUT_MS 10000

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* tcp://HOST:PORT, HOST possibly an IPv6 address in brackets */
static int remote_parse(struct remote *r, const char *url)
{
	const char *hostport = url + 6, *colon = strrchr(hostport, ':');
	size_t hlen = colon ? (size_t)(colon - hostport) : 0;
	uint32_t port;

	if (!colon || hlen == 0 || hlen >= sizeof(r->host) || options_parse_u32(colon + 1, 1, 65535, &port))
		return -EINVAL;
	if (hostport[0] == '[' && hostport[hlen - 1] == ']') {
		hostport++;
		hlen -= 2;
	}
	memcpy(r->host, hostport, hlen);
	r->host[hlen] = '\0';
	snprintf(r->port, sizeof(r->port), "%u", port); /* as the option's check read it: 0514 is 514 */
	return 0;
}

/*
 * Until the daemon has dropped its capabilities, names are resolved in
 * place: a resolver thread made then would keep them all (capabilities
 * are per thread), while it parses answers from the network.
 */
static bool resolve_in_background;

void sink_resolve_in_background(void)
{
	resolve_in_background = true;
}

/*
 * Whether @fd is connected to itself. Nothing listens on the collector's
 * port, and the kernel gave the connecting socket that very port (the
 * collector is local, its port in the ephemeral range): TCP then opens a
 * connection with itself, and a UDP socket sends to itself. What it sends
 * comes back to it: lost, though every send succeeded.
 */
static bool connected_to_itself(int fd)
{
	struct sockaddr_storage a, b;
	socklen_t alen = sizeof(a), blen = sizeof(b);

	if (getsockname(fd, (struct sockaddr *)&a, &alen) < 0 ||
	    getpeername(fd, (struct sockaddr *)&b, &blen) < 0 || a.ss_family != b.ss_family)
		return false;
	if (a.ss_family == AF_INET) {
		const struct sockaddr_in *x = (void *)&a, *y = (void *)&b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (void *)&a, *y = (void *)&b;

		return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
	}
	return false;
}

/* Close a socket connected to itself at once (a reset): no TIME_WAIT left holding the collector's port. */
static void close_reset(int fd)
{
	struct linger now = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
	close(fd);
}

/* The collector's name did not resolve: why, for link_down() to say; -EHOSTUNREACH. */
static int resolve_failed(struct sink *s, int gai_err)
{
	snprintf(s->remote->unresolved, sizeof(s->remote->unresolved), "resolve %s: %s", s->remote->host,
		 gai_err == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai_err));
	return -EHOSTUNREACH;
}

/*
 * In place (at start-up), a nameserver that does not answer is given a
 * second, once, rather than the resolver's usual 5 s, twice, per name: the
 * daemon is not logging yet, and a SIGTERM waits too. This thread's
 * resolver settings only: the background lookups keep the system's.
 */
static int resolve_in_place(struct remote *r, struct addrinfo **ai)
{
	struct addrinfo hints = { .ai_socktype = r->tcp ? SOCK_STREAM : SOCK_DGRAM };
	static bool init; /* once: a second res_init() brings back the usual timeouts */

	if (!init)
		init = res_init() == 0;
	if (init) {
		_res.retrans = 1;
		_res.retry = 1;
	}
	return getaddrinfo(r->host, r->port, &hints, ai);
}

/*
 * The collector's next address to try: resolved when none is left to try
 * (in the background: the first calls return -EAGAIN until the answer is
 * in). Every address a name has is tried in turn (a name with an IPv6 and
 * an IPv4 address, the collector listening on one of them). Returns 0 or
 * -errno.
 */
static int remote_address(struct sink *s, const struct addrinfo **out)
{
	struct remote *r = s->remote;
	struct resolving *q = r->resolving;
	struct addrinfo *ai;
	int err;

	if (r->next_addr)
		goto next;
	if (!q && !resolve_in_background) {
		if (r->tried_in_place)
			return -EAGAIN; /* once: the lines of the sockets found at start-up each asked again */
		r->tried_in_place = true;
		err = resolve_in_place(r, &ai);
		if (err)
			return resolve_failed(s, err);
		goto resolved;
	}
	if (!q) {
		struct gaicb *list[1];

		q = calloc(1, sizeof(*q));
		if (!q)
			return -ENOMEM;
		memcpy(q->host, r->host, sizeof(q->host));
		memcpy(q->port, r->port, sizeof(q->port));
		q->hints.ai_socktype = r->tcp ? SOCK_STREAM : SOCK_DGRAM;
		q->req = (struct gaicb){ .ar_name = q->host, .ar_service = q->port, .ar_request = &q->hints };
		list[0] = &q->req;
		err = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
		if (err) {
			free(q);
			return err == EAI_SYSTEM ? -errno : -EAGAIN;
		}
		r->resolving = q;
	}
	err = gai_error(&q->req);
	if (err == EAI_INPROGRESS)
		return -EAGAIN;
	r->resolving = NULL;
	ai = q->req.ar_result;
	free(q);
	if (err)
		return resolve_failed(s, err);
resolved:
	if (r->addrs)
		freeaddrinfo(r->addrs);
	r->addrs = r->next_addr = ai;
next:
	*out = r->next_addr;
	r->next_addr = r->next_addr->ai_next;
	return 0;
}

/* Whether the collector's name has addresses not tried yet: if so, the next is tried at once. */
static bool more_addresses(const struct remote *r)
{
	return r->next_addr != NULL;
}

/*
 * Connect to the collector's next address, without waiting. Returns 0,
 * -EINPROGRESS (connecting), -EAGAIN (resolving) or -errno.
 */
static int remote_socket(struct sink *s)
{
	struct remote *r = s->remote;
	const struct addrinfo *ai = NULL;
	int fd, err;

	err = remote_address(s, &ai);
	if (err)
		return err;
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!r->tcp) { /* each refusal queued, counted by udp_refusals() */
		int one = 1;

		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
		else
			setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
	}
	err = connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? -errno : 0;
	if (err && err != -EINPROGRESS) {
		close(fd);
		return err;
	}
	if (!err && !r->tcp && connected_to_itself(fd)) {
		if (r->backoff_ms == BACKOFF_MIN_MS)
			log_warnx("%s: connected to itself (nothing listens on that local port); "
				  "retrying", s->path);
		close(fd);
		return -EADDRNOTAVAIL;
	}
	s->fd = fd;
	return err;
}

static size_t ring_free(const struct remote *r)
{
	return r->cap - (size_t)(r->head - r->tail);
}

static void ring_put(struct remote *r, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		r->ring[(r->head + i) % r->cap] = data[i];
	r->head += len;
}

/* Where the frame starting at @pos ends. */
static uint64_t frame_end(const struct remote *r, uint64_t pos)
{
	uint64_t len = 0, p = pos;

	while (p < r->head && r->ring[p % r->cap] != ' ')
		len = len * 10 + (uint64_t)(r->ring[p++ % r->cap] - '0');
	return p + 1 + len;
}

/* Try again later, each time twice as late, up to BACKOFF_MAX_MS. */
static void back_off(struct remote *r)
{
	r->next_try_ms = mono_ms() + r->backoff_ms;
	r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* Whether lines wait, or may not have arrived (given way before their acknowledgement). */
static bool undelivered(const struct remote *r)
{
	return r->tail < r->head || r->given_up;
}

/* What TCP no longer holds, the collector acknowledged (also on a socket the peer reset). */
static void take_acks(struct sink *s)
{
	struct remote *r = s->remote;
	uint64_t acked;
	int outq;

	if (ioctl(s->fd, SIOCOUTQ, &outq) < 0 || outq < 0 || (uint64_t)outq > r->sent)
		return;
	acked = r->sent - (uint64_t)outq;

	while (r->tail < acked) {
		uint64_t end = frame_end(r, r->tail);

		if (end > acked)
			break;
		r->tail = end;
	}
	if (acked >= r->given_up_end)
		r->given_up = 0;
}

static void link_down(struct sink *s, const char *why, int err)
{
	struct remote *r = s->remote;
	/* a connect that failed: the name's next address, at once */
	bool more = r->state != LINK_UP && more_addresses(r);

	if (r->state == LINK_UP && r->given_up && s->fd >= 0)
		take_acks(s); /* what arrived since the last look is not missing */
	if (r->state == LINK_UP)
		log_warnx("%s: collector link lost (%s%s%s); keeping lines, retrying", s->path, why,
			  err ? ": " : "", err ? strerror(-err) : "");
	else if (!more && r->backoff_ms == BACKOFF_MIN_MS)
		log_warnx("%s: cannot reach the collector (%s%s%s); keeping lines, retrying", s->path, why,
			  err ? ": " : "", err ? strerror(-err) : "");
	if (r->given_up)
		log_warnx("%s: up to %llu lines the link had taken were not known to be delivered when "
			  "it broke (they had given way to newer ones in the full buffer; raise --remote-buffer)",
			  s->path, (unsigned long long)r->given_up);
	r->given_up = 0;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	r->state = LINK_DOWN;
	r->sent = r->tail; /* again from the first frame not known to have arrived */
	if (more)
		r->next_try_ms = 0;
	else
		back_off(r);
}

static int remote_enqueue(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *body);

/* Tell the collector what it missed, once there is room to. */
static void report_remote_loss(struct sink *s)
{
	struct remote *r = s->remote;
	uint64_t now = realtime_ns(), n = s->lost - r->lost_reported;
	const char *what = r->tcp ? "events lost: the collector was unreachable or slow and "
				    "netlogd's buffer full (raise --remote-buffer)"
				  : "events lost: they could not be sent to the collector";
	char line[FORMAT_JSON_MAX];
	uint64_t lost_before;
	int err;

	if (!n)
		return;
	if (s->format == FORMAT_JSON) {
		if (format_json_loss(line, sizeof(line), now, n, what) < 0)
			return;
	} else {
		snprintf(line, sizeof(line), "warning: %llu %s", (unsigned long long)n, what);
	}
	lost_before = s->lost;
	r->notice = n;
	err = remote_enqueue(s, now, SINK_WARNING, line);
	r->notice = 0;
	if (err == 0) {
		r->lost_reported += n;
		if (r->tcp)
			log_warnx("%s: the collector was told of %llu lines dropped", s->path,
				  (unsigned long long)n);
		/* UDP: said once a line went after the notice, unrefused (udp_send()) */
	} else if (s->lost > lost_before) {
		s->lost--; /* the notice is no line of the log: tried again later */
	}
}

/* Move the link on: connect when due, send what waits, note what arrived. */
static int remote_pump(struct sink *s)
{
	struct remote *r = s->remote;
	struct pollfd pfd;
	int err;

	if (r->state == LINK_DOWN) {
		if (mono_ms() < r->next_try_ms)
			return -ENOTCONN;
		r->unresolved[0] = '\0';
		err = remote_socket(s);
		if (err == -EAGAIN)
			return -ENOTCONN; /* still resolving: looked at again on the next pump */
		if (err && err != -EINPROGRESS) {
			link_down(s, r->unresolved[0] ? r->unresolved : "connect", r->unresolved[0] ? 0 : err);
			return err;
		}
		r->state = LINK_CONNECTING;
		r->connect_started_ms = mono_ms();
	}
	if (r->state == LINK_CONNECTING) {
		socklen_t len = sizeof(err);

		pfd = (struct pollfd){ .fd = s->fd, .events = POLLOUT };
		if (poll(&pfd, 1, 0) == 0) {
			if (mono_ms() - r->connect_started_ms > CONNECT_TIMEOUT_MS)
				link_down(s, "connect timed out", 0);
			return -ENOTCONN;
		}
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			link_down(s, "connect", -err);
			return -ENOTCONN;
		}
		if (connected_to_itself(s->fd)) {
			close_reset(s->fd);
			s->fd = -1;
			link_down(s, "connected to itself: nothing listens on that local port", 0);
			return -ENOTCONN;
		}
		if (r->backoff_ms > BACKOFF_MIN_MS)
			log_warnx("%s: collector reached again", s->path);
		r->state = LINK_UP;
		r->backoff_ms = BACKOFF_MIN_MS;
		r->next_addr = NULL; /* when the link breaks, the name is asked again */
	}
	/* a collector never talks: readable means it closed or reset */
	pfd = (struct pollfd){ .fd = s->fd, .events = POLLIN | POLLRDHUP };
	if (poll(&pfd, 1, 0) > 0) {
		char c;
		ssize_t n = recv(s->fd, &c, 1, MSG_DONTWAIT);

		if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
			link_down(s, n == 0 ? "closed by the collector" : "receive", n == 0 ? 0 : -errno);
			return -ENOTCONN;
		}
	}
	if (s->lost != r->lost_reported && !r->pumping) {
		/* room for the notice comes from acknowledgements, never from a pump inside */
		r->pumping = true;
		report_remote_loss(s);
		r->pumping = false;
	}
	while (r->sent < r->head) {
		size_t at = r->sent % r->cap, chunk = (size_t)(r->head - r->sent);
		ssize_t n;

		if (chunk > r->cap - at)
			chunk = r->cap - at;
		n = send(s->fd, r->ring + at, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			link_down(s, "send", -errno);
			return -ENOTCONN;
		}
		r->sent += (uint64_t)n;
	}
	take_acks(s);
	return 0;
}

/*
 * Make room for @need bytes: the oldest frames TCP has taken whole give
 * way, if that makes room enough (else they stay, and the new line goes).
 */
static void give_way(struct remote *r, size_t need)
{
	uint64_t t = r->tail;
	unsigned lines = 0;

	if (need > r->cap)
		return;
	while (need > r->cap - (size_t)(r->head - t) && t < r->sent) {
		uint64_t end = frame_end(r, t);

		if (end > r->sent)
			return; /* partly sent: sent again whole if the link breaks */
		t = end;
		lines++;
	}
	if (need > r->cap - (size_t)(r->head - t))
		return;
	r->given_up += lines;
	if (lines)
		r->given_up_end = t;
	r->tail = t;
}

/*
 * The datagrams UDP socket @fd had refused since last asked: with
 * IP_RECVERR the kernel queues one error for each (its pending error
 * alone says one however many came: refusals that arrive after a burst,
 * the softirq deferred, would go uncounted). Each also sets that pending
 * error, asked first (and cleared), so a send that went costs one call;
 * a send it failed (@failed: ECONNREFUSED) took it already.
 */
static unsigned udp_refusals(int fd, bool failed)
{
	char data[64], ctl[512];
	unsigned n = 0;
	int err = 0;
	socklen_t len = sizeof(err);

	if (!failed && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || !err))
		return 0;
	for (;;) {
		struct iovec iov = { data, sizeof(data) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				    .msg_controllen = sizeof(ctl) };

		if (recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		n++;
	}
	return n ?: 1; /* the queue overflowed: one at least */
}

/*
 * @n datagrams sent were refused: lines lost. A loss notice sent last
 * among them is said again rather than taken as told (which of them were
 * refused is not known: a count may then come twice, never go unsaid).
 */
static void udp_refused(struct sink *s, unsigned n)
{
	struct remote *r = s->remote;

	if (!n)
		return;
	if (r->last_sent == SENT_NOTICE) {
		r->lost_reported -= r->last_notice;
		n--;
	}
	s->lost += n;
	r->last_sent = SENT_NOTHING;
}

/* A UDP collector does not take lines: said once, until one is sent again (report_remote_loss()). */
static void udp_failing(struct sink *s, const char *why, int err)
{
	struct remote *r = s->remote;
	uint64_t now = mono_ms();

	if (r->complained)
		return;
	r->complained = true;
	if (r->complained_ms && now - r->complained_ms < 60000)
		return;
	r->complained_ms = now;
	r->said = true;
	log_warnx("%s: cannot send to the collector (%s%s%s); counting the lines lost until it takes "
		  "them", s->path, why, err ? ": " : "", err ? strerror(err) : "");
}

/*
 * The loss notice went, and neither it nor what followed was refused: the
 * collector takes lines again. (One on another host may refuse later
 * still: its refusals are then said at most once a minute.)
 */
static void udp_taken_again(struct sink *s)
{
	struct remote *r = s->remote;

	if (!r->complained)
		return;
	if (r->said)
		log_warnx("%s: %llu lines could not be sent; the collector takes them again", s->path,
			  (unsigned long long)r->last_notice);
	r->complained = r->said = false;
}

/*
 * A UDP collector refused a datagram: a name with several addresses has
 * the next tried with the next line; after the last, it is asked again
 * when the backoff says (not at every line: a lookup each).
 */
static void udp_next_address(struct sink *s)
{
	struct remote *r = s->remote;

	if (!r->addrs || !r->addrs->ai_next)
		return;
	close(s->fd);
	s->fd = -1;
	if (more_addresses(r))
		r->next_try_ms = 0;
	else
		back_off(r);
}

/*
 * One datagram to a UDP collector. A closed port answers a datagram with
 * an ICMP error, which fails the next send: a collector on this host
 * answers before send() returns (asked for at once: this datagram is
 * lost), one elsewhere later (the send it fails says the previous one was
 * lost). Over a network a refusal may come later still, or never.
 */
static int udp_send(struct sink *s, const char *msg, size_t len)
{
	struct remote *r = s->remote;

	unsigned refused;

	if (send(s->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len) {
		int err = errno;

		/* an earlier datagram's refusal failed this send: this one is lost too */
		if (err == ECONNREFUSED)
			udp_refused(s, udp_refusals(s->fd, true));
		s->lost++;
		udp_failing(s, "send", err);
		if (err == ECONNREFUSED)
			udp_next_address(s);
		return -err;
	}
	refused = udp_refusals(s->fd, false);
	if (refused) {
		/*
		 * This one's (a local collector answers before send() returns)
		 * or earlier ones': each counted once. If this is a notice,
		 * report_remote_loss() takes one back (no line) and says it again.
		 */
		udp_refused(s, refused);
		udp_failing(s, "send", ECONNREFUSED);
		udp_next_address(s);
		return -ECONNREFUSED;
	}
	if (!r->notice && r->last_sent == SENT_NOTICE)
		udp_taken_again(s);
	r->last_sent = r->notice ? SENT_NOTICE : SENT_LINE;
	r->last_notice = r->notice;
	return 0;
}

/* <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG (RFC 5424), then framed or sent. */
static int remote_enqueue(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *body)
{
	struct remote *r = s->remote;
	char msg[FORMAT_JSON_MAX + 512], stamp[FORMAT_TIME_MAX], frame[24];
	int n, f;

	if (format_time_rfc3339(stamp, sizeof(stamp), epoch_ns, &s->time_cache) < 0)
		return -EINVAL;
	n = snprintf(msg, sizeof(msg), "<%d>1 %s %s netlog %d - - %s", SYSLOG_PRI(sev), stamp, r->hostname,
		     r->pid, body);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -ENOSPC;
	if (!r->tcp) {
		int err = -EAGAIN;

		if (s->fd < 0 && mono_ms() >= r->next_try_ms) {
			r->unresolved[0] = '\0';
			err = remote_socket(s);
			if (err && err != -EAGAIN && s->fd < 0)
				back_off(r);
		}
		if (s->fd < 0) {
			s->lost++;
			if (r->unresolved[0])
				udp_failing(s, r->unresolved, 0);
			else if (err != -EAGAIN)
				udp_failing(s, "connect", -err);
			return -ENOTCONN;
		}
		return udp_send(s, msg, (size_t)n);
	}
	f = snprintf(frame, sizeof(frame), "%d ", n);
	/* full: what the collector acknowledged since the last pump makes room, without waiting */
	if ((size_t)(f + n) > ring_free(r) && r->state == LINK_UP && !r->pumping) {
		r->pumping = true;
		remote_pump(s);
		r->pumping = false;
	}
	if (r->state == LINK_UP)
		give_way(r, (size_t)(f + n));
	if ((size_t)(f + n) > ring_free(r)) {
		s->lost++;
		return -ENOBUFS;
	}
	ring_put(r, frame, (size_t)f);
	ring_put(r, msg, (size_t)n);
	return 0;
}

/*
 * The least a collector's buffer holds, whatever --remote-buffer says: the
 * longest line (a JSON one, paths at their longest) with its header, so that
 * none is too long to ever be sent.
 */
#define REMOTE_BUFFER_MIN 8192
_Static_assert(REMOTE_BUFFER_MIN >= FORMAT_JSON_LONGEST + 1024, "the longest line fits");

static int remote_open(struct sink *s, const char *url, size_t buffer)
{
	struct remote *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	s->remote = r;
	r->tcp = !strncmp(url, "tcp://", 6);
	s->kind = r->tcp ? SINK_REMOTE_TCP : SINK_REMOTE_UDP;
	if (remote_parse(r, url) < 0)
		return -EINVAL;
	if (gethostname(r->hostname, sizeof(r->hostname) - 1) < 0 || !r->hostname[0])
		strcpy(r->hostname, "-");
	r->pid = getpid();
	r->backoff_ms = BACKOFF_MIN_MS;
	if (r->tcp) {
		r->cap = buffer < REMOTE_BUFFER_MIN ? REMOTE_BUFFER_MIN : buffer;
		r->ring = malloc(r->cap);
		if (!r->ring)
			return -ENOMEM;
	}
	/* start resolving and connecting; lines wait meanwhile (TCP) or retry it (UDP) */
	r->tcp ? remote_pump(s) : remote_socket(s);
	if (r->resolving) {
		/*
		 * A reload's new collector (at start-up names resolve in place):
		 * an address or a name in /etc/hosts is there at once, for the
		 * first lines; a nameserver is not waited for, the loop goes on.
		 */
		const struct gaicb *list[1] = { &r->resolving->req };
		struct timespec moment = { 0, 100 * 1000 * 1000 };

		gai_suspend(list, 1, &moment);
		r->tcp ? remote_pump(s) : remote_socket(s);
	}
	return 0;
}

bool sink_reader_gone(const struct sink *s)
{
	struct pollfd pfd = { .fd = s->fd, .events = 0 };

	return s->kind == SINK_STDOUT && s->nonblock && poll(&pfd, 1, 0) > 0 &&
	       (pfd.revents & (POLLERR | POLLHUP));
}

bool sink_remote_up(const struct sink *s)
{
	return s->remote && (!s->remote->tcp || s->remote->state == LINK_UP);
}

/* The frames from @from to the ring's head: lines not known to have arrived. */
static uint64_t frames_from(const struct remote *r, uint64_t from)
{
	uint64_t lines = 0;

	for (uint64_t p = from; p < r->head; p = frame_end(r, p))
		lines++;
	return lines;
}

static void remote_close(struct sink *s, bool at_exit)
{
	struct remote *r = s->remote;
	uint64_t deadline = mono_ms() + (at_exit ? 2000 : 0);

	/* a last chance for what waits, bounded: stopping must not hang, a reload not wait */
	while (r->tcp && undelivered(r) && (at_exit || r->state == LINK_UP)) {
		remote_pump(s);
		if (!undelivered(r) || mono_ms() >= deadline)
			break;
		usleep(10000);
	}
	if (r->tcp && undelivered(r))
		log_warnx("%s: %s%llu lines not known to be delivered %s (the collector was away or slow)", s->path,
			  r->given_up ? "up to " : "", (unsigned long long)(frames_from(r, r->tail) + r->given_up),
			  at_exit ? "at exit" : "when the reload removed the output");
	if (r->addrs)
		freeaddrinfo(r->addrs);
	/* a lookup the resolver cannot drop keeps its memory: it writes there when done */
	if (r->resolving && gai_cancel(&r->resolving->req) != EAI_NOTCANCELED) {
		if (r->resolving->req.ar_result)
			freeaddrinfo(r->resolving->req.ar_result);
		free(r->resolving);
	}
	free(r->ring);
	free(r);
	s->remote = NULL;
}

uint64_t sink_untold(const struct sink *s)
{
	return s->remote ? s->lost - s->remote->lost_reported : 0;
}

int sink_resize(struct sink *s, size_t bytes)
{
	struct remote *r = s->remote;
	uint64_t keep = r ? r->tail : 0;
	size_t cap;
	char *ring;

	if (bytes < REMOTE_BUFFER_MIN)
		bytes = REMOTE_BUFFER_MIN;
	if (!r || !r->tcp || bytes == r->cap)
		return 0;
	/* whole frames from the oldest while they fit, and all TCP was given */
	while (keep < r->head && (frame_end(r, keep) - r->tail <= bytes || keep < r->sent))
		keep = frame_end(r, keep);
	cap = (size_t)(keep - r->tail) > bytes ? (size_t)(keep - r->tail) : bytes;
	ring = malloc(cap);
	if (!ring)
		return -ENOMEM;
	for (uint64_t p = r->tail; p < keep; p++) /* positions stay: TCP's count of what it holds refers to them */
		ring[p % cap] = r->ring[p % r->cap];
	s->lost += frames_from(r, keep);
	free(r->ring);
	r->ring = ring;
	r->cap = cap;
	r->head = keep;
	return 0;
}


/*
 * Whether @path (or, not made yet, its directory) is in /proc or /sys:
 * kernel files, which take no log lines (each write would fail).
 */
static bool kernel_file(const char *path)
{
	char dir[PATH_MAX];
	struct statfs fs;

	creatable(path, dir, sizeof(dir));
	if (statfs(path, &fs) < 0 && statfs(dir, &fs) < 0)
		return false;
	return fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC;
}

/* 0, or ELOOP if a symbolic link lies on @path (or on its directory's, when it is not made yet). */
static int link_on_the_way(const char *path)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
	char dir[PATH_MAX];
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

	if (fd < 0 && errno == ENOENT) {
		creatable(path, dir, sizeof(dir));
		fd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));
	}
	if (fd >= 0)
		close(fd);
	return fd < 0 && errno == ELOOP ? ELOOP : 0;
}

int sink_check(const char *spec, const char *syslog_socket, char *why, size_t whylen)
{
	char dir[PATH_MAX];
	bool others, exists;
	struct stat st;
	int err;

	if (!strncmp(spec, "tcp://", 6) || !strncmp(spec, "udp://", 6) || !strcmp(spec, "stdout") ||
	    !strcmp(spec, "-"))
		return 0;
	if (!strcmp(spec, "syslog")) {
		err = stat(syslog_socket, &st) < 0 ? errno : S_ISSOCK(st.st_mode) ? 0 : ENOTSOCK;
		if (err)
			snprintf(why, whylen, "syslog: %s: %s (is a syslog daemon running?)", syslog_socket,
				 strerror(err));
		return -err;
	}
	others = others_control(spec);
	if (others && (err = link_on_the_way(spec))) {
		snprintf(why, whylen, "%s: a symbolic link on its way, where another user than root may write: "
			 "netlogd would follow it as root (name the file itself)", spec);
		return -err;
	}
	exists = stat(spec, &st) == 0;
	err = exists ? 0 : errno;
	if (exists && !S_ISDIR(st.st_mode) && others && (err = planted(&st))) {
		if (err == EPERM)
			snprintf(why, whylen, "%s: owned by uid %u, where another user than root may write: "
				 "a file they could have put there to read or stall the log", spec, (unsigned)st.st_uid);
		else
			snprintf(why, whylen, "%s: has %u hard links, where another user than root may write: "
				 "netlogd would write to a file they linked there", spec, (unsigned)st.st_nlink);
		return -err;
	}
	if (exists)
		err = S_ISDIR(st.st_mode) ? EISDIR : access(spec, W_OK) < 0 ? errno : 0;
	else if (err == ENOENT && (err = creatable(spec, dir, sizeof(dir)))) {
		snprintf(why, whylen, "%s: cannot be made in %s: %s", spec, dir, strerror(err));
		return -err;
	}
	if (!err && kernel_file(spec)) {
		snprintf(why, whylen, "%s: a kernel file (in /proc or /sys), not a log", spec);
		return -EINVAL;
	}
	if (err)
		snprintf(why, whylen, "%s: %s", spec, strerror(err));
	return -err;
}

bool sink_udp_end(const struct sink *s, uint64_t *cookie, uint8_t addr[16], uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), clen = sizeof(*cookie);

	if (!s->remote || s->remote->tcp || s->fd < 0 ||
	    getsockopt(s->fd, SOL_SOCKET, SO_COOKIE, cookie, &clen) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &in->sin_addr, 4);
		*port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		memcpy(addr, &in6->sin6_addr, 16);
		*port = ntohs(in6->sin6_port);
	} else {
		return false;
	}
	return true;
}

bool sink_same_file(const char *a, const char *b)
{
	char da[PATH_MAX], db[PATH_MAX], ra[PATH_MAX], rb[PATH_MAX];
	const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
	struct stat sa, sb;

	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	/* one not made yet: the same name in the same directory */
	creatable(a, da, sizeof(da));
	creatable(b, db, sizeof(db));
	return realpath(da, ra) && realpath(db, rb) && !strcmp(ra, rb) &&
	       !strcmp(ba ? ba + 1 : a, bb ? bb + 1 : b);
}

int sink_open(struct sink *s, const char *spec, enum output_format format,
	      const char *syslog_socket, size_t remote_buffer)
{
	s->fd = -1;
	s->len = 0;
	s->lost = 0;
	s->remote = NULL;
	s->format = format;
	s->time_cache.sec = -1;
	if (!strncmp(spec, "tcp://", 6) || !strncmp(spec, "udp://", 6)) {
		snprintf(s->path, sizeof(s->path), "%s", spec);
		return remote_open(s, spec, remote_buffer);
	}
	if (strcmp(spec, "stdout") == 0 || strcmp(spec, "-") == 0) {
		s->kind = SINK_STDOUT;
		s->fd = STDOUT_FILENO;
		snprintf(s->path, sizeof(s->path), "stdout");
		stdout_open(s);
		return 0;
	}
	if (strcmp(spec, "syslog") == 0) {
		s->kind = SINK_SYSLOG;
		if (snprintf(s->path, sizeof(s->path), "%s", syslog_socket) >= (int)sizeof(s->path))
			return -ENAMETOOLONG;
		return syslog_connect(s);
	}
	s->kind = SINK_FILE;
	if (snprintf(s->path, sizeof(s->path), "%s", spec) >= (int)sizeof(s->path))
		return -ENAMETOOLONG;
	if (kernel_file(spec))
		return -EINVAL; /* said by sink_check() */
	return file_open(s);
}

/*
 * A line longer than PIPE_BUF heads the @*len bytes at @buf, for pipe @fd:
 * a pipe may take such a write in part, and if netlogd then stopped, its
 * reader would have a cut line, glued to whatever comes next. It is
 * written only once the pipe has room for all of it (netlogd is the
 * pipe's one writer), alone: *@len becomes its length. False: no room yet.
 * A line longer than the whole pipe goes as it can.
 */
static bool pipe_has_room(int fd, const char *buf, size_t *len)
{
	const char *nl = memchr(buf, '\n', *len);
	int unread, size = fcntl(fd, F_GETPIPE_SZ);
	size_t need;

	if (nl)
		*len = (size_t)(nl - buf) + 1;
	if (size < 0 || ioctl(fd, FIONREAD, &unread) < 0 || *len > (size_t)size)
		return true;
	/* a pipe holds pages: the one its reader is in the middle of holds less */
	need = *len + (size_t)sysconf(_SC_PAGESIZE);
	return (size_t)(size - unread) >= (need < (size_t)size ? need : (size_t)size);
}

/* Write @len bytes of @buf; *@done says how many went. Returns 0 or -errno (-EAGAIN: @s takes nothing now). */
static int write_all(const struct sink *s, const char *buf, size_t len, size_t *done)
{
	*done = 0;
	while (*done < len) {
		size_t chunk = len - *done;
		ssize_t n;

		/* whole lines of at most PIPE_BUF bytes: a pipe takes such a write whole or not at all */
		if (s->pipe && chunk > PIPE_BUF) {
			const char *nl = memrchr(buf + *done, '\n', PIPE_BUF);

			if (nl)
				chunk = (size_t)(nl - (buf + *done)) + 1;
			else if (!pipe_has_room(s->fd, buf + *done, &chunk))
				return -EAGAIN;
		}
		n = s->sock ? send(s->fd, buf + *done, chunk, MSG_DONTWAIT | MSG_NOSIGNAL)
			    : write(s->fd, buf + *done, chunk);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* a device that takes nothing, and says no more */
		*done += (size_t)n;
	}
	return 0;
}

/*
 * A write that stopped inside a line (a full disk) left its first @len
 * bytes, @part, at the end of the file: take them back, so the file holds
 * whole lines only (a JSON line cut short is no JSON). Only when the file
 * still ends with them: another writer may have appended since. False when
 * they stay (not a regular file, not readable, changed): the next flush
 * then ends the cut line instead.
 */
static bool unwrite_cut(int fd, const char *part, size_t len)
{
	char tail[FORMAT_JSON_MAX + 128];
	struct stat st;

	if (len > sizeof(tail) || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)len)
		return false;
	if (pread(fd, tail, len, st.st_size - (off_t)len) != (ssize_t)len || memcmp(tail, part, len) != 0)
		return false;
	return ftruncate(fd, st.st_size - (off_t)len) == 0;
}

/* Lines (newlines) in @len bytes at @buf: the unit losses are counted in. */
static uint64_t lines_in(const char *buf, size_t len)
{
	uint64_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	return n;
}

int sink_flush(struct sink *s)
{
	size_t done = 0;
	int err = 0;

	if (s->kind == SINK_REMOTE_TCP)
		return remote_pump(s);
	if (s->kind == SINK_REMOTE_UDP) {
		struct remote *r = s->remote;

		/* refusals since the last send; the notice that went last, if none: taken */
		if (s->fd >= 0) {
			unsigned refused = udp_refusals(s->fd, false);

			if (refused)
				udp_refused(s, refused);
			else if (r->last_sent == SENT_NOTICE)
				udp_taken_again(s);
		}
		/* lines that could not be sent: say so with the first that can */
		if (s->lost != r->lost_reported)
			report_remote_loss(s);
		return 0;
	}
	if (s->len == 0)
		return 0;
	/* the last write stopped inside a line: end it, so no line is glued to its remains */
	if (s->cut) {
		err = write_all(s, "\n", 1, &done);
		s->cut = err < 0;
		done = 0;
	}
	if (!err)
		err = write_all(s, s->buf, s->len, &done);
	if (err == -EAGAIN && s->nonblock) {
		/* the reader is slow or stopped: the rest waits, the line begun included */
		memmove(s->buf, s->buf + done, s->len - done);
		s->len -= done;
		s->failing = true;
		return err;
	}
	if (err < 0) {
		/* count whole lines, the cut one too, so the loss report is in the unit users read */
		s->lost += lines_in(s->buf + done, s->len - done);
		if (done > 0 && s->buf[done - 1] != '\n') {
			size_t start = done;

			while (start > 0 && s->buf[start - 1] != '\n')
				start--;
			s->cut = !unwrite_cut(s->fd, s->buf + start, done - start);
		}
	}
	s->failing = err < 0;
	s->len = 0;
	return err;
}

/* Whether @fd takes a datagram within @ms milliseconds. */
static bool writable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	return n > 0 && (p.revents & POLLOUT);
}

/*
 * The syslog daemon is waited for, a little, when its socket is full (a
 * burst); one that takes nothing for SYSLOG_WAIT_MS is stalled, and is not
 * waited for again until it takes a line: the lines meanwhile are counted as
 * lost, and the loop, the other outputs and the signals go on.
 */
#define SYSLOG_WAIT_MS 1000

static int syslog_send(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line,
		       bool raw)
{
	char msg[FORMAT_JSON_MAX + 64], stamp[32];
	time_t sec = (time_t)(epoch_ns / 1000000000ull);
	bool waited = false;
	struct tm tm;
	int n, err;

	/* RFC 3164 header, as the original module's lines reached syslog */
	localtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	if (raw)
		n = snprintf(msg, sizeof(msg), "<%d>%s netlog: %s", SYSLOG_PRI(sev), stamp, line);
	else
		n = snprintf(msg, sizeof(msg), "<%d>%s netlog: %s: %s", SYSLOG_PRI(sev), stamp,
			     severity_name(sev), line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -ENOSPC;
	for (int attempt = 0; attempt < 3; attempt++) {
		if (send(s->fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n) {
			s->failing = false;
			return 0;
		}
		err = errno;
		if (err == EINTR)
			continue;
		if (err == EAGAIN) {
			if (s->failing || waited)
				break;
			waited = true;
			if (writable_within(s->fd, SYSLOG_WAIT_MS))
				continue;
			log_warnx("%s: the syslog daemon takes no lines; counting the lines lost "
				  "until it does", s->path);
			break;
		}
		/* the collector restarted: its socket is a new one */
		if (err != ECONNREFUSED && err != ENOTCONN && err != ENOENT)
			break;
		if (syslog_connect(s) < 0)
			break;
	}
	s->lost++;
	s->failing = true;
	return -err;
}

/*
 * Flush @s to make room for @need bytes. What a file could not take is
 * counted and gone; a reader that takes nothing keeps its lines waiting,
 * and then the new line is the one lost (counted).
 */
static bool room_after_flush(struct sink *s, size_t need)
{
	sink_flush(s);
	if (s->len + need <= sizeof(s->buf))
		return true;
	s->lost++;
	s->failing = true;
	return false;
}

int sink_write(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line)
{
	static const char tag[] = " netlog: ";
	const char *sevname = severity_name(sev);
	size_t sevlen = strlen(sevname), linelen = strlen(line), need;
	char *p;
	int n;

	if (s->kind == SINK_SYSLOG)
		return syslog_send(s, epoch_ns, sev, line, false);
	if (s->remote) {
		char body[FORMAT_JSON_MAX + 16];

		snprintf(body, sizeof(body), "%s: %s", sevname, line);
		return remote_enqueue(s, epoch_ns, sev, body);
	}
	need = FORMAT_TIME_MAX + sizeof(tag) + sevlen + 2 + linelen + 1;
	if (need > sizeof(s->buf))
		return -ENOSPC;
	if (s->len + need > sizeof(s->buf) && !room_after_flush(s, need))
		return -ENOBUFS;
	/* "<time> netlog: <severity>: <line>\n", appended to the batch */
	p = s->buf + s->len;
	n = format_time_rfc3339(p, FORMAT_TIME_MAX, epoch_ns, &s->time_cache);
	if (n < 0)
		return n;
	p += n;
	memcpy(p, tag, sizeof(tag) - 1);
	p += sizeof(tag) - 1;
	memcpy(p, sevname, sevlen);
	p += sevlen;
	*p++ = ':';
	*p++ = ' ';
	memcpy(p, line, linelen);
	p += linelen;
	*p++ = '\n';
	s->len = (size_t)(p - s->buf);
	return 0;
}

int sink_write_raw(struct sink *s, uint64_t epoch_ns, enum sink_severity sev, const char *line)
{
	size_t len = strlen(line);

	if (s->kind == SINK_SYSLOG)
		return syslog_send(s, epoch_ns, sev, line, true);
	if (s->remote)
		return remote_enqueue(s, epoch_ns, sev, line);
	if (len + 1 > sizeof(s->buf))
		return -ENOSPC;
	if (s->len + len + 1 > sizeof(s->buf) && !room_after_flush(s, len + 1))
		return -ENOBUFS;
	memcpy(s->buf + s->len, line, len);
	s->buf[s->len + len] = '\n';
	s->len += len + 1;
	return 0;
}

int sink_reopen(struct sink *s)
{
	int err = sink_flush(s);

	if (err == -EAGAIN && s->nonblock)
		err = 0; /* a reader that takes nothing now: said by the loss count */

	if (s->remote)
		return 0; /* a collector that is down says so itself, once, not at every rotation */

	switch (s->kind) {
	case SINK_FILE:
		return file_open(s); /* what the flush lost is counted, and said as losses are */
	case SINK_SYSLOG:
		return syslog_connect(s);
	case SINK_STDOUT:
	case SINK_REMOTE_TCP:
	case SINK_REMOTE_UDP:
		break;
	}
	return err;
}

/*
 * A reader (stdout, a named pipe) that takes nothing gets two seconds at
 * exit to take what waits: stopping must not hang, and a reload does not
 * wait at all.
 */
static void reader_close(struct sink *s, bool at_exit)
{
	uint64_t deadline = mono_ms() + (at_exit ? 2000 : 0);
	struct pollfd p = { .fd = s->fd, .events = POLLOUT };
	uint64_t left;

	while (sink_flush(s) == -EAGAIN && mono_ms() < deadline)
		poll(&p, 1, 100);
	left = s->nonblock ? lines_in(s->buf, s->len) : 0;
	if (left)
		log_warnx("%s: %llu lines could not be written %s: its reader took nothing", s->path,
			  (unsigned long long)left, at_exit ? "at exit" : "when the reload removed it");
	s->len = 0;
}

void sink_close(struct sink *s, bool at_exit)
{
	if (s->remote)
		remote_close(s, at_exit);
	else if (s->kind == SINK_STDOUT || s->nonblock)
		reader_close(s, at_exit);
	else if (s->len) {
		uint64_t lost = s->lost;
		int err = sink_flush(s);

		if (s->lost != lost)
			log_warnx("%s: %llu lines could not be written %s (%s)", s->path,
				  (unsigned long long)(s->lost - lost),
				  at_exit ? "at exit" : "when the reload removed it", strerror(-err));
	}
	if (s->fd >= 0 && (s->kind != SINK_STDOUT || s->own_fd))
		close(s->fd);
	s->fd = -1;
}
