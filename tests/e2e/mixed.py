"""A mixed workload over loopback, both ends in this process and its children:
every way a TCP connection or a UDP flow begins and ends that a test can
make happen on one host. Prints the pids it ran as, one JSON list.

    mixed.py ADDRESS THREADS CONNECTIONS
"""

import ctypes
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

LIBC = ctypes.CDLL(None, use_errno=True)
UNSPEC = struct.pack("H", socket.AF_UNSPEC) + bytes(26)  # connect() to this disconnects
LINGER0 = struct.pack("ii", 1, 0)  # close() resets
ADDR = sys.argv[1]
FAMILY = socket.AF_INET6 if ":" in ADDR else socket.AF_INET
pids = [os.getpid()]


def disconnect(s):
    LIBC.connect(s.fileno(), UNSPEC, len(UNSPEC))


def tried(f, *args):
    try:
        return f(*args)
    except OSError:
        return None


def listener(backlog=64):
    s = socket.socket(FAMILY)
    s.bind((ADDR, 0))
    s.listen(backlog)
    return s, s.getsockname()[1]


def tcp():
    l, port = listener()
    for server_first in (False, True):  # both ends close, in either order
        c = socket.create_connection((ADDR, port))
        s, _ = l.accept()
        c.send(b"x")
        s.recv(1)
        (s if server_first else c).close()
        (c if server_first else s).close()
    tried(socket.create_connection, (ADDR, 1))  # refused
    for _ in range(5):  # non-blocking, closed at once, done or not
        c = socket.socket(FAMILY)
        c.setblocking(False)
        tried(c.connect, (ADDR, port))
        c.close()
    for _ in range(3):  # closed by the client before any accept()
        socket.create_connection((ADDR, port)).close()
    c = socket.create_connection((ADDR, port))  # reset before any accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    c.close()
    time.sleep(0.1)
    l.setblocking(False)
    while (s := tried(l.accept)) is not None:  # accepted late, closed
        s[0].close()
    l.setblocking(True)
    c = socket.create_connection((ADDR, port))  # half-closed first
    s, _ = l.accept()
    c.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.send(b"y")
    s.close()
    c.recv(1)
    c.close()
    c = socket.create_connection((ADDR, port))  # closed by a child last
    s, _ = l.accept()
    pid = os.fork()
    if pid == 0:
        time.sleep(0.05)
        c.close()
        os._exit(0)
    pids.append(pid)
    c.close()
    os.waitpid(pid, 0)
    s.close()
    a, b = socket.socketpair()  # handed to another descriptor, closed there
    c = socket.create_connection((ADDR, port))
    s, _ = l.accept()
    socket.send_fds(a, [b"f"], [c.fileno()])
    c.close()
    os.close(socket.recv_fds(b, 1, 1)[1][0])
    s.close()
    a.close()
    b.close()
    c = socket.socket(FAMILY)  # disconnected, then connected again
    c.connect((ADDR, port))
    s, _ = l.accept()
    disconnect(c)
    s.close()
    c.connect((ADDR, port))
    l.accept()[0].close()
    c.close()
    cs = [socket.create_connection((ADDR, port)) for _ in range(3)]  # left in the queue
    l.close()
    for c in cs:
        c.close()
    l, _ = listener()  # shut down, listening again
    l.shutdown(socket.SHUT_RD)
    l.listen(5)
    l.close()
    s = socket.socket(FAMILY)  # bound, never listening
    s.bind((ADDR, 0))
    s.close()
    s = socket.socket(FAMILY)  # connected to itself: a simultaneous open
    s.bind((ADDR, 0))
    s.connect(s.getsockname()[:2])
    s.send(b"z")
    s.recv(1)
    s.close()


def udp():
    u = socket.socket(FAMILY, socket.SOCK_DGRAM)
    u.bind((ADDR, 0))
    to = u.getsockname()[:2]
    v = socket.socket(FAMILY, socket.SOCK_DGRAM)  # autobound
    for _ in range(9):
        v.sendto(b"d", to)
    for _ in range(9):
        u.recvfrom(8)
    w = socket.socket(FAMILY, socket.SOCK_DGRAM)  # connected, again elsewhere, and back
    w.connect(to)
    tried(w.send, b"c")
    w.connect((ADDR, 9))
    tried(w.send, b"c")
    time.sleep(0.01)
    w.connect(to)
    tried(w.send, b"c")
    tried(w.send, b"c")
    disconnect(w)
    tried(w.sendto, b"q", to)
    w.close()
    tried(u.sendto, b"a", (ADDR, 9))
    v.close()
    u.close()
    x = socket.socket(FAMILY, socket.SOCK_DGRAM)  # received by nobody
    x.bind((ADDR, 0))
    y = socket.socket(FAMILY, socket.SOCK_DGRAM)
    y.sendto(b"1", x.getsockname()[:2])
    time.sleep(0.05)
    y.close()
    x.close()


def killed():
    """Processes killed holding listeners, connections and flows."""
    def hold():
        l, port = listener()
        keep = [l]
        for i in range(20):
            keep.append(socket.create_connection((ADDR, port)))
            if i % 2:
                keep.append(l.accept()[0])
        u = socket.socket(FAMILY, socket.SOCK_DGRAM)
        u.bind((ADDR, 0))
        v = socket.socket(FAMILY, socket.SOCK_DGRAM)
        for _ in range(10):
            v.sendto(b"x", u.getsockname()[:2])
        w = socket.socket(FAMILY, socket.SOCK_DGRAM)
        w.connect(u.getsockname()[:2])
        w.send(b"y")
        keep += [u, v, w]
        os.write(1, b"r")
        time.sleep(100)

    held = []
    for _ in range(3):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(w, 1)
            hold()
        os.read(r, 1)
        held.append(pid)
    for pid in held:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    pids.extend(held)


def churn(threads, n):
    """Connections made and closed at once from several threads, some reset."""
    l, port = listener(512)

    def serve():
        while (s := tried(l.accept)) is not None:
            s[0].close()

    def connect(k):
        for i in range(n):
            c = socket.create_connection((ADDR, port))
            if (i + k) % 3 == 0:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    clients = [threading.Thread(target=connect, args=(k,)) for k in range(threads)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    time.sleep(0.2)
    l.shutdown(socket.SHUT_RDWR)  # wakes the accept()
    l.close()


tcp()
udp()
killed()
churn(int(sys.argv[2]), int(sys.argv[3]))
print(json.dumps(pids))
