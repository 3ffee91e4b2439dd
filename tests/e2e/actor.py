#!/usr/bin/env python3
"""A test process that opens real sockets on command.

It reads one JSON array per line on stdin, ["command", args...], and answers
one JSON object per line on stdout. Its first line says who it is: pid, sid,
uid. The tests run it inside their network namespaces and compare what
netlogd logged with what this process really did.
"""
import ctypes
import errno
import fcntl
import json
import mmap
import os
import select
import signal
import socket
import struct
import sys
import threading

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15

socks = {}
children = {}


def set_thread_name(name):
    """Names the calling thread; on the main thread, the process's comm."""
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(bytes.fromhex(name)), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def keep(s):
    socks[s.fileno()] = s
    return s.fileno()


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def cmd_name(hexname):
    set_thread_name(hexname)
    return {}


IPPROTO_MPTCP = 262


def cmd_listen(addr, port, backlog=64, v6only=None, reuseport=False, mptcp=False):
    """Listen on addr:port; with addr None, listen without bind (the kernel picks)."""
    s = socket.socket(family(addr or "0.0.0.0"), socket.SOCK_STREAM, IPPROTO_MPTCP if mptcp else 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
    if addr is not None:
        s.bind((addr, port))
    s.listen(backlog)
    return {"fd": keep(s), "port": s.getsockname()[1]}


def connect(addr, port, nonblock=False, timeout=10, mptcp=False):
    s = socket.socket(family(addr), socket.SOCK_STREAM, IPPROTO_MPTCP if mptcp else 0)
    if not nonblock:
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
        except OSError as e:
            s.close()
            return {"error": errno.errorcode.get(e.errno, str(e))}
        s.settimeout(None)
    else:
        s.setblocking(False)
        rc = s.connect_ex((addr, port))
        if rc != errno.EINPROGRESS:
            s.close()
            return {"error": "connect_ex returned %s, expected EINPROGRESS" % errno.errorcode.get(rc, rc)}
        _, w, _ = select.select([], [s], [], timeout)
        rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if w else errno.ETIMEDOUT
        if rc:
            s.close()
            return {"error": errno.errorcode.get(rc, str(rc))}
    local = s.getsockname()
    return {"fd": keep(s), "laddr": local[0], "lport": local[1]}


def cmd_connect(addr, port, nonblock=False, timeout=10, mptcp=False):
    return connect(addr, port, nonblock, timeout, mptcp)


def cmd_thread_connect(thread_name, addr, port):
    """Connect from a new thread that carries its own name, as resolvers do."""
    out = {}

    def run():
        set_thread_name(thread_name)
        out.update(connect(addr, port))
        out["tid"] = threading.get_native_id()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out


IPPROTO_UDPLITE = 136


def cmd_udp_bind(addr, port, lite=False):
    """A UDP socket bound with bind(): what netlog calls a UDP listen. @lite: UDP-Lite."""
    s = socket.socket(family(addr), socket.SOCK_DGRAM, IPPROTO_UDPLITE if lite else 0)
    s.bind((addr, port))
    return {"fd": keep(s), "port": s.getsockname()[1]}


def cmd_udp_sendto(addr, port):
    """A UDP socket never bound: the kernel autobinds it on the first send."""
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.sendto(b"x", (addr, port))
    return {"fd": keep(s), "lport": s.getsockname()[1]}


SO_RCVBUFFORCE = 33


def cmd_udp_socket(addr, port=None, rcvbuf=None, lite=False):
    """A UDP socket of @addr's family; bound to @addr:@port only if @port is given. @lite: UDP-Lite."""
    s = socket.socket(family(addr), socket.SOCK_DGRAM, IPPROTO_UDPLITE if lite else 0)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
    if port is not None:
        s.bind((addr, port))
    return {"fd": keep(s), "lport": s.getsockname()[1]}


def cmd_udp_bind_fd(fd, addr, port):
    """bind() socket @fd, made here or handed over, to @addr:@port."""
    socks[fd].bind((addr, port))
    return {"port": socks[fd].getsockname()[1]}


def cmd_udp_send_to(fd, addr, port, count=1, size=5):
    """@count datagrams of @size bytes from socket @fd to @addr:@port (sendto)."""
    for _ in range(count):
        socks[fd].sendto(b"x" * size, (addr, port))
    local = socks[fd].getsockname()
    return {"laddr": local[0], "lport": local[1]}


def cmd_udp_gso_send_to(fd, addr, port, size, segment):
    """One sendto() of @size bytes that the kernel sends as datagrams of @segment bytes (UDP_SEGMENT)."""
    socks[fd].setsockopt(17, 103, segment)  # SOL_UDP, UDP_SEGMENT
    socks[fd].sendto(b"x" * size, (addr, port))
    return {"lport": socks[fd].getsockname()[1]}


def cmd_udp_ipv6_ext(fd):
    """Put a hop-by-hop and a destination options header (a PadN option each)
    before the UDP header of every datagram IPv6 socket @fd sends."""
    padn = b"\x00\x00\x01\x04\x00\x00\x00\x00"
    socks[fd].setsockopt(socket.IPPROTO_IPV6, 54, padn)  # IPV6_HOPOPTS
    socks[fd].setsockopt(socket.IPPROTO_IPV6, 59, padn)  # IPV6_DSTOPTS
    return {}


def cmd_udp_connect(fd, addr, port):
    socks[fd].connect((addr, port))
    local = socks[fd].getsockname()
    return {"laddr": local[0], "lport": local[1]}


def cmd_thread_udp_connect(thread_name, fd, addr, port):
    """connect() a UDP socket from a new thread that carries its own name."""
    out = {}

    def run():
        set_thread_name(thread_name)
        socks[fd].connect((addr, port))
        local = socks[fd].getsockname()
        out.update(laddr=local[0], lport=local[1], tid=threading.get_native_id())

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out


def cmd_udp_send(fd, count=1, size=5):
    """On a connected socket: send() and write() alike."""
    for i in range(count):
        if i % 2:
            os.write(fd, b"x" * size)
        else:
            socks[fd].send(b"x" * size)
    return {}


def cmd_udp_recvfrom(fd, count, reply=False, timeout=10):
    """Receive @count datagrams, asking each one's source; answer each with @reply."""
    s = socks[fd]
    s.settimeout(timeout)
    peers = []
    for _ in range(count):
        _, peer = s.recvfrom(65535)
        peers.append(list(peer[:2]))
        if reply:
            s.sendto(b"re", peer)
    return {"peers": peers}


def cmd_udp_recv(fd, count, timeout=10, how="recv"):
    """Receive @count datagrams with recv(), or read() (@how): the source is never asked."""
    s = socks[fd]
    s.settimeout(timeout)
    for _ in range(count):
        if how == "read":
            if not select.select([s], [], [], timeout)[0]:
                raise TimeoutError("no datagram to read")
            os.read(s.fileno(), 65535)
        else:
            s.recv(65535)
    return {}


def cmd_udp_clients(addr, port, n, count=1):
    """@n UDP sockets, each sending @count datagrams to @addr:@port; returns their ports."""
    ports = []
    for _ in range(n):
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        for _ in range(count):
            s.sendto(b"q", (addr, port))
        keep(s)
        ports.append(s.getsockname()[1])
    return {"ports": ports}


def cmd_close_all():
    for fd in list(socks):
        socks.pop(fd).close()
    return {}


def cmd_thread_udp_send_to(thread_name, fd, addr, port):
    """Send from a new thread that carries its own name."""
    out = {}

    def run():
        set_thread_name(thread_name)
        socks[fd].sendto(b"t", (addr, port))
        out["tid"] = threading.get_native_id()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out


class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(iovec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]


def sockaddr_in(addr, port):
    """struct sockaddr_in(6) bytes for @addr:@port."""
    if ":" in addr:
        return (socket.AF_INET6.to_bytes(2, "little") + port.to_bytes(2, "big") + bytes(4)
                + socket.inet_pton(socket.AF_INET6, addr) + bytes(4))
    return (socket.AF_INET.to_bytes(2, "little") + port.to_bytes(2, "big")
            + socket.inet_pton(socket.AF_INET, addr) + bytes(8))


def cmd_udp_sendmmsg(fd, dests):
    """One sendmmsg() call: a datagram to each [addr, port] of @dests."""
    n = len(dests)
    msgs = (mmsghdr * n)()
    keep_alive = []
    for i, (addr, port) in enumerate(dests):
        name = ctypes.create_string_buffer(sockaddr_in(addr, port))
        data = ctypes.create_string_buffer(b"m")
        iov = iovec(ctypes.cast(data, ctypes.c_void_p), 1)
        keep_alive += [name, data, iov]
        msgs[i].hdr.name = ctypes.cast(name, ctypes.c_void_p)
        msgs[i].hdr.namelen = len(name.raw)
        msgs[i].hdr.iov = ctypes.pointer(iov)
        msgs[i].hdr.iovlen = 1
    sent = libc.sendmmsg(fd, msgs, n, 0)
    if sent != n:
        raise OSError(ctypes.get_errno(), "sendmmsg sent %d of %d" % (sent, n))
    return {"lport": socks[fd].getsockname()[1]}


def cmd_udp_recvmmsg(fd, n):
    """One recvmmsg() call for @n datagrams, asking their sources."""
    msgs = (mmsghdr * n)()
    keep_alive = []
    for i in range(n):
        name = ctypes.create_string_buffer(128)
        data = ctypes.create_string_buffer(2048)
        iov = iovec(ctypes.cast(data, ctypes.c_void_p), 2048)
        keep_alive += [name, data, iov]
        msgs[i].hdr.name = ctypes.cast(name, ctypes.c_void_p)
        msgs[i].hdr.namelen = 128
        msgs[i].hdr.iov = ctypes.pointer(iov)
        msgs[i].hdr.iovlen = 1
    got = libc.recvmmsg(fd, msgs, n, 0x10000, None)  # MSG_WAITFORONE
    if got < 0:
        raise OSError(ctypes.get_errno(), "recvmmsg")
    return {"received": got}


def cmd_accept(fd):
    c, peer = socks[fd].accept()
    return {"fd": keep(c), "raddr": peer[0], "rport": peer[1]}


class Ring:
    """A bare io_uring (raw system calls, as liburing would make them)."""

    SETUP, ENTER, REGISTER = 425, 426, 427  # x86_64 and arm64 alike
    REGISTER_FILES = 2
    OFF_CQ_RING, OFF_SQES = 0x8000000, 0x10000000
    ENTER_GETEVENTS = 1

    def __init__(self, entries=4):
        params = (ctypes.c_char * 120)()
        self.fd = libc.syscall(self.SETUP, entries, params)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "io_uring_setup")
        raw = bytes(params)
        sq_entries, cq_entries = struct.unpack_from("<2I", raw, 0)
        # io_sqring_offsets: head tail ring_mask ring_entries flags dropped array
        self.sq_off = dict(zip(("head", "tail", "mask", "n", "flags", "dropped", "array"),
                               struct.unpack_from("<7I", raw, 40)))
        # io_cqring_offsets: head tail ring_mask ring_entries overflow cqes
        self.cq_off = dict(zip(("head", "tail", "mask", "n", "overflow", "cqes"),
                               struct.unpack_from("<6I", raw, 80)))
        self.sq = mmap.mmap(self.fd, self.sq_off["array"] + 4 * sq_entries, offset=0)
        self.cq = mmap.mmap(self.fd, self.cq_off["cqes"] + 16 * cq_entries, offset=self.OFF_CQ_RING)
        self.sqes = mmap.mmap(self.fd, 64 * sq_entries, offset=self.OFF_SQES)

    def u32(self, ring, off, value=None):
        if value is None:
            return struct.unpack_from("<I", ring, off)[0]
        struct.pack_into("<I", ring, off, value)

    def submit(self, opcode, fd, flags=0, ioprio=0, file_index=0, addr=0, off=0, length=0):
        tail = self.u32(self.sq, self.sq_off["tail"])
        i = tail & self.u32(self.sq, self.sq_off["mask"])
        # opcode flags ioprio fd off addr len op_flags user_data buf_index personality file_index addr3 pad
        struct.pack_into("<BBHiQQIIQHHIQQ", self.sqes, 64 * i, opcode, flags, ioprio, fd,
                         off, addr, length, 0, 1, 0, 0, file_index, 0, 0)
        self.u32(self.sq, self.sq_off["array"] + 4 * i, i)
        self.u32(self.sq, self.sq_off["tail"], tail + 1)
        if libc.syscall(self.ENTER, self.fd, 1, 1, self.ENTER_GETEVENTS, None, 0) < 0:
            raise OSError(ctypes.get_errno(), "io_uring_enter")

    def register_files(self, n):
        """A table of @n empty slots, for direct descriptors."""
        empty = (ctypes.c_int * n)(*([-1] * n))
        if libc.syscall(self.REGISTER, self.fd, self.REGISTER_FILES, empty, n) < 0:
            raise OSError(ctypes.get_errno(), "io_uring_register")

    def reap(self):
        """The result of the next completion."""
        head = self.u32(self.cq, self.cq_off["head"])
        while head == self.u32(self.cq, self.cq_off["tail"]):
            if libc.syscall(self.ENTER, self.fd, 0, 1, self.ENTER_GETEVENTS, None, 0) < 0:
                raise OSError(ctypes.get_errno(), "io_uring_enter")
        i = head & self.u32(self.cq, self.cq_off["mask"])
        _, res, _ = struct.unpack_from("<QiI", self.cq, self.cq_off["cqes"] + 16 * i)
        self.u32(self.cq, self.cq_off["head"], head + 1)
        if res < 0:
            raise OSError(-res, "io_uring completion")
        return res

    def close(self):
        for m in (self.sq, self.cq, self.sqes):
            m.close()
        os.close(self.fd)


rings = {}


def cmd_uring_accept(fd, how="inline"):
    """accept() through io_uring: in the caller (inline), in an io_uring worker
    thread (async), or as a multishot accept, whose completions carry no
    request; "direct" accepts into slot 0 of the ring's own table of files,
    "direct-multishot" into whichever slot is free (the result names it).
    Those have no descriptor: the ring stays open, for uring_close."""
    OP_ACCEPT, SQE_ASYNC, ACCEPT_MULTISHOT, INDEX_ALLOC = 13, 1 << 4, 1 << 0, 0xFFFFFFFF
    ring = Ring()
    direct = how.startswith("direct")
    try:
        if direct:
            ring.register_files(4)
        ring.submit(OP_ACCEPT, fd, flags=SQE_ASYNC if how == "async" else 0,
                    ioprio=ACCEPT_MULTISHOT if how.endswith("multishot") else 0,
                    file_index=(INDEX_ALLOC if how == "direct-multishot" else 1) if direct else 0)
        res = ring.reap()
        if direct:
            rings[ring.fd] = ring
            return {"ring": ring.fd, "slot": res if how == "direct-multishot" else 0}
        c = socket.socket(fileno=res)
    finally:
        if not direct:
            ring.close()
    peer = c.getpeername()
    return {"fd": keep(c), "raddr": peer[0], "rport": peer[1]}


def cmd_uring_connect(fd, addr, port, how="inline"):
    """connect() through io_uring (IORING_OP_CONNECT), in the caller or in
    an io_uring worker thread (async)."""
    OP_CONNECT, SQE_ASYNC = 16, 1 << 4
    sa = sockaddr_in(addr, port)
    buf = ctypes.create_string_buffer(sa, len(sa))
    ring = Ring()
    try:
        ring.submit(OP_CONNECT, fd, flags=SQE_ASYNC if how == "async" else 0, addr=ctypes.addressof(buf),
                    off=len(sa))
        ring.reap()
    finally:
        ring.close()
    return {"lport": socks[fd].getsockname()[1]}


def cmd_udp_sendmsg(fd, addr, port, how="sendmsg"):
    """One datagram to @addr:@port with sendmsg(), or through io_uring
    (IORING_OP_SENDMSG) in the caller ("uring") or in an io_uring worker
    thread ("uring-async")."""
    OP_SENDMSG, SQE_ASYNC = 9, 1 << 4
    if how == "sendmsg":
        socks[fd].sendmsg([b"m"], [], 0, (addr, port))
    else:
        name = ctypes.create_string_buffer(sockaddr_in(addr, port))
        data = ctypes.create_string_buffer(b"m")
        iov = iovec(ctypes.cast(data, ctypes.c_void_p), 1)
        hdr = msghdr(ctypes.cast(name, ctypes.c_void_p), len(name.raw), ctypes.pointer(iov), 1)
        ring = Ring()
        try:
            ring.submit(OP_SENDMSG, fd, flags=SQE_ASYNC if how == "uring-async" else 0,
                        addr=ctypes.addressof(hdr), length=1)
            if ring.reap() != 1:
                raise OSError(errno.EIO, "IORING_OP_SENDMSG sent no datagram")
        finally:
            ring.close()
    return {"lport": socks[fd].getsockname()[1]}


def cmd_udp_recvmsg(fd, how="recvmsg"):
    """One datagram with recvmsg(), asking its source, or through io_uring:
    IORING_OP_RECVMSG asking the source in the caller ("uring") or in an
    io_uring worker thread ("uring-async"), IORING_OP_RECV not asking it
    ("uring-recv")."""
    OP_RECVMSG, OP_RECV, SQE_ASYNC = 10, 27, 1 << 4
    if how == "recvmsg":
        socks[fd].settimeout(10)
        peer = socks[fd].recvmsg(2048)[3]
        return {"peer": list(peer[:2])}
    if not select.select([socks[fd]], [], [], 10)[0]:
        raise TimeoutError("no datagram to receive")
    data = ctypes.create_string_buffer(2048)
    name = ctypes.create_string_buffer(128)
    iov = iovec(ctypes.cast(data, ctypes.c_void_p), 2048)
    hdr = msghdr(ctypes.cast(name, ctypes.c_void_p), 128, ctypes.pointer(iov), 1)
    ring = Ring()
    try:
        if how == "uring-recv":
            ring.submit(OP_RECV, fd, addr=ctypes.addressof(data), length=2048)
        else:
            ring.submit(OP_RECVMSG, fd, flags=SQE_ASYNC if how == "uring-async" else 0,
                        addr=ctypes.addressof(hdr), length=1)
        ring.reap()
    finally:
        ring.close()
    return {}


def cmd_uring_close(ring, slot):
    """Close direct descriptor @slot of @ring (IORING_OP_CLOSE), then the ring."""
    OP_CLOSE = 19
    r = rings.pop(ring)
    r.submit(OP_CLOSE, 0, file_index=slot + 1)
    r.reap()
    r.close()
    return {}


def cmd_close(fd):
    socks.pop(fd).close()
    return {}


def cmd_shutdown_write(fd):
    """shutdown(SHUT_WR): our FIN goes, the socket stays open."""
    socks[fd].shutdown(socket.SHUT_WR)
    return {}


def cmd_disconnect(fd):
    """connect() with AF_UNSPEC: a TCP connection is undone (a reset goes out)."""
    if libc.connect(fd, bytes(16), 16) != 0:
        raise OSError(ctypes.get_errno(), "connect(AF_UNSPEC)")
    return {}


def cmd_abort(fd):
    """Close @fd with a reset (SO_LINGER 0), not a FIN."""
    s = socks.pop(fd)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return {}


def cmd_orphan(fds):
    """Leave sockets @fds to the kernel: sent (SCM_RIGHTS) on a unix socket
    whose only other reference is that same message, then every descriptor
    closed. Only the cycle holds them, and the unix garbage collector frees
    it: in a kernel worker from 6.10 on. Before, it runs in the process that
    releases the next unix socket, whichever that is; here, this one (it
    collects every cycle on the host, so no other actor's is left to it)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    socket.send_fds(a, [b"x"], [b.fileno()] + fds)
    a.close()
    b.close()
    for fd in fds:
        socks.pop(fd).close()
    for s in socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM):
        s.close()
    return {}


CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def cmd_hidden_netns_connection():
    """A listener, a connection to it and its accepted end, on the loopback of a network
    namespace made here and left at once: no process is in it, no name holds it, only
    the sockets do."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:  # bring lo up
            ifr = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(u, SIOCGIFFLAGS, ifr))[1]
            fcntl.ioctl(u, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
        lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(1)
        c = socket.create_connection(lsn.getsockname())
        s, _ = lsn.accept()
    finally:
        if libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        os.close(home)
    return {"lfd": keep(lsn), "cfd": keep(c), "sfd": keep(s), "port": lsn.getsockname()[1],
            "lport": c.getsockname()[1]}


def cmd_self_connect(addr, port):
    """A socket bound to @addr:@port connecting to itself: TCP's simultaneous open."""
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.bind((addr, port))
    s.connect((addr, port))
    return {"fd": keep(s)}


def cmd_setuid(uid):
    """Become user @uid (real, effective and saved): only a root actor can."""
    os.setresuid(uid, uid, uid)
    return {"uid": os.getuid()}


def cmd_setresuid(ruid, euid, suid):
    """Real, effective and saved user ids apart (a set-user-id program's)."""
    os.setresuid(ruid, euid, suid)
    return {"uid": os.getuid(), "euid": os.geteuid()}


def cmd_loginuid(uid):
    """Set this process's login uid, as a login does (root, once)."""
    with open("/proc/self/loginuid", "w") as f:
        f.write(str(uid))
    with open("/proc/self/loginuid") as f:
        return {"loginuid": int(f.read())}


def cmd_user_timeout(fd, ms):
    """TCP_USER_TIMEOUT: data unacknowledged for @ms milliseconds ends the connection."""
    socks[fd].setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, ms)
    return {}


def cmd_linger2(fd, seconds):
    """TCP_LINGER2: how long the kernel keeps the socket, closed, waiting for the peer's FIN."""
    socks[fd].setsockopt(socket.IPPROTO_TCP, socket.TCP_LINGER2, seconds)
    return {}


def cmd_send(fd, text):
    socks[fd].sendall(text.encode())
    return {}


def cmd_unix_listen(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    return {"fd": keep(s)}


def cmd_sendfd(path, fd):
    """Hand @fd to the process listening on @path (SCM_RIGHTS)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.connect(path)
        socket.send_fds(u, [b"x"], [fd])  # in flight, it holds a reference
    return {}


def cmd_recvfd(ufd):
    c, _ = socks[ufd].accept()
    with c:
        _, fds, _, _ = socket.recv_fds(c, 1, 1)
    s = socket.socket(fileno=fds[0])
    return {"fd": keep(s)}


def cmd_fork_accept(fd):
    """A child process accepts on the inherited listener, then waits to close."""
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(go_w)
        c, peer = socks[fd].accept()
        os.write(w, json.dumps({"pid": os.getpid(), "rport": peer[1]}).encode())
        os.close(w)
        os.read(go_r, 1)
        c.close()
        os._exit(0)
    os.close(w)
    os.close(go_r)
    info = json.loads(os.read(r, 4096))
    os.close(r)
    children[pid] = go_w
    return info


def cmd_child_close(pid):
    os.write(children.pop(pid), b"x")
    os.waitpid(pid, 0)
    return {}


def cmd_info():
    return {"pid": os.getpid(), "sid": os.getsid(0), "uid": os.getuid()}


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    print(json.dumps(cmd_info()), flush=True)
    for line in sys.stdin:
        cmd, *args = json.loads(line)
        try:
            out = globals()["cmd_" + cmd](*args)
        except Exception as e:  # report, keep serving: the test decides
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
